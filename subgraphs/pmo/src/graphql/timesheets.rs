//! Time entries and timesheets in GraphQL: stopped timers' entries and their audited edits, a
//! person's ISO week, submit / approve / reject.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::NaiveDate;

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{ApprovalDecision, Date, DateTime, IsoWeek as Week};
use erp_kit::{ApiError, RequestContext};

use super::context::User;
use super::loaders::EntryEditsLoader;
use super::objects::{load_project, load_task, Project, Task};
use crate::app::time_entries::EntryCorrection;
use crate::app::timesheets::WeekView;
use crate::app::Pmo;
use crate::domain::timesheet::{
    hours, parse_rejection, EntryTimes, IsoWeek, Split, TimesheetState as TimesheetStateModel,
};
use crate::store::{TimeEntryDoc, TimeEntryEditDoc, TimeEntryFilter, TimesheetFilter};

/// The scope that approves anyone's timesheet (project managers approve the weeks of their
/// projects without it).
pub const APPROVE_SCOPE: &str = "timesheet:approve";

/// Time spent on a task, from a stopped timer.
pub struct TimeEntry(pub TimeEntryDoc);

/// Time spent on a task: a stopped timer, counted in the timesheet of the week it started in.
#[Object(requires_scopes = "task:log", requires_scopes = "timesheet:approve")]
impl TimeEntry {
    /// Stable id (the timer's).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Whose time (their user id).
    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    /// Whose time (resolved by the identity subgraph).
    async fn user(&self) -> User {
        User::of(&self.0.user_id)
    }

    /// When it started.
    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }

    /// When it ended.
    async fn ended_at(&self) -> DateTime {
        self.0.ended_at.into()
    }

    /// Seconds counted (paused time excluded).
    async fn duration_seconds(&self) -> i64 {
        self.0.duration_seconds
    }

    /// Whether it is billed to the client.
    async fn billable(&self) -> bool {
        self.0.billable
    }

    /// The edits made to this entry after it was stopped, oldest first (the audit trail).
    async fn edits(&self, ctx: &Context<'_>) -> Result<Vec<TimeEntryEdit>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<EntryEditsLoader>>()
            .load_one(TenantKey::new(&tenant, &self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(TimeEntryEdit)
            .collect())
    }

    /// The task the time was spent on.
    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        load_task(ctx, &self.0.task_id).await
    }
}

/// Filters of a time-entry list.
#[derive(InputObject, Default)]
pub struct TimeEntryFilterInput {
    /// Whose entries (the caller by default; others need `timesheet:approve`).
    pub user_id: Option<ID>,
    /// Only entries of this project.
    pub project_id: Option<ID>,
}

/// Where a timesheet is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "TimesheetStateModel")]
pub enum TimesheetState {
    /// Open: entries may be edited.
    Draft,
    /// Waiting for a decision: its entries are locked.
    Submitted,
    /// Approved: locked for good.
    Approved,
    /// Sent back: entries may be edited and the week submitted again.
    Rejected,
}

/// One day of a timesheet (UTC).
#[derive(SimpleObject)]
pub struct TimesheetDay {
    /// The day.
    pub date: Date,
    /// Billable hours, two decimals.
    pub billable_hours: f64,
    /// Non-billable hours, two decimals.
    pub non_billable_hours: f64,
    /// Billable seconds (exact).
    pub billable_seconds: i64,
    /// Non-billable seconds (exact).
    pub non_billable_seconds: i64,
}

impl TimesheetDay {
    fn new(date: NaiveDate, split: Split) -> Self {
        Self {
            date: date.into(),
            billable_hours: hours(split.billable_seconds),
            non_billable_hours: hours(split.non_billable_seconds),
            billable_seconds: split.billable_seconds,
            non_billable_seconds: split.non_billable_seconds,
        }
    }
}

/// One project's hours in a timesheet.
pub struct TimesheetProject {
    project_id: String,
    split: Split,
}

/// One project's hours in a timesheet.
#[Object]
impl TimesheetProject {
    /// The project's id.
    async fn project_id(&self) -> ID {
        ID(self.project_id.clone())
    }

    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        load_project(ctx, &self.project_id).await
    }

    /// Billable hours, two decimals.
    async fn billable_hours(&self) -> f64 {
        hours(self.split.billable_seconds)
    }

    /// Non-billable hours, two decimals.
    async fn non_billable_hours(&self) -> f64 {
        hours(self.split.non_billable_seconds)
    }

    /// Billable seconds (exact).
    async fn billable_seconds(&self) -> i64 {
        self.split.billable_seconds
    }

    /// Non-billable seconds (exact).
    async fn non_billable_seconds(&self) -> i64 {
        self.split.non_billable_seconds
    }
}

