//! Reconciliation: each domain publishes, through its outbox, its own total of a day's records
//! (`control_total.published`: a count and a sum), and analytics compares the facts it holds
//! for that day with it. A day whose facts disagree drifts: an event was lost, dead-lettered,
//! or its fact removed; replaying the source's topic (facts are idempotent) mends what the log
//! still retains.
//!
//! Controlled sources (the control total's `source` -> the facts it counts):
//! - `invoices` (finance): posted customer invoices by invoice date, counted once each, their
//!   totals in the tenant's base currency (the `invoice_base` facts profitability sums).

use std::collections::BTreeMap;

use super::facts::FactKind;

/// A source whose domain publishes control totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controlled {
    /// The control total's `source`.
    pub source: &'static str,
    /// The facts it counts.
    pub kind: FactKind,
    /// The domain publishing both (whose topic a replay reads).
    pub domain: &'static str,
}

/// Every controlled source.
pub const CONTROLLED: &[Controlled] = &[Controlled {
    source: "invoices",
    kind: FactKind::InvoiceBase,
    domain: "finance",
}];

/// The controlled source named `source`.
pub fn controlled(source: &str) -> Option<&'static Controlled> {
    CONTROLLED.iter().find(|c| c.source == source)
}

/// A count and a sum (minor units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub count: i64,
    pub amount: i64,
}

/// A domain's control total of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub source: String,
    pub day: String,
    pub currency: String,
    pub totals: Totals,
}

/// How a day's facts compare with its control total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The facts' count and sum are the control total's.
    Matched,
    /// They differ (facts missing, or more than the domain counts).
    Drift,
    /// Facts of a controlled source on a day its domain published no total for (records from
    /// before the domain published totals, or a total still in flight).
    Uncontrolled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::Drift => "drift",
            Status::Uncontrolled => "uncontrolled",
        }
    }
}

/// One source's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub source: String,
    pub day: String,
    /// The control total's currency (empty without one).
    pub currency: String,
    pub control: Option<Totals>,
    pub facts: Totals,
    pub status: Status,
}

/// The source and day of a control total's entity id (`<source>:<day>`).
pub fn parse_control_entity(entity: &str) -> Option<(&str, &str)> {
    entity.split_once(':')
}

/// Compares `controls` with `facts` ((source, day) -> totals of the facts it counts): a line
/// per control total and per day of facts without one, by source then day. A control total of
/// a source analytics does not know compares with no facts (it drifts unless it counts none).
pub fn reconcile(controls: &[Control], facts: &BTreeMap<(String, String), Totals>) -> Vec<Line> {
    let mut lines: BTreeMap<(String, String), Line> = BTreeMap::new();
    for control in controls {
        let key = (control.source.clone(), control.day.clone());
        let found = facts.get(&key).copied().unwrap_or_default();
        let status = if found == control.totals {
            Status::Matched
        } else {
            Status::Drift
        };
        lines.insert(
            key,
            Line {
                source: control.source.clone(),
                day: control.day.clone(),
                currency: control.currency.clone(),
                control: Some(control.totals),
                facts: found,
                status,
            },
        );
    }
    for ((source, day), totals) in facts {
        lines
            .entry((source.clone(), day.clone()))
            .or_insert_with(|| Line {
                source: source.clone(),
                day: day.clone(),
                currency: String::new(),
                control: None,
                facts: *totals,
                status: Status::Uncontrolled,
            });
    }
    lines.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(day: &str, count: i64, amount: i64) -> Control {
        Control {
            source: "invoices".into(),
            day: day.into(),
            currency: "EUR".into(),
            totals: Totals { count, amount },
        }
    }

    #[test]
    fn days_match_drift_or_are_uncontrolled() {
        let facts = BTreeMap::from([
            (
                ("invoices".to_owned(), "2026-11-02".to_owned()),
                Totals {
                    count: 2,
                    amount: 300,
                },
            ),
            (
                ("invoices".to_owned(), "2026-11-03".to_owned()),
                Totals {
                    count: 1,
                    amount: 100,
                },
            ),
            (
                ("invoices".to_owned(), "2026-11-04".to_owned()),
                Totals {
                    count: 1,
                    amount: 5,
                },
            ),
        ]);
        let lines = reconcile(
            &[
                control("2026-11-02", 2, 300),
                control("2026-11-03", 2, 250),
                control("2026-11-05", 0, 0),
            ],
            &facts,
        );
        let found: Vec<_> = lines
            .iter()
            .map(|l| (l.day.as_str(), l.status, l.control, l.facts.count))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "2026-11-02",
                    Status::Matched,
                    Some(Totals {
                        count: 2,
                        amount: 300
                    }),
                    2
                ),
                (
                    "2026-11-03",
                    Status::Drift,
                    Some(Totals {
                        count: 2,
                        amount: 250
                    }),
                    1
                ),
                ("2026-11-04", Status::Uncontrolled, None, 1),
                ("2026-11-05", Status::Matched, Some(Totals::default()), 0),
            ]
        );
        assert_eq!(
            parse_control_entity("invoices:2026-11-02"),
            Some(("invoices", "2026-11-02"))
        );
        assert_eq!(controlled("invoices").map(|c| c.domain), Some("finance"));
    }
}
