//! Non-GraphQL paths served at the edge (`erp_http_routes`): a path prefix proxied to a
//! subgraph's own HTTP endpoint, with the edge's protections. The CRM's CSV import
//! (`/crm/import/{kind}` -> crm `/import/{kind}`), the operations subgraph's signed SOP file
//! and ticket attachment URLs (`/sop-files/...`, `/ticket-files/...`) and its inbound e-mail
//! webhook (`/ops/helpdesk/inbound-mail/{tenant}`) go through here: hive-router 0.2.19 passes
//! no GraphQL multipart request (file uploads) through and caps GraphQL bodies at 2 MB, so
//! these endpoints live beside GraphQL on their subgraphs, and clients reach them at the edge
//! like everything else.
//!
//! What a routed request goes through, in order:
//!
//! - TLS 1.3 (the edge listener) and hive-router's middlewares (request id, CORS-less: these
//!   are not browser GraphQL calls; the plugins' `on_http_request`, so the client address is
//!   the trusted-proxy-aware one of `erp_rate_limit`);
//! - `auth: bearer`: a token is required and verified here against the router's JWKS (the same
//!   check as a WebSocket's `connection_init`): none, or one that does not verify, is 401
//!   `UNAUTHENTICATED` before anything reaches the subgraph. The subgraph verifies it again
//!   and applies its scopes and row rules. `auth: signed_url`: no token; the URL's signature
//!   is the credential and the subgraph verifies it (the path and query are forwarded
//!   untouched, so a signature over them stays valid). `auth: signed_request`: no token; the
//!   request is signed (a webhook: a timestamp and an HMAC of the body in headers the route
//!   lists in `forward_headers`), the body is forwarded byte for byte and the subgraph
//!   verifies the signature;
//! - the rate limit: one operation of the route's class, in the same buckets as GraphQL
//!   (`erp_rate_limit`'s limiter): `authenticated`/`heavy` per tenant and user, `public` per
//!   client address, `tenant` per tenant named by the first path segment after the prefix
//!   (a webhook addressed to a tenant: its senders' addresses say nothing about whose budget
//!   it uses; a path without a plausible tenant id is 404 before anything is charged);
//!   429 `RATE_LIMITED` with `Retry-After` (and `extensions.retryAfter`) beyond it;
//! - the body limit: a declared `Content-Length` over `max_body_bytes` is 413 (the body read
//!   and discarded first, up to 8 MiB within 3 s, so the client reads the answer); a body
//!   without one is counted while it streams and cut at the limit (413). Bodies stream to the
//!   subgraph (an import of 750,000 rows is never held in memory here);
//! - only `methods` (405 otherwise), and only these request headers are forwarded:
//!   `authorization`, `content-type`, `content-length`, `accept`, `x-request-id`, plus the
//!   route's `forward_headers` (e.g. a webhook's signature headers); the client's
//!   address is set in `x-erp-client-address` (whatever the client sent there is dropped).
//!
//! The subgraph's answer is relayed with its status and `content-type`, `cache-control`,
//! `content-disposition` and `etag` headers (bodies up to `max_response_bytes`, 502 beyond).
//! Errors produced here have the GraphQL error shape and a code of the closed set.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};

use hive_router::config::override_subgraph_urls::UrlOrExpression;
use hive_router::config::HiveRouterConfig;
use hive_router::executor::plugin_context::PluginContext;
use hive_router::ntex::http::StatusCode;
use hive_router::ntex::web;
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::RouterPlugin;
use hive_router::RouterSharedState;
use serde::Deserialize;

use crate::client_ip::ClientAddress;
use crate::config_value::number;
use crate::rate_limit::{self, Class, User};

