//! DataLoaders: one query per batch of lookups, keyed by tenant (the kit's [`TenantKey`]) so
//! batches of concurrent requests of different tenants never mix. Loaders answer records
//! regardless of the row rules; the resolvers apply the caller's [`super::context::Scope`].

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};
use chrono_tz::Tz;

use erp_kit::loaders::{load_by_tenant, loader, TenantKey};
use erp_kit::pagination::PageRequest;

use crate::app::Crm;
use crate::store::entities::{
    address, client, lead, opportunity, pipeline, price_list_item, quote, quote_line,
    quote_version, stage,
};

/// Registers every loader of the schema over `crm`.
pub fn register<Q, M, S>(builder: SchemaBuilder<Q, M, S>, crm: &Crm) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .data(loader(ClientLoader(crm.clone())))
        .data(loader(LeadLoader(crm.clone())))
        .data(loader(OpportunityLoader(crm.clone())))
        .data(loader(PipelineLoader(crm.clone())))
        .data(loader(StageLoader(crm.clone())))
        .data(loader(StagesLoader(crm.clone())))
        .data(loader(AddressesLoader(crm.clone())))
        .data(loader(PeopleLoader(crm.clone())))
        .data(loader(ClientOpportunitiesLoader(crm.clone())))
        .data(loader(QuoteLoader(crm.clone())))
        .data(loader(VersionsLoader(crm.clone())))
        .data(loader(LinesLoader(crm.clone())))
        .data(loader(ItemsLoader(crm.clone())))
        .data(loader(TimeZoneLoader(crm.clone())))
        .data(loader(HistoryLoader(crm.clone())))
        .data(loader(ScopeLoader(crm.clone())))
        .data(loader(BoardCardsLoader(crm.clone())))
}

macro_rules! by_id_loader {
    ($(#[$doc:meta])* $name:ident, $value:ty, $method:ident) => {
        $(#[$doc])*
        pub struct $name(pub Crm);

        impl Loader<TenantKey> for $name {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(
                &self,
                keys: &[TenantKey],
            ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
                let crm = &self.0;
                Ok(load_by_tenant(keys, |tenant, ids| async move {
                    crm.$method(&tenant, &ids).await
                })
                .await?)
            }
        }
    };
}

by_id_loader!(
    /// Clients by id.
    ClientLoader, client::Model, clients_by_ids
);
by_id_loader!(
    /// Leads by id.
    LeadLoader, lead::Model, leads_by_ids
);
by_id_loader!(
    /// Opportunities by id.
    OpportunityLoader, opportunity::Model, opportunities_by_ids
);
by_id_loader!(
    /// Pipelines by id.
    PipelineLoader, pipeline::Model, pipelines_by_ids
);
by_id_loader!(
    /// Stages by id.
    StageLoader, stage::Model, stages_by_ids
);
by_id_loader!(
    /// The stages of each pipeline, in position order.
    StagesLoader, Vec<stage::Model>, stages_per_pipeline
);
by_id_loader!(
    /// The addresses of each client.
    AddressesLoader, Vec<address::Model>, addresses_of
);
by_id_loader!(
    /// The first people of each company.
    PeopleLoader, Vec<client::Model>, people_of_companies
);
by_id_loader!(
    /// The first opportunities of each client.
    ClientOpportunitiesLoader, Vec<opportunity::Model>, opportunities_of_clients
);
by_id_loader!(
    /// Quotes by id.
    QuoteLoader, quote::Model, quotes_by_ids
);
by_id_loader!(
    /// Every version of each quote, oldest first.
    VersionsLoader, Vec<quote_version::Model>, versions_per_quote
);
by_id_loader!(
    /// The lines of each quote version, in position order.
    LinesLoader, Vec<quote_line::Model>, lines_per_version
);
by_id_loader!(
    /// The items of each price list, in code order.
    ItemsLoader, Vec<price_list_item::Model>, items_per_price_list
);

/// The time zone of each tenant (key: the tenant, id empty).
pub struct TimeZoneLoader(pub Crm);

impl Loader<TenantKey> for TimeZoneLoader {
    type Value = Tz;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for key in keys {
            if !found.contains_key(key) {
                found.insert(key.clone(), self.0.time_zone(&key.tenant).await?);
            }
        }
        Ok(found)
    }
}

by_id_loader!(
    /// The audit trail of each opportunity, oldest first.
    HistoryLoader, Vec<crate::store::entities::audit::Model>, opportunity_histories
);

/// The key of the caller's scope: their tenant, user and whether they administer the CRM.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeKey {
    pub tenant: erp_kit::TenantId,
    pub user_id: String,
    pub admin: bool,
}

/// The caller's visibility, computed once for the concurrent lookups of one batch (the
/// `_entities` of a federated query resolve together).
pub struct ScopeLoader(pub Crm);

impl Loader<ScopeKey> for ScopeLoader {
    type Value = crate::domain::visibility::Visibility;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ScopeKey]) -> Result<HashMap<ScopeKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for key in keys {
            let viewer = crate::app::Viewer {
                tenant: key.tenant.clone(),
                user_id: key.user_id.clone(),
                admin: key.admin,
            };
            found.insert(key.clone(), self.0.visibility(&viewer).await?);
        }
        Ok(found)
    }
}

/// One page of a board column's cards: the stage, the owners its board shows (`None`: all)
/// and the page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoardCardsKey {
    pub tenant: erp_kit::TenantId,
    pub stage_id: String,
    pub owners: Option<Vec<String>>,
    limit: u64,
    after: Option<String>,
    before: Option<String>,
    backward: bool,
}

impl BoardCardsKey {
    pub fn new(
        tenant: &erp_kit::TenantId,
        stage_id: &str,
        owners: Option<Vec<String>>,
        page: &PageRequest,
    ) -> Self {
        Self {
            tenant: tenant.clone(),
            stage_id: stage_id.to_owned(),
            owners,
            limit: page.limit,
            after: page.after.clone(),
            before: page.before.clone(),
            backward: page.backward,
        }
    }

    fn page(&self) -> PageRequest {
        PageRequest {
            limit: self.limit,
            after: self.after.clone(),
            before: self.before.clone(),
            backward: self.backward,
        }
    }
}

/// The cards of a board's columns (they resolve together): one statement per tenant and
/// batch, not one per column.
pub struct BoardCardsLoader(pub Crm);

impl Loader<BoardCardsKey> for BoardCardsLoader {
    type Value = Vec<opportunity::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[BoardCardsKey],
    ) -> Result<HashMap<BoardCardsKey, Self::Value>, Self::Error> {
        let mut by_tenant: HashMap<&erp_kit::TenantId, Vec<&BoardCardsKey>> = HashMap::new();
        for key in keys {
            by_tenant.entry(&key.tenant).or_default().push(key);
        }
        let mut found = HashMap::new();
        for (tenant, keys) in by_tenant {
            let pages: Vec<_> = keys
                .iter()
                .map(|key| (key.stage_id.clone(), key.owners.clone(), key.page()))
                .collect();
            let rows = self.0.board_card_pages(tenant, &pages).await?;
            for (key, rows) in keys.into_iter().zip(rows) {
                found.insert(key.clone(), rows);
            }
        }
        Ok(found)
    }
}
