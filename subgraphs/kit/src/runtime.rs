//! The backends a subgraph runs on, chosen by configuration: real servers when their URL is set,
//! embedded stand-ins otherwise.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::JwksVerifier;
use crate::cache::{InProcessCache, RedisCache, SharedCache};
use crate::config::KitConfig;
use crate::events::{InProcessBus, KafkaBus, KafkaConfig, SharedBus};
use crate::telemetry::Metrics;

/// The connected backends of one subgraph process.
#[derive(Clone)]
pub struct Runtime {
    pub config: KitConfig,
    /// The relational database; `DatabaseConnection::Disconnected` in a subgraph that has none
    /// (the document domains: PMO, operations), see [`Runtime::connect_without_database`].
    pub db: DatabaseConnection,
    pub cache: SharedCache,
    pub bus: SharedBus,
    pub verifier: JwksVerifier,
    pub metrics: Metrics,
}

impl Runtime {
    /// Connects the relational database, the cache and the bus named in `config`.
    pub async fn connect(config: KitConfig) -> anyhow::Result<Self> {
        let db = crate::db::connect(&config.database_url).await?;
        let (cache, bus) = backends(&config).await?;
        Ok(Self::with_backends(config, db, cache, bus))
    }

    /// Connects the cache and the bus named in `config`, for a subgraph without a relational
    /// database (its document store is its own: MongoDB or the embedded one).
    pub async fn connect_without_database(config: KitConfig) -> anyhow::Result<Self> {
        let (cache, bus) = backends(&config).await?;
        Ok(Self::with_backends(
            config,
            DatabaseConnection::Disconnected,
            cache,
            bus,
        ))
    }

    /// Assembles a runtime from backends the caller already has (one-process mode shares them).
    pub fn with_backends(
        config: KitConfig,
        db: DatabaseConnection,
        cache: SharedCache,
        bus: SharedBus,
    ) -> Self {
        // Revoked tokens (a deactivated user's) are refused on every request, and this process
        // learns revocations as they happen for its live subscriptions.
        let verifier = JwksVerifier::new(config.auth.clone()).with_revocations(cache.clone());
        crate::live::set_max_subscriptions_per_user(config.limits.max_subscriptions_per_user);
        crate::auth::revocation::listen(cache.clone());
        let metrics = Metrics::new(&config.service);
        Self {
            config,
            db,
            cache,
            bus,
            verifier,
            metrics,
        }
    }
}

/// The cache and the bus named in `config`: Redis at `REDIS_URL` and Kafka at `KAFKA_BROKERS`,
/// in-process ones when unset.
pub async fn backends(config: &KitConfig) -> anyhow::Result<(SharedCache, SharedBus)> {
    let cache: SharedCache = match &config.redis_url {
        Some(url) => Arc::new(RedisCache::connect(url).await?),
        None => Arc::new(InProcessCache::new()),
    };
    let bus: SharedBus = match &config.kafka_brokers {
        Some(brokers) => Arc::new(KafkaBus::new(KafkaConfig::new(brokers.clone()))?),
        None => Arc::new(InProcessBus::new()),
    };
    Ok((cache, bus))
}
