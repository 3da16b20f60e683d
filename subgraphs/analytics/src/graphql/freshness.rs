//! `analyticsFreshness`: the age of the newest fact per source domain.

use async_graphql::{Context, Object, Result, SimpleObject};

use erp_kit::money::Decimal;
use erp_kit::scalars::DateTime;

use super::metrics::{analytics, decimal, viewer};

/// The newest fact of one source domain for the caller's tenant.
#[derive(SimpleObject)]
pub struct SourceFreshness {
    /// The domain whose events make these facts (`employee`, `pmo`, `finance`, `crm`, `ops`,
    /// `marketing`).
    pub source: String,
    /// When the newest fact's event happened in its domain; null: no fact yet.
    pub newest_occurred_at: Option<DateTime>,
    /// When the newest fact was stored in analytics.
    pub newest_ingested_at: Option<DateTime>,
    /// `asOf` less `newestOccurredAt`, in whole seconds.
    pub age_seconds: Option<Decimal>,
}

/// Every source's freshness at one instant.
#[derive(SimpleObject)]
pub struct AnalyticsFreshness {
    /// Every source domain analytics reads, in a fixed order (those without facts too).
    pub sources: Vec<SourceFreshness>,
    /// When it was read.
    pub as_of: DateTime,
}

fn instant(at: chrono::DateTime<chrono::Utc>) -> DateTime {
    DateTime::from_millis(at.timestamp_millis()).unwrap_or_else(DateTime::now)
}

#[derive(Default)]
pub struct FreshnessQuery;

#[Object]
impl FreshnessQuery {
    /// How old the newest fact of each source domain is, for the caller's tenant.
    #[graphql(requires_scopes = "analytics:read")]
    async fn analytics_freshness(&self, ctx: &Context<'_>) -> Result<AnalyticsFreshness> {
        let viewer = viewer(ctx)?;
        let (sources, as_of) = analytics(ctx)?.freshness(&viewer).await?;
        let mut out = Vec::with_capacity(sources.len());
        for source in sources {
            out.push(SourceFreshness {
                source: source.source,
                newest_occurred_at: source.newest_occurred.map(instant),
                newest_ingested_at: source.newest_ingested.map(instant),
                age_seconds: source.age_seconds.map(decimal).transpose()?,
            });
        }
        Ok(AnalyticsFreshness {
            sources: out,
            as_of: instant(as_of),
        })
    }
}
