//! The import endpoint, beside GraphQL on the same subgraph: `POST /import/{kind}` with the
//! CSV file as the body, streamed into the import use case (never buffered whole), the
//! report as JSON.
//!
//! Why not GraphQL: hive-router 0.2.19 does not pass the GraphQL multipart request (file
//! uploads) through, and its body limit (2 MB) is the edge's. Clients reach this endpoint
//! at the edge: the router serves `/crm/import/{kind}` (its `erp_http_routes`: the token verified
//! there too, the heavy rate limit, a body limit, the body streamed through), under the same rules
//! as GraphQL: a bearer token verified against the identity service's JWKS (revocations
//! included), the `crm:write` scope, the tenant from the token, the row rules of the caller.
//!
//! ```text
//! POST /import/leads?key=email&dryRun=true
//! Authorization: Bearer <access token>
//! Content-Type: text/csv
//!
//! name,email,company_name,source
//! Ana Gomez,ana@acme.com,Acme,referral
//! ```
//!
//! Answers 200 with the report (`rows`, `created`, `updated`, `merged`, `failed`, `errors`:
//! one per failed row with its line, `code`, `column` and `message`), 400 with
//! `BAD_USER_INPUT` (and `reason: IMPORT_BAD_HEADER` for a header it cannot take), 401
//! `UNAUTHENTICATED`, 403 `UNAUTHORIZED_FIELD_OR_TYPE` without `crm:write`, 404 for an
//! unknown kind, 415 for a body that is not `text/csv`, 413 beyond [`MAX_IMPORT_BYTES`].

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::json;

use erp_kit::auth::JwksVerifier;
use erp_kit::{ApiError, ErrorCode, TenantId};

use super::context::ADMIN_SCOPE;
use crate::app::import::{ImportOptions, ImportReport};
use crate::app::{Crm, Viewer};
use crate::domain::import::ImportKind;

/// The largest file an import takes (bytes).
pub const MAX_IMPORT_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The scope an import needs.
pub const WRITE_SCOPE: &str = "crm:write";

#[derive(Clone)]
struct ImportState {
    crm: Crm,
    verifier: JwksVerifier,
}

/// The import route, to merge into the subgraph's router.
pub fn router(crm: Crm, verifier: JwksVerifier) -> Router {
    Router::new()
        .route("/import/{kind}", post(import))
        .with_state(ImportState { crm, verifier })
}

fn error(status: StatusCode, code: &str, reason: Option<&str>, message: &str) -> Response {
    let mut extensions = json!({ "code": code });
    if let Some(reason) = reason {
        extensions["reason"] = json!(reason);
    }
    (
        status,
        Json(json!({ "errors": [{ "message": message, "extensions": extensions }] })),
    )
        .into_response()
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
        tracing::error!(error = %detail, "import failed");
    }
    error(
        status,
        err.code().as_str(),
        err.reason().map(|reason| reason.name()),
        &err.message(),
    )
}

fn report_json(report: &ImportReport) -> serde_json::Value {
    json!({
        "dryRun": report.dry_run,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "merged": report.merged,
        "failed": report.failed,
        "errors": report.errors.iter().map(|row| json!({
            "row": row.row,
            "code": row.code.as_str(),
            "column": row.column,
            "message": row.message,
        })).collect::<Vec<_>>(),
        "errorsTruncated": report.errors_truncated,
        "stopped": report.stopped,
    })
}

async fn import(
    State(state): State<ImportState>,
    Path(kind): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated.as_str(),
            None,
            "an import needs a bearer token",
        );
    };
    let claims = match state.verifier.verify(token.trim()).await {
        Ok(claims) => claims,
        Err(err) => {
            return error(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated.as_str(),
                None,
                &err.to_string(),
            )
        }
    };
    if !claims.permissions.iter().any(|scope| scope == WRITE_SCOPE) {
        return error(
            StatusCode::FORBIDDEN,
            ErrorCode::UnauthorizedFieldOrType.as_str(),
            None,
            "an import needs the `crm:write` scope",
        );
    }
    let Some(kind) = ImportKind::parse(&kind) else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound.as_str(),
            None,
            "imports are of leads, contacts or companies",
        );
    };
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/csv"));
    if !is_csv {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput.as_str(),
            None,
            "the body is a CSV file: Content-Type: text/csv",
        );
    }
    let Some(key) = params.get("key").cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput.as_str(),
            None,
            "name the key column: ?key=email (or external_id, id, ...)",
        );
    };
    let dry_run = match params.get("dryRun").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput.as_str(),
                None,
                "dryRun is true or false",
            )
        }
    };
    let viewer = Viewer {
        tenant: TenantId::from_claim(&claims.tenant_id),
        user_id: claims.sub.clone(),
        admin: claims.permissions.iter().any(|scope| scope == ADMIN_SCOPE),
    };
    let mut run = match state
        .crm
        .start_import(&viewer, ImportOptions { kind, key, dry_run })
        .await
    {
        Ok(run) => run,
        Err(err) => return from_api_error(err),
    };
    let mut stream = body.into_data_stream();
    let mut read: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                tracing::warn!(error = %err, "import body broke off");
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadUserInput.as_str(),
                    None,
                    "the upload broke off: rows before it may have been imported, send the file again (it is an upsert)",
                );
            }
        };
        read += chunk.len() as u64;
        if read > MAX_IMPORT_BYTES {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                None,
                "the file is larger than an import takes (4 GiB): split it",
            );
        }
        if let Err(err) = run.push(&chunk).await {
            return from_api_error(err);
        }
    }
    match run.finish().await {
        Ok(report) => (StatusCode::OK, Json(report_json(&report))).into_response(),
        Err(err) => from_api_error(err),
    }
}
