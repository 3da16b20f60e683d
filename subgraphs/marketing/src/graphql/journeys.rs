//! Journeys (e-mail automation): create, activate, pause, archive, track an event; the
//! journey with its enrolments and each step's outcome.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;
use erp_kit::{ApiError, RequestContext, TenantId};

use super::context::caller;
use super::objects::instant;
use crate::app::journeys::{steps_of, JourneyEdit, NewJourney};
use crate::app::Marketing;
use crate::domain::journey::{
    Check, EnrolmentRule, JourneyStatus as DomainStatus, Step, Trigger, TriggerKind,
};
use crate::store::entities::{enrollment, journey, journey_step};

/// Where a journey stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyStatus {
    /// Being prepared: enrols nobody.
    Draft,
    /// Enrols contacts by its trigger and runs their steps.
    Active,
    /// Enrols nobody and runs no step; contacts go on where they were once it is active again.
    Paused,
    /// Stopped for good.
    Archived,
}

impl From<DomainStatus> for JourneyStatus {
    fn from(status: DomainStatus) -> Self {
        match status {
            DomainStatus::Draft => Self::Draft,
            DomainStatus::Active => Self::Active,
            DomainStatus::Paused => Self::Paused,
            DomainStatus::Archived => Self::Archived,
        }
    }
}

/// What enrols a contact in a journey (once per journey).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyTriggerKind {
    /// The contact joins the segment (as their data or behaviour changes).
    SegmentJoined,
    /// The contact confirms a double opt-in through the form (or any form).
    FormConfirmed,
    /// An event of the contact: `opened` or `clicked` (a campaign message) or one tracked by
    /// trackContactEvent.
    Event,
}

impl From<JourneyTriggerKind> for TriggerKind {
    fn from(kind: JourneyTriggerKind) -> Self {
        match kind {
            JourneyTriggerKind::SegmentJoined => Self::SegmentJoined,
            JourneyTriggerKind::FormConfirmed => Self::FormConfirmed,
            JourneyTriggerKind::Event => Self::Event,
        }
    }
}

impl From<TriggerKind> for JourneyTriggerKind {
    fn from(kind: TriggerKind) -> Self {
        match kind {
            TriggerKind::SegmentJoined => Self::SegmentJoined,
            TriggerKind::FormConfirmed => Self::FormConfirmed,
            TriggerKind::Event => Self::Event,
        }
    }
}

/// What a journey step does.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyStepKind {
    /// Waits `waitMinutes` before the next step.
    Wait,
    /// Sends the bulk template `templateId` (checked at send time like a campaign message).
    Send,
    /// Checks whether the contact is in `segmentId`, or opened (`engagement` OPENED) or
    /// clicked (CLICKED) the journey's previous message: when it holds the contact goes on at
    /// `nextIfTrue` (the next step when null), otherwise at `nextIfFalse` (exits when null).
    Condition,
    /// The contact exits.
    Exit,
}

/// What a condition on the previous message looks at.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyEngagement {
    /// The contact opened it.
    Opened,
    /// The contact clicked one of its links.
    Clicked,
}

/// A journey's trigger.
#[derive(InputObject)]
pub struct JourneyTriggerInput {
    /// What enrols a contact.
    pub kind: JourneyTriggerKind,
    /// SEGMENT_JOINED: the segment.
    pub segment_id: Option<ID>,
    /// FORM_CONFIRMED: the form (any form when absent).
    pub form_id: Option<ID>,
    /// EVENT: the event's name (1 to 64 characters of a-z, 0-9, `_`, `.`, `-`).
    pub event: Option<String>,
}

