//! The seed generator: a company of one of the tiers of `workload.md` (S, M, L), derived ONLY
//! from a seed number, a tier, the company's mail domain and the day the history ends. The same
//! inputs give the same plan, value for value. The loader (`erp-os seed`, `erp_os::seed_load`)
//! writes it: the stores give ids to what the normal writes create (the tenant, people,
//! projects), and the history (tasks, time entries, punches) gets ids derived from the plan and
//! the tenant ([`history_id`]), so a repeated or resumed load of the same tenant writes nothing
//! twice.
//!
//! Pure: no I/O. The history (attendance days, time entries) is not held in memory: it is
//! generated on demand, day by day, from per-person random streams, so tier L (millions of rows)
//! needs no more memory than tier S.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

pub mod crm;
pub mod finance;
pub mod marketing;
pub mod ops;
pub mod payroll;

pub use crm::{CrmPlan, CrmTotals};
pub use finance::{FinanceHistory, FinanceTotals};
pub use ops::{OpsPlan, OpsTotals};

/// The seed tiers of workload.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// 10 employees, a week of history.
    S,
    /// 500 employees, a month of history.
    M,
    /// 10,000 employees, 12 months of history.
    L,
}

impl Tier {
    pub fn employees(self) -> usize {
        match self {
            Tier::S => 10,
            Tier::M => 500,
            Tier::L => 10_000,
        }
    }

    /// Calendar days of history before the end day.
    pub fn history_days(self) -> i64 {
        match self {
            Tier::S => 7,
            Tier::M => 30,
            Tier::L => 365,
        }
    }

    pub fn top_departments(self) -> usize {
        match self {
            Tier::S => 3,
            Tier::M => 8,
            Tier::L => 10,
        }
    }

    /// Sub-departments under each top-level department.
    pub fn sub_departments(self) -> usize {
        match self {
            Tier::S => 0,
            Tier::M => 1,
            Tier::L => 5,
        }
    }

    pub fn locations(self) -> usize {
        match self {
            Tier::S => 1,
            Tier::M => 3,
            Tier::L => 12,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::S => "S",
            Tier::M => "M",
            Tier::L => "L",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "S" => Ok(Tier::S),
            "M" => Ok(Tier::M),
            "L" => Ok(Tier::L),
            other => Err(format!("`{other}` is not a tier: S, M or L")),
        }
    }
}

/// People per project team.
const TEAM_SIZE: usize = 8;
/// Tasks per team member and month of history (workload.md L: 400k tasks / 10k people / 12).
const TASKS_PER_PERSON_MONTH: f64 = 10.0 / 3.0;
/// Share of working days a person is present (holidays, sickness): L gives ~2.3M days.
const PRESENCE: f64 = 0.88;

