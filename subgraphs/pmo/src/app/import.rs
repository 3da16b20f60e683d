//! Importing history ([`Pmo::import_tasks`], [`Pmo::import_time_entries`]): many tasks or time
//! entries that already existed elsewhere (a seed, a migration from another tool) written at
//! once, in batches, with the rules of their creation, on either store.
//!
//! Why a path of its own: the normal writes are one transaction and one outbox event per task or
//! per time entry, which is right for news and far too slow for a year of a 10,000-person
//! company (400k tasks, millions of entries: hours). History is not news, so an import writes no
//! events: consumers would otherwise receive a year of `task.created` and `timer.stopped` as if it
//! happened now, and the relay would spend hours publishing them. Everything the product's reads
//! rely on still holds:
//!
//! - every document carries the caller's tenant, and an id stored by another tenant is refused;
//! - idempotent by id: a document whose id is stored already is left exactly as it is and
//!   counted as existing, so a repeated or resumed import writes nothing twice;
//! - a task is what creating it would have written: a project of the tenant, its column one of
//!   that project's boards' with the column's status (to do without a board), WIP limits kept,
//!   the fields `createTask` takes (`crate::domain::task::TaskFields`). Sprints, subtasks, dependencies and custom fields have
//!   rules that need their own paths and are refused here;
//! - a time entry is on a task of its project, ends after it starts, lasts at most a day and not
//!   longer than its times, and never ends in the future; like a timer's stop it touches the
//!   timesheet of the week it started in (creating the draft, bumping its revision), so a week
//!   with time always has its timesheet, a submission read before the import collides with it,
//!   and no time is added to a submitted or approved week (TIMESHEET_LOCKED, nothing written);
//! - a batch is all or nothing: one transaction on MongoDB, one journal record (one flush) in
//!   the embedded store. At most [`MAX_IMPORT_BATCH`] documents per call.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::board::check_wip_for;
use crate::domain::task::{TaskFields, TaskStatus};
use crate::domain::timer::week_locked;
use crate::domain::timesheet::check_entry_times;
use crate::store::{BoardDoc, Expected, History, HistoryWrite, Imported, TaskDoc, TimeEntryDoc};
use erp_kit::retry::{collided, Attempts};

/// The most documents one import call takes: a batch is one transaction (MongoDB) or one
/// journal record (embedded), which should stay a few megabytes.
pub const MAX_IMPORT_BATCH: usize = 10_000;

/// The field a batch of `what` is reported under, and how one and many of them are named.
fn names(what: &str) -> (&'static str, &'static str, &'static str) {
    if what == TASK_BATCH {
        (TASK_BATCH, "task", "tasks")
    } else {
        (ENTRY_BATCH, "time entry", "time entries")
    }
}

/// What a batch of tasks, and of time entries, is called in errors (the `field` of BAD_INPUT).
pub const TASK_BATCH: &str = "tasks";
pub const ENTRY_BATCH: &str = "timeEntries";

fn refuse(what: &str, id: &str, why: impl std::fmt::Display) -> ApiError {
    let (field, noun, _) = names(what);
    ApiError::bad_input(field, format!("{noun} `{id}`: {why}"))
}

/// The batch size, the tenant of every document and unique, non-empty ids.
fn check_batch<'a>(
    what: &str,
    tenant: &TenantId,
    docs: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), ApiError> {
    let (field, _, plural) = names(what);
    if docs.len() > MAX_IMPORT_BATCH {
        return Err(ApiError::bad_input(
            field,
            format!("an import takes at most {MAX_IMPORT_BATCH} {plural} at once"),
        ));
    }
    let mut seen = HashSet::with_capacity(docs.len());
    for (id, tenant_id) in docs {
        if id.trim().is_empty() {
            return Err(ApiError::bad_input(
                field,
                format!("{plural}: an id is empty"),
            ));
        }
        if tenant_id != tenant.as_str() {
            return Err(refuse(what, id, "belongs to another tenant"));
        }
        if !seen.insert(id) {
            return Err(refuse(what, id, "is in the batch twice"));
        }
    }
    Ok(())
}

