//! Payroll through GraphQL: configuration and runs for `payroll:admin`, runs and every slip for
//! `payroll:read`, the caller's own payslips for any signed-in employee (`myPayslips`), and the
//! live `payrollRunProgress` subscription.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, Subscription, ID};

use erp_kit::authz::authenticated;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::scalars::{stored_money, Date, DateTime, Decimal, Money};
use super::{actor, finance};
use crate::app::payroll::{
    AdditionalRequest, BankFile as AppBankFile, ComponentRequest, OpenSlip, RuleRequest,
    RunProgress, RunType as AppRunType, StructureRequest,
};
use crate::app::payroll_loans::{LoanRequest, LoanView};
use crate::domain::money::{Currency, Percent};
use crate::domain::payroll::{
    BankFileFormat as DomainFormat, ComponentKind, RunState, SlipFailure, TaxSlab as DomainSlab,
};
use crate::store::entities::payroll::{additional, assignment, component, failure, run, structure};

/// Earning or deduction.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SalaryComponentKind {
    /// Adds to the gross.
    Earning,
    /// Taken from the gross.
    Deduction,
}

impl From<SalaryComponentKind> for ComponentKind {
    fn from(kind: SalaryComponentKind) -> Self {
        match kind {
            SalaryComponentKind::Earning => ComponentKind::Earning,
            SalaryComponentKind::Deduction => ComponentKind::Deduction,
        }
    }
}

impl From<ComponentKind> for SalaryComponentKind {
    fn from(kind: ComponentKind) -> Self {
        match kind {
            ComponentKind::Earning => SalaryComponentKind::Earning,
            ComponentKind::Deduction => SalaryComponentKind::Deduction,
        }
    }
}

/// How a component's amount is computed.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SalaryRule {
    /// A fixed amount.
    Fixed,
    /// A percentage of an earlier component.
    Percent,
    /// A formula over the payroll inputs and earlier components.
    Formula,
    /// Income tax by the fiscal year's slabs.
    IncomeTax,
}

/// Regular monthly pay or an off-cycle run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollRunType {
    /// The month's pay: every assigned employee.
    Regular,
    /// Additional salary only (bonuses, arrears), for those who have some of this type.
    OffCycle,
}

impl From<PayrollRunType> for AppRunType {
    fn from(value: PayrollRunType) -> Self {
        match value {
            PayrollRunType::Regular => AppRunType::Regular,
            PayrollRunType::OffCycle => AppRunType::OffCycle,
        }
    }
}

fn run_type_of(stored: &str) -> PayrollRunType {
    match AppRunType::from_stored(stored) {
        Some(AppRunType::OffCycle) => PayrollRunType::OffCycle,
        _ => PayrollRunType::Regular,
    }
}

/// Where a run is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollRunState {
    /// Opened; nothing computed.
    Draft,
    /// Slips computed (again while not approved).
    Calculated,
    /// Approved by someone without a slip in it.
    Approved,
    /// Its one summarised entry posted; payslips published.
    Posted,
    /// Its bank file generated and the payment posted.
    Paid,
    /// Cancelled (a posted run's entry reversed).
    Cancelled,
}

impl PayrollRunState {
    fn stored(text: &str) -> Self {
        match RunState::from_stored(text) {
            Some(RunState::Calculated) => Self::Calculated,
            Some(RunState::Approved) => Self::Approved,
            Some(RunState::Posted) => Self::Posted,
            Some(RunState::Paid) => Self::Paid,
            Some(RunState::Cancelled) => Self::Cancelled,
            _ => Self::Draft,
        }
    }
}

/// Where a payslip is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayslipState {
    /// Computed; its run not posted yet.
    Draft,
    /// Published to the employee (its run posted).
    Submitted,
    /// Paid.
    Paid,
    /// Its run was cancelled.
    Cancelled,
}

/// Why an employee has no slip in a run (the run goes on without them).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollFailureReason {
    /// No salary structure assigned on the period's end.
    MissingStructure,
    /// No compensation known (the employee subgraph's `employee.compensation_changed`).
    MissingSalary,
    /// No bank account known.
    MissingBankAccount,
    /// A formula failed for this employee (e.g. a division by an input that is zero).
    FormulaFailed,
    /// The deductions exceed the earnings.
    NegativeNet,
    /// The salary is not in the base currency.
    CurrencyMismatch,
}

/// A bank file's format.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollBankFileFormat {
    /// ISO 20022 pain.001.001.03 XML.
    #[graphql(name = "PAIN001")]
    Pain001,
    /// CSV: `end_to_end_id,employee_id,account,amount,currency`.
    Csv,
}

/// A salary component.
pub struct SalaryComponent(pub component::Model);

