//! The domain events this subgraph publishes (topic `erp.employee.events`).

use serde::Serialize;

pub const DOMAIN: &str = "employee";

pub const EMPLOYEE_HIRED: &str = "employee.hired";
pub const CHECKED_IN: &str = "attendance.checked_in";
pub const CHECKED_OUT: &str = "attendance.checked_out";
pub const DEPARTMENT_CREATED: &str = "department.created";
/// Payload: employee id and currency only; amounts and account numbers never travel in events.
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
}

/// Payload of `department.created` (schema version 1).
#[derive(Debug, Serialize)]
pub struct DepartmentCreated<'a> {
    pub department_id: &'a str,
    pub name: &'a str,
    pub parent_id: Option<&'a str>,
}
