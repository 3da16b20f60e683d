//! `analyticsCalendar` and `setAnalyticsCalendar`: the tenant's reporting calendar.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use erp_kit::scalars::TimeZone;

use super::metrics::{analytics, viewer};
use crate::domain::calendar::Calendar;

/// How the tenant's reports count time: the time zone of its days (a time entry at 23:30
/// UTC is on the next day in Europe/Berlin) and the month its fiscal year starts in.
#[derive(SimpleObject)]
pub struct AnalyticsCalendar {
    /// Days, ISO weeks and months of every report are this zone's (UTC until set).
    pub time_zone: TimeZone,
    /// 1 (January: the calendar year) to 12; the `fiscal_year` dimension is `FY2026` for
    /// January, else `FY2026-27` (e.g. April 2026 to March 2027).
    pub fiscal_year_start_month: i32,
}

impl From<Calendar> for AnalyticsCalendar {
    fn from(calendar: Calendar) -> Self {
        Self {
            time_zone: TimeZone(calendar.time_zone),
            fiscal_year_start_month: i32::try_from(calendar.fiscal_year_start_month).unwrap_or(1),
        }
    }
}

/// A new reporting calendar.
#[derive(InputObject)]
pub struct SetAnalyticsCalendarInput {
    /// An IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: TimeZone,
    /// 1 to 12 (`INVALID_CALENDAR` otherwise).
    pub fiscal_year_start_month: i32,
}

#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
    /// The caller's tenant's reporting calendar.
    #[graphql(requires_scopes = "analytics:read")]
    async fn analytics_calendar(&self, ctx: &Context<'_>) -> Result<AnalyticsCalendar> {
        let viewer = viewer(ctx)?;
        Ok(analytics(ctx)?.calendar(&viewer.tenant_id).await?.into())
    }
}

#[derive(Default)]
pub struct CalendarMutation;

#[Object]
impl CalendarMutation {
    /// Sets the caller's tenant's reporting calendar (administrators: `analytics:admin`). It
    /// applies to every report from now on, over the facts already stored too.
    #[graphql(requires_scopes = "analytics:admin")]
    async fn set_analytics_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The time zone and the fiscal year's first month.")]
        input: SetAnalyticsCalendarInput,
    ) -> Result<AnalyticsCalendar> {
        let viewer = viewer(ctx)?;
        let calendar = analytics(ctx)?
            .set_calendar(&viewer, input.time_zone.tz(), input.fiscal_year_start_month)
            .await?;
        Ok(calendar.into())
    }
}
