//! The PMO store on MongoDB (the `mongodb` 3.x driver). A conditional write and its event are
//! one multi-document transaction (its conditions are filters on the records' revisions, so a
//! record changed since it was read matches nothing and the transaction is aborted); a
//! transaction that collides with a concurrent one is retried.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use mongodb::bson::{doc, to_bson, Bson, Document};
use mongodb::error::{
    Error as MongoError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ReturnDocument, WriteModel};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};

use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{
    BoardDoc, CommentDoc, CrmEffect, CustomValue, EntryWrite, Expected, Guarded, History,
    HistoryWrite, Imported, Member, OutboxDoc, PendingEvent, Placement, PmoStore, ProjectDoc,
    SprintDoc, TaskDoc, TaskFilter, TimeEntryDoc, TimeEntryEditDoc, TimeEntryFilter, TimesheetDoc,
    TimesheetFilter, WeekGuard,
};
use crate::domain::custom_field::FieldDefinition;
use crate::domain::sprint::SprintState;
use crate::domain::task::TaskStatus;
use crate::domain::timesheet::{IsoWeek, TimesheetState};

use super::entities::{
    DeadLetterDoc, InboxDoc, MergedFrom, BOARDS, COMMENTS, DEAD_LETTERS, ENTRY_EDITS, INBOX,
    LEASES, OUTBOX, PROJECTS, SPRINTS, TASKS, TIMESHEETS, TIME_ENTRIES,
};
use super::timers::{
    locked_state, refused_write, touch_week, MongoTimers, TimerStarts, DUPLICATE_KEY,
};
/// Ids per `$in` lookup of an import. A real MongoDB serves a long `$in` on `_id` as point
/// lookups, but the stand-in server of the tests (SecantusDB) matches every candidate against
/// the whole list, so 2,000 ids cost it seconds (quadratic); chunks of 100 keep it linear at a
/// round trip per 100 ids on a real server.
const IN_CHUNK: usize = 100;
/// How often a collided transaction is tried before the caller gets CONFLICT.
const MAX_ATTEMPTS: u32 = 5;

/// Why a write inside a transaction did not go through.
#[derive(Debug)]
enum Failure {
    /// It collided with a concurrent transaction: tried again.
    Transient(String),
    /// A record it was conditional on changed: the transaction is aborted.
    Stale,
    /// New time would go to a locked week: the transaction is aborted.
    WeekLocked {
        user_id: String,
        week: IsoWeek,
        state: TimesheetState,
    },
    Api(ApiError),
}

type Tx<T> = Result<T, Failure>;

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Failure::Api(err)
    }
}

/// Where no conditional write answers: a collision that outlived its retries is the caller's
/// CONFLICT.
impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Api(err) => err,
            Failure::Transient(detail) => {
                tracing::warn!(error = %detail, "transaction kept colliding");
                erp_kit::retry::collided()
            }
            Failure::Stale | Failure::WeekLocked { .. } => {
                ApiError::internal("a conditional outcome outside a conditional write")
            }
        }
    }
}

/// A conditional write's answer.
fn guarded<T>(outcome: Tx<T>) -> ApiResult<Guarded<T>> {
    match outcome {
        Ok(value) => Ok(Guarded::Written(value)),
        Err(Failure::Stale) => Ok(Guarded::Stale),
        Err(failure) => Err(failure.into()),
    }
}

fn is_duplicate_key(err: &MongoError) -> bool {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|e| e.code == 11000)),
        _ => false,
    }
}

fn db_err(err: MongoError) -> Failure {
    if err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        Failure::Transient(err.to_string())
    } else {
        Failure::Api(ApiError::internal(format!("mongodb: {err}")))
    }
}

/// An insert of ids read as absent in the same transaction that still collides: a concurrent
/// import wrote them meanwhile; the retry reads them as stored.
fn concurrent_insert(err: MongoError) -> Failure {
    if is_duplicate_key(&err) {
        Failure::Transient(err.to_string())
    } else {
        db_err(err)
    }
}

fn bson_err(err: impl std::fmt::Display) -> Failure {
    Failure::Api(ApiError::internal(format!("bson: {err}")))
}

fn status_value(status: TaskStatus) -> Tx<Bson> {
    to_bson(&status).map_err(bson_err)
}

fn sprint_state_value(state: SprintState) -> Tx<Bson> {
    to_bson(&state).map_err(bson_err)
}

/// Keyset bounds and direction on `_id` (time-ordered UUIDv7 strings).
fn keyset(filter: &mut Document, page: &PageRequest) -> Document {
    let mut bounds = Document::new();
    if let Some(after) = &page.after {
        bounds.insert("$gt", after.as_str());
    }
    if let Some(before) = &page.before {
        bounds.insert("$lt", before.as_str());
    }
    if !bounds.is_empty() {
        filter.insert("_id", bounds);
    }
    doc! { "_id": if page.backward { -1 } else { 1 } }
}

/// Runs `$body` in a transaction on a fresh session named `$session`, retrying collisions; a
/// body that fails (a stale condition included) aborts it.
macro_rules! in_transaction {
    ($store:expr, $session:ident, $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut $session = $store.client.start_session().await.map_err(db_err)?;
            $session.start_transaction().await.map_err(db_err)?;
            let outcome: Tx<_> = async { $body }.await;
            match outcome {
                Ok(value) => match commit(&mut $session).await {
                    Ok(()) => break Ok(value),
                    Err(Failure::Transient(_)) if attempt < MAX_ATTEMPTS => continue,
                    Err(err) => break Err(err),
                },
                Err(err) => {
                    let _ = $session.abort_transaction().await;
                    match err {
                        Failure::Transient(_) if attempt < MAX_ATTEMPTS => {
                            tokio::time::sleep(std::time::Duration::from_millis(
                                5 * u64::from(attempt),
                            ))
                            .await;
                            continue;
                        }
                        err => break Err(err),
                    }
                }
            }
        }
    }};
}

async fn commit(session: &mut ClientSession) -> Tx<()> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(err) if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
            Err(err) => return Err(db_err(err)),
        }
    }
}

