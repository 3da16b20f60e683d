//! Writes a [`SeedPlan`] through the subgraphs' own use cases: identity (tenant, administrator
//! and roles; the other accounts through its batched user import,
//! [`erp_identity::Identity::import_users`]), the employee subgraph's import API (departments,
//! locations, hires, sealed compensation: [`erp_employee::app::import`]) and the PMO service
//! (projects, members, boards), so every rule and every event of a normal write applies to what
//! a company sets up.
//!
//! The HISTORY is different: a year of a 10,000-person company is millions of rows (punches,
//! tasks, time entries), which one transaction and one event each would take hours to write,
//! and which is not news (consumers must not receive a year of `timer.stopped` as if it happened
//! now). So it is written in batches, without events:
//!
//! - attendance: the employee subgraph's history import (`Employee::import_punches`: the
//!   check-in use case stamps the current time), one transaction per day, multi-row INSERTs;
//! - tasks and time entries: the PMO store's import ([`erp_pmo::store::import`]), which keeps
//!   the rules of a task's creation and of a timer's stop (WIP limits, the timesheet weeks time
//!   entries touch, no time into a locked week), one transaction or one journal record per
//!   batch.
//!
//! - finance: a quarter (tiers S and M) or a year (tier L) of customer invoices, supplier
//!   bills, credit notes, payments and expense claims through finance's import use cases, one
//!   transaction per document on its historical dates, WITH their events ([`finance`] says
//!   why).
//! - CRM: a pipeline, the plan's clients and prospects, leads (through the CSV import) and
//!   opportunities in stages, won and lost, with draft quotes, through the CRM's use cases
//!   ([`crm`]).
//! - marketing: contacts with their consent, segments, a newsletter's history with its opens
//!   and clicks, a welcome journey, through the marketing subgraph's use cases ([`marketing`]).
//!
//! Every history row gets an id derived from the plan and the tenant ([`history_id`]) and the
//! stores skip what they hold already, so a load interrupted anywhere is completed by the same
//! command with `--resume` (which also finds the tenant, departments, people, projects and boards
//! an earlier run created) without writing anything twice. The history is generated and written
//! in a stream (a day of punches, a week of time entries at a time): memory stays flat whatever
//! the tier.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::{NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};

use erp_employee::app::import::{
    DepartmentImport, HistoricPunch, LocationImport, PersonImport, StoredPerson,
};
use erp_employee::app::people::CompensationChange;
use erp_employee::domain::attendance::{GeoPoint, Geofence, PunchKind};
use erp_employee::domain::{DisplayName, EmployeeNumber, NewHire, Salary};
use erp_employee::Employee;
use erp_identity::{Identity, ImportedUser, ImportedUserOutcome};
use erp_kit::auth::{Audience, Claims};
use erp_kit::pagination::PageRequest;
use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, TenantId};
use erp_pmo::app::import::MAX_IMPORT_BATCH;
use erp_pmo::app::projects::NewProject;
use erp_pmo::domain::board::NewColumn;
use erp_pmo::domain::project::{Member, Money, ProjectRole};
use erp_pmo::domain::task::{Label, TaskStatus};
use erp_pmo::store::{BoardDoc, Imported, ProjectDoc, TaskDoc, TimeEntryDoc};
use erp_pmo::Pmo;

mod crm;
mod finance;
mod marketing;
mod ops;
mod payroll;

pub use crm::{load_crm, CrmTarget};
pub use finance::load_finance;
pub use marketing::{load_marketing, CONTACT_BATCH};
pub use ops::load_ops;
pub use payroll::load_payroll;

use crate::seed::{
    history_id, PlannedRole, PlannedStatus, PlannedTimeEntry, SeedPlan, BOARD_COLUMNS,
};

/// The error with its internal details (an operator's command, not a client's answer).
fn api(err: ApiError) -> anyhow::Error {
    match err {
        ApiError::Internal(details) => anyhow!("internal error: {details}"),
        other => anyhow!("{:?}: {}", other.code(), other.message()),
    }
}

fn pmo(err: ApiError) -> anyhow::Error {
    match err.reason() {
        Some(reason) => anyhow!("{}: {}", reason.name(), err.message()),
        None => api(err),
    }
}

