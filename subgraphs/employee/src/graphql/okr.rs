//! OKRs in GraphQL: objectives with key results, check-ins and alignment.
//!
//! Everyone with `okr:read` reads the tenant's OKRs (they are meant to be seen); an objective
//! and its key results are changed by its owner, the managers above the owner, or HR
//! (`hr:admin`), with `okr:write` (the use cases check it: FORBIDDEN, reason NOT_OWNER).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::Utc;

use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use super::context::viewer;
use super::loaders::{KeyResultsLoader, ObjectiveLoader};
use super::people::{load_employee, Employee, User};
use super::shift::millis;
use crate::app::okr::KeyResultCheckIn;
use crate::app::Employee as UseCases;
use crate::domain::okr::{
    check_measure, check_period, objective_status, parse_title, progress, OkrStatus,
};
use crate::store::entities::{key_result, objective, okr_check_in as check_in};
use crate::store::okr::{NewKeyResult, NewObjective, ObjectiveFilter};

/// How a key result (or, at its worst, an objective) is going.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "OkrStatus")]
pub enum OkrProgressStatus {
    /// Progress keeps up with the time elapsed.
    OnTrack,
    /// Progress lags behind.
    Behind,
    /// The result is unlikely to be reached.
    AtRisk,
}

async fn key_results(ctx: &Context<'_>, objective_id: &str) -> Result<Vec<key_result::Model>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<KeyResultsLoader>>()
        .load_one(TenantKey::new(&tenant, objective_id))
        .await?
        .unwrap_or_default())
}

/// An objective: what someone sets out to achieve in a period, measured by key results.
pub struct Objective(pub objective::Model);

/// An objective: what someone sets out to achieve in a period, measured by key results.
#[Object]
impl Objective {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What is to be achieved.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Why, and anything else worth saying.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The first day of the period.
    async fn period_start(&self) -> Date {
        self.0.period_start.into()
    }
    /// The last day of the period.
    async fn period_end(&self) -> Date {
        self.0.period_end.into()
    }
    /// The employee who owns it.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.0.owner_id).await
    }
    /// The objective this one contributes to.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Objective>> {
        let Some(parent) = &self.0.parent_id else {
            return Ok(None);
        };
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<ObjectiveLoader>>()
            .load_one(TenantKey::new(&tenant, parent))
            .await?
            .map(Objective))
    }
    /// The objectives aligned under this one.
    async fn aligned(
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
    ) -> Result<Connection<String, Objective, EmptyFields, EmptyFields>> {
        let filter = ObjectiveFilter {
            parent_id: Some(self.0.id.clone()),
            ..Default::default()
        };
        list(ctx, filter, after, before, first, last).await
    }
    /// The key results, in the order they were added (at most 10).
    async fn key_results(&self, ctx: &Context<'_>) -> Result<Vec<KeyResult>> {
        Ok(key_results(ctx, &self.0.id)
            .await?
            .into_iter()
            .map(KeyResult)
            .collect())
    }
    /// The average progress of the key results, 0 to 1 (0 without key results).
    async fn progress(&self, ctx: &Context<'_>) -> Result<f64> {
        let results = key_results(ctx, &self.0.id).await?;
        if results.is_empty() {
            return Ok(0.0);
        }
        let total: f64 = results
            .iter()
            .map(|r| progress(r.start_value, r.target_value, r.current_value))
            .sum();
        Ok(total / results.len() as f64)
    }
    /// The worst status of the key results' latest check-ins (none before a check-in).
    async fn status(&self, ctx: &Context<'_>) -> Result<Option<OkrProgressStatus>> {
        let results = key_results(ctx, &self.0.id).await?;
        Ok(objective_status(
            results
                .iter()
                .filter_map(|r| r.status.as_deref().and_then(OkrStatus::from_db)),
        )
        .map(Into::into))
    }
}

/// A measurable result: from a start value to a target value.
pub struct KeyResult(pub key_result::Model);

