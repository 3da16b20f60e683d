//! Tokens and sessions: access tokens from the user's current role, one-time refresh tokens in
//! families, refresh with reuse detection, logout.

use serde::Serialize;

use erp_kit::auth::{Audience, Claims, VerifyError};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{now_ms, Identity};
use crate::domain::sessions::{self as rules, Presented, RefreshTokenState};
use crate::domain::users::UserStatus;
use crate::domain::{secrets, Violation};
use crate::events::{LoggedOut, RefreshReuseDetected};
use crate::store;
use crate::store::entities::{refresh_token, user};
use crate::store::sessions::NewRefreshToken;

/// What a successful login (or refresh) hands the client.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    /// Only right after the first second factor is enrolled; shown once.
    pub recovery_codes: Option<Vec<String>>,
}

impl Identity {
    /// Verifies an access token with this service's keys and refuses a revoked one.
    pub async fn verify_access_token(&self, token: &str) -> Result<Claims, VerifyError> {
        use erp_kit::http::TokenVerifier;
        erp_kit::http::RevocationChecked {
            inner: self.keys.clone(),
            cache: self.cache.clone(),
        }
        .verify_token(token)
        .await
    }

    /// The claims of `user` now (role permissions read fresh).
    pub async fn claims_for(&self, user: &user::Model) -> ApiResult<Claims> {
        let tenant = TenantId::from_claim(&user.tenant_id);
        let role = store::roles::in_tenant(&self.db, &tenant, &user.role_id)
            .await?
            .ok_or_else(|| ApiError::internal("user without role"))?;
        let now = chrono::Utc::now().timestamp();
        Ok(Claims {
            sub: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            tenant_id: user.tenant_id.clone(),
            role: role.name.clone(),
            departments: user.department_list(),
            permissions: role.permission_list(),
            exp: now + self.config.access_ttl.as_secs() as i64,
            iat: now,
            iss: self.config.issuer.clone(),
            aud: Audience::One(self.config.audience.clone()),
            jti: uuid::Uuid::now_v7().to_string(),
        })
    }

    /// A signed access token for `user` (their claims now).
    async fn access_token(&self, user: &user::Model) -> ApiResult<String> {
        let claims = self.claims_for(user).await?;
        let key = self.keys.signing_key().await?;
        key.sign(&claims).map_err(ApiError::internal)
    }

    /// The refresh token `token` of `user` in the session `family_id`, to store.
    fn new_refresh_token<'a>(
        &self,
        user: &'a user::Model,
        family_id: String,
        token: &str,
    ) -> NewRefreshToken<'a> {
        NewRefreshToken {
            family_id,
            user_id: &user.id,
            tenant_id: &user.tenant_id,
            token_hash: secrets::hash_token(token),
            expires_at: now_ms() + self.config.refresh_ttl.as_millis() as i64,
        }
    }

    fn token_set(&self, access_token: String, refresh_token: String) -> TokenSet {
        TokenSet {
            access_token,
            refresh_token,
            expires_in: self.config.access_ttl.as_secs(),
            recovery_codes: None,
        }
    }

    /// Tokens of a new session (after a login): the session's family and its first refresh
    /// token, in one transaction.
    pub(super) async fn issue_tokens(&self, user: &user::Model) -> ApiResult<TokenSet> {
        let access_token = self.access_token(user).await?;
        let refresh = secrets::random_token();
        let family_id = uuid::Uuid::now_v7().to_string();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        store::sessions::insert_family(&txn, &family_id, &user.id, &user.tenant_id).await?;
        store::sessions::insert(&txn, self.new_refresh_token(user, family_id, &refresh)).await?;
        txn.commit().await?;
        Ok(self.token_set(access_token, refresh))
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once; presenting a used
    /// one again means it leaked, and the whole session (its family) is revoked.
    ///
    /// The claim of the presented token and the next token are one transaction under the
    /// family's lock: a reuse detection or a logout racing this refresh either comes first
    /// (and the refresh is refused) or waits for it and revokes the token it minted too.
    pub async fn refresh(&self, token: &str) -> ApiResult<TokenSet> {
        let row = store::sessions::by_hash(&self.db, &secrets::hash_token(token))
            .await?
            .ok_or(Violation::RefreshTokenInvalid)?;
        let state = RefreshTokenState {
            expires_at_ms: row.expires_at,
            used: row.used_at.is_some(),
            revoked: row.revoked_at.is_some(),
        };
        if rules::present(state, now_ms())? == Presented::Reused {
            return Err(self.refresh_reused(&row).await);
        }
        let user = store::users::by_id_for_login(&self.db, &row.user_id)
            .await?
            .filter(|u| u.status() == UserStatus::Active);
        let Some(user) = user else {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            store::sessions::revoke_family(&txn, &row.family_id).await?;
            txn.commit().await?;
            return Err(Violation::RefreshTokenInvalid.into());
        };
        // Signed before the transaction (it holds the family's lock as briefly as it can).
        let access_token = self.access_token(&user).await?;
        let next = secrets::random_token();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        match store::sessions::lock_family(&txn, &row.family_id).await? {
            Some(family) if family.revoked_at.is_some() => {
                return Err(Violation::RefreshTokenInvalid.into());
            }
            Some(_) => {}
            // A session an earlier version opened without its family row: the row now.
            None => {
                store::sessions::insert_family(&txn, &row.family_id, &row.user_id, &row.tenant_id)
                    .await?
            }
        }
        if !store::sessions::claim(&txn, &row.id).await? {
            // Used (or revoked) since it was read: a concurrent exchange won; this is a reuse.
            drop(txn);
            return Err(self.refresh_reused(&row).await);
        }
        store::sessions::insert(&txn, self.new_refresh_token(&user, row.family_id, &next)).await?;
        txn.commit().await?;
        Ok(self.token_set(access_token, next))
    }

    /// A used refresh token came back: the session ends, and the audit trail says why.
    async fn refresh_reused(&self, row: &refresh_token::Model) -> ApiError {
        let revoke = async {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let revoked = store::sessions::revoke_family(&txn, &row.family_id).await?;
            self.record(
                &txn,
                &row.tenant_id,
                &row.user_id,
                None,
                &RefreshReuseDetected {
                    family_id: &row.family_id,
                    sessions_revoked: revoked,
                },
            )
            .await?;
            txn.commit().await?;
            self.outbox.wake();
            ApiResult::Ok(())
        };
        match revoke.await {
            Ok(()) => Violation::RefreshTokenReused.into(),
            Err(err) => err,
        }
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are not an error (the
    /// caller's goal, no valid session, holds).
    pub async fn logout(&self, token: &str) -> ApiResult<bool> {
        let Some(row) = store::sessions::by_hash(&self.db, &secrets::hash_token(token)).await?
        else {
            return Ok(true);
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        store::sessions::revoke_family(&txn, &row.family_id).await?;
        self.record(
            &txn,
            &row.tenant_id,
            &row.user_id,
            Some(&row.user_id),
            &LoggedOut {
                family_id: &row.family_id,
            },
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(true)
    }
}
