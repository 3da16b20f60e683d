//! The marketing part of a load: the plan's marketing ([`SeedPlan::marketing`]) through the
//! marketing subgraph's own use cases, acting as the tenant's administrator:
//!
//! - the bulk templates (`create_template`, tokens checked) and the segments first
//!   (`create_segment`: filter trees checked), so every contact written after joins them
//!   through the incremental membership (the path a live write takes);
//! - the contacts (`create_contact`, then `record_consent` for those who consented: the
//!   consent record with its purpose, lawful basis, source and wording version subscribes
//!   them), or, at tier L (a million contacts) and with [`LoadOptions::marketing_bulk`], the
//!   same contacts, consent records and segment membership through the bulk load
//!   (`load_contacts`: [`CONTACT_BATCH`] contacts a transaction, JSON-batched inserts on
//!   PostgreSQL, the membership the segments' rules give; tests/tests/marketing.rs proves it
//!   leaves what the use cases leave); then the static VIP list (`set_list_member`);
//! - the newsletter, sent two weeks before the plan's end (`record_sent_campaign`: the
//!   send-time rules decide who got it; history, so nothing goes to a relay and no event is
//!   published), with the plan's opens and clicks;
//! - the welcome journey (`create_journey`, `move_journey` to active).
//!
//! Resume: the part is written once per tenant; a load that finds the seeded "Everyone"
//! segment counts the marketing as written already (like the CRM part, an interrupted
//! marketing part is not completed by `--resume`).

use std::collections::HashMap;

use anyhow::Context;
use chrono::NaiveTime;
use futures::{StreamExt, TryStreamExt};

use erp_kit::TenantId;
use erp_marketing::app::bulk::{LoadedConsent, LoadedContact};
use erp_marketing::app::campaigns::{CampaignFields, NewTemplate, PastEngagement};
use erp_marketing::app::contacts::{NewConsent, NewContact};
use erp_marketing::app::journeys::NewJourney;
use erp_marketing::app::segments::SegmentKind;
use erp_marketing::domain::contact::LawfulBasis;
use erp_marketing::domain::journey::{Check, JourneyStatus, Step, Trigger, TriggerKind};
use erp_marketing::domain::segment::{ContactField, FieldOp, Filter};
use erp_marketing::domain::template::TemplateKind;
use erp_marketing::Marketing;

use super::{api, LoadOptions, LoadReport, Progress};
use crate::seed::marketing::{
    SegmentRule, CONSENT_PURPOSE, CONSENT_SOURCE, CONSENT_WORDING, EVERYONE, NEWSLETTER,
    SIGNED_UP_EVENT, TEMPLATES, WELCOME_JOURNEY,
};
use crate::seed::{SeedPlan, Tier};

/// The phases of the marketing part (their names in the load's report).
pub const SEGMENTS: &str = "marketing: templates, segments";
pub const CONTACTS: &str = "marketing: contacts";
pub const LIST: &str = "marketing: static list";
pub const NEWSLETTER_PHASE: &str = "marketing: newsletter history";
pub const JOURNEYS: &str = "marketing: journeys";

/// Contacts per bulk load call (one transaction each).
pub const CONTACT_BATCH: usize = 5_000;
/// Bulk load calls in flight at once (at most).
const BULK_IN_FLIGHT: usize = 4;

