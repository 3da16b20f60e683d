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

#[tokio::test]
async fn leads_are_scored_assigned_worked_and_converted_in_one_transaction() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let rep = issuer.token(&tenant, "usr_rep", CRM_REP);

    // Scoring: a referral 30, a business e-mail 20, per meeting 15, a phone -5.
    let rule = "mutation($i: CreateScoringRuleInput!) { createScoringRule(input: $i) { id criterion value points } }";
    for input in [
        json!({ "criterion": "SOURCE", "value": "referral", "points": 30 }),
        json!({ "criterion": "BUSINESS_EMAIL", "points": 20 }),
        json!({ "criterion": "ACTIVITY", "value": "meeting", "points": 15 }),
        json!({ "criterion": "HAS_PHONE", "points": -5 }),
    ] {
        app.ok(&admin, rule, json!({ "i": input })).await;
    }
    for (input, field) in [
        (json!({ "criterion": "SOURCE", "value": "fax", "points": 5 }), "value"),
        (json!({ "criterion": "HAS_EMAIL", "value": "x", "points": 5 }), "value"),
        (json!({ "criterion": "HAS_EMAIL", "points": 0 }), "points"),
    ] {
        let (_, body) = app.graphql(&admin, rule, json!({ "i": input })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    // Only an administrator sets rules up (the router and the subgraph both refuse the field).
    assert_eq!(
        app.refused(&rep, rule, json!({ "i": { "criterion": "HAS_EMAIL", "points": 1 } })).await.0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );

    // Assignment: EMEA leads to e1/e2 in turn; then u_cap1/u_cap2 by capacity 1; then
    // round robin over r1/r2.
    let assignment = "mutation($i: CreateAssignmentRuleInput!) { createAssignmentRule(input: $i) { id strategy memberIds } }";
    for input in [
        json!({ "name": "EMEA", "strategy": "TERRITORY", "territory": "EMEA", "memberIds": ["u_e1", "u_e2"], "priority": 0 }),
        json!({ "name": "Capacity", "strategy": "CAPACITY", "memberIds": ["u_cap1", "u_cap2"], "capacity": 1, "priority": 1 }),
        json!({ "name": "Everyone else", "strategy": "ROUND_ROBIN", "memberIds": ["u_r1", "u_r2"], "priority": 2 }),
    ] {
        app.ok(&admin, assignment, json!({ "i": input })).await;
    }
    let (_, body) = app
        .graphql(&admin, assignment, json!({ "i": { "name": "x", "strategy": "TERRITORY", "memberIds": ["a"] } }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "territory", "{body}");

    let mut owners = Vec::new();
    for (name, territory) in [
        ("Eve", Some("emea")),
        ("Emil", Some("EMEA")),
        ("Cap A", None),
        ("Cap B", None),
        ("Robin A", None),
        ("Robin B", None),
        ("Robin C", None),
    ] {
        let data = app
            .ok(&admin, CREATE_LEAD, json!({ "i": { "personName": name, "territory": territory } }))
            .await;
        owners.push(data["createLead"]["lead"]["ownerId"].as_str().unwrap().to_owned());
    }
    assert_eq!(owners, ["u_e1", "u_e2", "u_cap1", "u_cap2", "u_r1", "u_r2", "u_r1"]);

    // A rep's lead: scored, and owned by the rep who asked for it.
    let data = app
        .ok(
            &rep,
            CREATE_LEAD,
            json!({ "i": {
                "personName": "Ana Gomez", "companyName": "Globex", "email": "ana@globex.com",
                "phone": "+1 555 010 2030", "source": "REFERRAL", "ownerId": "usr_rep",
                "utm": { "source": "newsletter", "medium": "email", "campaign": "spring" },
            }}),
        )
        .await;
    let lead = &data["createLead"]["lead"];
    assert_eq!(lead["score"], 30 + 20 - 5);
    assert_eq!(lead["ownerId"], "usr_rep");
    assert_eq!(lead["source"], "REFERRAL");
    assert_eq!(lead["utm"], json!({ "source": "newsletter", "medium": "email", "campaign": "spring" }));
    assert_eq!(lead["status"], "NEW");
    let lead_id = lead["id"].as_str().unwrap().to_owned();

    // Activities: a meeting adds 15 points.
    let activity = app
        .ok(
            &rep,
            "mutation($i: LogActivityInput!) { logActivity(input: $i) { kind subject completedAt lead { id score } } }",
            json!({ "i": { "kind": "MEETING", "subject": "Discovery", "done": true, "leadId": lead_id } }),
        )
        .await;
    assert_eq!(activity["logActivity"]["kind"], "MEETING");
    assert!(activity["logActivity"]["completedAt"].is_string());
    assert_eq!(activity["logActivity"]["lead"]["score"], 60);
    let (_, body) = app
        .graphql(
            &rep,
            "mutation($i: LogActivityInput!) { logActivity(input: $i) { id } }",
            json!({ "i": { "kind": "NOTE", "subject": "Two parents", "leadId": lead_id, "clientId": lead_id } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // The lifecycle: converting a new lead is refused; disqualifying needs a reason.
    let (pipeline_id, stages) = pipeline(&app, &admin, "Sales").await;
    let conversion = json!({ "i": {
        "leadId": lead_id, "pipelineId": pipeline_id,
        "amount": { "amount": "12000", "currency": "EUR" }, "expectedClose": "2026-09-30",
    }});
    assert_eq!(
        app.refused(&rep, CONVERT, conversion.clone()).await,
        ("CONFLICT".into(), "LEAD_TRANSITION_NOT_ALLOWED".into())
    );
    let (status, body) = app
        .graphql(&rep, LEAD_STATUS, json!({ "i": { "leadId": lead_id, "status": "DISQUALIFIED" } }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "REASON_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    for to in ["CONTACTED", "QUALIFIED"] {
        let data = app
            .ok(&rep, LEAD_STATUS, json!({ "i": { "leadId": lead_id, "status": to } }))
            .await;
        assert_eq!(data["changeLeadStatus"]["status"], to);
    }
    assert_eq!(
        app.refused(&rep, LEAD_STATUS, json!({ "i": { "leadId": lead_id, "status": "NEW" } })).await,
        ("CONFLICT".into(), "LEAD_TRANSITION_NOT_ALLOWED".into())
    );

    // A conversion that fails half-way writes nothing: a stage of another pipeline.
    let (_, other_stages) = pipeline(&app, &admin, "Renewals").await;
    let mut broken = conversion.clone();
    broken["i"]["stageId"] = json!(other_stages[0]);
    assert_eq!(
        app.refused(&rep, CONVERT, broken).await,
        ("BAD_USER_INPUT".into(), "STAGE_NOT_IN_PIPELINE".into())
    );
    let clients = app
        .ok(&admin, "{ clients(first: 10) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(clients["clients"]["nodes"], json!([]));

    // The conversion: company, contact and opportunity in one go.
    let data = app.ok(&rep, CONVERT, conversion.clone()).await;
    let converted = &data["convertLead"];
    assert_eq!(converted["lead"]["status"], "CONVERTED");
    assert_eq!(converted["client"]["name"], "Globex");
    assert_eq!(converted["client"]["kind"], "COMPANY");
    assert_eq!(converted["contact"]["name"], "Ana Gomez");
    assert_eq!(converted["contact"]["kind"], "PERSON");
    assert_eq!(converted["contact"]["company"]["id"], converted["client"]["id"]);
    let opportunity = &converted["opportunity"];
    assert_eq!(opportunity["amount"], json!({ "amount": "12000.00", "currency": "EUR" }));
    assert_eq!(opportunity["stage"]["name"], "Lead");
    assert_eq!(opportunity["client"]["id"], converted["client"]["id"]);
    assert_eq!(opportunity["contact"]["id"], converted["contact"]["id"]);
    let board = app.ok(&rep, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(money_list(&board["pipelineBoard"]["totals"]), ["12000.00 EUR"]);
    assert_eq!(board["pipelineBoard"]["stages"][0]["stage"]["id"], stages[0].as_str());

    // Converting twice, or changing a converted lead, is refused.
    assert_eq!(
        app.refused(&rep, CONVERT, conversion).await,
        ("CONFLICT".into(), "LEAD_ALREADY_CONVERTED".into())
    );
    assert_eq!(
        app.refused(&rep, LEAD_STATUS, json!({ "i": { "leadId": lead_id, "status": "DISQUALIFIED", "reason": "late" } })).await,
        ("CONFLICT".into(), "LEAD_ALREADY_CONVERTED".into())
    );

    // Disqualified with a reason, and reopened.
    let other = app
        .ok(&rep, CREATE_LEAD, json!({ "i": { "personName": "Bo", "ownerId": "usr_rep" } }))
        .await["createLead"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = app
        .ok(&rep, LEAD_STATUS, json!({ "i": { "leadId": other, "status": "DISQUALIFIED", "reason": "no budget" } }))
        .await;
    assert_eq!(data["changeLeadStatus"], json!({ "id": other, "status": "DISQUALIFIED", "disqualifyReason": "no budget" }));
    let data = app
        .ok(&rep, LEAD_STATUS, json!({ "i": { "leadId": other, "status": "NEW" } }))
        .await;
    assert_eq!(data["changeLeadStatus"]["status"], "NEW");

    // The rep sees only their own leads (no team in the directory); the administrator all.
    let mine = app
        .ok(&rep, "{ leads(first: 50) { nodes { ownerId } } }", json!({}))
        .await;
    assert!(mine["leads"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["ownerId"] == "usr_rep"));
    assert_eq!(mine["leads"]["nodes"].as_array().unwrap().len(), 2);
    let all = app
        .ok(&admin, "{ leads(first: 50) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(all["leads"]["nodes"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn the_board_totals_forecast_and_opportunity_lifecycle() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);

    // Set-up refusals.
    let (_, body) = app
        .graphql(
            &admin,
            CREATE_PIPELINE,
            json!({ "i": { "name": "Bad", "opportunityType": "x", "stages": [{ "name": "A", "probability": 101 }] } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "stages[0].probability", "{body}");
    let (pipeline_id, stages) = pipeline(&app, &admin, "Sales").await;
    assert_eq!(
        app.refused(
            &admin,
            CREATE_PIPELINE,
            json!({ "i": { "name": "Sales", "opportunityType": "x", "stages": [{ "name": "A", "probability": 1 }] } }),
        )
        .await,
        ("CONFLICT".into(), "ALREADY_EXISTS".into())
    );
    let (other_pipeline, other_stages) = pipeline(&app, &admin, "Renewals").await;
    let acme = company(&app, &admin, "Acme").await;

    let a = opportunity(&app, &admin, &pipeline_id, &stages[0], &acme, "1000", "EUR").await;
    let b = opportunity(&app, &admin, &pipeline_id, &stages[0], &acme, "2000.50", "EUR").await;
    let c = opportunity(&app, &admin, &pipeline_id, &stages[1], &acme, "300", "USD").await;
    let d = opportunity(&app, &admin, &pipeline_id, &stages[2], &acme, "5000", "JPY").await;
    opportunity(&app, &admin, &other_pipeline, &other_stages[0], &acme, "999", "EUR").await;

    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    let board = &board["pipelineBoard"];
    assert_eq!(board["openCount"], 4);
    assert_eq!(money_list(&board["totals"]), ["300.00 USD", "3000.50 EUR", "5000 JPY"]);
    // 10 % of 3000.50 = 300.05; 30 % of 300 = 90; 60 % of 5000 JPY = 3000.
    assert_eq!(money_list(&board["forecast"]), ["300.05 EUR", "3000 JPY", "90.00 USD"]);
    assert_eq!(board["stages"][0]["count"], 2);
    assert_eq!(money_list(&board["stages"][0]["weightedTotals"]), ["300.05 EUR"]);
    assert_eq!(board["stages"][3]["count"], 0);
    assert_eq!(board["stages"][3]["totals"], json!([]));
    assert_eq!(board["stages"][0]["cards"]["nodes"].as_array().unwrap().len(), 2);

    // A move: audited, the totals follow, the version counts.
    let moved = app
        .ok(&admin, MOVE, json!({ "i": { "opportunityId": a, "stageId": stages[3], "expectedVersion": 1 } }))
        .await;
    assert_eq!(moved["moveOpportunity"]["fromStage"]["id"], stages[0].as_str());
    assert_eq!(moved["moveOpportunity"]["opportunity"]["version"], 2);
    assert_eq!(
        app.refused(&admin, MOVE, json!({ "i": { "opportunityId": a, "stageId": stages[2], "expectedVersion": 1 } })).await,
        ("CONFLICT".into(), "VERSION_CONFLICT".into())
    );
    assert_eq!(
        app.refused(&admin, MOVE, json!({ "i": { "opportunityId": a, "stageId": other_stages[1] } })).await,
        ("BAD_USER_INPUT".into(), "STAGE_NOT_IN_PIPELINE".into())
    );
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(money_list(&board["pipelineBoard"]["stages"][3]["totals"]), ["1000.00 EUR"]);
    assert_eq!(money_list(&board["pipelineBoard"]["stages"][0]["totals"]), ["2000.50 EUR"]);

    // Losing needs a reason; a lost opportunity is terminal; reopening is explicit.
    let lose = "mutation($i: LoseOpportunityInput!) { loseOpportunity(input: $i) { status lostReason closedAt } }";
    assert_eq!(
        app.refused(&admin, lose, json!({ "i": { "opportunityId": b, "reason": "  " } })).await,
        ("BAD_USER_INPUT".into(), "REASON_REQUIRED".into())
    );
    let lost = app
        .ok(&admin, lose, json!({ "i": { "opportunityId": b, "reason": "price" } }))
        .await;
    assert_eq!(lost["loseOpportunity"]["status"], "LOST");
    assert_eq!(lost["loseOpportunity"]["lostReason"], "price");
    let win = "mutation($i: WinOpportunityInput!) { winOpportunity(input: $i) { status } }";
    assert_eq!(
        app.refused(&admin, win, json!({ "i": { "opportunityId": b } })).await,
        ("CONFLICT".into(), "OPPORTUNITY_CLOSED".into())
    );
    assert_eq!(
        app.refused(&admin, MOVE, json!({ "i": { "opportunityId": b, "stageId": stages[1] } })).await,
        ("CONFLICT".into(), "OPPORTUNITY_CLOSED".into())
    );
    let reopen = "mutation($i: ReopenOpportunityInput!) { reopenOpportunity(input: $i) { status stage { id } } }";
    assert_eq!(
        app.refused(&admin, reopen, json!({ "i": { "opportunityId": c } })).await,
        ("CONFLICT".into(), "OPPORTUNITY_NOT_CLOSED".into())
    );
    let reopened = app
        .ok(&admin, reopen, json!({ "i": { "opportunityId": b, "stageId": stages[1], "reason": "came back" } }))
        .await;
    assert_eq!(reopened["reopenOpportunity"], json!({ "status": "OPEN", "stage": { "id": stages[1] } }));
    let won = app.ok(&admin, win, json!({ "i": { "opportunityId": d } })).await;
    assert_eq!(won["winOpportunity"]["status"], "WON");
    let history = app
        .ok(
            &admin,
            "query($id: ID!) { opportunity(id: $id) { history { action actorId reason fromStage { name } toStage { name } } } }",
            json!({ "id": b }),
        )
        .await;
    let actions: Vec<&str> = history["opportunity"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["CREATED", "LOST", "REOPENED"]);
    assert_eq!(history["opportunity"]["history"][1]["reason"], "price");
    assert_eq!(history["opportunity"]["history"][2]["reason"], "came back");
    assert_eq!(history["opportunity"]["history"][2]["toStage"]["name"], "Qualified");

    // C2: after random moves, wins, losses, reopens and edits, the cached totals are the sums
    // of the open cards, per stage and currency.
    let mut ids = vec![a.clone(), b.clone(), c.clone()];
    for n in 0..6 {
        ids.push(opportunity(&app, &admin, &pipeline_id, &stages[n % 4], &acme, &format!("{}.25", 100 + n), if n % 2 == 0 { "EUR" } else { "USD" }).await);
    }
    let mut seed: u64 = 7;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..40 {
        let id = ids[next() % ids.len()].clone();
        let (_, body) = match next() % 5 {
            0 | 1 => app.graphql(&admin, MOVE, json!({ "i": { "opportunityId": id, "stageId": stages[next() % 4] } })).await,
            2 => app.graphql(&admin, win, json!({ "i": { "opportunityId": id } })).await,
            3 => app.graphql(&admin, reopen, json!({ "i": { "opportunityId": id } })).await,
            _ => app
                .graphql(
                    &admin,
                    "mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) { id } }",
                    json!({ "i": { "opportunityId": id, "amount": { "amount": format!("{}.{}", next() % 10_000, next() % 100), "currency": "EUR" } } }),
                )
                .await,
        };
        // Refusals (closed, not closed) are part of the walk; anything else is a failure.
        if let Some(code) = body["errors"][0]["extensions"]["code"].as_str() {
            assert_eq!(code, "CONFLICT", "{body}");
        }
    }
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    let mut open_cards = 0;
    for stage in board["pipelineBoard"]["stages"].as_array().unwrap() {
        let mut sums: std::collections::BTreeMap<String, i64> = Default::default();
        let cards = stage["cards"]["nodes"].as_array().unwrap();
        open_cards += cards.len();
        for card in cards {
            let amount = card["amount"]["amount"].as_str().unwrap().replace('.', "");
            *sums.entry(card["amount"]["currency"].as_str().unwrap().to_owned()).or_default() +=
                amount.parse::<i64>().unwrap();
        }
        let totals: std::collections::BTreeMap<String, i64> = stage["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["currency"].as_str().unwrap().to_owned(),
                    m["amount"].as_str().unwrap().replace('.', "").parse::<i64>().unwrap(),
                )
            })
            .collect();
        assert_eq!(totals, sums, "stage {}", stage["stage"]["name"]);
        assert_eq!(stage["count"].as_u64().unwrap() as usize, cards.len());
    }
    assert_eq!(board["pipelineBoard"]["openCount"].as_u64().unwrap() as usize, open_cards);
}
