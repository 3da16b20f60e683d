//! Expenses: the directory of people finance learns from the employee subgraph's events
//! (employee, user, manager), expense categories with their policies, claims and their lines.
//!
//! An expense is paid exactly once (invariant F13): `paid_entry_id` is unique.

use sea_orm_migration::prelude::*;

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "finance_people",
    "finance_expense_categories",
    "finance_expenses",
    "finance_expense_lines",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![
            table(
                "finance_people",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("user_id", Text, NULL),
                    ("manager_employee_id", Text, NULL),
                    ("display_name", Text, NOT_NULL),
                    ("updated_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "employee_id"],
            ),
            table(
                "finance_expense_categories",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("code", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("account_id", Text, NOT_NULL),
                    ("cap_minor", BigInt, NULL),
                    ("cap_currency", Text, NULL),
                    ("receipt_required", Bool, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_expenses",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("employee_id", Text, NOT_NULL),
                    ("claimant_user_id", Text, NOT_NULL),
                    ("title", Text, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("total", BigInt, NOT_NULL),
                    ("state", Text, NOT_NULL),
                    ("submitted_at", Timestamp, NULL),
                    ("decided_by", Text, NULL),
                    ("decided_at", Timestamp, NULL),
                    ("refusal_reason", Text, NULL),
                    ("approved_entry_id", Text, NULL),
                    ("paid_entry_id", Text, NULL),
                    ("paid_at", Timestamp, NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_expense_lines",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("expense_id", Text, NOT_NULL),
                    ("line_no", Int, NOT_NULL),
                    ("category_id", Text, NOT_NULL),
                    ("spent_on", Date, NOT_NULL),
                    ("description", Text, NOT_NULL),
                    ("amount", BigInt, NOT_NULL),
                    ("receipt_ref", Text, NULL),
                ],
                &["id"],
            ),
        ];
        let indexes = vec![
            index(
                "ix_finance_people_user",
                "finance_people",
                &["tenant_id", "user_id"],
                false,
            ),
            index(
                "ux_finance_expense_categories_code",
                "finance_expense_categories",
                &["tenant_id", "code"],
                true,
            ),
            index(
                "ix_finance_expenses_employee",
                "finance_expenses",
                &["tenant_id", "employee_id", "id"],
                false,
            ),
            index(
                "ix_finance_expenses_state",
                "finance_expenses",
                &["tenant_id", "state"],
                false,
            ),
            index(
                "ux_finance_expenses_paid",
                "finance_expenses",
                &["paid_entry_id"],
                true,
            ),
            index(
                "ix_finance_expense_lines_expense",
                "finance_expense_lines",
                &["expense_id", "line_no"],
                false,
            ),
        ];
        create(manager, tables, indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}
