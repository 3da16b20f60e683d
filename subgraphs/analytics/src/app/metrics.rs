//! Metrics and live tiles.

use chrono::{NaiveDate, Utc};
use futures::stream::{BoxStream, StreamExt};

use erp_kit::{ApiError, ApiResult};

use super::Analytics;
use crate::domain::metrics::{self, MetricQuery, MetricRequest, MetricRow, Viewer};
use crate::store::writer::{facts_channel, FactsChanged};

/// A metric's result: the checked query, its rows, and when it was computed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTable {
    pub query: MetricQuery,
    pub rows: Vec<MetricRow>,
    pub as_of: chrono::DateTime<Utc>,
}

impl Analytics {
    /// Runs `request` for `viewer`: checked against the catalogue and the viewer's scopes,
    /// compiled for this store's engine with the viewer's tenant.
    pub async fn metric(&self, viewer: &Viewer, request: &MetricRequest) -> ApiResult<MetricTable> {
        let query = metrics::check(request, viewer, Utc::now().date_naive())?;
        self.run(viewer, query).await
    }

    async fn run(&self, viewer: &Viewer, query: MetricQuery) -> ApiResult<MetricTable> {
        let as_of = Utc::now();
        let sql = query.compile(self.store.dialect(), viewer);
        let raw = self.store.query(&sql).await?;
        let rows = raw
            .into_iter()
            .map(|row| query.row(row.dimensions, row.value, row.people))
            .collect();
        Ok(MetricTable { query, rows, as_of })
    }

    /// The tile now, then again each time new facts of the viewer's tenant on a day of its
    /// range change its rows. A refused request fails before any stream starts.
    pub async fn live_metric(
        &self,
        viewer: Viewer,
        request: MetricRequest,
    ) -> ApiResult<BoxStream<'static, MetricTable>> {
        let query = metrics::check(&request, &viewer, Utc::now().date_naive())?;
        let channel = facts_channel(&self.cache_prefix, &viewer.tenant_id);
        // Subscribed before the first computation: no change falls between the two.
        let changes = self
            .cache
            .subscribe(&channel)
            .await
            .map_err(|err| ApiError::internal(format!("live facts channel: {err}")))?;
        let first = self.run(&viewer, query.clone()).await?;
        let analytics = self.clone();
        let updates = futures::stream::unfold(
            (changes, first.rows.clone(), analytics, viewer, query),
            |(mut changes, mut last, analytics, viewer, query)| async move {
                while let Some(message) = changes.next().await {
                    let touches = serde_json::from_slice::<FactsChanged>(&message)
                        .map(|changed| {
                            changed.days.iter().any(|day| {
                                NaiveDate::parse_from_str(day, "%Y-%m-%d")
                                    .is_ok_and(|day| query.covers_day(day))
                            })
                        })
                        .unwrap_or(true);
                    // Capacity and utilization count people hired before the range too.
                    let undated = matches!(
                        query.metric,
                        metrics::Metric::Capacity | metrics::Metric::Utilization
                    );
                    if !touches && !undated {
                        continue;
                    }
                    match analytics.run(&viewer, query.clone()).await {
                        Ok(table) if table.rows != last => {
                            last = table.rows.clone();
                            return Some((table, (changes, last, analytics, viewer, query)));
                        }
                        Ok(_) => {}
                        Err(err) => tracing::warn!(error = ?err, "live tile not recomputed"),
                    }
                }
                None
            },
        );
        Ok(futures::stream::once(async move { first })
            .chain(updates)
            .boxed())
    }
}
