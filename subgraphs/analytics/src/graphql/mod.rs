//! The analytics API: the metric catalogue, `metric(...)` (a table), the live `metric`
//! subscription, and exports (a heavy field handing out a one-time streamed CSV link, served
//! by [`export`]).

pub mod calendar;
pub mod export;
pub mod freshness;
pub mod metrics;
pub mod reconciliation;

use async_graphql::{MergedObject, Schema, SchemaBuilder};

use crate::app::Analytics;

pub use metrics::Subscription;

// Every query field of the subgraph, by feature (the order of the parts is the order of the
// fields in the SDL). The root types' descriptions are the same in every subgraph.
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(MergedObject, Default)]
pub struct Query(
    metrics::MetricsQuery,
    freshness::FreshnessQuery,
    reconciliation::ReconciliationQuery,
    calendar::CalendarQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields.
#[derive(MergedObject, Default)]
pub struct Mutation(
    reconciliation::ReconciliationMutation,
    calendar::CalendarMutation,
);

pub type AnalyticsSchema = Schema<Query, Mutation, Subscription>;

pub fn schema_builder(
    analytics: Option<Analytics>,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    let builder = Schema::build(Query::default(), Mutation::default(), Subscription);
    match analytics {
        Some(analytics) => builder.data(analytics),
        None => builder,
    }
}
