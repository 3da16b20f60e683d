//! `mkt_journeys`: a journey (e-mail automation): its trigger and steps.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_journeys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub status: String,
    pub trigger_kind: String,
    /// The segment, the form (NULL: any) or the event the trigger names.
    pub trigger_ref: Option<String>,
    /// The steps as JSON (`domain::journey::Step`).
    #[sea_orm(column_type = "Text")]
    pub steps: String,
    /// Bumped by every change (status, name, steps).
    pub version: i32,
    /// The version of `steps` (bumped by an edit of the steps; what new enrolments start on).
    pub steps_version: i32,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
