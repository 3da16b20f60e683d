//! Configuring a tenant's ledger: the one-time set-up (base currency, tax rounding policy, a
//! default chart of accounts and journals, the first fiscal year), then accounts, journals,
//! fiscal years, the lock date, exchange rates and taxes.

use chrono::NaiveDate;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{new_id, unique_as, Actor, Finance};
use crate::domain::fx::ExchangeRate;
use crate::domain::ledger::{AccountKind, AccountRole, JournalKind};
use crate::domain::money::{Currency, Percent};
use crate::domain::period::{check_lock_date, check_new_fiscal_year, FiscalYear};
use crate::domain::tax::TaxRounding;
use crate::domain::{parse_code, parse_text, FinanceViolation};
use crate::store::entities::{account, fiscal_year, journal, settings, tax};
use crate::store::ledger as ledger_store;

/// A fiscal year to open.
#[derive(Debug, Clone)]
pub struct FiscalYearRequest {
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

/// The one-time set-up of a tenant's finance.
#[derive(Debug, Clone)]
pub struct SetUpRequest {
    pub base_currency: String,
    pub tax_rounding: TaxRounding,
    pub fiscal_year: FiscalYearRequest,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct AccountRequest {
    pub code: String,
    pub name: String,
    pub kind: AccountKind,
    pub role: AccountRole,
}

/// A new journal.
#[derive(Debug, Clone)]
pub struct JournalRequest {
    pub code: String,
    pub name: String,
    pub kind: JournalKind,
    pub hash_chain: bool,
}

/// A new tax.
#[derive(Debug, Clone)]
pub struct TaxRequest {
    pub code: String,
    pub name: String,
    /// A percentage, e.g. `"22"` or `"8.875"`.
    pub rate: String,
    pub included: bool,
    pub account_id: String,
}

/// The default chart: (code, name, kind, role).
const DEFAULT_ACCOUNTS: &[(&str, &str, AccountKind, AccountRole)] = &[
    ("1000", "Bank", AccountKind::Asset, AccountRole::Bank),
    (
        "1100",
        "Accounts receivable",
        AccountKind::Asset,
        AccountRole::Receivable,
    ),
    (
        "1200",
        "Input tax",
        AccountKind::Asset,
        AccountRole::General,
    ),
    (
        "2000",
        "Accounts payable",
        AccountKind::Liability,
        AccountRole::Payable,
    ),
    (
        "2100",
        "Employee reimbursements",
        AccountKind::Liability,
        AccountRole::General,
    ),
    (
        "2200",
        "Output tax",
        AccountKind::Liability,
        AccountRole::General,
    ),
    (
        "3000",
        "Retained earnings",
        AccountKind::Equity,
        AccountRole::General,
    ),
    ("4000", "Sales", AccountKind::Income, AccountRole::General),
    (
        "5000",
        "General expenses",
        AccountKind::Expense,
        AccountRole::General,
    ),
    (
        "6900",
        "Rounding differences",
        AccountKind::Expense,
        AccountRole::General,
    ),
    // Ops' asset postings (after the accounts the settings pick by position): fixed assets,
    // their accumulated depreciation (a contra-asset), the disposal gain and loss and the
    // depreciation expense.
    (
        "1500",
        "Fixed assets",
        AccountKind::Asset,
        AccountRole::General,
    ),
    (
        "1590",
        "Accumulated depreciation",
        AccountKind::Asset,
        AccountRole::General,
    ),
    (
        "4900",
        "Gain on disposal of assets",
        AccountKind::Income,
        AccountRole::General,
    ),
    (
        "5600",
        "Depreciation expense",
        AccountKind::Expense,
        AccountRole::General,
    ),
    (
        "5900",
        "Loss on disposal of assets",
        AccountKind::Expense,
        AccountRole::General,
    ),
    // Realised exchange differences of foreign-currency documents settled at another rate
    // (`super::documents::exchange_accounts`).
    (
        "4950",
        "Realised exchange gains",
        AccountKind::Income,
        AccountRole::General,
    ),
    (
        "6950",
        "Realised exchange losses",
        AccountKind::Expense,
        AccountRole::General,
    ),
];

/// The default journals: (code, name, kind). Each keeps a hash chain.
const DEFAULT_JOURNALS: &[(&str, &str, JournalKind)] = &[
    ("SAL", "Sales", JournalKind::Sales),
    ("PUR", "Purchases", JournalKind::Purchase),
    ("BNK", "Bank", JournalKind::Bank),
    ("GEN", "General", JournalKind::General),
];

impl Finance {
    /// Sets up a tenant's finance once: ALREADY_SET_UP the second time.
    pub async fn set_up(&self, actor: &Actor, request: SetUpRequest) -> ApiResult<settings::Model> {
        let base = Currency::parse(&request.base_currency)?;
        let year_name = parse_code("fiscalYear.name", &request.fiscal_year.name)?;
        check_new_fiscal_year(
            &[],
            request.fiscal_year.starts_on,
            request.fiscal_year.ends_on,
        )?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            if ledger_store::settings(txn, &tenant).await?.is_some() {
                return Err(FinanceViolation::AlreadySetUp.into());
            }
            let now = chrono::Utc::now();
            let mut account_ids = Vec::new();
            for (code, name, kind, role) in DEFAULT_ACCOUNTS {
                let id = new_id();
                ledger_store::insert_account(
                    txn,
                    account::Model {
                        id: id.clone(),
                        tenant_id: tenant.as_str().to_owned(),
                        code: (*code).into(),
                        name: (*name).into(),
                        kind: kind.as_str().into(),
                        role: role.as_str().into(),
                        created_at: now,
                    },
                )
                .await?;
                account_ids.push(id);
            }
            let mut journal_ids = Vec::new();
            for (code, name, kind) in DEFAULT_JOURNALS {
                let id = new_id();
                ledger_store::insert_journal(
                    txn,
                    journal::Model {
                        id: id.clone(),
                        tenant_id: tenant.as_str().to_owned(),
                        code: (*code).into(),
                        name: (*name).into(),
                        kind: kind.as_str().into(),
                        hash_chain: true,
                        chain_length: 0,
                        last_hash: None,
                        created_at: now,
                    },
                )
                .await?;
                journal_ids.push(id);
            }
            ledger_store::insert_fiscal_year(
                txn,
                fiscal_year::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    name: year_name.clone(),
                    starts_on: request.fiscal_year.starts_on,
                    ends_on: request.fiscal_year.ends_on,
                    created_at: now,
                },
            )
            .await?;
            let row = settings::Model {
                tenant_id: tenant.as_str().to_owned(),
                base_currency: base.code().into(),
                tax_rounding: request.tax_rounding.as_str().into(),
                lock_date: None,
                default_bank_account_id: account_ids[0].clone(),
                receivable_account_id: account_ids[1].clone(),
                payable_account_id: account_ids[3].clone(),
                employee_payable_account_id: account_ids[4].clone(),
                default_income_account_id: account_ids[7].clone(),
                default_expense_account_id: account_ids[8].clone(),
                rounding_account_id: account_ids[9].clone(),
                sales_journal_id: journal_ids[0].clone(),
                purchase_journal_id: journal_ids[1].clone(),
                bank_journal_id: journal_ids[2].clone(),
                general_journal_id: journal_ids[3].clone(),
                created_at: now,
            };
            ledger_store::insert_settings(txn, row.clone()).await?;
            Ok(row)
        })
        .await
    }

    pub async fn create_account(
        &self,
        actor: &Actor,
        request: AccountRequest,
    ) -> ApiResult<String> {
        let code = parse_code("code", &request.code)?;
        let name = parse_text("name", &request.name)?;
        if let Some(kind) = request.role.required_kind() {
            if kind != request.kind {
                return Err(ApiError::bad_input(
                    "role",
                    format!(
                        "a {} account is of kind {}",
                        request.role.as_str(),
                        kind.as_str()
                    ),
                ));
            }
        }
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            let id = new_id();
            ledger_store::insert_account(
                txn,
                account::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    code,
                    name,
                    kind: request.kind.as_str().into(),
                    role: request.role.as_str().into(),
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .map_err(|err| unique_as(err, FinanceViolation::BadCode("code")))?;
            Ok(id)
        })
        .await
    }

    pub async fn create_journal(
        &self,
        actor: &Actor,
        request: JournalRequest,
    ) -> ApiResult<String> {
        let code = parse_code("code", &request.code)?;
        let name = parse_text("name", &request.name)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            let id = new_id();
            ledger_store::insert_journal(
                txn,
                journal::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    code,
                    name,
                    kind: request.kind.as_str().into(),
                    hash_chain: request.hash_chain,
                    chain_length: 0,
                    last_hash: None,
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .map_err(|err| unique_as(err, FinanceViolation::BadCode("code")))?;
            Ok(id)
        })
        .await
    }

    pub async fn create_fiscal_year(
        &self,
        actor: &Actor,
        request: FiscalYearRequest,
    ) -> ApiResult<String> {
        let name = parse_code("name", &request.name)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            let years = self.fiscal_years_in(txn, &tenant).await?;
            check_new_fiscal_year(&years, request.starts_on, request.ends_on)?;
            let id = new_id();
            ledger_store::insert_fiscal_year(
                txn,
                fiscal_year::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    name,
                    starts_on: request.starts_on,
                    ends_on: request.ends_on,
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .map_err(|err| unique_as(err, FinanceViolation::BadCode("name")))?;
            Ok(id)
        })
        .await
    }

    /// Moves the lock date forward: nothing dated on or before it posts any more.
    pub async fn set_lock_date(&self, actor: &Actor, lock_date: NaiveDate) -> ApiResult<()> {
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            check_lock_date(settings.lock_date, lock_date)?;
            ledger_store::set_lock_date(txn, &tenant, lock_date).await?;
            Ok(())
        })
        .await
    }

    /// Records the rate of `currency` in the base currency from `effective_on`.
    pub async fn set_exchange_rate(
        &self,
        actor: &Actor,
        currency: &str,
        effective_on: NaiveDate,
        rate: &str,
    ) -> ApiResult<()> {
        let currency = Currency::parse(currency)?;
        let rate = ExchangeRate::parse(currency, rate)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            let settings = self.require_set_up(txn, &tenant).await?;
            if settings.base_currency == currency.code() {
                return Err(ApiError::bad_input(
                    "currency",
                    "the base currency has no exchange rate",
                ));
            }
            ledger_store::upsert_rate(txn, &tenant, currency.code(), effective_on, rate.nano())
                .await?;
            Ok(())
        })
        .await
    }

    pub async fn create_tax(&self, actor: &Actor, request: TaxRequest) -> ApiResult<String> {
        let code = parse_code("code", &request.code)?;
        let name = parse_text("name", &request.name)?;
        let rate = Percent::parse("rate", &request.rate, 100)?;
        let tenant = actor.tenant.clone();
        self.write(async |txn| {
            self.require_set_up(txn, &tenant).await?;
            if ledger_store::account(txn, &tenant, &request.account_id)
                .await?
                .is_none()
            {
                return Err(FinanceViolation::AccountNotFound(request.account_id.clone()).into());
            }
            let id = new_id();
            ledger_store::insert_tax(
                txn,
                tax::Model {
                    id: id.clone(),
                    tenant_id: tenant.as_str().to_owned(),
                    code,
                    name,
                    rate_ppm: rate.ppm(),
                    included: request.included,
                    account_id: request.account_id.clone(),
                    created_at: chrono::Utc::now(),
                },
            )
            .await
            .map_err(|err| unique_as(err, FinanceViolation::BadCode("code")))?;
            Ok(id)
        })
        .await
    }

    /// The tenant's settings, or FINANCE_NOT_SET_UP.
    pub(crate) async fn require_set_up<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
    ) -> ApiResult<settings::Model> {
        ledger_store::settings(conn, tenant)
            .await?
            .ok_or_else(|| FinanceViolation::NotSetUp.into())
    }

    pub(crate) async fn fiscal_years_in<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
    ) -> ApiResult<Vec<FiscalYear>> {
        Ok(ledger_store::fiscal_years(conn, tenant)
            .await?
            .into_iter()
            .map(|year| FiscalYear {
                id: year.id,
                name: year.name,
                starts_on: year.starts_on,
                ends_on: year.ends_on,
            })
            .collect())
    }
}
