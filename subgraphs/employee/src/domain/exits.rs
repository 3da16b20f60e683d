//! Exits: an employee's departure (last working day, reason, notes), when it takes effect, and
//! what a leaver may no longer do.
//!
//! When an exit takes effect: ON the last working day (UTC date). An exit whose last working
//! day is today or past takes effect at once (status `terminated`, `employee.left`); a later
//! one is scheduled (the status stays, `employee.exit_scheduled`) and the exit scheduler puts
//! it in effect on that day. Until then it can be cancelled (`employee.exit_cancelled`); once
//! in effect it cannot (a return is a rehire). The leaver still works their last day (they
//! check in and out on it); a punch of any later attendance day is refused.

use chrono::{Days, NaiveDate};

use erp_kit::{ApiError, Reason, RuleViolation};

use super::reasons;

/// Why an employee leaves (a closed set, as HR reports count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// The employee resigned.
    Resignation,
    /// The employer ended the employment for cause or performance.
    Dismissal,
    /// The position was eliminated (layoff).
    Redundancy,
    /// A fixed-term contract ran out.
    EndOfContract,
    Retirement,
    /// Both sides agreed to end it.
    MutualAgreement,
    Deceased,
    /// Anything else: the notes say what.
    Other,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Resignation => "resignation",
            ExitReason::Dismissal => "dismissal",
            ExitReason::Redundancy => "redundancy",
            ExitReason::EndOfContract => "end_of_contract",
            ExitReason::Retirement => "retirement",
            ExitReason::MutualAgreement => "mutual_agreement",
            ExitReason::Deceased => "deceased",
            ExitReason::Other => "other",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        Some(match value {
            "resignation" => ExitReason::Resignation,
            "dismissal" => ExitReason::Dismissal,
            "redundancy" => ExitReason::Redundancy,
            "end_of_contract" => ExitReason::EndOfContract,
            "retirement" => ExitReason::Retirement,
            "mutual_agreement" => ExitReason::MutualAgreement,
            "deceased" => ExitReason::Deceased,
            "other" => ExitReason::Other,
            _ => return None,
        })
    }
}

/// The longest notes of an exit (characters).
pub const MAX_EXIT_NOTES: usize = 2000;

/// How far ahead a last working day may be scheduled (a notice period, not a guess).
pub const MAX_DAYS_AHEAD: u64 = 366;

/// A validated departure: the reason `Other` needs notes; notes are trimmed, at most
/// [`MAX_EXIT_NOTES`] characters, without control characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub last_working_day: NaiveDate,
    pub reason: ExitReason,
    pub notes: Option<String>,
}

impl Departure {
    pub fn parse(
        last_working_day: NaiveDate,
        reason: ExitReason,
        notes: Option<&str>,
    ) -> Result<Self, ApiError> {
        let notes = notes.map(str::trim).filter(|n| !n.is_empty());
        if let Some(notes) = notes {
            if notes.chars().count() > MAX_EXIT_NOTES {
                return Err(ApiError::bad_input(
                    "notes",
                    format!("the notes are longer than {MAX_EXIT_NOTES} characters"),
                ));
            }
            if notes
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err(ApiError::bad_input(
                    "notes",
                    "the notes contain control characters",
                ));
            }
        }
        if reason == ExitReason::Other && notes.is_none() {
            return Err(ApiError::bad_input(
                "notes",
                "the reason OTHER needs notes saying what it is",
            ));
        }
        Ok(Self {
            last_working_day,
            reason,
            notes: notes.map(str::to_owned),
        })
    }
}

/// Where an employee's exit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitState {
    /// No exit recorded.
    None,
    /// Recorded, not yet in effect (the last working day is ahead).
    Scheduled { last_working_day: NaiveDate },
    /// In effect: the employee left (`last_working_day` unknown for a record terminated before
    /// exits were recorded).
    Effective { last_working_day: Option<NaiveDate> },
}

impl ExitState {
    /// From the stored facts: the last working day, whether the exit took effect, and whether
    /// the status is `terminated`.
    pub fn of(last_working_day: Option<NaiveDate>, took_effect: bool, terminated: bool) -> Self {
        match last_working_day {
            _ if took_effect || terminated => ExitState::Effective { last_working_day },
            Some(last_working_day) => ExitState::Scheduled { last_working_day },
            None => ExitState::None,
        }
    }
}

