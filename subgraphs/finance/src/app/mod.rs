//! The use cases, one function per mutation: read facts -> domain rule -> write -> enqueue
//! event -> commit -> wake. They know no GraphQL; the graphql layer parses its inputs into the
//! request types here and renders what they return.
//!
//! Every money-moving use case runs through [`Finance::idempotent`]: its idempotency key is
//! checked and recorded in the same transaction as the effect (invariant F7).

pub mod assets;
pub mod billing;
pub mod cash;
pub mod client360;
pub mod control_totals;
pub mod crm_clients;
pub mod documents;
pub mod expenses;
pub mod import;
pub mod ledger;
pub mod payroll;
pub mod payroll_inputs;
pub mod payroll_loans;
pub mod posting_queue;
pub mod queries;
pub mod reports;
pub mod revaluation;
pub mod setup;

use std::sync::Arc;

use erp_kit::cache::SharedCache;
use erp_kit::crypto::{FieldCipher, KeyEncryptionKey};
use erp_kit::db::{begin_write, WriteTransaction};
use erp_kit::events::{EventEnvelope, Outbox};
use erp_kit::{ApiError, ApiResult, TenantId};
use sea_orm::DatabaseConnection;
use serde::Serialize;

use crate::domain::idempotency::{fingerprint, replay, IdempotencyKey};
use crate::domain::FinanceViolation;
use crate::store;

/// The finance use cases over one database and outbox, with payroll's field cipher (its
/// sealed amounts), the key that opens pay facts sealed in transit by the employee subgraph,
/// and the cache's pub/sub (live run progress).
#[derive(Clone)]
pub struct Finance {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
    pub(crate) cipher: FieldCipher,
    pub(crate) transit: Arc<dyn KeyEncryptionKey>,
    pub(crate) cache: SharedCache,
    /// The per-tenant writers that post queued invoices together (`postInvoice`).
    pub(crate) postings: posting_queue::PostingQueue,
}

/// Who is acting: the verified caller.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant: TenantId,
    pub user_id: String,
    /// Holds `finance:admin` (approves any claim but their own, configures the ledger).
    pub finance_admin: bool,
}

/// What an idempotent use case answers: the id of what it created or changed, and whether the
/// answer is a replay of an earlier request with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: String,
    pub replayed: bool,
}

/// A new id: UUIDv7, so ids sort in creation order (keyset pages, posting order).
pub use erp_kit::db::new_id;

impl Finance {
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        kek: Arc<dyn KeyEncryptionKey>,
        cache: SharedCache,
    ) -> Self {
        Self {
            cipher: FieldCipher::new(db.clone(), crate::events::DOMAIN, kek.clone()),
            db,
            outbox,
            transit: kek,
            cache,
            postings: posting_queue::PostingQueue::default(),
        }
    }

    /// Runs `work` once per idempotency key: a stored key with the same operation and request
    /// replays the stored result without running anything; with another request it is
    /// IDEMPOTENCY_KEY_REUSED. `work` runs inside the write transaction and returns the id to
    /// store; the key is recorded in the same transaction, so a failure leaves neither.
    pub(crate) async fn idempotent<R, F>(
        &self,
        tenant: &TenantId,
        key: &str,
        operation: &'static str,
        request: &R,
        work: F,
    ) -> ApiResult<Outcome>
    where
        R: Serialize,
        F: AsyncFnOnce(&WriteTransaction) -> ApiResult<String>,
    {
        let key = IdempotencyKey::parse(key)?;
        let request = serde_json::to_value(request).map_err(ApiError::internal)?;
        let fingerprint = fingerprint(operation, &request);
        if let Some(id) = self
            .stored_result(&self.db, tenant, &key, operation, &fingerprint)
            .await?
        {
            return Ok(Outcome { id, replayed: true });
        }
        let txn = begin_write(&self.db).await?;
        // Checked again inside the transaction: on SQLite this writer now holds the lock, so a
        // concurrent twin has either committed (found here) or not started.
        if let Some(id) = self
            .stored_result(&*txn, tenant, &key, operation, &fingerprint)
            .await?
        {
            return Ok(Outcome { id, replayed: true });
        }
        let id = work(&txn).await?;
        let recorded =
            store::idempotency::record(&*txn, tenant, key.as_str(), operation, &fingerprint, &id)
                .await?;
        if !recorded {
            // A concurrent request with the same key committed first (PostgreSQL): undo this
            // one and answer as the first did.
            txn.rollback().await?;
            let id = self
                .stored_result(&self.db, tenant, &key, operation, &fingerprint)
                .await?
                .ok_or_else(|| ApiError::internal("an idempotency key vanished"))?;
            return Ok(Outcome { id, replayed: true });
        }
        txn.commit().await?;
        self.outbox.wake();
        Ok(Outcome {
            id,
            replayed: false,
        })
    }

    async fn stored_result<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
        key: &IdempotencyKey,
        operation: &str,
        fingerprint: &str,
    ) -> ApiResult<Option<String>> {
        match store::idempotency::find(conn, tenant, key.as_str()).await? {
            None => Ok(None),
            Some(stored) => Ok(Some(replay(
                &stored.operation,
                &stored.fingerprint,
                &stored.result,
                operation,
                fingerprint,
            )?)),
        }
    }

    /// Enqueues a domain event in the caller's transaction.
    pub(crate) async fn enqueue<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        event_type: &str,
        aggregate_id: &str,
        payload: impl Serialize,
    ) -> ApiResult<()> {
        let event = EventEnvelope::new(&actor.tenant, event_type, aggregate_id, payload)
            .map_err(ApiError::internal)?
            .with_actor(actor.user_id.clone());
        self.outbox.enqueue(txn, &event).await?;
        Ok(())
    }

    /// A write without an idempotency key (configuration): one transaction, then wake.
    pub(crate) async fn write<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: AsyncFnOnce(&WriteTransaction) -> ApiResult<T>,
    {
        let txn = begin_write(&self.db).await?;
        let value = work(&txn).await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(value)
    }
}

/// Maps a unique-constraint violation to a domain rule (e.g. a second reversal racing the
/// first), anything else as usual.
pub(crate) fn unique_as(err: sea_orm::DbErr, violation: FinanceViolation) -> ApiError {
    if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
        return violation.into();
    }
    err.into()
}

/// Today in UTC: the default date of postings and reversals.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}
