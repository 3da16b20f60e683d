//! The message table as the send queue: one row per (campaign, contact) inserted when the
//! campaign starts (the unique send key: a second insert does nothing), leased by a sender with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer: a plain update), marked
//! `handed_off` in its own commit before the SMTP hand-off, then `sent`. A row handed off and
//! never confirmed (the sender died mid-hand-off) is never sent again: at most once.
//!
//! Statuses: `queued` -> `leased` -> `handed_off` -> `sent`, or `skipped` (suppressed, no
//! consent, ...) or `failed`; a lease that expires puts a `leased` row back in play.

use std::collections::BTreeMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QuerySelect, Statement,
};

use erp_kit::TenantId;

use super::entities::message;

/// Inserts the messages of a campaign that do not exist yet (the send key makes a repeat a
/// no-op); answers how many rows were new.
pub async fn enqueue(db: &impl ConnectionTrait, rows: Vec<message::Model>) -> Result<u64, DbErr> {
    let mut inserted = 0;
    for chunk in rows.chunks(200) {
        let result = message::Entity::insert_many(
            chunk
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .on_conflict(
            OnConflict::columns([
                message::Column::TenantId,
                message::Column::CampaignId,
                message::Column::ContactId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await;
        match result {
            Ok(n) => inserted += n,
            Err(DbErr::RecordNotInserted) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(inserted)
}

#[derive(Debug, FromQueryResult)]
struct Key {
    tenant_id: String,
    id: String,
}

/// Leases up to `limit` messages whose campaign is sending (queued, or leased with an expired
/// lease) to `worker` until `lease_until`; answers the leased rows.
pub async fn lease(
    db: &impl ConnectionTrait,
    worker: &str,
    now_ms: i64,
    lease_until: i64,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let backend = db.get_database_backend();
    let lock = if backend == DatabaseBackend::Postgres {
        " FOR UPDATE OF m SKIP LOCKED"
    } else {
        ""
    };
    let p = |n: usize| {
        if backend == DatabaseBackend::Postgres {
            format!("${n}")
        } else {
            "?".into()
        }
    };
    let select = format!(
        "SELECT m.tenant_id, m.id FROM mkt_messages m JOIN mkt_campaigns c \
         ON c.tenant_id = m.tenant_id AND c.id = m.campaign_id \
         WHERE c.status = 'sending' AND (m.status = 'queued' OR (m.status = 'leased' AND m.lease_until < {})) \
         AND (m.not_before IS NULL OR m.not_before <= {}) \
         ORDER BY m.queued_at, m.id LIMIT {}{lock}",
        p(1),
        p(2),
        p(3)
    );
    let keys = Key::find_by_statement(Statement::from_sql_and_values(
        backend,
        select,
        [now_ms.into(), now_ms.into(), (limit as i64).into()],
    ))
    .all(db)
    .await?;
    let mut leased = Vec::with_capacity(keys.len());
    for key in keys {
        message::Entity::update_many()
            .col_expr(message::Column::Status, "leased".into())
            .col_expr(message::Column::LeaseUntil, lease_until.into())
            .col_expr(message::Column::LeasedBy, worker.into())
            .filter(message::Column::TenantId.eq(key.tenant_id.as_str()))
            .filter(message::Column::Id.eq(key.id.as_str()))
            .exec(db)
            .await?;
        if let Some(model) = message::Entity::find_by_id((key.tenant_id, key.id))
            .one(db)
            .await?
        {
            leased.push(model);
        }
    }
    Ok(leased)
}

/// Moves a message `from` -> `to` if it is still `from` and leased by `worker` (answers
/// whether it moved), setting the given columns.
pub async fn transition(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    worker: &str,
    from: &str,
    to: &str,
    set: &[(message::Column, sea_orm::Value)],
) -> Result<bool, DbErr> {
    let mut update = message::Entity::update_many()
        .col_expr(message::Column::Status, to.into())
        .filter(message::Column::TenantId.eq(tenant))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq(from))
        .filter(message::Column::LeasedBy.eq(worker));
    for (column, value) in set {
        update = update.col_expr(
            *column,
            sea_orm::sea_query::SimpleExpr::Value(value.clone()),
        );
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Puts a leased message back in the queue (its campaign was paused).
pub async fn release(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    worker: &str,
) -> Result<(), DbErr> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, "queued".into())
        .col_expr(message::Column::LeaseUntil, Option::<i64>::None.into())
        .col_expr(message::Column::LeasedBy, Option::<String>::None.into())
        .filter(message::Column::TenantId.eq(tenant))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq("leased"))
        .filter(message::Column::LeasedBy.eq(worker))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts a leased message back in the queue until `not_before` (a sending window was full):
/// deferred, not dropped, and not counted as an attempt.
pub async fn defer(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    worker: &str,
    not_before: i64,
) -> Result<bool, DbErr> {
    Ok(message::Entity::update_many()
        .col_expr(message::Column::Status, "queued".into())
        .col_expr(message::Column::LeaseUntil, Option::<i64>::None.into())
        .col_expr(message::Column::LeasedBy, Option::<String>::None.into())
        .col_expr(message::Column::NotBefore, not_before.into())
        .filter(message::Column::TenantId.eq(tenant))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq("leased"))
        .filter(message::Column::LeasedBy.eq(worker))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// How many of a campaign's queued messages wait for a later sending window.
pub async fn deferred_count(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(message::Column::Status.eq("queued"))
        .filter(message::Column::NotBefore.is_not_null())
        .count(db)
        .await
}

/// Skips every not yet handed-off message of a cancelled campaign.
pub async fn cancel_pending(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<(), DbErr> {
    message::Entity::update_many()
        .col_expr(message::Column::Status, "skipped".into())
        .col_expr(message::Column::SkipReason, "cancelled".into())
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(message::Column::Status.is_in(["queued", "leased"]))
        .exec(db)
        .await?;
    Ok(())
}

/// How many messages of a campaign are in each status.
pub async fn status_counts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<BTreeMap<String, i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        status: String,
        n: i64,
    }
    let rows = message::Entity::find()
        .select_only()
        .column(message::Column::Status)
        .column_as(message::Column::Id.count(), "n")
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .group_by(message::Column::Status)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.n)).collect())
}

/// Opened and clicked counts of a campaign's messages.
pub async fn engagement(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<(u64, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let base = || {
        message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant.as_str()))
            .filter(message::Column::CampaignId.eq(campaign_id))
    };
    let opened = base()
        .filter(message::Column::OpenedAt.is_not_null())
        .count(db)
        .await?;
    let clicked = base()
        .filter(message::Column::ClickedAt.is_not_null())
        .count(db)
        .await?;
    Ok((opened, clicked))
}

/// The messages of a campaign to a contact (at most one by the send key).
pub async fn message_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    contact_id: &str,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(message::Column::ContactId.eq(contact_id))
        .one(db)
        .await
}

