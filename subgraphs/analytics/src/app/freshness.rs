//! Freshness: how old the newest fact of each source domain is, for the viewer's tenant
//! (a dashboard's "data as of", an operator's first look when a tile seems stale).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use erp_kit::ApiResult;

use super::Analytics;
use crate::domain::facts::FactKind;
use crate::domain::metrics::{freshness_sql, Viewer};
use crate::events::SOURCE_DOMAINS;

/// The newest fact of one source domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFreshness {
    /// The domain (`pmo`, `finance`, ...).
    pub source: String,
    /// When the newest fact's event happened in its domain (None: no fact yet).
    pub newest_occurred: Option<DateTime<Utc>>,
    /// When the newest fact was stored here.
    pub newest_ingested: Option<DateTime<Utc>>,
    /// `as_of` less `newest_occurred`, in whole seconds (0 for a future-dated event).
    pub age_seconds: Option<i64>,
}

impl Analytics {
    /// Every source domain's newest fact, as of now.
    pub async fn freshness(
        &self,
        viewer: &Viewer,
    ) -> ApiResult<(Vec<SourceFreshness>, DateTime<Utc>)> {
        let as_of = Utc::now();
        let sql = freshness_sql(self.store.dialect(), viewer)?;
        let mut newest: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for row in self.store.query(&sql).await? {
            let Some(kind) = FactKind::parse(&row.dimensions[0]) else {
                continue;
            };
            let ingested = i64::try_from(row.people).unwrap_or(i64::MAX);
            let entry = newest.entry(kind.source()).or_insert((i64::MIN, i64::MIN));
            entry.0 = entry.0.max(row.value);
            entry.1 = entry.1.max(ingested);
        }
        let sources = SOURCE_DOMAINS
            .iter()
            .map(|source| {
                let (occurred, ingested) = newest
                    .get(source)
                    .map(|(occurred, ingested)| {
                        (
                            DateTime::<Utc>::from_timestamp_millis(*occurred),
                            DateTime::<Utc>::from_timestamp_millis(*ingested),
                        )
                    })
                    .unwrap_or((None, None));
                SourceFreshness {
                    source: (*source).to_owned(),
                    newest_occurred: occurred,
                    newest_ingested: ingested,
                    age_seconds: occurred.map(|at| (as_of - at).num_seconds().max(0)),
                }
            })
            .collect();
        Ok((sources, as_of))
    }
}
