//! DataLoaders: one query per batch of lookups and tenant (erp_kit::loaders), so lists of
//! entries resolving their journal and lines, of lines resolving their account, or federated
//! projects and employees resolving their invoices and expenses, never issue a query per row.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use erp_kit::loaders::{load_by_tenant, TenantKey};

use crate::app::Finance;
use crate::store::entities::{
    account, document, document_line, entry, entry_line, expense, journal, partner, settings,
};

/// Accounts by id.
pub struct AccountLoader(pub Finance);

impl Loader<TenantKey> for AccountLoader {
    type Value = account::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.accounts_by_ids(&tenant, ids).await?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// Journals by id (a tenant has a handful: one query loads them all).
pub struct JournalLoader(pub Finance);

impl Loader<TenantKey> for JournalLoader {
    type Value = journal::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, _ids| async move {
            let rows = self.0.journals_of(&tenant).await?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// Journal entries by id.
pub struct EntryLoader(pub Finance);

impl Loader<TenantKey> for EntryLoader {
    type Value = entry::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.entries_by_ids(&tenant, ids).await?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// The lines of journal entries, by entry id.
pub struct EntryLinesLoader(pub Finance);

impl Loader<TenantKey> for EntryLinesLoader {
    type Value = Vec<entry_line::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.entry_lines_of(&tenant, ids).await?;
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
pub struct DocumentLoader(pub Finance);

impl Loader<TenantKey> for DocumentLoader {
    type Value = document::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.documents_by_ids(&tenant, ids).await?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// The lines of documents, by document id.
pub struct DocumentLinesLoader(pub Finance);

impl Loader<TenantKey> for DocumentLinesLoader {
    type Value = Vec<document_line::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.document_lines_of(&tenant, ids).await?;
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
pub struct PartnerLoader(pub Finance);

impl Loader<TenantKey> for PartnerLoader {
    type Value = partner::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.partners_by_ids(&tenant, ids).await?;
            Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
        })
        .await
    }
}

/// The most a federated `Project.invoices` answers per project.
pub const PROJECT_INVOICES_LIMIT: u64 = 100;

/// The customer invoices of PMO projects (federation: `Project.invoices`), newest first, one
/// query per batch of projects.
pub struct ProjectInvoicesLoader(pub Finance);

impl Loader<TenantKey> for ProjectInvoicesLoader {
    type Value = Vec<document::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let limit = PROJECT_INVOICES_LIMIT * ids.len() as u64;
            let rows = self.0.invoices_of_projects(&tenant, ids, limit).await?;
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
pub struct EmployeeExpensesLoader(pub Finance);

impl Loader<TenantKey> for EmployeeExpensesLoader {
    type Value = Vec<expense::Model>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        load_by_tenant(keys, |tenant, ids| async move {
            let rows = self.0.claims_of_employees(&tenant, ids).await?;
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

/// The tenant's settings (money fields read the base currency: one query per request, not
/// per field). The key's id is ignored.
pub struct SettingsLoader(pub Finance);

impl Loader<TenantKey> for SettingsLoader {
    type Value = settings::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let mut found = HashMap::new();
        for key in keys {
            if let Some(settings) = self.0.settings_of(&key.tenant).await? {
                found.insert(key.clone(), settings);
            }
        }
        Ok(found)
    }
}
