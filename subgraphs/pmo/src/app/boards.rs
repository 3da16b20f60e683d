//! Kanban boards of a project, and the columns tasks are placed in.

use erp_kit::auth::Claims;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::Pmo;
use crate::domain::board::{check_columns, check_wip, NewColumn};
use crate::domain::project::ProjectRole;
use crate::store::{BoardDoc, ColumnDoc, Expected, Placement};

/// A column a task goes to, as read: where, and what its WIP limit asks of the write.
pub(crate) struct ColumnTarget {
    pub placement: Placement,
    /// The board at the revision read, when the column has a WIP limit: the write expects it.
    pub guard: Option<Expected>,
    name: String,
    limit: Option<u32>,
}

impl ColumnTarget {
    /// The WIP rule for one more task in the column (which holds `current`).
    pub fn check(&self, current: u64) -> ApiResult<()> {
        Ok(check_wip(&self.name, self.limit, current)?)
    }
}

impl Pmo {
    pub async fn board(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<BoardDoc>> {
        Ok(self
            .store
            .boards_by_ids(tenant, &[id.to_owned()])
            .await?
            .pop())
    }

    /// The boards of the given projects, oldest first.
    pub async fn boards_of_projects(
        &self,
        tenant: &TenantId,
        project_ids: &[String],
    ) -> ApiResult<Vec<BoardDoc>> {
        self.store.boards_of_projects(tenant, project_ids).await
    }

    /// Creates a board with its columns (owners and managers).
    pub async fn create_board(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        project_id: &str,
        name: String,
        columns: Vec<NewColumn>,
    ) -> ApiResult<BoardDoc> {
        self.project_for(
            tenant,
            caller,
            project_id,
            ProjectRole::can_manage,
            "create boards",
        )
        .await?;
        check_columns(&columns)?;
        let board = BoardDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            project_id: project_id.to_owned(),
            name,
            columns: columns
                .into_iter()
                .map(|column| ColumnDoc {
                    id: erp_kit::db::new_id(),
                    name: column.name,
                    status: column.status,
                    wip_limit: column.wip_limit.map(i64::from),
                })
                .collect(),
            rev: 0,
        };
        self.store.insert_board(tenant, &board).await?;
        Ok(board)
    }

    /// A column of one of the project's boards (BAD_USER_INPUT otherwise), read with the tasks
    /// it holds when it has a WIP limit.
    pub(crate) async fn column_target(
        &self,
        tenant: &TenantId,
        project_id: &str,
        board_id: &str,
        column_id: &str,
    ) -> ApiResult<(ColumnTarget, u64)> {
        // The board first, then the count: a task added in between bumps the board, so the
        // write expecting the board as read refuses the stale count.
        let board = self
            .board(tenant, board_id)
            .await?
            .filter(|b| b.project_id == project_id)
            .ok_or_else(|| ApiError::bad_input("boardId", "no such board in the task's project"))?;
        let column = board
            .column(column_id)
            .ok_or_else(|| ApiError::bad_input("columnId", "no such column on the board"))?;
        let limit = column.limit();
        let current = match limit {
            Some(_) => {
                self.store
                    .column_count(tenant, &board.id, &column.id)
                    .await?
            }
            None => 0,
        };
        let target = ColumnTarget {
            placement: Placement {
                board_id: board.id.clone(),
                column_id: column.id.clone(),
                status: column.status,
            },
            guard: limit.map(|_| Expected::new(&board.id, board.rev)),
            name: column.name.clone(),
            limit,
        };
        Ok((target, current))
    }
}
