//! Leave rules, pure: amounts, spans with half days, working-day counting (weekends and
//! holidays excluded), overlap, balances as the sum of a ledger, accrual with proration for
//! joiners, year-end carry-forward caps, and the state machine of a request with its approval
//! chain (the employee's manager first, then HR).
//!
//! Amounts are integers in hundredths of a day ("centidays"): half a day is 50, a monthly
//! accrual of 1.67 days is 167. No floating point reaches a balance.

use std::collections::HashSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use erp_kit::{ApiError, Reason, RuleViolation};

use super::reasons;

/// Hundredths of a day in one day.
pub const CENTIDAYS_PER_DAY: i64 = 100;
/// Hundredths of a day in half a day.
pub const HALF_DAY: i64 = CENTIDAYS_PER_DAY / 2;
/// The longest span one request may cover, and the largest single amount, in days.
pub const MAX_DAYS: i64 = 366;
/// The weekly rest days when the employee has no policy.
pub const DEFAULT_WEEKEND: [Weekday; 2] = [Weekday::Sat, Weekday::Sun];

/// A leave rule a request or a decision broke: each is a stable `extensions.reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveRule {
    /// The span meets another pending or approved request of the same employee.
    Overlap { other_request_id: String },
    /// The balance (minus what pending requests reserve) does not cover the request.
    InsufficientBalance { available: i64, requested: i64 },
    /// Nobody approves or rejects their own leave.
    SelfApproval,
    /// The caller is not the approver of the request's current step.
    NotTheApprover,
    /// Only the employee who asked may cancel.
    NotTheRequester,
    /// The action does not apply in the request's status (e.g. approving a rejected request).
    InvalidState {
        status: LeaveStatus,
        action: &'static str,
    },
    /// The leave has started (or is over): it can no longer be cancelled.
    AlreadyStarted,
    /// The leave type caps one request's length.
    MaxConsecutiveDaysExceeded { max_days: i64, requested: i64 },
    /// The leave type is taken in whole days only.
    HalfDayNotAllowed,
    /// The span has no working day (weekends and holidays only).
    NoWorkingDays,
}

impl RuleViolation for LeaveRule {
    fn reason(&self) -> Reason {
        match self {
            LeaveRule::Overlap { .. } => reasons::LEAVE_OVERLAP,
            LeaveRule::InsufficientBalance { .. } => reasons::INSUFFICIENT_LEAVE_BALANCE,
            LeaveRule::SelfApproval => reasons::SELF_APPROVAL,
            LeaveRule::NotTheApprover => reasons::NOT_APPROVER,
            LeaveRule::NotTheRequester => reasons::NOT_REQUESTER,
            LeaveRule::InvalidState { .. } => reasons::INVALID_LEAVE_STATE,
            LeaveRule::AlreadyStarted => reasons::LEAVE_ALREADY_STARTED,
            LeaveRule::MaxConsecutiveDaysExceeded { .. } => reasons::MAX_CONSECUTIVE_DAYS_EXCEEDED,
            LeaveRule::HalfDayNotAllowed => reasons::HALF_DAY_NOT_ALLOWED,
            LeaveRule::NoWorkingDays => reasons::NO_WORKING_DAYS,
        }
    }

    fn message(&self) -> String {
        LeaveRule::message(self)
    }
}

impl LeaveRule {
    /// What the caller reads.
    pub fn message(&self) -> String {
        match self {
            LeaveRule::Overlap { .. } => {
                "the leave overlaps another pending or approved leave request".into()
            }
            LeaveRule::InsufficientBalance {
                available,
                requested,
            } => format!(
                "the leave needs {} days but only {} are available",
                format_days(*requested),
                format_days(*available)
            ),
            LeaveRule::SelfApproval => "nobody may approve or reject their own leave".into(),
            LeaveRule::NotTheApprover => {
                "you are not the approver of this request's current step".into()
            }
            LeaveRule::NotTheRequester => "only the employee who asked may cancel a leave".into(),
            LeaveRule::InvalidState { status, action } => {
                format!("a {} leave request cannot be {action}", status.as_str())
            }
            LeaveRule::AlreadyStarted => {
                "the leave has started and can no longer be cancelled".into()
            }
            LeaveRule::MaxConsecutiveDaysExceeded {
                max_days,
                requested,
            } => format!(
                "this leave type allows at most {} consecutive days, the request has {}",
                format_days(*max_days),
                format_days(*requested)
            ),
            LeaveRule::HalfDayNotAllowed => "this leave type is taken in whole days only".into(),
            LeaveRule::NoWorkingDays => {
                "the period has no working day (only weekends and holidays)".into()
            }
        }
    }
}

/// Why a leave operation failed: bad input or a kit error, or a leave rule (kept as the rule, so
/// the numbers a client needs travel beside its reason).
#[derive(Debug)]
pub enum LeaveError {
    Api(ApiError),
    Rule(LeaveRule),
}

impl From<ApiError> for LeaveError {
    fn from(err: ApiError) -> Self {
        LeaveError::Api(err)
    }
}

impl From<LeaveRule> for LeaveError {
    fn from(rule: LeaveRule) -> Self {
        LeaveError::Rule(rule)
    }
}

