//! The finance history of a plan: what a company of the tier invoiced, was paid, credited,
//! was billed by its suppliers and reimbursed its people over the history, derived (like the
//! rest of the plan) only from the seed number and the plan.
//!
//! - Customers are the plan's clients (the `client` of its billable projects).
//! - Every billable project invoices its team's hours at the project's hourly rate: once a
//!   month on the project's billing day. Payment terms are 30 days. The finance history goes
//!   back at least a quarter ([`SeedPlan::finance_start`]), also in tiers S and M.
//! - Most invoices are paid in full within 15 to 50 days; some late (60 to 130 days), some in
//!   two parts, some partly or never paid, a few fully credited by a credit note. Payments
//!   after the history's end are not made, so the receivables at the end have every ageing
//!   bucket (current, 1-30, 31-60, 61-90, over 90 days past due) on tier L.
//! - Suppliers bill monthly on the 1st (office rent per location, cloud services), paid 10 to
//!   20 days later.
//! - People file expense claims (travel, meals, supplies) now and then; their manager approves
//!   them 1 to 5 days later and they are reimbursed 2 to 10 days after that (what falls after
//!   the history's end has not happened yet: such claims stay submitted or approved).
//!
//! Amounts are integer cents in EUR. Invoices carry the tenant's 22 % sales VAT (output tax,
//! account 2200) and supplier bills 22 % input VAT (account 1200), excluded from the prices and
//! rounded globally: a document's tax is its untaxed total at 22 %, rounded half up to the cent
//! ([`with_tax`], what finance computes for one rate); expense claims carry none.
//! The whole history is computed at once (tier L: about 9,000 invoices and 8,000 claims, a few
//! MB), in date order.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::{Rng, SeedPlan, Tier};

const STREAM_INVOICE: u64 = 10;
const STREAM_CLAIM: u64 = 11;
const STREAM_BILL: u64 = 12;
const STREAM_RATE: u64 = 13;

/// The shortest finance history (days): a quarter.
pub const FINANCE_MIN_DAYS: i64 = 91;

/// Days from an invoice's date to its due date.
pub const PAYMENT_TERM_DAYS: i64 = 30;

/// The expense categories the seed uses: (code, name, account code, cap in EUR, low and high
/// amount of a line in cents).
pub const EXPENSE_CATEGORIES: &[(&str, &str, &str, i64, i64, i64)] = &[
    ("TRAVEL", "Travel", "5100", 2_000, 4_000, 90_000),
    ("MEALS", "Meals", "5200", 150, 1_200, 9_000),
    ("SUPPLIES", "Office supplies", "5300", 500, 800, 30_000),
];

/// The taxes the seed's documents carry: (code, name, rate in percent, account code). Sales
/// VAT on invoices (the default chart's output tax), input VAT on supplier bills.
pub const SALES_TAX: (&str, &str, i64, &str) = ("VAT22", "VAT 22 % (sales)", 22, "2200");
pub const PURCHASE_TAX: (&str, &str, i64, &str) = ("VAT22-IN", "VAT 22 % (purchases)", 22, "1200");

/// `untaxed` cents plus `percent` % tax on them, rounded half up to the cent: finance's total
/// of a document whose lines (whole cents) all carry one excluded tax, rounded globally.
pub fn with_tax(untaxed: i64, percent: i64) -> i64 {
    untaxed + (untaxed * percent + 50) / 100
}

/// The seed's expense accounts beyond the default chart: (code, name).
pub const EXPENSE_ACCOUNTS: &[(&str, &str)] = &[
    ("5100", "Travel"),
    ("5200", "Meals and entertainment"),
    ("5300", "Office supplies"),
    ("5400", "Rent"),
    ("5500", "Software and cloud services"),
];

/// Expense claims per person and working day, by tier (tier S: about ten in its quarter;
/// tier L: about 0.8 a person a year, 8,000 claims).
fn claim_chance(tier: Tier) -> f64 {
    match tier {
        Tier::S => 0.02,
        Tier::M => 0.006,
        Tier::L => 0.003,
    }
}

/// One invoice line: a team member's hours (in quarter hours) at the project's rate.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedInvoiceLine {
    pub employee: usize,
    pub quarter_hours: u32,
    pub rate_eur: u32,
}

impl PlannedInvoiceLine {
    pub fn cents(&self) -> i64 {
        i64::from(self.quarter_hours) * i64::from(self.rate_eur) * 25
    }

    /// The hours as a decimal string ("37.75").
    pub fn hours(&self) -> String {
        format!(
            "{}.{:02}",
            self.quarter_hours / 4,
            (self.quarter_hours % 4) * 25
        )
    }
}

