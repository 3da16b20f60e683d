//! Expense claims: lines with receipt references under category policies (caps, receipt
//! required), `draft -> submitted -> approved | refused (reason) -> paid` exactly once
//! (invariant F13), approved by the claimant's manager and never by the claimant.

use super::money::{format_minor, Money};
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
    /// The most one line may claim (in the cap's currency; lines of another currency are not
    /// capped by it).
    pub cap: Option<Money>,
    pub receipt_required: bool,
}

/// Checks one line against its category's policy.
pub fn check_line(
    policy: &CategoryPolicy,
    amount: Money,
    receipt: Option<&str>,
) -> Result<(), FinanceViolation> {
    if !amount.is_positive() {
        return Err(FinanceViolation::AmountOutOfRange);
    }
    if let Some(cap) = policy.cap {
        if cap.currency() == amount.currency() && amount.minor() > cap.minor() {
            return Err(FinanceViolation::PolicyCapExceeded {
                category: policy.code.clone(),
                cap: format!(
                    "{} {}",
                    format_minor(cap.minor(), u32::from(cap.currency().exponent())),
                    cap.currency()
                ),
            });
        }
    }
    if policy.receipt_required && receipt.is_none_or(|r| r.trim().is_empty()) {
        return Err(FinanceViolation::ReceiptRequired {
            category: policy.code.clone(),
        });
    }
    Ok(())
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
        assert!(check_line(&policy, amount("50.00"), Some("r-1")).is_ok());
        assert!(matches!(
            check_line(&policy, amount("50.01"), Some("r-1")),
            Err(FinanceViolation::PolicyCapExceeded { .. })
        ));
        assert!(matches!(
            check_line(&policy, amount("10.00"), Some(" ")),
            Err(FinanceViolation::ReceiptRequired { .. })
        ));
    }
}
