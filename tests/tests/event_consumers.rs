//! The kit's event consumers against the real services: a producer domain's outbox (its
//! PostgreSQL table and relay) publishes to Kafka (tansu), and a consumer group in another
//! domain's PostgreSQL database writes one effect row per event, exactly once: after a crash
//! mid-batch, a duplicate delivery, failing handlers, an undecodable message. And the
//! one-process mode's durable in-process bus (SQLite) across restarts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use erp_kit::db::WriteTransaction;
use erp_kit::events::{
    Consumer, ConsumerConfig, ConsumerHandle, ConsumerStats, DurableBus, EventEnvelope,
    EventHandler, FailureKind, HandlerError, InboxStore, KafkaBus, KafkaConfig, Outbox,
    OutboxRelay, RelayConfig, RelayHandle, SharedBus, SqlInbox,
};
use erp_kit::telemetry::Metrics;
use erp_kit::TenantId;
use erp_migrations::sea_orm_migration::{MigrationTrait, SchemaManager};
use erp_tests::{eventually, fresh_postgres, fresh_sqlite, require_env};
use sea_orm::sea_query::{Alias, ColumnDef, Order, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use serde_json::json;

const TENANT: &str = "tnt_consumers";
/// Kafka group joins and rebalances take seconds; this bounds every wait.
const WAIT: Duration = Duration::from_secs(120);

/// A producer domain of this test alone (its own outbox table and topic).
struct Producer {
    db: DatabaseConnection,
    outbox: Outbox,
    _relay: RelayHandle,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A domain name of this test alone (CreateOutbox takes a `&'static str`).
fn producer_domain() -> &'static str {
    Box::leak(unique("producer").into_boxed_str())
}

impl Producer {
    async fn start(database_url: &str, domain: &'static str, bus: SharedBus) -> Self {
        let db = erp_kit::db::connect(database_url).await.unwrap();
        erp_migrations::outbox::CreateOutbox {
            domain,
            name: "m0000_outbox",
        }
        .up(&SchemaManager::new(&db))
        .await
        .unwrap();
        let outbox = Outbox::new(domain);
        let relay =
            OutboxRelay::new(outbox.clone(), db.clone(), bus, RelayConfig::default()).spawn();
        Self {
            db,
            outbox,
            _relay: relay,
        }
    }

    fn topic(&self) -> &str {
        self.outbox.topic()
    }

    /// Each event in its own transaction, as a domain's use case writes it.
    async fn write(&self, events: &[EventEnvelope]) {
        for event in events {
            let txn = erp_kit::db::begin_write(&self.db).await.unwrap();
            self.outbox.enqueue(&txn, event).await.unwrap();
            txn.commit().await.unwrap();
            self.outbox.wake();
        }
    }
}

fn event(aggregate: &str, n: i64) -> EventEnvelope {
    EventEnvelope::new(
        &TenantId::from_claim(TENANT),
        "thing.happened",
        aggregate,
        json!({ "n": n }),
    )
    .unwrap()
}

/// The consumer domain's database: its inbox and dead letters (the kit's migration helper)
/// and an effect table WITHOUT a unique key, so only the inbox keeps an effect single.
async fn consumer_db(database_url: &str) -> DatabaseConnection {
    let db = erp_kit::db::connect(database_url).await.unwrap();
    erp_migrations::inbox::CreateInbox {
        domain: "consumer",
        name: "m0000_consumer_inbox",
    }
    .up(&SchemaManager::new(&db))
    .await
    .unwrap();
    let create = Table::create()
        .table(Alias::new("effects"))
        .col(
            ColumnDef::new(Alias::new("seq"))
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new(Alias::new("event_id")).string().not_null())
        .col(
            ColumnDef::new(Alias::new("aggregate_id"))
                .string()
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("n")).big_integer().not_null())
        .to_owned();
    db.execute(db.get_database_backend().build(&create))
        .await
        .unwrap();
    db
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
struct Effect {
    event_id: String,
    aggregate_id: String,
    n: i64,
}

/// Every effect row, in the order they were committed.
async fn effects(db: &DatabaseConnection) -> Vec<Effect> {
    let select = Query::select()
        .columns([
            Alias::new("event_id"),
            Alias::new("aggregate_id"),
            Alias::new("n"),
        ])
        .from(Alias::new("effects"))
        .order_by(Alias::new("seq"), Order::Asc)
        .to_owned();
    Effect::find_by_statement(db.get_database_backend().build(&select))
        .all(db)
        .await
        .unwrap()
}

/// Each event's effect exactly once, and each aggregate's effects in publish order.
async fn assert_each_once_in_order(db: &DatabaseConnection, events: &[EventEnvelope]) {
    let rows = effects(db).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        *seen.entry(row.event_id.clone()).or_default() += 1;
    }
    let expected: HashMap<String, usize> = events.iter().map(|e| (e.id.to_string(), 1)).collect();
    assert_eq!(seen, expected, "every event's effect exactly once");
    let mut per_aggregate: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for row in &rows {
        per_aggregate
            .entry(&row.aggregate_id)
            .or_default()
            .push(row.n);
    }
    for (aggregate, ns) in per_aggregate {
        let mut sorted = ns.clone();
        sorted.sort();
        assert_eq!(ns, sorted, "the effects of {aggregate} in order");
    }
}