/// SplitMix64: tiny, fast and stable forever (a library generator may change its stream between
/// versions, which would silently change "the same seed").
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent stream for one entity, so lazily generated history does not depend on
    /// the order it is read in.
    pub fn stream(seed: u64, kind: u64, a: u64, b: u64) -> Self {
        let mut rng = Rng(seed ^ kind.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.0 ^= rng.next_u64() ^ a.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        rng.0 ^= rng.next_u64() ^ b.wrapping_mul(0x1656_67B1_9E37_79F9);
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Radia",
    "Dennis",
    "Hedy",
    "Tim",
    "Katherine",
    "Linus",
    "Sophie",
    "Vint",
    "Mary",
    "Niklaus",
    "Joan",
    "Bjarne",
    "Annie",
    "Guido",
    "Evelyn",
    "James",
    "Lynn",
    "Robin",
    "Shafi",
    "Leslie",
    "Adele",
    "Yukihiro",
    "Jean",
    "Brian",
    "Carol",
    "Peter",
    "Ida",
    "Whitfield",
    "Lois",
    "Martin",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Torvalds",
    "Wilson",
    "Cerf",
    "Keller",
    "Wirth",
    "Clarke",
    "Stroustrup",
    "Easley",
    "van Rossum",
    "Boyd",
    "Gosling",
    "Conway",
    "Milner",
    "Goldwasser",
    "Lamport",
    "Goldberg",
    "Matsumoto",
    "Sammet",
    "Kernighan",
    "Shaw",
    "Naur",
    "Rhodes",
    "Diffie",
    "Haibt",
    "Fowler",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "People",
    "Finance",
    "Marketing",
    "Operations",
    "Customer Success",
    "Product",
    "Legal",
    "Facilities",
];
const SUB_UNITS: &[&str] = &["Platform", "North", "South", "Enterprise", "Growth"];
const CITIES: &[(&str, f64, f64)] = &[
    ("Berlin", 52.520_008, 13.404_954),
    ("Lisbon", 38.722_252, -9.139_337),
    ("Warsaw", 52.229_676, 21.012_229),
    ("Madrid", 40.416_775, -3.703_790),
    ("Amsterdam", 52.367_573, 4.904_139),
    ("Vienna", 48.208_174, 16.373_819),
    ("Prague", 50.075_538, 14.437_800),
    ("Dublin", 53.349_805, -6.260_310),
    ("Milan", 45.464_203, 9.189_982),
    ("Stockholm", 59.329_323, 18.068_581),
    ("Zurich", 47.376_887, 8.541_694),
    ("Porto", 41.157_944, -8.629_105),
];
const TITLES: &[&str] = &[
    "Specialist",
    "Analyst",
    "Engineer",
    "Coordinator",
    "Associate",
    "Consultant",
];
const PROJECT_WORDS: &[&str] = &[
    "Aurora", "Beacon", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris",
    "Juniper", "Keystone", "Lumen", "Meridian", "Nimbus", "Orbit", "Pioneer", "Quartz", "Redwood",
    "Summit", "Tidal",
];
const CLIENTS: &[&str] = &["Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell"];
const TASK_VERBS: &[&str] = &[
    "Design", "Build", "Review", "Test", "Document", "Migrate", "Plan", "Ship",
];
const TASK_OBJECTS: &[&str] = &[
    "the onboarding flow",
    "the invoice export",
    "the quarterly report",
    "the customer portal",
    "the data import",
    "the release checklist",
    "the pricing page",
    "the audit trail",
];
const LABELS: &[&str] = &["bug", "feature", "chore", "urgent", "research"];

/// A department; `parent` is an index into [`SeedPlan::departments`] (always a lower one).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDepartment {
    pub name: String,
    pub parent: Option<usize>,
}

/// A work location with its geofence.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedLocation {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    pub radius_meters: f64,
}

/// The identity role a person gets (one of the identity service's default roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedRole {
    /// The company's first administrator (the tenant is bootstrapped with them).
    Admin,
    Hr,
    Manager,
    Employee,
}

impl PlannedRole {
    /// The name of the default role in the identity service.
    pub fn role_name(self) -> &'static str {
        match self {
            PlannedRole::Admin => "Admin",
            PlannedRole::Hr => "HR",
            PlannedRole::Manager => "Manager",
            PlannedRole::Employee => "Employee",
        }
    }
}

/// An employee. Employees are in hiring order: a manager always comes before their reports.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEmployee {
    pub number: String,
    pub display_name: String,
    pub work_email: String,
    pub title: String,
    pub department: usize,
    pub manager: Option<usize>,
    pub location: usize,
    pub role: PlannedRole,
    pub hired_on: NaiveDate,
    pub date_of_birth: NaiveDate,
    /// Yearly salary in whole euros.
    pub salary_eur: u64,
}

/// A project with its team (indices into [`SeedPlan::employees`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedProject {
    pub name: String,
    pub client: Option<String>,
    pub billable: bool,
    pub budget_eur: Option<u64>,
    /// The team lead (project manager).
    pub lead: usize,
    pub members: Vec<usize>,
}

