//! The accounts the default chart gained after tenants were already set up: ops' fixed-asset
//! accounts (1500, 1590, 4900, 5600, 5900) and the exchange gain and loss accounts (4950,
//! 6950) that realised differences and revaluations post to. A tenant set up before them has
//! a chart without them, so its first foreign settlement or revaluation was refused
//! (EXCHANGE_ACCOUNT_MISSING). Each missing code is added to every set-up tenant's chart.
//!
//! Idempotent: a code the tenant already has (the default account, or one of its own under
//! that code) is left alone, so a second run adds nothing. The added row's `created_at` is the
//! tenant's set-up time (a stored timestamp of the right type on either database).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (code, name, kind, role): as in the finance subgraph's default chart at this migration.
const ADDED_ACCOUNTS: &[(&str, &str, &str, &str)] = &[
    ("1500", "Fixed assets", "asset", "general"),
    ("1590", "Accumulated depreciation", "asset", "general"),
    ("4900", "Gain on disposal of assets", "income", "general"),
    ("5600", "Depreciation expense", "expense", "general"),
    ("5900", "Loss on disposal of assets", "expense", "general"),
    ("4950", "Realised exchange gains", "income", "general"),
    ("6950", "Realised exchange losses", "expense", "general"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let placeholder = |n: usize| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        };
        for &(code, name, kind, role) in ADDED_ACCOUNTS {
            let lacking = db
                .query_all(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT s.tenant_id FROM finance_settings s WHERE NOT EXISTS \
                         (SELECT 1 FROM finance_accounts a WHERE a.tenant_id = s.tenant_id \
                         AND a.code = {})",
                        placeholder(1)
                    ),
                    [code.into()],
                ))
                .await?;
            for row in lacking {
                let tenant: String = row.try_get("", "tenant_id")?;
                let insert = format!(
                    "INSERT INTO finance_accounts (id, tenant_id, code, name, kind, role, created_at) \
                     SELECT {}, s.tenant_id, {}, {}, {}, {}, s.created_at FROM finance_settings s \
                     WHERE s.tenant_id = {} AND NOT EXISTS (SELECT 1 FROM finance_accounts a \
                     WHERE a.tenant_id = s.tenant_id AND a.code = {})",
                    placeholder(1),
                    placeholder(2),
                    placeholder(3),
                    placeholder(4),
                    placeholder(5),
                    placeholder(6),
                    placeholder(7),
                );
                db.execute(Statement::from_sql_and_values(
                    backend,
                    insert,
                    [
                        uuid::Uuid::now_v7().to_string().into(),
                        code.into(),
                        name.into(),
                        kind.into(),
                        role.into(),
                        tenant.into(),
                        code.into(),
                    ],
                ))
                .await?;
            }
        }
        Ok(())
    }

    /// The added accounts may carry postings by now: they stay.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
