//! Leave in GraphQL: types, policies, holidays, balances (a ledger), requests with their
//! approval chain (manager, then HR), accrual runs and the year-end close.
//!
//! A broken leave rule answers with the kit's `extensions.code` and its own
//! `extensions.reason` (LEAVE_OVERLAP, INSUFFICIENT_LEAVE_BALANCE, SELF_APPROVAL,
//! NOT_APPROVER, NOT_REQUESTER, INVALID_LEAVE_STATE, LEAVE_ALREADY_STARTED,
//! MAX_CONSECUTIVE_DAYS_EXCEEDED, HALF_DAY_NOT_ALLOWED, NO_WORKING_DAYS), with the numbers a
//! client needs beside it; bad input is BAD_USER_INPUT with `extensions.field`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, Enum, ErrorExtensions, InputObject, Object, Result, SimpleObject, ID,
};
use chrono::{NaiveDate, Utc};

use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{ApprovalDecision, Date, DateTime};
use erp_kit::{ApiError, RequestContext, TenantId};

use super::loaders::{LeaveTypeLoader, LocationLoader};
use super::people::{load_employee, Employee, User};
use super::shift::{millis, DayOfWeek, Location};
use crate::app::leave::{
    facts_of, BalanceAdjustment, BalanceRow, LeaveActor, NewLeaveRequest, NewLeaveType, NewPolicy,
    NewPolicyLine,
};
use crate::app::Employee as UseCases;
use crate::domain::leave::{
    check_cancel, decide, parse_days, parse_reason, parse_type_code, parse_weekend, to_days,
    weekend_from_db, AccrualFrequency as AccrualFrequencyModel, AccrualPeriod, DayHalf, Decision,
    LeaveError, LeaveRule, LeaveSpan, LeaveStatus as LeaveStatusModel, LeaveTypeRules,
    LedgerKind as LedgerKindModel,
};
use crate::domain::DisplayName;
use crate::store::entities::{
    leave_assignment as assignment, leave_holiday as holiday, leave_ledger as ledger,
    leave_policy as policy, leave_policy_line as policy_line, leave_request as request, leave_type,
};
use crate::store::leave::RequestFilter;

/// The scope that makes a caller HR: the final approver, and the one who configures leave.
const HR_SCOPE: &str = "hr:admin";

/// A leave error as a GraphQL error: the kit's shape (`code`, and `reason` for a broken rule),
/// with the numbers a client needs beside a rule's reason.
fn gql(err: LeaveError) -> async_graphql::Error {
    match err {
        LeaveError::Api(err) => err.into(),
        LeaveError::Rule(rule) => {
            let details = rule.clone();
            async_graphql::Error::from(ApiError::from(rule)).extend_with(|_, ext| match details {
                LeaveRule::InsufficientBalance {
                    available,
                    requested,
                } => {
                    ext.set("availableDays", to_days(available));
                    ext.set("requestedDays", to_days(requested));
                }
                LeaveRule::Overlap { other_request_id } => {
                    ext.set("overlappingRequestId", other_request_id);
                }
                LeaveRule::MaxConsecutiveDaysExceeded { max_days, .. } => {
                    ext.set("maxDays", to_days(max_days));
                }
                _ => {}
            })
        }
    }
}

