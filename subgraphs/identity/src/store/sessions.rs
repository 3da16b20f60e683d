//! Refresh tokens: one row per token, a family per session (its row in `refresh_families` is
//! the session's lock).
//!
//! Every write to a session takes its family's row first: a refresh holds it (row-locked)
//! from the claim of the presented token to the commit of the next one; a revocation updates
//! it before the tokens. On PostgreSQL the revocation therefore waits for a refresh in flight
//! and then revokes the token it minted too, and a refresh that comes second finds the family
//! revoked. (SQLite runs one write transaction at a time.)

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use erp_kit::ApiResult;

use super::entities::{refresh_family, refresh_token};

/// A refresh token to store (its hash, never the token).
pub struct NewRefreshToken<'a> {
    pub family_id: String,
    pub user_id: &'a str,
    pub tenant_id: &'a str,
    pub token_hash: String,
    pub expires_at: i64,
}

/// A new session (family) of `user_id`.
pub async fn insert_family<C: ConnectionTrait>(
    conn: &C,
    family_id: &str,
    user_id: &str,
    tenant_id: &str,
) -> ApiResult<()> {
    refresh_family::ActiveModel {
        id: Set(family_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        tenant_id: Set(tenant_id.to_owned()),
        revoked_at: Set(None),
        created_at: Set(super::now_ms()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The session `family_id`, row-locked until the transaction ends (PostgreSQL).
pub async fn lock_family<C: ConnectionTrait>(
    conn: &C,
    family_id: &str,
) -> ApiResult<Option<refresh_family::Model>> {
    Ok(refresh_family::Entity::find_by_id(family_id.to_owned())
        .lock_exclusive()
        .one(conn)
        .await?)
}

pub async fn insert<C: ConnectionTrait>(conn: &C, new: NewRefreshToken<'_>) -> ApiResult<()> {
    refresh_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        family_id: Set(new.family_id),
        user_id: Set(new.user_id.to_owned()),
        tenant_id: Set(new.tenant_id.to_owned()),
        token_hash: Set(new.token_hash),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(super::now_ms()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The token with this hash, in whichever tenant (the token is the credential).
pub async fn by_hash<C: ConnectionTrait>(
    conn: &C,
    token_hash: &str,
) -> ApiResult<Option<refresh_token::Model>> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .one(conn)
        .await?)
}

/// Marks the token used unless it was (or was revoked). True when this call used it.
pub async fn claim<C: ConnectionTrait>(conn: &C, id: &str) -> ApiResult<bool> {
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(super::now_ms()))
        .filter(refresh_token::Column::Id.eq(id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    Ok(claimed == 1)
}

/// Revokes a session: its family first (the lock a refresh in flight holds), then every live
/// token of it; how many tokens.
pub async fn revoke_family<C: ConnectionTrait>(conn: &C, family_id: &str) -> ApiResult<u64> {
    let now = super::now_ms();
    refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .filter(refresh_family::Column::Id.eq(family_id))
        .filter(refresh_family::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// Revokes every session of a user (families first, as [`revoke_family`]); how many tokens.
pub async fn revoke_user<C: ConnectionTrait>(conn: &C, user_id: &str) -> ApiResult<u64> {
    let now = super::now_ms();
    refresh_family::Entity::update_many()
        .col_expr(refresh_family::Column::RevokedAt, Expr::value(now))
        .filter(refresh_family::Column::UserId.eq(user_id))
        .filter(refresh_family::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}
