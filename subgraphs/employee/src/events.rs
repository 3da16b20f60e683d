//! The domain events this subgraph publishes (topic `erp.employee.events`, through the
//! outbox), and the live attendance updates it publishes on the cache's pub/sub channel for
//! live boards (best effort, after commit).

use chrono::NaiveDate;
use serde::Serialize;

use erp_kit::TenantId;

pub const DOMAIN: &str = "employee";

pub const EMPLOYEE_HIRED: &str = "employee.hired";
pub const CHECKED_IN: &str = "attendance.checked_in";
pub const CHECKED_OUT: &str = "attendance.checked_out";
pub const DEPARTMENT_CREATED: &str = "department.created";
/// Payload: employee id and location id (null when cleared).
pub const LOCATION_ASSIGNED: &str = "employee.location_assigned";
/// Payload: employee id, currency and `sealed_for_payroll` (the salary, bank account and tax
/// id sealed in transit for finance's payroll, `erp_kit::crypto::seal_in_transit`); amounts and
/// account numbers never travel in clear.
pub const COMPENSATION_CHANGED: &str = "employee.compensation_changed";

/// Payload of `employee.hired` (schema version 1). Sensitive fields are never in events.
#[derive(Debug, Serialize)]
pub struct EmployeeHired<'a> {
    pub employee_id: &'a str,
    pub employee_number: &'a str,
    pub display_name: &'a str,
    pub work_email: &'a str,
    pub department_id: Option<&'a str>,
    pub manager_id: Option<&'a str>,
    pub hired_on: chrono::NaiveDate,
    /// The identity user the employee logs in as, when linked (finance's expense approvals).
    pub user_id: Option<&'a str>,
}

// Exits (payloads: ids, the last working day and the reason code; never the notes).
/// The exit took effect (on the last working day, or at once for a day today or past): the
/// status is `terminated`. Consumers: CRM (the leaver leaves their teams and assignment),
/// payroll (final settlement), operations (asset return).
pub const EMPLOYEE_LEFT: &str = "employee.left";
/// An exit recorded with a last working day ahead (it takes effect on that day).
pub const EXIT_SCHEDULED: &str = "employee.exit_scheduled";
/// A scheduled exit was cancelled before it took effect.
pub const EXIT_CANCELLED: &str = "employee.exit_cancelled";

/// Payload of `employee.left`, `employee.exit_scheduled` and `employee.exit_cancelled`
/// (schema version 1).
#[derive(Debug, Serialize)]
pub struct EmployeeExit<'a> {
    pub employee_id: &'a str,
    pub employee_number: &'a str,
    pub display_name: &'a str,
    /// The identity user the employee logs in as, when linked (CRM records are owned by users).
    pub user_id: Option<&'a str>,
    pub manager_id: Option<&'a str>,
    pub department_id: Option<&'a str>,
    pub hired_on: NaiveDate,
    pub last_working_day: NaiveDate,
    /// `resignation`, `dismissal`, `redundancy`, `end_of_contract`, `retirement`,
    /// `mutual_agreement`, `deceased` or `other`.
    pub reason: &'a str,
}

/// Payload of `attendance.checked_in` and `attendance.checked_out` (schema version 1).
#[derive(Debug, Serialize)]
pub struct PunchRecorded<'a> {
    pub punch_id: &'a str,
    pub employee_id: &'a str,
    pub department_id: Option<&'a str>,
    /// Server time, Unix milliseconds.
    pub at: i64,
    /// `web`, `mobile` or `kiosk`.
    pub source: &'a str,
    pub location_id: Option<&'a str>,
}

/// Payload of `department.created` (schema version 1).
#[derive(Debug, Serialize)]
pub struct DepartmentCreated<'a> {
    pub department_id: &'a str,
    pub name: &'a str,
    pub parent_id: Option<&'a str>,
}

// Shifts, corrections and the reporting line (payload: ids, days and times; never reasons'
// personal details beyond what the approver sees).
pub const SHIFT_CREATED: &str = "shift.created";
pub const SHIFT_ASSIGNED: &str = "shift.assigned";
pub const CORRECTION_REQUESTED: &str = "attendance.correction_requested";
pub const ATTENDANCE_CORRECTED: &str = "attendance.corrected";
pub const CORRECTION_REJECTED: &str = "attendance.correction_rejected";
pub const MANAGER_CHANGED: &str = "employee.manager_changed";
/// An employee's month of attendance was closed (approved for payroll) by a manager above
/// them or HR: the minutes worked and the overtime computed from its days. Consumer: payroll
/// (overtime pay).
pub const ATTENDANCE_PERIOD_CLOSED: &str = "attendance.period_closed";

/// Payload of `attendance.period_closed` (schema version 1): ids, the period and minutes.
#[derive(Debug, Serialize)]
pub struct AttendancePeriodClosed<'a> {
    pub employee_id: &'a str,
    /// `YYYY-MM`
    pub period: &'a str,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub worked_minutes: i64,
    /// Approved overtime: see `domain::attendance::overtime_minutes`.
    pub overtime_minutes: i64,
    pub closed_by: &'a str,
}

