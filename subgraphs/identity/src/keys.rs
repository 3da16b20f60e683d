//! Signing keys and their rotation.
//!
//! Rotation follows edge-security.md: a new key is published in the JWKS at least one JWKS cache
//! TTL before it signs (so every verifier has it before the first token it signed arrives), and
//! the previous key stays published until the longest token lifetime plus the TTL has passed
//! (so every token it signed can still be verified until it expires).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tokio::sync::RwLock;

use erp_kit::auth::{Claims, JwkSet, RsaSigningKey, TokenRules, VerifyError};
use erp_kit::{ApiError, ApiResult};

use crate::store::entities::signing_key;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Loaded {
    key: Arc<RsaSigningKey>,
    decoding: Arc<jsonwebtoken::DecodingKey>,
    activates_at: i64,
}

struct Cached {
    keys: Vec<Loaded>,
    loaded_at: i64,
}

/// The identity service's keys: signs access tokens, publishes the JWKS, verifies its own tokens.
pub struct KeyStore {
    db: DatabaseConnection,
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
        db: DatabaseConnection,
        jwks_ttl: Duration,
        token_ttl: Duration,
        rules: TokenRules,
    ) -> Self {
        Self {
            db,
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
        if self
            .cached
            .read()
            .await
            .keys
            .iter()
            .any(|k| k.activates_at <= now)
        {
            return Ok(());
        }
        self.insert_key(now).await?;
        self.reload().await
    }

    async fn insert_key(&self, activates_at: i64) -> ApiResult<String> {
        let kid = format!("k{}", uuid::Uuid::now_v7().simple());
        let key = RsaSigningKey::generate(kid.clone()).map_err(ApiError::internal)?;
        signing_key::ActiveModel {
            kid: Set(kid.clone()),
            private_pkcs8: Set(key.to_pkcs8_base64()),
            activates_at: Set(activates_at),
            retires_at: Set(None),
            created_at: Set(now_ms()),
        }
        .insert(&self.db)
        .await?;
        Ok(kid)
    }

    /// Publishes a new key now, signing with it from one JWKS TTL on; schedules the keys in
    /// use today to leave the JWKS once every token they signed has expired.
    pub async fn rotate(&self) -> ApiResult<String> {
        let now = now_ms();
        let activates_at = now + self.jwks_ttl.as_millis() as i64;
        let retires_at = activates_at + (self.token_ttl + self.jwks_ttl).as_millis() as i64;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        signing_key::Entity::update_many()
            .col_expr(
                signing_key::Column::RetiresAt,
                sea_orm::sea_query::Expr::value(retires_at),
            )
            .filter(signing_key::Column::RetiresAt.is_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        let kid = self.insert_key(activates_at).await?;
        self.reload().await?;
        Ok(kid)
    }

    async fn reload(&self) -> ApiResult<()> {
        let now = now_ms();
        let rows = signing_key::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(signing_key::Column::RetiresAt.is_null())
                    .add(signing_key::Column::RetiresAt.gt(now)),
            )
            .all(&self.db)
            .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let key = RsaSigningKey::from_pkcs8_base64(row.kid.clone(), &row.private_pkcs8)
                .map_err(ApiError::internal)?;
            let decoding = key.decoding_key().map_err(ApiError::internal)?;
            keys.push(Loaded {
                key: Arc::new(key),
                decoding: Arc::new(decoding),
                activates_at: row.activates_at,
            });
        }
        // Newest first: the newest active key signs.
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
        let now = now_ms();
        let found = self
            .cached
            .read()
            .await
            .keys
            .iter()
            .find(|k| k.activates_at <= now)
            .map(|k| k.key.clone());
        match found {
            Some(key) => Ok(key),
            None => {
                self.ensure_signing_key().await?;
                self.cached
                    .read()
                    .await
                    .keys
                    .iter()
                    .find(|k| k.activates_at <= now_ms())
                    .map(|k| k.key.clone())
                    .ok_or_else(|| ApiError::internal("no signing key"))
            }
        }
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