/// A key result: a measurable result of an objective, from a start value to a target value.
#[Object]
impl KeyResult {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What is measured.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// The value at the start.
    async fn start_value(&self) -> f64 {
        self.0.start_value
    }
    /// The value to reach (below the start for results that count down).
    async fn target_value(&self) -> f64 {
        self.0.target_value
    }
    /// The value of the latest check-in (the start value before any).
    async fn current_value(&self) -> f64 {
        self.0.current_value
    }
    /// The unit of the values, e.g. `%` or `customers`.
    async fn unit(&self) -> Option<&str> {
        self.0.unit.as_deref()
    }
    /// Progress from start to target, 0 to 1.
    async fn progress(&self) -> f64 {
        progress(
            self.0.start_value,
            self.0.target_value,
            self.0.current_value,
        )
    }
    /// The latest check-in's status (none before a check-in).
    async fn status(&self) -> Option<OkrProgressStatus> {
        self.0
            .status
            .as_deref()
            .and_then(OkrStatus::from_db)
            .map(Into::into)
    }
    /// The check-ins, oldest first.
    async fn check_ins(
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
    ) -> Result<Connection<String, OkrCheckIn, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .list_check_ins(&tenant, &self.0.id, &page)
            .await?;
        let rows = rows.into_iter().map(OkrCheckIn).collect();
        Ok(connection_from_rows(&page, rows, |c| c.0.id.clone()))
    }
}

/// A check-in of a key result: its value and status at a moment.
pub struct OkrCheckIn(pub check_in::Model);

/// A check-in of a key result: its value and status at a moment.
#[Object]
impl OkrCheckIn {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The value reported.
    async fn value(&self) -> f64 {
        self.0.value
    }
    /// The status reported (or suggested from the pace).
    async fn status(&self) -> Option<OkrProgressStatus> {
        OkrStatus::from_db(&self.0.status).map(Into::into)
    }
    /// What the author said.
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// The user who checked in (their id).
    async fn author(&self) -> ID {
        ID(self.0.author.clone())
    }
    /// The user who checked in.
    async fn author_user(&self) -> User {
        User {
            id: self.0.author.clone(),
        }
    }
    /// When.
    async fn at(&self) -> DateTime {
        millis(self.0.created_at)
    }
}

async fn list(
    ctx: &Context<'_>,
    filter: ObjectiveFilter,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> Result<Connection<String, Objective, EmptyFields, EmptyFields>> {
    let tenant = ctx.tenant()?;
    let page = PageRequest::parse(after, before, first, last)?;
    let rows = ctx
        .use_cases::<UseCases>()?
        .list_objectives(&tenant, &filter, &page)
        .await?;
    let rows = rows.into_iter().map(Objective).collect();
    Ok(connection_from_rows(&page, rows, |o| o.0.id.clone()))
}

#[derive(Default)]
pub struct OkrQuery;

#[Object]
impl OkrQuery {
    /// One objective of the tenant.
    #[graphql(requires_scopes = "okr:read")]
    async fn objective(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objective.")] id: ID,
    ) -> Result<Option<Objective>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .use_cases::<UseCases>()?
            .objective(&tenant, &id)
            .await?
            .map(Objective))
    }

    /// The tenant's objectives, optionally one owner's or those aligned under one parent.
    #[graphql(requires_scopes = "okr:read")]
    async fn objectives(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the objectives matching every filter given.")] filter: Option<
            ObjectiveFilterInput,
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
    ) -> Result<Option<Connection<String, Objective, EmptyFields, EmptyFields>>> {
        let filter = filter.unwrap_or_default();
        let filter = ObjectiveFilter {
            owner_id: filter.owner_id.map(|id| id.0),
            parent_id: filter.parent_id.map(|id| id.0),
        };
        list(ctx, filter, after, before, first, last)
            .await
            .map(Some)
    }
}

/// Filters of the objective list.
#[derive(InputObject, Default)]
pub struct ObjectiveFilterInput {
    /// Only this employee's objectives.
    pub owner_id: Option<ID>,
    /// Only the objectives aligned under this one.
    pub parent_id: Option<ID>,
}

/// A new objective.
#[derive(InputObject)]
pub struct CreateObjectiveInput {
    /// What is to be achieved (1 to 200 characters).
    pub title: String,
    /// Why, and anything else worth saying (at most 2,000 characters).
    pub description: Option<String>,
    /// The first day of the period.
    pub period_start: Date,
    /// The last day of the period (at most 366 days after the start).
    pub period_end: Date,
    /// The owner (the caller when omitted); someone else's needs their manager or HR.
    pub owner_id: Option<ID>,
    /// The objective this one contributes to.
    pub parent_id: Option<ID>,
}

/// A key result to add to an objective (`createKeyResult`).
#[derive(InputObject)]
pub struct CreateKeyResultInput {
    /// The objective (at most 10 key results).
    pub objective_id: ID,
    /// What is measured (1 to 200 characters).
    pub title: String,
    /// The value at the start.
    pub start_value: f64,
    /// The value to reach (different from the start).
    pub target_value: f64,
    /// The unit of the values (at most 20 characters).
    pub unit: Option<String>,
}