/// Runs a PMO write again when it collided with a concurrent one (MongoDB write conflicts
/// between the seed's parallel writes; the store answers CONFLICT "retry"). Every write
/// retried here is all-or-nothing and idempotent by id. `spread` (the write's index) staggers
/// the retries of writers that collided with each other.
async fn retrying<T, F, Fut>(spread: usize, mut write: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 0u64;
    loop {
        match write().await {
            Err(ApiError::Conflict(_)) if attempt < 20 => {
                attempt += 1;
                let pause = 5 * attempt + (spread as u64 % 11);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

/// Where a plan is written.
pub struct SeedTargets {
    pub identity: Identity,
    pub employees: Employee,
    /// `None` skips the PMO part (projects, tasks, time entries).
    pub pmo: Option<Pmo>,
    /// `None` skips the finance history (invoices, payments, expense claims).
    pub finance: Option<erp_finance::Finance>,
    /// `None` skips the CRM (pipeline, clients, leads, opportunities, quotes).
    pub crm: Option<erp_crm::Crm>,
    /// `None` skips the marketing (contacts and consent, segments, the newsletter's history,
    /// the welcome journey).
    pub marketing: Option<erp_marketing::Marketing>,
    /// `None` skips the operations data (assets, SOPs, tickets).
    pub ops: Option<erp_ops::Ops>,
}

/// Tasks or time entries per import call by default (one transaction, or one journal record
/// and one flush, each).
pub const DEFAULT_BATCH: usize = 2_000;

/// How a plan is written.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The administrator's password (the plan's first employee).
    pub admin_password: String,
    /// Activate every invited user with this password (an Argon2id hash each: fine for tier S,
    /// far too slow for tier L, whose people stay invited).
    pub user_password: Option<String>,
    /// Relational writes in flight at once (1 for SQLite: one writer at a time).
    pub concurrency: usize,
    /// PMO writes (and import batches) in flight at once.
    pub pmo_concurrency: usize,
    /// Tasks or time entries per import batch (1 to the store's `MAX_IMPORT_BATCH`).
    pub batch: usize,
    /// Only the time entries of the history's last N days (None: the whole history). The
    /// report says how many were left out.
    pub pmo_history_days: Option<i64>,
    /// Complete an earlier load of the same plan (same tier, seed, tenant name and `until`)
    /// in its tenant instead of creating a new one.
    pub resume: bool,
    /// Progress lines on stderr (phase, count, rate).
    pub progress: bool,
    /// Write the payroll history with the finance history (the embedded demo does not: its
    /// payroll is its users' to set up).
    pub payroll: bool,
    /// Write the marketing contacts (with their consent and segment membership) through the
    /// marketing subgraph's bulk load ([`erp_marketing::Marketing::load_contacts`], one
    /// transaction per [`marketing::CONTACT_BATCH`] contacts) instead of one `create_contact`
    /// and `record_consent` each. Tier L's million contacts always go in bulk.
    pub marketing_bulk: bool,
}

impl LoadOptions {
    /// One writer at a time, the default batch, the whole history, quiet.
    pub fn new(admin_password: impl Into<String>) -> Self {
        Self {
            admin_password: admin_password.into(),
            user_password: None,
            concurrency: 1,
            pmo_concurrency: 1,
            batch: DEFAULT_BATCH,
            pmo_history_days: None,
            resume: false,
            progress: false,
            payroll: true,
            marketing_bulk: false,
        }
    }
}

/// What a load created: the tenant, and the ids the stores gave the plan's people.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeededTenant {
    pub tenant_id: String,
    pub admin_user_id: String,
    pub admin_email: String,
    pub admin_name: String,
}

/// One phase of a load: what it wrote, what it found written already, how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseReport {
    pub name: &'static str,
    pub written: usize,
    pub existing: usize,
    pub seconds: f64,
}

impl PhaseReport {
    /// Rows written or checked per second.
    pub fn rate(&self) -> f64 {
        (self.written + self.existing) as f64 / self.seconds.max(1e-9)
    }
}

/// Counts (what the tenant holds of the plan after the load) and phases of a load.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub departments: usize,
    pub locations: usize,
    pub employees: usize,
    /// Users activated by this load (with a user password).
    pub active_users: usize,
    pub punches: usize,
    pub projects: usize,
    pub tasks: usize,
    pub time_entries: usize,
    /// The plan's time entries before the `pmo_history_days` window: not written.
    pub time_entries_left_out: usize,
    /// The finance history (customer invoices, supplier bills, credit notes, payments both
    /// ways, expense claims).
    pub invoices: usize,
    pub bills: usize,
    pub credit_notes: usize,
    pub payments: usize,
    pub expense_claims: usize,
    /// The CRM (clients, leads, opportunities, quotes).
    pub crm_clients: usize,
    pub leads: usize,
    pub opportunities: usize,
    pub quotes: usize,
    /// The marketing (contacts, segments, newsletter messages sent, journeys).
    pub marketing_contacts: usize,
    pub marketing_segments: usize,
    pub newsletter_sent: usize,
    pub journeys: usize,
    /// Operations: assets, SOPs and tickets.
    pub assets: usize,
    pub sops: usize,
    pub tickets: usize,
    pub phases: Vec<PhaseReport>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} departments, {} locations, {} employees ({} users activated), {} punches, {} projects, {} tasks, {} time entries",
            self.departments,
            self.locations,
            self.employees,
            self.active_users,
            self.punches,
            self.projects,
            self.tasks,
            self.time_entries
        )?;
        if self.invoices + self.bills + self.expense_claims > 0 {
            writeln!(
                f,
                "finance: {} invoices, {} credit notes, {} supplier bills, {} payments, {} expense claims",
                self.invoices, self.credit_notes, self.bills, self.payments, self.expense_claims
            )?;
        }
        if self.crm_clients + self.leads + self.opportunities > 0 {
            writeln!(
                f,
                "crm: {} clients, {} leads, {} opportunities, {} quotes",
                self.crm_clients, self.leads, self.opportunities, self.quotes
            )?;
        }
        if self.marketing_contacts + self.marketing_segments > 0 {
            writeln!(
                f,
                "marketing: {} contacts, {} segments, {} newsletter messages sent, {} journeys",
                self.marketing_contacts,
                self.marketing_segments,
                self.newsletter_sent,
                self.journeys
            )?;
        }
        if self.assets + self.sops + self.tickets > 0 {
            writeln!(
                f,
                "ops: {} assets, {} SOPs, {} tickets",
                self.assets, self.sops, self.tickets
            )?;
        }
        if self.time_entries_left_out > 0 {
            writeln!(
                f,
                "  NOT written: {} time entries of the plan before the --pmo-history-days window",
                self.time_entries_left_out
            )?;
        }
        writeln!(
            f,
            "  {:<30} {:>10} {:>10} {:>9} {:>10}",
            "phase", "written", "existing", "seconds", "rows/s"
        )?;
        for phase in &self.phases {
            writeln!(
                f,
                "  {:<30} {:>10} {:>10} {:>9.1} {:>10.0}",
                phase.name,
                phase.written,
                phase.existing,
                phase.seconds,
                phase.rate()
            )?;
        }
        Ok(())
    }
}

