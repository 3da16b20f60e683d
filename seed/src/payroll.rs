//! The payroll history of a plan: one posted regular run for every calendar month that ends
//! inside the finance history ([`SeedPlan::finance_start`] to the day before `until`): tier S
//! about three, tier L twelve (10,000 people: about 120,000 payslips).
//!
//! Each run pays everyone hired by the month's end (payroll prorates a joiner's first month by
//! calendar days) their planned salary / 12 under one structure (BASIC, PENSION as a
//! percentage of it, income tax by the year's slabs), so the plan knows each run's slips but
//! not their amounts (payroll computes those; the seed checks the counts).

use chrono::{Datelike, Duration, NaiveDate};

use crate::SeedPlan;

/// One month of payroll: `YYYY-MM`, its first and last day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayrollMonth {
    pub period: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Plan indices of the people paid (hired on or before `ends_on`).
    pub paid: Vec<usize>,
}

fn month_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).unwrap_or(day);
    let next = (first + Duration::days(32)).with_day(1).unwrap_or(first);
    (first, next.pred_opt().unwrap_or(first))
}

impl SeedPlan {
    /// The months of the payroll history, oldest first.
    pub fn payroll_months(&self) -> Vec<PayrollMonth> {
        let start = self.finance_start();
        let mut months = Vec::new();
        let (mut first, mut last) = month_of(start);
        while last < self.until {
            if last >= start {
                months.push(PayrollMonth {
                    period: format!("{:04}-{:02}", first.year(), first.month()),
                    starts_on: first,
                    ends_on: last,
                    paid: self
                        .employees
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| e.hired_on <= last)
                        .map(|(i, _)| i)
                        .collect(),
                });
            }
            (first, last) = month_of(last + Duration::days(1));
        }
        months
    }

    /// The payslips of the payroll history.
    pub fn payroll_slips(&self) -> usize {
        self.payroll_months().iter().map(|m| m.paid.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tier;

    #[test]
    fn payroll_months_end_inside_the_finance_history() {
        let until = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let s = SeedPlan::new(Tier::S, 11, "S", "s.example", until);
        let months: Vec<String> = s.payroll_months().into_iter().map(|m| m.period).collect();
        // The finance history starts 91 days before 2026-03-02: 2025-12-01.
        assert_eq!(months, vec!["2025-12", "2026-01", "2026-02"]);
        let l = SeedPlan::new(Tier::L, 11, "L", "l.example", until);
        let months = l.payroll_months();
        assert_eq!(months.len(), 12);
        assert_eq!(months[0].period, "2025-03");
        assert_eq!(months[11].period, "2026-02");
        // Nearly everyone is paid every month (a few join during the year).
        assert!(l.payroll_slips() > 115_000 && l.payroll_slips() <= 120_000);
        assert!(months
            .windows(2)
            .all(|pair| pair[0].paid.len() <= pair[1].paid.len()));
    }
}