/// One step of a new journey.
#[derive(InputObject)]
pub struct JourneyStepInput {
    /// What the step does.
    pub kind: JourneyStepKind,
    /// WAIT: how long, 1 minute to 90 days.
    pub wait_minutes: Option<i32>,
    /// SEND: the bulk template.
    pub template_id: Option<ID>,
    /// CONDITION: the contact is a member of this segment.
    pub segment_id: Option<ID>,
    /// CONDITION: the contact opened or clicked the journey's previous message.
    pub engagement: Option<JourneyEngagement>,
    /// CONDITION: the step (its position, after this one) to go on at when the check holds;
    /// the next step when absent.
    pub next_if_true: Option<i32>,
    /// CONDITION: the step (its position, after this one) to go on at when it does not hold;
    /// the contact exits when absent.
    pub next_if_false: Option<i32>,
}

/// What an edit of a journey's steps does to the contacts in it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyEnrollmentRule {
    /// They finish the journey on the version they started on; new contacts get the new one.
    KeepVersion,
    /// They move to the new version at the step position they are at (steps they went through
    /// are not run again; a position past the new end completes).
    MoveAtSameStep,
}

impl From<JourneyEnrollmentRule> for EnrolmentRule {
    fn from(rule: JourneyEnrollmentRule) -> Self {
        match rule {
            JourneyEnrollmentRule::KeepVersion => Self::KeepVersion,
            JourneyEnrollmentRule::MoveAtSameStep => Self::MoveAtSameStep,
        }
    }
}

/// An edit of a journey that is not archived (JOURNEY_NOT_EDITABLE otherwise).
#[derive(InputObject)]
pub struct UpdateJourneyInput {
    /// The journey.
    pub journey_id: ID,
    /// A new name.
    pub name: Option<String>,
    /// New steps (1 to 20, checked like a new journey's): a new version.
    pub steps: Option<Vec<JourneyStepInput>>,
    /// What new steps do to the contacts in the journey; KEEP_VERSION when absent.
    #[graphql(default_with = "JourneyEnrollmentRule::KeepVersion")]
    pub enrollments: JourneyEnrollmentRule,
}

/// A new journey (a draft).
#[derive(InputObject)]
pub struct CreateJourneyInput {
    /// Its name.
    pub name: String,
    /// What enrols a contact.
    pub trigger: JourneyTriggerInput,
    /// Its steps, in order (1 to 20).
    pub steps: Vec<JourneyStepInput>,
}

/// A journey to activate, pause or archive.
#[derive(InputObject)]
pub struct JourneyActionInput {
    /// The journey.
    pub journey_id: ID,
}

/// An event of a contact (enrols it in the journeys the event triggers).
#[derive(InputObject)]
pub struct TrackContactEventInput {
    /// The contact.
    pub contact_id: ID,
    /// The event's name (1 to 64 characters of a-z, 0-9, `_`, `.`, `-`).
    pub event: String,
}

fn invalid_step(position: usize, what: &str) -> ApiError {
    ApiError::rule(
        crate::domain::reasons::JOURNEY_INVALID,
        format!("step {position}: {what}"),
    )
    .on_field("steps")
}

impl JourneyStepInput {
    fn into_step(self, position: usize) -> Result<Step, ApiError> {
        let target = |next: Option<i32>| -> Result<Option<usize>, ApiError> {
            next.map(|n| {
                usize::try_from(n)
                    .map_err(|_| invalid_step(position, "a branch names a step by its position"))
            })
            .transpose()
        };
        if self.kind != JourneyStepKind::Condition
            && (self.next_if_true.is_some() || self.next_if_false.is_some())
        {
            return Err(invalid_step(position, "only a CONDITION step branches"));
        }
        Ok(match self.kind {
            JourneyStepKind::Wait => Step::Wait {
                minutes: i64::from(
                    self.wait_minutes
                        .ok_or_else(|| invalid_step(position, "a WAIT step needs waitMinutes"))?,
                ),
            },
            JourneyStepKind::Send => Step::Send {
                template_id: self
                    .template_id
                    .ok_or_else(|| invalid_step(position, "a SEND step needs templateId"))?
                    .0,
            },
            JourneyStepKind::Condition => Step::Condition {
                check: match (self.segment_id, self.engagement) {
                    (Some(segment), None) => Check::InSegment(segment.0),
                    (None, Some(JourneyEngagement::Opened)) => Check::OpenedPrevious,
                    (None, Some(JourneyEngagement::Clicked)) => Check::ClickedPrevious,
                    _ => {
                        return Err(invalid_step(
                            position,
                            "a CONDITION step needs one of segmentId and engagement",
                        ))
                    }
                },
                if_true: target(self.next_if_true)?,
                if_false: target(self.next_if_false)?,
            },
            JourneyStepKind::Exit => Step::Exit,
        })
    }
}

