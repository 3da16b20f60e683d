//! Receivables and payables reports and cash: ageing, the subledger-to-control reconciliation
//! (invariant F9), the cash position per bank account, the cash-flow statement and the forecast.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use erp_kit::{ApiResult, TenantId};

use super::documents::LineRequest;
use super::Finance;
use crate::domain::cash::{forecast, ExpectedFlow, ForecastBucket};
use crate::domain::fx::spread;
use crate::domain::invoice::{
    due_periods, open_instalments, period_invoice_date, AgeingBucket, DocumentKind,
};
use crate::domain::ledger::AccountRole;
use crate::domain::money::{Currency, Money, Percent, Quantity};
use crate::domain::tax::{compute, PricedLine, TaxRate, TaxRounding};
use crate::domain::FinanceViolation;
use crate::store::documents::{self as documents_store, DocumentFilter};
use crate::store::entities::{account, document, partner};
use crate::store::ledger as ledger_store;

/// Receivables (customer invoices) or payables (vendor bills).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ledger {
    Receivables,
    Payables,
}

impl Ledger {
    fn kind(self) -> DocumentKind {
        match self {
            Ledger::Receivables => DocumentKind::Invoice,
            Ledger::Payables => DocumentKind::Bill,
        }
    }

    fn direction(self) -> &'static str {
        match self {
            Ledger::Receivables => "inbound",
            Ledger::Payables => "outbound",
        }
    }
}

/// One partner's open amounts by days past due.
#[derive(Debug, Clone)]
pub struct PartnerAgeing {
    pub partner: partner::Model,
    /// Current, 1-30, 31-60, 61-90, over 90 days late.
    pub buckets: [i64; 5],
    /// Payments not yet allocated to a document (a credit in the partner's favour or ours).
    pub unallocated: i64,
}

impl PartnerAgeing {
    pub fn open(&self) -> i64 {
        self.buckets.iter().sum()
    }
}

#[derive(Debug, Clone)]
pub struct Ageing {
    pub currency: Currency,
    pub as_of: NaiveDate,
    pub partners: Vec<PartnerAgeing>,
}

/// The reconciliation of a control account with its subledger.
#[derive(Debug, Clone)]
pub struct Reconciliation {
    pub currency: Currency,
    /// The control account's balance, in the ledger's natural sign (receivables as debits,
    /// payables as credits).
    pub control_balance: i64,
    /// Σ open documents minus unallocated payments, same sign.
    pub subledger_balance: i64,
    /// Partners whose two balances differ: (partner id, control, subledger).
    pub mismatches: Vec<(String, i64, i64)>,
}

#[derive(Debug, Clone)]
pub struct CashPosition {
    pub currency: Currency,
    pub as_of: NaiveDate,
    pub accounts: Vec<(account::Model, i64)>,
}

#[derive(Debug, Clone)]
pub struct CashFlowStatement {
    pub currency: Currency,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub opening: i64,
    /// (what posted the movement, inflow, outflow).
    pub lines: Vec<(String, i64, i64)>,
    pub closing: i64,
}

#[derive(Debug, Clone)]
pub struct CashForecast {
    pub currency: Currency,
    pub as_of: NaiveDate,
    pub opening: i64,
    pub buckets: Vec<ForecastBucket>,
}

/// A posted document's open instalments (earliest first) in the base currency: what is open
/// of its booked base amount, spread over what is open of each instalment (the document's own
/// amounts in the base currency).
fn open_base_instalments(
    document: &document::Model,
    parts: &[(NaiveDate, i64)],
) -> Vec<(NaiveDate, i64)> {
    spread(
        &open_instalments(parts, document.settled),
        document.base_total - document.base_settled,
    )
}

