//! The ledger's GraphQL surface: settings, chart of accounts, journals, fiscal years and
//! periods, exchange rates, taxes, posting and reversing entries, and the reports (trial
//! balance, profit and loss, balance sheet, general ledger, hash-chain verification).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::loaders::{AccountLoader, EntryLinesLoader, EntryLoader, JournalLoader};
use super::scalars::{
    currency_code, decimal, money, stored_money, Date, DateTime, Decimal, KitCurrency, Money,
};
use super::{actor, finance, load_one};
use crate::app::ledger::{EntryLineRequest, EntryRequest, PartyRequest, ReverseRequest};
use crate::app::reports;
use crate::app::setup::{
    AccountRequest, FiscalYearRequest, JournalRequest, SetUpRequest, TaxRequest,
};
use crate::domain::ledger::{
    AccountKind as DomainKind, AccountRole as DomainRole, JournalKind as DomainJournalKind,
};
use crate::domain::money::Currency;
use crate::domain::tax::TaxRounding as DomainRounding;
use crate::store::entities::{
    account, entry, entry_line, exchange_rate, fiscal_year, journal, settings, tax,
};
use crate::store::ledger::LedgerFilter;

/// The five classes of account.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccountKind {
    /// Grows with debits: cash, receivables, equipment.
    Asset,
    /// Grows with credits: payables, taxes owed, loans.
    Liability,
    /// Grows with credits: capital and retained earnings.
    Equity,
    /// Grows with credits: sales and other revenue.
    Income,
    /// Grows with debits: costs.
    Expense,
}

impl From<AccountKind> for DomainKind {
    fn from(kind: AccountKind) -> Self {
        match kind {
            AccountKind::Asset => DomainKind::Asset,
            AccountKind::Liability => DomainKind::Liability,
            AccountKind::Equity => DomainKind::Equity,
            AccountKind::Income => DomainKind::Income,
            AccountKind::Expense => DomainKind::Expense,
        }
    }
}

impl AccountKind {
    fn stored(text: &str) -> Self {
        match DomainKind::from_stored(text) {
            Some(DomainKind::Asset) | None => AccountKind::Asset,
            Some(DomainKind::Liability) => AccountKind::Liability,
            Some(DomainKind::Equity) => AccountKind::Equity,
            Some(DomainKind::Income) => AccountKind::Income,
            Some(DomainKind::Expense) => AccountKind::Expense,
        }
    }
}

/// What an account is for beyond its class.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccountRole {
    /// An ordinary account: manual entries may use it.
    General,
    /// The receivables control account: moved only by invoices, credit notes and customer payments.
    Receivable,
    /// The payables control account: moved only by vendor bills and their payments.
    Payable,
    /// A bank or cash account (cash position, cash-flow statement).
    Bank,
}

impl From<AccountRole> for DomainRole {
    fn from(role: AccountRole) -> Self {
        match role {
            AccountRole::General => DomainRole::General,
            AccountRole::Receivable => DomainRole::Receivable,
            AccountRole::Payable => DomainRole::Payable,
            AccountRole::Bank => DomainRole::Bank,
        }
    }
}

impl AccountRole {
    fn stored(text: &str) -> Self {
        match DomainRole::from_stored(text) {
            Some(DomainRole::General) | None => AccountRole::General,
            Some(DomainRole::Receivable) => AccountRole::Receivable,
            Some(DomainRole::Payable) => AccountRole::Payable,
            Some(DomainRole::Bank) => AccountRole::Bank,
        }
    }
}

/// The kinds of journal.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JournalKind {
    /// Customer invoices and credit notes.
    Sales,
    /// Vendor bills.
    Purchase,
    /// Bank movements: payments received and made.
    Bank,
    /// Cash movements.
    Cash,
    /// Everything else: manual entries, reversals, expenses.
    General,
}

impl From<JournalKind> for DomainJournalKind {
    fn from(kind: JournalKind) -> Self {
        match kind {
            JournalKind::Sales => DomainJournalKind::Sales,
            JournalKind::Purchase => DomainJournalKind::Purchase,
            JournalKind::Bank => DomainJournalKind::Bank,
            JournalKind::Cash => DomainJournalKind::Cash,
            JournalKind::General => DomainJournalKind::General,
        }
    }
}

impl JournalKind {
    fn stored(text: &str) -> Self {
        match DomainJournalKind::from_stored(text) {
            Some(DomainJournalKind::Sales) => JournalKind::Sales,
            Some(DomainJournalKind::Purchase) => JournalKind::Purchase,
            Some(DomainJournalKind::Bank) => JournalKind::Bank,
            Some(DomainJournalKind::Cash) => JournalKind::Cash,
            Some(DomainJournalKind::General) | None => JournalKind::General,
        }
    }
}

/// When taxes are rounded: the company's policy.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TaxRounding {
    /// Each line's tax is rounded, then summed (348.35 x 16, -4 %, 22 % tax: 6527.81).
    PerLine,
    /// Each tax's exact total over the document is rounded once (the same case: 6527.80).
    Global,
}

impl From<TaxRounding> for DomainRounding {
    fn from(rounding: TaxRounding) -> Self {
        match rounding {
            TaxRounding::PerLine => DomainRounding::PerLine,
            TaxRounding::Global => DomainRounding::Global,
        }
    }
}

/// Who a ledger line is about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PartyKind {
    /// A customer (receivables).
    Customer,
    /// A vendor (payables).
    Vendor,
    /// An employee (expense reimbursements).
    Employee,
}

impl PartyKind {
    fn as_str(self) -> &'static str {
        match self {
            PartyKind::Customer => "customer",
            PartyKind::Vendor => "vendor",
            PartyKind::Employee => "employee",
        }
    }

    fn stored(text: &str) -> Option<Self> {
        match text {
            "customer" => Some(PartyKind::Customer),
            "vendor" => Some(PartyKind::Vendor),
            "employee" => Some(PartyKind::Employee),
            _ => None,
        }
    }
}

/// Debit or credit.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Side {
    /// The left side: increases assets and expenses.
    Debit,
    /// The right side: increases liabilities, equity and income.
    Credit,
}

