//! The CRM part of a load: the plan's CRM ([`SeedPlan::crm`]) through the CRM's own use cases,
//! acting as the tenant's administrator (`crm:admin`):
//!
//! - the pipeline and its six stages (`create_pipeline`);
//! - the clients (`create_client`, with their owner and status; each publishes
//!   `client.created`, so PMO links the projects typed with the client's name, and finance's
//!   customers can be keyed by the client);
//! - the leads through the CSV import (`start_import`, keyed by e-mail: a repeated import
//!   updates, never duplicates; streamed in batches; no per-row events, as any import);
//! - the won opportunities (`create_opportunity` in their stage, owned by their rep, a draft
//!   quote (`create_quote`) made before the win, then `win_opportunity`: its event is the
//!   hand-off to PMO); the open and lost ones (all but a few) by the bulk load
//!   (`load_opportunities`, chunks of [`BULK_CHUNK`] in a transaction each, the stage totals
//!   and the audit trail kept, no per-row events, like an import).
//!
//! Every rule of a live write holds (stages, amounts, owners, the stage totals, the audit
//! trail; the outbox events of the won opportunities). Resume: the part is written once per tenant; a load that finds the seeded
//! pipeline counts the CRM as written already (an interrupted CRM part is not completed by
//! `--resume`; the leads' import alone is idempotent).

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};

use erp_crm::app::bulk::LoadedOpportunity;
use erp_crm::app::clients::NewClient;
use erp_crm::app::import::ImportOptions;
use erp_crm::app::pipeline::{CreateOpportunity, NewPipeline};
use erp_crm::app::quotes::{NewLine, NewQuote};
use erp_crm::app::Viewer;
use erp_crm::domain::client::ClientStatus;
use erp_crm::domain::import::ImportKind;
use erp_crm::domain::pipeline::StageSpec;
use erp_crm::Crm;
use erp_kit::TenantId;

use super::{api, LoadOptions, LoadReport, Progress};
use crate::seed::crm::{CrmPlan, PlannedOutcome, OPPORTUNITY_TYPE, PIPELINE_NAME, STAGES};
use crate::seed::SeedPlan;

const CURRENCY: &str = "EUR";

/// The phases of the CRM part (their names in the load's report).
pub const PIPELINE: &str = "crm: pipeline";
pub const CLIENTS: &str = "crm: clients";
pub const LEADS: &str = "crm: leads (import)";
pub const OPPORTUNITIES: &str = "crm: opportunities and quotes";
/// Leads per chunk of the generated CSV file fed to the import.
const LEAD_CHUNK: usize = 2_000;
/// Opportunities per bulk load call (one transaction each).
const BULK_CHUNK: usize = 10_000;

/// Who the CRM part is written for: the tenant, its administrator, and the identity user ids
/// of the plan's people (in plan order: the reps own records).
pub struct CrmTarget<'a> {
    pub tenant_id: &'a str,
    pub admin_user_id: &'a str,
    pub user_ids: &'a [String],
}

