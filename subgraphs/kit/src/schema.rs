//! Building a subgraph schema with the kit's rules, and exporting its federated SDL.

use std::sync::Arc;

use async_graphql::{ObjectType, SDLExportOptions, Schema, SchemaBuilder, SubscriptionType};

use crate::authz::{patch_federation_sdl, Authz};
use crate::config::Limits;
use crate::limits::RequestLimits;

/// Applies the kit's rules to a schema builder and builds it:
/// field-level authorization, request limits, no field suggestions, federation on.
pub fn finish<Q, M, S>(builder: SchemaBuilder<Q, M, S>, limits: &Limits) -> Schema<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let authz = Authz::new();
    let schema = builder
        .enable_federation()
        .enable_subscription_in_federation()
        .disable_suggestions()
        .limit_depth(limits.max_depth)
        .limit_directives(limits.max_directives)
        .limit_recursive_depth(64)
        .extension(authz.clone())
        .extension(RequestLimits(Arc::new(limits.clone())))
        .extension(crate::error::BadValues)
        .finish();
    authz.set_federation_sdl(federation_sdl(&schema));
    schema
}

/// The subgraph's federated SDL, as `_service { sdl }` serves it and composition reads it.
pub fn federation_sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    patch_federation_sdl(
        &schema.sdl_with_options(
            SDLExportOptions::new()
                .federation()
                .compose_directive()
                .include_specified_by(),
        ),
    )
}
