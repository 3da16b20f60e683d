//! The `webauthn_credentials` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// The webauthn-rs `Passkey`, as JSON.
    pub passkey: String,
    pub created_at: i64,
}
super::no_relations!();