/// The indexes of each collection: one for every filter and sort the store queries with (the
/// Relay connections sort by `_id`, so their indexes end with it). `tests::every_query_has_an_index`
/// checks each query the store builds against this list.
pub fn indexes() -> Vec<(&'static str, Vec<Document>)> {
    vec![
        (
            PROJECTS,
            vec![
                doc! { "tenant_id": 1, "_id": 1 },
                // A member's projects (reads follow membership).
                doc! { "tenant_id": 1, "members.user_id": 1, "_id": 1 },
                // A CRM client's projects (the client 360), and those typed with a client's
                // name but not yet linked to it (the link of `client.created`).
                doc! { "tenant_id": 1, "client_id": 1, "members.user_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "client": 1, "client_id": 1, "_id": 1 },
            ],
        ),
        // A page of projects' boards.
        (
            BOARDS,
            vec![doc! { "tenant_id": 1, "project_id": 1, "_id": 1 }],
        ),
        (
            TASKS,
            vec![
                // The task list, unfiltered and by each filter (project, assignee, status,
                // label, sprint or backlog, parent), and the WIP count.
                doc! { "tenant_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "project_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "project_id": 1, "status": 1, "_id": 1 },
                doc! { "tenant_id": 1, "status": 1, "_id": 1 },
                doc! { "tenant_id": 1, "assignee_ids": 1, "_id": 1 },
                doc! { "tenant_id": 1, "labels": 1, "_id": 1 },
                doc! { "tenant_id": 1, "sprint_id": 1, "_id": 1 },
                // Sprint and backlog lists of one project, and the sprint close.
                doc! { "tenant_id": 1, "project_id": 1, "sprint_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "board_id": 1, "column_id": 1 },
                // Subtasks of a task (list, and the open-subtask count of a move to done).
                doc! { "tenant_id": 1, "parent_id": 1, "_id": 1 },
            ],
        ),
        (
            TIME_ENTRIES,
            vec![
                // A person's entries, of one project or all.
                doc! { "tenant_id": 1, "user_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "user_id": 1, "project_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "project_id": 1, "_id": 1 },
                // A person's week (timesheets).
                doc! { "tenant_id": 1, "user_id": 1, "started_at": 1 },
            ],
        ),
        (
            TIMESHEETS,
            vec![
                // Every stored week, the approval queue (by state) and a person's weeks.
                doc! { "tenant_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "state": 1, "_id": 1 },
                doc! { "tenant_id": 1, "user_id": 1, "_id": 1 },
            ],
        ),
        (
            ENTRY_EDITS,
            vec![doc! { "tenant_id": 1, "entry_id": 1, "_id": 1 }],
        ),
        (
            SPRINTS,
            vec![
                // A project's sprints (by state), and its active one.
                doc! { "tenant_id": 1, "project_id": 1, "_id": 1 },
                doc! { "tenant_id": 1, "project_id": 1, "state": 1, "_id": 1 },
            ],
        ),
        (
            COMMENTS,
            vec![doc! { "tenant_id": 1, "task_id": 1, "_id": 1 }],
        ),
        (OUTBOX, vec![doc! { "published_at": 1, "_id": 1 }]),
        // The inbox and the dead letters are read by `_id` only.
    ]
}

/// The tenant's projects of a CRM client.
fn client_projects_query(tenant: &TenantId, client_id: &str, member: &str) -> Document {
    doc! { "tenant_id": tenant.as_str(), "client_id": client_id, "members.user_id": member }
}

/// The tenant's projects typed with a client's name and linked to no CRM client yet.
fn unlinked_projects_query(tenant: &TenantId, name: &str) -> Document {
    doc! { "tenant_id": tenant.as_str(), "client": name, "client_id": null }
}

/// The filter of a task list.
fn task_query(tenant: &TenantId, filter: &TaskFilter) -> Tx<Document> {
    let mut query = doc! { "tenant_id": tenant.as_str() };
    match (&filter.project_id, &filter.project_ids) {
        // Both must hold: one project, if it is among the allowed ones.
        (Some(project_id), Some(ids)) if !ids.contains(project_id) => {
            query.insert("project_id", doc! { "$in": Vec::<String>::new() });
        }
        (Some(project_id), _) => {
            query.insert("project_id", project_id.as_str());
        }
        (None, Some(ids)) => {
            query.insert("project_id", doc! { "$in": ids.clone() });
        }
        (None, None) => {}
    }
    if let Some(assignee) = &filter.assignee_id {
        query.insert("assignee_ids", assignee.as_str());
    }
    if let Some(status) = filter.status {
        query.insert("status", status_value(status)?);
    }
    if let Some(label) = &filter.label {
        query.insert("labels", label.as_str());
    }
    if let Some(sprint) = &filter.sprint_id {
        query.insert("sprint_id", sprint.as_str());
    } else if filter.backlog {
        query.insert("sprint_id", mongodb::bson::Bson::Null);
    }
    if let Some(parent) = &filter.parent_id {
        query.insert("parent_id", parent.as_str());
    }
    Ok(query)
}

/// The filter of a time-entry list.
fn time_entry_query(tenant: &TenantId, filter: &TimeEntryFilter) -> Document {
    let mut query = doc! { "tenant_id": tenant.as_str() };
    if let Some(user) = &filter.user_id {
        query.insert("user_id", user.as_str());
    }
    if let Some(project) = &filter.project_id {
        query.insert("project_id", project.as_str());
    }
    query
}

/// The filter of a timesheet list.
fn timesheet_query(tenant: &TenantId, filter: &TimesheetFilter) -> Tx<Document> {
    let mut query = doc! { "tenant_id": tenant.as_str() };
    if let Some(user) = &filter.user_id {
        query.insert("user_id", user.as_str());
    }
    if let Some(state) = filter.state {
        query.insert("state", to_bson(&state).map_err(bson_err)?);
    }
    Ok(query)
}

/// The filter of a project's sprint list.
fn sprint_query(tenant: &TenantId, project_id: &str, state: Option<SprintState>) -> Tx<Document> {
    let mut query = doc! { "tenant_id": tenant.as_str(), "project_id": project_id };
    if let Some(state) = state {
        query.insert("state", sprint_state_value(state)?);
    }
    Ok(query)
}

/// The filter of the entries of some people's weeks: per week, the person and the day prefixes
/// that bound it (times are stored as RFC 3339 strings; the exact week is checked on the parsed
/// values).
fn weeks_query(tenant: &TenantId, weeks: &[(String, IsoWeek)]) -> Document {
    let branches: Vec<Document> = weeks
        .iter()
        .map(|(user_id, week)| {
            let from = format!("{}T00:00:00", week.monday());
            let to = format!("{}T00:00:00", week.monday() + chrono::Duration::days(7));
            doc! { "user_id": user_id, "started_at": { "$gte": from, "$lt": to } }
        })
        .collect();
    doc! { "tenant_id": tenant.as_str(), "$or": branches }
}

/// The children of some parents (a page of projects' boards, a page of entries' edits).
fn of_parents(tenant: &TenantId, field: &str, parent_ids: &[String]) -> Document {
    doc! { "tenant_id": tenant.as_str(), field: { "$in": parent_ids } }
}

/// The filter of a task's comment list.
fn comments_query(tenant: &TenantId, task_id: &str) -> Document {
    doc! { "tenant_id": tenant.as_str(), "task_id": task_id }
}

/// The outbox relay's filter: events not yet published.
fn pending_query() -> Document {
    doc! { "published_at": null }
}

/// The filter of the subtasks of a task that are not done.
fn open_subtasks_query(tenant: &TenantId, parent_id: &str) -> Tx<Document> {
    Ok(doc! {
        "tenant_id": tenant.as_str(),
        "parent_id": parent_id,
        "status": { "$ne": status_value(TaskStatus::Done)? },
    })
}

/// The filter of a project's tasks that wait for others.
fn dependencies_query(tenant: &TenantId, project_id: &str) -> Document {
    doc! {
        "tenant_id": tenant.as_str(),
        "project_id": project_id,
        "blocked_by.0": { "$exists": true },
    }
}

/// The filter of a sprint's tasks.
fn sprint_tasks_query(tenant: &TenantId, project_id: &str, sprint_id: &str) -> Document {
    doc! { "tenant_id": tenant.as_str(), "project_id": project_id, "sprint_id": sprint_id }
}

/// Sees every command a [`MongoStore`] sends (its name and collection, empty when it names
/// none): for metrics, or to pin how many round trips a use case costs.
pub type CommandObserver = std::sync::Arc<dyn Fn(&str, &str) + Send + Sync>;

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
}

impl MongoStore {
    /// The timer start's backend over this store's database (`super::timers`).
    pub fn timers(&self) -> MongoTimers {
        MongoTimers::new(self.client.clone(), self.db.clone())
    }

    /// Connects to `url`; the database is the URL's default database or `erp_pmo`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_observed(url, None).await
    }

    /// [`MongoStore::connect`], with every command the store sends shown to `observer`.
    pub async fn connect_observed(
        url: &str,
        observer: Option<CommandObserver>,
    ) -> anyhow::Result<Self> {
        let mut options = mongodb::options::ClientOptions::parse(url).await?;
        if let Some(observer) = observer {
            options.command_event_handler = Some(mongodb::event::EventHandler::callback(
                move |event: mongodb::event::command::CommandEvent| {
                    if let mongodb::event::command::CommandEvent::Started(started) = event {
                        let collection =
                            started.command.get_str(&started.command_name).unwrap_or("");
                        observer(&started.command_name, collection);
                    }
                },
            ));
        }
        let client = Client::with_options(options)?;
        let db = client
            .default_database()
            .unwrap_or_else(|| client.database("erp_pmo"));
        Ok(Self { client, db })
    }

    /// A store on a named database of an existing client (tests use one database each).
    pub fn with_database(client: Client, name: &str) -> Self {
        let db = client.database(name);
        Self { client, db }
    }

    /// Drops the store's database (what a test made).
    #[cfg(test)]
    pub(crate) async fn drop_database(&self) {
        if let Err(err) = self.db.drop().await {
            tracing::warn!(error = %err, "a test database was not dropped");
        }
    }

    /// Timer starts and stops are one `bulkWrite` command each (MongoDB 8.0): refuse an older
    /// server at start rather than at the first timer.
    async fn check_server_version(&self) -> Tx<()> {
        const SERVER_8_0_WIRE_VERSION: i32 = 25;
        let hello = self
            .db
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(db_err)?;
        let wire_version = hello
            .get_i32("maxWireVersion")
            .or_else(|_| hello.get_i64("maxWireVersion").map(|v| v as i32))
            .unwrap_or(0);
        if wire_version < SERVER_8_0_WIRE_VERSION {
            return Err(ApiError::internal(format!(
                "the PMO store needs MongoDB 8.0 or newer (bulkWrite); the server speaks wire \
                 version {wire_version}"
            ))
            .into());
        }
        Ok(())
    }

    fn inbox(&self) -> Collection<InboxDoc> {
        self.db.collection(INBOX)
    }
    fn dead_letters(&self) -> Collection<DeadLetterDoc> {
        self.db.collection(DEAD_LETTERS)
    }
    fn projects(&self) -> Collection<ProjectDoc> {
        self.db.collection(PROJECTS)
    }
    fn boards(&self) -> Collection<BoardDoc> {
        self.db.collection(BOARDS)
    }
    fn tasks(&self) -> Collection<TaskDoc> {
        self.db.collection(TASKS)
    }
    fn time_entries(&self) -> Collection<TimeEntryDoc> {
        self.db.collection(TIME_ENTRIES)
    }
    fn timesheets(&self) -> Collection<TimesheetDoc> {
        self.db.collection(TIMESHEETS)
    }
    fn entry_edits_coll(&self) -> Collection<TimeEntryEditDoc> {
        self.db.collection(ENTRY_EDITS)
    }
    fn comments(&self) -> Collection<CommentDoc> {
        self.db.collection(COMMENTS)
    }
    fn sprints(&self) -> Collection<SprintDoc> {
        self.db.collection(SPRINTS)
    }
    fn outbox(&self) -> Collection<OutboxDoc> {
        self.db.collection(OUTBOX)
    }

    async fn enqueue(&self, session: &mut ClientSession, event: &EventEnvelope) -> Tx<()> {
        self.outbox()
            .insert_one(OutboxDoc::new(crate::domain::DOMAIN, event)?)
            .session(session)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Bumps the revision of a record of `collection` at the expected revision, inside the
    /// session's transaction; stale when it is at another one (or not the tenant's).
    async fn bump(
        &self,
        session: &mut ClientSession,
        collection: &str,
        tenant: &TenantId,
        expected: &Expected,
    ) -> Tx<()> {
        let bumped = self
            .db
            .collection::<Document>(collection)
            .update_one(
                doc! { "_id": &expected.id, "tenant_id": tenant.as_str(), "rev": expected.rev },
                doc! { "$inc": { "rev": 1 } },
            )
            .session(&mut *session)
            .await
            .map_err(db_err)?;
        if bumped.matched_count == 0 {
            return Err(Failure::Stale);
        }
        Ok(())
    }

    async fn find_in<T>(
        &self,
        collection: Collection<T>,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> Tx<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send + Sync + Unpin,
    {
        let mut find = collection.find(filter).sort(sort);
        if limit > 0 {
            find = find.limit(limit);
        }
        find.await
            .map_err(db_err)?
            .try_collect()
            .await
            .map_err(db_err)
    }

    /// Several pages of one collection in one command: each `(filter, sort, limit)` branch
    /// reads through its own index with its own limit (`$unionWith`), tagged with its position
    /// so the rows are handed back per branch, in order.
    async fn pages_in<T>(
        &self,
        collection: Collection<T>,
        mut branches: Vec<(Document, Document, i64)>,
    ) -> Tx<Vec<Vec<T>>>
    where
        T: serde::de::DeserializeOwned + Send + Sync + Unpin,
    {
        const BRANCH: &str = "__branch";
        if branches.len() <= 1 {
            let Some((filter, sort, limit)) = branches.pop() else {
                return Ok(Vec::new());
            };
            return Ok(vec![self.find_in(collection, filter, sort, limit).await?]);
        }
        let name = collection.name().to_owned();
        let rows: i64 = branches.iter().map(|(_, _, limit)| *limit).sum();
        let stages = |index: usize, (filter, sort, limit): (Document, Document, i64)| {
            vec![
                doc! { "$match": filter },
                doc! { "$sort": sort },
                doc! { "$limit": limit },
                doc! { "$addFields": { BRANCH: index as i64 } },
            ]
        };
        let count = branches.len();
        let mut branches = branches.into_iter().enumerate();
        let mut pipeline = match branches.next() {
            Some((index, first)) => stages(index, first),
            None => return Ok(Vec::new()),
        };
        for (index, branch) in branches {
            pipeline
                .push(doc! { "$unionWith": { "coll": &name, "pipeline": stages(index, branch) } });
        }
        let mut cursor = self
            .db
            .collection::<Document>(&name)
            .aggregate(pipeline)
            .batch_size(u32::try_from(rows).unwrap_or(u32::MAX))
            .await
            .map_err(db_err)?;
        let mut pages: Vec<Vec<T>> = (0..count).map(|_| Vec::new()).collect();
        while let Some(mut row) = cursor.try_next().await.map_err(db_err)? {
            let index = row
                .remove(BRANCH)
                .and_then(|b| b.as_i64())
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| bson_err("a row of a batched page without its branch"))?;
            let page = pages
                .get_mut(index)
                .ok_or_else(|| bson_err("a row of a batched page of an unknown branch"))?;
            page.push(mongodb::bson::from_document(row).map_err(bson_err)?);
        }
        Ok(pages)
    }

    /// Writes `timesheet` if the stored one is still at `expected_rev` (None: absent), inside the
    /// session's transaction; stale otherwise.
    async fn guard_timesheet(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        timesheet: &TimesheetDoc,
        expected_rev: Option<i64>,
    ) -> Tx<()> {
        match expected_rev {
            None => match self
                .timesheets()
                .insert_one(timesheet)
                .session(&mut *session)
                .await
            {
                Ok(_) => Ok(()),
                Err(err) if is_duplicate_key(&err) => Err(Failure::Stale),
                Err(err) => Err(db_err(err)),
            },
            Some(rev) => {
                let replaced = self
                    .timesheets()
                    .replace_one(
                        doc! { "_id": &timesheet.id, "tenant_id": tenant.as_str(), "rev": rev },
                        timesheet,
                    )
                    .session(&mut *session)
                    .await
                    .map_err(db_err)?;
                if replaced.matched_count == 0 {
                    return Err(Failure::Stale);
                }
                Ok(())
            }
        }
    }

    /// Every document of `collection` matching `filter` (by `_id`, only the `projection`'s
    /// fields when given), inside the session's transaction when there is one.
    async fn all_of<T>(
        &self,
        session: Option<&mut ClientSession>,
        collection: Collection<T>,
        filter: Document,
        projection: Option<Document>,
    ) -> Tx<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send + Sync + Unpin,
    {
        let mut find = collection.find(filter).sort(doc! { "_id": 1 });
        if let Some(projection) = projection {
            find = find.projection(projection);
        }
        let Some(session) = session else {
            return find
                .await
                .map_err(db_err)?
                .try_collect()
                .await
                .map_err(db_err);
        };
        let mut cursor = find.session(&mut *session).await.map_err(db_err)?;
        let mut found = Vec::new();
        while let Some(doc) = cursor
            .stream(&mut *session)
            .try_next()
            .await
            .map_err(db_err)?
        {
            found.push(doc);
        }
        Ok(found)
    }

    /// `field` of the documents of `collection` with the given ids (of `tenant`, or of any tenant
    /// when None), by id, inside the session's transaction when there is one. The ids go in
    /// chunks of [`IN_CHUNK`].
    async fn field_by_id<S: AsRef<str>>(
        &self,
        mut session: Option<&mut ClientSession>,
        tenant: Option<&TenantId>,
        collection: &str,
        ids: &[S],
        field: &str,
    ) -> Tx<HashMap<String, String>> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let chunk: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
            let mut filter = doc! { "_id": { "$in": chunk } };
            if let Some(tenant) = tenant {
                filter.insert("tenant_id", tenant.as_str());
            }
            let docs = self
                .all_of(
                    session.as_deref_mut(),
                    self.db.collection::<Document>(collection),
                    filter,
                    Some(doc! { field: 1 }),
                )
                .await?;
            found.extend(docs.into_iter().filter_map(|doc| {
                Some((
                    doc.get_str("_id").ok()?.to_owned(),
                    doc.get_str(field).ok()?.to_owned(),
                ))
            }));
        }
        Ok(found)
    }

    /// The documents of a batch that are not stored yet (`stored`: id to its owner's tenant),
    /// or the first id another tenant has.
    fn new_in_batch<'a, T>(
        tenant: &TenantId,
        docs: &'a [T],
        id_of: impl Fn(&T) -> &str,
        stored: &HashMap<String, String>,
    ) -> Result<Vec<&'a T>, String> {
        let mut new = Vec::with_capacity(docs.len());
        for doc in docs {
            match stored.get(id_of(doc)) {
                Some(owner) if owner == tenant.as_str() => {}
                Some(_) => return Err(id_of(doc).to_owned()),
                None => new.push(doc),
            }
        }
        Ok(new)
    }
}

