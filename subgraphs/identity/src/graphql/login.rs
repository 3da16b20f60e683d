//! Login: the password step and every second-factor step (TOTP, recovery codes, WebAuthn).

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};

use erp_kit::scalars::Json;

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

/// A second factor of a login.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MfaMethod {
    /// A code of an authenticator app (`completeTotpLogin`).
    Totp,
    /// A security key or passkey (`startWebauthnLogin`, `completeWebauthnLogin`).
    Webauthn,
    /// One of the one-time recovery codes handed out at the first enrolment
    /// (`completeRecoveryCodeLogin`).
    RecoveryCode,
}

impl MfaMethod {
    /// The method the use cases name `name` (`totp`, `webauthn`, `recovery_code`).
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "totp" => Some(MfaMethod::Totp),
            "webauthn" => Some(MfaMethod::Webauthn),
            "recovery_code" => Some(MfaMethod::RecoveryCode),
            _ => None,
        }
    }
}

/// The second step a password login asks for.
pub struct LoginChallenge {
    mfa_token: String,
    enrollment_required: bool,
    methods: Vec<String>,
}

/// The second step a password login asks for: a second factor, or the enrolment of a first one.
#[Object]
impl LoginChallenge {
    /// Names this login attempt in the MFA mutations (valid 5 minutes).
    async fn mfa_token(&self) -> &str {
        &self.mfa_token
    }
    /// True when no second factor is enrolled yet: enrol one to finish logging in.
    async fn enrollment_required(&self) -> bool {
        self.enrollment_required
    }
    /// The second factors available, in lower case: `totp`, `webauthn`, `recovery_code`.
    #[graphql(deprecation = "use `mfaMethods` (the MfaMethod enum)")]
    async fn methods(&self) -> &[String] {
        &self.methods
    }
    /// The second factors this login may finish with (empty while one must be enrolled).
    async fn mfa_methods(&self) -> Vec<MfaMethod> {
        self.methods
            .iter()
            .filter_map(|name| MfaMethod::from_name(name))
            .collect()
    }
}

/// A login attempt's token (`login` answers it).
#[derive(InputObject)]
pub struct MfaTokenInput {
    /// The `mfaToken` of the login's challenge (valid 5 minutes).
    pub mfa_token: String,
}

/// A login attempt's token and a one-time code.
#[derive(InputObject)]
pub struct MfaCodeInput {
    /// The `mfaToken` of the login's challenge (valid 5 minutes).
    pub mfa_token: String,
    /// The code: six digits of the authenticator app, or one of the recovery codes.
    pub code: String,
}