/// A person's ISO week (Monday to Sunday, UTC) from their time entries, each counted on the day
/// it started.
pub struct Timesheet(pub WeekView);

/// A person's ISO week (Monday to Sunday, UTC) from their time entries, each counted on the day
/// it started: draft, submitted, approved or rejected.
#[Object(
    requires_scopes = "task:log",
    requires_scopes = "timesheet:approve",
    requires_scopes = "project:write"
)]
impl Timesheet {
    /// `{tenant}:{user}:{week}`.
    async fn id(&self) -> ID {
        ID(self.0.timesheet.id.clone())
    }

    /// Whose week.
    async fn user_id(&self) -> ID {
        ID(self.0.timesheet.user_id.clone())
    }

    /// Whose week (resolved by the identity subgraph).
    async fn user(&self) -> User {
        User::of(&self.0.timesheet.user_id)
    }

    /// The ISO week, e.g. 2026-W02.
    async fn week(&self) -> Week {
        Week::of(self.0.week.monday())
    }

    /// Where it is.
    async fn state(&self) -> TimesheetState {
        self.0.timesheet.state.into()
    }

    /// When it was (last) submitted.
    async fn submitted_at(&self) -> Option<DateTime> {
        self.0.timesheet.submitted_at.map(DateTime::from)
    }

    /// Who approved or rejected it (their user id).
    async fn decided_by(&self) -> Option<ID> {
        self.0.timesheet.decided_by.clone().map(ID)
    }

    /// Who approved or rejected it (resolved by the identity subgraph).
    async fn decider(&self) -> Option<User> {
        self.0.timesheet.decided_by.as_deref().map(User::of)
    }

    /// When it was approved or rejected.
    async fn decided_at(&self) -> Option<DateTime> {
        self.0.timesheet.decided_at.map(DateTime::from)
    }

    /// Why it was rejected.
    async fn rejection_reason(&self) -> Option<&str> {
        self.0.timesheet.rejection_reason.as_deref()
    }

    /// Monday to Sunday.
    async fn days(&self) -> Vec<TimesheetDay> {
        self.0
            .summary
            .days
            .iter()
            .map(|(date, split)| TimesheetDay::new(*date, *split))
            .collect()
    }

    /// Per project.
    async fn projects(&self) -> Vec<TimesheetProject> {
        self.0
            .summary
            .projects
            .iter()
            .map(|(project_id, split)| TimesheetProject {
                project_id: project_id.clone(),
                split: *split,
            })
            .collect()
    }

    /// Billable hours of the week, two decimals.
    async fn billable_hours(&self) -> f64 {
        hours(self.0.summary.total.billable_seconds)
    }

    /// Non-billable hours of the week, two decimals.
    async fn non_billable_hours(&self) -> f64 {
        hours(self.0.summary.total.non_billable_seconds)
    }

    /// All hours of the week, two decimals.
    async fn total_hours(&self) -> f64 {
        hours(self.0.summary.total.total_seconds())
    }

    /// The week's time entries, by start time.
    async fn entries(&self) -> Vec<TimeEntry> {
        self.0.entries.iter().cloned().map(TimeEntry).collect()
    }
}

/// A time entry's times, before or after an edit.
#[derive(SimpleObject)]
pub struct TimeEntryTimes {
    /// Start.
    pub started_at: DateTime,
    /// End.
    pub ended_at: DateTime,
    /// Seconds.
    pub duration_seconds: i64,
    /// Billed to the client.
    pub billable: bool,
}

impl From<&EntryTimes> for TimeEntryTimes {
    fn from(times: &EntryTimes) -> Self {
        Self {
            started_at: times.started_at.into(),
            ended_at: times.ended_at.into(),
            duration_seconds: times.duration_seconds,
            billable: times.billable,
        }
    }
}

/// The audit record of an edit of a stopped time entry.
pub struct TimeEntryEdit(pub TimeEntryEditDoc);

