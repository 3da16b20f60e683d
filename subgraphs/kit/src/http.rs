//! The HTTP face of a subgraph: GraphQL over HTTP done carefully, health, readiness, metrics.
//!
//! - `POST /graphql`: JSON bodies only (`application/json`); any other content type must carry a
//!   CSRF preflight header, an array body (batching) is refused with 400, bodies over the limit
//!   get 413.
//! - `GET /graphql`: queries only (a mutation gets 405 with `Allow: POST`), and like every request
//!   without a JSON content type it must carry a preflight header.
//! - The response media type follows `Accept` (GraphQL over HTTP): `application/json` (status 200
//!   for any executed request) or `application/graphql-response+json` (400 for requests that could
//!   not be executed); anything else acceptable to neither is 406.
//! - A bearer token that does not verify is 401 with `WWW-Authenticate: Bearer
//!   error="invalid_token"` and code UNAUTHENTICATED; no token at all is an anonymous caller.
//! - `GET /graphql/ws`: subscriptions over WebSocket, token in `connection_init`.
//! - `GET /health` (the process is up), `GET /ready` (its backends answer), `GET /metrics`.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::Executor;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{Claims, Identity, JwksVerifier, VerifyError};
use crate::error::request_error_body;
use crate::telemetry::Metrics;

/// Stable codes of request-level failures (before execution).
pub mod codes {
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const BATCHING_NOT_ALLOWED: &str = "BATCHING_NOT_ALLOWED";
    pub const CSRF_PREVENTION_FAILED: &str = "CSRF_PREVENTION_FAILED";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
}

/// Headers that prove a request is not a simple cross-site form post (CSRF prevention).
pub const PREFLIGHT_HEADERS: [&str; 3] = [
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-require-preflight",
];

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// Verifies bearer tokens (the kit's [`JwksVerifier`], or the identity service's own keys).
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    async fn verify_token(&self, token: &str) -> Result<Claims, VerifyError>;
}

#[async_trait::async_trait]
impl TokenVerifier for JwksVerifier {
    async fn verify_token(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify(token).await
    }
}

/// A verifier that also refuses revoked tokens ([`crate::auth::revocation`]), for verifiers that
/// do not check them themselves (the identity service's own key store).
pub struct RevocationChecked<V> {
    pub inner: V,
    pub cache: crate::cache::SharedCache,
}

#[async_trait::async_trait]
impl<V: TokenVerifier> TokenVerifier for RevocationChecked<V> {
    async fn verify_token(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.inner.verify_token(token).await?;
        crate::auth::revocation::refuse_if_revoked(self.cache.as_ref(), claims).await
    }
}

#[async_trait::async_trait]
impl<V: TokenVerifier + ?Sized> TokenVerifier for Arc<V> {
    async fn verify_token(&self, token: &str) -> Result<Claims, VerifyError> {
        self.as_ref().verify_token(token).await
    }
}

/// Whether the service's backends answer.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Err` names what does not answer.
    async fn check(&self) -> Result<(), String>;
}

/// Readiness of the usual backends: the relational database and the cache.
pub struct BackendReadiness {
    pub db: Option<sea_orm::DatabaseConnection>,
    pub cache: Option<crate::cache::SharedCache>,
}

#[async_trait::async_trait]
impl Readiness for BackendReadiness {
    async fn check(&self) -> Result<(), String> {
        if let Some(db) = &self.db {
            db.ping().await.map_err(|e| format!("database: {e}"))?;
        }
        if let Some(cache) = &self.cache {
            cache.ping().await.map_err(|e| format!("cache: {e}"))?;
        }
        Ok(())
    }
}

/// The caller's address ([`erp_net::client_address`], the router's trust model): the TCP peer,
/// unless the peer is a trusted proxy (the router, `ERP_TRUSTED_PROXIES`), whose
/// `x-erp-client-address` header names the client (else its `X-Forwarded-For`). Behind the
/// router this is the real client, so login lockouts, audit records and punches carry it.
/// Resolvers find it in the request data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// The trusted proxies of a service, as a request extension for handlers outside the GraphQL
/// endpoint (identity's OAuth endpoints): `Router::layer(Extension(TrustedProxies(...)))`, then
/// [`client_ip`] with them.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<erp_net::IpNet>);

/// The caller's address of a request (see [`ClientIp`]); `None` without a TCP peer (a request
/// built in a test without `ConnectInfo`).
pub fn client_ip(
    parts: &axum::http::request::Parts,
    trusted_proxies: &[erp_net::IpNet],
) -> Option<ClientIp> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())?;
    if !erp_net::is_trusted(peer, trusted_proxies) {
        return Some(ClientIp(erp_net::normalise(peer)));
    }
    let asserted = parts
        .headers
        .get(erp_net::CLIENT_ADDRESS_HEADER)
        .and_then(|v| v.to_str().ok());
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    Some(ClientIp(erp_net::client_address(
        peer,
        asserted,
        &forwarded,
        trusted_proxies,
    )))
}

