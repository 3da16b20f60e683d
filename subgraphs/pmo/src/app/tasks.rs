//! Tasks: creating and moving them on boards (WIP limits, subtasks done before their parent),
//! dependencies without cycles, custom field values, comments.

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::custom_field::field_of;
use crate::domain::project::ProjectRole;
use crate::domain::sprint::{check_can_plan, no_such_sprint};
use crate::domain::task::{
    check_comment_author, check_dependency, check_parent, check_parent_done, moved_meanwhile,
    TaskFields, TaskStatus,
};
use crate::domain::PmoRule;
use crate::events::{self, LiveEvent, LiveKind, TaskRef};
use crate::store::{CommentDoc, Expected, Guarded, TaskDoc};
use erp_kit::events::EventEnvelope;
use erp_kit::retry::{collided, Attempts};

/// A new task, parsed.
pub struct NewTask {
    pub project_id: String,
    /// The board and column to put it in.
    pub column: Option<(String, String)>,
    pub fields: TaskFields,
    pub sprint_id: Option<String>,
    pub parent_id: Option<String>,
}

/// A task as its live notifications name it.
fn task_ref(task: &TaskDoc) -> TaskRef<'_> {
    TaskRef {
        task_id: &task.id,
        project_id: &task.project_id,
        board_id: task.board_id.as_deref(),
        column_id: task.column_id.as_deref(),
    }
}

impl Pmo {
    pub async fn task(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<TaskDoc>> {
        Ok(self
            .store
            .tasks_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    pub(super) async fn existing_task(&self, tenant: &TenantId, id: &str) -> ApiResult<TaskDoc> {
        self.task(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))
    }

    /// A sprint of the project that a task may join or leave, at the revision read.
    pub(crate) async fn plannable_sprint(
        &self,
        tenant: &TenantId,
        project_id: &str,
        sprint_id: &str,
    ) -> ApiResult<Expected> {
        let sprint = self
            .sprint(tenant, sprint_id)
            .await?
            .filter(|s| s.project_id == project_id)
            .ok_or_else(no_such_sprint)?;
        check_can_plan(sprint.state)?;
        Ok(Expected::new(&sprint.id, sprint.rev))
    }

    /// Creates a task (contributors and up), in a column whose WIP limit it respects, in a
    /// sprint that is not closed, under a parent that is not a subtask. Publishes
    /// `task.created`.
    pub async fn create_task(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewTask,
    ) -> ApiResult<TaskDoc> {
        self.project_for(
            tenant,
            caller,
            &new.project_id,
            ProjectRole::can_contribute,
            "create tasks",
        )
        .await?;
        if let Some(parent_id) = &new.parent_id {
            let parent = self.task(tenant, parent_id).await?;
            check_parent(
                parent
                    .as_ref()
                    .is_some_and(|p| p.project_id == new.project_id),
                parent.as_ref().is_some_and(|p| p.parent_id.is_some()),
            )?;
        }
        let now = Utc::now();
        let id = erp_kit::db::new_id();
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let target = match &new.column {
                Some((board_id, column_id)) => {
                    let (target, current) = self
                        .column_target(tenant, &new.project_id, board_id, column_id)
                        .await?;
                    target.check(current)?;
                    Some(target)
                }
                None => None,
            };
            let sprint = match &new.sprint_id {
                Some(sprint_id) => Some(
                    self.plannable_sprint(tenant, &new.project_id, sprint_id)
                        .await?,
                ),
                None => None,
            };
            let placement = target.as_ref().map(|t| &t.placement);
            let task = TaskDoc {
                id: id.clone(),
                tenant_id: tenant.as_str().to_owned(),
                project_id: new.project_id.clone(),
                board_id: placement.map(|p| p.board_id.clone()),
                column_id: placement.map(|p| p.column_id.clone()),
                status: placement.map_or(TaskStatus::Todo, |p| p.status),
                title: new.fields.title.clone(),
                description: new.fields.description.clone(),
                assignee_ids: new.fields.assignee_ids.clone(),
                estimate_minutes: new.fields.estimate_minutes.map(i64::from),
                labels: new.fields.labels.clone(),
                sprint_id: new.sprint_id.clone(),
                blocked_by: Vec::new(),
                parent_id: new.parent_id.clone(),
                custom_fields: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::TASK_CREATED,
                &task.id,
                &caller.sub,
                events::TaskCreated {
                    task_id: &task.id,
                    project_id: &task.project_id,
                    title: &task.title,
                    column_id: task.column_id.as_deref(),
                    assignee_ids: &task.assignee_ids,
                },
            )?;
            let board = target.as_ref().and_then(|t| t.guard.as_ref());
            if let Guarded::Stale = self
                .store
                .insert_task(tenant, &task, board, sprint.as_ref(), &event)
                .await?
            {
                continue;
            }
            self.wake();
            let created = LiveEvent::of_task(
                tenant,
                LiveKind::TaskCreated,
                &task_ref(&task),
                &caller.sub,
                now,
            );
            self.publish_board(tenant, &created).await;
            return Ok(task);
        }
        Err(collided())
    }

    /// Moves a task to a board column (contributors and up), respecting the column's WIP
    /// limit; into a done column only once its subtasks are done. Publishes `task.moved`.
    pub async fn move_task(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        board_id: &str,
        column_id: &str,
    ) -> ApiResult<TaskDoc> {
        let mut seen_column = None;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let task = self.existing_task(tenant, task_id).await?;
            // The caller moves the task from where they saw it: a move made meanwhile wins.
            if attempts.first() {
                seen_column = task.column_id.clone();
            } else if task.column_id != seen_column {
                return Err(moved_meanwhile());
            }
            self.project_for(
                tenant,
                caller,
                &task.project_id,
                ProjectRole::can_contribute,
                "move tasks",
            )
            .await?;
            let (target, current) = self
                .column_target(tenant, &task.project_id, board_id, column_id)
                .await?;
            if task.column_id.as_deref() == Some(column_id) {
                return Ok(task);
            }
            target.check(current)?;
            if target.placement.status == TaskStatus::Done {
                let open = self.store.open_subtasks(tenant, &task.id).await?;
                check_parent_done(TaskStatus::Done, open)?;
            }
            let event = EventEnvelope::by_actor(
                tenant,
                events::TASK_MOVED,
                &task.id,
                &caller.sub,
                events::TaskMoved {
                    task_id: &task.id,
                    project_id: &task.project_id,
                    board_id: &target.placement.board_id,
                    from_column_id: task.column_id.as_deref(),
                    to_column_id: &target.placement.column_id,
                },
            )?;
            let Guarded::Written(moved) = self
                .store
                .move_task(
                    tenant,
                    &task.id,
                    task.column_id.as_deref(),
                    &target.placement,
                    target.guard.as_ref(),
                    &event,
                )
                .await?
            else {
                continue;
            };
            self.wake();
            let event = LiveEvent::of_task(
                tenant,
                LiveKind::TaskMoved,
                &task_ref(&moved),
                &caller.sub,
                moved.updated_at,
            );
            self.publish_board(tenant, &event).await;
            return Ok(moved);
        }
        Err(collided())
    }

