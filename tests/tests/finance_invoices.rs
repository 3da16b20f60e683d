//! Receivables, payables, expenses and cash through the finance subgraph's GraphQL surface on
//! real PostgreSQL, Redis and Kafka (and the embedded SQLite path): invoices from draft to paid
//! with taxes and instalments, credit notes, payments allocated across invoices (never
//! over-allocated, also concurrently), recurring invoices generated once per month, ageing,
//! vendor bills, the subledger = control reconciliation, expense claims approved by the manager
//! and paid once, cash position, cash-flow statement and forecast, federation, and a seeded
//! random run of invoices and payments.

use chrono::{Datelike, Duration, NaiveDate};
use erp_kit::events::EventEnvelope;
use erp_kit::TenantId;
use erp_tests::finance::{FinanceApp, FINANCE_ADMIN};
use erp_tests::TestIssuer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn this_year() -> i32 {
    today().year()
}

const SET_UP: &str = r#"
mutation($input: SetUpFinanceInput!) {
  setUpFinance(input: $input) { settings { receivableAccount { id } defaultBankAccount { id } salesJournal { id } } }
}"#;

const INVOICE_FIELDS: &str = r#"
  id kind status overdue number reference date dueDate currency
  partner { id name }
  untaxed { amount } tax { amount } total { amount currency } settled { amount } outstanding { amount }
  lines { lineNo description quantity unitPrice { amount } discount subtotal { amount } tax { amount } timeEntryId project { id } }
  instalments { dueDate amount { amount } open { amount } }
  entry { reference journal { code } lines { side account { code } debit { amount } credit { amount } party { kind id } } }
  project { id }
"#;

fn create_invoice_mutation(field: &str) -> String {
    format!("mutation($input: CreateInvoiceInput!) {{ {field}(input: $input) {{ invoice {{ {INVOICE_FIELDS} }} }} }}")
}

fn post_invoice_mutation() -> String {
    format!("mutation($input: PostInvoiceInput!) {{ postInvoice(input: $input) {{ replayed invoice {{ {INVOICE_FIELDS} }} }} }}")
}

const RECORD_PAYMENT: &str = r#"
mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) {
    replayed
    payment { id direction amount { amount } allocated { amount } unallocated { amount } allocations { amount { amount } invoice { id } } entry { lines { side account { code } debit { amount } credit { amount } } } }
  }
}"#;

const ALLOCATE: &str = r#"
mutation($input: AllocatePaymentInput!) {
  allocatePayment(input: $input) { payment { allocated { amount } unallocated { amount } } }
}"#;

const RECONCILE: &str = r#"{
  receivablesReconciliation { balanced controlBalance { amount } subledgerBalance { amount } mismatches { partnerId } }
  payablesReconciliation { balanced controlBalance { amount } subledgerBalance { amount } }
  trialBalance(to: "9999-12-31") { balanced totalDebit { amount } }
}"#;

/// A tenant with finance set up, a 22 % tax, a customer and a vendor.
struct Company {
    token: String,
    tenant: String,
    accounts: std::collections::HashMap<String, String>,
    vat: String,
    customer: String,
    vendor: String,
}

impl Company {
    async fn open(app: &FinanceApp, issuer: &TestIssuer, rounding: &str) -> Self {
        let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
        Self::open_as(app, issuer, rounding, tenant).await
    }

    /// [`Company::open`] for a tenant chosen before (a consumer limited to it).
    async fn open_as(
        app: &FinanceApp,
        issuer: &TestIssuer,
        rounding: &str,
        tenant: String,
    ) -> Self {
        Self::open_in(app, issuer, rounding, tenant, "EUR").await
    }

    /// [`Company::open_as`] with another base currency.
    async fn open_in(
        app: &FinanceApp,
        issuer: &TestIssuer,
        rounding: &str,
        tenant: String,
        base_currency: &str,
    ) -> Self {
        let token = issuer.token(&tenant, "u-admin", FINANCE_ADMIN);
        let year = this_year();
        app.ok(
            &token,
            SET_UP,
            json!({"input": {"baseCurrency": base_currency, "taxRounding": rounding, "fiscalYear": {
                "name": year.to_string(), "startsOn": format!("{year}-01-01"), "endsOn": format!("{year}-12-31")}}}),
        )
        .await;
        app.ok(
            &token,
            "mutation($input: FiscalYearInput!) { createFiscalYear(input: $input) { fiscalYear { id } } }",
            json!({"input": {"name": (year - 1).to_string(), "startsOn": format!("{}-01-01", year - 1), "endsOn": format!("{}-12-31", year - 1)}}),
        )
        .await;
        let data = app
            .ok(
                &token,
                "{ accounts(first: 100) { edges { node { id code } } } }",
                json!({}),
            )
            .await;
        let accounts: std::collections::HashMap<String, String> = data["accounts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["code"].as_str().unwrap().to_owned(),
                    e["node"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let vat = app
            .ok(
                &token,
                "mutation($input: CreateTaxInput!) { createTax(input: $input) { tax { id rate included account { code } } } }",
                json!({"input": {"code": "VAT22", "name": "VAT 22 %", "rate": "22", "included": false, "accountId": accounts["2200"]}}),
            )
            .await["createTax"]["tax"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let partner = |kind: &'static str, name: &'static str| {
            let token = token.clone();
            async move {
                app.ok(
                    &token,
                    "mutation($input: CreatePartnerInput!) { createPartner(input: $input) { partner { id kind name } } }",
                    json!({"input": {"kind": kind, "name": name}}),
                )
                .await["createPartner"]["partner"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let customer = partner("CUSTOMER", "Acme Ltd").await;
        let vendor = partner("VENDOR", "Office Supplies Co").await;
        Self {
            token,
            tenant,
            accounts,
            vat,
            customer,
            vendor,
        }
    }

    fn invoice(&self, date: NaiveDate, lines: Value) -> Value {
        json!({"input": {"partnerId": self.customer, "date": date.to_string(), "currency": "EUR", "lines": lines}})
    }

    /// Drafts and posts a one-line untaxed invoice; returns its id.
    async fn posted_invoice(
        &self,
        app: &FinanceApp,
        key: &str,
        amount: &str,
        date: NaiveDate,
    ) -> String {
        let draft = app
            .ok(
                &self.token,
                &create_invoice_mutation("createInvoice"),
                self.invoice(
                    date,
                    json!([{"description": "Consulting", "quantity": "1", "unitPrice": amount}]),
                ),
            )
            .await;
        let id = draft["createInvoice"]["invoice"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.ok(
            &self.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": key, "invoiceId": id}}),
        )
        .await;
        id
    }

    async fn invoice_state(&self, app: &FinanceApp, id: &str) -> Value {
        app.ok(
            &self.token,
            "query($id: ID!) { invoice(id: $id) { status overdue settled { amount } outstanding { amount } } }",
            json!({"id": id}),
        )
        .await["invoice"]
            .clone()
    }

    async fn assert_reconciled(&self, app: &FinanceApp) -> Value {
        let data = app.ok(&self.token, RECONCILE, json!({})).await;
        assert_eq!(
            data["receivablesReconciliation"]["balanced"], true,
            "{data}"
        );
        assert_eq!(
            data["receivablesReconciliation"]["controlBalance"],
            data["receivablesReconciliation"]["subledgerBalance"]
        );
        assert_eq!(data["payablesReconciliation"]["balanced"], true, "{data}");
        assert_eq!(data["trialBalance"]["balanced"], true, "{data}");
        data
    }
}

/// Odoo #37896 through the API: 348.35 x 16, 4 % discount, 22 % tax.
fn golden_line(vat: &str) -> Value {
    json!([{"description": "Widgets", "quantity": "16", "unitPrice": "348.35", "discount": "4", "taxId": vat, "projectId": "prj-42"}])
}

#[tokio::test]
async fn an_invoice_posts_numbered_with_its_taxes_instalments_and_entry() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let term = app
        .ok(
            &company.token,
            "mutation($input: CreatePaymentTermInput!) { createPaymentTerm(input: $input) { paymentTerm { id name instalments { share days } } } }",
            json!({"input": {"name": "Half now, half in 30 days", "instalments": [{"share": "50", "days": 0}, {"share": "50", "days": 30}]}}),
        )
        .await;
    let term_id = term["createPaymentTerm"]["paymentTerm"]["id"].clone();
    assert_eq!(
        term["createPaymentTerm"]["paymentTerm"]["instalments"],
        json!([{"share": "50", "days": 0}, {"share": "50", "days": 30}])
    );
    let bad_term = app
        .refused(
            &company.token,
            "mutation($input: CreatePaymentTermInput!) { createPaymentTerm(input: $input) { paymentTerm { id } } }",
            json!({"input": {"name": "Broken", "instalments": [{"share": "50", "days": 0}, {"share": "40", "days": 30}]}}),
        )
        .await;
    assert_eq!(
        bad_term,
        ("BAD_USER_INPUT".into(), "INSTALMENTS_NOT_100".into())
    );

    let date = today();
    let mut input = company.invoice(date, golden_line(&company.vat));
    input["input"]["paymentTermId"] = term_id;
    input["input"]["projectId"] = json!("prj-42");
    let draft = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            input,
        )
        .await;
    let draft = &draft["createInvoice"]["invoice"];
    assert_eq!(draft["status"], "DRAFT");
    assert_eq!(draft["reference"], Value::Null);
    assert_eq!(
        draft["total"],
        json!({"amount": "6527.80", "currency": "EUR"})
    );
    assert_eq!(draft["outstanding"]["amount"], "0.00");
    assert_eq!(draft["lines"][0]["subtotal"]["amount"], "5350.66");
    assert_eq!(draft["project"]["id"], "prj-42");
    let id = draft["id"].as_str().unwrap().to_owned();

    // A draft changes; the line's memo and date with it.
    let updated = app
        .ok(
            &company.token,
            &format!("mutation($input: UpdateInvoiceInput!) {{ updateInvoice(input: $input) {{ invoice {{ {INVOICE_FIELDS} }} }} }}"),
            json!({"input": {"invoiceId": id, "memo": "March widgets"}}),
        )
        .await;
    assert_eq!(
        updated["updateInvoice"]["invoice"]["total"]["amount"],
        "6527.80"
    );

    let posted = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "inv-1", "invoiceId": id}}),
        )
        .await;
    let invoice = &posted["postInvoice"]["invoice"];
    assert_eq!(posted["postInvoice"]["replayed"], false);
    assert_eq!(invoice["status"], "POSTED");
    assert_eq!(invoice["overdue"], false);
    assert_eq!(invoice["number"], 1);
    assert_eq!(invoice["reference"], format!("INV/{}/00001", this_year()));
    assert_eq!(invoice["untaxed"]["amount"], "5350.66");
    assert_eq!(invoice["tax"]["amount"], "1177.14");
    assert_eq!(invoice["outstanding"]["amount"], "6527.80");
    assert_eq!(
        invoice["instalments"],
        json!([
            {"dueDate": date.to_string(), "amount": {"amount": "3263.90"}, "open": {"amount": "3263.90"}},
            {"dueDate": (date + Duration::days(30)).to_string(), "amount": {"amount": "3263.90"}, "open": {"amount": "3263.90"}}
        ])
    );
    assert_eq!(invoice["entry"]["journal"]["code"], "SAL");
    assert_eq!(
        invoice["entry"]["lines"],
        json!([
            {"side": "DEBIT", "account": {"code": "1100"}, "debit": {"amount": "6527.80"}, "credit": {"amount": "0.00"}, "party": {"kind": "CUSTOMER", "id": company.customer}},
            {"side": "CREDIT", "account": {"code": "4000"}, "debit": {"amount": "0.00"}, "credit": {"amount": "5350.66"}, "party": null},
            {"side": "CREDIT", "account": {"code": "2200"}, "debit": {"amount": "0.00"}, "credit": {"amount": "1177.14"}, "party": null}
        ])
    );
    // The same key replays; posting again or editing is refused: a posted invoice is credited.
    let again = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "inv-1", "invoiceId": id}}),
        )
        .await;
    assert_eq!(again["postInvoice"]["replayed"], true);
    let twice = app
        .refused(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "inv-2", "invoiceId": id}}),
        )
        .await;
    assert_eq!(twice, ("CONFLICT".into(), "NOT_DRAFT".into()));
    let edit = app
        .refused(
            &company.token,
            "mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) { invoice { id } } }",
            json!({"input": {"invoiceId": id, "memo": "changed"}}),
        )
        .await;
    assert_eq!(edit, ("CONFLICT".into(), "NOT_DRAFT".into()));
    // Its entry moves the receivable: a manual reversal is refused (credit notes cancel).
    let entry_id = app
        .ok(
            &company.token,
            "query($id: ID!) { invoice(id: $id) { entry { id } } }",
            json!({"id": id}),
        )
        .await["invoice"]["entry"]["id"]
        .clone();
    let reversal = app
        .refused(
            &company.token,
            "mutation($input: ReverseJournalEntryInput!) { reverseJournalEntry(input: $input) { reversal { id } } }",
            json!({"input": {"idempotencyKey": "rv", "entryId": entry_id}}),
        )
        .await;
    assert_eq!(
        reversal,
        ("CONFLICT".into(), "CONTROL_ACCOUNT_RESERVED".into())
    );

    // invoice.posted and journal.posted went through the outbox, and the invoice date's control
    // total for analytics' reconciliation (issue 22) with them.
    let db = &app.runtime.db;
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT event_type FROM finance_outbox WHERE tenant_id = '{}' ORDER BY seq",
                company.tenant
            ),
        ))
        .await
        .unwrap();
    let types: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("", "event_type").unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "journal.posted",
            "invoice.posted",
            "control_total.published"
        ]
    );

    // The same document with per-line rounding: 6527.81.
    let per_line = Company::open(&app, &issuer, "PER_LINE").await;
    let draft = app
        .ok(
            &per_line.token,
            &create_invoice_mutation("createInvoice"),
            per_line.invoice(date, golden_line(&per_line.vat)),
        )
        .await;
    assert_eq!(
        draft["createInvoice"]["invoice"]["total"]["amount"],
        "6527.81"
    );
    assert_eq!(
        draft["createInvoice"]["invoice"]["tax"]["amount"],
        "1177.15"
    );

    // Bad documents.
    let mut wrong_partner = company.invoice(date, golden_line(&company.vat));
    wrong_partner["input"]["partnerId"] = json!(company.vendor);
    assert_eq!(
        app.refused(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            wrong_partner
        )
        .await,
        ("CONFLICT".into(), "WRONG_PARTNER_KIND".into())
    );
    let mut usd = company.invoice(date, golden_line(&company.vat));
    usd["input"]["currency"] = json!("USD");
    assert_eq!(
        app.refused(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            usd
        )
        .await,
        ("BAD_USER_INPUT".into(), "DOCUMENT_CURRENCY".into())
    );
    let precise = company.invoice(
        date,
        json!([{"description": "x", "quantity": "1", "unitPrice": "1.005"}]),
    );
    assert_eq!(
        app.refused(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            precise
        )
        .await,
        ("BAD_USER_INPUT".into(), "AMOUNT_TOO_PRECISE".into())
    );
    let control = company.invoice(date, json!([{"description": "x", "quantity": "1", "unitPrice": "1.00", "accountId": company.accounts["1100"]}]));
    assert_eq!(
        app.refused(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            control
        )
        .await,
        ("CONFLICT".into(), "CONTROL_ACCOUNT_RESERVED".into())
    );
    // A time entry is billed at most once.
    let billed = company.invoice(date, json!([{"description": "4 h", "quantity": "4", "unitPrice": "100.00", "timeEntryId": "te-1"}]));
    app.ok(
        &company.token,
        &create_invoice_mutation("createInvoice"),
        billed.clone(),
    )
    .await;
    assert_eq!(
        app.refused(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            billed
        )
        .await,
        ("CONFLICT".into(), "TIME_ENTRY_ALREADY_BILLED".into())
    );
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn a_payment_is_allocated_across_invoices_and_never_over_allocated() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let date = today();
    let mut invoices = Vec::new();
    for n in 0..3 {
        invoices.push(
            company
                .posted_invoice(&app, &format!("i-{n}"), "100.00", date)
                .await,
        );
    }
    let payment = app
        .ok(
            &company.token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "p-1", "direction": "INBOUND", "partnerId": company.customer, "date": date.to_string(),
                "currency": "EUR", "amount": "250.00", "allocations": [
                    {"invoiceId": invoices[0], "amount": "100.00"},
                    {"invoiceId": invoices[1], "amount": "100.00"},
                    {"invoiceId": invoices[2], "amount": "50.00"}]}}),
        )
        .await;
    let payment = &payment["recordPayment"]["payment"];
    assert_eq!(payment["allocated"]["amount"], "250.00");
    assert_eq!(payment["unallocated"]["amount"], "0.00");
    assert_eq!(payment["allocations"].as_array().unwrap().len(), 3);
    assert_eq!(
        payment["entry"]["lines"],
        json!([
            {"side": "DEBIT", "account": {"code": "1000"}, "debit": {"amount": "250.00"}, "credit": {"amount": "0.00"}},
            {"side": "CREDIT", "account": {"code": "1100"}, "debit": {"amount": "0.00"}, "credit": {"amount": "250.00"}}
        ])
    );
    assert_eq!(
        company.invoice_state(&app, &invoices[0]).await["status"],
        "PAID"
    );
    let third = company.invoice_state(&app, &invoices[2]).await;
    assert_eq!(third["status"], "PARTIALLY_PAID");
    assert_eq!(third["outstanding"]["amount"], "50.00");

    // Over the payment, over an invoice, the wrong customer: refused, nothing written.
    let over_payment = app
        .refused(
            &company.token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "p-2", "direction": "INBOUND", "partnerId": company.customer, "date": date.to_string(),
                "currency": "EUR", "amount": "40.00", "allocations": [{"invoiceId": invoices[2], "amount": "40.01"}]}}),
        )
        .await;
    assert_eq!(over_payment, ("CONFLICT".into(), "OVER_ALLOCATION".into()));
    let over_invoice = app
        .refused(
            &company.token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "p-3", "direction": "INBOUND", "partnerId": company.customer, "date": date.to_string(),
                "currency": "EUR", "amount": "100.00", "allocations": [{"invoiceId": invoices[2], "amount": "60.00"}]}}),
        )
        .await;
    assert_eq!(
        over_invoice,
        ("CONFLICT".into(), "ALLOCATION_EXCEEDS_OUTSTANDING".into())
    );
    let data = app
        .ok(
            &company.token,
            "{ payments(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["payments"]["edges"].as_array().unwrap().len(), 1);

    // One unallocated payment of 100, ten concurrent allocations of 30 to ten invoices: three
    // fit, seven are refused, and the payment is never over-allocated.
    let mut targets = Vec::new();
    for n in 0..10 {
        targets.push(
            company
                .posted_invoice(&app, &format!("c-{n}"), "30.00", date)
                .await,
        );
    }
    let open_payment = app
        .ok(
            &company.token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "p-4", "direction": "INBOUND", "partnerId": company.customer, "date": date.to_string(),
                "currency": "EUR", "amount": "100.00"}}),
        )
        .await["recordPayment"]["payment"]["id"]
        .clone();
    let attempts = targets.iter().enumerate().map(|(n, invoice)| {
        let (app, token, payment) = (&app, &company.token, open_payment.clone());
        async move {
            app.graphql(
                token,
                ALLOCATE,
                json!({"input": {"idempotencyKey": format!("a-{n}"), "paymentId": payment, "allocations": [{"invoiceId": invoice, "amount": "30.00"}]}}),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let accepted = results
        .iter()
        .filter(|(_, body)| body["errors"].is_null())
        .count();
    let refused: Vec<&str> = results
        .iter()
        .filter_map(|(_, body)| body["errors"][0]["extensions"]["reason"].as_str())
        .collect();
    assert_eq!(accepted, 3, "{results:?}");
    assert_eq!(refused, vec!["OVER_ALLOCATION"; 7]);
    let data = app
        .ok(&company.token, "query($id: ID!) { payment(id: $id) { allocated { amount } unallocated { amount } allocations { amount { amount } } } }", json!({"id": open_payment}))
        .await;
    assert_eq!(data["payment"]["allocated"]["amount"], "90.00");
    assert_eq!(data["payment"]["allocations"].as_array().unwrap().len(), 3);
    let data = company.assert_reconciled(&app).await;
    // 3 x 100 + 10 x 30 invoiced, 350 received: 250 open.
    assert_eq!(
        data["receivablesReconciliation"]["controlBalance"]["amount"],
        "250.00"
    );
}

#[tokio::test]
async fn a_credit_note_cancels_what_is_still_open_on_an_invoice() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let date = today();
    let invoice = company.posted_invoice(&app, "i", "100.00", date).await;
    app.ok(
        &company.token,
        RECORD_PAYMENT,
        json!({"input": {"idempotencyKey": "p", "direction": "INBOUND", "partnerId": company.customer, "date": date.to_string(),
            "currency": "EUR", "amount": "40.00", "allocations": [{"invoiceId": invoice, "amount": "40.00"}]}}),
    )
    .await;
    let credit_note = format!("mutation($input: CreateCreditNoteInput!) {{ createCreditNote(input: $input) {{ invoice {{ {INVOICE_FIELDS} }} }} }}");
    let full = app
        .refused(
            &company.token,
            &credit_note,
            json!({"input": {"invoiceId": invoice, "date": date.to_string()}}),
        )
        .await;
    assert_eq!(full, ("CONFLICT".into(), "CREDIT_EXCEEDS_INVOICE".into()));
    let draft = app
        .ok(
            &company.token,
            &credit_note,
            json!({"input": {"invoiceId": invoice, "date": date.to_string(), "lines": [{"description": "Refund", "quantity": "1", "unitPrice": "60.00"}]}}),
        )
        .await;
    let note = draft["createCreditNote"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(draft["createCreditNote"]["invoice"]["kind"], "CREDIT_NOTE");
    let posted = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "cn", "invoiceId": note}}),
        )
        .await;
    let posted = &posted["postInvoice"]["invoice"];
    assert_eq!(posted["reference"], format!("CN/{}/00001", this_year()));
    assert_eq!(
        posted["entry"]["lines"],
        json!([
            {"side": "CREDIT", "account": {"code": "1100"}, "debit": {"amount": "0.00"}, "credit": {"amount": "60.00"}, "party": {"kind": "CUSTOMER", "id": company.customer}},
            {"side": "DEBIT", "account": {"code": "4000"}, "debit": {"amount": "60.00"}, "credit": {"amount": "0.00"}, "party": null}
        ])
    );
    let state = company.invoice_state(&app, &invoice).await;
    assert_eq!(state["status"], "PAID");
    assert_eq!(state["outstanding"]["amount"], "0.00");
    let data = app
        .ok(&company.token, "query($id: ID!) { invoice(id: $id) { allocations { amount { amount } paymentId creditNote { reference } } } }", json!({"id": invoice}))
        .await;
    assert_eq!(data["invoice"]["allocations"].as_array().unwrap().len(), 2);
    assert_eq!(
        data["invoice"]["allocations"][1]["creditNote"]["reference"],
        format!("CN/{}/00001", this_year())
    );
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn recurring_invoices_are_generated_once_per_month() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let start = NaiveDate::from_ymd_opt(this_year(), 1, 31).unwrap();
    let as_of = NaiveDate::from_ymd_opt(this_year(), 3, 5).unwrap();
    app.ok(
        &company.token,
        "mutation($input: CreateRecurringScheduleInput!) { createRecurringSchedule(input: $input) { id name } }",
        json!({"input": {"partnerId": company.customer, "name": "Hosting", "currency": "EUR", "dayOfMonth": 31, "startsOn": start.to_string(),
            "lines": [{"description": "Hosting", "quantity": "1", "unitPrice": "49.90", "taxId": company.vat}]}}),
    )
    .await;
    let generate = "mutation($input: GenerateRecurringInvoicesInput!) { generateRecurringInvoices(input: $input) { created { date status reference recurringPeriod total { amount } } } }";
    let first = app
        .ok(
            &company.token,
            generate,
            json!({"input": {"asOf": as_of.to_string(), "post": true}}),
        )
        .await;
    let created = first["generateRecurringInvoices"]["created"]
        .as_array()
        .unwrap()
        .clone();
    let year = this_year();
    let feb_end = NaiveDate::from_ymd_opt(year, 3, 1)
        .unwrap()
        .pred_opt()
        .unwrap();
    assert_eq!(
        created
            .iter()
            .map(|i| (
                i["date"].as_str().unwrap().to_owned(),
                i["status"].clone(),
                i["total"]["amount"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (format!("{year}-01-31"), json!("POSTED"), json!("60.88")),
            (feb_end.to_string(), json!("POSTED"), json!("60.88")),
            (format!("{year}-03-31"), json!("POSTED"), json!("60.88")),
        ]
    );
    // Re-run, and two runs at once: nothing is generated twice.
    let again = app
        .ok(
            &company.token,
            generate,
            json!({"input": {"asOf": as_of.to_string(), "post": true}}),
        )
        .await;
    assert_eq!(again["generateRecurringInvoices"]["created"], json!([]));
    let next = (as_of + Duration::days(31)).to_string();
    let racing = futures::future::join_all((0..2).map(|_| {
        app.graphql(
            &company.token,
            generate,
            json!({"input": {"asOf": next, "post": true}}),
        )
    }))
    .await;
    let total_created: usize = racing
        .iter()
        .map(|(_, body)| {
            body["data"]["generateRecurringInvoices"]["created"]
                .as_array()
                .map_or(0, |a| a.len())
        })
        .sum();
    assert_eq!(total_created, 1, "{racing:?}");
    let data = app
        .ok(
            &company.token,
            "{ invoices(first: 100) { edges { node { reference } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["invoices"]["edges"].as_array().unwrap().len(), 4);
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn ageing_overdue_bills_payables_and_cash() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let date = today();
    // An invoice due 45 days ago, one due in 30 days.
    let old = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            json!({"input": {"partnerId": company.customer, "date": (date - Duration::days(75)).to_string(), "dueDate": (date - Duration::days(45)).to_string(),
                "currency": "EUR", "lines": [{"description": "Old work", "quantity": "1", "unitPrice": "500.00"}]}}),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &company.token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "old", "invoiceId": old}}),
    )
    .await;
    let fresh = company.posted_invoice(&app, "new", "200.00", date).await;
    assert_eq!(company.invoice_state(&app, &old).await["overdue"], true);
    assert_eq!(company.invoice_state(&app, &fresh).await["overdue"], false);
    app.ok(
        &company.token,
        RECORD_PAYMENT,
        json!({"input": {"idempotencyKey": "p", "direction": "INBOUND", "partnerId": company.customer, "date": date.to_string(),
            "currency": "EUR", "amount": "300.00", "allocations": [{"invoiceId": old, "amount": "100.00"}]}}),
    )
    .await;
    let ageing = app
        .ok(
            &company.token,
            "query($d: Date!) { agedReceivables(asOf: $d) { total { amount } partners { partner { name } current { amount } days1To30 { amount } days31To60 { amount } over90 { amount } total { amount } unallocated { amount } } } }",
            json!({"d": date.to_string()}),
        )
        .await;
    assert_eq!(
        ageing["agedReceivables"],
        json!({"total": {"amount": "600.00"}, "partners": [{"partner": {"name": "Acme Ltd"}, "current": {"amount": "200.00"},
            "days1To30": {"amount": "0.00"}, "days31To60": {"amount": "400.00"}, "over90": {"amount": "0.00"}, "total": {"amount": "600.00"},
            "unallocated": {"amount": "200.00"}}]})
    );

    // A vendor bill into payables, paid in part.
    let bill = app
        .ok(
            &company.token,
            &create_invoice_mutation("createBill"),
            json!({"input": {"partnerId": company.vendor, "date": date.to_string(), "currency": "EUR",
                "lines": [{"description": "Paper", "quantity": "10", "unitPrice": "12.00", "taxId": company.vat}]}}),
        )
        .await["createBill"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "bill", "invoiceId": bill}}),
        )
        .await;
    let posted = &posted["postInvoice"]["invoice"];
    assert_eq!(posted["kind"], "BILL");
    assert_eq!(posted["reference"], format!("BILL/{}/00001", this_year()));
    assert_eq!(posted["total"]["amount"], "146.40");
    assert_eq!(posted["entry"]["journal"]["code"], "PUR");
    assert_eq!(posted["entry"]["lines"][0]["account"]["code"], "2000");
    assert_eq!(posted["entry"]["lines"][0]["side"], "CREDIT");
    let wrong = app
        .refused(
            &company.token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "wrong", "direction": "OUTBOUND", "partnerId": company.customer, "date": date.to_string(), "currency": "EUR", "amount": "10.00"}}),
        )
        .await;
    assert_eq!(wrong, ("CONFLICT".into(), "WRONG_PARTNER_KIND".into()));
    app.ok(
        &company.token,
        RECORD_PAYMENT,
        json!({"input": {"idempotencyKey": "out", "direction": "OUTBOUND", "partnerId": company.vendor, "date": date.to_string(),
            "currency": "EUR", "amount": "100.00", "allocations": [{"invoiceId": bill, "amount": "100.00"}]}}),
    )
    .await;
    let data = company.assert_reconciled(&app).await;
    assert_eq!(
        data["payablesReconciliation"]["controlBalance"]["amount"],
        "46.40"
    );
    let payables = app
        .ok(
            &company.token,
            "query($d: Date!) { agedPayables(asOf: $d) { total { amount } } }",
            json!({"d": date.to_string()}),
        )
        .await;
    assert_eq!(payables["agedPayables"]["total"]["amount"], "46.40");

    // Cash: 300 in, 100 out.
    let cash = app
        .ok(
            &company.token,
            r#"query($d: Date!, $from: Date!) {
                cashPosition(asOf: $d) { total { amount } accounts { account { code } balance { amount } } }
                cashFlowStatement(from: $from, to: $d) { opening { amount } closing { amount } lines { source inflow { amount } outflow { amount } } }
                cashForecast(asOf: $d, weeks: 8) { opening { amount } weeks { inflow { amount } outflow { amount } closing { amount } } }
            }"#,
            json!({"d": date.to_string(), "from": (date - Duration::days(1)).to_string()}),
        )
        .await;
    assert_eq!(cash["cashPosition"]["total"]["amount"], "200.00");
    assert_eq!(
        cash["cashPosition"]["accounts"],
        json!([{"account": {"code": "1000"}, "balance": {"amount": "200.00"}}])
    );
    assert_eq!(cash["cashFlowStatement"]["opening"]["amount"], "0.00");
    assert_eq!(cash["cashFlowStatement"]["closing"]["amount"], "200.00");
    assert_eq!(
        cash["cashFlowStatement"]["lines"],
        json!([{"source": "PAYMENTS", "inflow": {"amount": "300.00"}, "outflow": {"amount": "100.00"}}])
    );
    // The forecast counts what is still open only (the 100 paid on the old invoice is in the
    // opening cash, not counted again): the overdue 400 comes in the first week, the fresh
    // invoice's 200 and the bill's open 46.40 in the fifth (both due in 30 days).
    let forecast = &cash["cashForecast"];
    assert_eq!(forecast["opening"]["amount"], "200.00");
    assert_eq!(forecast["weeks"][0]["inflow"]["amount"], "400.00");
    assert_eq!(forecast["weeks"][4]["inflow"]["amount"], "200.00");
    assert_eq!(forecast["weeks"][4]["outflow"]["amount"], "46.40");
    assert_eq!(forecast["weeks"][7]["closing"]["amount"], "753.60");
}

