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
    /// Refreshes failed in a row since the last success.
    failures: u32,
    /// After a failed refresh, no fetch before this instant (see [`JwksVerifier::backoff`]).
    retry_at: Option<Instant>,
}

impl KeyCache {
    fn backing_off(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now < at)
    }
}

/// The longest wait between two fetches while the JWKS endpoint keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

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
///
/// One fetch runs at a time, and the cache is never locked while it runs: verifications with
/// the cached keys go on while the endpoint is slow. A failed fetch backs off (the first wait
/// is `min_refetch_interval`, doubling with each further failure up to a minute), so an
/// unreachable identity service gets a few requests, not one per verification.
#[derive(Clone)]
pub struct JwksVerifier {
    config: Arc<VerifierConfig>,
    http: reqwest::Client,
    cache: Arc<RwLock<KeyCache>>,
    /// Held across a fetch (one at a time); the cache's lock only to read or swap the keys.
    fetching: Arc<tokio::sync::Mutex<()>>,
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
                failures: 0,
                retry_at: None,
            })),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
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
            let now = Instant::now();
            let fresh = cache
                .fetched_at
                .is_some_and(|at| now.duration_since(at) < self.config.cache_ttl);
            match cache.keys.get(kid) {
                Some(key) if fresh || cache.backing_off(now) => return Ok(key.clone()),
                Some(_) => {}
                None if cache.backing_off(now) => {
                    return Err(VerifyError::KeysUnavailable(
                        "the JWKS endpoint failed recently; retrying later".into(),
                    ))
                }
                None if cache.fetched_at.is_some_and(|at| {
                    now.duration_since(at) < self.config.min_refetch_interval
                }) =>
                {
                    return Err(VerifyError::UnknownKey)
                }
                None => {}
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

    /// The wait after `failures` failed fetches in a row: `min_refetch_interval`, doubling,
    /// at most a minute (or the cache TTL, when shorter).
    fn backoff(&self, failures: u32) -> Duration {
        let cap = MAX_BACKOFF
            .min(self.config.cache_ttl)
            .max(self.config.min_refetch_interval);
        let doublings = failures.saturating_sub(1).min(16);
        self.config
            .min_refetch_interval
            .saturating_mul(2u32.pow(doublings))
            .min(cap)
    }

    /// Fetches the JWKS document now and replaces the cached keys (unless another task just
    /// did, or a recent failure is being backed off from).
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        let _turn = self.fetching.lock().await;
        {
            // Another task may have fetched (or failed) while this one waited for its turn.
            let cache = self.cache.read().await;
            let now = Instant::now();
            if cache
                .fetched_at
                .is_some_and(|at| now.duration_since(at) < self.config.min_refetch_interval)
                && !cache.keys.is_empty()
            {
                return Ok(());
            }
            if cache.backing_off(now) {
                return Err(VerifyError::KeysUnavailable(
                    "the JWKS endpoint failed recently; retrying later".into(),
                ));
            }
        }
        // No lock on the cache while the request runs.
        let fetched = self.fetch().await;
        let mut cache = self.cache.write().await;
        match fetched {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                cache.failures = 0;
                cache.retry_at = None;
                Ok(())
            }
            Err(err) => {
                cache.failures = cache.failures.saturating_add(1);
                cache.retry_at = Some(Instant::now() + self.backoff(cache.failures));
                Err(err)
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, VerifyError> {
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
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use tokio::sync::{mpsc, Semaphore};

    use super::*;
    use crate::auth::{Audience, RsaSigningKey};

    const ISSUER: &str = "http://issuer.test";

    fn token(key: &RsaSigningKey) -> String {
        let now = chrono::Utc::now().timestamp();
        key.sign(&Claims {
            sub: "u1".into(),
            name: String::new(),
            email: String::new(),
            tenant_id: "t1".into(),
            role: String::new(),
            departments: vec![],
            permissions: vec![],
            exp: now + 600,
            iat: now,
            iss: ISSUER.into(),
            aud: Audience::One("erp".into()),
            jti: "j1".into(),
        })
        .expect("signs")
    }

    fn verifier(url: String, min_refetch_interval: Duration) -> JwksVerifier {
        JwksVerifier::new(VerifierConfig {
            jwks_url: url,
            issuer: ISSUER.into(),
            audience: "erp".into(),
            cache_ttl: Duration::from_secs(300),
            min_refetch_interval,
            leeway: Duration::from_secs(0),
        })
    }

    /// Serves `app` on a loopback port; returns the JWKS URL.
    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/jwks.json")
    }

    #[tokio::test]
    async fn a_slow_refresh_does_not_hold_up_verifications_with_the_cached_keys() {
        let key = RsaSigningKey::generate("k1").expect("key");
        let set = JwkSet {
            keys: vec![key.jwk()],
        };
        // The first request is answered at once; later ones wait until the test lets them go.
        let served = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let (arrived, mut arrivals) = mpsc::unbounded_channel::<usize>();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get({
                let (served, gate) = (served.clone(), gate.clone());
                move || async move {
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    let _ = arrived.send(n);
                    if n > 0 {
                        let _ = gate.acquire().await.map(|permit| permit.forget());
                    }
                    axum::Json(set).into_response()
                }
            }),
        );
        let verifier = verifier(serve(app).await, Duration::ZERO);
        let token = token(&key);
        verifier.verify(&token).await.expect("first fetch");
        assert_eq!(arrivals.recv().await, Some(0));

        let refreshing = tokio::spawn({
            let verifier = verifier.clone();
            async move { verifier.refresh().await }
        });
        assert_eq!(arrivals.recv().await, Some(1), "the refresh is in flight");
        // While the JWKS endpoint hangs, a token signed with a cached key verifies. (The timeout
        // only turns a hang into a failure; before the fix the verification waited for the
        // refresh's write lock, i.e. forever here.)
        let claims = tokio::time::timeout(Duration::from_secs(10), verifier.verify(&token))
            .await
            .expect("verification is not held up by the fetch")
            .expect("verifies");
        assert_eq!(claims.sub, "u1");
        assert!(
            !refreshing.is_finished(),
            "verified while the fetch was still waiting for the endpoint"
        );
        gate.add_permits(1);
        refreshing
            .await
            .expect("joins")
            .expect("the refresh completes");
    }

    #[tokio::test]
    async fn a_failed_refresh_backs_off_instead_of_refetching_on_every_verification() {
        let key = RsaSigningKey::generate("k1").expect("key");
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get({
                let hits = hits.clone();
                move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        );
        let verifier = verifier(serve(app).await, Duration::from_millis(200));
        let token = token(&key);
        for _ in 0..20 {
            assert!(matches!(
                verifier.verify(&token).await,
                Err(VerifyError::KeysUnavailable(_))
            ));
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch, then a back-off");
        // After the back-off a verification tries again (and backs off twice as long).
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..5 {
            assert!(verifier.verify(&token).await.is_err());
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(verifier.backoff(1), Duration::from_millis(200));
        assert_eq!(verifier.backoff(2), Duration::from_millis(400));
        assert_eq!(verifier.backoff(40), MAX_BACKOFF);
    }
}
