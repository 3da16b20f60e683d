//! Journeys (e-mail automation): create, activate, pause, archive; enrolment by their
//! triggers (a contact joining a segment, in the transaction that changed the membership; a
//! double opt-in confirmed; an event), once per contact and journey; and the sender's part:
//! it leases the enrolments that are due (the same durable queue as messages: the state,
//! the due time and the lease are rows, so nothing waits in memory and a dead sender's lease
//! expires), runs their steps until a wait or the end, and a SEND step queues a message the
//! sender then sends like a campaign's (send-time checks, one message per journey step and
//! contact by the send key).

use erp_kit::db::WriteTransaction;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{not_found, now_ms, Marketing};
use crate::domain::contact::{consent_text, ContactStatus};
use crate::domain::journey::{
    self, Check, EnrolmentRule, JourneyStatus, Step, Trigger, TriggerKind,
};
use crate::domain::reasons;
use crate::store::entities::{
    enrollment, journey as journey_entity, journey_step, journey_version, message,
};
use crate::store::{campaigns, contacts, journeys, new_id, queue, segments};

/// A new journey.
#[derive(Debug, Clone)]
pub struct NewJourney {
    pub name: String,
    pub trigger: Trigger,
    pub steps: Vec<Step>,
}

/// An edit of a journey (None: unchanged).
#[derive(Debug, Clone)]
pub struct JourneyEdit {
    pub name: Option<String>,
    /// New steps: a new version.
    pub steps: Option<Vec<Step>>,
    /// What the new version does to the running enrolments.
    pub rule: EnrolmentRule,
}

/// What the sender's journey part did in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JourneyReport {
    /// Steps run (waits started, messages queued, conditions checked, exits).
    pub steps: usize,
    /// Messages queued by SEND steps.
    pub queued: usize,
    /// Enrolments that reached their journey's end or exited.
    pub finished: usize,
}

/// The journey's steps as stored.
pub(crate) fn steps_of(model: &journey_entity::Model) -> ApiResult<Vec<Step>> {
    serde_json::from_str(&model.steps)
        .map_err(|e| ApiError::internal(format!("journey {} has corrupt steps: {e}", model.id)))
}

