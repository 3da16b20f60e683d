//! Importing a history (the seed generator's year of a company, or a ledger migrated from
//! another system): documents and expense claims that happened on past dates, each written
//! through the same domain rules as the live use cases (balanced entries, gapless numbers per
//! series and fiscal year assigned in the posting transaction, the fiscal years and lock date,
//! allocation bounds, the claim's life cycle and its approver) but in ONE transaction per
//! document or claim, under an idempotency key the importer derives from its source, so a
//! repeated or resumed import writes nothing twice (a replay answers `replayed`).
//!
//! What the live use cases date today is dated here as it happened: a claim's approval and
//! reimbursement post on the days given. Events are enqueued as by the live use cases
//! (`invoice.posted`, `journal.posted`, `expense.approved`): analytics builds profitability
//! and CRM its client view from them, and a history without them would be invisible there.
//! Payments need no import of their own: `record_payment` already takes a date and a key.

use chrono::NaiveDate;
use erp_kit::{ApiResult, TenantId};
use serde::Serialize;

use super::documents::{CreditNoteRequest, DocumentRequest};
use super::expenses::ClaimRequest;
use super::{Actor, Finance, Outcome};
use crate::store::entities::person;
use crate::store::expenses as expenses_store;

/// A person of finance's directory, as the employee subgraph's `employee.hired` event
/// describes them.
#[derive(Debug, Clone)]
pub struct ImportedPerson {
    pub employee_id: String,
    pub user_id: Option<String>,
    pub manager_employee_id: Option<String>,
    pub display_name: String,
}

/// A past decision on a claim: who took it, and when.
#[derive(Debug, Clone)]
pub struct ClaimStep {
    pub actor: Actor,
    pub on: NaiveDate,
}

/// An expense claim of the past: filed and submitted by its claimant, then (perhaps) approved
/// and (perhaps) reimbursed.
#[derive(Debug, Clone)]
pub struct ClaimImport {
    pub claim: ClaimRequest,
    pub approval: Option<ClaimStep>,
    pub payment: Option<ClaimStep>,
}

impl Finance {
    /// Writes people into finance's directory (who manages whom, which user each is), as the
    /// employee events would: an importer that writes employees without running finance's
    /// consumer brings the directory along. Idempotent (an upsert per person).
    pub async fn import_directory(
        &self,
        tenant: &TenantId,
        people: &[ImportedPerson],
    ) -> ApiResult<usize> {
        self.write(async |txn| {
            let now = chrono::Utc::now();
            for imported in people {
                expenses_store::upsert_person(
                    txn,
                    person::Model {
                        tenant_id: tenant.as_str().to_owned(),
                        employee_id: imported.employee_id.clone(),
                        user_id: imported.user_id.clone(),
                        manager_employee_id: imported.manager_employee_id.clone(),
                        display_name: imported.display_name.clone(),
                        updated_at: now,
                    },
                )
                .await?;
            }
            Ok(people.len())
        })
        .await
    }

    /// A customer invoice or vendor bill of the past: drafted and posted (numbered, its entry
    /// dated on its date) in one transaction, once per key.
    pub async fn import_document(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: DocumentRequest,
    ) -> ApiResult<Outcome> {
        self.idempotent(
            &actor.tenant,
            idempotency_key,
            "importDocument",
            &request,
            async |txn| {
                let id = self.create_document_in(txn, actor, &request).await?;
                self.post_document_in(txn, actor, &id).await?;
                Ok(id)
            },
        )
        .await
    }

    /// A credit note of the past: drafted against its posted invoice and posted in one
    /// transaction, once per key.
    pub async fn import_credit_note(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: CreditNoteRequest,
    ) -> ApiResult<Outcome> {
        self.idempotent(
            &actor.tenant,
            idempotency_key,
            "importCreditNote",
            &request,
            async |txn| {
                let id = self.create_credit_note_in(txn, actor, &request).await?;
                self.post_document_in(txn, actor, &id).await?;
                Ok(id)
            },
        )
        .await
    }

    /// An expense claim of the past, once per key, in one transaction: drafted and submitted
    /// by `claimant`, approved by the approval's actor (its manager or a finance administrator,
    /// never the claimant) on its day, reimbursed on the payment's day.
    pub async fn import_expense_claim(
        &self,
        claimant: &Actor,
        idempotency_key: &str,
        import: ClaimImport,
    ) -> ApiResult<Outcome> {
        #[derive(Serialize)]
        struct Request<'a> {
            claim: &'a ClaimRequest,
            approved_by: Option<&'a str>,
            approved_on: Option<NaiveDate>,
            paid_by: Option<&'a str>,
            paid_on: Option<NaiveDate>,
        }
        let request = Request {
            claim: &import.claim,
            approved_by: import.approval.as_ref().map(|s| s.actor.user_id.as_str()),
            approved_on: import.approval.as_ref().map(|s| s.on),
            paid_by: import.payment.as_ref().map(|s| s.actor.user_id.as_str()),
            paid_on: import.payment.as_ref().map(|s| s.on),
        };
        self.idempotent(
            &claimant.tenant,
            idempotency_key,
            "importExpenseClaim",
            &request,
            async |txn| {
                let id = self
                    .create_expense_claim_in(txn, claimant, &import.claim)
                    .await?;
                self.submit_expense_claim_in(txn, claimant, &id).await?;
                if let Some(approval) = &import.approval {
                    self.approve_expense_claim_in(txn, &approval.actor, &id, approval.on)
                        .await?;
                    if let Some(payment) = &import.payment {
                        self.pay_expense_claim_in(txn, &payment.actor, &id, None, payment.on)
                            .await?;
                    }
                }
                Ok(id)
            },
        )
        .await
    }
}
