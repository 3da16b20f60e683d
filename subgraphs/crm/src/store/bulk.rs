//! Many rows of one table in few statements: the import's batches and the bulk loads.
//!
//! On PostgreSQL a whole batch is ONE statement with ONE parameter, the rows as a JSON array
//! (`json_populate_recordset` turns it into rows of the table's own type): nothing to build,
//! bind or plan per value, which is where a multi-row `VALUES` list spends its time (a
//! 400-row insert of 33 columns binds 13,200 values). SQLite, in process, takes the
//! multi-row `INSERT ... VALUES` that sea-orm builds.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    Statement,
};
use serde::Serialize;

/// Rows per statement on SQLite (well inside its bind limit at 33 columns).
const ROWS_PER_VALUES_STATEMENT: usize = 400;
/// Rows per JSON statement on PostgreSQL (a few MB of JSON at most).
const ROWS_PER_JSON_STATEMENT: usize = 5_000;

/// Inserts `models` into `E`'s table; a row whose primary key `id` exists already gets the
/// `update` columns of the new row instead (an upsert), or, with `update` empty, is an error
/// (a plain insert).
pub async fn insert_many<E>(
    db: &impl ConnectionTrait,
    models: &[E::Model],
    update: &[E::Column],
) -> Result<(), DbErr>
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
        let table = E::default().table_name().to_owned();
        let columns: Vec<String> = E::Column::iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect();
        let list = columns.join(", ");
        let conflict = if update.is_empty() {
            String::new()
        } else {
            let set: Vec<String> = update
                .iter()
                .map(|c| format!("\"{0}\" = EXCLUDED.\"{0}\"", c.as_str()))
                .collect();
            format!(" ON CONFLICT (id) DO UPDATE SET {}", set.join(", "))
        };
        let sql = format!(
            "INSERT INTO {table} ({list}) SELECT {list} \
             FROM json_populate_recordset(NULL::{table}, $1::json){conflict}"
        );
        for chunk in models.chunks(ROWS_PER_JSON_STATEMENT) {
            let rows = serde_json::to_string(chunk).map_err(|e| DbErr::Custom(e.to_string()))?;
            db.execute(Statement::from_sql_and_values(
                backend,
                sql.as_str(),
                [rows.into()],
            ))
            .await?;
        }
        return Ok(());
    }
    for chunk in models.chunks(ROWS_PER_VALUES_STATEMENT) {
        let insert = E::insert_many(
            chunk
                .iter()
                .cloned()
                .map(sea_orm::IntoActiveModel::into_active_model),
        );
        let insert = if update.is_empty() {
            insert
        } else {
            insert.on_conflict(
                OnConflict::column(sea_orm::sea_query::Alias::new("id"))
                    .update_columns(update.iter().copied())
                    .to_owned(),
            )
        };
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}
