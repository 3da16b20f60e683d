//! The general ledger's rules: accounts, journals, and what makes a journal entry postable
//! (invariant F1: at least two lines, each a debit XOR a credit, balanced per transaction
//! currency and in the base currency), reversals (F2) and numbering (F6).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::fx::ExchangeRate;
use super::money::{Currency, Money};
use super::FinanceViolation;

/// The five account classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKind {
    Asset,
    Liability,
    Equity,
    Income,
    Expense,
}

impl AccountKind {
    pub const ALL: [AccountKind; 5] = [
        AccountKind::Asset,
        AccountKind::Liability,
        AccountKind::Equity,
        AccountKind::Income,
        AccountKind::Expense,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Asset => "asset",
            AccountKind::Liability => "liability",
            AccountKind::Equity => "equity",
            AccountKind::Income => "income",
            AccountKind::Expense => "expense",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Assets and expenses grow with debits; the others with credits.
    pub fn debit_normal(self) -> bool {
        matches!(self, AccountKind::Asset | AccountKind::Expense)
    }

    /// Income and expense accounts make the profit and loss; the others the balance sheet.
    pub fn is_profit_and_loss(self) -> bool {
        matches!(self, AccountKind::Income | AccountKind::Expense)
    }
}

/// What an account is for beyond its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRole {
    /// An ordinary account: manual entries may use it.
    General,
    /// The receivables control account: moved only by invoices, credit notes and payments.
    Receivable,
    /// The payables control account: moved only by vendor bills and their payments.
    Payable,
    /// A bank or cash account: the cash position and the cash-flow statement read these.
    Bank,
}

impl AccountRole {
    pub const ALL: [AccountRole; 4] = [
        AccountRole::General,
        AccountRole::Receivable,
        AccountRole::Payable,
        AccountRole::Bank,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::General => "general",
            AccountRole::Receivable => "receivable",
            AccountRole::Payable => "payable",
            AccountRole::Bank => "bank",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// Control accounts move only through their subledger's documents (invariant F9).
    pub fn is_control(self) -> bool {
        matches!(self, AccountRole::Receivable | AccountRole::Payable)
    }

    /// The class a role's account must have.
    pub fn required_kind(self) -> Option<AccountKind> {
        match self {
            AccountRole::General => None,
            AccountRole::Receivable | AccountRole::Bank => Some(AccountKind::Asset),
            AccountRole::Payable => Some(AccountKind::Liability),
        }
    }
}

/// The facts of an account a posting needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    pub id: String,
    pub code: String,
    pub kind: AccountKind,
    pub role: AccountRole,
}

/// Who a line is about: the customer of a receivable, the vendor of a payable, the employee of
/// an expense claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    Customer(String),
    Vendor(String),
    Employee(String),
}

impl Party {
    pub fn kind(&self) -> &'static str {
        match self {
            Party::Customer(_) => "customer",
            Party::Vendor(_) => "vendor",
            Party::Employee(_) => "employee",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Party::Customer(id) | Party::Vendor(id) | Party::Employee(id) => id,
        }
    }

    pub fn from_stored(kind: Option<&str>, id: Option<&str>) -> Option<Self> {
        let id = id?.to_owned();
        match kind? {
            "customer" => Some(Party::Customer(id)),
            "vendor" => Some(Party::Vendor(id)),
            "employee" => Some(Party::Employee(id)),
            _ => None,
        }
    }
}

/// The analytic dimensions a line may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Dimensions {
    pub project_id: Option<String>,
    pub department_id: Option<String>,
    pub client_id: Option<String>,
}

/// Debit or credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// A line as proposed: the amounts as given (exactly one should be positive).
#[derive(Debug, Clone)]
pub struct ProposedLine {
    pub account_id: String,
    pub debit: Option<Money>,
    pub credit: Option<Money>,
    pub party: Option<Party>,
    pub dimensions: Dimensions,
    pub label: Option<String>,
}

impl ProposedLine {
    /// A line with one side already decided (documents build their entries this way).
    pub fn new(account_id: &str, side: Side, amount: Money) -> Self {
        let (debit, credit) = match side {
            Side::Debit => (Some(amount), None),
            Side::Credit => (None, Some(amount)),
        };
        Self {
            account_id: account_id.to_owned(),
            debit,
            credit,
            party: None,
            dimensions: Dimensions::default(),
            label: None,
        }
    }

