//! Foreign-currency revaluation: the mutation (`finance:admin`) and the revaluation of a date.

use async_graphql::{Context, InputObject, Object, Result};

use erp_kit::{ApiError, RequestContext};

use super::ledger::JournalEntry;
use super::loaders::EntryLoader;
use super::scalars::{stored_money, Date, Money};
use super::{actor, finance, load_one};
use crate::app::revaluation::RevaluationRequest;
use crate::store::entities::revaluation;

/// Revalue the open foreign-currency documents, bank balances and payments on account at a
/// date.
#[derive(InputObject)]
pub struct RevalueForeignCurrencyInput {
    /// See `PostJournalEntryInput.idempotencyKey`.
    pub idempotency_key: String,
    /// The day whose closing rates value the documents (usually a period's last day); the
    /// entry posts on it and is reversed on the first day of the next period.
    pub date: Date,
}

/// A revaluation and whether it was already made.
#[derive(async_graphql::SimpleObject)]
pub struct RevalueForeignCurrencyPayload {
    /// The revaluation of the date.
    pub revaluation: Revaluation,
    /// True when the date was revalued before (or the idempotency key replays): nothing was
    /// posted this time.
    pub replayed: bool,
}

pub struct Revaluation(pub revaluation::Model);

/// The unrealised exchange differences of the foreign-currency invoices, credit notes and bills
/// open at the end of a day, of the bank accounts' foreign-currency balances and of the
/// foreign payments' parts on account, valued at that day's rates.
#[Object(requires_scopes = "finance:read")]
impl Revaluation {
    /// The day revalued.
    async fn date(&self) -> Date {
        Date(self.0.revaluation_date)
    }

    /// The first day of the next period: the day the entry is reversed.
    async fn reversal_date(&self) -> Date {
        Date(self.0.reversal_date)
    }

    /// The open foreign-currency documents valued (those without a difference included).
    async fn document_count(&self) -> i32 {
        self.0.document_count
    }

    /// The bank accounts' foreign-currency balances valued: one per account and currency
    /// (those without a difference included).
    async fn bank_balance_count(&self) -> i32 {
        self.0.bank_balance_count
    }

    /// The foreign payments with a part on account (not allocated to a document dated by the
    /// day) valued (those without a difference included).
    async fn payment_count(&self) -> i32 {
        self.0.payment_count
    }

    /// The unrealised gains booked, in the base currency.
    async fn gain(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(
            self.0.gain,
            &super::ledger::base_currency(ctx).await?,
        ))
    }

    /// The unrealised losses booked, in the base currency.
    async fn loss(&self, ctx: &Context<'_>) -> Result<Money> {
        Ok(stored_money(
            self.0.loss,
            &super::ledger::base_currency(ctx).await?,
        ))
    }

    /// The revaluation entry (null when no value differed): per document a line on its control
    /// account with its partner, per bank account and currency a line on the account, per
    /// payment on account a line on its control account with its partner (in that order),
    /// against the exchange gain and loss accounts.
    async fn entry(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        entry(ctx, self.0.entry_id.as_deref()).await
    }

    /// The entry's reversal on `reversalDate`.
    async fn reversal(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        entry(ctx, self.0.reversal_entry_id.as_deref()).await
    }
}

async fn entry(ctx: &Context<'_>, id: Option<&str>) -> Result<Option<JournalEntry>> {
    match id {
        None => Ok(None),
        Some(id) => Ok(load_one::<EntryLoader>(ctx, id).await?.map(JournalEntry)),
    }
}

#[derive(Default)]
pub struct RevaluationQuery;

#[Object]
impl RevaluationQuery {
    /// The revaluation of a date, if the date was revalued.
    #[graphql(requires_scopes = "finance:read")]
    async fn revaluation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day revalued.")] date: Date,
    ) -> Result<Option<Revaluation>> {
        let tenant = ctx.tenant()?;
        Ok(finance(ctx)?
            .revaluation_on(&tenant, date.0)
            .await?
            .map(Revaluation))
    }
}

#[derive(Default)]
pub struct RevaluationMutation;

#[Object]
impl RevaluationMutation {
    /// Revalues the foreign-currency invoices, credit notes and bills open at the end of a day,
    /// the bank accounts' balances in foreign currencies and the foreign payments' parts on
    /// account at that day's rates: the unrealised differences post as one entry on the day, reversed
    /// on the first day of the next period (so the booked base amounts, and the realised
    /// difference a later payment posts, never change). A date is revalued once: asking again
    /// answers with the first revaluation (`replayed`). A locked date is `PERIOD_LOCKED`, a
    /// date or reversal day outside every fiscal year `NO_FISCAL_YEAR`, a currency without a
    /// rate on the day `NO_EXCHANGE_RATE`; nothing is written then.
    #[graphql(requires_scopes = "finance:admin")]
    async fn revalue_foreign_currency(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day and an idempotency key.")] input: RevalueForeignCurrencyInput,
    ) -> Result<Option<RevalueForeignCurrencyPayload>> {
        let actor = actor(ctx)?;
        let finance = finance(ctx)?;
        let outcome = finance
            .revalue_foreign_currency(
                &actor,
                &input.idempotency_key,
                RevaluationRequest { date: input.date.0 },
            )
            .await?;
        let row = finance
            .revaluation(&actor.tenant, &outcome.id)
            .await?
            .ok_or_else(|| ApiError::internal("a revaluation vanished"))?;
        Ok(Some(RevalueForeignCurrencyPayload {
            revaluation: Revaluation(row),
            replayed: outcome.replayed,
        }))
    }
}
