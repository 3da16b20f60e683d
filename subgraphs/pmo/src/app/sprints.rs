//! Sprints: planned, then active (one per project at a time), then closed with their
//! unfinished tasks carried over.

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::project::ProjectRole;
use crate::domain::sprint::{
    check_can_close, check_can_start, check_carry_over_target, split_at_close, SprintState,
};
use crate::events;
use crate::store::{Expected, Guarded, ProjectDoc, SprintDoc, TaskDoc};
use erp_kit::events::EventEnvelope;
use erp_kit::retry::{collided, Attempts};

/// A new sprint, parsed.
pub struct NewSprint {
    pub project_id: String,
    pub name: String,
    pub goal: Option<String>,
    pub dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
}

impl Pmo {
    pub async fn sprint(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<SprintDoc>> {
        Ok(self
            .store
            .sprints_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    /// A sprint and its project, for an owner or manager of the project.
    async fn sprint_to_run(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        sprint_id: &str,
    ) -> ApiResult<(SprintDoc, ProjectDoc)> {
        let sprint = self
            .sprint(tenant, sprint_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("sprint".into()))?;
        let (project, _) = self
            .project_for(
                tenant,
                caller,
                &sprint.project_id,
                ProjectRole::can_manage,
                "run sprints",
            )
            .await?;
        Ok((sprint, project))
    }

    /// Creates a planned sprint (owners and managers).
    pub async fn create_sprint(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewSprint,
    ) -> ApiResult<SprintDoc> {
        self.project_for(
            tenant,
            caller,
            &new.project_id,
            ProjectRole::can_manage,
            "plan sprints",
        )
        .await?;
        let sprint = SprintDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            project_id: new.project_id,
            name: new.name,
            goal: new.goal,
            starts_on: new.dates.map(|(start, _)| start),
            ends_on: new.dates.map(|(_, end)| end),
            state: SprintState::Planned,
            created_at: Utc::now(),
            started_at: None,
            closed_at: None,
            completed_task_ids: Vec::new(),
            carried_over_task_ids: Vec::new(),
            carried_over_to: None,
            rev: 0,
        };
        self.store.insert_sprint(tenant, &sprint).await?;
        Ok(sprint)
    }

    /// Puts a task in a planned or active sprint of its project, or back in the backlog
    /// (owners and managers); a closed sprint on either side keeps its tasks.
    pub async fn plan_task(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        task_id: &str,
        sprint_id: Option<&str>,
    ) -> ApiResult<TaskDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let task = self.existing_task(tenant, task_id).await?;
            self.project_for(
                tenant,
                caller,
                &task.project_id,
                ProjectRole::can_manage,
                "plan sprints",
            )
            .await?;
            let left = match &task.sprint_id {
                Some(current) => Some(
                    self.plannable_sprint(tenant, &task.project_id, current)
                        .await?,
                ),
                None => None,
            };
            let joined = match sprint_id {
                Some(target) => Some(
                    self.plannable_sprint(tenant, &task.project_id, target)
                        .await?,
                ),
                None => None,
            };
            if let Guarded::Written(task) = self
                .store
                .plan_task(tenant, &task.id, left.as_ref(), joined.as_ref())
                .await?
            {
                return Ok(task);
            }
        }
        Err(collided())
    }

    /// Starts a planned sprint (owners and managers) while no other sprint of its project is
    /// active. Publishes `sprint.started`.
    pub async fn start_sprint(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        sprint_id: &str,
    ) -> ApiResult<SprintDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let (sprint, project) = self.sprint_to_run(tenant, caller, sprint_id).await?;
            let another_active = self.store.has_active_sprint(tenant, &project.id).await?;
            check_can_start(sprint.state, another_active)?;
            let started = SprintDoc {
                state: SprintState::Active,
                started_at: Some(Utc::now()),
                rev: sprint.rev + 1,
                ..sprint.clone()
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::SPRINT_STARTED,
                &started.id,
                &caller.sub,
                events::SprintStarted {
                    sprint_id: &started.id,
                    project_id: &started.project_id,
                    name: &started.name,
                },
            )?;
            let project = Expected::new(&project.id, project.rev);
            if let Guarded::Written(()) = self
                .store
                .start_sprint(tenant, &started, sprint.rev, &project, &event)
                .await?
            {
                self.wake();
                return Ok(started);
            }
        }
        Err(collided())
    }

    /// Closes the active sprint (owners and managers): its done tasks stay with it, the others
    /// move to `carry_over_to` (a planned sprint of the project) or back to the backlog.
    /// Publishes `sprint.closed`.
    pub async fn close_sprint(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        sprint_id: &str,
        carry_over_to: Option<&str>,
    ) -> ApiResult<SprintDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let (sprint, project) = self.sprint_to_run(tenant, caller, sprint_id).await?;
            check_can_close(sprint.state)?;
            let target = match carry_over_to {
                Some(target_id) => {
                    let target = self.sprint(tenant, target_id).await?;
                    check_carry_over_target(
                        &sprint.id,
                        target
                            .as_ref()
                            .map(|t| (t.id.as_str(), t.state, t.project_id == sprint.project_id)),
                    )?;
                    target.map(|t| Expected::new(&t.id, t.rev))
                }
                None => None,
            };
            let tasks = self
                .store
                .sprint_tasks(tenant, &project.id, &sprint.id)
                .await?;
            let (done, open) = split_at_close(&tasks);
            let closed = SprintDoc {
                state: SprintState::Closed,
                closed_at: Some(Utc::now()),
                completed_task_ids: done.iter().map(|id| (*id).to_owned()).collect(),
                carried_over_task_ids: open.iter().map(|id| (*id).to_owned()).collect(),
                carried_over_to: carry_over_to.map(str::to_owned),
                rev: sprint.rev + 1,
                ..sprint.clone()
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::SPRINT_CLOSED,
                &closed.id,
                &caller.sub,
                events::SprintClosed {
                    sprint_id: &closed.id,
                    project_id: &closed.project_id,
                    completed_task_ids: &closed.completed_task_ids,
                    carried_over_task_ids: &closed.carried_over_task_ids,
                    carried_over_to: closed.carried_over_to.as_deref(),
                },
            )?;
            if let Guarded::Written(()) = self
                .store
                .close_sprint(tenant, &closed, sprint.rev, target.as_ref(), &event)
                .await?
            {
                self.wake();
                return Ok(closed);
            }
        }
        Err(collided())
    }
}
