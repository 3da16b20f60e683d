//! Durable event consumers: a domain acts on other domains' events exactly once.
//!
//! A [`Consumer`] reads its topics as a consumer group (Kafka in production; the in-process
//! log buses in the one-process mode and tests, [`super::DurableBus`] keeping the log and the
//! positions in the state directory), and for each event, in one atomic write of its
//! [`InboxStore`]: checks the inbox, runs the [`EventHandler`]'s effect, records the event in
//! the inbox, commits. Only then is the message settled, and settled positions are committed to
//! the bus in batches (every [`ConsumerConfig::commit_every`] events or
//! [`ConsumerConfig::commit_interval`], when idle, before a Kafka rebalance takes partitions
//! away, and at shutdown). A crash between the effect and the position commit means the
//! message comes again, and the inbox skips it: every effect happens once.
//!
//! A store whose commit only queues a batch ([`InboxStore::defers_writes`], analytics'
//! facts) has its events' positions held until [`InboxStore::flush`] stored the batch: the
//! position commit never runs ahead of the data.
//!
//! A failing handler is retried with exponential backoff; after
//! [`ConsumerConfig::max_attempts`] the event is dead-lettered (kept with its error in the
//! store's dead letters) and the consumer moves on. A message that is not an event envelope,
//! and an event the handler rejects ([`HandlerError::Rejected`]), go to the dead letters at
//! once. Events are handled one at a time in the order of their partition (one aggregate's
//! events share a key, so a partition): an aggregate's events are handled in order, and a
//! dead-lettered event does not hold up the ones after it.
//!
//! # Adding a consumer to a relational domain
//!
//! 1. Migrations: add `erp_migrations::inbox::CreateInbox { domain: "finance", name:
//!    "m0000_finance_inbox" }` to the domain's migrator (creates `finance_inbox` and
//!    `finance_dead_letters`, like `CreateOutbox` creates the outbox).
//! 2. A handler (in the domain's `events.rs`, calling its `app` use cases' store functions):
//!
//! ```ignore
//! struct BillTimesheets { outbox: Outbox }
//!
//! #[async_trait::async_trait]
//! impl EventHandler<WriteTransaction> for BillTimesheets {
//!     fn wants(&self, event: &EventEnvelope) -> bool {
//!         event.event_type == "timesheet.approved"
//!     }
//!
//!     async fn handle(&self, txn: &mut WriteTransaction, event: &EventEnvelope) -> Result<(), HandlerError> {
//!         let approved: TimesheetApproved = event.decode_payload()?; // a bad payload: dead letter
//!         store::billing::add_lines(&*txn, &approved).await?;         // DbErr: retried
//!         self.outbox.enqueue(&*txn, &follow_up_event).await?;       // effects that publish
//!         Ok(())
//!     }
//! }
//! ```
//!
//! 3. Start it with the service (`start()`), keep the handle in the `<Domain>App` (dropping
//!    it stops the consumer):
//!
//! ```ignore
//! let consumer = Consumer::new(
//!     ConsumerConfig::new("erp.finance.billing", &["erp.pmo.events"]),
//!     runtime.bus.clone(),
//!     SqlInbox::new("finance", runtime.db.clone()).waking(outbox.waker()),
//!     BillTimesheets { outbox: outbox.clone() },
//!     &runtime.metrics,
//! )
//! .spawn();
//! ```
//!
//! A domain's `start()` takes a [`ConsumerOptions`] (group-name suffix, tenants served) and
//! builds each group's settings with `options.config(GROUP, &[topic])`: the consumer, not the
//! handler, leaves other tenants' events alone.
//!
//! Group names: `erp.<domain>.<purpose>` (the consuming domain, then what the consumer does).
//! Each group sees every event of its topics once; two groups are independent. A group new to
//! a topic starts at its oldest retained event, so a handler must accept history.
//!
//! A document-store domain implements [`InboxStore`] over its own transactions and its
//! handlers take its write type instead of a [`crate::db::WriteTransaction`].

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use sea_orm::DbErr;
use tokio::sync::watch;

use super::inbox::{is_unreachable, DeadLetter, FailureKind, InboxError, InboxStore};
use super::{Delivery, EventEnvelope, SharedBus, Subscription};
use crate::telemetry::Metrics;

