//! The import's batch reads and writes: records matched by a key column, many rows per
//! statement (an insert-or-update of a whole batch, its name tokens on SQLite).

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use erp_kit::TenantId;

use super::entities::{client, lead};
use super::{bulk, IN_LIST_CHUNK};

/// The client column a key matches on.
pub fn client_key_column(key: crate::domain::import::Column) -> client::Column {
    use crate::domain::import::Column as Key;
    match key {
        Key::Email => client::Column::EmailKey,
        Key::Website => client::Column::Domain,
        Key::TaxId => client::Column::TaxId,
        Key::ExternalId => client::Column::ExternalId,
        _ => client::Column::Id,
    }
}

/// The lead column a key matches on.
pub fn lead_key_column(key: crate::domain::import::Column) -> lead::Column {
    use crate::domain::import::Column as Key;
    match key {
        Key::Email => lead::Column::EmailKey,
        Key::ExternalId => lead::Column::ExternalId,
        _ => lead::Column::Id,
    }
}

/// The clients of `kind` whose `column` is one of `keys` (merged ones left out), per key.
pub async fn clients_by_key(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: &str,
    column: client::Column,
    keys: &[String],
) -> Result<HashMap<String, Vec<client::Model>>, DbErr> {
    let mut found: HashMap<String, Vec<client::Model>> = HashMap::new();
    for chunk in keys.chunks(IN_LIST_CHUNK) {
        for model in client::Entity::find()
            .filter(client::Column::TenantId.eq(tenant.as_str()))
            .filter(client::Column::Kind.eq(kind))
            .filter(client::Column::MergedIntoId.is_null())
            .filter(column.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            let key = match column {
                client::Column::EmailKey => model.email_key.clone(),
                client::Column::Domain => model.domain.clone(),
                client::Column::TaxId => model.tax_id.clone(),
                client::Column::ExternalId => model.external_id.clone(),
                _ => Some(model.id.clone()),
            };
            if let Some(key) = key {
                found.entry(key).or_default().push(model);
            }
        }
    }
    Ok(found)
}

/// The leads whose `column` is one of `keys` (merged ones left out), per key.
pub async fn leads_by_key(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    column: lead::Column,
    keys: &[String],
) -> Result<HashMap<String, Vec<lead::Model>>, DbErr> {
    let mut found: HashMap<String, Vec<lead::Model>> = HashMap::new();
    for chunk in keys.chunks(IN_LIST_CHUNK) {
        for model in lead::Entity::find()
            .filter(lead::Column::TenantId.eq(tenant.as_str()))
            .filter(lead::Column::MergedIntoId.is_null())
            .filter(column.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            let key = match column {
                lead::Column::EmailKey => model.email_key.clone(),
                lead::Column::ExternalId => model.external_id.clone(),
                _ => Some(model.id.clone()),
            };
            if let Some(key) = key {
                found.entry(key).or_default().push(model);
            }
        }
    }
    Ok(found)
}

/// The ids of the companies with these external ids.
pub async fn company_ids_by_external_id(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    external_ids: &[String],
) -> Result<HashMap<String, String>, DbErr> {
    let mut found = HashMap::new();
    for chunk in external_ids.chunks(IN_LIST_CHUNK) {
        let rows: Vec<(String, Option<String>)> = client::Entity::find()
            .select_only()
            .column(client::Column::Id)
            .column(client::Column::ExternalId)
            .filter(client::Column::TenantId.eq(tenant.as_str()))
            .filter(client::Column::Kind.eq("company"))
            .filter(client::Column::MergedIntoId.is_null())
            .filter(client::Column::ExternalId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        for (id, external) in rows {
            if let Some(external) = external {
                found.insert(external, id);
            }
        }
    }
    Ok(found)
}

/// Inserts new clients and overwrites existing ones (by id): the batch in one statement on
/// PostgreSQL ([`super::bulk`]).
pub async fn upsert_clients(
    db: &impl ConnectionTrait,
    models: &[client::Model],
) -> Result<(), DbErr> {
    use client::Column as C;
    bulk::insert_many::<client::Entity>(
        db,
        models,
        &[
            C::Name,
            C::NameKey,
            C::Email,
            C::EmailKey,
            C::Phone,
            C::PhoneKey,
            C::Website,
            C::Domain,
            C::TaxId,
            C::Status,
            C::CompanyId,
            C::OwnerId,
            C::ExternalId,
            C::Version,
            C::UpdatedAt,
        ],
    )
    .await
}

/// Inserts new leads and overwrites existing ones (by id): the batch in one statement on
/// PostgreSQL ([`super::bulk`]).
pub async fn upsert_leads(db: &impl ConnectionTrait, models: &[lead::Model]) -> Result<(), DbErr> {
    use lead::Column as L;
    bulk::insert_many::<lead::Entity>(
        db,
        models,
        &[
            L::PersonName,
            L::CompanyName,
            L::Title,
            L::NameKey,
            L::Email,
            L::EmailKey,
            L::Phone,
            L::PhoneKey,
            L::Website,
            L::Domain,
            L::Source,
            L::UtmSource,
            L::UtmMedium,
            L::UtmCampaign,
            L::UtmTerm,
            L::UtmContent,
            L::Territory,
            L::OwnerId,
            L::Score,
            L::ExternalId,
            L::Version,
            L::UpdatedAt,
        ],
    )
    .await
}

/// Forgets the name tokens of these records (before their new names' tokens are written; SQLite's
/// similar-name index, nothing on PostgreSQL).
pub async fn delete_tokens(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    record_kind: &str,
    record_ids: &[String],
) -> Result<(), DbErr> {
    if !super::duplicates::uses_name_tokens(db) {
        return Ok(());
    }
    let backend = db.get_database_backend();
    for chunk in record_ids.chunks(IN_LIST_CHUNK) {
        let delete = Query::delete()
            .from_table(Alias::new("crm_name_tokens"))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
            .and_where(Expr::col(Alias::new("record_kind")).eq(record_kind))
            .and_where(Expr::col(Alias::new("record_id")).is_in(chunk.iter().cloned()))
            .to_owned();
        db.execute(backend.build(&delete)).await?;
    }
    Ok(())
}
