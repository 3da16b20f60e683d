//! Pipelines and opportunities: set-up, the opportunity's lifecycle (every stage change, win,
//! loss and reopen audited), the board (per-stage totals and the weighted forecast over the
//! rows the viewer may see, cards paged) and the live moves it receives.

use std::collections::BTreeMap;

use erp_kit::db::{begin_write, WriteTransaction};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{already_exists, not_found, now_ms, visible, Crm, Viewer};
use crate::domain::client::required_text;
use crate::domain::pipeline::{
    apply_change, board_totals, check_probability, check_stages, sum_by_currency,
    OpportunityChange, OpportunityStatus, StageSpec, StageTotals, MAX_STAGES,
};
use crate::domain::reasons;
use crate::domain::visibility::Visibility;
use crate::events::{self, BoardMove, OpportunityWon};
use crate::store::audit::{self, AuditEntry};
use crate::store::entities::{audit as audit_entity, opportunity, pipeline, stage};
use crate::store::pipeline::{self as store, OpportunityFilter};
use crate::store::{clients, new_id};
use erp_kit::events::EventEnvelope;

/// A new pipeline as entered.
#[derive(Debug, Clone)]
pub struct NewPipeline {
    pub name: String,
    pub opportunity_type: String,
    pub stages: Vec<StageSpec>,
}

/// Where a new opportunity goes: its pipeline and stage, read before the write.
#[derive(Debug, Clone)]
pub struct OpportunityPlan {
    pub pipeline: pipeline::Model,
    pub stage: stage::Model,
}

/// A new opportunity, its place planned.
#[derive(Debug, Clone)]
pub struct NewOpportunity {
    pub name: String,
    pub client_id: String,
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub expected_close: Option<chrono::NaiveDate>,
    pub owner_id: String,
}

/// A new opportunity as entered.
#[derive(Debug, Clone)]
pub struct CreateOpportunity {
    pub pipeline_id: String,
    /// Default: the pipeline's first stage.
    pub stage_id: Option<String>,
    pub client_id: String,
    pub contact_id: Option<String>,
    pub name: String,
    pub amount_minor: i64,
    pub currency: String,
    pub expected_close: Option<chrono::NaiveDate>,
    /// Default: the caller.
    pub owner_id: Option<String>,
}

/// Changes to an open opportunity's details.
#[derive(Debug, Clone, Default)]
pub struct OpportunityChanges {
    pub name: Option<String>,
    pub amount: Option<(i64, String)>,
    pub expected_close: Option<Option<chrono::NaiveDate>>,
}

/// A pipeline's board for one viewer: every stage with its totals (over the opportunities
/// the viewer may see), the whole pipeline's totals and weighted forecast per currency, and
/// what the cards' pages need.
#[derive(Debug, Clone)]
pub struct Board {
    pub pipeline: pipeline::Model,
    pub stages: Vec<(stage::Model, StageTotals)>,
    pub totals: BTreeMap<String, i64>,
    pub forecast: BTreeMap<String, i64>,
    /// The owners the cards are read for (`None`: all).
    pub owners: Option<Vec<String>>,
}

fn status_of(model: &opportunity::Model) -> OpportunityStatus {
    OpportunityStatus::from_db(&model.status).unwrap_or(OpportunityStatus::Open)
}

