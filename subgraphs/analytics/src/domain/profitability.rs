//! Profitability per project or client and month: revenue invoiced less labour cost, exact in
//! integer minor units.
//!
//! - Revenue: posted customer invoices in the tenant's base currency (finance's `base_total`,
//!   at the invoice's booked rate; an invoice event without it counts in its own currency), by
//!   the invoice's date. Its client is the customer's CRM client, else the project's client.
//! - Cost: payroll's employer cost of each person for a month (`payroll.cost_posted`, sealed
//!   per slip), dated by the period's last day, **allocated to projects in proportion to the
//!   hours the person logged on each in that month** (all time entries, billable or not). The
//!   shares are whole minor units by the largest-remainder rule (floor of cost x hours / total
//!   hours; the units left go one each to the largest remainders, ties to the smaller project
//!   id), so a person's month always adds up to its cost exactly. A cost with no hours logged
//!   that month (or a person analytics cannot link to a login) stays unallocated: project `""`.
//!   A project's client is the CRM client PMO names for it (`project.created`).
//! - Direct cost: posted vendor bills in the base currency, by the bill's date, on the bill's
//!   project, and approved expense claims in the base currency, by the day the expense was
//!   posted, on the claim's project (one without a project stays unallocated: project `""`).
//!   Neither is anyone's pay: they add no person to a row.
//! - Work in progress: approved billable time finance put on a project's draft invoice at the
//!   bill rate (`timesheet.billed`), dated the approved week's last day, counts as the
//!   project's revenue until that invoice is posted with a date on or before the range's end
//!   (from then on the invoice is the revenue, on its own date).
//! - Profit = revenue - cost, per row's currency (never summed across currencies).
//!
//! The inputs are plain sums both engines compute alike; the allocation runs here, once, so
//! the result is the same on ClickHouse and DataFusion to the minor unit.
//!
//! Row rule: a row's cost is the pay of the people in it, so a row whose cost comes from 1 to 4
//! people has its value withheld, whoever asks (as `labour_cost` outside person level); a row
//! without payroll cost (revenue only) discloses no pay and is shown.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::metrics::MIN_GROUP;

/// Invoiced revenue of (project, client, month, currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revenue {
    pub project: String,
    /// The invoice's CRM client ("" when the customer has none).
    pub client: String,
    pub month: String,
    pub currency: String,
    pub amount: i64,
}

/// Seconds a login logged on a project in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    pub user: String,
    pub project: String,
    pub month: String,
    pub seconds: i64,
}

/// An employee's employer cost for a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub employee: String,
    pub month: String,
    pub currency: String,
    pub amount: i64,
}

/// A project's direct cost in a month (base currency): vendor bills, expense claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    pub project: String,
    pub month: String,
    pub currency: String,
    pub amount: i64,
}

/// A project's work in progress of a month: billed time not invoiced yet (base currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wip {
    pub project: String,
    pub month: String,
    pub currency: String,
    pub amount: i64,
}

/// What profitability is computed from.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub revenue: Vec<Revenue>,
    pub hours: Vec<Hours>,
    pub costs: Vec<Cost>,
    pub bills: Vec<Bill>,
    pub wip: Vec<Wip>,
    /// Employee id -> the login their time entries name.
    pub staff: HashMap<String, String>,
    /// Project id -> its CRM client.
    pub projects: HashMap<String, String>,
}

/// The key of a profitability line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineKey {
    pub project: String,
    pub client: String,
    pub month: String,
    pub currency: String,
}

/// One (project, client, month, currency): its revenue, its allocated cost, and whose pay the
/// cost is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    pub revenue: i64,
    pub cost: i64,
    pub people: BTreeSet<String>,
}

impl Line {
    pub fn profit(&self) -> i64 {
        self.revenue.saturating_sub(self.cost)
    }

