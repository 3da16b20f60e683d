//! The first rows of each of many parents in ONE query (each company's people, each client's
//! opportunities): what a DataLoader needs for a list field of a list, without a query per
//! parent.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, Order, Query, WindowStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Iterable,
};

use super::IN_LIST_CHUNK;

/// For each of `parents`, its first `limit` rows of `E` (by the time-ordered `key` column)
/// whose `parent` column is that parent and that match `filter`. `ROW_NUMBER()` over each
/// parent's rows (PostgreSQL and SQLite both have window functions) keeps the result to what
/// is asked, however many rows a parent has.
pub async fn first_per_parent<E, C>(
    db: &C,
    filter: Condition,
    parent: E::Column,
    parents: &[String],
    key: E::Column,
    limit: u64,
    parent_of: impl Fn(&E::Model) -> Option<&str>,
) -> Result<HashMap<String, Vec<E::Model>>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
    C: ConnectionTrait,
{
    let mut found: HashMap<String, Vec<E::Model>> = HashMap::new();
    for chunk in parents.chunks(IN_LIST_CHUNK) {
        let rank = Alias::new("parent_rank");
        let ranked = Query::select()
            .columns(E::Column::iter())
            .expr_window_as(
                Expr::cust("ROW_NUMBER()"),
                WindowStatement::partition_by(parent)
                    .order_by(key, Order::Asc)
                    .to_owned(),
                rank.clone(),
            )
            .from(E::default())
            .cond_where(filter.clone().add(parent.is_in(chunk.iter().cloned())))
            .to_owned();
        let limited = Query::select()
            .columns(E::Column::iter())
            .from_subquery(ranked, Alias::new("ranked"))
            .and_where(Expr::col(rank.clone()).lte(i64::try_from(limit).unwrap_or(i64::MAX)))
            .order_by(rank, Order::Asc)
            .to_owned();
        let statement = db.get_database_backend().build(&limited);
        for row in E::find().from_raw_sql(statement).all(db).await? {
            if let Some(parent) = parent_of(&row) {
                found.entry(parent.to_owned()).or_default().push(row);
            }
        }
    }
    Ok(found)
}
