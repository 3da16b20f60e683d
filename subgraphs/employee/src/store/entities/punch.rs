//! `punches`: a check-in or check-out, idempotent by the client's punch key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "punches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub employee_id: String,
    pub kind: String,
    pub at: i64,
    pub day: String,
    pub source: String,
    pub ip: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub location_id: Option<String>,
    pub punch_key: String,
    /// The approved correction that replaced this punch (kept for the audit trail).
    pub voided_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