/// Writes the plan's marketing into the tenant (see the module comment).
pub async fn load_marketing(
    plan: &SeedPlan,
    marketing: &Marketing,
    tenant_id: &str,
    actor: &str,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let mkt = plan.marketing();
    let totals = mkt.totals();
    let tenant = TenantId::from_claim(tenant_id);
    let segment_rows = TEMPLATES.len() + mkt.segments.len();
    let list_size = mkt
        .segments
        .iter()
        .find_map(|s| match s.rule {
            SegmentRule::FirstContacts(n) => Some(n),
            _ => None,
        })
        .unwrap_or(0);

    let progress = Progress::start(SEGMENTS, segment_rows, options.progress);
    let existing = marketing
        .segments(&tenant)
        .await
        .map_err(api)?
        .into_iter()
        .any(|segment| segment.name == EVERYONE);
    if existing {
        progress.finish_with(report, 0);
        for (phase, rows) in [
            (CONTACTS, totals.contacts),
            (LIST, list_size),
            (NEWSLETTER_PHASE, totals.sent),
            (JOURNEYS, totals.journeys),
        ] {
            Progress::start(phase, rows, options.progress).finish_with(report, 0);
        }
        report.marketing_contacts = totals.contacts;
        report.marketing_segments = mkt.segments.len();
        report.newsletter_sent = totals.sent;
        report.journeys = totals.journeys;
        return Ok(());
    }
    let mut template_ids = Vec::with_capacity(TEMPLATES.len());
    for (name, subject) in TEMPLATES {
        let template = marketing
            .create_template(
                &tenant,
                NewTemplate {
                    name: (*name).into(),
                    kind: TemplateKind::Bulk,
                    subject: (*subject).into(),
                    html: format!(
                        "<p>Hello {{{{first_name}}}},</p><p>{name} from {}.</p>\
                         <p><a href=\"https://{}/\">Read more</a></p>\
                         <p><a href=\"{{{{unsubscribe_url}}}}\">Unsubscribe</a></p>",
                        plan.company, plan.domain
                    ),
                    text: format!(
                        "Hello {{{{first_name}}}}, {name} from {}. Unsubscribe: {{{{unsubscribe_url}}}}",
                        plan.company
                    ),
                },
            )
            .await
            .map_err(api)
            .with_context(|| format!("the template {name}"))?;
        template_ids.push(template.id);
    }
    let mut segment_ids = HashMap::new();
    for segment in &mkt.segments {
        let field = |field, op, value: &str| Filter::Field {
            field,
            op,
            value: value.to_owned(),
        };
        let (kind, filter) = match segment.rule {
            SegmentRule::EmailSet => (
                SegmentKind::Dynamic,
                Some(field(ContactField::Email, FieldOp::IsSet, "")),
            ),
            SegmentRule::Country(country) => (
                SegmentKind::Dynamic,
                Some(field(ContactField::Country, FieldOp::Equals, country)),
            ),
            SegmentRule::ConsentedIn(countries) => (
                SegmentKind::Dynamic,
                Some(Filter::All {
                    of: vec![
                        Filter::Any {
                            of: countries
                                .iter()
                                .map(|c| field(ContactField::Country, FieldOp::Equals, c))
                                .collect(),
                        },
                        Filter::Consent {
                            purpose: CONSENT_PURPOSE.into(),
                        },
                    ],
                }),
            ),
            SegmentRule::Subscribed => (
                SegmentKind::Dynamic,
                Some(Filter::Status {
                    status: "subscribed".into(),
                }),
            ),
            SegmentRule::FirstContacts(_) => (SegmentKind::Static, None),
        };
        let created = marketing
            .create_segment(&tenant, segment.name, kind, filter)
            .await
            .map_err(api)
            .with_context(|| format!("the segment {}", segment.name))?;
        segment_ids.insert(segment.name, created.id);
    }
    progress.finish_with(report, segment_rows);

    let mut progress = Progress::start(CONTACTS, totals.contacts, options.progress);
    let mut contact_ids = vec![String::new(); totals.contacts];
    let mut engagement = HashMap::new();
    if options.marketing_bulk || plan.tier == Tier::L {
        // In bulk: BULK_IN_FLIGHT batches of CONTACT_BATCH contacts, a transaction each.
        let batches = (0..totals.contacts).step_by(CONTACT_BATCH).map(|start| {
            let end = (start + CONTACT_BATCH).min(totals.contacts);
            let planned: Vec<_> = (start..end).map(|i| mkt.contact(i)).collect();
            let rows = planned
                .iter()
                .map(|contact| LoadedContact {
                    email: contact.email.clone(),
                    first_name: Some(contact.first_name.into()),
                    last_name: Some(contact.last_name.into()),
                    country: Some(contact.country.into()),
                    crm_person_id: None,
                    consent: contact.consented.then(|| LoadedConsent {
                        purpose: CONSENT_PURPOSE.into(),
                        lawful_basis: LawfulBasis::Consent,
                        source: CONSENT_SOURCE.into(),
                        wording_version: CONSENT_WORDING.into(),
                    }),
                })
                .collect();
            let tenant = &tenant;
            async move {
                let ids = marketing
                    .load_contacts(tenant, actor, rows)
                    .await
                    .map_err(api)
                    .with_context(|| format!("the contacts {start}..{end}"))?;
                anyhow::Ok((start, ids, planned))
            }
        });
        let mut loaded = futures::stream::iter(batches)
            .buffer_unordered(options.concurrency.clamp(1, BULK_IN_FLIGHT));
        while let Some((start, ids, planned)) = loaded.try_next().await? {
            progress.add(ids.len(), 0);
            for (n, (id, contact)) in ids.into_iter().zip(planned).enumerate() {
                engagement.insert(
                    id.clone(),
                    PastEngagement {
                        opened: contact.opened,
                        clicked: contact.clicked,
                    },
                );
                contact_ids[start + n] = id;
            }
        }
    } else {
        one_by_one(
            &mkt,
            marketing,
            &tenant,
            actor,
            options,
            &mut progress,
            &mut contact_ids,
            &mut engagement,
        )
        .await?;
    }
    report.marketing_contacts = progress.finish(report);

    let mut progress = Progress::start(LIST, list_size, options.progress);
    if let Some(list) = mkt.segments.iter().find_map(|s| match s.rule {
        SegmentRule::FirstContacts(_) => segment_ids.get(s.name),
        _ => None,
    }) {
        for id in contact_ids.iter().take(list_size) {
            marketing
                .set_list_member(&tenant, list, id, true)
                .await
                .map_err(api)
                .context("the VIP list")?;
            progress.add(1, 0);
        }
    }
    progress.finish(report);
    report.marketing_segments = mkt.segments.len();

    let mut progress = Progress::start(NEWSLETTER_PHASE, totals.sent, options.progress);
    let newsletter = marketing
        .create_campaign(
            &tenant,
            actor,
            CampaignFields {
                name: Some(NEWSLETTER.into()),
                template_id: Some(template_ids[0].clone()),
                segment_id: segment_ids.get(EVERYONE).cloned(),
                ..Default::default()
            },
        )
        .await
        .map_err(api)
        .context("the newsletter")?;
    let sent_at = (plan.until - chrono::Duration::days(14))
        .and_time(NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default())
        .and_utc()
        .timestamp_millis();
    let history = marketing
        .record_sent_campaign(&tenant, &newsletter.id, sent_at, &engagement)
        .await
        .map_err(api)
        .context("the newsletter's history")?;
    progress.add(history.sent, 0);
    report.newsletter_sent = progress.finish(report);

    let progress = Progress::start(JOURNEYS, totals.journeys, options.progress);
    let journey = marketing
        .create_journey(
            &tenant,
            actor,
            NewJourney {
                name: WELCOME_JOURNEY.into(),
                trigger: Trigger::new(TriggerKind::Event, Some(SIGNED_UP_EVENT.into()))
                    .map_err(api)?,
                steps: vec![
                    Step::Send {
                        template_id: template_ids[1].clone(),
                    },
                    Step::Wait { minutes: 24 * 60 },
                    Step::Condition {
                        check: Check::OpenedPrevious,
                        if_true: Some(3),
                        if_false: Some(5),
                    },
                    Step::Send {
                        template_id: template_ids[2].clone(),
                    },
                    Step::Exit,
                    Step::Send {
                        template_id: template_ids[3].clone(),
                    },
                ],
            },
        )
        .await
        .map_err(api)
        .context("the welcome journey")?;
    marketing
        .move_journey(&tenant, &journey.id, JourneyStatus::Active)
        .await
        .map_err(api)?;
    progress.finish_with(report, 1);
    report.journeys = 1;
    Ok(())
}