/// The kanban columns of every seeded project's board.
pub const BOARD_COLUMNS: &[(&str, PlannedStatus)] = &[
    ("To do", PlannedStatus::Todo),
    ("In progress", PlannedStatus::InProgress),
    ("Done", PlannedStatus::Done),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedStatus {
    Todo,
    InProgress,
    Done,
}

impl PlannedStatus {
    /// The column of [`BOARD_COLUMNS`] a task in this status sits in.
    pub fn column(self) -> usize {
        match self {
            PlannedStatus::Todo => 0,
            PlannedStatus::InProgress => 1,
            PlannedStatus::Done => 2,
        }
    }
}

/// A task of a project, assigned to one of its members.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTask {
    pub project: usize,
    pub title: String,
    pub status: PlannedStatus,
    pub assignee: usize,
    pub estimate_minutes: u32,
    pub labels: Vec<String>,
}

/// One person's attendance on one day: a check-in and a check-out at their location.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAttendance {
    pub employee: usize,
    pub day: NaiveDate,
    pub check_in: NaiveDateTime,
    pub check_out: NaiveDateTime,
}

/// Time logged on a task (a stopped timer).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTimeEntry {
    pub employee: usize,
    pub task: usize,
    pub started_at: NaiveDateTime,
    pub minutes: u32,
}

/// Everything a seed makes, except the lazily generated history.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedPlan {
    pub tier: Tier,
    pub seed: u64,
    pub company: String,
    /// Mail domain of the company's people (`<first>.<last>.<number>@<domain>`).
    pub domain: String,
    /// The history covers the `tier.history_days()` days BEFORE this day.
    pub until: NaiveDate,
    pub departments: Vec<PlannedDepartment>,
    pub locations: Vec<PlannedLocation>,
    pub employees: Vec<PlannedEmployee>,
    pub projects: Vec<PlannedProject>,
    pub tasks: Vec<PlannedTask>,
    /// Tasks of each project (indices into `tasks`), for the time entries.
    tasks_by_project: Vec<Vec<usize>>,
    /// The project each employee works in, if any.
    project_of: Vec<Option<usize>>,
}

/// Random streams (the `kind` of [`Rng::stream`]).
const STREAM_ORG: u64 = 1;
const STREAM_TASKS: u64 = 2;
const STREAM_ATTENDANCE: u64 = 3;
const STREAM_TIME: u64 = 4;

