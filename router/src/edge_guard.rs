//! Edge checks hive-router 0.2.19's configuration cannot express:
//!
//! - **Root fields** (edge-security.md: 20): an operation selecting more root fields is refused
//!   with 400 `MAX_ROOT_FIELDS_EXCEEDED` (the same code as the subgraph kit).
//! - **Invalid tokens are 401**: with `jwt.require_authentication: false` (needed so anonymous
//!   callers can log in), hive-router treats a bad, expired or foreign token as no token at all.
//!   Here a request that carries a bearer token the router did not accept is refused with 401,
//!   `WWW-Authenticate: Bearer error="invalid_token"` and `UNAUTHENTICATED`.
//! - **Origin of WebSocket upgrades**: browsers do not apply CORS to WebSockets, so a page on any
//!   site could open a subscription with the user's ambient credentials (cross-site WebSocket
//!   hijacking). An upgrade whose `Origin` is not in `websocket_origins` (the CORS allowlist) is
//!   refused with 403 `FORBIDDEN_ORIGIN` before the handshake; an upgrade without `Origin` (not a
//!   browser) is let through.
//! - **`path` on denied fields**: hive-router's filter mode reports a denied field as
//!   `UNAUTHORIZED_FIELD_OR_TYPE` with `extensions.affectedPath: "employee.personalEmail"` but no
//!   GraphQL `path`; the error gets `path: ["employee", "personalEmail"]` here (the same shape the
//!   subgraphs answer). Inside lists the router denies the field for every item, so the path
//!   carries no index.
//! - **One style of code**: validation failures are `GRAPHQL_VALIDATION_FAILED` with the rule in
//!   `extensions.rule`; a refused introspection names the `schema:read` scope it needs.

use hive_router::executor::execution::client_request_details::JwtRequestDetails;
use hive_router::executor::response::graphql_error::{
    GraphQLError, GraphQLErrorPath, GraphQLErrorPathSegment,
};
use hive_router::http::StatusCode;
use hive_router::ntex::http::{Response, StatusCode as NtexStatusCode};
use hive_router::plugins::hooks::on_graphql_analysis::{
    OnGraphqlAnalysisHookPayload, OnGraphqlAnalysisHookResult,
};
use hive_router::plugins::hooks::on_graphql_error::{
    OnGraphQLErrorHookPayload, OnGraphQLErrorHookResult,
};
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;

use crate::rate_limit::count_root_fields;
use crate::{add_response_header, apply_response_headers_on_end, edge_error};

pub const MAX_ROOT_FIELDS_EXCEEDED: &str = "MAX_ROOT_FIELDS_EXCEEDED";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const UNAUTHORIZED_FIELD_OR_TYPE: &str = "UNAUTHORIZED_FIELD_OR_TYPE";
pub const FORBIDDEN_ORIGIN: &str = "FORBIDDEN_ORIGIN";
pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeGuardConfig {
    #[serde(default = "default_max_root_fields")]
    pub max_root_fields: usize,
    #[serde(default = "default_true")]
    pub reject_invalid_tokens: bool,
    /// Origins (`scheme://host[:port]`) allowed to open a WebSocket; none by default.
    #[serde(default)]
    pub websocket_origins: Vec<String>,
}

fn default_max_root_fields() -> usize {
    20
}

fn default_true() -> bool {
    true
}

pub struct EdgeGuardPlugin {
    config: EdgeGuardConfig,
    /// Whether hive-router verifies JWTs at all (without it every caller is anonymous).
    jwt_enabled: bool,
}

/// `https://App.example.com/` -> `https://app.example.com` (origins compare case-insensitively,
/// without a trailing slash).
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether a WebSocket upgrade with this `Origin` header may proceed: no header (not a browser)
/// or one of `allowed`.
pub fn websocket_origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = normalise_origin(origin);
    allowed.iter().any(|a| normalise_origin(a) == origin)
}

