//! The duplicate finder's lookups (records sharing a key, or a word of their name) and the
//! merge's writes: re-parenting child rows from one record to another, and the merge record
//! an undo reads.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, IntoActiveModel,
    QueryFilter, QuerySelect, Statement, Value,
};

use erp_kit::TenantId;

use super::entities::merge;
use super::IN_LIST_CHUNK;
use crate::domain::matching::MatchKeys;

/// `lead` or `client`, as stored in the token and merge tables.
pub const LEAD: &str = "lead";
pub const CLIENT: &str = "client";

/// The records a duplicate check reads per kind of record and kind of match (the e-mail, the
/// phone, the web domain, the name): a key or a word many records share (a free-text
/// `acme`) cannot make one check read thousands of rows.
const CANDIDATE_LIMIT: usize = 50;
/// Records sharing a name word looked at per kind of record, at most (SQLite's word index).
const TOKEN_CANDIDATE_LIMIT: usize = 200;

/// Whether the name tokens (`crm_name_tokens`) are this database's similar-name index: on
/// SQLite. PostgreSQL uses a trigram index of the tenant's distinct name keys (migration
/// `m0006_name_vocabulary`), so the token writes are skipped there.
pub(crate) fn uses_name_tokens(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() != DbBackend::Postgres
}

/// Replaces the name tokens of a record (SQLite's similar-name index; nothing on PostgreSQL).
pub async fn write_tokens(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    record_kind: &str,
    record_id: &str,
    tokens: &BTreeSet<String>,
) -> Result<(), DbErr> {
    if !uses_name_tokens(db) {
        return Ok(());
    }
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

/// Inserts name tokens (record kind, record id, token) of new records, several per statement
/// (SQLite's similar-name index; nothing on PostgreSQL).
pub async fn insert_tokens(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    tokens: &[(&str, &str, &str)],
) -> Result<(), DbErr> {
    if !uses_name_tokens(db) {
        return Ok(());
    }
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

/// The columns a candidate is read with, the same for both tables (a client has no company
/// name).
const CLIENT_COLUMNS: &str =
    "'client' AS record_kind, id, name, CAST(NULL AS TEXT) AS company_name, owner_id, \
     email_key, phone_key, domain, name_key";
const LEAD_COLUMNS: &str =
    "'lead' AS record_kind, id, person_name AS name, company_name, owner_id, \
     email_key, phone_key, domain, name_key";

#[derive(FromQueryResult)]
struct CandidateRow {
    record_kind: String,
    id: String,
    name: String,
    company_name: Option<String>,
    owner_id: Option<String>,
    email_key: Option<String>,
    phone_key: Option<String>,
    domain: Option<String>,
    name_key: String,
}

impl CandidateRow {
    fn into_candidate(self) -> Candidate {
        let (record_kind, name) = if self.record_kind == LEAD {
            let name = match self.company_name {
                Some(company) => format!("{} ({company})", self.name),
                None => self.name,
            };
            (LEAD, name)
        } else {
            (CLIENT, self.name)
        };
        Candidate {
            record_kind,
            id: self.id,
            name,
            owner_id: self.owner_id,
            keys: MatchKeys {
                email: self.email_key,
                phone: self.phone_key,
                domain: self.domain,
                name: self.name_key,
            },
        }
    }
}

/// One statement's text and values: placeholders numbered on PostgreSQL (`$1`), positional on
/// SQLite (`?`: bind in the order the placeholders appear in the text), each use of a value
/// bound anew.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
    branches: usize,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::new(),
            values: Vec::new(),
            branches: 0,
        }
    }

    /// The placeholder of a new value.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    /// Appends a branch of the UNION ALL: `SELECT * FROM (<select>)`.
    fn branch(&mut self, select: String) {
        if self.branches > 0 {
            self.text.push_str(" UNION ALL ");
        }
        self.text
            .push_str(&format!("SELECT * FROM ({select}) AS b{}", self.branches));
        self.branches += 1;
    }
}

