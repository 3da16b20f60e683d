//! Exits: recording, cancelling and putting into effect an employee's departure.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use erp_kit::TenantId;

use super::entities::employee;
use crate::domain::exits::Departure;
use crate::domain::EmploymentStatus;

/// Writes a recorded exit on `found`; `effective`: it takes effect now (status `terminated`,
/// `left_at` set).
pub async fn record_exit(
    db: &impl ConnectionTrait,
    found: employee::Model,
    departure: &Departure,
    actor: &str,
    effective: bool,
    now: DateTime<Utc>,
) -> Result<employee::Model, DbErr> {
    let mut active: employee::ActiveModel = found.into();
    active.last_working_day = Set(Some(departure.last_working_day));
    active.exit_reason = Set(Some(departure.reason.as_str().to_owned()));
    active.exit_notes = Set(departure.notes.clone());
    active.exit_recorded_by = Set(Some(actor.to_owned()));
    active.exit_recorded_at = Set(Some(now));
    if effective {
        active.status = Set(EmploymentStatus::Terminated.as_str().to_owned());
        active.left_at = Set(Some(now));
    }
    active.updated_at = Set(now);
    active.update(db).await
}

/// Clears a scheduled exit.
pub async fn clear_exit(
    db: &impl ConnectionTrait,
    found: employee::Model,
    now: DateTime<Utc>,
) -> Result<employee::Model, DbErr> {
    let mut active: employee::ActiveModel = found.into();
    active.last_working_day = Set(None);
    active.exit_reason = Set(None);
    active.exit_notes = Set(None);
    active.exit_recorded_by = Set(None);
    active.exit_recorded_at = Set(None);
    active.updated_at = Set(now);
    active.update(db).await
}

/// Puts a scheduled exit into effect if it still is one due on `today` (status `terminated`,
/// `left_at` = now): answers the updated record, or None when there is nothing to do (it was
/// cancelled, or another replica's pass applied it first: the conditional update is what
/// makes two passes publish `employee.left` once).
pub async fn take_effect(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Option<employee::Model>, DbErr> {
    let updated = employee::Entity::update_many()
        .col_expr(
            employee::Column::Status,
            Expr::value(EmploymentStatus::Terminated.as_str()),
        )
        .col_expr(employee::Column::LeftAt, Expr::value(now))
        .col_expr(employee::Column::UpdatedAt, Expr::value(now))
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .filter(employee::Column::Id.eq(id))
        .filter(employee::Column::LeftAt.is_null())
        .filter(employee::Column::LastWorkingDay.lte(today))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(None);
    }
    super::people::employee(db, tenant, id).await
}

/// The exits due on `today` (a last working day today or past, not yet in effect), across
/// tenants, at most `limit`, as (tenant, employee id): the exit scheduler's scan (the one
/// read of this subgraph that is not tenant-scoped: each exit is then applied in its tenant).
pub async fn due_exits(
    db: &impl ConnectionTrait,
    today: NaiveDate,
    limit: u64,
) -> Result<Vec<(String, String)>, DbErr> {
    employee::Entity::find()
        .select_only()
        .column(employee::Column::TenantId)
        .column(employee::Column::Id)
        .filter(employee::Column::LastWorkingDay.lte(today))
        .filter(employee::Column::LeftAt.is_null())
        .order_by_asc(employee::Column::LastWorkingDay)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}
