//! `mkt_campaigns`: a broadcast campaign (with its A/B test, if any).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_campaigns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub template_id: String,
    pub segment_id: String,
    pub topic: Option<String>,
    pub status: String,
    pub scheduled_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub version: i32,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The share of the audience (percent) an A/B test goes to; `None`: no test.
    pub ab_test_percent: Option<i32>,
    /// How the test's winner is chosen: `open_rate`, `click_rate` or `manual`.
    pub ab_winner_by: Option<String>,
    /// How long after the start the winner is chosen (milliseconds).
    pub ab_wait_ms: Option<i64>,
    pub ab_winner_variant_id: Option<String>,
    pub ab_decided_at: Option<i64>,
    /// The sending provider it goes through (`None`: the tenant's default).
    pub provider_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