/// Why a handler did not do its effect; decides what the consumer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// Worth another try (a conflict, a refused statement): retried with backoff, then
    /// dead-lettered after [`ConsumerConfig::max_attempts`].
    Failed(String),
    /// This event can never be handled (its payload does not fit, it breaks the contract):
    /// dead-lettered at once.
    Rejected(String),
    /// A backend is unreachable: retried with backoff for as long as it takes, without
    /// counting attempts (an outage must not fill the dead letters).
    Unavailable(String),
}

impl HandlerError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub fn rejected(message: impl Into<String>) -> Self {
        Self::Rejected(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Failed(message) | Self::Rejected(message) | Self::Unavailable(message) => message,
        }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HandlerError {}

impl From<DbErr> for HandlerError {
    fn from(err: DbErr) -> Self {
        if is_unreachable(&err) {
            Self::Unavailable(err.to_string())
        } else {
            Self::Failed(err.to_string())
        }
    }
}

impl From<InboxError> for HandlerError {
    fn from(err: InboxError) -> Self {
        if err.unavailable {
            Self::Unavailable(err.message)
        } else {
            Self::Failed(err.message)
        }
    }
}

/// What a consumer does with one event, inside the inbox store's open write `W` (a
/// [`crate::db::WriteTransaction`] for a [`super::SqlInbox`]). Write only through `write`: the
/// effect commits with the inbox record or not at all. Enqueue follow-up events with
/// [`super::Outbox::enqueue`] on the same write.
#[async_trait::async_trait]
pub trait EventHandler<W: Send>: Send + Sync + 'static {
    /// Whether this consumer acts on `event` at all. Others are settled without a write
    /// (counted as ignored): a topic carries all of a domain's event types.
    fn wants(&self, event: &EventEnvelope) -> bool {
        let _ = event;
        true
    }

    async fn handle(&self, write: &mut W, event: &EventEnvelope) -> Result<(), HandlerError>;
}

/// A consumer group's settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `erp.<domain>.<purpose>`.
    pub group: String,
    pub topics: Vec<String>,
    /// Handler attempts before an event is dead-lettered (at least one is made).
    pub max_attempts: u32,
    /// Backoff between attempts: doubles from `min_backoff` up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Settled positions are committed to the bus after this many events...
    pub commit_every: u64,
    /// ...or this long after the last commit, and whenever no message came for this long.
    pub commit_interval: Duration,
    /// Inbox records are kept this long (a redelivery is never older).
    pub inbox_retention: Duration,
    /// Only these tenants' events reach the handler (a deployment cell serving some tenants,
    /// or a test's own tenants on a shared broker); the others are settled without a write,
    /// counted as ignored, like the event types the handler does not want. `None`: every
    /// tenant.
    pub tenants: Option<Vec<String>>,
}

impl ConsumerConfig {
    pub fn new(group: impl Into<String>, topics: &[&str]) -> Self {
        Self {
            group: group.into(),
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            max_attempts: 5,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            commit_every: 100,
            commit_interval: Duration::from_secs(1),
            inbox_retention: Duration::from_secs(30 * 24 * 3600),
            tenants: None,
        }
    }

    /// Whether this group handles `tenant_id`'s events (see [`ConsumerConfig::tenants`]).
    pub fn serves(&self, tenant_id: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|tenants| tenants.iter().any(|tenant| tenant == tenant_id))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.clamp(1, 16) - 1);
        self.min_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What a domain's `start()` takes for all its consumer groups: a suffix for the group names
/// and the tenants served (a test's own groups and tenants on a shared broker). The default:
/// the deployment's groups, every tenant.
#[derive(Debug, Clone, Default)]
pub struct ConsumerOptions {
    /// Appended to every group name (a test on a shared broker reads as a group of its own).
    pub group_suffix: String,
    /// See [`ConsumerConfig::tenants`]; `None`: every tenant.
    pub tenants: Option<Vec<String>>,
}

impl ConsumerOptions {
    /// The settings of the group `group` (suffixed) over `topics`, serving these tenants.
    pub fn config(&self, group: &str, topics: &[&str]) -> ConsumerConfig {
        ConsumerConfig {
            tenants: self.tenants.clone(),
            ..ConsumerConfig::new(format!("{group}{}", self.group_suffix), topics)
        }
    }
}

