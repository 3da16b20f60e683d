//! `mkt_channel_accounts`: a tenant's account on a social network.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_channel_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `domain::social::ChannelKind`.
    pub kind: String,
    pub handle: String,
    pub created_by: String,
    pub created_at: i64,
    /// When it was disabled (Unix ms); `None` while it is enabled.
    pub disabled_at: Option<i64>,
    /// Who disabled it.
    pub disabled_by: Option<String>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
