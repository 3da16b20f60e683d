//! The duplicate finder's lookups (records sharing a key, or a word of their name) and the
//! merge's writes: re-parenting child rows from one record to another, and the merge record
//! an undo reads.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IntoActiveModel,
    QueryFilter, QuerySelect,
};

use erp_kit::TenantId;

use super::entities::{client, lead, merge};
use super::IN_LIST_CHUNK;
use crate::domain::matching::MatchKeys;

/// `lead` or `client`, as stored in the token and merge tables.
pub const LEAD: &str = "lead";
pub const CLIENT: &str = "client";

/// The candidates a duplicate check looks at per kind of record.
const CANDIDATE_LIMIT: u64 = 50;
/// Records sharing a name word looked at, at most.
const TOKEN_CANDIDATE_LIMIT: u64 = 200;

/// Replaces the name tokens of a record.
pub async fn write_tokens(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    record_kind: &str,
    record_id: &str,
    tokens: &BTreeSet<String>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let delete = Query::delete()
        .from_table(Alias::new("crm_name_tokens"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("record_kind")).eq(record_kind))
        .and_where(Expr::col(Alias::new("record_id")).eq(record_id))
        .to_owned();
    db.execute(backend.build(&delete)).await?;
    let rows: Vec<(&str, &str, &str)> = tokens
        .iter()
        .map(|token| (record_kind, record_id, token.as_str()))
        .collect();
    insert_tokens(db, tenant, &rows).await
}

/// Inserts name tokens (record kind, record id, token) of new records, several per statement.
pub async fn insert_tokens(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    tokens: &[(&str, &str, &str)],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in tokens.chunks(IN_LIST_CHUNK) {
        let mut insert = Query::insert()
            .into_table(Alias::new("crm_name_tokens"))
            .columns(["tenant_id", "token", "record_kind", "record_id"].map(Alias::new))
            .to_owned();
        for (kind, id, token) in chunk {
            insert.values_panic([
                tenant.as_str().into(),
                (*token).into(),
                (*kind).into(),
                (*id).into(),
            ]);
        }
        insert.on_conflict(
            sea_orm::sea_query::OnConflict::columns(
                ["tenant_id", "token", "record_kind", "record_id"].map(Alias::new),
            )
            .do_nothing()
            .to_owned(),
        );
        db.execute(backend.build(&insert)).await?;
    }
    Ok(())
}

/// A record that may duplicate another, with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// [`LEAD`] or [`CLIENT`].
    pub record_kind: &'static str,
    pub id: String,
    pub name: String,
    pub owner_id: Option<String>,
    pub keys: MatchKeys,
}

fn key_condition(
    email: impl ColumnTrait,
    phone: impl ColumnTrait,
    domain: impl ColumnTrait,
    name: impl ColumnTrait,
    keys: &MatchKeys,
) -> Condition {
    let mut any = Condition::any();
    if let Some(key) = &keys.email {
        any = any.add(email.eq(key.as_str()));
    }
    if let Some(key) = &keys.phone {
        any = any.add(phone.eq(key.as_str()));
    }
    if let Some(key) = &keys.domain {
        any = any.add(domain.eq(key.as_str()));
    }
    if !keys.name.is_empty() {
        any = any.add(name.eq(keys.name.as_str()));
    }
    any
}

fn client_candidate(model: client::Model) -> Candidate {
    Candidate {
        record_kind: CLIENT,
        keys: MatchKeys {
            email: model.email_key,
            phone: model.phone_key,
            domain: model.domain,
            name: model.name_key,
        },
        id: model.id,
        name: model.name,
        owner_id: model.owner_id,
    }
}

fn lead_candidate(model: lead::Model) -> Candidate {
    Candidate {
        record_kind: LEAD,
        keys: MatchKeys {
            email: model.email_key,
            phone: model.phone_key,
            domain: model.domain,
            name: model.name_key,
        },
        id: model.id,
        name: model
            .company_name
            .map(|company| format!("{} ({company})", model.person_name))
            .unwrap_or(model.person_name),
        owner_id: model.owner_id,
    }
}

