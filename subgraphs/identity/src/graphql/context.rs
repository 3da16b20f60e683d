//! What every resolver file shares: the use cases from the schema data, timestamps.

use async_graphql::{Context, Result};

use erp_kit::scalars::DateTime;
use erp_kit::ApiError;

use crate::app::Identity;

/// The use cases, from the schema data.
pub(super) fn identity<'a>(ctx: &Context<'a>) -> Result<&'a Identity> {
    ctx.data::<Identity>()
        .map_err(|_| ApiError::internal("identity use cases missing from schema data").into())
}

/// A stored Unix-milliseconds timestamp.
pub(super) fn millis(ms: i64) -> DateTime {
    DateTime::from_millis(ms).unwrap_or_default()
}
