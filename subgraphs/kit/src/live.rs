//! Live subscriptions: a stream of events that re-checks its subscriber before every event, and
//! a per-user cap on how many such streams a process serves at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use futures::future::Either;
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::auth::{Claims, Identity};
use crate::error::ApiError;

/// Live subscriptions one user may hold in one process at once (`ERP_MAX_SUBSCRIPTIONS_PER_USER`,
/// set from the configuration by `Runtime`).
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_USER: usize = 25;

static MAX_PER_USER: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_SUBSCRIPTIONS_PER_USER);

/// Open subscriptions per (tenant, subject).
static OPEN: LazyLock<Mutex<HashMap<(String, String), usize>>> = LazyLock::new(Default::default);

/// Sets the per-user cap of this process.
pub fn set_max_subscriptions_per_user(max: usize) {
    MAX_PER_USER.store(max.max(1), Ordering::Relaxed);
}

/// How many subscriptions the user `sub` of `tenant_id` holds in this process now.
pub fn open_subscriptions(tenant_id: &str, sub: &str) -> usize {
    let open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    open.get(&(tenant_id.to_owned(), sub.to_owned()))
        .copied()
        .unwrap_or(0)
}

/// One of a user's open subscriptions; released when the stream is dropped (the client
/// completed it, or its connection closed).
struct Slot((String, String));

impl Slot {
    fn take(claims: &Claims) -> Result<Self, ApiError> {
        let limit = MAX_PER_USER.load(Ordering::Relaxed);
        let key = (claims.tenant_id.clone(), claims.sub.clone());
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= limit {
            return Err(ApiError::TooManySubscriptions { limit });
        }
        *count += 1;
        Ok(Self(key))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.0) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.0);
            }
        }
    }
}

/// Yields `events` while the subscriber's token is valid. Before every event the token's
/// expiry and its revocation ([`crate::auth::revocation`], this process's list kept current by
/// the revocation channel) are checked again; once it has expired or been revoked, the stream
/// sends UNAUTHENTICATED and ends, so a client has to reconnect with a fresh token (and a
/// deactivated user, who cannot get one, stops receiving).
///
/// A user already holding the process's cap of subscriptions gets one TOO_MANY_SUBSCRIPTIONS
/// error instead, and the stream ends.
pub fn reauthorized<T: Send + 'static>(
    identity: Identity,
    events: BoxStream<'static, T>,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    let slot = match identity.claims().map(Slot::take).transpose() {
        Ok(slot) => slot,
        Err(refused) => {
            let err: async_graphql::Error = refused.into();
            return Either::Left(futures::stream::once(async move { Err(err) }));
        }
    };
    Either::Right(futures::stream::unfold(
        Some((identity, events, slot)),
        |state| async move {
            let (identity, mut events, slot) = state?;
            let event = events.next().await?;
            let refusal = match identity.claims() {
                None => Some("the subscription has no verified token"),
                Some(claims) if claims.exp <= chrono::Utc::now().timestamp() => {
                    Some("the token expired: subscribe again with a fresh one")
                }
                Some(claims) if crate::auth::revocation::is_revoked_locally(claims) => {
                    Some("the token has been revoked: sign in again")
                }
                Some(_) => None,
            };
            match refusal {
                None => Some((Ok(event), Some((identity, events, slot)))),
                Some(message) => {
                    let err: async_graphql::Error =
                        ApiError::AuthenticationFailed(message.into()).into();
                    Some((Err(err), None))
                }
            }
        },
    ))
}
