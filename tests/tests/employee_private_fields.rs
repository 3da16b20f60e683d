//! `Employee.personalEmail` and `Employee.dateOfBirth` follow the row rules: the employee
//! themself, every manager above them and HR (`hr:read`, `hr:admin`) of the tenant read them;
//! anyone else gets null with UNAUTHORIZED_FIELD_OR_TYPE and the field's path while the rest
//! of the record arrives. Tokens carry the scopes of the identity service's default roles, so
//! the test also shows those roles need nothing more. On real PostgreSQL, through the
//! subgraph's HTTP surface and through the real router (which enforces `@requiresScopes` in
//! filter mode before the subgraph sees the request).

use erp_identity::domain::scopes::DEFAULT_ROLES;
use erp_tests::router::{RouterOptions, RouterProcess};
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

const TENANT: &str = "tnt_private";

fn role(name: &str) -> &'static [&'static str] {
    DEFAULT_ROLES
        .iter()
        .find(|(role, _)| *role == name)
        .map(|(_, scopes)| *scopes)
        .unwrap_or_else(|| panic!("no default role {name}"))
}

struct Company {
    app: EmployeeApp,
    issuer: TestIssuer,
    hr: String,
    ceo: String,
    lead: String,
    dev: String,
    peer: String,
}

const PRIVATE: &str =
    "query($id: ID!) { employee(id: $id) { displayName personalEmail dateOfBirth } }";

impl Company {
    /// Ceo <- Lead <- Dev, and Peer beside Lead under Ceo.
    async fn new() -> Self {
        let issuer = TestIssuer::start().await;
        let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
        let hr = issuer.token(TENANT, "usr_hr", role("HR"));
        let mut company = Self {
            app,
            issuer,
            hr,
            ceo: String::new(),
            lead: String::new(),
            dev: String::new(),
            peer: String::new(),
        };
        company.ceo = company.hire("Ceo", None).await;
        company.lead = company.hire("Lead", Some(&company.ceo.clone())).await;
        company.dev = company.hire("Dev", Some(&company.lead.clone())).await;
        company.peer = company.hire("Peer", Some(&company.ceo.clone())).await;
        company
    }

    async fn hire(&self, name: &str, manager: Option<&str>) -> String {
        let lower = name.to_lowercase();
        let input = json!({
            "employeeNumber": format!("E-{name}"),
            "displayName": name,
            "workEmail": format!("{lower}@co.example"),
            "personalEmail": format!("{lower}@home.example"),
            "dateOfBirth": "1990-04-01",
            "hiredOn": "2025-01-06",
            "userId": format!("usr_{lower}"),
            "managerId": manager,
        });
        self.app.hire(&self.hr, input).await
    }

    /// A token of the user linked to `name`'s record, with a default role's scopes.
    fn token_of(&self, name: &str, role_name: &str) -> String {
        self.issuer.token(
            TENANT,
            &format!("usr_{}", name.to_lowercase()),
            role(role_name),
        )
    }
}

fn visible(name: &str) -> Value {
    let lower = name.to_lowercase();
    json!({ "employee": {
        "displayName": name,
        "personalEmail": format!("{lower}@home.example"),
        "dateOfBirth": "1990-04-01",
    } })
}

/// The record with its private fields nulled, and the two denials with their paths.
fn assert_denied(body: &Value, name: &str) {
    assert_eq!(
        body["data"],
        json!({ "employee": { "displayName": name, "personalEmail": null, "dateOfBirth": null } }),
        "{body}"
    );
    assert_eq!(
        error_codes(body),
        ["UNAUTHORIZED_FIELD_OR_TYPE", "UNAUTHORIZED_FIELD_OR_TYPE"],
        "{body}"
    );
    let mut paths: Vec<Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    paths.sort_by_key(|p| p.to_string());
    assert_eq!(
        paths,
        [
            json!(["employee", "dateOfBirth"]),
            json!(["employee", "personalEmail"])
        ],
        "{body}"
    );
}

