//! `crm_clients`: a client: a company or a person (who may work for a company client).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "crm_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub name: String,
    pub name_key: String,
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub phone: Option<String>,
    pub phone_key: Option<String>,
    pub website: Option<String>,
    pub domain: Option<String>,
    pub tax_id: Option<String>,
    pub status: String,
    pub company_id: Option<String>,
    pub owner_id: Option<String>,
    pub external_id: Option<String>,
    pub merged_into_id: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
