//! The public routes beside GraphQL, reached from a message with no session:
//!
//! - `POST /marketing/unsubscribe/{token}` (RFC 8058 one-click: the mailbox provider POSTs
//!   `List-Unsubscribe=One-Click`): 200 and `{"unsubscribed": true}`, the same on a repeat
//!   (idempotent). `GET` of the same URL (a person following the link) answers a page with
//!   the button that POSTs: a GET never unsubscribes (link scanners fetch links).
//!   The answer carries `resubscribeUrl`, the way back.
//! - `POST /marketing/resubscribe/{token}`: the contact's own re-subscribe after an
//!   unsubscribe (GET: the page with the button): 200 and `{"subscribed": true}`, idempotent;
//!   an address that bounced or complained stays suppressed (403 CONTACT_SUPPRESSED).
//! - `POST /marketing/confirm/{token}`: the double opt-in confirmation (GET: the page),
//!   logged with the client's address; idempotent. A genuine link past its expiry: 401
//!   OPT_IN_EXPIRED; a forged one: 401 TOKEN_INVALID.
//! - `GET /marketing/t/open/{token}`: the tracking pixel; `GET /marketing/t/click/{token}`:
//!   302 to the link's target.
//! - `GET /marketing/s/{key}`: a social post's tracked link: the click counted on the post,
//!   302 to the post's link with its UTM parameters; 404 for a key no post has.
//!
//! - `POST /marketing/forms/{key}`: a website's form submission (form data or JSON, at most
//!   [`MAX_FORM_BODY_BYTES`]), no session: the form's public key names the form and its
//!   tenant. 202 and `{"accepted": true, "submissionId": ...}`; refused: 401 FORM_KEY_INVALID,
//!   409 FORM_CLOSED, 400 FORM_SUBMISSION_INVALID / INVALID_EMAIL / FORM_CONSENT_REQUIRED
//!   (`extensions.field` names the field), 413 BODY_TOO_LARGE, 429 FORM_RATE_LIMITED (with
//!   `Retry-After`).
//! - `POST /marketing/webhooks/{tenant}/mail-events`: the mail provider's bounce and
//!   complaint reports for one tenant, signed with the tenant's secret (domain/webhook.rs;
//!   during a rotation's overlap the previous one verifies too): 200 and `{"received",
//!   "suppressed", "duplicate"}`; refused: 401 WEBHOOK_SIGNATURE_INVALID /
//!   WEBHOOK_TIMESTAMP_STALE, 400 WEBHOOK_PAYLOAD_INVALID (an event of another tenant among
//!   them) / INVALID_EMAIL, 413 BODY_TOO_LARGE, 404 for a tenant without a secret.
//! - `POST /marketing/webhooks/mail-events`: the same under the deployment-wide secret, the
//!   tenant named in each event (deprecated: answers carry `Deprecation: true`; 404 without
//!   that secret configured).
//!
//! A forged, altered or expired token answers 401 with the GraphQL error shape:
//! `extensions.code` UNAUTHENTICATED, `extensions.reason` TOKEN_INVALID. Every refusal has
//! that shape (`extensions.code`, `reason`, `field`, `retryAfter` as in GraphQL).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use erp_kit::http::TrustedProxies;
use erp_kit::{ApiError, ApiResult, ErrorCode};

use crate::app::contacts::{ResubscribeOutcome, UnsubscribeOutcome};
use crate::app::Marketing;
use crate::domain::reasons;
use crate::domain::template::escape_html;

/// The largest form submission body (a form has at most 12 short fields and a message).
pub const MAX_FORM_BODY_BYTES: usize = 16 * 1024;

/// What the form endpoint needs besides the use cases: whose word on the client's address
/// counts (the rate limit is per client address).
#[derive(Clone)]
struct FormState {
    marketing: Marketing,
    trusted_proxies: Arc<TrustedProxies>,
}

/// The public routes, to merge into the subgraph's router.
pub fn router(marketing: Marketing, trusted_proxies: TrustedProxies) -> Router {
    let forms = Router::new()
        .route(
            "/marketing/forms/{key}",
            post(submit_form).options(form_preflight),
        )
        .route(
            "/marketing/confirm/{token}",
            get(confirm_page).post(confirm),
        )
        .with_state(FormState {
            marketing: marketing.clone(),
            trusted_proxies: Arc::new(trusted_proxies),
        });
    Router::new()
        .route(
            "/marketing/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route(
            "/marketing/resubscribe/{token}",
            get(resubscribe_page).post(resubscribe),
        )
        .route("/marketing/t/open/{token}", get(open))
        .route("/marketing/t/click/{token}", get(click))
        .route("/marketing/s/{key}", get(social_click))
        .route("/marketing/webhooks/mail-events", post(mail_events))
        .route(
            "/marketing/webhooks/{tenant}/mail-events",
            post(tenant_mail_events),
        )
        .with_state(marketing)
        .merge(forms)
}