/// Everything the handlers share.
pub struct HttpState<E> {
    pub executor: E,
    /// Proxies (the router) whose word on the client's address is believed
    /// (`ERP_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<erp_net::IpNet>,
    pub verifier: Arc<dyn TokenVerifier>,
    pub readiness: Arc<dyn Readiness>,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Media {
    Json,
    GraphqlResponseJson,
}

impl Media {
    fn as_str(self) -> &'static str {
        match self {
            Media::Json => APPLICATION_JSON,
            Media::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
        }
    }
}

fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        // Legacy clients send no Accept header: they expect application/json.
        return Some(Media::Json);
    };
    let mut best: Option<(Media, f32)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let media = match range.as_str() {
            GRAPHQL_RESPONSE_JSON => Some(Media::GraphqlResponseJson),
            APPLICATION_JSON | "application/*" | "*/*" => Some(Media::Json),
            _ => None,
        };
        if let Some(media) = media {
            if quality > 0.0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((media, quality));
            }
        }
    }
    best.map(|(media, _)| media)
}

fn error_response(status: StatusCode, code: &str, message: &str, media: Media) -> Response {
    let mut response = (status, request_error_body(message, code).to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.as_str()),
    );
    response
}

fn has_preflight_header(headers: &HeaderMap) -> bool {
    PREFLIGHT_HEADERS
        .iter()
        .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()))
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == APPLICATION_JSON || v == GRAPHQL_RESPONSE_JSON)
}

/// Reads the bearer token: `Ok(None)` when there is none, `Err` when one is there but invalid.
async fn authenticate<E>(
    state: &HttpState<E>,
    headers: &HeaderMap,
) -> Result<Identity, (StatusCode, &'static str, String)> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Identity::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or((
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
            "the Authorization header must be `Bearer <token>`".to_string(),
        ))?;
    match state.verifier.verify_token(token).await {
        Ok(claims) => Ok(Identity::User(Box::new(claims))),
        Err(VerifyError::KeysUnavailable(detail)) => {
            tracing::error!(error = %detail, "token keys unavailable");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                codes::SERVICE_UNAVAILABLE,
                "the token could not be checked right now, retry shortly".to_string(),
            ))
        }
        Err(err) => Err((
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHENTICATED,
            err.to_string(),
        )),
    }
}

fn unauthenticated(status: StatusCode, code: &str, message: &str, media: Media) -> Response {
    let mut response = error_response(status, code, message, media);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

async fn execute<E: Executor>(
    state: &HttpState<E>,
    request: async_graphql::Request,
    identity: Identity,
    client: Option<ClientIp>,
    media: Media,
) -> Response {
    let mut request = request.data(identity);
    if let Some(client) = client {
        request = request.data(client);
    }
    let response = state.executor.execute(request).await;
    for err in &response.errors {
        let code = err
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "GRAPHQL_VALIDATION_FAILED".into());
        state
            .metrics
            .graphql_errors
            .with_label_values(&[&code])
            .inc();
    }
    // A request that could not be executed at all (parse, validation, limits) has no data and
    // errors without a path.
    let not_executed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let status = if media == Media::GraphqlResponseJson && not_executed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "response serialization failed");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
                media,
            );
        }
    };
    let mut http = (status, body).into_response();
    http.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.as_str()),
    );
    http
}

async fn graphql_post<E: Executor>(
    State(state): State<Arc<HttpState<E>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let client = client_ip(&parts, &state.trusted_proxies);
    let Some(media) = negotiate(headers) else {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            codes::NOT_ACCEPTABLE,
            "accept application/json or application/graphql-response+json",
            Media::Json,
        );
    };
    if !is_json_content_type(headers) {
        if !has_preflight_header(headers) {
            return error_response(
                StatusCode::FORBIDDEN,
                codes::CSRF_PREVENTION_FAILED,
                "this request needs Content-Type: application/json or a preflight header (apollo-require-preflight)",
                media,
            );
        }
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_REQUEST,
            "the body must be application/json",
            media,
        );
    }
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_length.is_some_and(|len| len > state.max_body_bytes) {
        return too_large(state.max_body_bytes, media);
    }
    let bytes: Bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large(state.max_body_bytes, media),
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return error_response(
            StatusCode::BAD_REQUEST,
            codes::BATCHING_NOT_ALLOWED,
            "batched requests are not accepted: send one operation per request",
            media,
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                &format!("the body is not a GraphQL request: {err}"),
                media,
            )
        }
    };
    let identity = match authenticate(&state, headers).await {
        Ok(identity) => identity,
        Err((status, code, message)) => return unauthenticated(status, code, &message, media),
    };
    execute(&state, request, identity, client, media).await
}

fn too_large(limit: usize, media: Media) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {limit} bytes"),
        media,
    )
}

