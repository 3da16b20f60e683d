//! Database migrations of the relational subgraphs.
//!
//! One migrator per domain, each with its own bookkeeping table (`<domain>_migrations`), so the
//! domains can live in separate PostgreSQL databases in production and share one SQLite file in
//! the embedded mode. The same migrations run on both backends (sea-query's schema builder).

pub mod crm;
pub mod data_keys;
pub mod employee;
pub mod finance;
pub mod identity;
pub mod inbox;
pub mod marketing;
pub mod outbox;

pub use sea_orm_migration;
