//! Leads: their lifecycle (`new -> contacted -> qualified -> converted`, or `disqualified`
//! with a reason), activities, rule-based scoring and the assignment rules that give a new
//! lead its owner (round robin, by territory, by capacity).

use std::collections::HashMap;

use erp_kit::{Reason, RuleViolation};

use super::reasons;

/// Where a lead is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadStatus {
    New,
    Contacted,
    Qualified,
    /// Became a client company, a contact person and an opportunity (terminal).
    Converted,
    /// Not worth pursuing, with a reason (it may be reopened as new).
    Disqualified,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Converted => "converted",
            LeadStatus::Disqualified => "disqualified",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "new" => Some(LeadStatus::New),
            "contacted" => Some(LeadStatus::Contacted),
            "qualified" => Some(LeadStatus::Qualified),
            "converted" => Some(LeadStatus::Converted),
            "disqualified" => Some(LeadStatus::Disqualified),
            _ => None,
        }
    }

    /// Whether the lead is still being worked (counts against an owner's capacity).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            LeadStatus::New | LeadStatus::Contacted | LeadStatus::Qualified
        )
    }

    /// The status after `to`, if the lifecycle allows it.
    pub fn change_to(self, to: LeadStatus) -> Result<LeadStatus, LeadTransition> {
        use LeadStatus::*;
        let allowed = match (self, to) {
            (Converted, _) => return Err(LeadTransition::AlreadyConverted),
            (New, Contacted) | (Contacted, Qualified) | (Qualified, Converted) => true,
            (New | Contacted | Qualified, Disqualified) => true,
            (Disqualified, New) => true,
            _ => false,
        };
        if allowed {
            Ok(to)
        } else {
            Err(LeadTransition::NotAllowed { from: self, to })
        }
    }
}

/// A lead status change the lifecycle refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadTransition {
    /// Converted leads are done: converting twice, or changing one afterwards.
    AlreadyConverted,
    NotAllowed {
        from: LeadStatus,
        to: LeadStatus,
    },
}

impl RuleViolation for LeadTransition {
    fn reason(&self) -> Reason {
        match self {
            LeadTransition::AlreadyConverted => reasons::LEAD_ALREADY_CONVERTED,
            LeadTransition::NotAllowed { .. } => reasons::LEAD_TRANSITION_NOT_ALLOWED,
        }
    }

    fn message(&self) -> String {
        match self {
            LeadTransition::AlreadyConverted => {
                "the lead is converted already: work on its client and opportunity".into()
            }
            LeadTransition::NotAllowed { from, to } => format!(
                "a {} lead cannot become {} (new -> contacted -> qualified -> converted, or disqualified; a disqualified lead may be reopened as new)",
                from.as_str(),
                to.as_str()
            ),
        }
    }
}

/// How the lead came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadSource {
    Website,
    Referral,
    Event,
    Campaign,
    ColdOutreach,
    Partner,
    Import,
    Other,
}

impl LeadSource {
    pub const ALL: [LeadSource; 8] = [
        LeadSource::Website,
        LeadSource::Referral,
        LeadSource::Event,
        LeadSource::Campaign,
        LeadSource::ColdOutreach,
        LeadSource::Partner,
        LeadSource::Import,
        LeadSource::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::Website => "website",
            LeadSource::Referral => "referral",
            LeadSource::Event => "event",
            LeadSource::Campaign => "campaign",
            LeadSource::ColdOutreach => "cold_outreach",
            LeadSource::Partner => "partner",
            LeadSource::Import => "import",
            LeadSource::Other => "other",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == text)
    }
}

/// What kind of touch an activity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    Call,
    Email,
    Meeting,
    Task,
    Note,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Call,
        ActivityKind::Email,
        ActivityKind::Meeting,
        ActivityKind::Task,
        ActivityKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Email => "email",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Task => "task",
            ActivityKind::Note => "note",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// What a scoring rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoringCriterion {
    /// The lead's source equals the rule's value (a [`LeadSource`] name).
    Source,
    /// `utm_source` equals the value (case-insensitive).
    UtmSource,
    /// `utm_medium` equals the value (case-insensitive).
    UtmMedium,
    /// `utm_campaign` equals the value (case-insensitive).
    UtmCampaign,
    /// The territory equals the value (case-insensitive).
    Territory,
    /// The lead has an e-mail address.
    HasEmail,
    /// The lead has a phone number.
    HasPhone,
    /// The e-mail address is on a company domain (not a free mail provider's).
    BusinessEmail,
    /// The lead names its company.
    HasCompany,
    /// Per activity of the kind named by the value (a [`ActivityKind`] name).
    Activity,
}

