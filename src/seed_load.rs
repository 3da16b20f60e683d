//! Writes a [`SeedPlan`] through the subgraphs' own services and stores: the identity service
//! (tenant, administrator, invitations, roles), the employee store (departments, locations,
//! hires, sealed compensation) and the PMO service and store (projects, members, boards, tasks,
//! time entries), so every rule and every event of a normal write applies.
//!
//! One exception, for speed: the attendance HISTORY (millions of punches in tier L) has no store
//! API (`EmployeeStore::record_punch` stamps the current time, one transaction per punch), so
//! it is inserted in batches with the employee store's own sea-orm entity (`punch`), one
//! transaction per day, without outbox events (history is not news).

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{anyhow, Context};
use chrono::{NaiveDateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use erp_employee::domain::attendance::Geofence;
use erp_employee::domain::{DisplayName, EmployeeNumber, NewHire, Salary};
use erp_employee::store::entities::punch;
use erp_employee::store::{CompensationChange, EmployeeFilter, EmployeeStore};
use erp_identity::service::IdentityService;
use erp_identity::store::entities::role;
use erp_kit::auth::{Audience, Claims};
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, TenantId};
use erp_pmo::domain::{Money, ProjectRole, TaskStatus};
use erp_pmo::service::{NewProject, NewTask, Pmo};
use erp_pmo::store::{Member, PmoError, TimeEntryDoc};

use crate::seed::{PlannedRole, PlannedStatus, SeedPlan, BOARD_COLUMNS};

/// The error with its internal details (an operator's command, not a client's answer).
fn api(err: ApiError) -> anyhow::Error {
    match err {
        ApiError::Internal(details) => anyhow!("internal error: {details}"),
        other => anyhow!("{:?}: {}", other.code(), other.message()),
    }
}

fn pmo(err: PmoError) -> anyhow::Error {
    anyhow!("pmo: {err:?}")
}

