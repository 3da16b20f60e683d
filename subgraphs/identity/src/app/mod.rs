//! The identity use cases: accounts, login with a mandatory second factor, tokens and sessions.
//! One function per mutation; GraphQL and the OIDC endpoints are thin layers over them. A write
//! reads its facts, applies the domain rule, writes, enqueues its audit event in the same
//! transaction, commits and wakes the outbox relay.
//!
//! This file holds [`Identity`] and what every use case shares; each feature's file adds its use
//! cases to it (and imports this one, never the other way round).

pub mod key_store;
pub mod keys;
pub mod lockout;
pub mod login;
pub mod mfa;
pub mod roles;
pub mod sealing;
pub mod sessions;
pub mod tenants;
pub mod users;
pub mod webauthn;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use webauthn_rs::Webauthn;

use erp_kit::cache::SharedCache;
use erp_kit::crypto::FieldCipher;
use erp_kit::events::Outbox;
use erp_kit::{ApiError, ApiResult};

use crate::domain::lockout::LockoutPolicy;
use crate::domain::Violation;
use crate::events::{self, IdentityEvent};
use key_store::KeyStore;

/// Settings of the identity service.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub mfa_session_ttl: Duration,
    pub invite_ttl: Duration,
    pub jwks_cache_ttl: Duration,
    /// Failed logins and wrong second factors: when an account (or an address) is locked.
    pub lockout: LockoutPolicy,
    pub webauthn_rp_id: String,
    pub webauthn_origin: String,
    pub totp_issuer: String,
    /// Prefix of this service's cache keys (deployments sharing one Redis use different ones).
    pub cache_prefix: String,
}

impl IdentityConfig {
    /// Defaults, with `ERP_JWT_ISSUER`, `ERP_JWT_AUDIENCE`, `ERP_JWKS_CACHE_SECS`,
    /// `ERP_ACCESS_TOKEN_SECS`, `ERP_WEBAUTHN_RP_ID`, `ERP_WEBAUTHN_ORIGIN` from the kit config
    /// and the environment.
    pub fn from_kit(kit: &erp_kit::config::KitConfig) -> Self {
        let env_secs = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            issuer: kit.auth.issuer.clone(),
            audience: kit.auth.audience.clone(),
            access_ttl: Duration::from_secs(env_secs("ERP_ACCESS_TOKEN_SECS", 900)),
            refresh_ttl: Duration::from_secs(env_secs("ERP_REFRESH_TOKEN_SECS", 30 * 24 * 3600)),
            mfa_session_ttl: Duration::from_secs(300),
            invite_ttl: Duration::from_secs(7 * 24 * 3600),
            jwks_cache_ttl: kit.auth.cache_ttl,
            lockout: LockoutPolicy::default(),
            webauthn_rp_id: std::env::var("ERP_WEBAUTHN_RP_ID")
                .unwrap_or_else(|_| "localhost".into()),
            webauthn_origin: std::env::var("ERP_WEBAUTHN_ORIGIN")
                .unwrap_or_else(|_| "https://localhost".into()),
            totp_issuer: "ERP".into(),
            cache_prefix: std::env::var("ERP_IDENTITY_CACHE_PREFIX")
                .unwrap_or_else(|_| "identity".into()),
        }
    }
}

/// The identity use cases over their backends (cheap to clone).
#[derive(Clone)]
pub struct Identity {
    db: DatabaseConnection,
    cache: SharedCache,
    outbox: Outbox,
    keys: Arc<KeyStore>,
    /// Seals TOTP secrets and keys the recovery-code hashes (`sealing.rs`).
    cipher: FieldCipher,
    webauthn: Arc<Webauthn>,
    config: Arc<IdentityConfig>,
}

impl Identity {
    pub fn new(
        db: DatabaseConnection,
        cache: SharedCache,
        outbox: Outbox,
        keys: Arc<KeyStore>,
        cipher: FieldCipher,
        config: IdentityConfig,
    ) -> anyhow::Result<Self> {
        let origin = url::Url::parse(&config.webauthn_origin)?;
        let webauthn = webauthn_rs::WebauthnBuilder::new(&config.webauthn_rp_id, &origin)?
            .rp_name("ERP")
            .build()?;
        Ok(Self {
            db,
            cache,
            outbox,
            keys,
            cipher,
            webauthn: Arc::new(webauthn),
            config: Arc::new(config),
        })
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Enqueues an audit event in the caller's transaction (or, for the login's failure and
    /// success records, which go with no other write, on the pool).
    async fn record<C: ConnectionTrait, E: IdentityEvent>(
        &self,
        conn: &C,
        tenant: &str,
        aggregate: &str,
        actor: Option<&str>,
        event: &E,
    ) -> ApiResult<()> {
        let envelope =
            events::envelope(tenant, aggregate, actor, event).map_err(ApiError::internal)?;
        self.outbox.enqueue(conn, &envelope).await?;
        Ok(())
    }

    /// The cache key `name` of this deployment.
    fn cache_key(&self, name: &str) -> String {
        format!("{}:{name}", self.config.cache_prefix)
    }
}

/// A write's unique-index conflict (the kit's generic CONFLICT) is this rule's.
fn duplicate_is(violation: Violation) -> impl FnOnce(ApiError) -> ApiError {
    move |err| match err {
        ApiError::Conflict(_) => violation.into(),
        other => other,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
