//! Persistence: tenant-scoped queries and writes, one function each, taking the connection or
//! the caller's write transaction and the [`TenantId`](erp_kit::TenantId). Every read filters
//! by the tenant. No rule is decided here.

pub mod bulk;
pub mod campaigns;
pub mod contacts;
pub mod conversions;
pub mod entities;
pub mod forms;
pub mod journeys;
pub mod lease;
pub mod queue;
pub mod segments;
pub mod social;
pub mod throttle;
pub mod webhooks;

pub use erp_kit::db::new_id;

/// Bound on the ids of one `IN (...)` list: PostgreSQL and SQLite both cap bind parameters.
pub const IN_LIST_CHUNK: usize = 500;
