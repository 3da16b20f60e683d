//! Second factors by code: TOTP (enrolment and verification) and one-time recovery codes.
//!
//! Every step that checks a proof runs as its account's only step in flight
//! ([`Identity::one_at_a_time`]) and counts a wrong proof against the user
//! ([`Identity::mfa_failure`]). A first factor is written only by the session that is still
//! its user's current one, consumed right before the write, and only while the user has no
//! factor (a conditional write): an older or concurrent enrolment never overwrites one.

use erp_kit::db::WriteTransaction;
use erp_kit::{ApiError, ApiResult};

use super::lockout::Subject;
use super::sessions::TokenSet;
use super::Identity;
use crate::domain::mfa::{Purpose, RECOVERY_CODES};
use crate::domain::{secrets, totp, Factor, MfaStep, Violation};
use crate::events::MfaEnrolled;
use crate::store;
use crate::store::entities::user;

fn now_unix_seconds() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// Recovery codes to hand out once, and their keyed hashes to store.
pub(super) struct NewRecoveryCodes {
    pub codes: Vec<String>,
    pub hashes: Vec<String>,
}

impl Identity {
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

    /// Confirms TOTP enrolment with a first code; completes the login (with recovery codes).
    pub async fn confirm_totp_enrollment(
        &self,
        mfa_token: &str,
        code: &str,
    ) -> ApiResult<TokenSet> {
        let user_id = self.peek_session(mfa_token).await?.user_id;
        self.one_at_a_time(&Subject::second_factor(&user_id), async {
            let (session, user) = self.session(mfa_token, Purpose::Enroll).await?;
            let Some(secret) = session.pending_totp_secret.clone() else {
                return Err(Violation::MfaStepNotStarted(MfaStep::TotpEnrollment).into());
            };
            let Some(step) = totp::accept(&secret, code, now_unix_seconds(), None) else {
                return Err(self
                    .mfa_failure(mfa_token, session, &user, Factor::Totp)
                    .await);
            };
            // Sealed, and the codes hashed, before the transaction (the first use of the
            // tenant's keys writes them on their own).
            let sealed = self.seal_totp_secret(&user, &secret).await?;
            let codes = self.new_recovery_codes(&user).await?;
            self.consume_session(mfa_token, &user.id).await?;
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let user = self.lock_factorless_user(&txn, &user.id).await?;
            let user = store::users::enrol_totp(&txn, user, &sealed, step).await?;
            self.finish_enrolment(txn, mfa_token, &user, Factor::Totp, codes)
                .await
        })
        .await
    }

    /// The user, row-locked in `txn`, when they still have no second factor (another
    /// enrolment may have finished since this one began).
    pub(super) async fn lock_factorless_user(
        &self,
        txn: &WriteTransaction,
        user_id: &str,
    ) -> ApiResult<user::Model> {
        let user = store::users::lock_for_login(txn, user_id)
            .await?
            .ok_or(Violation::MfaSessionInvalid)?;
        if user.totp_secret.is_some() || store::factors::has_passkey(txn, user_id).await? {
            return Err(Violation::FactorAlreadyEnrolled.into());
        }
        Ok(user)
    }

    /// A first second factor was written in `txn`: the recovery codes and the audit event join
    /// it, it commits, and the login completes with the codes (shown this once).
    pub(super) async fn finish_enrolment(
        &self,
        txn: WriteTransaction,
        mfa_token: &str,
        user: &user::Model,
        factor: Factor,
        codes: NewRecoveryCodes,
    ) -> ApiResult<TokenSet> {
        store::factors::replace_recovery_codes(&txn, &user.id, &codes.hashes).await?;
        self.record(
            &txn,
            &user.tenant_id,
            &user.id,
            Some(&user.id),
            &MfaEnrolled {
                method: factor.as_str(),
            },
        )
        .await?;
        txn.commit().await?;
        let mut tokens = self.finish_login(mfa_token, user, factor).await?;
        tokens.recovery_codes = Some(codes.codes);
        Ok(tokens)
    }

    /// Second step with a TOTP code; a code is never accepted twice.
    pub async fn verify_totp(&self, mfa_token: &str, code: &str) -> ApiResult<TokenSet> {
        let user_id = self.peek_session(mfa_token).await?.user_id;
        self.one_at_a_time(&Subject::second_factor(&user_id), async {
            let (session, user) = self.session(mfa_token, Purpose::Verify).await?;
            let Some(secret) = self.totp_secret(&user).await? else {
                return Err(Violation::FactorNotEnrolled(Factor::Totp).into());
            };
            let last = user.totp_last_step.map(|s| s as u64);
            let accepted = totp::accept(&secret, code, now_unix_seconds(), last);
            let claimed = match accepted {
                Some(step) => store::users::claim_totp_step(&self.db, &user.id, step).await?,
                None => false,
            };
            if !claimed {
                return Err(self
                    .mfa_failure(mfa_token, session, &user, Factor::Totp)
                    .await);
            }
            self.finish_login(mfa_token, &user, Factor::Totp).await
        })
        .await
    }

    /// Second step with a one-time recovery code.
    pub async fn verify_recovery_code(&self, mfa_token: &str, code: &str) -> ApiResult<TokenSet> {
        let user_id = self.peek_session(mfa_token).await?.user_id;
        self.one_at_a_time(&Subject::second_factor(&user_id), async {
            let (session, user) = self.session(mfa_token, Purpose::Verify).await?;
            let typed = secrets::normalize_recovery_code(code);
            let hash = self
                .recovery_code_hash(&user.tenant_id, &secrets::hash_token(&typed))
                .await?;
            if !store::factors::claim_recovery_code(&self.db, &user.id, &hash).await? {
                return Err(self
                    .mfa_failure(mfa_token, session, &user, Factor::RecoveryCode)
                    .await);
            }
            self.finish_login(mfa_token, &user, Factor::RecoveryCode)
                .await
        })
        .await
    }

    /// New recovery codes for the user and their keyed hashes (stored by
    /// [`Self::finish_enrolment`]; the old ones stop working); shown once.
    pub(super) async fn new_recovery_codes(
        &self,
        user: &user::Model,
    ) -> ApiResult<NewRecoveryCodes> {
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| secrets::recovery_code())
            .collect();
        let mut hashes = Vec::with_capacity(codes.len());
        for code in &codes {
            hashes.push(
                self.recovery_code_hash(&user.tenant_id, &secrets::hash_token(code))
                    .await?,
            );
        }
        Ok(NewRecoveryCodes { codes, hashes })
    }
}