fn hired(tenant: &str, employee: &str, user: &str, manager: Option<&str>) -> EventEnvelope {
    EventEnvelope::new(
        &TenantId::from_claim(tenant),
        "employee.hired",
        employee,
        json!({"employee_id": employee, "display_name": employee, "user_id": user, "manager_id": manager, "employee_number": employee}),
    )
    .unwrap()
}

const CLAIM: &str = "mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) { claim { id state total { amount } employee { id } lines { amount { amount } receiptRef } } } }";
const APPROVE: &str = "mutation($input: ApproveExpenseClaimInput!) { approveExpenseClaim(input: $input) { replayed claim { state decidedBy } } }";
const PAY: &str = "mutation($input: PayExpenseClaimInput!) { payExpenseClaim(input: $input) { replayed claim { state paymentEntry { reference } } } }";

#[tokio::test]
async fn an_expense_is_approved_by_the_manager_and_paid_exactly_once() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let tenant = &company.tenant;
    // Finance learns the org from the employee subgraph's events (applied as the consumer will).
    for event in [
        hired(tenant, "e-manager", "u-manager", None),
        hired(tenant, "e-claimant", "u-claimant", Some("e-manager")),
        hired(tenant, "e-peer", "u-peer", Some("e-manager")),
    ] {
        app.finance.apply_employee_event(&event).await.unwrap();
        // Applying an event twice changes nothing.
        app.finance.apply_employee_event(&event).await.unwrap();
    }
    let category = app
        .ok(
            &company.token,
            "mutation($input: CreateExpenseCategoryInput!) { createExpenseCategory(input: $input) { category { id code cap { amount currency } receiptRequired } } }",
            json!({"input": {"code": "MEALS", "name": "Meals", "accountId": company.accounts["5000"], "cap": "50.00", "capCurrency": "EUR", "receiptRequired": true}}),
        )
        .await["createExpenseCategory"]["category"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let claimant = issuer.token(tenant, "u-claimant", &["expense:submit", "expense:approve"]);
    let manager = issuer.token(tenant, "u-manager", &["expense:submit", "expense:approve"]);
    let peer = issuer.token(tenant, "u-peer", &["expense:submit", "expense:approve"]);
    let stranger = issuer.token(tenant, "u-stranger", &["expense:submit"]);
    let line = |amount: &str, receipt: Option<&str>| json!({"categoryId": category, "spentOn": today().to_string(), "description": "Client lunch", "amount": amount, "receiptRef": receipt});
    let claim =
        |lines: Value| json!({"input": {"title": "Trip", "currency": "EUR", "lines": lines}});
    assert_eq!(
        app.refused(&claimant, CLAIM, claim(json!([line("50.01", Some("r-1"))])))
            .await,
        ("BAD_USER_INPUT".into(), "POLICY_CAP_EXCEEDED".into())
    );
    assert_eq!(
        app.refused(&claimant, CLAIM, claim(json!([line("20.00", None)])))
            .await,
        ("BAD_USER_INPUT".into(), "RECEIPT_REQUIRED".into())
    );
    assert_eq!(
        app.refused(&stranger, CLAIM, claim(json!([line("20.00", Some("r-1"))])))
            .await,
        ("CONFLICT".into(), "UNKNOWN_EMPLOYEE".into())
    );
    let created = app
        .ok(
            &claimant,
            CLAIM,
            claim(json!([
                line("50.00", Some("r-1")),
                line("12.50", Some("r-2"))
            ])),
        )
        .await;
    let created = &created["createExpenseClaim"]["claim"];
    assert_eq!(created["state"], "DRAFT");
    assert_eq!(created["total"]["amount"], "62.50");
    assert_eq!(created["employee"]["id"], "e-claimant");
    let id = created["id"].as_str().unwrap().to_owned();
    let approve = |key: &str| json!({"input": {"idempotencyKey": key, "claimId": id}});
    // Not submitted yet.
    assert_eq!(
        app.refused(&manager, APPROVE, approve("a-0")).await,
        ("CONFLICT".into(), "EXPENSE_STATE".into())
    );
    app.ok(
        &claimant,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        app.refused(&claimant, APPROVE, approve("a-1")).await,
        ("FORBIDDEN".into(), "SELF_APPROVAL".into())
    );
    assert_eq!(
        app.refused(&peer, APPROVE, approve("a-2")).await,
        ("FORBIDDEN".into(), "NOT_THE_MANAGER".into())
    );
    let approved = app.ok(&manager, APPROVE, approve("a-3")).await;
    let approved = &approved["approveExpenseClaim"]["claim"];
    assert_eq!(approved["state"], "APPROVED");
    assert_eq!(approved["decidedBy"], "u-manager");
    // The approval entry needs finance:read: the manager sees null there, finance sees it.
    let (_, body) = app
        .graphql(
            &manager,
            "query($id: ID!) { expenseClaim(id: $id) { state approvalEntry { id } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        body["data"]["expenseClaim"],
        json!({"state": "APPROVED", "approvalEntry": null})
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
    let entry = app
        .ok(&company.token, "query($id: ID!) { expenseClaim(id: $id) { approvalEntry { lines { side account { code } debit { amount } credit { amount } party { kind id } } } } }", json!({"id": id}))
        .await;
    assert_eq!(
        entry["expenseClaim"]["approvalEntry"]["lines"],
        json!([
            {"side": "DEBIT", "account": {"code": "5000"}, "debit": {"amount": "50.00"}, "credit": {"amount": "0.00"}, "party": {"kind": "EMPLOYEE", "id": "e-claimant"}},
            {"side": "DEBIT", "account": {"code": "5000"}, "debit": {"amount": "12.50"}, "credit": {"amount": "0.00"}, "party": {"kind": "EMPLOYEE", "id": "e-claimant"}},
            {"side": "CREDIT", "account": {"code": "2100"}, "debit": {"amount": "0.00"}, "credit": {"amount": "62.50"}, "party": {"kind": "EMPLOYEE", "id": "e-claimant"}}
        ])
    );
    // Paid once: two payments racing, then a third; one entry.
    let pay = |key: &str| json!({"input": {"idempotencyKey": key, "claimId": id}});
    let racing = futures::future::join_all([
        app.graphql(&company.token, PAY, pay("pay-1")),
        app.graphql(&company.token, PAY, pay("pay-2")),
    ])
    .await;
    let paid: Vec<_> = racing
        .iter()
        .filter(|(_, b)| b["errors"].is_null())
        .collect();
    assert_eq!(paid.len(), 1, "{racing:?}");
    assert_eq!(
        paid[0].1["data"]["payExpenseClaim"]["claim"]["state"],
        "PAID"
    );
    let refused: Vec<_> = racing
        .iter()
        .filter_map(|(_, b)| b["errors"][0]["extensions"]["reason"].as_str())
        .collect();
    assert_eq!(refused, vec!["EXPENSE_ALREADY_PAID"]);
    assert_eq!(
        app.refused(&company.token, PAY, pay("pay-3")).await,
        ("CONFLICT".into(), "EXPENSE_ALREADY_PAID".into())
    );

    // expense.approved through the outbox.
    let db = &app.runtime.db;
    let rows = db
        .query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT event_type FROM finance_outbox WHERE tenant_id = '{tenant}' AND event_type = 'expense.approved'"),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);

    // A refusal carries its reason; the claimant then sees it.
    let second = app
        .ok(&peer, CLAIM, claim(json!([line("10.00", Some("r-9"))])))
        .await["createExpenseClaim"]["claim"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &peer,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": second}),
    )
    .await;
    let refusal = app
        .ok(
            &manager,
            "mutation($id: ID!) { refuseExpenseClaim(input: {claimId: $id, reason: \"No client on the invoice\"}) { claim { state refusalReason } } }",
            json!({"id": second}),
        )
        .await;
    assert_eq!(
        refusal["refuseExpenseClaim"]["claim"],
        json!({"state": "REFUSED", "refusalReason": "No client on the invoice"})
    );
    // Visibility: the claimant sees their claim only, the manager both reports', a stranger none.
    let list = "{ expenseClaims(first: 10) { edges { node { id } } } }";
    assert_eq!(
        app.ok(&claimant, list, json!({})).await["expenseClaims"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.ok(&manager, list, json!({})).await["expenseClaims"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.ok(&stranger, list, json!({})).await["expenseClaims"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Federation: Employee.expenses and Project.invoices for references from other subgraphs.
    let invoice = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            json!({"input": {"partnerId": company.customer, "date": today().to_string(), "currency": "EUR", "projectId": "prj-9",
                "lines": [{"description": "Build", "quantity": "1", "unitPrice": "10.00"}]}}),
        )
        .await["createInvoice"]["invoice"]["id"]
        .clone();
    let entities = app
        .ok(
            &company.token,
            r#"query($r: [_Any!]!) { _entities(representations: $r) {
                ... on Employee { id expenses { id state total { amount } } }
                ... on Project { id invoices { id status } }
            } }"#,
            json!({"r": [
                {"__typename": "Employee", "id": "e-claimant"},
                {"__typename": "Employee", "id": "e-peer"},
                {"__typename": "Project", "id": "prj-9"},
                {"__typename": "Project", "id": "prj-none"}
            ]}),
        )
        .await;
    assert_eq!(
        entities["_entities"],
        json!([
            {"id": "e-claimant", "expenses": [{"id": id, "state": "PAID", "total": {"amount": "62.50"}}]},
            {"id": "e-peer", "expenses": [{"id": second, "state": "REFUSED", "total": {"amount": "10.00"}}]},
            {"id": "prj-9", "invoices": [{"id": invoice, "status": "DRAFT"}]},
            {"id": "prj-none", "invoices": []}
        ])
    );
    // Another employee's claims are hidden from a claimant (null, not an error).
    let hidden = app
        .ok(
            &claimant,
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Employee { expenses { id } } } }",
            json!({"r": [{"__typename": "Employee", "id": "e-peer"}]}),
        )
        .await;
    assert_eq!(hidden["_entities"], json!([{"expenses": null}]));
    company.assert_reconciled(&app).await;
}

/// A seeded random run (reproducible; no property-testing crate): invoices, credit notes,
/// payments and allocations at random. After every step the receivables subledger equals the
/// control account, no payment is over-allocated, no invoice is over-settled, and the trial
/// balance is zero.
#[tokio::test]
async fn random_invoices_and_payments_keep_the_subledger_equal_to_the_control_account() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let mut rng = StdRng::seed_from_u64(1717);
    let date = today();
    let mut invoices: Vec<String> = Vec::new();
    let mut payments: Vec<String> = Vec::new();
    for step in 0..40 {
        match rng.random_range(0..4) {
            0 | 1 => {
                let cents: i64 = rng.random_range(100..50_000);
                let amount = format!("{}.{:02}", cents / 100, cents % 100);
                invoices.push(
                    company
                        .posted_invoice(&app, &format!("inv-{step}"), &amount, date)
                        .await,
                );
            }
            2 => {
                let cents: i64 = rng.random_range(100..60_000);
                let mut allocations = Vec::new();
                for _ in 0..rng.random_range(0..4) {
                    if invoices.is_empty() {
                        break;
                    }
                    let invoice = &invoices[rng.random_range(0..invoices.len())];
                    let part: i64 = rng.random_range(1..20_000);
                    allocations.push(json!({"invoiceId": invoice, "amount": format!("{}.{:02}", part / 100, part % 100)}));
                }
                let (_, body) = app
                    .graphql(
                        &company.token,
                        RECORD_PAYMENT,
                        json!({"input": {"idempotencyKey": format!("pay-{step}"), "direction": "INBOUND", "partnerId": company.customer,
                            "date": date.to_string(), "currency": "EUR", "amount": format!("{}.{:02}", cents / 100, cents % 100), "allocations": allocations}}),
                    )
                    .await;
                match body["errors"][0]["extensions"]["reason"].as_str() {
                    None => payments.push(
                        body["data"]["recordPayment"]["payment"]["id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    ),
                    Some(reason) => assert!(
                        ["OVER_ALLOCATION", "ALLOCATION_EXCEEDS_OUTSTANDING"].contains(&reason),
                        "{body}"
                    ),
                }
            }
            _ => {
                if payments.is_empty() || invoices.is_empty() {
                    continue;
                }
                let payment = &payments[rng.random_range(0..payments.len())];
                let invoice = &invoices[rng.random_range(0..invoices.len())];
                let part: i64 = rng.random_range(1..30_000);
                let (_, body) = app
                    .graphql(
                        &company.token,
                        ALLOCATE,
                        json!({"input": {"idempotencyKey": format!("alloc-{step}"), "paymentId": payment,
                            "allocations": [{"invoiceId": invoice, "amount": format!("{}.{:02}", part / 100, part % 100)}]}}),
                    )
                    .await;
                if let Some(reason) = body["errors"][0]["extensions"]["reason"].as_str() {
                    assert!(
                        ["OVER_ALLOCATION", "ALLOCATION_EXCEEDS_OUTSTANDING"].contains(&reason),
                        "{body}"
                    );
                }
            }
        }
        company.assert_reconciled(&app).await;
    }
    // Allocations never exceed payments; settlements never exceed totals.
    let db = &app.runtime.db;
    let over = |sql: &str| {
        let sql = sql.replace("$tenant", &company.tenant);
        async move {
            db.query_all(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .len()
        }
    };
    assert_eq!(
        over("SELECT id FROM finance_payments WHERE tenant_id = '$tenant' AND allocated > amount")
            .await,
        0
    );
    assert_eq!(
        over("SELECT id FROM finance_documents WHERE tenant_id = '$tenant' AND settled > total")
            .await,
        0
    );
    assert_eq!(
        over("SELECT p.id FROM finance_payments p WHERE p.tenant_id = '$tenant' AND p.allocated <> \
              (SELECT COALESCE(SUM(a.amount), 0) FROM finance_allocations a WHERE a.payment_id = p.id)").await,
        0
    );
    assert_eq!(
        over("SELECT d.id FROM finance_documents d WHERE d.tenant_id = '$tenant' AND d.settled <> \
              (SELECT COALESCE(SUM(a.amount), 0) FROM finance_allocations a WHERE a.document_id = d.id)").await,
        0
    );
    assert!(!invoices.is_empty() && !payments.is_empty());
}

#[tokio::test]
async fn the_embedded_sqlite_path_invoices_and_collects() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "PER_LINE").await;
    let date = today();
    let invoice = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            company.invoice(date, golden_line(&company.vat)),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "k", "invoiceId": invoice}}),
        )
        .await;
    assert_eq!(
        posted["postInvoice"]["invoice"]["total"]["amount"],
        "6527.81"
    );
    let attempts = (0..4).map(|n| {
        let (app, token, customer, invoice) = (&app, &company.token, &company.customer, &invoice);
        async move {
            app.graphql(
                token,
                RECORD_PAYMENT,
                json!({"input": {"idempotencyKey": format!("p-{n}"), "direction": "INBOUND", "partnerId": customer, "date": date.to_string(),
                    "currency": "EUR", "amount": "2000.00", "allocations": [{"invoiceId": invoice, "amount": "2000.00"}]}}),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let accepted = results
        .iter()
        .filter(|(_, b)| b["errors"].is_null())
        .count();
    assert_eq!(accepted, 3, "{results:?}");
    let state = company.invoice_state(&app, &invoice).await;
    assert_eq!(state["status"], "PARTIALLY_PAID");
    assert_eq!(state["outstanding"]["amount"], "527.81");
    company.assert_reconciled(&app).await;

    // A foreign invoice on SQLite: 100.00 USD booked at 0.9 (90.00 EUR), paid at 0.95
    // (95.00 EUR): a realised gain of 5.00 in the same transaction, nothing left in EUR.
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    for (from, rate) in [(day(6, 1), "0.9"), (day(7, 1), "0.95")] {
        app.ok(
            &company.token,
            "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }",
            json!({"input": {"currency": "USD", "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    let dollars = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            json!({"input": {"partnerId": company.customer, "date": day(6, 10), "currency": "USD",
                "lines": [{"description": "Support", "quantity": "1", "unitPrice": "100.00"}]}}),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "usd", "invoiceId": dollars}}),
        )
        .await;
    assert_eq!(
        posted["postInvoice"]["invoice"]["entry"]["lines"][0]["debit"]["amount"],
        "90.00"
    );
    let paid = app
        .ok(
            &company.token,
            "mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { payment { allocations { exchangeDifference { amount } exchangeEntry { lines { account { code } debit { amount } credit { amount } } } } } } }",
            json!({"input": {"idempotencyKey": "usd-pay", "direction": "INBOUND", "partnerId": company.customer, "date": day(7, 10),
                "currency": "USD", "amount": "100.00", "allocations": [{"invoiceId": dollars, "amount": "100.00"}]}}),
        )
        .await;
    assert_eq!(
        paid["recordPayment"]["payment"]["allocations"],
        json!([{"exchangeDifference": {"amount": "5.00"}, "exchangeEntry": {"lines": [
            {"account": {"code": "1100"}, "debit": {"amount": "5.00"}, "credit": {"amount": "0.00"}},
            {"account": {"code": "4950"}, "debit": {"amount": "0.00"}, "credit": {"amount": "5.00"}}
        ]}}])
    );
    let data = company.assert_reconciled(&app).await;
    assert_eq!(
        data["receivablesReconciliation"]["controlBalance"]["amount"],
        "527.81"
    );
}

/// Publishes an event on the app's bus, as its producer's outbox relay would.
async fn publish(app: &FinanceApp, domain: &str, event: &EventEnvelope) {
    app.runtime
        .bus
        .publish(&erp_kit::events::topic_for(domain), event)
        .await
        .unwrap();
}

fn timesheet_approved(tenant: &str, timesheet: &str, week: &str, projects: Value) -> EventEnvelope {
    EventEnvelope::new(
        &TenantId::from_claim(tenant),
        "timesheet.approved",
        timesheet,
        json!({"timesheet_id": timesheet, "user_id": "u-dev", "week": week, "decided_by": "u-lead",
               "rejection_reason": null, "time_entry_ids": ["te-1", "te-2"], "projects": projects}),
    )
    .unwrap()
}

/// The consumers run on the embedded bus (each test's own; see `FinanceApp::spawn_with`): PMO's
/// approved timesheets become lines of the project's draft invoice at the rate of the moment,
/// once per timesheet and project however often the event comes; the employee subgraph's
/// hires feed the approvers of expense claims.
#[tokio::test]
async fn consumed_events_bill_approved_time_once_and_feed_expense_approvers() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let tenant = company.tenant.clone();
    let set_rate = "mutation($input: SetProjectBillingRateInput!) { setProjectBillingRate(input: $input) { billingRate { project { id } customerId hourlyRate { amount currency } } } }";
    let data = app
        .ok(&company.token, set_rate, json!({"input": {"projectId": "prj-1", "customerId": company.customer, "currency": "EUR", "hourlyRate": "120.00"}}))
        .await;
    assert_eq!(
        data["setProjectBillingRate"]["billingRate"],
        json!({"project": {"id": "prj-1"}, "customerId": company.customer, "hourlyRate": {"amount": "120.00", "currency": "EUR"}})
    );
    let vendor_rate = app
        .refused(&company.token, set_rate, json!({"input": {"projectId": "prj-1", "customerId": company.vendor, "currency": "EUR", "hourlyRate": "1.00"}}))
        .await;
    assert_eq!(
        vendor_rate,
        ("CONFLICT".into(), "WRONG_PARTNER_KIND".into())
    );

    // 7.5 billable hours on prj-1 (rated) and 1 on prj-2 (not rated: not billed).
    let first = timesheet_approved(
        &tenant,
        "ts-1",
        "2026-W10",
        json!([
            {"project_id": "prj-1", "billable_hours": 7.5, "non_billable_hours": 0.0, "billable_seconds": 27000, "non_billable_seconds": 0},
            {"project_id": "prj-2", "billable_hours": 1.0, "non_billable_hours": 0.0, "billable_seconds": 3600, "non_billable_seconds": 0}
        ]),
    );
    publish(&app, "pmo", &first).await;
    // The same event again (a redelivery), and the same timesheet under a new event id.
    publish(&app, "pmo", &first).await;
    publish(&app, "pmo", &timesheet_approved(&tenant, "ts-1", "2026-W10", json!([
        {"project_id": "prj-1", "billable_hours": 7.5, "non_billable_hours": 0.0, "billable_seconds": 27000, "non_billable_seconds": 0}
    ]))).await;
    // The rate changes; the next week's hours take the new rate, the billed line keeps its own.
    app.ok(&company.token, set_rate, json!({"input": {"projectId": "prj-1", "customerId": company.customer, "currency": "EUR", "hourlyRate": "150.00"}}))
        .await;
    publish(&app, "pmo", &timesheet_approved(&tenant, "ts-2", "2026-W11", json!([
        {"project_id": "prj-1", "billable_hours": 2.0, "non_billable_hours": 1.0, "billable_seconds": 7200, "non_billable_seconds": 3600}
    ]))).await;
    let query = "{ invoices(projectId: \"prj-1\", first: 10) { edges { node { id status total { amount } lines { description quantity unitPrice { amount } subtotal { amount } timeEntryId project { id } } } } } }";
    erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let data = app.ok(&company.token, query, json!({})).await;
        let lines = &data["invoices"]["edges"][0]["node"]["lines"];
        (lines.as_array().map_or(0, |l| l.len()) == 2).then_some(())
    })
    .await
    .expect("both timesheets billed");
    // Read again once both are billed: the document and its lines are read by two loaders,
    // so a read racing the second billing may see its line and the total before it.
    let data = app.ok(&company.token, query, json!({})).await;
    let invoice = data["invoices"]["edges"][0]["node"].clone();
    assert_eq!(invoice["status"], "DRAFT");
    assert_eq!(
        invoice["lines"],
        json!([
            {"description": "Approved time 2026-W10 (u-dev)", "quantity": "7.5", "unitPrice": {"amount": "120.00"}, "subtotal": {"amount": "900.00"}, "timeEntryId": "timesheet:ts-1:prj-1", "project": {"id": "prj-1"}},
            {"description": "Approved time 2026-W11 (u-dev)", "quantity": "2", "unitPrice": {"amount": "150.00"}, "subtotal": {"amount": "300.00"}, "timeEntryId": "timesheet:ts-2:prj-1", "project": {"id": "prj-1"}}
        ])
    );
    assert_eq!(invoice["total"]["amount"], "1200.00");
    let none = app
        .ok(
            &company.token,
            "{ invoices(projectId: \"prj-2\", first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(none["invoices"]["edges"], json!([]));

    // The billed draft posts and is paid like any invoice; the books stay balanced.
    let id = invoice["id"].as_str().unwrap().to_owned();
    app.ok(
        &company.token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "bill-post", "invoiceId": id}}),
    )
    .await;
    app.ok(
        &company.token,
        RECORD_PAYMENT,
        json!({"input": {"idempotencyKey": "bill-pay", "direction": "INBOUND", "partnerId": company.customer, "date": today().to_string(),
            "currency": "EUR", "amount": "1200.00", "allocations": [{"invoiceId": id, "amount": "1200.00"}]}}),
    )
    .await;
    assert_eq!(company.invoice_state(&app, &id).await["status"], "PAID");
    company.assert_reconciled(&app).await;

    // Hires published by the employee subgraph make the manager the claimant's approver.
    publish(&app, "employee", &hired(&tenant, "e-boss", "u-boss", None)).await;
    publish(
        &app,
        "employee",
        &hired(&tenant, "e-dev", "u-dev", Some("e-boss")),
    )
    .await;
    let category = app
        .ok(
            &company.token,
            "mutation($input: CreateExpenseCategoryInput!) { createExpenseCategory(input: $input) { category { id } } }",
            json!({"input": {"code": "TRAVEL", "name": "Travel", "accountId": company.accounts["5000"], "receiptRequired": false}}),
        )
        .await["createExpenseCategory"]["category"]["id"]
        .clone();
    let dev = issuer.token(&tenant, "u-dev", &["expense:submit"]);
    let boss = issuer.token(&tenant, "u-boss", &["expense:approve"]);
    let claim = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let (_, body) = app
            .graphql(&dev, CLAIM, json!({"input": {"title": "Train", "currency": "EUR", "lines": [
                {"categoryId": category, "spentOn": today().to_string(), "description": "Ticket", "amount": "80.00"}]}}))
            .await;
        body["data"]["createExpenseClaim"]["claim"]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("the directory learnt the hire");
    app.ok(
        &dev,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": claim}),
    )
    .await;
    let approved = app
        .ok(
            &boss,
            APPROVE,
            json!({"input": {"idempotencyKey": "ap", "claimId": claim}}),
        )
        .await;
    assert_eq!(
        approved["approveExpenseClaim"]["claim"]["state"],
        "APPROVED"
    );
}

/// The durable in-process bus of `erp-os all` (a SQLite event log): finance's consumers keep
/// receiving events published after they started, also after idle pauses longer than their
/// commit interval.
#[tokio::test]
async fn consumers_on_the_durable_bus_keep_receiving() {
    let issuer = TestIssuer::start().await;
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Embedded).await;
    runtime.config.service = "finance".into();
    let events_db = erp_kit::db::connect(&erp_tests::fresh_sqlite())
        .await
        .unwrap();
    runtime.bus = std::sync::Arc::new(erp_kit::events::DurableBus::open(events_db).await.unwrap());
    let app = FinanceApp::serve(runtime, erp_finance::FinanceOptions::default()).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let db = &app.runtime.db;
    for n in 0..3 {
        let employee = format!("e-{n}");
        publish(
            &app,
            "employee",
            &hired(&company.tenant, &employee, &format!("u-{n}"), None),
        )
        .await;
        let known = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
            let rows = db
                .query_all(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT user_id FROM finance_people WHERE employee_id = '{employee}'"),
                ))
                .await
                .unwrap();
            rows.first()
                .map(|row| row.try_get::<String>("", "user_id").unwrap())
        })
        .await;
        assert_eq!(known, Some(format!("u-{n}")), "event {n} was not consumed");
        // Idle for longer than the consumers' commit interval (1 s).
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
}

/// The lock date closes every posting path, not only manual entries (invariant F3): an
/// invoice, a payment and a credit note dated on or before it are refused, nothing written.
#[tokio::test]
async fn a_locked_period_refuses_invoices_payments_and_credit_notes() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let last_year = this_year() - 1;
    let december = NaiveDate::from_ymd_opt(last_year, 12, 10).unwrap();
    let invoice = company
        .posted_invoice(&app, "before-lock", "50.00", december)
        .await;
    app.ok(
        &company.token,
        "mutation($d: Date!) { setLockDate(input: {lockDate: $d}) { settings { lockDate } } }",
        json!({"d": format!("{last_year}-12-31")}),
    )
    .await;
    let draft = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            company.invoice(
                december,
                json!([{"description": "Late", "quantity": "1", "unitPrice": "10.00"}]),
            ),
        )
        .await["createInvoice"]["invoice"]["id"]
        .clone();
    let locked = ("CONFLICT".to_owned(), "PERIOD_LOCKED".to_owned());
    assert_eq!(
        app.refused(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "late", "invoiceId": draft}})
        )
        .await,
        locked
    );
    // The draft is still a draft (nothing half-written), and posts once re-dated.
    assert_eq!(
        company.invoice_state(&app, draft.as_str().unwrap()).await["status"],
        "DRAFT"
    );
    assert_eq!(
        app.refused(
            &company.token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "late-pay", "direction": "INBOUND", "partnerId": company.customer, "date": december.to_string(),
                "currency": "EUR", "amount": "50.00", "allocations": [{"invoiceId": invoice, "amount": "50.00"}]}}),
        )
        .await,
        locked
    );
    let credit = app
        .ok(
            &company.token,
            "mutation($input: CreateCreditNoteInput!) { createCreditNote(input: $input) { invoice { id } } }",
            json!({"input": {"invoiceId": invoice, "date": december.to_string()}}),
        )
        .await["createCreditNote"]["invoice"]["id"]
        .clone();
    assert_eq!(
        app.refused(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "late-cn", "invoiceId": credit}})
        )
        .await,
        locked
    );
    assert_eq!(
        company.invoice_state(&app, &invoice).await["outstanding"]["amount"],
        "50.00"
    );
    app.ok(
        &company.token,
        "mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) { invoice { id } } }",
        json!({"input": {"invoiceId": draft, "date": today().to_string()}}),
    )
    .await;
    let posted = app
        .ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": "re-dated", "invoiceId": draft}}),
        )
        .await;
    assert_eq!(posted["postInvoice"]["invoice"]["status"], "POSTED");
    company.assert_reconciled(&app).await;
}

/// The CRM subgraph on the finance app's embedded bus (its outbox relay publishes there), on a
/// SQLite file of its own; no CRM consumers.
async fn crm_on_the_bus_of(app: &FinanceApp, issuer: &TestIssuer) -> erp_tests::crm::CrmApp {
    let mut runtime = erp_tests::runtime(issuer, erp_tests::Backends::Embedded).await;
    runtime.config.service = "crm".into();
    runtime.bus = app.runtime.bus.clone();
    erp_tests::crm::CrmApp::serve(runtime, erp_crm::CrmOptions { consumers: None }).await
}

