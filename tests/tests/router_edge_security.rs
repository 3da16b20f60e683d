//! Edge security through the real router, tried as an attacker would (issue 16): the client's
//! address reaching the subgraphs (login lockout, audit records and punches keyed by the real
//! client, a client-sent `x-erp-client-address` ignored), and operation cost (a multiplying
//! nested query refused with its estimate, nested pages capped at the subgraph, the rate
//! limiter charged by cost, the heavy class on the board and org-chart queries).
//!
//! The stand: the real identity and employee subgraphs (PostgreSQL, Redis, Kafka) trusting the
//! router on loopback, and the real `erp-router` binary trusting the test client as its front
//! proxy (a load balancer on loopback), so that one process plays many clients through
//! `X-Forwarded-For`.
//!
//! Needs the real services (`eval "$(deploy/local/services.sh start)"`).

use erp_tests::identity::{IdentityApp, ADMIN_PASSWORD};
use erp_tests::router::{RouterOptions, RouterProcess};
use erp_tests::{error_codes, require_env, Backends, EmployeeApp, TestIssuer};
use serde_json::{json, Value};

const LOGIN: &str =
    "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken enrollmentRequired } }";
const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
];
/// Attacker and victim, as the front proxy reports them.
const ATTACKER: &str = "203.0.113.66";
const VICTIM: &str = "198.51.100.20";

struct Stand {
    issuer: TestIssuer,
    identity: IdentityApp,
    employee: EmployeeApp,
    router: RouterProcess,
}

async fn stand() -> Stand {
    require_env("REDIS_URL");
    let issuer = TestIssuer::start().await;
    let identity = IdentityApp::spawn_behind_router(|_| {}).await;
    let mut runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    runtime.config.trusted_proxies = erp_net::IpNet::loopback().to_vec();
    let employee = EmployeeApp::spawn(runtime).await;
    let options = RouterOptions::new(&issuer, employee.url("/graphql"))
        .env("ERP_IDENTITY_URL", &identity.url("/graphql"))
        // The test client is the router's front proxy: its X-Forwarded-For names the client.
        .env("ERP_TRUSTED_PROXIES", "127.0.0.1/32")
        // 100 failed logins from one address within a minute: above the public 30/min (the
        // router's own limit is not what this test is about).
        .env("ERP_RL_PUBLIC_LIMIT", "1000");
    let router = RouterProcess::spawn(&options).await;
    Stand {
        issuer,
        identity,
        employee,
        router,
    }
}

impl Stand {
    /// A password login through the router from `client` (with more headers); (status, body).
    async fn login(
        &self,
        client: &str,
        email: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut headers = vec![("x-forwarded-for", client)];
        headers.extend_from_slice(extra);
        let (status, _, body) = self
            .router
            .post(
                None,
                LOGIN,
                json!({ "input": { "email": email, "password": password } }),
                &headers,
            )
            .await;
        (status, body)
    }