/// A salary component.
#[Object]
impl SalaryComponent {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Unique in the tenant; formulas read the component by it (e.g. `BASIC`).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The component's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Earning or deduction.
    async fn kind(&self) -> SalaryComponentKind {
        ComponentKind::from_stored(&self.0.kind)
            .unwrap_or(ComponentKind::Earning)
            .into()
    }
    /// How its amount is computed.
    async fn rule(&self) -> SalaryRule {
        match self.0.rule.as_str() {
            "fixed" => SalaryRule::Fixed,
            "percent" => SalaryRule::Percent,
            "income_tax" => SalaryRule::IncomeTax,
            _ => SalaryRule::Formula,
        }
    }
    /// A fixed component's amount (in the base currency).
    async fn amount(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let Some(minor) = self.0.amount_minor else {
            return Ok(None);
        };
        let settings = finance(ctx)?.settings(&ctx.tenant()?).await?;
        Ok(Some(stored_money(minor, &settings.base_currency)))
    }
    /// A percentage component's rate, e.g. `12.5`.
    async fn percent(&self) -> Option<Decimal> {
        self.0
            .percent_ppm
            .map(|ppm| super::scalars::decimal(Percent::from_ppm(ppm).to_decimal_string()))
    }
    /// The code of the component a percentage is of.
    async fn percent_of(&self) -> Option<&str> {
        self.0.percent_of.as_deref()
    }
    /// A formula component's formula.
    async fn formula(&self) -> Option<&str> {
        self.0.formula.as_deref()
    }
    /// The account its amounts post to (an expense for earnings, a liability for deductions).
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.clone())
    }
}

/// A salary structure: components computed in order.
pub struct SalaryStructure(pub structure::Model, pub Vec<String>);

/// A salary structure: components computed in order.
#[Object]
impl SalaryStructure {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Unique in the tenant.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// The structure's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Its components' ids, in the order they are computed.
    async fn component_ids(&self) -> Vec<ID> {
        self.1.iter().cloned().map(ID).collect()
    }
}

/// A structure assigned to an employee from a date.
#[derive(SimpleObject)]
pub struct SalaryStructureAssignment {
    /// Stable id.
    pub id: ID,
    /// The employee (the employee subgraph's id).
    pub employee_id: ID,
    /// The structure.
    pub structure_id: ID,
    /// The first day it applies.
    pub effective_from: Date,
}

impl From<assignment::Model> for SalaryStructureAssignment {
    fn from(row: assignment::Model) -> Self {
        Self {
            id: ID(row.id),
            employee_id: ID(row.employee_id),
            structure_id: ID(row.structure_id),
            effective_from: Date(row.effective_from),
        }
    }
}

/// One band of a fiscal year's income tax.
#[derive(SimpleObject)]
pub struct TaxSlab {
    /// Annual taxable income from which the rate applies.
    pub from: Money,
    /// The rate, e.g. `20`.
    pub rate: Decimal,
}

/// Additional salary recorded for a period (its amount is sealed; the slip shows it).
#[derive(SimpleObject)]
pub struct AdditionalSalary {
    /// Stable id.
    pub id: ID,
    /// The employee.
    pub employee_id: ID,
    /// `YYYY-MM`.
    pub period: String,
    /// The run type that pays it.
    pub run_type: PayrollRunType,
    /// The component it is paid as.
    pub component_id: ID,
    /// Why (e.g. `Arrears of the March revision`).
    pub note: Option<String>,
}

impl From<additional::Model> for AdditionalSalary {
    fn from(row: additional::Model) -> Self {
        Self {
            id: ID(row.id),
            employee_id: ID(row.employee_id),
            period: row.period,
            run_type: run_type_of(&row.run_type),
            component_id: ID(row.component_id),
            note: row.note,
        }
    }
}

/// An employee left out of a run, and why.
pub struct PayrollFailure(pub failure::Model);

/// An employee left out of a run, and why.
#[Object]
impl PayrollFailure {
    /// The employee.
    async fn employee_id(&self) -> ID {
        ID(self.0.employee_id.clone())
    }
    /// Why, as a stable code.
    async fn reason(&self) -> PayrollFailureReason {
        match SlipFailure::from_stored(&self.0.reason) {
            Some(SlipFailure::MissingStructure) => PayrollFailureReason::MissingStructure,
            Some(SlipFailure::MissingBankAccount) => PayrollFailureReason::MissingBankAccount,
            Some(SlipFailure::FormulaFailed) => PayrollFailureReason::FormulaFailed,
            Some(SlipFailure::NegativeNet) => PayrollFailureReason::NegativeNet,
            Some(SlipFailure::CurrencyMismatch) => PayrollFailureReason::CurrencyMismatch,
            _ => PayrollFailureReason::MissingSalary,
        }
    }
    /// Why, in words.
    async fn message(&self) -> &str {
        &self.0.message
    }
}

/// One line of a payslip.
#[derive(SimpleObject)]
pub struct PayslipLine {
    /// The component's code.
    pub code: String,
    /// The component's name.
    pub name: String,
    /// Earning or deduction.
    pub kind: SalaryComponentKind,
    /// Never negative.
    pub amount: Money,
    /// The month (`YYYY-MM`) an adjustment line belongs to when it is not the slip's own:
    /// overtime of a month approved after that month's run was posted (a late close, or an
    /// authorised correction of a day of the closed month) is settled by the next regular
    /// run, never by changing the posted slip. Null for the slip's own month.
    pub for_period: Option<String>,
    /// True for a recovery: what a correction of a closed month took away after its run
    /// paid it, taken back on the component's opposite side (an overtime earning recovered
    /// as a deduction line).
    pub recovery: bool,
}