/// Creates, sends and accepts a quote in the CRM; answers its id.
async fn accepted_quote(
    crm: &erp_tests::crm::CrmApp,
    token: &str,
    client: &str,
    currency: &str,
    lines: Value,
) -> String {
    let quote = crm
        .ok(
            token,
            "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id } }",
            json!({"i": {"clientId": client, "currency": currency, "terms": "Net 30",
                "validUntil": (today() + Duration::days(30)).to_string(), "lines": lines}}),
        )
        .await["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = crm
        .ok(
            token,
            "mutation($i: QuoteActionInput!) { sendQuote(input: $i) { currentVersion { version contentHash } } }",
            json!({"i": {"quoteId": quote}}),
        )
        .await;
    let version = &sent["sendQuote"]["currentVersion"];
    let accepted = crm
        .ok(
            token,
            "mutation($i: AcceptQuoteInput!) { acceptQuote(input: $i) { status } }",
            json!({"i": {"quoteId": quote, "version": version["version"], "contentHash": version["contentHash"], "signedBy": "Ana Gomez"}}),
        )
        .await;
    assert_eq!(accepted["acceptQuote"]["status"], "ACCEPTED");
    quote
}

/// The `quote.accepted` envelopes in the CRM's outbox, oldest first (what its relay publishes).
async fn crm_quote_events(crm: &erp_tests::crm::CrmApp) -> Vec<EventEnvelope> {
    let db = &crm.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT envelope FROM crm_outbox WHERE event_type = 'quote.accepted' ORDER BY seq",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap())
    .collect()
}

/// Whether finance's quote consumer has handled (or skipped as a duplicate) an event id.
async fn quote_event_handled(app: &FinanceApp, event_id: &str) -> bool {
    let db = &app.runtime.db;
    !db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT event_id FROM finance_inbox WHERE consumer_group = 'erp.finance.quotes' AND event_id = '{event_id}'"
        ),
    ))
    .await
    .unwrap()
    .is_empty()
}

const QUOTE_INVOICES: &str = "{ invoices(first: 10) { edges { node { status currency date dueDate memo reference
  partner { name kind clientId } quote { quoteId number version }
  untaxed { amount } tax { amount } total { amount currency }
  lines { lineNo description quantity unitPrice { amount } discount subtotal { amount } tax { amount } } } } } }";

/// The hand-off from the CRM (issue 19): a quote accepted through the CRM's GraphQL becomes,
/// through its outbox and finance's durable consumer, a DRAFT customer invoice of the client's
/// partner (created on first sight, keyed by the client id) with the accepted lines, discounts,
/// taxes and totals to the cent, referencing the quote; once per quote however often and in
/// whatever version the event comes; what finance refuses (another currency than the base
/// one, a tax rate finance has no tax for) is dead-lettered with its reason, nothing written.
#[tokio::test]
async fn an_accepted_crm_quote_becomes_one_draft_invoice_of_the_clients_partner() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "PER_LINE").await;
    let crm = crm_on_the_bus_of(&app, &issuer).await;
    let sales = issuer.token(&company.tenant, "u-sales", erp_tests::crm::CRM_ADMIN);
    let client = |name: &'static str| {
        let (crm, sales) = (&crm, sales.clone());
        async move {
            crm.ok(
                &sales,
                "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }",
                json!({"i": {"name": name}}),
            )
            .await["createClient"]["client"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let globex = client("Globex").await;

    // 3 consulting days at 1200.00, 10 % off, 22 % tax: 3600.00 - 360.00 = 3240.00, tax
    // 712.80; an optional training not chosen (not invoiced); a chosen support line, untaxed.
    let quote = accepted_quote(&crm, &sales, &globex, "EUR", json!([
        {"description": "Consulting day", "quantity": "3", "unitPrice": {"amount": "1200", "currency": "EUR"}, "discountPercent": "10", "taxRatePercent": "22"},
        {"description": "Training", "quantity": "1", "unitPrice": {"amount": "500", "currency": "EUR"}, "optional": true},
        {"description": "Support", "quantity": "1", "unitPrice": {"amount": "100", "currency": "EUR"}, "optional": true, "selected": true},
    ]))
    .await;
    let invoices = || async {
        app.ok(&company.token, QUOTE_INVOICES, json!({})).await["invoices"]["edges"].clone()
    };
    let edges = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let edges = invoices().await;
        (edges.as_array().map_or(0, Vec::len) == 1).then_some(edges)
    })
    .await
    .expect("the accepted quote was invoiced");
    let today = today();
    let expected = json!([{"node": {
        "status": "DRAFT", "currency": "EUR", "date": today.to_string(),
        "dueDate": (today + Duration::days(30)).to_string(),
        "memo": "Quote Q-000001 version 1, accepted by Ana Gomez (Net 30)", "reference": null,
        "partner": {"name": "Globex", "kind": "CUSTOMER", "clientId": globex},
        "quote": {"quoteId": quote, "number": "Q-000001", "version": 1},
        "untaxed": {"amount": "3340.00"}, "tax": {"amount": "712.80"},
        "total": {"amount": "4052.80", "currency": "EUR"},
        "lines": [
            {"lineNo": 1, "description": "Consulting day", "quantity": "3", "unitPrice": {"amount": "1200.00"}, "discount": "10", "subtotal": {"amount": "3240.00"}, "tax": {"amount": "712.80"}},
            {"lineNo": 2, "description": "Support", "quantity": "1", "unitPrice": {"amount": "100.00"}, "discount": "0", "subtotal": {"amount": "100.00"}, "tax": {"amount": "0.00"}}
        ]
    }}]);
    assert_eq!(edges, expected);

    // Redelivered as is, under a new event id, and as another version of the same quote:
    // still the one invoice, unchanged; the client's partner is not duplicated.
    let events = crm_quote_events(&crm).await;
    assert_eq!(events.len(), 1);
    let original = events[0].clone();
    publish(&app, "crm", &original).await;
    let mut again = EventEnvelope::new(
        &TenantId::from_claim(&company.tenant),
        "quote.accepted",
        &quote,
        original.payload.clone(),
    )
    .unwrap();
    publish(&app, "crm", &again).await;
    let mut superseded = original.payload.clone();
    superseded["version"] = json!(2);
    superseded["total_minor"] = json!(1);
    again = EventEnvelope::new(
        &TenantId::from_claim(&company.tenant),
        "quote.accepted",
        &quote,
        superseded,
    )
    .unwrap();
    let last = again.id.to_string();
    publish(&app, "crm", &again).await;
    erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        quote_event_handled(&app, &last).await.then_some(())
    })
    .await
    .expect("the copies were consumed");
    assert_eq!(invoices().await, expected);

    // A second quote of the same client goes to the same partner.
    let second = accepted_quote(&crm, &sales, &globex, "EUR", json!([
        {"description": "Licence", "quantity": "2", "unitPrice": {"amount": "49.99", "currency": "EUR"}, "taxRatePercent": "22"},
    ]))
    .await;
    let edges = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let edges = invoices().await;
        (edges.as_array().map_or(0, Vec::len) == 2).then_some(edges)
    })
    .await
    .expect("the second quote was invoiced");
    let second_invoice = edges
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["node"]["quote"]["quoteId"] == second.as_str())
        .unwrap()["node"]
        .clone();
    assert_eq!(second_invoice["quote"]["number"], "Q-000002");
    assert_eq!(second_invoice["partner"]["clientId"], globex.as_str());
    assert_eq!(
        (
            &second_invoice["untaxed"]["amount"],
            &second_invoice["tax"]["amount"],
            &second_invoice["total"]["amount"]
        ),
        (&json!("99.98"), &json!("22.00"), &json!("121.98"))
    );
    let partners = app
        .ok(
            &company.token,
            "{ partners(kind: CUSTOMER, first: 50) { edges { node { name clientId } } } }",
            json!({}),
        )
        .await;
    let linked: Vec<&Value> = partners["partners"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|edge| !edge["node"]["clientId"].is_null())
        .collect();
    assert_eq!(
        linked,
        vec![&json!({"node": {"name": "Globex", "clientId": globex}})]
    );

    // Refused: a quote in USD (finance invoices in its base currency, EUR, or a currency it has
    // exchange rates for, and it has none for USD) and a quote whose
    // 7 % rate finance has no tax for. Dead letters with the reason; no invoice, no partner.
    let initech = client("Initech").await;
    accepted_quote(&crm, &sales, &initech, "USD", json!([
        {"description": "Audit", "quantity": "1", "unitPrice": {"amount": "900", "currency": "USD"}},
    ]))
    .await;
    accepted_quote(&crm, &sales, &initech, "EUR", json!([
        {"description": "Books", "quantity": "1", "unitPrice": {"amount": "40", "currency": "EUR"}, "taxRatePercent": "7"},
    ]))
    .await;
    let inbox = erp_kit::events::SqlInbox::new("finance", app.runtime.db.clone());
    let letters = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let letters = inbox.dead_letters("erp.finance.quotes").await.unwrap();
        (letters.len() == 2).then_some(letters)
    })
    .await
    .expect("both refusals were dead-lettered");
    let mut refusals: Vec<(String, erp_kit::events::FailureKind, Option<String>)> = letters
        .iter()
        .map(|letter| {
            (
                letter.error.clone(),
                letter.failure,
                letter.event_type.clone(),
            )
        })
        .collect();
    refusals.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        refusals,
        vec![
            (
                "DOCUMENT_CURRENCY: invoices, bills and payments are in the base currency (EUR) or a currency with exchange rates, and there is none for USD".into(),
                erp_kit::events::FailureKind::Rejected,
                Some("quote.accepted".into())
            ),
            (
                "QUOTE_NOT_INVOICEABLE: the accepted quote cannot be invoiced: no tax of 7.00 % (not included in the price) is set up for the line `Books`".into(),
                erp_kit::events::FailureKind::Rejected,
                Some("quote.accepted".into())
            ),
        ]
    );
    assert_eq!(invoices().await.as_array().unwrap().len(), 2);
    let partners = app
        .ok(
            &company.token,
            "{ partners(first: 50) { edges { node { clientId } } } }",
            json!({}),
        )
        .await;
    assert!(partners["partners"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|edge| edge["node"]["clientId"] != initech.as_str()));
    company.assert_reconciled(&app).await;
}

/// The client 360 through the router: one query for a CRM client answers its projects (PMO)
/// and its invoices and balance (finance), each subgraph adding its fields to the CRM's
/// `Client`. The CRM, PMO and finance share one in-process bus (the one-process mode): the
/// client's won opportunity becomes its project in PMO, its accepted quote a draft invoice in
/// finance, posted here so that it is owed.
#[tokio::test]
async fn one_query_through_the_router_answers_a_clients_projects_invoices_and_balance() {
    use erp_tests::router::{RouterOptions, RouterProcess, CLOSED_SUBGRAPH_URL};
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "PER_LINE").await;
    let crm = crm_on_the_bus_of(&app, &issuer).await;
    let pmo =
        erp_tests::pmo::PmoApp::spawn_embedded_consuming_on(&issuer, app.runtime.bus.clone()).await;
    let sales = issuer.token(&company.tenant, "u-sales", erp_tests::crm::CRM_ADMIN);
    let globex = crm
        .ok(
            &sales,
            "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }",
            json!({"i": {"name": "Globex"}}),
        )
        .await["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = crm
        .ok(
            &sales,
            "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }",
            json!({"i": {"name": "Initech"}}),
        )
        .await["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Finance: the accepted quote's draft invoice (3 days at 1200.00, 22 % tax), posted.
    accepted_quote(&crm, &sales, &globex, "EUR", json!([
        {"description": "Consulting day", "quantity": "3", "unitPrice": {"amount": "1200", "currency": "EUR"}, "taxRatePercent": "22"},
    ]))
    .await;
    let invoice = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let data = app
            .ok(
                &company.token,
                "{ invoices(first: 10) { edges { node { id } } } }",
                json!({}),
            )
            .await;
        data["invoices"]["edges"][0]["node"]["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await
    .expect("the accepted quote was invoiced");
    app.ok(
        &company.token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "client-360", "invoiceId": invoice}}),
    )
    .await;

    // The CRM: an opportunity of the client, won; PMO: its project.
    let pipeline = crm
        .ok(
            &sales,
            "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id stages { id } } }",
            json!({"i": {"name": "Sales", "opportunityType": "new business",
                "stages": [{"name": "Lead", "probability": 10}]}}),
        )
        .await;
    let pipeline = &pipeline["createPipeline"];
    let deal = crm
        .ok(
            &sales,
            "mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) { id } }",
            json!({"i": {"pipelineId": pipeline["id"], "stageId": pipeline["stages"][0]["id"],
                "clientId": globex, "name": "Globex intranet",
                "amount": {"amount": "4392.00", "currency": "EUR"}}}),
        )
        .await["createOpportunity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crm.ok(
        &sales,
        "mutation($i: WinOpportunityInput!) { winOpportunity(input: $i) { status } }",
        json!({"i": {"opportunityId": deal}}),
    )
    .await;
    let pm = issuer.token(&company.tenant, "u-sales", &["project:read"]);
    erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let data = pmo
            .ok(&pm, "{ projects(first: 10) { nodes { id } } }", json!({}))
            .await;
        (data["projects"]["nodes"] == json!([{"id": deal}])).then_some(())
    })
    .await
    .expect("the won opportunity became a project");

    let options = RouterOptions::new(&issuer, CLOSED_SUBGRAPH_URL.into())
        .env("ERP_CRM_URL", &crm.url("/graphql"))
        .env("ERP_PMO_URL", &pmo.url("/graphql"))
        .env("ERP_FINANCE_URL", &app.url("/graphql"));
    let router = RouterProcess::spawn(&options).await;
    let token = issuer.token(
        &company.tenant,
        "u-sales",
        &["crm:read", "crm:admin", "project:read", "finance:read"],
    );
    const CLIENT_360: &str = "query($id: ID!) { client(id: $id) { id name projects(first: 10) { nodes { id name clientId } } invoices(first: 10) { nodes { id status total { amount currency } } } balance { amount currency } } }";
    let (status, body) = router
        .graphql(Some(&token), CLIENT_360, json!({"id": globex}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": {"client": {
            "id": globex, "name": "Globex",
            "projects": {"nodes": [{"id": deal, "name": "Globex intranet", "clientId": globex}]},
            "invoices": {"nodes": [{"id": invoice, "status": "POSTED", "total": {"amount": "4392.00", "currency": "EUR"}}]},
            "balance": {"amount": "4392.00", "currency": "EUR"}
        }}})
    );
    // A client without projects or invoices: empty lists and nothing owed.
    let (status, body) = router
        .graphql(Some(&token), CLIENT_360, json!({"id": other}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": {"client": {
            "id": other, "name": "Initech",
            "projects": {"nodes": []}, "invoices": {"nodes": []},
            "balance": {"amount": "0.00", "currency": "EUR"}
        }}})
    );
    // Without `finance:read` the invoices and the balance are null with their code; the
    // projects still arrive.
    let no_finance = issuer.token(
        &company.tenant,
        "u-sales",
        &["crm:read", "crm:admin", "project:read"],
    );
    let (status, body) = router
        .graphql(Some(&no_finance), CLIENT_360, json!({"id": globex}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["client"]["projects"]["nodes"][0]["id"],
        deal.as_str()
    );
    assert_eq!(body["data"]["client"]["invoices"], Value::Null);
    assert_eq!(body["data"]["client"]["balance"], Value::Null);
    let mut codes: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap())
        .collect();
    codes.dedup();
    assert_eq!(codes, ["UNAUTHORIZED_FIELD_OR_TYPE"]);
}

/// The operations subgraph (embedded store) on the finance app's embedded bus: its outbox
/// relay publishes there. Served over HTTP; (address, app, server).
async fn ops_on_the_bus_of(
    app: &FinanceApp,
    issuer: &TestIssuer,
) -> (
    std::net::SocketAddr,
    erp_ops::OpsApp,
    tokio::task::JoinHandle<()>,
) {
    let mut runtime = erp_tests::runtime(issuer, erp_tests::Backends::Embedded).await;
    runtime.config.service = "ops".into();
    runtime.bus = app.runtime.bus.clone();
    let store: erp_ops::store::SharedStore =
        std::sync::Arc::new(erp_ops::store::memory::MemoryStore::new());
    let ops = erp_ops::start(&runtime, store).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = ops.router.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    (addr, ops, server)
}

const ASSET_ENTRIES: &str = "{ journalEntries(first: 50) { edges { node { date source sourceId memo
  journal { code } lines { side account { code } debit { amount } credit { amount } label } } } } }";

/// The asset entries of the company (depreciation and disposals), oldest first.
async fn asset_entries(app: &FinanceApp, company: &Company) -> Vec<Value> {
    let data = app.ok(&company.token, ASSET_ENTRIES, json!({})).await;
    let mut entries: Vec<Value> = data["journalEntries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .filter(|node| node["source"] == "ASSET_DEPRECIATION" || node["source"] == "ASSET_DISPOSAL")
        .collect();
    entries.sort_by(|a, b| {
        (a["date"].as_str(), a["sourceId"].as_str())
            .cmp(&(b["date"].as_str(), b["sourceId"].as_str()))
    });
    entries
}

/// Ops -> finance (issue 20): the depreciation lines an ops run posts become journal entries
/// (debit depreciation expense 5600, credit accumulated depreciation 1590, dated the period's
/// end, in the GEN journal), once per (asset, period) however often the event comes; a
/// disposal takes the cost off fixed assets (1500), the accumulated depreciation back, the
/// proceeds to the bank and books the loss (5900). A line in a year without a fiscal year is
/// dead-lettered with its reason, nothing written.
#[tokio::test]
async fn ops_depreciation_and_disposals_become_journal_entries_once() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "PER_LINE").await;
    let (ops_addr, _ops, _server) = ops_on_the_bus_of(&app, &issuer).await;
    let http = reqwest::Client::new();
    let ops_url = format!("http://{ops_addr}/graphql");
    let clerk = issuer.token(
        &company.tenant,
        "u-ops",
        &["assets:read", "assets:write", "assets:depreciate"],
    );
    let ops = |query: &'static str, variables: Value| {
        let (http, url, clerk) = (http.clone(), ops_url.clone(), clerk.clone());
        async move {
            let (status, body) =
                erp_tests::post_graphql(&http, &url, Some(&clerk), query, variables).await;
            assert_eq!(status, 200, "{body}");
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let year = this_year();
    let register = "mutation($input: RegisterAssetInput!) { registerAsset(input: $input) { id } }";
    // Snipe-IT #3052: 2,880 cost, 400 salvage, 5 years -> 496.00 a year; in use since last
    // year, so this year's run posts last year's and this year's lines.
    let laptop = ops(
        register,
        json!({ "input": { "tag": "LT-1", "name": "Laptop", "cost": { "amount": "2880", "currency": "EUR" },
            "inUseDate": format!("{}-01-01", year - 1),
            "depreciation": { "method": "STRAIGHT_LINE", "frequency": "YEARLY", "usefulLifePeriods": 5,
                "salvage": { "amount": "400", "currency": "EUR" }, "prorata": false } } }),
    )
    .await["registerAsset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = ops(
        "mutation($t: Date!) { runDepreciation(input: { through: $t }) { postedLines } }",
        json!({ "t": format!("{year}-12-31") }),
    )
    .await;
    assert_eq!(data["runDepreciation"]["postedLines"], 2);
    let depreciation = |date: String, period: u32| {
        json!({ "date": date, "source": "ASSET_DEPRECIATION", "sourceId": format!("{laptop}:{period}"),
            "memo": format!("Depreciation of asset {laptop}, period {period} ({}-01-01 to {}-12-31)",
                year - 1 + period as i32, year - 1 + period as i32),
            "journal": { "code": "GEN" },
            "lines": [
                { "side": "DEBIT", "account": { "code": "5600" }, "debit": { "amount": "496.00" }, "credit": { "amount": "0.00" }, "label": format!("asset {laptop}") },
                { "side": "CREDIT", "account": { "code": "1590" }, "debit": { "amount": "0.00" }, "credit": { "amount": "496.00" }, "label": format!("asset {laptop}") },
            ] })
    };
    let expected = vec![
        depreciation(format!("{}-12-31", year - 1), 0),
        depreciation(format!("{year}-12-31"), 1),
    ];
    let entries = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let entries = asset_entries(&app, &company).await;
        (entries.len() == 2).then_some(entries)
    })
    .await
    .expect("both depreciation lines were posted");
    assert_eq!(entries, expected);

    // The same line again under a new event id: nothing more.
    let again = EventEnvelope::new(
        &TenantId::from_claim(&company.tenant),
        "asset.depreciation.posted",
        &laptop,
        json!({ "asset_id": laptop, "period_index": 1, "period_start": format!("{year}-01-01"),
            "period_end": format!("{year}-12-31"), "currency": "EUR", "amount_minor": 49600,
            "book_value_minor": 188800 }),
    )
    .unwrap();
    let again_id = again.id.to_string();
    publish(&app, "ops", &again).await;
    erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        asset_event_handled(&app, &again_id).await.then_some(())
    })
    .await
    .expect("the copy was consumed");
    assert_eq!(asset_entries(&app, &company).await, expected);

    // Disposed for 1,500.00 at a book value of 1,888.00: a loss of 388.00.
    let data = ops(
        "mutation($id: ID!) { disposeAsset(input: { assetId: $id, proceeds: { amount: \"1500\", currency: \"EUR\" } }) { disposal { gainOrLoss { amount } } } }",
        json!({ "id": laptop }),
    )
    .await;
    assert_eq!(
        data["disposeAsset"]["disposal"]["gainOrLoss"]["amount"],
        "-388.00"
    );
    let entries = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let entries = asset_entries(&app, &company).await;
        (entries.len() == 3).then_some(entries)
    })
    .await
    .expect("the disposal was posted");
    let disposal = entries
        .iter()
        .find(|entry| entry["source"] == "ASSET_DISPOSAL")
        .unwrap();
    let label = format!("asset {laptop}");
    assert_eq!(
        disposal,
        &json!({ "date": today().to_string(), "source": "ASSET_DISPOSAL", "sourceId": laptop,
            "memo": format!("Disposal of asset {laptop}"), "journal": { "code": "GEN" },
            "lines": [
                { "side": "CREDIT", "account": { "code": "1500" }, "debit": { "amount": "0.00" }, "credit": { "amount": "2880.00" }, "label": label },
                { "side": "DEBIT", "account": { "code": "1590" }, "debit": { "amount": "992.00" }, "credit": { "amount": "0.00" }, "label": label },
                { "side": "DEBIT", "account": { "code": "1000" }, "debit": { "amount": "1500.00" }, "credit": { "amount": "0.00" }, "label": label },
                { "side": "DEBIT", "account": { "code": "5900" }, "debit": { "amount": "388.00" }, "credit": { "amount": "0.00" }, "label": label },
            ] })
    );

    // An asset in use three years ago: its first line falls in a year without a fiscal year.
    // Dead-lettered with the reason; its later lines are posted.
    let old = ops(
        register,
        json!({ "input": { "tag": "LT-2", "name": "Old laptop", "cost": { "amount": "1000", "currency": "EUR" },
            "inUseDate": format!("{}-01-01", year - 3),
            "depreciation": { "method": "STRAIGHT_LINE", "frequency": "YEARLY", "usefulLifePeriods": 4,
                "salvage": { "amount": "0", "currency": "EUR" }, "prorata": false } } }),
    )
    .await["registerAsset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ops(
        "mutation($t: Date!) { runDepreciation(input: { through: $t }) { postedLines } }",
        json!({ "t": format!("{}-12-31", year - 3) }),
    )
    .await;
    let inbox = erp_kit::events::SqlInbox::new("finance", app.runtime.db.clone());
    let letters = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let letters = inbox.dead_letters("erp.finance.assets").await.unwrap();
        (letters.len() == 1).then_some(letters)
    })
    .await
    .expect("the refusal was dead-lettered");
    assert_eq!(
        (
            letters[0].error.as_str(),
            letters[0].failure,
            letters[0].event_type.as_deref()
        ),
        (
            format!("NO_FISCAL_YEAR: no fiscal year covers {}-12-31", year - 3).as_str(),
            erp_kit::events::FailureKind::Rejected,
            Some("asset.depreciation.posted")
        )
    );
    let entries = asset_entries(&app, &company).await;
    assert_eq!(entries.len(), 3, "nothing written for {old}");
    company.assert_reconciled(&app).await;
}

/// Whether finance's asset consumer has handled (or skipped as a duplicate) an event id.
async fn asset_event_handled(app: &FinanceApp, event_id: &str) -> bool {
    let db = &app.runtime.db;
    !db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT event_id FROM finance_inbox WHERE consumer_group = 'erp.finance.assets' AND event_id = '{event_id}'"
        ),
    ))
    .await
    .unwrap()
    .is_empty()
}

/// The same depreciation line delivered twice in concurrent transactions (a redelivery racing
/// the first handling, or two consumers of one fact) on PostgreSQL: the second passes the
/// "posted already?" check while the first's entry is uncommitted and waits on its locks; once
/// the first commits, the unique index on asset sources refuses the second's entry and its
/// posting is a no-op (no error, so its inbox record would commit). One entry.
#[tokio::test]
async fn the_same_asset_event_delivered_twice_concurrently_posts_one_entry() {
    use erp_kit::events::EventHandler;
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "PER_LINE").await;
    let year = this_year();
    let line = EventEnvelope::new(
        &TenantId::from_claim(&company.tenant),
        "asset.depreciation.posted",
        "asset-1",
        json!({ "asset_id": "asset-1", "period_index": 0, "period_start": format!("{year}-01-01"),
            "period_end": format!("{year}-12-31"), "currency": "EUR", "amount_minor": 49600 }),
    )
    .unwrap();
    let handler = erp_finance::consumers::AssetHandler(app.finance.clone());

    // The first delivery's effect, not committed yet.
    let mut first = erp_kit::db::begin_write(&app.runtime.db).await.unwrap();
    handler.handle(&mut first, &line).await.unwrap();
    // The second delivery, in its own transaction meanwhile.
    let second = tokio::spawn({
        let handler = erp_finance::consumers::AssetHandler(app.finance.clone());
        let db = app.runtime.db.clone();
        let line = line.clone();
        async move {
            let mut write = erp_kit::db::begin_write(&db).await.unwrap();
            handler.handle(&mut write, &line).await?;
            write.commit().await.unwrap();
            Ok::<(), erp_kit::events::HandlerError>(())
        }
    });
    erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        (transactions_waiting_on_a_lock(&app).await > 0).then_some(())
    })
    .await
    .expect("the second delivery waits for the first's locks");
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), Ok(()), "the duplicate is a no-op");

    let entries = asset_entries(&app, &company).await;
    let sources: Vec<&Value> = entries.iter().map(|entry| &entry["sourceId"]).collect();
    assert_eq!(sources, [&json!("asset-1:0")]);
    assert_eq!(
        entries[0]["lines"][0]["debit"]["amount"], "496.00",
        "{entries:?}"
    );
    company.assert_reconciled(&app).await;
}

/// How many transactions of this test's database wait for a lock another one holds.
async fn transactions_waiting_on_a_lock(app: &FinanceApp) -> i64 {
    let db = &app.runtime.db;
    db.query_one(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT count(*) AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    ))
    .await
    .unwrap()
    .and_then(|row| row.try_get::<i64>("", "waiting").ok())
    .unwrap_or_default()
}

/// The CRM -> finance hand-off through the real broker: the CRM on PostgreSQL with its relay
/// publishing to Kafka, finance on PostgreSQL with its consumers on Kafka (this test's own
/// consumer groups, limited to its tenant: the topics are shared). A quote accepted through
/// the CRM's GraphQL becomes one draft invoice in finance.
#[tokio::test]
async fn an_accepted_quote_reaches_finance_through_kafka() {
    erp_tests::require_env("KAFKA_BROKERS");
    let issuer = TestIssuer::start().await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Real).await;
    runtime.config.service = "finance".into();
    let app = FinanceApp::serve(
        runtime,
        erp_finance::FinanceOptions {
            consumers: true,
            group_suffix: format!(".test-{}", uuid::Uuid::new_v4().simple()),
            tenants: Some(vec![tenant.clone()]),
        },
    )
    .await;
    let company = Company::open_as(&app, &issuer, "PER_LINE", tenant).await;
    let mut crm_runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Real).await;
    crm_runtime.config.service = "crm".into();
    let crm =
        erp_tests::crm::CrmApp::serve(crm_runtime, erp_crm::CrmOptions { consumers: None }).await;
    let sales = issuer.token(&company.tenant, "u-sales", erp_tests::crm::CRM_ADMIN);
    let client = crm
        .ok(
            &sales,
            "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }",
            json!({"i": {"name": "Umbrella"}}),
        )
        .await["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let quote = accepted_quote(&crm, &sales, &client, "EUR", json!([
        {"description": "Audit day", "quantity": "2", "unitPrice": {"amount": "800", "currency": "EUR"}, "taxRatePercent": "22"},
    ]))
    .await;
    let edges = erp_tests::eventually(std::time::Duration::from_secs(60), || async {
        let edges =
            app.ok(&company.token, QUOTE_INVOICES, json!({})).await["invoices"]["edges"].clone();
        (edges.as_array().map_or(0, Vec::len) == 1).then_some(edges)
    })
    .await
    .expect("the accepted quote reached finance through Kafka");
    let invoice = &edges[0]["node"];
    assert_eq!(
        (
            &invoice["status"],
            &invoice["quote"]["quoteId"],
            &invoice["partner"]["clientId"]
        ),
        (&json!("DRAFT"), &json!(quote), &json!(client))
    );
    assert_eq!(
        (
            &invoice["untaxed"]["amount"],
            &invoice["tax"]["amount"],
            &invoice["total"]
        ),
        (
            &json!("1600.00"),
            &json!("352.00"),
            &json!({"amount": "1952.00", "currency": "EUR"})
        )
    );
    assert_eq!(
        invoice["lines"],
        json!([{"lineNo": 1, "description": "Audit day", "quantity": "2", "unitPrice": {"amount": "800.00"},
                "discount": "0", "subtotal": {"amount": "1600.00"}, "tax": {"amount": "352.00"}}])
    );
}

