//! Leave persistence: types, policies and assignments, holidays, requests and the balance
//! ledger. Every write runs in one transaction with its outbox event. Writes that move a
//! balance lock the employee's row first (PostgreSQL `FOR UPDATE`; SQLite serialises writers),
//! so two concurrent requests cannot both spend the same days or both pass the overlap check.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, Weekday};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::{ApiError, ApiResult, TenantId};

use super::entities::employee;
use super::EmployeeStore;
use crate::domain::leave::{
    accrual_for_period, balance, check_balance, check_cancel, check_overlap,
    check_request_against_type, close_year, count_leave_days, decide, initial_status, to_days,
    weekend_from_db, weekend_to_db, AccrualPeriod, ActorFacts, DayHalf, Decision, LeaveResult,
    LeaveSpan, LeaveStatus, LeaveTypeRules, LedgerKind, RequestFacts, WorkCalendar,
};
use crate::domain::EmploymentStatus;
use crate::events;

/// sea-orm entities of the leave tables (the same on PostgreSQL and SQLite).
pub mod entities {
    pub mod leave_type {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_types")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub code: String,
            pub name: String,
            pub paid: bool,
            pub allows_half_day: bool,
            pub requires_approval: bool,
            pub max_consecutive: Option<i64>,
            pub allow_negative_balance: bool,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod policy {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_policies")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub name: String,
            pub accrual: String,
            pub prorate_joiners: bool,
            pub weekend_days: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod policy_line {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_policy_lines")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub policy_id: String,
            pub leave_type_id: String,
            pub accrual_amount: i64,
            pub carry_forward_max: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod assignment {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_policy_assignments")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub employee_id: String,
            pub policy_id: String,
            pub holiday_location_id: Option<String>,
            pub assigned_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod holiday {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_holidays")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            /// A location id, or '' for the tenant-wide calendar.
            pub calendar: String,
            pub day: Date,
            pub name: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod request {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_requests")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub employee_id: String,
            pub leave_type_id: String,
            pub start_date: Date,
            pub end_date: Date,
            pub start_half: Option<String>,
            pub end_half: Option<String>,
            pub days: i64,
            pub reason: Option<String>,
            pub status: String,
            pub manager_id: Option<String>,
            pub manager_approved_by: Option<String>,
            pub manager_approved_at: Option<i64>,
            pub decided_by: Option<String>,
            pub decided_at: Option<i64>,
            pub decision_comment: Option<String>,
            pub cancelled_at: Option<i64>,
            pub created_at: i64,
            pub updated_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod ledger {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "leave_ledger")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub tenant_id: String,
            pub employee_id: String,
            pub leave_type_id: String,
            pub kind: String,
            pub amount: i64,
            pub effective_on: Date,
            pub reason: Option<String>,
            pub request_id: Option<String>,
            pub period: Option<String>,
            pub created_by: String,
            pub created_at: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use entities::{assignment, holiday, leave_type, ledger, policy, policy_line, request};

/// The weekly rest days when the employee has no policy.
pub const DEFAULT_WEEKEND: [Weekday; 2] = [Weekday::Sat, Weekday::Sun];

/// A validated leave type.
#[derive(Debug, Clone)]
pub struct NewLeaveType {
    pub code: String,
    pub name: String,
    pub rules: LeaveTypeRules,
}

/// One line of a policy: what a leave type earns per period and how much carries over a year.
#[derive(Debug, Clone)]
pub struct NewPolicyLine {
    pub leave_type_id: String,
    pub accrual_amount: i64,
    pub carry_forward_max: i64,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub name: String,
    pub frequency: crate::domain::leave::AccrualFrequency,
    pub prorate_joiners: bool,
    pub weekend: Vec<Weekday>,
    pub lines: Vec<NewPolicyLine>,
}

/// A validated request of the caller.
#[derive(Debug, Clone)]
pub struct NewLeaveRequest {
    pub leave_type_id: String,
    pub span: LeaveSpan,
    pub reason: Option<String>,
}

/// HR's correction of a balance (amount in hundredths of a day, either sign).
#[derive(Debug, Clone)]
pub struct BalanceAdjustment {
    pub employee_id: String,
    pub leave_type_id: String,
    pub amount: i64,
    pub reason: String,
}

/// Who acts on a request: the user, their employee record if any, and whether they are HR.
#[derive(Debug, Clone)]
pub struct LeaveActor {
    pub user_id: String,
    pub employee_id: Option<String>,
    pub is_hr: bool,
}

impl LeaveActor {
    pub fn facts(&self) -> ActorFacts<'_> {
        ActorFacts {
            employee_id: self.employee_id.as_deref(),
            is_hr: self.is_hr,
        }
    }
}

/// One balance of an employee.
#[derive(Debug, Clone)]
pub struct BalanceRow {
    pub leave_type: leave_type::Model,
    /// The sum of the ledger.
    pub balance: i64,
    /// Days held by pending requests.
    pub pending: i64,
}

/// Filters of the request list; `visible_to` restricts it to a viewer's own requests and the
/// ones they approve (None: HR sees all).
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<LeaveStatus>,
    pub employee_id: Option<String>,
    pub visible_to: Option<String>,
}

/// What an accrual run or a year close wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// Entries written by this run.
    pub created: u64,
    /// Entries an earlier run had already written (the run is idempotent).
    pub already_posted: u64,
    /// Total amount written, in hundredths of a day.
    pub amount: i64,
}

/// What a year close wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YearCloseOutcome {
    /// Balances closed by this run.
    pub balances_closed: u64,
    /// Balances an earlier run had closed.
    pub already_closed: u64,
    pub carried_forward: i64,
    pub lapsed: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn status_of(model: &request::Model) -> LeaveStatus {
    LeaveStatus::from_db(&model.status).unwrap_or(LeaveStatus::Cancelled)
}

/// The span a stored request covers.
pub fn span_of(model: &request::Model) -> LeaveSpan {
    LeaveSpan {
        start: model.start_date,
        end: model.end_date,
        start_half: model.start_half.as_deref().and_then(DayHalf::from_db),
        end_half: model.end_half.as_deref().and_then(DayHalf::from_db),
    }
}

/// A leave type's rules as the domain sees them.
pub fn rules_of(model: &leave_type::Model) -> LeaveTypeRules {
    LeaveTypeRules {
        paid: model.paid,
        allows_half_day: model.allows_half_day,
        requires_approval: model.requires_approval,
        max_consecutive: model.max_consecutive,
        allow_negative_balance: model.allow_negative_balance,
    }
}

fn facts_of(model: &request::Model) -> RequestFacts<'_> {
    RequestFacts {
        status: status_of(model),
        employee_id: &model.employee_id,
        manager_id: model.manager_id.as_deref(),
        start: model.start_date,
    }
}

/// The payload of the leave request events (schema version 1).
fn request_event(
    tenant: &TenantId,
    event_type: &str,
    model: &request::Model,
    actor: &str,
) -> ApiResult<EventEnvelope> {
    Ok(EventEnvelope::new(
        tenant,
        event_type,
        &model.id,
        events::LeaveRequestEvent {
            request_id: &model.id,
            employee_id: &model.employee_id,
            leave_type_id: &model.leave_type_id,
            start_date: model.start_date,
            end_date: model.end_date,
            start_half: model.start_half.as_deref(),
            end_half: model.end_half.as_deref(),
            days: to_days(model.days),
            status: &model.status,
            comment: model.decision_comment.as_deref(),
        },
    )
    .map_err(ApiError::internal)?
    .with_actor(actor))
}

fn simple_event(
    tenant: &TenantId,
    event_type: &str,
    aggregate: &str,
    actor: &str,
    payload: serde_json::Value,
) -> ApiResult<EventEnvelope> {
    Ok(EventEnvelope::new(tenant, event_type, aggregate, payload)
        .map_err(ApiError::internal)?
        .with_actor(actor))
}

fn conflict_as(message: &str) -> impl Fn(sea_orm::DbErr) -> ApiError + '_ {
    move |err| match ApiError::from(err) {
        ApiError::Conflict(_) => ApiError::Conflict(message.to_owned()),
        other => other,
    }
}

impl EmployeeStore {
    /// Creates a leave type (its code unique in the tenant).
    pub async fn create_leave_type(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewLeaveType,
    ) -> ApiResult<leave_type::Model> {
        let txn = begin_write(self.db()).await?;
        let model = leave_type::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant.as_str().to_owned()),
            code: Set(new.code.clone()),
            name: Set(new.name),
            paid: Set(new.rules.paid),
            allows_half_day: Set(new.rules.allows_half_day),
            requires_approval: Set(new.rules.requires_approval),
            max_consecutive: Set(new.rules.max_consecutive),
            allow_negative_balance: Set(new.rules.allow_negative_balance),
            created_at: Set(now_ms()),
        }
        .insert(&txn)
        .await
        .map_err(conflict_as(&format!(
            "a leave type with code `{}` exists",
            new.code
        )))?;
        let event = simple_event(
            tenant,
            events::LEAVE_TYPE_CREATED,
            &model.id,
            actor,
            serde_json::json!({ "leave_type_id": model.id, "code": model.code, "paid": model.paid }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// The tenant's leave types, one page in creation order.
    pub async fn list_leave_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<leave_type::Model>> {
        let query =
            leave_type::Entity::find().filter(leave_type::Column::TenantId.eq(tenant.as_str()));
        Ok(keyset_page(query, leave_type::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// Leave types by id (one query).
    pub async fn leave_types_by_ids(
        &self,
        tenant: &TenantId,
        ids: impl IntoIterator<Item = String>,
    ) -> ApiResult<HashMap<String, leave_type::Model>> {
        Ok(leave_type::Entity::find()
            .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
            .filter(leave_type::Column::Id.is_in(ids))
            .all(self.db())
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect())
    }

    /// Creates a policy with its lines; every line's leave type must exist in the tenant.
    pub async fn create_leave_policy(
        &self,
        tenant: &TenantId,
        actor: &str,
        new: NewPolicy,
    ) -> ApiResult<(policy::Model, Vec<policy_line::Model>)> {
        let txn = begin_write(self.db()).await?;
        let type_ids: HashSet<&str> = new.lines.iter().map(|l| l.leave_type_id.as_str()).collect();
        if type_ids.len() != new.lines.len() {
            return Err(ApiError::bad_input(
                "lines",
                "a leave type appears twice in the policy",
            ));
        }
        let found = leave_type::Entity::find()
            .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
            .filter(leave_type::Column::Id.is_in(type_ids.iter().map(|s| s.to_string())))
            .all(&txn)
            .await?;
        if found.len() != type_ids.len() {
            return Err(ApiError::bad_input("lines", "no such leave type"));
        }
        let model = policy::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(new.name.clone()),
            accrual: Set(new.frequency.as_str().to_owned()),
            prorate_joiners: Set(new.prorate_joiners),
            weekend_days: Set(weekend_to_db(&new.weekend)),
            created_at: Set(now_ms()),
        }
        .insert(&txn)
        .await
        .map_err(conflict_as(&format!(
            "a leave policy named `{}` exists",
            new.name
        )))?;
        let mut lines = Vec::new();
        for line in &new.lines {
            lines.push(
                policy_line::ActiveModel {
                    id: Set(new_id()),
                    tenant_id: Set(tenant.as_str().to_owned()),
                    policy_id: Set(model.id.clone()),
                    leave_type_id: Set(line.leave_type_id.clone()),
                    accrual_amount: Set(line.accrual_amount),
                    carry_forward_max: Set(line.carry_forward_max),
                }
                .insert(&txn)
                .await?,
            );
        }
        let event = simple_event(
            tenant,
            events::LEAVE_POLICY_CREATED,
            &model.id,
            actor,
            serde_json::json!({ "policy_id": model.id, "name": model.name, "accrual": model.accrual }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok((model, lines))
    }

    pub async fn leave_policy(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<(policy::Model, Vec<policy_line::Model>)>> {
        let Some(model) = policy::Entity::find_by_id(id.to_owned())
            .filter(policy::Column::TenantId.eq(tenant.as_str()))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let lines = policy_line::Entity::find()
            .filter(policy_line::Column::TenantId.eq(tenant.as_str()))
            .filter(policy_line::Column::PolicyId.eq(id))
            .all(self.db())
            .await?;
        Ok(Some((model, lines)))
    }

    /// Puts an employee on a policy (replacing the previous one), with the location whose
    /// holiday calendar applies to them.
    pub async fn assign_leave_policy(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        policy_id: &str,
        holiday_location_id: Option<String>,
    ) -> ApiResult<assignment::Model> {
        let txn = begin_write(self.db()).await?;
        let employee = lock_employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let policy_found = policy::Entity::find_by_id(policy_id.to_owned())
            .filter(policy::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?;
        if policy_found.is_none() {
            return Err(ApiError::bad_input("policyId", "no such leave policy"));
        }
        if let Some(location_id) = &holiday_location_id {
            let found = super::entities::location::Entity::find_by_id(location_id.clone())
                .filter(super::entities::location::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?;
            if found.is_none() {
                return Err(ApiError::bad_input("holidayLocationId", "no such location"));
            }
        }
        let existing = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(tenant.as_str()))
            .filter(assignment::Column::EmployeeId.eq(employee.id.as_str()))
            .one(&txn)
            .await?;
        let model = match existing {
            Some(existing) => {
                let mut active: assignment::ActiveModel = existing.into();
                active.policy_id = Set(policy_id.to_owned());
                active.holiday_location_id = Set(holiday_location_id);
                active.assigned_at = Set(now_ms());
                active.update(&txn).await?
            }
            None => {
                assignment::ActiveModel {
                    id: Set(new_id()),
                    tenant_id: Set(tenant.as_str().to_owned()),
                    employee_id: Set(employee.id.clone()),
                    policy_id: Set(policy_id.to_owned()),
                    holiday_location_id: Set(holiday_location_id),
                    assigned_at: Set(now_ms()),
                }
                .insert(&txn)
                .await?
            }
        };
        let event = simple_event(
            tenant,
            events::LEAVE_POLICY_ASSIGNED,
            &employee.id,
            actor,
            serde_json::json!({ "employee_id": employee.id, "policy_id": model.policy_id }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Adds a holiday to the tenant-wide calendar (no location) or a location's.
    pub async fn add_holiday(
        &self,
        tenant: &TenantId,
        actor: &str,
        day: NaiveDate,
        name: &str,
        location_id: Option<String>,
    ) -> ApiResult<holiday::Model> {
        let txn = begin_write(self.db()).await?;
        if let Some(location_id) = &location_id {
            let found = super::entities::location::Entity::find_by_id(location_id.clone())
                .filter(super::entities::location::Column::TenantId.eq(tenant.as_str()))
                .one(&txn)
                .await?;
            if found.is_none() {
                return Err(ApiError::bad_input("locationId", "no such location"));
            }
        }
        let model = holiday::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant.as_str().to_owned()),
            calendar: Set(location_id.unwrap_or_default()),
            day: Set(day),
            name: Set(name.to_owned()),
            created_at: Set(now_ms()),
        }
        .insert(&txn)
        .await
        .map_err(conflict_as(&format!(
            "this calendar already has a holiday on {day}"
        )))?;
        let event = simple_event(
            tenant,
            events::HOLIDAY_ADDED,
            &model.id,
            actor,
            serde_json::json!({
                "holiday_id": model.id,
                "day": model.day,
                "name": model.name,
                "location_id": (!model.calendar.is_empty()).then_some(&model.calendar),
            }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Holidays of one year, of the tenant-wide calendar and (when given) one location's.
    pub async fn list_holidays(
        &self,
        tenant: &TenantId,
        year: i32,
        location_id: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<holiday::Model>> {
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
        Ok(keyset_page(query, holiday::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// The employee record of a user, if there is one.
    pub async fn employee_of_user_opt(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> ApiResult<Option<employee::Model>> {
        Ok(employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::UserId.eq(user_id))
            .one(self.db())
            .await?)
    }

    /// Requests leave for `employee`: counts the working days, checks the type's rules, the
    /// overlap with the employee's pending and approved requests and the balance (minus what
    /// pending requests hold), then records the request, its `leave.requested` event, and
    /// when the type needs no approval its usage and `leave.approved`.
    pub async fn request_leave(
        &self,
        tenant: &TenantId,
        actor: &str,
        employee_id: &str,
        new: NewLeaveRequest,
    ) -> LeaveResult<request::Model> {
        let txn = begin_write(self.db()).await?;
        let employee = lock_employee(&txn, tenant, employee_id)
            .await?
            .ok_or_else(|| {
                ApiError::Forbidden("no employee record is linked to this user".into())
            })?;
        if employee.status == EmploymentStatus::Terminated.as_str() {
            return Err(
                ApiError::Forbidden("a former employee cannot request leave".into()).into(),
            );
        }
        if new.span.start < employee.hired_on {
            return Err(ApiError::bad_input(
                "startDate",
                "the leave starts before the employee was hired",
            )
            .into());
        }
        let leave_type = leave_type::Entity::find_by_id(new.leave_type_id.clone())
            .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::bad_input("leaveTypeId", "no such leave type"))?;
        let rules = rules_of(&leave_type);
        let calendar = work_calendar(&txn, tenant, &employee.id, &new.span).await?;
        let days = count_leave_days(&new.span, &calendar);
        check_request_against_type(&new.span, days, &rules)?;

        let active = active_requests(&txn, tenant, &employee.id, &new.span).await?;
        check_overlap(
            &new.span,
            active.iter().map(|r| (r.id.as_str(), span_of(r))),
        )?;

        let managed = has_active_manager(&txn, tenant, &employee).await?;
        let status = initial_status(rules.requires_approval, managed);
        if rules.paid {
            let ledger = ledger_balance(&txn, tenant, &employee.id, &leave_type.id).await?;
            let pending = pending_days(&txn, tenant, &employee.id, &leave_type.id).await?;
            check_balance(ledger - pending, days, rules.allow_negative_balance)?;
        }
        let now = now_ms();
        let model = request::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant.as_str().to_owned()),
            employee_id: Set(employee.id.clone()),
            leave_type_id: Set(leave_type.id.clone()),
            start_date: Set(new.span.start),
            end_date: Set(new.span.end),
            start_half: Set(new.span.start_half.map(|h| h.as_str().to_owned())),
            end_half: Set(new.span.end_half.map(|h| h.as_str().to_owned())),
            days: Set(days),
            reason: Set(new.reason),
            status: Set(status.as_str().to_owned()),
            // The manager approves the first step and sees the request (also one approved as
            // made); an inactive manager is skipped (the request goes to HR).
            manager_id: Set(if managed {
                employee.manager_id.clone()
            } else {
                None
            }),
            manager_approved_by: Set(None),
            manager_approved_at: Set(None),
            decided_by: Set(None),
            decided_at: Set((status == LeaveStatus::Approved).then_some(now)),
            decision_comment: Set(None),
            cancelled_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        self.outbox()
            .enqueue(
                &txn,
                &request_event(tenant, events::LEAVE_REQUESTED, &model, actor)?,
            )
            .await?;
        if status == LeaveStatus::Approved {
            if rules.paid {
                insert_usage(&txn, tenant, &model, actor).await?;
            }
            self.outbox()
                .enqueue(
                    &txn,
                    &request_event(tenant, events::LEAVE_APPROVED, &model, actor)?,
                )
                .await?;
        }
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// A request of the tenant.
    pub async fn leave_request(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<request::Model>> {
        Ok(request::Entity::find_by_id(id.to_owned())
            .filter(request::Column::TenantId.eq(tenant.as_str()))
            .one(self.db())
            .await?)
    }

    /// Approves or rejects the current step of a request. The final approval checks the
    /// balance again (adjustments may have happened since) and records the usage.
    pub async fn decide_leave(
        &self,
        tenant: &TenantId,
        actor: &LeaveActor,
        request_id: &str,
        decision: Decision,
        comment: Option<String>,
    ) -> LeaveResult<request::Model> {
        let txn = begin_write(self.db()).await?;
        let current = lock_request(&txn, tenant, request_id).await?;
        let next = decide(&facts_of(&current), &actor.facts(), decision)?;
        let leave_type = leave_type::Entity::find_by_id(current.leave_type_id.clone())
            .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::internal("a leave request's type is missing"))?;
        let now = now_ms();
        let mut active: request::ActiveModel = current.clone().into();
        active.status = Set(next.as_str().to_owned());
        active.updated_at = Set(now);
        let event_type = match (decision, next) {
            (Decision::Approve, LeaveStatus::PendingHr) => {
                active.manager_approved_by = Set(Some(actor.user_id.clone()));
                active.manager_approved_at = Set(Some(now));
                active.decision_comment = Set(comment);
                events::LEAVE_MANAGER_APPROVED
            }
            (Decision::Approve, _) => {
                if leave_type.paid {
                    let ledger =
                        ledger_balance(&txn, tenant, &current.employee_id, &leave_type.id).await?;
                    check_balance(ledger, current.days, leave_type.allow_negative_balance)?;
                }
                active.decided_by = Set(Some(actor.user_id.clone()));
                active.decided_at = Set(Some(now));
                active.decision_comment = Set(comment);
                events::LEAVE_APPROVED
            }
            (Decision::Reject, _) => {
                active.decided_by = Set(Some(actor.user_id.clone()));
                active.decided_at = Set(Some(now));
                active.decision_comment = Set(comment);
                events::LEAVE_REJECTED
            }
        };
        let model = active.update(&txn).await?;
        if next == LeaveStatus::Approved && leave_type.paid {
            insert_usage(&txn, tenant, &model, &actor.user_id).await?;
        }
        self.outbox()
            .enqueue(
                &txn,
                &request_event(tenant, event_type, &model, &actor.user_id)?,
            )
            .await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// Cancels the caller's own request before it starts; an approved one gives its days back
    /// with a `reversal` entry.
    pub async fn cancel_leave(
        &self,
        tenant: &TenantId,
        actor: &LeaveActor,
        request_id: &str,
        today: NaiveDate,
    ) -> LeaveResult<request::Model> {
        let txn = begin_write(self.db()).await?;
        let current = lock_request(&txn, tenant, request_id).await?;
        let reverse = check_cancel(&facts_of(&current), &actor.facts(), today)?;
        let now = now_ms();
        let mut active: request::ActiveModel = current.clone().into();
        active.status = Set(LeaveStatus::Cancelled.as_str().to_owned());
        active.cancelled_at = Set(Some(now));
        active.updated_at = Set(now);
        let model = active.update(&txn).await?;
        if reverse {
            // The usage entry exists only for paid types; give back exactly what it took.
            let usage = ledger::Entity::find()
                .filter(ledger::Column::TenantId.eq(tenant.as_str()))
                .filter(ledger::Column::EmployeeId.eq(model.employee_id.as_str()))
                .filter(ledger::Column::Kind.eq(LedgerKind::Usage.as_str()))
                .filter(ledger::Column::Period.eq(model.id.as_str()))
                .one(&txn)
                .await?;
            if let Some(usage) = usage {
                insert_entry(
                    &txn,
                    tenant,
                    Entry {
                        employee_id: &model.employee_id,
                        leave_type_id: &model.leave_type_id,
                        kind: LedgerKind::Reversal,
                        amount: -usage.amount,
                        effective_on: model.start_date,
                        reason: Some("cancelled leave".into()),
                        request_id: Some(&model.id),
                        period: Some(model.id.clone()),
                        created_by: &actor.user_id,
                    },
                )
                .await?;
            }
        }
        self.outbox()
            .enqueue(
                &txn,
                &request_event(tenant, events::LEAVE_CANCELLED, &model, &actor.user_id)?,
            )
            .await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(model)
    }

    /// HR's manual correction of a balance, with its reason. A deduction may not take the
    /// balance below zero unless the type allows it.
    pub async fn adjust_leave_balance(
        &self,
        tenant: &TenantId,
        actor: &str,
        adjustment: BalanceAdjustment,
        today: NaiveDate,
    ) -> LeaveResult<ledger::Model> {
        let BalanceAdjustment {
            employee_id,
            leave_type_id,
            amount,
            reason,
        } = adjustment;
        let txn = begin_write(self.db()).await?;
        let employee = lock_employee(&txn, tenant, &employee_id)
            .await?
            .ok_or_else(|| ApiError::bad_input("employeeId", "no such employee"))?;
        let leave_type = leave_type::Entity::find_by_id(leave_type_id)
            .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::bad_input("leaveTypeId", "no such leave type"))?;
        if !leave_type.paid {
            return Err(ApiError::bad_input(
                "leaveTypeId",
                "an unpaid leave type has no balance to adjust",
            )
            .into());
        }
        if amount < 0 {
            let current = ledger_balance(&txn, tenant, &employee.id, &leave_type.id).await?;
            check_balance(current, -amount, leave_type.allow_negative_balance)?;
        }
        let entry = insert_entry(
            &txn,
            tenant,
            Entry {
                employee_id: &employee.id,
                leave_type_id: &leave_type.id,
                kind: LedgerKind::Adjustment,
                amount,
                effective_on: today,
                reason: Some(reason.clone()),
                request_id: None,
                period: None,
                created_by: actor,
            },
        )
        .await?;
        let event = simple_event(
            tenant,
            events::LEAVE_BALANCE_ADJUSTED,
            &employee.id,
            actor,
            serde_json::json!({
                "employee_id": employee.id,
                "leave_type_id": leave_type.id,
                "days": to_days(amount),
                "reason": reason,
            }),
        )?;
        self.outbox().enqueue(&txn, &event).await?;
        txn.commit().await?;
        self.outbox().wake();
        Ok(entry)
    }

    /// Posts the accrual of `period` for every employee on a policy of that frequency:
    /// once per employee, leave type and period (a second run writes nothing), prorated for
    /// joiners when the policy says so, nothing for people hired after the period or gone.
    pub async fn run_leave_accrual(
        &self,
        tenant: &TenantId,
        actor: &str,
        period: AccrualPeriod,
    ) -> ApiResult<RunOutcome> {
        let txn = begin_write(self.db()).await?;
        let policies: HashMap<String, policy::Model> = policy::Entity::find()
            .filter(policy::Column::TenantId.eq(tenant.as_str()))
            .filter(policy::Column::Accrual.eq(period.frequency().as_str()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let lines = policy_lines(&txn, tenant, policies.keys().cloned()).await?;
        let assignments = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(tenant.as_str()))
            .filter(assignment::Column::PolicyId.is_in(policies.keys().cloned()))
            .all(&txn)
            .await?;
        let employees = employees_by_ids(
            &txn,
            tenant,
            assignments.iter().map(|a| a.employee_id.clone()),
        )
        .await?;
        let key = period.key();
        let posted: HashSet<(String, String)> = ledger::Entity::find()
            .filter(ledger::Column::TenantId.eq(tenant.as_str()))
            .filter(ledger::Column::Kind.eq(LedgerKind::Accrual.as_str()))
            .filter(ledger::Column::Period.eq(key.as_str()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|e| (e.employee_id, e.leave_type_id))
            .collect();
        let mut outcome = RunOutcome::default();
        let mut rows = Vec::new();
        for assigned in &assignments {
            let (Some(policy), Some(employee)) = (
                policies.get(&assigned.policy_id),
                employees.get(&assigned.employee_id),
            ) else {
                continue;
            };
            if employee.status == EmploymentStatus::Terminated.as_str() {
                continue;
            }
            for line in lines.get(&policy.id).into_iter().flatten() {
                let amount = accrual_for_period(
                    line.accrual_amount,
                    period,
                    employee.hired_on,
                    policy.prorate_joiners,
                );
                if amount == 0 {
                    continue;
                }
                if posted.contains(&(employee.id.clone(), line.leave_type_id.clone())) {
                    outcome.already_posted += 1;
                    continue;
                }
                outcome.created += 1;
                outcome.amount += amount;
                rows.push(entry_model(
                    tenant,
                    Entry {
                        employee_id: &employee.id,
                        leave_type_id: &line.leave_type_id,
                        kind: LedgerKind::Accrual,
                        amount,
                        effective_on: period.first_day(),
                        reason: Some(format!("accrual {key}")),
                        request_id: None,
                        period: Some(key.clone()),
                        created_by: actor,
                    },
                ));
            }
        }
        insert_entries(&txn, rows).await?;
        if outcome.created > 0 {
            let event = simple_event(
                tenant,
                events::LEAVE_ACCRUED,
                &format!("accrual:{key}"),
                actor,
                serde_json::json!({
                    "period": key,
                    "entries": outcome.created,
                    "days": to_days(outcome.amount),
                }),
            )?;
            self.outbox().enqueue(&txn, &event).await?;
        }
        txn.commit().await?;
        self.outbox().wake();
        Ok(outcome)
    }

    /// Closes a leave year for every employee on a policy: each positive balance at the
    /// year's last day expires (an `expiry` entry) and up to the policy's cap comes back on
    /// the next year's first day (a `carry_forward` entry). Once per balance and year.
    pub async fn close_leave_year(
        &self,
        tenant: &TenantId,
        actor: &str,
        year: i32,
    ) -> ApiResult<YearCloseOutcome> {
        let period = AccrualPeriod::Year { year };
        let (year_end, next_year) = (
            period.last_day(),
            AccrualPeriod::Year { year: year + 1 }.first_day(),
        );
        let key = period.key();
        let txn = begin_write(self.db()).await?;
        let assignments = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(tenant.as_str()))
            .all(&txn)
            .await?;
        let lines = policy_lines(
            &txn,
            tenant,
            assignments.iter().map(|a| a.policy_id.clone()),
        )
        .await?;
        let mut balances: HashMap<(String, String), i64> = HashMap::new();
        let mut closed: HashSet<(String, String)> = HashSet::new();
        let entries = ledger::Entity::find()
            .filter(ledger::Column::TenantId.eq(tenant.as_str()))
            .filter(ledger::Column::EffectiveOn.lte(year_end))
            .all(&txn)
            .await?;
        for entry in entries {
            let pair = (entry.employee_id, entry.leave_type_id);
            if entry.kind == LedgerKind::Expiry.as_str()
                && entry.period.as_deref() == Some(key.as_str())
            {
                closed.insert(pair.clone());
            }
            *balances.entry(pair).or_default() += entry.amount;
        }
        let mut outcome = YearCloseOutcome::default();
        let mut rows = Vec::new();
        for assigned in &assignments {
            for line in lines.get(&assigned.policy_id).into_iter().flatten() {
                let pair = (assigned.employee_id.clone(), line.leave_type_id.clone());
                if closed.contains(&pair) {
                    outcome.already_closed += 1;
                    continue;
                }
                let Some(end) = close_year(
                    balances.get(&pair).copied().unwrap_or(0),
                    line.carry_forward_max,
                ) else {
                    continue;
                };
                outcome.balances_closed += 1;
                outcome.carried_forward += end.carried;
                outcome.lapsed += end.lapsed();
                let entry = |kind, amount, effective_on, reason: &str| {
                    entry_model(
                        tenant,
                        Entry {
                            employee_id: &pair.0,
                            leave_type_id: &pair.1,
                            kind,
                            amount,
                            effective_on,
                            reason: Some(format!("{reason} {key}")),
                            request_id: None,
                            period: Some(key.clone()),
                            created_by: actor,
                        },
                    )
                };
                rows.push(entry(LedgerKind::Expiry, -end.closed, year_end, "year end"));
                if end.carried > 0 {
                    rows.push(entry(
                        LedgerKind::CarryForward,
                        end.carried,
                        next_year,
                        "carried from",
                    ));
                }
            }
        }
        insert_entries(&txn, rows).await?;
        if outcome.balances_closed > 0 {
            let event = simple_event(
                tenant,
                events::LEAVE_YEAR_CLOSED,
                &format!("year:{key}"),
                actor,
                serde_json::json!({
                    "year": year,
                    "balances": outcome.balances_closed,
                    "carried_forward_days": to_days(outcome.carried_forward),
                    "lapsed_days": to_days(outcome.lapsed),
                }),
            )?;
            self.outbox().enqueue(&txn, &event).await?;
        }
        txn.commit().await?;
        self.outbox().wake();
        Ok(outcome)
    }

    /// An employee's balance of every leave type of the tenant, with what pending requests
    /// hold.
    pub async fn leave_balances(
        &self,
        tenant: &TenantId,
        employee_id: &str,
    ) -> ApiResult<Vec<BalanceRow>> {
        let types = leave_type::Entity::find()
            .filter(leave_type::Column::TenantId.eq(tenant.as_str()))
            .all(self.db())
            .await?;
        let mut amounts: HashMap<String, Vec<i64>> = HashMap::new();
        for entry in ledger::Entity::find()
            .filter(ledger::Column::TenantId.eq(tenant.as_str()))
            .filter(ledger::Column::EmployeeId.eq(employee_id))
            .all(self.db())
            .await?
        {
            amounts
                .entry(entry.leave_type_id)
                .or_default()
                .push(entry.amount);
        }
        let mut pending: HashMap<String, i64> = HashMap::new();
        for held in request::Entity::find()
            .filter(request::Column::TenantId.eq(tenant.as_str()))
            .filter(request::Column::EmployeeId.eq(employee_id))
            .filter(request::Column::Status.is_in(pending_statuses()))
            .all(self.db())
            .await?
        {
            *pending.entry(held.leave_type_id).or_default() += held.days;
        }
        let mut rows: Vec<BalanceRow> = types
            .into_iter()
            .map(|leave_type| BalanceRow {
                balance: balance(amounts.remove(&leave_type.id).unwrap_or_default()),
                pending: if leave_type.paid {
                    pending.get(&leave_type.id).copied().unwrap_or(0)
                } else {
                    0
                },
                leave_type,
            })
            .collect();
        rows.sort_by(|a, b| a.leave_type.code.cmp(&b.leave_type.code));
        Ok(rows)
    }

    /// One page of an employee's ledger, optionally of one leave type, in entry order.
    pub async fn leave_ledger(
        &self,
        tenant: &TenantId,
        employee_id: &str,
        leave_type_id: Option<&str>,
        page: &PageRequest,
    ) -> ApiResult<Vec<ledger::Model>> {
        let mut query = ledger::Entity::find()
            .filter(ledger::Column::TenantId.eq(tenant.as_str()))
            .filter(ledger::Column::EmployeeId.eq(employee_id));
        if let Some(leave_type_id) = leave_type_id {
            query = query.filter(ledger::Column::LeaveTypeId.eq(leave_type_id));
        }
        Ok(keyset_page(query, ledger::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// One page of requests, newest last (ids are time-ordered).
    pub async fn list_leave_requests(
        &self,
        tenant: &TenantId,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<request::Model>> {
        let mut query =
            request::Entity::find().filter(request::Column::TenantId.eq(tenant.as_str()));
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
        Ok(keyset_page(query, request::Column::Id, page)
            .all(self.db())
            .await?)
    }

    /// One page of the requests waiting for the viewer: the manager step of their reports'
    /// requests and, for HR, the HR step of everybody else's.
    pub async fn pending_leave_approvals(
        &self,
        tenant: &TenantId,
        actor: &LeaveActor,
        page: &PageRequest,
    ) -> ApiResult<Vec<request::Model>> {
        let mut waiting = Condition::any();
        if let Some(me) = &actor.employee_id {
            waiting = waiting.add(
                Condition::all()
                    .add(request::Column::Status.eq(LeaveStatus::PendingManager.as_str()))
                    .add(request::Column::ManagerId.eq(me.as_str())),
            );
        }
        if actor.is_hr {
            let mut hr_step =
                Condition::all().add(request::Column::Status.eq(LeaveStatus::PendingHr.as_str()));
            if let Some(me) = &actor.employee_id {
                hr_step = hr_step.add(request::Column::EmployeeId.ne(me.as_str()));
            }
            waiting = waiting.add(hr_step);
        }
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        let query = request::Entity::find()
            .filter(request::Column::TenantId.eq(tenant.as_str()))
            .filter(waiting);
        Ok(keyset_page(query, request::Column::Id, page)
            .all(self.db())
            .await?)
    }
}

fn pending_statuses() -> [&'static str; 2] {
    [
        LeaveStatus::PendingManager.as_str(),
        LeaveStatus::PendingHr.as_str(),
    ]
}

/// Reads an employee row locking it for the rest of the transaction (no-op on SQLite, whose
/// writers are serialised anyway).
async fn lock_employee(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    employee_id: &str,
) -> ApiResult<Option<employee::Model>> {
    Ok(employee::Entity::find_by_id(employee_id.to_owned())
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .lock_exclusive()
        .one(txn)
        .await?)
}

/// Reads a request for a decision: the employee's row is locked first (the order every balance
/// write follows), then the request is read again under that lock.
async fn lock_request(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    request_id: &str,
) -> ApiResult<request::Model> {
    let find = || {
        request::Entity::find_by_id(request_id.to_owned())
            .filter(request::Column::TenantId.eq(tenant.as_str()))
    };
    let first = find()
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound("leave request".into()))?;
    lock_employee(txn, tenant, &first.employee_id).await?;
    find()
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound("leave request".into()))
}

async fn has_active_manager(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    employee: &employee::Model,
) -> ApiResult<bool> {
    let Some(manager_id) = &employee.manager_id else {
        return Ok(false);
    };
    let manager = employee::Entity::find_by_id(manager_id.clone())
        .filter(employee::Column::TenantId.eq(tenant.as_str()))
        .one(txn)
        .await?;
    Ok(manager.is_some_and(|m| m.status != EmploymentStatus::Terminated.as_str()))
}

/// The employee's pending and approved requests whose dates meet the span.
async fn active_requests(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    employee_id: &str,
    span: &LeaveSpan,
) -> ApiResult<Vec<request::Model>> {
    Ok(request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .filter(request::Column::EmployeeId.eq(employee_id))
        .filter(request::Column::Status.is_in([
            LeaveStatus::PendingManager.as_str(),
            LeaveStatus::PendingHr.as_str(),
            LeaveStatus::Approved.as_str(),
        ]))
        .filter(request::Column::StartDate.lte(span.end))
        .filter(request::Column::EndDate.gte(span.start))
        .all(txn)
        .await?)
}

/// The employee's weekly rest days (their policy's, or Saturday and Sunday) and the holidays
/// of the tenant-wide calendar and their location's within the span.
async fn work_calendar(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    employee_id: &str,
    span: &LeaveSpan,
) -> ApiResult<WorkCalendar> {
    let assigned = assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant.as_str()))
        .filter(assignment::Column::EmployeeId.eq(employee_id))
        .one(txn)
        .await?;
    let mut weekend = DEFAULT_WEEKEND.to_vec();
    let mut calendars = vec![String::new()];
    if let Some(assigned) = assigned {
        let policy = policy::Entity::find_by_id(assigned.policy_id.clone())
            .filter(policy::Column::TenantId.eq(tenant.as_str()))
            .one(txn)
            .await?;
        if let Some(policy) = policy {
            weekend = weekend_from_db(&policy.weekend_days);
        }
        calendars.extend(assigned.holiday_location_id);
    }
    let holidays = holiday::Entity::find()
        .filter(holiday::Column::TenantId.eq(tenant.as_str()))
        .filter(holiday::Column::Calendar.is_in(calendars))
        .filter(holiday::Column::Day.between(span.start, span.end))
        .all(txn)
        .await?
        .into_iter()
        .map(|h| h.day)
        .collect();
    Ok(WorkCalendar { weekend, holidays })
}

/// The sum of an employee's ledger for one leave type.
async fn ledger_balance(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: &str,
) -> ApiResult<i64> {
    let amounts = ledger::Entity::find()
        .filter(ledger::Column::TenantId.eq(tenant.as_str()))
        .filter(ledger::Column::EmployeeId.eq(employee_id))
        .filter(ledger::Column::LeaveTypeId.eq(leave_type_id))
        .all(txn)
        .await?;
    Ok(balance(amounts.into_iter().map(|e| e.amount)))
}

/// The days an employee's pending requests of one type hold.
async fn pending_days(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    employee_id: &str,
    leave_type_id: &str,
) -> ApiResult<i64> {
    Ok(request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_str()))
        .filter(request::Column::EmployeeId.eq(employee_id))
        .filter(request::Column::LeaveTypeId.eq(leave_type_id))
        .filter(request::Column::Status.is_in(pending_statuses()))
        .all(txn)
        .await?
        .into_iter()
        .map(|r| r.days)
        .sum())
}

async fn policy_lines(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    policy_ids: impl IntoIterator<Item = String>,
) -> ApiResult<HashMap<String, Vec<policy_line::Model>>> {
    let mut lines: HashMap<String, Vec<policy_line::Model>> = HashMap::new();
    for line in policy_line::Entity::find()
        .filter(policy_line::Column::TenantId.eq(tenant.as_str()))
        .filter(policy_line::Column::PolicyId.is_in(policy_ids))
        .all(txn)
        .await?
    {
        lines.entry(line.policy_id.clone()).or_default().push(line);
    }
    Ok(lines)
}

async fn employees_by_ids(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    ids: impl IntoIterator<Item = String>,
) -> ApiResult<HashMap<String, employee::Model>> {
    let ids: Vec<String> = ids.into_iter().collect();
    let mut found = HashMap::new();
    // Bounded IN lists (PostgreSQL and SQLite both cap bind parameters).
    for chunk in ids.chunks(500) {
        for model in employee::Entity::find()
            .filter(employee::Column::TenantId.eq(tenant.as_str()))
            .filter(employee::Column::Id.is_in(chunk.iter().cloned()))
            .all(txn)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// A ledger entry to write.
struct Entry<'a> {
    employee_id: &'a str,
    leave_type_id: &'a str,
    kind: LedgerKind,
    amount: i64,
    effective_on: NaiveDate,
    reason: Option<String>,
    request_id: Option<&'a str>,
    period: Option<String>,
    created_by: &'a str,
}

fn entry_model(tenant: &TenantId, entry: Entry<'_>) -> ledger::ActiveModel {
    ledger::ActiveModel {
        id: Set(new_id()),
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
        created_at: Set(now_ms()),
    }
}

async fn insert_entry(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    entry: Entry<'_>,
) -> ApiResult<ledger::Model> {
    Ok(entry_model(tenant, entry).insert(txn).await?)
}

async fn insert_entries(
    txn: &DatabaseTransaction,
    rows: Vec<ledger::ActiveModel>,
) -> ApiResult<()> {
    // 12 columns a row: 400 rows stay under SQLite's and PostgreSQL's bind-parameter limits.
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<ledger::ActiveModel> = rows.by_ref().take(400).collect();
        ledger::Entity::insert_many(chunk).exec(txn).await?;
    }
    Ok(())
}

/// The usage of an approved paid request: its days, on its first day, once per request.
async fn insert_usage(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    model: &request::Model,
    actor: &str,
) -> ApiResult<ledger::Model> {
    insert_entry(
        txn,
        tenant,
        Entry {
            employee_id: &model.employee_id,
            leave_type_id: &model.leave_type_id,
            kind: LedgerKind::Usage,
            amount: -model.days,
            effective_on: model.start_date,
            reason: None,
            request_id: Some(&model.id),
            period: Some(model.id.clone()),
            created_by: actor,
        },
    )
    .await
}
