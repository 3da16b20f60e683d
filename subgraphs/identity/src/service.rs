//! The identity service: accounts, login with a mandatory second factor, tokens and sessions.
//! GraphQL and the OIDC endpoints are thin layers over this.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential,
};
use webauthn_rs::Webauthn;

use erp_kit::auth::{Audience, Claims};
use erp_kit::cache::SharedCache;
use erp_kit::events::{EventEnvelope, Outbox};
use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, ApiResult, TenantId};

use crate::domain::lockout::LockoutPolicy;
use crate::domain::password::{self, NewPassword};
use crate::domain::{scopes, secrets, totp, UserStatus};
use crate::events;
use crate::keys::KeyStore;
use crate::store;
use crate::store::entities::{
    recovery_code, refresh_token, role, tenant, user, webauthn_credential,
};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Settings of the identity service.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub mfa_session_ttl: Duration,
    pub invite_ttl: Duration,
    pub jwks_cache_ttl: Duration,
    pub lockout: LockoutPolicy,
    pub webauthn_rp_id: String,
    pub webauthn_origin: String,
    pub totp_issuer: String,
    /// Prefix of this service's cache keys (deployments sharing one Redis use different ones).
    pub cache_prefix: String,
}

impl IdentityConfig {
    /// Defaults, with `ERP_JWT_ISSUER`, `ERP_JWT_AUDIENCE`, `ERP_JWKS_CACHE_SECS`,
    /// `ERP_ACCESS_TOKEN_SECS`, `ERP_WEBAUTHN_RP_ID`, `ERP_WEBAUTHN_ORIGIN` from the kit config
    /// and the environment.
    pub fn from_kit(kit: &erp_kit::config::KitConfig) -> Self {
        let env_secs = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            issuer: kit.auth.issuer.clone(),
            audience: kit.auth.audience.clone(),
            access_ttl: Duration::from_secs(env_secs("ERP_ACCESS_TOKEN_SECS", 900)),
            refresh_ttl: Duration::from_secs(env_secs("ERP_REFRESH_TOKEN_SECS", 30 * 24 * 3600)),
            mfa_session_ttl: Duration::from_secs(300),
            invite_ttl: Duration::from_secs(7 * 24 * 3600),
            jwks_cache_ttl: kit.auth.cache_ttl,
            lockout: LockoutPolicy::default(),
            webauthn_rp_id: std::env::var("ERP_WEBAUTHN_RP_ID")
                .unwrap_or_else(|_| "localhost".into()),
            webauthn_origin: std::env::var("ERP_WEBAUTHN_ORIGIN")
                .unwrap_or_else(|_| "https://localhost".into()),
            totp_issuer: "ERP".into(),
            cache_prefix: std::env::var("ERP_IDENTITY_CACHE_PREFIX")
                .unwrap_or_else(|_| "identity".into()),
        }
    }
}

/// What a successful login (or refresh) hands the client.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    /// Only right after the first second factor is enrolled; shown once.
    pub recovery_codes: Option<Vec<String>>,
}

