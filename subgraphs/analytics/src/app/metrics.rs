//! Metrics and live tiles.

use chrono::{NaiveDate, Utc};
use futures::stream::{BoxStream, StreamExt};

use erp_kit::{ApiError, ApiResult};

use super::Analytics;
use crate::domain::metrics::{self, Dimension, MetricQuery, MetricRequest, MetricRow, Viewer};
use crate::domain::profitability::{self, Bill, Cost, Hours, Inputs, Line, LineKey, Revenue, Wip};
use crate::store::writer::{facts_channel, FactsChanged};
use crate::store::RawRow;

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
        let query = metrics::check(request, viewer, Utc::now().date_naive())?
            .on_calendar(self.calendar(&viewer.tenant_id).await?)
            .with_time_rollups(self.store.time_rollups());
        self.run(viewer, query).await
    }

    async fn run(&self, viewer: &Viewer, query: MetricQuery) -> ApiResult<MetricTable> {
        if query.metric == metrics::Metric::Profitability {
            return self.profitability(viewer, query).await;
        }
        let as_of = Utc::now();
        let sql = query.compile(self.store.dialect(), viewer);
        let raw = self.store.query(&sql).await?;
        let rows = raw
            .into_iter()
            .map(|row| query.row(row.dimensions, row.value, row.people))
            .collect();
        Ok(MetricTable { query, rows, as_of })
    }

    /// Profitability: its inputs from the store (plain sums, alike on both engines), the cost
    /// allocated and the rows grouped and filtered by the domain rule.
    async fn profitability(&self, viewer: &Viewer, query: MetricQuery) -> ApiResult<MetricTable> {
        let as_of = Utc::now();
        let sql = query.profitability_sql(self.store.dialect(), viewer);
        let [d0, d1, d2, d3] = [0, 1, 2, 3];
        let text = |row: &RawRow, index: usize| row.dimensions[index].clone();
        let mut inputs = Inputs::default();
        // The inputs are independent reads: asked at once (ClickHouse runs them side by side).
        let store = &self.store;
        let (revenue, hours, cost, bills, expenses, wip, staff, projects) = futures::try_join!(
            store.query(&sql.revenue),
            store.query(&sql.hours),
            store.query(&sql.cost),
            store.query(&sql.bills),
            store.query(&sql.expenses),
            store.query(&sql.wip),
            store.query(&sql.staff),
            store.query(&sql.projects),
        )?;
        for row in revenue {
            inputs.revenue.push(Revenue {
                project: text(&row, d0),
                client: text(&row, d1),
                month: text(&row, d2),
                currency: text(&row, d3),
                amount: row.value,
            });
        }
        for row in hours {
            inputs.hours.push(Hours {
                user: text(&row, d0),
                project: text(&row, d1),
                month: text(&row, d2),
                seconds: row.value,
            });
        }
        for row in cost {
            inputs.costs.push(Cost {
                employee: text(&row, d0),
                month: text(&row, d1),
                currency: text(&row, d2),
                amount: row.value,
            });
        }
        for row in bills {
            inputs.bills.push(Bill {
                project: text(&row, d0),
                month: text(&row, d1),
                currency: text(&row, d2),
                amount: row.value,
            });
        }
        // Expense claims are direct cost the way vendor bills are.
        for row in expenses {
            inputs.bills.push(Bill {
                project: text(&row, d0),
                month: text(&row, d1),
                currency: text(&row, d2),
                amount: row.value,
            });
        }
        for row in wip {
            inputs.wip.push(Wip {
                project: text(&row, d0),
                month: text(&row, d1),
                currency: text(&row, d2),
                amount: row.value,
            });
        }
        for row in staff {
            if !row.dimensions[d1].is_empty() {
                inputs.staff.insert(text(&row, d0), text(&row, d1));
            }
        }
        for row in projects {
            inputs.projects.insert(text(&row, d0), text(&row, d1));
        }
        let value_of = |key: &LineKey, dimension: Dimension| -> String {
            match dimension {
                Dimension::Project => key.project.clone(),
                Dimension::Client => key.client.clone(),
                Dimension::Month => key.month.clone(),
                Dimension::FiscalYear => query.calendar.fiscal_year_of_month(&key.month),
                _ => key.currency.clone(),
            }
        };
        let lines: std::collections::BTreeMap<LineKey, Line> = profitability::lines(&inputs)
            .into_iter()
            .filter(|(key, _)| {
                query
                    .filters
                    .iter()
                    .all(|(dimension, values)| values.contains(&value_of(key, *dimension)))
            })
            .collect();
        let groups = profitability::group(&lines, |key| {
            query
                .dimensions
                .iter()
                .map(|dimension| value_of(key, *dimension))
                .collect::<Vec<String>>()
        });
        let rows = groups
            .into_iter()
            .map(|(dimensions, line)| MetricRow {
                value: (!line.suppressed()).then(|| line.profit()),
                dimensions,
            })
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
        let query = metrics::check(&request, &viewer, Utc::now().date_naive())?
            .on_calendar(self.calendar(&viewer.tenant_id).await?)
            .with_time_rollups(self.store.time_rollups());
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