/// The audit record of an edit of a stopped time entry: who, when, before and after.
#[Object]
impl TimeEntryEdit {
    /// Who edited it (their user id).
    async fn edited_by(&self) -> ID {
        ID(self.0.edited_by.clone())
    }

    /// Who edited it (resolved by the identity subgraph).
    async fn editor(&self) -> User {
        User::of(&self.0.edited_by)
    }

    /// When.
    async fn edited_at(&self) -> DateTime {
        self.0.edited_at.into()
    }

    /// The entry before the edit.
    async fn before(&self) -> TimeEntryTimes {
        (&self.0.before).into()
    }

    /// The entry after the edit.
    async fn after(&self) -> TimeEntryTimes {
        (&self.0.after).into()
    }
}

/// A correction of a stopped time entry (the deprecated `editTimeEntry`'s).
#[derive(InputObject)]
pub struct EditTimeEntryInput {
    /// New start.
    pub started_at: DateTime,
    /// New end: after the start, at most 24 hours later, not in the future.
    pub ended_at: DateTime,
    /// Billed to the client (only on a billable project); unchanged when left out.
    pub billable: Option<bool>,
}

/// A correction of one of the caller's stopped time entries (`updateTimeEntry`).
#[derive(InputObject)]
pub struct UpdateTimeEntryInput {
    /// The time entry.
    pub time_entry_id: ID,
    /// New start.
    pub started_at: DateTime,
    /// New end: after the start, at most 24 hours later, not in the future.
    pub ended_at: DateTime,
    /// Billed to the client (only on a billable project); unchanged when left out.
    pub billable: Option<bool>,
}

/// The caller's week to submit (`submitTimesheetWeek`).
#[derive(InputObject)]
pub struct SubmitTimesheetWeekInput {
    /// The ISO week, e.g. `2026-W02`.
    pub week: Week,
}

/// The decision on a submitted week (`decideTimesheet`).
#[derive(InputObject)]
pub struct DecideTimesheetInput {
    /// Whose week.
    pub user_id: ID,
    /// The ISO week, e.g. `2026-W02`.
    pub week: Week,
    /// Approve or reject it.
    pub decision: ApprovalDecision,
    /// Why it is sent back (1 to 1000 characters): required to reject, not with an approval.
    pub reason: Option<String>,
}

/// Filters of the timesheet list (combined with AND).
#[derive(InputObject, Default)]
pub struct TimesheetFilterInput {
    /// Only timesheets in this state (`SUBMITTED`: the approval queue).
    pub state: Option<TimesheetState>,
    /// Only this person's (the caller's own need no `timesheet:approve`).
    pub user_id: Option<ID>,
}

fn week_of(raw: &str) -> Result<IsoWeek> {
    Ok(IsoWeek::parse("week", raw)?)
}

/// The domain's week of the API's (both ISO 8601, so the text always parses).
fn domain_week(week: Week) -> Result<IsoWeek> {
    week_of(&week.to_string())
}

/// Time entries and timesheets.
#[derive(Default)]
pub struct TimesheetQuery;