/// The caller as an actor on leave: their employee record (if any) and whether they are HR.
async fn actor(ctx: &Context<'_>) -> Result<LeaveActor> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    let employee = ctx
        .use_cases::<UseCases>()?
        .employee_of_user(&tenant, &claims.sub)
        .await?;
    Ok(LeaveActor {
        user_id: claims.sub.clone(),
        employee_id: employee.map(|e| e.id),
        is_hr: claims.permissions.iter().any(|s| s == HR_SCOPE),
    })
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Half of a day.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum HalfDay {
    /// The morning.
    FirstHalf,
    /// The afternoon.
    SecondHalf,
}

impl From<HalfDay> for DayHalf {
    fn from(half: HalfDay) -> Self {
        match half {
            HalfDay::FirstHalf => DayHalf::First,
            HalfDay::SecondHalf => DayHalf::Second,
        }
    }
}

impl From<DayHalf> for HalfDay {
    fn from(half: DayHalf) -> Self {
        match half {
            DayHalf::First => HalfDay::FirstHalf,
            DayHalf::Second => HalfDay::SecondHalf,
        }
    }
}

/// Where a leave request is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "LeaveStatusModel")]
pub enum LeaveRequestStatus {
    /// Waiting for the employee's manager.
    PendingManager,
    /// Waiting for HR (after the manager, or first when the employee has no manager).
    PendingHr,
    /// Approved: the days are taken from the balance.
    Approved,
    /// Rejected by the manager or HR, with a reason.
    Rejected,
    /// Cancelled by the employee before it started.
    Cancelled,
}

/// How often a policy earns leave.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "AccrualFrequencyModel")]
pub enum AccrualFrequency {
    /// Every month (accrual runs for `YYYY-MM`).
    Monthly,
    /// Once a year (accrual runs for `YYYY`).
    Yearly,
}

/// What a ledger entry records.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "LedgerKindModel")]
pub enum LeaveLedgerKind {
    /// Earned for a period by the employee's policy.
    Accrual,
    /// Taken by an approved request.
    Usage,
    /// Given back when an approved request was cancelled.
    Reversal,
    /// Brought into a new year (up to the policy's cap).
    CarryForward,
    /// The closing of a year's balance.
    Expiry,
    /// A correction by HR, with its reason.
    Adjustment,
}

/// A kind of leave of the tenant (annual, sick, unpaid, ...).
pub struct LeaveType(pub leave_type::Model);

/// A kind of leave of the tenant (annual, sick, unpaid, ...) and its rules.
#[Object]
impl LeaveType {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Short code, unique in the tenant (`ANNUAL`).
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name shown to employees.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Paid leave is counted against a balance; unpaid leave is not.
    async fn paid(&self) -> bool {
        self.0.paid
    }
    /// Whether a request may take half days.
    async fn allows_half_day(&self) -> bool {
        self.0.allows_half_day
    }
    /// Whether requests go through the manager and HR (otherwise approved as made).
    async fn requires_approval(&self) -> bool {
        self.0.requires_approval
    }
    /// The most working days one request may take, if capped.
    async fn max_consecutive_days(&self) -> Option<f64> {
        self.0.max_consecutive.map(to_days)
    }
    /// Whether a request may take the balance below zero.
    async fn allow_negative_balance(&self) -> bool {
        self.0.allow_negative_balance
    }
}

/// What a policy grants of one leave type.
pub struct LeavePolicyLine(pub policy_line::Model);

/// The leave type it was for, through the batching [`LeaveTypeLoader`].
async fn load_leave_type(ctx: &Context<'_>, id: &str) -> Result<Option<LeaveType>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<LeaveTypeLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(LeaveType))
}

/// The location `id`, through the batching [`LocationLoader`].
async fn load_location(ctx: &Context<'_>, id: &str) -> Result<Option<Location>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<LocationLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Location))
}

/// What a policy grants of one leave type: days per accrual period and the carry-forward cap.
#[Object]
impl LeavePolicyLine {
    /// The leave type (batched).
    async fn leave_type(&self, ctx: &Context<'_>) -> Result<Option<LeaveType>> {
        load_leave_type(ctx, &self.0.leave_type_id).await
    }
    /// Days earned per accrual period.
    async fn days_per_period(&self) -> f64 {
        to_days(self.0.accrual_amount)
    }
    /// The most days that carry into a new year (the rest lapses).
    async fn carry_forward_max_days(&self) -> f64 {
        to_days(self.0.carry_forward_max)
    }
}

/// How employees on it earn leave, and which days are their weekend.
pub struct LeavePolicy {
    model: policy::Model,
    lines: Vec<policy_line::Model>,
}

/// A leave policy: how employees on it earn leave, and which days are their weekend.
#[Object]
impl LeavePolicy {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    /// Name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// How often the policy earns leave.
    async fn accrual_frequency(&self) -> AccrualFrequency {
        AccrualFrequencyModel::from_db(&self.model.accrual).into()
    }
    /// Whether joiners earn their first period in proportion to the days they were employed.
    async fn prorate_joiners(&self) -> bool {
        self.model.prorate_joiners
    }
    /// Weekly rest days, as ISO weekday numbers (1 = Monday ... 7 = Sunday).
    #[graphql(deprecation = "use `weekend` (the DayOfWeek enum)")]
    async fn weekend_days(&self) -> Vec<u32> {
        weekend_from_db(&self.model.weekend_days)
            .into_iter()
            .map(|d| chrono::Weekday::number_from_monday(&d))
            .collect()
    }
    /// Weekly rest days, Monday first.
    async fn weekend(&self) -> Vec<DayOfWeek> {
        let mut days = weekend_from_db(&self.model.weekend_days);
        days.sort_by_key(chrono::Weekday::number_from_monday);
        days.into_iter().map(Into::into).collect()
    }
    /// What the policy grants, per leave type.
    async fn lines(&self) -> Vec<LeavePolicyLine> {
        self.lines.iter().cloned().map(LeavePolicyLine).collect()
    }
}

/// An employee's leave policy and holiday calendar.
pub struct LeavePolicyAssignment(pub assignment::Model);

/// An employee's leave policy and holiday calendar.
#[Object]
impl LeavePolicyAssignment {
    /// The employee.
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.0.employee_id).await
    }
    /// The policy's id.
    async fn policy_id(&self) -> ID {
        ID(self.0.policy_id.clone())
    }
    /// The policy, with its lines.
    async fn policy(&self, ctx: &Context<'_>) -> Result<Option<LeavePolicy>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .use_cases::<UseCases>()?
            .leave_policy(&tenant, &self.0.policy_id)
            .await?
            .map(|(model, lines)| LeavePolicy { model, lines }))
    }
    /// The location whose holidays apply besides the tenant-wide ones.
    async fn holiday_location_id(&self) -> Option<ID> {
        self.0.holiday_location_id.clone().map(ID)
    }
    /// The location whose holidays apply besides the tenant-wide ones (batched).
    async fn holiday_location(&self, ctx: &Context<'_>) -> Result<Option<Location>> {
        match &self.0.holiday_location_id {
            Some(id) => load_location(ctx, id).await,
            None => Ok(None),
        }
    }
}

/// A public holiday: not a working day for leave counting.
pub struct Holiday(pub holiday::Model);

/// A public holiday of the tenant-wide calendar or a location's: not a working day for leave
/// counting.
#[Object]
impl Holiday {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The day.
    async fn day(&self) -> Date {
        self.0.day.into()
    }
    /// Name (`Independence Day`).
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The location whose calendar it belongs to; null for the tenant-wide calendar.
    async fn location_id(&self) -> Option<ID> {
        (!self.0.calendar.is_empty()).then(|| ID(self.0.calendar.clone()))
    }
    /// The location whose calendar it belongs to (batched); null for the tenant-wide calendar.
    async fn location(&self, ctx: &Context<'_>) -> Result<Option<Location>> {
        if self.0.calendar.is_empty() {
            return Ok(None);
        }
        load_location(ctx, &self.0.calendar).await
    }
}

