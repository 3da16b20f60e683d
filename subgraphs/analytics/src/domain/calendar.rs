//! A tenant's reporting calendar: the time zone its days are counted in and the month its
//! fiscal year starts in (an `analytics:admin` setting; UTC and January until set).
//!
//! Facts dated by an instant (a time entry's start, a check-in, a closed sprint) carry it
//! (`at_ms`); reports place it on the tenant's local calendar at query time, so a changed
//! setting applies to every fact already stored. Facts dated by a calendar date (an invoice's
//! date, a leave's first day, a payroll period's last day) keep their day: it is already the
//! tenant's.
//!
//! Both engines must agree to the character, so the time zone's rules are read here, once
//! (the IANA database compiled into `chrono-tz`), and compiled into the SQL as plain integer
//! offsets per span of UTC instants ([`Calendar::offset_spans`]); the engines only format a
//! UTC instant, which they do alike. The fiscal year of a month is likewise a generated
//! `CASE` over month strings.

use chrono::{DateTime, Datelike, Months, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use erp_kit::ApiError;

use super::reasons;

/// How far before and after a query's range the offset spans reach: any instant whose local
/// day is in the range lies within a day of it (offsets stay within ±14 h).
const MARGIN_DAYS: i64 = 2;

/// A tenant's reporting calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    pub time_zone: Tz,
    /// 1 (January: the calendar year) to 12.
    pub fiscal_year_start_month: u32,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            fiscal_year_start_month: 1,
        }
    }
}

/// A span of UTC instants with one offset: from `start_ms` (the previous span's end) on,
/// local time is UTC + `offset_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSpan {
    pub start_ms: i64,
    pub offset_ms: i64,
}

impl Calendar {
    /// A calendar of `time_zone` whose fiscal year starts in `fiscal_year_start_month`.
    pub fn new(time_zone: Tz, fiscal_year_start_month: i32) -> Result<Self, ApiError> {
        let month = u32::try_from(fiscal_year_start_month)
            .ok()
            .filter(|month| (1..=12).contains(month))
            .ok_or_else(|| {
                ApiError::rule(
                    reasons::INVALID_CALENDAR,
                    format!(
                        "a fiscal year starts in a month from 1 (January) to 12, not {fiscal_year_start_month}"
                    ),
                )
                .on_field("fiscalYearStartMonth")
            })?;
        Ok(Self {
            time_zone,
            fiscal_year_start_month: month,
        })
    }

    fn offset_ms_at(&self, at_ms: i64) -> i64 {
        let instant = DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default();
        i64::from(
            self.time_zone
                .offset_from_utc_datetime(&instant.naive_utc())
                .fix()
                .local_minus_utc(),
        ) * 1000
    }

    /// The local date of the instant `at_ms` (Unix milliseconds): the instant plus the zone's
    /// offset then, formatted in UTC, the arithmetic the compiled SQL does with
    /// [`Calendar::offset_spans`].
    pub fn local_date(&self, at_ms: i64) -> NaiveDate {
        DateTime::<Utc>::from_timestamp_millis(at_ms.saturating_add(self.offset_ms_at(at_ms)))
            .unwrap_or_default()
            .date_naive()
    }

    /// The offsets in force from a little before `from` to a little after `to` (local days),
    /// oldest first: the first span covers everything before the second's start. Transitions
    /// are found to the second (hourly probes, then bisection).
    pub fn offset_spans(&self, from: NaiveDate, to: NaiveDate) -> Vec<OffsetSpan> {
        let day_ms = 86_400_000;
        let start = from
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis()
            - MARGIN_DAYS * day_ms;
        let end = to
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis()
            + (MARGIN_DAYS + 1) * day_ms;
        let mut spans = vec![OffsetSpan {
            start_ms: i64::MIN,
            offset_ms: self.offset_ms_at(start),
        }];
        let hour = 3_600_000;
        let mut probe = start;
        while probe < end {
            let next = probe + hour;
            let before = self.offset_ms_at(probe);
            if self.offset_ms_at(next) != before {
                // The first second whose offset differs from `before`.
                let (mut low, mut high) = (probe, next);
                while high - low > 1_000 {
                    let middle = low + (high - low) / 2 / 1_000 * 1_000;
                    let middle = if middle == low { low + 1_000 } else { middle };
                    if self.offset_ms_at(middle) == before {
                        low = middle;
                    } else {
                        high = middle;
                    }
                }
                spans.push(OffsetSpan {
                    start_ms: high,
                    offset_ms: self.offset_ms_at(high),
                });
            }
            probe = next;
        }
        spans
    }