/// What posted a journal entry.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum EntrySource {
    /// A manual journal entry.
    Manual,
    /// The reversal of another entry.
    Reversal,
    /// A customer invoice.
    Invoice,
    /// A customer credit note.
    CreditNote,
    /// A vendor bill.
    Bill,
    /// A payment received or made.
    Payment,
    /// An approved expense claim.
    Expense,
    /// The reimbursement of an expense claim.
    ExpensePayment,
    /// A foreign-currency revaluation's unrealised differences (`sourceId`: the revaluation;
    /// its reversal is a `REVERSAL`).
    Revaluation,
    /// A depreciation line of an operations asset (`sourceId`: `<asset>:<period index>`).
    AssetDepreciation,
    /// The disposal of an operations asset (`sourceId`: the asset).
    AssetDisposal,
    /// A payroll run (its one summarised entry).
    Payroll,
    /// The payment of a payroll run's net pay.
    PayrollPayment,
    /// A loan or salary advance paid out to an employee (`sourceId`: the loan).
    PayrollLoan,
}

impl EntrySource {
    fn stored(text: &str) -> Self {
        match text {
            "reversal" => EntrySource::Reversal,
            "invoice" => EntrySource::Invoice,
            "credit_note" => EntrySource::CreditNote,
            "bill" => EntrySource::Bill,
            "payment" => EntrySource::Payment,
            "expense" => EntrySource::Expense,
            "expense_payment" => EntrySource::ExpensePayment,
            crate::app::revaluation::SOURCE => EntrySource::Revaluation,
            crate::app::assets::DEPRECIATION_SOURCE => EntrySource::AssetDepreciation,
            crate::app::assets::DISPOSAL_SOURCE => EntrySource::AssetDisposal,
            "payroll" => EntrySource::Payroll,
            "payroll_payment" => EntrySource::PayrollPayment,
            crate::app::payroll_loans::LOAN_SOURCE => EntrySource::PayrollLoan,
            _ => EntrySource::Manual,
        }
    }
}

/// A tenant's finance configuration.
pub struct FinanceSettings(pub settings::Model);

async fn account_of(ctx: &Context<'_>, id: &str) -> Result<Account> {
    load_one::<AccountLoader>(ctx, id)
        .await?
        .map(Account)
        .ok_or_else(|| ApiError::internal(format!("account {id} missing")).into())
}

async fn journal_of(ctx: &Context<'_>, id: &str) -> Result<Journal> {
    load_one::<JournalLoader>(ctx, id)
        .await?
        .map(Journal)
        .ok_or_else(|| ApiError::internal(format!("journal {id} missing")).into())
}

/// A tenant's finance configuration: base currency, tax rounding, lock date, and the accounts
/// and journals documents post to.
#[Object(requires_scopes = "finance:read")]
impl FinanceSettings {
    /// The currency every ledger amount is reported in (ISO 4217).
    async fn base_currency(&self) -> KitCurrency {
        currency_code(&self.0.base_currency)
    }

    /// How document taxes are rounded.
    async fn tax_rounding(&self) -> TaxRounding {
        match DomainRounding::from_stored(&self.0.tax_rounding) {
            Some(DomainRounding::PerLine) => TaxRounding::PerLine,
            _ => TaxRounding::Global,
        }
    }

    /// Nothing dated on or before this day posts (None: no period is locked).
    async fn lock_date(&self) -> Option<Date> {
        self.0.lock_date.map(Date)
    }

    /// The receivables control account (customer invoices and payments).
    async fn receivable_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.receivable_account_id).await
    }

    /// The payables control account (vendor bills and their payments).
    async fn payable_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.payable_account_id).await
    }

    /// Where approved expense claims are owed to employees until reimbursed.
    async fn employee_payable_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.employee_payable_account_id).await
    }

    /// Where rounding residuals go (taxes, exchange rates).
    async fn rounding_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.rounding_account_id).await
    }

    /// The bank account payments use unless told otherwise.
    async fn default_bank_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.default_bank_account_id).await
    }

    /// The income account invoice lines use unless told otherwise.
    async fn default_income_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.default_income_account_id).await
    }

    /// The expense account bill lines use unless told otherwise.
    async fn default_expense_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.default_expense_account_id).await
    }

    /// The journal of customer invoices and credit notes.
    async fn sales_journal(&self, ctx: &Context<'_>) -> Result<Journal> {
        journal_of(ctx, &self.0.sales_journal_id).await
    }

    /// The journal of vendor bills.
    async fn purchase_journal(&self, ctx: &Context<'_>) -> Result<Journal> {
        journal_of(ctx, &self.0.purchase_journal_id).await
    }

    /// The journal of payments.
    async fn bank_journal(&self, ctx: &Context<'_>) -> Result<Journal> {
        journal_of(ctx, &self.0.bank_journal_id).await
    }

    /// The journal of manual entries and expenses.
    async fn general_journal(&self, ctx: &Context<'_>) -> Result<Journal> {
        journal_of(ctx, &self.0.general_journal_id).await
    }
}

/// An account of the chart of accounts.
pub struct Account(pub account::Model);

/// An account of the chart of accounts.
#[Object(requires_scopes = "finance:read")]
impl Account {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The account's code, unique in the tenant (e.g. `4000`).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The account's name (1 to 500 characters), e.g. `Sales`.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Asset, liability, equity, income or expense: where the account reports.
    async fn kind(&self) -> AccountKind {
        AccountKind::stored(&self.0.kind)
    }

    /// What the ledger uses the account for (a control, bank, tax or rounding account), or none.
    async fn role(&self) -> AccountRole {
        AccountRole::stored(&self.0.role)
    }
}

/// A journal: a numbering series of entries (per fiscal year), optionally hash-chained.
pub struct Journal(pub journal::Model);

/// A journal: a numbering series of entries (gapless per fiscal year), optionally hash-chained.
#[Object(requires_scopes = "finance:read")]
impl Journal {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The journal's code, the first part of its entries' references (e.g. `SAL`).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The journal's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Sales, purchase, bank, cash or general.
    async fn kind(&self) -> JournalKind {
        JournalKind::stored(&self.0.kind)
    }

    /// Whether each posted entry is chained to the previous one by SHA-256 (`verifyHashChain`).
    async fn hash_chain(&self) -> bool {
        self.0.hash_chain
    }
}

/// A fiscal year and its monthly periods.
pub struct FiscalYear {
    pub year: fiscal_year::Model,
    pub lock_date: Option<chrono::NaiveDate>,
}