async fn graphql_get<E: Executor>(
    State(state): State<Arc<HttpState<E>>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let headers = &parts.headers;
    let client = client_ip(&parts, &state.trusted_proxies);
    let Some(media) = negotiate(headers) else {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            codes::NOT_ACCEPTABLE,
            "accept application/json or application/graphql-response+json",
            Media::Json,
        );
    };
    if !has_preflight_header(headers) {
        return error_response(
            StatusCode::FORBIDDEN,
            codes::CSRF_PREVENTION_FAILED,
            "GET requests need a preflight header (apollo-require-preflight)",
            media,
        );
    }
    let query = parts.uri.query().unwrap_or_default();
    let graphql_request = match async_graphql::http::parse_query_string(query) {
        Ok(req) => req,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                &format!("the query string is not a GraphQL request: {err}"),
                media,
            )
        }
    };
    // Only queries travel over GET: a mutation in a link or an <img> must never run.
    if let Ok(document) = async_graphql::parser::parse_query(&graphql_request.query) {
        let operation_type = match &graphql_request.operation_name {
            Some(name) => document
                .operations
                .iter()
                .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))
                .map(|(_, op)| op.node.ty),
            None => document.operations.iter().next().map(|(_, op)| op.node.ty),
        };
        if matches!(
            operation_type,
            Some(OperationType::Mutation | OperationType::Subscription)
        ) {
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "mutations and subscriptions are not accepted over GET",
                media,
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    let identity = match authenticate(&state, headers).await {
        Ok(identity) => identity,
        Err((status, code, message)) => return unauthenticated(status, code, &message, media),
    };
    execute(&state, graphql_request, identity, client, media).await
}

/// Read and write buffer of one GraphQL WebSocket connection (messages are usually far
/// smaller; a larger one is read in more steps).
const WS_BUFFER_BYTES: usize = 4 * 1024;

/// GraphQL over WebSocket (`graphql-transport-ws` and the legacy `graphql-ws`) on
/// `/graphql/ws`: the token comes in the `connection_init` payload (`Authorization: Bearer ...`,
/// or `token`), is verified like a header token, and becomes the connection's identity.
async fn graphql_ws<E: Executor>(
    State(state): State<Arc<HttpState<E>>>,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let executor = state.executor.clone();
    let verifier = state.verifier.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        // A subscription connection carries small GraphQL messages, and a dashboard of
        // thousands holds thousands of them: tungstenite's default 128 KiB read buffer,
        // allocated per connection, was most of a subscription's memory (websockets bench).
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        // The largest message is the HTTP body limit (a `subscribe` is a GraphQL request).
        .max_message_size(state.max_body_bytes)
        .max_frame_size(state.max_body_bytes)
        .on_upgrade(move |socket| {
            async_graphql_axum::GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(move |payload| async move {
                    let token = ["Authorization", "authorization", "token"]
                        .iter()
                        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
                        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
                    let identity = match token {
                        None => Identity::Anonymous,
                        Some(token) => match verifier.verify_token(&token).await {
                            Ok(claims) => Identity::User(Box::new(claims)),
                            Err(err) => {
                                return Err(
                                    crate::ApiError::AuthenticationFailed(err.to_string()).into()
                                )
                            }
                        },
                    };
                    let mut data = async_graphql::Data::default();
                    data.insert(identity);
                    Ok(data)
                })
                .serve()
        })
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn ready<E: Executor>(State(state): State<Arc<HttpState<E>>>) -> Response {
    match state.readiness.check().await {
        Ok(()) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(problem) => {
            tracing::warn!(problem = %problem, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "unavailable", "reason": problem })),
            )
                .into_response()
        }
    }
}

async fn metrics_handler<E: Executor>(State(state): State<Arc<HttpState<E>>>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn record_metrics(metrics: Metrics, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .http_latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .with_label_values(&[&route, response.status().as_str()])
        .inc();
    response
}

/// The axum router of a subgraph.
pub fn router<E: Executor>(state: HttpState<E>) -> Router {
    let metrics = state.metrics.clone();
    let state = Arc::new(state);
    let x_request_id = header::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(graphql_get::<E>).post(graphql_post::<E>))
        .route("/graphql/ws", get(graphql_ws::<E>))
        .route("/health", get(health))
        .route("/ready", get(ready::<E>))
        .route("/metrics", get(metrics_handler::<E>))
        .with_state(state)
        .layer(axum::middleware::from_fn(move |req, next| {
            record_metrics(metrics.clone(), req, next)
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<Body>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                let path = request.uri().path();
                // Probes and scrapes (every few seconds, from every router and Prometheus) are
                // not traced at the default `info`.
                let span = if matches!(path, "/health" | "/ready" | "/metrics") {
                    tracing::debug_span!(
                        "http",
                        otel.name = %format_args!("{} {}", request.method(), path),
                        otel.kind = "server",
                        method = %request.method(),
                        path = %path,
                        request_id = %request_id,
                    )
                } else {
                    tracing::info_span!(
                        "http",
                        otel.name = %format_args!("{} {}", request.method(), path),
                        otel.kind = "server",
                        method = %request.method(),
                        path = %path,
                        request_id = %request_id,
                    )
                };
                crate::telemetry::continue_trace(&span, request.headers());
                span
            }),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .method_not_allowed_fallback(|method: Method| async move {
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                &format!("{method} is not accepted here"),
                Media::Json,
            )
        })
}

/// Serves `router` on `listener` until ctrl-c or SIGTERM, then drains in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn negotiates_the_media_type() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(negotiate(&accept("application/json")), Some(Media::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(Media::GraphqlResponseJson)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(negotiate(&accept("text/html")), None);
    }
}