/// A phase being written: counts, and a progress line every few seconds.
struct Progress {
    name: &'static str,
    total: usize,
    written: usize,
    existing: usize,
    started: Instant,
    last_line: Instant,
    print: bool,
}

/// How often a long phase prints where it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

impl Progress {
    fn start(name: &'static str, total: usize, print: bool) -> Self {
        if print && total > 0 {
            eprintln!("erp-os seed: {name}: {total} to write");
        }
        let now = Instant::now();
        Self {
            name,
            total,
            written: 0,
            existing: 0,
            started: now,
            last_line: now,
            print,
        }
    }

    fn add(&mut self, written: usize, existing: usize) {
        self.written += written;
        self.existing += existing;
        if self.print && self.last_line.elapsed() >= PROGRESS_EVERY {
            self.last_line = Instant::now();
            let done = self.written + self.existing;
            let seconds = self.started.elapsed().as_secs_f64();
            let rate = done as f64 / seconds.max(1e-9);
            let left = self.total.saturating_sub(done) as f64 / rate.max(1e-9);
            eprintln!(
                "erp-os seed: {}: {done} of {} ({:.0} %), {rate:.0}/s, about {:.0} s left",
                self.name,
                self.total,
                100.0 * done as f64 / self.total.max(1) as f64,
                left
            );
        }
    }

    fn imported(&mut self, imported: Imported) {
        self.add(imported.inserted, imported.existing);
    }

    /// One idempotent write: new, or the replay of one an earlier run made.
    fn replayed(&mut self, replayed: bool) {
        self.add(usize::from(!replayed), usize::from(replayed));
    }

    /// Ends a phase of one row: `written` of it, the rest found.
    fn finish_with(mut self, report: &mut LoadReport, written: usize) {
        self.written = written;
        self.existing = self.total.saturating_sub(written);
        self.finish(report);
    }

    fn finish(self, report: &mut LoadReport) -> usize {
        let phase = PhaseReport {
            name: self.name,
            written: self.written,
            existing: self.existing,
            seconds: self.started.elapsed().as_secs_f64(),
        };
        if self.print {
            eprintln!(
                "erp-os seed: {}: {} written, {} existing, {:.1} s ({:.0}/s)",
                phase.name,
                phase.written,
                phase.existing,
                phase.seconds,
                phase.rate()
            );
        }
        report.phases.push(phase);
        self.written + self.existing
    }
}

/// The administrator's claims, as the identity service would sign them (the seed acts as them).
fn admin_claims(tenant: &SeededTenant) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        sub: tenant.admin_user_id.clone(),
        name: tenant.admin_name.clone(),
        email: tenant.admin_email.clone(),
        tenant_id: tenant.tenant_id.clone(),
        role: "Admin".into(),
        departments: vec![],
        permissions: vec!["project:write".into(), "project:read".into()],
        exp: now + 3600,
        iat: now,
        iss: "erp-os seed".into(),
        aud: Audience::One("erp".into()),
        jti: uuid::Uuid::now_v7().to_string(),
    }
}

/// The first day whose time entries are written.
pub fn pmo_history_start(plan: &SeedPlan, options: &LoadOptions) -> NaiveDate {
    match options.pmo_history_days {
        Some(days) => (plan.until - chrono::Duration::days(days)).max(plan.history_start()),
        None => plan.history_start(),
    }
}

/// Writes the whole plan into a NEW tenant named after the plan's company, or (resume) completes
/// an earlier load of it.
pub async fn load(
    plan: &SeedPlan,
    targets: &SeedTargets,
    options: &LoadOptions,
) -> anyhow::Result<(SeededTenant, LoadReport)> {
    load_with(plan, targets, options, |_| Ok(())).await
}

