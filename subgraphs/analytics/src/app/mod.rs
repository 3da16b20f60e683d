//! The analytics use cases: metrics for a viewer (checked and compiled by the metrics layer,
//! run on the store), live tiles, and exports. Knows no GraphQL.

pub mod exports;
pub mod freshness;
pub mod metrics;

use erp_kit::cache::SharedCache;

use crate::store::SharedFacts;

pub use exports::{ExportTicket, OpenedExport};
pub use freshness::SourceFreshness;
pub use metrics::MetricTable;

/// The analytics use cases over one fact store.
#[derive(Clone)]
pub struct Analytics {
    pub store: SharedFacts,
    pub cache: SharedCache,
    /// Namespaces the live channels and export tickets in a shared cache.
    pub cache_prefix: String,
}

impl Analytics {
    pub fn new(store: SharedFacts, cache: SharedCache, cache_prefix: impl Into<String>) -> Self {
        Self {
            store,
            cache,
            cache_prefix: cache_prefix.into(),
        }
    }
}