/// A login attempt's token and an authenticator's WebAuthn response.
#[derive(InputObject)]
pub struct MfaCredentialInput {
    /// The `mfaToken` of the login's challenge (valid 5 minutes).
    pub mfa_token: String,
    /// The authenticator's response (`PublicKeyCredential` as JSON).
    pub credential: Json,
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
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login email and password.")] input: LoginInput,
    ) -> Result<LoginChallenge> {
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
    #[graphql(deprecation = "use `startTotpEnrollment` (one input)")]
    async fn begin_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
    ) -> Result<TotpEnrollment> {
        begin_totp(ctx, &mfa_token).await
    }

    /// Starts TOTP enrolment (only for a login without a second factor yet): the secret to
    /// add to an authenticator app.
    async fn start_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt.")] input: MfaTokenInput,
    ) -> Result<TotpEnrollment> {
        begin_totp(ctx, &input.mfa_token).await
    }

    /// Confirms TOTP enrolment with a current code; completes the login and returns recovery codes.
    #[graphql(deprecation = "use `completeTotpEnrollment` (one input)")]
    async fn confirm_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
        #[graphql(desc = "A current code of the authenticator app.")] code: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .confirm_totp_enrollment(&mfa_token, &code)
            .await?
            .into())
    }

    /// Confirms TOTP enrolment with a current code; completes the login and returns the
    /// recovery codes (once).
    async fn complete_totp_enrollment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt and a current code of the authenticator app.")]
        input: MfaCodeInput,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .confirm_totp_enrollment(&input.mfa_token, &input.code)
            .await?
            .into())
    }

    /// Completes a login with a TOTP code (each code works once).
    #[graphql(deprecation = "use `completeTotpLogin` (one input)")]
    async fn verify_totp(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
        #[graphql(desc = "A current code of the authenticator app.")] code: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?.verify_totp(&mfa_token, &code).await?.into())
    }

    /// Completes a login with a TOTP code (each code works once).
    async fn complete_totp_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt and a current code of the authenticator app.")]
        input: MfaCodeInput,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .verify_totp(&input.mfa_token, &input.code)
            .await?
            .into())
    }

    /// Completes a login with a one-time recovery code.
    #[graphql(deprecation = "use `completeRecoveryCodeLogin` (one input)")]
    async fn verify_recovery_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
        #[graphql(desc = "One of the recovery codes (each works once).")] code: String,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .verify_recovery_code(&mfa_token, &code)
            .await?
            .into())
    }

    /// Completes a login with a one-time recovery code.
    async fn complete_recovery_code_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt and one of the recovery codes (each works once).")]
        input: MfaCodeInput,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .verify_recovery_code(&input.mfa_token, &input.code)
            .await?
            .into())
    }

    /// Starts registering a WebAuthn authenticator: `PublicKeyCredentialCreationOptions` as JSON.
    #[graphql(deprecation = "use `startWebauthnRegistration` (one input)")]
    async fn begin_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
    ) -> Result<Json> {
        begin_registration(ctx, &mfa_token).await
    }

    /// Starts registering a WebAuthn authenticator (only for a login without a second factor
    /// yet): `PublicKeyCredentialCreationOptions` as JSON, for `navigator.credentials.create`.
    async fn start_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt.")] input: MfaTokenInput,
    ) -> Result<Json> {
        begin_registration(ctx, &input.mfa_token).await
    }

    /// Finishes the registration with the authenticator's response; completes the login.
    #[graphql(deprecation = "use `completeWebauthnRegistration` (one input)")]
    async fn finish_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
        #[graphql(desc = "The authenticator's response (`PublicKeyCredential` as JSON).")]
        credential: Json,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .finish_webauthn_registration(&mfa_token, credential.0)
            .await?
            .into())
    }

    /// Finishes the registration with the authenticator's response; completes the login and
    /// returns the recovery codes (once).
    async fn complete_webauthn_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt and the authenticator's response.")]
        input: MfaCredentialInput,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .finish_webauthn_registration(&input.mfa_token, input.credential.0)
            .await?
            .into())
    }

    /// Starts a WebAuthn assertion: `PublicKeyCredentialRequestOptions` as JSON.
    #[graphql(deprecation = "use `startWebauthnLogin` (one input)")]
    async fn begin_webauthn_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
    ) -> Result<Json> {
        Ok(Json(identity(ctx)?.begin_webauthn_login(&mfa_token).await?))
    }

    /// Starts a WebAuthn assertion: `PublicKeyCredentialRequestOptions` as JSON, for
    /// `navigator.credentials.get`.
    async fn start_webauthn_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt.")] input: MfaTokenInput,
    ) -> Result<Json> {
        Ok(Json(
            identity(ctx)?
                .begin_webauthn_login(&input.mfa_token)
                .await?,
        ))
    }

    /// Completes a login with the authenticator's assertion.
    #[graphql(deprecation = "use `completeWebauthnLogin` (one input)")]
    async fn finish_webauthn_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `mfaToken` of the login's challenge (valid 5 minutes).")]
        mfa_token: String,
        #[graphql(desc = "The authenticator's assertion (`PublicKeyCredential` as JSON).")]
        credential: Json,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .finish_webauthn_login(&mfa_token, credential.0)
            .await?
            .into())
    }

    /// Completes a login with the authenticator's assertion.
    async fn complete_webauthn_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The login attempt and the authenticator's assertion.")]
        input: MfaCredentialInput,
    ) -> Result<TokenSet> {
        Ok(identity(ctx)?
            .finish_webauthn_login(&input.mfa_token, input.credential.0)
            .await?
            .into())
    }
}

/// `beginTotpEnrollment` and `startTotpEnrollment`.
async fn begin_totp(ctx: &Context<'_>, mfa_token: &str) -> Result<TotpEnrollment> {
    let (secret, otpauth_uri) = identity(ctx)?.begin_totp_enrollment(mfa_token).await?;
    Ok(TotpEnrollment {
        secret,
        otpauth_uri,
    })
}

/// `beginWebauthnRegistration` and `startWebauthnRegistration`.
async fn begin_registration(ctx: &Context<'_>, mfa_token: &str) -> Result<Json> {
    Ok(Json(
        identity(ctx)?
            .begin_webauthn_registration(mfa_token)
            .await?,
    ))
}