#[async_trait::async_trait]
impl PmoStore for MongoStore {
    fn timer_starts(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn TimerStarts> {
        std::sync::Arc::new(self.timers())
    }

    async fn prepare(&self) -> ApiResult<()> {
        self.check_server_version().await?;
        for (collection, keys) in indexes() {
            // Transactions cannot create collections on every server: create them up front.
            if let Err(err) = self.db.create_collection(collection).await {
                // 48: NamespaceExists.
                if !matches!(&*err.kind, ErrorKind::Command(e) if e.code == 48) {
                    return Err(db_err(err).into());
                }
            }
            let models = keys
                .into_iter()
                .map(|keys| IndexModel::builder().keys(keys).build());
            self.db
                .collection::<Document>(collection)
                .create_indexes(models)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn insert_project(
        &self,
        _tenant: &TenantId,
        project: &ProjectDoc,
        event: &EventEnvelope,
    ) -> ApiResult<()> {
        Ok(in_transaction!(self, session, {
            self.projects()
                .insert_one(project)
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.enqueue(&mut session, event).await
        })?)
    }

    async fn projects_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<Vec<ProjectDoc>> {
        Ok(self
            .find_in(
                self.projects(),
                doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn list_projects(
        &self,
        tenant: &TenantId,
        member: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        let mut filter = doc! { "tenant_id": tenant.as_str() };
        if let Some(user_id) = member {
            filter.insert("members.user_id", user_id);
        }
        let sort = keyset(&mut filter, page);
        Ok(self
            .find_in(self.projects(), filter, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> ApiResult<Option<ProjectDoc>> {
        let member_bson = to_bson(member).map_err(bson_err)?;
        Ok(in_transaction!(self, session, {
            let filter = doc! { "_id": project_id, "tenant_id": tenant.as_str() };
            self.projects()
                .update_one(
                    filter.clone(),
                    doc! { "$pull": { "members": { "user_id": &member.user_id } } },
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.projects()
                .find_one_and_update(filter, doc! { "$push": { "members": member_bson.clone() } })
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)
        })?)
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> ApiResult<Option<ProjectDoc>> {
        Ok(self
            .projects()
            .find_one_and_update(
                doc! { "_id": project_id, "tenant_id": tenant.as_str() },
                doc! { "$pull": { "members": { "user_id": user_id } } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_err)?)
    }

    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project: &Expected,
        field: &FieldDefinition,
    ) -> ApiResult<Guarded<ProjectDoc>> {
        let field_bson = to_bson(field).map_err(bson_err)?;
        // One document: its own update is atomic, no transaction needed.
        let updated = self
            .projects()
            .find_one_and_update(
                doc! { "_id": &project.id, "tenant_id": tenant.as_str(), "rev": project.rev },
                doc! { "$push": { "custom_fields": field_bson }, "$inc": { "rev": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_err)?;
        Ok(updated.map_or(Guarded::Stale, Guarded::Written))
    }

    async fn insert_board(&self, _tenant: &TenantId, board: &BoardDoc) -> ApiResult<()> {
        self.boards().insert_one(board).await.map_err(db_err)?;
        Ok(())
    }

    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<BoardDoc>> {
        Ok(self
            .find_in(
                self.boards(),
                doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn boards_of_projects(
        &self,
        tenant: &TenantId,
        project_ids: &[String],
    ) -> ApiResult<Vec<BoardDoc>> {
        Ok(self
            .find_in(
                self.boards(),
                of_parents(tenant, "project_id", project_ids),
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn column_count(
        &self,
        tenant: &TenantId,
        board_id: &str,
        column_id: &str,
    ) -> ApiResult<u64> {
        Ok(self
            .tasks()
            .count_documents(doc! {
                "tenant_id": tenant.as_str(),
                "board_id": board_id,
                "column_id": column_id,
            })
            .await
            .map_err(db_err)?)
    }

    async fn insert_task(
        &self,
        tenant: &TenantId,
        task: &TaskDoc,
        board: Option<&Expected>,
        sprint: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        guarded(in_transaction!(self, session, {
            if let Some(board) = board {
                self.bump(&mut session, BOARDS, tenant, board).await?;
            }
            if let Some(sprint) = sprint {
                self.bump(&mut session, SPRINTS, tenant, sprint).await?;
            }
            self.tasks()
                .insert_one(task)
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.enqueue(&mut session, event).await
        }))
    }

    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        board: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<TaskDoc>> {
        let status = status_value(to.status)?;
        guarded(in_transaction!(self, session, {
            if let Some(board) = board {
                self.bump(&mut session, BOARDS, tenant, board).await?;
            }
            let moved = self
                .tasks()
                .find_one_and_update(
                    doc! { "_id": task_id, "tenant_id": tenant.as_str(), "column_id": from_column },
                    doc! { "$set": {
                        "board_id": &to.board_id,
                        "column_id": &to.column_id,
                        "status": status.clone(),
                        "updated_at": chrono::Utc::now().to_rfc3339(),
                    } },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or(Failure::Stale)?;
            self.enqueue(&mut session, event).await?;
            Ok(moved)
        }))
    }

    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<TaskDoc>> {
        Ok(self
            .find_in(
                self.tasks(),
                doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn task_projects(
        &self,
        tenant: &TenantId,
        task_ids: &[String],
    ) -> ApiResult<HashMap<String, String>> {
        Ok(self
            .field_by_id(None, Some(tenant), TASKS, task_ids, "project_id")
            .await?)
    }

    async fn existing_task_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashSet<String>> {
        Ok(self
            .field_by_id(None, Some(tenant), TASKS, ids, "tenant_id")
            .await?
            .into_keys()
            .collect())
    }

    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TaskDoc>> {
        let mut query = task_query(tenant, filter)?;
        let sort = keyset(&mut query, page);
        Ok(self
            .find_in(self.tasks(), query, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn task_pages(
        &self,
        tenant: &TenantId,
        lists: &[(TaskFilter, PageRequest)],
    ) -> ApiResult<Vec<Vec<TaskDoc>>> {
        let mut branches = Vec::with_capacity(lists.len());
        for (filter, page) in lists {
            let mut query = task_query(tenant, filter)?;
            let sort = keyset(&mut query, page);
            branches.push((query, sort, page.limit as i64 + 1));
        }
        Ok(self.pages_in(self.tasks(), branches).await?)
    }

    async fn open_subtasks(&self, tenant: &TenantId, parent_id: &str) -> ApiResult<u64> {
        Ok(self
            .tasks()
            .count_documents(open_subtasks_query(tenant, parent_id)?)
            .await
            .map_err(db_err)?)
    }

    async fn dependency_edges(
        &self,
        tenant: &TenantId,
        project_id: &str,
    ) -> ApiResult<HashMap<String, Vec<String>>> {
        let rows = self
            .all_of(
                None,
                self.db.collection::<Document>(TASKS),
                dependencies_query(tenant, project_id),
                Some(doc! { "_id": 1, "blocked_by": 1 }),
            )
            .await?;
        let mut edges = HashMap::with_capacity(rows.len());
        for row in rows {
            let id = row.get_str("_id").map_err(bson_err)?.to_owned();
            let blockers = row
                .get_array("blocked_by")
                .map_err(bson_err)?
                .iter()
                .filter_map(|b| b.as_str().map(str::to_owned))
                .collect();
            edges.insert(id, blockers);
        }
        Ok(edges)
    }

    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project: &Expected,
        task_id: &str,
        blocker_id: &str,
    ) -> ApiResult<Guarded<TaskDoc>> {
        guarded(in_transaction!(self, session, {
            // The project's revision serialises its dependency changes: two edges added at
            // once cannot close a cycle that neither saw.
            self.bump(&mut session, PROJECTS, tenant, project).await?;
            self.tasks()
                .find_one_and_update(
                    doc! { "_id": task_id, "tenant_id": tenant.as_str(), "project_id": &project.id },
                    doc! {
                        "$addToSet": { "blocked_by": blocker_id },
                        "$set": { "updated_at": chrono::Utc::now().to_rfc3339() },
                    },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or(Failure::Stale)
        }))
    }

    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> ApiResult<Option<TaskDoc>> {
        let value_bson = value
            .map(|v| {
                to_bson(&CustomValue {
                    field_id: field_id.to_owned(),
                    value: v.to_owned(),
                })
                .map_err(bson_err)
            })
            .transpose()?;
        Ok(in_transaction!(self, session, {
            let filter = doc! { "_id": task_id, "tenant_id": tenant.as_str() };
            self.tasks()
                .update_one(
                    filter.clone(),
                    doc! {
                        "$pull": { "custom_fields": { "field_id": field_id } },
                        "$set": { "updated_at": chrono::Utc::now().to_rfc3339() },
                    },
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            let update = match &value_bson {
                Some(value) => doc! { "$push": { "custom_fields": value.clone() } },
                None => doc! { "$set": { "updated_at": chrono::Utc::now().to_rfc3339() } },
            };
            self.tasks()
                .find_one_and_update(filter, update)
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)
        })?)
    }

    async fn insert_comment(&self, _tenant: &TenantId, comment: &CommentDoc) -> ApiResult<()> {
        self.comments().insert_one(comment).await.map_err(db_err)?;
        Ok(())
    }

    async fn comment(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<CommentDoc>> {
        Ok(self
            .comments()
            .find_one(doc! { "_id": id, "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)?)
    }

    async fn edit_comment(
        &self,
        tenant: &TenantId,
        id: &str,
        author_id: &str,
        body: &str,
    ) -> ApiResult<Option<CommentDoc>> {
        Ok(self
            .comments()
            .find_one_and_update(
                doc! { "_id": id, "tenant_id": tenant.as_str(), "author_id": author_id },
                doc! { "$set": { "body": body, "edited_at": chrono::Utc::now().to_rfc3339() } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_err)?)
    }

    async fn list_comments(
        &self,
        tenant: &TenantId,
        task_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<CommentDoc>> {
        let mut filter = comments_query(tenant, task_id);
        let sort = keyset(&mut filter, page);
        Ok(self
            .find_in(self.comments(), filter, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn comment_pages(
        &self,
        tenant: &TenantId,
        lists: &[(String, PageRequest)],
    ) -> ApiResult<Vec<Vec<CommentDoc>>> {
        let branches = lists
            .iter()
            .map(|(task_id, page)| {
                let mut query = comments_query(tenant, task_id);
                let sort = keyset(&mut query, page);
                (query, sort, page.limit as i64 + 1)
            })
            .collect();
        Ok(self.pages_in(self.comments(), branches).await?)
    }

    async fn insert_sprint(&self, _tenant: &TenantId, sprint: &SprintDoc) -> ApiResult<()> {
        self.sprints().insert_one(sprint).await.map_err(db_err)?;
        Ok(())
    }

    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> ApiResult<Vec<SprintDoc>> {
        Ok(self
            .find_in(
                self.sprints(),
                doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn list_sprints(
        &self,
        tenant: &TenantId,
        project_id: &str,
        state: Option<SprintState>,
        page: &PageRequest,
    ) -> ApiResult<Vec<SprintDoc>> {
        let mut filter = sprint_query(tenant, project_id, state)?;
        let sort = keyset(&mut filter, page);
        Ok(self
            .find_in(self.sprints(), filter, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn sprint_pages(
        &self,
        tenant: &TenantId,
        lists: &[((String, Option<SprintState>), PageRequest)],
    ) -> ApiResult<Vec<Vec<SprintDoc>>> {
        let mut branches = Vec::with_capacity(lists.len());
        for ((project_id, state), page) in lists {
            let mut query = sprint_query(tenant, project_id, *state)?;
            let sort = keyset(&mut query, page);
            branches.push((query, sort, page.limit as i64 + 1));
        }
        Ok(self.pages_in(self.sprints(), branches).await?)
    }

    async fn has_active_sprint(&self, tenant: &TenantId, project_id: &str) -> ApiResult<bool> {
        let active = self
            .sprints()
            .count_documents(sprint_query(tenant, project_id, Some(SprintState::Active))?)
            .limit(1)
            .await
            .map_err(db_err)?;
        Ok(active > 0)
    }

    async fn sprint_tasks(
        &self,
        tenant: &TenantId,
        project_id: &str,
        sprint_id: &str,
    ) -> ApiResult<Vec<(String, TaskStatus)>> {
        let rows = self
            .all_of(
                None,
                self.db.collection::<Document>(TASKS),
                sprint_tasks_query(tenant, project_id, sprint_id),
                Some(doc! { "_id": 1, "status": 1 }),
            )
            .await?;
        let mut tasks = Vec::with_capacity(rows.len());
        for mut row in rows {
            let id = row.get_str("_id").map_err(bson_err)?.to_owned();
            let status = row
                .remove("status")
                .ok_or_else(|| bson_err("a task without its status"))?;
            tasks.push((id, mongodb::bson::from_bson(status).map_err(bson_err)?));
        }
        Ok(tasks)
    }

    async fn plan_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from: Option<&Expected>,
        to: Option<&Expected>,
    ) -> ApiResult<Guarded<TaskDoc>> {
        let from_id = from.map(|f| f.id.as_str());
        let to_id = to.map(|t| t.id.as_str());
        guarded(in_transaction!(self, session, {
            let planned = self
                .tasks()
                .find_one_and_update(
                    doc! { "_id": task_id, "tenant_id": tenant.as_str(), "sprint_id": from_id },
                    doc! { "$set": {
                        "sprint_id": to_id,
                        "updated_at": chrono::Utc::now().to_rfc3339(),
                    } },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or(Failure::Stale)?;
            if let Some(from) = from {
                self.bump(&mut session, SPRINTS, tenant, from).await?;
            }
            // The same sprint on both sides is bumped once.
            if let Some(to) = to.filter(|to| Some(to.id.as_str()) != from_id) {
                self.bump(&mut session, SPRINTS, tenant, to).await?;
            }
            Ok(planned)
        }))
    }

    async fn start_sprint(
        &self,
        tenant: &TenantId,
        started: &SprintDoc,
        expected_rev: i64,
        project: &Expected,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        guarded(in_transaction!(self, session, {
            // The project's revision serialises the starts of its sprints: two cannot both
            // become active.
            self.bump(&mut session, PROJECTS, tenant, project).await?;
            let replaced = self
                .sprints()
                .replace_one(
                    doc! { "_id": &started.id, "tenant_id": tenant.as_str(), "rev": expected_rev },
                    started,
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            if replaced.matched_count == 0 {
                return Err(Failure::Stale);
            }
            self.enqueue(&mut session, event).await
        }))
    }

    async fn close_sprint(
        &self,
        tenant: &TenantId,
        closed: &SprintDoc,
        expected_rev: i64,
        target: Option<&Expected>,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        let done = status_value(TaskStatus::Done)?;
        let now = closed.closed_at.unwrap_or_else(chrono::Utc::now);
        guarded(in_transaction!(self, session, {
            let replaced = self
                .sprints()
                .replace_one(
                    doc! { "_id": &closed.id, "tenant_id": tenant.as_str(), "rev": expected_rev },
                    closed,
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            if replaced.matched_count == 0 {
                return Err(Failure::Stale);
            }
            if let Some(target) = target {
                self.bump(&mut session, SPRINTS, tenant, target).await?;
            }
            let carried = &closed.carried_over_task_ids;
            if !carried.is_empty() {
                let moved = self
                    .tasks()
                    .update_many(
                        doc! {
                            "tenant_id": tenant.as_str(),
                            "_id": { "$in": carried },
                            "sprint_id": &closed.id,
                            "status": { "$ne": done.clone() },
                        },
                        doc! { "$set": {
                            "sprint_id": &closed.carried_over_to,
                            "updated_at": now.to_rfc3339(),
                        } },
                    )
                    .session(&mut session)
                    .await
                    .map_err(db_err)?;
                // A carried task done or replanned meanwhile: the split read is stale.
                if moved.matched_count != carried.len() as u64 {
                    return Err(Failure::Stale);
                }
            }
            self.enqueue(&mut session, event).await
        }))
    }

    async fn insert_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> ApiResult<EntryWrite> {
        let week = IsoWeek::of_time(entry.started_at);
        // One transaction of one command (plus its commit): the entry first, so a repeated stop
        // is recognised whatever its week became, then the week's touch, then the event.
        let writes: Vec<WriteModel> = vec![
            self.time_entries()
                .insert_one_model(entry)
                .map_err(bson_err)?
                .into(),
            touch_week(&self.db, tenant, &entry.user_id, week)?.into(),
            self.outbox()
                .insert_one_model(OutboxDoc::new(crate::domain::DOMAIN, event)?)
                .map_err(bson_err)?
                .into(),
        ];
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut session = self.client.start_session().await.map_err(db_err)?;
            session.start_transaction().await.map_err(db_err)?;
            let written = self
                .client
                .bulk_write(writes.clone())
                .ordered(true)
                .session(&mut session)
                .await;
            let err = match written {
                Ok(_) => match commit(&mut session).await {
                    Ok(()) => return Ok(EntryWrite::Recorded),
                    Err(Failure::Transient(_)) if attempt < MAX_ATTEMPTS => continue,
                    Err(err) => return Err(err.into()),
                },
                Err(err) => err,
            };
            // A refused write ends the transaction on the server; the abort only tidies up.
            let _ = session.abort_transaction().await;
            match refused_write(&err) {
                Some((0, DUPLICATE_KEY)) => return Ok(EntryWrite::AlreadyRecorded),
                Some((1, DUPLICATE_KEY)) => {
                    if let Some(locked) =
                        locked_state(&self.db, tenant, &entry.user_id, week).await?
                    {
                        return Ok(EntryWrite::WeekLocked(locked));
                    }
                    if attempt >= MAX_ATTEMPTS {
                        return Err(Failure::Transient(err.to_string()).into());
                    }
                }
                _ => match db_err(err) {
                    Failure::Transient(_) if attempt < MAX_ATTEMPTS => {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            5 * u64::from(attempt),
                        ))
                        .await;
                    }
                    err => return Err(err.into()),
                },
            }
        }
    }

    async fn time_entry(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<TimeEntryDoc>> {
        Ok(self
            .time_entries()
            .find_one(doc! { "_id": id, "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)?)
    }

    async fn list_time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TimeEntryDoc>> {
        let mut query = time_entry_query(tenant, filter);
        let sort = keyset(&mut query, page);
        Ok(self
            .find_in(self.time_entries(), query, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn timesheets_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<Vec<TimesheetDoc>> {
        Ok(self
            .find_in(
                self.timesheets(),
                doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn list_timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<TimesheetDoc>> {
        let mut query = timesheet_query(tenant, filter)?;
        let sort = keyset(&mut query, page);
        Ok(self
            .find_in(self.timesheets(), query, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn entries_of_weeks(
        &self,
        tenant: &TenantId,
        weeks: &[(String, IsoWeek)],
    ) -> ApiResult<Vec<TimeEntryDoc>> {
        if weeks.is_empty() {
            return Ok(Vec::new());
        }
        let entries = self
            .find_in(
                self.time_entries(),
                weeks_query(tenant, weeks),
                doc! { "started_at": 1 },
                0,
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter(|e| {
                let week = IsoWeek::of_time(e.started_at);
                weeks
                    .iter()
                    .any(|(user, w)| *user == e.user_id && *w == week)
            })
            .collect())
    }

    async fn save_timesheet(
        &self,
        tenant: &TenantId,
        timesheet: &TimesheetDoc,
        expected_rev: Option<i64>,
        event: Option<&EventEnvelope>,
    ) -> ApiResult<Guarded<()>> {
        guarded(in_transaction!(self, session, {
            self.guard_timesheet(&mut session, tenant, timesheet, expected_rev)
                .await?;
            if let Some(event) = event {
                self.enqueue(&mut session, event).await?;
            }
            Ok(())
        }))
    }

    async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        weeks: &[WeekGuard],
        audit: &TimeEntryEditDoc,
        event: &EventEnvelope,
    ) -> ApiResult<Guarded<()>> {
        guarded(in_transaction!(self, session, {
            for week in weeks {
                let mut bumped = week.timesheet.clone();
                bumped.rev += 1;
                let expected = week.exists.then_some(week.timesheet.rev);
                self.guard_timesheet(&mut session, tenant, &bumped, expected)
                    .await?;
            }
            let replaced = self
                .time_entries()
                .replace_one(
                    doc! { "_id": &entry.id, "tenant_id": tenant.as_str() },
                    entry,
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            if replaced.matched_count == 0 {
                return Err(Failure::Stale);
            }
            self.entry_edits_coll()
                .insert_one(audit)
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.enqueue(&mut session, event).await
        }))
    }

    async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> ApiResult<Vec<TimeEntryEditDoc>> {
        Ok(self
            .find_in(
                self.entry_edits_coll(),
                of_parents(tenant, "entry_id", entry_ids),
                doc! { "_id": 1 },
                0,
            )
            .await?)
    }

    async fn import_tasks(
        &self,
        tenant: &TenantId,
        tasks: &[TaskDoc],
        boards: &[Expected],
    ) -> ApiResult<HistoryWrite> {
        if tasks.is_empty() {
            return Ok(HistoryWrite::Imported(Imported::default()));
        }
        // One transaction per batch: all of it or nothing. Stored ids are looked up only once
        // an insert met one (a repeated or resumed import), so a fresh import pays no lookup.
        // (Inside a transaction `ordered: false` buys nothing: the first failed write aborts it.)
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        let mut look_up_stored = false;
        let outcome = in_transaction!(self, session, {
            let stored = match look_up_stored {
                true => {
                    self.field_by_id(Some(&mut session), None, TASKS, &ids, "tenant_id")
                        .await?
                }
                false => HashMap::new(),
            };
            let new = match Self::new_in_batch(tenant, tasks, |t| &t.id, &stored) {
                Ok(new) => new,
                Err(taken) => return Ok(HistoryWrite::Taken(taken)),
            };
            if !new.is_empty() {
                let inserted = self
                    .tasks()
                    .insert_many(new.iter().copied())
                    .session(&mut session)
                    .await;
                if let Err(err) = inserted {
                    look_up_stored |= is_duplicate_key(&err);
                    return Err(concurrent_insert(err));
                }
                for board in boards {
                    self.bump(&mut session, BOARDS, tenant, board).await?;
                }
            }
            Ok(HistoryWrite::Imported(Imported {
                inserted: new.len(),
                existing: tasks.len() - new.len(),
            }))
        });
        match outcome {
            Err(Failure::Stale) => Ok(HistoryWrite::Stale),
            outcome => Ok(outcome?),
        }
    }

    async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> ApiResult<HistoryWrite> {
        if entries.is_empty() {
            return Ok(HistoryWrite::Imported(Imported::default()));
        }
        // One transaction per batch, as for tasks: the new entries and the touches of their
        // weeks commit together, so a submission that read a week before collides with it.
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let mut look_up_stored = false;
        let outcome = in_transaction!(self, session, {
            let stored = match look_up_stored {
                true => {
                    self.field_by_id(Some(&mut session), None, TIME_ENTRIES, &ids, "tenant_id")
                        .await?
                }
                false => HashMap::new(),
            };
            let new = match Self::new_in_batch(tenant, entries, |e| &e.id, &stored) {
                Ok(new) => new,
                Err(taken) => return Ok(HistoryWrite::Taken(taken)),
            };
            if !new.is_empty() {
                let inserted = self
                    .time_entries()
                    .insert_many(new.iter().copied())
                    .session(&mut session)
                    .await;
                if let Err(err) = inserted {
                    look_up_stored |= is_duplicate_key(&err);
                    return Err(concurrent_insert(err));
                }
                let weeks: Vec<(String, IsoWeek)> = new
                    .iter()
                    .map(|e| (e.user_id.clone(), IsoWeek::of_time(e.started_at)))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let touches = weeks
                    .iter()
                    .map(|(user_id, week)| Ok(touch_week(&self.db, tenant, user_id, *week)?.into()))
                    .collect::<Tx<Vec<WriteModel>>>()?;
                if let Err(err) = self
                    .client
                    .bulk_write(touches)
                    .ordered(false)
                    .session(&mut session)
                    .await
                {
                    return Err(match refused_write(&err) {
                        Some((index, DUPLICATE_KEY)) => {
                            // The transaction is over: read the week outside it. Locked: the
                            // batch is refused; otherwise a concurrent first touch, retried.
                            let (user_id, week) = weeks.get(index).ok_or_else(|| {
                                bson_err("a refused touch of a week the batch does not have")
                            })?;
                            match locked_state(&self.db, tenant, user_id, *week).await? {
                                Some(state) => Failure::WeekLocked {
                                    user_id: user_id.clone(),
                                    week: *week,
                                    state,
                                },
                                None => Failure::Transient(err.to_string()),
                            }
                        }
                        _ => db_err(err),
                    });
                }
            }
            Ok(HistoryWrite::Imported(Imported {
                inserted: new.len(),
                existing: entries.len() - new.len(),
            }))
        });
        match outcome {
            Err(Failure::WeekLocked {
                user_id,
                week,
                state,
            }) => Ok(HistoryWrite::WeekLocked {
                user_id,
                week,
                state,
            }),
            outcome => Ok(outcome?),
        }
    }

    async fn first_taken(
        &self,
        tenant: &TenantId,
        kind: History,
        ids: &[String],
    ) -> ApiResult<Option<String>> {
        let collection = match kind {
            History::Tasks => TASKS,
            History::TimeEntries => TIME_ENTRIES,
        };
        let owners = self
            .field_by_id(None, None, collection, ids, "tenant_id")
            .await?;
        Ok(ids
            .iter()
            .find(|id| {
                owners
                    .get(*id)
                    .is_some_and(|owner| owner != tenant.as_str())
            })
            .cloned())
    }

    async fn handled(&self, group: &str, event_id: &str) -> ApiResult<bool> {
        let key = InboxDoc::key(group, event_id);
        if self
            .inbox()
            .find_one(doc! { "_id": &key })
            .await
            .map_err(db_err)?
            .is_some()
        {
            return Ok(true);
        }
        Ok(self
            .dead_letters()
            .find_one(doc! { "_id": &key })
            .await
            .map_err(db_err)?
            .is_some())
    }

    async fn record_handled(
        &self,
        handled: &InboxDoc,
        effect: Option<&CrmEffect>,
    ) -> ApiResult<bool> {
        Ok(in_transaction!(self, session, {
            // Read first: a failed insert would end the transaction. A concurrent record of
            // the same event collides on `_id` and the whole transaction is tried again.
            if self
                .inbox()
                .find_one(doc! { "_id": &handled.id })
                .session(&mut session)
                .await
                .map_err(db_err)?
                .is_some()
            {
                return Ok(false);
            }
            self.inbox()
                .insert_one(handled)
                .session(&mut session)
                .await
                .map_err(concurrent_insert)?;
            match effect {
                None => {}
                Some(CrmEffect::Project { project, event }) => {
                    let exists = self
                        .projects()
                        .find_one(doc! { "_id": &project.id })
                        .session(&mut session)
                        .await
                        .map_err(db_err)?
                        .is_some();
                    if !exists {
                        self.projects()
                            .insert_one(project.as_ref())
                            .session(&mut session)
                            .await
                            .map_err(concurrent_insert)?;
                        self.enqueue(&mut session, event).await?;
                    }
                }
                Some(CrmEffect::LinkClient {
                    tenant,
                    client_id,
                    name,
                }) => {
                    self.projects()
                        .update_many(
                            unlinked_projects_query(tenant, name),
                            doc! { "$set": { "client_id": client_id } },
                        )
                        .session(&mut session)
                        .await
                        .map_err(db_err)?;
                }
                Some(CrmEffect::RenameClient {
                    tenant,
                    client_id,
                    name,
                }) => {
                    self.projects()
                        .update_many(
                            doc! { "tenant_id": tenant.as_str(), "client_id": client_id },
                            doc! { "$set": { "client": name } },
                        )
                        .session(&mut session)
                        .await
                        .map_err(db_err)?;
                }
                Some(CrmEffect::MergeClient {
                    tenant,
                    merge_id,
                    from,
                    into,
                    name,
                }) => {
                    // Each project remembers its client before (`merged_from`), for an undo:
                    // one update per project, since the typed name differs per project.
                    let moving = self
                        .all_of(
                            Some(&mut session),
                            self.projects(),
                            doc! { "tenant_id": tenant.as_str(), "client_id": from },
                            None,
                        )
                        .await?;
                    for project in moving {
                        let before = MergedFrom {
                            merge_id: merge_id.clone(),
                            client_id: from.clone(),
                            client: project.client.clone(),
                        };
                        let mut set = doc! {
                            "client_id": into,
                            "merged_from": to_bson(&before).map_err(ApiError::internal)?,
                        };
                        if let Some(name) = name {
                            set.insert("client", name);
                        }
                        self.projects()
                            .update_one(
                                doc! { "_id": &project.id, "tenant_id": tenant.as_str() },
                                doc! { "$set": set },
                            )
                            .session(&mut session)
                            .await
                            .map_err(db_err)?;
                    }
                }
                Some(CrmEffect::UnmergeClient { tenant, merge_id }) => {
                    let moved = self
                        .all_of(
                            Some(&mut session),
                            self.projects(),
                            doc! { "tenant_id": tenant.as_str(), "merged_from.merge_id": merge_id },
                            None,
                        )
                        .await?;
                    for project in moved {
                        let Some(before) = project.merged_from else {
                            continue;
                        };
                        let client = match before.client {
                            Some(name) => Bson::String(name),
                            None => Bson::Null,
                        };
                        self.projects()
                            .update_one(
                                doc! { "_id": &project.id, "tenant_id": tenant.as_str() },
                                doc! {
                                    "$set": { "client_id": before.client_id, "client": client },
                                    "$unset": { "merged_from": "" },
                                },
                            )
                            .session(&mut session)
                            .await
                            .map_err(db_err)?;
                    }
                }
            }
            Ok(true)
        })?)
    }

    async fn dead_letter(&self, letter: &DeadLetterDoc) -> ApiResult<bool> {
        match self.dead_letters().insert_one(letter).await {
            Ok(_) => Ok(true),
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(db_err(err).into()),
        }
    }

    async fn client_projects(
        &self,
        tenant: &TenantId,
        client_id: &str,
        member: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        let mut filter = client_projects_query(tenant, client_id, member);
        let sort = keyset(&mut filter, page);
        Ok(self
            .find_in(self.projects(), filter, sort, page.limit as i64 + 1)
            .await?)
    }

    async fn pending_events(&self, limit: u64) -> ApiResult<Vec<PendingEvent>> {
        let docs = self
            .find_in(
                self.outbox(),
                pending_query(),
                doc! { "_id": 1 },
                limit as i64,
            )
            .await?;
        Ok(docs
            .into_iter()
            .map(|d| PendingEvent {
                id: d.id,
                topic: d.topic,
                envelope: d.envelope,
                attempts: d.attempts,
                next_attempt_at: d.next_attempt_at,
            })
            .collect())
    }

    async fn mark_published(&self, ids: &[String]) -> ApiResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.outbox()
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "published_at": chrono::Utc::now().timestamp_millis(), "last_error": null } },
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_published(&self, before_ms: i64) -> ApiResult<()> {
        self.outbox()
            .delete_many(doc! { "published_at": { "$lt": before_ms } })
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> ApiResult<()> {
        self.outbox()
            .update_one(
                doc! { "_id": id },
                doc! {
                    "$inc": { "attempts": 1 },
                    "$set": { "last_error": error, "next_attempt_at": next_attempt_at },
                },
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn lease_relay(&self, owner: &str, until_ms: i64, now_ms: i64) -> ApiResult<bool> {
        let leases = self.db.collection::<Document>(LEASES);
        let taken = leases
            .update_one(
                doc! {
                    "_id": "outbox-relay",
                    "$or": [ { "owner": owner }, { "until": { "$lt": now_ms } } ],
                },
                doc! { "$set": { "owner": owner, "until": until_ms } },
            )
            .await
            .map_err(db_err)?;
        if taken.matched_count > 0 {
            return Ok(true);
        }
        // No lease document yet, or another relay holds it.
        match leases
            .insert_one(doc! { "_id": "outbox-relay", "owner": owner, "until": until_ms })
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(db_err(err).into()),
        }
    }

    async fn ping(&self) -> Result<(), String> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| format!("mongodb: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The equality fields of each branch of `query` (one branch without `$or`); a field
    /// compared by range (`$gte`...) is left out, as the index's sort field serves it.
    fn branches(query: &Document) -> Vec<Vec<String>> {
        let equalities = |doc: &Document| -> Vec<String> {
            doc.iter()
                .filter(|(key, value)| {
                    !key.starts_with('$')
                        && !matches!(value, mongodb::bson::Bson::Document(d)
                            if d.keys().any(|op| op != "$in"))
                })
                .map(|(key, _)| key.clone())
                .collect()
        };
        let top = equalities(query);
        match query.get_array("$or") {
            Ok(branches) => branches
                .iter()
                .filter_map(|b| b.as_document())
                .map(|b| top.iter().cloned().chain(equalities(b)).collect())
                .collect(),
            Err(_) => vec![top],
        }
    }

    /// Whether an index of `collection` serves `query` sorted by `sort` without scanning the
    /// tenant or sorting in memory: its keys are equality fields of the query (beyond the tenant
    /// when the query has more) and then `sort`.
    fn served(collection: &str, query: &Document, sort: &str) -> bool {
        let indexes: Vec<Document> = indexes()
            .into_iter()
            .filter(|(name, _)| *name == collection)
            .flat_map(|(_, keys)| keys)
            .collect();
        branches(query).iter().all(|fields| {
            indexes.iter().any(|index| {
                let keys: Vec<&str> = index.keys().map(String::as_str).collect();
                let Some(at) = keys.iter().position(|k| *k == sort) else {
                    return false;
                };
                let prefix = &keys[..at];
                !prefix.is_empty()
                    && prefix.iter().all(|k| fields.iter().any(|f| f == k))
                    && (fields.len() < 2 || prefix.len() >= 2)
            })
        })
    }

    #[test]
    fn every_query_has_an_index() {
        let tenant = TenantId::from_claim("tnt_a");
        let id = |s: &str| Some(s.to_owned());
        // Every combination of the task list's filters.
        for bits in 0u32..96 {
            let filter = TaskFilter {
                project_id: (bits & 1 != 0).then(|| "p".to_owned()),
                project_ids: None,
                assignee_id: (bits & 2 != 0).then(|| "e".to_owned()),
                status: (bits & 4 != 0).then_some(TaskStatus::Done),
                label: (bits & 8 != 0).then(|| "bug".to_owned()),
                parent_id: (bits & 16 != 0).then(|| "t".to_owned()),
                sprint_id: (bits / 32 == 1).then(|| "s".to_owned()),
                backlog: bits / 32 == 2,
            };
            let query = task_query(&tenant, &filter).unwrap();
            assert!(served(TASKS, &query, "_id"), "tasks: {query}");
        }
        // The time-entry list always names the person (the caller by default).
        for project_id in [None, id("p")] {
            let filter = TimeEntryFilter {
                user_id: id("u"),
                project_id,
            };
            let query = time_entry_query(&tenant, &filter);
            assert!(served(TIME_ENTRIES, &query, "_id"), "time entries: {query}");
        }
        for user_id in [None, id("u")] {
            for state in [None, Some(TimesheetState::Submitted)] {
                let filter = TimesheetFilter {
                    user_id: user_id.clone(),
                    state,
                };
                let query = timesheet_query(&tenant, &filter).unwrap();
                assert!(served(TIMESHEETS, &query, "_id"), "timesheets: {query}");
            }
        }
        assert!(
            served(PROJECTS, &client_projects_query(&tenant, "c", "u"), "_id"),
            "a client's projects"
        );
        assert!(
            served(PROJECTS, &unlinked_projects_query(&tenant, "Globex"), "_id"),
            "projects to link"
        );
        for state in [None, Some(SprintState::Active)] {
            let query = sprint_query(&tenant, "p", state).unwrap();
            assert!(served(SPRINTS, &query, "_id"), "sprints: {query}");
        }
        // The facts the transaction scripts read.
        for (name, query) in [
            ("open subtasks", open_subtasks_query(&tenant, "t").unwrap()),
            ("dependencies", dependencies_query(&tenant, "p")),
            ("sprint tasks", sprint_tasks_query(&tenant, "p", "s")),
        ] {
            assert!(served(TASKS, &query, "_id"), "{name}: {query}");
        }
        let week = IsoWeek::parse("week", "2026-W02").unwrap();
        let weeks = weeks_query(&tenant, &[("u".into(), week), ("v".into(), week)]);
        assert!(served(TIME_ENTRIES, &weeks, "started_at"), "weeks: {weeks}");
        let ids = ["a".to_owned()];
        for (collection, query) in [
            (PROJECTS, doc! { "tenant_id": tenant.as_str() }),
            (BOARDS, of_parents(&tenant, "project_id", &ids)),
            (ENTRY_EDITS, of_parents(&tenant, "entry_id", &ids)),
            (COMMENTS, comments_query(&tenant, "t")),
            (OUTBOX, pending_query()),
        ] {
            assert!(served(collection, &query, "_id"), "{collection}: {query}");
        }
        // The check itself refuses a query no index serves in order.
        assert!(!served(
            TASKS,
            &doc! { "tenant_id": "t", "title": "x" },
            "_id"
        ));
        assert!(!served(
            BOARDS,
            &doc! { "tenant_id": "t", "name": "x" },
            "_id"
        ));
    }
}
