//! The HTTP surface of SOP files beside GraphQL: `GET /sop-files/{tenant}/{hash}?expires=..&
//! signature=..` answers the bytes a signed download URL (`SopVersion.downloadUrl`) names. No
//! token: the URL is the credential, so it is signed (HMAC-SHA256 over tenant, hash and
//! expiry) and short-lived. Clients fetch these paths at the edge: the router's
//! `erp_http_routes` serves `/sop-files/...` and forwards path and query untouched, so the
//! signature verified here is the one signed here.
//!
//! Answers 200 with the file (`text/markdown; charset=utf-8`), 403 `FORBIDDEN` for a
//! signature that does not match or an expired URL, 404 `NOT_FOUND` when no file has the
//! hash, 400 `BAD_USER_INPUT` for a malformed hash or expiry; errors in the GraphQL shape.
//!
//! `PUT /sop-files/{tenant}/uploads/{sop}?user=..&expires=..&signature=..` (a URL from
//! `sopUploadUrl`) takes a new draft version's file: `text/markdown` or `text/plain`, UTF-8,
//! at most 1 MiB. Answers 201 with `{ sopId, version, contentHash }`; 415 `BAD_USER_INPUT`
//! for another media type, 413 `BAD_USER_INPUT` beyond the size, 403 for a bad or expired
//! URL, 409 `CONFLICT` (`SOP_VERSION_STATE`) while a draft or a version in review exists. A
//! refused upload stores nothing and adds no version.
//!
//! `GET /ticket-files/{tenant}/{hash}?name=..&type=..&expires=..&signature=..` (a URL from
//! `TicketAttachment.downloadUrl`) answers a ticket's or a reply's attachment as a download
//! (`Content-Disposition: attachment`, the declared type when it is a safe one, else
//! `application/octet-stream`). The signature covers tenant, hash, name and type: 403
//! `FORBIDDEN` with `SIGNED_URL_INVALID` for anything altered (another tenant, another file),
//! `SIGNED_URL_EXPIRED` past the expiry; 404 `NOT_FOUND` when the tenant has no such file.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use erp_kit::{ApiError, ErrorCode, TenantId};

use crate::app::sop_files::{SignedAttachment, ATTACHMENT_PATH, DOWNLOAD_PATH, UPLOAD_TYPES};
use crate::app::sops::MAX_SOP_BYTES;
use crate::app::Ops;
use crate::domain::sop::ContentHash;

/// The download route, to merge into the subgraph's router.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route(
            &format!("{DOWNLOAD_PATH}/{{tenant}}/{{hash}}"),
            get(download),
        )
        .route(
            &format!("{DOWNLOAD_PATH}/{{tenant}}/uploads/{{sop}}"),
            put(upload),
        )
        .route(
            &format!("{ATTACHMENT_PATH}/{{tenant}}/{{hash}}"),
            get(download_attachment),
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
        ErrorCode::Conflict => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_with(status, err)
}

/// A refusal in the GraphQL error shape with its HTTP status.
pub(super) fn error_with(status: StatusCode, err: ApiError) -> Response {
    if let ApiError::Internal(detail) = &err {
        tracing::error!(error = %detail, "an HTTP route of ops failed");
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

#[derive(Deserialize)]
struct SignedUpload {
    user: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

async fn upload(
    State(ops): State<Ops>,
    Path((tenant, sop)): Path<(String, String)>,
    Query(signed): Query<SignedUpload>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (Some(user), Some(expires), Some(signature)) =
        (signed.user, signed.expires, signed.signature)
    else {
        return error_response(ApiError::bad_input(
            "signature",
            "an upload URL carries `user`, `expires` and `signature`",
        ));
    };
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let type_taken = media_type
        .as_deref()
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            UPLOAD_TYPES.contains(&essence.trim().to_ascii_lowercase().as_str())
        });
    // One byte more than allowed is enough to tell "too large" (the rest is never read).
    let (bytes, too_large) = match axum::body::to_bytes(body, MAX_SOP_BYTES + 1).await {
        Ok(bytes) => (bytes.to_vec(), false),
        Err(_) => (vec![0; MAX_SOP_BYTES + 1], true),
    };
    let too_large = too_large || bytes.len() > MAX_SOP_BYTES;
    let tenant = TenantId::from_claim(&tenant);
    match ops
        .signed_upload(
            &tenant,
            &sop,
            &user,
            expires,
            &signature,
            media_type.as_deref(),
            bytes,
        )
        .await
    {
        Ok(doc) => {
            let version = doc.versions.last();
            (
                StatusCode::CREATED,
                Json(json!({
                    "sopId": doc.id,
                    "version": version.map(|v| v.number),
                    "contentHash": version.map(|v| v.hash.clone()),
                })),
            )
                .into_response()
        }
        Err(err) if err.code() == ErrorCode::BadUserInput && !type_taken => {
            error_with(StatusCode::UNSUPPORTED_MEDIA_TYPE, err)
        }
        Err(err) if err.code() == ErrorCode::BadUserInput && too_large => {
            error_with(StatusCode::PAYLOAD_TOO_LARGE, err)
        }
        Err(err) => error_response(err),
    }
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

#[derive(Deserialize)]
struct SignedAttachmentQuery {
    name: Option<String>,
    #[serde(rename = "type")]
    content_type: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<the name, percent-encoded>`.
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

async fn download_attachment(
    State(ops): State<Ops>,
    Path((tenant, hash)): Path<(String, String)>,
    Query(signed): Query<SignedAttachmentQuery>,
) -> Response {
    let hash = match ContentHash::parse("hash", &hash) {
        Ok(hash) => hash,
        Err(err) => return error_response(err),
    };
    let (Some(name), Some(content_type), Some(expires), Some(signature)) = (
        signed.name,
        signed.content_type,
        signed.expires,
        signed.signature,
    ) else {
        return error_response(ApiError::bad_input(
            "signature",
            "an attachment URL carries `name`, `type`, `expires` and `signature`",
        ));
    };
    let attachment = SignedAttachment {
        hash,
        name,
        content_type,
    };
    let tenant = TenantId::from_claim(&tenant);
    match ops
        .signed_attachment_download(&tenant, &attachment, expires, &signature)
        .await
    {
        Ok(bytes) => {
            let disposition = content_disposition(&attachment.name);
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, attachment.served_type().to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (
                        header::CACHE_CONTROL,
                        "private, max-age=300, immutable".to_owned(),
                    ),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(err) => error_response(err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_download_is_named_safely() {
        assert_eq!(
            super::content_disposition("report \"Q4\".pdf"),
            "attachment; filename=\"report _Q4_.pdf\"; filename*=UTF-8''report%20%22Q4%22.pdf"
        );
        assert_eq!(
            super::content_disposition("été\r\n.txt"),
            "attachment; filename=\"_t___.txt\"; filename*=UTF-8''%C3%A9t%C3%A9%0D%0A.txt"
        );
    }
}
