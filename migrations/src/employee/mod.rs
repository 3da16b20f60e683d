//! The employee (HRMS) domain's schema.

mod m0001_people;
mod m0002_sensitive;
mod m0003_attendance;
mod m0004_leave;
mod m0005_shifts;
mod m0006_okr;
mod m0007_keyset_indexes;
mod m0008_assigned_location;
mod m0009_exits;
mod m0010_attendance_periods;
mod m0011_attendance_adjustments;

use sea_orm_migration::prelude::*;

use crate::outbox::CreateOutbox;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migration_table_name() -> DynIden {
        Alias::new("employee_migrations").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox {
                domain: "employee",
                name: "m0000_employee_outbox",
            }),
            Box::new(m0001_people::Migration),
            Box::new(m0002_sensitive::Migration),
            Box::new(m0003_attendance::Migration),
            Box::new(m0004_leave::Migration),
            Box::new(m0005_shifts::Migration),
            Box::new(m0006_okr::Migration),
            Box::new(m0007_keyset_indexes::Migration),
            Box::new(m0008_assigned_location::Migration),
            Box::new(m0009_exits::Migration),
            Box::new(m0010_attendance_periods::Migration),
            Box::new(m0011_attendance_adjustments::Migration),
        ]
    }
}
