//! Operations domain types and rules: pure, no GraphQL, no database. Values are parsed at the
//! boundary, so an invalid one cannot exist past it. Every file here imports only this one
//! (and its siblings); this one imports none of them.
//!
//! The rules a client can branch on are [`reasons`]; [`OpsRule`] is the broken rule with its
//! message, which the kit turns into `extensions.code` + `extensions.reason`.

pub mod asset;
pub mod depreciation;
pub mod helpdesk;
pub mod inbound_mail;
pub mod macros;
pub mod maintenance;
pub mod procurement;
pub mod rfq;
pub mod sla;
pub mod sop;
pub mod teams;

use erp_kit::{ApiError, Reason};

/// The domain's name: its topic is `erp.ops.events`, its outbox `ops_outbox`.
pub const DOMAIN: &str = "ops";

erp_kit::reasons! {
    /// The operations rules a client can branch on (`extensions.reason`), with their kit code.
    pub mod reasons {
        /// An inbound e-mail call without a timestamp or signature, or whose signature does
        /// not verify under the tenant's inbound secret.
        MAIL_SIGNATURE_INVALID => Unauthenticated,
        /// An inbound e-mail call signed too long ago (or ahead): a replay, or a wrong clock.
        MAIL_TIMESTAMP_STALE => Unauthenticated,
        /// The inbound body is not an RFC 5322 message the helpdesk can use (no Message-ID,
        /// no sender address, no text).
        MAIL_MESSAGE_INVALID => BadUserInput,
        /// The inbound message is over the size limit.
        MAIL_TOO_LARGE => BadUserInput,
        /// An attachment of the inbound message is refused: too many, too large, or a
        /// program or script.
        MAIL_ATTACHMENT_REFUSED => BadUserInput,
        /// A signed file URL (an SOP file, a ticket attachment) whose signature does not match
        /// what it names: altered, or signed for another tenant or file.
        SIGNED_URL_INVALID => Forbidden,
        /// A signed file URL past its expiry: ask the API for a new one.
        SIGNED_URL_EXPIRED => Forbidden,
        /// The asset's state does not allow the change (checking in an asset in stock...).
        ASSET_STATE => Conflict,
        /// Another asset of the tenant has the tag (tags are unique whatever their case).
        ASSET_TAG_TAKEN => Conflict,
        /// The asset already has a holder: check it in before checking it out again.
        ASSET_ALREADY_ASSIGNED => Conflict,
        /// Only the person an asset was checked out to accepts it.
        NOT_THE_HOLDER => Forbidden,
        /// The license has no free seat left for the assignment.
        SEATS_EXHAUSTED => Conflict,
        /// Fewer units of the consumable are on hand than requested.
        CONSUMABLE_SHORT => Conflict,
        /// The salvage value is above the cost: nothing could be depreciated.
        SALVAGE_ABOVE_COST => BadUserInput,
        /// The change would put the book value below the salvage value (posted lines stay).
        CROSSES_SALVAGE => Conflict,
        /// The asset is disposed: its schedule is closed.
        ASSET_DISPOSED => Conflict,
        /// The maintenance request's state does not allow the change.
        MAINTENANCE_STATE => Conflict,
        /// The requisition's state does not allow the change.
        REQUISITION_STATE => Conflict,
        /// The purchase order's state does not allow the change (a receipt against a
        /// cancelled order...).
        ORDER_STATE => Conflict,
        /// The goods receipt's state does not allow the change.
        RECEIPT_STATE => Conflict,
        /// Nobody approves what they requested themselves.
        SELF_APPROVAL => Forbidden,
        /// The person has already approved this document.
        ALREADY_APPROVED => Conflict,
        /// The receipt would take the received quantity above the ordered quantity and its
        /// tolerance.
        OVER_RECEIPT => Conflict,
        /// A receipt or bill line names no line of the purchase order, or another item.
        LINE_MISMATCH => BadUserInput,
        /// The commitments (requested + ordered + actual) would exceed the budget.
        BUDGET_EXCEEDED => Conflict,
        /// No budget could be resolved for the spend: the check fails closed.
        BUDGET_UNRESOLVED => Conflict,
        /// The request for quotation's state does not allow the change (a quotation for an
        /// awarded or cancelled RFQ...).
        RFQ_STATE => Conflict,
        /// The supplier was not invited to the request for quotation.
        SUPPLIER_NOT_INVITED => Conflict,
        /// The supplier has already quoted for the request (a quotation is never replaced).
        QUOTATION_EXISTS => Conflict,
        /// The ticket's state does not allow the change.
        TICKET_STATE => Conflict,
        /// The ticket was merged into another: reply on that one.
        TICKET_MERGED => Conflict,
        /// A macro's template names a placeholder that is not on the closed list (or leaves
        /// one unclosed).
        UNKNOWN_PLACEHOLDER => BadUserInput,
        /// The user is not a member of the ticket's team: assign a member, or move the ticket
        /// to the user's queue.
        ASSIGNEE_NOT_IN_TEAM => Conflict,
        /// The SOP version's state does not allow the change.
        SOP_VERSION_STATE => Conflict,
        /// A submitted or published SOP version never changes: write a new version.
        SOP_VERSION_IMMUTABLE => Conflict,
        /// Only the current published version of an SOP is acknowledged.
        SOP_NOT_CURRENT => Conflict,
    }
}

