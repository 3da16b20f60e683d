//! Payroll's rules: salary components (earnings and deductions; fixed, a percentage of an
//! earlier component, a formula over named inputs, or income tax by the fiscal year's slabs),
//! the computation of one payslip in integer minor units (deterministic: the same inputs give
//! the same slip), the run's life cycle and the monthly period.
//!
//! Invariant F11: every slip has gross - deductions = net, computed here once.
//!
//! Proration (calendar days), for a leaver's final settlement and a joiner's first period
//! alike: an employee is employed in a period for E = the calendar days from the later of the
//! period's first day and their hire date to the earlier of the period's last day and their
//! last working day, inclusive, out of the period's D calendar days. Their slip is computed with
//! `base` = annual / 12 x E / D, `days_in_period` = E and `days_worked` = E - lwp_days, and
//! each FIXED earning of the structure paid x E / D (rounded half away from zero to minor
//! units). Everything derived follows (percentages of prorated components, formulas over them,
//! income tax on the annualised prorated gross); fixed deductions and additional salary are
//! taken and paid in full. `base * days_worked / days_in_period` thus pays annual / 12 x
//! (E - lwp) / D. Regular runs of periods before the hire or after the exit leave the
//! employee out ([`employed_days`]).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::money::{round_div, PPM};
use super::payroll_formula::{to_minor, EvalError, Expr, SCALE};
use super::FinanceViolation;

/// The inputs every formula may read, besides the codes of earlier components.
pub const INPUTS: &[(&str, &str)] = &[
    (
        "base",
        "the monthly base salary (the annual salary / 12; in a joiner's first or a leaver's last period, x days employed / calendar days of the period), in minor units",
    ),
    (
        "days_in_period",
        "calendar days of the period the employee is employed (all of them, unless they join or leave in it)",
    ),
    ("days_worked", "days_in_period - lwp_days"),
    (
        "lwp_days",
        "approved leave without pay in the period, in days",
    ),
    (
        "gross",
        "the earnings computed so far (deductions only), in minor units",
    ),
    (
        "overtime_hours",
        "approved overtime in the period, in hours (from the employee's closed attendance period)",
    ),
    (
        "hourly_rate",
        "the annual salary / the payroll policy's working hours a year, in minor units",
    ),
    (
        "overtime_multiplier",
        "the payroll policy's overtime multiplier (1.5 unless set)",
    ),
];

/// The formula input of approved overtime: a component reading it prices overtime (its own
/// month's, and late months' as adjustment lines).
pub const OVERTIME_INPUT: &str = "overtime_hours";

pub fn is_input(name: &str) -> bool {
    INPUTS.iter().any(|(input, _)| *input == name)
}

/// Earning or deduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Earning,
    Deduction,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Earning => "earning",
            ComponentKind::Deduction => "deduction",
        }
    }

    /// The other side: a recovery line of a component takes back on it.
    pub fn opposite(self) -> Self {
        match self {
            ComponentKind::Earning => ComponentKind::Deduction,
            ComponentKind::Deduction => ComponentKind::Earning,
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "earning" => Some(ComponentKind::Earning),
            "deduction" => Some(ComponentKind::Deduction),
            _ => None,
        }
    }
}

/// How a component's amount is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentRule {
    /// A fixed amount, in minor units.
    Fixed(i64),
    /// A percentage (ppm) of an earlier component of the structure (by code).
    Percent { of: String, ppm: i64 },
    /// A formula over [`INPUTS`] and earlier components' codes.
    Formula(Expr),
    /// Income tax: the fiscal year's slabs over the annualised gross, / 12.
    IncomeTax,
}

impl ComponentRule {
    /// The names of other components the rule reads.
    pub fn component_refs(&self) -> Vec<String> {
        match self {
            ComponentRule::Percent { of, .. } => vec![of.clone()],
            ComponentRule::Formula(expr) => expr
                .inputs()
                .into_iter()
                .filter(|name| !is_input(name))
                .collect(),
            ComponentRule::Fixed(_) | ComponentRule::IncomeTax => Vec::new(),
        }
    }
}

/// A component as a slip computes it.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: ComponentKind,
    pub rule: ComponentRule,
}

/// Checks a structure's order: each component reads only components before it.
pub fn check_structure(components: &[Component]) -> Result<(), FinanceViolation> {
    if components.is_empty() {
        return Err(FinanceViolation::EmptyStructure);
    }
    for (index, component) in components.iter().enumerate() {
        for name in component.rule.component_refs() {
            if !components[..index].iter().any(|c| c.code == name) {
                return Err(FinanceViolation::UnknownFormulaInput(format!(
                    "{name} (read by {} before it is computed in this structure)",
                    component.code
                )));
            }
        }
    }
    let mut codes: Vec<&str> = components.iter().map(|c| c.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    if codes.len() != components.len() {
        return Err(FinanceViolation::BadCode("componentIds"));
    }
    Ok(())
}

/// One band of a fiscal year's income tax: income from `from_minor` (annual) taxed at `ppm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxSlab {
    pub from_minor: i64,
    pub ppm: i64,
}

/// Checks a year's slabs: the first starts at 0, they rise strictly, rates within 0..=100 %.
pub fn check_slabs(slabs: &[TaxSlab]) -> Result<(), FinanceViolation> {
    if slabs.first().map(|s| s.from_minor) != Some(0) {
        return Err(FinanceViolation::BadTaxSlabs(
            "the first slab starts at 0".into(),
        ));
    }
    for pair in slabs.windows(2) {
        if pair[1].from_minor <= pair[0].from_minor {
            return Err(FinanceViolation::BadTaxSlabs("slabs rise strictly".into()));
        }
    }
    Ok(())
}

