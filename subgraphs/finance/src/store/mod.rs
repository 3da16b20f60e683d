//! Tenant-scoped queries and writes. Every function takes the caller's [`erp_kit::TenantId`]
//! and a connection (the pool, or the use case's write transaction).

pub mod assets;
pub mod billing;
pub mod control_totals;
pub mod crm_clients;
pub mod documents;
pub mod entities;
pub mod expenses;
pub mod idempotency;
pub mod ledger;
pub mod payroll;
pub mod revaluation;
