//! The reporting line (who manages whom) and who may see or do what to whose record.
//!
//! Every walk up or down the reporting line is cycle-safe: a cycle that got into the data
//! somehow (a concurrent change, an import) ends the walk instead of looping.

use std::collections::{HashMap, HashSet};

use erp_kit::{Reason, RuleViolation};

use super::reasons;

/// The longest reporting line walked (deeper lines are cut, not followed).
pub const MAX_CHAIN: usize = 64;
/// The deepest org chart a query may ask for.
pub const MAX_CHART_DEPTH: i32 = 10;

/// A reporting-line rule a change broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRule {
    /// The new manager is the employee, or (indirectly) reports to them.
    ManagerCycle,
}

impl RuleViolation for OrgRule {
    fn reason(&self) -> Reason {
        match self {
            OrgRule::ManagerCycle => reasons::MANAGER_CYCLE,
        }
    }

    fn message(&self) -> String {
        match self {
            OrgRule::ManagerCycle => {
                "the manager would (indirectly) report to this employee: a cycle".into()
            }
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            OrgRule::ManagerCycle => Some("managerId"),
        }
    }
}

/// The managers above `employee`, nearest first, given each person's manager. Stops at the top,
/// at a cycle, or after [`MAX_CHAIN`] steps.
pub fn chain_of_command<F>(employee: &str, manager_of: F) -> Vec<String>
where
    F: Fn(&str) -> Option<String>,
{
    let mut seen: HashSet<String> = HashSet::from([employee.to_owned()]);
    let mut chain = Vec::new();
    let mut current = manager_of(employee);
    while let Some(manager) = current {
        if chain.len() >= MAX_CHAIN || !seen.insert(manager.clone()) {
            break;
        }
        current = manager_of(&manager);
        chain.push(manager);
    }
    chain
}

/// Refuses giving `employee` the manager `new_manager` when that closes a loop: the employee
/// themself, or someone who (indirectly) reports to the employee.
pub fn check_new_manager<F>(
    employee: &str,
    new_manager: Option<&str>,
    manager_of: F,
) -> Result<(), OrgRule>
where
    F: Fn(&str) -> Option<String>,
{
    let Some(new_manager) = new_manager else {
        return Ok(());
    };
    if new_manager == employee
        || chain_of_command(new_manager, manager_of)
            .iter()
            .any(|above| above == employee)
    {
        return Err(OrgRule::ManagerCycle);
    }
    Ok(())
}

/// Everybody below `root` (direct and indirect reports), breadth first, cycle-safe.
pub fn all_reports(root: &str, reports_of: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::from([root]);
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for manager in frontier {
            for report in reports_of.get(manager).into_iter().flatten() {
                if seen.insert(report.as_str()) {
                    found.push(report.clone());
                    next.push(report.as_str());
                }
            }
        }
        frontier = next;
    }
    found
}

/// Direct reports per manager, from `(employee, manager)` pairs.
pub fn reports_index<'a>(
    edges: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> HashMap<String, Vec<String>> {
    let mut index: HashMap<String, Vec<String>> = HashMap::new();
    for (employee, manager) in edges {
        if let Some(manager) = manager {
            index
                .entry(manager.to_owned())
                .or_default()
                .push(employee.to_owned());
        }
    }
    index
}

/// How the viewer stands to one employee record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// The record is the viewer's own.
    pub is_self: bool,
    /// The viewer is above the employee in the reporting line.
    pub is_manager: bool,
    /// The viewer reads every record of the tenant (`hr:read` or `hr:admin`).
    pub hr_read: bool,
    /// The viewer administers every record of the tenant (`hr:admin`).
    pub hr_admin: bool,
    /// The viewer may change records (`employee:write`).
    pub employee_write: bool,
    /// The viewer holds `employee:read:private`, which opened the private fields of every
    /// record before the row rules did. Deprecated: still honoured so that roles granted it
    /// keep what they had, but no default role needs it any more.
    pub reads_private: bool,
}

/// What the viewer may do with one employee record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    pub view_full_record: bool,
    pub view_attendance: bool,
    pub edit_profile: bool,
    pub set_manager: bool,
    pub approve_attendance_correction: bool,
    pub request_attendance_correction: bool,
    pub view_compensation: bool,
}