/// The second step a password login asks for.
#[derive(Debug, Clone, Serialize)]
pub struct LoginChallenge {
    /// Opaque, short-lived; names this login attempt in the MFA calls.
    pub mfa_token: String,
    /// True when the user has no second factor yet: only enrolment is possible.
    pub enrollment_required: bool,
    /// `totp`, `webauthn`, `recovery_code`.
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Purpose {
    Verify,
    Enroll,
}

/// A login between password and second factor, kept in the cache.
#[derive(Debug, Serialize, Deserialize)]
struct MfaSession {
    user_id: String,
    purpose: Purpose,
    pending_totp_secret: Option<String>,
    webauthn_registration: Option<serde_json::Value>,
    webauthn_authentication: Option<serde_json::Value>,
    failures: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FailureRecord {
    failures: u32,
    locked_until: i64,
}

const MAX_MFA_FAILURES: u32 = 5;
const RECOVERY_CODES: usize = 10;

fn invalid_credentials() -> ApiError {
    ApiError::AuthenticationFailed("the email or password is wrong".into())
}

fn invalid_mfa_session() -> ApiError {
    ApiError::AuthenticationFailed("the login attempt expired or is unknown: log in again".into())
}

#[derive(Clone)]
pub struct IdentityService {
    db: DatabaseConnection,
    cache: SharedCache,
    outbox: Outbox,
    keys: Arc<KeyStore>,
    webauthn: Arc<Webauthn>,
    config: Arc<IdentityConfig>,
}

impl IdentityService {
    pub fn new(
        db: DatabaseConnection,
        cache: SharedCache,
        outbox: Outbox,
        keys: Arc<KeyStore>,
        config: IdentityConfig,
    ) -> anyhow::Result<Self> {
        let origin = url::Url::parse(&config.webauthn_origin)?;
        let webauthn = webauthn_rs::WebauthnBuilder::new(&config.webauthn_rp_id, &origin)?
            .rp_name("ERP")
            .build()?;
        Ok(Self {
            db,
            cache,
            outbox,
            keys,
            webauthn: Arc::new(webauthn),
            config: Arc::new(config),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Verifies an access token with this service's keys and refuses a revoked one.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<erp_kit::auth::Claims, erp_kit::auth::VerifyError> {
        use erp_kit::http::TokenVerifier;
        erp_kit::http::RevocationChecked {
            inner: self.keys.clone(),
            cache: self.cache.clone(),
        }
        .verify_token(token)
        .await
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    async fn audit<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        event_type: &str,
        aggregate: &str,
        actor: Option<&str>,
        payload: serde_json::Value,
    ) -> ApiResult<()> {
        let mut event = EventEnvelope::new(
            &TenantId::from_claim(tenant),
            event_type,
            aggregate,
            payload,
        )
        .map_err(ApiError::internal)?;
        if let Some(actor) = actor {
            event = event.with_actor(actor);
        }
        self.outbox.enqueue(conn, &event).await?;
        Ok(())
    }

    // ----- tenants, roles, users -------------------------------------------------------------

    /// Creates a tenant with the default roles and its first administrator (active, password
    /// set; a second factor is enrolled at first login).
    pub async fn bootstrap_tenant(
        &self,
        tenant_name: &str,
        admin_email: &str,
        admin_name: &str,
        admin_password: &str,
    ) -> ApiResult<(tenant::Model, user::Model)> {
        let email = EmailAddress::parse("email", admin_email)?
            .as_str()
            .to_owned();
        let password = NewPassword::parse("password", admin_password)?.hash()?;
        let now = now_ms();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let tenant = tenant::ActiveModel {
            id: Set(format!("tnt_{}", uuid::Uuid::now_v7().simple())),
            name: Set(tenant_name.trim().to_owned()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let mut admin_role = None;
        for (name, permissions) in scopes::DEFAULT_ROLES {
            let role = role::ActiveModel {
                id: Set(format!("rol_{}", uuid::Uuid::now_v7().simple())),
                tenant_id: Set(tenant.id.clone()),
                name: Set((*name).to_owned()),
                permissions: Set(serde_json::to_string(permissions).map_err(ApiError::internal)?),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
            if *name == "Admin" {
                admin_role = Some(role);
            }
        }
        let admin_role = admin_role.ok_or_else(|| ApiError::internal("no Admin role"))?;
        let admin = user::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.id.clone()),
            email: Set(email),
            name: Set(admin_name.trim().to_owned()),
            departments: Set("[]".into()),
            role_id: Set(admin_role.id.clone()),
            password_hash: Set(Some(password)),
            status: Set(UserStatus::Active.as_str().into()),
            totp_secret: Set(None),
            totp_last_step: Set(None),
            invite_token_hash: Set(None),
            invite_expires_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict("this email is already in use".into()),
            other => other,
        })?;
        self.audit(
            &txn,
            &tenant.id,
            events::TENANT_CREATED,
            &tenant.id,
            None,
            serde_json::json!({ "name": tenant.name, "admin_user_id": admin.id }),
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok((tenant, admin))
    }

    /// Creates a role; every permission must be a registered scope.
    pub async fn create_role(
        &self,
        tenant: &TenantId,
        actor: &str,
        name: &str,
        permissions: Vec<String>,
    ) -> ApiResult<role::Model> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::bad_input(
                "name",
                "a role name has 1 to 100 characters",
            ));
        }
        for permission in &permissions {
            if scopes::find(permission).is_none() {
                return Err(ApiError::bad_input(
                    "permissions",
                    format!("`{permission}` is not a registered scope"),
                ));
            }
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let role = role::ActiveModel {
            id: Set(format!("rol_{}", uuid::Uuid::now_v7().simple())),
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(name.to_owned()),
            permissions: Set(serde_json::to_string(&permissions).map_err(ApiError::internal)?),
            created_at: Set(now_ms()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("a role named `{name}` exists")),
            other => other,
        })?;
        self.audit(
            &txn,
            tenant.as_str(),
            events::ROLE_CREATED,
            &role.id,
            Some(actor),
            serde_json::json!({ "name": role.name, "permissions": permissions }),
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(role)
    }

    /// Invites a user: returns the user and the one-time invite token (sent by email in a
    /// deployment with a mailer; shown to the admin otherwise).
    pub async fn invite_user(
        &self,
        tenant: &TenantId,
        actor: &str,
        email: &str,
        name: &str,
        departments: Vec<String>,
        role_id: &str,
    ) -> ApiResult<(user::Model, String)> {
        let email = EmailAddress::parse("email", email)?.as_str().to_owned();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::bad_input(
                "name",
                "a name has 1 to 200 characters",
            ));
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if store::role_in_tenant(&txn, tenant, role_id)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_input("roleId", "no such role"));
        }
        let token = secrets::random_token();
        let now = now_ms();
        let user = user::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            tenant_id: Set(tenant.as_str().to_owned()),
            email: Set(email),
            name: Set(name.to_owned()),
            departments: Set(serde_json::to_string(&departments).map_err(ApiError::internal)?),
            role_id: Set(role_id.to_owned()),
            password_hash: Set(None),
            status: Set(UserStatus::Invited.as_str().into()),
            totp_secret: Set(None),
            totp_last_step: Set(None),
            invite_token_hash: Set(Some(secrets::hash_token(&token))),
            invite_expires_at: Set(Some(now + self.config.invite_ttl.as_millis() as i64)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict("this email is already in use".into()),
            other => other,
        })?;
        self.audit(
            &txn,
            tenant.as_str(),
            events::USER_INVITED,
            &user.id,
            Some(actor),
            serde_json::json!({ "email": user.email, "role_id": role_id }),
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok((user, token))
    }

