//! The timer state machine. A timer stores when its current running segment started and what
//! earlier segments added up to; elapsed time is computed when asked, never a ticking counter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RuleViolation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    Running,
    Paused,
}

/// A person's timer on a task (at most one per person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Also the id of the time entry the timer becomes when stopped (stopping is idempotent).
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub task_id: String,
    pub project_id: String,
    pub billable: bool,
    /// When the timer was first started (server time).
    pub started_at: DateTime<Utc>,
    pub state: TimerState,
    /// When the current running segment started (None while paused).
    pub segment_started_at: Option<DateTime<Utc>>,
    /// Milliseconds of the finished segments.
    pub accumulated_ms: i64,
}

impl Timer {
    pub fn start(
        tenant_id: &str,
        user_id: &str,
        task_id: &str,
        project_id: &str,
        billable: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            task_id: task_id.to_owned(),
            project_id: project_id.to_owned(),
            billable,
            started_at: now,
            state: TimerState::Running,
            segment_started_at: Some(now),
            accumulated_ms: 0,
        }
    }

    /// Milliseconds counted so far.
    pub fn elapsed_ms(&self, now: DateTime<Utc>) -> i64 {
        let running = self
            .segment_started_at
            .map(|since| (now - since).num_milliseconds().max(0))
            .unwrap_or(0);
        self.accumulated_ms + running
    }

    pub fn pause(&self, now: DateTime<Utc>) -> Result<Self, RuleViolation> {
        if self.state != TimerState::Running {
            return Err(RuleViolation::TimerState("the timer is already paused"));
        }
        Ok(Self {
            state: TimerState::Paused,
            accumulated_ms: self.elapsed_ms(now),
            segment_started_at: None,
            ..self.clone()
        })
    }

    pub fn resume(&self, now: DateTime<Utc>) -> Result<Self, RuleViolation> {
        if self.state != TimerState::Paused {
            return Err(RuleViolation::TimerState("the timer is already running"));
        }
        Ok(Self {
            state: TimerState::Running,
            segment_started_at: Some(now),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn counts_only_running_segments() {
        let t0 = Utc::now();
        let timer = Timer::start("t", "u", "task", "p", true, t0);
        assert_eq!(timer.elapsed_ms(t0 + Duration::seconds(10)), 10_000);
        let paused = timer.pause(t0 + Duration::seconds(10)).unwrap();
        assert_eq!(paused.elapsed_ms(t0 + Duration::seconds(100)), 10_000);
        assert!(paused.pause(t0).is_err());
        let resumed = paused.resume(t0 + Duration::seconds(100)).unwrap();
        assert_eq!(resumed.elapsed_ms(t0 + Duration::seconds(105)), 15_000);
        assert!(resumed.resume(t0).is_err());
    }
}
