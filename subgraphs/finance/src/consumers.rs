//! The handlers of the events finance consumes, through the kit's durable consumer and
//! finance's inbox (each effect once, in the inbox's transaction):
//!
//! - `erp.finance.org` reads `erp.employee.events`: who is whose manager (expense approvals);
//! - `erp.finance.billing` reads `erp.pmo.events`: approved timesheets become invoice lines;
//! - `erp.finance.quotes` reads `erp.crm.events`: accepted quotes become draft invoices;
//!   client renames, merges and undone merges move the customer partners' names and their
//!   mapping to CRM clients (`crate::app::crm_clients`);
//! - `erp.finance.assets` reads `erp.ops.events`: depreciation lines and disposals become
//!   journal entries.
//! - `erp.finance.payroll` reads `erp.employee.events`: hires, compensation (sealed in transit,
//!   re-sealed under finance's keys), leave types, approved leave and exits (the leaver's last
//!   working day: scheduled, in effect, or cancelled) become payroll's facts.

use erp_kit::db::WriteTransaction;
use erp_kit::events::{
    topic_for, Consumer, ConsumerHandle, ConsumerOptions, EventEnvelope, EventHandler,
    HandlerError, SqlInbox,
};
use erp_kit::runtime::Runtime;
use erp_kit::{ApiError, ErrorCode, TenantId};

use crate::app::assets::{AssetDisposed, DepreciationPosted};
use crate::app::billing::{QuoteAccepted, TimesheetApproved};
use crate::app::crm_clients::{ClientMerged, ClientUpdated};
use crate::app::Finance;
use crate::events::{ASSET_GROUP, BILLING_GROUP, DOMAIN, ORG_GROUP, PAYROLL_GROUP, QUOTE_GROUP};
use crate::events::{CLIENT_MERGED, CLIENT_MERGE_UNDONE, CLIENT_UPDATED};

/// A use case's failure as the consumer sees it: a broken rule or a malformed payload will not
/// heal (dead letter at once, its reason first: `DOCUMENT_CURRENCY: invoices, bills ...`);
/// anything else is retried.
fn handler_error(err: ApiError) -> HandlerError {
    match (err.code(), err.reason()) {
        (ErrorCode::Internal, _) => HandlerError::failed(err.message()),
        (_, Some(reason)) => {
            HandlerError::rejected(format!("{}: {}", reason.name(), err.message()))
        }
        (_, None) => HandlerError::rejected(err.message()),
    }
}

/// `employee.hired` and `employee.manager_changed` into finance's directory.
pub struct OrgHandler(pub Finance);

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for OrgHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(
            event.event_type.as_str(),
            "employee.hired" | "employee.manager_changed"
        )
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        self.0
            .apply_employee_event_in(&*write, event)
            .await
            .map_err(handler_error)
    }
}

/// PMO's `timesheet.approved` into invoice lines.
pub struct BillingHandler(pub Finance);

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for BillingHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        event.event_type == "timesheet.approved"
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let approved: TimesheetApproved = event.decode_payload()?;
        let tenant = TenantId::from_claim(&event.tenant_id);
        self.0
            .bill_approved_timesheet(&*write, &tenant, &approved)
            .await
            .map(|_| ())
            .map_err(handler_error)
    }
}

/// The CRM's `quote.accepted` into a draft customer invoice, and its `client.updated`,
/// `client.merged` and `client.merge_undone` into the customer partners' names and client
/// mapping (one consumer group: a client's events and its quotes' are handled by one
/// consumer).
pub struct QuoteHandler(pub Finance);

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for QuoteHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(
            event.event_type.as_str(),
            "quote.accepted" | CLIENT_UPDATED | CLIENT_MERGED | CLIENT_MERGE_UNDONE
        )
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let finance = &self.0;
        let done = match event.event_type.as_str() {
            CLIENT_UPDATED => {
                let updated: ClientUpdated = event.decode_payload()?;
                finance
                    .follow_client_update(&*write, &tenant, &updated)
                    .await
            }
            CLIENT_MERGED => {
                let merged: ClientMerged = event.decode_payload()?;
                finance.follow_client_merge(&*write, &tenant, &merged).await
            }
            CLIENT_MERGE_UNDONE => {
                let undone: ClientMerged = event.decode_payload()?;
                finance
                    .follow_client_merge_undone(&*write, &tenant, &undone)
                    .await
            }
            _ => {
                let mut accepted: QuoteAccepted = event.decode_payload()?;
                // A quote of a client merged away since: the CRM moved it to the survivor.
                accepted.client_id = finance
                    .surviving_client(&*write, &tenant, &accepted.client_id)
                    .await
                    .map_err(handler_error)?;
                finance
                    .invoice_accepted_quote(&*write, &tenant, &accepted)
                    .await
                    .map(|_| ())
            }
        };
        done.map_err(handler_error)
    }
}

