//! The password step of a login, and the short-lived MFA session between it and the second
//! factor (kept in the cache): its lookups, its failures, its end.

use serde::{Deserialize, Serialize};

use erp_kit::{ApiError, ApiResult};

use super::sessions::TokenSet;
use super::{now_ms, Identity};
use crate::domain::lockout::{Counter, FailureRecord};
use crate::domain::mfa::{self, Purpose};
use crate::domain::users::UserStatus;
use crate::domain::violation::{Factor, Violation};
use crate::domain::{password, secrets};
use crate::events::{LoginSucceeded, PasswordFailed, SecondFactorFailed};
use crate::store;
use crate::store::entities::user;

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

/// A login between password and second factor, kept in the cache under its token's hash.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MfaSession {
    pub user_id: String,
    pub purpose: Purpose,
    pub pending_totp_secret: Option<String>,
    pub webauthn_registration: Option<serde_json::Value>,
    pub webauthn_authentication: Option<serde_json::Value>,
    pub failures: u32,
}

impl Identity {
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
        let user = store::users::by_email(&self.db, &email).await?;
        let verified = match &user {
            Some(u) if u.status() == UserStatus::Active => password::verify(
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
                    self.record(
                        &self.db,
                        &u.tenant_id,
                        &u.id,
                        None,
                        &PasswordFailed {
                            reason: "password",
                            ip,
                        },
                    )
                    .await?;
                    self.outbox.wake();
                }
                return Err(Violation::InvalidCredentials.into());
            }
        };
        let _ = self
            .cache
            .delete(&self.failure_key(Counter::Account, &email))
            .await;
        let enrolled = self.enrolled_factors(&user).await?;
        let purpose = Purpose::for_factors(&enrolled);
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
        Ok(LoginChallenge {
            mfa_token: token,
            enrollment_required: purpose == Purpose::Enroll,
            methods: mfa::challenge_methods(&enrolled),
        })
    }

    async fn enrolled_factors(&self, user: &user::Model) -> ApiResult<Vec<Factor>> {
        let mut enrolled = Vec::new();
        if user.totp_secret.is_some() {
            enrolled.push(Factor::Totp);
        }
        if store::factors::has_passkey(&self.db, &user.id).await? {
            enrolled.push(Factor::Webauthn);
        }
        Ok(enrolled)
    }

    // ----- lockout counters (in the cache, shared by the replicas) -----------------------------

    fn failure_key(&self, counter: Counter, subject: &str) -> String {
        match counter {
            Counter::Account => self.cache_key(&format!("fail:{subject}")),
            Counter::Address => self.cache_key(&format!("ipfail:{subject}")),
        }
    }

    /// A counter's record; an unreadable cache counts as no failures (logins keep working when
    /// the cache is down, without the lockout).
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

    pub(super) async fn record_failure(&self, email: &str, ip: Option<&str>) {
        let counters =
            std::iter::once((Counter::Account, email)).chain(ip.map(|ip| (Counter::Address, ip)));
        for (counter, subject) in counters {
            let key = self.failure_key(counter, subject);
            let record =
                self.config
                    .lockout
                    .after_failure(counter, self.failures(&key).await, now_ms());
            if let Ok(bytes) = serde_json::to_vec(&record) {
                let _ = self
                    .cache
                    .set(&key, &bytes, Some(self.config.lockout.reset_after))
                    .await;
            }
        }
    }

    async fn check_not_locked(&self, email: &str, ip: Option<&str>) -> ApiResult<()> {
        let now = now_ms();
        let counters =
            std::iter::once((Counter::Account, email)).chain(ip.map(|ip| (Counter::Address, ip)));
        for (counter, subject) in counters {
            let record = self.failures(&self.failure_key(counter, subject)).await;
            if let Some(retry_after) = record.retry_after_secs(now) {
                return Err(ApiError::rate_limited(counter.reason(), retry_after));
            }
        }
        Ok(())
    }

    // ----- the MFA session ----------------------------------------------------------------------

    fn session_key(&self, token: &str) -> String {
        self.cache_key(&format!("mfa:{}", secrets::hash_token(token)))
    }

    pub(super) async fn save_session(&self, token: &str, session: &MfaSession) -> ApiResult<()> {
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

    /// The session of `token`, for a step that needs `purpose`, and its user (still active).
    pub(super) async fn session(
        &self,
        token: &str,
        purpose: Purpose,
    ) -> ApiResult<(MfaSession, user::Model)> {
        let bytes = self
            .cache
            .get(&self.session_key(token))
            .await
            .map_err(ApiError::internal)?
            .ok_or(Violation::MfaSessionInvalid)?;
        let session: MfaSession =
            serde_json::from_slice(&bytes).map_err(|_| Violation::MfaSessionInvalid)?;
        session.purpose.require(purpose)?;
        let user = store::users::by_id_for_login(&self.db, &session.user_id)
            .await?
            .filter(|u| u.status() == UserStatus::Active)
            .ok_or(Violation::MfaSessionInvalid)?;
        Ok((session, user))
    }

    /// A wrong second factor: counts against the account, ends the attempt after a few.
    pub(super) async fn mfa_failure(
        &self,
        token: &str,
        mut session: MfaSession,
        user: &user::Model,
        factor: Factor,
    ) -> ApiError {
        self.record_failure(&user.email, None).await;
        session.failures += 1;
        if mfa::attempt_exhausted(session.failures) {
            let _ = self.cache.delete(&self.session_key(token)).await;
        } else if let Err(err) = self.save_session(token, &session).await {
            return err;
        }
        let event = SecondFactorFailed {
            reason: factor.proof(),
        };
        if let Err(err) = self
            .record(&self.db, &user.tenant_id, &user.id, None, &event)
            .await
        {
            return err;
        }
        self.outbox.wake();
        Violation::SecondFactorRejected(factor).into()
    }

    /// The second factor checked out: the attempt ends, the failures are forgotten, tokens.
    pub(super) async fn finish_login(
        &self,
        token: &str,
        user: &user::Model,
        factor: Factor,
    ) -> ApiResult<TokenSet> {
        let _ = self.cache.delete(&self.session_key(token)).await;
        let _ = self
            .cache
            .delete(&self.failure_key(Counter::Account, &user.email))
            .await;
        self.record(
            &self.db,
            &user.tenant_id,
            &user.id,
            Some(&user.id),
            &LoginSucceeded {
                method: factor.as_str(),
            },
        )
        .await?;
        self.outbox.wake();
        self.issue_tokens(user, None).await
    }
}
