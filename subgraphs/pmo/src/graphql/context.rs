//! What every resolver file shares: the use cases from the schema's data, and the reference to
//! another subgraph's entity.

use async_graphql::{Context, Result, SimpleObject, ID};

use erp_kit::ApiError;

use crate::app::Pmo;

/// The PMO use cases the schema was built with.
pub fn pmo<'a>(ctx: &Context<'a>) -> Result<&'a Pmo> {
    ctx.data::<Pmo>()
        .map_err(|_| ApiError::internal("pmo service missing from schema data").into())
}

/// An employee of the HRMS subgraph (referenced; resolved there).
#[derive(SimpleObject, Clone)]
#[graphql(unresolvable = "id")]
pub struct Employee {
    /// The employee's id (the employee subgraph resolves the rest).
    pub id: ID,
}

/// A user account of the identity subgraph (referenced; resolved there).
#[derive(SimpleObject, Clone)]
#[graphql(unresolvable = "id")]
pub struct User {
    /// The user's id (the identity subgraph resolves the rest).
    pub id: ID,
}

impl User {
    pub fn of(id: &str) -> Self {
        Self {
            id: ID(id.to_owned()),
        }
    }
}