/// The HTTP answer of a refusal: the status its code means and the GraphQL error shape.
pub(crate) fn from_api_error(err: ApiError) -> Response {
    let too_large = err.reason() == Some(reasons::BODY_TOO_LARGE);
    let status = match err.code() {
        _ if too_large => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::UnauthorizedFieldOrType => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited | ErrorCode::TooManySubscriptions => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let retry_after = match &err {
        ApiError::RateLimited {
            retry_after_secs, ..
        } => Some(*retry_after_secs),
        _ => None,
    };
    if let ApiError::Internal(detail) = &err {
        tracing::error!(error = %detail, "marketing public route failed");
    }
    // The same extensions as a GraphQL error (code, reason, field, retryAfter).
    let error: async_graphql::Error = err.into();
    let body = Json(json!({ "errors": [{
        "message": error.message,
        "extensions": error.extensions,
    }] }));
    let mut response = (status, body).into_response();
    if let Some(secs) = retry_after {
        if let Ok(value) = header::HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// Reads a body of at most `limit` bytes (BODY_TOO_LARGE beyond it, without reading on).
pub(crate) async fn read_body(body: Body, limit: usize) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::rule(
            reasons::BODY_TOO_LARGE,
            format!("the body is over {limit} bytes"),
        )
    })
}

/// The name/value pairs of a form body: `application/x-www-form-urlencoded` (an HTML form) or
/// a JSON object of strings (and booleans, for the consent box).
fn form_pairs(headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<(String, String)>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let refused =
        |message: &str| ApiError::rule(reasons::FORM_SUBMISSION_INVALID, message.to_owned());
    if content_type.starts_with("application/x-www-form-urlencoded") {
        if std::str::from_utf8(body).is_err() {
            return Err(refused("the form data is not UTF-8"));
        }
        return Ok(url::form_urlencoded::parse(body)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect());
    }
    if content_type.starts_with("application/json") {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| refused("the body is not a JSON object"))?;
        let object = value
            .as_object()
            .ok_or_else(|| refused("the body is not a JSON object"))?;
        return object
            .iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => Ok((name.clone(), text.clone())),
                serde_json::Value::Bool(flag) => Ok((name.clone(), flag.to_string())),
                serde_json::Value::Null => Ok((name.clone(), String::new())),
                _ => Err(refused(&format!("the field `{name}` is not text")).on_field(name)),
            })
            .collect();
    }
    Err(refused(
        "send the form as application/x-www-form-urlencoded or application/json",
    ))
}

/// The `Origin` a browser sent (none from a server).
fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
}

/// The CORS headers of an answer to a page of an allowed `origin` (on refusals too, so the
/// page's script can read the error).
fn allow_origin(mut response: Response, origin: Option<&str>) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    if let Some(value) = origin.and_then(|o| header::HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}

/// The CORS preflight of a script's post: 204 with the allowed method and headers for an
/// origin the form's tenant listed; 403 FORM_ORIGIN_NOT_ALLOWED otherwise (the browser then
/// does not post).
async fn form_preflight(
    State(state): State<FormState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    match state.marketing.form_cors(&key, origin_of(&headers)).await {
        Ok(allowed) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let out = response.headers_mut();
            out.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::HeaderValue::from_static("POST"),
            );
            out.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::HeaderValue::from_static("content-type"),
            );
            out.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                header::HeaderValue::from_static("600"),
            );
            allow_origin(response, allowed.as_deref())
        }
        Err(err) => allow_origin(from_api_error(err), None),
    }
}

async fn submit_form(
    State(state): State<FormState>,
    Path(key): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    // A page of an origin the tenant did not list is refused before anything is read.
    let allowed = match state
        .marketing
        .form_cors(&key, origin_of(&parts.headers))
        .await
    {
        Ok(allowed) => allowed,
        Err(err) => return allow_origin(from_api_error(err), None),
    };
    let client = erp_kit::http::client_ip(&parts, &state.trusted_proxies.0)
        .map(|ip| ip.0.to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    let outcome = async {
        let body = read_body(body, MAX_FORM_BODY_BYTES).await?;
        let pairs = form_pairs(&parts.headers, &body)?;
        state.marketing.submit_form(&key, &client, &pairs).await
    }
    .await;
    let response = match outcome {
        Ok(outcome) => (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "submissionId": outcome.submission_id })),
        )
            .into_response(),
        Err(err) => from_api_error(err),
    };
    allow_origin(response, allowed.as_deref())
}

