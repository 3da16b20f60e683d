//! Segments: a dynamic segment is a filter tree over a contact's fields, status, topics,
//! consents, behaviour (opened, clicked) and membership of other segments; a static segment is
//! a list. Membership of a contact depends only on that contact's facts and on the segments it
//! references, so it is kept up to date incrementally: a contact change re-evaluates that one
//! contact in every segment (in dependency order), a segment change re-evaluates that segment
//! and the ones that depend on it. The full rebuild ([`rebuild`]) is the oracle the incremental
//! path is tested against.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use erp_kit::{ApiError, ApiResult};

use super::contact::ContactStatus;
use super::reasons;

/// How deep a filter tree may nest.
pub const MAX_DEPTH: usize = 8;

/// A contact field a condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    Email,
    FirstName,
    LastName,
    Country,
    CrmPersonId,
}

/// How a field condition compares (text comparisons ignore case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    Equals,
    Contains,
    EndsWith,
    IsSet,
}

/// A behaviour event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourKind {
    Opened,
    Clicked,
}

impl BehaviourKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BehaviourKind::Opened => "opened",
            BehaviourKind::Clicked => "clicked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "opened" => Some(BehaviourKind::Opened),
            "clicked" => Some(BehaviourKind::Clicked),
            _ => None,
        }
    }
}

/// A node of the filter tree (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Filter {
    /// Every child matches.
    All { of: Vec<Filter> },
    /// At least one child matches.
    Any { of: Vec<Filter> },
    /// The child does not match.
    Not { of: Box<Filter> },
    Field {
        field: ContactField,
        op: FieldOp,
        #[serde(default)]
        value: String,
    },
    /// The contact's status is this one.
    Status { status: String },
    /// The contact is subscribed to this topic.
    Topic { topic: String },
    /// The contact holds a granted consent for this purpose.
    Consent { purpose: String },
    /// The contact did this (in this campaign, when named).
    Behaviour {
        event: BehaviourKind,
        #[serde(default)]
        campaign_id: Option<String>,
    },
    /// The contact is a member of this segment.
    InSegment { segment_id: String },
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::SEGMENT_FILTER_INVALID, message).on_field("filter")
}

impl Filter {
    /// Checks the shape (non-empty groups, depth, values) and answers the segments and topics
    /// it references (the caller checks that they exist).
    pub fn check(&self) -> ApiResult<References> {
        let mut refs = References::default();
        self.check_at(1, &mut refs)?;
        Ok(refs)
    }

