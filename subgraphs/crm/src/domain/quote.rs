//! Quotes and proposals: versions and their lifecycle (`draft -> sent -> accepted / declined /
//! expired`, an accepted version `-> converted`), the lines' arithmetic (optional lines,
//! discounts, taxes, integer minor units), expiry at the END of the valid-until day in the
//! tenant's time zone, and the content hash an acceptance binds.

use aws_lc_rs::digest;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use erp_kit::{Reason, RuleViolation};

use super::reasons;

/// A quote version's stored status (`Expired` is never stored: see [`effective_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuoteStatus {
    /// Being written; lines may change.
    Draft,
    /// Shown to the client, frozen, waiting for an answer.
    Sent,
    /// The client accepted this version (immutable).
    Accepted,
    Declined,
    /// Sent, and its valid-until day is over in the tenant's time zone.
    Expired,
    /// A newer version replaced it.
    Superseded,
    /// The accepted version became an order or invoice.
    Converted,
}

impl QuoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::Sent => "sent",
            QuoteStatus::Accepted => "accepted",
            QuoteStatus::Declined => "declined",
            QuoteStatus::Expired => "expired",
            QuoteStatus::Superseded => "superseded",
            QuoteStatus::Converted => "converted",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(QuoteStatus::Draft),
            "sent" => Some(QuoteStatus::Sent),
            "accepted" => Some(QuoteStatus::Accepted),
            "declined" => Some(QuoteStatus::Declined),
            "expired" => Some(QuoteStatus::Expired),
            "superseded" => Some(QuoteStatus::Superseded),
            "converted" => Some(QuoteStatus::Converted),
            _ => None,
        }
    }
}

/// The first instant after the valid-until day in the tenant's time zone: a quote valid until
/// 2026-03-29 in Europe/Berlin is acceptable until 2026-03-30T00:00 Berlin time (22:00 UTC
/// the day before, since the clocks went forward that day), not until the day's start.
pub fn expires_at(valid_until: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let next_day = valid_until.succ_opt().unwrap_or(valid_until);
    let midnight = next_day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A zone that skips midnight (a DST jump at 00:00) starts the day at the first instant
    // that exists; one that repeats it, at the earlier one.
    let local = zone.from_local_datetime(&midnight).earliest().or_else(|| {
        (1..=4).find_map(|hours| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(hours)))
                .earliest()
        })
    });
    match local {
        Some(at) => at.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&midnight),
    }
}

/// The status a client sees: a sent version past its expiry is expired.
pub fn effective_status(
    stored: QuoteStatus,
    valid_until: NaiveDate,
    zone: Tz,
    now: DateTime<Utc>,
) -> QuoteStatus {
    if stored == QuoteStatus::Sent && now >= expires_at(valid_until, zone) {
        QuoteStatus::Expired
    } else {
        stored
    }
}

/// What the quote lifecycle refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteRule {
    /// An accepted (or converted) version never changes: revise... no, it is final.
    Locked,
    /// Only a draft is edited: revise a sent version to change it.
    NotDraft(QuoteStatus),
    /// Accepting (or declining) a version that is past its valid-until day.
    Expired,
    /// Acting on a version a newer one replaced.
    Superseded,
    /// The version shown is not the one stored (its hash differs).
    HashMismatch,
    /// Any other status change the lifecycle does not allow.
    NotAllowed {
        from: QuoteStatus,
        action: &'static str,
    },
}

impl RuleViolation for QuoteRule {
    fn reason(&self) -> Reason {
        match self {
            QuoteRule::Locked => reasons::QUOTE_LOCKED,
            QuoteRule::NotDraft(_) => reasons::QUOTE_NOT_DRAFT,
            QuoteRule::Expired => reasons::QUOTE_EXPIRED,
            QuoteRule::Superseded => reasons::QUOTE_SUPERSEDED,
            QuoteRule::HashMismatch => reasons::CONTENT_HASH_MISMATCH,
            QuoteRule::NotAllowed { .. } => reasons::QUOTE_TRANSITION_NOT_ALLOWED,
        }
    }