/// Annual tax on `income` by `slabs` (sorted, checked), in minor units.
pub fn annual_tax(slabs: &[TaxSlab], income: i128) -> i128 {
    let mut tax = 0i128;
    for (index, slab) in slabs.iter().enumerate() {
        let from = i128::from(slab.from_minor);
        if income <= from {
            break;
        }
        let to = slabs
            .get(index + 1)
            .map(|next| i128::from(next.from_minor))
            .unwrap_or(i128::MAX)
            .min(income);
        tax += (to - from) * i128::from(slab.ppm);
    }
    round_div(tax, PPM)
}

/// The tenant's payroll policy: what an hour of overtime pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayrollPolicy {
    /// The overtime multiplier of the hourly rate, in ppm (1.5 x = 1,500,000).
    pub overtime_multiplier_ppm: i64,
    /// The working hours of a year the hourly rate divides the annual salary by.
    pub annual_hours: i64,
}

impl Default for PayrollPolicy {
    /// Time and a half; 52 weeks of 40 hours.
    fn default() -> Self {
        Self {
            overtime_multiplier_ppm: 1_500_000,
            annual_hours: 2_080,
        }
    }
}

impl PayrollPolicy {
    /// A multiplier from 1 x to 10 x, 1 to 8,784 hours a year (every hour of a leap year).
    pub fn check(&self) -> Result<(), FinanceViolation> {
        if !(PPM..=10 * PPM).contains(&i128::from(self.overtime_multiplier_ppm)) {
            return Err(FinanceViolation::BadPayrollPolicy(
                "the overtime multiplier is from 1 to 10",
            ));
        }
        if !(1..=8_784).contains(&self.annual_hours) {
            return Err(FinanceViolation::BadPayrollPolicy(
                "the working hours of a year are from 1 to 8784",
            ));
        }
        Ok(())
    }
}

/// What one employee's slip is computed from.
#[derive(Debug, Clone)]
pub struct SlipInputs {
    /// The annual salary, in minor units.
    pub annual_salary: i64,
    /// Calendar days of the period.
    pub days_in_period: i64,
    /// Calendar days of the period the employee is employed: `days_in_period` unless they
    /// join or leave in it ([`employed_days`]).
    pub days_employed: i64,
    /// Approved leave without pay in the period, in thousandths of a day.
    pub lwp_milli_days: i64,
    /// Approved overtime in the period, in minutes.
    pub overtime_minutes: i64,
    /// Overtime of earlier months that changed after their regular run was posted (a month
    /// closed late, or a closed month's day corrected): (the month, `YYYY-MM`, the minutes
    /// still owed), oldest first. Each is an adjustment line of every structure component that
    /// reads `overtime_hours` ([`OVERTIME_INPUT`]), labelled with its month; the posted slip of
    /// that month is never changed. Minutes below zero (a correction took overtime away that
    /// was paid) are a recovery line: the same amount on the component's opposite side.
    pub overtime_arrears: Vec<(String, i64)>,
    pub policy: PayrollPolicy,
    /// Additional salary for the period: (component, amount in minor units).
    pub additional: Vec<(Component, i64)>,
}

/// One line of a slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlipLine {
    pub code: String,
    pub name: String,
    pub kind: ComponentKind,
    pub component_id: String,
    /// Minor units, never negative.
    pub amount: i64,
    /// The month an adjustment line belongs to (late overtime of a month whose run was
    /// posted), when it is not the slip's own; absent from the canonical bytes otherwise, so
    /// the slips written before it keep their fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_period: Option<String>,
    /// A recovery: what a component paid (or took) too much for an earlier month, taken back
    /// on the opposite side of the component (`kind` is the opposite of the component's);
    /// absent from the canonical bytes when false, as `for_period`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovery: bool,
}

/// A computed slip: gross - deductions = net by construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slip {
    pub lines: Vec<SlipLine>,
    pub gross: i64,
    pub deductions: i64,
    pub net: i64,
}

impl Slip {
    /// The slip's canonical bytes (what its fingerprint and its sealed cell hold).
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why an employee's slip was not computed: reported on the run, the run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlipFailure {
    MissingStructure,
    MissingSalary,
    MissingBankAccount,
    FormulaFailed,
    NegativeNet,
    CurrencyMismatch,
}

