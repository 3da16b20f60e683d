//! The transactional outbox.
//!
//! A service writes its change and the change's event in ONE database transaction
//! ([`Outbox::enqueue`] takes the transaction). The [`OutboxRelay`] then publishes pending events
//! in order, marks them published, and retries with backoff while the broker is down, so no
//! accepted write loses its event. Delivery is at-least-once: consumers deduplicate on the
//! envelope id.
//!
//! The relay is written once, over an [`OutboxSource`]: the SQL table of a relational domain
//! ([`SqlOutbox`], replicas share it with `FOR UPDATE SKIP LOCKED`) or a document store's outbox
//! collection (PMO's, where replicas take turns through a lease).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, LockBehavior, LockType, Order, Query};
use std::sync::atomic::{AtomicI64, Ordering};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, FromQueryResult};
use tokio::sync::{watch, Notify};

use super::{EventEnvelope, SharedBus};

/// One domain's outbox table (`<domain>_outbox`, created by the domain's migrations), so that every domain can share one embedded
/// database file without sharing a table.
#[derive(Clone)]
pub struct Outbox {
    table: String,
    topic: String,
    wake: Wake,
}

/// Wakes a relay after a commit (cheap to clone; the relay and the writers share one).
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    async fn notified(&self) {
        self.0.notified().await
    }
}

#[derive(Debug, FromQueryResult)]
struct PendingRow {
    seq: i64,
    topic: String,
    envelope: String,
    attempts: i32,
    next_attempt_at: i64,
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Outbox {
    /// `domain` names the table (`employee` -> `employee_outbox`) and the topic
    /// (`erp.employee.events`).
    pub fn new(domain: &str) -> Self {
        Self {
            table: format!("{domain}_outbox"),
            topic: super::topic_for(domain),
            wake: Wake::default(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Records `event` inside the caller's transaction.
    pub async fn enqueue<C: ConnectionTrait>(
        &self,
        txn: &C,
        event: &EventEnvelope,
    ) -> Result<(), DbErr> {
        let envelope = serde_json::to_string(event).map_err(|e| DbErr::Custom(e.to_string()))?;
        let insert = Query::insert()
            .into_table(Alias::new(&self.table))
            .columns([
                Alias::new("event_id"),
                Alias::new("topic"),
                Alias::new("tenant_id"),
                Alias::new("event_type"),
                Alias::new("envelope"),
                Alias::new("created_at"),
            ])
            .values_panic([
                event.id.to_string().into(),
                self.topic.clone().into(),
                event.tenant_id.clone().into(),
                event.event_type.clone().into(),
                envelope.into(),
                now_millis().into(),
            ])
            .to_owned();
        txn.execute(txn.get_database_backend().build(&insert))
            .await?;
        Ok(())
    }

    /// Records many events inside the caller's transaction in multi-row INSERTs (a batch job's
    /// per-record notifications: one statement per 1,000 events, not one per event).
    pub async fn enqueue_many<C: ConnectionTrait>(
        &self,
        txn: &C,
        events: &[EventEnvelope],
    ) -> Result<(), DbErr> {
        let now = now_millis();
        for chunk in events.chunks(1000) {
            let mut insert = Query::insert();
            insert.into_table(Alias::new(&self.table)).columns([
                Alias::new("event_id"),
                Alias::new("topic"),
                Alias::new("tenant_id"),
                Alias::new("event_type"),
                Alias::new("envelope"),
                Alias::new("created_at"),
            ]);
            for event in chunk {
                let envelope =
                    serde_json::to_string(event).map_err(|e| DbErr::Custom(e.to_string()))?;
                insert.values_panic([
                    event.id.to_string().into(),
                    self.topic.clone().into(),
                    event.tenant_id.clone().into(),
                    event.event_type.clone().into(),
                    envelope.into(),
                    now.into(),
                ]);
            }
            txn.execute(txn.get_database_backend().build(&insert))
                .await?;
        }
        Ok(())
    }

    /// Tells the relay to look now (call after the transaction committed).
    pub fn wake(&self) {
        self.wake.wake();
    }

    /// Commits a write whose events this outbox enqueued, then wakes the relay for them.
    pub async fn commit(&self, txn: crate::db::WriteTransaction) -> Result<(), DbErr> {
        txn.commit().await?;
        self.wake();
        Ok(())
    }

    /// The wake this outbox's writers and its relay share.
    pub fn waker(&self) -> Wake {
        self.wake.clone()
    }

    /// Events not yet published (for metrics, readiness and tests).
    pub async fn pending_count<C: ConnectionTrait>(&self, conn: &C) -> Result<i64, DbErr> {
        #[derive(FromQueryResult)]
        struct Count {
            n: i64,
        }
        let select = Query::select()
            .expr_as(Expr::col(Alias::new("seq")).count(), Alias::new("n"))
            .from(Alias::new(&self.table))
            .and_where(Expr::col(Alias::new("published_at")).is_null())
            .to_owned();
        let backend = conn.get_database_backend();
        Ok(Count::find_by_statement(backend.build(&select))
            .one(conn)
            .await?
            .map(|c| c.n)
            .unwrap_or(0))
    }
}

/// How the relay polls and backs off.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub batch_size: u64,
    /// The longest the relay sleeps when it is not woken.
    pub poll_interval: Duration,
    /// Backoff after a failed publish: doubles per attempt from `min_backoff` up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Published rows older than this are deleted.
    pub retention: Duration,
    /// How long a lease lasts on sources whose replicas take turns ([`OutboxSource::lease`]).
    pub lease: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(500),
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
            lease: Duration::from_secs(10),
        }
    }
}

/// A failure of an outbox source (its database); the relay logs it and tries again later.
#[derive(Debug)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DbErr> for SourceError {
    fn from(err: DbErr) -> Self {
        SourceError(err.to_string())
    }
}

