//! The inbox and dead-letter tables of a relational domain that consumes events
//! (`<domain>_inbox`, `<domain>_dead_letters`); their shape is owned by the kit's
//! `erp_kit::events::SqlInbox`, which writes and reads them.

use sea_orm_migration::prelude::*;

/// Creates `<domain>_inbox` and `<domain>_dead_letters`.
pub struct CreateInbox {
    pub domain: &'static str,
    pub name: &'static str,
}

impl MigrationName for CreateInbox {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let inbox = format!("{}_inbox", self.domain);
        let dead_letters = format!("{}_dead_letters", self.domain);
        manager.create_table(inbox_table(&inbox)).await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(format!("idx_{inbox}_handled_at"))
                    .table(Alias::new(&inbox))
                    .col(Alias::new("handled_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(dead_letters_table(&dead_letters))
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(format!("idx_{dead_letters}_key"))
                    .table(Alias::new(&dead_letters))
                    .col(Alias::new("consumer_group"))
                    .col(Alias::new("message_key"))
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            format!("{}_dead_letters", self.domain),
            format!("{}_inbox", self.domain),
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// One row per (consumer group, event) handled; the key that makes an effect happen once.
fn inbox_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(table))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("consumer_group"))
                .string()
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("event_id")).string().not_null())
        .col(ColumnDef::new(Alias::new("topic")).string().not_null())
        .col(ColumnDef::new(Alias::new("event_type")).string().not_null())
        .col(ColumnDef::new(Alias::new("tenant_id")).string().not_null())
        .col(
            ColumnDef::new(Alias::new("handled_at"))
                .big_integer()
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(Alias::new("consumer_group"))
                .col(Alias::new("event_id")),
        )
        .to_owned()
}

/// Messages a consumer group gave up on, with the last error (times in ms since the epoch).
fn dead_letters_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(table))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("id"))
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("consumer_group"))
                .string()
                .not_null(),
        )
        // The event id, or `topic/partition@offset` for a message that did not decode.
        .col(
            ColumnDef::new(Alias::new("message_key"))
                .string()
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("topic")).string().not_null())
        .col(
            ColumnDef::new(Alias::new("source_partition"))
                .integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("source_offset"))
                .big_integer()
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("event_id")).string().null())
        .col(ColumnDef::new(Alias::new("event_type")).string().null())
        .col(ColumnDef::new(Alias::new("tenant_id")).string().null())
        .col(ColumnDef::new(Alias::new("payload")).text().not_null())
        .col(ColumnDef::new(Alias::new("failure")).string().not_null())
        .col(ColumnDef::new(Alias::new("error")).text().not_null())
        .col(ColumnDef::new(Alias::new("attempts")).integer().not_null())
        .col(
            ColumnDef::new(Alias::new("first_failed_at"))
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("last_failed_at"))
                .big_integer()
                .not_null(),
        )
        .to_owned()
}