/// The rules of a task's creation that need no stored data (see the module documentation).
pub fn check_tasks(tenant: &TenantId, tasks: &[TaskDoc]) -> Result<(), ApiError> {
    check_batch(
        TASK_BATCH,
        tenant,
        tasks.iter().map(|t| (t.id.as_str(), t.tenant_id.as_str())),
    )?;
    for task in tasks {
        let bad = |why: &str| refuse(TASK_BATCH, &task.id, why);
        if task.project_id.is_empty() {
            return Err(bad("has no project"));
        }
        if let Some(why) = TaskFields::not_as_stored(
            &task.title,
            task.description.as_deref(),
            &task.assignee_ids,
            task.estimate_minutes,
            &task.labels,
        )? {
            return Err(bad(why));
        }
        if task.board_id.is_some() != task.column_id.is_some() {
            return Err(bad(
                "has a board without a column or a column without a board",
            ));
        }
        if task.board_id.is_none() && task.status != TaskStatus::Todo {
            return Err(bad("is not on a board, so it is to do"));
        }
        if task.sprint_id.is_some()
            || task.parent_id.is_some()
            || !task.blocked_by.is_empty()
            || !task.custom_fields.is_empty()
        {
            return Err(bad(
                "sprints, parents, dependencies and custom fields are not imported: set them \
                 through their own mutations",
            ));
        }
        if task.updated_at < task.created_at {
            return Err(bad("is updated before it is created"));
        }
    }
    Ok(())
}

/// The rules of a time entry that need no stored data (see the module documentation).
pub fn check_time_entries(
    tenant: &TenantId,
    entries: &[TimeEntryDoc],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    check_batch(
        ENTRY_BATCH,
        tenant,
        entries
            .iter()
            .map(|e| (e.id.as_str(), e.tenant_id.as_str())),
    )?;
    for entry in entries {
        let bad = |why: &str| refuse(ENTRY_BATCH, &entry.id, why);
        if entry.user_id.is_empty() || entry.task_id.is_empty() || entry.project_id.is_empty() {
            return Err(bad("needs a person, a task and a project"));
        }
        let span = check_entry_times(entry.started_at, entry.ended_at, now)
            .map_err(|err| bad(err.message().as_str()))?;
        if !(0..=span).contains(&entry.duration_seconds) {
            return Err(bad(
                "its duration is not between 0 and its end minus its start",
            ));
        }
    }
    Ok(())
}

/// A column with a WIP limit that a batch places tasks in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnLoad {
    board_id: String,
    column_id: String,
    column_name: String,
    limit: u32,
    /// The tasks of the batch placed in it (new or stored already).
    task_ids: Vec<String>,
}

/// Each task's project is one of `projects` (the tenant's) and its column one of its project's
/// board's with the column's status; answers the columns with a WIP limit the batch places
/// tasks in.
fn check_placements(
    tasks: &[TaskDoc],
    projects: &HashSet<String>,
    boards: &HashMap<String, BoardDoc>,
) -> Result<Vec<ColumnLoad>, ApiError> {
    let mut loads: BTreeMap<(String, String), ColumnLoad> = BTreeMap::new();
    for task in tasks {
        let bad = |why: String| refuse(TASK_BATCH, &task.id, why);
        if !projects.contains(&task.project_id) {
            return Err(bad(format!("there is no project `{}`", task.project_id)));
        }
        let (Some(board_id), Some(column_id)) = (&task.board_id, &task.column_id) else {
            continue;
        };
        let board = boards
            .get(board_id)
            .filter(|b| b.project_id == task.project_id)
            .ok_or_else(|| bad(format!("there is no board `{board_id}` in its project")))?;
        let column = board
            .column(column_id)
            .ok_or_else(|| bad(format!("there is no column `{column_id}` on its board")))?;
        if column.status != task.status {
            return Err(bad(format!(
                "its status is not its column `{}`'s",
                column.name
            )));
        }
        let Some(limit) = column.limit() else {
            continue;
        };
        loads
            .entry((board_id.clone(), column_id.clone()))
            .or_insert_with(|| ColumnLoad {
                board_id: board_id.clone(),
                column_id: column_id.clone(),
                column_name: column.name.clone(),
                limit,
                task_ids: Vec::new(),
            })
            .task_ids
            .push(task.id.clone());
    }
    Ok(loads.into_values().collect())
}

/// Each entry's task is one of the tenant's (`task_projects`: task id to its project) and
/// belongs to the entry's project.
fn check_entry_tasks(
    entries: &[TimeEntryDoc],
    task_projects: &HashMap<String, String>,
) -> Result<(), ApiError> {
    for entry in entries {
        match task_projects.get(&entry.task_id) {
            Some(project) if *project == entry.project_id => {}
            Some(_) => {
                return Err(refuse(
                    "timeEntries",
                    &entry.id,
                    format!("its task `{}` is not in its project", entry.task_id),
                ))
            }
            None => {
                return Err(refuse(
                    "timeEntries",
                    &entry.id,
                    format!("there is no task `{}`", entry.task_id),
                ))
            }
        }
    }
    Ok(())
}

/// The distinct values of a field of a batch's documents.
fn distinct<'a, T: 'a>(docs: &'a [T], field: impl Fn(&'a T) -> Option<&'a String>) -> Vec<String> {
    docs.iter()
        .filter_map(field)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .cloned()
        .collect()
}

