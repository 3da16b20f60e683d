//! The one-process mode end to end: the real `erp-os` binary on embedded defaults in a
//! temporary state directory, on free loopback ports, plain HTTP. Everything goes through the
//! ROUTER as a client would: the demo administrator logs in (password, TOTP enrolment with a
//! code computed here), a federated query spans identity, employee and PMO, a write survives a
//! restart, and the same demo seed gives the same people in another state directory.
//!
//! Finding the binary: `ERP_OS_BIN` names one; otherwise `cargo build -p erp-os --bin erp-os`
//! runs once per test process and the binary is taken next to the test executable
//! (`<target>/debug/erp-os`). The same `-p erp-os` build every time resolves the same features,
//! so after the first build it is a no-op; `cargo build --workspace --bins` would resolve
//! features over the whole workspace (another variant of hive-router and its dependency tree to
//! compile) and build every other binary too, and taking whatever binary is there without
//! building could run a stale one. (A test cannot depend on a binary: artifact dependencies
//! are unstable in cargo.)
//!
//! The nested build avoids a rebuild trap (see [`erp_tests::cargo_build_binary`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use erp_tests::router::free_port;
use erp_tests::{error_codes, post_graphql};
use serde_json::{json, Value};

const PASSWORD: &str = "demo password 1234";
const ADMIN: &str = "admin@demo.example";

fn erp_os_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ERP_OS_BIN") {
                return PathBuf::from(path);
            }
            erp_tests::cargo_build_binary("erp-os", "erp-os")
        })
        .clone()
}

