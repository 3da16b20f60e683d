//! The identity subgraph's GraphQL schema: accounts and roles for admins, `me` for everybody,
//! and the public login mutations (the router rate-limits them as the "public" class). Each
//! feature's file holds its objects, inputs and resolvers; resolvers call `app` only. This file
//! assembles the root types from them (they import `context.rs` and each other, never this one).

mod context;
pub mod loaders;
pub mod login;
pub mod roles;
pub mod sessions;
pub mod users;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

use crate::app::Identity;

pub type IdentitySchema = Schema<Query, Mutation, EmptySubscription>;

// The root types, merged from the features (their order is the SDL's field order).
// The root types' descriptions are the same in every subgraph (composition keeps one).
/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(users::UsersQuery, roles::RolesQuery);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    login::LoginMutation,
    sessions::SessionsMutation,
    users::UsersMutation,
    roles::RolesMutation,
);

/// The schema builder with its data; the kit adds its rules in [`crate::build_schema`].
pub fn schema_builder(
    identity: Option<Identity>,
) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription);
    let builder = describe_connection::<users::User, _, _, _>(builder);
    let builder = describe_connection::<roles::Role, _, _, _>(builder);
    match identity {
        Some(identity) => builder
            .data(erp_kit::loaders::loader(loaders::RoleLoader(
                identity.clone(),
            )))
            .data(identity),
        None => builder,
    }
}
