//! The inbox: what a consumer group already did, recorded in the same atomic write as the
//! effect, so that an event delivered twice (at-least-once buses, a restart before the offset
//! was committed, a rebalance) has its effect once. Beside it, the dead letters: messages a
//! consumer gave up on, kept with their error for an operator.
//!
//! [`InboxStore`] is the contract; [`SqlInbox`] is the relational domains' (tables
//! `<domain>_inbox` and `<domain>_dead_letters`, created by the domain's migrations with
//! `erp_migrations::inbox::CreateInbox`). A document-store domain implements the trait over its
//! own transactions (MongoDB: a session with a transaction; the inbox a collection with a
//! unique index on (group, event id)).

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Order, Query, UnionType};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};
use uuid::Uuid;

use super::{EventEnvelope, Wake};
use crate::db::WriteTransaction;

/// A failure of the inbox store itself (its database). `unavailable`: the store cannot be
/// reached (the consumer waits and tries again without counting an attempt); otherwise the
/// write failed and counts as a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxError {
    pub message: String,
    pub unavailable: bool,
}

impl InboxError {
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: true,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: false,
        }
    }
}

impl std::fmt::Display for InboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InboxError {}

/// Whether a database error means the database cannot be reached right now (as opposed to a
/// statement it refused).
pub(crate) fn is_unreachable(err: &DbErr) -> bool {
    matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_))
}

impl From<DbErr> for InboxError {
    fn from(err: DbErr) -> Self {
        Self {
            unavailable: is_unreachable(&err),
            message: err.to_string(),
        }
    }
}

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Not an event envelope (never reached a handler).
    Undecodable,
    /// The handler refused it as one it can never handle ([`super::HandlerError::Rejected`]).
    Rejected,
    /// The handler failed on every attempt.
    Exhausted,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Undecodable => "undecodable",
            FailureKind::Rejected => "rejected",
            FailureKind::Exhausted => "exhausted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "undecodable" => Some(FailureKind::Undecodable),
            "rejected" => Some(FailureKind::Rejected),
            "exhausted" => Some(FailureKind::Exhausted),
            _ => None,
        }
    }
}

/// A message a consumer group gave up on.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub group: String,
    /// What identifies the message: its event id, or `topic/partition@offset` when it did not
    /// decode. One dead letter per group and key (a redelivery adds none).
    pub message_key: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub event_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub tenant_id: Option<String>,
    /// The message as received (invalid UTF-8 replaced).
    pub payload: String,
    pub failure: FailureKind,
    /// The last error.
    pub error: String,
    /// Deliveries that failed (handler attempts, or 1 for a message that did not decode).
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