impl Pmo {
    /// Imports tasks that existed before (history: a seed, a migration), at most
    /// [`MAX_IMPORT_BATCH`] at once, all or nothing, WITHOUT `task.created` events (history is
    /// not news), with the rules of a task's creation (see the module documentation).
    /// Idempotent by id: a task whose id is stored already is left as it is and counted as
    /// existing.
    pub async fn import_tasks(&self, tenant: &TenantId, tasks: &[TaskDoc]) -> ApiResult<Imported> {
        check_tasks(tenant, tasks)?;
        if tasks.is_empty() {
            return Ok(Imported::default());
        }
        let project_ids = distinct(tasks, |t| Some(&t.project_id));
        let board_ids = distinct(tasks, |t| t.board_id.as_ref());
        let mut attempts = Attempts::new();
        while attempts.next().await {
            // The boards first, then the counts: a task added in between bumps its board, so
            // the write expecting the boards as read refuses the stale counts.
            let projects: HashSet<String> = self
                .store
                .projects_by_ids(tenant, &project_ids)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
            let boards: HashMap<String, BoardDoc> = self
                .store
                .boards_by_ids(tenant, &board_ids)
                .await?
                .into_iter()
                .map(|b| (b.id.clone(), b))
                .collect();
            let loads = match check_placements(tasks, &projects, &boards) {
                Ok(loads) => loads,
                Err(refused) => {
                    return Err(self
                        .taken_first(tenant, History::Tasks, tasks, refused)
                        .await)
                }
            };
            // WIP limits count the new tasks only: a repeated import adds none.
            let placed: Vec<String> = loads.iter().flat_map(|l| l.task_ids.clone()).collect();
            let stored = match placed.is_empty() {
                true => HashSet::new(),
                false => self.store.existing_task_ids(tenant, &placed).await?,
            };
            let mut guards: Vec<Expected> = Vec::new();
            for load in &loads {
                let added = load
                    .task_ids
                    .iter()
                    .filter(|id| !stored.contains(*id))
                    .count() as u64;
                if added == 0 {
                    continue;
                }
                let current = self
                    .store
                    .column_count(tenant, &load.board_id, &load.column_id)
                    .await?;
                check_wip_for(&load.column_name, load.limit, current, added)?;
                if let Some(board) = boards.get(&load.board_id) {
                    if guards.iter().all(|g| g.id != board.id) {
                        guards.push(Expected::new(&board.id, board.rev));
                    }
                }
            }
            match self.store.import_tasks(tenant, tasks, &guards).await? {
                HistoryWrite::Imported(imported) => return Ok(imported),
                HistoryWrite::Taken(id) => return Err(taken(TASK_BATCH, &id)),
                HistoryWrite::Stale => continue,
                HistoryWrite::WeekLocked { week, state, .. } => {
                    return Err(week_locked(week, state).into())
                }
            }
        }
        Err(collided())
    }

    /// Imports time entries of the past (history), at most [`MAX_IMPORT_BATCH`] at once, all
    /// or nothing, WITHOUT `timer.stopped` events, touching the timesheet of each week they add
    /// time to as a timer's stop does (TIMESHEET_LOCKED, nothing written, when one is submitted
    /// or approved). Idempotent by id like [`Pmo::import_tasks`]: stored entries are skipped and
    /// their weeks not touched.
    pub async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> ApiResult<Imported> {
        check_time_entries(tenant, entries, Utc::now())?;
        if entries.is_empty() {
            return Ok(Imported::default());
        }
        let task_ids = distinct(entries, |e| Some(&e.task_id));
        let task_projects = self.store.task_projects(tenant, &task_ids).await?;
        if let Err(refused) = check_entry_tasks(entries, &task_projects) {
            return Err(self
                .taken_first(tenant, History::TimeEntries, entries, refused)
                .await);
        }
        match self.store.import_time_entries(tenant, entries).await? {
            HistoryWrite::Imported(imported) => Ok(imported),
            HistoryWrite::Taken(id) => Err(taken(ENTRY_BATCH, &id)),
            HistoryWrite::WeekLocked { week, state, .. } => Err(week_locked(week, state).into()),
            HistoryWrite::Stale => Err(collided()),
        }
    }

    /// A batch refused for what its documents say is refused first for an id another tenant
    /// has, as a write of it would be.
    async fn taken_first<T: HasId>(
        &self,
        tenant: &TenantId,
        kind: History,
        docs: &[T],
        refused: ApiError,
    ) -> ApiError {
        let ids: Vec<String> = docs.iter().map(|d| d.id().to_owned()).collect();
        match self.store.first_taken(tenant, kind, &ids).await {
            Ok(Some(id)) => taken(
                match kind {
                    History::Tasks => TASK_BATCH,
                    History::TimeEntries => ENTRY_BATCH,
                },
                &id,
            ),
            Ok(None) => refused,
            Err(err) => err,
        }
    }
}

