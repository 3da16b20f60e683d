//! sea-orm entities of the finance tables (migrations/src/finance), the same on PostgreSQL and
//! SQLite. Money columns are `i64` minor units.

pub mod settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub base_currency: String,
        pub tax_rounding: String,
        pub lock_date: Option<Date>,
        pub receivable_account_id: String,
        pub payable_account_id: String,
        pub employee_payable_account_id: String,
        pub rounding_account_id: String,
        pub default_bank_account_id: String,
        pub default_income_account_id: String,
        pub default_expense_account_id: String,
        pub sales_journal_id: String,
        pub purchase_journal_id: String,
        pub bank_journal_id: String,
        pub general_journal_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub code: String,
        pub name: String,
        pub kind: String,
        pub role: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod journal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_journals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub code: String,
        pub name: String,
        pub kind: String,
        pub hash_chain: bool,
        pub chain_length: i64,
        pub last_hash: Option<String>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod fiscal_year {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_fiscal_years")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub starts_on: Date,
        pub ends_on: Date,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub journal_id: String,
        pub fiscal_year_id: String,
        pub number: i64,
        pub reference: String,
        pub entry_date: Date,
        pub memo: Option<String>,
        pub currency: String,
        pub rate_nano: Option<i64>,
        pub total_base: i64,
        pub line_count: i32,
        pub reverses_id: Option<String>,
        pub source_kind: String,
        pub source_id: Option<String>,
        pub chain_index: Option<i64>,
        pub prev_hash: Option<String>,
        pub hash: Option<String>,
        pub posted_by: String,
        pub posted_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod entry_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_entry_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub entry_id: String,
        pub line_no: i32,
        pub journal_id: String,
        pub entry_date: Date,
        pub account_id: String,
        pub debit: i64,
        pub credit: i64,
        pub currency: String,
        pub amount: i64,
        pub party_kind: Option<String>,
        pub party_id: Option<String>,
        pub project_id: Option<String>,
        pub department_id: Option<String>,
        pub client_id: Option<String>,
        pub label: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod balance {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_balances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub month: Date,
        pub debit: i64,
        pub credit: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod exchange_rate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_exchange_rates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub currency: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub effective_on: Date,
        pub rate_nano: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tax {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_taxes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub code: String,
        pub name: String,
        pub rate_ppm: i64,
        pub included: bool,
        pub account_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod idempotency {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_idempotency")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub operation: String,
        pub fingerprint: String,
        pub result: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod partner {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_partners")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub kind: String,
        pub name: String,
        pub client_id: Option<String>,
        pub payment_term_id: Option<String>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod payment_term {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_payment_terms")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub lines: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod document {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub kind: String,
        pub partner_id: String,
        pub posted: bool,
        pub number: Option<i64>,
        pub reference: Option<String>,
        pub document_date: Date,
        pub due_date: Date,
        pub currency: String,
        pub untaxed: i64,
        pub tax: i64,
        pub total: i64,
        pub settled: i64,
        pub credited_document_id: Option<String>,
        pub entry_id: Option<String>,
        pub project_id: Option<String>,
        pub department_id: Option<String>,
        pub memo: Option<String>,
        pub payment_term_id: Option<String>,
        pub recurring_schedule_id: Option<String>,
        pub recurring_period: Option<Date>,
        pub created_by: String,
        pub created_at: ChronoDateTimeUtc,
        pub posted_at: Option<ChronoDateTimeUtc>,
        /// The rate the entry was posted at (None in the base currency or while a draft).
        pub rate_nano: Option<i64>,
        /// `total` in base minor units, computed once at posting (0 while a draft).
        pub base_total: i64,
        /// The part of `base_total` allocations have cleared.
        pub base_settled: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod document_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_document_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub document_id: String,
        pub line_no: i32,
        pub description: String,
        pub account_id: String,
        pub quantity_milli: i64,
        pub unit_price: i64,
        pub discount_ppm: i64,
        pub tax_id: Option<String>,
        pub subtotal: i64,
        pub tax_amount: i64,
        pub project_id: Option<String>,
        pub time_entry_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod instalment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_instalments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub document_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i32,
        pub tenant_id: String,
        pub due_date: Date,
        pub amount: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod payment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_payments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub direction: String,
        pub partner_id: String,
        pub payment_date: Date,
        pub currency: String,
        pub amount: i64,
        pub allocated: i64,
        pub bank_account_id: String,
        pub entry_id: String,
        pub memo: Option<String>,
        pub created_by: String,
        pub created_at: ChronoDateTimeUtc,
        /// The rate the payment was posted at (None in the base currency).
        pub rate_nano: Option<i64>,
        /// `amount` in base minor units, computed once at posting.
        pub base_amount: i64,
        /// The part of `base_amount` allocated to documents.
        pub base_allocated: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod allocation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_allocations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub payment_id: Option<String>,
        pub credit_note_id: Option<String>,
        pub document_id: String,
        pub amount: i64,
        pub created_at: ChronoDateTimeUtc,
        /// The document's booked base amount this allocation cleared.
        pub base_amount: i64,
        /// The payment's (or credit note's) base amount for this allocation minus
        /// `base_amount`: the realised exchange difference (0 in the base currency).
        pub exchange_difference: i64,
        /// The entry that posted `exchange_difference` (None when it is 0).
        pub exchange_entry_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod recurring_schedule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_recurring_schedules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub partner_id: String,
        pub name: String,
        pub currency: String,
        pub day_of_month: i32,
        pub starts_on: Date,
        pub ends_on: Option<Date>,
        pub lines: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod person {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_people")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub employee_id: String,
        pub user_id: Option<String>,
        pub manager_employee_id: Option<String>,
        pub display_name: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod expense_category {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_expense_categories")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub code: String,
        pub name: String,
        pub account_id: String,
        pub cap_minor: Option<i64>,
        pub cap_currency: Option<String>,
        pub receipt_required: bool,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod expense {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_expenses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub employee_id: String,
        pub claimant_user_id: String,
        pub title: String,
        pub currency: String,
        pub total: i64,
        pub state: String,
        pub submitted_at: Option<ChronoDateTimeUtc>,
        pub decided_by: Option<String>,
        pub decided_at: Option<ChronoDateTimeUtc>,
        pub refusal_reason: Option<String>,
        pub approved_entry_id: Option<String>,
        pub paid_entry_id: Option<String>,
        pub paid_at: Option<ChronoDateTimeUtc>,
        pub created_at: ChronoDateTimeUtc,
        /// The claim in base minor units: its total in the base currency; for a foreign claim
        /// the sum of its lines' base amounts, fixed when its approval posts (None before).
        pub base_total: Option<i64>,
        /// What the reimbursement paid, in base minor units (a foreign claim's total at the
        /// payment day's rate).
        pub paid_base: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod expense_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_expense_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub expense_id: String,
        pub line_no: i32,
        pub category_id: String,
        pub spent_on: Date,
        pub description: String,
        pub amount: i64,
        pub receipt_ref: Option<String>,
        /// A foreign line's rate on its day (nano-units of base per unit), fixed at approval.
        pub rate_nano: Option<i64>,
        /// The line in base minor units (a foreign line's fixed at approval).
        pub base_amount: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod billing_rate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_billing_rates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        pub partner_id: String,
        pub currency: String,
        pub hourly_rate: i64,
        pub account_id: Option<String>,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod quote_invoice {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_quote_invoices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub quote_id: String,
        pub quote_number: String,
        pub quote_version: i32,
        pub document_id: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod crm_clients;
pub mod payroll;
pub mod revaluation;