/// The configuration (`plugins.erp_http_routes.config`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRoutesConfig {
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// One routed prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The path prefix at the edge, starting and ending with `/` (e.g. `/crm/import/`).
    pub prefix: String,
    /// The subgraph that serves it: its origin is the one of its URL in
    /// `override_subgraph_urls` (which must be a static URL).
    pub subgraph: String,
    /// The path prefix at the subgraph replacing `prefix` (e.g. `/import/`).
    pub upstream_prefix: String,
    /// The methods routed (others are 405), e.g. `[POST]`.
    pub methods: Vec<String>,
    pub auth: RouteAuth,
    /// The rate-limit class charged one operation per request.
    pub rate_limit_class: RouteClass,
    /// The largest request body taken (bytes).
    #[serde(deserialize_with = "number")]
    pub max_body_bytes: u64,
    /// The largest answer relayed (bytes; default 16 MiB).
    #[serde(default = "default_max_response", deserialize_with = "number")]
    pub max_response_bytes: u64,
    /// Request headers forwarded besides the common ones (lower case), e.g. a webhook's
    /// `x-erp-webhook-timestamp` and `x-erp-webhook-signature`.
    #[serde(default)]
    pub forward_headers: Vec<String>,
}

fn default_max_response() -> u64 {
    16 * 1024 * 1024
}

/// How a routed request is authenticated at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    /// A verified bearer token is required (401 otherwise).
    Bearer,
    /// The URL carries its own signature, verified by the subgraph; no token.
    SignedUrl,
    /// The request is signed (a webhook's headers over its body), verified by the subgraph;
    /// no token.
    SignedRequest,
}

/// The rate-limit class of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteClass {
    /// Per client address.
    Public,
    /// Per tenant and user (needs `auth: bearer`).
    Authenticated,
    /// Per tenant and user, the heavy budget (needs `auth: bearer`).
    Heavy,
    /// Per tenant: the first path segment after the prefix names it (a webhook addressed to a
    /// tenant, e.g. `/ops/helpdesk/inbound-mail/{tenant}`), whoever sends it.
    Tenant,
}

impl RouteClass {
    fn class(self) -> Class {
        match self {
            RouteClass::Public => Class::Public,
            RouteClass::Authenticated => Class::Authenticated,
            RouteClass::Heavy => Class::Heavy,
            RouteClass::Tenant => Class::Tenant,
        }
    }
}

/// A route ready to serve: its configuration and the subgraph origin it forwards to.
#[derive(Debug, Clone)]
pub struct Route {
    pub config: RouteConfig,
    /// `scheme://host:port` of the subgraph.
    pub origin: String,
}

/// The routes of this process, published by the plugin's initialisation for the server to
/// mount (the plugin API has no hook that adds paths; `crate::server` mounts them).
static INSTALLED: RwLock<Option<Arc<Vec<Route>>>> = RwLock::new(None);

/// The routes to mount, if the plugin is enabled.
pub fn installed() -> Option<Arc<Vec<Route>>> {
    INSTALLED
        .read()
        .map(|routes| routes.clone())
        .unwrap_or(None)
}