/// A day of an employee's closed month of attendance was corrected by an attendance admin (a
/// reason recorded, never published): the period's new totals, with the revision that orders
/// the adjustments of the month. Consumer: payroll (the overtime difference is settled by its
/// next regular run, labelled with the month).
pub const ATTENDANCE_PERIOD_ADJUSTED: &str = "attendance.period_adjusted";

/// Payload of `attendance.period_adjusted` (schema version 1): ids, the day, the period's new
/// totals and the day's differences, in minutes.
#[derive(Debug, Serialize)]
pub struct AttendancePeriodAdjusted<'a> {
    pub adjustment_id: &'a str,
    pub employee_id: &'a str,
    /// `YYYY-MM`
    pub period: &'a str,
    pub day: &'a str,
    /// 1 for the month's first adjustment, then 2, ...: the highest is the newest.
    pub revision: i64,
    /// The period's totals after the adjustment.
    pub worked_minutes: i64,
    pub overtime_minutes: i64,
    /// What the adjustment changed (after - before; below zero when it took minutes away).
    pub worked_delta_minutes: i64,
    pub overtime_delta_minutes: i64,
    pub adjusted_by: &'a str,
}

// Leave (payloads: ids, dates, day counts and the approver's comment; never the employee's
// own reason).
pub const LEAVE_REQUESTED: &str = "leave.requested";
/// The manager approved the first step; HR decides next.
pub const LEAVE_MANAGER_APPROVED: &str = "leave.manager_approved";
/// Fully approved: the days are taken from the balance.
pub const LEAVE_APPROVED: &str = "leave.approved";
pub const LEAVE_REJECTED: &str = "leave.rejected";
pub const LEAVE_CANCELLED: &str = "leave.cancelled";
pub const LEAVE_BALANCE_ADJUSTED: &str = "leave.balance_adjusted";
pub const LEAVE_ACCRUED: &str = "leave.accrued";
pub const LEAVE_YEAR_CLOSED: &str = "leave.year_closed";
pub const LEAVE_TYPE_CREATED: &str = "leave.type_created";
pub const LEAVE_POLICY_CREATED: &str = "leave.policy_created";
pub const LEAVE_POLICY_ASSIGNED: &str = "leave.policy_assigned";
pub const HOLIDAY_ADDED: &str = "holiday.added";

/// Payload of `leave.requested`, `leave.manager_approved`, `leave.approved`, `leave.rejected`
/// and `leave.cancelled` (schema version 1).
#[derive(Debug, Serialize)]
pub struct LeaveRequestEvent<'a> {
    pub request_id: &'a str,
    pub employee_id: &'a str,
    pub leave_type_id: &'a str,
    pub start_date: chrono::NaiveDate,
    pub end_date: chrono::NaiveDate,
    /// `first` / `second` when the first day is taken by halves.
    pub start_half: Option<&'a str>,
    pub end_half: Option<&'a str>,
    /// Working days taken, e.g. 2.5.
    pub days: f64,
    /// The status after the change (`pending_manager`, `pending_hr`, `approved`, ...).
    pub status: &'a str,
    /// The approver's comment or the rejection reason.
    pub comment: Option<&'a str>,
}

// OKRs.
pub const OBJECTIVE_CREATED: &str = "okr.objective_created";
pub const OBJECTIVE_ALIGNED: &str = "okr.objective_aligned";
pub const KEY_RESULT_ADDED: &str = "okr.key_result_added";
pub const OKR_CHECKED_IN: &str = "okr.checked_in";

/// The live-board channel of a tenant's attendance (Redis pub/sub across replicas).
pub fn attendance_channel(tenant: &TenantId) -> String {
    format!("attendance:{tenant}")
}

/// What a live board receives after a punch or an applied correction (the subscriptions'
/// `AttendanceEvent` and `AttendanceStatusUpdate` read it). It carries the person's recomputed
/// day, so a board shows the new status without asking back.
#[derive(Debug, Serialize)]
pub struct LiveUpdate<'a> {
    /// The punch, or the applied correction.
    pub punch_id: &'a str,
    pub employee_id: &'a str,
    pub department_id: Option<&'a str>,
    /// `in`, `out` or `correction`.
    pub kind: &'a str,
    /// Unix milliseconds.
    pub at: i64,
    pub source: Option<&'a str>,
    pub location_id: Option<&'a str>,
    /// Missing when the day could not be computed (the punch itself is still announced).
    #[serde(flatten)]
    pub status: Option<LiveStatus<'a>>,
}

/// The person's day after the change, as a live board shows it.
#[derive(Debug, Serialize)]
pub struct LiveStatus<'a> {
    pub display_name: &'a str,
    pub day: NaiveDate,
    pub status: &'static str,
    pub first_in: Option<i64>,
    pub last_out: Option<i64>,
    pub late_minutes: i64,
    pub worked_minutes: i64,
    pub checked_in: bool,
}