/// Where a consumer group records the events it handled, in the same atomic write as their
/// effect, and keeps its dead letters.
///
/// The consumer calls, per event: [`begin`](InboxStore::begin), [`seen`](InboxStore::seen)
/// (true: [`rollback`](InboxStore::rollback), skipped), the handler's effect on the write,
/// [`record`](InboxStore::record) (false: another delivery recorded it first; rolled back,
/// skipped), [`commit`](InboxStore::commit). An implementation must make the effect and the
/// record commit together or not at all, and `record` must refuse a second record of the same
/// (group, event id), also against a concurrent uncommitted one (a unique key does both).
#[async_trait::async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// The open atomic write a handler does its effect in (SQL: a [`WriteTransaction`]).
    type Write: Send;

    async fn begin(&self) -> Result<Self::Write, InboxError>;

    /// Whether `group` already handled `event`, or dead-lettered it.
    async fn seen(
        &self,
        write: &mut Self::Write,
        group: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError>;

    /// Records `event` as handled by `group` in `write`; false when it is recorded already.
    async fn record(
        &self,
        write: &mut Self::Write,
        group: &str,
        topic: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError>;

    async fn commit(&self, write: Self::Write) -> Result<(), InboxError>;

    /// Abandons `write` and its effect.
    async fn rollback(&self, write: Self::Write) {
        drop(write);
    }

    /// Keeps `letter`; false when the group has a dead letter with its key already.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError>;

    /// Forgets the records of events handled before `before` (a redelivery that late cannot
    /// happen). Dead letters stay.
    async fn purge_handled(&self, before: DateTime<Utc>) -> Result<(), InboxError> {
        let _ = before;
        Ok(())
    }

    /// Whether [`commit`](InboxStore::commit) only hands the write to a batch that becomes
    /// durable later (an OLAP store's batched inserts). Then the consumer settles the events'
    /// positions only after [`flush`](InboxStore::flush) succeeded, so a crash before the
    /// batch is stored loses nothing: the events come again.
    fn defers_writes(&self) -> bool {
        false
    }

    /// Makes every committed write durable (for a store that [defers
    /// writes](InboxStore::defers_writes)); an error keeps the positions where they are.
    async fn flush(&self) -> Result<(), InboxError> {
        Ok(())
    }
}

/// A relational domain's inbox (`<domain>_inbox`) and dead letters (`<domain>_dead_letters`).
#[derive(Clone)]
pub struct SqlInbox {
    inbox: String,
    dead_letters: String,
    db: DatabaseConnection,
    wake: Option<Wake>,
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The columns of `<domain>_dead_letters` a [`DeadLetter`] fills (and [`DeadLetterRow`] reads).
const DEAD_LETTER_COLUMNS: [&str; 14] = [
    "consumer_group",
    "message_key",
    "topic",
    "source_partition",
    "source_offset",
    "event_id",
    "event_type",
    "tenant_id",
    "payload",
    "failure",
    "error",
    "attempts",
    "first_failed_at",
    "last_failed_at",
];

#[derive(Debug, FromQueryResult)]
struct DeadLetterRow {
    consumer_group: String,
    message_key: String,
    topic: String,
    source_partition: i32,
    source_offset: i64,
    event_id: Option<String>,
    event_type: Option<String>,
    tenant_id: Option<String>,
    payload: String,
    failure: String,
    error: String,
    attempts: i32,
    first_failed_at: i64,
    last_failed_at: i64,
}

impl SqlInbox {
    /// `domain` names the tables (`finance` -> `finance_inbox`, `finance_dead_letters`).
    pub fn new(domain: &str, db: DatabaseConnection) -> Self {
        Self {
            inbox: format!("{domain}_inbox"),
            dead_letters: format!("{domain}_dead_letters"),
            db,
            wake: None,
        }
    }

    /// Wakes `wake` after each handled event's commit: the domain's outbox relay, when its
    /// handlers enqueue events.
    pub fn waking(mut self, wake: Wake) -> Self {
        self.wake = Some(wake);
        self
    }

    pub fn inbox_table(&self) -> &str {
        &self.inbox
    }

    pub fn dead_letters_table(&self) -> &str {
        &self.dead_letters
    }

    /// The dead letters of `group`, oldest first (operators, tests).
    pub async fn dead_letters(&self, group: &str) -> Result<Vec<DeadLetter>, DbErr> {
        let select = Query::select()
            .columns(DEAD_LETTER_COLUMNS.map(Alias::new))
            .from(Alias::new(&self.dead_letters))
            .and_where(col("consumer_group").eq(group))
            .order_by(Alias::new("id"), Order::Asc)
            .to_owned();
        let backend = self.db.get_database_backend();
        let rows = DeadLetterRow::find_by_statement(backend.build(&select))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| DeadLetter {
                group: row.consumer_group,
                message_key: row.message_key,
                topic: row.topic,
                partition: row.source_partition,
                offset: row.source_offset,
                event_id: row.event_id.and_then(|id| id.parse().ok()),
                event_type: row.event_type,
                tenant_id: row.tenant_id,
                payload: row.payload,
                failure: FailureKind::parse(&row.failure).unwrap_or(FailureKind::Exhausted),
                error: row.error,
                attempts: u32::try_from(row.attempts).unwrap_or(0),
                first_failed_at: from_millis(row.first_failed_at),
                last_failed_at: from_millis(row.last_failed_at),
            })
            .collect())
    }

    /// How many events `group` has recorded as handled (tests, diagnostics).
    pub async fn handled_count(&self, group: &str) -> Result<i64, DbErr> {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let select = Query::select()
            .expr_as(col("event_id").count(), Alias::new("n"))
            .from(Alias::new(&self.inbox))
            .and_where(col("consumer_group").eq(group))
            .to_owned();
        let backend = self.db.get_database_backend();
        Ok(Count::find_by_statement(backend.build(&select))
            .one(&self.db)
            .await?
            .map_or(0, |count| count.n))
    }
}

