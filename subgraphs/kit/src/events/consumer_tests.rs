//! The consumer's contract on the embedded backends: SQLite inbox, in-memory and SQLite logs,
//! and a store that is not SQL (the document domains' side of [`InboxStore`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use serde_json::json;

use super::*;
use crate::db::WriteTransaction;
use crate::telemetry::Metrics;
use crate::tenant::TenantId;

const TOPIC: &str = "erp.producer.events";
const GROUP: &str = "erp.consumer.effects";
/// The event whose handling panics.
const PANICS: i64 = 666;

fn sqlite_file() -> String {
    let path = std::env::temp_dir().join(format!(
        "erp-kit-consumer-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A consumer domain's database: its inbox, dead letters and an effect table (deliberately
/// without a unique key: only the inbox keeps an effect from happening twice).
async fn consumer_db() -> DatabaseConnection {
    let db = crate::db::connect(&sqlite_file()).await.unwrap();
    erp_migrations::inbox::CreateInbox {
        domain: "consumer",
        name: "m0000_consumer_inbox",
    }
    .up(&SchemaManager::new(&db))
    .await
    .unwrap();
    db.execute_unprepared(
        "CREATE TABLE effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, n INTEGER NOT NULL)",
    )
    .await
    .unwrap();
    db
}

/// (event id, aggregate, n) of every effect row, in the order they were written.
async fn effects(db: &DatabaseConnection) -> Vec<(String, String, i64)> {
    db.query_all(Statement::from_string(
        DatabaseBackend::Sqlite,
        "SELECT event_id, aggregate_id, n FROM effects ORDER BY seq",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        (
            row.try_get("", "event_id").unwrap(),
            row.try_get("", "aggregate_id").unwrap(),
            row.try_get("", "n").unwrap(),
        )
    })
    .collect()
}

fn event(aggregate: &str, n: i64) -> EventEnvelope {
    EventEnvelope::new(
        &TenantId::from_claim("tnt_consumer"),
        "thing.happened",
        aggregate,
        json!({ "n": n }),
    )
    .unwrap()
}

#[derive(serde::Deserialize)]
struct Happened {
    n: i64,
}

/// Writes one effect row per event; fails the first `fail_first[n]` attempts of event `n`,
/// and every attempt of the events in `always_fail`; parks (never returns) on event `park_on`.
#[derive(Default, Clone)]
struct RecordEffect {
    fail_first: Arc<Mutex<HashMap<i64, u32>>>,
    always_fail: HashSet<i64>,
    park_on: Option<i64>,
    parked: Arc<tokio::sync::Notify>,
    attempts: Arc<Mutex<HashMap<i64, u32>>>,
}

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for RecordEffect {
    fn wants(&self, event: &EventEnvelope) -> bool {
        event.event_type == "thing.happened"
    }

    async fn handle(
        &self,
        txn: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let happened: Happened = event.decode_payload()?;
        *self.attempts.lock().entry(happened.n).or_default() += 1;
        txn.execute(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "INSERT INTO effects (event_id, aggregate_id, n) VALUES (?, ?, ?)",
            [
                event.id.to_string().into(),
                event.aggregate_id.clone().into(),
                happened.n.into(),
            ],
        ))
        .await?;
        if self.park_on == Some(happened.n) {
            // The effect is written but not committed: a crash now must leave nothing.
            self.parked.notify_one();
            std::future::pending::<()>().await;
        }
        if self.always_fail.contains(&happened.n) {
            return Err(HandlerError::failed(format!(
                "event {} always fails",
                happened.n
            )));
        }
        if happened.n == PANICS {
            panic!("event {PANICS} panics");
        }
        if let Some(left) = self.fail_first.lock().get_mut(&happened.n) {
            if *left > 0 {
                *left -= 1;
                return Err(HandlerError::failed(format!(
                    "event {} fails for now",
                    happened.n
                )));
            }
        }
        Ok(())
    }
}

fn config() -> ConsumerConfig {
    ConsumerConfig {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_attempts: 3,
        ..ConsumerConfig::new(GROUP, &[TOPIC])
    }
}

fn start(
    bus: &SharedBus,
    db: &DatabaseConnection,
    handler: RecordEffect,
    config: ConsumerConfig,
) -> ConsumerHandle {
    Consumer::new(
        config,
        bus.clone(),
        SqlInbox::new("consumer", db.clone()),
        handler,
        &Metrics::new("consumer"),
    )
    .spawn()
}

/// Waits (bounded) until the consumer has settled `n` messages.
async fn settled(handle: &ConsumerHandle, n: u64) -> ConsumerStats {
    for _ in 0..2000 {
        let stats = handle.stats();
        let done = stats.handled + stats.duplicates + stats.ignored + stats.dead_lettered;
        if done >= n {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the consumer settled fewer than {n} messages: {:?}",
        handle.stats()
    );
}

/// Waits (bounded) until the consumer reports no lag: everything committed.
async fn caught_up(handle: &ConsumerHandle) -> ConsumerStats {
    for _ in 0..1000 {
        let stats = handle.stats();
        if stats.lag == Some(0) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the consumer did not catch up: {:?}", handle.stats());
}

async fn publish_all(bus: &SharedBus, events: &[EventEnvelope]) {
    for event in events {
        bus.publish(TOPIC, event).await.unwrap();
    }
}

#[tokio::test]
async fn events_published_before_the_consumer_started_are_each_handled_once_in_order() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db = consumer_db().await;
    let events: Vec<_> = (0..20)
        .map(|n| event(&format!("agg-{}", n % 3), n))
        .collect();
    publish_all(&bus, &events).await;

    let consumer = start(&bus, &db, RecordEffect::default(), config());
    let stats = settled(&consumer, 20).await;
    consumer.shutdown().await;

    assert_eq!(stats.consumed, 20);
    assert_eq!(stats.handled, 20);
    assert_eq!(
        (stats.duplicates, stats.retried, stats.dead_lettered),
        (0, 0, 0)
    );
    let expected: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(n, e)| (e.id.to_string(), e.aggregate_id.clone(), n as i64))
        .collect();
    assert_eq!(effects(&db).await, expected, "each once, in publish order");
    let inbox = SqlInbox::new("consumer", db.clone());
    assert_eq!(inbox.handled_count(GROUP).await.unwrap(), 20);
}

#[tokio::test]
async fn the_same_envelope_delivered_twice_has_one_effect() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db = consumer_db().await;
    let twice = event("agg", 1);
    publish_all(&bus, &[twice.clone(), twice.clone(), event("agg", 2)]).await;

    let consumer = start(&bus, &db, RecordEffect::default(), config());
    let stats = settled(&consumer, 3).await;
    consumer.shutdown().await;

    assert_eq!((stats.consumed, stats.handled, stats.duplicates), (3, 2, 1));
    let rows = effects(&db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, twice.id.to_string());
    assert_eq!(rows[1].2, 2);
}

#[tokio::test]
async fn a_failing_handler_is_retried_then_dead_lettered_and_the_rest_goes_on() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db = consumer_db().await;
    let handler = RecordEffect {
        fail_first: Arc::new(Mutex::new(HashMap::from([(1, 2)]))),
        always_fail: HashSet::from([2]),
        ..RecordEffect::default()
    };
    let attempts = handler.attempts.clone();
    // One aggregate: the dead-lettered event 2 must not hold up event 3 behind it.
    let events: Vec<_> = (1..=3).map(|n| event("agg", n)).collect();
    publish_all(&bus, &events).await;

    let consumer = start(&bus, &db, handler, config());
    let stats = settled(&consumer, 3).await;
    consumer.shutdown().await;

    assert_eq!(stats.handled, 2);
    assert_eq!(stats.dead_lettered, 1);
    // Event 1: 2 retries; event 2: 2 retries before its third and last attempt.
    assert_eq!(stats.retried, 4);
    assert_eq!(*attempts.lock(), HashMap::from([(1, 3), (2, 3), (3, 1)]));
    let ns: Vec<i64> = effects(&db).await.into_iter().map(|row| row.2).collect();
    assert_eq!(ns, vec![1, 3], "failed attempts left no effect");

    let letters = SqlInbox::new("consumer", db.clone())
        .dead_letters(GROUP)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.message_key, events[1].id.to_string());
    assert_eq!(letter.event_id, Some(events[1].id));
    assert_eq!(letter.event_type.as_deref(), Some("thing.happened"));
    assert_eq!(letter.tenant_id.as_deref(), Some("tnt_consumer"));
    assert_eq!(letter.failure, FailureKind::Exhausted);
    assert_eq!(letter.error, "event 2 always fails");
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.topic, TOPIC);
    assert!(letter.first_failed_at <= letter.last_failed_at);
    let payload: EventEnvelope = serde_json::from_str(&letter.payload).unwrap();
    assert_eq!(payload, events[1]);
}

