//! The marketing part of a plan: the company's marketing contacts with their consent, its
//! segments, a newsletter sent two weeks before the plan's end with its opens and clicks, and
//! a welcome journey, derived (like the rest of the plan) only from the seed number and the
//! plan.
//!
//! - Contacts: the CRM's leads first (the same people, the same addresses), then more people
//!   of the same companies; a country each; about four in five gave their consent to
//!   marketing e-mail (from the website's sign-up form, wording `v1`), the rest are pending.
//! - Segments: everyone with an address, Portugal, consented Iberians (a filter tree), the
//!   subscribed, and a static "VIP" list of the first contacts.
//! - The newsletter: a bulk template sent to everyone; the send-time rules decide who got it
//!   (the consented), about a third of them opened it and one in ten clicked.
//! - A welcome journey (a branch on whether the welcome was opened), active.
//!
//! Contacts are generated on demand from their index: tier L's million contacts need no
//! memory.

use crate::{Rng, SeedPlan, Tier, FIRST_NAMES, LAST_NAMES};

const STREAM_CONTACT: u64 = 30;

/// The seeded segments' names; the first one's presence in a tenant tells a load that the
/// marketing part was written.
pub const EVERYONE: &str = "Everyone";
pub const PORTUGAL: &str = "Portugal";
pub const IBERIA_CONSENTED: &str = "Iberia (consented)";
pub const SUBSCRIBED: &str = "Subscribed";
pub const VIP_LIST: &str = "VIP list";
/// The newsletter campaign's and the journey's names.
pub const NEWSLETTER: &str = "Seed newsletter";
pub const WELCOME_JOURNEY: &str = "Welcome";
/// The event that enrols a contact in the welcome journey.
pub const SIGNED_UP_EVENT: &str = "signed.up";
/// The consent the subscribed contacts gave.
pub const CONSENT_PURPOSE: &str = "email_marketing";
pub const CONSENT_SOURCE: &str = "seed:website-signup";
pub const CONSENT_WORDING: &str = "v1";

const COUNTRIES: &[&str] = &["PT", "ES", "NL", "DE", "FR", "IE", "IT"];

/// How much marketing a tier has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketingSizes {
    pub contacts: usize,
    /// Members of the static VIP list (the first contacts).
    pub vip: usize,
}

impl MarketingSizes {
    pub fn of(tier: Tier) -> Self {
        match tier {
            Tier::S => Self {
                contacts: 60,
                vip: 10,
            },
            Tier::M => Self {
                contacts: 20_000,
                vip: 50,
            },
            // The benchmark scale: a million contacts.
            Tier::L => Self {
                contacts: 1_000_000,
                vip: 200,
            },
        }
    }
}

/// A marketing contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedContact {
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub country: &'static str,
    /// Gave the marketing consent (subscribed); otherwise pending.
    pub consented: bool,
    /// Opened the newsletter (when it was sent to them).
    pub opened: bool,
    /// Clicked a link of it (and so opened it).
    pub clicked: bool,
}

/// What a seeded segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentRule {
    /// Every contact with an address.
    EmailSet,
    /// Contacts of this country.
    Country(&'static str),
    /// Consented contacts of one of these countries.
    ConsentedIn(&'static [&'static str]),
    /// Subscribed contacts.
    Subscribed,
    /// A static list of the first `n` contacts.
    FirstContacts(usize),
}

/// A seeded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSegment {
    pub name: &'static str,
    pub rule: SegmentRule,
}

impl PlannedSegment {
    /// Whether contact `i` belongs (the plan's own answer, an oracle for the subgraph's).
    pub fn holds(&self, i: usize, contact: &PlannedContact) -> bool {
        match self.rule {
            SegmentRule::EmailSet => true,
            SegmentRule::Country(country) => contact.country == country,
            SegmentRule::ConsentedIn(countries) => {
                contact.consented && countries.contains(&contact.country)
            }
            SegmentRule::Subscribed => contact.consented,
            SegmentRule::FirstContacts(n) => i < n,
        }
    }
}

/// The plan's marketing.
#[derive(Debug, Clone)]
pub struct MarketingPlan {
    pub sizes: MarketingSizes,
    pub segments: Vec<PlannedSegment>,
    seed: u64,
    domain: String,
    /// The CRM's leads (the first contacts are those people).
    leads: Vec<String>,
}

