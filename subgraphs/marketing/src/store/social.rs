//! Channel accounts, social posts (the publisher's queue: leased like messages, store/lease.rs)
//! and the CRM leads posts brought.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QuerySelect,
};

use erp_kit::db::insert_unless_present;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{channel_account, social_conversion, social_post};
use super::lease::{lease_by_keys, LeaseByKeys};
use super::queue::param;

/// Inserts an account; false when the tenant has one of that kind and handle already.
pub async fn insert_account(
    db: &impl ConnectionTrait,
    model: channel_account::Model,
) -> Result<bool, DbErr> {
    insert_unless_present(
        db,
        channel_account::Entity,
        model,
        [
            channel_account::Column::TenantId,
            channel_account::Column::Kind,
            channel_account::Column::Handle,
        ],
    )
    .await
}

pub async fn account(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<channel_account::Model>, DbErr> {
    channel_account::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// An account locked for the rest of the transaction: `FOR UPDATE` to disable or enable it,
/// `FOR SHARE` to schedule one of its posts (so a scheduling waits for a disabling, and a
/// disabling for the schedulings under way). Always taken before a post's lock.
pub async fn lock_account(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    exclusive: bool,
) -> Result<Option<channel_account::Model>, DbErr> {
    let query = channel_account::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()));
    if exclusive {
        query.lock_exclusive().one(db).await
    } else {
        query.lock_shared().one(db).await
    }
}

