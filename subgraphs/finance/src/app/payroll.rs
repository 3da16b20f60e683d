//! Payroll's use cases. Configuration: salary components (validated when saved), structures,
//! effective-dated assignments, tax slabs, additional salary. Runs: `draft -> calculated ->
//! approved -> posted (ONE summarised journal entry, in the ledger's own transaction) -> paid
//! (a bank file and the payment entry)`; cancelling a posted run posts its reversal.
//!
//! The pay facts come from the employee subgraph's events (sealed in transit, re-sealed here
//! under finance's data keys); every person's amount, bank account and tax id is stored sealed.
//! A slip that cannot be computed (no structure, no bank account...) is reported on the run and
//! never fails it. Payslip events are enqueued in the posting transaction, so they are
//! published only after it commits. Progress is published live on the cache's pub/sub.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::NaiveDate;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use super::ledger::Posting;
use super::{new_id, Actor, Finance, Outcome};
use crate::domain::ledger::{AccountKind, AccountRole, Party, ProposedLine, Side};
use crate::domain::money::{parse_decimal, Currency, Money, Percent};
use crate::domain::payroll::{
    add_reimbursements, bank_file, check_slabs, check_structure, compute_slip, employed_days,
    is_input, recovered, reimbursed, run_transition, BankFileFormat, BankPayment, Component,
    ComponentKind, ComponentRule, Period, RunAction, RunState, Slip, SlipFailure, SlipInputs,
    TaxSlab,
};
use crate::domain::payroll_formula::Expr;
use crate::domain::payroll_loans::{deduct_loans, instalment_due, LoanDue};
use crate::domain::{parse_optional_text, parse_text, FinanceViolation};
use crate::events;
use crate::store::entities::account;
use crate::store::entities::payroll::{
    additional, assignment, component, exit, failure, leave, leave_type, loan_repayment,
    open_period, overtime, overtime_paid, person, run, settings as payroll_settings, slip,
    structure, structure_component, tax_slab,
};
use crate::store::expenses as people_store;
use crate::store::ledger as ledger_store;
use crate::store::payroll as store;

const SLIPS: &str = "finance_payroll_slips";
const RUNS: &str = "finance_payroll_runs";
pub(super) const PEOPLE: &str = "finance_payroll_people";
const ADDITIONAL: &str = "finance_payroll_additional";
pub(super) const LOANS: &str = "finance_payroll_loans";
pub(super) const REPAYMENTS: &str = "finance_payroll_loan_repayments";

/// How a component's amount is computed, as requested.
#[derive(Debug, Clone)]
pub enum RuleRequest {
    Fixed { amount: String },
    Percent { of: String, percent: String },
    Formula { formula: String },
    IncomeTax,
}

#[derive(Debug, Clone)]
pub struct ComponentRequest {
    pub code: String,
    pub name: String,
    pub kind: ComponentKind,
    pub rule: RuleRequest,
    pub account_id: String,
}

#[derive(Debug, Clone)]
pub struct StructureRequest {
    pub code: String,
    pub name: String,
    pub component_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AdditionalRequest {
    pub employee_id: String,
    pub period: String,
    pub run_type: RunType,
    pub component_id: String,
    pub amount: String,
    pub note: Option<String>,
}

/// Regular monthly pay, or an off-cycle run (bonuses, arrears) paying additional salary only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunType {
    Regular,
    OffCycle,
}

impl RunType {
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::Regular => "regular",
            RunType::OffCycle => "off_cycle",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "regular" => Some(RunType::Regular),
            "off_cycle" => Some(RunType::OffCycle),
            _ => None,
        }
    }
}

/// A slip opened for a reader entitled to it.
#[derive(Debug, Clone)]
pub struct OpenSlip {
    pub row: slip::Model,
    pub slip: Slip,
    pub bank_account: String,
    pub currency: String,
}

/// A run's bank payment file, opened.
#[derive(Debug, Clone)]
pub struct BankFile {
    pub format: String,
    pub content: String,
}

/// A run's progress, as the live subscription streams it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunProgress {
    pub run_id: String,
    /// `draft`, `calculating`, `calculated`, `approved`, `posted`, `paid`, `cancelled`.
    pub phase: String,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// Milliseconds left at the rate so far (0 when done).
    pub eta_ms: i64,
}

/// The totals of a run per component (what its one journal entry posts), sealed on the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RunTotals {
    /// component id -> (account id, kind, minor units).
    components: BTreeMap<String, (String, ComponentKind, i64)>,
    gross: i64,
    deductions: i64,
    net: i64,
    /// The expense claims the run reimburses: (expense id, employee id, minor units), each
    /// debited to the employees' reimbursement liability on its own line.
    #[serde(default)]
    reimbursements: Vec<(String, String, i64)>,
}

/// Payload of `payslip.published` (schema version 1): ids only, never amounts.
#[derive(Debug, Serialize)]
struct PayslipPublished<'a> {
    payslip_id: &'a str,
    employee_id: &'a str,
    run_id: &'a str,
    period: &'a str,
    run_type: &'a str,
}

/// Payload of `payroll.posted`, `payroll.paid` and `payroll.cancelled` (schema version 1):
/// ids and counts; the amounts are in the ledger entry, never in the event.
#[derive(Debug, Serialize)]
struct RunEvent<'a> {
    run_id: &'a str,
    period: &'a str,
    run_type: &'a str,
    slip_count: i32,
    entry_id: Option<&'a str>,
}

/// Slips per `payroll.cost_posted` event: a part stays far below a broker's message limit
/// (about 120 bytes a slip sealed) and a run of 10,000 slips costs ten seals.
pub const COST_PART_SLIPS: usize = 1_000;

/// Payload of `payroll.cost_posted` (schema version 1), what analytics reads of a run: the
/// run's ids, the period, the currency and the part in clear; the slips' ids and employer costs
/// sealed in transit for analytics ([`erp_kit::crypto::seal_in_transit`], bound to
/// [`cost_transit_context`]), so the bus never carries one person's pay in clear.
#[derive(Debug, Serialize)]
struct CostPosted<'a> {
    run_id: &'a str,
    period: &'a str,
    /// The period's last day (the day the run's entry is dated).
    period_end: NaiveDate,
    run_type: &'a str,
    currency: &'a str,
    /// 1-based; `parts` events carry the run's slips between them.
    part: usize,
    parts: usize,
    /// Slips sealed in this part.
    slip_count: usize,
    /// The run was cancelled: every slip's cost is now 0 (a newer version of the same facts).
    reversal: bool,
    /// JSON [`CostSlips`], sealed in transit.
    sealed_for_analytics: String,
}

/// What `payroll.cost_posted` seals.
#[derive(Debug, Serialize)]
struct CostSlips<'a> {
    slips: Vec<CostSlip<'a>>,
}

/// One person's employer cost for the run's period, in minor units of the run's currency:
/// the slip's gross (payroll has no employer-paid contributions; deductions are the
/// employee's, inside the gross) without its expense reimbursements (the expense was costed
/// when its claim was approved).
#[derive(Debug, Serialize)]
struct CostSlip<'a> {
    payslip_id: &'a str,
    employee_id: &'a str,
    employer_cost: i64,
}

/// The associated data a `payroll.cost_posted` part is sealed with: event type, tenant, run,
/// part and whether it is a reversal (a sealed value copied to another event does not open).
pub fn cost_transit_context(tenant: &str, run_id: &str, part: usize, reversal: bool) -> String {
    format!(
        "{}|{tenant}|{run_id}|{part}|{}",
        events::PAYROLL_COST_POSTED,
        if reversal { "reversal" } else { "posted" }
    )
}

/// What finance reads from the employee subgraph's events for payroll (unknown fields ignored).
#[derive(Debug, Deserialize)]
struct PayrollFact {
    #[serde(default)]
    employee_id: Option<String>,
    #[serde(default)]
    hired_on: Option<NaiveDate>,
    #[serde(default)]
    sealed_for_payroll: Option<String>,
    #[serde(default)]
    leave_type_id: Option<String>,
    #[serde(default)]
    paid: Option<bool>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    start_date: Option<NaiveDate>,
    #[serde(default)]
    end_date: Option<NaiveDate>,
    #[serde(default)]
    days: Option<serde_json::Number>,
    #[serde(default)]
    last_working_day: Option<NaiveDate>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    overtime_minutes: Option<i64>,
    /// `attendance.period_adjusted`: the adjustment's number in its employee-month.
    #[serde(default)]
    revision: Option<i64>,
}

/// The pay facts sealed in transit in `employee.compensation_changed`.
#[derive(Debug, Deserialize)]
struct PayFacts {
    salary: String,
    currency: String,
    #[serde(default)]
    bank_account: Option<String>,
    #[serde(default)]
    tax_id: Option<String>,
}

