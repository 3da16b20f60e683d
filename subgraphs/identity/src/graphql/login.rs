//! Login: the password step and every second-factor step (TOTP, recovery codes, WebAuthn).

use async_graphql::{Context, InputObject, Json, Object, Result, SimpleObject};

use super::context::identity;
use super::sessions::TokenSet;

/// Email and password.
#[derive(InputObject)]
pub struct LoginInput {
    /// Login email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The second step a password login asks for.
#[derive(SimpleObject)]
pub struct LoginChallenge {
    /// Names this login attempt in the MFA mutations (valid 5 minutes).
    pub mfa_token: String,
    /// True when no second factor is enrolled yet: enrol one to finish logging in.
    pub enrollment_required: bool,
    /// The second factors available: `totp`, `webauthn`, `recovery_code`.
    pub methods: Vec<String>,
}

/// A TOTP secret to add to an authenticator app.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// The caller's address as the kit's HTTP layer found it (the per-address lockout counts it).
fn client_ip(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<erp_kit::http::ClientIp>()
        .map(|ip| ip.0.to_string())
}

#[derive(Default)]
pub struct LoginMutation;

#[Object]
impl LoginMutation {
    /// Password step of a login. Always followed by a second factor (or its enrolment).
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<LoginChallenge> {
        let challenge = identity(ctx)?
            .login(&input.email, &input.password, client_ip(ctx).as_deref())
            .await?;
        Ok(LoginChallenge {
            mfa_token: challenge.mfa_token,
            enrollment_required: challenge.enrollment_required,
            methods: challenge.methods,
        })
    }

    /// Starts TOTP enrolment (only for a login without a second factor yet).
    async fn begin_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
    ) -> Result<TotpEnrollment> {
        let (secret, otpauth_uri) = identity(ctx)?.begin_totp_enrollment(&mfa_token).await?;
        Ok(TotpEnrollment {
            secret,
            otpauth_uri,
        })
    }

    /// Confirms TOTP enrolment with a current code; completes the login and returns recovery codes.
    async fn confirm_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .confirm_totp_enrollment(&mfa_token, &code)
            .await?
            .into())
    }

    /// Completes a login with a TOTP code (each code works once).
    async fn verify_totp(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?.verify_totp(&mfa_token, &code).await?.into())
    }

    /// Completes a login with a one-time recovery code.
    async fn verify_recovery_code(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .verify_recovery_code(&mfa_token, &code)
            .await?
            .into())
    }

    /// Starts registering a WebAuthn authenticator: `PublicKeyCredentialCreationOptions` as JSON.
    async fn begin_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
    ) -> Result<Json<serde_json::Value>> {
        Ok(Json(
            identity(ctx)?
                .begin_webauthn_registration(&mfa_token)
                .await?,
        ))
    }

    /// Finishes the registration with the authenticator's response; completes the login.
    async fn finish_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        credential: Json<serde_json::Value>,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .finish_webauthn_registration(&mfa_token, credential.0)
            .await?
            .into())
    }

    /// Starts a WebAuthn assertion: `PublicKeyCredentialRequestOptions` as JSON.
    async fn begin_webauthn_login(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
    ) -> Result<Json<serde_json::Value>> {
        Ok(Json(identity(ctx)?.begin_webauthn_login(&mfa_token).await?))
    }

    /// Completes a login with the authenticator's assertion.
    async fn finish_webauthn_login(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        credential: Json<serde_json::Value>,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .finish_webauthn_login(&mfa_token, credential.0)
            .await?
            .into())
    }
}