impl Crm {
    /// Sets up a pipeline with its stages (`crm:admin`).
    pub async fn create_pipeline(
        &self,
        viewer: &Viewer,
        input: NewPipeline,
    ) -> ApiResult<pipeline::Model> {
        self.admin_only(viewer, "setting up pipelines")?;
        let name = required_text("name", &input.name, 120)?;
        let opportunity_type = required_text("opportunityType", &input.opportunity_type, 120)?;
        let mut stages = Vec::with_capacity(input.stages.len());
        for (index, spec) in input.stages.iter().enumerate() {
            stages.push(StageSpec {
                name: required_text(&format!("stages[{index}].name"), &spec.name, 80)?,
                ..spec.clone()
            });
        }
        check_stages(&stages).map_err(|(field, message)| ApiError::bad_input(field, message))?;
        let tenant = &viewer.tenant;
        if store::pipeline_by_name(&self.db, tenant, &name)
            .await?
            .is_some()
        {
            return Err(ApiError::rule(
                reasons::ALREADY_EXISTS,
                format!("a pipeline called `{name}` exists"),
            )
            .on_field("name"));
        }
        let now = now_ms();
        let model = pipeline::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            name,
            opportunity_type,
            created_at: now,
        };
        let stage_models = stages
            .into_iter()
            .enumerate()
            .map(|(position, spec)| stage::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                pipeline_id: model.id.clone(),
                name: spec.name,
                position: position as i32,
                probability: spec.probability,
                rotting_days: spec.rotting_days,
                created_at: now,
            })
            .collect();
        let txn = begin_write(&self.db).await?;
        store::insert_pipeline(&txn, model.clone(), stage_models)
            .await
            .map_err(already_exists("the pipeline exists"))?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Adds a stage at the end of a pipeline (`crm:admin`).
    pub async fn add_stage(
        &self,
        viewer: &Viewer,
        pipeline_id: &str,
        spec: StageSpec,
    ) -> ApiResult<stage::Model> {
        self.admin_only(viewer, "setting up pipelines")?;
        let tenant = &viewer.tenant;
        let pipeline = store::pipeline(&self.db, tenant, pipeline_id)
            .await?
            .ok_or_else(|| not_found("pipeline"))?;
        let existing =
            store::stages_of(&self.db, tenant, std::slice::from_ref(&pipeline.id)).await?;
        let mut all: Vec<StageSpec> = existing
            .iter()
            .map(|stage| StageSpec {
                name: stage.name.clone(),
                probability: stage.probability,
                rotting_days: stage.rotting_days,
            })
            .collect();
        let spec = StageSpec {
            name: required_text("name", &spec.name, 80)?,
            ..spec
        };
        check_probability(spec.probability)
            .map_err(|message| ApiError::bad_input("probability", message))?;
        all.push(spec.clone());
        if all.len() > MAX_STAGES {
            return Err(ApiError::bad_input(
                "pipelineId",
                format!("a pipeline has at most {MAX_STAGES} stages"),
            ));
        }
        check_stages(&all).map_err(|(_, message)| ApiError::bad_input("name", message))?;
        let model = stage::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            pipeline_id: pipeline.id,
            name: spec.name,
            position: existing.iter().map(|s| s.position + 1).max().unwrap_or(0),
            probability: spec.probability,
            rotting_days: spec.rotting_days,
            created_at: now_ms(),
        };
        let txn = begin_write(&self.db).await?;
        store::insert_stage(&txn, model.clone()).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// The pipeline and stage a new opportunity goes to (the first stage by default).
    pub(crate) async fn plan_opportunity(
        &self,
        tenant: &TenantId,
        pipeline_id: &str,
        stage_id: Option<&str>,
    ) -> ApiResult<OpportunityPlan> {
        let pipeline = store::pipeline(&self.db, tenant, pipeline_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("pipelineId", "no such pipeline"))?;
        let stages = store::stages_of(&self.db, tenant, std::slice::from_ref(&pipeline.id)).await?;
        let stage = match stage_id {
            Some(id) => stages
                .into_iter()
                .find(|stage| stage.id == id)
                .ok_or_else(|| stage_not_in_pipeline("stageId"))?,
            None => stages
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::bad_input("pipelineId", "the pipeline has no stage"))?,
        };
        Ok(OpportunityPlan { pipeline, stage })
    }

    /// Inserts an opportunity in `txn`: its row, its share of the stage totals, its audit
    /// entry and its `opportunity.created` event. The board move is published after commit.
    pub(crate) async fn insert_opportunity(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        plan: &OpportunityPlan,
        new: NewOpportunity,
        now: i64,
    ) -> ApiResult<(opportunity::Model, BoardMove)> {
        let tenant = &viewer.tenant;
        let name = required_text("name", &new.name, 200)?;
        if new.amount_minor < 0 {
            return Err(ApiError::bad_input("amount", "an amount is 0 or more"));
        }
        let model = opportunity::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            pipeline_id: plan.pipeline.id.clone(),
            stage_id: plan.stage.id.clone(),
            client_id: new.client_id,
            contact_id: new.contact_id,
            lead_id: new.lead_id,
            name,
            amount_minor: new.amount_minor,
            currency: new.currency,
            expected_close: new.expected_close,
            owner_id: new.owner_id,
            status: OpportunityStatus::Open.as_str().to_owned(),
            lost_reason: None,
            closed_at: None,
            stage_entered_at: now,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let model = store::insert_opportunity(txn, model).await?;
        self.count_in_totals(txn, tenant, &model, 1).await?;
        audit::record(
            txn,
            tenant,
            AuditEntry {
                entity_kind: "opportunity",
                entity_id: &model.id,
                action: "created",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({ "to_stage_id": model.stage_id }),
            },
        )
        .await?;
        let created = EventEnvelope::by_actor(
            tenant,
            events::OPPORTUNITY_CREATED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "opportunity_id": model.id,
                "pipeline_id": model.pipeline_id,
                "stage_id": model.stage_id,
                "client_id": model.client_id,
                "owner_id": model.owner_id,
                "amount_minor": model.amount_minor,
                "currency": model.currency,
            }),
        )?;
        self.outbox.enqueue(txn, &created).await?;
        let board_move = board_move(&model, "created", None, None, &viewer.user_id);
        Ok((model, board_move))
    }

    /// Adds (`sign` 1) or removes (`sign` -1) an open opportunity's share of the stage totals;
    /// closed opportunities have none.
    async fn count_in_totals(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        model: &opportunity::Model,
        sign: i64,
    ) -> ApiResult<()> {
        if status_of(model) != OpportunityStatus::Open {
            return Ok(());
        }
        store::add_to_totals(
            txn,
            tenant,
            &model.pipeline_id,
            &model.stage_id,
            &model.owner_id,
            &model.currency,
            sign,
            sign * model.amount_minor,
        )
        .await?;
        Ok(())
    }

    /// Creates an opportunity for a client the viewer sees. Publishes `opportunity.created`.
    pub async fn create_opportunity(
        &self,
        viewer: &Viewer,
        input: CreateOpportunity,
    ) -> ApiResult<opportunity::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let owner = self.owner_for(viewer, &visibility, input.owner_id.as_deref())?;
        let plan = self
            .plan_opportunity(tenant, &input.pipeline_id, input.stage_id.as_deref())
            .await?;
        let client = clients::client(&self.db, tenant, &input.client_id).await?;
        let client = match client {
            Some(client)
                if visibility.sees(client.owner_id.as_deref())
                    && client.merged_into_id.is_none() =>
            {
                client
            }
            _ => return Err(ApiError::bad_input("clientId", "no such client")),
        };
        if let Some(contact) = &input.contact_id {
            let found = clients::client(&self.db, tenant, contact).await?;
            if !found.is_some_and(|c| c.kind == "person" && visibility.sees(c.owner_id.as_deref()))
            {
                return Err(ApiError::bad_input("contactId", "no such contact person"));
            }
        }
        let txn = begin_write(&self.db).await?;
        let (model, board_move) = self
            .insert_opportunity(
                &txn,
                viewer,
                &plan,
                NewOpportunity {
                    name: input.name,
                    client_id: client.id,
                    contact_id: input.contact_id,
                    lead_id: None,
                    amount_minor: input.amount_minor,
                    currency: input.currency,
                    expected_close: input.expected_close,
                    owner_id: owner,
                },
                now_ms(),
            )
            .await?;
        self.commit(txn).await?;
        self.publish_move(tenant, &board_move).await;
        Ok(model)
    }

    /// A visible opportunity locked in `txn`, at `expected_version` when one is given.
    async fn lock_visible(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        visibility: &Visibility,
        id: &str,
        expected_version: Option<i64>,
    ) -> ApiResult<opportunity::Model> {
        let model = visible(
            visibility,
            store::lock_opportunity(txn, &viewer.tenant, id).await?,
            |o| Some(o.owner_id.as_str()),
            "opportunity",
        )?;
        if let Some(expected) = expected_version {
            if expected != model.version {
                return Err(ApiError::rule(
                    reasons::VERSION_CONFLICT,
                    format!(
                        "the opportunity is at version {}, not {expected}: reload it",
                        model.version
                    ),
                )
                .on_field("expectedVersion"));
            }
        }
        Ok(model)
    }

    /// Moves an open opportunity to another stage of its pipeline (audited; the stage totals
    /// follow; publishes `opportunity.stage_changed` and the live board move).
    pub async fn move_opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
        stage_id: &str,
        expected_version: Option<i64>,
    ) -> ApiResult<(opportunity::Model, String)> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let target = store::stage(&self.db, tenant, stage_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("stageId", "no such stage"))?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible(&txn, viewer, &visibility, id, expected_version)
            .await?;
        apply_change(status_of(&model), OpportunityChange::Move, None)?;
        if target.pipeline_id != model.pipeline_id {
            return Err(stage_not_in_pipeline("stageId"));
        }
        let from = model.stage_id.clone();
        if from == target.id {
            return Ok((model, from));
        }
        let now = now_ms();
        self.count_in_totals(&txn, tenant, &model, -1).await?;
        model.stage_id = target.id.clone();
        model.stage_entered_at = now;
        model.version += 1;
        model.updated_at = now;
        let model = store::update_opportunity(&txn, model).await?;
        self.count_in_totals(&txn, tenant, &model, 1).await?;
        self.audit_change(
            &txn,
            viewer,
            &model,
            "stage_changed",
            Some(&from),
            None,
            now,
        )
        .await?;
        let changed = EventEnvelope::by_actor(
            tenant,
            events::OPPORTUNITY_STAGE_CHANGED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "opportunity_id": model.id,
                "pipeline_id": model.pipeline_id,
                "from_stage_id": from,
                "to_stage_id": model.stage_id,
                "owner_id": model.owner_id,
            }),
        )?;
        self.outbox.enqueue(&txn, &changed).await?;
        self.commit(txn).await?;
        self.publish_move(
            tenant,
            &board_move(&model, "moved", Some(&from), None, &viewer.user_id),
        )
        .await;
        Ok((model, from))
    }

    /// Changes an open opportunity's name, amount or expected close (the totals follow).
    pub async fn update_opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
        changes: OpportunityChanges,
        expected_version: Option<i64>,
    ) -> ApiResult<opportunity::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible(&txn, viewer, &visibility, id, expected_version)
            .await?;
        apply_change(status_of(&model), OpportunityChange::Move, None)?;
        let now = now_ms();
        self.count_in_totals(&txn, tenant, &model, -1).await?;
        if let Some(name) = &changes.name {
            model.name = required_text("name", name, 200)?;
        }
        if let Some((amount, currency)) = changes.amount {
            if amount < 0 {
                return Err(ApiError::bad_input("amount", "an amount is 0 or more"));
            }
            model.amount_minor = amount;
            model.currency = currency;
        }
        if let Some(close) = changes.expected_close {
            model.expected_close = close;
        }
        model.version += 1;
        model.updated_at = now;
        let model = store::update_opportunity(&txn, model).await?;
        self.count_in_totals(&txn, tenant, &model, 1).await?;
        self.commit(txn).await?;
        self.publish_move(
            tenant,
            &board_move(
                &model,
                "updated",
                Some(&model.stage_id),
                None,
                &viewer.user_id,
            ),
        )
        .await;
        Ok(model)
    }

    /// Gives an opportunity to another owner (the totals move with it; both owners' boards
    /// see it).
    pub async fn assign_opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
        owner_id: &str,
    ) -> ApiResult<opportunity::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let owner = self.owner_for(viewer, &visibility, Some(owner_id))?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible(&txn, viewer, &visibility, id, None)
            .await?;
        let previous = model.owner_id.clone();
        let now = now_ms();
        self.count_in_totals(&txn, tenant, &model, -1).await?;
        model.owner_id = owner;
        model.version += 1;
        model.updated_at = now;
        let model = store::update_opportunity(&txn, model).await?;
        self.count_in_totals(&txn, tenant, &model, 1).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: "opportunity",
                entity_id: &model.id,
                action: "assigned",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({ "from": previous, "to": model.owner_id }),
            },
        )
        .await?;
        self.commit(txn).await?;
        self.publish_move(
            tenant,
            &board_move(
                &model,
                "reassigned",
                Some(&model.stage_id),
                Some(&previous),
                &viewer.user_id,
            ),
        )
        .await;
        Ok(model)
    }

    /// Wins an open opportunity: terminal until reopened, audited; publishes
    /// `opportunity.won` (the hand-off to PMO: a project for the client).
    pub async fn win_opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
    ) -> ApiResult<opportunity::Model> {
        self.close(viewer, id, OpportunityChange::Win, None).await
    }

    /// Loses an open opportunity with a reason (required): terminal until reopened, audited;
    /// publishes `opportunity.lost`.
    pub async fn lose_opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
        reason: &str,
    ) -> ApiResult<opportunity::Model> {
        self.close(viewer, id, OpportunityChange::Lose, Some(reason))
            .await
    }

    async fn close(
        &self,
        viewer: &Viewer,
        id: &str,
        change: OpportunityChange,
        reason: Option<&str>,
    ) -> ApiResult<opportunity::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible(&txn, viewer, &visibility, id, None)
            .await?;
        let to = apply_change(status_of(&model), change, reason)?;
        let now = now_ms();
        self.count_in_totals(&txn, tenant, &model, -1).await?;
        model.status = to.as_str().to_owned();
        model.closed_at = Some(now);
        model.lost_reason = reason.map(|r| r.trim().chars().take(500).collect());
        model.version += 1;
        model.updated_at = now;
        let model = store::update_opportunity(&txn, model).await?;
        self.audit_change(&txn, viewer, &model, to.as_str(), None, reason, now)
            .await?;
        let outgoing = match to {
            OpportunityStatus::Won => {
                let pipeline = store::pipeline(&txn, tenant, &model.pipeline_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("an opportunity's pipeline is gone"))?;
                let client = clients::client(&txn, tenant, &model.client_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("an opportunity's client is gone"))?;
                EventEnvelope::by_actor(
                    tenant,
                    events::OPPORTUNITY_WON,
                    &model.id,
                    &viewer.user_id,
                    OpportunityWon {
                        opportunity_id: model.id.clone(),
                        name: model.name.clone(),
                        client_id: client.id,
                        client_name: client.name,
                        contact_id: model.contact_id.clone(),
                        owner_id: model.owner_id.clone(),
                        amount_minor: model.amount_minor,
                        currency: model.currency.clone(),
                        pipeline_id: model.pipeline_id.clone(),
                        opportunity_type: pipeline.opportunity_type,
                        expected_close: model.expected_close,
                        won_at: chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
                    },
                )?
            }
            _ => EventEnvelope::by_actor(
                tenant,
                events::OPPORTUNITY_LOST,
                &model.id,
                &viewer.user_id,
                serde_json::json!({
                    "opportunity_id": model.id,
                    "client_id": model.client_id,
                    "reason": model.lost_reason,
                    "stage_id": model.stage_id,
                }),
            )?,
        };
        self.outbox.enqueue(&txn, &outgoing).await?;
        self.commit(txn).await?;
        self.publish_move(
            tenant,
            &board_move(
                &model,
                to.as_str(),
                Some(&model.stage_id),
                None,
                &viewer.user_id,
            ),
        )
        .await;
        Ok(model)
    }

    /// Reopens a won or lost opportunity into a stage of its pipeline (its former stage by
    /// default): an explicit, audited transition; publishes `opportunity.reopened`.
    pub async fn reopen_opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
        stage_id: Option<&str>,
        reason: Option<&str>,
    ) -> ApiResult<opportunity::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let target = match stage_id {
            Some(stage_id) => Some(
                store::stage(&self.db, tenant, stage_id)
                    .await?
                    .ok_or_else(|| ApiError::bad_input("stageId", "no such stage"))?,
            ),
            None => None,
        };
        let txn = begin_write(&self.db).await?;
        let mut model = self
            .lock_visible(&txn, viewer, &visibility, id, None)
            .await?;
        let from_status = status_of(&model);
        apply_change(from_status, OpportunityChange::Reopen, None)?;
        if let Some(target) = &target {
            if target.pipeline_id != model.pipeline_id {
                return Err(stage_not_in_pipeline("stageId"));
            }
        }
        let now = now_ms();
        let from_stage = model.stage_id.clone();
        model.status = OpportunityStatus::Open.as_str().to_owned();
        if let Some(target) = target {
            model.stage_id = target.id;
        }
        model.stage_entered_at = now;
        model.closed_at = None;
        model.lost_reason = None;
        model.version += 1;
        model.updated_at = now;
        let model = store::update_opportunity(&txn, model).await?;
        self.count_in_totals(&txn, tenant, &model, 1).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: "opportunity",
                entity_id: &model.id,
                action: "reopened",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({
                    "from_status": from_status.as_str(),
                    "from_stage_id": from_stage,
                    "to_stage_id": model.stage_id,
                    "reason": reason,
                }),
            },
        )
        .await?;
        let reopened = EventEnvelope::by_actor(
            tenant,
            events::OPPORTUNITY_REOPENED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "opportunity_id": model.id,
                "from_status": from_status.as_str(),
                "stage_id": model.stage_id,
                "reason": reason,
            }),
        )?;
        self.outbox.enqueue(&txn, &reopened).await?;
        self.commit(txn).await?;
        self.publish_move(
            tenant,
            &board_move(&model, "reopened", Some(&from_stage), None, &viewer.user_id),
        )
        .await;
        Ok(model)
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit_change(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        model: &opportunity::Model,
        action: &str,
        from_stage: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> ApiResult<()> {
        audit::record(
            txn,
            &viewer.tenant,
            AuditEntry {
                entity_kind: "opportunity",
                entity_id: &model.id,
                action,
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({
                    "from_stage_id": from_stage,
                    "to_stage_id": model.stage_id,
                    "status": model.status,
                    "reason": reason,
                }),
            },
        )
        .await?;
        Ok(())
    }

    /// Publishes a board move on the tenant's live channel (best effort: the write is
    /// committed; a missed live message is caught up by the next board query).
    pub(crate) async fn publish_move(&self, tenant: &TenantId, board_move: &BoardMove) {
        let Ok(bytes) = serde_json::to_vec(board_move) else {
            return;
        };
        if let Err(err) = self
            .cache
            .publish(&events::board_channel(tenant), &bytes)
            .await
        {
            tracing::warn!(error = %err, "live board move not published");
        }
    }

    /// The live board moves of a tenant, as published.
    pub async fn board_moves(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<futures::stream::BoxStream<'static, Vec<u8>>> {
        self.cache
            .subscribe(&events::board_channel(tenant))
            .await
            .map_err(ApiError::internal)
    }

    /// The board of a pipeline for the viewer: each stage's count, totals and weighted totals
    /// per currency, the pipeline's totals and weighted forecast: all over the opportunities
    /// the viewer may see only (C7), read from the cached per-owner totals.
    pub async fn board(&self, viewer: &Viewer, pipeline_id: &str) -> ApiResult<Option<Board>> {
        let tenant = &viewer.tenant;
        let Some(pipeline) = store::pipeline(&self.db, tenant, pipeline_id).await? else {
            return Ok(None);
        };
        let visibility = self.visibility(viewer).await?;
        let owners = visibility.owner_filter();
        let stages = store::stages_of(&self.db, tenant, std::slice::from_ref(&pipeline.id)).await?;
        let rows = store::totals(&self.db, tenant, &pipeline.id, owners.as_deref()).await?;
        let per_stage = board_totals(&rows, |stage_id| {
            stages
                .iter()
                .find(|stage| stage.id == stage_id)
                .map(|stage| stage.probability)
        });
        let totals = sum_by_currency(per_stage.values().map(|t| &t.amounts));
        let forecast = sum_by_currency(per_stage.values().map(|t| &t.weighted));
        let stages = stages
            .into_iter()
            .map(|stage| {
                let totals = per_stage.get(&stage.id).cloned().unwrap_or_default();
                (stage, totals)
            })
            .collect();
        Ok(Some(Board {
            pipeline,
            stages,
            totals,
            forecast,
            owners,
        }))
    }

    /// Pages of board stages' open cards, each for the owners given (its board's), in one
    /// statement: `(stage id, owners, page)` each, answered in the order asked.
    pub async fn board_card_pages(
        &self,
        tenant: &TenantId,
        pages: &[(String, Option<Vec<String>>, PageRequest)],
    ) -> ApiResult<Vec<Vec<opportunity::Model>>> {
        let pages: Vec<(OpportunityFilter, PageRequest)> = pages
            .iter()
            .map(|(stage_id, owners, page)| {
                let filter = OpportunityFilter {
                    stage_id: Some(stage_id.clone()),
                    status: Some(OpportunityStatus::Open.as_str().to_owned()),
                    owners: owners.clone(),
                    ..Default::default()
                };
                (filter, page.clone())
            })
            .collect();
        Ok(store::opportunity_pages(&self.db, tenant, &pages).await?)
    }

    /// Whether the viewer sees the records of `owner` (the live board's re-check per event).
    pub async fn sees_owner(&self, viewer: &Viewer, owner: &str) -> ApiResult<bool> {
        Ok(self.visibility(viewer).await?.sees(Some(owner)))
    }

    pub async fn pipelines(&self, tenant: &TenantId) -> ApiResult<Vec<pipeline::Model>> {
        Ok(store::pipelines(&self.db, tenant).await?)
    }

    pub async fn pipeline(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<pipeline::Model>> {
        Ok(store::pipeline(&self.db, tenant, id).await?)
    }

    pub async fn stages_of(
        &self,
        tenant: &TenantId,
        pipeline_ids: &[String],
    ) -> ApiResult<Vec<stage::Model>> {
        Ok(store::stages_of(&self.db, tenant, pipeline_ids).await?)
    }

    pub async fn stages_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, stage::Model>> {
        Ok(store::stages_by_ids(&self.db, tenant, ids).await?)
    }

    /// An opportunity the viewer sees.
    pub async fn opportunity(
        &self,
        viewer: &Viewer,
        id: &str,
    ) -> ApiResult<Option<opportunity::Model>> {
        let visibility = self.visibility(viewer).await?;
        Ok(store::opportunity(&self.db, &viewer.tenant, id)
            .await?
            .filter(|o| visibility.sees(Some(&o.owner_id))))
    }

    pub async fn opportunities_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, opportunity::Model>> {
        Ok(store::opportunities_by_ids(&self.db, tenant, ids).await?)
    }

    /// One page of the opportunities the viewer sees.
    pub async fn opportunities(
        &self,
        viewer: &Viewer,
        mut filter: OpportunityFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<opportunity::Model>> {
        filter.owners = self.visibility(viewer).await?.owner_filter();
        Ok(store::opportunities_page(&self.db, &viewer.tenant, &filter, page).await?)
    }

    /// An opportunity's audit trail (the viewer sees the opportunity).
    pub async fn opportunity_history(
        &self,
        viewer: &Viewer,
        id: &str,
    ) -> ApiResult<Vec<audit_entity::Model>> {
        if self.opportunity(viewer, id).await?.is_none() {
            return Err(not_found("opportunity"));
        }
        Ok(audit::trail(&self.db, &viewer.tenant, "opportunity", id).await?)
    }
}

fn stage_not_in_pipeline(field: &str) -> ApiError {
    ApiError::rule(
        reasons::STAGE_NOT_IN_PIPELINE,
        "the stage belongs to another pipeline",
    )
    .on_field(field)
}

fn board_move(
    model: &opportunity::Model,
    change: &str,
    from_stage: Option<&str>,
    previous_owner: Option<&str>,
    actor: &str,
) -> BoardMove {
    BoardMove {
        opportunity_id: model.id.clone(),
        pipeline_id: model.pipeline_id.clone(),
        change: change.to_owned(),
        from_stage_id: from_stage.map(str::to_owned),
        to_stage_id: model.stage_id.clone(),
        owner_id: model.owner_id.clone(),
        previous_owner_id: previous_owner.map(str::to_owned),
        amount_minor: model.amount_minor,
        currency: model.currency.clone(),
        actor: actor.to_owned(),
        at: chrono::DateTime::from_timestamp_millis(model.updated_at).unwrap_or_default(),
    }
}

/// Reads for the GraphQL layer's loaders (no row rule: the resolvers apply the caller's).
impl Crm {
    pub async fn pipelines_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, pipeline::Model>> {
        Ok(store::pipelines_by_ids(&self.db, tenant, ids).await?)
    }

    pub async fn stages_per_pipeline(
        &self,
        tenant: &TenantId,
        pipeline_ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, Vec<stage::Model>>> {
        let mut found: std::collections::HashMap<String, Vec<stage::Model>> = Default::default();
        for stage in store::stages_of(&self.db, tenant, pipeline_ids).await? {
            found
                .entry(stage.pipeline_id.clone())
                .or_default()
                .push(stage);
        }
        Ok(found)
    }

    pub async fn opportunities_of_clients(
        &self,
        tenant: &TenantId,
        client_ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, Vec<opportunity::Model>>> {
        Ok(store::first_opportunities_of_clients(
            &self.db,
            tenant,
            client_ids,
            crate::app::NESTED_LIST_LIMIT,
        )
        .await?)
    }
}

impl Crm {
    /// The audit trails of these opportunities (loaders; the resolvers apply the row rules).
    pub async fn opportunity_histories(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<std::collections::HashMap<String, Vec<audit_entity::Model>>> {
        let mut found: std::collections::HashMap<String, Vec<audit_entity::Model>> =
            Default::default();
        for entry in audit::trails(&self.db, tenant, "opportunity", ids).await? {
            found
                .entry(entry.entity_id.clone())
                .or_default()
                .push(entry);
        }
        Ok(found)
    }
}
