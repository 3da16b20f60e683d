//! Expense claims: lines with receipt references under category policies (caps, receipt
//! required), `draft -> submitted -> approved | refused (reason) -> paid` exactly once
//! (invariant F13), approved by the claimant's manager and never by the claimant.

use super::fx::ExchangeRate;
use super::money::{format_minor, Money};
use super::payment::{realised_difference, ControlLedger, RealisedDifference};
use super::FinanceViolation;

/// Where a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpenseState {
    Draft,
    Submitted,
    Approved,
    Refused,
    Paid,
}

impl ExpenseState {
    pub const ALL: [ExpenseState; 5] = [
        ExpenseState::Draft,
        ExpenseState::Submitted,
        ExpenseState::Approved,
        ExpenseState::Refused,
        ExpenseState::Paid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExpenseState::Draft => "draft",
            ExpenseState::Submitted => "submitted",
            ExpenseState::Approved => "approved",
            ExpenseState::Refused => "refused",
            ExpenseState::Paid => "paid",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// The steps of a claim's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpenseAction {
    Edit,
    Submit,
    Approve,
    Refuse,
    Pay,
}

impl ExpenseAction {
    fn past(self) -> &'static str {
        match self {
            ExpenseAction::Edit => "changed",
            ExpenseAction::Submit => "submitted",
            ExpenseAction::Approve => "approved",
            ExpenseAction::Refuse => "refused",
            ExpenseAction::Pay => "paid",
        }
    }
}

/// The state after `action`, or why not. Paying twice is its own reason (F13).
pub fn transition(
    state: ExpenseState,
    action: ExpenseAction,
) -> Result<ExpenseState, FinanceViolation> {
    use ExpenseAction as A;
    use ExpenseState as S;
    match (state, action) {
        (S::Draft, A::Edit) => Ok(S::Draft),
        (S::Draft, A::Submit) => Ok(S::Submitted),
        (S::Submitted, A::Approve) => Ok(S::Approved),
        (S::Submitted, A::Refuse) => Ok(S::Refused),
        (S::Approved, A::Pay) => Ok(S::Paid),
        (S::Paid, A::Pay) => Err(FinanceViolation::ExpenseAlreadyPaid),
        (state, action) => Err(FinanceViolation::ExpenseState {
            state: state.as_str(),
            action: action.past(),
        }),
    }
}

/// Who decides: nobody approves their own claim; the claimant's manager does, or a finance
/// administrator when the claimant has no manager on record.
pub fn check_approver(
    claimant_user: &str,
    approver_user: &str,
    claimant_manager_user: Option<&str>,
    approver_is_finance_admin: bool,
) -> Result<(), FinanceViolation> {
    if claimant_user == approver_user {
        return Err(FinanceViolation::SelfApproval);
    }
    if claimant_manager_user == Some(approver_user) || approver_is_finance_admin {
        return Ok(());
    }
    Err(FinanceViolation::NotTheManager)
}

/// A category's policy.
#[derive(Debug, Clone)]
pub struct CategoryPolicy {
    pub code: String,
    /// The most one line may claim: in the line's currency when the cap is in it, else in the
    /// base currency (the line's base amount at its day's rate) when the cap is in the base
    /// currency; a cap in any other currency does not cap the line.
    pub cap: Option<Money>,
    pub receipt_required: bool,
}

/// A foreign line's value in the base currency: its base amount and the rate it was taken at
/// (shown in a refusal).
#[derive(Debug, Clone, Copy)]
pub struct BaseValue {
    pub amount: Money,
    pub rate: ExchangeRate,
}

/// Checks one line against its category's policy; `base` is the line's value in the base
/// currency when the line is in a foreign currency (None in the base currency).
pub fn check_line(
    policy: &CategoryPolicy,
    amount: Money,
    base: Option<BaseValue>,
    receipt: Option<&str>,
) -> Result<(), FinanceViolation> {
    if !amount.is_positive() {
        return Err(FinanceViolation::AmountOutOfRange);
    }
    check_cap(policy, amount, base)?;
    if policy.receipt_required && receipt.is_none_or(|r| r.trim().is_empty()) {
        return Err(FinanceViolation::ReceiptRequired {
            category: policy.code.clone(),
        });
    }
    Ok(())
}

/// Checks one line against its category's cap (see [`CategoryPolicy::cap`]).
pub fn check_cap(
    policy: &CategoryPolicy,
    amount: Money,
    base: Option<BaseValue>,
) -> Result<(), FinanceViolation> {
    if let Some(cap) = policy.cap {
        let shown = |money: Money| {
            format!(
                "{} {}",
                format_minor(money.minor(), u32::from(money.currency().exponent())),
                money.currency()
            )
        };
        let over = if cap.currency() == amount.currency() {
            (amount.minor() > cap.minor()).then(|| shown(cap))
        } else {
            base.filter(|base| {
                base.amount.currency() == cap.currency() && base.amount.minor() > cap.minor()
            })
            .map(|base| {
                format!(
                    "{} (this line: {} at {})",
                    shown(cap),
                    shown(base.amount),
                    base.rate.to_decimal_string()
                )
            })
        };
        if let Some(cap) = over {
            return Err(FinanceViolation::PolicyCapExceeded {
                category: policy.code.clone(),
                cap,
            });
        }
    }
    Ok(())
}