/// What the viewer may do with a request right now.
#[derive(SimpleObject)]
pub struct LeaveRequestViewerCan {
    /// Approve its current step.
    pub approve: bool,
    /// Reject it.
    pub reject: bool,
    /// Cancel it.
    pub cancel: bool,
}

/// A request for leave.
pub struct LeaveRequest {
    model: request::Model,
    leave_type: Option<leave_type::Model>,
    viewer: Arc<LeaveActor>,
}

/// A request for leave and where it is in its approval chain (the manager, then HR).
#[Object]
impl LeaveRequest {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.model.id.clone())
    }
    /// Who asked.
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.model.employee_id).await
    }
    /// The employee's id.
    async fn employee_id(&self) -> ID {
        ID(self.model.employee_id.clone())
    }
    /// The kind of leave.
    async fn leave_type(&self) -> Option<LeaveType> {
        self.leave_type.clone().map(LeaveType)
    }
    /// The first day.
    async fn start_date(&self) -> Date {
        self.model.start_date.into()
    }
    /// The last day.
    async fn end_date(&self) -> Date {
        self.model.end_date.into()
    }
    /// Set when the first day is taken by halves (a one-day request: the half taken).
    async fn start_half(&self) -> Option<HalfDay> {
        self.model
            .start_half
            .as_deref()
            .and_then(DayHalf::from_db)
            .map(Into::into)
    }
    /// Set when the last day is taken by halves.
    async fn end_half(&self) -> Option<HalfDay> {
        self.model
            .end_half
            .as_deref()
            .and_then(DayHalf::from_db)
            .map(Into::into)
    }
    /// Working days taken (weekends and holidays excluded), e.g. 2.5.
    async fn days(&self) -> f64 {
        to_days(self.model.days)
    }
    /// The employee's reason.
    async fn reason(&self) -> Option<&str> {
        self.model.reason.as_deref()
    }
    /// Where the request is.
    async fn status(&self) -> LeaveRequestStatus {
        LeaveStatusModel::from_db(&self.model.status)
            .unwrap_or(LeaveStatusModel::Cancelled)
            .into()
    }
    /// The manager who approves the first step (fixed when the request was made).
    async fn manager(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        match &self.model.manager_id {
            Some(id) => load_employee(ctx, id).await,
            None => Ok(None),
        }
    }
    /// When the manager approved.
    async fn manager_approved_at(&self) -> Option<DateTime> {
        self.model.manager_approved_at.map(millis)
    }
    /// When it was finally approved or rejected.
    async fn decided_at(&self) -> Option<DateTime> {
        self.model.decided_at.map(millis)
    }
    /// The approver's comment, or the reason of a rejection.
    async fn decision_comment(&self) -> Option<&str> {
        self.model.decision_comment.as_deref()
    }
    /// When the employee cancelled it.
    async fn cancelled_at(&self) -> Option<DateTime> {
        self.model.cancelled_at.map(millis)
    }
    /// When it was made.
    async fn created_at(&self) -> DateTime {
        millis(self.model.created_at)
    }
    /// What the viewer may do with it now (the same rules the mutations apply).
    async fn viewer_can(&self) -> LeaveRequestViewerCan {
        let facts = facts_of(&self.model);
        let actor = self.viewer.facts();
        LeaveRequestViewerCan {
            approve: decide(&facts, &actor, Decision::Approve).is_ok(),
            reject: decide(&facts, &actor, Decision::Reject).is_ok(),
            cancel: check_cancel(&facts, &actor, today()).is_ok(),
        }
    }
}

/// One balance of the caller.
pub struct LeaveBalance(pub BalanceRow);

/// An employee's balance of one leave type, in days, with what pending requests hold.
#[Object]
impl LeaveBalance {
    /// The kind of leave.
    async fn leave_type(&self) -> LeaveType {
        LeaveType(self.0.leave_type.clone())
    }
    /// The sum of the ledger (accruals, usage, reversals, carry-forward, expiry, adjustments).
    async fn balance_days(&self) -> f64 {
        to_days(self.0.balance)
    }
    /// Days held by pending requests.
    async fn pending_days(&self) -> f64 {
        to_days(self.0.pending)
    }
    /// What a new request may take: the balance minus what pending requests hold.
    async fn available_days(&self) -> f64 {
        to_days(self.0.balance - self.0.pending)
    }
}

/// One entry of a leave ledger.
pub struct LeaveLedgerEntry(pub ledger::Model);

/// One entry of an employee's leave ledger: days earned, taken, given back, carried, lapsed
/// or adjusted. A balance is the sum of its ledger.
#[Object]
impl LeaveLedgerEntry {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The employee.
    async fn employee_id(&self) -> ID {
        ID(self.0.employee_id.clone())
    }
    /// The employee (batched).
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.0.employee_id).await
    }
    /// The leave type.
    async fn leave_type_id(&self) -> ID {
        ID(self.0.leave_type_id.clone())
    }
    /// The leave type (batched).
    async fn leave_type(&self, ctx: &Context<'_>) -> Result<Option<LeaveType>> {
        load_leave_type(ctx, &self.0.leave_type_id).await
    }
    /// What the entry records.
    async fn kind(&self) -> LeaveLedgerKind {
        LedgerKindModel::from_db(&self.0.kind)
            .unwrap_or(LedgerKindModel::Adjustment)
            .into()
    }
    /// Days, positive (earned, given back) or negative (taken, lapsed).
    async fn days(&self) -> f64 {
        to_days(self.0.amount)
    }
    /// The day from which it counts.
    async fn effective_on(&self) -> Date {
        self.0.effective_on.into()
    }
    /// Why (an adjustment's reason, the accrual period, ...).
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The request a usage or reversal belongs to.
    async fn request_id(&self) -> Option<ID> {
        self.0.request_id.clone().map(ID)
    }
    /// The user who wrote it (their id).
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    /// The user who wrote it.
    async fn creator(&self) -> User {
        User {
            id: self.0.created_by.clone(),
        }
    }
    /// When it was written.
    async fn created_at(&self) -> DateTime {
        millis(self.0.created_at)
    }
}

