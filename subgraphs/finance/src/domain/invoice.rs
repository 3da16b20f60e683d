//! Customer invoices and vendor bills: their life cycle (draft -> posted, numbered -> partially
//! paid -> paid; overdue derived; cancelled only by a credit note), payment terms with
//! instalments, ageing, and recurring schedules that never generate twice for one period.

use chrono::{Datelike, Months, NaiveDate};

use super::money::{Percent, PPM};
use super::FinanceViolation;

/// A receivable or a payable document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A customer invoice (receivable).
    Invoice,
    /// A customer credit note against an invoice (reduces the receivable).
    CreditNote,
    /// A vendor bill (payable).
    Bill,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "invoice",
            DocumentKind::CreditNote => "credit_note",
            DocumentKind::Bill => "bill",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "invoice" => Some(DocumentKind::Invoice),
            "credit_note" => Some(DocumentKind::CreditNote),
            "bill" => Some(DocumentKind::Bill),
            _ => None,
        }
    }

    /// The numbering series of the kind (a journal may hold several).
    pub fn series(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "INV",
            DocumentKind::CreditNote => "CN",
            DocumentKind::Bill => "BILL",
        }
    }
}

/// Where a document is in its life, derived from what is stored (posted or not) and its
/// allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentStatus {
    Draft,
    Posted,
    PartiallyPaid,
    Paid,
}

impl DocumentStatus {
    /// Derived: a posted document is paid when nothing is outstanding, partially paid when
    /// something was settled.
    pub fn derive(posted: bool, total: i64, settled: i64) -> Self {
        if !posted {
            DocumentStatus::Draft
        } else if settled >= total {
            DocumentStatus::Paid
        } else if settled > 0 {
            DocumentStatus::PartiallyPaid
        } else {
            DocumentStatus::Posted
        }
    }
}

/// Overdue is derived, never stored: posted, something outstanding, and a due date passed.
pub fn is_overdue(
    status: DocumentStatus,
    earliest_open_due: Option<NaiveDate>,
    today: NaiveDate,
) -> bool {
    matches!(
        status,
        DocumentStatus::Posted | DocumentStatus::PartiallyPaid
    ) && earliest_open_due.is_some_and(|due| due < today)
}

/// One instalment of a payment term: a share of the total, due some days after the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermLine {
    pub share: Percent,
    pub days: u32,
}

/// A payment term's instalments must share out exactly 100 %.
pub fn check_term(lines: &[TermLine]) -> Result<(), FinanceViolation> {
    let total: i64 = lines.iter().map(|line| line.share.ppm()).sum();
    if lines.is_empty() || i128::from(total) != PPM || lines.iter().any(|l| l.share.ppm() == 0) {
        return Err(FinanceViolation::InstalmentsNot100);
    }
    Ok(())
}

/// The instalments of `total` under a term: (due date, amount), the last taking the rounding
/// remainder so that they add up exactly. No term: one instalment due on `due_default`.
pub fn instalments(
    total: i64,
    document_date: NaiveDate,
    term: &[TermLine],
    due_default: NaiveDate,
) -> Vec<(NaiveDate, i64)> {
    if term.is_empty() {
        return vec![(due_default, total)];
    }
    let mut out = Vec::with_capacity(term.len());
    let mut assigned = 0i64;
    for (index, line) in term.iter().enumerate() {
        let due = document_date + chrono::Duration::days(i64::from(line.days));
        let amount = if index + 1 == term.len() {
            total - assigned
        } else {
            // |total| <= 10^15 and ppm <= 10^6: the quotient fits an i64.
            super::money::round_div(i128::from(total) * i128::from(line.share.ppm()), PPM) as i64
        };
        assigned += amount;
        out.push((due, amount));
    }
    out
}

/// What is still open of each instalment when `settled` has been paid or credited: settlements
/// fill the earliest instalments first.
pub fn open_instalments(instalments: &[(NaiveDate, i64)], settled: i64) -> Vec<(NaiveDate, i64)> {
    let mut left = settled;
    let mut sorted = instalments.to_vec();
    sorted.sort_by_key(|(due, _)| *due);
    sorted
        .into_iter()
        .filter_map(|(due, amount)| {
            let covered = left.min(amount).max(0);
            left -= covered;
            let open = amount - covered;
            (open > 0).then_some((due, open))
        })
        .collect()
}

/// The ageing buckets of receivables and payables, by days past due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgeingBucket {
    Current,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
}