    /// Sets the password of an invited user, who becomes active.
    pub async fn accept_invite(
        &self,
        invite_token: &str,
        password: &str,
    ) -> ApiResult<user::Model> {
        let password = NewPassword::parse("password", password)?.hash()?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let found = user::Entity::find()
            .filter(user::Column::InviteTokenHash.eq(secrets::hash_token(invite_token)))
            .one(&txn)
            .await?;
        let Some(invited) = found.filter(|u| {
            u.status == UserStatus::Invited.as_str()
                && u.invite_expires_at.is_some_and(|at| at > now_ms())
        }) else {
            return Err(ApiError::bad_input(
                "inviteToken",
                "the invitation is unknown or expired",
            ));
        };
        let mut active: user::ActiveModel = invited.into();
        active.password_hash = Set(Some(password));
        active.status = Set(UserStatus::Active.as_str().into());
        active.invite_token_hash = Set(None);
        active.invite_expires_at = Set(None);
        active.updated_at = Set(now_ms());
        let user = active.update(&txn).await?;
        self.audit(
            &txn,
            &user.tenant_id,
            events::USER_ACTIVATED,
            &user.id,
            Some(&user.id),
            serde_json::json!({}),
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    pub async fn assign_role(
        &self,
        tenant: &TenantId,
        actor: &str,
        user_id: &str,
        role_id: &str,
    ) -> ApiResult<user::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let user = store::user_in_tenant(&txn, tenant, user_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("userId", "no such user"))?;
        if store::role_in_tenant(&txn, tenant, role_id)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_input("roleId", "no such role"));
        }
        let previous = user.role_id.clone();
        let mut active: user::ActiveModel = user.into();
        active.role_id = Set(role_id.to_owned());
        active.updated_at = Set(now_ms());
        let user = active.update(&txn).await?;
        self.audit(
            &txn,
            tenant.as_str(),
            events::ROLE_ASSIGNED,
            &user.id,
            Some(actor),
            serde_json::json!({ "from": previous, "to": role_id }),
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Deactivates a user and revokes every session (refresh-token family) they have.
    pub async fn deactivate_user(
        &self,
        tenant: &TenantId,
        actor: &str,
        user_id: &str,
    ) -> ApiResult<user::Model> {
        if user_id == actor {
            return Err(ApiError::bad_input(
                "userId",
                "you cannot deactivate yourself",
            ));
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let user = store::user_in_tenant(&txn, tenant, user_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("userId", "no such user"))?;
        let mut active: user::ActiveModel = user.into();
        active.status = Set(UserStatus::Deactivated.as_str().into());
        active.updated_at = Set(now_ms());
        let user = active.update(&txn).await?;
        let revoked = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now_ms()))
            .filter(refresh_token::Column::UserId.eq(user.id.as_str()))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        self.audit(
            &txn,
            tenant.as_str(),
            events::USER_DEACTIVATED,
            &user.id,
            Some(actor),
            serde_json::json!({ "sessions_revoked": revoked }),
        )
        .await?;
        // The access tokens already out: revoked everywhere before the deactivation commits.
        // If the cache cannot take it, nothing is committed (a revocation without the
        // deactivation only makes the user sign in again).
        erp_kit::auth::revocation::revoke_user(
            self.cache.as_ref(),
            tenant.as_str(),
            &user.id,
            // Beyond the verifiers' clock leeway (30 s by default).
            self.config.access_ttl + std::time::Duration::from_secs(60),
        )
        .await
        .map_err(|e| ApiError::internal(format!("cannot revoke the user's tokens: {e}")))?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    // ----- login -----------------------------------------------------------------------------

    async fn failures(&self, key: &str) -> FailureRecord {
        match self.cache.get(key).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Ok(None) => FailureRecord::default(),
            Err(err) => {
                tracing::warn!(error = %err, "lockout counters unavailable");
                FailureRecord::default()
            }
        }
    }

