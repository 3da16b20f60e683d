//! Kanban boards: 1 to 20 columns, each with the status its tasks take and an optional WIP
//! limit.

use erp_kit::ApiError;

use super::task::TaskStatus;
use super::{Name, PmoRule};

/// A column of a new board, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewColumn {
    pub name: String,
    pub status: TaskStatus,
    pub wip_limit: Option<u32>,
}

impl NewColumn {
    pub fn parse(name: &str, status: TaskStatus, wip_limit: Option<i32>) -> Result<Self, ApiError> {
        Ok(Self {
            name: Name::parse("columns.name", name)?.into_inner(),
            status,
            wip_limit: parse_wip_limit("columns.wipLimit", wip_limit)?,
        })
    }
}

/// A board has 1 to 20 columns.
pub fn check_columns(columns: &[NewColumn]) -> Result<(), ApiError> {
    if columns.is_empty() || columns.len() > 20 {
        return Err(ApiError::bad_input(
            "columns",
            "a board has 1 to 20 columns",
        ));
    }
    Ok(())
}

/// A column's WIP limit: 1 to 1000 tasks, or none.
pub fn parse_wip_limit(field: &str, raw: Option<i32>) -> Result<Option<u32>, ApiError> {
    match raw {
        None => Ok(None),
        Some(limit) if (1..=1000).contains(&limit) => Ok(Some(limit as u32)),
        Some(_) => Err(ApiError::bad_input(
            field,
            "a WIP limit is between 1 and 1000 (leave it out for no limit)",
        )),
    }
}

/// The WIP rule: a column holding `current` tasks may take one more only below its limit.
pub fn check_wip(column: &str, limit: Option<u32>, current: u64) -> Result<(), PmoRule> {
    match limit {
        Some(limit) if current >= u64::from(limit) => Err(PmoRule::WipLimitExceeded {
            column: column.to_owned(),
            limit,
        }),
        _ => Ok(()),
    }
}

/// The WIP rule for `added` tasks at once (a batch of history): the column held `current`.
pub fn check_wip_for(column: &str, limit: u32, current: u64, added: u64) -> Result<(), PmoRule> {
    // `check_wip` asks whether one more fits; the last of `added` is the one that must.
    check_wip(column, Some(limit), current + added.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wip_limits() {
        assert!(check_wip("Doing", Some(2), 1).is_ok());
        assert_eq!(
            check_wip("Doing", Some(2), 2),
            Err(PmoRule::WipLimitExceeded {
                column: "Doing".into(),
                limit: 2
            })
        );
        assert!(check_wip("Backlog", None, 10_000).is_ok());
        assert!(parse_wip_limit("w", Some(0)).is_err());
        // Two fit into an empty column of limit 2; not into one holding a task already.
        assert!(check_wip_for("Doing", 2, 0, 2).is_ok());
        assert!(check_wip_for("Doing", 2, 1, 2).is_err());
    }

    #[test]
    fn columns() {
        let column = NewColumn::parse(" Doing ", TaskStatus::InProgress, Some(3)).unwrap();
        assert_eq!(column.name, "Doing");
        assert!(NewColumn::parse("Doing", TaskStatus::InProgress, Some(1001)).is_err());
        assert!(check_columns(&[]).is_err());
        assert!(check_columns(&vec![column; 21]).is_err());
    }
}