/// The CRM's client renames and merges reach finance through Kafka (issue 19): a rename
/// names the client's customer partner anew; a merge maps the merged-away client's partner
/// to the survivor (under its name), so the survivor's client 360 holds both clients'
/// invoices and what they owe, while the posted invoice, its entry and its partner stay as
/// booked (the ledger is never rewritten); the merge undone maps the partner back, with its
/// name; the subledger equals the control account throughout.
#[tokio::test]
async fn client_renames_and_merges_move_the_customer_mapping_through_kafka() {
    erp_tests::require_env("KAFKA_BROKERS");
    let issuer = TestIssuer::start().await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let mut runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Real).await;
    runtime.config.service = "finance".into();
    let app = FinanceApp::serve(
        runtime,
        erp_finance::FinanceOptions {
            consumers: true,
            group_suffix: format!(".test-{}", uuid::Uuid::new_v4().simple()),
            tenants: Some(vec![tenant.clone()]),
        },
    )
    .await;
    let company = Company::open_as(&app, &issuer, "PER_LINE", tenant).await;
    let mut crm_runtime = erp_tests::runtime(&issuer, erp_tests::Backends::Real).await;
    crm_runtime.config.service = "crm".into();
    let crm =
        erp_tests::crm::CrmApp::serve(crm_runtime, erp_crm::CrmOptions { consumers: None }).await;
    let admin = issuer.token(&company.tenant, "u-sales", erp_tests::crm::CRM_ADMIN);
    let client = |name: &'static str| {
        let (crm, admin) = (&crm, admin.clone());
        async move {
            crm.ok(
                &admin,
                "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }",
                json!({"i": {"name": name}}),
            )
            .await["createClient"]["client"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let globex = client("Globex").await;
    let duplicate = client("Globex Corp").await;

    // One posted invoice each: Globex 3 days at 1200.00 + 22 % = 4392.00; the duplicate 2
    // audit days at 800.00 + 22 % = 1952.00. The duplicate's first, so that its partner is
    // finance's oldest of the two (issue 17: new invoices of the survivor must not go there).
    let drafts =
        "{ invoices(first: 10) { edges { node { id quote { quoteId } partner { id } } } } }";
    let invoices_reached = |count: usize| {
        let app = &app;
        let token = company.token.clone();
        async move {
            erp_tests::eventually(std::time::Duration::from_secs(60), || async {
                let edges = app.ok(&token, drafts, json!({})).await["invoices"]["edges"].clone();
                (edges.as_array().map_or(0, Vec::len) == count).then_some(edges)
            })
            .await
            .expect("the accepted quotes reached finance through Kafka")
        }
    };
    let duplicate_quote = accepted_quote(&crm, &admin, &duplicate, "EUR", json!([
        {"description": "Audit day", "quantity": "2", "unitPrice": {"amount": "800", "currency": "EUR"}, "taxRatePercent": "22"},
    ]))
    .await;
    invoices_reached(1).await;
    let globex_quote = accepted_quote(&crm, &admin, &globex, "EUR", json!([
        {"description": "Consulting day", "quantity": "3", "unitPrice": {"amount": "1200", "currency": "EUR"}, "taxRatePercent": "22"},
    ]))
    .await;
    let edges = invoices_reached(2).await;
    let of_quote = |quote: &str| {
        let node = &edges
            .as_array()
            .unwrap()
            .iter()
            .find(|edge| edge["node"]["quote"]["quoteId"] == quote)
            .unwrap()["node"];
        (
            node["id"].as_str().unwrap().to_owned(),
            node["partner"]["id"].as_str().unwrap().to_owned(),
        )
    };
    let (globex_invoice, globex_partner) = of_quote(&globex_quote);
    let (duplicate_invoice, duplicate_partner) = of_quote(&duplicate_quote);
    assert_ne!(globex_partner, duplicate_partner);
    for (key, invoice) in [
        ("merge-a", &globex_invoice),
        ("merge-b", &duplicate_invoice),
    ] {
        app.ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": key, "invoiceId": invoice}}),
        )
        .await;
    }
    let entry_of = |invoice: String| {
        let app = &app;
        let token = company.token.clone();
        async move {
            app.ok(
                &token,
                "query($id: ID!) { invoice(id: $id) { number partner { id } entry { id lines { party { kind id } debit { amount } credit { amount } } } } }",
                json!({"id": invoice}),
            )
            .await["invoice"]
                .clone()
        }
    };
    let booked = entry_of(duplicate_invoice.clone()).await;
    assert_eq!(booked["partner"]["id"], duplicate_partner.as_str());

    let partners = || async {
        let data = app
            .ok(
                &company.token,
                "{ partners(kind: CUSTOMER, first: 50) { edges { node { id name clientId } } } }",
                json!({}),
            )
            .await;
        let mut nodes: Vec<Value> = data["partners"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"].clone())
            .filter(|node| !node["clientId"].is_null())
            .collect();
        nodes.sort_by_key(|node| node["id"].as_str().unwrap().to_owned());
        Value::Array(nodes)
    };
    let sorted = |mut nodes: Vec<Value>| {
        nodes.sort_by_key(|node| node["id"].as_str().unwrap().to_owned());
        Value::Array(nodes)
    };
    let client_360 = |id: String| {
        let app = &app;
        let token = company.token.clone();
        async move {
            let data = app
                .ok(
                    &token,
                    r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Client { balance { amount currency } invoices(first: 10) { edges { node { id } } } } } }"#,
                    json!({"r": [{"__typename": "Client", "id": id}]}),
                )
                .await;
            let client = &data["_entities"][0];
            let mut invoices: Vec<String> = client["invoices"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
                .collect();
            invoices.sort();
            (
                client["balance"]["amount"].as_str().unwrap().to_owned(),
                invoices,
            )
        }
    };
    let wait_for = |what: &'static str, expected: Value| {
        let partners = &partners;
        async move {
            let seen = erp_tests::eventually(std::time::Duration::from_secs(60), || async {
                let now = partners().await;
                (now == expected).then_some(())
            })
            .await;
            assert!(seen.is_some(), "{what}: {}", partners().await);
        }
    };

    // A rename: the client's partner takes the new name.
    crm.ok(
        &admin,
        "mutation($i: UpdateClientInput!) { updateClient(input: $i) { name } }",
        json!({"i": {"clientId": globex, "name": "Globex Corporation"}}),
    )
    .await;
    wait_for(
        "the rename",
        sorted(vec![
            json!({"id": globex_partner, "name": "Globex Corporation", "clientId": globex}),
            json!({"id": duplicate_partner, "name": "Globex Corp", "clientId": duplicate}),
        ]),
    )
    .await;

    // The merge: the duplicate's partner is the survivor's, under its name; the survivor's
    // client 360 holds both invoices and both amounts owed; the duplicate's holds nothing.
    let merge_id = crm
        .ok(
            &admin,
            "mutation($i: MergeInput!) { mergeClients(input: $i) { id } }",
            json!({"i": {"sourceId": duplicate, "targetId": globex}}),
        )
        .await["mergeClients"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(
        "the merge",
        sorted(vec![
            json!({"id": globex_partner, "name": "Globex Corporation", "clientId": globex}),
            json!({"id": duplicate_partner, "name": "Globex Corporation", "clientId": globex}),
        ]),
    )
    .await;
    let mut both = vec![globex_invoice.clone(), duplicate_invoice.clone()];
    both.sort();
    assert_eq!(
        client_360(globex.clone()).await,
        ("6344.00".to_owned(), both)
    );
    assert_eq!(
        client_360(duplicate.clone()).await,
        ("0.00".to_owned(), vec![])
    );
    // Posted entries are immutable: the invoice, its number, its entry and the partner it
    // was booked to are as they were.
    assert_eq!(entry_of(duplicate_invoice.clone()).await, booked);
    company.assert_reconciled(&app).await;

    // Issue 17: the survivor's next quote is drafted to its own partner, not to the
    // duplicate's older one the merge mapped to it.
    let next_quote = accepted_quote(&crm, &admin, &globex, "EUR", json!([
        {"description": "Follow-up day", "quantity": "1", "unitPrice": {"amount": "1200", "currency": "EUR"}, "taxRatePercent": "22"},
    ]))
    .await;
    let edges = invoices_reached(3).await;
    let (next_invoice, next_partner) = {
        let node = &edges
            .as_array()
            .unwrap()
            .iter()
            .find(|edge| edge["node"]["quote"]["quoteId"] == next_quote.as_str())
            .unwrap()["node"];
        (
            node["id"].as_str().unwrap().to_owned(),
            node["partner"]["id"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(next_partner, globex_partner);

    // The merge undone: the partner is the restored client's again, with its own name.
    crm.ok(
        &admin,
        "mutation($i: UndoMergeInput!) { undoMerge(input: $i) { undoneAt } }",
        json!({"i": {"mergeId": merge_id}}),
    )
    .await;
    wait_for(
        "the undo",
        sorted(vec![
            json!({"id": globex_partner, "name": "Globex Corporation", "clientId": globex}),
            json!({"id": duplicate_partner, "name": "Globex Corp", "clientId": duplicate}),
        ]),
    )
    .await;
    // The survivor keeps its invoices, the posted one and the draft of its next quote.
    let mut globex_invoices = vec![globex_invoice.clone(), next_invoice];
    globex_invoices.sort();
    assert_eq!(
        client_360(globex.clone()).await,
        ("4392.00".to_owned(), globex_invoices)
    );
    assert_eq!(
        client_360(duplicate.clone()).await,
        ("1952.00".to_owned(), vec![duplicate_invoice.clone()])
    );
    assert_eq!(entry_of(duplicate_invoice).await, booked);
    company.assert_reconciled(&app).await;
}

/// Issue 17: new invoices of a client that absorbed another go to the survivor's OWN customer
/// partner, never to the merged-away client's (older) partner the merge mapped to it. On the
/// embedded bus (the CRM's relay publishes `quote.accepted` and `client.merged` there): the
/// old client's partner is finance's first; after the merge the survivor, which finance has
/// never invoiced, gets a partner of its own with its first quote, and keeps it for the next;
/// the client 360 holds all three invoices; the undo gives the old partner back with its one
/// invoice while the survivor keeps its partner and its two.
#[tokio::test]
async fn a_merged_clients_new_invoices_go_to_the_survivors_own_partner() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "PER_LINE").await;
    let crm = crm_on_the_bus_of(&app, &issuer).await;
    let sales = issuer.token(&company.tenant, "u-sales", erp_tests::crm::CRM_ADMIN);
    let client = |name: &'static str| {
        let (crm, sales) = (&crm, sales.clone());
        async move {
            crm.ok(
                &sales,
                "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }",
                json!({"i": {"name": name}}),
            )
            .await["createClient"]["client"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let old = client("Initech (old)").await;
    let survivor = client("Initech").await;
    let line = |price: &str| json!([{"description": "Consulting", "quantity": "1", "unitPrice": {"amount": price, "currency": "EUR"}, "taxRatePercent": "22"}]);
    // Each quote's invoice (once finance drafted it): its id, partner id and client id.
    let invoice_of = |quote: String| {
        let (app, token) = (&app, company.token.clone());
        async move {
            erp_tests::eventually(std::time::Duration::from_secs(20), || async {
                let edges = app
                    .ok(
                        &token,
                        "{ invoices(first: 20) { edges { node { id quote { quoteId } partner { id clientId } } } } }",
                        json!({}),
                    )
                    .await["invoices"]["edges"]
                    .clone();
                edges.as_array().and_then(|edges| {
                    edges
                        .iter()
                        .find(|edge| edge["node"]["quote"]["quoteId"] == quote.as_str())
                        .map(|edge| {
                            let node = &edge["node"];
                            (
                                node["id"].as_str().unwrap().to_owned(),
                                node["partner"]["id"].as_str().unwrap().to_owned(),
                                node["partner"]["clientId"].as_str().unwrap().to_owned(),
                            )
                        })
                })
            })
            .await
            .expect("the accepted quote was invoiced")
        }
    };
    let partners = || async {
        let data = app
            .ok(
                &company.token,
                "{ partners(kind: CUSTOMER, first: 50) { edges { node { id name clientId } } } }",
                json!({}),
            )
            .await;
        let mut nodes: Vec<Value> = data["partners"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"].clone())
            .filter(|node| !node["clientId"].is_null())
            .collect();
        nodes.sort_by_key(|node| node["id"].as_str().unwrap().to_owned());
        Value::Array(nodes)
    };
    let wait_for = |what: &'static str, mut expected: Vec<Value>| {
        let partners = &partners;
        expected.sort_by_key(|node| node["id"].as_str().unwrap().to_owned());
        let expected = Value::Array(expected);
        async move {
            let seen = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
                (partners().await == expected).then_some(())
            })
            .await;
            assert!(seen.is_some(), "{what}: {}", partners().await);
        }
    };
    let client_360 = |id: String| {
        let (app, token) = (&app, company.token.clone());
        async move {
            let data = app
                .ok(
                    &token,
                    r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Client { balance { amount } invoices(first: 10) { edges { node { id } } } } } }"#,
                    json!({"r": [{"__typename": "Client", "id": id}]}),
                )
                .await;
            let client = &data["_entities"][0];
            let mut invoices: Vec<String> = client["invoices"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
                .collect();
            invoices.sort();
            (
                client["balance"]["amount"].as_str().unwrap().to_owned(),
                invoices,
            )
        }
    };

    // The old client's quote: finance's first partner (the oldest), posted.
    let (old_invoice, old_partner, client_id) =
        invoice_of(accepted_quote(&crm, &sales, &old, "EUR", line("100")).await).await;
    assert_eq!(client_id, old);
    app.ok(
        &company.token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "merged-old", "invoiceId": old_invoice}}),
    )
    .await;

    let merge_id = crm
        .ok(
            &sales,
            "mutation($i: MergeInput!) { mergeClients(input: $i) { id } }",
            json!({"i": {"sourceId": old, "targetId": survivor}}),
        )
        .await["mergeClients"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(
        "the merge",
        vec![json!({"id": old_partner, "name": "Initech", "clientId": survivor})],
    )
    .await;

    // The survivor's first quote after the merge: a partner of its own, not the old one.
    let (first_invoice, survivor_partner, client_id) =
        invoice_of(accepted_quote(&crm, &sales, &survivor, "EUR", line("200")).await).await;
    assert_eq!(client_id, survivor);
    assert_ne!(survivor_partner, old_partner);
    // And its next one: the same own partner (the old one is still the older).
    let (second_invoice, partner, _) =
        invoice_of(accepted_quote(&crm, &sales, &survivor, "EUR", line("300")).await).await;
    assert_eq!(partner, survivor_partner);
    for (key, invoice) in [("merged-1", &first_invoice), ("merged-2", &second_invoice)] {
        app.ok(
            &company.token,
            &post_invoice_mutation(),
            json!({"input": {"idempotencyKey": key, "invoiceId": invoice}}),
        )
        .await;
    }
    wait_for(
        "the survivor's own partner",
        vec![
            json!({"id": old_partner, "name": "Initech", "clientId": survivor}),
            json!({"id": survivor_partner, "name": "Initech", "clientId": survivor}),
        ],
    )
    .await;
    // 122.00 + 244.00 + 366.00 owed.
    let mut all = vec![
        old_invoice.clone(),
        first_invoice.clone(),
        second_invoice.clone(),
    ];
    all.sort();
    assert_eq!(
        client_360(survivor.clone()).await,
        ("732.00".to_owned(), all)
    );

    // The undo: the old partner goes back with its invoice; the survivor keeps its own.
    crm.ok(
        &sales,
        "mutation($i: UndoMergeInput!) { undoMerge(input: $i) { undoneAt } }",
        json!({"i": {"mergeId": merge_id}}),
    )
    .await;
    wait_for(
        "the undo",
        vec![
            json!({"id": old_partner, "name": "Initech (old)", "clientId": old}),
            json!({"id": survivor_partner, "name": "Initech", "clientId": survivor}),
        ],
    )
    .await;
    let mut survivors = vec![first_invoice, second_invoice];
    survivors.sort();
    assert_eq!(
        client_360(survivor.clone()).await,
        ("610.00".to_owned(), survivors)
    );
    assert_eq!(
        client_360(old.clone()).await,
        ("122.00".to_owned(), vec![old_invoice])
    );
    company.assert_reconciled(&app).await;
}

const FX_LINES: &str = "lines { side account { code } debit { amount } credit { amount } amount { amount currency } party { kind id } }";

/// A journal line as [`FX_LINES`] reads it.
fn fx_line(side: &str, code: &str, base: &str, amount: (&str, &str), party: Option<&str>) -> Value {
    let (debit, credit) = if side == "DEBIT" {
        (base, "0.00")
    } else {
        ("0.00", base)
    };
    json!({"side": side, "account": {"code": code}, "debit": {"amount": debit}, "credit": {"amount": credit},
        "amount": {"amount": amount.0, "currency": amount.1},
        "party": party.map(|id| json!({"kind": "CUSTOMER", "id": id}))})
}

