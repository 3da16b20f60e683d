//! The timers' persistence, everything a timer start reads and writes:
//!
//! - running timers in the cache (Redis in production, [`TimerStore`]): one key per person, so
//!   "at most one timer per person" is a `SET NX`, and a timer outlives any restart;
//! - [`TimerStarts`], the store's part of a start: the task with what its project says about
//!   the caller ([`TaskToTime`], one round trip), and the touch of the person's week with the
//!   `timer.started` event ([`WeekTouch`], one atomic write). Its MongoDB backend is
//!   [`MongoTimers`] below, over the database handles of `super::mongo::MongoStore`; the
//!   embedded backend is `super::memory::MemoryStore` itself (its maps are private to it);
//! - the week touch every write of time shares (a start here; a stop and an import in
//!   `super::mongo`): [`touch_week`], [`locked_state`], [`TimesheetDoc::key`].

use futures::TryStreamExt;
use mongodb::bson::{doc, to_bson, Document};
use mongodb::error::{Error as MongoError, ErrorKind};
use mongodb::options::{UpdateOneModel, WriteModel};
use mongodb::{Client, Database};
use serde::Deserialize;

use erp_kit::cache::SharedCache;
use erp_kit::events::{EventEnvelope, OutboxDocument};
use erp_kit::retry::{collided, MAX_ATTEMPTS};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::{Member, TimesheetDoc, OUTBOX, PROJECTS, TASKS, TIMESHEETS};
use crate::domain::project::{role_of, ProjectRole};
use crate::domain::timer::{IsoWeek, Timer, TimesheetState};
use crate::domain::DOMAIN;

#[derive(Clone)]
pub struct TimerStore {
    cache: SharedCache,
    prefix: String,
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("timer cache: {err}"))
}

impl TimerStore {
    /// `prefix` namespaces the keys in a shared Redis (`pmo` by default).
    pub fn new(cache: SharedCache, prefix: impl Into<String>) -> Self {
        Self {
            cache,
            prefix: prefix.into(),
        }
    }

    fn key(&self, tenant: &TenantId, user_id: &str) -> String {
        format!("{}:timer:{}:{}", self.prefix, tenant.as_str(), user_id)
    }

    /// What namespaces this store's keys (and the live channels) in a shared cache.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The cache (its pub/sub carries the live notifications).
    pub fn cache(&self) -> &SharedCache {
        &self.cache
    }

    pub async fn get(&self, tenant: &TenantId, user_id: &str) -> Result<Option<Timer>, ApiError> {
        let Some(raw) = self
            .cache
            .get(&self.key(tenant, user_id))
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("undecodable timer: {e}")))
    }

    /// Stores a new timer unless the person already has one; false when they do.
    pub async fn create(&self, tenant: &TenantId, timer: &Timer) -> Result<bool, ApiError> {
        let raw = serde_json::to_vec(timer).map_err(ApiError::internal)?;
        self.cache
            .set_if_absent(&self.key(tenant, &timer.user_id), &raw, None)
            .await
            .map_err(unavailable)
    }

    /// Replaces the person's timer (pause, resume).
    pub async fn replace(&self, tenant: &TenantId, timer: &Timer) -> Result<(), ApiError> {
        let raw = serde_json::to_vec(timer).map_err(ApiError::internal)?;
        self.cache
            .set(&self.key(tenant, &timer.user_id), &raw, None)
            .await
            .map_err(unavailable)
    }

    pub async fn remove(&self, tenant: &TenantId, user_id: &str) -> Result<bool, ApiError> {
        self.cache
            .delete(&self.key(tenant, user_id))
            .await
            .map_err(unavailable)
    }
}

/// What adding time to a person's week found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeekTouch {
    /// The week's timesheet was touched (a draft created when absent, its revision bumped).
    Touched,
    /// The week is submitted or approved: nothing was written.
    Locked(TimesheetState),
}

/// What starting a timer on a task reads: the task, and what its project says about the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskToTime {
    pub task_id: String,
    pub project_id: String,
    /// None when the project is not the tenant's.
    pub project: Option<ProjectToTime>,
}

/// The task's project as a timer start reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProjectToTime {
    pub billable: bool,
    #[serde(default)]
    pub members: Vec<Member>,
}

impl ProjectToTime {
    /// The role of `user_id` in the project (None: not a member).
    pub fn role_of(&self, user_id: &str) -> Option<ProjectRole> {
        role_of(&self.members, user_id)
    }
}

/// The store's part of a timer start (the timer itself is in [`TimerStore`]). Tenant-scoped: a
/// task or project of another tenant is a missing one.
#[async_trait::async_trait]
pub trait TimerStarts: Send + Sync + 'static {
    /// The task with its project (None when the tenant has no such task), in one query where
    /// the backend can.
    async fn task_to_time(&self, tenant: &TenantId, task_id: &str)
        -> ApiResult<Option<TaskToTime>>;

    /// Records the event of a timer `user_id` starts in `week`, touching the week's timesheet
    /// (so a submission read before the start collides instead of missing the timer); writes
    /// nothing when the week is locked.
    async fn record_timer_start(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
        event: &EventEnvelope,
    ) -> ApiResult<WeekTouch>;
}

/// A person's week as the time of timers (and entries, and imports) touches it.
impl TimesheetDoc {
    /// The week's timesheet id: one per person and week.
    pub fn key(tenant: &TenantId, user_id: &str, week: IsoWeek) -> String {
        format!("{}:{user_id}:{week}", tenant.as_str())
    }