/// What an accrual run wrote.
#[derive(SimpleObject)]
pub struct LeaveAccrualRun {
    /// The period (`2026-03` or `2026`).
    pub period: String,
    /// Entries written by this run.
    pub entries_created: u64,
    /// Entries an earlier run of the same period had written (nothing is written twice).
    pub entries_already_posted: u64,
    /// Days written by this run, all employees together.
    pub days_posted: f64,
}

/// What a year close wrote.
#[derive(SimpleObject)]
pub struct LeaveYearClose {
    /// The year closed.
    pub year: i32,
    /// Balances closed by this run.
    pub balances_closed: u64,
    /// Balances an earlier run had closed.
    pub balances_already_closed: u64,
    /// Days carried into the next year.
    pub days_carried_forward: f64,
    /// Days lapsed over the caps.
    pub days_lapsed: f64,
}

/// Wraps a page of requests with their leave types (one query) and the viewer.
async fn wrap_requests(
    ctx: &Context<'_>,
    tenant: &TenantId,
    rows: Vec<request::Model>,
    viewer: Arc<LeaveActor>,
) -> Result<Vec<LeaveRequest>> {
    let types: HashMap<String, leave_type::Model> = ctx
        .use_cases::<UseCases>()?
        .leave_types_by_ids(tenant, rows.iter().map(|r| r.leave_type_id.clone()))
        .await?;
    Ok(rows
        .into_iter()
        .map(|model| LeaveRequest {
            leave_type: types.get(&model.leave_type_id).cloned(),
            model,
            viewer: viewer.clone(),
        })
        .collect())
}

async fn one_request(
    ctx: &Context<'_>,
    model: request::Model,
    viewer: Arc<LeaveActor>,
) -> Result<Option<LeaveRequest>> {
    let tenant = ctx.tenant()?;
    Ok(wrap_requests(ctx, &tenant, vec![model], viewer)
        .await?
        .pop())
}

type RequestConnection = Connection<String, LeaveRequest, EmptyFields, EmptyFields>;

/// Filters of the leave request list.
#[derive(InputObject, Default)]
pub struct LeaveRequestFilterInput {
    /// Only requests in this status.
    pub status: Option<LeaveRequestStatus>,
    /// Only this employee's requests.
    pub employee_id: Option<ID>,
}

#[derive(Default)]
pub struct LeaveQuery;

#[Object]
impl LeaveQuery {
    /// The caller's balance of every leave type, with what pending requests hold.
    #[graphql(requires_scopes = "leave:apply")]
    async fn my_leave_balances(&self, ctx: &Context<'_>) -> Result<Option<Vec<LeaveBalance>>> {
        let tenant = ctx.tenant()?;
        let actor = actor(ctx).await?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .leave_balances(&tenant, actor.own_employee()?)
            .await?;
        Ok(Some(rows.into_iter().map(LeaveBalance).collect()))
    }

    /// An employee's balances (HR).
    #[graphql(requires_scopes = "hr:admin")]
    async fn leave_balances(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee.")] employee_id: ID,
    ) -> Result<Option<Vec<LeaveBalance>>> {
        let tenant = ctx.tenant()?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .leave_balances(&tenant, &employee_id)
            .await?;
        Ok(Some(rows.into_iter().map(LeaveBalance).collect()))
    }

    /// A leave ledger in entry order: the caller's own, or (HR) any employee's.
    #[graphql(requires_scopes = "leave:apply", requires_scopes = "hr:admin")]
    #[allow(clippy::too_many_arguments)]
    async fn leave_ledger(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee (HR only); the caller's own ledger when omitted.")]
        employee_id: Option<ID>,
        #[graphql(desc = "Only this leave type's entries.")] leave_type_id: Option<ID>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, LeaveLedgerEntry, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let actor = actor(ctx).await?;
        let employee_id = match employee_id {
            Some(id) if actor.employee_id.as_deref() == Some(id.as_str()) => id.0,
            Some(id) if actor.is_hr => id.0,
            Some(_) => {
                return Err(ApiError::Forbidden(
                    "only HR reads another employee's leave ledger".into(),
                )
                .into())
            }
            None => actor.own_employee()?.to_owned(),
        };
        let rows = ctx
            .use_cases::<UseCases>()?
            .leave_ledger(
                &tenant,
                &employee_id,
                leave_type_id.as_ref().map(|id| id.as_str()),
                &page,
            )
            .await?;
        let rows = rows.into_iter().map(LeaveLedgerEntry).collect();
        Ok(Some(connection_from_rows(&page, rows, |e| e.0.id.clone())))
    }