/// Multi-currency receivables on a USD company: a EUR invoice booked at the rate of its date
/// (rate and base amounts stored once: a rate set later changes nothing), paid in two parts at
/// two other rates, each allocation clearing the booked base amount in proportion (the last the
/// exact rest) and posting the realised gain or loss in its own transaction; a JPY invoice
/// (no decimals) and a KWD one (three), a vendor bill paid at a loss; no rate on the date,
/// a currency without rates and too many decimals refused with nothing written; ageing, the
/// client's balance and the reconciliation in USD agree with the ledger.
#[tokio::test]
async fn foreign_currency_invoices_post_at_their_rate_and_payments_realise_the_difference() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let company = Company::open_in(&app, &issuer, "GLOBAL", tenant, "USD").await;
    let token = &company.token;
    // Last year's fiscal year is open: every date is in the past, whatever today is.
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    let set_rate = "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }";
    for (currency, from, rate) in [
        ("EUR", day(3, 1), "1.1"),
        ("EUR", day(4, 1), "1.2"),
        ("EUR", day(5, 1), "1.05"),
        ("JPY", day(3, 1), "0.0067"),
        ("KWD", day(3, 1), "3.25"),
    ] {
        app.ok(
            token,
            set_rate,
            json!({"input": {"currency": currency, "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    let client = format!("c-{}", uuid::Uuid::new_v4().simple());
    let customer = app
        .ok(
            token,
            "mutation($input: CreatePartnerInput!) { createPartner(input: $input) { partner { id } } }",
            json!({"input": {"kind": "CUSTOMER", "name": "Euro Client GmbH", "clientId": client}}),
        )
        .await["createPartner"]["partner"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = |partner: &str, currency: &str, date: NaiveDate, price: &str| {
        json!({"input": {"partnerId": partner, "date": date, "currency": currency,
            "lines": [{"description": "Services", "quantity": "1", "unitPrice": price}]}})
    };
    let document_count = || async {
        app.ok(
            token,
            "{ invoices(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await["invoices"]["edges"]
            .as_array()
            .unwrap()
            .len()
    };

    // Refused, nothing written: no EUR rate before March, no rate at all for GBP, more
    // decimals than EUR, JPY and KWD have.
    let create = create_invoice_mutation("createInvoice");
    for (currency, date, price, refusal) in [
        (
            "EUR",
            day(2, 28),
            "1000.00",
            ("CONFLICT", "NO_EXCHANGE_RATE"),
        ),
        (
            "GBP",
            day(3, 15),
            "1000.00",
            ("BAD_USER_INPUT", "DOCUMENT_CURRENCY"),
        ),
        (
            "EUR",
            day(3, 15),
            "10.005",
            ("BAD_USER_INPUT", "AMOUNT_TOO_PRECISE"),
        ),
        (
            "JPY",
            day(3, 15),
            "12345.5",
            ("BAD_USER_INPUT", "AMOUNT_TOO_PRECISE"),
        ),
        (
            "KWD",
            day(3, 15),
            "10.1255",
            ("BAD_USER_INPUT", "AMOUNT_TOO_PRECISE"),
        ),
    ] {
        assert_eq!(
            app.refused(token, &create, document(&customer, currency, date, price))
                .await,
            (refusal.0.into(), refusal.1.into()),
            "{currency} {date} {price}"
        );
    }
    let (_, errors) = app
        .graphql(
            token,
            &create,
            document(&customer, "EUR", day(2, 28), "1000.00"),
        )
        .await;
    assert_eq!(
        errors["errors"][0]["message"],
        format!("no EUR exchange rate on or before {}", day(2, 28))
    );
    assert_eq!(document_count().await, 0);

    // The EUR invoice: 1000.00 EUR at 1.1 on 15 March = 1100.00 USD, stored with its rate.
    let fields = format!(
        "id status currency total {{ amount currency }} outstanding {{ amount currency }} exchangeRate \
         baseTotal {{ amount currency }} baseOutstanding {{ amount currency }} entry {{ id exchangeRate {FX_LINES} }}"
    );
    let draft = app
        .ok(
            token,
            &format!("mutation($input: CreateInvoiceInput!) {{ createInvoice(input: $input) {{ invoice {{ {fields} }} }} }}"),
            document(&customer, "EUR", day(3, 15), "1000.00"),
        )
        .await["createInvoice"]["invoice"]
        .clone();
    assert_eq!(draft["exchangeRate"], Value::Null);
    assert_eq!(draft["baseTotal"], Value::Null);
    let invoice = draft["id"].as_str().unwrap().to_owned();
    // Moving the draft before the first rate is refused too; posting it keeps nothing.
    assert_eq!(
        app.refused(
            token,
            "mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) { invoice { id } } }",
            json!({"input": {"invoiceId": invoice, "date": day(2, 1)}}),
        )
        .await,
        ("CONFLICT".into(), "NO_EXCHANGE_RATE".into())
    );
    let post = format!("mutation($input: PostInvoiceInput!) {{ postInvoice(input: $input) {{ invoice {{ {fields} }} }} }}");
    let posted = app
        .ok(
            token,
            &post,
            json!({"input": {"idempotencyKey": "fx-post", "invoiceId": invoice}}),
        )
        .await["postInvoice"]["invoice"]
        .clone();
    assert_eq!(posted["status"], "POSTED");
    assert_eq!(posted["currency"], "EUR");
    assert_eq!(
        posted["total"],
        json!({"amount": "1000.00", "currency": "EUR"})
    );
    assert_eq!(posted["exchangeRate"], "1.1");
    assert_eq!(
        posted["baseTotal"],
        json!({"amount": "1100.00", "currency": "USD"})
    );
    assert_eq!(posted["entry"]["exchangeRate"], "1.1");
    assert_eq!(
        posted["entry"]["lines"],
        json!([
            fx_line(
                "DEBIT",
                "1100",
                "1100.00",
                ("1000.00", "EUR"),
                Some(&customer)
            ),
            fx_line("CREDIT", "4000", "1100.00", ("1000.00", "EUR"), None),
        ])
    );
    // A rate set afterwards for the invoice's own date changes nothing posted.
    app.ok(
        token,
        set_rate,
        json!({"input": {"currency": "EUR", "effectiveOn": day(3, 15), "rate": "1.5"}}),
    )
    .await;

    let pay = r#"mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { payment {
        id currency exchangeRate amount { amount currency } baseAmount { amount currency }
        entry { lines { side account { code } debit { amount } credit { amount } amount { amount currency } party { kind id } } }
        allocations { amount { amount currency } baseAmount { amount currency } exchangeDifference { amount currency }
          exchangeEntry { reference date journal { code } lines { side account { code } debit { amount } credit { amount } amount { amount currency } party { kind id } } } }
    } } }"#;
    let payment = |key: &str, date: NaiveDate, amount: &str| {
        json!({"input": {"idempotencyKey": key, "direction": "INBOUND", "partnerId": customer, "date": date,
            "currency": "EUR", "amount": amount, "allocations": [{"invoiceId": invoice, "amount": amount}]}})
    };
    // Refused: a EUR payment dated before any EUR rate.
    assert_eq!(
        app.refused(token, pay, payment("fx-early", day(2, 1), "10.00"))
            .await,
        ("CONFLICT".into(), "NO_EXCHANGE_RATE".into())
    );

    // First part: 333.33 EUR on 10 April at 1.2 = 400.00 USD (399.996). It clears 333.33/1000
    // of the booked 1100.00 = 366.66 (366.663): a realised gain of 33.34.
    let first = app
        .ok(token, pay, payment("fx-pay-1", day(4, 10), "333.33"))
        .await["recordPayment"]["payment"]
        .clone();
    assert_eq!(first["exchangeRate"], "1.2");
    assert_eq!(
        first["baseAmount"],
        json!({"amount": "400.00", "currency": "USD"})
    );
    assert_eq!(
        first["entry"]["lines"],
        json!([
            fx_line("DEBIT", "1000", "400.00", ("333.33", "EUR"), None),
            fx_line(
                "CREDIT",
                "1100",
                "400.00",
                ("333.33", "EUR"),
                Some(&customer)
            ),
        ])
    );
    let allocation = &first["allocations"][0];
    assert_eq!(
        allocation["amount"],
        json!({"amount": "333.33", "currency": "EUR"})
    );
    assert_eq!(
        allocation["baseAmount"],
        json!({"amount": "366.66", "currency": "USD"})
    );
    assert_eq!(
        allocation["exchangeDifference"],
        json!({"amount": "33.34", "currency": "USD"})
    );
    assert_eq!(allocation["exchangeEntry"]["date"], day(4, 10).to_string());
    assert_eq!(allocation["exchangeEntry"]["journal"]["code"], "GEN");
    assert_eq!(
        allocation["exchangeEntry"]["lines"],
        json!([
            fx_line("DEBIT", "1100", "33.34", ("33.34", "USD"), Some(&customer)),
            fx_line("CREDIT", "4950", "33.34", ("33.34", "USD"), None),
        ])
    );
    let (app_ref, read) = (
        &app,
        format!("query($id: ID!) {{ invoice(id: $id) {{ {fields} }} }}"),
    );
    let read = &read;
    let state = |id: String| async move {
        app_ref.ok(token, read, json!({"id": id})).await["invoice"].clone()
    };
    let partly = state(invoice.clone()).await;
    assert_eq!(partly["status"], "PARTIALLY_PAID");
    assert_eq!(
        partly["outstanding"],
        json!({"amount": "666.67", "currency": "EUR"})
    );
    assert_eq!(
        partly["baseOutstanding"],
        json!({"amount": "733.34", "currency": "USD"})
    );
    // Never recomputed: still 1.1 and 1100.00 although 15 March now has a rate of 1.5.
    assert_eq!(partly["exchangeRate"], "1.1");
    assert_eq!(
        partly["baseTotal"],
        json!({"amount": "1100.00", "currency": "USD"})
    );

    // Receivables in USD agree with the ledger: ageing, the client's balance, the control account.
    let ageing = app
        .ok(
            token,
            "query($d: Date!) { agedReceivables(asOf: $d) { total { amount currency } } }",
            json!({"d": day(4, 10)}),
        )
        .await;
    assert_eq!(
        ageing["agedReceivables"]["total"],
        json!({"amount": "733.34", "currency": "USD"})
    );
    let balance = || async {
        app.ok(
            token,
            r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on Client { balance { amount currency } } } }"#,
            json!({"r": [{"__typename": "Client", "id": client}]}),
        )
        .await["_entities"][0]["balance"]
            .clone()
    };
    assert_eq!(
        balance().await,
        json!({"amount": "733.34", "currency": "USD"})
    );
    let data = company.assert_reconciled(&app).await;
    assert_eq!(
        data["receivablesReconciliation"]["controlBalance"]["amount"],
        "733.34"
    );

    // The rest: 666.67 EUR on 10 May at 1.05 = 700.00 USD (700.0035). It clears the exact rest
    // of the booked amount, 733.34: a realised loss of 33.34, and nothing left in USD.
    let last = app
        .ok(token, pay, payment("fx-pay-2", day(5, 10), "666.67"))
        .await["recordPayment"]["payment"]
        .clone();
    assert_eq!(
        last["baseAmount"],
        json!({"amount": "700.00", "currency": "USD"})
    );
    let allocation = &last["allocations"][0];
    assert_eq!(
        allocation["baseAmount"],
        json!({"amount": "733.34", "currency": "USD"})
    );
    assert_eq!(
        allocation["exchangeDifference"],
        json!({"amount": "-33.34", "currency": "USD"})
    );
    assert_eq!(
        allocation["exchangeEntry"]["lines"],
        json!([
            fx_line("CREDIT", "1100", "33.34", ("33.34", "USD"), Some(&customer)),
            fx_line("DEBIT", "6950", "33.34", ("33.34", "USD"), None),
        ])
    );
    let paid = state(invoice.clone()).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(
        paid["outstanding"],
        json!({"amount": "0.00", "currency": "EUR"})
    );
    assert_eq!(
        paid["baseOutstanding"],
        json!({"amount": "0.00", "currency": "USD"})
    );
    assert_eq!(
        balance().await,
        json!({"amount": "0.00", "currency": "USD"})
    );
    let data = company.assert_reconciled(&app).await;
    assert_eq!(
        data["receivablesReconciliation"]["controlBalance"]["amount"],
        "0.00"
    );
    let accounts = app
        .ok(
            token,
            r#"{ trialBalance(to: "9999-12-31") { balanced rows { account { code } debit { amount } credit { amount } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(accounts["trialBalance"]["balanced"], true);
    let row = |code: &str| {
        accounts["trialBalance"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["account"]["code"] == code)
            .map(|row| {
                (
                    row["debit"]["amount"].clone(),
                    row["credit"]["amount"].clone(),
                )
            })
    };
    // The receivable nets to zero: 1100.00 + 33.34 debited, 400.00 + 700.00 + 33.34 credited.
    assert_eq!(row("1100"), Some((json!("1133.34"), json!("1133.34"))));
    assert_eq!(row("4950"), Some((json!("0.00"), json!("33.34"))));
    assert_eq!(row("6950"), Some((json!("33.34"), json!("0.00"))));
    assert_eq!(row("1000"), Some((json!("1100.00"), json!("0.00"))));

    // JPY has no decimals: 12345 JPY at 0.0067 = 82.71 USD (82.7115); paid the same day at the
    // same rate, no difference and no exchange entry.
    let yen = app
        .ok(
            token,
            &create,
            document(&customer, "JPY", day(3, 20), "12345"),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let yen = app
        .ok(
            token,
            &post,
            json!({"input": {"idempotencyKey": "fx-yen", "invoiceId": yen}}),
        )
        .await["postInvoice"]["invoice"]
        .clone();
    assert_eq!(yen["total"], json!({"amount": "12345", "currency": "JPY"}));
    assert_eq!(yen["exchangeRate"], "0.0067");
    assert_eq!(
        yen["baseTotal"],
        json!({"amount": "82.71", "currency": "USD"})
    );
    assert_eq!(
        yen["entry"]["lines"],
        json!([
            fx_line("DEBIT", "1100", "82.71", ("12345", "JPY"), Some(&customer)),
            fx_line("CREDIT", "4000", "82.71", ("12345", "JPY"), None),
        ])
    );
    // A EUR payment is not allocated to a JPY invoice.
    let mut mismatch = payment("fx-mismatch", day(3, 20), "10.00");
    mismatch["input"]["allocations"][0]["invoiceId"] = yen["id"].clone();
    assert_eq!(
        app.refused(token, pay, mismatch).await,
        ("CONFLICT".into(), "ALLOCATION_MISMATCH".into())
    );
    let mut yen_payment = payment("fx-yen-pay", day(3, 20), "12345");
    yen_payment["input"]["currency"] = json!("JPY");
    yen_payment["input"]["allocations"][0]["invoiceId"] = yen["id"].clone();
    let yen_paid = app.ok(token, pay, yen_payment).await["recordPayment"]["payment"].clone();
    assert_eq!(
        yen_paid["baseAmount"],
        json!({"amount": "82.71", "currency": "USD"})
    );
    assert_eq!(
        yen_paid["allocations"],
        json!([{"amount": {"amount": "12345", "currency": "JPY"}, "baseAmount": {"amount": "82.71", "currency": "USD"},
            "exchangeDifference": {"amount": "0.00", "currency": "USD"}, "exchangeEntry": null}])
    );
    assert_eq!(
        state(yen["id"].as_str().unwrap().to_owned()).await["baseOutstanding"],
        json!({"amount": "0.00", "currency": "USD"})
    );

    // KWD has three decimals: 10.125 KWD at 3.25 = 32.91 USD (32.90625).
    let dinar = app
        .ok(
            token,
            &create,
            document(&customer, "KWD", day(3, 20), "10.125"),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dinar = app
        .ok(
            token,
            &post,
            json!({"input": {"idempotencyKey": "fx-kwd", "invoiceId": dinar}}),
        )
        .await["postInvoice"]["invoice"]
        .clone();
    assert_eq!(
        dinar["total"],
        json!({"amount": "10.125", "currency": "KWD"})
    );
    assert_eq!(
        dinar["baseTotal"],
        json!({"amount": "32.91", "currency": "USD"})
    );

    // A credit note is a settlement too: 100.00 EUR invoiced on 10 March at 1.1 (110.00 USD),
    // credited in full on 10 April at 1.2 (120.00 USD): the difference of 10.00 is realised.
    let credited = app
        .ok(
            token,
            &create,
            document(&customer, "EUR", day(3, 10), "100.00"),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        token,
        &post,
        json!({"input": {"idempotencyKey": "fx-credited", "invoiceId": credited}}),
    )
    .await;
    let credit_note = app
        .ok(
            token,
            "mutation($input: CreateCreditNoteInput!) { createCreditNote(input: $input) { invoice { id } } }",
            json!({"input": {"invoiceId": credited, "date": day(4, 10)}}),
        )
        .await["createCreditNote"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let credit_note = app
        .ok(
            token,
            &post,
            json!({"input": {"idempotencyKey": "fx-credit-note", "invoiceId": credit_note}}),
        )
        .await["postInvoice"]["invoice"]
        .clone();
    assert_eq!(
        credit_note["baseTotal"],
        json!({"amount": "120.00", "currency": "USD"})
    );
    let settled = app
        .ok(
            token,
            &format!("query($id: ID!) {{ invoice(id: $id) {{ status baseOutstanding {{ amount }} allocations {{ baseAmount {{ amount }} exchangeDifference {{ amount }} exchangeEntry {{ {FX_LINES} }} }} }} }}"),
            json!({"id": credited}),
        )
        .await["invoice"]
        .clone();
    assert_eq!(settled["status"], "PAID");
    assert_eq!(settled["baseOutstanding"]["amount"], "0.00");
    assert_eq!(
        settled["allocations"],
        json!([{"baseAmount": {"amount": "110.00"}, "exchangeDifference": {"amount": "10.00"}, "exchangeEntry": {"lines": [
            fx_line("DEBIT", "1100", "10.00", ("10.00", "USD"), Some(&customer)),
            fx_line("CREDIT", "4950", "10.00", ("10.00", "USD"), None),
        ]}}])
    );

    // A vendor bill of 500.00 EUR booked on 10 March at 1.1 (550.00 USD), paid on 10 April at 1.2
    // (600.00 USD): paying more than booked is a loss of 50.00, the payable credited.
    let bill = app
        .ok(
            token,
            &create.replace("createInvoice", "createBill"),
            document(&company.vendor, "EUR", day(3, 10), "500.00"),
        )
        .await["createBill"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bill = app
        .ok(
            token,
            &post,
            json!({"input": {"idempotencyKey": "fx-bill", "invoiceId": bill}}),
        )
        .await["postInvoice"]["invoice"]
        .clone();
    assert_eq!(
        bill["baseTotal"],
        json!({"amount": "550.00", "currency": "USD"})
    );
    let paid_bill = app
        .ok(token, pay, json!({"input": {"idempotencyKey": "fx-bill-pay", "direction": "OUTBOUND", "partnerId": company.vendor,
            "date": day(4, 10), "currency": "EUR", "amount": "500.00", "allocations": [{"invoiceId": bill["id"], "amount": "500.00"}]}}))
        .await["recordPayment"]["payment"]
        .clone();
    let vendor_line = |side: &str, base: &str| {
        let mut line = fx_line(side, "2000", base, (base, "USD"), None);
        line["party"] = json!({"kind": "VENDOR", "id": company.vendor});
        line
    };
    assert_eq!(
        paid_bill["allocations"][0]["exchangeDifference"],
        json!({"amount": "50.00", "currency": "USD"})
    );
    assert_eq!(
        paid_bill["allocations"][0]["exchangeEntry"]["lines"],
        json!([
            vendor_line("CREDIT", "50.00"),
            fx_line("DEBIT", "6950", "50.00", ("50.00", "USD"), None),
        ])
    );
    let data = company.assert_reconciled(&app).await;
    assert_eq!(
        data["payablesReconciliation"]["controlBalance"]["amount"],
        "0.00"
    );
    // What is still open in USD: the KWD invoice only.
    assert_eq!(
        balance().await,
        json!({"amount": "32.91", "currency": "USD"})
    );

    // No base-currency dust: every settled document cleared exactly its booked base amount,
    // every fully allocated payment exactly its own.
    let db = &app.runtime.db;
    let rows = |sql: String| async move {
        db.query_all(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .len()
    };
    let tenant = &company.tenant;
    assert_eq!(
        rows(format!(
            "SELECT id FROM finance_documents WHERE tenant_id = '{tenant}' AND posted \
            AND (settled = total) <> (base_settled = base_total)"
        ))
        .await,
        0
    );
    assert_eq!(
        rows(format!(
            "SELECT id FROM finance_payments WHERE tenant_id = '{tenant}' \
            AND (allocated = amount) <> (base_allocated = base_amount)"
        ))
        .await,
        0
    );

    // A chart without the gain account (a tenant set up before it joined the default chart):
    // a settlement with a gain is refused, the payment not recorded.
    db.execute(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!("UPDATE finance_accounts SET code = '4951' WHERE tenant_id = '{tenant}' AND code = '4950'"),
    ))
    .await
    .unwrap();
    let open = app
        .ok(
            token,
            &create,
            document(&customer, "EUR", day(3, 10), "10.00"),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        token,
        &post,
        json!({"input": {"idempotencyKey": "fx-open", "invoiceId": open}}),
    )
    .await;
    let payments = || async {
        app.ok(
            token,
            "{ payments(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await["payments"]["edges"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = payments().await;
    let mut gain = payment("fx-no-account", day(4, 10), "10.00");
    gain["input"]["allocations"][0]["invoiceId"] = json!(open);
    assert_eq!(
        app.refused(token, pay, gain).await,
        ("CONFLICT".into(), "EXCHANGE_ACCOUNT_MISSING".into())
    );
    assert_eq!(payments().await, before);
    assert_eq!(
        state(open).await["baseOutstanding"],
        json!({"amount": "11.00", "currency": "USD"})
    );
}

const REVALUE: &str = r#"mutation($input: RevalueForeignCurrencyInput!) { revalueForeignCurrency(input: $input) {
    replayed
    revaluation { date reversalDate documentCount gain { amount currency } loss { amount currency }
      entry { id reference date source journal { code } lines { side account { code } debit { amount } credit { amount } amount { amount currency } party { kind id } label } }
      reversal { date source reverses { id } lines { side account { code } debit { amount } credit { amount } } } }
} }"#;

/// Issue 17: unrealised exchange differences at a date. A USD company with a EUR invoice, a EUR
/// bill and a JPY invoice open at the end of March is revalued at the 31 March rates: per
/// document a control-account line with its partner, gains against 4950 and losses against
/// 6950 (exact cents), reversed on 1 April; a payment dated 10 April (recorded before the
/// revaluation ran) does not count on 31 March but does on 30 April. A date is revalued once
/// (another key answers with the first revaluation); a date with nothing open posts nothing;
/// the subledger still equals the control account; a locked date, a reversal day outside
/// every fiscal year and a caller without `finance:admin` are refused with nothing written.
#[tokio::test]
async fn open_foreign_documents_are_revalued_at_a_date_and_reversed_next_period() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let company = Company::open_in(&app, &issuer, "GLOBAL", tenant, "USD").await;
    let token = &company.token;
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    let set_rate = "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }";
    for (currency, from, rate) in [
        ("EUR", day(3, 1), "1.1"),
        ("EUR", day(3, 31), "1.2"),
        ("EUR", day(4, 1), "1.15"),
        ("EUR", day(4, 30), "1.25"),
        ("JPY", day(3, 1), "0.0067"),
        ("JPY", day(3, 31), "0.0066"),
    ] {
        app.ok(
            token,
            set_rate,
            json!({"input": {"currency": currency, "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    let post = "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { id baseTotal { amount } } } }";
    let document = |field: &'static str,
                    partner: &str,
                    currency: &str,
                    date: NaiveDate,
                    price: &str| {
        let input = json!({"input": {"partnerId": partner, "date": date, "currency": currency,
            "lines": [{"description": "Services", "quantity": "1", "unitPrice": price}]}});
        let (app, token) = (&app, token);
        async move {
            let id = app
                .ok(
                    token,
                    &format!("mutation($input: CreateInvoiceInput!) {{ {field}(input: $input) {{ invoice {{ id }} }} }}"),
                    input,
                )
                .await[field]["invoice"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let posted = app
                .ok(
                    token,
                    post,
                    json!({"input": {"idempotencyKey": format!("post-{id}"), "invoiceId": id}}),
                )
                .await;
            (
                id,
                posted["postInvoice"]["invoice"]["baseTotal"]["amount"].clone(),
            )
        }
    };
    // 1000.00 EUR at 1.1 = 1100.00 USD; a bill of 500.00 EUR at 1.1 = 550.00 USD; 12345 JPY
    // at 0.0067 = 82.7115 -> 82.71 USD.
    let (invoice, booked) = document(
        "createInvoice",
        &company.customer,
        "EUR",
        day(3, 15),
        "1000.00",
    )
    .await;
    assert_eq!(booked, "1100.00");
    let (_, booked) = document("createBill", &company.vendor, "EUR", day(3, 20), "500.00").await;
    assert_eq!(booked, "550.00");
    let (_, booked) = document(
        "createInvoice",
        &company.customer,
        "JPY",
        day(3, 25),
        "12345",
    )
    .await;
    assert_eq!(booked, "82.71");
    // 400.00 EUR paid on 10 April at 1.15 (460.00 USD) clears 440.00 of the booked 1100.00.
    app.ok(
        token,
        RECORD_PAYMENT,
        json!({"input": {"idempotencyKey": "pay-april", "direction": "INBOUND", "partnerId": company.customer,
            "date": day(4, 10), "currency": "EUR", "amount": "400.00",
            "allocations": [{"invoiceId": invoice, "amount": "400.00"}]}}),
    )
    .await;

    // Only finance administrators revalue.
    let writer = issuer.token(
        &company.tenant,
        "u-writer",
        &["finance:read", "finance:write"],
    );
    let (code, _) = app
        .refused(
            &writer,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-writer", "date": day(3, 31)}}),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");

    // 31 March: the invoice's 1000.00 EUR is worth 1200.00 (a gain of 100.00), the bill's
    // 500.00 EUR 600.00 (owing 50.00 more, a loss), the 12345 JPY 81.477 -> 81.48 (a loss of
    // 1.23).
    let data = app
        .ok(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-march", "date": day(3, 31)}}),
        )
        .await["revalueForeignCurrency"]
        .clone();
    assert_eq!(data["replayed"], false);
    let revaluation = &data["revaluation"];
    assert_eq!(revaluation["date"], day(3, 31).to_string());
    assert_eq!(revaluation["reversalDate"], day(4, 1).to_string());
    assert_eq!(revaluation["documentCount"], 3);
    assert_eq!(
        revaluation["gain"],
        json!({"amount": "100.00", "currency": "USD"})
    );
    assert_eq!(
        revaluation["loss"],
        json!({"amount": "51.23", "currency": "USD"})
    );
    let entry = &revaluation["entry"];
    assert_eq!(entry["date"], day(3, 31).to_string());
    assert_eq!(entry["source"], "REVALUATION");
    assert_eq!(entry["journal"]["code"], "GEN");
    let line = |side: &str, code: &str, amount: &str, party: Option<(&str, &str)>| {
        let (debit, credit) = if side == "DEBIT" {
            (amount, "0.00")
        } else {
            ("0.00", amount)
        };
        json!({"side": side, "account": {"code": code}, "debit": {"amount": debit}, "credit": {"amount": credit},
            "amount": {"amount": amount, "currency": "USD"},
            "party": party.map(|(kind, id)| json!({"kind": kind, "id": id}))})
    };
    let lines: Vec<Value> = entry["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("label");
            l
        })
        .collect();
    let customer = Some(("CUSTOMER", company.customer.as_str()));
    let vendor = Some(("VENDOR", company.vendor.as_str()));
    assert_eq!(
        lines,
        vec![
            line("DEBIT", "1100", "100.00", customer),
            line("CREDIT", "2000", "50.00", vendor),
            line("CREDIT", "1100", "1.23", customer),
            line("CREDIT", "4950", "100.00", None),
            line("DEBIT", "6950", "51.23", None),
        ]
    );
    assert_eq!(
        entry["lines"][2]["label"],
        format!("revaluation INV/{year}/00002 12345 JPY at 0.0066")
    );
    let reversal = &revaluation["reversal"];
    assert_eq!(reversal["date"], day(4, 1).to_string());
    assert_eq!(reversal["source"], "REVERSAL");
    assert_eq!(reversal["reverses"]["id"], entry["id"]);
    assert_eq!(
        reversal["lines"][0],
        json!({"side": "CREDIT", "account": {"code": "1100"}, "debit": {"amount": "0.00"}, "credit": {"amount": "100.00"}})
    );

    // The date is revalued once: another key (or the same) answers with the first.
    for key in ["rv-march", "rv-march-again"] {
        let again = app
            .ok(
                token,
                REVALUE,
                json!({"input": {"idempotencyKey": key, "date": day(3, 31)}}),
            )
            .await["revalueForeignCurrency"]
            .clone();
        assert_eq!(again["replayed"], true, "{key}");
        assert_eq!(again["revaluation"]["entry"]["id"], entry["id"]);
    }
    let march = app
        .ok(
            token,
            "query($d: Date!) { trialBalance(from: $d, to: $d) { balanced rows { account { code } debit { amount } credit { amount } } } }",
            json!({"d": day(3, 31)}),
        )
        .await;
    assert_eq!(march["trialBalance"]["balanced"], true);
    assert_eq!(
        march["trialBalance"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["account"]["code"] == "4950" || row["account"]["code"] == "6950")
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            json!({"account": {"code": "4950"}, "debit": {"amount": "0.00"}, "credit": {"amount": "100.00"}}),
            json!({"account": {"code": "6950"}, "debit": {"amount": "51.23"}, "credit": {"amount": "0.00"}}),
        ]
    );

    // 30 April: 600.00 EUR still open on the invoice (booked 660.00) at 1.25 = 750.00, a gain
    // of 90.00; the bill 625.00 against 550.00, a loss of 75.00; the JPY invoice at 0.0066
    // still, 1.23. Issue 17: the bank now holds the 400.00 EUR paid on 10 April (booked at
    // 460.00) worth 500.00: a gain of 40.00 more (was 90.00 before banks were revalued).
    let april = app
        .ok(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-april", "date": day(4, 30)}}),
        )
        .await["revalueForeignCurrency"]["revaluation"]
        .clone();
    assert_eq!(april["reversalDate"], day(5, 1).to_string());
    assert_eq!(april["gain"]["amount"], "130.00");
    assert_eq!(april["loss"]["amount"], "76.23");
    assert_eq!(april["entry"]["lines"][0]["debit"]["amount"], "90.00");

    // Nothing open in February: a revaluation without an entry.
    let february = app
        .ok(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-feb", "date": day(2, 28)}}),
        )
        .await["revalueForeignCurrency"]["revaluation"]
        .clone();
    assert_eq!(february["documentCount"], 0);
    assert_eq!(february["entry"], Value::Null);
    assert_eq!(february["gain"]["amount"], "0.00");

    company.assert_reconciled(&app).await;

    // Refused, nothing written: the reversal day of this year's 31 December is in no fiscal
    // year; a date on or before the lock date is closed.
    let december = NaiveDate::from_ymd_opt(this_year(), 12, 31).unwrap();
    assert_eq!(
        app.refused(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-dec", "date": december}})
        )
        .await,
        ("CONFLICT".into(), "NO_FISCAL_YEAR".into())
    );
    app.ok(
        token,
        "mutation($d: Date!) { setLockDate(input: {lockDate: $d}) { settings { lockDate } } }",
        json!({"d": day(5, 31)}),
    )
    .await;
    assert_eq!(
        app.refused(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-may", "date": day(5, 15)}})
        )
        .await,
        ("CONFLICT".into(), "PERIOD_LOCKED".into())
    );
    for date in [december, day(5, 15)] {
        assert_eq!(
            app.ok(
                token,
                "query($d: Date!) { revaluation(date: $d) { date } }",
                json!({"d": date})
            )
            .await["revaluation"],
            Value::Null
        );
    }
    assert_eq!(
        app.ok(
            token,
            "query($d: Date!) { revaluation(date: $d) { gain { amount } entry { id } } }",
            json!({"d": day(3, 31)})
        )
        .await["revaluation"],
        json!({"gain": {"amount": "100.00"}, "entry": {"id": entry["id"]}})
    );
}

/// The same revaluation on the embedded SQLite path: one EUR invoice, revalued once.
#[tokio::test]
async fn the_embedded_sqlite_path_revalues_open_foreign_invoices() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let company = Company::open_in(&app, &issuer, "GLOBAL", tenant, "USD").await;
    let token = &company.token;
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    for (from, rate) in [(day(6, 1), "1.1"), (day(6, 30), "1.0875")] {
        app.ok(
            token,
            "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }",
            json!({"input": {"currency": "EUR", "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    let id = app
        .ok(
            token,
            "mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) { invoice { id } } }",
            json!({"input": {"partnerId": company.customer, "date": day(6, 10), "currency": "EUR",
                "lines": [{"description": "Services", "quantity": "3", "unitPrice": "333.33"}]}}),
        )
        .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        token,
        "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { id } } }",
        json!({"input": {"idempotencyKey": "post", "invoiceId": id}}),
    )
    .await;
    // 999.99 EUR booked at 1.1 = 1099.989 -> 1099.99 USD; at 1.0875 = 1087.489125 -> 1087.49:
    // a loss of 12.50.
    let data = app
        .ok(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv", "date": day(6, 30)}}),
        )
        .await["revalueForeignCurrency"]
        .clone();
    assert_eq!(data["revaluation"]["loss"]["amount"], "12.50");
    assert_eq!(data["revaluation"]["gain"]["amount"], "0.00");
    assert_eq!(
        data["revaluation"]["reversal"]["date"],
        day(7, 1).to_string()
    );
    assert_eq!(data["revaluation"]["entry"]["lines"][0]["side"], "CREDIT");
    let again = app
        .ok(
            token,
            REVALUE,
            json!({"input": {"idempotencyKey": "rv-2", "date": day(6, 30)}}),
        )
        .await["revalueForeignCurrency"]
        .clone();
    assert_eq!(again["replayed"], true);
    assert_eq!(
        again["revaluation"]["entry"]["id"],
        data["revaluation"]["entry"]["id"]
    );
    company.assert_reconciled(&app).await;
}

/// Issue 17's posting throughput: the statements one invoice posting costs, and how many run
/// after the invoice's number is taken (the row lock every posting of the series queues on
/// until commit: what bounds postings per second). A guard on round trips, not on time.
#[tokio::test]
async fn posting_an_invoice_holds_its_number_for_few_statements() {
    let issuer = TestIssuer::start().await;
    let statements = erp_tests::StatementLog::default();
    let runtime = erp_tests::runtime_with_db(&issuer, erp_tests::Backends::Real, |db| {
        statements.record(db)
    })
    .await;
    let app = FinanceApp::serve(
        runtime,
        erp_finance::FinanceOptions {
            consumers: false,
            ..Default::default()
        },
    )
    .await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let draft = || {
        let input = company.invoice(
            today(),
            json!([{"description": "Consulting", "quantity": "2", "unitPrice": "100.00", "taxId": company.vat},
                   {"description": "Travel", "quantity": "1", "unitPrice": "50.00", "taxId": company.vat}]),
        );
        let (app, token) = (&app, &company.token);
        async move {
            app.ok(token, &create_invoice_mutation("createInvoice"), input)
                .await["createInvoice"]["invoice"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    // A first posting creates the series' rows; the counted one advances them.
    company.posted_invoice(&app, "warm", "1.00", today()).await;
    let id = draft().await;
    statements.take();
    app.ok(
        &company.token,
        "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { reference } } }",
        json!({"input": {"idempotencyKey": "counted", "invoiceId": id}}),
    )
    .await;
    // The posting's own statements: up to recording its idempotency key, the last one before
    // the commit (the outbox relay, woken by other writes, polls on the same pool).
    let ran: Vec<String> = statements
        .take()
        .into_iter()
        .map(|(sql, _)| sql)
        .filter(|sql| !sql.contains("finance_outbox") || sql.starts_with("INSERT"))
        .collect();
    let recorded = ran
        .iter()
        .position(|sql| sql.starts_with("INSERT INTO \"finance_idempotency\""))
        .expect("the posting records its key");
    let ran = &ran[..=recorded];
    let numbered = ran
        .iter()
        .position(|sql| sql.contains("finance_sequences"))
        .expect("the posting takes a number");
    let listing = ran
        .iter()
        .map(|sql| &sql[..sql.len().min(100)])
        .collect::<Vec<_>>()
        .join("\n");
    // Was 33 statements to the key, 22 of them from the invoice's number on (2026-12-07);
    // now 28 and 15: the numbers one upsert each, the taxes, the customer, the settings and
    // fiscal years read before the number, the number with the base amounts in one update.
    assert_eq!(
        ran.iter()
            .filter(|sql| sql.contains("finance_sequences"))
            .count(),
        2,
        "{listing}"
    );
    // Issue 22 adds 2 after the number: the day's control total for analytics and its outbox
    // row. The total is one upsert of the day's running row (issue 17: it was a COUNT/SUM
    // over the day's posted invoices under the number's lock, growing with the day).
    assert_eq!(
        ran.iter()
            .filter(|sql| sql.contains("finance_control_totals"))
            .count(),
        1,
        "{listing}"
    );
    assert!(
        !ran.iter()
            .any(|sql| sql.contains("COUNT(") && sql.contains("finance_documents")),
        "{listing}"
    );
    // One more read before the number (2026-12-07, the races on a draft): the draft again
    // after its claim, so an edit the claim waited for is what posts. Not under the number.
    assert_eq!((ran.len(), ran.len() - numbered), (31, 17), "{listing}");
}

/// Issue 17: a recurring schedule in a foreign currency. Each generated invoice is posted at
/// the rate in force on its own date, its base amounts stored once; a schedule in a currency
/// without any rate is DOCUMENT_CURRENCY; a due invoice whose date has no rate yet refuses the
/// generation with NO_EXCHANGE_RATE and nothing is generated.
#[tokio::test]
async fn a_foreign_recurring_schedule_posts_each_invoice_at_its_dates_rate() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let company = Company::open_in(&app, &issuer, "GLOBAL", tenant, "USD").await;
    let token = &company.token;
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    for (currency, from, rate) in [
        ("EUR", day(1, 1), "1.1"),
        ("EUR", day(2, 1), "1.2"),
        ("JPY", day(3, 15), "0.0067"),
    ] {
        app.ok(
            token,
            "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }",
            json!({"input": {"currency": currency, "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    let schedule = |currency: &str, price: &str| {
        json!({"input": {"partnerId": company.customer, "name": format!("Hosting {currency}"), "currency": currency,
            "dayOfMonth": 31, "startsOn": day(1, 31), "endsOn": day(3, 31),
            "lines": [{"description": "Hosting", "quantity": "1", "unitPrice": price, "taxId": company.vat}]}})
    };
    let create = "mutation($input: CreateRecurringScheduleInput!) { createRecurringSchedule(input: $input) { id } }";
    assert_eq!(
        app.refused(token, create, schedule("GBP", "100.00")).await,
        ("BAD_USER_INPUT".into(), "DOCUMENT_CURRENCY".into())
    );
    app.ok(token, create, schedule("EUR", "100.00")).await;
    let generate = "mutation($input: GenerateRecurringInvoicesInput!) { generateRecurringInvoices(input: $input) {
        created { date status currency total { amount currency } exchangeRate baseTotal { amount currency } } } }";
    let created = app
        .ok(
            token,
            generate,
            json!({"input": {"asOf": day(3, 5), "post": true}}),
        )
        .await["generateRecurringInvoices"]["created"]
        .clone();
    // 100.00 EUR + 22 % = 122.00 EUR: at 1.1 on 31 January 134.20 USD, at 1.2 from February
    // 146.40 USD.
    let invoice = |date: NaiveDate, rate: &str, base: &str| {
        json!({"date": date, "status": "POSTED", "currency": "EUR", "total": {"amount": "122.00", "currency": "EUR"},
            "exchangeRate": rate, "baseTotal": {"amount": base, "currency": "USD"}})
    };
    let february_end = day(3, 1).pred_opt().unwrap();
    assert_eq!(
        created,
        json!([
            invoice(day(1, 31), "1.1", "134.20"),
            invoice(february_end, "1.2", "146.40"),
            invoice(day(3, 31), "1.2", "146.40"),
        ])
    );
    // A JPY schedule from January: JPY rates start on 15 March, so its January invoice has no
    // rate; the whole generation is refused and nothing is created.
    app.ok(token, create, schedule("JPY", "10000")).await;
    assert_eq!(
        app.refused(
            token,
            generate,
            json!({"input": {"asOf": day(4, 5), "post": true}})
        )
        .await,
        ("CONFLICT".into(), "NO_EXCHANGE_RATE".into())
    );
    let count = app
        .ok(
            token,
            "{ invoices(first: 100) { edges { node { id } } } }",
            json!({}),
        )
        .await["invoices"]["edges"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count, 3);
    company.assert_reconciled(&app).await;
}

/// Issue 17: the revaluation also values what the bank accounts hold in foreign currencies and
/// the foreign payments' parts on account, in exact cents. A USD company: 500.00 EUR received
/// on 5 March at 1.1 into bank 1000 (200.00 of it settling a March invoice at once, 100.00
/// allocated later to an invoice dated 10 April), 100.00 GBP paid to a vendor on account on 8
/// March at 1.3 from a second bank account 1010. On 31 March (EUR 1.2, GBP 1.25) each bank
/// balance and each payment's part on account has its line; the April invoice's allocation
/// counts from its own date; the entry is reversed on 1 April; the cash position shows the
/// revalued banks on the day and the booked ones after; the date is revalued once; the
/// subledger still equals the control account. 30 April (EUR 1.25) again.
async fn bank_balances_and_payments_on_account_are_revalued(app: FinanceApp, issuer: TestIssuer) {
    let tenant = format!("t-{}", uuid::Uuid::new_v4().simple());
    let company = Company::open_in(&app, &issuer, "GLOBAL", tenant, "USD").await;
    let token = &company.token;
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    for (currency, from, rate) in [
        ("EUR", day(3, 1), "1.1"),
        ("EUR", day(3, 31), "1.2"),
        ("EUR", day(4, 1), "1.15"),
        ("EUR", day(4, 30), "1.25"),
        ("GBP", day(3, 1), "1.3"),
        ("GBP", day(3, 31), "1.25"),
    ] {
        app.ok(
            token,
            "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }",
            json!({"input": {"currency": currency, "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    let second_bank = app
        .ok(
            token,
            "mutation($i: CreateAccountInput!) { createAccount(input: $i) { account { id } } }",
            json!({"i": {"code": "1010", "name": "GBP account", "kind": "ASSET", "role": "BANK"}}),
        )
        .await["createAccount"]["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoice = |date: NaiveDate, price: &str| {
        let input = json!({"input": {"partnerId": company.customer, "date": date, "currency": "EUR",
            "lines": [{"description": "Services", "quantity": "1", "unitPrice": price}]}});
        let app = &app;
        async move {
            let id = app
                .ok(token, "mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) { invoice { id } } }", input)
                .await["createInvoice"]["invoice"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            app.ok(
                token,
                "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { id } } }",
                json!({"input": {"idempotencyKey": format!("post-{id}"), "invoiceId": id}}),
            )
            .await;
            id
        }
    };
    let march_invoice = invoice(day(3, 2), "200.00").await;
    let received = app
        .ok(
            token,
            RECORD_PAYMENT,
            json!({"input": {"idempotencyKey": "in", "direction": "INBOUND", "partnerId": company.customer,
                "date": day(3, 5), "currency": "EUR", "amount": "500.00",
                "allocations": [{"invoiceId": march_invoice, "amount": "200.00"}]}}),
        )
        .await["recordPayment"]["payment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        token,
        RECORD_PAYMENT,
        json!({"input": {"idempotencyKey": "out", "direction": "OUTBOUND", "partnerId": company.vendor,
            "date": day(3, 8), "currency": "GBP", "amount": "100.00", "bankAccountId": second_bank}}),
    )
    .await;
    // Dated 10 April at 1.15 (115.00 USD), settled by 100.00 of the March payment (110.00 at
    // its rate: a realised loss of 5.00 on 10 April).
    let april_invoice = invoice(day(4, 10), "100.00").await;
    app.ok(
        token,
        ALLOCATE,
        json!({"input": {"idempotencyKey": "alloc", "paymentId": received,
            "allocations": [{"invoiceId": april_invoice, "amount": "100.00"}]}}),
    )
    .await;

    // 31 March: bank 1000 holds 500.00 EUR booked at 550.00, worth 600.00 (a gain of 50.00);
    // bank 1010 is 100.00 GBP short, booked -130.00, worth -125.00 (a gain of 5.00); the
    // customer's 300.00 EUR on account (the April allocation not yet), booked 330.00, is owed
    // back at 360.00 (a loss of 30.00); the 100.00 GBP paid to the vendor on account, booked
    // 130.00, is worth 125.00 (a loss of 5.00).
    const REVALUE_ALL: &str = r#"mutation($input: RevalueForeignCurrencyInput!) { revalueForeignCurrency(input: $input) {
        replayed
        revaluation { date reversalDate documentCount bankBalanceCount paymentCount gain { amount } loss { amount }
          entry { id lines { side account { code } debit { amount } credit { amount } party { kind id } label } }
          reversal { date source lines { side account { code } debit { amount } credit { amount } } } } } }"#;
    let march = app
        .ok(
            token,
            REVALUE_ALL,
            json!({"input": {"idempotencyKey": "rv-march", "date": day(3, 31)}}),
        )
        .await["revalueForeignCurrency"]
        .clone();
    assert_eq!(march["replayed"], false);
    let revaluation = &march["revaluation"];
    assert_eq!(
        (
            &revaluation["documentCount"],
            &revaluation["bankBalanceCount"],
            &revaluation["paymentCount"],
            &revaluation["gain"]["amount"],
            &revaluation["loss"]["amount"]
        ),
        (
            &json!(0),
            &json!(2),
            &json!(2),
            &json!("55.00"),
            &json!("35.00")
        )
    );
    let line = |side: &str, code: &str, amount: &str, party: Option<(&str, &str)>, label: &str| {
        let (debit, credit) = if side == "DEBIT" {
            (amount, "0.00")
        } else {
            ("0.00", amount)
        };
        json!({"side": side, "account": {"code": code}, "debit": {"amount": debit}, "credit": {"amount": credit},
            "party": party.map(|(kind, id)| json!({"kind": kind, "id": id})), "label": label})
    };
    let customer = Some(("CUSTOMER", company.customer.as_str()));
    let vendor = Some(("VENDOR", company.vendor.as_str()));
    assert_eq!(
        revaluation["entry"]["lines"],
        json!([
            line(
                "DEBIT",
                "1000",
                "50.00",
                None,
                "revaluation bank 1000 500.00 EUR at 1.2"
            ),
            line(
                "DEBIT",
                "1010",
                "5.00",
                None,
                "revaluation bank 1010 -100.00 GBP at 1.25"
            ),
            line(
                "CREDIT",
                "1100",
                "30.00",
                customer,
                &format!(
                    "revaluation payment of {} on account 300.00 EUR at 1.2",
                    day(3, 5)
                )
            ),
            line(
                "CREDIT",
                "2000",
                "5.00",
                vendor,
                &format!(
                    "revaluation payment of {} on account 100.00 GBP at 1.25",
                    day(3, 8)
                )
            ),
            line("CREDIT", "4950", "55.00", None, "unrealised exchange gain"),
            line("DEBIT", "6950", "35.00", None, "unrealised exchange loss"),
        ])
    );
    let reversal = &revaluation["reversal"];
    assert_eq!(
        (&reversal["date"], &reversal["source"]),
        (&json!(day(4, 1)), &json!("REVERSAL"))
    );
    assert_eq!(
        reversal["lines"][0],
        json!({"side": "CREDIT", "account": {"code": "1000"}, "debit": {"amount": "0.00"}, "credit": {"amount": "50.00"}})
    );
    // Revalued once: another key answers with the same revaluation.
    let again = app
        .ok(
            token,
            REVALUE_ALL,
            json!({"input": {"idempotencyKey": "rv-march-2", "date": day(3, 31)}}),
        )
        .await["revalueForeignCurrency"]
        .clone();
    assert_eq!(again["replayed"], true);
    assert_eq!(
        again["revaluation"]["entry"]["id"],
        revaluation["entry"]["id"]
    );
    // The cash position: the banks at their revalued amounts on 31 March, as booked on 1 April.
    let cash = |date: NaiveDate| {
        let app = &app;
        async move {
            app.ok(
                token,
                "query($d: Date!) { cashPosition(asOf: $d) { accounts { account { code } balance { amount } } } }",
                json!({"d": date}),
            )
            .await["cashPosition"]["accounts"]
                .clone()
        }
    };
    let banks = |first: &str, second: &str| {
        json!([{"account": {"code": "1000"}, "balance": {"amount": first}},
               {"account": {"code": "1010"}, "balance": {"amount": second}}])
    };
    assert_eq!(cash(day(3, 31)).await, banks("600.00", "-125.00"));
    assert_eq!(cash(day(4, 1)).await, banks("550.00", "-130.00"));
    company.assert_reconciled(&app).await;

    // 30 April at 1.25: bank 1000 worth 625.00 (a gain of 75.00), bank 1010 still 5.00; the
    // customer's 200.00 EUR left on account, booked 220.00, owed back at 250.00 (a loss of
    // 30.00); the vendor's 5.00.
    let april = app
        .ok(
            token,
            REVALUE_ALL,
            json!({"input": {"idempotencyKey": "rv-april", "date": day(4, 30)}}),
        )
        .await["revalueForeignCurrency"]["revaluation"]
        .clone();
    assert_eq!(
        (
            &april["bankBalanceCount"],
            &april["paymentCount"],
            &april["gain"]["amount"],
            &april["loss"]["amount"]
        ),
        (&json!(2), &json!(2), &json!("80.00"), &json!("35.00"))
    );
    assert_eq!(
        april["entry"]["lines"][2]["label"],
        format!(
            "revaluation payment of {} on account 200.00 EUR at 1.25",
            day(3, 5)
        )
    );
    let data = company.assert_reconciled(&app).await;
    assert_eq!(data["trialBalance"]["balanced"], true);
}

#[tokio::test]
async fn bank_balances_and_payments_on_account_are_revalued_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    bank_balances_and_payments_on_account_are_revalued(app, issuer).await;
}

#[tokio::test]
async fn bank_balances_and_payments_on_account_are_revalued_on_embedded_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    bank_balances_and_payments_on_account_are_revalued(app, issuer).await;
}

/// Issue 17: expense claims in a foreign currency. A EUR company, USD rates from 1 March (0.9),
/// 10 March (0.92), 1 April (0.95), 1 May (0.93). A claim's line is worth its amount at its
/// own day's rate, which is what a EUR cap holds (55.57 USD on 5 March = 50.01 EUR is over
/// the 50.00 EUR meals cap; 55.56 = 50.00 is not); the approval fixes each line's rate and base
/// amount once and posts them in EUR; the reimbursement pays the USD total at the payment
/// day's rate in EUR and posts the realised difference: a loss paid at a higher rate, a gain
/// at a lower one. A currency without rates, a line or payment day without a rate, and the
/// payroll path for a foreign claim are refused with their reasons, nothing written.
async fn foreign_expense_claims_are_capped_posted_and_paid_in_base(
    app: FinanceApp,
    issuer: TestIssuer,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let tenant = &company.tenant;
    let year = this_year() - 1;
    let day = |month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap();
    for (from, rate) in [
        (day(3, 1), "0.9"),
        (day(3, 10), "0.92"),
        (day(4, 1), "0.95"),
        (day(5, 1), "0.93"),
    ] {
        app.ok(
            &company.token,
            "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }",
            json!({"input": {"currency": "USD", "effectiveOn": from, "rate": rate}}),
        )
        .await;
    }
    for event in [
        hired(tenant, "e-manager", "u-manager", None),
        hired(tenant, "e-claimant", "u-claimant", Some("e-manager")),
    ] {
        app.finance.apply_employee_event(&event).await.unwrap();
    }
    let category = |code: &str, cap: Option<&str>| {
        let input = json!({"input": {"code": code, "name": code, "accountId": company.accounts["5000"],
            "cap": cap, "capCurrency": cap.map(|_| "EUR"), "receiptRequired": false}});
        let app = &app;
        let token = company.token.clone();
        async move {
            app.ok(
                &token,
                "mutation($input: CreateExpenseCategoryInput!) { createExpenseCategory(input: $input) { category { id } } }",
                input,
            )
            .await["createExpenseCategory"]["category"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let meals = category("MEALS", Some("50.00")).await;
    let travel = category("TRAVEL", None).await;
    let claimant = issuer.token(tenant, "u-claimant", &["expense:submit"]);
    let manager = issuer.token(tenant, "u-manager", &["expense:submit", "expense:approve"]);
    let line = |category: &str, on: NaiveDate, amount: &str| json!({"categoryId": category, "spentOn": on, "description": "Client visit", "amount": amount});
    let claim = |currency: &str, lines: Value| json!({"input": {"title": "New York", "currency": currency, "lines": lines}});
    const FOREIGN_CLAIM: &str = "mutation($input: CreateExpenseClaimInput!) { createExpenseClaim(input: $input) {
        claim { id currency total { amount currency } baseTotal { amount } lines { amount { amount currency } exchangeRate baseAmount { amount } } } } }";
    for (input, refusal) in [
        (
            claim("USD", json!([line(&meals, day(3, 5), "55.57")])),
            ("BAD_USER_INPUT", "POLICY_CAP_EXCEEDED"),
        ),
        (
            claim("GBP", json!([line(&travel, day(3, 5), "10.00")])),
            ("BAD_USER_INPUT", "DOCUMENT_CURRENCY"),
        ),
        (
            claim("USD", json!([line(&travel, day(2, 27), "10.00")])),
            ("CONFLICT", "NO_EXCHANGE_RATE"),
        ),
    ] {
        let (code, reason) = app.refused(&claimant, FOREIGN_CLAIM, input).await;
        assert_eq!((code.as_str(), reason.as_str()), refusal);
    }
    // 55.56 USD on 5 March at 0.9 = 50.004 -> 50.00 EUR; 120.00 USD on 12 March at 0.92 =
    // 110.40 EUR: 175.56 USD, 160.40 EUR once approved.
    let created = app
        .ok(
            &claimant,
            FOREIGN_CLAIM,
            claim(
                "USD",
                json!([
                    line(&meals, day(3, 5), "55.56"),
                    line(&travel, day(3, 12), "120.00")
                ]),
            ),
        )
        .await["createExpenseClaim"]["claim"]
        .clone();
    assert_eq!(
        (
            &created["currency"],
            &created["total"],
            &created["baseTotal"]
        ),
        (
            &json!("USD"),
            &json!({"amount": "175.56", "currency": "USD"}),
            &Value::Null
        )
    );
    assert_eq!(created["lines"][0]["exchangeRate"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();
    app.ok(
        &claimant,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": id}),
    )
    .await;
    app.ok(
        &manager,
        APPROVE,
        json!({"input": {"idempotencyKey": "fx-approve", "claimId": id}}),
    )
    .await;
    const FX_CLAIM: &str = "query($id: ID!) { expenseClaim(id: $id) { state baseTotal { amount currency } reimbursedAmount { amount }
        lines { exchangeRate baseAmount { amount currency } }
        approvalEntry { lines { side account { code } debit { amount } credit { amount } amount { amount currency } label } }
        paymentEntry { lines { side account { code } debit { amount } credit { amount } label } } } }";
    let approved =
        app.ok(&company.token, FX_CLAIM, json!({"id": id})).await["expenseClaim"].clone();
    assert_eq!(
        approved["baseTotal"],
        json!({"amount": "160.40", "currency": "EUR"})
    );
    assert_eq!(
        approved["lines"],
        json!([
            {"exchangeRate": "0.9", "baseAmount": {"amount": "50.00", "currency": "EUR"}},
            {"exchangeRate": "0.92", "baseAmount": {"amount": "110.40", "currency": "EUR"}}
        ])
    );
    let posted = |side: &str, code: &str, amount: &str, label: &str| {
        let (debit, credit) = if side == "DEBIT" {
            (amount, "0.00")
        } else {
            ("0.00", amount)
        };
        json!({"side": side, "account": {"code": code}, "debit": {"amount": debit}, "credit": {"amount": credit},
            "amount": {"amount": amount, "currency": "EUR"}, "label": label})
    };
    assert_eq!(
        approved["approvalEntry"]["lines"],
        json!([
            posted("DEBIT", "5000", "50.00", "Client visit (55.56 USD at 0.9)"),
            posted(
                "DEBIT",
                "5000",
                "110.40",
                "Client visit (120.00 USD at 0.92)"
            ),
            posted("CREDIT", "2100", "160.40", "New York"),
        ])
    );
    // expense.approved carries the claim's currency and, additively, its base amount.
    let db = &app.runtime.db;
    let payload: Value = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT envelope FROM finance_outbox WHERE tenant_id = '{tenant}' AND event_type = 'expense.approved'"),
        ))
        .await
        .unwrap()
        .map(|row| {
            serde_json::from_str::<EventEnvelope>(&row.try_get::<String>("", "envelope").unwrap())
                .unwrap()
                .payload
        })
        .unwrap();
    assert_eq!(
        (
            &payload["currency"],
            &payload["total"],
            &payload["base_currency"],
            &payload["base_total"]
        ),
        (&json!("USD"), &json!(17556), &json!("EUR"), &json!(16040))
    );

    // Payroll pays booked base amounts and no exchange difference: refused for a foreign claim.
    let payroll = issuer.token(tenant, "u-payroll", &["payroll:admin", "finance:read"]);
    assert_eq!(
        app.refused(
            &payroll,
            "mutation($id: ID!) { reimburseExpenseThroughPayroll(input: {expenseId: $id}) { reimbursement { expenseId } } }",
            json!({"id": id}),
        )
        .await,
        ("CONFLICT".into(), "FOREIGN_EXPENSE_NOT_THROUGH_PAYROLL".into())
    );
    // No rate before March: refused, the claim still approved and unpaid.
    let pay = |key: &str, claim: &str, date: NaiveDate| json!({"input": {"idempotencyKey": key, "claimId": claim, "date": date}});
    assert_eq!(
        app.refused(&company.token, PAY, pay("fx-pay-0", &id, day(2, 1)))
            .await,
        ("CONFLICT".into(), "NO_EXCHANGE_RATE".into())
    );
    assert_eq!(
        app.ok(&company.token, FX_CLAIM, json!({"id": id})).await["expenseClaim"]["state"],
        "APPROVED"
    );
    // Paid on 2 April at 0.95: 175.56 USD = 166.782 -> 166.78 EUR against 160.40 booked, a
    // loss of 6.38.
    app.ok(&company.token, PAY, pay("fx-pay-1", &id, day(4, 2)))
        .await;
    let paid = app.ok(&company.token, FX_CLAIM, json!({"id": id})).await["expenseClaim"].clone();
    let line = |side: &str, code: &str, amount: &str, label: Option<&str>| {
        let (debit, credit) = if side == "DEBIT" {
            (amount, "0.00")
        } else {
            ("0.00", amount)
        };
        json!({"side": side, "account": {"code": code}, "debit": {"amount": debit}, "credit": {"amount": credit}, "label": label})
    };
    assert_eq!(
        (&paid["state"], &paid["reimbursedAmount"]),
        (&json!("PAID"), &json!({"amount": "166.78"}))
    );
    assert_eq!(
        paid["paymentEntry"]["lines"],
        json!([
            line("DEBIT", "2100", "160.40", None),
            line("CREDIT", "1000", "166.78", Some("175.56 USD at 0.95")),
            line("DEBIT", "6950", "6.38", Some("realised exchange loss")),
        ])
    );

    // A second claim, 100.00 USD on 5 April at 0.95 = 95.00 EUR, paid on 2 May at 0.93 =
    // 93.00 EUR: a gain of 2.00.
    let second = app
        .ok(
            &claimant,
            FOREIGN_CLAIM,
            claim("USD", json!([line_of(&travel, day(4, 5), "100.00")])),
        )
        .await["createExpenseClaim"]["claim"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &claimant,
        "mutation($id: ID!) { submitExpenseClaim(input: {claimId: $id}) { claim { state } } }",
        json!({"id": second}),
    )
    .await;
    app.ok(
        &manager,
        APPROVE,
        json!({"input": {"idempotencyKey": "fx-approve-2", "claimId": second}}),
    )
    .await;
    app.ok(&company.token, PAY, pay("fx-pay-2", &second, day(5, 2)))
        .await;
    let paid = app
        .ok(&company.token, FX_CLAIM, json!({"id": second}))
        .await["expenseClaim"]
        .clone();
    assert_eq!(
        (&paid["baseTotal"]["amount"], &paid["reimbursedAmount"]),
        (&json!("95.00"), &json!({"amount": "93.00"}))
    );
    assert_eq!(
        paid["paymentEntry"]["lines"],
        json!([
            line("DEBIT", "2100", "95.00", None),
            line("CREDIT", "1000", "93.00", Some("100.00 USD at 0.93")),
            line("CREDIT", "4950", "2.00", Some("realised exchange gain")),
        ])
    );
    // The employee is owed nothing more; the books balance.
    let balance = app
        .ok(
            &company.token,
            "query { trialBalance(to: \"9999-12-31\") { balanced rows { account { code } debit { amount } credit { amount } } } }",
            json!({}),
        )
        .await["trialBalance"]
        .clone();
    assert_eq!(balance["balanced"], true);
    let row = |code: &str| {
        balance["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["account"]["code"] == code)
            .cloned()
    };
    assert_eq!(
        row("2100"),
        Some(
            json!({"account": {"code": "2100"}, "debit": {"amount": "255.40"}, "credit": {"amount": "255.40"}})
        )
    );
    assert_eq!(
        row("1000"),
        Some(
            json!({"account": {"code": "1000"}, "debit": {"amount": "0.00"}, "credit": {"amount": "259.78"}})
        )
    );
}

fn line_of(category: &str, on: NaiveDate, amount: &str) -> Value {
    json!({"categoryId": category, "spentOn": on, "description": "Client visit", "amount": amount})
}

#[tokio::test]
async fn foreign_expense_claims_are_capped_posted_and_paid_in_base_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    foreign_expense_claims_are_capped_posted_and_paid_in_base(app, issuer).await;
}

#[tokio::test]
async fn foreign_expense_claims_are_capped_posted_and_paid_in_base_on_embedded_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    foreign_expense_claims_are_capped_posted_and_paid_in_base(app, issuer).await;
}

/// The `control_total.published` payloads of `tenant` in finance's outbox, oldest first.
async fn published_control_totals(app: &FinanceApp, tenant: &str) -> Vec<Value> {
    let db = &app.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT envelope FROM finance_outbox WHERE tenant_id = '{tenant}' \
             AND event_type = 'control_total.published' ORDER BY seq"
        ),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        let envelope: EventEnvelope =
            serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap();
        envelope.payload
    })
    .collect()
}

/// `tenant`'s running control totals as stored: (day, records, amount, currency) by day.
async fn stored_control_totals(app: &FinanceApp, tenant: &str) -> Vec<(String, i64, i64, String)> {
    let db = &app.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT CAST(day AS TEXT) AS day, records, amount, currency FROM finance_control_totals \
             WHERE tenant_id = '{tenant}' AND source = 'invoices' ORDER BY day"
        ),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get("", "day").unwrap(),
            row.try_get("", "records").unwrap(),
            row.try_get("", "amount").unwrap(),
            row.try_get("", "currency").unwrap(),
        )
    })
    .collect()
}

/// What the count the running totals replaced reads for `tenant`: per day, the posted
/// invoices and the sum of their base totals.
async fn counted_control_totals(app: &FinanceApp, tenant: &str) -> Vec<(String, i64, i64)> {
    let db = &app.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT CAST(document_date AS TEXT) AS day, CAST(COUNT(*) AS BIGINT) AS records, \
             CAST(SUM(base_total) AS BIGINT) AS amount FROM finance_documents \
             WHERE tenant_id = '{tenant}' AND kind = 'invoice' AND posted = {} \
             GROUP BY document_date ORDER BY document_date",
            match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => "TRUE",
                _ => "1",
            }
        ),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get("", "day").unwrap(),
            row.try_get("", "records").unwrap(),
            row.try_get("", "amount").unwrap(),
        )
    })
    .collect()
}

/// Issue 17: a day's control total is a running one. Each posted invoice (in the base or a
/// foreign currency, counted at its base total) advances its day's row and publishes it;
/// credit notes, vendor bills and drafts count nowhere, exactly as the count it replaced.
/// The migration backfills days posted before it (and a second run changes nothing), and a
/// posting after the backfill continues from the backfilled total.
async fn a_days_control_total_runs_and_the_migration_backfills_it(
    app: FinanceApp,
    issuer: TestIssuer,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let token = &company.token;
    let year = this_year() - 1;
    let (first, second) = (
        NaiveDate::from_ymd_opt(year, 6, 10).unwrap(),
        NaiveDate::from_ymd_opt(year, 6, 11).unwrap(),
    );
    app.ok(
        token,
        "mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { exchangeRate { rate } } }",
        json!({"input": {"currency": "USD", "effectiveOn": NaiveDate::from_ymd_opt(year, 1, 1).unwrap(), "rate": "0.9"}}),
    )
    .await;
    let invoice = company.posted_invoice(&app, "ct-1", "100.00", first).await;
    // 50.00 USD at 0.9: 45.00 EUR.
    let mut usd = company.invoice(
        first,
        json!([{"description": "Consulting", "quantity": "1", "unitPrice": "50.00"}]),
    );
    usd["input"]["currency"] = json!("USD");
    let usd = app
        .ok(token, &create_invoice_mutation("createInvoice"), usd)
        .await["createInvoice"]["invoice"]["id"]
        .clone();
    app.ok(
        token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "ct-usd", "invoiceId": usd}}),
    )
    .await;
    company.posted_invoice(&app, "ct-2", "10.00", second).await;
    // Not invoices: a credit note, a vendor bill and a draft, all dated the first day.
    let note = app
        .ok(
            token,
            "mutation($input: CreateCreditNoteInput!) { createCreditNote(input: $input) { invoice { id } } }",
            json!({"input": {"invoiceId": invoice, "date": first, "lines": [{"description": "Refund", "quantity": "1", "unitPrice": "30.00"}]}}),
        )
        .await["createCreditNote"]["invoice"]["id"]
        .clone();
    app.ok(
        token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "ct-cn", "invoiceId": note}}),
    )
    .await;
    let bill = app
        .ok(
            token,
            "mutation($input: CreateInvoiceInput!) { createBill(input: $input) { invoice { id } } }",
            json!({"input": {"partnerId": company.vendor, "date": first, "currency": "EUR",
                "lines": [{"description": "Paper", "quantity": "1", "unitPrice": "70.00"}]}}),
        )
        .await["createBill"]["invoice"]["id"]
        .clone();
    app.ok(
        token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "ct-bill", "invoiceId": bill}}),
    )
    .await;
    app.ok(
        token,
        &create_invoice_mutation("createInvoice"),
        company.invoice(
            first,
            json!([{"description": "Draft", "quantity": "1", "unitPrice": "999.00"}]),
        ),
    )
    .await;

    let tenant = &company.tenant;
    let total = |day: NaiveDate, count: i64, amount: i64| json!({"source": "invoices", "day": day, "count": count, "amount": amount, "currency": "EUR"});
    assert_eq!(
        published_control_totals(&app, tenant).await,
        vec![
            total(first, 1, 10000),
            total(first, 2, 14500),
            total(second, 1, 1000)
        ]
    );
    let expected = vec![
        (first.to_string(), 2, 14500, "EUR".to_owned()),
        (second.to_string(), 1, 1000, "EUR".to_owned()),
    ];
    assert_eq!(stored_control_totals(&app, tenant).await, expected);
    let counted: Vec<(String, i64, i64)> = expected
        .iter()
        .map(|(day, records, amount, _)| (day.clone(), *records, *amount))
        .collect();
    assert_eq!(counted_control_totals(&app, tenant).await, counted);

    // A database upgraded from before the running totals: the migration writes the days.
    let db = &app.runtime.db;
    let rerun = || async {
        db.execute_unprepared(
            "DELETE FROM finance_migrations WHERE version = 'm0014_control_totals_fx'",
        )
        .await
        .unwrap();
        erp_kit::db::migrate::<erp_migrations::finance::Migrator>(db)
            .await
            .unwrap();
    };
    db.execute_unprepared(&format!(
        "DELETE FROM finance_control_totals WHERE tenant_id = '{tenant}'"
    ))
    .await
    .unwrap();
    assert_eq!(stored_control_totals(&app, tenant).await, vec![]);
    rerun().await;
    assert_eq!(stored_control_totals(&app, tenant).await, expected);
    rerun().await;
    assert_eq!(stored_control_totals(&app, tenant).await, expected);

    // The next invoice of the first day continues from the backfilled total.
    company.posted_invoice(&app, "ct-3", "0.01", first).await;
    assert_eq!(
        published_control_totals(&app, tenant).await.last(),
        Some(&total(first, 3, 14501))
    );
    assert_eq!(
        counted_control_totals(&app, tenant).await,
        vec![(first.to_string(), 3, 14501), (second.to_string(), 1, 1000)]
    );
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn a_days_control_total_runs_and_is_backfilled_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    a_days_control_total_runs_and_the_migration_backfills_it(app, issuer).await;
}

