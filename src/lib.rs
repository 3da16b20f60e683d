//! ERP OS in one binary (`erp-os`): the whole supergraph in one process on embedded defaults
//! ([`embedded`]), each subgraph alone as in production ([`services`]; the router alone is
//! `erp_router::run`), and the deterministic seed generator ([`seed`], written by [`seed_load`]
//! through the subgraphs' own services and stores; the `seed` command is [`seed_cmd`]).

// hive-router's ntex middlewares need it (as in erp-router).
#![recursion_limit = "256"]

pub mod embedded;
pub mod seed_cmd;
pub mod seed_load;
pub mod services;

/// The seed plan (a crate of its own: pure, shared with the tests that check what a load wrote).
pub use erp_seed as seed;
