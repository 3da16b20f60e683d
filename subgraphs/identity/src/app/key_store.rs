//! The [`KeyStore`]: signs access tokens, publishes the JWKS and verifies the service's own
//! tokens, from the keys in the database (cached, reloaded every few seconds so replicas follow
//! a rotation; `app/keys.rs` rotates).
//!
//! The private keys are stored sealed by the field cipher (the service's own data key, of the
//! `system` tenant; the AAD binds the key id), never in clear.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::RwLock;

use erp_kit::auth::{Claims, JwkSet, RsaSigningKey, TokenRules, VerifyError};
use erp_kit::crypto::{is_sealed, FieldCipher};
use erp_kit::{ApiError, ApiResult, TenantId};

use crate::domain::keys::signer_at;
use crate::events::SYSTEM_TENANT;
use crate::store::{self, now_ms};

/// Where a signing key's material is kept (part of its AAD).
const KEY_TABLE: &str = "signing_keys";
const KEY_COLUMN: &str = "private_pkcs8";

struct Loaded {
    key: Arc<RsaSigningKey>,
    decoding: Arc<jsonwebtoken::DecodingKey>,
    activates_at: i64,
}

struct Cached {
    keys: Vec<Loaded>,
    loaded_at: i64,
}

impl Cached {
    fn signer(&self, now: i64) -> Option<Arc<RsaSigningKey>> {
        signer_at(&self.keys, |k| k.activates_at, now).map(|k| k.key.clone())
    }
}

/// The identity service's keys: signs access tokens, publishes the JWKS, verifies its own tokens.
pub struct KeyStore {
    db: sea_orm::DatabaseConnection,
    cipher: FieldCipher,
    /// How long verifiers may cache the JWKS.
    jwks_ttl: Duration,
    /// The longest access-token lifetime.
    token_ttl: Duration,
    /// How often replicas reload keys from the database.
    reload_every: Duration,
    rules: TokenRules,
    cached: RwLock<Cached>,
}

impl KeyStore {
    pub fn new(
        db: sea_orm::DatabaseConnection,
        cipher: FieldCipher,
        jwks_ttl: Duration,
        token_ttl: Duration,
        rules: TokenRules,
    ) -> Self {
        Self {
            db,
            cipher,
            jwks_ttl,
            token_ttl,
            reload_every: Duration::from_secs(30).min(jwks_ttl.max(Duration::from_secs(1))),
            rules,
            cached: RwLock::new(Cached {
                keys: Vec::new(),
                loaded_at: 0,
            }),
        }
    }

    /// Creates the first key when there is none that can sign (first start).
    pub async fn ensure_signing_key(&self) -> ApiResult<()> {
        self.reload().await?;
        let now = now_ms();
        if self.cached.read().await.signer(now).is_some() {
            return Ok(());
        }
        let (kid, pkcs8) = new_key()?;
        let sealed = self.seal(&kid, &pkcs8).await?;
        store::keys::insert(&self.db, &kid, sealed, now).await?;
        self.reload().await
    }

    /// The key material `pkcs8` of `kid`, sealed for storage. Writes the service's first data
    /// key on first use: call it before a write transaction.
    pub async fn seal(&self, kid: &str, pkcs8: &str) -> ApiResult<String> {
        self.cipher
            .encrypt(&system_tenant(), KEY_TABLE, KEY_COLUMN, kid, pkcs8)
            .await
    }

    /// The key material of a stored row (sealed; an earlier version's clear row as it is,
    /// until the start-up conversion seals it).
    async fn open(&self, kid: &str, stored: &str) -> ApiResult<String> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        self.cipher
            .decrypt(&system_tenant(), KEY_TABLE, KEY_COLUMN, kid, stored)
            .await
    }

    /// Reads the published keys again (after a rotation, or when the cache is stale).
    pub(super) async fn reload(&self) -> ApiResult<()> {
        let now = now_ms();
        let rows = store::keys::published(&self.db, now).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let pkcs8 = self.open(&row.kid, &row.private_pkcs8).await?;
            let key = RsaSigningKey::from_pkcs8_base64(row.kid.clone(), &pkcs8)
                .map_err(ApiError::internal)?;
            let decoding = key.decoding_key().map_err(ApiError::internal)?;
            keys.push(Loaded {
                key: Arc::new(key),
                decoding: Arc::new(decoding),
                activates_at: row.activates_at,
            });
        }
        // Newest first, as the JWKS lists them.
        keys.sort_by_key(|k| std::cmp::Reverse(k.activates_at));
        *self.cached.write().await = Cached {
            keys,
            loaded_at: now,
        };
        Ok(())
    }

    async fn fresh(&self) -> ApiResult<()> {
        let stale =
            now_ms() - self.cached.read().await.loaded_at > self.reload_every.as_millis() as i64;
        if stale {
            self.reload().await?;
        }
        Ok(())
    }

    /// The key that signs now.
    pub async fn signing_key(&self) -> ApiResult<Arc<RsaSigningKey>> {
        self.fresh().await?;
        if let Some(key) = self.cached.read().await.signer(now_ms()) {
            return Ok(key);
        }
        self.ensure_signing_key().await?;
        self.cached
            .read()
            .await
            .signer(now_ms())
            .ok_or_else(|| ApiError::internal("no signing key"))
    }

    /// Every published key: the active ones, the next one, and retiring ones.
    pub async fn jwks(&self) -> ApiResult<JwkSet> {
        self.fresh().await?;
        Ok(JwkSet {
            keys: self
                .cached
                .read()
                .await
                .keys
                .iter()
                .map(|k| k.key.jwk())
                .collect(),
        })
    }

    pub fn jwks_ttl(&self) -> Duration {
        self.jwks_ttl
    }

    /// The longest access-token lifetime (how long a retiring key stays published).
    pub fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    /// Verifies an access token with the published keys.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let kid = TokenRules::kid_of(token)?;
        self.fresh()
            .await
            .map_err(|_| VerifyError::KeysUnavailable("signing keys".into()))?;
        let mut key = self.decoding_key(&kid).await;
        if key.is_none() {
            // Another replica may have rotated since our last reload.
            self.reload()
                .await
                .map_err(|_| VerifyError::KeysUnavailable("signing keys".into()))?;
            key = self.decoding_key(&kid).await;
        }
        let key = key.ok_or(VerifyError::UnknownKey)?;
        self.rules.decode(token, &key)
    }

    async fn decoding_key(&self, kid: &str) -> Option<Arc<jsonwebtoken::DecodingKey>> {
        self.cached
            .read()
            .await
            .keys
            .iter()
            .find(|k| k.key.kid() == kid)
            .map(|k| k.decoding.clone())
    }
}

#[async_trait::async_trait]
impl erp_kit::http::TokenVerifier for KeyStore {
    async fn verify_token(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify(token).await
    }
}

/// The tenant the service's own keys belong to (in the field cipher's key table).
fn system_tenant() -> TenantId {
    TenantId::from_claim(SYSTEM_TENANT)
}

/// A fresh RSA key: its kid and its PKCS#8 form (to seal, then store).
pub(super) fn new_key() -> ApiResult<(String, String)> {
    let kid = format!("k{}", uuid::Uuid::now_v7().simple());
    let key = RsaSigningKey::generate(kid.clone()).map_err(ApiError::internal)?;
    Ok((kid, key.to_pkcs8_base64()))
}
