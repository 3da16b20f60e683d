//! The CRM subgraph through its real HTTP surface, against real PostgreSQL, Redis and Kafka
//! (one test on the embedded defaults): clients, leads (scoring, assignment, conversion),
//! pipelines and the board, row rules fed by the employee subgraph's events, quotes and
//! proposals, duplicates and merges, imports. Every refusal is checked with its exact
//! `extensions.code` and `reason`.

use std::time::Duration;

use erp_tests::crm::{CrmApp, CRM_ADMIN, CRM_REP};
use erp_tests::TestIssuer;
use serde_json::{json, Value};

fn tenant() -> String {
    format!("tnt_crm_{}", uuid::Uuid::new_v4().simple())
}

const CREATE_CLIENT: &str = "mutation($i: CreateClientInput!) { createClient(input: $i) { client { id name kind status taxId domain ownerId company { id } } duplicates { hiddenMatches candidates { id recordKind reasons similarity } } } }";
const CREATE_LEAD: &str = "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id status score ownerId source utm { source medium campaign } } duplicates { hiddenMatches candidates { id recordKind reasons } } } }";
const LEAD_STATUS: &str = "mutation($i: ChangeLeadStatusInput!) { changeLeadStatus(input: $i) { id status disqualifyReason } }";
const CONVERT: &str = "mutation($i: ConvertLeadInput!) { convertLead(input: $i) { lead { id status convertedAt } client { id name kind status } contact { id name kind company { id } } opportunity { id name amount { amount currency } stage { name } client { id } contact { id } } } }";
const CREATE_PIPELINE: &str = "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id name stages { id name position probability rottingDays } } }";
const CREATE_OPPORTUNITY: &str = "mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) { id version status amount { amount currency } stage { id } ownerId } }";
const MOVE: &str = "mutation($i: MoveOpportunityInput!) { moveOpportunity(input: $i) { opportunity { id version stage { id } } fromStage { id } } }";
const BOARD: &str = "query($p: ID!) { pipelineBoard(pipelineId: $p) { openCount totals { amount currency } forecast { amount currency } stages { stage { id name probability } count totals { amount currency } weightedTotals { amount currency } cards(first: 100) { nodes { id amount { amount currency } } pageInfo { hasNextPage } } } } }";

/// A pipeline of four stages: Lead 10 %, Qualified 30 %, Proposal 60 % (rots after 3 days),
/// Negotiation 80 %. Answers (pipeline id, stage ids).
async fn pipeline(app: &CrmApp, admin: &str, name: &str) -> (String, Vec<String>) {
    let data = app
        .ok(
            admin,
            CREATE_PIPELINE,
            json!({ "i": {
                "name": name,
                "opportunityType": "new business",
                "stages": [
                    { "name": "Lead", "probability": 10 },
                    { "name": "Qualified", "probability": 30 },
                    { "name": "Proposal", "probability": 60, "rottingDays": 3 },
                    { "name": "Negotiation", "probability": 80 },
                ],
            }}),
        )
        .await;
    let pipeline = &data["createPipeline"];
    let stages = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    (pipeline["id"].as_str().unwrap().to_owned(), stages)
}

async fn company(app: &CrmApp, token: &str, name: &str) -> String {
    let data = app
        .ok(token, CREATE_CLIENT, json!({ "i": { "name": name } }))
        .await;
    data["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn opportunity(
    app: &CrmApp,
    token: &str,
    pipeline: &str,
    stage: &str,
    client: &str,
    amount: &str,
    currency: &str,
) -> String {
    let data = app
        .ok(
            token,
            CREATE_OPPORTUNITY,
            json!({ "i": {
                "pipelineId": pipeline,
                "stageId": stage,
                "clientId": client,
                "name": format!("Deal {amount} {currency}"),
                "amount": { "amount": amount, "currency": currency },
            }}),
        )
        .await;
    data["createOpportunity"]["id"].as_str().unwrap().to_owned()
}

/// `[{amount, currency}]` as a sorted list of "amount currency".
fn money_list(value: &Value) -> Vec<String> {
    let mut list: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m["amount"].as_str().unwrap(), m["currency"].as_str().unwrap()))
        .collect();
    list.sort();
    list
}