/// A customer invoice of a billable project for one billing period.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedInvoice {
    /// Index of the invoice in [`FinanceHistory::invoices`].
    pub index: usize,
    pub project: usize,
    /// Index into [`FinanceHistory::customers`].
    pub customer: usize,
    pub date: NaiveDate,
    pub due_date: NaiveDate,
    /// The first and last day of the hours billed.
    pub period: (NaiveDate, NaiveDate),
    pub lines: Vec<PlannedInvoiceLine>,
}

impl PlannedInvoice {
    /// The lines' hours at their rates, before tax.
    pub fn untaxed_cents(&self) -> i64 {
        self.lines.iter().map(PlannedInvoiceLine::cents).sum()
    }

    /// With the sales VAT.
    pub fn total_cents(&self) -> i64 {
        with_tax(self.untaxed_cents(), SALES_TAX.2)
    }

    /// A key naming the invoice in the plan (idempotency keys, memos).
    pub fn key(&self) -> String {
        format!("inv:{}:{}", self.project, self.date)
    }
}

/// A full credit note of an invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCreditNote {
    pub invoice: usize,
    pub date: NaiveDate,
}

/// A supplier's bill.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBill {
    pub index: usize,
    /// Index into [`FinanceHistory::vendors`].
    pub vendor: usize,
    pub date: NaiveDate,
    pub due_date: NaiveDate,
    pub description: String,
    /// The expense account's code.
    pub account_code: &'static str,
    /// Before tax.
    pub cents: i64,
}

impl PlannedBill {
    /// With the input VAT: what the supplier is paid.
    pub fn total_cents(&self) -> i64 {
        with_tax(self.cents, PURCHASE_TAX.2)
    }

    pub fn key(&self) -> String {
        format!("bill:{}:{}", self.vendor, self.date)
    }
}

/// What a payment settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settles {
    /// A customer's invoice (an inbound payment).
    Invoice(usize),
    /// A supplier's bill (an outbound payment).
    Bill(usize),
}

/// A payment, allocated in full to one invoice or bill.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPayment {
    pub settles: Settles,
    /// The payment's number for its document (1, 2: instalments of a partial payer).
    pub part: u32,
    pub date: NaiveDate,
    pub cents: i64,
}

impl PlannedPayment {
    pub fn key(&self) -> String {
        match self.settles {
            Settles::Invoice(i) => format!("pay:inv:{i}:{}", self.part),
            Settles::Bill(b) => format!("pay:bill:{b}:{}", self.part),
        }
    }
}

/// One line of an expense claim.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedClaimLine {
    /// Index into [`EXPENSE_CATEGORIES`].
    pub category: usize,
    pub spent_on: NaiveDate,
    pub description: String,
    pub cents: i64,
    pub receipt: String,
}

/// An expense claim: filed (submitted) on `date`, approved by the claimant's manager, paid.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedClaim {
    pub employee: usize,
    pub date: NaiveDate,
    pub title: String,
    pub lines: Vec<PlannedClaimLine>,
    /// None: still waiting for the manager at the history's end.
    pub approved_on: Option<NaiveDate>,
    /// None: not reimbursed yet at the history's end.
    pub paid_on: Option<NaiveDate>,
}

impl PlannedClaim {
    pub fn total_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.cents).sum()
    }

    pub fn key(&self) -> String {
        format!("claim:{}:{}", self.employee, self.date)
    }
}

/// The finance history of a plan, each list in date order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FinanceHistory {
    /// The customers' names (the plan's clients).
    pub customers: Vec<String>,
    /// The suppliers' names.
    pub vendors: Vec<String>,
    pub invoices: Vec<PlannedInvoice>,
    pub credit_notes: Vec<PlannedCreditNote>,
    pub bills: Vec<PlannedBill>,
    pub payments: Vec<PlannedPayment>,
    pub claims: Vec<PlannedClaim>,
}

/// How much a finance history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FinanceTotals {
    pub invoices: usize,
    pub credit_notes: usize,
    pub bills: usize,
    /// Inbound (customers) and outbound (suppliers) payments.
    pub payments: usize,
    pub expense_claims: usize,
    pub claims_approved: usize,
    pub claims_paid: usize,
    /// Cents invoiced, credited and received from customers.
    pub invoiced_cents: i64,
    pub credited_cents: i64,
    pub received_cents: i64,
}

