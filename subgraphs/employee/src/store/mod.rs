//! Persistence: tenant-scoped queries and writes, one function each, taking the connection or
//! the caller's write transaction and the [`TenantId`](erp_kit::TenantId). Every read filters
//! by the tenant, so a row of another tenant is indistinguishable from a missing one. No rule
//! is decided here: the use cases (`crate::app`) read facts through these functions, apply the
//! domain's rules, and write through them.

pub mod attendance;
pub mod entities;
pub mod exits;
pub mod leave;
pub mod okr;
pub mod org;
pub mod pages;
pub mod people;

/// Bound on the ids of one `IN (...)` list: PostgreSQL and SQLite both cap bind parameters.
const IN_LIST_CHUNK: usize = 500;
