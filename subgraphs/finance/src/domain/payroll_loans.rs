//! Loans and salary advances repaid through payroll: the terms a loan is granted on, the
//! instalment each regular run deducts, and the projected repayment schedule.
//!
//! Rules:
//! - principal > 0, instalment > 0, instalment <= principal (BAD_LOAN_TERMS);
//! - a run deducts min(instalment, outstanding) of each open loan whose first period has come,
//!   oldest loan first; a leaver's final slip deducts the whole outstanding balance;
//! - a deduction never makes the slip's net pay negative: it is cut to the net left, and the
//!   repayment records why (`NET_PAY_LIMIT`); the balance not deducted stays outstanding;
//! - the outstanding balance is the principal minus the repayments of POSTED runs (a run's
//!   repayments are reserved while it is open and dropped when it is cancelled).

use super::payroll::{ComponentKind, Period, Slip, SlipLine};
use super::FinanceViolation;

/// The slip line code of a loan repayment.
pub const LOAN_LINE_CODE: &str = "LOAN";

/// Why a repayment deducted less than the instalment due.
pub const NET_PAY_LIMIT: &str = "NET_PAY_LIMIT";

/// Checks a loan's terms (minor units).
pub fn check_loan_terms(principal: i64, instalment: i64) -> Result<(), FinanceViolation> {
    if principal <= 0 {
        return Err(FinanceViolation::BadLoanTerms {
            field: "principal",
            why: "the principal is above zero",
        });
    }
    if instalment <= 0 {
        return Err(FinanceViolation::BadLoanTerms {
            field: "instalment",
            why: "the instalment is above zero",
        });
    }
    if instalment > principal {
        return Err(FinanceViolation::BadLoanTerms {
            field: "instalment",
            why: "the instalment is at most the principal",
        });
    }
    Ok(())
}

/// What a run should deduct for a loan: the instalment (the whole balance on a leaver's final
/// slip), never more than the outstanding balance.
pub fn instalment_due(instalment: i64, outstanding: i64, final_settlement: bool) -> i64 {
    let outstanding = outstanding.max(0);
    if final_settlement {
        outstanding
    } else {
        instalment.min(outstanding)
    }
}

/// A loan's instalment due on a slip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanDue {
    pub loan_id: String,
    pub due: i64,
}

/// What a slip deducted for a loan, and why less than due if so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanDeduction {
    pub loan_id: String,
    pub amount: i64,
    pub reason: Option<&'static str>,
}

/// Deducts the loans' instalments from a computed slip, in order, each cut to the net pay left
/// (never below zero); a line per loan deducted (none for 0). Gross - deductions = net still.
pub fn deduct_loans(slip: &mut Slip, dues: &[LoanDue]) -> Vec<LoanDeduction> {
    let mut deducted = Vec::with_capacity(dues.len());
    for due in dues {
        let amount = due.due.clamp(0, slip.net.max(0));
        if amount > 0 {
            slip.lines.push(SlipLine {
                code: LOAN_LINE_CODE.into(),
                name: "Loan repayment".into(),
                kind: ComponentKind::Deduction,
                component_id: due.loan_id.clone(),
                amount,
                for_period: None,
                recovery: false,
            });
            slip.deductions += amount;
            slip.net -= amount;
        }
        deducted.push(LoanDeduction {
            loan_id: due.loan_id.clone(),
            amount,
            reason: (amount < due.due).then_some(NET_PAY_LIMIT),
        });
    }
    deducted
}

/// The instalments still to come: from `next` on, one a period of min(instalment, what is
/// left) until `outstanding` is repaid (at most 1,200 periods).
pub fn repayment_schedule(outstanding: i64, instalment: i64, next: Period) -> Vec<(String, i64)> {
    let mut left = outstanding.max(0);
    let mut period = Some(next);
    let mut schedule = Vec::new();
    while left > 0 && instalment > 0 && schedule.len() < 1_200 {
        let Some(current) = period else { break };
        let amount = instalment.min(left);
        schedule.push((current.label(), amount));
        left -= amount;
        period = current.next();
    }
    schedule
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slip(net: i64) -> Slip {
        Slip {
            lines: Vec::new(),
            gross: net,
            deductions: 0,
            net,
        }
    }

    #[test]
    fn terms_are_checked() {
        assert!(check_loan_terms(100_000, 25_000).is_ok());
        assert!(check_loan_terms(100_000, 100_000).is_ok());
        for (principal, instalment, field) in [
            (0, 1, "principal"),
            (-5, 1, "principal"),
            (100, 0, "instalment"),
            (100, 101, "instalment"),
        ] {
            match check_loan_terms(principal, instalment) {
                Err(FinanceViolation::BadLoanTerms { field: found, .. }) => {
                    assert_eq!(found, field)
                }
                other => panic!("{principal}/{instalment}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_due_never_exceeds_the_balance() {
        assert_eq!(instalment_due(25_000, 100_000, false), 25_000);
        assert_eq!(instalment_due(25_000, 10_000, false), 10_000);
        assert_eq!(instalment_due(25_000, 0, false), 0);
        assert_eq!(instalment_due(25_000, 60_000, true), 60_000);
    }

    #[test]
    fn deductions_stop_at_the_net_pay() {
        let mut paid = slip(30_000);
        let dues = [
            LoanDue {
                loan_id: "l1".into(),
                due: 20_000,
            },
            LoanDue {
                loan_id: "l2".into(),
                due: 15_000,
            },
            LoanDue {
                loan_id: "l3".into(),
                due: 5_000,
            },
        ];
        let deducted = deduct_loans(&mut paid, &dues);
        assert_eq!(
            deducted
                .iter()
                .map(|d| (d.amount, d.reason))
                .collect::<Vec<_>>(),
            vec![
                (20_000, None),
                (10_000, Some(NET_PAY_LIMIT)),
                (0, Some(NET_PAY_LIMIT))
            ]
        );
        assert_eq!((paid.deductions, paid.net), (30_000, 0));
        assert_eq!(paid.gross - paid.deductions, paid.net);
        assert_eq!(paid.lines.len(), 2);
    }

    #[test]
    fn the_schedule_runs_until_repaid() {
        let next = Period::parse("2026-11").unwrap();
        assert_eq!(
            repayment_schedule(70_000, 25_000, next),
            vec![
                ("2026-11".to_owned(), 25_000),
                ("2026-12".to_owned(), 25_000),
                ("2027-01".to_owned(), 20_000)
            ]
        );
        assert!(repayment_schedule(0, 25_000, next).is_empty());
    }
}
