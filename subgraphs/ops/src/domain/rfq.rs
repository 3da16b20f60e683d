//! Requests for quotation: the lines of an approved requisition sent to invited suppliers,
//! each supplier quoting a unit price per line once; the quotations are compared and one is
//! awarded, which raises the purchase order (and orders the requisition). `open -> awarded`
//! or `open -> cancelled`, both final.

use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::OpsRule;

/// Where an RFQ is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RfqStatus {
    /// Sent to the suppliers: quotations come in.
    Open,
    /// One quotation won: its purchase order exists. Final.
    Awarded,
    /// Withdrawn without an order. Final.
    Cancelled,
}

impl RfqStatus {
    /// Whether a quotation may still come in.
    pub fn accepts_quotations(self) -> Result<(), ApiError> {
        match self {
            RfqStatus::Open => Ok(()),
            RfqStatus::Awarded => Err(OpsRule::RfqState("the RFQ was awarded").into()),
            RfqStatus::Cancelled => Err(OpsRule::RfqState("the RFQ was cancelled").into()),
        }
    }

    /// `open -> awarded`.
    pub fn award(self) -> Result<RfqStatus, ApiError> {
        self.accepts_quotations().map(|()| RfqStatus::Awarded)
    }

    /// `open -> cancelled`.
    pub fn cancel(self) -> Result<RfqStatus, ApiError> {
        self.accepts_quotations().map(|()| RfqStatus::Cancelled)
    }
}

/// Whether `supplier` may quote: invited, and not quoted yet (a quotation is never replaced:
/// what was compared stays what was compared).
pub fn check_quoting_supplier(
    invited: &[String],
    quoted: &[&str],
    supplier: &str,
) -> Result<(), ApiError> {
    if !invited.iter().any(|s| s.eq_ignore_ascii_case(supplier)) {
        return Err(OpsRule::SupplierNotInvited(supplier.to_owned()).into());
    }
    if quoted.iter().any(|s| s.eq_ignore_ascii_case(supplier)) {
        return Err(OpsRule::QuotationExists(supplier.to_owned()).into());
    }
    Ok(())
}

/// A quotation prices every line of the RFQ once: `prices` in the RFQ's line order, none
/// negative.
pub fn check_prices(lines: usize, prices: &[i64]) -> Result<(), ApiError> {
    if prices.len() != lines {
        return Err(OpsRule::LineMismatch(format!(
            "the quotation prices {} line(s); the RFQ has {lines}",
            prices.len()
        ))
        .into());
    }
    if prices.iter().any(|price| *price < 0) {
        return Err(ApiError::bad_input(
            "unitPrices",
            "a unit price is not negative",
        ));
    }
    Ok(())
}

/// The suppliers invited: 1 to 20, distinct whatever their case.
pub fn check_invited(suppliers: &[String]) -> Result<(), ApiError> {
    if suppliers.is_empty() || suppliers.len() > 20 {
        return Err(ApiError::bad_input(
            "suppliers",
            "an RFQ invites 1 to 20 suppliers",
        ));
    }
    for (index, supplier) in suppliers.iter().enumerate() {
        if suppliers[..index]
            .iter()
            .any(|other| other.eq_ignore_ascii_case(supplier))
        {
            return Err(ApiError::bad_input(
                "suppliers",
                format!("`{supplier}` is invited twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;

    #[test]
    fn open_rfqs_take_quotations_and_end_awarded_or_cancelled() {
        assert_eq!(RfqStatus::Open.award().unwrap(), RfqStatus::Awarded);
        assert_eq!(RfqStatus::Open.cancel().unwrap(), RfqStatus::Cancelled);
        for done in [RfqStatus::Awarded, RfqStatus::Cancelled] {
            assert_eq!(
                done.accepts_quotations().unwrap_err().reason(),
                Some(reasons::RFQ_STATE)
            );
            assert_eq!(done.award().unwrap_err().reason(), Some(reasons::RFQ_STATE));
            assert_eq!(
                done.cancel().unwrap_err().reason(),
                Some(reasons::RFQ_STATE)
            );
        }
    }

    #[test]
    fn only_invited_suppliers_quote_and_once() {
        let invited = vec!["Acme".to_owned(), "Globex".to_owned()];
        assert!(check_quoting_supplier(&invited, &[], "acme").is_ok());
        assert_eq!(
            check_quoting_supplier(&invited, &["Acme"], "ACME")
                .unwrap_err()
                .reason(),
            Some(reasons::QUOTATION_EXISTS)
        );
        assert_eq!(
            check_quoting_supplier(&invited, &[], "Initech")
                .unwrap_err()
                .reason(),
            Some(reasons::SUPPLIER_NOT_INVITED)
        );
        assert!(check_invited(&["A".into(), "a".into()]).is_err());
        assert!(check_invited(&[]).is_err());
    }

    #[test]
    fn a_quotation_prices_every_line() {
        assert!(check_prices(2, &[100, 0]).is_ok());
        assert_eq!(
            check_prices(2, &[100]).unwrap_err().reason(),
            Some(reasons::LINE_MISMATCH)
        );
        assert!(check_prices(1, &[-1]).is_err());
    }
}
