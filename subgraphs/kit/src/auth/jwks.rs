//! Verifying access tokens with the keys a JWKS endpoint publishes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use super::{Claims, JwkSet};

/// Where the keys come from and what a valid token must say.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The JWKS document URL (the identity service's `/.well-known/jwks.json`).
    pub jwks_url: String,
    /// The only accepted `iss`.
    pub issuer: String,
    /// The accepted `aud`.
    pub audience: String,
    /// How long fetched keys are trusted before a refetch.
    pub cache_ttl: Duration,
    /// At most one refetch per this interval when a token names an unknown `kid`, so a flood of
    /// forged kids cannot turn into a flood of JWKS requests.
    pub min_refetch_interval: Duration,
    /// Clock skew allowed on `exp`/`nbf`.
    pub leeway: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not signed with RS256")]
    WrongAlgorithm,
    #[error("the token names no key id")]
    MissingKid,
    #[error("the token is signed with an unknown key")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
    #[error("the token has been revoked: sign in again")]
    Revoked,
}

struct KeyCache {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

/// The rules a valid access token meets: RS256 only, a `kid`, the expected `iss` and `aud`, not
/// expired. Shared by [`JwksVerifier`] (keys from a JWKS endpoint) and the identity service
/// (its own keys).
#[derive(Clone)]
pub struct TokenRules {
    validation: Arc<Validation>,
}

impl TokenRules {
    pub fn new(issuer: &str, audience: &str, leeway: Duration) -> Self {
        super::install_crypto_provider();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = leeway.as_secs();
        Self {
            validation: Arc::new(validation),
        }
    }

    /// The `kid` of an RS256 token (checked before any key is looked up).
    pub fn kid_of(token: &str) -> Result<String, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::WrongAlgorithm);
        }
        header.kid.ok_or(VerifyError::MissingKid)
    }

    /// Checks the signature with `key` and every claim rule.
    pub fn decode(&self, token: &str, key: &DecodingKey) -> Result<Claims, VerifyError> {
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => VerifyError::Expired,
                    ErrorKind::InvalidAlgorithm => VerifyError::WrongAlgorithm,
                    ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => {
                        VerifyError::Malformed
                    }
                    other => VerifyError::Invalid(format!("{other:?}")),
                }
            })
    }
}

/// Verifies RS256 access tokens against a JWKS endpoint, caching the keys and refetching on an
/// unknown `kid` (key rotation publishes the new key before it signs with it).
#[derive(Clone)]
pub struct JwksVerifier {
    config: Arc<VerifierConfig>,
    http: reqwest::Client,
    cache: Arc<RwLock<KeyCache>>,
    rules: TokenRules,
    /// Where revocations are looked up ([`super::revocation`]); `None`: not checked.
    revocations: Option<crate::cache::SharedCache>,
}

impl JwksVerifier {
    pub fn new(config: VerifierConfig) -> Self {
        let rules = TokenRules::new(&config.issuer, &config.audience, config.leeway);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            config: Arc::new(config),
            http,
            cache: Arc::new(RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
            })),
            rules,
            revocations: None,
        }
    }

    /// Also refuses tokens revoked through `cache` ([`super::revocation`]).
    pub fn with_revocations(mut self, cache: crate::cache::SharedCache) -> Self {
        self.revocations = Some(cache);
        self
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let kid = TokenRules::kid_of(token)?;
        let key = self.key_for(&kid).await?;
        let claims = self.rules.decode(token, &key)?;
        match &self.revocations {
            Some(cache) => super::revocation::refuse_if_revoked(cache.as_ref(), claims).await,
            None => Ok(claims),
        }
    }

    async fn key_for(&self, kid: &str) -> Result<Arc<DecodingKey>, VerifyError> {
        {
            let cache = self.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.config.cache_ttl);
            if let Some(key) = cache.keys.get(kid) {
                if fresh {
                    return Ok(key.clone());
                }
            } else if cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.config.min_refetch_interval)
            {
                return Err(VerifyError::UnknownKey);
            }
        }
        if let Err(err) = self.refresh().await {
            // The identity service being briefly down must not log everybody out: keep serving
            // the keys we already trust.
            if let Some(stale) = self.cache.read().await.keys.get(kid) {
                tracing::warn!(error = %err, "JWKS refresh failed, using cached keys");
                return Ok(stale.clone());
            }
            return Err(err);
        }
        self.cache
            .read()
            .await
            .keys
            .get(kid)
            .cloned()
            .ok_or(VerifyError::UnknownKey)
    }

    /// Fetches the JWKS document now and replaces the cached keys.
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        let mut cache = self.cache.write().await;
        // Another task may have refreshed while this one waited for the lock.
        if cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.config.min_refetch_interval)
            && !cache.keys.is_empty()
        {
            return Ok(());
        }
        let set: JwkSet = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            if jwk.kty != "RSA" || jwk.alg.as_deref().is_some_and(|alg| alg != "RS256") {
                continue;
            }
            if let Ok(key) = DecodingKey::from_rsa_components(&jwk.n, &jwk.e) {
                keys.insert(jwk.kid, Arc::new(key));
            }
        }
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}
