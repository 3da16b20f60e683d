//! What every resolver file shares: the references to other subgraphs' entities. (The use
//! cases come from the schema's data: `ctx.use_cases::<Pmo>()`, the kit's.)

use async_graphql::{SimpleObject, ID};

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