/// Runs a PMO write again when it collided with a concurrent one (MongoDB write conflicts
/// between the seed's parallel writes; the store answers CONFLICT "retry"). Every write
/// retried here is all-or-nothing, and time entries are idempotent by id. `spread` (the
/// write's index) staggers the retries of writers that collided with each other.
async fn retrying<T, F, Fut>(spread: usize, mut write: F) -> Result<T, PmoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PmoError>>,
{
    let mut attempt = 0u64;
    loop {
        match write().await {
            Err(PmoError::Transient(_)) | Err(PmoError::Api(ApiError::Conflict(_)))
                if attempt < 20 =>
            {
                attempt += 1;
                let pause = 5 * attempt + (spread as u64 % 11);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

/// Where a plan is written.
pub struct SeedTargets {
    pub identity: IdentityService,
    pub employees: EmployeeStore,
    /// `None` skips the PMO part (projects, tasks, time entries).
    pub pmo: Option<Pmo>,
}

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
    /// PMO writes in flight at once.
    pub pmo_concurrency: usize,
}

/// What a load created: the tenant, and the ids the stores gave the plan's people.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeededTenant {
    pub tenant_id: String,
    pub admin_user_id: String,
    pub admin_email: String,
    pub admin_name: String,
}

/// Counts and timings of a load.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub departments: usize,
    pub locations: usize,
    pub employees: usize,
    pub active_users: usize,
    pub punches: usize,
    pub projects: usize,
    pub tasks: usize,
    pub time_entries: usize,
    /// (phase, seconds).
    pub timings: Vec<(&'static str, f64)>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} departments, {} locations, {} employees ({} active users), {} punches, {} projects, {} tasks, {} time entries",
            self.departments,
            self.locations,
            self.employees,
            self.active_users,
            self.punches,
            self.projects,
            self.tasks,
            self.time_entries
        )?;
        for (phase, seconds) in &self.timings {
            writeln!(f, "  {phase:<28} {seconds:>8.1} s")?;
        }
        Ok(())
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

fn timed<T>(report: &mut LoadReport, phase: &'static str, started: Instant, value: T) -> T {
    report
        .timings
        .push((phase, started.elapsed().as_secs_f64()));
    value
}

/// Writes the whole plan into a NEW tenant named after the plan's company.
pub async fn load(
    plan: &SeedPlan,
    targets: &SeedTargets,
    options: &LoadOptions,
) -> anyhow::Result<(SeededTenant, LoadReport)> {
    let mut report = LoadReport::default();
    let started = Instant::now();
    let ceo = &plan.employees[0];
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
        .context("creating the tenant")?;
    let seeded = SeededTenant {
        tenant_id: tenant_model.id.clone(),
        admin_user_id: admin.id.clone(),
        admin_email: admin.email.clone(),
        admin_name: admin.name.clone(),
    };
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    timed(&mut report, "tenant", started, ());

    let people = load_people(plan, targets, options, &seeded, &mut report).await?;
    let started = Instant::now();
    report.punches = load_attendance(plan, &targets.employees, &tenant, &people).await?;
    timed(&mut report, "attendance history", started, ());
    if let Some(pmo_service) = &targets.pmo {
        load_projects(plan, pmo_service, &seeded, &people, options, &mut report).await?;
    }
    Ok((seeded, report))
}

/// The ids the stores gave the plan's people, in plan order.
#[derive(Debug, Clone)]
pub struct People {
    pub employee_ids: Vec<String>,
    pub user_ids: Vec<String>,
}

/// Departments, locations, users and employees (with compensation).
async fn load_people(
    plan: &SeedPlan,
    targets: &SeedTargets,
    options: &LoadOptions,
    seeded: &SeededTenant,
    report: &mut LoadReport,
) -> anyhow::Result<People> {
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let actor = seeded.admin_user_id.as_str();
    let store = &targets.employees;

    let started = Instant::now();
    let mut department_ids: Vec<String> = Vec::with_capacity(plan.departments.len());
    for department in &plan.departments {
        let parent = department.parent.map(|p| department_ids[p].clone());
        let model = store
            .create_department(&tenant, actor, &department.name, parent)
            .await
            .map_err(api)
            .with_context(|| format!("department {}", department.name))?;
        department_ids.push(model.id);
    }
    report.departments = department_ids.len();
    let mut location_ids = Vec::with_capacity(plan.locations.len());
    for location in &plan.locations {
        let fence = Geofence {
            latitude: location.latitude,
            longitude: location.longitude,
            radius_meters: location.radius_meters,
        };
        let model = store
            .create_location(&tenant, &location.name, fence)
            .await
            .map_err(api)
            .with_context(|| format!("location {}", location.name))?;
        location_ids.push(model.id);
    }
    report.locations = location_ids.len();
    timed(report, "departments and locations", started, ());

    // The tenant's data keys (sealing and blind index) are created on first use on the store's
    // connection; creating them inside `set_compensation`'s transaction makes SQLite answer
    // "database is locked" (the transaction's snapshot is older than the key row). Create them
    // first, outside any transaction.
    let cipher = store.cipher();
    cipher
        .encrypt(&tenant, "employees", "salary", "data-key", "0")
        .await
        .map_err(api)
        .context("creating the tenant's data key")?;
    cipher
        .blind_index(&tenant, "tax_id", "0")
        .await
        .map_err(api)
        .context("creating the tenant's index key")?;

    let started = Instant::now();
    let roles: HashMap<String, String> = role::Entity::find()
        .filter(role::Column::TenantId.eq(seeded.tenant_id.as_str()))
        .all(targets.identity.db())
        .await?
        .into_iter()
        .map(|r| (r.name, r.id))
        .collect();
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
        let hired: Vec<(usize, String, String, bool)> = futures::stream::iter(members)
            .map(|i| {
                let manager_id = plan.employees[i].manager.map(|m| employee_ids[m].clone());
                hire_one(
                    plan,
                    i,
                    targets,
                    options,
                    seeded,
                    &roles,
                    &department_ids,
                    manager_id,
                )
            })
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        for (i, employee_id, user_id, active) in hired {
            employee_ids[i] = employee_id;
            user_ids[i] = user_id;
            report.active_users += usize::from(active);
        }
    }
    report.employees = plan.employees.len();
    timed(report, "users and employees", started, ());
    Ok(People {
        employee_ids,
        user_ids,
    })
}

/// One person: their user (the administrator exists already; others are invited, and
/// activated when a password is given), their employee record, their compensation.
#[allow(clippy::too_many_arguments)]
async fn hire_one(
    plan: &SeedPlan,
    i: usize,
    targets: &SeedTargets,
    options: &LoadOptions,
    seeded: &SeededTenant,
    roles: &HashMap<String, String>,
    department_ids: &[String],
    manager_id: Option<String>,
) -> anyhow::Result<(usize, String, String, bool)> {
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let actor = seeded.admin_user_id.as_str();
    let planned = &plan.employees[i];
    let department = &plan.departments[planned.department];
    let (user_id, active) = if planned.role == PlannedRole::Admin {
        (seeded.admin_user_id.clone(), true)
    } else {
        let role_id = roles
            .get(planned.role.role_name())
            .ok_or_else(|| anyhow!("the tenant has no {} role", planned.role.role_name()))?;
        let (user, token) = targets
            .identity
            .invite_user(
                &tenant,
                actor,
                &planned.work_email,
                &planned.display_name,
                vec![department.name.clone()],
                role_id,
            )
            .await
            .map_err(api)
            .with_context(|| format!("inviting {}", planned.work_email))?;
        match &options.user_password {
            Some(password) => {
                targets
                    .identity
                    .accept_invite(&token, password)
                    .await
                    .map_err(api)
                    .with_context(|| format!("activating {}", planned.work_email))?;
                (user.id, true)
            }
            None => (user.id, false),
        }
    };
    let hire = NewHire {
        employee_number: EmployeeNumber::parse("employeeNumber", &planned.number).map_err(api)?,
        display_name: DisplayName::parse("displayName", &planned.display_name).map_err(api)?,
        work_email: EmailAddress::parse("workEmail", &planned.work_email).map_err(api)?,
        personal_email: None,
        date_of_birth: Some(planned.date_of_birth),
        title: Some(planned.title.clone()),
        department_id: Some(department_ids[planned.department].clone()),
        manager_id,
        user_id: Some(user_id.clone()),
        hired_on: planned.hired_on,
    };
    let employee = targets
        .employees
        .hire(&tenant, actor, hire)
        .await
        .map_err(api)
        .with_context(|| format!("hiring {}", planned.number))?;
    let salary = Salary::parse(&planned.salary_eur.to_string(), "EUR").map_err(api)?;
    targets
        .employees
        .set_compensation(
            &tenant,
            actor,
            &employee.id,
            CompensationChange {
                salary,
                bank_account: Some(format!("DE{:020}", 10_000_000 + i)),
                tax_id: Some(format!("TX{:09}", 100_000 + i)),
            },
        )
        .await
        .map_err(api)
        .with_context(|| format!("compensation of {}", planned.number))?;
    Ok((i, employee.id, user_id, active))
}

/// A UUIDv7 carrying `at`, so history rows sort by time like live ones.
fn id_at(at: NaiveDateTime) -> String {
    let utc = at.and_utc();
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        utc.timestamp() as u64,
        utc.timestamp_subsec_nanos(),
    );
    uuid::Uuid::new_v7(ts).to_string()
}

