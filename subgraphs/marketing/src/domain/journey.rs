//! Journeys (e-mail automation): a trigger enrols a contact (once per journey), then its
//! steps run in order: waits, messages, conditions and exits. A condition branches: when it
//! holds the contact goes on at its yes-step (the next one unless named), otherwise at its
//! no-step (exits unless one is named); a branch only jumps forward, so every contact reaches
//! the end. Editing a journey's steps makes a new version; a running enrolment keeps the
//! version it started on unless the edit moves it ([`EnrolmentRule`]).
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
    /// Branches on the check: when it holds the contact goes on at `if_true` (the next step
    /// when `None`), otherwise at `if_false` (exits when `None`). Both point forward.
    Condition {
        check: Check,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_true: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_false: Option<usize>,
    },
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
/// 90 days, a condition on the previous message with no message before it, a branch that does
/// not point to a later step of the journey.
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
                ..
            } if !sent_before => {
                return Err(invalid(format!(
                    "step {position}: a condition on the previous message needs a SEND step before it"
                ))
                .on_field("steps"));
            }
            Step::Condition {
                if_true, if_false, ..
            } if [if_true, if_false]
                .into_iter()
                .flatten()
                .any(|target| *target <= position || *target >= steps.len()) =>
            {
                return Err(invalid(format!(
                    "step {position}: a branch goes to a later step of the journey (after {position}, before {})",
                    steps.len()
                ))
                .on_field("steps"));
            }
            Step::Send { .. } => sent_before = true,
            _ => {}
        }
    }
    Ok(())
}

/// Where a condition sends the contact: the step to go on at, or `None` to exit.
pub fn branch(steps_len: usize, position: usize, step: &Step, holds: bool) -> Option<usize> {
    match step {
        Step::Condition {
            if_true, if_false, ..
        } => {
            if holds {
                Some(if_true.unwrap_or(position + 1))
            } else {
                *if_false
            }
        }
        _ => Some((position + 1).min(steps_len)),
    }
}

/// The send key of a journey step's messages (the message table's campaign column): one
/// message per (journey version, step, contact), whatever happens. Version 1 keeps the key it
/// had before journeys had versions (`<journey>:<position>`).
pub fn step_key(journey_id: &str, version: i32, position: usize) -> String {
    if version <= 1 {
        format!("{journey_id}:{position}")
    } else {
        format!("{journey_id}:v{version}:{position}")
    }
}

/// The (version, position) of a step's send key.
pub fn parse_step_key(key: &str) -> Option<(i32, usize)> {
    let mut parts = key.rsplit(':');
    let position = parts.next()?.parse().ok()?;
    let version = match parts.next()?.strip_prefix('v') {
        Some(version) => version.parse().ok()?,
        None => 1,
    };
    Some((version, position))
}

string_enum! {
    /// What an edit of a journey's steps does to the contacts in it: they keep the version
    /// they started on (finishing the journey as it was when they entered), or move to the new
    /// version at the same step position (the steps they already went through are not run
    /// again; one past the new end completes at its next run).
    EnrolmentRule {
        KeepVersion => "keep_version",
        MoveAtSameStep => "move_at_same_step",
    }
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
                if_true: None,
                if_false: Some(4),
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
                if_true: None,
                if_false: None,
            }],
            vec![
                send(),
                Step::Condition {
                    check: Check::OpenedPrevious,
                    if_true: Some(1),
                    if_false: None,
                },
            ],
            vec![
                send(),
                Step::Condition {
                    check: Check::OpenedPrevious,
                    if_true: None,
                    if_false: Some(2),
                },
            ],
            vec![Step::Exit; MAX_STEPS + 1],
        ] {
            assert_eq!(
                check_steps(&bad).unwrap_err().reason(),
                Some(reasons::JOURNEY_INVALID),
                "{bad:?}"
            );
        }
        assert_eq!(step_key("jrn", 1, 3), "jrn:3");
        assert_eq!(step_key("jrn", 2, 3), "jrn:v2:3");
        assert_eq!(parse_step_key("jrn:3"), Some((1, 3)));
        assert_eq!(parse_step_key("jrn:v2:3"), Some((2, 3)));
        assert_eq!(parse_step_key("jrn"), None);
        // A branch: yes goes on (or to its step), no exits (or goes to its step).
        assert_eq!(branch(5, 2, &good[2], true), Some(3));
        assert_eq!(branch(5, 2, &good[2], false), Some(4));
        let exit_on_no = Step::Condition {
            check: Check::OpenedPrevious,
            if_true: Some(4),
            if_false: None,
        };
        assert_eq!(branch(5, 2, &exit_on_no, true), Some(4));
        assert_eq!(branch(5, 2, &exit_on_no, false), None);
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
