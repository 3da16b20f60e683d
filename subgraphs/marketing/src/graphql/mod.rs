//! The marketing subgraph's GraphQL schema: one file per feature (inputs, payloads, resolvers)
//! calling the use cases on [`Marketing`](crate::app::Marketing); the objects in [`objects`],
//! the DataLoaders in [`loaders`], the caller in [`context`]; the public one-click routes
//! (unsubscribe, opt-in confirmation, tracking) beside it in [`public`].

pub mod campaigns;
pub mod contacts;
pub mod context;
pub mod delivery;
pub mod forms;
pub mod journeys;
pub mod loaders;
pub mod objects;
pub mod public;
pub mod segments;
pub mod social;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

use crate::app::Marketing;

pub type MarketingSchema = Schema<Query, Mutation, EmptySubscription>;

// The root types' descriptions are the same in every subgraph (composition keeps one).
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    contacts::ContactsQuery,
    segments::SegmentsQuery,
    campaigns::CampaignsQuery,
    forms::FormsQuery,
    delivery::DeliveryQuery,
    journeys::JourneysQuery,
    social::SocialQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    contacts::ContactsMutation,
    segments::SegmentsMutation,
    campaigns::CampaignsMutation,
    contacts::BouncesMutation,
    forms::FormsMutation,
    delivery::DeliveryMutation,
    journeys::JourneysMutation,
    social::SocialMutation,
);

/// The schema builder with its data (the use cases and the DataLoaders over them); the kit
/// adds its rules in [`crate::build_schema`].
pub fn schema_builder(
    marketing: Option<Marketing>,
) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription);
    let builder = describe_connection::<objects::MarketingContact, _, _, _>(builder);
    let builder = describe_connection::<objects::Campaign, _, _, _>(builder);
    let builder = describe_connection::<objects::EmailTemplate, _, _, _>(builder);
    let builder = describe_connection::<forms::MarketingForm, _, _, _>(builder);
    let builder = describe_connection::<journeys::Journey, _, _, _>(builder);
    let builder = describe_connection::<journeys::JourneyEnrollment, _, _, _>(builder);
    let builder = describe_connection::<social::SocialChannelAccount, _, _, _>(builder);
    let builder = describe_connection::<social::SocialPost, _, _, _>(builder);
    match marketing {
        Some(marketing) => loaders::register(builder, &marketing).data(marketing),
        None => builder,
    }
}
