//! The ledger's reports: trial balance, profit and loss, balance sheet, hash-chain
//! verification, and the receivables/payables reconciliation (subledger = control account).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::ledger::posted_line;
use super::Finance;
use crate::domain::hash_chain::{canonical, first_broken_link, ChainedEntry};
use crate::domain::ledger::AccountKind;
use crate::domain::money::Currency;
use crate::domain::FinanceViolation;
use crate::store::entities::account;
use crate::store::ledger as ledger_store;

/// One account's totals over a range, base minor units.
#[derive(Debug, Clone)]
pub struct AccountAmounts {
    pub account: account::Model,
    pub debit: i64,
    pub credit: i64,
}

impl AccountAmounts {
    /// Debit minus credit.
    pub fn balance(&self) -> i64 {
        self.debit - self.credit
    }

    pub fn kind(&self) -> Option<AccountKind> {
        AccountKind::from_stored(&self.account.kind)
    }
}

#[derive(Debug, Clone)]
pub struct TrialBalance {
    pub currency: Currency,
    pub from: Option<NaiveDate>,
    pub to: NaiveDate,
    pub rows: Vec<AccountAmounts>,
    pub total_debit: i64,
    pub total_credit: i64,
}

#[derive(Debug, Clone)]
pub struct ProfitAndLoss {
    pub currency: Currency,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Income accounts, each with its net credit.
    pub income: Vec<(account::Model, i64)>,
    /// Expense accounts, each with its net debit.
    pub expenses: Vec<(account::Model, i64)>,
    pub total_income: i64,
    pub total_expense: i64,
}

#[derive(Debug, Clone)]
pub struct BalanceSheet {
    pub currency: Currency,
    pub as_of: NaiveDate,
    /// Net debit of each asset account.
    pub assets: Vec<(account::Model, i64)>,
    /// Net credit of each liability account.
    pub liabilities: Vec<(account::Model, i64)>,
    /// Net credit of each equity account.
    pub equity: Vec<(account::Model, i64)>,
    /// Income minus expenses to date (not yet closed into equity).
    pub unclosed_earnings: i64,
}

impl BalanceSheet {
    pub fn total_assets(&self) -> i64 {
        self.assets.iter().map(|(_, v)| v).sum()
    }

    pub fn total_liabilities_and_equity(&self) -> i64 {
        self.liabilities.iter().map(|(_, v)| v).sum::<i64>()
            + self.equity.iter().map(|(_, v)| v).sum::<i64>()
            + self.unclosed_earnings
    }
}

/// What the verification of a journal's hash chain found.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub journal_id: String,
    pub enabled: bool,
    pub entries_checked: u64,
    /// The first entry whose link does not verify.
    pub first_broken_reference: Option<String>,
}

/// The longest range a report covers.
const MAX_REPORT_DAYS: i64 = 366 * 10;

fn check_range(from: Option<NaiveDate>, to: NaiveDate) -> ApiResult<()> {
    if let Some(from) = from {
        if from > to || (to - from).num_days() > MAX_REPORT_DAYS {
            return Err(FinanceViolation::BadDateRange.into());
        }
    }
    Ok(())
}

impl Finance {
    async fn amounts(
        &self,
        tenant: &TenantId,
        from: Option<NaiveDate>,
        to: NaiveDate,
    ) -> ApiResult<(Currency, Vec<AccountAmounts>)> {
        let settings = self.require_set_up(&self.db, tenant).await?;
        let currency = Currency::parse(&settings.base_currency)?;
        let totals = ledger_store::account_totals(&self.db, tenant, from, to).await?;
        let accounts = ledger_store::all_accounts(&self.db, tenant).await?;
        let rows = accounts
            .into_iter()
            .map(|account| {
                let (debit, credit) = totals.get(&account.id).copied().unwrap_or_default();
                AccountAmounts {
                    account,
                    debit,
                    credit,
                }
            })
            .collect();
        Ok((currency, rows))
    }

    /// Every account's debits and credits dated in `[from, to]` (from the start without
    /// `from`): the debits always equal the credits (invariant F10).
    pub async fn trial_balance(
        &self,
        tenant: &TenantId,
        from: Option<NaiveDate>,
        to: NaiveDate,
    ) -> ApiResult<TrialBalance> {
        check_range(from, to)?;
        let (currency, rows) = self.amounts(tenant, from, to).await?;
        let total_debit = rows.iter().map(|r| r.debit).sum();
        let total_credit = rows.iter().map(|r| r.credit).sum();
        Ok(TrialBalance {
            currency,
            from,
            to,
            rows: rows
                .into_iter()
                .filter(|r| r.debit != 0 || r.credit != 0)
                .collect(),
            total_debit,
            total_credit,
        })
    }

