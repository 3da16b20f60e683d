//! The embedded store's time-entry rollups: per tenant, the seconds and the count of its
//! current time entries grouped by (local day, person, login, project, billable) and by
//! (local month, person, login, project, billable), maintained at each insert from the
//! deduplicated facts, so the reports that read time entries (hours logged, billable hours,
//! capacity and utilization, profitability's hours) group a few thousand rows instead of
//! deduplicating and placing every fact on the calendar at query time.
//!
//! Deduplication is the store's (what the dedupe-on-read SQL keeps): per (tenant, entity) the
//! fact with the highest (version, event id) wins. A fact that wins subtracts the contribution
//! of the one it replaces (a restatement moves its seconds from the old group to the new one);
//! one that does not (a replay of the same fact, an older version arriving late) changes
//! nothing. Each entry's current version is kept (its group, its seconds, its instant) for that.
//!
//! Days are the tenant's local days ([`Calendar::local_date`] of the entry's instant, the same
//! arithmetic the SQL does): the rollup is built on the tenant's time zone, and setting another
//! zone rebuilds the tenant's groups from its entries ([`TimeRollups::set_zone`]). Fiscal years
//! are not kept: the queries derive them from the month, so a new fiscal start needs nothing.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::domain::calendar::Calendar;
use crate::domain::facts::{Fact, FactKind};

/// What an entry is counted under besides its day: (person, login, project, billable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Who {
    pub person_id: String,
    pub user_id: String,
    pub project_id: String,
    pub billable: bool,
}

/// A local calendar date as the facts write it: (`YYYY-MM-DD`, ISO `YYYY-Www`, `YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Date {
    pub day: String,
    pub week: String,
    pub month: String,
}

impl Date {
    fn of(date: NaiveDate) -> Self {
        Self {
            day: date.format("%Y-%m-%d").to_string(),
            week: date.format("%G-W%V").to_string(),
            month: date.format("%Y-%m").to_string(),
        }
    }
}

/// A group's totals: seconds and entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub seconds: i64,
    pub entries: i64,
}

/// The current version of one time entry.
#[derive(Debug, Clone)]
struct Entry {
    version: u64,
    event_id: Box<str>,
    /// Its instant (None: dated by its stored `date`, whatever the zone).
    at_ms: Option<i64>,
    stored: u32,
    /// Its local date under the tenant's zone now (an index of `dates`).
    date: u32,
    who: u32,
    seconds: i64,
}

/// Distinct values, each numbered once.
#[derive(Debug)]
struct Interner<T> {
    values: Vec<T>,
    ids: HashMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            ids: HashMap::new(),
        }
    }
}

impl<T: Clone + Eq + std::hash::Hash> Interner<T> {
    fn id(&mut self, value: &T) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(value.clone());
        self.ids.insert(value.clone(), id);
        id
    }

    fn get(&self, id: u32) -> &T {
        &self.values[id as usize]
    }
}

/// One tenant's rollups.
#[derive(Debug)]
struct Tenant {
    calendar: Calendar,
    entries: HashMap<Box<str>, Entry>,
    dates: Interner<Date>,
    /// Local dates of instants, by date (formatting is the costly part).
    local: HashMap<NaiveDate, u32>,
    months: Interner<String>,
    who: Interner<Who>,
    by_day: HashMap<(u32, u32), Totals>,
    by_month: HashMap<(u32, u32), Totals>,
    /// Bumped by every change: a reader's cached table of the groups is stale when it differs.
    generation: u64,
}

impl Tenant {
    fn new(time_zone: Tz) -> Self {
        Self {
            calendar: Calendar {
                time_zone,
                fiscal_year_start_month: 1,
            },
            entries: HashMap::new(),
            dates: Interner::default(),
            local: HashMap::new(),
            months: Interner::default(),
            who: Interner::default(),
            by_day: HashMap::new(),
            by_month: HashMap::new(),
            generation: 0,
        }
    }

    /// The local date of an entry (its instant on the tenant's zone, else its stored date).
    fn date_of(&mut self, at_ms: Option<i64>, stored: u32) -> u32 {
        let Some(at_ms) = at_ms else {
            return stored;
        };
        let date = self.calendar.local_date(at_ms);
        if let Some(id) = self.local.get(&date) {
            return *id;
        }
        let id = self.dates.id(&Date::of(date));
        self.local.insert(date, id);
        id
    }

