//! Control totals: finance's own count and sum of a day's records, which analytics reconciles
//! its facts with.

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use erp_kit::TenantId;

use super::entities::document;

/// The posted customer invoices of `tenant` dated `day`: how many, and their base totals'
/// sum (minor units of the base currency). Read inside the posting transaction, after the
/// numbering sequence row was locked: every other posting of the same day (same fiscal year,
/// same series) committed before it, or waits for it.
pub async fn posted_invoices_on<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    day: NaiveDate,
) -> Result<(i64, i64), DbErr> {
    // Cast: PostgreSQL sums a BIGINT as NUMERIC.
    let row: Option<(i64, i64)> = document::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "count")
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(base_total), 0) AS BIGINT)"),
            "amount",
        )
        .filter(document::Column::TenantId.eq(tenant.as_str()))
        .filter(document::Column::Kind.eq("invoice"))
        .filter(document::Column::Posted.eq(true))
        .filter(document::Column::DocumentDate.eq(day))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(row.unwrap_or((0, 0)))
}
