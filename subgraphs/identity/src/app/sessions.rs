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

    /// An access token and the next refresh token of the session `family` (a new one without).
    pub(super) async fn issue_tokens(
        &self,
        user: &user::Model,
        family: Option<String>,
    ) -> ApiResult<TokenSet> {
        let claims = self.claims_for(user).await?;
        let key = self.keys.signing_key().await?;
        let access_token = key.sign(&claims).map_err(ApiError::internal)?;
        let refresh = secrets::random_token();
        store::sessions::insert(
            &self.db,
            NewRefreshToken {
                family_id: family.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                user_id: &user.id,
                tenant_id: &user.tenant_id,
                token_hash: secrets::hash_token(&refresh),
                expires_at: now_ms() + self.config.refresh_ttl.as_millis() as i64,
            },
        )
        .await?;
        Ok(TokenSet {
            access_token,
            refresh_token: refresh,
            expires_in: self.config.access_ttl.as_secs(),
            recovery_codes: None,
        })
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once; presenting a used
    /// one again means it leaked, and the whole session (its family) is revoked.
    pub async fn refresh(&self, token: &str) -> ApiResult<TokenSet> {
        let row = store::sessions::by_hash(&self.db, &secrets::hash_token(token))
            .await?
            .ok_or(Violation::RefreshTokenInvalid)?;
        let state = RefreshTokenState {
            expires_at_ms: row.expires_at,
            used: row.used_at.is_some(),
            revoked: row.revoked_at.is_some(),
        };
        let claimed = match rules::present(state, now_ms())? {
            Presented::Exchange => store::sessions::claim(&self.db, &row.id).await?,
            Presented::Reused => false,
        };
        if !claimed {
            return Err(self.refresh_reused(&row).await);
        }
        let user = store::users::by_id_for_login(&self.db, &row.user_id)
            .await?
            .filter(|u| u.status() == UserStatus::Active);
        let Some(user) = user else {
            store::sessions::revoke_family(&self.db, &row.family_id).await?;
            return Err(Violation::RefreshTokenInvalid.into());
        };
        self.issue_tokens(&user, Some(row.family_id)).await
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
