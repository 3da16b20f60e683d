//! One error type for every subgraph, mapped to stable `extensions.code` values.
//!
//! Internal details (database messages, broker errors) are logged with the request id and never
//! reach the caller: `Internal` answers with a generic message.

use async_graphql::ErrorExtensions;

// ApiError deliberately does not implement Display: async-graphql converts every Display type
// into an error WITHOUT extensions, and this conversion must be the only one.

/// The stable error codes a client can branch on. Never rename one: add a new one instead.
///
/// The set is closed: a domain's own rules report one of these as `extensions.code` and name the
/// rule in `extensions.reason` (see [`Reason`] and [`reasons!`](crate::reasons)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    UnauthorizedFieldOrType,
    BadUserInput,
    NotFound,
    Conflict,
    RateLimited,
    /// A caller holds as many live subscriptions as they may.
    TooManySubscriptions,
    Internal,
}

impl ErrorCode {
    /// Every code a resolver can return (the catalogue, schema/errors.json, is built from it).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::UnauthorizedFieldOrType,
        ErrorCode::BadUserInput,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::TooManySubscriptions,
        ErrorCode::Internal,
    ];

    /// What the code means, for the published catalogue.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => {
                "No valid credentials: a missing, expired or revoked token, or credentials, codes or tokens that do not check out."
            }
            ErrorCode::Forbidden => {
                "The caller is known but may not do this (a row rule, an approval chain, an ownership rule)."
            }
            ErrorCode::UnauthorizedFieldOrType => {
                "The token lacks a scope a field or type requires: the field is null, the rest of the data arrives."
            }
            ErrorCode::BadUserInput => {
                "An argument or input field is malformed or out of range; `extensions.field` names it when there is one."
            }
            ErrorCode::NotFound => {
                "The record does not exist in the caller's tenant (another tenant's record is indistinguishable from a missing one)."
            }
            ErrorCode::Conflict => {
                "The record's state does not allow the change (a business rule, a concurrent change, a duplicate)."
            }
            ErrorCode::RateLimited => {
                "Too many requests: retry after `extensions.retryAfter` seconds."
            }
            ErrorCode::TooManySubscriptions => {
                "The caller holds as many live subscriptions as they may: end one first."
            }
            ErrorCode::Internal => {
                "A failure on our side; the details are in the service's logs under the request id."
            }
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::UnauthorizedFieldOrType => "UNAUTHORIZED_FIELD_OR_TYPE",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// The stable name of one domain rule, reported as `extensions.reason` beside its [`ErrorCode`].
///
/// Reasons are declared with [`reasons!`](crate::reasons), which also lists them (`ALL`) for the
/// error catalogue; [`ApiError::rule`] takes nothing else, so every reason a client can receive
/// is in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason {
    code: ErrorCode,
    name: &'static str,
    description: &'static str,
}

impl Reason {
    #[doc(hidden)]
    pub const fn __declare(code: ErrorCode, name: &'static str, description: &'static str) -> Self {
        Self {
            code,
            name,
            description,
        }
    }

    /// The code a client branches on first.
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// `SELF_APPROVAL`, `WIP_LIMIT_EXCEEDED`, ...
    pub const fn name(&self) -> &'static str {
        self.name
    }

    pub const fn description(&self) -> &'static str {
        self.description
    }
}