/// `scheme://host[:port]` of a subgraph's static URL.
fn origin_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// Checks the routes against the router's configuration and resolves their origins.
pub fn resolve(config: HttpRoutesConfig, router: &HiveRouterConfig) -> Result<Vec<Route>, String> {
    let mut routes = Vec::new();
    for route in config.routes {
        let prefix = &route.prefix;
        if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.len() < 3 {
            return Err(format!(
                "erp_http_routes: the prefix `{prefix}` must start and end with `/`"
            ));
        }
        if prefix.starts_with(router.graphql_path()) {
            return Err(format!(
                "erp_http_routes: the prefix `{prefix}` would take GraphQL's path"
            ));
        }
        if !route.upstream_prefix.starts_with('/') || !route.upstream_prefix.ends_with('/') {
            return Err(format!(
                "erp_http_routes: the upstream prefix `{}` must start and end with `/`",
                route.upstream_prefix
            ));
        }
        if route.methods.is_empty() {
            return Err(format!("erp_http_routes: `{prefix}` routes no method"));
        }
        if route.auth != RouteAuth::Bearer
            && !matches!(
                route.rate_limit_class,
                RouteClass::Public | RouteClass::Tenant
            )
        {
            return Err(format!(
                "erp_http_routes: `{prefix}` has no token, so its rate limit is per client address or per tenant (rate_limit_class: public or tenant)"
            ));
        }
        for name in &route.forward_headers {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid || NEVER_FORWARDED.contains(&name.as_str()) {
                return Err(format!(
                    "erp_http_routes: `{prefix}` cannot forward the header `{name}` (lower-case \
                     names only; never hop-by-hop headers, host or {})",
                    erp_net::CLIENT_ADDRESS_HEADER
                ));
            }
        }
        if route.auth == RouteAuth::Bearer && !router.jwt.is_jwt_auth_enabled() {
            return Err(format!(
                "erp_http_routes: `{prefix}` needs a verified token, but `jwt` is disabled"
            ));
        }
        let origin = match router
            .override_subgraph_urls
            .get_subgraph_url(&route.subgraph)
        {
            Some(UrlOrExpression::Url(url)) => origin_of(url),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "erp_http_routes: `{prefix}` names the subgraph `{}`, which has no static URL in override_subgraph_urls",
                route.subgraph
            )
        })?;
        routes.push(Route {
            config: route,
            origin,
        });
    }
    Ok(routes)
}

/// The plugin: validates the routes at start (a bad one stops the router) and publishes them.
pub struct HttpRoutesPlugin;

#[hive_router::async_trait]
impl RouterPlugin for HttpRoutesPlugin {
    type Config = HttpRoutesConfig;

    fn plugin_name() -> &'static str {
        "erp_http_routes"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config: HttpRoutesConfig = payload.config()?;
        let routes = resolve(config, payload.router_config())?;
        for route in &routes {
            tracing::info!(
                prefix = %route.config.prefix,
                subgraph = %route.config.subgraph,
                "erp_http_routes: routed to {}{}",
                route.origin,
                route.config.upstream_prefix
            );
        }
        if let Ok(mut installed) = INSTALLED.write() {
            *installed = Some(Arc::new(routes));
        }
        Ok(Some(HttpRoutesPlugin))
    }
}

/// What a worker's handlers share: the routes and one HTTP client (per worker: each ntex worker
/// runs its own single-threaded runtime, and a client's connections belong to one).
#[derive(Clone)]
pub struct RouteState {
    pub routes: Arc<Vec<Route>>,
    pub client: reqwest::Client,
}

impl RouteState {
    pub fn new(routes: Arc<Vec<Route>>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { routes, client }
    }
}

/// Mounts every route's prefix on `config` (before hive-router's routes: first match wins).
pub fn mount(config: &mut web::ServiceConfig, routes: &[Route]) {
    for route in routes {
        config.service(web::resource(format!("{}{{tail}}*", route.config.prefix)).to(proxy));
    }
}

/// An error in the GraphQL shape (`{"errors":[{"message","extensions":{"code"}}]}`).
fn refuse(status: StatusCode, code: &str, message: &str) -> web::HttpResponse {
    refuse_with(status, serde_json::json!({ "code": code }), message)
}

/// [`refuse`] with more `extensions` than the code (e.g. `retryAfter`).
fn refuse_with(
    status: StatusCode,
    extensions: serde_json::Value,
    message: &str,
) -> web::HttpResponse {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": extensions }]
    });
    web::HttpResponse::build(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// The longest tenant id a `tenant` route takes from its path.
const MAX_TENANT_ID_LEN: usize = 128;

/// The tenant a `tenant` route's request is addressed to: the first segment of the path after
/// the prefix, when it looks like a tenant id (letters, digits, `_`, `-`, `.`; at most
/// [`MAX_TENANT_ID_LEN`]). Anything else names no tenant, and is refused before a bucket is
/// made for it.
pub fn tenant_of_tail(tail: &str) -> Option<&str> {
    let segment = tail.split('/').next().unwrap_or("");
    let plausible = !segment.is_empty()
        && segment.len() <= MAX_TENANT_ID_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && segment != "."
        && segment != "..";
    plausible.then_some(segment)
}

/// The request headers forwarded to the subgraph.
const FORWARDED_REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "content-length",
    "accept",
    "x-request-id",
];