/// [`load`], telling `on_tenant` the tenant as soon as it exists (before anything else is
/// written), e.g. to record it.
pub async fn load_with(
    plan: &SeedPlan,
    targets: &SeedTargets,
    options: &LoadOptions,
    on_tenant: impl FnOnce(&SeededTenant) -> anyhow::Result<()>,
) -> anyhow::Result<(SeededTenant, LoadReport)> {
    if !(1..=MAX_IMPORT_BATCH).contains(&options.batch) {
        bail!(
            "the batch size is 1 to {}, not {}",
            MAX_IMPORT_BATCH,
            options.batch
        );
    }
    let mut report = LoadReport::default();
    let progress = Progress::start("tenant", 1, false);
    let (seeded, created) = tenant_of(plan, targets, options).await?;
    progress.finish_with(&mut report, usize::from(created));
    on_tenant(&seeded)?;
    let tenant = TenantId::from_claim(&seeded.tenant_id);

    let people = load_people(plan, targets, options, &seeded, &mut report).await?;
    report.punches = load_attendance(
        plan,
        &targets.employees,
        &tenant,
        &people,
        options,
        &mut report,
    )
    .await?;
    let project_ids = match &targets.pmo {
        Some(pmo_service) => {
            Some(load_projects(plan, pmo_service, &seeded, &people, options, &mut report).await?)
        }
        None => None,
    };
    if let Some(finance_service) = &targets.finance {
        load_finance(
            plan,
            finance_service,
            &seeded,
            &people,
            project_ids.as_deref(),
            options,
            &mut report,
        )
        .await?;
        if options.payroll {
            load_payroll(
                plan,
                finance_service,
                &seeded,
                &people,
                options,
                &mut report,
            )
            .await?;
        }
    }
    if let Some(crm_service) = &targets.crm {
        load_crm(
            plan,
            crm_service,
            &CrmTarget {
                tenant_id: &seeded.tenant_id,
                admin_user_id: &seeded.admin_user_id,
                user_ids: &people.user_ids,
            },
            options,
            &mut report,
        )
        .await?;
    }
    if let Some(marketing_service) = &targets.marketing {
        load_marketing(
            plan,
            marketing_service,
            &seeded.tenant_id,
            &seeded.admin_user_id,
            options,
            &mut report,
        )
        .await?;
    }
    if let Some(ops_service) = &targets.ops {
        load_ops(
            plan,
            ops_service,
            &seeded,
            &people.user_ids,
            options,
            &mut report,
        )
        .await?;
    }
    Ok((seeded, report))
}

/// The tenant: bootstrapped with the plan's first employee as its administrator, or (resume)
/// found through that administrator's email (unique across tenants).
async fn tenant_of(
    plan: &SeedPlan,
    targets: &SeedTargets,
    options: &LoadOptions,
) -> anyhow::Result<(SeededTenant, bool)> {
    let ceo = &plan.employees[0];
    if options.resume {
        let (found, admin) = targets
            .identity
            .account_by_email(&ceo.work_email)
            .await
            .map_err(api)?
            .ok_or_else(|| {
                anyhow!(
                    "nothing to resume: no user {} (this seed's administrator); run without --resume",
                    ceo.work_email
                )
            })?;
        if found.name != plan.company.trim() {
            bail!(
                "{} is the administrator of \"{}\", not of \"{}\" (another --tenant?)",
                admin.email,
                found.name,
                plan.company
            );
        }
        let seeded = SeededTenant {
            tenant_id: found.id,
            admin_user_id: admin.id,
            admin_email: admin.email,
            admin_name: admin.name,
        };
        return Ok((seeded, false));
    }
    let (tenant_model, admin) = targets
        .identity
        .bootstrap_tenant(
            &plan.company,
            &ceo.work_email,
            &ceo.display_name,
            &options.admin_password,
        )
        .await
        .map_err(api)
        .with_context(|| {
            format!(
                "creating the tenant \"{}\" (when an earlier seed of this tier, seed and tenant \
                 created it, `--resume` with the same --until completes it)",
                plan.company
            )
        })?;
    let seeded = SeededTenant {
        tenant_id: tenant_model.id,
        admin_user_id: admin.id,
        admin_email: admin.email,
        admin_name: admin.name,
    };
    Ok((seeded, true))
}

/// The ids the stores gave the plan's people, in plan order.
#[derive(Debug, Clone)]
pub struct People {
    pub employee_ids: Vec<String>,
    pub user_ids: Vec<String>,
    /// The location ids of the plan's locations, in plan order.
    pub location_ids: Vec<String>,
}

