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
const BOARD: &str = "query($p: ID!) { pipelineBoard(pipelineId: $p) { openCount totals { amount currency } forecast { amount currency } stages { stage { id name probability } count totals { amount currency } weightedTotals { amount currency } cards(first: 50) { nodes { id amount { amount currency } } pageInfo { hasNextPage } } } } }";

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
        .map(|m| {
            format!(
                "{} {}",
                m["amount"].as_str().unwrap(),
                m["currency"].as_str().unwrap()
            )
        })
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
    assert_eq!(
        data["createClient"]["client"]["company"]["id"],
        acme_id.as_str()
    );
    let address = app
        .ok(
            &admin,
            "mutation($i: AddClientAddressInput!) { addClientAddress(input: $i) { kind city country } }",
            json!({ "i": { "clientId": acme_id, "kind": "BILLING", "line1": "Hauptstr. 1", "city": "Berlin", "country": "de" } }),
        )
        .await;
    assert_eq!(
        address["addClientAddress"],
        json!({ "kind": "BILLING", "city": "Berlin", "country": "DE" })
    );
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
        let (status, body) = app
            .graphql(&admin, CREATE_CLIENT, json!({ "i": input }))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
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
            .ok(
                &admin,
                status,
                json!({ "i": { "clientId": acme_id, "status": to } }),
            )
            .await;
        assert_eq!(
            data["changeClientStatus"],
            json!({ "status": to, "version": version })
        );
    }
    for to in ["PROSPECT", "ACTIVE"] {
        assert_eq!(
            app.refused(
                &admin,
                status,
                json!({ "i": { "clientId": acme_id, "status": to } })
            )
            .await,
            ("CONFLICT".into(), "CLIENT_TRANSITION_NOT_ALLOWED".into())
        );
    }

    // Another tenant sees nothing of it, and cannot change it.
    let stranger = issuer.token("tnt_other", "usr_admin", CRM_ADMIN);
    let other = app
        .ok(
            &stranger,
            "query($id: ID!) { client(id: $id) { id } }",
            json!({ "id": acme_id }),
        )
        .await;
    assert_eq!(other["client"], Value::Null);
    assert_eq!(
        app.refused(
            &stranger,
            status,
            json!({ "i": { "clientId": acme_id, "status": "CHURNED" } })
        )
        .await
        .0,
        "NOT_FOUND"
    );
    // A rename keeps its history (audited, from and to) and publishes `client.updated` for
    // the domains that keep the name (PMO's projects); another change publishes it without
    // a previous name and audits no rename; an empty name is refused, nothing written.
    let update = "mutation($i: UpdateClientInput!) { updateClient(input: $i) { name version } }";
    let renamed = app
        .ok(
            &admin,
            update,
            json!({ "i": { "clientId": acme_id, "name": " Acme AG " } }),
        )
        .await;
    let version = renamed["updateClient"]["version"].as_i64().unwrap();
    assert_eq!(renamed["updateClient"]["name"], "Acme AG");
    assert_eq!(
        app.refused(
            &admin,
            update,
            json!({ "i": { "clientId": acme_id, "name": "  " } })
        )
        .await
        .0,
        "BAD_USER_INPUT"
    );
    app.ok(
        &admin,
        update,
        json!({ "i": { "clientId": acme_id, "email": "office@acme.de" } }),
    )
    .await;
    let updates: Vec<Value> = outbox_events(&app, "client.updated")
        .await
        .into_iter()
        .map(|event| event["payload"].clone())
        .collect();
    let client_now = |previous_name: Value, version: i64| {
        json!({ "client_id": acme_id, "name": "Acme AG", "previous_name": previous_name,
                "kind": "company", "status": updates[0]["status"], "owner_id": "usr_admin",
                "version": version })
    };
    assert_eq!(
        updates,
        [
            client_now(json!("Acme GmbH"), version),
            client_now(Value::Null, version + 1)
        ]
    );
    let renames = {
        use sea_orm::{ConnectionTrait, Statement};
        let db = &app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT actor, detail FROM crm_audit WHERE entity_id = $1 AND action = 'renamed'",
            [acme_id.as_str().into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let actor: String = row.try_get("", "actor").unwrap();
            let detail: String = row.try_get("", "detail").unwrap();
            (actor, serde_json::from_str::<Value>(&detail).unwrap())
        })
        .collect::<Vec<_>>()
    };
    assert_eq!(
        renames,
        [(
            "usr_admin".to_owned(),
            json!({ "from": "Acme GmbH", "to": "Acme AG" })
        )]
    );

    // Without crm:write, no change at all.
    let reader = issuer.token(&tenant, "usr_admin", &["crm:read"]);
    assert_eq!(
        app.refused(&reader, CREATE_CLIENT, json!({ "i": { "name": "Nope" } }))
            .await
            .0,
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
        (
            json!({ "criterion": "SOURCE", "value": "fax", "points": 5 }),
            "value",
        ),
        (
            json!({ "criterion": "HAS_EMAIL", "value": "x", "points": 5 }),
            "value",
        ),
        (json!({ "criterion": "HAS_EMAIL", "points": 0 }), "points"),
    ] {
        let (_, body) = app.graphql(&admin, rule, json!({ "i": input })).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    // Only an administrator sets rules up (the router and the subgraph both refuse the field).
    assert_eq!(
        app.refused(
            &rep,
            rule,
            json!({ "i": { "criterion": "HAS_EMAIL", "points": 1 } })
        )
        .await
        .0,
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
        .graphql(
            &admin,
            assignment,
            json!({ "i": { "name": "x", "strategy": "TERRITORY", "memberIds": ["a"] } }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "territory",
        "{body}"
    );

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
            .ok(
                &admin,
                CREATE_LEAD,
                json!({ "i": { "personName": name, "territory": territory } }),
            )
            .await;
        owners.push(
            data["createLead"]["lead"]["ownerId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        owners,
        ["u_e1", "u_e2", "u_cap1", "u_cap2", "u_r1", "u_r2", "u_r1"]
    );

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
    assert_eq!(
        lead["utm"],
        json!({ "source": "newsletter", "medium": "email", "campaign": "spring" })
    );
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
        .graphql(
            &rep,
            LEAD_STATUS,
            json!({ "i": { "leadId": lead_id, "status": "DISQUALIFIED" } }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "REASON_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
    for to in ["CONTACTED", "QUALIFIED"] {
        let data = app
            .ok(
                &rep,
                LEAD_STATUS,
                json!({ "i": { "leadId": lead_id, "status": to } }),
            )
            .await;
        assert_eq!(data["changeLeadStatus"]["status"], to);
    }
    assert_eq!(
        app.refused(
            &rep,
            LEAD_STATUS,
            json!({ "i": { "leadId": lead_id, "status": "NEW" } })
        )
        .await,
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
    assert_eq!(
        converted["contact"]["company"]["id"],
        converted["client"]["id"]
    );
    let opportunity = &converted["opportunity"];
    assert_eq!(
        opportunity["amount"],
        json!({ "amount": "12000.00", "currency": "EUR" })
    );
    assert_eq!(opportunity["stage"]["name"], "Lead");
    assert_eq!(opportunity["client"]["id"], converted["client"]["id"]);
    assert_eq!(opportunity["contact"]["id"], converted["contact"]["id"]);
    let board = app.ok(&rep, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(
        money_list(&board["pipelineBoard"]["totals"]),
        ["12000.00 EUR"]
    );
    assert_eq!(
        board["pipelineBoard"]["stages"][0]["stage"]["id"],
        stages[0].as_str()
    );

    // Converting twice, or changing a converted lead, is refused.
    assert_eq!(
        app.refused(&rep, CONVERT, conversion).await,
        ("CONFLICT".into(), "LEAD_ALREADY_CONVERTED".into())
    );
    assert_eq!(
        app.refused(
            &rep,
            LEAD_STATUS,
            json!({ "i": { "leadId": lead_id, "status": "DISQUALIFIED", "reason": "late" } })
        )
        .await,
        ("CONFLICT".into(), "LEAD_ALREADY_CONVERTED".into())
    );

    // Disqualified with a reason, and reopened.
    let other = app
        .ok(
            &rep,
            CREATE_LEAD,
            json!({ "i": { "personName": "Bo", "ownerId": "usr_rep" } }),
        )
        .await["createLead"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = app
        .ok(
            &rep,
            LEAD_STATUS,
            json!({ "i": { "leadId": other, "status": "DISQUALIFIED", "reason": "no budget" } }),
        )
        .await;
    assert_eq!(
        data["changeLeadStatus"],
        json!({ "id": other, "status": "DISQUALIFIED", "disqualifyReason": "no budget" })
    );
    let data = app
        .ok(
            &rep,
            LEAD_STATUS,
            json!({ "i": { "leadId": other, "status": "NEW" } }),
        )
        .await;
    assert_eq!(data["changeLeadStatus"]["status"], "NEW");

    // The rep sees only their own leads (no team in the directory); the administrator all.
    let mine = app
        .ok(
            &rep,
            "{ leads(first: 50) { nodes { ownerId } } }",
            json!({}),
        )
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
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "stages[0].probability",
        "{body}"
    );
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
    let b = opportunity(
        &app,
        &admin,
        &pipeline_id,
        &stages[0],
        &acme,
        "2000.50",
        "EUR",
    )
    .await;
    let c = opportunity(&app, &admin, &pipeline_id, &stages[1], &acme, "300", "USD").await;
    let d = opportunity(&app, &admin, &pipeline_id, &stages[2], &acme, "5000", "JPY").await;
    opportunity(
        &app,
        &admin,
        &other_pipeline,
        &other_stages[0],
        &acme,
        "999",
        "EUR",
    )
    .await;

    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    let board = &board["pipelineBoard"];
    assert_eq!(board["openCount"], 4);
    assert_eq!(
        money_list(&board["totals"]),
        ["300.00 USD", "3000.50 EUR", "5000 JPY"]
    );
    // 10 % of 3000.50 = 300.05; 30 % of 300 = 90; 60 % of 5000 JPY = 3000.
    assert_eq!(
        money_list(&board["forecast"]),
        ["300.05 EUR", "3000 JPY", "90.00 USD"]
    );
    assert_eq!(board["stages"][0]["count"], 2);
    assert_eq!(
        money_list(&board["stages"][0]["weightedTotals"]),
        ["300.05 EUR"]
    );
    assert_eq!(board["stages"][3]["count"], 0);
    assert_eq!(board["stages"][3]["totals"], json!([]));
    assert_eq!(
        board["stages"][0]["cards"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A move: audited, the totals follow, the version counts.
    let moved = app
        .ok(
            &admin,
            MOVE,
            json!({ "i": { "opportunityId": a, "stageId": stages[3], "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(
        moved["moveOpportunity"]["fromStage"]["id"],
        stages[0].as_str()
    );
    assert_eq!(moved["moveOpportunity"]["opportunity"]["version"], 2);
    assert_eq!(
        app.refused(
            &admin,
            MOVE,
            json!({ "i": { "opportunityId": a, "stageId": stages[2], "expectedVersion": 1 } })
        )
        .await,
        ("CONFLICT".into(), "VERSION_CONFLICT".into())
    );
    assert_eq!(
        app.refused(
            &admin,
            MOVE,
            json!({ "i": { "opportunityId": a, "stageId": other_stages[1] } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "STAGE_NOT_IN_PIPELINE".into())
    );
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(
        money_list(&board["pipelineBoard"]["stages"][3]["totals"]),
        ["1000.00 EUR"]
    );
    assert_eq!(
        money_list(&board["pipelineBoard"]["stages"][0]["totals"]),
        ["2000.50 EUR"]
    );

    // Losing needs a reason; a lost opportunity is terminal; reopening is explicit.
    let lose = "mutation($i: LoseOpportunityInput!) { loseOpportunity(input: $i) { status lostReason closedAt } }";
    assert_eq!(
        app.refused(
            &admin,
            lose,
            json!({ "i": { "opportunityId": b, "reason": "  " } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "REASON_REQUIRED".into())
    );
    let lost = app
        .ok(
            &admin,
            lose,
            json!({ "i": { "opportunityId": b, "reason": "price" } }),
        )
        .await;
    assert_eq!(lost["loseOpportunity"]["status"], "LOST");
    assert_eq!(lost["loseOpportunity"]["lostReason"], "price");
    let win = "mutation($i: WinOpportunityInput!) { winOpportunity(input: $i) { status } }";
    assert_eq!(
        app.refused(&admin, win, json!({ "i": { "opportunityId": b } }))
            .await,
        ("CONFLICT".into(), "OPPORTUNITY_CLOSED".into())
    );
    assert_eq!(
        app.refused(
            &admin,
            MOVE,
            json!({ "i": { "opportunityId": b, "stageId": stages[1] } })
        )
        .await,
        ("CONFLICT".into(), "OPPORTUNITY_CLOSED".into())
    );
    let reopen = "mutation($i: ReopenOpportunityInput!) { reopenOpportunity(input: $i) { status stage { id } } }";
    assert_eq!(
        app.refused(&admin, reopen, json!({ "i": { "opportunityId": c } }))
            .await,
        ("CONFLICT".into(), "OPPORTUNITY_NOT_CLOSED".into())
    );
    let reopened = app
        .ok(
            &admin,
            reopen,
            json!({ "i": { "opportunityId": b, "stageId": stages[1], "reason": "came back" } }),
        )
        .await;
    assert_eq!(
        reopened["reopenOpportunity"],
        json!({ "status": "OPEN", "stage": { "id": stages[1] } })
    );
    let won = app
        .ok(&admin, win, json!({ "i": { "opportunityId": d } }))
        .await;
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
    assert_eq!(
        history["opportunity"]["history"][2]["toStage"]["name"],
        "Qualified"
    );

    // C2: after random moves, wins, losses, reopens and edits, the cached totals are the sums
    // of the open cards, per stage and currency.
    let mut ids = vec![a.clone(), b.clone(), c.clone()];
    for n in 0..6 {
        ids.push(
            opportunity(
                &app,
                &admin,
                &pipeline_id,
                &stages[n % 4],
                &acme,
                &format!("{}.25", 100 + n),
                if n % 2 == 0 { "EUR" } else { "USD" },
            )
            .await,
        );
    }
    let mut seed: u64 = 7;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
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
            *sums
                .entry(card["amount"]["currency"].as_str().unwrap().to_owned())
                .or_default() += amount.parse::<i64>().unwrap();
        }
        let totals: std::collections::BTreeMap<String, i64> = stage["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["currency"].as_str().unwrap().to_owned(),
                    m["amount"]
                        .as_str()
                        .unwrap()
                        .replace('.', "")
                        .parse::<i64>()
                        .unwrap(),
                )
            })
            .collect();
        assert_eq!(totals, sums, "stage {}", stage["stage"]["name"]);
        assert_eq!(stage["count"].as_u64().unwrap() as usize, cards.len());
    }
    assert_eq!(
        board["pipelineBoard"]["openCount"].as_u64().unwrap() as usize,
        open_cards
    );
}

const CREATE_QUOTE: &str = "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id number status currentVersion { version status contentHash subtotal { amount } discount { amount } tax { amount } total { amount currency } lines { description quantity unitPrice { amount } discountPercent taxRatePercent optional selected net { amount } total { amount } } } } }";
const QUOTE_VERSION: &str = "query($id: ID!) { quote(id: $id) { status currentVersion { version status contentHash validUntil expiresAt } versions { version status } } }";
const SEND_QUOTE: &str = "mutation($i: QuoteActionInput!) { sendQuote(input: $i) { status currentVersion { version contentHash } } }";
const ACCEPT_QUOTE: &str = "mutation($i: AcceptQuoteInput!) { acceptQuote(input: $i) { status currentVersion { decidedBy decidedAt } } }";
const REVISE_QUOTE: &str = "mutation($i: ReviseQuoteInput!) { reviseQuote(input: $i) { status currentVersion { version status contentHash } } }";
const SETTINGS: &str =
    "mutation($z: TimeZone!) { updateCrmSettings(input: { timeZone: $z }) { timeZone } }";

/// Sends a quote and answers (version, content hash).
async fn send(app: &CrmApp, token: &str, quote: &str) -> (i64, String) {
    let data = app
        .ok(token, SEND_QUOTE, json!({ "i": { "quoteId": quote } }))
        .await;
    let version = &data["sendQuote"]["currentVersion"];
    (
        version["version"].as_i64().unwrap(),
        version["contentHash"].as_str().unwrap().to_owned(),
    )
}

/// The events of `event_type` in the CRM's outbox, newest last (what the relay publishes).
async fn outbox_events(app: &CrmApp, event_type: &str) -> Vec<Value> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.runtime.db;
    let rows = db
        .query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            match db.get_database_backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT envelope FROM crm_outbox WHERE event_type = $1 ORDER BY seq"
                }
                _ => "SELECT envelope FROM crm_outbox WHERE event_type = ? ORDER BY seq",
            },
            [event_type.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("", "envelope").unwrap();
            serde_json::from_str(&text).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn quotes_versions_expiry_in_the_tenants_zone_and_proposals() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let acme = company(&app, &admin, "Acme").await;
    let today = chrono::Utc::now().date_naive();

    let list = app
        .ok(
            &admin,
            "mutation($i: CreatePriceListInput!) { createPriceList(input: $i) { id currency items { id code name unitPrice { amount } taxRatePercent } } }",
            json!({ "i": { "name": "2026", "currency": "EUR", "items": [
                { "code": "CONS", "name": "Consulting day", "unitPrice": "1200", "taxRatePercent": "19" },
                { "code": "LIC", "name": "Licence", "unitPrice": "33.33", "taxRatePercent": "7" },
            ]}}),
        )
        .await;
    let list_id = list["createPriceList"]["id"].as_str().unwrap().to_owned();
    let items = list["createPriceList"]["items"].as_array().unwrap().clone();
    let consulting = items[0]["id"].as_str().unwrap().to_owned();
    let licence = items[1]["id"].as_str().unwrap().to_owned();
    let usd_list = app
        .ok(
            &admin,
            "mutation($i: CreatePriceListInput!) { createPriceList(input: $i) { items { id } } }",
            json!({ "i": { "name": "US", "currency": "USD", "items": [{ "code": "X", "name": "X", "unitPrice": "1" }] } }),
        )
        .await;
    let usd_item = usd_list["createPriceList"]["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Lines from the price list: 2 consulting days, 10 % off; 1.5 licences; an optional
    // training not chosen; a chosen optional line.
    let quote_input = json!({ "i": {
        "clientId": acme, "priceListId": list_id, "currency": "EUR",
        "validUntil": (today + chrono::Duration::days(30)).to_string(), "terms": "Net 30",
        "lines": [
            { "itemId": consulting, "quantity": "2", "discountPercent": "10" },
            { "itemId": licence, "quantity": "1.5" },
            { "description": "Training", "quantity": "1", "unitPrice": { "amount": "500", "currency": "EUR" }, "optional": true },
            { "description": "Support", "quantity": "1", "unitPrice": { "amount": "100", "currency": "EUR" }, "optional": true, "selected": true },
        ],
    }});
    let data = app.ok(&admin, CREATE_QUOTE, quote_input.clone()).await;
    let quote = &data["createQuote"];
    assert_eq!(quote["number"], "Q-000001");
    assert_eq!(quote["status"], "DRAFT");
    let version = &quote["currentVersion"];
    // 2 × 1200 = 2400.00, −240.00, tax 19 % of 2160 = 410.40; 1.5 × 33.33 = 50.00 (49.995),
    // tax 7 % = 3.50; support 100.00, no tax. Training (optional, not chosen) not counted.
    assert_eq!(version["subtotal"]["amount"], "2550.00");
    assert_eq!(version["discount"]["amount"], "240.00");
    assert_eq!(version["tax"]["amount"], "413.90");
    assert_eq!(
        version["total"],
        json!({ "amount": "2723.90", "currency": "EUR" })
    );
    assert_eq!(version["lines"][0]["description"], "Consulting day");
    assert_eq!(version["lines"][0]["discountPercent"], "10.00");
    assert_eq!(version["lines"][1]["quantity"], "1.500");
    assert_eq!(version["lines"][1]["net"]["amount"], "50.00");
    assert_eq!(version["lines"][2]["selected"], false);
    assert_eq!(version["contentHash"], Value::Null);
    let quote_id = quote["id"].as_str().unwrap().to_owned();

    // An item of a list in another currency, a discount over 100 %.
    let mut bad = quote_input.clone();
    bad["i"]["priceListId"] = Value::Null;
    bad["i"]["lines"] = json!([{ "itemId": usd_item, "quantity": "1" }]);
    assert_eq!(
        app.refused(&admin, CREATE_QUOTE, bad).await,
        ("BAD_USER_INPUT".into(), "CURRENCY_MISMATCH".into())
    );
    let mut bad = quote_input.clone();
    bad["i"]["lines"] =
        json!([{ "itemId": consulting, "quantity": "1", "discountPercent": "100.01" }]);
    let (_, body) = app.graphql(&admin, CREATE_QUOTE, bad).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "lines[0].discountPercent",
        "{body}"
    );

    // Draft edits, then sending freezes and hashes it.
    let edit = "mutation($i: UpdateQuoteDraftInput!) { updateQuoteDraft(input: $i) { currentVersion { terms } } }";
    app.ok(
        &admin,
        edit,
        json!({ "i": { "quoteId": quote_id, "terms": "Net 14" } }),
    )
    .await;
    let (v1, hash1) = send(&app, &admin, &quote_id).await;
    assert_eq!((v1, hash1.len()), (1, 64));
    assert_eq!(
        app.refused(
            &admin,
            edit,
            json!({ "i": { "quoteId": quote_id, "terms": "Net 60" } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_NOT_DRAFT".into())
    );
    // Accepting what was not shown: a wrong hash.
    assert_eq!(
        app.refused(
            &admin,
            ACCEPT_QUOTE,
            json!({ "i": { "quoteId": quote_id, "version": 1, "contentHash": "0".repeat(64) } })
        )
        .await,
        ("CONFLICT".into(), "CONTENT_HASH_MISMATCH".into())
    );
    // A revision: v2 is a draft, v1 is superseded and can no longer be accepted.
    let revised = app
        .ok(
            &admin,
            REVISE_QUOTE,
            json!({ "i": { "quoteId": quote_id } }),
        )
        .await;
    assert_eq!(revised["reviseQuote"]["currentVersion"]["version"], 2);
    assert_eq!(revised["reviseQuote"]["status"], "DRAFT");
    assert_eq!(
        app.refused(
            &admin,
            ACCEPT_QUOTE,
            json!({ "i": { "quoteId": quote_id, "version": 1, "contentHash": hash1 } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_SUPERSEDED".into())
    );
    let (v2, hash2) = send(&app, &admin, &quote_id).await;
    assert_eq!(v2, 2);
    assert_ne!(hash2, hash1);
    let accepted = app
        .ok(&admin, ACCEPT_QUOTE, json!({ "i": { "quoteId": quote_id, "version": 2, "contentHash": hash2, "signedBy": "Ana Gomez" } }))
        .await;
    assert_eq!(accepted["acceptQuote"]["status"], "ACCEPTED");
    assert_eq!(
        accepted["acceptQuote"]["currentVersion"]["decidedBy"],
        "Ana Gomez"
    );
    let versions = app
        .ok(&admin, QUOTE_VERSION, json!({ "id": quote_id }))
        .await;
    assert_eq!(
        versions["quote"]["versions"],
        json!([{ "version": 1, "status": "SUPERSEDED" }, { "version": 2, "status": "ACCEPTED" }])
    );
    // An accepted quote never changes: no edit, no revision, no second acceptance.
    assert_eq!(
        app.refused(
            &admin,
            edit,
            json!({ "i": { "quoteId": quote_id, "terms": "x" } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_LOCKED".into())
    );
    assert_eq!(
        app.refused(
            &admin,
            REVISE_QUOTE,
            json!({ "i": { "quoteId": quote_id } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_LOCKED".into())
    );
    assert_eq!(
        app.refused(
            &admin,
            ACCEPT_QUOTE,
            json!({ "i": { "quoteId": quote_id, "version": 2, "contentHash": hash2 } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_LOCKED".into())
    );
    // The hand-off to finance: `quote.accepted` carries the accepted snapshot.
    let events = outbox_events(&app, "quote.accepted").await;
    assert_eq!(events.len(), 1);
    let payload = &events[0]["payload"];
    assert_eq!(events[0]["schema_version"], 1);
    assert_eq!(events[0]["aggregate_id"], quote_id.as_str());
    assert_eq!(payload["number"], "Q-000001");
    assert_eq!(payload["version"], 2);
    assert_eq!(payload["content_hash"], hash2.as_str());
    assert_eq!(payload["client_id"], acme.as_str());
    assert_eq!(payload["client_name"], "Acme");
    assert_eq!(payload["currency"], "EUR");
    assert_eq!(payload["terms"], "Net 14");
    assert_eq!(payload["total_minor"], 272_390);
    assert_eq!(payload["tax_minor"], 41_390);
    assert_eq!(payload["lines"].as_array().unwrap().len(), 4);
    assert_eq!(payload["lines"][0]["code"], "CONS");
    assert_eq!(payload["lines"][0]["quantity_milli"], 2000);
    assert_eq!(payload["lines"][0]["discount_bp"], 1000);
    assert_eq!(payload["lines"][2]["selected"], false);
    assert_eq!(payload["accepted_by"], "Ana Gomez");
    let converted = app
        .ok(
            &admin,
            "mutation($i: QuoteActionInput!) { convertQuote(input: $i) { status } }",
            json!({ "i": { "quoteId": quote_id } }),
        )
        .await;
    assert_eq!(converted["convertQuote"]["status"], "CONVERTED");

    // C4: expiry is the END of the valid-until day in the tenant's time zone. A quote valid
    // until `day` is open in Pago Pago (UTC−11) and over in Kiritimati (UTC+14).
    let day = if chrono::Utc::now().time() >= chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap() {
        today
    } else {
        today - chrono::Duration::days(1)
    };
    app.ok(&admin, SETTINGS, json!({ "z": "Pacific/Pago_Pago" }))
        .await;
    let mut input = quote_input.clone();
    input["i"]["validUntil"] = json!(day.to_string());
    let expiring = app.ok(&admin, CREATE_QUOTE, input).await["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (version, hash) = send(&app, &admin, &expiring).await;
    let open = app
        .ok(&admin, QUOTE_VERSION, json!({ "id": expiring }))
        .await;
    assert_eq!(open["quote"]["status"], "SENT");
    let next_day = day + chrono::Duration::days(1);
    assert_eq!(
        open["quote"]["currentVersion"]["expiresAt"],
        format!("{next_day}T11:00:00.000Z")
    );
    app.ok(&admin, SETTINGS, json!({ "z": "Pacific/Kiritimati" }))
        .await;
    let over = app
        .ok(&admin, QUOTE_VERSION, json!({ "id": expiring }))
        .await;
    assert_eq!(over["quote"]["status"], "EXPIRED");
    assert_eq!(
        over["quote"]["currentVersion"]["expiresAt"],
        format!("{day}T10:00:00.000Z")
    );
    assert_eq!(
        app.refused(
            &admin,
            ACCEPT_QUOTE,
            json!({ "i": { "quoteId": expiring, "version": version, "contentHash": hash } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_EXPIRED".into())
    );
    // An expired quote is revised into a new version with a new day.
    let revised = app
        .ok(&admin, REVISE_QUOTE, json!({ "i": { "quoteId": expiring, "validUntil": (today + chrono::Duration::days(10)).to_string() } }))
        .await;
    assert_eq!(revised["reviseQuote"]["currentVersion"]["version"], 2);
    app.ok(&admin, SETTINGS, json!({ "z": "Europe/Berlin" }))
        .await;
    let (_, body) = app
        .graphql(&admin, SETTINGS, json!({ "z": "Mars/Olympus" }))
        .await;
    assert!(body["errors"][0].is_object(), "{body}");

    // A proposal wraps quotes and is accepted as a whole, against the hash shown.
    let first = app.ok(&admin, CREATE_QUOTE, quote_input.clone()).await["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.ok(&admin, CREATE_QUOTE, quote_input.clone()).await["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proposal = app
        .ok(
            &admin,
            "mutation($i: CreateProposalInput!) { createProposal(input: $i) { id status sections { title quote { id } } } }",
            json!({ "i": { "clientId": acme, "title": "Rollout", "sections": [
                { "title": "Why us", "body": "Because." },
                { "title": "Phase 1", "body": "Consulting.", "quoteId": first },
                { "title": "Phase 2", "body": "Licences.", "quoteId": second },
            ]}}),
        )
        .await;
    let proposal_id = proposal["createProposal"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let send_proposal =
        "mutation($i: ProposalActionInput!) { sendProposal(input: $i) { status contentHash } }";
    let accept_proposal = "mutation($i: AcceptProposalInput!) { acceptProposal(input: $i) { status decidedBy sections { quote { status } } } }";
    assert_eq!(
        app.refused(
            &admin,
            accept_proposal,
            json!({ "i": { "proposalId": proposal_id, "contentHash": "x" } })
        )
        .await,
        ("CONFLICT".into(), "PROPOSAL_TRANSITION_NOT_ALLOWED".into())
    );
    let sent = app
        .ok(
            &admin,
            send_proposal,
            json!({ "i": { "proposalId": proposal_id } }),
        )
        .await;
    let shown = sent["sendProposal"]["contentHash"]
        .as_str()
        .unwrap()
        .to_owned();
    // One of its quotes is revised after the proposal was sent: what was shown is stale.
    app.ok(&admin, REVISE_QUOTE, json!({ "i": { "quoteId": second } }))
        .await;
    assert_eq!(
        app.refused(
            &admin,
            accept_proposal,
            json!({ "i": { "proposalId": proposal_id, "contentHash": shown } })
        )
        .await,
        ("CONFLICT".into(), "QUOTE_SUPERSEDED".into())
    );
    let resent = app
        .ok(
            &admin,
            send_proposal,
            json!({ "i": { "proposalId": proposal_id } }),
        )
        .await;
    let shown_again = resent["sendProposal"]["contentHash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(shown_again, shown);
    assert_eq!(
        app.refused(
            &admin,
            accept_proposal,
            json!({ "i": { "proposalId": proposal_id, "contentHash": shown } })
        )
        .await,
        ("CONFLICT".into(), "CONTENT_HASH_MISMATCH".into())
    );
    let accepted = app
        .ok(&admin, accept_proposal, json!({ "i": { "proposalId": proposal_id, "contentHash": shown_again, "signedBy": "Ana" } }))
        .await;
    assert_eq!(accepted["acceptProposal"]["status"], "ACCEPTED");
    assert_eq!(accepted["acceptProposal"]["decidedBy"], "Ana");
    assert_eq!(
        accepted["acceptProposal"]["sections"],
        json!([{ "quote": null }, { "quote": { "status": "ACCEPTED" } }, { "quote": { "status": "ACCEPTED" } }])
    );
    let events = outbox_events(&app, "quote.accepted").await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[1]["payload"]["proposal_id"], proposal_id.as_str());
    assert_eq!(events[2]["payload"]["version"], 2);
}

#[tokio::test]
async fn duplicates_are_found_on_create_and_merges_reparent_everything_reversibly() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);

    let data = app
        .ok(
            &admin,
            CREATE_CLIENT,
            json!({ "i": { "name": "Initech Limited", "email": "Peter.Gibbons+crm@GMail.com", "phone": "+1 (555) 010-2030", "website": "https://initech.com" } }),
        )
        .await;
    let initech = data["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another spelling of each key finds it.
    let check = "query($i: DuplicateCheckInput!) { duplicateCheck(input: $i) { hiddenMatches candidates { id recordKind name reasons similarity } } }";
    for (input, reason) in [
        (
            json!({ "name": "Zed", "email": "petergibbons@gmail.com" }),
            "EMAIL",
        ),
        (json!({ "name": "Zed", "phone": "555.010.2030" }), "PHONE"),
        (
            json!({ "name": "Zed", "website": "www.initech.com/contact" }),
            "DOMAIN",
        ),
        (json!({ "name": "INITECH ltd." }), "SAME_NAME"),
        (json!({ "name": "Initech Systems" }), "SIMILAR_NAME"),
    ] {
        let data = app.ok(&admin, check, json!({ "i": input })).await;
        let candidates = &data["duplicateCheck"]["candidates"];
        assert_eq!(candidates.as_array().unwrap().len(), 1, "{input}: {data}");
        assert_eq!(candidates[0]["id"], initech.as_str());
        assert_eq!(candidates[0]["recordKind"], "CLIENT");
        assert_eq!(candidates[0]["reasons"], json!([reason]), "{input}");
    }
    let data = app
        .ok(&admin, check, json!({ "i": { "name": "Globex" } }))
        .await;
    assert_eq!(data["duplicateCheck"]["candidates"], json!([]));

    // A lead with the same mailbox is suggested on create, with every reason.
    let data = app
        .ok(
            &admin,
            CREATE_LEAD,
            json!({ "i": { "personName": "Peter", "companyName": "Initech", "email": "peter.gibbons@gmail.com", "phone": "5550102030" } }),
        )
        .await;
    assert_eq!(
        data["createLead"]["duplicates"]["candidates"][0]["reasons"],
        json!(["EMAIL", "PHONE", "SAME_NAME"])
    );
    // A rep who sees none of them learns only that there are some.
    let rep = issuer.token(&tenant, "usr_rep", CRM_REP);
    let data = app
        .ok(
            &rep,
            check,
            json!({ "i": { "name": "Initech", "email": "petergibbons@gmail.com" } }),
        )
        .await;
    assert_eq!(data["duplicateCheck"]["candidates"], json!([]));
    assert_eq!(data["duplicateCheck"]["hiddenMatches"], 2);

    // The duplicate client, with children of every kind.
    let duplicate = company(&app, &admin, "Initech").await;
    let (pipeline_id, stages) = pipeline(&app, &admin, "Sales").await;
    let mut opportunities = Vec::new();
    for amount in ["100", "200"] {
        opportunities.push(
            opportunity(
                &app,
                &admin,
                &pipeline_id,
                &stages[0],
                &duplicate,
                amount,
                "EUR",
            )
            .await,
        );
    }
    app.ok(
        &admin,
        "mutation($i: LogActivityInput!) { logActivity(input: $i) { id } }",
        json!({ "i": { "kind": "CALL", "subject": "Hello", "clientId": duplicate } }),
    )
    .await;
    app.ok(
        &admin,
        "mutation($i: AddClientAddressInput!) { addClientAddress(input: $i) { id } }",
        json!({ "i": { "clientId": duplicate, "kind": "OFFICE", "line1": "1 Main St", "city": "Austin", "country": "US" } }),
    )
    .await;
    let person = app
        .ok(
            &admin,
            CREATE_CLIENT,
            json!({ "i": { "kind": "PERSON", "name": "Milton", "companyId": duplicate } }),
        )
        .await["createClient"]["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &admin,
        CREATE_QUOTE,
        json!({ "i": { "clientId": duplicate, "currency": "EUR", "validUntil": "2099-01-01", "lines": [{ "description": "x", "quantity": "1", "unitPrice": { "amount": "1", "currency": "EUR" } }] } }),
    )
    .await;

    // Refusals: into itself, across tenants, a person into a company.
    let merge = "mutation($i: MergeInput!) { mergeClients(input: $i) { id sourceId targetId moved { link count } undoneAt } }";
    let (_, body) = app
        .graphql(
            &admin,
            merge,
            json!({ "i": { "sourceId": duplicate, "targetId": duplicate } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "MERGE_INTO_ITSELF"
    );
    let elsewhere_admin = issuer.token(&crate::tenant(), "usr_admin", CRM_ADMIN);
    let foreign = company(&app, &elsewhere_admin, "Initech").await;
    assert_eq!(
        app.refused(
            &admin,
            merge,
            json!({ "i": { "sourceId": foreign, "targetId": initech } })
        )
        .await
        .0,
        "NOT_FOUND"
    );
    assert_eq!(
        app.refused(
            &elsewhere_admin,
            merge,
            json!({ "i": { "sourceId": duplicate, "targetId": foreign } })
        )
        .await
        .0,
        "NOT_FOUND"
    );
    assert_eq!(
        app.refused(
            &admin,
            merge,
            json!({ "i": { "sourceId": person, "targetId": initech } })
        )
        .await,
        ("CONFLICT".into(), "MERGE_NOT_ALLOWED".into())
    );

    // Only an administrator merges clients (a cross-record, cross-domain rewrite): a sales
    // rep with crm:write is refused the field by its declaration, nothing moves.
    let (status, body) = app
        .graphql(
            &rep,
            merge,
            json!({ "i": { "sourceId": duplicate, "targetId": initech } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE",
        "{body}"
    );
    assert_eq!(body["errors"][0]["path"], json!(["mergeClients"]), "{body}");
    let untouched = app
        .ok(
            &admin,
            "query($id: ID!) { client(id: $id) { mergedInto { id } opportunities { id } } }",
            json!({ "id": duplicate }),
        )
        .await;
    assert_eq!(untouched["client"]["mergedInto"], Value::Null);
    assert_eq!(
        untouched["client"]["opportunities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The merge: every child moves, nothing is deleted.
    let merged = app
        .ok(
            &admin,
            merge,
            json!({ "i": { "sourceId": duplicate, "targetId": initech } }),
        )
        .await;
    let moved: std::collections::BTreeMap<String, i64> = merged["mergeClients"]["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["link"].as_str().unwrap().to_owned(),
                m["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            ("crm_activities.client_id", 1),
            ("crm_addresses.client_id", 1),
            ("crm_clients.company_id", 1),
            ("crm_opportunities.client_id", 2),
            ("crm_quotes.client_id", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    );
    let merge_id = merged["mergeClients"]["id"].as_str().unwrap().to_owned();
    let view = "query($id: ID!, $dup: ID!) { client(id: $id) { people { id } addresses { city } opportunities { id } } dup: client(id: $dup) { mergedInto { id } } quotes(filter: { clientId: $id }) { nodes { id } } activities(filter: { clientId: $id }) { nodes { subject } } }";
    let after = app
        .ok(&admin, view, json!({ "id": initech, "dup": duplicate }))
        .await;
    assert_eq!(after["client"]["people"], json!([{ "id": person }]));
    assert_eq!(after["client"]["addresses"], json!([{ "city": "Austin" }]));
    assert_eq!(
        after["client"]["opportunities"].as_array().unwrap().len(),
        2
    );
    assert_eq!(after["dup"]["mergedInto"]["id"], initech.as_str());
    assert_eq!(after["quotes"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["activities"]["nodes"],
        json!([{ "subject": "Hello" }])
    );
    let listed = app
        .ok(
            &admin,
            "{ clients(first: 50, filter: { kind: COMPANY }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(!listed["clients"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == duplicate.as_str()));
    assert_eq!(
        app.refused(
            &admin,
            merge,
            json!({ "i": { "sourceId": duplicate, "targetId": initech } })
        )
        .await,
        ("CONFLICT".into(), "MERGE_NOT_ALLOWED".into())
    );
    let events = outbox_events(&app, "client.merged").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["payload"],
        json!({ "source_client_id": duplicate, "target_client_id": initech, "merge_id": merge_id, "target_client_name": "Initech Limited" })
    );

    // Undone: the moved rows point at the source again. Only by an administrator.
    let undo = "mutation($i: UndoMergeInput!) { undoMerge(input: $i) { undoneAt } }";
    assert_eq!(
        app.refused(&rep, undo, json!({ "i": { "mergeId": merge_id } }))
            .await
            .0,
        "UNAUTHORIZED_FIELD_OR_TYPE"
    );
    let undone = app
        .ok(&admin, undo, json!({ "i": { "mergeId": merge_id } }))
        .await;
    assert!(undone["undoMerge"]["undoneAt"].is_string());
    let back = app
        .ok(&admin, view, json!({ "id": duplicate, "dup": duplicate }))
        .await;
    assert_eq!(back["client"]["opportunities"].as_array().unwrap().len(), 2);
    assert_eq!(back["client"]["people"], json!([{ "id": person }]));
    assert_eq!(back["dup"]["mergedInto"], Value::Null);
    assert_eq!(
        app.refused(&admin, undo, json!({ "i": { "mergeId": merge_id } }))
            .await,
        ("CONFLICT".into(), "MERGE_NOT_ALLOWED".into())
    );
    let undone = outbox_events(&app, "client.merge_undone").await;
    assert_eq!(undone.len(), 1);
    // Keyed by the survivor like the merge (one partition: no consumer sees the undo first).
    assert_eq!(undone[0]["aggregate_id"], initech.as_str());
    assert_eq!(
        undone[0]["payload"],
        json!({ "source_client_id": duplicate, "target_client_id": initech, "merge_id": merge_id, "source_client_name": "Initech" })
    );

    // Leads merge too; a converted lead does not.
    let lead = |name: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.ok(&admin, CREATE_LEAD, json!({ "i": { "personName": name } }))
                .await["createLead"]["lead"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (l1, l2) = (lead("Sam").await, lead("Samuel").await);
    app.ok(
        &admin,
        "mutation($i: LogActivityInput!) { logActivity(input: $i) { id } }",
        json!({ "i": { "kind": "EMAIL", "subject": "Intro", "leadId": l1 } }),
    )
    .await;
    let merged = app
        .ok(
            &admin,
            "mutation($i: MergeInput!) { mergeLeads(input: $i) { moved { link count } } }",
            json!({ "i": { "sourceId": l1, "targetId": l2 } }),
        )
        .await;
    assert_eq!(
        merged["mergeLeads"]["moved"],
        json!([{ "link": "crm_activities.lead_id", "count": 1 }])
    );
}

#[tokio::test]
async fn imports_stream_upsert_report_each_bad_row_and_never_half_apply() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let rep = issuer.token(&tenant, "usr_rep", CRM_REP);

    // Transport rules: a token, the write scope, a CSV body, a known kind.
    let csv = "name,email\nAna,ana@acme.com\n";
    assert_eq!(app.import(None, "leads", "key=email", csv).await.0, 401);
    let (status, body) = app
        .import(
            Some(&issuer.token(&tenant, "u", &["crm:read"])),
            "leads",
            "key=email",
            csv,
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (403, Some("UNAUTHORIZED_FIELD_OR_TYPE"))
    );
    assert_eq!(
        app.import(Some(&admin), "invoices", "key=email", csv)
            .await
            .0,
        404
    );
    let response = app
        .http
        .post(app.url("/import/leads?key=email"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);

    // A bad header refuses the file and writes nothing.
    for (header, key) in [
        ("name,email,fax", "email"),
        ("name,phone", "email"),
        ("email,email", "email"),
        ("name,email", "ssn"),
    ] {
        let (status, body) = app
            .import(
                Some(&admin),
                "leads",
                &format!("key={key}"),
                format!("{header}\nAna,x\n"),
            )
            .await;
        assert_eq!(status, 400, "{header}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(
            body["errors"][0]["extensions"]["reason"], "IMPORT_BAD_HEADER",
            "{header}"
        );
    }

    // 2,500 rows (three batches; the body arrives in several frames): duplicates of a key
    // fold into the first row; bad rows are reported with their line and column and written
    // not at all.
    let mut file = String::from("external_id,name,company_name,email,phone,source\n");
    for n in 0..2_500 {
        file +=
            &format!("L{n},Person {n},Company {n},person{n}@corp{n}.com,+1 555 {n:07},referral\n");
    }
    file += "L9,Person Nine Again,,,,\n"; // line 2502: folds into L9
    file += "L2501,Bad Mail,,not-an-email,,\n"; // line 2503
    file += "L2502,Bad Source,,,,fax\n"; // line 2504
    file += "\"L2503\",\"Quoted, Name\",\"Acme, Inc.\",,,\n"; // line 2505: quoted commas
    file += "L2504,Too,Many,Fields,Here,x,y\n"; // line 2506
    let (status, dry) = app
        .import(
            Some(&admin),
            "leads",
            "key=external_id&dryRun=true",
            file.clone(),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        (
            dry["rows"].as_i64(),
            dry["created"].as_i64(),
            dry["merged"].as_i64(),
            dry["failed"].as_i64()
        ),
        (Some(2505), Some(2501), Some(1), Some(3))
    );
    let leads = app
        .ok(&admin, "{ leads(first: 1) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        leads["leads"]["nodes"],
        json!([]),
        "a dry run writes nothing"
    );
    let (status, report) = app
        .import(Some(&admin), "leads", "key=external_id", file)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["created"].as_i64(),
            report["updated"].as_i64(),
            report["merged"].as_i64(),
            report["failed"].as_i64()
        ),
        (Some(2501), Some(0), Some(1), Some(3))
    );
    assert_eq!(
        report["errors"],
        json!([
            { "row": 2503, "code": "BAD_USER_INPUT", "column": "email", "message": "`not-an-email` is not an e-mail address" },
            { "row": 2504, "code": "BAD_USER_INPUT", "column": "source", "message": "the source is website, referral, event, campaign, cold_outreach, partner, import or other" },
            { "row": 2506, "code": "BAD_USER_INPUT", "column": null, "message": "the row has 7 fields, the header 6" },
        ])
    );
    // What was imported: the folded row's name won, the quoted row kept its commas, scores
    // come from the rules (none here), owners are the importer.
    let find = "query($i: DuplicateCheckInput!) { duplicateCheck(input: $i) { candidates { lead { personName companyName email source ownerId } } } }";
    let nine = app
        .ok(
            &admin,
            find,
            json!({ "i": { "name": "x", "email": "person9@corp9.com" } }),
        )
        .await;
    assert_eq!(
        nine["duplicateCheck"]["candidates"][0]["lead"],
        json!({ "personName": "Person Nine Again", "companyName": "Company 9", "email": "person9@corp9.com", "source": "REFERRAL", "ownerId": "usr_admin" })
    );
    let quoted = app
        .ok(&admin, find, json!({ "i": { "name": "Acme Inc" } }))
        .await;
    assert_eq!(
        quoted["duplicateCheck"]["candidates"][0]["lead"]["personName"],
        "Quoted, Name"
    );

    // Again, upserting by e-mail: existing rows update; an id of another tenant's record (or
    // of none) is NOT_FOUND for that row; an owner outside the importer's teams is refused.
    let other_tenant_admin = issuer.token(&crate::tenant(), "usr_admin", CRM_ADMIN);
    let foreign = app
        .ok(
            &other_tenant_admin,
            CREATE_LEAD,
            json!({ "i": { "personName": "Theirs" } }),
        )
        .await["createLead"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, report) = app
        .import(
            Some(&admin),
            "leads",
            "key=email",
            "email,name,territory\nPERSON1@corp1.com,Person One,EMEA\nnew@new.com,New Person,\n",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (report["created"].as_i64(), report["updated"].as_i64()),
        (Some(1), Some(1))
    );
    let (_, report) = app
        .import(
            Some(&admin),
            "leads",
            "key=id",
            format!("id,territory\n{foreign},APAC\n"),
        )
        .await;
    assert_eq!(
        report["errors"],
        json!([{ "row": 2, "code": "NOT_FOUND", "column": "id", "message": "no record with this id in your tenant" }])
    );
    let (_, report) = app
        .import(
            Some(&rep),
            "leads",
            "key=external_id",
            "external_id,name,owner_id\nR1,Mine,usr_rep\nR2,Given away,usr_stranger\n",
        )
        .await;
    assert_eq!(report["created"], 1);
    assert_eq!(report["errors"][0]["code"], "FORBIDDEN");
    assert_eq!(report["errors"][0]["column"], "owner_id");

    // Companies, then contacts that name their company by external id.
    let (_, report) = app
        .import(Some(&admin), "companies", "key=website", "name,website,tax_id,status\nAcme,acme.com,DE123,active\nGlobex,https://globex.com,,prospect\n")
        .await;
    assert_eq!(report["created"], 2, "{report}");
    let (_, report) = app
        .import(
            Some(&admin),
            "companies",
            "key=external_id",
            "external_id,name\nC-1,Initech\n",
        )
        .await;
    assert_eq!(report["created"], 1);
    let (_, report) = app
        .import(
            Some(&admin),
            "contacts",
            "key=email",
            "name,email,company_external_id\nMilton,milton@initech.com,C-1\nLost,lost@x.com,C-404\n",
        )
        .await;
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["errors"][0]["code"], "NOT_FOUND");
    assert_eq!(report["errors"][0]["column"], "company_external_id");
    let people = app
        .ok(
            &admin,
            "{ clients(first: 10, filter: { kind: PERSON }) { nodes { name company { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        people["clients"]["nodes"],
        json!([{ "name": "Milton", "company": { "name": "Initech" } }])
    );
}

/// Hires `user` (employee `number`) under `manager` in the employee subgraph; answers the
/// employee id. The hire reaches the CRM as `employee.hired` through Kafka.
async fn hire(
    employee: &erp_tests::EmployeeApp,
    hr: &str,
    number: &str,
    user: &str,
    manager: Option<&str>,
) -> String {
    employee
        .hire(
            hr,
            json!({
                "employeeNumber": number, "displayName": format!("Person {number}"),
                "workEmail": format!("{number}@corp.example"), "hiredOn": "2026-01-05",
                "userId": user, "managerId": manager,
            }),
        )
        .await
}

/// The opportunities a token sees, as their amounts.
async fn visible_amounts(app: &CrmApp, token: &str) -> Vec<String> {
    let data = app
        .ok(
            token,
            "{ opportunities(first: 100) { nodes { amount { amount } } } }",
            json!({}),
        )
        .await;
    let mut amounts: Vec<String> = data["opportunities"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["amount"]["amount"].as_str().unwrap().to_owned())
        .collect();
    amounts.sort();
    amounts
}

#[tokio::test]
async fn row_rules_follow_the_org_from_employee_events_through_kafka() {
    let issuer = TestIssuer::start().await;
    let tenant = tenant();
    let employee =
        erp_tests::EmployeeApp::spawn(erp_tests::runtime(&issuer, erp_tests::Backends::Real).await)
            .await;
    let app = CrmApp::spawn_consuming(&issuer, &[&tenant]).await;
    let hr = issuer.token(
        &tenant,
        "usr_hr",
        &["employee:read", "employee:write", "hr:admin"],
    );
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let token = |user: &str| issuer.token(&tenant, user, CRM_REP);

    // head -> (lead_a -> a1, a2), (lead_b -> b1).
    let head = hire(&employee, &hr, "E1", "u_head", None).await;
    let lead_a = hire(&employee, &hr, "E2", "u_lead_a", Some(&head)).await;
    let lead_b = hire(&employee, &hr, "E3", "u_lead_b", Some(&head)).await;
    hire(&employee, &hr, "E4", "u_a1", Some(&lead_a)).await;
    let a2 = hire(&employee, &hr, "E5", "u_a2", Some(&lead_a)).await;
    let b1 = hire(&employee, &hr, "E6", "u_b1", Some(&lead_b)).await;

    let (pipeline_id, stages) = pipeline(&app, &admin, "Sales").await;
    let mut ids = std::collections::HashMap::new();
    let mut clients = std::collections::HashMap::new();
    for (user, amount) in [
        ("u_a1", "100"),
        ("u_a2", "200"),
        ("u_b1", "400"),
        ("u_lead_a", "800"),
        ("u_head", "1600"),
    ] {
        let client = company(&app, &token(user), &format!("Client of {user}")).await;
        clients.insert(user, client.clone());
        ids.insert(
            user,
            opportunity(
                &app,
                &token(user),
                &pipeline_id,
                &stages[0],
                &client,
                amount,
                "EUR",
            )
            .await,
        );
    }
    // The team arrives by events: a1 sees a2's deal once the hires are consumed.
    let a1 = token("u_a1");
    let synced = erp_tests::eventually(Duration::from_secs(60), || async {
        (visible_amounts(&app, &a1).await == ["100.00", "200.00"]).then_some(())
    })
    .await;
    assert!(
        synced.is_some(),
        "the CRM never learnt the team: {:?}",
        visible_amounts(&app, &a1).await
    );
    // The hires are separate aggregates, so their events need not arrive in hiring order:
    // a1's team being known says nothing of the head's. Wait for the managers' views too.
    for (user, expected) in [
        ("u_lead_a", vec!["100.00", "200.00", "800.00"]),
        (
            "u_head",
            vec!["100.00", "1600.00", "200.00", "400.00", "800.00"],
        ),
    ] {
        let manager = token(user);
        let synced = erp_tests::eventually(Duration::from_secs(60), || async {
            (visible_amounts(&app, &manager).await == expected).then_some(())
        })
        .await;
        assert!(
            synced.is_some(),
            "the CRM never learnt {user}'s org: {:?}",
            visible_amounts(&app, &manager).await
        );
    }

    // Reps see their team's; managers everything below them (and their own team); the
    // administrator everything. The board's totals count exactly what each one sees (C7).
    let total = |token: String| {
        let app = &app;
        let pipeline_id = pipeline_id.clone();
        async move {
            let board = app.ok(&token, BOARD, json!({ "p": pipeline_id })).await;
            (
                money_list(&board["pipelineBoard"]["totals"]),
                money_list(&board["pipelineBoard"]["forecast"]),
                board["pipelineBoard"]["stages"][0]["cards"]["nodes"]
                    .as_array()
                    .unwrap()
                    .len(),
            )
        }
    };
    assert_eq!(
        total(token("u_a1")).await,
        (vec!["300.00 EUR".into()], vec!["30.00 EUR".into()], 2)
    );
    assert_eq!(
        total(token("u_b1")).await,
        (vec!["400.00 EUR".into()], vec!["40.00 EUR".into()], 1)
    );
    assert_eq!(total(token("u_lead_a")).await.0, ["1100.00 EUR"]);
    assert_eq!(total(token("u_head")).await.0, ["3100.00 EUR"]);
    assert_eq!(total(admin.clone()).await.0, ["3100.00 EUR"]);
    assert_eq!(
        visible_amounts(&app, &token("u_lead_a")).await,
        ["100.00", "200.00", "800.00"]
    );

    // Another team's deal is invisible: not listed, not readable, not movable.
    let b1_deal = ids["u_b1"].clone();
    let read = app
        .ok(
            &a1,
            "query($id: ID!) { opportunity(id: $id) { id } }",
            json!({ "id": b1_deal }),
        )
        .await;
    assert_eq!(read["opportunity"], Value::Null);
    assert_eq!(
        app.refused(
            &a1,
            MOVE,
            json!({ "i": { "opportunityId": b1_deal, "stageId": stages[1] } })
        )
        .await
        .0,
        "NOT_FOUND"
    );
    // And nobody gives a record to someone outside their teams.
    assert_eq!(
        app.refused(
            &a1,
            "mutation($i: AssignOpportunityInput!) { assignOpportunity(input: $i) { id } }",
            json!({ "i": { "opportunityId": ids["u_a1"], "ownerId": "u_b1" } }),
        )
        .await
        .0,
        "FORBIDDEN"
    );

    // A manager change (employee.manager_changed): b1 joins lead_a's team.
    employee
        .ok(
            &hr,
            "mutation($e: ID!, $m: ID) { setEmployeeManager(employeeId: $e, managerId: $m) { id } }",
            json!({ "e": b1, "m": lead_a }),
        )
        .await;
    let moved = erp_tests::eventually(Duration::from_secs(30), || async {
        (visible_amounts(&app, &a1).await == ["100.00", "200.00", "400.00"]).then_some(())
    })
    .await;
    assert!(moved.is_some(), "{:?}", visible_amounts(&app, &a1).await);
    // lead_b lost their only report; what remains is their team's (lead_a, a peer under head).
    assert_eq!(total(token("u_lead_b")).await.0, ["800.00 EUR"]);

    // An exit recorded in the employee subgraph (`recordEmployeeExit`, in effect at once for
    // a last working day today) reaches the CRM as `employee.left` through Kafka: assignment
    // skips the departed, their manager still sees their records.
    app.ok(
        &admin,
        "mutation($i: CreateAssignmentRuleInput!) { createAssignmentRule(input: $i) { id } }",
        json!({ "i": { "name": "A2 first", "strategy": "ROUND_ROBIN", "memberIds": ["u_a2"], "priority": 0 } }),
    )
    .await;
    app.ok(
        &admin,
        "mutation($i: CreateAssignmentRuleInput!) { createAssignmentRule(input: $i) { id } }",
        json!({ "i": { "name": "Then A1", "strategy": "ROUND_ROBIN", "memberIds": ["u_a1"], "priority": 1 } }),
    )
    .await;
    let owner_of_new_lead = || async {
        app.ok(
            &admin,
            CREATE_LEAD,
            json!({ "i": { "personName": "Walk-in" } }),
        )
        .await["createLead"]["lead"]["ownerId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A2's walk-in lead, still open when A2 leaves.
    let open_lead = app
        .ok(
            &admin,
            CREATE_LEAD,
            json!({ "i": { "personName": "Walk-in" } }),
        )
        .await["createLead"]["lead"]
        .clone();
    assert_eq!(open_lead["ownerId"], "u_a2");
    // A2's other records at the exit: their open deal (200), a deal they lost, an open task
    // and a done call on the open deal, a draft quote and their client account.
    let a2_token = token("u_a2");
    let a2_deal = ids["u_a2"].clone();
    let client_of_a2 = clients["u_a2"].clone();
    let a2_account = company(&app, &a2_token, "Account of A2").await;
    let a2_lost = opportunity(
        &app,
        &a2_token,
        &pipeline_id,
        &stages[0],
        &a2_account,
        "50",
        "EUR",
    )
    .await;
    app.ok(
        &a2_token,
        "mutation($i: LoseOpportunityInput!) { loseOpportunity(input: $i) { status } }",
        json!({ "i": { "opportunityId": a2_lost, "reason": "budget" } }),
    )
    .await;
    let log = "mutation($i: LogActivityInput!) { logActivity(input: $i) { id } }";
    let open_task = app
        .ok(
            &a2_token,
            log,
            json!({ "i": { "kind": "TASK", "subject": "Send the contract", "opportunityId": a2_deal } }),
        )
        .await["logActivity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done_call = app
        .ok(
            &a2_token,
            log,
            json!({ "i": { "kind": "CALL", "subject": "Intro call", "opportunityId": a2_deal, "done": true } }),
        )
        .await["logActivity"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let valid_until = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let draft_quote = app
        .ok(
            &a2_token,
            "mutation($i: CreateQuoteInput!) { createQuote(input: $i) { id } }",
            json!({ "i": { "clientId": a2_account, "currency": "EUR", "validUntil": valid_until,
                "lines": [{ "description": "Audit", "quantity": "1", "unitPrice": { "amount": "300", "currency": "EUR" } }] } }),
        )
        .await["createQuote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Before the exit a1 (a2's peer) sees a2's open deal in the board's totals.
    assert_eq!(total(token("u_a1")).await.0, ["700.00 EUR"]);
    let today = chrono::Utc::now().date_naive().to_string();
    let left = employee
        .ok(
            &hr,
            "mutation($i: RecordEmployeeExitInput!) { recordEmployeeExit(input: $i) { status exit { status } } }",
            json!({ "i": { "employeeId": a2, "lastWorkingDay": today, "reason": "RESIGNATION" } }),
        )
        .await;
    assert_eq!(
        left["recordEmployeeExit"],
        json!({ "status": "TERMINATED", "exit": { "status": "EFFECTIVE" } })
    );
    let skipped = erp_tests::eventually(Duration::from_secs(30), || async {
        (owner_of_new_lead().await == "u_a1").then_some(())
    })
    .await;
    assert!(
        skipped.is_some(),
        "the departed member was still assigned leads"
    );
    // Their open lead went to their manager (lead_a), audited as an assignment by HR.
    let handed_over = app
        .ok(
            &admin,
            "query($id: ID!) { lead(id: $id) { ownerId } }",
            json!({ "id": open_lead["id"] }),
        )
        .await;
    assert_eq!(handed_over["lead"]["ownerId"], "u_lead_a");
    let trail = {
        use sea_orm::{ConnectionTrait, Statement};
        let db = &app.runtime.db;
        db.query_all(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT actor, detail FROM crm_audit WHERE entity_id = $1 AND action = 'assigned'",
            [open_lead["id"].as_str().unwrap().into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let actor: String = row.try_get("", "actor").unwrap();
            let detail: String = row.try_get("", "detail").unwrap();
            (actor, serde_json::from_str::<Value>(&detail).unwrap())
        })
        .collect::<Vec<_>>()
    };
    assert_eq!(
        trail,
        [(
            "usr_hr".to_owned(),
            json!({ "from": "u_a2", "to": "u_lead_a", "because": "employee.left" })
        )]
    );
    assert_eq!(
        visible_amounts(&app, &token("u_lead_a")).await,
        ["100.00", "200.00", "400.00", "50.00", "800.00"]
    );
    // The same exit handed over A2's other open records, each audited once (the leads are
    // above: walk-ins filed while the exit was on its way went to A2 too): the open deal (with
    // its share of the board's cached totals), the open task, the draft quote and the
    // account. The lost deal and the done call stay A2's: they are history.
    let owners = app
        .ok(
            &admin,
            "query($deal: ID!, $lost: ID!, $quote: ID!, $account: ID!) { deal: opportunity(id: $deal) { ownerId } lost: opportunity(id: $lost) { ownerId } quote(id: $quote) { ownerId } client(id: $account) { ownerId } activities(filter: { opportunityId: $deal }) { nodes { id ownerId } } }",
            json!({ "deal": a2_deal, "lost": a2_lost, "quote": draft_quote, "account": a2_account }),
        )
        .await;
    assert_eq!(owners["deal"]["ownerId"], "u_lead_a");
    assert_eq!(owners["lost"]["ownerId"], "u_a2");
    assert_eq!(owners["quote"]["ownerId"], "u_lead_a");
    assert_eq!(owners["client"]["ownerId"], "u_lead_a");
    let mut activity_owners: Vec<(String, String)> = owners["activities"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["ownerId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    activity_owners.sort();
    let mut expected = vec![
        (open_task.clone(), "u_lead_a".to_owned()),
        (done_call, "u_a2".to_owned()),
    ];
    expected.sort();
    assert_eq!(activity_owners, expected);
    // a1 no longer sees the deal (it is their manager's now): the board's totals say so.
    assert_eq!(total(token("u_a1")).await.0, ["500.00 EUR"]);
    assert_eq!(total(token("u_lead_a")).await.0, ["1500.00 EUR"]);
    assert_eq!(total(admin.clone()).await.0, ["3100.00 EUR"]);
    let handed: Vec<(String, String, String)> = {
        use sea_orm::{ConnectionTrait, Statement};
        let db = &app.runtime.db;
        let mut rows: Vec<(String, String, String)> = db
            .query_all(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT entity_kind, entity_id, actor FROM crm_audit WHERE tenant_id = $1 AND action = 'assigned' AND entity_kind <> 'lead' AND detail LIKE $2",
                [tenant.as_str().into(), "%employee.left%".into()],
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row.try_get("", "entity_kind").unwrap(),
                    row.try_get("", "entity_id").unwrap(),
                    row.try_get("", "actor").unwrap(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let mut expected: Vec<(String, String, String)> = [
        ("activity", open_task.as_str()),
        ("client", a2_account.as_str()),
        ("client", client_of_a2.as_str()),
        ("opportunity", a2_deal.as_str()),
        ("quote", draft_quote.as_str()),
    ]
    .into_iter()
    .map(|(kind, id)| (kind.to_owned(), id.to_owned(), "usr_hr".to_owned()))
    .collect();
    expected.sort();
    assert_eq!(handed, expected);
}

/// The board's subscription through the real router (graphql-transport-ws, the token in
/// `connection_init`): a manager (`crm:admin`) sees a rep's stage move live; another rep, who
/// does not see that rep's records, receives nothing; the board query through the router gives
/// the same totals as the subgraph.
#[tokio::test]
async fn the_board_subscription_through_the_router_sees_another_users_move() {
    use erp_tests::router::{RouterOptions, RouterProcess, WsEvent, CLOSED_SUBGRAPH_URL};
    const ORIGIN: &str = "https://app.erp.example";
    const WAIT: Duration = Duration::from_secs(10);

    let issuer = TestIssuer::start().await;
    let tenant = tenant();
    let app = CrmApp::spawn(&issuer).await;
    let options = RouterOptions::new(&issuer, CLOSED_SUBGRAPH_URL.into())
        .env("ERP_CRM_URL", &app.url("/graphql"))
        .env("ERP_CORS_ORIGINS", ORIGIN);
    let router = RouterProcess::spawn(&options).await;
    let admin = issuer.token(&tenant, "usr_manager", CRM_ADMIN);
    let rep = issuer.token(&tenant, "usr_rep", CRM_REP);
    let other_rep = issuer.token(&tenant, "usr_other_rep", CRM_REP);
    let (pipeline_id, stages) = pipeline(&app, &admin, "Live").await;
    let client = company(&app, &rep, "Globex").await;
    let deal = opportunity(&app, &rep, &pipeline_id, &stages[0], &client, "500", "EUR").await;

    let connect = |token: String| {
        let router = &router;
        async move {
            let mut socket = router.websocket(Some(ORIGIN)).await.unwrap();
            socket
                .send_json(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
                .await;
            assert_eq!(
                socket.next(WAIT).await,
                WsEvent::Message(json!({ "type": "connection_ack" }))
            );
            socket
        }
    };
    let subscription = format!(
        "subscription {{ pipelineBoard(pipelineId: \"{pipeline_id}\") {{ change opportunityId actorId ownerId opportunity {{ stage {{ id name }} }} }} }}"
    );
    let mut manager_socket = connect(admin.clone()).await;
    let mut other_socket = connect(other_rep.clone()).await;
    for socket in [&mut manager_socket, &mut other_socket] {
        socket
            .send_json(
                json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription } }),
            )
            .await;
    }
    // The subscriptions reach the subgraph before the move is made: the move is retried
    // until the manager's stream carries it (a move to the stage the card is on is refused,
    // so each attempt goes to the next stage).
    let mut event = None;
    for (attempt, stage) in stages.iter().enumerate().skip(1) {
        let (status, body) = router
            .graphql(
                Some(&rep),
                MOVE,
                json!({ "i": { "opportunityId": deal, "stageId": stage } }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        if let WsEvent::Message(message) = manager_socket.next(WAIT).await {
            event = Some((attempt, message));
            break;
        }
    }
    let (attempt, event) = event.expect("the manager's stream never carried the move");
    let stage_name = ["Lead", "Qualified", "Proposal", "Negotiation"][attempt];
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "1");
    assert_eq!(
        event["payload"]["data"]["pipelineBoard"],
        json!({
            "change": "MOVED",
            "opportunityId": deal,
            "actorId": "usr_rep",
            "ownerId": "usr_rep",
            "opportunity": { "stage": { "id": stages[attempt], "name": stage_name } },
        })
    );
    // The other rep does not see usr_rep's records: nothing on their stream.
    assert_eq!(
        other_socket.next(Duration::from_millis(700)).await,
        WsEvent::Timeout,
        "a move of a record the subscriber cannot see was sent"
    );

    // The board through the router: the same totals as the subgraph answers.
    let (status, through_router) = router
        .graphql(Some(&admin), BOARD, json!({ "p": pipeline_id }))
        .await;
    assert_eq!(status, 200, "{through_router}");
    let direct = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(through_router["data"], direct);
    assert_eq!(
        money_list(&direct["pipelineBoard"]["totals"]),
        ["500.00 EUR"]
    );
    // And a refusal keeps its code and message through the router (error masking is off).
    let (_, refused) = router
        .graphql(
            Some(&other_rep),
            MOVE,
            json!({ "i": { "opportunityId": deal, "stageId": stages[0] } }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );

    // Merging clients is an administrator's: the router refuses a sales rep the field from
    // the same `@requiresScopes` declaration the subgraph enforces; nothing is merged.
    let duplicate = company(&app, &rep, "Globex Inc").await;
    let (status, refused) = router
        .graphql(
            Some(&rep),
            "mutation($i: MergeInput!) { mergeClients(input: $i) { id } }",
            json!({ "i": { "sourceId": duplicate, "targetId": client } }),
        )
        .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHORIZED_FIELD_OR_TYPE",
        "{refused}"
    );
    let still = app
        .ok(
            &admin,
            "query($id: ID!) { client(id: $id) { mergedInto { id } } }",
            json!({ "id": duplicate }),
        )
        .await;
    assert_eq!(still["client"]["mergedInto"], Value::Null);
}

/// The embedded defaults of the one-process mode (SQLite, in-process cache and bus): a lead
/// converted into a client, a contact and an opportunity, moved on the board, the totals.
#[tokio::test]
async fn the_crm_works_on_the_embedded_defaults() {
    let issuer = TestIssuer::start().await;
    let tenant = tenant();
    let app = CrmApp::spawn_embedded(&issuer).await;
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let (pipeline_id, stages) = pipeline(&app, &admin, "Embedded").await;
    let lead = app
        .ok(
            &admin,
            CREATE_LEAD,
            json!({ "i": { "personName": "Ada Byron", "companyName": "Analytical Ltd", "email": "ada@analytical.example" } }),
        )
        .await;
    let lead_id = lead["createLead"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for status in ["CONTACTED", "QUALIFIED"] {
        app.ok(
            &admin,
            LEAD_STATUS,
            json!({ "i": { "leadId": lead_id, "status": status } }),
        )
        .await;
    }
    let converted = app
        .ok(
            &admin,
            CONVERT,
            json!({ "i": { "leadId": lead_id, "pipelineId": pipeline_id, "opportunityName": "Engines", "amount": { "amount": "1200", "currency": "GBP" } } }),
        )
        .await;
    let converted = &converted["convertLead"];
    assert_eq!(converted["lead"]["status"], "CONVERTED", "{converted}");
    assert_eq!(converted["client"]["name"], "Analytical Ltd");
    assert_eq!(converted["contact"]["name"], "Ada Byron");
    assert_eq!(
        converted["contact"]["company"]["id"],
        converted["client"]["id"]
    );
    assert_eq!(
        converted["opportunity"]["amount"],
        json!({ "amount": "1200.00", "currency": "GBP" })
    );
    let deal = converted["opportunity"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &admin,
        MOVE,
        json!({ "i": { "opportunityId": deal, "stageId": stages[2] } }),
    )
    .await;
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(
        money_list(&board["pipelineBoard"]["totals"]),
        ["1200.00 GBP"]
    );
    assert_eq!(
        money_list(&board["pipelineBoard"]["forecast"]),
        ["720.00 GBP"]
    );
    assert_eq!(
        money_list(&board["pipelineBoard"]["stages"][2]["totals"]),
        ["1200.00 GBP"]
    );
    // Converting twice is refused here as on PostgreSQL.
    assert_eq!(
        app.refused(
            &admin,
            CONVERT,
            json!({ "i": { "leadId": lead_id, "pipelineId": pipeline_id, "amount": { "amount": "1", "currency": "GBP" } } })
        )
        .await,
        ("CONFLICT".to_owned(), "LEAD_ALREADY_CONVERTED".to_owned())
    );
}

/// The duplicate finder's rules, pinned on both databases with many records sharing a key: 120
/// leads of one company (the same web domain, the same name key) never crowd out the one
/// record sharing the mailbox or the phone, which comes first; the same name key and a
/// shared-word similar name are found; an unrelated name finds nothing. PostgreSQL's trigram
/// index also finds a similar name that shares no whole word (a typo).
async fn duplicate_rules_with_a_crowd(app: &CrmApp, admin: &str, postgres: bool) {
    let mut csv = String::from("name,company_name,email,phone\n");
    for n in 0..120 {
        csv.push_str(&format!(
            "Person {n},Acme Ltd,person.{n}@acme.com,+1 555 {n:03} {:04}\n",
            2000 + n
        ));
    }
    let (status, report) = app.import(Some(admin), "leads", "key=email", csv).await;
    assert_eq!(
        (status, report["created"].as_i64()),
        (200, Some(120)),
        "{report}"
    );
    let client = company(app, admin, "Acme Corporation").await;
    let check = "query($i: DuplicateCheckInput!) { duplicateCheck(input: $i) { hiddenMatches candidates { id recordKind name reasons } } }";
    let candidates = |data: &Value| -> Vec<Value> {
        data["duplicateCheck"]["candidates"]
            .as_array()
            .unwrap()
            .clone()
    };

    // The mailbox: the lead holding it first, with the shared domain as its second reason.
    let data = app
        .ok(
            admin,
            check,
            json!({ "i": { "name": "Zed", "email": "Person.119@ACME.com" } }),
        )
        .await;
    let found = candidates(&data);
    assert_eq!(found[0]["name"], "Person 119 (Acme Ltd)", "{data}");
    assert_eq!(found[0]["reasons"], json!(["EMAIL", "DOMAIN"]));
    assert_eq!(
        found
            .iter()
            .filter(|c| c["reasons"].as_array().unwrap().contains(&json!("EMAIL")))
            .count(),
        1
    );
    assert!(found[1..].iter().all(|c| c["reasons"] == json!(["DOMAIN"])));

    // The phone, however it is written.
    let data = app
        .ok(
            admin,
            check,
            json!({ "i": { "name": "Zed", "phone": "(555) 077-2077" } }),
        )
        .await;
    let found = candidates(&data);
    assert_eq!(found.len(), 1, "{data}");
    assert_eq!(found[0]["name"], "Person 77 (Acme Ltd)");
    assert_eq!(found[0]["reasons"], json!(["PHONE"]));

    // The same name key (legal forms, case and punctuation aside): the client and the leads.
    let data = app
        .ok(admin, check, json!({ "i": { "name": "ACME, GmbH" } }))
        .await;
    let found = candidates(&data);
    assert!(found.len() > 1, "{data}");
    assert!(found.iter().all(|c| c["reasons"] == json!(["SAME_NAME"])));
    assert!(found.iter().any(|c| c["id"] == client.as_str()));

    // A similar name sharing a word; an unrelated one.
    let data = app
        .ok(admin, check, json!({ "i": { "name": "Acme Labs" } }))
        .await;
    let found = candidates(&data);
    assert!(!found.is_empty(), "{data}");
    assert!(found
        .iter()
        .all(|c| c["reasons"] == json!(["SIMILAR_NAME"])));
    let data = app
        .ok(admin, check, json!({ "i": { "name": "Globex" } }))
        .await;
    assert_eq!(candidates(&data), Vec::<Value>::new());

    // A renamed client is found under its new name (PostgreSQL learns the new name key on
    // the update, SQLite rewrites the words).
    app.ok(
        admin,
        "mutation($i: UpdateClientInput!) { updateClient(input: $i) { id } }",
        json!({ "i": { "clientId": client, "name": "Zyxwvut Holdings" } }),
    )
    .await;
    let data = app
        .ok(admin, check, json!({ "i": { "name": "Zyxwvut Holding" } }))
        .await;
    let found = candidates(&data);
    assert_eq!(found.len(), 1, "{data}");
    assert_eq!(found[0]["id"], client.as_str());
    assert_eq!(found[0]["reasons"], json!(["SIMILAR_NAME"]));

    // A typo shares no whole word: the trigram index finds it (PostgreSQL).
    if postgres {
        let data = app
            .ok(admin, check, json!({ "i": { "name": "Acmee" } }))
            .await;
        let found = candidates(&data);
        assert!(!found.is_empty(), "{data}");
        assert!(found
            .iter()
            .all(|c| c["reasons"] == json!(["SIMILAR_NAME"])));
    }
}

#[tokio::test]
async fn duplicate_rules_hold_when_many_records_share_a_key_on_both_databases() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let admin = issuer.token(&tenant(), "usr_admin", CRM_ADMIN);
    duplicate_rules_with_a_crowd(&app, &admin, true).await;
    let embedded = CrmApp::spawn_embedded(&issuer).await;
    let admin = issuer.token(&tenant(), "usr_admin", CRM_ADMIN);
    duplicate_rules_with_a_crowd(&embedded, &admin, false).await;
}

/// The bulk load of opportunities (the seed's path to tier L's million; a use case, not on the
/// API): all or none per call, the live rules per row (the refused row named, the rule's code
/// and reason kept), `crm:admin` only; what it writes counts on the board as if each had been
/// created (and lost) one by one, and a live move afterwards keeps the totals right.
#[tokio::test]
async fn bulk_loaded_opportunities_count_on_the_board_and_a_bad_row_refuses_the_call() {
    use erp_crm::app::bulk::LoadedOpportunity;
    use erp_crm::app::Viewer;

    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let (pipeline_id, stages) = pipeline(&app, &admin, "Bulk").await;
    let (_, other_stages) = pipeline(&app, &admin, "Other").await;
    let client = company(&app, &admin, "Bulk Buyer").await;
    let elsewhere = issuer.token(&crate::tenant(), "usr_admin", CRM_ADMIN);
    let foreign = company(&app, &elsewhere, "Elsewhere").await;
    let viewer = Viewer {
        tenant: erp_kit::TenantId::from_claim(&tenant),
        user_id: "usr_admin".into(),
        admin: true,
    };
    let row = |stage: &str, amount_minor: i64, lost: Option<&str>| LoadedOpportunity {
        stage_id: stage.to_owned(),
        client_id: client.clone(),
        name: format!("Deal {amount_minor}"),
        amount_minor,
        currency: "EUR".into(),
        owner_id: "usr_rep".into(),
        lost_reason: lost.map(str::to_owned),
    };
    let good = || vec![row(&stages[0], 10_000, None), row(&stages[1], 20_000, None)];

    // A bad third row refuses the whole call, naming the row.
    for (bad, code, reason) in [
        (row(&other_stages[0], 1, None), "BAD_USER_INPUT", None),
        (
            LoadedOpportunity {
                client_id: foreign.clone(),
                ..row(&stages[0], 1, None)
            },
            "BAD_USER_INPUT",
            None,
        ),
        (row(&stages[0], -1, None), "BAD_USER_INPUT", None),
        (
            LoadedOpportunity {
                name: "  ".into(),
                ..row(&stages[0], 1, None)
            },
            "BAD_USER_INPUT",
            None,
        ),
        (
            row(&stages[0], 1, Some(" ")),
            "BAD_USER_INPUT",
            Some("REASON_REQUIRED"),
        ),
    ] {
        let mut rows = good();
        rows.push(bad);
        let err = app
            .crm
            .load_opportunities(&viewer, &pipeline_id, rows)
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), code, "{}", err.message());
        assert_eq!(err.reason().map(|r| r.name()), reason);
        assert!(err.message().starts_with("row 2: "), "{}", err.message());
    }
    let rep = Viewer {
        admin: false,
        ..viewer.clone()
    };
    let err = app
        .crm
        .load_opportunities(&rep, &pipeline_id, good())
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "FORBIDDEN");
    let err = app
        .crm
        .load_opportunities(&viewer, "no-such-pipeline", good())
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "BAD_USER_INPUT");
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    assert_eq!(board["pipelineBoard"]["openCount"], 0, "{board}");
    assert_eq!(board["pipelineBoard"]["totals"], json!([]));

    // Two open, one lost: on the board with their totals and forecast.
    let mut rows = good();
    rows.push(row(&stages[1], 5_000, Some("price")));
    assert_eq!(
        app.crm
            .load_opportunities(&viewer, &pipeline_id, rows)
            .await
            .unwrap(),
        3
    );
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    let board = &board["pipelineBoard"];
    assert_eq!(board["openCount"], 2, "{board}");
    assert_eq!(money_list(&board["totals"]), ["300.00 EUR"]);
    assert_eq!(money_list(&board["forecast"]), ["70.00 EUR"]);
    assert_eq!(money_list(&board["stages"][0]["totals"]), ["100.00 EUR"]);
    assert_eq!(money_list(&board["stages"][1]["totals"]), ["200.00 EUR"]);
    assert_eq!(board["stages"][1]["count"], 1);

    // A live move of a bulk-loaded card keeps the cached totals right.
    let card = board["stages"][0]["cards"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &admin,
        MOVE,
        json!({ "i": { "opportunityId": card, "stageId": stages[2] } }),
    )
    .await;
    let board = app.ok(&admin, BOARD, json!({ "p": pipeline_id })).await;
    let board = &board["pipelineBoard"];
    assert_eq!(board["stages"][0]["totals"], json!([]));
    assert_eq!(money_list(&board["stages"][2]["totals"]), ["100.00 EUR"]);
    assert_eq!(money_list(&board["totals"]), ["300.00 EUR"]);
}

/// A board's columns and one column paged on its own (`stages(stageIds:)` and the column's
/// cursor); every page is `first`/`last` and cursors like any connection.
const BOARD_COLUMNS: &str = "query($p: ID!, $s: [ID!], $first: Int, $last: Int, $after: String, $before: String) { pipelineBoard(pipelineId: $p) { openCount stages(stageIds: $s) { stage { id } count cards(first: $first, last: $last, after: $after, before: $before) { nodes { id ownerId } pageInfo { hasNextPage hasPreviousPage endCursor } } } } }";

/// The board's columns hold 50 cards a page, read together, each column paged further on its
/// own, and a rep's columns only their cards: on `app` (PostgreSQL or SQLite).
async fn board_columns_of_fifty(app: &CrmApp, issuer: &TestIssuer) {
    use erp_crm::app::bulk::LoadedOpportunity;
    use erp_crm::app::Viewer;

    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", CRM_ADMIN);
    let rep = issuer.token(&tenant, "usr_rep", CRM_REP);
    let (pipeline_id, stages) = pipeline(app, &admin, "Fifty").await;
    let client = company(app, &admin, "Column Buyer").await;
    let viewer = Viewer {
        tenant: erp_kit::TenantId::from_claim(&tenant),
        user_id: "usr_admin".into(),
        admin: true,
    };
    let row = |stage: &str, n: i64, owner: &str, lost: Option<&str>| LoadedOpportunity {
        stage_id: stage.to_owned(),
        client_id: client.clone(),
        name: format!("Deal {n}"),
        amount_minor: 100 * n,
        currency: "EUR".into(),
        owner_id: owner.into(),
        lost_reason: lost.map(str::to_owned),
    };
    // The first column: 56 open (every fourth the rep's) and one lost; the second 3; the
    // third none; the fourth 1 (the rep's).
    let mut rows: Vec<LoadedOpportunity> = (0..56)
        .map(|n| {
            let owner = if n % 4 == 0 { "usr_rep" } else { "usr_other" };
            row(&stages[0], n + 1, owner, None)
        })
        .collect();
    rows.push(row(&stages[0], 1_000, "usr_rep", Some("price")));
    rows.extend((0..3).map(|n| row(&stages[1], n + 1, "usr_other", None)));
    rows.push(row(&stages[3], 7, "usr_rep", None));
    assert_eq!(
        app.crm
            .load_opportunities(&viewer, &pipeline_id, rows)
            .await
            .unwrap(),
        61
    );
    // The first column's open cards in id order, from the opportunity list.
    let listed = app
        .ok(
            &admin,
            "query($s: ID!) { opportunities(filter: { stageId: $s, status: OPEN }, first: 100) { nodes { id ownerId } } }",
            json!({ "s": stages[0] }),
        )
        .await;
    let expected: Vec<Value> = listed["opportunities"]["nodes"].as_array().unwrap().clone();
    assert_eq!(expected.len(), 56, "{listed}");
    let ids = |cards: &Value| -> Vec<Value> { cards["nodes"].as_array().unwrap().clone() };

    // The whole board: 50 cards of the first column, the others whole.
    let board = app
        .ok(
            &admin,
            BOARD_COLUMNS,
            json!({ "p": pipeline_id, "first": 50 }),
        )
        .await;
    let board = &board["pipelineBoard"];
    assert_eq!(board["openCount"], 60, "{board}");
    let columns = board["stages"].as_array().unwrap();
    assert_eq!(
        columns
            .iter()
            .map(|c| c["stage"]["id"].clone())
            .collect::<Vec<_>>(),
        stages.iter().map(|s| json!(s)).collect::<Vec<_>>()
    );
    assert_eq!(
        columns
            .iter()
            .map(|c| c["count"].clone())
            .collect::<Vec<_>>(),
        [json!(56), json!(3), json!(0), json!(1)]
    );
    assert_eq!(
        columns
            .iter()
            .map(|c| ids(&c["cards"]).len())
            .collect::<Vec<_>>(),
        [50, 3, 0, 1]
    );
    assert_eq!(ids(&columns[0]["cards"]), expected[..50]);
    assert_eq!(
        columns
            .iter()
            .map(|c| c["cards"]["pageInfo"]["hasNextPage"].clone())
            .collect::<Vec<_>>(),
        [json!(true), json!(false), json!(false), json!(false)]
    );

    // The first column alone, after its last card: the 6 left.
    let cursor = columns[0]["cards"]["pageInfo"]["endCursor"].clone();
    let more = app
        .ok(
            &admin,
            BOARD_COLUMNS,
            json!({ "p": pipeline_id, "s": [stages[0]], "first": 50, "after": cursor }),
        )
        .await;
    let column = more["pipelineBoard"]["stages"].as_array().unwrap();
    assert_eq!(column.len(), 1, "{more}");
    assert_eq!(column[0]["stage"]["id"], stages[0]);
    assert_eq!(ids(&column[0]["cards"]), expected[50..]);
    assert_eq!(
        column[0]["cards"]["pageInfo"]["hasNextPage"], false,
        "{more}"
    );
    assert_eq!(column[0]["cards"]["pageInfo"]["hasPreviousPage"], true);
    // Its last two, backwards (returned in board order).
    let last = app
        .ok(
            &admin,
            BOARD_COLUMNS,
            json!({ "p": pipeline_id, "s": [stages[0]], "last": 2 }),
        )
        .await;
    let column = &last["pipelineBoard"]["stages"][0]["cards"];
    assert_eq!(ids(column), expected[54..], "{last}");
    assert_eq!(column["pageInfo"]["hasPreviousPage"], true);

    // More than 50 a column: refused before anything runs, with the field at fault.
    for (variables, field) in [
        (json!({ "p": pipeline_id, "first": 51 }), "first"),
        (json!({ "p": pipeline_id, "last": 51 }), "first"),
    ] {
        let (status, body) = app.graphql(&admin, BOARD_COLUMNS, variables).await;
        assert_eq!(status, 200, "{body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(error["extensions"]["field"], field, "{body}");
        assert_eq!(
            error["message"],
            "a page of `BoardStage.cards` inside a list holds at most 50 items (asked: 51): nested pages multiply"
        );
        assert_eq!(body["data"], Value::Null);
    }

    // A rep (no team known): their own cards only, in every column, and their counts.
    let mine: Vec<Value> = expected
        .iter()
        .filter(|card| card["ownerId"] == "usr_rep")
        .cloned()
        .collect();
    assert_eq!(mine.len(), 14);
    let board = app
        .ok(
            &rep,
            BOARD_COLUMNS,
            json!({ "p": pipeline_id, "first": 50 }),
        )
        .await;
    let columns = board["pipelineBoard"]["stages"].as_array().unwrap();
    assert_eq!(board["pipelineBoard"]["openCount"], 15, "{board}");
    assert_eq!(
        columns
            .iter()
            .map(|c| c["count"].clone())
            .collect::<Vec<_>>(),
        [json!(14), json!(0), json!(0), json!(1)]
    );
    assert_eq!(ids(&columns[0]["cards"]), mine);
    assert_eq!(ids(&columns[1]["cards"]), Vec::<Value>::new());
    assert_eq!(ids(&columns[3]["cards"])[0]["ownerId"], "usr_rep");
}

#[tokio::test]
async fn the_board_shows_fifty_cards_a_column_and_pages_each_column_on_both_databases() {
    let issuer = TestIssuer::start().await;
    let app = CrmApp::spawn(&issuer).await;
    board_columns_of_fifty(&app, &issuer).await;
    let embedded = CrmApp::spawn_embedded(&issuer).await;
    board_columns_of_fifty(&embedded, &issuer).await;
}
