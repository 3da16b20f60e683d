//! Helpdesk teams and queues: which queue a new ticket lands in (the first queue, by position,
//! whose conditions it meets) and which of the team's available members it is assigned to
//! (round-robin, or the member with the fewest open tickets). Pure: the caller reads the team
//! (with its rotation counter) and the open counts, and writes the counter back at the
//! revision it read, so two tickets arriving at once never take the same turn.

use serde::{Deserialize, Serialize};

use super::helpdesk::{Channel, Priority};

/// How a queue assigns the tickets routed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssignmentRule {
    /// The team's available members take turns.
    RoundRobin,
    /// The available member with the fewest open tickets of the team (ties: the next in turn).
    LeastOpen,
    /// Nobody: the ticket waits in the queue for an agent to take it.
    Manual,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user the agent signs in as (what tickets are assigned to).
    pub user_id: String,
    /// Their employee record, when known (a leaver is found by either).
    pub employee_id: Option<String>,
    /// Whether assignment may pick them now (away, on leave: false).
    pub available: bool,
}

/// What a ticket must match to land in a queue; an empty list matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    /// Categories, compared case-insensitively.
    pub categories: Vec<String>,
    pub priorities: Vec<Priority>,
    pub channels: Vec<Channel>,
}

impl Conditions {
    /// Whether a ticket of this category, priority and channel meets every condition.
    pub fn matches(&self, category: Option<&str>, priority: Priority, channel: Channel) -> bool {
        let category_ok = self.categories.is_empty()
            || category.is_some_and(|category| {
                self.categories
                    .iter()
                    .any(|wanted| wanted.eq_ignore_ascii_case(category))
            });
        category_ok
            && (self.priorities.is_empty() || self.priorities.contains(&priority))
            && (self.channels.is_empty() || self.channels.contains(&channel))
    }
}

/// Who gets the next ticket, and the team's rotation counter after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub user_id: String,
    pub next_turn: u64,
}

/// The available member whose turn it is: the rotation goes round the member list from
/// `turn` (a counter that only grows), skipping the unavailable. None when nobody is available.
pub fn round_robin(members: &[Member], turn: u64) -> Option<Pick> {
    let count = members.len() as u64;
    (0..count)
        .map(|step| turn + step)
        .find(|at| members[(at % count) as usize].available)
        .map(|at| Pick {
            user_id: members[(at % count) as usize].user_id.clone(),
            next_turn: at + 1,
        })
}

/// The available member whose turn `turn` is (the turn-th in rotation among the available
/// members): with turns taken from an atomic counter, every available member gets every
/// k-th ticket, k the number available.
pub fn round_robin_at(members: &[Member], turn: u64) -> Option<String> {
    let available: Vec<&Member> = members.iter().filter(|m| m.available).collect();
    if available.is_empty() {
        return None;
    }
    let at = (turn % available.len() as u64) as usize;
    Some(available[at].user_id.clone())
}

/// The available member with the fewest open tickets (`open_of` counts a user's); among
/// equals, the first in rotation order from `turn`.
pub fn least_open(members: &[Member], turn: u64, open_of: impl Fn(&str) -> u64) -> Option<Pick> {
    let count = members.len() as u64;
    (0..count)
        .map(|step| turn + step)
        .filter(|at| members[(at % count) as usize].available)
        .min_by_key(|at| (open_of(&members[(at % count) as usize].user_id), *at))
        .map(|at| Pick {
            user_id: members[(at % count) as usize].user_id.clone(),
            next_turn: at + 1,
        })
}

/// The pick of `rule` (none for a manual queue).
pub fn pick(
    rule: AssignmentRule,
    members: &[Member],
    turn: u64,
    open_of: impl Fn(&str) -> u64,
) -> Option<Pick> {
    match rule {
        AssignmentRule::RoundRobin => round_robin(members, turn),
        AssignmentRule::LeastOpen => least_open(members, turn, open_of),
        AssignmentRule::Manual => None,
    }
}

/// Checks a member list: 1 to 200 members, each user once.
pub fn check_members(members: &[Member]) -> Result<(), &'static str> {
    if members.len() > 200 {
        return Err("a team has at most 200 members");
    }
    let mut seen = std::collections::HashSet::new();
    if members.iter().any(|member| !seen.insert(&member.user_id)) {
        return Err("a user is a member of a team once");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user: &str, available: bool) -> Member {
        Member {
            user_id: user.into(),
            employee_id: None,
            available,
        }
    }

    #[test]
    fn round_robin_takes_turns_and_skips_the_unavailable() {
        let team = [member("a", true), member("b", false), member("c", true)];
        let first = round_robin(&team, 0).unwrap();
        assert_eq!((first.user_id.as_str(), first.next_turn), ("a", 1));
        let second = round_robin(&team, first.next_turn).unwrap();
        assert_eq!((second.user_id.as_str(), second.next_turn), ("c", 3));
        let third = round_robin(&team, second.next_turn).unwrap();
        assert_eq!((third.user_id.as_str(), third.next_turn), ("a", 4));
        assert_eq!(round_robin(&[member("x", false)], 7), None);
        assert_eq!(round_robin(&[], 0), None);
    }

    #[test]
    fn round_robin_turns_go_to_the_available_in_rotation() {
        let team = [member("a", true), member("b", false), member("c", true)];
        let picks: Vec<String> = (0..4).filter_map(|t| round_robin_at(&team, t)).collect();
        assert_eq!(picks, ["a", "c", "a", "c"]);
        assert_eq!(round_robin_at(&[member("x", false)], 7), None);
        assert_eq!(round_robin_at(&[], 0), None);
    }

    #[test]
    fn least_open_prefers_the_idle_then_the_next_in_turn() {
        let team = [member("a", true), member("b", true), member("c", false)];
        let open = |user: &str| match user {
            "a" => 3,
            "b" => 1,
            _ => 0,
        };
        assert_eq!(least_open(&team, 0, open).unwrap().user_id, "b");
        let even = |_: &str| 2;
        assert_eq!(least_open(&team, 1, even).unwrap().user_id, "b");
        assert_eq!(least_open(&team, 2, even).unwrap().user_id, "a");
        assert_eq!(pick(AssignmentRule::Manual, &team, 0, even), None);
    }

    #[test]
    fn conditions_match_every_list_given() {
        let any = Conditions::default();
        assert!(any.matches(None, Priority::Low, Channel::Api));
        let hardware = Conditions {
            categories: vec!["Hardware".into()],
            priorities: vec![Priority::High, Priority::Urgent],
            channels: vec![],
        };
        assert!(hardware.matches(Some("hardware"), Priority::Urgent, Channel::Email));
        assert!(!hardware.matches(Some("hardware"), Priority::Low, Channel::Email));
        assert!(!hardware.matches(None, Priority::High, Channel::Email));
        assert!(!hardware.matches(Some("billing"), Priority::High, Channel::Email));
    }

    #[test]
    fn members_are_unique() {
        assert!(check_members(&[member("a", true), member("b", true)]).is_ok());
        assert!(check_members(&[member("a", true), member("a", false)]).is_err());
    }
}
