//! Revaluations' rows, and the reads a revaluation needs: the posted foreign-currency
//! documents dated by a day and the dates of their settlements, the foreign payments dated by
//! it and their allocations, and the bank accounts' balances in foreign currencies.

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use erp_kit::TenantId;

use super::entities::{allocation, document, entry_line, payment, revaluation};

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

/// Payments not in `base` dated on or before `date` (what of each was on account on `date`
/// is decided by its allocations and their documents' dates).
pub async fn foreign_payments<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    base: &str,
    date: NaiveDate,
) -> Result<Vec<payment::Model>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::TenantId.eq(tenant.as_str()))
        .filter(payment::Column::Currency.ne(base))
        .filter(payment::Column::PaymentDate.lte(date))
        .order_by_asc(payment::Column::PaymentDate)
        .order_by_asc(payment::Column::Id)
        .all(conn)
        .await
}

/// The allocations made by `payment_ids`.
pub async fn allocations_of_payments<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    payment_ids: Vec<String>,
) -> Result<Vec<allocation::Model>, DbErr> {
    let mut rows = Vec::new();
    for chunk in payment_ids.chunks(500) {
        rows.extend(
            allocation::Entity::find()
                .filter(allocation::Column::TenantId.eq(tenant.as_str()))
                .filter(allocation::Column::PaymentId.is_in(chunk.to_vec()))
                .order_by_asc(allocation::Column::Id)
                .all(conn)
                .await?,
        );
    }
    Ok(rows)
}

/// A bank account's balance in one foreign currency at the end of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignBalance {
    pub account_id: String,
    pub currency: String,
    /// Minor units of `currency`, positive a debit balance.
    pub amount: i64,
    /// The booked base amount of the lines, signed the same way.
    pub carrying: i64,
}

/// What each of `account_ids` holds in each currency other than `base` at the end of `date`:
/// the sum of its lines in that currency (debits less credits, in the currency and in base).
/// By account and currency.
pub async fn foreign_balances<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    account_ids: Vec<String>,
    base: &str,
    date: NaiveDate,
) -> Result<Vec<ForeignBalance>, DbErr> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    // A line's `amount` is unsigned: its side is the base column that is not zero (as
    // `posted_line` reads it). The casts: PostgreSQL sums a BIGINT as NUMERIC.
    let rows: Vec<(String, String, i64, i64)> = entry_line::Entity::find()
        .select_only()
        .column(entry_line::Column::AccountId)
        .column(entry_line::Column::Currency)
        .column_as(
            Expr::cust("CAST(SUM(CASE WHEN debit > 0 THEN amount ELSE -amount END) AS BIGINT)"),
            "amount",
        )
        .column_as(
            Expr::cust("CAST(SUM(debit - credit) AS BIGINT)"),
            "carrying",
        )
        .filter(entry_line::Column::TenantId.eq(tenant.as_str()))
        .filter(entry_line::Column::AccountId.is_in(account_ids))
        .filter(entry_line::Column::Currency.ne(base))
        .filter(entry_line::Column::EntryDate.lte(date))
        .group_by(entry_line::Column::AccountId)
        .group_by(entry_line::Column::Currency)
        .order_by_asc(entry_line::Column::AccountId)
        .order_by_asc(entry_line::Column::Currency)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(account_id, currency, amount, carrying)| ForeignBalance {
            account_id,
            currency,
            amount,
            carrying,
        })
        .collect())
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
