//! The CRM domain's schema: clients, leads and activities with the duplicate finder's keys
//! (m0001), pipelines, opportunities and the per-owner stage totals the board reads (m0002),
//! price lists, quotes with versions and proposals (m0003), the consumers' inbox and the team
//! directory learnt from the employee subgraph's events (m0004), the trigram index of the
//! duplicate finder's similar names on PostgreSQL (m0005), and the vocabulary of distinct name
//! keys it ranks instead of the records (m0006, PostgreSQL).
//!
//! Times are BIGINT Unix milliseconds and calendar days DATE, money BIGINT minor units beside
//! an ISO 4217 code: the same on PostgreSQL and SQLite, and no floating-point column anywhere.

mod m0001_clients_leads;
mod m0002_pipelines;
mod m0003_quotes;
mod m0004_directory;
mod m0005_name_trigrams;
mod m0006_name_vocabulary;

use sea_orm_migration::prelude::*;

use crate::inbox::CreateInbox;
use crate::outbox::CreateOutbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migration_table_name() -> DynIden {
        Alias::new("crm_migrations").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox {
                domain: "crm",
                name: "m0000_crm_outbox",
            }),
            Box::new(m0001_clients_leads::Migration),
            Box::new(m0002_pipelines::Migration),
            Box::new(m0003_quotes::Migration),
            Box::new(CreateInbox {
                domain: "crm",
                name: "m0004_crm_inbox",
            }),
            Box::new(m0004_directory::Migration),
            Box::new(m0005_name_trigrams::Migration),
            Box::new(m0006_name_vocabulary::Migration),
        ]
    }
}

/// A column's type.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// Ids, codes, names, states.
    Text,
    /// Long free text (notes, terms, section bodies, audit details).
    LongText,
    /// Money in minor units, Unix milliseconds, counters.
    BigInt,
    Int,
    Date,
    Bool,
}

/// One column: name, type, nullable.
pub(crate) type Col = (&'static str, Ty, bool);

pub(crate) const NOT_NULL: bool = false;
pub(crate) const NULL: bool = true;

pub(crate) fn table(name: &str, columns: &[Col], primary_key: &[&str]) -> TableCreateStatement {
    let mut create = Table::create();
    create.table(Alias::new(name)).if_not_exists();
    for &(column, ty, nullable) in columns {
        let mut def = ColumnDef::new(Alias::new(column));
        match ty {
            Ty::Text => def.string(),
            Ty::LongText => def.text(),
            Ty::BigInt => def.big_integer(),
            Ty::Int => def.integer(),
            Ty::Date => def.date(),
            Ty::Bool => def.boolean(),
        };
        if nullable {
            def.null();
        } else {
            def.not_null();
        }
        create.col(&mut def);
    }
    let mut key = Index::create();
    for column in primary_key {
        key.col(Alias::new(*column));
    }
    create.primary_key(&mut key);
    create.to_owned()
}

pub(crate) fn index(
    table: &str,
    suffix: &str,
    columns: &[&str],
    unique: bool,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(format!("idx_{table}_{suffix}"))
        .table(Alias::new(table))
        .if_not_exists();
    for column in columns {
        index.col(Alias::new(*column));
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

pub(crate) async fn create(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for statement in tables {
        manager.create_table(statement).await?;
    }
    for statement in indexes {
        manager.create_index(statement).await?;
    }
    Ok(())
}

pub(crate) async fn drop(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for name in tables {
        manager
            .drop_table(
                Table::drop()
                    .table(Alias::new(*name))
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