    /// A login that must succeed (the password step: an MFA token).
    async fn logs_in(&self, client: &str, email: &str) {
        let (status, body) = self.login(client, email, ADMIN_PASSWORD, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{client} {email}: {body}");
        assert!(body["data"]["login"]["mfaToken"].is_string(), "{body}");
    }

    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.router.graphql(Some(token), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Before the router told identity who the client was, identity saw every login come from the
/// router's address: 100 failures anywhere blocked every login in every tenant.
#[tokio::test]
async fn failed_logins_behind_the_router_block_their_own_client_only() {
    let stand = stand().await;
    let (_, admin) = stand.identity.bootstrap().await;
    let (_, other_tenant_admin) = stand.identity.bootstrap().await;
    let (_, audited) = stand.identity.bootstrap().await;

    // 100 failures from the attacker (one against a real account, to be audited), each
    // claiming in the router's own header to come from the victim's address.
    let forged = [("x-erp-client-address", VICTIM)];
    let (status, body) = stand
        .login(ATTACKER, &audited, "not the password!", &forged)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    for n in 0..99 {
        let (status, body) = stand
            .login(
                ATTACKER,
                &format!("guess{n}@nowhere.example"),
                "not the password!",
                &forged,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            error_codes(&body),
            ["UNAUTHENTICATED"],
            "failure {n}: {body}"
        );
    }

    // The attacker's address is blocked, even with the right password of an account that
    // never failed (identity's per-address lockout, 15 minutes).
    let (status, body) = stand.login(ATTACKER, &admin, ADMIN_PASSWORD, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 900, "{body}");

    // The victim (whose address the attacker forged) and everyone else log in: in the same
    // tenant, in another tenant, and without a proxy in front (the router's own peer).
    stand.logs_in(VICTIM, &admin).await;
    stand.logs_in(VICTIM, &other_tenant_admin).await;
    stand.logs_in("192.0.2.7", &admin).await;
    let (status, _, body) = stand
        .router
        .post(
            None,
            LOGIN,
            json!({ "input": { "email": other_tenant_admin, "password": ADMIN_PASSWORD } }),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");

    // The audit record of the failed login names the attacker's real address.
    use sea_orm::{ConnectionTrait, Statement};
    let db = &stand.identity.runtime.db;
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT envelope FROM identity_outbox WHERE event_type = 'login.failed'",
        ))
        .await
        .unwrap();
    let addresses: Vec<Value> = rows
        .iter()
        .map(|row| {
            let envelope: String = row.try_get("", "envelope").unwrap();
            serde_json::from_str::<Value>(&envelope).unwrap()["payload"]["ip"].clone()
        })
        .collect();
    assert_eq!(addresses, [json!(ATTACKER)]);
}

#[tokio::test]
async fn punches_carry_the_clients_address_not_the_routers_nor_a_forged_one() {
    let stand = stand().await;
    let hr = stand.issuer.token("tnt_ip", "usr_hr", HR);
    stand
        .ok(
            &hr,
            "mutation { hireEmployee(input: { employeeNumber: \"P-1\", displayName: \"Puncher\", workEmail: \"p@co.example\", hiredOn: \"2026-01-05\", userId: \"usr_p\" }) { id } }",
            json!({}),
        )
        .await;
    let worker = stand
        .issuer
        .token("tnt_ip", "usr_p", &["attendance:checkin"]);
    for (mutation, key, client, forged) in [
        ("checkIn", "k1", "192.0.2.44", None),
        ("checkOut", "k2", "2001:db8:7::5", Some("10.9.9.9")),
    ] {
        let mut headers = vec![("x-forwarded-for", client)];
        if let Some(forged) = forged {
            headers.push(("x-erp-client-address", forged));
        }
        let (status, _, body) = stand
            .router
            .post(
                Some(&worker),
                &format!("mutation {{ {mutation}(input: {{ punchKey: \"{key}\", source: WEB }}) {{ id }} }}"),
                json!({}),
                &headers,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }
    use sea_orm::{ConnectionTrait, Statement};
    let db = &stand.employee.runtime.db;
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT punch_key, ip FROM punches ORDER BY punch_key",
        ))
        .await
        .unwrap();
    let punches: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "punch_key").unwrap(),
                row.try_get("", "ip").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        punches,
        [
            ("k1".to_owned(), Some("192.0.2.44".to_owned())),
            ("k2".to_owned(), Some("2001:db8:7::5".to_owned())),
        ]
    );
}

/// departments(100) x employees(25) x directReports(25) x attendanceCorrections(25).
const MULTIPLYING: &str = "query Everything { departments(first: 100) { nodes { employees(first: 25) { nodes { directReports(first: 25) { nodes { attendanceCorrections(first: 25) { nodes { id } } } } } } } } }";

/// Its cost by the rules of erp_net::cost (objects 1, scalars 0, a page multiplies its items).
fn multiplying_cost() -> u64 {
    let corrections = 1 + 25; // the connection + 25 corrections
    let reports = 1 + 25 * (1 + corrections); // each report: itself + its corrections
    let employees = 1 + 25 * (1 + reports);
    1 + 100 * (1 + employees)
}