/// Whether the request carries a bearer token (the lookup location configured in `jwt`).
pub fn carries_bearer_token(authorization: Option<&str>) -> bool {
    authorization.is_some_and(|value| {
        let value = value.trim_start();
        value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ")
    })
}

/// `"user.friends[0].name"` (hive-router's affected path) as GraphQL path segments.
pub fn path_segments(affected_path: &str) -> Vec<GraphQLErrorPathSegment> {
    let mut segments = Vec::new();
    for part in affected_path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(field) = pieces.next().filter(|f| !f.is_empty()) {
            segments.push(GraphQLErrorPathSegment::String(field.to_owned()));
        }
        for index in pieces {
            match index.trim_end_matches(']').parse() {
                Ok(i) => segments.push(GraphQLErrorPathSegment::Index(i)),
                Err(_) => segments.push(GraphQLErrorPathSegment::String(index.to_owned())),
            }
        }
    }
    segments
}

/// One naming style for every `extensions.code` (issue 15), and a refusal that says what it
/// needs:
/// - hive-router names a validation failure by the rule that failed, in PascalCase
///   (`FieldsOnCorrectType`); the code becomes `GRAPHQL_VALIDATION_FAILED` (the catalogue's, as
///   the subgraphs answer) and the rule moves to `extensions.rule`;
/// - a refused introspection ("Introspection queries are disabled") says it needs `schema:read`,
///   the scope router.config.yaml's `introspection.expression` asks for.
fn normalise_code(error: &mut GraphQLError) {
    let Some(code) = error.extensions.code.as_deref() else {
        return;
    };
    if code == INTROSPECTION_DISABLED {
        error.message = "Introspection needs a token with the schema:read scope".into();
    } else if is_validation_rule_name(code) {
        let rule = error
            .extensions
            .code
            .replace(GRAPHQL_VALIDATION_FAILED.into());
        if let Some(rule) = rule {
            error
                .extensions
                .extensions
                .insert("rule".into(), rule.as_str().into());
        }
    }
}

/// A graphql-tools validation rule's name (`FieldsOnCorrectType`, `KnownArgumentNames`): an
/// upper-case initial and some lower case, where every code of ours is SCREAMING_SNAKE_CASE.
fn is_validation_rule_name(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_uppercase())
        && code.contains(|c: char| c.is_ascii_lowercase())
        && code.chars().all(|c| c.is_ascii_alphanumeric())
}

#[hive_router::async_trait]
impl RouterPlugin for EdgeGuardPlugin {
    type Config = EdgeGuardConfig;

