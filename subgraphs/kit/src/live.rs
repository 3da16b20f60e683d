//! Live subscriptions: a stream of events that re-checks its subscriber before every event.

use futures::stream::{BoxStream, Stream, StreamExt};

use crate::auth::Identity;
use crate::error::ApiError;

/// Yields `events` while the subscriber's token is valid. Before every event the token's
/// expiry is checked again; once it has passed, the stream sends UNAUTHENTICATED and ends, so
/// a client has to reconnect with a fresh token (and a revoked user, who cannot get one, stops
/// receiving).
pub fn reauthorized<T: Send + 'static>(
    identity: Identity,
    events: BoxStream<'static, T>,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    futures::stream::unfold(Some((identity, events)), |state| async move {
        let (identity, mut events) = state?;
        let event = events.next().await?;
        let valid = identity
            .claims()
            .is_some_and(|claims| claims.exp > chrono::Utc::now().timestamp());
        if valid {
            Some((Ok(event), Some((identity, events))))
        } else {
            let err: async_graphql::Error = ApiError::AuthenticationFailed(
                "the token expired: subscribe again with a fresh one".into(),
            )
            .into();
            Some((Err(err), None))
        }
    })
}
