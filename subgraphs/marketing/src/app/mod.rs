//! The use cases of the marketing domain, on [`Marketing`]: one function per mutation, each
//! reading its facts through `crate::store`, applying the rules of `crate::domain`, writing,
//! enqueueing its event in the same transaction, committing and waking the outbox relay (and
//! the sender, for sends); the public one-click actions (unsubscribe, opt-in confirmation,
//! tracking) verified by their signed links; and the sender ([`sending`]). Nothing here knows
//! GraphQL.

pub mod ab_test;
pub mod bulk;
pub mod campaigns;
pub mod contacts;
pub mod conversions;
pub mod forms;
pub mod journeys;
pub mod links;
pub mod segments;
pub mod sending;
pub mod social;
pub mod throttle;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;

use erp_kit::cache::SharedCache;
use erp_kit::crypto::FieldCipher;
use erp_kit::db::WriteTransaction;
use erp_kit::events::{EventEnvelope, Outbox};
use erp_kit::{ApiError, ApiResult, TenantId};

use crate::channels::SharedChannelAdapter;
use crate::domain::contact::{EmailAddress, ADDRESS_HASH_COLUMN};
use crate::mail::SharedMailer;

/// What the use cases need to know about the deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public base URL of this subgraph's one-click routes (`https://mail.example.com`):
    /// links in messages are `<public_url>/marketing/...`.
    pub public_url: String,
    /// The sender of every message (`News <news@example.com>`).
    pub from_address: String,
    /// How long an unsubscribe or confirmation link stays valid (seconds).
    pub link_ttl_secs: i64,
    /// How long a double opt-in confirmation link stays valid (seconds).
    pub opt_in_ttl_secs: i64,
    /// Deprecated: the deployment-wide secret of the legacy webhook URL
    /// (`/marketing/webhooks/mail-events`); `None`: that URL answers 404. Each tenant has its
    /// own secret and URL (app/webhooks.rs).
    pub webhook_secret: Option<String>,
    /// How far a webhook call's timestamp may be from now (seconds).
    pub webhook_tolerance_secs: i64,
    /// The deployment's named SMTP relays, (name, URL), which a tenant's sending provider may
    /// go through instead of the default relay (`ERP_SMTP_RELAYS`: `name=url,name=url`). Only
    /// the operator names relays: a tenant picks one by name, never gives a host.
    pub smtp_relays: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: format!("http://127.0.0.1:{}", crate::DEFAULT_PORT),
            from_address: "ERP OS <marketing@erp-os.invalid>".into(),
            link_ttl_secs: 180 * 24 * 3600,
            opt_in_ttl_secs: crate::domain::contact::OPT_IN_TTL_SECS,
            webhook_secret: None,
            webhook_tolerance_secs: crate::domain::webhook::DEFAULT_TOLERANCE_SECS,
            smtp_relays: Vec::new(),
        }
    }
}

/// The marketing use cases over the database, the outbox, the tenant keys (address hashes and
/// signed links) and the mail relay.
#[derive(Clone)]
pub struct Marketing {
    db: DatabaseConnection,
    outbox: Outbox,
    cipher: FieldCipher,
    mailer: Option<SharedMailer>,
    /// The deployment's named relays (`ERP_SMTP_RELAYS`), which sending providers pick.
    relays: Arc<BTreeMap<String, SharedMailer>>,
    settings: Arc<Settings>,
    /// Wakes the sender when a campaign starts or resumes.
    sender_wake: Arc<Notify>,
    /// The shared cache (Redis): the public endpoints' rate counters.
    cache: SharedCache,
    /// Where due social posts are handed (app/social.rs).
    channels: SharedChannelAdapter,
}

impl Marketing {
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        cipher: FieldCipher,
        mailer: Option<SharedMailer>,
        settings: Settings,
        cache: SharedCache,
        channels: SharedChannelAdapter,
    ) -> Self {
        Self {
            db,
            outbox,
            cipher,
            mailer,
            relays: Arc::new(BTreeMap::new()),
            settings: Arc::new(settings),
            sender_wake: Arc::new(Notify::new()),
            cache,
            channels,
        }
    }

    /// With the deployment's named SMTP relays (a sending provider's `relay` names one).
    pub fn with_relays(mut self, relays: BTreeMap<String, SharedMailer>) -> Self {
        self.relays = Arc::new(relays);
        self
    }

    /// The names of the deployment's named relays.
    pub fn relay_names(&self) -> Vec<String> {
        self.relays.keys().cloned().collect()
    }

    /// The relay a provider's messages go through: its named relay, else the default one.
    /// `Ok(None)` when it names a relay this deployment no longer has.
    fn relay_for(&self, relay: Option<&str>) -> ApiResult<Option<SharedMailer>> {
        match relay {
            None => Ok(Some(self.mailer()?.clone())),
            Some(name) => Ok(self.relays.get(name).cloned()),
        }
    }

    /// The relay a tenant's transactional mail and double opt-in confirmations go through: its
    /// default sending provider's named relay, else the deployment's default relay (they are
    /// not counted against the provider's rate or cap: a password reset is never deferred).
    /// PROVIDER_RELAY_MISSING when that provider names a relay the deployment no longer has:
    /// nothing goes through another relay instead.
    async fn transactional_relay(&self, tenant: &TenantId) -> ApiResult<SharedMailer> {
        let relay = crate::store::throttle::default_provider(&self.db, tenant)
            .await?
            .and_then(|provider| provider.relay);
        self.relay_for(relay.as_deref())?.ok_or_else(|| {
            ApiError::rule(
                crate::domain::reasons::PROVIDER_RELAY_MISSING,
                format!(
                    "the default sending provider goes through the relay `{}`, which this deployment no longer has (mailRelays lists those it has)",
                    relay.unwrap_or_default()
                ),
            )
        })
    }

    /// The outbox the use cases write their events to (its relay publishes them).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Commits a write and wakes the outbox relay for the events it enqueued.
    async fn commit(&self, txn: WriteTransaction) -> Result<(), DbErr> {
        txn.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    async fn enqueue(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        event_type: &str,
        aggregate_id: &str,
        actor: &str,
        payload: impl serde::Serialize,
    ) -> ApiResult<()> {
        let event = EventEnvelope::by_actor(tenant, event_type, aggregate_id, actor, payload)?;
        self.outbox.enqueue(&**txn, &event).await?;
        Ok(())
    }

    /// The salted hash of an address (HMAC under the tenant's index key): computed before a
    /// write transaction begins (a tenant's first key is written on its own).
    pub async fn address_hash(
        &self,
        tenant: &TenantId,
        address: &EmailAddress,
    ) -> ApiResult<String> {
        self.cipher
            .blind_index(tenant, ADDRESS_HASH_COLUMN, address.as_str())
            .await
    }

    fn mailer(&self) -> ApiResult<&SharedMailer> {
        self.mailer
            .as_ref()
            .ok_or_else(|| ApiError::internal("no SMTP relay is configured (ERP_SMTP_URL)"))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(what.to_owned())
}