/// A fiscal year: its entries are numbered in their own series.
#[Object(requires_scopes = "finance:read")]
impl FiscalYear {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.year.id.clone())
    }

    /// The year's name, part of every entry number of the year (e.g. `2026`).
    async fn name(&self) -> &str {
        &self.year.name
    }

    /// The first day of the year.
    async fn starts_on(&self) -> Date {
        Date(self.year.starts_on)
    }

    /// The last day of the year.
    async fn ends_on(&self) -> Date {
        Date(self.year.ends_on)
    }

    /// The year's months; a period is locked when it ends on or before the lock date.
    async fn periods(&self) -> Vec<Period> {
        let domain = crate::domain::period::FiscalYear {
            id: self.year.id.clone(),
            name: self.year.name.clone(),
            starts_on: self.year.starts_on,
            ends_on: self.year.ends_on,
        };
        domain
            .periods()
            .into_iter()
            .map(|(starts_on, ends_on)| Period {
                starts_on: Date(starts_on),
                ends_on: Date(ends_on),
                locked: self.lock_date.is_some_and(|lock| ends_on <= lock),
            })
            .collect()
    }
}

/// A month of a fiscal year.
#[derive(SimpleObject)]
pub struct Period {
    /// The first day.
    pub starts_on: Date,
    /// The last day.
    pub ends_on: Date,
    /// Whether the whole period is on or before the lock date (closed to postings).
    pub locked: bool,
}

/// A posted journal entry: immutable; corrected only by a reversal.
pub struct JournalEntry(pub entry::Model);

/// A posted journal entry: immutable (the database refuses any change); corrected only by a
/// reversal that links it.
#[Object(requires_scopes = "finance:read")]
impl JournalEntry {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The entry's number as people read it: journal code, fiscal year, number (`GEN/2026/00042`).
    async fn reference(&self) -> &str {
        &self.0.reference
    }

    /// The number in its journal's series for the fiscal year: gapless, from 1.
    async fn number(&self) -> i64 {
        self.0.number
    }

    /// The journal the entry was posted in.
    async fn journal(&self, ctx: &Context<'_>) -> Result<Journal> {
        journal_of(ctx, &self.0.journal_id).await
    }

    /// The accounting date.
    async fn date(&self) -> Date {
        Date(self.0.entry_date)
    }

    /// The entry's note.
    async fn memo(&self) -> Option<&str> {
        self.0.memo.as_deref()
    }

    /// The transaction currency of the lines' `amount`.
    async fn currency(&self) -> KitCurrency {
        currency_code(&self.0.currency)
    }

    /// The rate (base units per unit of `currency`) the base amounts were computed with; None
    /// in the base currency.
    async fn exchange_rate(&self) -> Option<Decimal> {
        let currency = Currency::parse(&self.0.currency).ok()?;
        self.0.rate_nano.map(|nano| {
            decimal(crate::domain::fx::ExchangeRate::from_nano(currency, nano).to_decimal_string())
        })
    }

    /// Total debits (= total credits) in the base currency.
    async fn total(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(self.0.total_base, &base_currency(ctx).await?))
    }

    /// The lines, in order.
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<JournalLine>> {
        Ok(load_one::<EntryLinesLoader>(ctx, &self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(JournalLine)
            .collect())
    }

    /// The entry this one reverses.
    async fn reverses(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        match &self.0.reverses_id {
            Some(id) => Ok(load_one::<EntryLoader>(ctx, id).await?.map(JournalEntry)),
            None => Ok(None),
        }
    }

    /// The entry that reverses this one, if any.
    async fn reversed_by(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .reversal_of(&tenant, &self.0.id)
            .await?
            .map(JournalEntry))
    }

    /// What posted it.
    async fn source(&self) -> EntrySource {
        EntrySource::stored(&self.0.source_kind)
    }

    /// The id of the document that posted it (invoice, payment, claim...), if any.
    async fn source_id(&self) -> Option<ID> {
        self.0.source_id.clone().map(ID)
    }

    /// The user who posted it.
    async fn posted_by(&self) -> ID {
        ID(self.0.posted_by.clone())
    }

    /// When the entry was posted (posted entries never change).
    async fn posted_at(&self) -> DateTime {
        self.0.posted_at.into()
    }

    /// Its SHA-256 link in the journal's hash chain (hex), when the journal keeps one.
    async fn hash(&self) -> Option<&str> {
        self.0.hash.as_deref()
    }

    /// The previous link of the chain (empty for the first entry).
    async fn previous_hash(&self) -> Option<&str> {
        self.0.prev_hash.as_deref()
    }
}

/// The base currency of the caller's tenant.
pub(super) async fn base_currency(ctx: &Context<'_>) -> Result<String> {
    load_one::<super::loaders::SettingsLoader>(ctx, "settings")
        .await?
        .map(|settings| settings.base_currency)
        .ok_or_else(|| ApiError::from(crate::domain::FinanceViolation::NotSetUp).into())
}

/// A party on a ledger line.
#[derive(SimpleObject)]
pub struct LineParty {
    /// What kind of party.
    pub kind: PartyKind,
    /// The customer's or vendor's id (a `Partner`), or the employee's id.
    pub id: ID,
}

/// One line of a posted entry.
pub struct JournalLine(pub entry_line::Model);

/// One line of a posted entry: a debit or a credit on one account.
#[Object(requires_scopes = "finance:read")]
impl JournalLine {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Its position in the entry, from 1.
    async fn line_no(&self) -> i32 {
        self.0.line_no
    }

    /// The entry it belongs to.
    async fn entry(&self, ctx: &Context<'_>) -> Result<JournalEntry> {
        load_one::<EntryLoader>(ctx, &self.0.entry_id)
            .await?
            .map(JournalEntry)
            .ok_or_else(|| ApiError::internal("a line's entry is missing").into())
    }

    /// The accounting date (the entry's).
    async fn date(&self) -> Date {
        Date(self.0.entry_date)
    }

