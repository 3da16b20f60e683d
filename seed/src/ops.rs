//! The operations part of a plan: what the company's IT and facilities teams keep, derived
//! (like the rest of the plan) only from the seed number and the plan.
//!
//! - Assets: a laptop for every person (checked out to them), then monitors, phones, docking
//!   stations and printers in stock; a few retired. Tags `<KIND>-<n>`, serials and costs from
//!   the per-record stream; the laptops depreciate straight line over 36 months.
//! - SOPs: the company's procedures (fire drill, onboarding, ...), most published, the last
//!   one still a draft.
//! - The helpdesk: an IT support team (a few Engineering people, more in bigger tiers) with
//!   one round-robin queue taking the IT categories (hardware, network, access), and an SLA
//!   policy per priority on one business calendar (Monday to Friday 09:00-17:00 Berlin time,
//!   Christmas and New Year off).
//! - Tickets: opened by the plan's people through the portal, about a tenth of the people's
//!   count a week of history (tier S: a few dozen), spread over the statuses the way a live
//!   helpdesk is (most resolved or closed, some new, open or pending); each has a category
//!   from its subject, so the IT ones land in the team's queue and the facilities ones stay
//!   unrouted.
//!
//! Records are generated on demand from their index (per-record random streams), so tier L's
//! numbers need no memory.

use crate::{Rng, SeedPlan, Tier};

const STREAM_ASSET: u64 = 30;
const STREAM_TICKET: u64 = 31;

/// How much operations data a tier has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsSizes {
    /// Assets besides the people's laptops (monitors, phones, docks, printers).
    pub extra_assets: usize,
    pub sops: usize,
    pub tickets: usize,
}

impl OpsSizes {
    pub fn of(tier: Tier) -> Self {
        match tier {
            Tier::S => Self {
                extra_assets: 14,
                sops: 5,
                tickets: 30,
            },
            Tier::M => Self {
                extra_assets: 700,
                sops: 24,
                tickets: 1_500,
            },
            // 100,000 assets in all (10,000 laptops and 90,000 monitors, phones, docks and
            // printers): the size of the monthly depreciation run the benchmark asks
            // for. Registered in bulk, they load in a few hundred commits.
            Tier::L => Self {
                extra_assets: 90_000,
                sops: 120,
                tickets: 60_000,
            },
        }
    }
}

/// What an asset is (its tag prefix, name, model, category and cost range in EUR cents).
struct AssetKindPlan {
    prefix: &'static str,
    name: &'static str,
    models: &'static [&'static str],
    category: &'static str,
    cost_cents: (i64, i64),
}

const LAPTOP: AssetKindPlan = AssetKindPlan {
    prefix: "LAP",
    name: "Laptop",
    models: &[
        "ThinkPad T14",
        "Latitude 7440",
        "MacBook Air 13",
        "EliteBook 840",
    ],
    category: "laptop",
    cost_cents: (95_000, 185_000),
};

const EXTRA_KINDS: &[(AssetKindPlan, u64)] = &[
    (
        AssetKindPlan {
            prefix: "MON",
            name: "Monitor",
            models: &["Dell U2723QE", "LG 27UP850", "EIZO EV2795"],
            category: "monitor",
            cost_cents: (25_000, 70_000),
        },
        50,
    ),
    (
        AssetKindPlan {
            prefix: "PHN",
            name: "Phone",
            models: &["iPhone 15", "Pixel 8", "Galaxy S24"],
            category: "phone",
            cost_cents: (45_000, 95_000),
        },
        25,
    ),
    (
        AssetKindPlan {
            prefix: "DCK",
            name: "Docking station",
            models: &["ThinkPad USB-C Dock", "Dell WD19S"],
            category: "dock",
            cost_cents: (12_000, 25_000),
        },
        20,
    ),
    (
        AssetKindPlan {
            prefix: "PRT",
            name: "Printer",
            models: &["HP LaserJet M507", "Brother HL-L6400"],
            category: "printer",
            cost_cents: (40_000, 120_000),
        },
        5,
    ),
];

