//! Double opt-in after web forms, per-tenant webhook secrets and sending limits (m0005).
//!
//! - `mkt_forms.double_opt_in`: whether a consent ticked on the form waits for the
//!   contact's confirmation (forms created before this migration kept single opt-in: false).
//! - `mkt_consents.confirmation` (`pending` / `confirmed`; NULL for a consent that needs no
//!   confirmation) with when, through what and from which client address it was confirmed.
//! - `mkt_opt_ins`: the pending consent a request confirms, when its link expires, and when
//!   its confirmation mail was handed to the relay (NULL: still to send; the sender retries).
//! - `mkt_webhook_secrets`: each tenant's bounce/complaint webhook secrets, sealed with the
//!   tenant's data key; the current one has no `valid_until`, a rotated one verifies until it.
//! - `mkt_sending_limits`: a tenant's messages per minute and per recipient domain per minute;
//!   `mkt_send_slots`: the slots taken in each minute window (scope `tenant` or
//!   `domain:<domain>`), taken in the hand-off's transaction; `mkt_messages.not_before`: a
//!   message deferred by a full window waits until the next.

use sea_orm_migration::prelude::*;

use crate::crm::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What an added column holds on the rows that exist: NULL, or a NOT NULL default.
enum Fill {
    Null,
    Bool(bool),
    Int(i32),
}

/// (table, column, type, fill): the added columns.
const COLUMNS: &[(&str, &str, Ty, Fill)] = &[
    ("mkt_forms", "double_opt_in", Ty::Bool, Fill::Bool(false)),
    ("mkt_consents", "confirmation", Ty::Text, Fill::Null),
    ("mkt_consents", "confirmed_at", Ty::BigInt, Fill::Null),
    ("mkt_consents", "confirmed_source", Ty::Text, Fill::Null),
    ("mkt_consents", "confirmed_address", Ty::Text, Fill::Null),
    ("mkt_opt_ins", "consent_id", Ty::Text, Fill::Null),
    ("mkt_opt_ins", "expires_at", Ty::BigInt, Fill::Null),
    ("mkt_opt_ins", "mailed_at", Ty::BigInt, Fill::Null),
    ("mkt_opt_ins", "mail_attempts", Ty::Int, Fill::Int(0)),
    ("mkt_messages", "not_before", Ty::BigInt, Fill::Null),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for (table_name, column, ty, default) in COLUMNS {
            let mut def = ColumnDef::new(Alias::new(*column));
            match ty {
                Ty::Bool => def.boolean(),
                Ty::Int => def.integer(),
                Ty::BigInt => def.big_integer(),
                _ => def.string(),
            };
            match default {
                Fill::Null => def.null(),
                Fill::Bool(value) => def.not_null().default(*value),
                Fill::Int(value) => def.not_null().default(*value),
            };
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(*table_name))
                        .add_column(&mut def)
                        .to_owned(),
                )
                .await?;
        }
        // Requests made before this migration had their mail sent in the request itself: the
        // sender's retry must not mail them again.
        manager
            .get_connection()
            .execute_unprepared("UPDATE mkt_opt_ins SET mailed_at = requested_at")
            .await?;
        use Ty::*;
        create(
            manager,
            vec![
                table(
                    "mkt_webhook_secrets",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        // Sealed with the tenant's data key (the kit's FieldCipher).
                        ("secret", LongText, NOT_NULL),
                        ("created_by", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        // NULL: the current secret; set when rotated (the overlap's end).
                        ("valid_until", BigInt, NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_sending_limits",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("per_minute", Int, NULL),
                        ("per_domain_per_minute", Int, NULL),
                        ("updated_by", Text, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id"],
                ),
                table(
                    "mkt_send_slots",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("scope", Text, NOT_NULL),
                        // The minute window (Unix minutes).
                        ("window_minute", BigInt, NOT_NULL),
                        ("used", Int, NOT_NULL),
                    ],
                    &["tenant_id", "scope", "window_minute"],
                ),
            ],
            vec![index(
                "mkt_opt_ins",
                "unmailed",
                &["mailed_at", "requested_at"],
                false,
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(
            manager,
            &[
                "mkt_webhook_secrets",
                "mkt_sending_limits",
                "mkt_send_slots",
            ],
        )
        .await?;
        for (table_name, column, _, _) in COLUMNS {
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