    /// Leave requests the caller may see: their own and the ones they approve as manager;
    /// HR sees all. Filtered by status and employee; a Relay connection (`first` at most 100).
    #[graphql(
        requires_scopes = "leave:apply",
        requires_scopes = "leave:approve",
        requires_scopes = "hr:admin"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn leave_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the requests matching every filter given.")] filter: Option<
            LeaveRequestFilterInput,
        >,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<RequestConnection>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let viewer = Arc::new(actor(ctx).await?);
        let filter = filter.unwrap_or_default();
        let visible_to = if viewer.is_hr {
            None
        } else {
            Some(viewer.own_employee()?.to_owned())
        };
        let filter = RequestFilter {
            status: filter.status.map(Into::into),
            employee_id: filter.employee_id.map(|id| id.0),
            visible_to,
        };
        let rows = ctx
            .use_cases::<UseCases>()?
            .list_leave_requests(&tenant, &filter, &page)
            .await?;
        let rows = wrap_requests(ctx, &tenant, rows, viewer).await?;
        Ok(Some(connection_from_rows(&page, rows, |r| {
            r.model.id.clone()
        })))
    }

    /// Requests waiting for the caller's decision: the manager step of their reports'
    /// requests, and for HR the HR step of everybody else's.
    #[graphql(requires_scopes = "leave:approve", requires_scopes = "hr:admin")]
    async fn pending_leave_approvals(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<RequestConnection>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let viewer = Arc::new(actor(ctx).await?);
        let rows = ctx
            .use_cases::<UseCases>()?
            .pending_leave_approvals(&tenant, &viewer, &page)
            .await?;
        let rows = wrap_requests(ctx, &tenant, rows, viewer).await?;
        Ok(Some(connection_from_rows(&page, rows, |r| {
            r.model.id.clone()
        })))
    }

    /// One leave request, if the caller may see it (their own, one they approve, or HR).
    #[graphql(
        requires_scopes = "leave:apply",
        requires_scopes = "leave:approve",
        requires_scopes = "hr:admin"
    )]
    async fn leave_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] id: ID,
    ) -> Result<Option<LeaveRequest>> {
        let tenant = ctx.tenant()?;
        let viewer = Arc::new(actor(ctx).await?);
        let Some(model) = ctx
            .use_cases::<UseCases>()?
            .leave_request(&tenant, &id)
            .await?
        else {
            return Ok(None);
        };
        let visible = viewer.is_hr
            || viewer.employee_id.as_deref().is_some_and(|me| {
                model.employee_id == me || model.manager_id.as_deref() == Some(me)
            });
        if !visible {
            return Ok(None);
        }
        one_request(ctx, model, viewer).await
    }

    /// The tenant's leave types, in creation order.
    #[graphql(
        requires_scopes = "leave:apply",
        requires_scopes = "leave:approve",
        requires_scopes = "hr:admin"
    )]
    async fn leave_types(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, LeaveType, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .list_leave_types(&tenant, &page)
            .await?;
        let rows = rows.into_iter().map(LeaveType).collect();
        Ok(Some(connection_from_rows(&page, rows, |t| t.0.id.clone())))
    }

    /// A leave policy with its lines (HR).
    #[graphql(requires_scopes = "hr:admin")]
    async fn leave_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy.")] id: ID,
    ) -> Result<Option<LeavePolicy>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .use_cases::<UseCases>()?
            .leave_policy(&tenant, &id)
            .await?
            .map(|(model, lines)| LeavePolicy { model, lines }))
    }

    /// The holidays of a year: the tenant-wide calendar's, and one location's when given.
    #[graphql(
        requires_scopes = "leave:apply",
        requires_scopes = "leave:approve",
        requires_scopes = "hr:admin"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn holidays(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The calendar year, 2000 to 2999.")] year: i32,
        #[graphql(desc = "Also this location's holidays (the tenant-wide calendar's always).")]
        location_id: Option<ID>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Holiday, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        if !(2000..=2999).contains(&year) {
            return Err(ApiError::bad_input("year", "a year is between 2000 and 2999").into());
        }
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .list_holidays(
                &tenant,
                year,
                location_id.as_ref().map(|id| id.as_str()),
                &page,
            )
            .await?;
        let rows = rows.into_iter().map(Holiday).collect();
        Ok(Some(connection_from_rows(&page, rows, |h| h.0.id.clone())))
    }
}

/// A new leave type.
#[derive(InputObject)]
pub struct CreateLeaveTypeInput {
    /// Short code, unique in the tenant: 1 to 16 letters, digits or `_` (upper-cased).
    pub code: String,
    /// Name shown to employees (1 to 200 characters).
    pub name: String,
    /// Paid leave is counted against a balance; unpaid leave is not.
    #[graphql(default = true)]
    pub paid: bool,
    /// Whether requests may take half days.
    #[graphql(default = true)]
    pub allows_half_day: bool,
    /// Whether requests go through the manager and HR.
    #[graphql(default = true)]
    pub requires_approval: bool,
    /// The most working days one request may take (half days allowed), if capped.
    pub max_consecutive_days: Option<f64>,
    /// Whether a request may take the balance below zero.
    #[graphql(default = false)]
    pub allow_negative_balance: bool,
}

/// What a policy grants of one leave type.
#[derive(InputObject)]
pub struct LeavePolicyLineInput {
    /// The leave type.
    pub leave_type_id: ID,
    /// Days earned per period (more than 0, at most two decimals, e.g. 1.67).
    pub days_per_period: f64,
    /// The most days that carry into a new year; 0 lets the whole balance lapse.
    #[graphql(default = 0.0)]
    pub carry_forward_max_days: f64,
}

/// A new leave policy.
#[derive(InputObject)]
pub struct CreateLeavePolicyInput {
    /// Name, unique in the tenant.
    pub name: String,
    /// How often it earns leave.
    pub accrual_frequency: AccrualFrequency,
    /// Whether joiners earn their first period in proportion to the days employed.
    #[graphql(default = true)]
    pub prorate_joiners: bool,
    /// Weekly rest days as ISO weekday numbers (1 = Monday ... 7 = Sunday); ignored when
    /// `weekend` is given.
    #[graphql(
        default_with = "vec![6, 7]",
        deprecation = "use `weekend` (the DayOfWeek enum)"
    )]
    pub weekend_days: Vec<u32>,
    /// Weekly rest days (Saturday and Sunday when omitted, unless the deprecated
    /// `weekendDays` says otherwise).
    pub weekend: Option<Vec<DayOfWeek>>,
    /// What it grants, per leave type (1 to 50 lines).
    pub lines: Vec<LeavePolicyLineInput>,
}

