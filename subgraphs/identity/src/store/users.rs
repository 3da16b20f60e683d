//! Users: accounts of a tenant, and the login's lookups by credential.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::user;
use crate::domain::users::UserStatus;

/// A user to write.
pub struct NewUser<'a> {
    pub id: String,
    pub tenant: &'a TenantId,
    pub email: &'a str,
    pub name: &'a str,
    pub departments: &'a [String],
    pub role_id: &'a str,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    /// The invite token's hash and when it expires (Unix ms).
    pub invite: Option<(String, i64)>,
}

impl NewUser<'_> {
    fn into_active(self, now: i64) -> ApiResult<user::ActiveModel> {
        let (invite_token_hash, invite_expires_at) = match self.invite {
            Some((hash, expires_at)) => (Some(hash), Some(expires_at)),
            None => (None, None),
        };
        Ok(user::ActiveModel {
            id: Set(self.id),
            tenant_id: Set(self.tenant.as_str().to_owned()),
            email: Set(self.email.to_owned()),
            name: Set(self.name.to_owned()),
            departments: Set(serde_json::to_string(self.departments).map_err(ApiError::internal)?),
            role_id: Set(self.role_id.to_owned()),
            password_hash: Set(self.password_hash),
            status: Set(self.status.as_str().into()),
            totp_secret: Set(None),
            totp_last_step: Set(None),
            invite_token_hash: Set(invite_token_hash),
            invite_expires_at: Set(invite_expires_at),
            created_at: Set(now),
            updated_at: Set(now),
        })
    }
}

/// Writes a user; a taken email is the kit's CONFLICT (the unique index on `email`).
pub async fn insert<C: ConnectionTrait>(conn: &C, new: NewUser<'_>) -> ApiResult<user::Model> {
    Ok(new.into_active(super::now_ms())?.insert(conn).await?)
}

/// Writes many users with one statement (an import batch).
pub async fn insert_many<C: ConnectionTrait>(conn: &C, users: Vec<NewUser<'_>>) -> ApiResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    let now = super::now_ms();
    let rows = users
        .into_iter()
        .map(|new| new.into_active(now))
        .collect::<ApiResult<Vec<_>>>()?;
    user::Entity::insert_many(rows).exec(conn).await?;
    Ok(())
}

pub async fn in_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id.to_owned())
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await?)
}

pub async fn page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    page: &PageRequest,
) -> ApiResult<Vec<user::Model>> {
    let query = user::Entity::find().filter(user::Column::TenantId.eq(tenant.as_str()));
    Ok(keyset_page(query, user::Column::Id, page).all(conn).await?)
}

/// Login: the user whose login name is `email`, in whichever tenant.
pub async fn by_email<C: ConnectionTrait>(conn: &C, email: &str) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(conn)
        .await?)
}

/// Import: the users holding any of `emails`, in whichever tenant (a login name is global).
pub async fn by_emails<C: ConnectionTrait>(
    conn: &C,
    emails: &[&str],
) -> ApiResult<Vec<user::Model>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::Email.is_in(emails.iter().copied()))
        .all(conn)
        .await?)
}

/// Login: the user an MFA session or a refresh token names, in whichever tenant.
pub async fn by_id_for_login<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id.to_owned()).one(conn).await?)
}

/// Login: the user an MFA session names, row-locked until the transaction ends (PostgreSQL;
/// SQLite's write transactions run one at a time anyway), so that two enrolments of one user
/// cannot both find them without a factor.
pub async fn lock_for_login<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id.to_owned())
        .lock_exclusive()
        .one(conn)
        .await?)
}

/// Start-up conversion, over every tenant: the users whose TOTP secret an earlier version
/// stored in clear.
pub async fn with_unsealed_totp<C: ConnectionTrait>(conn: &C) -> ApiResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::TotpSecret.is_not_null())
        .filter(user::Column::TotpSecret.not_like(format!("{}%", erp_kit::crypto::SEALED_PREFIX)))
        .all(conn)
        .await?)
}

/// Replaces the user's stored TOTP secret by `new` if it still is `old`. True when it was.
pub async fn replace_totp_secret<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    old: &str,
    new: &str,
) -> ApiResult<bool> {
    let replaced = user::Entity::update_many()
        .col_expr(user::Column::TotpSecret, Expr::value(new))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TotpSecret.eq(old))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(replaced == 1)
}

/// Invitation: the user an invite token was issued to, in whichever tenant.
pub async fn by_invite_token_hash<C: ConnectionTrait>(
    conn: &C,
    hash: &str,
) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::InviteTokenHash.eq(hash))
        .one(conn)
        .await?)
}

/// The invited user becomes active with this password; the invitation is spent.
pub async fn activate<C: ConnectionTrait>(
    conn: &C,
    invited: user::Model,
    password_hash: String,
) -> ApiResult<user::Model> {
    let mut active: user::ActiveModel = invited.into();
    active.password_hash = Set(Some(password_hash));
    active.status = Set(UserStatus::Active.as_str().into());
    active.invite_token_hash = Set(None);
    active.invite_expires_at = Set(None);
    active.updated_at = Set(super::now_ms());
    Ok(active.update(conn).await?)
}

pub async fn set_role<C: ConnectionTrait>(
    conn: &C,
    user: user::Model,
    role_id: &str,
) -> ApiResult<user::Model> {
    let mut active: user::ActiveModel = user.into();
    active.role_id = Set(role_id.to_owned());
    active.updated_at = Set(super::now_ms());
    Ok(active.update(conn).await?)
}

pub async fn deactivate<C: ConnectionTrait>(conn: &C, user: user::Model) -> ApiResult<user::Model> {
    let mut active: user::ActiveModel = user.into();
    active.status = Set(UserStatus::Deactivated.as_str().into());
    active.updated_at = Set(super::now_ms());
    Ok(active.update(conn).await?)
}

/// The user's TOTP secret (sealed), and the step of the code that confirmed it (used up).
pub async fn enrol_totp<C: ConnectionTrait>(
    conn: &C,
    user: user::Model,
    sealed_secret: &str,
    confirmed_step: u64,
) -> ApiResult<user::Model> {
    let mut active: user::ActiveModel = user.into();
    active.totp_secret = Set(Some(sealed_secret.to_owned()));
    active.totp_last_step = Set(Some(confirmed_step as i64));
    active.updated_at = Set(super::now_ms());
    Ok(active.update(conn).await?)
}

/// Marks TOTP `step` used, unless it (or a later one) was: of two concurrent logins with the
/// same code only one wins. True when this call won.
pub async fn claim_totp_step<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
    step: u64,
) -> ApiResult<bool> {
    let claimed = user::Entity::update_many()
        .col_expr(user::Column::TotpLastStep, Expr::value(step as i64))
        .filter(user::Column::Id.eq(user_id))
        .filter(
            Condition::any()
                .add(user::Column::TotpLastStep.is_null())
                .add(user::Column::TotpLastStep.lt(step as i64)),
        )
        .exec(conn)
        .await?
        .rows_affected;
    Ok(claimed == 1)
}
