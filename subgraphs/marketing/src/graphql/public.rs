//! The public routes beside GraphQL, reached from a message with no session:
//!
//! - `POST /marketing/unsubscribe/{token}` (RFC 8058 one-click: the mailbox provider POSTs
//!   `List-Unsubscribe=One-Click`): 200 and `{"unsubscribed": true}`, the same on a repeat
//!   (idempotent). `GET` of the same URL (a person following the link) answers a page with
//!   the button that POSTs: a GET never unsubscribes (link scanners fetch links).
//! - `POST /marketing/confirm/{token}`: the double opt-in confirmation (GET: the page).
//! - `GET /marketing/t/open/{token}`: the tracking pixel; `GET /marketing/t/click/{token}`:
//!   302 to the link's target.
//!
//! A forged, altered or expired token answers 401 with the GraphQL error shape:
//! `extensions.code` UNAUTHENTICATED, `extensions.reason` TOKEN_INVALID.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use erp_kit::{ApiError, ErrorCode};

use crate::app::contacts::UnsubscribeOutcome;
use crate::app::Marketing;
use crate::domain::template::escape_html;

/// The public routes, to merge into the subgraph's router.
pub fn router(marketing: Marketing) -> Router {
    Router::new()
        .route(
            "/marketing/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route(
            "/marketing/confirm/{token}",
            get(confirm_page).post(confirm),
        )
        .route("/marketing/t/open/{token}", get(open))
        .route("/marketing/t/click/{token}", get(click))
        .with_state(marketing)
}

fn from_api_error(err: ApiError) -> Response {
    let status = match err.code() {
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::UnauthorizedFieldOrType => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let ApiError::Internal(detail) = &err {
        tracing::error!(error = %detail, "marketing public route failed");
    }
    let mut extensions = json!({ "code": err.code().as_str() });
    if let Some(reason) = err.reason() {
        extensions["reason"] = json!(reason.name());
    }
    (
        status,
        Json(json!({ "errors": [{ "message": err.message(), "extensions": extensions }] })),
    )
        .into_response()
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
        Ok(outcome) => Json(json!({
            "unsubscribed": true,
            "alreadyUnsubscribed": outcome == UnsubscribeOutcome::AlreadySuppressed,
        }))
        .into_response(),
        Err(err) => from_api_error(err),
    }
}

async fn confirm_page(Path(token): Path<String>) -> Html<String> {
    button_page("Confirm your subscription", &token, "Confirm")
}

async fn confirm(State(marketing): State<Marketing>, Path(token): Path<String>) -> Response {
    match marketing.confirm_opt_in(&token).await {
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
