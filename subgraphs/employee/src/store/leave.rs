//! Leave: types, policies and their assignments, holidays, requests and the balance ledger.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};

use erp_kit::db::insert_chunked;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{
    leave_assignment as assignment, leave_holiday as holiday, leave_ledger as ledger,
    leave_policy as policy, leave_policy_line as policy_line, leave_request as request, leave_type,
};
use crate::domain::leave::{
    AccrualFrequency, AccrualPeriod, LeaveSpan, LeaveStatus, LeaveTypeRules, LedgerKind,
};

/// Filters of the request list; `visible_to` restricts it to an employee's own requests and
/// the ones they approve (None: all, for HR).
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<LeaveStatus>,
    pub employee_id: Option<String>,
    pub visible_to: Option<String>,
}

/// A request to write.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub employee_id: String,
    pub leave_type_id: String,
    pub span: LeaveSpan,
    pub days: i64,
    pub reason: Option<String>,
    pub status: LeaveStatus,
    /// The manager who approves the first step and sees the request.
    pub manager_id: Option<String>,
    pub created_at: i64,
}

/// A ledger entry to write.
#[derive(Debug, Clone)]
pub struct LedgerEntry<'a> {
    pub employee_id: &'a str,
    pub leave_type_id: &'a str,
    pub kind: LedgerKind,
    pub amount: i64,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
    pub request_id: Option<&'a str>,
    /// The idempotency key of the entry: the accrual period, the closed year, the request.
    pub period: Option<String>,
    pub created_by: &'a str,
    pub created_at: i64,
}

fn pending_statuses() -> [&'static str; 2] {
    [
        LeaveStatus::PendingManager.as_str(),
        LeaveStatus::PendingHr.as_str(),
    ]
}

