//! `mkt_journey_enrollments`: a contact in a journey (once), the step it is at and when it is
//! due, leased by the sender running it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_journey_enrollments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub journey_id: String,
    pub contact_id: String,
    /// `active`, `completed` or `exited`.
    pub status: String,
    /// The position of the step it is at (pending).
    pub step: i32,
    pub due_at: i64,
    pub lease_until: Option<i64>,
    pub leased_by: Option<String>,
    pub enrolled_at: i64,
    pub finished_at: Option<i64>,
    pub exit_reason: Option<String>,
    /// The version of the journey's steps it runs.
    pub journey_version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
