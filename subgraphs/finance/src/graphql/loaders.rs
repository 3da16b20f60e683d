//! DataLoaders: one query per batch of lookups and tenant (erp_kit::loaders), so lists of
//! entries resolving their journal and lines, of lines resolving their account, or federated
//! projects and employees resolving their invoices and expenses, never issue a query per row.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;

use erp_kit::loaders::{load_by_tenant, TenantKey};

use crate::store::documents as documents_store;
use crate::store::entities::{
    account, document, document_line, entry, entry_line, expense, journal, partner,
};
use crate::store::ledger as ledger_store;

fn gql(err: sea_orm::DbErr) -> async_graphql::Error {
    erp_kit::ApiError::from(err).into()
}

/// Accounts by id.
pub struct AccountLoader(pub DatabaseConnection);

impl Loader<TenantKey> for AccountLoader {
    type Value = account::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = ledger_store::accounts_by_ids(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// Journals by id (a tenant has a handful: one query loads them all).
pub struct JournalLoader(pub DatabaseConnection);

impl Loader<TenantKey> for JournalLoader {
    type Value = journal::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, _ids| async move {
            let rows = ledger_store::journals(&self.0, &tenant)
                .await
                .map_err(gql)?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// Journal entries by id.
pub struct EntryLoader(pub DatabaseConnection);

impl Loader<TenantKey> for EntryLoader {
    type Value = entry::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = ledger_store::entries_by_ids(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// The lines of journal entries, by entry id.
pub struct EntryLinesLoader(pub DatabaseConnection);

impl Loader<TenantKey> for EntryLinesLoader {
    type Value = Vec<entry_line::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = ledger_store::lines_of(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            let mut by_entry: HashMap<String, Vec<entry_line::Model>> = HashMap::new();
            for row in rows {
                by_entry.entry(row.entry_id.clone()).or_default().push(row);
            }
            Ok(by_entry)
        })
        .await
    }
}

/// Documents (invoices, credit notes, bills) by id.
pub struct DocumentLoader(pub DatabaseConnection);

impl Loader<TenantKey> for DocumentLoader {
    type Value = document::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = documents_store::documents_by_ids(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// The lines of documents, by document id.
pub struct DocumentLinesLoader(pub DatabaseConnection);

impl Loader<TenantKey> for DocumentLinesLoader {
    type Value = Vec<document_line::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = documents_store::lines_of(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            let mut by_document: HashMap<String, Vec<document_line::Model>> = HashMap::new();
            for row in rows {
                by_document
                    .entry(row.document_id.clone())
                    .or_default()
                    .push(row);
            }
            Ok(by_document)
        })
        .await
    }
}

/// Partners by id.
pub struct PartnerLoader(pub DatabaseConnection);

impl Loader<TenantKey> for PartnerLoader {
    type Value = partner::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = documents_store::partners_by_ids(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// The most a federated `Project.invoices` answers per project.
pub const PROJECT_INVOICES_LIMIT: u64 = 100;

/// The customer invoices of PMO projects (federation: `Project.invoices`), newest first, one
/// query per batch of projects.
pub struct ProjectInvoicesLoader(pub DatabaseConnection);

impl Loader<TenantKey> for ProjectInvoicesLoader {
    type Value = Vec<document::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let limit = PROJECT_INVOICES_LIMIT * ids.len() as u64;
            let rows = documents_store::documents_of_projects(&self.0, &tenant, ids, limit)
                .await
                .map_err(gql)?;
            let mut by_project: HashMap<String, Vec<document::Model>> = HashMap::new();
            for row in rows {
                if let Some(project) = row.project_id.clone() {
                    let list = by_project.entry(project).or_default();
                    if (list.len() as u64) < PROJECT_INVOICES_LIMIT {
                        list.push(row);
                    }
                }
            }
            Ok(by_project)
        })
        .await
    }
}

/// The most a federated `Employee.expenses` answers per employee.
pub const EMPLOYEE_EXPENSES_LIMIT: usize = 100;

/// The expense claims of employees (federation: `Employee.expenses`), newest first, one query
/// per batch of employees.
pub struct EmployeeExpensesLoader(pub DatabaseConnection);

impl Loader<TenantKey> for EmployeeExpensesLoader {
    type Value = Vec<expense::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = crate::store::expenses::claims_of_employees(&self.0, &tenant, ids)
                .await
                .map_err(gql)?;
            let mut by_employee: HashMap<String, Vec<expense::Model>> = HashMap::new();
            for row in rows {
                let list = by_employee.entry(row.employee_id.clone()).or_default();
                if list.len() < EMPLOYEE_EXPENSES_LIMIT {
                    list.push(row);
                }
            }
            Ok(by_employee)
        })
        .await
    }
}
