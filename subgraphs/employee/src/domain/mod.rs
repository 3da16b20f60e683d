//! Employee domain types and rules: pure, no GraphQL, no database. Values are parsed at the
//! boundary, so an invalid one cannot exist past it; a broken rule is a value of a rule enum
//! implementing [`erp_kit::RuleViolation`], reported as one of the [`reasons`] below.

pub mod attendance;
pub mod exits;
pub mod leave;
pub mod okr;
pub mod org;
pub mod people;

pub use people::{
    check_hire_dates, parse_bank_account, parse_tax_id, DisplayName, EmailAddress, EmployeeNumber,
    EmploymentStatus, NewHire, Salary,
};

erp_kit::reasons! {
    /// The employee domain's rules, each reported as `extensions.reason` beside the kit's
    /// `extensions.code` (the error catalogue, schema/errors.json, lists them).
    pub mod reasons {
        /// A record with the same unique value exists in the tenant: an employee number or
        /// work email, or the name or code of a department, location, shift, leave type or
        /// policy, a shift assignment of the same day, a holiday of the same day.
        ALREADY_EXISTS => Conflict,
        /// The user is linked to another employee record already (one record per user).
        USER_ALREADY_LINKED => Conflict,
        /// No employee record is linked to the caller's user (checking in, requesting leave
        /// or a correction, seeing reports' attendance without an HR scope).
        NO_EMPLOYEE_RECORD => Forbidden,
        /// The new manager is the employee, or (indirectly) reports to them.
        MANAGER_CYCLE => BadUserInput,
        /// A check-in while already checked in.
        ALREADY_CHECKED_IN => Conflict,
        /// A check-out while not checked in.
        NOT_CHECKED_IN => Conflict,
        /// The punch key was used for another punch (another person's, or the other kind).
        PUNCH_KEY_REUSED => Conflict,
        /// The same punch is being recorded by a concurrent request: sending it again
        /// returns it.
        PUNCH_IN_PROGRESS => Conflict,
        /// The device is outside the geofence of the location the punch names.
        OUTSIDE_GEOFENCE => Forbidden,
        /// A correction of the day is already waiting for a decision.
        CORRECTION_PENDING => Conflict,
        /// The correction was decided already (or meanwhile, by someone else).
        ALREADY_DECIDED => Conflict,
        /// Nobody approves or rejects their own request (an attendance correction, leave).
        SELF_APPROVAL => Forbidden,
        /// The caller does not decide this request: an attendance correction is decided by a
        /// manager above the employee or HR, a leave request's step by the employee's
        /// manager (first) or HR (second).
        NOT_APPROVER => Forbidden,
        /// Only the employee who asked for the leave may cancel it.
        NOT_REQUESTER => Forbidden,
        /// A former employee cannot request leave, nor check in or out on a day after their
        /// last working day.
        FORMER_EMPLOYEE => Forbidden,
        /// The last working day of an exit is before the employee's hiring date.
        EXIT_BEFORE_HIRE => BadUserInput,
        /// The last working day of an exit is more than a year (366 days) ahead.
        EXIT_TOO_FAR_AHEAD => BadUserInput,
        /// An exit is recorded for the employee already (scheduled: cancel it to change it;
        /// in effect: the employee left).
        EXIT_ALREADY_RECORDED => Conflict,
        /// Cancelling an exit when none is scheduled.
        NO_EXIT_SCHEDULED => Conflict,
        /// The exit took effect (the last working day came): it is no longer cancelled.
        EXIT_ALREADY_EFFECTIVE => Conflict,
        /// The employee's attendance of the period is closed (approved for payroll): it is
        /// not closed again, and its days are no longer corrected.
        ATTENDANCE_PERIOD_CLOSED => Conflict,
        /// An attendance period is closed only once its last day is over.
        PERIOD_NOT_OVER => BadUserInput,
        /// An adjustment of attendance is for a day of a closed period (approved for
        /// payroll); the day's period is open: a correction request is the way.
        ATTENDANCE_PERIOD_OPEN => Conflict,
        /// The leave meets another pending or approved leave request of the employee
        /// (`extensions.overlappingRequestId`).
        LEAVE_OVERLAP => Conflict,
        /// The balance (minus what pending requests hold) does not cover the leave
        /// (`extensions.availableDays`, `extensions.requestedDays`).
        INSUFFICIENT_LEAVE_BALANCE => Conflict,
        /// The action does not apply in the request's status (approving a rejected request).
        INVALID_LEAVE_STATE => Conflict,
        /// The leave has started: it can no longer be cancelled.
        LEAVE_ALREADY_STARTED => Conflict,
        /// The leave type caps one request's length (`extensions.maxDays`).
        MAX_CONSECUTIVE_DAYS_EXCEEDED => BadUserInput,
        /// The leave type is taken in whole days only.
        HALF_DAY_NOT_ALLOWED => BadUserInput,
        /// The period has no working day (weekends and holidays only).
        NO_WORKING_DAYS => BadUserInput,
        /// The parent objective is aligned (indirectly) under the objective.
        OBJECTIVE_CYCLE => BadUserInput,
        /// An objective holds at most 10 key results.
        KEY_RESULT_LIMIT => Conflict,
        /// Only the objective's owner, the managers above the owner and HR change it.
        NOT_OWNER => Forbidden,
    }
}
