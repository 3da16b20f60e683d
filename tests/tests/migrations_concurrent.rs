//! Replicas starting at once migrate one database: `erp_kit::db::migrate` serialises them with
//! a PostgreSQL advisory lock, so every starter succeeds and each migration is applied once.

use erp_kit::db;
use erp_migrations::sea_orm_migration::MigratorTrait;
use erp_tests::fresh_postgres;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The rows of a migration table, one per applied migration.
async fn applied(conn: &sea_orm::DatabaseConnection, table: &str) -> Vec<String> {
    conn.query_all(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT version FROM {table} ORDER BY version"),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.try_get::<String>("", "version").unwrap())
    .collect()
}

#[tokio::test]
async fn replicas_starting_together_apply_each_migration_once() {
    let url = fresh_postgres().await;
    // Six starters, each on its own pool (as six replicas would be), two domains at once in the
    // same database (their migration tables and locks are distinct).
    let mut starters = Vec::new();
    for i in 0..6 {
        let url = url.clone();
        starters.push(tokio::spawn(async move {
            let conn = db::connect(&url).await.unwrap();
            if i % 2 == 0 {
                db::migrate::<erp_migrations::employee::Migrator>(&conn).await
            } else {
                db::migrate::<erp_migrations::identity::Migrator>(&conn).await
            }
        }));
    }
    for starter in starters {
        starter
            .await
            .unwrap()
            .expect("every concurrent starter migrates without an error");
    }

    let conn = db::connect(&url).await.unwrap();
    for (table, expected) in [
        (
            employee_table(),
            erp_migrations::employee::Migrator::migrations().len(),
        ),
        (
            identity_table(),
            erp_migrations::identity::Migrator::migrations().len(),
        ),
    ] {
        let versions = applied(&conn, &table).await;
        assert_eq!(versions.len(), expected, "{table}: {versions:?}");
        let mut unique = versions.clone();
        unique.dedup();
        assert_eq!(unique, versions, "{table}: a migration recorded twice");
    }

    // A later start finds nothing to do and leaves the same rows.
    db::migrate::<erp_migrations::employee::Migrator>(&conn)
        .await
        .unwrap();
    assert_eq!(
        applied(&conn, &employee_table()).await.len(),
        erp_migrations::employee::Migrator::migrations().len()
    );
}

fn employee_table() -> String {
    table_of::<erp_migrations::employee::Migrator>()
}

fn identity_table() -> String {
    table_of::<erp_migrations::identity::Migrator>()
}

fn table_of<M: MigratorTrait>() -> String {
    sea_orm::sea_query::Iden::to_string(&*M::migration_table_name())
}
