//! Facts: what the analytics store keeps of the domains' events, one row per fact.
//!
//! Every fact carries (tenant, kind, entity id, version, event id): the store keeps the highest
//! version of each (tenant, kind, entity) (ClickHouse `ReplacingMergeTree(version)` read with
//! `FINAL`; the embedded engine dedupes on read), so a replayed or duplicated event collapses
//! into the fact it already made, and an older version arriving late loses to the newer one.
//! The version is the event's `occurred_at` in microseconds.
//!
//! Calendar columns (`day`, ISO `week`, `month`) are computed here, once, so that both engines
//! group by plain strings and agree to the character. For a fact dated by an instant they are
//! its UTC calendar; the instant itself (`at_ms`) lets reports place it on the tenant's local
//! calendar ([`super::calendar`]).

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::Deserialize;

use erp_kit::events::EventEnvelope;

/// A working day's length: capacity is counted in these.
pub const WORKDAY_SECONDS: i64 = 8 * 3600;

/// What a fact records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactKind {
    /// A stopped timer's time entry (`quantity`: seconds; `billable`).
    TimeEntry,
    /// A task completed in a closed sprint (`quantity`: 1).
    TaskCompleted,
    /// A closed sprint (`quantity`: tasks completed in it).
    Sprint,
    /// A check-in (`quantity`: minute of the UTC day).
    CheckIn,
    /// Approved leave (`quantity`: seconds of working time; 0 once cancelled).
    Leave,
    /// A hired employee (`person_id` the employee, `user_id` the login they log time as).
    Employee,
    /// A posted customer invoice (`amount`: total in minor units).
    Invoice,
    /// An approved expense claim (`amount`: minor units).
    Expense,
    /// Payroll's employer cost of a person for a period (`amount`: minor units).
    PayrollCost,
    /// A won opportunity (`amount`: minor units).
    DealWon,
    /// A helpdesk ticket opened (`quantity`: 1).
    Ticket,
    /// A helpdesk SLA breach (`quantity`: 1).
    SlaBreach,
    /// A posted customer invoice's total in the tenant's base currency (`amount`; its
    /// `project_id` and CRM `client_id`): what profitability sums across currencies.
    InvoiceBase,
    /// A PMO project (`project_id`, its CRM `client_id`): who the project's cost is for.
    Project,
    /// A domain's own total of one day's records (`control_total.published`): `entity_id`
    /// `<source>:<day>`, `quantity` the count, `amount` the sum in `currency`. What the
    /// reconciliation compares the facts with; the newest total of a day replaces the older.
    ControlTotal,
    /// A posted vendor bill's total in the tenant's base currency (`amount`, its
    /// `project_id`): a project's direct cost in profitability.
    BillBase,
    /// Approved billable time finance put on a project's draft invoice at the bill rate
    /// (`timesheet.billed`): `entity_id` the line key, `amount` the line's subtotal in the
    /// rate's currency, `quantity` seconds, `document_id` the draft invoice, dated the last
    /// day of the approved week. Work in progress until that invoice is posted.
    TimeBilled,
    /// An approved expense claim's total in the tenant's base currency (`amount`; in its own
    /// currency for events that carry no base total) and its `project_id`, dated the day the
    /// expense was posted: a project's direct cost in profitability.
    ExpenseBase,
    /// A draft invoice deleted before it was posted (`invoice.draft_deleted`): `entity_id`
    /// the draft, dated the instant of the deletion (`at_ms`). The billed time it held is no
    /// longer work in progress from that day on.
    DraftDeleted,
}

impl FactKind {
    pub const ALL: [FactKind; 19] = [
        FactKind::TimeEntry,
        FactKind::TaskCompleted,
        FactKind::Sprint,
        FactKind::CheckIn,
        FactKind::Leave,
        FactKind::Employee,
        FactKind::Invoice,
        FactKind::Expense,
        FactKind::PayrollCost,
        FactKind::DealWon,
        FactKind::Ticket,
        FactKind::SlaBreach,
        FactKind::InvoiceBase,
        FactKind::Project,
        FactKind::ControlTotal,
        FactKind::BillBase,
        FactKind::TimeBilled,
        FactKind::ExpenseBase,
        FactKind::DraftDeleted,
    ];

