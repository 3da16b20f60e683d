//! Marketing's hot paths (issue 21) over a seeded tier's marketing, in process, on real
//! PostgreSQL and the local SMTP server deploy/local/services.sh runs:
//!
//! 0. (always) the tier's marketing (BENCH_TIER, default M: 20,000 contacts; L: 1,000,000;
//!    ~80 % consented, five segments) written into a fresh database by the seed loader
//!    (`erp_os::seed_load::load_marketing`): the contacts, their consent and their segment
//!    membership in bulk (`Marketing::load_contacts`, one transaction per 5,000 contacts,
//!    BENCH_CONCURRENCY of them in flight, at most 4), or with BENCH_BULK=0 one
//!    `create_contact` and `record_consent` each (tier L always in bulk); its phases' rates;
//! 1. segment evaluation: a new 5-filter segment (all of: an address, a country of three,
//!    the marketing consent, subscribed, not named Ada) evaluated over every contact when
//!    created, checked against the plan's own count; then BENCH_REBUILDS (3) full rebuilds of
//!    all the tenant's segments (the oracle), each finding 0 differences (the first one also
//!    proves the bulk load left the membership the rules give) (target: the 5-filter
//!    rebuild < 2 s over 1,000,000 contacts);
//! 2. incremental membership: BENCH_CHANGES (100) pending contacts given their consent one
//!    by one (each a write that moves the contact into the subscribed segments): p95 of the
//!    write including the membership (target < 50 ms), then a rebuild finding 0 differences;
//! 3. sender throughput: a campaign to the subscribed Portuguese contacts, sent by
//!    BENCH_SENDERS (4) sender loops into the SMTP server; from schedule to SENT: messages/s,
//!    and every message read back from the server's directory (exactly one per member);
//! 4. render and queue: a campaign to the seeded "Everyone" segment (every contact: the
//!    million at tier L) scheduled and started by one sender pass that leases nothing
//!    (batch 0): "queued" is the campaign's start, one `queued` message row per member in
//!    one transaction, timed from the schedule to SENDING and counted (exactly the segment's
//!    members); "rendered": this codebase renders a message at its hand-off (the sender,
//!    app/sending.rs), so the rendering is timed apart, `Marketing::render_queued` over every
//!    queued message (the sender's own render: personalised subject, text and HTML, signed
//!    unsubscribe, click and open links, RFC 8058 headers), in process, BENCH_RENDER_WORKERS
//!    (4) pages of 2,000 at once, nothing handed to SMTP, counted (exactly the members); the
//!    figure against the target is queue + render (target < 60 s for 1,000,000); the
//!    campaign is cancelled after;
//! 5. unsubscribe effective: a campaign to the subscribed Portuguese contacts sending with
//!    BENCH_SENDERS loops into the SMTP server; BENCH_UNSUBSCRIBES (50) of its members, spread
//!    over the first messages of its queue, unsubscribed one by one by the RFC 8058 one-click
//!    POST through the subgraph's own HTTP route (served in this process): each POST's latency
//!    (p50/p95/max; target: effective < 1 s), then, once every one of those members' messages
//!    is settled, a check that none was handed off after its unsubscribe answered.
//!
//! ```text
//! source ~/.cache/erp-os/services/env.sh
//! cargo bench -p erp-os --bench marketing
//! BENCH_TIER=L BENCH_PHASES=1,2 cargo bench -p erp-os --bench marketing   # the million, in parts
//! BENCH_TIER=L BENCH_PHASES=4,5 cargo bench -p erp-os --bench marketing
//! ```
//!
//! Environment: DATABASE_URL, SMTP_URL, SMTP_MAILDIR (required) and the BENCH_* settings
//! above; BENCH_PHASES (default `1,2,3,4,5`: the load always runs, each run into a fresh
//! database); BENCH_OUT (default bench-results/marketing.md).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use common::*;