/// A journey (e-mail automation): a trigger enrols each contact once, then its steps run in
/// order.
pub struct Journey {
    pub model: journey::Model,
}

/// One step of a journey.
#[derive(SimpleObject)]
pub struct JourneyStep {
    /// Its place, from 0.
    pub position: i32,
    /// What it does.
    pub kind: JourneyStepKind,
    /// WAIT: how long.
    pub wait_minutes: Option<i64>,
    /// SEND: the template.
    pub template_id: Option<ID>,
    /// CONDITION: the segment the contact must be in.
    pub segment_id: Option<ID>,
    /// CONDITION: what the contact must have done with the previous message.
    pub engagement: Option<JourneyEngagement>,
    /// CONDITION: where the contact goes on when it holds (null: the next step).
    pub next_if_true: Option<i32>,
    /// CONDITION: where the contact goes on when it does not (null: it exits).
    pub next_if_false: Option<i32>,
}

/// How many contacts are where in a journey.
#[derive(SimpleObject)]
pub struct JourneyCounts {
    /// Enrolled and not finished.
    pub active: i64,
    /// Went through every step.
    pub completed: i64,
    /// Left early (a condition, an exit step, an unsubscribe).
    pub exited: i64,
}

/// What one step did for one contact.
#[derive(SimpleObject)]
pub struct JourneyStepRun {
    /// The step's place.
    pub position: i32,
    /// `wait`, `send`, `condition` or `exit`.
    pub kind: String,
    /// `done`, `skipped` or `failed`.
    pub status: String,
    /// When it ran.
    pub at: DateTime,
    /// The message a SEND step queued, a condition's outcome (`true`/`false`), why a step
    /// was skipped.
    pub detail: Option<String>,
}

/// Where a contact stands in a journey.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyEnrollmentStatus {
    /// Enrolled, at a step (pending).
    Active,
    /// Went through every step.
    Completed,
    /// Left early.
    Exited,
}

/// Why a contact left a journey early.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JourneyExitReason {
    /// A condition did not hold.
    Condition,
    /// An EXIT step.
    ExitStep,
    /// The contact unsubscribed.
    Unsubscribed,
    /// The contact was erased (GDPR).
    Erased,
    /// The contact no longer exists.
    ContactGone,
}

/// A contact in a journey.
#[derive(SimpleObject)]
pub struct JourneyEnrollment {
    /// The enrolment's id (its cursor in enrollmentConnection).
    pub id: ID,
    /// The version of the journey's steps it runs.
    pub version: i32,
    /// The contact.
    pub contact_id: ID,
    /// Where it stands.
    pub status: JourneyEnrollmentStatus,
    /// The step it is at (pending) while active.
    pub step: i32,
    /// When that step is due.
    pub due_at: Option<DateTime>,
    /// When it was enrolled.
    pub enrolled_at: DateTime,
    /// When it completed or exited.
    pub finished_at: Option<DateTime>,
    /// Why it left early.
    pub exit_reason: Option<JourneyExitReason>,
    /// What each step it reached did.
    pub steps: Vec<JourneyStepRun>,
}

