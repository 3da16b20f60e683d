//! Bulk loads: many opportunities written in their final state in one transaction per call (a
//! seed, a move from another CRM), at thousands of rows a second where the one-at-a-time use
//! cases write hundreds. The same rules as a live write (the stage is the pipeline's, the
//! client the tenant's, a name, an amount of 0 or more, a reason for a loss), the stage
//! totals and the audit trail kept; like an import, no per-row events and no live board
//! messages (a bulk load is not news). A deal to be WON goes through `win_opportunity`:
//! its `opportunity.won` event is the hand-off to PMO and finance.

use std::collections::{BTreeMap, HashSet};

use erp_kit::db::begin_write;
use erp_kit::{ApiError, ApiResult};

use super::{now_ms, require_admin, Crm, Viewer};
use crate::domain::client::required_text;
use crate::domain::pipeline::{apply_change, OpportunityChange, OpportunityStatus};
use crate::store::entities::{audit, opportunity};
use crate::store::pipeline as store;
use crate::store::{bulk, clients, new_id};

/// Rows one [`Crm::load_opportunities`] call takes at most (one transaction).
pub const MAX_LOAD_ROWS: usize = 50_000;

/// An opportunity of a bulk load, as it ends up.
#[derive(Debug, Clone)]
pub struct LoadedOpportunity {
    pub stage_id: String,
    pub client_id: String,
    pub name: String,
    pub amount_minor: i64,
    pub currency: String,
    pub owner_id: String,
    /// `None`: open in its stage; `Some(reason)`: lost, for that reason.
    pub lost_reason: Option<String>,
}

impl Crm {
    /// Writes `rows` into the pipeline, all or none (the first bad row refuses the call, named
    /// by its index): open ones counted in the stage totals (one upsert per stage, owner and
    /// currency), lost ones closed with their reason, each with its audit entries (`created`,
    /// then `lost`). Needs `crm:admin`. Answers how many were written.
    pub async fn load_opportunities(
        &self,
        viewer: &Viewer,
        pipeline_id: &str,
        rows: Vec<LoadedOpportunity>,
    ) -> ApiResult<usize> {
        require_admin(viewer, "a bulk load of opportunities")?;
        if rows.len() > MAX_LOAD_ROWS {
            return Err(ApiError::bad_input(
                "rows",
                format!("a bulk load takes at most {MAX_LOAD_ROWS} rows a call"),
            ));
        }
        let tenant = &viewer.tenant;
        let pipeline = store::pipeline(&self.db, tenant, pipeline_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("pipelineId", "no such pipeline"))?;
        let stages: HashSet<String> =
            store::stages_of(&self.db, tenant, std::slice::from_ref(&pipeline.id))
                .await?
                .into_iter()
                .map(|stage| stage.id)
                .collect();
        let mut client_ids: Vec<String> = rows.iter().map(|row| row.client_id.clone()).collect();
        client_ids.sort();
        client_ids.dedup();
        let present = clients::present_ids(&self.db, tenant, &client_ids).await?;
        let now = now_ms();
        let mut models = Vec::with_capacity(rows.len());
        let mut trail = Vec::with_capacity(rows.len());
        // (stage, owner, currency) -> (open count, open amount)
        let mut totals: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
        for (n, row) in rows.into_iter().enumerate() {
            if !stages.contains(&row.stage_id) {
                return Err(
                    ApiError::bad_input("stageId", "no such stage in the pipeline")
                        .about(format!("row {n}")),
                );
            }
            if !present.contains(&row.client_id) {
                return Err(
                    ApiError::bad_input("clientId", "no such client").about(format!("row {n}"))
                );
            }
            let name = required_text("name", &row.name, 200)
                .map_err(|err| err.about(format!("row {n}")))?;
            if row.amount_minor < 0 {
                return Err(ApiError::bad_input("amount", "an amount is 0 or more")
                    .about(format!("row {n}")));
            }
            let status = match &row.lost_reason {
                None => OpportunityStatus::Open,
                Some(reason) => apply_change(
                    OpportunityStatus::Open,
                    OpportunityChange::Lose,
                    Some(reason),
                )
                .map_err(|err| ApiError::from(err).about(format!("row {n}")))?,
            };
            let model = opportunity::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                pipeline_id: pipeline.id.clone(),
                stage_id: row.stage_id,
                client_id: row.client_id,
                contact_id: None,
                lead_id: None,
                name,
                amount_minor: row.amount_minor,
                currency: row.currency,
                expected_close: None,
                owner_id: row.owner_id,
                status: status.as_str().to_owned(),
                lost_reason: row
                    .lost_reason
                    .as_deref()
                    .map(|r| r.trim().chars().take(500).collect()),
                closed_at: (status != OpportunityStatus::Open).then_some(now),
                stage_entered_at: now,
                version: if status == OpportunityStatus::Open {
                    1
                } else {
                    2
                },
                created_at: now,
                updated_at: now,
            };
            let audit_row = |action: &str, detail: serde_json::Value| audit::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                entity_kind: "opportunity".into(),
                entity_id: model.id.clone(),
                action: action.into(),
                actor: viewer.user_id.clone(),
                at: now,
                detail: detail.to_string(),
            };
            trail.push(audit_row(
                "created",
                serde_json::json!({ "to_stage_id": model.stage_id }),
            ));
            if status == OpportunityStatus::Open {
                let total = totals
                    .entry((
                        model.stage_id.clone(),
                        model.owner_id.clone(),
                        model.currency.clone(),
                    ))
                    .or_default();
                total.0 += 1;
                total.1 += model.amount_minor;
            } else {
                trail.push(audit_row(
                    status.as_str(),
                    serde_json::json!({
                        "from_stage_id": null,
                        "to_stage_id": model.stage_id,
                        "status": model.status,
                        "reason": model.lost_reason,
                    }),
                ));
            }
            models.push(model);
        }
        let written = models.len();
        let totals: Vec<store::TotalsDelta> = totals
            .into_iter()
            .map(
                |((stage_id, owner_id, currency), (count, amount_minor))| store::TotalsDelta {
                    stage_id,
                    owner_id,
                    currency,
                    count,
                    amount_minor,
                },
            )
            .collect();
        let txn = begin_write(&self.db).await?;
        bulk::insert_many::<opportunity::Entity>(&txn, &models, &[]).await?;
        bulk::insert_many::<audit::Entity>(&txn, &trail, &[]).await?;
        store::add_many_to_totals(&txn, tenant, &pipeline.id, &totals).await?;
        txn.commit().await?;
        Ok(written)
    }
}
