//! Journeys (e-mail automation): a trigger enrols a contact (once per journey), then its
//! steps run in order: waits, messages, conditions (a contact who fails one exits) and exits.
//! Pure rules: the shape of a journey, its lifecycle, what one step does.

use serde::{Deserialize, Serialize};

use erp_kit::{ApiError, ApiResult};

use super::contact::string_enum;
use super::reasons;

/// At most this many steps.
pub const MAX_STEPS: usize = 20;
/// The longest wait: 90 days, in minutes.
pub const MAX_WAIT_MINUTES: i64 = 90 * 24 * 60;
/// An event name: 1 to 64 characters of `a-z`, `0-9`, `_`, `.`, `-`.
pub const MAX_EVENT_LEN: usize = 64;

string_enum! {
    /// Where a journey stands: only an active journey enrols contacts and runs their steps.
    JourneyStatus {
        Draft => "draft",
        Active => "active",
        Paused => "paused",
        Archived => "archived",
    }
}

impl JourneyStatus {
    /// draft -> active <-> paused, and archived from any state but archived.
    pub fn move_to(self, to: JourneyStatus) -> ApiResult<JourneyStatus> {
        use JourneyStatus::*;
        if matches!(
            (self, to),
            (Draft, Active)
                | (Active, Paused)
                | (Paused, Active)
                | (Draft | Active | Paused, Archived)
        ) {
            Ok(to)
        } else {
            Err(ApiError::rule(
                reasons::JOURNEY_TRANSITION_NOT_ALLOWED,
                format!("a {} journey cannot become {}", self.as_str(), to.as_str()),
            ))
        }
    }
}

string_enum! {
    /// What enrols a contact: joining a segment (incrementally, as their data or behaviour
    /// changed), confirming a double opt-in (through a form, or any), an event recorded for
    /// the contact (`opened`, `clicked`, or one tracked by name).
    TriggerKind {
        SegmentJoined => "segment_joined",
        FormConfirmed => "form_confirmed",
        Event => "event",
    }
}

/// A journey's trigger: its kind and what it names (the segment, the form or none, the
/// event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub reference: Option<String>,
}

impl Trigger {
    /// The trigger, or JOURNEY_INVALID: a segment trigger without its segment, an event
    /// trigger without a valid event name.
    pub fn new(kind: TriggerKind, reference: Option<String>) -> ApiResult<Self> {
        match kind {
            TriggerKind::SegmentJoined if reference.is_none() => {
                return Err(invalid("a SEGMENT_JOINED trigger names its segment")
                    .on_field("trigger.segmentId"))
            }
            TriggerKind::Event => {
                check_event(reference.as_deref().unwrap_or(""))?;
            }
            _ => {}
        }
        Ok(Self { kind, reference })
    }
}

/// An event name's shape, or JOURNEY_INVALID.
pub fn check_event(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_EVENT_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "an event name is 1 to {MAX_EVENT_LEN} characters of a-z, 0-9, `_`, `.`, `-`"
        ))
        .on_field("event"))
    }
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The contact is a member of the segment now.
    InSegment(String),
    /// The contact opened the journey's latest message before this step.
    OpenedPrevious,
    /// The contact clicked a link of the journey's latest message before this step.
    ClickedPrevious,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Waits this many minutes before the next step.
    Wait { minutes: i64 },
    /// Sends a bulk template (checked at send time like any campaign message: suppression,
    /// consent).
    Send { template_id: String },
    /// Goes on when the check holds; the contact exits otherwise.
    Condition { check: Check },
    /// The contact exits here.
    Exit,
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Wait { .. } => "wait",
            Step::Send { .. } => "send",
            Step::Condition { .. } => "condition",
            Step::Exit => "exit",
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::JOURNEY_INVALID, message.into())
}

/// The steps, or JOURNEY_INVALID: none or more than [`MAX_STEPS`], a wait out of 1 minute to
/// 90 days, a condition on the previous message with no message before it.
pub fn check_steps(steps: &[Step]) -> ApiResult<()> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(invalid(format!(
            "a journey has 1 to {MAX_STEPS} steps, not {}",
            steps.len()
        ))
        .on_field("steps"));
    }
    let mut sent_before = false;
    for (position, step) in steps.iter().enumerate() {
        match step {
            Step::Wait { minutes } if !(1..=MAX_WAIT_MINUTES).contains(minutes) => {
                return Err(
                    invalid(format!("step {position}: a wait is 1 minute to 90 days"))
                        .on_field("steps"),
                );
            }
            Step::Condition {
                check: Check::OpenedPrevious | Check::ClickedPrevious,
            } if !sent_before => {
                return Err(invalid(format!(
                    "step {position}: a condition on the previous message needs a SEND step before it"
                ))
                .on_field("steps"));
            }
            Step::Send { .. } => sent_before = true,
            _ => {}
        }
    }
    Ok(())
}

/// The send key of a journey step's messages (the message table's campaign column): one
/// message per (journey step, contact), whatever happens.
pub fn step_key(journey_id: &str, position: usize) -> String {
    format!("{journey_id}:{position}")
}

/// The position of the last SEND step before `position`.
pub fn previous_send(steps: &[Step], position: usize) -> Option<usize> {
    steps[..position.min(steps.len())]
        .iter()
        .rposition(|s| matches!(s, Step::Send { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send() -> Step {
        Step::Send {
            template_id: "tpl".into(),
        }
    }

    #[test]
    fn steps_are_checked() {
        let good = vec![
            send(),
            Step::Wait { minutes: 60 },
            Step::Condition {
                check: Check::OpenedPrevious,
            },
            send(),
            Step::Exit,
        ];
        assert!(check_steps(&good).is_ok());
        for bad in [
            vec![],
            vec![Step::Wait { minutes: 0 }],
            vec![Step::Wait {
                minutes: MAX_WAIT_MINUTES + 1,
            }],
            vec![Step::Condition {
                check: Check::ClickedPrevious,
            }],
            vec![Step::Exit; MAX_STEPS + 1],
        ] {
            assert_eq!(
                check_steps(&bad).unwrap_err().reason(),
                Some(reasons::JOURNEY_INVALID),
                "{bad:?}"
            );
        }
        assert_eq!(previous_send(&good, 2), Some(0));
        assert_eq!(previous_send(&good, 4), Some(3));
        assert_eq!(previous_send(&good, 0), None);
        assert_eq!(step_key("jrn", 3), "jrn:3");
    }

    #[test]
    fn triggers_and_lifecycle() {
        assert!(Trigger::new(TriggerKind::SegmentJoined, None).is_err());
        assert!(Trigger::new(TriggerKind::FormConfirmed, None).is_ok());
        assert!(Trigger::new(TriggerKind::Event, Some("trial.started".into())).is_ok());
        assert!(Trigger::new(TriggerKind::Event, Some("Bad Name".into())).is_err());
        use JourneyStatus::*;
        assert!(Draft.move_to(Active).is_ok());
        assert!(Paused.move_to(Active).is_ok());
        assert_eq!(
            Archived.move_to(Active).unwrap_err().reason(),
            Some(reasons::JOURNEY_TRANSITION_NOT_ALLOWED)
        );
        assert!(Active.move_to(Draft).is_err());
    }
}
