//! OKRs: objectives with measurable key results, check-ins with a status, and alignment of an
//! objective to a parent objective (never in a loop).

use chrono::NaiveDate;

use erp_kit::{ApiError, Reason, RuleViolation};

use super::org::Standing;
use super::reasons;

/// The most key results an objective holds (a focused objective has a few).
pub const MAX_KEY_RESULTS: usize = 10;
/// The longest period of an objective, in days.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// An OKR rule a change broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkrRule {
    /// The parent objective is aligned (indirectly) under the objective.
    ObjectiveCycle,
    /// The objective holds [`MAX_KEY_RESULTS`] already.
    KeyResultLimit,
    /// The caller neither owns the objective, nor manages its owner, nor is HR.
    NotOwner,
}

impl RuleViolation for OkrRule {
    fn reason(&self) -> Reason {
        match self {
            OkrRule::ObjectiveCycle => reasons::OBJECTIVE_CYCLE,
            OkrRule::KeyResultLimit => reasons::KEY_RESULT_LIMIT,
            OkrRule::NotOwner => reasons::NOT_OWNER,
        }
    }

    fn message(&self) -> String {
        match self {
            OkrRule::ObjectiveCycle => {
                "the parent objective is aligned under this one: a cycle".into()
            }
            OkrRule::KeyResultLimit => {
                format!("an objective holds at most {MAX_KEY_RESULTS} key results")
            }
            OkrRule::NotOwner => {
                "only the owner, their managers and HR change this objective".into()
            }
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            OkrRule::ObjectiveCycle => Some("parentId"),
            OkrRule::KeyResultLimit | OkrRule::NotOwner => None,
        }
    }
}

/// Who changes an objective and its key results: the owner, a manager above the owner, HR
/// (`hr:admin`).
pub fn check_owner_rights(standing: Standing) -> Result<(), OkrRule> {
    if standing.is_self || standing.is_manager || standing.hr_admin {
        Ok(())
    } else {
        Err(OkrRule::NotOwner)
    }
}

/// Refuses an objective's next key result once it holds [`MAX_KEY_RESULTS`].
pub fn check_key_result_count(held: usize) -> Result<(), OkrRule> {
    if held >= MAX_KEY_RESULTS {
        Err(OkrRule::KeyResultLimit)
    } else {
        Ok(())
    }
}

/// How a key result is going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OkrStatus {
    OnTrack,
    Behind,
    AtRisk,
}

impl OkrStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OkrStatus::OnTrack => "on_track",
            OkrStatus::Behind => "behind",
            OkrStatus::AtRisk => "at_risk",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        match value {
            "on_track" => Some(OkrStatus::OnTrack),
            "behind" => Some(OkrStatus::Behind),
            "at_risk" => Some(OkrStatus::AtRisk),
            _ => None,
        }
    }
}