/// A payslip, opened for its employee or a payroll reader.
pub struct Payslip(pub OpenSlip);

/// A payslip: gross - deductions = net.
#[Object]
impl Payslip {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.row.id.clone())
    }
    /// The employee paid.
    async fn employee_id(&self) -> ID {
        ID(self.0.row.employee_id.clone())
    }
    /// The run.
    async fn run_id(&self) -> ID {
        ID(self.0.row.run_id.clone())
    }
    /// `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.row.period
    }
    /// The run's type.
    async fn run_type(&self) -> PayrollRunType {
        run_type_of(&self.0.row.run_type)
    }
    /// Where the slip is.
    async fn state(&self) -> PayslipState {
        match self.0.row.state.as_str() {
            "submitted" => PayslipState::Submitted,
            "paid" => PayslipState::Paid,
            "cancelled" => PayslipState::Cancelled,
            _ => PayslipState::Draft,
        }
    }
    /// Its lines: the structure's components in order, then additional salary.
    async fn lines(&self) -> Vec<PayslipLine> {
        self.0
            .slip
            .lines
            .iter()
            .map(|line| PayslipLine {
                code: line.code.clone(),
                name: line.name.clone(),
                kind: line.kind.into(),
                amount: stored_money(line.amount, &self.0.currency),
                for_period: line.for_period.clone(),
                recovery: line.recovery,
            })
            .collect()
    }
    /// The earnings.
    async fn gross(&self) -> Money {
        stored_money(self.0.slip.gross, &self.0.currency)
    }
    /// The deductions.
    async fn deductions(&self) -> Money {
        stored_money(self.0.slip.deductions, &self.0.currency)
    }
    /// What is paid: gross - deductions.
    async fn net(&self) -> Money {
        stored_money(self.0.slip.net, &self.0.currency)
    }
    /// The last four characters of the account paid into.
    async fn bank_account_last4(&self) -> String {
        let chars: Vec<char> = self
            .0
            .bank_account
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }
    /// A keyed hash of the slip's amounts: a recalculation with the same inputs gives the same
    /// fingerprint (and the fingerprint reveals nothing).
    async fn fingerprint(&self) -> &str {
        &self.0.row.fingerprint
    }
}

/// A run's bank payment file.
pub struct BankFile(pub AppBankFile);

/// A run's bank payment file.
#[Object]
impl BankFile {
    /// Its format.
    async fn format(&self) -> PayrollBankFileFormat {
        if self.0.format == DomainFormat::Csv.as_str() {
            PayrollBankFileFormat::Csv
        } else {
            PayrollBankFileFormat::Pain001
        }
    }
    /// The file itself.
    async fn content(&self) -> &str {
        &self.0.content
    }
}

/// The totals of a run.
#[derive(SimpleObject)]
pub struct PayrollTotals {
    /// Σ gross.
    pub gross: Money,
    /// Σ deductions.
    pub deductions: Money,
    /// Σ net: the payroll-payable credit of the run's entry and the bank file's total.
    pub net: Money,
}

/// A payroll run.
pub struct PayrollRun(pub run::Model);

/// A payroll run.
#[Object]
impl PayrollRun {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// `YYYY-MM`.
    async fn period(&self) -> &str {
        &self.0.period
    }
    /// Regular or off-cycle.
    async fn run_type(&self) -> PayrollRunType {
        run_type_of(&self.0.run_type)
    }
    /// Where the run is.
    async fn state(&self) -> PayrollRunState {
        PayrollRunState::stored(&self.0.state)
    }
    /// Slips computed.
    async fn slip_count(&self) -> i32 {
        self.0.slip_count
    }
    /// Employees left out (see `failures`).
    async fn failed_count(&self) -> i32 {
        self.0.failed_count
    }
    /// Who opened it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    /// Who approved it.
    async fn approved_by(&self) -> Option<&str> {
        self.0.approved_by.as_deref()
    }
    /// The one summarised journal entry (once posted).
    async fn entry_id(&self) -> Option<ID> {
        self.0.entry_id.clone().map(ID)
    }
    /// The payment entry (once paid).
    async fn payment_entry_id(&self) -> Option<ID> {
        self.0.payment_entry_id.clone().map(ID)
    }
    /// The reversal of the entry (a posted run cancelled).
    async fn reversal_entry_id(&self) -> Option<ID> {
        self.0.reversal_entry_id.clone().map(ID)
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        DateTime::from(self.0.updated_at)
    }
    /// The employees left out of it, and why.
    async fn failures(&self, ctx: &Context<'_>) -> Result<Vec<PayrollFailure>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .payroll_failures(&tenant, &self.0.id)
            .await?
            .into_iter()
            .map(PayrollFailure)
            .collect())
    }
    /// Its totals (once calculated).
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn totals(&self, ctx: &Context<'_>) -> Result<Option<PayrollTotals>> {
        let tenant = ctx.tenant()?;
        let Some(totals) = finance(ctx)?.payroll_totals(&tenant, &self.0).await? else {
            return Ok(None);
        };
        Ok(Some(PayrollTotals {
            gross: stored_money(totals.0, &self.0.currency),
            deductions: stored_money(totals.1, &self.0.currency),
            net: stored_money(totals.2, &self.0.currency),
        }))
    }
    /// Every slip of the run.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payslips(&self, ctx: &Context<'_>) -> Result<Vec<Payslip>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .payslips_of_run(&tenant, &self.0.id)
            .await?
            .into_iter()
            .map(Payslip)
            .collect())
    }
    /// The bank file (once paid).
    #[graphql(requires_scopes = "payroll:admin")]
    async fn bank_file(&self, ctx: &Context<'_>) -> Result<Option<BankFile>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .payroll_bank_file(&tenant, &self.0)
            .await?
            .map(BankFile))
    }
}

