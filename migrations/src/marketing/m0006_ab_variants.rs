//! A/B tests of campaigns (m0006).
//!
//! - `mkt_campaign_variants`: a campaign's variants (A is the campaign's own template, B, C,
//!   ... the challengers), each a bulk template, in order.
//! - `mkt_campaigns.ab_test_percent` (the share of the audience the test goes to, split evenly
//!   between the variants; NULL: no test), `ab_winner_by` (`open_rate`, `click_rate` or
//!   `manual`), `ab_wait_ms` (how long after the start the winner is chosen),
//!   `ab_winner_variant_id` and `ab_decided_at` (the winner, once chosen).
//! - `mkt_messages.variant_id`: the variant a message sends (NULL: the campaign's template,
//!   or, for a `held` message, the winner still to be chosen).

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column, type): the added columns, all NULL on the rows that exist.
const COLUMNS: &[(&str, &str, Ty)] = &[
    ("mkt_campaigns", "ab_test_percent", Ty::Int),
    ("mkt_campaigns", "ab_winner_by", Ty::Text),
    ("mkt_campaigns", "ab_wait_ms", Ty::BigInt),
    ("mkt_campaigns", "ab_winner_variant_id", Ty::Text),
    ("mkt_campaigns", "ab_decided_at", Ty::BigInt),
    ("mkt_messages", "variant_id", Ty::Text),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for (table_name, column, ty) in COLUMNS {
            let mut def = ColumnDef::new(Alias::new(*column));
            match ty {
                Ty::Int => def.integer(),
                Ty::BigInt => def.big_integer(),
                _ => def.string(),
            };
            def.null();
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table_name))
                        .add_column(&mut def)
                        .to_owned(),
                )
                .await?;
        }
        use Ty::*;
        create(
            manager,
            vec![table(
                "mkt_campaign_variants",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("id", Text, NOT_NULL),
                    ("campaign_id", Text, NOT_NULL),
                    ("label", Text, NOT_NULL),
                    ("template_id", Text, NOT_NULL),
                    ("position", Int, NOT_NULL),
                ],
                &["tenant_id", "id"],
            )],
            vec![index(
                "mkt_campaign_variants",
                "campaign",
                &["tenant_id", "campaign_id", "position"],
                true,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["mkt_campaign_variants"]).await?;
        for (table_name, column, _) in COLUMNS {
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
