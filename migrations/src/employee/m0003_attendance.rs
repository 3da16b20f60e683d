//! Work locations with geofences, and attendance punches (check-in / check-out).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("locations"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("name").string().not_null())
                    .col(col("latitude").double().not_null())
                    .col(col("longitude").double().not_null())
                    .col(col("radius_meters").integer().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_locations_tenant_name")
                    .table(Alias::new("locations"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("name"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("punches"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    // `in` or `out`
                    .col(col("kind").string().not_null())
                    // Unix milliseconds, server time.
                    .col(col("at").big_integer().not_null())
                    .col(col("day").string().not_null())
                    // `web`, `mobile`, `kiosk`
                    .col(col("source").string().not_null())
                    .col(col("ip").string().null())
                    .col(col("latitude").double().null())
                    .col(col("longitude").double().null())
                    .col(col("location_id").string().null())
                    // The client's idempotency key: a kiosk resync repeating a punch finds it.
                    .col(col("punch_key").string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_punches_tenant_key")
                    .table(Alias::new("punches"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("punch_key"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_punches_employee_day")
                    .table(Alias::new("punches"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("employee_id"))
                    .col(Alias::new("day"))
                    .col(Alias::new("at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["punches", "locations"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
