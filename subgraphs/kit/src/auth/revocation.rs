//! Revoking a user's access tokens before they expire (deactivation).
//!
//! Access tokens are self-contained: every subgraph checks their signature and claims, nobody
//! asks the identity service. To take them back, the identity service records "every token of
//! this user issued at or before T is revoked" in the shared cache, for as long as such a token
//! can live (the access-token lifetime plus leeway), and publishes it on a channel:
//!
//! - every request's token check ([`super::JwksVerifier::verify`], when built with
//!   [`super::JwksVerifier::with_revocations`]) reads the cache key (one GET; a process that
//!   started after the revocation learns it there);
//! - every live subscription re-checks its subscriber before each event
//!   ([`crate::live::reauthorized`]) against this process's copy of the list, kept current by the
//!   channel, so a revoked user's open subscriptions end at their next event on every replica.
//!
//! When the cache is unreachable a request's check lets the token through (logged): availability
//! over a revocation that the token's expiry (15 minutes at most) ends anyway.
//!
//! The process-wide copy is a static: several subgraphs in one process (the one-process mode, the
//! tests) share it, which is right because revocations are global facts keyed by tenant and user.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError, SharedCache};

use super::Claims;

/// The channel revocations are announced on.
pub const CHANNEL: &str = "erp:auth:revocations";

/// The cache key holding the revocation time (unix seconds) of `sub` in `tenant`.
pub fn key(tenant: &str, sub: &str) -> String {
    format!("erp:auth:revoked:{tenant}:{sub}")
}

/// One revocation: tokens of `sub` in `tenant` issued at or before `revoked_at` are revoked until
/// `expires_at` (both unix seconds), when no such token can still be valid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revocation {
    pub tenant: String,
    pub sub: String,
    pub revoked_at: i64,
    pub expires_at: i64,
}

type LocalList = HashMap<(String, String), (i64, i64)>;

static LOCAL: LazyLock<RwLock<LocalList>> = LazyLock::new(Default::default);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn remember(revocation: &Revocation) {
    let mut local = LOCAL.write().unwrap_or_else(|p| p.into_inner());
    let now = now();
    local.retain(|_, (_, expires_at)| *expires_at > now);
    let entry = local
        .entry((revocation.tenant.clone(), revocation.sub.clone()))
        .or_insert((revocation.revoked_at, revocation.expires_at));
    entry.0 = entry.0.max(revocation.revoked_at);
    entry.1 = entry.1.max(revocation.expires_at);
}

/// Whether this process knows `claims`' token to be revoked (no I/O: for per-event checks).
pub fn is_revoked_locally(claims: &Claims) -> bool {
    let local = LOCAL.read().unwrap_or_else(|p| p.into_inner());
    local
        .get(&(claims.tenant_id.clone(), claims.sub.clone()))
        .is_some_and(|(revoked_at, expires_at)| claims.iat <= *revoked_at && *expires_at > now())
}

/// Revokes every token of `sub` in `tenant` issued until now; `token_lifetime` is the longest an
/// access token lives (plus leeway). Written to the cache and announced to every process.
pub async fn revoke_user(
    cache: &dyn Cache,
    tenant: &str,
    sub: &str,
    token_lifetime: Duration,
) -> Result<Revocation, CacheError> {
    let revoked_at = now();
    let revocation = Revocation {
        tenant: tenant.to_owned(),
        sub: sub.to_owned(),
        revoked_at,
        expires_at: revoked_at + token_lifetime.as_secs() as i64 + 1,
    };
    cache
        .set(
            &key(tenant, sub),
            revoked_at.to_string().as_bytes(),
            Some(token_lifetime + Duration::from_secs(1)),
        )
        .await?;
    remember(&revocation);
    let message = serde_json::to_vec(&revocation).unwrap_or_default();
    cache.publish(CHANNEL, &message).await?;
    Ok(revocation)
}

/// Whether `claims`' token is revoked: this process's list, then the cache. `Err` when the cache
/// cannot answer.
pub async fn is_revoked(cache: &dyn Cache, claims: &Claims) -> Result<bool, CacheError> {
    if is_revoked_locally(claims) {
        return Ok(true);
    }
    let Some(value) = cache.get(&key(&claims.tenant_id, &claims.sub)).await? else {
        return Ok(false);
    };
    let Some(revoked_at) = std::str::from_utf8(&value)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    else {
        tracing::warn!(tenant = %claims.tenant_id, "unreadable revocation entry ignored");
        return Ok(false);
    };
    Ok(claims.iat <= revoked_at)
}