    fn message(&self) -> String {
        match self {
            QuoteRule::Locked => {
                "the quote is accepted and can no longer change".into()
            }
            QuoteRule::NotDraft(status) => format!(
                "only a draft is edited; this version is {}: revise it to make a new version",
                status.as_str()
            ),
            QuoteRule::Expired => {
                "the quote expired at the end of its valid-until day: revise it to send a new version".into()
            }
            QuoteRule::Superseded => {
                "a newer version of the quote replaced this one".into()
            }
            QuoteRule::HashMismatch => {
                "the content accepted is not the version on record: reload and review it again".into()
            }
            QuoteRule::NotAllowed { from, action } => format!(
                "a {} quote cannot be {action}",
                from.as_str()
            ),
        }
    }
}

/// Editing a version's lines, terms or validity: drafts only.
pub fn check_editable(status: QuoteStatus) -> Result<(), QuoteRule> {
    match status {
        QuoteStatus::Draft => Ok(()),
        QuoteStatus::Accepted | QuoteStatus::Converted => Err(QuoteRule::Locked),
        other => Err(QuoteRule::NotDraft(other)),
    }
}

/// Sending: a draft with at least one line becomes sent (checked by the caller for lines).
pub fn check_send(status: QuoteStatus) -> Result<(), QuoteRule> {
    match status {
        QuoteStatus::Draft => Ok(()),
        QuoteStatus::Accepted | QuoteStatus::Converted => Err(QuoteRule::Locked),
        from => Err(QuoteRule::NotAllowed {
            from,
            action: "sent (only a draft is)",
        }),
    }
}

/// Accepting version `shown` (with the hash of what the client saw) of a quote whose newest
/// version is `current`: the current version, sent, not expired, the same content.
pub fn check_accept(
    effective: QuoteStatus,
    shown: i32,
    current: i32,
    shown_hash: &str,
    stored_hash: Option<&str>,
) -> Result<(), QuoteRule> {
    if shown != current || effective == QuoteStatus::Superseded {
        return Err(QuoteRule::Superseded);
    }
    match effective {
        QuoteStatus::Sent => {}
        QuoteStatus::Expired => return Err(QuoteRule::Expired),
        QuoteStatus::Accepted | QuoteStatus::Converted => return Err(QuoteRule::Locked),
        from => {
            return Err(QuoteRule::NotAllowed {
                from,
                action: "accepted (only a sent one is)",
            })
        }
    }
    if stored_hash != Some(shown_hash) {
        return Err(QuoteRule::HashMismatch);
    }
    Ok(())
}

/// Declining: a sent version (an expired one needs no answer).
pub fn check_decline(effective: QuoteStatus) -> Result<(), QuoteRule> {
    match effective {
        QuoteStatus::Sent => Ok(()),
        QuoteStatus::Expired => Err(QuoteRule::Expired),
        QuoteStatus::Superseded => Err(QuoteRule::Superseded),
        QuoteStatus::Accepted | QuoteStatus::Converted => Err(QuoteRule::Locked),
        from => Err(QuoteRule::NotAllowed {
            from,
            action: "declined (only a sent one is)",
        }),
    }
}

/// Revising: a sent, declined or expired version gets a new draft version (the old one is
/// superseded); a draft is edited instead; an accepted quote is final.
pub fn check_revise(effective: QuoteStatus) -> Result<(), QuoteRule> {
    match effective {
        QuoteStatus::Sent | QuoteStatus::Declined | QuoteStatus::Expired => Ok(()),
        QuoteStatus::Accepted | QuoteStatus::Converted => Err(QuoteRule::Locked),
        from => Err(QuoteRule::NotAllowed {
            from,
            action: "revised (a draft is edited directly)",
        }),
    }
}