fn enrollment_object(
    model: enrollment::Model,
    steps: Vec<journey_step::Model>,
) -> JourneyEnrollment {
    JourneyEnrollment {
        id: ID(model.id),
        version: model.journey_version,
        contact_id: ID(model.contact_id),
        due_at: (model.status == "active").then(|| instant(model.due_at)),
        status: match model.status.as_str() {
            "completed" => JourneyEnrollmentStatus::Completed,
            "exited" => JourneyEnrollmentStatus::Exited,
            _ => JourneyEnrollmentStatus::Active,
        },
        step: model.step,
        enrolled_at: instant(model.enrolled_at),
        finished_at: model.finished_at.map(instant),
        exit_reason: model.exit_reason.as_deref().map(|reason| match reason {
            "condition" => JourneyExitReason::Condition,
            "exit_step" => JourneyExitReason::ExitStep,
            "unsubscribed" => JourneyExitReason::Unsubscribed,
            "erased" => JourneyExitReason::Erased,
            _ => JourneyExitReason::ContactGone,
        }),
        steps: steps
            .into_iter()
            .map(|s| JourneyStepRun {
                position: s.position,
                kind: s.kind,
                status: s.status,
                at: instant(s.at),
                detail: s.detail,
            })
            .collect(),
    }
}

/// The GraphQL objects of a journey's steps.
fn step_objects(steps: Vec<Step>) -> Vec<JourneyStep> {
    steps
        .into_iter()
        .enumerate()
        .map(|(position, step)| {
            let mut out = JourneyStep {
                position: position as i32,
                kind: JourneyStepKind::Exit,
                wait_minutes: None,
                template_id: None,
                segment_id: None,
                engagement: None,
                next_if_true: None,
                next_if_false: None,
            };
            match step {
                Step::Wait { minutes } => {
                    out.kind = JourneyStepKind::Wait;
                    out.wait_minutes = Some(minutes);
                }
                Step::Send { template_id } => {
                    out.kind = JourneyStepKind::Send;
                    out.template_id = Some(ID(template_id));
                }
                Step::Condition {
                    check,
                    if_true,
                    if_false,
                } => {
                    out.kind = JourneyStepKind::Condition;
                    out.next_if_true = if_true.map(|n| n as i32);
                    out.next_if_false = if_false.map(|n| n as i32);
                    match check {
                        Check::InSegment(segment) => out.segment_id = Some(ID(segment)),
                        Check::OpenedPrevious => out.engagement = Some(JourneyEngagement::Opened),
                        Check::ClickedPrevious => out.engagement = Some(JourneyEngagement::Clicked),
                    }
                }
                Step::Exit => {}
            }
            out
        })
        .collect()
}

/// One version of a journey's steps.
#[derive(SimpleObject)]
pub struct JourneyVersion {
    /// Its number (1 for the journey as created).
    pub version: i32,
    /// Its steps, in order.
    pub steps: Vec<JourneyStep>,
    /// Who wrote it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime,
}

/// A journey (e-mail automation): a trigger enrols each contact once, then its steps run in
/// order.
#[Object]
impl Journey {
    /// The journey's id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Where it stands.
    async fn status(&self) -> Result<JourneyStatus> {
        Ok(DomainStatus::parse(&self.model.status)?.into())
    }

    /// What enrols a contact.
    async fn trigger_kind(&self) -> Result<JourneyTriggerKind> {
        Ok(TriggerKind::parse(&self.model.trigger_kind)?.into())
    }

    /// The segment, form or event the trigger names (null: any form).
    async fn trigger_reference(&self) -> Option<&str> {
        self.model.trigger_ref.as_deref()
    }

    /// Its steps (the current version), in order.
    async fn steps(&self) -> Result<Vec<JourneyStep>> {
        Ok(step_objects(steps_of(&self.model)?))
    }

    /// The version of its steps new contacts start on (1, then one more per edit of the
    /// steps).
    async fn steps_version(&self) -> i32 {
        self.model.steps_version
    }

