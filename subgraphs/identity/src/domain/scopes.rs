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
        name: "attendance:admin",
        subgraph: "employee",
        description: "Correct a day of a month of attendance already closed for payroll (with a reason; payroll settles the difference).",
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
        name: "payroll:read",
        subgraph: "finance",
        description: "Read payroll runs, every payslip of a run and its failure report.",
    },
    ScopeInfo {
        name: "payroll:admin",
        subgraph: "finance",
        description: "Configure payroll (components, structures, assignments, tax slabs, additional salary) and calculate, approve (never a run with one's own slip), post, pay and cancel runs.",
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
        description: "See every CRM record of the tenant; manage pipelines, price lists, scoring and assignment rules; merge clients and undo merges (a merge re-parents records across owners and, by event, finance's customers and PMO's projects).",
    },
    ScopeInfo {
        name: "assets:read",
        subgraph: "ops",
        description: "Read the asset register, consumables, software licences and maintenance requests.",
    },
    ScopeInfo {
        name: "assets:write",
        subgraph: "ops",
        description: "Register, check out, check in, audit, repair and retire assets; consumables, licence seats and maintenance.",
    },
    ScopeInfo {
        name: "assets:depreciate",
        subgraph: "ops",
        description: "Run depreciation, revalue and dispose of assets.",
    },
    ScopeInfo {
        name: "procurement:read",
        subgraph: "ops",
        description: "Read requisitions, requests for quotation, purchase orders, approval thresholds and three-way matches.",
    },
    ScopeInfo {
        name: "procurement:request",
        subgraph: "ops",
        description: "Create, submit and cancel purchase requisitions.",
    },
    ScopeInfo {
        name: "procurement:order",
        subgraph: "ops",
        description: "Create, submit, send, close and cancel purchase orders; send requests for quotation, record supplier quotations and award them.",
    },
    ScopeInfo {
        name: "procurement:approve",
        subgraph: "ops",
        description: "Approve or reject requisitions and purchase orders (never one's own).",
    },
    ScopeInfo {
        name: "procurement:receive",
        subgraph: "ops",
        description: "Record goods receipts against purchase orders.",
    },
    ScopeInfo {
        name: "procurement:budget",
        subgraph: "ops",
        description: "Set procurement budgets and the approval thresholds of purchase orders.",
    },
    ScopeInfo {
        name: "helpdesk:read",
        subgraph: "ops",
        description: "Read helpdesk tickets and SLA policies.",
    },
    ScopeInfo {
        name: "helpdesk:submit",
        subgraph: "ops",
        description: "Raise helpdesk tickets.",
    },
    ScopeInfo {
        name: "helpdesk:write",
        subgraph: "ops",
        description: "Work helpdesk tickets: change their status, merge them.",
    },
    ScopeInfo {
        name: "helpdesk:admin",
        subgraph: "ops",
        description: "Manage SLA policies and business calendars.",
    },
    ScopeInfo {
        name: "sop:read",
        subgraph: "ops",
        description: "Read standard operating procedures and their published versions.",
    },
    ScopeInfo {
        name: "sop:write",
        subgraph: "ops",
        description: "Create SOPs, draft and submit their versions.",
    },
    ScopeInfo {
        name: "sop:publish",
        subgraph: "ops",
        description: "Publish or reject submitted SOP versions.",
    },
    ScopeInfo {
        name: "marketing:read",
        subgraph: "marketing",
        description: "Read marketing contacts, consents, segments, templates and campaigns.",
    },
    ScopeInfo {
        name: "marketing:write",
        subgraph: "marketing",
        description: "Create and change marketing contacts, consents, segments, templates and campaigns; erase a contact.",
    },
    ScopeInfo {
        name: "marketing:send",
        subgraph: "marketing",
        description: "Schedule, start, pause and cancel campaigns; send transactional mail.",
    },
    ScopeInfo {
        name: "analytics:export",
        subgraph: "analytics",
        description: "Run heavy analytics exports.",
    },
    ScopeInfo {
        name: "analytics:read",
        subgraph: "analytics",
        description: "Read metrics and live tiles (team-level; groups under five people suppressed).",
    },
    ScopeInfo {
        name: "analytics:people",
        subgraph: "analytics",
        description: "Read person-level productivity (managers; HR holds it through hr:read/hr:admin).",
    },
    ScopeInfo {
        name: "analytics:cost",
        subgraph: "analytics",
        description: "Read payroll-derived cost (finance and HR; finance:read and hr:admin also open it).",
    },
    ScopeInfo {
        name: "analytics:admin",
        subgraph: "analytics",
        description: "Replay the event log into the tenant's analytics facts (rebuild after a loss or a drift).",
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
            "attendance:admin",
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
            "assets:read",
            "assets:write",
            "assets:depreciate",
            "procurement:read",
            "procurement:request",
            "procurement:order",
            "procurement:approve",
            "procurement:receive",
            "procurement:budget",
            "helpdesk:read",
            "helpdesk:submit",
            "helpdesk:write",
            "helpdesk:admin",
            "sop:read",
            "sop:write",
            "sop:publish",
            "analytics:export",
            "analytics:read",
            "analytics:people",
            "analytics:cost",
            "analytics:admin",
            "marketing:read",
            "marketing:write",
            "marketing:send",
            "finance:read",
            "finance:write",
            "finance:admin",
            "expense:submit",
            "expense:approve",
            "payroll:read",
            "payroll:admin",
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
            "payroll:read",
            "payroll:admin",
            "analytics:read",
            "analytics:cost",
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
            "attendance:admin",
            "leave:apply",
            "leave:approve",
            "expense:submit",
            "payroll:read",
            "analytics:read",
            "analytics:export",
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
            "analytics:read",
            "analytics:people",
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
            "procurement:request",
            "helpdesk:submit",
            "sop:read",
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
    (
        "Marketing",
        &[
            "employee:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "leave:apply",
            "crm:read",
            "marketing:read",
            "marketing:write",
            "marketing:send",
        ],
    ),
    (
        // Operations staff: the asset register and its depreciation, procurement (request,
        // order, receive; approving stays with whoever holds `procurement:approve`, never
        // one's own), the helpdesk desk and SOP authoring. Publishing SOPs, helpdesk
        // administration (SLA policies, calendars) and budgets stay with admins.
        "Operations",
        &[
            "employee:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "leave:apply",
            "expense:submit",
            "assets:read",
            "assets:write",
            "assets:depreciate",
            "procurement:read",
            "procurement:request",
            "procurement:order",
            "procurement:approve",
            "procurement:receive",
            "helpdesk:read",
            "helpdesk:submit",
            "helpdesk:write",
            "sop:read",
            "sop:write",
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
