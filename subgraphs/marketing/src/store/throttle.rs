//! Sending limits, sending providers and the slots taken in each window (domain/throttle.rs). A slot is
//! taken by a conditional increment in the hand-off's transaction, so concurrent senders never
//! take more slots than the limit and a rolled-back hand-off takes none.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};

use erp_kit::db::insert_unless_present;
use erp_kit::TenantId;

use super::entities::{provider, send_slot, sending_limit};
use crate::domain::throttle::{WindowUnit, PROVIDER_SCOPE_PREFIX};

pub async fn limits(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Option<sending_limit::Model>, DbErr> {
    sending_limit::Entity::find_by_id(tenant.as_str().to_owned())
        .one(db)
        .await
}

/// Sets a tenant's limits (insert or replace).
pub async fn set_limits(
    db: &impl ConnectionTrait,
    model: sending_limit::Model,
) -> Result<(), DbErr> {
    sending_limit::Entity::insert(model.into_active_model())
        .on_conflict(
            OnConflict::column(sending_limit::Column::TenantId)
                .update_columns([
                    sending_limit::Column::PerMinute,
                    sending_limit::Column::PerDomainPerMinute,
                    sending_limit::Column::UpdatedBy,
                    sending_limit::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Takes one slot of `scope` in `window` if fewer than `limit` are taken (answers whether it
/// was taken).
pub async fn take_slot(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    scope: &str,
    window: i64,
    limit: i32,
) -> Result<bool, DbErr> {
    insert_unless_present(
        db,
        send_slot::Entity,
        send_slot::Model {
            tenant_id: tenant.as_str().to_owned(),
            scope: scope.to_owned(),
            window_minute: window,
            used: 0,
        }
        .into_active_model(),
        [
            send_slot::Column::TenantId,
            send_slot::Column::Scope,
            send_slot::Column::WindowMinute,
        ],
    )
    .await?;
    Ok(send_slot::Entity::update_many()
        .col_expr(
            send_slot::Column::Used,
            Expr::col(send_slot::Column::Used).add(1),
        )
        .filter(send_slot::Column::TenantId.eq(tenant.as_str()))
        .filter(send_slot::Column::Scope.eq(scope))
        .filter(send_slot::Column::WindowMinute.eq(window))
        .filter(send_slot::Column::Used.lt(limit))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Gives back a slot taken in the same transaction (another limit of the message was full).
pub async fn give_back_slot(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    scope: &str,
    window: i64,
) -> Result<(), DbErr> {
    send_slot::Entity::update_many()
        .col_expr(
            send_slot::Column::Used,
            Expr::col(send_slot::Column::Used).sub(1),
        )
        .filter(send_slot::Column::TenantId.eq(tenant.as_str()))
        .filter(send_slot::Column::Scope.eq(scope))
        .filter(send_slot::Column::WindowMinute.eq(window))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the windows that can never bind again at `now_ms` (any tenant): the minute
/// windows (tenant, recipient domain) older than an hour, a provider's second windows older
/// than an hour, its hour windows older than two days and its day windows older than a week
/// (kept that long for the providers' usage figures).
pub async fn forget_windows(db: &impl ConnectionTrait, now_ms: i64) -> Result<(), DbErr> {
    use sea_orm::Condition;
    let provider = |unit: &str| format!("{PROVIDER_SCOPE_PREFIX}%:{unit}");
    let old = [
        (
            Condition::all()
                .add(send_slot::Column::Scope.not_like(format!("{PROVIDER_SCOPE_PREFIX}%"))),
            WindowUnit::Minute.window_of(now_ms) - 60,
        ),
        (
            Condition::all().add(send_slot::Column::Scope.like(provider("second"))),
            WindowUnit::Second.window_of(now_ms) - 3_600,
        ),
        (
            Condition::all().add(send_slot::Column::Scope.like(provider("hour"))),
            WindowUnit::Hour.window_of(now_ms) - 48,
        ),
        (
            Condition::all().add(send_slot::Column::Scope.like(provider("day"))),
            WindowUnit::Day.window_of(now_ms) - 7,
        ),
    ];
    for (scopes, before) in old {
        send_slot::Entity::delete_many()
            .filter(scopes.add(send_slot::Column::WindowMinute.lt(before)))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// How many slots of `scope` are taken in `window` (0 when none).
pub async fn used(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    scope: &str,
    window: i64,
) -> Result<i32, DbErr> {
    Ok(
        send_slot::Entity::find_by_id((tenant.as_str().to_owned(), scope.to_owned(), window))
            .one(db)
            .await?
            .map_or(0, |slot| slot.used),
    )
}

/// A provider of the tenant.
pub async fn provider(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<provider::Model>, DbErr> {
    provider::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// The tenant's provider of that name.
pub async fn provider_named(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<provider::Model>, DbErr> {
    provider::Entity::find()
        .filter(provider::Column::TenantId.eq(tenant.as_str()))
        .filter(provider::Column::Name.eq(name))
        .one(db)
        .await
}

/// The tenant's default provider, if it has one.
pub async fn default_provider(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Option<provider::Model>, DbErr> {
    provider::Entity::find()
        .filter(provider::Column::TenantId.eq(tenant.as_str()))
        .filter(provider::Column::IsDefault.eq(true))
        .one(db)
        .await
}

/// The tenant's providers, by name.
pub async fn providers(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<provider::Model>, DbErr> {
    provider::Entity::find()
        .filter(provider::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(provider::Column::Name)
        .all(db)
        .await
}

pub async fn insert_provider(
    db: &impl ConnectionTrait,
    model: provider::Model,
) -> Result<provider::Model, DbErr> {
    provider::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn update_provider(
    db: &impl ConnectionTrait,
    model: provider::Model,
) -> Result<provider::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// No provider of the tenant but `except_id` is the default any more.
pub async fn clear_default(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    except_id: &str,
) -> Result<(), DbErr> {
    provider::Entity::update_many()
        .col_expr(provider::Column::IsDefault, false.into())
        .filter(provider::Column::TenantId.eq(tenant.as_str()))
        .filter(provider::Column::Id.ne(except_id))
        .filter(provider::Column::IsDefault.eq(true))
        .exec(db)
        .await?;
    Ok(())
}
