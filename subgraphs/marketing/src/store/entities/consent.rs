//! `mkt_consents`: a consent record (grant or withdrawal), never changed but for a pending
//! double opt-in's confirmation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "mkt_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub contact_id: String,
    pub purpose: String,
    pub lawful_basis: String,
    pub source: String,
    pub wording_version: String,
    pub granted: bool,
    pub actor: String,
    pub recorded_at: i64,
    /// `pending` (a double opt-in not confirmed yet: not in force), `confirmed`, or `None`
    /// (a record that needs no confirmation).
    pub confirmation: Option<String>,
    pub confirmed_at: Option<i64>,
    /// What confirmed it (`confirmation_link`).
    pub confirmed_source: Option<String>,
    /// The client address the confirmation came from.
    pub confirmed_address: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