    fn plugin_name() -> &'static str {
        "erp_edge_guard"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let jwt_enabled = payload.router_config().jwt.is_jwt_auth_enabled();
        if config.reject_invalid_tokens && !jwt_enabled {
            tracing::warn!(
                "erp_edge_guard: reject_invalid_tokens has no effect because jwt is disabled"
            );
        }
        Ok(Some(Self {
            config,
            jwt_enabled,
        }))
    }

    fn on_http_request<'req>(
        &'req self,
        payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let headers = payload.router_http_request.headers();
            if crate::is_websocket_upgrade(headers) {
                let origin = headers.get("origin").map(|v| v.to_str().unwrap_or("?"));
                if !websocket_origin_allowed(origin, &self.config.websocket_origins) {
                    tracing::info!(origin, "WebSocket upgrade refused: origin not allowed");
                    let body = serde_json::json!({ "errors": [{
                        "message": "This origin may not open a WebSocket",
                        "extensions": { "code": FORBIDDEN_ORIGIN }
                    }]});
                    let response = Response::build(NtexStatusCode::FORBIDDEN)
                        .content_type("application/json")
                        .body(body.to_string());
                    return payload.end_with_response(response);
                }
            }
            apply_response_headers_on_end(payload)
        })
    }

    fn on_graphql_error<'req>(
        &'req self,
        mut payload: OnGraphQLErrorHookPayload<'req>,
    ) -> OnGraphQLErrorHookResult<'req> {
        let error = &mut payload.error;
        normalise_code(error);
        if error.path.is_none()
            && error.extensions.code.as_deref() == Some(UNAUTHORIZED_FIELD_OR_TYPE)
        {
            if let Some(affected) = error.extensions.affected_path.as_deref() {
                error.path = Some(GraphQLErrorPath {
                    segments: path_segments(affected),
                });
            }
        }
        payload.proceed()
    }

    async fn on_graphql_analysis<'exec>(
        &'exec self,
        payload: &mut OnGraphqlAnalysisHookPayload<'exec>,
    ) -> OnGraphqlAnalysisHookResult {
        let details = &payload.client_request_details;
        if self.config.reject_invalid_tokens
            && self.jwt_enabled
            && matches!(details.jwt.as_ref(), JwtRequestDetails::Unauthenticated)
            && carries_bearer_token(
                details
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok()),
            )
        {
            add_response_header(
                payload.context,
                "www-authenticate",
                "Bearer error=\"invalid_token\"",
            );
            return OnGraphqlAnalysisHookResult::EndWithResponse(edge_error(
                StatusCode::UNAUTHORIZED,
                UNAUTHENTICATED,
                "The access token is invalid or expired",
            ));
        }

        let root_fields = count_root_fields(payload.filtered_operation_for_plan);
        if root_fields > self.config.max_root_fields {
            return OnGraphqlAnalysisHookResult::EndWithResponse(edge_error(
                StatusCode::BAD_REQUEST,
                MAX_ROOT_FIELDS_EXCEEDED,
                &format!(
                    "The operation selects {root_fields} root fields; at most {} are allowed",
                    self.config.max_root_fields
                ),
            ));
        }
        OnGraphqlAnalysisHookResult::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_recognised_case_insensitively() {
        assert!(carries_bearer_token(Some("Bearer abc")));
        assert!(carries_bearer_token(Some("bearer abc")));
        assert!(!carries_bearer_token(Some("Bearer ")));
        assert!(!carries_bearer_token(Some("Basic abc")));
        assert!(!carries_bearer_token(None));
    }

    #[test]
    fn validation_rule_names_are_told_from_our_codes() {
        assert!(is_validation_rule_name("FieldsOnCorrectType"));
        assert!(is_validation_rule_name("KnownArgumentNames"));
        assert!(!is_validation_rule_name("GRAPHQL_VALIDATION_FAILED"));
        assert!(!is_validation_rule_name("BAD_USER_INPUT"));
        assert!(!is_validation_rule_name("Bad_Input"));
    }

    #[test]
    fn affected_paths_become_graphql_paths() {
        use GraphQLErrorPathSegment::{Index, String as Field};
        assert_eq!(
            path_segments("employee.personalEmail"),
            vec![Field("employee".into()), Field("personalEmail".into())]
        );
        assert_eq!(
            path_segments("user.friends[0].name"),
            vec![
                Field("user".into()),
                Field("friends".into()),
                Index(0),
                Field("name".into())
            ]
        );
        assert_eq!(path_segments(""), vec![]);
    }

    #[test]
    fn the_configuration_has_the_edge_defaults() {
        let config: EdgeGuardConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(config.max_root_fields, 20);
        assert!(config.reject_invalid_tokens);
        assert!(config.websocket_origins.is_empty());
    }

    #[test]
    fn websocket_origins_are_an_allowlist() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert!(websocket_origin_allowed(
            Some("https://app.example.com"),
            &allowed
        ));
        assert!(websocket_origin_allowed(
            Some("HTTPS://App.Example.com/"),
            &allowed
        ));
        assert!(!websocket_origin_allowed(
            Some("https://evil.example"),
            &allowed
        ));
        assert!(!websocket_origin_allowed(
            Some("http://app.example.com"),
            &allowed
        ));
        assert!(!websocket_origin_allowed(Some("null"), &allowed));
        assert!(websocket_origin_allowed(None, &allowed));
        assert!(!websocket_origin_allowed(
            Some("https://app.example.com"),
            &[]
        ));
    }
}