/// Rows per INSERT (13 columns: well under SQLite's and PostgreSQL's bind-parameter limits).
const PUNCH_BATCH: usize = 1_000;

/// The attendance history: a check-in and a check-out per attendance day, one transaction per
/// day, batched inserts.
async fn load_attendance(
    plan: &SeedPlan,
    store: &EmployeeStore,
    tenant: &TenantId,
    people: &People,
) -> anyhow::Result<usize> {
    let mut written = 0;
    let location_ids = location_ids_of(store, tenant, plan).await?;
    for day in plan.working_days().collect::<Vec<_>>() {
        let mut rows = Vec::new();
        for attendance in plan.attendance_on(day) {
            let planned = &plan.employees[attendance.employee];
            let location = &plan.locations[planned.location];
            for (kind, at) in [("in", attendance.check_in), ("out", attendance.check_out)] {
                rows.push(punch::ActiveModel {
                    id: Set(id_at(at)),
                    tenant_id: Set(tenant.as_str().to_owned()),
                    employee_id: Set(people.employee_ids[attendance.employee].clone()),
                    kind: Set(kind.to_owned()),
                    at: Set(at.and_utc().timestamp_millis()),
                    day: Set(day.to_string()),
                    source: Set("seed".to_owned()),
                    ip: Set(None),
                    latitude: Set(Some(location.latitude)),
                    longitude: Set(Some(location.longitude)),
                    location_id: Set(Some(location_ids[planned.location].clone())),
                    punch_key: Set(format!("seed-{}-{day}-{kind}", planned.number)),
                    // Columns added later keep their defaults.
                    ..Default::default()
                });
            }
        }
        if rows.is_empty() {
            continue;
        }
        let txn = erp_kit::db::begin_write(store.db()).await?;
        let count = rows.len();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<_> = rows.by_ref().take(PUNCH_BATCH).collect();
            punch::Entity::insert_many(batch)
                .exec_without_returning(&txn)
                .await
                .with_context(|| format!("punches of {day}"))?;
        }
        txn.commit().await?;
        written += count;
    }
    Ok(written)
}

