//! Cash-flow forecast: today's cash position plus what receivables and payables still expect,
//! by due date. Only OPEN amounts are forecast (a document's outstanding after its payments), so
//! a forecast line and its actual (the payment, already in the bank balance) are never counted
//! twice (OCA account-financial-reporting #1000).

use chrono::{Duration, NaiveDate};

/// One expected movement: positive in, negative out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFlow {
    pub due: NaiveDate,
    pub amount: i64,
}

/// One forecast bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastBucket {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub inflow: i64,
    pub outflow: i64,
    pub closing: i64,
}

/// Weekly buckets from `as_of`: overdue flows fall into the first week (they are expected now,
/// not in the past), flows beyond the horizon are left out.
pub fn forecast(
    opening: i64,
    as_of: NaiveDate,
    weeks: u32,
    flows: &[ExpectedFlow],
) -> Vec<ForecastBucket> {
    let mut buckets: Vec<ForecastBucket> = (0..weeks)
        .map(|week| {
            let starts_on = as_of + Duration::days(7 * i64::from(week));
            ForecastBucket {
                starts_on,
                ends_on: starts_on + Duration::days(6),
                inflow: 0,
                outflow: 0,
                closing: 0,
            }
        })
        .collect();
    for flow in flows {
        let week = ((flow.due - as_of).num_days().max(0) / 7) as usize;
        if let Some(bucket) = buckets.get_mut(week) {
            if flow.amount >= 0 {
                bucket.inflow += flow.amount;
            } else {
                bucket.outflow -= flow.amount;
            }
        }
    }
    let mut running = opening;
    for bucket in &mut buckets {
        running += bucket.inflow - bucket.outflow;
        bucket.closing = running;
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_land_in_weeks_and_overdue_ones_in_the_first() {
        let as_of = NaiveDate::from_ymd_opt(2026, 5, 4).unwrap();
        let flows = vec![
            ExpectedFlow {
                due: as_of - Duration::days(10),
                amount: 100,
            },
            ExpectedFlow {
                due: as_of + Duration::days(8),
                amount: -40,
            },
            ExpectedFlow {
                due: as_of + Duration::days(100),
                amount: 1000,
            },
        ];
        let buckets = forecast(500, as_of, 4, &flows);
        assert_eq!(buckets.len(), 4);
        assert_eq!((buckets[0].inflow, buckets[0].closing), (100, 600));
        assert_eq!((buckets[1].outflow, buckets[1].closing), (40, 560));
        assert_eq!(buckets[3].closing, 560);
    }
}
