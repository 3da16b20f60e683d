//! Projects, their members in project roles, and their custom field definitions.

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::custom_field::{check_new_field, FieldDefinition};
use crate::domain::project::{
    check_can_appoint, check_can_remove, require_member, Member, Money, ProjectRole,
};
use crate::events;
use crate::store::{Expected, Guarded, ProjectDoc};
use erp_kit::events::EventEnvelope;
use erp_kit::retry::{collided, Attempts};

/// A new project, parsed.
pub struct NewProject {
    pub name: String,
    pub client: Option<String>,
    /// The CRM client the project is for.
    pub client_id: Option<String>,
    pub budget: Option<Money>,
    pub billable: bool,
    pub owner_employee_id: Option<String>,
}

impl Pmo {
    pub async fn project(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<ProjectDoc>> {
        Ok(self
            .store
            .projects_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    /// A page of the tenant's projects (one row more than the page when there are more), for
    /// the system (seed checks, the embedded mode); callers see [`Pmo::projects_of_member`].
    pub async fn projects(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        self.store.list_projects(tenant, None, page).await
    }

    /// A page of the tenant's projects `member` is a member of (one row more than the page
    /// when there are more): reads follow membership like writes.
    pub async fn projects_of_member(
        &self,
        tenant: &TenantId,
        member: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        self.store.list_projects(tenant, Some(member), page).await
    }

    /// A page of the tenant's projects for the CRM client `client_id` that `member` is a
    /// member of (one row more than the page when there are more).
    pub async fn client_projects(
        &self,
        tenant: &TenantId,
        client_id: &str,
        member: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<ProjectDoc>> {
        self.store
            .client_projects(tenant, client_id, member, page)
            .await
    }

    /// The ids of every project `user_id` is a member of.
    pub async fn member_project_ids(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> ApiResult<Vec<String>> {
        self.store.member_project_ids(tenant, user_id).await
    }

    /// NOT_FOUND when the project does not exist in the tenant, FORBIDDEN when `user_id` is
    /// not one of its members.
    pub async fn check_member(
        &self,
        tenant: &TenantId,
        project_id: &str,
        user_id: &str,
    ) -> ApiResult<()> {
        let project = self
            .project(tenant, project_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()))?;
        require_member(&project.members, user_id)
    }

    /// Creates a project with the caller as its owner. Publishes `project.created`.
    pub async fn create_project(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewProject,
    ) -> ApiResult<ProjectDoc> {
        let project = ProjectDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            name: new.name,
            client: new.client,
            client_id: new.client_id,
            opportunity_id: None,
            merged_from: None,
            budget: new.budget,
            billable: new.billable,
            members: vec![Member {
                user_id: caller.sub.clone(),
                employee_id: new.owner_employee_id,
                role: ProjectRole::Owner,
            }],
            custom_fields: Vec::new(),
            created_at: Utc::now(),
            rev: 0,
        };
        let event = EventEnvelope::by_actor(
            tenant,
            events::PROJECT_CREATED,
            &project.id,
            &caller.sub,
            events::ProjectCreated {
                project_id: &project.id,
                name: &project.name,
                client: project.client.as_deref(),
                client_id: project.client_id.as_deref(),
                opportunity_id: None,
                billable: project.billable,
            },
        )?;
        self.store.insert_project(tenant, &project, &event).await?;
        self.wake();
        Ok(project)
    }

    /// Adds a member or changes their role (owners and managers; an owner only by an owner).
    pub async fn set_member(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        member: Member,
    ) -> ApiResult<ProjectDoc> {
        let (_, role) = self
            .project_for(
                tenant,
                caller,
                project_id,
                ProjectRole::can_manage,
                "manage members",
            )
            .await?;
        check_can_appoint(role, member.role)?;
        self.store
            .put_member(tenant, project_id, &member)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()))
    }

    /// Removes a member (owners and managers; an owner only by an owner; never the last owner).
    pub async fn remove_member(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        user_id: &str,
    ) -> ApiResult<ProjectDoc> {
        let (project, role) = self
            .project_for(
                tenant,
                caller,
                project_id,
                ProjectRole::can_manage,
                "manage members",
            )
            .await?;
        check_can_remove(&project.members, role, user_id)?;
        self.store
            .remove_member(tenant, project_id, user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("project".into()))
    }

    /// Defines a typed custom field on a project (owners and managers): a name the project
    /// does not have yet, up to the most fields a project has.
    pub async fn define_custom_field(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        field: FieldDefinition,
    ) -> ApiResult<ProjectDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let (project, _) = self
                .project_for(
                    tenant,
                    caller,
                    project_id,
                    ProjectRole::can_manage,
                    "define custom fields",
                )
                .await?;
            check_new_field(&project.custom_fields, &field)?;
            let expected = Expected::new(&project.id, project.rev);
            if let Guarded::Written(project) = self
                .store
                .add_custom_field(tenant, &expected, &field)
                .await?
            {
                return Ok(project);
            }
        }
        Err(collided())
    }
}