/// Puts an employee on a leave policy.
#[derive(InputObject)]
pub struct AssignLeavePolicyInput {
    /// The employee.
    pub employee_id: ID,
    /// The policy (replaces the employee's current one).
    pub policy_id: ID,
    /// The work location whose holiday calendar applies besides the tenant-wide one.
    pub holiday_location_id: Option<ID>,
}

/// A new holiday.
#[derive(InputObject)]
pub struct AddHolidayInput {
    /// The day.
    pub day: Date,
    /// Name (1 to 200 characters).
    pub name: String,
    /// The location whose calendar it belongs to; omit for the tenant-wide calendar.
    pub location_id: Option<ID>,
}

/// A leave request of the caller.
#[derive(InputObject)]
pub struct RequestLeaveInput {
    /// The kind of leave.
    pub leave_type_id: ID,
    /// The first day.
    pub start_date: Date,
    /// The last day (the start date for a one-day request).
    pub end_date: Date,
    /// Start in the afternoon of the first day (`SECOND_HALF`); for a one-day request, the
    /// half taken.
    pub start_half: Option<HalfDay>,
    /// End at noon of the last day (`FIRST_HALF`).
    pub end_half: Option<HalfDay>,
    /// Why (optional, at most 500 characters).
    pub reason: Option<String>,
}

/// HR's correction of a balance.
#[derive(InputObject)]
pub struct AdjustLeaveBalanceInput {
    /// The employee.
    pub employee_id: ID,
    /// The leave type (paid).
    pub leave_type_id: ID,
    /// Days to add (positive) or remove (negative), at most two decimals.
    pub days: f64,
    /// Why (required, 1 to 500 characters).
    pub reason: String,
}

#[derive(Default)]
pub struct LeaveMutation;

