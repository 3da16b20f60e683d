//! The client 360 in finance: the CRM's `Client` (a federation entity the CRM owns), to which
//! finance adds the client's invoices and balance (`crate::app::client360`). The router
//! resolves the rest of the client in the CRM and its projects in PMO.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Object, Result, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::RequestContext;

use super::documents::Invoice;
use super::finance;
use super::scalars::{money, Money};

/// A CRM client (owned by the CRM subgraph).
pub struct Client {
    pub id: ID,
}

// Described as the CRM, its owner, describes it (the supergraph keeps one description);
// finance adds its invoices and balance.
/// A client of the tenant: a company or a person (`kind`), seen by its owner, their team and
/// managers, and `crm:admin`.
#[Object]
impl Client {
    /// Stable id (UUIDv7).
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The client's customer invoices in creation order (those of the customer partners
    /// mapped to the client: its own, and those of clients merged into it; none when it has
    /// none yet); a Relay connection.
    #[graphql(requires_scopes = "finance:read")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
    ) -> Result<Option<Connection<String, Invoice, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, None, first, None)?;
        let rows = finance(ctx)?
            .client_invoices(&tenant, &self.id, &page)
            .await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(Invoice).collect(),
            |d| d.0.id.clone(),
        )))
    }

    /// What the client owes: the outstanding amounts of its posted invoices in the base
    /// currency (each invoice's booked base total less what its settlements cleared, what the
    /// receivables account holds); zero when finance has no invoices of the client.
    #[graphql(requires_scopes = "finance:read")]
    async fn balance(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let tenant = ctx.tenant()?;
        let (owed, currency) = finance(ctx)?.client_balance(&tenant, &self.id).await?;
        Ok(Some(money(owed, currency)))
    }
}

/// The entity resolver of the client 360.
#[derive(Default)]
pub struct Client360Query;

#[Object]
impl Client360Query {
    /// Federation: a `Client` reference from another subgraph.
    #[graphql(entity)]
    async fn find_client_by_id(&self, id: ID) -> Client {
        Client { id }
    }
}
