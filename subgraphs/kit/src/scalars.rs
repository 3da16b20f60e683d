//! The API's shared scalars: one name, one format and one description for each kind of value
//! in every subgraph, so a client maps each once (codegen: `DateTime`, `Date`, `IsoWeek`,
//! `TimeOfDay`, `TimeZone`, `Decimal`, `CurrencyCode` to `string`).
//!
//! - [`DateTime`]: an instant, always `YYYY-MM-DDTHH:MM:SS.sssZ` on output;
//! - [`Date`]: a calendar day, `YYYY-MM-DD`;
//! - [`IsoWeek`]: an ISO 8601 week, `YYYY-Www`;
//! - [`TimeOfDay`]: a wall-clock time, `HH:MM`;
//! - [`TimeZone`]: an IANA time zone name;
//! - money ([`crate::money`]): `Decimal`, `CurrencyCode` and the `Money` object.
//!
//! Each scalar refuses a malformed value while the request is validated (its `is_valid`), so a
//! resolver never sees one and the client gets BAD_USER_INPUT naming the argument or input
//! field (see [`crate::http`]).

use std::fmt;
use std::str::FromStr;

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{Datelike, NaiveDate, NaiveTime, SecondsFormat, TimeZone as _, Utc, Weekday};

/// An instant, serialised one way everywhere (queries, mutations, subscriptions, events read
/// back): RFC 3339 in UTC with milliseconds and `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DateTime(chrono::DateTime<Utc>);

impl DateTime {
    /// The instant `ms` milliseconds after the Unix epoch (None past chrono's range).
    pub fn from_millis(ms: i64) -> Option<Self> {
        Utc.timestamp_millis_opt(ms).single().map(Self)
    }

    /// Now, to the millisecond.
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    pub fn utc(&self) -> chrono::DateTime<Utc> {
        self.0
    }

    pub fn timestamp_millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Parses any RFC 3339 `date-time` (any offset, any fraction) into UTC milliseconds.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| Self::from(at.with_timezone(&Utc)))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    /// Truncates to the millisecond: what the API shows is what is stored and compared.
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self::from_millis(at.timestamp_millis()).unwrap_or_default()
    }
}

impl From<DateTime> for chrono::DateTime<Utc> {
    fn from(at: DateTime) -> Self {
        at.0
    }
}

impl fmt::Display for DateTime {
    /// `2026-01-05T09:30:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

fn string_of(value: &Value) -> Option<&str> {
    match value {
        Value::String(text) => Some(text),
        _ => None,
    }
}

/// An instant: an RFC 3339 `date-time` in UTC with exactly three fractional digits and the
/// `Z` designator, e.g. `2026-01-05T09:30:00.000Z`, the same in queries, mutations and
/// subscriptions. Inputs take any RFC 3339 `date-time` with an offset
/// (`2026-01-05T15:00:00+05:30`), converted to UTC and truncated to milliseconds.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of(&value)
            .and_then(DateTime::parse_rfc3339)
            .ok_or_else(|| {
                InputValueError::custom(
                    "an instant is an RFC 3339 date-time, e.g. 2026-01-05T09:30:00.000Z",
                )
            })
    }

    fn is_valid(value: &Value) -> bool {
        string_of(value).and_then(DateTime::parse_rfc3339).is_some()
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// A calendar day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    pub fn parse(text: &str) -> Option<Self> {
        // Exactly `YYYY-MM-DD`: chrono alone would take `2026-1-5`.
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(Self)
    }

    pub fn naive(&self) -> NaiveDate {
        self.0
    }
}

impl From<NaiveDate> for Date {
    fn from(day: NaiveDate) -> Self {
        Self(day)
    }
}

impl From<Date> for NaiveDate {
    fn from(day: Date) -> Self {
        day.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// A calendar day without a time zone: an RFC 3339 `full-date` (ISO 8601 extended calendar
/// date), `YYYY-MM-DD`, e.g. `2026-01-05`. The field that holds it says whose day it is (a
/// shift's time zone, the tenant's calendar, UTC).
#[Scalar(
    name = "Date",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of(&value)
            .and_then(Date::parse)
            .ok_or_else(|| InputValueError::custom("a day is YYYY-MM-DD, e.g. 2026-01-05"))
    }

    fn is_valid(value: &Value) -> bool {
        string_of(value).and_then(Date::parse).is_some()
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// An ISO 8601 week, held as its Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    monday: NaiveDate,
}

impl IsoWeek {
    /// `2026-W02` (the week-numbering year, `W`, two digits 01 to 52 or 53).
    pub fn parse(text: &str) -> Option<Self> {
        let (year, week) = text.split_once("-W")?;
        if year.len() != 4 || week.len() != 2 {
            return None;
        }
        if !year.bytes().chain(week.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let monday =
            NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)?;
        Some(Self { monday })
    }

    /// The week `day` falls in.
    pub fn of(day: NaiveDate) -> Self {
        let back = i64::from(day.weekday().num_days_from_monday());
        Self {
            monday: day - chrono::Duration::days(back),
        }
    }

    pub fn monday(&self) -> NaiveDate {
        self.monday
    }

    pub fn sunday(&self) -> NaiveDate {
        self.monday + chrono::Duration::days(6)
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.monday..=self.sunday()).contains(&day)
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let week = self.monday.iso_week();
        write!(f, "{:04}-W{:02}", week.year(), week.week())
    }
}

