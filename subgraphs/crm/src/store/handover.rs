//! A leaver's open records handed to another owner (`employee.left`): the reads of what is
//! still being worked and the owner changes, in the caller's transaction. Closed records
//! (won or lost opportunities, done activities, decided quotes and proposals, churned or
//! merged clients) keep the owner who closed them: they are history.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use erp_kit::TenantId;

use super::entities::{activity, client, lead, opportunity, proposal, quote, quote_version};
use super::leads::OPEN_STATUSES as OPEN_LEAD_STATUSES;
use super::pipeline::add_to_totals;
use super::IN_LIST_CHUNK;
use crate::domain::client::ClientStatus;
use crate::domain::pipeline::OpportunityStatus;
use crate::domain::quote::{ProposalStatus, QuoteStatus};

/// The quote and proposal statuses still being worked (not yet decided by the client).
const OPEN_QUOTE_STATUSES: [QuoteStatus; 2] = [QuoteStatus::Draft, QuoteStatus::Sent];
const OPEN_PROPOSAL_STATUSES: [ProposalStatus; 2] = [ProposalStatus::Draft, ProposalStatus::Sent];

/// What an owner change stamps besides the owner: the tables with a version bump it (a
/// concurrent edit then conflicts), those with an update time set it.
#[derive(Clone, Copy)]
struct Stamp {
    version: bool,
    updated_at: Option<i64>,
}

/// Sets the owner of the tenant's rows `ids` of `table` to `to`, a bounded `IN` list at a time.
async fn set_owner(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    table: &str,
    ids: &[String],
    to: &str,
    stamp: Stamp,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let mut update = Query::update();
        update
            .table(Alias::new(table))
            .value(Alias::new("owner_id"), to)
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
            .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().cloned()));
        if stamp.version {
            update.value(
                Alias::new("version"),
                Expr::col(Alias::new("version")).add(1),
            );
        }
        if let Some(at) = stamp.updated_at {
            update.value(Alias::new("updated_at"), at);
        }
        db.execute(db.get_database_backend().build(&update)).await?;
    }
    Ok(())
}

/// Gives every open lead of `from` to `to`; answers the leads moved (their ids).
pub async fn reassign_open_leads(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    from: &str,
    to: &str,
    now_ms: i64,
) -> Result<Vec<String>, DbErr> {
    let ids: Vec<String> = lead::Entity::find()
        .select_only()
        .column(lead::Column::Id)
        .filter(lead::Column::TenantId.eq(tenant.as_str()))
        .filter(lead::Column::OwnerId.eq(from))
        .filter(lead::Column::Status.is_in(OPEN_LEAD_STATUSES))
        .filter(lead::Column::MergedIntoId.is_null())
        .order_by_asc(lead::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let stamp = Stamp {
        version: true,
        updated_at: Some(now_ms),
    };
    set_owner(db, tenant, "crm_leads", &ids, to, stamp).await?;
    Ok(ids)
}

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
    let stamp = Stamp {
        version: true,
        updated_at: Some(now_ms),
    };
    set_owner(db, tenant, "crm_opportunities", &ids, to, stamp).await?;
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
    let stamp = Stamp {
        version: false,
        updated_at: None,
    };
    set_owner(db, tenant, "crm_activities", &ids, to, stamp).await?;
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
    let stamp = Stamp {
        version: false,
        updated_at: Some(now_ms),
    };
    set_owner(db, tenant, "crm_quotes", &ids, to, stamp).await?;
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
    let stamp = Stamp {
        version: false,
        updated_at: Some(now_ms),
    };
    set_owner(db, tenant, "crm_proposals", &ids, to, stamp).await?;
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
    let stamp = Stamp {
        version: true,
        updated_at: Some(now_ms),
    };
    set_owner(db, tenant, "crm_clients", &ids, to, stamp).await?;
    Ok(ids)
}