pub type LeaveResult<T> = Result<T, LeaveError>;

/// `1.5`, `2`, `-0.25`: an amount of centidays as days.
pub fn format_days(centidays: i64) -> String {
    let sign = if centidays < 0 { "-" } else { "" };
    let abs = centidays.unsigned_abs();
    let (whole, fraction) = (abs / 100, abs % 100);
    match fraction {
        0 => format!("{sign}{whole}"),
        f if f % 10 == 0 => format!("{sign}{whole}.{}", f / 10),
        f => format!("{sign}{whole}.{f:02}"),
    }
}

/// Centidays as a float number of days (for display only).
pub fn to_days(centidays: i64) -> f64 {
    centidays as f64 / CENTIDAYS_PER_DAY as f64
}

/// Parses a number of days given as a float: finite, at most two decimals, at most
/// [`MAX_DAYS`] in absolute value; `negative` allows values below zero (adjustments), zero is
/// refused unless `zero` allows it.
pub fn parse_days(field: &str, days: f64, negative: bool, zero: bool) -> Result<i64, ApiError> {
    if !days.is_finite() {
        return Err(ApiError::bad_input(
            field,
            "the number of days is not a number",
        ));
    }
    let scaled = days * CENTIDAYS_PER_DAY as f64;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        return Err(ApiError::bad_input(
            field,
            "a number of days has at most two decimals",
        ));
    }
    let centidays = rounded as i64;
    if centidays.abs() > MAX_DAYS * CENTIDAYS_PER_DAY {
        return Err(ApiError::bad_input(
            field,
            format!("a number of days is at most {MAX_DAYS}"),
        ));
    }
    if centidays < 0 && !negative {
        return Err(ApiError::bad_input(
            field,
            "the number of days must not be negative",
        ));
    }
    if centidays == 0 && !zero {
        return Err(ApiError::bad_input(
            field,
            "the number of days must not be zero",
        ));
    }
    Ok(centidays)
}

/// A leave type's short code: 1 to 16 of `A-Z 0-9 _`, upper-cased (e.g. `ANNUAL`, `SICK`).
pub fn parse_type_code(raw: &str) -> Result<String, ApiError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty()
        || code.len() > 16
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::bad_input(
            "code",
            "a leave type code is 1 to 16 letters, digits or `_`",
        ));
    }
    Ok(code)
}

/// A free-text reason or comment: trimmed, 1 to 500 characters, no control characters except
/// line breaks.
pub fn parse_reason(field: &str, raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_input(field, "a reason is required"));
    }
    if reason.chars().count() > 500 {
        return Err(ApiError::bad_input(
            field,
            "a reason is at most 500 characters",
        ));
    }
    if reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_input(
            field,
            "the reason contains control characters",
        ));
    }
    Ok(reason.to_owned())
}

/// A leave type's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveTypeRules {
    /// Paid leave is counted against a balance; unpaid leave (leave without pay) is not.
    pub paid: bool,
    pub allows_half_day: bool,
    /// Without approval a request is approved as it is made.
    pub requires_approval: bool,
    /// The longest single request, in centidays.
    pub max_consecutive: Option<i64>,
    /// Whether a request may take the balance below zero.
    pub allow_negative_balance: bool,
}

/// Which half of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayHalf {
    /// The morning.
    First,
    /// The afternoon.
    Second,
}

impl DayHalf {
    pub fn as_str(self) -> &'static str {
        match self {
            DayHalf::First => "first",
            DayHalf::Second => "second",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "first" => Some(DayHalf::First),
            "second" => Some(DayHalf::Second),
            _ => None,
        }
    }
}

/// The days a request covers, to the half day: from `start` (in its second half when
/// `start_half` is `Second`) to `end` (up to noon when `end_half` is `First`). A single half day
/// has `start == end` and both halves equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaveSpan {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub start_half: Option<DayHalf>,
    pub end_half: Option<DayHalf>,
}

impl LeaveSpan {
    /// Parses a span: the end not before the start, at most [`MAX_DAYS`] long; a leave of
    /// several days may start in the afternoon and end at noon; a single day is whole or one
    /// half.
    pub fn parse(
        start: NaiveDate,
        end: NaiveDate,
        start_half: Option<DayHalf>,
        end_half: Option<DayHalf>,
    ) -> Result<Self, ApiError> {
        if end < start {
            return Err(ApiError::bad_input(
                "endDate",
                "the end date is before the start date",
            ));
        }
        if (end - start).num_days() >= MAX_DAYS {
            return Err(ApiError::bad_input(
                "endDate",
                format!("a leave request covers at most {MAX_DAYS} days"),
            ));
        }
        if start == end {
            let half = match (start_half, end_half) {
                (None, None) => None,
                (Some(h), None) | (None, Some(h)) => Some(h),
                (Some(a), Some(b)) if a == b => Some(a),
                _ => {
                    return Err(ApiError::bad_input(
                        "endHalf",
                        "a one-day leave is the whole day or one half: give one half",
                    ))
                }
            };
            return Ok(Self {
                start,
                end,
                start_half: half,
                end_half: half,
            });
        }
        if start_half == Some(DayHalf::First) {
            return Err(ApiError::bad_input(
                "startHalf",
                "a leave of several days can only start in the second half of its first day",
            ));
        }
        if end_half == Some(DayHalf::Second) {
            return Err(ApiError::bad_input(
                "endHalf",
                "a leave of several days can only end in the first half of its last day",
            ));
        }
        Ok(Self {
            start,
            end,
            start_half,
            end_half,
        })
    }

