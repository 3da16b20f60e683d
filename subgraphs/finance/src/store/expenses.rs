//! Expenses: the directory of people (learnt from the employee subgraph), categories, claims
//! and their lines. State changes are conditional updates (`WHERE state = <expected>`), so a
//! claim changes state once even with two requests racing (an expense is paid exactly once,
//! invariant F13; `paid_entry_id` is unique besides).

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{expense, expense_category, expense_line, person};

/// Records or updates a person of the directory.
pub async fn upsert_person<C: ConnectionTrait>(conn: &C, row: person::Model) -> Result<(), DbErr> {
    person::Entity::insert(person::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([person::Column::TenantId, person::Column::EmployeeId])
                .update_columns([
                    person::Column::UserId,
                    person::Column::ManagerEmployeeId,
                    person::Column::DisplayName,
                    person::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Changes a person's manager (the person must be known).
pub async fn set_manager<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
    manager_employee_id: Option<&str>,
) -> Result<bool, DbErr> {
    let result = person::Entity::update_many()
        .col_expr(
            person::Column::ManagerEmployeeId,
            Expr::value(manager_employee_id.map(str::to_owned)),
        )
        .col_expr(person::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(person::Column::TenantId.eq(tenant.as_str()))
        .filter(person::Column::EmployeeId.eq(employee_id))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn person_by_user<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant.as_str()))
        .filter(person::Column::UserId.eq(user_id))
        .one(conn)
        .await
}

pub async fn person<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find_by_id((tenant.as_str().to_owned(), employee_id.to_owned()))
        .one(conn)
        .await
}

/// The employees whose manager is `manager_employee_id`.
pub async fn reports_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    manager_employee_id: &str,
) -> Result<Vec<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant.as_str()))
        .filter(person::Column::ManagerEmployeeId.eq(manager_employee_id))
        .all(conn)
        .await
}

pub async fn insert_category<C: ConnectionTrait>(
    conn: &C,
    row: expense_category::Model,
) -> Result<(), DbErr> {
    expense_category::Entity::insert(expense_category::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn categories<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<expense_category::Model>, DbErr> {
    expense_category::Entity::find()
        .filter(expense_category::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(expense_category::Column::Code)
        .all(conn)
        .await
}

pub async fn insert_claim<C: ConnectionTrait>(
    conn: &C,
    row: expense::Model,
    lines: Vec<expense_line::Model>,
) -> Result<(), DbErr> {
    expense::Entity::insert(expense::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    expense_line::Entity::insert_many(lines.into_iter().map(expense_line::ActiveModel::from))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<expense::Model>, DbErr> {
    expense::Entity::find_by_id(id.to_owned())
        .filter(expense::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn claims_of_employees<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_ids: Vec<String>,
) -> Result<Vec<expense::Model>, DbErr> {
    expense::Entity::find()
        .filter(expense::Column::TenantId.eq(tenant.as_str()))
        .filter(expense::Column::EmployeeId.is_in(employee_ids))
        .order_by_desc(expense::Column::Id)
        .all(conn)
        .await
}

/// Filters of the claim list.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub state: Option<&'static str>,
    /// Only these employees' claims (None: all).
    pub employee_ids: Option<Vec<String>>,
}

pub async fn claim_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    filter: &ClaimFilter,
    page: &PageRequest,
) -> Result<Vec<expense::Model>, DbErr> {
    let mut query = expense::Entity::find().filter(expense::Column::TenantId.eq(tenant.as_str()));
    if let Some(state) = filter.state {
        query = query.filter(expense::Column::State.eq(state));
    }
    if let Some(employees) = &filter.employee_ids {
        query = query.filter(expense::Column::EmployeeId.is_in(employees.clone()));
    }
    keyset_page(query, expense::Column::Id, page)
        .all(conn)
        .await
}

pub async fn lines_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    claim_ids: Vec<String>,
) -> Result<Vec<expense_line::Model>, DbErr> {
    expense_line::Entity::find()
        .filter(expense_line::Column::TenantId.eq(tenant.as_str()))
        .filter(expense_line::Column::ExpenseId.is_in(claim_ids))
        .order_by_asc(expense_line::Column::ExpenseId)
        .order_by_asc(expense_line::Column::LineNo)
        .all(conn)
        .await
}

/// What a state change also records.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    pub submitted: bool,
    pub decided_by: Option<String>,
    pub refusal_reason: Option<String>,
    pub approved_entry_id: Option<String>,
    pub paid_entry_id: Option<String>,
    /// A foreign claim's base total, fixed by its approval.
    pub base_total: Option<i64>,
    /// What its reimbursement paid in the base currency.
    pub paid_base: Option<i64>,
}

/// Moves a claim from `from` to `to`; false when it is not in `from` any more.
pub async fn transition<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    from: &str,
    to: &str,
    change: Transition,
) -> Result<bool, DbErr> {
    let now = chrono::Utc::now();
    let mut update = expense::Entity::update_many()
        .col_expr(expense::Column::State, Expr::value(to))
        .filter(expense::Column::TenantId.eq(tenant.as_str()))
        .filter(expense::Column::Id.eq(id))
        .filter(expense::Column::State.eq(from));
    if change.submitted {
        update = update.col_expr(expense::Column::SubmittedAt, Expr::value(now));
    }
    if let Some(by) = change.decided_by {
        update = update
            .col_expr(expense::Column::DecidedBy, Expr::value(by))
            .col_expr(expense::Column::DecidedAt, Expr::value(now));
    }
    if let Some(reason) = change.refusal_reason {
        update = update.col_expr(expense::Column::RefusalReason, Expr::value(reason));
    }
    if let Some(entry) = change.approved_entry_id {
        update = update.col_expr(expense::Column::ApprovedEntryId, Expr::value(entry));
    }
    if let Some(entry) = change.paid_entry_id {
        update = update
            .col_expr(expense::Column::PaidEntryId, Expr::value(entry))
            .col_expr(expense::Column::PaidAt, Expr::value(now));
    }
    if let Some(base_total) = change.base_total {
        update = update.col_expr(expense::Column::BaseTotal, Expr::value(base_total));
    }
    if let Some(paid_base) = change.paid_base {
        update = update.col_expr(expense::Column::PaidBase, Expr::value(paid_base));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Fixes a foreign claim's lines' rates and base amounts (its approval, which holds the claim).
pub async fn set_line_bases<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    bases: Vec<(String, i64, i64)>,
) -> Result<(), DbErr> {
    for (line_id, rate_nano, base_amount) in bases {
        expense_line::Entity::update_many()
            .col_expr(expense_line::Column::RateNano, Expr::value(rate_nano))
            .col_expr(expense_line::Column::BaseAmount, Expr::value(base_amount))
            .filter(expense_line::Column::TenantId.eq(tenant.as_str()))
            .filter(expense_line::Column::Id.eq(line_id))
            .exec(conn)
            .await?;
    }
    Ok(())
}
