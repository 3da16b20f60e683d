//! The CRM part of a plan: what the company's sales team has in its CRM, derived (like the rest
//! of the plan) only from the seed number and the plan.
//!
//! - One pipeline of six stages (probabilities 10 % to 90 %; the middle ones rot).
//! - Clients: the plan's clients (the `client` of its billable projects, the same names, so
//!   PMO's typed project clients and finance's customers are the CRM's clients), active; and
//!   prospects, companies the team is still courting.
//! - Sales reps: the first people of the plan after the administrator (a few in tier S, 200
//!   in tier L); every lead and opportunity belongs to one of them.
//! - Leads: people of prospect companies with a source, UTM tags and a territory; loaded by
//!   the CRM's CSV import (keyed by e-mail, so a repeated load updates, never duplicates).
//! - Opportunities: spread over the stages (more in the early ones), 85 % open, the rest lost
//!   with a reason; a few won, the first ones, the plan's clients' deals (few: each won deal
//!   becomes a PMO project through the hand-off, `opportunity.won`); amounts in EUR cents.
//! - Quotes: one draft quote per won opportunity, made before the win.
//!
//! Opportunities and leads are generated on demand from their index (per-record random
//! streams): tier L's million opportunities need no memory.

use crate::{Rng, SeedPlan, Tier, FIRST_NAMES, LAST_NAMES};

const STREAM_LEAD: u64 = 20;
const STREAM_OPPORTUNITY: u64 = 21;
const STREAM_PROSPECT: u64 = 22;

/// The seeded pipeline's name (a load finding it in the tenant treats the CRM part as done).
pub const PIPELINE_NAME: &str = "Sales";
/// The kind of opportunity the pipeline holds.
pub const OPPORTUNITY_TYPE: &str = "new business";

/// The stages: (name, probability %, rotting days).
pub const STAGES: &[(&str, i32, Option<i32>)] = &[
    ("Lead in", 10, None),
    ("Qualified", 25, None),
    ("Discovery", 40, Some(21)),
    ("Proposal", 60, Some(14)),
    ("Negotiation", 80, Some(7)),
    ("Commit", 90, None),
];

/// Relative weights of the stages among open opportunities (the funnel narrows).
const STAGE_WEIGHTS: &[u64] = &[30, 22, 18, 14, 10, 6];

const PROSPECT_WORDS: &[&str] = &[
    "Acme",
    "Hooli",
    "Soylent",
    "Cyberdyne",
    "Massive",
    "Vandelay",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Pied Piper",
    "Aperture",
    "Monarch",
];
const PROSPECT_FORMS: &[&str] = &["Ltd", "GmbH", "SA", "Inc", "BV", "AG"];
const PRODUCTS: &[&str] = &[
    "platform rollout",
    "support renewal",
    "data migration",
    "security audit",
    "training",
    "integration",
];
const LOST_REASONS: &[&str] = &["price", "competitor", "no budget", "timing", "no decision"];
const SOURCES: &[&str] = &[
    "website",
    "referral",
    "event",
    "campaign",
    "cold_outreach",
    "partner",
];
const TERRITORIES: &[&str] = &["EMEA", "AMER", "APAC"];
const CAMPAIGNS: &[&str] = &["spring-launch", "webinar-q2", "newsletter", "trade-fair"];

/// How much CRM a tier has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmSizes {
    pub sales_reps: usize,
    pub prospects: usize,
    pub leads: usize,
    pub opportunities: usize,
    /// The first opportunities, won (each becomes a PMO project by event).
    pub won: usize,
}

impl CrmSizes {
    pub fn of(tier: Tier) -> Self {
        match tier {
            Tier::S => Self {
                sales_reps: 3,
                prospects: 6,
                leads: 40,
                opportunities: 60,
                won: 4,
            },
            Tier::M => Self {
                sales_reps: 20,
                prospects: 60,
                leads: 2_000,
                opportunities: 5_000,
                won: 40,
            },
            // The benchmark scale: a million opportunities.
            Tier::L => Self {
                sales_reps: 200,
                prospects: 600,
                leads: 100_000,
                opportunities: 1_000_000,
                won: 400,
            },
        }
    }
}

/// A CRM client: one of the plan's clients (active) or a prospect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedClient {
    pub name: String,
    /// `active` (a plan client) or `prospect`.
    pub status: &'static str,
    /// The sales rep (an index into [`SeedPlan::employees`]) who owns it.
    pub owner: usize,
}

/// A lead as its import row has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLead {
    pub name: String,
    pub company: String,
    pub email: String,
    pub source: &'static str,
    pub utm_campaign: &'static str,
    pub territory: &'static str,
    pub owner: usize,
}

/// Where an opportunity stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedOutcome {
    Open,
    Won,
    Lost(&'static str),
}

/// An opportunity: its client (an index into [`CrmPlan::clients`]), stage (into [`STAGES`]),
/// amount, owner and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOpportunity {
    pub name: String,
    pub client: usize,
    pub stage: usize,
    pub amount_cents: i64,
    pub owner: usize,
    pub outcome: PlannedOutcome,
}

