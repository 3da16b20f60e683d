//! `mkt_sending_limits`: a tenant's sending rate and per-recipient-domain cap.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_sending_limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// Messages per minute (`None`: no limit).
    pub per_minute: Option<i32>,
    /// Messages per recipient domain per minute (`None`: no limit).
    pub per_domain_per_minute: Option<i32>,
    pub updated_by: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
