//! Persistence of the identity domain: queries and writes, nothing else (the rules are in
//! `domain`, the use cases in `app`).
//!
//! Every lookup that serves a tenant's caller takes the tenant. The exceptions are the steps of
//! a login, which come before any tenant is known and are keyed by a credential: a user by
//! email (the login name, unique across tenants), by an invite, refresh or MFA token's hash, or
//! by the id an MFA session holds. Those functions say so.

pub mod entities;
pub mod factors;
pub mod keys;
pub mod roles;
pub mod sessions;
pub mod tenants;
pub mod users;

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