#[tokio::test]
async fn a_panicking_handler_is_a_failed_attempt_and_the_consumer_goes_on() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db = consumer_db().await;
    publish_all(&bus, &[event("agg", PANICS), event("agg", 1)]).await;

    let consumer = start(&bus, &db, RecordEffect::default(), config());
    let stats = settled(&consumer, 2).await;
    consumer.shutdown().await;

    assert_eq!(
        (stats.handled, stats.dead_lettered, stats.retried),
        (1, 1, 2)
    );
    let letters = SqlInbox::new("consumer", db.clone())
        .dead_letters(GROUP)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error, "the handler panicked: event 666 panics");
    assert_eq!(letters[0].attempts, 3);
    let ns: Vec<i64> = effects(&db).await.into_iter().map(|row| row.2).collect();
    assert_eq!(ns, vec![1]);
}

#[tokio::test]
async fn undecodable_messages_and_rejected_payloads_are_dead_lettered_at_once() {
    let bus = Arc::new(InProcessBus::new());
    let shared: SharedBus = bus.clone();
    let db = consumer_db().await;
    bus.publish_raw(TOPIC, "k", b"not json at all")
        .await
        .unwrap();
    let bad_payload = EventEnvelope::new(
        &TenantId::from_claim("tnt_consumer"),
        "thing.happened",
        "agg",
        json!({ "n": "one" }),
    )
    .unwrap();
    publish_all(&shared, &[bad_payload.clone(), event("agg", 7)]).await;

    let handler = RecordEffect::default();
    let attempts = handler.attempts.clone();
    let consumer = start(&shared, &db, handler, config());
    let stats = settled(&consumer, 3).await;
    consumer.shutdown().await;

    assert_eq!(
        (
            stats.consumed,
            stats.handled,
            stats.dead_lettered,
            stats.retried
        ),
        (3, 1, 2, 0)
    );
    assert_eq!(*attempts.lock(), HashMap::from([(7, 1)]));
    let letters = SqlInbox::new("consumer", db.clone())
        .dead_letters(GROUP)
        .await
        .unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].failure, FailureKind::Undecodable);
    assert_eq!(letters[0].message_key, format!("{TOPIC}/0@1"));
    assert_eq!(letters[0].payload, "not json at all");
    assert_eq!(letters[0].event_id, None);
    assert_eq!(letters[0].attempts, 1);
    assert!(
        letters[0].error.starts_with("not an event envelope"),
        "{}",
        letters[0].error
    );
    assert_eq!(letters[1].failure, FailureKind::Rejected);
    assert_eq!(letters[1].event_id, Some(bad_payload.id));
    assert_eq!(letters[1].attempts, 1);
    assert!(
        letters[1].error.contains("does not decode"),
        "{}",
        letters[1].error
    );
    assert_eq!(effects(&db).await.len(), 1);
}