    async fn record_failure(&self, email: &str, ip: Option<&str>) {
        let policy = &self.config.lockout;
        let key = self.key(&format!("fail:{email}"));
        let mut record = self.failures(&key).await;
        record.failures += 1;
        if let Some(wait) = policy.wait_after(record.failures) {
            record.locked_until = now_ms() + wait.as_millis() as i64;
        }
        if let Ok(bytes) = serde_json::to_vec(&record) {
            let _ = self.cache.set(&key, &bytes, Some(policy.reset_after)).await;
        }
        if let Some(ip) = ip {
            let key = self.key(&format!("ipfail:{ip}"));
            let mut record = self.failures(&key).await;
            record.failures += 1;
            if record.failures >= policy.per_ip_limit {
                record.locked_until = now_ms() + policy.max_wait.as_millis() as i64;
            }
            if let Ok(bytes) = serde_json::to_vec(&record) {
                let _ = self.cache.set(&key, &bytes, Some(policy.reset_after)).await;
            }
        }
    }

    async fn check_not_locked(&self, email: &str, ip: Option<&str>) -> ApiResult<()> {
        let now = now_ms();
        let mut keys = vec![self.key(&format!("fail:{email}"))];
        if let Some(ip) = ip {
            keys.push(self.key(&format!("ipfail:{ip}")));
        }
        for key in keys {
            let record = self.failures(&key).await;
            if record.locked_until > now {
                return Err(ApiError::RateLimited {
                    retry_after_secs: ((record.locked_until - now) as u64).div_ceil(1000),
                });
            }
        }
        Ok(())
    }