impl Marketing {
    /// A new draft journey (JOURNEY_INVALID for a bad shape; a SEND step's template must be a
    /// bulk template of the tenant, a segment named must exist).
    pub async fn create_journey(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewJourney,
    ) -> ApiResult<journey_entity::Model> {
        let name = consent_text("name", &new.name)?;
        journey::check_steps(&new.steps)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if new.trigger.kind == TriggerKind::SegmentJoined {
            let segment_id = new.trigger.reference.as_deref().unwrap_or("");
            if segments::segment(&*txn, tenant, segment_id)
                .await?
                .is_none()
            {
                return Err(ApiError::bad_input("trigger.segmentId", "no such segment"));
            }
        }
        if new.trigger.kind == TriggerKind::FormConfirmed {
            if let Some(form_id) = &new.trigger.reference {
                if crate::store::forms::form(&*txn, tenant, form_id)
                    .await?
                    .is_none()
                {
                    return Err(ApiError::bad_input("trigger.formId", "no such form"));
                }
            }
        }
        self.check_step_references(&*txn, tenant, &new.steps)
            .await?;
        let now = now_ms();
        let steps = serde_json::to_string(&new.steps)
            .map_err(|e| ApiError::internal(format!("journey steps: {e}")))?;
        let model = journey_entity::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: new_id(),
            name,
            status: JourneyStatus::Draft.as_str().to_owned(),
            trigger_kind: new.trigger.kind.as_str().to_owned(),
            trigger_ref: new.trigger.reference,
            steps: steps.clone(),
            version: 1,
            steps_version: 1,
            created_by: actor.to_owned(),
            created_at: now,
            updated_at: now,
        };
        journeys::insert(&*txn, model.clone()).await?;
        journeys::insert_version(
            &*txn,
            journey_version::Model {
                tenant_id: model.tenant_id.clone(),
                journey_id: model.id.clone(),
                version: 1,
                steps,
                created_by: actor.to_owned(),
                created_at: now,
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// A SEND step's template must be a bulk template of the tenant, a segment a condition
    /// names must exist.
    async fn check_step_references(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        steps: &[Step],
    ) -> ApiResult<()> {
        for step in steps {
            let missing_segment = match step {
                Step::Send { template_id } => {
                    self.check_bulk_template(db, tenant, template_id, "steps")
                        .await?;
                    false
                }
                Step::Condition {
                    check: Check::InSegment(segment_id),
                    ..
                } => segments::segment(db, tenant, segment_id).await?.is_none(),
                _ => false,
            };
            if missing_segment {
                return Err(ApiError::bad_input("steps", "no such segment"));
            }
        }
        Ok(())
    }

    /// Edits a journey that is not archived (JOURNEY_NOT_EDITABLE): a new name, and new
    /// steps as a new version (checked like a new journey's). New enrolments start on the new
    /// version; running ones keep theirs or move to it at the same step, as `rule` says.
    pub async fn update_journey(
        &self,
        tenant: &TenantId,
        actor: &str,
        id: &str,
        edit: JourneyEdit,
    ) -> ApiResult<journey_entity::Model> {
        let name = edit
            .name
            .as_deref()
            .map(|name| consent_text("name", name))
            .transpose()?;
        if let Some(steps) = &edit.steps {
            journey::check_steps(steps)?;
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = journeys::lock(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("journey"))?;
        if JourneyStatus::parse(&model.status)? == JourneyStatus::Archived {
            return Err(ApiError::rule(
                reasons::JOURNEY_NOT_EDITABLE,
                "an archived journey is not edited",
            ));
        }
        let now = now_ms();
        if let Some(name) = name {
            model.name = name;
        }
        if let Some(steps) = &edit.steps {
            self.check_step_references(&*txn, tenant, steps).await?;
            let json = serde_json::to_string(steps)
                .map_err(|e| ApiError::internal(format!("journey steps: {e}")))?;
            model.steps_version += 1;
            model.steps = json.clone();
            journeys::insert_version(
                &*txn,
                journey_version::Model {
                    tenant_id: model.tenant_id.clone(),
                    journey_id: model.id.clone(),
                    version: model.steps_version,
                    steps: json,
                    created_by: actor.to_owned(),
                    created_at: now,
                },
            )
            .await?;
            if edit.rule == EnrolmentRule::MoveAtSameStep {
                journeys::move_active_enrollments(&*txn, tenant, &model.id, model.steps_version)
                    .await?;
            }
        }
        model.version += 1;
        model.updated_at = now;
        let model = journeys::update(&*txn, model).await?;
        self.commit(txn).await?;
        self.sender_wake.notify_waiters();
        Ok(model)
    }

    /// Every version of a journey's steps, oldest first.
    pub async fn journey_versions(
        &self,
        tenant: &TenantId,
        journey_id: &str,
    ) -> ApiResult<Vec<journey_version::Model>> {
        Ok(journeys::versions(&self.db, tenant, journey_id).await?)
    }

    /// The steps of one version of a journey (the current one without a read).
    async fn steps_at(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        journey: &journey_entity::Model,
        version: i32,
    ) -> ApiResult<Vec<Step>> {
        if version == journey.steps_version {
            return steps_of(journey);
        }
        let tenant = TenantId::from_claim(&journey.tenant_id);
        let stored = journeys::version(db, &tenant, &journey.id, version)
            .await?
            .ok_or_else(|| {
                ApiError::internal(format!("journey {} has no version {version}", journey.id))
            })?;
        serde_json::from_str(&stored.steps).map_err(|e| {
            ApiError::internal(format!("journey {} has corrupt steps: {e}", journey.id))
        })
    }

    /// Activates, pauses or archives a journey (JOURNEY_TRANSITION_NOT_ALLOWED otherwise). A
    /// paused journey enrols nobody and runs no step; its contacts go on where they were when
    /// it is active again.
    pub async fn move_journey(
        &self,
        tenant: &TenantId,
        id: &str,
        to: JourneyStatus,
    ) -> ApiResult<journey_entity::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = journeys::lock(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("journey"))?;
        JourneyStatus::parse(&model.status)?.move_to(to)?;
        model.status = to.as_str().to_owned();
        model.version += 1;
        model.updated_at = now_ms();
        let model = journeys::update(&*txn, model).await?;
        self.commit(txn).await?;
        self.sender_wake.notify_waiters();
        Ok(model)
    }

    pub async fn journey(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<journey_entity::Model>> {
        Ok(journeys::journey(&self.db, tenant, id).await?)
    }

    pub async fn journeys(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<journey_entity::Model>> {
        Ok(journeys::page(&self.db, tenant, page).await?)
    }

    /// A journey's enrolments (the first `limit`, oldest first), each with its steps.
    pub async fn journey_enrollments(
        &self,
        tenant: &TenantId,
        journey_id: &str,
        limit: u64,
    ) -> ApiResult<Vec<(enrollment::Model, Vec<journey_step::Model>)>> {
        let enrollments = journeys::enrollments(&self.db, tenant, journey_id, limit).await?;
        self.with_step_runs(tenant, enrollments).await
    }

    /// A page of a journey's enrolments (oldest first, optionally of one status), each with
    /// its steps.
    pub async fn journey_enrollments_page(
        &self,
        tenant: &TenantId,
        journey_id: &str,
        status: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<(enrollment::Model, Vec<journey_step::Model>)>> {
        let enrollments =
            journeys::enrollments_page(&self.db, tenant, journey_id, status, page).await?;
        self.with_step_runs(tenant, enrollments).await
    }

    async fn with_step_runs(
        &self,
        tenant: &TenantId,
        enrollments: Vec<enrollment::Model>,
    ) -> ApiResult<Vec<(enrollment::Model, Vec<journey_step::Model>)>> {
        let mut out = Vec::with_capacity(enrollments.len());
        for enrollment in enrollments {
            let steps = journeys::steps_of(&self.db, tenant, &enrollment.id).await?;
            out.push((enrollment, steps));
        }
        Ok(out)
    }

    /// How many of a journey's contacts are active, completed and exited (all of them).
    pub async fn journey_counts(
        &self,
        tenant: &TenantId,
        journey_id: &str,
    ) -> ApiResult<Vec<(String, i64)>> {
        Ok(journeys::enrollment_counts(&self.db, tenant, journey_id).await?)
    }

    /// Enrols a contact in the tenant's active journeys a trigger starts (inside the caller's
    /// transaction, so the enrolment commits with what caused it); answers how many were new.
    pub(crate) async fn enroll_triggered(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        kind: TriggerKind,
        references: &[String],
        contact_id: &str,
    ) -> ApiResult<usize> {
        if references.is_empty() && kind != TriggerKind::FormConfirmed {
            return Ok(0);
        }
        let any = kind == TriggerKind::FormConfirmed;
        let now = now_ms();
        let mut enrolled = 0;
        for journey in journeys::triggered(&**txn, tenant, kind.as_str(), references, any).await? {
            let new = journeys::enroll(
                &**txn,
                enrollment::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    journey_id: journey.id,
                    journey_version: journey.steps_version,
                    contact_id: contact_id.to_owned(),
                    status: "active".into(),
                    step: 0,
                    due_at: now,
                    lease_until: None,
                    leased_by: None,
                    enrolled_at: now,
                    finished_at: None,
                    exit_reason: None,
                },
            )
            .await?;
            enrolled += usize::from(new);
        }
        if enrolled > 0 {
            self.sender_wake.notify_waiters();
        }
        Ok(enrolled)
    }

    /// An event of a contact (a product event, a visit, ...): enrols it in the journeys the
    /// event starts; answers how many.
    pub async fn track_event(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        event: &str,
    ) -> ApiResult<usize> {
        journey::check_event(event)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let contact = contacts::lock(&*txn, tenant, contact_id)
            .await?
            .ok_or_else(|| not_found("contact"))?;
        if ContactStatus::parse(&contact.status)? == ContactStatus::Erased {
            return Ok(0);
        }
        let enrolled = self
            .enroll_triggered(
                &txn,
                tenant,
                TriggerKind::Event,
                &[event.to_owned()],
                contact_id,
            )
            .await?;
        self.commit(txn).await?;
        Ok(enrolled)
    }

    /// The sender's part: leases the enrolments due at `now` and runs each until a wait or the
    /// end, in one transaction per enrolment (a crash rolls it back; the lease expires and
    /// another sender runs it again: a SEND step's message exists once by its send key).
    pub(crate) async fn advance_journeys(
        &self,
        worker: &str,
        lease_ms: i64,
        batch: u64,
        now: i64,
    ) -> ApiResult<JourneyReport> {
        let leased = {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let leased = journeys::lease_due(&*txn, worker, now, now + lease_ms, batch).await?;
            txn.commit().await?;
            leased
        };
        let mut report = JourneyReport::default();
        for due in leased {
            match self.run_enrollment(worker, &due, now).await {
                Ok(done) => {
                    report.steps += done.steps;
                    report.queued += done.queued;
                    report.finished += done.finished;
                }
                Err(err) => {
                    tracing::warn!(enrollment = %due.id, error = %err.message(), "journey step failed");
                }
            }
        }
        Ok(report)
    }

    async fn run_enrollment(
        &self,
        worker: &str,
        due: &enrollment::Model,
        now: i64,
    ) -> ApiResult<JourneyReport> {
        let tenant = TenantId::from_claim(&due.tenant_id);
        let mut report = JourneyReport::default();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let Some(mut enrollment) = journeys::lock_leased(&*txn, &tenant, &due.id, worker).await?
        else {
            // The lease expired and another sender took it.
            return Ok(report);
        };
        let journey = journeys::journey(&*txn, &tenant, &enrollment.journey_id)
            .await?
            .ok_or_else(|| ApiError::internal("the enrolment's journey is gone"))?;
        // The version the enrolment runs (read under its lock: an edit that moves it waits).
        let steps = self
            .steps_at(&*txn, &journey, enrollment.journey_version)
            .await?;
        let record = |position: usize, kind: &str, status: &str, detail: Option<String>| {
            journey_step::Model {
                tenant_id: tenant.as_str().to_owned(),
                enrollment_id: enrollment.id.clone(),
                position: position as i32,
                kind: kind.to_owned(),
                status: status.to_owned(),
                at: now,
                detail,
            }
        };
        loop {
            let position = usize::try_from(enrollment.step).unwrap_or(usize::MAX);
            let Some(step) = steps.get(position) else {
                enrollment.status = "completed".into();
                enrollment.finished_at = Some(now);
                report.finished += 1;
                break;
            };
            report.steps += 1;
            // An unsubscribed or erased contact leaves every journey at its next step.
            let contact = contacts::contact(&*txn, &tenant, &enrollment.contact_id).await?;
            let gone = match &contact {
                None => Some("contact_gone"),
                Some(c) => match ContactStatus::parse(&c.status)? {
                    ContactStatus::Unsubscribed => Some("unsubscribed"),
                    ContactStatus::Erased => Some("erased"),
                    _ => None,
                },
            };
            if let Some(reason) = gone {
                journeys::record_step(
                    &*txn,
                    record(position, step.kind(), "skipped", Some(reason.into())),
                )
                .await?;
                enrollment.status = "exited".into();
                enrollment.exit_reason = Some(reason.into());
                enrollment.finished_at = Some(now);
                report.finished += 1;
                break;
            }
            match step {
                Step::Wait { minutes } => {
                    journeys::record_step(&*txn, record(position, "wait", "done", None)).await?;
                    enrollment.step += 1;
                    enrollment.due_at = now + minutes * 60_000;
                    break;
                }
                Step::Send { .. } => {
                    let message_id = new_id();
                    queue::enqueue(
                        &*txn,
                        vec![journey_message(
                            &tenant,
                            &message_id,
                            &journey.id,
                            journey::step_key(&journey.id, enrollment.journey_version, position),
                            &enrollment.contact_id,
                            now,
                        )],
                    )
                    .await?;
                    journeys::record_step(
                        &*txn,
                        record(position, "send", "done", Some(message_id)),
                    )
                    .await?;
                    report.queued += 1;
                    enrollment.step += 1;
                }
                Step::Condition { check, .. } => {
                    let holds = self.check_holds(&txn, &tenant, check, &enrollment).await?;
                    journeys::record_step(
                        &*txn,
                        record(
                            position,
                            "condition",
                            "done",
                            Some(if holds { "true" } else { "false" }.into()),
                        ),
                    )
                    .await?;
                    let Some(next) = journey::branch(steps.len(), position, step, holds) else {
                        enrollment.status = "exited".into();
                        enrollment.exit_reason = Some("condition".into());
                        enrollment.finished_at = Some(now);
                        report.finished += 1;
                        break;
                    };
                    enrollment.step = i32::try_from(next).unwrap_or(i32::MAX);
                }
                Step::Exit => {
                    journeys::record_step(&*txn, record(position, "exit", "done", None)).await?;
                    enrollment.status = "exited".into();
                    enrollment.exit_reason = Some("exit_step".into());
                    enrollment.finished_at = Some(now);
                    report.finished += 1;
                    break;
                }
            }
        }
        journeys::save_enrollment(&*txn, enrollment).await?;
        self.commit(txn).await?;
        Ok(report)
    }

    /// Whether a condition holds for an enrolment now. A condition on the previous message
    /// looks at the last message this enrolment's SEND steps queued (on the branch it took).
    async fn check_holds(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        check: &Check,
        enrollment: &enrollment::Model,
    ) -> ApiResult<bool> {
        Ok(match check {
            Check::InSegment(segment_id) => {
                segments::memberships_of(&**txn, tenant, &enrollment.contact_id)
                    .await?
                    .contains(segment_id)
            }
            Check::OpenedPrevious | Check::ClickedPrevious => {
                let runs = journeys::steps_of(&**txn, tenant, &enrollment.id).await?;
                let Some(message_id) = runs
                    .iter()
                    .rev()
                    .find(|run| run.kind == "send" && run.status == "done")
                    .and_then(|run| run.detail.clone())
                else {
                    return Ok(false);
                };
                let message = queue::message(&**txn, tenant, &message_id).await?;
                match (check, message) {
                    (Check::OpenedPrevious, Some(m)) => m.opened_at.is_some(),
                    (_, Some(m)) => m.clicked_at.is_some(),
                    (_, None) => false,
                }
            }
        })
    }

    /// A journey message as the sender sends it: like a one-message campaign whose id is the
    /// step's send key, the step's template, sending while the journey is active (paused:
    /// the message waits).
    pub(crate) async fn journey_source(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        tenant: &TenantId,
        message: &message::Model,
    ) -> ApiResult<Option<crate::store::entities::campaign::Model>> {
        let Some(journey_id) = &message.journey_id else {
            return Ok(None);
        };
        let Some(journey) = journeys::journey(db, tenant, journey_id).await? else {
            return Ok(None);
        };
        let Some((version, position)) = journey::parse_step_key(&message.campaign_id) else {
            return Ok(None);
        };
        let steps = self.steps_at(db, &journey, version).await?;
        let Some(Step::Send { template_id }) = steps.get(position) else {
            return Ok(None);
        };
        let status = if journey.status == JourneyStatus::Active.as_str() {
            "sending"
        } else {
            "paused"
        };
        // The template must still be there (the sender's error otherwise).
        if campaigns::template(db, tenant, template_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(crate::store::entities::campaign::Model {
            tenant_id: journey.tenant_id,
            id: message.campaign_id.clone(),
            name: journey.name,
            template_id: template_id.clone(),
            segment_id: String::new(),
            topic: None,
            status: status.into(),
            scheduled_at: None,
            started_at: None,
            finished_at: None,
            version: journey.version,
            created_by: journey.created_by,
            created_at: journey.created_at,
            updated_at: journey.updated_at,
            ab_test_percent: None,
            ab_winner_by: None,
            ab_wait_ms: None,
            ab_winner_variant_id: None,
            ab_decided_at: None,
            provider_id: None,
        }))
    }
}

/// The queued message of a journey's SEND step to a contact.
fn journey_message(
    tenant: &TenantId,
    id: &str,
    journey_id: &str,
    send_key: String,
    contact_id: &str,
    now: i64,
) -> message::Model {
    message::Model {
        tenant_id: tenant.as_str().to_owned(),
        id: id.to_owned(),
        campaign_id: send_key,
        contact_id: contact_id.to_owned(),
        status: "queued".into(),
        lease_until: None,
        leased_by: None,
        attempts: 0,
        skip_reason: None,
        error: None,
        queued_at: now,
        handed_off_at: None,
        sent_at: None,
        opened_at: None,
        clicked_at: None,
        bounce_kind: None,
        bounced_at: None,
        complained_at: None,
        not_before: None,
        deferred_by: None,
        variant_id: None,
        journey_id: Some(journey_id.to_owned()),
    }
}
