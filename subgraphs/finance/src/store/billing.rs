//! Billing rates: which customer a PMO project's approved hours are invoiced to, at what
//! hourly rate; and the project's open draft invoice the hours go on. The CRM quotes already
//! invoiced, and the customer a CRM client is invoiced as.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use erp_kit::TenantId;

use super::entities::{billing_rate, document, quote_invoice};

pub async fn upsert_rate<C: ConnectionTrait>(
    conn: &C,
    row: billing_rate::Model,
) -> Result<(), DbErr> {
    billing_rate::Entity::insert(billing_rate::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                billing_rate::Column::TenantId,
                billing_rate::Column::ProjectId,
            ])
            .update_columns([
                billing_rate::Column::PartnerId,
                billing_rate::Column::Currency,
                billing_rate::Column::HourlyRate,
                billing_rate::Column::AccountId,
                billing_rate::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn rate<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    project_id: &str,
) -> Result<Option<billing_rate::Model>, DbErr> {
    billing_rate::Entity::find_by_id((tenant.as_str().to_owned(), project_id.to_owned()))
        .one(conn)
        .await
}

/// The newest draft invoice of a project for a customer, if any.
pub async fn open_draft<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    project_id: &str,
    partner_id: &str,
) -> Result<Option<document::Model>, DbErr> {
    document::Entity::find()
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::ProjectId.eq(project_id))
        .filter(document::Column::PartnerId.eq(partner_id))
        .filter(document::Column::Kind.eq("invoice"))
        .filter(document::Column::Posted.eq(false))
        .filter(document::Column::RecurringScheduleId.is_null())
        .order_by_desc(document::Column::Id)
        .one(conn)
        .await
}

/// Whether a line with this billing key (`timesheet:<id>:<project>`) exists on any document.
pub async fn already_billed<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    key: &str,
) -> Result<bool, DbErr> {
    use super::entities::document_line;
    Ok(document_line::Entity::find()
        .filter(document_line::Column::TenantId.eq(tenant.as_str()))
        .filter(document_line::Column::TimeEntryId.eq(key))
        .one(conn)
        .await?
        .is_some())
}

/// The invoice drafted for a CRM quote, if one was.
pub async fn quote_invoice<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    quote_id: &str,
) -> Result<Option<quote_invoice::Model>, DbErr> {
    quote_invoice::Entity::find_by_id((tenant.as_str().to_owned(), quote_id.to_owned()))
        .one(conn)
        .await
}

/// Remembers the invoice drafted for a quote (the primary key refuses a second one).
pub async fn insert_quote_invoice<C: ConnectionTrait>(
    conn: &C,
    row: quote_invoice::Model,
) -> Result<(), DbErr> {
    quote_invoice::Entity::insert(quote_invoice::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The quotes invoiced by these documents.
pub async fn quote_invoices_of_documents<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    document_ids: Vec<String>,
) -> Result<Vec<quote_invoice::Model>, DbErr> {
    quote_invoice::Entity::find()
        .filter(quote_invoice::Column::TenantId.eq(tenant.as_str()))
        .filter(quote_invoice::Column::DocumentId.is_in(document_ids))
        .all(conn)
        .await
}