#[tokio::test]
async fn a_days_control_total_runs_and_is_backfilled_on_embedded_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    a_days_control_total_runs_and_the_migration_backfills_it(app, issuer).await;
}

const POST_NUMBERED: &str = "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { replayed invoice { id status reference } } }";

/// A draft invoice of one untaxed line worth `amount`, dated `date`: its id.
async fn draft_invoice(
    app: &FinanceApp,
    company: &Company,
    date: NaiveDate,
    amount: &str,
) -> String {
    app.ok(
        &company.token,
        &create_invoice_mutation("createInvoice"),
        company.invoice(
            date,
            json!([{"description": "Consulting", "quantity": "1", "unitPrice": amount}]),
        ),
    )
    .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The tenant's outbox events of `event_type`.
async fn outbox_count(app: &FinanceApp, tenant: &str, event_type: &str) -> i64 {
    let db = &app.runtime.db;
    db.query_one(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT COUNT(*) AS n FROM finance_outbox WHERE tenant_id = '{tenant}' AND event_type = '{event_type}'"
        ),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

/// The sales journal's hash chain verified: how many entries it checked.
async fn verified_sales_chain(app: &FinanceApp, company: &Company) -> Value {
    let journal = app
        .ok(
            &company.token,
            "{ financeSettings { salesJournal { id } } }",
            json!({}),
        )
        .await["financeSettings"]["salesJournal"]["id"]
        .clone();
    app.ok(
        &company.token,
        "query($j: ID!) { verifyHashChain(journalId: $j) { valid entriesChecked } }",
        json!({"j": journal}),
    )
    .await["verifyHashChain"]
        .clone()
}

/// Sets the company's lock date to the last day of last year and drafts an invoice dated in
/// last December (its posting is PERIOD_LOCKED): the draft's id.
async fn draft_in_locked_period(app: &FinanceApp, company: &Company) -> String {
    let last_year = this_year() - 1;
    let december = NaiveDate::from_ymd_opt(last_year, 12, 10).unwrap();
    let draft = draft_invoice(app, company, december, "10.00").await;
    app.ok(
        &company.token,
        "mutation($d: Date!) { setLockDate(input: {lockDate: $d}) { settings { lockDate } } }",
        json!({"d": format!("{last_year}-12-31")}),
    )
    .await;
    draft
}

/// Issue 17's posting throughput: concurrent `postInvoice` requests of one tenant are posted
/// together by the tenant's writer (group commit), in whatever batches they happen to form.
/// Every draft posts once, the numbers contiguous; a second posting of a draft under another
/// key is NOT_DRAFT, a retried key replays, an unknown draft is NOT_FOUND, a draft dated in a
/// locked period is PERIOD_LOCKED and stays a draft without taking a number; every posting's
/// events are in the outbox, the day's control total counts them all, the sales journal's
/// hash chain verifies and the books reconcile.
#[tokio::test]
async fn concurrent_invoice_postings_post_together_with_contiguous_numbers() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let locked = draft_in_locked_period(&app, &company).await;
    let mut drafts = Vec::new();
    for n in 0..40 {
        drafts.push(draft_invoice(&app, &company, today(), &format!("{}.00", n + 1)).await);
    }
    let mut requests: Vec<(String, String)> = drafts
        .iter()
        .enumerate()
        .map(|(n, id)| (format!("p-{n}"), id.clone()))
        .collect();
    requests.push(("again-0".into(), drafts[0].clone()));
    requests.push(("p-1".into(), drafts[1].clone()));
    requests.push(("ghost".into(), uuid::Uuid::new_v4().to_string()));
    requests.push(("late".into(), locked.clone()));
    let answers = futures::future::join_all(requests.iter().map(|(key, id)| {
        let (app, token) = (&app, &company.token);
        async move {
            app.graphql(
                token,
                POST_NUMBERED,
                json!({"input": {"idempotencyKey": key, "invoiceId": id}}),
            )
            .await
            .1
        }
    }))
    .await;
    let refusal = |answer: &Value| {
        (
            answer["errors"][0]["extensions"]["code"].clone(),
            answer["errors"][0]["extensions"]["reason"].clone(),
        )
    };
    // Draft 0 under two keys: one posts, the other is NOT_DRAFT.
    let (first, again) = (&answers[0], &answers[40]);
    let refused_twice: Vec<&Value> = [first, again]
        .into_iter()
        .filter(|a| !a["errors"].is_null())
        .collect();
    assert_eq!(refused_twice.len(), 1, "{first} {again}");
    assert_eq!(
        refusal(refused_twice[0]),
        (json!("CONFLICT"), json!("NOT_DRAFT"))
    );
    // Draft 1's key twice: one posting, one replay of it.
    let (one, replay) = (&answers[1], &answers[41]);
    let mut replayed = vec![
        one["data"]["postInvoice"]["replayed"]
            .as_bool()
            .unwrap_or_else(|| panic!("{one}")),
        replay["data"]["postInvoice"]["replayed"]
            .as_bool()
            .unwrap_or_else(|| panic!("{replay}")),
    ];
    replayed.sort();
    assert_eq!(replayed, vec![false, true], "{one} {replay}");
    assert_eq!(
        one["data"]["postInvoice"]["invoice"]["reference"],
        replay["data"]["postInvoice"]["invoice"]["reference"]
    );
    assert_eq!(refusal(&answers[42]).0, json!("NOT_FOUND"));
    assert_eq!(
        refusal(&answers[43]),
        (json!("CONFLICT"), json!("PERIOD_LOCKED"))
    );
    assert_eq!(
        company.invoice_state(&app, &locked).await["status"],
        "DRAFT"
    );
    // Every draft posted once, numbered 1 to 40 without a gap.
    let mut references = Vec::new();
    for id in &drafts {
        let data = app
            .ok(
                &company.token,
                "query($id: ID!) { invoice(id: $id) { status reference } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(data["invoice"]["status"], "POSTED", "{data}");
        references.push(data["invoice"]["reference"].as_str().unwrap().to_owned());
    }
    references.sort();
    let year = this_year();
    assert_eq!(
        references,
        (1..=40)
            .map(|n| format!("INV/{year}/{n:05}"))
            .collect::<Vec<_>>()
    );
    for event_type in ["invoice.posted", "journal.posted"] {
        assert_eq!(
            outbox_count(&app, &company.tenant, event_type).await,
            40,
            "{event_type}"
        );
    }
    // The day's running control total counts every invoice: 1.00 + ... + 40.00.
    let db = &app.runtime.db;
    let total = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT records, amount FROM finance_control_totals WHERE tenant_id = '{}'",
                company.tenant
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            total.try_get::<i64>("", "records").unwrap(),
            total.try_get::<i64>("", "amount").unwrap()
        ),
        (40, 82_000)
    );
    assert_eq!(
        verified_sales_chain(&app, &company).await,
        json!({"valid": true, "entriesChecked": 40})
    );
    company.assert_reconciled(&app).await;
}

