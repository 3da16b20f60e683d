//! `mkt_webhook_secrets`: a tenant's bounce/complaint webhook secrets (sealed).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_webhook_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Sealed with the tenant's data key (FieldCipher), never stored in the clear.
    pub secret: String,
    pub created_by: String,
    pub created_at: i64,
    /// `None`: the current secret; a rotated one verifies until this time.
    pub valid_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
