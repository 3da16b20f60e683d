//! The client 360 in finance: what finance knows of a CRM client, through the customer
//! partners mapped to the client (`Partner.clientId`: created when finance first drafts an
//! invoice from the client's accepted quote, given when a partner is created, or moved to the
//! client when the CRM merged another client into it, `crate::app::crm_clients`).

use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::Finance;
use crate::domain::money::Currency;
use crate::store::crm_clients::customer_ids_of_client;
use crate::store::documents::{self as documents_store, DocumentFilter};
use crate::store::entities::document;

/// The kind of the documents that bill a client.
const INVOICE: &str = "invoice";

impl Finance {
    /// A page of the CRM client's customer invoices (those of every customer partner mapped
    /// to it) in creation order (one row more than the page when there are more); none when
    /// finance has no customer partner for the client.
    pub async fn client_invoices(
        &self,
        tenant: &TenantId,
        client_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<document::Model>> {
        let partners = customer_ids_of_client(&self.db, tenant, client_id).await?;
        if partners.is_empty() {
            return Ok(Vec::new());
        }
        let filter = DocumentFilter {
            kinds: vec![INVOICE],
            partner_ids: partners,
            ..Default::default()
        };
        Ok(documents_store::document_page(&self.db, tenant, &filter, page).await?)
    }

    /// What the CRM client owes: the outstanding amounts (booked base total less the base
    /// amount settlements cleared) of its customer partners' posted invoices, in minor units of
    /// the base currency (what the receivables account holds for it); zero when
    /// finance has no customer partner for the client. FINANCE_NOT_SET_UP before set-up.
    pub async fn client_balance(
        &self,
        tenant: &TenantId,
        client_id: &str,
    ) -> ApiResult<(i64, Currency)> {
        let settings = self.require_set_up(&self.db, tenant).await?;
        let currency = Currency::parse(&settings.base_currency)?;
        let partners = customer_ids_of_client(&self.db, tenant, client_id).await?;
        if partners.is_empty() {
            return Ok((0, currency));
        }
        let open = documents_store::all_documents(
            &self.db,
            tenant,
            &DocumentFilter {
                kinds: vec![INVOICE],
                partner_ids: partners,
                open: true,
                ..Default::default()
            },
        )
        .await?;
        let owed = open
            .iter()
            .map(|invoice| invoice.base_total - invoice.base_settled)
            .sum();
        Ok((owed, currency))
    }
}
