//! DataLoaders: one query per batch of lookups, keyed by tenant (the kit's [`TenantKey`]).

use std::collections::{BTreeSet, HashMap};

use async_graphql::dataloader::Loader;
use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};

use erp_kit::loaders::{load_by_tenant, loader, TenantKey};

use crate::app::Marketing;
use crate::store::entities::{channel_account, consent, contact};

/// Registers every loader of the schema over `marketing`.
pub fn register<Q, M, S>(
    builder: SchemaBuilder<Q, M, S>,
    marketing: &Marketing,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .data(loader(ContactLoader(marketing.clone())))
        .data(loader(ConsentsLoader(marketing.clone())))
        .data(loader(TopicsLoader(marketing.clone())))
        .data(loader(ChannelAccountLoader(marketing.clone())))
}

macro_rules! by_id_loader {
    ($(#[$doc:meta])* $name:ident, $value:ty, $method:ident) => {
        $(#[$doc])*
        pub struct $name(pub Marketing);

        impl Loader<TenantKey> for $name {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(
                &self,
                keys: &[TenantKey],
            ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
                let marketing = &self.0;
                Ok(load_by_tenant(keys, |tenant, ids| async move {
                    marketing.$method(&tenant, &ids).await
                })
                .await?)
            }
        }
    };
}

by_id_loader!(
    /// Contacts by id.
    ContactLoader, contact::Model, contacts_by_ids
);
by_id_loader!(
    /// The consent log of each contact, oldest first.
    ConsentsLoader, Vec<consent::Model>, consents_by_contacts
);
by_id_loader!(
    /// The topics each contact is subscribed to.
    TopicsLoader, BTreeSet<String>, subscribed_topics
);
by_id_loader!(
    /// Social channel accounts by id.
    ChannelAccountLoader, channel_account::Model, channel_accounts_by_ids
);
