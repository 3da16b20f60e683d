//! `mkt_journey_steps`: what one step of a journey did for one enrolment.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_journey_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub enrollment_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    pub kind: String,
    /// `done`, `skipped` or `failed`.
    pub status: String,
    pub at: i64,
    /// The message a SEND step queued, why a step was skipped or failed, the outcome of a
    /// condition.
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