    fn check_at(&self, depth: usize, refs: &mut References) -> ApiResult<()> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "a filter nests at most {MAX_DEPTH} levels"
            )));
        }
        match self {
            Filter::All { of } | Filter::Any { of } => {
                if of.is_empty() {
                    return Err(invalid(
                        "an `all` or `any` group needs at least one condition",
                    ));
                }
                for child in of {
                    child.check_at(depth + 1, refs)?;
                }
            }
            Filter::Not { of } => of.check_at(depth + 1, refs)?,
            Filter::Field { op, value, .. } => {
                if *op != FieldOp::IsSet && value.trim().is_empty() {
                    return Err(invalid("a field condition needs a value (except IS_SET)"));
                }
            }
            Filter::Status { status } => {
                ContactStatus::parse(status)
                    .map_err(|_| invalid(format!("unknown status `{status}`")))?;
            }
            Filter::Topic { topic } => {
                refs.topics.insert(topic.clone());
            }
            Filter::Consent { purpose } => {
                if purpose.trim().is_empty() {
                    return Err(invalid("a consent condition needs a purpose"));
                }
            }
            Filter::Behaviour { .. } => {}
            Filter::InSegment { segment_id } => {
                refs.segments.insert(segment_id.clone());
            }
        }
        Ok(())
    }

    /// Whether `contact` matches, given its membership of the segments evaluated before.
    pub fn matches(&self, contact: &ContactFacts, member_of: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Filter::All { of } => of.iter().all(|f| f.matches(contact, member_of)),
            Filter::Any { of } => of.iter().any(|f| f.matches(contact, member_of)),
            Filter::Not { of } => !of.matches(contact, member_of),
            Filter::Field { field, op, value } => {
                let actual = match field {
                    ContactField::Email => contact.email.as_deref(),
                    ContactField::FirstName => contact.first_name.as_deref(),
                    ContactField::LastName => contact.last_name.as_deref(),
                    ContactField::Country => contact.country.as_deref(),
                    ContactField::CrmPersonId => contact.crm_person_id.as_deref(),
                };
                let Some(actual) = actual.filter(|a| !a.is_empty()) else {
                    return false;
                };
                let (actual, value) = (actual.to_lowercase(), value.to_lowercase());
                match op {
                    FieldOp::Equals => actual == value,
                    FieldOp::Contains => actual.contains(&value),
                    FieldOp::EndsWith => actual.ends_with(&value),
                    FieldOp::IsSet => true,
                }
            }
            Filter::Status { status } => contact.status.as_str() == status,
            Filter::Topic { topic } => contact.topics.contains(topic),
            Filter::Consent { purpose } => contact.consents.contains(purpose),
            Filter::Behaviour { event, campaign_id } => match campaign_id {
                Some(campaign) => contact
                    .behaviour
                    .contains(&(*event, Some(campaign.clone()))),
                None => contact.behaviour.iter().any(|(kind, _)| kind == event),
            },
            Filter::InSegment { segment_id } => member_of(segment_id),
        }
    }
}

/// What a filter refers to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    pub segments: BTreeSet<String>,
    pub topics: BTreeSet<String>,
}

/// What a segment's filter can read about a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFacts {
    pub id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub crm_person_id: Option<String>,
    pub status: ContactStatus,
    /// Topics the contact is subscribed to.
    pub topics: BTreeSet<String>,
    /// Purposes with a granted consent in force.
    pub consents: BTreeSet<String>,
    /// (event, campaign) pairs the contact did.
    pub behaviour: BTreeSet<(BehaviourKind, Option<String>)>,
}

/// A segment as membership needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentRule {
    Dynamic(Filter),
    /// A static list: its members.
    Static(BTreeSet<String>),
}

impl SegmentRule {
    fn references(&self) -> BTreeSet<String> {
        match self {
            SegmentRule::Dynamic(filter) => filter.check().map(|r| r.segments).unwrap_or_default(),
            SegmentRule::Static(_) => BTreeSet::new(),
        }
    }
}

/// The segments in dependency order (a segment after every segment it references), or
/// SEGMENT_CYCLE naming one segment on a cycle. References to unknown segments are ignored
/// (they match nobody).
pub fn dependency_order(references: &BTreeMap<String, BTreeSet<String>>) -> ApiResult<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        id: &str,
        references: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        order: &mut Vec<String>,
    ) -> ApiResult<()> {
        match marks.get(id) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                return Err(ApiError::rule(
                    reasons::SEGMENT_CYCLE,
                    format!("segment {id} would include itself through the segments it references"),
                ))
            }
            None => {}
        }
        marks.insert(id.to_owned(), Mark::Visiting);
        if let Some(children) = references.get(id) {
            for child in children {
                if references.contains_key(child) {
                    visit(child, references, marks, order)?;
                }
            }
        }
        marks.insert(id.to_owned(), Mark::Done);
        order.push(id.to_owned());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut order = Vec::with_capacity(references.len());
    for id in references.keys() {
        visit(id, references, &mut marks, &mut order)?;
    }
    Ok(order)
}

/// Every segment of a tenant, with their dependency order.
#[derive(Debug, Clone, Default)]
pub struct Segments {
    rules: BTreeMap<String, SegmentRule>,
    order: Vec<String>,
}