/// Converting: the accepted version becomes an order or invoice.
pub fn check_convert(effective: QuoteStatus) -> Result<(), QuoteRule> {
    match effective {
        QuoteStatus::Accepted => Ok(()),
        from => Err(QuoteRule::NotAllowed {
            from,
            action: "converted (only an accepted one is)",
        }),
    }
}

/// One line as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub item_id: Option<String>,
    pub code: Option<String>,
    pub description: String,
    /// Thousandths of a unit.
    pub quantity_milli: i64,
    pub unit_price_minor: i64,
    /// Basis points (1000 = 10 %).
    pub discount_bp: i32,
    pub tax_rate_bp: i32,
    /// An optional line is offered; it counts only when `selected`.
    pub optional: bool,
    pub selected: bool,
}

/// A line with its amounts (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub input: LineInput,
    /// quantity × unit price.
    pub net_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    /// net − discount + tax.
    pub total_minor: i64,
}

/// A version's totals over its counted lines (required lines, and optional ones selected).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuoteTotals {
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// The most lines a version has; quantities and prices are bounded so sums fit in `i64`.
pub const MAX_LINES: usize = 500;
const MAX_QUANTITY_MILLI: i64 = 1_000_000_000_000;
const MAX_UNIT_PRICE_MINOR: i64 = 1_000_000_000_000_000;

/// `value × numerator / denominator`, rounded half away from zero.
fn ratio(value: i128, numerator: i128, denominator: i128) -> i128 {
    let product = value * numerator;
    if product >= 0 {
        (product + denominator / 2) / denominator
    } else {
        (product - denominator / 2) / denominator
    }
}

/// Prices one line: net rounded to the minor unit, the discount on the net, the tax on what
/// is left. Refuses (input field, message) out-of-range quantities, prices and rates.
pub fn price_line(input: LineInput) -> Result<PricedLine, (&'static str, String)> {
    if input.quantity_milli <= 0 || input.quantity_milli > MAX_QUANTITY_MILLI {
        return Err((
            "quantity",
            "a quantity is more than 0 and at most 1e9".into(),
        ));
    }
    if input.unit_price_minor < 0 || input.unit_price_minor > MAX_UNIT_PRICE_MINOR {
        return Err((
            "unitPrice",
            "a unit price is 0 or more (and at most 1e15 minor units)".into(),
        ));
    }
    if !(0..=10_000).contains(&input.discount_bp) {
        return Err(("discountPercent", "a discount is 0 to 100 percent".into()));
    }
    if !(0..=10_000).contains(&input.tax_rate_bp) {
        return Err(("taxRatePercent", "a tax rate is 0 to 100 percent".into()));
    }
    let net = ratio(
        i128::from(input.quantity_milli),
        i128::from(input.unit_price_minor),
        1000,
    );
    let discount = ratio(net, i128::from(input.discount_bp), 10_000);
    let tax = ratio(net - discount, i128::from(input.tax_rate_bp), 10_000);
    let total = net - discount + tax;
    let fits = |v: i128| i64::try_from(v).ok().filter(|v| *v <= MAX_UNIT_PRICE_MINOR);
    match (fits(net), fits(discount), fits(tax), fits(total)) {
        (Some(net_minor), Some(discount_minor), Some(tax_minor), Some(total_minor)) => {
            Ok(PricedLine {
                input,
                net_minor,
                discount_minor,
                tax_minor,
                total_minor,
            })
        }
        _ => Err(("quantity", "the line's amount is out of range".into())),
    }
}

/// Whether a line counts in the totals.
pub fn counts(line: &LineInput) -> bool {
    !line.optional || line.selected
}

/// The totals over the counted lines.
pub fn totals(lines: &[PricedLine]) -> QuoteTotals {
    lines
        .iter()
        .filter(|line| counts(&line.input))
        .fold(QuoteTotals::default(), |sum, line| QuoteTotals {
            subtotal_minor: sum.subtotal_minor.saturating_add(line.net_minor),
            discount_minor: sum.discount_minor.saturating_add(line.discount_minor),
            tax_minor: sum.tax_minor.saturating_add(line.tax_minor),
            total_minor: sum.total_minor.saturating_add(line.total_minor),
        })
}