/// A check-in of a key result (`recordKeyResultCheckIn`).
#[derive(InputObject)]
pub struct RecordKeyResultCheckInInput {
    /// The key result.
    pub key_result_id: ID,
    /// The value now.
    pub value: f64,
    /// How it is going; suggested from the pace (progress against time elapsed) when omitted.
    pub status: Option<OkrProgressStatus>,
    /// A note (at most 2,000 characters).
    pub note: Option<String>,
}

/// A new objective's place in the alignment tree (`changeObjectiveAlignment`).
#[derive(InputObject)]
pub struct ChangeObjectiveAlignmentInput {
    /// The objective.
    pub objective_id: ID,
    /// The objective it contributes to from now on; null detaches it.
    pub parent_id: Option<ID>,
}

/// A key result after a check-in, and the check-in.
#[derive(SimpleObject)]
pub struct RecordKeyResultCheckInPayload {
    /// The key result with its new value, progress and status.
    pub key_result: KeyResult,
    /// The check-in recorded.
    pub check_in: OkrCheckIn,
}

/// A new key result (the deprecated `addKeyResult`'s).
#[derive(InputObject)]
pub struct AddKeyResultInput {
    /// What is measured (1 to 200 characters).
    pub title: String,
    /// The value at the start.
    pub start_value: f64,
    /// The value to reach (different from the start).
    pub target_value: f64,
    /// The unit of the values (at most 20 characters).
    pub unit: Option<String>,
}

/// A check-in of a key result (the deprecated `checkInKeyResult`'s).
#[derive(InputObject)]
pub struct CheckInKeyResultInput {
    /// The value now.
    pub value: f64,
    /// How it is going; suggested from the pace (progress against time elapsed) when omitted.
    pub status: Option<OkrProgressStatus>,
    /// A note (at most 2,000 characters).
    pub note: Option<String>,
}

fn optional_text(field: &str, raw: Option<String>, max: usize) -> Result<Option<String>> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max => {
            Err(ApiError::bad_input(field, format!("at most {max} characters")).into())
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

#[derive(Default)]
pub struct OkrMutation;

#[Object]
impl OkrMutation {
    /// Creates an objective; publishes `okr.objective_created`.
    #[graphql(requires_scopes = "okr:write")]
    async fn create_objective(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objective, its period, owner and parent.")]
        input: CreateObjectiveInput,
    ) -> Result<Option<Objective>> {
        let title = parse_title("title", &input.title)?;
        let description = optional_text("description", input.description, 2000)?;
        let (period_start, period_end) = (input.period_start.into(), input.period_end.into());
        check_period(period_start, period_end)?;
        let viewer = viewer(ctx).await?;
        let owner_id = match (input.owner_id, &viewer.employee) {
            (Some(owner), _) => owner.0,
            (None, Some(me)) => me.id.clone(),
            (None, None) => {
                return Err(ApiError::bad_input(
                    "ownerId",
                    "no employee record is linked to this user: name the owner",
                )
                .into())
            }
        };
        let new = NewObjective {
            owner_id,
            title,
            description,
            period_start,
            period_end,
            parent_id: input.parent_id.map(|id| id.0),
        };
        let model = ctx
            .use_cases::<UseCases>()?
            .create_objective(&viewer, new)
            .await?;
        Ok(Some(Objective(model)))
    }

    /// Aligns an objective under a parent objective (or detaches it with `parentId: null`);
    /// publishes `okr.objective_aligned`. A parent aligned under the objective is refused:
    /// BAD_USER_INPUT with `extensions.reason` OBJECTIVE_CYCLE.
    #[graphql(
        requires_scopes = "okr:write",
        deprecation = "use `changeObjectiveAlignment` (one input)"
    )]
    async fn align_objective(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objective.")] objective_id: ID,
        #[graphql(desc = "The objective it contributes to; null detaches it.")] parent_id: Option<
            ID,
        >,
    ) -> Result<Option<Objective>> {
        align(ctx, objective_id, parent_id).await
    }

    /// Aligns an objective under a parent objective (or detaches it with `parentId: null`);
    /// publishes `okr.objective_aligned`. A parent aligned under the objective is refused:
    /// BAD_USER_INPUT with `extensions.reason` OBJECTIVE_CYCLE.
    #[graphql(requires_scopes = "okr:write")]
    async fn change_objective_alignment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objective and its new parent.")] input: ChangeObjectiveAlignmentInput,
    ) -> Result<Option<Objective>> {
        align(ctx, input.objective_id, input.parent_id).await
    }

    /// Adds a key result to an objective; publishes `okr.key_result_added`. CONFLICT with
    /// `extensions.reason` KEY_RESULT_LIMIT past 10.
    #[graphql(
        requires_scopes = "okr:write",
        deprecation = "use `createKeyResult` (one input)"
    )]
    async fn add_key_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objective.")] objective_id: ID,
        #[graphql(desc = "The key result.")] input: AddKeyResultInput,
    ) -> Result<Option<KeyResult>> {
        let input = CreateKeyResultInput {
            objective_id,
            title: input.title,
            start_value: input.start_value,
            target_value: input.target_value,
            unit: input.unit,
        };
        add_key_result(ctx, input).await
    }

    /// Adds a key result to an objective; publishes `okr.key_result_added`. CONFLICT with
    /// `extensions.reason` KEY_RESULT_LIMIT past 10.
    #[graphql(requires_scopes = "okr:write")]
    async fn create_key_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The objective and the key result.")] input: CreateKeyResultInput,
    ) -> Result<Option<KeyResult>> {
        add_key_result(ctx, input).await
    }

    /// Checks in a key result: its value now and how it is going; publishes `okr.checked_in`.
    #[graphql(
        requires_scopes = "okr:write",
        deprecation = "use `recordKeyResultCheckIn` (one input; answers the check-in too)"
    )]
    async fn check_in_key_result(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key result.")] key_result_id: ID,
        #[graphql(desc = "The value now, the status and a note.")] input: CheckInKeyResultInput,
    ) -> Result<Option<KeyResult>> {
        let input = RecordKeyResultCheckInInput {
            key_result_id,
            value: input.value,
            status: input.status,
            note: input.note,
        };
        Ok(record_check_in(ctx, input)
            .await?
            .map(|payload| payload.key_result))
    }

    /// Checks in a key result: its value now and how it is going; publishes `okr.checked_in`.
    /// Answers the key result with its new progress and the check-in recorded.
    #[graphql(requires_scopes = "okr:write")]
    async fn record_key_result_check_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key result, its value now, the status and a note.")]
        input: RecordKeyResultCheckInInput,
    ) -> Result<Option<RecordKeyResultCheckInPayload>> {
        record_check_in(ctx, input).await
    }
}

