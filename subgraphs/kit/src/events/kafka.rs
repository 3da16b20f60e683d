//! The Kafka bus (rdkafka with its bundled librdkafka).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use super::{BusError, Delivery, EventBus, EventEnvelope, PartitionLag, Subscription};

#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`
    pub brokers: String,
    /// How long one publish may wait for the broker before it is reported as failed (the outbox
    /// retries it later).
    pub publish_timeout: Duration,
    /// Partitions for topics this service creates.
    pub partitions: i32,
    pub replication: i32,
    /// A consumer that stops heartbeating for this long loses its partitions to the group's
    /// others.
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// How often a consumer's lag is refreshed (librdkafka statistics).
    pub statistics_interval: Duration,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            publish_timeout: Duration::from_secs(10),
            partitions: 3,
            replication: 1,
            session_timeout: Duration::from_secs(6),
            heartbeat_interval: Duration::from_millis(500),
            statistics_interval: Duration::from_secs(5),
        }
    }
}

pub struct KafkaBus {
    config: KafkaConfig,
    /// Replaced after a fatal error: an idempotent producer that is fenced (for example by a
    /// broker that lost its producer state) never recovers and must be recreated.
    producer: parking_lot::RwLock<std::sync::Arc<FutureProducer>>,
    admin: AdminClient<DefaultClientContext>,
    ensured_topics: Mutex<HashSet<String>>,
}

impl KafkaBus {
    pub fn new(config: KafkaConfig) -> Result<Self, BusError> {
        let producer = Self::create_producer(&config)?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .create()
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(Self {
            config,
            producer: parking_lot::RwLock::new(std::sync::Arc::new(producer)),
            admin,
            ensured_topics: Mutex::new(HashSet::new()),
        })
    }