/// What a version's hash covers: everything the client is shown and agrees to.
#[derive(Debug, Clone)]
pub struct VersionContent<'a> {
    pub quote_id: &'a str,
    pub number: &'a str,
    pub version: i32,
    pub client_id: &'a str,
    pub currency: &'a str,
    pub valid_until: NaiveDate,
    pub terms: Option<&'a str>,
    pub lines: &'a [PricedLine],
    pub totals: QuoteTotals,
}

/// SHA-256 (hex) over a canonical JSON of `parts`: field order fixed by the array, strings
/// escaped by serde_json, so equal content always hashes equal.
fn hash_json(parts: &serde_json::Value) -> String {
    let text = parts.to_string();
    let digest = digest::digest(&digest::SHA256, text.as_bytes());
    hex::encode(digest)
}

/// The hash of a version as shown: what an acceptance binds (C4).
pub fn content_hash(content: &VersionContent<'_>) -> String {
    let lines: Vec<serde_json::Value> = content
        .lines
        .iter()
        .map(|line| {
            serde_json::json!([
                line.input.code,
                line.input.description,
                line.input.quantity_milli,
                line.input.unit_price_minor,
                line.input.discount_bp,
                line.input.tax_rate_bp,
                line.input.optional,
                line.input.selected,
                line.net_minor,
                line.discount_minor,
                line.tax_minor,
                line.total_minor,
            ])
        })
        .collect();
    hash_json(&serde_json::json!([
        "quote/v1",
        content.quote_id,
        content.number,
        content.version,
        content.client_id,
        content.currency,
        content.valid_until.to_string(),
        content.terms,
        lines,
        content.totals.subtotal_minor,
        content.totals.discount_minor,
        content.totals.tax_minor,
        content.totals.total_minor,
    ]))
}

/// Where a proposal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalStatus {
    Draft,
    Sent,
    Accepted,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Draft => "draft",
            ProposalStatus::Sent => "sent",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Rejected => "rejected",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(ProposalStatus::Draft),
            "sent" => Some(ProposalStatus::Sent),
            "accepted" => Some(ProposalStatus::Accepted),
            "rejected" => Some(ProposalStatus::Rejected),
            _ => None,
        }
    }
}

/// A proposal status change the lifecycle (`draft -> sent -> accepted / rejected`) refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalTransition {
    pub from: ProposalStatus,
    pub action: &'static str,
}

impl RuleViolation for ProposalTransition {
    fn reason(&self) -> Reason {
        reasons::PROPOSAL_TRANSITION_NOT_ALLOWED
    }

    fn message(&self) -> String {
        format!(
            "a {} proposal cannot be {} (draft -> sent -> accepted / rejected)",
            self.from.as_str(),
            self.action
        )
    }
}

/// `action` on a proposal in `status`: editing a draft, sending a draft (or sending a sent
/// one again after one of its quotes was revised), accepting or rejecting a sent one.
pub fn check_proposal(
    status: ProposalStatus,
    action: &'static str,
) -> Result<(), ProposalTransition> {
    let allowed = matches!(
        (status, action),
        (ProposalStatus::Draft, "sent")
            | (ProposalStatus::Draft, "edited")
            | (ProposalStatus::Sent, "sent")
            | (ProposalStatus::Sent, "accepted")
            | (ProposalStatus::Sent, "rejected")
    );
    if allowed {
        Ok(())
    } else {
        Err(ProposalTransition {
            from: status,
            action,
        })
    }
}

/// One section of a proposal as hashed: its text and, when it wraps a quote, the quote's
/// current version and that version's hash.
#[derive(Debug, Clone)]
pub struct SectionContent<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub quote: Option<(&'a str, i32, &'a str)>,
}

