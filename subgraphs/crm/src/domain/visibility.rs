//! Row rules: whose records a viewer sees. A sales rep sees their own records and their
//! team's (the people who share their manager); a manager also sees everyone below them in
//! the reporting line; `crm:admin` sees the whole tenant. Records belong to users (the owner
//! is the identity user id); the reporting line comes from the employee subgraph's events.

use std::collections::{BTreeSet, HashMap, HashSet};

/// How deep a reporting line is walked (a cycle in the data ends the walk anyway).
pub const MAX_DEPTH: usize = 32;

/// One person of the team directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub employee_id: String,
    pub user_id: Option<String>,
    pub manager_id: Option<String>,
}

/// Whose records a viewer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every record of the tenant (`crm:admin`).
    All,
    /// Records owned by these users only.
    Owners(BTreeSet<String>),
}

impl Visibility {
    /// Whether a record of `owner` (None: unassigned) is visible. Unassigned records are the
    /// administrators' to hand out.
    pub fn sees(&self, owner: Option<&str>) -> bool {
        match (self, owner) {
            (Visibility::All, _) => true,
            (Visibility::Owners(owners), Some(owner)) => owners.contains(owner),
            (Visibility::Owners(_), None) => false,
        }
    }

    /// The owners a query filters on (`None`: no filter).
    pub fn owner_filter(&self) -> Option<Vec<String>> {
        match self {
            Visibility::All => None,
            Visibility::Owners(owners) => Some(owners.iter().cloned().collect()),
        }
    }
}

/// The users whose records `viewer` sees, from the people around the viewer's employee
/// record: `me` (None when the viewer has no employee record: then only their own records),
/// the members sharing `me`'s manager (the team), and the members below `me` by level
/// (`reports_of` gives a manager's direct reports).
pub fn visible_owners(
    viewer: &str,
    me: Option<&Member>,
    team: &[Member],
    reports_of: impl Fn(&[String]) -> Vec<Member>,
) -> BTreeSet<String> {
    let mut owners = BTreeSet::from([viewer.to_owned()]);
    let Some(me) = me else {
        return owners;
    };
    let mut add = |member: &Member| {
        if let Some(user) = &member.user_id {
            owners.insert(user.clone());
        }
    };
    add(me);
    if me.manager_id.is_some() {
        for member in team {
            if member.manager_id == me.manager_id {
                add(member);
            }
        }
    }
    let mut seen: HashSet<String> = HashSet::from([me.employee_id.clone()]);
    let mut frontier = vec![me.employee_id.clone()];
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let below = reports_of(&frontier);
        frontier = Vec::new();
        for member in below {
            if seen.insert(member.employee_id.clone()) {
                add(&member);
                frontier.push(member.employee_id.clone());
            }
        }
    }
    owners
}

/// [`visible_owners`] over a whole directory in memory (tests, small tenants).
pub fn visible_owners_in(viewer: &str, directory: &[Member]) -> BTreeSet<String> {
    let me = directory
        .iter()
        .find(|member| member.user_id.as_deref() == Some(viewer));
    let mut by_manager: HashMap<&str, Vec<&Member>> = HashMap::new();
    for member in directory {
        if let Some(manager) = &member.manager_id {
            by_manager.entry(manager.as_str()).or_default().push(member);
        }
    }
    visible_owners(viewer, me, directory, |managers| {
        managers
            .iter()
            .flat_map(|manager| {
                by_manager
                    .get(manager.as_str())
                    .cloned()
                    .unwrap_or_default()
            })
            .cloned()
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(employee: &str, user: &str, manager: Option<&str>) -> Member {
        Member {
            employee_id: employee.into(),
            user_id: Some(user.into()),
            manager_id: manager.map(str::to_owned),
        }
    }

    /// head -> (lead_a -> rep_a1, rep_a2), (lead_b -> rep_b1); `loner` has no manager.
    fn directory() -> Vec<Member> {
        vec![
            member("e_head", "u_head", None),
            member("e_lead_a", "u_lead_a", Some("e_head")),
            member("e_lead_b", "u_lead_b", Some("e_head")),
            member("e_rep_a1", "u_rep_a1", Some("e_lead_a")),
            member("e_rep_a2", "u_rep_a2", Some("e_lead_a")),
            member("e_rep_b1", "u_rep_b1", Some("e_lead_b")),
            member("e_loner", "u_loner", None),
        ]
    }

    fn set(users: &[&str]) -> BTreeSet<String> {
        users.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn reps_see_their_team_managers_everything_below() {
        let d = directory();
        assert_eq!(
            visible_owners_in("u_rep_a1", &d),
            set(&["u_rep_a1", "u_rep_a2"])
        );
        assert_eq!(
            visible_owners_in("u_lead_a", &d),
            set(&["u_lead_a", "u_lead_b", "u_rep_a1", "u_rep_a2"])
        );
        assert_eq!(
            visible_owners_in("u_head", &d),
            set(&["u_head", "u_lead_a", "u_lead_b", "u_rep_a1", "u_rep_a2", "u_rep_b1"])
        );
        // No manager: no team, only themself.
        assert_eq!(visible_owners_in("u_loner", &d), set(&["u_loner"]));
        // No employee record: own records only.
        assert_eq!(visible_owners_in("u_stranger", &d), set(&["u_stranger"]));
    }

    #[test]
    fn a_cycle_in_the_directory_ends_the_walk() {
        let d = vec![
            member("e1", "u1", Some("e2")),
            member("e2", "u2", Some("e1")),
        ];
        assert_eq!(visible_owners_in("u1", &d), set(&["u1", "u2"]));
    }

    #[test]
    fn visibility_of_a_record() {
        let visible = Visibility::Owners(set(&["u1"]));
        assert!(visible.sees(Some("u1")));
        assert!(!visible.sees(Some("u2")));
        assert!(!visible.sees(None));
        assert!(Visibility::All.sees(None));
    }
}
