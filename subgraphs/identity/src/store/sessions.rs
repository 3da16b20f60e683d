//! Refresh tokens: one row per token, a family per session.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use erp_kit::ApiResult;

use super::entities::refresh_token;

/// A refresh token to store (its hash, never the token).
pub struct NewRefreshToken<'a> {
    pub family_id: String,
    pub user_id: &'a str,
    pub tenant_id: &'a str,
    pub token_hash: String,
    pub expires_at: i64,
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

/// Marks the token used unless it was. True when this call used it.
pub async fn claim<C: ConnectionTrait>(conn: &C, id: &str) -> ApiResult<bool> {
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(super::now_ms()))
        .filter(refresh_token::Column::Id.eq(id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    Ok(claimed == 1)
}

/// Revokes every live token of a session; how many.
pub async fn revoke_family<C: ConnectionTrait>(conn: &C, family_id: &str) -> ApiResult<u64> {
    Ok(refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(super::now_ms()),
        )
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// Revokes every live token of every session of a user; how many.
pub async fn revoke_user<C: ConnectionTrait>(conn: &C, user_id: &str) -> ApiResult<u64> {
    Ok(refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(super::now_ms()),
        )
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}