fn slug(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

impl SeedPlan {
    /// The plan of `tier` for `seed`. `company` names the tenant, `domain` the mail domain,
    /// `until` the day after the history.
    pub fn new(tier: Tier, seed: u64, company: &str, domain: &str, until: NaiveDate) -> Self {
        let mut rng = Rng::stream(seed, STREAM_ORG, 0, 0);
        let departments = plan_departments(tier);
        let locations = (0..tier.locations())
            .map(|i| {
                let (city, latitude, longitude) = CITIES[i % CITIES.len()];
                PlannedLocation {
                    name: format!("{city} office"),
                    latitude,
                    longitude,
                    radius_meters: 150.0,
                }
            })
            .collect::<Vec<_>>();
        let employees = plan_employees(tier, &departments, &locations, domain, until, &mut rng);
        let (projects, project_of) = plan_projects(tier, &employees, &mut rng);
        let mut task_rng = Rng::stream(seed, STREAM_TASKS, 0, 0);
        let months = tier.history_days() as f64 / 30.0;
        let mut tasks = Vec::new();
        let mut tasks_by_project = Vec::with_capacity(projects.len());
        for (p, project) in projects.iter().enumerate() {
            let count = ((project.members.len() as f64 * months * TASKS_PER_PERSON_MONTH).round()
                as usize)
                .max(4);
            let mut ids = Vec::with_capacity(count);
            for n in 0..count {
                // Older tasks are more likely done.
                let age = 1.0 - n as f64 / count as f64;
                let status = if task_rng.chance(0.2 + 0.6 * age) {
                    PlannedStatus::Done
                } else if task_rng.chance(0.4) {
                    PlannedStatus::InProgress
                } else {
                    PlannedStatus::Todo
                };
                let mut labels = vec![task_rng.pick(LABELS).to_string()];
                if task_rng.chance(0.2) {
                    let second = task_rng.pick(LABELS).to_string();
                    if second != labels[0] {
                        labels.push(second);
                    }
                }
                ids.push(tasks.len());
                tasks.push(PlannedTask {
                    project: p,
                    title: format!(
                        "{} {} #{}",
                        task_rng.pick(TASK_VERBS),
                        task_rng.pick(TASK_OBJECTS),
                        n + 1
                    ),
                    status,
                    assignee: *task_rng.pick(&project.members),
                    estimate_minutes: 30 * task_rng.between(1, 16) as u32,
                    labels,
                });
            }
            tasks_by_project.push(ids);
        }
        Self {
            tier,
            seed,
            company: company.to_owned(),
            domain: domain.to_owned(),
            until,
            departments,
            locations,
            employees,
            projects,
            tasks,
            tasks_by_project,
            project_of,
        }
    }

    /// The first day of the history.
    pub fn history_start(&self) -> NaiveDate {
        self.until - Duration::days(self.tier.history_days())
    }

    /// When task `task` (an index into [`SeedPlan::tasks`]) was created: the backlog exists
    /// from the history's first minutes, one task a millisecond in plan order, so every time
    /// entry comes after its task and the tasks' ids sort in plan order.
    pub fn task_created_at(&self, task: usize) -> NaiveDateTime {
        self.history_start().and_time(NaiveTime::MIN) + Duration::milliseconds(task as i64)
    }

    /// The id of task `task` when the plan is loaded into `tenant_id` (see [`history_id`]).
    pub fn task_id(&self, tenant_id: &str, task: usize) -> String {
        history_id(
            self.task_created_at(task),
            &format!("{tenant_id}:task:{task}"),
        )
    }

    /// The id of a time entry when the plan is loaded into `tenant_id` (a person logs one entry
    /// at a time, so person and start name it).
    pub fn time_entry_id(&self, tenant_id: &str, entry: &PlannedTimeEntry) -> String {
        let number = &self.employees[entry.employee].number;
        history_id(
            entry.started_at,
            &format!("{tenant_id}:time:{number}:{}", entry.started_at),
        )
    }

    /// The working days of the history grouped by ISO week (Monday to Friday, oldest first);
    /// only days on or after `from`.
    pub fn working_weeks(&self, from: NaiveDate) -> Vec<Vec<NaiveDate>> {
        let mut weeks: Vec<Vec<NaiveDate>> = Vec::new();
        for day in self.working_days().filter(|day| *day >= from) {
            match weeks.last_mut() {
                Some(week) if week[0].iso_week() == day.iso_week() => week.push(day),
                _ => weeks.push(vec![day]),
            }
        }
        weeks
    }

    /// The working days (Monday to Friday) of the history, oldest first.
    pub fn working_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let start = self.history_start();
        (0..self.tier.history_days())
            .map(move |offset| start + Duration::days(offset))
            .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// Attendance of every person on one day (people hired later are absent).
    pub fn attendance_on(&self, day: NaiveDate) -> Vec<PlannedAttendance> {
        let day_number = day.num_days_from_ce() as u64;
        let mut out = Vec::with_capacity(self.employees.len());
        for (e, employee) in self.employees.iter().enumerate() {
            if employee.hired_on > day {
                continue;
            }
            let mut rng = Rng::stream(self.seed, STREAM_ATTENDANCE, e as u64, day_number);
            if !rng.chance(PRESENCE) {
                continue;
            }
            // Check-ins 07:00-09:30 (UTC), 7.5 to 9.5 hours on site.
            let check_in = day.and_time(NaiveTime::MIN) + Duration::minutes(rng.between(420, 570));
            let check_out = check_in + Duration::minutes(rng.between(450, 570));
            out.push(PlannedAttendance {
                employee: e,
                day,
                check_in,
                check_out,
            });
        }
        out
    }

    /// Every attendance day of the history, day by day.
    pub fn attendance(&self) -> impl Iterator<Item = PlannedAttendance> + '_ {
        self.working_days()
            .flat_map(move |day| self.attendance_on(day))
    }

    /// Time entries logged during one attendance day (1 to 3, on the person's project's
    /// tasks, inside the hours on site). People in no project log nothing.
    pub fn time_entries_of(&self, attendance: &PlannedAttendance) -> Vec<PlannedTimeEntry> {
        let Some(project) = self.project_of[attendance.employee] else {
            return Vec::new();
        };
        let tasks = &self.tasks_by_project[project];
        let day_number = attendance.day.num_days_from_ce() as u64;
        let mut rng = Rng::stream(
            self.seed,
            STREAM_TIME,
            attendance.employee as u64,
            day_number,
        );
        let count = rng.between(1, 3);
        let mut start = attendance.check_in + Duration::minutes(rng.between(5, 30));
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let minutes = rng.between(30, 150) as u32;
            let end = start + Duration::minutes(i64::from(minutes));
            if end > attendance.check_out {
                break;
            }
            out.push(PlannedTimeEntry {
                employee: attendance.employee,
                task: *rng.pick(tasks),
                started_at: start,
                minutes,
            });
            start = end + Duration::minutes(rng.between(5, 45));
        }
        out
    }

    /// Summary counts, computed by walking the whole history (what a load writes).
    pub fn totals(&self) -> PlanTotals {
        let mut totals = PlanTotals {
            departments: self.departments.len(),
            locations: self.locations.len(),
            employees: self.employees.len(),
            projects: self.projects.len(),
            tasks: self.tasks.len(),
            attendance_days: 0,
            time_entries: 0,
            finance: self.finance().totals(),
            crm: self.crm().totals(),
        };
        for attendance in self.attendance() {
            totals.attendance_days += 1;
            totals.time_entries += self.time_entries_of(&attendance).len();
        }
        totals
    }
}