/// Where an asset stands after the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedAssetState {
    InStock,
    /// Checked out to a person of the plan (an index into [`SeedPlan::employees`]).
    CheckedOutTo(usize),
    Retired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedAsset {
    pub tag: String,
    pub name: String,
    pub serial: String,
    pub model: String,
    pub category: &'static str,
    pub cost_cents: i64,
    pub in_use_date: chrono::NaiveDate,
    /// Straight-line months, for the laptops.
    pub depreciation_months: Option<u32>,
    pub state: PlannedAssetState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSop {
    pub title: String,
    pub content: String,
    /// Published (submitted, then published); else left a draft.
    pub published: bool,
}

/// Where a ticket stands after the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlannedTicketStatus {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTicket {
    pub subject: String,
    pub description: String,
    /// 0 low, 1 normal, 2 high, 3 urgent.
    pub priority: u8,
    /// Who opened it (an index into [`SeedPlan::employees`]).
    pub requester: usize,
    pub status: PlannedTicketStatus,
    /// What it is about (the queue routes by it).
    pub category: &'static str,
}

/// An SLA policy: the targets of one priority, in business minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedSla {
    /// 0 low, 1 normal, 2 high, 3 urgent.
    pub priority: u8,
    pub first_response_minutes: u32,
    pub update_minutes: u32,
    pub resolution_minutes: u32,
}

/// The helpdesk's set-up: one team, its queue, and the SLA policies on one calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedHelpdesk {
    pub team: &'static str,
    /// The agents (indices into [`SeedPlan::employees`]), all available.
    pub members: Vec<usize>,
    pub queue: &'static str,
    /// The ticket categories the queue takes (round-robin among the members).
    pub categories: &'static [&'static str],
    /// The calendar: an IANA zone, business hours as local minutes `[start, end)` every
    /// Monday to Friday, and holidays.
    pub time_zone: &'static str,
    pub business_hours: (u16, u16),
    pub holidays: Vec<chrono::NaiveDate>,
    /// One policy per priority, low to urgent.
    pub slas: [PlannedSla; 4],
}

/// The categories the IT queue takes; the others (facilities) stay unrouted.
const IT_CATEGORIES: &[&str] = &["hardware", "network", "access"];

const SOP_TITLES: &[&str] = &[
    "Fire drill",
    "New joiner onboarding",
    "Leaver offboarding",
    "Laptop handover",
    "Visitor registration",
    "Incident response",
    "Password reset",
    "Data backup check",
    "First aid",
    "Travel booking",
];

/// Subject, description and category.
const TICKET_SUBJECTS: &[(&str, &str, &str)] = &[
    (
        "VPN drops",
        "The VPN disconnects every few minutes.",
        "network",
    ),
    (
        "Printer jammed",
        "The printer on my floor is jammed.",
        "facilities",
    ),
    ("New monitor", "I would like a second monitor.", "hardware"),
    (
        "Password expired",
        "My password expired and I cannot log in.",
        "access",
    ),
    (
        "Laptop slow",
        "My laptop takes minutes to start.",
        "hardware",
    ),
    (
        "Access to shared drive",
        "I need access to the finance shared drive.",
        "access",
    ),
    (
        "Phone screen cracked",
        "My phone screen cracked.",
        "hardware",
    ),
    (
        "Meeting room display",
        "The display in the big meeting room shows nothing.",
        "facilities",
    ),
];

/// Relative weights of the statuses (a week-old helpdesk: most work done).
const STATUS_WEIGHTS: &[(PlannedTicketStatus, u64)] = &[
    (PlannedTicketStatus::New, 15),
    (PlannedTicketStatus::Open, 20),
    (PlannedTicketStatus::Pending, 10),
    (PlannedTicketStatus::Resolved, 25),
    (PlannedTicketStatus::Closed, 30),
];

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u64)]) -> T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// The operations of a plan: sizes and the records by index.
pub struct OpsPlan<'a> {
    plan: &'a SeedPlan,
    pub sizes: OpsSizes,
}

/// The counts a load writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsTotals {
    pub assets: usize,
    pub checked_out: usize,
    pub retired: usize,
    pub sops: usize,
    pub published_sops: usize,
    pub tickets: usize,
}

