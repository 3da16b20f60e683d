//! SLA clocks in business time (domains.md O9, O10).
//!
//! A [`BusinessCalendar`] is a time zone, weekly business hours and holidays. Business time
//! between two instants counts the instants whose local time falls in a business window of a
//! working day, which stays exact across DST changes: each local day is cut into the UTC
//! stretches with a constant offset, and in each the local window maps to one UTC interval.
//!
//! A ticket has three independent [`Clock`]s (first response, update, resolution). Pending
//! states pause them; the paused business time is kept on the clock, so it survives a change of
//! policy or priority (GLPI #15605). A breach fires at most once per clock ([`Clock::fire_breach`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use erp_kit::ApiError;
use serde::{Deserialize, Serialize};

/// Business hours of one weekday as local minute ranges `[start, end)`, 0..=1440.
pub type DayHours = Vec<(u16, u16)>;

/// How far ahead a due time is searched (a calendar that is all holidays for longer has no due
/// time).
const MAX_SEARCH_DAYS: i64 = 3 * 366;

/// A time zone, business hours per weekday (Monday first) and holidays.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    zone: Tz,
    week: [DayHours; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    /// Validates the hours: each day's ranges ascending, non-empty and not overlapping, within
    /// the day; at least one business minute in the week.
    pub fn new(
        zone: Tz,
        week: [DayHours; 7],
        holidays: BTreeSet<NaiveDate>,
    ) -> Result<Self, ApiError> {
        for hours in &week {
            let mut previous_end = 0;
            for &(start, end) in hours {
                if start >= end || end > 1440 || start < previous_end {
                    return Err(ApiError::bad_input(
                        "weeklyHours",
                        "business hours are ascending, non-overlapping ranges within the day",
                    ));
                }
                previous_end = end;
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(ApiError::bad_input(
                "weeklyHours",
                "a calendar has at least one business hour in the week",
            ));
        }
        Ok(Self {
            zone,
            week,
            holidays,
        })
    }

    /// Monday to Friday, 09:00-17:00, no holidays.
    pub fn office_hours(zone: Tz) -> Self {
        let day = vec![(9 * 60, 17 * 60)];
        Self {
            zone,
            week: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                vec![],
                vec![],
            ],
            holidays: BTreeSet::new(),
        }
    }

    /// Every minute of every day in UTC: the clocks' calendar while no policy applies.
    pub fn always() -> Self {
        let day = vec![(0, 1440)];
        Self {
            zone: chrono_tz::UTC,
            week: std::array::from_fn(|_| day.clone()),
            holidays: BTreeSet::new(),
        }
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    fn offset_seconds(&self, at: DateTime<Utc>) -> i64 {
        i64::from(
            self.zone
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// Whether `at` is in business time: the minute-by-minute definition the fast paths must
    /// agree with.
    pub fn is_business_time(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        let date = local.date_naive();
        if self.holidays.contains(&date) {
            return false;
        }
        let seconds = i64::from(local.time().num_seconds_from_midnight_compat());
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .any(|&(start, end)| seconds >= i64::from(start) * 60 && seconds < i64::from(end) * 60)
    }

    /// The UTC stretches `[from, to)` with one offset each that cover the instants of local
    /// day `date` (UTC is within 14 hours of any local time).
    fn constant_offset_stretches(
        &self,
        date: NaiveDate,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>, i64)> {
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let mut from = midnight - Duration::hours(15);
        let end = midnight + Duration::hours(24 + 15);
        let mut stretches = Vec::with_capacity(2);
        while from < end {
            let offset = self.offset_seconds(from);
            // The first instant in (from, end] with another offset, found by bisection (offsets
            // change on whole seconds; a zone changes at most a few times a year).
            let to = if self.offset_seconds(end) == offset {
                end
            } else {
                let at = |seconds: i64| DateTime::from_timestamp(seconds, 0).unwrap_or(end);
                let (mut low, mut high) = (from.timestamp(), end.timestamp());
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    if self.offset_seconds(at(middle)) == offset {
                        low = middle;
                    } else {
                        high = middle;
                    }
                }
                at(high)
            };
            stretches.push((from, to, offset));
            from = to;
        }
        stretches
    }

    /// The business windows of local day `date` as UTC intervals, in order.
    fn windows(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return vec![];
        }
        let hours = &self.week[date.weekday().num_days_from_monday() as usize];
        if hours.is_empty() {
            return vec![];
        }
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let mut windows = Vec::with_capacity(hours.len());
        for (from, to, offset) in self.constant_offset_stretches(date) {
            for &(start, end) in hours {
                // Local day `date` at minute m is UTC midnight + m - offset in this stretch.
                let window_start =
                    midnight + Duration::minutes(i64::from(start)) - Duration::seconds(offset);
                let window_end =
                    midnight + Duration::minutes(i64::from(end)) - Duration::seconds(offset);
                let (a, b) = (window_start.max(from), window_end.min(to));
                if a < b {
                    windows.push((a, b));
                }
            }
        }
        windows.sort();
        windows
    }

    /// Business seconds in `[from, to)` (whole seconds, rounded down); 0 when `to <= from`.
    pub fn business_seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let first = self.local_date(from).pred_opt().unwrap_or(NaiveDate::MIN);
        let last = self.local_date(to).succ_opt().unwrap_or(NaiveDate::MAX);
        first
            .iter_days()
            .take_while(|date| *date <= last)
            .flat_map(|date| self.windows(date))
            .map(|(a, b)| (b.min(to) - a.max(from)).max(Duration::zero()))
            .fold(Duration::zero(), |sum, part| sum + part)
            .num_seconds()
    }

    /// The instant `seconds` of business time after `from` (exact to the nanosecond `from`
    /// has); none when the calendar has no business time in the next three years.
    pub fn add_business_seconds(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        let mut left = Duration::seconds(seconds.max(0));
        let first = self.local_date(from).pred_opt()?;
        for date in first.iter_days().take(MAX_SEARCH_DAYS as usize) {
            for (a, b) in self.windows(date) {
                if b <= from {
                    continue;
                }
                let start = a.max(from);
                let available = b - start;
                if left < available || (left == available && left > Duration::zero()) {
                    return Some(start + left);
                }
                left -= available;
            }
        }
        None
    }
}