/// A UUIDv7 for a row of the history: its time part is `at` (history sorts by time like live
/// rows, and keyset pages run in time order), its other bits are derived from `key` with a
/// hash that never changes, so the same row gets the same id on every load. `key` names the
/// row uniquely, tenant included (ids are global in a collection).
pub fn history_id(at: NaiveDateTime, key: &str) -> String {
    // FNV-1a, then SplitMix64 to spread it over the 74 bits a UUIDv7 leaves.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut rng = Rng::new(hash);
    let mut bits = [0u8; 10];
    bits[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bits[8..].copy_from_slice(&rng.next_u64().to_le_bytes()[..2]);
    let millis = u64::try_from(at.and_utc().timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits)
        .into_uuid()
        .to_string()
}

/// How much a plan writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanTotals {
    pub departments: usize,
    pub locations: usize,
    pub employees: usize,
    pub projects: usize,
    pub tasks: usize,
    pub attendance_days: usize,
    pub time_entries: usize,
    /// The finance history ([`SeedPlan::finance`]).
    pub finance: FinanceTotals,
    /// The CRM ([`SeedPlan::crm`]).
    pub crm: CrmTotals,
}

fn plan_departments(tier: Tier) -> Vec<PlannedDepartment> {
    let mut departments = Vec::new();
    let top = tier.top_departments();
    for name in DEPARTMENTS.iter().take(top) {
        departments.push(PlannedDepartment {
            name: (*name).to_owned(),
            parent: None,
        });
    }
    for (parent, parent_name) in DEPARTMENTS.iter().enumerate().take(top) {
        for unit in SUB_UNITS.iter().take(tier.sub_departments()) {
            departments.push(PlannedDepartment {
                name: format!("{parent_name} {unit}"),
                parent: Some(parent),
            });
        }
    }
    departments
}

