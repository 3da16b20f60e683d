//! Secrets sealed at rest, and one row per session.
//!
//! - `identity_data_keys`: the wrapped data and index keys of the field cipher that seals TOTP
//!   secrets and signing keys and keys the recovery-code hashes. (The rows an earlier version
//!   wrote in clear are sealed by the service at start: a migration has no KEK.)
//! - `refresh_families`: one row per session (refresh-token family), the row a refresh and a
//!   revocation lock first; filled from the sessions the tokens name (revoked when every
//!   token of it is).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::data_keys::create(manager, "identity_data_keys").await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("refresh_families"))
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("user_id")).text().not_null())
                    .col(ColumnDef::new(Alias::new("tenant_id")).text().not_null())
                    .col(
                        ColumnDef::new(Alias::new("revoked_at"))
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("created_at"))
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_refresh_families_user")
                    .table(Alias::new("refresh_families"))
                    .col(Alias::new("user_id"))
                    .to_owned(),
            )
            .await?;
        // The same SQL on PostgreSQL and SQLite. A family is revoked when none of its tokens
        // is live (COUNT(revoked_at) counts the revoked ones).
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO refresh_families (id, user_id, tenant_id, revoked_at, created_at) \
                 SELECT family_id, MIN(user_id), MIN(tenant_id), \
                        CASE WHEN COUNT(revoked_at) = COUNT(*) THEN MAX(revoked_at) END, \
                        MIN(created_at) \
                 FROM refresh_tokens GROUP BY family_id",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["refresh_families", "identity_data_keys"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
