//! `crm_merges`: a merge of two records: what was re-parented, for the audit and an undo.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_merges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub record_kind: String,
    pub source_id: String,
    pub target_id: String,
    pub actor: String,
    pub at: i64,
    pub moved: String,
    pub undone_at: Option<i64>,
    pub undone_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
