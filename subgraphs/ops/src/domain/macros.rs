//! Helpdesk macros: a named list of actions an agent applies to a ticket in one go (set the
//! status, set the priority, add a public reply or an internal note from a template). The
//! templates name placeholders from a closed list, checked when the macro is defined, so
//! applying one never meets an unknown name.

use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::helpdesk::{Priority, TicketStatus};
use super::OpsRule;

/// The most actions a macro holds.
pub const MAX_ACTIONS: usize = 20;
/// The longest template, in characters.
pub const MAX_TEMPLATE: usize = 5_000;

/// A value a template may insert. The list is closed: a template naming anything else is
/// refused when the macro is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    TicketId,
    TicketSubject,
    TicketStatus,
    TicketPriority,
    RequesterName,
    AgentName,
}

impl Placeholder {
    pub const ALL: [Placeholder; 6] = [
        Placeholder::TicketId,
        Placeholder::TicketSubject,
        Placeholder::TicketStatus,
        Placeholder::TicketPriority,
        Placeholder::RequesterName,
        Placeholder::AgentName,
    ];

    /// The name written between `{{` and `}}`.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::TicketId => "ticket.id",
            Placeholder::TicketSubject => "ticket.subject",
            Placeholder::TicketStatus => "ticket.status",
            Placeholder::TicketPriority => "ticket.priority",
            Placeholder::RequesterName => "requester.name",
            Placeholder::AgentName => "agent.name",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The closed list, as a caller reads it in an error.
    pub fn listed() -> String {
        Self::ALL
            .iter()
            .map(|p| format!("{{{{{}}}}}", p.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a template's placeholders stand for on one ticket, when the macro is applied.
pub struct TemplateFacts<'a> {
    pub ticket_id: &'a str,
    pub subject: &'a str,
    pub status: TicketStatus,
    pub priority: Priority,
    pub requester_name: &'a str,
    pub agent_name: &'a str,
}

impl TemplateFacts<'_> {
    fn value(&self, placeholder: Placeholder) -> String {
        match placeholder {
            Placeholder::TicketId => self.ticket_id.to_owned(),
            Placeholder::TicketSubject => self.subject.to_owned(),
            Placeholder::TicketStatus => status_word(self.status).to_owned(),
            Placeholder::TicketPriority => priority_word(self.priority).to_owned(),
            Placeholder::RequesterName => self.requester_name.to_owned(),
            Placeholder::AgentName => self.agent_name.to_owned(),
        }
    }
}

fn status_word(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "new",
        TicketStatus::Open => "open",
        TicketStatus::Pending => "pending",
        TicketStatus::Resolved => "resolved",
        TicketStatus::Closed => "closed",
        TicketStatus::Merged => "merged",
    }
}

fn priority_word(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Value(Placeholder),
}

/// A reply or note template whose placeholders are all known (stored as written).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template(String);

impl Template {
    /// Checks a template: 1 to [`MAX_TEMPLATE`] characters, no control characters but line
    /// breaks and tabs, every `{{name}}` closed and on the list.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ApiError::bad_input(
                "template",
                "a template must not be empty",
            ));
        }
        if text.chars().count() > MAX_TEMPLATE {
            return Err(ApiError::bad_input(
                "template",
                format!("a template is at most {MAX_TEMPLATE} characters"),
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ApiError::bad_input(
                "template",
                "a template holds no control characters but line breaks and tabs",
            ));
        }
        pieces(text)?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text with every placeholder replaced by its value on the ticket.
    pub fn render(&self, facts: &TemplateFacts<'_>) -> String {
        // Parsed when built, so the pieces are known; a stored template that no longer
        // parses renders as written rather than failing the macro.
        match pieces(&self.0) {
            Ok(pieces) => pieces
                .into_iter()
                .map(|piece| match piece {
                    Piece::Text(text) => text.to_owned(),
                    Piece::Value(placeholder) => facts.value(placeholder),
                })
                .collect(),
            Err(_) => self.0.clone(),
        }
    }
}

impl TryFrom<String> for Template {
    /// A stored template that no longer parses (read back as a decoding error).
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Template::parse(&raw).map_err(|err| err.message())
    }
}

impl From<Template> for String {
    fn from(template: Template) -> String {
        template.0
    }
}

