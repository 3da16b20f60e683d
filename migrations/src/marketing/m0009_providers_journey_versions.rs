//! Sending providers with their own limits, and versions of journeys (m0009).
//!
//! - `mkt_providers`: a tenant's sending providers (the relay accounts it sends through), each
//!   with an optional rate per second and per hour and a daily cap (UTC days); at most one is
//!   the tenant's default (what a campaign without a provider, and every journey, sends
//!   through). Their slots are `mkt_send_slots` rows of scope `provider:<id>:<unit>`, the
//!   window counted in that unit (seconds, hours or days since the Unix epoch).
//! - `mkt_campaigns.provider_id`: the provider a campaign sends through (NULL: the default).
//! - `mkt_messages.deferred_by`: the limit that last deferred a message (`tenant_minute`,
//!   `domain_minute`, `provider_second`, `provider_hour`, `provider_day`), for the progress.
//! - `mkt_journey_versions`: every version of a journey's steps (an edit adds one; the
//!   journeys there are become their version 1); `mkt_journeys.steps_version`: the current
//!   one (what a new enrolment starts on); `mkt_journey_enrollments.journey_version`: the
//!   version an enrolment runs (1 for those there are). An index pages a journey's enrolments.

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column): the added nullable text columns.
const COLUMNS: &[(&str, &str)] = &[
    ("mkt_campaigns", "provider_id"),
    ("mkt_messages", "deferred_by"),
];

/// (table, column): the added version numbers (NOT NULL, 1 on the rows there are).
const VERSION_COLUMNS: &[(&str, &str)] = &[
    ("mkt_journeys", "steps_version"),
    ("mkt_journey_enrollments", "journey_version"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for (table_name, column) in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table_name))
                        .add_column(ColumnDef::new(Alias::new(*column)).string().null())
                        .to_owned(),
                )
                .await?;
        }
        for (table_name, column) in VERSION_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table_name))
                        .add_column(
                            ColumnDef::new(Alias::new(*column))
                                .integer()
                                .not_null()
                                .default(1),
                        )
                        .to_owned(),
                )
                .await?;
        }
        use Ty::*;
        create(
            manager,
            vec![table(
                "mkt_journey_versions",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("journey_id", Text, NOT_NULL),
                    ("version", Int, NOT_NULL),
                    ("steps", LongText, NOT_NULL),
                    ("created_by", Text, NOT_NULL),
                    ("created_at", BigInt, NOT_NULL),
                ],
                &["tenant_id", "journey_id", "version"],
            )],
            vec![index(
                "mkt_journey_enrollments",
                "page",
                &["tenant_id", "journey_id", "id"],
                false,
            )],
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO mkt_journey_versions (tenant_id, journey_id, version, steps, created_by, created_at) \
                 SELECT tenant_id, id, 1, steps, created_by, created_at FROM mkt_journeys",
            )
            .await?;
        create(
            manager,
            vec![table(
                "mkt_providers",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("id", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("per_second", Int, NULL),
                    ("per_hour", Int, NULL),
                    ("per_day", Int, NULL),
                    ("is_default", Bool, NOT_NULL),
                    ("updated_by", Text, NOT_NULL),
                    ("created_at", BigInt, NOT_NULL),
                    ("updated_at", BigInt, NOT_NULL),
                ],
                &["tenant_id", "id"],
            )],
            vec![index("mkt_providers", "name", &["tenant_id", "name"], true)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["mkt_providers", "mkt_journey_versions"]).await?;
        for (table_name, column) in COLUMNS.iter().chain(VERSION_COLUMNS) {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table_name))
                        .drop_column(Alias::new(*column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
