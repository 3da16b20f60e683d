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
    pub db: DatabaseConnection,
    pub cache: SharedCache,
    pub bus: SharedBus,
    pub verifier: JwksVerifier,
    pub metrics: Metrics,
}

impl Runtime {
    /// Connects the database, the cache and the bus named in `config`.
    pub async fn connect(config: KitConfig) -> anyhow::Result<Self> {
        let db = crate::db::connect(&config.database_url).await?;
        let cache: SharedCache = match &config.redis_url {
            Some(url) => Arc::new(RedisCache::connect(url).await?),
            None => Arc::new(InProcessCache::new()),
        };
        let bus: SharedBus = match &config.kafka_brokers {
            Some(brokers) => Arc::new(KafkaBus::new(KafkaConfig::new(brokers.clone()))?),
            None => Arc::new(InProcessBus::new()),
        };
        Ok(Self::with_backends(config, db, cache, bus))
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
