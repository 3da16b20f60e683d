//! Revaluations' rows, and the reads a revaluation needs: the posted foreign-currency
//! documents dated by a day and the dates of their settlements.

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use erp_kit::TenantId;

use super::entities::{allocation, document, payment, revaluation};

pub async fn insert<C: ConnectionTrait>(conn: &C, row: revaluation::Model) -> Result<(), DbErr> {
    revaluation::Entity::insert(revaluation::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn by_id<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<revaluation::Model>, DbErr> {
    revaluation::Entity::find()
        .filter(revaluation::Column::TenantId.eq(tenant.as_str()))
        .filter(revaluation::Column::Id.eq(id))
        .one(conn)
        .await
}

pub async fn on_date<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    date: NaiveDate,
) -> Result<Option<revaluation::Model>, DbErr> {
    revaluation::Entity::find()
        .filter(revaluation::Column::TenantId.eq(tenant.as_str()))
        .filter(revaluation::Column::RevaluationDate.eq(date))
        .one(conn)
        .await
}

/// Posted documents not in `base` dated on or before `date` and not settled before it was
/// booked (a document settled in full may still have been open on `date`: its settlements'
/// dates decide).
pub async fn foreign_documents<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    base: &str,
    date: NaiveDate,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Posted.eq(true))
        .filter(document::Column::Currency.ne(base))
        .filter(document::Column::DocumentDate.lte(date))
        .order_by_asc(document::Column::Id)
        .all(conn)
        .await
}

/// The allocations clearing `document_ids` or made by them (credit notes).
pub async fn allocations_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_ids: Vec<String>,
) -> Result<Vec<allocation::Model>, DbErr> {
    let mut rows = Vec::new();
    for chunk in document_ids.chunks(500) {
        rows.extend(
            allocation::Entity::find()
                .filter(allocation::Column::TenantId.eq(tenant.as_str()))
                .filter(
                    sea_orm::Condition::any()
                        .add(allocation::Column::DocumentId.is_in(chunk.to_vec()))
                        .add(allocation::Column::CreditNoteId.is_in(chunk.to_vec())),
                )
                .all(conn)
                .await?,
        );
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows.dedup_by(|a, b| a.id == b.id);
    Ok(rows)
}

/// The dates of `payment_ids`: (id, payment date).
pub async fn payment_dates<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    payment_ids: Vec<String>,
) -> Result<Vec<(String, NaiveDate)>, DbErr> {
    let mut dates = Vec::new();
    for chunk in payment_ids.chunks(500) {
        dates.extend(
            payment::Entity::find()
                .filter(payment::Column::TenantId.eq(tenant.as_str()))
                .filter(payment::Column::Id.is_in(chunk.to_vec()))
                .all(conn)
                .await?
                .into_iter()
                .map(|row| (row.id, row.payment_date)),
        );
    }
    Ok(dates)
}

/// Stores what the revaluation posted (its row was inserted first, in the same transaction).
pub async fn update<C: ConnectionTrait>(conn: &C, row: revaluation::Model) -> Result<(), DbErr> {
    let tenant = row.tenant_id.clone();
    revaluation::Entity::update(revaluation::ActiveModel::from(row).reset_all())
        .filter(revaluation::Column::TenantId.eq(tenant))
        .exec(conn)
        .await?;
    Ok(())
}
