//! Finance's rules, free of GraphQL and of the database: money and currencies, the ledger's
//! invariants, periods and lock dates, numbering, the hash chain, taxes, exchange rates,
//! invoices and payments, expenses, the cash-flow forecast. Each broken rule is a
//! [`FinanceViolation`] with a stable reason.

pub mod cash;
pub mod expense;
pub mod fx;
pub mod hash_chain;
pub mod idempotency;
pub mod invoice;
pub mod ledger;
pub mod money;
pub mod payment;
pub mod payroll;
pub mod payroll_formula;
pub mod payroll_loans;
pub mod period;
pub mod revaluation;
pub mod tax;

use erp_kit::error::Reason;
use erp_kit::RuleViolation;

erp_kit::reasons! {
    /// Finance's rule reasons (`extensions.reason`).
    pub mod reasons {
        /// The currency is not an active ISO 4217 code.
        UNKNOWN_CURRENCY => BadUserInput,
        /// The amount is not a plain decimal string (`-?digits(.digits)?`: no exponent, no `+`, no separators).
        AMOUNT_FORMAT => BadUserInput,
        /// The amount has more decimals than its currency's minor unit allows (EUR 2, JPY 0, KWD 3); it is refused, never rounded.
        AMOUNT_TOO_PRECISE => BadUserInput,
        /// The amount's magnitude exceeds 10^15 minor units.
        AMOUNT_OUT_OF_RANGE => BadUserInput,
        /// Amounts of different currencies were combined where one currency is required.
        CURRENCY_MISMATCH => BadUserInput,
        /// A percentage (tax rate, discount, instalment share) is malformed or out of range.
        BAD_PERCENT => BadUserInput,
        /// A quantity is malformed, not positive, or has more than 3 decimals.
        BAD_QUANTITY => BadUserInput,
        /// An exchange rate is malformed or not positive.
        BAD_EXCHANGE_RATE => BadUserInput,
        /// A journal entry's debits and credits differ (per transaction currency or in the base currency).
        UNBALANCED_ENTRY => BadUserInput,
        /// A journal entry needs at least two lines.
        TOO_FEW_LINES => BadUserInput,
        /// A journal line carries exactly one of a positive debit or a positive credit.
        DEBIT_XOR_CREDIT => BadUserInput,
        /// An account (or journal, tax, party record) is not in the caller's tenant.
        ACCOUNT_NOT_FOUND => NotFound,
        /// A receivable or payable control account moves only through invoices, bills and payments (so the subledger always equals it).
        CONTROL_ACCOUNT_RESERVED => Conflict,
        /// The date is on or before the lock date: the period is closed to postings.
        PERIOD_LOCKED => Conflict,
        /// No fiscal year covers the date.
        NO_FISCAL_YEAR => Conflict,
        /// The fiscal year overlaps another, or its dates are inverted.
        FISCAL_YEAR_OVERLAP => Conflict,
        /// A lock date moves forward only.
        LOCK_DATE_BACKWARDS => Conflict,
        /// The entry was already reversed (a posted entry is reversed once).
        ALREADY_REVERSED => Conflict,
        /// A reversal is not itself reversed: post a new entry instead.
        REVERSAL_OF_REVERSAL => Conflict,
        /// The idempotency key was used before with a different payload.
        IDEMPOTENCY_KEY_REUSED => Conflict,
        /// The idempotency key is empty or longer than 200 characters.
        BAD_IDEMPOTENCY_KEY => BadUserInput,
        /// Finance is not set up for the tenant (base currency, chart of accounts): run `setUpFinance` first.
        FINANCE_NOT_SET_UP => Conflict,
        /// Finance is already set up for the tenant.
        ALREADY_SET_UP => Conflict,
        /// No exchange rate for the currency on or before the date.
        NO_EXCHANGE_RATE => Conflict,
        /// The rounding residual exceeds the allowance (one minor unit per line): the document is wrong, not rounded.
        ROUNDING_RESIDUAL_TOO_LARGE => Conflict,
        /// Only a draft document can be changed, posted or deleted.
        NOT_DRAFT => Conflict,
        /// A credit note exceeds what is still owed on its invoice.
        CREDIT_EXCEEDS_INVOICE => Conflict,
        /// The allocations exceed the payment's unallocated amount.
        OVER_ALLOCATION => Conflict,
        /// An allocation exceeds the invoice's outstanding amount.
        ALLOCATION_EXCEEDS_OUTSTANDING => Conflict,
        /// The payment and the invoice belong to different parties or currencies.
        ALLOCATION_MISMATCH => Conflict,
        /// The instalment shares of a payment term must add up to 100 %.
        INSTALMENTS_NOT_100 => BadUserInput,
        /// The expense is not in a state that allows this step.
        EXPENSE_STATE => Conflict,
        /// The expense was already paid (an expense is settled exactly once).
        EXPENSE_ALREADY_PAID => Conflict,
        /// Nobody approves their own expense.
        SELF_APPROVAL => Forbidden,
        /// Only the claimant's manager (or a finance administrator) approves an expense.
        NOT_THE_MANAGER => Forbidden,
        /// The expense line exceeds its category's cap.
        POLICY_CAP_EXCEEDED => BadUserInput,
        /// The category requires a receipt reference on each line.
        RECEIPT_REQUIRED => BadUserInput,
        /// The caller has no employee record in finance's directory (learnt from the employee subgraph).
        UNKNOWN_EMPLOYEE => Conflict,
        /// A PMO time entry is billed at most once.
        TIME_ENTRY_ALREADY_BILLED => Conflict,
        /// An operations asset event (a depreciation line, a disposal) cannot be posted: the chart lacks one of the asset accounts (1500, 1590, 1000, 4900, 5600, 5900) or the GEN journal, or the amounts do not add up (the consumer dead-letters it; nothing is written).
        ASSET_NOT_POSTABLE => Conflict,
        /// The partner is of the wrong kind for the document (a customer's invoice, a vendor's bill).
        WRONG_PARTNER_KIND => Conflict,
        /// A currency the tenant keeps no exchange rate for: invoices, bills and payments are in the base currency or in a currency with dated exchange rates (NO_EXCHANGE_RATE when none is in force on the document's date); expense claims are in the base currency or in a currency with a rate in force on each line's day; billing rates are in the base currency; a recurring schedule needs rates for its currency.
        DOCUMENT_CURRENCY => BadUserInput,
        /// A realised exchange difference cannot be posted: the chart lacks the exchange gain (4950) or loss (6950) account.
        EXCHANGE_ACCOUNT_MISSING => Conflict,
        /// A concurrent request revalued the same date first: a date is revalued once (ask again to read that revaluation).
        ALREADY_REVALUED => Conflict,
        /// An expense claim in a foreign currency is reimbursed by the bank in the base currency (payExpenseClaim, which posts the realised exchange difference), not through payroll.
        FOREIGN_EXPENSE_NOT_THROUGH_PAYROLL => Conflict,
        /// A code (account, journal, tax, category) is malformed or already used in the tenant.
        BAD_CODE => BadUserInput,
        /// A text field is empty or too long.
        BAD_TEXT => BadUserInput,
        /// The date range is inverted or too long.
        BAD_DATE_RANGE => BadUserInput,
        /// An accepted CRM quote cannot become an invoice as accepted: no finance tax has a line's rate, or finance's totals differ from the accepted ones (the consumer dead-letters it; nothing is written).
        QUOTE_NOT_INVOICEABLE => Conflict,
        /// A salary-component formula does not parse (`+ - * /`, parentheses, numbers and names only).
        FORMULA_SYNTAX => BadUserInput,
        /// A formula (or a percentage) reads a name that is neither a payroll input nor a component computed before it.
        UNKNOWN_FORMULA_INPUT => BadUserInput,
        /// A formula divides by a constant zero (refused when the component is saved).
        FORMULA_DIVISION_BY_ZERO => BadUserInput,
        /// A salary structure has at least one component, each once.
        EMPTY_STRUCTURE => BadUserInput,
        /// A fiscal year's tax slabs start at 0, rise strictly and tax 0 to 100 %.
        BAD_TAX_SLABS => BadUserInput,
        /// A payroll period is a calendar month written `YYYY-MM`.
        BAD_PAYROLL_PERIOD => BadUserInput,
        /// The payroll run is not in a state that allows this step.
        PAYROLL_RUN_STATE => Conflict,
        /// Another run of the same type is already open for the period (one at a time).
        PAYROLL_RUN_IN_PROGRESS => Conflict,
        /// The period's run of this type is already posted (cancel it, which reverses it, to run again).
        PAYROLL_PERIOD_POSTED => Conflict,
        /// The approver has a payslip in the run: nobody approves their own pay.
        PAYROLL_SELF_APPROVAL => Forbidden,
        /// The run has no payslip to approve, post or pay.
        PAYROLL_RUN_EMPTY => Conflict,
        /// A loan's principal and instalment are above zero, the instalment at most the principal.
        BAD_LOAN_TERMS => BadUserInput,
        /// Payroll knows no compensation for the employee (from the employee subgraph's events).
        PAYROLL_EMPLOYEE_UNKNOWN => BadUserInput,
        /// The employee leaves (or has left) before the loan's first instalment would be deducted.
        PAYROLL_EMPLOYEE_LEFT => Conflict,
        /// The payroll policy's overtime multiplier is from 1 to 10, its working hours a year from 1 to 8,784.
        BAD_PAYROLL_POLICY => BadUserInput,
        /// The expense claim is to be reimbursed through payroll: it is not paid by the bank, nor queued twice.
        EXPENSE_QUEUED_FOR_PAYROLL => Conflict,
        /// A recurring schedule's invoice of a month is not deleted (the next run would generate the month again): change its lines, or post it and credit it.
        RECURRING_DRAFT => Conflict,
    }
}