/// A failed delivery's schedule: a row parked with this `next_attempt_at` is never retried.
pub const PARKED: i64 = i64::MAX;

/// One event waiting in an outbox, oldest first.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    /// The row's or document's id in its outbox.
    pub id: String,
    pub topic: String,
    /// The [`EventEnvelope`] as JSON.
    pub envelope: String,
    /// Failed deliveries so far.
    pub attempts: i32,
    /// When (ms since the epoch) a failed delivery may be tried again; 0 when due.
    pub next_attempt_at: i64,
}

/// What a pass did with its batch: the ids published and the ones that failed, with the error
/// and when to try again ([`PARKED`]: never).
#[derive(Debug, Default)]
pub struct PassOutcome {
    pub published: Vec<String>,
    pub failed: Vec<(String, String, i64)>,
}

/// A batch of pending events claimed by one relay pass; finishing it records the outcome.
#[async_trait::async_trait]
pub trait ClaimedBatch: Send {
    fn events(&self) -> &[PendingEvent];
    async fn finish(self, outcome: &PassOutcome) -> Result<(), SourceError>;
}

/// Where a relay finds pending events: a SQL outbox table, or a document store's outbox.
#[async_trait::async_trait]
pub trait OutboxSource: Send + Sync + 'static {
    type Batch: ClaimedBatch;

    /// Claims up to `limit` pending events, oldest first.
    async fn claim(&self, limit: u64) -> Result<Self::Batch, SourceError>;

    /// Takes or renews the relay lease for `owner` until `until` (ms since the epoch), `now`
    /// being the current time; true when `owner` holds it. A source whose claims already exclude
    /// other replicas' (SQL's `SKIP LOCKED`) keeps the default: always held.
    async fn lease(&self, _owner: &str, _until: i64, _now: i64) -> Result<bool, SourceError> {
        Ok(true)
    }

    /// Whether this source takes turns through [`OutboxSource::lease`].
    fn leased(&self) -> bool {
        false
    }

    /// Deletes events published before `before` (ms since the epoch).
    async fn purge_published(&self, before: i64) -> Result<(), SourceError>;

    /// For logs: the table or collection.
    fn name(&self) -> &str;
}

/// A relational domain's outbox table as a relay source.
pub struct SqlOutbox {
    outbox: Outbox,
    db: DatabaseConnection,
}

impl SqlOutbox {
    pub fn new(outbox: Outbox, db: DatabaseConnection) -> Self {
        Self { outbox, db }
    }
}

/// The rows of one pass, claimed inside its transaction (PostgreSQL: locked, skipped by other
/// replicas) until the outcome is written.
pub struct SqlBatch {
    txn: crate::db::WriteTransaction,
    table: String,
    events: Vec<PendingEvent>,
}

#[async_trait::async_trait]
impl ClaimedBatch for SqlBatch {
    fn events(&self) -> &[PendingEvent] {
        &self.events
    }