/// The hash of a proposal as shown: its title, its sections in order and the exact versions
/// of the quotes they wrap. A revision of one of its quotes changes it.
pub fn proposal_hash(proposal_id: &str, title: &str, sections: &[SectionContent<'_>]) -> String {
    let sections: Vec<serde_json::Value> = sections
        .iter()
        .map(|section| {
            serde_json::json!([
                section.title,
                section.body,
                section
                    .quote
                    .map(|(id, version, hash)| serde_json::json!([id, version, hash])),
            ])
        })
        .collect();
    hash_json(&serde_json::json!([
        "proposal/v1",
        proposal_id,
        title,
        sections
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        quantity_milli: i64,
        unit: i64,
        discount_bp: i32,
        tax_bp: i32,
        optional: bool,
        selected: bool,
    ) -> LineInput {
        LineInput {
            item_id: None,
            code: Some("X".into()),
            description: "Thing".into(),
            quantity_milli,
            unit_price_minor: unit,
            discount_bp,
            tax_rate_bp: tax_bp,
            optional,
            selected,
        }
    }

    #[test]
    fn lines_and_totals_in_minor_units() {
        // 1.5 × 33.33 = 49.995 -> 50.00; 10 % off = 5.00; 19 % tax on 45.00 = 8.55.
        let priced = price_line(line(1500, 3333, 1000, 1900, false, false)).unwrap();
        assert_eq!(
            (
                priced.net_minor,
                priced.discount_minor,
                priced.tax_minor,
                priced.total_minor
            ),
            (5000, 500, 855, 5355)
        );
        let optional = price_line(line(1000, 10_000, 0, 0, true, false)).unwrap();
        let chosen = price_line(line(1000, 2_000, 0, 0, true, true)).unwrap();
        let sum = totals(&[priced, optional, chosen]);
        assert_eq!(
            sum,
            QuoteTotals {
                subtotal_minor: 7000,
                discount_minor: 500,
                tax_minor: 855,
                total_minor: 7355
            }
        );
        assert_eq!(
            price_line(line(0, 1, 0, 0, false, false)).unwrap_err().0,
            "quantity"
        );
        assert_eq!(
            price_line(line(1000, -1, 0, 0, false, false))
                .unwrap_err()
                .0,
            "unitPrice"
        );
        assert_eq!(
            price_line(line(1000, 1, 10_001, 0, false, false))
                .unwrap_err()
                .0,
            "discountPercent"
        );
        assert_eq!(
            price_line(line(1000, 1, 0, -1, false, false))
                .unwrap_err()
                .0,
            "taxRatePercent"
        );
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// C4: expiry is the END of the valid-until day in the tenant's zone, across DST.
    #[test]
    fn expiry_is_the_end_of_the_day_in_the_tenants_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Winter: UTC+1.
        assert_eq!(
            expires_at(day("2026-01-15"), berlin),
            at("2026-01-15T23:00:00Z")
        );
        // The day the clocks go forward (29 March 2026): the next midnight is UTC+2.
        assert_eq!(
            expires_at(day("2026-03-29"), berlin),
            at("2026-03-29T22:00:00Z")
        );
        // The day before they go back (25 October 2026): midnight of the 25th is still UTC+2.
        assert_eq!(
            expires_at(day("2026-10-24"), berlin),
            at("2026-10-24T22:00:00Z")
        );
        assert_eq!(
            expires_at(day("2026-10-25"), berlin),
            at("2026-10-25T23:00:00Z")
        );
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(
            expires_at(day("2026-01-15"), kolkata),
            at("2026-01-15T18:30:00Z")
        );
        // America/Havana skips midnight when its DST starts (8 March 2026): the day starts at 01:00.
        let havana: Tz = "America/Havana".parse().unwrap();
        assert_eq!(
            expires_at(day("2026-03-07"), havana),
            at("2026-03-08T05:00:00Z")
        );

        let sent = QuoteStatus::Sent;
        let valid = day("2026-01-15");
        assert_eq!(
            effective_status(sent, valid, berlin, at("2026-01-15T22:59:59Z")),
            QuoteStatus::Sent
        );
        assert_eq!(
            effective_status(sent, valid, berlin, at("2026-01-15T23:00:00Z")),
            QuoteStatus::Expired
        );
        assert_eq!(
            effective_status(
                QuoteStatus::Accepted,
                valid,
                berlin,
                at("2027-01-01T00:00:00Z")
            ),
            QuoteStatus::Accepted
        );
    }

    #[test]
    fn the_quote_lifecycle() {
        use QuoteStatus::*;
        assert!(check_editable(Draft).is_ok());
        assert_eq!(check_editable(Accepted), Err(QuoteRule::Locked));
        assert_eq!(check_editable(Converted), Err(QuoteRule::Locked));
        assert_eq!(check_editable(Sent), Err(QuoteRule::NotDraft(Sent)));
        assert!(check_send(Draft).is_ok());
        assert!(check_send(Sent).is_err());
        assert!(check_accept(Sent, 2, 2, "h", Some("h")).is_ok());
        assert_eq!(
            check_accept(Sent, 1, 2, "h", Some("h")),
            Err(QuoteRule::Superseded)
        );
        assert_eq!(
            check_accept(Superseded, 1, 1, "h", Some("h")),
            Err(QuoteRule::Superseded)
        );
        assert_eq!(
            check_accept(Expired, 1, 1, "h", Some("h")),
            Err(QuoteRule::Expired)
        );
        assert_eq!(
            check_accept(Sent, 1, 1, "x", Some("h")),
            Err(QuoteRule::HashMismatch)
        );
        assert_eq!(
            check_accept(Accepted, 1, 1, "h", Some("h")),
            Err(QuoteRule::Locked)
        );
        assert!(matches!(
            check_accept(Draft, 1, 1, "h", None),
            Err(QuoteRule::NotAllowed { .. })
        ));
        assert!(check_decline(Sent).is_ok());
        assert_eq!(check_decline(Expired), Err(QuoteRule::Expired));
        for ok in [Sent, Declined, Expired] {
            assert!(check_revise(ok).is_ok());
        }
        assert_eq!(check_revise(Accepted), Err(QuoteRule::Locked));
        assert!(check_revise(Draft).is_err());
        assert!(check_convert(Accepted).is_ok());
        assert!(check_convert(Sent).is_err());
    }

    #[test]
    fn hashes_change_with_any_shown_content() {
        let lines = vec![price_line(line(1000, 100, 0, 0, false, false)).unwrap()];
        let content = VersionContent {
            quote_id: "q",
            number: "Q-1",
            version: 1,
            client_id: "c",
            currency: "EUR",
            valid_until: day("2026-01-15"),
            terms: Some("Net 30"),
            lines: &lines,
            totals: totals(&lines),
        };
        let hash = content_hash(&content);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, content_hash(&content.clone()));
        let other_terms = VersionContent {
            terms: Some("Net 60"),
            ..content.clone()
        };
        assert_ne!(hash, content_hash(&other_terms));
        let next = VersionContent {
            version: 2,
            ..content
        };
        assert_ne!(hash, content_hash(&next));

        let section = |hash: &'static str| SectionContent {
            title: "Scope",
            body: "…",
            quote: Some(("q", 1, hash)),
        };
        assert_ne!(
            proposal_hash("p", "Offer", &[section("a")]),
            proposal_hash("p", "Offer", &[section("b")])
        );
        assert!(check_proposal(ProposalStatus::Sent, "accepted").is_ok());
        assert!(check_proposal(ProposalStatus::Draft, "accepted").is_err());
        assert!(check_proposal(ProposalStatus::Accepted, "rejected").is_err());
    }
}
