//! Maintenance of assets: corrective requests (something broke) and preventive ones generated
//! from a plan every N days; a request goes new -> in progress -> repaired / scrapped.

use chrono::{Duration, NaiveDate};
use erp_kit::ApiError;
use serde::{Deserialize, Serialize};

use super::OpsRule;

/// Why the maintenance is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaintenanceKind {
    Corrective,
    Preventive,
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaintenanceStatus {
    New,
    InProgress,
    Repaired,
    Scrapped,
}

impl MaintenanceStatus {
    pub fn start(self) -> Result<Self, ApiError> {
        match self {
            MaintenanceStatus::New => Ok(MaintenanceStatus::InProgress),
            _ => Err(OpsRule::MaintenanceState("only a new request is started").into()),
        }
    }

    /// Finishes a request in progress (or a new one done at once).
    pub fn finish(self, repaired: bool) -> Result<Self, ApiError> {
        match self {
            MaintenanceStatus::New | MaintenanceStatus::InProgress => Ok(if repaired {
                MaintenanceStatus::Repaired
            } else {
                MaintenanceStatus::Scrapped
            }),
            _ => Err(OpsRule::MaintenanceState("the request is already finished").into()),
        }
    }
}

/// A preventive plan: every `every_days` days from `next_due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub every_days: u32,
    pub next_due: NaiveDate,
}

impl Plan {
    /// 1 to 3,650 days.
    pub fn new(every_days: u32, first_due: NaiveDate) -> Result<Self, ApiError> {
        if !(1..=3_650).contains(&every_days) {
            return Err(ApiError::bad_input(
                "everyDays",
                "a plan repeats every 1 to 3650 days",
            ));
        }
        Ok(Self {
            every_days,
            next_due: first_due,
        })
    }

    /// The due dates up to `through` (at most `max`), and the plan after them.
    pub fn due_through(self, through: NaiveDate, max: usize) -> (Vec<NaiveDate>, Plan) {
        let mut due = Vec::new();
        let mut next = self;
        while next.next_due <= through && due.len() < max {
            due.push(next.next_due);
            next.next_due += Duration::days(i64::from(next.every_days));
        }
        (due, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn requests_move_forward_once() {
        let started = MaintenanceStatus::New.start().unwrap();
        assert_eq!(started, MaintenanceStatus::InProgress);
        assert_eq!(
            started.start().unwrap_err().reason(),
            Some(reasons::MAINTENANCE_STATE)
        );
        assert_eq!(started.finish(true).unwrap(), MaintenanceStatus::Repaired);
        assert_eq!(
            MaintenanceStatus::New.finish(false).unwrap(),
            MaintenanceStatus::Scrapped
        );
        assert!(MaintenanceStatus::Repaired.finish(true).is_err());
    }

    #[test]
    fn plans_come_due_every_n_days() {
        let plan = Plan::new(30, day(2026, 1, 15)).unwrap();
        let (due, next) = plan.due_through(day(2026, 3, 20), 10);
        assert_eq!(due, [day(2026, 1, 15), day(2026, 2, 14), day(2026, 3, 16)]);
        assert_eq!(next.next_due, day(2026, 4, 15));
        let (none, same) = next.due_through(day(2026, 3, 20), 10);
        assert!(none.is_empty());
        assert_eq!(same, next);
        assert!(Plan::new(0, day(2026, 1, 1)).is_err());
    }
}
