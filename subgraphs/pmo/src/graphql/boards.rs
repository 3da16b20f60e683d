//! Boards in GraphQL: kanban boards and their columns.

use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::authz::authenticated;
use erp_kit::RequestContext;

use super::context::pmo;
use super::objects::{Board, TaskStatus};
use crate::domain::board::NewColumn;
use crate::domain::Name;

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