/// The consumers' Prometheus metrics (part of [`Metrics`]), labelled by group and topic.
#[derive(Clone)]
pub struct ConsumerMetrics {
    /// `erp_events_consumed_total`: messages received (redeliveries included).
    pub consumed: IntCounterVec,
    /// `erp_events_handled_total`: effects committed.
    pub handled: IntCounterVec,
    /// `erp_events_duplicates_total`: skipped, the inbox had them (or their dead letter).
    pub duplicates: IntCounterVec,
    /// `erp_events_ignored_total`: event types the handler does not want, and events of
    /// tenants the group does not serve.
    pub ignored: IntCounterVec,
    /// `erp_events_retried_total`: attempts after a failure.
    pub retried: IntCounterVec,
    /// `erp_events_dead_lettered_total`.
    pub dead_lettered: IntCounterVec,
    /// `erp_events_consumer_lag{group,topic,partition}`: messages after the committed position,
    /// as the bus reports it.
    pub lag: IntGaugeVec,
}

impl ConsumerMetrics {
    pub(crate) fn register(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| {
            let counter = IntCounterVec::new(Opts::new(name, help), &["group", "topic"])
                .expect("static metric definition");
            let _ = registry.register(Box::new(counter.clone()));
            counter
        };
        let lag = IntGaugeVec::new(
            Opts::new(
                "events_consumer_lag",
                "Messages after the consumer group's committed position",
            ),
            &["group", "topic", "partition"],
        )
        .expect("static metric definition");
        let _ = registry.register(Box::new(lag.clone()));
        Self {
            consumed: counter("events_consumed_total", "Messages received by consumers"),
            handled: counter("events_handled_total", "Events whose effect committed"),
            duplicates: counter(
                "events_duplicates_total",
                "Events skipped because the inbox had them",
            ),
            ignored: counter(
                "events_ignored_total",
                "Events of types the consumer ignores",
            ),
            retried: counter("events_retried_total", "Handler attempts after a failure"),
            dead_lettered: counter("events_dead_lettered_total", "Messages dead-lettered"),
            lag,
        }
    }

    /// The counts of `group` over `topics`, as exported (the lag is the consumer's own:
    /// [`ConsumerHandle::stats`]).
    pub fn stats(&self, group: &str, topics: &[String]) -> ConsumerStats {
        let sum = |counter: &IntCounterVec| -> u64 {
            topics
                .iter()
                .map(|topic| counter.with_label_values(&[group, topic]).get())
                .sum()
        };
        ConsumerStats {
            consumed: sum(&self.consumed),
            handled: sum(&self.handled),
            duplicates: sum(&self.duplicates),
            ignored: sum(&self.ignored),
            retried: sum(&self.retried),
            dead_lettered: sum(&self.dead_lettered),
            lag: None,
        }
    }
}

/// A consumer group's counts in this process (see [`ConsumerMetrics`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    pub consumed: u64,
    pub handled: u64,
    pub duplicates: u64,
    pub ignored: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Messages after the committed positions over all partitions; `None` until the bus
    /// reported it.
    pub lag: Option<i64>,
}

/// A consumer group's consumer, ready to [`spawn`](Consumer::spawn).
pub struct Consumer<S: InboxStore, H: EventHandler<S::Write>> {
    config: ConsumerConfig,
    bus: SharedBus,
    store: S,
    handler: H,
    metrics: ConsumerMetrics,
    /// The last lag reported over all partitions ([`UNKNOWN_LAG`] before the first report).
    lag: Arc<AtomicI64>,
}

const UNKNOWN_LAG: i64 = -1;