#[Object]
impl TimesheetQuery {
    /// Time entries of a person (the caller by default; others need `timesheet:approve`).
    #[graphql(directive = authenticated::apply())]
    async fn time_entries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose entries and of which project.")] filter: Option<
            TimeEntryFilterInput,
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
    ) -> Result<Option<Connection<String, TimeEntry, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let filter = filter.unwrap_or_default();
        let user_id = filter
            .user_id
            .map(|id| id.0)
            .unwrap_or_else(|| claims.sub.clone());
        if user_id != claims.sub {
            ctx.require_scope("timesheet:approve")?;
        }
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = TimeEntryFilter {
            user_id: Some(user_id),
            project_id: filter.project_id.map(|id| id.0),
        };
        let rows = ctx
            .use_cases::<Pmo>()?
            .time_entries(&tenant, &filter, &page)
            .await?;
        let rows = rows.into_iter().map(TimeEntry).collect();
        Ok(Some(connection_from_rows(&page, rows, |e| e.0.id.clone())))
    }

    /// A person's week (the caller's by default). Someone else's needs `timesheet:approve` or
    /// managing every project in it (FORBIDDEN otherwise).
    #[graphql(
        requires_scopes = "task:log",
        requires_scopes = "timesheet:approve",
        requires_scopes = "project:write"
    )]
    async fn timesheet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ISO week, e.g. `2026-W02`.")] week: Week,
        #[graphql(desc = "Whose week; the caller's when omitted.")] user_id: Option<ID>,
    ) -> Result<Option<Timesheet>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let week = domain_week(week)?;
        let user = user_id.map_or_else(|| claims.sub.clone(), |id| id.0);
        let can_approve = ctx.identity().has_scope(APPROVE_SCOPE);
        Ok(Some(Timesheet(
            ctx.use_cases::<Pmo>()?
                .timesheet_for(&tenant, claims, can_approve, &user, week)
                .await?,
        )))
    }

    /// Stored timesheets (weeks with time tracked by a timer, an edit, or a submission),
    /// filtered, as a Relay connection: the caller's own, or anyone's with `timesheet:approve` (the approval queue is
    /// `state: SUBMITTED`).
    #[graphql(requires_scopes = "task:log", requires_scopes = "timesheet:approve")]
    async fn timesheets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the timesheets matching every filter given.")] filter: Option<
            TimesheetFilterInput,
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
    ) -> Result<Option<Connection<String, Timesheet, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let TimesheetFilterInput { state, user_id } = filter.unwrap_or_default();
        if user_id.as_ref().is_none_or(|u| u.as_str() != claims.sub) {
            ctx.require_scope(APPROVE_SCOPE)?;
        }
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = TimesheetFilter {
            user_id: user_id.map(|id| id.0),
            state: state.map(Into::into),
        };
        let views = ctx
            .use_cases::<Pmo>()?
            .timesheets(&tenant, &filter, &page)
            .await?
            .into_iter()
            .map(Timesheet)
            .collect();
        Ok(Some(connection_from_rows(&page, views, |t| {
            t.0.timesheet.id.clone()
        })))
    }
}

/// Changes to timesheets and time entries.
#[derive(Default)]
pub struct TimesheetMutation;