#[tokio::test]
async fn events_the_handler_does_not_want_are_settled_without_a_write() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db = consumer_db().await;
    let other = EventEnvelope::new(
        &TenantId::from_claim("tnt_consumer"),
        "thing.ignored",
        "agg",
        json!({}),
    )
    .unwrap();
    publish_all(&bus, &[other, event("agg", 1)]).await;

    let consumer = start(&bus, &db, RecordEffect::default(), config());
    let stats = settled(&consumer, 2).await;
    consumer.shutdown().await;

    assert_eq!((stats.consumed, stats.ignored, stats.handled), (2, 1, 1));
    let inbox = SqlInbox::new("consumer", db.clone());
    assert_eq!(inbox.handled_count(GROUP).await.unwrap(), 1);
}

/// A group that serves some tenants settles the others' events without a write (counted as
/// ignored, not in the inbox), and hands its own tenants' events to the handler as usual.
#[tokio::test]
async fn events_of_tenants_the_group_does_not_serve_are_settled_without_a_write() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db = consumer_db().await;
    let elsewhere = EventEnvelope::new(
        &TenantId::from_claim("tnt_elsewhere"),
        "thing.happened",
        "agg",
        json!({ "n": 1 }),
    )
    .unwrap();
    let ours = event("agg", 2);
    publish_all(&bus, &[elsewhere, ours.clone()]).await;

    let options = ConsumerOptions {
        group_suffix: String::new(),
        tenants: Some(vec!["tnt_consumer".into()]),
    };
    let config = ConsumerConfig {
        tenants: options.config(GROUP, &[TOPIC]).tenants,
        ..config()
    };
    let consumer = start(&bus, &db, RecordEffect::default(), config);
    let stats = settled(&consumer, 2).await;
    consumer.shutdown().await;

    assert_eq!((stats.consumed, stats.ignored, stats.handled), (2, 1, 1));
    assert_eq!(
        effects(&db).await,
        vec![(ours.id.to_string(), "agg".to_owned(), 2)]
    );
    let inbox = SqlInbox::new("consumer", db.clone());
    assert_eq!(inbox.handled_count(GROUP).await.unwrap(), 1);
}