    /// The fiscal year `month` (`YYYY-MM`) is in: `FY2026` when years start in January,
    /// else `FY2026-27` (April 2026 to March 2027 when they start in April).
    pub fn fiscal_year_of_month(&self, month: &str) -> String {
        let parsed = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d");
        match parsed {
            Ok(first) => {
                let start_year = if first.month() >= self.fiscal_year_start_month {
                    first.year()
                } else {
                    first.year() - 1
                };
                self.fiscal_label(start_year)
            }
            Err(_) => String::new(),
        }
    }

    fn fiscal_label(&self, start_year: i32) -> String {
        if self.fiscal_year_start_month == 1 {
            format!("FY{start_year:04}")
        } else {
            format!("FY{start_year:04}-{:02}", (start_year + 1).rem_euclid(100))
        }
    }

    /// The fiscal years overlapping `[from, to]`: (label, first month, last month), as
    /// `YYYY-MM` strings.
    pub fn fiscal_years(&self, from: NaiveDate, to: NaiveDate) -> Vec<(String, String, String)> {
        let mut years = Vec::new();
        for start_year in (from.year() - 1)..=(to.year() + 1) {
            let Some(first) = NaiveDate::from_ymd_opt(start_year, self.fiscal_year_start_month, 1)
            else {
                continue;
            };
            let Some(last) = first
                .checked_add_months(Months::new(12))
                .and_then(|next| next.pred_opt())
            else {
                continue;
            };
            if last < from || first > to {
                continue;
            }
            years.push((
                self.fiscal_label(start_year),
                first.format("%Y-%m").to_string(),
                last.format("%Y-%m").to_string(),
            ));
        }
        years
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn berlin_offsets_change_at_the_dst_instants_to_the_second() {
        let berlin = Calendar::new(chrono_tz::Europe::Berlin, 1).unwrap();
        let spans = berlin.offset_spans(day("2026-03-01"), day("2026-10-31"));
        assert_eq!(
            spans,
            vec![
                OffsetSpan {
                    start_ms: i64::MIN,
                    offset_ms: 3_600_000
                },
                // Summer time from 01:00 UTC on the last Sunday of March ...
                OffsetSpan {
                    start_ms: ms("2026-03-29T01:00:00Z"),
                    offset_ms: 7_200_000
                },
                // ... to 01:00 UTC on the last Sunday of October.
                OffsetSpan {
                    start_ms: ms("2026-10-25T01:00:00Z"),
                    offset_ms: 3_600_000
                },
            ]
        );
        let utc = Calendar::default().offset_spans(day("2026-01-01"), day("2026-12-31"));
        assert_eq!(utc.len(), 1);
        // Kolkata keeps +05:30 all year.
        let kolkata = Calendar::new(chrono_tz::Asia::Kolkata, 4).unwrap();
        assert_eq!(
            kolkata.offset_spans(day("2026-01-01"), day("2026-12-31")),
            vec![OffsetSpan {
                start_ms: i64::MIN,
                offset_ms: 19_800_000
            }]
        );
    }

    #[test]
    fn fiscal_years_are_labelled_by_their_start_and_end_years() {
        let april = Calendar::new(Tz::UTC, 4).unwrap();
        assert_eq!(april.fiscal_year_of_month("2026-03"), "FY2025-26");
        assert_eq!(april.fiscal_year_of_month("2026-04"), "FY2026-27");
        assert_eq!(april.fiscal_year_of_month("2099-12"), "FY2099-00");
        assert_eq!(
            Calendar::default().fiscal_year_of_month("2026-03"),
            "FY2026"
        );
        assert_eq!(
            april.fiscal_years(day("2026-03-15"), day("2026-04-15")),
            vec![
                ("FY2025-26".into(), "2025-04".into(), "2026-03".into()),
                ("FY2026-27".into(), "2026-04".into(), "2027-03".into()),
            ]
        );
        for month in [0, 13, -1] {
            assert!(Calendar::new(Tz::UTC, month).is_err());
        }
    }
}
