//! Inbound e-mail (app/inbound_mail.rs) over HTTP and GraphQL.
//!
//! `POST /ops/helpdesk/inbound-mail/{tenant}`: a mail provider's inbound webhook, the raw RFC
//! 5322 message as the body (`message/rfc822`), signed with the tenant's secret
//! (`X-Erp-Webhook-Timestamp`, `X-Erp-Webhook-Signature: v1=<hex HMAC-SHA256(secret,
//! "<timestamp>.<body>")>`). Answers 200 and `{"ticketId", "replyId", "duplicate"}` (a retry
//! of a message already handled: `duplicate` true, nothing written); refused: 401
//! MAIL_SIGNATURE_INVALID / MAIL_TIMESTAMP_STALE, 400 MAIL_MESSAGE_INVALID /
//! MAIL_ATTACHMENT_REFUSED, 413 MAIL_TOO_LARGE, 404 for a tenant without a secret; errors in
//! the GraphQL shape (`extensions.code`, `extensions.reason`).
//!
//! GraphQL (`helpdesk:admin`): `rotateInboundMailSecret` generates the tenant's secret
//! (answered once) and `inboundMailSettings` tells whether it has one and its path.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use erp_kit::scalars::DateTime;
use erp_kit::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use erp_kit::{ApiError, ErrorCode, RequestContext};

use super::context::ops;
use super::files::error_with;
use crate::app::inbound_mail::INBOUND_PATH;
use crate::app::Ops;
use crate::domain::inbound_mail::MAX_MESSAGE_BYTES;
use crate::domain::reasons;

/// The inbound route, to merge into the subgraph's router.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route(&format!("{INBOUND_PATH}/{{tenant}}"), post(inbound))
        .with_state(ops)
}

async fn inbound(
    State(ops): State<Ops>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // One byte more than allowed is enough to tell "too large" (the rest is never read).
    let raw = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES + 1).await {
        Ok(bytes) if bytes.len() <= MAX_MESSAGE_BYTES => bytes,
        _ => {
            return error_with(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::rule(
                    reasons::MAIL_TOO_LARGE,
                    format!("a message is at most {MAX_MESSAGE_BYTES} bytes"),
                ),
            )
        }
    };
    match ops
        .receive_inbound_mail(
            &tenant,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &raw,
        )
        .await
    {
        Ok(outcome) => Json(json!({
            "ticketId": outcome.ticket_id,
            "replyId": outcome.reply_id,
            "duplicate": outcome.duplicate,
        }))
        .into_response(),
        Err(err) => {
            let status = match err.code() {
                ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
                ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                ErrorCode::Conflict => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error_with(status, err)
        }
    }
}

/// A rotation (`rotateInboundMailSecret`).
#[derive(InputObject)]
pub struct RotateInboundMailSecretInput {
    /// How long the previous secret keeps verifying, 0 to 604800 seconds (a week), so the
    /// provider can switch without losing messages. 0 by default.
    pub overlap_seconds: Option<i32>,
}

/// A new inbound secret: shown this once.
#[derive(SimpleObject)]
pub struct RotatedInboundMailSecret {
    /// The secret the provider signs with (never shown again).
    pub secret: String,
    /// The path the provider POSTs raw messages to, under the operations service's URL.
    pub path: String,
    /// When it was generated.
    pub created_at: DateTime,
    /// Until when the previous secret still verifies (none: it stopped at once).
    pub previous_valid_until: Option<DateTime>,
}

/// The tenant's inbound e-mail webhook (never its secret).
#[derive(SimpleObject)]
pub struct InboundMailSettings {
    /// Whether the tenant has a secret (without one its path answers 404).
    pub configured: bool,
    /// The path the provider POSTs raw messages to.
    pub path: String,
    /// When the current secret was generated.
    pub current_since: Option<DateTime>,
    /// Until when the previous secret still verifies.
    pub previous_valid_until: Option<DateTime>,
}

/// Inbound e-mail settings.
#[derive(Default)]
pub struct InboundMailQuery;

#[Object]
impl InboundMailQuery {
    /// The caller's tenant's inbound e-mail webhook (`helpdesk:admin`).
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn inbound_mail_settings(&self, ctx: &Context<'_>) -> Result<InboundMailSettings> {
        let tenant = ctx.tenant()?;
        let settings = ops(ctx)?.inbound_mail_settings(&tenant).await?;
        let now = chrono::Utc::now();
        let in_force = settings
            .map(|settings| settings.secrets)
            .unwrap_or_default()
            .into_iter()
            .filter(|secret| secret.valid_until.is_none_or(|until| until > now))
            .collect::<Vec<_>>();
        Ok(InboundMailSettings {
            configured: !in_force.is_empty(),
            path: format!("{INBOUND_PATH}/{}", tenant.as_str()),
            current_since: in_force
                .iter()
                .find(|secret| secret.valid_until.is_none())
                .map(|secret| DateTime::from(secret.created_at)),
            previous_valid_until: in_force
                .iter()
                .filter_map(|secret| secret.valid_until)
                .max()
                .map(DateTime::from),
        })
    }
}

/// Inbound e-mail secrets.
#[derive(Default)]
pub struct InboundMailMutation;

#[Object]
impl InboundMailMutation {
    /// Generates the tenant's inbound e-mail secret (the first, or a new one: the previous
    /// keeps verifying for `overlapSeconds`). The secret is answered this once.
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn rotate_inbound_mail_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The overlap.")] input: RotateInboundMailSecretInput,
    ) -> Result<RotatedInboundMailSecret> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let rotated = ops(ctx)?
            .rotate_inbound_mail_secret(
                &tenant,
                claims,
                i64::from(input.overlap_seconds.unwrap_or(0)),
            )
            .await?;
        Ok(RotatedInboundMailSecret {
            secret: rotated.secret,
            path: format!("{INBOUND_PATH}/{}", tenant.as_str()),
            created_at: DateTime::from(rotated.created_at),
            previous_valid_until: rotated.previous_valid_until.map(DateTime::from),
        })
    }
}