/// `alignObjective` and `changeObjectiveAlignment`.
async fn align(
    ctx: &Context<'_>,
    objective_id: ID,
    parent_id: Option<ID>,
) -> Result<Option<Objective>> {
    let viewer = viewer(ctx).await?;
    let model = ctx
        .use_cases::<UseCases>()?
        .align_objective(
            &viewer,
            &objective_id,
            parent_id.as_ref().map(|id| id.0.as_str()),
        )
        .await?;
    Ok(Some(Objective(model)))
}

/// `addKeyResult` and `createKeyResult`.
async fn add_key_result(
    ctx: &Context<'_>,
    input: CreateKeyResultInput,
) -> Result<Option<KeyResult>> {
    let title = parse_title("title", &input.title)?;
    check_measure(input.start_value, input.target_value)?;
    let unit = optional_text("unit", input.unit, 20)?;
    let viewer = viewer(ctx).await?;
    let new = NewKeyResult {
        title,
        start_value: input.start_value,
        target_value: input.target_value,
        unit,
    };
    let model = ctx
        .use_cases::<UseCases>()?
        .add_key_result(&viewer, &input.objective_id, new)
        .await?;
    Ok(Some(KeyResult(model)))
}

/// `checkInKeyResult` and `recordKeyResultCheckIn`.
async fn record_check_in(
    ctx: &Context<'_>,
    input: RecordKeyResultCheckInInput,
) -> Result<Option<RecordKeyResultCheckInPayload>> {
    if !input.value.is_finite() {
        return Err(ApiError::bad_input("value", "a value is a finite number").into());
    }
    let note = optional_text("note", input.note, 2000)?;
    let viewer = viewer(ctx).await?;
    let report = KeyResultCheckIn {
        value: input.value,
        status: input.status.map(Into::into),
        note,
        today: Utc::now().date_naive(),
    };
    let (updated, check_in) = ctx
        .use_cases::<UseCases>()?
        .check_in_key_result(&viewer, &input.key_result_id, report)
        .await?;
    Ok(Some(RecordKeyResultCheckInPayload {
        key_result: KeyResult(updated),
        check_in: OkrCheckIn(check_in),
    }))
}