/// Runs while held; dropping it (or [`ConsumerHandle::shutdown`]) stops the consumer after the
/// event in hand, committing its settled positions.
pub struct ConsumerHandle {
    group: String,
    topics: Vec<String>,
    metrics: ConsumerMetrics,
    lag: Arc<AtomicI64>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ConsumerHandle {
    pub fn group(&self) -> &str {
        &self.group
    }

    /// This group's counts in this process (readiness, tests).
    pub fn stats(&self) -> ConsumerStats {
        let lag = self.lag.load(Ordering::Relaxed);
        ConsumerStats {
            lag: (lag != UNKNOWN_LAG).then_some(lag),
            ..self.metrics.stats(&self.group, &self.topics)
        }
    }

    /// A reader of this group's last reported lag that outlives the handle (a job that acts
    /// only once the consumer has caught up).
    pub fn lag_reader(&self) -> LagReader {
        LagReader(self.lag.clone())
    }

    /// Stops after the event in hand and commits the settled positions.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops at once, as a crash would: the event in hand is abandoned mid-transaction (rolled
    /// back) and no position is committed, so everything since the last commit comes again.
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The last lag a consumer reported over all its partitions ([`ConsumerHandle::lag_reader`]).
#[derive(Clone)]
pub struct LagReader(Arc<AtomicI64>);

impl LagReader {
    /// None until the bus reported one.
    pub fn lag(&self) -> Option<i64> {
        let lag = self.0.load(Ordering::Relaxed);
        (lag != UNKNOWN_LAG).then_some(lag)
    }
}

/// What became of one message.
enum Settled {
    /// Done with: its position may be committed.
    Yes,
    /// The consumer was stopped before it was done with it.
    Stopped,
}

/// The subscription of a running consumer; abandoned (nothing committed) if the task is
/// aborted, committed if the loop ends.
struct Held {
    subscription: Box<dyn Subscription>,
    graceful: bool,
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.graceful {
            self.subscription.abandon();
        }
    }
}

/// The positions of events whose writes a store deferred ([`InboxStore::defers_writes`]):
/// the last one per partition (a partition is handled in order), settled once flushed.
#[derive(Default)]
struct Unflushed(std::collections::BTreeMap<(String, i32), i64>);

impl Unflushed {
    fn hold(&mut self, delivery: &Delivery) {
        let position = self
            .0
            .entry((delivery.topic.clone(), delivery.partition))
            .or_insert(delivery.offset);
        *position = (*position).max(delivery.offset);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn settle(&mut self, subscription: &mut dyn Subscription) {
        for ((topic, partition), offset) in std::mem::take(&mut self.0) {
            subscription.settle(&Delivery {
                topic,
                partition,
                offset,
                key: None,
                payload: Vec::new(),
            });
        }
    }
}

/// Waits until a stop is requested (or the handle is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

impl<S: InboxStore, H: EventHandler<S::Write>> Consumer<S, H> {
    pub fn new(
        config: ConsumerConfig,
        bus: SharedBus,
        store: S,
        handler: H,
        metrics: &Metrics,
    ) -> Self {
        Self {
            config,
            bus,
            store,
            handler,
            metrics: metrics.consumers.clone(),
            lag: Arc::new(AtomicI64::new(UNKNOWN_LAG)),
        }
    }

    pub fn spawn(self) -> ConsumerHandle {
        let (stop, stopped) = watch::channel(false);
        let group = self.config.group.clone();
        let topics = self.config.topics.clone();
        let metrics = self.metrics.clone();
        let lag = self.lag.clone();
        ConsumerHandle {
            group,
            topics,
            metrics,
            lag,
            stop,
            task: Some(tokio::spawn(self.run(stopped))),
        }
    }

    /// Sleeps `wait`; true when a stop was requested meanwhile.
    async fn pause(&self, stopped: &mut watch::Receiver<bool>, wait: Duration) -> bool {
        tokio::select! {
            _ = stop_requested(stopped) => true,
            _ = tokio::time::sleep(wait) => *stopped.borrow(),
        }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let group = self.config.group.as_str();
        let topics: Vec<&str> = self.config.topics.iter().map(String::as_str).collect();
        let mut failures = 0;
        let subscription = loop {
            match self.bus.consume(&topics, group).await {
                Ok(subscription) => break subscription,
                Err(err) => {
                    failures += 1;
                    tracing::warn!(group, error = %err, "consumer cannot subscribe yet");
                    if self
                        .pause(&mut stopped, self.config.backoff(failures))
                        .await
                    {
                        return;
                    }
                }
            }
        };
        let mut held = Held {
            subscription,
            graceful: false,
        };
        tracing::info!(group, topics = ?topics, bus = self.bus.kind(), "consumer started");
        self.purge_inbox().await;
        let mut unflushed = Unflushed::default();
        let mut uncommitted: u64 = 0;
        let mut handled_since_purge: u64 = 0;
        let mut last_commit = Instant::now();
        loop {
            if *stopped.borrow() {
                break;
            }
            let next = tokio::select! {
                _ = stop_requested(&mut stopped) => break,
                next = tokio::time::timeout(self.config.commit_interval, held.subscription.next()) => next,
            };
            match next {
                // Idle: commit what was settled, refresh the lag.
                Err(_elapsed) => {
                    if uncommitted > 0 {
                        self.commit(
                            &mut held,
                            &mut unflushed,
                            &mut uncommitted,
                            &mut last_commit,
                        )
                        .await;
                    }
                    self.report_lag(&held).await;
                }
                Ok(Err(err)) => {
                    tracing::warn!(group, error = %err, "consumer receive failed");
                    if self.pause(&mut stopped, self.config.min_backoff).await {
                        break;
                    }
                }
                Ok(Ok(delivery)) => {
                    match self.settle(&delivery, &mut stopped).await {
                        Settled::Yes => {
                            if self.store.defers_writes() {
                                unflushed.hold(&delivery);
                            } else {
                                held.subscription.settle(&delivery);
                            }
                            uncommitted += 1;
                            handled_since_purge += 1;
                        }
                        Settled::Stopped => break,
                    }
                    if uncommitted >= self.config.commit_every
                        || last_commit.elapsed() >= self.config.commit_interval
                    {
                        self.commit(
                            &mut held,
                            &mut unflushed,
                            &mut uncommitted,
                            &mut last_commit,
                        )
                        .await;
                        self.report_lag(&held).await;
                    }
                    if handled_since_purge >= 10_000 {
                        handled_since_purge = 0;
                        self.purge_inbox().await;
                    }
                }
            }
        }
        self.commit(
            &mut held,
            &mut unflushed,
            &mut uncommitted,
            &mut last_commit,
        )
        .await;
        held.graceful = true;
        tracing::info!(group, "consumer stopped");
    }

