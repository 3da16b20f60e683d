//! The CRM subgraph's GraphQL schema: one file per feature (inputs, payloads, resolvers,
//! subscriptions) calling the use cases on [`Crm`](crate::app::Crm); the objects that point
//! at each other in [`objects`], the DataLoaders in [`loaders`], the caller's scope in
//! [`context`]. Every root field computes the caller's [`context::Scope`] once and every
//! object it returns carries it, so nested fields apply the same row rules.

pub mod clients;
pub mod context;
pub mod duplicates;
pub mod import;
pub mod leads;
pub mod loaders;
pub mod objects;
pub mod pipeline;
pub mod quotes;

use async_graphql::{Schema, SchemaBuilder};

use crate::app::Crm;

pub type CrmSchema = Schema<Query, Mutation, Subscription>;

// The order of the parts is the order of the fields in the SDL (schema/crm.graphql).
// The root types' descriptions are the same in every subgraph (composition keeps one).
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    clients::ClientsQuery,
    leads::LeadsQuery,
    pipeline::PipelineQuery,
    quotes::QuotesQuery,
    duplicates::DuplicatesQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    clients::ClientsMutation,
    leads::LeadsMutation,
    pipeline::PipelineMutation,
    quotes::QuotesMutation,
    duplicates::DuplicatesMutation,
);

/// The live streams of the API (graphql-transport-ws, or SSE): one root for every domain,
/// each subgraph adding its fields.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(pipeline::PipelineSubscription);

/// The schema builder with its data (the use cases and the DataLoaders over them); the kit
/// adds its rules in [`crate::build_schema`].
pub fn schema_builder(crm: Option<Crm>) -> SchemaBuilder<Query, Mutation, Subscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    );
    let builder = describe_connection::<objects::Client, _, _, _>(builder);
    let builder = describe_connection::<objects::Lead, _, _, _>(builder);
    let builder = describe_connection::<objects::Activity, _, _, _>(builder);
    let builder = describe_connection::<objects::Opportunity, _, _, _>(builder);
    let builder = describe_connection::<objects::Quote, _, _, _>(builder);
    let builder = describe_connection::<objects::Proposal, _, _, _>(builder);
    match crm {
        Some(crm) => loaders::register(builder, &crm).data(crm),
        None => builder,
    }
}
