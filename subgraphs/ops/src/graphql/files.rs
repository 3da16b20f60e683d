//! The HTTP surface of SOP files beside GraphQL: `GET /sop-files/{tenant}/{hash}?expires=..&
//! signature=..` answers the bytes a signed download URL (`SopVersion.downloadUrl`) names. No
//! token: the URL is the credential, so it is signed (HMAC-SHA256 over tenant, hash and
//! expiry) and short-lived.
//!
//! Answers 200 with the file (`text/markdown; charset=utf-8`), 403 `FORBIDDEN` for a
//! signature that does not match or an expired URL, 404 `NOT_FOUND` when no file has the
//! hash, 400 `BAD_USER_INPUT` for a malformed hash or expiry; errors in the GraphQL shape.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use erp_kit::{ApiError, ErrorCode, TenantId};

use crate::app::sop_files::DOWNLOAD_PATH;
use crate::app::Ops;
use crate::domain::sop::ContentHash;

/// The download route, to merge into the subgraph's router.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route(
            &format!("{DOWNLOAD_PATH}/{{tenant}}/{{hash}}"),
            get(download),
        )
        .with_state(ops)
}

#[derive(Deserialize)]
struct Signed {
    expires: Option<i64>,
    signature: Option<String>,
}

fn error_response(err: ApiError) -> Response {
    let status = match err.code() {
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let ApiError::Internal(detail) = &err {
        tracing::error!(error = %detail, "SOP file download failed");
    }
    (
        status,
        Json(json!({ "errors": [{ "message": err.message(), "extensions": { "code": err.code().as_str() } }] })),
    )
        .into_response()
}

async fn download(
    State(ops): State<Ops>,
    Path((tenant, hash)): Path<(String, String)>,
    Query(signed): Query<Signed>,
) -> Response {
    let hash = match ContentHash::parse("hash", &hash) {
        Ok(hash) => hash,
        Err(err) => return error_response(err),
    };
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature) else {
        return error_response(ApiError::bad_input(
            "signature",
            "a download URL carries `expires` and `signature`",
        ));
    };
    let tenant = TenantId::from_claim(&tenant);
    match ops
        .signed_download(&tenant, &hash, expires, &signature)
        .await
    {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/markdown; charset=utf-8"),
                // A version's bytes never change; the URL itself expires.
                (header::CACHE_CONTROL, "private, max-age=300, immutable"),
            ],
            bytes,
        )
            .into_response(),
        Err(err) => error_response(err),
    }
}