/// Declares a domain's rule reasons: one constant per reason and `ALL`, the list the error
/// catalogue reads.
///
/// ```
/// erp_kit::reasons! {
///     pub mod reasons {
///         /// Nobody approves their own request.
///         SELF_APPROVAL => Forbidden,
///         /// The week is submitted or approved.
///         TIMESHEET_LOCKED => Conflict,
///     }
/// }
/// assert_eq!(reasons::SELF_APPROVAL.name(), "SELF_APPROVAL");
/// assert_eq!(reasons::ALL.len(), 2);
/// ```
#[macro_export]
macro_rules! reasons {
    (
        $(#[$modmeta:meta])*
        $vis:vis mod $module:ident {
            $(
                $(#[doc = $doc:literal])+
                $name:ident => $code:ident
            ),* $(,)?
        }
    ) => {
        $(#[$modmeta])*
        $vis mod $module {
            $(
                $(#[doc = $doc])+
                pub const $name: $crate::error::Reason = $crate::error::Reason::__declare(
                    $crate::error::ErrorCode::$code,
                    stringify!($name),
                    concat!($($doc),+),
                );
            )*
            /// Every reason of this module, for the error catalogue.
            pub const ALL: &[$crate::error::Reason] = &[$($name),*];
        }
    };
}

/// A broken domain rule: its reason and what the caller reads. Domain rule enums implement it
/// (in `domain/`, free of GraphQL), and every one converts into an [`ApiError::Rule`].
pub trait RuleViolation {
    fn reason(&self) -> Reason;
    fn message(&self) -> String;
    /// The input field at fault, when there is one (reported as `extensions.field`).
    fn field(&self) -> Option<&'static str> {
        None
    }
}

/// An error a resolver returns. Every variant maps to exactly one [`ErrorCode`].
#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    /// Credentials, codes or tokens that do not check out (code UNAUTHENTICATED).
    AuthenticationFailed(String),
    Forbidden(String),
    UnauthorizedField(String),
    /// A bad input; `field` names the input field at fault when there is one.
    BadUserInput {
        message: String,
        field: Option<String>,
    },
    NotFound(String),
    Conflict(String),
    /// Too many requests; `reason` names the rule that counted them, when a domain's rule did
    /// (a locked account), so a client reads `retryAfter` and the reason together.
    RateLimited {
        retry_after_secs: u64,
        reason: Option<Reason>,
    },
    /// The caller already holds `limit` live subscriptions in this process.
    TooManySubscriptions {
        limit: usize,
    },
    /// The message is for the logs only.
    Internal(String),
    /// A domain rule refused the operation: `extensions.code` is the reason's code and
    /// `extensions.reason` its name.
    Rule {
        reason: Reason,
        message: String,
        field: Option<String>,
    },
}

impl<R: RuleViolation> From<R> for ApiError {
    fn from(rule: R) -> Self {
        ApiError::Rule {
            reason: rule.reason(),
            message: rule.message(),
            field: rule.field().map(str::to_owned),
        }
    }
}

impl ApiError {
    /// A domain rule refused the operation.
    pub fn rule(reason: Reason, message: impl Into<String>) -> Self {
        ApiError::Rule {
            reason,
            message: message.into(),
            field: None,
        }
    }

    /// The same error, naming the input field at fault (`extensions.field`).
    pub fn on_field(self, name: impl Into<String>) -> Self {
        match self {
            ApiError::Rule {
                reason, message, ..
            } => ApiError::Rule {
                reason,
                message,
                field: Some(name.into()),
            },
            ApiError::BadUserInput { message, .. } => ApiError::BadUserInput {
                message,
                field: Some(name.into()),
            },
            other => other,
        }
    }

    /// The same error with its message prefixed by what it is about (`row 3: ...`,
    /// `ann@example.com: ...`), for the refusal of one item of a batch; the code, reason and
    /// field are kept, and errors that are not about the input are returned unchanged.
    pub fn about(self, subject: impl std::fmt::Display) -> Self {
        match self {
            ApiError::Rule {
                reason,
                message,
                field,
            } => ApiError::Rule {
                reason,
                message: format!("{subject}: {message}"),
                field,
            },
            ApiError::BadUserInput { message, field } => ApiError::BadUserInput {
                message: format!("{subject}: {message}"),
                field,
            },
            other => other,
        }
    }

    /// The rule's reason, when the error is a rule's.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            ApiError::Rule { reason, .. } => Some(*reason),
            ApiError::RateLimited { reason, .. } => *reason,
            _ => None,
        }
    }

    /// A domain rule's rate limit: `extensions.code` RATE_LIMITED with `retryAfter`, and the
    /// rule in `extensions.reason` (the reason's code must be `RateLimited`).
    pub fn rate_limited(reason: Reason, retry_after_secs: u64) -> Self {
        debug_assert_eq!(reason.code(), ErrorCode::RateLimited);
        ApiError::RateLimited {
            retry_after_secs,
            reason: Some(reason),
        }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError::Internal(err.to_string())
    }

    /// The message the caller sees (never internal details).
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => "authentication required".into(),
            ApiError::AuthenticationFailed(message) => message.clone(),
            ApiError::Forbidden(message) | ApiError::Conflict(message) => message.clone(),
            ApiError::UnauthorizedField(what) => format!("not authorized to access {what}"),
            ApiError::BadUserInput { message, .. } => message.clone(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                format!("rate limit exceeded, retry in {retry_after_secs} s")
            }
            ApiError::TooManySubscriptions { limit } => format!(
                "at most {limit} live subscriptions per user: end one before starting another"
            ),
            ApiError::Internal(_) => "internal error".into(),
            ApiError::Rule { message, .. } => message.clone(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated | ApiError::AuthenticationFailed(_) => {
                ErrorCode::Unauthenticated
            }
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::UnauthorizedField(_) => ErrorCode::UnauthorizedFieldOrType,
            ApiError::BadUserInput { .. } => ErrorCode::BadUserInput,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::TooManySubscriptions { .. } => ErrorCode::TooManySubscriptions,
            ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::Rule { reason, .. } => reason.code(),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        if let ApiError::Internal(detail) = &err {
            tracing::error!(error = %detail, "internal error");
        }
        let code = err.code();
        let field = match &err {
            ApiError::BadUserInput { field, .. } | ApiError::Rule { field, .. } => field.clone(),
            _ => None,
        };
        let reason = err.reason().map(|r| r.name());
        let retry = match &err {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        async_graphql::Error::new(err.message()).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
            if let Some(retry) = retry {
                ext.set("retryAfter", retry);
            }
            if let Some(reason) = reason {
                ext.set("reason", reason);
            }
        })
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        // A unique-constraint violation is a caller's conflict, not our failure.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return ApiError::Conflict("a record with the same unique value already exists".into());
        }
        ApiError::Internal(err.to_string())
    }
}