#[test]
fn consumer_options_suffix_the_group_and_carry_the_tenants() {
    let everyone = ConsumerOptions::default().config(GROUP, &[TOPIC]);
    assert_eq!(
        (
            everyone.group.as_str(),
            everyone.topics.as_slice(),
            everyone.tenants
        ),
        (GROUP, [TOPIC.to_owned()].as_slice(), None)
    );
    assert!(ConsumerConfig::new(GROUP, &[TOPIC]).serves("tnt_any"));

    let cell = ConsumerOptions {
        group_suffix: ".test-1".into(),
        tenants: Some(vec!["tnt_a".into(), "tnt_b".into()]),
    }
    .config(GROUP, &[TOPIC]);
    assert_eq!(cell.group, "erp.consumer.effects.test-1");
    assert_eq!(
        ["tnt_a", "tnt_b", "tnt_c", ""].map(|tenant| cell.serves(tenant)),
        [true, true, false, false]
    );
    let nobody = ConsumerConfig {
        tenants: Some(Vec::new()),
        ..ConsumerConfig::new(GROUP, &[TOPIC])
    };
    assert!(!nobody.serves("tnt_a"), "an empty list serves no tenant");
}

/// The one-process mode: the log and positions in SQLite. A consumer started after the events
/// gets them; a restart (a new bus on the same file, as after a process restart) does not
/// repeat them; a crash mid-way repeats nothing either (the inbox skips).
#[tokio::test]
async fn the_durable_bus_delivers_across_restarts_and_crashes_exactly_once() {
    let log_file = sqlite_file();
    let open = || async {
        let db = crate::db::connect(&log_file).await.unwrap();
        let bus: SharedBus = Arc::new(DurableBus::open(db).await.unwrap());
        bus
    };
    let db = consumer_db().await;
    let bus = open().await;
    let first: Vec<_> = (0..10).map(|n| event("agg", n)).collect();
    publish_all(&bus, &first).await;
    drop(bus);

    // Started after the events were published, by another "process".
    let bus = open().await;
    let consumer = start(&bus, &db, RecordEffect::default(), config());
    let stats = settled(&consumer, 10).await;
    consumer.shutdown().await;
    assert_eq!((stats.handled, stats.duplicates), (10, 0));
    drop(bus);

    // Restarted: only what came since.
    let bus = open().await;
    let second: Vec<_> = (10..15).map(|n| event("agg", n)).collect();
    publish_all(&bus, &second).await;
    let consumer = start(&bus, &db, RecordEffect::default(), config());
    settled(&consumer, 5).await;
    let stats = caught_up(&consumer).await;
    consumer.shutdown().await;
    assert_eq!((stats.consumed, stats.handled, stats.duplicates), (5, 5, 0));

    // A crash while event 17's effect is written but not committed, with no position
    // committed since the start (commits only every 1,000 events or an hour).
    let third: Vec<_> = (15..25).map(|n| event("agg", n)).collect();
    publish_all(&bus, &third).await;
    let handler = RecordEffect {
        park_on: Some(17),
        ..RecordEffect::default()
    };
    let parked = handler.parked.clone();
    let lazy = ConsumerConfig {
        commit_every: 1000,
        commit_interval: Duration::from_secs(3600),
        ..config()
    };
    let consumer = start(&bus, &db, handler, lazy);
    parked.notified().await;
    consumer.kill().await;
    assert_eq!(
        effects(&db).await.len(),
        17,
        "events 0..=16, 17 rolled back"
    );
    drop(bus);

    let bus = open().await;
    let consumer = start(&bus, &db, RecordEffect::default(), config());
    let stats = settled(&consumer, 10).await;
    consumer.shutdown().await;
    assert_eq!(
        (stats.consumed, stats.handled, stats.duplicates),
        (10, 8, 2)
    );

    let all: Vec<_> = first.iter().chain(&second).chain(&third).collect();
    let expected: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(n, e)| (e.id.to_string(), "agg".to_owned(), n as i64))
        .collect();
    assert_eq!(effects(&db).await, expected, "every effect once, in order");
}