impl SeedPlan {
    /// The plan's operations data (see the module comment).
    pub fn ops(&self) -> OpsPlan<'_> {
        OpsPlan {
            plan: self,
            sizes: OpsSizes::of(self.tier),
        }
    }
}

impl OpsPlan<'_> {
    pub fn assets(&self) -> usize {
        self.plan.employees.len() + self.sizes.extra_assets
    }

    /// Asset `i`: the first ones are the people's laptops (in plan order), then the rest.
    pub fn asset(&self, i: usize) -> PlannedAsset {
        let mut rng = Rng::stream(self.plan.seed, STREAM_ASSET, i as u64, 0);
        let people = self.plan.employees.len();
        let (kind, state) = if i < people {
            (&LAPTOP, PlannedAssetState::CheckedOutTo(i))
        } else {
            let kinds: Vec<(usize, u64)> = EXTRA_KINDS
                .iter()
                .enumerate()
                .map(|(k, (_, weight))| (k, *weight))
                .collect();
            let kind = &EXTRA_KINDS[weighted(&mut rng, &kinds)].0;
            // Every seventh extra item is retired; the rest wait in stock.
            let state = if (i - people) % 7 == 6 {
                PlannedAssetState::Retired
            } else {
                PlannedAssetState::InStock
            };
            (kind, state)
        };
        let (low, high) = kind.cost_cents;
        let cost_cents = rng.between(low / 100, high / 100) * 100;
        let days_ago = rng.between(30, 3 * 365);
        PlannedAsset {
            tag: format!("{}-{:05}", kind.prefix, i + 1),
            name: kind.name.to_owned(),
            serial: format!("SN{:010}", rng.below(10_000_000_000)),
            model: (*rng.pick(kind.models)).to_owned(),
            category: kind.category,
            cost_cents,
            in_use_date: self.plan.until - chrono::Duration::days(days_ago),
            depreciation_months: (kind.prefix == LAPTOP.prefix).then_some(36),
            state,
        }
    }

    /// SOP `i`: the last one is still a draft.
    pub fn sop(&self, i: usize) -> PlannedSop {
        let base = SOP_TITLES[i % SOP_TITLES.len()];
        let title = match i / SOP_TITLES.len() {
            0 => base.to_owned(),
            n => format!("{base} ({})", n + 1),
        };
        PlannedSop {
            content: format!(
                "# {title}\n\n{company} procedure.\n\n1. Read this through.\n2. Follow the steps.\n3. Ask the operations team when in doubt.\n",
                company = self.plan.company
            ),
            title,
            published: i + 1 < self.sizes.sops,
        }
    }

    /// Ticket `i`, opened by one of the plan's people.
    pub fn ticket(&self, i: usize) -> PlannedTicket {
        let mut rng = Rng::stream(self.plan.seed, STREAM_TICKET, i as u64, 0);
        let (subject, description, category) = *rng.pick(TICKET_SUBJECTS);
        let people = self.plan.employees.len().max(1);
        PlannedTicket {
            category,
            subject: subject.to_owned(),
            description: description.to_owned(),
            priority: weighted(&mut rng, &[(0u8, 20), (1, 55), (2, 20), (3, 5)]),
            requester: rng.below(people as u64) as usize,
            status: weighted(&mut rng, STATUS_WEIGHTS),
        }
    }

    /// The helpdesk's team, queue and SLA policies. The agents are Engineering people (the
    /// plan's first ones after the administrator, when it has no Engineering): three in tier
    /// S, one per 50 people in bigger tiers, at most 25.
    pub fn helpdesk(&self) -> PlannedHelpdesk {
        let employees = &self.plan.employees;
        let wanted = (employees.len() / 50).clamp(3, 25);
        let engineering = self
            .plan
            .departments
            .iter()
            .position(|department| department.name == "Engineering");
        let mut members: Vec<usize> = (1..employees.len())
            .filter(|&i| Some(employees[i].department) == engineering)
            .take(wanted)
            .collect();
        if members.is_empty() {
            members = (1..employees.len()).take(wanted).collect();
        }
        let year = chrono::Datelike::year(&self.plan.until);
        let holidays = [(year, 12, 25), (year, 12, 26), (year + 1, 1, 1)]
            .into_iter()
            .filter_map(|(y, m, d)| chrono::NaiveDate::from_ymd_opt(y, m, d))
            .collect();
        let sla =
            |priority, first_response_minutes, update_minutes, resolution_minutes| PlannedSla {
                priority,
                first_response_minutes,
                update_minutes,
                resolution_minutes,
            };
        PlannedHelpdesk {
            team: "IT Support",
            members,
            queue: "IT requests",
            categories: IT_CATEGORIES,
            time_zone: "Europe/Berlin",
            business_hours: (9 * 60, 17 * 60),
            holidays,
            slas: [
                sla(0, 8 * 60, 16 * 60, 5 * 8 * 60),
                sla(1, 4 * 60, 8 * 60, 3 * 8 * 60),
                sla(2, 60, 4 * 60, 8 * 60),
                sla(3, 30, 60, 4 * 60),
            ],
        }
    }

    pub fn totals(&self) -> OpsTotals {
        let assets = self.assets();
        let states: Vec<PlannedAssetState> = (0..assets).map(|i| self.asset(i).state).collect();
        OpsTotals {
            assets,
            checked_out: states
                .iter()
                .filter(|s| matches!(s, PlannedAssetState::CheckedOutTo(_)))
                .count(),
            retired: states
                .iter()
                .filter(|s| **s == PlannedAssetState::Retired)
                .count(),
            sops: self.sizes.sops,
            published_sops: (0..self.sizes.sops)
                .filter(|&i| self.sop(i).published)
                .count(),
            tickets: self.sizes.tickets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(tier: Tier) -> SeedPlan {
        SeedPlan::new(
            tier,
            11,
            "Seed",
            "seed.example",
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        )
    }

    #[test]
    fn tier_s_has_a_laptop_per_person_and_a_small_helpdesk() {
        let plan = plan(Tier::S);
        let ops = plan.ops();
        let totals = ops.totals();
        assert_eq!(
            totals,
            OpsTotals {
                assets: 24,
                checked_out: 10,
                retired: 2,
                sops: 5,
                published_sops: 4,
                tickets: 30,
            }
        );
        assert_eq!(ops.asset(0).tag, "LAP-00001");
        assert_eq!(ops.asset(0).state, PlannedAssetState::CheckedOutTo(0));
        assert_eq!(
            ops.asset(0),
            plan.ops().asset(0),
            "the same seed, the same asset"
        );
        let tags: std::collections::BTreeSet<String> =
            (0..totals.assets).map(|i| ops.asset(i).tag).collect();
        assert_eq!(tags.len(), totals.assets, "tags are unique");
        assert!((0..totals.tickets).all(|i| ops.ticket(i).requester < 10));
        let helpdesk = ops.helpdesk();
        assert_eq!(helpdesk.members.len(), 3);
        assert!(helpdesk.members.iter().all(|&i| i > 0 && i < 10));
        assert_eq!(helpdesk.holidays.len(), 3);
        // Both kinds of ticket: routed to the IT queue and unrouted (facilities).
        let routed = (0..totals.tickets)
            .filter(|&i| helpdesk.categories.contains(&ops.ticket(i).category))
            .count();
        assert!(routed > 0 && routed < totals.tickets, "{routed}");
        for sla in helpdesk.slas {
            assert!(sla.first_response_minutes <= sla.update_minutes);
            assert!(sla.update_minutes <= sla.resolution_minutes);
        }
    }

    #[test]
    fn tier_l_has_the_depreciation_benchmarks_hundred_thousand_assets() {
        let plan = plan(Tier::L);
        let ops = plan.ops();
        assert_eq!(ops.assets(), 100_000);
        assert_eq!(ops.sizes.tickets, 60_000);
        assert_eq!(ops.helpdesk().members.len(), 25);
    }

    #[test]
    fn tier_m_proportions() {
        let plan = plan(Tier::M);
        let totals = plan.ops().totals();
        assert_eq!(totals.assets, 1_200);
        assert_eq!(totals.checked_out, 500);
        assert_eq!(totals.retired, 100);
        assert_eq!((totals.sops, totals.tickets), (24, 1_500));
    }
}