    /// The account the line moves.
    async fn account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.account_id).await
    }

    /// Debit or credit.
    async fn side(&self) -> Side {
        if self.0.debit > 0 {
            Side::Debit
        } else {
            Side::Credit
        }
    }

    /// The debit in the base currency (zero on a credit line).
    async fn debit(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(self.0.debit, &base_currency(ctx).await?))
    }

    /// The credit in the base currency (zero on a debit line).
    async fn credit(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(self.0.credit, &base_currency(ctx).await?))
    }

    /// The amount in the entry's transaction currency (positive; zero on an exchange rounding
    /// line, which exists only in the base currency).
    async fn amount(&self) -> Money {
        stored_money(self.0.amount, &self.0.currency)
    }

    /// The customer, vendor or employee the line concerns, if any.
    async fn party(&self) -> Option<LineParty> {
        let kind = PartyKind::stored(self.0.party_kind.as_deref()?)?;
        Some(LineParty {
            kind,
            id: ID(self.0.party_id.clone()?),
        })
    }

    /// The project dimension (a PMO project id).
    async fn project_id(&self) -> Option<ID> {
        self.0.project_id.clone().map(ID)
    }

    /// The department dimension (an employee-subgraph department id).
    async fn department_id(&self) -> Option<ID> {
        self.0.department_id.clone().map(ID)
    }

    /// The client dimension (a CRM client id).
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.clone().map(ID)
    }

    /// The line's label.
    async fn label(&self) -> Option<&str> {
        self.0.label.as_deref()
    }
}

/// An exchange rate in force from a day.
pub struct ExchangeRate(pub exchange_rate::Model);

/// The rate of a currency in the base currency, in force from `effectiveOn` until the next one.
#[Object(requires_scopes = "finance:read")]
impl ExchangeRate {
    /// The foreign currency (ISO 4217).
    async fn currency(&self) -> KitCurrency {
        currency_code(&self.0.currency)
    }

    /// The day from which the rate applies (until the next rate of the currency).
    async fn effective_on(&self) -> Date {
        Date(self.0.effective_on)
    }

    /// Base-currency units per unit of `currency`, a decimal string with up to 9 decimals.
    async fn rate(&self) -> Decimal {
        match Currency::parse(&self.0.currency) {
            Ok(currency) => decimal(
                crate::domain::fx::ExchangeRate::from_nano(currency, self.0.rate_nano)
                    .to_decimal_string(),
            ),
            Err(_) => decimal(String::new()),
        }
    }
}

/// A tax.
pub struct Tax(pub tax::Model);

/// A tax applied to document lines.
#[Object(requires_scopes = "finance:read")]
impl Tax {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Unique in the tenant (e.g. `VAT22`).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The tax's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The rate in percent, a decimal string (e.g. `"22"`, `"8.875"`).
    async fn rate(&self) -> Decimal {
        decimal(crate::domain::money::Percent::from_ppm(self.0.rate_ppm).to_decimal_string())
    }

    /// Whether prices already include the tax.
    async fn included(&self) -> bool {
        self.0.included
    }

    /// Where the tax is posted.
    async fn account(&self, ctx: &Context<'_>) -> Result<Account> {
        account_of(ctx, &self.0.account_id).await
    }
}

/// One account's totals in a trial balance.
#[derive(SimpleObject)]
pub struct TrialBalanceRow {
    /// The account.
    pub account: Account,
    /// Debits dated in the range (base currency).
    pub debit: Money,
    /// Credits dated in the range (base currency).
    pub credit: Money,
    /// Debit minus credit.
    pub balance: Money,
}

/// Every account's debits and credits over a range.
#[derive(SimpleObject)]
pub struct TrialBalance {
    /// The first day (None: from the beginning).
    pub from: Option<Date>,
    /// The last day.
    pub to: Date,
    /// Accounts with any movement, by code.
    pub rows: Vec<TrialBalanceRow>,
    /// The sum of the debit balances.
    pub total_debit: Money,
    /// The sum of the credit balances: equal to the debits when the books balance.
    pub total_credit: Money,
    /// Total debits equal total credits (always true: every posted entry balances).
    pub balanced: bool,
}

/// One account's amount in a statement.
#[derive(SimpleObject)]
pub struct AccountAmount {
    /// The account.
    pub account: Account,
    /// In the statement's natural sign (income and liabilities as positive credits).
    pub amount: Money,
}

/// Income and expenses over a range.
#[derive(SimpleObject)]
pub struct ProfitAndLoss {
    /// The first day of the range.
    pub from: Date,
    /// The last day of the range.
    pub to: Date,
    /// Each income account with its movement in the range (credit positive).
    pub income: Vec<AccountAmount>,
    /// Each expense account with its movement in the range (debit positive).
    pub expenses: Vec<AccountAmount>,
    /// The sum of the income.
    pub total_income: Money,
    /// The sum of the expenses.
    pub total_expense: Money,
    /// Income minus expenses.
    pub net_profit: Money,
}

/// Assets, liabilities and equity at the end of a day.
#[derive(SimpleObject)]
pub struct BalanceSheet {
    /// The day the balances are taken at (inclusive).
    pub as_of: Date,
    /// Each asset account with its balance (debit positive).
    pub assets: Vec<AccountAmount>,
    /// Each liability account with its balance (credit positive).
    pub liabilities: Vec<AccountAmount>,
    /// Each equity account with its balance (credit positive).
    pub equity: Vec<AccountAmount>,
    /// Income minus expenses to date not yet closed into equity.
    pub unclosed_earnings: Money,
    /// The sum of the assets.
    pub total_assets: Money,
    /// The sum of the liabilities and the equity: equal to the assets when the books balance.
    pub total_liabilities_and_equity: Money,
    /// Assets equal liabilities plus equity (always true for a balanced ledger).
    pub balanced: bool,
}

/// What verifying a journal's hash chain found.
#[derive(SimpleObject)]
pub struct HashChainReport {
    /// The journal verified.
    pub journal: Journal,
    /// Whether the journal keeps a chain at all.
    pub enabled: bool,
    /// Entries whose links verified before the first broken one (all of them when valid).
    pub entries_checked: i64,
    /// No link is broken: no chained entry was changed, removed or re-ordered.
    pub valid: bool,
    /// The first entry whose link does not verify.
    pub first_broken_reference: Option<String>,
}

fn amounts(rows: Vec<(account::Model, i64)>, currency: Currency) -> Vec<AccountAmount> {
    rows.into_iter()
        .map(|(account, amount)| AccountAmount {
            account: Account(account),
            amount: money(amount, currency),
        })
        .collect()
}

#[derive(Default)]
pub struct LedgerQuery;

/// Relay arguments: `first`/`last` at most 100.
type Page<T> = Connection<String, T, EmptyFields, EmptyFields>;

