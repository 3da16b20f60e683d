//! The use cases of the CRM domain, on [`Crm`]: one function per mutation, each reading its
//! facts through `crate::store`, applying the rules of `crate::domain`, writing, enqueueing
//! its event in the same transaction, committing, waking the outbox relay and (for the live
//! board) publishing; plus the reads the GraphQL layer serves, each under the row rules of
//! the [`Viewer`]. Nothing here knows GraphQL.

pub mod bulk;
pub mod clients;
pub mod duplicates;
pub mod import;
pub mod intake;
pub mod leads;
pub mod pipeline;
pub mod quotes;
pub mod team;

use sea_orm::{DatabaseConnection, DbErr};

use erp_kit::cache::SharedCache;
use erp_kit::db::WriteTransaction;
use erp_kit::events::Outbox;
use erp_kit::{ApiError, ApiResult, TenantId};

use crate::domain::reasons;
use crate::domain::visibility::Visibility;

/// How many people of a company, and opportunities of a client, a client's fields show (the
/// root lists page through all of them).
pub const NESTED_LIST_LIMIT: u64 = 100;

/// The CRM's use cases over its database, outbox and cache (live board messages).
#[derive(Clone)]
pub struct Crm {
    db: DatabaseConnection,
    outbox: Outbox,
    cache: SharedCache,
}

/// The caller as the row rules see them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant: TenantId,
    /// The identity user id: what owns CRM records.
    pub user_id: String,
    /// `crm:admin`: every record of the tenant, and the tenant's set-up (pipelines, price
    /// lists, rules, settings).
    pub admin: bool,
}

impl Crm {
    pub fn new(db: DatabaseConnection, outbox: Outbox, cache: SharedCache) -> Self {
        Self { db, outbox, cache }
    }

    /// The outbox the use cases write their events to (its relay publishes them).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Commits a write and wakes the outbox relay for the events it enqueued.
    async fn commit(&self, txn: WriteTransaction) -> Result<(), DbErr> {
        txn.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}

/// A failed insert: a unique-constraint violation is ALREADY_EXISTS, said with `message`;
/// anything else stays what it is.
fn already_exists(message: impl Into<String>) -> impl FnOnce(DbErr) -> ApiError {
    move |err| match ApiError::from(err) {
        ApiError::Conflict(_) => ApiError::rule(reasons::ALREADY_EXISTS, message),
        other => other,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// NOT_FOUND for a record the viewer may not see: another team's record is as invisible as
/// another tenant's.
fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(what.to_owned())
}

/// The record if the viewer sees its owner, else NOT_FOUND.
fn visible<T>(
    visibility: &Visibility,
    record: Option<T>,
    owner: impl Fn(&T) -> Option<&str>,
    what: &str,
) -> ApiResult<T> {
    match record {
        Some(record) if visibility.sees(owner(&record)) => Ok(record),
        _ => Err(not_found(what)),
    }
}

/// FORBIDDEN unless the viewer administers the tenant's CRM.
fn require_admin(viewer: &Viewer, what: &str) -> ApiResult<()> {
    if viewer.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what} needs the `crm:admin` scope"
        )))
    }
}