impl FinanceHistory {
    pub fn totals(&self) -> FinanceTotals {
        let received = self
            .payments
            .iter()
            .filter(|p| matches!(p.settles, Settles::Invoice(_)))
            .map(|p| p.cents)
            .sum();
        FinanceTotals {
            invoices: self.invoices.len(),
            credit_notes: self.credit_notes.len(),
            bills: self.bills.len(),
            payments: self.payments.len(),
            expense_claims: self.claims.len(),
            claims_approved: self
                .claims
                .iter()
                .filter(|c| c.approved_on.is_some())
                .count(),
            claims_paid: self.claims.iter().filter(|c| c.paid_on.is_some()).count(),
            invoiced_cents: self.invoices.iter().map(PlannedInvoice::total_cents).sum(),
            credited_cents: self
                .credit_notes
                .iter()
                .map(|c| self.invoices[c.invoice].total_cents())
                .sum(),
            received_cents: received,
        }
    }

    /// What customers owe at the end of the history (cents): invoiced - credited - received.
    pub fn receivable_cents(&self) -> i64 {
        let totals = self.totals();
        totals.invoiced_cents - totals.credited_cents - totals.received_cents
    }
}

fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn next_month(day: NaiveDate) -> NaiveDate {
    let first = month_start(day);
    (first + Duration::days(32)).with_day(1).unwrap_or(first)
}

