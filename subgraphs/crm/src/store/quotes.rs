//! Price lists, quotes with their versions and lines, proposals with their sections, and the
//! tenant's CRM settings (the time zone quotes expire in).

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{
    price_list, price_list_item, proposal, proposal_section, quote, quote_line, quote_version,
    settings,
};
use super::IN_LIST_CHUNK;

pub async fn insert_price_list(
    db: &impl ConnectionTrait,
    model: price_list::Model,
    items: Vec<price_list_item::Model>,
) -> Result<(), DbErr> {
    price_list::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    if !items.is_empty() {
        price_list_item::Entity::insert_many(
            items.into_iter().map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

pub async fn price_lists(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<price_list::Model>, DbErr> {
    price_list::Entity::find()
        .filter(price_list::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(price_list::Column::Id)
        .all(db)
        .await
}

pub async fn price_list(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<price_list::Model>, DbErr> {
    price_list::Entity::find_by_id(id.to_owned())
        .filter(price_list::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// The items of these price lists, in code order.
pub async fn items_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    price_list_ids: &[String],
) -> Result<Vec<price_list_item::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in price_list_ids.chunks(IN_LIST_CHUNK) {
        found.extend(
            price_list_item::Entity::find()
                .filter(price_list_item::Column::TenantId.eq(tenant.as_str()))
                .filter(price_list_item::Column::PriceListId.is_in(chunk.iter().cloned()))
                .order_by_asc(price_list_item::Column::Code)
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

pub async fn items_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, price_list_item::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in price_list_item::Entity::find()
            .filter(price_list_item::Column::TenantId.eq(tenant.as_str()))
            .filter(price_list_item::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// Makes the tenant's quote numbering take turns (PostgreSQL; SQLite serialises writers).
pub async fn lock_numbering(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            [format!("crm-quote-number:{tenant}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// How many quotes the tenant has (the next number is one more).
pub async fn quote_count(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<u64, DbErr> {
    quote::Entity::find()
        .filter(quote::Column::TenantId.eq(tenant.as_str()))
        .count(db)
        .await
}

pub async fn insert_quote(db: &impl ConnectionTrait, model: quote::Model) -> Result<(), DbErr> {
    quote::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn quote(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<quote::Model>, DbErr> {
    quote::Entity::find_by_id(id.to_owned())
        .filter(quote::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// A quote, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`): every change
/// of its versions takes it first.
pub async fn lock_quote(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<quote::Model>, DbErr> {
    quote::Entity::find_by_id(id.to_owned())
        .filter(quote::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn quotes_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, quote::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in quote::Entity::find()
            .filter(quote::Column::TenantId.eq(tenant.as_str()))
            .filter(quote::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// The filters of the quote list.
#[derive(Debug, Clone, Default)]
pub struct QuoteFilter {
    pub client_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub owners: Option<Vec<String>>,
}

pub async fn quotes_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &QuoteFilter,
    page: &PageRequest,
) -> Result<Vec<quote::Model>, DbErr> {
    let mut query = quote::Entity::find().filter(quote::Column::TenantId.eq(tenant.as_str()));
    if let Some(client) = &filter.client_id {
        query = query.filter(quote::Column::ClientId.eq(client.as_str()));
    }
    if let Some(opportunity) = &filter.opportunity_id {
        query = query.filter(quote::Column::OpportunityId.eq(opportunity.as_str()));
    }
    if let Some(owners) = &filter.owners {
        query = query.filter(quote::Column::OwnerId.is_in(owners.iter().cloned()));
    }
    keyset_page(query, quote::Column::Id, page).all(db).await
}

pub async fn set_current_version(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    quote_id: &str,
    version: i32,
    now_ms: i64,
) -> Result<(), DbErr> {
    quote::Entity::update_many()
        .col_expr(quote::Column::CurrentVersion, Expr::value(version))
        .col_expr(quote::Column::UpdatedAt, Expr::value(now_ms))
        .filter(quote::Column::TenantId.eq(tenant.as_str()))
        .filter(quote::Column::Id.eq(quote_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Inserts a version with its lines.
pub async fn insert_version(
    db: &impl ConnectionTrait,
    version: quote_version::Model,
    lines: Vec<quote_line::Model>,
) -> Result<(), DbErr> {
    quote_version::Entity::insert(version.into_active_model())
        .exec_without_returning(db)
        .await?;
    if !lines.is_empty() {
        quote_line::Entity::insert_many(lines.into_iter().map(IntoActiveModel::into_active_model))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Replaces a draft version's lines.
pub async fn replace_lines(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    version_id: &str,
    lines: Vec<quote_line::Model>,
) -> Result<(), DbErr> {
    quote_line::Entity::delete_many()
        .filter(quote_line::Column::TenantId.eq(tenant.as_str()))
        .filter(quote_line::Column::VersionId.eq(version_id))
        .exec(db)
        .await?;
    if !lines.is_empty() {
        quote_line::Entity::insert_many(lines.into_iter().map(IntoActiveModel::into_active_model))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

pub async fn update_version(
    db: &impl ConnectionTrait,
    model: quote_version::Model,
) -> Result<quote_version::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// One version of a quote.
pub async fn version(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    quote_id: &str,
    version: i32,
) -> Result<Option<quote_version::Model>, DbErr> {
    quote_version::Entity::find()
        .filter(quote_version::Column::TenantId.eq(tenant.as_str()))
        .filter(quote_version::Column::QuoteId.eq(quote_id))
        .filter(quote_version::Column::Version.eq(version))
        .one(db)
        .await
}

/// Every version of these quotes, oldest first.
pub async fn versions_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    quote_ids: &[String],
) -> Result<Vec<quote_version::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in quote_ids.chunks(IN_LIST_CHUNK) {
        found.extend(
            quote_version::Entity::find()
                .filter(quote_version::Column::TenantId.eq(tenant.as_str()))
                .filter(quote_version::Column::QuoteId.is_in(chunk.iter().cloned()))
                .order_by_asc(quote_version::Column::QuoteId)
                .order_by_asc(quote_version::Column::Version)
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The lines of these versions, in position order.
pub async fn lines_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    version_ids: &[String],
) -> Result<Vec<quote_line::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in version_ids.chunks(IN_LIST_CHUNK) {
        found.extend(
            quote_line::Entity::find()
                .filter(quote_line::Column::TenantId.eq(tenant.as_str()))
                .filter(quote_line::Column::VersionId.is_in(chunk.iter().cloned()))
                .order_by_asc(quote_line::Column::VersionId)
                .order_by_asc(quote_line::Column::Position)
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

pub async fn insert_proposal(
    db: &impl ConnectionTrait,
    model: proposal::Model,
    sections: Vec<proposal_section::Model>,
) -> Result<(), DbErr> {
    proposal::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    if !sections.is_empty() {
        proposal_section::Entity::insert_many(
            sections.into_iter().map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

pub async fn proposal(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<proposal::Model>, DbErr> {
    proposal::Entity::find_by_id(id.to_owned())
        .filter(proposal::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn lock_proposal(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<proposal::Model>, DbErr> {
    proposal::Entity::find_by_id(id.to_owned())
        .filter(proposal::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn update_proposal(
    db: &impl ConnectionTrait,
    model: proposal::Model,
) -> Result<proposal::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// The filters of the proposal list.
#[derive(Debug, Clone, Default)]
pub struct ProposalFilter {
    pub client_id: Option<String>,
    pub owners: Option<Vec<String>>,
}

pub async fn proposals_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &ProposalFilter,
    page: &PageRequest,
) -> Result<Vec<proposal::Model>, DbErr> {
    let mut query = proposal::Entity::find().filter(proposal::Column::TenantId.eq(tenant.as_str()));
    if let Some(client) = &filter.client_id {
        query = query.filter(proposal::Column::ClientId.eq(client.as_str()));
    }
    if let Some(owners) = &filter.owners {
        query = query.filter(proposal::Column::OwnerId.is_in(owners.iter().cloned()));
    }
    keyset_page(query, proposal::Column::Id, page).all(db).await
}

/// The sections of these proposals, in position order.
pub async fn sections_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    proposal_ids: &[String],
) -> Result<Vec<proposal_section::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in proposal_ids.chunks(IN_LIST_CHUNK) {
        found.extend(
            proposal_section::Entity::find()
                .filter(proposal_section::Column::TenantId.eq(tenant.as_str()))
                .filter(proposal_section::Column::ProposalId.is_in(chunk.iter().cloned()))
                .order_by_asc(proposal_section::Column::ProposalId)
                .order_by_asc(proposal_section::Column::Position)
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The tenant's settings, if it saved any.
pub async fn settings(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Option<settings::Model>, DbErr> {
    settings::Entity::find_by_id(tenant.as_str().to_owned())
        .one(db)
        .await
}

pub async fn save_settings(db: &impl ConnectionTrait, model: settings::Model) -> Result<(), DbErr> {
    settings::Entity::insert(model.into_active_model())
        .on_conflict(
            OnConflict::column(settings::Column::TenantId)
                .update_columns([settings::Column::TimeZone, settings::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
