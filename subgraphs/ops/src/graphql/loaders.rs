//! DataLoaders: one store read per batch of lookups, keyed by tenant (the kit's
//! [`TenantKey`]) so batches of concurrent requests of different tenants never mix. A page of
//! tickets reads its SLA policies once, a page of purchase orders its requisitions once.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};

use erp_kit::loaders::{load_by_tenant, loader, TenantKey};

use crate::app::Ops;
use crate::domain::helpdesk::Priority;
use crate::domain::sla::BusinessCalendar;
use crate::store::{RequisitionDoc, SlaPolicyDoc};

/// Registers every loader of the schema over `ops`.
pub fn register<Q, M, S>(builder: SchemaBuilder<Q, M, S>, ops: &Ops) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .data(loader(RequisitionLoader(ops.clone())))
        .data(loader(SlaPolicyLoader(ops.clone())))
}

/// Requisitions by id.
pub struct RequisitionLoader(pub Ops);

impl Loader<TenantKey> for RequisitionLoader {
    type Value = RequisitionDoc;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let ops = &self.0;
        Ok(load_by_tenant(keys, |tenant, ids| async move {
            let found = ops.requisitions_by_ids(&tenant, &ids).await?;
            Ok::<_, erp_kit::ApiError>(found.into_iter().map(|r| (r.id.clone(), r)).collect())
        })
        .await?)
    }
}

/// The SLA policy (and its calendar) of a priority; the key's id is the priority's name.
pub struct SlaPolicyLoader(pub Ops);

impl Loader<TenantKey> for SlaPolicyLoader {
    type Value = (SlaPolicyDoc, BusinessCalendar);
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let ops = &self.0;
        Ok(load_by_tenant(keys, |tenant, names| async move {
            let priorities: Vec<Priority> = PRIORITIES
                .into_iter()
                .filter(|priority| names.contains(&priority_key(*priority)))
                .collect();
            let found = ops.sla_policies_of(&tenant, &priorities).await?;
            Ok::<_, erp_kit::ApiError>(
                found
                    .into_iter()
                    .map(|(policy, calendar)| (priority_key(policy.priority), (policy, calendar)))
                    .collect(),
            )
        })
        .await?)
    }
}

const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Urgent,
];

/// The loader key's id of a priority.
pub fn priority_key(priority: Priority) -> String {
    format!("{priority:?}")
}
