//! Journeys (e-mail automation) (m0007).
//!
//! - `mkt_journeys`: a journey, its trigger (`segment_joined` with the segment,
//!   `form_confirmed` with the form or NULL for any, `event` with its name) and its steps
//!   (JSON, checked when written), its status (only an active journey enrols and runs).
//! - `mkt_journey_enrollments`: a contact in a journey, once (unique per journey and contact):
//!   the step it is at, when that step is due, and the lease of the sender running it (the
//!   same durable queue as messages: a sender that dies leaves the lease to expire).
//! - `mkt_journey_steps`: what each step did for each enrolment (`done`, `skipped`, `failed`)
//!   and when; the current step of an active enrolment is pending.
//! - `mkt_messages.journey_id`: the journey a message belongs to (its `campaign_id` is then
//!   the journey step's send key `<journey>:<position>`).

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("mkt_messages"))
                    .add_column(ColumnDef::new(Alias::new("journey_id")).string().null())
                    .to_owned(),
            )
            .await?;
        use Ty::*;
        create(
            manager,
            vec![
                table(
                    "mkt_journeys",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        ("status", Text, NOT_NULL),
                        ("trigger_kind", Text, NOT_NULL),
                        ("trigger_ref", Text, NULL),
                        ("steps", LongText, NOT_NULL),
                        ("version", Int, NOT_NULL),
                        ("created_by", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_journey_enrollments",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("journey_id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        // active, completed, exited
                        ("status", Text, NOT_NULL),
                        ("step", Int, NOT_NULL),
                        ("due_at", BigInt, NOT_NULL),
                        ("lease_until", BigInt, NULL),
                        ("leased_by", Text, NULL),
                        ("enrolled_at", BigInt, NOT_NULL),
                        ("finished_at", BigInt, NULL),
                        ("exit_reason", Text, NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_journey_steps",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("enrollment_id", Text, NOT_NULL),
                        ("position", Int, NOT_NULL),
                        ("kind", Text, NOT_NULL),
                        ("status", Text, NOT_NULL),
                        ("at", BigInt, NOT_NULL),
                        ("detail", Text, NULL),
                    ],
                    &["tenant_id", "enrollment_id", "position"],
                ),
            ],
            vec![
                index(
                    "mkt_journey_enrollments",
                    "once",
                    &["tenant_id", "journey_id", "contact_id"],
                    true,
                ),
                index(
                    "mkt_journey_enrollments",
                    "due",
                    &["status", "due_at"],
                    false,
                ),
                index(
                    "mkt_journeys",
                    "trigger",
                    &["tenant_id", "trigger_kind", "status"],
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
                "mkt_journeys",
                "mkt_journey_enrollments",
                "mkt_journey_steps",
            ],
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("mkt_messages"))
                    .drop_column(Alias::new("journey_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
