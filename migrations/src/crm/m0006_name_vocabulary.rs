//! The duplicate finder's vocabulary of name keys on PostgreSQL: each tenant's DISTINCT name
//! keys per kind of record (`crm_name_keys`), with their own pg_trgm GIN index, so a similar-name
//! search ranks a few distinct keys instead of every record. Where thousands of records share
//! a similar key (tier L: 8,551 leads named `hooli` for a probe `hooli 5`, all 0.75 similar),
//! the search through the records' index read and sorted all of them (77 ms); through the
//! vocabulary it ranks one key and reads at most a page of its records by the name index.
//!
//! PostgreSQL keeps the vocabulary itself: a statement-level trigger per table and operation
//! (insert, update: an import's upsert is both) adds the new keys of the rows a statement wrote,
//! once per statement whatever the batch size. A key whose records are all renamed or merged
//! stays (a search meets it and finds no record: harmless). The records' own trigram indexes
//! (m0005) are dropped: nothing searches them any more, and every import row paid for them.
//! SQLite keeps the word index of m0001 (`crm_name_tokens`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, kind of record as the vocabulary stores it).
const TABLES: &[(&str, &str)] = &[("crm_clients", "client"), ("crm_leads", "lead")];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS crm_name_keys (\
               tenant_id TEXT NOT NULL, \
               record_kind TEXT NOT NULL, \
               name_key TEXT NOT NULL, \
               PRIMARY KEY (tenant_id, record_kind, name_key))",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_crm_name_keys_trgm ON crm_name_keys \
             USING gin (name_key gin_trgm_ops)",
        )
        .await?;
        // TG_ARGV[0]: the kind of record of the trigger's table.
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION crm_learn_name_keys() RETURNS trigger \
             LANGUAGE plpgsql AS $$ \
             BEGIN \
               INSERT INTO crm_name_keys (tenant_id, record_kind, name_key) \
               SELECT DISTINCT tenant_id, TG_ARGV[0], name_key FROM written_rows \
               WHERE name_key <> '' \
               ON CONFLICT DO NOTHING; \
               RETURN NULL; \
             END $$",
        )
        .await?;
        for (table, kind) in TABLES {
            for operation in ["insert", "update"] {
                db.execute_unprepared(&format!(
                    "DROP TRIGGER IF EXISTS {table}_name_keys_{operation} ON {table}"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER {table}_name_keys_{operation} AFTER {} ON {table} \
                     REFERENCING NEW TABLE AS written_rows FOR EACH STATEMENT \
                     EXECUTE FUNCTION crm_learn_name_keys('{kind}')",
                    operation.to_uppercase()
                ))
                .await?;
            }
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS idx_{table}_name_trgm"))
                .await?;
            // The keys of the records written before this migration.
            db.execute_unprepared(&format!(
                "INSERT INTO crm_name_keys (tenant_id, record_kind, name_key) \
                 SELECT DISTINCT tenant_id, '{kind}', name_key FROM {table} \
                 WHERE name_key <> '' ON CONFLICT DO NOTHING"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in TABLES {
            for operation in ["insert", "update"] {
                db.execute_unprepared(&format!(
                    "DROP TRIGGER IF EXISTS {table}_name_keys_{operation} ON {table}"
                ))
                .await?;
            }
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS idx_{table}_name_trgm ON {table} \
                 USING gin (name_key gin_trgm_ops)"
            ))
            .await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS crm_learn_name_keys()")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS crm_name_keys")
            .await?;
        Ok(())
    }
}