/// The records (leads and clients, merged ones left out) that may duplicate `keys`, in ONE
/// statement: per table, the records sharing the e-mail, the phone or the web domain key
/// or the name key (each an indexed equality, at most [`CANDIDATE_LIMIT`]), and the records
/// with similar names: on PostgreSQL the trigram index (the most similar first), on SQLite the
/// records sharing a word of the name (`tokens`). The caller compares the keys (the rules live
/// in `domain::matching`); a record found by two branches comes once.
pub async fn candidates(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    keys: &MatchKeys,
    tokens: &BTreeSet<String>,
) -> Result<Vec<Candidate>, DbErr> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    for (table, columns, kind) in [
        ("crm_clients", CLIENT_COLUMNS, CLIENT),
        ("crm_leads", LEAD_COLUMNS, LEAD),
    ] {
        for (column, key) in [
            ("email_key", &keys.email),
            ("phone_key", &keys.phone),
            ("domain", &keys.domain),
        ] {
            let Some(key) = key else { continue };
            let select = format!(
                "SELECT {columns} FROM {table} WHERE tenant_id = {} AND merged_into_id IS NULL \
                 AND {column} = {} LIMIT {CANDIDATE_LIMIT}",
                sql.bind(tenant.as_str()),
                sql.bind(key.as_str()),
            );
            sql.branch(select);
        }
        if !keys.name.is_empty() {
            let select = format!(
                "SELECT {columns} FROM {table} WHERE tenant_id = {} AND merged_into_id IS NULL \
                 AND name_key = {} LIMIT {CANDIDATE_LIMIT}",
                sql.bind(tenant.as_str()),
                sql.bind(keys.name.as_str()),
            );
            sql.branch(select);
        }
        if backend == DbBackend::Postgres {
            if keys.name.is_empty() {
                continue;
            }
            // Other names sharing enough trigrams (pg_trgm's `%`, its similarity threshold,
            // 0.3 by default, below the rule's 0.5), the most similar first: ranked among the
            // tenant's DISTINCT name keys (the vocabulary of m0006, trigram-indexed), then a
            // page of records per key by the name index. Ranking the records themselves read
            // every record of a crowded similar key (8,551 leads named `hooli` for `hooli 5`
            // at tier L) to keep 50. Skipped (a one-time filter: the scan never runs) when the
            // same name alone fills the page.
            let record_tenant = sql.bind(tenant.as_str());
            let key_tenant = sql.bind(tenant.as_str());
            let record_kind = sql.bind(kind);
            let probe = sql.bind(keys.name.as_str());
            let same_tenant = sql.bind(tenant.as_str());
            let select = format!(
                "SELECT similar_records.* FROM (SELECT name_key FROM crm_name_keys \
                 WHERE tenant_id = {key_tenant} AND record_kind = {record_kind} \
                 AND name_key % {probe} AND name_key <> {probe} \
                 AND (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE tenant_id = {same_tenant} \
                 AND merged_into_id IS NULL AND name_key = {probe} LIMIT {CANDIDATE_LIMIT}) AS same) \
                 < {CANDIDATE_LIMIT} \
                 ORDER BY similarity(name_key, {probe}) DESC, name_key LIMIT {CANDIDATE_LIMIT}) \
                 AS similar_keys \
                 CROSS JOIN LATERAL (SELECT {columns} FROM {table} \
                 WHERE tenant_id = {record_tenant} AND merged_into_id IS NULL \
                 AND name_key = similar_keys.name_key LIMIT {CANDIDATE_LIMIT}) AS similar_records \
                 ORDER BY similarity(similar_records.name_key, {probe}) DESC, similar_records.id \
                 LIMIT {CANDIDATE_LIMIT}",
            );
            sql.branch(select);
        } else {
            if tokens.is_empty() {
                continue;
            }
            // Bound in the order the placeholders appear (SQLite's are positional).
            let record_tenant = sql.bind(tenant.as_str());
            let token_tenant = sql.bind(tenant.as_str());
            let record_kind = sql.bind(kind);
            let words: Vec<String> = tokens
                .iter()
                .map(|token| sql.bind(token.as_str()))
                .collect();
            let select = format!(
                "SELECT {columns} FROM {table} WHERE tenant_id = {record_tenant} \
                 AND merged_into_id IS NULL AND id IN (SELECT record_id FROM crm_name_tokens \
                 WHERE tenant_id = {token_tenant} AND record_kind = {record_kind} \
                 AND token IN ({}) LIMIT {TOKEN_CANDIDATE_LIMIT})",
                words.join(", "),
            );
            sql.branch(select);
        }
    }
    if sql.text.is_empty() {
        return Ok(Vec::new());
    }
    let rows = CandidateRow::find_by_statement(Statement::from_sql_and_values(
        backend, sql.text, sql.values,
    ))
    .all(db)
    .await?;
    let mut found: BTreeMap<(&'static str, String), Candidate> = BTreeMap::new();
    for row in rows {
        let candidate = row.into_candidate();
        found
            .entry((candidate.record_kind, candidate.id.clone()))
            .or_insert(candidate);
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