#[tokio::test]
async fn clients_addresses_tax_ids_and_their_lifecycle() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);

    let data = app
        .ok(
            &admin,
            CREATE_CLIENT,
            json!({ "i": { "name": "Acme GmbH", "website": "https://www.acme.de/about", "taxId": "de 123 456 789" } }),
        )
        .await;
    let acme = &data["createClient"]["client"];
    assert_eq!(acme["kind"], "COMPANY");
    assert_eq!(acme["status"], "PROSPECT");
    assert_eq!(acme["taxId"], "DE123456789");
    assert_eq!(acme["domain"], "acme.de");
    assert_eq!(acme["ownerId"], "usr_admin");
    assert_eq!(data["createClient"]["duplicates"]["candidates"], json!([]));
    let acme_id = acme["id"].as_str().unwrap().to_owned();

    // A person working there.
    let data = app
        .ok(
            &admin,
            CREATE_CLIENT,
            json!({ "i": { "kind": "PERSON", "name": "Ana Gomez", "email": "Ana@Acme.de", "companyId": acme_id } }),
        )
        .await;
    assert_eq!(data["createClient"]["client"]["company"]["id"], acme_id.as_str());
    let address = app
        .ok(
            &admin,
            "mutation($i: AddClientAddressInput!) { addClientAddress(input: $i) { kind city country } }",
            json!({ "i": { "clientId": acme_id, "kind": "BILLING", "line1": "Hauptstr. 1", "city": "Berlin", "country": "de" } }),
        )
        .await;
    assert_eq!(address["addClientAddress"], json!({ "kind": "BILLING", "city": "Berlin", "country": "DE" }));
    let client = app
        .ok(
            &admin,
            "query($id: ID!) { client(id: $id) { name people { name email } addresses { line1 } } }",
            json!({ "id": acme_id }),
        )
        .await;
    assert_eq!(
        client["client"],
        json!({ "name": "Acme GmbH", "people": [{ "name": "Ana Gomez", "email": "ana@acme.de" }], "addresses": [{ "line1": "Hauptstr. 1" }] })
    );

    // Bad inputs: a tax id, an e-mail, a country, a company for a company.
    for (input, field) in [
        (json!({ "name": "X", "taxId": "##" }), "taxId"),
        (json!({ "name": "X", "email": "not-mail" }), "email"),
        (json!({ "name": " " }), "name"),
        (json!({ "name": "X", "companyId": acme_id }), "companyId"),
    ] {
        let (status, body) = app.graphql(&admin, CREATE_CLIENT, json!({ "i": input })).await;
        assert_eq!(status, 200);
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let (code, _) = app
        .refused(
            &admin,
            "mutation($i: AddClientAddressInput!) { addClientAddress(input: $i) { id } }",
            json!({ "i": { "clientId": acme_id, "kind": "OFFICE", "line1": "x", "city": "y", "country": "DEU" } }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");

    // prospect -> active -> churned -> active; nothing back to prospect.
    let status = "mutation($i: ChangeClientStatusInput!) { changeClientStatus(input: $i) { status version } }";
    for (to, version) in [("ACTIVE", 2), ("CHURNED", 3), ("ACTIVE", 4)] {
        let data = app
            .ok(&admin, status, json!({ "i": { "clientId": acme_id, "status": to } }))
            .await;
        assert_eq!(data["changeClientStatus"], json!({ "status": to, "version": version }));
    }
    for to in ["PROSPECT", "ACTIVE"] {
        assert_eq!(
            app.refused(&admin, status, json!({ "i": { "clientId": acme_id, "status": to } })).await,
            ("CONFLICT".into(), "CLIENT_TRANSITION_NOT_ALLOWED".into())
        );
    }

    // Another tenant sees nothing of it, and cannot change it.
    let stranger = issuer.token("tnt_other", "usr_admin", CRM_ADMIN);
    let other = app
        .ok(&stranger, "query($id: ID!) { client(id: $id) { id } }", json!({ "id": acme_id }))
        .await;
    assert_eq!(other["client"], Value::Null);
    assert_eq!(
        app.refused(&stranger, status, json!({ "i": { "clientId": acme_id, "status": "CHURNED" } })).await.0,
        "NOT_FOUND"
    );
    // Without crm:write, no change at all.
    let reader = issuer.token(&tenant, "usr_admin", &["crm:read"]);
    assert_eq!(
        app.refused(&reader, CREATE_CLIENT, json!({ "i": { "name": "Nope" } })).await.0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
}
