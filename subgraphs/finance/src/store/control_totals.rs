//! Control totals: finance's own count and sum of a day's records, which analytics reconciles
//! its facts with. Kept as a running total per (tenant, source, day, currency) in
//! `finance_control_totals`, advanced by each posting in its own transaction: publishing a
//! day's total costs one upsert, however many records the day already has.

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};

use erp_kit::TenantId;

const TABLE: &str = "finance_control_totals";

/// Adds `records` records worth `amount` in all (minor units of `currency`; one record, or a
/// batch's of one day) to `tenant`'s running total of
/// `source` on `day` and returns the day's new total: how many, and their sum. One round trip
/// (an upsert returning the row); the row stays locked until the posting commits, so two
/// postings of one day each publish a total that counts the other or is counted by it.
pub async fn add_to_day<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    source: &str,
    day: NaiveDate,
    currency: &str,
    records: i64,
    amount: i64,
) -> Result<(i64, i64), DbErr> {
    let backend = conn.get_database_backend();
    let table = Alias::new(TABLE);
    let (count_col, amount_col) = (Alias::new("records"), Alias::new("amount"));
    let key = [
        Alias::new("tenant_id"),
        Alias::new("source"),
        Alias::new("day"),
        Alias::new("currency"),
    ];
    let advance = Query::insert()
        .into_table(table.clone())
        .columns(
            key.clone()
                .into_iter()
                .chain([count_col.clone(), amount_col.clone()]),
        )
        .values([
            tenant.as_str().into(),
            source.into(),
            day.into(),
            currency.into(),
            records.into(),
            amount.into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::columns(key)
                .value(
                    count_col.clone(),
                    Expr::col((table.clone(), count_col.clone())).add(records),
                )
                .value(
                    amount_col.clone(),
                    Expr::col((table, amount_col.clone())).add(amount),
                )
                .to_owned(),
        )
        .returning(Query::returning().columns([count_col, amount_col]))
        .to_owned();
    let row = conn
        .query_one(backend.build(&advance))
        .await?
        .ok_or_else(|| DbErr::Custom("the control total vanished".into()))?;
    Ok((row.try_get("", "records")?, row.try_get("", "amount")?))
}
