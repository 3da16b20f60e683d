//! The reads the GraphQL layer and its loaders make, as use cases on [`Finance`] (graphql ->
//! app -> store): each a tenant-scoped store query on the pool.

use chrono::NaiveDate;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiResult, TenantId};

use super::Finance;
use crate::store::documents::{self as documents_store, DocumentFilter};
use crate::store::entities::{
    account, allocation, document, document_line, entry, entry_line, exchange_rate, expense,
    expense_category, expense_line, fiscal_year, instalment, journal, partner, payment,
    payment_term, person, settings, tax,
};
use crate::store::expenses::{self as expenses_store, ClaimFilter};
use crate::store::ledger::{self as ledger_store, LedgerFilter};

/// One read per line: `name(arguments after the tenant) -> answer = store function`.
macro_rules! reads {
    ($(
        $(#[$doc:meta])*
        $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $store:path;
    )*) => {
        impl Finance {
            $(
                $(#[$doc])*
                pub async fn $name(&self, tenant: &TenantId $(, $arg: $ty)*) -> ApiResult<$ret> {
                    Ok($store(&self.db, tenant $(, $arg)*).await?)
                }
            )*
        }
    };
}

reads! {
    /// The tenant's settings (None before `setUpFinance`).
    settings_of() -> Option<settings::Model> = ledger_store::settings;
    /// A page of the chart of accounts.
    account_page(kind: Option<&str>, page: &PageRequest) -> Vec<account::Model> = ledger_store::account_page;
    account_of(id: &str) -> Option<account::Model> = ledger_store::account;
    accounts_by_ids(ids: Vec<String>) -> Vec<account::Model> = ledger_store::accounts_by_ids;
    journals_of() -> Vec<journal::Model> = ledger_store::journals;
    journal_of(id: &str) -> Option<journal::Model> = ledger_store::journal;
    fiscal_years_of() -> Vec<fiscal_year::Model> = ledger_store::fiscal_years;
    exchange_rates_of(currency: Option<&str>) -> Vec<exchange_rate::Model> = ledger_store::rates;
    /// The rate of `currency` in force on a day.
    exchange_rate_on(currency: &str, date: NaiveDate) -> Option<exchange_rate::Model> = ledger_store::rate_on;
    taxes_of() -> Vec<tax::Model> = ledger_store::taxes;
    entry_of(id: &str) -> Option<entry::Model> = ledger_store::entry;
    entries_by_ids(ids: Vec<String>) -> Vec<entry::Model> = ledger_store::entries_by_ids;
    /// The entry reversing `id`, if any.
    reversal_of(id: &str) -> Option<entry::Model> = ledger_store::reversal_of;
    entry_lines_of(entry_ids: Vec<String>) -> Vec<entry_line::Model> = ledger_store::lines_of;
    entry_page(filter: &LedgerFilter, page: &PageRequest) -> Vec<entry::Model> = ledger_store::entry_page;
    /// A page of the general ledger.
    ledger_line_page(filter: &LedgerFilter, page: &PageRequest) -> Vec<entry_line::Model> = ledger_store::line_page;

    partner_of(id: &str) -> Option<partner::Model> = documents_store::partner;
    partners_by_ids(ids: Vec<String>) -> Vec<partner::Model> = documents_store::partners_by_ids;
    partner_page(kind: Option<&str>, page: &PageRequest) -> Vec<partner::Model> = documents_store::partner_page;
    payment_term_of(id: &str) -> Option<payment_term::Model> = documents_store::payment_term;
    payment_terms_of() -> Vec<payment_term::Model> = documents_store::payment_terms;
    document_of(id: &str) -> Option<document::Model> = documents_store::document;
    documents_by_ids(ids: Vec<String>) -> Vec<document::Model> = documents_store::documents_by_ids;
    document_page(filter: &DocumentFilter, page: &PageRequest) -> Vec<document::Model> = documents_store::document_page;
    /// The invoices of projects, newest first, at most `limit`.
    invoices_of_projects(project_ids: Vec<String>, limit: u64) -> Vec<document::Model> = documents_store::documents_of_projects;
    document_lines_of(document_ids: Vec<String>) -> Vec<document_line::Model> = documents_store::lines_of;
    instalments_of(document_ids: Vec<String>) -> Vec<instalment::Model> = documents_store::instalments_of;
    /// The allocations of documents or of payments and credit notes.
    allocations_of(document_ids: Vec<String>, payment_ids: Vec<String>) -> Vec<allocation::Model> = documents_store::allocations;
    payment_of(id: &str) -> Option<payment::Model> = documents_store::payment;
    payment_page(partner_id: Option<&str>, page: &PageRequest) -> Vec<payment::Model> = documents_store::payment_page;

    /// The person of the directory a user is.
    person_by_user(user_id: &str) -> Option<person::Model> = expenses_store::person_by_user;
    person_of(employee_id: &str) -> Option<person::Model> = expenses_store::person;
    /// The people whose manager is `manager_employee_id`.
    reports_of(manager_employee_id: &str) -> Vec<person::Model> = expenses_store::reports_of;
    expense_categories_of() -> Vec<expense_category::Model> = expenses_store::categories;
    claim_of(id: &str) -> Option<expense::Model> = expenses_store::claim;
    claims_of_employees(employee_ids: Vec<String>) -> Vec<expense::Model> = expenses_store::claims_of_employees;
    claim_page(filter: &ClaimFilter, page: &PageRequest) -> Vec<expense::Model> = expenses_store::claim_page;
    claim_lines_of(claim_ids: Vec<String>) -> Vec<expense_line::Model> = expenses_store::lines_of;
}

impl Finance {
    /// The tenant's settings, or FINANCE_NOT_SET_UP.
    pub async fn settings(&self, tenant: &TenantId) -> ApiResult<settings::Model> {
        self.require_set_up(&self.db, tenant).await
    }
}