/// The row-level rules: an employee sees their own full record, a manager their (transitive)
/// reports' records and attendance, HR everything in the tenant; others the directory only.
/// Nobody approves their own correction.
pub fn permissions(standing: Standing) -> Permissions {
    let Standing {
        is_self,
        is_manager,
        hr_read,
        hr_admin,
        employee_write,
        reads_private,
    } = standing;
    let hr_read = hr_read || hr_admin;
    Permissions {
        view_full_record: is_self || is_manager || hr_read || reads_private,
        view_attendance: is_self || is_manager || hr_read,
        edit_profile: is_self || hr_admin || employee_write,
        // Naming a manager makes them see the record, its attendance and its corrections:
        // HR's decision (`hr:admin`), never `employee:write` alone.
        set_manager: hr_admin,
        approve_attendance_correction: !is_self && (is_manager || hr_admin),
        request_attendance_correction: is_self,
        view_compensation: hr_admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |employee| {
            pairs
                .iter()
                .find(|(e, _)| *e == employee)
                .map(|(_, m)| (*m).to_owned())
        }
    }

    #[test]
    fn chain_of_command_to_the_top_and_through_cycles() {
        let line = [("dev", "lead"), ("lead", "cto"), ("cto", "ceo")];
        assert_eq!(
            chain_of_command("dev", managers(&line)),
            vec!["lead", "cto", "ceo"]
        );
        assert!(chain_of_command("ceo", managers(&line)).is_empty());
        let looped = [("a", "b"), ("b", "c"), ("c", "a")];
        assert_eq!(chain_of_command("a", managers(&looped)), vec!["b", "c"]);
        let self_loop = [("a", "a")];
        assert!(chain_of_command("a", managers(&self_loop)).is_empty());
    }

    #[test]
    fn a_manager_change_that_closes_a_loop_is_refused() {
        let line = [("dev", "lead"), ("lead", "cto")];
        let reason = |r: Result<(), OrgRule>| r.unwrap_err().reason().name();
        assert_eq!(
            reason(check_new_manager("cto", Some("dev"), managers(&line))),
            "MANAGER_CYCLE"
        );
        assert_eq!(
            reason(check_new_manager("lead", Some("lead"), managers(&line))),
            "MANAGER_CYCLE"
        );
        assert!(check_new_manager("dev", Some("cto"), managers(&line)).is_ok());
        assert!(check_new_manager("cto", None, managers(&line)).is_ok());
        // A cycle already in the data elsewhere does not hang the check.
        let looped = [("a", "b"), ("b", "a")];
        assert!(check_new_manager("x", Some("a"), managers(&looped)).is_ok());
    }

    #[test]
    fn transitive_reports() {
        let index = reports_index([
            ("lead", Some("cto")),
            ("dev1", Some("lead")),
            ("dev2", Some("lead")),
            ("intern", Some("dev1")),
            ("cto", None),
        ]);
        let mut below = all_reports("cto", &index);
        below.sort();
        assert_eq!(below, vec!["dev1", "dev2", "intern", "lead"]);
        assert!(all_reports("intern", &index).is_empty());
        let looped = reports_index([("a", Some("b")), ("b", Some("a"))]);
        assert_eq!(all_reports("a", &looped), vec!["b"]);
    }

    #[test]
    fn row_level_rules() {
        let own = permissions(Standing {
            is_self: true,
            ..Default::default()
        });
        assert!(own.view_full_record && own.view_attendance && own.edit_profile);
        assert!(!own.approve_attendance_correction && !own.view_compensation);
        assert!(own.request_attendance_correction);

        let manager = permissions(Standing {
            is_manager: true,
            ..Default::default()
        });
        assert!(manager.view_attendance && manager.approve_attendance_correction);
        assert!(!manager.edit_profile && !manager.view_compensation);

        let hr_reader = permissions(Standing {
            hr_read: true,
            ..Default::default()
        });
        assert!(hr_reader.view_attendance && !hr_reader.approve_attendance_correction);

        let hr_admin_self = permissions(Standing {
            is_self: true,
            hr_admin: true,
            ..Default::default()
        });
        assert!(
            !hr_admin_self.approve_attendance_correction,
            "nobody approves their own correction"
        );
        assert!(hr_admin_self.view_compensation);

        let stranger = permissions(Standing::default());
        assert!(!stranger.view_full_record && !stranger.view_attendance);
        assert!(!stranger.edit_profile && !stranger.set_manager);

        let writer = permissions(Standing {
            employee_write: true,
            ..Default::default()
        });
        assert!(writer.edit_profile);
        assert!(!writer.set_manager, "employee:write alone names no manager");

        let private_reader = permissions(Standing {
            reads_private: true,
            ..Default::default()
        });
        assert!(
            private_reader.view_full_record,
            "the deprecated scope keeps opening the private fields"
        );
        assert!(!private_reader.view_attendance && !private_reader.view_compensation);
    }
}
