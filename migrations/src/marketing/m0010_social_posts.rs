//! Social posts (m0010).
//!
//! - `mkt_channel_accounts`: a tenant's accounts on social networks (`kind`: x, linkedin,
//!   facebook, instagram, mastodon; the handle), one per (kind, handle).
//! - `mkt_social_posts`: a post for one account, both the post and the publisher's queue row:
//!   `status` draft -> scheduled -> publishing (handed to the channel adapter) -> published /
//!   failed; `scheduled_at` when it is due; the lease (`lease_until`, `leased_by`) a publisher
//!   holds, renewed at the hand-off; `attempts` counts hand-offs (the adapter's idempotency key
//!   and the mark's guard); `tracking_key` the random key of its public click link (unique
//!   across tenants: the link carries no tenant); `clicks` those followed.
//! - `mkt_social_conversions`: the CRM leads a post brought (a lead whose `utm_content` is the
//!   post's id, learnt from CRM's `lead.created`) and when each converted.

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        create(
            manager,
            vec![
                table(
                    "mkt_channel_accounts",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("kind", Text, NOT_NULL),
                        ("handle", Text, NOT_NULL),
                        ("created_by", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_social_posts",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("account_id", Text, NOT_NULL),
                        ("campaign_id", Text, NULL),
                        ("body", LongText, NOT_NULL),
                        ("link", LongText, NULL),
                        ("tracking_key", Text, NOT_NULL),
                        ("status", Text, NOT_NULL),
                        ("scheduled_at", BigInt, NULL),
                        ("lease_until", BigInt, NULL),
                        ("leased_by", Text, NULL),
                        ("attempts", Int, NOT_NULL),
                        ("handed_off_at", BigInt, NULL),
                        ("published_at", BigInt, NULL),
                        ("external_id", Text, NULL),
                        ("failure_reason", LongText, NULL),
                        ("failed_at", BigInt, NULL),
                        ("clicks", BigInt, NOT_NULL),
                        ("version", Int, NOT_NULL),
                        ("created_by", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_social_conversions",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        // The CRM lead.
                        ("lead_id", Text, NOT_NULL),
                        ("post_id", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("converted_at", BigInt, NULL),
                    ],
                    &["tenant_id", "lead_id"],
                ),
            ],
            vec![
                index(
                    "mkt_channel_accounts",
                    "handle",
                    &["tenant_id", "kind", "handle"],
                    true,
                ),
                // The publisher's look for due posts (every tenant's).
                index(
                    "mkt_social_posts",
                    "due",
                    &["status", "scheduled_at"],
                    false,
                ),
                index("mkt_social_posts", "tracking", &["tracking_key"], true),
                index(
                    "mkt_social_conversions",
                    "post",
                    &["tenant_id", "post_id"],
                    false,
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(
            manager,
            &[
                "mkt_social_conversions",
                "mkt_social_posts",
                "mkt_channel_accounts",
            ],
        )
        .await
    }
}