    pub fn with_party(mut self, party: Option<Party>) -> Self {
        self.party = party;
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_dimensions(mut self, dimensions: Dimensions) -> Self {
        self.dimensions = dimensions;
        self
    }
}

/// A checked line: one side, a positive amount in the entry's currency and its base amount
/// (computed once, here, and stored: invariant F4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedLine {
    pub account_id: String,
    pub side: Side,
    /// Positive, in the entry's transaction currency.
    pub amount: Money,
    /// Positive, in base-currency minor units.
    pub base_minor: i64,
    pub party: Option<Party>,
    pub dimensions: Dimensions,
    pub label: Option<String>,
}

impl PostedLine {
    pub fn base_debit(&self) -> i64 {
        if self.side == Side::Debit {
            self.base_minor
        } else {
            0
        }
    }

    pub fn base_credit(&self) -> i64 {
        if self.side == Side::Credit {
            self.base_minor
        } else {
            0
        }
    }

    /// The line's effect on its account in base units, debit positive.
    pub fn signed_base(&self) -> i64 {
        self.base_debit() - self.base_credit()
    }
}

/// An entry that satisfies F1: ready to number and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancedEntry {
    pub currency: Currency,
    /// The rate the base amounts were computed with (None in the base currency).
    pub rate: Option<ExchangeRate>,
    pub lines: Vec<PostedLine>,
}

impl BalancedEntry {
    pub fn total_base_debit(&self) -> i64 {
        self.lines.iter().map(PostedLine::base_debit).sum()
    }
}

/// How an entry in a foreign currency gets its base amounts.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub rate: ExchangeRate,
    pub base: Currency,
    /// Where a conversion residual of at most one base minor unit per line goes (F5).
    pub rounding_account_id: String,
}

/// Checks F1 and computes the base amounts: at least two lines, each a debit XOR a credit of
/// one currency, debits equal credits in that currency, and, through `conversion`, in the base
/// currency (a conversion residual within the allowance becomes a line on the rounding
/// account; beyond it the entry is refused).
pub fn balance_entry(
    lines: Vec<ProposedLine>,
    base: Currency,
    conversion: Option<&Conversion>,
) -> Result<BalancedEntry, FinanceViolation> {
    if lines.len() < 2 {
        return Err(FinanceViolation::TooFewLines);
    }
    let mut currency: Option<Currency> = None;
    let mut posted = Vec::with_capacity(lines.len() + 1);
    let (mut debits, mut credits) = (0i64, 0i64);
    for (index, line) in lines.into_iter().enumerate() {
        let (side, amount) = match (line.debit, line.credit) {
            (Some(debit), None) if debit.is_positive() => (Side::Debit, debit),
            (None, Some(credit)) if credit.is_positive() => (Side::Credit, credit),
            (Some(debit), Some(credit)) if debit.is_zero() && credit.is_positive() => {
                (Side::Credit, credit)
            }
            (Some(debit), Some(credit)) if credit.is_zero() && debit.is_positive() => {
                (Side::Debit, debit)
            }
            _ => return Err(FinanceViolation::DebitXorCredit { line: index + 1 }),
        };
        match currency {
            None => currency = Some(amount.currency()),
            Some(expected) if expected != amount.currency() => {
                return Err(FinanceViolation::CurrencyMismatch {
                    expected: expected.code(),
                    found: amount.currency().code(),
                })
            }
            Some(_) => {}
        }
        let total = match side {
            Side::Debit => &mut debits,
            Side::Credit => &mut credits,
        };
        *total = total
            .checked_add(amount.minor())
            .ok_or(FinanceViolation::AmountOutOfRange)?;
        posted.push(PostedLine {
            account_id: line.account_id,
            side,
            amount,
            base_minor: amount.minor(),
            party: line.party,
            dimensions: line.dimensions,
            label: line.label,
        });
    }
    let currency = currency.ok_or(FinanceViolation::TooFewLines)?;
    if debits != credits {
        return Err(FinanceViolation::Unbalanced {
            currency: currency.code(),
            debit: super::money::format_minor(debits, u32::from(currency.exponent())),
            credit: super::money::format_minor(credits, u32::from(currency.exponent())),
        });
    }
    if currency == base {
        return Ok(BalancedEntry {
            currency,
            rate: None,
            lines: posted,
        });
    }
    let conversion = conversion.ok_or(FinanceViolation::NoExchangeRate {
        currency: currency.code(),
        date: NaiveDate::MIN,
    })?;
    for line in &mut posted {
        line.base_minor = conversion
            .rate
            .convert(line.amount, conversion.base)?
            .minor();
    }
    let residual: i64 = posted.iter().map(PostedLine::signed_base).sum();
    if residual != 0 {
        let allowance = posted.len() as i64;
        if residual.abs() > allowance {
            return Err(FinanceViolation::RoundingResidualTooLarge {
                residual,
                allowance,
            });
        }
        // A debit residual is cancelled by a credit on the rounding account and vice versa;
        // the line has no transaction-currency amount (zero), only a base amount.
        let side = if residual > 0 {
            Side::Credit
        } else {
            Side::Debit
        };
        posted.push(PostedLine {
            account_id: conversion.rounding_account_id.clone(),
            side,
            amount: Money::zero(currency),
            base_minor: residual.abs(),
            party: None,
            dimensions: Dimensions::default(),
            label: Some("exchange rounding".into()),
        });
    }
    Ok(BalancedEntry {
        currency,
        rate: Some(conversion.rate),
        lines: posted,
    })
}

