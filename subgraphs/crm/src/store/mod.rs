//! Persistence: tenant-scoped queries and writes, one function each, taking the connection or
//! the caller's write transaction and the [`TenantId`](erp_kit::TenantId). Every read filters
//! by the tenant, so a row of another tenant is indistinguishable from a missing one; every
//! list that row rules apply to takes the owners the viewer may see (`None`: all). No rule is
//! decided here: the use cases (`crate::app`) read facts through these functions, apply the
//! domain's rules, and write through them.

pub mod audit;
pub mod bulk;
pub mod clients;
pub mod directory;
pub mod duplicates;
pub mod entities;
pub mod handover;
pub mod import;
pub mod leads;
pub mod pages;
pub mod pipeline;
pub mod quotes;

/// A new time-ordered id (UUIDv7): ids sort by creation, which keyset pages rely on.
pub use erp_kit::db::new_id;

/// Bound on the ids of one `IN (...)` list: PostgreSQL and SQLite both cap bind parameters.
pub const IN_LIST_CHUNK: usize = 500;
