//! Sending limits and the slots taken in each minute window (domain/throttle.rs). A slot is
//! taken by a conditional increment in the hand-off's transaction, so concurrent senders never
//! take more slots than the limit and a rolled-back hand-off takes none.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter};

use erp_kit::TenantId;

use super::entities::{send_slot, sending_limit};

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
    let result = send_slot::Entity::insert(
        send_slot::Model {
            tenant_id: tenant.as_str().to_owned(),
            scope: scope.to_owned(),
            window_minute: window,
            used: 0,
        }
        .into_active_model(),
    )
    .on_conflict(
        OnConflict::columns([
            send_slot::Column::TenantId,
            send_slot::Column::Scope,
            send_slot::Column::WindowMinute,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await;
    match result {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(err) => return Err(err),
    }
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

/// Forgets the windows before `window` (any tenant): past windows never bind again.
pub async fn forget_windows_before(db: &impl ConnectionTrait, window: i64) -> Result<(), DbErr> {
    send_slot::Entity::delete_many()
        .filter(send_slot::Column::WindowMinute.lt(window))
        .exec(db)
        .await?;
    Ok(())
}
