//! The operations subgraph's GraphQL schema: objects, inputs and thin resolvers over
//! [`crate::app::Ops`], one file per feature.

pub mod assets;
pub mod context;
pub mod files;
pub mod helpdesk;
pub mod inbound_mail;
pub mod inventory;
pub mod loaders;
pub mod macros;
pub mod maintenance;
pub mod procurement;
pub mod rfq;
pub mod sops;
pub mod teams;

use async_graphql::{Schema, SchemaBuilder};

use crate::app::Ops;

pub type OpsSchema = Schema<Query, Mutation, Subscription>;

// The root types' descriptions are the same in every subgraph (composition keeps one).
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    assets::AssetQuery,
    inventory::InventoryQuery,
    maintenance::MaintenanceQuery,
    procurement::ProcurementQuery,
    rfq::RfqQuery,
    helpdesk::HelpdeskQuery,
    teams::TeamQuery,
    macros::MacroQuery,
    sops::SopQuery,
    inbound_mail::InboundMailQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    assets::AssetMutation,
    inventory::InventoryMutation,
    maintenance::MaintenanceMutation,
    procurement::ProcurementMutation,
    rfq::RfqMutation,
    helpdesk::HelpdeskMutation,
    teams::TeamMutation,
    macros::MacroMutation,
    sops::SopMutation,
    inbound_mail::InboundMailMutation,
);

/// The live streams of the API (graphql-transport-ws, or SSE): one root for every domain,
/// each subgraph adding its fields.
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(helpdesk::HelpdeskSubscription);

/// The schema builder with its data; the kit adds its rules in [`crate::build_schema`].
pub fn schema_builder(ops: Option<Ops>) -> SchemaBuilder<Query, Mutation, Subscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    );
    let builder = describe_connection::<assets::Asset, _, _, _>(builder);
    let builder = describe_connection::<assets::AssetMovement, _, _, _>(builder);
    let builder = describe_connection::<procurement::Requisition, _, _, _>(builder);
    let builder = describe_connection::<procurement::PurchaseOrder, _, _, _>(builder);
    let builder = describe_connection::<procurement::GoodsReceipt, _, _, _>(builder);
    let builder = describe_connection::<rfq::Rfq, _, _, _>(builder);
    let builder = describe_connection::<helpdesk::Ticket, _, _, _>(builder);
    let builder = describe_connection::<helpdesk::TicketReply, _, _, _>(builder);
    let builder = describe_connection::<helpdesk::TicketNote, _, _, _>(builder);
    let builder = describe_connection::<macros::TicketMacro, _, _, _>(builder);
    let builder = describe_connection::<sops::Sop, _, _, _>(builder);
    let builder = describe_connection::<maintenance::MaintenanceRequest, _, _, _>(builder);
    match ops {
        Some(ops) => loaders::register(builder, &ops).data(ops),
        None => builder,
    }
}