/// The contacts one at a time through the use cases (`create_contact`, then `record_consent`
/// for those who consented), `options.concurrency` in flight.
#[allow(clippy::too_many_arguments)]
async fn one_by_one(
    mkt: &crate::seed::marketing::MarketingPlan,
    marketing: &Marketing,
    tenant: &TenantId,
    actor: &str,
    options: &LoadOptions,
    progress: &mut Progress,
    contact_ids: &mut [String],
    engagement: &mut HashMap<String, PastEngagement>,
) -> anyhow::Result<()> {
    let mut written = futures::stream::iter(0..mkt.sizes.contacts)
        .map(|i| {
            let contact = mkt.contact(i);
            async move {
                let created = marketing
                    .create_contact(
                        tenant,
                        actor,
                        NewContact {
                            email: contact.email.clone(),
                            first_name: Some(contact.first_name.into()),
                            last_name: Some(contact.last_name.into()),
                            country: Some(contact.country.into()),
                            crm_person_id: None,
                        },
                    )
                    .await
                    .map_err(api)
                    .with_context(|| format!("the contact {}", contact.email))?;
                if contact.consented {
                    marketing
                        .record_consent(
                            tenant,
                            actor,
                            NewConsent {
                                contact_id: created.id.clone(),
                                purpose: CONSENT_PURPOSE.into(),
                                lawful_basis: LawfulBasis::Consent,
                                source: CONSENT_SOURCE.into(),
                                wording_version: CONSENT_WORDING.into(),
                                granted: true,
                            },
                        )
                        .await
                        .map_err(api)
                        .with_context(|| format!("the consent of {}", contact.email))?;
                }
                anyhow::Ok((i, created.id, contact))
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    while let Some((i, id, contact)) = written.try_next().await? {
        engagement.insert(
            id.clone(),
            PastEngagement {
                opened: contact.opened,
                clicked: contact.clicked,
            },
        );
        contact_ids[i] = id;
        progress.add(1, 0);
    }
    drop(written);
    Ok(())
}
