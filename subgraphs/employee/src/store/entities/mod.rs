//! The sea-orm models of the employee tables (the same on PostgreSQL and SQLite); the
//! migrations in `erp_migrations::employee` create them.

pub mod attendance_correction;
pub mod department;
pub mod employee;
pub mod key_result;
pub mod leave_assignment;
pub mod leave_holiday;
pub mod leave_ledger;
pub mod leave_policy;
pub mod leave_policy_line;
pub mod leave_request;
pub mod leave_type;
pub mod objective;
pub mod okr_check_in;
