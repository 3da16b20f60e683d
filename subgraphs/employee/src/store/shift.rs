//! Shifts and their assignments to employees (or as a department's default).

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{shift, shift_assignment};
use crate::domain::shift::{ShiftRules, ShiftTarget};

pub async fn insert_shift(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
    rules: &ShiftRules,
    now_ms: i64,
) -> Result<shift::Model, DbErr> {
    shift::ActiveModel {
        id: Set(super::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        name: Set(name.to_owned()),
        start_time: Set(rules.start.format("%H:%M").to_string()),
        end_time: Set(rules.end.format("%H:%M").to_string()),
        grace_minutes: Set(rules.grace_minutes as i32),
        half_day_minutes: Set(rules.half_day_minutes as i32),
        full_day_minutes: Set(rules.full_day_minutes as i32),
        working_days: Set(rules.working_days.bits()),
        time_zone: Set(rules.time_zone.name().to_owned()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn shift(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<shift::Model>, DbErr> {
    shift::Entity::find_by_id(id.to_owned())
        .filter(shift::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn list_shifts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<shift::Model>, DbErr> {
    let query = shift::Entity::find().filter(shift::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, shift::Column::Id, page).all(db).await
}

pub async fn insert_assignment(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    shift_id: &str,
    target: &ShiftTarget,
    effective_from: NaiveDate,
    now_ms: i64,
) -> Result<shift_assignment::Model, DbErr> {
    shift_assignment::ActiveModel {
        id: Set(super::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        target_kind: Set(target.kind().to_owned()),
        target_id: Set(target.id().to_owned()),
        shift_id: Set(shift_id.to_owned()),
        effective_from: Set(effective_from.to_string()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

/// The assignments effective by `day` of these employees and departments, each with its
/// shift, oldest effective first, in one query (on the check-in path and in every batch of
/// the board and the loaders).
pub async fn assignments_by(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_ids: &[&str],
    department_ids: &[&str],
    day: NaiveDate,
) -> Result<Vec<(shift_assignment::Model, Option<shift::Model>)>, DbErr> {
    let assignments = shift_assignment::Entity::find()
        .find_also_related(shift::Entity)
        .filter(shift_assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(shift_assignment::Column::EffectiveFrom.lte(day.to_string()))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(shift_assignment::Column::TargetKind.eq("employee"))
                        .add(
                            shift_assignment::Column::TargetId.is_in(employee_ids.iter().copied()),
                        ),
                )
                .add(
                    Condition::all()
                        .add(shift_assignment::Column::TargetKind.eq("department"))
                        .add(
                            shift_assignment::Column::TargetId
                                .is_in(department_ids.iter().copied()),
                        ),
                ),
        )
        .order_by_asc(shift_assignment::Column::EffectiveFrom)
        .all(db)
        .await?;
    // The joined shift is the same tenant's (ids are unique, but a row is never trusted
    // across tenants).
    Ok(assignments
        .into_iter()
        .map(|(assignment, shift)| {
            let shift = shift.filter(|s| s.tenant_id == tenant.as_str());
            (assignment, shift)
        })
        .collect())
}