    fn add(&mut self, other: &Line) {
        self.revenue = self.revenue.saturating_add(other.revenue);
        self.cost = self.cost.saturating_add(other.cost);
        self.people.extend(other.people.iter().cloned());
    }

    /// Whether its value is withheld: its cost is the pay of fewer than [`MIN_GROUP`] people.
    pub fn suppressed(&self) -> bool {
        let people = self.people.len() as u64;
        people > 0 && people < MIN_GROUP
    }
}

/// Splits `total` into whole units in proportion to `weights` (positive, summing to more
/// than 0): floors first, then one unit each to the largest remainders (ties: the earlier
/// key). The shares add up to `total` exactly.
pub fn allocate<K: Clone + Ord>(total: i64, weights: &[(K, i64)]) -> Vec<(K, i64)> {
    let sum: i128 = weights.iter().map(|(_, w)| i128::from(*w)).sum();
    if sum <= 0 {
        return Vec::new();
    }
    let mut shares: Vec<(K, i64, i128)> = weights
        .iter()
        .map(|(key, weight)| {
            let product = i128::from(total) * i128::from(*weight);
            let floor = product.div_euclid(sum);
            let remainder = product.rem_euclid(sum);
            (
                key.clone(),
                i64::try_from(floor).unwrap_or(i64::MAX),
                remainder,
            )
        })
        .collect();
    let given: i128 = shares.iter().map(|(_, share, _)| i128::from(*share)).sum();
    let mut left = i128::from(total) - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| {
        shares[*b]
            .2
            .cmp(&shares[*a].2)
            .then_with(|| shares[*a].0.cmp(&shares[*b].0))
    });
    for index in order {
        if left <= 0 {
            break;
        }
        shares[index].1 += 1;
        left -= 1;
    }
    shares
        .into_iter()
        .map(|(key, share, _)| (key, share))
        .collect()
}

/// The profitability lines of `inputs`, by (project, client, month, currency).
pub fn lines(inputs: &Inputs) -> BTreeMap<LineKey, Line> {
    let client_of = |project: &str| inputs.projects.get(project).cloned().unwrap_or_default();
    let mut lines: BTreeMap<LineKey, Line> = BTreeMap::new();
    for revenue in &inputs.revenue {
        let client = if revenue.client.is_empty() {
            client_of(&revenue.project)
        } else {
            revenue.client.clone()
        };
        let key = LineKey {
            project: revenue.project.clone(),
            client,
            month: revenue.month.clone(),
            currency: revenue.currency.clone(),
        };
        let line = lines.entry(key).or_default();
        line.revenue = line.revenue.saturating_add(revenue.amount);
    }
    for wip in &inputs.wip {
        let key = LineKey {
            project: wip.project.clone(),
            client: client_of(&wip.project),
            month: wip.month.clone(),
            currency: wip.currency.clone(),
        };
        let line = lines.entry(key).or_default();
        line.revenue = line.revenue.saturating_add(wip.amount);
    }
    for bill in &inputs.bills {
        let key = LineKey {
            project: bill.project.clone(),
            client: client_of(&bill.project),
            month: bill.month.clone(),
            currency: bill.currency.clone(),
        };
        let line = lines.entry(key).or_default();
        line.cost = line.cost.saturating_add(bill.amount);
    }
    // Each login's hours per (month, project), in project order.
    let mut logged: HashMap<(&str, &str), BTreeMap<&str, i64>> = HashMap::new();
    for hours in &inputs.hours {
        if hours.seconds > 0 {
            *logged
                .entry((hours.user.as_str(), hours.month.as_str()))
                .or_default()
                .entry(hours.project.as_str())
                .or_default() += hours.seconds;
        }
    }
    for cost in &inputs.costs {
        let weights: Vec<(&str, i64)> = inputs
            .staff
            .get(&cost.employee)
            .and_then(|user| logged.get(&(user.as_str(), cost.month.as_str())))
            .map(|projects| projects.iter().map(|(p, s)| (*p, *s)).collect())
            .unwrap_or_default();
        let shares = if weights.is_empty() {
            vec![("", cost.amount)]
        } else {
            allocate(cost.amount, &weights)
        };
        for (project, share) in shares {
            let key = LineKey {
                project: project.to_owned(),
                client: client_of(project),
                month: cost.month.clone(),
                currency: cost.currency.clone(),
            };
            let line = lines.entry(key).or_default();
            line.cost = line.cost.saturating_add(share);
            line.people.insert(cost.employee.clone());
        }
    }
    lines
}