    /// Records that `task_id` cannot be done before `blocker_id`, a task of the same project
    /// (contributors and up), unless that would make a task wait for itself.
    pub async fn add_dependency(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        blocker_id: &str,
    ) -> ApiResult<TaskDoc> {
        let tasks = self
            .store
            .tasks_by_ids(tenant, &[task_id.to_owned(), blocker_id.to_owned()])
            .await?;
        let task = tasks
            .iter()
            .find(|t| t.id == task_id)
            .ok_or_else(|| ApiError::NotFound("task".into()))?;
        if task_id == blocker_id {
            return Err(PmoRule::DependencyCycle.into());
        }
        let blocker = tasks
            .iter()
            .find(|t| t.id == blocker_id)
            .filter(|b| b.project_id == task.project_id)
            .ok_or_else(|| {
                ApiError::bad_input("blockedById", "no such task in the same project")
            })?;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let (project, _) = self
                .project_for(
                    tenant,
                    caller,
                    &task.project_id,
                    ProjectRole::can_contribute,
                    "change dependencies",
                )
                .await?;
            let edges = self.store.dependency_edges(tenant, &project.id).await?;
            check_dependency(&task.id, &blocker.id, &edges)?;
            let expected = Expected::new(&project.id, project.rev);
            if let Guarded::Written(task) = self
                .store
                .add_dependency(tenant, &expected, &task.id, &blocker.id)
                .await?
            {
                return Ok(task);
            }
        }
        Err(collided())
    }

    /// Sets (or with None clears) a task's custom field value, checked against the project's
    /// definition (contributors and up).
    pub async fn set_custom_value(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        field_id: &str,
        raw: Option<&str>,
    ) -> ApiResult<TaskDoc> {
        let task = self.existing_task(tenant, task_id).await?;
        let (project, _) = self
            .project_for(
                tenant,
                caller,
                &task.project_id,
                ProjectRole::can_contribute,
                "edit tasks",
            )
            .await?;
        let field = field_of(&project.custom_fields, field_id)?;
        let value = raw.map(|raw| field.parse_value(raw)).transpose()?;
        self.store
            .set_custom_value(tenant, &task.id, &field.id, value.as_deref())
            .await?
            .ok_or_else(|| ApiError::NotFound("task".into()))
    }

    /// Comments on a task (any member of its project, viewers included).
    pub async fn add_comment(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        body: String,
    ) -> ApiResult<CommentDoc> {
        let task = self.existing_task(tenant, task_id).await?;
        self.project_for(
            tenant,
            caller,
            &task.project_id,
            ProjectRole::is_member,
            "comment",
        )
        .await?;
        let comment = CommentDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            task_id: task.id,
            project_id: task.project_id,
            author_id: caller.sub.clone(),
            body,
            created_at: Utc::now(),
            edited_at: None,
        };
        self.store.insert_comment(tenant, &comment).await?;
        Ok(comment)
    }

    /// Edits a comment: its author only, while still a member of the project.
    pub async fn edit_comment(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        comment_id: &str,
        body: String,
    ) -> ApiResult<CommentDoc> {
        let comment = self
            .store
            .comment(tenant, comment_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("comment".into()))?;
        check_comment_author(&comment.author_id, &caller.sub)?;
        self.project_for(
            tenant,
            caller,
            &comment.project_id,
            ProjectRole::is_member,
            "comment",
        )
        .await?;
        self.store
            .edit_comment(tenant, comment_id, &caller.sub, &body)
            .await?
            .ok_or_else(|| ApiError::NotFound("comment".into()))
    }
}