pub async fn update_account(
    db: &impl ConnectionTrait,
    model: channel_account::Model,
) -> Result<channel_account::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// Takes every scheduled post of an account back to draft (unscheduled, its lease dropped,
/// its version moved on so a publisher that leased it does not hand it off); answers how
/// many.
pub async fn unschedule_account_posts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    account_id: &str,
    now_ms: i64,
) -> Result<u64, DbErr> {
    let result = social_post::Entity::update_many()
        .col_expr(social_post::Column::Status, Expr::value("draft"))
        .col_expr(
            social_post::Column::ScheduledAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            social_post::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            social_post::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            social_post::Column::Version,
            Expr::col(social_post::Column::Version).add(1),
        )
        .col_expr(social_post::Column::UpdatedAt, Expr::value(now_ms))
        .filter(social_post::Column::TenantId.eq(tenant.as_str()))
        .filter(social_post::Column::AccountId.eq(account_id))
        .filter(social_post::Column::Status.eq("scheduled"))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// A page of the tenant's accounts in id order (oldest first).
pub async fn accounts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<channel_account::Model>, DbErr> {
    let query = channel_account::Entity::find()
        .filter(channel_account::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, channel_account::Column::Id, page)
        .all(db)
        .await
}

/// The accounts of these ids (any tenant's: the loader's keys carry the tenant).
pub async fn accounts_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<Vec<channel_account::Model>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IN_LIST_CHUNK) {
        found.extend(
            channel_account::Entity::find()
                .filter(channel_account::Column::TenantId.eq(tenant.as_str()))
                .filter(channel_account::Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

pub async fn insert_post(
    db: &impl ConnectionTrait,
    model: social_post::Model,
) -> Result<social_post::Model, DbErr> {
    social_post::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn post(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<social_post::Model>, DbErr> {
    social_post::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// A post, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`).
pub async fn lock_post(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<social_post::Model>, DbErr> {
    social_post::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn update_post(
    db: &impl ConnectionTrait,
    model: social_post::Model,
) -> Result<social_post::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// A page of the tenant's posts in id order (ids are time-ordered: oldest first), optionally
/// only those of one status or one account.
pub async fn posts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    status: Option<&str>,
    account_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<social_post::Model>, DbErr> {
    let mut query =
        social_post::Entity::find().filter(social_post::Column::TenantId.eq(tenant.as_str()));
    if let Some(status) = status {
        query = query.filter(social_post::Column::Status.eq(status));
    }
    if let Some(account_id) = account_id {
        query = query.filter(social_post::Column::AccountId.eq(account_id));
    }
    keyset_page(query, social_post::Column::Id, page)
        .all(db)
        .await
}

/// The post whose public click link has this key (the link carries no tenant).
pub async fn by_tracking_key(
    db: &impl ConnectionTrait,
    tracking_key: &str,
) -> Result<Option<social_post::Model>, DbErr> {
    social_post::Entity::find()
        .filter(social_post::Column::TrackingKey.eq(tracking_key))
        .one(db)
        .await
}

/// Counts a followed click link.
pub async fn count_click(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<(), DbErr> {
    social_post::Entity::update_many()
        .col_expr(
            social_post::Column::Clicks,
            Expr::col(social_post::Column::Clicks).add(1),
        )
        .filter(social_post::Column::TenantId.eq(tenant.as_str()))
        .filter(social_post::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Leases up to `limit` scheduled posts due at `now_ms` (not leased, or whose lease expired)
/// to `worker` until `lease_until`, every tenant's; answers them, the most overdue first.
pub async fn lease_due(
    db: &impl ConnectionTrait,
    worker: &str,
    now_ms: i64,
    lease_until: i64,
    limit: u64,
) -> Result<Vec<social_post::Model>, DbErr> {
    let backend = db.get_database_backend();
    let p = |n| param(backend, n);
    let keys_sql = format!(
        "SELECT p.tenant_id, p.id FROM mkt_social_posts p \
         WHERE p.status = 'scheduled' AND p.scheduled_at <= {} \
         AND (p.lease_until IS NULL OR p.lease_until < {}) \
         ORDER BY p.scheduled_at, p.id LIMIT {}{{lock}}",
        p(1),
        p(2),
        p(3)
    );
    let mut leased = lease_by_keys::<social_post::Entity>(
        db,
        LeaseByKeys {
            table: "mkt_social_posts",
            alias: "p",
            keys_sql,
            keys_values: vec![now_ms.into(), now_ms.into(), (limit as i64).into()],
            set: vec![
                ("lease_until", lease_until.into()),
                ("leased_by", worker.into()),
            ],
        },
    )
    .await?;
    leased.sort_by(|a, b| (a.scheduled_at, &a.id).cmp(&(b.scheduled_at, &b.id)));
    Ok(leased)
}

/// scheduled -> publishing for the post `worker` leased (answers whether it moved): the
/// hand-off mark, committed before the adapter is called. The lease runs again from `now_ms`;
/// `attempt` is the hand-off's number (the adapter's idempotency key, the mark's guard);
/// `version` the post's as leased (an edit since then keeps it from going out).
pub async fn hand_off(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    worker: &str,
    (attempt, version): (i32, i32),
    now_ms: i64,
    lease_until: i64,
) -> Result<bool, DbErr> {
    Ok(social_post::Entity::update_many()
        .col_expr(social_post::Column::Status, "publishing".into())
        .col_expr(social_post::Column::Attempts, attempt.into())
        .col_expr(social_post::Column::HandedOffAt, now_ms.into())
        .col_expr(social_post::Column::LeaseUntil, lease_until.into())
        .col_expr(social_post::Column::UpdatedAt, now_ms.into())
        .filter(social_post::Column::TenantId.eq(tenant.as_str()))
        .filter(social_post::Column::Id.eq(id))
        .filter(social_post::Column::Status.eq("scheduled"))
        .filter(social_post::Column::LeasedBy.eq(worker))
        .filter(social_post::Column::Attempts.eq(attempt - 1))
        .filter(social_post::Column::Version.eq(version))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// The adapter's answer on hand-off `attempt` of a post: `published` (with the network's id)
/// or `failed` (with the reason). It lands on the post still publishing on that attempt, or
/// on one the publisher gave up as in doubt ([`fail_in_doubt`]) on that attempt: the real
/// outcome replaces the doubt. Answers whether it landed.
pub async fn record_outcome(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    attempt: i32,
    in_doubt_reason: &str,
    outcome: Result<&str, &str>,
    now_ms: i64,
) -> Result<bool, DbErr> {
    use sea_orm::Condition;
    let mut update = social_post::Entity::update_many()
        .col_expr(
            social_post::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            social_post::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(social_post::Column::UpdatedAt, now_ms.into());
    update = match outcome {
        Ok(external_id) => update
            .col_expr(social_post::Column::Status, "published".into())
            .col_expr(social_post::Column::PublishedAt, now_ms.into())
            .col_expr(social_post::Column::ExternalId, external_id.into())
            .col_expr(
                social_post::Column::FailureReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                social_post::Column::FailedAt,
                Expr::value(Option::<i64>::None),
            ),
        Err(reason) => update
            .col_expr(social_post::Column::Status, "failed".into())
            .col_expr(social_post::Column::FailureReason, reason.into())
            .col_expr(social_post::Column::FailedAt, now_ms.into()),
    };
    Ok(update
        .filter(social_post::Column::TenantId.eq(tenant.as_str()))
        .filter(social_post::Column::Id.eq(id))
        .filter(social_post::Column::Attempts.eq(attempt))
        .filter(
            Condition::any()
                .add(social_post::Column::Status.eq("publishing"))
                .add(
                    Condition::all()
                        .add(social_post::Column::Status.eq("failed"))
                        .add(social_post::Column::FailureReason.eq(in_doubt_reason)),
                ),
        )
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Posts handed off whose lease expired before the adapter's answer was recorded (their
/// publisher died mid-hand-off): failed with `reason`, never handed off again on their own.
/// Answers them (for their events).
pub async fn fail_in_doubt(
    db: &impl ConnectionTrait,
    now_ms: i64,
    reason: &str,
    limit: u64,
) -> Result<Vec<social_post::Model>, DbErr> {
    let doubtful = social_post::Entity::find()
        .filter(social_post::Column::Status.eq("publishing"))
        .filter(social_post::Column::LeaseUntil.lt(now_ms))
        .limit(limit)
        .all(db)
        .await?;
    let mut failed = Vec::with_capacity(doubtful.len());
    for post in doubtful {
        let moved = social_post::Entity::update_many()
            .col_expr(social_post::Column::Status, "failed".into())
            .col_expr(social_post::Column::FailureReason, reason.into())
            .col_expr(social_post::Column::FailedAt, now_ms.into())
            .col_expr(social_post::Column::UpdatedAt, now_ms.into())
            .filter(social_post::Column::TenantId.eq(post.tenant_id.as_str()))
            .filter(social_post::Column::Id.eq(post.id.as_str()))
            .filter(social_post::Column::Status.eq("publishing"))
            .filter(social_post::Column::Attempts.eq(post.attempts))
            .filter(social_post::Column::LeaseUntil.lt(now_ms))
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if moved {
            failed.push(post);
        }
    }
    Ok(failed)
}

/// Records that a post brought a lead (a second report of the same lead changes nothing).
pub async fn attribute(
    db: &impl ConnectionTrait,
    model: social_conversion::Model,
) -> Result<(), DbErr> {
    insert_unless_present(
        db,
        social_conversion::Entity,
        model,
        [
            social_conversion::Column::TenantId,
            social_conversion::Column::LeadId,
        ],
    )
    .await?;
    Ok(())
}

/// Marks a lead a post brought converted (the first conversion's time stays); false when no
/// post brought it.
pub async fn mark_converted(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    lead_id: &str,
    at: i64,
) -> Result<bool, DbErr> {
    Ok(social_conversion::Entity::update_many()
        .col_expr(social_conversion::Column::ConvertedAt, Expr::value(at))
        .filter(social_conversion::Column::TenantId.eq(tenant.as_str()))
        .filter(social_conversion::Column::LeadId.eq(lead_id))
        .filter(social_conversion::Column::ConvertedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// How many leads a post brought, and how many of them converted.
pub async fn lead_counts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    post_id: &str,
) -> Result<(u64, u64), DbErr> {
    let of_post = || {
        social_conversion::Entity::find()
            .filter(social_conversion::Column::TenantId.eq(tenant.as_str()))
            .filter(social_conversion::Column::PostId.eq(post_id))
    };
    let leads = of_post().count(db).await?;
    let converted = of_post()
        .filter(social_conversion::Column::ConvertedAt.is_not_null())
        .count(db)
        .await?;
    Ok((leads, converted))
}