/// How many rows a complete marketing part writes, and what its segments and newsletter hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketingTotals {
    pub contacts: usize,
    pub consented: usize,
    /// (segment name, members).
    pub members: Vec<(&'static str, usize)>,
    /// Newsletter messages sent (to the consented), skipped (the rest), opened, clicked.
    pub sent: usize,
    pub skipped: usize,
    pub opened: usize,
    pub clicked: usize,
    pub templates: usize,
    pub journeys: usize,
}

/// The bulk templates: (name, subject).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("Newsletter", "News for you, {{first_name}}"),
    ("Welcome", "Welcome, {{first_name}}"),
    ("Tips", "Three tips for {{first_name}}"),
    ("Reminder", "Still there, {{first_name}}?"),
];

impl SeedPlan {
    /// The plan's marketing (see the module comment).
    pub fn marketing(&self) -> MarketingPlan {
        let sizes = MarketingSizes::of(self.tier);
        let crm = self.crm();
        let leads = (0..crm.totals().leads.min(sizes.contacts))
            .map(|i| crm.lead(i).email)
            .collect();
        MarketingPlan {
            sizes,
            segments: vec![
                PlannedSegment {
                    name: EVERYONE,
                    rule: SegmentRule::EmailSet,
                },
                PlannedSegment {
                    name: PORTUGAL,
                    rule: SegmentRule::Country("PT"),
                },
                PlannedSegment {
                    name: IBERIA_CONSENTED,
                    rule: SegmentRule::ConsentedIn(&["PT", "ES"]),
                },
                PlannedSegment {
                    name: SUBSCRIBED,
                    rule: SegmentRule::Subscribed,
                },
                PlannedSegment {
                    name: VIP_LIST,
                    rule: SegmentRule::FirstContacts(sizes.vip.min(sizes.contacts)),
                },
            ],
            seed: self.seed,
            domain: self.domain.clone(),
            leads,
        }
    }
}

impl MarketingPlan {
    /// Contact `i` (`0..sizes.contacts`).
    pub fn contact(&self, i: usize) -> PlannedContact {
        let mut rng = Rng::stream(self.seed, STREAM_CONTACT, i as u64, 0);
        let first_name = *rng.pick(FIRST_NAMES);
        let last_name = *rng.pick(LAST_NAMES);
        let country = *rng.pick(COUNTRIES);
        let consented = rng.chance(0.8);
        let clicked = rng.chance(0.1);
        let opened = clicked || rng.chance(0.3);
        let local = |name: &str| -> String {
            name.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_lowercase()
        };
        let email = match self.leads.get(i) {
            Some(lead) => lead.clone(),
            None => format!(
                "{}.{}.m{i}@news-{}",
                local(first_name),
                local(last_name),
                self.domain
            ),
        };
        PlannedContact {
            email,
            first_name,
            last_name,
            country,
            consented,
            opened,
            clicked,
        }
    }

    /// The counts a complete load writes (one pass over the contacts).
    pub fn totals(&self) -> MarketingTotals {
        let mut members = vec![0usize; self.segments.len()];
        let (mut consented, mut opened, mut clicked) = (0, 0, 0);
        for i in 0..self.sizes.contacts {
            let contact = self.contact(i);
            for (n, segment) in self.segments.iter().enumerate() {
                members[n] += usize::from(segment.holds(i, &contact));
            }
            if contact.consented {
                consented += 1;
                opened += usize::from(contact.opened);
                clicked += usize::from(contact.clicked);
            }
        }
        MarketingTotals {
            contacts: self.sizes.contacts,
            consented,
            members: self.segments.iter().map(|s| s.name).zip(members).collect(),
            sent: consented,
            skipped: self.sizes.contacts - consented,
            opened,
            clicked,
            templates: TEMPLATES.len(),
            journeys: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_marketing_plan_is_stable_and_consistent() {
        let until = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let plan = SeedPlan::new(Tier::S, 11, "Seed S", "seeds.example", until);
        let marketing = plan.marketing();
        assert_eq!(marketing.contact(7), plan.marketing().contact(7));
        let totals = marketing.totals();
        assert_eq!(totals.contacts, 60);
        assert!(totals.consented > 30 && totals.consented < 60, "{totals:?}");
        assert_eq!(totals.sent + totals.skipped, totals.contacts);
        assert!(totals.clicked <= totals.opened);
        // The first contacts are the CRM's leads.
        assert_eq!(marketing.contact(0).email, plan.crm().lead(0).email);
        let emails: std::collections::HashSet<String> =
            (0..60).map(|i| marketing.contact(i).email).collect();
        assert_eq!(emails.len(), 60, "addresses are unique");
        assert_eq!(totals.members[0], (EVERYONE, 60));
        assert_eq!(totals.members[4], (VIP_LIST, 10));
    }
}