    /// Whether any day of the span is taken by halves.
    pub fn has_half_day(&self) -> bool {
        self.start_half.is_some() || self.end_half.is_some()
    }

    /// The span as half-day slots `[first, last)`: day `d` has slots `2d` (morning) and
    /// `2d + 1` (afternoon).
    pub fn slots(&self) -> (i64, i64) {
        let day = |d: NaiveDate| i64::from(d.num_days_from_ce());
        let first = 2 * day(self.start) + i64::from(self.start_half == Some(DayHalf::Second));
        let last = 2 * day(self.end)
            + if self.end_half == Some(DayHalf::First) {
                1
            } else {
                2
            };
        (first, last)
    }

    /// Whether two spans share a half day (a morning leave and an afternoon leave on the same
    /// day do not overlap).
    pub fn overlaps(&self, other: &LeaveSpan) -> bool {
        let (a_first, a_last) = self.slots();
        let (b_first, b_last) = other.slots();
        a_first < b_last && b_first < a_last
    }
}

/// Which days are not worked: the weekly rest days and the holidays of the employee's calendar.
#[derive(Debug, Clone, Default)]
pub struct WorkCalendar {
    pub weekend: Vec<Weekday>,
    pub holidays: HashSet<NaiveDate>,
}

impl WorkCalendar {
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        !self.weekend.contains(&day.weekday()) && !self.holidays.contains(&day)
    }
}

/// The leave a span takes, in centidays: half a day for every half-day slot on a working day.
pub fn count_leave_days(span: &LeaveSpan, calendar: &WorkCalendar) -> i64 {
    let (first, last) = span.slots();
    let base = 2 * i64::from(span.start.num_days_from_ce());
    let mut halves = 0;
    for slot in first..last {
        let offset = (slot - base) / 2;
        let Some(day) = span.start.checked_add_days(Days::new(offset as u64)) else {
            break;
        };
        if calendar.is_working_day(day) {
            halves += 1;
        }
    }
    halves * HALF_DAY
}

/// Parses weekend days given as ISO weekday numbers (1 = Monday ... 7 = Sunday); at most six,
/// no duplicates.
pub fn parse_weekend(days: &[u32]) -> Result<Vec<Weekday>, ApiError> {
    let mut weekend = Vec::new();
    for day in days {
        let weekday = match day {
            1 => Weekday::Mon,
            2 => Weekday::Tue,
            3 => Weekday::Wed,
            4 => Weekday::Thu,
            5 => Weekday::Fri,
            6 => Weekday::Sat,
            7 => Weekday::Sun,
            _ => {
                return Err(ApiError::bad_input(
                    "weekendDays",
                    "a weekday is a number from 1 (Monday) to 7 (Sunday)",
                ))
            }
        };
        if weekend.contains(&weekday) {
            return Err(ApiError::bad_input(
                "weekendDays",
                "a weekend day is listed twice",
            ));
        }
        weekend.push(weekday);
    }
    if weekend.len() > 6 {
        return Err(ApiError::bad_input(
            "weekendDays",
            "at least one day of the week must be a working day",
        ));
    }
    Ok(weekend)
}