use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;
use erp_marketing::app::campaigns::CampaignFields;
use erp_marketing::app::contacts::NewConsent;
use erp_marketing::app::segments::SegmentKind;
use erp_marketing::domain::campaign::CampaignStatus;
use erp_marketing::domain::contact::LawfulBasis;
use erp_marketing::domain::segment::{ContactField, FieldOp, Filter};
use erp_marketing::{Marketing, MarketingOptions, SenderOptions, Settings};
use erp_os::seed::{SeedPlan, Tier};
use erp_os::seed_load::{load_marketing, LoadOptions, LoadReport};

fn field(field: ContactField, op: FieldOp, value: &str) -> Filter {
    Filter::Field {
        field,
        op,
        value: value.to_owned(),
    }
}

/// The messages of `campaign_id` the SMTP server recorded.
fn recorded(maildir: &str, campaign_id: &str) -> usize {
    let header = format!("X-Erp-Campaign: {campaign_id}\r\n");
    std::fs::read_dir(maildir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|raw| raw.contains(&header))
                .count()
        })
        .unwrap_or(0)
}

fn api(e: erp_kit::ApiError) -> anyhow::Error {
    anyhow!("{:?}: {}", e.code(), e.message())
}

/// A campaign of the seeded newsletter template to `segment_id`.
async fn newsletter_campaign(
    marketing: &Marketing,
    tenant: &TenantId,
    name: &str,
    segment_id: &str,
) -> Result<String> {
    let templates = marketing
        .templates(
            tenant,
            &PageRequest {
                limit: 10,
                after: None,
                before: None,
                backward: false,
            },
        )
        .await
        .map_err(api)?;
    let template = templates
        .iter()
        .find(|t| t.name == "Newsletter")
        .ok_or_else(|| anyhow!("the seeded newsletter template"))?;
    let campaign = marketing
        .create_campaign(
            tenant,
            "usr_bench",
            CampaignFields {
                name: Some(name.into()),
                template_id: Some(template.id.clone()),
                segment_id: Some(segment_id.to_owned()),
                ..Default::default()
            },
        )
        .await
        .map_err(api)?;
    Ok(campaign.id)
}

/// The subscribed Portuguese contacts (phases 3 and 5).
async fn portuguese_subscribers(
    marketing: &Marketing,
    tenant: &TenantId,
    name: &str,
) -> Result<(String, u64)> {
    let audience = marketing
        .create_segment(
            tenant,
            name,
            SegmentKind::Dynamic,
            Some(Filter::All {
                of: vec![
                    field(ContactField::Country, FieldOp::Equals, "PT"),
                    Filter::Status {
                        status: "subscribed".into(),
                    },
                ],
            }),
        )
        .await
        .map_err(api)?;
    let size = marketing
        .segment_member_count(tenant, &audience.id)
        .await
        .map_err(api)?;
    Ok((audience.id, size))
}

async fn schedule(marketing: &Marketing, tenant: &TenantId, campaign_id: &str) -> Result<()> {
    marketing
        .move_campaign(
            tenant,
            "usr_bench",
            campaign_id,
            CampaignStatus::Scheduled,
            None,
        )
        .await
        .map_err(api)?;
    Ok(())
}