/// The lines grouped by what `group` picks of each key (in the key's order), summed.
pub fn group<G: Ord>(
    lines: &BTreeMap<LineKey, Line>,
    group: impl Fn(&LineKey) -> G,
) -> BTreeMap<G, Line> {
    let mut groups: BTreeMap<G, Line> = BTreeMap::new();
    for (key, line) in lines {
        groups.entry(group(key)).or_default().add(line);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_exact_and_gives_leftover_units_to_the_largest_remainders() {
        // 100 over 1:1:1 -> 33.33 each: the first key (tie) gets the leftover unit.
        assert_eq!(
            allocate(100, &[("a", 1), ("b", 1), ("c", 1)]),
            vec![("a", 34), ("b", 33), ("c", 33)]
        );
        // 1,000 over 1:2 -> 333.33 / 666.67: the larger remainder (b) gets it.
        assert_eq!(
            allocate(1_000, &[("a", 1), ("b", 2)]),
            vec![("a", 333), ("b", 667)]
        );
        let shares = allocate(523_873, &[("x", 7), ("y", 11), ("z", 13)]);
        assert_eq!(shares.iter().map(|(_, s)| s).sum::<i64>(), 523_873);
        assert!(allocate(5, &[("a", 0)]).is_empty());
    }

    fn text(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn cost_follows_hours_revenue_follows_invoices_and_unlogged_cost_stays_unallocated() {
        let inputs = Inputs {
            revenue: vec![Revenue {
                project: text("pA"),
                client: String::new(),
                month: text("2026-11"),
                currency: text("EUR"),
                amount: 10_000,
            }],
            hours: vec![
                Hours {
                    user: text("u1"),
                    project: text("pA"),
                    month: text("2026-11"),
                    seconds: 3600,
                },
                Hours {
                    user: text("u1"),
                    project: text("pB"),
                    month: text("2026-11"),
                    seconds: 7200,
                },
            ],
            costs: vec![
                Cost {
                    employee: text("e1"),
                    month: text("2026-11"),
                    currency: text("EUR"),
                    amount: 3_001,
                },
                Cost {
                    employee: text("e2"),
                    month: text("2026-11"),
                    currency: text("EUR"),
                    amount: 500,
                },
            ],
            bills: vec![Bill {
                project: text("pA"),
                month: text("2026-11"),
                currency: text("EUR"),
                amount: 700,
            }],
            wip: vec![Wip {
                project: text("pB"),
                month: text("2026-11"),
                currency: text("EUR"),
                amount: 2_500,
            }],
            staff: HashMap::from([(text("e1"), text("u1")), (text("e2"), text("u2"))]),
            projects: HashMap::from([(text("pA"), text("c1"))]),
        };
        let lines = lines(&inputs);
        let found: Vec<_> = lines
            .iter()
            .map(|(k, l)| (k.project.as_str(), k.client.as_str(), l.revenue, l.cost))
            .collect();
        assert_eq!(
            found,
            vec![
                ("", "", 0, 500),
                ("pA", "c1", 10_000, 1_700),
                ("pB", "", 2_500, 2_001),
            ]
        );
        let by_client = group(&lines, |k| k.client.clone());
        assert_eq!(by_client[""].profit(), -1);
        assert_eq!(by_client["c1"].profit(), 8_300);
        assert!(by_client["c1"].suppressed(), "one person's pay");
        assert!(!Line::default().suppressed(), "no pay in it");
    }
}