/// A broken finance rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinanceViolation {
    UnknownCurrency(String),
    AmountFormat(String),
    AmountTooPrecise {
        amount: String,
        currency: &'static str,
        exponent: u8,
    },
    AmountOutOfRange,
    CurrencyMismatch {
        expected: &'static str,
        found: &'static str,
    },
    BadPercent {
        field: &'static str,
        value: String,
    },
    BadQuantity(String),
    BadExchangeRate(String),
    Unbalanced {
        currency: &'static str,
        debit: String,
        credit: String,
    },
    TooFewLines,
    DebitXorCredit {
        line: usize,
    },
    AccountNotFound(String),
    ControlAccountReserved(String),
    PeriodLocked {
        date: chrono::NaiveDate,
        lock_date: chrono::NaiveDate,
    },
    NoFiscalYear(chrono::NaiveDate),
    FiscalYearOverlap,
    LockDateBackwards {
        current: chrono::NaiveDate,
    },
    AlreadyReversed,
    ReversalOfReversal,
    IdempotencyKeyReused,
    BadIdempotencyKey,
    NotSetUp,
    AlreadySetUp,
    NoExchangeRate {
        currency: &'static str,
        date: chrono::NaiveDate,
    },
    RoundingResidualTooLarge {
        residual: i64,
        allowance: i64,
    },
    NotDraft(&'static str),
    /// A recurring schedule's draft (deleting it would let its month be generated again).
    RecurringDraft,
    CreditExceedsInvoice,
    OverAllocation {
        unallocated: String,
        requested: String,
    },
    AllocationExceedsOutstanding {
        invoice: String,
    },
    AllocationMismatch(&'static str),
    InstalmentsNot100,
    ExpenseState {
        state: &'static str,
        action: &'static str,
    },
    ExpenseAlreadyPaid,
    SelfApproval,
    NotTheManager,
    PolicyCapExceeded {
        category: String,
        cap: String,
    },
    ReceiptRequired {
        category: String,
    },
    UnknownEmployee,
    TimeEntryAlreadyBilled,
    WrongPartnerKind(&'static str),
    DocumentCurrency(&'static str),
    /// A document or payment in a foreign currency the tenant has no exchange rate for.
    NoRatesForCurrency {
        base: &'static str,
        currency: &'static str,
    },
    /// The chart lacks an account a realised exchange difference posts to (its code).
    ExchangeAccountMissing(&'static str),
    /// A concurrent revaluation of the same date committed first.
    AlreadyRevalued(chrono::NaiveDate),
    ForeignExpenseNotThroughPayroll(&'static str),
    BadCode(&'static str),
    BadText(&'static str),
    BadDateRange,
    /// An accepted quote that finance cannot invoice exactly as accepted (why, in words).
    QuoteNotInvoiceable(String),
    FormulaSyntax(String),
    UnknownFormulaInput(String),
    FormulaDivisionByZero,
    EmptyStructure,
    BadTaxSlabs(String),
    BadPayrollPeriod(String),
    PayrollRunState {
        state: &'static str,
        action: &'static str,
    },
    PayrollRunInProgress,
    PayrollPeriodPosted,
    PayrollSelfApproval,
    PayrollRunEmpty,
    BadLoanTerms {
        field: &'static str,
        why: &'static str,
    },
    PayrollEmployeeUnknown,
    PayrollEmployeeLeft(chrono::NaiveDate),
    BadPayrollPolicy(&'static str),
    ExpenseQueuedForPayroll,
}

impl RuleViolation for FinanceViolation {
    fn reason(&self) -> Reason {
        use FinanceViolation as V;
        match self {
            V::UnknownCurrency(_) => reasons::UNKNOWN_CURRENCY,
            V::AmountFormat(_) => reasons::AMOUNT_FORMAT,
            V::AmountTooPrecise { .. } => reasons::AMOUNT_TOO_PRECISE,
            V::AmountOutOfRange => reasons::AMOUNT_OUT_OF_RANGE,
            V::CurrencyMismatch { .. } => reasons::CURRENCY_MISMATCH,
            V::BadPercent { .. } => reasons::BAD_PERCENT,
            V::BadQuantity(_) => reasons::BAD_QUANTITY,
            V::BadExchangeRate(_) => reasons::BAD_EXCHANGE_RATE,
            V::Unbalanced { .. } => reasons::UNBALANCED_ENTRY,
            V::TooFewLines => reasons::TOO_FEW_LINES,
            V::DebitXorCredit { .. } => reasons::DEBIT_XOR_CREDIT,
            V::AccountNotFound(_) => reasons::ACCOUNT_NOT_FOUND,
            V::ControlAccountReserved(_) => reasons::CONTROL_ACCOUNT_RESERVED,
            V::PeriodLocked { .. } => reasons::PERIOD_LOCKED,
            V::NoFiscalYear(_) => reasons::NO_FISCAL_YEAR,
            V::FiscalYearOverlap => reasons::FISCAL_YEAR_OVERLAP,
            V::LockDateBackwards { .. } => reasons::LOCK_DATE_BACKWARDS,
            V::AlreadyReversed => reasons::ALREADY_REVERSED,
            V::ReversalOfReversal => reasons::REVERSAL_OF_REVERSAL,
            V::IdempotencyKeyReused => reasons::IDEMPOTENCY_KEY_REUSED,
            V::BadIdempotencyKey => reasons::BAD_IDEMPOTENCY_KEY,
            V::NotSetUp => reasons::FINANCE_NOT_SET_UP,
            V::AlreadySetUp => reasons::ALREADY_SET_UP,
            V::NoExchangeRate { .. } => reasons::NO_EXCHANGE_RATE,
            V::RoundingResidualTooLarge { .. } => reasons::ROUNDING_RESIDUAL_TOO_LARGE,
            V::NotDraft(_) => reasons::NOT_DRAFT,
            V::RecurringDraft => reasons::RECURRING_DRAFT,
            V::CreditExceedsInvoice => reasons::CREDIT_EXCEEDS_INVOICE,
            V::OverAllocation { .. } => reasons::OVER_ALLOCATION,
            V::AllocationExceedsOutstanding { .. } => reasons::ALLOCATION_EXCEEDS_OUTSTANDING,
            V::AllocationMismatch(_) => reasons::ALLOCATION_MISMATCH,
            V::InstalmentsNot100 => reasons::INSTALMENTS_NOT_100,
            V::ExpenseState { .. } => reasons::EXPENSE_STATE,
            V::ExpenseAlreadyPaid => reasons::EXPENSE_ALREADY_PAID,
            V::SelfApproval => reasons::SELF_APPROVAL,
            V::NotTheManager => reasons::NOT_THE_MANAGER,
            V::PolicyCapExceeded { .. } => reasons::POLICY_CAP_EXCEEDED,
            V::ReceiptRequired { .. } => reasons::RECEIPT_REQUIRED,
            V::UnknownEmployee => reasons::UNKNOWN_EMPLOYEE,
            V::TimeEntryAlreadyBilled => reasons::TIME_ENTRY_ALREADY_BILLED,
            V::WrongPartnerKind(_) => reasons::WRONG_PARTNER_KIND,
            V::DocumentCurrency(_) | V::NoRatesForCurrency { .. } => reasons::DOCUMENT_CURRENCY,
            V::ExchangeAccountMissing(_) => reasons::EXCHANGE_ACCOUNT_MISSING,
            V::AlreadyRevalued(_) => reasons::ALREADY_REVALUED,
            V::ForeignExpenseNotThroughPayroll(_) => reasons::FOREIGN_EXPENSE_NOT_THROUGH_PAYROLL,
            V::BadCode(_) => reasons::BAD_CODE,
            V::BadText(_) => reasons::BAD_TEXT,
            V::BadDateRange => reasons::BAD_DATE_RANGE,
            V::QuoteNotInvoiceable(_) => reasons::QUOTE_NOT_INVOICEABLE,
            V::FormulaSyntax(_) => reasons::FORMULA_SYNTAX,
            V::UnknownFormulaInput(_) => reasons::UNKNOWN_FORMULA_INPUT,
            V::FormulaDivisionByZero => reasons::FORMULA_DIVISION_BY_ZERO,
            V::EmptyStructure => reasons::EMPTY_STRUCTURE,
            V::BadTaxSlabs(_) => reasons::BAD_TAX_SLABS,
            V::BadPayrollPeriod(_) => reasons::BAD_PAYROLL_PERIOD,
            V::PayrollRunState { .. } => reasons::PAYROLL_RUN_STATE,
            V::PayrollRunInProgress => reasons::PAYROLL_RUN_IN_PROGRESS,
            V::PayrollPeriodPosted => reasons::PAYROLL_PERIOD_POSTED,
            V::PayrollSelfApproval => reasons::PAYROLL_SELF_APPROVAL,
            V::PayrollRunEmpty => reasons::PAYROLL_RUN_EMPTY,
            V::BadLoanTerms { .. } => reasons::BAD_LOAN_TERMS,
            V::PayrollEmployeeUnknown => reasons::PAYROLL_EMPLOYEE_UNKNOWN,
            V::PayrollEmployeeLeft(_) => reasons::PAYROLL_EMPLOYEE_LEFT,
            V::BadPayrollPolicy(_) => reasons::BAD_PAYROLL_POLICY,
            V::ExpenseQueuedForPayroll => reasons::EXPENSE_QUEUED_FOR_PAYROLL,
        }
    }

    fn message(&self) -> String {
        use FinanceViolation as V;
        match self {
            V::UnknownCurrency(code) => format!("`{code}` is not an ISO 4217 currency code"),
            V::AmountFormat(text) => format!(
                "`{text}` is not a decimal amount (digits, an optional `.` and decimals, an optional leading `-`)"
            ),
            V::AmountTooPrecise {
                amount,
                currency,
                exponent,
            } => format!(
                "`{amount}` has more decimals than {currency} allows ({exponent})"
            ),
            V::AmountOutOfRange => "the amount is out of range".into(),
            V::CurrencyMismatch { expected, found } => {
                format!("expected an amount in {expected}, found {found}")
            }
            V::BadPercent { field, value } => {
                format!("`{value}` is not a valid percentage for {field}")
            }
            V::BadQuantity(text) => format!(
                "`{text}` is not a positive quantity with at most 3 decimals"
            ),
            V::BadExchangeRate(text) => format!(
                "`{text}` is not a positive exchange rate with at most 9 decimals"
            ),
            V::Unbalanced {
                currency,
                debit,
                credit,
            } => format!(
                "the entry does not balance in {currency}: debits {debit}, credits {credit}"
            ),
            V::TooFewLines => "a journal entry has at least two lines".into(),
            V::DebitXorCredit { line } => format!(
                "line {line} must have exactly one of a positive debit or a positive credit"
            ),
            V::AccountNotFound(id) => format!("account `{id}` not found"),
            V::ControlAccountReserved(code) => format!(
                "account {code} is a control account: it moves only through invoices, bills and payments"
            ),
            V::PeriodLocked { date, lock_date } => format!(
                "{date} is on or before the lock date {lock_date}: the period is closed"
            ),
            V::NoFiscalYear(date) => format!("no fiscal year covers {date}"),
            V::FiscalYearOverlap => {
                "the fiscal year overlaps another or ends before it starts".into()
            }
            V::LockDateBackwards { current } => {
                format!("the lock date only moves forward (it is {current})")
            }
            V::AlreadyReversed => "the entry was already reversed".into(),
            V::ReversalOfReversal => {
                "a reversal is not reversed; post a new entry instead".into()
            }
            V::IdempotencyKeyReused => {
                "the idempotency key was already used with a different request".into()
            }
            V::BadIdempotencyKey => {
                "the idempotency key must have 1 to 200 characters".into()
            }
            V::NotSetUp => "finance is not set up for this tenant: run setUpFinance".into(),
            V::AlreadySetUp => "finance is already set up for this tenant".into(),
            V::NoExchangeRate { currency, date } => {
                format!("no {currency} exchange rate on or before {date}")
            }
            V::RoundingResidualTooLarge {
                residual,
                allowance,
            } => format!(
                "a rounding residual of {residual} minor units exceeds the allowance of {allowance}"
            ),
            V::NotDraft(what) => format!("the {what} is not a draft"),
            V::RecurringDraft => "a recurring schedule's invoice is not deleted (its month would be generated again): change its lines, or post it and credit it".into(),
            V::CreditExceedsInvoice => {
                "the credit note exceeds what is still owed on the invoice".into()
            }
            V::OverAllocation {
                unallocated,
                requested,
            } => format!(
                "the payment has {unallocated} left to allocate; {requested} was requested"
            ),
            V::AllocationExceedsOutstanding { invoice } => {
                format!("the allocation exceeds what is outstanding on invoice {invoice}")
            }
            V::AllocationMismatch(what) => {
                format!("the payment and the invoice differ in {what}")
            }
            V::InstalmentsNot100 => "the instalment shares must add up to 100".into(),
            V::ExpenseState { state, action } => {
                format!("an expense that is {state} cannot be {action}")
            }
            V::ExpenseAlreadyPaid => "the expense was already paid".into(),
            V::SelfApproval => "nobody approves their own expense".into(),
            V::NotTheManager => {
                "only the claimant's manager or a finance administrator approves this expense"
                    .into()
            }
            V::PolicyCapExceeded { category, cap } => {
                format!("a {category} line is capped at {cap}")
            }
            V::ReceiptRequired { category } => {
                format!("{category} lines need a receipt reference")
            }
            V::UnknownEmployee => {
                "no employee record is known for this user in finance's directory".into()
            }
            V::TimeEntryAlreadyBilled => "a time entry on this invoice was already billed".into(),
            V::WrongPartnerKind(expected) => format!("the partner is not a {expected}"),
            V::DocumentCurrency(base) => format!(
                "expense claims and billing rates are in the base currency ({base})"
            ),
            V::NoRatesForCurrency { base, currency } => format!(
                "invoices, bills and payments are in the base currency ({base}) or a currency with exchange rates, and there is none for {currency}"
            ),
            V::ExchangeAccountMissing(code) => format!(
                "the chart has no account {code} for realised exchange differences"
            ),
            V::AlreadyRevalued(date) => {
                format!("{date} was revalued by a concurrent request; ask again to read it")
            }
            V::ForeignExpenseNotThroughPayroll(currency) => format!(
                "the claim is in {currency}: it is reimbursed by the bank in the base currency \
                 (payExpenseClaim), which posts the exchange difference, not through payroll"
            ),
            V::BadCode(field) => format!(
                "{field} must be 1 to 32 letters, digits, `-`, `_` or `.`, unique in the tenant"
            ),
            V::BadText(field) => format!("{field} must have 1 to 500 characters"),
            V::BadDateRange => "the date range is inverted or longer than 10 years".into(),
            V::QuoteNotInvoiceable(why) => format!("the accepted quote cannot be invoiced: {why}"),
            V::FormulaSyntax(why) => format!("the formula does not parse: {why}"),
            V::UnknownFormulaInput(name) => format!(
                "the formula reads `{name}`, which is neither a payroll input nor an earlier component"
            ),
            V::FormulaDivisionByZero => "the formula divides by zero".into(),
            V::EmptyStructure => {
                "a salary structure has at least one component, each once".into()
            }
            V::BadTaxSlabs(why) => format!("the tax slabs are invalid: {why}"),
            V::BadPayrollPeriod(text) => {
                format!("`{text}` is not a payroll period (a month written YYYY-MM)")
            }
            V::PayrollRunState { state, action } => {
                format!("a payroll run that is {state} cannot be {action}")
            }
            V::PayrollRunInProgress => {
                "another run of this type is open for the period".into()
            }
            V::PayrollPeriodPosted => {
                "the period's run of this type is already posted".into()
            }
            V::PayrollSelfApproval => {
                "the approver has a payslip in this run: nobody approves their own pay".into()
            }
            V::PayrollRunEmpty => "the run has no payslip".into(),
            V::BadLoanTerms { why, .. } => format!("the loan's terms are invalid: {why}"),
            V::PayrollEmployeeUnknown => {
                "payroll knows no compensation for this employee".into()
            }
            V::PayrollEmployeeLeft(day) => format!(
                "the employee's last working day ({day}) comes before the loan's first instalment"
            ),
            V::BadPayrollPolicy(why) => format!("the payroll policy is invalid: {why}"),
            V::ExpenseQueuedForPayroll => {
                "the expense claim is to be reimbursed through payroll".into()
            }
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            FinanceViolation::BadPercent { field, .. } => Some(field),
            FinanceViolation::BadCode(field) | FinanceViolation::BadText(field) => Some(field),
            FinanceViolation::FormulaSyntax(_)
            | FinanceViolation::UnknownFormulaInput(_)
            | FinanceViolation::FormulaDivisionByZero => Some("formula"),
            FinanceViolation::BadPayrollPeriod(_) => Some("period"),
            FinanceViolation::BadLoanTerms { field, .. } => Some(field),
            FinanceViolation::PayrollEmployeeUnknown => Some("employeeId"),
            FinanceViolation::BadIdempotencyKey | FinanceViolation::IdempotencyKeyReused => {
                Some("idempotencyKey")
            }
            _ => None,
        }
    }
}

/// A code (account, journal, tax, category): 1 to 32 of letters, digits, `-`, `_`, `.`.
pub fn parse_code(field: &'static str, raw: &str) -> Result<String, FinanceViolation> {
    let code = raw.trim();
    if code.is_empty()
        || code.len() > 32
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(FinanceViolation::BadCode(field));
    }
    Ok(code.to_owned())
}

/// A name or label: trimmed, 1 to 500 characters.
pub fn parse_text(field: &'static str, raw: &str) -> Result<String, FinanceViolation> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(FinanceViolation::BadText(field));
    }
    Ok(text.to_owned())
}

/// An optional label: empty is none.
pub fn parse_optional_text(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<String>, FinanceViolation> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_text(field, text).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_has_a_declared_reason() {
        let violation = FinanceViolation::SelfApproval;
        assert!(reasons::ALL.contains(&violation.reason()));
        assert_eq!(violation.reason().name(), "SELF_APPROVAL");
    }

    #[test]
    fn codes_and_texts_parse() {
        assert_eq!(parse_code("code", " 1100 ").unwrap(), "1100");
        assert!(parse_code("code", "a b").is_err());
        assert!(parse_code("code", "").is_err());
        assert!(parse_text("name", "  ").is_err());
        assert_eq!(parse_optional_text("memo", Some(" ")).unwrap(), None);
    }
}
