//! `mkt_send_slots`: the sending slots taken in a minute window, per tenant or recipient
//! domain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_send_slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// `tenant` or `domain:<recipient domain>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// The minute window (Unix minutes).
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_minute: i64,
    pub used: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
