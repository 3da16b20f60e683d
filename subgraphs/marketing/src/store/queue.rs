//! The message table as the send queue: one row per (campaign, contact) inserted when the
//! campaign starts (the unique send key: a second insert does nothing), leased by a sender with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer: a plain update), marked
//! `handed_off` in its own commit before the SMTP hand-off, then `sent`. A row handed off and
//! never confirmed (the sender died mid-hand-off) is never sent again: at most once.
//!
//! Statuses: `queued` -> `leased` -> `handed_off` -> `sent`, or `skipped` (suppressed, no
//! consent, ...) or `failed`; a lease that expires puts a `leased` row back in play. The
//! hand-off renews the lease: a `handed_off` row whose lease runs is a live sender's (its mark
//! is coming); once the lease expired the row is in doubt (its sender died mid-hand-off).

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    Statement,
};

use erp_kit::db::insert_chunked;
use erp_kit::TenantId;

use super::entities::message;
use super::lease::{lease_by_keys, LeaseByKeys};

/// Inserts the messages of a campaign that do not exist yet (the send key makes a repeat a
/// no-op); answers how many rows were new.
pub async fn enqueue(db: &impl ConnectionTrait, rows: Vec<message::Model>) -> Result<u64, DbErr> {
    // PostgreSQL: the rows as JSON, 5,000 a statement (a million-member campaign starts in
    // seconds, not minutes of 200-row statements).
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        return super::bulk::insert_many_skipping::<message::Entity>(
            db,
            &rows,
            "tenant_id, campaign_id, contact_id",
        )
        .await;
    }
    let one_per_contact = OnConflict::columns([
        message::Column::TenantId,
        message::Column::CampaignId,
        message::Column::ContactId,
    ])
    .do_nothing()
    .to_owned();
    insert_chunked(db, message::Entity, rows, 200, Some(one_per_contact)).await
}

/// Leases up to `limit` messages whose campaign is sending or whose journey is active (queued,
/// or leased with an expired lease) to `worker` until `lease_until`; answers the leased rows,
/// oldest first. One statement (store/lease.rs).
pub async fn lease(
    db: &impl ConnectionTrait,
    worker: &str,
    now_ms: i64,
    lease_until: i64,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    let backend = db.get_database_backend();
    let p = |n| param(backend, n);
    let keys_sql = format!(
        "SELECT m.tenant_id, m.id FROM mkt_messages m LEFT JOIN mkt_campaigns c \
         ON c.tenant_id = m.tenant_id AND c.id = m.campaign_id \
         LEFT JOIN mkt_journeys j ON j.tenant_id = m.tenant_id AND j.id = m.journey_id \
         WHERE (c.status = 'sending' OR j.status = 'active') AND (m.status = 'queued' OR (m.status = 'leased' AND m.lease_until < {})) \
         AND (m.not_before IS NULL OR m.not_before <= {}) \
         ORDER BY m.queued_at, m.id LIMIT {}{{lock}}",
        p(1),
        p(2),
        p(3)
    );
    let mut leased = lease_by_keys::<message::Entity>(
        db,
        LeaseByKeys {
            table: "mkt_messages",
            alias: "m",
            keys_sql,
            keys_values: vec![now_ms.into(), now_ms.into(), (limit as i64).into()],
            set: vec![
                ("status", "leased".into()),
                ("lease_until", lease_until.into()),
                ("leased_by", worker.into()),
            ],
        },
    )
    .await?;
    leased.sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
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

/// Puts a leased message back in the queue until `not_before` (the window of the limit
/// `deferred_by` was full): deferred, not dropped, and not counted as an attempt.
pub async fn defer(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    worker: &str,
    not_before: i64,
    deferred_by: &str,
) -> Result<bool, DbErr> {
    Ok(message::Entity::update_many()
        .col_expr(message::Column::Status, "queued".into())
        .col_expr(message::Column::LeaseUntil, Option::<i64>::None.into())
        .col_expr(message::Column::LeasedBy, Option::<String>::None.into())
        .col_expr(message::Column::NotBefore, not_before.into())
        .col_expr(message::Column::DeferredBy, deferred_by.into())
        .filter(message::Column::TenantId.eq(tenant))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::Status.eq("leased"))
        .filter(message::Column::LeasedBy.eq(worker))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Skips every not yet handed-off message of a cancelled campaign (held ones too).
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
        .filter(message::Column::Status.is_in(["queued", "leased", "held"]))
        .exec(db)
        .await?;
    Ok(())
}

/// The messages a sender may still move at `now_ms`: queued, leased, or handed off under a
/// lease that still runs.
fn moving_at(now_ms: i64) -> sea_orm::Condition {
    use sea_orm::Condition;
    Condition::any()
        .add(message::Column::Status.is_in(["queued", "leased"]))
        .add(
            Condition::all()
                .add(message::Column::Status.eq("handed_off"))
                .add(message::Column::LeaseUntil.gte(now_ms)),
        )
}

/// How many messages of a campaign a sender may still move at `now_ms`: queued, leased, held
/// for an A/B test's winner, or handed off under a lease that still runs (a live sender between the hand-off and its mark).
/// A campaign with any is not finished: finishing it would leave a message in doubt that a
/// moment later is sent.
pub async fn in_flight(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    now_ms: i64,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(moving_at(now_ms).add(message::Column::Status.eq("held")))
        .count(db)
        .await
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

/// Up to `limit` queued messages of a campaign with an id after `after`, in id order.
pub async fn queued_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    use sea_orm::QuerySelect;
    let mut query = message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(message::Column::Status.eq("queued"));
    if let Some(after) = after {
        query = query.filter(message::Column::Id.gt(after));
    }
    query
        .order_by_asc(message::Column::Id)
        .limit(limit)
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

/// What a campaign's messages of one status, one variant and one deferring limit did: how many there are, and of
/// those how many are deferred, were opened, clicked, bounced or complained about.
#[derive(Debug, Clone, Default, FromQueryResult)]
pub struct Tally {
    pub variant_id: Option<String>,
    pub status: String,
    /// The limit that last deferred these messages (`None`: never deferred).
    pub deferred_by: Option<String>,
    /// The earliest `not_before` among them.
    pub next_send_at: Option<i64>,
    pub messages: i64,
    pub deferred: i64,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub complained: i64,
}

/// A campaign's messages counted by (variant, status) in one query (the funnel of the
/// campaign and of each A/B variant is folded from it).
pub async fn tallies(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
) -> Result<Vec<Tally>, DbErr> {
    let backend = db.get_database_backend();
    let (p1, p2) = (param(backend, 1), param(backend, 2));
    Tally::find_by_statement(Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT variant_id, status, deferred_by, MIN(not_before) AS next_send_at, \
             COUNT(*) AS messages, COUNT(not_before) AS deferred, \
             COUNT(opened_at) AS opened, COUNT(clicked_at) AS clicked, \
             COUNT(bounced_at) AS bounced, COUNT(complained_at) AS complained \
             FROM mkt_messages WHERE tenant_id = {p1} AND campaign_id = {p2} \
             GROUP BY variant_id, status, deferred_by"
        ),
        [tenant.as_str().into(), campaign_id.into()],
    ))
    .all(db)
    .await
}