    pub async fn profit_and_loss(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ApiResult<ProfitAndLoss> {
        check_range(Some(from), to)?;
        let (currency, rows) = self.amounts(tenant, Some(from), to).await?;
        let mut income = Vec::new();
        let mut expenses = Vec::new();
        for row in rows {
            match row.kind() {
                Some(AccountKind::Income) => income.push((row.account.clone(), -row.balance())),
                Some(AccountKind::Expense) => expenses.push((row.account.clone(), row.balance())),
                _ => {}
            }
        }
        Ok(ProfitAndLoss {
            currency,
            from,
            to,
            total_income: income.iter().map(|(_, v)| v).sum(),
            total_expense: expenses.iter().map(|(_, v)| v).sum(),
            income,
            expenses,
        })
    }

    pub async fn balance_sheet(
        &self,
        tenant: &TenantId,
        as_of: NaiveDate,
    ) -> ApiResult<BalanceSheet> {
        let (currency, rows) = self.amounts(tenant, None, as_of).await?;
        let mut sheet = BalanceSheet {
            currency,
            as_of,
            assets: Vec::new(),
            liabilities: Vec::new(),
            equity: Vec::new(),
            unclosed_earnings: 0,
        };
        for row in rows {
            let balance = row.balance();
            match row.kind() {
                Some(AccountKind::Asset) => sheet.assets.push((row.account, balance)),
                Some(AccountKind::Liability) => sheet.liabilities.push((row.account, -balance)),
                Some(AccountKind::Equity) => sheet.equity.push((row.account, -balance)),
                Some(AccountKind::Income) | Some(AccountKind::Expense) => {
                    sheet.unclosed_earnings -= balance
                }
                None => {}
            }
        }
        Ok(sheet)
    }

    /// Recomputes a journal's hash chain from its stored entries and lines.
    pub async fn verify_hash_chain(
        &self,
        tenant: &TenantId,
        journal_id: &str,
    ) -> ApiResult<ChainReport> {
        let journal = ledger_store::journal(&self.db, tenant, journal_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("journal".into()))?;
        let mut report = ChainReport {
            journal_id: journal.id.clone(),
            enabled: journal.hash_chain,
            entries_checked: 0,
            first_broken_reference: None,
        };
        let mut after = 0i64;
        let mut expected_previous = String::new();
        loop {
            let entries =
                ledger_store::chain_entries(&self.db, tenant, &journal.id, after, 500).await?;
            if entries.is_empty() {
                break;
            }
            let ids = entries.iter().map(|e| e.id.clone()).collect();
            let lines = ledger_store::lines_of(&self.db, tenant, ids).await?;
            let mut by_entry: BTreeMap<&str, Vec<_>> = BTreeMap::new();
            for line in &lines {
                by_entry
                    .entry(line.entry_id.as_str())
                    .or_default()
                    .push(line);
            }
            let mut links = Vec::with_capacity(entries.len());
            for entry in &entries {
                let currency = Currency::parse(&entry.currency)?;
                let posted = by_entry
                    .get(entry.id.as_str())
                    .map(|rows| rows.iter().map(|row| posted_line(row, currency)).collect())
                    .unwrap_or_else(|| Ok(Vec::new()))?;
                let text = canonical(&ChainedEntry {
                    reference: &entry.reference,
                    date: entry.entry_date,
                    journal_code: &journal.code,
                    currency: &entry.currency,
                    lines: &posted,
                });
                links.push((
                    entry.prev_hash.clone().unwrap_or_default(),
                    entry.hash.clone().unwrap_or_default(),
                    text,
                ));
            }
            let broken = first_broken_link(&expected_previous, &links);
            if let Some(index) = broken {
                report.entries_checked += index as u64;
                report.first_broken_reference = Some(entries[index].reference.clone());
                return Ok(report);
            }
            report.entries_checked += entries.len() as u64;
            expected_previous = links.last().map(|l| l.1.clone()).unwrap_or_default();
            after = entries.last().and_then(|e| e.chain_index).unwrap_or(after);
        }
        Ok(report)
    }
}
