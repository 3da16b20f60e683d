//! The finance part of a load: the plan's finance history ([`SeedPlan::finance`]) through the
//! finance subgraph's own use cases. The set-up (base currency EUR, the fiscal years covering
//! the history, the seed's expense accounts and categories, the customers = the plan's
//! clients, the suppliers, and finance's directory of people with their managers, which the
//! employee events would otherwise bring) through the configuration use cases; then the
//! history through finance's import use cases ([`erp_finance::app::import`]): each invoice,
//! bill, credit note or claim drafted, posted and (a claim) approved and reimbursed in ONE
//! transaction on its historical dates, and each payment through `record_payment` with its
//! date and allocation. Every rule of a live write holds: balanced entries, gapless numbers
//! per series and fiscal year, allocation bounds, the approver is the claimant's manager.
//!
//! Idempotent: every write has an idempotency key derived from the plan (`seed:inv:<project>:
//! <date>`, ...), so a resumed load replays what an earlier one wrote (counted as existing).
//! The history goes in four passes (invoices and bills, credit notes, payments, claims), each
//! in date order, `concurrency` writes in flight: a payment or credit note only ever refers
//! to a document of an earlier pass.
//!
//! Events: finance's use cases enqueue `invoice.posted`, `payment.received`, `journal.posted`
//! and `expense.approved` for the history too (unlike the PMO history, which is not news):
//! analytics' profitability and CRM's client view are built from them, and a year of tier L
//! is about 40,000 events, not millions. A running finance service's relay publishes them.
//!
//! The invoices name their PMO project when the load has a PMO store (the project dimension);
//! a tenant first loaded without one keeps invoices without it (a later resume with a PMO
//! store would be refused as IDEMPOTENCY_KEY_REUSED for those invoices).

use std::collections::HashMap;

use anyhow::{anyhow, Context};
use chrono::{Datelike, NaiveDate};
use futures::{StreamExt, TryStreamExt};

use erp_finance::app::documents::{
    AllocationRequest, CreditNoteRequest, DocumentRequest, LineRequest, PartnerKind,
    PartnerRequest, PaymentRequest,
};
use erp_finance::app::expenses::{CategoryRequest, ClaimLineRequest, ClaimRequest};
use erp_finance::app::import::{ClaimImport, ClaimStep, ImportedPerson};
use erp_finance::app::setup::{AccountRequest, FiscalYearRequest, SetUpRequest, TaxRequest};
use erp_finance::app::{Actor, Outcome};
use erp_finance::domain::ledger::{AccountKind, AccountRole};
use erp_finance::domain::tax::TaxRounding;
use erp_finance::Finance;
use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;

use super::{api, LoadOptions, LoadReport, People, Progress, SeededTenant};
use crate::seed::finance::{
    FinanceHistory, PlannedPayment, Settles, EXPENSE_ACCOUNTS, EXPENSE_CATEGORIES, PURCHASE_TAX,
    SALES_TAX,
};
use crate::seed::SeedPlan;

const CURRENCY: &str = "EUR";

fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn everything() -> PageRequest {
    PageRequest {
        limit: 10_000,
        after: None,
        before: None,
        backward: false,
    }
}

/// The finance ids of the plan's parties and accounts.
struct Ledger {
    admin: Actor,
    customers: Vec<String>,
    vendors: Vec<String>,
    /// Account ids by code.
    accounts: HashMap<String, String>,
    /// Category ids in the order of EXPENSE_CATEGORIES.
    categories: Vec<String>,
    /// The sales VAT of the invoices and the input VAT of the bills.
    sales_tax: String,
    purchase_tax: String,
}