#[tokio::test]
async fn a_multiplying_nested_query_is_refused_with_its_cost_and_a_normal_one_passes() {
    let stand = stand().await;
    let hr = stand.issuer.token("tnt_cost", "usr_hr", HR);
    let (status, _, body) = stand
        .router
        .post(Some(&hr), MULTIPLYING, json!({}), &[])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["COST_LIMIT_EXCEEDED"], "{body}");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["cost"], multiplying_cost(), "{body}");
    assert_eq!(extensions["cost"], 1_692_701);
    assert_eq!(extensions["maxCost"], 20_000);
    assert!(body["data"].is_null(), "{body}");

    // A normal page of departments with a few people each (1 + 10 x (1 + 1 + 5 x 1) = 71).
    let department = stand
        .ok(
            &hr,
            "mutation { createDepartment(input: { name: \"Ops\" }) { id } }",
            json!({}),
        )
        .await["createDepartment"]["id"]
        .clone();
    stand
        .ok(
            &hr,
            "mutation($d: ID!) { hireEmployee(input: { employeeNumber: \"C-1\", displayName: \"Cost Ok\", workEmail: \"c@co.example\", hiredOn: \"2026-01-05\", departmentId: $d }) { id } }",
            json!({ "d": department }),
        )
        .await;
    let data = stand
        .ok(
            &hr,
            "{ departments(first: 10) { nodes { name employees(first: 5) { nodes { displayName } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({ "departments": { "nodes": [
            { "name": "Ops", "employees": { "nodes": [{ "displayName": "Cost Ok" }] } }
        ] } })
    );

    // A large page nested under a list is within the router's estimate (1 + 10 x 52) but over
    // the subgraph's nested page cap: refused there, with the field at fault.
    let (status, body) = stand
        .router
        .graphql(
            Some(&hr),
            "{ departments(first: 10) { nodes { employees(first: 50) { nodes { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "a page of `Department.employees` inside a list holds at most 25 items (asked: 50): nested pages multiply"
    );

    // Straight at the subgraph (past the router), the subgraph's own limit refuses it too.
    let (status, body) = stand
        .employee
        .graphql(Some(&hr), MULTIPLYING, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["COST_LIMIT_EXCEEDED"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["cost"], multiplying_cost());
    assert_eq!(body["errors"][0]["extensions"]["maxCost"], 200_000);
}

#[tokio::test]
async fn the_rate_limiter_charges_an_operation_by_its_cost() {
    let stand = stand().await;
    // 1 + 100 x (1 + 1 + 25 x 1) = 2,701: 28 units of 100.
    let costly = "{ departments(first: 100) { nodes { employees(first: 25) { nodes { id } } } } }";
    let light = "{ departments(first: 1) { pageInfo { hasNextPage } } }";
    for (user, query, remaining) in [("usr_costly", costly, 500 - 28), ("usr_light", light, 499)] {
        let token = stand.issuer.token("tnt_units", user, &["employee:read"]);
        let (status, headers, body) = stand.router.post(Some(&token), query, json!({}), &[]).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        assert!(
            header(&headers, "ratelimit").starts_with(&format!("\"authenticated\";r={remaining};")),
            "{user}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn the_heavy_class_is_the_board_org_chart_and_export_queries() {
    // The configured heavy fields exist: each is a field of the supergraph's Query type.
    let root = erp_tests::tests_dir().join("..");
    let config = std::fs::read_to_string(root.join("router/router.config.yaml")).unwrap();
    let supergraph = std::fs::read_to_string(root.join("schema/supergraph.graphql")).unwrap();
    let query_type = supergraph
        .split("\ntype Query")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .unwrap();
    let heavy = config
        .split("      heavy:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- Query."))
        .collect::<Vec<_>>();
    assert_eq!(
        heavy,
        [
            "attendanceToday",
            "board",
            "orgChart",
            "analyticsExport",
            "metricExport"
        ]
    );
    for field in &heavy {
        assert!(
            query_type
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{field}("))),
            "Query.{field} is not in the supergraph"
        );
    }
    // The heavy mutations (operations runs and bulk audits) exist too.
    let mutation_type = supergraph
        .split("\ntype Mutation")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .unwrap();
    let heavy_mutations = config
        .split("      heavy:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- Mutation."))
        .collect::<Vec<_>>();
    assert_eq!(
        heavy_mutations,
        ["runDepreciation", "runPreventiveMaintenance", "auditAssets"]
    );
    for field in &heavy_mutations {
        assert!(
            mutation_type
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{field}("))),
            "Mutation.{field} is not in the supergraph"
        );
    }

    let stand = stand().await;
    let manager = stand.issuer.token(
        "tnt_heavy",
        "usr_manager",
        &["attendance:read", "employee:read"],
    );
    for query in [
        "{ attendanceToday { day } }",
        "{ attendanceToday { day } }",
        "{ attendanceToday { day } }",
        "{ orgChart(rootId: \"nobody\") { directReportCount } }",
        "{ orgChart(rootId: \"nobody\") { directReportCount } }",
    ] {
        let (status, headers, body) = stand
            .router
            .post(Some(&manager), query, json!({}), &[])
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "ratelimit-policy"), "\"heavy\";q=5;w=60");
    }
    // The sixth heavy operation in the minute, a PMO board this time, is refused at the edge.
    let (status, headers, body) = stand
        .router
        .post(
            Some(&manager),
            "{ board(id: \"b1\") { id } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(header(&headers, "ratelimit-policy"), "\"heavy\";q=5;w=60");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    // The manager's ordinary operations have their own budget.
    let (status, body) = stand
        .router
        .graphql(
            Some(&manager),
            "{ departments(first: 1) { pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
