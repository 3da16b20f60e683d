//! Sessions: the tokens a login hands out, refresh and logout.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::context::identity;
use crate::app;

/// Tokens after a completed login or a refresh.
#[derive(SimpleObject)]
pub struct TokenSet {
    /// RS256 access token (JWT) for the `Authorization: Bearer` header.
    pub access_token: String,
    /// One-time refresh token: each use returns a new one.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Recovery codes, returned once right after the first second factor is enrolled.
    pub recovery_codes: Option<Vec<String>>,
}

impl From<app::sessions::TokenSet> for TokenSet {
    fn from(t: app::sessions::TokenSet) -> Self {
        Self {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_in: t.expires_in,
            recovery_codes: t.recovery_codes,
        }
    }
}

#[derive(Default)]
pub struct SessionsMutation;

#[Object]
impl SessionsMutation {
    /// Exchanges a refresh token for new tokens (the old one stops working).
    #[graphql(deprecation = "use `refreshSession` (one input)")]
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the last login or refresh.")] refresh_token: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?.refresh(&refresh_token).await?.into())
    }

    /// Exchanges a refresh token for new tokens (the old one stops working; using it again
    /// ends the session: UNAUTHENTICATED).
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token.")] input: RefreshSessionInput,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?.refresh(&input.refresh_token).await?.into())
    }

    /// Ends the session of this refresh token.
    #[graphql(deprecation = "use `endSession` (one input)")]
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the session.")] refresh_token: String,
    ) -> Result<bool> {
        Ok(identity(ctx)?.logout(&refresh_token).await?)
    }

    /// Ends the session of this refresh token (a logout): true once it is over (also for an
    /// unknown or already ended one).
    async fn end_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the session.")] input: EndSessionInput,
    ) -> Result<bool> {
        Ok(identity(ctx)?.logout(&input.refresh_token).await?)
    }
}

/// A session to refresh.
#[derive(InputObject)]
pub struct RefreshSessionInput {
    /// The refresh token of the last login or refresh (each works once).
    pub refresh_token: String,
}

/// A session to end.
#[derive(InputObject)]
pub struct EndSessionInput {
    /// The refresh token of the session.
    pub refresh_token: String,
}
