//! The marketing subgraph: contacts linked to CRM people with their consent records, double
//! opt-in, preference topics and the suppression list (salted address hashes that survive a
//! GDPR erasure); segments (filter trees, static lists, segments of segments) whose membership
//! is kept up to date incrementally with the full rebuild as the oracle; templates with
//! checked tokens; campaigns sent through a durable queue (the message table: leases, and a
//! send key that makes a second message to a contact impossible) to an SMTP relay, every bulk
//! message carrying the RFC 8058 one-click unsubscribe; open and click tracking and the
//! campaign funnel; a separate transactional stream; social posts scheduled per channel
//! account and handed to a channel adapter (`channels.rs`) once, with UTM attribution.
//! PostgreSQL in production, SQLite embedded.
//!
//! The floor plan (the same in every subgraph): `domain/` pure rules and newtypes, `app/` the
//! use cases on [`Marketing`] (and the sender), `store/` tenant-scoped queries and writes with
//! `store/entities/` the sea-orm models, `graphql/` the schema calling [`Marketing`] and the
//! public one-click routes beside it, `events.rs` what is published, `mail.rs` the relay
//! adapter, `consumers.rs` the consumer of CRM's lead events (the funnel's `converted` stage).
//! [`start`] wires them into a [`MarketingApp`].

pub mod app;
pub mod channels;
pub mod consumers;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod mail;
pub mod store;

use std::sync::Arc;

use erp_kit::crypto::{FieldCipher, LocalKek};
use erp_kit::events::{Outbox, OutboxRelay, RelayConfig, RelayHandle};
use erp_kit::http::{BackendReadiness, HttpState};
use erp_kit::runtime::Runtime;

pub use app::sending::{SenderHandle, SenderOptions};
pub use app::social::{PublisherHandle, PublisherOptions};
pub use app::{Marketing, Settings};
pub use domain::reasons;
pub use graphql::MarketingSchema;

/// The port the marketing subgraph listens on by default.
pub const DEFAULT_PORT: u16 = 4007;

/// The schema with the kit's rules; `None` builds it without data (for SDL export).
pub fn build_schema(
    marketing: Option<Marketing>,
    limits: &erp_kit::config::Limits,
) -> MarketingSchema {
    erp_kit::schema::finish(graphql::schema_builder(marketing), limits)
}

/// The federated SDL of this subgraph (what composition reads).
pub fn sdl() -> String {
    erp_kit::schema::federation_sdl(&build_schema(None, &Default::default()))
}

/// How a marketing subgraph starts.
#[derive(Clone, Default)]
pub struct MarketingOptions {
    /// The SMTP relay (`smtp://host:port`); `None`: no mail goes out (campaigns wait in the
    /// queue, opt-in requests and transactional sends are refused).
    pub smtp_url: Option<String>,
    pub settings: Settings,
    /// Run a sender in this process (`None`: not; tests start and kill their own).
    pub sender: Option<SenderOptions>,
    /// Run the consumers of CRM's lead events (the funnel's `converted` stage); `None`: not.
    pub consumers: Option<consumers::ConsumerOptions>,
    /// Run a publisher of due social posts in this process (`None`: not; tests run passes).
    pub publisher: Option<PublisherOptions>,
    /// Where social posts are published; `None`: a [`channels::RecordingAdapter`] (no
    /// network: it records what it would publish).
    pub channels: Option<channels::SharedChannelAdapter>,
}

impl MarketingOptions {
    /// From the environment: `ERP_SMTP_URL`, `ERP_SMTP_RELAYS` (named relays:
    /// `name=url,name=url`; a comma in a password is written `%2C`), `ERP_MARKETING_PUBLIC_URL`,
    /// `ERP_MARKETING_FROM`,
    /// `ERP_MARKETING_WEBHOOK_SECRET` (deprecated: the legacy webhook URL's deployment-wide
    /// secret; tenants have their own); a sender runs.
    pub fn from_env() -> Self {
        let mut settings = Settings::default();
        if let Ok(url) = std::env::var("ERP_MARKETING_PUBLIC_URL") {
            settings.public_url = url;
        }
        if let Ok(from) = std::env::var("ERP_MARKETING_FROM") {
            settings.from_address = from;
        }
        settings.webhook_secret = std::env::var("ERP_MARKETING_WEBHOOK_SECRET")
            .ok()
            .filter(|secret| !secret.is_empty());
        if let Ok(relays) = std::env::var("ERP_SMTP_RELAYS") {
            settings.smtp_relays = split_relays(&relays);
        }
        Self {
            smtp_url: std::env::var("ERP_SMTP_URL").ok().filter(|u| !u.is_empty()),
            settings,
            sender: Some(SenderOptions::default()),
            consumers: Some(consumers::ConsumerOptions::default()),
            publisher: Some(PublisherOptions::default()),
            channels: None,
        }
    }
}

