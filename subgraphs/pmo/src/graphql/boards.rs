//! Boards in GraphQL: kanban boards and their columns.

use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::RequestContext;

use super::context::pmo;
use super::projects::{load_project, Project};
use super::tasks::TaskStatus;
use crate::domain::board::NewColumn;
use crate::domain::Name;
use crate::store::{BoardDoc, ColumnDoc};

/// A board column with its optional WIP limit.
pub struct BoardColumn(pub ColumnDoc);

#[Object(requires_scopes = "project:read")]
impl BoardColumn {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The status of the tasks in this column.
    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }

    /// At most this many tasks may be in the column (None: no limit).
    async fn wip_limit(&self) -> Option<i32> {
        self.0.wip_limit.and_then(|l| i32::try_from(l).ok())
    }
}

/// A kanban board of a project.
pub struct Board(pub BoardDoc);

#[Object(requires_scopes = "project:read")]
impl Board {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn columns(&self) -> Vec<BoardColumn> {
        self.0.columns.iter().cloned().map(BoardColumn).collect()
    }

    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        load_project(ctx, &self.0.project_id).await
    }
}

#[derive(InputObject)]
pub struct ColumnInput {
    pub name: String,
    pub status: TaskStatus,
    /// 1 to 1000; leave out for no limit.
    pub wip_limit: Option<i32>,
}

/// Boards.
#[derive(Default)]
pub struct BoardQuery;

#[Object]
impl BoardQuery {
    /// One board of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn board(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Board>> {
        let tenant = ctx.tenant()?;
        Ok(pmo(ctx)?.board(&tenant, &id).await?.map(Board))
    }
}

/// Changes to boards.
#[derive(Default)]
pub struct BoardMutation;

#[Object]
impl BoardMutation {
    /// Creates a board with custom columns (owners and managers only).
    #[graphql(requires_scopes = "project:write")]
    async fn create_board(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        name: String,
        columns: Vec<ColumnInput>,
    ) -> Result<Option<Board>> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let name = Name::parse("name", &name)?.into_inner();
        let columns = columns
            .into_iter()
            .map(|c| NewColumn::parse(&c.name, c.status.into(), c.wip_limit))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Board(
            pmo(ctx)?
                .create_board(&tenant, claims, &project_id, name, columns)
                .await?,
        )))
    }
}