#[Object]
impl LeaveMutation {
    /// Creates a leave type; publishes `leave.type_created`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn create_leave_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The leave type's code, name and rules.")] input: CreateLeaveTypeInput,
    ) -> Result<Option<LeaveType>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let new = NewLeaveType {
            code: parse_type_code(&input.code)?,
            name: DisplayName::parse("name", &input.name)?.as_str().to_owned(),
            rules: LeaveTypeRules {
                paid: input.paid,
                allows_half_day: input.allows_half_day,
                requires_approval: input.requires_approval,
                max_consecutive: input
                    .max_consecutive_days
                    .map(|d| parse_days("maxConsecutiveDays", d, false, false))
                    .transpose()?,
                allow_negative_balance: input.allow_negative_balance,
            },
        };
        if new
            .rules
            .max_consecutive
            .is_some_and(|max| max % crate::domain::leave::HALF_DAY != 0)
        {
            return Err(ApiError::bad_input(
                "maxConsecutiveDays",
                "the longest request is a whole or half number of days",
            )
            .into());
        }
        Ok(Some(LeaveType(
            ctx.use_cases::<UseCases>()?
                .create_leave_type(&tenant, &actor, new)
                .await?,
        )))
    }

    /// Creates a leave policy with its lines; publishes `leave.policy_created`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn create_leave_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy and its lines.")] input: CreateLeavePolicyInput,
    ) -> Result<Option<LeavePolicy>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        if input.lines.is_empty() || input.lines.len() > 50 {
            return Err(ApiError::bad_input("lines", "a policy has 1 to 50 lines").into());
        }
        let mut lines = Vec::new();
        for line in input.lines {
            lines.push(NewPolicyLine {
                leave_type_id: line.leave_type_id.0,
                accrual_amount: parse_days("daysPerPeriod", line.days_per_period, false, false)?,
                carry_forward_max: parse_days(
                    "carryForwardMaxDays",
                    line.carry_forward_max_days,
                    false,
                    true,
                )?,
            });
        }
        let new = NewPolicy {
            name: DisplayName::parse("name", &input.name)?.as_str().to_owned(),
            frequency: input.accrual_frequency.into(),
            prorate_joiners: input.prorate_joiners,
            weekend: match &input.weekend {
                Some(days) => {
                    let mut numbers: Vec<u32> = days
                        .iter()
                        .map(|day| chrono::Weekday::from(*day).number_from_monday())
                        .collect();
                    numbers.sort_unstable();
                    parse_weekend(&numbers)?
                }
                None => parse_weekend(&input.weekend_days)?,
            },
            lines,
        };
        let (model, lines) = ctx
            .use_cases::<UseCases>()?
            .create_leave_policy(&tenant, &actor, new)
            .await?;
        Ok(Some(LeavePolicy { model, lines }))
    }

    /// Puts an employee on a policy (and a holiday calendar); publishes
    /// `leave.policy_assigned`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn assign_leave_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee, the policy and the holiday calendar.")]
        input: AssignLeavePolicyInput,
    ) -> Result<Option<LeavePolicyAssignment>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        Ok(Some(LeavePolicyAssignment(
            ctx.use_cases::<UseCases>()?
                .assign_leave_policy(
                    &tenant,
                    &actor,
                    &input.employee_id,
                    &input.policy_id,
                    input.holiday_location_id.map(|id| id.0),
                )
                .await?,
        )))
    }

    /// Adds a holiday to the tenant-wide calendar or a location's; publishes `holiday.added`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn add_holiday(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day, its name and its calendar.")] input: AddHolidayInput,
    ) -> Result<Option<Holiday>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let name = DisplayName::parse("name", &input.name)?;
        Ok(Some(Holiday(
            ctx.use_cases::<UseCases>()?
                .add_holiday(
                    &tenant,
                    &actor,
                    input.day.into(),
                    name.as_str(),
                    input.location_id.map(|id| id.0),
                )
                .await?,
        )))
    }

    /// Requests leave for the caller; publishes `leave.requested` (and `leave.approved` when
    /// the type needs no approval). Refused when it overlaps another pending or approved
    /// request (LEAVE_OVERLAP) or the balance does not cover it (INSUFFICIENT_LEAVE_BALANCE).
    #[graphql(requires_scopes = "leave:apply")]
    async fn request_leave(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The leave type, the days and why.")] input: RequestLeaveInput,
    ) -> Result<Option<LeaveRequest>> {
        let tenant = ctx.tenant()?;
        let viewer = Arc::new(actor(ctx).await?);
        let employee_id = viewer.own_employee()?.to_owned();
        let span = LeaveSpan::parse(
            input.start_date.into(),
            input.end_date.into(),
            input.start_half.map(Into::into),
            input.end_half.map(Into::into),
        )?;
        let reason = match input.reason.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(reason) => Some(parse_reason("reason", reason)?),
        };
        let new = NewLeaveRequest {
            leave_type_id: input.leave_type_id.0,
            span,
            reason,
        };
        let model = ctx
            .use_cases::<UseCases>()?
            .request_leave(&tenant, &viewer.user_id, &employee_id, new)
            .await
            .map_err(gql)?;
        one_request(ctx, model, viewer).await
    }

    /// Approves the current step of a request: the employee's manager first, then HR. The
    /// final approval takes the days from the balance and publishes `leave.approved`.
    #[graphql(
        requires_scopes = "leave:approve",
        requires_scopes = "hr:admin",
        deprecation = "use `decideLeaveRequest` with `decision: APPROVE`"
    )]
    async fn approve_leave(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] id: ID,
        #[graphql(desc = "A comment for the employee (at most 500 characters).")] comment: Option<
            String,
        >,
    ) -> Result<Option<LeaveRequest>> {
        let comment = optional_comment("comment", comment)?;
        decide_leave(ctx, id, Decision::Approve, comment).await
    }

    /// Rejects a request at its current step, with a reason; publishes `leave.rejected`.
    #[graphql(
        requires_scopes = "leave:approve",
        requires_scopes = "hr:admin",
        deprecation = "use `decideLeaveRequest` with `decision: REJECT`"
    )]
    async fn reject_leave(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] id: ID,
        #[graphql(desc = "Why (1 to 500 characters).")] reason: String,
    ) -> Result<Option<LeaveRequest>> {
        let reason = parse_reason("reason", &reason)?;
        decide_leave(ctx, id, Decision::Reject, Some(reason)).await
    }

    /// Approves the current step of a request (the employee's manager first, then HR; the
    /// final approval takes the days from the balance and publishes `leave.approved`), or
    /// rejects it with a reason (publishes `leave.rejected`). FORBIDDEN with
    /// `extensions.reason` SELF_APPROVAL or NOT_APPROVER; CONFLICT with INVALID_LEAVE_STATE
    /// once decided.
    #[graphql(requires_scopes = "leave:approve", requires_scopes = "hr:admin")]
    async fn decide_leave_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request and the decision.")] input: DecideLeaveRequestInput,
    ) -> Result<Option<LeaveRequest>> {
        let comment = optional_comment("comment", input.comment)?;
        let decision = match input.decision {
            ApprovalDecision::Approve => Decision::Approve,
            ApprovalDecision::Reject if comment.is_none() => {
                return Err(
                    ApiError::bad_input("comment", "a rejection says why: give a comment").into(),
                )
            }
            ApprovalDecision::Reject => Decision::Reject,
        };
        decide_leave(ctx, input.request_id, decision, comment).await
    }

    /// Cancels the caller's own request before its first day; an approved one gives its days
    /// back (a `reversal` entry). Publishes `leave.cancelled`.
    #[graphql(
        requires_scopes = "leave:apply",
        deprecation = "use `cancelLeaveRequest` (one input)"
    )]
    async fn cancel_leave(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] id: ID,
    ) -> Result<Option<LeaveRequest>> {
        cancel_leave(ctx, id).await
    }

    /// Cancels the caller's own request before its first day; an approved one gives its days
    /// back (a `reversal` entry). Publishes `leave.cancelled`. FORBIDDEN with
    /// `extensions.reason` NOT_REQUESTER for someone else's; CONFLICT with
    /// LEAVE_ALREADY_STARTED once it has started.
    #[graphql(requires_scopes = "leave:apply")]
    async fn cancel_leave_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] input: CancelLeaveRequestInput,
    ) -> Result<Option<LeaveRequest>> {
        cancel_leave(ctx, input.request_id).await
    }

    /// Adds or removes days from an employee's balance, with a reason (an `adjustment`
    /// entry); publishes `leave.balance_adjusted`.
    #[graphql(requires_scopes = "hr:admin")]
    async fn adjust_leave_balance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The balance, the days and why.")] input: AdjustLeaveBalanceInput,
    ) -> Result<Option<LeaveLedgerEntry>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let amount = parse_days("days", input.days, true, false)?;
        let reason = parse_reason("reason", &input.reason)?;
        let entry = ctx
            .use_cases::<UseCases>()?
            .adjust_leave_balance(
                &tenant,
                &actor,
                BalanceAdjustment {
                    employee_id: input.employee_id.0,
                    leave_type_id: input.leave_type_id.0,
                    amount,
                    reason,
                },
                today(),
            )
            .await
            .map_err(gql)?;
        Ok(Some(LeaveLedgerEntry(entry)))
    }

    /// Posts the accrual of a period (`YYYY-MM` for monthly policies, `YYYY` for yearly ones)
    /// for every employee on such a policy. Idempotent: once per employee, leave type and
    /// period; a second run writes nothing.
    #[graphql(
        requires_scopes = "hr:admin",
        deprecation = "use `postLeaveAccrual` (one input)"
    )]
    async fn run_leave_accrual(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`YYYY-MM` for monthly policies, `YYYY` for yearly ones.")] period: String,
    ) -> Result<Option<LeaveAccrualRun>> {
        post_accrual(ctx, &period).await
    }

    /// Posts the accrual of a period (`YYYY-MM` for monthly policies, `YYYY` for yearly ones)
    /// for every employee on such a policy. Idempotent: once per employee, leave type and
    /// period; a second run writes nothing.
    #[graphql(requires_scopes = "hr:admin")]
    async fn post_leave_accrual(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The period.")] input: PostLeaveAccrualInput,
    ) -> Result<Option<LeaveAccrualRun>> {
        post_accrual(ctx, &input.period).await
    }

    /// Closes a leave year that has ended: every positive balance lapses except what the
    /// policy lets carry into the next year. Once per balance and year.
    #[graphql(
        requires_scopes = "hr:admin",
        deprecation = "use `closeLeaveYearBalances` (one input)"
    )]
    async fn close_leave_year(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The year, 2000 to 2999, over.")] year: i32,
    ) -> Result<Option<LeaveYearClose>> {
        close_year(ctx, year).await
    }

    /// Closes a leave year that has ended: every positive balance lapses except what the
    /// policy lets carry into the next year. Once per balance and year.
    #[graphql(requires_scopes = "hr:admin")]
    async fn close_leave_year_balances(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The year.")] input: CloseLeaveYearBalancesInput,
    ) -> Result<Option<LeaveYearClose>> {
        close_year(ctx, input.year).await
    }
}