/// The location ids of the plan's locations (created by [`load_people`]), by name.
async fn location_ids_of(
    store: &EmployeeStore,
    tenant: &TenantId,
    plan: &SeedPlan,
) -> anyhow::Result<Vec<String>> {
    use erp_employee::store::entities::location;
    let by_name: HashMap<String, String> = location::Entity::find()
        .filter(location::Column::TenantId.eq(tenant.as_str()))
        .all(store.db())
        .await?
        .into_iter()
        .map(|l| (l.name, l.id))
        .collect();
    plan.locations
        .iter()
        .map(|l| {
            by_name
                .get(&l.name)
                .cloned()
                .ok_or_else(|| anyhow!("location {} is missing", l.name))
        })
        .collect()
}

fn task_status(status: PlannedStatus) -> TaskStatus {
    match status {
        PlannedStatus::Todo => TaskStatus::Todo,
        PlannedStatus::InProgress => TaskStatus::InProgress,
        PlannedStatus::Done => TaskStatus::Done,
    }
}

/// Projects (owned by the administrator, led by the team's first member), their members, a
/// board, tasks in the board's columns, and the time entries of the history.
pub async fn load_projects(
    plan: &SeedPlan,
    pmo_service: &Pmo,
    seeded: &SeededTenant,
    people: &People,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let caller = admin_claims(seeded);
    let started = Instant::now();
    let mut project_ids = Vec::with_capacity(plan.projects.len());
    let mut columns_of = Vec::with_capacity(plan.projects.len());
    for planned in &plan.projects {
        let project = pmo_service
            .create_project(
                &tenant,
                &caller,
                NewProject {
                    name: planned.name.clone(),
                    client: planned.client.clone(),
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
            .with_context(|| format!("project {}", planned.name))?;
        for &member in &planned.members {
            let role = if member == planned.lead {
                ProjectRole::Manager
            } else {
                ProjectRole::Contributor
            };
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
        let board = pmo_service
            .create_board(
                &tenant,
                &caller,
                &project.id,
                format!("{} board", planned.name),
                BOARD_COLUMNS
                    .iter()
                    .map(|(name, status)| ((*name).to_owned(), task_status(*status), None))
                    .collect(),
            )
            .await
            .map_err(pmo)?;
        let columns: Vec<String> = board.columns.iter().map(|c| c.id.clone()).collect();
        columns_of.push((board.id.clone(), columns));
        project_ids.push(project.id);
    }
    report.projects = project_ids.len();
    timed(report, "projects and boards", started, ());

    let started = Instant::now();
    let (project_ids, columns_of) = (&project_ids, &columns_of);
    let task_ids: Vec<String> = futures::stream::iter(plan.tasks.iter().enumerate())
        .map(|(n, planned)| {
            let (board_id, columns) = &columns_of[planned.project];
            let new = move || NewTask {
                project_id: project_ids[planned.project].clone(),
                column: Some((board_id.clone(), columns[planned.status.column()].clone())),
                title: planned.title.clone(),
                description: None,
                assignee_ids: vec![people.employee_ids[planned.assignee].clone()],
                estimate_minutes: Some(planned.estimate_minutes),
                labels: planned.labels.clone(),
                sprint_id: None,
                parent_id: None,
            };
            let tenant = &tenant;
            let caller = &caller;
            async move {
                retrying(n, || pmo_service.create_task(tenant, caller, new()))
                    .await
                    .map(|task| task.id)
                    .map_err(pmo)
            }
        })
        .buffered(options.pmo_concurrency.max(1))
        .try_collect()
        .await?;
    report.tasks = task_ids.len();
    timed(report, "tasks", started, ());

    let started = Instant::now();
    let entries = plan.attendance().flat_map(|a| plan.time_entries_of(&a));
    let written: Vec<bool> = futures::stream::iter(entries.enumerate())
        .map(|(n, entry)| {
            let task = &plan.tasks[entry.task];
            let project = &plan.projects[task.project];
            let started_at = entry.started_at.and_utc();
            let doc = TimeEntryDoc {
                id: id_at(entry.started_at),
                tenant_id: tenant.as_str().to_owned(),
                user_id: people.user_ids[entry.employee].clone(),
                task_id: task_ids[entry.task].clone(),
                project_id: project_ids[task.project].clone(),
                started_at,
                ended_at: started_at + chrono::Duration::minutes(i64::from(entry.minutes)),
                duration_seconds: i64::from(entry.minutes) * 60,
                billable: project.billable,
            };
            let tenant = &tenant;
            async move {
                let event = EventEnvelope::new(
                    tenant,
                    erp_pmo::events::TIMER_STOPPED,
                    &doc.id,
                    serde_json::json!({
                        "timer_id": doc.id,
                        "user_id": doc.user_id,
                        "task_id": doc.task_id,
                        "project_id": doc.project_id,
                        "duration_seconds": doc.duration_seconds,
                        "billable": doc.billable,
                        "imported": true,
                    }),
                )
                .map_err(|e| anyhow!("event: {e}"))?;
                retrying(n, || {
                    pmo_service.store.insert_time_entry(tenant, &doc, &event)
                })
                .await
                .map_err(pmo)
            }
        })
        .buffer_unordered(options.pmo_concurrency.max(1))
        .try_collect()
        .await?;
    report.time_entries = written.into_iter().filter(|new| *new).count();
    timed(report, "time entries", started, ());
    Ok(())
}

/// The people of an existing seeded tenant, found by employee number (for re-seeding the PMO
/// part of the demo into a store that does not keep data across restarts).
pub async fn people_of(
    plan: &SeedPlan,
    store: &EmployeeStore,
    tenant: &TenantId,
) -> anyhow::Result<People> {
    let mut by_number: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut after = None;
    loop {
        let page = PageRequest {
            limit: 500,
            after: after.clone(),
            before: None,
            backward: false,
        };
        let rows = store
            .list_employees(tenant, &EmployeeFilter::default(), &page)
            .await
            .map_err(api)?;
        let done = rows.len() <= 500;
        for row in rows.into_iter().take(500) {
            after = Some(row.id.clone());
            by_number.insert(row.employee_number, (row.id, row.user_id));
        }
        if done {
            break;
        }
    }
    let mut people = People {
        employee_ids: Vec::with_capacity(plan.employees.len()),
        user_ids: Vec::with_capacity(plan.employees.len()),
    };
    for planned in &plan.employees {
        let (employee_id, user_id) = by_number
            .get(&planned.number)
            .cloned()
            .ok_or_else(|| anyhow!("employee {} of the seed is missing", planned.number))?;
        people.employee_ids.push(employee_id);
        people
            .user_ids
            .push(user_id.ok_or_else(|| anyhow!("employee {} has no user", planned.number))?);
    }
    Ok(people)
}