fn is_working_day(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

fn working_days_between(from: NaiveDate, to: NaiveDate) -> u32 {
    let mut count = 0;
    let mut day = from;
    while day <= to {
        count += u32::from(is_working_day(day));
        day += Duration::days(1);
    }
    count
}

impl SeedPlan {
    /// The first day of the finance history: the history's, but at least a quarter before its
    /// end (customers pay 15 to 130 days after an invoice: a week or a month of ledger would
    /// hold invoices and no payments).
    pub fn finance_start(&self) -> NaiveDate {
        self.until - Duration::days(self.tier.history_days().max(FINANCE_MIN_DAYS))
    }

    /// The customers: the clients of the billable projects, in the order first met.
    fn customers(&self) -> Vec<String> {
        let mut customers: Vec<String> = Vec::new();
        for project in self.projects.iter().filter(|p| p.billable) {
            if let Some(client) = &project.client {
                if !customers.contains(client) {
                    customers.push(client.clone());
                }
            }
        }
        customers
    }

    /// The days a billable project invoices on, inside the history, and the period each bills.
    fn billing_days(&self, project: usize) -> Vec<(NaiveDate, (NaiveDate, NaiveDate))> {
        let start = self.finance_start();
        let last = self.until - Duration::days(1);
        let mut rng = Rng::stream(self.seed, STREAM_RATE, project as u64, 1);
        let billing_day = rng.between(1, 28) as u32;
        let mut out = Vec::new();
        let mut month = month_start(start);
        while month <= last {
            if let Some(day) = month.with_day(billing_day) {
                if day >= start && day <= last {
                    // The month before the billing day.
                    let period_start = day
                        .checked_sub_months(chrono::Months::new(1))
                        .unwrap_or(day - Duration::days(30));
                    out.push((day, (period_start, day - Duration::days(1))));
                }
            }
            month = next_month(month);
        }
        out
    }

    /// The finance history (see the module comment).
    pub fn finance(&self) -> FinanceHistory {
        let customers = self.customers();
        let last = self.until - Duration::days(1);
        let before_end = |day: NaiveDate| day <= last;
        let mut history = FinanceHistory {
            customers: customers.clone(),
            ..Default::default()
        };

        // Invoices, in date order (then project order).
        let mut invoices = Vec::new();
        for (p, project) in self.projects.iter().enumerate() {
            let Some(client) = project.client.as_ref().filter(|_| project.billable) else {
                continue;
            };
            let customer = customers.iter().position(|c| c == client).unwrap_or(0);
            let rate = 90 + 5 * Rng::stream(self.seed, STREAM_RATE, p as u64, 0).below(19) as u32;
            for (date, period) in self.billing_days(p) {
                let mut rng = Rng::stream(
                    self.seed,
                    STREAM_INVOICE,
                    p as u64,
                    date.num_days_from_ce() as u64,
                );
                let days = working_days_between(period.0, period.1).max(1);
                let lines = project
                    .members
                    .iter()
                    .filter(|m| self.employees[**m].hired_on <= period.1)
                    .map(|&employee| PlannedInvoiceLine {
                        employee,
                        // 4 to 7.5 billable hours a working day.
                        quarter_hours: days * rng.between(16, 30) as u32,
                        rate_eur: rate,
                    })
                    .collect::<Vec<_>>();
                if lines.is_empty() {
                    continue;
                }
                invoices.push(PlannedInvoice {
                    index: 0,
                    project: p,
                    customer,
                    date,
                    due_date: date + Duration::days(PAYMENT_TERM_DAYS),
                    period,
                    lines,
                });
            }
        }
        invoices.sort_by_key(|i| (i.date, i.project));
        for (index, invoice) in invoices.iter_mut().enumerate() {
            invoice.index = index;
        }

        // How each invoice is settled.
        let mut payments = Vec::new();
        for invoice in &invoices {
            let mut rng = Rng::stream(
                self.seed,
                STREAM_INVOICE,
                invoice.project as u64,
                invoice.date.num_days_from_ce() as u64 + 1_000_000,
            );
            let total = invoice.total_cents();
            let roll = rng.below(100);
            let pay = |part: u32, after: i64, cents: i64| PlannedPayment {
                settles: Settles::Invoice(invoice.index),
                part,
                date: invoice.date + Duration::days(after),
                cents,
            };
            match roll {
                // A disputed invoice, credited in full.
                0..=1 => {
                    let date = invoice.date + Duration::days(rng.between(5, 20));
                    if before_end(date) {
                        history.credit_notes.push(PlannedCreditNote {
                            invoice: invoice.index,
                            date,
                        });
                    }
                }
                // Never paid.
                2..=6 => {}
                // In two parts; one in two partial payers never pays the rest.
                7..=16 => {
                    let share = rng.between(40, 60);
                    let first = total * share / 100;
                    let after = rng.between(25, 45);
                    payments.push(pay(1, after, first));
                    if rng.chance(0.5) {
                        payments.push(pay(2, after + rng.between(30, 60), total - first));
                    }
                }
                // Late.
                17..=29 => payments.push(pay(1, rng.between(60, 130), total)),
                _ => payments.push(pay(1, rng.between(15, 50), total)),
            }
        }
        payments.retain(|p| before_end(p.date));

        // Suppliers: a landlord per location, and the cloud provider.
        let mut vendors: Vec<String> = self
            .locations
            .iter()
            .map(|l| format!("{} landlord", l.name))
            .collect();
        vendors.push("Nimbus Cloud Services".to_owned());
        let mut people_at = vec![0i64; self.locations.len()];
        for employee in &self.employees {
            people_at[employee.location] += 1;
        }
        let mut bills = Vec::new();
        let mut month = month_start(self.finance_start());
        while month <= last {
            if month >= self.finance_start() {
                for (l, location) in self.locations.iter().enumerate() {
                    bills.push((
                        l,
                        format!("Rent {} {}", location.name, month.format("%Y-%m")),
                        "5400",
                        (300 * people_at[l]).max(1_500) * 100,
                    ));
                }
                bills.push((
                    self.locations.len(),
                    format!("Cloud services {}", month.format("%Y-%m")),
                    "5500",
                    40 * self.employees.len() as i64 * 100,
                ));
                for (vendor, description, account_code, cents) in bills.drain(..) {
                    let index = history.bills.len();
                    let mut rng = Rng::stream(
                        self.seed,
                        STREAM_BILL,
                        vendor as u64,
                        month.num_days_from_ce() as u64,
                    );
                    let bill = PlannedBill {
                        index,
                        vendor,
                        date: month,
                        due_date: month + Duration::days(20),
                        description,
                        account_code,
                        cents,
                    };
                    let paid = month + Duration::days(rng.between(10, 20));
                    if before_end(paid) {
                        payments.push(PlannedPayment {
                            settles: Settles::Bill(index),
                            part: 1,
                            date: paid,
                            cents: bill.total_cents(),
                        });
                    }
                    history.bills.push(bill);
                }
            }
            month = next_month(month);
        }
        history.vendors = vendors;
        payments.sort_by_key(|p| (p.date, p.key()));

        // Expense claims.
        let chance = claim_chance(self.tier);
        let days = (0..(self.until - self.finance_start()).num_days())
            .map(|offset| self.finance_start() + Duration::days(offset))
            .filter(|day| is_working_day(*day));
        for day in days {
            for (e, employee) in self.employees.iter().enumerate().skip(1) {
                if employee.hired_on > day {
                    continue;
                }
                let mut rng = Rng::stream(
                    self.seed,
                    STREAM_CLAIM,
                    e as u64,
                    day.num_days_from_ce() as u64,
                );
                if !rng.chance(chance) {
                    continue;
                }
                let count = rng.between(1, 3) as usize;
                let lines = (0..count)
                    .map(|n| {
                        let category = rng.below(EXPENSE_CATEGORIES.len() as u64) as usize;
                        let (_, name, _, _, low, high) = EXPENSE_CATEGORIES[category];
                        PlannedClaimLine {
                            category,
                            spent_on: day - Duration::days(rng.between(0, 5)),
                            description: format!("{name} #{}", n + 1),
                            cents: rng.between(low, high),
                            receipt: format!(
                                "RCPT-{}-{}-{}",
                                employee.number,
                                day.format("%Y%m%d"),
                                n + 1
                            ),
                        }
                    })
                    .collect();
                let approved_on =
                    Some(day + Duration::days(rng.between(1, 5))).filter(|d| before_end(*d));
                let paid_on = approved_on
                    .map(|d| d + Duration::days(rng.between(2, 10)))
                    .filter(|d| before_end(*d));
                history.claims.push(PlannedClaim {
                    employee: e,
                    date: day,
                    title: format!("Expenses {}", day.format("%Y-%m-%d")),
                    lines,
                    approved_on,
                    paid_on,
                });
            }
        }
        history.invoices = invoices;
        history.payments = payments;
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(tier: Tier) -> SeedPlan {
        SeedPlan::new(
            tier,
            42,
            "Acme",
            "acme.example",
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        )
    }

    #[test]
    fn the_same_seed_gives_the_same_finance_history() {
        assert_eq!(plan(Tier::M).finance(), plan(Tier::M).finance());
    }

    #[test]
    fn tier_s_has_a_quarter_of_invoices_payments_and_claims() {
        let p = plan(Tier::S);
        let history = p.finance();
        let billable = p.projects.iter().filter(|p| p.billable).count();
        // A billing day a month over 91 days: 3 or 4 invoices a billable project.
        assert!(
            history.invoices.len() >= 3 * billable,
            "{}",
            history.invoices.len()
        );
        assert!(history.invoices.len() <= 4 * billable);
        for invoice in &history.invoices {
            assert!(invoice.date >= p.finance_start() && invoice.date < p.until);
            assert!(invoice.total_cents() > 0);
        }
        let totals = history.totals();
        assert!(
            totals.payments > 0 && totals.expense_claims > 0,
            "{totals:?}"
        );
    }

    #[test]
    fn payments_never_exceed_their_document_and_precede_the_end() {
        for tier in [Tier::S, Tier::M] {
            let p = plan(tier);
            let history = p.finance();
            let mut paid = vec![0i64; history.invoices.len()];
            for payment in &history.payments {
                assert!(payment.date < p.until);
                match payment.settles {
                    Settles::Invoice(i) => {
                        assert!(payment.date > history.invoices[i].date);
                        paid[i] += payment.cents;
                    }
                    Settles::Bill(b) => {
                        assert_eq!(payment.cents, history.bills[b].total_cents());
                        assert!(payment.date > history.bills[b].date);
                    }
                }
            }
            for (i, invoice) in history.invoices.iter().enumerate() {
                assert!(paid[i] <= invoice.total_cents());
            }
            for credit in &history.credit_notes {
                assert_eq!(paid[credit.invoice], 0);
            }
            for claim in &history.claims {
                assert!(claim.employee != 0);
                assert!(claim.paid_on.is_none() || claim.approved_on.is_some());
                for line in &claim.lines {
                    let cap = EXPENSE_CATEGORIES[line.category].3 * 100;
                    assert!(line.cents > 0 && line.cents <= cap);
                }
            }
        }
    }

    #[test]
    fn tier_l_has_a_year_of_invoices_and_every_ageing_bucket() {
        let p = plan(Tier::L);
        let history = p.finance();
        let totals = history.totals();
        // About 750 billable projects x 12 months.
        assert!((7_000..=11_000).contains(&totals.invoices), "{totals:?}");
        assert!(totals.payments > totals.invoices * 3 / 4, "{totals:?}");
        assert!(
            (5_000..=11_000).contains(&totals.expense_claims),
            "{totals:?}"
        );
        assert!(totals.credit_notes > 50, "{totals:?}");
        // Open invoices at the end by days past due: every bucket holds some.
        let mut settled = vec![0i64; history.invoices.len()];
        for payment in &history.payments {
            if let Settles::Invoice(i) = payment.settles {
                settled[i] += payment.cents;
            }
        }
        for credit in &history.credit_notes {
            settled[credit.invoice] = history.invoices[credit.invoice].total_cents();
        }
        let mut buckets = [0usize; 5];
        for (i, invoice) in history.invoices.iter().enumerate() {
            if settled[i] < invoice.total_cents() {
                let overdue = (p.until - invoice.due_date).num_days();
                let bucket = match overdue {
                    ..=0 => 0,
                    1..=30 => 1,
                    31..=60 => 2,
                    61..=90 => 3,
                    _ => 4,
                };
                buckets[bucket] += 1;
            }
        }
        assert!(buckets.iter().all(|b| *b > 0), "{buckets:?}");
    }
}
