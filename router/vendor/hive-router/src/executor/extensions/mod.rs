pub mod aggregator;
pub mod compile;
pub mod plan;