/// `claims` back unless their token is revoked ([`super::VerifyError::Revoked`]). When the cache
/// cannot answer the token passes, logged: availability over a revocation the token's expiry
/// ends anyway. Every token check that honours revocations goes through here.
pub async fn refuse_if_revoked(
    cache: &dyn Cache,
    claims: Claims,
) -> Result<Claims, super::VerifyError> {
    match is_revoked(cache, &claims).await {
        Ok(true) => Err(super::VerifyError::Revoked),
        Ok(false) => Ok(claims),
        Err(error) => {
            tracing::warn!(%error, "revocations not checked: cache unavailable");
            Ok(claims)
        }
    }
}

/// Keeps this process's list current from the channel, for as long as the process runs
/// (re-subscribing after the cache drops the subscription). Needs a tokio runtime; without one
/// (a synchronous caller) nothing is started and only the per-request check applies.
pub fn listen(cache: SharedCache) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        loop {
            match cache.subscribe(CHANNEL).await {
                Ok(mut messages) => {
                    while let Some(message) = messages.next().await {
                        match serde_json::from_slice::<Revocation>(&message) {
                            Ok(revocation) => remember(&revocation),
                            Err(error) => {
                                tracing::warn!(%error, "unreadable revocation message ignored")
                            }
                        }
                    }
                    tracing::warn!("the revocation channel ended; subscribing again");
                }
                Err(error) => tracing::warn!(%error, "cannot subscribe to revocations; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::InProcessCache;

    fn claims(tenant: &str, sub: &str, iat: i64) -> Claims {
        Claims {
            sub: sub.into(),
            name: String::new(),
            email: String::new(),
            tenant_id: tenant.into(),
            role: String::new(),
            departments: vec![],
            permissions: vec![],
            exp: iat + 900,
            iat,
            iss: "i".into(),
            aud: super::super::Audience::One("erp".into()),
            jti: String::new(),
        }
    }

    #[tokio::test]
    async fn tokens_issued_until_the_revocation_are_revoked_later_ones_are_not() {
        let cache = InProcessCache::new();
        let tenant = format!("tnt_{}", uuid::Uuid::new_v4().simple());
        let before = claims(&tenant, "usr_1", now() - 10);
        let other_user = claims(&tenant, "usr_2", now() - 10);
        assert!(!is_revoked(&cache, &before).await.unwrap());
        let revocation = revoke_user(&cache, &tenant, "usr_1", Duration::from_secs(900))
            .await
            .unwrap();
        assert!(is_revoked_locally(&before));
        assert!(is_revoked(&cache, &before).await.unwrap());
        assert!(!is_revoked(&cache, &other_user).await.unwrap());
        let after = claims(&tenant, "usr_1", revocation.revoked_at + 1);
        assert!(!is_revoked(&cache, &after).await.unwrap());
    }

    #[tokio::test]
    async fn a_process_that_missed_the_announcement_reads_the_cache() {
        let cache = InProcessCache::new();
        let tenant = format!("tnt_{}", uuid::Uuid::new_v4().simple());
        let revoked_at = now();
        // As another process wrote it: in the cache, not in this process's list.
        cache
            .set(
                &key(&tenant, "usr_1"),
                revoked_at.to_string().as_bytes(),
                None,
            )
            .await
            .unwrap();
        let token = claims(&tenant, "usr_1", revoked_at - 5);
        assert!(!is_revoked_locally(&token));
        assert!(is_revoked(&cache, &token).await.unwrap());
    }

    #[tokio::test]
    async fn the_channel_reaches_the_listening_processes() {
        let cache: SharedCache = std::sync::Arc::new(InProcessCache::new());
        listen(cache.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tenant = format!("tnt_{}", uuid::Uuid::new_v4().simple());
        let token = claims(&tenant, "usr_9", now() - 5);
        // Published by someone else (not remembered by this call path).
        let revocation = Revocation {
            tenant: tenant.clone(),
            sub: "usr_9".into(),
            revoked_at: now(),
            expires_at: now() + 900,
        };
        cache
            .publish(CHANNEL, &serde_json::to_vec(&revocation).unwrap())
            .await
            .unwrap();
        for _ in 0..100 {
            if is_revoked_locally(&token) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the announcement did not reach the listener");
    }
}