#[tokio::test]
async fn the_employee_their_managers_and_hr_read_private_fields_nobody_else() {
    let company = Company::new().await;
    let read = |token: String, id: String| {
        let app = &company.app;
        async move {
            let (status, body) = app
                .graphql(Some(&token), PRIVATE, json!({ "id": id }))
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };

    // The employee themself, with the default Employee role.
    let body = read(company.token_of("Dev", "Employee"), company.dev.clone()).await;
    assert_eq!(body, json!({ "data": visible("Dev") }));
    // Their manager and their manager's manager, with the default Manager role.
    for manager in ["Lead", "Ceo"] {
        let body = read(company.token_of(manager, "Manager"), company.dev.clone()).await;
        assert_eq!(body, json!({ "data": visible("Dev") }), "{manager}");
    }
    // HR: the default HR role (hr:admin), and a read-only HR token (hr:read alone).
    let body = read(company.hr.clone(), company.dev.clone()).await;
    assert_eq!(body, json!({ "data": visible("Dev") }));
    let hr_reader = company
        .issuer
        .token(TENANT, "usr_hr_reader", &["employee:read", "hr:read"]);
    let body = read(hr_reader, company.dev.clone()).await;
    assert_eq!(body, json!({ "data": visible("Dev") }));

    // A peer (a manager, but not above Dev), a report looking up, and a colleague without an
    // employee record: the directory fields only.
    let body = read(company.token_of("Peer", "Manager"), company.dev.clone()).await;
    assert_denied(&body, "Dev");
    let body = read(company.token_of("Dev", "Employee"), company.lead.clone()).await;
    assert_denied(&body, "Lead");
    let stranger = company.issuer.token(TENANT, "usr_nobody", role("Employee"));
    let body = read(stranger, company.dev.clone()).await;
    assert_denied(&body, "Dev");
    let email_error = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == json!(["employee", "personalEmail"]))
        .unwrap();
    assert_eq!(
        email_error["message"],
        "not authorized to access `Employee.personalEmail`: only the employee, their managers and HR see it",
        "{body}"
    );

    // HR of another tenant sees no record at all.
    let other_hr = company.issuer.token("tnt_other", "usr_hr", role("HR"));
    let body = read(other_hr, company.dev.clone()).await;
    assert_eq!(body, json!({ "data": { "employee": null } }));

    // The deprecated `employee:read:private` still opens them (roles granted it keep it).
    let legacy = company.issuer.token(
        TENANT,
        "usr_legacy",
        &["employee:read", "employee:read:private"],
    );
    let body = read(legacy, company.dev.clone()).await;
    assert_eq!(body, json!({ "data": visible("Dev") }));

    // Compensation stays HR-only (`hr:admin`): a manager gets null with the denial.
    let (_, body) = company
        .app
        .graphql(
            Some(&company.token_of("Lead", "Manager")),
            "query($id: ID!) { employee(id: $id) { displayName compensation { annualSalary } } }",
            json!({ "id": company.dev }),
        )
        .await;
    assert_eq!(
        body["data"],
        json!({ "employee": { "displayName": "Dev", "compensation": null } })
    );
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    assert_eq!(
        body["errors"][0]["path"],
        json!(["employee", "compensation"])
    );
}

#[tokio::test]
async fn in_a_list_each_row_shows_what_viewer_can_says() {
    let company = Company::new().await;
    let lead = company.token_of("Lead", "Manager");
    let (status, body) = company
        .app
        .graphql(
            Some(&lead),
            "{ employees(first: 10) { edges { node { displayName personalEmail viewerCan { viewFullRecord } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Lead sees their own record and Dev's (their report), not Ceo's or Peer's.
    let row = |name: &str, email: Option<&str>| {
        json!({ "node": {
            "displayName": name,
            "personalEmail": email,
            "viewerCan": { "viewFullRecord": email.is_some() },
        } })
    };
    assert_eq!(
        body["data"]["employees"]["edges"],
        json!([
            row("Ceo", None),
            row("Lead", Some("lead@home.example")),
            row("Dev", Some("dev@home.example")),
            row("Peer", None),
        ]),
        "{body}"
    );
    let mut denied: Vec<Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE", "{e}");
            e["path"].clone()
        })
        .collect();
    denied.sort_by_key(|p| p.to_string());
    assert_eq!(
        denied,
        [
            json!(["employees", "edges", 0, "node", "personalEmail"]),
            json!(["employees", "edges", 3, "node", "personalEmail"]),
        ]
    );
}

#[tokio::test]
async fn through_the_router_a_manager_reads_a_reports_private_fields() {
    let company = Company::new().await;
    let router = RouterProcess::spawn(&RouterOptions::new(
        &company.issuer,
        company.app.url("/graphql"),
    ))
    .await;
    let read_dev = |token: String| {
        let router = &router;
        let dev = company.dev.clone();
        async move {
            let (status, body) = router
                .graphql(Some(&token), PRIVATE, json!({ "id": dev }))
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let body = read_dev(company.token_of("Ceo", "Manager")).await;
    assert_eq!(body, json!({ "data": visible("Dev") }));
    let body = read_dev(company.token_of("Dev", "Employee")).await;
    assert_eq!(body, json!({ "data": visible("Dev") }));
    // The subgraph's denial reaches the client with its code and path, the rest arrives.
    let body = read_dev(company.token_of("Peer", "Manager")).await;
    assert_denied(&body, "Dev");
}