impl Finance {
    /// Open documents by partner and days past due at `as_of`, in the base currency (what the
    /// control account holds): each document's open amount is spread over its instalments,
    /// earliest first.
    pub async fn ageing(
        &self,
        tenant: &TenantId,
        ledger: Ledger,
        as_of: NaiveDate,
    ) -> ApiResult<Ageing> {
        let settings = self.require_set_up(&self.db, tenant).await?;
        let currency = Currency::parse(&settings.base_currency)?;
        let open = documents_store::all_documents(
            &self.db,
            tenant,
            &DocumentFilter {
                kinds: vec![ledger.kind().as_str()],
                open: true,
                ..Default::default()
            },
        )
        .await?;
        let instalments = documents_store::instalments_of(
            &self.db,
            tenant,
            open.iter().map(|d| d.id.clone()).collect(),
        )
        .await?;
        let mut by_document: HashMap<&str, Vec<(NaiveDate, i64)>> = HashMap::new();
        for row in &instalments {
            by_document
                .entry(row.document_id.as_str())
                .or_default()
                .push((row.due_date, row.amount));
        }
        let mut per_partner: BTreeMap<String, ([i64; 5], i64)> = BTreeMap::new();
        for document in &open {
            let parts = by_document
                .get(document.id.as_str())
                .cloned()
                .unwrap_or_else(|| vec![(document.due_date, document.total)]);
            let entry = per_partner.entry(document.partner_id.clone()).or_default();
            for (due, amount) in open_base_instalments(document, &parts) {
                entry.0[AgeingBucket::of(due, as_of).index()] += amount;
            }
        }
        for payment in
            documents_store::unallocated_payments(&self.db, tenant, ledger.direction()).await?
        {
            per_partner.entry(payment.partner_id.clone()).or_default().1 +=
                payment.base_amount - payment.base_allocated;
        }
        let partners = documents_store::partners_by_ids(
            &self.db,
            tenant,
            per_partner.keys().cloned().collect(),
        )
        .await?;
        let mut rows: Vec<PartnerAgeing> = partners
            .into_iter()
            .filter_map(|partner| {
                let (buckets, unallocated) = per_partner.get(&partner.id).copied()?;
                Some(PartnerAgeing {
                    partner,
                    buckets,
                    unallocated,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            a.partner
                .name
                .cmp(&b.partner.name)
                .then(a.partner.id.cmp(&b.partner.id))
        });
        Ok(Ageing {
            currency,
            as_of,
            partners: rows,
        })
    }

    /// Compares the control account with its subledger, per partner (invariant F9).
    pub async fn reconcile(&self, tenant: &TenantId, ledger: Ledger) -> ApiResult<Reconciliation> {
        let settings = self.require_set_up(&self.db, tenant).await?;
        let currency = Currency::parse(&settings.base_currency)?;
        let (control_account, sign) = match ledger {
            Ledger::Receivables => (&settings.receivable_account_id, 1),
            Ledger::Payables => (&settings.payable_account_id, -1),
        };
        let control: BTreeMap<String, i64> =
            ledger_store::party_balances(&self.db, tenant, control_account)
                .await?
                .into_iter()
                .map(|(party, balance)| (party, balance * sign))
                .collect();
        let mut subledger: BTreeMap<String, i64> = BTreeMap::new();
        let open = documents_store::all_documents(
            &self.db,
            tenant,
            &DocumentFilter {
                kinds: vec![ledger.kind().as_str()],
                open: true,
                ..Default::default()
            },
        )
        .await?;
        for document in open {
            *subledger.entry(document.partner_id).or_default() +=
                document.base_total - document.base_settled;
        }
        for payment in
            documents_store::unallocated_payments(&self.db, tenant, ledger.direction()).await?
        {
            *subledger.entry(payment.partner_id).or_default() -=
                payment.base_amount - payment.base_allocated;
        }
        let mut mismatches = Vec::new();
        let parties: std::collections::BTreeSet<&String> =
            control.keys().chain(subledger.keys()).collect();
        for party in parties {
            let (c, s) = (
                control.get(party).copied().unwrap_or(0),
                subledger.get(party).copied().unwrap_or(0),
            );
            if c != s {
                mismatches.push((party.clone(), c, s));
            }
        }
        Ok(Reconciliation {
            currency,
            control_balance: control.values().sum(),
            subledger_balance: subledger.values().sum(),
            mismatches,
        })
    }

    async fn bank_accounts(&self, tenant: &TenantId) -> ApiResult<Vec<account::Model>> {
        Ok(ledger_store::all_accounts(&self.db, tenant)
            .await?
            .into_iter()
            .filter(|a| AccountRole::from_stored(&a.role) == Some(AccountRole::Bank))
            .collect())
    }

    /// Each bank account's balance at the end of `as_of`.
    pub async fn cash_position(
        &self,
        tenant: &TenantId,
        as_of: NaiveDate,
    ) -> ApiResult<CashPosition> {
        let settings = self.require_set_up(&self.db, tenant).await?;
        let totals = ledger_store::account_totals(&self.db, tenant, None, as_of).await?;
        let accounts = self
            .bank_accounts(tenant)
            .await?
            .into_iter()
            .map(|account| {
                let (debit, credit) = totals.get(&account.id).copied().unwrap_or_default();
                (account, debit - credit)
            })
            .collect();
        Ok(CashPosition {
            currency: Currency::parse(&settings.base_currency)?,
            as_of,
            accounts,
        })
    }

    /// Bank movements over `[from, to]` by what caused them (the direct method), between the
    /// opening and closing cash.
    pub async fn cash_flow_statement(
        &self,
        tenant: &TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ApiResult<CashFlowStatement> {
        if from > to || (to - from).num_days() > 3660 {
            return Err(FinanceViolation::BadDateRange.into());
        }
        let position = match from.pred_opt() {
            Some(before) => self.cash_position(tenant, before).await?,
            None => self.cash_position(tenant, from).await?,
        };
        let opening: i64 = position.accounts.iter().map(|(_, b)| b).sum();
        let banks = self
            .bank_accounts(tenant)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let lines: Vec<(String, i64, i64)> =
            ledger_store::bank_movements(&self.db, tenant, banks, from, to)
                .await?
                .into_iter()
                .collect();
        let closing = opening
            + lines
                .iter()
                .map(|(_, inflow, outflow)| inflow - outflow)
                .sum::<i64>();
        Ok(CashFlowStatement {
            currency: position.currency,
            from,
            to,
            opening,
            lines,
            closing,
        })
    }

    /// Cash today plus what is still expected, week by week: open invoice instalments in, open
    /// bill instalments out, recurring invoices not generated yet in. Open amounts only, so a
    /// payment already received (in today's cash) is never counted again.
    pub async fn cash_forecast(
        &self,
        tenant: &TenantId,
        as_of: NaiveDate,
        weeks: u32,
    ) -> ApiResult<CashForecast> {
        let settings = self.require_set_up(&self.db, tenant).await?;
        let currency = Currency::parse(&settings.base_currency)?;
        let position = self.cash_position(tenant, as_of).await?;
        let opening: i64 = position.accounts.iter().map(|(_, b)| b).sum();
        let mut flows = Vec::new();
        for (ledger, sign) in [(Ledger::Receivables, 1), (Ledger::Payables, -1)] {
            let open = documents_store::all_documents(
                &self.db,
                tenant,
                &DocumentFilter {
                    kinds: vec![ledger.kind().as_str()],
                    open: true,
                    ..Default::default()
                },
            )
            .await?;
            let instalments = documents_store::instalments_of(
                &self.db,
                tenant,
                open.iter().map(|d| d.id.clone()).collect(),
            )
            .await?;
            let mut by_document: HashMap<&str, Vec<(NaiveDate, i64)>> = HashMap::new();
            for row in &instalments {
                by_document
                    .entry(row.document_id.as_str())
                    .or_default()
                    .push((row.due_date, row.amount));
            }
            for document in &open {
                let parts = by_document
                    .get(document.id.as_str())
                    .cloned()
                    .unwrap_or_else(|| vec![(document.due_date, document.total)]);
                for (due, amount) in open_base_instalments(document, &parts) {
                    flows.push(ExpectedFlow {
                        due,
                        amount: sign * amount,
                    });
                }
            }
        }
        // Recurring invoices of the horizon not generated yet, due after the default term.
        let horizon = as_of + Duration::days(7 * i64::from(weeks));
        let generated: std::collections::HashSet<(String, NaiveDate)> =
            documents_store::all_documents(
                &self.db,
                tenant,
                &DocumentFilter {
                    kinds: vec![DocumentKind::Invoice.as_str()],
                    ..Default::default()
                },
            )
            .await?
            .into_iter()
            .filter_map(|d| Some((d.recurring_schedule_id?, d.recurring_period?)))
            .collect();
        let taxes: HashMap<String, crate::store::entities::tax::Model> =
            ledger_store::taxes(&self.db, tenant)
                .await?
                .into_iter()
                .map(|t| (t.id.clone(), t))
                .collect();
        let rounding =
            TaxRounding::from_stored(&settings.tax_rounding).unwrap_or(TaxRounding::Global);
        for schedule in documents_store::schedules(&self.db, tenant).await? {
            let template: Vec<LineRequest> = match serde_json::from_str(&schedule.lines) {
                Ok(lines) => lines,
                Err(_) => continue,
            };
            let Some(total) = template_total(&template, currency, &taxes, rounding) else {
                continue;
            };
            for period in due_periods(schedule.starts_on, schedule.ends_on, horizon) {
                if generated.contains(&(schedule.id.clone(), period)) {
                    continue;
                }
                let due =
                    period_invoice_date(period, schedule.day_of_month as u32) + Duration::days(30);
                flows.push(ExpectedFlow { due, amount: total });
            }
        }
        Ok(CashForecast {
            currency,
            as_of,
            opening,
            buckets: forecast(opening, as_of, weeks, &flows),
        })
    }
}

/// The total of a recurring template (None if it no longer computes: e.g. a deleted tax).
fn template_total(
    lines: &[LineRequest],
    currency: Currency,
    taxes: &HashMap<String, crate::store::entities::tax::Model>,
    rounding: TaxRounding,
) -> Option<i64> {
    let priced = lines
        .iter()
        .map(|line| {
            Some(PricedLine {
                unit_price: Money::parse(&line.unit_price, currency).ok()?,
                quantity: Quantity::parse(&line.quantity).ok()?,
                discount: match &line.discount {
                    Some(text) => Percent::parse("discount", text, 100).ok()?,
                    None => Percent::zero(),
                },
                tax: match &line.tax_id {
                    None => None,
                    Some(id) => {
                        let tax = taxes.get(id)?;
                        Some(TaxRate {
                            id: tax.id.clone(),
                            rate: Percent::from_ppm(tax.rate_ppm),
                            included: tax.included,
                        })
                    }
                },
            })
        })
        .collect::<Option<Vec<_>>>()?;
    compute(currency, &priced, rounding).ok().map(|t| t.total)
}
