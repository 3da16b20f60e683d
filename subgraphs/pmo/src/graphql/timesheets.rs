//! Time entries and timesheets in GraphQL: stopped timers' entries and their audited edits, a
//! person's ISO week, submit / approve / reject.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::RequestContext;

use super::context::pmo;
use super::loaders::EntryEditsLoader;
use super::objects::{load_project, load_task, Project, Task};
use crate::app::time_entries::EntryCorrection;
use crate::app::timesheets::WeekView;
use crate::domain::timesheet::{
    hours, parse_rejection, EntryTimes, IsoWeek, Split, TimesheetState as TimesheetStateModel,
};
use crate::store::{TimeEntryDoc, TimeEntryEditDoc, TimeEntryFilter, TimesheetFilter};

/// The scope that approves anyone's timesheet (project managers approve the weeks of their
/// projects without it).
pub const APPROVE_SCOPE: &str = "timesheet:approve";

/// Time spent on a task, from a stopped timer.
pub struct TimeEntry(pub TimeEntryDoc);

#[Object(requires_scopes = "task:log", requires_scopes = "timesheet:approve")]
impl TimeEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn user_id(&self) -> ID {
        ID(self.0.user_id.clone())
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn ended_at(&self) -> DateTime<Utc> {
        self.0.ended_at
    }

    async fn duration_seconds(&self) -> i64 {
        self.0.duration_seconds
    }

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

    async fn task(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        load_task(ctx, &self.0.task_id).await
    }
}

/// Filters of a time-entry list.
#[derive(InputObject, Default)]
pub struct TimeEntryFilterInput {
    /// Whose entries (the caller by default; others need `timesheet:approve`).
    pub user_id: Option<ID>,
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
    pub date: NaiveDate,
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
            date,
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

    /// The ISO week, e.g. 2026-W02.
    async fn week(&self) -> String {
        self.0.week.to_string()
    }

    /// Where it is.
    async fn state(&self) -> TimesheetState {
        self.0.timesheet.state.into()
    }

    /// When it was (last) submitted.
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.timesheet.submitted_at
    }

    /// Who approved or rejected it.
    async fn decided_by(&self) -> Option<ID> {
        self.0.timesheet.decided_by.clone().map(ID)
    }

    /// When it was approved or rejected.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.timesheet.decided_at
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
    pub started_at: DateTime<Utc>,
    /// End.
    pub ended_at: DateTime<Utc>,
    /// Seconds.
    pub duration_seconds: i64,
    /// Billed to the client.
    pub billable: bool,
}

impl From<&EntryTimes> for TimeEntryTimes {
    fn from(times: &EntryTimes) -> Self {
        Self {
            started_at: times.started_at,
            ended_at: times.ended_at,
            duration_seconds: times.duration_seconds,
            billable: times.billable,
        }
    }
}

/// The audit record of an edit of a stopped time entry.
pub struct TimeEntryEdit(pub TimeEntryEditDoc);

#[Object]
impl TimeEntryEdit {
    /// Who edited it.
    async fn edited_by(&self) -> ID {
        ID(self.0.edited_by.clone())
    }

    /// When.
    async fn edited_at(&self) -> DateTime<Utc> {
        self.0.edited_at
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

/// A correction of a stopped time entry.
#[derive(InputObject)]
pub struct EditTimeEntryInput {
    /// New start.
    pub started_at: DateTime<Utc>,
    /// New end: after the start, at most 24 hours later, not in the future.
    pub ended_at: DateTime<Utc>,
    /// Billed to the client (only on a billable project); unchanged when left out.
    pub billable: Option<bool>,
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
        filter: Option<TimeEntryFilterInput>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
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
        let rows = pmo(ctx)?.time_entries(&tenant, &filter, &page).await?;
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
        week: String,
        user_id: Option<ID>,
    ) -> Result<Option<Timesheet>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let week = week_of(&week)?;
        let user = user_id.map_or_else(|| claims.sub.clone(), |id| id.0);
        let can_approve = ctx.identity().has_scope(APPROVE_SCOPE);
        Ok(Some(Timesheet(
            pmo(ctx)?
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
        filter: Option<TimesheetFilterInput>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
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
        let views = pmo(ctx)?
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
    #[graphql(requires_scopes = "task:log")]
    async fn submit_timesheet(&self, ctx: &Context<'_>, week: String) -> Result<Option<Timesheet>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let week = week_of(&week)?;
        Ok(Some(Timesheet(
            pmo(ctx)?.submit_timesheet(&tenant, claims, week).await?,
        )))
    }

    /// Approves a submitted week: a `timesheet:approve` holder or the manager of every project
    /// in it, never its owner (FORBIDDEN, reason SELF_APPROVAL); CONFLICT, reason TIMER_RUNNING,
    /// while the owner's timer that started in the week runs (reject it so the timer can be
    /// stopped into it). Publishes `timesheet.approved` with the billable hours per project.
    #[graphql(
        requires_scopes = "timesheet:approve",
        requires_scopes = "project:write"
    )]
    async fn approve_timesheet(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        week: String,
    ) -> Result<Option<Timesheet>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let week = week_of(&week)?;
        let can_approve = ctx.identity().has_scope(APPROVE_SCOPE);
        Ok(Some(Timesheet(
            pmo(ctx)?
                .decide_timesheet(&tenant, claims, can_approve, &user_id, week, None)
                .await?,
        )))
    }

    /// Sends a submitted week back with a reason (1 to 1000 characters); its entries can be
    /// edited again. Same deciders as approval. Publishes `timesheet.rejected`.
    #[graphql(
        requires_scopes = "timesheet:approve",
        requires_scopes = "project:write"
    )]
    async fn reject_timesheet(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        week: String,
        reason: String,
    ) -> Result<Option<Timesheet>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let week = week_of(&week)?;
        let reason = parse_rejection(&reason)?;
        let can_approve = ctx.identity().has_scope(APPROVE_SCOPE);
        Ok(Some(Timesheet(
            pmo(ctx)?
                .decide_timesheet(&tenant, claims, can_approve, &user_id, week, Some(reason))
                .await?,
        )))
    }

    /// Corrects one of the caller's stopped time entries; the edit is audited (who, when,
    /// before/after) and refused (CONFLICT, reason TIMESHEET_LOCKED) while its week is submitted
    /// or approved. Publishes `time_entry.edited`.
    #[graphql(requires_scopes = "task:log")]
    async fn edit_time_entry(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: EditTimeEntryInput,
    ) -> Result<Option<TimeEntry>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Some(TimeEntry(
            pmo(ctx)?
                .edit_time_entry(
                    &tenant,
                    claims,
                    &id,
                    EntryCorrection {
                        started_at: input.started_at,
                        ended_at: input.ended_at,
                        billable: input.billable,
                    },
                )
                .await?,
        )))
    }
}