/// A document of history, by its id.
trait HasId {
    fn id(&self) -> &str;
}

impl HasId for TaskDoc {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for TimeEntryDoc {
    fn id(&self) -> &str {
        &self.id
    }
}

/// An id of the batch that another tenant has (ids are global).
fn taken(what: &str, id: &str) -> ApiError {
    refuse(what, id, "is taken by another tenant")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tenant() -> TenantId {
        TenantId::from_claim("tnt_a")
    }

    fn task(id: &str) -> TaskDoc {
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
        TaskDoc {
            id: id.into(),
            tenant_id: "tnt_a".into(),
            project_id: "prj_1".into(),
            board_id: None,
            column_id: None,
            status: TaskStatus::Todo,
            title: "Write the import".into(),
            description: None,
            assignee_ids: vec!["emp_1".into()],
            estimate_minutes: Some(60),
            labels: vec!["bug".into(), "chore".into()],
            sprint_id: None,
            blocked_by: Vec::new(),
            parent_id: None,
            custom_fields: Vec::new(),
            created_at: at,
            updated_at: at,
        }
    }

    fn entry(id: &str) -> TimeEntryDoc {
        TimeEntryDoc {
            id: id.into(),
            tenant_id: "tnt_a".into(),
            user_id: "usr_1".into(),
            task_id: "tsk_1".into(),
            project_id: "prj_1".into(),
            started_at: Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap(),
            ended_at: Utc.with_ymd_and_hms(2026, 1, 5, 11, 0, 0).unwrap(),
            duration_seconds: 3600,
            billable: true,
        }
    }

    fn reason(err: ApiError) -> String {
        err.message()
    }

    #[test]
    fn tasks_keep_the_rules_of_their_creation() {
        let now = tenant();
        assert_eq!(
            check_tasks(&now, &[task("t1"), task("t2")]).map_err(reason),
            Ok(())
        );
        let cases: Vec<(TaskDoc, &str)> = vec![
            (
                TaskDoc {
                    tenant_id: "tnt_b".into(),
                    ..task("t1")
                },
                "task `t1`: belongs to another tenant",
            ),
            (
                TaskDoc {
                    title: " padded ".into(),
                    ..task("t1")
                },
                "task `t1`: its title has surrounding white space",
            ),
            (
                TaskDoc {
                    labels: vec!["chore".into(), "bug".into()],
                    ..task("t1")
                },
                "task `t1`: its labels are not lower case, sorted and unique",
            ),
            (
                TaskDoc {
                    status: TaskStatus::Done,
                    ..task("t1")
                },
                "task `t1`: is not on a board, so it is to do",
            ),
            (
                TaskDoc {
                    board_id: Some("brd_1".into()),
                    ..task("t1")
                },
                "task `t1`: has a board without a column or a column without a board",
            ),
            (
                TaskDoc {
                    parent_id: Some("t0".into()),
                    ..task("t1")
                },
                "task `t1`: sprints, parents, dependencies and custom fields are not imported: \
                 set them through their own mutations",
            ),
            (
                TaskDoc {
                    estimate_minutes: Some(-1),
                    ..task("t1")
                },
                "task `t1`: its estimate is not between 0 and 100000 minutes",
            ),
        ];
        for (bad, message) in cases {
            assert_eq!(
                check_tasks(&now, &[bad]).map_err(reason),
                Err(message.to_owned())
            );
        }
        assert_eq!(
            check_tasks(&now, &[task("t1"), task("t1")]).map_err(reason),
            Err("task `t1`: is in the batch twice".to_owned())
        );
        let too_many: Vec<TaskDoc> = (0..=MAX_IMPORT_BATCH)
            .map(|n| task(&format!("t{n}")))
            .collect();
        assert_eq!(
            check_tasks(&now, &too_many).map_err(reason),
            Err("an import takes at most 10000 tasks at once".to_owned())
        );
    }

    #[test]
    fn time_entries_keep_the_rules_of_a_stop() {
        let now = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(
            check_time_entries(&tenant(), &[entry("e1"), entry("e2")], now).map_err(reason),
            Ok(())
        );
        let start = entry("e1").started_at;
        let cases: Vec<(TimeEntryDoc, &str)> = vec![
            (
                TimeEntryDoc {
                    ended_at: start,
                    ..entry("e1")
                },
                "time entry `e1`: a time entry ends after it starts",
            ),
            (
                TimeEntryDoc {
                    duration_seconds: 3601,
                    ..entry("e1")
                },
                "time entry `e1`: its duration is not between 0 and its end minus its start",
            ),
            (
                TimeEntryDoc {
                    started_at: now,
                    ended_at: now + chrono::Duration::hours(1),
                    ..entry("e1")
                },
                "time entry `e1`: a time entry cannot end in the future",
            ),
            (
                TimeEntryDoc {
                    task_id: String::new(),
                    ..entry("e1")
                },
                "time entry `e1`: needs a person, a task and a project",
            ),
        ];
        for (bad, message) in cases {
            assert_eq!(
                check_time_entries(&tenant(), &[bad], now).map_err(reason),
                Err(message.to_owned())
            );
        }
    }

    #[test]
    fn placements_follow_the_board_and_count_limited_columns() {
        let board = BoardDoc {
            id: "brd_1".into(),
            tenant_id: "tnt_a".into(),
            project_id: "prj_1".into(),
            name: "Board".into(),
            columns: vec![
                crate::store::ColumnDoc {
                    id: "col_todo".into(),
                    name: "To do".into(),
                    status: TaskStatus::Todo,
                    wip_limit: None,
                },
                crate::store::ColumnDoc {
                    id: "col_doing".into(),
                    name: "Doing".into(),
                    status: TaskStatus::InProgress,
                    wip_limit: Some(2),
                },
            ],
            rev: 0,
        };
        let boards = HashMap::from([(board.id.clone(), board)]);
        let projects = HashSet::from(["prj_1".to_owned()]);
        let placed = |id: &str, column: &str, status| TaskDoc {
            board_id: Some("brd_1".into()),
            column_id: Some(column.into()),
            status,
            ..task(id)
        };
        let tasks = [
            placed("t1", "col_todo", TaskStatus::Todo),
            placed("t2", "col_doing", TaskStatus::InProgress),
            placed("t3", "col_doing", TaskStatus::InProgress),
            task("t4"),
        ];
        let loads = check_placements(&tasks, &projects, &boards).unwrap();
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].task_ids, ["t2", "t3"]);
        let wrong_status = [placed("t5", "col_doing", TaskStatus::Done)];
        assert!(check_placements(&wrong_status, &projects, &boards).is_err());
        let elsewhere = [TaskDoc {
            project_id: "prj_2".into(),
            ..task("t6")
        }];
        let projects = HashSet::from(["prj_1".to_owned(), "prj_2".to_owned()]);
        assert!(check_placements(&elsewhere, &projects, &boards).is_ok());
        let on_other_board = [TaskDoc {
            project_id: "prj_2".into(),
            ..placed("t7", "col_todo", TaskStatus::Todo)
        }];
        assert!(check_placements(&on_other_board, &projects, &boards).is_err());
    }
}

