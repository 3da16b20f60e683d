//! The PMO store on MongoDB (the `mongodb` 3.x driver). Changes and their events are written in
//! one multi-document transaction; transactions that collide are retried.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use mongodb::bson::{doc, to_bson, Document};
use mongodb::error::{
    Error as MongoError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ReturnDocument, WriteModel};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};

use erp_kit::events::EventEnvelope;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, TenantId};

use super::import::{self, Imported};
use super::{
    check_new_field, BoardDoc, CloseEvent, CommentDoc, CustomValue, Member, OutboxDoc,
    PendingEvent, Placement, PmoError, PmoResult, PmoStore, ProjectDoc, SprintDoc, TaskDoc,
    TaskFilter, TimeEntryDoc, TimeEntryEditDoc, TimeEntryFilter, TimesheetDoc, TimesheetFilter,
    WeekGuard,
};
use crate::domain::custom_field::FieldDefinition;
use crate::domain::sprint::{
    check_can_close, check_can_plan, check_can_start, check_carry_over_target, split_at_close,
    SprintState,
};
use crate::domain::timesheet::{IsoWeek, TimesheetState};
use crate::domain::tracking::check_week_open;
use crate::domain::{check_dependency, check_parent_done, check_wip, TaskStatus};

const PROJECTS: &str = "pmo_projects";
const BOARDS: &str = "pmo_boards";
const TASKS: &str = "pmo_tasks";
const TIME_ENTRIES: &str = "pmo_time_entries";
const SPRINTS: &str = "pmo_sprints";
const COMMENTS: &str = "pmo_comments";
const TIMESHEETS: &str = "pmo_timesheets";
const ENTRY_EDITS: &str = "pmo_time_entry_edits";
const OUTBOX: &str = "pmo_outbox";
const LEASES: &str = "pmo_leases";
/// Ids per `$in` lookup of an import. A real MongoDB serves a long `$in` on `_id` as point
/// lookups, but the stand-in server of the tests (SecantusDB) matches every candidate against
/// the whole list, so 2,000 ids cost it seconds (quadratic); chunks of 100 keep it linear at a
/// round trip per 100 ids on a real server.
const IN_CHUNK: usize = 100;
/// How often a collided transaction is tried before the caller gets CONFLICT.
const MAX_ATTEMPTS: u32 = 5;

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

fn db_err(err: MongoError) -> PmoError {
    if err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        PmoError::Transient(err.to_string())
    } else {
        PmoError::Api(ApiError::internal(format!("mongodb: {err}")))
    }
}

/// An insert of ids read as absent in the same transaction that still collides: a concurrent
/// import wrote them meanwhile; the retry reads them as stored.
fn concurrent_insert(err: MongoError) -> PmoError {
    if is_duplicate_key(&err) {
        PmoError::Transient(err.to_string())
    } else {
        db_err(err)
    }
}

fn bson_err(err: impl std::fmt::Display) -> PmoError {
    PmoError::Api(ApiError::internal(format!("bson: {err}")))
}

fn status_value(status: TaskStatus) -> PmoResult<mongodb::bson::Bson> {
    to_bson(&status).map_err(bson_err)
}

fn sprint_state_value(state: SprintState) -> PmoResult<mongodb::bson::Bson> {
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

/// Runs `$body` in a transaction on a fresh session named `$session`, retrying collisions.
macro_rules! in_transaction {
    ($store:expr, $session:ident, $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut $session = $store.client.start_session().await.map_err(db_err)?;
            $session.start_transaction().await.map_err(db_err)?;
            let outcome: PmoResult<_> = async { $body }.await;
            match outcome {
                Ok(value) => match commit(&mut $session).await {
                    Ok(()) => break Ok(value),
                    Err(PmoError::Transient(_)) if attempt < MAX_ATTEMPTS => continue,
                    Err(err) => break Err(collided(err)),
                },
                Err(err) => {
                    let _ = $session.abort_transaction().await;
                    match err {
                        PmoError::Transient(_) if attempt < MAX_ATTEMPTS => {
                            tokio::time::sleep(std::time::Duration::from_millis(
                                5 * u64::from(attempt),
                            ))
                            .await;
                            continue;
                        }
                        err => break Err(collided(err)),
                    }
                }
            }
        }
    }};
}

async fn commit(session: &mut ClientSession) -> PmoResult<()> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(err) if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
            Err(err) => return Err(db_err(err)),
        }
    }
}

/// A collision that outlived its retries is the caller's CONFLICT.
fn collided(err: PmoError) -> PmoError {
    match err {
        PmoError::Transient(detail) => {
            tracing::warn!(error = %detail, "transaction kept colliding");
            PmoError::Api(ApiError::Conflict(
                "the change collided with a concurrent one; retry".into(),
            ))
        }
        other => other,
    }
}

/// The indexes of each collection: one for every filter and sort the store queries with (the
/// Relay connections sort by `_id`, so their indexes end with it). `tests::every_query_has_an_index`
/// checks each query the store builds against this list.
pub fn indexes() -> Vec<(&'static str, Vec<Document>)> {
    vec![
        (PROJECTS, vec![doc! { "tenant_id": 1, "_id": 1 }]),
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
    ]
}

