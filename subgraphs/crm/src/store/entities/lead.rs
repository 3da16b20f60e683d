//! `crm_leads`: a lead: a person (and company) who may buy, with where they came from.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "crm_leads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub person_name: String,
    pub company_name: Option<String>,
    pub title: Option<String>,
    pub name_key: String,
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub phone: Option<String>,
    pub phone_key: Option<String>,
    pub website: Option<String>,
    pub domain: Option<String>,
    pub source: String,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub territory: Option<String>,
    pub owner_id: Option<String>,
    pub score: i32,
    pub status: String,
    pub disqualify_reason: Option<String>,
    pub converted_client_id: Option<String>,
    pub converted_contact_id: Option<String>,
    pub converted_opportunity_id: Option<String>,
    pub converted_at: Option<i64>,
    pub external_id: Option<String>,
    pub merged_into_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