    /// Every version of its steps, oldest first.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<JourneyVersion>> {
        ctx.use_cases::<Marketing>()?
            .journey_versions(&TenantId::from_claim(&self.model.tenant_id), &self.model.id)
            .await?
            .into_iter()
            .map(|version| {
                let steps: Vec<Step> = serde_json::from_str(&version.steps)
                    .map_err(|e| ApiError::internal(format!("journey version steps: {e}")))?;
                Ok(JourneyVersion {
                    version: version.version,
                    steps: step_objects(steps),
                    created_by: version.created_by,
                    created_at: instant(version.created_at),
                })
            })
            .collect()
    }

    /// Its contacts as a Relay connection (oldest enrolment first; optionally only those of
    /// one status), each with what its steps did.
    #[allow(clippy::too_many_arguments)]
    async fn enrollment_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the contacts of this status.")] status: Option<
            JourneyEnrollmentStatus,
        >,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, JourneyEnrollment, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let status = status.map(|s| match s {
            JourneyEnrollmentStatus::Active => "active",
            JourneyEnrollmentStatus::Completed => "completed",
            JourneyEnrollmentStatus::Exited => "exited",
        });
        let rows = ctx
            .use_cases::<Marketing>()?
            .journey_enrollments_page(
                &TenantId::from_claim(&self.model.tenant_id),
                &self.model.id,
                status,
                &page,
            )
            .await?
            .into_iter()
            .map(|(model, steps)| enrollment_object(model, steps))
            .collect();
        Ok(connection_from_rows(
            &page,
            rows,
            |e: &JourneyEnrollment| e.id.0.clone(),
        ))
    }

    /// Its contacts (the first 500, oldest enrolment first), each with what its steps did.
    #[graphql(deprecation = "the first 500 only: use enrollmentConnection")]
    async fn enrollments(&self, ctx: &Context<'_>) -> Result<Vec<JourneyEnrollment>> {
        Ok(ctx
            .use_cases::<Marketing>()?
            .journey_enrollments(
                &TenantId::from_claim(&self.model.tenant_id),
                &self.model.id,
                500,
            )
            .await?
            .into_iter()
            .map(|(model, steps)| enrollment_object(model, steps))
            .collect())
    }

    /// How many contacts are active, completed, exited (all of them).
    async fn counts(&self, ctx: &Context<'_>) -> Result<JourneyCounts> {
        let all = ctx
            .use_cases::<Marketing>()?
            .journey_counts(&TenantId::from_claim(&self.model.tenant_id), &self.model.id)
            .await?;
        let count = |status: &str| {
            all.iter()
                .filter(|(s, _)| s == status)
                .map(|(_, n)| *n)
                .sum::<i64>()
        };
        Ok(JourneyCounts {
            active: count("active"),
            completed: count("completed"),
            exited: count("exited"),
        })
    }

    /// Bumped by every change.
    async fn version(&self) -> i32 {
        self.model.version
    }
}

#[derive(Default)]
pub struct JourneysQuery;

#[Object]
impl JourneysQuery {
    /// A journey.
    #[graphql(requires_scopes = "marketing:read")]
    async fn journey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journey's id.")] id: ID,
    ) -> Result<Option<Journey>> {
        let (tenant, _) = caller(ctx)?;
        Ok(ctx
            .use_cases::<Marketing>()?
            .journey(&tenant, &id)
            .await?
            .map(|model| Journey { model }))
    }

    /// The tenant's journeys, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "marketing:read")]
    async fn journeys(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, Journey, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let (tenant, _) = caller(ctx)?;
        let rows = ctx
            .use_cases::<Marketing>()?
            .journeys(&tenant, &page)
            .await?
            .into_iter()
            .map(|model| Journey { model })
            .collect();
        Ok(connection_from_rows(&page, rows, |j| j.model.id.clone()))
    }
}

#[derive(Default)]
pub struct JourneysMutation;