/// Weekend days as stored: ISO numbers separated by commas (`6,7`).
pub fn weekend_to_db(weekend: &[Weekday]) -> String {
    weekend
        .iter()
        .map(|d| d.number_from_monday().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Weekend days from their stored form; unknown parts are ignored.
pub fn weekend_from_db(value: &str) -> Vec<Weekday> {
    let numbers: Vec<u32> = value
        .split(',')
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    parse_weekend(&numbers).unwrap_or_default()
}

/// Refuses a request that meets one of the employee's pending or approved requests.
pub fn check_overlap<'a>(
    span: &LeaveSpan,
    active: impl IntoIterator<Item = (&'a str, LeaveSpan)>,
) -> Result<(), LeaveRule> {
    for (id, other) in active {
        if span.overlaps(&other) {
            return Err(LeaveRule::Overlap {
                other_request_id: id.to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks a request's length and halves against its type.
pub fn check_request_against_type(
    span: &LeaveSpan,
    days: i64,
    rules: &LeaveTypeRules,
) -> Result<(), LeaveRule> {
    if span.has_half_day() && !rules.allows_half_day {
        return Err(LeaveRule::HalfDayNotAllowed);
    }
    if days == 0 {
        return Err(LeaveRule::NoWorkingDays);
    }
    if let Some(max) = rules.max_consecutive {
        if days > max {
            return Err(LeaveRule::MaxConsecutiveDaysExceeded {
                max_days: max,
                requested: days,
            });
        }
    }
    Ok(())
}

/// The kinds of ledger entries. A balance is the sum of its entries, never a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// Earned by the policy for a period (positive).
    Accrual,
    /// Taken by an approved request (negative).
    Usage,
    /// Given back by cancelling an approved request (positive).
    Reversal,
    /// Brought into a new year, up to the policy's cap (positive).
    CarryForward,
    /// The previous year's balance closing (negative).
    Expiry,
    /// Corrected by HR with a reason (either sign).
    Adjustment,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Accrual => "accrual",
            LedgerKind::Usage => "usage",
            LedgerKind::Reversal => "reversal",
            LedgerKind::CarryForward => "carry_forward",
            LedgerKind::Expiry => "expiry",
            LedgerKind::Adjustment => "adjustment",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        Some(match value {
            "accrual" => LedgerKind::Accrual,
            "usage" => LedgerKind::Usage,
            "reversal" => LedgerKind::Reversal,
            "carry_forward" => LedgerKind::CarryForward,
            "expiry" => LedgerKind::Expiry,
            "adjustment" => LedgerKind::Adjustment,
            _ => return None,
        })
    }
}

/// The balance: the sum of the ledger's amounts.
pub fn balance(amounts: impl IntoIterator<Item = i64>) -> i64 {
    amounts.into_iter().sum()
}

/// Refuses taking `requested` from `available` when that goes below zero, unless the type
/// allows a negative balance.
pub fn check_balance(
    available: i64,
    requested: i64,
    allow_negative: bool,
) -> Result<(), LeaveRule> {
    if !allow_negative && requested > available {
        return Err(LeaveRule::InsufficientBalance {
            available,
            requested,
        });
    }
    Ok(())
}

/// How often a policy accrues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccrualFrequency {
    Monthly,
    Yearly,
}

impl AccrualFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            AccrualFrequency::Monthly => "monthly",
            AccrualFrequency::Yearly => "yearly",
        }
    }

    pub fn from_db(value: &str) -> Self {
        if value == "yearly" {
            AccrualFrequency::Yearly
        } else {
            AccrualFrequency::Monthly
        }
    }
}

/// The period an accrual run covers: a month (`2026-03`) for monthly policies, a year (`2026`)
/// for yearly ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccrualPeriod {
    Month { year: i32, month: u32 },
    Year { year: i32 },
}

impl AccrualPeriod {
    /// Parses `YYYY-MM` or `YYYY` (years 2000 to 2999).
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let bad =
            || ApiError::bad_input("period", "a period is a month `YYYY-MM` or a year `YYYY`");
        let raw = raw.trim();
        let year_of = |text: &str| -> Result<i32, ApiError> {
            if text.len() != 4 || !text.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let year: i32 = text.parse().map_err(|_| bad())?;
            if !(2000..=2999).contains(&year) {
                return Err(bad());
            }
            Ok(year)
        };
        match raw.split_once('-') {
            None => Ok(AccrualPeriod::Year {
                year: year_of(raw)?,
            }),
            Some((year, month)) => {
                if month.len() != 2 || !month.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                let month: u32 = month.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&month) {
                    return Err(bad());
                }
                Ok(AccrualPeriod::Month {
                    year: year_of(year)?,
                    month,
                })
            }
        }
    }

    pub fn frequency(self) -> AccrualFrequency {
        match self {
            AccrualPeriod::Month { .. } => AccrualFrequency::Monthly,
            AccrualPeriod::Year { .. } => AccrualFrequency::Yearly,
        }
    }

    /// `2026-03` or `2026`: also the idempotency key of the period's accrual entries.
    pub fn key(self) -> String {
        match self {
            AccrualPeriod::Month { year, month } => format!("{year}-{month:02}"),
            AccrualPeriod::Year { year } => format!("{year}"),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        let (year, month) = match self {
            AccrualPeriod::Month { year, month } => (year, month),
            AccrualPeriod::Year { year } => (year, 1),
        };
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default()
    }

    pub fn last_day(self) -> NaiveDate {
        let next = match self {
            AccrualPeriod::Month { year, month: 12 } => (year + 1, 1),
            AccrualPeriod::Month { year, month } => (year, month + 1),
            AccrualPeriod::Year { year } => (year + 1, 1),
        };
        NaiveDate::from_ymd_opt(next.0, next.1, 1)
            .and_then(|d| d.pred_opt())
            .unwrap_or_default()
    }
}

/// What one employee earns for one period: nothing if they joined after it ended; the full
/// amount if they were employed from its first day; otherwise, with proration, the amount times
/// the share of the period's days they were employed (rounded half up to the hundredth), and
/// without proration the full amount.
pub fn accrual_for_period(
    amount: i64,
    period: AccrualPeriod,
    hired_on: NaiveDate,
    prorate_joiners: bool,
) -> i64 {
    let (first, last) = (period.first_day(), period.last_day());
    if hired_on > last {
        return 0;
    }
    if hired_on <= first || !prorate_joiners {
        return amount;
    }
    let period_days = (last - first).num_days() + 1;
    let employed_days = (last - hired_on).num_days() + 1;
    // Half up, in integers: (2 * a * e + p) / (2 * p).
    (2 * amount * employed_days + period_days) / (2 * period_days)
}

/// The closing of a leave year for one balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearEnd {
    /// The (positive) balance that closes: written as a negative `expiry` entry on the last day.
    pub closed: i64,
    /// What comes into the new year: written as a `carry_forward` entry on the first day.
    pub carried: i64,
}

