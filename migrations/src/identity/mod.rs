//! The identity domain's schema.

mod m0001_accounts;
mod m0002_sealed_secrets_and_session_locks;

use sea_orm_migration::prelude::*;

use crate::outbox::CreateOutbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migration_table_name() -> DynIden {
        Alias::new("identity_migrations").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox {
                domain: "identity",
                name: "m0000_identity_outbox",
            }),
            Box::new(m0001_accounts::Migration),
            Box::new(m0002_sealed_secrets_and_session_locks::Migration),
        ]
    }
}
