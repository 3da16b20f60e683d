//! Field-level encryption of salary, bank account and tax id, on real PostgreSQL: the database
//! holds no plaintext, HR reads the values, nobody else does, search works through the blind
//! index, a ciphertext moved to another row does not open, and KEK rotation keeps everything
//! readable without re-encrypting rows.

use std::sync::Arc;

use erp_kit::crypto::{FieldCipher, LocalKek};
use erp_kit::TenantId;
use erp_tests::{error_codes, Backends, EmployeeApp, TestIssuer};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

const HR: &[&str] = &["employee:read", "employee:write", "hr:admin"];
const COMPENSATION: &str = "query($id: ID!) { employee(id: $id) { displayName compensation { annualSalary currency bankAccount taxId } } }";
const SET: &str = "mutation($id: ID!, $c: CompensationInput!) { setEmployeeCompensation(employeeId: $id, input: $c) { id } }";

async fn hire(app: &EmployeeApp, token: &str, number: &str) -> String {
    let (_, body) = app
        .graphql(
            Some(token),
            "mutation($n: String!, $e: String!) { hireEmployee(input: { employeeNumber: $n, displayName: \"Priya\", workEmail: $e, hiredOn: \"2026-01-05\" }) { id } }",
            json!({ "n": number, "e": format!("{number}@co.example") }),
        )
        .await;
    body["data"]["hireEmployee"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn raw_row(app: &EmployeeApp, id: &str) -> String {
    let db = &app.runtime.db;
    let row = db
        .query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT salary_sealed, salary_currency, bank_account_sealed, tax_id_sealed, tax_id_index FROM employees WHERE id = $1",
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    [
        "salary_sealed",
        "salary_currency",
        "bank_account_sealed",
        "tax_id_sealed",
        "tax_id_index",
    ]
    .iter()
    .map(|c| {
        row.try_get::<Option<String>>("", c)
            .unwrap()
            .unwrap_or_default()
    })
    .collect::<Vec<_>>()
    .join(" ")
}

#[tokio::test]
async fn sensitive_fields_are_sealed_and_only_hr_reads_them() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    let id = hire(&app, &hr, "P-1").await;

    let input = json!({ "annualSalary": "8765432.10", "currency": "INR", "bankAccount": "DE89 3704 0044 0532 0130 00", "taxId": "abcde-1234-f" });
    let (_, body) = app
        .graphql(Some(&hr), SET, json!({ "id": id, "c": input }))
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let (_, body) = app
        .graphql(Some(&hr), COMPENSATION, json!({ "id": id }))
        .await;
    assert_eq!(
        body,
        json!({ "data": { "employee": { "displayName": "Priya", "compensation": {
            "annualSalary": "8765432.10", "currency": "INR", "bankAccount": "DE89370400440532013000", "taxId": "ABCDE1234F" } } } })
    );

    // The database never sees the plaintext.
    let raw = raw_row(&app, &id).await;
    for secret in [
        "8765432",
        "DE89370400440532013000",
        "370400440532",
        "ABCDE1234F",
        "abcde",
    ] {
        assert!(
            !raw.contains(secret),
            "{secret} found in the raw row: {raw}"
        );
    }
    assert!(raw.starts_with("v1.1."), "{raw}");

    // The employee's own kind of token cannot read it.
    let reader = issuer.token(
        "tnt_a",
        "usr_p",
        &["employee:read", "employee:read:private"],
    );
    let (_, body) = app
        .graphql(Some(&reader), COMPENSATION, json!({ "id": id }))
        .await;
    assert_eq!(
        body["data"],
        json!({ "employee": { "displayName": "Priya", "compensation": null } })
    );
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    let (_, body) = app
        .graphql(
            Some(&reader),
            SET,
            json!({ "id": id, "c": { "annualSalary": "1", "currency": "INR" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);

    // Search by tax id however it is typed, through the blind index.
    let (_, body) = app
        .graphql(
            Some(&hr),
            "query($t: String!) { employeeByTaxId(taxId: $t) { id } }",
            json!({ "t": "ABCDE 1234 F" }),
        )
        .await;
    assert_eq!(body["data"]["employeeByTaxId"]["id"], id);
    // Another tenant's HR finds nothing with the same tax id.
    let other_hr = issuer.token("tnt_b", "usr_hr2", HR);
    let (_, body) = app
        .graphql(
            Some(&other_hr),
            "query($t: String!) { employeeByTaxId(taxId: $t) { id } }",
            json!({ "t": "ABCDE1234F" }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "employeeByTaxId": null } }));

    // Bad inputs.
    for (field, c) in [
        (
            "annualSalary",
            json!({ "annualSalary": "12.345", "currency": "INR" }),
        ),
        (
            "currency",
            json!({ "annualSalary": "12", "currency": "rupees" }),
        ),
        (
            "bankAccount",
            json!({ "annualSalary": "12", "currency": "INR", "bankAccount": "12" }),
        ),
        (
            "taxId",
            json!({ "annualSalary": "12", "currency": "INR", "taxId": "x" }),
        ),
    ] {
        let (_, body) = app
            .graphql(Some(&hr), SET, json!({ "id": id, "c": c }))
            .await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{field}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let issuer = TestIssuer::start().await;
    let app = EmployeeApp::spawn(erp_tests::runtime(&issuer, Backends::Real).await).await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    let a = hire(&app, &hr, "P-1").await;
    let b = hire(&app, &hr, "P-2").await;
    app.graphql(
        Some(&hr),
        SET,
        json!({ "id": a, "c": { "annualSalary": "99999", "currency": "EUR" } }),
    )
    .await;
    app.graphql(
        Some(&hr),
        SET,
        json!({ "id": b, "c": { "annualSalary": "11111", "currency": "EUR" } }),
    )
    .await;
    let db = &app.runtime.db;
    db.execute(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE employees SET salary_sealed = (SELECT salary_sealed FROM employees WHERE id = $1) WHERE id = $2",
        [a.clone().into(), b.clone().into()],
    ))
    .await
    .unwrap();
    let (_, body) = app
        .graphql(Some(&hr), COMPENSATION, json!({ "id": b }))
        .await;
    assert_eq!(body["data"]["employee"]["compensation"], Value::Null);
    assert_eq!(error_codes(&body), ["INTERNAL"]);
    assert!(!body.to_string().contains("99999"), "{body}");
    assert_eq!(
        body["errors"][0]["message"], "internal error",
        "no detail leaks"
    );
}

#[tokio::test]
async fn kek_rotation_rewraps_data_keys_and_every_value_still_opens() {
    let issuer = TestIssuer::start().await;
    let runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    let kek_file = runtime.config.kek_file.clone();
    let app = EmployeeApp::spawn(runtime).await;
    let hr = issuer.token("tnt_a", "usr_hr", HR);
    let id = hire(&app, &hr, "P-1").await;
    app.graphql(Some(&hr), SET, json!({ "id": id, "c": { "annualSalary": "50000", "currency": "EUR", "taxId": "TAX1234" } })).await;
    let before = raw_row(&app, &id).await;

    let db = app.runtime.db.clone();
    let old = Arc::new(LocalKek::load_or_create(&kek_file).unwrap());
    let new_file = std::env::temp_dir().join(format!(
        "erp-test-kek-new-{}.key",
        uuid::Uuid::new_v4().simple()
    ));
    let new = LocalKek::load_or_create(&new_file).unwrap();
    let rewrapped = FieldCipher::new(db.clone(), "employee", old.clone())
        .rewrap_all(&new)
        .await
        .unwrap();
    assert_eq!(rewrapped, 2, "the tenant's data key and index key");
    assert_eq!(raw_row(&app, &id).await, before, "no row was re-encrypted");

    let tenant = TenantId::from_claim("tnt_a");
    let model = app.employee.employee(&tenant, &id).await.unwrap().unwrap();
    let with_new = FieldCipher::new(
        db.clone(),
        "employee",
        Arc::new(LocalKek::load_or_create(&new_file).unwrap()),
    );
    let sealed = model.salary_sealed.clone().unwrap();
    assert_eq!(
        with_new
            .decrypt(&tenant, "employees", "salary", &id, &sealed)
            .await
            .unwrap(),
        "50000"
    );
    assert_eq!(
        with_new
            .blind_index(&tenant, "tax_id", "TAX1234")
            .await
            .unwrap(),
        model.tax_id_index.clone().unwrap(),
        "the blind index survives rotation"
    );
    let with_old = FieldCipher::new(db, "employee", old);
    assert!(
        with_old
            .decrypt(&tenant, "employees", "salary", &id, &sealed)
            .await
            .is_err(),
        "the old KEK no longer unwraps"
    );
}
