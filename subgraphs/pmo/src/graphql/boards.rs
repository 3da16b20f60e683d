//! Boards in GraphQL: kanban boards and their columns.

use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::RequestContext;

use super::objects::{readable, Board, TaskStatus};
use crate::app::Pmo;
use crate::domain::board::NewColumn;
use crate::domain::Name;

/// A column of a new board.
#[derive(InputObject)]
pub struct ColumnInput {
    /// Name (1 to 200 characters).
    pub name: String,
    /// The status its tasks have.
    pub status: TaskStatus,
    /// 1 to 1000; leave out for no limit.
    pub wip_limit: Option<i32>,
}

/// A new board of a project (`createProjectBoard`).
#[derive(InputObject)]
pub struct CreateProjectBoardInput {
    /// The project.
    pub project_id: ID,
    /// Name (1 to 200 characters).
    pub name: String,
    /// The columns, left to right (1 to 20).
    pub columns: Vec<ColumnInput>,
}

/// Boards.
#[derive(Default)]
pub struct BoardQuery;

#[Object]
impl BoardQuery {
    /// One board of the caller's tenant: its project's members only (FORBIDDEN otherwise).
    #[graphql(directive = authenticated::apply())]
    async fn board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The board's id.")] id: ID,
    ) -> Result<Option<Board>> {
        let tenant = ctx.tenant()?;
        let found = ctx
            .use_cases::<Pmo>()?
            .board(&tenant, &id)
            .await?
            .map(Board);
        readable(ctx, found, |b| &b.0.project_id).await
    }
}

/// Changes to boards.
#[derive(Default)]
pub struct BoardMutation;

#[Object]
impl BoardMutation {
    /// Creates a board with custom columns (owners and managers only).
    #[graphql(
        requires_scopes = "project:write",
        deprecation = "use `createProjectBoard` (one input)"
    )]
    async fn create_board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project.")] project_id: ID,
        #[graphql(desc = "Name (1 to 200 characters).")] name: String,
        #[graphql(desc = "The columns, left to right (1 to 20).")] columns: Vec<ColumnInput>,
    ) -> Result<Option<Board>> {
        let input = CreateProjectBoardInput {
            project_id,
            name,
            columns,
        };
        create_board(ctx, input).await
    }

    /// Creates a board with custom columns (owners and managers only).
    #[graphql(requires_scopes = "project:write")]
    async fn create_project_board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the board's name and its columns.")]
        input: CreateProjectBoardInput,
    ) -> Result<Option<Board>> {
        create_board(ctx, input).await
    }
}

/// `createBoard` and `createProjectBoard`.
async fn create_board(ctx: &Context<'_>, input: CreateProjectBoardInput) -> Result<Option<Board>> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let name = Name::parse("name", &input.name)?.into_inner();
    let columns = input
        .columns
        .into_iter()
        .map(|c| NewColumn::parse(&c.name, c.status.into(), c.wip_limit))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Board(
        ctx.use_cases::<Pmo>()?
            .create_board(&tenant, claims, &input.project_id, name, columns)
            .await?,
    )))
}
