//! Signing keys (not a tenant's: the service's own; `private_pkcs8` is the key material,
//! sealed by the field cipher).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};

use erp_kit::ApiResult;

use super::entities::signing_key;

pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    kid: &str,
    private_pkcs8: String,
    activates_at: i64,
) -> ApiResult<()> {
    signing_key::ActiveModel {
        kid: Set(kid.to_owned()),
        private_pkcs8: Set(private_pkcs8),
        activates_at: Set(activates_at),
        retires_at: Set(None),
        created_at: Set(super::now_ms()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Schedules every key without a retirement to leave the JWKS at `retires_at`.
pub async fn retire_current<C: ConnectionTrait>(conn: &C, retires_at: i64) -> ApiResult<()> {
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiresAt, Expr::value(retires_at))
        .filter(signing_key::Column::RetiresAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// The keys published at `now_ms`: not retired yet.
pub async fn published<C: ConnectionTrait>(
    conn: &C,
    now_ms: i64,
) -> ApiResult<Vec<signing_key::Model>> {
    Ok(signing_key::Entity::find()
        .filter(
            Condition::any()
                .add(signing_key::Column::RetiresAt.is_null())
                .add(signing_key::Column::RetiresAt.gt(now_ms)),
        )
        .all(conn)
        .await?)
}

/// Every key, published or not (the start-up conversion of keys stored in clear).
pub async fn all<C: ConnectionTrait>(conn: &C) -> ApiResult<Vec<signing_key::Model>> {
    Ok(signing_key::Entity::find().all(conn).await?)
}

/// Replaces the key material of `kid` by `new` if it still is `old`. True when it was.
pub async fn replace_private_key<C: ConnectionTrait>(
    conn: &C,
    kid: &str,
    old: &str,
    new: &str,
) -> ApiResult<bool> {
    let replaced = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::PrivatePkcs8, Expr::value(new))
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::PrivatePkcs8.eq(old))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(replaced == 1)
}
