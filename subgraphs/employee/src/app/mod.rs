//! The use cases of the employee domain, on [`Employee`]: one function per mutation, each
//! reading its facts through `crate::store`, applying the rules of `crate::domain`, writing,
//! enqueueing its event in the same transaction, committing, waking the outbox relay and (for
//! live boards) publishing; plus the reads the GraphQL layer serves. Nothing here knows
//! GraphQL.

pub mod attendance;
pub mod exits;
pub mod import;
pub mod leave;
pub mod okr;
pub mod org;
pub mod people;
pub mod punch_queue;

use sea_orm::{DatabaseConnection, DbErr};

use erp_kit::cache::SharedCache;
use std::sync::Arc;

use erp_kit::crypto::{FieldCipher, KeyEncryptionKey};
use erp_kit::events::Outbox;
use erp_kit::ApiError;

use crate::domain::reasons;

/// The employee domain's use cases over its database, outbox, field cipher and cache.
#[derive(Clone)]
pub struct Employee {
    db: DatabaseConnection,
    outbox: Outbox,
    cipher: FieldCipher,
    cache: SharedCache,
    /// Check-ins and check-outs waiting to be written together (group commit).
    punches: punch_queue::PunchQueue,
    /// Seals the pay facts finance's payroll reads from `employee.compensation_changed`
    /// ([`erp_kit::crypto::seal_in_transit`]); None: the event carries ids only.
    transit: Option<Arc<dyn KeyEncryptionKey>>,
}

impl Employee {
    pub fn new(
        db: DatabaseConnection,
        outbox: Outbox,
        cipher: FieldCipher,
        cache: SharedCache,
    ) -> Self {
        Self {
            punches: punch_queue::PunchQueue::default(),
            db,
            outbox,
            cipher,
            cache,
            transit: None,
        }
    }

    /// Seals the pay facts of `employee.compensation_changed` for payroll under `kek`.
    pub fn with_transit_key(mut self, kek: Arc<dyn KeyEncryptionKey>) -> Self {
        self.transit = Some(kek);
        self
    }

    /// The outbox the use cases write their events to (its relay publishes them).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

/// A failed insert: a unique-constraint violation is the domain's ALREADY_EXISTS, said with
/// `message`; anything else stays what it is.
fn already_exists(message: impl Into<String>) -> impl FnOnce(DbErr) -> ApiError {
    move |err| match ApiError::from(err) {
        ApiError::Conflict(_) => ApiError::rule(reasons::ALREADY_EXISTS, message),
        other => other,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// FORBIDDEN with NO_EMPLOYEE_RECORD: the caller's user has no employee record.
fn no_employee_record() -> ApiError {
    ApiError::rule(
        reasons::NO_EMPLOYEE_RECORD,
        "no employee record is linked to this user",
    )
}

/// A stored shift with its parsed rules.
#[derive(Debug, Clone)]
pub struct AppliedShift {
    pub model: crate::store::attendance::shift::Model,
    pub rules: crate::domain::attendance::ShiftRules,
}

/// Whose shift is asked for: an employee and their department (whose default shift applies
/// when the employee has none of their own).
#[derive(Debug, Clone, Copy)]
pub struct ShiftSubject<'a> {
    pub employee_id: &'a str,
    pub department_id: Option<&'a str>,
}

impl<'a> From<&'a crate::store::entities::employee::Model> for ShiftSubject<'a> {
    fn from(employee: &'a crate::store::entities::employee::Model) -> Self {
        Self {
            employee_id: &employee.id,
            department_id: employee.department_id.as_deref(),
        }
    }
}
