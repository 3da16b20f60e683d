//! The outbox table every relational domain has (`<domain>_outbox`); its shape is owned by the
//! kit's outbox, which writes and relays it.

use sea_orm_migration::prelude::*;

/// Creates `<domain>_outbox`.
pub struct CreateOutbox {
    pub domain: &'static str,
    pub name: &'static str,
}

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = format!("{}_outbox", self.domain);
        let (create, index) = outbox_table(&table);
        manager.create_table(create).await?;
        manager.create_index(index).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = format!("{}_outbox", self.domain);
        manager
            .drop_table(Table::drop().table(Alias::new(table)).to_owned())
            .await
    }
}

fn outbox_table(table: &str) -> (TableCreateStatement, IndexCreateStatement) {
    let t = Alias::new(table);
    let create = Table::create()
        .table(t.clone())
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("seq"))
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("event_id"))
                .string()
                .not_null()
                .unique_key(),
        )
        .col(ColumnDef::new(Alias::new("topic")).string().not_null())
        .col(ColumnDef::new(Alias::new("tenant_id")).string().not_null())
        .col(ColumnDef::new(Alias::new("event_type")).string().not_null())
        .col(ColumnDef::new(Alias::new("envelope")).text().not_null())
        .col(
            ColumnDef::new(Alias::new("created_at"))
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("published_at"))
                .big_integer()
                .null(),
        )
        .col(
            ColumnDef::new(Alias::new("attempts"))
                .integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new(Alias::new("next_attempt_at"))
                .big_integer()
                .not_null()
                .default(0),
        )
        .col(ColumnDef::new(Alias::new("last_error")).text().null())
        .to_owned();
    let index = Index::create()
        .if_not_exists()
        .name(format!("idx_{table}_pending"))
        .table(t)
        .col(Alias::new("published_at"))
        .col(Alias::new("seq"))
        .to_owned();
    (create, index)
}