/// A store that is not SQL: the write is a list of pending changes applied under one lock at
/// commit, the inbox a set (what a document domain's store does with its own transactions).
#[derive(Default, Clone)]
struct DocumentStore {
    committed: Arc<Mutex<DocumentState>>,
}

#[derive(Default)]
struct DocumentState {
    inbox: HashSet<(String, uuid::Uuid)>,
    effects: Vec<i64>,
    dead_letters: Vec<DeadLetter>,
}

#[derive(Default)]
struct PendingChange {
    effects: Vec<i64>,
    record: Option<(String, uuid::Uuid)>,
}

#[async_trait::async_trait]
impl InboxStore for DocumentStore {
    type Write = PendingChange;

    async fn begin(&self) -> Result<PendingChange, InboxError> {
        Ok(PendingChange::default())
    }

    async fn seen(
        &self,
        _write: &mut PendingChange,
        group: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        let state = self.committed.lock();
        Ok(state.inbox.contains(&(group.to_owned(), event.id))
            || state
                .dead_letters
                .iter()
                .any(|letter| letter.message_key == event.id.to_string()))
    }

    async fn record(
        &self,
        write: &mut PendingChange,
        group: &str,
        _topic: &str,
        event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        write.record = Some((group.to_owned(), event.id));
        Ok(true)
    }

    async fn commit(&self, write: PendingChange) -> Result<(), InboxError> {
        let mut state = self.committed.lock();
        let Some(record) = write.record else {
            return Err(InboxError::failed("nothing recorded"));
        };
        // The unique key: a concurrent delivery's record makes this one a no-op.
        if state.inbox.insert(record) {
            state.effects.extend(write.effects);
        }
        Ok(())
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, InboxError> {
        let mut state = self.committed.lock();
        if state
            .dead_letters
            .iter()
            .any(|kept| kept.message_key == letter.message_key)
        {
            return Ok(false);
        }
        state.dead_letters.push(letter.clone());
        Ok(true)
    }
}

struct DocumentEffect;

#[async_trait::async_trait]
impl EventHandler<PendingChange> for DocumentEffect {
    async fn handle(
        &self,
        write: &mut PendingChange,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let happened: Happened = event.decode_payload()?;
        write.effects.push(happened.n);
        Ok(())
    }
}

#[tokio::test]
async fn a_document_store_implements_the_inbox_contract_itself() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let store = DocumentStore::default();
    let once = event("agg", 1);
    publish_all(&bus, &[once.clone(), once, event("agg", 2)]).await;
    let metrics = Metrics::new("documents");
    let consumer = Consumer::new(
        config(),
        bus.clone(),
        store.clone(),
        DocumentEffect,
        &metrics,
    )
    .spawn();
    let stats = settled(&consumer, 3).await;
    consumer.shutdown().await;

    assert_eq!((stats.handled, stats.duplicates), (2, 1));
    assert_eq!(store.committed.lock().effects, vec![1, 2]);
    let rendered = metrics.render();
    assert!(
        rendered.contains(&format!(
            "erp_events_handled_total{{group=\"{GROUP}\",topic=\"{TOPIC}\",service=\"documents\"}} 2"
        )),
        "{rendered}"
    );
}