#[Object]
impl LedgerQuery {
    /// The tenant's finance configuration (None until `setUpFinance`).
    #[graphql(requires_scopes = "finance:read")]
    async fn finance_settings(&self, ctx: &Context<'_>) -> Result<Option<FinanceSettings>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .settings_of(&tenant)
            .await?
            .map(FinanceSettings))
    }

    /// The chart of accounts in creation order, optionally of one kind; a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    #[allow(clippy::too_many_arguments)]
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only accounts of this kind.")] kind: Option<AccountKind>,
        #[graphql(desc = "Relay cursor: accounts after this one.")] after: Option<String>,
        #[graphql(desc = "Relay cursor: accounts before this one.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<Account>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let kind = kind.map(|k| DomainKind::from(k).as_str());
        let rows = finance(ctx)?.account_page(&tenant, kind, &page).await?;
        let rows = rows.into_iter().map(Account).collect();
        Ok(Some(connection_from_rows(&page, rows, |a| a.0.id.clone())))
    }

    /// One account.
    #[graphql(requires_scopes = "finance:read")]
    async fn account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
    ) -> Result<Option<Account>> {
        Ok(load_one::<AccountLoader>(ctx, &id).await?.map(Account))
    }

    /// The tenant's journals, by code.
    #[graphql(requires_scopes = "finance:read")]
    async fn journals(&self, ctx: &Context<'_>) -> Result<Option<Vec<Journal>>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?.journals_of(&tenant).await?;
        Ok(Some(rows.into_iter().map(Journal).collect()))
    }

    /// The fiscal years, oldest first, with their periods.
    #[graphql(requires_scopes = "finance:read")]
    async fn fiscal_years(&self, ctx: &Context<'_>) -> Result<Option<Vec<FiscalYear>>> {
        let tenant = ctx.tenant()?;
        let finance = finance(ctx)?;
        let lock_date = finance
            .settings_of(&tenant)
            .await?
            .and_then(|s| s.lock_date);
        let rows = finance.fiscal_years_of(&tenant).await?;
        Ok(Some(
            rows.into_iter()
                .map(|year| FiscalYear { year, lock_date })
                .collect(),
        ))
    }

    /// Exchange rates, newest first per currency (at most 1000).
    #[graphql(requires_scopes = "finance:read")]
    async fn exchange_rates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this currency (ISO 4217).")] currency: Option<KitCurrency>,
    ) -> Result<Option<Vec<ExchangeRate>>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?
            .exchange_rates_of(&tenant, currency.as_ref().map(KitCurrency::code))
            .await?;
        Ok(Some(rows.into_iter().map(ExchangeRate).collect()))
    }

    /// The tenant's taxes, by code.
    #[graphql(requires_scopes = "finance:read")]
    async fn taxes(&self, ctx: &Context<'_>) -> Result<Option<Vec<Tax>>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?.taxes_of(&tenant).await?;
        Ok(Some(rows.into_iter().map(Tax).collect()))
    }

    /// One journal entry.
    #[graphql(requires_scopes = "finance:read")]
    async fn journal_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry's id.")] id: ID,
    ) -> Result<Option<JournalEntry>> {
        Ok(load_one::<EntryLoader>(ctx, &id).await?.map(JournalEntry))
    }

    /// Posted entries in posting order, filtered; a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    #[allow(clippy::too_many_arguments)]
    async fn journal_entries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this journal's entries.")] journal_id: Option<ID>,
        #[graphql(desc = "Only entries dated on or after this day.")] from: Option<Date>,
        #[graphql(desc = "Only entries dated on or before this day.")] to: Option<Date>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "Relay cursor.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<JournalEntry>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = LedgerFilter {
            journal_id: journal_id.map(|id| id.0),
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            ..Default::default()
        };
        let rows = finance(ctx)?.entry_page(&tenant, &filter, &page).await?;
        let rows = rows.into_iter().map(JournalEntry).collect();
        Ok(Some(connection_from_rows(&page, rows, |e| e.0.id.clone())))
    }

    /// The general ledger: posted lines in posting order, filtered by account, journal,
    /// party, project and dates; a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    #[allow(clippy::too_many_arguments)]
    async fn general_ledger(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this account's lines.")] account_id: Option<ID>,
        #[graphql(desc = "Only this journal's lines.")] journal_id: Option<ID>,
        #[graphql(desc = "Only lines about this party (customer, vendor or employee id).")]
        party_id: Option<ID>,
        #[graphql(desc = "Only lines of this project dimension.")] project_id: Option<ID>,
        #[graphql(desc = "Only lines dated on or after this day.")] from: Option<Date>,
        #[graphql(desc = "Only lines dated on or before this day.")] to: Option<Date>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "Relay cursor.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<JournalLine>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let filter = LedgerFilter {
            account_id: account_id.map(|id| id.0),
            journal_id: journal_id.map(|id| id.0),
            party_id: party_id.map(|id| id.0),
            project_id: project_id.map(|id| id.0),
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
        };
        let rows = finance(ctx)?
            .ledger_line_page(&tenant, &filter, &page)
            .await?;
        let rows = rows.into_iter().map(JournalLine).collect();
        Ok(Some(connection_from_rows(&page, rows, |l| l.0.id.clone())))
    }

    /// The trial balance over `[from, to]` (from the beginning without `from`).
    #[graphql(requires_scopes = "finance:read")]
    async fn trial_balance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day (default: the beginning of the books).")] from: Option<
            Date,
        >,
        #[graphql(desc = "The last day.")] to: Date,
    ) -> Result<Option<TrialBalance>> {
        let tenant = ctx.tenant()?;
        let report = finance(ctx)?
            .trial_balance(&tenant, from.map(|d| d.0), to.0)
            .await?;
        let currency = report.currency;
        Ok(Some(TrialBalance {
            from: report.from.map(Date),
            to: Date(report.to),
            balanced: report.total_debit == report.total_credit,
            total_debit: money(report.total_debit, currency),
            total_credit: money(report.total_credit, currency),
            rows: report
                .rows
                .into_iter()
                .map(|row| TrialBalanceRow {
                    debit: money(row.debit, currency),
                    credit: money(row.credit, currency),
                    balance: money(row.balance(), currency),
                    account: Account(row.account),
                })
                .collect(),
        }))
    }

    /// Profit and loss over `[from, to]`.
    #[graphql(requires_scopes = "finance:read")]
    async fn profit_and_loss(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day.")] from: Date,
        #[graphql(desc = "The last day.")] to: Date,
    ) -> Result<Option<ProfitAndLoss>> {
        let tenant = ctx.tenant()?;
        let report = finance(ctx)?.profit_and_loss(&tenant, from.0, to.0).await?;
        let currency = report.currency;
        Ok(Some(ProfitAndLoss {
            from: Date(report.from),
            to: Date(report.to),
            net_profit: money(report.total_income - report.total_expense, currency),
            total_income: money(report.total_income, currency),
            total_expense: money(report.total_expense, currency),
            income: amounts(report.income, currency),
            expenses: amounts(report.expenses, currency),
        }))
    }

    /// The balance sheet at the end of `asOf`.
    #[graphql(requires_scopes = "finance:read")]
    async fn balance_sheet(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day.")] as_of: Date,
    ) -> Result<Option<BalanceSheet>> {
        let tenant = ctx.tenant()?;
        let sheet = finance(ctx)?.balance_sheet(&tenant, as_of.0).await?;
        let currency = sheet.currency;
        let (assets, other) = (sheet.total_assets(), sheet.total_liabilities_and_equity());
        Ok(Some(BalanceSheet {
            as_of: Date(sheet.as_of),
            unclosed_earnings: money(sheet.unclosed_earnings, currency),
            total_assets: money(assets, currency),
            total_liabilities_and_equity: money(other, currency),
            balanced: assets == other,
            assets: amounts(sheet.assets, currency),
            liabilities: amounts(sheet.liabilities, currency),
            equity: amounts(sheet.equity, currency),
        }))
    }

    /// Recomputes a journal's hash chain from its stored entries (SHA-256 over each entry's
    /// canonical text and the previous link) and reports the first entry that does not verify.
    #[graphql(requires_scopes = "finance:read")]
    async fn verify_hash_chain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journal.")] journal_id: ID,
    ) -> Result<Option<HashChainReport>> {
        let tenant = ctx.tenant()?;
        let report: reports::ChainReport = finance(ctx)?
            .verify_hash_chain(&tenant, &journal_id)
            .await?;
        let journal = journal_of(ctx, &report.journal_id).await?;
        Ok(Some(HashChainReport {
            journal,
            enabled: report.enabled,
            entries_checked: report.entries_checked as i64,
            valid: report.first_broken_reference.is_none(),
            first_broken_reference: report.first_broken_reference,
        }))
    }
}