/// The filter of a task list.
fn task_query(tenant: &TenantId, filter: &TaskFilter) -> PmoResult<Document> {
    let mut query = doc! { "tenant_id": tenant.as_str() };
    if let Some(project_id) = &filter.project_id {
        query.insert("project_id", project_id.as_str());
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
fn timesheet_query(tenant: &TenantId, filter: &TimesheetFilter) -> PmoResult<Document> {
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
fn sprint_query(
    tenant: &TenantId,
    project_id: &str,
    state: Option<SprintState>,
) -> PmoResult<Document> {
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

/// What a bulk write refused first: the index of the operation and the server's error code.
fn refused_write(err: &MongoError) -> Option<(usize, i32)> {
    match &*err.kind {
        ErrorKind::BulkWrite(failure) => failure
            .write_errors
            .iter()
            .map(|(index, error)| (*index, error.code))
            .min(),
        _ => None,
    }
}

const DUPLICATE_KEY: i32 = 11000;

/// Sees every command a [`MongoStore`] sends (its name and collection, empty when it names
/// none): for metrics, or to pin how many round trips a use case costs.
pub type CommandObserver = std::sync::Arc<dyn Fn(&str, &str) + Send + Sync>;

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
}

impl MongoStore {
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

    /// Timer starts and stops are one `bulkWrite` command each (MongoDB 8.0): refuse an older
    /// server at start rather than at the first timer.
    async fn check_server_version(&self) -> PmoResult<()> {
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

    /// The write that adds time to a person's week: bumps the revision of its timesheet (a
    /// draft inserted when absent), matching only while the week is open, so on a locked week
    /// the upsert collides with the stored document (duplicate key) and writes nothing.
    fn touch_week(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> PmoResult<mongodb::options::UpdateOneModel> {
        let draft = TimesheetDoc::draft(tenant, user_id, week);
        let mut on_insert = mongodb::bson::to_document(&draft).map_err(bson_err)?;
        for set_by_the_filter_or_inc in ["_id", "tenant_id", "rev"] {
            on_insert.remove(set_by_the_filter_or_inc);
        }
        let locked = TimesheetState::LOCKED
            .iter()
            .map(|state| to_bson(state).map_err(bson_err))
            .collect::<PmoResult<Vec<_>>>()?;
        Ok(mongodb::options::UpdateOneModel::builder()
            .namespace(self.timesheets().namespace())
            .filter(doc! {
                "_id": &draft.id,
                "tenant_id": tenant.as_str(),
                "state": { "$nin": locked },
            })
            .update(doc! { "$inc": { "rev": 1 }, "$setOnInsert": on_insert })
            .upsert(true)
            .build())
    }

    /// After a touch of the week collided: TIMESHEET_LOCKED when the week is locked; otherwise
    /// a concurrent first touch inserted the document, and the write is tried again.
    async fn locked_or_retry(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
    ) -> PmoResult<()> {
        let key = TimesheetDoc::key(tenant, user_id, week);
        if let Some(sheet) = self
            .timesheets()
            .find_one(doc! { "_id": &key, "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)?
        {
            check_week_open(week, sheet.state)?;
        }
        Ok(())
    }

    /// A store on a named database of an existing client (tests use one database each).
    pub fn with_database(client: Client, name: &str) -> Self {
        let db = client.database(name);
        Self { client, db }
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

    async fn enqueue(&self, session: &mut ClientSession, event: &EventEnvelope) -> PmoResult<()> {
        self.outbox()
            .insert_one(OutboxDoc::new(event)?)
            .session(session)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn find_in<T>(
        &self,
        collection: Collection<T>,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> PmoResult<Vec<T>>
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
    ) -> PmoResult<Vec<Vec<T>>>
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
    /// session's transaction; CONFLICT otherwise.
    async fn guard_timesheet(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        timesheet: &TimesheetDoc,
        expected_rev: Option<i64>,
    ) -> PmoResult<()> {
        let changed = || {
            PmoError::Api(ApiError::Conflict(
                "the timesheet changed meanwhile; reload and retry".into(),
            ))
        };
        match expected_rev {
            None => match self
                .timesheets()
                .insert_one(timesheet)
                .session(&mut *session)
                .await
            {
                Ok(_) => Ok(()),
                Err(err) if is_duplicate_key(&err) => Err(changed()),
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
                    return Err(changed());
                }
                Ok(())
            }
        }
    }

    /// The tasks matching `filter`, read inside the session's transaction.
    async fn find_in_session(
        &self,
        session: &mut ClientSession,
        filter: Document,
    ) -> PmoResult<Vec<TaskDoc>> {
        self.all_in_session(session, self.tasks(), filter, None)
            .await
    }

    /// Every document of `collection` matching `filter` (by `_id`, only the `projection`'s
    /// fields when given), read inside the session's transaction.
    async fn all_in_session<T>(
        &self,
        session: &mut ClientSession,
        collection: Collection<T>,
        filter: Document,
        projection: Option<Document>,
    ) -> PmoResult<Vec<T>>
    where
        T: serde::de::DeserializeOwned + Send + Sync + Unpin,
    {
        let mut find = collection.find(filter).sort(doc! { "_id": 1 });
        if let Some(projection) = projection {
            find = find.projection(projection);
        }
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
    /// when None), by id. The ids go in chunks of [`IN_CHUNK`].
    async fn field_by_id<S: AsRef<str>>(
        &self,
        session: &mut ClientSession,
        tenant: Option<&TenantId>,
        collection: &str,
        ids: &[S],
        field: &str,
    ) -> PmoResult<HashMap<String, String>> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let chunk: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
            let mut filter = doc! { "_id": { "$in": chunk } };
            if let Some(tenant) = tenant {
                filter.insert("tenant_id", tenant.as_str());
            }
            let docs = self
                .all_in_session(
                    session,
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

    /// Bumps a sprint of the project that tasks may join or leave (not closed), so a concurrent
    /// close collides with the planning change instead of missing it.
    async fn touch_open_sprint(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        project_id: &str,
        sprint_id: &str,
    ) -> PmoResult<SprintDoc> {
        let sprint = self
            .sprints()
            .find_one_and_update(
                doc! { "_id": sprint_id, "tenant_id": tenant.as_str(), "project_id": project_id },
                doc! { "$inc": { "rev": 1 } },
            )
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                ApiError::bad_input("sprintId", "no such sprint in the task's project")
            })?;
        check_can_plan(sprint.state)?;
        Ok(sprint)
    }

    /// Counts the column's tasks after bumping the board's revision, so concurrent moves into
    /// the board collide (and are retried) instead of both passing the WIP check.
    async fn guard_wip(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        to: &Placement,
    ) -> PmoResult<()> {
        self.bump_board(session, tenant, &to.board_id).await?;
        if to.wip_limit.is_some() {
            let current = self
                .column_count(session, tenant, &to.board_id, &to.column_id)
                .await?;
            check_wip(&to.column_name, to.wip_limit, current)?;
        }
        Ok(())
    }

    /// Bumps a board's revision inside the session's transaction (NOT_FOUND when the tenant has
    /// no such board).
    async fn bump_board(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        board_id: &str,
    ) -> PmoResult<()> {
        let bumped = self
            .boards()
            .update_one(
                doc! { "_id": board_id, "tenant_id": tenant.as_str() },
                doc! { "$inc": { "rev": 1 } },
            )
            .session(&mut *session)
            .await
            .map_err(db_err)?;
        if bumped.matched_count == 0 {
            return Err(ApiError::NotFound("board".into()).into());
        }
        Ok(())
    }

    /// The tasks in a board's column, counted inside the session's transaction.
    async fn column_count(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        board_id: &str,
        column_id: &str,
    ) -> PmoResult<u64> {
        self.tasks()
            .count_documents(doc! {
                "tenant_id": tenant.as_str(),
                "board_id": board_id,
                "column_id": column_id,
            })
            .session(&mut *session)
            .await
            .map_err(db_err)
    }
}

#[async_trait::async_trait]
impl PmoStore for MongoStore {
    async fn prepare(&self) -> PmoResult<()> {
        self.check_server_version().await?;
        for (collection, keys) in indexes() {
            // Transactions cannot create collections on every server: create them up front.
            if let Err(err) = self.db.create_collection(collection).await {
                // 48: NamespaceExists.
                if !matches!(&*err.kind, ErrorKind::Command(e) if e.code == 48) {
                    return Err(db_err(err));
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
    ) -> PmoResult<()> {
        in_transaction!(self, session, {
            self.projects()
                .insert_one(project)
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.enqueue(&mut session, event).await
        })
    }

    async fn projects_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<ProjectDoc>> {
        self.find_in(
            self.projects(),
            doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn list_projects(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> PmoResult<Vec<ProjectDoc>> {
        let mut filter = doc! { "tenant_id": tenant.as_str() };
        let sort = keyset(&mut filter, page);
        self.find_in(self.projects(), filter, sort, page.limit as i64 + 1)
            .await
    }

    async fn put_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        member: &Member,
    ) -> PmoResult<Option<ProjectDoc>> {
        let member_bson = to_bson(member).map_err(bson_err)?;
        in_transaction!(self, session, {
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
        })
    }

    async fn remove_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> PmoResult<Option<ProjectDoc>> {
        self.projects()
            .find_one_and_update(
                doc! { "_id": project_id, "tenant_id": tenant.as_str() },
                doc! { "$pull": { "members": { "user_id": user_id } } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_err)
    }

    async fn insert_board(&self, _tenant: &TenantId, board: &BoardDoc) -> PmoResult<()> {
        self.boards().insert_one(board).await.map_err(db_err)?;
        Ok(())
    }

    async fn boards_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<BoardDoc>> {
        self.find_in(
            self.boards(),
            doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn boards_of_projects(
        &self,
        tenant: &TenantId,
        project_ids: &[String],
    ) -> PmoResult<Vec<BoardDoc>> {
        self.find_in(
            self.boards(),
            of_parents(tenant, "project_id", project_ids),
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn insert_task(
        &self,
        tenant: &TenantId,
        task: &TaskDoc,
        placement: Option<&Placement>,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        in_transaction!(self, session, {
            if let Some(to) = placement {
                self.guard_wip(&mut session, tenant, to).await?;
            }
            if let Some(sprint_id) = &task.sprint_id {
                self.touch_open_sprint(&mut session, tenant, &task.project_id, sprint_id)
                    .await?;
            }
            self.tasks()
                .insert_one(task)
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.enqueue(&mut session, event).await
        })
    }

    async fn move_task(
        &self,
        tenant: &TenantId,
        task_id: &str,
        from_column: Option<&str>,
        to: &Placement,
        event: &EventEnvelope,
    ) -> PmoResult<TaskDoc> {
        let status = status_value(to.status)?;
        let done = status_value(TaskStatus::Done)?;
        in_transaction!(self, session, {
            self.guard_wip(&mut session, tenant, to).await?;
            if to.status == TaskStatus::Done {
                let open = self
                    .tasks()
                    .count_documents(doc! {
                        "tenant_id": tenant.as_str(),
                        "parent_id": task_id,
                        "status": { "$ne": done.clone() },
                    })
                    .session(&mut session)
                    .await
                    .map_err(db_err)?;
                check_parent_done(to.status, open)?;
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
                .ok_or_else(|| {
                    ApiError::Conflict("the task was moved meanwhile; reload and retry".into())
                })?;
            self.enqueue(&mut session, event).await?;
            Ok(moved)
        })
    }

    async fn tasks_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<TaskDoc>> {
        self.find_in(
            self.tasks(),
            doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn task_and_project(
        &self,
        tenant: &TenantId,
        task_id: &str,
    ) -> PmoResult<Option<(TaskDoc, Option<ProjectDoc>)>> {
        let pipeline = [
            doc! { "$match": { "_id": task_id, "tenant_id": tenant.as_str() } },
            doc! { "$limit": 1 },
            doc! { "$lookup": {
                "from": PROJECTS,
                "localField": "project_id",
                "foreignField": "_id",
                "as": "projects",
            } },
        ];
        let mut cursor = self
            .db
            .collection::<Document>(TASKS)
            .aggregate(pipeline)
            .await
            .map_err(db_err)?;
        let Some(mut row) = cursor.try_next().await.map_err(db_err)? else {
            return Ok(None);
        };
        let projects = match row.remove("projects") {
            Some(mongodb::bson::Bson::Array(projects)) => projects,
            _ => Vec::new(),
        };
        let task: TaskDoc = mongodb::bson::from_document(row).map_err(bson_err)?;
        let mut project = None;
        for candidate in projects {
            let mongodb::bson::Bson::Document(candidate) = candidate else {
                continue;
            };
            let candidate: ProjectDoc =
                mongodb::bson::from_document(candidate).map_err(bson_err)?;
            if candidate.tenant_id == tenant.as_str() {
                project = Some(candidate);
            }
        }
        Ok(Some((task, project)))
    }

    async fn list_tasks(
        &self,
        tenant: &TenantId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TaskDoc>> {
        let mut query = task_query(tenant, filter)?;
        let sort = keyset(&mut query, page);
        self.find_in(self.tasks(), query, sort, page.limit as i64 + 1)
            .await
    }

    async fn task_pages(
        &self,
        tenant: &TenantId,
        lists: &[(TaskFilter, PageRequest)],
    ) -> PmoResult<Vec<Vec<TaskDoc>>> {
        let mut branches = Vec::with_capacity(lists.len());
        for (filter, page) in lists {
            let mut query = task_query(tenant, filter)?;
            let sort = keyset(&mut query, page);
            branches.push((query, sort, page.limit as i64 + 1));
        }
        self.pages_in(self.tasks(), branches).await
    }

    async fn add_dependency(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        blocker_id: &str,
    ) -> PmoResult<TaskDoc> {
        in_transaction!(self, session, {
            // Serialises dependency changes of the project: two edges added at once cannot
            // close a cycle that neither saw.
            let bumped = self
                .projects()
                .update_one(
                    doc! { "_id": project_id, "tenant_id": tenant.as_str() },
                    doc! { "$inc": { "rev": 1 } },
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            if bumped.matched_count == 0 {
                return Err(ApiError::NotFound("project".into()).into());
            }
            let mut cursor = self
                .db
                .collection::<Document>(TASKS)
                .find(doc! {
                    "tenant_id": tenant.as_str(),
                    "project_id": project_id,
                    "blocked_by.0": { "$exists": true },
                })
                .projection(doc! { "_id": 1, "blocked_by": 1 })
                .session(&mut session)
                .await
                .map_err(db_err)?;
            let mut edges: HashMap<String, Vec<String>> = HashMap::new();
            while let Some(row) = cursor
                .stream(&mut session)
                .try_next()
                .await
                .map_err(db_err)?
            {
                let id = row.get_str("_id").map_err(bson_err)?.to_owned();
                let blockers = row
                    .get_array("blocked_by")
                    .map_err(bson_err)?
                    .iter()
                    .filter_map(|b| b.as_str().map(str::to_owned))
                    .collect();
                edges.insert(id, blockers);
            }
            check_dependency(task_id, blocker_id, &edges)?;
            self.tasks()
                .find_one_and_update(
                    doc! { "_id": task_id, "tenant_id": tenant.as_str(), "project_id": project_id },
                    doc! {
                        "$addToSet": { "blocked_by": blocker_id },
                        "$set": { "updated_at": chrono::Utc::now().to_rfc3339() },
                    },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| PmoError::Api(ApiError::NotFound("task".into())))
        })
    }

    async fn add_custom_field(
        &self,
        tenant: &TenantId,
        project_id: &str,
        field: &FieldDefinition,
    ) -> PmoResult<Option<ProjectDoc>> {
        let field_bson = to_bson(field).map_err(bson_err)?;
        in_transaction!(self, session, {
            let filter = doc! { "_id": project_id, "tenant_id": tenant.as_str() };
            // Bumping the revision first makes concurrent definitions collide (and retry).
            let Some(project) = self
                .projects()
                .find_one_and_update(filter.clone(), doc! { "$inc": { "rev": 1 } })
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
            else {
                return Ok(None);
            };
            check_new_field(&project, field)?;
            self.projects()
                .find_one_and_update(
                    filter,
                    doc! { "$push": { "custom_fields": field_bson.clone() } },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)
        })
    }

    async fn set_custom_value(
        &self,
        tenant: &TenantId,
        task_id: &str,
        field_id: &str,
        value: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        let value_bson = value
            .map(|v| {
                to_bson(&CustomValue {
                    field_id: field_id.to_owned(),
                    value: v.to_owned(),
                })
                .map_err(bson_err)
            })
            .transpose()?;
        in_transaction!(self, session, {
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
                .map_err(db_err)?
                .ok_or_else(|| PmoError::Api(ApiError::NotFound("task".into())))
        })
    }

    async fn insert_comment(&self, _tenant: &TenantId, comment: &CommentDoc) -> PmoResult<()> {
        self.comments().insert_one(comment).await.map_err(db_err)?;
        Ok(())
    }

    async fn comment(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<CommentDoc>> {
        self.comments()
            .find_one(doc! { "_id": id, "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)
    }

    async fn edit_comment(
        &self,
        tenant: &TenantId,
        id: &str,
        author_id: &str,
        body: &str,
    ) -> PmoResult<Option<CommentDoc>> {
        self.comments()
            .find_one_and_update(
                doc! { "_id": id, "tenant_id": tenant.as_str(), "author_id": author_id },
                doc! { "$set": { "body": body, "edited_at": chrono::Utc::now().to_rfc3339() } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_err)
    }

    async fn list_comments(
        &self,
        tenant: &TenantId,
        task_id: &str,
        page: &PageRequest,
    ) -> PmoResult<Vec<CommentDoc>> {
        let mut filter = comments_query(tenant, task_id);
        let sort = keyset(&mut filter, page);
        self.find_in(self.comments(), filter, sort, page.limit as i64 + 1)
            .await
    }

    async fn comment_pages(
        &self,
        tenant: &TenantId,
        lists: &[(String, PageRequest)],
    ) -> PmoResult<Vec<Vec<CommentDoc>>> {
        let branches = lists
            .iter()
            .map(|(task_id, page)| {
                let mut query = comments_query(tenant, task_id);
                let sort = keyset(&mut query, page);
                (query, sort, page.limit as i64 + 1)
            })
            .collect();
        self.pages_in(self.comments(), branches).await
    }

    async fn insert_sprint(&self, _tenant: &TenantId, sprint: &SprintDoc) -> PmoResult<()> {
        self.sprints().insert_one(sprint).await.map_err(db_err)?;
        Ok(())
    }

    async fn sprints_by_ids(&self, tenant: &TenantId, ids: &[String]) -> PmoResult<Vec<SprintDoc>> {
        self.find_in(
            self.sprints(),
            doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn list_sprints(
        &self,
        tenant: &TenantId,
        project_id: &str,
        state: Option<SprintState>,
        page: &PageRequest,
    ) -> PmoResult<Vec<SprintDoc>> {
        let mut filter = sprint_query(tenant, project_id, state)?;
        let sort = keyset(&mut filter, page);
        self.find_in(self.sprints(), filter, sort, page.limit as i64 + 1)
            .await
    }

    async fn sprint_pages(
        &self,
        tenant: &TenantId,
        lists: &[((String, Option<SprintState>), PageRequest)],
    ) -> PmoResult<Vec<Vec<SprintDoc>>> {
        let mut branches = Vec::with_capacity(lists.len());
        for ((project_id, state), page) in lists {
            let mut query = sprint_query(tenant, project_id, *state)?;
            let sort = keyset(&mut query, page);
            branches.push((query, sort, page.limit as i64 + 1));
        }
        self.pages_in(self.sprints(), branches).await
    }

    async fn plan_task(
        &self,
        tenant: &TenantId,
        project_id: &str,
        task_id: &str,
        sprint_id: Option<&str>,
    ) -> PmoResult<TaskDoc> {
        in_transaction!(self, session, {
            let task = self
                .tasks()
                .find_one(
                    doc! { "_id": task_id, "tenant_id": tenant.as_str(), "project_id": project_id },
                )
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| PmoError::Api(ApiError::NotFound("task".into())))?;
            if let Some(current) = &task.sprint_id {
                self.touch_open_sprint(&mut session, tenant, project_id, current)
                    .await?;
            }
            if let Some(target) = sprint_id {
                self.touch_open_sprint(&mut session, tenant, project_id, target)
                    .await?;
            }
            self.tasks()
                .find_one_and_update(
                    doc! { "_id": task_id, "tenant_id": tenant.as_str() },
                    doc! { "$set": {
                        "sprint_id": sprint_id,
                        "updated_at": chrono::Utc::now().to_rfc3339(),
                    } },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| PmoError::Api(ApiError::NotFound("task".into())))
        })
    }

    async fn start_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        event: &EventEnvelope,
    ) -> PmoResult<SprintDoc> {
        let active = sprint_state_value(SprintState::Active)?;
        let planned = sprint_state_value(SprintState::Planned)?;
        in_transaction!(self, session, {
            let sprint = self
                .sprints()
                .find_one(doc! { "_id": sprint_id, "tenant_id": tenant.as_str() })
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| PmoError::Api(ApiError::NotFound("sprint".into())))?;
            // Serialises the starts of the project's sprints: two cannot both become active.
            self.projects()
                .update_one(
                    doc! { "_id": &sprint.project_id, "tenant_id": tenant.as_str() },
                    doc! { "$inc": { "rev": 1 } },
                )
                .session(&mut session)
                .await
                .map_err(db_err)?;
            let other_active = self
                .sprints()
                .count_documents(doc! {
                    "tenant_id": tenant.as_str(),
                    "project_id": &sprint.project_id,
                    "state": active.clone(),
                    "_id": { "$ne": sprint_id },
                })
                .session(&mut session)
                .await
                .map_err(db_err)?;
            check_can_start(sprint.state, other_active > 0)?;
            let started = self
                .sprints()
                .find_one_and_update(
                    doc! { "_id": sprint_id, "tenant_id": tenant.as_str(), "state": planned.clone() },
                    doc! {
                        "$set": { "state": active.clone(), "started_at": chrono::Utc::now().to_rfc3339() },
                        "$inc": { "rev": 1 },
                    },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| {
                    ApiError::Conflict("the sprint changed meanwhile; reload and retry".into())
                })?;
            self.enqueue(&mut session, event).await?;
            Ok(started)
        })
    }

    async fn close_sprint(
        &self,
        tenant: &TenantId,
        sprint_id: &str,
        carry_over_to: Option<&str>,
        event: CloseEvent<'_>,
    ) -> PmoResult<SprintDoc> {
        let active = sprint_state_value(SprintState::Active)?;
        let closed = sprint_state_value(SprintState::Closed)?;
        in_transaction!(self, session, {
            let sprint = self
                .sprints()
                .find_one(doc! { "_id": sprint_id, "tenant_id": tenant.as_str() })
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| PmoError::Api(ApiError::NotFound("sprint".into())))?;
            check_can_close(sprint.state)?;
            if let Some(target_id) = carry_over_to {
                let target = self
                    .sprints()
                    .find_one_and_update(
                        doc! { "_id": target_id, "tenant_id": tenant.as_str() },
                        doc! { "$inc": { "rev": 1 } },
                    )
                    .return_document(ReturnDocument::After)
                    .session(&mut session)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| ApiError::bad_input("carryOverTo", "no such sprint"))?;
                check_carry_over_target(
                    &sprint.id,
                    &target.id,
                    target.state,
                    target.project_id == sprint.project_id,
                )?;
            }
            let tasks: Vec<(String, TaskStatus)> = self
                .find_in_session(
                    &mut session,
                    doc! { "tenant_id": tenant.as_str(), "sprint_id": sprint_id },
                )
                .await?
                .into_iter()
                .map(|t| (t.id, t.status))
                .collect();
            let (done, open) = split_at_close(&tasks);
            let now = chrono::Utc::now();
            if !open.is_empty() {
                self.tasks()
                    .update_many(
                        doc! { "tenant_id": tenant.as_str(), "_id": { "$in": &open } },
                        doc! { "$set": { "sprint_id": carry_over_to, "updated_at": now.to_rfc3339() } },
                    )
                    .session(&mut session)
                    .await
                    .map_err(db_err)?;
            }
            let closed_sprint = self
                .sprints()
                .find_one_and_update(
                    doc! { "_id": sprint_id, "tenant_id": tenant.as_str(), "state": active.clone() },
                    doc! {
                        "$set": {
                            "state": closed.clone(),
                            "closed_at": now.to_rfc3339(),
                            "completed_task_ids": &done,
                            "carried_over_task_ids": &open,
                            "carried_over_to": carry_over_to,
                        },
                        "$inc": { "rev": 1 },
                    },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await
                .map_err(db_err)?
                .ok_or_else(|| {
                    ApiError::Conflict("the sprint changed meanwhile; reload and retry".into())
                })?;
            self.enqueue(&mut session, &event(&closed_sprint)?).await?;
            Ok(closed_sprint)
        })
    }

    async fn insert_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        event: &EventEnvelope,
    ) -> PmoResult<bool> {
        let week = IsoWeek::of_time(entry.started_at);
        // One transaction of one command (plus its commit): the entry first, so a repeated stop
        // is recognised whatever its week became, then the week's touch, then the event.
        let writes: Vec<WriteModel> = vec![
            self.time_entries()
                .insert_one_model(entry)
                .map_err(bson_err)?
                .into(),
            self.touch_week(tenant, &entry.user_id, week)?.into(),
            self.outbox()
                .insert_one_model(OutboxDoc::new(event)?)
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
                    Ok(()) => return Ok(true),
                    Err(PmoError::Transient(_)) if attempt < MAX_ATTEMPTS => continue,
                    Err(err) => return Err(collided(err)),
                },
                Err(err) => err,
            };
            // A refused write ends the transaction on the server; the abort only tidies up.
            let _ = session.abort_transaction().await;
            match refused_write(&err) {
                Some((0, DUPLICATE_KEY)) => return Ok(false),
                Some((1, DUPLICATE_KEY)) => {
                    self.locked_or_retry(tenant, &entry.user_id, week).await?;
                    if attempt >= MAX_ATTEMPTS {
                        return Err(collided(PmoError::Transient(err.to_string())));
                    }
                }
                _ => match db_err(err) {
                    PmoError::Transient(_) if attempt < MAX_ATTEMPTS => {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            5 * u64::from(attempt),
                        ))
                        .await;
                    }
                    err => return Err(collided(err)),
                },
            }
        }
    }

    async fn time_entry(&self, tenant: &TenantId, id: &str) -> PmoResult<Option<TimeEntryDoc>> {
        self.time_entries()
            .find_one(doc! { "_id": id, "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)
    }

    async fn list_time_entries(
        &self,
        tenant: &TenantId,
        filter: &TimeEntryFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimeEntryDoc>> {
        let mut query = time_entry_query(tenant, filter);
        let sort = keyset(&mut query, page);
        self.find_in(self.time_entries(), query, sort, page.limit as i64 + 1)
            .await
    }

    async fn timesheets_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> PmoResult<Vec<TimesheetDoc>> {
        self.find_in(
            self.timesheets(),
            doc! { "tenant_id": tenant.as_str(), "_id": { "$in": ids } },
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn list_timesheets(
        &self,
        tenant: &TenantId,
        filter: &TimesheetFilter,
        page: &PageRequest,
    ) -> PmoResult<Vec<TimesheetDoc>> {
        let mut query = timesheet_query(tenant, filter)?;
        let sort = keyset(&mut query, page);
        self.find_in(self.timesheets(), query, sort, page.limit as i64 + 1)
            .await
    }

    async fn entries_of_weeks(
        &self,
        tenant: &TenantId,
        weeks: &[(String, IsoWeek)],
    ) -> PmoResult<Vec<TimeEntryDoc>> {
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
    ) -> PmoResult<()> {
        in_transaction!(self, session, {
            self.guard_timesheet(&mut session, tenant, timesheet, expected_rev)
                .await?;
            if let Some(event) = event {
                self.enqueue(&mut session, event).await?;
            }
            Ok(())
        })
    }

    async fn edit_time_entry(
        &self,
        tenant: &TenantId,
        entry: &TimeEntryDoc,
        weeks: &[WeekGuard],
        audit: &TimeEntryEditDoc,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        in_transaction!(self, session, {
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
                return Err(ApiError::NotFound("time entry".into()).into());
            }
            self.entry_edits_coll()
                .insert_one(audit)
                .session(&mut session)
                .await
                .map_err(db_err)?;
            self.enqueue(&mut session, event).await
        })
    }

    async fn edits_of_entries(
        &self,
        tenant: &TenantId,
        entry_ids: &[String],
    ) -> PmoResult<Vec<TimeEntryEditDoc>> {
        self.find_in(
            self.entry_edits_coll(),
            of_parents(tenant, "entry_id", entry_ids),
            doc! { "_id": 1 },
            0,
        )
        .await
    }

    async fn import_tasks(&self, tenant: &TenantId, tasks: &[TaskDoc]) -> PmoResult<Imported> {
        import::check_tasks(tenant, tasks)?;
        if tasks.is_empty() {
            return Ok(Imported::default());
        }
        // One transaction per batch: all of it or nothing, and the checks read what the insert
        // writes into. Stored ids are looked up only once an insert met one (a repeated or
        // resumed import), so a fresh import pays no lookup. (Inside a transaction
        // `ordered: false` buys nothing: the first failed write aborts it.)
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        let mut look_up_stored = false;
        in_transaction!(self, session, {
            let stored = match look_up_stored {
                true => {
                    self.field_by_id(&mut session, None, TASKS, &ids, "tenant_id")
                        .await?
                }
                false => HashMap::new(),
            };
            let new = import::new_documents(
                import::TASK_BATCH,
                tasks,
                |t| &t.id,
                |id| stored.get(id).map(|owner| owner == tenant.as_str()),
            )?;
            if !new.is_empty() {
                // The insert first (the checks run in the same transaction): a repeat meets a
                // stored id before anything is checked or counted.
                let inserted = self
                    .tasks()
                    .insert_many(new.iter().copied())
                    .session(&mut session)
                    .await;
                if let Err(err) = inserted {
                    look_up_stored |= is_duplicate_key(&err);
                    return Err(concurrent_insert(err));
                }
                let projects: HashSet<String> = self
                    .field_by_id(
                        &mut session,
                        Some(tenant),
                        PROJECTS,
                        &import::distinct(&new, |t| Some(&t.project_id)),
                        "tenant_id",
                    )
                    .await?
                    .into_keys()
                    .collect();
                let board_ids = import::distinct(&new, |t| t.board_id.as_ref());
                let boards: HashMap<String, BoardDoc> = self
                    .all_in_session(
                        &mut session,
                        self.boards(),
                        doc! { "_id": { "$in": board_ids }, "tenant_id": tenant.as_str() },
                        None,
                    )
                    .await?
                    .into_iter()
                    .map(|b| (b.id.clone(), b))
                    .collect();
                let loads = import::check_placements(&new, &projects, &boards)?;
                for load in loads {
                    // As `guard_wip`: the board's bump makes a concurrent move collide. The
                    // count includes the batch (the transaction sees its own writes).
                    self.bump_board(&mut session, tenant, &load.board_id)
                        .await?;
                    let current = self
                        .column_count(&mut session, tenant, &load.board_id, &load.column_id)
                        .await?;
                    load.check(current.saturating_sub(load.added))?;
                }
            }
            Ok(Imported {
                inserted: new.len(),
                existing: tasks.len() - new.len(),
            })
        })
    }

    async fn import_time_entries(
        &self,
        tenant: &TenantId,
        entries: &[TimeEntryDoc],
    ) -> PmoResult<Imported> {
        import::check_time_entries(tenant, entries, chrono::Utc::now())?;
        if entries.is_empty() {
            return Ok(Imported::default());
        }
        // One transaction per batch, as for tasks: the new entries and the touches of their
        // weeks commit together, so a submission that read a week before collides with it.
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let mut look_up_stored = false;
        in_transaction!(self, session, {
            let stored = match look_up_stored {
                true => {
                    self.field_by_id(&mut session, None, TIME_ENTRIES, &ids, "tenant_id")
                        .await?
                }
                false => HashMap::new(),
            };
            let new = import::new_documents(
                import::ENTRY_BATCH,
                entries,
                |e| &e.id,
                |id| stored.get(id).map(|owner| owner == tenant.as_str()),
            )?;
            if !new.is_empty() {
                // The insert first, as for tasks: a repeat meets a stored id before any check
                // or week touch.
                let inserted = self
                    .time_entries()
                    .insert_many(new.iter().copied())
                    .session(&mut session)
                    .await;
                if let Err(err) = inserted {
                    look_up_stored |= is_duplicate_key(&err);
                    return Err(concurrent_insert(err));
                }
                let task_projects = self
                    .field_by_id(
                        &mut session,
                        Some(tenant),
                        TASKS,
                        &import::distinct(&new, |e| Some(&e.task_id)),
                        "project_id",
                    )
                    .await?;
                import::check_entry_tasks(&new, &task_projects)?;
                let weeks = import::weeks_of(&new);
                let touches = weeks
                    .iter()
                    .map(|(user_id, week)| Ok(self.touch_week(tenant, user_id, *week)?.into()))
                    .collect::<PmoResult<Vec<WriteModel>>>()?;
                if let Err(err) = self
                    .client
                    .bulk_write(touches)
                    .ordered(false)
                    .session(&mut session)
                    .await
                {
                    return Err(match refused_write(&err) {
                        Some((index, DUPLICATE_KEY)) => {
                            // The transaction is over: read the week outside it. Locked:
                            // TIMESHEET_LOCKED; otherwise a concurrent first touch, retried.
                            let (user_id, week) = weeks.get(index).ok_or_else(|| {
                                bson_err("a refused touch of a week the batch does not have")
                            })?;
                            self.locked_or_retry(tenant, user_id, *week).await?;
                            PmoError::Transient(err.to_string())
                        }
                        _ => db_err(err),
                    });
                }
            }
            Ok(Imported {
                inserted: new.len(),
                existing: entries.len() - new.len(),
            })
        })
    }

    async fn record_timer_start(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
        event: &EventEnvelope,
    ) -> PmoResult<()> {
        // One ordered command, no transaction: a locked week refuses the first write and the
        // event is not written; should the event alone fail, the week keeps a bumped revision
        // (a draft without time when it was untouched), which changes nothing a caller sees.
        let writes: Vec<WriteModel> = vec![
            self.touch_week(tenant, user_id, week)?.into(),
            self.outbox()
                .insert_one_model(OutboxDoc::new(event)?)
                .map_err(bson_err)?
                .into(),
        ];
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match self.client.bulk_write(writes.clone()).ordered(true).await {
                Ok(_) => return Ok(()),
                Err(err) if refused_write(&err) == Some((0, DUPLICATE_KEY)) => {
                    self.locked_or_retry(tenant, user_id, week).await?;
                    if attempt >= MAX_ATTEMPTS {
                        return Err(collided(PmoError::Transient(err.to_string())));
                    }
                }
                Err(err) => return Err(db_err(err)),
            }
        }
    }

    async fn pending_events(&self, limit: u64) -> PmoResult<Vec<PendingEvent>> {
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

    async fn mark_published(&self, ids: &[String]) -> PmoResult<()> {
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

    async fn purge_published(&self, before_ms: i64) -> PmoResult<()> {
        self.outbox()
            .delete_many(doc! { "published_at": { "$lt": before_ms } })
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> PmoResult<()> {
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

    async fn lease_relay(&self, owner: &str, until_ms: i64, now_ms: i64) -> PmoResult<bool> {
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
            Err(err) => Err(db_err(err)),
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

    /// A store on a database of its own on the real server (dropped by [`drop_store`]).
    async fn real_store() -> MongoStore {
        let url = std::env::var("MONGO_URL").unwrap_or_else(|_| {
            panic!("MONGO_URL: this test needs the real MongoDB server (deploy/local/services.sh start)")
        });
        let client = Client::with_uri_str(&url).await.unwrap();
        let name = format!("t_import_{}", uuid::Uuid::now_v7().simple());
        let store = MongoStore::with_database(client, &name);
        store.prepare().await.unwrap();
        store
    }

    async fn drop_store(store: MongoStore) {
        store.db.drop().await.unwrap();
    }

    #[tokio::test]
    async fn imports_follow_the_rules() {
        let store = real_store().await;
        crate::store::import::scenario::imports_follow_the_rules(&store).await;
        drop_store(store).await;
    }

    #[tokio::test]
    async fn concurrent_imports_of_the_same_batch_write_it_once() {
        use crate::store::import::scenario::Ids;
        use chrono::TimeZone;
        let store = real_store().await;
        let ids = Ids::new();
        let tenant = ids.tenant("tnt");
        let project = ProjectDoc {
            id: ids.of("prj"),
            tenant_id: tenant.as_str().to_owned(),
            name: "Imported".into(),
            client: None,
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
        store
            .import_tasks(&tenant, std::slice::from_ref(&task))
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
            store.import_time_entries(&tenant, &entries),
            store.import_time_entries(&tenant, &entries)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.inserted + b.inserted, 300, "{a:?} {b:?}");
        assert_eq!(a.existing + b.existing, 300, "{a:?} {b:?}");
        let stored = store
            .time_entries()
            .count_documents(doc! { "tenant_id": tenant.as_str() })
            .await
            .unwrap();
        assert_eq!(stored, 300);
        // Seven people, one week: seven timesheets, each touched by the one batch that wrote.
        let sheets = store
            .list_timesheets(
                &tenant,
                &TimesheetFilter::default(),
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
        drop_store(store).await;
    }

    #[test]
    fn every_query_has_an_index() {
        let tenant = TenantId::from_claim("tnt_a");
        let id = |s: &str| Some(s.to_owned());
        // Every combination of the task list's filters.
        for bits in 0u32..96 {
            let filter = TaskFilter {
                project_id: (bits & 1 != 0).then(|| "p".to_owned()),
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
        for state in [None, Some(SprintState::Active)] {
            let query = sprint_query(&tenant, "p", state).unwrap();
            assert!(served(SPRINTS, &query, "_id"), "sprints: {query}");
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