/// Whether an exit takes effect now or is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitTiming {
    /// The last working day is today or past: in effect at once.
    Immediate,
    /// The last working day is ahead: in effect on that day.
    Scheduled,
}

/// An exit rule broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitRule {
    /// The last working day is before the hiring date.
    BeforeHire { hired_on: NaiveDate },
    /// The last working day is more than [`MAX_DAYS_AHEAD`] days ahead.
    TooFarAhead,
    /// An exit is recorded already (scheduled or in effect).
    AlreadyRecorded { state: ExitState },
    /// Cancelling when no exit is scheduled.
    NotScheduled,
    /// Cancelling an exit that took effect.
    AlreadyEffective,
    /// A punch of an attendance day after the last working day (or of a former employee).
    EmploymentEnded { last_working_day: Option<NaiveDate> },
}

impl RuleViolation for ExitRule {
    fn reason(&self) -> Reason {
        match self {
            ExitRule::BeforeHire { .. } => reasons::EXIT_BEFORE_HIRE,
            ExitRule::TooFarAhead => reasons::EXIT_TOO_FAR_AHEAD,
            ExitRule::AlreadyRecorded { .. } => reasons::EXIT_ALREADY_RECORDED,
            ExitRule::NotScheduled => reasons::NO_EXIT_SCHEDULED,
            ExitRule::AlreadyEffective => reasons::EXIT_ALREADY_EFFECTIVE,
            ExitRule::EmploymentEnded { .. } => reasons::FORMER_EMPLOYEE,
        }
    }

    fn message(&self) -> String {
        match self {
            ExitRule::BeforeHire { hired_on } => {
                format!("the last working day is before the hiring date ({hired_on})")
            }
            ExitRule::TooFarAhead => format!(
                "the last working day is more than {MAX_DAYS_AHEAD} days ahead"
            ),
            ExitRule::AlreadyRecorded { state } => match state {
                ExitState::Scheduled { last_working_day } => format!(
                    "an exit is scheduled already (last working day {last_working_day}): cancel it first to change it"
                ),
                _ => "the employee has left already".into(),
            },
            ExitRule::NotScheduled => "no exit is scheduled for this employee".into(),
            ExitRule::AlreadyEffective => {
                "the exit took effect already: it can no longer be cancelled".into()
            }
            ExitRule::EmploymentEnded {
                last_working_day: Some(day),
            } => format!("the employment ended: the last working day was {day}"),
            ExitRule::EmploymentEnded {
                last_working_day: None,
            } => "the employment ended".into(),
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            ExitRule::BeforeHire { .. } | ExitRule::TooFarAhead => Some("lastWorkingDay"),
            _ => None,
        }
    }
}

/// The rules of recording an exit: none recorded yet, the last working day on or after the
/// hiring date and at most [`MAX_DAYS_AHEAD`] days ahead; answers whether it takes effect now.
pub fn check_exit(
    hired_on: NaiveDate,
    state: ExitState,
    last_working_day: NaiveDate,
    today: NaiveDate,
) -> Result<ExitTiming, ExitRule> {
    if state != ExitState::None {
        return Err(ExitRule::AlreadyRecorded { state });
    }
    if last_working_day < hired_on {
        return Err(ExitRule::BeforeHire { hired_on });
    }
    if last_working_day > today + Days::new(MAX_DAYS_AHEAD) {
        return Err(ExitRule::TooFarAhead);
    }
    Ok(if last_working_day <= today {
        ExitTiming::Immediate
    } else {
        ExitTiming::Scheduled
    })
}

/// Cancelling: only a scheduled exit (not yet in effect) is cancelled.
pub fn check_cancel(state: ExitState) -> Result<(), ExitRule> {
    match state {
        ExitState::Scheduled { .. } => Ok(()),
        ExitState::None => Err(ExitRule::NotScheduled),
        ExitState::Effective { .. } => Err(ExitRule::AlreadyEffective),
    }
}