    /// The value of the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::TimeEntry => "time_entry",
            FactKind::TaskCompleted => "task_completed",
            FactKind::Sprint => "sprint",
            FactKind::CheckIn => "check_in",
            FactKind::Leave => "leave",
            FactKind::Employee => "employee",
            FactKind::Invoice => "invoice",
            FactKind::Expense => "expense",
            FactKind::PayrollCost => "payroll_cost",
            FactKind::DealWon => "deal_won",
            FactKind::Ticket => "ticket",
            FactKind::SlaBreach => "sla_breach",
            FactKind::InvoiceBase => "invoice_base",
            FactKind::Project => "project",
            FactKind::ControlTotal => "control_total",
            FactKind::BillBase => "bill_base",
            FactKind::TimeBilled => "time_billed",
            FactKind::ExpenseBase => "expense_base",
            FactKind::DraftDeleted => "draft_deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The domain whose events make it (one of the consumer's source domains).
    pub fn source(self) -> &'static str {
        match self {
            FactKind::TimeEntry
            | FactKind::TaskCompleted
            | FactKind::Sprint
            | FactKind::Project => "pmo",
            FactKind::CheckIn | FactKind::Leave | FactKind::Employee => "employee",
            FactKind::Invoice
            | FactKind::InvoiceBase
            | FactKind::Expense
            | FactKind::PayrollCost
            | FactKind::BillBase
            | FactKind::TimeBilled
            | FactKind::ExpenseBase
            | FactKind::DraftDeleted => "finance",
            FactKind::DealWon => "crm",
            FactKind::Ticket | FactKind::SlaBreach => "ops",
            // Published by several domains, and not a record of work: no source's freshness.
            FactKind::ControlTotal => "control",
        }
    }
}

/// One fact, as both engines store it (strings and 64-bit integers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub tenant_id: String,
    pub kind: FactKind,
    pub entity_id: String,
    pub version: u64,
    pub event_id: String,
    /// When the domain says it happened (Unix milliseconds).
    pub occurred_ms: i64,
    /// `YYYY-MM-DD`.
    pub day: String,
    /// `YYYY-Www` (ISO week).
    pub week: String,
    /// `YYYY-MM`.
    pub month: String,
    pub person_id: String,
    pub user_id: String,
    pub project_id: String,
    pub client_id: String,
    pub department_id: String,
    pub quantity: i64,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: String,
    pub billable: bool,
    /// The document the fact is on (a billed line's draft invoice), else empty.
    pub document_id: String,
    /// The instant the fact's calendar comes from (Unix milliseconds), when it is an instant
    /// (a time entry's start, a check-in): reports place it on the tenant's local calendar.
    /// None for facts dated by a calendar date (an invoice's date, a leave's first day), whose
    /// `day` is already the tenant's.
    pub at_ms: Option<i64>,
}

/// The event types the analytics consumer turns into facts (every other one is ignored).
pub const INGESTED_EVENTS: &[&str] = &[
    "timer.stopped",
    "sprint.closed",
    "attendance.checked_in",
    "leave.approved",
    "leave.cancelled",
    "employee.hired",
    "invoice.posted",
    "expense.approved",
    "payroll.cost_posted",
    "opportunity.won",
    "ticket.created",
    "sla.breached",
    "project.created",
    "control_total.published",
    "bill.posted",
    "timesheet.billed",
    "invoice.draft_deleted",
];

/// Whether the consumer turns `event_type` into facts.
pub fn ingests(event_type: &str) -> bool {
    INGESTED_EVENTS.contains(&event_type)
}

/// Why an event cannot become facts (the consumer dead-letters it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn iso_week(day: NaiveDate) -> String {
    let week = day.iso_week();
    format!("{:04}-W{:02}", week.year(), week.week())
}

fn calendar(day: NaiveDate) -> (String, String, String) {
    (
        day.format("%Y-%m-%d").to_string(),
        iso_week(day),
        format!("{:04}-{:02}", day.year(), day.month()),
    )
}

fn decode<T: serde::de::DeserializeOwned>(event: &EventEnvelope) -> Result<T, Malformed> {
    serde_json::from_value(event.payload.clone()).map_err(|err| {
        Malformed(format!(
            "{} payload does not fit its contract: {err}",
            event.event_type
        ))
    })
}

fn non_empty(field: &str, value: &str) -> Result<(), Malformed> {
    if value.trim().is_empty() {
        Err(Malformed(format!("`{field}` is empty")))
    } else {
        Ok(())
    }
}

