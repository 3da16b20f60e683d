//! Receivables and payables: partners, payment terms, documents (invoices, credit notes, bills)
//! with lines and instalments, payments, allocations, recurring schedules.
//!
//! The bounds of invariant F8 are enforced here with conditional updates, so that they hold
//! under concurrency too: a payment's `allocated` only grows while it stays within its amount,
//! a document's `settled` only while it stays within its total, a draft becomes posted once.

use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use erp_kit::db::insert_chunked;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{
    allocation, document, document_line, instalment, partner, payment, payment_term,
    recurring_schedule,
};

pub async fn insert_partner<C: ConnectionTrait>(
    conn: &C,
    row: partner::Model,
) -> Result<(), DbErr> {
    partner::Entity::insert(partner::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn partner<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<partner::Model>, DbErr> {
    partner::Entity::find_by_id(id.to_owned())
        .filter(partner::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn partners_by_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<String>,
) -> Result<Vec<partner::Model>, DbErr> {
    partner::Entity::find()
        .filter(partner::Column::TenantId.eq(tenant.as_str()))
        .filter(partner::Column::Id.is_in(ids))
        .all(conn)
        .await
}

pub async fn partner_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    kind: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<partner::Model>, DbErr> {
    let mut query = partner::Entity::find().filter(partner::Column::TenantId.eq(tenant.as_str()));
    if let Some(kind) = kind {
        query = query.filter(partner::Column::Kind.eq(kind));
    }
    keyset_page(query, partner::Column::Id, page)
        .all(conn)
        .await
}

pub async fn insert_payment_term<C: ConnectionTrait>(
    conn: &C,
    row: payment_term::Model,
) -> Result<(), DbErr> {
    payment_term::Entity::insert(payment_term::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn payment_term<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<payment_term::Model>, DbErr> {
    payment_term::Entity::find_by_id(id.to_owned())
        .filter(payment_term::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn payment_terms<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<payment_term::Model>, DbErr> {
    payment_term::Entity::find()
        .filter(payment_term::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(payment_term::Column::Id)
        .all(conn)
        .await
}

/// Inserts a document; false when its `(recurring schedule, period)` already has one (so a
/// recurring run never generates twice for a period, even racing another run).
pub async fn insert_document<C: ConnectionTrait>(
    conn: &C,
    row: document::Model,
) -> Result<bool, DbErr> {
    let recurring = row.recurring_schedule_id.is_some();
    let insert = document::Entity::insert(document::ActiveModel::from(row));
    let inserted = if recurring {
        insert
            .on_conflict(
                OnConflict::columns([
                    document::Column::TenantId,
                    document::Column::RecurringScheduleId,
                    document::Column::RecurringPeriod,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await?
    } else {
        insert.exec_without_returning(conn).await?
    };
    Ok(inserted == 1)
}

pub async fn document<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<document::Model>, DbErr> {
    document::Entity::find_by_id(id.to_owned())
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn documents_by_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<String>,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.is_in(ids))
        .all(conn)
        .await
}

/// Filters of the document lists.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub kinds: Vec<&'static str>,
    pub partner_id: Option<String>,
    /// Only documents of one of these partners (none: any partner).
    pub partner_ids: Vec<String>,
    pub project_id: Option<String>,
    pub posted: Option<bool>,
    /// Only documents with something outstanding.
    pub open: bool,
}

pub async fn document_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    filter: &DocumentFilter,
    page: &PageRequest,
) -> Result<Vec<document::Model>, DbErr> {
    keyset_page(filtered(tenant, filter), document::Column::Id, page)
        .all(conn)
        .await
}

fn filtered(tenant: &TenantId, filter: &DocumentFilter) -> sea_orm::Select<document::Entity> {
    let mut query = document::Entity::find().filter(document::Column::TenantId.eq(tenant.as_str()));
    if !filter.kinds.is_empty() {
        query = query.filter(document::Column::Kind.is_in(filter.kinds.clone()));
    }
    if let Some(partner) = &filter.partner_id {
        query = query.filter(document::Column::PartnerId.eq(partner.as_str()));
    }
    if !filter.partner_ids.is_empty() {
        query = query.filter(document::Column::PartnerId.is_in(filter.partner_ids.clone()));
    }
    if let Some(project) = &filter.project_id {
        query = query.filter(document::Column::ProjectId.eq(project.as_str()));
    }
    if let Some(posted) = filter.posted {
        query = query.filter(document::Column::Posted.eq(posted));
    }
    if filter.open {
        query = query
            .filter(document::Column::Posted.eq(true))
            .filter(Expr::col(document::Column::Settled).lt(Expr::col(document::Column::Total)));
    }
    query
}

/// Every document matching `filter` (reports: open invoices for ageing and forecasts).
pub async fn all_documents<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    filter: &DocumentFilter,
) -> Result<Vec<document::Model>, DbErr> {
    filtered(tenant, filter)
        .order_by_asc(document::Column::Id)
        .all(conn)
        .await
}

/// The invoices of projects (at most `limit` per call, newest first).
pub async fn documents_of_projects<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    project_ids: Vec<String>,
    limit: u64,
) -> Result<Vec<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::ProjectId.is_in(project_ids))
        .filter(document::Column::Kind.eq("invoice"))
        .order_by_desc(document::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

/// Changes a draft's header; false when it is no longer a draft.
#[allow(clippy::too_many_arguments)]
pub async fn update_draft<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    document_date: NaiveDate,
    due_date: NaiveDate,
    memo: Option<String>,
    untaxed: i64,
    tax: i64,
    total: i64,
) -> Result<bool, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(document::Column::DocumentDate, Expr::value(document_date))
        .col_expr(document::Column::DueDate, Expr::value(due_date))
        .col_expr(document::Column::Memo, Expr::value(memo))
        .col_expr(document::Column::Untaxed, Expr::value(untaxed))
        .col_expr(document::Column::Tax, Expr::value(tax))
        .col_expr(document::Column::Total, Expr::value(total))
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Posted.eq(false))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Locks a draft's row without changing it (a no-op update: the first write of an edit or of a
/// billing that adds a line to the draft, so that it reads the draft and its lines only once
/// every writer before it has committed, in a posting's and a deletion's lock order); false
/// when it is not a draft (posted or deleted meanwhile, or unknown).
pub async fn lock_draft<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(
            document::Column::Posted,
            Expr::col(document::Column::Posted).into(),
        )
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Posted.eq(false))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes a draft document (the first statement of a deletion, so the row is locked first,
/// in a posting's lock order); false when there is no such draft any more (posted by a
/// posting that committed first, or deleted already).
pub async fn delete_draft<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, DbErr> {
    let result = document::Entity::delete_many()
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Posted.eq(false))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes every line of a document (its time entries become billable again).
pub async fn delete_lines<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_id: &str,
) -> Result<(), DbErr> {
    document_line::Entity::delete_many()
        .filter(document_line::Column::TenantId.eq(tenant.as_str()))
        .filter(document_line::Column::DocumentId.eq(document_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Claims a draft for posting (the first statement of a posting, so the row is locked first);
/// false when it is not a draft any more: a draft posts once, even with two requests racing.
pub async fn claim_draft<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<bool, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(document::Column::Posted, Expr::value(true))
        .col_expr(document::Column::PostedAt, Expr::value(chrono::Utc::now()))
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Posted.eq(false))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Claims several drafts for posting at once (a batch of postings, in one statement): how
/// many were still drafts (fewer than asked: another writer claimed one meanwhile).
pub async fn claim_drafts<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<String>,
) -> Result<u64, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(document::Column::Posted, Expr::value(true))
        .col_expr(document::Column::PostedAt, Expr::value(chrono::Utc::now()))
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.is_in(ids))
        .filter(document::Column::Posted.eq(false))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Gives back drafts claimed by [`claim_drafts`] in the same transaction whose posting was
/// refused (the rest of their batch posts).
pub async fn unclaim_drafts<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<String>,
) -> Result<(), DbErr> {
    document::Entity::update_many()
        .col_expr(document::Column::Posted, Expr::value(false))
        .col_expr(
            document::Column::PostedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.is_in(ids))
        .exec(conn)
        .await?;
    Ok(())
}

/// What posting stores on a document, in one update: its number, entry and totals, and its
/// base amounts (computed once, at posting).
pub struct Posted<'a> {
    pub number: i64,
    pub reference: &'a str,
    pub entry_id: &'a str,
    pub untaxed: i64,
    pub tax: i64,
    pub total: i64,
    pub settled: i64,
    pub rate_nano: Option<i64>,
    pub base_total: i64,
    pub base_settled: i64,
}

pub async fn set_posted<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    posted: Posted<'_>,
) -> Result<(), DbErr> {
    document::Entity::update_many()
        .col_expr(document::Column::Number, Expr::value(posted.number))
        .col_expr(document::Column::Reference, Expr::value(posted.reference))
        .col_expr(document::Column::EntryId, Expr::value(posted.entry_id))
        .col_expr(document::Column::Untaxed, Expr::value(posted.untaxed))
        .col_expr(document::Column::Tax, Expr::value(posted.tax))
        .col_expr(document::Column::Total, Expr::value(posted.total))
        .col_expr(document::Column::Settled, Expr::value(posted.settled))
        .col_expr(document::Column::RateNano, Expr::value(posted.rate_nano))
        .col_expr(document::Column::BaseTotal, Expr::value(posted.base_total))
        .col_expr(
            document::Column::BaseSettled,
            Expr::value(posted.base_settled),
        )
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Adds what an allocation cleared of a document's booked base amount (after
/// [`add_settlement`] in the same transaction, which holds the row).
pub async fn add_base_settlement<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    base_amount: i64,
) -> Result<(), DbErr> {
    document::Entity::update_many()
        .col_expr(
            document::Column::BaseSettled,
            Expr::col(document::Column::BaseSettled).add(base_amount),
        )
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Adds what allocations took of a payment's base amount (after [`add_allocated`] in the same
/// transaction, which holds the row).
pub async fn add_base_allocated<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    base_amount: i64,
) -> Result<(), DbErr> {
    payment::Entity::update_many()
        .col_expr(
            payment::Column::BaseAllocated,
            Expr::col(payment::Column::BaseAllocated).add(base_amount),
        )
        .filter(payment::Column::TenantId.eq(tenant.as_str()))
        .filter(payment::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Adds `amount` to a posted document's settlements unless that would exceed its total.
pub async fn add_settlement<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    amount: i64,
) -> Result<bool, DbErr> {
    let result = document::Entity::update_many()
        .col_expr(
            document::Column::Settled,
            Expr::col(document::Column::Settled).add(amount),
        )
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Id.eq(id))
        .filter(document::Column::Posted.eq(true))
        .filter(
            Expr::expr(Expr::col(document::Column::Settled).add(amount))
                .lte(Expr::col(document::Column::Total)),
        )
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn replace_lines<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_id: &str,
    lines: Vec<document_line::Model>,
) -> Result<(), DbErr> {
    document_line::Entity::delete_many()
        .filter(document_line::Column::TenantId.eq(tenant.as_str()))
        .filter(document_line::Column::DocumentId.eq(document_id))
        .exec(conn)
        .await?;
    if !lines.is_empty() {
        document_line::Entity::insert_many(lines.into_iter().map(document_line::ActiveModel::from))
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Rewrites the computed subtotals and taxes of a document's lines (at posting).
pub async fn set_line_amounts<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    line_id: &str,
    subtotal: i64,
    tax_amount: i64,
) -> Result<(), DbErr> {
    document_line::Entity::update_many()
        .col_expr(document_line::Column::Subtotal, Expr::value(subtotal))
        .col_expr(document_line::Column::TaxAmount, Expr::value(tax_amount))
        .filter(document_line::Column::TenantId.eq(tenant.as_str()))
        .filter(document_line::Column::Id.eq(line_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn lines_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_ids: Vec<String>,
) -> Result<Vec<document_line::Model>, DbErr> {
    document_line::Entity::find()
        .filter(document_line::Column::TenantId.eq(tenant.as_str()))
        .filter(document_line::Column::DocumentId.is_in(document_ids))
        .order_by_asc(document_line::Column::DocumentId)
        .order_by_asc(document_line::Column::LineNo)
        .all(conn)
        .await
}

pub async fn insert_instalments<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<instalment::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    instalment::Entity::insert_many(rows.into_iter().map(instalment::ActiveModel::from))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn instalments_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_ids: Vec<String>,
) -> Result<Vec<instalment::Model>, DbErr> {
    let mut rows = Vec::new();
    // Chunked: ageing reads every open document's instalments.
    for chunk in document_ids.chunks(1000) {
        rows.extend(
            instalment::Entity::find()
                .filter(instalment::Column::TenantId.eq(tenant.as_str()))
                .filter(instalment::Column::DocumentId.is_in(chunk.to_vec()))
                .order_by_asc(instalment::Column::DocumentId)
                .order_by_asc(instalment::Column::Seq)
                .all(conn)
                .await?,
        );
    }
    Ok(rows)
}

pub async fn insert_payment<C: ConnectionTrait>(
    conn: &C,
    row: payment::Model,
) -> Result<(), DbErr> {
    payment::Entity::insert(payment::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn payment<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<payment::Model>, DbErr> {
    payment::Entity::find_by_id(id.to_owned())
        .filter(payment::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn payment_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    partner_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<payment::Model>, DbErr> {
    let mut query = payment::Entity::find().filter(payment::Column::TenantId.eq(tenant.as_str()));
    if let Some(partner) = partner_id {
        query = query.filter(payment::Column::PartnerId.eq(partner));
    }
    keyset_page(query, payment::Column::Id, page)
        .all(conn)
        .await
}

/// Payments with something left to allocate.
pub async fn unallocated_payments<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    direction: &str,
) -> Result<Vec<payment::Model>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::TenantId.eq(tenant.as_str()))
        .filter(payment::Column::Direction.eq(direction))
        .filter(Expr::col(payment::Column::Allocated).lt(Expr::col(payment::Column::Amount)))
        .all(conn)
        .await
}

/// Adds `amount` to a payment's allocations unless that would exceed the payment.
pub async fn add_allocated<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    amount: i64,
) -> Result<bool, DbErr> {
    let result = payment::Entity::update_many()
        .col_expr(
            payment::Column::Allocated,
            Expr::col(payment::Column::Allocated).add(amount),
        )
        .filter(payment::Column::TenantId.eq(tenant.as_str()))
        .filter(payment::Column::Id.eq(id))
        .filter(
            Expr::expr(Expr::col(payment::Column::Allocated).add(amount))
                .lte(Expr::col(payment::Column::Amount)),
        )
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn insert_allocations<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<allocation::Model>,
) -> Result<(), DbErr> {
    insert_chunked(conn, allocation::Entity, rows, 1000, None).await?;
    Ok(())
}

/// The allocations of documents or of payments (and credit notes).
pub async fn allocations<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_ids: Vec<String>,
    payment_ids: Vec<String>,
) -> Result<Vec<allocation::Model>, DbErr> {
    allocation::Entity::find()
        .filter(allocation::Column::TenantId.eq(tenant.as_str()))
        .filter(
            Condition::any()
                .add(allocation::Column::DocumentId.is_in(document_ids))
                .add(allocation::Column::PaymentId.is_in(payment_ids.clone()))
                .add(allocation::Column::CreditNoteId.is_in(payment_ids)),
        )
        .order_by_asc(allocation::Column::Id)
        .all(conn)
        .await
}

pub async fn insert_schedule<C: ConnectionTrait>(
    conn: &C,
    row: recurring_schedule::Model,
) -> Result<(), DbErr> {
    recurring_schedule::Entity::insert(recurring_schedule::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn schedules<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<recurring_schedule::Model>, DbErr> {
    recurring_schedule::Entity::find()
        .filter(recurring_schedule::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(recurring_schedule::Column::Id)
        .all(conn)
        .await
}