    fn add(&mut self, date: u32, who: u32, seconds: i64, sign: i64) {
        let month = self.dates.get(date).month.clone();
        let month = self.months.id(&month);
        for (groups, key) in [
            (&mut self.by_day, (date, who)),
            (&mut self.by_month, (month, who)),
        ] {
            let totals = groups.entry(key).or_default();
            totals.seconds += sign * seconds;
            totals.entries += sign;
            if totals.entries == 0 {
                groups.remove(&key);
            }
        }
    }

    fn apply(&mut self, fact: &Fact) {
        if let Some(current) = self.entries.get(fact.entity_id.as_str()) {
            // The dedupe-on-read order: the highest version, then the highest event id.
            let newer =
                (fact.version, fact.event_id.as_str()) > (current.version, &*current.event_id);
            if !newer {
                return;
            }
            let (date, who, seconds) = (current.date, current.who, current.seconds);
            self.add(date, who, seconds, -1);
        }
        let stored = self.dates.id(&Date {
            day: fact.day.clone(),
            week: fact.week.clone(),
            month: fact.month.clone(),
        });
        let who = self.who.id(&Who {
            person_id: fact.person_id.clone(),
            user_id: fact.user_id.clone(),
            project_id: fact.project_id.clone(),
            billable: fact.billable,
        });
        let date = self.date_of(fact.at_ms, stored);
        self.add(date, who, fact.quantity, 1);
        self.entries.insert(
            fact.entity_id.as_str().into(),
            Entry {
                version: fact.version,
                event_id: fact.event_id.as_str().into(),
                at_ms: fact.at_ms,
                stored,
                date,
                who,
                seconds: fact.quantity,
            },
        );
        self.generation += 1;
    }

    /// Regroups every entry on `time_zone`.
    fn rezone(&mut self, time_zone: Tz) {
        self.calendar.time_zone = time_zone;
        self.local.clear();
        self.by_day.clear();
        self.by_month.clear();
        let keys: Vec<Box<str>> = self.entries.keys().cloned().collect();
        for key in keys {
            let Some(entry) = self.entries.get(&key).cloned() else {
                continue;
            };
            let date = self.date_of(entry.at_ms, entry.stored);
            self.add(date, entry.who, entry.seconds, 1);
            if let Some(stored) = self.entries.get_mut(&key) {
                stored.date = date;
            }
        }
        self.generation += 1;
    }
}

/// A row of the day rollup: (date, who, totals).
pub type DayRow<'a> = (&'a Date, &'a Who, Totals);
/// A row of the month rollup: (`YYYY-MM`, who, totals).
pub type MonthRow<'a> = (&'a str, &'a Who, Totals);

/// Every tenant's time-entry rollups.
#[derive(Debug, Default)]
pub struct TimeRollups {
    tenants: HashMap<String, Tenant>,
    /// Tenants' zones set before any of their entries arrived.
    zones: HashMap<String, Tz>,
}

