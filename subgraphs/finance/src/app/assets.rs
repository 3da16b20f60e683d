//! Operations' fixed assets into the general ledger: each posted depreciation line of ops
//! (`asset.depreciation.posted`) becomes one journal entry (debit depreciation expense, credit
//! accumulated depreciation), each disposal (`asset.disposed`) one entry that takes the asset
//! off the books and books the gain or loss. Both are idempotent per source: once per
//! (asset, period) and once per asset disposal, whatever the redeliveries (the inbox already
//! drops a redelivered event id; this also drops the same fact under a new id, and a unique
//! index on the asset sources makes a concurrent second posting of one fact a no-op).
//!
//! The accounts are the chart's by code ([`ASSET_ACCOUNTS`], in the default chart since this
//! consumer exists); a tenant whose chart lacks one gets ASSET_NOT_POSTABLE and the event is
//! dead-lettered with that reason, nothing written.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::Deserialize;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::ledger::Posting;
use super::{Actor, Finance};
use crate::domain::ledger::{ProposedLine, Side};
use crate::domain::money::{Currency, Money};
use crate::domain::reasons;
use crate::store::assets as assets_store;
use crate::store::ledger as ledger_store;

/// Who posts the asset entries.
const ASSETS_ACTOR: &str = "system:finance-assets";

/// The journal the asset entries go to.
const GENERAL_JOURNAL: &str = "GEN";

/// The chart's accounts for fixed assets, by code.
pub mod accounts {
    pub const FIXED_ASSETS: &str = "1500";
    pub const ACCUMULATED_DEPRECIATION: &str = "1590";
    pub const BANK: &str = "1000";
    pub const GAIN_ON_DISPOSAL: &str = "4900";
    pub const DEPRECIATION_EXPENSE: &str = "5600";
    pub const LOSS_ON_DISPOSAL: &str = "5900";
}

/// Every account code the asset entries need.
pub const ASSET_ACCOUNTS: [&str; 6] = [
    accounts::FIXED_ASSETS,
    accounts::ACCUMULATED_DEPRECIATION,
    accounts::BANK,
    accounts::GAIN_ON_DISPOSAL,
    accounts::DEPRECIATION_EXPENSE,
    accounts::LOSS_ON_DISPOSAL,
];

/// `source_kind` of a depreciation entry (`source_id` = `<asset>:<period index>`).
pub const DEPRECIATION_SOURCE: &str = "asset_depreciation";
/// `source_kind` of a disposal entry (`source_id` = the asset).
pub const DISPOSAL_SOURCE: &str = "asset_disposal";

/// Ops' `asset.depreciation.posted` payload (schema version 1), as finance reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct DepreciationPosted {
    pub asset_id: String,
    pub period_index: u32,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
}

/// Ops' `asset.disposed` payload (schema version 1), as finance reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct AssetDisposed {
    pub asset_id: String,
    pub currency: String,
    /// What the asset cost (taken off the fixed-assets account).
    pub cost_minor: i64,
    pub proceeds_minor: i64,
    pub book_value_minor: i64,
    pub gain_or_loss_minor: i64,
    /// The day of the disposal (the entry's date).
    pub disposed_on: NaiveDate,
}

fn not_postable(why: String) -> ApiError {
    ApiError::rule(
        reasons::ASSET_NOT_POSTABLE,
        format!("the asset event cannot be posted: {why}"),
    )
}

/// An amount of the event, refusing a negative or malformed one.
fn amount(minor: i64, currency: Currency, what: &str) -> ApiResult<Money> {
    if minor < 0 {
        return Err(not_postable(format!("{what} is negative")));
    }
    Ok(Money::from_minor(minor, currency)?)
}