/// A run's progress.
#[derive(SimpleObject)]
pub struct PayrollRunProgress {
    /// The run.
    pub run_id: ID,
    /// `draft`, `calculating`, `calculated`, `approved`, `posted`, `paid` or `cancelled`.
    pub phase: String,
    /// Employees in the run.
    pub total: i32,
    /// Slips computed.
    pub done: i32,
    /// Employees left out.
    pub failed: i32,
    /// Milliseconds left at the rate so far (0 when the phase is done): a duration.
    pub remaining_milliseconds: i32,
}

impl From<RunProgress> for PayrollRunProgress {
    fn from(p: RunProgress) -> Self {
        let clamp = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Self {
            run_id: ID(p.run_id),
            phase: p.phase,
            total: clamp(p.total),
            done: clamp(p.done),
            failed: clamp(p.failed),
            remaining_milliseconds: clamp(p.eta_ms),
        }
    }
}

#[derive(Default)]
pub struct PayrollQuery;

#[Object]
impl PayrollQuery {
    /// The tenant's salary components.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn salary_components(&self, ctx: &Context<'_>) -> Result<Vec<SalaryComponent>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .salary_components(&tenant)
            .await?
            .into_iter()
            .map(SalaryComponent)
            .collect())
    }

    /// The tenant's salary structures.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn salary_structures(&self, ctx: &Context<'_>) -> Result<Vec<SalaryStructure>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .salary_structures(&tenant)
            .await?
            .into_iter()
            .map(|(s, ids)| SalaryStructure(s, ids))
            .collect())
    }

    /// The tenant's payroll runs, newest first (of one period when given).
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payroll_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this period (`YYYY-MM`).")] period: Option<String>,
    ) -> Result<Vec<PayrollRun>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .payroll_runs(&tenant, period.as_deref())
            .await?
            .into_iter()
            .map(PayrollRun)
            .collect())
    }

    /// One payroll run.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run's id.")] id: ID,
    ) -> Result<Option<PayrollRun>> {
        let tenant = ctx.tenant()?;
        match finance(ctx)?.payroll_run(&tenant, &id).await {
            Ok(run) => Ok(Some(PayrollRun(run))),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Loans and salary advances repaid through payroll (of one employee when given), in the
    /// order they were granted, each with its balance, repayments and schedule.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payroll_loans(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this employee's loans.")] employee_id: Option<ID>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, PayrollLoan, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = finance(ctx)?
            .payroll_loan_page(&tenant, employee_id.as_ref().map(|id| id.as_str()), &page)
            .await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(PayrollLoan).collect(),
            |loan| loan.0.loan.id.clone(),
        )))
    }

    /// One loan.
    #[graphql(requires_scopes = "payroll:read", requires_scopes = "payroll:admin")]
    async fn payroll_loan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The loan's id.")] id: ID,
    ) -> Result<Option<PayrollLoan>> {
        let tenant = ctx.tenant()?;
        match finance(ctx)?.payroll_loan(&tenant, &id).await {
            Ok(loan) => Ok(Some(PayrollLoan(loan))),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// The caller's own payslips, once their run is posted (newest period first); empty for a
    /// caller finance knows no employee record of. Nobody reads a colleague's slip here.
    #[graphql(directive = authenticated::apply())]
    async fn my_payslips(&self, ctx: &Context<'_>) -> Result<Vec<Payslip>> {
        let actor = actor(ctx)?;
        Ok(finance(ctx)?
            .my_payslips(&actor)
            .await?
            .into_iter()
            .map(Payslip)
            .collect())
    }
}

/// A new salary component.
#[derive(InputObject)]
pub struct CreateSalaryComponentInput {
    /// Unique in the tenant; a letter or `_`, then letters, digits, `_` (formulas read it).
    pub code: String,
    /// The component's name (1 to 500 characters).
    pub name: String,
    /// Earning or deduction.
    pub kind: SalaryComponentKind,
    /// How its amount is computed; the matching field below is required.
    pub rule: SalaryRule,
    /// FIXED: the amount in the base currency.
    pub amount: Option<Decimal>,
    /// PERCENT: the rate (0 to 100).
    pub percent: Option<Decimal>,
    /// PERCENT: the code of the component it is a percentage of.
    pub percent_of: Option<String>,
    /// FORMULA: e.g. `base * days_worked / days_in_period`; inputs `base` (the monthly base
    /// salary), `days_in_period`, `days_worked`, `lwp_days`, `gross`, and earlier components'
    /// codes (UNKNOWN_FORMULA_INPUT, FORMULA_DIVISION_BY_ZERO, FORMULA_SYNTAX).
    pub formula: Option<String>,
    /// The account its amounts post to (never a control account).
    pub account_id: ID,
}

/// The component created.
#[derive(SimpleObject)]
pub struct SalaryComponentPayload {
    /// The component created.
    pub component: SalaryComponent,
}

/// A new salary structure.
#[derive(InputObject)]
pub struct CreateSalaryStructureInput {
    /// Unique in the tenant.
    pub code: String,
    /// The structure's name.
    pub name: String,
    /// Its components in the order they are computed (each reads only earlier ones).
    pub component_ids: Vec<ID>,
}

/// The structure created.
#[derive(SimpleObject)]
pub struct SalaryStructurePayload {
    /// The structure created.
    pub structure: SalaryStructure,
}

/// A structure for an employee from a date.
#[derive(InputObject)]
pub struct AssignSalaryStructureInput {
    /// The employee (the employee subgraph's id).
    pub employee_id: ID,
    /// The structure.
    pub structure_id: ID,
    /// The first day it applies (back-dating it changes runs calculated afterwards).
    pub effective_from: Date,
}

/// The assignment made.
#[derive(SimpleObject)]
pub struct SalaryStructureAssignmentPayload {
    /// The assignment made.
    pub assignment: SalaryStructureAssignment,
}

/// One tax band.
#[derive(InputObject)]
pub struct TaxSlabInput {
    /// Annual taxable income from which the rate applies (the first band from 0).
    pub from: Decimal,
    /// The rate (0 to 100).
    pub rate: Decimal,
}

/// A fiscal year's income-tax slabs (replacing any).
#[derive(InputObject)]
pub struct SetTaxSlabsInput {
    /// The fiscal year's name (e.g. `2026`).
    pub fiscal_year: String,
    /// Rising bands, the first from 0 (BAD_TAX_SLABS).
    pub slabs: Vec<TaxSlabInput>,
}

/// The slabs now in force for the year.
#[derive(SimpleObject)]
pub struct TaxSlabsPayload {
    /// The slabs.
    pub slabs: Vec<TaxSlab>,
}

/// Additional salary for a period.
#[derive(InputObject)]
pub struct AddAdditionalSalaryInput {
    /// The employee.
    pub employee_id: ID,
    /// `YYYY-MM`.
    pub period: String,
    /// The run type that pays it (default REGULAR).
    #[graphql(default_with = "PayrollRunType::Regular")]
    pub run_type: PayrollRunType,
    /// The component it is paid as (an earning, or a deduction such as a recovery).
    pub component_id: ID,
    /// A positive amount in the base currency.
    pub amount: Decimal,
    /// Why (e.g. arrears of a back-dated revision).
    pub note: Option<String>,
}

/// The additional salary recorded.
#[derive(SimpleObject)]
pub struct AdditionalSalaryPayload {
    /// The additional salary recorded.
    pub additional_salary: AdditionalSalary,
}

/// A run to open.
#[derive(InputObject)]
pub struct CreatePayrollRunInput {
    /// `YYYY-MM`.
    pub period: String,
    /// Default REGULAR.
    #[graphql(default_with = "PayrollRunType::Regular")]
    pub run_type: PayrollRunType,
}

/// A run to calculate or approve.
#[derive(InputObject)]
pub struct PayrollRunInput {
    /// The run.
    pub run_id: ID,
}

/// A money-moving step of a run (post, cancel).
#[derive(InputObject)]
pub struct PayrollRunStepInput {
    /// 1 to 200 characters: the same key replays the answer.
    pub idempotency_key: String,
    /// The run.
    pub run_id: ID,
}

/// A posted run to pay.
#[derive(InputObject)]
pub struct PayPayrollRunInput {
    /// 1 to 200 characters: the same key replays the answer.
    pub idempotency_key: String,
    /// The run.
    pub run_id: ID,
    /// The bank file's format (default PAIN001).
    #[graphql(default_with = "PayrollBankFileFormat::Pain001")]
    pub format: PayrollBankFileFormat,
    /// The bank account paid from (default: the settings' bank account).
    pub bank_account_id: Option<ID>,
    /// The payment date (default: today).
    pub date: Option<Date>,
}

/// The run.
#[derive(SimpleObject)]
pub struct PayrollRunPayload {
    /// The run as it is now.
    pub run: PayrollRun,
}

/// The run after a money-moving step.
#[derive(SimpleObject)]
pub struct PayrollRunStepPayload {
    /// The run as it is now.
    pub run: PayrollRun,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

async fn run_by_id(ctx: &Context<'_>, id: &str) -> Result<PayrollRun> {
    let tenant = ctx.tenant()?;
    Ok(PayrollRun(finance(ctx)?.payroll_run(&tenant, id).await?))
}

#[derive(Default)]
pub struct PayrollMutation;

#[Object]
impl PayrollMutation {
    /// Saves a salary component; a formula is checked now (an unknown input or a division by
    /// zero is refused, never met in a run).
    #[graphql(requires_scopes = "payroll:admin")]
    async fn create_salary_component(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The component.")] input: CreateSalaryComponentInput,
    ) -> Result<Option<SalaryComponentPayload>> {
        let actor = actor(ctx)?;
        let required = |value: Option<String>, field: &'static str| {
            value.ok_or_else(|| {
                ApiError::bad_input(field, format!("{field} is required by the rule"))
            })
        };
        let rule = match input.rule {
            SalaryRule::Fixed => RuleRequest::Fixed {
                amount: required(input.amount.map(|d| d.to_string()), "amount")?,
            },
            SalaryRule::Percent => RuleRequest::Percent {
                of: required(input.percent_of, "percentOf")?,
                percent: required(input.percent.map(|d| d.to_string()), "percent")?,
            },
            SalaryRule::Formula => RuleRequest::Formula {
                formula: required(input.formula, "formula")?,
            },
            SalaryRule::IncomeTax => RuleRequest::IncomeTax,
        };
        let component = finance(ctx)?
            .create_salary_component(
                &actor,
                ComponentRequest {
                    code: input.code,
                    name: input.name,
                    kind: input.kind.into(),
                    rule,
                    account_id: input.account_id.0,
                },
            )
            .await?;
        Ok(Some(SalaryComponentPayload {
            component: SalaryComponent(component),
        }))
    }

    /// Saves a salary structure.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn create_salary_structure(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The structure.")] input: CreateSalaryStructureInput,
    ) -> Result<Option<SalaryStructurePayload>> {
        let actor = actor(ctx)?;
        let ids: Vec<String> = input.component_ids.into_iter().map(|id| id.0).collect();
        let structure = finance(ctx)?
            .create_salary_structure(
                &actor,
                StructureRequest {
                    code: input.code,
                    name: input.name,
                    component_ids: ids.clone(),
                },
            )
            .await?;
        Ok(Some(SalaryStructurePayload {
            structure: SalaryStructure(structure, ids),
        }))
    }

    /// Assigns a structure to an employee from a date.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn assign_salary_structure(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee, structure and date.")] input: AssignSalaryStructureInput,
    ) -> Result<Option<SalaryStructureAssignmentPayload>> {
        let actor = actor(ctx)?;
        let row = finance(ctx)?
            .assign_salary_structure(
                &actor,
                &input.employee_id,
                &input.structure_id,
                input.effective_from.0,
            )
            .await?;
        Ok(Some(SalaryStructureAssignmentPayload {
            assignment: row.into(),
        }))
    }

    /// Replaces a fiscal year's income-tax slabs.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn set_tax_slabs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The year and its slabs.")] input: SetTaxSlabsInput,
    ) -> Result<Option<TaxSlabsPayload>> {
        let actor = actor(ctx)?;
        let finance = finance(ctx)?;
        let settings = finance.settings(&actor.tenant).await?;
        let base = Currency::parse(&settings.base_currency).map_err(ApiError::from)?;
        let slabs: Vec<DomainSlab> = finance
            .set_tax_slabs(
                &actor,
                &input.fiscal_year,
                input
                    .slabs
                    .iter()
                    .map(|s| (s.from.to_string(), s.rate.to_string()))
                    .collect(),
            )
            .await?;
        Ok(Some(TaxSlabsPayload {
            slabs: slabs
                .into_iter()
                .map(|slab| TaxSlab {
                    from: stored_money(slab.from_minor, base.code()),
                    rate: super::scalars::decimal(Percent::from_ppm(slab.ppm).to_decimal_string()),
                })
                .collect(),
        }))
    }

    /// Records additional salary (bonus, arrears) for a period.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn add_additional_salary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee, period, component and amount.")]
        input: AddAdditionalSalaryInput,
    ) -> Result<Option<AdditionalSalaryPayload>> {
        let actor = actor(ctx)?;
        let row = finance(ctx)?
            .add_additional_salary(
                &actor,
                AdditionalRequest {
                    employee_id: input.employee_id.0,
                    period: input.period,
                    run_type: input.run_type.into(),
                    component_id: input.component_id.0,
                    amount: input.amount.to_string(),
                    note: input.note,
                },
            )
            .await?;
        Ok(Some(AdditionalSalaryPayload {
            additional_salary: row.into(),
        }))
    }

    /// Grants a loan or salary advance repaid by instalments deducted on each regular payslip
    /// from its start period: posted to loans receivable (account 1300) against the bank.
    /// BAD_LOAN_TERMS, PAYROLL_EMPLOYEE_UNKNOWN, PAYROLL_EMPLOYEE_LEFT.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn grant_payroll_loan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee, the terms and an idempotency key.")]
        input: GrantPayrollLoanInput,
    ) -> Result<Option<PayrollLoanPayload>> {
        let actor = actor(ctx)?;
        let finance = finance(ctx)?;
        let outcome = finance
            .grant_payroll_loan(
                &actor,
                &input.idempotency_key,
                LoanRequest {
                    employee_id: input.employee_id.0,
                    principal: input.principal.to_string(),
                    instalment: input.instalment.to_string(),
                    start_period: input.start_period,
                    note: input.note,
                    bank_account_id: input.bank_account_id.map(|id| id.0),
                    date: input.date.map(|d| d.0),
                },
            )
            .await?;
        Ok(Some(PayrollLoanPayload {
            loan: PayrollLoan(finance.payroll_loan(&actor.tenant, &outcome.id).await?),
            replayed: outcome.replayed,
        }))
    }

    /// Opens a run for a period (PAYROLL_RUN_IN_PROGRESS while another is open,
    /// PAYROLL_PERIOD_POSTED once posted).
    #[graphql(requires_scopes = "payroll:admin")]
    async fn create_payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period and run type.")] input: CreatePayrollRunInput,
    ) -> Result<Option<PayrollRunPayload>> {
        let actor = actor(ctx)?;
        let run = finance(ctx)?
            .create_payroll_run(&actor, &input.period, input.run_type.into())
            .await?;
        Ok(Some(PayrollRunPayload {
            run: PayrollRun(run),
        }))
    }

    /// Computes the run's slips (each employee's problem is reported on the run).
    #[graphql(requires_scopes = "payroll:admin")]
    async fn calculate_payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] input: PayrollRunInput,
    ) -> Result<Option<PayrollRunPayload>> {
        let actor = actor(ctx)?;
        let run = finance(ctx)?
            .calculate_payroll_run(&actor, &input.run_id)
            .await?;
        Ok(Some(PayrollRunPayload {
            run: PayrollRun(run),
        }))
    }

    /// Approves a calculated run (never one with the approver's own slip:
    /// PAYROLL_SELF_APPROVAL).
    #[graphql(requires_scopes = "payroll:admin")]
    async fn approve_payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] input: PayrollRunInput,
    ) -> Result<Option<PayrollRunPayload>> {
        let actor = actor(ctx)?;
        let run = finance(ctx)?
            .approve_payroll_run(&actor, &input.run_id)
            .await?;
        Ok(Some(PayrollRunPayload {
            run: PayrollRun(run),
        }))
    }

    /// Posts an approved run as one summarised journal entry and publishes its payslips.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn post_payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run and an idempotency key.")] input: PayrollRunStepInput,
    ) -> Result<Option<PayrollRunStepPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .post_payroll_run(&actor, &input.idempotency_key, &input.run_id)
            .await?;
        Ok(Some(PayrollRunStepPayload {
            run: run_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Pays a posted run: the bank file and the payment entry.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn pay_payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run, the file format and an idempotency key.")]
        input: PayPayrollRunInput,
    ) -> Result<Option<PayrollRunStepPayload>> {
        let actor = actor(ctx)?;
        let format = match input.format {
            PayrollBankFileFormat::Pain001 => DomainFormat::Pain001,
            PayrollBankFileFormat::Csv => DomainFormat::Csv,
        };
        let outcome = finance(ctx)?
            .pay_payroll_run(
                &actor,
                &input.idempotency_key,
                &input.run_id,
                format,
                input.bank_account_id.map(|id| id.0),
                input.date.map(|d| d.0),
            )
            .await?;
        Ok(Some(PayrollRunStepPayload {
            run: run_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Cancels a run; a posted run's entry is reversed (dated today). A paid run is not
    /// cancelled.
    #[graphql(requires_scopes = "payroll:admin")]
    async fn cancel_payroll_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run and an idempotency key.")] input: PayrollRunStepInput,
    ) -> Result<Option<PayrollRunStepPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .cancel_payroll_run(&actor, &input.idempotency_key, &input.run_id)
            .await?;
        Ok(Some(PayrollRunStepPayload {
            run: run_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }
}

/// Where a loan is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollLoanState {
    /// Being repaid.
    Open,
    /// Repaid in full by posted runs.
    Closed,
}

/// Where a loan repayment is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollLoanRepaymentState {
    /// Deducted on a slip of a run not posted yet: reserved, the balance is unchanged.
    Pending,
    /// Its run is posted: the balance went down by it.
    Posted,
    /// Its run was cancelled: it no longer counts.
    Cancelled,
}

/// Why a repayment deducted less than the instalment due.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PayrollLoanRepaymentReason {
    /// The slip's net pay was smaller than the instalment: the deduction stopped at a net of 0
    /// and the rest stays outstanding.
    NetPayLimit,
}

/// One repayment of a loan: a deduction on one run's payslip.
#[derive(SimpleObject)]
pub struct PayrollLoanRepayment {
    /// The run that deducted it.
    pub run_id: ID,
    /// `YYYY-MM`.
    pub period: String,
    /// The amount deducted (0 when the net pay left nothing).
    pub amount: Money,
    /// Where it is.
    pub state: PayrollLoanRepaymentState,
    /// Why less than due was deducted, if so.
    pub reason: Option<PayrollLoanRepaymentReason>,
}

/// An instalment still to come.
#[derive(SimpleObject)]
pub struct PayrollLoanInstalment {
    /// `YYYY-MM`.
    pub period: String,
    /// The instalment (the last one what is left).
    pub amount: Money,
}

/// A loan or salary advance, opened for a payroll reader.
pub struct PayrollLoan(pub LoanView);

/// A loan or salary advance repaid through payroll: outstanding = principal - the repayments
/// of posted runs.
#[Object]
impl PayrollLoan {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.loan.id.clone())
    }
    /// The borrower.
    async fn employee_id(&self) -> ID {
        ID(self.0.loan.employee_id.clone())
    }
    /// The amount lent.
    async fn principal(&self) -> Money {
        stored_money(self.0.principal, &self.0.loan.currency)
    }
    /// Deducted on each regular payslip.
    async fn instalment(&self) -> Money {
        stored_money(self.0.instalment, &self.0.loan.currency)
    }
    /// Repaid by posted runs.
    async fn repaid(&self) -> Money {
        stored_money(self.0.repaid, &self.0.loan.currency)
    }
    /// principal - repaid.
    async fn outstanding(&self) -> Money {
        stored_money(self.0.outstanding, &self.0.loan.currency)
    }
    /// The first period (`YYYY-MM`) an instalment is deducted in.
    async fn start_period(&self) -> &str {
        &self.0.loan.start_period
    }
    /// Where it is.
    async fn state(&self) -> PayrollLoanState {
        if self.0.loan.state == "closed" {
            PayrollLoanState::Closed
        } else {
            PayrollLoanState::Open
        }
    }
    /// The journal entry that paid the loan out (loans receivable debited, the bank credited).
    async fn grant_entry_id(&self) -> ID {
        ID(self.0.loan.grant_entry_id.clone())
    }
    /// The loans receivable account.
    async fn account_id(&self) -> ID {
        ID(self.0.loan.account_id.clone())
    }
    /// Why it was granted.
    async fn note(&self) -> Option<&str> {
        self.0.loan.note.as_deref()
    }
    /// Who granted it.
    async fn created_by(&self) -> &str {
        &self.0.loan.created_by
    }
    /// When it was granted.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.loan.created_at)
    }
    /// When posted runs repaid it in full.
    async fn closed_at(&self) -> Option<DateTime> {
        self.0.loan.closed_at.map(DateTime::from)
    }
    /// Its repayments, by period (cancelled runs' included, marked CANCELLED).
    async fn repayments(&self) -> Vec<PayrollLoanRepayment> {
        self.0
            .repayments
            .iter()
            .map(|r| PayrollLoanRepayment {
                run_id: ID(r.run_id.clone()),
                period: r.period.clone(),
                amount: stored_money(r.amount, &self.0.loan.currency),
                state: match r.state.as_str() {
                    "posted" => PayrollLoanRepaymentState::Posted,
                    "cancelled" => PayrollLoanRepaymentState::Cancelled,
                    _ => PayrollLoanRepaymentState::Pending,
                },
                reason: r
                    .reason
                    .as_deref()
                    .map(|_| PayrollLoanRepaymentReason::NetPayLimit),
            })
            .collect()
    }
    /// The instalments still to come (after those of open runs), if each is deducted in full.
    async fn schedule(&self) -> Vec<PayrollLoanInstalment> {
        self.0
            .schedule
            .iter()
            .map(|(period, amount)| PayrollLoanInstalment {
                period: period.clone(),
                amount: stored_money(*amount, &self.0.loan.currency),
            })
            .collect()
    }
}

