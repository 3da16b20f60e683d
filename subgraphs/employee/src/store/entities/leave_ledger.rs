//! `leave_ledger`: one entry of a leave ledger (a balance is the sum of its entries).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "leave_ledger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub employee_id: String,
    pub leave_type_id: String,
    pub kind: String,
    pub amount: i64,
    pub effective_on: Date,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    pub period: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
