//! Leasing rows of a work table (the message queue, the journey enrolments, the social posts)
//! by their keys in one statement: the caller's SELECT names the `(tenant_id, id)` keys due
//! (with `{lock}` where PostgreSQL's `FOR UPDATE OF <alias> SKIP LOCKED` goes, so concurrent
//! workers skip each other's rows instead of waiting), and one `UPDATE ... RETURNING` sets the
//! lease columns on exactly those rows and answers them. One round trip per batch, where a
//! select followed by an update and a read per row took `1 + 2n`.
//!
//! PostgreSQL: `WITH keys AS MATERIALIZED (<select> FOR UPDATE ... SKIP LOCKED) UPDATE ... FROM
//! keys ... RETURNING`: the keys are chosen and locked once (materialised, so the planner never
//! re-runs the locking select per row). SQLite has one writer (the caller holds the write
//! transaction): `UPDATE ... WHERE (tenant_id, id) IN (<select>) RETURNING *`.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Statement, Value};

/// The `n`-th bind parameter of a raw statement (`$n` on PostgreSQL, `?` on SQLite).
pub(crate) fn param(backend: DatabaseBackend, n: usize) -> String {
    if backend == DatabaseBackend::Postgres {
        format!("${n}")
    } else {
        "?".into()
    }
}

/// What to lease: the keys' SELECT (bind parameters numbered from 1 with [`param`], `{lock}`
/// where the row lock goes) and the columns the lease sets.
pub struct LeaseByKeys<'a> {
    /// The work table.
    pub table: &'a str,
    /// The alias of the work table inside `keys_sql` (what PostgreSQL locks).
    pub alias: &'a str,
    /// `SELECT <alias>.tenant_id, <alias>.id FROM ... LIMIT n{lock}`.
    pub keys_sql: String,
    pub keys_values: Vec<Value>,
    /// `(column, value)`: what the lease writes (status, lease_until, leased_by, ...).
    pub set: Vec<(&'a str, Value)>,
}

/// The `{lock}` of a keys SELECT on `backend` for the rows of `alias`.
fn lock_clause(backend: DatabaseBackend, alias: &str) -> String {
    if backend == DatabaseBackend::Postgres {
        format!(" FOR UPDATE OF {alias} SKIP LOCKED")
    } else {
        String::new()
    }
}

/// Leases the rows `lease.keys_sql` selects and answers them as `E`'s models, in no particular
/// order (the caller sorts).
pub async fn lease_by_keys<E: EntityTrait>(
    db: &impl ConnectionTrait,
    lease: LeaseByKeys<'_>,
) -> Result<Vec<E::Model>, DbErr> {
    let backend = db.get_database_backend();
    let keys = lease
        .keys_sql
        .replace("{lock}", &lock_clause(backend, lease.alias));
    let keys_count = lease.keys_values.len();
    let (sql, values) = if backend == DatabaseBackend::Postgres {
        let set = lease
            .set
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = {}", param(backend, keys_count + i + 1)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "WITH lease_keys AS MATERIALIZED ({keys}) UPDATE {table} AS leased SET {set} \
             FROM lease_keys WHERE leased.tenant_id = lease_keys.tenant_id \
             AND leased.id = lease_keys.id RETURNING leased.*",
            table = lease.table
        );
        let mut values = lease.keys_values;
        values.extend(lease.set.into_iter().map(|(_, value)| value));
        (sql, values)
    } else {
        // `?` parameters bind in the order they appear: the SET's first, then the keys'.
        let set = lease
            .set
            .iter()
            .map(|(column, _)| format!("{column} = ?"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE {table} SET {set} WHERE (tenant_id, id) IN ({keys}) RETURNING *",
            table = lease.table
        );
        let mut values: Vec<Value> = lease.set.into_iter().map(|(_, value)| value).collect();
        values.extend(lease.keys_values);
        (sql, values)
    };
    E::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_locks_the_keys() {
        assert_eq!(
            lock_clause(DatabaseBackend::Postgres, "m"),
            " FOR UPDATE OF m SKIP LOCKED"
        );
        assert_eq!(lock_clause(DatabaseBackend::Sqlite, "m"), "");
    }
}
