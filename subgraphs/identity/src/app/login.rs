//! The password step of a login, and the short-lived MFA session between it and the second
//! factor (kept in the cache): its lookups, its failures, its end.
//!
//! A user has at most one MFA session: a new login voids the previous one (its token answers
//! MFA_SESSION_INVALID), so logging in again does not open another set of guesses beside it.

use serde::{Deserialize, Serialize};

use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, ApiResult};

use super::lockout::Subject;
use super::sessions::TokenSet;
use super::Identity;
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

/// Checks a password against a stored Argon2id hash on the blocking pool (the hash is slow
/// on purpose; on the async workers it would stall every other request). Without a stored
/// hash (unknown account, no password yet) a dummy one is checked, so that the answer costs
/// the same time, and the answer is no.
pub(super) async fn verify_password(candidate: &str, stored: Option<String>) -> ApiResult<bool> {
    let candidate = candidate.to_owned();
    tokio::task::spawn_blocking(move || match stored {
        Some(hash) => password::verify(&candidate, &hash),
        None => {
            password::verify(&candidate, password::dummy_hash());
            false
        }
    })
    .await
    .map_err(ApiError::internal)
}

/// Hashes a new password on the blocking pool (see [`verify_password`]).
pub(super) async fn hash_password(new: password::NewPassword) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || new.hash())
        .await
        .map_err(ApiError::internal)?
}