/// The behaviour of imports on both stores (the embedded one, and MongoDB at `MONGO_URL`).
#[cfg(test)]
mod on_both_stores {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::project::{Member, ProjectRole};
    use crate::domain::reasons;
    use crate::domain::timesheet::{IsoWeek, TimesheetState};
    use crate::store::memory::MemoryStore;
    use crate::store::mongo::MongoStore;
    use crate::store::timers::TimerStore;
    use crate::store::{
        ColumnDoc, Guarded, PmoStore, ProjectDoc, SharedStore, TimeEntryFilter, TimesheetDoc,
    };
    use crate::PmoOptions;
    use erp_kit::events::{EventEnvelope, Wake};
    use erp_kit::pagination::PageRequest;

    fn pmo(store: SharedStore) -> Pmo {
        let cache = std::sync::Arc::new(erp_kit::cache::InProcessCache::new());
        Pmo::new(
            store,
            TimerStore::new(cache, "pmo"),
            Wake::default(),
            PmoOptions::default(),
        )
    }

    /// A store on a database of its own on the real server (dropped after the test).
    async fn mongo_store() -> MongoStore {
        let url = std::env::var("MONGO_URL").unwrap_or_else(|_| {
            panic!("MONGO_URL: this test needs the real MongoDB server (deploy/local/services.sh start)")
        });
        let client = mongodb::Client::with_uri_str(&url).await.unwrap();
        let name = format!("t_import_{}", uuid::Uuid::now_v7().simple());
        let store = MongoStore::with_database(client, &name);
        store.prepare().await.unwrap();
        store
    }

    #[tokio::test]
    async fn imports_follow_the_rules_on_the_embedded_store() {
        imports_follow_the_rules(&pmo(std::sync::Arc::new(MemoryStore::new()))).await;
    }

    #[tokio::test]
    async fn imports_follow_the_rules_on_mongodb() {
        let store = mongo_store().await;
        imports_follow_the_rules(&pmo(std::sync::Arc::new(store.clone()))).await;
        store.drop_database().await;
    }

    /// Ids unique to one run, so runs against a shared server never meet.
    struct Ids(String);

    impl Ids {
        fn new() -> Self {
            Self(uuid::Uuid::now_v7().simple().to_string())
        }

