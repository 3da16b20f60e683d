//! One error type for every subgraph, mapped to stable `extensions.code` values.
//!
//! Internal details (database messages, broker errors) are logged with the request id and never
//! reach the caller: `Internal` answers with a generic message.

use async_graphql::ErrorExtensions;

// ApiError deliberately does not implement Display: async-graphql converts every Display type
// into an error WITHOUT extensions, and this conversion must be the only one.

/// The stable error codes a client can branch on. Never rename one: add a new one instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    RateLimited {
        retry_after_secs: u64,
    },
    /// The caller already holds `limit` live subscriptions in this process.
    TooManySubscriptions {
        limit: usize,
    },
    /// The message is for the logs only.
    Internal(String),
}

impl ApiError {
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
            ApiError::RateLimited { retry_after_secs } => {
                format!("rate limit exceeded, retry in {retry_after_secs} s")
            }
            ApiError::TooManySubscriptions { limit } => format!(
                "at most {limit} live subscriptions per user: end one before starting another"
            ),
            ApiError::Internal(_) => "internal error".into(),
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
            ApiError::BadUserInput { field, .. } => field.clone(),
            _ => None,
        };
        let retry = match &err {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
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