#[derive(serde::Deserialize)]
struct Happened {
    n: i64,
}

/// The consumer's effect: one row per event. Fails the first `fail_first[n]` attempts of
/// event `n` and every attempt of `always_fail`; its call number `park_at` (0: none) writes
/// its row and then never returns (a consumer killed there has an uncommitted effect in hand).
#[derive(Default, Clone)]
struct RecordEffect {
    fail_first: Arc<std::sync::Mutex<HashMap<i64, u32>>>,
    always_fail: HashSet<i64>,
    park_at: Arc<AtomicU32>,
    parked: Arc<tokio::sync::Notify>,
    calls: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for RecordEffect {
    async fn handle(
        &self,
        txn: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let happened: Happened = event.decode_payload()?;
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let insert = Query::insert()
            .into_table(Alias::new("effects"))
            .columns([
                Alias::new("event_id"),
                Alias::new("aggregate_id"),
                Alias::new("n"),
            ])
            .values_panic([
                event.id.to_string().into(),
                event.aggregate_id.clone().into(),
                happened.n.into(),
            ])
            .to_owned();
        txn.execute(txn.get_database_backend().build(&insert))
            .await?;
        if self.park_at.load(Ordering::SeqCst) == call {
            self.parked.notify_one();
            std::future::pending::<()>().await;
        }
        if self.always_fail.contains(&happened.n) {
            return Err(HandlerError::failed(format!(
                "event {} always fails",
                happened.n
            )));
        }
        if let Some(left) = self.fail_first.lock().unwrap().get_mut(&happened.n) {
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

fn kafka() -> SharedBus {
    let mut config = KafkaConfig::new(require_env("KAFKA_BROKERS"));
    config.statistics_interval = Duration::from_millis(500);
    Arc::new(KafkaBus::new(config).unwrap())
}

fn config(group: &str, topic: &str) -> ConsumerConfig {
    ConsumerConfig {
        max_attempts: 3,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..ConsumerConfig::new(group, &[topic])
    }
}

/// A consumer with metrics of its own, so its stats count this run only.
fn start(
    bus: &SharedBus,
    db: &DatabaseConnection,
    handler: RecordEffect,
    config: ConsumerConfig,
) -> (ConsumerHandle, Metrics) {
    let metrics = Metrics::new("consumer");
    let handle = Consumer::new(
        config,
        bus.clone(),
        SqlInbox::new("consumer", db.clone()),
        handler,
        &metrics,
    )
    .spawn();
    (handle, metrics)
}

/// Waits until the consumer settled `n` messages.
async fn settled(handle: &ConsumerHandle, n: u64) -> ConsumerStats {
    eventually(WAIT, || async {
        let stats = handle.stats();
        (stats.handled + stats.duplicates + stats.ignored + stats.dead_lettered >= n)
            .then_some(stats)
    })
    .await
    .unwrap_or_else(|| panic!("fewer than {n} messages settled: {:?}", handle.stats()))
}

/// a: a consumer killed mid-batch (effects committed, offsets not, one effect in hand) and
/// restarted: every effect once.
#[tokio::test]
async fn a_consumer_killed_mid_batch_and_restarted_has_every_effect_once() {
    let bus = kafka();
    let producer = Producer::start(&fresh_postgres().await, producer_domain(), bus.clone()).await;
    let db = consumer_db(&fresh_postgres().await).await;
    let group = unique("erp.consumer.effects-");
    let events: Vec<_> = (0..60)
        .map(|n| event(&format!("agg-{}", n % 6), n))
        .collect();
    producer.write(&events).await;

    let crashing = RecordEffect {
        park_at: Arc::new(AtomicU32::new(25)),
        ..RecordEffect::default()
    };
    let parked = crashing.parked.clone();
    // Positions would be committed only after 1,000 events or an hour: none before the kill.
    let lazy = ConsumerConfig {
        commit_every: 1000,
        commit_interval: Duration::from_secs(3600),
        ..config(&group, producer.topic())
    };
    let (first, _) = start(&bus, &db, crashing, lazy);
    tokio::time::timeout(WAIT, parked.notified())
        .await
        .expect("the consumer reaches its 25th event");
    let before_kill = first.stats();
    first.kill().await;
    assert_eq!(before_kill.handled, 24);
    assert_eq!(
        effects(&db).await.len(),
        24,
        "the 25th effect was rolled back"
    );

    let (second, metrics) = start(
        &bus,
        &db,
        RecordEffect::default(),
        config(&group, producer.topic()),
    );
    let stats = settled(&second, 60).await;
    assert_eq!(
        stats.consumed, 60,
        "nothing was committed: all delivered again"
    );
    assert_eq!(
        stats.duplicates, 24,
        "the inbox skipped the effects done before the kill"
    );
    assert_eq!(stats.handled, 36);
    assert_eq!((stats.retried, stats.dead_lettered), (0, 0));
    assert_each_once_in_order(&db, &events).await;
    let inbox = SqlInbox::new("consumer", db.clone());
    assert_eq!(inbox.handled_count(&group).await.unwrap(), 60);

    // Lag, as Kafka reports it, once the second consumer committed.
    let caught_up = eventually(WAIT, || async {
        (second.stats().lag == Some(0)).then_some(())
    })
    .await;
    let rendered = metrics.render();
    assert!(
        caught_up.is_some(),
        "lag reported: {:?}\n{rendered}",
        second.stats()
    );
    assert!(
        rendered.contains(&format!("erp_events_consumer_lag{{group=\"{group}\"")),
        "{rendered}"
    );
    assert!(rendered.contains(&format!(
        "erp_events_duplicates_total{{group=\"{group}\",topic=\"{}\",service=\"consumer\"}} 24",
        producer.topic()
    )));
    second.shutdown().await;

    // Its positions were committed exactly: the group's next consumer gets only what is new.
    let more: Vec<_> = (60..63).map(|n| event("agg-0", n)).collect();
    producer.write(&more).await;
    let (third, _) = start(
        &bus,
        &db,
        RecordEffect::default(),
        config(&group, producer.topic()),
    );
    let stats = settled(&third, 3).await;
    third.shutdown().await;
    assert_eq!((stats.consumed, stats.handled, stats.duplicates), (3, 3, 0));
    let all: Vec<_> = events.into_iter().chain(more).collect();
    assert_each_once_in_order(&db, &all).await;
}

/// Two consumers of one group share the partitions (the second one's arrival revokes and
/// reassigns them: the first commits before giving any up); when one is killed mid-batch the
/// other takes over its partitions. Every effect once.
#[tokio::test]
async fn a_rebalance_between_consumers_of_one_group_keeps_every_effect_once() {
    let bus = kafka();
    let producer = Producer::start(&fresh_postgres().await, producer_domain(), bus.clone()).await;
    let db = consumer_db(&fresh_postgres().await).await;
    let group = unique("erp.consumer.rebalance-");
    // 30 aggregates: their keys land on every partition.
    let batch = |from: i64| -> Vec<EventEnvelope> {
        (from..from + 60)
            .map(|n| event(&format!("agg-{}", n % 30), n))
            .collect()
    };
    let first_batch = batch(0);
    producer.write(&first_batch).await;

    let one_handler = RecordEffect::default();
    let (park_at, one_calls, one_parked) = (
        one_handler.park_at.clone(),
        one_handler.calls.clone(),
        one_handler.parked.clone(),
    );
    let (one, _) = start(&bus, &db, one_handler, config(&group, producer.topic()));
    settled(&one, 60).await;

    // The second member joins: the partitions are split between the two.
    let (two, _) = start(
        &bus,
        &db,
        RecordEffect::default(),
        config(&group, producer.topic()),
    );
    let assigned = eventually(WAIT, || async { two.stats().lag.map(|_| ()) }).await;
    assert!(assigned.is_some(), "the second consumer got partitions");

    // The first one parks on its next event (one of the next batch's, on its partitions) and
    // is killed there.
    park_at.store(one_calls.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
    let second_batch = batch(60);
    producer.write(&second_batch).await;
    tokio::time::timeout(WAIT, one_parked.notified())
        .await
        .expect("the first consumer gets events of the second batch");
    let one_stats = one.stats();
    one.kill().await;

    let all: Vec<_> = first_batch.into_iter().chain(second_batch).collect();
    let done = eventually(WAIT, || async {
        (one_stats.handled + two.stats().handled == 120).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "first {one_stats:?}, second {:?}",
        two.stats()
    );
    let two_stats = two.stats();
    two.shutdown().await;
    // The first one handled the first batch, and its event of the second batch was rolled
    // back; the second one all of the second batch, its own partitions' and the taken-over
    // ones' from where the first one had committed (before the rebalance and when idle):
    // nothing came twice.
    assert_eq!(one_stats.handled, 60);
    assert_eq!((two_stats.handled, two_stats.duplicates), (60, 0));
    assert_each_once_in_order(&db, &all).await;
    let inbox = SqlInbox::new("consumer", db.clone());
    assert_eq!(inbox.handled_count(&group).await.unwrap(), 120);
}

/// b: the same envelope published twice has one effect.
#[tokio::test]
async fn the_same_envelope_published_twice_has_one_effect() {
    let bus = kafka();
    let db = consumer_db(&fresh_postgres().await).await;
    let topic = format!("erp.{}.events", unique("dup"));
    let group = unique("erp.consumer.dup-");
    let twice = event("agg", 1);
    let after = event("agg", 2);
    for event in [&twice, &twice, &after] {
        bus.publish(&topic, event).await.unwrap();
    }

    let (consumer, _) = start(&bus, &db, RecordEffect::default(), config(&group, &topic));
    let stats = settled(&consumer, 3).await;
    consumer.shutdown().await;

    assert_eq!((stats.consumed, stats.handled, stats.duplicates), (3, 2, 1));
    assert_eq!(
        effects(&db).await,
        vec![
            Effect {
                event_id: twice.id.to_string(),
                aggregate_id: "agg".into(),
                n: 1
            },
            Effect {
                event_id: after.id.to_string(),
                aggregate_id: "agg".into(),
                n: 2
            },
        ]
    );
}

/// c: a handler failing twice then succeeding is retried and has one effect; one failing
/// always is dead-lettered after 3 attempts with its error, and the events after it (same
/// aggregate, so same partition) are still handled.
#[tokio::test]
async fn failing_handlers_are_retried_and_then_dead_lettered_without_blocking_the_rest() {
    let bus = kafka();
    let producer = Producer::start(&fresh_postgres().await, producer_domain(), bus.clone()).await;
    let db = consumer_db(&fresh_postgres().await).await;
    let group = unique("erp.consumer.retry-");
    let events: Vec<_> = (1..=4).map(|n| event("agg", n)).collect();
    producer.write(&events).await;

    let handler = RecordEffect {
        fail_first: Arc::new(std::sync::Mutex::new(HashMap::from([(1, 2)]))),
        always_fail: HashSet::from([2]),
        ..RecordEffect::default()
    };
    let calls = handler.calls.clone();
    let (consumer, _) = start(&bus, &db, handler, config(&group, producer.topic()));
    let stats = settled(&consumer, 4).await;
    consumer.shutdown().await;

    assert_eq!(stats.consumed, 4);
    assert_eq!(stats.handled, 3);
    assert_eq!(stats.dead_lettered, 1);
    // Event 1: 2 retries; event 2: 2 retries, then its third attempt fails for good.
    assert_eq!(stats.retried, 4);
    assert_eq!(calls.load(Ordering::SeqCst), 3 + 3 + 1 + 1);
    let ns: Vec<i64> = effects(&db).await.into_iter().map(|row| row.n).collect();
    assert_eq!(ns, vec![1, 3, 4]);

    let letters = SqlInbox::new("consumer", db.clone())
        .dead_letters(&group)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.group, group);
    assert_eq!(letter.message_key, events[1].id.to_string());
    assert_eq!(letter.event_id, Some(events[1].id));
    assert_eq!(letter.event_type.as_deref(), Some("thing.happened"));
    assert_eq!(letter.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(letter.topic, producer.topic());
    assert_eq!(letter.failure, FailureKind::Exhausted);
    assert_eq!(letter.error, "event 2 always fails");
    assert_eq!(letter.attempts, 3);
    assert!(letter.first_failed_at < letter.last_failed_at);
    let kept: EventEnvelope = serde_json::from_str(&letter.payload).unwrap();
    assert_eq!(kept, events[1]);

    // Delivered again (a new consumer of the group from the start would be): still skipped.
    let inbox = SqlInbox::new("consumer", db.clone());
    assert_eq!(inbox.handled_count(&group).await.unwrap(), 3);
}

/// Two deliveries of one event racing on PostgreSQL (a rebalance's old and new owner of a
/// partition): both do the effect in their transaction; the second one's inbox record waits
/// for the first one's, finds it committed and rolls back. One effect.
#[tokio::test]
async fn two_deliveries_racing_on_postgres_have_one_effect() {
    let db = consumer_db(&fresh_postgres().await).await;
    let inbox = SqlInbox::new("consumer", db.clone());
    let group = "erp.consumer.race";
    let once = event("agg", 1);
    let handler = RecordEffect::default();
    let mut first = inbox.begin().await.unwrap();
    let mut second = inbox.begin().await.unwrap();
    assert!(!inbox.seen(&mut first, group, &once).await.unwrap());
    assert!(!inbox.seen(&mut second, group, &once).await.unwrap());
    handler.handle(&mut first, &once).await.unwrap();
    handler.handle(&mut second, &once).await.unwrap();
    assert!(inbox
        .record(&mut first, group, "topic", &once)
        .await
        .unwrap());
    let racing = {
        let (inbox, once) = (inbox.clone(), once.clone());
        tokio::spawn(async move {
            let recorded = inbox
                .record(&mut second, group, "topic", &once)
                .await
                .unwrap();
            (recorded, second)
        })
    };
    inbox.commit(first).await.unwrap();
    let (recorded, second) = racing.await.unwrap();
    assert!(!recorded, "the first delivery's record stands");
    inbox.rollback(second).await;
    assert_eq!(effects(&db).await.len(), 1);
    assert_eq!(inbox.handled_count(group).await.unwrap(), 1);
}

/// d: messages that are not event envelopes are dead-lettered, and the consumer goes on.
#[tokio::test]
async fn undecodable_messages_are_dead_lettered_and_the_consumer_goes_on() {
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let brokers = require_env("KAFKA_BROKERS");
    let bus = kafka();
    let db = consumer_db(&fresh_postgres().await).await;
    let topic = format!("erp.{}.events", unique("raw"));
    let group = unique("erp.consumer.raw-");
    // The topic first (the kit's bus creates it), then raw bytes on it.
    let first = event("agg", 1);
    bus.publish(&topic, &first).await.unwrap();
    let raw: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let key = format!("{TENANT}:agg");
    let mut positions = Vec::new();
    for payload in [&b"not json at all"[..], br#"{"hello":"world"}"#] {
        let delivered = raw
            .send(
                FutureRecord::to(&topic).key(&key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        positions.push(delivered);
    }
    let last = event("agg", 2);
    bus.publish(&topic, &last).await.unwrap();

    let (consumer, _) = start(&bus, &db, RecordEffect::default(), config(&group, &topic));
    let stats = settled(&consumer, 4).await;
    consumer.shutdown().await;

    assert_eq!(
        (
            stats.consumed,
            stats.handled,
            stats.dead_lettered,
            stats.retried
        ),
        (4, 2, 2, 0)
    );
    let ns: Vec<i64> = effects(&db).await.into_iter().map(|row| row.n).collect();
    assert_eq!(ns, vec![1, 2]);
    let letters = SqlInbox::new("consumer", db.clone())
        .dead_letters(&group)
        .await
        .unwrap();
    assert_eq!(letters.len(), 2);
    for (letter, (delivery, payload)) in letters.iter().zip(
        positions
            .iter()
            .zip(["not json at all", r#"{"hello":"world"}"#]),
    ) {
        assert_eq!(letter.failure, FailureKind::Undecodable);
        assert_eq!(letter.partition, delivery.partition);
        assert_eq!(letter.offset, delivery.offset);
        assert_eq!(
            letter.message_key,
            format!("{topic}/{}@{}", delivery.partition, delivery.offset)
        );
        assert_eq!(letter.payload, payload);
        assert_eq!(letter.event_id, None);
        assert_eq!(letter.attempts, 1);
        assert!(
            letter.error.starts_with("not an event envelope: "),
            "{}",
            letter.error
        );
    }
}

/// e: the one-process mode: the producer's SQLite outbox relays to the durable in-process bus
/// (its log in a SQLite file); a consumer started after the events were published receives
/// them, and a restart of everything (new bus on the same file) repeats none.
#[tokio::test]
async fn the_durable_in_process_bus_delivers_events_published_before_the_consumer_ran() {
    let log_url = fresh_sqlite();
    let open_bus = || async {
        let db = erp_kit::db::connect(&log_url).await.unwrap();
        Arc::new(DurableBus::open(db).await.unwrap()) as SharedBus
    };
    let producer_url = fresh_sqlite();
    let consumer_url = fresh_sqlite();
    let db = consumer_db(&consumer_url).await;

    // The producer runs alone: its events are published (handed to the bus: on this bus,
    // committed to the log) and its outbox drained.
    let bus = open_bus().await;
    let domain = producer_domain();
    let producer = Producer::start(&producer_url, domain, bus.clone()).await;
    let topic = producer.topic().to_owned();
    let group = "erp.consumer.embedded";
    let events: Vec<_> = (0..12)
        .map(|n| event(&format!("agg-{}", n % 4), n))
        .collect();
    producer.write(&events).await;
    let drained = eventually(WAIT, || async {
        (producer.outbox.pending_count(&producer.db).await.unwrap() == 0).then_some(())
    })
    .await;
    assert!(drained.is_some(), "the relay published everything");
    drop(producer);
    drop(bus);

    // The next start: the consumer gets all of them.
    let bus = open_bus().await;
    let (consumer, _) = start(&bus, &db, RecordEffect::default(), config(group, &topic));
    let stats = settled(&consumer, 12).await;
    assert_eq!(
        (stats.consumed, stats.handled, stats.duplicates),
        (12, 12, 0)
    );
    let caught_up = eventually(WAIT, || async {
        (consumer.stats().lag == Some(0)).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "{:?}", consumer.stats());
    consumer.shutdown().await;
    drop(bus);

    // Another restart, a few more events: only those.
    let bus = open_bus().await;
    let producer = Producer::start(&producer_url, domain, bus.clone()).await;
    let more: Vec<_> = (12..15).map(|n| event("agg-0", n)).collect();
    producer.write(&more).await;
    let (consumer, _) = start(&bus, &db, RecordEffect::default(), config(group, &topic));
    let stats = settled(&consumer, 3).await;
    let caught_up = eventually(WAIT, || async {
        (consumer.stats().lag == Some(0)).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "{:?}", consumer.stats());
    consumer.shutdown().await;
    assert_eq!((stats.consumed, stats.handled, stats.duplicates), (3, 3, 0));

    let all: Vec<_> = events.into_iter().chain(more).collect();
    assert_each_once_in_order(&db, &all).await;
    assert_eq!(effects(&db).await.len(), 15);
}