fn plan_employees(
    tier: Tier,
    departments: &[PlannedDepartment],
    locations: &[PlannedLocation],
    domain: &str,
    until: NaiveDate,
    rng: &mut Rng,
) -> Vec<PlannedEmployee> {
    let count = tier.employees();
    let history_start = until - Duration::days(tier.history_days());
    // Hiring order: the CEO (the tenant's administrator), then one head per department (parents
    // first), then everyone else spread over the departments.
    let mut slots: Vec<(usize, Option<usize>, PlannedRole, String)> = Vec::with_capacity(count);
    slots.push((
        0,
        None,
        PlannedRole::Admin,
        "Chief Executive Officer".into(),
    ));
    let mut heads = vec![0usize; departments.len()];
    for (d, department) in departments.iter().enumerate() {
        if slots.len() >= count {
            heads[d] = department.parent.map_or(0, |p| heads[p]);
            continue;
        }
        let manager = department.parent.map_or(0, |p| heads[p]);
        heads[d] = slots.len();
        let role = if department.name == "People" {
            PlannedRole::Hr
        } else {
            PlannedRole::Manager
        };
        slots.push((
            d,
            Some(manager),
            role,
            format!("Head of {}", department.name),
        ));
    }
    while slots.len() < count {
        let d = rng.below(departments.len() as u64) as usize;
        let role = if departments[d].name == "People" {
            PlannedRole::Hr
        } else {
            PlannedRole::Employee
        };
        let title = format!("{} {}", departments[d].name, rng.pick(TITLES));
        slots.push((d, Some(heads[d]), role, title));
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, (department, manager, role, title))| {
            let head = title.starts_with("Head");
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(LAST_NAMES);
            let number = format!("E{:05}", i + 1);
            // Most people were hired before the history; some during it (they appear midway).
            let hired_on = if i > 0 && rng.chance(0.05) {
                history_start + Duration::days(rng.between(0, tier.history_days() - 1))
            } else {
                history_start - Duration::days(rng.between(30, 3650))
            };
            let age_days = rng.between(22 * 365, 60 * 365);
            PlannedEmployee {
                display_name: format!("{first} {last}"),
                work_email: format!(
                    "{}.{}.{}@{domain}",
                    slug(first),
                    slug(last),
                    number.to_ascii_lowercase()
                ),
                number,
                title,
                department,
                manager,
                location: rng.below(locations.len() as u64) as usize,
                role,
                hired_on,
                date_of_birth: hired_on - Duration::days(age_days),
                salary_eur: match role {
                    PlannedRole::Admin => 180_000,
                    PlannedRole::Manager | PlannedRole::Hr if head => {
                        90_000 + 1_000 * rng.below(40)
                    }
                    _ => 40_000 + 500 * rng.below(100),
                },
            }
        })
        .collect()
}