/// Headers a route can never forward: the connection's own, and the client address the
/// edge sets itself.
const NEVER_FORWARDED: [&str; 9] = [
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    erp_net::CLIENT_ADDRESS_HEADER,
];

/// The answer headers relayed to the client.
const RELAYED_RESPONSE_HEADERS: [&str; 4] = [
    "content-type",
    "cache-control",
    "content-disposition",
    "etag",
];

/// The handler of every routed prefix.
async fn proxy(
    req: web::HttpRequest,
    mut body: web::types::Payload,
    state: web::types::State<RouteState>,
    shared: web::types::State<Arc<RouterSharedState>>,
) -> web::HttpResponse {
    let path = req.path().to_owned();
    let Some(route) = state
        .routes
        .iter()
        .find(|route| path.starts_with(&route.config.prefix))
    else {
        return refuse(StatusCode::NOT_FOUND, "NOT_FOUND", "no such path");
    };
    let config = &route.config;
    let method = req.method().as_str().to_owned();
    if !config
        .methods
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&method))
    {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            &format!("{path} takes {}", config.methods.join(", ")),
        );
    }

    // Who: the client address the rate-limit plugin settled (trusted proxies), and the
    // verified token when the route needs one.
    let client = req
        .extensions()
        .get::<Arc<PluginContext>>()
        .and_then(|context| {
            context
                .get_ref::<ClientAddress>()
                .map(|c| (c.ip, c.header.as_bytes().to_vec()))
        })
        .unwrap_or_else(|| {
            let ip = req
                .peer_addr()
                .map(|a| a.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            (ip, ip.to_string().into_bytes())
        });
    let token = match config.auth {
        RouteAuth::SignedUrl | RouteAuth::SignedRequest => None,
        RouteAuth::Bearer => {
            let Some(jwt) = shared.jwt_auth_runtime.as_ref() else {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "token verification is not configured",
                );
            };
            match jwt
                .validate_connection_init_headers(req.headers(), &shared.jwt_claims_cache)
                .await
            {
                Ok(token) => Some(token),
                Err(_) => {
                    return refuse(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHENTICATED",
                        "a valid bearer token is required",
                    )
                }
            }
        }
    };
    let user = token.as_ref().and_then(|token| {
        token.claims.sub.as_deref().map(|sub| User {
            sub,
            tenant: token
                .claims
                .additional_claims
                .get("tenant_id")
                .and_then(|v| v.as_str()),
        })
    });

    // The tenant a per-tenant route is addressed to (its budget).
    let tenant = match config.rate_limit_class {
        RouteClass::Tenant => match tenant_of_tail(&path[config.prefix.len()..]) {
            Some(tenant) => Some(tenant),
            None => {
                return refuse(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    &format!("{} takes {}{{tenant}}", config.prefix, config.prefix),
                )
            }
        },
        _ => None,
    };

    // The rate limit, in GraphQL's buckets.
    let mut limit_headers = Vec::new();
    if let Some(limiter) = rate_limit::installed() {
        let verdict = limiter
            .charge_request(config.rate_limit_class.class(), client.0, user, tenant)
            .await;
        limit_headers = verdict.headers;
        if let Some(retry_after) = verdict.refused_retry_after {
            let budget = match verdict.class {
                rate_limit::Class::Tenant => "this tenant's limit".to_owned(),
                class => format!("the {} limit", class.as_str()),
            };
            let mut response = refuse_with(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({
                    "code": rate_limit::RATE_LIMITED,
                    "retryAfter": retry_after,
                }),
                &format!(
                    "Too many requests: {budget} of {} requests per {} s is used up; retry after {retry_after} s",
                    verdict.quota.limit,
                    verdict.quota.period.as_secs()
                ),
            );
            set_headers(&mut response, &limit_headers);
            set_headers(
                &mut response,
                &[("retry-after".into(), retry_after.to_string())],
            );
            return response;
        }
    }

    // The body limit: what the client declares, then what arrives.
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_USER_INPUT",
            &format!(
                "the body is larger than {} bytes (the limit of {})",
                config.max_body_bytes, config.prefix
            ),
        )
    };
    if let Some(length) = declared.filter(|length| *length > config.max_body_bytes) {
        // Read and discard what the client is still sending (bounded), so it reads the 413
        // instead of a reset: closing with unread data makes the kernel answer with RST.
        hive_router::linger_on_body(&mut body, usize::try_from(length).unwrap_or(usize::MAX)).await;
        return too_large();
    }

    // The subgraph request: same tail and query, the forwarded headers, the body streamed.
    let tail = &path[config.prefix.len()..];
    let mut url = format!("{}{}{tail}", route.origin, config.upstream_prefix);
    if let Some(query) = req.uri().query() {
        url.push('?');
        url.push_str(query);
    }
    let method_name = method.to_ascii_uppercase();
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "bad method",
        );
    };
    let mut request = state.client.request(method, &url);
    let extra = config.forward_headers.iter().map(String::as_str);
    for name in FORWARDED_REQUEST_HEADERS.into_iter().chain(extra) {
        for value in req.headers().get_all(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    request = request.header(erp_net::CLIENT_ADDRESS_HEADER, client.1);
    // The body is pumped on this worker (ntex's payload is not Send) into a channel the
    // client reads; `cut` says the client went over the limit.
    let (sender, receiver) =
        hive_router::tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pump = {
        let cut = cut.clone();
        let max = config.max_body_bytes;
        hive_router::ntex::rt::spawn(async move {
            let mut seen: u64 = 0;
            while let Some(chunk) = body.recv().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(err) => {
                        let _ = sender
                            .send(Err(std::io::Error::other(err.to_string())))
                            .await;
                        return;
                    }
                };
                seen += chunk.len() as u64;
                if seen > max {
                    cut.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = sender
                        .send(Err(std::io::Error::other("the body is over the limit")))
                        .await;
                    return;
                }
                if sender.send(Ok(chunk.to_vec())).await.is_err() {
                    return;
                }
            }
        })
    };
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    // A GET carries no body (a streamed one would be sent chunked).
    if !matches!(method_name.as_str(), "GET" | "HEAD") {
        request = request.body(reqwest::Body::wrap_stream(stream));
    }

    let answer = request.send().await;
    if cut.load(std::sync::atomic::Ordering::Relaxed) {
        drop(pump);
        return too_large();
    }
    let mut answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            tracing::warn!(%url, error = %err, "erp_http_routes: the subgraph did not answer");
            return refuse(
                StatusCode::BAD_GATEWAY,
                "INTERNAL",
                &format!("the {} service did not answer", config.subgraph),
            );
        }
    };
    let mut bytes = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                if (bytes.len() + chunk.len()) as u64 > config.max_response_bytes {
                    return refuse(
                        StatusCode::BAD_GATEWAY,
                        "INTERNAL",
                        "the answer is larger than the edge relays",
                    );
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(%url, error = %err, "erp_http_routes: the answer broke off");
                return refuse(
                    StatusCode::BAD_GATEWAY,
                    "INTERNAL",
                    &format!("the {} service's answer broke off", config.subgraph),
                );
            }
        }
    }
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = web::HttpResponse::build(status);
    for name in RELAYED_RESPONSE_HEADERS {
        if let Some(value) = answer.headers().get(name) {
            response.header(name, value.as_bytes());
        }
    }
    let mut response = response.body(bytes);
    set_headers(&mut response, &limit_headers);
    response
}