/// Splits a template into text and placeholders; an unclosed `{{` or an unknown name is
/// refused with the closed list.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, ApiError> {
    let mut pieces = vec![];
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(OpsRule::UnknownPlaceholder(format!(
                "a placeholder opened with {{{{ is never closed with }}}}: use one of {}",
                Placeholder::listed()
            ))
            .into());
        };
        let name = after[..close].trim();
        let placeholder = Placeholder::parse(name).ok_or_else(|| {
            OpsRule::UnknownPlaceholder(format!(
                "unknown placeholder {{{{{name}}}}}: use one of {}",
                Placeholder::listed()
            ))
        })?;
        pieces.push(Piece::Value(placeholder));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// One action of a macro, applied in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MacroAction {
    /// Moves the ticket, under the rules of a status change.
    SetStatus { status: TicketStatus },
    /// Sets the priority (the ticket's SLA policy becomes that priority's).
    SetPriority { priority: Priority },
    /// A public reply by the agent applying the macro (as an agent's reply: meets the first
    /// response, restarts the update target, opens a new ticket).
    AddReply { template: Template },
    /// An internal note, seen by agents only; the SLA clocks do not move.
    AddNote { template: Template },
}

/// Checks a macro's actions: 1 to [`MAX_ACTIONS`], and no status no ticket ever moves to
/// (NEW) or that has its own call (MERGED). (Templates were checked when parsed.)
pub fn check_actions(actions: &[MacroAction]) -> Result<(), ApiError> {
    if actions.is_empty() || actions.len() > MAX_ACTIONS {
        return Err(ApiError::bad_input(
            "actions",
            format!("a macro has 1 to {MAX_ACTIONS} actions"),
        ));
    }
    for action in actions {
        match action {
            MacroAction::SetStatus {
                status: TicketStatus::New,
            } => {
                return Err(ApiError::bad_input(
                    "actions",
                    "a ticket never moves back to NEW",
                ))
            }
            MacroAction::SetStatus {
                status: TicketStatus::Merged,
            } => {
                return Err(ApiError::bad_input(
                    "actions",
                    "a macro does not merge tickets: use mergeTicket",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a ticket takes a priority change: not once merged or closed (as replies).
pub fn accepts_priority_change(status: TicketStatus) -> Result<(), ApiError> {
    match status {
        TicketStatus::Merged => Err(OpsRule::TicketMerged.into()),
        TicketStatus::Closed => Err(OpsRule::TicketState("the ticket is closed").into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;

    fn facts() -> TemplateFacts<'static> {
        TemplateFacts {
            ticket_id: "t1",
            subject: "VPN down",
            status: TicketStatus::Pending,
            priority: Priority::High,
            requester_name: "Ada",
            agent_name: "Grace",
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let template = Template::parse(
            "Hi {{requester.name}}, about \"{{ ticket.subject }}\" ({{ticket.id}}): {{ticket.status}}/{{ticket.priority}}.\n{{agent.name}}",
        )
        .unwrap();
        assert_eq!(
            template.render(&facts()),
            "Hi Ada, about \"VPN down\" (t1): pending/high.\nGrace"
        );
        assert_eq!(Template::parse("plain").unwrap().render(&facts()), "plain");
    }

    #[test]
    fn refuses_unknown_and_unclosed_placeholders() {
        for bad in ["Hi {{requester.email}}", "Hi {{ticket.subject", "{{}}"] {
            let err = Template::parse(bad).unwrap_err();
            assert_eq!(err.reason(), Some(reasons::UNKNOWN_PLACEHOLDER), "{bad}");
        }
        let err = Template::parse("Hi {{requester.email}}").unwrap_err();
        assert!(
            err.message().contains("{{requester.email}}"),
            "{}",
            err.message()
        );
        assert!(Template::parse("  ").is_err());
        assert!(Template::parse("a\u{7}b").is_err());
    }

    #[test]
    fn actions_are_bounded_and_stored_by_type() {
        assert!(check_actions(&[]).is_err());
        let action = MacroAction::SetStatus {
            status: TicketStatus::Pending,
        };
        assert!(check_actions(&vec![action.clone(); MAX_ACTIONS + 1]).is_err());
        for status in [TicketStatus::New, TicketStatus::Merged] {
            assert!(check_actions(&[MacroAction::SetStatus { status }]).is_err());
        }
        assert_eq!(
            serde_json::to_value(&action).unwrap(),
            serde_json::json!({ "type": "SET_STATUS", "status": "PENDING" })
        );
        let note: MacroAction = serde_json::from_value(
            serde_json::json!({ "type": "ADD_NOTE", "template": "{{ticket.id}}" }),
        )
        .unwrap();
        assert_eq!(
            note,
            MacroAction::AddNote {
                template: Template::parse("{{ticket.id}}").unwrap()
            }
        );
        assert!(accepts_priority_change(TicketStatus::Closed).is_err());
        assert!(accepts_priority_change(TicketStatus::Open).is_ok());
    }
}
