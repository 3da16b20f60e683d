//! Revaluing foreign-currency balances at a date (`finance:admin`): each posted invoice,
//! credit note or bill in a foreign currency open at the end of that day, each bank account's
//! balance in each foreign currency, and the part of each foreign payment on account (not
//! allocated to a document dated by that day) is valued at the day's rate; the differences to
//! their booked base amounts post as one entry in the general journal (control-account lines
//! per document and payment, with the partner; a line per bank account and currency; against
//! the exchange gain and loss accounts 4950/6950), reversed on the first day of the next
//! period in the same transaction. A date is revalued once: asking again answers with the
//! stored revaluation.

use std::collections::HashMap;

use chrono::NaiveDate;
use erp_kit::{ApiError, ApiResult};
use serde::Serialize;

use super::documents::exchange_accounts;
use super::ledger::{posted_line, Posting};
use super::{new_id, unique_as, Actor, Finance, Outcome};
use crate::domain::fx::ExchangeRate;
use crate::domain::invoice::DocumentKind;
use crate::domain::ledger::{
    reversal_lines, AccountRole, BalancedEntry, Party, ProposedLine, Side,
};
use crate::domain::money::{format_minor, Currency, Money};
use crate::domain::payment::PaymentDirection;
use crate::domain::period::open_year_for;
use crate::domain::revaluation::{
    balance_difference, open_on, reversal_day, unrealised_difference, Settlement,
};
use crate::domain::FinanceViolation;
use crate::store::documents as documents_store;
use crate::store::entities::{document, payment, revaluation};
use crate::store::ledger as ledger_store;
use crate::store::revaluation as store;

/// A revaluation at the end of `date`.
#[derive(Debug, Clone, Serialize)]
pub struct RevaluationRequest {
    pub date: NaiveDate,
}

/// The `source_kind` of a revaluation's entry.
pub const SOURCE: &str = "revaluation";

/// The idempotency operation name.
const OPERATION: &str = "revalueForeignCurrency";

impl Finance {
    /// Revalues the open foreign-currency documents at `request.date` (see the module). A
    /// locked date is PERIOD_LOCKED; a date (or its reversal day) outside every fiscal year
    /// NO_FISCAL_YEAR; a currency without a rate on the date NO_EXCHANGE_RATE; nothing is
    /// written then.
    pub async fn revalue_foreign_currency(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: RevaluationRequest,
    ) -> ApiResult<Outcome> {
        let tenant = actor.tenant.clone();
        if let Some(done) = store::on_date(&self.db, &tenant, request.date).await? {
            return Ok(Outcome {
                id: done.id,
                replayed: true,
            });
        }
        let mut found = None;
        let outcome = self
            .idempotent(&tenant, idempotency_key, OPERATION, &request, async |txn| {
                // Inside the writer's transaction (SQLite holds its lock): a twin committed.
                if let Some(done) = store::on_date(txn, &tenant, request.date).await? {
                    found = Some(done.id.clone());
                    return Ok(done.id);
                }
                self.revalue_in(txn, actor, request.date).await
            })
            .await?;
        Ok(match found {
            Some(id) => Outcome { id, replayed: true },
            None => outcome,
        })
    }