impl YearEnd {
    /// What is lost at year end.
    pub fn lapsed(&self) -> i64 {
        self.closed - self.carried
    }
}

/// Closes a year's balance: a positive balance carries forward up to `cap` and the rest lapses;
/// a negative or zero balance stays as it is (a debt is not forgiven by the calendar).
pub fn close_year(balance: i64, cap: i64) -> Option<YearEnd> {
    if balance <= 0 {
        return None;
    }
    Some(YearEnd {
        closed: balance,
        carried: balance.min(cap.max(0)),
    })
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveStatus {
    /// Waiting for the employee's manager.
    PendingManager,
    /// Waiting for HR (after the manager, or first when there is no manager).
    PendingHr,
    Approved,
    Rejected,
    Cancelled,
}

impl LeaveStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveStatus::PendingManager => "pending_manager",
            LeaveStatus::PendingHr => "pending_hr",
            LeaveStatus::Approved => "approved",
            LeaveStatus::Rejected => "rejected",
            LeaveStatus::Cancelled => "cancelled",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        Some(match value {
            "pending_manager" => LeaveStatus::PendingManager,
            "pending_hr" => LeaveStatus::PendingHr,
            "approved" => LeaveStatus::Approved,
            "rejected" => LeaveStatus::Rejected,
            "cancelled" => LeaveStatus::Cancelled,
            _ => return None,
        })
    }

    pub fn is_pending(self) -> bool {
        matches!(self, LeaveStatus::PendingManager | LeaveStatus::PendingHr)
    }

    /// Pending and approved requests hold their days: they block overlaps.
    pub fn is_active(self) -> bool {
        self.is_pending() || self == LeaveStatus::Approved
    }
}

/// The status a new request starts in.
pub fn initial_status(requires_approval: bool, has_active_manager: bool) -> LeaveStatus {
    match (requires_approval, has_active_manager) {
        (false, _) => LeaveStatus::Approved,
        (true, true) => LeaveStatus::PendingManager,
        (true, false) => LeaveStatus::PendingHr,
    }
}

/// The facts of a request a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub status: LeaveStatus,
    pub employee_id: &'a str,
    /// The manager who approves the first step (fixed when the request was made).
    pub manager_id: Option<&'a str>,
    pub start: NaiveDate,
}

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub struct ActorFacts<'a> {
    /// The caller's employee record, if they have one.
    pub employee_id: Option<&'a str>,
    /// Whether the caller holds HR's approval scope (`hr:admin`).
    pub is_hr: bool,
}

/// What a decision does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// The status after `decision` on `request` by `actor`, or the rule it breaks. The manager
/// decides the first step, HR the second; nobody decides on their own leave.
pub fn decide(
    request: &RequestFacts<'_>,
    actor: &ActorFacts<'_>,
    decision: Decision,
) -> Result<LeaveStatus, LeaveRule> {
    let action = match decision {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
    };
    if !request.status.is_pending() {
        return Err(LeaveRule::InvalidState {
            status: request.status,
            action,
        });
    }
    if actor.employee_id == Some(request.employee_id) {
        return Err(LeaveRule::SelfApproval);
    }
    let may_decide = match request.status {
        LeaveStatus::PendingManager => {
            actor.employee_id.is_some() && actor.employee_id == request.manager_id
        }
        _ => actor.is_hr,
    };
    if !may_decide {
        return Err(LeaveRule::NotTheApprover);
    }
    Ok(match (decision, request.status) {
        (Decision::Reject, _) => LeaveStatus::Rejected,
        (Decision::Approve, LeaveStatus::PendingManager) => LeaveStatus::PendingHr,
        (Decision::Approve, _) => LeaveStatus::Approved,
    })
}