/// `NaiveTime::num_seconds_from_midnight` under a name that does not need the `Timelike`
/// import at every call.
trait SecondsFromMidnight {
    fn num_seconds_from_midnight_compat(&self) -> u32;
}

impl SecondsFromMidnight for chrono::NaiveTime {
    fn num_seconds_from_midnight_compat(&self) -> u32 {
        chrono::Timelike::num_seconds_from_midnight(self)
    }
}

/// One SLA target's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub started_at: DateTime<Utc>,
    /// Business seconds spent paused so far (kept across policy changes).
    pub paused_seconds: i64,
    /// Set while paused.
    pub paused_since: Option<DateTime<Utc>>,
    /// When the target was met (the clock stopped).
    pub met_at: Option<DateTime<Utc>>,
    /// Whether the breach of this target has fired (it fires once).
    pub breach_fired: bool,
}

/// A clock's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockState {
    Running,
    Paused,
    Met,
    Breached,
}

impl Clock {
    pub fn start(at: DateTime<Utc>) -> Self {
        Self {
            started_at: at,
            paused_seconds: 0,
            paused_since: None,
            met_at: None,
            breach_fired: false,
        }
    }

    pub fn pause(&mut self, at: DateTime<Utc>) {
        if self.paused_since.is_none() && self.met_at.is_none() {
            self.paused_since = Some(at);
        }
    }

    /// Resumes, adding the business time spent paused.
    pub fn resume(&mut self, at: DateTime<Utc>, calendar: &BusinessCalendar) {
        if let Some(since) = self.paused_since.take() {
            self.paused_seconds += calendar.business_seconds_between(since, at);
        }
    }

    /// The target was met at `at` (a first response, a resolution).
    pub fn meet(&mut self, at: DateTime<Utc>, calendar: &BusinessCalendar) {
        if self.met_at.is_none() {
            self.resume(at, calendar);
            self.met_at = Some(at);
        }
    }

