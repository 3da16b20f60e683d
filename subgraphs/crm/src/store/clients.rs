//! Clients (companies and people) and their addresses.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{address, client};
use super::IN_LIST_CHUNK;

/// The filters of the client list.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    /// The people of one company.
    pub company_id: Option<String>,
    /// Only records of these owners (the row rules); `None`: every record.
    pub owners: Option<Vec<String>>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    model: client::Model,
) -> Result<client::Model, DbErr> {
    client::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn client(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<client::Model>, DbErr> {
    client::Entity::find_by_id(id.to_owned())
        .filter(client::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// Which of `ids` are clients of the tenant (merged ones left out).
pub async fn present_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashSet<String>, DbErr> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let rows: Vec<String> = client::Entity::find()
            .select_only()
            .column(client::Column::Id)
            .filter(client::Column::TenantId.eq(tenant.as_str()))
            .filter(client::Column::MergedIntoId.is_null())
            .filter(client::Column::Id.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A client, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`).
pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<client::Model>, DbErr> {
    client::Entity::find_by_id(id.to_owned())
        .filter(client::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

/// Clients by id (one query per 500 ids).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, client::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in client::Entity::find()
            .filter(client::Column::TenantId.eq(tenant.as_str()))
            .filter(client::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// One page of the tenant's clients (merged ones left out), in id order.
pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &ClientFilter,
    page: &PageRequest,
) -> Result<Vec<client::Model>, DbErr> {
    let mut query = client::Entity::find()
        .filter(client::Column::TenantId.eq(tenant.as_str()))
        .filter(client::Column::MergedIntoId.is_null());
    if let Some(kind) = &filter.kind {
        query = query.filter(client::Column::Kind.eq(kind.as_str()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(client::Column::Status.eq(status.as_str()));
    }
    if let Some(company) = &filter.company_id {
        query = query.filter(client::Column::CompanyId.eq(company.as_str()));
    }
    if let Some(owners) = &filter.owners {
        query = query.filter(client::Column::OwnerId.is_in(owners.iter().cloned()));
    }
    keyset_page(query, client::Column::Id, page).all(db).await
}

/// Writes every field of `model` (its version already bumped by the caller).
pub async fn update(
    db: &impl ConnectionTrait,
    model: client::Model,
) -> Result<client::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

pub async fn insert_address(
    db: &impl ConnectionTrait,
    model: address::Model,
) -> Result<address::Model, DbErr> {
    address::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

/// The addresses of these clients, per client, oldest first.
pub async fn addresses_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    client_ids: &[String],
) -> Result<HashMap<String, Vec<address::Model>>, DbErr> {
    let mut found: HashMap<String, Vec<address::Model>> = HashMap::new();
    for chunk in client_ids.chunks(IN_LIST_CHUNK) {
        for model in address::Entity::find()
            .filter(address::Column::TenantId.eq(tenant.as_str()))
            .filter(address::Column::ClientId.is_in(chunk.iter().cloned()))
            .order_by_asc(address::Column::Id)
            .all(db)
            .await?
        {
            found
                .entry(model.client_id.clone())
                .or_default()
                .push(model);
        }
    }
    Ok(found)
}

/// The first `limit` people of each company (one query; merged people left out).
pub async fn first_people_of_companies(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    company_ids: &[String],
    limit: u64,
) -> Result<HashMap<String, Vec<client::Model>>, DbErr> {
    super::pages::first_per_parent::<client::Entity, _>(
        db,
        sea_orm::Condition::all()
            .add(client::Column::TenantId.eq(tenant.as_str()))
            .add(client::Column::MergedIntoId.is_null()),
        client::Column::CompanyId,
        company_ids,
        client::Column::Id,
        limit,
        |c| c.company_id.as_deref(),
    )
    .await
}
