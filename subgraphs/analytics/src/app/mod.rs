//! The analytics use cases: metrics for a viewer (checked and compiled by the metrics layer,
//! run on the store), live tiles, and exports. Knows no GraphQL.

pub mod calendar;
pub mod exports;
pub mod freshness;
pub mod metrics;
pub mod reconciliation;
pub mod replay;

use std::sync::Arc;

use erp_kit::cache::SharedCache;

use crate::store::SharedFacts;

pub use exports::{ExportTicket, OpenedExport, OpenedMetricExport};
pub use freshness::SourceFreshness;
pub use metrics::MetricTable;
pub use reconciliation::{ReconcilerConfig, ReconciliationMetrics};
pub use replay::{ReplayReason, ReplayRun, ReplayState, Replays};

/// The analytics use cases over one fact store.
#[derive(Clone)]
pub struct Analytics {
    pub store: SharedFacts,
    pub cache: SharedCache,
    /// Namespaces the live channels and export tickets in a shared cache.
    pub cache_prefix: String,
    /// Rebuilds facts from the event log (None: a service without one).
    pub replays: Option<Arc<dyn Replays>>,
}

impl Analytics {
    pub fn new(store: SharedFacts, cache: SharedCache, cache_prefix: impl Into<String>) -> Self {
        Self {
            store,
            cache,
            cache_prefix: cache_prefix.into(),
            replays: None,
        }
    }

    /// These use cases replaying through `replays`.
    pub fn with_replays(mut self, replays: Arc<dyn Replays>) -> Self {
        self.replays = Some(replays);
        self
    }
}
