//! sea-orm entities of the identity domain (timestamps are Unix milliseconds).

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}
pub(crate) use no_relations;

pub mod recovery_code;
pub mod refresh_family;
pub mod refresh_token;
pub mod role;
pub mod signing_key;
pub mod tenant;
pub mod user;
pub mod webauthn_credential;