/// Whether the employee may cancel: their own request, pending or approved, before its first
/// day. Returns whether the ledger must be given back (an approved request was cancelled).
pub fn check_cancel(
    request: &RequestFacts<'_>,
    actor: &ActorFacts<'_>,
    today: NaiveDate,
) -> Result<bool, LeaveRule> {
    if actor.employee_id != Some(request.employee_id) {
        return Err(LeaveRule::NotTheRequester);
    }
    if !request.status.is_active() {
        return Err(LeaveRule::InvalidState {
            status: request.status,
            action: "cancelled",
        });
    }
    if today >= request.start {
        return Err(LeaveRule::AlreadyStarted);
    }
    Ok(request.status == LeaveStatus::Approved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn span(start: NaiveDate, end: NaiveDate) -> LeaveSpan {
        LeaveSpan::parse(start, end, None, None).unwrap()
    }

    fn calendar(holidays: &[NaiveDate]) -> WorkCalendar {
        WorkCalendar {
            weekend: vec![Weekday::Sat, Weekday::Sun],
            holidays: holidays.iter().copied().collect(),
        }
    }

    #[test]
    fn days_are_parsed_in_hundredths() {
        assert_eq!(parse_days("d", 1.5, false, false).unwrap(), 150);
        assert_eq!(parse_days("d", 1.67, false, false).unwrap(), 167);
        assert_eq!(parse_days("d", -2.0, true, false).unwrap(), -200);
        assert_eq!(parse_days("d", 0.0, false, true).unwrap(), 0);
        assert!(parse_days("d", 0.0, false, false).is_err());
        assert!(parse_days("d", -1.0, false, false).is_err());
        assert!(parse_days("d", 1.234, false, false).is_err());
        assert!(parse_days("d", f64::NAN, true, true).is_err());
        assert!(parse_days("d", 367.0, true, true).is_err());
        assert_eq!(format_days(150), "1.5");
        assert_eq!(format_days(167), "1.67");
        assert_eq!(format_days(-200), "-2");
        assert_eq!(format_days(5), "0.05");
    }

    #[test]
    fn codes_and_reasons() {
        assert_eq!(parse_type_code(" annual ").unwrap(), "ANNUAL");
        assert!(parse_type_code("").is_err());
        assert!(parse_type_code("SICK LEAVE").is_err());
        assert!(parse_type_code(&"A".repeat(17)).is_err());
        assert_eq!(parse_reason("r", "  family  ").unwrap(), "family");
        assert!(parse_reason("r", "   ").is_err());
        assert!(parse_reason("r", &"x".repeat(501)).is_err());
        assert!(parse_reason("r", "a\u{7}b").is_err());
    }

    #[test]
    fn spans_and_their_halves() {
        let mon = date(2026, 3, 2);
        let fri = date(2026, 3, 6);
        assert!(
            LeaveSpan::parse(fri, mon, None, None).is_err(),
            "end before start"
        );
        assert!(
            LeaveSpan::parse(mon, date(2027, 3, 3), None, None).is_err(),
            "too long"
        );
        assert!(
            LeaveSpan::parse(mon, date(2027, 3, 2), None, None).is_ok(),
            "366 days"
        );
        assert!(LeaveSpan::parse(mon, fri, Some(DayHalf::First), None).is_err());
        assert!(LeaveSpan::parse(mon, fri, None, Some(DayHalf::Second)).is_err());
        assert!(LeaveSpan::parse(mon, mon, Some(DayHalf::First), Some(DayHalf::Second)).is_err());
        let morning = LeaveSpan::parse(mon, mon, Some(DayHalf::First), None).unwrap();
        assert_eq!(morning.end_half, Some(DayHalf::First), "normalised");
        assert!(morning.has_half_day());
        assert!(!span(mon, fri).has_half_day());
    }

    #[test]
    fn working_days_exclude_weekends_and_holidays() {
        // Mon 2 March to Sun 15 March 2026: ten weekdays.
        let two_weeks = span(date(2026, 3, 2), date(2026, 3, 15));
        assert_eq!(count_leave_days(&two_weeks, &calendar(&[])), 1000);
        // A holiday on Wednesday 4 March and one on a Saturday (no effect).
        let holidays = calendar(&[date(2026, 3, 4), date(2026, 3, 7)]);
        assert_eq!(count_leave_days(&two_weeks, &holidays), 900);
        // A weekend only.
        let weekend = span(date(2026, 3, 7), date(2026, 3, 8));
        assert_eq!(count_leave_days(&weekend, &calendar(&[])), 0);
        // A Friday/Saturday weekend.
        let gulf = WorkCalendar {
            weekend: vec![Weekday::Fri, Weekday::Sat],
            holidays: HashSet::new(),
        };
        assert_eq!(count_leave_days(&weekend, &gulf), 100, "Sunday is worked");
    }

    #[test]
    fn half_days_count_half() {
        let (mon, wed) = (date(2026, 3, 2), date(2026, 3, 4));
        let afternoon_to_noon =
            LeaveSpan::parse(mon, wed, Some(DayHalf::Second), Some(DayHalf::First)).unwrap();
        assert_eq!(count_leave_days(&afternoon_to_noon, &calendar(&[])), 200);
        let morning = LeaveSpan::parse(mon, mon, None, Some(DayHalf::First)).unwrap();
        assert_eq!(count_leave_days(&morning, &calendar(&[])), 50);
        // A half day on a holiday takes nothing.
        assert_eq!(count_leave_days(&morning, &calendar(&[mon])), 0);
        // Starting on Friday afternoon, ending Monday at noon: one day.
        let friday_to_monday = LeaveSpan::parse(
            date(2026, 3, 6),
            date(2026, 3, 9),
            Some(DayHalf::Second),
            Some(DayHalf::First),
        )
        .unwrap();
        assert_eq!(count_leave_days(&friday_to_monday, &calendar(&[])), 100);
    }

    #[test]
    fn overlaps_to_the_half_day() {
        let (mon, tue, wed) = (date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4));
        let mon_tue = span(mon, tue);
        assert!(mon_tue.overlaps(&span(tue, wed)));
        assert!(!mon_tue.overlaps(&span(wed, wed)));
        let morning = LeaveSpan::parse(tue, tue, Some(DayHalf::First), None).unwrap();
        let afternoon = LeaveSpan::parse(tue, tue, Some(DayHalf::Second), None).unwrap();
        assert!(!morning.overlaps(&afternoon), "complementary halves");
        assert!(morning.overlaps(&morning));
        assert!(afternoon.overlaps(&mon_tue));
        let until_noon = LeaveSpan::parse(mon, tue, None, Some(DayHalf::First)).unwrap();
        assert!(!until_noon.overlaps(&afternoon));
        let from_afternoon = LeaveSpan::parse(tue, wed, Some(DayHalf::Second), None).unwrap();
        assert!(!until_noon.overlaps(&from_afternoon));
        assert_eq!(
            check_overlap(&span(mon, wed), [("r1", afternoon)]),
            Err(LeaveRule::Overlap {
                other_request_id: "r1".into()
            })
        );
        assert!(check_overlap(&morning, [("r1", afternoon)]).is_ok());
    }

    #[test]
    fn type_rules() {
        let mut rules = LeaveTypeRules {
            paid: true,
            allows_half_day: false,
            requires_approval: true,
            max_consecutive: Some(300),
            allow_negative_balance: false,
        };
        let mon = date(2026, 3, 2);
        let morning = LeaveSpan::parse(mon, mon, Some(DayHalf::First), None).unwrap();
        assert_eq!(
            check_request_against_type(&morning, 50, &rules),
            Err(LeaveRule::HalfDayNotAllowed)
        );
        rules.allows_half_day = true;
        assert!(check_request_against_type(&morning, 50, &rules).is_ok());
        assert_eq!(
            check_request_against_type(&morning, 0, &rules),
            Err(LeaveRule::NoWorkingDays)
        );
        assert_eq!(
            check_request_against_type(&span(mon, date(2026, 3, 5)), 400, &rules)
                .map_err(|e| e.reason().name()),
            Err("MAX_CONSECUTIVE_DAYS_EXCEEDED")
        );
    }

    #[test]
    fn balances_are_sums_and_are_checked() {
        assert_eq!(balance([1000, -300, 300, -50]), 950);
        assert!(check_balance(500, 500, false).is_ok());
        assert_eq!(
            check_balance(450, 500, false),
            Err(LeaveRule::InsufficientBalance {
                available: 450,
                requested: 500
            })
        );
        assert!(check_balance(-100, 500, true).is_ok());
        assert_eq!(
            LeaveRule::InsufficientBalance {
                available: 450,
                requested: 500
            }
            .message(),
            "the leave needs 5 days but only 4.5 are available"
        );
    }

    #[test]
    fn accrual_periods() {
        let march = AccrualPeriod::parse("2026-03").unwrap();
        assert_eq!(march.key(), "2026-03");
        assert_eq!(march.first_day(), date(2026, 3, 1));
        assert_eq!(march.last_day(), date(2026, 3, 31));
        assert_eq!(march.frequency(), AccrualFrequency::Monthly);
        let december = AccrualPeriod::parse("2026-12").unwrap();
        assert_eq!(december.last_day(), date(2026, 12, 31));
        let feb = AccrualPeriod::parse("2028-02").unwrap();
        assert_eq!(feb.last_day(), date(2028, 2, 29), "leap year");
        let year = AccrualPeriod::parse("2026").unwrap();
        assert_eq!(year.frequency(), AccrualFrequency::Yearly);
        assert_eq!(
            (year.first_day(), year.last_day()),
            (date(2026, 1, 1), date(2026, 12, 31))
        );
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-3",
            "2026-00",
            "1999",
            "abcd",
            "2026-03-01",
        ] {
            assert!(AccrualPeriod::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accrual_prorates_joiners() {
        let march = AccrualPeriod::parse("2026-03").unwrap();
        // Employed all month: the full 1.67 days.
        assert_eq!(accrual_for_period(167, march, date(2025, 6, 1), true), 167);
        assert_eq!(accrual_for_period(167, march, date(2026, 3, 1), true), 167);
        // Joined on 17 March: 15 of 31 days, 1.67 * 15 / 31 = 0.808 -> 0.81.
        assert_eq!(accrual_for_period(167, march, date(2026, 3, 17), true), 81);
        // Without proration a joiner earns the whole period.
        assert_eq!(
            accrual_for_period(167, march, date(2026, 3, 17), false),
            167
        );
        // Joined after the period: nothing.
        assert_eq!(accrual_for_period(167, march, date(2026, 4, 1), true), 0);
        assert_eq!(accrual_for_period(167, march, date(2026, 4, 1), false), 0);
        // A yearly grant of 24 days, joined 1 July 2026: 184 of 365 days -> 12.10 days.
        let year = AccrualPeriod::parse("2026").unwrap();
        assert_eq!(accrual_for_period(2400, year, date(2026, 7, 1), true), 1210);
    }

    #[test]
    fn year_end_caps_the_carry_forward() {
        assert_eq!(
            close_year(1200, 500),
            Some(YearEnd {
                closed: 1200,
                carried: 500
            })
        );
        assert_eq!(close_year(1200, 500).unwrap().lapsed(), 700);
        assert_eq!(close_year(300, 500).unwrap().lapsed(), 0, "under the cap");
        assert_eq!(close_year(300, 0).unwrap().carried, 0, "nothing carries");
        assert_eq!(close_year(0, 500), None);
        assert_eq!(close_year(-150, 500), None, "a debt stays");
    }

    #[test]
    fn new_requests_start_at_the_right_step() {
        assert_eq!(initial_status(true, true), LeaveStatus::PendingManager);
        assert_eq!(initial_status(true, false), LeaveStatus::PendingHr);
        assert_eq!(initial_status(false, true), LeaveStatus::Approved);
    }

    #[test]
    fn approval_chain() {
        let start = date(2026, 3, 2);
        let request = |status| RequestFacts {
            status,
            employee_id: "emp",
            manager_id: Some("mgr"),
            start,
        };
        let manager = ActorFacts {
            employee_id: Some("mgr"),
            is_hr: false,
        };
        let hr = ActorFacts {
            employee_id: Some("hr"),
            is_hr: true,
        };
        let hr_without_record = ActorFacts {
            employee_id: None,
            is_hr: true,
        };
        let stranger = ActorFacts {
            employee_id: Some("x"),
            is_hr: false,
        };
        let own_hr = ActorFacts {
            employee_id: Some("emp"),
            is_hr: true,
        };
        use Decision::*;
        use LeaveStatus::*;
        assert_eq!(
            decide(&request(PendingManager), &manager, Approve),
            Ok(PendingHr)
        );
        assert_eq!(
            decide(&request(PendingManager), &hr, Approve),
            Err(LeaveRule::NotTheApprover),
            "HR waits for the manager"
        );
        assert_eq!(
            decide(&request(PendingManager), &stranger, Approve),
            Err(LeaveRule::NotTheApprover)
        );
        assert_eq!(decide(&request(PendingHr), &hr, Approve), Ok(Approved));
        assert_eq!(
            decide(&request(PendingHr), &hr_without_record, Approve),
            Ok(Approved)
        );
        assert_eq!(
            decide(&request(PendingHr), &manager, Approve),
            Err(LeaveRule::NotTheApprover)
        );
        assert_eq!(
            decide(&request(PendingHr), &own_hr, Approve),
            Err(LeaveRule::SelfApproval)
        );
        assert_eq!(
            decide(&request(PendingManager), &own_hr, Reject),
            Err(LeaveRule::SelfApproval)
        );
        assert_eq!(
            decide(&request(PendingManager), &manager, Reject),
            Ok(Rejected)
        );
        assert_eq!(decide(&request(PendingHr), &hr, Reject), Ok(Rejected));
        for done in [Approved, Rejected, Cancelled] {
            assert_eq!(
                decide(&request(done), &hr, Approve).map_err(|e| e.reason().name()),
                Err("INVALID_LEAVE_STATE")
            );
        }
        // Without a manager, the manager step never matches anyone.
        let orphan = RequestFacts {
            manager_id: None,
            ..request(PendingManager)
        };
        assert_eq!(
            decide(&orphan, &hr_without_record, Approve),
            Err(LeaveRule::NotTheApprover)
        );
    }

    #[test]
    fn cancellation() {
        let start = date(2026, 3, 2);
        let request = |status| RequestFacts {
            status,
            employee_id: "emp",
            manager_id: Some("mgr"),
            start,
        };
        let owner = ActorFacts {
            employee_id: Some("emp"),
            is_hr: false,
        };
        let manager = ActorFacts {
            employee_id: Some("mgr"),
            is_hr: true,
        };
        let before = date(2026, 3, 1);
        assert_eq!(
            check_cancel(&request(LeaveStatus::PendingManager), &owner, before),
            Ok(false)
        );
        assert_eq!(
            check_cancel(&request(LeaveStatus::Approved), &owner, before),
            Ok(true)
        );
        assert_eq!(
            check_cancel(&request(LeaveStatus::Approved), &owner, start),
            Err(LeaveRule::AlreadyStarted)
        );
        assert_eq!(
            check_cancel(&request(LeaveStatus::Approved), &manager, before),
            Err(LeaveRule::NotTheRequester)
        );
        assert_eq!(
            check_cancel(&request(LeaveStatus::Rejected), &owner, before)
                .map_err(|e| e.reason().name()),
            Err("INVALID_LEAVE_STATE")
        );
        assert_eq!(
            check_cancel(&request(LeaveStatus::Cancelled), &owner, before)
                .map_err(|e| e.reason().name()),
            Err("INVALID_LEAVE_STATE")
        );
    }

    #[test]
    fn stored_forms_round_trip() {
        for status in [
            LeaveStatus::PendingManager,
            LeaveStatus::PendingHr,
            LeaveStatus::Approved,
            LeaveStatus::Rejected,
            LeaveStatus::Cancelled,
        ] {
            assert_eq!(LeaveStatus::from_db(status.as_str()), Some(status));
        }
        for kind in [
            LedgerKind::Accrual,
            LedgerKind::Usage,
            LedgerKind::Reversal,
            LedgerKind::CarryForward,
            LedgerKind::Expiry,
            LedgerKind::Adjustment,
        ] {
            assert_eq!(LedgerKind::from_db(kind.as_str()), Some(kind));
        }
        let weekend = parse_weekend(&[5, 6]).unwrap();
        assert_eq!(weekend_to_db(&weekend), "5,6");
        assert_eq!(weekend_from_db("5,6"), weekend);
        assert!(parse_weekend(&[0]).is_err());
        assert!(parse_weekend(&[6, 6]).is_err());
        assert!(parse_weekend(&[1, 2, 3, 4, 5, 6, 7]).is_err());
        assert_eq!(DayHalf::from_db("second"), Some(DayHalf::Second));
    }
}