/// Checks each line's account against the tenant's accounts: unknown ones (another tenant's
/// included) are ACCOUNT_NOT_FOUND, and control accounts are refused unless the document
/// posting is their subledger's (`allow_control`).
pub fn check_accounts(
    lines: &[PostedLine],
    accounts: &BTreeMap<String, AccountFacts>,
    allow_control: bool,
) -> Result<(), FinanceViolation> {
    for line in lines {
        let account = accounts
            .get(&line.account_id)
            .ok_or_else(|| FinanceViolation::AccountNotFound(line.account_id.clone()))?;
        if account.role.is_control() && !allow_control {
            return Err(FinanceViolation::ControlAccountReserved(
                account.code.clone(),
            ));
        }
    }
    Ok(())
}

/// The lines of an entry's reversal: every side swapped, the same amounts and base amounts
/// (never re-converted: a reversal cancels exactly).
pub fn reversal_lines(lines: &[PostedLine]) -> Vec<PostedLine> {
    lines
        .iter()
        .map(|line| PostedLine {
            side: line.side.opposite(),
            ..line.clone()
        })
        .collect()
}

/// The effect of lines on account balances per month (the first of the month), base units:
/// what the period balance snapshots add (invariant F10: snapshots = Σ lines).
pub fn balance_deltas(
    date: NaiveDate,
    lines: &[PostedLine],
) -> BTreeMap<(String, NaiveDate), (i64, i64)> {
    let month = month_start(date);
    let mut deltas: BTreeMap<(String, NaiveDate), (i64, i64)> = BTreeMap::new();
    for line in lines {
        let entry = deltas.entry((line.account_id.clone(), month)).or_default();
        entry.0 += line.base_debit();
        entry.1 += line.base_credit();
    }
    deltas
}

/// The first day of `date`'s month.
pub fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// An entry's number as people read it: `SAL/2026/00042`.
pub fn entry_reference(journal_code: &str, fiscal_year: &str, number: i64) -> String {
    format!("{journal_code}/{fiscal_year}/{number:05}")
}

/// The kinds of journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalKind {
    Sales,
    Purchase,
    Bank,
    Cash,
    General,
}