/// A rule of the domain that refused a change: its reason and the message the caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsRule {
    AssetState(&'static str),
    AssetTagTaken(String),
    AssetAlreadyAssigned,
    NotTheHolder,
    SeatsExhausted {
        owned: u32,
        assigned: u32,
        requested: u32,
    },
    ConsumableShort {
        on_hand: u32,
        requested: u32,
    },
    SalvageAboveCost,
    CrossesSalvage,
    AssetDisposed,
    MaintenanceState(&'static str),
    RequisitionState(&'static str),
    OrderState(&'static str),
    ReceiptState(&'static str),
    SelfApproval,
    AlreadyApproved,
    OverReceipt {
        line: u32,
        allowed: String,
        would_be: String,
    },
    LineMismatch(String),
    BudgetExceeded {
        available: i64,
        requested: i64,
    },
    BudgetUnresolved,
    RfqState(&'static str),
    SupplierNotInvited(String),
    QuotationExists(String),
    TicketState(&'static str),
    TicketMerged,
    UnknownPlaceholder(String),
    AssigneeNotInTeam(String),
    SopVersionState(&'static str),
    SopVersionImmutable,
    SopNotCurrent,
}

impl erp_kit::RuleViolation for OpsRule {
    fn reason(&self) -> Reason {
        match self {
            OpsRule::AssetState(_) => reasons::ASSET_STATE,
            OpsRule::AssetTagTaken(_) => reasons::ASSET_TAG_TAKEN,
            OpsRule::AssetAlreadyAssigned => reasons::ASSET_ALREADY_ASSIGNED,
            OpsRule::NotTheHolder => reasons::NOT_THE_HOLDER,
            OpsRule::SeatsExhausted { .. } => reasons::SEATS_EXHAUSTED,
            OpsRule::ConsumableShort { .. } => reasons::CONSUMABLE_SHORT,
            OpsRule::SalvageAboveCost => reasons::SALVAGE_ABOVE_COST,
            OpsRule::CrossesSalvage => reasons::CROSSES_SALVAGE,
            OpsRule::AssetDisposed => reasons::ASSET_DISPOSED,
            OpsRule::MaintenanceState(_) => reasons::MAINTENANCE_STATE,
            OpsRule::RequisitionState(_) => reasons::REQUISITION_STATE,
            OpsRule::OrderState(_) => reasons::ORDER_STATE,
            OpsRule::ReceiptState(_) => reasons::RECEIPT_STATE,
            OpsRule::SelfApproval => reasons::SELF_APPROVAL,
            OpsRule::AlreadyApproved => reasons::ALREADY_APPROVED,
            OpsRule::OverReceipt { .. } => reasons::OVER_RECEIPT,
            OpsRule::LineMismatch(_) => reasons::LINE_MISMATCH,
            OpsRule::BudgetExceeded { .. } => reasons::BUDGET_EXCEEDED,
            OpsRule::BudgetUnresolved => reasons::BUDGET_UNRESOLVED,
            OpsRule::RfqState(_) => reasons::RFQ_STATE,
            OpsRule::SupplierNotInvited(_) => reasons::SUPPLIER_NOT_INVITED,
            OpsRule::QuotationExists(_) => reasons::QUOTATION_EXISTS,
            OpsRule::TicketState(_) => reasons::TICKET_STATE,
            OpsRule::TicketMerged => reasons::TICKET_MERGED,
            OpsRule::UnknownPlaceholder(_) => reasons::UNKNOWN_PLACEHOLDER,
            OpsRule::AssigneeNotInTeam(_) => reasons::ASSIGNEE_NOT_IN_TEAM,
            OpsRule::SopVersionState(_) => reasons::SOP_VERSION_STATE,
            OpsRule::SopVersionImmutable => reasons::SOP_VERSION_IMMUTABLE,
            OpsRule::SopNotCurrent => reasons::SOP_NOT_CURRENT,
        }
    }

    fn message(&self) -> String {
        match self {
            OpsRule::AssetState(what)
            | OpsRule::MaintenanceState(what)
            | OpsRule::RequisitionState(what)
            | OpsRule::OrderState(what)
            | OpsRule::ReceiptState(what)
            | OpsRule::TicketState(what)
            | OpsRule::RfqState(what)
            | OpsRule::SopVersionState(what) => (*what).to_owned(),
            OpsRule::AssetTagTaken(tag) => {
                format!("another asset already has the tag `{tag}`")
            }
            OpsRule::AssetAlreadyAssigned => {
                "the asset is already checked out: check it in first".into()
            }
            OpsRule::NotTheHolder => {
                "only the person the asset was checked out to can accept it".into()
            }
            OpsRule::SeatsExhausted {
                owned,
                assigned,
                requested,
            } => format!(
                "the license has {owned} seat(s), {assigned} assigned: {requested} more do not fit"
            ),
            OpsRule::ConsumableShort { on_hand, requested } => {
                format!("{requested} unit(s) requested but only {on_hand} on hand")
            }
            OpsRule::SalvageAboveCost => "the salvage value must not exceed the cost".into(),
            OpsRule::CrossesSalvage => {
                "the change would take the book value below the salvage value".into()
            }
            OpsRule::AssetDisposed => "the asset is disposed: its schedule is closed".into(),
            OpsRule::SelfApproval => "you cannot approve what you requested yourself".into(),
            OpsRule::AlreadyApproved => "you have already approved this document".into(),
            OpsRule::OverReceipt {
                line,
                allowed,
                would_be,
            } => format!(
                "line {line} would be received {would_be}, above the {allowed} the order allows"
            ),
            OpsRule::LineMismatch(what) | OpsRule::UnknownPlaceholder(what) => what.clone(),
            OpsRule::BudgetExceeded {
                available,
                requested,
            } => {
                format!("the budget has {available} (minor units) left, {requested} are requested")
            }
            OpsRule::BudgetUnresolved => {
                "no budget could be resolved for this spend, so it is refused".into()
            }
            OpsRule::SupplierNotInvited(supplier) => {
                format!("`{supplier}` was not invited to quote for this request")
            }
            OpsRule::QuotationExists(supplier) => {
                format!("`{supplier}` has already quoted for this request")
            }
            OpsRule::AssigneeNotInTeam(user) => {
                format!("`{user}` is not a member of the ticket's team")
            }
            OpsRule::TicketMerged => {
                "the ticket was merged into another one: continue there".into()
            }
            OpsRule::SopVersionImmutable => {
                "a submitted or published SOP version never changes: create a new version".into()
            }
            OpsRule::SopNotCurrent => {
                "only the current published version of an SOP can be acknowledged".into()
            }
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            OpsRule::SalvageAboveCost => Some("salvage"),
            OpsRule::AssetTagTaken(_) => Some("tag"),
            OpsRule::LineMismatch(_) => Some("lines"),
            OpsRule::UnknownPlaceholder(_) => Some("template"),
            _ => None,
        }
    }
}

/// A change that kept colliding with concurrent changes of the same records: CONFLICT, and
/// the caller tries again (the kit's, shared with PMO).
pub use erp_kit::retry::collided;

/// A short trimmed text without control characters, 1 to `max` characters.
pub fn short_text(field: &str, raw: &str, max: usize, what: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} must not be empty"),
        ));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} is longer than {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            format!("the {what} contains control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An optional short text: none when absent or blank.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
    what: &str,
) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => short_text(field, text, max, what).map(Some),
    }
}

/// `amount * numerator / denominator` rounded half away from zero, in i128 so that no product
/// of two amounts overflows. `denominator` is positive.
pub(crate) fn mul_div_round(amount: i128, numerator: i128, denominator: i128) -> i128 {
    let product = amount * numerator;
    let half = denominator / 2;
    if product >= 0 {
        (product + half) / denominator
    } else {
        (product - half) / denominator
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use erp_kit::RuleViolation;

    #[test]
    fn every_rule_has_a_declared_reason_with_its_code() {
        assert_eq!(reasons::ALL.len(), 36);
        assert_eq!(OpsRule::SelfApproval.reason().name(), "SELF_APPROVAL");
        assert_eq!(
            OpsRule::SelfApproval.reason().code(),
            erp_kit::ErrorCode::Forbidden
        );
        let over = ApiError::from(OpsRule::OverReceipt {
            line: 1,
            allowed: "100".into(),
            would_be: "100.002".into(),
        });
        assert_eq!(over.code(), erp_kit::ErrorCode::Conflict);
        assert_eq!(over.reason(), Some(reasons::OVER_RECEIPT));
        assert_eq!(OpsRule::SalvageAboveCost.field(), Some("salvage"));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(mul_div_round(5, 1, 2), 3);
        assert_eq!(mul_div_round(-5, 1, 2), -3);
        assert_eq!(mul_div_round(8_000_000_000, 1, 96), 83_333_333);
        assert_eq!(mul_div_round(7, 1, 3), 2);
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(short_text("t", " A-1 ", 10, "tag").unwrap(), "A-1");
        assert!(short_text("t", " ", 10, "tag").is_err());
        assert!(short_text("t", "a\u{7}", 10, "tag").is_err());
        assert_eq!(optional_text("s", Some("  "), 10, "serial").unwrap(), None);
    }
}