#[derive(Deserialize)]
struct TimerStopped {
    time_entry_id: String,
    user_id: String,
    task_id: String,
    project_id: String,
    started_at: DateTime<Utc>,
    duration_seconds: i64,
    billable: bool,
}

#[derive(Deserialize)]
struct SprintClosed {
    sprint_id: String,
    project_id: String,
    completed_task_ids: Vec<String>,
}

#[derive(Deserialize)]
struct PunchRecorded {
    punch_id: String,
    employee_id: String,
    department_id: Option<String>,
    /// Unix milliseconds.
    at: i64,
}

#[derive(Deserialize)]
struct LeaveRequest {
    request_id: String,
    employee_id: String,
    start_date: NaiveDate,
    days: f64,
}

#[derive(Deserialize)]
struct EmployeeHired {
    employee_id: String,
    department_id: Option<String>,
    hired_on: NaiveDate,
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct InvoicePosted {
    invoice_id: String,
    customer_id: String,
    date: NaiveDate,
    currency: String,
    total: i64,
    project_id: Option<String>,
    /// The customer's CRM client (absent from events before it was carried).
    #[serde(default)]
    client_id: Option<String>,
    /// The total in the tenant's base currency (absent from events before it was carried:
    /// such an invoice counts in its own currency).
    #[serde(default)]
    base_currency: Option<String>,
    #[serde(default)]
    base_total: Option<i64>,
}

/// `bill.posted`: a posted vendor bill (base amounts absent from no event: finance carries
/// them since it published bills).
#[derive(Deserialize)]
struct BillPosted {
    bill_id: String,
    date: NaiveDate,
    project_id: Option<String>,
    base_currency: String,
    base_total: i64,
}

/// `control_total.published`: a domain's own count and sum of one day's records of `source`
/// (finance: `invoices`, posted customer invoices by invoice date, in the base currency).
#[derive(Deserialize)]
struct ControlTotalPublished {
    source: String,
    day: NaiveDate,
    count: i64,
    amount: i64,
    currency: String,
}

/// A control total's `entity_id`: one per source and day.
pub fn control_entity(source: &str, day: &str) -> String {
    format!("{source}:{day}")
}

#[derive(Deserialize)]
struct ProjectCreated {
    project_id: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// `timesheet.billed` (finance's billing consumer, schema version 1).
#[derive(Deserialize)]
struct TimesheetBilled {
    project_id: String,
    user_id: String,
    /// ISO week, `2026-W02`.
    week: String,
    invoice_id: String,
    line_key: String,
    billable_seconds: i64,
    currency: String,
    amount: i64,
}

/// The last day (Sunday) of an ISO week written `YYYY-Www`.
fn iso_week_end(week: &str) -> Option<NaiveDate> {
    let (year, number) = week.split_once("-W")?;
    NaiveDate::from_isoywd_opt(
        year.parse().ok()?,
        number.parse().ok()?,
        chrono::Weekday::Sun,
    )
}

/// `invoice.draft_deleted` (finance, schema version 1): only the draft matters here (its
/// billed lines name it).
#[derive(Deserialize)]
struct DraftDeleted {
    invoice_id: String,
}

#[derive(Deserialize)]
struct ExpenseApproved {
    expense_id: String,
    employee_id: String,
    currency: String,
    total: i64,
    /// Carried since claims have a project (absent from older events).
    #[serde(default)]
    project_id: Option<String>,
    /// The day the expense was posted (absent from older events: the event's day).
    #[serde(default)]
    date: Option<NaiveDate>,
    #[serde(default)]
    base_currency: Option<String>,
    #[serde(default)]
    base_total: Option<i64>,
}

/// `payroll.cost_posted` (finance's payroll, schema version 1): a part of a posted run's
/// slips, their employer costs sealed in transit for analytics. (`payroll.posted` carries ids
/// and counts only: analytics does not read it.)
#[derive(Deserialize)]
struct PayrollCostPosted {
    run_id: String,
    period_end: NaiveDate,
    currency: String,
    part: usize,
    slip_count: usize,
    #[serde(default)]
    reversal: bool,
    sealed_for_analytics: String,
}

/// What `payroll.cost_posted` seals.
#[derive(Deserialize)]
struct CostSlips {
    slips: Vec<CostSlip>,
}

/// One person's employer cost for the run's period (minor units of the run's currency).
#[derive(Deserialize)]
struct CostSlip {
    payslip_id: String,
    employee_id: String,
    employer_cost: i64,
}

/// A value an event carries sealed in transit ([`erp_kit::crypto::seal_in_transit`]) that
/// must be opened (with `context` as associated data) before the event makes facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub context: String,
    pub sealed: String,
}

/// The associated data finance seals a `payroll.cost_posted` part with (its
/// `cost_transit_context`): event type, tenant, run, part, posted or reversal.
fn cost_context(tenant: &str, run_id: &str, part: usize, reversal: bool) -> String {
    format!(
        "payroll.cost_posted|{tenant}|{run_id}|{part}|{}",
        if reversal { "reversal" } else { "posted" }
    )
}

/// What `event` carries sealed for analytics (None: nothing, its payload is all in clear).
pub fn sealed_part(event: &EventEnvelope) -> Result<Option<Sealed>, Malformed> {
    if event.event_type != "payroll.cost_posted" {
        return Ok(None);
    }
    // The part in clear is checked first: its faults are reported as such, not as a seal's.
    let p: PayrollCostPosted = decode(event)?;
    non_empty("run_id", &p.run_id)?;
    currency(&p.currency)?;
    Ok(Some(Sealed {
        context: cost_context(&event.tenant_id, &p.run_id, p.part, p.reversal),
        sealed: p.sealed_for_analytics,
    }))
}

#[derive(Deserialize)]
struct OpportunityWon {
    opportunity_id: String,
    client_id: String,
    owner_id: String,
    amount_minor: i64,
    currency: String,
}

#[derive(Deserialize)]
struct TicketEvent {
    ticket_id: String,
    #[serde(default)]
    client_id: Option<String>,
}

/// A fact of `event` with its identity columns and calendar filled, the rest empty.
fn base(event: &EventEnvelope, kind: FactKind, entity_id: &str, day: NaiveDate) -> Fact {
    let (day, week, month) = calendar(day);
    Fact {
        tenant_id: event.tenant_id.clone(),
        kind,
        entity_id: entity_id.to_owned(),
        version: u64::try_from(event.occurred_at.timestamp_micros()).unwrap_or(0),
        event_id: event.id.to_string(),
        occurred_ms: event.occurred_at.timestamp_millis(),
        day,
        week,
        month,
        person_id: String::new(),
        user_id: String::new(),
        project_id: String::new(),
        client_id: String::new(),
        department_id: String::new(),
        quantity: 0,
        amount: 0,
        currency: String::new(),
        billable: false,
        document_id: String::new(),
        at_ms: None,
    }
}

fn currency(code: &str) -> Result<String, Malformed> {
    let code = code.trim();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code.to_owned())
    } else {
        Err(Malformed(format!("`{code}` is not an ISO 4217 currency")))
    }
}