/// Departments, locations, users and employees (with compensation): what is missing of them.
async fn load_people(
    plan: &SeedPlan,
    targets: &SeedTargets,
    options: &LoadOptions,
    seeded: &SeededTenant,
    report: &mut LoadReport,
) -> anyhow::Result<People> {
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let actor = seeded.admin_user_id.as_str();
    let employees = &targets.employees;

    let total = plan.departments.len() + plan.locations.len();
    let mut progress = Progress::start("departments and locations", total, options.progress);
    let departments: Vec<DepartmentImport> = plan
        .departments
        .iter()
        .map(|d| DepartmentImport {
            name: d.name.clone(),
            parent: d.parent,
        })
        .collect();
    let imported = employees
        .import_departments(&tenant, actor, &departments)
        .await
        .map_err(api)
        .context("departments")?;
    progress.add(imported.written, departments.len() - imported.written);
    let department_ids = imported.ids;
    report.departments = department_ids.len();
    let locations: Vec<LocationImport> = plan
        .locations
        .iter()
        .map(|l| LocationImport {
            name: l.name.clone(),
            fence: Geofence {
                latitude: l.latitude,
                longitude: l.longitude,
                radius_meters: l.radius_meters,
            },
        })
        .collect();
    let imported = employees
        .import_locations(&tenant, &locations)
        .await
        .map_err(api)
        .context("locations")?;
    progress.add(imported.written, locations.len() - imported.written);
    let location_ids = imported.ids;
    report.locations = location_ids.len();
    progress.finish(report);

    // The tenant's data keys (sealing and blind index), created once before the people are
    // sealed `concurrency` at a time.
    employees
        .prepare_sealing(&tenant)
        .await
        .map_err(api)
        .context("creating the tenant's data keys")?;

    let mut progress = Progress::start(
        "users and employees",
        plan.employees.len(),
        options.progress,
    );
    // Everyone's account but the administrator's (bootstrapped with the tenant), through the
    // identity import: batched, and idempotent by email (an earlier, interrupted load's users
    // are found, not written again; their invitations stay without a token).
    let imported = plan
        .employees
        .iter()
        .filter(|planned| planned.role != PlannedRole::Admin)
        .map(|planned| ImportedUser {
            email: planned.work_email.clone(),
            name: planned.display_name.clone(),
            departments: vec![plan.departments[planned.department].name.clone()],
            role: planned.role.role_name().to_owned(),
            password: options.user_password.clone(),
        })
        .collect();
    let users: HashMap<String, ImportedUserOutcome> = targets
        .identity
        .import_users(&tenant, actor, imported)
        .await
        .map_err(api)
        .context("importing the users")?
        .into_iter()
        .map(|user| (user.email.clone(), user))
        .collect();
    let stored_employees = employees.people_by_number(&tenant).await.map_err(api)?;
    let context = HireContext {
        plan,
        targets,
        seeded,
        users: &users,
        department_ids: &department_ids,
        stored_employees: &stored_employees,
    };
    // Hire by management level: everyone's manager is hired in an earlier wave, and each wave
    // is written `concurrency` at a time.
    let mut level = vec![0usize; plan.employees.len()];
    for (i, employee) in plan.employees.iter().enumerate() {
        level[i] = employee.manager.map_or(0, |m| level[m] + 1);
    }
    let depth = level.iter().copied().max().unwrap_or(0);
    let mut employee_ids = vec![String::new(); plan.employees.len()];
    let mut user_ids = vec![String::new(); plan.employees.len()];
    for wave in 0..=depth {
        let members: Vec<usize> = (0..plan.employees.len())
            .filter(|i| level[*i] == wave)
            .collect();
        let mut hired = futures::stream::iter(members)
            .map(|i| {
                let manager_id = plan.employees[i].manager.map(|m| employee_ids[m].clone());
                context.hire_one(i, manager_id)
            })
            .buffer_unordered(options.concurrency.max(1));
        let mut done = Vec::new();
        while let Some(person) = hired.try_next().await? {
            progress.add(usize::from(person.wrote), usize::from(!person.wrote));
            report.active_users += usize::from(person.activated);
            done.push(person);
        }
        drop(hired);
        for person in done {
            employee_ids[person.index] = person.employee_id;
            user_ids[person.index] = person.user_id;
        }
    }
    report.employees = progress.finish(report);
    Ok(People {
        employee_ids,
        user_ids,
        location_ids,
    })
}

/// What hiring one person needs.
struct HireContext<'a> {
    plan: &'a SeedPlan,
    targets: &'a SeedTargets,
    seeded: &'a SeededTenant,
    /// The imported users by (normalised) email.
    users: &'a HashMap<String, ImportedUserOutcome>,
    department_ids: &'a [String],
    /// Employees of the tenant by number, written before this load.
    stored_employees: &'a HashMap<String, StoredPerson>,
}

/// One person after [`HireContext::hire_one`].
struct Hired {
    index: usize,
    employee_id: String,
    user_id: String,
    /// Whether anything of them was written (false: an earlier load wrote it all).
    wrote: bool,
    activated: bool,
}

impl HireContext<'_> {
    /// One person: their user (the administrator exists already; the others were imported,
    /// active when a password is given), their employee record, their compensation; each only
    /// when an earlier load did not write it.
    async fn hire_one(&self, i: usize, manager_id: Option<String>) -> anyhow::Result<Hired> {
        let (plan, targets, seeded) = (self.plan, self.targets, self.seeded);
        let tenant = TenantId::from_claim(&seeded.tenant_id);
        let actor = seeded.admin_user_id.as_str();
        let planned = &plan.employees[i];
        let email = EmailAddress::parse("workEmail", &planned.work_email).map_err(api)?;
        let mut wrote = false;
        let mut activated = false;
        let user_id = if planned.role == PlannedRole::Admin {
            seeded.admin_user_id.clone()
        } else {
            let user = self
                .users
                .get(email.as_str())
                .ok_or_else(|| anyhow!("the import did not answer for {}", email.as_str()))?;
            wrote |= user.created;
            activated = user.activated;
            user.id.clone()
        };
        let hire = NewHire {
            employee_number: EmployeeNumber::parse("employeeNumber", &planned.number)
                .map_err(api)?,
            display_name: DisplayName::parse("displayName", &planned.display_name).map_err(api)?,
            work_email: email,
            personal_email: None,
            date_of_birth: Some(planned.date_of_birth),
            title: Some(planned.title.clone()),
            department_id: Some(self.department_ids[planned.department].clone()),
            manager_id,
            user_id: Some(user_id.clone()),
            hired_on: planned.hired_on,
        };
        let compensation = CompensationChange {
            salary: Salary::parse(&planned.salary_eur.to_string(), "EUR").map_err(api)?,
            bank_account: Some(format!("DE{:020}", 10_000_000 + i)),
            tax_id: Some(format!("TX{:09}", 100_000 + i)),
        };
        let person = targets
            .employees
            .import_person(
                &tenant,
                actor,
                PersonImport {
                    hire,
                    compensation: Some(compensation),
                },
                self.stored_employees.get(&planned.number),
            )
            .await
            .map_err(api)
            .with_context(|| format!("hiring {}", planned.number))?;
        wrote |= person.wrote;
        let employee_id = person.employee_id;
        Ok(Hired {
            index: i,
            employee_id,
            user_id,
            wrote,
            activated,
        })
    }
}