#[Object]
impl TimesheetMutation {
    /// Submits the caller's week (CONFLICT, reason TIMESHEET_STATE, when already submitted or
    /// approved, or empty; reason TIMER_RUNNING while their timer that started in the week runs
    /// or is paused); its entries are locked, and no timer starts in it, until it is rejected.
    /// Publishes `timesheet.submitted`.
    #[graphql(
        requires_scopes = "task:log",
        deprecation = "use `submitTimesheetWeek` (one input)"
    )]
    async fn submit_timesheet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ISO week, e.g. `2026-W02`.")] week: String,
    ) -> Result<Option<Timesheet>> {
        submit(ctx, week_of(&week)?).await
    }

    /// Submits the caller's week (CONFLICT, reason TIMESHEET_STATE, when already submitted or
    /// approved, or empty; reason TIMER_RUNNING while their timer that started in the week runs
    /// or is paused); its entries are locked, and no timer starts in it, until it is rejected.
    /// Publishes `timesheet.submitted`.
    #[graphql(requires_scopes = "task:log")]
    async fn submit_timesheet_week(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The week.")] input: SubmitTimesheetWeekInput,
    ) -> Result<Option<Timesheet>> {
        submit(ctx, domain_week(input.week)?).await
    }

    /// Approves a submitted week: a `timesheet:approve` holder or the manager of every project
    /// in it, never its owner (FORBIDDEN, reason SELF_APPROVAL); CONFLICT, reason TIMER_RUNNING,
    /// while the owner's timer that started in the week runs (reject it so the timer can be
    /// stopped into it). Publishes `timesheet.approved` with the billable hours per project.
    #[graphql(
        requires_scopes = "timesheet:approve",
        requires_scopes = "project:write",
        deprecation = "use `decideTimesheet` with `decision: APPROVE`"
    )]
    async fn approve_timesheet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose week.")] user_id: ID,
        #[graphql(desc = "The ISO week, e.g. `2026-W02`.")] week: String,
    ) -> Result<Option<Timesheet>> {
        decide(ctx, &user_id, week_of(&week)?, None).await
    }

    /// Sends a submitted week back with a reason (1 to 1000 characters); its entries can be
    /// edited again. Same deciders as approval. Publishes `timesheet.rejected`.
    #[graphql(
        requires_scopes = "timesheet:approve",
        requires_scopes = "project:write",
        deprecation = "use `decideTimesheet` with `decision: REJECT`"
    )]
    async fn reject_timesheet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose week.")] user_id: ID,
        #[graphql(desc = "The ISO week, e.g. `2026-W02`.")] week: String,
        #[graphql(desc = "Why (1 to 1000 characters).")] reason: String,
    ) -> Result<Option<Timesheet>> {
        let reason = parse_rejection(&reason)?;
        decide(ctx, &user_id, week_of(&week)?, Some(reason)).await
    }

    /// Approves a submitted week (publishes `timesheet.approved` with the billable hours per
    /// project) or sends it back with a reason, after which its entries can be edited again
    /// (publishes `timesheet.rejected`). A `timesheet:approve` holder or the manager of every
    /// project in it decides, never its owner (FORBIDDEN, reason SELF_APPROVAL); approving is
    /// CONFLICT, reason TIMER_RUNNING, while the owner's timer that started in the week runs.
    #[graphql(
        requires_scopes = "timesheet:approve",
        requires_scopes = "project:write"
    )]
    async fn decide_timesheet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The week, whose it is, and the decision.")] input: DecideTimesheetInput,
    ) -> Result<Option<Timesheet>> {
        let week = domain_week(input.week)?;
        let reason = match (input.decision, input.reason.as_deref()) {
            (ApprovalDecision::Approve, None) => None,
            (ApprovalDecision::Approve, Some(_)) => {
                return Err(ApiError::bad_input("reason", "an approval gives no reason").into())
            }
            (ApprovalDecision::Reject, Some(reason)) => Some(parse_rejection(reason)?),
            (ApprovalDecision::Reject, None) => {
                return Err(
                    ApiError::bad_input("reason", "a rejection says why: give a reason").into(),
                )
            }
        };
        decide(ctx, &input.user_id, week, reason).await
    }

    /// Corrects one of the caller's stopped time entries; the edit is audited (who, when,
    /// before/after) and refused (CONFLICT, reason TIMESHEET_LOCKED) while its week is submitted
    /// or approved. Publishes `time_entry.edited`.
    #[graphql(
        requires_scopes = "task:log",
        deprecation = "use `updateTimeEntry` (one input)"
    )]
    async fn edit_time_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The time entry.")] id: ID,
        #[graphql(desc = "The new times.")] input: EditTimeEntryInput,
    ) -> Result<Option<TimeEntry>> {
        let input = UpdateTimeEntryInput {
            time_entry_id: id,
            started_at: input.started_at,
            ended_at: input.ended_at,
            billable: input.billable,
        };
        update_entry(ctx, input).await
    }

    /// Corrects one of the caller's stopped time entries; the edit is audited (who, when,
    /// before/after) and refused (CONFLICT, reason TIMESHEET_LOCKED) while its week is submitted
    /// or approved. Publishes `time_entry.edited`.
    #[graphql(requires_scopes = "task:log")]
    async fn update_time_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The time entry and its new times.")] input: UpdateTimeEntryInput,
    ) -> Result<Option<TimeEntry>> {
        update_entry(ctx, input).await
    }
}

/// `submitTimesheet` and `submitTimesheetWeek`.
async fn submit(ctx: &Context<'_>, week: IsoWeek) -> Result<Option<Timesheet>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(Timesheet(
        ctx.use_cases::<Pmo>()?
            .submit_timesheet(&tenant, claims, week)
            .await?,
    )))
}

/// `approveTimesheet`, `rejectTimesheet` and `decideTimesheet`: a rejection has its reason.
async fn decide(
    ctx: &Context<'_>,
    user_id: &str,
    week: IsoWeek,
    rejection: Option<String>,
) -> Result<Option<Timesheet>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let can_approve = ctx.identity().has_scope(APPROVE_SCOPE);
    Ok(Some(Timesheet(
        ctx.use_cases::<Pmo>()?
            .decide_timesheet(&tenant, claims, can_approve, user_id, week, rejection)
            .await?,
    )))
}

/// `editTimeEntry` and `updateTimeEntry`.
async fn update_entry(ctx: &Context<'_>, input: UpdateTimeEntryInput) -> Result<Option<TimeEntry>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Some(TimeEntry(
        ctx.use_cases::<Pmo>()?
            .edit_time_entry(
                &tenant,
                claims,
                &input.time_entry_id,
                EntryCorrection {
                    started_at: input.started_at.into(),
                    ended_at: input.ended_at.into(),
                    billable: input.billable,
                },
            )
            .await?,
    )))
}
