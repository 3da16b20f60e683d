//! `employees`: a person employed by the tenant; compensation columns hold sealed values only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "employees")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub employee_number: String,
    pub user_id: Option<String>,
    pub display_name: String,
    pub work_email: String,
    pub personal_email: Option<String>,
    pub date_of_birth: Option<Date>,
    pub title: Option<String>,
    pub status: String,
    pub department_id: Option<String>,
    pub manager_id: Option<String>,
    pub hired_on: Date,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    /// Sealed by the kit's FieldCipher; never plaintext.
    pub salary_sealed: Option<String>,
    pub salary_currency: Option<String>,
    pub bank_account_sealed: Option<String>,
    pub tax_id_sealed: Option<String>,
    /// Blind index of the normalised tax id (equality search).
    pub tax_id_index: Option<String>,
    /// The work location whose geofence every punch of the employee is checked against
    /// (also a punch that names no location).
    pub location_id: Option<String>,
    /// The last day the employee works (an exit recorded; in effect once `left_at` is set).
    pub last_working_day: Option<Date>,
    /// Why they leave (`domain::people::ExitReason`).
    pub exit_reason: Option<String>,
    pub exit_notes: Option<String>,
    /// The user who recorded the exit, and when.
    pub exit_recorded_by: Option<String>,
    pub exit_recorded_at: Option<ChronoDateTimeUtc>,
    /// When the exit took effect (status `terminated`, `employee.left` published).
    pub left_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
