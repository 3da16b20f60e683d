//! The finance subgraph's GraphQL schema: the ledger, receivables and payables, expenses, cash,
//! and the federated `Project.invoices` / `Employee.expenses`.
//!
//! Conventions (issue 15): every mutation takes one `input:` argument and answers a payload;
//! money-moving mutations carry an `idempotencyKey` in their input and say in the payload
//! whether the answer is a replay; amounts are `Money` (decimal strings, never floats); days are
//! `Date`, instants `DateTime`; closed sets are enums; lists are Relay connections.

pub mod client360;
pub mod documents;
pub mod expenses;
pub mod federation;
pub mod ledger;
pub mod loaders;
pub mod payroll;
pub mod revaluation;
pub mod scalars;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Schema, SchemaBuilder};

use erp_kit::loaders::{loader, TenantKey};
use erp_kit::{ApiError, RequestContext};

use crate::app::{Actor, Finance};

pub type FinanceSchema = Schema<Query, Mutation, Subscription>;

/// The queries of the API: one root for every domain, each subgraph adding its fields.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    ledger::LedgerQuery,
    documents::DocumentQuery,
    expenses::ExpenseQuery,
    federation::FederationQuery,
    payroll::PayrollQuery,
    client360::Client360Query,
    revaluation::RevaluationQuery,
);

/// The mutations of the API: one root for every domain, each subgraph adding its fields; a
/// mutation takes its arguments in one `input`.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    ledger::LedgerMutation,
    documents::DocumentMutation,
    expenses::ExpenseMutation,
    payroll::PayrollMutation,
    revaluation::RevaluationMutation,
);

/// The subscriptions of the API (live payroll run progress).
#[derive(async_graphql::MergedSubscription, Default)]
pub struct Subscription(payroll::PayrollSubscription);

/// The schema builder with its data; the kit adds its rules in [`crate::build_schema`].
pub fn schema_builder(finance: Option<Finance>) -> SchemaBuilder<Query, Mutation, Subscription> {
    use erp_kit::pagination::describe_connection;
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    );
    let builder = describe_connection::<ledger::Account, _, _, _>(builder);
    let builder = describe_connection::<ledger::JournalEntry, _, _, _>(builder);
    let builder = describe_connection::<ledger::JournalLine, _, _, _>(builder);
    let builder = describe_connection::<documents::Partner, _, _, _>(builder);
    let builder = describe_connection::<documents::Invoice, _, _, _>(builder);
    let builder = describe_connection::<documents::Payment, _, _, _>(builder);
    let builder = describe_connection::<expenses::Expense, _, _, _>(builder);
    let builder = describe_connection::<payroll::PayrollLoan, _, _, _>(builder);
    match finance {
        Some(finance) => builder
            .data(loader(loaders::AccountLoader(finance.clone())))
            .data(loader(loaders::SettingsLoader(finance.clone())))
            .data(loader(loaders::JournalLoader(finance.clone())))
            .data(loader(loaders::EntryLoader(finance.clone())))
            .data(loader(loaders::EntryLinesLoader(finance.clone())))
            .data(loader(loaders::DocumentLoader(finance.clone())))
            .data(loader(loaders::DocumentLinesLoader(finance.clone())))
            .data(loader(loaders::PartnerLoader(finance.clone())))
            .data(loader(loaders::InvoiceQuoteLoader(finance.clone())))
            .data(loader(loaders::ProjectInvoicesLoader(finance.clone())))
            .data(loader(loaders::EmployeeExpensesLoader(finance.clone())))
            .data(finance),
        None => builder,
    }
}

/// The use cases, from the schema's data.
pub(crate) fn finance<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Finance> {
    ctx.data::<Finance>()
        .map_err(|_| ApiError::internal("finance use cases missing from schema data").into())
}

/// The verified caller as the use cases see them.
pub(crate) fn actor(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    let claims = ctx.claims()?;
    Ok(Actor {
        tenant: ctx.tenant()?,
        user_id: claims.sub.clone(),
        finance_admin: ctx.identity().has_scope("finance:admin"),
    })
}

/// Loads one record through a batched loader of the schema's data.
pub(crate) async fn load_one<L>(
    ctx: &Context<'_>,
    id: &str,
) -> async_graphql::Result<Option<L::Value>>
where
    L: async_graphql::dataloader::Loader<TenantKey, Error = async_graphql::Error>,
{
    let tenant = ctx.tenant()?;
    let loader = ctx
        .data::<DataLoader<L>>()
        .map_err(|_| ApiError::internal("a loader is missing from schema data"))?;
    loader.load_one(TenantKey::new(&tenant, id)).await
}