async fn move_journey(ctx: &Context<'_>, id: &str, to: DomainStatus) -> Result<Journey> {
    let (tenant, _) = caller(ctx)?;
    let model = ctx
        .use_cases::<Marketing>()?
        .move_journey(&tenant, id, to)
        .await?;
    Ok(Journey { model })
}

#[Object]
impl JourneysMutation {
    /// Creates a draft journey (JOURNEY_INVALID for a bad shape).
    #[graphql(requires_scopes = "marketing:write")]
    async fn create_journey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journey.")] input: CreateJourneyInput,
    ) -> Result<Journey> {
        let (tenant, actor) = caller(ctx)?;
        let reference = match input.trigger.kind {
            JourneyTriggerKind::SegmentJoined => input.trigger.segment_id.map(|id| id.0),
            JourneyTriggerKind::FormConfirmed => input.trigger.form_id.map(|id| id.0),
            JourneyTriggerKind::Event => input.trigger.event,
        };
        let trigger = Trigger::new(input.trigger.kind.into(), reference)?;
        let steps = input
            .steps
            .into_iter()
            .enumerate()
            .map(|(position, step)| step.into_step(position))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let model = ctx
            .use_cases::<Marketing>()?
            .create_journey(
                &tenant,
                &actor,
                NewJourney {
                    name: input.name,
                    trigger,
                    steps,
                },
            )
            .await?;
        Ok(Journey { model })
    }

    /// Edits a journey that is not archived (JOURNEY_NOT_EDITABLE): new steps are a new
    /// version new contacts start on; the contacts in it keep their version or move, as
    /// `enrollments` says (JOURNEY_INVALID for bad steps).
    #[graphql(requires_scopes = "marketing:write")]
    async fn update_journey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The edit.")] input: UpdateJourneyInput,
    ) -> Result<Journey> {
        let (tenant, actor) = caller(ctx)?;
        let steps = input
            .steps
            .map(|steps| {
                steps
                    .into_iter()
                    .enumerate()
                    .map(|(position, step)| step.into_step(position))
                    .collect::<Result<Vec<_>, ApiError>>()
            })
            .transpose()?;
        let model = ctx
            .use_cases::<Marketing>()?
            .update_journey(
                &tenant,
                &actor,
                &input.journey_id,
                JourneyEdit {
                    name: input.name,
                    steps,
                    rule: input.enrollments.into(),
                },
            )
            .await?;
        Ok(Journey { model })
    }

    /// Activates a draft or paused journey: it enrols contacts from now on.
    #[graphql(requires_scopes = "marketing:send")]
    async fn activate_journey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journey.")] input: JourneyActionInput,
    ) -> Result<Journey> {
        move_journey(ctx, &input.journey_id, DomainStatus::Active).await
    }

    /// Pauses an active journey: nobody is enrolled and no step runs until it is active again.
    #[graphql(requires_scopes = "marketing:send")]
    async fn pause_journey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journey.")] input: JourneyActionInput,
    ) -> Result<Journey> {
        move_journey(ctx, &input.journey_id, DomainStatus::Paused).await
    }

    /// Archives a journey for good.
    #[graphql(requires_scopes = "marketing:send")]
    async fn archive_journey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journey.")] input: JourneyActionInput,
    ) -> Result<Journey> {
        move_journey(ctx, &input.journey_id, DomainStatus::Archived).await
    }

    /// Records an event of a contact: it is enrolled in the active journeys the event
    /// triggers; answers how many.
    #[graphql(requires_scopes = "marketing:write")]
    async fn track_contact_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The contact and the event.")] input: TrackContactEventInput,
    ) -> Result<i32> {
        let (tenant, _) = caller(ctx)?;
        let enrolled = ctx
            .use_cases::<Marketing>()?
            .track_event(&tenant, &input.contact_id, &input.event)
            .await?;
        Ok(i32::try_from(enrolled).unwrap_or(i32::MAX))
    }
}
