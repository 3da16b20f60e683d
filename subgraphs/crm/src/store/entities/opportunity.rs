//! `crm_opportunities`: an opportunity: a deal in a pipeline.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "crm_opportunities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub client_id: String,
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
    pub name: String,
    pub amount_minor: i64,
    pub currency: String,
    pub expected_close: Option<Date>,
    pub owner_id: String,
    pub status: String,
    pub lost_reason: Option<String>,
    pub closed_at: Option<i64>,
    pub stage_entered_at: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