/// Writes the plan's CRM into the tenant (see the module comment).
pub async fn load_crm(
    plan: &SeedPlan,
    crm: &Crm,
    target: &CrmTarget<'_>,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let crm_plan = plan.crm();
    let totals = crm_plan.totals();
    let admin = Viewer {
        tenant: TenantId::from_claim(target.tenant_id),
        user_id: target.admin_user_id.to_owned(),
        admin: true,
    };
    let user = |employee: usize| -> anyhow::Result<String> {
        target
            .user_ids
            .get(employee)
            .cloned()
            .with_context(|| format!("no user id for the plan's person {employee}"))
    };

    let progress = Progress::start(PIPELINE, 1, options.progress);
    let existing = crm
        .pipelines(&admin.tenant)
        .await
        .map_err(api)?
        .into_iter()
        .any(|pipeline| pipeline.name == PIPELINE_NAME);
    if existing {
        progress.finish_with(report, 0);
        for (phase, rows) in [
            (CLIENTS, totals.clients),
            (LEADS, totals.leads),
            (OPPORTUNITIES, totals.opportunities),
        ] {
            Progress::start(phase, rows, options.progress).finish_with(report, 0);
        }
        report.crm_clients = totals.clients;
        report.leads = totals.leads;
        report.opportunities = totals.opportunities;
        report.quotes = totals.quotes;
        return Ok(());
    }
    let pipeline = crm
        .create_pipeline(
            &admin,
            NewPipeline {
                name: PIPELINE_NAME.into(),
                opportunity_type: OPPORTUNITY_TYPE.into(),
                stages: STAGES
                    .iter()
                    .map(|&(name, probability, rotting_days)| StageSpec {
                        name: name.into(),
                        probability,
                        rotting_days,
                    })
                    .collect(),
            },
        )
        .await
        .map_err(api)
        .context("the pipeline")?;
    progress.finish_with(report, 1);
    let mut stages = crm
        .stages_of(&admin.tenant, std::slice::from_ref(&pipeline.id))
        .await
        .map_err(api)?;
    stages.sort_by_key(|stage| stage.position);
    let stage_ids: Vec<String> = stages.into_iter().map(|stage| stage.id).collect();
    if stage_ids.len() != STAGES.len() {
        anyhow::bail!("the seeded pipeline has {} stages", stage_ids.len());
    }

    let mut progress = Progress::start(CLIENTS, crm_plan.clients.len(), options.progress);
    let mut client_ids = Vec::with_capacity(crm_plan.clients.len());
    for (n, client) in crm_plan.clients.iter().enumerate() {
        let (created, _) = crm
            .create_client(
                &admin,
                NewClient {
                    name: client.name.clone(),
                    owner_id: Some(user(client.owner)?),
                    status: Some(if client.status == "active" {
                        ClientStatus::Active
                    } else {
                        ClientStatus::Prospect
                    }),
                    external_id: Some(format!("seed-client-{n}")),
                    ..Default::default()
                },
            )
            .await
            .map_err(api)
            .with_context(|| format!("the client {}", client.name))?;
        client_ids.push(created.id);
        progress.add(1, 0);
    }
    report.crm_clients = progress.finish(report);

    let mut progress = Progress::start(LEADS, totals.leads, options.progress);
    let imported = import_leads(crm, &admin, &crm_plan, &user).await?;
    progress.add(imported, totals.leads.saturating_sub(imported));
    report.leads = progress.finish(report);

    let quoted: std::collections::HashSet<usize> =
        crm_plan.quote_opportunities().into_iter().collect();
    let mut progress = Progress::start(OPPORTUNITIES, totals.opportunities, options.progress);
    let writer = OpportunityWriter {
        crm,
        admin: &admin,
        plan: &crm_plan,
        pipeline_id: &pipeline.id,
        stage_ids: &stage_ids,
        client_ids: &client_ids,
        quoted: &quoted,
        valid_until: plan.until + chrono::Duration::days(30),
    };
    // The won deals (and their quotes) one at a time through the live use cases: each win's
    // `opportunity.won` is the hand-off PMO and finance consume.
    let one_by_one = crm_plan.sizes.won.min(totals.opportunities);
    let mut written = futures::stream::iter(0..one_by_one)
        .map(|i| {
            let writer = &writer;
            let owner = user(crm_plan.opportunity(i).owner);
            async move { writer.write(i, owner?).await }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut quotes = 0;
    while let Some(quote) = written.try_next().await? {
        quotes += usize::from(quote);
        progress.add(1, 0);
    }
    drop(written);
    // The open and lost ones in bulk (`load_opportunities`: a transaction per chunk, the stage
    // totals and the audit trail kept, no per-row events): tier L's million in minutes.
    let chunks: Vec<std::ops::Range<usize>> = (one_by_one..totals.opportunities)
        .step_by(BULK_CHUNK)
        .map(|start| start..(start + BULK_CHUNK).min(totals.opportunities))
        .collect();
    let mut loaded = futures::stream::iter(chunks)
        .map(|range| writer.load(range, &user))
        .buffer_unordered(options.concurrency.clamp(1, 2));
    while let Some(count) = loaded.try_next().await? {
        progress.add(count, 0);
    }
    drop(loaded);
    report.opportunities = progress.finish(report);
    report.quotes = quotes;
    Ok(())
}

/// The leads as a CSV file fed to the import in chunks; how many it created or updated.
async fn import_leads(
    crm: &Crm,
    admin: &Viewer,
    plan: &CrmPlan,
    user: &impl Fn(usize) -> anyhow::Result<String>,
) -> anyhow::Result<usize> {
    let mut run = crm
        .start_import(
            admin,
            ImportOptions {
                kind: ImportKind::Leads,
                key: "email".into(),
                dry_run: false,
            },
        )
        .await
        .map_err(api)?;
    run.push(b"external_id,name,company_name,email,source,utm_source,utm_medium,utm_campaign,territory,owner_id\n")
        .await
        .map_err(api)?;
    let mut chunk = String::new();
    for i in 0..plan.sizes.leads {
        let lead = plan.lead(i);
        chunk.push_str(&format!(
            "seed-lead-{i},{},{},{},{},{},{},{},{},{}\n",
            lead.name,
            lead.company,
            lead.email,
            lead.source,
            lead.source,
            if lead.source == "campaign" {
                "email"
            } else {
                "organic"
            },
            lead.utm_campaign,
            lead.territory,
            user(lead.owner)?,
        ));
        if (i + 1) % LEAD_CHUNK == 0 {
            run.push(chunk.as_bytes()).await.map_err(api)?;
            chunk.clear();
        }
    }
    run.push(chunk.as_bytes()).await.map_err(api)?;
    let outcome = run.finish().await.map_err(api)?;
    if let Some(stopped) = outcome.stopped {
        anyhow::bail!("the lead import stopped: {stopped}");
    }
    if let Some(error) = outcome.errors.first() {
        anyhow::bail!(
            "the lead import refused {} rows, the first (line {}): {}",
            outcome.failed,
            error.row,
            error.message
        );
    }
    Ok((outcome.created + outcome.updated + outcome.merged) as usize)
}

/// Writes the opportunities: one (its quote, its win) at a time, or a chunk in bulk.
struct OpportunityWriter<'a> {
    crm: &'a Crm,
    admin: &'a Viewer,
    plan: &'a CrmPlan,
    pipeline_id: &'a str,
    stage_ids: &'a [String],
    client_ids: &'a [String],
    quoted: &'a std::collections::HashSet<usize>,
    valid_until: chrono::NaiveDate,
}

impl OpportunityWriter<'_> {
    /// The open and lost opportunities of `range` in one bulk load; how many.
    async fn load(
        &self,
        range: std::ops::Range<usize>,
        user: &impl Fn(usize) -> anyhow::Result<String>,
    ) -> anyhow::Result<usize> {
        let mut rows = Vec::with_capacity(range.len());
        for i in range.clone() {
            let planned = self.plan.opportunity(i);
            let lost_reason = match planned.outcome {
                PlannedOutcome::Open => None,
                PlannedOutcome::Lost(reason) => Some(reason.to_owned()),
                PlannedOutcome::Won => anyhow::bail!("opportunity {i} is won: not a bulk row"),
            };
            rows.push(LoadedOpportunity {
                stage_id: self.stage_ids[planned.stage].clone(),
                client_id: self.client_ids[planned.client].clone(),
                name: planned.name,
                amount_minor: planned.amount_cents,
                currency: CURRENCY.into(),
                owner_id: user(planned.owner)?,
                lost_reason,
            });
        }
        self.crm
            .load_opportunities(self.admin, self.pipeline_id, rows)
            .await
            .map_err(api)
            .with_context(|| format!("the opportunities {range:?}"))
    }

    /// Opportunity `i` through the live use cases; true when it got a quote.
    async fn write(&self, i: usize, owner: String) -> anyhow::Result<bool> {
        let planned = self.plan.opportunity(i);
        let client_id = self.client_ids[planned.client].clone();
        let opportunity = self
            .crm
            .create_opportunity(
                self.admin,
                CreateOpportunity {
                    pipeline_id: self.pipeline_id.to_owned(),
                    stage_id: Some(self.stage_ids[planned.stage].clone()),
                    client_id: client_id.clone(),
                    contact_id: None,
                    name: planned.name.clone(),
                    amount_minor: planned.amount_cents,
                    currency: CURRENCY.into(),
                    expected_close: None,
                    owner_id: Some(owner),
                },
            )
            .await
            .map_err(api)
            .with_context(|| format!("the opportunity {}", planned.name))?;
        let quoted = self.quoted.contains(&i);
        if quoted {
            self.crm
                .create_quote(
                    self.admin,
                    NewQuote {
                        client_id,
                        opportunity_id: Some(opportunity.id.clone()),
                        price_list_id: None,
                        currency: CURRENCY.into(),
                        valid_until: self.valid_until,
                        terms: Some("Net 30".into()),
                        lines: vec![NewLine {
                            description: Some(planned.name.clone()),
                            quantity_milli: 1_000,
                            unit_price_minor: Some(planned.amount_cents),
                            selected: true,
                            ..Default::default()
                        }],
                    },
                )
                .await
                .map_err(api)
                .with_context(|| format!("the quote of {}", planned.name))?;
        }
        match planned.outcome {
            PlannedOutcome::Open => {}
            PlannedOutcome::Won => {
                self.crm
                    .win_opportunity(self.admin, &opportunity.id)
                    .await
                    .map_err(api)
                    .with_context(|| format!("winning {}", planned.name))?;
            }
            PlannedOutcome::Lost(reason) => {
                self.crm
                    .lose_opportunity(self.admin, &opportunity.id, reason)
                    .await
                    .map_err(api)
                    .with_context(|| format!("losing {}", planned.name))?;
            }
        }
        Ok(quoted)
    }
}