/// The plan's CRM (records generated on demand: [`CrmPlan::lead`], [`CrmPlan::opportunity`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CrmPlan {
    pub seed: u64,
    pub sizes: CrmSizes,
    /// The plan's clients first (as named in its projects), then the prospects.
    pub clients: Vec<PlannedClient>,
    /// How many of `clients` are the plan's (the rest are prospects).
    pub plan_clients: usize,
    /// The sales reps (indices into [`SeedPlan::employees`]).
    pub sales_reps: Vec<usize>,
    domain: String,
}

/// Counts of a plan's CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrmTotals {
    pub clients: usize,
    pub leads: usize,
    pub opportunities: usize,
    pub quotes: usize,
}

impl SeedPlan {
    /// The plan's CRM (see the module comment).
    pub fn crm(&self) -> CrmPlan {
        let mut sizes = CrmSizes::of(self.tier);
        // The administrator is not a rep; a plan smaller than the tier's team uses everyone.
        let sales_reps: Vec<usize> = (1..self.employees.len())
            .take(sizes.sales_reps.max(1))
            .collect();
        let sales_reps = if sales_reps.is_empty() {
            vec![0]
        } else {
            sales_reps
        };
        sizes.sales_reps = sales_reps.len();
        let mut clients: Vec<PlannedClient> = Vec::new();
        for project in self.projects.iter().filter(|p| p.billable) {
            if let Some(name) = &project.client {
                if !clients.iter().any(|c| &c.name == name) {
                    clients.push(PlannedClient {
                        name: name.clone(),
                        status: "active",
                        owner: sales_reps[clients.len() % sales_reps.len()],
                    });
                }
            }
        }
        let plan_clients = clients.len();
        for n in 0..sizes.prospects {
            let mut rng = Rng::stream(self.seed, STREAM_PROSPECT, n as u64, 0);
            clients.push(PlannedClient {
                name: format!(
                    "{} {} {}",
                    rng.pick(PROSPECT_WORDS),
                    n + 1,
                    rng.pick(PROSPECT_FORMS)
                ),
                status: "prospect",
                owner: sales_reps[n % sales_reps.len()],
            });
        }
        CrmPlan {
            seed: self.seed,
            sizes,
            clients,
            plan_clients,
            sales_reps,
            domain: self.domain.clone(),
        }
    }
}

impl CrmPlan {
    pub fn totals(&self) -> CrmTotals {
        CrmTotals {
            clients: self.clients.len(),
            leads: self.sizes.leads,
            opportunities: self.sizes.opportunities,
            quotes: self.quote_opportunities().len(),
        }
    }

    /// Lead `i` (0-based, below `sizes.leads`).
    pub fn lead(&self, i: usize) -> PlannedLead {
        let mut rng = Rng::stream(self.seed, STREAM_LEAD, i as u64, 0);
        let first = *rng.pick(FIRST_NAMES);
        let last = *rng.pick(LAST_NAMES);
        let company = format!("{} {}", rng.pick(PROSPECT_WORDS), rng.pick(PROSPECT_FORMS));
        let domain_word: String = company
            .split_whitespace()
            .next()
            .unwrap_or("lead")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let source = *rng.pick(SOURCES);
        let utm_campaign = *rng.pick(CAMPAIGNS);
        let territory = *rng.pick(TERRITORIES);
        let local = |name: &str| -> String {
            name.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_lowercase()
        };
        PlannedLead {
            name: format!("{first} {last}"),
            email: format!(
                "{}.{}.{i}@{domain_word}-{}",
                local(first),
                local(last),
                self.domain
            ),
            company,
            source,
            utm_campaign,
            territory,
            owner: self.sales_reps[i % self.sales_reps.len()],
        }
    }

    /// Opportunity `i` (0-based, below `sizes.opportunities`): the first `sizes.won` won
    /// (deals of the plan's clients, when it has any); of the others 85 % open (weighted to
    /// the early stages), 15 % lost.
    pub fn opportunity(&self, i: usize) -> PlannedOpportunity {
        let mut rng = Rng::stream(self.seed, STREAM_OPPORTUNITY, i as u64, 0);
        let roll = rng.below(100);
        let outcome = if i < self.sizes.won {
            PlannedOutcome::Won
        } else if roll < 85 {
            PlannedOutcome::Open
        } else {
            let reason = *rng.pick(LOST_REASONS);
            PlannedOutcome::Lost(reason)
        };
        let stage = match outcome {
            PlannedOutcome::Open => weighted(&mut rng, STAGE_WEIGHTS),
            // A deal is won from the last stages, lost anywhere.
            PlannedOutcome::Won => STAGES.len() - 1 - rng.below(2) as usize,
            PlannedOutcome::Lost(_) => rng.below(STAGES.len() as u64) as usize,
        };
        let client = if outcome == PlannedOutcome::Won && self.plan_clients > 0 {
            rng.below(self.plan_clients as u64) as usize
        } else {
            rng.below(self.clients.len() as u64) as usize
        };
        // 1,000.00 to 250,000.00 EUR in whole hundreds.
        let amount_cents = rng.between(10, 2_500) * 10_000;
        PlannedOpportunity {
            name: format!(
                "{} {} #{}",
                self.clients[client].name,
                rng.pick(PRODUCTS),
                i + 1
            ),
            client,
            stage,
            amount_cents,
            owner: self.sales_reps[i % self.sales_reps.len()],
            outcome,
        }
    }