impl Identity {
    /// First step: email and password. The answer is the same for an unknown email and a wrong
    /// password, and costs the same time (an Argon2 check runs either way). The input is
    /// bounded before any work (an email of at most 254 characters, a password of at most
    /// 256), every counter is keyed by a hash, and the step is refused when the lockout state
    /// cannot be read or written.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> ApiResult<LoginChallenge> {
        let email = EmailAddress::parse("email", email)?;
        password::check_candidate(password)?;
        let account = Subject::account(email.as_str());
        let mut counted = vec![account.clone()];
        counted.extend(ip.map(Subject::address));
        let user = self
            .one_at_a_time(&account, async {
                self.check_not_locked(&counted).await?;
                let user = store::users::by_email(&self.db, email.as_str()).await?;
                let stored = user
                    .as_ref()
                    .filter(|u| u.status() == UserStatus::Active)
                    .and_then(|u| u.password_hash.clone());
                match (verify_password(password, stored).await?, user) {
                    (true, Some(user)) => Ok(user),
                    (_, found) => {
                        self.record_failure(&counted).await?;
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
                        Err(Violation::InvalidCredentials.into())
                    }
                }
            })
            .await?;
        self.forget_failures(&account).await;
        // Wrong second factors are not forgiven by a right password.
        self.check_not_locked(&[Subject::second_factor(&user.id)])
            .await?;
        let enrolled = self.enrolled_factors(&user).await?;
        let purpose = Purpose::for_factors(&enrolled);
        let token = secrets::random_token();
        self.open_session(
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

    /// Whether `password` is the password of the active user `email`, checked without
    /// counting anything (an operator's check: the one-process mode serves beyond loopback
    /// only once the demo password no longer logs anyone in).
    pub async fn password_works(&self, email: &str, password: &str) -> ApiResult<bool> {
        let email = EmailAddress::parse("email", email)?;
        let stored = store::users::by_email(&self.db, email.as_str())
            .await?
            .filter(|u| u.status() == UserStatus::Active)
            .and_then(|u| u.password_hash);
        if stored.is_none() {
            return Ok(false);
        }
        verify_password(password, stored).await
    }

    pub(super) async fn enrolled_factors(&self, user: &user::Model) -> ApiResult<Vec<Factor>> {
        let mut enrolled = Vec::new();
        if user.totp_secret.is_some() {
            enrolled.push(Factor::Totp);
        }
        if store::factors::has_passkey(&self.db, &user.id).await? {
            enrolled.push(Factor::Webauthn);
        }
        Ok(enrolled)
    }

    // ----- the MFA session ----------------------------------------------------------------------

    fn session_key(&self, token_hash: &str) -> String {
        self.cache_key(&format!("mfa:{token_hash}"))
    }

    /// Where the hash of the user's one live MFA session token is kept.
    fn current_session_key(&self, user_id: &str) -> String {
        self.cache_key(&format!("mfa-user:{user_id}"))
    }

    pub(super) async fn save_session(&self, token: &str, session: &MfaSession) -> ApiResult<()> {
        let bytes = serde_json::to_vec(session).map_err(ApiError::internal)?;
        self.cache
            .set(
                &self.session_key(&secrets::hash_token(token)),
                &bytes,
                Some(self.config.mfa_session_ttl),
            )
            .await
            .map_err(ApiError::internal)
    }

    /// Saves a new session and makes it its user's only one (the previous one is voided).
    async fn open_session(&self, token: &str, session: &MfaSession) -> ApiResult<()> {
        self.save_session(token, session).await?;
        let pointer = self.current_session_key(&session.user_id);
        let hash = secrets::hash_token(token);
        let previous = self.cache.get(&pointer).await.map_err(ApiError::internal)?;
        self.cache
            .set(&pointer, hash.as_bytes(), Some(self.config.mfa_session_ttl))
            .await
            .map_err(ApiError::internal)?;
        if let Some(previous) = previous.and_then(|p| String::from_utf8(p).ok()) {
            if previous != hash {
                let _ = self.cache.delete(&self.session_key(&previous)).await;
            }
        }
        Ok(())
    }

    /// The session of `token` as stored (no check beyond its existence).
    pub(super) async fn peek_session(&self, token: &str) -> ApiResult<MfaSession> {
        let bytes = self
            .cache
            .get(&self.session_key(&secrets::hash_token(token)))
            .await
            .map_err(ApiError::internal)?
            .ok_or(Violation::MfaSessionInvalid)?;
        serde_json::from_slice(&bytes).map_err(|_| Violation::MfaSessionInvalid.into())
    }

    /// Refuses `token` unless it names its user's current session (a newer login voids it).
    async fn check_current(&self, token: &str, user_id: &str) -> ApiResult<()> {
        let current = self
            .cache
            .get(&self.current_session_key(user_id))
            .await
            .map_err(ApiError::internal)?;
        if current.as_deref() != Some(secrets::hash_token(token).as_bytes()) {
            return Err(Violation::MfaSessionInvalid.into());
        }
        Ok(())
    }

    /// The session of `token`, for a step that needs `purpose`, and its user: the session is
    /// its user's current one, the user is still active, and the account is not locked (every
    /// MFA step checks the lock, not only the password step).
    pub(super) async fn session(
        &self,
        token: &str,
        purpose: Purpose,
    ) -> ApiResult<(MfaSession, user::Model)> {
        let session = self.peek_session(token).await?;
        self.check_current(token, &session.user_id).await?;
        let user = store::users::by_id_for_login(&self.db, &session.user_id)
            .await?
            .filter(|u| u.status() == UserStatus::Active)
            .ok_or(Violation::MfaSessionInvalid)?;
        self.check_not_locked(&[
            Subject::second_factor(&user.id),
            Subject::account(&user.email),
        ])
        .await?;
        session.purpose.require(purpose)?;
        Ok((session, user))
    }

    /// Ends the session of `token` for good, right before a first factor is written: it must
    /// still be its user's current one and still exist (of two steps racing with the same
    /// session, only one consumes it).
    pub(super) async fn consume_session(&self, token: &str, user_id: &str) -> ApiResult<()> {
        self.check_current(token, user_id).await?;
        let existed = self
            .cache
            .delete(&self.session_key(&secrets::hash_token(token)))
            .await
            .map_err(ApiError::internal)?;
        if !existed {
            return Err(Violation::MfaSessionInvalid.into());
        }
        Ok(())
    }

    async fn end_session(&self, token: &str, user_id: &str) {
        let _ = self
            .cache
            .delete(&self.session_key(&secrets::hash_token(token)))
            .await;
        let _ = self.cache.delete(&self.current_session_key(user_id)).await;
    }

    /// A wrong second factor: counts against the user (across login attempts), ends the
    /// attempt after a few.
    pub(super) async fn mfa_failure(
        &self,
        token: &str,
        mut session: MfaSession,
        user: &user::Model,
        factor: Factor,
    ) -> ApiError {
        if let Err(err) = self
            .record_failure(&[Subject::second_factor(&user.id)])
            .await
        {
            return err;
        }
        session.failures += 1;
        if mfa::attempt_exhausted(session.failures) {
            self.end_session(token, &user.id).await;
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
        self.end_session(token, &user.id).await;
        self.forget_failures(&Subject::second_factor(&user.id))
            .await;
        self.forget_failures(&Subject::account(&user.email)).await;
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
        self.issue_tokens(user).await
    }
}
