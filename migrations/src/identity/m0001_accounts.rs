//! Tenants, roles, users, second factors, refresh tokens and signing keys.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .string()
        .not_null()
        .primary_key()
        .to_owned()
}
fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .text()
        .not_null()
        .to_owned()
}
fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).text().null().to_owned()
}
fn big(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .not_null()
        .to_owned()
}
fn big_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
        .big_integer()
        .null()
        .to_owned()
}

async fn table(
    manager: &SchemaManager<'_>,
    name: &str,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    let mut create = Table::create();
    create.table(Alias::new(name)).if_not_exists();
    for mut column in columns {
        create.col(&mut column);
    }
    manager.create_table(create.to_owned()).await
}

async fn index(
    manager: &SchemaManager<'_>,
    table: &str,
    name: &str,
    columns: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Timestamps are Unix milliseconds: the same type and ordering on PostgreSQL and SQLite.
        table(
            manager,
            "tenants",
            vec![id("id"), text("name"), big("created_at")],
        )
        .await?;
        table(
            manager,
            "roles",
            vec![
                id("id"),
                text("tenant_id"),
                text("name"),
                // JSON array of scope strings.
                text("permissions"),
                big("created_at"),
            ],
        )
        .await?;
        index(
            manager,
            "roles",
            "ux_roles_tenant_name",
            &["tenant_id", "name"],
            true,
        )
        .await?;
        table(
            manager,
            "users",
            vec![
                id("id"),
                text("tenant_id"),
                text("email"),
                text("name"),
                text("departments"),
                text("role_id"),
                text_null("password_hash"),
                text("status"),
                text_null("totp_secret"),
                big_null("totp_last_step"),
                text_null("invite_token_hash"),
                big_null("invite_expires_at"),
                big("created_at"),
                big("updated_at"),
            ],
        )
        .await?;
        // Email is the login name, unique across tenants.
        index(manager, "users", "ux_users_email", &["email"], true).await?;
        index(
            manager,
            "users",
            "ix_users_tenant",
            &["tenant_id", "id"],
            false,
        )
        .await?;
        index(
            manager,
            "users",
            "ux_users_invite",
            &["invite_token_hash"],
            true,
        )
        .await?;
        table(
            manager,
            "recovery_codes",
            vec![
                id("id"),
                text("user_id"),
                text("code_hash"),
                big_null("used_at"),
                big("created_at"),
            ],
        )
        .await?;
        index(
            manager,
            "recovery_codes",
            "ix_recovery_user",
            &["user_id"],
            false,
        )
        .await?;
        table(
            manager,
            "webauthn_credentials",
            vec![
                id("id"),
                text("user_id"),
                text("passkey"),
                big("created_at"),
            ],
        )
        .await?;
        index(
            manager,
            "webauthn_credentials",
            "ix_webauthn_user",
            &["user_id"],
            false,
        )
        .await?;
        table(
            manager,
            "refresh_tokens",
            vec![
                id("id"),
                text("family_id"),
                text("user_id"),
                text("tenant_id"),
                text("token_hash"),
                big("expires_at"),
                big_null("used_at"),
                big_null("revoked_at"),
                big("created_at"),
            ],
        )
        .await?;
        index(
            manager,
            "refresh_tokens",
            "ux_refresh_hash",
            &["token_hash"],
            true,
        )
        .await?;
        index(
            manager,
            "refresh_tokens",
            "ix_refresh_family",
            &["family_id"],
            false,
        )
        .await?;
        index(
            manager,
            "refresh_tokens",
            "ix_refresh_user",
            &["user_id"],
            false,
        )
        .await?;
        table(
            manager,
            "signing_keys",
            vec![
                id("kid"),
                text("private_pkcs8"),
                // Published in the JWKS from creation; signs from `activates_at`; unpublished
                // after `retires_at`.
                big("activates_at"),
                big_null("retires_at"),
                big("created_at"),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "signing_keys",
            "refresh_tokens",
            "webauthn_credentials",
            "recovery_codes",
            "users",
            "roles",
            "tenants",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}
