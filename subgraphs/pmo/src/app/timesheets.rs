//! Timesheets: a person's ISO week of time entries, summed; submitted by its owner, then
//! approved or rejected by someone else. A week is written at the revision it was read at, so a
//! timer started or an entry edited meanwhile makes the decision collide instead of missing it.

use std::collections::HashMap;

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::Pmo;
use crate::domain::project::ProjectRole;
use crate::domain::timer::check_no_timer_in;
use crate::domain::timesheet::{
    check_can_decide, check_can_decide_as, check_can_see, check_can_submit, hours, summarize,
    timesheet_changed, IsoWeek, TimesheetState, WeekSummary, Worked,
};
use crate::events;
use crate::store::{Guarded, ProjectHours, TimeEntryDoc, TimesheetDoc, TimesheetFilter};
use erp_kit::events::EventEnvelope;

/// A person's week: their timesheet (a draft when untouched), its entries and their sums.
#[derive(Debug, Clone)]
pub struct WeekView {
    pub week: IsoWeek,
    pub timesheet: TimesheetDoc,
    /// Whether the timesheet is stored (touched or submitted) or an implicit draft.
    pub exists: bool,
    pub entries: Vec<TimeEntryDoc>,
    pub summary: WeekSummary,
}

/// A week from its stored timesheet (None: an implicit draft) and its entries.
fn view_of(
    tenant: &TenantId,
    user_id: &str,
    week: IsoWeek,
    stored: Option<TimesheetDoc>,
    entries: Vec<TimeEntryDoc>,
) -> WeekView {
    let worked: Vec<Worked> = entries
        .iter()
        .map(|e| Worked {
            started_at: e.started_at,
            project_id: e.project_id.clone(),
            billable: e.billable,
            seconds: e.duration_seconds,
        })
        .collect();
    WeekView {
        week,
        exists: stored.is_some(),
        timesheet: stored.unwrap_or_else(|| TimesheetDoc::draft(tenant, user_id, week)),
        summary: summarize(week, &worked),
        entries,
    }
}

fn project_payloads(projects: &[ProjectHours]) -> Vec<events::ProjectHoursPayload<'_>> {
    projects
        .iter()
        .map(|p| events::ProjectHoursPayload {
            project_id: &p.project_id,
            billable_hours: hours(p.billable_seconds),
            non_billable_hours: hours(p.non_billable_seconds),
            billable_seconds: p.billable_seconds,
            non_billable_seconds: p.non_billable_seconds,
        })
        .collect()
}

/// The event of a timesheet's submission or decision.
fn decided_event(
    tenant: &TenantId,
    kind: &str,
    actor: &str,
    timesheet: &TimesheetDoc,
) -> ApiResult<erp_kit::events::EventEnvelope> {
    EventEnvelope::by_actor(
        tenant,
        kind,
        &timesheet.id,
        actor,
        events::TimesheetDecided {
            timesheet_id: &timesheet.id,
            user_id: &timesheet.user_id,
            week: &timesheet.week,
            decided_by: timesheet.decided_by.as_deref(),
            rejection_reason: timesheet.rejection_reason.as_deref(),
            time_entry_ids: &timesheet.entry_ids,
            projects: project_payloads(&timesheet.projects),
        },
    )
}