fn set_headers(response: &mut web::HttpResponse, headers: &[(String, String)]) {
    use hive_router::ntex::http::header::{HeaderName, HeaderValue};
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_subgraph_urls() {
        assert_eq!(
            origin_of("http://127.0.0.1:4005/graphql").as_deref(),
            Some("http://127.0.0.1:4005")
        );
        assert_eq!(
            origin_of("https://crm.erp.svc/graphql").as_deref(),
            Some("https://crm.erp.svc")
        );
        assert_eq!(origin_of("ftp://x/graphql"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn the_tenant_of_a_path_is_its_first_segment_when_it_looks_like_one() {
        assert_eq!(tenant_of_tail("tnt_a"), Some("tnt_a"));
        assert_eq!(tenant_of_tail("tnt-a.b/rest/of/path"), Some("tnt-a.b"));
        assert_eq!(tenant_of_tail(""), None);
        assert_eq!(tenant_of_tail("/tnt_a"), None);
        assert_eq!(tenant_of_tail(".."), None);
        assert_eq!(tenant_of_tail("tnt%2Fa"), None);
        assert_eq!(tenant_of_tail("tnt a"), None);
        assert_eq!(
            tenant_of_tail(&"t".repeat(MAX_TENANT_ID_LEN)).map(str::len),
            Some(128)
        );
        assert_eq!(tenant_of_tail(&"t".repeat(MAX_TENANT_ID_LEN + 1)), None);
    }

    #[test]
    fn routes_are_parsed() {
        let config: HttpRoutesConfig = serde_json::from_value(serde_json::json!({
            "routes": [{
                "prefix": "/crm/import/", "subgraph": "crm", "upstream_prefix": "/import/",
                "methods": ["POST"], "auth": "bearer", "rate_limit_class": "heavy",
                "max_body_bytes": "1073741824"
            }]
        }))
        .unwrap();
        let route = &config.routes[0];
        assert_eq!(route.auth, RouteAuth::Bearer);
        assert_eq!(route.rate_limit_class, RouteClass::Heavy);
        assert_eq!(route.max_body_bytes, 1 << 30);
        assert_eq!(route.max_response_bytes, 16 * 1024 * 1024);
        assert!(route.forward_headers.is_empty());
        let webhook: HttpRoutesConfig = serde_json::from_value(serde_json::json!({
            "routes": [{
                "prefix": "/ops/helpdesk/inbound-mail/", "subgraph": "ops",
                "upstream_prefix": "/ops/helpdesk/inbound-mail/", "methods": ["POST"],
                "auth": "signed_request", "rate_limit_class": "public", "max_body_bytes": 1024,
                "forward_headers": ["x-erp-webhook-timestamp", "x-erp-webhook-signature"]
            }]
        }))
        .unwrap();
        assert_eq!(webhook.routes[0].auth, RouteAuth::SignedRequest);
        assert_eq!(
            webhook.routes[0].forward_headers,
            ["x-erp-webhook-timestamp", "x-erp-webhook-signature"]
        );
        let tenant: HttpRoutesConfig = serde_json::from_value(serde_json::json!({
            "routes": [{
                "prefix": "/ops/helpdesk/inbound-mail/", "subgraph": "ops",
                "upstream_prefix": "/ops/helpdesk/inbound-mail/", "methods": ["POST"],
                "auth": "signed_request", "rate_limit_class": "tenant", "max_body_bytes": 1024
            }]
        }))
        .unwrap();
        assert_eq!(tenant.routes[0].rate_limit_class, RouteClass::Tenant);
        assert_eq!(tenant.routes[0].rate_limit_class.class(), Class::Tenant);
        assert!(serde_json::from_value::<HttpRoutesConfig>(
            serde_json::json!({ "routes": [{ "prefix": "/x/", "bogus": 1 }] })
        )
        .is_err());
    }
}