/// A punch of `attendance_day`: refused after the last working day (the last day itself is
/// worked), and for a former employee whose last day is unknown.
pub fn check_punch_day(state: ExitState, attendance_day: NaiveDate) -> Result<(), ExitRule> {
    match state {
        ExitState::Scheduled { last_working_day }
        | ExitState::Effective {
            last_working_day: Some(last_working_day),
        } if attendance_day > last_working_day => Err(ExitRule::EmploymentEnded {
            last_working_day: Some(last_working_day),
        }),
        ExitState::Effective {
            last_working_day: None,
        } => Err(ExitRule::EmploymentEnded {
            last_working_day: None,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn an_exit_today_or_past_is_immediate_a_later_one_scheduled() {
        let hired = date(2025, 1, 6);
        let today = date(2026, 12, 7);
        assert_eq!(
            check_exit(hired, ExitState::None, today, today),
            Ok(ExitTiming::Immediate)
        );
        assert_eq!(
            check_exit(hired, ExitState::None, date(2026, 11, 30), today),
            Ok(ExitTiming::Immediate)
        );
        assert_eq!(
            check_exit(hired, ExitState::None, date(2026, 12, 8), today),
            Ok(ExitTiming::Scheduled)
        );
        // The hiring day itself is a possible last day; the day before is not.
        assert_eq!(
            check_exit(hired, ExitState::None, hired, today),
            Ok(ExitTiming::Immediate)
        );
        assert_eq!(
            check_exit(hired, ExitState::None, date(2025, 1, 5), today),
            Err(ExitRule::BeforeHire { hired_on: hired })
        );
        assert_eq!(
            check_exit(hired, ExitState::None, date(2028, 1, 1), today),
            Err(ExitRule::TooFarAhead)
        );
    }

    #[test]
    fn no_double_exit_and_only_a_scheduled_one_is_cancelled() {
        let hired = date(2025, 1, 6);
        let today = date(2026, 12, 7);
        let scheduled = ExitState::of(Some(date(2026, 12, 31)), false, false);
        assert_eq!(
            scheduled,
            ExitState::Scheduled {
                last_working_day: date(2026, 12, 31)
            }
        );
        let left = ExitState::of(Some(date(2026, 11, 30)), true, true);
        for state in [scheduled, left] {
            assert_eq!(
                check_exit(hired, state, today, today),
                Err(ExitRule::AlreadyRecorded { state })
            );
        }
        assert_eq!(check_cancel(scheduled), Ok(()));
        assert_eq!(check_cancel(left), Err(ExitRule::AlreadyEffective));
        assert_eq!(check_cancel(ExitState::None), Err(ExitRule::NotScheduled));
        // A record terminated before exits existed counts as left.
        assert_eq!(
            ExitState::of(None, false, true),
            ExitState::Effective {
                last_working_day: None
            }
        );
    }

    #[test]
    fn the_last_day_is_worked_the_next_is_not() {
        let last = date(2026, 11, 30);
        let left = ExitState::of(Some(last), true, true);
        assert_eq!(check_punch_day(left, last), Ok(()));
        assert_eq!(
            check_punch_day(left, date(2026, 12, 1)),
            Err(ExitRule::EmploymentEnded {
                last_working_day: Some(last)
            })
        );
        let scheduled = ExitState::of(Some(date(2026, 12, 31)), false, false);
        assert_eq!(check_punch_day(scheduled, date(2026, 12, 7)), Ok(()));
        assert!(check_punch_day(ExitState::of(None, false, true), last).is_err());
        assert_eq!(check_punch_day(ExitState::None, last), Ok(()));
    }

    #[test]
    fn departures_are_parsed() {
        let day = date(2026, 12, 31);
        let parsed =
            Departure::parse(day, ExitReason::Resignation, Some("  moving abroad ")).unwrap();
        assert_eq!(parsed.notes.as_deref(), Some("moving abroad"));
        assert_eq!(
            Departure::parse(day, ExitReason::Retirement, Some("   "))
                .unwrap()
                .notes,
            None
        );
        assert!(Departure::parse(day, ExitReason::Other, None).is_err());
        assert!(Departure::parse(day, ExitReason::Other, Some("sabbatical turned exit")).is_ok());
        assert!(Departure::parse(day, ExitReason::Dismissal, Some(&"x".repeat(2001))).is_err());
        assert!(Departure::parse(day, ExitReason::Dismissal, Some("a\u{0}b")).is_err());
        for reason in [
            ExitReason::Resignation,
            ExitReason::Dismissal,
            ExitReason::Redundancy,
            ExitReason::EndOfContract,
            ExitReason::Retirement,
            ExitReason::MutualAgreement,
            ExitReason::Deceased,
            ExitReason::Other,
        ] {
            assert_eq!(ExitReason::from_db(reason.as_str()), Some(reason));
        }
    }
}