/// Result alias for resolvers and services.
pub type ApiResult<T> = Result<T, ApiError>;

/// A request-level error object in the GraphQL response shape (used by the HTTP layer for errors
/// that happen before execution: 401, 400, 405, 413, 415).
pub fn request_error_body(message: &str, code: &str) -> serde_json::Value {
    serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    })
}

/// Codes answered before a GraphQL operation executes: by a subgraph's HTTP layer and request
/// limits (`http::codes`, `limits`), and by the router at the edge. With their descriptions,
/// for the error catalogue.
pub const TRANSPORT_CODES: &[(&str, &str)] = &[
    ("BAD_REQUEST", "The body is not a GraphQL request (HTTP 400)."),
    ("BATCHING_NOT_ALLOWED", "An array of operations in one request (HTTP 400): send one operation per request."),
    ("METHOD_NOT_ALLOWED", "A mutation over GET, or a method the endpoint does not serve (HTTP 405)."),
    ("NOT_ACCEPTABLE", "The `Accept` header allows neither `application/graphql-response+json` nor `application/json` (HTTP 406)."),
    ("PAYLOAD_TOO_LARGE", "The body exceeds the request limit, 2 MB by default (HTTP 413)."),
    ("SERVICE_UNAVAILABLE", "A backend the service needs does not answer (readiness, HTTP 503)."),
    ("MAX_DEPTH_EXCEEDED", "The operation nests deeper than the limit (12 by default)."),
    ("MAX_ALIASES_EXCEEDED", "The operation uses more aliases than the limit (30 by default)."),
    ("MAX_ROOT_FIELDS_EXCEEDED", "The operation asks for more root fields than the limit (20 by default)."),
    ("MAX_DIRECTIVES_EXCEEDED", "The operation uses more directives than the limit (50 by default)."),
    ("COST_LIMIT_EXCEEDED", "The operation's estimated cost (from its list sizes: `first`/`last`, nested connections multiplying) is over the limit: 20,000 at the router, 200,000 at a subgraph by default; `extensions.cost` and `maxCost` give both (HTTP 400 at the router)."),
    ("GRAPHQL_PARSE_FAILED", "The document is not valid GraphQL syntax."),
    ("GRAPHQL_VALIDATION_FAILED", "The document does not validate against the schema."),
    ("FORBIDDEN_ORIGIN", "The router refused the request's `Origin` (CORS allowlist, WebSocket upgrade)."),
    ("INTROSPECTION_DISABLED", "Introspection without a token holding the `schema:read` scope (HTTP 403 at the router)."),
    ("CSRF_PREVENTION_FAILED", "A request without a JSON content type lacks a preflight header such as `graphql-require-preflight` (HTTP 403; the router and every subgraph)."),
];

