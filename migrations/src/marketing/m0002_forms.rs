//! Web forms (m0002): the forms marketing publishes on websites, each reached by its public
//! key, and the submissions they recorded (what became a contact, a consent record and the
//! `form.submitted` event CRM turns into a lead).

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
                    "mkt_forms",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("name", Text, NOT_NULL),
                        // The key a website posts to (`/marketing/forms/<key>`): random,
                        // unguessable, unique across tenants (it names the tenant).
                        ("public_key", Text, NOT_NULL),
                        // The fields shown, as JSON: [{"key": "email", "required": true}, ...]
                        ("fields", LongText, NOT_NULL),
                        // The consent wording shown beside the checkbox and its version.
                        ("consent_text", LongText, NULL),
                        ("consent_wording_version", Text, NULL),
                        // Whether a submission without the consent ticked is refused.
                        ("consent_required", Bool, NOT_NULL),
                        // Submissions one client address may make per minute.
                        ("per_client_per_minute", Int, NOT_NULL),
                        // open, closed
                        ("status", Text, NOT_NULL),
                        ("created_by", Text, NOT_NULL),
                        ("created_at", BigInt, NOT_NULL),
                        ("updated_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
                table(
                    "mkt_form_submissions",
                    &[
                        ("tenant_id", Text, NOT_NULL),
                        ("id", Text, NOT_NULL),
                        ("form_id", Text, NOT_NULL),
                        ("contact_id", Text, NOT_NULL),
                        // The submitted values as JSON (personal data: emptied by erasure).
                        ("fields", LongText, NULL),
                        ("consent_granted", Bool, NOT_NULL),
                        ("submitted_at", BigInt, NOT_NULL),
                    ],
                    &["tenant_id", "id"],
                ),
            ],
            vec![
                index("mkt_forms", "public_key", &["public_key"], true),
                index(
                    "mkt_form_submissions",
                    "contact",
                    &["tenant_id", "contact_id"],
                    false,
                ),
                index(
                    "mkt_form_submissions",
                    "form",
                    &["tenant_id", "form_id", "submitted_at"],
                    false,
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, &["mkt_form_submissions", "mkt_forms"]).await
    }
}
