pub mod partition;
pub mod resolve;
pub mod schema;