    async fn commit(
        &self,
        held: &mut Held,
        unflushed: &mut Unflushed,
        uncommitted: &mut u64,
        last_commit: &mut Instant,
    ) {
        if !unflushed.is_empty() {
            if let Err(err) = self.store.flush().await {
                // The events stay unsettled: committed later, or delivered again after a crash.
                tracing::warn!(group = %self.config.group, error = %err, "consumer writes not stored yet, positions held");
                *last_commit = Instant::now();
                return;
            }
            unflushed.settle(held.subscription.as_mut());
        }
        match held.subscription.commit().await {
            Ok(()) => *uncommitted = 0,
            // Not fatal: the inbox skips what comes again.
            Err(err) => {
                tracing::warn!(group = %self.config.group, error = %err, "consumer positions not committed")
            }
        }
        *last_commit = Instant::now();
    }

    async fn report_lag(&self, held: &Held) {
        let lags = held.subscription.lag().await;
        if !lags.is_empty() {
            self.lag
                .store(lags.iter().map(|lag| lag.lag).sum(), Ordering::Relaxed);
        }
        for lag in lags {
            self.metrics
                .lag
                .with_label_values(&[
                    self.config.group.as_str(),
                    lag.topic.as_str(),
                    lag.partition.to_string().as_str(),
                ])
                .set(lag.lag);
        }
    }

    async fn purge_inbox(&self) {
        let retention = chrono::Duration::from_std(self.config.inbox_retention)
            .unwrap_or(chrono::Duration::MAX);
        let before = Utc::now().checked_sub_signed(retention).unwrap_or_default();
        if let Err(err) = self.store.purge_handled(before).await {
            tracing::warn!(group = %self.config.group, error = %err, "inbox purge failed");
        }
    }

    fn count(&self, counter: &IntCounterVec, topic: &str) {
        counter
            .with_label_values(&[self.config.group.as_str(), topic])
            .inc();
    }