    /// Starts the clock again (the update target after each reply); the accumulated pause
    /// restarts, the fired breach stays fired.
    pub fn restart(&mut self, at: DateTime<Utc>) {
        self.started_at = at;
        self.paused_seconds = 0;
        self.paused_since = None;
        self.met_at = None;
    }

    /// Business seconds elapsed against the target up to `now` (pauses excluded).
    pub fn elapsed_seconds(&self, now: DateTime<Utc>, calendar: &BusinessCalendar) -> i64 {
        let end = self.met_at.or(self.paused_since).unwrap_or(now).min(now);
        calendar.business_seconds_between(self.started_at, end) - self.paused_seconds
    }

    /// When the target of `target_minutes` is due: none while paused or once met (and when the
    /// calendar has no business time ahead).
    pub fn due_at(
        &self,
        target_minutes: u32,
        calendar: &BusinessCalendar,
    ) -> Option<DateTime<Utc>> {
        if self.paused_since.is_some() || self.met_at.is_some() {
            return None;
        }
        calendar.add_business_seconds(
            self.started_at,
            i64::from(target_minutes) * 60 + self.paused_seconds,
        )
    }

    pub fn state(
        &self,
        now: DateTime<Utc>,
        target_minutes: u32,
        calendar: &BusinessCalendar,
    ) -> ClockState {
        let over = self.elapsed_seconds(now, calendar) >= i64::from(target_minutes) * 60;
        match (self.met_at, self.paused_since) {
            (Some(_), _) if over => ClockState::Breached,
            (Some(_), _) => ClockState::Met,
            _ if over => ClockState::Breached,
            (None, Some(_)) => ClockState::Paused,
            (None, None) => ClockState::Running,
        }
    }

    /// Fires the breach if it is due at `now` and has not fired: true exactly once per clock.
    pub fn fire_breach(
        &mut self,
        now: DateTime<Utc>,
        target_minutes: u32,
        calendar: &BusinessCalendar,
    ) -> bool {
        if self.breach_fired || self.met_at.is_some() {
            return false;
        }
        if self.elapsed_seconds(now, calendar) >= i64::from(target_minutes) * 60 {
            self.breach_fired = true;
            return true;
        }
        false
    }
}

/// The three targets of a policy, in business minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub first_response: u32,
    pub update: u32,
    pub resolution: u32,
}

/// Which target a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Target {
    FirstResponse,
    Update,
    Resolution,
}

/// A ticket's three independent clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClocks {
    pub first_response: Clock,
    pub update: Clock,
    pub resolution: Clock,
}

impl TicketClocks {
    /// All three start when the ticket is created.
    pub fn start(at: DateTime<Utc>) -> Self {
        Self {
            first_response: Clock::start(at),
            update: Clock::start(at),
            resolution: Clock::start(at),
        }
    }

    fn each(&mut self) -> [&mut Clock; 3] {
        [
            &mut self.first_response,
            &mut self.update,
            &mut self.resolution,
        ]
    }

    fn with_targets(&self, targets: &Targets) -> [(&Clock, u32); 3] {
        [
            (&self.first_response, targets.first_response),
            (&self.update, targets.update),
            (&self.resolution, targets.resolution),
        ]
    }

    /// When the next breach is due: the earliest due time of a target neither met nor fired
    /// (none while every clock is paused, met or fired).
    pub fn next_breach(
        &self,
        targets: &Targets,
        calendar: &BusinessCalendar,
    ) -> Option<DateTime<Utc>> {
        self.with_targets(targets)
            .into_iter()
            .filter(|(clock, _)| !clock.breach_fired)
            .filter_map(|(clock, minutes)| clock.due_at(minutes, calendar))
            .min()
    }

    /// Fires the breaches due at `now` that have not fired: each target at most once.
    pub fn fire_due(
        &mut self,
        now: DateTime<Utc>,
        targets: &Targets,
        calendar: &BusinessCalendar,
    ) -> Vec<Target> {
        let mut fired = Vec::new();
        for (target, clock, minutes) in [
            (
                Target::FirstResponse,
                &mut self.first_response,
                targets.first_response,
            ),
            (Target::Update, &mut self.update, targets.update),
            (Target::Resolution, &mut self.resolution, targets.resolution),
        ] {
            if clock.fire_breach(now, minutes, calendar) {
                fired.push(target);
            }
        }
        fired
    }

