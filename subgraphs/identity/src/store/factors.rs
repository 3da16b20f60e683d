//! Second factors kept apart from the user row: recovery codes and WebAuthn credentials.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use erp_kit::ApiResult;

use super::entities::{recovery_code, user, webauthn_credential};
use crate::domain::secrets::KEYED_HASH_PREFIX;

/// Replaces the user's recovery codes by these (keyed hashes only).
pub async fn replace_recovery_codes<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    code_hashes: &[String],
) -> ApiResult<()> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    let now = super::now_ms();
    for hash in code_hashes {
        recovery_code::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            user_id: Set(user_id.to_owned()),
            code_hash: Set(hash.clone()),
            used_at: Set(None),
            created_at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    Ok(())
}

/// Marks the unused recovery code with this hash used. True when there was one.
pub async fn claim_recovery_code<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    code_hash: &str,
) -> ApiResult<bool> {
    let claimed = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(super::now_ms()))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(code_hash))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    Ok(claimed == 1)
}

/// Stores a registered passkey (the webauthn-rs `Passkey` as JSON).
pub async fn insert_passkey<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    passkey_json: String,
) -> ApiResult<()> {
    webauthn_credential::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        user_id: Set(user_id.to_owned()),
        passkey: Set(passkey_json),
        created_at: Set(super::now_ms()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

pub async fn passkeys<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> ApiResult<Vec<webauthn_credential::Model>> {
    Ok(webauthn_credential::Entity::find()
        .filter(webauthn_credential::Column::UserId.eq(user_id))
        .all(conn)
        .await?)
}

pub async fn has_passkey<C: ConnectionTrait>(conn: &C, user_id: &str) -> ApiResult<bool> {
    Ok(webauthn_credential::Entity::find()
        .filter(webauthn_credential::Column::UserId.eq(user_id))
        .count(conn)
        .await?
        > 0)
}

pub async fn update_passkey<C: ConnectionTrait>(
    conn: &C,
    row: webauthn_credential::Model,
    passkey_json: String,
) -> ApiResult<()> {
    let mut active: webauthn_credential::ActiveModel = row.into();
    active.passkey = Set(passkey_json);
    active.update(conn).await?;
    Ok(())
}

/// Start-up conversion, over every tenant: the recovery codes an earlier version stored as a
/// bare SHA-256, with their users' tenants.
pub async fn unkeyed_recovery_codes<C: ConnectionTrait>(
    conn: &C,
) -> ApiResult<Vec<(recovery_code::Model, String)>> {
    let codes = recovery_code::Entity::find()
        .filter(recovery_code::Column::CodeHash.not_like(format!("{KEYED_HASH_PREFIX}%")))
        .all(conn)
        .await?;
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let mut user_ids: Vec<&str> = codes.iter().map(|c| c.user_id.as_str()).collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let tenants: std::collections::HashMap<String, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(user_ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|u| (u.id, u.tenant_id))
        .collect();
    Ok(codes
        .into_iter()
        .filter_map(|code| {
            let tenant = tenants.get(&code.user_id)?.clone();
            Some((code, tenant))
        })
        .collect())
}

/// Replaces a recovery code's stored hash by `new` if it still is `old`. True when it was.
pub async fn replace_recovery_code_hash<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    old: &str,
    new: &str,
) -> ApiResult<bool> {
    let replaced = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::CodeHash, Expr::value(new))
        .filter(recovery_code::Column::Id.eq(id))
        .filter(recovery_code::Column::CodeHash.eq(old))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(replaced == 1)
}
