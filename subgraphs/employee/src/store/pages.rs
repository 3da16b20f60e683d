//! One Relay page of children for each of many parents, in ONE query: what a DataLoader needs
//! for a connection field of a list (each employee's direct reports, each employee's
//! corrections) without a query per parent.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, Order, Query, WindowStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Iterable,
};

use erp_kit::pagination::PageRequest;

/// For each of `parents`, the page `page` of the rows of `E` whose `parent` column is that
/// parent and that match `filter`, ordered by the time-ordered `key` column: `limit + 1` rows
/// at most, in the page's direction (what `keyset_page` gives for one parent, so
/// `connection_from_rows` builds each connection). `ROW_NUMBER()` over each parent's rows
/// (PostgreSQL and SQLite both have window functions) keeps the result to the pages asked
/// for, however many children a parent has.
pub async fn pages_per_parent<E, C>(
    db: &C,
    filter: Condition,
    parent: E::Column,
    parents: &[String],
    key: E::Column,
    page: &PageRequest,
    parent_of: impl Fn(&E::Model) -> Option<&str>,
) -> Result<HashMap<String, Vec<E::Model>>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
    C: ConnectionTrait,
{
    if parents.is_empty() {
        return Ok(HashMap::new());
    }
    let order = if page.backward {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut bounds = filter.add(parent.is_in(parents.iter().cloned()));
    if let Some(after) = &page.after {
        bounds = bounds.add(key.gt(after.as_str()));
    }
    if let Some(before) = &page.before {
        bounds = bounds.add(key.lt(before.as_str()));
    }
    let rank = Alias::new("page_rank");
    let ranked = Query::select()
        .columns(E::Column::iter())
        .expr_window_as(
            Expr::cust("ROW_NUMBER()"),
            WindowStatement::partition_by(parent)
                .order_by(key, order.clone())
                .to_owned(),
            rank.clone(),
        )
        .from(E::default())
        .cond_where(bounds)
        .to_owned();
    let limited = Query::select()
        .columns(E::Column::iter())
        .from_subquery(ranked, Alias::new("ranked"))
        .and_where(Expr::col(rank.clone()).lte(i64::try_from(page.limit + 1).unwrap_or(i64::MAX)))
        .order_by(rank, Order::Asc)
        .to_owned();
    let statement = db.get_database_backend().build(&limited);
    let mut pages: HashMap<String, Vec<E::Model>> = HashMap::new();
    for row in E::find().from_raw_sql(statement).all(db).await? {
        if let Some(parent) = parent_of(&row) {
            pages.entry(parent.to_owned()).or_default().push(row);
        }
    }
    Ok(pages)
}
