//! Exports: a heavy GraphQL field (rate-limited at the edge) checks the viewer, fixes the
//! snapshot (`asOf`) and counts its rows, and hands out a one-time link; the link streams the
//! CSV from the store as it is produced, with the exact row count in a header, no row cap.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use erp_kit::{ApiError, ApiResult};

use super::Analytics;
use crate::domain::calendar::Calendar;
use crate::domain::metrics::{ExportQuery, MetricRequest, Viewer, MAX_RANGE_DAYS, PEOPLE_SCOPES};
use crate::domain::reasons;
use crate::store::ExportStream;

/// The scope an export needs (besides a person-level one: rows are per person).
pub const EXPORT_SCOPE: &str = "analytics:export";
/// How long an export link stays valid.
pub const EXPORT_LINK_TTL: Duration = Duration::from_secs(300);

/// A prepared export.
#[derive(Debug, Clone)]
pub struct ExportTicket {
    pub token: String,
    pub row_count: u64,
    pub as_of: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the link runs (kept in the cache under the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ticket {
    tenant_id: String,
    from: NaiveDate,
    to: NaiveDate,
    as_of_ms: i64,
    row_count: u64,
    /// The tenant's time zone and fiscal month when the export was prepared: the rows are
    /// counted and served on the same calendar even if it changes before the download.
    #[serde(default = "utc")]
    time_zone: String,
    #[serde(default = "january")]
    fiscal_year_start_month: u32,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn january() -> u32 {
    1
}

/// The most rows a metric export holds: a metric's table is an aggregate, so more means a
/// grouping too fine to be a report (refused as EXPORT_TOO_LARGE, never cut short).
pub const MAX_METRIC_EXPORT_ROWS: usize = 1_000_000;
/// The most bytes a metric export's file holds (it waits in the cache for its one download).
pub const MAX_METRIC_EXPORT_BYTES: usize = 64 * 1024 * 1024;

/// What a metric export's link serves (kept in the cache under the token, beside the file).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetricTicket {
    metric: String,
    row_count: u64,
    as_of_ms: i64,
}

/// An opened metric export link: the whole Parquet file.
pub struct OpenedMetricExport {
    pub metric: String,
    pub row_count: u64,
    pub as_of: DateTime<Utc>,
    pub file: Vec<u8>,
}

/// An opened export link.
pub struct OpenedExport {
    pub row_count: u64,
    pub as_of: DateTime<Utc>,
    pub stream: ExportStream,
}

impl Analytics {
    fn ticket_key(&self, token: &str) -> String {
        format!("{}:analytics:export:{token}", self.cache_prefix)
    }

    /// Prepares an export of the viewer's tenant's time entries from `from` to `to`.
    pub async fn prepare_export(
        &self,
        viewer: &Viewer,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ApiResult<ExportTicket> {
        if !viewer.scopes.iter().any(|s| s == EXPORT_SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "the `{EXPORT_SCOPE}` scope is required"
            )));
        }
        if !viewer.sees_people() {
            return Err(ApiError::rule(
                reasons::PERSON_LEVEL_FORBIDDEN,
                format!(
                    "time entries are per person: an export needs one of {}",
                    PEOPLE_SCOPES.join(", ")
                ),
            ));
        }
        if from > to || (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(ApiError::rule(
                reasons::INVALID_RANGE,
                format!("an export covers 1 to {MAX_RANGE_DAYS} days, from before to"),
            )
            .on_field("to"));
        }
        if self.store.dialect() != crate::domain::metrics::Dialect::ClickHouse {
            return Err(ApiError::rule(
                reasons::ENGINE_UNSUPPORTED,
                "exports stream from the ClickHouse store; the embedded engine has none",
            ));
        }
        let calendar = self.calendar(&viewer.tenant_id).await?;
        let as_of = Utc::now();
        let export = ExportQuery {
            from,
            to,
            as_of_ms: as_of.timestamp_millis(),
            calendar,
        };
        let row_count = self.store.export_count(&viewer.tenant_id, &export).await?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let ticket = Ticket {
            tenant_id: viewer.tenant_id.clone(),
            from,
            to,
            as_of_ms: export.as_of_ms,
            row_count,
            time_zone: calendar.time_zone.name().to_owned(),
            fiscal_year_start_month: calendar.fiscal_year_start_month,
        };
        let bytes = serde_json::to_vec(&ticket).map_err(ApiError::internal)?;
        self.cache
            .set(&self.ticket_key(&token), &bytes, Some(EXPORT_LINK_TTL))
            .await
            .map_err(|err| ApiError::internal(format!("export ticket: {err}")))?;
        let ttl = chrono::Duration::from_std(EXPORT_LINK_TTL).unwrap_or_default();
        Ok(ExportTicket {
            token,
            row_count,
            as_of,
            expires_at: as_of + ttl,
        })
    }

