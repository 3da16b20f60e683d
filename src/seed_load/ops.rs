//! The operations part of a load: the plan's operations data ([`SeedPlan::ops`]) through the
//! operations subgraph's own use cases:
//!
//! - the assets (`register_assets`, in stock, up to 1,000 a commit; the laptops with a
//!   36-month straight-line schedule), then each laptop checked out to its person (`act_on_assets`) and accepted by
//!   them, and the retired ones retired in bulk (up to 1,000 a call);
//! - the SOPs (`create_sop`, the file in the subgraph's object storage), submitted and
//!   published but the last, left a draft;
//! - the helpdesk's set-up: its team (`create_team`), the team's round-robin queue of the IT
//!   categories (`create_queue`) and an SLA policy per priority on the plan's business
//!   calendar (`set_sla_policy`);
//! - the tickets, opened on behalf of their requesters from the portal in bulk
//!   (`open_tickets`, 500 a commit: each routed to the queue by its category and assigned in
//!   turn, its SLA clocks started, then moved along its statuses by the administrator, with
//!   the events of the single path: `ticket.created`, `ticket.assigned`,
//!   `ticket.status_changed`).
//!
//! Every rule of a live write holds. Resume: the part is written once per tenant; a load that
//! finds assets in the tenant counts the operations part as written already.

use anyhow::Context;

use erp_kit::auth::Claims;
use erp_kit::money::{Currency, Money};
use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;
use erp_ops::app::assets::{AssetAction, DepreciationTerms, NewAsset};
use erp_ops::app::helpdesk::{LoadedTicket, NewSlaPolicy, NewTicket};
use erp_ops::app::sops::SopChange;
use erp_ops::app::teams::{NewQueue, NewTeam};
use erp_ops::domain::asset::{AssetTag, Holder};
use erp_ops::domain::depreciation::{Frequency, Method};
use erp_ops::domain::helpdesk::{Channel, Priority, TicketStatus};
use erp_ops::domain::sla::DayHours;
use erp_ops::domain::teams::{AssignmentRule, Conditions, Member};
use erp_ops::store::AssetKind;
use erp_ops::Ops;

use super::{admin_claims, api, LoadOptions, LoadReport, Progress, SeededTenant};
use crate::seed::ops::{PlannedAssetState, PlannedHelpdesk, PlannedTicketStatus};
use crate::seed::SeedPlan;

/// The phases of the operations part (their names in the load's report).
pub const ASSETS: &str = "ops: assets";
pub const SOPS: &str = "ops: SOPs";
pub const TICKETS: &str = "ops: tickets";

/// The most assets one bulk action takes.
const BULK: usize = 1_000;

/// Assets registered per commit: half of what `register_assets` takes, so a commit of
/// laptops with their 36-line schedules stays a few MB (one document-store transaction).
const REGISTER_BATCH: usize = 500;

/// Tickets opened per commit: with up to five events each, a commit stays a few thousand
/// documents (one document-store transaction).
const TICKET_BATCH: usize = 500;

/// Claims of the person `user_id` (`name`) of the tenant, acting with `permissions`.
fn claims_of(tenant: &SeededTenant, user_id: &str, name: &str, permissions: &[&str]) -> Claims {
    Claims {
        sub: user_id.to_owned(),
        name: name.to_owned(),
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        ..admin_claims(tenant)
    }
}

/// The plan's 0..=3 priority.
fn priority_of(planned: u8) -> Priority {
    match planned {
        0 => Priority::Low,
        1 => Priority::Normal,
        2 => Priority::High,
        _ => Priority::Urgent,
    }
}

