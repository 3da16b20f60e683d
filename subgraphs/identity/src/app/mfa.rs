//! Second factors by code: TOTP (enrolment and verification) and one-time recovery codes.

use sea_orm::ConnectionTrait;

use erp_kit::db::WriteTransaction;

use erp_kit::{ApiError, ApiResult};

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
        let (session, user) = self.session(mfa_token, Purpose::Enroll).await?;
        let Some(secret) = session.pending_totp_secret.clone() else {
            return Err(Violation::MfaStepNotStarted(MfaStep::TotpEnrollment).into());
        };
        let Some(step) = totp::accept(&secret, code, now_unix_seconds(), None) else {
            return Err(self
                .mfa_failure(mfa_token, session, &user, Factor::Totp)
                .await);
        };
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let user = store::users::enrol_totp(&txn, user, &secret, step).await?;
        self.finish_enrolment(txn, mfa_token, &user, Factor::Totp)
            .await
    }

    /// A first second factor was written in `txn`: the recovery codes and the audit event join
    /// it, it commits, and the login completes with the codes (shown this once).
    pub(super) async fn finish_enrolment(
        &self,
        txn: WriteTransaction,
        mfa_token: &str,
        user: &user::Model,
        factor: Factor,
    ) -> ApiResult<TokenSet> {
        let codes = self.new_recovery_codes(&txn, &user.id).await?;
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
        tokens.recovery_codes = Some(codes);
        Ok(tokens)
    }

    /// Second step with a TOTP code; a code is never accepted twice.
    pub async fn verify_totp(&self, mfa_token: &str, code: &str) -> ApiResult<TokenSet> {
        let (session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let Some(secret) = user.totp_secret.clone() else {
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
    }

    /// Second step with a one-time recovery code.
    pub async fn verify_recovery_code(&self, mfa_token: &str, code: &str) -> ApiResult<TokenSet> {
        let (session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let hash = secrets::hash_token(&secrets::normalize_recovery_code(code));
        if !store::factors::claim_recovery_code(&self.db, &user.id, &hash).await? {
            return Err(self
                .mfa_failure(mfa_token, session, &user, Factor::RecoveryCode)
                .await);
        }
        self.finish_login(mfa_token, &user, Factor::RecoveryCode)
            .await
    }

    /// New recovery codes for the user (the old ones stop working); shown once.
    async fn new_recovery_codes<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: &str,
    ) -> ApiResult<Vec<String>> {
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| secrets::recovery_code())
            .collect();
        let hashes: Vec<String> = codes.iter().map(|c| secrets::hash_token(c)).collect();
        store::factors::replace_recovery_codes(conn, user_id, &hashes).await?;
        Ok(codes)
    }
}
