//! Payroll's tenant-scoped reads and writes. Runs change state by conditional updates (`WHERE
//! state = <expected>`), so a step happens once even when two requests race; payslips and
//! failures are written in multi-row inserts (one statement per chunk, never one per slip).

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};

use erp_kit::db::insert_chunked;
use erp_kit::TenantId;

use super::entities::expense;
use super::entities::payroll::{
    additional, assignment, component, exit, failure, leave, leave_type, loan, loan_repayment,
    open_period, overtime, overtime_paid, person, policy, reimbursement, run, settings, slip,
    structure, structure_component, tax_slab,
};

/// Rows per multi-row INSERT: 12 columns x 1000 stays under PostgreSQL's 65,535 parameters.
const CHUNK: usize = 1000;

// --- Facts learnt from the employee subgraph ----------------------------------------------

/// Records a hire (keeps whatever compensation is already known).
pub async fn upsert_hired<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
    hired_on: Option<chrono::NaiveDate>,
) -> Result<(), DbErr> {
    person::Entity::insert(person::ActiveModel::from(person::Model {
        tenant_id: tenant.as_str().to_owned(),
        employee_id: employee_id.to_owned(),
        hired_on,
        currency: None,
        salary_sealed: None,
        bank_account_sealed: None,
        tax_id_sealed: None,
        updated_at: chrono::Utc::now(),
    }))
    .on_conflict(
        OnConflict::columns([person::Column::TenantId, person::Column::EmployeeId])
            .update_columns([person::Column::HiredOn, person::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Records an employee's sealed compensation (the newest event wins).
pub async fn upsert_compensation<C: ConnectionTrait>(
    conn: &C,
    row: person::Model,
) -> Result<(), DbErr> {
    person::Entity::insert(person::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([person::Column::TenantId, person::Column::EmployeeId])
                .update_columns([
                    person::Column::Currency,
                    person::Column::SalarySealed,
                    person::Column::BankAccountSealed,
                    person::Column::TaxIdSealed,
                    person::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes people's pay facts (hire date and sealed pay) with multi-row statements; a person
/// stored already gets the new values (the newest wins).
pub async fn upsert_people<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<person::Model>,
) -> Result<(), DbErr> {
    let newest_wins = OnConflict::columns([person::Column::TenantId, person::Column::EmployeeId])
        .update_columns([
            person::Column::HiredOn,
            person::Column::Currency,
            person::Column::SalarySealed,
            person::Column::BankAccountSealed,
            person::Column::TaxIdSealed,
            person::Column::UpdatedAt,
        ])
        .to_owned();
    insert_chunked(conn, person::Entity, rows, CHUNK, Some(newest_wins)).await?;
    Ok(())
}

/// The employees among `employee_ids` with any structure assignment.
pub async fn assigned_among<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_ids: &[String],
) -> Result<std::collections::HashSet<String>, DbErr> {
    let mut assigned = std::collections::HashSet::new();
    for chunk in employee_ids.chunks(CHUNK) {
        for row in assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(tenant.as_str()))
            .filter(assignment::Column::EmployeeId.is_in(chunk.iter().cloned()))
            .all(conn)
            .await?
        {
            assigned.insert(row.employee_id);
        }
    }
    Ok(assigned)
}

/// Writes structure assignments with multi-row statements.
pub async fn insert_assignments<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<assignment::Model>,
) -> Result<(), DbErr> {
    insert_chunked(conn, assignment::Entity, rows, CHUNK, None).await?;
    Ok(())
}

pub async fn people<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(person::Column::EmployeeId)
        .all(conn)
        .await
}

pub async fn upsert_leave_type<C: ConnectionTrait>(
    conn: &C,
    row: leave_type::Model,
) -> Result<(), DbErr> {
    leave_type::Entity::insert(leave_type::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                leave_type::Column::TenantId,
                leave_type::Column::LeaveTypeId,
            ])
            .update_column(leave_type::Column::Paid)
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn upsert_leave<C: ConnectionTrait>(conn: &C, row: leave::Model) -> Result<(), DbErr> {
    leave::Entity::insert(leave::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([leave::Column::TenantId, leave::Column::RequestId])
                .update_columns([
                    leave::Column::StartDate,
                    leave::Column::EndDate,
                    leave::Column::MilliDays,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn delete_leave<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    request_id: &str,
) -> Result<(), DbErr> {
    leave::Entity::delete_many()
        .filter(leave::Column::TenantId.eq(tenant.as_str()))
        .filter(leave::Column::RequestId.eq(request_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Approved leave starting in `[from, to]`, with whether its type is paid (unknown types
/// count as paid: only leave known to be unpaid reduces pay).
pub async fn leave_in<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Vec<(leave::Model, bool)>, DbErr> {
    let rows = leave::Entity::find()
        .filter(leave::Column::TenantId.eq(tenant.as_str()))
        .filter(leave::Column::StartDate.gte(from))
        .filter(leave::Column::StartDate.lte(to))
        .all(conn)
        .await?;
    let types = leave_type::Entity::find()
        .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let paid = types
                .iter()
                .find(|t| t.leave_type_id == row.leave_type_id)
                .is_none_or(|t| t.paid);
            (row, paid)
        })
        .collect())
}

/// Whether the tenant already has a data key in finance's key table (the consumer creates a
/// tenant's first key outside its inbox transaction: see `Finance::payroll_key_ready`).
pub async fn has_data_key<C: ConnectionTrait>(conn: &C, tenant: &TenantId) -> Result<bool, DbErr> {
    let select = Query::select()
        .expr(Expr::col(Alias::new("tenant_id")))
        .from(Alias::new("finance_data_keys"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("purpose")).eq("data"))
        .to_owned();
    Ok(conn
        .query_one(conn.get_database_backend().build(&select))
        .await?
        .is_some())
}

// --- Configuration ---------------------------------------------------------------------------

pub async fn insert_component<C: ConnectionTrait>(
    conn: &C,
    row: component::Model,
) -> Result<(), DbErr> {
    component::Entity::insert(component::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn components<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<component::Model>, DbErr> {
    component::Entity::find()
        .filter(component::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(component::Column::Code)
        .all(conn)
        .await
}

pub async fn insert_structure<C: ConnectionTrait>(
    conn: &C,
    row: structure::Model,
    members: Vec<structure_component::Model>,
) -> Result<(), DbErr> {
    structure::Entity::insert(structure::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    structure_component::Entity::insert_many(
        members
            .into_iter()
            .map(structure_component::ActiveModel::from),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub async fn structures<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<structure::Model>, DbErr> {
    structure::Entity::find()
        .filter(structure::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(structure::Column::Code)
        .all(conn)
        .await
}

/// Every structure's components, in order.
pub async fn structure_members<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<structure_component::Model>, DbErr> {
    structure_component::Entity::find()
        .filter(structure_component::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(structure_component::Column::StructureId)
        .order_by_asc(structure_component::Column::Position)
        .all(conn)
        .await
}

pub async fn insert_assignment<C: ConnectionTrait>(
    conn: &C,
    row: assignment::Model,
) -> Result<(), DbErr> {
    assignment::Entity::insert(assignment::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Assignments effective on or before `on`, newest first per employee.
pub async fn assignments_until<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    on: chrono::NaiveDate,
) -> Result<Vec<assignment::Model>, DbErr> {
    assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::EffectiveFrom.lte(on))
        .order_by_asc(assignment::Column::EmployeeId)
        .order_by_desc(assignment::Column::EffectiveFrom)
        .all(conn)
        .await
}

/// Whether the employee has any structure assignment.
pub async fn has_assignment<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<bool, DbErr> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::EmployeeId.eq(employee_id))
        .count(conn)
        .await?
        > 0)
}

/// Replaces a fiscal year's slabs.
pub async fn replace_tax_slabs<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    fiscal_year: &str,
    rows: Vec<tax_slab::Model>,
) -> Result<(), DbErr> {
    tax_slab::Entity::delete_many()
        .filter(tax_slab::Column::TenantId.eq(tenant.as_str()))
        .filter(tax_slab::Column::FiscalYear.eq(fiscal_year))
        .exec(conn)
        .await?;
    tax_slab::Entity::insert_many(rows.into_iter().map(tax_slab::ActiveModel::from))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn tax_slabs<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    fiscal_year: &str,
) -> Result<Vec<tax_slab::Model>, DbErr> {
    tax_slab::Entity::find()
        .filter(tax_slab::Column::TenantId.eq(tenant.as_str()))
        .filter(tax_slab::Column::FiscalYear.eq(fiscal_year))
        .order_by_asc(tax_slab::Column::Position)
        .all(conn)
        .await
}

pub async fn insert_additional<C: ConnectionTrait>(
    conn: &C,
    row: additional::Model,
) -> Result<(), DbErr> {
    additional::Entity::insert(additional::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn additional_for<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    period: &str,
) -> Result<Vec<additional::Model>, DbErr> {
    additional::Entity::find()
        .filter(additional::Column::TenantId.eq(tenant.as_str()))
        .filter(additional::Column::Period.eq(period))
        .order_by_asc(additional::Column::Id)
        .all(conn)
        .await
}

pub async fn settings<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Option<settings::Model>, DbErr> {
    settings::Entity::find_by_id(tenant.as_str().to_owned())
        .one(conn)
        .await
}

pub async fn insert_settings<C: ConnectionTrait>(
    conn: &C,
    row: settings::Model,
) -> Result<(), DbErr> {
    settings::Entity::insert(settings::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

// --- Runs -----------------------------------------------------------------------------------

/// Claims (period, run type) for a run: false when another run holds it.
pub async fn claim_period<C: ConnectionTrait>(
    conn: &C,
    row: open_period::Model,
) -> Result<bool, DbErr> {
    let inserted = open_period::Entity::insert(open_period::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                open_period::Column::TenantId,
                open_period::Column::Period,
                open_period::Column::RunType,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}

pub async fn period_holder<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    period: &str,
    run_type: &str,
) -> Result<Option<String>, DbErr> {
    Ok(open_period::Entity::find_by_id((
        tenant.as_str().to_owned(),
        period.to_owned(),
        run_type.to_owned(),
    ))
    .one(conn)
    .await?
    .map(|row| row.run_id))
}

pub async fn release_period<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<(), DbErr> {
    open_period::Entity::delete_many()
        .filter(open_period::Column::TenantId.eq(tenant.as_str()))
        .filter(open_period::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn insert_run<C: ConnectionTrait>(conn: &C, row: run::Model) -> Result<(), DbErr> {
    run::Entity::insert(run::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<run::Model>, DbErr> {
    run::Entity::find()
        .filter(run::Column::TenantId.eq(tenant.as_str()))
        .filter(run::Column::Id.eq(id))
        .one(conn)
        .await
}

pub async fn runs<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    period: Option<&str>,
) -> Result<Vec<run::Model>, DbErr> {
    let mut select = run::Entity::find().filter(run::Column::TenantId.eq(tenant.as_str()));
    if let Some(period) = period {
        select = select.filter(run::Column::Period.eq(period));
    }
    select.order_by_desc(run::Column::Id).all(conn).await
}

/// What a step changes besides the state.
#[derive(Debug, Default)]
pub struct RunChange {
    pub slip_count: Option<i32>,
    pub failed_count: Option<i32>,
    pub totals_sealed: Option<String>,
    pub bank_file: Option<(String, String)>,
    pub entry_id: Option<String>,
    pub payment_entry_id: Option<String>,
    pub reversal_entry_id: Option<String>,
    pub calculated_by: Option<String>,
    pub approved_by: Option<String>,
}

/// Moves a run from `from` to `to` (false when it was not in `from`).
pub async fn transition_run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
    from: &str,
    to: &str,
    change: RunChange,
) -> Result<bool, DbErr> {
    let mut update = run::Entity::update_many()
        .col_expr(run::Column::State, Expr::value(to))
        .col_expr(run::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(run::Column::TenantId.eq(tenant.as_str()))
        .filter(run::Column::Id.eq(id))
        .filter(run::Column::State.eq(from));
    if let Some(count) = change.slip_count {
        update = update.col_expr(run::Column::SlipCount, Expr::value(count));
    }
    if let Some(count) = change.failed_count {
        update = update.col_expr(run::Column::FailedCount, Expr::value(count));
    }
    if let Some(totals) = change.totals_sealed {
        update = update.col_expr(run::Column::TotalsSealed, Expr::value(totals));
    }
    if let Some((format, file)) = change.bank_file {
        update = update
            .col_expr(run::Column::BankFileFormat, Expr::value(format))
            .col_expr(run::Column::BankFileSealed, Expr::value(file));
    }
    if let Some(entry) = change.entry_id {
        update = update.col_expr(run::Column::EntryId, Expr::value(entry));
    }
    if let Some(entry) = change.payment_entry_id {
        update = update.col_expr(run::Column::PaymentEntryId, Expr::value(entry));
    }
    if let Some(entry) = change.reversal_entry_id {
        update = update.col_expr(run::Column::ReversalEntryId, Expr::value(entry));
    }
    if let Some(by) = change.calculated_by {
        update = update.col_expr(run::Column::CalculatedBy, Expr::value(by));
    }
    if let Some(by) = change.approved_by {
        update = update.col_expr(run::Column::ApprovedBy, Expr::value(by));
    }
    Ok(update.exec(conn).await?.rows_affected == 1)
}

// --- Payslips and failures ------------------------------------------------------------------

/// Removes a run's slips and failures (a recalculation replaces them).
pub async fn clear_run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<(), DbErr> {
    slip::Entity::delete_many()
        .filter(slip::Column::TenantId.eq(tenant.as_str()))
        .filter(slip::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    failure::Entity::delete_many()
        .filter(failure::Column::TenantId.eq(tenant.as_str()))
        .filter(failure::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    loan_repayment::Entity::delete_many()
        .filter(loan_repayment::Column::TenantId.eq(tenant.as_str()))
        .filter(loan_repayment::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    overtime_paid::Entity::delete_many()
        .filter(overtime_paid::Column::TenantId.eq(tenant.as_str()))
        .filter(overtime_paid::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    release_reimbursements(conn, tenant, run_id).await?;
    Ok(())
}

/// Inserts slips in multi-row statements.
pub async fn insert_slips<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<slip::Model>,
) -> Result<(), DbErr> {
    insert_chunked(conn, slip::Entity, rows, CHUNK, None).await?;
    Ok(())
}

pub async fn insert_failures<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<failure::Model>,
) -> Result<(), DbErr> {
    insert_chunked(conn, failure::Entity, rows, CHUNK, None).await?;
    Ok(())
}

pub async fn slips_of_run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<Vec<slip::Model>, DbErr> {
    slip::Entity::find()
        .filter(slip::Column::TenantId.eq(tenant.as_str()))
        .filter(slip::Column::RunId.eq(run_id))
        .order_by_asc(slip::Column::EmployeeId)
        .all(conn)
        .await
}

pub async fn slip_count<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<u64, DbErr> {
    slip::Entity::find()
        .filter(slip::Column::TenantId.eq(tenant.as_str()))
        .filter(slip::Column::RunId.eq(run_id))
        .count(conn)
        .await
}

/// Whether `employee_id` has a slip in the run.
pub async fn has_slip<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
    employee_id: &str,
) -> Result<bool, DbErr> {
    Ok(slip::Entity::find()
        .filter(slip::Column::TenantId.eq(tenant.as_str()))
        .filter(slip::Column::RunId.eq(run_id))
        .filter(slip::Column::EmployeeId.eq(employee_id))
        .count(conn)
        .await?
        > 0)
}

/// An employee's published slips (their run posted or paid), newest period first.
pub async fn published_slips_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Vec<slip::Model>, DbErr> {
    slip::Entity::find()
        .filter(slip::Column::TenantId.eq(tenant.as_str()))
        .filter(slip::Column::EmployeeId.eq(employee_id))
        .filter(slip::Column::State.is_in(["submitted", "paid"]))
        .order_by_desc(slip::Column::Period)
        .order_by_asc(slip::Column::RunType)
        .all(conn)
        .await
}

/// Moves every slip of a run to `state` (and, when cancelled, out of the live slot).
pub async fn set_slips_state<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
    state: &str,
) -> Result<(), DbErr> {
    let mut update = slip::Entity::update_many()
        .col_expr(slip::Column::State, Expr::value(state))
        .filter(slip::Column::TenantId.eq(tenant.as_str()))
        .filter(slip::Column::RunId.eq(run_id));
    if state == "cancelled" {
        update = update.col_expr(slip::Column::Slot, Expr::value(run_id));
    }
    update.exec(conn).await?;
    Ok(())
}

pub async fn failures_of_run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<Vec<failure::Model>, DbErr> {
    failure::Entity::find()
        .filter(failure::Column::TenantId.eq(tenant.as_str()))
        .filter(failure::Column::RunId.eq(run_id))
        .order_by_asc(failure::Column::EmployeeId)
        .all(conn)
        .await
}

// --- Leavers ------------------------------------------------------------------------------

/// Records (or moves) an employee's last working day: a scheduled exit, then the exit in effect.
pub async fn upsert_exit<C: ConnectionTrait>(conn: &C, row: exit::Model) -> Result<(), DbErr> {
    exit::Entity::insert(exit::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([exit::Column::TenantId, exit::Column::EmployeeId])
                .update_columns([
                    exit::Column::LastWorkingDay,
                    exit::Column::State,
                    exit::Column::Reason,
                    exit::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Forgets a scheduled exit (cancelled before it took effect); an exit in effect stays.
pub async fn delete_scheduled_exit<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<u64, DbErr> {
    Ok(exit::Entity::delete_many()
        .filter(exit::Column::TenantId.eq(tenant.as_str()))
        .filter(exit::Column::EmployeeId.eq(employee_id))
        .filter(exit::Column::State.eq("scheduled"))
        .exec(conn)
        .await?
        .rows_affected)
}

pub async fn exits<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<exit::Model>, DbErr> {
    exit::Entity::find()
        .filter(exit::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(exit::Column::EmployeeId)
        .all(conn)
        .await
}

pub async fn exit_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Option<exit::Model>, DbErr> {
    exit::Entity::find()
        .filter(exit::Column::TenantId.eq(tenant.as_str()))
        .filter(exit::Column::EmployeeId.eq(employee_id))
        .one(conn)
        .await
}

pub async fn person<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant.as_str()))
        .filter(person::Column::EmployeeId.eq(employee_id))
        .one(conn)
        .await
}

// --- Loans --------------------------------------------------------------------------------

pub async fn insert_loan<C: ConnectionTrait>(conn: &C, row: loan::Model) -> Result<(), DbErr> {
    loan::Entity::insert(loan::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn loan<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    loan_id: &str,
) -> Result<Option<loan::Model>, DbErr> {
    loan::Entity::find()
        .filter(loan::Column::TenantId.eq(tenant.as_str()))
        .filter(loan::Column::Id.eq(loan_id))
        .one(conn)
        .await
}

/// The open loans whose first instalment falls in or before `period`, oldest first.
pub async fn open_loans_until<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    period: &str,
) -> Result<Vec<loan::Model>, DbErr> {
    loan::Entity::find()
        .filter(loan::Column::TenantId.eq(tenant.as_str()))
        .filter(loan::Column::State.eq("open"))
        .filter(loan::Column::StartPeriod.lte(period))
        .order_by_asc(loan::Column::Id)
        .all(conn)
        .await
}

/// A page of the tenant's loans (of one employee when given), in the order they were granted.
pub async fn loan_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    employee_id: Option<&str>,
    page: &erp_kit::pagination::PageRequest,
) -> Result<Vec<loan::Model>, DbErr> {
    let mut query = loan::Entity::find().filter(loan::Column::TenantId.eq(tenant.as_str()));
    if let Some(employee) = employee_id {
        query = query.filter(loan::Column::EmployeeId.eq(employee));
    }
    erp_kit::pagination::keyset_page(query, loan::Column::Id, page)
        .all(conn)
        .await
}

pub async fn set_loan_state<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    loan_id: &str,
    state: &str,
    closed_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), DbErr> {
    loan::Entity::update_many()
        .col_expr(loan::Column::State, Expr::value(state))
        .col_expr(loan::Column::ClosedAt, Expr::value(closed_at))
        .filter(loan::Column::TenantId.eq(tenant.as_str()))
        .filter(loan::Column::Id.eq(loan_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The repayments of these loans (every state), in period order.
pub async fn repayments_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    loan_ids: Vec<String>,
) -> Result<Vec<loan_repayment::Model>, DbErr> {
    loan_repayment::Entity::find()
        .filter(loan_repayment::Column::TenantId.eq(tenant.as_str()))
        .filter(loan_repayment::Column::LoanId.is_in(loan_ids))
        .order_by_asc(loan_repayment::Column::Period)
        .order_by_asc(loan_repayment::Column::CreatedAt)
        .all(conn)
        .await
}

pub async fn repayments_of_run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<Vec<loan_repayment::Model>, DbErr> {
    loan_repayment::Entity::find()
        .filter(loan_repayment::Column::TenantId.eq(tenant.as_str()))
        .filter(loan_repayment::Column::RunId.eq(run_id))
        .order_by_asc(loan_repayment::Column::LoanId)
        .all(conn)
        .await
}

pub async fn insert_repayments<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<loan_repayment::Model>,
) -> Result<(), DbErr> {
    insert_chunked(conn, loan_repayment::Entity, rows, CHUNK, None).await?;
    Ok(())
}

/// Moves every repayment of a run to `state` (posted with the run, cancelled with it).
pub async fn set_repayments_state<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
    state: &str,
) -> Result<(), DbErr> {
    loan_repayment::Entity::update_many()
        .col_expr(loan_repayment::Column::State, Expr::value(state))
        .filter(loan_repayment::Column::TenantId.eq(tenant.as_str()))
        .filter(loan_repayment::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    Ok(())
}

// --- Overtime, policy and reimbursements -----------------------------------------------------

/// Records an employee's approved overtime of a period: a fact of the same or a newer
/// revision than the one held replaces it, an older one (a stale delivery) changes nothing.
pub async fn upsert_overtime<C: ConnectionTrait>(
    conn: &C,
    row: overtime::Model,
) -> Result<(), DbErr> {
    overtime::Entity::insert(overtime::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                overtime::Column::TenantId,
                overtime::Column::EmployeeId,
                overtime::Column::Period,
            ])
            .update_columns([
                overtime::Column::OvertimeMinutes,
                overtime::Column::UpdatedAt,
                overtime::Column::Revision,
            ])
            .action_and_where(
                Expr::col((overtime::Entity, overtime::Column::Revision)).lte(Expr::col((
                    Alias::new("excluded"),
                    overtime::Column::Revision,
                ))),
            )
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Every employee's approved overtime of `period`.
pub async fn overtime_in<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    period: &str,
) -> Result<Vec<overtime::Model>, DbErr> {
    overtime::Entity::find()
        .filter(overtime::Column::TenantId.eq(tenant.as_str()))
        .filter(overtime::Column::Period.eq(period))
        .all(conn)
        .await
}

pub async fn policy<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Option<policy::Model>, DbErr> {
    policy::Entity::find_by_id(tenant.as_str().to_owned())
        .one(conn)
        .await
}

pub async fn upsert_policy<C: ConnectionTrait>(conn: &C, row: policy::Model) -> Result<(), DbErr> {
    policy::Entity::insert(policy::ActiveModel::from(row))
        .on_conflict(
            OnConflict::column(policy::Column::TenantId)
                .update_columns([
                    policy::Column::OvertimeMultiplierPpm,
                    policy::Column::AnnualHours,
                    policy::Column::UpdatedBy,
                    policy::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Queues a claim for payroll; false when it is queued already.
pub async fn insert_reimbursement<C: ConnectionTrait>(
    conn: &C,
    row: reimbursement::Model,
) -> Result<bool, DbErr> {
    let inserted = reimbursement::Entity::insert(reimbursement::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                reimbursement::Column::TenantId,
                reimbursement::Column::ExpenseId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(inserted == 1)
}

pub async fn reimbursement<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    expense_id: &str,
) -> Result<Option<reimbursement::Model>, DbErr> {
    reimbursement::Entity::find_by_id((tenant.as_str().to_owned(), expense_id.to_owned()))
        .one(conn)
        .await
}

/// The queued claims a calculation of `run_id` may pay: still approved (not paid), and free
/// or reserved by this run. Oldest queued first.
pub async fn reimbursable<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<Vec<(reimbursement::Model, expense::Model)>, DbErr> {
    let queued = reimbursement::Entity::find()
        .filter(reimbursement::Column::TenantId.eq(tenant.as_str()))
        .filter(
            Condition::any()
                .add(reimbursement::Column::RunId.is_null())
                .add(reimbursement::Column::RunId.eq(run_id)),
        )
        .order_by_asc(reimbursement::Column::QueuedAt)
        .order_by_asc(reimbursement::Column::ExpenseId)
        .all(conn)
        .await?;
    if queued.is_empty() {
        return Ok(Vec::new());
    }
    let claims: std::collections::HashMap<String, expense::Model> = expense::Entity::find()
        .filter(expense::Column::TenantId.eq(tenant.as_str()))
        .filter(expense::Column::Id.is_in(queued.iter().map(|r| r.expense_id.clone())))
        .filter(expense::Column::State.eq("approved"))
        .all(conn)
        .await?
        .into_iter()
        .map(|claim| (claim.id.clone(), claim))
        .collect();
    Ok(queued
        .into_iter()
        .filter_map(|row| {
            let claim = claims.get(&row.expense_id)?.clone();
            Some((row, claim))
        })
        .collect())
}

/// Reserves queued claims for a run; answers how many were free (or its own) to reserve.
pub async fn reserve_reimbursements<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
    expense_ids: Vec<String>,
) -> Result<u64, DbErr> {
    if expense_ids.is_empty() {
        return Ok(0);
    }
    Ok(reimbursement::Entity::update_many()
        .col_expr(reimbursement::Column::RunId, Expr::value(run_id))
        .filter(reimbursement::Column::TenantId.eq(tenant.as_str()))
        .filter(reimbursement::Column::ExpenseId.is_in(expense_ids))
        .filter(reimbursement::Column::RunId.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// Frees the claims a run reserved (a recalculation reserves again what it pays).
pub async fn release_reimbursements<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<(), DbErr> {
    reimbursement::Entity::update_many()
        .col_expr(
            reimbursement::Column::RunId,
            Expr::value(Option::<String>::None),
        )
        .filter(reimbursement::Column::TenantId.eq(tenant.as_str()))
        .filter(reimbursement::Column::RunId.eq(run_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn reimbursements_of_run<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
) -> Result<Vec<reimbursement::Model>, DbErr> {
    reimbursement::Entity::find()
        .filter(reimbursement::Column::TenantId.eq(tenant.as_str()))
        .filter(reimbursement::Column::RunId.eq(run_id))
        .all(conn)
        .await
}

/// Moves claims from `from` to `to` (`approved` -> `paid` when their run posts, back when it
/// is cancelled); answers how many moved. The claim's settlement is its run's entry, found
/// through its reimbursement row (`paid_entry_id` is the bank payment's, unique per claim).
pub async fn settle_claims<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    expense_ids: Vec<String>,
    from: &str,
    to: &str,
) -> Result<u64, DbErr> {
    if expense_ids.is_empty() {
        return Ok(0);
    }
    let paid_at = (to == "paid").then(chrono::Utc::now);
    Ok(expense::Entity::update_many()
        .col_expr(expense::Column::State, Expr::value(to))
        .col_expr(expense::Column::PaidAt, Expr::value(paid_at))
        .filter(expense::Column::TenantId.eq(tenant.as_str()))
        .filter(expense::Column::Id.is_in(expense_ids))
        .filter(expense::Column::State.eq(from))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Records the overtime minutes a run accounted for, in multi-row statements.
pub async fn insert_overtime_paid<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<overtime_paid::Model>,
) -> Result<(), DbErr> {
    insert_chunked(conn, overtime_paid::Entity, rows, CHUNK, None).await?;
    Ok(())
}

/// The overtime still owed of months before `before` whose regular run is posted (or paid):
/// each employee-month's approved minutes less what runs not cancelled, other than `run_id`,
/// accounted for; only those not zero (below zero when a correction of a closed day took
/// away overtime already paid), as (employee, month, minutes), by month. Three reads
/// (the tenant's regular runs, then the approved and the accounted minutes of their months).
pub async fn overtime_owed<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    run_id: &str,
    before: &str,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    let runs = run::Entity::find()
        .filter(run::Column::TenantId.eq(tenant.as_str()))
        .all(conn)
        .await?;
    let mut posted: Vec<String> = runs
        .iter()
        .filter(|r| r.run_type == "regular" && (r.state == "posted" || r.state == "paid"))
        .filter(|r| r.period.as_str() < before)
        .map(|r| r.period.clone())
        .collect();
    posted.sort();
    posted.dedup();
    if posted.is_empty() {
        return Ok(Vec::new());
    }
    let counted: std::collections::HashSet<&str> = runs
        .iter()
        .filter(|r| r.state != "cancelled" && r.id != run_id)
        .map(|r| r.id.as_str())
        .collect();
    let mut accounted: std::collections::HashMap<(String, String), i64> =
        std::collections::HashMap::new();
    for row in overtime_paid::Entity::find()
        .filter(overtime_paid::Column::TenantId.eq(tenant.as_str()))
        .filter(overtime_paid::Column::Period.is_in(posted.iter().cloned()))
        .all(conn)
        .await?
    {
        if counted.contains(row.run_id.as_str()) {
            *accounted.entry((row.employee_id, row.period)).or_default() += row.minutes;
        }
    }
    let mut owed: Vec<(String, String, i64)> = overtime::Entity::find()
        .filter(overtime::Column::TenantId.eq(tenant.as_str()))
        .filter(overtime::Column::Period.is_in(posted))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| {
            let done = accounted
                .get(&(row.employee_id.clone(), row.period.clone()))
                .copied()
                .unwrap_or(0);
            // Below zero: a correction took away overtime a run paid (a recovery).
            let left = row.overtime_minutes - done;
            (left != 0).then_some((row.employee_id, row.period, left))
        })
        .collect();
    owed.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    Ok(owed)
}
