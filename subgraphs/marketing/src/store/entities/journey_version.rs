//! `mkt_journey_versions`: one version of a journey's steps (an edit adds one).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_journey_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub journey_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    /// The steps as JSON (`domain::journey::Step`).
    #[sea_orm(column_type = "Text")]
    pub steps: String,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