        fn of(&self, name: &str) -> String {
            format!("{name}_{}", self.0)
        }

        fn tenant(&self, name: &str) -> TenantId {
            TenantId::from_claim(&self.of(name))
        }
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, hour, 0, 0).unwrap()
    }

    fn placed(ids: &Ids, tenant: &TenantId, name: &str, column: Option<&str>) -> TaskDoc {
        let (board_id, column_id, status) = match column {
            Some("doing") => (
                Some(ids.of("brd")),
                Some(ids.of("doing")),
                TaskStatus::InProgress,
            ),
            Some(_) => (Some(ids.of("brd")), Some(ids.of("todo")), TaskStatus::Todo),
            None => (None, None, TaskStatus::Todo),
        };
        TaskDoc {
            id: ids.of(name),
            tenant_id: tenant.as_str().to_owned(),
            project_id: ids.of("prj"),
            board_id,
            column_id,
            status,
            title: format!("Task {name}"),
            description: None,
            assignee_ids: vec!["emp_1".into()],
            estimate_minutes: Some(60),
            labels: vec!["chore".into()],
            sprint_id: None,
            blocked_by: Vec::new(),
            parent_id: None,
            custom_fields: Vec::new(),
            created_at: at(2, 9),
            updated_at: at(2, 9),
        }
    }

    fn entry(
        ids: &Ids,
        tenant: &TenantId,
        name: &str,
        user: &str,
        start: DateTime<Utc>,
    ) -> TimeEntryDoc {
        TimeEntryDoc {
            id: ids.of(name),
            tenant_id: tenant.as_str().to_owned(),
            user_id: ids.of(user),
            task_id: ids.of("t1"),
            project_id: ids.of("prj"),
            started_at: start,
            ended_at: start + chrono::Duration::minutes(90),
            duration_seconds: 5400,
            billable: true,
        }
    }

    fn page() -> PageRequest {
        PageRequest {
            limit: 100,
            after: None,
            before: None,
            backward: false,
        }
    }

    fn imported(inserted: usize, existing: usize) -> Imported {
        Imported { inserted, existing }
    }

    fn week(raw: &str) -> IsoWeek {
        IsoWeek::parse("week", raw).unwrap()
    }

    async fn timesheet(
        store: &SharedStore,
        tenant: &TenantId,
        user: &str,
        raw: &str,
    ) -> Option<TimesheetDoc> {
        let key = TimesheetDoc::key(tenant, user, week(raw));
        store.timesheets_by_ids(tenant, &[key]).await.unwrap().pop()
    }

    fn refused_with(result: ApiResult<Imported>, message: &str) {
        match result {
            Err(err) => {
                assert_eq!(err.code(), erp_kit::ErrorCode::BadUserInput);
                assert_eq!(err.message(), message)
            }
            other => panic!("expected BAD_INPUT `{message}`, got {other:?}"),
        }
    }

    /// Imports into a project with a board (a WIP limit of 2 on "Doing"): counts, idempotence,
    /// the rules of creation and of a stop, the week touches, no events.
    async fn imports_follow_the_rules(pmo: &Pmo) {
        let store = &pmo.store;
        let ids = Ids::new();
        let tenant = ids.tenant("tnt");
        let project = ProjectDoc {
            id: ids.of("prj"),
            tenant_id: tenant.as_str().to_owned(),
            name: "Imported".into(),
            client: None,
            client_id: None,
            opportunity_id: None,
            merged_from: None,
            budget: None,
            billable: true,
            members: vec![Member {
                user_id: ids.of("u1"),
                employee_id: None,
                role: ProjectRole::Owner,
            }],
            custom_fields: Vec::new(),
            created_at: at(1, 9),
            rev: 0,
        };
        let created = EventEnvelope::new(
            &tenant,
            "project.created",
            &project.id,
            serde_json::json!({}),
        )
        .unwrap();
        store
            .insert_project(&tenant, &project, &created)
            .await
            .unwrap();
        let column = |name: &str, status, wip_limit| ColumnDoc {
            id: ids.of(name),
            name: name.to_owned(),
            status,
            wip_limit,
        };
        let board = BoardDoc {
            id: ids.of("brd"),
            tenant_id: tenant.as_str().to_owned(),
            project_id: ids.of("prj"),
            name: "Board".into(),
            columns: vec![
                column("todo", TaskStatus::Todo, None),
                column("doing", TaskStatus::InProgress, Some(2)),
            ],
            rev: 0,
        };
        store.insert_board(&tenant, &board).await.unwrap();
        let events_before = store.pending_events(1_000).await.unwrap().len();

        // Tasks: written once, skipped when repeated, a new one among repeats written.
        let tasks = vec![
            placed(&ids, &tenant, "t1", Some("todo")),
            placed(&ids, &tenant, "t2", Some("doing")),
            placed(&ids, &tenant, "t3", Some("doing")),
            placed(&ids, &tenant, "t4", None),
        ];
        assert_eq!(
            pmo.import_tasks(&tenant, &tasks).await.unwrap(),
            imported(4, 0)
        );
        assert_eq!(
            pmo.import_tasks(&tenant, &tasks).await.unwrap(),
            imported(0, 4)
        );
        let mut more = tasks.clone();
        more.push(placed(&ids, &tenant, "t5", Some("todo")));
        assert_eq!(
            pmo.import_tasks(&tenant, &more).await.unwrap(),
            imported(1, 4)
        );
        let task_ids: Vec<String> = more.iter().map(|t| t.id.clone()).collect();
        assert_eq!(store.tasks_by_ids(&tenant, &task_ids).await.unwrap(), more);

        // The WIP limit holds for a whole batch: a third task into "Doing" is refused, and the
        // batch's other task is not written either.
        let over = vec![
            placed(&ids, &tenant, "t6", Some("todo")),
            placed(&ids, &tenant, "t7", Some("doing")),
        ];
        match pmo.import_tasks(&tenant, &over).await {
            Err(err) if err.reason() == Some(reasons::WIP_LIMIT_EXCEEDED) => assert_eq!(
                err.message(),
                "the column `doing` already holds its WIP limit of 2 task(s)"
            ),
            other => panic!("expected WIP_LIMIT_EXCEEDED, got {other:?}"),
        }
        let over_ids = [ids.of("t6"), ids.of("t7")];
        assert!(store
            .tasks_by_ids(&tenant, &over_ids)
            .await
            .unwrap()
            .is_empty());
        refused_with(
            pmo.import_tasks(
                &tenant,
                &[TaskDoc {
                    project_id: ids.of("nowhere"),
                    ..placed(&ids, &tenant, "t8", None)
                }],
            )
            .await,
            &format!(
                "task `{}`: there is no project `{}`",
                ids.of("t8"),
                ids.of("nowhere")
            ),
        );
        // An id is global: another tenant cannot import one that is taken.
        let other = ids.tenant("other");
        let stolen = TaskDoc {
            tenant_id: other.as_str().to_owned(),
            ..placed(&ids, &tenant, "t1", None)
        };
        refused_with(
            pmo.import_tasks(&other, &[stolen]).await,
            &format!("task `{}`: is taken by another tenant", ids.of("t1")),
        );

        // Time entries: u1 logs twice in 2026-W02, u2 once in W03; one touch per week and batch.
        let entries = vec![
            entry(&ids, &tenant, "e1", "u1", at(5, 9)),
            entry(&ids, &tenant, "e2", "u1", at(6, 9)),
            entry(&ids, &tenant, "e3", "u2", at(12, 9)),
        ];
        assert_eq!(
            pmo.import_time_entries(&tenant, &entries).await.unwrap(),
            imported(3, 0)
        );
        let w02 = timesheet(store, &tenant, &ids.of("u1"), "2026-W02")
            .await
            .unwrap();
        assert_eq!((w02.state, w02.rev), (TimesheetState::Draft, 1));
        let w03 = timesheet(store, &tenant, &ids.of("u2"), "2026-W03")
            .await
            .unwrap();
        assert_eq!((w03.state, w03.rev), (TimesheetState::Draft, 1));
        assert_eq!(
            store
                .week_entries(&tenant, &ids.of("u1"), week("2026-W02"))
                .await
                .unwrap(),
            entries[..2]
        );
        // Repeated: nothing written, the weeks not touched again.
        assert_eq!(
            pmo.import_time_entries(&tenant, &entries).await.unwrap(),
            imported(0, 3)
        );
        let again = timesheet(store, &tenant, &ids.of("u1"), "2026-W02")
            .await
            .unwrap();
        assert_eq!(again.rev, 1);

        // A submitted week takes no imported time, and the batch is not written at all; the
        // entries it holds already are still recognised.
        let submitted = TimesheetDoc {
            state: TimesheetState::Submitted,
            rev: 2,
            ..w02
        };
        assert_eq!(
            store
                .save_timesheet(&tenant, &submitted, Some(1), None)
                .await
                .unwrap(),
            Guarded::Written(())
        );
        let locked = vec![
            entry(&ids, &tenant, "e4", "u2", at(13, 9)),
            entry(&ids, &tenant, "e5", "u1", at(7, 9)),
        ];
        match pmo.import_time_entries(&tenant, &locked).await {
            Err(err) if err.reason() == Some(reasons::TIMESHEET_LOCKED) => assert_eq!(
                err.message(),
                "the timesheet of 2026-W02 is submitted: no time can be added to it unless it \
                 is rejected"
            ),
            other => panic!("expected TIMESHEET_LOCKED, got {other:?}"),
        }
        assert_eq!(
            store.time_entry(&tenant, &ids.of("e4")).await.unwrap(),
            None
        );
        let w03_after = timesheet(store, &tenant, &ids.of("u2"), "2026-W03")
            .await
            .unwrap();
        assert_eq!(w03_after.rev, 1, "the refused batch touched no week");
        assert_eq!(
            pmo.import_time_entries(&tenant, &entries[..1])
                .await
                .unwrap(),
            imported(0, 1)
        );

        // An entry is on a task of its own project.
        refused_with(
            pmo.import_time_entries(
                &tenant,
                &[TimeEntryDoc {
                    task_id: ids.of("missing"),
                    ..entry(&ids, &tenant, "e6", "u2", at(14, 9))
                }],
            )
            .await,
            &format!(
                "time entry `{}`: there is no task `{}`",
                ids.of("e6"),
                ids.of("missing")
            ),
        );

        let listed = store
            .list_time_entries(
                &tenant,
                &TimeEntryFilter {
                    user_id: Some(ids.of("u1")),
                    project_id: None,
                },
                &page(),
            )
            .await
            .unwrap();
        assert_eq!(listed, entries[..2]);
        // History is not news: no event was queued by any import.
        assert_eq!(
            store.pending_events(1_000).await.unwrap().len(),
            events_before
        );
    }

    #[tokio::test]
    async fn concurrent_imports_of_the_same_batch_on_mongodb_write_it_once() {
        let mongo = mongo_store().await;
        let pmo = pmo(std::sync::Arc::new(mongo.clone()));
        let store = &pmo.store;
        let ids = Ids::new();
        let tenant = ids.tenant("tnt");
        let project = ProjectDoc {
            id: ids.of("prj"),
            tenant_id: tenant.as_str().to_owned(),
            name: "Imported".into(),
            client: None,
            client_id: None,
            opportunity_id: None,
            merged_from: None,
            budget: None,
            billable: false,
            members: Vec::new(),
            custom_fields: Vec::new(),
            created_at: chrono::Utc::now(),
            rev: 0,
        };
        let event = EventEnvelope::new(
            &tenant,
            "project.created",
            &project.id,
            serde_json::json!({}),
        )
        .unwrap();
        store
            .insert_project(&tenant, &project, &event)
            .await
            .unwrap();
        let at = chrono::Utc.with_ymd_and_hms(2026, 1, 5, 8, 0, 0).unwrap();
        let task = TaskDoc {
            id: ids.of("tsk"),
            tenant_id: tenant.as_str().to_owned(),
            project_id: project.id.clone(),
            board_id: None,
            column_id: None,
            status: TaskStatus::Todo,
            title: "Task".into(),
            description: None,
            assignee_ids: Vec::new(),
            estimate_minutes: None,
            labels: Vec::new(),
            sprint_id: None,
            blocked_by: Vec::new(),
            parent_id: None,
            custom_fields: Vec::new(),
            created_at: at,
            updated_at: at,
        };
        pmo.import_tasks(&tenant, std::slice::from_ref(&task))
            .await
            .unwrap();
        let entries: Vec<TimeEntryDoc> = (0..300)
            .map(|n| {
                let start = at + chrono::Duration::minutes(n);
                TimeEntryDoc {
                    id: ids.of(&format!("e{n:03}")),
                    tenant_id: tenant.as_str().to_owned(),
                    user_id: ids.of(&format!("u{}", n % 7)),
                    task_id: task.id.clone(),
                    project_id: project.id.clone(),
                    started_at: start,
                    ended_at: start + chrono::Duration::seconds(30),
                    duration_seconds: 30,
                    billable: false,
                }
            })
            .collect();
        let (a, b) = tokio::join!(
            pmo.import_time_entries(&tenant, &entries),
            pmo.import_time_entries(&tenant, &entries)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.inserted + b.inserted, 300, "{a:?} {b:?}");
        assert_eq!(a.existing + b.existing, 300, "{a:?} {b:?}");
        let stored = store
            .list_time_entries(
                &tenant,
                &TimeEntryFilter::default(),
                &PageRequest {
                    limit: 1_000,
                    after: None,
                    before: None,
                    backward: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(stored.len(), 300);
        // Seven people, one week: seven timesheets, each touched by the one batch that wrote.
        let sheets = store
            .list_timesheets(
                &tenant,
                &crate::store::TimesheetFilter::default(),
                &PageRequest {
                    limit: 100,
                    after: None,
                    before: None,
                    backward: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(sheets.len(), 7);
        assert!(sheets.iter().all(|s| s.rev == 1), "{sheets:?}");
        mongo.drop_database().await;
    }
}
