//! OKRs: objectives (aligned to a parent objective), key results, and their check-ins.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("objectives"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    // The employee who owns it.
                    .col(col("owner_id").string().not_null())
                    .col(col("title").string().not_null())
                    .col(col("description").text().null())
                    .col(col("period_start").date().not_null())
                    .col(col("period_end").date().not_null())
                    // The objective this one contributes to (alignment).
                    .col(col("parent_id").string().null())
                    .col(col("created_by").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_objectives_owner",
            "objectives",
            &["tenant_id", "owner_id"],
        )
        .await?;
        index(
            manager,
            "ix_objectives_parent",
            "objectives",
            &["tenant_id", "parent_id"],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("key_results"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("objective_id").string().not_null())
                    .col(col("title").string().not_null())
                    .col(col("start_value").double().not_null())
                    .col(col("target_value").double().not_null())
                    .col(col("current_value").double().not_null())
                    .col(col("unit").string().null())
                    // The latest check-in's `on_track`, `behind` or `at_risk`.
                    .col(col("status").string().null())
                    .col(col("created_at").big_integer().not_null())
                    .col(col("updated_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_key_results_objective",
            "key_results",
            &["tenant_id", "objective_id"],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("okr_check_ins"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("key_result_id").string().not_null())
                    .col(col("value").double().not_null())
                    .col(col("status").string().not_null())
                    .col(col("note").text().null())
                    .col(col("author").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_okr_check_ins_key_result",
            "okr_check_ins",
            &["tenant_id", "key_result_id"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["okr_check_ins", "key_results", "objectives"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