/// The events of the employee subgraph payroll consumes.
pub const PAYROLL_INPUTS: &[&str] = &[
    "employee.hired",
    "employee.compensation_changed",
    "leave.type_created",
    "leave.approved",
    "leave.cancelled",
    "employee.exit_scheduled",
    "employee.left",
    "employee.exit_cancelled",
    "attendance.period_closed",
    "attendance.period_adjusted",
];

fn progress_channel(tenant: &TenantId, run_id: &str) -> String {
    format!("finance.payroll.{tenant}.{run_id}")
}

fn stored_state(run: &run::Model) -> ApiResult<RunState> {
    RunState::from_stored(&run.state)
        .ok_or_else(|| ApiError::internal(format!("payroll run state {}", run.state)))
}

/// A component code doubles as a formula name: a letter or `_`, then letters, digits, `_`.
fn parse_component_code(raw: &str) -> Result<String, FinanceViolation> {
    let code = raw.trim();
    let mut chars = code.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || is_input(code)
    {
        return Err(FinanceViolation::BadCode("code"));
    }
    Ok(code.to_owned())
}

/// A stored component as the domain computes it.
fn component_of(row: &component::Model) -> ApiResult<Component> {
    let kind = ComponentKind::from_stored(&row.kind)
        .ok_or_else(|| ApiError::internal(format!("component kind {}", row.kind)))?;
    let rule = match row.rule.as_str() {
        "fixed" => ComponentRule::Fixed(row.amount_minor.unwrap_or(0)),
        "percent" => ComponentRule::Percent {
            of: row.percent_of.clone().unwrap_or_default(),
            ppm: row.percent_ppm.unwrap_or(0),
        },
        "formula" => ComponentRule::Formula(
            Expr::parse(row.formula.as_deref().unwrap_or(""), &|_| true)
                .map_err(|err| ApiError::internal(format!("a stored formula: {err:?}")))?,
        ),
        "income_tax" => ComponentRule::IncomeTax,
        other => return Err(ApiError::internal(format!("component rule {other}"))),
    };
    Ok(Component {
        id: row.id.clone(),
        code: row.code.clone(),
        name: row.name.clone(),
        kind,
        rule,
    })
}

impl Finance {
    // --- Keys and live progress -------------------------------------------------------------

    /// Makes sure the tenant's data and index keys exist, through the pool and outside any
    /// write transaction (on SQLite a first key created inside one would wait on its own lock).
    pub(super) async fn ensure_payroll_keys(&self, tenant: &TenantId) -> ApiResult<()> {
        self.cipher.blind_index(tenant, "warm-up", "").await?;
        self.cipher
            .encrypt(tenant, "finance_data_keys", "warm-up", "warm-up", "")
            .await?;
        Ok(())
    }

    pub(super) async fn seal(
        &self,
        tenant: &TenantId,
        table: &str,
        column: &str,
        row: &str,
        value: &str,
    ) -> ApiResult<String> {
        self.cipher.encrypt(tenant, table, column, row, value).await
    }

    pub(super) async fn open(
        &self,
        tenant: &TenantId,
        table: &str,
        column: &str,
        row: &str,
        sealed: &str,
    ) -> ApiResult<String> {
        self.cipher
            .decrypt(tenant, table, column, row, sealed)
            .await
    }

