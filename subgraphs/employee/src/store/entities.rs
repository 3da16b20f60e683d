//! sea-orm entities (the same on PostgreSQL and SQLite).

pub mod department {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "departments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub parent_id: Option<String>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod employee {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "employees")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub employee_number: String,
        pub user_id: Option<String>,
        pub display_name: String,
        pub work_email: String,
        pub personal_email: Option<String>,
        pub date_of_birth: Option<Date>,
        pub title: Option<String>,
        pub status: String,
        pub department_id: Option<String>,
        pub manager_id: Option<String>,
        pub hired_on: Date,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        /// Sealed by the kit's FieldCipher; never plaintext.
        pub salary_sealed: Option<String>,
        pub salary_currency: Option<String>,
        pub bank_account_sealed: Option<String>,
        pub tax_id_sealed: Option<String>,
        /// Blind index of the normalised tax id (equality search).
        pub tax_id_index: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod location {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "locations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub latitude: f64,
        pub longitude: f64,
        pub radius_meters: i32,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod punch {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "punches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub employee_id: String,
        pub kind: String,
        pub at: i64,
        pub day: String,
        pub source: String,
        pub ip: Option<String>,
        pub latitude: Option<f64>,
        pub longitude: Option<f64>,
        pub location_id: Option<String>,
        pub punch_key: String,
        /// The approved correction that replaced this punch (kept for the audit trail).
        pub voided_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