    fn create_producer(config: &KafkaConfig) -> Result<FutureProducer, BusError> {
        ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                config.publish_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "5")
            .create()
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    /// Recreates the producer if the current one hit a fatal error, or a broker refused its
    /// idempotent-producer identity (a broker that lost its state answers every later send of
    /// that producer with ProducerFenced).
    fn recover_from_fatal(&self, failed: &std::sync::Arc<FutureProducer>, error: &KafkaError) {
        let identity_refused = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::InvalidProducerIdMapping
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
            )
        );
        let (code, reason) = match failed.client().fatal_error() {
            Some((code, reason)) => (code, reason),
            None if identity_refused => (
                error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
                error.to_string(),
            ),
            None => return,
        };
        let mut current = self.producer.write();
        if !std::sync::Arc::ptr_eq(&current, failed) {
            return; // another task already replaced it
        }
        match Self::create_producer(&self.config) {
            Ok(fresh) => {
                tracing::warn!(?code, %reason, "kafka producer hit a fatal error, recreated it");
                *current = std::sync::Arc::new(fresh);
            }
            Err(err) => tracing::error!(error = %err, "kafka producer could not be recreated"),
        }
    }

    /// Creates `topic` if the broker does not have it yet (idempotent).
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), BusError> {
        if self.ensured_topics.lock().contains(topic) {
            return Ok(());
        }
        let new_topic = NewTopic::new(
            topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication),
        );
        let options = AdminOptions::new().operation_timeout(Some(self.config.publish_timeout));
        let results = self
            .admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Unavailable(format!(
                        "creating topic {name}: {code}"
                    )))
                }
            }
        }
        self.ensured_topics.lock().insert(topic.to_owned());
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventBus for KafkaBus {
    async fn publish(&self, topic: &str, event: &EventEnvelope) -> Result<(), BusError> {
        self.ensure_topic(topic).await?;
        let payload = serde_json::to_vec(event).map_err(|e| BusError::Encode(e.to_string()))?;
        let key = format!("{}:{}", event.tenant_id, event.aggregate_id);
        let id = event.id.to_string();
        let headers = rdkafka::message::OwnedHeaders::new()
            .insert(rdkafka::message::Header {
                key: "event_type",
                value: Some(event.event_type.as_bytes()),
            })
            .insert(rdkafka::message::Header {
                key: "event_id",
                value: Some(id.as_bytes()),
            });
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&payload)
            .headers(headers);
        let producer = self.producer.read().clone();
        let result = producer.send(record, self.config.publish_timeout).await;
        match result {
            Ok(_) => Ok(()),
            Err((err, _)) => {
                self.recover_from_fatal(&producer, &err);
                Err(BusError::Unavailable(err.to_string()))
            }
        }
    }

    async fn subscribe(
        &self,
        topics: &[&str],
        group: &str,
    ) -> Result<BoxStream<'static, EventEnvelope>, BusError> {
        for topic in topics {
            self.ensure_topic(topic).await?;
        }
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.config.brokers)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set(
                "session.timeout.ms",
                self.config.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                self.config.heartbeat_interval.as_millis().to_string(),
            )
            .create()
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        consumer
            .subscribe(topics)
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let stream = futures::stream::unfold(consumer, |consumer| async move {
            loop {
                match consumer.recv().await {
                    Ok(message) => {
                        let decoded = message
                            .payload()
                            .and_then(|bytes| serde_json::from_slice::<EventEnvelope>(bytes).ok());
                        match decoded {
                            Some(event) => return Some((event, consumer)),
                            None => tracing::warn!(
                                topic = message.topic(),
                                offset = message.offset(),
                                "skipping a message that is not an event envelope"
                            ),
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Ok(stream.boxed())
    }

    /// A consumer in group `group`: offsets are stored only when the consumer settles a
    /// message (after its effect committed) and committed only when it commits, or when a
    /// rebalance is about to take partitions away.
    async fn consume(
        &self,
        topics: &[&str],
        group: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        for topic in topics {
            self.ensure_topic(topic).await?;
        }
        let context = GroupContext {
            group: group.to_owned(),
            abandoned: AtomicBool::new(false),
            lags: parking_lot::Mutex::new(BTreeMap::new()),
        };
        let consumer: StreamConsumer<GroupContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.config.brokers)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "session.timeout.ms",
                self.config.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                self.config.heartbeat_interval.as_millis().to_string(),
            )
            .set(
                "statistics.interval.ms",
                self.config.statistics_interval.as_millis().to_string(),
            )
            .create_with_context(context)
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        consumer
            .subscribe(topics)
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(Box::new(KafkaSubscription {
            consumer: Arc::new(consumer),
        }))
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }
}

/// A consumer's callbacks: commits before a rebalance takes partitions away, keeps the lag
/// librdkafka reports.
struct GroupContext {
    group: String,
    /// Set when the consumer is abandoned (a crash): nothing is committed on the way out.
    abandoned: AtomicBool,
    /// (topic, partition) -> lag behind the committed offset.
    lags: parking_lot::Mutex<BTreeMap<(String, i32), i64>>,
}

/// Commits the stored offsets; "nothing stored" is not a failure.
fn commit_stored<C: Consumer<G>, G: ConsumerContext>(consumer: &C) -> Result<(), KafkaError> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        let mut lags = self.lags.lock();
        for (topic, stats) in statistics.topics {
            for partition in stats.partitions.values() {
                // -1: librdkafka's internal "unassigned" partition; a negative lag: unknown.
                if partition.partition >= 0 && partition.consumer_lag >= 0 {
                    lags.insert((topic.clone(), partition.partition), partition.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // The partitions' next owner starts after what this consumer handled (the inbox
            // would skip it anyway, but need not see it).
            if !self.abandoned.load(Ordering::Relaxed) {
                if let Err(err) = commit_stored(consumer) {
                    tracing::warn!(group = %self.group, error = %err, "offsets not committed before a rebalance");
                }
            }
            let mut lags = self.lags.lock();
            for partition in partitions.elements() {
                lags.remove(&(partition.topic().to_owned(), partition.partition()));
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(group = %self.group, partitions = partitions.count(), "consumer partitions assigned")
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(group = %self.group, partitions = partitions.count(), "consumer partitions revoked")
            }
            Rebalance::Error(err) => {
                tracing::warn!(group = %self.group, error = %err, "consumer rebalance failed")
            }
        }
    }
}

struct KafkaSubscription {
    consumer: Arc<StreamConsumer<GroupContext>>,
}

#[async_trait::async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        let message = self
            .consumer
            .recv()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(Delivery {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|key| String::from_utf8_lossy(key).into_owned()),
            payload: message.payload().unwrap_or_default().to_vec(),
        })
    }

    fn settle(&mut self, delivery: &Delivery) {
        // librdkafka stores the offset after the one given (the message's own): the group
        // resumes after it.
        if let Err(err) =
            self.consumer
                .store_offset(&delivery.topic, delivery.partition, delivery.offset)
        {
            // The partition went to another consumer meanwhile: it will deliver the message
            // again, and the inbox skip it.
            tracing::debug!(position = %delivery.position(), error = %err, "offset not stored");
        }
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || commit_stored(consumer.as_ref()))
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn lag(&self) -> Vec<PartitionLag> {
        self.consumer
            .context()
            .lags
            .lock()
            .iter()
            .map(|((topic, partition), lag)| PartitionLag {
                topic: topic.clone(),
                partition: *partition,
                lag: *lag,
            })
            .collect()
    }

    fn abandon(&mut self) {
        self.consumer
            .context()
            .abandoned
            .store(true, Ordering::Relaxed);
    }
}