/// The one-time set-up of a tenant's finance.
#[derive(InputObject)]
pub struct SetUpFinanceInput {
    /// The base currency (ISO 4217), in which every ledger amount is reported.
    pub base_currency: KitCurrency,
    /// How document taxes are rounded.
    pub tax_rounding: TaxRounding,
    /// The first fiscal year.
    pub fiscal_year: FiscalYearInput,
}

/// A fiscal year.
#[derive(InputObject)]
pub struct FiscalYearInput {
    /// A short name, part of entry numbers (1 to 32 letters, digits, `-`, `_`, `.`; e.g. `2026`).
    pub name: String,
    /// The first day.
    pub starts_on: Date,
    /// The last day (at most 18 months after the first; years never overlap).
    pub ends_on: Date,
}

/// What `setUpFinance` created.
#[derive(SimpleObject)]
pub struct SetUpFinancePayload {
    /// The configuration with its default chart of accounts and journals.
    pub settings: FinanceSettings,
}

/// A new account.
#[derive(InputObject)]
pub struct CreateAccountInput {
    /// Unique in the tenant (1 to 32 letters, digits, `-`, `_`, `.`).
    pub code: String,
    /// 1 to 500 characters.
    pub name: String,
    /// Asset, liability, equity, income or expense.
    pub kind: AccountKind,
    /// Default `GENERAL`. Receivable and bank accounts are assets, payable ones liabilities.
    pub role: Option<AccountRole>,
}

/// The account created.
#[derive(SimpleObject)]
pub struct CreateAccountPayload {
    /// The account created.
    pub account: Account,
}

/// A new journal.
#[derive(InputObject)]
pub struct CreateJournalInput {
    /// Unique in the tenant; the first part of its entries' references.
    pub code: String,
    /// The journal's name (1 to 500 characters), e.g. `Sales`.
    pub name: String,
    /// Sales, purchase, bank, cash or general.
    pub kind: JournalKind,
    /// Chain each entry to the previous one by SHA-256 (default true).
    pub hash_chain: Option<bool>,
}

/// The journal created.
#[derive(SimpleObject)]
pub struct CreateJournalPayload {
    /// The journal created.
    pub journal: Journal,
}

/// The fiscal year created.
#[derive(SimpleObject)]
pub struct CreateFiscalYearPayload {
    /// The fiscal year opened.
    pub fiscal_year: FiscalYear,
}

/// A new lock date.
#[derive(InputObject)]
pub struct SetLockDateInput {
    /// Nothing dated on or before this day posts any more; it only moves forward.
    pub lock_date: Date,
}

/// The settings with their new lock date.
#[derive(SimpleObject)]
pub struct SetLockDatePayload {
    /// The settings with the new lock date.
    pub settings: FinanceSettings,
}

/// A dated exchange rate.
#[derive(InputObject)]
pub struct SetExchangeRateInput {
    /// The foreign currency (ISO 4217, not the base currency).
    pub currency: KitCurrency,
    /// The first day it applies (a later rate takes over from its own day).
    pub effective_on: Date,
    /// Base-currency units per unit of `currency`: a positive decimal string, at most 9 decimals.
    pub rate: Decimal,
}

/// The rate recorded.
#[derive(SimpleObject)]
pub struct SetExchangeRatePayload {
    /// The rate recorded.
    pub exchange_rate: ExchangeRate,
}

/// A new tax.
#[derive(InputObject)]
pub struct CreateTaxInput {
    /// Unique in the tenant (e.g. `VAT22`).
    pub code: String,
    /// The tax's name (1 to 500 characters), e.g. `VAT 20 %`.
    pub name: String,
    /// The rate in percent, a decimal string with at most 4 decimals (e.g. `"22"`).
    pub rate: Decimal,
    /// Whether prices already include the tax.
    pub included: bool,
    /// Where the tax is posted (e.g. the output tax liability).
    pub account_id: ID,
}