    async fn finish(self, outcome: &PassOutcome) -> Result<(), SourceError> {
        let table = Alias::new(&self.table);
        let backend = self.txn.get_database_backend();
        let seqs = |ids: &[&String]| -> Vec<i64> {
            ids.iter().filter_map(|id| id.parse::<i64>().ok()).collect()
        };
        let published = seqs(&outcome.published.iter().collect::<Vec<_>>());
        if !published.is_empty() {
            let update = Query::update()
                .table(table.clone())
                .value(Alias::new("published_at"), now_millis())
                .value(Alias::new("last_error"), Option::<String>::None)
                .and_where(Expr::col(Alias::new("seq")).is_in(published))
                .to_owned();
            self.txn.execute(backend.build(&update)).await?;
        }
        for (id, error, next_attempt_at) in &outcome.failed {
            let Ok(seq) = id.parse::<i64>() else { continue };
            let update = Query::update()
                .table(table.clone())
                .value(
                    Alias::new("attempts"),
                    Expr::col(Alias::new("attempts")).add(1),
                )
                .value(Alias::new("last_error"), error.to_owned())
                .value(Alias::new("next_attempt_at"), *next_attempt_at)
                .and_where(Expr::col(Alias::new("seq")).eq(seq))
                .to_owned();
            self.txn.execute(backend.build(&update)).await?;
        }
        self.txn.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl OutboxSource for SqlOutbox {
    type Batch = SqlBatch;

    async fn claim(&self, limit: u64) -> Result<SqlBatch, SourceError> {
        // It reads the pending rows, then marks them: a writer from the start (see
        // `db::begin_write`).
        let txn = crate::db::begin_write(&self.db).await?;
        let backend = txn.get_database_backend();
        let mut select = Query::select();
        select
            .columns([
                Alias::new("seq"),
                Alias::new("topic"),
                Alias::new("envelope"),
                Alias::new("attempts"),
                Alias::new("next_attempt_at"),
            ])
            .from(Alias::new(&self.outbox.table))
            .and_where(Expr::col(Alias::new("published_at")).is_null())
            // Parked events (undecodable) are left for an operator; they never block the rest.
            .and_where(Expr::col(Alias::new("next_attempt_at")).lt(PARKED))
            .order_by(Alias::new("seq"), Order::Asc)
            .limit(limit);
        if backend == DatabaseBackend::Postgres {
            // Replicas share the table: each claims rows no other replica holds.
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = PendingRow::find_by_statement(backend.build(&select))
            .all(&txn)
            .await?;
        Ok(SqlBatch {
            txn,
            table: self.outbox.table.clone(),
            events: rows
                .into_iter()
                .map(|row| PendingEvent {
                    id: row.seq.to_string(),
                    topic: row.topic,
                    envelope: row.envelope,
                    attempts: row.attempts,
                    next_attempt_at: row.next_attempt_at,
                })
                .collect(),
        })
    }

    async fn purge_published(&self, before: i64) -> Result<(), SourceError> {
        let delete = Query::delete()
            .from_table(Alias::new(&self.outbox.table))
            .and_where(Expr::col(Alias::new("published_at")).lt(before))
            .to_owned();
        self.db
            .execute(self.db.get_database_backend().build(&delete))
            .await?;
        Ok(())
    }

    fn name(&self) -> &str {
        &self.outbox.table
    }
}

/// Publishes an outbox's pending events to the bus: oldest first, stopping at the first failure
/// so that one aggregate's events are never published out of order, with exponential backoff,
/// at least once.
pub struct OutboxRelay<S: OutboxSource = SqlOutbox> {
    source: S,
    bus: SharedBus,
    config: RelayConfig,
    wake: Wake,
    owner: String,
    /// Until when (ms since the epoch) this relay's lease runs, as it last wrote it (0: not held).
    leased_until: AtomicI64,
}

/// Stops the relay when dropped or when [`RelayHandle::shutdown`] is called.
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RelayHandle {
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

enum Pass {
    /// Published everything that was due.
    Drained,
    /// Published a full batch; more may be waiting.
    More,
    /// The bus refused; wait this long.
    Backoff(Duration),
    /// Another replica holds the lease.
    NotLeader,
}

impl OutboxRelay<SqlOutbox> {
    /// The relay of a relational domain's outbox table.
    pub fn new(
        outbox: Outbox,
        db: DatabaseConnection,
        bus: SharedBus,
        config: RelayConfig,
    ) -> Self {
        let wake = outbox.waker();
        Self::over(SqlOutbox::new(outbox, db), bus, config, wake)
    }
}

impl<S: OutboxSource> OutboxRelay<S> {
    /// The relay of any outbox source; `wake` is what the source's writers call after a commit.
    pub fn over(source: S, bus: SharedBus, config: RelayConfig, wake: Wake) -> Self {
        Self {
            source,
            bus,
            config,
            wake,
            owner: uuid::Uuid::new_v4().to_string(),
            leased_until: AtomicI64::new(0),
        }
    }

    pub fn spawn(self) -> RelayHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut passes: u64 = 0;
            loop {
                let wait = match self.pass().await {
                    Ok(Pass::More) => Duration::ZERO,
                    Ok(Pass::Drained) => self.config.poll_interval,
                    Ok(Pass::Backoff(backoff)) => backoff,
                    Ok(Pass::NotLeader) => self.config.lease / 2,
                    Err(err) => {
                        tracing::warn!(error = %err, outbox = %self.source.name(), "outbox relay pass failed");
                        self.config.max_backoff.min(Duration::from_secs(2))
                    }
                };
                passes += 1;
                if passes.is_multiple_of(1000) {
                    let cutoff = now_millis() - self.config.retention.as_millis() as i64;
                    if let Err(err) = self.source.purge_published(cutoff).await {
                        tracing::warn!(error = %err, outbox = %self.source.name(), "outbox purge failed");
                    }
                }
                if *stopped.borrow() {
                    break;
                }
                if wait.is_zero() {
                    continue;
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = self.wake.notified() => {},
                    _ = tokio::time::sleep(wait) => {},
                }
            }
        });
        RelayHandle {
            stop,
            task: Some(task),
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(1, 16) as u32 - 1);
        (self.config.min_backoff * factor).min(self.config.max_backoff)
    }

    /// Whether this relay holds the lease for at least half its length more, renewing it (one
    /// write) only when less is left: a busy relay passes many times a second, and the lease
    /// must not cost a write each time.
    async fn hold_lease(&self) -> Result<bool, SourceError> {
        if !self.source.leased() {
            return Ok(true);
        }
        let now = now_millis();
        let length = self.config.lease.as_millis() as i64;
        if now + length / 2 < self.leased_until.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let until = now + length;
        let held = self.source.lease(&self.owner, until, now).await?;
        self.leased_until
            .store(if held { until } else { 0 }, Ordering::Relaxed);
        Ok(held)
    }

    /// One pass: claim due events in order, publish them, record the outcome with one write.
    async fn pass(&self) -> Result<Pass, SourceError> {
        if !self.hold_lease().await? {
            return Ok(Pass::NotLeader);
        }
        let batch = self.source.claim(self.config.batch_size).await?;
        if batch.events().is_empty() {
            batch.finish(&PassOutcome::default()).await?;
            return Ok(Pass::Drained);
        }
        let full = batch.events().len() as u64 == self.config.batch_size;
        let mut outcome = PassOutcome::default();
        let stopped = self.publish(batch.events(), &mut outcome).await;
        // One write marks the pass's published events, also when the pass stopped early; if it
        // fails they are published again (at least once, as ever).
        batch.finish(&outcome).await?;
        Ok(match stopped {
            Some(pass) => pass,
            None if full => Pass::More,
            None => Pass::Drained,
        })
    }

    /// Publishes the events in order until one cannot be; the pass to answer when it stopped
    /// early.
    async fn publish(&self, pending: &[PendingEvent], outcome: &mut PassOutcome) -> Option<Pass> {
        for row in pending {
            if row.next_attempt_at == PARKED {
                continue;
            }
            let event: EventEnvelope = match serde_json::from_str(&row.envelope) {
                Ok(event) => event,
                Err(err) => {
                    // A row we wrote ourselves and cannot read is a bug; park it, do not block
                    // the rest.
                    tracing::error!(id = %row.id, outbox = %self.source.name(), error = %err, "undecodable outbox event parked");
                    outcome
                        .failed
                        .push((row.id.clone(), err.to_string(), PARKED));
                    continue;
                }
            };
            let now = now_millis();
            if row.next_attempt_at > now {
                // Respect the backoff of an event that failed before.
                return Some(Pass::Backoff(Duration::from_millis(
                    (row.next_attempt_at - now) as u64,
                )));
            }
            match self.bus.publish(&row.topic, &event).await {
                Ok(()) => outcome.published.push(row.id.clone()),
                Err(err) => {
                    let attempts = row.attempts + 1;
                    let backoff = self.backoff(attempts);
                    tracing::warn!(
                        id = %row.id,
                        outbox = %self.source.name(),
                        attempts,
                        error = %err,
                        retry_in_ms = backoff.as_millis() as u64,
                        "event publish failed, will retry"
                    );
                    outcome.failed.push((
                        row.id.clone(),
                        err.to_string(),
                        now + backoff.as_millis() as i64,
                    ));
                    return Some(Pass::Backoff(backoff));
                }
            }
        }
        None
    }
}