#[async_trait::async_trait]
impl InboxStore for SqlInbox {
    type Write = WriteTransaction;

    async fn begin(&self) -> Result<WriteTransaction, InboxError> {
        crate::db::begin_write(&self.db).await.map_err(|err| {
            // Not even a transaction: nothing was tried.
            InboxError::unavailable(err.to_string())
        })
    }

    async fn seen(
        &self,
        write: &mut WriteTransaction,
        group: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        let id = event.id.to_string();
        let mut handled = Query::select()
            .expr(Expr::val(1))
            .from(Alias::new(&self.inbox))
            .and_where(col("consumer_group").eq(group))
            .and_where(col("event_id").eq(id.clone()))
            .to_owned();
        let buried = Query::select()
            .expr(Expr::val(1))
            .from(Alias::new(&self.dead_letters))
            .and_where(col("consumer_group").eq(group))
            .and_where(col("message_key").eq(id))
            .to_owned();
        handled.union(UnionType::All, buried);
        let backend = write.get_database_backend();
        Ok(write.query_one(backend.build(&handled)).await?.is_some())
    }

    async fn record(
        &self,
        write: &mut WriteTransaction,
        group: &str,
        topic: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        let insert = Query::insert()
            .into_table(Alias::new(&self.inbox))
            .columns(
                [
                    "consumer_group",
                    "event_id",
                    "topic",
                    "event_type",
                    "tenant_id",
                    "handled_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                group.into(),
                event.id.to_string().into(),
                topic.into(),
                event.event_type.clone().into(),
                event.tenant_id.clone().into(),
                millis(Utc::now()).into(),
            ])
            // On PostgreSQL this waits for a concurrent delivery's uncommitted record, then
            // inserts nothing if it committed.
            .on_conflict(
                OnConflict::columns([Alias::new("consumer_group"), Alias::new("event_id")])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        let backend = write.get_database_backend();
        let result = write.execute(backend.build(&insert)).await?;
        Ok(result.rows_affected() == 1)
    }

    async fn commit(&self, write: WriteTransaction) -> Result<(), InboxError> {
        write.commit().await?;
        if let Some(wake) = &self.wake {
            wake.wake();
        }
        Ok(())
    }

    async fn rollback(&self, write: WriteTransaction) {
        if let Err(err) = write.rollback().await {
            tracing::warn!(error = %err, inbox = %self.inbox, "inbox rollback failed");
        }
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError> {
        let insert = Query::insert()
            .into_table(Alias::new(&self.dead_letters))
            .columns(DEAD_LETTER_COLUMNS.map(Alias::new))
            .values_panic([
                letter.group.clone().into(),
                letter.message_key.clone().into(),
                letter.topic.clone().into(),
                letter.partition.into(),
                letter.offset.into(),
                letter.event_id.map(|id| id.to_string()).into(),
                letter.event_type.clone().into(),
                letter.tenant_id.clone().into(),
                letter.payload.clone().into(),
                letter.failure.as_str().into(),
                letter.error.clone().into(),
                i32::try_from(letter.attempts).unwrap_or(i32::MAX).into(),
                millis(letter.first_failed_at).into(),
                millis(letter.last_failed_at).into(),
            ])
            .on_conflict(
                OnConflict::columns([Alias::new("consumer_group"), Alias::new("message_key")])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        let txn = crate::db::begin_write(&self.db)
            .await
            .map_err(|err| InboxError::unavailable(err.to_string()))?;
        let backend = txn.get_database_backend();
        let result = txn.execute(backend.build(&insert)).await?;
        txn.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_handled(&self, before: DateTime<Utc>) -> Result<(), InboxError> {
        let delete = Query::delete()
            .from_table(Alias::new(&self.inbox))
            .and_where(col("handled_at").lt(millis(before)))
            .to_owned();
        let txn = crate::db::begin_write(&self.db).await?;
        let backend = txn.get_database_backend();
        txn.execute(backend.build(&delete)).await?;
        txn.commit().await?;
        Ok(())
    }
}
