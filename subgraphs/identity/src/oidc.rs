//! OpenID Connect / OAuth 2.0 endpoints beside the GraphQL API: discovery, JWKS, the token
//! endpoint (password + MFA grants for first-party clients, refresh grant), userinfo, revocation.
//! An API layer like `graphql/`: it calls the use cases in `app` and maps their errors to
//! OAuth's.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use erp_kit::{ApiError, ErrorCode};

use crate::app::sessions::TokenSet;
use crate::app::Identity;

pub const GRANT_MFA_OTP: &str = "urn:erp:params:oauth:grant-type:mfa-otp";
pub const GRANT_MFA_RECOVERY: &str = "urn:erp:params:oauth:grant-type:mfa-recovery-code";

pub fn routes(service: Identity, trusted_proxies: Vec<erp_net::IpNet>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/userinfo", get(userinfo))
        .layer(axum::Extension(erp_kit::http::TrustedProxies(
            trusted_proxies,
        )))
        .with_state(service)
}

async fn discovery(State(service): State<Identity>) -> Response {
    let issuer = service.config().issuer.trim_end_matches('/').to_owned();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "grant_types_supported": ["password", "refresh_token", GRANT_MFA_OTP, GRANT_MFA_RECOVERY],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["sub", "name", "email", "tenant_id", "role", "departments", "permissions", "iss", "aud", "exp", "iat", "jti"],
        "scopes_supported": crate::domain::scopes::REGISTRY.iter().map(|s| s.name).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn jwks(State(service): State<Identity>) -> Response {
    match service.keys().jwks().await {
        Ok(set) => {
            let mut response = Json(set).into_response();
            let max_age = service.keys().jwks_ttl().as_secs();
            if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
                response.headers_mut().insert(header::CACHE_CONTROL, value);
            }
            response
        }
        Err(err) => oauth_error_from(err),
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The OAuth answer to a use case's error, by its code (a rule's reason does not travel: OAuth
/// clients branch on `error`).
fn oauth_error_from(err: ApiError) -> Response {
    if let ApiError::RateLimited {
        retry_after_secs, ..
    } = err
    {
        let mut response = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "too many failed attempts: retry later",
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if err.reason() == Some(crate::domain::reasons::LOCKOUT_UNAVAILABLE) {
        // Refused on purpose (the brute-force protection cannot be checked): not a crash.
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            &err.message(),
        );
    }
    match err.code() {
        ErrorCode::Unauthenticated => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &err.message())
        }
        ErrorCode::BadUserInput => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &err.message())
        }
        ErrorCode::Forbidden => oauth_error(StatusCode::FORBIDDEN, "access_denied", &err.message()),
        _ => {
            tracing::error!(error = ?err, "token endpoint failure");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

fn tokens_response(tokens: TokenSet) -> Response {
    let mut body = json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
    });
    if let Some(codes) = tokens.recovery_codes {
        body["recovery_codes"] = json!(codes);
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn token(State(service): State<Identity>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let ip = peer_address(&parts);
    let request = axum::extract::Request::from_parts(parts, body);
    let Form(form) =
        match <Form<HashMap<String, String>> as axum::extract::FromRequest<()>>::from_request(
            request,
            &(),
        )
        .await
        {
            Ok(form) => form,
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the body must be application/x-www-form-urlencoded",
                )
            }
        };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let result = match field("grant_type") {
        "password" => {
            return match service
                .login(field("username"), field("password"), ip.as_deref())
                .await
            {
                Ok(challenge) => {
                    let mut response = (
                        StatusCode::FORBIDDEN,
                        Json(json!({
                            "error": if challenge.enrollment_required { "mfa_enrollment_required" } else { "mfa_required" },
                            "error_description": "a second factor is required",
                            "mfa_token": challenge.mfa_token,
                            "mfa_methods": challenge.methods,
                        })),
                    )
                        .into_response();
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    response
                }
                Err(err) => oauth_error_from(err),
            }
        }
        GRANT_MFA_OTP => service.verify_totp(field("mfa_token"), field("otp")).await,
        GRANT_MFA_RECOVERY => {
            service
                .verify_recovery_code(field("mfa_token"), field("recovery_code"))
                .await
        }
        "refresh_token" => service.refresh(field("refresh_token")).await,
        "" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            )
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("`{other}` is not supported"),
            )
        }
    };
    match result {
        Ok(tokens) => tokens_response(tokens),
        Err(err) => oauth_error_from(err),
    }
}

/// The address the per-address lockout counts for a token request: the TCP peer. Unlike the
/// GraphQL login (whose address the kit's HTTP layer resolves through `ERP_TRUSTED_PROXIES`),
/// behind a proxy this is the proxy's; the kit's client-address function is not public yet.
/// The client's address by the kit's one trust model (behind the router: the address it
/// asserts), so the token endpoint's per-address lockout counts the real client.
fn peer_address(parts: &axum::http::request::Parts) -> Option<String> {
    let trusted = parts
        .extensions
        .get::<erp_kit::http::TrustedProxies>()
        .map(|t| t.0.as_slice())
        .unwrap_or_default();
    erp_kit::http::client_ip(parts, trusted).map(|ip| ip.0.to_string())
}

async fn revoke(
    State(service): State<Identity>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match form.get("token") {
        Some(token) => match service.logout(token).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(err) => oauth_error_from(err),
        },
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is missing",
        ),
    }
}

async fn userinfo(State(service): State<Identity>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let unauthorized = || {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_token" })),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        response
    };
    let Some(token) = token else {
        return unauthorized();
    };
    match service.verify_access_token(token).await {
        Ok(claims) => Json(json!({
            "sub": claims.sub,
            "name": claims.name,
            "email": claims.email,
            "tenant_id": claims.tenant_id,
            "role": claims.role,
            "departments": claims.departments,
            "permissions": claims.permissions,
        }))
        .into_response(),
        Err(_) => unauthorized(),
    }
}