    async fn revalue_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        date: NaiveDate,
    ) -> ApiResult<String> {
        let tenant = &actor.tenant;
        let settings = self.require_set_up(txn, tenant).await?;
        let base = Currency::parse(&settings.base_currency)?;
        let years = self.fiscal_years_in(txn, tenant).await?;
        open_year_for(&years, settings.lock_date, date)?;
        let reversal_date = reversal_day(&years, date)?;
        open_year_for(&years, settings.lock_date, reversal_date)?;
        let id = new_id();
        // The row first: a concurrent revaluation of the date waits on the unique index, then
        // fails here, before posting anything.
        let mut row = revaluation::Model {
            id: id.clone(),
            tenant_id: tenant.as_str().to_owned(),
            revaluation_date: date,
            reversal_date,
            entry_id: None,
            reversal_entry_id: None,
            gain: 0,
            loss: 0,
            document_count: 0,
            bank_balance_count: 0,
            payment_count: 0,
            created_by: actor.user_id.clone(),
            created_at: chrono::Utc::now(),
        };
        store::insert(txn, row.clone())
            .await
            .map_err(|err| unique_as(err, FinanceViolation::AlreadyRevalued(date)))?;

        let open = self
            .open_foreign_documents(txn, tenant, &settings.base_currency, date)
            .await?;
        let mut rates: HashMap<String, ExchangeRate> = HashMap::new();
        let mut lines = Vec::new();
        let (mut gains, mut losses) = (0i64, 0i64);
        for (document, kind, open_amount, carrying) in &open {
            let currency = Currency::parse(&document.currency)?;
            let rate = self
                .rate_of_day(txn, tenant, &mut rates, currency, date)
                .await?;
            let open_money = Money::from_minor(*open_amount, currency)?;
            let (_, difference) = unrealised_difference(*kind, open_money, *carrying, rate, base)?;
            let Some(difference) = difference else {
                continue;
            };
            let (control, party) = match kind {
                DocumentKind::Bill => (
                    &settings.payable_account_id,
                    Party::Vendor(document.partner_id.clone()),
                ),
                _ => (
                    &settings.receivable_account_id,
                    Party::Customer(document.partner_id.clone()),
                ),
            };
            lines.push(
                ProposedLine::new(
                    control,
                    difference.control_side,
                    Money::from_minor(difference.amount, base)?,
                )
                .with_party(Some(party))
                .with_label(format!(
                    "revaluation {} {} {} at {}",
                    document.reference.as_deref().unwrap_or_default(),
                    format_minor(*open_amount, u32::from(currency.exponent())),
                    currency.code(),
                    rate.to_decimal_string()
                )),
            );
            if difference.gain {
                gains += difference.amount;
            } else {
                losses += difference.amount;
            }
        }

        // What each bank account holds in a foreign currency: a line on the account itself.
        let chart = ledger_store::all_accounts(txn, tenant).await?;
        let banks: Vec<&crate::store::entities::account::Model> = chart
            .iter()
            .filter(|account| AccountRole::from_stored(&account.role) == Some(AccountRole::Bank))
            .collect();
        let balances = store::foreign_balances(
            txn,
            tenant,
            banks.iter().map(|account| account.id.clone()).collect(),
            &settings.base_currency,
            date,
        )
        .await?;
        let mut bank_balance_count = 0;
        for balance in &balances {
            if balance.amount == 0 && balance.carrying == 0 {
                continue;
            }
            bank_balance_count += 1;
            let currency = Currency::parse(&balance.currency)?;
            let rate = self
                .rate_of_day(txn, tenant, &mut rates, currency, date)
                .await?;
            let held = Money::from_minor(balance.amount, currency)?;
            let (_, difference) = balance_difference(held, balance.carrying, rate, base)?;
            let Some(difference) = difference else {
                continue;
            };
            let code = banks
                .iter()
                .find(|account| account.id == balance.account_id)
                .map(|account| account.code.as_str())
                .unwrap_or_default();
            lines.push(
                ProposedLine::new(
                    &balance.account_id,
                    difference.control_side,
                    Money::from_minor(difference.amount, base)?,
                )
                .with_label(format!(
                    "revaluation bank {code} {} {} at {}",
                    format_minor(balance.amount, u32::from(currency.exponent())),
                    currency.code(),
                    rate.to_decimal_string()
                )),
            );
            if difference.gain {
                gains += difference.amount;
            } else {
                losses += difference.amount;
            }
        }

        // The part of each foreign payment on account: a line on its control account with the
        // partner (a customer's payment is a credit balance, a payment to a vendor a debit one).
        let on_account = self
            .foreign_payments_on_account(txn, tenant, &settings.base_currency, date)
            .await?;
        for (payment, unallocated, carrying) in &on_account {
            let currency = Currency::parse(&payment.currency)?;
            let rate = self
                .rate_of_day(txn, tenant, &mut rates, currency, date)
                .await?;
            let inbound = payment.direction == PaymentDirection::Inbound.as_str();
            let (sign, control, party) = if inbound {
                (
                    -1,
                    &settings.receivable_account_id,
                    Party::Customer(payment.partner_id.clone()),
                )
            } else {
                (
                    1,
                    &settings.payable_account_id,
                    Party::Vendor(payment.partner_id.clone()),
                )
            };
            let held = Money::from_minor(sign * unallocated, currency)?;
            let (_, difference) = balance_difference(held, sign * carrying, rate, base)?;
            let Some(difference) = difference else {
                continue;
            };
            lines.push(
                ProposedLine::new(
                    control,
                    difference.control_side,
                    Money::from_minor(difference.amount, base)?,
                )
                .with_party(Some(party))
                .with_label(format!(
                    "revaluation payment of {} on account {} {} at {}",
                    payment.payment_date,
                    format_minor(*unallocated, u32::from(currency.exponent())),
                    currency.code(),
                    rate.to_decimal_string()
                )),
            );
            if difference.gain {
                gains += difference.amount;
            } else {
                losses += difference.amount;
            }
        }
        row.document_count = open.len() as i32;
        row.bank_balance_count = bank_balance_count;
        row.payment_count = on_account.len() as i32;
        row.gain = gains;
        row.loss = losses;
        if !lines.is_empty() {
            let by_code = |code: &'static str| -> ApiResult<String> {
                chart
                    .iter()
                    .find(|account| account.code == code)
                    .map(|account| account.id.clone())
                    .ok_or_else(|| FinanceViolation::ExchangeAccountMissing(code).into())
            };
            if gains > 0 {
                lines.push(
                    ProposedLine::new(
                        &by_code(exchange_accounts::GAIN)?,
                        Side::Credit,
                        Money::from_minor(gains, base)?,
                    )
                    .with_label("unrealised exchange gain"),
                );
            }
            if losses > 0 {
                lines.push(
                    ProposedLine::new(
                        &by_code(exchange_accounts::LOSS)?,
                        Side::Debit,
                        Money::from_minor(losses, base)?,
                    )
                    .with_label("unrealised exchange loss"),
                );
            }
            let entry = self
                .post_lines(
                    txn,
                    actor,
                    Posting {
                        journal_id: settings.general_journal_id.clone(),
                        date,
                        memo: Some(format!("Foreign-currency revaluation at {date}")),
                        source_kind: SOURCE,
                        source_id: Some(id.clone()),
                        reverses_id: None,
                        allow_control: true,
                    },
                    lines,
                )
                .await?;
            // The reversal swaps every line on the first day of the next period. Not through
            // `reverse_entry_in`: a manual reversal may not move control accounts, this one must.
            let posted = ledger_store::lines_of(txn, tenant, vec![entry.id.clone()])
                .await?
                .iter()
                .map(|row| posted_line(row, base))
                .collect::<ApiResult<Vec<_>>>()?;
            let reversal = self
                .write_posting(
                    txn,
                    actor,
                    &settings,
                    Posting {
                        journal_id: entry.journal_id.clone(),
                        date: reversal_date,
                        memo: Some(format!("Reversal of the revaluation at {date}")),
                        source_kind: "reversal",
                        source_id: Some(entry.id.clone()),
                        reverses_id: Some(entry.id.clone()),
                        allow_control: true,
                    },
                    BalancedEntry {
                        currency: base,
                        rate: None,
                        lines: reversal_lines(&posted),
                    },
                )
                .await?;
            row.entry_id = Some(entry.id);
            row.reversal_entry_id = Some(reversal.id);
        }
        store::update(txn, row).await?;
        Ok(id)
    }

    /// The rate of `currency` in force on `date` (NO_EXCHANGE_RATE without one), read once per
    /// revaluation.
    async fn rate_of_day<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &erp_kit::TenantId,
        rates: &mut HashMap<String, ExchangeRate>,
        currency: Currency,
        date: NaiveDate,
    ) -> ApiResult<ExchangeRate> {
        if let Some(rate) = rates.get(currency.code()) {
            return Ok(*rate);
        }
        let stored = ledger_store::rate_on(txn, tenant, currency.code(), date)
            .await?
            .ok_or(FinanceViolation::NoExchangeRate {
                currency: currency.code(),
                date,
            })?;
        let rate = ExchangeRate::from_nano(currency, stored.rate_nano);
        rates.insert(currency.code().to_owned(), rate);
        Ok(rate)
    }

    /// The foreign payments with a part on account at the end of `date`, each with that part
    /// (payment currency) and its booked base amount. An allocation takes its part off the
    /// payment from the later of the payment's and the document's dates (a document dated
    /// after `date` did not exist then: what was allocated to it was still on account).
    async fn foreign_payments_on_account<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &erp_kit::TenantId,
        base_currency: &str,
        date: NaiveDate,
    ) -> ApiResult<Vec<(payment::Model, i64, i64)>> {
        let payments = store::foreign_payments(txn, tenant, base_currency, date).await?;
        let allocations = store::allocations_of_payments(
            txn,
            tenant,
            payments.iter().map(|p| p.id.clone()).collect(),
        )
        .await?;
        let document_dates: HashMap<String, NaiveDate> = documents_store::documents_by_ids(
            txn,
            tenant,
            allocations.iter().map(|a| a.document_id.clone()).collect(),
        )
        .await?
        .into_iter()
        .map(|d| (d.id, d.document_date))
        .collect();
        let payment_dates: HashMap<&str, NaiveDate> = payments
            .iter()
            .map(|p| (p.id.as_str(), p.payment_date))
            .collect();
        let mut settlements: HashMap<&str, Vec<Settlement>> = HashMap::new();
        for allocation in &allocations {
            let (Some((payment_id, payment_date)), Some(document_date)) = (
                allocation
                    .payment_id
                    .as_deref()
                    .and_then(|id| payment_dates.get_key_value(id)),
                document_dates.get(&allocation.document_id),
            ) else {
                return Err(ApiError::internal(
                    "an allocation without its payment or document",
                ));
            };
            settlements.entry(payment_id).or_default().push(Settlement {
                date: (*payment_date).max(*document_date),
                amount: allocation.amount,
                // What the allocation took of the payment's own base amount (at its rate).
                base_amount: allocation.base_amount + allocation.exchange_difference,
            });
        }
        Ok(payments
            .iter()
            .filter_map(|payment| {
                let (unallocated, carrying) = open_on(
                    payment.amount,
                    payment.base_amount,
                    settlements
                        .get(payment.id.as_str())
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    date,
                );
                (unallocated != 0).then(|| (payment.clone(), unallocated, carrying))
            })
            .collect())
    }

    /// The posted foreign-currency documents open at the end of `date`, each with its kind, its
    /// open amount (document currency) and that part's booked base amount. An invoice's or
    /// bill's settlements count from their payment's (or credit note's) date; a credit note
    /// is settled in full when it posts.
    async fn open_foreign_documents<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &erp_kit::TenantId,
        base_currency: &str,
        date: NaiveDate,
    ) -> ApiResult<Vec<(document::Model, DocumentKind, i64, i64)>> {
        let documents = store::foreign_documents(txn, tenant, base_currency, date).await?;
        let allocations = store::allocations_of(
            txn,
            tenant,
            documents.iter().map(|d| d.id.clone()).collect(),
        )
        .await?;
        let payment_dates: HashMap<String, NaiveDate> = store::payment_dates(
            txn,
            tenant,
            allocations
                .iter()
                .filter_map(|a| a.payment_id.clone())
                .collect(),
        )
        .await?
        .into_iter()
        .collect();
        let credit_note_ids: Vec<String> = allocations
            .iter()
            .filter_map(|a| a.credit_note_id.clone())
            .collect();
        let credit_note_dates: HashMap<String, NaiveDate> =
            documents_store::documents_by_ids(txn, tenant, credit_note_ids)
                .await?
                .into_iter()
                .map(|d| (d.id, d.document_date))
                .collect();
        let mut settlements: HashMap<&str, Vec<Settlement>> = HashMap::new();
        for allocation in &allocations {
            let settled_on = match (&allocation.payment_id, &allocation.credit_note_id) {
                (Some(payment), _) => payment_dates.get(payment),
                (None, Some(credit_note)) => credit_note_dates.get(credit_note),
                (None, None) => None,
            };
            let Some(settled_on) = settled_on else {
                return Err(ApiError::internal("an allocation without its source"));
            };
            settlements
                .entry(allocation.document_id.as_str())
                .or_default()
                .push(Settlement {
                    date: *settled_on,
                    amount: allocation.amount,
                    base_amount: allocation.base_amount,
                });
        }
        let mut open = Vec::new();
        for document in &documents {
            let kind = DocumentKind::from_stored(&document.kind)
                .ok_or_else(|| ApiError::internal(format!("document kind {}", document.kind)))?;
            let (amount, carrying) = match kind {
                DocumentKind::CreditNote => (
                    document.total - document.settled,
                    document.base_total - document.base_settled,
                ),
                _ => open_on(
                    document.total,
                    document.base_total,
                    settlements
                        .get(document.id.as_str())
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    date,
                ),
            };
            if amount != 0 {
                open.push((document.clone(), kind, amount, carrying));
            }
        }
        Ok(open)
    }

    /// A revaluation of the caller's tenant.
    pub async fn revaluation(
        &self,
        tenant: &erp_kit::TenantId,
        id: &str,
    ) -> ApiResult<Option<revaluation::Model>> {
        Ok(store::by_id(&self.db, tenant, id).await?)
    }

    /// The revaluation of the caller's tenant at `date`, if that date was revalued.
    pub async fn revaluation_on(
        &self,
        tenant: &erp_kit::TenantId,
        date: NaiveDate,
    ) -> ApiResult<Option<revaluation::Model>> {
        Ok(store::on_date(&self.db, tenant, date).await?)
    }
}