/// The helpdesk's team, its queue and the SLA policies (before any ticket, so that every
/// ticket is routed and gets its due times).
async fn set_up_helpdesk(
    ops: &Ops,
    tenant: &TenantId,
    helpdesk: &PlannedHelpdesk,
    user: impl Fn(usize) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let members = helpdesk
        .members
        .iter()
        .map(|&person| {
            Ok(Member {
                user_id: user(person)?,
                employee_id: None,
                available: true,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let team = ops
        .create_team(
            tenant,
            NewTeam {
                name: helpdesk.team.to_owned(),
                members,
            },
        )
        .await
        .map_err(api)
        .context("the helpdesk team")?;
    ops.create_queue(
        tenant,
        NewQueue {
            name: helpdesk.queue.to_owned(),
            team_id: team.id,
            conditions: Conditions {
                categories: helpdesk
                    .categories
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect(),
                priorities: vec![],
                channels: vec![],
            },
            assignment: AssignmentRule::RoundRobin,
            position: 0,
        },
    )
    .await
    .map_err(api)
    .context("the helpdesk queue")?;
    let zone: chrono_tz::Tz = helpdesk
        .time_zone
        .parse()
        .map_err(|_| anyhow::anyhow!("the plan's time zone {}", helpdesk.time_zone))?;
    let (open, close) = helpdesk.business_hours;
    // Monday to Friday.
    let week: [DayHours; 7] =
        std::array::from_fn(|day| if day < 5 { vec![(open, close)] } else { vec![] });
    for sla in helpdesk.slas {
        ops.set_sla_policy(
            tenant,
            NewSlaPolicy {
                priority: priority_of(sla.priority),
                zone,
                week: week.clone(),
                holidays: helpdesk.holidays.iter().copied().collect(),
                first_response_minutes: sla.first_response_minutes,
                update_minutes: sla.update_minutes,
                resolution_minutes: sla.resolution_minutes,
            },
        )
        .await
        .map_err(api)
        .context("an SLA policy")?;
    }
    Ok(())
}

/// Writes the plan's operations data into the tenant (see the module comment).
pub async fn load_ops(
    plan: &SeedPlan,
    ops: &Ops,
    seeded: &SeededTenant,
    user_ids: &[String],
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let ops_plan = plan.ops();
    let totals = ops_plan.totals();
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let admin = claims_of(
        seeded,
        &seeded.admin_user_id,
        &seeded.admin_name,
        &[
            "assets:write",
            "helpdesk:write",
            "helpdesk:admin",
            "sop:write",
            "sop:publish",
        ],
    );
    let user = |employee: usize| -> anyhow::Result<&String> {
        user_ids
            .get(employee)
            .with_context(|| format!("no user id for the plan's person {employee}"))
    };
    let first = PageRequest {
        limit: 1,
        after: None,
        before: None,
        backward: false,
    };
    let seeded_already = !ops
        .assets(&tenant, &Default::default(), &first)
        .await
        .map_err(api)?
        .is_empty();
    report.assets = totals.assets;
    report.sops = totals.sops;
    report.tickets = totals.tickets;
    if seeded_already {
        for (phase, rows) in [
            (ASSETS, totals.assets),
            (SOPS, totals.sops),
            (TICKETS, totals.tickets),
        ] {
            Progress::start(phase, rows, options.progress).finish_with(report, 0);
        }
        return Ok(());
    }
    let eur = Currency::parse("EUR").map_err(|_| anyhow::anyhow!("EUR is a currency"))?;
    let money = |cents: i64| {
        Money::from_minor(cents, eur).map_err(|_| anyhow::anyhow!("an amount out of range"))
    };

    let mut progress = Progress::start(ASSETS, totals.assets, options.progress);
    let mut checked_out: Vec<(String, usize)> = Vec::new();
    let mut retired: Vec<String> = Vec::new();
    // Registered in bulk (REGISTER_BATCH a commit): tier L's tens of thousands of assets in
    // tens of round trips, every asset checked as a single registration is.
    let mut batch: Vec<NewAsset> = Vec::with_capacity(REGISTER_BATCH);
    let mut states: Vec<PlannedAssetState> = Vec::with_capacity(REGISTER_BATCH);
    for i in 0..totals.assets {
        let planned = ops_plan.asset(i);
        let depreciation = match planned.depreciation_months {
            Some(periods) => Some(DepreciationTerms {
                method: Method::StraightLine,
                frequency: Frequency::Monthly,
                periods,
                salvage: money(0)?,
                prorata: true,
            }),
            None => None,
        };
        batch.push(NewAsset {
            kind: AssetKind::Hardware,
            tag: AssetTag::parse("tag", &planned.tag).map_err(api)?,
            name: planned.name.clone(),
            serial: Some(planned.serial.clone()),
            model: Some(planned.model.clone()),
            category: Some(planned.category.to_owned()),
            location_id: None,
            cost: money(planned.cost_cents)?,
            purchase_date: Some(planned.in_use_date),
            in_use_date: planned.in_use_date,
            warranty_until: Some(planned.in_use_date + chrono::Duration::days(3 * 365)),
            end_of_life: Some(planned.in_use_date + chrono::Duration::days(5 * 365)),
            depreciation,
        });
        states.push(planned.state);
        if batch.len() == REGISTER_BATCH || i + 1 == totals.assets {
            let written = batch.len();
            let assets = ops
                .register_assets(&tenant, &admin, std::mem::take(&mut batch))
                .await
                .map_err(api)
                .with_context(|| format!("the assets up to {}", planned.tag))?;
            for (asset, state) in assets.into_iter().zip(states.drain(..)) {
                match state {
                    PlannedAssetState::CheckedOutTo(person) => checked_out.push((asset.id, person)),
                    PlannedAssetState::Retired => retired.push(asset.id),
                    PlannedAssetState::InStock => {}
                }
            }
            progress.add(written, 0);
        }
    }
    // Each laptop to its person (one holder per call), accepted by them.
    for (id, person) in &checked_out {
        let holder = Holder::Person(user(*person)?.clone());
        ops.act_on_assets(
            &tenant,
            &admin,
            std::slice::from_ref(id),
            AssetAction::CheckOut(holder),
        )
        .await
        .map_err(api)
        .context("checking a laptop out")?;
        let name = &plan.employees[*person].display_name;
        let holder = claims_of(seeded, user(*person)?, name, &["assets:read"]);
        ops.act_on_assets(
            &tenant,
            &holder,
            std::slice::from_ref(id),
            AssetAction::Accept,
        )
        .await
        .map_err(api)
        .context("accepting a laptop")?;
    }
    for chunk in retired.chunks(BULK) {
        ops.act_on_assets(&tenant, &admin, chunk, AssetAction::Retire)
            .await
            .map_err(api)
            .context("retiring assets")?;
    }
    progress.finish(report);

    let mut progress = Progress::start(SOPS, totals.sops, options.progress);
    for i in 0..totals.sops {
        let planned = ops_plan.sop(i);
        let sop = ops
            .create_sop(&tenant, &admin, planned.title.clone(), planned.content)
            .await
            .map_err(api)
            .with_context(|| format!("the SOP {}", planned.title))?;
        if planned.published {
            for change in [SopChange::Submit(1), SopChange::Publish(1)] {
                ops.change_sop(&tenant, &admin, &sop.id, change)
                    .await
                    .map_err(api)
                    .with_context(|| format!("publishing the SOP {}", planned.title))?;
            }
        }
        progress.add(1, 0);
    }
    progress.finish(report);

    let mut progress = Progress::start(TICKETS, totals.tickets, options.progress);
    set_up_helpdesk(ops, &tenant, &ops_plan.helpdesk(), |person| {
        user(person).cloned()
    })
    .await?;
    let mut batch = Vec::with_capacity(TICKET_BATCH);
    for i in 0..totals.tickets {
        let planned = ops_plan.ticket(i);
        batch.push(LoadedTicket {
            requester_id: user(planned.requester)?.clone(),
            requester_name: plan.employees[planned.requester].display_name.clone(),
            ticket: NewTicket {
                subject: planned.subject.clone(),
                description: planned.description.clone(),
                channel: Channel::Portal,
                priority: priority_of(planned.priority),
                asset_id: None,
                client_id: None,
                category: Some(planned.category.to_owned()),
            },
            status: match planned.status {
                PlannedTicketStatus::New => TicketStatus::New,
                PlannedTicketStatus::Open => TicketStatus::Open,
                PlannedTicketStatus::Pending => TicketStatus::Pending,
                PlannedTicketStatus::Resolved => TicketStatus::Resolved,
                PlannedTicketStatus::Closed => TicketStatus::Closed,
            },
        });
        if batch.len() == TICKET_BATCH || i + 1 == totals.tickets {
            let count = batch.len();
            ops.open_tickets(&tenant, &admin, std::mem::take(&mut batch))
                .await
                .map_err(api)
                .with_context(|| format!("the tickets up to {i}"))?;
            progress.add(count, 0);
        }
    }
    progress.finish(report);
    Ok(())
}