impl SlipFailure {
    pub const ALL: [SlipFailure; 6] = [
        SlipFailure::MissingStructure,
        SlipFailure::MissingSalary,
        SlipFailure::MissingBankAccount,
        SlipFailure::FormulaFailed,
        SlipFailure::NegativeNet,
        SlipFailure::CurrencyMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SlipFailure::MissingStructure => "MISSING_STRUCTURE",
            SlipFailure::MissingSalary => "MISSING_SALARY",
            SlipFailure::MissingBankAccount => "MISSING_BANK_ACCOUNT",
            SlipFailure::FormulaFailed => "FORMULA_FAILED",
            SlipFailure::NegativeNet => "NEGATIVE_NET",
            SlipFailure::CurrencyMismatch => "CURRENCY_MISMATCH",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// Computes one slip: the structure's components in order, then the additional salary. A
/// component below zero counts as zero; deductions above the earnings (a negative net) are a
/// failure, reported on the run.
pub fn compute_slip(
    structure: &[Component],
    slabs: &[TaxSlab],
    inputs: &SlipInputs,
) -> Result<Slip, (SlipFailure, String)> {
    let failed = |code: &str, err: EvalError| {
        (
            SlipFailure::FormulaFailed,
            match err {
                EvalError::DivisionByZero => format!("{code}: division by zero"),
                EvalError::Overflow => format!("{code}: the amount is out of range"),
                EvalError::Missing(name) => format!("{code}: no value for {name}"),
            },
        )
    };
    let period_days = i128::from(inputs.days_in_period.max(1));
    let employed = i128::from(inputs.days_employed).clamp(0, period_days);
    // A joiner's first and a leaver's last period pay employed / period days of each base
    // amount.
    let prorate = |amount: i128| {
        if employed == period_days {
            amount
        } else {
            round_div(amount * employed, period_days)
        }
    };
    let base = prorate(round_div(i128::from(inputs.annual_salary) * SCALE, 12));
    let lwp = round_div(i128::from(inputs.lwp_milli_days) * SCALE, 1000);
    let overtime_hours = round_div(i128::from(inputs.overtime_minutes) * SCALE, 60);
    let hourly_rate = round_div(
        i128::from(inputs.annual_salary) * SCALE,
        i128::from(inputs.policy.annual_hours.max(1)),
    );
    let overtime_multiplier = i128::from(inputs.policy.overtime_multiplier_ppm) * SCALE / PPM;
    let days = employed * SCALE;
    let mut lines: Vec<SlipLine> = Vec::with_capacity(structure.len() + inputs.additional.len());
    let mut gross = 0i128;
    let amount_of = |lines: &[SlipLine], code: &str| {
        lines
            .iter()
            .find(|line| line.code == code)
            .map(|line| i128::from(line.amount) * SCALE)
    };
    // A formula's amount in minor units, with `overtime` hours (scaled) as `overtime_hours`.
    let evaluate =
        |expr: &Expr, lines: &[SlipLine], gross: i128, overtime: i128| -> Result<i128, EvalError> {
            let scaled = expr.eval(&|name| match name {
                "base" => Some(base),
                "days_in_period" => Some(days),
                "lwp_days" => Some(lwp),
                "days_worked" => Some((days - lwp).max(0)),
                "gross" => Some(gross * SCALE),
                OVERTIME_INPUT => Some(overtime),
                "hourly_rate" => Some(hourly_rate),
                "overtime_multiplier" => Some(overtime_multiplier),
                other => amount_of(lines, other),
            })?;
            Ok(i128::from(to_minor(scaled).ok_or(EvalError::Overflow)?))
        };
    for component in structure {
        let amount: i128 = match &component.rule {
            ComponentRule::Fixed(minor) if component.kind == ComponentKind::Earning => {
                prorate(i128::from(*minor))
            }
            ComponentRule::Fixed(minor) => i128::from(*minor),
            ComponentRule::Percent { of, ppm } => {
                let of = amount_of(&lines, of).unwrap_or(0) / SCALE;
                round_div(of * i128::from(*ppm), PPM)
            }
            ComponentRule::Formula(expr) => evaluate(expr, &lines, gross, overtime_hours)
                .map_err(|err| failed(&component.code, err))?,
            ComponentRule::IncomeTax => round_div(annual_tax(slabs, gross * 12), 12),
        };
        // A component never pays or takes a negative amount: a formula below zero is zero.
        let amount = i64::try_from(amount.max(0))
            .map_err(|_| failed(&component.code, EvalError::Overflow))?;
        // Late overtime of earlier months: what the component pays for those hours alone,
        // less what it pays for none, at this slip's rates and at this point of the structure
        // (so later components, income tax included, see it in `gross`). Minutes taken away
        // (below zero) are priced the same way and taken back: a recovery line on the
        // component's opposite side, which lowers the gross later components see.
        let mut arrears = Vec::new();
        if let ComponentRule::Formula(expr) = &component.rule {
            if expr.inputs().iter().any(|name| name == OVERTIME_INPUT) {
                let without =
                    evaluate(expr, &lines, gross, 0).map_err(|err| failed(&component.code, err))?;
                for (month, minutes) in &inputs.overtime_arrears {
                    let hours = round_div(i128::from(minutes.abs()) * SCALE, 60);
                    let with = evaluate(expr, &lines, gross, hours)
                        .map_err(|err| failed(&component.code, err))?;
                    let difference = i64::try_from((with - without).max(0))
                        .map_err(|_| failed(&component.code, EvalError::Overflow))?;
                    let recovery = *minutes < 0;
                    arrears.push(SlipLine {
                        code: component.code.clone(),
                        name: if recovery {
                            format!("{} ({month}) recovery", component.name)
                        } else {
                            format!("{} ({month})", component.name)
                        },
                        kind: if recovery {
                            component.kind.opposite()
                        } else {
                            component.kind
                        },
                        component_id: component.id.clone(),
                        amount: difference,
                        for_period: Some(month.clone()),
                        recovery,
                    });
                }
            }
        }
        if component.kind == ComponentKind::Earning {
            gross += i128::from(amount);
            for line in &arrears {
                if line.recovery {
                    gross -= i128::from(line.amount);
                } else {
                    gross += i128::from(line.amount);
                }
            }
        }
        lines.push(SlipLine {
            code: component.code.clone(),
            name: component.name.clone(),
            kind: component.kind,
            component_id: component.id.clone(),
            amount,
            for_period: None,
            recovery: false,
        });
        lines.extend(arrears);
    }
    for (component, amount) in &inputs.additional {
        lines.push(SlipLine {
            code: component.code.clone(),
            name: component.name.clone(),
            kind: component.kind,
            component_id: component.id.clone(),
            amount: (*amount).max(0),
            for_period: None,
            recovery: false,
        });
    }
    let sum = |kind| -> i128 {
        lines
            .iter()
            .filter(|line| line.kind == kind)
            .map(|line| i128::from(line.amount))
            .sum()
    };
    let (gross, deductions) = (sum(ComponentKind::Earning), sum(ComponentKind::Deduction));
    let too_big = || {
        (
            SlipFailure::FormulaFailed,
            "the slip is out of range".to_owned(),
        )
    };
    let gross = i64::try_from(gross).map_err(|_| too_big())?;
    let deductions = i64::try_from(deductions).map_err(|_| too_big())?;
    let net = gross - deductions;
    if net < 0 {
        return Err((
            SlipFailure::NegativeNet,
            "the deductions exceed the earnings".into(),
        ));
    }
    Ok(Slip {
        lines,
        gross,
        deductions,
        net,
    })
}

/// The slip line code of an expense claim reimbursed through payroll.
pub const REIMBURSEMENT_LINE_CODE: &str = "REIMBURSEMENT";

/// The slip line component id of a reimbursed claim (its account is the employees'
/// reimbursement liability the claim's approval credited).
pub fn reimbursement_line_id(expense_id: &str) -> String {
    format!("expense:{expense_id}")
}

/// Adds approved expense claims (expense id, minor units) to a computed slip, each its own
/// REIMBURSEMENT line: paid with the net pay, never taxed (income tax was computed on the
/// structure's earnings before), never touched by a loan (added after the loans). Gross -
/// deductions = net still holds.
pub fn add_reimbursements(slip: &mut Slip, claims: &[(String, i64)]) {
    for (expense_id, amount) in claims {
        let amount = (*amount).max(0);
        slip.lines.push(SlipLine {
            code: REIMBURSEMENT_LINE_CODE.into(),
            name: "Expense reimbursement".into(),
            kind: ComponentKind::Earning,
            component_id: reimbursement_line_id(expense_id),
            amount,
            for_period: None,
            recovery: false,
        });
        slip.gross += amount;
        slip.net += amount;
    }
}

/// What a slip's recovery lines take back or give back for earlier months (see
/// [`SlipLine::recovery`]): not the period's labour cost, on either side.
pub fn recovered(slip: &Slip) -> i64 {
    slip.lines
        .iter()
        .filter(|line| line.recovery)
        .map(|line| line.amount)
        .sum()
}

/// The part of a slip's gross that reimburses expenses (not pay: an employer's labour cost
/// leaves it out).
pub fn reimbursed(slip: &Slip) -> i64 {
    slip.lines
        .iter()
        .filter(|line| line.code == REIMBURSEMENT_LINE_CODE && line.kind == ComponentKind::Earning)
        .map(|line| line.amount)
        .sum()
}

/// A payroll period: one calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl Period {
    pub fn parse(text: &str) -> Result<Self, FinanceViolation> {
        let bad = || FinanceViolation::BadPayrollPeriod(text.chars().take(20).collect());
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        let starts_on = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .ok_or_else(bad)?;
        Ok(Self {
            starts_on,
            ends_on: next.pred_opt().ok_or_else(bad)?,
        })
    }

    pub fn label(&self) -> String {
        format!("{:04}-{:02}", self.starts_on.year(), self.starts_on.month())
    }

    pub fn days(&self) -> i64 {
        (self.ends_on - self.starts_on).num_days() + 1
    }

    /// The month after this one.
    pub fn next(&self) -> Option<Self> {
        let first = self.ends_on.succ_opt()?;
        Self::parse(&format!("{:04}-{:02}", first.year(), first.month())).ok()
    }
}

/// The calendar days of `period` an employee is employed, from their hire date (none: hired
/// before every period payroll knows of) to their last working day (none: not leaving), both
/// inclusive: all of them when they joined before it and leave after it, fewer when they join
/// or leave in it (the same proration rule for both ends), `None` when they join after it
/// ends or left before it began (a regular run of the period leaves them out).
pub fn employed_days(
    period: &Period,
    hired_on: Option<NaiveDate>,
    last_working_day: Option<NaiveDate>,
) -> Option<i64> {
    let first = hired_on.map_or(period.starts_on, |day| day.max(period.starts_on));
    let last = last_working_day.map_or(period.ends_on, |day| day.min(period.ends_on));
    if first > last {
        return None;
    }
    Some((last - first).num_days() + 1)
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Draft,
    Calculated,
    Approved,
    Posted,
    Paid,
    Cancelled,
}

/// What is done to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAction {
    Calculate,
    Approve,
    Post,
    Pay,
    Cancel,
}