    /// An agent replied: the first response is met (once), the update clock starts again.
    pub fn agent_replied(&mut self, at: DateTime<Utc>, calendar: &BusinessCalendar) {
        self.first_response.meet(at, calendar);
        let paused = self.update.paused_since.is_some();
        self.update.restart(at);
        if paused {
            self.update.pause(at);
        }
    }

    /// The ticket moved from `from` to `to`: pending pauses every running clock and leaving it
    /// resumes them; resolving meets the resolution (a reopen resumes it, the resolved time
    /// counted as paused); closing or merging stops every clock, so a final ticket never
    /// escalates.
    pub fn status_changed(
        &mut self,
        from: super::helpdesk::TicketStatus,
        to: super::helpdesk::TicketStatus,
        at: DateTime<Utc>,
        calendar: &BusinessCalendar,
    ) {
        use super::helpdesk::TicketStatus;
        if to.pauses_clocks() && !from.pauses_clocks() {
            for clock in self.each() {
                clock.pause(at);
            }
        }
        if from.pauses_clocks() && !to.pauses_clocks() {
            for clock in self.each() {
                clock.resume(at, calendar);
            }
        }
        if to == TicketStatus::Resolved {
            self.resolution.meet(at, calendar);
            self.update.meet(at, calendar);
        }
        if from == TicketStatus::Resolved && to == TicketStatus::Open {
            for clock in [&mut self.resolution, &mut self.update] {
                if let Some(met) = clock.met_at.take() {
                    clock.paused_seconds += calendar.business_seconds_between(met, at);
                }
            }
        }
        if to.is_final() {
            for clock in self.each() {
                clock.meet(at, calendar);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn berlin() -> BusinessCalendar {
        let mut calendar = BusinessCalendar::office_hours(chrono_tz::Europe::Berlin);
        // A lunch break on Wednesdays and a Saturday morning.
        calendar.week[2] = vec![(9 * 60, 12 * 60), (13 * 60, 17 * 60)];
        calendar.week[5] = vec![(0, 120), (150, 240)];
        calendar.week[6] = vec![(0, 1440)];
        calendar
            .holidays
            .insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        calendar
    }

    fn oracle(calendar: &BusinessCalendar, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let mut minutes = 0;
        let mut at = from;
        while at < to {
            if calendar.is_business_time(at) {
                minutes += 1;
            }
            at += Duration::minutes(1);
        }
        minutes
    }

    #[test]
    fn office_hours_skip_nights_weekends_and_holidays() {
        let calendar = BusinessCalendar::office_hours(chrono_tz::Europe::Berlin);
        // Friday 4 Dec 2026 16:00 CET (15:00 UTC) + 2 business hours = Monday 10:00 CET.
        let due = calendar
            .add_business_seconds(utc(2026, 12, 4, 15, 0), 2 * 3600)
            .unwrap();
        assert_eq!(due, utc(2026, 12, 7, 9, 0));
        assert_eq!(
            calendar.business_seconds_between(utc(2026, 12, 4, 15, 0), due),
            2 * 3600
        );
        // Starting at night: the clock starts at 09:00.
        let due = calendar
            .add_business_seconds(utc(2026, 12, 8, 2, 0), 60)
            .unwrap();
        assert_eq!(due, utc(2026, 12, 8, 8, 1));
        let mut with_holiday = calendar.clone();
        with_holiday
            .holidays
            .insert(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        let due = with_holiday
            .add_business_seconds(utc(2026, 12, 4, 15, 0), 2 * 3600)
            .unwrap();
        assert_eq!(due, utc(2026, 12, 8, 9, 0));
    }

    #[test]
    fn business_time_equals_the_minute_by_minute_oracle_across_dst() {
        // Weeks around both 2026 DST changes in Berlin (29 Mar, 25 Oct) and Christmas, plus New
        // York's, with a 24-hour Sunday window that covers the switch itself.
        let mut new_york = berlin();
        new_york.zone = chrono_tz::America::New_York;
        let mut seed: u64 = 7;
        let mut next = |bound: i64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % bound as u64) as i64
        };
        let starts = [
            utc(2026, 3, 26, 0, 0),
            utc(2026, 10, 22, 0, 0),
            utc(2026, 12, 21, 0, 0),
            utc(2026, 3, 6, 0, 0),
            utc(2026, 10, 30, 0, 0),
        ];
        for calendar in [berlin(), new_york] {
            for base in starts {
                for _ in 0..12 {
                    let from = base + Duration::minutes(next(6 * 1440));
                    let to = from + Duration::minutes(next(4 * 1440));
                    let minutes = oracle(&calendar, from, to);
                    assert_eq!(
                        calendar.business_seconds_between(from, to),
                        minutes * 60,
                        "{from} .. {to}"
                    );
                    if minutes > 0 {
                        // Adding the business time back lands on the oracle's instant: the end
                        // of the last business minute counted.
                        let due = calendar.add_business_seconds(from, minutes * 60).unwrap();
                        assert!(due <= to);
                        assert_eq!(oracle(&calendar, from, due), minutes);
                    }
                }
            }
        }
    }

    #[test]
    fn monotone() {
        let calendar = berlin();
        let from = utc(2026, 10, 23, 7, 13);
        let mut previous = 0;
        for hours in 0..200 {
            let elapsed = calendar.business_seconds_between(from, from + Duration::hours(hours));
            assert!(elapsed >= previous);
            previous = elapsed;
        }
    }

    #[test]
    fn invalid_hours_are_refused() {
        let week = |day: DayHours| [day, vec![], vec![], vec![], vec![], vec![], vec![]];
        let zone = chrono_tz::UTC;
        assert!(BusinessCalendar::new(zone, week(vec![(600, 540)]), BTreeSet::new()).is_err());
        assert!(BusinessCalendar::new(zone, week(vec![(0, 1441)]), BTreeSet::new()).is_err());
        assert!(
            BusinessCalendar::new(zone, week(vec![(0, 600), (500, 700)]), BTreeSet::new()).is_err()
        );
        assert!(BusinessCalendar::new(zone, week(vec![]), BTreeSet::new()).is_err());
        assert!(BusinessCalendar::new(zone, week(vec![(0, 1440)]), BTreeSet::new()).is_ok());
    }

    #[test]
    fn pending_pauses_and_the_pause_survives_a_policy_change() {
        let calendar = BusinessCalendar::office_hours(chrono_tz::UTC);
        // Monday 7 Dec 2026 09:00, a 4-hour resolution target: due 13:00.
        let mut clock = Clock::start(utc(2026, 12, 7, 9, 0));
        assert_eq!(clock.due_at(240, &calendar), Some(utc(2026, 12, 7, 13, 0)));
        clock.pause(utc(2026, 12, 7, 10, 0));
        assert_eq!(clock.due_at(240, &calendar), None);
        assert_eq!(
            clock.state(utc(2026, 12, 7, 16, 0), 240, &calendar),
            ClockState::Paused
        );
        clock.resume(utc(2026, 12, 7, 11, 30), &calendar);
        assert_eq!(clock.paused_seconds, 90 * 60);
        assert_eq!(clock.due_at(240, &calendar), Some(utc(2026, 12, 7, 14, 30)));
        // A new policy (8 hours) keeps the 90 paused minutes.
        assert_eq!(clock.due_at(480, &calendar), Some(utc(2026, 12, 8, 10, 30)));
        assert_eq!(
            clock.elapsed_seconds(utc(2026, 12, 7, 12, 0), &calendar),
            90 * 60
        );
    }

    #[test]
    fn ticket_clocks_follow_the_ticket() {
        use crate::domain::helpdesk::TicketStatus::*;
        let calendar = BusinessCalendar::office_hours(chrono_tz::UTC);
        let opened = utc(2026, 12, 7, 9, 0);
        let mut clocks = TicketClocks::start(opened);
        clocks.status_changed(New, Pending, utc(2026, 12, 7, 9, 30), &calendar);
        assert_eq!(clocks.resolution.due_at(240, &calendar), None, "paused");
        clocks.status_changed(Pending, Open, utc(2026, 12, 7, 10, 30), &calendar);
        // 60 paused minutes: a 4-hour resolution is due at 14:00.
        assert_eq!(
            clocks.resolution.due_at(240, &calendar),
            Some(utc(2026, 12, 7, 14, 0))
        );
        clocks.agent_replied(utc(2026, 12, 7, 11, 0), &calendar);
        assert_eq!(clocks.first_response.met_at, Some(utc(2026, 12, 7, 11, 0)));
        assert_eq!(
            clocks.update.due_at(60, &calendar),
            Some(utc(2026, 12, 7, 12, 0))
        );
        clocks.status_changed(Open, Resolved, utc(2026, 12, 7, 12, 0), &calendar);
        assert_eq!(clocks.resolution.due_at(240, &calendar), None, "met");
        // Reopened an hour later: the resolved hour counts as paused.
        clocks.status_changed(Resolved, Open, utc(2026, 12, 7, 13, 0), &calendar);
        assert_eq!(
            clocks.resolution.due_at(240, &calendar),
            Some(utc(2026, 12, 7, 15, 0))
        );
        clocks.status_changed(Open, Merged, utc(2026, 12, 7, 13, 30), &calendar);
        assert!(!clocks
            .resolution
            .fire_breach(utc(2026, 12, 9, 0, 0), 240, &calendar));
    }

    #[test]
    fn the_next_breach_is_the_earliest_unfired_target_and_fires_once() {
        let calendar = BusinessCalendar::office_hours(chrono_tz::UTC);
        let targets = Targets {
            first_response: 30,
            update: 60,
            resolution: 240,
        };
        let mut clocks = TicketClocks::start(utc(2026, 12, 7, 9, 0));
        assert_eq!(
            clocks.next_breach(&targets, &calendar),
            Some(utc(2026, 12, 7, 9, 30))
        );
        assert_eq!(
            clocks.fire_due(utc(2026, 12, 7, 9, 45), &targets, &calendar),
            vec![Target::FirstResponse]
        );
        assert!(clocks
            .fire_due(utc(2026, 12, 7, 9, 50), &targets, &calendar)
            .is_empty());
        assert_eq!(
            clocks.next_breach(&targets, &calendar),
            Some(utc(2026, 12, 7, 10, 0))
        );
        assert_eq!(
            clocks.fire_due(utc(2026, 12, 7, 13, 0), &targets, &calendar),
            vec![Target::Update, Target::Resolution]
        );
        assert_eq!(clocks.next_breach(&targets, &calendar), None);
    }

    #[test]
    fn targets_are_independent_and_a_breach_fires_once() {
        let calendar = BusinessCalendar::office_hours(chrono_tz::UTC);
        let opened = utc(2026, 12, 7, 9, 0);
        let mut first_response = Clock::start(opened);
        let mut update = Clock::start(opened);
        // Answered at 09:20 within a 30-minute first-response target.
        first_response.meet(utc(2026, 12, 7, 9, 20), &calendar);
        update.restart(utc(2026, 12, 7, 9, 20));
        assert_eq!(
            first_response.state(utc(2026, 12, 7, 12, 0), 30, &calendar),
            ClockState::Met
        );
        assert!(!first_response.fire_breach(utc(2026, 12, 8, 12, 0), 30, &calendar));
        // The 60-minute update target runs from the reply: due 10:20.
        assert_eq!(update.due_at(60, &calendar), Some(utc(2026, 12, 7, 10, 20)));
        assert!(!update.fire_breach(utc(2026, 12, 7, 10, 19), 60, &calendar));
        assert!(update.fire_breach(utc(2026, 12, 7, 10, 20), 60, &calendar));
        assert!(
            !update.fire_breach(utc(2026, 12, 7, 10, 21), 60, &calendar),
            "once"
        );
        assert_eq!(
            update.state(utc(2026, 12, 7, 11, 0), 60, &calendar),
            ClockState::Breached
        );
        // Met late still reads as breached.
        let mut late = Clock::start(opened);
        late.meet(utc(2026, 12, 7, 11, 0), &calendar);
        assert_eq!(
            late.state(utc(2026, 12, 7, 12, 0), 60, &calendar),
            ClockState::Breached
        );
    }
}