impl JournalKind {
    pub const ALL: [JournalKind; 5] = [
        JournalKind::Sales,
        JournalKind::Purchase,
        JournalKind::Bank,
        JournalKind::Cash,
        JournalKind::General,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JournalKind::Sales => "sales",
            JournalKind::Purchase => "purchase",
            JournalKind::Bank => "bank",
            JournalKind::Cash => "cash",
            JournalKind::General => "general",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn money(text: &str, code: &str) -> Money {
        Money::parse(text, Currency::parse(code).unwrap()).unwrap()
    }

    fn line(account: &str, debit: Option<&str>, credit: Option<&str>) -> ProposedLine {
        ProposedLine {
            account_id: account.into(),
            debit: debit.map(|d| money(d, "EUR")),
            credit: credit.map(|c| money(c, "EUR")),
            party: None,
            dimensions: Dimensions::default(),
            label: None,
        }
    }

    #[test]
    fn a_balanced_entry_posts_with_base_equal_to_amount() {
        let entry = balance_entry(
            vec![
                line("cash", Some("100.00"), None),
                line("sales", None, Some("80.00")),
                line("tax", None, Some("20.00")),
            ],
            eur(),
            None,
        )
        .unwrap();
        assert_eq!(entry.total_base_debit(), 10_000);
        assert_eq!(
            entry.lines.iter().map(PostedLine::signed_base).sum::<i64>(),
            0
        );
    }

    #[test]
    fn unbalanced_one_line_and_two_sided_lines_are_refused() {
        assert!(matches!(
            balance_entry(
                vec![line("a", Some("1.00"), None), line("b", None, Some("0.99"))],
                eur(),
                None
            ),
            Err(FinanceViolation::Unbalanced { .. })
        ));
        assert_eq!(
            balance_entry(vec![line("a", Some("1.00"), None)], eur(), None),
            Err(FinanceViolation::TooFewLines)
        );
        assert_eq!(
            balance_entry(
                vec![
                    line("a", Some("1.00"), Some("1.00")),
                    line("b", None, Some("1.00"))
                ],
                eur(),
                None
            ),
            Err(FinanceViolation::DebitXorCredit { line: 1 })
        );
        assert_eq!(
            balance_entry(
                vec![line("a", Some("1.00"), None), line("b", Some("0"), None)],
                eur(),
                None
            ),
            Err(FinanceViolation::DebitXorCredit { line: 2 })
        );
        assert_eq!(
            balance_entry(
                vec![
                    line("a", Some("-1.00"), None),
                    line("b", None, Some("-1.00"))
                ],
                eur(),
                None
            ),
            Err(FinanceViolation::DebitXorCredit { line: 1 })
        );
    }

    #[test]
    fn mixed_currencies_in_one_entry_are_refused() {
        let mut usd = line("b", None, None);
        usd.credit = Some(money("1.00", "USD"));
        assert!(matches!(
            balance_entry(vec![line("a", Some("1.00"), None), usd], eur(), None),
            Err(FinanceViolation::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn foreign_entries_get_base_amounts_and_a_rounding_line_within_the_allowance() {
        let usd = Currency::parse("USD").unwrap();
        let lines = vec![
            ProposedLine::new("bank", Side::Debit, money("0.03", "USD")),
            ProposedLine::new("sales", Side::Credit, money("0.01", "USD")),
            ProposedLine::new("sales", Side::Credit, money("0.01", "USD")),
            ProposedLine::new("sales", Side::Credit, money("0.01", "USD")),
        ];
        let conversion = Conversion {
            rate: ExchangeRate::parse(usd, "0.5").unwrap(),
            base: eur(),
            rounding_account_id: "rounding".into(),
        };
        let entry = balance_entry(lines, eur(), Some(&conversion)).unwrap();
        // 0.03 USD -> 0.015 EUR -> 0.02; each 0.01 -> 0.005 -> 0.01: credits 0.03, debit 0.02.
        let rounding = entry.lines.last().unwrap();
        assert_eq!(rounding.account_id, "rounding");
        assert_eq!((rounding.side, rounding.base_minor), (Side::Debit, 1));
        assert_eq!(
            entry.lines.iter().map(PostedLine::signed_base).sum::<i64>(),
            0
        );
    }

    #[test]
    fn control_accounts_and_unknown_accounts_are_refused_for_manual_entries() {
        let entry = balance_entry(
            vec![
                line("ar", Some("1.00"), None),
                line("sales", None, Some("1.00")),
            ],
            eur(),
            None,
        )
        .unwrap();
        let mut accounts = BTreeMap::new();
        accounts.insert(
            "ar".to_owned(),
            AccountFacts {
                id: "ar".into(),
                code: "1200".into(),
                kind: AccountKind::Asset,
                role: AccountRole::Receivable,
            },
        );
        assert_eq!(
            check_accounts(&entry.lines, &accounts, true),
            Err(FinanceViolation::AccountNotFound("sales".into()))
        );
        accounts.insert(
            "sales".to_owned(),
            AccountFacts {
                id: "sales".into(),
                code: "4000".into(),
                kind: AccountKind::Income,
                role: AccountRole::General,
            },
        );
        assert_eq!(
            check_accounts(&entry.lines, &accounts, false),
            Err(FinanceViolation::ControlAccountReserved("1200".into()))
        );
        assert!(check_accounts(&entry.lines, &accounts, true).is_ok());
    }

    #[test]
    fn a_reversal_cancels_exactly() {
        let entry = balance_entry(
            vec![
                line("a", Some("10.00"), None),
                line("b", None, Some("10.00")),
            ],
            eur(),
            None,
        )
        .unwrap();
        let reversal = reversal_lines(&entry.lines);
        let date = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let mut net: BTreeMap<String, i64> = BTreeMap::new();
        for line in entry.lines.iter().chain(&reversal) {
            *net.entry(line.account_id.clone()).or_default() += line.signed_base();
        }
        assert!(net.values().all(|v| *v == 0));
        let deltas = balance_deltas(date, &entry.lines);
        assert_eq!(
            deltas[&("a".to_owned(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())],
            (1000, 0)
        );
    }

    #[test]
    fn references_are_padded() {
        assert_eq!(entry_reference("SAL", "2026", 42), "SAL/2026/00042");
    }
}
