//! The `users` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub name: String,
    pub departments: String,
    pub role_id: String,
    pub password_hash: Option<String>,
    pub status: String,
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    pub invite_token_hash: Option<String>,
    pub invite_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
super::no_relations!();

impl Model {
    pub fn status(&self) -> crate::domain::users::UserStatus {
        crate::domain::users::UserStatus::from_db(&self.status)
    }

    pub fn department_list(&self) -> Vec<String> {
        serde_json::from_str(&self.departments).unwrap_or_default()
    }
}