/// The facts `event` makes (none for a type that is not ingested), given its [`sealed_part`]
/// opened (`opened`); an event whose payload does not fit its contract is [`Malformed`].
pub fn facts_of(event: &EventEnvelope, opened: Option<&str>) -> Result<Vec<Fact>, Malformed> {
    non_empty("tenant_id", &event.tenant_id)?;
    let occurred = event.occurred_at.date_naive();
    Ok(match event.event_type.as_str() {
        "timer.stopped" => {
            let p: TimerStopped = decode(event)?;
            non_empty("time_entry_id", &p.time_entry_id)?;
            if p.duration_seconds < 0 {
                return Err(Malformed("`duration_seconds` is negative".into()));
            }
            let mut fact = base(
                event,
                FactKind::TimeEntry,
                &p.time_entry_id,
                p.started_at.date_naive(),
            );
            fact.person_id = p.user_id.clone();
            fact.user_id = p.user_id;
            fact.project_id = p.project_id;
            fact.client_id = String::new();
            fact.department_id = String::new();
            fact.quantity = p.duration_seconds;
            fact.billable = p.billable;
            fact.at_ms = Some(p.started_at.timestamp_millis());
            let _ = p.task_id;
            vec![fact]
        }
        "sprint.closed" => {
            let p: SprintClosed = decode(event)?;
            non_empty("sprint_id", &p.sprint_id)?;
            let mut facts = Vec::with_capacity(p.completed_task_ids.len() + 1);
            let mut sprint = base(event, FactKind::Sprint, &p.sprint_id, occurred);
            sprint.at_ms = Some(event.occurred_at.timestamp_millis());
            sprint.project_id = p.project_id.clone();
            sprint.quantity = i64::try_from(p.completed_task_ids.len()).unwrap_or(i64::MAX);
            facts.push(sprint);
            for task_id in &p.completed_task_ids {
                let mut task = base(event, FactKind::TaskCompleted, task_id, occurred);
                task.at_ms = Some(event.occurred_at.timestamp_millis());
                task.project_id = p.project_id.clone();
                task.quantity = 1;
                facts.push(task);
            }
            facts
        }
        "attendance.checked_in" => {
            let p: PunchRecorded = decode(event)?;
            non_empty("punch_id", &p.punch_id)?;
            let at = DateTime::<Utc>::from_timestamp_millis(p.at)
                .ok_or_else(|| Malformed("`at` is not a time".into()))?;
            let mut fact = base(event, FactKind::CheckIn, &p.punch_id, at.date_naive());
            fact.person_id = p.employee_id;
            fact.department_id = p.department_id.unwrap_or_default();
            // The UTC minute of the day; reports take the local one of `at_ms`.
            fact.quantity = i64::from(at.hour() * 60 + at.minute());
            fact.at_ms = Some(p.at);
            vec![fact]
        }
        "leave.approved" | "leave.cancelled" => {
            let p: LeaveRequest = decode(event)?;
            non_empty("request_id", &p.request_id)?;
            if !p.days.is_finite() || p.days < 0.0 {
                return Err(Malformed("`days` is not a number of days".into()));
            }
            let mut fact = base(event, FactKind::Leave, &p.request_id, p.start_date);
            fact.person_id = p.employee_id;
            // Half days are the finest unit: whole half days of working time, no float drift.
            let halves = (p.days * 2.0).round() as i64;
            fact.quantity = if event.event_type == "leave.approved" {
                halves * WORKDAY_SECONDS / 2
            } else {
                0
            };
            vec![fact]
        }
        "employee.hired" => {
            let p: EmployeeHired = decode(event)?;
            non_empty("employee_id", &p.employee_id)?;
            let mut fact = base(event, FactKind::Employee, &p.employee_id, p.hired_on);
            fact.person_id = p.employee_id;
            fact.user_id = p.user_id.unwrap_or_default();
            fact.department_id = p.department_id.unwrap_or_default();
            fact.quantity = 1;
            vec![fact]
        }
        "invoice.posted" => {
            let p: InvoicePosted = decode(event)?;
            non_empty("invoice_id", &p.invoice_id)?;
            let mut fact = base(event, FactKind::Invoice, &p.invoice_id, p.date);
            fact.client_id = p.customer_id;
            fact.project_id = p.project_id.unwrap_or_default();
            fact.amount = p.total;
            fact.currency = currency(&p.currency)?;
            let mut base_fact = fact.clone();
            base_fact.kind = FactKind::InvoiceBase;
            base_fact.client_id = p.client_id.unwrap_or_default();
            match (p.base_currency, p.base_total) {
                (Some(code), Some(total)) => {
                    base_fact.currency = currency(&code)?;
                    base_fact.amount = total;
                }
                (None, None) => {}
                _ => {
                    return Err(Malformed(
                        "`base_currency` and `base_total` come together".into(),
                    ))
                }
            }
            vec![fact, base_fact]
        }
        "project.created" => {
            let p: ProjectCreated = decode(event)?;
            non_empty("project_id", &p.project_id)?;
            let mut fact = base(event, FactKind::Project, &p.project_id, occurred);
            fact.project_id = p.project_id;
            fact.client_id = p.client_id.unwrap_or_default();
            vec![fact]
        }
        "bill.posted" => {
            let p: BillPosted = decode(event)?;
            non_empty("bill_id", &p.bill_id)?;
            let mut fact = base(event, FactKind::BillBase, &p.bill_id, p.date);
            fact.project_id = p.project_id.unwrap_or_default();
            fact.amount = p.base_total;
            fact.currency = currency(&p.base_currency)?;
            vec![fact]
        }
        "timesheet.billed" => {
            let p: TimesheetBilled = decode(event)?;
            non_empty("line_key", &p.line_key)?;
            non_empty("invoice_id", &p.invoice_id)?;
            let week_end = iso_week_end(&p.week)
                .ok_or_else(|| Malformed(format!("`{}` is not an ISO week", p.week)))?;
            if p.billable_seconds < 0 {
                return Err(Malformed("`billable_seconds` is negative".into()));
            }
            let mut fact = base(event, FactKind::TimeBilled, &p.line_key, week_end);
            fact.user_id = p.user_id;
            fact.project_id = p.project_id;
            fact.document_id = p.invoice_id;
            fact.quantity = p.billable_seconds;
            fact.amount = p.amount;
            fact.currency = currency(&p.currency)?;
            vec![fact]
        }
        "invoice.draft_deleted" => {
            let p: DraftDeleted = decode(event)?;
            non_empty("invoice_id", &p.invoice_id)?;
            let mut fact = base(event, FactKind::DraftDeleted, &p.invoice_id, occurred);
            fact.document_id = p.invoice_id;
            fact.at_ms = Some(event.occurred_at.timestamp_millis());
            vec![fact]
        }
        "control_total.published" => {
            let p: ControlTotalPublished = decode(event)?;
            if p.source.is_empty()
                || !p
                    .source
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
            {
                return Err(Malformed(format!(
                    "`{}` is not a control-total source (lowercase letters, `_`, `.`)",
                    p.source
                )));
            }
            if p.count < 0 {
                return Err(Malformed("`count` is negative".into()));
            }
            let day = p.day.format("%Y-%m-%d").to_string();
            let mut fact = base(
                event,
                FactKind::ControlTotal,
                &control_entity(&p.source, &day),
                p.day,
            );
            fact.quantity = p.count;
            fact.amount = p.amount;
            fact.currency = currency(&p.currency)?;
            vec![fact]
        }
        "expense.approved" => {
            let p: ExpenseApproved = decode(event)?;
            non_empty("expense_id", &p.expense_id)?;
            let mut fact = base(
                event,
                FactKind::Expense,
                &p.expense_id,
                p.date.unwrap_or(occurred),
            );
            fact.person_id = p.employee_id;
            fact.project_id = p.project_id.unwrap_or_default();
            // Older events carry no posting day: the event's instant dates them.
            if p.date.is_none() {
                fact.at_ms = Some(event.occurred_at.timestamp_millis());
            }
            fact.amount = p.total;
            fact.currency = currency(&p.currency)?;
            let mut base_fact = fact.clone();
            base_fact.kind = FactKind::ExpenseBase;
            match (p.base_currency, p.base_total) {
                (Some(code), Some(total)) => {
                    base_fact.currency = currency(&code)?;
                    base_fact.amount = total;
                }
                (None, None) => {}
                _ => {
                    return Err(Malformed(
                        "`base_currency` and `base_total` come together".into(),
                    ))
                }
            }
            vec![fact, base_fact]
        }
        "payroll.cost_posted" => {
            let p: PayrollCostPosted = decode(event)?;
            let currency = currency(&p.currency)?;
            let opened = opened.ok_or_else(|| {
                Malformed("payroll.cost_posted: `sealed_for_analytics` was not opened".into())
            })?;
            let sealed: CostSlips = serde_json::from_str(opened).map_err(|err| {
                Malformed(format!(
                    "payroll.cost_posted: the sealed slips do not fit their contract: {err}"
                ))
            })?;
            if sealed.slips.len() != p.slip_count {
                return Err(Malformed(format!(
                    "payroll.cost_posted: `slip_count` is {} but {} slips are sealed",
                    p.slip_count,
                    sealed.slips.len()
                )));
            }
            let mut facts = Vec::with_capacity(sealed.slips.len());
            for slip in sealed.slips {
                non_empty("payslip_id", &slip.payslip_id)?;
                non_empty("employee_id", &slip.employee_id)?;
                if slip.employer_cost < 0 {
                    return Err(Malformed(format!(
                        "payroll.cost_posted: the employer cost of payslip {} is negative",
                        slip.payslip_id
                    )));
                }
                let mut fact = base(event, FactKind::PayrollCost, &slip.payslip_id, p.period_end);
                fact.person_id = slip.employee_id;
                fact.amount = slip.employer_cost;
                fact.currency = currency.clone();
                facts.push(fact);
            }
            facts
        }
        "opportunity.won" => {
            let p: OpportunityWon = decode(event)?;
            non_empty("opportunity_id", &p.opportunity_id)?;
            let mut fact = base(event, FactKind::DealWon, &p.opportunity_id, occurred);
            fact.at_ms = Some(event.occurred_at.timestamp_millis());
            fact.client_id = p.client_id;
            fact.person_id = p.owner_id;
            fact.amount = p.amount_minor;
            fact.currency = currency(&p.currency)?;
            fact.quantity = 1;
            vec![fact]
        }
        "ticket.created" | "sla.breached" => {
            let p: TicketEvent = decode(event)?;
            non_empty("ticket_id", &p.ticket_id)?;
            let kind = if event.event_type == "ticket.created" {
                FactKind::Ticket
            } else {
                FactKind::SlaBreach
            };
            let mut fact = base(event, kind, &p.ticket_id, occurred);
            fact.at_ms = Some(event.occurred_at.timestamp_millis());
            fact.client_id = p.client_id.unwrap_or_default();
            fact.quantity = 1;
            vec![fact]
        }
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts_of_clear(event: &EventEnvelope) -> Result<Vec<Fact>, Malformed> {
        facts_of(event, None)
    }

    fn event(event_type: &str, payload: serde_json::Value) -> EventEnvelope {
        EventEnvelope::new(
            &erp_kit::TenantId::from_claim("t1"),
            event_type,
            "agg",
            payload,
        )
        .unwrap()
    }

    #[test]
    fn a_stopped_timer_is_a_time_entry_on_its_start_day_and_iso_week() {
        let facts = facts_of_clear(&event(
            "timer.stopped",
            json!({"timer_id": "x", "time_entry_id": "te1", "user_id": "u1", "task_id": "k",
                   "project_id": "p1", "started_at": "2027-01-03T23:30:00Z",
                   "ended_at": "2027-01-04T00:30:00Z", "duration_seconds": 3600, "billable": true}),
        ))
        .unwrap();
        assert_eq!(facts.len(), 1);
        let fact = &facts[0];
        assert_eq!(
            (
                fact.kind,
                fact.entity_id.as_str(),
                fact.day.as_str(),
                fact.week.as_str(),
                fact.month.as_str()
            ),
            (
                FactKind::TimeEntry,
                "te1",
                "2027-01-03",
                "2026-W53",
                "2027-01"
            )
        );
        assert_eq!((fact.quantity, fact.billable), (3600, true));
    }

    #[test]
    fn a_closed_sprint_is_one_sprint_fact_and_one_fact_per_completed_task() {
        let facts = facts_of_clear(&event(
            "sprint.closed",
            json!({"sprint_id": "s1", "project_id": "p1", "completed_task_ids": ["a", "b"],
                   "carried_over_task_ids": ["c"], "carried_over_to": null}),
        ))
        .unwrap();
        let kinds: Vec<_> = facts.iter().map(|f| (f.kind, f.quantity)).collect();
        assert_eq!(
            kinds,
            vec![
                (FactKind::Sprint, 2),
                (FactKind::TaskCompleted, 1),
                (FactKind::TaskCompleted, 1)
            ]
        );
    }

    #[test]
    fn cancelled_leave_replaces_the_approved_fact_with_zero_time() {
        let payload = json!({"request_id": "r1", "employee_id": "e1", "leave_type_id": "lt",
            "start_date": "2027-03-01", "end_date": "2027-03-03", "days": 2.5, "status": "approved"});
        let approved = facts_of_clear(&event("leave.approved", payload.clone())).unwrap();
        assert_eq!(
            approved[0].quantity,
            2 * WORKDAY_SECONDS + WORKDAY_SECONDS / 2
        );
        let cancelled = facts_of_clear(&event("leave.cancelled", payload)).unwrap();
        assert_eq!(
            (cancelled[0].entity_id.as_str(), cancelled[0].quantity),
            ("r1", 0)
        );
    }

    #[test]
    fn a_payload_that_breaks_its_contract_is_malformed_and_other_types_make_nothing() {
        assert!(facts_of_clear(&event("timer.stopped", json!({"user_id": 4}))).is_err());
        assert!(facts_of_clear(&event(
            "invoice.posted",
            json!({"invoice_id": "i", "customer_id": "c", "date": "2027-01-01",
                   "currency": "euro", "total": 5, "project_id": null})
        ))
        .is_err());
        assert_eq!(
            facts_of_clear(&event("task.moved", json!({}))).unwrap(),
            Vec::new()
        );
        // `payroll.posted` carries no amounts: analytics reads `payroll.cost_posted` instead.
        assert!(!ingests("payroll.posted"));
    }

    #[test]
    fn a_deleted_draft_is_one_fact_of_the_draft_dated_by_the_deletions_instant() {
        let deleted = event(
            "invoice.draft_deleted",
            json!({"invoice_id": "inv-9", "project_id": "p1", "line_keys": ["timesheet:t:p1"]}),
        );
        let facts = facts_of_clear(&deleted).unwrap();
        assert_eq!(facts.len(), 1);
        let fact = &facts[0];
        assert_eq!(
            (
                fact.kind,
                fact.entity_id.as_str(),
                fact.document_id.as_str()
            ),
            (FactKind::DraftDeleted, "inv-9", "inv-9")
        );
        assert_eq!(fact.at_ms, Some(deleted.occurred_at.timestamp_millis()));
        assert_eq!(FactKind::DraftDeleted.source(), "finance");
        assert!(facts_of_clear(&event(
            "invoice.draft_deleted",
            json!({"invoice_id": " ", "line_keys": []})
        ))
        .is_err());
    }

    #[test]
    fn a_control_total_is_one_fact_per_source_and_day_and_a_bad_one_is_malformed() {
        let facts = facts_of_clear(&event(
            "control_total.published",
            json!({"source": "invoices", "day": "2026-11-20", "count": 2, "amount": 125050,
                   "currency": "EUR"}),
        ))
        .unwrap();
        let made: Vec<_> = facts
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.entity_id.as_str(),
                    f.day.as_str(),
                    f.quantity,
                    f.amount,
                    f.currency.as_str(),
                )
            })
            .collect();
        assert_eq!(
            made,
            vec![(
                FactKind::ControlTotal,
                "invoices:2026-11-20",
                "2026-11-20",
                2,
                125050,
                "EUR"
            )]
        );
        for bad in [
            json!({"source": "In Voices", "day": "2026-11-20", "count": 2, "amount": 1,
                   "currency": "EUR"}),
            json!({"source": "invoices", "day": "2026-11-20", "count": -1, "amount": 1,
                   "currency": "EUR"}),
        ] {
            assert!(facts_of_clear(&event("control_total.published", bad)).is_err());
        }
    }

    fn cost_event(reversal: bool) -> EventEnvelope {
        event(
            "payroll.cost_posted",
            json!({"run_id": "run1", "period": "2027-01", "period_end": "2027-01-31",
                   "run_type": "regular", "currency": "EUR", "part": 2, "parts": 2,
                   "slip_count": 2, "reversal": reversal, "sealed_for_analytics": "t1.x"}),
        )
    }

    #[test]
    fn a_cost_part_is_one_payroll_cost_fact_per_sealed_slip_on_the_periods_last_day() {
        let posted = cost_event(false);
        let sealed = sealed_part(&posted).unwrap().unwrap();
        assert_eq!(
            sealed,
            Sealed {
                context: "payroll.cost_posted|t1|run1|2|posted".into(),
                sealed: "t1.x".into()
            }
        );
        assert_eq!(
            sealed_part(&cost_event(true)).unwrap().unwrap().context,
            "payroll.cost_posted|t1|run1|2|reversal"
        );
        let opened = json!({"slips": [
            {"payslip_id": "ps1", "employee_id": "e1", "employer_cost": 750_000},
            {"payslip_id": "ps2", "employee_id": "e2", "employer_cost": 523_872}]})
        .to_string();
        let facts = facts_of(&posted, Some(&opened)).unwrap();
        let made: Vec<_> = facts
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.entity_id.as_str(),
                    f.person_id.as_str(),
                    f.amount,
                    f.currency.as_str(),
                    f.day.as_str(),
                )
            })
            .collect();
        assert_eq!(
            made,
            vec![
                (
                    FactKind::PayrollCost,
                    "ps1",
                    "e1",
                    750_000,
                    "EUR",
                    "2027-01-31"
                ),
                (
                    FactKind::PayrollCost,
                    "ps2",
                    "e2",
                    523_872,
                    "EUR",
                    "2027-01-31"
                ),
            ]
        );
        // Not opened, or a count that disagrees with the sealed slips: malformed.
        assert!(facts_of(&posted, None).is_err());
        let one =
            json!({"slips": [{"payslip_id": "ps1", "employee_id": "e1", "employer_cost": 1}]})
                .to_string();
        assert_eq!(
            facts_of(&posted, Some(&one)).unwrap_err().0,
            "payroll.cost_posted: `slip_count` is 2 but 1 slips are sealed"
        );
        assert_eq!(
            sealed_part(&event("invoice.posted", json!({}))).unwrap(),
            None
        );
    }
}