/// The realised exchange difference of reimbursing a foreign claim booked at `booked` base
/// minor units with `paid` base minor units (its total at the payment day's rate): paying
/// more than booked is a loss, less a gain. None when they are equal.
pub fn reimbursement_difference(booked: i64, paid: i64) -> Option<RealisedDifference> {
    // The claim is owed to the employee: a credit balance, as a payable.
    realised_difference(ControlLedger::Payables, paid, booked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    #[test]
    fn the_life_cycle_allows_one_payment() {
        use ExpenseAction as A;
        use ExpenseState as S;
        let mut state = S::Draft;
        for action in [A::Edit, A::Submit, A::Approve, A::Pay] {
            state = transition(state, action).unwrap();
        }
        assert_eq!(state, S::Paid);
        assert_eq!(
            transition(S::Paid, A::Pay),
            Err(FinanceViolation::ExpenseAlreadyPaid)
        );
        assert!(matches!(
            transition(S::Submitted, A::Pay),
            Err(FinanceViolation::ExpenseState { .. })
        ));
        assert!(matches!(
            transition(S::Refused, A::Approve),
            Err(FinanceViolation::ExpenseState { .. })
        ));
        assert!(matches!(
            transition(S::Submitted, A::Edit),
            Err(FinanceViolation::ExpenseState { .. })
        ));
        assert_eq!(transition(S::Submitted, A::Refuse), Ok(S::Refused));
    }

    #[test]
    fn nobody_approves_their_own_claim_and_only_the_manager_or_finance_does() {
        assert_eq!(
            check_approver("u1", "u1", Some("u2"), true),
            Err(FinanceViolation::SelfApproval)
        );
        assert_eq!(check_approver("u1", "u2", Some("u2"), false), Ok(()));
        assert_eq!(
            check_approver("u1", "u3", Some("u2"), false),
            Err(FinanceViolation::NotTheManager)
        );
        assert_eq!(check_approver("u1", "u3", None, true), Ok(()));
    }

    #[test]
    fn policies_cap_lines_and_require_receipts() {
        let eur = Currency::parse("EUR").unwrap();
        let policy = CategoryPolicy {
            code: "MEALS".into(),
            cap: Some(Money::parse("50.00", eur).unwrap()),
            receipt_required: true,
        };
        let amount = |text| Money::parse(text, eur).unwrap();
        assert!(check_line(&policy, amount("50.00"), None, Some("r-1")).is_ok());
        assert!(matches!(
            check_line(&policy, amount("50.01"), None, Some("r-1")),
            Err(FinanceViolation::PolicyCapExceeded { .. })
        ));
        assert!(matches!(
            check_line(&policy, amount("10.00"), None, Some(" ")),
            Err(FinanceViolation::ReceiptRequired { .. })
        ));
    }

    #[test]
    fn a_foreign_line_is_capped_by_its_base_value() {
        let (eur, usd, gbp) = (
            Currency::parse("EUR").unwrap(),
            Currency::parse("USD").unwrap(),
            Currency::parse("GBP").unwrap(),
        );
        let policy = CategoryPolicy {
            code: "MEALS".into(),
            cap: Some(Money::parse("50.00", eur).unwrap()),
            receipt_required: false,
        };
        let rate = ExchangeRate::parse(usd, "0.9").unwrap();
        let line = |text| {
            let amount = Money::parse(text, usd).unwrap();
            let base = rate.convert(amount, eur).unwrap();
            (amount, Some(BaseValue { amount: base, rate }))
        };
        // 55.55 USD at 0.9 = 49.995 -> 50.00 EUR: within; 55.56 -> 50.00 too; 55.57 -> 50.01.
        let (amount, base) = line("55.56");
        assert!(check_line(&policy, amount, base, None).is_ok());
        let (amount, base) = line("55.57");
        assert_eq!(
            check_line(&policy, amount, base, None),
            Err(FinanceViolation::PolicyCapExceeded {
                category: "MEALS".into(),
                cap: "50.00 EUR (this line: 50.01 EUR at 0.9)".into()
            })
        );
        // A cap in a third currency does not cap the line.
        let pounds = CategoryPolicy {
            cap: Some(Money::parse("1.00", gbp).unwrap()),
            ..policy.clone()
        };
        let (amount, base) = line("500.00");
        assert!(check_line(&pounds, amount, base, None).is_ok());
    }

    #[test]
    fn paying_a_foreign_claim_at_a_higher_rate_is_a_loss() {
        assert_eq!(
            reimbursement_difference(9_000, 9_500),
            Some(RealisedDifference {
                control_side: crate::domain::ledger::Side::Credit,
                gain: false,
                amount: 500
            })
        );
        assert_eq!(
            reimbursement_difference(9_000, 8_800).map(|d| (d.gain, d.amount)),
            Some((true, 200))
        );
        assert_eq!(reimbursement_difference(9_000, 9_000), None);
    }
}
