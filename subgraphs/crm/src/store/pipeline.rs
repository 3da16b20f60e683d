//! Pipelines, stages, opportunities, and the per-owner stage totals (`crm_stage_totals`)
//! every change of an open opportunity adjusts in its own transaction.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Asterisk, Expr, OnConflict, Query, SelectStatement, UnionType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{opportunity, pipeline, stage};
use super::IN_LIST_CHUNK;
use crate::domain::pipeline::TotalsRow;

pub async fn insert_pipeline(
    db: &impl ConnectionTrait,
    model: pipeline::Model,
    stages: Vec<stage::Model>,
) -> Result<(), DbErr> {
    pipeline::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    stage::Entity::insert_many(stages.into_iter().map(IntoActiveModel::into_active_model))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn insert_stage(db: &impl ConnectionTrait, model: stage::Model) -> Result<(), DbErr> {
    stage::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn pipelines(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<pipeline::Model>, DbErr> {
    pipeline::Entity::find()
        .filter(pipeline::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(pipeline::Column::Id)
        .all(db)
        .await
}

pub async fn pipeline(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<pipeline::Model>, DbErr> {
    pipeline::Entity::find_by_id(id.to_owned())
        .filter(pipeline::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn pipeline_by_name(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<pipeline::Model>, DbErr> {
    pipeline::Entity::find()
        .filter(pipeline::Column::TenantId.eq(tenant.as_str()))
        .filter(pipeline::Column::Name.eq(name))
        .one(db)
        .await
}

/// The stages of these pipelines, in position order.
pub async fn stages_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    pipeline_ids: &[String],
) -> Result<Vec<stage::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in pipeline_ids.chunks(IN_LIST_CHUNK) {
        found.extend(
            stage::Entity::find()
                .filter(stage::Column::TenantId.eq(tenant.as_str()))
                .filter(stage::Column::PipelineId.is_in(chunk.iter().cloned()))
                .order_by_asc(stage::Column::PipelineId)
                .order_by_asc(stage::Column::Position)
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

pub async fn stages_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, stage::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in stage::Entity::find()
            .filter(stage::Column::TenantId.eq(tenant.as_str()))
            .filter(stage::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

pub async fn stage(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<stage::Model>, DbErr> {
    stage::Entity::find_by_id(id.to_owned())
        .filter(stage::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

pub async fn insert_opportunity(
    db: &impl ConnectionTrait,
    model: opportunity::Model,
) -> Result<opportunity::Model, DbErr> {
    opportunity::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn opportunity(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<opportunity::Model>, DbErr> {
    opportunity::Entity::find_by_id(id.to_owned())
        .filter(opportunity::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// An opportunity, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`): every
/// change takes it first, so the stage totals move once per change.
pub async fn lock_opportunity(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<opportunity::Model>, DbErr> {
    opportunity::Entity::find_by_id(id.to_owned())
        .filter(opportunity::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn opportunities_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, opportunity::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in opportunity::Entity::find()
            .filter(opportunity::Column::TenantId.eq(tenant.as_str()))
            .filter(opportunity::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// Writes every field of `model` (its version already bumped by the caller).
pub async fn update_opportunity(
    db: &impl ConnectionTrait,
    model: opportunity::Model,
) -> Result<opportunity::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

/// The filters of the opportunity list (and of a board stage's cards).
#[derive(Debug, Clone, Default)]
pub struct OpportunityFilter {
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub status: Option<String>,
    pub client_id: Option<String>,
    pub owner_id: Option<String>,
    /// Only records of these owners (the row rules); `None`: every record.
    pub owners: Option<Vec<String>>,
}

/// One page of opportunities in id order.
pub async fn opportunities_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &OpportunityFilter,
    page: &PageRequest,
) -> Result<Vec<opportunity::Model>, DbErr> {
    opportunities_page_select(tenant, filter, page)
        .all(db)
        .await
}

/// Pages of a statement at most: a board has at most 20 stages.
const PAGES_PER_STATEMENT: usize = 20;

/// Many pages of opportunities (a board's columns: each stage's open cards) in ONE statement
/// per [`PAGES_PER_STATEMENT`]: each page is its own indexed, limited select (the
/// `(tenant_id, stage_id, status[, owner_id], id)` indexes read `limit + 1` entries per stage,
/// however many opportunities the stage holds), the pages glued by `UNION ALL` (PostgreSQL and
/// SQLite alike) and told apart by their position. Answers the pages in the order asked, each
/// in its page's direction (what `connection_from_rows` takes).
pub async fn opportunity_pages(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    pages: &[(OpportunityFilter, PageRequest)],
) -> Result<Vec<Vec<opportunity::Model>>, DbErr> {
    let position = Alias::new("page_position");
    let mut found: Vec<Vec<opportunity::Model>> = vec![Vec::new(); pages.len()];
    for (chunk_index, chunk) in pages.chunks(PAGES_PER_STATEMENT).enumerate() {
        let first = chunk_index * PAGES_PER_STATEMENT;
        let mut union: Option<SelectStatement> = None;
        for (offset, (filter, page)) in chunk.iter().enumerate() {
            let index = i64::try_from(first + offset).unwrap_or(i64::MAX);
            let branch = Query::select()
                .column(Asterisk)
                .expr_as(Expr::val(index), position.clone())
                .from_subquery(
                    opportunities_page_select(tenant, filter, page).into_query(),
                    Alias::new(format!("page_{index}")),
                )
                .to_owned();
            match union.as_mut() {
                None => union = Some(branch),
                Some(union) => {
                    union.union(UnionType::All, branch);
                }
            }
        }
        let Some(union) = union else { continue };
        for row in db
            .query_all(db.get_database_backend().build(&union))
            .await?
        {
            let index: i64 = row.try_get("", "page_position")?;
            let model = opportunity::Model::from_query_result(&row, "")?;
            if let Some(page) = usize::try_from(index).ok().and_then(|i| found.get_mut(i)) {
                page.push(model);
            }
        }
    }
    // A union's order is not its branches': each page sorted again in its direction.
    for (rows, (_, page)) in found.iter_mut().zip(pages) {
        if page.backward {
            rows.sort_by(|a, b| b.id.cmp(&a.id));
        } else {
            rows.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }
    Ok(found)
}

/// The select of one page of opportunities in id order (`limit + 1` rows).
fn opportunities_page_select(
    tenant: &TenantId,
    filter: &OpportunityFilter,
    page: &PageRequest,
) -> sea_orm::Select<opportunity::Entity> {
    let mut query =
        opportunity::Entity::find().filter(opportunity::Column::TenantId.eq(tenant.as_str()));
    if let Some(stage) = &filter.stage_id {
        query = query.filter(opportunity::Column::StageId.eq(stage.as_str()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(opportunity::Column::Status.eq(status.as_str()));
    }
    if let Some(pipeline) = &filter.pipeline_id {
        query = query.filter(opportunity::Column::PipelineId.eq(pipeline.as_str()));
    }
    if let Some(client) = &filter.client_id {
        query = query.filter(opportunity::Column::ClientId.eq(client.as_str()));
    }
    if let Some(owner) = &filter.owner_id {
        query = query.filter(opportunity::Column::OwnerId.eq(owner.as_str()));
    }
    if let Some(owners) = &filter.owners {
        query = query.filter(opportunity::Column::OwnerId.is_in(owners.iter().cloned()));
    }
    keyset_page(query, opportunity::Column::Id, page)
}

/// A change of the open count and amount of one (stage, owner, currency) of a pipeline.
#[derive(Debug, Clone)]
pub struct TotalsDelta {
    pub stage_id: String,
    pub owner_id: String,
    pub currency: String,
    pub count: i64,
    pub amount_minor: i64,
}

/// [`add_to_totals`] for many (stage, owner, currency) at once, several per statement.
pub async fn add_many_to_totals(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    pipeline_id: &str,
    deltas: &[TotalsDelta],
) -> Result<(), DbErr> {
    for chunk in deltas.chunks(IN_LIST_CHUNK / 7) {
        let mut insert = Query::insert()
            .into_table(Alias::new("crm_stage_totals"))
            .columns(
                [
                    "tenant_id",
                    "pipeline_id",
                    "stage_id",
                    "owner_id",
                    "currency",
                    "open_count",
                    "open_amount_minor",
                ]
                .map(Alias::new),
            )
            .to_owned();
        for delta in chunk {
            insert.values_panic([
                tenant.as_str().into(),
                pipeline_id.into(),
                delta.stage_id.as_str().into(),
                delta.owner_id.as_str().into(),
                delta.currency.as_str().into(),
                delta.count.into(),
                delta.amount_minor.into(),
            ]);
        }
        insert.on_conflict(totals_conflict());
        db.execute(db.get_database_backend().build(&insert)).await?;
    }
    Ok(())
}

/// Adds `count` opportunities worth `amount_minor` (both may be negative) to the open totals
/// of (stage, owner, currency).
#[allow(clippy::too_many_arguments)]
pub async fn add_to_totals(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    pipeline_id: &str,
    stage_id: &str,
    owner_id: &str,
    currency: &str,
    count: i64,
    amount_minor: i64,
) -> Result<(), DbErr> {
    let delta = TotalsDelta {
        stage_id: stage_id.to_owned(),
        owner_id: owner_id.to_owned(),
        currency: currency.to_owned(),
        count,
        amount_minor,
    };
    add_many_to_totals(db, tenant, pipeline_id, std::slice::from_ref(&delta)).await
}

/// A totals row that exists already adds the new row's count and amount to its own.
fn totals_conflict() -> OnConflict {
    OnConflict::columns(["tenant_id", "stage_id", "owner_id", "currency"].map(Alias::new))
        .values([
            (
                Alias::new("open_count"),
                Expr::cust("crm_stage_totals.open_count + excluded.open_count"),
            ),
            (
                Alias::new("open_amount_minor"),
                Expr::cust("crm_stage_totals.open_amount_minor + excluded.open_amount_minor"),
            ),
        ])
        .to_owned()
}

/// The cached totals of a pipeline's open opportunities per stage and currency, over the
/// owners a viewer may see (`None`: every owner). One indexed read of small rows, whatever
/// the number of opportunities.
pub async fn totals(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    pipeline_id: &str,
    owners: Option<&[String]>,
) -> Result<Vec<TotalsRow>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        stage_id: String,
        currency: String,
        open_count: i64,
        open_amount_minor: i64,
    }
    let mut select = Query::select()
        .columns(["stage_id", "currency"].map(Alias::new))
        .expr_as(
            Expr::cust("CAST(SUM(open_count) AS BIGINT)"),
            Alias::new("open_count"),
        )
        .expr_as(
            Expr::cust("CAST(SUM(open_amount_minor) AS BIGINT)"),
            Alias::new("open_amount_minor"),
        )
        .from(Alias::new("crm_stage_totals"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("pipeline_id")).eq(pipeline_id))
        .group_by_columns(["stage_id", "currency"].map(Alias::new))
        .to_owned();
    if let Some(owners) = owners {
        select.and_where(Expr::col(Alias::new("owner_id")).is_in(owners.iter().cloned()));
    }
    let rows = Row::find_by_statement(db.get_database_backend().build(&select))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.open_count != 0 || row.open_amount_minor != 0)
        .map(|row| TotalsRow {
            stage_id: row.stage_id,
            currency: row.currency,
            count: row.open_count,
            amount_minor: row.open_amount_minor,
        })
        .collect())
}

pub async fn pipelines_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, pipeline::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in pipeline::Entity::find()
            .filter(pipeline::Column::TenantId.eq(tenant.as_str()))
            .filter(pipeline::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// The first `limit` opportunities of each client (one query).
pub async fn first_opportunities_of_clients(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    client_ids: &[String],
    limit: u64,
) -> Result<HashMap<String, Vec<opportunity::Model>>, DbErr> {
    super::pages::first_per_parent::<opportunity::Entity, _>(
        db,
        sea_orm::Condition::all().add(opportunity::Column::TenantId.eq(tenant.as_str())),
        opportunity::Column::ClientId,
        client_ids,
        opportunity::Column::Id,
        limit,
        |o| Some(o.client_id.as_str()),
    )
    .await
}