impl ScoringCriterion {
    pub const ALL: [ScoringCriterion; 10] = [
        ScoringCriterion::Source,
        ScoringCriterion::UtmSource,
        ScoringCriterion::UtmMedium,
        ScoringCriterion::UtmCampaign,
        ScoringCriterion::Territory,
        ScoringCriterion::HasEmail,
        ScoringCriterion::HasPhone,
        ScoringCriterion::BusinessEmail,
        ScoringCriterion::HasCompany,
        ScoringCriterion::Activity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScoringCriterion::Source => "source",
            ScoringCriterion::UtmSource => "utm_source",
            ScoringCriterion::UtmMedium => "utm_medium",
            ScoringCriterion::UtmCampaign => "utm_campaign",
            ScoringCriterion::Territory => "territory",
            ScoringCriterion::HasEmail => "has_email",
            ScoringCriterion::HasPhone => "has_phone",
            ScoringCriterion::BusinessEmail => "business_email",
            ScoringCriterion::HasCompany => "has_company",
            ScoringCriterion::Activity => "activity",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether the criterion compares with a value (and so needs one).
    pub fn takes_value(self) -> bool {
        matches!(
            self,
            ScoringCriterion::Source
                | ScoringCriterion::UtmSource
                | ScoringCriterion::UtmMedium
                | ScoringCriterion::UtmCampaign
                | ScoringCriterion::Territory
                | ScoringCriterion::Activity
        )
    }
}

/// One scoring rule: `points` when `criterion` (with `value`) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoringRule {
    pub criterion: ScoringCriterion,
    pub value: Option<String>,
    pub points: i32,
}

/// Points a rule may give or take.
pub const MAX_RULE_POINTS: i32 = 1000;
/// A score stays within 0..=MAX_SCORE.
pub const MAX_SCORE: i32 = 1000;

/// Checks a new rule: a value where the criterion compares with one (a known source or
/// activity kind where it names one), none otherwise, and points within ±[`MAX_RULE_POINTS`].
pub fn check_scoring_rule(rule: &ScoringRule) -> Result<(), (&'static str, String)> {
    if rule.points == 0 || rule.points.abs() > MAX_RULE_POINTS {
        return Err((
            "points",
            format!("points are -{MAX_RULE_POINTS} to {MAX_RULE_POINTS}, not 0"),
        ));
    }
    match (&rule.value, rule.criterion.takes_value()) {
        (None, true) => Err((
            "value",
            format!("the criterion {} needs a value", rule.criterion.as_str()),
        )),
        (Some(_), false) => Err((
            "value",
            format!("the criterion {} takes no value", rule.criterion.as_str()),
        )),
        (Some(value), true) => {
            let known = match rule.criterion {
                ScoringCriterion::Source => LeadSource::from_db(value).is_some(),
                ScoringCriterion::Activity => ActivityKind::from_db(value).is_some(),
                _ => !value.trim().is_empty(),
            };
            if known {
                Ok(())
            } else {
                Err((
                    "value",
                    format!("`{value}` is not a value of {}", rule.criterion.as_str()),
                ))
            }
        }
        (None, false) => Ok(()),
    }
}

/// What scoring looks at on a lead.
#[derive(Debug, Clone, Default)]
pub struct LeadFacts {
    pub source: Option<LeadSource>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub territory: Option<String>,
    pub has_email: bool,
    pub has_phone: bool,
    pub business_email: bool,
    pub has_company: bool,
    /// Activities logged on the lead, per kind.
    pub activities: HashMap<ActivityKind, u32>,
}