/// Writes the plan's finance history into the tenant (see the module comment).
pub async fn load_finance(
    plan: &SeedPlan,
    finance: &Finance,
    seeded: &SeededTenant,
    people: &People,
    project_ids: Option<&[String]>,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let history = plan.finance();
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let admin = Actor {
        tenant: tenant.clone(),
        user_id: seeded.admin_user_id.clone(),
        finance_admin: true,
    };
    let ledger = set_up(plan, &history, finance, admin, people, options, report).await?;
    let writer = Writer {
        plan,
        history: &history,
        finance,
        ledger: &ledger,
        people,
        project_ids,
    };
    let mut invoice_ids = vec![String::new(); history.invoices.len()];
    let mut bill_ids = vec![String::new(); history.bills.len()];

    let total = history.invoices.len() + history.bills.len();
    let mut progress = Progress::start("finance: invoices and bills", total, options.progress);
    let mut written = futures::stream::iter(
        (0..history.invoices.len())
            .map(Settles::Invoice)
            .chain((0..history.bills.len()).map(Settles::Bill)),
    )
    .map(|document| writer.document(document))
    .buffer_unordered(options.concurrency.max(1));
    while let Some((document, outcome)) = written.try_next().await? {
        match document {
            Settles::Invoice(i) => invoice_ids[i] = outcome.id.clone(),
            Settles::Bill(b) => bill_ids[b] = outcome.id.clone(),
        }
        progress.replayed(outcome.replayed);
    }
    drop(written);
    progress.finish(report);
    report.invoices = history.invoices.len();
    report.bills = history.bills.len();

    let mut progress = Progress::start(
        "finance: credit notes",
        history.credit_notes.len(),
        options.progress,
    );
    let admin = &ledger.admin;
    let written = futures::stream::iter(&history.credit_notes)
        .map(|credit| {
            let invoice_id = invoice_ids[credit.invoice].clone();
            async move {
                finance
                    .import_credit_note(
                        admin,
                        &format!("seed:cn:{}", credit.invoice),
                        CreditNoteRequest {
                            invoice_id,
                            date: credit.date,
                            memo: None,
                            lines: None,
                        },
                    )
                    .await
                    .map_err(api)
                    .with_context(|| format!("the credit note of invoice {}", credit.invoice))
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    write_all(written, &mut progress).await?;
    report.credit_notes = progress.finish(report);

    let mut progress = Progress::start(
        "finance: payments",
        history.payments.len(),
        options.progress,
    );
    let written = futures::stream::iter(&history.payments)
        .map(|payment| writer.payment(payment, &invoice_ids, &bill_ids))
        .buffer_unordered(options.concurrency.max(1));
    write_all(written, &mut progress).await?;
    report.payments = progress.finish(report);

    let mut progress = Progress::start(
        "finance: expense claims",
        history.claims.len(),
        options.progress,
    );
    let written = futures::stream::iter(0..history.claims.len())
        .map(|c| writer.claim(c))
        .buffer_unordered(options.concurrency.max(1));
    write_all(written, &mut progress).await?;
    report.expense_claims = progress.finish(report);
    Ok(())
}

/// Runs a phase's writes to the end, counting each as new or replayed.
async fn write_all(
    written: impl futures::Stream<Item = anyhow::Result<Outcome>>,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let mut written = std::pin::pin!(written);
    while let Some(outcome) = written.try_next().await? {
        progress.replayed(outcome.replayed);
    }
    Ok(())
}

/// The set-up, what is missing of it: settings, fiscal years, accounts, categories, partners,
/// the directory.
async fn set_up(
    plan: &SeedPlan,
    history: &FinanceHistory,
    finance: &Finance,
    admin: Actor,
    people: &People,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<Ledger> {
    let tenant = admin.tenant.clone();
    let first_year = plan.finance_start().year();
    let last_year = (plan.until - chrono::Duration::days(1)).year();
    let year = |y: i32| -> anyhow::Result<FiscalYearRequest> {
        Ok(FiscalYearRequest {
            name: format!("FY{y}"),
            starts_on: NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(|| anyhow!("year {y}"))?,
            ends_on: NaiveDate::from_ymd_opt(y, 12, 31).ok_or_else(|| anyhow!("year {y}"))?,
        })
    };
    let total = 1
        + (last_year - first_year) as usize
        + EXPENSE_ACCOUNTS.len()
        + EXPENSE_CATEGORIES.len()
        + 2
        + history.customers.len()
        + history.vendors.len()
        + 1;
    let mut progress = Progress::start("finance: set-up and parties", total, options.progress);
    let mut wrote = 0usize;

    if finance.settings_of(&tenant).await.map_err(api)?.is_none() {
        finance
            .set_up(
                &admin,
                SetUpRequest {
                    base_currency: CURRENCY.into(),
                    tax_rounding: TaxRounding::Global,
                    fiscal_year: year(first_year)?,
                },
            )
            .await
            .map_err(api)
            .context("setting up finance")?;
        wrote += 1;
    }
    let years: Vec<String> = finance
        .fiscal_years_of(&tenant)
        .await
        .map_err(api)?
        .into_iter()
        .map(|y| y.name)
        .collect();
    for y in first_year..=last_year {
        let request = year(y)?;
        if !years.contains(&request.name) {
            finance
                .create_fiscal_year(&admin, request)
                .await
                .map_err(api)
                .with_context(|| format!("fiscal year {y}"))?;
            wrote += 1;
        }
    }

    let mut accounts: HashMap<String, String> = finance
        .account_page(&tenant, None, &everything())
        .await
        .map_err(api)?
        .into_iter()
        .map(|a| (a.code, a.id))
        .collect();
    for (code, name) in EXPENSE_ACCOUNTS {
        if !accounts.contains_key(*code) {
            let id = finance
                .create_account(
                    &admin,
                    AccountRequest {
                        code: (*code).into(),
                        name: (*name).into(),
                        kind: AccountKind::Expense,
                        role: AccountRole::General,
                    },
                )
                .await
                .map_err(api)
                .with_context(|| format!("account {code}"))?;
            accounts.insert((*code).into(), id);
            wrote += 1;
        }
    }

    let stored: HashMap<String, String> = finance
        .taxes_of(&tenant)
        .await
        .map_err(api)?
        .into_iter()
        .map(|t| (t.code, t.id))
        .collect();
    let mut taxes = Vec::with_capacity(2);
    for (code, name, percent, account_code) in [SALES_TAX, PURCHASE_TAX] {
        let id = match stored.get(code) {
            Some(id) => id.clone(),
            None => {
                wrote += 1;
                finance
                    .create_tax(
                        &admin,
                        TaxRequest {
                            code: code.into(),
                            name: name.into(),
                            rate: percent.to_string(),
                            included: false,
                            account_id: accounts
                                .get(account_code)
                                .cloned()
                                .ok_or_else(|| anyhow!("no account {account_code}"))?,
                        },
                    )
                    .await
                    .map_err(api)
                    .with_context(|| format!("tax {code}"))?
            }
        };
        taxes.push(id);
    }
    let [sales_tax, purchase_tax]: [String; 2] = taxes
        .try_into()
        .map_err(|_| anyhow!("the seed's two taxes"))?;

    let stored: HashMap<String, String> = finance
        .expense_categories_of(&tenant)
        .await
        .map_err(api)?
        .into_iter()
        .map(|c| (c.code, c.id))
        .collect();
    let mut categories = Vec::with_capacity(EXPENSE_CATEGORIES.len());
    for (code, name, account_code, cap_eur, _, _) in EXPENSE_CATEGORIES {
        let id = match stored.get(*code) {
            Some(id) => id.clone(),
            None => {
                wrote += 1;
                finance
                    .create_expense_category(
                        &admin,
                        CategoryRequest {
                            code: (*code).into(),
                            name: (*name).into(),
                            account_id: accounts
                                .get(*account_code)
                                .cloned()
                                .ok_or_else(|| anyhow!("no account {account_code}"))?,
                            cap: Some(amount(cap_eur * 100)),
                            cap_currency: Some(CURRENCY.into()),
                            receipt_required: true,
                        },
                    )
                    .await
                    .map_err(api)
                    .with_context(|| format!("expense category {code}"))?
            }
        };
        categories.push(id);
    }

    let partners = |kind: PartnerKind, names: &[String]| {
        let finance = finance.clone();
        let tenant = tenant.clone();
        let admin = admin.clone();
        let names = names.to_vec();
        async move {
            let stored: HashMap<String, String> = finance
                .partner_page(&tenant, Some(kind.as_str()), &everything())
                .await
                .map_err(api)?
                .into_iter()
                .map(|p| (p.name, p.id))
                .collect();
            let mut ids = Vec::with_capacity(names.len());
            let mut created = 0usize;
            for name in names {
                let id = match stored.get(&name) {
                    Some(id) => id.clone(),
                    None => {
                        created += 1;
                        finance
                            .create_partner(
                                &admin,
                                PartnerRequest {
                                    kind,
                                    name: name.clone(),
                                    client_id: None,
                                    payment_term_id: None,
                                },
                            )
                            .await
                            .map_err(api)
                            .with_context(|| format!("partner {name}"))?
                    }
                };
                ids.push(id);
            }
            anyhow::Ok((ids, created))
        }
    };
    let (customers, created) = partners(PartnerKind::Customer, &history.customers).await?;
    wrote += created;
    let (vendors, created) = partners(PartnerKind::Vendor, &history.vendors).await?;
    wrote += created;

    // The directory: rewritten every time (an upsert), counted as one row.
    let directory: Vec<ImportedPerson> = plan
        .employees
        .iter()
        .enumerate()
        .map(|(e, planned)| ImportedPerson {
            employee_id: people.employee_ids[e].clone(),
            user_id: Some(people.user_ids[e].clone()),
            manager_employee_id: planned.manager.map(|m| people.employee_ids[m].clone()),
            display_name: planned.display_name.clone(),
        })
        .collect();
    finance
        .import_directory(&tenant, &directory)
        .await
        .map_err(api)
        .context("finance's directory of people")?;
    progress.add(wrote, total.saturating_sub(wrote));
    progress.finish(report);
    Ok(Ledger {
        admin,
        customers,
        vendors,
        accounts,
        categories,
        sales_tax,
        purchase_tax,
    })
}

/// Writing the history's documents, payments and claims.
struct Writer<'a> {
    plan: &'a SeedPlan,
    history: &'a FinanceHistory,
    finance: &'a Finance,
    ledger: &'a Ledger,
    people: &'a People,
    project_ids: Option<&'a [String]>,
}

impl Writer<'_> {
    /// An invoice or bill, drafted and posted on its date.
    async fn document(&self, which: Settles) -> anyhow::Result<(Settles, Outcome)> {
        let (key, request) = match which {
            Settles::Invoice(i) => {
                let invoice = &self.history.invoices[i];
                let project = &self.plan.projects[invoice.project];
                let project_id = self.project_ids.map(|ids| ids[invoice.project].clone());
                let lines = invoice
                    .lines
                    .iter()
                    .map(|line| LineRequest {
                        description: format!(
                            "{}: consulting, {} to {}",
                            self.plan.employees[line.employee].display_name,
                            invoice.period.0,
                            invoice.period.1
                        ),
                        account_id: None,
                        quantity: line.hours(),
                        unit_price: format!("{}.00", line.rate_eur),
                        discount: None,
                        tax_id: Some(self.ledger.sales_tax.clone()),
                        project_id: project_id.clone(),
                        time_entry_id: None,
                    })
                    .collect();
                (
                    format!("seed:{}", invoice.key()),
                    DocumentRequest {
                        kind: "invoice",
                        partner_id: self.ledger.customers[invoice.customer].clone(),
                        date: invoice.date,
                        due_date: Some(invoice.due_date),
                        currency: CURRENCY.into(),
                        memo: Some(format!(
                            "{}: services {} to {}",
                            project.name, invoice.period.0, invoice.period.1
                        )),
                        project_id,
                        department_id: None,
                        payment_term_id: None,
                        lines,
                    },
                )
            }
            Settles::Bill(b) => {
                let bill = &self.history.bills[b];
                (
                    format!("seed:{}", bill.key()),
                    DocumentRequest {
                        kind: "bill",
                        partner_id: self.ledger.vendors[bill.vendor].clone(),
                        date: bill.date,
                        due_date: Some(bill.due_date),
                        currency: CURRENCY.into(),
                        memo: Some(bill.description.clone()),
                        project_id: None,
                        department_id: None,
                        payment_term_id: None,
                        lines: vec![LineRequest {
                            description: bill.description.clone(),
                            account_id: self.ledger.accounts.get(bill.account_code).cloned(),
                            quantity: "1".into(),
                            unit_price: amount(bill.cents),
                            discount: None,
                            tax_id: Some(self.ledger.purchase_tax.clone()),
                            project_id: None,
                            time_entry_id: None,
                        }],
                    },
                )
            }
        };
        let outcome = self
            .finance
            .import_document(&self.ledger.admin, &key, request)
            .await
            .map_err(api)
            .with_context(|| format!("document {key}"))?;
        Ok((which, outcome))
    }

    /// A payment, allocated in full to its invoice or bill.
    async fn payment(
        &self,
        payment: &PlannedPayment,
        invoice_ids: &[String],
        bill_ids: &[String],
    ) -> anyhow::Result<Outcome> {
        let (direction, partner_id, document_id, memo) = match payment.settles {
            Settles::Invoice(i) => {
                let invoice = &self.history.invoices[i];
                (
                    "inbound",
                    self.ledger.customers[invoice.customer].clone(),
                    invoice_ids[i].clone(),
                    format!("{} pays", self.history.customers[invoice.customer]),
                )
            }
            Settles::Bill(b) => {
                let bill = &self.history.bills[b];
                (
                    "outbound",
                    self.ledger.vendors[bill.vendor].clone(),
                    bill_ids[b].clone(),
                    format!("To {}", self.history.vendors[bill.vendor]),
                )
            }
        };
        let key = format!("seed:{}", payment.key());
        self.finance
            .record_payment(
                &self.ledger.admin,
                &key,
                PaymentRequest {
                    direction,
                    partner_id,
                    date: payment.date,
                    currency: CURRENCY.into(),
                    amount: amount(payment.cents),
                    bank_account_id: None,
                    memo: Some(memo),
                    allocations: vec![AllocationRequest {
                        document_id,
                        amount: amount(payment.cents),
                    }],
                },
            )
            .await
            .map_err(api)
            .with_context(|| format!("payment {key}"))
    }

    /// A claim, filed by its claimant, approved by their manager, reimbursed by the
    /// administrator (as far as the history goes).
    async fn claim(&self, c: usize) -> anyhow::Result<Outcome> {
        let claim = &self.history.claims[c];
        let tenant = &self.ledger.admin.tenant;
        let actor = |e: usize| Actor {
            tenant: tenant.clone(),
            user_id: self.people.user_ids[e].clone(),
            finance_admin: false,
        };
        let manager = self.plan.employees[claim.employee]
            .manager
            .ok_or_else(|| anyhow!("claimant {} has no manager", claim.employee))?;
        let lines = claim
            .lines
            .iter()
            .map(|line| ClaimLineRequest {
                category_id: self.ledger.categories[line.category].clone(),
                spent_on: line.spent_on,
                description: line.description.clone(),
                amount: amount(line.cents),
                receipt_ref: Some(line.receipt.clone()),
            })
            .collect();
        let key = format!("seed:{}", claim.key());
        self.finance
            .import_expense_claim(
                &actor(claim.employee),
                &key,
                ClaimImport {
                    claim: ClaimRequest {
                        title: claim.title.clone(),
                        currency: CURRENCY.into(),
                        lines,
                        project_id: None,
                    },
                    approval: claim.approved_on.map(|on| ClaimStep {
                        actor: actor(manager),
                        on,
                    }),
                    payment: claim.paid_on.map(|on| ClaimStep {
                        actor: self.ledger.admin.clone(),
                        on,
                    }),
                },
            )
            .await
            .map_err(api)
            .with_context(|| format!("expense claim {key}"))
    }
}