/// One batch of postings as the tenant's writer posts it: a posting refused by a rule (a
/// locked period, a second posting of a draft, a key reused for another draft) gets its own
/// error and takes no number; the others post in one transaction, numbered in batch order
/// without a gap, and a later posting continues the series. Then the fall-back: when the
/// batch's shared write fails (here the database refuses one invoice's row), every posting
/// runs again alone, so only that one fails and the numbers stay contiguous.
async fn a_batch_of_postings_refuses_one_alone_and_numbers_the_rest(
    app: FinanceApp,
    issuer: TestIssuer,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let locked = draft_in_locked_period(&app, &company).await;
    let mut drafts = Vec::new();
    for n in 0..5 {
        drafts.push(draft_invoice(&app, &company, today(), &format!("{}.00", n + 1)).await);
    }
    let actor = erp_finance::app::Actor {
        tenant: TenantId::from_claim(&company.tenant),
        user_id: "u-admin".into(),
        finance_admin: true,
    };
    let request = |key: &str, id: &str| erp_finance::app::posting_queue::PostingRequest {
        actor: actor.clone(),
        idempotency_key: key.into(),
        document_id: id.into(),
    };
    let batch = vec![
        request("b-0", &drafts[0]),
        request("b-late", &locked),
        request("b-1", &drafts[1]),
        request("b-2", &drafts[2]),
        request("b-0-again", &drafts[0]),
        request("b-3", &drafts[3]),
        request("b-1", &drafts[4]),
    ];
    let outcomes = app.finance.post_documents_together(&batch).await;
    let reasons: Vec<Option<&str>> = outcomes
        .iter()
        .map(|o| match o {
            Ok(outcome) => {
                assert!(!outcome.replayed);
                None
            }
            Err(err) => Some(err.reason().map(|r| r.name()).unwrap_or("none")),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            None,
            Some("PERIOD_LOCKED"),
            None,
            None,
            Some("NOT_DRAFT"),
            None,
            Some("IDEMPOTENCY_KEY_REUSED"),
        ]
    );
    let year = this_year();
    let reference = |id: String| {
        let (app, company) = (&app, &company);
        async move {
            app.ok(
                &company.token,
                "query($id: ID!) { invoice(id: $id) { status reference } }",
                json!({"id": id}),
            )
            .await["invoice"]
                .clone()
        }
    };
    for (n, draft) in drafts[..4].iter().enumerate() {
        assert_eq!(
            reference(draft.clone()).await,
            json!({"status": "POSTED", "reference": format!("INV/{year}/{:05}", n + 1)})
        );
    }
    for draft in [&locked, &drafts[4]] {
        assert_eq!(
            reference(draft.clone()).await,
            json!({"status": "DRAFT", "reference": null})
        );
    }
    // The series continues where the batch left it.
    let posted = app
        .ok(
            &company.token,
            POST_NUMBERED,
            json!({"input": {"idempotencyKey": "b-4", "invoiceId": drafts[4]}}),
        )
        .await;
    assert_eq!(
        posted["postInvoice"]["invoice"]["reference"],
        format!("INV/{year}/00005")
    );
    assert_eq!(
        outbox_count(&app, &company.tenant, "invoice.posted").await,
        5
    );

    // The fall-back: a batch whose shared write fails posts each alone.
    let mut more = Vec::new();
    for n in 0..4 {
        more.push(draft_invoice(&app, &company, today(), &format!("{}.50", n + 1)).await);
    }
    let db = &app.runtime.db;
    let backend = db.get_database_backend();
    let refuse_row = match backend {
        sea_orm::DatabaseBackend::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_one_invoice() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.id = '{}' AND NEW.number IS NOT NULL THEN \
                 RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
                more[1]
            ),
            "CREATE TRIGGER refuse_one_invoice BEFORE UPDATE ON finance_documents \
             FOR EACH ROW EXECUTE FUNCTION refuse_one_invoice()"
                .to_owned(),
        ],
        _ => vec![format!(
            "CREATE TRIGGER refuse_one_invoice BEFORE UPDATE ON finance_documents \
             WHEN NEW.id = '{}' AND NEW.number IS NOT NULL \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            more[1]
        )],
    };
    for sql in refuse_row {
        db.execute_unprepared(&sql).await.unwrap();
    }
    let batch: Vec<_> = more
        .iter()
        .enumerate()
        .map(|(n, id)| request(&format!("f-{n}"), id))
        .collect();
    let outcomes = app.finance.post_documents_together(&batch).await;
    let failed: Vec<bool> = outcomes.iter().map(|o| o.is_err()).collect();
    assert_eq!(failed, vec![false, true, false, false]);
    let drop_trigger = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "DROP TRIGGER refuse_one_invoice ON finance_documents"
        }
        _ => "DROP TRIGGER refuse_one_invoice",
    };
    db.execute_unprepared(drop_trigger).await.unwrap();
    assert_eq!(
        reference(more[1].clone()).await,
        json!({"status": "DRAFT", "reference": null})
    );
    for (id, n) in [(&more[0], 6), (&more[2], 7), (&more[3], 8)] {
        assert_eq!(
            reference(id.clone()).await,
            json!({"status": "POSTED", "reference": format!("INV/{year}/{n:05}")})
        );
    }
    assert_eq!(
        outbox_count(&app, &company.tenant, "invoice.posted").await,
        8
    );
    assert_eq!(
        verified_sales_chain(&app, &company).await,
        json!({"valid": true, "entriesChecked": 8})
    );
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn a_batch_of_postings_refuses_one_alone_and_numbers_the_rest_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    a_batch_of_postings_refuses_one_alone_and_numbers_the_rest(app, issuer).await;
}

#[tokio::test]
async fn a_batch_of_postings_refuses_one_alone_and_numbers_the_rest_on_embedded_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    a_batch_of_postings_refuses_one_alone_and_numbers_the_rest(app, issuer).await;
}

/// Issue 17: `createPartner` for a CRM client that was merged away creates the partner of the
/// survivor (followed through a chain of merges), as the CRM answers a merged-away client's
/// id with its survivor and finance invoices its accepted quotes there; once the merge is
/// undone, the client is its own again. Merges arrive as the CRM's events on the bus.
#[tokio::test]
async fn a_partner_created_for_a_merged_away_client_belongs_to_the_survivor() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let tenant = TenantId::from_claim(&company.tenant);
    let create = |client: &'static str| {
        let (app, token) = (&app, &company.token);
        async move {
            app.ok(
                token,
                "mutation($input: CreatePartnerInput!) { createPartner(input: $input) { partner { id clientId } } }",
                json!({"input": {"kind": "CUSTOMER", "name": format!("Customer of {client}"), "clientId": client}}),
            )
            .await["createPartner"]["partner"]
                .clone()
        }
    };
    let client_of = |partner: Value| {
        let (app, token) = (&app, &company.token);
        async move {
            let id = partner["id"].as_str().unwrap().to_owned();
            let data = app
                .ok(
                    token,
                    "{ partners(kind: CUSTOMER, first: 50) { edges { node { id clientId } } } }",
                    json!({}),
                )
                .await;
            data["partners"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|edge| edge["node"]["id"] == id.as_str())
                .map(|edge| edge["node"]["clientId"].clone())
                .unwrap()
        }
    };
    let merge = |event_type: &'static str,
                 merge_id: &'static str,
                 source: &'static str,
                 target: &'static str| {
        EventEnvelope::new(
            &tenant,
            event_type,
            source,
            json!({"source_client_id": source, "target_client_id": target, "merge_id": merge_id,
                   "target_client_name": format!("Client {target}")}),
        )
        .unwrap()
    };
    // Before any merge a client is its own.
    let first = create("client-a").await;
    assert_eq!(first["clientId"], "client-a");
    let witness = create("client-b").await;
    // A merged into B, then B into C: A's partner moves to B, then B's partners to C.
    publish(
        &app,
        "crm",
        &merge("client.merged", "m-1", "client-a", "client-b"),
    )
    .await;
    let moved = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        (client_of(first.clone()).await == "client-b").then_some(())
    })
    .await;
    assert!(moved.is_some(), "the merge into B was followed");
    assert_eq!(create("client-a").await["clientId"], "client-b");
    publish(
        &app,
        "crm",
        &merge("client.merged", "m-2", "client-b", "client-c"),
    )
    .await;
    let moved = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        (client_of(witness.clone()).await == "client-c").then_some(())
    })
    .await;
    assert!(moved.is_some(), "the merge into C was followed");
    assert_eq!(create("client-a").await["clientId"], "client-c");
    assert_eq!(create("client-b").await["clientId"], "client-c");
    // The merge of A undone: A is its own again (B stays merged into C).
    publish(
        &app,
        "crm",
        &merge("client.merge_undone", "m-1", "client-a", "client-b"),
    )
    .await;
    let undone = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        (client_of(first.clone()).await == "client-a").then_some(())
    })
    .await;
    assert!(undone.is_some(), "the undo was followed");
    assert_eq!(create("client-a").await["clientId"], "client-a");
    assert_eq!(create("client-b").await["clientId"], "client-c");
}

const DELETE_DRAFT_INVOICE: &str = "mutation($input: DeleteDraftInvoiceInput!) { deleteDraftInvoice(input: $input) { deletedId releasedTimeEntryIds } }";
const DELETE_DRAFT_BILL: &str = "mutation($input: DeleteDraftBillInput!) { deleteDraftBill(input: $input) { deletedId releasedTimeEntryIds } }";

/// The `invoice.draft_deleted` envelopes of `tenant` in finance's outbox, oldest first.
async fn draft_deleted_events(app: &FinanceApp, tenant: &str) -> Vec<EventEnvelope> {
    let db = &app.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT envelope FROM finance_outbox WHERE tenant_id = '{tenant}' \
             AND event_type = 'invoice.draft_deleted' ORDER BY seq"
        ),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap())
    .collect()
}

/// How many lines of `document` are stored (a deleted draft's: none).
async fn stored_lines(app: &FinanceApp, document: &str) -> i64 {
    let db = &app.runtime.db;
    db.query_one(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT COUNT(*) AS n FROM finance_document_lines WHERE document_id = '{document}'"
        ),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

/// PMO approved `timesheet` (a new event each call, as a re-approval publishes): on the
/// embedded bus finance's billing consumer bills it; on the real services (where the
/// consumers do not run, see `FinanceApp::spawn_with`) the same use case the consumer runs,
/// in its own write transaction on PostgreSQL.
async fn approve_time(app: &FinanceApp, embedded: bool, tenant: &str, timesheet: &str) {
    let event = timesheet_approved(
        tenant,
        timesheet,
        "2026-W10",
        json!([{"project_id": "prj-t", "billable_hours": 7.5, "non_billable_hours": 0.0,
                "billable_seconds": 27000, "non_billable_seconds": 0}]),
    );
    if embedded {
        publish(app, "pmo", &event).await;
        let db = &app.runtime.db;
        let handled = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
            let rows = db
                .query_all(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!(
                        "SELECT event_id FROM finance_inbox WHERE consumer_group = 'erp.finance.billing' AND event_id = '{}'",
                        event.id
                    ),
                ))
                .await
                .unwrap();
            (!rows.is_empty()).then_some(())
        })
        .await;
        assert!(
            handled.is_some(),
            "the billing consumer handled {}",
            event.id
        );
        return;
    }
    let approved: erp_finance::app::billing::TimesheetApproved =
        serde_json::from_value(event.payload).unwrap();
    let txn = erp_kit::db::begin_write(&app.runtime.db).await.unwrap();
    app.finance
        .bill_approved_timesheet(&*txn, &TenantId::from_claim(tenant), &approved)
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

/// prj-t's invoices, once there are `count` with `lines` lines in all: (id, status, the
/// lines' time entries).
async fn time_invoices(
    app: &FinanceApp,
    company: &Company,
    count: usize,
    lines: usize,
) -> Vec<(String, String, Vec<String>)> {
    let read = || async {
        app.ok(
            &company.token,
            "{ invoices(projectId: \"prj-t\", first: 10) { edges { node { id status lines { timeEntryId } } } } }",
            json!({}),
        )
        .await["invoices"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| {
                let node = &edge["node"];
                (
                    node["id"].as_str().unwrap().to_owned(),
                    node["status"].as_str().unwrap().to_owned(),
                    node["lines"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|line| line["timeEntryId"].as_str().unwrap().to_owned())
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    let found = erp_tests::eventually(std::time::Duration::from_secs(20), || async {
        let invoices = read().await;
        let billed: usize = invoices.iter().map(|(_, _, lines)| lines.len()).sum();
        (invoices.len() == count && billed == lines).then_some(invoices)
    })
    .await;
    match found {
        Some(invoices) => invoices,
        None => panic!(
            "{count} invoices of prj-t with {lines} lines: {:?}",
            read().await
        ),
    }
}

/// Draft deletion: a draft invoice goes with its lines and `invoice.draft_deleted` (schema
/// version 1, the payload analytics parses) in one transaction, takes no number (the next
/// posting follows the last without a gap), releases the time entries it billed (approved
/// PMO time billed again exactly once, a hand-drafted line's time entry too); a posted
/// invoice, a second deletion, another tenant's draft, a recurring schedule's invoice and a
/// document of the other side are refused with their codes and change nothing; credit notes
/// and vendor bills are deleted the same way (no event).
async fn draft_invoices_and_bills_are_deleted_and_release_their_billed_time(
    app: FinanceApp,
    issuer: TestIssuer,
    embedded: bool,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let date = today();
    let year = this_year();
    let first = company.posted_invoice(&app, "del-1", "100.00", date).await;

    // A draft with a hand-drafted time entry: no number until posted.
    let created = app
        .ok(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            json!({"input": {"partnerId": company.customer, "date": date.to_string(), "currency": "EUR", "projectId": "prj-d",
                "lines": [{"description": "Design", "quantity": "2", "unitPrice": "80.00", "timeEntryId": "te-hand-1"},
                          {"description": "Licence", "quantity": "1", "unitPrice": "40.00", "taxId": company.vat}]}}),
        )
        .await;
    let draft = created["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created["createInvoice"]["invoice"]["number"], Value::Null);
    assert_eq!(stored_lines(&app, &draft).await, 2);

    // Only finance:write deletes.
    let reader = issuer.token(&company.tenant, "u-reader", &["finance:read"]);
    let (code, _) = app
        .refused(
            &reader,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft}}),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    // Another tenant's draft is as unknown as a missing one, and stays.
    let other = Company::open(&app, &issuer, "GLOBAL").await;
    let foreign = app
        .refused(
            &other.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft}}),
        )
        .await;
    assert_eq!(foreign, ("NOT_FOUND".into(), String::new()));
    assert_eq!(stored_lines(&app, &draft).await, 2);
    // A posted invoice is credited, never deleted: refused, unchanged.
    let before = app
        .ok(&company.token, "query($id: ID!) { invoice(id: $id) { status reference total { amount } lines { description } } }", json!({"id": first}))
        .await;
    let posted = app
        .refused(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": first}}),
        )
        .await;
    assert_eq!(posted, ("CONFLICT".into(), "NOT_DRAFT".into()));
    let after = app
        .ok(&company.token, "query($id: ID!) { invoice(id: $id) { status reference total { amount } lines { description } } }", json!({"id": first}))
        .await;
    assert_eq!(after, before);
    assert_eq!(after["invoice"]["reference"], format!("INV/{year}/00001"));
    assert!(draft_deleted_events(&app, &company.tenant).await.is_empty());

    // The draft deleted: gone with its lines, its time entry released, the event enqueued
    // with it.
    let deleted = app
        .ok(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft}}),
        )
        .await;
    assert_eq!(
        deleted["deleteDraftInvoice"],
        json!({"deletedId": draft, "releasedTimeEntryIds": ["te-hand-1"]})
    );
    let gone = app
        .ok(
            &company.token,
            "query($id: ID!) { invoice(id: $id) { id } }",
            json!({"id": draft}),
        )
        .await;
    assert_eq!(gone["invoice"], Value::Null);
    assert_eq!(stored_lines(&app, &draft).await, 0);
    let events = draft_deleted_events(&app, &company.tenant).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].schema_version, 1);
    assert_eq!(events[0].aggregate_id, draft);
    assert_eq!(events[0].actor.as_deref(), Some("u-admin"));
    assert_eq!(
        events[0].payload,
        json!({"invoice_id": draft, "project_id": "prj-d", "line_keys": ["te-hand-1"]})
    );
    // Deleting it again: not found, nothing enqueued.
    let again = app
        .refused(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft}}),
        )
        .await;
    assert_eq!(again, ("NOT_FOUND".into(), String::new()));
    assert_eq!(draft_deleted_events(&app, &company.tenant).await.len(), 1);
    // Its time entry is billable again, once.
    let rebill = |key: &'static str| {
        let (app, company) = (&app, &company);
        async move {
            app.graphql(
                &company.token,
                &create_invoice_mutation("createInvoice"),
                company.invoice(date, json!([{"description": "Design", "quantity": "2", "unitPrice": "80.00", "timeEntryId": key}])),
            )
            .await
        }
    };
    let (_, rebilled) = rebill("te-hand-1").await;
    assert!(rebilled["errors"].is_null(), "{rebilled}");
    let (_, twice) = rebill("te-hand-1").await;
    assert_eq!(
        twice["errors"][0]["extensions"]["reason"], "TIME_ENTRY_ALREADY_BILLED",
        "{twice}"
    );
    // The deleted draft took no number: the next posting follows the first.
    let second = company.posted_invoice(&app, "del-2", "50.00", date).await;
    let reference = app
        .ok(
            &company.token,
            "query($id: ID!) { invoice(id: $id) { reference } }",
            json!({"id": second}),
        )
        .await;
    assert_eq!(
        reference["invoice"]["reference"],
        format!("INV/{year}/00002")
    );

    // Approved PMO time on a draft: released by the deletion, billed again exactly once.
    app.ok(
        &company.token,
        "mutation($input: SetProjectBillingRateInput!) { setProjectBillingRate(input: $input) { billingRate { customerId } } }",
        json!({"input": {"projectId": "prj-t", "customerId": company.customer, "currency": "EUR", "hourlyRate": "120.00"}}),
    )
    .await;
    approve_time(&app, embedded, &company.tenant, "ts-1").await;
    let billed = time_invoices(&app, &company, 1, 1).await;
    let key = "timesheet:ts-1:prj-t".to_owned();
    assert_eq!(billed[0].1, "DRAFT");
    assert_eq!(billed[0].2, vec![key.clone()]);
    let time_draft = billed[0].0.clone();
    let deleted = app
        .ok(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": time_draft}}),
        )
        .await;
    assert_eq!(
        deleted["deleteDraftInvoice"]["releasedTimeEntryIds"],
        json!([key])
    );
    let events = draft_deleted_events(&app, &company.tenant).await;
    assert_eq!(
        events[1].payload,
        json!({"invoice_id": time_draft, "project_id": "prj-t", "line_keys": [key]})
    );
    assert_eq!(time_invoices(&app, &company, 0, 0).await, vec![]);
    // PMO approves the timesheet again (a new event, each handled before the next): billed on
    // a new draft, once however often it comes.
    approve_time(&app, embedded, &company.tenant, "ts-1").await;
    approve_time(&app, embedded, &company.tenant, "ts-1").await;
    let rebilled = time_invoices(&app, &company, 1, 1).await;
    assert_ne!(rebilled[0].0, time_draft);
    assert_eq!(rebilled[0].2, vec![key.clone()]);
    let by_hand = app
        .refused(
            &company.token,
            &create_invoice_mutation("createInvoice"),
            company.invoice(date, json!([{"description": "Time", "quantity": "1", "unitPrice": "1.00", "timeEntryId": key}])),
        )
        .await;
    assert_eq!(
        by_hand,
        ("CONFLICT".into(), "TIME_ENTRY_ALREADY_BILLED".into())
    );

    // A recurring schedule's invoice stays (its month would be generated again).
    app.ok(
        &company.token,
        "mutation($input: CreateRecurringScheduleInput!) { createRecurringSchedule(input: $input) { id } }",
        json!({"input": {"partnerId": company.customer, "name": "Hosting", "currency": "EUR", "dayOfMonth": 1,
            "startsOn": NaiveDate::from_ymd_opt(year, 1, 1).unwrap().to_string(), "endsOn": NaiveDate::from_ymd_opt(year, 1, 31).unwrap().to_string(),
            "lines": [{"description": "Hosting", "quantity": "1", "unitPrice": "49.90"}]}}),
    )
    .await;
    let generated = app
        .ok(
            &company.token,
            "mutation($input: GenerateRecurringInvoicesInput!) { generateRecurringInvoices(input: $input) { created { id status } } }",
            json!({"input": {"asOf": date.to_string(), "post": false}}),
        )
        .await;
    let recurring = generated["generateRecurringInvoices"]["created"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = app
        .refused(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": recurring}}),
        )
        .await;
    assert_eq!(kept, ("CONFLICT".into(), "RECURRING_DRAFT".into()));
    assert_eq!(stored_lines(&app, &recurring).await, 1);

    // A draft credit note is deleted too (no event: it bills no time).
    let note = app
        .ok(
            &company.token,
            "mutation($input: CreateCreditNoteInput!) { createCreditNote(input: $input) { invoice { id } } }",
            json!({"input": {"invoiceId": second, "date": date.to_string()}}),
        )
        .await["createCreditNote"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .ok(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": note}}),
        )
        .await;
    assert_eq!(
        deleted["deleteDraftInvoice"],
        json!({"deletedId": note, "releasedTimeEntryIds": []})
    );
    assert_eq!(stored_lines(&app, &note).await, 0);

    // Vendor bills: a draft is deleted (no event), a posted one is refused, and each mutation
    // keeps to its side.
    let bill = |amount: &'static str| {
        let (app, company) = (&app, &company);
        async move {
            app.ok(
                &company.token,
                &create_invoice_mutation("createBill"),
                json!({"input": {"partnerId": company.vendor, "date": date.to_string(), "currency": "EUR",
                    "lines": [{"description": "Paper", "quantity": "1", "unitPrice": amount}]}}),
            )
            .await["createBill"]["invoice"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let draft_bill = bill("30.00").await;
    let posted_bill = bill("20.00").await;
    app.ok(
        &company.token,
        &post_invoice_mutation(),
        json!({"input": {"idempotencyKey": "del-bill", "invoiceId": posted_bill}}),
    )
    .await;
    let wrong_side = app
        .refused(
            &company.token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft_bill}}),
        )
        .await;
    assert_eq!(wrong_side.0, "BAD_USER_INPUT");
    let wrong_side = app
        .refused(
            &company.token,
            DELETE_DRAFT_BILL,
            json!({"input": {"billId": rebilled[0].0}}),
        )
        .await;
    assert_eq!(wrong_side.0, "BAD_USER_INPUT");
    let posted = app
        .refused(
            &company.token,
            DELETE_DRAFT_BILL,
            json!({"input": {"billId": posted_bill}}),
        )
        .await;
    assert_eq!(posted, ("CONFLICT".into(), "NOT_DRAFT".into()));
    let deleted = app
        .ok(
            &company.token,
            DELETE_DRAFT_BILL,
            json!({"input": {"billId": draft_bill}}),
        )
        .await;
    assert_eq!(
        deleted["deleteDraftBill"],
        json!({"deletedId": draft_bill, "releasedTimeEntryIds": []})
    );
    assert_eq!(stored_lines(&app, &draft_bill).await, 0);
    let again = app
        .refused(
            &company.token,
            DELETE_DRAFT_BILL,
            json!({"input": {"billId": draft_bill}}),
        )
        .await;
    assert_eq!(again, ("NOT_FOUND".into(), String::new()));
    assert_eq!(draft_deleted_events(&app, &company.tenant).await.len(), 2);
    // The other tenant's books saw none of it.
    assert!(draft_deleted_events(&app, &other.tenant).await.is_empty());
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn draft_invoices_and_bills_are_deleted_and_release_their_billed_time_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    draft_invoices_and_bills_are_deleted_and_release_their_billed_time(app, issuer, false).await;
}

#[tokio::test]
async fn draft_invoices_and_bills_are_deleted_and_release_their_billed_time_on_embedded_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    draft_invoices_and_bills_are_deleted_and_release_their_billed_time(app, issuer, true).await;
}

// Races on a draft (issue 17): its deletion against its posting, against the billing consumer
// adding approved time to it, and against its edit. On PostgreSQL the racers run at once and
// meet on the draft's row lock (every writer of a draft takes its row first); on embedded
// SQLite the writers of the process take turns (`erp_kit::db::begin_write`), so a race there
// decides only which whole transaction goes first, and the same invariants must hold for
// either order.

const POST_RACED: &str =
    "mutation($input: PostInvoiceInput!) { postInvoice(input: $input) { invoice { id status reference } } }";