/// Ops' `asset.depreciation.posted` and `asset.disposed` into journal entries.
pub struct AssetHandler(pub Finance);

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for AssetHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        matches!(
            event.event_type.as_str(),
            "asset.depreciation.posted" | "asset.disposed"
        )
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let tenant = TenantId::from_claim(&event.tenant_id);
        let posted = if event.event_type == "asset.disposed" {
            let disposed: AssetDisposed = event.decode_payload()?;
            self.0
                .post_asset_disposal(&**write, &tenant, &disposed)
                .await
        } else {
            let line: DepreciationPosted = event.decode_payload()?;
            self.0
                .post_asset_depreciation(&**write, &tenant, &line)
                .await
        };
        posted.map(|_| ()).map_err(handler_error)
    }
}

/// The employee subgraph's pay facts into payroll's tables.
pub struct PayrollHandler(pub Finance);

#[async_trait::async_trait]
impl EventHandler<WriteTransaction> for PayrollHandler {
    fn wants(&self, event: &EventEnvelope) -> bool {
        crate::app::payroll::PAYROLL_INPUTS.contains(&event.event_type.as_str())
    }

    async fn handle(
        &self,
        write: &mut WriteTransaction,
        event: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        self.0
            .apply_payroll_event_in(&*write, event)
            .await
            .map_err(handler_error)
    }
}

/// Starts finance's consumers on the runtime's bus (keep the handles: dropping one stops it).
pub fn start_consumers(
    runtime: &Runtime,
    finance: &Finance,
    options: &crate::FinanceOptions,
) -> Vec<ConsumerHandle> {
    // The consumer leaves other tenants' events alone when the options name some.
    let scope = ConsumerOptions {
        group_suffix: options.group_suffix.clone(),
        tenants: options.tenants.clone(),
    };
    let inbox = || SqlInbox::new(DOMAIN, runtime.db.clone()).waking(finance.outbox.waker());
    let employee_topic = topic_for("employee");
    let pmo_topic = topic_for("pmo");
    let crm_topic = topic_for("crm");
    let ops_topic = topic_for("ops");
    vec![
        Consumer::new(
            scope.config(ORG_GROUP, &[employee_topic.as_str()]),
            runtime.bus.clone(),
            inbox(),
            OrgHandler(finance.clone()),
            &runtime.metrics,
        )
        .spawn(),
        Consumer::new(
            scope.config(BILLING_GROUP, &[pmo_topic.as_str()]),
            runtime.bus.clone(),
            inbox(),
            BillingHandler(finance.clone()),
            &runtime.metrics,
        )
        .spawn(),
        Consumer::new(
            scope.config(QUOTE_GROUP, &[crm_topic.as_str()]),
            runtime.bus.clone(),
            inbox(),
            QuoteHandler(finance.clone()),
            &runtime.metrics,
        )
        .spawn(),
        Consumer::new(
            scope.config(ASSET_GROUP, &[ops_topic.as_str()]),
            runtime.bus.clone(),
            inbox(),
            AssetHandler(finance.clone()),
            &runtime.metrics,
        )
        .spawn(),
        Consumer::new(
            scope.config(PAYROLL_GROUP, &[employee_topic.as_str()]),
            runtime.bus.clone(),
            inbox(),
            PayrollHandler(finance.clone()),
            &runtime.metrics,
        )
        .spawn(),
    ]
}
