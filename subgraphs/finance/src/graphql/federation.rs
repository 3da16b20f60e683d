//! Federation: finance's fields on the entities other subgraphs own. `Invoice.project` and
//! `Expense.employee` return references the router resolves in PMO and employee;
//! `Project.invoices` and `Employee.expenses` are resolved here for references those subgraphs
//! hand over, batched per request (erp_kit::loaders).

use async_graphql::{Context, Object, Result, ID};

use erp_kit::RequestContext;

use super::documents::Invoice;
use super::expenses::{can_read_claims_of, Expense};
use super::load_one;
use super::loaders::{EmployeeExpensesLoader, ProjectInvoicesLoader};

/// A PMO project (owned by the PMO subgraph).
pub struct Project {
    pub id: ID,
}

/// A PMO project: finance adds its invoices.
#[Object]
impl Project {
    /// The project's id (the key shared with PMO).
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The customer invoices billing the project, newest first (at most 100).
    #[graphql(requires_scopes = "finance:read")]
    async fn invoices(&self, ctx: &Context<'_>) -> Result<Option<Vec<Invoice>>> {
        Ok(Some(
            load_one::<ProjectInvoicesLoader>(ctx, &self.id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(Invoice)
                .collect(),
        ))
    }
}

/// An employee (owned by the employee subgraph).
pub struct Employee {
    pub id: ID,
}

/// An employee: finance adds their expense claims.
#[Object]
impl Employee {
    /// The employee's id (the key shared with the employee subgraph).
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The employee's expense claims, newest first (at most 100): for finance readers, the
    /// employee themselves and their manager.
    #[graphql(
        requires_scopes = "finance:read",
        requires_scopes = "expense:submit",
        requires_scopes = "expense:approve"
    )]
    async fn expenses(&self, ctx: &Context<'_>) -> Result<Option<Vec<Expense>>> {
        let tenant = ctx.tenant()?;
        if !can_read_claims_of(ctx, &tenant, &self.id).await? {
            return Ok(None);
        }
        Ok(Some(
            load_one::<EmployeeExpensesLoader>(ctx, &self.id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(Expense)
                .collect(),
        ))
    }
}

#[derive(Default)]
pub struct FederationQuery;

#[Object]
impl FederationQuery {
    /// Federation: a `Project` reference from another subgraph.
    #[graphql(entity)]
    async fn find_project_by_id(&self, id: ID) -> Project {
        Project { id }
    }

    /// Federation: an `Employee` reference from another subgraph.
    #[graphql(entity)]
    async fn find_employee_by_id(&self, id: ID) -> Employee {
        Employee { id }
    }
}
