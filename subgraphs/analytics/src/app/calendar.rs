//! The tenant's reporting calendar: read by every metric, set by administrators.

use std::str::FromStr;

use erp_kit::{ApiError, ApiResult};

use super::Analytics;
use crate::domain::calendar::Calendar;
use crate::domain::metrics::Viewer;
use crate::store::StoredCalendar;

impl Analytics {
    /// `tenant`'s calendar (UTC and January until set).
    pub async fn calendar(&self, tenant: &str) -> ApiResult<Calendar> {
        match self.store.calendar(tenant).await? {
            None => Ok(Calendar::default()),
            Some(stored) => {
                let time_zone = chrono_tz::Tz::from_str(&stored.time_zone).map_err(|_| {
                    ApiError::internal(format!(
                        "a stored calendar names an unknown time zone `{}`",
                        stored.time_zone
                    ))
                })?;
                Calendar::new(time_zone, i32::from(stored.fiscal_year_start_month))
            }
        }
    }

    /// Sets the viewer's tenant's calendar (the caller checked `analytics:admin`): reports
    /// count days in `time_zone` and fiscal years from `fiscal_year_start_month` from now on,
    /// for every fact already stored too.
    pub async fn set_calendar(
        &self,
        viewer: &Viewer,
        time_zone: chrono_tz::Tz,
        fiscal_year_start_month: i32,
    ) -> ApiResult<Calendar> {
        let calendar = Calendar::new(time_zone, fiscal_year_start_month)?;
        let month = u8::try_from(calendar.fiscal_year_start_month)
            .map_err(|_| ApiError::internal("a fiscal month beyond 12"))?;
        self.store
            .set_calendar(
                &viewer.tenant_id,
                &StoredCalendar {
                    time_zone: calendar.time_zone.name().to_owned(),
                    fiscal_year_start_month: month,
                },
            )
            .await?;
        Ok(calendar)
    }
}