/// A running `erp-os all`, killed on drop.
struct ErpOs {
    child: Child,
    url: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl ErpOs {
    /// Starts `erp-os all` on `state` with free ports and waits until the router answers.
    async fn start(state: &Path, demo_seed: u64) -> Self {
        std::fs::create_dir_all(state).unwrap();
        let router_port = free_port();
        let log = state.join(format!("erp-os-{router_port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(erp_os_binary())
            .arg("all")
            .arg("--state-dir")
            .arg(state)
            .args(["--router-port", &router_port.to_string()])
            .args(["--identity-port", &free_port().to_string()])
            .args(["--employee-port", &free_port().to_string()])
            .args(["--pmo-port", &free_port().to_string()])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--demo-seed", &demo_seed.to_string()])
            .env("ERP_ROUTER_PLAIN_HTTP", "true")
            .env("ERP_DEMO_PASSWORD", PASSWORD)
            .env_remove("ROUTER_CONFIG_FILE_PATH")
            .env_remove("ERP_KEK_FILE")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("cannot start erp-os");
        let mut process = Self {
            child,
            url: format!("http://127.0.0.1:{router_port}/graphql"),
            log,
            http: reqwest::Client::new(),
        };
        process.wait_ready(router_port).await;
        process
    }

    async fn wait_ready(&mut self, port: u16) {
        let health = format!("http://127.0.0.1:{port}/health");
        // Startup of a debug build (and the demo's Argon2id hashes) on a busy 2-core machine;
        // not a timing assertion, only how long to wait before calling it broken.
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("erp-os exited ({status}):\n{}", self.log_text());
            }
            if let Ok(response) = self.http.get(&health).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("erp-os did not start:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = post_graphql(&self.http, &self.url, token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Password step; returns the MFA token and whether enrolment is required.
    async fn login(&self) -> (String, bool) {
        let body = self
            .graphql(
                None,
                "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken enrollmentRequired } }",
                json!({ "input": { "email": ADMIN, "password": PASSWORD } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        (
            body["data"]["login"]["mfaToken"]
                .as_str()
                .unwrap()
                .to_owned(),
            body["data"]["login"]["enrollmentRequired"]
                .as_bool()
                .unwrap(),
        )
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ErpOs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fresh_state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("erp-os-test-{}", uuid::Uuid::new_v4().simple()))
}

const FEDERATED: &str = r#"
query Overview {
  me { name email role { name } }
  employees(first: 50) {
    edges { node { id employeeNumber displayName workEmail userId department { name } manager { employeeNumber } } }
  }
  projects(first: 50) {
    edges { node { name billable members { userId role employee { id employeeNumber displayName department { name } } } } }
  }
}"#;

fn edges(body: &Value, field: &str) -> Vec<Value> {
    body["data"][field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// The people as a comparable list: number, name, email, department, manager's number.
fn people(employees: &[Value]) -> Vec<(String, String, String, String, String)> {
    let mut rows: Vec<_> = employees
        .iter()
        .map(|e| {
            (
                e["employeeNumber"].as_str().unwrap().to_owned(),
                e["displayName"].as_str().unwrap().to_owned(),
                e["workEmail"].as_str().unwrap().to_owned(),
                e["department"]["name"].as_str().unwrap_or("").to_owned(),
                e["manager"]["employeeNumber"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn one_process_serves_the_demo_through_the_router_and_keeps_data_across_restarts() {
    let state = fresh_state_dir();
    let erp = ErpOs::start(&state, 42).await;
    let demo: Value = serde_json::from_slice(&std::fs::read(state.join("demo.json")).unwrap())
        .expect("demo.json is written on first start");
    assert_eq!(demo["tenant"]["admin_email"], ADMIN);
    assert_eq!(demo["seed"], 42);

    // Login through the router: password, then TOTP enrolment with a code computed here.
    let (mfa, enrollment_required) = erp.login().await;
    assert!(
        enrollment_required,
        "the demo administrator has no second factor yet"
    );
    let body = erp
        .graphql(
            None,
            "mutation($t: String!) { beginTotpEnrollment(mfaToken: $t) { secret otpauthUri } }",
            json!({ "t": mfa }),
        )
        .await;
    let secret = body["data"]["beginTotpEnrollment"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    assert!(body["data"]["beginTotpEnrollment"]["otpauthUri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let code =
        erp_identity::domain::totp::code_at(&secret, erp_tests::identity::now_secs()).unwrap();
    let body = erp
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { confirmTotpEnrollment(mfaToken: $t, code: $c) { accessToken recoveryCodes } }",
            json!({ "t": mfa, "c": code }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let token = body["data"]["confirmTotpEnrollment"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let recovery_codes: Vec<String> = body["data"]["confirmTotpEnrollment"]["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery_codes.len(), 10);

    // Without a token the data is refused.
    let anonymous = erp.graphql(None, FEDERATED, json!({})).await;
    assert!(
        error_codes(&anonymous)
            .iter()
            .any(|c| c == "UNAUTHORIZED_FIELD_OR_TYPE"),
        "{anonymous}"
    );

    // One query, three subgraphs: identity (me), employee (employees, and the project members'
    // Employee entities), PMO (projects).
    let body = erp.graphql(Some(&token), FEDERATED, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let me = &body["data"]["me"];
    assert_eq!(me["email"], ADMIN);
    assert_eq!(me["role"]["name"], "Admin");
    assert_eq!(me["name"], demo["tenant"]["admin_name"]);

    let employees = edges(&body, "employees");
    assert_eq!(employees.len(), 10, "tier S has 10 employees");
    let numbers: Vec<&str> = employees
        .iter()
        .map(|e| e["employeeNumber"].as_str().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=10).map(|n| format!("E{n:05}")).collect::<Vec<_>>()
    );
    let ceo = employees
        .iter()
        .find(|e| e["employeeNumber"] == "E00001")
        .unwrap();
    // The administrator is the company's first employee: same person in identity and HR.
    assert_eq!(ceo["displayName"], me["name"]);
    assert_eq!(ceo["workEmail"], ADMIN);
    assert_eq!(ceo["userId"], demo["tenant"]["admin_user_id"]);
    assert!(ceo["manager"].is_null());
    let mut departments: Vec<&str> = employees
        .iter()
        .map(|e| e["department"]["name"].as_str().unwrap())
        .collect();
    departments.sort();
    departments.dedup();
    assert_eq!(departments, ["Engineering", "People", "Sales"]);
    for employee in employees.iter().filter(|e| e["employeeNumber"] != "E00001") {
        let manager = employee["manager"]["employeeNumber"].as_str().unwrap();
        assert!(numbers.contains(&manager), "{employee}");
        assert!(
            employee["userId"].is_string(),
            "every demo employee has a user"
        );
    }

    let projects = edges(&body, "projects");
    assert!(!projects.is_empty(), "{body}");
    for project in &projects {
        let members = project["members"].as_array().unwrap();
        // Owned by the administrator, who created them.
        let owner = members.iter().find(|m| m["role"] == "OWNER").unwrap();
        assert_eq!(owner["userId"], demo["tenant"]["admin_user_id"]);
        assert_eq!(owner["employee"]["employeeNumber"], "E00001");
        assert_eq!(
            members.iter().filter(|m| m["role"] == "MANAGER").count(),
            1,
            "{project}"
        );
        // Each member's Employee comes from the employee subgraph, and matches the list.
        for member in members {
            let employee = &member["employee"];
            let listed = employees
                .iter()
                .find(|e| e["id"] == employee["id"])
                .unwrap_or_else(|| panic!("{member}"));
            assert_eq!(listed["displayName"], employee["displayName"]);
            assert_eq!(listed["department"], employee["department"]);
            assert_eq!(listed["userId"], member["userId"]);
        }
    }
    let project_names = {
        let mut names: Vec<String> = projects
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };

    // HR data sealed in the employee store, read through the router by the administrator.
    let body = erp
        .graphql(
            Some(&token),
            "query($id: ID!) { employee(id: $id) { compensation { annualSalary currency } } }",
            json!({ "id": ceo["id"] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["employee"]["compensation"],
        json!({ "annualSalary": "180000", "currency": "EUR" })
    );

    // A write, then a restart on the same state directory (new ports).
    let body = erp
        .graphql(
            Some(&token),
            "mutation($input: CreateDepartmentInput!) { createDepartment(input: $input) { name } }",
            json!({ "input": { "name": "Research" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    erp.stop();

    let erp = ErpOs::start(&state, 42).await;
    let (mfa, enrollment_required) = erp.login().await;
    assert!(!enrollment_required, "the TOTP enrolment was kept");
    let body = erp
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": recovery_codes[0] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let token = body["data"]["verifyRecoveryCode"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = erp.graphql(Some(&token), FEDERATED, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["me"]["email"], ADMIN);
    assert_eq!(people(&edges(&body, "employees")), people(&employees));
    // PMO lives in memory in this mode: the demo's projects are written again at start.
    let mut names: Vec<String> = edges(&body, "projects")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, project_names);
    let body = erp
        .graphql(
            Some(&token),
            "{ departments(first: 50) { edges { node { name } } } }",
            json!({}),
        )
        .await;
    let mut departments: Vec<String> = edges(&body, "departments")
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    departments.sort();
    assert_eq!(departments, ["Engineering", "People", "Research", "Sales"]);
    erp.stop();

    // The same demo seed in another state directory: the same people.
    let other_state = fresh_state_dir();
    let other = ErpOs::start(&other_state, 42).await;
    let (mfa, _) = other.login().await;
    let body = other
        .graphql(
            None,
            "mutation($t: String!) { beginTotpEnrollment(mfaToken: $t) { secret } }",
            json!({ "t": mfa }),
        )
        .await;
    let secret = body["data"]["beginTotpEnrollment"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code =
        erp_identity::domain::totp::code_at(&secret, erp_tests::identity::now_secs()).unwrap();
    let body = other
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { confirmTotpEnrollment(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": code }),
        )
        .await;
    let other_token = body["data"]["confirmTotpEnrollment"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let body = other
        .graphql(Some(&other_token), FEDERATED, json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(people(&edges(&body, "employees")), people(&employees));
    other.stop();

    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&other_state);
}