async fn status_of(marketing: &Marketing, tenant: &TenantId, campaign_id: &str) -> Result<String> {
    Ok(marketing
        .campaign(tenant, campaign_id)
        .await
        .map_err(api)?
        .ok_or_else(|| anyhow!("the campaign is gone"))?
        .status)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let tier = Tier::parse(&env_text("BENCH_TIER").unwrap_or_else(|| "M".into()))
        .map_err(|e| anyhow!(e))?;
    let rebuilds = env_number("BENCH_REBUILDS", 3)?.max(1) as usize;
    let changes = env_number("BENCH_CHANGES", 100)?.max(1) as usize;
    let senders = env_number("BENCH_SENDERS", 4)?.max(1) as usize;
    let concurrency = env_number("BENCH_CONCURRENCY", 8)?.max(1) as usize;
    let bulk = env_number("BENCH_BULK", 1)? != 0;
    let render_workers = env_number("BENCH_RENDER_WORKERS", 4)?.max(1) as usize;
    let unsubscribes = env_number("BENCH_UNSUBSCRIBES", 50)?.max(1) as usize;
    let phases: Vec<u32> = std::env::var("BENCH_PHASES")
        .unwrap_or_else(|_| "1,2,3,4,5".into())
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .context("BENCH_PHASES: a comma list of 1 to 5")?;
    let run = |phase: u32| phases.contains(&phase);
    let admin_url = std::env::var("DATABASE_URL")
        .context("DATABASE_URL (source ~/.cache/erp-os/services/env.sh)")?;
    let smtp_url = std::env::var("SMTP_URL").context("SMTP_URL")?;
    let maildir = std::env::var("SMTP_MAILDIR").context("SMTP_MAILDIR")?;
    let machine = machine();

    // 0. The tier's marketing through the seed loader, in this process.
    let database = common::fresh_postgres_database(&admin_url, "mkt").await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let until = chrono::Utc::now().date_naive();
    let plan = SeedPlan::new(
        tier,
        7,
        "Bench Marketing",
        &format!("b{run_id}.example"),
        until,
    );
    let mkt_plan = plan.marketing();
    let totals = mkt_plan.totals();
    let tenant_id = format!("tnt_bench_{run_id}");
    let tenant = TenantId::from_claim(&tenant_id);
    let dir = std::env::temp_dir().join(format!("erp-bench-mkt-{run_id}"));
    std::fs::create_dir_all(&dir)?;
    let config = erp_kit::config::KitConfig::from_lookup("marketing", 0, |name| match name {
        "DATABASE_URL" => Some(database.clone()),
        "REDIS_URL" | "KAFKA_BROKERS" | "MONGO_URL" => None,
        "ERP_KEK_FILE" => Some(dir.join("kek.key").display().to_string()),
        _ => std::env::var(name).ok(),
    })?;
    let db = erp_kit::db::connect(&database).await?;
    let runtime = erp_kit::runtime::Runtime::with_backends(
        config,
        db,
        Arc::new(erp_kit::cache::InProcessCache::new()),
        Arc::new(erp_kit::events::InProcessBus::new()),
    );
    // The subgraph's public routes (the one-click unsubscribe) on a local port: the links in
    // the messages point there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let marketing = erp_marketing::service(
        &runtime,
        &MarketingOptions {
            smtp_url: Some(smtp_url),
            settings: Settings {
                public_url: format!("http://{addr}"),
                ..Settings::default()
            },
            ..Default::default()
        },
    )
    .await?;
    let public = erp_marketing::graphql::public::router(
        marketing.clone(),
        erp_kit::http::TrustedProxies(Vec::new()),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            public.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let mut report = LoadReport::default();
    let options = LoadOptions {
        concurrency,
        progress: true,
        marketing_bulk: bulk,
        ..LoadOptions::new("unused")
    };
    let in_bulk = bulk || tier == Tier::L;
    eprintln!(
        "0. tier {}'s marketing: {} contacts ({})...",
        tier.name(),
        totals.contacts,
        if in_bulk { "bulk load" } else { "use cases" }
    );
    let seeded = Instant::now();
    load_marketing(
        &plan,
        &marketing,
        &tenant_id,
        "usr_bench",
        &options,
        &mut report,
    )
    .await?;
    let seed_seconds = seeded.elapsed().as_secs_f64();
    let mut rows: Vec<String> = Vec::new();

    // 1. A 5-filter segment evaluated over every contact, then full rebuilds.
    if run(1) {
        eprintln!("1. a 5-filter segment and {rebuilds} rebuilds...");
        let countries = ["PT", "ES", "NL"];
        let five = Filter::All {
            of: vec![
                field(ContactField::Email, FieldOp::IsSet, ""),
                Filter::Any {
                    of: countries
                        .iter()
                        .map(|c| field(ContactField::Country, FieldOp::Equals, c))
                        .collect(),
                },
                Filter::Consent {
                    purpose: "email_marketing".into(),
                },
                Filter::Status {
                    status: "subscribed".into(),
                },
                Filter::Not {
                    of: Box::new(field(ContactField::FirstName, FieldOp::Equals, "Ada")),
                },
            ],
        };
        let expected_five = (0..totals.contacts)
            .map(|i| mkt_plan.contact(i))
            .filter(|c| c.consented && countries.contains(&c.country) && c.first_name != "Ada")
            .count() as u64;
        let started = Instant::now();
        let segment = marketing
            .create_segment(&tenant, "Five filters", SegmentKind::Dynamic, Some(five))
            .await
            .map_err(api)?;
        let create_seconds = started.elapsed().as_secs_f64();
        let members = marketing
            .segment_member_count(&tenant, &segment.id)
            .await
            .map_err(api)?;
        if members != expected_five {
            bail!("the 5-filter segment has {members} members, the plan says {expected_five}");
        }
        let mut rebuild_seconds = Vec::with_capacity(rebuilds);
        let mut rebuilt_members = 0;
        for _ in 0..rebuilds {
            let started = Instant::now();
            let rebuilt = marketing.rebuild_segments(&tenant).await.map_err(api)?;
            rebuild_seconds.push(started.elapsed().as_secs_f64());
            if rebuilt.differences != 0 {
                bail!("a rebuild found {} differences", rebuilt.differences);
            }
            rebuilt_members = rebuilt.members;
        }
        rebuild_seconds.sort_by(f64::total_cmp);
        let five_p50 = rebuild_seconds[rebuild_seconds.len() / 2];
        rows.push(format!(
            "| 1. a new 5-filter segment evaluated over {} contacts ({members} members, the plan's count) | {create_seconds:.2} s | - | - |",
            totals.contacts
        ));
        rows.push(format!(
            "| 1. full rebuild of the tenant's 6 segments, the 5-filter one among them ({rebuilt_members} memberships), {rebuilds} runs, 0 differences | median {five_p50:.2} s (runs {}) | 5-filter segment < 2 s over 1,000,000 contacts | {} |",
            rebuild_seconds
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            if totals.contacts >= 1_000_000 {
                format!("{} (all 6 segments rebuilt, not the 5-filter one alone)", verdict_max(five_p50, 2.0, "s"))
            } else {
                format!("not judged: {} contacts, not 1,000,000", totals.contacts)
            }
        ));
    }

    // 2. Incremental membership: pending contacts consent one by one.
    if run(2) {
        eprintln!("2. {changes} consents (incremental membership)...");
        let mut pending = Vec::new();
        let mut after = None;
        while pending.len() < changes {
            let page = PageRequest {
                limit: 100,
                after: after.clone(),
                before: None,
                backward: false,
            };
            let rows = marketing.contacts(&tenant, &page).await.map_err(api)?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id.clone());
            pending.extend(
                rows.into_iter()
                    .filter(|c| c.status == "pending")
                    .map(|c| c.id),
            );
        }
        pending.truncate(changes);
        let mut change_latencies = Latencies(Vec::with_capacity(pending.len()));
        for contact_id in &pending {
            let started = Instant::now();
            marketing
                .record_consent(
                    &tenant,
                    "usr_bench",
                    NewConsent {
                        contact_id: contact_id.clone(),
                        purpose: "email_marketing".into(),
                        lawful_basis: LawfulBasis::Consent,
                        source: "bench".into(),
                        wording_version: "v1".into(),
                        granted: true,
                    },
                )
                .await
                .map_err(api)?;
            change_latencies
                .0
                .push(started.elapsed().as_micros() as u64);
        }
        change_latencies.sort();
        let after_changes = marketing.rebuild_segments(&tenant).await.map_err(api)?;
        if after_changes.differences != 0 {
            bail!(
                "after the changes a rebuild found {} differences",
                after_changes.differences
            );
        }
        let change_p95 = change_latencies.ms(0.95);
        rows.push(format!(
            "| 2. a consent write with its incremental membership, {} contacts of {} (the rebuild after: 0 differences) | p95 {change_p95:.1} ms; {} | < 50 ms | {} |",
            pending.len(),
            totals.contacts,
            change_latencies.summary(),
            verdict_max(change_p95, 50.0, "ms")
        ));
    }

    // 3. The sender: subscribed Portuguese contacts, BENCH_SENDERS loops, into the SMTP server.
    if run(3) {
        let (audience, audience_size) =
            portuguese_subscribers(&marketing, &tenant, "Bench send").await?;
        let campaign_id = newsletter_campaign(&marketing, &tenant, "Bench send", &audience).await?;
        eprintln!("3. sending to {audience_size} contacts with {senders} senders...");
        let loops: Vec<_> = (0..senders)
            .map(|n| {
                marketing.spawn_sender(SenderOptions {
                    worker_id: format!("bench-{run_id}-{n}"),
                    ..SenderOptions::default()
                })
            })
            .collect();
        let started = Instant::now();
        schedule(&marketing, &tenant, &campaign_id).await?;
        let mut sending_at = None;
        loop {
            let status = status_of(&marketing, &tenant, &campaign_id).await?;
            if sending_at.is_none() && status != "scheduled" {
                sending_at = Some(started.elapsed().as_secs_f64());
            }
            if status == "sent" {
                break;
            }
            if started.elapsed() > Duration::from_secs(3_600) {
                bail!("the campaign was not sent within an hour");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let send_seconds = started.elapsed().as_secs_f64();
        drop(loops);
        let funnel = marketing.funnel(&tenant, &campaign_id).await.map_err(api)?;
        let in_sink = recorded(&maildir, &campaign_id);
        if funnel.sent as u64 != audience_size || in_sink as u64 != audience_size {
            bail!(
                "{audience_size} members, {} sent, {in_sink} recorded by the SMTP server: {funnel:?}",
                funnel.sent
            );
        }
        let rate = audience_size as f64 / send_seconds.max(1e-9);
        rows.push(format!(
            "| 3. campaign to {audience_size} contacts, {senders} senders, schedule -> SENT (send-time checks, rendered with signed links, handed to SMTP one by one, each read back) | {send_seconds:.1} s, {rate:.0} messages/s (all queued, the campaign SENDING, after {:.2} s) | - (the SMTP hand-off rate, paced by the provider in production) | - |",
            sending_at.unwrap_or(0.0),
        ));
    }

    // 4. Render and queue: a campaign to every contact.
    if run(4) {
        let everyone = marketing
            .segments(&tenant)
            .await
            .map_err(api)?
            .into_iter()
            .find(|s| s.name == erp_os::seed::marketing::EVERYONE)
            .ok_or_else(|| anyhow!("the seeded Everyone segment"))?;
        let members = marketing
            .segment_member_count(&tenant, &everyone.id)
            .await
            .map_err(api)?;
        let campaign_id =
            newsletter_campaign(&marketing, &tenant, "Bench render and queue", &everyone.id)
                .await?;
        eprintln!("4. render and queue: a campaign to {members} contacts...");
        let starter = SenderOptions {
            worker_id: format!("bench-{run_id}-starter"),
            batch: 0,
            ..SenderOptions::default()
        };
        let started = Instant::now();
        schedule(&marketing, &tenant, &campaign_id).await?;
        let pass = marketing.send_pass(&starter).await.map_err(api)?;
        let queue_seconds = started.elapsed().as_secs_f64();
        let status = status_of(&marketing, &tenant, &campaign_id).await?;
        if pass.sent + pass.skipped != 0 || status != "sending" {
            bail!("the starting pass sent or skipped messages, or the campaign is {status}");
        }
        let funnel = marketing.funnel(&tenant, &campaign_id).await.map_err(api)?;
        if funnel.queued as u64 != members {
            bail!("{members} members, {} queued: {funnel:?}", funnel.queued);
        }
        eprintln!("   queued {members} in {queue_seconds:.1} s; rendering...");
        let started = Instant::now();
        let rendered = marketing
            .render_queued(&tenant, &campaign_id, 2_000, render_workers)
            .await
            .map_err(api)?;
        let render_seconds = started.elapsed().as_secs_f64();
        if rendered.messages as u64 != members {
            bail!("{members} members, {} rendered", rendered.messages);
        }
        marketing
            .move_campaign(
                &tenant,
                "usr_bench",
                &campaign_id,
                CampaignStatus::Cancelled,
                None,
            )
            .await
            .map_err(api)?;
        let total = queue_seconds + render_seconds;
        let scaled = total * 1_000_000.0 / (members.max(1) as f64);
        rows.push(format!(
            "| 4. queued: a campaign to {members} contacts (every one) scheduled -> SENDING, one queued message row each, counted (= the members) | {queue_seconds:.1} s ({:.0} rows/s) | - | - |",
            members as f64 / queue_seconds.max(1e-9)
        ));
        rows.push(format!(
            "| 4. rendered: the sender's render (personalised subject, text, HTML, signed unsubscribe/click/open links, RFC 8058 headers) of all {members} queued messages, {render_workers} pages of 2,000 at once, in process, no SMTP, counted (= the members; {:.0} bytes each on average) | {render_seconds:.1} s ({:.0} messages/s) | - | - |",
            rendered.bytes as f64 / (members.max(1) as f64),
            members as f64 / render_seconds.max(1e-9)
        ));
        rows.push(format!(
            "| 4. rendered and queued: {members} personalised e-mails (queue + render) | {total:.1} s | 1,000,000 < 60 s | {} |",
            if members >= 1_000_000 {
                verdict_max(total, 60.0, "s")
            } else {
                format!("not judged: {members}, not 1,000,000 (~{scaled:.0} s at this rate for a million)")
            }
        ));
    }

    // 5. Unsubscribe effective: one-click POSTs while a campaign is sending.
    if run(5) {
        let (audience, audience_size) =
            portuguese_subscribers(&marketing, &tenant, "Bench unsubscribe").await?;
        let campaign_id =
            newsletter_campaign(&marketing, &tenant, "Bench unsubscribe", &audience).await?;
        eprintln!(
            "5. {unsubscribes} one-click unsubscribes while {audience_size} messages send..."
        );
        let loops: Vec<_> = (0..senders)
            .map(|n| {
                marketing.spawn_sender(SenderOptions {
                    worker_id: format!("bench-{run_id}-u{n}"),
                    ..SenderOptions::default()
                })
            })
            .collect();
        schedule(&marketing, &tenant, &campaign_id).await?;
        let waited = Instant::now();
        while status_of(&marketing, &tenant, &campaign_id).await? == "scheduled" {
            if waited.elapsed() > Duration::from_secs(600) {
                bail!("the campaign did not start within 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The members whose messages the senders reach soon (the queue goes in id order):
        // spread over the first 20 per unsubscribe of the queue still waiting.
        let mut queued: Vec<_> = marketing
            .campaign_messages(&tenant, &campaign_id)
            .await
            .map_err(api)?
            .into_iter()
            .filter(|m| m.status == "queued")
            .collect();
        queued.sort_by(|a, b| a.id.cmp(&b.id));
        let window = queued.len().min(unsubscribes * 20);
        let step = (window / unsubscribes).max(1);
        let picked: Vec<(String, String)> = queued[..window]
            .iter()
            .step_by(step)
            .take(unsubscribes)
            .map(|m| (m.id.clone(), m.contact_id.clone()))
            .collect();
        let mut urls = Vec::with_capacity(picked.len());
        for (_, contact_id) in &picked {
            urls.push(
                marketing
                    .unsubscribe_url(
                        &tenant,
                        contact_id,
                        Some(&campaign_id),
                        marketing.link_expiry(),
                    )
                    .await
                    .map_err(api)?,
            );
        }
        let http = reqwest::Client::new();
        let mut latencies = Latencies(Vec::with_capacity(urls.len()));
        // message id -> when its contact's unsubscribe answered (Unix ms).
        let mut answered: HashMap<String, i64> = HashMap::new();
        for ((message_id, _), url) in picked.iter().zip(&urls) {
            let started = Instant::now();
            let response = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await?;
            let status = response.status().as_u16();
            let _ = response.bytes().await?;
            latencies.0.push(started.elapsed().as_micros() as u64);
            answered.insert(message_id.clone(), now_ms());
            if status != 200 {
                bail!("a one-click unsubscribe answered {status}");
            }
        }
        latencies.sort();
        // Every picked message settled (sent before its unsubscribe, or skipped after).
        let settle = Instant::now();
        let messages = loop {
            let messages: HashMap<String, _> = marketing
                .campaign_messages(&tenant, &campaign_id)
                .await
                .map_err(api)?
                .into_iter()
                .filter(|m| answered.contains_key(&m.id))
                .map(|m| (m.id.clone(), m))
                .collect();
            if messages
                .values()
                .all(|m| !matches!(m.status.as_str(), "queued" | "leased" | "handed_off"))
            {
                break messages;
            }
            if settle.elapsed() > Duration::from_secs(1_800) {
                bail!("the unsubscribed members' messages did not settle within 30 minutes");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        drop(loops);
        let funnel = marketing.funnel(&tenant, &campaign_id).await.map_err(api)?;
        marketing
            .move_campaign(
                &tenant,
                "usr_bench",
                &campaign_id,
                CampaignStatus::Cancelled,
                None,
            )
            .await
            .map_err(api)?;
        let mut late = 0;
        let (mut before, mut skipped) = (0, 0);
        for (id, message) in &messages {
            match message.handed_off_at {
                Some(at) if at > answered[id] => late += 1,
                Some(_) => before += 1,
                None => skipped += usize::from(message.status == "skipped"),
            }
        }
        if late > 0 {
            bail!("{late} messages were handed off after their contact's unsubscribe answered");
        }
        if before + skipped != messages.len() {
            bail!(
                "{} picked messages, {before} sent before, {skipped} skipped",
                messages.len()
            );
        }
        let p95 = latencies.ms(0.95);
        let max = latencies.ms(1.0);
        rows.push(format!(
            "| 5. one-click unsubscribe (RFC 8058 POST over HTTP) of {} members while their campaign ({audience_size} messages, {senders} senders) sends: 0 handed off after the answer ({before} handed off before, {skipped} skipped as unsubscribed; the campaign's funnel then: {} sent, {} skipped, {} unsubscribed) | p50 {:.1} ms, p95 {p95:.1} ms, max {max:.1} ms | effective < 1 s | {} (the POST's answer is the effect: checked at the hand-off under the contact's lock) |",
            messages.len(),
            funnel.sent,
            funnel.skipped,
            funnel.unsubscribed,
            latencies.ms(0.5),
            verdict_max(max, 1_000.0, "ms")
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);

    let mut body = format!(
        "Tier {} marketing (seed 7): {} contacts ({} consented), {} segments, a newsletter's \
         history ({} sent), a journey; the contacts written by {}; the marketing use cases in \
         this process (no router), PostgreSQL, the local SMTP server (deploy/local/services.sh). \
         Loaded into a fresh database in {seed_seconds:.1} s. Phases run: {}.\n\n",
        tier.name(),
        totals.contacts,
        totals.consented,
        report.marketing_segments,
        report.newsletter_sent,
        if in_bulk {
            "the bulk load (`Marketing::load_contacts`)"
        } else {
            "the use cases one by one (`create_contact`, `record_consent`)"
        },
        phases
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    body.push_str("## Results\n\n| measure | figure | target | verdict |\n|---|---|---|---|\n");
    for row in &rows {
        body.push_str(row);
        body.push('\n');
    }
    body.push_str("\n## Seeding the tier's marketing (the loader, in process)\n\n| phase | written | seconds | rows/s |\n|---|---|---|---|\n");
    for phase in &report.phases {
        body.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} |\n",
            phase.name,
            phase.written,
            phase.seconds,
            phase.rate()
        ));
    }
    write_report(
        "marketing",
        "Marketing benchmark (issue 21)",
        &machine,
        &body,
    )?;
    print!("{body}");
    Ok(())
}