impl Finance {
    /// Posts one depreciation line of ops: debit depreciation expense, credit accumulated
    /// depreciation, dated the period's last day. `None` when that (asset, period) was posted
    /// before.
    pub async fn post_asset_depreciation<C: ConnectionTrait + TransactionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        posted: &DepreciationPosted,
    ) -> ApiResult<Option<String>> {
        let source_id = format!("{}:{}", posted.asset_id, posted.period_index);
        if assets_store::entry_of_source(txn, tenant, DEPRECIATION_SOURCE, &source_id)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let currency = Currency::parse(&posted.currency)?;
        let amount = amount(posted.amount_minor, currency, "the depreciation amount")?;
        if amount.minor() == 0 {
            return Err(not_postable("the depreciation amount is zero".into()));
        }
        let chart = self.asset_chart(txn, tenant).await?;
        let lines = vec![
            labelled(chart.expense, Side::Debit, amount, &posted.asset_id),
            labelled(chart.accumulated, Side::Credit, amount, &posted.asset_id),
        ];
        let posting = Posting {
            journal_id: chart.journal,
            date: posted.period_end,
            memo: Some(format!(
                "Depreciation of asset {}, period {} ({} to {})",
                posted.asset_id, posted.period_index, posted.period_start, posted.period_end
            )),
            source_kind: DEPRECIATION_SOURCE,
            source_id: Some(source_id),
            reverses_id: None,
            allow_control: false,
        };
        self.post_once(txn, tenant, posting, lines).await
    }

    /// Posts an asset's disposal: the cost off the fixed-assets account, the depreciation
    /// accumulated on it (cost - book value) back, the proceeds to the bank, and the gain
    /// (credit) or loss (debit). `None` when the asset's disposal was posted before.
    pub async fn post_asset_disposal<C: ConnectionTrait + TransactionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        disposed: &AssetDisposed,
    ) -> ApiResult<Option<String>> {
        if assets_store::entry_of_source(txn, tenant, DISPOSAL_SOURCE, &disposed.asset_id)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let currency = Currency::parse(&disposed.currency)?;
        let cost = amount(disposed.cost_minor, currency, "the cost")?;
        let proceeds = amount(disposed.proceeds_minor, currency, "the proceeds")?;
        let book_value = amount(disposed.book_value_minor, currency, "the book value")?;
        if book_value.minor() > cost.minor() {
            return Err(not_postable(
                "the book value exceeds the cost (a revaluation above cost is not booked yet)"
                    .into(),
            ));
        }
        if disposed.proceeds_minor - disposed.book_value_minor != disposed.gain_or_loss_minor {
            return Err(not_postable(
                "the gain or loss is not the proceeds minus the book value".into(),
            ));
        }
        let accumulated = Money::from_minor(cost.minor() - book_value.minor(), currency)?;
        let chart = self.asset_chart(txn, tenant).await?;
        let asset = disposed.asset_id.as_str();
        let mut lines = vec![labelled(
            chart.fixed_assets.clone(),
            Side::Credit,
            cost,
            asset,
        )];
        if accumulated.minor() > 0 {
            lines.push(labelled(chart.accumulated, Side::Debit, accumulated, asset));
        }
        if proceeds.minor() > 0 {
            lines.push(labelled(chart.bank, Side::Debit, proceeds, asset));
        }
        let result = Money::from_minor(disposed.gain_or_loss_minor.abs(), currency)?;
        match disposed.gain_or_loss_minor.signum() {
            1 => lines.push(labelled(chart.gain, Side::Credit, result, asset)),
            -1 => lines.push(labelled(chart.loss, Side::Debit, result, asset)),
            _ => {}
        }
        if cost.minor() == 0 {
            return Err(not_postable("the asset cost nothing".into()));
        }
        let posting = Posting {
            journal_id: chart.journal,
            date: disposed.disposed_on,
            memo: Some(format!("Disposal of asset {asset}")),
            source_kind: DISPOSAL_SOURCE,
            source_id: Some(asset.to_owned()),
            reverses_id: None,
            allow_control: false,
        };
        self.post_once(txn, tenant, posting, lines).await
    }

    /// Posts the entry of `posting`'s source in a savepoint of `txn`. The check before (no
    /// entry of this source yet) does not see a concurrent transaction's uncommitted entry of
    /// the same fact; the unique index on asset sources (migration m0007) then refuses this
    /// entry once the other commits. The savepoint is rolled back and, the source's entry
    /// being there now, the posting is a no-op (`None`): the effect happened once, and the
    /// consumer's inbox record still commits. Any other failure is returned as it is.
    async fn post_once<C: ConnectionTrait + TransactionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        posting: Posting,
        lines: Vec<ProposedLine>,
    ) -> ApiResult<Option<String>> {
        let source_kind = posting.source_kind;
        let source_id = posting.source_id.clone().unwrap_or_default();
        let savepoint = txn.begin().await?;
        match self
            .post_lines(&savepoint, &assets_actor(tenant), posting, lines)
            .await
        {
            Ok(entry) => {
                savepoint.commit().await?;
                Ok(Some(entry.id))
            }
            Err(err) => {
                savepoint.rollback().await?;
                let posted_meanwhile =
                    assets_store::entry_of_source(txn, tenant, source_kind, &source_id).await?;
                match posted_meanwhile {
                    Some(_) => Ok(None),
                    None => Err(err),
                }
            }
        }
    }

    /// The tenant's asset accounts and general journal, or ASSET_NOT_POSTABLE naming what is
    /// missing.
    async fn asset_chart<C: ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
    ) -> ApiResult<AssetChart> {
        self.require_set_up(txn, tenant).await?;
        let chart = ledger_store::all_accounts(txn, tenant).await?;
        let by_code = |code: &str| -> ApiResult<String> {
            chart
                .iter()
                .find(|account| account.code == code)
                .map(|account| account.id.clone())
                .ok_or_else(|| not_postable(format!("the chart has no account {code}")))
        };
        let journal = ledger_store::journals(txn, tenant)
            .await?
            .into_iter()
            .find(|journal| journal.code == GENERAL_JOURNAL)
            .map(|journal| journal.id)
            .ok_or_else(|| not_postable(format!("there is no {GENERAL_JOURNAL} journal")))?;
        Ok(AssetChart {
            fixed_assets: by_code(accounts::FIXED_ASSETS)?,
            accumulated: by_code(accounts::ACCUMULATED_DEPRECIATION)?,
            bank: by_code(accounts::BANK)?,
            gain: by_code(accounts::GAIN_ON_DISPOSAL)?,
            expense: by_code(accounts::DEPRECIATION_EXPENSE)?,
            loss: by_code(accounts::LOSS_ON_DISPOSAL)?,
            journal,
        })
    }
}

/// The account ids the asset entries post to.
struct AssetChart {
    fixed_assets: String,
    accumulated: String,
    bank: String,
    gain: String,
    expense: String,
    loss: String,
    journal: String,
}

fn assets_actor(tenant: &TenantId) -> Actor {
    Actor {
        tenant: tenant.clone(),
        user_id: ASSETS_ACTOR.into(),
        finance_admin: false,
    }
}

/// A line labelled with the asset it comes from.
fn labelled(account_id: String, side: Side, amount: Money, asset_id: &str) -> ProposedLine {
    let mut line = ProposedLine::new(&account_id, side, amount);
    line.label = Some(format!("asset {asset_id}"));
    line
}
