//! `shifts`: a shift: start, end, grace window, day thresholds, working days, time zone.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shifts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub start_time: String,
    pub end_time: String,
    pub grace_minutes: i32,
    pub half_day_minutes: i32,
    pub full_day_minutes: i32,
    pub working_days: i32,
    pub time_zone: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
