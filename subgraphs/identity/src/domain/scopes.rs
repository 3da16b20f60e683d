//! The registry of every scope the supergraph uses: what a role may be granted.

/// One scope, the subgraph that checks it and what it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeInfo {
    pub name: &'static str,
    pub subgraph: &'static str,
    pub description: &'static str,
}

pub const REGISTRY: &[ScopeInfo] = &[
    ScopeInfo {
        name: "identity:admin",
        subgraph: "identity",
        description: "Invite and deactivate users, manage roles, read the scope registry.",
    },
    ScopeInfo {
        name: "user:read",
        subgraph: "identity",
        description: "Read other users' profiles in the tenant.",
    },
    ScopeInfo {
        name: "schema:read",
        subgraph: "router",
        description: "Introspect the supergraph (schema consumers).",
    },
    ScopeInfo {
        name: "employee:read",
        subgraph: "employee",
        description: "Read the employee directory and departments.",
    },
    ScopeInfo {
        name: "employee:read:private",
        subgraph: "employee",
        description: "Deprecated: private fields now follow the row rules (the employee, their managers, HR). Still honoured: opens every employee's private fields (personal email, date of birth).",
    },
    ScopeInfo {
        name: "employee:write",
        subgraph: "employee",
        description: "Hire and update employees.",
    },
    ScopeInfo {
        name: "department:write",
        subgraph: "employee",
        description: "Create and change departments.",
    },
    ScopeInfo {
        name: "hr:admin",
        subgraph: "employee",
        description: "HR administration: everything about every employee of the tenant.",
    },
    ScopeInfo {
        name: "hr:read",
        subgraph: "employee",
        description: "Read every employee's record and attendance in the tenant (HR, read-only).",
    },
    ScopeInfo {
        name: "okr:read",
        subgraph: "employee",
        description: "Read the tenant's objectives and key results.",
    },
    ScopeInfo {
        name: "okr:write",
        subgraph: "employee",
        description: "Set and check in objectives (one's own, one's reports', or any for HR).",
    },
    ScopeInfo {
        name: "attendance:checkin",
        subgraph: "employee",
        description: "Check in and out.",
    },
    ScopeInfo {
        name: "attendance:read",
        subgraph: "employee",
        description: "Watch live attendance boards (who is in, late, absent).",
    },
    ScopeInfo {
        name: "leave:apply",
        subgraph: "employee",
        description: "Apply for leave.",
    },
    ScopeInfo {
        name: "leave:approve",
        subgraph: "employee",
        description: "Approve or reject reports' leave.",
    },
    ScopeInfo {
        name: "task:start",
        subgraph: "pmo",
        description: "Start, pause and stop timers on tasks.",
    },
    ScopeInfo {
        name: "task:log",
        subgraph: "pmo",
        description: "Log time on tasks.",
    },
    ScopeInfo {
        name: "project:read",
        subgraph: "pmo",
        description: "Read projects, boards and tasks.",
    },
    ScopeInfo {
        name: "project:write",
        subgraph: "pmo",
        description: "Create and change projects, sprints, boards and tasks.",
    },
    ScopeInfo {
        name: "timesheet:approve",
        subgraph: "pmo",
        description: "Approve timesheets.",
    },
    ScopeInfo {
        name: "finance:read",
        subgraph: "finance",
        description: "Read the ledger, reports, invoices, payments, bills and every expense claim.",
    },
    ScopeInfo {
        name: "finance:write",
        subgraph: "finance",
        description: "Post journal entries, invoices, bills and payments; reimburse expense claims.",
    },
    ScopeInfo {
        name: "finance:admin",
        subgraph: "finance",
        description: "Configure the ledger (accounts, journals, fiscal years, lock dates, taxes, expense categories) and approve any expense claim but one's own.",
    },
    ScopeInfo {
        name: "expense:submit",
        subgraph: "finance",
        description: "Submit one's own expense claims.",
    },
    ScopeInfo {
        name: "expense:approve",
        subgraph: "finance",
        description: "Approve or refuse the expense claims of one's reports.",
    },
    ScopeInfo {
        name: "crm:read",
        subgraph: "crm",
        description: "Read clients, leads, opportunities, quotes and proposals (one's own and one's teams').",
    },
    ScopeInfo {
        name: "crm:write",
        subgraph: "crm",
        description: "Create and change clients, leads, opportunities, quotes and proposals; import CSV files.",
    },
    ScopeInfo {
        name: "crm:admin",
        subgraph: "crm",
        description: "See every CRM record of the tenant; manage pipelines, price lists, scoring and assignment rules, merges.",
    },
    ScopeInfo {
        name: "analytics:export",
        subgraph: "analytics",
        description: "Run heavy analytics exports.",
    },
];

pub fn find(name: &str) -> Option<&'static ScopeInfo> {
    REGISTRY.iter().find(|scope| scope.name == name)
}

/// The default roles a new tenant starts with.
pub const DEFAULT_ROLES: &[(&str, &[&str])] = &[
    (
        "Admin",
        &[
            "identity:admin",
            "user:read",
            "schema:read",
            "employee:read",
            "employee:read:private",
            "employee:write",
            "department:write",
            "hr:admin",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "attendance:read",
            "leave:apply",
            "leave:approve",
            "task:start",
            "task:log",
            "project:read",
            "project:write",
            "timesheet:approve",
            "crm:read",
            "crm:write",
            "crm:admin",
            "analytics:export",
            "finance:read",
            "finance:write",
            "finance:admin",
            "expense:submit",
            "expense:approve",
        ],
    ),
    (
        "Finance",
        &[
            "user:read",
            "employee:read",
            "finance:read",
            "finance:write",
            "finance:admin",
            "expense:submit",
            "expense:approve",
        ],
    ),
    (
        "HR",
        &[
            "user:read",
            "employee:read",
            "employee:read:private",
            "employee:write",
            "department:write",
            "hr:admin",
            "hr:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "attendance:read",
            "leave:apply",
            "leave:approve",
            "expense:submit",
        ],
    ),
    (
        "Manager",
        &[
            "user:read",
            "employee:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "attendance:read",
            "leave:apply",
            "leave:approve",
            "task:start",
            "task:log",
            "project:read",
            "project:write",
            "timesheet:approve",
            "expense:submit",
            "expense:approve",
        ],
    ),
    (
        "Employee",
        &[
            "employee:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "leave:apply",
            "task:start",
            "task:log",
            "project:read",
            "expense:submit",
        ],
    ),
    (
        "Sales",
        &[
            "employee:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "leave:apply",
            "crm:read",
            "crm:write",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roles_only_grant_registered_scopes() {
        for (_, scopes) in DEFAULT_ROLES {
            for scope in *scopes {
                assert!(find(scope).is_some(), "{scope} is not registered");
            }
        }
    }
}
