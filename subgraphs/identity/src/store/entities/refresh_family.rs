//! The `refresh_families` table: one row per session, the lock its refreshes and revocations
//! take first.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_families")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}
super::no_relations!();