/// The lead's score: the sum of the points of every rule that holds, within 0..=MAX_SCORE.
/// Recomputed on every change of the lead or its activities.
pub fn score(facts: &LeadFacts, rules: &[ScoringRule]) -> i32 {
    let equals = |have: &Option<String>, want: &Option<String>| match (have, want) {
        (Some(have), Some(want)) => have.eq_ignore_ascii_case(want.trim()),
        _ => false,
    };
    let total: i64 = rules
        .iter()
        .map(|rule| {
            let times: i64 = match rule.criterion {
                ScoringCriterion::Source => i64::from(
                    facts.source.map(LeadSource::as_str) == rule.value.as_deref()
                        && facts.source.is_some(),
                ),
                ScoringCriterion::UtmSource => i64::from(equals(&facts.utm_source, &rule.value)),
                ScoringCriterion::UtmMedium => i64::from(equals(&facts.utm_medium, &rule.value)),
                ScoringCriterion::UtmCampaign => {
                    i64::from(equals(&facts.utm_campaign, &rule.value))
                }
                ScoringCriterion::Territory => i64::from(equals(&facts.territory, &rule.value)),
                ScoringCriterion::HasEmail => i64::from(facts.has_email),
                ScoringCriterion::HasPhone => i64::from(facts.has_phone),
                ScoringCriterion::BusinessEmail => i64::from(facts.business_email),
                ScoringCriterion::HasCompany => i64::from(facts.has_company),
                ScoringCriterion::Activity => rule
                    .value
                    .as_deref()
                    .and_then(ActivityKind::from_db)
                    .and_then(|kind| facts.activities.get(&kind))
                    .map_or(0, |count| i64::from(*count)),
            };
            times * i64::from(rule.points)
        })
        .sum();
    total.clamp(0, i64::from(MAX_SCORE)) as i32
}

/// How an assignment rule picks an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentStrategy {
    /// The members take turns.
    RoundRobin,
    /// For leads of the rule's territory only; its members take turns.
    Territory,
    /// The member with the fewest open leads, below the rule's capacity.
    Capacity,
}

impl AssignmentStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStrategy::RoundRobin => "round_robin",
            AssignmentStrategy::Territory => "territory",
            AssignmentStrategy::Capacity => "capacity",
        }
    }

    pub fn from_db(text: &str) -> Option<Self> {
        match text {
            "round_robin" => Some(AssignmentStrategy::RoundRobin),
            "territory" => Some(AssignmentStrategy::Territory),
            "capacity" => Some(AssignmentStrategy::Capacity),
            _ => None,
        }
    }
}

/// An assignment rule as the router of new leads sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRule {
    pub id: String,
    pub strategy: AssignmentStrategy,
    pub territory: Option<String>,
    /// User ids in turn order.
    pub members: Vec<String>,
    pub capacity: Option<i32>,
    /// Round robin and territory: the index of the member whose turn is next.
    pub next_turn: i64,
}

/// The owner an assignment gives a new lead, and the rule's next turn to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub rule_id: String,
    pub owner_id: String,
    pub next_turn: i64,
}

/// Checks a new rule: members given (at most 200, no repeats), a territory exactly for the
/// territory strategy, a capacity of 1 to 100,000 exactly for the capacity strategy.
pub fn check_assignment_rule(rule: &AssignmentRule) -> Result<(), (&'static str, String)> {
    if rule.members.is_empty() || rule.members.len() > 200 {
        return Err(("members", "a rule has 1 to 200 members".into()));
    }
    let mut seen = std::collections::HashSet::new();
    if !rule.members.iter().all(|member| seen.insert(member)) {
        return Err(("members", "a member is listed twice".into()));
    }
    match (rule.strategy, &rule.territory) {
        (AssignmentStrategy::Territory, None) => {
            return Err(("territory", "a territory rule names its territory".into()))
        }
        (AssignmentStrategy::RoundRobin | AssignmentStrategy::Capacity, Some(_)) => {
            return Err((
                "territory",
                "only a territory rule names a territory".into(),
            ))
        }
        _ => {}
    }
    match (rule.strategy, rule.capacity) {
        (AssignmentStrategy::Capacity, None) => {
            Err(("capacity", "a capacity rule gives the capacity".into()))
        }
        (AssignmentStrategy::Capacity, Some(capacity)) if !(1..=100_000).contains(&capacity) => {
            Err(("capacity", "the capacity is 1 to 100000 open leads".into()))
        }
        (AssignmentStrategy::RoundRobin | AssignmentStrategy::Territory, Some(_)) => {
            Err(("capacity", "only a capacity rule gives a capacity".into()))
        }
        _ => Ok(()),
    }
}