impl Segments {
    /// The segments, or SEGMENT_CYCLE.
    pub fn new(rules: BTreeMap<String, SegmentRule>) -> ApiResult<Self> {
        let references = rules
            .iter()
            .map(|(id, rule)| (id.clone(), rule.references()))
            .collect();
        let order = dependency_order(&references)?;
        Ok(Self { rules, order })
    }

    /// The segments `contact` belongs to (incremental: one contact, every segment).
    pub fn memberships_of(&self, contact: &ContactFacts) -> BTreeSet<String> {
        let mut member = BTreeSet::new();
        for id in &self.order {
            let is_member = match &self.rules[id] {
                SegmentRule::Static(members) => members.contains(&contact.id),
                SegmentRule::Dynamic(filter) => {
                    filter.matches(contact, &|segment| member.contains(segment))
                }
            };
            if is_member {
                member.insert(id.clone());
            }
        }
        member
    }

    /// The segments whose membership may change when `segment` changes: itself and every
    /// segment referencing it, directly or not, in dependency order.
    pub fn dependents_of(&self, segment: &str) -> Vec<String> {
        let mut affected: BTreeSet<String> = BTreeSet::from([segment.to_owned()]);
        let mut out = Vec::new();
        for id in &self.order {
            let hit = id == segment
                || self.rules[id]
                    .references()
                    .iter()
                    .any(|reference| affected.contains(reference));
            if hit {
                affected.insert(id.clone());
                out.push(id.clone());
            }
        }
        out
    }

    pub fn contains(&self, id: &str) -> bool {
        self.rules.contains_key(id)
    }
}