    fn metric_ticket_key(&self, token: &str) -> String {
        format!("{}:analytics:metric-export:{token}", self.cache_prefix)
    }

    /// Prepares a Parquet file of a metric's table, authorised like the table itself (the
    /// metrics layer's tenant filter and field scopes) and by `analytics:export`: computed
    /// now (its `asOf`), at most [`MAX_METRIC_EXPORT_ROWS`] rows and
    /// [`MAX_METRIC_EXPORT_BYTES`] bytes, served once by the returned link.
    pub async fn prepare_metric_export(
        &self,
        viewer: &Viewer,
        request: &MetricRequest,
    ) -> ApiResult<ExportTicket> {
        if !viewer.scopes.iter().any(|s| s == EXPORT_SCOPE) {
            return Err(ApiError::Forbidden(format!(
                "the `{EXPORT_SCOPE}` scope is required"
            )));
        }
        let table = self.metric(viewer, request).await?;
        let too_large = |what: String| {
            ApiError::rule(
                reasons::EXPORT_TOO_LARGE,
                format!("{what}: group by fewer dimensions or export a shorter range"),
            )
        };
        if table.rows.len() > MAX_METRIC_EXPORT_ROWS {
            return Err(too_large(format!(
                "the table has {} rows, an export at most {MAX_METRIC_EXPORT_ROWS}",
                table.rows.len()
            )));
        }
        let file = parquet_file(&table)?;
        if file.len() > MAX_METRIC_EXPORT_BYTES {
            return Err(too_large(format!(
                "the file would hold {} bytes, an export at most {MAX_METRIC_EXPORT_BYTES}",
                file.len()
            )));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let row_count = u64::try_from(table.rows.len()).unwrap_or(u64::MAX);
        let ticket = MetricTicket {
            metric: table.query.metric.name().to_owned(),
            row_count,
            as_of_ms: table.as_of.timestamp_millis(),
        };
        let key = self.metric_ticket_key(&token);
        let bytes = serde_json::to_vec(&ticket).map_err(ApiError::internal)?;
        let cache_error = |err| ApiError::internal(format!("metric export: {err}"));
        // The file first: a ticket never names a file that is not there.
        self.cache
            .set(&format!("{key}:file"), &file, Some(EXPORT_LINK_TTL))
            .await
            .map_err(cache_error)?;
        self.cache
            .set(&key, &bytes, Some(EXPORT_LINK_TTL))
            .await
            .map_err(cache_error)?;
        let ttl = chrono::Duration::from_std(EXPORT_LINK_TTL).unwrap_or_default();
        Ok(ExportTicket {
            token,
            row_count,
            as_of: table.as_of,
            expires_at: Utc::now() + ttl,
        })
    }

    /// Opens a metric export link once: its ticket and file are consumed.
    pub async fn open_metric_export(&self, token: &str) -> ApiResult<OpenedMetricExport> {
        let expired = || {
            ApiError::rule(
                reasons::EXPORT_EXPIRED,
                "this export link is unknown, used or expired",
            )
        };
        if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(expired());
        }
        let key = self.metric_ticket_key(token);
        let cache_error = |err| ApiError::internal(format!("metric export: {err}"));
        let bytes = self
            .cache
            .get(&key)
            .await
            .map_err(cache_error)?
            .ok_or_else(expired)?;
        // One use: whoever deletes the ticket first downloads the file.
        if !self.cache.delete(&key).await.map_err(cache_error)? {
            return Err(expired());
        }
        let ticket: MetricTicket = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        let file_key = format!("{key}:file");
        let file = self
            .cache
            .get(&file_key)
            .await
            .map_err(cache_error)?
            .ok_or_else(expired)?;
        self.cache.delete(&file_key).await.map_err(cache_error)?;
        Ok(OpenedMetricExport {
            metric: ticket.metric,
            row_count: ticket.row_count,
            as_of: DateTime::<Utc>::from_timestamp_millis(ticket.as_of_ms).unwrap_or_default(),
            file,
        })
    }