/// The use cases over the runtime's database (migrated), without the outbox relay.
pub async fn service(runtime: &Runtime, options: &MarketingOptions) -> anyhow::Result<Marketing> {
    erp_kit::db::migrate::<erp_migrations::marketing::Migrator>(&runtime.db).await?;
    let kek = LocalKek::load_or_create(&runtime.config.kek_file)?;
    let cipher = FieldCipher::new(runtime.db.clone(), events::DOMAIN, Arc::new(kek));
    let mailer: Option<mail::SharedMailer> = match &options.smtp_url {
        Some(url) => Some(Arc::new(mail::SmtpMailer::from_url(url)?)),
        None => None,
    };
    let mut relays = std::collections::BTreeMap::new();
    for (name, url) in &options.settings.smtp_relays {
        if !valid_relay_name(name) {
            anyhow::bail!(
                "ERP_SMTP_RELAYS: `{name}` is not a relay name (name=url, the name 1 to 40 characters of a-z, 0-9, `-`, `_`)"
            );
        }
        let relay: mail::SharedMailer = Arc::new(
            mail::SmtpMailer::from_url(url)
                .map_err(|err| anyhow::anyhow!("ERP_SMTP_RELAYS: relay `{name}`: {err}"))?,
        );
        if relays.insert(name.clone(), relay).is_some() {
            anyhow::bail!("ERP_SMTP_RELAYS: relay `{name}` is named twice");
        }
    }
    Ok(Marketing::new(
        runtime.db.clone(),
        Outbox::new(events::DOMAIN),
        cipher,
        mailer,
        options.settings.clone(),
        runtime.cache.clone(),
        options
            .channels
            .clone()
            .unwrap_or_else(|| channels::RecordingAdapter::new()),
    )
    .with_relays(relays))
}

/// `name=url,name=url` as pairs (an entry without `=` keeps an empty name, refused at start).
fn split_relays(raw: &str) -> Vec<(String, String)> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((name, url)) => (name.trim().to_owned(), url.trim().to_owned()),
            None => (String::new(), entry.to_owned()),
        })
        .collect()
}

/// A relay's name: 1 to 40 characters of a-z, 0-9, `-`, `_`.
fn valid_relay_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A running marketing subgraph: its HTTP router (GraphQL and the one-click routes), its use
/// cases, its outbox relay, its sender and its consumers.
pub struct MarketingApp {
    pub router: axum::Router,
    pub marketing: Marketing,
    pub relay: RelayHandle,
    pub sender: Option<SenderHandle>,
    pub consumers: Vec<erp_kit::events::ConsumerHandle>,
    /// The publisher of due social posts, when one runs here.
    pub publisher: Option<PublisherHandle>,
}

/// [`start_with`] with the options of the environment.
pub async fn start(runtime: &Runtime) -> anyhow::Result<MarketingApp> {
    start_with(runtime, MarketingOptions::from_env()).await
}

/// Migrates the database, starts the outbox relay and the sender, builds the HTTP router.
pub async fn start_with(
    runtime: &Runtime,
    options: MarketingOptions,
) -> anyhow::Result<MarketingApp> {
    let marketing = service(runtime, &options).await?;
    let relay = OutboxRelay::new(
        marketing.outbox().clone(),
        runtime.db.clone(),
        runtime.bus.clone(),
        RelayConfig::default(),
    )
    .spawn();
    let sender = match (&options.sender, &options.smtp_url) {
        (Some(sender), Some(_)) => Some(marketing.spawn_sender(sender.clone())),
        _ => None,
    };
    let publisher = options
        .publisher
        .as_ref()
        .map(|publisher| marketing.spawn_publisher(publisher.clone()));
    let consumers = match &options.consumers {
        Some(consumer_options) => consumers::start_consumers(runtime, consumer_options, &marketing),
        None => Vec::new(),
    };
    let schema = build_schema(Some(marketing.clone()), &runtime.config.limits);
    let router = erp_kit::http::router(HttpState {
        executor: schema,
        trusted_proxies: runtime.config.trusted_proxies.clone(),
        verifier: Arc::new(runtime.verifier.clone()),
        readiness: Arc::new(BackendReadiness {
            db: Some(runtime.db.clone()),
            cache: Some(runtime.cache.clone()),
        }),
        metrics: runtime.metrics.clone(),
        max_body_bytes: runtime.config.limits.max_body_bytes,
    })
    .merge(graphql::public::router(
        marketing.clone(),
        erp_kit::http::TrustedProxies(runtime.config.trusted_proxies.clone()),
    ));
    Ok(MarketingApp {
        router,
        marketing,
        relay,
        sender,
        consumers,
        publisher,
    })
}

#[cfg(test)]
mod tests {
    use super::{split_relays, valid_relay_name};

    #[test]
    fn named_relays_are_read_from_name_equals_url_pairs() {
        assert_eq!(
            split_relays(
                " eu=smtps://u:p%2Cq@eu.example:465 , bulk=smtp://b.example:587?tls=required,"
            ),
            vec![
                ("eu".to_owned(), "smtps://u:p%2Cq@eu.example:465".to_owned()),
                (
                    "bulk".to_owned(),
                    "smtp://b.example:587?tls=required".to_owned()
                ),
            ]
        );
        assert_eq!(
            split_relays("smtp://nameless.example"),
            vec![(String::new(), "smtp://nameless.example".to_owned())]
        );
        assert!(split_relays("").is_empty());
        assert!(valid_relay_name("eu-west_1"));
        for bad in ["", "EU", "eu west", "eu.west", &"a".repeat(41)] {
            assert!(!valid_relay_name(bad), "{bad}");
        }
    }
}