/// Membership of every segment, computed from scratch (the oracle).
pub fn rebuild(
    segments: &Segments,
    contacts: &[ContactFacts],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = segments
        .order
        .iter()
        .map(|id| (id.clone(), BTreeSet::new()))
        .collect();
    for contact in contacts {
        for segment in segments.memberships_of(contact) {
            out.entry(segment).or_default().insert(contact.id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn contact(id: &str) -> ContactFacts {
        ContactFacts {
            id: id.into(),
            email: Some(format!("{id}@example.com")),
            first_name: None,
            last_name: None,
            country: None,
            crm_person_id: None,
            status: ContactStatus::Subscribed,
            topics: BTreeSet::new(),
            consents: BTreeSet::new(),
            behaviour: BTreeSet::new(),
        }
    }

    fn field(field: ContactField, op: FieldOp, value: &str) -> Filter {
        Filter::Field {
            field,
            op,
            value: value.into(),
        }
    }

    #[test]
    fn filters_read_fields_topics_consents_behaviour_and_other_segments() {
        let mut ana = contact("ana");
        ana.country = Some("PT".into());
        ana.topics.insert("news".into());
        ana.behaviour
            .insert((BehaviourKind::Clicked, Some("m1".into())));
        let filter = Filter::All {
            of: vec![
                field(ContactField::Country, FieldOp::Equals, "pt"),
                Filter::Topic {
                    topic: "news".into(),
                },
                Filter::Behaviour {
                    event: BehaviourKind::Clicked,
                    campaign_id: None,
                },
                Filter::Not {
                    of: Box::new(Filter::Consent {
                        purpose: "x".into(),
                    }),
                },
                Filter::InSegment {
                    segment_id: "base".into(),
                },
            ],
        };
        assert!(filter.matches(&ana, &|s| s == "base"));
        assert!(!filter.matches(&ana, &|_| false));
        let campaign = Filter::Behaviour {
            event: BehaviourKind::Clicked,
            campaign_id: Some("m2".into()),
        };
        assert!(!campaign.matches(&ana, &|_| true));
        assert!(
            field(ContactField::Email, FieldOp::EndsWith, "@EXAMPLE.com").matches(&ana, &|_| true)
        );
        assert!(!field(ContactField::FirstName, FieldOp::IsSet, "").matches(&ana, &|_| true));
    }

    #[test]
    fn malformed_filters_are_refused() {
        let reason = |f: Filter| f.check().unwrap_err().reason();
        assert_eq!(
            reason(Filter::Any { of: vec![] }),
            Some(reasons::SEGMENT_FILTER_INVALID)
        );
        assert_eq!(
            reason(field(ContactField::Country, FieldOp::Equals, " ")),
            Some(reasons::SEGMENT_FILTER_INVALID)
        );
        assert_eq!(
            reason(Filter::Status {
                status: "vip".into()
            }),
            Some(reasons::SEGMENT_FILTER_INVALID)
        );
        let mut deep = Filter::Topic { topic: "t".into() };
        for _ in 0..MAX_DEPTH {
            deep = Filter::Not { of: Box::new(deep) };
        }
        assert_eq!(reason(deep), Some(reasons::SEGMENT_FILTER_INVALID));
    }

    #[test]
    fn cycles_are_refused_and_order_puts_references_first() {
        let refs = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
            pairs
                .iter()
                .map(|(id, r)| (id.to_string(), r.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        let order = dependency_order(&refs(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])).unwrap();
        assert_eq!(order, vec!["c", "b", "a"]);
        let err = dependency_order(&refs(&[("a", &["b"]), ("b", &["a"])])).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::SEGMENT_CYCLE));
        let err = dependency_order(&refs(&[("a", &["a"])])).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::SEGMENT_CYCLE));
    }

    /// The incremental path (a contact change re-evaluates that contact; a segment change
    /// re-evaluates that segment and its dependents) equals the full rebuild after every step
    /// of a seeded random sequence of contact, topic, consent, behaviour, list and segment
    /// changes.
    #[test]
    fn incremental_membership_equals_the_rebuild_for_random_sequences() {
        for seed in 0..40u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let countries = ["PT", "DE", "FR"];
            let topics = ["news", "offers"];
            let mut contacts: BTreeMap<String, ContactFacts> = BTreeMap::new();
            let mut rules: BTreeMap<String, SegmentRule> = BTreeMap::new();
            let mut stored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let random_filter = |rng: &mut StdRng, others: &[String]| -> Filter {
                let mut leaves = vec![
                    field(
                        ContactField::Country,
                        FieldOp::Equals,
                        countries[rng.random_range(0..3)],
                    ),
                    Filter::Topic {
                        topic: topics[rng.random_range(0..2)].into(),
                    },
                    Filter::Consent {
                        purpose: "email_marketing".into(),
                    },
                    Filter::Behaviour {
                        event: BehaviourKind::Opened,
                        campaign_id: None,
                    },
                    Filter::Status {
                        status: "subscribed".into(),
                    },
                ];
                if !others.is_empty() {
                    leaves.push(Filter::InSegment {
                        segment_id: others[rng.random_range(0..others.len())].clone(),
                    });
                }
                let a = leaves[rng.random_range(0..leaves.len())].clone();
                let b = leaves[rng.random_range(0..leaves.len())].clone();
                match rng.random_range(0..3) {
                    0 => Filter::All { of: vec![a, b] },
                    1 => Filter::Any {
                        of: vec![a, Filter::Not { of: Box::new(b) }],
                    },
                    _ => a,
                }
            };
            for step in 0..120 {
                let action = rng.random_range(0..8);
                let ids: Vec<String> = contacts.keys().cloned().collect();
                let mut changed_contact: Option<String> = None;
                let mut changed_segment: Option<String> = None;
                match action {
                    0 | 1 if contacts.len() < 25 => {
                        let id = format!("c{step}");
                        let mut c = contact(&id);
                        c.country = Some(countries[rng.random_range(0..3)].into());
                        contacts.insert(id.clone(), c);
                        changed_contact = Some(id);
                    }
                    2 if !ids.is_empty() => {
                        let id = ids[rng.random_range(0..ids.len())].clone();
                        let c = contacts.get_mut(&id).unwrap();
                        let t = topics[rng.random_range(0..2)].to_string();
                        if !c.topics.remove(&t) {
                            c.topics.insert(t);
                        }
                        changed_contact = Some(id);
                    }
                    3 if !ids.is_empty() => {
                        let id = ids[rng.random_range(0..ids.len())].clone();
                        let c = contacts.get_mut(&id).unwrap();
                        if !c.consents.remove("email_marketing") {
                            c.consents.insert("email_marketing".into());
                        }
                        c.status = if rng.random_bool(0.2) {
                            ContactStatus::Unsubscribed
                        } else {
                            ContactStatus::Subscribed
                        };
                        changed_contact = Some(id);
                    }
                    4 if !ids.is_empty() => {
                        let id = ids[rng.random_range(0..ids.len())].clone();
                        contacts
                            .get_mut(&id)
                            .unwrap()
                            .behaviour
                            .insert((BehaviourKind::Opened, Some("m".into())));
                        changed_contact = Some(id);
                    }
                    5 if rules.len() < 6 => {
                        let id = format!("s{step}");
                        let others: Vec<String> = rules.keys().cloned().collect();
                        let rule = if rng.random_bool(0.25) {
                            SegmentRule::Static(BTreeSet::new())
                        } else {
                            SegmentRule::Dynamic(random_filter(&mut rng, &others))
                        };
                        rules.insert(id.clone(), rule);
                        changed_segment = Some(id);
                    }
                    6 if !ids.is_empty() => {
                        // add a contact to a static list
                        let lists: Vec<String> = rules
                            .iter()
                            .filter(|(_, r)| matches!(r, SegmentRule::Static(_)))
                            .map(|(id, _)| id.clone())
                            .collect();
                        if let Some(list) = lists.first() {
                            let id = ids[rng.random_range(0..ids.len())].clone();
                            if let Some(SegmentRule::Static(members)) = rules.get_mut(list) {
                                if !members.remove(&id) {
                                    members.insert(id.clone());
                                }
                            }
                            changed_contact = Some(id);
                        }
                    }
                    7 if !rules.is_empty() => {
                        // redefine a dynamic segment over the ones before it (never a cycle)
                        let keys: Vec<String> = rules.keys().cloned().collect();
                        let pick = keys[rng.random_range(0..keys.len())].clone();
                        if matches!(rules[&pick], SegmentRule::Dynamic(_)) {
                            let earlier: Vec<String> =
                                keys.iter().filter(|k| **k < pick).cloned().collect();
                            let filter = random_filter(&mut rng, &earlier);
                            rules.insert(pick.clone(), SegmentRule::Dynamic(filter));
                            changed_segment = Some(pick);
                        }
                    }
                    _ => {}
                }
                let segments = Segments::new(rules.clone()).unwrap();
                // The incremental path, as the app runs it.
                if let Some(id) = changed_contact {
                    let now = segments.memberships_of(&contacts[&id]);
                    for (segment, members) in stored.iter_mut() {
                        if now.contains(segment) {
                            members.insert(id.clone());
                        } else {
                            members.remove(&id);
                        }
                    }
                    for segment in now {
                        stored.entry(segment).or_default().insert(id.clone());
                    }
                }
                if let Some(segment) = changed_segment {
                    for affected in segments.dependents_of(&segment) {
                        let members: BTreeSet<String> = contacts
                            .values()
                            .filter(|c| segments.memberships_of(c).contains(&affected))
                            .map(|c| c.id.clone())
                            .collect();
                        stored.insert(affected, members);
                    }
                }
                let oracle = rebuild(&segments, &contacts.values().cloned().collect::<Vec<_>>());
                for (segment, members) in &oracle {
                    let have = stored.get(segment).cloned().unwrap_or_default();
                    assert_eq!(&have, members, "seed {seed} step {step} segment {segment}");
                }
            }
        }
    }
}
