pub mod graphql_error;
pub mod merge;
pub mod storage;
pub mod subgraph_response;
pub mod value;