/// The tax created.
#[derive(SimpleObject)]
pub struct CreateTaxPayload {
    /// The tax created.
    pub tax: Tax,
}

/// A party on a line.
#[derive(InputObject)]
pub struct LinePartyInput {
    /// What kind of party.
    pub kind: PartyKind,
    /// The customer's or vendor's partner id, or the employee's id.
    pub id: ID,
}

/// One line of a manual entry: exactly one of `debit` and `credit`.
#[derive(InputObject)]
pub struct JournalLineInput {
    /// An account of the tenant (not a receivable or payable control account).
    pub account_id: ID,
    /// A positive decimal string in the entry's currency (e.g. `"100.00"`).
    pub debit: Option<Decimal>,
    /// A positive decimal string in the entry's currency.
    pub credit: Option<Decimal>,
    /// The customer, vendor or employee the line concerns (receivable and payable lines need one).
    pub party: Option<LinePartyInput>,
    /// The project dimension (a PMO project id).
    pub project_id: Option<ID>,
    /// The department dimension.
    pub department_id: Option<ID>,
    /// The client dimension.
    pub client_id: Option<ID>,
    /// Up to 500 characters.
    pub label: Option<String>,
}

/// A manual journal entry.
#[derive(InputObject)]
pub struct PostJournalEntryInput {
    /// 1 to 200 characters chosen by the client: the same key and entry replay the first
    /// answer; the same key with another entry is refused (`IDEMPOTENCY_KEY_REUSED`).
    pub idempotency_key: String,
    /// The journal to post in (its series numbers the entry).
    pub journal_id: ID,
    /// The accounting date: after the lock date, inside a fiscal year.
    pub date: Date,
    /// A note on the entry (1 to 500 characters).
    pub memo: Option<String>,
    /// The transaction currency (ISO 4217); a foreign one is converted at the rate in force on
    /// `date`.
    pub currency: KitCurrency,
    /// At least two lines; debits equal credits.
    pub lines: Vec<JournalLineInput>,
}

/// The posted entry.
#[derive(SimpleObject)]
pub struct PostJournalEntryPayload {
    /// The posted entry.
    pub entry: JournalEntry,
    /// True when this answer replays an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// The reversal of a posted entry.
#[derive(InputObject)]
pub struct ReverseJournalEntryInput {
    /// See `PostJournalEntryInput.idempotencyKey`.
    pub idempotency_key: String,
    /// The posted entry to reverse.
    pub entry_id: ID,
    /// Default today: the reversal posts in the open period, whatever the original's date.
    pub date: Option<Date>,
    /// A note on the reversal (1 to 500 characters).
    pub memo: Option<String>,
}

/// The reversal and the entry it reverses.
#[derive(SimpleObject)]
pub struct ReverseJournalEntryPayload {
    /// The reversing entry (each line on the other side).
    pub reversal: JournalEntry,
    /// The entry reversed, now linked to its reversal.
    pub original: JournalEntry,
    /// True when this answer replays an earlier request with the same idempotency key.
    pub replayed: bool,
}

async fn entry_by_id(ctx: &Context<'_>, id: &str) -> Result<JournalEntry> {
    let tenant = ctx.tenant()?;
    finance(ctx)?
        .entry_of(&tenant, id)
        .await?
        .map(JournalEntry)
        .ok_or_else(|| ApiError::NotFound("journal entry".into()).into())
}

async fn settings_of(ctx: &Context<'_>) -> Result<FinanceSettings> {
    let tenant = ctx.tenant()?;
    let finance = finance(ctx)?;
    Ok(FinanceSettings(finance.settings(&tenant).await?))
}

#[derive(Default)]
pub struct LedgerMutation;

#[Object]
impl LedgerMutation {
    /// Sets up the tenant's finance once: base currency, tax rounding, a default chart of
    /// accounts (bank, receivables, payables, taxes, equity, sales, expenses, rounding),
    /// hash-chained journals (SAL, PUR, BNK, GEN) and the first fiscal year.
    #[graphql(requires_scopes = "finance:admin")]
    async fn set_up_finance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The base currency, the tax rounding policy and the first fiscal year.")]
        input: SetUpFinanceInput,
    ) -> Result<Option<SetUpFinancePayload>> {
        let actor = actor(ctx)?;
        let settings = finance(ctx)?
            .set_up(
                &actor,
                SetUpRequest {
                    base_currency: input.base_currency.code().to_owned(),
                    tax_rounding: input.tax_rounding.into(),
                    fiscal_year: FiscalYearRequest {
                        name: input.fiscal_year.name,
                        starts_on: input.fiscal_year.starts_on.0,
                        ends_on: input.fiscal_year.ends_on.0,
                    },
                },
            )
            .await?;
        Ok(Some(SetUpFinancePayload {
            settings: FinanceSettings(settings),
        }))
    }