impl AgeingBucket {
    pub fn of(due: NaiveDate, as_of: NaiveDate) -> Self {
        let late = (as_of - due).num_days();
        match late {
            i64::MIN..=0 => AgeingBucket::Current,
            1..=30 => AgeingBucket::Days1To30,
            31..=60 => AgeingBucket::Days31To60,
            61..=90 => AgeingBucket::Days61To90,
            _ => AgeingBucket::Over90,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A credit note may not credit more than is still open on its invoice.
pub fn check_credit(invoice_open: i64, credit_total: i64) -> Result<(), FinanceViolation> {
    if credit_total > invoice_open {
        return Err(FinanceViolation::CreditExceedsInvoice);
    }
    Ok(())
}

/// Only drafts change or post.
pub fn check_draft(posted: bool, what: &'static str) -> Result<(), FinanceViolation> {
    if posted {
        Err(FinanceViolation::NotDraft(what))
    } else {
        Ok(())
    }
}

/// The monthly periods of a recurring schedule due by `as_of` (first days of months from
/// `starts_on`'s month, up to `ends_on`), in order. Generation records each as `(schedule,
/// period)` under a unique key, so running it twice for a period creates nothing the second
/// time (invariant F7).
pub fn due_periods(
    starts_on: NaiveDate,
    ends_on: Option<NaiveDate>,
    as_of: NaiveDate,
) -> Vec<NaiveDate> {
    let mut periods = Vec::new();
    let Some(mut period) = starts_on.with_day(1) else {
        return periods;
    };
    while period <= as_of && ends_on.is_none_or(|end| period <= end) && periods.len() < 1200 {
        periods.push(period);
        match period.checked_add_months(Months::new(1)) {
            Some(next) => period = next,
            None => break,
        }
    }
    periods
}

/// The invoice date of a schedule's period: the schedule's day of month, clamped to the
/// month's length.
pub fn period_invoice_date(period: NaiveDate, day_of_month: u32) -> NaiveDate {
    let mut day = day_of_month.clamp(1, 31);
    loop {
        if let Some(date) = period.with_day(day) {
            return date;
        }
        day -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn term(shares: &[(&str, u32)]) -> Vec<TermLine> {
        shares
            .iter()
            .map(|(share, days)| TermLine {
                share: Percent::parse("share", share, 100).unwrap(),
                days: *days,
            })
            .collect()
    }

    #[test]
    fn status_is_derived_from_settlements() {
        assert_eq!(DocumentStatus::derive(false, 100, 0), DocumentStatus::Draft);
        assert_eq!(DocumentStatus::derive(true, 100, 0), DocumentStatus::Posted);
        assert_eq!(
            DocumentStatus::derive(true, 100, 40),
            DocumentStatus::PartiallyPaid
        );
        assert_eq!(DocumentStatus::derive(true, 100, 100), DocumentStatus::Paid);
        assert!(is_overdue(
            DocumentStatus::Posted,
            Some(day(2026, 1, 1)),
            day(2026, 1, 2)
        ));
        assert!(!is_overdue(
            DocumentStatus::Paid,
            Some(day(2026, 1, 1)),
            day(2026, 1, 2)
        ));
        assert!(!is_overdue(
            DocumentStatus::Posted,
            Some(day(2026, 1, 2)),
            day(2026, 1, 2)
        ));
    }

    #[test]
    fn instalments_add_up_exactly_and_fill_in_due_order() {
        let thirds = term(&[("33.3333", 0), ("33.3333", 30), ("33.3334", 60)]);
        check_term(&thirds).unwrap();
        let parts = instalments(10_000, day(2026, 1, 1), &thirds, day(2026, 1, 31));
        assert_eq!(parts.iter().map(|(_, a)| a).sum::<i64>(), 10_000);
        assert_eq!(parts[0], (day(2026, 1, 1), 3_333));
        assert_eq!(parts[2], (day(2026, 3, 2), 3_334));
        assert_eq!(
            open_instalments(&parts, 5_000),
            vec![(day(2026, 1, 31), 1_666), (day(2026, 3, 2), 3_334)]
        );
        assert!(check_term(&term(&[("50", 0), ("40", 30)])).is_err());
        assert_eq!(
            instalments(500, day(2026, 1, 1), &[], day(2026, 2, 1)),
            vec![(day(2026, 2, 1), 500)]
        );
    }

    #[test]
    fn ageing_buckets_by_days_late() {
        let as_of = day(2026, 4, 30);
        assert_eq!(
            AgeingBucket::of(day(2026, 5, 1), as_of),
            AgeingBucket::Current
        );
        assert_eq!(
            AgeingBucket::of(day(2026, 4, 30), as_of),
            AgeingBucket::Current
        );
        assert_eq!(
            AgeingBucket::of(day(2026, 4, 29), as_of),
            AgeingBucket::Days1To30
        );
        assert_eq!(
            AgeingBucket::of(day(2026, 3, 31), as_of),
            AgeingBucket::Days1To30
        );
        assert_eq!(
            AgeingBucket::of(day(2026, 3, 30), as_of),
            AgeingBucket::Days31To60
        );
        assert_eq!(
            AgeingBucket::of(day(2026, 1, 1), as_of),
            AgeingBucket::Over90
        );
    }

    #[test]
    fn recurring_periods_are_months_up_to_the_date() {
        let periods = due_periods(day(2026, 1, 15), None, day(2026, 3, 1));
        assert_eq!(
            periods,
            vec![day(2026, 1, 1), day(2026, 2, 1), day(2026, 3, 1)]
        );
        assert_eq!(
            due_periods(day(2026, 1, 15), Some(day(2026, 1, 31)), day(2026, 3, 1)).len(),
            1
        );
        assert_eq!(period_invoice_date(day(2026, 2, 1), 31), day(2026, 2, 28));
        assert_eq!(period_invoice_date(day(2026, 3, 1), 15), day(2026, 3, 15));
    }

    #[test]
    fn credits_and_drafts() {
        assert!(check_credit(100, 100).is_ok());
        assert_eq!(
            check_credit(100, 101),
            Err(FinanceViolation::CreditExceedsInvoice)
        );
        assert_eq!(
            check_draft(true, "invoice"),
            Err(FinanceViolation::NotDraft("invoice"))
        );
    }
}