/// The owner of a new lead: the first rule (in priority order) that applies and has an
/// available member gives it. A territory rule applies to leads of its territory; round robin
/// and capacity rules to every lead. Members who left (`available` false) are skipped; a
/// capacity rule skips members at capacity (`open_leads`) and picks the least loaded (the
/// earlier member on a tie). `None`: no rule could assign (the lead stays unassigned).
pub fn assign(
    territory: Option<&str>,
    rules: &[AssignmentRule],
    available: impl Fn(&str) -> bool,
    open_leads: impl Fn(&str) -> i64,
) -> Option<Assignment> {
    for rule in rules {
        let applies = match rule.strategy {
            AssignmentStrategy::Territory => match (territory, &rule.territory) {
                (Some(lead), Some(rule)) => lead.trim().eq_ignore_ascii_case(rule.trim()),
                _ => false,
            },
            AssignmentStrategy::RoundRobin | AssignmentStrategy::Capacity => true,
        };
        if !applies || rule.members.is_empty() {
            continue;
        }
        match rule.strategy {
            AssignmentStrategy::RoundRobin | AssignmentStrategy::Territory => {
                let count = rule.members.len() as i64;
                let start = rule.next_turn.rem_euclid(count);
                let picked = (0..count)
                    .map(|offset| (start + offset) % count)
                    .find(|&index| available(&rule.members[index as usize]));
                if let Some(index) = picked {
                    return Some(Assignment {
                        rule_id: rule.id.clone(),
                        owner_id: rule.members[index as usize].clone(),
                        next_turn: (index + 1) % count,
                    });
                }
            }
            AssignmentStrategy::Capacity => {
                let capacity = i64::from(rule.capacity.unwrap_or(0));
                let picked = rule
                    .members
                    .iter()
                    .filter(|member| available(member))
                    .map(|member| (open_leads(member), member))
                    .filter(|(load, _)| *load < capacity)
                    .min_by_key(|(load, _)| *load);
                if let Some((_, member)) = picked {
                    return Some(Assignment {
                        rule_id: rule.id.clone(),
                        owner_id: member.clone(),
                        next_turn: rule.next_turn,
                    });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_lifecycle() {
        use LeadStatus::*;
        assert_eq!(New.change_to(Contacted), Ok(Contacted));
        assert_eq!(Contacted.change_to(Qualified), Ok(Qualified));
        assert_eq!(Qualified.change_to(Converted), Ok(Converted));
        assert_eq!(New.change_to(Disqualified), Ok(Disqualified));
        assert_eq!(Disqualified.change_to(New), Ok(New));
        assert_eq!(
            Converted.change_to(Converted),
            Err(LeadTransition::AlreadyConverted)
        );
        assert_eq!(
            Converted.change_to(Disqualified),
            Err(LeadTransition::AlreadyConverted)
        );
        for (from, to) in [
            (New, Converted),
            (New, Qualified),
            (Contacted, Converted),
            (Qualified, Contacted),
            (Disqualified, Qualified),
        ] {
            assert_eq!(
                from.change_to(to),
                Err(LeadTransition::NotAllowed { from, to }),
                "{from:?} -> {to:?}"
            );
        }
    }

    fn rule(criterion: ScoringCriterion, value: Option<&str>, points: i32) -> ScoringRule {
        ScoringRule {
            criterion,
            value: value.map(str::to_owned),
            points,
        }
    }

    #[test]
    fn scores_sum_the_rules_that_hold() {
        let rules = vec![
            rule(ScoringCriterion::Source, Some("referral"), 30),
            rule(ScoringCriterion::UtmCampaign, Some("Spring"), 10),
            rule(ScoringCriterion::BusinessEmail, None, 20),
            rule(ScoringCriterion::Activity, Some("meeting"), 15),
            rule(ScoringCriterion::HasPhone, None, -5),
        ];
        let mut facts = LeadFacts {
            source: Some(LeadSource::Referral),
            utm_campaign: Some("spring".into()),
            business_email: true,
            has_phone: true,
            ..Default::default()
        };
        assert_eq!(score(&facts, &rules), 30 + 10 + 20 - 5);
        facts.activities.insert(ActivityKind::Meeting, 2);
        assert_eq!(score(&facts, &rules), 55 + 30);
        // Clamped at zero.
        assert_eq!(
            score(
                &LeadFacts {
                    has_phone: true,
                    ..Default::default()
                },
                &rules
            ),
            0
        );
    }

    #[test]
    fn scoring_rules_are_checked() {
        assert!(check_scoring_rule(&rule(ScoringCriterion::Source, Some("referral"), 5)).is_ok());
        assert_eq!(
            check_scoring_rule(&rule(ScoringCriterion::Source, Some("fax"), 5))
                .unwrap_err()
                .0,
            "value"
        );
        assert_eq!(
            check_scoring_rule(&rule(ScoringCriterion::HasEmail, Some("x"), 5))
                .unwrap_err()
                .0,
            "value"
        );
        assert_eq!(
            check_scoring_rule(&rule(ScoringCriterion::HasEmail, None, 0))
                .unwrap_err()
                .0,
            "points"
        );
    }

    fn assignment_rule(
        id: &str,
        strategy: AssignmentStrategy,
        territory: Option<&str>,
        members: &[&str],
        capacity: Option<i32>,
        next_turn: i64,
    ) -> AssignmentRule {
        AssignmentRule {
            id: id.into(),
            strategy,
            territory: territory.map(str::to_owned),
            members: members.iter().map(|m| m.to_string()).collect(),
            capacity,
            next_turn,
        }
    }

    #[test]
    fn assignment_takes_the_first_rule_that_can_assign() {
        let rules = vec![
            assignment_rule(
                "t",
                AssignmentStrategy::Territory,
                Some("EMEA"),
                &["e1", "e2"],
                None,
                1,
            ),
            assignment_rule(
                "c",
                AssignmentStrategy::Capacity,
                None,
                &["c1", "c2"],
                Some(2),
                0,
            ),
            assignment_rule(
                "r",
                AssignmentStrategy::RoundRobin,
                None,
                &["r1", "r2"],
                None,
                0,
            ),
        ];
        let everyone = |_: &str| true;
        let load = |member: &str| match member {
            "c1" => 2,
            "c2" => 1,
            _ => 0,
        };
        // Territory: e2's turn.
        let picked = assign(Some("emea"), &rules, everyone, load).unwrap();
        assert_eq!(
            (
                picked.rule_id.as_str(),
                picked.owner_id.as_str(),
                picked.next_turn
            ),
            ("t", "e2", 0)
        );
        // Another territory: capacity, c1 is full.
        let picked = assign(Some("APAC"), &rules, everyone, load).unwrap();
        assert_eq!(
            (picked.rule_id.as_str(), picked.owner_id.as_str()),
            ("c", "c2")
        );
        // Everyone at capacity: round robin.
        let full = |_: &str| 5;
        let picked = assign(None, &rules, everyone, full).unwrap();
        assert_eq!(
            (
                picked.rule_id.as_str(),
                picked.owner_id.as_str(),
                picked.next_turn
            ),
            ("r", "r1", 1)
        );
        // Members who left are skipped; nobody left at all: unassigned.
        let only_r2 = |member: &str| member == "r2";
        let picked = assign(None, &rules, only_r2, full).unwrap();
        assert_eq!(picked.owner_id, "r2");
        assert_eq!(assign(None, &rules, |_: &str| false, full), None);
    }

    #[test]
    fn assignment_rules_are_checked() {
        let ok = assignment_rule("a", AssignmentStrategy::Capacity, None, &["u"], Some(3), 0);
        assert!(check_assignment_rule(&ok).is_ok());
        let bad = [
            (
                assignment_rule("a", AssignmentStrategy::RoundRobin, None, &[], None, 0),
                "members",
            ),
            (
                assignment_rule(
                    "a",
                    AssignmentStrategy::RoundRobin,
                    None,
                    &["u", "u"],
                    None,
                    0,
                ),
                "members",
            ),
            (
                assignment_rule("a", AssignmentStrategy::Territory, None, &["u"], None, 0),
                "territory",
            ),
            (
                assignment_rule(
                    "a",
                    AssignmentStrategy::RoundRobin,
                    Some("x"),
                    &["u"],
                    None,
                    0,
                ),
                "territory",
            ),
            (
                assignment_rule("a", AssignmentStrategy::Capacity, None, &["u"], None, 0),
                "capacity",
            ),
            (
                assignment_rule("a", AssignmentStrategy::Capacity, None, &["u"], Some(0), 0),
                "capacity",
            ),
            (
                assignment_rule(
                    "a",
                    AssignmentStrategy::RoundRobin,
                    None,
                    &["u"],
                    Some(3),
                    0,
                ),
                "capacity",
            ),
        ];
        for (rule, field) in bad {
            assert_eq!(
                check_assignment_rule(&rule).unwrap_err().0,
                field,
                "{rule:?}"
            );
        }
    }
}