    /// Handles, skips or dead-letters one message.
    async fn settle(&self, delivery: &Delivery, stopped: &mut watch::Receiver<bool>) -> Settled {
        let topic = delivery.topic.as_str();
        self.count(&self.metrics.consumed, topic);
        let event = match serde_json::from_slice::<EventEnvelope>(&delivery.payload) {
            Ok(event) => event,
            Err(err) => {
                let now = Utc::now();
                let letter = DeadLetter {
                    group: self.config.group.clone(),
                    message_key: delivery.position(),
                    topic: delivery.topic.clone(),
                    partition: delivery.partition,
                    offset: delivery.offset,
                    event_id: None,
                    event_type: None,
                    tenant_id: None,
                    payload: String::from_utf8_lossy(&delivery.payload).into_owned(),
                    failure: FailureKind::Undecodable,
                    error: format!("not an event envelope: {err}"),
                    attempts: 1,
                    first_failed_at: now,
                    last_failed_at: now,
                };
                return self.bury(letter, stopped).await;
            }
        };
        if !self.config.serves(&event.tenant_id) || !self.handler.wants(&event) {
            self.count(&self.metrics.ignored, topic);
            return Settled::Yes;
        }
        let mut attempts: u32 = 0;
        let mut outages: u32 = 0;
        let mut first_failed_at: Option<DateTime<Utc>> = None;
        loop {
            let error = match self.attempt(topic, &event).await {
                Ok(true) => {
                    self.count(&self.metrics.handled, topic);
                    return Settled::Yes;
                }
                Ok(false) => {
                    self.count(&self.metrics.duplicates, topic);
                    return Settled::Yes;
                }
                Err(error) => error,
            };
            let wait = match &error {
                HandlerError::Unavailable(message) => {
                    outages += 1;
                    tracing::warn!(group = %self.config.group, event_id = %event.id, error = %message, "consumer backend unavailable, will retry");
                    self.config.backoff(outages)
                }
                HandlerError::Failed(message) | HandlerError::Rejected(message) => {
                    attempts += 1;
                    let now = Utc::now();
                    let first = *first_failed_at.get_or_insert(now);
                    let rejected = matches!(error, HandlerError::Rejected(_));
                    if rejected || attempts >= self.config.max_attempts {
                        let letter = DeadLetter {
                            group: self.config.group.clone(),
                            message_key: event.id.to_string(),
                            topic: delivery.topic.clone(),
                            partition: delivery.partition,
                            offset: delivery.offset,
                            event_id: Some(event.id),
                            event_type: Some(event.event_type.clone()),
                            tenant_id: Some(event.tenant_id.clone()),
                            payload: String::from_utf8_lossy(&delivery.payload).into_owned(),
                            failure: if rejected {
                                FailureKind::Rejected
                            } else {
                                FailureKind::Exhausted
                            },
                            error: message.clone(),
                            attempts,
                            first_failed_at: first,
                            last_failed_at: now,
                        };
                        return self.bury(letter, stopped).await;
                    }
                    tracing::warn!(group = %self.config.group, event_id = %event.id, attempts, error = %message, "event handler failed, will retry");
                    self.config.backoff(attempts)
                }
            };
            self.count(&self.metrics.retried, topic);
            if self.pause(stopped, wait).await {
                return Settled::Stopped;
            }
        }
    }

    /// One try: the effect and its inbox record in one write. Ok(false): done before.
    async fn attempt(&self, topic: &str, event: &EventEnvelope) -> Result<bool, HandlerError> {
        let group = self.config.group.as_str();
        let mut write = self.store.begin().await?;
        match self.store.seen(&mut write, group, event).await {
            Ok(false) => {}
            Ok(true) => {
                self.store.rollback(write).await;
                return Ok(false);
            }
            Err(err) => {
                self.store.rollback(write).await;
                return Err(err.into());
            }
        }
        // A panicking handler is a failed attempt, not a dead consumer.
        let handled = AssertUnwindSafe(self.handler.handle(&mut write, event))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(HandlerError::failed(format!(
                    "the handler panicked: {message}"
                )))
            });
        if let Err(err) = handled {
            self.store.rollback(write).await;
            return Err(err);
        }
        match self.store.record(&mut write, group, topic, event).await {
            Ok(true) => {}
            Ok(false) => {
                self.store.rollback(write).await;
                return Ok(false);
            }
            Err(err) => {
                self.store.rollback(write).await;
                return Err(err.into());
            }
        }
        self.store.commit(write).await?;
        Ok(true)
    }

    /// Keeps `letter` (retrying while the store is down); the message is then done with.
    async fn bury(&self, letter: DeadLetter, stopped: &mut watch::Receiver<bool>) -> Settled {
        let mut failures = 0;
        loop {
            match self.store.dead_letter(&letter).await {
                Ok(new) => {
                    let counter = if new {
                        tracing::error!(
                            group = %letter.group,
                            key = %letter.message_key,
                            failure = letter.failure.as_str(),
                            attempts = letter.attempts,
                            error = %letter.error,
                            "message dead-lettered"
                        );
                        &self.metrics.dead_lettered
                    } else {
                        &self.metrics.duplicates
                    };
                    self.count(counter, &letter.topic);
                    return Settled::Yes;
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(group = %letter.group, key = %letter.message_key, error = %err, "dead letter not kept, will retry");
                    if self.pause(stopped, self.config.backoff(failures)).await {
                        return Settled::Stopped;
                    }
                }
            }
        }
    }
}