/// Records the first open or click of a message.
pub async fn mark_engaged(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    column: message::Column,
    at: i64,
) -> Result<(), DbErr> {
    message::Entity::update_many()
        .col_expr(column, at.into())
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::Id.eq(id))
        .filter(column.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The messages of a campaign (for the funnel and the tests), any order.
pub async fn of_campaign(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .all(db)
        .await
}

pub async fn message(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// Records the provider's bounce report on a message (the latest class wins); false when the
/// tenant has no such message.
pub async fn mark_bounced(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    kind: &str,
    at: i64,
) -> Result<bool, DbErr> {
    Ok(message::Entity::update_many()
        .col_expr(message::Column::BounceKind, kind.into())
        .col_expr(message::Column::BouncedAt, at.into())
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Records a spam complaint on a message (the first one's time stays); false when the tenant
/// has no such message.
pub async fn mark_complained(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    at: i64,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::{Expr, Func};
    Ok(message::Entity::update_many()
        .col_expr(
            message::Column::ComplainedAt,
            Func::coalesce([
                Expr::col(message::Column::ComplainedAt).into(),
                Expr::value(at),
            ])
            .into(),
        )
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Bounced and complained counts of a campaign's messages.
pub async fn reported(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<(u64, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let base = || {
        message::Entity::find()
            .filter(message::Column::TenantId.eq(tenant.as_str()))
            .filter(message::Column::CampaignId.eq(campaign_id))
    };
    let bounced = base()
        .filter(message::Column::BouncedAt.is_not_null())
        .count(db)
        .await?;
    let complained = base()
        .filter(message::Column::ComplainedAt.is_not_null())
        .count(db)
        .await?;
    Ok((bounced, complained))
}
