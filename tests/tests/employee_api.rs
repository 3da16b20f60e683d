//! The employee subgraph through its real HTTP surface, on real PostgreSQL, Redis and Kafka.
//! Every test asserts exact data, status codes and `extensions.code`.

use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

const HR: &[&str] = &[
    "employee:read",
    "employee:write",
    "department:write",
    "hr:admin",
];
const READER: &[&str] = &["employee:read"];

const HIRE: &str = r#"mutation Hire($input: HireEmployeeInput!) {
  hireEmployee(input: $input) { id employeeNumber displayName workEmail title status hiredOn personalEmail dateOfBirth department { name } }
}"#;

async fn app() -> (TestIssuer, EmployeeApp) {
    let issuer = TestIssuer::start().await;
    let runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    (issuer, EmployeeApp::spawn(runtime).await)
}

fn hire_input(number: &str, email: &str) -> Value {
    json!({ "input": {
        "employeeNumber": number,
        "displayName": " Rahul Verma ",
        "workEmail": email,
        "personalEmail": "rahul@home.example",
        "dateOfBirth": "1990-04-01",
        "title": "Engineer",
        "hiredOn": "2026-01-05"
    }})
}

async fn hire(app: &EmployeeApp, token: &str, number: &str, email: &str) -> String {
    let (status, body) = app
        .graphql(Some(token), HIRE, hire_input(number, email))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn hires_and_reads_back_exact_data() {
    let (issuer, app) = app().await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    let (status, body) = app
        .graphql(
            Some(&hr),
            "mutation { createDepartment(input: { name: \"Engineering\" }) { id name parent { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let department_id = body["data"]["createDepartment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["data"]["createDepartment"]["name"], "Engineering");
    assert_eq!(body["data"]["createDepartment"]["parent"], Value::Null);

    let mut input = hire_input("E-0001", "Rahul@Company.com");
    input["input"]["departmentId"] = json!(department_id);
    let (status, body) = app.graphql(Some(&hr), HIRE, input).await;
    assert_eq!(status, 200, "{body}");
    let hired = &body["data"]["hireEmployee"];
    assert_eq!(
        *hired,
        json!({
            "id": hired["id"],
            "employeeNumber": "E-0001",
            "displayName": "Rahul Verma",
            "workEmail": "rahul@company.com",
            "title": "Engineer",
            "status": "ACTIVE",
            "hiredOn": "2026-01-05",
            "personalEmail": "rahul@home.example",
            "dateOfBirth": "1990-04-01",
            "department": { "name": "Engineering" }
        })
    );

    let (_, body) = app
        .graphql(
            Some(&hr),
            "query($id: ID!) { employee(id: $id) { displayName department { id name } } }",
            json!({ "id": hired["id"] }),
        )
        .await;
    assert_eq!(
        body["data"]["employee"],
        json!({ "displayName": "Rahul Verma", "department": { "id": department_id, "name": "Engineering" } })
    );
}

#[tokio::test]
async fn paginates_with_relay_cursors() {
    let (issuer, app) = app().await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    for n in 1..=5 {
        hire(&app, &hr, &format!("E-{n}"), &format!("e{n}@company.com")).await;
    }
    let query = "query($after: String) { employees(first: 2, after: $after) { edges { cursor node { employeeNumber } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let (_, body) = app
            .graphql(Some(&hr), query, json!({ "after": after }))
            .await;
        let page = &body["data"]["employees"];
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["employeeNumber"].as_str().unwrap().to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["E-1", "E-2", "E-3", "E-4", "E-5"]);

    let (_, body) = app
        .graphql(
            Some(&hr),
            "{ employees(first: 101) { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "first");
    let (_, body) = app
        .graphql(
            Some(&hr),
            "{ employees(after: \"not-a-cursor\") { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn a_token_of_tenant_b_cannot_read_or_change_tenant_a() {
    let (issuer, app) = app().await;
    let hr_a = issuer.token("tnt_a", "usr_a", HR);
    let hr_b = issuer.token("tnt_b", "usr_b", HR);
    let (_, body) = app
        .graphql(
            Some(&hr_a),
            "mutation { createDepartment(input: { name: \"Finance\" }) { id } }",
            json!({}),
        )
        .await;
    let department_a = body["data"]["createDepartment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let employee_a = hire(&app, &hr_a, "E-1", "a@company.com").await;

    // Reading by id: as if it did not exist.
    let (status, body) = app
        .graphql(
            Some(&hr_b),
            "query($id: ID!) { employee(id: $id) { id } }",
            json!({ "id": employee_a }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "data": { "employee": null } }));

    // Listing: nothing of A.
    let (_, body) = app
        .graphql(
            Some(&hr_b),
            "{ employees { edges { node { id } } } departments { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["employees"]["edges"], json!([]));
    assert_eq!(body["data"]["departments"]["edges"], json!([]));

    // Federation entity lookups are tenant-scoped too.
    let (_, body) = app
        .graphql(
            Some(&hr_b),
            "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Employee { id } } }",
            json!({ "reps": [{ "__typename": "Employee", "id": employee_a }] }),
        )
        .await;
    assert_eq!(body["data"]["_entities"], json!([null]));

    // Writing: B cannot attach to A's department or A's manager.
    let mut input = hire_input("E-9", "b@company.com");
    input["input"]["departmentId"] = json!(department_a);
    let (_, body) = app.graphql(Some(&hr_b), HIRE, input).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "departmentId");
    let mut input = hire_input("E-9", "b@company.com");
    input["input"]["managerId"] = json!(employee_a);
    let (_, body) = app.graphql(Some(&hr_b), HIRE, input).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "managerId");

    // The same employee number is free in another tenant.
    hire(&app, &hr_b, "E-1", "a@company.com").await;
}

#[tokio::test]
async fn a_denied_field_is_null_with_its_error_and_the_rest_arrives() {
    let (issuer, app) = app().await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    let id = hire(&app, &hr, "E-1", "a@company.com").await;
    let reader = issuer.token("tnt_a", "usr_r", READER);
    let (status, body) = app
        .graphql(
            Some(&reader),
            "query($id: ID!) { employee(id: $id) { displayName personalEmail dateOfBirth } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({ "employee": { "displayName": "Rahul Verma", "personalEmail": null, "dateOfBirth": null } })
    );
    assert_eq!(
        error_codes(&body),
        ["UNAUTHORIZED_FIELD_OR_TYPE", "UNAUTHORIZED_FIELD_OR_TYPE"]
    );
    assert_eq!(
        body["errors"][0]["path"],
        json!(["employee", "personalEmail"])
    );
    assert_eq!(
        body["errors"][1]["path"],
        json!(["employee", "dateOfBirth"])
    );

    // `employee:read:private` is one of the two alternatives.
    let private = issuer.token(
        "tnt_a",
        "usr_p",
        &["employee:read", "employee:read:private"],
    );
    let (_, body) = app
        .graphql(
            Some(&private),
            "query($id: ID!) { employee(id: $id) { personalEmail } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": { "employee": { "personalEmail": "rahul@home.example" } } })
    );

    // A type-level requirement: without `employee:read` no field of the type resolves; a denied
    // non-null field nulls its nearest nullable parent.
    let nobody = issuer.token("tnt_a", "usr_n", &[]);
    let (_, body) = app
        .graphql(
            Some(&nobody),
            "query($id: ID!) { employee(id: $id) { displayName } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"], json!({ "employee": null }));
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    assert_eq!(
        body["errors"][0]["path"],
        json!(["employee", "displayName"])
    );

    // A mutation without its scope does nothing.
    let (_, body) = app
        .graphql(Some(&reader), HIRE, hire_input("E-2", "b@company.com"))
        .await;
    assert_eq!(body["data"], json!({ "hireEmployee": null }));
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    assert_eq!(body["errors"][0]["path"], json!(["hireEmployee"]));
    let (_, body) = app
        .graphql(
            Some(&hr),
            "{ employees { edges { node { employeeNumber } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["employees"]["edges"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn bad_inputs_get_stable_codes_and_write_nothing() {
    let (issuer, app) = app().await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    hire(&app, &hr, "E-1", "a@company.com").await;

    let cases = [
        ("workEmail", json!("not-an-email")),
        ("employeeNumber", json!("E 1")),
        ("displayName", json!("   ")),
        ("dateOfBirth", json!("2020-01-01")),
        ("hiredOn", json!("2099-01-01")),
    ];
    for (field, value) in cases {
        let mut input = hire_input("E-2", "b@company.com");
        input["input"][field] = value;
        let (status, body) = app.graphql(Some(&hr), HIRE, input).await;
        assert_eq!(status, 200);
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{field}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        assert_eq!(body["data"], json!({ "hireEmployee": null }));
    }
    for (number, email) in [("E-1", "new@company.com"), ("E-3", "a@company.com")] {
        let (_, body) = app
            .graphql(Some(&hr), HIRE, hire_input(number, email))
            .await;
        assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "ALREADY_EXISTS");
    }
    // Nothing of the refused writes reached the table or the outbox.
    let (_, body) = app
        .graphql(
            Some(&hr),
            "{ employees { edges { node { employeeNumber } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["employees"]["edges"],
        json!([{ "node": { "employeeNumber": "E-1" } }])
    );
    let db = app.runtime.db.clone();
    let outbox = app.employee.outbox().clone();
    let total = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM employee_outbox",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        total,
        1,
        "only the accepted hire has an event ({})",
        outbox.table()
    );

    // A GraphQL type error (wrong variable type) is refused before execution.
    let (status, body) = app
        .graphql(Some(&hr), HIRE, json!({ "input": { "employeeNumber": 5 } }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn tokens_are_verified_with_the_published_jwks_only() {
    let (issuer, app) = app().await;
    let query = "{ employees { edges { node { id } } } }";

    // No token: anonymous, and an @authenticated field says so.
    let (status, body) = app.graphql(None, query, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(body["data"], json!({ "employees": null }));

    let good = issuer.token("tnt_a", "usr_1", READER);
    let (status, _) = app.graphql(Some(&good), query, json!({})).await;
    assert_eq!(status, 200);

    let mut expired = issuer.claims("tnt_a", "usr_1", READER);
    expired.exp = chrono::Utc::now().timestamp() - 3600;
    let mut wrong_audience = issuer.claims("tnt_a", "usr_1", READER);
    wrong_audience.aud = erp_kit::auth::Audience::One("somebody-else".into());
    let mut wrong_issuer = issuer.claims("tnt_a", "usr_1", READER);
    wrong_issuer.iss = "http://evil".into();
    let stranger = erp_kit::auth::RsaSigningKey::generate("stranger").unwrap();
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    use base64::Engine;
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&issuer.claims("tnt_b", "usr_1", HR)).unwrap());
    let tampered = format!("{head}.{forged_payload}.{signature}");
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"alg":"none","typ":"JWT","kid":"x"}"#);
    let alg_none = format!("{none_header}.{forged_payload}.");

    for (name, token) in [
        ("expired", issuer.key.sign(&expired).unwrap()),
        ("wrong audience", issuer.key.sign(&wrong_audience).unwrap()),
        ("wrong issuer", issuer.key.sign(&wrong_issuer).unwrap()),
        (
            "unknown key",
            stranger
                .sign(&issuer.claims("tnt_a", "usr_1", READER))
                .unwrap(),
        ),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("garbage", "not.a.token".to_string()),
    ] {
        let response = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{name}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{name}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{name}");
    }

    // A key published later (rotation) is picked up on its first use.
    let rotated = erp_kit::auth::RsaSigningKey::generate("rotated").unwrap();
    issuer.publish(&rotated);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let token = rotated
        .sign(&issuer.claims("tnt_a", "usr_1", READER))
        .unwrap();
    let (status, body) = app.graphql(Some(&token), query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
}
