//! The Kafka bus (rdkafka with its bundled librdkafka).

use std::collections::HashSet;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::{BusError, EventBus, EventEnvelope};

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
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            publish_timeout: Duration::from_secs(10),
            partitions: 3,
            replication: 1,
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
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
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

    fn kind(&self) -> &'static str {
        "kafka"
    }
}