/// The row key of a punch: the plan's person, day and kind (unique per tenant, so an earlier
/// load's punch is found).
fn punch_key(number: &str, day: NaiveDate, kind: &str) -> String {
    format!("seed-{number}-{day}-{kind}")
}

/// The attendance history: a check-in and a check-out per attendance day, one transaction per
/// day (`concurrency` days at once), multi-row INSERTs that skip punches already stored.
async fn load_attendance(
    plan: &SeedPlan,
    employees: &Employee,
    tenant: &TenantId,
    people: &People,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<usize> {
    let days: Vec<NaiveDate> = plan.working_days().collect();
    let total = 2 * days
        .iter()
        .map(|d| plan.attendance_on(*d).len())
        .sum::<usize>();
    let mut progress = Progress::start("attendance history (punches)", total, options.progress);
    let mut written = futures::stream::iter(days)
        .map(|day| attendance_day(plan, employees, tenant, people, day))
        .buffer_unordered(options.concurrency.max(1));
    while let Some((inserted, rows)) = written.try_next().await? {
        progress.add(inserted, rows - inserted);
    }
    drop(written);
    Ok(progress.finish(report))
}

/// One day of punches in one transaction: (punches inserted, punches of the day).
async fn attendance_day(
    plan: &SeedPlan,
    employees: &Employee,
    tenant: &TenantId,
    people: &People,
    day: NaiveDate,
) -> anyhow::Result<(usize, usize)> {
    let mut punches = Vec::new();
    for attendance in plan.attendance_on(day) {
        let planned = &plan.employees[attendance.employee];
        let location = &plan.locations[planned.location];
        for (kind, at) in [
            (PunchKind::In, attendance.check_in),
            (PunchKind::Out, attendance.check_out),
        ] {
            let key = punch_key(&planned.number, day, kind.as_str());
            punches.push(HistoricPunch {
                id: history_id(at, &format!("{}:punch:{key}", tenant.as_str())),
                employee_id: people.employee_ids[attendance.employee].clone(),
                kind,
                at: at.and_utc().timestamp_millis(),
                day,
                source: "seed".to_owned(),
                point: Some(GeoPoint {
                    latitude: location.latitude,
                    longitude: location.longitude,
                }),
                location_id: Some(people.location_ids[planned.location].clone()),
                punch_key: key,
            });
        }
    }
    let count = punches.len();
    let inserted = employees
        .import_punches(tenant, punches)
        .await
        .map_err(api)
        .with_context(|| format!("punches of {day}"))?;
    Ok((usize::try_from(inserted)?, count))
}

fn task_status(status: PlannedStatus) -> TaskStatus {
    match status {
        PlannedStatus::Todo => TaskStatus::Todo,
        PlannedStatus::InProgress => TaskStatus::InProgress,
        PlannedStatus::Done => TaskStatus::Done,
    }
}

/// Every project of the tenant (pages of the store).
async fn projects_of(pmo_service: &Pmo, tenant: &TenantId) -> anyhow::Result<Vec<ProjectDoc>> {
    const PAGE: u64 = 500;
    let mut projects = Vec::new();
    let mut after = None;
    loop {
        let page = PageRequest {
            limit: PAGE,
            after: after.clone(),
            before: None,
            backward: false,
        };
        let mut rows = pmo_service.projects(tenant, &page).await.map_err(pmo)?;
        let more = rows.len() as u64 > PAGE;
        rows.truncate(PAGE as usize);
        after = rows.last().map(|p| p.id.clone());
        projects.extend(rows);
        if !more {
            return Ok(projects);
        }
    }
}

/// Projects (owned by the administrator, led by the team's first member), their members and a
/// board each, through the PMO service; then the history: tasks in the board's columns and the
/// time entries, through the store's import. What an earlier load wrote is kept. Answers the
/// projects' ids in plan order.
pub async fn load_projects(
    plan: &SeedPlan,
    pmo_service: &Pmo,
    seeded: &SeededTenant,
    people: &People,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<Vec<String>> {
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let caller = admin_claims(seeded);
    let mut progress = Progress::start(
        "projects, members and boards",
        plan.projects.len(),
        options.progress,
    );
    let stored: HashMap<String, ProjectDoc> = projects_of(pmo_service, &tenant)
        .await?
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    let stored_ids: Vec<String> = stored.values().map(|p| p.id.clone()).collect();
    let mut boards: HashMap<String, BoardDoc> = pmo_service
        .boards_of_projects(&tenant, &stored_ids)
        .await
        .map_err(pmo)?
        .into_iter()
        .map(|b| (b.project_id.clone(), b))
        .collect();
    let mut project_ids = Vec::with_capacity(plan.projects.len());
    let mut columns_of = Vec::with_capacity(plan.projects.len());
    for planned in &plan.projects {
        let mut wrote = false;
        let project = match stored.get(&planned.name) {
            Some(project) => project.clone(),
            None => {
                wrote = true;
                pmo_service
                    .create_project(
                        &tenant,
                        &caller,
                        NewProject {
                            name: planned.name.clone(),
                            client: planned.client.clone(),
                            client_id: None,
                            budget: planned.budget_eur.map(|eur| Money {
                                minor: eur as i64 * 100,
                                currency: "EUR".into(),
                            }),
                            billable: planned.billable,
                            owner_employee_id: Some(people.employee_ids[0].clone()),
                        },
                    )
                    .await
                    .map_err(pmo)
                    .with_context(|| format!("project {}", planned.name))?
            }
        };
        let members: HashSet<&str> = project.members.iter().map(|m| m.user_id.as_str()).collect();
        for &member in &planned.members {
            if members.contains(people.user_ids[member].as_str()) {
                continue;
            }
            let role = if member == planned.lead {
                ProjectRole::Manager
            } else {
                ProjectRole::Contributor
            };
            wrote = true;
            pmo_service
                .set_member(
                    &tenant,
                    &caller,
                    &project.id,
                    Member {
                        user_id: people.user_ids[member].clone(),
                        employee_id: Some(people.employee_ids[member].clone()),
                        role,
                    },
                )
                .await
                .map_err(pmo)?;
        }
        let board = match boards.remove(&project.id) {
            Some(board) => board,
            None => {
                wrote = true;
                pmo_service
                    .create_board(
                        &tenant,
                        &caller,
                        &project.id,
                        format!("{} board", planned.name),
                        BOARD_COLUMNS
                            .iter()
                            .map(|(name, status)| NewColumn {
                                name: (*name).to_owned(),
                                status: task_status(*status),
                                wip_limit: None,
                            })
                            .collect(),
                    )
                    .await
                    .map_err(pmo)?
            }
        };
        // The board's columns in the order of BOARD_COLUMNS, found by name.
        let columns = BOARD_COLUMNS
            .iter()
            .map(|(name, _)| {
                board
                    .columns
                    .iter()
                    .find(|c| c.name == *name)
                    .map(|c| c.id.clone())
                    .ok_or_else(|| anyhow!("the board of {} has no column {name}", planned.name))
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        columns_of.push((board.id.clone(), columns));
        project_ids.push(project.id);
        progress.add(usize::from(wrote), usize::from(!wrote));
    }
    report.projects = progress.finish(report);

    let history = History {
        plan,
        pmo: pmo_service,
        tenant: &tenant,
        people,
        project_ids: &project_ids,
        columns_of: &columns_of,
        options,
    };
    report.tasks = history.tasks(report).await?;
    history.time_entries(report).await?;
    Ok(project_ids)
}

/// Writing the PMO history of a plan into a tenant.
struct History<'a> {
    plan: &'a SeedPlan,
    pmo: &'a Pmo,
    tenant: &'a TenantId,
    people: &'a People,
    project_ids: &'a [String],
    /// Per project: its board and the columns of BOARD_COLUMNS.
    columns_of: &'a [(String, Vec<String>)],
    options: &'a LoadOptions,
}

impl History<'_> {
    fn task_doc(&self, n: usize) -> anyhow::Result<TaskDoc> {
        let planned = &self.plan.tasks[n];
        let (board_id, columns) = &self.columns_of[planned.project];
        let created_at = self.plan.task_created_at(n).and_utc();
        Ok(TaskDoc {
            id: self.plan.task_id(self.tenant.as_str(), n),
            tenant_id: self.tenant.as_str().to_owned(),
            project_id: self.project_ids[planned.project].clone(),
            board_id: Some(board_id.clone()),
            column_id: Some(columns[planned.status.column()].clone()),
            status: task_status(planned.status),
            title: planned.title.clone(),
            description: None,
            assignee_ids: vec![self.people.employee_ids[planned.assignee].clone()],
            estimate_minutes: Some(i64::from(planned.estimate_minutes)),
            // As createTask stores them: lower case, sorted, unique.
            labels: Label::parse_all("labels", &planned.labels).map_err(api)?,
            sprint_id: None,
            blocked_by: Vec::new(),
            parent_id: None,
            custom_fields: Vec::new(),
            created_at,
            updated_at: created_at,
        })
    }

    /// Every task of the plan, in batches (`pmo_concurrency` in flight).
    async fn tasks(&self, report: &mut LoadReport) -> anyhow::Result<usize> {
        let total = self.plan.tasks.len();
        let mut progress = Progress::start("tasks", total, self.options.progress);
        let batch = self.options.batch;
        let mut batches = futures::stream::iter((0..total).step_by(batch).enumerate())
            .map(|(b, first)| async move {
                let docs = (first..(first + batch).min(total))
                    .map(|n| self.task_doc(n))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                retrying(b, || self.pmo.import_tasks(self.tenant, &docs))
                    .await
                    .map_err(pmo)
                    .with_context(|| format!("tasks {first} to {}", first + docs.len()))
            })
            .buffer_unordered(self.options.pmo_concurrency.max(1));
        while let Some(imported) = batches.try_next().await? {
            progress.imported(imported);
        }
        drop(batches);
        Ok(progress.finish(report))
    }

    fn time_entry_doc(&self, entry: &PlannedTimeEntry) -> TimeEntryDoc {
        let task = &self.plan.tasks[entry.task];
        let started_at = entry.started_at.and_utc();
        TimeEntryDoc {
            id: self.plan.time_entry_id(self.tenant.as_str(), entry),
            tenant_id: self.tenant.as_str().to_owned(),
            user_id: self.people.user_ids[entry.employee].clone(),
            task_id: self.plan.task_id(self.tenant.as_str(), entry.task),
            project_id: self.project_ids[task.project].clone(),
            started_at,
            ended_at: started_at + chrono::Duration::minutes(i64::from(entry.minutes)),
            duration_seconds: i64::from(entry.minutes) * 60,
            billable: self.plan.projects[task.project].billable,
        }
    }

    /// The time entries of the history (or of its last `pmo_history_days`), a week at a time:
    /// each week's entries sorted by person and cut into batches at a person's boundary, so no
    /// two batches touch the same timesheet (concurrent batches never collide on a week).
    async fn time_entries(&self, report: &mut LoadReport) -> anyhow::Result<()> {
        let plan = self.plan;
        let from = pmo_history_start(plan, self.options);
        let (mut total, mut left_out) = (0usize, 0usize);
        for attendance in plan.attendance() {
            let entries = plan.time_entries_of(&attendance).len();
            if attendance.day >= from {
                total += entries;
            } else {
                left_out += entries;
            }
        }
        report.time_entries_left_out = left_out;
        if left_out > 0 && self.options.progress {
            eprintln!(
                "erp-os seed: time entries: only the {total} from {from} on (--pmo-history-days); \
                 {left_out} earlier ones of the plan are NOT written"
            );
        }
        let mut progress = Progress::start("time entries", total, self.options.progress);
        let batch = self.options.batch;
        let weeks = plan.working_weeks(from).into_iter().flat_map(move |days| {
            let mut entries: Vec<PlannedTimeEntry> = days
                .iter()
                .flat_map(|day| plan.attendance_on(*day))
                .flat_map(|attendance| plan.time_entries_of(&attendance))
                .collect();
            entries.sort_by_key(|e| (e.employee, e.started_at));
            person_batches(entries, batch)
        });
        let mut batches = futures::stream::iter(weeks.enumerate())
            .map(|(b, entries)| async move {
                let docs: Vec<TimeEntryDoc> =
                    entries.iter().map(|e| self.time_entry_doc(e)).collect();
                retrying(b, || self.pmo.import_time_entries(self.tenant, &docs))
                    .await
                    .map_err(pmo)
                    .with_context(|| {
                        format!(
                            "time entries from {}",
                            entries
                                .first()
                                .map_or(String::new(), |e| e.started_at.to_string())
                        )
                    })
            })
            .buffer_unordered(self.options.pmo_concurrency.max(1));
        while let Some(imported) = batches.try_next().await? {
            progress.imported(imported);
        }
        drop(batches);
        report.time_entries = progress.finish(report);
        Ok(())
    }
}

/// `entries` (sorted by person) cut into batches of about `size`, never splitting a person's.
fn person_batches(entries: Vec<PlannedTimeEntry>, size: usize) -> Vec<Vec<PlannedTimeEntry>> {
    let mut batches: Vec<Vec<PlannedTimeEntry>> = Vec::new();
    let mut current: Vec<PlannedTimeEntry> = Vec::with_capacity(size);
    for entry in entries {
        let new_person = current
            .last()
            .is_some_and(|last| last.employee != entry.employee);
        if new_person && current.len() >= size {
            batches.push(std::mem::replace(&mut current, Vec::with_capacity(size)));
        }
        current.push(entry);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The people of an existing seeded tenant, found by employee number (for re-seeding the PMO
/// part of the demo into a store that does not keep data across restarts).
pub async fn people_of(
    plan: &SeedPlan,
    employees: &Employee,
    tenant: &TenantId,
) -> anyhow::Result<People> {
    let by_number = employees.people_by_number(tenant).await.map_err(api)?;
    let by_name = employees.location_ids_by_name(tenant).await.map_err(api)?;
    let mut people = People {
        employee_ids: Vec::with_capacity(plan.employees.len()),
        user_ids: Vec::with_capacity(plan.employees.len()),
        location_ids: Vec::with_capacity(plan.locations.len()),
    };
    for planned in &plan.employees {
        let person = by_number
            .get(&planned.number)
            .ok_or_else(|| anyhow!("employee {} of the seed is missing", planned.number))?;
        people.employee_ids.push(person.employee_id.clone());
        people.user_ids.push(
            person
                .user_id
                .clone()
                .ok_or_else(|| anyhow!("employee {} has no user", planned.number))?,
        );
    }
    for planned in &plan.locations {
        let id = by_name
            .get(&planned.name)
            .ok_or_else(|| anyhow!("location {} of the seed is missing", planned.name))?;
        people.location_ids.push(id.clone());
    }
    Ok(people)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn entry(employee: usize, minute: i64) -> PlannedTimeEntry {
        let start = NaiveDate::from_ymd_opt(2026, 1, 5)
            .and_then(|d| d.and_hms_opt(8, 0, 0))
            .map(|t| t + chrono::Duration::minutes(minute));
        PlannedTimeEntry {
            employee,
            task: 0,
            started_at: start.unwrap_or_default(),
            minutes: 30,
        }
    }

    #[test]
    fn batches_never_split_a_persons_week() {
        let entries: Vec<PlannedTimeEntry> = (0..10)
            .flat_map(|person| (0..3).map(move |n| entry(person, 60 * n)))
            .collect();
        let batches = person_batches(entries.clone(), 4);
        assert_eq!(batches.concat(), entries);
        for batch in &batches {
            // Whole people only: 2 people (6 entries) once a batch holds 4 or more.
            assert_eq!(batch.len() % 3, 0, "{batch:?}");
            assert!(batch.len() <= 6);
        }
        let people: Vec<HashSet<usize>> = batches
            .iter()
            .map(|b| b.iter().map(|e| e.employee).collect())
            .collect();
        for (a, left) in people.iter().enumerate() {
            for right in &people[a + 1..] {
                assert!(left.is_disjoint(right));
            }
        }
        assert!(person_batches(Vec::new(), 4).is_empty());
    }
}
