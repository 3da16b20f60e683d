//! The wrapped tenant data keys of the kit's FieldCipher (`<domain>_data_keys`).

use sea_orm_migration::prelude::*;

pub async fn create(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Alias::new(table))
                .if_not_exists()
                .col(ColumnDef::new(Alias::new("tenant_id")).string().not_null())
                // `data` (AES-256-GCM) or `index` (HMAC-SHA256 blind index)
                .col(ColumnDef::new(Alias::new("purpose")).string().not_null())
                .col(ColumnDef::new(Alias::new("version")).integer().not_null())
                // The key sealed by the KEK; never the key itself.
                .col(ColumnDef::new(Alias::new("wrapped")).text().not_null())
                .col(ColumnDef::new(Alias::new("kek_id")).string().not_null())
                .col(
                    ColumnDef::new(Alias::new("created_at"))
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Alias::new("tenant_id"))
                        .col(Alias::new("purpose"))
                        .col(Alias::new("version")),
                )
                .to_owned(),
        )
        .await
}