fn button_page(title: &str, action: &str, label: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <h1>{t}</h1><form method=\"post\" action=\"{a}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">{l}</button></form></body></html>",
        t = escape_html(title),
        a = escape_html(action),
        l = escape_html(label)
    ))
}

async fn unsubscribe_page(Path(token): Path<String>) -> Html<String> {
    button_page("Unsubscribe", &token, "Unsubscribe")
}

async fn unsubscribe(State(marketing): State<Marketing>, Path(token): Path<String>) -> Response {
    match marketing.unsubscribe(&token).await {
        Ok(done) => Json(json!({
            "unsubscribed": true,
            "alreadyUnsubscribed": done.outcome == UnsubscribeOutcome::AlreadySuppressed,
            "resubscribeUrl": done.resubscribe_url,
        }))
        .into_response(),
        Err(err) => from_api_error(err),
    }
}

async fn resubscribe_page(Path(token): Path<String>) -> Html<String> {
    button_page("Subscribe again", &token, "Subscribe again")
}

async fn resubscribe(State(marketing): State<Marketing>, Path(token): Path<String>) -> Response {
    match marketing.resubscribe(&token).await {
        Ok(outcome) => Json(json!({
            "subscribed": true,
            "alreadySubscribed": outcome == ResubscribeOutcome::AlreadySubscribed,
        }))
        .into_response(),
        Err(err) => from_api_error(err),
    }
}

async fn confirm_page(Path(token): Path<String>) -> Html<String> {
    button_page("Confirm your subscription", &token, "Confirm")
}

async fn confirm(
    State(state): State<FormState>,
    Path(token): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let client =
        erp_kit::http::client_ip(&parts, &state.trusted_proxies.0).map(|ip| ip.0.to_string());
    match state
        .marketing
        .confirm_opt_in(&token, client.as_deref())
        .await
    {
        Ok(contact) => Json(json!({ "subscribed": true, "contactId": contact.id })).into_response(),
        Err(err) => from_api_error(err),
    }
}

/// A transparent 1x1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

async fn open(State(marketing): State<Marketing>, Path(token): Path<String>) -> Response {
    match marketing.track_open(&token).await {
        Ok(()) => (
            [
                (header::CONTENT_TYPE, "image/gif"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            PIXEL,
        )
            .into_response(),
        Err(err) => from_api_error(err),
    }
}

async fn click(State(marketing): State<Marketing>, Path(token): Path<String>) -> Response {
    match marketing.track_click(&token).await {
        Ok(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Err(err) => from_api_error(err),
    }
}

/// A social post's tracked link: the click is counted on the post, then a redirect to its link
/// with the post's UTM parameters (404 for a key no post has).
async fn social_click(State(marketing): State<Marketing>, Path(key): Path<String>) -> Response {
    match marketing.follow_social_link(&key).await {
        Ok(url) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, url),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
        Err(err) => from_api_error(err),
    }
}

/// The legacy URL (deprecated: one deployment-wide secret for every tenant); its answers
/// carry `Deprecation: true`.
async fn mail_events(
    State(marketing): State<Marketing>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    use crate::domain::webhook::{MAX_WEBHOOK_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let outcome = async {
        let body = read_body(body, MAX_WEBHOOK_BODY_BYTES).await?;
        marketing
            .receive_mail_events(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body)
            .await
    }
    .await;
    let mut response = webhook_answer(outcome);
    response
        .headers_mut()
        .insert("deprecation", header::HeaderValue::from_static("true"));
    response
}

/// A tenant's own webhook URL, verified under the tenant's secrets.
async fn tenant_mail_events(
    State(marketing): State<Marketing>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    use crate::domain::webhook::{MAX_WEBHOOK_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let outcome = async {
        let body = read_body(body, MAX_WEBHOOK_BODY_BYTES).await?;
        marketing
            .receive_tenant_mail_events(
                &tenant,
                header(TIMESTAMP_HEADER),
                header(SIGNATURE_HEADER),
                &body,
            )
            .await
    }
    .await;
    webhook_answer(outcome)
}

fn webhook_answer(outcome: ApiResult<crate::app::webhooks::WebhookOutcome>) -> Response {
    match outcome {
        Ok(outcome) => Json(json!({
            "received": outcome.received,
            "suppressed": outcome.suppressed,
            "duplicate": outcome.duplicate,
        }))
        .into_response(),
        Err(err) => from_api_error(err),
    }
}
