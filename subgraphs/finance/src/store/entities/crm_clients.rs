//! sea-orm entities of what finance keeps of the CRM's clients
//! (migrations/src/finance/m0013_crm_client_merges.rs).

pub mod crm_client {
    use sea_orm::entity::prelude::*;

    /// The newest version of a CRM client finance applied (a late, older rename is ignored).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_crm_clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub name: String,
        pub version: i64,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod client_merge {
    use sea_orm::entity::prelude::*;

    /// A CRM merge as finance applied it: the customer partners it moved, each as it was.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "finance_client_merges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub merge_id: String,
        pub source_client_id: String,
        pub target_client_id: String,
        /// `merged` or `undone`.
        pub state: String,
        /// JSON `[{ "partner_id", "client_id", "name" }]`: the moved partners before the merge.
        pub moved: String,
        pub merged_at: Option<ChronoDateTimeUtc>,
        pub undone_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
