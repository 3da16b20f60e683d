//! Payments and their allocation to documents (invariant F8): the allocations of a payment
//! never exceed it, an allocation never exceeds what its document still owes, and a document's
//! outstanding amount is derived from its allocations. The store enforces the same bounds with
//! conditional updates, so that concurrent allocations cannot over-allocate either.

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
}
