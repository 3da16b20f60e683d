//! Time entries: what stopped timers recorded, corrected by their owner while their weeks are
//! open, every correction audited.

use chrono::{DateTime, Utc};

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::timesheet::{
    check_billable, check_entry_owner, check_entry_times, check_entry_weeks_open,
    timesheet_changed, EntryTimes, IsoWeek,
};
use crate::events;
use crate::store::{
    Guarded, TimeEntryDoc, TimeEntryEditDoc, TimeEntryFilter, TimesheetDoc, WeekGuard,
};
use erp_kit::events::EventEnvelope;

/// A correction of a stopped time entry.
pub struct EntryCorrection {
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Unchanged when None.
    pub billable: Option<bool>,
}

impl Pmo {
    /// A page of time entries (one row more than the page when there are more).
    pub async fn time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TimeEntryDoc>> {
        self.store.list_time_entries(tenant, filter, page).await
    }

    /// Corrects one of the caller's stopped time entries: audited (who, when, before/after),
    /// refused while the week it leaves or joins is submitted or approved. Publishes
    /// `time_entry.edited`.
    pub async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        entry_id: &str,
        correction: EntryCorrection,
    ) -> ApiResult<TimeEntryDoc> {
        let entry = self
            .store
            .time_entry(tenant, entry_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("time entry".into()))?;
        check_entry_owner(&entry.user_id, &caller.sub)?;
        let now = Utc::now();
        let EntryCorrection {
            started_at,
            ended_at,
            billable,
        } = correction;
        let duration_seconds = check_entry_times(started_at, ended_at, now)?;
        let billable = billable.unwrap_or(entry.billable);
        if billable && !entry.billable {
            let project = self
                .project(tenant, &entry.project_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("project".into()))?;
            check_billable(project.billable)?;
        }
        // The weeks it leaves and joins, as read: both must be open, and the edit is written
        // only while neither changed.
        let mut weeks = vec![IsoWeek::of_time(entry.started_at)];
        let joined = IsoWeek::of_time(started_at);
        if !weeks.contains(&joined) {
            weeks.push(joined);
        }
        let keys: Vec<String> = weeks
            .iter()
            .map(|w| TimesheetDoc::key(tenant, &entry.user_id, *w))
            .collect();
        let stored = self.store.timesheets_by_ids(tenant, &keys).await?;
        let guards: Vec<WeekGuard> = weeks
            .iter()
            .zip(&keys)
            .map(|(week, key)| match stored.iter().find(|t| &t.id == key) {
                Some(timesheet) => WeekGuard {
                    timesheet: timesheet.clone(),
                    exists: true,
                },
                None => WeekGuard {
                    timesheet: TimesheetDoc::draft(tenant, &entry.user_id, *week),
                    exists: false,
                },
            })
            .collect();
        let states: Vec<_> = guards.iter().map(|g| g.timesheet.state).collect();
        check_entry_weeks_open(&states)?;
        let before = entry.times();
        let after = EntryTimes {
            started_at,
            ended_at,
            duration_seconds,
            billable,
        };
        let edited = TimeEntryDoc {
            started_at,
            ended_at,
            duration_seconds,
            billable,
            ..entry.clone()
        };
        let audit = TimeEntryEditDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            entry_id: entry.id.clone(),
            edited_by: caller.sub.clone(),
            edited_at: now,
            before: before.clone(),
            after: after.clone(),
        };
        let event = EventEnvelope::by_actor(
            tenant,
            events::TIME_ENTRY_EDITED,
            &entry.id,
            &caller.sub,
            events::TimeEntryEdited {
                time_entry_id: &entry.id,
                user_id: &entry.user_id,
                edited_by: &caller.sub,
                before: &before,
                after: &after,
            },
        )?;
        if let Guarded::Stale = self
            .store
            .edit_time_entry(tenant, &edited, &guards, &audit, &event)
            .await?
        {
            return Err(timesheet_changed());
        }
        self.wake();
        Ok(edited)
    }

    /// The audit records of the given entries' edits, oldest first.
    pub async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> ApiResult<Vec<TimeEntryEditDoc>> {
        self.store.edits_of_entries(tenant, entry_ids).await
    }
}
