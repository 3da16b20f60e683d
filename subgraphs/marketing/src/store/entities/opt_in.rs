//! `mkt_opt_ins`: a double opt-in request awaiting (or past) its confirmation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mkt_opt_ins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub contact_id: String,
    pub purpose: String,
    pub wording_version: String,
    pub source: String,
    pub requested_at: i64,
    pub confirmed_at: Option<i64>,
    /// The pending consent record the confirmation puts in force (a form's); `None`: the
    /// confirmation logs a new record (a staff request).
    pub consent_id: Option<String>,
    /// When the confirmation link expires (Unix milliseconds).
    pub expires_at: Option<i64>,
    /// When the confirmation mail was handed to the relay; `None`: still to send.
    pub mailed_at: Option<i64>,
    pub mail_attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
