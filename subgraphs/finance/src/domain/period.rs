//! Fiscal years, their monthly periods, and the lock date (invariant F3: nothing is posted on
//! or before the lock date; a date outside every fiscal year cannot be posted either).

use chrono::{Datelike, Months, NaiveDate};

use super::FinanceViolation;

/// A fiscal year: a named span of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalYear {
    pub id: String,
    /// `2026`, `2026-27`: part of every entry number of the year.
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl FiscalYear {
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.starts_on <= date && date <= self.ends_on
    }

    /// The year's months as periods (the first and last may be partial).
    pub fn periods(&self) -> Vec<(NaiveDate, NaiveDate)> {
        let mut periods = Vec::new();
        let mut start = self.starts_on;
        while start <= self.ends_on {
            let next_month = start
                .with_day(1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .unwrap_or(NaiveDate::MAX);
            let end = next_month
                .pred_opt()
                .unwrap_or(next_month)
                .min(self.ends_on);
            periods.push((start, end));
            match end.succ_opt() {
                Some(next) => start = next,
                None => break,
            }
        }
        periods
    }
}

/// A new fiscal year must end after it starts, last at most 18 months, and overlap no other.
pub fn check_new_fiscal_year(
    existing: &[FiscalYear],
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<(), FinanceViolation> {
    let too_long = starts_on
        .checked_add_months(Months::new(18))
        .is_none_or(|limit| ends_on >= limit);
    if ends_on < starts_on || too_long {
        return Err(FinanceViolation::FiscalYearOverlap);
    }
    if existing
        .iter()
        .any(|year| starts_on <= year.ends_on && year.starts_on <= ends_on)
    {
        return Err(FinanceViolation::FiscalYearOverlap);
    }
    Ok(())
}

/// The fiscal year an entry dated `date` is posted in, if the date is open: after the lock date
/// and inside a fiscal year.
pub fn open_year_for(
    years: &[FiscalYear],
    lock_date: Option<NaiveDate>,
    date: NaiveDate,
) -> Result<&FiscalYear, FinanceViolation> {
    if let Some(lock_date) = lock_date {
        if date <= lock_date {
            return Err(FinanceViolation::PeriodLocked { date, lock_date });
        }
    }
    years
        .iter()
        .find(|year| year.contains(date))
        .ok_or(FinanceViolation::NoFiscalYear(date))
}

/// A lock date only moves forward: re-opening a closed period would let its reports change.
pub fn check_lock_date(
    current: Option<NaiveDate>,
    next: NaiveDate,
) -> Result<(), FinanceViolation> {
    match current {
        Some(current) if next < current => Err(FinanceViolation::LockDateBackwards { current }),
        _ => Ok(()),
    }
}

/// The date a reversal is posted on (invariant F2, the ERPNext #28678 / PR #56709 failure
/// modes): the requested date, or today; never the original's date when that is locked.
pub fn reversal_date(requested: Option<NaiveDate>, today: NaiveDate) -> NaiveDate {
    requested.unwrap_or(today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn year(name: &str, start: NaiveDate, end: NaiveDate) -> FiscalYear {
        FiscalYear {
            id: name.into(),
            name: name.into(),
            starts_on: start,
            ends_on: end,
        }
    }

    #[test]
    fn postings_after_the_lock_date_inside_a_year_are_open() {
        let years = vec![year("2026", day(2026, 1, 1), day(2026, 12, 31))];
        let lock = Some(day(2026, 3, 31));
        assert_eq!(
            open_year_for(&years, lock, day(2026, 4, 1)).unwrap().name,
            "2026"
        );
        assert_eq!(
            open_year_for(&years, lock, day(2026, 3, 31)),
            Err(FinanceViolation::PeriodLocked {
                date: day(2026, 3, 31),
                lock_date: day(2026, 3, 31)
            })
        );
        assert_eq!(
            open_year_for(&years, None, day(2027, 1, 1)),
            Err(FinanceViolation::NoFiscalYear(day(2027, 1, 1)))
        );
    }

    #[test]
    fn fiscal_years_do_not_overlap_and_lock_dates_only_move_forward() {
        let years = vec![year("2026", day(2026, 1, 1), day(2026, 12, 31))];
        assert!(check_new_fiscal_year(&years, day(2027, 1, 1), day(2027, 12, 31)).is_ok());
        assert!(check_new_fiscal_year(&years, day(2026, 12, 31), day(2027, 12, 30)).is_err());
        assert!(check_new_fiscal_year(&years, day(2028, 1, 1), day(2027, 12, 31)).is_err());
        assert!(check_new_fiscal_year(&[], day(2028, 1, 1), day(2029, 12, 31)).is_err());
        assert!(check_lock_date(Some(day(2026, 3, 31)), day(2026, 2, 28)).is_err());
        assert!(check_lock_date(Some(day(2026, 3, 31)), day(2026, 4, 30)).is_ok());
        assert!(check_lock_date(None, day(2026, 4, 30)).is_ok());
    }

    #[test]
    fn a_year_has_monthly_periods() {
        let periods = year("FY", day(2026, 4, 1), day(2027, 3, 31)).periods();
        assert_eq!(periods.len(), 12);
        assert_eq!(periods[0], (day(2026, 4, 1), day(2026, 4, 30)));
        assert_eq!(periods[10], (day(2027, 2, 1), day(2027, 2, 28)));
        assert_eq!(periods[11], (day(2027, 3, 1), day(2027, 3, 31)));
    }
}