    /// Opens a link once: its ticket is consumed.
    pub async fn open_export(&self, token: &str) -> ApiResult<OpenedExport> {
        let expired = || {
            ApiError::rule(
                reasons::EXPORT_EXPIRED,
                "this export link is unknown, used or expired",
            )
        };
        if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(expired());
        }
        let key = self.ticket_key(token);
        let bytes = self
            .cache
            .get(&key)
            .await
            .map_err(|err| ApiError::internal(format!("export ticket: {err}")))?
            .ok_or_else(expired)?;
        // One use: whoever deletes it first runs it.
        if !self
            .cache
            .delete(&key)
            .await
            .map_err(|err| ApiError::internal(format!("export ticket: {err}")))?
        {
            return Err(expired());
        }
        let ticket: Ticket = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
        let time_zone = chrono_tz::Tz::from_str(&ticket.time_zone).map_err(|_| {
            ApiError::internal(format!(
                "an export ticket names an unknown time zone `{}`",
                ticket.time_zone
            ))
        })?;
        let fiscal_month = i32::try_from(ticket.fiscal_year_start_month)
            .map_err(|_| ApiError::internal("an export ticket's fiscal month beyond 12"))?;
        let export = ExportQuery {
            from: ticket.from,
            to: ticket.to,
            as_of_ms: ticket.as_of_ms,
            calendar: Calendar::new(time_zone, fiscal_month)?,
        };
        let stream = self.store.export(&ticket.tenant_id, &export).await?;
        if stream.row_count != ticket.row_count {
            // The snapshot is fixed by asOf; a different count means the store changed under
            // it (a merge of late duplicates): the header says what the body holds.
            tracing::warn!(
                promised = ticket.row_count,
                actual = stream.row_count,
                "export row count changed since it was prepared"
            );
        }
        let as_of = DateTime::<Utc>::from_timestamp_millis(ticket.as_of_ms).unwrap_or_default();
        Ok(OpenedExport {
            row_count: stream.row_count,
            as_of,
            stream,
        })
    }
}

/// The table as a Parquet file.
#[cfg(feature = "parquet")]
fn parquet_file(table: &super::MetricTable) -> ApiResult<Vec<u8>> {
    let dimensions: Vec<&str> = table.query.dimensions.iter().map(|d| d.name()).collect();
    let as_of = table
        .as_of
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let header = crate::store::parquet::ParquetHeader {
        metric: table.query.metric.name(),
        unit: table.query.metric.unit().name(),
        dimensions: &dimensions,
        as_of: &as_of,
    };
    Ok(crate::store::parquet::metric_file(&header, &table.rows)?)
}

/// Without the `parquet` feature this build writes no Parquet.
#[cfg(not(feature = "parquet"))]
fn parquet_file(table: &super::MetricTable) -> ApiResult<Vec<u8>> {
    let _ = table;
    Err(ApiError::rule(
        reasons::ENGINE_UNSUPPORTED,
        "this analytics build writes no Parquet (built without the `parquet` feature)",
    ))
}
