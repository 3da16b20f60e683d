//! The operations & assets subgraph: assets with depreciation schedules, procurement PR -> PO
//! -> GRN with three-way match, helpdesk tickets with SLA clocks, and SOP versions.

pub mod app;
pub mod domain;
pub mod events;
pub mod store;

/// The operations rule reasons (`extensions.reason`), for the error catalogue.
pub use domain::reasons;
