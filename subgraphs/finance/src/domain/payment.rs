//! Payments and their allocation to documents (invariant F8): the allocations of a payment
//! never exceed it, an allocation never exceeds what its document still owes, and a document's
//! outstanding amount is derived from its allocations. The store enforces the same bounds with
//! conditional updates, so that concurrent allocations cannot over-allocate either.

use super::ledger::Side;
use super::money::format_minor;
use super::FinanceViolation;

/// A payment's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentDirection {
    /// Money in from a customer (settles invoices).
    Inbound,
    /// Money out to a vendor (settles bills).
    Outbound,
}

impl PaymentDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentDirection::Inbound => "inbound",
            PaymentDirection::Outbound => "outbound",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "inbound" => Some(PaymentDirection::Inbound),
            "outbound" => Some(PaymentDirection::Outbound),
            _ => None,
        }
    }
}

/// What an allocation needs to know about its document.
#[derive(Debug, Clone)]
pub struct OpenDocument {
    pub id: String,
    pub reference: String,
    pub party_id: String,
    pub currency: String,
    /// Total minus what is already settled.
    pub outstanding: i64,
}

/// Checks a set of allocations of one payment: each positive, each within its document's
/// outstanding amount, same party and currency, and together within what the payment has left.
pub fn check_allocations(
    payment_party: &str,
    payment_currency: &str,
    exponent: u8,
    unallocated: i64,
    requested: &[(OpenDocument, i64)],
) -> Result<i64, FinanceViolation> {
    let mut total = 0i64;
    for (document, amount) in requested {
        if *amount <= 0 {
            return Err(FinanceViolation::AmountOutOfRange);
        }
        if document.party_id != payment_party {
            return Err(FinanceViolation::AllocationMismatch("party"));
        }
        if document.currency != payment_currency {
            return Err(FinanceViolation::AllocationMismatch("currency"));
        }
        if *amount > document.outstanding {
            return Err(FinanceViolation::AllocationExceedsOutstanding {
                invoice: document.reference.clone(),
            });
        }
        total = total
            .checked_add(*amount)
            .ok_or(FinanceViolation::AmountOutOfRange)?;
    }
    if total > unallocated {
        return Err(FinanceViolation::OverAllocation {
            unallocated: format_minor(unallocated, u32::from(exponent)),
            requested: format_minor(total, u32::from(exponent)),
        });
    }
    Ok(total)
}

/// Which control account a realised exchange difference clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlLedger {
    /// Customer invoices (a debit balance), settled by inbound payments and credit notes.
    Receivables,
    /// Vendor bills (a credit balance), settled by outbound payments.
    Payables,
}

/// A realised exchange difference as the ledger books it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealisedDifference {
    /// The side of the control-account line (which brings the document's base balance to
    /// what the settlement cleared).
    pub control_side: Side,
    /// A gain (credited to the gain account) or a loss (debited to the loss account).
    pub gain: bool,
    /// Positive, base minor units.
    pub amount: i64,
}

/// The realised difference of a settlement whose base amount (at the payment's or credit
/// note's own rate) is `settlement_base` while it clears `document_base` of the document's
/// booked base amount; None when they are equal.
///
/// A receivable was debited `document_base` and credited `settlement_base`: more received
/// than booked is a gain, cleared by a debit. A payable mirrors it: paying more than booked is
/// a loss, cleared by a credit.
pub fn realised_difference(
    ledger: ControlLedger,
    settlement_base: i64,
    document_base: i64,
) -> Option<RealisedDifference> {
    let difference = settlement_base - document_base;
    if difference == 0 {
        return None;
    }
    let (control_side, gain) = match (ledger, difference > 0) {
        (ControlLedger::Receivables, true) => (Side::Debit, true),
        (ControlLedger::Receivables, false) => (Side::Credit, false),
        (ControlLedger::Payables, true) => (Side::Credit, false),
        (ControlLedger::Payables, false) => (Side::Debit, true),
    };
    Some(RealisedDifference {
        control_side,
        gain,
        amount: difference.abs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(id: &str, outstanding: i64) -> OpenDocument {
        OpenDocument {
            id: id.into(),
            reference: format!("INV/{id}"),
            party_id: "c1".into(),
            currency: "EUR".into(),
            outstanding,
        }
    }

    #[test]
    fn allocations_stay_within_the_payment_and_each_document() {
        let ok = check_allocations(
            "c1",
            "EUR",
            2,
            1000,
            &[(document("a", 600), 600), (document("b", 900), 400)],
        );
        assert_eq!(ok, Ok(1000));
        assert!(matches!(
            check_allocations(
                "c1",
                "EUR",
                2,
                1000,
                &[(document("a", 600), 600), (document("b", 900), 401)]
            ),
            Err(FinanceViolation::OverAllocation { .. })
        ));
        assert!(matches!(
            check_allocations("c1", "EUR", 2, 1000, &[(document("a", 600), 601)]),
            Err(FinanceViolation::AllocationExceedsOutstanding { .. })
        ));
        let mut other = document("c", 100);
        other.party_id = "c2".into();
        assert_eq!(
            check_allocations("c1", "EUR", 2, 1000, &[(other, 50)]),
            Err(FinanceViolation::AllocationMismatch("party"))
        );
        assert_eq!(
            check_allocations("c1", "EUR", 2, 1000, &[(document("a", 600), 0)]),
            Err(FinanceViolation::AmountOutOfRange)
        );
    }

    #[test]
    fn realised_differences_are_gains_or_losses_by_ledger() {
        // Received 1200 USD for a receivable booked at 1100: a 100 gain, the receivable debited.
        assert_eq!(
            realised_difference(ControlLedger::Receivables, 120_000, 110_000),
            Some(RealisedDifference {
                control_side: Side::Debit,
                gain: true,
                amount: 10_000
            })
        );
        assert_eq!(
            realised_difference(ControlLedger::Receivables, 100_000, 110_000),
            Some(RealisedDifference {
                control_side: Side::Credit,
                gain: false,
                amount: 10_000
            })
        );
        // Paid 1200 for a payable booked at 1100: a loss, the payable credited.
        assert_eq!(
            realised_difference(ControlLedger::Payables, 120_000, 110_000),
            Some(RealisedDifference {
                control_side: Side::Credit,
                gain: false,
                amount: 10_000
            })
        );
        assert_eq!(
            realised_difference(ControlLedger::Payables, 100_000, 110_000),
            Some(RealisedDifference {
                control_side: Side::Debit,
                gain: true,
                amount: 10_000
            })
        );
        assert_eq!(realised_difference(ControlLedger::Payables, 5, 5), None);
    }
}