/// `runLeaveAccrual` and `postLeaveAccrual`.
async fn post_accrual(ctx: &Context<'_>, period: &str) -> Result<Option<LeaveAccrualRun>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    let period = AccrualPeriod::parse(period)?;
    if period.first_day() > today() {
        return Err(ApiError::bad_input("period", "the period has not started").into());
    }
    let outcome = ctx
        .use_cases::<UseCases>()?
        .run_leave_accrual(&tenant, &actor, period)
        .await?;
    Ok(Some(LeaveAccrualRun {
        period: period.key(),
        entries_created: outcome.created,
        entries_already_posted: outcome.already_posted,
        days_posted: to_days(outcome.amount),
    }))
}

/// `closeLeaveYear` and `closeLeaveYearBalances`.
async fn close_year(ctx: &Context<'_>, year: i32) -> Result<Option<LeaveYearClose>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    if !(2000..=2999).contains(&year) {
        return Err(ApiError::bad_input("year", "a year is between 2000 and 2999").into());
    }
    if (AccrualPeriod::Year { year }).last_day() >= today() {
        return Err(ApiError::bad_input("year", "the year has not ended").into());
    }
    let outcome = ctx
        .use_cases::<UseCases>()?
        .close_leave_year(&tenant, &actor, year)
        .await?;
    Ok(Some(LeaveYearClose {
        year,
        balances_closed: outcome.balances_closed,
        balances_already_closed: outcome.already_closed,
        days_carried_forward: to_days(outcome.carried_forward),
        days_lapsed: to_days(outcome.lapsed),
    }))
}

/// An optional comment: blank is none, else 1 to 500 characters.
fn optional_comment(field: &str, comment: Option<String>) -> Result<Option<String>> {
    Ok(match comment.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(comment) => Some(parse_reason(field, comment)?),
    })
}

/// `cancelLeave` and `cancelLeaveRequest`.
async fn cancel_leave(ctx: &Context<'_>, id: ID) -> Result<Option<LeaveRequest>> {
    let tenant = ctx.tenant()?;
    let viewer = Arc::new(actor(ctx).await?);
    let model = ctx
        .use_cases::<UseCases>()?
        .cancel_leave(&tenant, &viewer, &id, today())
        .await
        .map_err(gql)?;
    one_request(ctx, model, viewer).await
}

/// The decision on a leave request's current step.
#[derive(InputObject)]
pub struct DecideLeaveRequestInput {
    /// The request.
    pub request_id: ID,
    /// Approve its current step, or reject it.
    pub decision: ApprovalDecision,
    /// A comment for the employee (at most 500 characters); required to reject (the reason).
    pub comment: Option<String>,
}

/// A leave request to cancel.
#[derive(InputObject)]
pub struct CancelLeaveRequestInput {
    /// The caller's own request, before its first day.
    pub request_id: ID,
}

/// The period of an accrual run.
#[derive(InputObject)]
pub struct PostLeaveAccrualInput {
    /// `YYYY-MM` for monthly policies (e.g. `2026-03`), `YYYY` for yearly ones (e.g.
    /// `2026`); a period that has started.
    pub period: String,
}

/// The leave year to close.
#[derive(InputObject)]
pub struct CloseLeaveYearBalancesInput {
    /// The year, 2000 to 2999, over.
    pub year: i32,
}

async fn decide_leave(
    ctx: &Context<'_>,
    id: ID,
    decision: Decision,
    comment: Option<String>,
) -> Result<Option<LeaveRequest>> {
    let tenant = ctx.tenant()?;
    let viewer = Arc::new(actor(ctx).await?);
    let model = ctx
        .use_cases::<UseCases>()?
        .decide_leave(&tenant, &viewer, &id, decision, comment)
        .await
        .map_err(gql)?;
    one_request(ctx, model, viewer).await
}
