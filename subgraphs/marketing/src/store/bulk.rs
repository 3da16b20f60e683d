//! Many rows of one table in few statements: the bulk load of contacts (app/bulk.rs).
//!
//! On PostgreSQL a batch is ONE statement with ONE parameter, the rows as a JSON array
//! (`json_populate_recordset` turns it into rows of the table's own type): nothing to bind or
//! plan per value (the CRM's bulk loads do the same). SQLite, in process, takes the multi-row
//! `INSERT ... VALUES` that sea-orm builds.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    Statement,
};
use serde::Serialize;

/// Rows per statement on SQLite (well inside its bind limit at 14 columns).
const ROWS_PER_VALUES_STATEMENT: usize = 400;
/// Rows per JSON statement on PostgreSQL (a few MB of JSON at most).
const ROWS_PER_JSON_STATEMENT: usize = 5_000;

/// Inserts `models` into `E`'s table (a plain insert: a row that exists already is an error).
pub async fn insert_many<E>(db: &impl ConnectionTrait, models: &[E::Model]) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: Serialize + Clone + sea_orm::IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    if models.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        json_insert::<E>(db, models, "").await?;
        return Ok(());
    }
    for chunk in models.chunks(ROWS_PER_VALUES_STATEMENT) {
        E::insert_many(
            chunk
                .iter()
                .cloned()
                .map(sea_orm::IntoActiveModel::into_active_model),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// PostgreSQL only: inserts `models` into `E`'s table, a row whose `unique` columns (a unique
/// key, `tenant_id, campaign_id, contact_id`) are taken already skipped; answers how many were
/// written.
pub async fn insert_many_skipping<E>(
    db: &impl ConnectionTrait,
    models: &[E::Model],
    unique: &str,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: Serialize,
{
    json_insert::<E>(db, models, &format!(" ON CONFLICT ({unique}) DO NOTHING")).await
}

async fn json_insert<E>(
    db: &impl ConnectionTrait,
    models: &[E::Model],
    conflict: &str,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: Serialize,
{
    let backend = db.get_database_backend();
    let mut written = 0;
    {
        let table = E::default().table_name().to_owned();
        let list = E::Column::iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {table} ({list}) SELECT {list} \
             FROM json_populate_recordset(NULL::{table}, $1::json){conflict}"
        );
        for chunk in models.chunks(ROWS_PER_JSON_STATEMENT) {
            let rows = serde_json::to_string(chunk).map_err(|e| DbErr::Custom(e.to_string()))?;
            written += db
                .execute(Statement::from_sql_and_values(
                    backend,
                    sql.as_str(),
                    [rows.into()],
                ))
                .await?
                .rows_affected();
        }
    }
    Ok(written)
}