    /// The opportunities that get a draft quote: the won ones.
    pub fn quote_opportunities(&self) -> Vec<usize> {
        (0..self.sizes.won.min(self.sizes.opportunities)).collect()
    }
}

/// An index drawn with the given relative weights.
fn weighted(rng: &mut Rng, weights: &[u64]) -> usize {
    let total: u64 = weights.iter().sum();
    let mut roll = rng.below(total);
    for (index, weight) in weights.iter().enumerate() {
        if roll < *weight {
            return index;
        }
        roll -= weight;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn plan(tier: Tier, seed: u64) -> SeedPlan {
        let until = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        SeedPlan::new(tier, seed, "Seed Co", "seed.example", until)
    }

    #[test]
    fn the_same_seed_gives_the_same_crm() {
        let (a, b) = (plan(Tier::S, 7).crm(), plan(Tier::S, 7).crm());
        assert_eq!(a, b);
        assert_eq!(a.opportunity(17), b.opportunity(17));
        assert_eq!(a.lead(3), b.lead(3));
        assert_ne!(plan(Tier::S, 8).crm().opportunity(17), a.opportunity(17));
    }

    #[test]
    fn the_plans_clients_come_first_with_their_project_names() {
        let plan = plan(Tier::M, 3);
        let crm = plan.crm();
        let mut project_clients: Vec<&String> = plan
            .projects
            .iter()
            .filter(|p| p.billable)
            .filter_map(|p| p.client.as_ref())
            .collect();
        project_clients.sort();
        project_clients.dedup();
        let mut named: Vec<&String> = crm.clients[..crm.plan_clients]
            .iter()
            .map(|c| &c.name)
            .collect();
        named.sort();
        assert_eq!(named, project_clients);
        assert!(crm.clients[..crm.plan_clients]
            .iter()
            .all(|c| c.status == "active"));
        assert_eq!(crm.clients.len(), crm.plan_clients + 60);
        let mut names: Vec<&String> = crm.clients.iter().map(|c| &c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), crm.clients.len(), "client names are unique");
        assert!(crm
            .sales_reps
            .iter()
            .all(|&r| r != 0 && r < plan.employees.len()));
    }

    #[test]
    fn opportunities_fill_every_stage_and_outcome() {
        let crm = plan(Tier::M, 5).crm();
        let mut per_stage = [0usize; 6];
        let (mut won, mut lost) = (0, 0);
        for i in 0..2_040 {
            let opportunity = crm.opportunity(i);
            assert!(opportunity.amount_cents >= 100_000 && opportunity.amount_cents <= 25_000_000);
            assert!(opportunity.client < crm.clients.len());
            match opportunity.outcome {
                PlannedOutcome::Open => per_stage[opportunity.stage] += 1,
                PlannedOutcome::Won => {
                    won += 1;
                    assert!(opportunity.client < crm.plan_clients);
                }
                PlannedOutcome::Lost(reason) => {
                    lost += 1;
                    assert!(!reason.is_empty());
                }
            }
        }
        assert!(per_stage.iter().all(|&n| n > 0), "{per_stage:?}");
        assert!(
            per_stage[0] > per_stage[5],
            "the funnel narrows: {per_stage:?}"
        );
        assert_eq!(won, 40);
        assert!((200..=420).contains(&lost), "{lost}");
        assert!((0..40).all(|i| crm.opportunity(i).outcome == PlannedOutcome::Won));
    }

    #[test]
    fn leads_have_unique_emails_and_known_sources() {
        let crm = plan(Tier::S, 1).crm();
        let mut emails: Vec<String> = (0..crm.sizes.leads).map(|i| crm.lead(i).email).collect();
        emails.sort();
        emails.dedup();
        assert_eq!(emails.len(), crm.sizes.leads);
        // Names with spaces or accents still give plain addresses.
        let big = plan(Tier::M, 2).crm();
        assert!((0..big.sizes.leads).all(|i| {
            let email = big.lead(i).email;
            let (local, domain) = email.split_once('@').unwrap();
            local.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }));
        assert!((0..crm.sizes.leads).all(|i| SOURCES.contains(&crm.lead(i).source)));
    }

    #[test]
    fn tier_sizes() {
        let s = plan(Tier::S, 1).crm();
        assert_eq!(
            (s.sizes.leads, s.sizes.opportunities, s.sales_reps.len()),
            (40, 60, 3)
        );
        assert_eq!(s.totals().quotes, 4);
        assert_eq!(CrmSizes::of(Tier::L).opportunities, 1_000_000);
    }
}