/// A title of an objective or key result: trimmed, 1 to 200 characters, no control characters.
pub fn parse_title(field: &str, raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        return Err(ApiError::bad_input(field, "a title is 1 to 200 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            "the title contains control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An objective's period: the end not before the start, at most [`MAX_PERIOD_DAYS`] long.
pub fn check_period(start: NaiveDate, end: NaiveDate) -> Result<(), ApiError> {
    if end < start {
        return Err(ApiError::bad_input(
            "periodEnd",
            "the period ends before it starts",
        ));
    }
    if (end - start).num_days() >= MAX_PERIOD_DAYS {
        return Err(ApiError::bad_input(
            "periodEnd",
            format!("a period is at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    Ok(())
}

/// A key result's measure: from `start` to `target` (either direction), finite numbers.
pub fn check_measure(start: f64, target: f64) -> Result<(), ApiError> {
    if !start.is_finite() {
        return Err(ApiError::bad_input(
            "startValue",
            "a value is a finite number",
        ));
    }
    if !target.is_finite() {
        return Err(ApiError::bad_input(
            "targetValue",
            "a value is a finite number",
        ));
    }
    if start == target {
        return Err(ApiError::bad_input(
            "targetValue",
            "the target must differ from the start value",
        ));
    }
    Ok(())
}

/// Progress from `start` to `target` at `current`, 0.0 to 1.0 (a target of less than the start,
/// e.g. fewer incidents, counts downwards).
pub fn progress(start: f64, target: f64, current: f64) -> f64 {
    if start == target {
        return if current == target { 1.0 } else { 0.0 };
    }
    ((current - start) / (target - start)).clamp(0.0, 1.0)
}

/// The share of the period elapsed on `today`, 0.0 to 1.0.
pub fn elapsed(start: NaiveDate, end: NaiveDate, today: NaiveDate) -> f64 {
    let total = (end - start).num_days() + 1;
    let done = (today - start).num_days() + 1;
    (done as f64 / total as f64).clamp(0.0, 1.0)
}

/// The status a check-in gets when its author names none: on track while progress keeps up
/// with the time elapsed (10 points of slack), behind within 30 points, at risk beyond.
pub fn suggested_status(progress: f64, elapsed: f64) -> OkrStatus {
    let gap = elapsed - progress;
    if gap <= 0.10 {
        OkrStatus::OnTrack
    } else if gap <= 0.30 {
        OkrStatus::Behind
    } else {
        OkrStatus::AtRisk
    }
}

/// An objective's status: the worst of its key results' latest statuses.
pub fn objective_status(statuses: impl IntoIterator<Item = OkrStatus>) -> Option<OkrStatus> {
    statuses.into_iter().max()
}

/// Refuses aligning `objective` under `parent` when that closes a loop (the objective itself,
/// or an objective aligned under it). Reason OBJECTIVE_CYCLE.
pub fn check_alignment<F>(
    objective: &str,
    parent: Option<&str>,
    parent_of: F,
) -> Result<(), OkrRule>
where
    F: Fn(&str) -> Option<String>,
{
    let Some(parent) = parent else {
        return Ok(());
    };
    if parent == objective
        || super::org::chain_of_command(parent, parent_of)
            .iter()
            .any(|above| above == objective)
    {
        return Err(OkrRule::ObjectiveCycle);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn titles_periods_and_measures() {
        assert_eq!(parse_title("title", "  Ship v2 ").unwrap(), "Ship v2");
        assert!(parse_title("title", " ").is_err());
        assert!(parse_title("title", &"x".repeat(201)).is_err());
        assert!(check_period(date(2026, 10, 1), date(2026, 12, 31)).is_ok());
        assert!(check_period(date(2026, 10, 1), date(2026, 10, 1)).is_ok());
        assert!(check_period(date(2026, 10, 2), date(2026, 10, 1)).is_err());
        assert!(check_period(date(2026, 1, 1), date(2027, 1, 2)).is_err());
        assert!(check_measure(0.0, 100.0).is_ok());
        assert!(check_measure(10.0, 2.0).is_ok());
        assert!(check_measure(5.0, 5.0).is_err());
        assert!(check_measure(f64::NAN, 1.0).is_err());
        assert!(check_measure(0.0, f64::INFINITY).is_err());
    }

    #[test]
    fn progress_up_and_down() {
        assert_eq!(progress(0.0, 100.0, 25.0), 0.25);
        assert_eq!(progress(0.0, 100.0, 150.0), 1.0);
        assert_eq!(progress(0.0, 100.0, -5.0), 0.0);
        // Fewer incidents: from 10 down to 2.
        assert_eq!(progress(10.0, 2.0, 6.0), 0.5);
        assert_eq!(progress(10.0, 2.0, 12.0), 0.0);
    }

    #[test]
    fn statuses_from_pace() {
        let (start, end) = (date(2026, 10, 1), date(2026, 10, 10));
        assert_eq!(elapsed(start, end, date(2026, 10, 5)), 0.5);
        assert_eq!(elapsed(start, end, date(2026, 9, 1)), 0.0);
        assert_eq!(elapsed(start, end, date(2026, 12, 1)), 1.0);
        assert_eq!(suggested_status(0.4, 0.5), OkrStatus::OnTrack);
        assert_eq!(suggested_status(0.39, 0.5), OkrStatus::Behind);
        assert_eq!(suggested_status(0.2, 0.5), OkrStatus::Behind);
        assert_eq!(suggested_status(0.19, 0.5), OkrStatus::AtRisk);
        assert_eq!(
            objective_status([OkrStatus::OnTrack, OkrStatus::AtRisk, OkrStatus::Behind]),
            Some(OkrStatus::AtRisk)
        );
        assert_eq!(objective_status([]), None);
    }

    #[test]
    fn owners_managers_and_hr_change_an_objective() {
        let of = |is_self, is_manager, hr_admin| Standing {
            is_self,
            is_manager,
            hr_admin,
            ..Default::default()
        };
        assert!(check_owner_rights(of(true, false, false)).is_ok());
        assert!(check_owner_rights(of(false, true, false)).is_ok());
        assert!(check_owner_rights(of(false, false, true)).is_ok());
        assert_eq!(
            check_owner_rights(Standing {
                hr_read: true,
                employee_write: true,
                ..Default::default()
            }),
            Err(OkrRule::NotOwner)
        );
        assert!(check_key_result_count(MAX_KEY_RESULTS - 1).is_ok());
        assert_eq!(
            check_key_result_count(MAX_KEY_RESULTS),
            Err(OkrRule::KeyResultLimit)
        );
    }

    #[test]
    fn alignment_never_loops() {
        let parents = |o: &str| match o {
            "team" => Some("dept".to_owned()),
            "dept" => Some("company".to_owned()),
            _ => None,
        };
        assert!(check_alignment("new", Some("team"), parents).is_ok());
        let refused = check_alignment("company", Some("team"), parents).unwrap_err();
        assert_eq!(refused.reason().name(), "OBJECTIVE_CYCLE");
        assert_eq!(refused.field(), Some("parentId"));
        assert!(check_alignment("team", Some("team"), parents).is_err());
        assert!(check_alignment("team", None, parents).is_ok());
    }
}
