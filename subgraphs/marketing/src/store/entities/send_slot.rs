//! `mkt_send_slots`: the sending slots taken in a window, per tenant or recipient domain
//! (minute windows) or per sending provider (second, hour and day windows).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_send_slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// `tenant` or `domain:<recipient domain>` (minute windows), or
    /// `provider:<id>:second|hour|day`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// The window, counted in the scope's unit since the Unix epoch (the column's name is
    /// from when every window was a minute).
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_minute: i64,
    pub used: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
