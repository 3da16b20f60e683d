//! `mkt_forms`: a web form a website posts to by its public key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_forms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub public_key: String,
    /// The fields as JSON (`domain::form::FormField`s).
    pub fields: String,
    pub consent_text: Option<String>,
    pub consent_wording_version: Option<String>,
    pub consent_required: bool,
    pub per_client_per_minute: i32,
    /// Whether a ticked consent waits for the contact's confirmation (double opt-in).
    pub double_opt_in: bool,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
