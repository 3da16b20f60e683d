//! WebAuthn (passkeys, security keys) as a second factor: registration and assertion.

use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential,
};

use erp_kit::{ApiError, ApiResult};

use super::lockout::Subject;
use super::sessions::TokenSet;
use super::Identity;
use crate::domain::mfa::Purpose;
use crate::domain::{Factor, MfaStep, Violation};
use crate::store;
use crate::store::entities::webauthn_credential;

impl Identity {
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
        let user_id = self.peek_session(mfa_token).await?.user_id;
        self.one_at_a_time(&Subject::second_factor(&user_id), async {
            let (mut session, user) = self.session(mfa_token, Purpose::Enroll).await?;
            let state: PasskeyRegistration = session
                .webauthn_registration
                .take()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or(Violation::MfaStepNotStarted(MfaStep::WebauthnRegistration))?;
            let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
                .map_err(|e| {
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
                        .mfa_failure(mfa_token, session, &user, Factor::Webauthn)
                        .await);
                }
            };
            let passkey_json = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
            let codes = self.new_recovery_codes(&user).await?;
            self.consume_session(mfa_token, &user.id).await?;
            let txn = erp_kit::db::begin_write(&self.db).await?;
            let user = self.lock_factorless_user(&txn, &user.id).await?;
            store::factors::insert_passkey(&txn, &user.id, passkey_json).await?;
            self.finish_enrolment(txn, mfa_token, &user, Factor::Webauthn, codes)
                .await
        })
        .await
    }

    /// Starts a WebAuthn assertion: the `PublicKeyCredentialRequestOptions` for the browser.
    pub async fn begin_webauthn_login(&self, mfa_token: &str) -> ApiResult<serde_json::Value> {
        let (mut session, user) = self.session(mfa_token, Purpose::Verify).await?;
        let passkeys = self.passkeys(&user.id).await?;
        if passkeys.is_empty() {
            return Err(Violation::FactorNotEnrolled(Factor::Webauthn).into());
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

    /// Second step with a WebAuthn assertion.
    pub async fn finish_webauthn_login(
        &self,
        mfa_token: &str,
        credential: serde_json::Value,
    ) -> ApiResult<TokenSet> {
        let user_id = self.peek_session(mfa_token).await?.user_id;
        self.one_at_a_time(&Subject::second_factor(&user_id), async {
            let (mut session, user) = self.session(mfa_token, Purpose::Verify).await?;
            let state: PasskeyAuthentication = session
                .webauthn_authentication
                .take()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or(Violation::MfaStepNotStarted(MfaStep::WebauthnLogin))?;
            let credential: PublicKeyCredential =
                serde_json::from_value(credential).map_err(|e| {
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
                        .mfa_failure(mfa_token, session, &user, Factor::Webauthn)
                        .await);
                }
            };
            // Store the new signature counter (clone detection).
            for (row, mut passkey) in self.passkeys(&user.id).await? {
                if passkey.update_credential(&result) == Some(true) {
                    let passkey_json =
                        serde_json::to_string(&passkey).map_err(ApiError::internal)?;
                    store::factors::update_passkey(&self.db, row, passkey_json).await?;
                }
            }
            self.finish_login(mfa_token, &user, Factor::Webauthn).await
        })
        .await
    }

    /// The user's passkeys that still parse (a row written by another webauthn-rs version that
    /// does not is skipped, not fatal).
    async fn passkeys(
        &self,
        user_id: &str,
    ) -> ApiResult<Vec<(webauthn_credential::Model, Passkey)>> {
        Ok(store::factors::passkeys(&self.db, user_id)
            .await?
            .into_iter()
            .filter_map(|row| {
                let passkey = serde_json::from_str::<Passkey>(&row.passkey).ok()?;
                Some((row, passkey))
            })
            .collect())
    }
}