pub async fn insert_leave_type(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    code: &str,
    name: &str,
    rules: &LeaveTypeRules,
    now_ms: i64,
) -> Result<leave_type::Model, DbErr> {
    leave_type::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        code: Set(code.to_owned()),
        name: Set(name.to_owned()),
        paid: Set(rules.paid),
        allows_half_day: Set(rules.allows_half_day),
        requires_approval: Set(rules.requires_approval),
        max_consecutive: Set(rules.max_consecutive),
        allow_negative_balance: Set(rules.allow_negative_balance),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn leave_type(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<leave_type::Model>, DbErr> {
    leave_type::Entity::find_by_id(id.to_owned())
        .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// The tenant's leave types, one page in creation order.
pub async fn list_leave_types(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<leave_type::Model>, DbErr> {
    let query = leave_type::Entity::find().filter(leave_type::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, leave_type::Column::Id, page)
        .all(db)
        .await
}

/// Every leave type of the tenant.
pub async fn all_leave_types(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<leave_type::Model>, DbErr> {
    leave_type::Entity::find()
        .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
        .all(db)
        .await
}

/// Leave types by id (one query).
pub async fn leave_types_by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, leave_type::Model>, DbErr> {
    Ok(leave_type::Entity::find()
        .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
        .filter(leave_type::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect())
}

pub async fn insert_policy(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    name: &str,
    frequency: AccrualFrequency,
    prorate_joiners: bool,
    weekend_days: String,
    now_ms: i64,
) -> Result<policy::Model, DbErr> {
    policy::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        name: Set(name.to_owned()),
        accrual: Set(frequency.as_str().to_owned()),
        prorate_joiners: Set(prorate_joiners),
        weekend_days: Set(weekend_days),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

pub async fn insert_policy_line(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    policy_id: &str,
    leave_type_id: &str,
    accrual_amount: i64,
    carry_forward_max: i64,
) -> Result<policy_line::Model, DbErr> {
    policy_line::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        policy_id: Set(policy_id.to_owned()),
        leave_type_id: Set(leave_type_id.to_owned()),
        accrual_amount: Set(accrual_amount),
        carry_forward_max: Set(carry_forward_max),
    }
    .insert(db)
    .await
}

pub async fn policy(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<policy::Model>, DbErr> {
    policy::Entity::find_by_id(id.to_owned())
        .filter(policy::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// The tenant's policies that accrue with `frequency`, by id.
pub async fn policies_accruing(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    frequency: AccrualFrequency,
) -> Result<HashMap<String, policy::Model>, DbErr> {
    Ok(policy::Entity::find()
        .filter(policy::Column::TenantId.eq(tenant.as_str()))
        .filter(policy::Column::Accrual.eq(frequency.as_str()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect())
}

/// The lines of these policies, by policy (one query).
pub async fn policy_lines(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    policy_ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, Vec<policy_line::Model>>, DbErr> {
    let mut lines: HashMap<String, Vec<policy_line::Model>> = HashMap::new();
    for line in policy_line::Entity::find()
        .filter(policy_line::Column::TenantId.eq(tenant.as_str()))
        .filter(policy_line::Column::PolicyId.is_in(policy_ids))
        .all(db)
        .await?
    {
        lines.entry(line.policy_id.clone()).or_default().push(line);
    }
    Ok(lines)
}

/// The policy an employee is on, if any.
pub async fn assignment_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Option<assignment::Model>, DbErr> {
    assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::EmployeeId.eq(employee_id))
        .one(db)
        .await
}

/// Puts an employee on a policy: replaces `existing` when there is one.
pub async fn save_assignment(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    existing: Option<assignment::Model>,
    employee_id: &str,
    policy_id: &str,
    holiday_location_id: Option<String>,
    now_ms: i64,
) -> Result<assignment::Model, DbErr> {
    match existing {
        Some(existing) => {
            let mut active: assignment::ActiveModel = existing.into();
            active.policy_id = Set(policy_id.to_owned());
            active.holiday_location_id = Set(holiday_location_id);
            active.assigned_at = Set(now_ms);
            active.update(db).await
        }
        None => {
            assignment::ActiveModel {
                id: Set(erp_kit::db::new_id()),
                tenant_id: Set(tenant.as_str().to_owned()),
                employee_id: Set(employee_id.to_owned()),
                policy_id: Set(policy_id.to_owned()),
                holiday_location_id: Set(holiday_location_id),
                assigned_at: Set(now_ms),
            }
            .insert(db)
            .await
        }
    }
}

/// The assignments to these policies (all of the tenant's when `policy_ids` is `None`).
pub async fn assignments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    policy_ids: Option<Vec<String>>,
) -> Result<Vec<assignment::Model>, DbErr> {
    let mut query =
        assignment::Entity::find().filter(assignment::Column::TenantId.eq(tenant.as_str()));
    if let Some(ids) = policy_ids {
        query = query.filter(assignment::Column::PolicyId.is_in(ids));
    }
    query.all(db).await
}

/// A holiday of a calendar: a location's id, or `""` for the tenant-wide calendar.
pub async fn insert_holiday(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    calendar: String,
    day: NaiveDate,
    name: &str,
    now_ms: i64,
) -> Result<holiday::Model, DbErr> {
    holiday::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        calendar: Set(calendar),
        day: Set(day),
        name: Set(name.to_owned()),
        created_at: Set(now_ms),
    }
    .insert(db)
    .await
}

/// Holidays of one year, of the tenant-wide calendar and (when given) one location's.
pub async fn list_holidays(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    year: i32,
    location_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<holiday::Model>, DbErr> {
    let calendars = match location_id {
        Some(location) => vec![String::new(), location.to_owned()],
        None => vec![String::new()],
    };
    let (first, last) = (
        AccrualPeriod::Year { year }.first_day(),
        AccrualPeriod::Year { year }.last_day(),
    );
    let query = holiday::Entity::find()
        .filter(holiday::Column::TenantId.eq(tenant.as_str()))
        .filter(holiday::Column::Calendar.is_in(calendars))
        .filter(holiday::Column::Day.between(first, last));
    keyset_page(query, holiday::Column::Id, page).all(db).await
}

/// The holidays of these calendars from `start` to `end`.
pub async fn holidays_between(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    calendars: Vec<String>,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<HashSet<NaiveDate>, DbErr> {
    Ok(holiday::Entity::find()
        .filter(holiday::Column::TenantId.eq(tenant.as_str()))
        .filter(holiday::Column::Calendar.is_in(calendars))
        .filter(holiday::Column::Day.between(start, end))
        .all(db)
        .await?
        .into_iter()
        .map(|h| h.day)
        .collect())
}

pub async fn insert_request(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: NewRequest,
) -> Result<request::Model, DbErr> {
    let approved_at = (new.status == LeaveStatus::Approved).then_some(new.created_at);
    request::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        employee_id: Set(new.employee_id),
        leave_type_id: Set(new.leave_type_id),
        start_date: Set(new.span.start),
        end_date: Set(new.span.end),
        start_half: Set(new.span.start_half.map(|h| h.as_str().to_owned())),
        end_half: Set(new.span.end_half.map(|h| h.as_str().to_owned())),
        days: Set(new.days),
        reason: Set(new.reason),
        status: Set(new.status.as_str().to_owned()),
        manager_id: Set(new.manager_id),
        manager_approved_by: Set(None),
        manager_approved_at: Set(None),
        decided_by: Set(None),
        decided_at: Set(approved_at),
        decision_comment: Set(None),
        cancelled_at: Set(None),
        created_at: Set(new.created_at),
        updated_at: Set(new.created_at),
    }
    .insert(db)
    .await
}

/// A request of the tenant.
pub async fn leave_request(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<request::Model>, DbErr> {
    request::Entity::find_by_id(id.to_owned())
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await
}

/// Reads a request for a change: the employee's row is locked first (the order every balance
/// write follows), then the request is read again under that lock.
pub async fn lock_request(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<request::Model>, DbErr> {
    let Some(first) = leave_request(txn, tenant, id).await? else {
        return Ok(None);
    };
    super::people::lock_employee(txn, tenant, &first.employee_id).await?;
    request::Entity::find_by_id(id.to_owned())
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(txn)
        .await
}

/// The manager approved the first step: the request goes to HR.
pub async fn record_manager_approval(
    db: &impl ConnectionTrait,
    current: request::Model,
    by: &str,
    comment: Option<String>,
    now_ms: i64,
) -> Result<request::Model, DbErr> {
    let mut active: request::ActiveModel = current.into();
    active.status = Set(LeaveStatus::PendingHr.as_str().to_owned());
    active.manager_approved_by = Set(Some(by.to_owned()));
    active.manager_approved_at = Set(Some(now_ms));
    active.decision_comment = Set(comment);
    active.updated_at = Set(now_ms);
    active.update(db).await
}

/// The final decision: approved or rejected.
pub async fn record_decision(
    db: &impl ConnectionTrait,
    current: request::Model,
    status: LeaveStatus,
    by: &str,
    comment: Option<String>,
    now_ms: i64,
) -> Result<request::Model, DbErr> {
    let mut active: request::ActiveModel = current.into();
    active.status = Set(status.as_str().to_owned());
    active.decided_by = Set(Some(by.to_owned()));
    active.decided_at = Set(Some(now_ms));
    active.decision_comment = Set(comment);
    active.updated_at = Set(now_ms);
    active.update(db).await
}

pub async fn record_cancellation(
    db: &impl ConnectionTrait,
    current: request::Model,
    now_ms: i64,
) -> Result<request::Model, DbErr> {
    let mut active: request::ActiveModel = current.into();
    active.status = Set(LeaveStatus::Cancelled.as_str().to_owned());
    active.cancelled_at = Set(Some(now_ms));
    active.updated_at = Set(now_ms);
    active.update(db).await
}

/// The employee's pending and approved requests whose dates meet the span.
pub async fn active_requests(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    span: &LeaveSpan,
) -> Result<Vec<request::Model>, DbErr> {
    request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .filter(request::Column::EmployeeId.eq(employee_id))
        .filter(request::Column::Status.is_in([
            LeaveStatus::PendingManager.as_str(),
            LeaveStatus::PendingHr.as_str(),
            LeaveStatus::Approved.as_str(),
        ]))
        .filter(request::Column::StartDate.lte(span.end))
        .filter(request::Column::EndDate.gte(span.start))
        .all(db)
        .await
}

/// The employee's pending requests (all leave types).
pub async fn pending_requests_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: Option<&str>,
) -> Result<Vec<request::Model>, DbErr> {
    let mut query = request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .filter(request::Column::EmployeeId.eq(employee_id))
        .filter(request::Column::Status.is_in(pending_statuses()));
    if let Some(leave_type_id) = leave_type_id {
        query = query.filter(request::Column::LeaveTypeId.eq(leave_type_id));
    }
    query.all(db).await
}

/// One page of requests, newest last (ids are time-ordered).
pub async fn list_requests(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    filter: &RequestFilter,
    page: &PageRequest,
) -> Result<Vec<request::Model>, DbErr> {
    let mut query = request::Entity::find().filter(request::Column::TenantId.eq(tenant.as_str()));
    if let Some(status) = filter.status {
        query = query.filter(request::Column::Status.eq(status.as_str()));
    }
    if let Some(employee_id) = &filter.employee_id {
        query = query.filter(request::Column::EmployeeId.eq(employee_id.as_str()));
    }
    if let Some(viewer) = &filter.visible_to {
        query = query.filter(
            Condition::any()
                .add(request::Column::EmployeeId.eq(viewer.as_str()))
                .add(request::Column::ManagerId.eq(viewer.as_str())),
        );
    }
    keyset_page(query, request::Column::Id, page).all(db).await
}

/// One page of the requests waiting for an approver: the manager step of requests whose
/// manager is `manager_id`, and with `hr` the HR step of everybody else's.
pub async fn waiting_for(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    manager_id: Option<&str>,
    hr: bool,
    page: &PageRequest,
) -> Result<Vec<request::Model>, DbErr> {
    let mut waiting = Condition::any();
    if let Some(me) = manager_id {
        waiting = waiting.add(
            Condition::all()
                .add(request::Column::Status.eq(LeaveStatus::PendingManager.as_str()))
                .add(request::Column::ManagerId.eq(me)),
        );
    }
    if hr {
        let mut hr_step =
            Condition::all().add(request::Column::Status.eq(LeaveStatus::PendingHr.as_str()));
        if let Some(me) = manager_id {
            hr_step = hr_step.add(request::Column::EmployeeId.ne(me));
        }
        waiting = waiting.add(hr_step);
    }
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let query = request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .filter(waiting);
    keyset_page(query, request::Column::Id, page).all(db).await
}

/// The amounts of an employee's ledger of one leave type.
pub async fn ledger_amounts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: &str,
) -> Result<Vec<i64>, DbErr> {
    Ok(ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::EmployeeId.eq(employee_id))
        .filter(ledger::Column::LeaveTypeId.eq(leave_type_id))
        .all(db)
        .await?
        .into_iter()
        .map(|e| e.amount)
        .collect())
}

/// An employee's whole ledger (every leave type).
pub async fn ledger_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Vec<ledger::Model>, DbErr> {
    ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::EmployeeId.eq(employee_id))
        .all(db)
        .await
}

/// The tenant's ledger entries effective on or before `until`.
pub async fn ledger_until(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    until: NaiveDate,
) -> Result<Vec<ledger::Model>, DbErr> {
    ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::EffectiveOn.lte(until))
        .all(db)
        .await
}

/// The (employee, leave type) pairs whose accrual of `period` is written.
pub async fn accruals_posted(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    period: &str,
) -> Result<HashSet<(String, String)>, DbErr> {
    Ok(ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::Kind.eq(LedgerKind::Accrual.as_str()))
        .filter(ledger::Column::Period.eq(period))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.employee_id, e.leave_type_id))
        .collect())
}

/// The usage entry an approved request wrote (paid types only).
pub async fn usage_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    request_id: &str,
) -> Result<Option<ledger::Model>, DbErr> {
    ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::EmployeeId.eq(employee_id))
        .filter(ledger::Column::Kind.eq(LedgerKind::Usage.as_str()))
        .filter(ledger::Column::Period.eq(request_id))
        .one(db)
        .await
}

/// One page of an employee's ledger, optionally of one leave type, in entry order.
pub async fn ledger_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<ledger::Model>, DbErr> {
    let mut query = ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::EmployeeId.eq(employee_id));
    if let Some(leave_type_id) = leave_type_id {
        query = query.filter(ledger::Column::LeaveTypeId.eq(leave_type_id));
    }
    keyset_page(query, ledger::Column::Id, page).all(db).await
}

fn entry_model(tenant: &TenantId, entry: LedgerEntry<'_>) -> ledger::ActiveModel {
    ledger::ActiveModel {
        id: Set(erp_kit::db::new_id()),
        tenant_id: Set(tenant.as_str().to_owned()),
        employee_id: Set(entry.employee_id.to_owned()),
        leave_type_id: Set(entry.leave_type_id.to_owned()),
        kind: Set(entry.kind.as_str().to_owned()),
        amount: Set(entry.amount),
        effective_on: Set(entry.effective_on),
        reason: Set(entry.reason),
        request_id: Set(entry.request_id.map(str::to_owned)),
        period: Set(entry.period),
        created_by: Set(entry.created_by.to_owned()),
        created_at: Set(entry.created_at),
    }
}

pub async fn insert_entry(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    entry: LedgerEntry<'_>,
) -> Result<ledger::Model, DbErr> {
    entry_model(tenant, entry).insert(db).await
}

/// Writes entries with multi-row INSERTs.
pub async fn insert_entries(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    entries: Vec<LedgerEntry<'_>>,
) -> Result<(), DbErr> {
    // 12 columns a row: 400 rows stay under SQLite's and PostgreSQL's bind-parameter limits.
    let mut models = Vec::with_capacity(entries.len());
    for entry in entries {
        models.push(entry_model(tenant, entry));
    }
    insert_chunked(db, ledger::Entity, models, 400, None).await?;
    Ok(())
}
