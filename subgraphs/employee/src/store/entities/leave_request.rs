//! `leave_requests`: a leave request and where it is in its approval chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leave_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub employee_id: String,
    pub leave_type_id: String,
    pub start_date: Date,
    pub end_date: Date,
    pub start_half: Option<String>,
    pub end_half: Option<String>,
    pub days: i64,
    pub reason: Option<String>,
    pub status: String,
    pub manager_id: Option<String>,
    pub manager_approved_by: Option<String>,
    pub manager_approved_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_comment: Option<String>,
    pub cancelled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