/// The contacts who unsubscribed through a campaign's one-click link (consent source
/// `source`), counted by the variant their message sent.
pub async fn unsubscribes_by_variant(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    source: &str,
) -> Result<Vec<(Option<String>, i64)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        variant_id: Option<String>,
        contacts: i64,
    }
    let backend = db.get_database_backend();
    let p = |n| param(backend, n);
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT m.variant_id, COUNT(DISTINCT c.contact_id) AS contacts \
             FROM mkt_consents c JOIN mkt_messages m \
             ON m.tenant_id = c.tenant_id AND m.contact_id = c.contact_id AND m.campaign_id = {} \
             WHERE c.tenant_id = {} AND c.source = {} AND c.granted = {} \
             GROUP BY m.variant_id",
            p(1),
            p(2),
            p(3),
            p(4)
        ),
        [
            campaign_id.into(),
            tenant.as_str().into(),
            source.into(),
            false.into(),
        ],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.variant_id, r.contacts))
        .collect())
}

pub(crate) use super::lease::param;

/// An A/B test's winner is known: the campaign's held messages are queued with it.
pub async fn release_held(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    variant_id: &str,
) -> Result<u64, DbErr> {
    Ok(message::Entity::update_many()
        .col_expr(message::Column::Status, "queued".into())
        .col_expr(message::Column::VariantId, variant_id.into())
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(message::Column::Status.eq("held"))
        .exec(db)
        .await?
        .rows_affected)
}

/// How many of a campaign's test messages (those with a variant) a sender may still move at
/// `now_ms` (see [`in_flight`]): the winner is chosen once there are none.
pub async fn test_in_flight(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    campaign_id: &str,
    now_ms: i64,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    message::Entity::find()
        .filter(message::Column::TenantId.eq(tenant.as_str()))
        .filter(message::Column::CampaignId.eq(campaign_id))
        .filter(message::Column::VariantId.is_not_null())
        .filter(moving_at(now_ms))
        .count(db)
        .await
}
