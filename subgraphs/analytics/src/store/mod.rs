//! Where facts are kept and metrics run: ClickHouse in production ([`clickhouse`]), DataFusion
//! over the state directory in the one-process mode (`embedded`, behind the crate's `embedded`
//! feature). Both implement [`FactStore`]; the metrics compiler writes each one's SQL.

pub mod clickhouse;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "parquet")]
pub mod parquet;
#[cfg(feature = "embedded")]
pub mod rollup;
pub mod writer;

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;

use erp_kit::events::DeadLetter;

use crate::domain::facts::Fact;
use crate::domain::metrics::{CompiledSql, Dialect, ExportQuery, DIMENSION_COLUMNS};

/// A store failure. `unavailable`: the store cannot be reached (retry later, do not count it
/// against an event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub message: String,
    pub unavailable: bool,
}

impl StoreError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: false,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: true,
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for erp_kit::ApiError {
    fn from(err: StoreError) -> Self {
        erp_kit::ApiError::internal(format!("analytics store: {err}"))
    }
}

/// A fact with the instant it was stored (exports read one snapshot: `ingested_ms <= asOf`).
#[derive(Debug, Clone)]
pub struct StoredFact {
    pub fact: Fact,
    pub ingested_ms: i64,
}

/// A tenant's reporting calendar as stored: its IANA time zone's name and the month its
/// fiscal year starts in (checked by the domain before it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCalendar {
    pub time_zone: String,
    pub fiscal_year_start_month: u8,
}

/// A row of a compiled metric query, as the engine returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub dimensions: [String; DIMENSION_COLUMNS],
    pub value: i64,
    pub people: u64,
}

/// An export's exact row count and its CSV body, streamed as the engine produces it.
pub struct ExportStream {
    pub row_count: u64,
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
}

#[async_trait::async_trait]
pub trait FactStore: Send + Sync + 'static {
    /// Which SQL the compiler writes for this store.
    fn dialect(&self) -> Dialect;

    /// Whether the store keeps the time-entry rollups the compiler may read instead of the
    /// time-entry facts ([`crate::domain::metrics::MetricQuery::with_time_rollups`]).
    fn time_rollups(&self) -> bool {
        false
    }

    /// Creates what is missing (database, tables).
    async fn prepare(&self) -> Result<(), StoreError>;

    /// Stores a batch of facts (one insert).
    async fn insert(&self, facts: &[StoredFact]) -> Result<(), StoreError>;

    /// Runs a compiled metric query.
    async fn query(&self, sql: &CompiledSql) -> Result<Vec<RawRow>, StoreError>;

    /// The export's row count at its snapshot (checked when the export is requested).
    async fn export_count(&self, tenant: &str, export: &ExportQuery) -> Result<u64, StoreError>;

    /// The export as CSV with a header line, streamed.
    async fn export(&self, tenant: &str, export: &ExportQuery) -> Result<ExportStream, StoreError>;

    /// The tenant's reporting calendar (None: never set).
    async fn calendar(&self, tenant: &str) -> Result<Option<StoredCalendar>, StoreError>;

    /// Sets the tenant's reporting calendar (the newest setting wins).
    async fn set_calendar(&self, tenant: &str, calendar: &StoredCalendar)
        -> Result<(), StoreError>;

    /// Keeps a dead letter; false when the group has one with its key already.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError>;

    /// Dead letters of a consumer group (operators, tests).
    async fn dead_letter_count(&self, group: &str) -> Result<u64, StoreError>;

    async fn ping(&self) -> Result<(), String>;
}

pub type SharedFacts = Arc<dyn FactStore>;
