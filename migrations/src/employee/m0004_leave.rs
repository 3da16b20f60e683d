//! Leave: types, policies (accrual lines per type) and their assignment to employees, holiday
//! calendars, requests with their approval steps, and the balance ledger (a balance is the sum
//! of its entries; nothing is ever updated in place). Amounts are hundredths of a day.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).to_owned()
}

fn index(name: &str, table: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Alias::new(table));
    for column in columns {
        index.col(Alias::new(*column));
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

const TABLES: [&str; 7] = [
    "leave_ledger",
    "leave_requests",
    "leave_holidays",
    "leave_policy_assignments",
    "leave_policy_lines",
    "leave_policies",
    "leave_types",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_types"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("code").string().not_null())
                    .col(col("name").string().not_null())
                    .col(col("paid").boolean().not_null())
                    .col(col("allows_half_day").boolean().not_null())
                    .col(col("requires_approval").boolean().not_null())
                    // Hundredths of a day; NULL: no limit.
                    .col(col("max_consecutive").big_integer().null())
                    .col(col("allow_negative_balance").boolean().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_leave_types_tenant_code",
                "leave_types",
                &["tenant_id", "code"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_policies"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("name").string().not_null())
                    // `monthly` or `yearly`
                    .col(col("accrual").string().not_null())
                    .col(col("prorate_joiners").boolean().not_null())
                    // ISO weekday numbers, `6,7`
                    .col(col("weekend_days").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_leave_policies_tenant_name",
                "leave_policies",
                &["tenant_id", "name"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_policy_lines"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("policy_id").string().not_null())
                    .col(col("leave_type_id").string().not_null())
                    // Earned per period, hundredths of a day.
                    .col(col("accrual_amount").big_integer().not_null())
                    // The most that carries into a new year, hundredths of a day.
                    .col(col("carry_forward_max").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_leave_policy_lines_type",
                "leave_policy_lines",
                &["tenant_id", "policy_id", "leave_type_id"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_policy_assignments"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    .col(col("policy_id").string().not_null())
                    // The location whose holiday calendar applies besides the tenant-wide one.
                    .col(col("holiday_location_id").string().null())
                    .col(col("assigned_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_leave_policy_assignments_employee",
                "leave_policy_assignments",
                &["tenant_id", "employee_id"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_holidays"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    // A location id, or '' for the tenant-wide calendar (NULL would not be
                    // unique).
                    .col(col("calendar").string().not_null())
                    .col(col("day").date().not_null())
                    .col(col("name").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_leave_holidays_day",
                "leave_holidays",
                &["tenant_id", "calendar", "day"],
                true,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_requests"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    .col(col("leave_type_id").string().not_null())
                    .col(col("start_date").date().not_null())
                    .col(col("end_date").date().not_null())
                    // `first` / `second` / NULL (whole day)
                    .col(col("start_half").string().null())
                    .col(col("end_half").string().null())
                    // Working days taken, hundredths of a day.
                    .col(col("days").big_integer().not_null())
                    .col(col("reason").string().null())
                    // pending_manager, pending_hr, approved, rejected, cancelled
                    .col(col("status").string().not_null())
                    // The approver of the first step, fixed when the request is made.
                    .col(col("manager_id").string().null())
                    .col(col("manager_approved_by").string().null())
                    .col(col("manager_approved_at").big_integer().null())
                    // The final decision (HR approval or a rejection at either step).
                    .col(col("decided_by").string().null())
                    .col(col("decided_at").big_integer().null())
                    .col(col("decision_comment").string().null())
                    .col(col("cancelled_at").big_integer().null())
                    .col(col("created_at").big_integer().not_null())
                    .col(col("updated_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_leave_requests_employee",
                "leave_requests",
                &["tenant_id", "employee_id", "status"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_leave_requests_approver",
                "leave_requests",
                &["tenant_id", "status", "manager_id"],
                false,
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("leave_ledger"))
                    .if_not_exists()
                    .col(col("id").string().not_null().primary_key())
                    .col(col("tenant_id").string().not_null())
                    .col(col("employee_id").string().not_null())
                    .col(col("leave_type_id").string().not_null())
                    // accrual, usage, reversal, carry_forward, expiry, adjustment
                    .col(col("kind").string().not_null())
                    // Signed, hundredths of a day.
                    .col(col("amount").big_integer().not_null())
                    .col(col("effective_on").date().not_null())
                    .col(col("reason").string().null())
                    .col(col("request_id").string().null())
                    // Idempotency key of entries that must exist once: the accrual period
                    // (`2026-03`), the closed year (`2026`), the request id of a usage or
                    // reversal. NULL for adjustments (NULLs never collide).
                    .col(col("period").string().null())
                    .col(col("created_by").string().not_null())
                    .col(col("created_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_leave_ledger_once",
                "leave_ledger",
                &[
                    "tenant_id",
                    "employee_id",
                    "leave_type_id",
                    "kind",
                    "period",
                ],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_leave_ledger_balance",
                "leave_ledger",
                &["tenant_id", "employee_id", "leave_type_id", "effective_on"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
