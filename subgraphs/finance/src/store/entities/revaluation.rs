//! The sea-orm entity of foreign-currency revaluations (migrations/src/finance/m0011_revaluations.rs,
//! the bank and payment counts m0014).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "finance_revaluations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub revaluation_date: Date,
    /// The first day of the next period, when the entry is reversed.
    pub reversal_date: Date,
    /// None when no open document's value differed.
    pub entry_id: Option<String>,
    pub reversal_entry_id: Option<String>,
    /// Base minor units.
    pub gain: i64,
    pub loss: i64,
    /// The open foreign-currency documents revalued.
    pub document_count: i32,
    /// The bank accounts' foreign-currency balances revalued (one per account and currency).
    pub bank_balance_count: i32,
    /// The foreign payments with a part on account revalued.
    pub payment_count: i32,
    pub created_by: String,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
