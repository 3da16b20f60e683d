//! Live subscriptions: a stream of events that re-checks its subscriber before every event.

use futures::stream::{BoxStream, Stream, StreamExt};

use crate::auth::Identity;
use crate::error::ApiError;

/// Yields `events` while the subscriber's token is valid. Before every event the token's
/// expiry and its revocation ([`crate::auth::revocation`], this process's list kept current by
/// the revocation channel) are checked again; once it has expired or been revoked, the stream
/// sends UNAUTHENTICATED and ends, so a client has to reconnect with a fresh token (and a
/// deactivated user, who cannot get one, stops receiving).
pub fn reauthorized<T: Send + 'static>(
    identity: Identity,
    events: BoxStream<'static, T>,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    futures::stream::unfold(Some((identity, events)), |state| async move {
        let (identity, mut events) = state?;
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
            None => Some((Ok(event), Some((identity, events)))),
            Some(message) => {
                let err: async_graphql::Error =
                    ApiError::AuthenticationFailed(message.into()).into();
                Some((Err(err), None))
            }
        }
    })
}
