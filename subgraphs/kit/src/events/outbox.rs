//! The transactional outbox.
//!
//! A service writes its change and the change's event in ONE database transaction
//! ([`Outbox::enqueue`] takes the transaction). The [`OutboxRelay`] then publishes pending events
//! in order, marks them published, and retries with backoff while the broker is down, so no
//! accepted write loses its event. Delivery is at-least-once: consumers deduplicate on the
//! envelope id.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, LockBehavior, LockType, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, FromQueryResult};
use tokio::sync::{watch, Notify};

use super::{EventEnvelope, SharedBus};

/// One domain's outbox table (`<domain>_outbox`, created by the domain's migrations), so that every domain can share one embedded
/// database file without sharing a table.
#[derive(Clone)]
pub struct Outbox {
    table: String,
    topic: String,
    wake: Arc<Notify>,
}

#[derive(Debug, FromQueryResult)]
struct PendingRow {
    seq: i64,
    topic: String,
    envelope: String,
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
            wake: Arc::new(Notify::new()),
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

    /// Tells the relay to look now (call after the transaction committed).
    pub fn wake(&self) {
        self.wake.notify_one();
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
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(500),
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Publishes an outbox's pending events to the bus.
pub struct OutboxRelay {
    outbox: Outbox,
    db: DatabaseConnection,
    bus: SharedBus,
    config: RelayConfig,
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
}

impl OutboxRelay {
    pub fn new(
        outbox: Outbox,
        db: DatabaseConnection,
        bus: SharedBus,
        config: RelayConfig,
    ) -> Self {
        Self {
            outbox,
            db,
            bus,
            config,
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
                    Err(err) => {
                        tracing::warn!(error = %err, table = %self.outbox.table, "outbox relay pass failed");
                        self.config.max_backoff.min(Duration::from_secs(2))
                    }
                };
                passes += 1;
                if passes.is_multiple_of(1000) {
                    if let Err(err) = self.purge_published().await {
                        tracing::warn!(error = %err, "outbox purge failed");
                    }
                }
                if wait.is_zero() {
                    if *stopped.borrow() {
                        break;
                    }
                    continue;
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = self.outbox.wake.notified() => {},
                    _ = tokio::time::sleep(wait) => {},
                }
            }
        });
        RelayHandle {
            stop,
            task: Some(task),
        }
    }

    /// One pass: claim due events in order, publish them, record the outcome. Stops at the first
    /// failure so that one aggregate's events are never published out of order.
    async fn pass(&self) -> Result<Pass, DbErr> {
        let table = Alias::new(&self.outbox.table);
        // It reads the pending rows, then marks them: a writer from the start (see `db::begin_write`).
        let txn = crate::db::begin_write(&self.db).await?;
        let backend = txn.get_database_backend();
        let mut select = Query::select();
        select
            .columns([
                Alias::new("seq"),
                Alias::new("topic"),
                Alias::new("envelope"),
            ])
            .from(table.clone())
            .and_where(Expr::col(Alias::new("published_at")).is_null())
            .order_by(Alias::new("seq"), Order::Asc)
            .limit(self.config.batch_size);
        if backend == DatabaseBackend::Postgres {
            // Replicas share the table: each claims rows no other replica holds.
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = PendingRow::find_by_statement(backend.build(&select))
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(Pass::Drained);
        }
        let now = now_millis();
        let full = rows.len() as u64 == self.config.batch_size;
        let mut outcome = if full { Pass::More } else { Pass::Drained };
        for row in rows {
            let event: EventEnvelope = match serde_json::from_str(&row.envelope) {
                Ok(event) => event,
                Err(err) => {
                    // A row we wrote ourselves and cannot read is a bug; park it, do not block the rest.
                    tracing::error!(seq = row.seq, error = %err, "undecodable outbox row parked");
                    self.record_failure(&txn, row.seq, &err.to_string(), i64::MAX)
                        .await?;
                    continue;
                }
            };
            // Respect the backoff of a row that failed before.
            let due: Option<(i64, i32)> = self.schedule_of(&txn, row.seq).await?;
            if let Some((next_attempt_at, _)) = due {
                if next_attempt_at > now {
                    outcome = Pass::Backoff(Duration::from_millis((next_attempt_at - now) as u64));
                    break;
                }
            }
            match self.bus.publish(&row.topic, &event).await {
                Ok(()) => {
                    let update = Query::update()
                        .table(table.clone())
                        .value(Alias::new("published_at"), now_millis())
                        .value(Alias::new("last_error"), Option::<String>::None)
                        .and_where(Expr::col(Alias::new("seq")).eq(row.seq))
                        .to_owned();
                    txn.execute(backend.build(&update)).await?;
                }
                Err(err) => {
                    let attempts = due.map(|(_, a)| a).unwrap_or(0) + 1;
                    let backoff = self.backoff(attempts);
                    tracing::warn!(
                        seq = row.seq,
                        attempts,
                        error = %err,
                        retry_in_ms = backoff.as_millis() as u64,
                        "event publish failed, will retry"
                    );
                    self.record_failure(
                        &txn,
                        row.seq,
                        &err.to_string(),
                        now_millis() + backoff.as_millis() as i64,
                    )
                    .await?;
                    outcome = Pass::Backoff(backoff);
                    break;
                }
            }
        }
        txn.commit().await?;
        Ok(outcome)
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(1, 16) as u32 - 1);
        (self.config.min_backoff * factor).min(self.config.max_backoff)
    }

    async fn schedule_of<C: ConnectionTrait>(
        &self,
        conn: &C,
        seq: i64,
    ) -> Result<Option<(i64, i32)>, DbErr> {
        #[derive(FromQueryResult)]
        struct Schedule {
            next_attempt_at: i64,
            attempts: i32,
        }
        let select = Query::select()
            .columns([Alias::new("next_attempt_at"), Alias::new("attempts")])
            .from(Alias::new(&self.outbox.table))
            .and_where(Expr::col(Alias::new("seq")).eq(seq))
            .to_owned();
        Ok(
            Schedule::find_by_statement(conn.get_database_backend().build(&select))
                .one(conn)
                .await?
                .map(|s| (s.next_attempt_at, s.attempts)),
        )
    }

    async fn record_failure<C: ConnectionTrait>(
        &self,
        conn: &C,
        seq: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), DbErr> {
        let update = Query::update()
            .table(Alias::new(&self.outbox.table))
            .value(
                Alias::new("attempts"),
                Expr::col(Alias::new("attempts")).add(1),
            )
            .value(Alias::new("last_error"), error.to_owned())
            .value(Alias::new("next_attempt_at"), next_attempt_at)
            .and_where(Expr::col(Alias::new("seq")).eq(seq))
            .to_owned();
        conn.execute(conn.get_database_backend().build(&update))
            .await?;
        Ok(())
    }

    async fn purge_published(&self) -> Result<(), DbErr> {
        let cutoff = now_millis() - self.config.retention.as_millis() as i64;
        let delete = Query::delete()
            .from_table(Alias::new(&self.outbox.table))
            .and_where(Expr::col(Alias::new("published_at")).lt(cutoff))
            .to_owned();
        self.db
            .execute(self.db.get_database_backend().build(&delete))
            .await?;
        Ok(())
    }
}