/// An ISO 8601 week: `YYYY-Www`, the week-numbering year, `W` and the two-digit week (`01` to
/// `52`, or `53` in long years), e.g. `2026-W02`. Weeks run Monday to Sunday; week `01` is the
/// one with the year's first Thursday, so `2026-W01` starts on Monday 2025-12-29.
#[Scalar(
    name = "IsoWeek",
    specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html"
)]
impl ScalarType for IsoWeek {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of(&value)
            .and_then(IsoWeek::parse)
            .ok_or_else(|| InputValueError::custom("a week is ISO 8601 YYYY-Www, e.g. 2026-W02"))
    }

    fn is_valid(value: &Value) -> bool {
        string_of(value).and_then(IsoWeek::parse).is_some()
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// A wall-clock time of day, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(pub NaiveTime);

impl TimeOfDay {
    /// `HH:MM` on the 24-hour clock, `00:00` to `23:59`.
    pub fn parse(text: &str) -> Option<Self> {
        let (hours, minutes) = text.split_once(':')?;
        if hours.len() != 2 || minutes.len() != 2 {
            return None;
        }
        NaiveTime::parse_from_str(text, "%H:%M").ok().map(Self)
    }

    pub fn naive(&self) -> NaiveTime {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// A wall-clock time of day without a date or time zone: `HH:MM` on the 24-hour clock (ISO
/// 8601 extended format), `00:00` to `23:59`, e.g. `09:30`. The field that holds it names the
/// time zone it is read in.
#[Scalar(
    name = "TimeOfDay",
    specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html"
)]
impl ScalarType for TimeOfDay {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of(&value).and_then(TimeOfDay::parse).ok_or_else(|| {
            InputValueError::custom("a time is HH:MM on the 24-hour clock, e.g. 09:30")
        })
    }

    fn is_valid(value: &Value) -> bool {
        string_of(value).and_then(TimeOfDay::parse).is_some()
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// A time zone of the IANA database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    pub fn parse(name: &str) -> Option<Self> {
        chrono_tz::Tz::from_str(name).ok().map(Self)
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// A time zone: a name of the IANA time zone database (tz), as it spells it, e.g.
/// `Asia/Kolkata`, `Europe/Berlin` or `UTC`. Daylight saving time follows the database.
#[Scalar(
    name = "TimeZone",
    specified_by_url = "https://www.iana.org/time-zones"
)]
impl ScalarType for TimeZone {
    fn parse(value: Value) -> InputValueResult<Self> {
        string_of(&value).and_then(TimeZone::parse).ok_or_else(|| {
            InputValueError::custom(
                "a time zone is an IANA name, e.g. Asia/Kolkata or Europe/Berlin",
            )
        })
    }

    fn is_valid(value: &Value) -> bool {
        string_of(value).and_then(TimeZone::parse).is_some()
    }

    fn to_value(&self) -> Value {
        Value::String(self.name().to_owned())
    }
}

/// A JSON value passed through as it is (WebAuthn's options and credentials).
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub serde_json::Value);

/// A JSON value (RFC 8259), passed through unchanged: an object whose shape the field's
/// description names (e.g. WebAuthn's `PublicKeyCredentialCreationOptions`), not read as
/// GraphQL fields.
#[Scalar(
    name = "JSON",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc8259"
)]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        value
            .into_json()
            .map(Json)
            .map_err(|_| InputValueError::custom("not a JSON value"))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

/// The decision on something waiting for approval (a leave request, an attendance
/// correction, a timesheet): one enum for every approval flow.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ApprovalDecision {
    /// Approve it (the current step, where there are several).
    Approve,
    /// Reject it.
    Reject,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Value) -> String {
        match value {
            Value::String(text) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn instants_are_utc_milliseconds_with_z() {
        let at = DateTime::from_millis(1_796_565_371_777).unwrap();
        assert_eq!(text(at.to_value()), "2026-12-06T13:56:11.777Z");
        let offset = <DateTime as ScalarType>::parse(Value::String(
            "2026-01-05T15:00:00.123456789+05:30".into(),
        ))
        .unwrap();
        assert_eq!(text(offset.to_value()), "2026-01-05T09:30:00.123Z");
        let whole = DateTime::from(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap());
        assert_eq!(text(whole.to_value()), "2026-01-05T09:00:00.000Z");
        for bad in ["2026-01-05", "2026-01-05T09:00:00", "yesterday", ""] {
            assert!(
                !<DateTime as ScalarType>::is_valid(&Value::String(bad.into())),
                "{bad}"
            );
        }
        assert!(!<DateTime as ScalarType>::is_valid(&Value::Number(
            1.into()
        )));
    }

    #[test]
    fn days_are_strict() {
        assert_eq!(Date::parse("2026-01-05").unwrap().to_string(), "2026-01-05");
        for bad in [
            "2026-1-5",
            "2026-02-30",
            "05/01/2026",
            "2026-01-05T00:00:00Z",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn iso_weeks() {
        let week = IsoWeek::parse("2026-W01").unwrap();
        assert_eq!(
            week.monday(),
            NaiveDate::from_ymd_opt(2025, 12, 29).unwrap()
        );
        assert_eq!(week.to_string(), "2026-W01");
        assert_eq!(
            IsoWeek::of(NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()).to_string(),
            "2026-W03"
        );
        assert!(IsoWeek::parse("2025-W53").is_none(), "2025 has 52 weeks");
        assert!(
            IsoWeek::parse("2026-W53").is_some(),
            "2026 starts on a Thursday"
        );
        for bad in ["2026-W2", "2026W02", "2026-w02", "2026-W00", "26-W02"] {
            assert!(IsoWeek::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn times_and_zones() {
        assert_eq!(TimeOfDay::parse("09:30").unwrap().to_string(), "09:30");
        for bad in ["9:30", "24:00", "09:60", "09:30:00", "9am"] {
            assert!(TimeOfDay::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            TimeZone::parse("Asia/Kolkata").unwrap().name(),
            "Asia/Kolkata"
        );
        assert!(TimeZone::parse("Mars/Olympus_Mons").is_none());
    }
}