    /// Publishes a run's progress (best effort: the run's state in the database is the record).
    async fn publish_progress(&self, tenant: &TenantId, progress: &RunProgress) {
        let message = match serde_json::to_vec(progress) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "payroll progress not encoded");
                return;
            }
        };
        if let Err(err) = self
            .cache
            .publish(&progress_channel(tenant, &progress.run_id), &message)
            .await
        {
            tracing::warn!(error = %err, "payroll progress not published");
        }
    }

    async fn publish_phase(&self, tenant: &TenantId, run: &run::Model, phase: &str) {
        let total = i64::from(run.slip_count + run.failed_count);
        self.publish_progress(
            tenant,
            &RunProgress {
                run_id: run.id.clone(),
                phase: phase.into(),
                total,
                done: i64::from(run.slip_count),
                failed: i64::from(run.failed_count),
                eta_ms: 0,
            },
        )
        .await;
    }

    /// A run's progress updates from every replica (JSON [`RunProgress`]).
    pub async fn payroll_progress_updates(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> ApiResult<BoxStream<'static, Vec<u8>>> {
        self.cache
            .subscribe(&progress_channel(tenant, run_id))
            .await
            .map_err(ApiError::internal)
    }

    /// A run's progress now, from its stored state.
    pub async fn payroll_progress_now(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> ApiResult<RunProgress> {
        let run = self.payroll_run(tenant, run_id).await?;
        Ok(RunProgress {
            run_id: run.id.clone(),
            phase: run.state.clone(),
            total: i64::from(run.slip_count + run.failed_count),
            done: i64::from(run.slip_count),
            failed: i64::from(run.failed_count),
            eta_ms: 0,
        })
    }

    // --- Facts from the employee subgraph ---------------------------------------------------

    /// Applies an employee-subgraph event to payroll's facts in its own write (the consumer
    /// uses [`Finance::apply_payroll_event_in`] inside its inbox transaction).
    pub async fn apply_payroll_event(&self, event: &EventEnvelope) -> ApiResult<()> {
        self.ensure_payroll_keys(&TenantId::from_claim(&event.tenant_id))
            .await?;
        self.write(async |txn| self.apply_payroll_event_in(txn, event).await)
            .await
    }

    /// `employee.hired`, `employee.compensation_changed` (its pay facts sealed in transit,
    /// re-sealed under finance's keys), `leave.type_created`, `leave.approved`,
    /// `leave.cancelled`, `attendance.period_closed` (the period's approved overtime) and
    /// `attendance.period_adjusted` (its new total after an authorised correction of a day of
    /// the closed month; the highest revision wins, so a stale or repeated delivery changes
    /// nothing; what a posted run paid already is settled by the next regular run as an
    /// arrears or recovery line labelled with the month), and the exits: `employee.exit_scheduled` and `employee.left` record
    /// the leaver's last working day (scheduled, then in effect), `employee.exit_cancelled`
    /// forgets a scheduled one (an exit in effect is never cancelled). Other events are
    /// ignored. Applying an event twice changes nothing.
    pub async fn apply_payroll_event_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        event: &EventEnvelope,
    ) -> ApiResult<()> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let fact: PayrollFact = serde_json::from_value(event.payload.clone())
            .map_err(|err| ApiError::bad_input("payload", err.to_string()))?;
        let missing = |field: &str| ApiError::bad_input("payload", format!("no {field}"));
        match event.event_type.as_str() {
            "employee.hired" => {
                let employee = fact.employee_id.ok_or_else(|| missing("employee_id"))?;
                store::upsert_hired(txn, &tenant, &employee, fact.hired_on).await?;
            }
            "employee.compensation_changed" => {
                let employee = fact.employee_id.ok_or_else(|| missing("employee_id"))?;
                // An event of an employee subgraph that seals nothing for payroll carries no
                // amount payroll could use.
                let Some(sealed) = fact.sealed_for_payroll else {
                    return Ok(());
                };
                let context = format!("{}|{tenant}|{employee}", event.event_type);
                let opened =
                    erp_kit::crypto::open_in_transit(self.transit.as_ref(), &context, &sealed)
                        .await?;
                let facts: PayFacts = serde_json::from_str(&opened)
                    .map_err(|err| ApiError::bad_input("payload", err.to_string()))?;
                let currency = Currency::parse(&facts.currency)?;
                let salary = Money::parse(&facts.salary, currency)?;
                self.record_pay_facts(
                    txn,
                    &tenant,
                    &employee,
                    salary,
                    facts.bank_account.as_deref(),
                    facts.tax_id.as_deref(),
                )
                .await?;
            }
            "leave.type_created" => {
                store::upsert_leave_type(
                    txn,
                    leave_type::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        leave_type_id: fact
                            .leave_type_id
                            .ok_or_else(|| missing("leave_type_id"))?,
                        paid: fact.paid.unwrap_or(true),
                    },
                )
                .await?;
            }
            "leave.approved" => {
                let days = fact.days.ok_or_else(|| missing("days"))?;
                let milli_days = parse_decimal(&days.to_string(), 3, "days")
                    .map_err(|_| ApiError::bad_input("payload", "days is not a day count"))?;
                store::upsert_leave(
                    txn,
                    leave::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        request_id: fact.request_id.ok_or_else(|| missing("request_id"))?,
                        employee_id: fact.employee_id.ok_or_else(|| missing("employee_id"))?,
                        leave_type_id: fact
                            .leave_type_id
                            .ok_or_else(|| missing("leave_type_id"))?,
                        start_date: fact.start_date.ok_or_else(|| missing("start_date"))?,
                        end_date: fact.end_date.ok_or_else(|| missing("end_date"))?,
                        milli_days,
                    },
                )
                .await?;
            }
            "leave.cancelled" => {
                let request = fact.request_id.ok_or_else(|| missing("request_id"))?;
                store::delete_leave(txn, &tenant, &request).await?;
            }
            "employee.exit_scheduled" | "employee.left" => {
                let state = if event.event_type == "employee.left" {
                    "left"
                } else {
                    "scheduled"
                };
                store::upsert_exit(
                    txn,
                    exit::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: fact.employee_id.ok_or_else(|| missing("employee_id"))?,
                        last_working_day: fact
                            .last_working_day
                            .ok_or_else(|| missing("last_working_day"))?,
                        state: state.into(),
                        reason: fact.reason.unwrap_or_default(),
                        updated_at: chrono::Utc::now(),
                    },
                )
                .await?;
            }
            "employee.exit_cancelled" => {
                let employee = fact.employee_id.ok_or_else(|| missing("employee_id"))?;
                store::delete_scheduled_exit(txn, &tenant, &employee).await?;
            }
            "attendance.period_closed" | "attendance.period_adjusted" => {
                let period = Period::parse(&fact.period.ok_or_else(|| missing("period"))?)?;
                let minutes = fact
                    .overtime_minutes
                    .ok_or_else(|| missing("overtime_minutes"))?;
                if minutes < 0 {
                    return Err(ApiError::bad_input("payload", "negative overtime"));
                }
                // A close is revision 0; each adjustment of the closed month the next.
                let revision = if event.event_type == "attendance.period_adjusted" {
                    fact.revision.ok_or_else(|| missing("revision"))?
                } else {
                    0
                };
                store::upsert_overtime(
                    txn,
                    overtime::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: fact.employee_id.ok_or_else(|| missing("employee_id"))?,
                        period: period.label(),
                        overtime_minutes: minutes,
                        updated_at: chrono::Utc::now(),
                        revision,
                    },
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Records an employee's pay facts sealed under finance's keys (the newest wins): the
    /// annual salary, the bank account and the tax id. A tenant without its data key yet gets
    /// it created through the pool and the write is refused to be retried (inside this
    /// transaction SQLite would wait on the writer's own lock).
    pub(super) async fn record_pay_facts<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        employee: &str,
        salary: Money,
        bank_account: Option<&str>,
        tax_id: Option<&str>,
    ) -> ApiResult<()> {
        if !store::has_data_key(txn, tenant).await? {
            let finance = self.clone();
            let key_tenant = tenant.clone();
            tokio::spawn(async move {
                if let Err(err) = finance.ensure_payroll_keys(&key_tenant).await {
                    tracing::warn!(error = ?err, "payroll data key not created");
                }
            });
            return Err(ApiError::internal(
                "the tenant's payroll data key is being created; retried",
            ));
        }
        let seal = async |column: &str, value: Option<&str>| -> ApiResult<Option<String>> {
            match value {
                Some(value) => Ok(Some(
                    self.seal(tenant, PEOPLE, column, employee, value).await?,
                )),
                None => Ok(None),
            }
        };
        let row = person::Model {
            tenant_id: tenant.as_str().to_owned(),
            employee_id: employee.to_owned(),
            hired_on: None,
            currency: Some(salary.currency().code().to_owned()),
            salary_sealed: seal("salary", Some(&salary.minor().to_string())).await?,
            bank_account_sealed: seal("bank_account", bank_account).await?,
            tax_id_sealed: seal("tax_id", tax_id).await?,
            updated_at: chrono::Utc::now(),
        };
        store::upsert_compensation(txn, row).await?;
        Ok(())
    }

    // --- Configuration ----------------------------------------------------------------------

    /// Saves a salary component, refusing a formula that reads an unknown name or divides by a
    /// constant zero, a percentage of an unknown component, income tax as an earning.
    pub async fn create_salary_component(
        &self,
        actor: &Actor,
        request: ComponentRequest,
    ) -> ApiResult<component::Model> {
        let code = parse_component_code(&request.code)?;
        let name = parse_text("name", &request.name)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            let base = Currency::parse(&settings.base_currency)?;
            let existing = store::components(txn, &tenant).await?;
            let known_component = |name: &str| existing.iter().any(|c| c.code == name);
            let (rule, amount_minor, percent_ppm, percent_of, formula) = match &request.rule {
                RuleRequest::Fixed { amount } => {
                    let amount = Money::parse(amount, base)?;
                    if amount.minor() < 0 {
                        return Err(FinanceViolation::AmountOutOfRange.into());
                    }
                    ("fixed", Some(amount.minor()), None, None, None)
                }
                RuleRequest::Percent { of, percent } => {
                    let percent = Percent::parse("percent", percent, 100)?;
                    if !known_component(of) {
                        return Err(FinanceViolation::UnknownFormulaInput(of.clone()).into());
                    }
                    ("percent", None, Some(percent.ppm()), Some(of.clone()), None)
                }
                RuleRequest::Formula { formula } => {
                    Expr::parse(formula, &|name| is_input(name) || known_component(name))?;
                    ("formula", None, None, None, Some(formula.trim().to_owned()))
                }
                RuleRequest::IncomeTax => {
                    if request.kind != ComponentKind::Deduction {
                        return Err(ApiError::bad_input("kind", "income tax is a deduction"));
                    }
                    ("income_tax", None, None, None, None)
                }
            };
            let facts = self
                .account_facts(txn, &tenant, vec![request.account_id.clone()])
                .await?;
            match facts.get(&request.account_id) {
                None => {
                    return Err(
                        FinanceViolation::AccountNotFound(request.account_id.clone()).into(),
                    )
                }
                Some(account) if account.role.is_control() => {
                    return Err(
                        FinanceViolation::ControlAccountReserved(account.code.clone()).into(),
                    )
                }
                Some(_) => {}
            }
            let row = component::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                code,
                name,
                kind: request.kind.as_str().into(),
                rule: rule.into(),
                amount_minor,
                percent_ppm,
                percent_of,
                formula,
                account_id: request.account_id.clone(),
                created_at: chrono::Utc::now(),
            };
            store::insert_component(txn, row.clone())
                .await
                .map_err(|err| super::unique_as(err, FinanceViolation::BadCode("code")))?;
            Ok(row)
        })
        .await
    }

    /// Saves a salary structure: its components in order, each reading only earlier ones.
    pub async fn create_salary_structure(
        &self,
        actor: &Actor,
        request: StructureRequest,
    ) -> ApiResult<structure::Model> {
        let code = crate::domain::parse_code("code", &request.code)?;
        let name = parse_text("name", &request.name)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            let all: HashMap<String, component::Model> = store::components(txn, &tenant)
                .await?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
            let members = request
                .component_ids
                .iter()
                .map(|id| {
                    all.get(id)
                        .ok_or_else(|| ApiError::NotFound("salary component".into()))
                        .and_then(component_of)
                })
                .collect::<ApiResult<Vec<_>>>()?;
            check_structure(&members)?;
            let id = new_id();
            let row = structure::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                code,
                name,
                created_at: chrono::Utc::now(),
            };
            let rows = members
                .iter()
                .enumerate()
                .map(|(position, member)| structure_component::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    structure_id: id.clone(),
                    position: position as i32 + 1,
                    component_id: member.id.clone(),
                })
                .collect();
            store::insert_structure(txn, row.clone(), rows)
                .await
                .map_err(|err| super::unique_as(err, FinanceViolation::BadCode("code")))?;
            Ok(row)
        })
        .await
    }

    /// Assigns a structure to an employee from a date (the newest assignment on or before a
    /// period's end applies to it).
    pub async fn assign_salary_structure(
        &self,
        actor: &Actor,
        employee_id: &str,
        structure_id: &str,
        effective_from: NaiveDate,
    ) -> ApiResult<assignment::Model> {
        let employee = parse_text("employeeId", employee_id)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            if !store::structures(txn, &tenant)
                .await?
                .iter()
                .any(|s| s.id == structure_id)
            {
                return Err(ApiError::NotFound("salary structure".into()));
            }
            let row = assignment::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                employee_id: employee.clone(),
                structure_id: structure_id.to_owned(),
                effective_from,
                created_at: chrono::Utc::now(),
            };
            store::insert_assignment(txn, row.clone())
                .await
                .map_err(|err| match err.sql_err() {
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::bad_input(
                        "effectiveFrom",
                        "the employee already has an assignment from this date",
                    ),
                    _ => err.into(),
                })?;
            Ok(row)
        })
        .await
    }

    /// Replaces a fiscal year's income-tax slabs: (annual income from, rate).
    pub async fn set_tax_slabs(
        &self,
        actor: &Actor,
        fiscal_year: &str,
        slabs: Vec<(String, String)>,
    ) -> ApiResult<Vec<TaxSlab>> {
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            let base = Currency::parse(&settings.base_currency)?;
            if !self
                .fiscal_years_in(txn, &tenant)
                .await?
                .iter()
                .any(|year| year.name == fiscal_year)
            {
                return Err(ApiError::NotFound("fiscal year".into()));
            }
            let parsed = slabs
                .iter()
                .map(|(from, rate)| {
                    Ok(TaxSlab {
                        from_minor: Money::parse(from, base)?.minor(),
                        ppm: Percent::parse("rate", rate, 100)?.ppm(),
                    })
                })
                .collect::<Result<Vec<_>, FinanceViolation>>()?;
            check_slabs(&parsed)?;
            let rows = parsed
                .iter()
                .enumerate()
                .map(|(position, slab)| tax_slab::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    fiscal_year: fiscal_year.to_owned(),
                    position: position as i32 + 1,
                    from_minor: slab.from_minor,
                    rate_ppm: slab.ppm,
                })
                .collect();
            store::replace_tax_slabs(txn, &tenant, fiscal_year, rows).await?;
            Ok(parsed)
        })
        .await
    }

    /// Records additional salary (a bonus, arrears of a back-dated revision) for a period; the
    /// amount is sealed.
    pub async fn add_additional_salary(
        &self,
        actor: &Actor,
        request: AdditionalRequest,
    ) -> ApiResult<additional::Model> {
        let period = Period::parse(&request.period)?;
        let note = parse_optional_text("note", request.note.as_deref())?;
        let employee = parse_text("employeeId", &request.employee_id)?;
        let tenant = actor.tenant.clone();
        let settings = self.require_set_up(&self.db, &tenant).await?;
        let amount = Money::parse(&request.amount, Currency::parse(&settings.base_currency)?)?;
        if !amount.is_positive() {
            return Err(FinanceViolation::AmountOutOfRange.into());
        }
        if !store::components(&self.db, &tenant)
            .await?
            .iter()
            .any(|c| c.id == request.component_id && c.rule != "income_tax")
        {
            return Err(ApiError::NotFound("salary component".into()));
        }
        let id = new_id();
        self.ensure_payroll_keys(&tenant).await?;
        let sealed = self
            .seal(
                &tenant,
                ADDITIONAL,
                "amount",
                &id,
                &amount.minor().to_string(),
            )
            .await?;
        self.write(async |txn| {
            let row = additional::Model {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                employee_id: employee.clone(),
                period: period.label(),
                run_type: request.run_type.as_str().into(),
                component_id: request.component_id.clone(),
                amount_sealed: sealed.clone(),
                note: note.clone(),
                created_by: actor.user_id.clone(),
                created_at: chrono::Utc::now(),
            };
            store::insert_additional(txn, row.clone()).await?;
            Ok(row)
        })
        .await
    }

    // --- Runs -------------------------------------------------------------------------------

    /// Opens a run for a period: PAYROLL_PERIOD_POSTED when the period's run of this type is
    /// posted or paid, PAYROLL_RUN_IN_PROGRESS while another is open (also when two race).
    pub async fn create_payroll_run(
        &self,
        actor: &Actor,
        period: &str,
        run_type: RunType,
    ) -> ApiResult<run::Model> {
        let period = Period::parse(period)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            self.check_period_free(txn, &tenant, &period.label(), run_type)
                .await?;
            let now = chrono::Utc::now();
            let row = run::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                period: period.label(),
                run_type: run_type.as_str().into(),
                state: RunState::Draft.as_str().into(),
                currency: settings.base_currency.clone(),
                slip_count: 0,
                failed_count: 0,
                totals_sealed: None,
                bank_file_sealed: None,
                bank_file_format: None,
                entry_id: None,
                payment_entry_id: None,
                reversal_entry_id: None,
                created_by: actor.user_id.clone(),
                calculated_by: None,
                approved_by: None,
                created_at: now,
                updated_at: now,
            };
            store::insert_run(txn, row.clone()).await?;
            let claimed = store::claim_period(
                txn,
                open_period::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    period: row.period.clone(),
                    run_type: row.run_type.clone(),
                    run_id: row.id.clone(),
                },
            )
            .await?;
            if !claimed {
                // A concurrent request claimed it between the check and the insert.
                return Err(FinanceViolation::PayrollRunInProgress.into());
            }
            Ok(row)
        })
        .await
    }

    async fn check_period_free<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
        period: &str,
        run_type: RunType,
    ) -> ApiResult<()> {
        if let Some(holder) = store::period_holder(conn, tenant, period, run_type.as_str()).await? {
            let held = store::run(conn, tenant, &holder)
                .await?
                .ok_or_else(|| ApiError::internal("a period's run vanished"))?;
            return Err(match stored_state(&held)? {
                RunState::Posted | RunState::Paid => FinanceViolation::PayrollPeriodPosted,
                _ => FinanceViolation::PayrollRunInProgress,
            }
            .into());
        }
        Ok(())
    }

    pub async fn payroll_run(&self, tenant: &TenantId, run_id: &str) -> ApiResult<run::Model> {
        store::run(&self.db, tenant, run_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("payroll run".into()))
    }

    /// Computes every slip of the run (again, while it is not approved): the same inputs give
    /// the same slips. Each employee's problem is reported on the run; the run goes on. The
    /// slips are sealed and written in multi-row inserts in one transaction with the run's new
    /// state.
    pub async fn calculate_payroll_run(
        &self,
        actor: &Actor,
        run_id: &str,
    ) -> ApiResult<run::Model> {
        let tenant = actor.tenant.clone();
        let run = self.payroll_run(&tenant, run_id).await?;
        let from = stored_state(&run)?;
        run_transition(from, RunAction::Calculate)?;
        let period = Period::parse(&run.period)?;
        let run_type = RunType::from_stored(&run.run_type)
            .ok_or_else(|| ApiError::internal(format!("run type {}", run.run_type)))?;
        let started = Instant::now();
        self.ensure_payroll_keys(&tenant).await?;

        // Facts, read once each (never one query per employee).
        let db = &self.db;
        let settings = self.require_set_up(db, &tenant).await?;
        let base = Currency::parse(&settings.base_currency)?;
        let year = self
            .fiscal_years_in(db, &tenant)
            .await?
            .into_iter()
            .find(|year| year.starts_on <= period.ends_on && period.ends_on <= year.ends_on)
            .ok_or(FinanceViolation::NoFiscalYear(period.ends_on))?;
        let slabs: Vec<TaxSlab> = store::tax_slabs(db, &tenant, &year.name)
            .await?
            .into_iter()
            .map(|row| TaxSlab {
                from_minor: row.from_minor,
                ppm: row.rate_ppm,
            })
            .collect();
        let components: HashMap<String, Component> = store::components(db, &tenant)
            .await?
            .iter()
            .map(|row| Ok((row.id.clone(), component_of(row)?)))
            .collect::<ApiResult<_>>()?;
        let accounts: HashMap<String, String> = store::components(db, &tenant)
            .await?
            .into_iter()
            .map(|row| (row.id, row.account_id))
            .collect();
        let mut structures: HashMap<String, Vec<Component>> = HashMap::new();
        for member in store::structure_members(db, &tenant).await? {
            let component = components
                .get(&member.component_id)
                .ok_or_else(|| ApiError::internal("a structure's component vanished"))?;
            structures
                .entry(member.structure_id)
                .or_default()
                .push(component.clone());
        }
        // The newest assignment on or before the period's end, per employee.
        let mut assigned: BTreeMap<String, String> = BTreeMap::new();
        for row in store::assignments_until(db, &tenant, period.ends_on).await? {
            assigned.entry(row.employee_id).or_insert(row.structure_id);
        }
        let people: HashMap<String, person::Model> = store::people(db, &tenant)
            .await?
            .into_iter()
            .map(|p| (p.employee_id.clone(), p))
            .collect();
        let mut additional: BTreeMap<String, Vec<(Component, i64)>> = BTreeMap::new();
        for row in store::additional_for(db, &tenant, &period.label()).await? {
            if row.run_type != run_type.as_str() {
                continue;
            }
            let component = components
                .get(&row.component_id)
                .ok_or_else(|| ApiError::internal("an additional salary's component vanished"))?;
            let amount: i64 = self
                .open(&tenant, ADDITIONAL, "amount", &row.id, &row.amount_sealed)
                .await?
                .parse()
                .map_err(ApiError::internal)?;
            additional
                .entry(row.employee_id)
                .or_default()
                .push((component.clone(), amount));
        }
        let policy = self.payroll_policy_in(db, &tenant).await?;
        let overtime: HashMap<String, i64> = store::overtime_in(db, &tenant, &period.label())
            .await?
            .into_iter()
            .map(|row| (row.employee_id, row.overtime_minutes))
            .collect();
        // Overtime of earlier months approved after their regular run was posted: a regular run
        // pays it as adjustment lines labelled with its month (the posted slip never changes).
        let mut overtime_arrears: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        if run_type == RunType::Regular {
            for (employee, month, minutes) in
                store::overtime_owed(db, &tenant, &run.id, &period.label()).await?
            {
                overtime_arrears
                    .entry(employee)
                    .or_default()
                    .push((month, minutes));
            }
        }
        // Approved expense claims queued for payroll, paid by a regular run (the first
        // calculated with them reserves them).
        let mut claims: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        if run_type == RunType::Regular {
            for (queued, claim) in store::reimbursable(db, &tenant, &run.id).await? {
                if claim.currency != base.code() {
                    continue;
                }
                claims
                    .entry(queued.employee_id)
                    .or_default()
                    .push((claim.id, claim.total));
            }
        }
        let mut lwp: HashMap<String, i64> = HashMap::new();
        for (row, paid) in store::leave_in(db, &tenant, period.starts_on, period.ends_on).await? {
            if !paid {
                *lwp.entry(row.employee_id).or_default() += row.milli_days;
            }
        }

        // Leavers' last working days: a regular run pays a leaver pro rata in the period of
        // that day and leaves them out of later periods.
        let exits: HashMap<String, NaiveDate> = store::exits(db, &tenant)
            .await?
            .into_iter()
            .map(|row| (row.employee_id, row.last_working_day))
            .collect();
        // The loans a regular run deducts, with what each still owes net of what posted runs
        // repaid and other open runs reserved.
        let loans = match run_type {
            RunType::Regular => self.loans_due(&tenant, &run.id, &period).await?,
            RunType::OffCycle => BTreeMap::new(),
        };

        // Who is paid: a regular run pays everyone assigned or known, hired by the period's
        // end and not left before it began; an off-cycle run those with additional salary of
        // its type.
        let mut employees: Vec<String> = match run_type {
            RunType::Regular => {
                let mut all: Vec<String> = assigned.keys().cloned().collect();
                all.extend(
                    people
                        .values()
                        .filter(|p| p.hired_on.is_none_or(|hired| hired <= period.ends_on))
                        .map(|p| p.employee_id.clone()),
                );
                all
            }
            RunType::OffCycle => additional.keys().cloned().collect(),
        };
        employees.sort();
        employees.dedup();
        // Hire dates: a regular run pays a joiner pro rata in the period of their hire date and
        // leaves them out of earlier periods (an assignment dated before the hire included).
        let hired_on = |employee: &str| people.get(employee).and_then(|p| p.hired_on);
        if run_type == RunType::Regular {
            employees
                .retain(|e| employed_days(&period, hired_on(e), exits.get(e).copied()).is_some());
        }

        let total = employees.len() as i64;
        let mut slips = Vec::with_capacity(employees.len());
        let mut failures = Vec::new();
        let mut repayments: Vec<loan_repayment::Model> = Vec::new();
        let mut overtime_paid: Vec<overtime_paid::Model> = Vec::new();
        let mut totals = RunTotals::default();
        let now = chrono::Utc::now();
        let fail = |employee: &str, reason: SlipFailure, message: String| failure::Model {
            tenant_id: tenant.as_str().to_owned(),
            run_id: run.id.clone(),
            employee_id: employee.to_owned(),
            reason: reason.as_str().into(),
            message,
        };
        for (index, employee) in employees.iter().enumerate() {
            if index > 0 && index % 1000 == 0 {
                let elapsed = started.elapsed().as_millis() as i64;
                let done = index as i64;
                self.publish_progress(
                    &tenant,
                    &RunProgress {
                        run_id: run.id.clone(),
                        phase: "calculating".into(),
                        total,
                        done: done - failures.len() as i64,
                        failed: failures.len() as i64,
                        eta_ms: elapsed * (total - done) / done,
                    },
                )
                .await;
            }
            let person = people.get(employee);
            let structure: &[Component] = match run_type {
                RunType::OffCycle => &[],
                RunType::Regular => match assigned.get(employee).and_then(|s| structures.get(s)) {
                    Some(structure) => structure,
                    None => {
                        failures.push(fail(
                            employee,
                            SlipFailure::MissingStructure,
                            "no salary structure is assigned on the period's end".into(),
                        ));
                        continue;
                    }
                },
            };
            let (Some(person), Some(salary_sealed)) =
                (person, person.and_then(|p| p.salary_sealed.clone()))
            else {
                failures.push(fail(
                    employee,
                    SlipFailure::MissingSalary,
                    "no compensation is known for the employee".into(),
                ));
                continue;
            };
            if person.currency.as_deref() != Some(base.code()) {
                failures.push(fail(
                    employee,
                    SlipFailure::CurrencyMismatch,
                    format!("the salary is not in the base currency {}", base.code()),
                ));
                continue;
            }
            let Some(bank_sealed) = &person.bank_account_sealed else {
                failures.push(fail(
                    employee,
                    SlipFailure::MissingBankAccount,
                    "no bank account is known for the employee".into(),
                ));
                continue;
            };
            let annual_salary: i64 = self
                .open(&tenant, PEOPLE, "salary", employee, &salary_sealed)
                .await?
                .parse()
                .map_err(ApiError::internal)?;
            let bank_account = self
                .open(&tenant, PEOPLE, "bank_account", employee, bank_sealed)
                .await?;
            let last_working_day = exits.get(employee).copied();
            let inputs = SlipInputs {
                annual_salary,
                days_in_period: period.days(),
                days_employed: employed_days(&period, hired_on(employee), last_working_day)
                    .unwrap_or(0),
                lwp_milli_days: lwp.get(employee).copied().unwrap_or(0),
                overtime_minutes: overtime.get(employee).copied().unwrap_or(0),
                overtime_arrears: overtime_arrears.remove(employee).unwrap_or_default(),
                policy,
                additional: additional.get(employee).cloned().unwrap_or_default(),
            };
            let mut slip = match compute_slip(structure, &slabs, &inputs) {
                Ok(slip) => slip,
                Err((reason, message)) => {
                    failures.push(fail(employee, reason, message));
                    continue;
                }
            };
            // The overtime this slip accounts for: its own month's (a regular run's) and each
            // late month's it pays an adjustment for.
            let own_month = (run_type == RunType::Regular && inputs.overtime_minutes > 0)
                .then(|| (run.period.clone(), inputs.overtime_minutes));
            for (month, minutes) in own_month.into_iter().chain(inputs.overtime_arrears) {
                overtime_paid.push(overtime_paid::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    run_id: run.id.clone(),
                    employee_id: employee.clone(),
                    period: month,
                    minutes,
                });
            }
            // Loans come last, each cut to the net pay left; a leaver's final slip takes
            // the whole balance.
            let final_settlement = last_working_day.is_some_and(|day| day <= period.ends_on);
            let mut loan_accounts: HashMap<String, String> = HashMap::new();
            if let Some(owed) = loans.get(employee) {
                let dues: Vec<LoanDue> = owed
                    .iter()
                    .map(|(loan, instalment, outstanding)| LoanDue {
                        loan_id: loan.id.clone(),
                        due: instalment_due(*instalment, *outstanding, final_settlement),
                    })
                    .filter(|due| due.due > 0)
                    .collect();
                for deducted in deduct_loans(&mut slip, &dues) {
                    let row_key = format!("{}:{}", deducted.loan_id, run.id);
                    repayments.push(loan_repayment::Model {
                        loan_id: deducted.loan_id.clone(),
                        run_id: run.id.clone(),
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: employee.clone(),
                        period: run.period.clone(),
                        amount_sealed: self
                            .seal(
                                &tenant,
                                REPAYMENTS,
                                "amount",
                                &row_key,
                                &deducted.amount.to_string(),
                            )
                            .await?,
                        reason: deducted.reason.map(str::to_owned),
                        state: "pending".into(),
                        created_at: now,
                    });
                }
                for (loan, _, _) in owed {
                    loan_accounts.insert(loan.id.clone(), loan.account_id.clone());
                }
            }
            // Reimbursements come after the loans: a loan never takes an expense's refund.
            if let Some(owed) = claims.get(employee) {
                add_reimbursements(&mut slip, owed);
                for (expense_id, amount) in owed {
                    totals
                        .reimbursements
                        .push((expense_id.clone(), employee.clone(), *amount));
                }
            }
            for line in &slip.lines {
                if line.code == crate::domain::payroll::REIMBURSEMENT_LINE_CODE
                    && line.component_id.starts_with("expense:")
                {
                    continue;
                }
                let account = accounts
                    .get(&line.component_id)
                    .or_else(|| loan_accounts.get(&line.component_id))
                    .cloned()
                    .ok_or_else(|| ApiError::internal("a slip line's component vanished"))?;
                // A recovery line sits on its component's opposite side: it lowers the
                // component's total (which may end below zero: posted on the other side).
                let component_kind = if line.recovery {
                    line.kind.opposite()
                } else {
                    line.kind
                };
                let entry = totals
                    .components
                    .entry(line.component_id.clone())
                    .or_insert((account, component_kind, 0));
                if line.recovery {
                    entry.2 -= line.amount;
                } else {
                    entry.2 += line.amount;
                }
            }
            totals.gross += slip.gross;
            totals.deductions += slip.deductions;
            totals.net += slip.net;
            let id = new_id();
            let canonical = slip.canonical();
            slips.push(slip::Model {
                fingerprint: self
                    .cipher
                    .blind_index(
                        &tenant,
                        "payslip",
                        &format!("{employee}|{}|{}|{canonical}", run.period, run.run_type),
                    )
                    .await?,
                amounts_sealed: self
                    .seal(&tenant, SLIPS, "amounts", &id, &canonical)
                    .await?,
                bank_account_sealed: self
                    .seal(&tenant, SLIPS, "bank_account", &id, &bank_account)
                    .await?,
                id,
                tenant_id: tenant.as_str().to_owned(),
                run_id: run.id.clone(),
                employee_id: employee.clone(),
                period: run.period.clone(),
                run_type: run.run_type.clone(),
                slot: String::new(),
                state: "draft".into(),
                created_at: now,
            });
        }
        let totals_json = serde_json::to_string(&totals).map_err(ApiError::internal)?;
        let totals_sealed = self
            .seal(&tenant, RUNS, "totals", &run.id, &totals_json)
            .await?;
        let slip_count = slips.len() as i32;
        let failed_count = failures.len() as i32;
        let reserved: Vec<String> = totals
            .reimbursements
            .iter()
            .map(|(expense_id, _, _)| expense_id.clone())
            .collect();
        self.write(async |txn| {
            let moved = store::transition_run(
                txn,
                &tenant,
                &run.id,
                from.as_str(),
                RunState::Calculated.as_str(),
                store::RunChange {
                    slip_count: Some(slip_count),
                    failed_count: Some(failed_count),
                    totals_sealed: Some(totals_sealed.clone()),
                    calculated_by: Some(actor.user_id.clone()),
                    ..Default::default()
                },
            )
            .await?;
            if !moved {
                let now = store::run(txn, &tenant, &run.id)
                    .await?
                    .ok_or_else(|| ApiError::internal("a payroll run vanished"))?;
                run_transition(stored_state(&now)?, RunAction::Calculate)?;
                return Err(FinanceViolation::PayrollRunState {
                    state: stored_state(&now)?.as_str(),
                    action: "calculated concurrently",
                }
                .into());
            }
            store::clear_run(txn, &tenant, &run.id).await?;
            let taken =
                store::reserve_reimbursements(txn, &tenant, &run.id, reserved.clone()).await?;
            if taken != reserved.len() as u64 {
                // Another run was calculated with one of the claims meanwhile.
                return Err(FinanceViolation::PayrollRunState {
                    state: from.as_str(),
                    action: "calculated concurrently",
                }
                .into());
            }
            store::insert_slips(txn, std::mem::take(&mut slips)).await?;
            store::insert_failures(txn, std::mem::take(&mut failures)).await?;
            store::insert_repayments(txn, std::mem::take(&mut repayments)).await?;
            store::insert_overtime_paid(txn, std::mem::take(&mut overtime_paid)).await?;
            Ok(())
        })
        .await?;
        let run = self.payroll_run(&tenant, run_id).await?;
        self.publish_phase(&tenant, &run, "calculated").await;
        Ok(run)
    }

    /// Approves a calculated run; nobody with a slip in it approves it (PAYROLL_SELF_APPROVAL).
    pub async fn approve_payroll_run(&self, actor: &Actor, run_id: &str) -> ApiResult<run::Model> {
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let run = store::run(txn, &tenant, run_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("payroll run".into()))?;
            let from = stored_state(&run)?;
            run_transition(from, RunAction::Approve)?;
            if let Some(approver) =
                people_store::person_by_user(txn, &tenant, &actor.user_id).await?
            {
                if store::has_slip(txn, &tenant, &run.id, &approver.employee_id).await? {
                    return Err(FinanceViolation::PayrollSelfApproval.into());
                }
            }
            if store::slip_count(txn, &tenant, &run.id).await? == 0 {
                return Err(FinanceViolation::PayrollRunEmpty.into());
            }
            self.move_run(
                txn,
                &tenant,
                &run,
                RunAction::Approve,
                store::RunChange {
                    approved_by: Some(actor.user_id.clone()),
                    ..Default::default()
                },
            )
            .await
        })
        .await?;
        let run = self.payroll_run(&tenant, run_id).await?;
        self.publish_phase(&tenant, &run, "approved").await;
        Ok(run)
    }

    /// Posts an approved run as ONE summarised journal entry (earnings debited per account,
    /// deductions and the net pay credited), dated the period's last day, and publishes the
    /// payslips: all in one transaction, so a crash leaves either nothing or everything posted.
    pub async fn post_payroll_run(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        run_id: &str,
    ) -> ApiResult<Outcome> {
        #[derive(Serialize)]
        struct Request<'a> {
            run_id: &'a str,
        }
        let tenant = actor.tenant.clone();
        let outcome = self
            .idempotent(
                &tenant,
                idempotency_key,
                "postPayrollRun",
                &Request { run_id },
                async |txn| {
                    let settings = self.require_set_up(txn, &tenant).await?;
                    let run = store::run(txn, &tenant, run_id)
                        .await?
                        .ok_or_else(|| ApiError::NotFound("payroll run".into()))?;
                    run_transition(stored_state(&run)?, RunAction::Post)?;
                    let period = Period::parse(&run.period)?;
                    let currency = Currency::parse(&run.currency)?;
                    let totals = self.run_totals(&tenant, &run).await?;
                    let payable = self.payroll_payable_account(txn, &tenant).await?;
                    // One line per account and side: the entry summarises the whole run.
                    let mut by_account: BTreeMap<(&str, bool), i64> = BTreeMap::new();
                    for (account, kind, amount) in totals.components.values() {
                        let debit = *kind == ComponentKind::Earning;
                        *by_account.entry((account.as_str(), debit)).or_default() += *amount;
                    }
                    let mut lines = Vec::new();
                    for ((account, debit), amount) in by_account {
                        if amount == 0 {
                            continue;
                        }
                        // Below zero when recoveries of earlier months outweigh what the
                        // account's components paid this run: posted on the other side.
                        let (debit, amount) = (debit == (amount > 0), amount.abs());
                        let side = if debit { Side::Debit } else { Side::Credit };
                        lines.push(ProposedLine::new(
                            account,
                            side,
                            Money::from_minor(amount, currency)?,
                        ));
                    }
                    // Each reimbursed claim clears what its approval credited the employee.
                    for (expense_id, employee_id, amount) in &totals.reimbursements {
                        lines.push(
                            ProposedLine::new(
                                &settings.employee_payable_account_id,
                                Side::Debit,
                                Money::from_minor(*amount, currency)?,
                            )
                            .with_party(Some(Party::Employee(employee_id.clone())))
                            .with_label(format!("Expense reimbursement {expense_id}")),
                        );
                    }
                    if totals.net > 0 {
                        lines.push(
                            ProposedLine::new(
                                &payable,
                                Side::Credit,
                                Money::from_minor(totals.net, currency)?,
                            )
                            .with_label("Net pay"),
                        );
                    }
                    if lines.len() < 2 {
                        return Err(FinanceViolation::PayrollRunEmpty.into());
                    }
                    let posted = self
                        .post_lines(
                            txn,
                            actor,
                            Posting {
                                journal_id: settings.general_journal_id.clone(),
                                date: period.ends_on,
                                memo: Some(format!("Payroll {} ({})", run.period, run.run_type)),
                                source_kind: "payroll",
                                source_id: Some(run.id.clone()),
                                reverses_id: None,
                                allow_control: false,
                            },
                            lines,
                        )
                        .await?;
                    self.move_run(
                        txn,
                        &tenant,
                        &run,
                        RunAction::Post,
                        store::RunChange {
                            entry_id: Some(posted.id.clone()),
                            ..Default::default()
                        },
                    )
                    .await?;
                    store::set_slips_state(txn, &tenant, &run.id, "submitted").await?;
                    // The reimbursed claims are paid by this entry (never by the bank again).
                    let claims: Vec<String> = totals
                        .reimbursements
                        .iter()
                        .map(|(expense_id, _, _)| expense_id.clone())
                        .collect();
                    let settled =
                        store::settle_claims(txn, &tenant, claims.clone(), "approved", "paid")
                            .await?;
                    if settled != claims.len() as u64 {
                        return Err(FinanceViolation::ExpenseAlreadyPaid.into());
                    }
                    // The loans' balances go down now (and a loan repaid in full closes).
                    store::set_repayments_state(txn, &tenant, &run.id, "posted").await?;
                    self.refresh_loans_of_run(txn, &tenant, &run.id).await?;
                    // Payslips become visible now; their events leave the outbox after commit.
                    let slips = store::slips_of_run(txn, &tenant, &run.id).await?;
                    let published = slips
                        .iter()
                        .map(|slip| {
                            EventEnvelope::by_actor(
                                &tenant,
                                events::PAYSLIP_PUBLISHED,
                                &slip.id,
                                &actor.user_id,
                                PayslipPublished {
                                    payslip_id: &slip.id,
                                    employee_id: &slip.employee_id,
                                    run_id: &run.id,
                                    period: &run.period,
                                    run_type: &run.run_type,
                                },
                            )
                        })
                        .collect::<ApiResult<Vec<_>>>()?;
                    self.outbox.enqueue_many(txn, &published).await?;
                    let costs = self
                        .cost_events(actor, &run, period.ends_on, &slips, false)
                        .await?;
                    self.outbox.enqueue_many(txn, &costs).await?;
                    self.enqueue(
                        txn,
                        actor,
                        events::PAYROLL_POSTED,
                        &run.id,
                        RunEvent {
                            run_id: &run.id,
                            period: &run.period,
                            run_type: &run.run_type,
                            slip_count: run.slip_count,
                            entry_id: Some(&posted.id),
                        },
                    )
                    .await?;
                    Ok(run.id.clone())
                },
            )
            .await?;
        let run = self.payroll_run(&tenant, run_id).await?;
        self.publish_phase(&tenant, &run, "posted").await;
        Ok(outcome)
    }

    /// Pays a posted run: the bank file (pain.001 or CSV) of every slip's net pay, and the
    /// payment entry (payroll payable debited, the bank credited) of the same total.
    pub async fn pay_payroll_run(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        run_id: &str,
        format: BankFileFormat,
        bank_account_id: Option<String>,
        date: Option<NaiveDate>,
    ) -> ApiResult<Outcome> {
        #[derive(Serialize)]
        struct Request<'a> {
            run_id: &'a str,
            format: &'a str,
            bank_account_id: &'a Option<String>,
            date: Option<NaiveDate>,
        }
        let tenant = actor.tenant.clone();
        let request = Request {
            run_id,
            format: format.as_str(),
            bank_account_id: &bank_account_id,
            date,
        };
        let outcome = self
            .idempotent(
                &tenant,
                idempotency_key,
                "payPayrollRun",
                &request,
                async |txn| {
                    let settings = self.require_set_up(txn, &tenant).await?;
                    let run = store::run(txn, &tenant, run_id)
                        .await?
                        .ok_or_else(|| ApiError::NotFound("payroll run".into()))?;
                    run_transition(stored_state(&run)?, RunAction::Pay)?;
                    let currency = Currency::parse(&run.currency)?;
                    let bank_row = self
                        .payroll_bank_account(
                            txn,
                            &tenant,
                            bank_account_id.clone(),
                            &settings.default_bank_account_id,
                        )
                        .await?;
                    let bank = bank_row.id.clone();
                    let date = date.unwrap_or_else(super::today);
                    let slips = store::slips_of_run(txn, &tenant, &run.id).await?;
                    let mut payments = Vec::with_capacity(slips.len());
                    let mut total = 0i64;
                    for slip in &slips {
                        let open = self.open_slip(&tenant, slip.clone(), &run.currency).await?;
                        // A slip whose net pay went to a loan in full has nothing to transfer
                        // (a bank refuses a transfer of 0).
                        if open.slip.net == 0 {
                            continue;
                        }
                        total += open.slip.net;
                        payments.push(BankPayment {
                            end_to_end_id: slip.id.clone(),
                            employee_id: slip.employee_id.clone(),
                            account: open.bank_account,
                            amount: Money::from_minor(open.slip.net, currency)?,
                        });
                    }
                    if total <= 0 {
                        return Err(FinanceViolation::PayrollRunEmpty.into());
                    }
                    let file = bank_file(
                        format,
                        &run.id,
                        &format!("{} ({})", bank_row.name, bank_row.code),
                        date,
                        currency,
                        &payments,
                    )?;
                    let payable = self.payroll_payable_account(txn, &tenant).await?;
                    let amount = Money::from_minor(total, currency)?;
                    let posted = self
                        .post_lines(
                            txn,
                            actor,
                            Posting {
                                journal_id: settings.bank_journal_id.clone(),
                                date,
                                memo: Some(format!("Payroll payment {}", run.period)),
                                source_kind: "payroll_payment",
                                source_id: Some(run.id.clone()),
                                reverses_id: None,
                                allow_control: false,
                            },
                            vec![
                                ProposedLine::new(&payable, Side::Debit, amount),
                                ProposedLine::new(&bank, Side::Credit, amount),
                            ],
                        )
                        .await?;
                    let sealed = self
                        .seal(&tenant, RUNS, "bank_file", &run.id, &file)
                        .await?;
                    self.move_run(
                        txn,
                        &tenant,
                        &run,
                        RunAction::Pay,
                        store::RunChange {
                            payment_entry_id: Some(posted.id.clone()),
                            bank_file: Some((format.as_str().to_owned(), sealed)),
                            ..Default::default()
                        },
                    )
                    .await?;
                    store::set_slips_state(txn, &tenant, &run.id, "paid").await?;
                    self.enqueue(
                        txn,
                        actor,
                        events::PAYROLL_PAID,
                        &run.id,
                        RunEvent {
                            run_id: &run.id,
                            period: &run.period,
                            run_type: &run.run_type,
                            slip_count: run.slip_count,
                            entry_id: Some(&posted.id),
                        },
                    )
                    .await?;
                    Ok(run.id.clone())
                },
            )
            .await?;
        let run = self.payroll_run(&tenant, run_id).await?;
        self.publish_phase(&tenant, &run, "paid").await;
        Ok(outcome)
    }

    /// Cancels a run: before posting its slips are voided; a posted run's entry is reversed
    /// (dated today, in the open period); a paid run is not cancelled. The period is free again.
    pub async fn cancel_payroll_run(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        run_id: &str,
    ) -> ApiResult<Outcome> {
        #[derive(Serialize)]
        struct Request<'a> {
            run_id: &'a str,
        }
        let tenant = actor.tenant.clone();
        let outcome = self
            .idempotent(
                &tenant,
                idempotency_key,
                "cancelPayrollRun",
                &Request { run_id },
                async |txn| {
                    let run = store::run(txn, &tenant, run_id)
                        .await?
                        .ok_or_else(|| ApiError::NotFound("payroll run".into()))?;
                    let from = stored_state(&run)?;
                    run_transition(from, RunAction::Cancel)?;
                    let reversal = match (&run.entry_id, from) {
                        (Some(entry), RunState::Posted) => Some(
                            self.reverse_entry_in(
                                txn,
                                actor,
                                entry,
                                None,
                                Some(format!("Cancelled payroll {}", run.period)),
                            )
                            .await?,
                        ),
                        _ => None,
                    };
                    self.move_run(
                        txn,
                        &tenant,
                        &run,
                        RunAction::Cancel,
                        store::RunChange {
                            reversal_entry_id: reversal.as_ref().map(|r| r.id.clone()),
                            ..Default::default()
                        },
                    )
                    .await?;
                    store::set_slips_state(txn, &tenant, &run.id, "cancelled").await?;
                    // The run's loan repayments no longer count: the balances are restored.
                    store::set_repayments_state(txn, &tenant, &run.id, "cancelled").await?;
                    self.refresh_loans_of_run(txn, &tenant, &run.id).await?;
                    // Reimbursed claims are owed again (the reversal restores the liability)
                    // and wait for the next run.
                    if reversal.is_some() {
                        let claims = store::reimbursements_of_run(txn, &tenant, &run.id)
                            .await?
                            .into_iter()
                            .map(|row| row.expense_id)
                            .collect();
                        store::settle_claims(txn, &tenant, claims, "paid", "approved").await?;
                    }
                    store::release_reimbursements(txn, &tenant, &run.id).await?;
                    store::release_period(txn, &tenant, &run.id).await?;
                    if let Some(reversal) = &reversal {
                        // Analytics' cost facts of the run's slips go back to 0.
                        let period = Period::parse(&run.period)?;
                        let slips = store::slips_of_run(txn, &tenant, &run.id).await?;
                        let costs = self
                            .cost_events(actor, &run, period.ends_on, &slips, true)
                            .await?;
                        self.outbox.enqueue_many(txn, &costs).await?;
                        self.enqueue(
                            txn,
                            actor,
                            events::PAYROLL_CANCELLED,
                            &run.id,
                            RunEvent {
                                run_id: &run.id,
                                period: &run.period,
                                run_type: &run.run_type,
                                slip_count: run.slip_count,
                                entry_id: Some(&reversal.id),
                            },
                        )
                        .await?;
                    }
                    Ok(run.id.clone())
                },
            )
            .await?;
        let run = self.payroll_run(&tenant, run_id).await?;
        self.publish_phase(&tenant, &run, "cancelled").await;
        Ok(outcome)
    }

    async fn move_run<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        run: &run::Model,
        action: RunAction,
        change: store::RunChange,
    ) -> ApiResult<()> {
        let from = stored_state(run)?;
        let to = run_transition(from, action)?;
        if !store::transition_run(txn, tenant, &run.id, from.as_str(), to.as_str(), change).await? {
            let now = store::run(txn, tenant, &run.id)
                .await?
                .ok_or_else(|| ApiError::internal("a payroll run vanished"))?;
            run_transition(stored_state(&now)?, action)?;
            return Err(FinanceViolation::PayrollRunState {
                state: stored_state(&now)?.as_str(),
                action: "changed concurrently",
            }
            .into());
        }
        Ok(())
    }

    /// The `payroll.cost_posted` events of a run's slips (their costs opened from the sealed
    /// slips, re-sealed in transit for analytics); a reversal's costs are all 0.
    async fn cost_events(
        &self,
        actor: &Actor,
        run: &run::Model,
        period_end: NaiveDate,
        slips: &[slip::Model],
        reversal: bool,
    ) -> ApiResult<Vec<EventEnvelope>> {
        let tenant = &actor.tenant;
        let mut costs = Vec::with_capacity(slips.len());
        for row in slips {
            let employer_cost = if reversal {
                0
            } else {
                let amounts = self
                    .open(tenant, SLIPS, "amounts", &row.id, &row.amounts_sealed)
                    .await?;
                let slip: Slip = serde_json::from_str(&amounts).map_err(ApiError::internal)?;
                slip.gross - reimbursed(&slip) - recovered(&slip)
            };
            costs.push(CostSlip {
                payslip_id: &row.id,
                employee_id: &row.employee_id,
                employer_cost,
            });
        }
        let parts = costs.len().div_ceil(COST_PART_SLIPS);
        let mut events = Vec::with_capacity(parts);
        let mut remaining = costs.into_iter();
        for part in 1..=parts {
            let slips: Vec<CostSlip> = remaining.by_ref().take(COST_PART_SLIPS).collect();
            let slip_count = slips.len();
            let sealed = erp_kit::crypto::seal_in_transit(
                self.transit.as_ref(),
                &cost_transit_context(tenant.as_str(), &run.id, part, reversal),
                &serde_json::to_string(&CostSlips { slips }).map_err(ApiError::internal)?,
            )
            .await?;
            events.push(EventEnvelope::by_actor(
                tenant,
                events::PAYROLL_COST_POSTED,
                &run.id,
                &actor.user_id,
                CostPosted {
                    run_id: &run.id,
                    period: &run.period,
                    period_end,
                    run_type: &run.run_type,
                    currency: &run.currency,
                    part,
                    parts,
                    slip_count,
                    reversal,
                    sealed_for_analytics: sealed,
                },
            )?);
        }
        Ok(events)
    }

    async fn run_totals(&self, tenant: &TenantId, run: &run::Model) -> ApiResult<RunTotals> {
        let sealed = run
            .totals_sealed
            .as_deref()
            .ok_or(FinanceViolation::PayrollRunEmpty)?;
        let text = self.open(tenant, RUNS, "totals", &run.id, sealed).await?;
        serde_json::from_str(&text).map_err(ApiError::internal)
    }

    /// The liability the net pay is owed on until paid: account 2300 "Payroll payable", added
    /// to the chart the first time a run posts.
    async fn payroll_payable_account<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
    ) -> ApiResult<String> {
        if let Some(settings) = store::settings(txn, tenant).await? {
            return Ok(settings.payable_account_id);
        }
        let now = chrono::Utc::now();
        let id = self
            .payroll_account(
                txn,
                tenant,
                "2300",
                "Payroll payable",
                AccountKind::Liability,
            )
            .await?;
        store::insert_settings(
            txn,
            payroll_settings::Model {
                tenant_id: tenant.as_str().to_owned(),
                payable_account_id: id.clone(),
                created_at: now,
            },
        )
        .await?;
        Ok(id)
    }

    /// The chart's account `code` payroll posts to, added to the chart (a general account of
    /// `kind`) the first time it is needed, so tenants set up before payroll used it get it
    /// too; a `code` of another kind is refused.
    pub(super) async fn payroll_account<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        code: &'static str,
        name: &str,
        kind: AccountKind,
    ) -> ApiResult<String> {
        let existing = ledger_store::all_accounts(txn, tenant)
            .await?
            .into_iter()
            .find(|a| a.code == code);
        match existing {
            Some(account) if account.kind == kind.as_str() => Ok(account.id),
            Some(_) => Err(FinanceViolation::BadCode(code).into()),
            None => {
                let id = new_id();
                ledger_store::insert_account(
                    txn,
                    account::Model {
                        id: id.clone(),
                        tenant_id: tenant.as_str().to_owned(),
                        code: code.into(),
                        name: name.into(),
                        kind: kind.as_str().into(),
                        role: AccountRole::General.as_str().into(),
                        created_at: chrono::Utc::now(),
                    },
                )
                .await?;
                Ok(id)
            }
        }
    }

    /// The bank account a payroll payment leaves from: the one given, else the settings'
    /// default; BAD_USER_INPUT when it is not a bank account.
    pub(super) async fn payroll_bank_account<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        given: Option<String>,
        default: &str,
    ) -> ApiResult<account::Model> {
        let bank = given.unwrap_or_else(|| default.to_owned());
        match ledger_store::account(txn, tenant, &bank).await? {
            Some(row) if row.role == AccountRole::Bank.as_str() => Ok(row),
            Some(_) => Err(ApiError::bad_input("bankAccountId", "not a bank account")),
            None => Err(FinanceViolation::AccountNotFound(bank).into()),
        }
    }

    // --- Reads ------------------------------------------------------------------------------

    async fn open_slip(
        &self,
        tenant: &TenantId,
        row: slip::Model,
        currency: &str,
    ) -> ApiResult<OpenSlip> {
        let amounts = self
            .open(tenant, SLIPS, "amounts", &row.id, &row.amounts_sealed)
            .await?;
        let slip: Slip = serde_json::from_str(&amounts).map_err(ApiError::internal)?;
        let bank_account = self
            .open(
                tenant,
                SLIPS,
                "bank_account",
                &row.id,
                &row.bank_account_sealed,
            )
            .await?;
        Ok(OpenSlip {
            row,
            slip,
            bank_account,
            currency: currency.to_owned(),
        })
    }

    /// Every slip of a run, opened (for `payroll:read`).
    pub async fn payslips_of_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> ApiResult<Vec<OpenSlip>> {
        let run = self.payroll_run(tenant, run_id).await?;
        let mut open = Vec::new();
        for row in store::slips_of_run(&self.db, tenant, run_id).await? {
            open.push(self.open_slip(tenant, row, &run.currency).await?);
        }
        Ok(open)
    }

    /// The caller's own published payslips (their runs posted or paid), opened.
    pub async fn my_payslips(&self, actor: &Actor) -> ApiResult<Vec<OpenSlip>> {
        let Some(me) =
            people_store::person_by_user(&self.db, &actor.tenant, &actor.user_id).await?
        else {
            return Ok(Vec::new());
        };
        let settings = self.require_set_up(&self.db, &actor.tenant).await?;
        let mut open = Vec::new();
        for row in store::published_slips_of(&self.db, &actor.tenant, &me.employee_id).await? {
            open.push(
                self.open_slip(&actor.tenant, row, &settings.base_currency)
                    .await?,
            );
        }
        Ok(open)
    }

    pub async fn payroll_failures(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> ApiResult<Vec<failure::Model>> {
        Ok(store::failures_of_run(&self.db, tenant, run_id).await?)
    }

    pub async fn payroll_runs(
        &self,
        tenant: &TenantId,
        period: Option<&str>,
    ) -> ApiResult<Vec<run::Model>> {
        Ok(store::runs(&self.db, tenant, period).await?)
    }

    /// A paid run's bank file, opened.
    pub async fn payroll_bank_file(
        &self,
        tenant: &TenantId,
        run: &run::Model,
    ) -> ApiResult<Option<BankFile>> {
        match (&run.bank_file_format, &run.bank_file_sealed) {
            (Some(format), Some(sealed)) => Ok(Some(BankFile {
                format: format.clone(),
                content: self
                    .open(tenant, RUNS, "bank_file", &run.id, sealed)
                    .await?,
            })),
            _ => Ok(None),
        }
    }

    /// A run's (gross, deductions, net), once calculated.
    pub async fn payroll_totals(
        &self,
        tenant: &TenantId,
        run: &run::Model,
    ) -> ApiResult<Option<(i64, i64, i64)>> {
        if run.totals_sealed.is_none() {
            return Ok(None);
        }
        let totals = self.run_totals(tenant, run).await?;
        Ok(Some((totals.gross, totals.deductions, totals.net)))
    }

    pub async fn salary_components(&self, tenant: &TenantId) -> ApiResult<Vec<component::Model>> {
        Ok(store::components(&self.db, tenant).await?)
    }

    /// The tenant's structures with their components' ids in order.
    pub async fn salary_structures(
        &self,
        tenant: &TenantId,
    ) -> ApiResult<Vec<(structure::Model, Vec<String>)>> {
        let members = store::structure_members(&self.db, tenant).await?;
        Ok(store::structures(&self.db, tenant)
            .await?
            .into_iter()
            .map(|s| {
                let ids = members
                    .iter()
                    .filter(|m| m.structure_id == s.id)
                    .map(|m| m.component_id.clone())
                    .collect();
                (s, ids)
            })
            .collect())
    }
}
