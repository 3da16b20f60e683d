//! Sessions: the tokens a login hands out, refresh and logout.

use async_graphql::{Context, Object, Result, SimpleObject};

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
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<TokenSet> {
        Ok(identity(ctx)?.refresh(&refresh_token).await?.into())
    }

    /// Ends the session of this refresh token.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        Ok(identity(ctx)?.logout(&refresh_token).await?)
    }
}