#[tokio::test]
async fn two_groups_each_see_every_event_and_a_log_reads_topics_in_publish_order() {
    let log = MemoryLog::new(3);
    for (topic, n) in [("a", 1), ("b", 2), ("a", 3), ("b", 4), ("a", 5), ("a", 6)] {
        log.append(topic, "k", &[n]).await.unwrap();
    }
    // Topic a keeps its last 3 (seq 3, 5, 6); b both.
    let from_start = Positions::from([("a".to_owned(), 0), ("b".to_owned(), 0)]);
    let read = log.read(&from_start, 10).await.unwrap();
    let seqs: Vec<i64> = read.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6]);
    let after_4 = Positions::from([("a".to_owned(), 4), ("b".to_owned(), 4)]);
    assert_eq!(
        log.backlog(&after_4).await.unwrap(),
        Positions::from([("a".to_owned(), 2), ("b".to_owned(), 0)])
    );

    let bus: SharedBus = Arc::new(InProcessBus::new());
    let db_one = consumer_db().await;
    let db_two = consumer_db().await;
    publish_all(&bus, &[event("x", 1), event("y", 2)]).await;
    let one = start(&bus, &db_one, RecordEffect::default(), config());
    let two = start(
        &bus,
        &db_two,
        RecordEffect::default(),
        ConsumerConfig::new("erp.other.effects", &[TOPIC]),
    );
    settled(&one, 2).await;
    settled(&two, 2).await;
    one.shutdown().await;
    two.shutdown().await;
    assert_eq!(effects(&db_one).await.len(), 2);
    assert_eq!(effects(&db_two).await.len(), 2);
}

/// A store whose commit only queues the effects (an OLAP store's batched insert): `flush`
/// stores them, or fails while `down`.
#[derive(Default, Clone)]
struct BatchedStore {
    state: Arc<Mutex<BatchedState>>,
}

#[derive(Default)]
struct BatchedState {
    queued: Vec<i64>,
    stored: Vec<i64>,
    down: bool,
    flushes: u64,
}

#[async_trait::async_trait]
impl InboxStore for BatchedStore {
    type Write = PendingChange;

    async fn begin(&self) -> Result<PendingChange, InboxError> {
        Ok(PendingChange::default())
    }

    async fn seen(
        &self,
        _write: &mut PendingChange,
        _group: &str,
        _event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        Ok(false)
    }

    async fn record(
        &self,
        _write: &mut PendingChange,
        _group: &str,
        _topic: &str,
        _event: &EventEnvelope,
    ) -> Result<bool, InboxError> {
        Ok(true)
    }

    async fn commit(&self, write: PendingChange) -> Result<(), InboxError> {
        self.state.lock().queued.extend(write.effects);
        Ok(())
    }

    async fn dead_letter(&self, _letter: &DeadLetter) -> Result<bool, InboxError> {
        Ok(true)
    }

    fn defers_writes(&self) -> bool {
        true
    }

    async fn flush(&self) -> Result<(), InboxError> {
        let mut state = self.state.lock();
        state.flushes += 1;
        if state.down {
            return Err(InboxError::unavailable("the store is down"));
        }
        let queued = std::mem::take(&mut state.queued);
        state.stored.extend(queued);
        Ok(())
    }
}

#[tokio::test]
async fn a_store_that_defers_writes_has_positions_committed_only_once_they_are_stored() {
    let bus: SharedBus = Arc::new(InProcessBus::new());
    let store = BatchedStore::default();
    store.state.lock().down = true;
    publish_all(&bus, &[event("a", 1), event("b", 2), event("c", 3)]).await;
    let eager = || ConsumerConfig {
        commit_interval: Duration::from_millis(10),
        ..config()
    };
    let spawn = || {
        Consumer::new(
            eager(),
            bus.clone(),
            store.clone(),
            DocumentEffect,
            &Metrics::new("batched"),
        )
        .spawn()
    };

    // Handled, but the store cannot take the batch: the consumer tries to commit, is refused
    // by the flush, and keeps its positions; then it crashes, and the queued batch is lost.
    let first = spawn();
    settled(&first, 3).await;
    for _ in 0..2000 {
        if store.state.lock().flushes >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        store.state.lock().flushes >= 2,
        "the consumer never flushed"
    );
    first.kill().await;
    {
        let mut state = store.state.lock();
        assert!(state.stored.is_empty());
        state.queued.clear();
        state.down = false;
    }

    // The group's next consumer gets the three events again, stores them, commits.
    let second = spawn();
    let stats = settled(&second, 3).await;
    caught_up(&second).await;
    second.shutdown().await;
    assert_eq!(stats.handled, 3);
    assert_eq!(store.state.lock().stored, vec![1, 2, 3]);

    // Committed: the next one sees only what comes after.
    publish_all(&bus, &[event("d", 4)]).await;
    let third = spawn();
    let stats = settled(&third, 1).await;
    third.shutdown().await;
    assert_eq!((stats.consumed, stats.handled), (1, 1));
    assert_eq!(store.state.lock().stored, vec![1, 2, 3, 4]);
}