/// The records (leads and clients, merged ones left out) that share a key with `keys`, or a
/// name token with `tokens`: one indexed query per table for the keys, one for the tokens and
/// one per table for the records behind them.
pub async fn candidates(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    keys: &MatchKeys,
    tokens: &BTreeSet<String>,
) -> Result<Vec<Candidate>, DbErr> {
    let mut found: BTreeMap<(&'static str, String), Candidate> = BTreeMap::new();
    let by_key = key_condition(
        client::Column::EmailKey,
        client::Column::PhoneKey,
        client::Column::Domain,
        client::Column::NameKey,
        keys,
    );
    if !by_key.is_empty() {
        for model in client::Entity::find()
            .filter(client::Column::TenantId.eq(tenant.as_str()))
            .filter(client::Column::MergedIntoId.is_null())
            .filter(by_key)
            .limit(CANDIDATE_LIMIT)
            .all(db)
            .await?
        {
            found.insert((CLIENT, model.id.clone()), client_candidate(model));
        }
        let by_key = key_condition(
            lead::Column::EmailKey,
            lead::Column::PhoneKey,
            lead::Column::Domain,
            lead::Column::NameKey,
            keys,
        );
        for model in lead::Entity::find()
            .filter(lead::Column::TenantId.eq(tenant.as_str()))
            .filter(lead::Column::MergedIntoId.is_null())
            .filter(by_key)
            .limit(CANDIDATE_LIMIT)
            .all(db)
            .await?
        {
            found.insert((LEAD, model.id.clone()), lead_candidate(model));
        }
    }
    if !tokens.is_empty() {
        #[derive(FromQueryResult)]
        struct TokenHit {
            record_kind: String,
            record_id: String,
        }
        let select = Query::select()
            .distinct()
            .columns(["record_kind", "record_id"].map(Alias::new))
            .from(Alias::new("crm_name_tokens"))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
            .and_where(Expr::col(Alias::new("token")).is_in(tokens.iter().cloned()))
            .limit(TOKEN_CANDIDATE_LIMIT)
            .to_owned();
        let hits = TokenHit::find_by_statement(db.get_database_backend().build(&select))
            .all(db)
            .await?;
        let ids_of = |kind: &str| -> Vec<String> {
            hits.iter()
                .filter(|hit| hit.record_kind == kind)
                .map(|hit| hit.record_id.clone())
                .filter(|id| {
                    let kind = if kind == CLIENT { CLIENT } else { LEAD };
                    !found.contains_key(&(kind, id.clone()))
                })
                .collect()
        };
        let (client_ids, lead_ids) = (ids_of(CLIENT), ids_of(LEAD));
        if !client_ids.is_empty() {
            for model in client::Entity::find()
                .filter(client::Column::TenantId.eq(tenant.as_str()))
                .filter(client::Column::MergedIntoId.is_null())
                .filter(client::Column::Id.is_in(client_ids))
                .all(db)
                .await?
            {
                found.insert((CLIENT, model.id.clone()), client_candidate(model));
            }
        }
        if !lead_ids.is_empty() {
            for model in lead::Entity::find()
                .filter(lead::Column::TenantId.eq(tenant.as_str()))
                .filter(lead::Column::MergedIntoId.is_null())
                .filter(lead::Column::Id.is_in(lead_ids))
                .all(db)
                .await?
            {
                found.insert((LEAD, model.id.clone()), lead_candidate(model));
            }
        }
    }
    Ok(found.into_values().collect())
}

/// A child table's column that points at a merged record: `(table, column)`.
pub type ChildLink = (&'static str, &'static str);

/// What points at a client: moved to the surviving client by a merge.
pub const CLIENT_CHILDREN: &[ChildLink] = &[
    ("crm_activities", "client_id"),
    ("crm_opportunities", "client_id"),
    ("crm_opportunities", "contact_id"),
    ("crm_quotes", "client_id"),
    ("crm_proposals", "client_id"),
    ("crm_addresses", "client_id"),
    ("crm_clients", "company_id"),
    ("crm_leads", "converted_client_id"),
    ("crm_leads", "converted_contact_id"),
];

/// What points at a lead.
pub const LEAD_CHILDREN: &[ChildLink] = &[
    ("crm_activities", "lead_id"),
    ("crm_opportunities", "lead_id"),
];

#[derive(FromQueryResult)]
struct IdRow {
    id: String,
}

/// Points every row of `table` whose `column` is `from` at `to` instead; answers the ids it
/// moved (what an undo moves back).
pub async fn reparent(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    (table, column): ChildLink,
    from: &str,
    to: &str,
) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let select = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new(column)).eq(from))
        .to_owned();
    let ids: Vec<String> = IdRow::find_by_statement(backend.build(&select))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    move_rows(db, tenant, (table, column), &ids, to).await?;
    Ok(ids)
}

/// Sets `column` to `to` on the rows `ids` of `table`.
pub async fn move_rows(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    (table, column): ChildLink,
    ids: &[String],
    to: &str,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let update = Query::update()
            .table(Alias::new(table))
            .value(Alias::new(column), to)
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
            .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().cloned()))
            .to_owned();
        db.execute(backend.build(&update)).await?;
    }
    Ok(())
}

pub async fn insert_merge(db: &impl ConnectionTrait, model: merge::Model) -> Result<(), DbErr> {
    merge::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn lock_merge(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<merge::Model>, DbErr> {
    merge::Entity::find_by_id(id.to_owned())
        .filter(merge::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn mark_undone(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    at_ms: i64,
    actor: &str,
) -> Result<(), DbErr> {
    merge::Entity::update_many()
        .col_expr(merge::Column::UndoneAt, Expr::value(at_ms))
        .col_expr(merge::Column::UndoneBy, Expr::value(actor))
        .filter(merge::Column::TenantId.eq(tenant.as_str()))
        .filter(merge::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
