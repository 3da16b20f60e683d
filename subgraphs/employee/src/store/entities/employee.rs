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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