    /// First step: email and password. The answer is the same for an unknown email and a wrong
    /// password, and costs the same time (an Argon2 check runs either way).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> ApiResult<LoginChallenge> {
        let email = email.trim().to_lowercase();
        self.check_not_locked(&email, ip).await?;
        let user = store::user_by_email(&self.db, &email).await?;
        let verified = match &user {
            Some(u) if UserStatus::from_db(&u.status) == UserStatus::Active => password::verify(
                password,
                u.password_hash.as_deref().unwrap_or(password::dummy_hash()),
            ),
            _ => {
                password::verify(password, password::dummy_hash());
                false
            }
        };
        let user = match (verified, user) {
            (true, Some(user)) => user,
            (_, found) => {
                self.record_failure(&email, ip).await;
                if let Some(u) = found {
                    self.audit(
                        &self.db,
                        &u.tenant_id,
                        events::LOGIN_FAILED,
                        &u.id,
                        None,
                        serde_json::json!({ "reason": "password", "ip": ip }),
                    )
                    .await?;
                    self.outbox.wake();
                }
                return Err(invalid_credentials());
            }
        };
        let _ = self.cache.delete(&self.key(&format!("fail:{email}"))).await;
        let methods = self.second_factors(&user).await?;
        let purpose = if methods.is_empty() {
            Purpose::Enroll
        } else {
            Purpose::Verify
        };
        let token = secrets::random_token();
        self.save_session(
            &token,
            &MfaSession {
                user_id: user.id.clone(),
                purpose,
                pending_totp_secret: None,
                webauthn_registration: None,
                webauthn_authentication: None,
                failures: 0,
            },
        )
        .await?;
        let mut method_names: Vec<String> = methods;
        if purpose == Purpose::Verify {
            method_names.push("recovery_code".into());
        }
        Ok(LoginChallenge {
            mfa_token: token,
            enrollment_required: purpose == Purpose::Enroll,
            methods: method_names,
        })
    }

    async fn second_factors(&self, user: &user::Model) -> ApiResult<Vec<String>> {
        let mut methods = Vec::new();
        if user.totp_secret.is_some() {
            methods.push("totp".to_string());
        }
        let passkeys = webauthn_credential::Entity::find()
            .filter(webauthn_credential::Column::UserId.eq(user.id.as_str()))
            .all(&self.db)
            .await?;
        if !passkeys.is_empty() {
            methods.push("webauthn".to_string());
        }
        Ok(methods)
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.config.cache_prefix)
    }

    fn session_key(&self, token: &str) -> String {
        self.key(&format!("mfa:{}", secrets::hash_token(token)))
    }

    async fn save_session(&self, token: &str, session: &MfaSession) -> ApiResult<()> {
        let bytes = serde_json::to_vec(session).map_err(ApiError::internal)?;
        self.cache
            .set(
                &self.session_key(token),
                &bytes,
                Some(self.config.mfa_session_ttl),
            )
            .await
            .map_err(ApiError::internal)
    }

    async fn session(&self, token: &str, purpose: Purpose) -> ApiResult<(MfaSession, user::Model)> {
        let bytes = self
            .cache
            .get(&self.session_key(token))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(invalid_mfa_session)?;
        let session: MfaSession =
            serde_json::from_slice(&bytes).map_err(|_| invalid_mfa_session())?;
        if session.purpose != purpose {
            return Err(match purpose {
                Purpose::Enroll => ApiError::Forbidden(
                    "a second factor is already enrolled: verify it instead".into(),
                ),
                Purpose::Verify => ApiError::Forbidden("enrol a second factor first".into()),
            });
        }
        let user = user::Entity::find_by_id(session.user_id.clone())
            .one(&self.db)
            .await?
            .filter(|u| UserStatus::from_db(&u.status) == UserStatus::Active)
            .ok_or_else(invalid_mfa_session)?;
        Ok((session, user))
    }

    /// A wrong second factor: counts against the account, ends the attempt after a few.
    async fn mfa_failure(
        &self,
        token: &str,
        mut session: MfaSession,
        user: &user::Model,
        reason: &str,
    ) -> ApiError {
        self.record_failure(&user.email, None).await;
        session.failures += 1;
        if session.failures >= MAX_MFA_FAILURES {
            let _ = self.cache.delete(&self.session_key(token)).await;
        } else if let Err(err) = self.save_session(token, &session).await {
            return err;
        }
        if let Err(err) = self
            .audit(
                &self.db,
                &user.tenant_id,
                events::LOGIN_FAILED,
                &user.id,
                None,
                serde_json::json!({ "reason": reason }),
            )
            .await
        {
            return err;
        }
        self.outbox.wake();
        ApiError::AuthenticationFailed(format!("the {reason} is wrong or was already used"))
    }

    async fn finish_login(
        &self,
        token: &str,
        user: &user::Model,
        method: &str,
    ) -> ApiResult<TokenSet> {
        let _ = self.cache.delete(&self.session_key(token)).await;
        let _ = self
            .cache
            .delete(&self.key(&format!("fail:{}", user.email)))
            .await;
        self.audit(
            &self.db,
            &user.tenant_id,
            events::LOGIN_SUCCEEDED,
            &user.id,
            Some(&user.id),
            serde_json::json!({ "method": method }),
        )
        .await?;
        self.outbox.wake();
        self.issue_tokens(user, None).await
    }

    /// Starts TOTP enrolment: the secret and the otpauth URI to scan.
    pub async fn begin_totp_enrollment(&self, mfa_token: &str) -> ApiResult<(String, String)> {
        let (mut session, user) = self.session(mfa_token, Purpose::Enroll).await?;
        let secret = totp::new_secret();
        let uri = totp::provisioning_uri(&secret, &self.config.totp_issuer, &user.email)
            .ok_or_else(|| ApiError::internal("otpauth uri"))?;
        session.pending_totp_secret = Some(secret.clone());
        self.save_session(mfa_token, &session).await?;
        Ok((secret, uri))
    }

    /// Confirms TOTP enrolment with a first code; completes the login.
    pub async fn confirm_totp_enrollment(
        &self,
        mfa_token: &str,
        code: &str,
    ) -> ApiResult<TokenSet> {
        let (session, user) = self.session(mfa_token, Purpose::Enroll).await?;
        let Some(secret) = session.pending_totp_secret.clone() else {
            return Err(ApiError::bad_input(
                "mfaToken",
                "start the TOTP enrolment first",
            ));
        };
        let now = chrono::Utc::now().timestamp() as u64;
        let Some(step) = totp::accept(&secret, code, now, None) else {
            return Err(self.mfa_failure(mfa_token, session, &user, "code").await);
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut active: user::ActiveModel = user.clone().into();
        active.totp_secret = Set(Some(secret));
        active.totp_last_step = Set(Some(step as i64));
        active.updated_at = Set(now_ms());
        active.update(&txn).await?;
        let codes = self.new_recovery_codes(&txn, &user.id).await?;
        self.audit(
            &txn,
            &user.tenant_id,
            events::MFA_ENROLLED,
            &user.id,
            Some(&user.id),
            serde_json::json!({ "method": "totp" }),
        )
        .await?;
        txn.commit().await?;
        let mut tokens = self.finish_login(mfa_token, &user, "totp").await?;
        tokens.recovery_codes = Some(codes);
        Ok(tokens)
    }

    async fn new_recovery_codes<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: &str,
    ) -> ApiResult<Vec<String>> {
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::UserId.eq(user_id))
            .exec(conn)
            .await?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = secrets::recovery_code();
            recovery_code::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                user_id: Set(user_id.to_owned()),
                code_hash: Set(secrets::hash_token(&code)),
                used_at: Set(None),
                created_at: Set(now_ms()),
            }
            .insert(conn)
            .await?;
            codes.push(code);
        }
        Ok(codes)
    }

    /// Second step with a TOTP code; a code is never accepted twice.
    pub async fn verify_totp(&self, mfa_token: &str, code: &str) -> ApiResult<TokenSet> {
        let (session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let Some(secret) = user.totp_secret.clone() else {
            return Err(ApiError::bad_input(
                "code",
                "TOTP is not enrolled for this user",
            ));
        };
        let now = chrono::Utc::now().timestamp() as u64;
        let last = user.totp_last_step.map(|s| s as u64);
        let Some(step) = totp::accept(&secret, code, now, last) else {
            return Err(self.mfa_failure(mfa_token, session, &user, "code").await);
        };
        // Conditional update: of two concurrent logins with the same code only one wins.
        let claimed = user::Entity::update_many()
            .col_expr(user::Column::TotpLastStep, Expr::value(step as i64))
            .filter(user::Column::Id.eq(user.id.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(user::Column::TotpLastStep.is_null())
                    .add(user::Column::TotpLastStep.lt(step as i64)),
            )
            .exec(&self.db)
            .await?
            .rows_affected;
        if claimed != 1 {
            return Err(self.mfa_failure(mfa_token, session, &user, "code").await);
        }
        self.finish_login(mfa_token, &user, "totp").await
    }

    /// Second step with a one-time recovery code.
    pub async fn verify_recovery_code(&self, mfa_token: &str, code: &str) -> ApiResult<TokenSet> {
        let (session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let hash = secrets::hash_token(&secrets::normalize_recovery_code(code));
        let claimed = recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(now_ms()))
            .filter(recovery_code::Column::UserId.eq(user.id.as_str()))
            .filter(recovery_code::Column::CodeHash.eq(hash))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected;
        if claimed != 1 {
            return Err(self
                .mfa_failure(mfa_token, session, &user, "recovery code")
                .await);
        }
        self.finish_login(mfa_token, &user, "recovery_code").await
    }

    /// Starts WebAuthn registration: the `PublicKeyCredentialCreationOptions` for the browser.
    pub async fn begin_webauthn_registration(
        &self,
        mfa_token: &str,
    ) -> ApiResult<serde_json::Value> {
        let (mut session, user) = self.session(mfa_token, Purpose::Enroll).await?;
        let user_uuid = uuid::Uuid::parse_str(&user.id).map_err(ApiError::internal)?;
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user_uuid, &user.email, &user.name, None)
            .map_err(ApiError::internal)?;
        session.webauthn_registration =
            Some(serde_json::to_value(&state).map_err(ApiError::internal)?);
        self.save_session(mfa_token, &session).await?;
        serde_json::to_value(&options).map_err(ApiError::internal)
    }

    /// Finishes WebAuthn registration with the authenticator's response; completes the login.
    pub async fn finish_webauthn_registration(
        &self,
        mfa_token: &str,
        credential: serde_json::Value,
    ) -> ApiResult<TokenSet> {
        let (mut session, user) = self.session(mfa_token, Purpose::Enroll).await?;
        let state: PasskeyRegistration = session
            .webauthn_registration
            .take()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| {
                ApiError::bad_input("mfaToken", "start the WebAuthn registration first")
            })?;
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(|e| {
                ApiError::bad_input(
                    "credential",
                    format!("not a WebAuthn registration response: {e}"),
                )
            })?;
        let passkey = match self
            .webauthn
            .finish_passkey_registration(&credential, &state)
        {
            Ok(passkey) => passkey,
            Err(err) => {
                tracing::info!(error = %err, "webauthn registration refused");
                return Err(self
                    .mfa_failure(mfa_token, session, &user, "security key response")
                    .await);
            }
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        webauthn_credential::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            user_id: Set(user.id.clone()),
            passkey: Set(serde_json::to_string(&passkey).map_err(ApiError::internal)?),
            created_at: Set(now_ms()),
        }
        .insert(&txn)
        .await?;
        let codes = self.new_recovery_codes(&txn, &user.id).await?;
        self.audit(
            &txn,
            &user.tenant_id,
            events::MFA_ENROLLED,
            &user.id,
            Some(&user.id),
            serde_json::json!({ "method": "webauthn" }),
        )
        .await?;
        txn.commit().await?;
        let mut tokens = self.finish_login(mfa_token, &user, "webauthn").await?;
        tokens.recovery_codes = Some(codes);
        Ok(tokens)
    }

    /// Starts a WebAuthn assertion: the `PublicKeyCredentialRequestOptions` for the browser.
    pub async fn begin_webauthn_login(&self, mfa_token: &str) -> ApiResult<serde_json::Value> {
        let (mut session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let passkeys = self.passkeys(&user.id).await?;
        if passkeys.is_empty() {
            return Err(ApiError::bad_input(
                "mfaToken",
                "no security key is registered for this user",
            ));
        }
        let keys: Vec<Passkey> = passkeys.into_iter().map(|(_, p)| p).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(ApiError::internal)?;
        session.webauthn_authentication =
            Some(serde_json::to_value(&state).map_err(ApiError::internal)?);
        self.save_session(mfa_token, &session).await?;
        serde_json::to_value(&options).map_err(ApiError::internal)
    }

    async fn passkeys(
        &self,
        user_id: &str,
    ) -> ApiResult<Vec<(webauthn_credential::Model, Passkey)>> {
        let rows = webauthn_credential::Entity::find()
            .filter(webauthn_credential::Column::UserId.eq(user_id))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let passkey = serde_json::from_str::<Passkey>(&row.passkey).ok()?;
                Some((row, passkey))
            })
            .collect())
    }

    /// Second step with a WebAuthn assertion.
    pub async fn finish_webauthn_login(
        &self,
        mfa_token: &str,
        credential: serde_json::Value,
    ) -> ApiResult<TokenSet> {
        let (mut session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let state: PasskeyAuthentication = session
            .webauthn_authentication
            .take()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| ApiError::bad_input("mfaToken", "start the WebAuthn login first"))?;
        let credential: PublicKeyCredential = serde_json::from_value(credential).map_err(|e| {
            ApiError::bad_input("credential", format!("not a WebAuthn assertion: {e}"))
        })?;
        let result = match self
            .webauthn
            .finish_passkey_authentication(&credential, &state)
        {
            Ok(result) => result,
            Err(err) => {
                tracing::info!(error = %err, "webauthn assertion refused");
                return Err(self
                    .mfa_failure(mfa_token, session, &user, "security key response")
                    .await);
            }
        };
        // Store the new signature counter (clone detection).
        for (row, mut passkey) in self.passkeys(&user.id).await? {
            if passkey.update_credential(&result) == Some(true) {
                let mut active: webauthn_credential::ActiveModel = row.into();
                active.passkey = Set(serde_json::to_string(&passkey).map_err(ApiError::internal)?);
                active.update(&self.db).await?;
            }
        }
        self.finish_login(mfa_token, &user, "webauthn").await
    }

    // ----- tokens ----------------------------------------------------------------------------

    /// The claims of `user` now (role permissions read fresh).
    pub async fn claims_for(&self, user: &user::Model) -> ApiResult<Claims> {
        let role = role::Entity::find_by_id(user.role_id.clone())
            .one(&self.db)
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

    async fn issue_tokens(
        &self,
        user: &user::Model,
        family: Option<String>,
    ) -> ApiResult<TokenSet> {
        let claims = self.claims_for(user).await?;
        let key = self.keys.signing_key().await?;
        let access_token = key.sign(&claims).map_err(ApiError::internal)?;
        let refresh = secrets::random_token();
        let now = now_ms();
        refresh_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            family_id: Set(family.unwrap_or_else(|| uuid::Uuid::now_v7().to_string())),
            user_id: Set(user.id.clone()),
            tenant_id: Set(user.tenant_id.clone()),
            token_hash: Set(secrets::hash_token(&refresh)),
            expires_at: Set(now + self.config.refresh_ttl.as_millis() as i64),
            used_at: Set(None),
            revoked_at: Set(None),
            created_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        Ok(TokenSet {
            access_token,
            refresh_token: refresh,
            expires_in: self.config.access_ttl.as_secs(),
            recovery_codes: None,
        })
    }

    async fn revoke_family<C: ConnectionTrait>(&self, conn: &C, family_id: &str) -> ApiResult<u64> {
        Ok(refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now_ms()))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(conn)
            .await?
            .rows_affected)
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once; presenting a used
    /// one again means it leaked, and the whole session (its family) is revoked.
    pub async fn refresh(&self, token: &str) -> ApiResult<TokenSet> {
        let invalid = || ApiError::AuthenticationFailed("the refresh token is not valid".into());
        let row = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(secrets::hash_token(token)))
            .one(&self.db)
            .await?
            .ok_or_else(invalid)?;
        if row.revoked_at.is_some() || row.expires_at <= now_ms() {
            return Err(invalid());
        }
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now_ms()))
            .filter(refresh_token::Column::Id.eq(row.id.as_str()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected;
        if claimed != 1 {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let revoked = self.revoke_family(&txn, &row.family_id).await?;
            self.audit(
                &txn,
                &row.tenant_id,
                events::REFRESH_REUSE_DETECTED,
                &row.user_id,
                None,
                serde_json::json!({ "family_id": row.family_id, "sessions_revoked": revoked }),
            )
            .await?;
            txn.commit().await?;
            self.outbox.wake();
            return Err(ApiError::AuthenticationFailed(
                "this refresh token was already used: the session is revoked, log in again".into(),
            ));
        }
        let user = user::Entity::find_by_id(row.user_id.clone())
            .one(&self.db)
            .await?
            .filter(|u| UserStatus::from_db(&u.status) == UserStatus::Active);
        let Some(user) = user else {
            self.revoke_family(&self.db, &row.family_id).await?;
            return Err(invalid());
        };
        self.issue_tokens(&user, Some(row.family_id)).await
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are not an error (the
    /// caller's goal, no valid session, holds).
    pub async fn logout(&self, token: &str) -> ApiResult<bool> {
        let row = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(secrets::hash_token(token)))
            .one(&self.db)
            .await?;
        if let Some(row) = row {
            let txn = erp_kit::db::begin_write(&self.db).await?;
            self.revoke_family(&txn, &row.family_id).await?;
            self.audit(
                &txn,
                &row.tenant_id,
                events::LOGGED_OUT,
                &row.user_id,
                Some(&row.user_id),
                serde_json::json!({ "family_id": row.family_id }),
            )
            .await?;
            txn.commit().await?;
            self.outbox.wake();
        }
        Ok(true)
    }

    /// Rotates the signing key and records the audit event.
    pub async fn rotate_signing_key(&self) -> ApiResult<String> {
        let kid = self.keys.rotate().await?;
        self.audit(&self.db, "system", events::KEY_ROTATED, &kid, None,
            serde_json::json!({ "kid": kid, "signs_after_secs": self.config.jwks_cache_ttl.as_secs() })).await?;
        self.outbox.wake();
        Ok(kid)
    }
}