/// A loan to grant.
#[derive(InputObject)]
pub struct GrantPayrollLoanInput {
    /// 1 to 200 characters: the same key replays the answer.
    pub idempotency_key: String,
    /// The borrower (known to payroll, with a compensation).
    pub employee_id: ID,
    /// The amount lent, in the payroll (base) currency; above zero.
    pub principal: Decimal,
    /// Deducted on each regular payslip; above zero, at most the principal.
    pub instalment: Decimal,
    /// The first period (`YYYY-MM`) an instalment is deducted in.
    pub start_period: String,
    /// Why (1 to 500 characters).
    pub note: Option<String>,
    /// The bank account the loan is paid out from (default: the settings' bank account).
    pub bank_account_id: Option<ID>,
    /// The date of the grant's entry (default: today).
    pub date: Option<Date>,
}

/// The loan granted.
#[derive(SimpleObject)]
pub struct PayrollLoanPayload {
    /// The loan as it is now.
    pub loan: PayrollLoan,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

#[derive(Default)]
pub struct PayrollSubscription;

#[Subscription]
impl PayrollSubscription {
    /// A run's progress: its state now, then each update (slips done, failed, phase, ETA) from
    /// every replica (Redis pub/sub) as it is calculated, approved, posted and paid. The
    /// subscriber's token is checked again before each update.
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![
        vec!["payroll:read".into()],
        vec!["payroll:admin".into()],
    ]))]
    async fn payroll_run_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The run.")] run_id: ID,
    ) -> Result<impl futures::Stream<Item = Result<PayrollRunProgress>>> {
        use futures::StreamExt;
        let tenant = ctx.tenant()?;
        let identity = ctx.identity().clone();
        let finance = finance(ctx)?.clone();
        // Subscribed before the snapshot is read, so no update falls between the two.
        let updates = finance.payroll_progress_updates(&tenant, &run_id).await?;
        let now = finance.payroll_progress_now(&tenant, &run_id).await?;
        let stream = futures::stream::once(async move { now })
            .chain(updates.filter_map(|bytes| async move {
                serde_json::from_slice::<RunProgress>(&bytes).ok()
            }))
            .map(PayrollRunProgress::from)
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, stream))
    }
}
