//! `mkt_providers`: a tenant's sending provider with its rate and daily cap.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Unique in the tenant (`ses`, `postmark-eu`).
    pub name: String,
    /// Messages per second (`None`: no limit).
    pub per_second: Option<i32>,
    /// Messages per hour (`None`: no limit).
    pub per_hour: Option<i32>,
    /// Messages per UTC day (`None`: no cap).
    pub per_day: Option<i32>,
    /// What a campaign without a provider and every journey sends through.
    pub is_default: bool,
    /// The deployment's named relay its messages go through (`ERP_SMTP_RELAYS`); `None`: the
    /// default relay (`ERP_SMTP_URL`).
    pub relay: Option<String>,
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