impl TimeRollups {
    /// Counts `facts` (only time entries matter; the rest are ignored).
    pub fn apply<'a>(&mut self, facts: impl IntoIterator<Item = &'a Fact>) {
        for fact in facts {
            if fact.kind != FactKind::TimeEntry {
                continue;
            }
            if !self.tenants.contains_key(fact.tenant_id.as_str()) {
                let zone = self
                    .zones
                    .get(fact.tenant_id.as_str())
                    .copied()
                    .unwrap_or(Tz::UTC);
                self.tenants
                    .insert(fact.tenant_id.clone(), Tenant::new(zone));
            }
            if let Some(tenant) = self.tenants.get_mut(fact.tenant_id.as_str()) {
                tenant.apply(fact);
            }
        }
    }

    /// `tenant`'s days are counted in `time_zone` from now on: its groups are rebuilt if it
    /// was another.
    pub fn set_zone(&mut self, tenant: &str, time_zone: Tz) {
        self.zones.insert(tenant.to_owned(), time_zone);
        if let Some(rollup) = self.tenants.get_mut(tenant) {
            if rollup.calendar.time_zone != time_zone {
                rollup.rezone(time_zone);
            }
        }
    }

    /// The zone `tenant`'s groups are counted in.
    pub fn zone(&self, tenant: &str) -> Tz {
        match self.tenants.get(tenant) {
            Some(rollup) => rollup.calendar.time_zone,
            None => self.zones.get(tenant).copied().unwrap_or(Tz::UTC),
        }
    }

    /// Changes to `tenant`'s groups so far (0: none).
    pub fn generation(&self, tenant: &str) -> u64 {
        self.tenants.get(tenant).map_or(0, |t| t.generation)
    }

    /// `tenant`'s groups by local day.
    pub fn days(&self, tenant: &str) -> Vec<DayRow<'_>> {
        let Some(rollup) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        rollup
            .by_day
            .iter()
            .map(|(&(date, who), totals)| (rollup.dates.get(date), rollup.who.get(who), *totals))
            .collect()
    }

    /// `tenant`'s groups by local month.
    pub fn months(&self, tenant: &str) -> Vec<MonthRow<'_>> {
        let Some(rollup) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        rollup
            .by_month
            .iter()
            .map(|(&(month, who), totals)| {
                (
                    rollup.months.get(month).as_str(),
                    rollup.who.get(who),
                    *totals,
                )
            })
            .collect()
    }

    /// Entries counted for `tenant` (their current versions).
    pub fn entries(&self, tenant: &str) -> usize {
        self.tenants.get(tenant).map_or(0, |t| t.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, version: u64, event: &str, at: &str, seconds: i64, project: &str) -> Fact {
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        let day = at.naive_utc().date();
        Fact {
            tenant_id: "t1".into(),
            kind: FactKind::TimeEntry,
            entity_id: id.into(),
            version,
            event_id: event.into(),
            occurred_ms: 0,
            day: day.format("%Y-%m-%d").to_string(),
            week: day.format("%G-W%V").to_string(),
            month: day.format("%Y-%m").to_string(),
            person_id: "u1".into(),
            user_id: "u1".into(),
            project_id: project.into(),
            client_id: String::new(),
            department_id: String::new(),
            quantity: seconds,
            amount: 0,
            currency: String::new(),
            billable: true,
            document_id: String::new(),
            at_ms: Some(at.timestamp_millis()),
        }
    }

    fn days(rollups: &TimeRollups) -> Vec<(String, String, i64, i64)> {
        let mut rows: Vec<_> = rollups
            .days("t1")
            .into_iter()
            .map(|(date, who, totals)| {
                (
                    date.day.clone(),
                    who.project_id.clone(),
                    totals.seconds,
                    totals.entries,
                )
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn restatements_move_replays_and_late_versions_do_nothing_and_zones_regroup() {
        let mut rollups = TimeRollups::default();
        let first = entry("te1", 1, "ev1", "2026-03-31T22:30:00Z", 3_600, "p1");
        rollups.apply([&first, &first]);
        rollups.apply([&entry("te2", 1, "ev2", "2026-03-31T10:00:00Z", 600, "p1")]);
        assert_eq!(
            days(&rollups),
            vec![("2026-03-31".into(), "p1".into(), 4_200, 2)]
        );
        // A restatement moves te1 to p2; the older version arriving late changes nothing.
        let restated = entry("te1", 2, "ev3", "2026-03-31T22:30:00Z", 1_800, "p2");
        rollups.apply([&restated, &first, &restated]);
        assert_eq!(
            days(&rollups),
            vec![
                ("2026-03-31".into(), "p1".into(), 600, 1),
                ("2026-03-31".into(), "p2".into(), 1_800, 1),
            ]
        );
        // The same version from another event: the higher event id wins, as on read.
        rollups.apply([&entry("te2", 1, "ev0", "2026-03-31T10:00:00Z", 9, "p1")]);
        rollups.apply([&entry("te2", 1, "ev9", "2026-03-31T10:00:00Z", 700, "p1")]);
        // Berlin: 22:30 UTC on 31 March is 00:30 on 1 April.
        rollups.set_zone("t1", chrono_tz::Europe::Berlin);
        assert_eq!(
            days(&rollups),
            vec![
                ("2026-03-31".into(), "p1".into(), 700, 1),
                ("2026-04-01".into(), "p2".into(), 1_800, 1),
            ]
        );
        let mut months: Vec<(String, i64)> = rollups
            .months("t1")
            .into_iter()
            .map(|(month, _, totals)| (month.to_owned(), totals.seconds))
            .collect();
        months.sort();
        assert_eq!(
            months,
            vec![("2026-03".into(), 700), ("2026-04".into(), 1_800)]
        );
        assert_eq!(rollups.entries("t1"), 2);
        // A zone set before a tenant's first entry applies to it.
        rollups.set_zone("t2", chrono_tz::Asia::Kolkata);
        assert_eq!(rollups.zone("t2"), chrono_tz::Asia::Kolkata);
    }
}
