//! A leaver's open records handed to another owner (`employee.left`): the reads of what is
//! still being worked and the owner changes, in the caller's transaction. Closed records
//! (won or lost opportunities, done activities, decided quotes and proposals, churned or
//! merged clients) keep the owner who closed them: they are history.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use erp_kit::TenantId;

use super::entities::{activity, client, opportunity, proposal, quote, quote_version};
use super::pipeline::add_to_totals;
use super::IN_LIST_CHUNK;
use crate::domain::client::ClientStatus;
use crate::domain::pipeline::OpportunityStatus;
use crate::domain::quote::{ProposalStatus, QuoteStatus};

/// The quote and proposal statuses still being worked (not yet decided by the client).
const OPEN_QUOTE_STATUSES: [QuoteStatus; 2] = [QuoteStatus::Draft, QuoteStatus::Sent];
const OPEN_PROPOSAL_STATUSES: [ProposalStatus; 2] = [ProposalStatus::Draft, ProposalStatus::Sent];

/// Gives `from`'s open opportunities to `to`, moving their share of the cached stage totals
/// with them (the totals are kept per owner for the row rules). Returns the moved ids.
pub async fn reassign_open_opportunities(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<Vec<String>, DbErr> {
    let open = opportunity::Entity::find()
        .filter(opportunity::Column::TenantId.eq(tenant.as_str()))
        .filter(opportunity::Column::OwnerId.eq(from))
        .filter(opportunity::Column::Status.eq(OpportunityStatus::Open.as_str()))
        .order_by_asc(opportunity::Column::Id)
        .all(db)
        .await?;
    // (pipeline, stage, currency) -> (count, amount): one totals move per cell.
    let mut cells: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for deal in &open {
        let cell = cells
            .entry((
                deal.pipeline_id.clone(),
                deal.stage_id.clone(),
                deal.currency.clone(),
            ))
            .or_default();
        cell.0 += 1;
        cell.1 += deal.amount_minor;
    }
    for ((pipeline_id, stage_id, currency), (count, amount)) in &cells {
        add_to_totals(
            db,
            tenant,
            pipeline_id,
            stage_id,
            from,
            currency,
            -count,
            -amount,
        )
        .await?;
        add_to_totals(
            db,
            tenant,
            pipeline_id,
            stage_id,
            to,
            currency,
            *count,
            *amount,
        )
        .await?;
    }
    let ids: Vec<String> = open.into_iter().map(|deal| deal.id).collect();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        opportunity::Entity::update_many()
            .col_expr(opportunity::Column::OwnerId, Expr::value(to))
            .col_expr(
                opportunity::Column::Version,
                Expr::col(opportunity::Column::Version).add(1),
            )
            .col_expr(opportunity::Column::UpdatedAt, Expr::value(now_ms))
            .filter(opportunity::Column::TenantId.eq(tenant.as_str()))
            .filter(opportunity::Column::Id.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(ids)
}

/// Gives `from`'s activities not yet done (tasks, calls and meetings to come) to `to`.
pub async fn reassign_open_activities(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &str,
    to: &str,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = activity::Entity::find()
        .select_only()
        .column(activity::Column::Id)
        .filter(activity::Column::TenantId.eq(tenant.as_str()))
        .filter(activity::Column::OwnerId.eq(from))
        .filter(activity::Column::CompletedAt.is_null())
        .order_by_asc(activity::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        activity::Entity::update_many()
            .col_expr(activity::Column::OwnerId, Expr::value(to))
            .filter(activity::Column::TenantId.eq(tenant.as_str()))
            .filter(activity::Column::Id.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(ids)
}

/// Gives `from`'s quotes whose current version is still a draft or sent to `to`.
pub async fn reassign_open_quotes(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<Vec<String>, DbErr> {
    let owned: Vec<(String, i32)> = quote::Entity::find()
        .select_only()
        .column(quote::Column::Id)
        .column(quote::Column::CurrentVersion)
        .filter(quote::Column::TenantId.eq(tenant.as_str()))
        .filter(quote::Column::OwnerId.eq(from))
        .order_by_asc(quote::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut ids = Vec::new();
    for chunk in owned.chunks(IN_LIST_CHUNK) {
        let open: Vec<(String, i32)> = quote_version::Entity::find()
            .select_only()
            .column(quote_version::Column::QuoteId)
            .column(quote_version::Column::Version)
            .filter(quote_version::Column::TenantId.eq(tenant.as_str()))
            .filter(quote_version::Column::QuoteId.is_in(chunk.iter().map(|(id, _)| id.clone())))
            .filter(
                quote_version::Column::Status
                    .is_in(OPEN_QUOTE_STATUSES.map(|status| status.as_str())),
            )
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(
            chunk
                .iter()
                .filter(|(id, current)| open.iter().any(|(q, v)| q == id && v == current))
                .map(|(id, _)| id.clone()),
        );
    }
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        quote::Entity::update_many()
            .col_expr(quote::Column::OwnerId, Expr::value(to))
            .col_expr(quote::Column::UpdatedAt, Expr::value(now_ms))
            .filter(quote::Column::TenantId.eq(tenant.as_str()))
            .filter(quote::Column::Id.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(ids)
}

/// Gives `from`'s proposals still a draft or sent to `to`.
pub async fn reassign_open_proposals(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = proposal::Entity::find()
        .select_only()
        .column(proposal::Column::Id)
        .filter(proposal::Column::TenantId.eq(tenant.as_str()))
        .filter(proposal::Column::OwnerId.eq(from))
        .filter(
            proposal::Column::Status.is_in(OPEN_PROPOSAL_STATUSES.map(|status| status.as_str())),
        )
        .order_by_asc(proposal::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        proposal::Entity::update_many()
            .col_expr(proposal::Column::OwnerId, Expr::value(to))
            .col_expr(proposal::Column::UpdatedAt, Expr::value(now_ms))
            .filter(proposal::Column::TenantId.eq(tenant.as_str()))
            .filter(proposal::Column::Id.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(ids)
}

/// Gives `from`'s clients still in play (prospects and active clients, not merged away) to
/// `to`: the account needs someone who answers for it.
pub async fn reassign_open_clients(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = client::Entity::find()
        .select_only()
        .column(client::Column::Id)
        .filter(client::Column::TenantId.eq(tenant.as_str()))
        .filter(client::Column::OwnerId.eq(from))
        .filter(client::Column::Status.ne(ClientStatus::Churned.as_str()))
        .filter(client::Column::MergedIntoId.is_null())
        .order_by_asc(client::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        client::Entity::update_many()
            .col_expr(client::Column::OwnerId, Expr::value(to))
            .col_expr(
                client::Column::Version,
                Expr::col(client::Column::Version).add(1),
            )
            .col_expr(client::Column::UpdatedAt, Expr::value(now_ms))
            .filter(client::Column::TenantId.eq(tenant.as_str()))
            .filter(client::Column::Id.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(ids)
}