impl Pmo {
    /// A person's week as it stands.
    pub async fn week_view(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> ApiResult<WeekView> {
        let key = TimesheetDoc::key(tenant, user_id, week);
        let stored = self
            .store
            .timesheets_by_ids(tenant, std::slice::from_ref(&key))
            .await?
            .pop();
        let entries = self.store.week_entries(tenant, user_id, week).await?;
        Ok(view_of(tenant, user_id, week, stored, entries))
    }

    /// A page of stored timesheets as weeks (one row more than the page when there are more),
    /// with one store call for all their entries.
    pub async fn timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<WeekView>> {
        let timesheets = self.store.list_timesheets(tenant, filter, page).await?;
        let mut weeks = Vec::with_capacity(timesheets.len());
        for timesheet in &timesheets {
            weeks.push((
                timesheet.user_id.clone(),
                IsoWeek::parse("week", &timesheet.week)?,
            ));
        }
        let mut by_week: HashMap<(String, IsoWeek), Vec<TimeEntryDoc>> = HashMap::new();
        for entry in self.store.entries_of_weeks(tenant, &weeks).await? {
            let week = IsoWeek::of_time(entry.started_at);
            by_week
                .entry((entry.user_id.clone(), week))
                .or_default()
                .push(entry);
        }
        Ok(timesheets
            .into_iter()
            .zip(weeks)
            .map(|(timesheet, (user_id, week))| {
                let key = (user_id, week);
                let entries = by_week.remove(&key).unwrap_or_default();
                view_of(tenant, &key.0, week, Some(timesheet), entries)
            })
            .collect())
    }

    /// Whether the caller manages (owner or manager) every project of the given ids.
    async fn manages_all(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_ids: &[String],
    ) -> ApiResult<bool> {
        if project_ids.is_empty() {
            return Ok(false);
        }
        let projects = self.store.projects_by_ids(tenant, project_ids).await?;
        Ok(projects.len() == project_ids.len()
            && projects
                .iter()
                .all(|p| p.role_of(&caller.sub).is_some_and(ProjectRole::can_manage)))
    }

    /// Someone's week, for themselves, a `timesheet:approve` holder, or the manager of every
    /// project in it (FORBIDDEN otherwise).
    pub async fn timesheet_for(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        can_approve: bool,
        user_id: &str,
        week: IsoWeek,
    ) -> ApiResult<WeekView> {
        let view = self.week_view(tenant, user_id, week).await?;
        let own = user_id == caller.sub;
        if !own && !can_approve {
            let projects: Vec<String> = view
                .summary
                .projects
                .iter()
                .map(|(p, _)| p.clone())
                .collect();
            let manages = self.manages_all(tenant, caller, &projects).await?;
            check_can_see(own, can_approve, manages)?;
        }
        Ok(view)
    }

    /// Submits the caller's week: its entries are locked until it is rejected.
    /// Publishes `timesheet.submitted`.
    pub async fn submit_timesheet(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        week: IsoWeek,
    ) -> ApiResult<WeekView> {
        let view = self.week_view(tenant, &caller.sub, week).await?;
        check_can_submit(view.timesheet.state, view.summary.total.total_seconds())?;
        // Read after the week: a timer started since has touched the week, so the write below
        // collides with it (see domain::timer).
        check_no_timer_in(week, self.timers.get(tenant, &caller.sub).await?.as_ref())?;
        let submitted = TimesheetDoc {
            state: TimesheetState::Submitted,
            rev: view.timesheet.rev + 1,
            submitted_at: Some(Utc::now()),
            entry_ids: view.entries.iter().map(|e| e.id.clone()).collect(),
            projects: view
                .summary
                .projects
                .iter()
                .map(|(project_id, split)| ProjectHours {
                    project_id: project_id.clone(),
                    billable_seconds: split.billable_seconds,
                    non_billable_seconds: split.non_billable_seconds,
                })
                .collect(),
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
            ..view.timesheet.clone()
        };
        let event = decided_event(tenant, events::TIMESHEET_SUBMITTED, &caller.sub, &submitted)?;
        let expected = view.exists.then_some(view.timesheet.rev);
        if let Guarded::Stale = self
            .store
            .save_timesheet(tenant, &submitted, expected, Some(&event))
            .await?
        {
            return Err(timesheet_changed());
        }
        self.wake();
        Ok(WeekView {
            timesheet: submitted,
            exists: true,
            ..view
        })
    }

    /// Approves (`rejection` None) or rejects a submitted week: a `timesheet:approve` holder or
    /// the manager of every project in it, never its owner; an approval waits for the owner's
    /// timer that started in the week. Publishes `timesheet.approved` (billable hours per
    /// project) or `timesheet.rejected`.
    pub async fn decide_timesheet(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        can_approve: bool,
        user_id: &str,
        week: IsoWeek,
        rejection: Option<String>,
    ) -> ApiResult<WeekView> {
        let view = self.week_view(tenant, user_id, week).await?;
        check_can_decide(view.timesheet.state, user_id, &caller.sub)?;
        if !can_approve {
            let projects: Vec<String> = view
                .timesheet
                .projects
                .iter()
                .map(|p| p.project_id.clone())
                .collect();
            let manages = self.manages_all(tenant, caller, &projects).await?;
            check_can_decide_as(can_approve, manages)?;
        }
        if rejection.is_none() {
            check_no_timer_in(week, self.timers.get(tenant, user_id).await?.as_ref())?;
        }
        let (state, kind) = match rejection {
            None => (TimesheetState::Approved, events::TIMESHEET_APPROVED),
            Some(_) => (TimesheetState::Rejected, events::TIMESHEET_REJECTED),
        };
        let decided = TimesheetDoc {
            state,
            rev: view.timesheet.rev + 1,
            decided_by: Some(caller.sub.clone()),
            decided_at: Some(Utc::now()),
            rejection_reason: rejection,
            ..view.timesheet.clone()
        };
        let event = decided_event(tenant, kind, &caller.sub, &decided)?;
        if let Guarded::Stale = self
            .store
            .save_timesheet(tenant, &decided, Some(view.timesheet.rev), Some(&event))
            .await?
        {
            return Err(timesheet_changed());
        }
        self.wake();
        Ok(WeekView {
            timesheet: decided,
            exists: true,
            ..view
        })
    }
}