    /// Adds an account to the chart.
    #[graphql(requires_scopes = "finance:admin")]
    async fn create_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's code, name, kind and role.")] input: CreateAccountInput,
    ) -> Result<Option<CreateAccountPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_account(
                &actor,
                AccountRequest {
                    code: input.code,
                    name: input.name,
                    kind: input.kind.into(),
                    role: input.role.unwrap_or(AccountRole::General).into(),
                },
            )
            .await?;
        let account = finance(ctx)?
            .account_of(&actor.tenant, &id)
            .await?
            .ok_or_else(|| ApiError::internal("the new account vanished"))?;
        Ok(Some(CreateAccountPayload {
            account: Account(account),
        }))
    }

    /// Adds a journal.
    #[graphql(requires_scopes = "finance:admin")]
    async fn create_journal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The journal's code, name and kind.")] input: CreateJournalInput,
    ) -> Result<Option<CreateJournalPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_journal(
                &actor,
                JournalRequest {
                    code: input.code,
                    name: input.name,
                    kind: input.kind.into(),
                    hash_chain: input.hash_chain.unwrap_or(true),
                },
            )
            .await?;
        let journal = finance(ctx)?
            .journal_of(&actor.tenant, &id)
            .await?
            .ok_or_else(|| ApiError::internal("the new journal vanished"))?;
        Ok(Some(CreateJournalPayload {
            journal: Journal(journal),
        }))
    }

    /// Opens a fiscal year (it overlaps no other).
    #[graphql(requires_scopes = "finance:admin")]
    async fn create_fiscal_year(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The year's name and first and last days.")] input: FiscalYearInput,
    ) -> Result<Option<CreateFiscalYearPayload>> {
        let actor = actor(ctx)?;
        let finance = finance(ctx)?;
        let id = finance
            .create_fiscal_year(
                &actor,
                FiscalYearRequest {
                    name: input.name,
                    starts_on: input.starts_on.0,
                    ends_on: input.ends_on.0,
                },
            )
            .await?;
        let lock_date = finance.settings(&actor.tenant).await?.lock_date;
        let year = finance
            .fiscal_years_of(&actor.tenant)
            .await?
            .into_iter()
            .find(|year| year.id == id)
            .ok_or_else(|| ApiError::internal("the new fiscal year vanished"))?;
        Ok(Some(CreateFiscalYearPayload {
            fiscal_year: FiscalYear { year, lock_date },
        }))
    }

    /// Moves the lock date forward: periods ending on or before it are closed to postings
    /// (manual entries, reversals, invoices, payments, expenses alike).
    #[graphql(requires_scopes = "finance:admin")]
    async fn set_lock_date(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new lock date.")] input: SetLockDateInput,
    ) -> Result<Option<SetLockDatePayload>> {
        let actor = actor(ctx)?;
        finance(ctx)?
            .set_lock_date(&actor, input.lock_date.0)
            .await?;
        Ok(Some(SetLockDatePayload {
            settings: settings_of(ctx).await?,
        }))
    }

    /// Records a dated exchange rate (replacing one of the same currency and day).
    #[graphql(requires_scopes = "finance:write")]
    async fn set_exchange_rate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The currency, the day and the rate.")] input: SetExchangeRateInput,
    ) -> Result<Option<SetExchangeRatePayload>> {
        let actor = actor(ctx)?;
        let finance = finance(ctx)?;
        finance
            .set_exchange_rate(
                &actor,
                input.currency.code(),
                input.effective_on.0,
                input.rate.as_str(),
            )
            .await?;
        let rate = finance
            .exchange_rate_on(&actor.tenant, input.currency.code(), input.effective_on.0)
            .await?
            .ok_or_else(|| ApiError::internal("the new rate vanished"))?;
        Ok(Some(SetExchangeRatePayload {
            exchange_rate: ExchangeRate(rate),
        }))
    }

    /// Adds a tax.
    #[graphql(requires_scopes = "finance:admin")]
    async fn create_tax(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The tax's code, name, rate and accounts.")] input: CreateTaxInput,
    ) -> Result<Option<CreateTaxPayload>> {
        let actor = actor(ctx)?;
        let finance = finance(ctx)?;
        let id = finance
            .create_tax(
                &actor,
                TaxRequest {
                    code: input.code,
                    name: input.name,
                    rate: input.rate.to_string(),
                    included: input.included,
                    account_id: input.account_id.0,
                },
            )
            .await?;
        let tax = finance
            .taxes_of(&actor.tenant)
            .await?
            .into_iter()
            .find(|tax| tax.id == id)
            .ok_or_else(|| ApiError::internal("the new tax vanished"))?;
        Ok(Some(CreateTaxPayload { tax: Tax(tax) }))
    }

    /// Posts a manual journal entry: the only way into the ledger besides documents. Refused:
    /// unbalanced (`UNBALANCED_ENTRY`), fewer than two lines, a line with both or neither side
    /// (`DEBIT_XOR_CREDIT`), a locked or uncovered date (`PERIOD_LOCKED`, `NO_FISCAL_YEAR`), an
    /// account not in the tenant (`ACCOUNT_NOT_FOUND`), a control account
    /// (`CONTROL_ACCOUNT_RESERVED`), an over-precise amount (`AMOUNT_TOO_PRECISE`). The number
    /// is assigned inside the posting transaction: gapless per journal and fiscal year.
    #[graphql(requires_scopes = "finance:write")]
    async fn post_journal_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry: journal, date, lines and idempotency key.")]
        input: PostJournalEntryInput,
    ) -> Result<Option<PostJournalEntryPayload>> {
        let actor = actor(ctx)?;
        let request = EntryRequest {
            journal_id: input.journal_id.0,
            date: input.date.0,
            memo: input.memo,
            currency: input.currency.code().to_owned(),
            lines: input
                .lines
                .into_iter()
                .map(|line| EntryLineRequest {
                    account_id: line.account_id.0,
                    debit: line.debit.map(|d| d.to_string()),
                    credit: line.credit.map(|d| d.to_string()),
                    party: line.party.map(|party| PartyRequest {
                        kind: party.kind.as_str().to_owned(),
                        id: party.id.0,
                    }),
                    project_id: line.project_id.map(|id| id.0),
                    department_id: line.department_id.map(|id| id.0),
                    client_id: line.client_id.map(|id| id.0),
                    label: line.label,
                })
                .collect(),
        };
        let outcome = finance(ctx)?
            .post_journal_entry(&actor, &input.idempotency_key, request)
            .await?;
        Ok(Some(PostJournalEntryPayload {
            entry: entry_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Reverses a posted entry: a new entry swapping every line, linked to the original, dated
    /// today unless told otherwise (never in a locked period). An entry is reversed once
    /// (`ALREADY_REVERSED`); a reversal is not reversed (`REVERSAL_OF_REVERSAL`); a document's
    /// entry is cancelled by a credit note instead (`CONTROL_ACCOUNT_RESERVED`).
    #[graphql(requires_scopes = "finance:write")]
    async fn reverse_journal_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry to reverse, the reversal's date and an idempotency key.")]
        input: ReverseJournalEntryInput,
    ) -> Result<Option<ReverseJournalEntryPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .reverse_journal_entry(
                &actor,
                &input.idempotency_key,
                ReverseRequest {
                    entry_id: input.entry_id.0,
                    date: input.date.map(|d| d.0),
                    memo: input.memo,
                },
            )
            .await?;
        let reversal = entry_by_id(ctx, &outcome.id).await?;
        let original_id = reversal
            .0
            .reverses_id
            .clone()
            .ok_or_else(|| ApiError::internal("a reversal without its original"))?;
        Ok(Some(ReverseJournalEntryPayload {
            original: entry_by_id(ctx, &original_id).await?,
            reversal,
            replayed: outcome.replayed,
        }))
    }
}
