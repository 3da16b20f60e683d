//! `mkt_form_submissions`: one accepted submission of a web form.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_form_submissions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub form_id: String,
    pub contact_id: String,
    /// The submitted values as JSON; `None` once the contact was erased.
    pub fields: Option<String>,
    pub consent_granted: bool,
    pub submitted_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
