//! The `signing_keys` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub private_pkcs8: String,
    pub activates_at: i64,
    pub retires_at: Option<i64>,
    pub created_at: i64,
}
super::no_relations!();