    /// The untouched week.
    pub fn draft(tenant: &TenantId, user_id: &str, week: IsoWeek) -> Self {
        Self {
            id: Self::key(tenant, user_id, week),
            tenant_id: tenant.as_str().to_owned(),
            user_id: user_id.to_owned(),
            week: week.to_string(),
            state: TimesheetState::Draft,
            rev: 0,
            submitted_at: None,
            entry_ids: Vec::new(),
            projects: Vec::new(),
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
        }
    }
}

/// The timer start on MongoDB, over the handles of the PMO database
/// (`super::mongo::MongoStore::timers`).
#[derive(Clone)]
pub struct MongoTimers {
    client: Client,
    db: Database,
}

impl MongoTimers {
    pub fn new(client: Client, db: Database) -> Self {
        Self { client, db }
    }
}

fn mongo_err(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("mongodb: {err}"))
}

fn bson_err(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("bson: {err}"))
}

/// The task as the `$lookup` answers it, with the projects of its `project_id`.
#[derive(Deserialize)]
struct TaskWithProjects {
    #[serde(rename = "_id")]
    id: String,
    project_id: String,
    #[serde(default)]
    projects: Vec<ProjectOfTenant>,
}

#[derive(Deserialize)]
struct ProjectOfTenant {
    tenant_id: String,
    #[serde(flatten)]
    project: ProjectToTime,
}

#[async_trait::async_trait]
impl TimerStarts for MongoTimers {
    async fn task_to_time(
        &self,
        tenant: &TenantId,
        task_id: &str,
    ) -> ApiResult<Option<TaskToTime>> {
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
            .map_err(mongo_err)?;
        let Some(row) = cursor.try_next().await.map_err(mongo_err)? else {
            return Ok(None);
        };
        let task: TaskWithProjects = mongodb::bson::from_document(row).map_err(bson_err)?;
        let project = task
            .projects
            .into_iter()
            .find(|p| p.tenant_id == tenant.as_str())
            .map(|p| p.project);
        Ok(Some(TaskToTime {
            task_id: task.id,
            project_id: task.project_id,
            project,
        }))
    }

    async fn record_timer_start(
        &self,
        tenant: &TenantId,
        user_id: &str,
        week: IsoWeek,
        event: &EventEnvelope,
    ) -> ApiResult<WeekTouch> {
        // One ordered command, no transaction: a locked week refuses the first write and the
        // event is not written; should the event alone fail, the week keeps a bumped revision
        // (a draft without time when it was untouched), which changes nothing a caller sees.
        let outbox = self
            .db
            .collection::<OutboxDocument>(OUTBOX)
            .insert_one_model(OutboxDocument::new(DOMAIN, event)?)
            .map_err(bson_err)?;
        let writes: Vec<WriteModel> = vec![
            touch_week(&self.db, tenant, user_id, week)?.into(),
            outbox.into(),
        ];
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match self.client.bulk_write(writes.clone()).ordered(true).await {
                Ok(_) => return Ok(WeekTouch::Touched),
                Err(err) if refused_write(&err) == Some((0, DUPLICATE_KEY)) => {
                    if let Some(locked) = locked_state(&self.db, tenant, user_id, week).await? {
                        return Ok(WeekTouch::Locked(locked));
                    }
                    // A concurrent first touch inserted the draft: touch it again.
                    if attempt >= MAX_ATTEMPTS {
                        tracing::warn!(error = %err, "timer start kept colliding");
                        return Err(collided());
                    }
                }
                Err(err) => return Err(mongo_err(err)),
            }
        }
    }
}

/// The write that adds time to a person's week: bumps the revision of its timesheet (a draft
/// inserted when absent), matching only while the week is open, so on a locked week the upsert
/// collides with the stored document (duplicate key) and writes nothing.
pub fn touch_week(
    db: &Database,
    tenant: &TenantId,
    user_id: &str,
    week: IsoWeek,
) -> ApiResult<UpdateOneModel> {
    let draft = TimesheetDoc::draft(tenant, user_id, week);
    let mut on_insert = mongodb::bson::to_document(&draft).map_err(bson_err)?;
    for set_by_the_filter_or_inc in ["_id", "tenant_id", "rev"] {
        on_insert.remove(set_by_the_filter_or_inc);
    }
    let locked = TimesheetState::LOCKED
        .iter()
        .map(|state| to_bson(state).map_err(bson_err))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(UpdateOneModel::builder()
        .namespace(db.collection::<Document>(TIMESHEETS).namespace())
        .filter(doc! {
            "_id": &draft.id,
            "tenant_id": tenant.as_str(),
            "state": { "$nin": locked },
        })
        .update(doc! { "$inc": { "rev": 1 }, "$setOnInsert": on_insert })
        .upsert(true)
        .build())
}

/// After a touch of the week collided: the week's state when it is locked; None when a
/// concurrent first touch inserted the document, and the write is tried again.
pub async fn locked_state(
    db: &Database,
    tenant: &TenantId,
    user_id: &str,
    week: IsoWeek,
) -> ApiResult<Option<TimesheetState>> {
    let key = TimesheetDoc::key(tenant, user_id, week);
    Ok(db
        .collection::<TimesheetDoc>(TIMESHEETS)
        .find_one(doc! { "_id": &key, "tenant_id": tenant.as_str() })
        .await
        .map_err(mongo_err)?
        .map(|sheet| sheet.state)
        .filter(|state| state.is_locked()))
}

/// What a bulk write refused first: the index of the operation and the server's error code.
pub fn refused_write(err: &MongoError) -> Option<(usize, i32)> {
    match &*err.kind {
        ErrorKind::BulkWrite(failure) => failure
            .write_errors
            .iter()
            .map(|(index, error)| (*index, error.code))
            .min(),
        _ => None,
    }
}

/// The server's code of a duplicate key.
pub const DUPLICATE_KEY: i32 = 11000;