/// The catalogue of every `extensions.code` and `reason` the API can return, as published in
/// schema/errors.json: the kit's codes, the transport codes, and each domain's rule reasons.
pub fn catalogue(domains: &[(&str, &[Reason])]) -> serde_json::Value {
    let codes: Vec<serde_json::Value> = ErrorCode::ALL
        .iter()
        .map(|code| serde_json::json!({ "code": code.as_str(), "description": code.description() }))
        .collect();
    let transport: Vec<serde_json::Value> = TRANSPORT_CODES
        .iter()
        .map(|(code, description)| serde_json::json!({ "code": code, "description": description }))
        .collect();
    let mut reasons: Vec<serde_json::Value> = Vec::new();
    for (domain, list) in domains {
        for reason in list.iter() {
            reasons.push(serde_json::json!({
                "domain": domain,
                "reason": reason.name(),
                "code": reason.code().as_str(),
                "description": reason.description().trim(),
            }));
        }
    }
    serde_json::json!({
        "codes": codes,
        "transportCodes": transport,
        "reasons": reasons,
    })
}

/// Answers a value the schema refuses while the request is validated (a malformed `DateTime`
/// or `Date`, an unknown enum value, a wrong type, in a literal or a variable) as
/// BAD_USER_INPUT naming the input field (`extensions.field`), like a value a resolver refuses:
/// the scalars of [`crate::scalars`] check their format there, before any resolver runs.
pub struct BadValues;

impl async_graphql::extensions::ExtensionFactory for BadValues {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(BadValuesExtension)
    }
}

struct BadValuesExtension;

/// async-graphql's message for a refused argument value: `Invalid value for argument
/// "input.timeZone", expected type "TimeZone"`.
const INVALID_ARGUMENT: &str = "Invalid value for argument \"";

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for BadValuesExtension {
    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errors| errors.into_iter().map(classify_validation_error).collect())
    }
}

/// BAD_USER_INPUT and the field for a refused value; every other validation error unchanged.
fn classify_validation_error(mut error: async_graphql::ServerError) -> async_graphql::ServerError {
    let Some(rest) = error.message.strip_prefix(INVALID_ARGUMENT) else {
        return error;
    };
    let path = rest.split('"').next().unwrap_or_default();
    // The innermost named segment: `input.lines.0.daysPerPeriod` names `daysPerPeriod`.
    let field = path
        .rsplit('.')
        .find(|segment| !segment.is_empty() && !segment.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(path)
        .to_owned();
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", ErrorCode::BadUserInput.as_str());
    extensions.set("field", field);
    error
}

#[cfg(test)]
mod bad_value_tests {
    use super::*;

    #[test]
    fn names_the_innermost_field() {
        let error = classify_validation_error(async_graphql::ServerError::new(
            "Invalid value for argument \"input.lines.0.daysPerPeriod\", expected type \"Float\"",
            None,
        ));
        let extensions = error.extensions.expect("extensions");
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
        assert_eq!(
            extensions.get("field"),
            Some(&async_graphql::Value::from("daysPerPeriod"))
        );
        let other = classify_validation_error(async_graphql::ServerError::new(
            "Unknown field \"nope\" on type \"Query\".",
            None,
        ));
        assert!(other.extensions.is_none());
    }
}