/// An answer's first error as (`extensions.code`, `extensions.reason`), `None` when it
/// succeeded.
fn refusal_of(answer: &Value) -> Option<(String, String)> {
    let error = &answer["errors"][0];
    (!error.is_null()).then(|| {
        (
            error["extensions"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            error["extensions"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    })
}

/// The single number `sql` selects as `n`.
async fn count_of(app: &FinanceApp, sql: String) -> i64 {
    let db = &app.runtime.db;
    db.query_one(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

/// The `event_type` envelopes of `tenant` in finance's outbox, oldest first.
async fn outbox_events(app: &FinanceApp, tenant: &str, event_type: &str) -> Vec<EventEnvelope> {
    let db = &app.runtime.db;
    db.query_all(sea_orm::Statement::from_string(
        db.get_database_backend(),
        format!(
            "SELECT envelope FROM finance_outbox WHERE tenant_id = '{tenant}' \
             AND event_type = '{event_type}' ORDER BY seq"
        ),
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap())
    .collect()
}

/// Lines of `tenant` whose document does not exist (none, ever).
async fn orphan_lines(app: &FinanceApp, tenant: &str) -> i64 {
    count_of(
        app,
        format!(
            "SELECT COUNT(*) AS n FROM finance_document_lines l WHERE l.tenant_id = '{tenant}' \
             AND NOT EXISTS (SELECT 1 FROM finance_documents d WHERE d.id = l.document_id)"
        ),
    )
    .await
}

/// Documents of `tenant` whose untaxed total is not the sum of their lines' subtotals (none:
/// a header is written with its lines).
async fn headers_off_their_lines(app: &FinanceApp, tenant: &str) -> i64 {
    count_of(
        app,
        format!(
            "SELECT COUNT(*) AS n FROM finance_documents d WHERE d.tenant_id = '{tenant}' \
             AND d.untaxed <> (SELECT COALESCE(SUM(l.subtotal), 0) FROM finance_document_lines l \
             WHERE l.document_id = d.id)"
        ),
    )
    .await
}

/// How many stored lines of `tenant` bill `time_entry` (at most one: a unique key).
async fn lines_billing(app: &FinanceApp, tenant: &str, time_entry: &str) -> i64 {
    count_of(
        app,
        format!(
            "SELECT COUNT(*) AS n FROM finance_document_lines WHERE tenant_id = '{tenant}' \
             AND time_entry_id = '{time_entry}'"
        ),
    )
    .await
}

/// A draft invoice of one taxed line billing `time_entry`: its id.
async fn draft_billing(
    app: &FinanceApp,
    company: &Company,
    time_entry: &str,
    price: &str,
) -> String {
    app.ok(
        &company.token,
        &create_invoice_mutation("createInvoice"),
        company.invoice(
            today(),
            json!([{"description": "Design", "quantity": "1", "unitPrice": price,
                    "taxId": company.vat, "timeEntryId": time_entry}]),
        ),
    )
    .await["createInvoice"]["invoice"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `deleteDraftInvoice` and `postInvoice` of the same draft, raced: 30 rounds of one pair
/// each, then 10 pairs at once (the postings then batch in the tenant's writer). Exactly one
/// of each pair wins: the deletion's loser is CONFLICT/NOT_DRAFT, the posting's NOT_FOUND. A
/// posted invoice keeps its line, its balanced entry, its `invoice.posted` and no
/// `invoice.draft_deleted`; a deleted draft leaves no line, no entry, no `invoice.posted` and
/// one `invoice.draft_deleted` listing its time entry. The posted invoices are numbered
/// without a gap (a deleted draft took no number), the sales chain verifies, each billed time
/// entry is on the posted invoice or billable again (once), and the books reconcile.
async fn a_draft_raced_by_its_deletion_and_its_posting_is_either_posted_or_gone(
    app: FinanceApp,
    issuer: TestIssuer,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let token = company.token.as_str();
    let mut drafts = Vec::new();
    for n in 0..40 {
        let entry = format!("te-race-{n}");
        let draft = draft_billing(&app, &company, &entry, &format!("{}.00", n + 10)).await;
        drafts.push((draft, entry));
    }
    let delete = |draft: &str| {
        app.graphql(
            token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft}}),
        )
    };
    let post = |draft: &str, n: usize| {
        app.graphql(
            token,
            POST_RACED,
            json!({"input": {"idempotencyKey": format!("race-{n}"), "invoiceId": draft}}),
        )
    };
    // (deletion's answer, posting's answer) of each draft. One side of a round starts a few
    // milliseconds after the other (either side, by turns), so that either may win where the
    // writers take turns (SQLite); the assertions hold whichever does.
    let after = |n: usize| tokio::time::sleep(std::time::Duration::from_millis((n % 8) as u64));
    let mut answers: Vec<(Value, Value)> = Vec::new();
    for (n, (draft, _)) in drafts.iter().enumerate().take(30) {
        let ((_, deleted), (_, posted)) = if n % 2 == 0 {
            tokio::join!(delete(draft), async {
                after(n).await;
                post(draft, n).await
            })
        } else {
            tokio::join!(
                async {
                    after(n).await;
                    delete(draft).await
                },
                post(draft, n)
            )
        };
        answers.push((deleted, posted));
    }
    let burst = futures::future::join_all(drafts.iter().enumerate().skip(30).map(
        |(n, (draft, _))| async move {
            let ((_, deleted), (_, posted)) = tokio::join!(delete(draft), post(draft, n));
            (deleted, posted)
        },
    ))
    .await;
    answers.extend(burst);

    let (mut posted, mut deleted) = (Vec::new(), Vec::new());
    for ((draft, entry), (deletion, posting)) in drafts.iter().zip(&answers) {
        match (refusal_of(deletion), refusal_of(posting)) {
            (None, Some(refused)) => {
                assert_eq!(refused, ("NOT_FOUND".into(), String::new()), "{posting}");
                assert_eq!(
                    deletion["data"]["deleteDraftInvoice"],
                    json!({"deletedId": draft, "releasedTimeEntryIds": [entry]})
                );
                deleted.push((draft.clone(), entry.clone()));
            }
            (Some(refused), None) => {
                assert_eq!(
                    refused,
                    ("CONFLICT".into(), "NOT_DRAFT".into()),
                    "{deletion}"
                );
                assert_eq!(
                    posting["data"]["postInvoice"]["invoice"]["status"], "POSTED",
                    "{posting}"
                );
                posted.push((draft.clone(), entry.clone()));
            }
            _ => panic!("exactly one of a deletion and a posting wins: {deletion} {posting}"),
        }
    }
    eprintln!("{} drafts posted, {} deleted", posted.len(), deleted.len());

    let invoice_posted = outbox_events(&app, &company.tenant, "invoice.posted").await;
    let draft_deleted = outbox_events(&app, &company.tenant, "invoice.draft_deleted").await;
    let events_of = |events: &[EventEnvelope], id: &str| {
        events
            .iter()
            .filter(|event| event.aggregate_id == id)
            .map(|event| event.payload.clone())
            .collect::<Vec<_>>()
    };
    let mut references = Vec::new();
    for (id, entry) in &posted {
        let data = app
            .ok(
                token,
                "query($id: ID!) { invoice(id: $id) { status reference lines { timeEntryId } \
                 entry { lines { debit { amount } credit { amount } } } } }",
                json!({"id": id}),
            )
            .await;
        let invoice = &data["invoice"];
        assert_eq!(invoice["status"], "POSTED", "{data}");
        assert_eq!(invoice["lines"], json!([{"timeEntryId": entry}]), "{data}");
        let minor = |side: &str| -> i64 {
            invoice["entry"]["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|line| {
                    let amount: f64 = line[side]["amount"].as_str().unwrap().parse().unwrap();
                    (amount * 100.0).round() as i64
                })
                .sum()
        };
        assert!(minor("debit") > 0, "{data}");
        assert_eq!(minor("debit"), minor("credit"), "{data}");
        references.push(invoice["reference"].as_str().unwrap().to_owned());
        assert_eq!(stored_lines(&app, id).await, 1);
        assert_eq!(events_of(&invoice_posted, id).len(), 1, "{id}");
        assert!(events_of(&draft_deleted, id).is_empty(), "{id}");
        assert_eq!(lines_billing(&app, &company.tenant, entry).await, 1);
    }
    for (id, entry) in &deleted {
        let gone = app
            .ok(
                token,
                "query($id: ID!) { invoice(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(gone["invoice"], Value::Null);
        assert_eq!(stored_lines(&app, id).await, 0);
        let entries = count_of(
            &app,
            format!("SELECT COUNT(*) AS n FROM finance_entries WHERE source_id = '{id}'"),
        )
        .await;
        assert_eq!(entries, 0, "{id}");
        assert!(events_of(&invoice_posted, id).is_empty(), "{id}");
        assert_eq!(
            events_of(&draft_deleted, id),
            vec![json!({"invoice_id": id, "project_id": null, "line_keys": [entry]})]
        );
        assert_eq!(lines_billing(&app, &company.tenant, entry).await, 0);
    }
    assert_eq!(invoice_posted.len(), posted.len());
    assert_eq!(draft_deleted.len(), deleted.len());
    assert_eq!(
        outbox_count(&app, &company.tenant, "journal.posted").await,
        posted.len() as i64
    );
    // Numbered 1..k without a gap: a deleted draft took no number, a lost posting none either.
    references.sort();
    let year = this_year();
    assert_eq!(
        references,
        (1..=posted.len())
            .map(|n| format!("INV/{year}/{n:05}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        verified_sales_chain(&app, &company).await,
        json!({"valid": true, "entriesChecked": posted.len()})
    );
    // The released time entries are billable again, once; the posted ones stay billed.
    if !deleted.is_empty() {
        let lines: Vec<Value> = deleted
            .iter()
            .map(|(_, entry)| json!({"description": "Design", "quantity": "1", "unitPrice": "10.00", "timeEntryId": entry}))
            .collect();
        let create = create_invoice_mutation("createInvoice");
        let rebill = || app.graphql(token, &create, company.invoice(today(), json!(lines)));
        let (_, first) = rebill().await;
        assert!(first["errors"].is_null(), "{first}");
        let (_, second) = rebill().await;
        assert_eq!(
            refusal_of(&second),
            Some(("CONFLICT".into(), "TIME_ENTRY_ALREADY_BILLED".into()))
        );
    }
    if let Some((_, entry)) = posted.first() {
        let (_, again) = app
            .graphql(
                token,
                &create_invoice_mutation("createInvoice"),
                company.invoice(today(), json!([{"description": "Design", "quantity": "1", "unitPrice": "10.00", "timeEntryId": entry}])),
            )
            .await;
        assert_eq!(
            refusal_of(&again),
            Some(("CONFLICT".into(), "TIME_ENTRY_ALREADY_BILLED".into()))
        );
    }
    assert_eq!(orphan_lines(&app, &company.tenant).await, 0);
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn a_draft_raced_by_its_deletion_and_its_posting_is_either_posted_or_gone_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    a_draft_raced_by_its_deletion_and_its_posting_is_either_posted_or_gone(app, issuer).await;
}

#[tokio::test]
async fn a_draft_raced_by_its_deletion_and_its_posting_is_either_posted_or_gone_on_embedded_sqlite()
{
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    a_draft_raced_by_its_deletion_and_its_posting_is_either_posted_or_gone(app, issuer).await;
}

/// PMO approved `timesheet`'s 7.5 billable hours on `project`: a new event each call.
fn approved_on(tenant: &str, timesheet: &str, project: &str) -> EventEnvelope {
    timesheet_approved(
        tenant,
        timesheet,
        "2026-W11",
        json!([{"project_id": project, "billable_hours": 7.5, "non_billable_hours": 0.0,
                "billable_seconds": 27000, "non_billable_seconds": 0}]),
    )
}

/// Finance's billing consumer handles `event`. On the embedded bus: published, and handled
/// by the running consumer (awaited in its inbox). On the real services, where the consumers
/// do not run (see `FinanceApp::spawn_with`): the consumer's own handler in a write
/// transaction, run again after a failure as the consumer retries one (a draft posted or
/// deleted under it), at most five times.
async fn billed_by_the_consumer(app: &FinanceApp, embedded: bool, event: &EventEnvelope) {
    use erp_kit::events::{EventHandler, HandlerError};
    if embedded {
        publish(app, "pmo", event).await;
        let handled = erp_tests::eventually(std::time::Duration::from_secs(30), || async {
            let n = count_of(
                app,
                format!(
                    "SELECT COUNT(*) AS n FROM finance_inbox WHERE consumer_group = 'erp.finance.billing' \
                     AND event_id = '{}'",
                    event.id
                ),
            )
            .await;
            (n == 1).then_some(())
        })
        .await;
        assert!(
            handled.is_some(),
            "the billing consumer handled {}",
            event.id
        );
        return;
    }
    let handler = erp_finance::consumers::BillingHandler(app.finance.clone());
    for attempt in 1.. {
        let mut write = erp_kit::db::begin_write(&app.runtime.db).await.unwrap();
        match handler.handle(&mut write, event).await {
            Ok(()) => {
                write.commit().await.unwrap();
                return;
            }
            Err(HandlerError::Failed(message)) if attempt < 5 => {
                eprintln!("billing {} failed, retried: {message}", event.id);
                write.rollback().await.unwrap();
            }
            Err(err) => panic!("billing {} failed for good: {err:?}", event.id),
        }
    }
}

/// `deleteDraftInvoice` of a project's time-billing draft raced by the billing consumer adding
/// two more approved timesheets of the project (20 projects, one race each). The deletion
/// always succeeds. Each time entry then ends exactly once either on a line of a live draft
/// (billed after the deletion: on a new draft) or released by the deletion, never both and
/// never neither; its one `timesheet.billed` names the draft that holds it, or the deleted
/// draft whose `invoice.draft_deleted` lists it (what analytics counts as work in progress
/// always ends). No line outlives its draft, every draft's total is its lines', and the
/// released entries are billed again exactly once.
async fn a_draft_deleted_while_the_consumer_bills_time_on_it_loses_no_time_entry(
    app: FinanceApp,
    issuer: TestIssuer,
    embedded: bool,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let tenant = company.tenant.clone();
    let projects: Vec<String> = (0..20).map(|n| format!("prj-race-{n}")).collect();
    for project in &projects {
        app.ok(
            &company.token,
            "mutation($input: SetProjectBillingRateInput!) { setProjectBillingRate(input: $input) { billingRate { customerId } } }",
            json!({"input": {"projectId": project, "customerId": company.customer, "currency": "EUR", "hourlyRate": "120.00"}}),
        )
        .await;
    }
    let drafts_of = |project: &str| {
        let (app, token, project) = (&app, &company.token, project.to_owned());
        async move {
            app.ok(
                token,
                "query($p: ID!) { invoices(projectId: $p, first: 10) { edges { node { id status lines { timeEntryId } } } } }",
                json!({"p": project}),
            )
            .await["invoices"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| {
                    let node = &edge["node"];
                    assert_eq!(node["status"], "DRAFT");
                    let lines: Vec<String> = node["lines"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|line| line["timeEntryId"].as_str().unwrap().to_owned())
                        .collect();
                    (node["id"].as_str().unwrap().to_owned(), lines)
                })
                .collect::<Vec<_>>()
        }
    };
    let key = |timesheet: &str, project: &str| format!("timesheet:{timesheet}:{project}");

    // Per project: (the deleted draft, what the deletion released).
    let mut raced: Vec<(String, Vec<String>)> = Vec::new();
    for (n, project) in projects.iter().enumerate() {
        billed_by_the_consumer(
            &app,
            embedded,
            &approved_on(&tenant, &format!("ts-{n}-a"), project),
        )
        .await;
        let drafts = drafts_of(project).await;
        assert_eq!(drafts.len(), 1, "{drafts:?}");
        let draft = drafts[0].0.clone();
        let (b, c) = (
            approved_on(&tenant, &format!("ts-{n}-b"), project),
            approved_on(&tenant, &format!("ts-{n}-c"), project),
        );
        let ((_, deletion), (), ()) = tokio::join!(
            app.graphql(
                &company.token,
                DELETE_DRAFT_INVOICE,
                json!({"input": {"invoiceId": draft}}),
            ),
            billed_by_the_consumer(&app, embedded, &b),
            billed_by_the_consumer(&app, embedded, &c),
        );
        assert!(deletion["errors"].is_null(), "{deletion}");
        let deleted = &deletion["data"]["deleteDraftInvoice"];
        assert_eq!(deleted["deletedId"], draft.as_str());
        let released: Vec<String> = deleted["releasedTimeEntryIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry.as_str().unwrap().to_owned())
            .collect();
        raced.push((draft, released));
    }

    let billed_events = outbox_events(&app, &tenant, "timesheet.billed").await;
    let deleted_events = outbox_events(&app, &tenant, "invoice.draft_deleted").await;
    let (mut on_lines, mut released_count) = (0, 0);
    for (n, (project, (draft, released))) in projects.iter().zip(&raced).enumerate() {
        let live = drafts_of(project).await;
        assert!(live.iter().all(|(id, _)| id != draft), "{live:?}");
        let deleted_event: Vec<&EventEnvelope> = deleted_events
            .iter()
            .filter(|event| event.aggregate_id == *draft)
            .collect();
        assert_eq!(deleted_event.len(), 1, "{draft}");
        let mut listed: Vec<String> =
            serde_json::from_value(deleted_event[0].payload["line_keys"].clone()).unwrap();
        let mut answered = released.clone();
        listed.sort();
        answered.sort();
        assert_eq!(
            listed, answered,
            "the event lists what the deletion answered"
        );
        let first = key(&format!("ts-{n}-a"), project);
        assert!(released.contains(&first), "{released:?}");
        for timesheet in ["a", "b", "c"] {
            let entry = key(&format!("ts-{n}-{timesheet}"), project);
            let holders: Vec<&String> = live
                .iter()
                .filter(|(_, lines)| lines.contains(&entry))
                .map(|(id, _)| id)
                .collect();
            let is_released = released.contains(&entry);
            assert_eq!(
                holders.len() + usize::from(is_released),
                1,
                "{entry}: on {holders:?}, released {is_released}"
            );
            assert_eq!(
                lines_billing(&app, &tenant, &entry).await,
                holders.len() as i64
            );
            // Its one billing event names where it went.
            let billed: Vec<&EventEnvelope> = billed_events
                .iter()
                .filter(|event| event.payload["line_key"] == entry.as_str())
                .collect();
            assert_eq!(billed.len(), 1, "{entry}");
            let named = billed[0].payload["invoice_id"].as_str().unwrap();
            match holders.first() {
                Some(holder) => assert_eq!(named, holder.as_str(), "{entry}"),
                None => assert_eq!(named, draft, "{entry}"),
            }
            if is_released {
                released_count += 1;
            } else {
                on_lines += 1;
            }
        }
    }
    eprintln!("{on_lines} time entries billed after the deletion, {released_count} released by it");
    assert_eq!(orphan_lines(&app, &tenant).await, 0);
    assert_eq!(headers_off_their_lines(&app, &tenant).await, 0);

    // The released entries are billed again when PMO approves again: once each, however often.
    for (n, (project, (_, released))) in projects.iter().zip(&raced).enumerate() {
        for timesheet in ["a", "b", "c"] {
            let id = format!("ts-{n}-{timesheet}");
            if !released.contains(&key(&id, project)) {
                continue;
            }
            for _ in 0..2 {
                billed_by_the_consumer(&app, embedded, &approved_on(&tenant, &id, project)).await;
            }
        }
        for timesheet in ["a", "b", "c"] {
            let entry = key(&format!("ts-{n}-{timesheet}"), project);
            assert_eq!(lines_billing(&app, &tenant, &entry).await, 1, "{entry}");
        }
    }
    assert_eq!(orphan_lines(&app, &tenant).await, 0);
    assert_eq!(headers_off_their_lines(&app, &tenant).await, 0);
}

#[tokio::test]
async fn a_draft_deleted_while_the_consumer_bills_time_on_it_loses_no_time_entry_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    a_draft_deleted_while_the_consumer_bills_time_on_it_loses_no_time_entry(app, issuer, false)
        .await;
}

#[tokio::test]
async fn a_draft_deleted_while_the_consumer_bills_time_on_it_loses_no_time_entry_on_embedded_sqlite(
) {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    a_draft_deleted_while_the_consumer_bills_time_on_it_loses_no_time_entry(app, issuer, true)
        .await;
}

const UPDATE_RACED: &str = "mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) { invoice { id lines { timeEntryId } } } }";

/// `deleteDraftInvoice` and `updateInvoice` (new lines, new memo) of the same draft, raced: 30
/// rounds of one pair, then 10 pairs at once. The deletion always succeeds; the edit either
/// succeeded before it (the deletion then released the edit's time entry) or is NOT_FOUND (the
/// deletion released the original one): never a deadlock, a serialization failure or any
/// other INTERNAL_SERVER_ERROR. Nothing of the drafts stays, each deletion's event lists what
/// it released, and every time entry involved is billable again.
async fn a_draft_raced_by_its_deletion_and_its_edit_is_deleted_with_whichever_lines_it_had(
    app: FinanceApp,
    issuer: TestIssuer,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let token = company.token.as_str();
    let mut drafts = Vec::new();
    for n in 0..40 {
        let draft = draft_billing(&app, &company, &format!("te-old-{n}"), "25.00").await;
        drafts.push(draft);
    }
    let delete = |draft: &str| {
        app.graphql(
            token,
            DELETE_DRAFT_INVOICE,
            json!({"input": {"invoiceId": draft}}),
        )
    };
    let update = |draft: &str, n: usize| {
        app.graphql(
            token,
            UPDATE_RACED,
            json!({"input": {"invoiceId": draft, "memo": format!("edit {n}"), "lines": [
                {"description": "Design, revised", "quantity": "2", "unitPrice": "30.00",
                 "taxId": company.vat, "timeEntryId": format!("te-new-{n}")}]}}),
        )
    };
    // As the postings' race: one side a few milliseconds after the other, by turns.
    let after = |n: usize| tokio::time::sleep(std::time::Duration::from_millis((n % 8) as u64));
    let mut answers: Vec<(Value, Value)> = Vec::new();
    for (n, draft) in drafts.iter().enumerate().take(30) {
        let ((_, deleted), (_, updated)) = if n % 2 == 0 {
            tokio::join!(delete(draft), async {
                after(n).await;
                update(draft, n).await
            })
        } else {
            tokio::join!(
                async {
                    after(n).await;
                    delete(draft).await
                },
                update(draft, n)
            )
        };
        answers.push((deleted, updated));
    }
    let burst = futures::future::join_all(drafts.iter().enumerate().skip(30).map(
        |(n, draft)| async move {
            let ((_, deleted), (_, updated)) = tokio::join!(delete(draft), update(draft, n));
            (deleted, updated)
        },
    ))
    .await;
    answers.extend(burst);

    let deleted_events = outbox_events(&app, &company.tenant, "invoice.draft_deleted").await;
    assert_eq!(deleted_events.len(), drafts.len());
    let mut edited_first = 0;
    for (n, (draft, (deletion, edit))) in drafts.iter().zip(&answers).enumerate() {
        assert!(deletion["errors"].is_null(), "{deletion}");
        let (old, new) = (format!("te-old-{n}"), format!("te-new-{n}"));
        let answered = &deletion["data"]["deleteDraftInvoice"];
        assert_eq!(answered["deletedId"], draft.as_str());
        let released = answered["releasedTimeEntryIds"].clone();
        match refusal_of(edit) {
            None => {
                edited_first += 1;
                assert_eq!(released, json!([new]), "{edit}");
            }
            Some(refused) => {
                // NOT_FOUND: the edit found no draft (the deletion released the original
                // line), or it committed and the deletion came before its answer was read.
                assert_eq!(refused, ("NOT_FOUND".into(), String::new()), "{edit}");
                assert!(
                    released == json!([old]) || released == json!([new]),
                    "{released}"
                );
            }
        }
        let events: Vec<&EventEnvelope> = deleted_events
            .iter()
            .filter(|event| event.aggregate_id == *draft)
            .collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].payload["line_keys"], released);
        assert_eq!(stored_lines(&app, draft).await, 0);
    }
    eprintln!(
        "{edited_first} edits before their deletion, {} after",
        drafts.len() - edited_first
    );
    assert_eq!(orphan_lines(&app, &company.tenant).await, 0);
    // Every time entry of the race, original or edited, is billable again: all on one invoice.
    let lines: Vec<Value> = (0..drafts.len())
        .flat_map(|n| [format!("te-old-{n}"), format!("te-new-{n}")])
        .map(|entry| json!({"description": "Design", "quantity": "1", "unitPrice": "10.00", "timeEntryId": entry}))
        .collect();
    app.ok(
        token,
        &create_invoice_mutation("createInvoice"),
        company.invoice(today(), json!(lines)),
    )
    .await;
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn a_draft_raced_by_its_deletion_and_its_edit_is_deleted_with_whichever_lines_it_had_on_postgres(
) {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    a_draft_raced_by_its_deletion_and_its_edit_is_deleted_with_whichever_lines_it_had(app, issuer)
        .await;
}

#[tokio::test]
async fn a_draft_raced_by_its_deletion_and_its_edit_is_deleted_with_whichever_lines_it_had_on_embedded_sqlite(
) {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    a_draft_raced_by_its_deletion_and_its_edit_is_deleted_with_whichever_lines_it_had(app, issuer)
        .await;
}

/// A bill (posted alone, not in a tenant's batch of invoices) raced by an edit of its date and
/// due date (30 rounds, one side a few milliseconds after the other by turns, then 10 at
/// once): the posting always succeeds, and it posts the dates the draft had when it claimed
/// it. An edit that succeeded came first, so the bill and its entry carry the edited dates; an
/// edit refused NOT_DRAFT came after, and the original dates stand.
async fn a_bill_raced_by_an_edit_of_its_dates_posts_the_dates_it_had_when_claimed(
    app: FinanceApp,
    issuer: TestIssuer,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let token = company.token.as_str();
    // Both dates in this fiscal year or the last (Company::open opens both).
    let original = today() - chrono::Duration::days(20);
    let edited = today() - chrono::Duration::days(5);
    let edited_due = edited + chrono::Duration::days(30);
    let mut bills = Vec::new();
    for n in 0..40 {
        let data = app
            .ok(
                token,
                "mutation($input: CreateInvoiceInput!) { createBill(input: $input) { invoice { id dueDate } } }",
                json!({"input": {"partnerId": company.vendor, "date": original.to_string(), "currency": "EUR",
                    "lines": [{"description": "Paper", "quantity": "1", "unitPrice": format!("{}.00", n + 10)}]}}),
            )
            .await;
        let bill = &data["createBill"]["invoice"];
        bills.push((
            bill["id"].as_str().unwrap().to_owned(),
            bill["dueDate"].as_str().unwrap().to_owned(),
        ));
    }
    let post = |bill: &str, n: usize| {
        app.graphql(
            token,
            POST_RACED,
            json!({"input": {"idempotencyKey": format!("bill-race-{n}"), "invoiceId": bill}}),
        )
    };
    let edit = |bill: &str| {
        app.graphql(
            token,
            "mutation($input: UpdateInvoiceInput!) { updateInvoice(input: $input) { invoice { id date dueDate } } }",
            json!({"input": {"invoiceId": bill, "date": edited.to_string(), "dueDate": edited_due.to_string()}}),
        )
    };
    let after = |n: usize| tokio::time::sleep(std::time::Duration::from_millis((n % 8) as u64));
    let mut answers: Vec<(Value, Value)> = Vec::new();
    for (n, (bill, _)) in bills.iter().enumerate().take(30) {
        let ((_, posted), (_, edited)) = if n % 2 == 0 {
            tokio::join!(post(bill, n), async {
                after(n).await;
                edit(bill).await
            })
        } else {
            tokio::join!(
                async {
                    after(n).await;
                    post(bill, n).await
                },
                edit(bill)
            )
        };
        answers.push((posted, edited));
    }
    let burst = futures::future::join_all(bills.iter().enumerate().skip(30).map(
        |(n, (bill, _))| async move {
            let ((_, posted), (_, edited)) = tokio::join!(post(bill, n), edit(bill));
            (posted, edited)
        },
    ))
    .await;
    answers.extend(burst);

    let mut edited_first = 0;
    let mut posted_on = std::collections::HashMap::new();
    for ((bill, original_due), (posting, edit)) in bills.iter().zip(&answers) {
        assert!(posting["errors"].is_null(), "{posting}");
        assert_eq!(
            posting["data"]["postInvoice"]["invoice"]["status"],
            "POSTED"
        );
        let stored = app
            .ok(
                token,
                "query($id: ID!) { invoice(id: $id) { status date dueDate entry { date } } }",
                json!({"id": bill}),
            )
            .await["invoice"]
            .clone();
        let (date, due) = match refusal_of(edit) {
            None => {
                edited_first += 1;
                assert_eq!(
                    edit["data"]["updateInvoice"]["invoice"]["date"],
                    edited.to_string()
                );
                (edited.to_string(), edited_due.to_string())
            }
            Some(refused) => {
                assert_eq!(refused, ("CONFLICT".into(), "NOT_DRAFT".into()), "{edit}");
                (original.to_string(), original_due.clone())
            }
        };
        assert_eq!(
            stored,
            json!({"status": "POSTED", "date": date, "dueDate": due, "entry": {"date": date}}),
            "{bill}: {edit}"
        );
        posted_on.insert(bill.clone(), date);
    }
    eprintln!(
        "{edited_first} edits before their posting, {} after",
        bills.len() - edited_first
    );
    // One event per bill, carrying the dates it was posted with.
    let posted_events = outbox_events(&app, &company.tenant, "bill.posted").await;
    assert_eq!(posted_events.len(), bills.len());
    for event in &posted_events {
        assert_eq!(
            event.payload["date"], posted_on[&event.aggregate_id],
            "{event:?}"
        );
    }
    company.assert_reconciled(&app).await;
}

#[tokio::test]
async fn a_bill_raced_by_an_edit_of_its_dates_posts_the_dates_it_had_when_claimed_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    a_bill_raced_by_an_edit_of_its_dates_posts_the_dates_it_had_when_claimed(app, issuer).await;
}

#[tokio::test]
async fn a_bill_raced_by_an_edit_of_its_dates_posts_the_dates_it_had_when_claimed_on_embedded_sqlite(
) {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    a_bill_raced_by_an_edit_of_its_dates_posts_the_dates_it_had_when_claimed(app, issuer).await;
}

/// `updateInvoice` of a project's time-billing draft (its memo and due date only) raced by the
/// billing consumer adding a line to it (20 projects, one race each): both land whichever goes
/// first. The draft keeps both lines, the edit's memo and due date, and a total equal to its
/// lines' (an edit that read the draft before the billing committed wrote the older total
/// back).
async fn an_edit_of_a_draft_raced_by_the_consumer_keeps_both(
    app: FinanceApp,
    issuer: TestIssuer,
    embedded: bool,
) {
    let company = Company::open(&app, &issuer, "GLOBAL").await;
    let tenant = company.tenant.clone();
    let due = (today() + Duration::days(45)).to_string();
    for n in 0..20 {
        let project = format!("prj-edit-{n}");
        app.ok(
            &company.token,
            "mutation($input: SetProjectBillingRateInput!) { setProjectBillingRate(input: $input) { billingRate { customerId } } }",
            json!({"input": {"projectId": project, "customerId": company.customer, "currency": "EUR", "hourlyRate": "120.00"}}),
        )
        .await;
        billed_by_the_consumer(
            &app,
            embedded,
            &approved_on(&tenant, &format!("te-{n}-a"), &project),
        )
        .await;
        let read = || {
            app.ok(
                &company.token,
                "query($p: ID!) { invoices(projectId: $p, first: 10) { edges { node { id memo dueDate total { amount } lines { timeEntryId } } } } }",
                json!({"p": project}),
            )
        };
        let draft = read().await["invoices"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let after = std::time::Duration::from_millis((n % 8) as u64);
        let edit = app.graphql(
            &company.token,
            UPDATE_RACED,
            json!({"input": {"invoiceId": draft, "memo": format!("edited {n}"), "dueDate": due}}),
        );
        let billing = approved_on(&tenant, &format!("te-{n}-b"), &project);
        let ((_, edited), ()) = if n % 2 == 0 {
            tokio::join!(edit, async {
                tokio::time::sleep(after).await;
                billed_by_the_consumer(&app, embedded, &billing).await
            })
        } else {
            tokio::join!(
                async {
                    tokio::time::sleep(after).await;
                    edit.await
                },
                billed_by_the_consumer(&app, embedded, &billing)
            )
        };
        assert!(edited["errors"].is_null(), "{edited}");
        let data = read().await;
        let edges = data["invoices"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 1, "{data}");
        let node = &edges[0]["node"];
        assert_eq!(node["id"], draft.as_str());
        assert_eq!(node["memo"], format!("edited {n}"));
        assert_eq!(node["dueDate"], due.as_str());
        let mut lines: Vec<&str> = node["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line["timeEntryId"].as_str().unwrap())
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            vec![
                format!("timesheet:te-{n}-a:{project}"),
                format!("timesheet:te-{n}-b:{project}")
            ]
        );
        // 2 x 7.5 h at 120.00.
        assert_eq!(node["total"]["amount"], "1800.00", "{data}");
    }
    assert_eq!(headers_off_their_lines(&app, &tenant).await, 0);
}

#[tokio::test]
async fn an_edit_of_a_draft_raced_by_the_consumer_keeps_both_on_postgres() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn(&issuer).await;
    an_edit_of_a_draft_raced_by_the_consumer_keeps_both(app, issuer, false).await;
}

#[tokio::test]
async fn an_edit_of_a_draft_raced_by_the_consumer_keeps_both_on_embedded_sqlite() {
    let issuer = TestIssuer::start().await;
    let app = FinanceApp::spawn_embedded(&issuer).await;
    an_edit_of_a_draft_raced_by_the_consumer_keeps_both(app, issuer, true).await;
}