impl RunState {
    pub const ALL: [RunState; 6] = [
        RunState::Draft,
        RunState::Calculated,
        RunState::Approved,
        RunState::Posted,
        RunState::Paid,
        RunState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Draft => "draft",
            RunState::Calculated => "calculated",
            RunState::Approved => "approved",
            RunState::Posted => "posted",
            RunState::Paid => "paid",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl RunAction {
    fn as_str(self) -> &'static str {
        match self {
            RunAction::Calculate => "calculated",
            RunAction::Approve => "approved",
            RunAction::Post => "posted",
            RunAction::Pay => "paid",
            RunAction::Cancel => "cancelled",
        }
    }
}

/// The run's life cycle: `draft -> calculated (again while not approved) -> approved -> posted
/// -> paid`; cancel before posting, or after posting (a reversal) but not once paid.
pub fn run_transition(from: RunState, action: RunAction) -> Result<RunState, FinanceViolation> {
    use RunAction as A;
    use RunState as S;
    let to = match (from, action) {
        (S::Draft | S::Calculated, A::Calculate) => S::Calculated,
        (S::Calculated, A::Approve) => S::Approved,
        (S::Approved, A::Post) => S::Posted,
        (S::Posted, A::Pay) => S::Paid,
        (S::Draft | S::Calculated | S::Approved | S::Posted, A::Cancel) => S::Cancelled,
        _ => {
            return Err(FinanceViolation::PayrollRunState {
                state: from.as_str(),
                action: action.as_str(),
            })
        }
    };
    Ok(to)
}

/// The formats of a run's bank payment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankFileFormat {
    /// ISO 20022 `pain.001.001.03` credit transfer initiation.
    Pain001,
    /// `end_to_end_id,employee_id,account,amount,currency` with a header row.
    Csv,
}

