//! Helpdesk tickets: their states (new -> open -> pending -> resolved -> closed, or merged
//! into another ticket), priorities and channels. The SLA clocks they drive are in
//! [`super::sla`].

use erp_kit::ApiError;
use serde::{Deserialize, Serialize};

use super::OpsRule;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatus {
    New,
    Open,
    /// Waiting on the customer or a third party: the SLA clocks are paused.
    Pending,
    Resolved,
    /// Final.
    Closed,
    /// Folded into another ticket: final, and nobody replies on it any more.
    Merged,
}

impl TicketStatus {
    /// Whether `self -> to` is a transition a person may make (merging has its own call).
    pub fn change_to(self, to: TicketStatus) -> Result<TicketStatus, ApiError> {
        use TicketStatus::*;
        if self == Merged {
            return Err(OpsRule::TicketMerged.into());
        }
        let allowed = matches!(
            (self, to),
            (New, Open | Pending | Resolved)
                | (Open, Pending | Resolved)
                | (Pending, Open | Resolved)
                | (Resolved, Open | Closed)
        );
        if allowed {
            Ok(to)
        } else if self == Closed {
            Err(OpsRule::TicketState("the ticket is closed").into())
        } else if to == Merged {
            Err(OpsRule::TicketState("a ticket is merged with mergeTicket").into())
        } else {
            Err(
                OpsRule::TicketState("the ticket cannot move to that status from its current one")
                    .into(),
            )
        }
    }

    /// Whether a reply may be added: not on a merged or closed ticket.
    pub fn accepts_replies(self) -> Result<(), ApiError> {
        match self {
            TicketStatus::Merged => Err(OpsRule::TicketMerged.into()),
            TicketStatus::Closed => {
                Err(OpsRule::TicketState("the ticket is closed: open a new one").into())
            }
            _ => Ok(()),
        }
    }

    /// Merging `self` into another ticket: neither may be closed or merged, and a ticket is
    /// never merged into itself (checked by the caller, who knows the ids).
    pub fn merge(self, target: TicketStatus) -> Result<TicketStatus, ApiError> {
        for status in [self, target] {
            match status {
                TicketStatus::Merged => return Err(OpsRule::TicketMerged.into()),
                TicketStatus::Closed => {
                    return Err(OpsRule::TicketState("a closed ticket is not merged").into())
                }
                _ => {}
            }
        }
        Ok(TicketStatus::Merged)
    }

    /// Whether replies may be split off to a new ticket: not from a merged or closed one.
    pub fn split(self) -> Result<(), ApiError> {
        match self {
            TicketStatus::Merged => Err(OpsRule::TicketMerged.into()),
            TicketStatus::Closed => {
                Err(OpsRule::TicketState("a closed ticket is not split").into())
            }
            _ => Ok(()),
        }
    }

    /// Where the status comes in the life of a ticket (what lists of counts are ordered by).
    pub fn lifecycle_rank(self) -> u8 {
        match self {
            TicketStatus::New => 0,
            TicketStatus::Open => 1,
            TicketStatus::Pending => 2,
            TicketStatus::Resolved => 3,
            TicketStatus::Closed => 4,
            TicketStatus::Merged => 5,
        }
    }

    /// Pending states pause the SLA clocks.
    pub fn pauses_clocks(self) -> bool {
        self == TicketStatus::Pending
    }

    /// Closed and merged tickets never escalate (Zammad #2949).
    pub fn is_final(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Merged)
    }
}

/// The most replies one split moves.
pub const MAX_SPLIT_REPLIES: usize = 100;

/// The replies a split names: 1 to [`MAX_SPLIT_REPLIES`], none twice. (Whether each is on the
/// ticket is checked against the store.)
pub fn check_split_selection(reply_ids: &[String]) -> Result<(), ApiError> {
    if reply_ids.is_empty() || reply_ids.len() > MAX_SPLIT_REPLIES {
        return Err(ApiError::bad_input(
            "replyIds",
            format!("a split moves 1 to {MAX_SPLIT_REPLIES} replies"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = reply_ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(ApiError::bad_input(
            "replyIds",
            format!("{twice} is named twice"),
        ));
    }
    Ok(())
}

/// How urgent a ticket is (SLA policies are chosen by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

/// How a ticket came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    Portal,
    Email,
    Api,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;
    use TicketStatus::*;

    #[test]
    fn the_lifecycle() {
        assert_eq!(New.change_to(Open).unwrap(), Open);
        assert_eq!(Open.change_to(Pending).unwrap(), Pending);
        assert_eq!(Pending.change_to(Open).unwrap(), Open);
        assert_eq!(Open.change_to(Resolved).unwrap(), Resolved);
        assert_eq!(Resolved.change_to(Open).unwrap(), Open, "reopened");
        assert_eq!(Resolved.change_to(Closed).unwrap(), Closed);
        for to in [New, Open, Pending, Resolved, Closed] {
            assert_eq!(
                Closed.change_to(to).unwrap_err().reason(),
                Some(reasons::TICKET_STATE)
            );
            assert_eq!(
                Merged.change_to(to).unwrap_err().reason(),
                Some(reasons::TICKET_MERGED)
            );
        }
        assert!(Open.change_to(Closed).is_err(), "resolved before closed");
        assert!(Open.change_to(New).is_err());
        assert!(Open.change_to(Merged).is_err());
    }

    #[test]
    fn no_reply_on_a_merged_ticket() {
        assert_eq!(
            Merged.accepts_replies().unwrap_err().reason(),
            Some(reasons::TICKET_MERGED)
        );
        assert!(Closed.accepts_replies().is_err());
        assert!(Pending.accepts_replies().is_ok());
        assert_eq!(Open.merge(New).unwrap(), Merged);
        assert!(Open.merge(Merged).is_err());
        assert!(Closed.merge(Open).is_err());
    }

    #[test]
    fn a_split_names_replies_once_from_a_ticket_still_worked() {
        let ids = |n: usize| (0..n).map(|i| format!("r{i}")).collect::<Vec<_>>();
        assert!(check_split_selection(&ids(1)).is_ok());
        assert!(check_split_selection(&ids(MAX_SPLIT_REPLIES)).is_ok());
        assert!(check_split_selection(&ids(0)).is_err());
        assert!(check_split_selection(&ids(MAX_SPLIT_REPLIES + 1)).is_err());
        assert!(check_split_selection(&["a".into(), "b".into(), "a".into()]).is_err());
        for status in [New, Open, Pending, Resolved] {
            assert!(status.split().is_ok());
        }
        assert_eq!(
            Merged.split().unwrap_err().reason(),
            Some(reasons::TICKET_MERGED)
        );
        assert_eq!(
            Closed.split().unwrap_err().reason(),
            Some(reasons::TICKET_STATE)
        );
    }

    #[test]
    fn pending_pauses_and_final_states_never_escalate() {
        assert!(Pending.pauses_clocks());
        assert!(!Open.pauses_clocks());
        assert!(Closed.is_final() && Merged.is_final());
        assert!(!Resolved.is_final());
    }
}