/// Teams of about [`TEAM_SIZE`] colleagues of one department, each a project led by its first
/// member. The administrator and people left over in small departments are in no project.
fn plan_projects(
    tier: Tier,
    employees: &[PlannedEmployee],
    rng: &mut Rng,
) -> (Vec<PlannedProject>, Vec<Option<usize>>) {
    let mut by_department: Vec<Vec<usize>> = Vec::new();
    for (e, employee) in employees.iter().enumerate().skip(1) {
        if by_department.len() <= employee.department {
            by_department.resize(employee.department + 1, Vec::new());
        }
        by_department[employee.department].push(e);
    }
    let mut projects = Vec::new();
    let mut project_of = vec![None; employees.len()];
    let min_team = if tier == Tier::S { 2 } else { 4 };
    for people in by_department {
        for team in people.chunks(TEAM_SIZE) {
            if team.len() < min_team {
                continue;
            }
            let p = projects.len();
            for &member in team {
                project_of[member] = Some(p);
            }
            let billable = rng.chance(0.6);
            projects.push(PlannedProject {
                name: format!(
                    "{} {}",
                    PROJECT_WORDS[p % PROJECT_WORDS.len()],
                    p / PROJECT_WORDS.len() + 1
                ),
                client: billable.then(|| rng.pick(CLIENTS).to_string()),
                billable,
                budget_eur: billable.then(|| 10_000 * rng.between(2, 50) as u64),
                lead: team[0],
                members: team.to_vec(),
            });
        }
    }
    (projects, project_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn plan(tier: Tier, seed: u64) -> SeedPlan {
        SeedPlan::new(tier, seed, "Acme", "acme.example", day(2026, 3, 2))
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_history() {
        let a = plan(Tier::M, 42);
        let b = plan(Tier::M, 42);
        assert_eq!(a, b);
        assert_eq!(
            a.attendance().collect::<Vec<_>>(),
            b.attendance().collect::<Vec<_>>()
        );
        let entries = |p: &SeedPlan| {
            p.attendance()
                .flat_map(|a| p.time_entries_of(&a))
                .collect::<Vec<_>>()
        };
        assert_eq!(entries(&a), entries(&b));
    }

    #[test]
    fn another_seed_gives_other_people() {
        let a = plan(Tier::S, 1);
        let b = plan(Tier::S, 2);
        assert_eq!(a.employees.len(), b.employees.len());
        assert_ne!(
            a.employees
                .iter()
                .map(|e| &e.display_name)
                .collect::<Vec<_>>(),
            b.employees
                .iter()
                .map(|e| &e.display_name)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn history_is_independent_of_reading_order() {
        let p = plan(Tier::S, 7);
        let days: Vec<_> = p.working_days().collect();
        let forward: Vec<_> = days.iter().flat_map(|d| p.attendance_on(*d)).collect();
        let mut backward: Vec<_> = days
            .iter()
            .rev()
            .flat_map(|d| p.attendance_on(*d))
            .collect();
        backward.sort_by_key(|a| (a.day, a.employee));
        assert_eq!(forward, backward);
    }

    #[test]
    fn tier_s_sizes() {
        let p = plan(Tier::S, 42);
        let totals = p.totals();
        assert_eq!(totals.employees, 10);
        assert_eq!(totals.departments, 3);
        assert_eq!(totals.locations, 1);
        // A week before Monday 2 March 2026: Mon 23 to Fri 27 February.
        assert_eq!(p.working_days().count(), 5);
        assert!(
            totals.attendance_days <= 50 && totals.attendance_days >= 30,
            "{totals:?}"
        );
        assert!(totals.projects >= 1 && totals.tasks >= 4, "{totals:?}");
        assert!(
            totals.time_entries >= totals.attendance_days / 2,
            "{totals:?}"
        );
    }

    #[test]
    fn tier_m_sizes() {
        let totals = plan(Tier::M, 42).totals();
        assert_eq!(totals.employees, 500);
        assert_eq!(totals.departments, 16);
        assert_eq!(totals.locations, 3);
        // 20 to 22 working days x 500 people x 88 %, minus people hired during the month.
        assert!(
            (8_000..=10_000).contains(&totals.attendance_days),
            "{totals:?}"
        );
        assert!((55..=70).contains(&totals.projects), "{totals:?}");
        assert!((1_300..=2_000).contains(&totals.tasks), "{totals:?}");
    }

    #[test]
    fn tier_l_sizes_match_the_workload_model() {
        let p = plan(Tier::L, 42);
        assert_eq!(p.employees.len(), 10_000);
        assert_eq!(p.departments.len(), 60);
        assert_eq!(p.locations.len(), 12);
        // workload.md: 400k tasks, ~2.3M attendance days, 3-5M time entries over 12 months.
        assert!(
            (370_000..=430_000).contains(&p.tasks.len()),
            "{}",
            p.tasks.len()
        );
        let totals = p.totals();
        assert!(
            (2_100_000..=2_500_000).contains(&totals.attendance_days),
            "{totals:?}"
        );
        assert!(
            (3_000_000..=5_000_000).contains(&totals.time_entries),
            "{totals:?}"
        );
    }

    #[test]
    fn managers_come_before_their_reports_and_the_admin_leads() {
        let p = plan(Tier::M, 3);
        assert_eq!(p.employees[0].role, PlannedRole::Admin);
        assert_eq!(p.employees[0].manager, None);
        for (i, e) in p.employees.iter().enumerate().skip(1) {
            let manager = e.manager.expect("everyone but the CEO has a manager");
            assert!(manager < i, "{} reports to a later hire", e.number);
            assert!(e.date_of_birth < e.hired_on);
        }
        for d in &p.departments {
            assert!(d.parent.is_none_or(|parent| parent < p.departments.len()));
        }
        let emails: std::collections::HashSet<_> =
            p.employees.iter().map(|e| &e.work_email).collect();
        assert_eq!(emails.len(), p.employees.len(), "work emails are unique");
    }

    #[test]
    fn entries_stay_inside_the_day_on_site_and_on_the_persons_project() {
        let p = plan(Tier::S, 9);
        for attendance in p.attendance() {
            assert!(attendance.check_in < attendance.check_out);
            assert!(p.employees[attendance.employee].hired_on <= attendance.day);
            for entry in p.time_entries_of(&attendance) {
                let end = entry.started_at + Duration::minutes(i64::from(entry.minutes));
                assert!(entry.started_at >= attendance.check_in && end <= attendance.check_out);
                let task = &p.tasks[entry.task];
                assert!(p.projects[task.project].members.contains(&entry.employee));
            }
        }
    }

    #[test]
    fn history_ids_are_stable_time_ordered_and_keyed() {
        let at = day(2026, 1, 5).and_hms_opt(9, 30, 0).unwrap();
        let id = history_id(at, "tnt_a:time:E00001:2026-01-05T09:30:00");
        assert_eq!(id, history_id(at, "tnt_a:time:E00001:2026-01-05T09:30:00"));
        // Pinned: a changed hash would give every loaded row a new id.
        assert_eq!(id, "019b8d7d-f1c0-7fa5-b864-99de97eb0c53");
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        let (seconds, _) = parsed.get_timestamp().unwrap().to_unix();
        assert_eq!(seconds as i64, at.and_utc().timestamp());
        assert_ne!(id, history_id(at, "tnt_b:time:E00001:2026-01-05T09:30:00"));
        let later = at + Duration::milliseconds(1);
        assert!(history_id(later, "z") > history_id(at, "a"));
    }

    #[test]
    fn history_ids_name_the_tenant() {
        let p = plan(Tier::S, 7);
        assert_eq!(p.task_id("tnt_a", 3), p.task_id("tnt_a", 3));
        assert_ne!(p.task_id("tnt_a", 3), p.task_id("tnt_b", 3));
        assert!(p.task_id("tnt_a", 3) < p.task_id("tnt_a", 4));
        let first = p
            .attendance()
            .flat_map(|a| p.time_entries_of(&a))
            .next()
            .expect("tier S logs time");
        assert_ne!(
            p.time_entry_id("tnt_a", &first),
            p.time_entry_id("tnt_b", &first)
        );
    }

    #[test]
    fn weeks_group_the_working_days_and_tasks_precede_the_history() {
        let p = plan(Tier::M, 5);
        let weeks = p.working_weeks(p.history_start());
        assert_eq!(
            weeks.iter().flatten().copied().collect::<Vec<_>>(),
            p.working_days().collect::<Vec<_>>()
        );
        for week in &weeks {
            assert!(week.len() <= 5);
            assert!(week.iter().all(|d| d.iso_week() == week[0].iso_week()));
        }
        let from = p.until - Duration::days(7);
        assert!(p
            .working_weeks(from)
            .iter()
            .flatten()
            .all(|d| *d >= from && *d < p.until));
        let last = p.task_created_at(p.tasks.len() - 1);
        assert!(last < p.history_start().and_hms_opt(0, 1, 0).unwrap());
        assert!(p.task_created_at(0) < p.task_created_at(1));
    }

    #[test]
    fn tiers_parse() {
        assert_eq!(Tier::parse("s"), Ok(Tier::S));
        assert_eq!(Tier::parse("L"), Ok(Tier::L));
        assert!(Tier::parse("XL").is_err());
    }
}