impl BankFileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BankFileFormat::Pain001 => "pain001",
            BankFileFormat::Csv => "csv",
        }
    }
}

/// One credit transfer of a bank file: an employee's net pay.
#[derive(Debug, Clone)]
pub struct BankPayment {
    pub end_to_end_id: String,
    pub employee_id: String,
    pub account: String,
    pub amount: super::money::Money,
}

fn xml_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// An account written as an IBAN (two letters, two digits, up to 30 letters or digits) or as
/// another identifier.
fn account_xml(account: &str) -> String {
    let compact: String = account.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = compact.as_bytes();
    let iban = (15..=34).contains(&compact.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..4].iter().all(u8::is_ascii_digit)
        && bytes[4..].iter().all(u8::is_ascii_alphanumeric);
    if iban {
        format!("<IBAN>{compact}</IBAN>")
    } else {
        format!("<Othr><Id>{}</Id></Othr>", xml_escape(account))
    }
}

/// The bank file of a run's payments (deterministic: the same payments give the same bytes).
/// Its control sum is the sum of the payments, which is the run's net pay.
pub fn bank_file(
    format: BankFileFormat,
    message_id: &str,
    debtor: &str,
    date: NaiveDate,
    currency: super::money::Currency,
    payments: &[BankPayment],
) -> Result<String, FinanceViolation> {
    let mut total = super::money::Money::zero(currency);
    for payment in payments {
        total = total.checked_add(payment.amount)?;
    }
    match format {
        BankFileFormat::Csv => {
            let mut out = String::from("end_to_end_id,employee_id,account,amount,currency\n");
            for payment in payments {
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    csv_field(&payment.end_to_end_id),
                    csv_field(&payment.employee_id),
                    csv_field(&payment.account),
                    payment.amount.to_decimal_string(),
                    currency.code()
                ));
            }
            Ok(out)
        }
        BankFileFormat::Pain001 => {
            let id = xml_escape(message_id);
            let mut out = String::with_capacity(400 + payments.len() * 420);
            out.push_str(&format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\"><CstmrCdtTrfInitn><GrpHdr><MsgId>{id}</MsgId><CreDtTm>{date}T00:00:00</CreDtTm><NbOfTxs>{count}</NbOfTxs><CtrlSum>{sum}</CtrlSum><InitgPty><Nm>{debtor}</Nm></InitgPty></GrpHdr><PmtInf><PmtInfId>{id}</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>{count}</NbOfTxs><CtrlSum>{sum}</CtrlSum><PmtTpInf><CtgyPurp><Cd>SALA</Cd></CtgyPurp></PmtTpInf><ReqdExctnDt>{date}</ReqdExctnDt><Dbtr><Nm>{debtor}</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{debtor}</Id></Othr></Id></DbtrAcct><DbtrAgt><FinInstnId/></DbtrAgt>\n",
                count = payments.len(),
                sum = total.to_decimal_string(),
                debtor = xml_escape(debtor),
            ));
            for payment in payments {
                out.push_str(&format!(
                    "<CdtTrfTxInf><PmtId><EndToEndId>{}</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"{}\">{}</InstdAmt></Amt><Cdtr><Nm>{}</Nm></Cdtr><CdtrAcct><Id>{}</Id></CdtrAcct></CdtTrfTxInf>\n",
                    xml_escape(&payment.end_to_end_id),
                    currency.code(),
                    payment.amount.to_decimal_string(),
                    xml_escape(&payment.employee_id),
                    account_xml(&payment.account),
                ));
            }
            out.push_str("</PmtInf></CstmrCdtTrfInitn></Document>\n");
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(code: &str, kind: ComponentKind, rule: ComponentRule) -> Component {
        Component {
            id: format!("c-{code}"),
            code: code.into(),
            name: code.into(),
            kind,
            rule,
        }
    }

    fn structure() -> Vec<Component> {
        let known = |name: &str| is_input(name) || name == "BASIC";
        vec![
            component(
                "BASIC",
                ComponentKind::Earning,
                ComponentRule::Formula(
                    Expr::parse("base * days_worked / days_in_period", &known).unwrap(),
                ),
            ),
            component(
                "HRA",
                ComponentKind::Earning,
                ComponentRule::Percent {
                    of: "BASIC".into(),
                    ppm: 400_000,
                },
            ),
            component(
                "TRAVEL",
                ComponentKind::Earning,
                ComponentRule::Fixed(10_000),
            ),
            component(
                "PENSION",
                ComponentKind::Deduction,
                ComponentRule::Percent {
                    of: "BASIC".into(),
                    ppm: 120_000,
                },
            ),
            component("TAX", ComponentKind::Deduction, ComponentRule::IncomeTax),
        ]
    }

    const SLABS: &[TaxSlab] = &[
        TaxSlab {
            from_minor: 0,
            ppm: 0,
        },
        TaxSlab {
            from_minor: 1_000_000,
            ppm: 200_000,
        },
        TaxSlab {
            from_minor: 5_000_000,
            ppm: 300_000,
        },
    ];

    #[test]
    fn a_slip_balances_and_is_deterministic() {
        let inputs = SlipInputs {
            annual_salary: 3_600_000,
            days_in_period: 30,
            days_employed: 30,
            lwp_milli_days: 3_000,
            overtime_minutes: 0,
            overtime_arrears: Vec::new(),
            policy: PayrollPolicy::default(),
            additional: Vec::new(),
        };
        check_structure(&structure()).unwrap();
        let slip = compute_slip(&structure(), SLABS, &inputs).unwrap();
        // BASIC 300000 * 27/30 = 270000; HRA 40 % = 108000; TRAVEL 10000; gross 388000.
        let amounts: Vec<i64> = slip.lines.iter().map(|l| l.amount).collect();
        // PENSION 12 % of BASIC = 32400; TAX: annual 4656000 -> 20 % of 3656000 = 731200 / 12.
        assert_eq!(amounts, vec![270_000, 108_000, 10_000, 32_400, 60_933]);
        assert_eq!(slip.gross, 388_000);
        assert_eq!(slip.deductions, 93_333);
        assert_eq!(slip.gross - slip.deductions, slip.net);
        assert_eq!(
            slip.canonical(),
            compute_slip(&structure(), SLABS, &inputs)
                .unwrap()
                .canonical()
        );
    }

    #[test]
    fn a_leavers_last_period_is_prorated_by_calendar_days() {
        // Leaving on day 12 of a 30-day period, 3 days of unpaid leave before.
        let inputs = SlipInputs {
            annual_salary: 3_600_000,
            days_in_period: 30,
            days_employed: 12,
            lwp_milli_days: 3_000,
            overtime_minutes: 0,
            overtime_arrears: Vec::new(),
            policy: PayrollPolicy::default(),
            additional: Vec::new(),
        };
        let slip = compute_slip(&structure(), SLABS, &inputs).unwrap();
        // BASIC 300000 x 12/30 = 120000 for 12 days, x (12 - 3) / 12 = 90000 (300000 x 9/30);
        // HRA 40 % = 36000; TRAVEL 10000 x 12/30 = 4000; gross 130000. PENSION 12 % = 10800;
        // TAX: annual 1560000 -> 20 % of 560000 = 112000 / 12 = 9333.
        let amounts: Vec<i64> = slip.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![90_000, 36_000, 4_000, 10_800, 9_333]);
        assert_eq!(
            (slip.gross, slip.deductions, slip.net),
            (130_000, 20_133, 109_867)
        );
        // A fixed earning rounds half away from zero: 10000 x 1/30 = 333.33 -> 333.
        let one_day = SlipInputs {
            days_employed: 1,
            lwp_milli_days: 0,
            ..inputs
        };
        let slip = compute_slip(&structure(), SLABS, &one_day).unwrap();
        assert_eq!(slip.lines[2].amount, 333);
        assert_eq!(slip.lines[0].amount, 10_000);
    }

    #[test]
    fn employed_days_of_a_leaver() {
        let november = Period::parse("2026-11").unwrap();
        let day = |d: &str| Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
        assert_eq!(employed_days(&november, None, None), Some(30));
        assert_eq!(employed_days(&november, None, day("2026-11-20")), Some(20));
        assert_eq!(employed_days(&november, None, day("2026-11-01")), Some(1));
        assert_eq!(employed_days(&november, None, day("2026-11-30")), Some(30));
        assert_eq!(employed_days(&november, None, day("2026-12-05")), Some(30));
        assert_eq!(employed_days(&november, None, day("2026-10-31")), None);
        assert_eq!(november.next().unwrap().label(), "2026-12");
        assert_eq!(
            Period::parse("2026-12").unwrap().next().unwrap().label(),
            "2027-01"
        );
    }

    #[test]
    fn employed_days_of_a_joiner() {
        let november = Period::parse("2026-11").unwrap();
        let day = |d: &str| Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
        // Hired before the period: all of it; on its first day: all of it.
        assert_eq!(employed_days(&november, day("2025-03-14"), None), Some(30));
        assert_eq!(employed_days(&november, day("2026-11-01"), None), Some(30));
        // Hired on the 11th: the 11th to the 30th, inclusive.
        assert_eq!(employed_days(&november, day("2026-11-11"), None), Some(20));
        assert_eq!(employed_days(&november, day("2026-11-30"), None), Some(1));
        // Hired after the period: left out.
        assert_eq!(employed_days(&november, day("2026-12-01"), None), None);
        // Joining and leaving in the same period: the 11th to the 20th.
        assert_eq!(
            employed_days(&november, day("2026-11-11"), day("2026-11-20")),
            Some(10)
        );
        // A last working day before the hire date employs nobody.
        assert_eq!(
            employed_days(&november, day("2026-11-21"), day("2026-11-20")),
            None
        );
    }

    #[test]
    fn a_joiners_first_period_is_prorated_by_calendar_days() {
        // Hired on 2026-11-11: employed 20 of November's 30 days, no unpaid leave.
        let november = Period::parse("2026-11").unwrap();
        let hired = NaiveDate::from_ymd_opt(2026, 11, 11);
        let inputs = SlipInputs {
            annual_salary: 3_600_000,
            days_in_period: november.days(),
            days_employed: employed_days(&november, hired, None).unwrap(),
            lwp_milli_days: 0,
            overtime_minutes: 0,
            overtime_arrears: Vec::new(),
            policy: PayrollPolicy::default(),
            additional: Vec::new(),
        };
        let slip = compute_slip(&structure(), SLABS, &inputs).unwrap();
        // BASIC 300000 x 20/30 = 200000; HRA 40 % = 80000; TRAVEL 10000 x 20/30 = 6666.67 ->
        // 6667; gross 286667. PENSION 12 % of BASIC = 24000; TAX: annual 3440004 -> 20 % of
        // 2440004 = 488000.8 -> 488001 / 12 = 40666.75 -> 40667.
        let amounts: Vec<i64> = slip.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![200_000, 80_000, 6_667, 24_000, 40_667]);
        assert_eq!(
            (slip.gross, slip.deductions, slip.net),
            (286_667, 64_667, 222_000)
        );
    }

    #[test]
    fn overtime_pays_the_policys_multiple_of_the_hourly_rate() {
        let known = |name: &str| is_input(name) || name == "BASIC";
        let components = vec![
            component(
                "BASIC",
                ComponentKind::Earning,
                ComponentRule::Formula(
                    Expr::parse("base * days_worked / days_in_period", &known).unwrap(),
                ),
            ),
            component(
                "OVERTIME",
                ComponentKind::Earning,
                ComponentRule::Formula(
                    Expr::parse("hourly_rate * overtime_hours * overtime_multiplier", &known)
                        .unwrap(),
                ),
            ),
        ];
        // 41,600.00 a year / 2080 h = 20.00 an hour; 3 h 30 min at 1.5 x = 105.00.
        let inputs = SlipInputs {
            annual_salary: 4_160_000,
            days_in_period: 30,
            days_employed: 30,
            lwp_milli_days: 0,
            overtime_minutes: 210,
            overtime_arrears: Vec::new(),
            policy: PayrollPolicy::default(),
            additional: Vec::new(),
        };
        let slip = compute_slip(&components, &[], &inputs).unwrap();
        let amounts: Vec<i64> = slip.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![346_667, 10_500]);
        // Double time over a 2000-hour year: 20.80 an hour, 7 min -> 4.8533.. -> 4.85.
        let double = SlipInputs {
            overtime_minutes: 7,
            policy: PayrollPolicy {
                overtime_multiplier_ppm: 2_000_000,
                annual_hours: 2_000,
            },
            ..inputs
        };
        assert_eq!(
            compute_slip(&components, &[], &double).unwrap().lines[1].amount,
            485
        );
        // Late overtime of two posted months: a line each, after OVERTIME, labelled with its
        // month (2 h and 30 min at 1.5 x 20.00 = 60.00 and 15.00); the slip's own overtime
        // is still its own line.
        let late = SlipInputs {
            overtime_arrears: vec![("2026-09".into(), 120), ("2026-10".into(), 30)],
            ..double.clone()
        };
        let late = SlipInputs {
            overtime_minutes: 210,
            policy: PayrollPolicy::default(),
            ..late
        };
        let slip = compute_slip(&components, &[], &late).unwrap();
        let lines: Vec<(&str, &str, i64, Option<&str>)> = slip
            .lines
            .iter()
            .map(|l| {
                (
                    l.code.as_str(),
                    l.name.as_str(),
                    l.amount,
                    l.for_period.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                ("BASIC", "BASIC", 346_667, None),
                ("OVERTIME", "OVERTIME", 10_500, None),
                ("OVERTIME", "OVERTIME (2026-09)", 6_000, Some("2026-09")),
                ("OVERTIME", "OVERTIME (2026-10)", 1_500, Some("2026-10")),
            ]
        );
        assert_eq!(slip.gross, 346_667 + 10_500 + 6_000 + 1_500);
        assert_eq!(slip.net, slip.gross);
        // A line without a month serialises as before (slips keep their fingerprints).
        assert!(!serde_json::to_string(&slip.lines[1])
            .unwrap()
            .contains("for_period"));
        assert!(serde_json::to_string(&slip.lines[2])
            .unwrap()
            .contains("\"for_period\":\"2026-09\""));
        // A corrected month that took 1 hour away after it was paid: a recovery of OVERTIME
        // (1 h at 1.5 x 20.00 = 30.00) on the deduction side, labelled with its month; the
        // gross keeps the earnings, the net loses the recovery.
        let taken = SlipInputs {
            overtime_minutes: 0,
            overtime_arrears: vec![("2026-09".into(), -60)],
            ..late.clone()
        };
        let slip = compute_slip(&components, &[], &taken).unwrap();
        let last = slip.lines.last().unwrap();
        assert_eq!(
            (
                last.name.as_str(),
                last.kind,
                last.amount,
                last.for_period.as_deref(),
                last.recovery
            ),
            (
                "OVERTIME (2026-09) recovery",
                ComponentKind::Deduction,
                3_000,
                Some("2026-09"),
                true
            )
        );
        assert_eq!(
            (slip.gross, slip.deductions, slip.net, recovered(&slip)),
            (346_667, 3_000, 343_667, 3_000)
        );
        assert!(serde_json::to_string(last)
            .unwrap()
            .contains("\"recovery\":true"));
        assert!(!serde_json::to_string(&slip.lines[1])
            .unwrap()
            .contains("recovery"));
        assert!(PayrollPolicy {
            overtime_multiplier_ppm: 999_999,
            annual_hours: 2_080
        }
        .check()
        .is_err());
        assert!(PayrollPolicy {
            overtime_multiplier_ppm: 1_000_000,
            annual_hours: 0
        }
        .check()
        .is_err());
    }

    #[test]
    fn a_reimbursement_is_paid_with_the_net_and_never_taxed() {
        let inputs = SlipInputs {
            annual_salary: 3_600_000,
            days_in_period: 30,
            days_employed: 30,
            lwp_milli_days: 3_000,
            overtime_minutes: 0,
            overtime_arrears: Vec::new(),
            policy: PayrollPolicy::default(),
            additional: Vec::new(),
        };
        let mut slip = compute_slip(&structure(), SLABS, &inputs).unwrap();
        let taxed = slip.lines[4].amount;
        add_reimbursements(&mut slip, &[("x1".into(), 12_345), ("x2".into(), 655)]);
        assert_eq!(slip.lines[4].amount, taxed);
        assert_eq!(
            (slip.gross, slip.deductions, slip.net),
            (388_000 + 13_000, 93_333, 294_667 + 13_000)
        );
        assert_eq!(slip.gross - slip.deductions, slip.net);
        assert_eq!(reimbursed(&slip), 13_000);
        assert_eq!(slip.lines[5].component_id, "expense:x1");
    }

    #[test]
    fn slabs_tax_each_band() {
        assert_eq!(annual_tax(SLABS, 500_000), 0);
        assert_eq!(annual_tax(SLABS, 6_000_000), 800_000 + 300_000);
        assert!(check_slabs(&SLABS[1..]).is_err());
    }

    #[test]
    fn a_structure_reads_only_earlier_components() {
        let mut components = structure();
        components.swap(0, 1);
        assert!(matches!(
            check_structure(&components),
            Err(FinanceViolation::UnknownFormulaInput(_))
        ));
    }

    #[test]
    fn deductions_above_earnings_fail_the_slip() {
        let components = vec![
            component("PAY", ComponentKind::Earning, ComponentRule::Fixed(100)),
            component("LOAN", ComponentKind::Deduction, ComponentRule::Fixed(200)),
        ];
        let inputs = SlipInputs {
            annual_salary: 0,
            days_in_period: 30,
            days_employed: 30,
            lwp_milli_days: 0,
            overtime_minutes: 0,
            overtime_arrears: Vec::new(),
            policy: PayrollPolicy::default(),
            additional: Vec::new(),
        };
        assert_eq!(
            compute_slip(&components, &[], &inputs).map_err(|e| e.0),
            Err(SlipFailure::NegativeNet)
        );
    }

    #[test]
    fn bank_files_sum_the_payments() {
        use crate::domain::money::{Currency, Money};
        let eur = Currency::parse("EUR").unwrap();
        let payments = vec![
            BankPayment {
                end_to_end_id: "s1".into(),
                employee_id: "e1".into(),
                account: "DE89 3704 0044 0532 0130 00".into(),
                amount: Money::from_minor(123_456, eur).unwrap(),
            },
            BankPayment {
                end_to_end_id: "s2".into(),
                employee_id: "e<2>".into(),
                account: "12,34".into(),
                amount: Money::from_minor(100, eur).unwrap(),
            },
        ];
        let date = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        let xml = bank_file(
            BankFileFormat::Pain001,
            "run-1",
            "Bank (1000)",
            date,
            eur,
            &payments,
        )
        .unwrap();
        assert!(xml.contains("<NbOfTxs>2</NbOfTxs><CtrlSum>1235.56</CtrlSum>"));
        assert!(xml.contains("<IBAN>DE89370400440532013000</IBAN>"));
        assert!(xml.contains("<Nm>e&lt;2&gt;</Nm>"));
        let csv = bank_file(BankFileFormat::Csv, "run-1", "Bank", date, eur, &payments).unwrap();
        assert_eq!(
            csv,
            "end_to_end_id,employee_id,account,amount,currency\ns1,e1,DE89 3704 0044 0532 0130 00,1234.56,EUR\ns2,e<2>,\"12,34\",1.00,EUR\n"
        );
    }

    #[test]
    fn periods_and_the_run_life_cycle() {
        let period = Period::parse("2026-02").unwrap();
        assert_eq!(period.days(), 28);
        assert_eq!(period.label(), "2026-02");
        assert!(Period::parse("2026-13").is_err());
        assert!(Period::parse("26-01").is_err());
        assert_eq!(
            run_transition(RunState::Calculated, RunAction::Approve),
            Ok(RunState::Approved)
        );
        assert!(run_transition(RunState::Draft, RunAction::Post).is_err());
        assert!(run_transition(RunState::Paid, RunAction::Cancel).is_err());
    }
}
