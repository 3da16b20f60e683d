//! The marketing subgraph through its real HTTP surface, against real PostgreSQL, Redis and
//! Kafka and the real SMTP server deploy/local/services.sh runs (its recorded messages are read
//! back), with one flow on the embedded defaults (SQLite): contacts, consent and double opt-in,
//! GDPR erasure and re-import, segments (filter trees, lists, segments of segments, cycles, the
//! rebuild as the oracle of the incremental membership), templates, campaigns sent through the
//! leased queue (a killed sender never causes a second message), the RFC 8058 one-click
//! unsubscribe end to end, zero sends after an unsubscribe under a random mix, the transactional
//! stream, tracking and the funnel. Every refusal is checked with its exact `extensions.code`
//! and `reason`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use erp_tests::marketing::{test_sender, MailSink, MarketingApp};
use erp_tests::{eventually, Backends, TestIssuer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const ALL: &[&str] = &["marketing:read", "marketing:write", "marketing:send"];

const CREATE_CONTACT: &str = "mutation($i: CreateMarketingContactInput!) { createMarketingContact(input: $i) { id email firstName country crmPersonId status } }";
const CONTACT: &str = "query($id: ID!) { marketingContact(id: $id) { id email firstName lastName country status erasedAt topics consents { purpose lawfulBasis source wordingVersion granted actor } } }";
const CONSENT: &str = "mutation($i: RecordConsentInput!) { recordConsent(input: $i) { purpose lawfulBasis source wordingVersion granted actor } }";
const OPT_IN: &str =
    "mutation($i: RequestOptInInput!) { requestOptIn(input: $i) { id contactId } }";
const ERASE: &str = "mutation($i: EraseMarketingContactInput!) { eraseMarketingContact(input: $i) { id email firstName status erasedAt } }";
const SUPPRESSION: &str = "query($e: String!) { suppression(email: $e) { reason source } }";
const TOPIC: &str =
    "mutation($i: CreateMarketingTopicInput!) { createMarketingTopic(input: $i) { key name } }";
const SET_TOPIC: &str =
    "mutation($i: SetTopicPreferenceInput!) { setTopicPreference(input: $i) { id } }";
const CREATE_SEGMENT: &str =
    "mutation($i: CreateSegmentInput!) { createSegment(input: $i) { id name kind memberCount } }";
const UPDATE_FILTER: &str =
    "mutation($i: UpdateSegmentFilterInput!) { updateSegmentFilter(input: $i) { id memberCount } }";
const LIST_MEMBER: &str =
    "mutation($i: SetListMemberInput!) { setListMember(input: $i) { id memberCount } }";
const MEMBERS: &str =
    "query($s: ID!) { segmentMembers(segmentId: $s, first: 100) { nodes { id } } }";
const REBUILD: &str = "mutation { rebuildSegments { segments members differences } }";
const TEMPLATE: &str =
    "mutation($i: CreateEmailTemplateInput!) { createEmailTemplate(input: $i) { id kind } }";
const CREATE_CAMPAIGN: &str =
    "mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { id status version } }";
const UPDATE_CAMPAIGN: &str =
    "mutation($i: UpdateCampaignInput!) { updateCampaign(input: $i) { id name } }";
const SCHEDULE: &str =
    "mutation($i: ScheduleCampaignInput!) { scheduleCampaign(input: $i) { id status } }";
const PAUSE: &str = "mutation($i: CampaignActionInput!) { pauseCampaign(input: $i) { id status } }";
const RESUME: &str =
    "mutation($i: CampaignActionInput!) { resumeCampaign(input: $i) { id status } }";
const CAMPAIGN: &str = "query($id: ID!) { campaign(id: $id) { id status funnel { queued sent skipped failed inDoubt opened clicked } } }";
const TRANSACTIONAL: &str =
    "mutation($i: SendTransactionalInput!) { sendTransactional(input: $i) { id } }";

fn new_tenant() -> String {
    format!("tnt_mkt_{}", uuid::Uuid::new_v4().simple())
}

/// An address no other test (or run) uses: the SMTP server's directory is shared.
fn address(name: &str) -> String {
    format!("{name}.{}@erp-tests.example", uuid::Uuid::new_v4().simple())
}

async fn contact(
    app: &MarketingApp,
    token: &str,
    email: &str,
    first: &str,
    country: &str,
) -> String {
    let data = app
        .ok(
            token,
            CREATE_CONTACT,
            json!({ "i": { "email": email, "firstName": first, "country": country } }),
        )
        .await;
    data["createMarketingContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A contact subscribed by a staff-recorded consent (lawful basis CONSENT, from a paper form).
async fn subscribed(
    app: &MarketingApp,
    token: &str,
    email: &str,
    first: &str,
    country: &str,
) -> String {
    let id = contact(app, token, email, first, country).await;
    app.ok(
        token,
        CONSENT,
        json!({ "i": { "contactId": id, "purpose": "email_marketing", "lawfulBasis": "CONSENT",
                       "source": "paper-form", "wordingVersion": "v1" } }),
    )
    .await;
    id
}

async fn segment(app: &MarketingApp, token: &str, name: &str, kind: &str, filter: Value) -> String {
    let mut input = json!({ "name": name, "kind": kind });
    if !filter.is_null() {
        input["filter"] = filter;
    }
    let data = app.ok(token, CREATE_SEGMENT, json!({ "i": input })).await;
    data["createSegment"]["id"].as_str().unwrap().to_owned()
}

async fn members(app: &MarketingApp, token: &str, segment: &str) -> BTreeSet<String> {
    let data = app.ok(token, MEMBERS, json!({ "s": segment })).await;
    data["segmentMembers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn bulk_template(app: &MarketingApp, token: &str) -> String {
    let data = app
        .ok(
            token,
            TEMPLATE,
            json!({ "i": { "name": "Offer", "kind": "BULK", "subject": "Hello {{first_name}}",
                "html": "<p>Hi {{first_name}}</p><p><a href=\"https://shop.example.com/offer?x=1&amp;y=2\">Offer</a></p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>",
                "text": "Hi {{first_name}} from {{country}}. Unsubscribe: {{unsubscribe_url}}" } }),
        )
        .await;
    data["createEmailTemplate"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn campaign(app: &MarketingApp, token: &str, template: &str, segment: &str) -> String {
    let data = app
        .ok(
            token,
            CREATE_CAMPAIGN,
            json!({ "i": { "name": "Spring", "templateId": template, "segmentId": segment } }),
        )
        .await;
    assert_eq!(data["createCampaign"]["status"], "DRAFT");
    data["createCampaign"]["id"].as_str().unwrap().to_owned()
}

async fn wait_sent(app: &MarketingApp, token: &str, campaign: &str) -> Value {
    eventually(Duration::from_secs(60), || async {
        let data = app.ok(token, CAMPAIGN, json!({ "id": campaign })).await;
        (data["campaign"]["status"] == "SENT").then(|| data["campaign"]["funnel"].clone())
    })
    .await
    .unwrap_or_else(|| panic!("campaign {campaign} was not sent in time"))
}

/// POSTs the RFC 8058 one-click body to `url` with no session; answers (status, JSON body)
/// with the answer's `resubscribeUrl` checked (a re-subscribe link of this service) and taken
/// out (see [`one_click_resubscribe_url`]).
async fn one_click(app: &MarketingApp, url: &str) -> (u16, Value) {
    let (status, mut body) = one_click_raw(app, url).await;
    if status == 200 {
        let back = body
            .as_object_mut()
            .and_then(|answer| answer.remove("resubscribeUrl"))
            .unwrap_or(Value::Null);
        assert!(
            back.as_str()
                .is_some_and(|url| url.starts_with(&app.url("/marketing/resubscribe/"))),
            "{back}"
        );
    }
    (status, body)
}

async fn one_click_raw(app: &MarketingApp, url: &str) -> (u16, Value) {
    let response = app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The re-subscribe link a one-click unsubscribe answers with.
async fn one_click_resubscribe_url(app: &MarketingApp, url: &str) -> String {
    let (status, body) = one_click_raw(app, url).await;
    assert_eq!(status, 200, "{body}");
    body["resubscribeUrl"].as_str().unwrap().to_owned()
}

/// The URL inside `<...>` of a List-Unsubscribe header.
fn unsubscribe_url(header: &str) -> String {
    header
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

#[tokio::test]
async fn contacts_consent_double_opt_in_erasure_and_a_reimport_that_stays_suppressed() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let email = address("ana");

    // The address is normalised; the contact is pending until a consent.
    let data = app
        .ok(
            &staff,
            CREATE_CONTACT,
            json!({ "i": { "email": format!("  {}  ", email.to_uppercase()), "firstName": "Ana", "country": "pt", "crmPersonId": "crm-person-1" } }),
        )
        .await;
    let ana = data["createMarketingContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        data["createMarketingContact"],
        json!({ "id": ana, "email": email, "firstName": "Ana", "country": "PT", "crmPersonId": "crm-person-1", "status": "PENDING" })
    );
    assert_eq!(
        app.refused(
            &staff,
            CREATE_CONTACT,
            json!({ "i": { "email": "not an address" } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "INVALID_EMAIL".into())
    );
    // Reading needs marketing:read; writing marketing:write.
    let reader = issuer.token(&tenant, "usr_reader", &["marketing:read"]);
    let (code, _) = app
        .refused(
            &reader,
            CREATE_CONTACT,
            json!({ "i": { "email": address("x") } }),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");

    // Double opt-in: the request goes to the address, the contact confirms with the link.
    app.ok(
        &staff,
        OPT_IN,
        json!({ "i": { "contactId": ana, "purpose": "email_marketing", "source": "signup-form", "wordingVersion": "v3" } }),
    )
    .await;
    let mails = sink.to(&email);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].header("Subject"),
        Some("Please confirm your subscription")
    );
    assert_eq!(mails[0].header("X-Erp-Stream"), Some("transactional"));
    let confirm = mails[0]
        .link(&app.url("/marketing/confirm/"))
        .expect("a confirmation link");
    // A GET (a link scanner) changes nothing.
    let page = app.http.get(&confirm).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let data = app.ok(&staff, CONTACT, json!({ "id": ana })).await;
    assert_eq!(data["marketingContact"]["status"], "PENDING");
    let response = app.http.post(&confirm).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "subscribed": true, "contactId": ana })
    );
    // Confirming twice changes nothing.
    assert_eq!(
        app.http
            .post(&confirm)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let data = app.ok(&staff, CONTACT, json!({ "id": ana })).await;
    assert_eq!(data["marketingContact"]["status"], "SUBSCRIBED");
    assert_eq!(
        data["marketingContact"]["consents"],
        json!([{ "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": "double_opt_in:signup-form",
                 "wordingVersion": "v3", "granted": true, "actor": "contact" }])
    );
    // A forged confirmation link is refused with a stable code.
    let forged = format!("{}x", confirm);
    let response = app.http.post(&forged).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "reason": "TOKEN_INVALID" })
    );

    // Topics: a preference per topic.
    app.ok(
        &staff,
        TOPIC,
        json!({ "i": { "key": "news", "name": "News" } }),
    )
    .await;
    assert_eq!(
        app.refused(
            &staff,
            TOPIC,
            json!({ "i": { "key": "news", "name": "Again" } })
        )
        .await,
        ("CONFLICT".into(), "ALREADY_EXISTS".into())
    );
    app.ok(
        &staff,
        SET_TOPIC,
        json!({ "i": { "contactId": ana, "topic": "news", "subscribed": true } }),
    )
    .await;
    let data = app.ok(&staff, CONTACT, json!({ "id": ana })).await;
    assert_eq!(data["marketingContact"]["topics"], json!(["news"]));

    // GDPR erasure: personal data gone, consent log kept, the address's hash suppressed.
    let data = app
        .ok(&staff, ERASE, json!({ "i": { "contactId": ana } }))
        .await;
    assert_eq!(data["eraseMarketingContact"]["email"], Value::Null);
    assert_eq!(data["eraseMarketingContact"]["firstName"], Value::Null);
    assert_eq!(data["eraseMarketingContact"]["status"], "ERASED");
    assert!(data["eraseMarketingContact"]["erasedAt"].is_string());
    let data = app.ok(&staff, CONTACT, json!({ "id": ana })).await;
    assert_eq!(data["marketingContact"]["topics"], json!([]));
    assert_eq!(data["marketingContact"]["country"], Value::Null);
    assert_eq!(
        data["marketingContact"]["consents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let data = app
        .ok(&staff, SUPPRESSION, json!({ "e": email.to_uppercase() }))
        .await;
    assert_eq!(
        data["suppression"],
        json!({ "reason": "ERASED", "source": "gdpr_erasure" })
    );
    let data = app
        .ok(&staff, "{ suppressions { addressHash reason } }", json!({}))
        .await;
    let listed = data["suppressions"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0]["addressHash"].as_str().unwrap().contains('@'));
    assert_eq!(
        app.refused(&staff, ERASE, json!({ "i": { "contactId": ana } }))
            .await,
        ("CONFLICT".into(), "CONTACT_ERASED".into())
    );

    // A re-import of the address stays suppressed; staff can neither subscribe it nor ask it to.
    let again = contact(&app, &staff, &email, "Ana", "PT").await;
    let data = app.ok(&staff, CONTACT, json!({ "id": again })).await;
    assert_eq!(data["marketingContact"]["status"], "UNSUBSCRIBED");
    assert_eq!(
        app.refused(
            &staff,
            CONSENT,
            json!({ "i": { "contactId": again, "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": "import", "wordingVersion": "v1" } })
        )
        .await,
        ("FORBIDDEN".into(), "CONTACT_SUPPRESSED".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            OPT_IN,
            json!({ "i": { "contactId": again, "purpose": "email_marketing", "source": "import", "wordingVersion": "v1" } })
        )
        .await,
        ("FORBIDDEN".into(), "CONTACT_SUPPRESSED".into())
    );
    // Another tenant sees none of it.
    let other = issuer.token(&new_tenant(), "usr_other", ALL);
    let data = app.ok(&other, CONTACT, json!({ "id": again })).await;
    assert_eq!(data["marketingContact"], Value::Null);
}

#[tokio::test]
async fn segments_are_filter_trees_lists_and_segments_of_segments_kept_equal_to_the_rebuild() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    app.ok(
        &staff,
        TOPIC,
        json!({ "i": { "key": "news", "name": "News" } }),
    )
    .await;
    let ana = subscribed(&app, &staff, &address("ana"), "Ana", "PT").await;
    let ben = subscribed(&app, &staff, &address("ben"), "Ben", "DE").await;
    let cai = contact(&app, &staff, &address("cai"), "Cai", "PT").await;

    let pt = segment(
        &app,
        &staff,
        "Portugal",
        "DYNAMIC",
        json!({ "field": { "field": "COUNTRY", "operator": "EQUALS", "value": "pt" } }),
    )
    .await;
    assert_eq!(
        members(&app, &staff, &pt).await,
        BTreeSet::from([ana.clone(), cai.clone()])
    );
    let pt_news = segment(
        &app,
        &staff,
        "Portugal news",
        "DYNAMIC",
        json!({ "all": [ { "inSegment": pt }, { "topic": "news" }, { "consent": "email_marketing" } ] }),
    )
    .await;
    assert!(members(&app, &staff, &pt_news).await.is_empty());
    // Membership follows the contact's changes at once (incrementally).
    app.ok(
        &staff,
        SET_TOPIC,
        json!({ "i": { "contactId": ana, "topic": "news", "subscribed": true } }),
    )
    .await;
    app.ok(
        &staff,
        SET_TOPIC,
        json!({ "i": { "contactId": cai, "topic": "news", "subscribed": true } }),
    )
    .await;
    assert_eq!(
        members(&app, &staff, &pt_news).await,
        BTreeSet::from([ana.clone()])
    );
    let vip = segment(&app, &staff, "VIP", "STATIC", Value::Null).await;
    let data = app
        .ok(
            &staff,
            LIST_MEMBER,
            json!({ "i": { "segmentId": vip, "contactId": ben, "member": true } }),
        )
        .await;
    assert_eq!(data["setListMember"]["memberCount"], 1);
    let either = segment(
        &app,
        &staff,
        "VIP or PT news",
        "DYNAMIC",
        json!({ "any": [ { "inSegment": vip }, { "inSegment": pt_news } ] }),
    )
    .await;
    assert_eq!(
        members(&app, &staff, &either).await,
        BTreeSet::from([ana.clone(), ben.clone()])
    );
    let not_pt = segment(
        &app,
        &staff,
        "Not PT",
        "DYNAMIC",
        json!({ "not": { "inSegment": pt } }),
    )
    .await;
    assert_eq!(
        members(&app, &staff, &not_pt).await,
        BTreeSet::from([ben.clone()])
    );

    // Bad trees and cycles.
    assert_eq!(
        app.refused(
            &staff,
            UPDATE_FILTER,
            json!({ "i": { "segmentId": pt, "filter": { "inSegment": either } } })
        )
        .await,
        ("CONFLICT".into(), "SEGMENT_CYCLE".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            UPDATE_FILTER,
            json!({ "i": { "segmentId": pt, "filter": { "inSegment": pt } } })
        )
        .await,
        ("CONFLICT".into(), "SEGMENT_CYCLE".into())
    );
    assert_eq!(
        members(&app, &staff, &pt).await,
        BTreeSet::from([ana.clone(), cai.clone()])
    );
    assert_eq!(
        app.refused(&staff, CREATE_SEGMENT, json!({ "i": { "name": "x", "kind": "DYNAMIC", "filter": { "topic": "news", "consent": "email_marketing" } } })).await,
        ("BAD_USER_INPUT".into(), "SEGMENT_FILTER_INVALID".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            CREATE_SEGMENT,
            json!({ "i": { "name": "x", "kind": "DYNAMIC", "filter": { "topic": "sports" } } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "SEGMENT_FILTER_INVALID".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            CREATE_SEGMENT,
            json!({ "i": { "name": "x", "kind": "DYNAMIC", "filter": { "all": [] } } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "SEGMENT_FILTER_INVALID".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            LIST_MEMBER,
            json!({ "i": { "segmentId": pt, "contactId": ben, "member": true } })
        )
        .await,
        ("CONFLICT".into(), "SEGMENT_NOT_STATIC".into())
    );
    // Redefining a segment re-evaluates it and the segments built on it.
    app.ok(&staff, UPDATE_FILTER, json!({ "i": { "segmentId": pt, "filter": { "field": { "field": "COUNTRY", "operator": "EQUALS", "value": "DE" } } } })).await;
    assert_eq!(
        members(&app, &staff, &not_pt).await,
        BTreeSet::from([ana.clone(), cai.clone()])
    );
    assert_eq!(
        members(&app, &staff, &either).await,
        BTreeSet::from([ben.clone()])
    );
    let data = app.ok(&staff, REBUILD, json!({})).await;
    assert_eq!(data["rebuildSegments"]["differences"], 0);
    assert_eq!(data["rebuildSegments"]["segments"], 5);

    // A seeded random sequence of contact, topic, consent, list and segment changes: after
    // every few steps the full rebuild (the oracle) finds nothing to correct.
    let mut rng = StdRng::seed_from_u64(20261206);
    let mut ids = vec![ana, ben, cai];
    let countries = ["PT", "DE", "FR"];
    for step in 0..40 {
        match rng.random_range(0..6) {
            0 => {
                let country = countries[rng.random_range(0..3)];
                ids.push(contact(&app, &staff, &address(&format!("r{step}")), "R", country).await);
            }
            1 => {
                let id = &ids[rng.random_range(0..ids.len())];
                app.ok(&staff, SET_TOPIC, json!({ "i": { "contactId": id, "topic": "news", "subscribed": rng.random_bool(0.5) } })).await;
            }
            2 => {
                let id = &ids[rng.random_range(0..ids.len())];
                let granted = rng.random_bool(0.7);
                let (status, body) = app
                    .graphql(&staff, CONSENT, json!({ "i": { "contactId": id, "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": "random", "wordingVersion": "v1", "granted": granted } }))
                    .await;
                assert_eq!(status, 200);
                // A grant after a withdrawal is refused (suppressed): that is the rule, not a failure.
                if !body["errors"].is_null() {
                    assert_eq!(
                        body["errors"][0]["extensions"]["reason"], "CONTACT_SUPPRESSED",
                        "{body}"
                    );
                }
            }
            3 => {
                let id = &ids[rng.random_range(0..ids.len())];
                app.ok(&staff, LIST_MEMBER, json!({ "i": { "segmentId": vip, "contactId": id, "member": rng.random_bool(0.5) } })).await;
            }
            4 => {
                let country = countries[rng.random_range(0..3)];
                app.ok(
                    &staff,
                    UPDATE_FILTER,
                    json!({ "i": { "segmentId": pt, "filter": { "any": [
                    { "field": { "field": "COUNTRY", "operator": "EQUALS", "value": country } },
                    { "status": "UNSUBSCRIBED" } ] } } }),
                )
                .await;
            }
            _ => {
                let id = &ids[rng.random_range(0..ids.len())];
                app.ok(
                    &staff,
                    SET_TOPIC,
                    json!({ "i": { "contactId": id, "topic": "news", "subscribed": true } }),
                )
                .await;
            }
        }
        if step % 5 == 4 {
            let data = app.ok(&staff, REBUILD, json!({})).await;
            assert_eq!(data["rebuildSegments"]["differences"], 0, "step {step}");
        }
    }
}

#[tokio::test]
async fn a_campaign_sends_once_per_contact_with_one_click_unsubscribe_tracking_and_a_separate_transactional_stream(
) {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let (ana_email, ben_email, cai_email, dan_email) = (
        address("ana"),
        address("ben"),
        address("cai"),
        address("dan"),
    );
    let ana = subscribed(&app, &staff, &ana_email, "Ana", "PT").await;
    let ben = subscribed(&app, &staff, &ben_email, "Ben", "DE").await;
    // Cai has no consent: the segment includes him, the send-time check skips him.
    let _cai = contact(&app, &staff, &cai_email, "Cai", "PT").await;
    // Dan twice (a duplicate contact with the same address, in another case).
    let dan = subscribed(&app, &staff, &dan_email, "Dan", "FR").await;
    let dan_twin = subscribed(&app, &staff, &dan_email.to_uppercase(), "Daniel", "FR").await;
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;

    // Templates: an unknown token is refused at save time.
    assert_eq!(
        app.refused(&staff, TEMPLATE, json!({ "i": { "name": "Bad", "kind": "BULK", "subject": "Hi {{nickname}}", "html": "x", "text": "x" } })).await,
        ("BAD_USER_INPUT".into(), "TEMPLATE_UNKNOWN_TOKEN".into())
    );
    let template = bulk_template(&app, &staff).await;
    let first = campaign(&app, &staff, &template, &everyone).await;
    // Scheduling needs marketing:send.
    let writer = issuer.token(
        &tenant,
        "usr_writer",
        &["marketing:read", "marketing:write"],
    );
    let (code, _) = app
        .refused(&writer, SCHEDULE, json!({ "i": { "campaignId": first } }))
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": first } }))
        .await;

    // The sender starts the campaign: it is sending before any message goes out (a pass that
    // leases nothing), and then neither its content nor its audience changes.
    let mut no_batch = test_sender("starter");
    no_batch.batch = 0;
    let report = app.marketing.send_pass(&no_batch).await.unwrap();
    assert_eq!(report.started, 1);
    let data = app.ok(&staff, CAMPAIGN, json!({ "id": first })).await;
    assert_eq!(data["campaign"]["status"], "SENDING");
    assert_eq!(
        app.refused(
            &staff,
            UPDATE_CAMPAIGN,
            json!({ "i": { "campaignId": first, "name": "Renamed" } })
        )
        .await,
        ("CONFLICT".into(), "CAMPAIGN_NOT_EDITABLE".into())
    );
    // Paused: a pass sends nothing; resumed: it goes on.
    app.ok(&staff, PAUSE, json!({ "i": { "campaignId": first } }))
        .await;
    let report = app
        .marketing
        .send_pass(&test_sender("paused"))
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert!(sink.to(&ana_email).is_empty());
    app.ok(&staff, RESUME, json!({ "i": { "campaignId": first } }))
        .await;
    let _sender = app.marketing.spawn_sender(test_sender("main"));
    let funnel = wait_sent(&app, &staff, &first).await;
    assert_eq!(
        funnel,
        json!({ "queued": 0, "sent": 4, "skipped": 1, "failed": 0, "inDoubt": 0, "opened": 0, "clicked": 0 })
    );
    assert_eq!(
        app.refused(&staff, PAUSE, json!({ "i": { "campaignId": first } }))
            .await,
        ("CONFLICT".into(), "CAMPAIGN_TRANSITION_NOT_ALLOWED".into())
    );

    // Exactly one message per contact; the RFC 8058 headers on every bulk message.
    assert!(sink.to(&cai_email).is_empty());
    assert_eq!(
        sink.to(&dan_email).len(),
        2,
        "two contacts share the address"
    );
    let ana_mails = sink.to(&ana_email);
    assert_eq!(ana_mails.len(), 1);
    let mail = &ana_mails[0];
    assert_eq!(mail.header("Subject"), Some("Hello Ana"));
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(mail.header("X-Erp-Stream"), Some("bulk"));
    let header = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    let url = unsubscribe_url(header);
    assert!(
        url.starts_with(&app.url("/marketing/unsubscribe/")),
        "{url}"
    );
    assert!(
        mail.body.contains("Hi Ana from PT. Unsubscribe: "),
        "{}",
        mail.body
    );
    assert_eq!(sink.to(&ben_email).len(), 1);

    // Tracking: the click link redirects to the target and counts the open and the click.
    let click = mail
        .link(&app.url("/marketing/t/click/"))
        .expect("a tracked link");
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirect.get(&click).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(
        response.headers()["location"],
        "https://shop.example.com/offer?x=1&y=2"
    );
    let clicked = segment(
        &app,
        &staff,
        "Clicked",
        "DYNAMIC",
        json!({ "behaviour": { "event": "CLICKED", "campaignId": first } }),
    )
    .await;
    assert_eq!(
        members(&app, &staff, &clicked).await,
        BTreeSet::from([ana.clone()])
    );
    let open = mail.link(&app.url("/marketing/t/open/")).expect("a pixel");
    let pixel = app.http.get(&open).send().await.unwrap();
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    let data = app.ok(&staff, CAMPAIGN, json!({ "id": first })).await;
    assert_eq!(data["campaign"]["funnel"]["opened"], 1);
    assert_eq!(data["campaign"]["funnel"]["clicked"], 1);

    // The one-click POST: no session, 200, idempotent.
    assert_eq!(
        one_click(&app, &url).await,
        (
            200,
            json!({ "unsubscribed": true, "alreadyUnsubscribed": false })
        )
    );
    assert_eq!(
        one_click(&app, &url).await,
        (
            200,
            json!({ "unsubscribed": true, "alreadyUnsubscribed": true })
        )
    );
    // A GET (the person's browser, or a scanner) only shows the button.
    let page = app.http.get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let data = app.ok(&staff, CONTACT, json!({ "id": ana })).await;
    assert_eq!(data["marketingContact"]["status"], "UNSUBSCRIBED");
    let withdrawal = data["marketingContact"]["consents"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(
        withdrawal,
        json!({ "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": format!("one_click:{first}"),
                "wordingVersion": "one-click", "granted": false, "actor": "contact" })
    );
    // Forged and expired tokens: 401 with a stable code and reason.
    let mut forged = url.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = one_click(&app, &forged).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "reason": "TOKEN_INVALID" })
    );
    let expired = app
        .marketing
        .unsubscribe_url(
            &erp_kit::TenantId::from_claim(&tenant),
            &ben,
            None,
            chrono::Utc::now().timestamp() - 1,
        )
        .await
        .unwrap();
    let (status, body) = one_click(&app, &expired).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "reason": "TOKEN_INVALID" })
    );
    let (status, _) = one_click(&app, &app.url("/marketing/unsubscribe/garbage")).await;
    assert_eq!(status, 401);
    // Staff cannot lift it.
    assert_eq!(
        app.refused(&staff, CONSENT, json!({ "i": { "contactId": ana, "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": "phone", "wordingVersion": "v1" } })).await,
        ("FORBIDDEN".into(), "CONTACT_SUPPRESSED".into())
    );

    // Dan unsubscribes from one of his two messages: both contacts with the address are out.
    let dan_url = unsubscribe_url(sink.to(&dan_email)[0].header("List-Unsubscribe").unwrap());
    assert_eq!(one_click(&app, &dan_url).await.0, 200);
    for id in [&dan, &dan_twin] {
        let data = app.ok(&staff, CONTACT, json!({ "id": id })).await;
        assert_eq!(data["marketingContact"]["status"], "UNSUBSCRIBED");
    }

    // A second campaign reaches Ben only: no message after an unsubscribe.
    let second = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": second } }))
        .await;
    let funnel = wait_sent(&app, &staff, &second).await;
    assert_eq!(funnel["sent"], 1);
    assert_eq!(funnel["skipped"], 4);
    assert_eq!(sink.to(&ana_email).len(), 1);
    assert_eq!(sink.to(&dan_email).len(), 2);
    assert_eq!(sink.to(&ben_email).len(), 2);

    // The transactional stream ignores the marketing unsubscribe and carries no unsubscribe.
    let reset = app
        .ok(&staff, TEMPLATE, json!({ "i": { "name": "Reset", "kind": "TRANSACTIONAL", "subject": "Reset your password, {{first_name}}", "html": "<p>Reset</p>", "text": "Reset" } }))
        .await["createEmailTemplate"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &staff,
        TRANSACTIONAL,
        json!({ "i": { "templateId": reset, "to": ana_email, "firstName": "Ana" } }),
    )
    .await;
    let ana_mails = sink.to(&ana_email);
    assert_eq!(ana_mails.len(), 2);
    let reset_mail = ana_mails
        .iter()
        .find(|m| m.header("X-Erp-Stream") == Some("transactional"))
        .unwrap();
    assert_eq!(
        reset_mail.header("Subject"),
        Some("Reset your password, Ana")
    );
    assert_eq!(reset_mail.header("List-Unsubscribe"), None);
    assert_eq!(
        app.refused(
            &staff,
            TRANSACTIONAL,
            json!({ "i": { "templateId": template, "to": ana_email } })
        )
        .await,
        ("CONFLICT".into(), "TEMPLATE_KIND_MISMATCH".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            CREATE_CAMPAIGN,
            json!({ "i": { "name": "x", "templateId": reset, "segmentId": everyone } })
        )
        .await,
        ("CONFLICT".into(), "TEMPLATE_KIND_MISMATCH".into())
    );
}

#[tokio::test]
async fn a_killed_sender_never_causes_a_second_message_and_concurrent_senders_share_the_queue() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let mut addresses = Vec::new();
    for i in 0..30 {
        let email = address(&format!("k{i}"));
        subscribed(&app, &staff, &email, "K", "PT").await;
        addresses.push(email);
    }
    let everyone = segment(
        &app,
        &staff,
        "All",
        "DYNAMIC",
        json!({ "consent": "email_marketing" }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let id = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": id } }))
        .await;

    let delivered =
        |addresses: &[String]| addresses.iter().map(|a| sink.to(a).len()).sum::<usize>();
    let first = app.marketing.spawn_sender(test_sender("doomed"));
    eventually(Duration::from_secs(30), || async {
        (delivered(&addresses) >= 7).then_some(())
    })
    .await
    .expect("the first sender sent nothing");
    first.kill();
    // Two senders take over (their leases are SKIP LOCKED; the dead one's expire).
    // Their leases outlast any one hand-off to the relay on a loaded machine: a live sender's
    // message is never taken for in doubt while its mark is on the way.
    let live = |name: &str| erp_marketing::SenderOptions {
        lease: Duration::from_secs(10),
        ..test_sender(name)
    };
    let _second = app.marketing.spawn_sender(live("second"));
    let _third = app.marketing.spawn_sender(live("third"));
    // Read the moment the campaign turns SENT: it waits for every live sender's mark (a
    // message handed off under a running lease is in flight, not in doubt), so only the killed
    // sender's one message may be in doubt (its lease expired).
    let funnel = wait_sent(&app, &staff, &id).await;
    let in_doubt = funnel["inDoubt"].as_i64().unwrap();
    assert!(in_doubt <= 1, "{funnel}");
    assert_eq!(funnel["sent"].as_i64().unwrap() + in_doubt, 30, "{funnel}");
    let mut counts = BTreeMap::new();
    for email in &addresses {
        let n = sink.to(email).len();
        assert!(n <= 1, "{email} received {n} messages");
        counts.insert(email.clone(), n);
    }
    let received: usize = counts.values().sum();
    let sent = funnel["sent"].as_i64().unwrap() as usize;
    // A message in doubt was handed to the relay or not: it is never sent a second time.
    assert!(
        received == sent || received == sent + 1,
        "{received} received, {funnel}"
    );
    let messages = app
        .marketing
        .campaign_messages(&erp_kit::TenantId::from_claim(&tenant), &id)
        .await
        .unwrap();
    assert_eq!(messages.len(), 30);
    assert!(messages.iter().all(|m| m.attempts == 1), "{messages:?}");
}

#[tokio::test]
async fn no_message_is_handed_off_after_an_unsubscribe_under_a_random_mix() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let mut contacts = Vec::new();
    for i in 0..12 {
        let email = address(&format!("m{i}"));
        let id = subscribed(&app, &staff, &email, "M", "PT").await;
        contacts.push((id, email));
    }
    let everyone = segment(
        &app,
        &staff,
        "All",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let _sender = app.marketing.spawn_sender(test_sender("mix"));
    // Every contact gets a first message, with its unsubscribe link.
    let first = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": first } }))
        .await;
    wait_sent(&app, &staff, &first).await;
    let links: BTreeMap<String, String> = contacts
        .iter()
        .map(|(id, email)| {
            let mails = sink.to(email);
            assert_eq!(mails.len(), 1);
            (
                id.clone(),
                unsubscribe_url(mails[0].header("List-Unsubscribe").unwrap()),
            )
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(8058);
    let mut unsubscribed_at: BTreeMap<String, i64> = BTreeMap::new();
    let mut campaigns = Vec::new();
    for round in 0..4 {
        let next = campaign(&app, &staff, &template, &everyone).await;
        app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": next } }))
            .await;
        campaigns.push(next);
        // Unsubscribes land while the campaign goes out, at random moments.
        for _ in 0..rng.random_range(1..4) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..60))).await;
            let (id, _) = &contacts[rng.random_range(0..contacts.len())];
            let (status, _) = one_click(&app, &links[id]).await;
            assert_eq!(status, 200, "round {round}");
            unsubscribed_at
                .entry(id.clone())
                .or_insert_with(|| chrono::Utc::now().timestamp_millis());
        }
    }
    for id in &campaigns {
        wait_sent(&app, &staff, id).await;
    }
    // No message of any campaign was handed off after its contact's unsubscribe returned,
    // and the contact's mailbox agrees.
    for campaign in &campaigns {
        for message in app
            .marketing
            .campaign_messages(&tenant_id, campaign)
            .await
            .unwrap()
        {
            if let (Some(at), Some(handed)) = (
                unsubscribed_at.get(&message.contact_id),
                message.handed_off_at,
            ) {
                assert!(
                    handed <= *at,
                    "message {} handed off at {handed}, after the unsubscribe at {at}",
                    message.id
                );
            }
        }
    }
    let total: usize = contacts.iter().map(|(_, e)| sink.to(e).len()).sum();
    let mut sent = 0;
    for campaign in campaigns.iter().chain([&first]) {
        let data = app.ok(&staff, CAMPAIGN, json!({ "id": campaign })).await;
        sent += data["campaign"]["funnel"]["sent"].as_i64().unwrap() as usize;
    }
    assert_eq!(total, sent);
    assert!(!unsubscribed_at.is_empty());
}

#[tokio::test]
async fn the_embedded_mode_sends_a_campaign_and_honours_a_one_click_unsubscribe() {
    let issuer = TestIssuer::start().await;
    let app =
        MarketingApp::spawn_with(&issuer, Backends::Embedded, Some(test_sender("embedded"))).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let email = address("solo");
    subscribed(&app, &staff, &email, "Solo", "PT").await;
    let everyone = segment(
        &app,
        &staff,
        "All",
        "DYNAMIC",
        json!({ "status": "SUBSCRIBED" }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let first = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": first } }))
        .await;
    let funnel = wait_sent(&app, &staff, &first).await;
    assert_eq!(funnel["sent"], 1);
    let mails = sink.to(&email);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].header("Subject"), Some("Hello Solo"));
    let url = unsubscribe_url(mails[0].header("List-Unsubscribe").unwrap());
    assert_eq!(
        one_click(&app, &url).await,
        (
            200,
            json!({ "unsubscribed": true, "alreadyUnsubscribed": false })
        )
    );
    // The segment dropped the contact (status changed), and a campaign built on a segment
    // that still includes it skips it at send time.
    assert!(members(&app, &staff, &everyone).await.is_empty());
    let anyone = segment(
        &app,
        &staff,
        "Anyone",
        "DYNAMIC",
        json!({ "field": { "field": "COUNTRY", "operator": "EQUALS", "value": "PT" } }),
    )
    .await;
    let second = campaign(&app, &staff, &template, &anyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": second } }))
        .await;
    let funnel = wait_sent(&app, &staff, &second).await;
    assert_eq!(funnel["sent"], 0);
    assert_eq!(funnel["skipped"], 1);
    assert_eq!(sink.to(&email).len(), 1);
}

#[tokio::test]
async fn bounces_suppress_hard_ones_and_repeated_soft_ones_but_never_an_automatic_reply() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    const BOUNCE: &str =
        "mutation($i: RecordBounceInput!) { recordBounce(input: $i) { class suppressed } }";
    let (away, gone, full) = (address("away"), address("gone"), address("full"));
    for email in [&away, &gone, &full] {
        subscribed(&app, &staff, email, "B", "PT").await;
    }
    // An out-of-office reply is never an unsubscribe (Mautic #2761).
    let data = app
        .ok(&staff, BOUNCE, json!({ "i": { "email": away, "diagnostic": "Re: Spring", "autoSubmitted": "auto-replied" } }))
        .await;
    assert_eq!(
        data["recordBounce"],
        json!({ "class": "AUTO_REPLY", "suppressed": false })
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": away })).await;
    assert_eq!(data["suppression"], Value::Null);
    // A hard bounce suppresses at once.
    let data = app
        .ok(
            &staff,
            BOUNCE,
            json!({ "i": { "email": gone, "status": "5.1.1", "diagnostic": "user unknown" } }),
        )
        .await;
    assert_eq!(
        data["recordBounce"],
        json!({ "class": "HARD", "suppressed": true })
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": gone })).await;
    assert_eq!(
        data["suppression"],
        json!({ "reason": "HARD_BOUNCE", "source": "bounce" })
    );
    // Soft bounces count: the third suppresses.
    for expected in [false, false, true] {
        let data = app
            .ok(
                &staff,
                BOUNCE,
                json!({ "i": { "email": full, "status": "5.2.2", "diagnostic": "mailbox full" } }),
            )
            .await;
        assert_eq!(
            data["recordBounce"],
            json!({ "class": "SOFT", "suppressed": expected })
        );
    }
    assert_eq!(
        app.refused(&staff, BOUNCE, json!({ "i": { "email": "nope" } }))
            .await,
        ("BAD_USER_INPUT".into(), "INVALID_EMAIL".into())
    );
}

const CREATE_FORM: &str = "mutation($i: CreateMarketingFormInput!) { createMarketingForm(input: $i) { id publicKey submitUrl open consentField honeypotField consentRequired perClientPerMinute fields { key name required } } }";
const SET_FORM_OPEN: &str =
    "mutation($i: SetMarketingFormOpenInput!) { setMarketingFormOpen(input: $i) { id open } }";
const FORM_SUBMISSIONS: &str = "query($id: ID!) { marketingForm(id: $id) { submissions { id contactId consentGranted values { name value } } } }";
const CONTACT_COUNT: &str = "{ marketingContacts(first: 100) { nodes { id email status } } }";
const LEADS_BY_EMAIL: &str = "{ leads(first: 100) { nodes { id personName companyName title email phone website source utm { source medium campaign term content } territory ownerId status } } }";
const LEAD_ACTIVITIES: &str = "query($l: ID!) { activities(filter: { leadId: $l }, first: 20) { nodes { kind subject notes ownerId } } }";

/// A single opt-in form with every field, the consent required (wording v2).
async fn contact_form(app: &MarketingApp, token: &str, per_minute: i32) -> Value {
    let data = app
        .ok(
            token,
            CREATE_FORM,
            json!({ "i": {
                "name": "Contact us",
                "fields": [
                    { "key": "EMAIL", "required": true },
                    { "key": "FIRST_NAME", "required": true },
                    { "key": "LAST_NAME" },
                    { "key": "COMPANY" },
                    { "key": "TITLE" },
                    { "key": "PHONE" },
                    { "key": "COUNTRY" },
                    { "key": "MESSAGE" }
                ],
                "consentText": "Yes, send me news by e-mail. I can unsubscribe at any time.",
                "consentWordingVersion": "v2",
                "consentRequired": true,
                "perClientPerMinute": per_minute,
                // Single opt-in: the ticked box subscribes at once (double opt-in, the
                // default, has its own test).
                "doubleOptIn": false
            } }),
        )
        .await;
    data["createMarketingForm"].clone()
}

/// POSTs a body to a form URL with no session; answers (status, Retry-After, JSON body).
async fn post_form(
    app: &MarketingApp,
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Option<String>, Value) {
    let response = app
        .http
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// An expected refusal of a submission: (status, code, reason, field).
type Refusal = (u16, &'static str, &'static str, &'static str);

/// An expected refusal of a webhook call: (status, code, reason).
type WebhookRefusal = (u16, &'static str, &'static str);

/// (status, code, reason, field) of a refused submission.
fn refusal(answer: &(u16, Option<String>, Value)) -> (u16, String, String, String) {
    let ext = &answer.2["errors"][0]["extensions"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (
        answer.0,
        text(&ext["code"]),
        text(&ext["reason"]),
        text(&ext["field"]),
    )
}

/// The tenant's leads with this address (CRM).
async fn leads_of(crm: &erp_tests::crm::CrmApp, token: &str, email: &str) -> Vec<Value> {
    let data = crm.ok(token, LEADS_BY_EMAIL, json!({})).await;
    data["leads"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|lead| lead["email"] == email)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_web_form_submission_becomes_a_crm_lead_through_kafka_once_and_a_bad_one_writes_nothing()
{
    use erp_kit::events::{topic_for, EventEnvelope};
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let tenant = new_tenant();
    let crm = erp_tests::crm::CrmApp::spawn_consuming(&issuer, &[tenant.as_str()]).await;
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let sales = issuer.token(&tenant, "usr_sales", erp_tests::crm::CRM_ADMIN);

    let form = contact_form(&app, &staff, 60).await;
    let form_id = form["id"].as_str().unwrap().to_owned();
    let url = form["submitUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        app.url(&format!(
            "/marketing/forms/{}",
            form["publicKey"].as_str().unwrap()
        ))
    );
    assert_eq!(form["open"], true);
    assert_eq!(form["consentField"], "consent");
    assert_eq!(form["honeypotField"], "fax_number");
    assert_eq!(
        form["fields"][1],
        json!({ "key": "FIRST_NAME", "name": "first_name", "required": true })
    );

    // A form without a required e-mail field is refused.
    assert_eq!(
        app.refused(
            &staff,
            CREATE_FORM,
            json!({ "i": { "name": "Bad", "fields": [{ "key": "FIRST_NAME", "required": true }] } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "FORM_INVALID".into())
    );

    // Bad submissions: each refused with its code, reason and field, none writes anything.
    let email = address("grace");
    let good: Vec<(&str, &str)> = vec![
        ("email", email.as_str()),
        ("first_name", "Grace"),
        ("last_name", "Hopper"),
        ("company", "Navy Labs"),
        ("title", "Rear Admiral"),
        ("phone", "+1 202 555 0143"),
        ("country", "US"),
        ("message", "Please call me about COBOL training."),
        ("utm_source", "newsletter"),
        ("utm_medium", "email"),
        ("utm_campaign", "spring"),
        ("consent", "on"),
        ("fax_number", ""),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        good.iter().filter(|(n, _)| *n != name).cloned().collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut pairs = without(name);
        pairs.push((name, value));
        pairs
    };
    let form_type = "application/x-www-form-urlencoded";
    let cases: Vec<(Vec<(&str, &str)>, Refusal)> = vec![
        (
            without("consent"),
            (400, "BAD_USER_INPUT", "FORM_CONSENT_REQUIRED", "consent"),
        ),
        (
            without("first_name"),
            (
                400,
                "BAD_USER_INPUT",
                "FORM_SUBMISSION_INVALID",
                "first_name",
            ),
        ),
        (
            with("email", "grace at navy"),
            (400, "BAD_USER_INPUT", "INVALID_EMAIL", "email"),
        ),
        (
            with("website", "https://navy.example"),
            (400, "BAD_USER_INPUT", "FORM_SUBMISSION_INVALID", "website"),
        ),
        (
            with("phone", "call me"),
            (400, "BAD_USER_INPUT", "FORM_SUBMISSION_INVALID", "phone"),
        ),
    ];
    for (pairs, expected) in cases {
        let answer = post_form(&app, &url, form_type, form_body(&pairs)).await;
        assert_eq!(
            refusal(&answer),
            (
                expected.0,
                expected.1.into(),
                expected.2.into(),
                expected.3.into()
            ),
            "{answer:?}"
        );
    }
    let long = "x".repeat(201);
    let mut too_long = without("first_name");
    too_long.push(("first_name", long.as_str()));
    let answer = post_form(&app, &url, form_type, form_body(&too_long)).await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            "BAD_USER_INPUT".into(),
            "FORM_SUBMISSION_INVALID".into(),
            "first_name".into()
        )
    );
    let answer = post_form(&app, &url, "text/plain", "email=a@b.example").await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            "BAD_USER_INPUT".into(),
            "FORM_SUBMISSION_INVALID".into(),
            String::new()
        )
    );
    let answer = post_form(
        &app,
        &url,
        form_type,
        format!("message={}", "y".repeat(17 * 1024)),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (
            413,
            "BAD_USER_INPUT".into(),
            "BODY_TOO_LARGE".into(),
            String::new()
        )
    );
    let answer = post_form(
        &app,
        &app.url("/marketing/forms/mf_forged"),
        form_type,
        form_body(&good),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (
            401,
            "UNAUTHENTICATED".into(),
            "FORM_KEY_INVALID".into(),
            String::new()
        )
    );
    // A robot fills the honeypot: answered like a person, recorded nowhere.
    let answer = post_form(
        &app,
        &url,
        form_type,
        form_body(&with("fax_number", "555 0100")),
    )
    .await;
    assert_eq!(answer.0, 202, "{answer:?}");
    assert_eq!(answer.2["accepted"], true);
    assert!(answer.2["submissionId"].is_string());
    let data = app
        .ok(&staff, FORM_SUBMISSIONS, json!({ "id": form_id }))
        .await;
    assert_eq!(data["marketingForm"]["submissions"], json!([]));
    let data = app.ok(&staff, CONTACT_COUNT, json!({})).await;
    assert_eq!(data["marketingContacts"]["nodes"], json!([]));

    // The good submission (JSON this time, as a script posts it): a subscribed contact with
    // its consent logged, the submission recorded, a lead in CRM through Kafka.
    let mut json_body = serde_json::Map::new();
    for (name, value) in &good {
        json_body.insert((*name).into(), json!(value));
    }
    json_body.insert("consent".into(), json!(true));
    let answer = post_form(
        &app,
        &url,
        "application/json",
        Value::Object(json_body).to_string(),
    )
    .await;
    assert_eq!(answer.0, 202, "{answer:?}");
    let submission = answer.2["submissionId"].as_str().unwrap().to_owned();
    let data = app
        .ok(&staff, FORM_SUBMISSIONS, json!({ "id": form_id }))
        .await;
    let recorded = &data["marketingForm"]["submissions"];
    assert_eq!(recorded[0]["id"], submission.as_str());
    assert_eq!(recorded[0]["consentGranted"], true);
    assert!(recorded[0]["values"]
        .as_array()
        .unwrap()
        .contains(&json!({ "name": "utm_campaign", "value": "spring" })));
    let contact_id = recorded[0]["contactId"].as_str().unwrap().to_owned();
    let data = app.ok(&staff, CONTACT, json!({ "id": contact_id })).await;
    assert_eq!(data["marketingContact"]["status"], "SUBSCRIBED");
    assert_eq!(data["marketingContact"]["firstName"], "Grace");
    assert_eq!(data["marketingContact"]["country"], "US");
    assert_eq!(
        data["marketingContact"]["consents"],
        json!([{ "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": format!("form:{form_id}"), "wordingVersion": "v2", "granted": true, "actor": "contact" }])
    );

    let lead = eventually(Duration::from_secs(60), || async {
        leads_of(&crm, &sales, &email).await.into_iter().next()
    })
    .await
    .expect("the form's lead reached CRM");
    let lead_id = lead["id"].as_str().unwrap().to_owned();
    assert_eq!(
        lead,
        json!({ "id": lead_id, "personName": "Grace Hopper", "companyName": "Navy Labs", "title": "Rear Admiral",
                "email": email, "phone": "+1 202 555 0143", "website": null, "source": "WEBSITE",
                "utm": { "source": "newsletter", "medium": "email", "campaign": "spring", "term": null, "content": null },
                "territory": "US", "ownerId": null, "status": "NEW" })
    );
    let data = crm
        .ok(&sales, LEAD_ACTIVITIES, json!({ "l": lead_id }))
        .await;
    assert_eq!(
        data["activities"]["nodes"],
        json!([{ "kind": "NOTE", "subject": "Web form “Contact us” submitted",
                 "notes": format!("Please call me about COBOL training.\nConsent to marketing e-mail: given\nSubmission {submission}"),
                 "ownerId": "marketing-form" }])
    );

    // A second enquiry from the same address (upper-cased) joins the lead: one lead, two notes.
    let upper = email.to_uppercase();
    let second = [
        ("email", upper.as_str()),
        ("first_name", "G."),
        ("consent", "on"),
        ("message", "Any news?"),
    ];
    let answer = post_form(&app, &url, form_type, form_body(&second)).await;
    assert_eq!(answer.0, 202, "{answer:?}");
    let notes = eventually(Duration::from_secs(60), || async {
        let data = crm
            .ok(&sales, LEAD_ACTIVITIES, json!({ "l": lead_id }))
            .await;
        let nodes = data["activities"]["nodes"].as_array().unwrap().clone();
        (nodes.len() == 2).then_some(nodes)
    })
    .await
    .expect("the second enquiry reached the lead");
    assert!(notes[1]["notes"]
        .as_str()
        .unwrap()
        .starts_with("Any news?\n"));
    let leads = leads_of(&crm, &sales, &email).await;
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(
        leads[0]["personName"], "Grace Hopper",
        "what sales had stays"
    );

    // A duplicate delivery (the same event twice on the broker) files one lead. A third event
    // on the same key (so the same partition, after both copies) tells when they were handled.
    let dup_email = address("dup");
    let payload = |email: &str, id: &str| {
        json!({ "submission_id": id, "form_id": form_id, "form_name": "Contact us", "contact_id": "c-dup",
                "email": email, "first_name": "Dup", "last_name": "Licate", "consent_granted": false })
    };
    let key = format!("sub-{}", uuid::Uuid::new_v4().simple());
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let event = EventEnvelope::by_actor(
        &tenant_id,
        "form.submitted",
        &key,
        "contact",
        payload(&dup_email, &key),
    )
    .unwrap();
    let sentinel_email = address("sentinel");
    let sentinel = EventEnvelope::by_actor(
        &tenant_id,
        "form.submitted",
        &key,
        "contact",
        payload(&sentinel_email, "sentinel"),
    )
    .unwrap();
    let topic = topic_for("marketing");
    for e in [&event, &event, &sentinel] {
        app.runtime.bus.publish(&topic, e).await.unwrap();
    }
    eventually(Duration::from_secs(60), || async {
        (!leads_of(&crm, &sales, &sentinel_email).await.is_empty()).then_some(())
    })
    .await
    .expect("the sentinel lead reached CRM");
    let dups = leads_of(&crm, &sales, &dup_email).await;
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0]["personName"], "Dup Licate");
    let data = crm
        .ok(&sales, LEAD_ACTIVITIES, json!({ "l": dups[0]["id"] }))
        .await;
    assert_eq!(data["activities"]["nodes"].as_array().unwrap().len(), 1);

    // A closed form refuses submissions.
    app.ok(
        &staff,
        SET_FORM_OPEN,
        json!({ "i": { "formId": form_id, "open": false } }),
    )
    .await;
    let answer = post_form(&app, &url, form_type, form_body(&good)).await;
    assert_eq!(
        refusal(&answer),
        (409, "CONFLICT".into(), "FORM_CLOSED".into(), String::new())
    );

    // The per-client rate: one a minute. Any two minutes allow two, so three quick attempts
    // meet the limit whatever the clock says.
    let strict = contact_form(&app, &staff, 1).await;
    let strict_url = strict["submitUrl"].as_str().unwrap().to_owned();
    let mut limited = None;
    for _ in 0..3 {
        let answer = post_form(&app, &strict_url, form_type, form_body(&without("consent"))).await;
        if answer.0 == 429 {
            limited = Some(answer);
            break;
        }
        assert_eq!(refusal(&answer).2, "FORM_CONSENT_REQUIRED");
    }
    let limited = limited.expect("the third attempt at the latest is rate limited");
    assert_eq!(
        refusal(&limited),
        (
            429,
            "RATE_LIMITED".into(),
            "FORM_RATE_LIMITED".into(),
            String::new()
        )
    );
    let retry: u64 = limited.1.unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(limited.2["errors"][0]["extensions"]["retryAfter"], retry);
}

/// A campaign's funnel as the webhook test reads it.
async fn funnel_of(app: &MarketingApp, token: &str, campaign: &str) -> Value {
    const FUNNEL: &str = "query($id: ID!) { campaign(id: $id) { funnel { sent bounced delivered complained unsubscribed complaintRate unsubscribeRate } } }";
    app.ok(token, FUNNEL, json!({ "id": campaign })).await["campaign"]["funnel"].clone()
}

/// POSTs a mail provider webhook call; answers (status, JSON body).
async fn webhook(
    app: &MarketingApp,
    timestamp: Option<i64>,
    signature: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/marketing/webhooks/mail-events"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(timestamp) = timestamp {
        request = request.header("x-erp-webhook-timestamp", timestamp.to_string());
    }
    if let Some(signature) = signature {
        request = request.header("x-erp-webhook-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn signed_bounce_and_complaint_webhooks_suppress_and_feed_the_funnel_and_hostile_calls_change_nothing(
) {
    use erp_marketing::domain::webhook::sign;
    use erp_tests::marketing::WEBHOOK_SECRET;
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let (gone, spam, happy) = (address("gone"), address("spam"), address("happy"));
    for email in [&gone, &spam, &happy] {
        subscribed(&app, &staff, email, "W", "PT").await;
    }
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let sent_campaign = campaign(&app, &staff, &template, &everyone).await;
    app.ok(
        &staff,
        SCHEDULE,
        json!({ "i": { "campaignId": sent_campaign } }),
    )
    .await;
    let _sender = app.marketing.spawn_sender(test_sender("webhooks"));
    wait_sent(&app, &staff, &sent_campaign).await;
    let message_of = |email: &str| {
        let mails = sink.to(email);
        assert_eq!(mails.len(), 1, "{email}");
        mails[0].header("X-Erp-Message").unwrap().to_owned()
    };
    let (gone_message, spam_message) = (message_of(&gone), message_of(&spam));

    let now = || chrono::Utc::now().timestamp();
    let batch = json!({ "events": [
        { "type": "bounce", "tenant": tenant, "email": gone, "messageId": gone_message, "status": "5.1.1", "diagnostic": "550 5.1.1 user unknown" },
        { "type": "complaint", "tenant": tenant, "email": spam.to_uppercase(), "messageId": spam_message },
        { "type": "bounce", "tenant": tenant, "email": happy, "diagnostic": "Out of office until Monday", "autoSubmitted": "auto-replied" }
    ] })
    .to_string();
    let untouched = json!({ "sent": 3, "bounced": 0, "delivered": 3, "complained": 0, "unsubscribed": 0, "complaintRate": 0.0, "unsubscribeRate": 0.0 });
    assert_eq!(funnel_of(&app, &staff, &sent_campaign).await, untouched);

    // Hostile calls: refused with their reason, and nothing changes.
    let signed_at = now();
    let good_signature = sign(WEBHOOK_SECRET.as_bytes(), signed_at, batch.as_bytes());
    let forged = sign(b"not the secret", signed_at, batch.as_bytes());
    let stale_at = signed_at - 3600;
    let stale = sign(WEBHOOK_SECRET.as_bytes(), stale_at, batch.as_bytes());
    let tampered = batch.replace("5.1.1", "5.1.2");
    let garbage = "{\"events\": [{\"type\": \"open\"}]}";
    let garbage_signature = sign(WEBHOOK_SECRET.as_bytes(), signed_at, garbage.as_bytes());
    let huge = format!("{{\"events\": [], \"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let huge_signature = sign(WEBHOOK_SECRET.as_bytes(), signed_at, huge.as_bytes());
    let hostile: Vec<(Option<i64>, Option<&str>, String, WebhookRefusal)> = vec![
        (
            Some(signed_at),
            Some(&forged),
            batch.clone(),
            (401, "UNAUTHENTICATED", "WEBHOOK_SIGNATURE_INVALID"),
        ),
        (
            Some(signed_at),
            Some(&good_signature),
            tampered,
            (401, "UNAUTHENTICATED", "WEBHOOK_SIGNATURE_INVALID"),
        ),
        (
            Some(signed_at + 1),
            Some(&good_signature),
            batch.clone(),
            (401, "UNAUTHENTICATED", "WEBHOOK_SIGNATURE_INVALID"),
        ),
        (
            None,
            None,
            batch.clone(),
            (401, "UNAUTHENTICATED", "WEBHOOK_SIGNATURE_INVALID"),
        ),
        (
            Some(stale_at),
            Some(&stale),
            batch.clone(),
            (401, "UNAUTHENTICATED", "WEBHOOK_TIMESTAMP_STALE"),
        ),
        (
            Some(signed_at),
            Some(&garbage_signature),
            garbage.to_owned(),
            (400, "BAD_USER_INPUT", "WEBHOOK_PAYLOAD_INVALID"),
        ),
        (
            Some(signed_at),
            Some(&huge_signature),
            huge,
            (413, "BAD_USER_INPUT", "BODY_TOO_LARGE"),
        ),
    ];
    for (timestamp, signature, body, expected) in hostile {
        let (status, answer) = webhook(&app, timestamp, signature, body).await;
        let ext = &answer["errors"][0]["extensions"];
        assert_eq!(
            (
                status,
                ext["code"].as_str().unwrap_or(""),
                ext["reason"].as_str().unwrap_or("")
            ),
            expected,
            "{answer}"
        );
    }
    for email in [&gone, &spam, &happy] {
        let data = app.ok(&staff, SUPPRESSION, json!({ "e": email })).await;
        assert_eq!(data["suppression"], Value::Null, "{email}");
    }
    assert_eq!(funnel_of(&app, &staff, &sent_campaign).await, untouched);

    // The genuine call: the hard bounce and the complaint suppress, the automatic reply does
    // not; the funnel counts them.
    let (status, answer) =
        webhook(&app, Some(signed_at), Some(&good_signature), batch.clone()).await;
    assert_eq!(
        (status, answer.clone()),
        (
            200,
            json!({ "received": 3, "suppressed": 2, "duplicate": false })
        )
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": gone })).await;
    assert_eq!(
        data["suppression"],
        json!({ "reason": "HARD_BOUNCE", "source": "bounce" })
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": spam })).await;
    assert_eq!(
        data["suppression"],
        json!({ "reason": "COMPLAINT", "source": "complaint" })
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": happy })).await;
    assert_eq!(data["suppression"], Value::Null);
    let counted = json!({ "sent": 3, "bounced": 1, "delivered": 2, "complained": 1, "unsubscribed": 0, "complaintRate": 0.5, "unsubscribeRate": 0.0 });
    assert_eq!(funnel_of(&app, &staff, &sent_campaign).await, counted);

    // The same call again (a provider retry or a captured replay): answered, nothing done.
    let (status, answer) =
        webhook(&app, Some(signed_at), Some(&good_signature), batch.clone()).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({ "received": 3, "suppressed": 0, "duplicate": true })
        )
    );
    assert_eq!(funnel_of(&app, &staff, &sent_campaign).await, counted);

    // A later unsubscribe through the campaign's one-click link counts in its rate.
    let unsubscribe = unsubscribe_url(sink.to(&happy)[0].header("List-Unsubscribe").unwrap());
    assert_eq!(one_click(&app, &unsubscribe).await.0, 200);
    assert_eq!(
        funnel_of(&app, &staff, &sent_campaign).await,
        json!({ "sent": 3, "bounced": 1, "delivered": 2, "complained": 1, "unsubscribed": 1, "complaintRate": 0.5, "unsubscribeRate": 0.5 })
    );
}

/// POSTs to a re-subscribe link with no session; answers (status, JSON body).
async fn resubscribe(app: &MarketingApp, url: &str) -> (u16, Value) {
    let response = app.http.post(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_re_subscribe_link_brings_back_only_the_person_who_unsubscribed_never_a_bounced_address(
) {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let (eve_email, bob_email) = (address("eve"), address("bob"));
    let eve = subscribed(&app, &staff, &eve_email, "Eve", "PT").await;
    let bob = subscribed(&app, &staff, &bob_email, "Bob", "PT").await;
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let first = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": first } }))
        .await;
    let _sender = app.marketing.spawn_sender(test_sender("resubscribe"));
    wait_sent(&app, &staff, &first).await;

    // Eve unsubscribes; the answer carries her way back.
    let url = unsubscribe_url(sink.to(&eve_email)[0].header("List-Unsubscribe").unwrap());
    let back = one_click_resubscribe_url(&app, &url).await;
    assert!(
        back.starts_with(&app.url("/marketing/resubscribe/")),
        "{back}"
    );
    // A GET only shows the button; staff still cannot lift her unsubscribe.
    let page = app.http.get(&back).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Subscribe again"));
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": eve_email })).await;
    assert_eq!(data["suppression"]["reason"], "UNSUBSCRIBED");
    assert_eq!(
        app.refused(
            &staff,
            CONSENT,
            json!({ "i": { "contactId": eve, "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": "phone", "wordingVersion": "v1" } })
        )
        .await,
        ("FORBIDDEN".into(), "CONTACT_SUPPRESSED".into())
    );

    // Forged links and the unsubscribe link on this route: 401 TOKEN_INVALID, nothing changes.
    let mut forged = back.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for wrong in [
        forged.as_str(),
        &url.replace("/unsubscribe/", "/resubscribe/"),
    ] {
        let (status, body) = resubscribe(&app, wrong).await;
        assert_eq!(
            (status, body["errors"][0]["extensions"].clone()),
            (
                401,
                json!({ "code": "UNAUTHENTICATED", "reason": "TOKEN_INVALID" })
            )
        );
    }
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": eve_email })).await;
    assert_eq!(data["suppression"]["reason"], "UNSUBSCRIBED");

    // Her own click: subscribed again, logged as her act; a repeat changes nothing.
    assert_eq!(
        resubscribe(&app, &back).await,
        (
            200,
            json!({ "subscribed": true, "alreadySubscribed": false })
        )
    );
    assert_eq!(
        resubscribe(&app, &back).await,
        (
            200,
            json!({ "subscribed": true, "alreadySubscribed": true })
        )
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": eve_email })).await;
    assert_eq!(data["suppression"], Value::Null);
    let data = app.ok(&staff, CONTACT, json!({ "id": eve })).await;
    assert_eq!(data["marketingContact"]["status"], "SUBSCRIBED");
    assert_eq!(
        data["marketingContact"]["consents"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &json!({ "purpose": "email_marketing", "lawfulBasis": "CONSENT", "source": format!("resubscribe:{first}"),
                 "wordingVersion": "resubscribe", "granted": true, "actor": "contact" })
    );
    // The next campaign reaches her again.
    let second = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": second } }))
        .await;
    let funnel = wait_sent(&app, &staff, &second).await;
    assert_eq!(funnel["sent"], 2);
    assert_eq!(sink.to(&eve_email).len(), 2);

    // Bob's address bounced hard: his re-subscribe link does not lift that.
    app.ok(
        &staff,
        "mutation($i: RecordBounceInput!) { recordBounce(input: $i) { class suppressed } }",
        json!({ "i": { "email": bob_email, "status": "5.1.1", "diagnostic": "user unknown" } }),
    )
    .await;
    let bob_back = app
        .marketing
        .resubscribe_url(&tenant_id, &bob, None)
        .await
        .unwrap();
    let (status, body) = resubscribe(&app, &bob_back).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"].clone()),
        (
            403,
            json!({ "code": "FORBIDDEN", "reason": "CONTACT_SUPPRESSED" })
        )
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": bob_email })).await;
    assert_eq!(data["suppression"]["reason"], "HARD_BOUNCE");
}

#[tokio::test]
async fn the_embedded_mode_files_a_web_form_as_a_crm_lead_on_the_in_process_bus() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, Backends::Embedded, None).await;
    // CRM on its own SQLite file, on marketing's in-process bus: the one-process mode.
    let mut crm_runtime = erp_tests::runtime(&issuer, Backends::Embedded).await;
    crm_runtime.bus = app.runtime.bus.clone();
    crm_runtime.config.service = "crm".into();
    let crm = erp_tests::crm::CrmApp::serve(
        crm_runtime,
        erp_crm::CrmOptions {
            consumers: Some(erp_crm::ConsumerOptions::default()),
        },
    )
    .await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let sales = issuer.token(&tenant, "usr_sales", erp_tests::crm::CRM_ADMIN);
    let data = app
        .ok(
            &staff,
            CREATE_FORM,
            json!({ "i": { "name": "Demo request", "fields": [{ "key": "EMAIL", "required": true }, { "key": "COMPANY" }] } }),
        )
        .await;
    let url = data["createMarketingForm"]["submitUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let email = address("embedded");
    let answer = post_form(
        &app,
        &url,
        "application/x-www-form-urlencoded",
        form_body(&[("email", email.as_str()), ("company", "Acme Ltd")]),
    )
    .await;
    assert_eq!(answer.0, 202, "{answer:?}");
    // A form without consent wording takes no `consent` field.
    let answer = post_form(
        &app,
        &url,
        "application/x-www-form-urlencoded",
        form_body(&[("email", email.as_str()), ("consent", "on")]),
    )
    .await;
    assert_eq!(
        refusal(&answer),
        (
            400,
            "BAD_USER_INPUT".into(),
            "FORM_SUBMISSION_INVALID".into(),
            "consent".into()
        )
    );
    let lead = eventually(Duration::from_secs(30), || async {
        leads_of(&crm, &sales, &email).await.into_iter().next()
    })
    .await
    .expect("the lead reached CRM on the in-process bus");
    assert_eq!(lead["personName"], email.as_str());
    assert_eq!(lead["companyName"], "Acme Ltd");
    assert_eq!(lead["source"], "WEBSITE");
    // Without consent the contact stays pending (no marketing mail).
    let data = app.ok(&staff, CONTACT_COUNT, json!({})).await;
    assert_eq!(
        data["marketingContacts"]["nodes"],
        json!([{ "id": data["marketingContacts"]["nodes"][0]["id"], "email": email, "status": "PENDING" }])
    );
}

/// A qualified CRM lead whose UTM campaign is `utm_campaign`, converted in `pipeline`.
async fn converted_lead(
    crm: &erp_tests::crm::CrmApp,
    token: &str,
    name: &str,
    utm_campaign: &str,
    pipeline: &str,
) -> String {
    let data = crm
        .ok(
            token,
            "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
            json!({ "i": { "personName": name, "companyName": format!("{name} Ltd"), "source": "CAMPAIGN",
                           "utm": { "source": "newsletter", "medium": "email", "campaign": utm_campaign } } }),
        )
        .await;
    let lead = data["createLead"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for status in ["CONTACTED", "QUALIFIED"] {
        crm.ok(
            token,
            "mutation($i: ChangeLeadStatusInput!) { changeLeadStatus(input: $i) { id } }",
            json!({ "i": { "leadId": lead, "status": status } }),
        )
        .await;
    }
    crm.ok(
        token,
        "mutation($i: ConvertLeadInput!) { convertLead(input: $i) { lead { status } } }",
        json!({ "i": { "leadId": lead, "pipelineId": pipeline, "amount": { "amount": "5000", "currency": "EUR" } } }),
    )
    .await;
    lead
}

#[tokio::test]
async fn a_crm_lead_a_campaign_brought_counts_as_converted_in_its_funnel_through_kafka() {
    let issuer = TestIssuer::start().await;
    let tenant = new_tenant();
    let app = MarketingApp::spawn_consuming(&issuer, &[tenant.as_str()]).await;
    let crm = erp_tests::crm::CrmApp::spawn_consuming(&issuer, &[tenant.as_str()]).await;
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let sales = issuer.token(&tenant, "usr_sales", erp_tests::crm::CRM_ADMIN);
    subscribed(&app, &staff, &address("fan"), "Fan", "PT").await;
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let spring = campaign(&app, &staff, &template, &everyone).await;
    let data = crm
        .ok(
            &sales,
            "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id } }",
            json!({ "i": { "name": "Sales", "opportunityType": "new business",
                           "stages": [{ "name": "Lead", "probability": 10 }, { "name": "Won soon", "probability": 90 }] } }),
        )
        .await;
    let pipeline = data["createPipeline"]["id"].as_str().unwrap().to_owned();

    // One lead the campaign brought, one from elsewhere (a UTM campaign marketing does not
    // know): both convert, one counts.
    converted_lead(&crm, &sales, "Elsewhere", "autumn-fair", &pipeline).await;
    let brought = converted_lead(&crm, &sales, "Brought", &spring, &pipeline).await;
    // Marketing's inbox records each lead event of the tenant it handled: four (two created,
    // two converted) means both leads' events were handled, whatever their partitions.
    use sea_orm::{ConnectionTrait, Statement};
    let handled = || async {
        let db = &app.runtime.db;
        let row = db
            .query_one(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM marketing_inbox WHERE tenant_id = $1",
                [tenant.clone().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    eventually(Duration::from_secs(60), || async {
        (handled().await == 4).then_some(())
    })
    .await
    .expect("marketing handled the four lead events");
    let funnel = funnel_of(&app, &staff, &spring).await;
    assert_eq!(
        funnel["sent"], 0,
        "a conversion counts without a send: the lead came by UTM"
    );
    let data = app
        .ok(
            &staff,
            "query($id: ID!) { campaign(id: $id) { funnel { converted } } }",
            json!({ "id": spring }),
        )
        .await;
    assert_eq!(data["campaign"]["funnel"]["converted"], 1);
    let conversions = app
        .runtime
        .db
        .query_all(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT lead_id, campaign_id FROM mkt_conversions WHERE tenant_id = $1",
            [tenant.clone().into()],
        ))
        .await
        .unwrap();
    let rows: Vec<(String, String)> = conversions
        .iter()
        .map(|row| {
            (
                row.try_get("", "lead_id").unwrap(),
                row.try_get("", "campaign_id").unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(brought, spring)]);
}

const FORM_CONTACT: &str = "query($id: ID!) { marketingContact(id: $id) { id status consents { purpose source wordingVersion granted actor confirmation confirmedAt confirmedSource confirmedAddress } } }";

/// A double opt-in form (the default) asking the address, the first name and the country,
/// the consent required (wording v4).
async fn double_opt_in_form(app: &MarketingApp, token: &str) -> Value {
    const CREATE: &str = "mutation($i: CreateMarketingFormInput!) { createMarketingForm(input: $i) { id submitUrl doubleOptIn } }";
    let data = app
        .ok(
            token,
            CREATE,
            json!({ "i": {
                "name": "Newsletter",
                "fields": [
                    { "key": "EMAIL", "required": true },
                    { "key": "FIRST_NAME" },
                    { "key": "COUNTRY" }
                ],
                "consentText": "Send me the newsletter.",
                "consentWordingVersion": "v4",
                "consentRequired": true,
                "perClientPerMinute": 60
            } }),
        )
        .await;
    assert_eq!(data["createMarketingForm"]["doubleOptIn"], true);
    data["createMarketingForm"].clone()
}

/// Submits the form for `email` with the consent ticked; answers the contact's id.
async fn sign_up(
    app: &MarketingApp,
    token: &str,
    form: &Value,
    email: &str,
    first: &str,
) -> String {
    let url = form["submitUrl"].as_str().unwrap();
    let answer = post_form(
        app,
        url,
        "application/x-www-form-urlencoded",
        form_body(&[
            ("email", email),
            ("first_name", first),
            ("country", "NL"),
            ("consent", "on"),
        ]),
    )
    .await;
    assert_eq!(answer.0, 202, "{answer:?}");
    let data = app
        .ok(token, FORM_SUBMISSIONS, json!({ "id": form["id"] }))
        .await;
    data["marketingForm"]["submissions"][0]["contactId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The confirmation link of the one confirmation mail sent to `email`.
fn confirmation_link(app: &MarketingApp, sink: &MailSink, email: &str) -> String {
    let mails = sink.to(email);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].header("Subject"),
        Some("Please confirm your subscription")
    );
    assert_eq!(mails[0].header("X-Erp-Stream"), Some("transactional"));
    mails[0]
        .link(&app.url("/marketing/confirm/"))
        .expect("a confirmation link")
}

/// POSTs a confirmation link; answers (status, JSON body).
async fn confirm(app: &MarketingApp, url: &str) -> (u16, Value) {
    let response = app.http.post(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_double_opt_in_form_subscribes_only_after_the_confirmation_and_a_campaign_skips_pending_contacts(
) {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let form = double_opt_in_form(&app, &staff).await;
    let (eva_email, finn_email) = (address("eva"), address("finn"));
    let eva = sign_up(&app, &staff, &form, &eva_email, "Eva").await;
    let finn = sign_up(&app, &staff, &form, &finn_email, "Finn").await;

    // Both wait: pending contacts, the consent logged as pending (not in force), one
    // confirmation mail each.
    let pending_consent = json!([{ "purpose": "email_marketing", "source": format!("form:{}", form["id"].as_str().unwrap()),
        "wordingVersion": "v4", "granted": true, "actor": "contact", "confirmation": "PENDING",
        "confirmedAt": null, "confirmedSource": null, "confirmedAddress": null }]);
    for id in [&eva, &finn] {
        let data = app.ok(&staff, FORM_CONTACT, json!({ "id": id })).await;
        assert_eq!(data["marketingContact"]["status"], "PENDING");
        assert_eq!(data["marketingContact"]["consents"], pending_consent);
    }
    let eva_link = confirmation_link(&app, &sink, &eva_email);
    let finn_link = confirmation_link(&app, &sink, &finn_email);

    // A forged or misdirected link confirms nothing.
    let (status, body) = confirm(&app, &format!("{eva_link}x")).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "reason": "TOKEN_INVALID" })
    );
    let (payload, _) = finn_link
        .rsplit_once('/')
        .unwrap()
        .1
        .split_once('.')
        .unwrap();
    let (_, eva_tag) = eva_link.rsplit_once('.').unwrap();
    let (status, body) = confirm(
        &app,
        &app.url(&format!("/marketing/confirm/{payload}.{eva_tag}")),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["reason"].clone()),
        (401, json!("TOKEN_INVALID"))
    );

    // Eva confirms: subscribed, her consent in force with when, how and from where.
    let (status, body) = confirm(&app, &eva_link).await;
    assert_eq!(
        (status, body),
        (200, json!({ "subscribed": true, "contactId": eva }))
    );
    let data = app.ok(&staff, FORM_CONTACT, json!({ "id": eva })).await;
    assert_eq!(data["marketingContact"]["status"], "SUBSCRIBED");
    let consents = data["marketingContact"]["consents"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(consents[0]["confirmation"], "CONFIRMED");
    assert_eq!(consents[0]["confirmedSource"], "confirmation_link");
    assert_eq!(consents[0]["confirmedAddress"], "127.0.0.1");
    assert!(consents[0]["confirmedAt"].is_string());
    // Confirming again changes nothing (the same record, the same time).
    let (status, _) = confirm(&app, &eva_link).await;
    assert_eq!(status, 200);
    let again = app.ok(&staff, FORM_CONTACT, json!({ "id": eva })).await;
    assert_eq!(again["marketingContact"]["consents"], json!(consents));

    // A campaign to a segment holding both reaches Eva only; Finn's message is skipped.
    let dutch = segment(
        &app,
        &staff,
        "Dutch",
        "DYNAMIC",
        json!({ "field": { "field": "COUNTRY", "operator": "EQUALS", "value": "NL" } }),
    )
    .await;
    assert_eq!(
        members(&app, &staff, &dutch).await,
        BTreeSet::from([eva.clone(), finn.clone()])
    );
    let template = bulk_template(&app, &staff).await;
    let news = campaign(&app, &staff, &template, &dutch).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": news } }))
        .await;
    let _sender = app.marketing.spawn_sender(test_sender("doi"));
    let funnel = wait_sent(&app, &staff, &news).await;
    assert_eq!(
        (funnel["sent"].clone(), funnel["skipped"].clone()),
        (json!(1), json!(1))
    );
    let eva_mails = sink.to(&eva_email);
    assert_eq!(eva_mails.len(), 2, "the confirmation and the campaign");
    assert_eq!(
        eva_mails
            .iter()
            .filter(|m| m.header("Subject") == Some("Hello Eva"))
            .count(),
        1
    );
    assert_eq!(
        sink.to(&finn_email).len(),
        1,
        "Finn got his confirmation only"
    );

    // The same form submitted by Eva again: a new pending consent and confirmation mail, her
    // subscription untouched meanwhile.
    sign_up(&app, &staff, &form, &eva_email, "Eva").await;
    let data = app.ok(&staff, FORM_CONTACT, json!({ "id": eva })).await;
    assert_eq!(data["marketingContact"]["status"], "SUBSCRIBED");
    let states: Vec<Value> = data["marketingContact"]["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["confirmation"].clone())
        .collect();
    assert_eq!(states, vec![json!("CONFIRMED"), json!("PENDING")]);
    // The running sender may be the one that sends it (it retries unsent confirmations too):
    // the answer does not wait for its hand-off.
    let mails = eventually(Duration::from_secs(30), || async {
        let mails = sink.to(&eva_email);
        (mails.len() == 3).then_some(mails)
    })
    .await;
    assert!(mails.is_some(), "the second confirmation mail reached Eva");

    // An expired link (an instance whose links live no time at all) confirms nothing and says
    // why; the contact stays pending.
    let stale = MarketingApp::spawn_with_settings(&issuer, |settings| {
        settings.opt_in_ttl_secs = -60;
    })
    .await;
    let stale_tenant = new_tenant();
    let stale_staff = issuer.token(&stale_tenant, "usr_staff", ALL);
    let stale_form = double_opt_in_form(&stale, &stale_staff).await;
    let gus_email = address("gus");
    let gus = sign_up(&stale, &stale_staff, &stale_form, &gus_email, "Gus").await;
    let gus_link = confirmation_link(&stale, &sink, &gus_email);
    let (status, body) = confirm(&stale, &gus_link).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "UNAUTHENTICATED", "reason": "OPT_IN_EXPIRED" })
    );
    let data = stale
        .ok(&stale_staff, FORM_CONTACT, json!({ "id": gus }))
        .await;
    assert_eq!(data["marketingContact"]["status"], "PENDING");
    assert_eq!(
        data["marketingContact"]["consents"][0]["confirmation"],
        "PENDING"
    );
}

const ROTATE: &str = "mutation($i: RotateMailWebhookSecretInput!) { rotateMailWebhookSecret(input: $i) { secret url createdAt previousSecretValidUntil } }";
const MAIL_WEBHOOK: &str = "{ mailWebhook { url currentSecretSince previousSecretValidUntil } }";

/// POSTs a signed call to a tenant's webhook URL; answers (status, JSON body).
async fn tenant_webhook(
    app: &MarketingApp,
    tenant: &str,
    secret: &str,
    body: &Value,
) -> (u16, Value) {
    let body = body.to_string();
    let now = chrono::Utc::now().timestamp();
    let signature = erp_marketing::domain::webhook::sign(secret.as_bytes(), now, body.as_bytes());
    let response = app
        .http
        .post(app.url(&format!("/marketing/webhooks/{tenant}/mail-events")))
        .header("content-type", "application/json")
        .header("x-erp-webhook-timestamp", now.to_string())
        .header("x-erp-webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn hard_bounce(email: &str) -> Value {
    json!({ "events": [{ "type": "bounce", "email": email, "status": "5.1.1", "diagnostic": "550 5.1.1 no such user" }] })
}

#[tokio::test]
async fn each_tenant_has_its_own_sealed_webhook_secret_rotated_with_an_overlap() {
    use sea_orm::{ConnectionTrait, Statement};
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let (tenant, other) = (new_tenant(), new_tenant());
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let other_staff = issuer.token(&other, "usr_staff", ALL);
    let url = app.url(&format!("/marketing/webhooks/{tenant}/mail-events"));

    // No secret yet: the tenant's URL answers 404.
    let data = app.ok(&staff, MAIL_WEBHOOK, json!({})).await;
    assert_eq!(
        data["mailWebhook"],
        json!({ "url": url, "currentSecretSince": null, "previousSecretValidUntil": null })
    );
    let (status, _) =
        tenant_webhook(&app, &tenant, "whsec-guess", &hard_bounce(&address("x"))).await;
    assert_eq!(status, 404);

    // The first secret: shown once, stored sealed (not in the clear anywhere in the row).
    let first = app.ok(&staff, ROTATE, json!({ "i": {} })).await["rotateMailWebhookSecret"].clone();
    let first_secret = first["secret"].as_str().unwrap().to_owned();
    assert!(first_secret.starts_with("whsec_") && first_secret.len() > 60);
    assert_eq!(first["url"], url.as_str());
    assert_eq!(first["previousSecretValidUntil"], Value::Null);
    let rows = app
        .runtime
        .db
        .query_all(Statement::from_string(
            app.runtime.db.get_database_backend(),
            format!("SELECT secret FROM mkt_webhook_secrets WHERE tenant_id = '{tenant}'"),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].try_get("", "secret").unwrap();
    assert!(
        !stored.contains(&first_secret[6..]),
        "the secret is sealed at rest"
    );

    // A call signed with it suppresses the address; the URL's tenant is the events' tenant.
    let gone = address("gone");
    let (status, body) = tenant_webhook(&app, &tenant, &first_secret, &hard_bounce(&gone)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "received": 1, "suppressed": 1, "duplicate": false })
        )
    );
    let data = app.ok(&staff, SUPPRESSION, json!({ "e": gone })).await;
    assert_eq!(data["suppression"]["reason"], "HARD_BOUNCE");
    // An event naming another tenant is refused whole, and nothing changes there.
    let foreign = address("foreign");
    let mut body = hard_bounce(&foreign);
    body["events"][0]["tenant"] = json!(other);
    let (status, answer) = tenant_webhook(&app, &tenant, &first_secret, &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["errors"][0]["extensions"]["reason"],
        "WEBHOOK_PAYLOAD_INVALID"
    );
    let data = app
        .ok(&other_staff, SUPPRESSION, json!({ "e": foreign }))
        .await;
    assert_eq!(data["suppression"], Value::Null);
    // Another tenant's URL does not take this tenant's secret.
    app.ok(&other_staff, ROTATE, json!({ "i": {} })).await;
    let (status, answer) =
        tenant_webhook(&app, &other, &first_secret, &hard_bounce(&foreign)).await;
    assert_eq!(status, 401);
    assert_eq!(
        answer["errors"][0]["extensions"]["reason"],
        "WEBHOOK_SIGNATURE_INVALID"
    );

    // A rotation with an hour's overlap: both secrets verify.
    assert_eq!(
        app.refused(
            &staff,
            ROTATE,
            json!({ "i": { "overlapSeconds": 8 * 24 * 3600 } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "WEBHOOK_ROTATION_INVALID".into())
    );
    let second = app
        .ok(&staff, ROTATE, json!({ "i": { "overlapSeconds": 3600 } }))
        .await["rotateMailWebhookSecret"]
        .clone();
    let second_secret = second["secret"].as_str().unwrap().to_owned();
    assert_ne!(second_secret, first_secret);
    assert!(second["previousSecretValidUntil"].is_string());
    let data = app.ok(&staff, MAIL_WEBHOOK, json!({})).await;
    assert_eq!(
        data["mailWebhook"]["previousSecretValidUntil"],
        second["previousSecretValidUntil"]
    );
    assert_eq!(
        data["mailWebhook"]["currentSecretSince"],
        second["createdAt"]
    );
    for (secret, name) in [(&first_secret, "old"), (&second_secret, "new")] {
        let (status, body) =
            tenant_webhook(&app, &tenant, secret, &hard_bounce(&address(name))).await;
        assert_eq!(
            (status, body["suppressed"].clone()),
            (200, json!(1)),
            "{name}"
        );
    }
    // A rotation without overlap: only the newest verifies.
    let third = app
        .ok(&staff, ROTATE, json!({ "i": { "overlapSeconds": 0 } }))
        .await["rotateMailWebhookSecret"]
        .clone();
    assert_eq!(third["previousSecretValidUntil"], Value::Null);
    let third_secret = third["secret"].as_str().unwrap().to_owned();
    for secret in [&first_secret, &second_secret] {
        let (status, body) =
            tenant_webhook(&app, &tenant, secret, &hard_bounce(&address("late"))).await;
        assert_eq!(status, 401);
        assert_eq!(
            body["errors"][0]["extensions"]["reason"],
            "WEBHOOK_SIGNATURE_INVALID"
        );
    }
    let (status, _) =
        tenant_webhook(&app, &tenant, &third_secret, &hard_bounce(&address("now"))).await;
    assert_eq!(status, 200);

    // The deployment-wide secret of the legacy URL still works, marked deprecated.
    let legacy = address("legacy");
    let body = json!({ "events": [{ "type": "complaint", "tenant": tenant, "email": legacy }] })
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let response = app
        .http
        .post(app.url("/marketing/webhooks/mail-events"))
        .header("content-type", "application/json")
        .header("x-erp-webhook-timestamp", now.to_string())
        .header(
            "x-erp-webhook-signature",
            erp_marketing::domain::webhook::sign(
                erp_tests::marketing::WEBHOOK_SECRET.as_bytes(),
                now,
                body.as_bytes(),
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers().get("deprecation").unwrap(), "true");

    // Reading the webhook needs marketing:write.
    let reader = issuer.token(&tenant, "usr_reader", &["marketing:read"]);
    let (code, _) = app.refused(&reader, MAIL_WEBHOOK, json!({})).await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
}

const SET_LIMITS: &str = "mutation($i: SetSendingLimitsInput!) { setSendingLimits(input: $i) { perMinute perDomainPerMinute } }";

#[tokio::test]
async fn sending_limits_defer_messages_to_the_next_window_without_losing_or_repeating_any() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);

    // Limits are checked; sending them needs marketing:send.
    assert_eq!(
        app.refused(&staff, SET_LIMITS, json!({ "i": { "perMinute": 0 } }))
            .await,
        ("BAD_USER_INPUT".into(), "SENDING_LIMIT_INVALID".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            SET_LIMITS,
            json!({ "i": { "perMinute": 2, "perDomainPerMinute": 3 } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "SENDING_LIMIT_INVALID".into())
    );
    let writer = issuer.token(
        &tenant,
        "usr_writer",
        &["marketing:read", "marketing:write"],
    );
    let (code, _) = app
        .refused(&writer, SET_LIMITS, json!({ "i": { "perMinute": 4 } }))
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    let data = app
        .ok(
            &staff,
            SET_LIMITS,
            json!({ "i": { "perMinute": 4, "perDomainPerMinute": 2 } }),
        )
        .await;
    assert_eq!(
        data["setSendingLimits"],
        json!({ "perMinute": 4, "perDomainPerMinute": 2 })
    );
    let data = app
        .ok(
            &staff,
            "{ sendingLimits { perMinute perDomainPerMinute } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["sendingLimits"],
        json!({ "perMinute": 4, "perDomainPerMinute": 2 })
    );

    // Three recipients at each of three domains: nine messages.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let domains = [
        format!("a-{run}.example"),
        format!("b-{run}.example"),
        format!("c-{run}.example"),
    ];
    let mut emails = Vec::new();
    for domain in &domains {
        for n in 0..3 {
            let email = format!("r{n}@{domain}");
            subscribed(&app, &staff, &email, "R", "NL").await;
            emails.push(email);
        }
    }
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let news = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": news } }))
        .await;

    // Passes all in one minute window (the same clock for each, whatever the wall clock
    // does): the tenant's 4, at most 2 per domain, the rest deferred.
    let mut sender = test_sender("throttled");
    sender.batch = 50;
    let now = chrono::Utc::now().timestamp_millis();
    let sent_by_domain = |sink: &MailSink| -> Vec<usize> {
        domains
            .iter()
            .map(|domain| {
                emails
                    .iter()
                    .filter(|e| e.ends_with(domain.as_str()))
                    .map(|e| sink.to(e).len())
                    .sum()
            })
            .collect()
    };
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((first.started, first.sent, first.deferred), (1, 4, 5));
    let again = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!(
        (again.sent, again.deferred),
        (0, 0),
        "deferred messages wait for their window"
    );
    let per_domain = sent_by_domain(&sink);
    assert_eq!(per_domain.iter().sum::<usize>(), 4);
    assert!(per_domain.iter().all(|n| *n <= 2), "{per_domain:?}");
    let data = app.ok(&staff, CAMPAIGN, json!({ "id": news })).await;
    assert_eq!(data["campaign"]["status"], "SENDING");
    assert_eq!(data["campaign"]["funnel"]["queued"], 5);
    assert_eq!(data["campaign"]["funnel"]["sent"], 4);
    let deferred = app
        .ok(
            &staff,
            "query($id: ID!) { campaign(id: $id) { funnel { deferred } } }",
            json!({ "id": news }),
        )
        .await;
    assert_eq!(deferred["campaign"]["funnel"]["deferred"], 5);

    // The next windows send the rest: 4 more, then the last one; the campaign is sent.
    let second = app
        .marketing
        .send_pass_at(&sender, now + 60_000)
        .await
        .unwrap();
    assert_eq!(second.sent, 4, "{second:?}");
    let third = app
        .marketing
        .send_pass_at(&sender, now + 120_000)
        .await
        .unwrap();
    assert_eq!((third.sent, third.finished), (1, 1), "{third:?}");
    // Every recipient got exactly one message: none lost, none repeated.
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email}");
    }
    let data = app.ok(&staff, CAMPAIGN, json!({ "id": news })).await;
    assert_eq!(data["campaign"]["status"], "SENT");
    assert_eq!(data["campaign"]["funnel"]["sent"], 9);
    assert_eq!(data["campaign"]["funnel"]["queued"], 0);
}

const SET_PROVIDER: &str = "mutation($i: SetSendingProviderInput!) { setSendingProvider(input: $i) { id name perSecond perHour perDay isDefault } }";
const PROGRESS: &str = "query($id: ID!) { campaign(id: $id) { status providerId funnel { queued deferred sent deferredBy { limit messages } deferredUntil } } }";

#[tokio::test]
async fn provider_limits_defer_over_the_daily_cap_and_rate_across_senders_and_lose_nothing() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);

    // Providers are checked; setting one needs marketing:send.
    assert_eq!(
        app.refused(
            &staff,
            SET_PROVIDER,
            json!({ "i": { "name": "capped", "perDay": 0 } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "SENDING_LIMIT_INVALID".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            SET_PROVIDER,
            json!({ "i": { "name": "no spaces", "perDay": 5 } })
        )
        .await
        .0,
        "BAD_USER_INPUT"
    );
    let writer = issuer.token(
        &tenant,
        "usr_writer",
        &["marketing:read", "marketing:write"],
    );
    let (code, _) = app
        .refused(
            &writer,
            SET_PROVIDER,
            json!({ "i": { "name": "capped", "perDay": 5 } }),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");

    // The default provider caps 5 a day; another sends 2 a second; setting one again by
    // name changes it (and a new default replaces the old).
    let capped = app
        .ok(
            &staff,
            SET_PROVIDER,
            json!({ "i": { "name": "Capped", "perDay": 7, "isDefault": true } }),
        )
        .await["setSendingProvider"]
        .clone();
    let again = app
        .ok(
            &staff,
            SET_PROVIDER,
            json!({ "i": { "name": "capped", "perDay": 5, "isDefault": true } }),
        )
        .await["setSendingProvider"]
        .clone();
    assert_eq!(again["id"], capped["id"]);
    assert_eq!(
        again,
        json!({ "id": capped["id"], "name": "capped", "perSecond": null, "perHour": null,
                "perDay": 5, "isDefault": true })
    );
    let fast = app
        .ok(
            &staff,
            SET_PROVIDER,
            json!({ "i": { "name": "fast", "perSecond": 2 } }),
        )
        .await["setSendingProvider"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = app
        .ok(
            &staff,
            "{ sendingProviders { name perSecond perDay isDefault } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["sendingProviders"],
        json!([
            { "name": "capped", "perSecond": null, "perDay": 5, "isDefault": true },
            { "name": "fast", "perSecond": 2, "perDay": null, "isDefault": false }
        ])
    );

    // Eight recipients; an unknown provider is refused.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut emails = Vec::new();
    for n in 0..8 {
        let email = format!("p{n}@cap-{run}.example");
        subscribed(&app, &staff, &email, "P", "NL").await;
        emails.push(email);
    }
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    assert_eq!(
        app.refused(
            &staff,
            CREATE_CAMPAIGN,
            json!({ "i": { "name": "X", "templateId": template, "segmentId": everyone,
                           "providerId": "prv_nope" } })
        )
        .await
        .0,
        "BAD_USER_INPUT"
    );
    let news = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": news } }))
        .await;

    // Two senders (two instances' worth of leases) take turns in one day: together they hand
    // off 5, the other 3 wait for the next UTC day.
    let (mut one, mut two) = (test_sender("cap-one"), test_sender("cap-two"));
    one.batch = 3;
    two.batch = 3;
    let now = chrono::Utc::now().timestamp_millis();
    let mut sent = 0;
    let mut deferred = 0;
    for sender in [&one, &two, &one, &two] {
        let pass = app.marketing.send_pass_at(sender, now).await.unwrap();
        sent += pass.sent;
        deferred += pass.deferred;
    }
    assert_eq!((sent, deferred), (5, 3));
    let day = 86_400_000;
    let next_day = (now.div_euclid(day) + 1) * day;
    let progress = app.ok(&staff, PROGRESS, json!({ "id": news })).await;
    assert_eq!(progress["campaign"]["status"], "SENDING");
    assert_eq!(progress["campaign"]["providerId"], Value::Null);
    let funnel = &progress["campaign"]["funnel"];
    assert_eq!(
        (&funnel["queued"], &funnel["deferred"], &funnel["sent"]),
        (&json!(3), &json!(3), &json!(5))
    );
    assert_eq!(
        funnel["deferredBy"],
        json!([{ "limit": "PROVIDER_PER_DAY", "messages": 3 }])
    );
    let until = chrono::DateTime::parse_from_rfc3339(funnel["deferredUntil"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(until, next_day);
    let providers = app
        .marketing
        .sending_providers(&erp_kit::TenantId::from_claim(&tenant))
        .await
        .unwrap();
    let usage = app
        .marketing
        .provider_usage(&erp_kit::TenantId::from_claim(&tenant), &providers[0], now)
        .await
        .unwrap();
    assert_eq!((usage.today, usage.this_hour), (Some(5), None));
    assert_eq!(
        emails.iter().map(|e| sink.to(e).len()).sum::<usize>(),
        5,
        "five messages reached the relay"
    );

    // The next day the rest go; none lost, none repeated.
    let pass = app.marketing.send_pass_at(&two, now + day).await.unwrap();
    assert_eq!(
        (pass.sent, pass.deferred, pass.finished),
        (3, 0, 1),
        "{pass:?}"
    );
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email}");
    }
    let progress = app.ok(&staff, PROGRESS, json!({ "id": news })).await;
    assert_eq!(progress["campaign"]["status"], "SENT");
    assert_eq!(
        progress["campaign"]["funnel"],
        json!({ "queued": 0, "deferred": 0, "sent": 8, "deferredBy": [], "deferredUntil": null })
    );

    // A campaign through the 2-a-second provider (its day is free): 2 per second, 4 seconds.
    let data = app
        .ok(
            &staff,
            CREATE_CAMPAIGN,
            json!({ "i": { "name": "Fast", "templateId": template, "segmentId": everyone,
                           "providerId": fast } }),
        )
        .await;
    let quick = data["createCampaign"]["id"].as_str().unwrap().to_owned();
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": quick } }))
        .await;
    one.batch = 50;
    let later = now + 2 * day;
    let first = app.marketing.send_pass_at(&one, later).await.unwrap();
    assert_eq!((first.sent, first.deferred), (2, 6), "{first:?}");
    let progress = app.ok(&staff, PROGRESS, json!({ "id": quick })).await;
    assert_eq!(progress["campaign"]["providerId"], json!(fast));
    assert_eq!(
        progress["campaign"]["funnel"]["deferredBy"],
        json!([{ "limit": "PROVIDER_PER_SECOND", "messages": 6 }])
    );
    let mut counts = Vec::new();
    for second in 1..4 {
        let pass = app
            .marketing
            .send_pass_at(&one, later + second * 1_000)
            .await
            .unwrap();
        counts.push(pass.sent);
    }
    assert_eq!(counts, vec![2, 2, 2]);
    for email in &emails {
        assert_eq!(sink.to(email).len(), 2, "{email}: one message per campaign");
    }
    let progress = app.ok(&staff, PROGRESS, json!({ "id": quick })).await;
    assert_eq!(progress["campaign"]["status"], "SENT");
}

#[tokio::test]
async fn the_embedded_mode_confirms_a_double_opt_in_throttles_per_domain_and_verifies_a_tenant_webhook(
) {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, Backends::Embedded, None).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);

    // Double opt-in on SQLite: pending until the link, then subscribed.
    let form = double_opt_in_form(&app, &staff).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (ida, jon) = (format!("ida@{run}.example"), format!("jon@{run}.example"));
    let ida_id = sign_up(&app, &staff, &form, &ida, "Ida").await;
    let jon_id = sign_up(&app, &staff, &form, &jon, "Jon").await;
    for (email, id) in [(&ida, &ida_id), (&jon, &jon_id)] {
        let link = confirmation_link(&app, &sink, email);
        let (status, body) = confirm(&app, &link).await;
        assert_eq!(
            (status, body),
            (200, json!({ "subscribed": true, "contactId": id }))
        );
    }

    // One message per minute to their shared domain: one now, one in the next window.
    app.ok(
        &staff,
        SET_LIMITS,
        json!({ "i": { "perDomainPerMinute": 1 } }),
    )
    .await;
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let news = campaign(&app, &staff, &template, &everyone).await;
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": news } }))
        .await;
    let mut sender = test_sender("embedded-throttle");
    sender.batch = 50;
    let now = chrono::Utc::now().timestamp_millis();
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((first.sent, first.deferred), (1, 1), "{first:?}");
    let next = app
        .marketing
        .send_pass_at(&sender, now + 60_000)
        .await
        .unwrap();
    assert_eq!((next.sent, next.finished), (1, 1), "{next:?}");
    for email in [&ida, &jon] {
        assert_eq!(
            sink.to(email).len(),
            2,
            "the confirmation and one campaign message"
        );
    }

    // A tenant webhook secret sealed and verified on SQLite.
    let rotated = app.ok(&staff, ROTATE, json!({ "i": {} })).await;
    let secret = rotated["rotateMailWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = tenant_webhook(&app, &tenant, &secret, &hard_bounce(&ida)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "received": 1, "suppressed": 1, "duplicate": false })
        )
    );
}

const AB_CAMPAIGN: &str = "query($id: ID!) { campaign(id: $id) { status funnel { queued held sent skipped inDoubt opened clicked } abTest { testPercent winnerBy waitMinutes decideAt winnerVariantId decidedAt variants { id label templateId winner funnel { queued sent skipped inDoubt opened clicked delivered openRate clickRate } } } } }";
const CHOOSE_WINNER: &str = "mutation($i: ChooseCampaignWinnerInput!) { chooseCampaignWinner(input: $i) { id abTest { winnerVariantId } } }";

/// A bulk template whose subject names the variant (`Variant B for {{first_name}}`).
async fn variant_template(app: &MarketingApp, token: &str, label: &str) -> String {
    let data = app
        .ok(
            token,
            TEMPLATE,
            json!({ "i": { "name": format!("Variant {label}"), "kind": "BULK",
                "subject": format!("Variant {label} for {{{{first_name}}}}"),
                "html": "<p>Hi {{first_name}}</p><p><a href=\"https://shop.example.com/ab\">Shop</a></p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>",
                "text": "Hi {{first_name}}. Unsubscribe: {{unsubscribe_url}}" } }),
        )
        .await;
    data["createEmailTemplate"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Which variant (the letter after `Variant `) each address's one message sent; panics on an
/// address with no message or more than one.
fn variants_received(sink: &MailSink, emails: &[String]) -> BTreeMap<String, String> {
    emails
        .iter()
        .map(|email| {
            let mails = sink.to(email);
            assert_eq!(mails.len(), 1, "{email} received {} messages", mails.len());
            let subject = mails[0].header("Subject").unwrap_or("").to_owned();
            let label = subject
                .strip_prefix("Variant ")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_else(|| panic!("subject {subject}"))
                .to_owned();
            (email.clone(), label)
        })
        .collect()
}

#[tokio::test]
async fn an_ab_test_splits_its_share_evenly_and_sends_the_winner_to_the_rest_with_exact_variant_funnels(
) {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let mut emails = Vec::new();
    for i in 0..20 {
        let email = address(&format!("ab{i}"));
        subscribed(&app, &staff, &email, "Ab", "PT").await;
        emails.push(email);
    }
    let everyone = segment(
        &app,
        &staff,
        "All",
        "DYNAMIC",
        json!({ "consent": "email_marketing" }),
    )
    .await;
    let a = variant_template(&app, &staff, "A").await;
    let b = variant_template(&app, &staff, "B").await;
    let create = |test: Value| json!({ "i": { "name": "Spring A/B", "templateId": a, "segmentId": everyone, "abTest": test } });

    // A test out of bounds is refused, and nothing is created.
    for (test, expected) in [
        (
            json!({ "variants": [], "testPercent": 40, "winnerBy": "CLICK_RATE" }),
            ("BAD_USER_INPUT", "AB_TEST_INVALID"),
        ),
        (
            json!({ "variants": [a], "testPercent": 40, "winnerBy": "CLICK_RATE" }),
            ("BAD_USER_INPUT", "AB_TEST_INVALID"),
        ),
        (
            json!({ "variants": [b], "testPercent": 0, "winnerBy": "CLICK_RATE" }),
            ("BAD_USER_INPUT", "AB_TEST_INVALID"),
        ),
        (
            json!({ "variants": [b], "testPercent": 40, "winnerBy": "OPEN_RATE", "waitMinutes": 10081 }),
            ("BAD_USER_INPUT", "AB_TEST_INVALID"),
        ),
    ] {
        let (code, reason) = app
            .refused(&staff, CREATE_CAMPAIGN, create(test.clone()))
            .await;
        assert_eq!((code.as_str(), reason.as_str()), expected, "{test}");
    }
    let transactional = app
        .ok(
            &staff,
            TEMPLATE,
            json!({ "i": { "name": "Reset", "kind": "TRANSACTIONAL", "subject": "Reset",
                           "html": "<p>Reset</p>", "text": "Reset" } }),
        )
        .await["createEmailTemplate"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.refused(
            &staff,
            CREATE_CAMPAIGN,
            create(
                json!({ "variants": [transactional], "testPercent": 40, "winnerBy": "CLICK_RATE" })
            )
        )
        .await,
        ("CONFLICT".into(), "TEMPLATE_KIND_MISMATCH".into())
    );
    let data = app
        .ok(
            &staff,
            "{ campaigns(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["campaigns"]["nodes"], json!([]));

    // 40 % of 20 contacts: 8 in the test, 4 per variant; the winner by click rate after an
    // hour.
    let data = app
        .ok(
            &staff,
            CREATE_CAMPAIGN,
            create(json!({ "variants": [b], "testPercent": 40, "winnerBy": "CLICK_RATE", "waitMinutes": 60 })),
        )
        .await;
    let id = data["createCampaign"]["id"].as_str().unwrap().to_owned();
    let data = app.ok(&staff, AB_CAMPAIGN, json!({ "id": id })).await;
    let test = &data["campaign"]["abTest"];
    assert_eq!(
        (
            &test["testPercent"],
            &test["winnerBy"],
            &test["waitMinutes"],
            &test["decideAt"],
            &test["winnerVariantId"]
        ),
        (
            &json!(40),
            &json!("CLICK_RATE"),
            &json!(60),
            &Value::Null,
            &Value::Null
        )
    );
    let labels: Vec<(String, String)> = test["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["label"].as_str().unwrap().to_owned(),
                v["templateId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        [("A".to_owned(), a.clone()), ("B".to_owned(), b.clone())]
    );
    // No winner before the campaign sends.
    let variant_b = test["variants"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.refused(
            &staff,
            CHOOSE_WINNER,
            json!({ "i": { "campaignId": id, "variantId": variant_b } })
        )
        .await,
        ("CONFLICT".into(), "AB_WINNER_NOT_ALLOWED".into())
    );
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": id } }))
        .await;

    // The sender's passes run on a clock the test sets: the first starts the campaign and
    // sends the test share; the rest of the audience is held.
    let mut sender = test_sender("ab");
    sender.batch = 50;
    let now = chrono::Utc::now().timestamp_millis();
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!(
        (first.started, first.sent, first.decided, first.finished),
        (1, 8, 0, 0),
        "{first:?}"
    );
    let data = app.ok(&staff, AB_CAMPAIGN, json!({ "id": id })).await;
    assert_eq!(data["campaign"]["status"], "SENDING");
    assert_eq!(
        data["campaign"]["funnel"],
        json!({ "queued": 0, "held": 12, "sent": 8, "skipped": 0, "inDoubt": 0, "opened": 0, "clicked": 0 })
    );
    // Those in the test received their variant (the one their message records), 4 each.
    let tested: Vec<String> = emails
        .iter()
        .filter(|e| !sink.to(e).is_empty())
        .cloned()
        .collect();
    assert_eq!(tested.len(), 8);
    let received = variants_received(&sink, &tested);
    let per_label = |received: &BTreeMap<String, String>, label: &str| {
        received.values().filter(|l| *l == label).count()
    };
    assert_eq!(
        (per_label(&received, "A"), per_label(&received, "B")),
        (4, 4)
    );

    // B's readers click (2 of 4), one of A's opens: B wins by click rate.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let readers_of = |label: &str| -> Vec<String> {
        received
            .iter()
            .filter(|(_, l)| *l == label)
            .map(|(e, _)| e.clone())
            .collect()
    };
    for email in readers_of("B").iter().take(2) {
        let click = sink.to(email)[0]
            .link(&app.url("/marketing/t/click/"))
            .expect("a tracked link");
        let response = no_redirect.get(&click).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
    }
    let open = sink.to(&readers_of("A")[0])[0]
        .link(&app.url("/marketing/t/open/"))
        .expect("a pixel");
    assert_eq!(
        app.http.get(&open).send().await.unwrap().status().as_u16(),
        200
    );

    // Half-way through the wait nothing is decided; a pass after it chooses B and the next
    // sends it to the 12 held contacts.
    let early = app
        .marketing
        .send_pass_at(&sender, now + 30 * 60_000)
        .await
        .unwrap();
    assert_eq!((early.sent, early.decided), (0, 0), "{early:?}");
    let decided = app
        .marketing
        .send_pass_at(&sender, now + 61 * 60_000)
        .await
        .unwrap();
    assert_eq!(decided.decided, 1, "{decided:?}");
    let data = app.ok(&staff, AB_CAMPAIGN, json!({ "id": id })).await;
    assert_eq!(data["campaign"]["abTest"]["winnerVariantId"], variant_b);
    assert_eq!(data["campaign"]["funnel"]["held"], 0);
    let rest = app
        .marketing
        .send_pass_at(&sender, now + 62 * 60_000)
        .await
        .unwrap();
    assert_eq!((rest.sent, rest.finished), (12, 1), "{rest:?}");
    // Too late for a second winner.
    assert_eq!(
        app.refused(
            &staff,
            CHOOSE_WINNER,
            json!({ "i": { "campaignId": id, "variantId": variant_b } })
        )
        .await,
        ("CONFLICT".into(), "AB_WINNER_NOT_ALLOWED".into())
    );

    // Everyone received exactly one message: the 8 in the test their variant, the 12 others B.
    let all = variants_received(&sink, &emails);
    for (email, label) in &all {
        match received.get(email) {
            Some(tested) => assert_eq!(label, tested, "{email}"),
            None => assert_eq!(label, "B", "{email}"),
        }
    }
    // The funnels: the campaign's, and each variant's, exact and adding up.
    let data = app.ok(&staff, AB_CAMPAIGN, json!({ "id": id })).await;
    let campaign = &data["campaign"];
    assert_eq!(campaign["status"], "SENT");
    assert_eq!(
        campaign["funnel"],
        json!({ "queued": 0, "held": 0, "sent": 20, "skipped": 0, "inDoubt": 0, "opened": 3, "clicked": 2 })
    );
    let variants = campaign["abTest"]["variants"].as_array().unwrap();
    assert_eq!(variants[0]["winner"], false);
    assert_eq!(
        variants[0]["funnel"],
        json!({ "queued": 0, "sent": 4, "skipped": 0, "inDoubt": 0, "opened": 1, "clicked": 0,
                "delivered": 4, "openRate": 0.25, "clickRate": 0.0 })
    );
    assert_eq!(variants[1]["winner"], true);
    assert_eq!(
        variants[1]["funnel"],
        json!({ "queued": 0, "sent": 16, "skipped": 0, "inDoubt": 0, "opened": 2, "clicked": 2,
                "delivered": 16, "openRate": 0.125, "clickRate": 0.125 })
    );
    assert!(campaign["abTest"]["decidedAt"].is_string());
}

#[tokio::test]
async fn a_manual_ab_test_waits_for_a_person_to_choose_the_winner() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, Backends::Embedded, None).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let mut emails = Vec::new();
    for i in 0..9 {
        let email = address(&format!("abm{i}"));
        subscribed(&app, &staff, &email, "Abm", "PT").await;
        emails.push(email);
    }
    let everyone = segment(
        &app,
        &staff,
        "All",
        "DYNAMIC",
        json!({ "consent": "email_marketing" }),
    )
    .await;
    let a = variant_template(&app, &staff, "A").await;
    let b = variant_template(&app, &staff, "B").await;
    let c = variant_template(&app, &staff, "C").await;
    // Without a test, no winner is chosen.
    let plain = campaign(&app, &staff, &a, &everyone).await;
    assert_eq!(
        app.refused(
            &staff,
            CHOOSE_WINNER,
            json!({ "i": { "campaignId": plain, "variantId": "nope" } })
        )
        .await,
        ("CONFLICT".into(), "AB_WINNER_NOT_ALLOWED".into())
    );
    // Three variants, a third of nine contacts in the test: one each.
    let data = app
        .ok(
            &staff,
            CREATE_CAMPAIGN,
            json!({ "i": { "name": "Manual", "templateId": a, "segmentId": everyone,
                "abTest": { "variants": [b, c], "testPercent": 33, "winnerBy": "MANUAL" } } }),
        )
        .await;
    let id = data["createCampaign"]["id"].as_str().unwrap().to_owned();
    app.ok(&staff, SCHEDULE, json!({ "i": { "campaignId": id } }))
        .await;
    let mut sender = test_sender("abm");
    sender.batch = 50;
    let now = chrono::Utc::now().timestamp_millis();
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((first.started, first.sent), (1, 3), "{first:?}");
    // A week later the manual test still waits.
    let later = app
        .marketing
        .send_pass_at(&sender, now + 8 * 24 * 3600 * 1000)
        .await
        .unwrap();
    assert_eq!((later.sent, later.decided, later.finished), (0, 0, 0));
    let data = app.ok(&staff, AB_CAMPAIGN, json!({ "id": id })).await;
    assert_eq!(data["campaign"]["funnel"]["held"], 6);
    assert!(data["campaign"]["abTest"]["decideAt"].is_null());
    let variants = data["campaign"]["abTest"]["variants"].as_array().unwrap();
    assert_eq!(
        variants
            .iter()
            .map(|v| v["funnel"]["sent"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 1, 1]
    );
    let variant_c = variants[2]["id"].as_str().unwrap().to_owned();
    // Choosing needs marketing:send; a variant of another campaign is refused.
    let writer = issuer.token(
        &tenant,
        "usr_writer",
        &["marketing:read", "marketing:write"],
    );
    let (code, _) = app
        .refused(
            &writer,
            CHOOSE_WINNER,
            json!({ "i": { "campaignId": id, "variantId": variant_c } }),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    assert_eq!(
        app.refused(
            &staff,
            CHOOSE_WINNER,
            json!({ "i": { "campaignId": id, "variantId": "mkt_not_a_variant" } })
        )
        .await
        .0,
        "BAD_USER_INPUT"
    );
    let data = app
        .ok(
            &staff,
            CHOOSE_WINNER,
            json!({ "i": { "campaignId": id, "variantId": variant_c } }),
        )
        .await;
    assert_eq!(
        data["chooseCampaignWinner"]["abTest"]["winnerVariantId"],
        variant_c
    );
    let rest = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((rest.sent, rest.finished), (6, 1), "{rest:?}");
    let received = variants_received(&sink, &emails);
    let count = |label: &str| received.values().filter(|l| *l == label).count();
    assert_eq!((count("A"), count("B"), count("C")), (1, 1, 7));
    let data = app.ok(&staff, AB_CAMPAIGN, json!({ "id": id })).await;
    assert_eq!(data["campaign"]["status"], "SENT");
    let sent: Vec<i64> = data["campaign"]["abTest"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["funnel"]["sent"].as_i64().unwrap())
        .collect();
    assert_eq!(sent, [1, 1, 7]);
}

const CREATE_JOURNEY: &str =
    "mutation($i: CreateJourneyInput!) { createJourney(input: $i) { id status triggerKind triggerReference steps { position kind } } }";
const ACTIVATE_JOURNEY: &str =
    "mutation($i: JourneyActionInput!) { activateJourney(input: $i) { id status } }";
const ARCHIVE_JOURNEY: &str =
    "mutation($i: JourneyActionInput!) { archiveJourney(input: $i) { id status } }";
const JOURNEY: &str = "query($id: ID!) { journey(id: $id) { status counts { active completed exited } enrollments { contactId status step exitReason steps { position kind status detail } } } }";
const TRACK_EVENT: &str = "mutation($i: TrackContactEventInput!) { trackContactEvent(input: $i) }";

/// A journey's enrolments by contact: (status, step, exit reason, [(kind, status)]).
async fn enrollments_of(
    app: &MarketingApp,
    token: &str,
    journey: &str,
) -> BTreeMap<String, (String, i64, Value, Vec<(String, String)>)> {
    let data = app.ok(token, JOURNEY, json!({ "id": journey })).await;
    data["journey"]["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["contactId"].as_str().unwrap().to_owned(),
                (
                    e["status"].as_str().unwrap().to_owned(),
                    e["step"].as_i64().unwrap(),
                    e["exitReason"].clone(),
                    e["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| {
                            (
                                s["kind"].as_str().unwrap().to_owned(),
                                s["status"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect(),
                ),
            )
        })
        .collect()
}

fn subjects(sink: &MailSink, email: &str) -> Vec<String> {
    sink.to(email)
        .iter()
        .map(|m| m.header("Subject").unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_journey_enrols_each_contact_once_and_runs_waits_and_conditions_on_the_durable_queue() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let portugal = segment(
        &app,
        &staff,
        "Portugal",
        "DYNAMIC",
        json!({ "field": { "field": "COUNTRY", "operator": "EQUALS", "value": "PT" } }),
    )
    .await;
    let welcome = variant_template(&app, &staff, "W").await;
    let follow_up = variant_template(&app, &staff, "F").await;
    let trigger = json!({ "kind": "SEGMENT_JOINED", "segmentId": portugal });
    let steps = json!([
        { "kind": "SEND", "templateId": welcome },
        { "kind": "WAIT", "waitMinutes": 60 },
        { "kind": "CONDITION", "engagement": "OPENED" },
        { "kind": "SEND", "templateId": follow_up },
    ]);

    // A bad journey is refused.
    for (input, reason) in [
        (
            json!({ "name": "J", "trigger": trigger, "steps": [] }),
            "JOURNEY_INVALID",
        ),
        (
            json!({ "name": "J", "trigger": trigger, "steps": [{ "kind": "WAIT", "waitMinutes": 0 }] }),
            "JOURNEY_INVALID",
        ),
        (
            json!({ "name": "J", "trigger": trigger, "steps": [{ "kind": "CONDITION", "engagement": "CLICKED" }] }),
            "JOURNEY_INVALID",
        ),
        (
            json!({ "name": "J", "trigger": { "kind": "SEGMENT_JOINED" }, "steps": steps }),
            "JOURNEY_INVALID",
        ),
        (
            json!({ "name": "J", "trigger": { "kind": "EVENT", "event": "Not An Event" }, "steps": steps }),
            "JOURNEY_INVALID",
        ),
    ] {
        assert_eq!(
            app.refused(&staff, CREATE_JOURNEY, json!({ "i": input.clone() }))
                .await,
            ("BAD_USER_INPUT".into(), reason.into()),
            "{input}"
        );
    }

    let data = app
        .ok(
            &staff,
            CREATE_JOURNEY,
            json!({ "i": { "name": "Welcome", "trigger": trigger, "steps": steps } }),
        )
        .await;
    let journey = data["createJourney"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["createJourney"]["status"], "DRAFT");
    assert_eq!(data["createJourney"]["triggerKind"], "SEGMENT_JOINED");
    // A draft enrols nobody.
    let early_email = address("j-early");
    subscribed(&app, &staff, &early_email, "Early", "PT").await;
    app.ok(
        &staff,
        ACTIVATE_JOURNEY,
        json!({ "i": { "journeyId": journey } }),
    )
    .await;
    // Joining the segment enrols: two contacts in Portugal, one in Spain.
    let ana_email = address("j-ana");
    let ana = subscribed(&app, &staff, &ana_email, "Ana", "PT").await;
    let rui_email = address("j-rui");
    let rui = subscribed(&app, &staff, &rui_email, "Rui", "PT").await;
    let eva_email = address("j-eva");
    subscribed(&app, &staff, &eva_email, "Eva", "ES").await;
    let enrolled = enrollments_of(&app, &staff, &journey).await;
    assert_eq!(
        enrolled.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([ana.clone(), rui.clone()])
    );

    // The sender runs the steps on a clock the test sets: the welcome goes out, then the
    // wait starts.
    let sender = test_sender("journey");
    let now = chrono::Utc::now().timestamp_millis();
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((first.journeys.queued, first.sent), (2, 2), "{first:?}");
    for email in [&ana_email, &rui_email] {
        assert_eq!(
            subjects(&sink, email),
            [format!(
                "Variant W for {}",
                if email == &ana_email { "Ana" } else { "Rui" }
            )]
        );
    }
    let waiting = enrollments_of(&app, &staff, &journey).await;
    assert_eq!(
        waiting[&ana],
        (
            "ACTIVE".into(),
            2,
            Value::Null,
            vec![
                ("send".into(), "done".into()),
                ("wait".into(), "done".into())
            ]
        )
    );
    // Ana opens the welcome; Rui does not.
    let open = sink.to(&ana_email)[0]
        .link(&app.url("/marketing/t/open/"))
        .expect("a pixel");
    assert_eq!(
        app.http.get(&open).send().await.unwrap().status().as_u16(),
        200
    );

    // Half-way through the wait nothing runs. After it, another sender (nothing was kept in
    // memory) checks the condition: Ana gets the follow-up and completes, Rui exits.
    let other = test_sender("journey-other");
    let halfway = app
        .marketing
        .send_pass_at(&other, now + 30 * 60_000)
        .await
        .unwrap();
    assert_eq!(
        (halfway.journeys.steps, halfway.sent),
        (0, 0),
        "{halfway:?}"
    );
    let after = app
        .marketing
        .send_pass_at(&other, now + 61 * 60_000)
        .await
        .unwrap();
    assert_eq!(
        (after.journeys.queued, after.journeys.finished, after.sent),
        (1, 2, 1),
        "{after:?}"
    );
    assert_eq!(
        subjects(&sink, &ana_email),
        ["Variant W for Ana", "Variant F for Ana"]
    );
    assert_eq!(subjects(&sink, &rui_email), ["Variant W for Rui"]);
    assert!(sink.to(&eva_email).is_empty());
    assert!(sink.to(&early_email).is_empty());
    let done = enrollments_of(&app, &staff, &journey).await;
    assert_eq!(
        done[&ana],
        (
            "COMPLETED".into(),
            4,
            Value::Null,
            vec![
                ("send".into(), "done".into()),
                ("wait".into(), "done".into()),
                ("condition".into(), "done".into()),
                ("send".into(), "done".into())
            ]
        )
    );
    assert_eq!(
        done[&rui],
        (
            "EXITED".into(),
            2,
            json!("CONDITION"),
            vec![
                ("send".into(), "done".into()),
                ("wait".into(), "done".into()),
                ("condition".into(), "done".into())
            ]
        )
    );
    let data = app.ok(&staff, JOURNEY, json!({ "id": journey })).await;
    assert_eq!(
        data["journey"]["counts"],
        json!({ "active": 0, "completed": 1, "exited": 1 })
    );

    // An event journey: each contact enrolled once, however often the event comes.
    let data = app
        .ok(
            &staff,
            CREATE_JOURNEY,
            json!({ "i": { "name": "Trial", "trigger": { "kind": "EVENT", "event": "trial.started" },
                           "steps": [{ "kind": "SEND", "templateId": follow_up }] } }),
        )
        .await;
    let trial = data["createJourney"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &staff,
        ACTIVATE_JOURNEY,
        json!({ "i": { "journeyId": trial } }),
    )
    .await;
    let track = json!({ "i": { "contactId": rui, "event": "trial.started" } });
    assert_eq!(
        app.ok(&staff, TRACK_EVENT, track.clone()).await["trackContactEvent"],
        1
    );
    assert_eq!(
        app.ok(&staff, TRACK_EVENT, track).await["trackContactEvent"],
        0
    );
    assert_eq!(
        app.refused(
            &staff,
            TRACK_EVENT,
            json!({ "i": { "contactId": rui, "event": "" } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "JOURNEY_INVALID".into())
    );
    let trial_pass = app
        .marketing
        .send_pass_at(&other, now + 62 * 60_000)
        .await
        .unwrap();
    assert_eq!(
        (trial_pass.journeys.queued, trial_pass.sent),
        (1, 1),
        "{trial_pass:?}"
    );
    assert_eq!(
        subjects(&sink, &rui_email),
        ["Variant W for Rui", "Variant F for Rui"]
    );
    // An archived journey stays archived.
    app.ok(
        &staff,
        ARCHIVE_JOURNEY,
        json!({ "i": { "journeyId": trial } }),
    )
    .await;
    assert_eq!(
        app.refused(
            &staff,
            ACTIVATE_JOURNEY,
            json!({ "i": { "journeyId": trial } })
        )
        .await,
        ("CONFLICT".into(), "JOURNEY_TRANSITION_NOT_ALLOWED".into())
    );
}

const SET_ORIGINS: &str = "mutation($i: SetFormOriginsInput!) { setFormOrigins(input: $i) }";

#[tokio::test]
async fn a_script_on_a_listed_origin_may_post_a_form_and_any_other_page_is_refused() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let form = contact_form(&app, &staff, 30).await;
    let url = form["submitUrl"].as_str().unwrap().to_owned();
    let shop = "https://shop.example.com";

    // Origins are checked and normalised.
    for bad in [
        "shop.example.com",
        "https://*.example.com",
        "https://shop.example.com/form",
    ] {
        assert_eq!(
            app.refused(&staff, SET_ORIGINS, json!({ "i": { "origins": [bad] } }))
                .await,
            ("BAD_USER_INPUT".into(), "FORM_ORIGIN_INVALID".into()),
            "{bad}"
        );
    }
    let preflight = |origin: &'static str| {
        let request = app
            .http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type");
        async move { request.send().await.unwrap() }
    };
    // Nothing listed yet: no page may.
    let refused = preflight(shop).await;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "FORM_ORIGIN_NOT_ALLOWED"
    );

    let data = app
        .ok(
            &staff,
            SET_ORIGINS,
            json!({ "i": { "origins": ["https://Shop.Example.com/", "http://localhost:8080"] } }),
        )
        .await;
    assert_eq!(
        data["setFormOrigins"],
        json!(["http://localhost:8080", "https://shop.example.com"])
    );
    let data = app.ok(&staff, "{ formOrigins }", json!({})).await;
    assert_eq!(
        data["formOrigins"],
        json!(["http://localhost:8080", "https://shop.example.com"])
    );

    // The preflight of a listed origin is answered; another origin's is refused.
    let allowed = preflight(shop).await;
    assert_eq!(allowed.status().as_u16(), 204);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], shop);
    assert_eq!(headers["access-control-allow-methods"], "POST");
    assert_eq!(headers["access-control-allow-headers"], "content-type");
    assert_eq!(headers["vary"], "Origin");
    assert_eq!(
        preflight("https://evil.example.net")
            .await
            .status()
            .as_u16(),
        403
    );

    // The post: a listed origin's is accepted (and readable by its script), another's is
    // refused before anything is written, a server's (no Origin) is accepted as before.
    let email = address("cors");
    let body = form_body(&[
        ("email", &email),
        ("first_name", "Cora"),
        ("consent", "yes"),
    ]);
    let post = |origin: Option<&'static str>, body: String| {
        let mut request = app
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.unwrap() }
    };
    let evil = post(Some("https://evil.example.net"), body.clone()).await;
    assert_eq!(evil.status().as_u16(), 403);
    let answer: Value = evil.json().await.unwrap();
    assert_eq!(
        (
            &answer["errors"][0]["extensions"]["code"],
            &answer["errors"][0]["extensions"]["reason"]
        ),
        (&json!("FORBIDDEN"), &json!("FORM_ORIGIN_NOT_ALLOWED"))
    );
    let data = app.ok(&staff, CONTACT_COUNT, json!({})).await;
    assert_eq!(data["marketingContacts"]["nodes"], json!([]));
    let listed = post(Some(shop), body.clone()).await;
    assert_eq!(listed.status().as_u16(), 202);
    assert_eq!(listed.headers()["access-control-allow-origin"], shop);
    let server = post(
        None,
        form_body(&[
            ("email", &address("cors-server")),
            ("first_name", "Sam"),
            ("consent", "yes"),
        ]),
    )
    .await;
    assert_eq!(server.status().as_u16(), 202);
    assert!(server
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let data = app.ok(&staff, CONTACT_COUNT, json!({})).await;
    assert_eq!(
        data["marketingContacts"]["nodes"].as_array().unwrap().len(),
        2
    );
    // A refusal of a listed page's post is readable by its script too.
    let bad = post(Some(shop), form_body(&[("email", "not-an-address")])).await;
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(bad.headers()["access-control-allow-origin"], shop);
}

const UPDATE_JOURNEY: &str = "mutation($i: UpdateJourneyInput!) { updateJourney(input: $i) { id stepsVersion steps { position kind nextIfTrue nextIfFalse } } }";
const JOURNEY_VERSIONS: &str = "query($id: ID!) { journey(id: $id) { stepsVersion versions { version steps { kind } } counts { active completed exited } enrollmentConnection(first: 100) { nodes { contactId version status step exitReason } } } }";

/// A journey's enrolments by contact: (version, status, exit reason).
async fn versions_of(
    app: &MarketingApp,
    token: &str,
    journey: &str,
) -> (Value, BTreeMap<String, (i64, String, Value)>) {
    let data = app
        .ok(token, JOURNEY_VERSIONS, json!({ "id": journey }))
        .await;
    let by_contact = data["journey"]["enrollmentConnection"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["contactId"].as_str().unwrap().to_owned(),
                (
                    e["version"].as_i64().unwrap(),
                    e["status"].as_str().unwrap().to_owned(),
                    e["exitReason"].clone(),
                ),
            )
        })
        .collect();
    (data["journey"].clone(), by_contact)
}

#[tokio::test]
async fn the_embedded_mode_runs_a_branching_journey_end_to_end_and_an_edit_keeps_running_contacts_on_their_version(
) {
    // One process: SQLite, the in-process cache and bus; the real SMTP server.
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, Backends::Embedded, None).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let welcome = variant_template(&app, &staff, "W").await;
    let follow_up = variant_template(&app, &staff, "F").await;
    let reminder = variant_template(&app, &staff, "R").await;
    let welcome2 = variant_template(&app, &staff, "W2").await;
    let follow_up2 = variant_template(&app, &staff, "F2").await;

    // A branch only jumps forward.
    let bad = json!([
        { "kind": "SEND", "templateId": welcome },
        { "kind": "CONDITION", "engagement": "OPENED", "nextIfFalse": 0 },
    ]);
    let trigger = json!({ "kind": "EVENT", "event": "signed.up" });
    assert_eq!(
        app.refused(
            &staff,
            CREATE_JOURNEY,
            json!({ "i": { "name": "J", "trigger": trigger, "steps": bad } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "JOURNEY_INVALID".into())
    );
    // Opened the welcome: the follow-up, then out; not opened: the reminder.
    let steps = json!([
        { "kind": "SEND", "templateId": welcome },
        { "kind": "WAIT", "waitMinutes": 60 },
        { "kind": "CONDITION", "engagement": "OPENED", "nextIfTrue": 3, "nextIfFalse": 5 },
        { "kind": "SEND", "templateId": follow_up },
        { "kind": "EXIT" },
        { "kind": "SEND", "templateId": reminder },
    ]);
    let data = app
        .ok(
            &staff,
            CREATE_JOURNEY,
            json!({ "i": { "name": "Onboarding", "trigger": trigger, "steps": steps } }),
        )
        .await;
    let journey = data["createJourney"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &staff,
        ACTIVATE_JOURNEY,
        json!({ "i": { "journeyId": journey } }),
    )
    .await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let ana_email = format!("ana@onb-{run}.example");
    let rui_email = format!("rui@onb-{run}.example");
    let eva_email = format!("eva@onb-{run}.example");
    let ana = subscribed(&app, &staff, &ana_email, "Ana", "PT").await;
    let rui = subscribed(&app, &staff, &rui_email, "Rui", "PT").await;
    for contact in [&ana, &rui] {
        let track = json!({ "i": { "contactId": contact, "event": "signed.up" } });
        assert_eq!(
            app.ok(&staff, TRACK_EVENT, track).await["trackContactEvent"],
            1
        );
    }
    let mut sender = test_sender("embedded-journey");
    sender.batch = 50;
    let now = chrono::Utc::now().timestamp_millis();
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((first.journeys.queued, first.sent), (2, 2), "{first:?}");
    let open = sink.to(&ana_email)[0]
        .link(&app.url("/marketing/t/open/"))
        .expect("a pixel");
    assert_eq!(
        app.http.get(&open).send().await.unwrap().status().as_u16(),
        200
    );

    // The steps are edited while Ana and Rui wait: version 2 for new contacts; they keep 1.
    let data = app
        .ok(
            &staff,
            UPDATE_JOURNEY,
            json!({ "i": { "journeyId": journey, "steps": [
                { "kind": "SEND", "templateId": welcome2 },
                { "kind": "WAIT", "waitMinutes": 60 },
                { "kind": "SEND", "templateId": follow_up2 },
            ] } }),
        )
        .await;
    assert_eq!(data["updateJourney"]["stepsVersion"], 2);
    let eva = subscribed(&app, &staff, &eva_email, "Eva", "PT").await;
    app.ok(
        &staff,
        TRACK_EVENT,
        json!({ "i": { "contactId": eva, "event": "signed.up" } }),
    )
    .await;
    // Eva's enrolment is due from when it happened (the wall clock).
    let now = chrono::Utc::now().timestamp_millis();
    let second = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!((second.journeys.queued, second.sent), (1, 1), "{second:?}");

    // After the wait: Ana took the yes branch (the follow-up, then the exit step), Rui the no
    // branch (the reminder, the end), Eva version 2's follow-up.
    let after = app
        .marketing
        .send_pass_at(&sender, now + 61 * 60_000)
        .await
        .unwrap();
    assert_eq!(
        (after.journeys.queued, after.journeys.finished, after.sent),
        (3, 3, 3),
        "{after:?}"
    );
    assert_eq!(
        subjects(&sink, &ana_email),
        ["Variant W for Ana", "Variant F for Ana"]
    );
    assert_eq!(
        subjects(&sink, &rui_email),
        ["Variant W for Rui", "Variant R for Rui"]
    );
    assert_eq!(
        subjects(&sink, &eva_email),
        ["Variant W2 for Eva", "Variant F2 for Eva"]
    );
    let (journey_data, by_contact) = versions_of(&app, &staff, &journey).await;
    assert_eq!(
        by_contact,
        BTreeMap::from([
            (ana, (1, "EXITED".into(), json!("EXIT_STEP"))),
            (rui, (1, "COMPLETED".into(), Value::Null)),
            (eva, (2, "COMPLETED".into(), Value::Null)),
        ])
    );
    assert_eq!(
        journey_data["versions"],
        json!([
            { "version": 1, "steps": [{ "kind": "SEND" }, { "kind": "WAIT" }, { "kind": "CONDITION" },
                                      { "kind": "SEND" }, { "kind": "EXIT" }, { "kind": "SEND" }] },
            { "version": 2, "steps": [{ "kind": "SEND" }, { "kind": "WAIT" }, { "kind": "SEND" }] },
        ])
    );
    assert_eq!(
        journey_data["counts"],
        json!({ "active": 0, "completed": 2, "exited": 1 })
    );
}

#[tokio::test]
async fn journey_enrolments_page_past_500_and_an_edit_can_move_running_contacts() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let first_template = variant_template(&app, &staff, "A").await;
    let second_template = variant_template(&app, &staff, "B").await;

    // 510 contacts join a segment whose journey enrols them (20 creations a request).
    let portugal = segment(
        &app,
        &staff,
        "Portugal",
        "DYNAMIC",
        json!({ "field": { "field": "COUNTRY", "operator": "EQUALS", "value": "PT" } }),
    )
    .await;
    let data = app
        .ok(
            &staff,
            CREATE_JOURNEY,
            json!({ "i": { "name": "Big", "trigger": { "kind": "SEGMENT_JOINED", "segmentId": portugal },
                           "steps": [{ "kind": "WAIT", "waitMinutes": 60 }] } }),
        )
        .await;
    let big = data["createJourney"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &staff,
        ACTIVATE_JOURNEY,
        json!({ "i": { "journeyId": big } }),
    )
    .await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let total = 510;
    let mut created = BTreeSet::new();
    for chunk in (0..total).collect::<Vec<_>>().chunks(20) {
        let fields: Vec<String> = chunk
            .iter()
            .map(|n| {
                format!(
                    "c{n}: createMarketingContact(input: {{ email: \"big{n}@big-{run}.example\", country: \"PT\" }}) {{ id }}"
                )
            })
            .collect();
        let data = app
            .ok(
                &staff,
                &format!("mutation {{ {} }}", fields.join(" ")),
                json!({}),
            )
            .await;
        for n in chunk {
            created.insert(data[format!("c{n}")]["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(created.len(), total);
    let page_query = "query($id: ID!, $after: String) { journey(id: $id) { counts { active } enrollmentConnection(first: 100, after: $after) { nodes { contactId status step version } pageInfo { hasNextPage endCursor } } } }";
    let mut seen = BTreeSet::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let data = app
            .ok(&staff, page_query, json!({ "id": big, "after": after }))
            .await;
        assert_eq!(data["journey"]["counts"]["active"], total);
        let connection = &data["journey"]["enrollmentConnection"];
        for node in connection["nodes"].as_array().unwrap() {
            assert_eq!(
                (&node["status"], &node["step"], &node["version"]),
                (&json!("ACTIVE"), &json!(0), &json!(1))
            );
            assert!(seen.insert(node["contactId"].as_str().unwrap().to_owned()));
        }
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 6);
    assert_eq!(seen, created, "every enrolment once, none missing");
    let active_only = app
        .ok(
            &staff,
            "query($id: ID!) { journey(id: $id) { enrollmentConnection(first: 5, status: COMPLETED) { nodes { contactId } } } }",
            json!({ "id": big }),
        )
        .await;
    assert_eq!(
        active_only["journey"]["enrollmentConnection"]["nodes"],
        json!([])
    );

    // A journey edited with MOVE_AT_SAME_STEP: the waiting contacts go on on version 2.
    let data = app
        .ok(
            &staff,
            CREATE_JOURNEY,
            json!({ "i": { "name": "Moved", "trigger": { "kind": "EVENT", "event": "moved" },
                           "steps": [{ "kind": "WAIT", "waitMinutes": 60 },
                                     { "kind": "SEND", "templateId": first_template }] } }),
        )
        .await;
    let moved = data["createJourney"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &staff,
        ACTIVATE_JOURNEY,
        json!({ "i": { "journeyId": moved } }),
    )
    .await;
    let ida_email = format!("ida@moved-{run}.example");
    let ida = subscribed(&app, &staff, &ida_email, "Ida", "NL").await;
    app.ok(
        &staff,
        TRACK_EVENT,
        json!({ "i": { "contactId": ida, "event": "moved" } }),
    )
    .await;
    let mut sender = test_sender("moved");
    sender.batch = 1_000;
    let now = chrono::Utc::now().timestamp_millis();
    // The wait starts (the big journey's 510 waits too).
    let first = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!(
        (first.journeys.steps, first.sent),
        (total + 1, 0),
        "{first:?}"
    );
    // A bad branch in an edit is refused and changes nothing.
    assert_eq!(
        app.refused(
            &staff,
            UPDATE_JOURNEY,
            json!({ "i": { "journeyId": moved, "steps": [
                { "kind": "SEND", "templateId": second_template, "nextIfTrue": 1 }] } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "JOURNEY_INVALID".into())
    );
    let data = app
        .ok(
            &staff,
            UPDATE_JOURNEY,
            json!({ "i": { "journeyId": moved, "enrollments": "MOVE_AT_SAME_STEP", "steps": [
                { "kind": "WAIT", "waitMinutes": 60 },
                { "kind": "SEND", "templateId": second_template }] } }),
        )
        .await;
    assert_eq!(data["updateJourney"]["stepsVersion"], 2);
    let later = app
        .marketing
        .send_pass_at(&sender, now + 61 * 60_000)
        .await
        .unwrap();
    assert_eq!(later.sent, 1, "{later:?}");
    assert_eq!(subjects(&sink, &ida_email), ["Variant B for Ida"]);
    let (_, by_contact) = versions_of(&app, &staff, &moved).await;
    assert_eq!(
        by_contact[&ida],
        (2, "COMPLETED".into(), Value::Null),
        "moved to version 2 at its step"
    );

    // An archived journey is not edited.
    app.ok(
        &staff,
        ARCHIVE_JOURNEY,
        json!({ "i": { "journeyId": moved } }),
    )
    .await;
    assert_eq!(
        app.refused(
            &staff,
            UPDATE_JOURNEY,
            json!({ "i": { "journeyId": moved, "name": "Renamed" } })
        )
        .await,
        ("CONFLICT".into(), "JOURNEY_NOT_EDITABLE".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Social posts: channel accounts, posts scheduled and handed to the channel adapter (the
// recording one: no network) exactly once by the publisher, UTM attribution.

const CREATE_ACCOUNT: &str = "mutation($i: CreateSocialChannelAccountInput!) { createSocialChannelAccount(input: $i) { id kind handle maxBodyLength } }";
const CREATE_POST: &str = "mutation($i: CreateSocialPostInput!) { createSocialPost(input: $i) { id status body link version } }";
const UPDATE_POST: &str =
    "mutation($i: UpdateSocialPostInput!) { updateSocialPost(input: $i) { id body link campaignId version } }";
const SCHEDULE_POST: &str = "mutation($i: ScheduleSocialPostInput!) { scheduleSocialPost(input: $i) { id status scheduledAt } }";
const UNSCHEDULE_POST: &str =
    "mutation($i: UnscheduleSocialPostInput!) { unscheduleSocialPost(input: $i) { id status scheduledAt } }";
const RETRY_POST: &str =
    "mutation($i: RetrySocialPostInput!) { retrySocialPost(input: $i) { id status failureReason } }";
const POST: &str = "query($id: ID!) { socialPost(id: $id) { id status body link utmLink trackedLink campaignId attempts externalId failureReason clicks leads conversions account { id kind handle } } }";

async fn channel_account(app: &MarketingApp, token: &str, kind: &str, handle: &str) -> String {
    let data = app
        .ok(
            token,
            CREATE_ACCOUNT,
            json!({ "i": { "kind": kind, "handle": handle } }),
        )
        .await;
    assert_eq!(data["createSocialChannelAccount"]["handle"], handle);
    data["createSocialChannelAccount"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn social_post(app: &MarketingApp, token: &str, input: Value) -> String {
    let data = app.ok(token, CREATE_POST, json!({ "i": input })).await;
    assert_eq!(data["createSocialPost"]["status"], "DRAFT");
    data["createSocialPost"]["id"].as_str().unwrap().to_owned()
}

async fn post_of(app: &MarketingApp, token: &str, id: &str) -> Value {
    app.ok(token, POST, json!({ "id": id })).await["socialPost"].clone()
}

/// An RFC 3339 time `offset_ms` from now.
fn from_now(offset_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis() + offset_ms)
        .unwrap()
        .to_rfc3339()
}

const HOUR_MS: i64 = 3_600_000;

#[tokio::test]
async fn social_posts_are_published_once_with_utm_links_and_every_bad_input_is_named() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let writer = issuer.token(
        &tenant,
        "usr_writer",
        &["marketing:read", "marketing:write"],
    );
    let reader = issuer.token(&tenant, "usr_reader", &["marketing:read"]);

    // Channel accounts: managed with marketing:write, one per (network, handle).
    let (code, _) = app
        .refused(
            &reader,
            CREATE_ACCOUNT,
            json!({ "i": { "kind": "X", "handle": "@erp_os" } }),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    let x = channel_account(&app, &writer, "X", "@erp_os").await;
    let linkedin = channel_account(&app, &writer, "LINKEDIN", "company/erp-os").await;
    let mastodon = channel_account(&app, &writer, "MASTODON", "@news@social.example").await;
    assert_eq!(
        app.refused(
            &writer,
            CREATE_ACCOUNT,
            json!({ "i": { "kind": "X", "handle": "@erp_os" } })
        )
        .await,
        ("CONFLICT".into(), "ALREADY_EXISTS".into())
    );
    assert_eq!(
        app.refused(
            &writer,
            CREATE_ACCOUNT,
            json!({ "i": { "kind": "X", "handle": "erp os" } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "CHANNEL_ACCOUNT_INVALID".into())
    );
    let data = app
        .ok(
            &reader,
            "{ socialChannelAccounts(first: 10) { nodes { kind handle maxBodyLength } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["socialChannelAccounts"]["nodes"],
        json!([
            { "kind": "X", "handle": "@erp_os", "maxBodyLength": 280 },
            { "kind": "LINKEDIN", "handle": "company/erp-os", "maxBodyLength": 3000 },
            { "kind": "MASTODON", "handle": "@news@social.example", "maxBodyLength": 500 },
        ])
    );

    // The campaign the posts belong to (their utm_campaign).
    subscribed(&app, &staff, &address("fan"), "Fan", "PT").await;
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "status": "SUBSCRIBED" }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let spring = campaign(&app, &staff, &template, &everyone).await;

    // Bad bodies and links, each with its reason; nothing is written.
    let bad = |input: Value| {
        let app = &app;
        let writer = &writer;
        async move {
            app.refused(writer, CREATE_POST, json!({ "i": input }))
                .await
        }
    };
    assert_eq!(
        bad(json!({ "accountId": x, "body": "   " })).await,
        ("BAD_USER_INPUT".into(), "SOCIAL_POST_BODY_EMPTY".into())
    );
    let long = "a".repeat(281);
    assert_eq!(
        bad(json!({ "accountId": x, "body": long })).await,
        ("BAD_USER_INPUT".into(), "SOCIAL_POST_BODY_TOO_LONG".into())
    );
    assert_eq!(
        bad(json!({ "accountId": x, "body": "Spring", "link": "shop.example.com/spring" })).await,
        ("BAD_USER_INPUT".into(), "SOCIAL_POST_LINK_INVALID".into())
    );
    assert_eq!(
        bad(json!({ "accountId": x, "body": "Spring", "campaignId": "nope" }))
            .await
            .0,
        "BAD_USER_INPUT"
    );
    let data = app
        .ok(
            &reader,
            "{ socialPosts(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["socialPosts"]["nodes"], json!([]));

    // The same 281 characters fit LinkedIn.
    let on_x = social_post(
        &app,
        &writer,
        json!({ "accountId": x, "body": "Spring is here", "campaignId": spring,
                "link": "https://shop.example.com/spring?ref=home&utm_source=old" }),
    )
    .await;
    let on_linkedin = social_post(
        &app,
        &writer,
        json!({ "accountId": linkedin, "body": long }),
    )
    .await;

    // Scheduling needs marketing:send and a time still to come.
    let (code, _) = app
        .refused(
            &writer,
            SCHEDULE_POST,
            json!({ "i": { "postId": on_x, "at": from_now(HOUR_MS) } }),
        )
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    assert_eq!(
        app.refused(
            &staff,
            SCHEDULE_POST,
            json!({ "i": { "postId": on_x, "at": from_now(-HOUR_MS) } })
        )
        .await,
        (
            "BAD_USER_INPUT".into(),
            "SOCIAL_POST_SCHEDULE_IN_PAST".into()
        )
    );
    assert_eq!(
        app.refused(&staff, RETRY_POST, json!({ "i": { "postId": on_x } }))
            .await,
        (
            "CONFLICT".into(),
            "SOCIAL_POST_TRANSITION_NOT_ALLOWED".into()
        )
    );
    for post in [&on_x, &on_linkedin] {
        let data = app
            .ok(
                &staff,
                SCHEDULE_POST,
                json!({ "i": { "postId": post, "at": from_now(HOUR_MS) } }),
            )
            .await;
        assert_eq!(data["scheduleSocialPost"]["status"], "SCHEDULED");
    }
    // A scheduled post is still edited (the publisher sends the latest text).
    let data = app
        .ok(
            &writer,
            UPDATE_POST,
            json!({ "i": { "postId": on_x, "body": "Spring is here!" } }),
        )
        .await;
    assert_eq!(data["updateSocialPost"]["body"], "Spring is here!");
    assert_eq!(data["updateSocialPost"]["campaignId"], spring.as_str());

    // Before the schedule nothing goes out; after it each post goes out once.
    let publisher = erp_tests::marketing::test_publisher("social");
    let now = chrono::Utc::now().timestamp_millis();
    let report = app
        .marketing
        .publish_pass_at(&publisher, now)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    assert!(app.channels.recorded_for(&on_x).is_empty());
    let due = now + 2 * HOUR_MS;
    let report = app
        .marketing
        .publish_pass_at(&publisher, due)
        .await
        .unwrap();
    assert_eq!(report.published, 2);
    let again = app
        .marketing
        .publish_pass_at(&publisher, due + HOUR_MS)
        .await
        .unwrap();
    assert_eq!(again, Default::default());

    let post = post_of(&app, &reader, &on_x).await;
    let utm = format!(
        "https://shop.example.com/spring?ref=home&utm_source=x&utm_medium=social&utm_campaign={spring}&utm_content={on_x}"
    );
    assert_eq!(post["status"], "PUBLISHED");
    assert_eq!(post["attempts"], 1);
    assert_eq!(post["externalId"], format!("recorded:{on_x}:1"));
    assert_eq!(post["utmLink"], utm.as_str());
    assert_eq!(post["account"]["kind"], "X");
    let tracked = post["trackedLink"].as_str().unwrap().to_owned();
    assert!(tracked.starts_with(&app.url("/marketing/s/")), "{tracked}");
    let recorded = app.channels.recorded_for(&on_x);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].channel, "x");
    assert_eq!(recorded[0].handle, "@erp_os");
    assert_eq!(recorded[0].body, "Spring is here!");
    assert_eq!(recorded[0].link.as_deref(), Some(tracked.as_str()));
    assert_eq!(recorded[0].idempotency_key, format!("{on_x}:1"));
    let recorded = app.channels.recorded_for(&on_linkedin);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].link, None);
    assert_eq!(
        post_of(&app, &reader, &on_linkedin).await["utmLink"],
        Value::Null
    );

    // A published post is what the network has: not edited, not scheduled, not retried.
    assert_eq!(
        app.refused(
            &writer,
            UPDATE_POST,
            json!({ "i": { "postId": on_x, "body": "Changed" } })
        )
        .await,
        ("CONFLICT".into(), "SOCIAL_POST_NOT_EDITABLE".into())
    );
    assert_eq!(
        app.refused(
            &staff,
            SCHEDULE_POST,
            json!({ "i": { "postId": on_x, "at": from_now(HOUR_MS) } })
        )
        .await,
        (
            "CONFLICT".into(),
            "SOCIAL_POST_TRANSITION_NOT_ALLOWED".into()
        )
    );

    // Clicks on the tracked link are counted and land on the link with its UTM parameters.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..2 {
        let response = no_redirect.get(&tracked).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            utm.as_str()
        );
    }
    let response = no_redirect
        .get(app.url("/marketing/s/sp_unknown"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(post_of(&app, &reader, &on_x).await["clicks"], 2);

    // A channel that refuses: failed with its reason, sent again only by an explicit retry.
    app.channels.refuse(
        "@news@social.example",
        "the network is rate limiting the account",
    );
    let refused = social_post(
        &app,
        &writer,
        json!({ "accountId": mastodon, "body": "Toot", "link": "https://shop.example.com/" }),
    )
    .await;
    app.ok(
        &staff,
        SCHEDULE_POST,
        json!({ "i": { "postId": refused, "at": from_now(HOUR_MS) } }),
    )
    .await;
    let report = app
        .marketing
        .publish_pass_at(&publisher, due)
        .await
        .unwrap();
    assert_eq!((report.published, report.failed), (0, 1));
    let post = post_of(&app, &reader, &refused).await;
    assert_eq!(post["status"], "FAILED");
    assert_eq!(
        post["failureReason"],
        "the network is rate limiting the account"
    );
    let report = app
        .marketing
        .publish_pass_at(&publisher, due + HOUR_MS)
        .await
        .unwrap();
    assert_eq!(
        report,
        Default::default(),
        "a failed post waits for a retry"
    );
    // A failed post may be corrected before its retry.
    app.ok(
        &writer,
        UPDATE_POST,
        json!({ "i": { "postId": refused, "link": null } }),
    )
    .await;
    app.channels.accept("@news@social.example");
    let data = app
        .ok(&staff, RETRY_POST, json!({ "i": { "postId": refused } }))
        .await;
    assert_eq!(
        data["retrySocialPost"],
        json!({ "id": refused, "status": "SCHEDULED", "failureReason": null })
    );
    let report = app
        .marketing
        .publish_pass_at(&publisher, due + HOUR_MS)
        .await
        .unwrap();
    assert_eq!(report.published, 1);
    let post = post_of(&app, &reader, &refused).await;
    assert_eq!(post["status"], "PUBLISHED");
    assert_eq!(post["attempts"], 2);
    assert_eq!(post["externalId"], format!("recorded:{refused}:2"));
    let keys: Vec<String> = app
        .channels
        .recorded_for(&refused)
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys, vec![format!("{refused}:1"), format!("{refused}:2")]);

    // Unscheduling takes a post back to draft; it does not go out.
    let later = social_post(&app, &writer, json!({ "accountId": x, "body": "Later" })).await;
    app.ok(
        &staff,
        SCHEDULE_POST,
        json!({ "i": { "postId": later, "at": from_now(HOUR_MS) } }),
    )
    .await;
    let data = app
        .ok(&staff, UNSCHEDULE_POST, json!({ "i": { "postId": later } }))
        .await;
    assert_eq!(
        data["unscheduleSocialPost"],
        json!({ "id": later, "status": "DRAFT", "scheduledAt": null })
    );
    let report = app
        .marketing
        .publish_pass_at(&publisher, due + 2 * HOUR_MS)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    assert!(app.channels.recorded_for(&later).is_empty());

    // The posts as a Relay connection, filtered by status.
    let data = app
        .ok(
            &reader,
            "{ socialPosts(status: PUBLISHED, first: 2) { nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["socialPosts"]["nodes"],
        json!([{ "id": on_x }, { "id": on_linkedin }])
    );
    assert_eq!(data["socialPosts"]["pageInfo"]["hasNextPage"], true);
    // Another tenant sees none of it.
    let other = issuer.token(&new_tenant(), "usr_other", ALL);
    assert_eq!(
        app.ok(&other, POST, json!({ "id": on_x })).await["socialPost"],
        Value::Null
    );
}

#[tokio::test]
async fn a_publisher_killed_mid_hand_off_never_publishes_twice_and_concurrent_ones_share_the_posts()
{
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let slow = channel_account(&app, &staff, "FACEBOOK", "erp.os.slow").await;
    app.channels.hang("erp.os.slow");
    let post = social_post(&app, &staff, json!({ "accountId": slow, "body": "Hello" })).await;
    app.ok(
        &staff,
        SCHEDULE_POST,
        json!({ "i": { "postId": post, "at": from_now(HOUR_MS) } }),
    )
    .await;
    let due = chrono::Utc::now().timestamp_millis() + 2 * HOUR_MS;
    let publisher = erp_tests::marketing::test_publisher("crashing");
    let lease_ms = publisher.lease.as_millis() as i64;

    // The publisher hands the post off, the channel never answers, the publisher dies.
    let marketing = app.marketing.clone();
    let crashing = tokio::spawn(async move { marketing.publish_pass_at(&publisher, due).await });
    eventually(Duration::from_secs(30), || async {
        (app.channels.recorded_for(&post).len() == 1).then_some(())
    })
    .await
    .expect("the post was handed to the channel");
    crashing.abort();
    assert!(crashing.await.unwrap_err().is_cancelled());
    app.channels.accept("erp.os.slow");
    assert_eq!(post_of(&app, &staff, &post).await["status"], "PUBLISHING");

    // While the hand-off's lease runs another publisher leaves it alone; once it expired the
    // post is failed as in doubt, never handed off again on its own.
    let other = erp_tests::marketing::test_publisher("other");
    let report = app
        .marketing
        .publish_pass_at(&other, due + lease_ms / 2)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    let report = app
        .marketing
        .publish_pass_at(&other, due + lease_ms + 1)
        .await
        .unwrap();
    assert_eq!(report.in_doubt, 1);
    assert_eq!(report.published, 0);
    let state = post_of(&app, &staff, &post).await;
    assert_eq!(state["status"], "FAILED");
    assert_eq!(state["failureReason"], "publish_outcome_unknown");
    assert_eq!(state["attempts"], 1);
    for later in 2..4 {
        app.marketing
            .publish_pass_at(&other, due + later * lease_ms)
            .await
            .unwrap();
    }
    assert_eq!(app.channels.recorded_for(&post).len(), 1);

    // A person checked the channel and retries: a new attempt, published once.
    app.ok(&staff, RETRY_POST, json!({ "i": { "postId": post } }))
        .await;
    let report = app
        .marketing
        .publish_pass_at(&other, due + 4 * lease_ms)
        .await
        .unwrap();
    assert_eq!(report.published, 1);
    let state = post_of(&app, &staff, &post).await;
    assert_eq!(state["status"], "PUBLISHED");
    assert_eq!(state["externalId"], format!("recorded:{post}:2"));
    assert_eq!(app.channels.recorded_for(&post).len(), 2);

    // Two publishers at once over twelve due posts: each post goes out exactly once.
    let busy = channel_account(&app, &staff, "INSTAGRAM", "erp.os").await;
    let mut posts = Vec::new();
    for n in 0..12 {
        let id = social_post(
            &app,
            &staff,
            json!({ "accountId": busy, "body": format!("Post {n}") }),
        )
        .await;
        app.ok(
            &staff,
            SCHEDULE_POST,
            json!({ "i": { "postId": id, "at": from_now(HOUR_MS) } }),
        )
        .await;
        posts.push(id);
    }
    let (first, second) = (
        erp_tests::marketing::test_publisher("first"),
        erp_tests::marketing::test_publisher("second"),
    );
    let at = due + 5 * lease_ms;
    let mut published = 0;
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            app.marketing.publish_pass_at(&first, at),
            app.marketing.publish_pass_at(&second, at)
        );
        published += a.unwrap().published + b.unwrap().published;
    }
    assert_eq!(published, 12);
    for id in &posts {
        assert_eq!(app.channels.recorded_for(id).len(), 1, "{id}");
        assert_eq!(post_of(&app, &staff, id).await["status"], "PUBLISHED");
    }
}

#[tokio::test]
async fn a_crm_lead_a_social_post_brought_counts_on_the_post_through_kafka() {
    let issuer = TestIssuer::start().await;
    let tenant = new_tenant();
    let app = MarketingApp::spawn_consuming(&issuer, &[tenant.as_str()]).await;
    let crm = erp_tests::crm::CrmApp::spawn_consuming(&issuer, &[tenant.as_str()]).await;
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let sales = issuer.token(&tenant, "usr_sales", erp_tests::crm::CRM_ADMIN);
    subscribed(&app, &staff, &address("fan"), "Fan", "PT").await;
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "status": "SUBSCRIBED" }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    let spring = campaign(&app, &staff, &template, &everyone).await;
    let account = channel_account(&app, &staff, "LINKEDIN", "company/erp-os").await;
    let post = social_post(
        &app,
        &staff,
        json!({ "accountId": account, "body": "Spring", "campaignId": spring,
                "link": "https://shop.example.com/spring" }),
    )
    .await;
    let data = crm
        .ok(
            &sales,
            "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id } }",
            json!({ "i": { "name": "Sales", "opportunityType": "new business",
                           "stages": [{ "name": "Lead", "probability": 10 }, { "name": "Won soon", "probability": 90 }] } }),
        )
        .await;
    let pipeline = data["createPipeline"]["id"].as_str().unwrap().to_owned();

    // A lead that came through the post's link (its UTM parameters), converted; and one that
    // came by the campaign's e-mail (no utm_content), not converted.
    let data = crm
        .ok(
            &sales,
            "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
            json!({ "i": { "personName": "Social", "companyName": "Social Ltd", "source": "CAMPAIGN",
                           "utm": { "source": "linkedin", "medium": "social", "campaign": spring, "content": post } } }),
        )
        .await;
    let lead = data["createLead"]["lead"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for status in ["CONTACTED", "QUALIFIED"] {
        crm.ok(
            &sales,
            "mutation($i: ChangeLeadStatusInput!) { changeLeadStatus(input: $i) { id } }",
            json!({ "i": { "leadId": lead, "status": status } }),
        )
        .await;
    }
    crm.ok(
        &sales,
        "mutation($i: ConvertLeadInput!) { convertLead(input: $i) { lead { status } } }",
        json!({ "i": { "leadId": lead, "pipelineId": pipeline, "amount": { "amount": "5000", "currency": "EUR" } } }),
    )
    .await;
    crm.ok(
        &sales,
        "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
        json!({ "i": { "personName": "Mail", "companyName": "Mail Ltd", "source": "CAMPAIGN",
                       "utm": { "source": "newsletter", "medium": "email", "campaign": spring } } }),
    )
    .await;

    // Three lead events handled (two created, one converted).
    use sea_orm::{ConnectionTrait, Statement};
    let handled = || async {
        let db = &app.runtime.db;
        let row = db
            .query_one(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM marketing_inbox WHERE tenant_id = $1",
                [tenant.clone().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    eventually(Duration::from_secs(60), || async {
        (handled().await == 3).then_some(())
    })
    .await
    .expect("marketing handled the three lead events");
    let state = post_of(&app, &staff, &post).await;
    assert_eq!(
        (state["leads"].clone(), state["conversions"].clone()),
        (json!(1), json!(1))
    );
    // The campaign counts both leads (their utm_campaign), one converted.
    let data = app
        .ok(
            &staff,
            "query($id: ID!) { campaign(id: $id) { funnel { converted } } }",
            json!({ "id": spring }),
        )
        .await;
    assert_eq!(data["campaign"]["funnel"]["converted"], 1);
}

#[tokio::test]
async fn the_embedded_mode_publishes_a_scheduled_social_post_with_its_own_publisher() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, Backends::Embedded, None).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let account = channel_account(&app, &staff, "X", "@erp_os").await;
    let post = social_post(
        &app,
        &staff,
        json!({ "accountId": account, "body": "Hello from the embedded mode",
                "link": "https://shop.example.com/" }),
    )
    .await;
    assert_eq!(
        app.refused(
            &staff,
            SCHEDULE_POST,
            json!({ "i": { "postId": post, "at": from_now(-1_000) } })
        )
        .await,
        (
            "BAD_USER_INPUT".into(),
            "SOCIAL_POST_SCHEDULE_IN_PAST".into()
        )
    );
    app.ok(
        &staff,
        SCHEDULE_POST,
        json!({ "i": { "postId": post, "at": from_now(1_500) } }),
    )
    .await;
    let _publisher = app
        .marketing
        .spawn_publisher(erp_tests::marketing::test_publisher("embedded"));
    let state = eventually(Duration::from_secs(60), || async {
        let state = post_of(&app, &staff, &post).await;
        (state["status"] == "PUBLISHED").then_some(state)
    })
    .await
    .expect("the publisher published the post once due");
    assert_eq!(state["externalId"], format!("recorded:{post}:1"));
    assert_eq!(
        state["utmLink"],
        format!("https://shop.example.com/?utm_source=x&utm_medium=social&utm_content={post}")
    );
    let recorded = app.channels.recorded_for(&post);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body, "Hello from the embedded mode");
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirect
        .get(state["trackedLink"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(post_of(&app, &staff, &post).await["clicks"], 1);
    assert_eq!(
        app.refused(
            &staff,
            UPDATE_POST,
            json!({ "i": { "postId": post, "body": "Changed" } })
        )
        .await,
        ("CONFLICT".into(), "SOCIAL_POST_NOT_EDITABLE".into())
    );
}

#[tokio::test]
async fn leasing_due_posts_is_one_statement_whatever_the_batch() {
    let issuer = TestIssuer::start().await;
    let statements = erp_tests::StatementLog::default();
    let runtime =
        erp_tests::runtime_with_db(&issuer, Backends::Real, |db| statements.record(db)).await;
    let app = MarketingApp::serve(runtime).await;
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let account = channel_account(&app, &staff, "X", "@erp_os").await;
    let mut posts = BTreeSet::new();
    for n in 0..7 {
        let id = social_post(
            &app,
            &staff,
            json!({ "accountId": account, "body": format!("Post {n}") }),
        )
        .await;
        app.ok(
            &staff,
            SCHEDULE_POST,
            json!({ "i": { "postId": id, "at": from_now(HOUR_MS) } }),
        )
        .await;
        posts.insert(id);
    }
    let due = chrono::Utc::now().timestamp_millis() + 2 * HOUR_MS;
    statements.take();
    let leased = erp_marketing::store::social::lease_due(
        &app.runtime.db,
        "lease-test",
        due,
        due + 60_000,
        50,
    )
    .await
    .unwrap();
    // (The outbox relay polls on the same connection: only the posts' statements count.)
    let on_posts: Vec<String> = statements
        .take()
        .into_iter()
        .map(|(sql, _)| sql)
        .filter(|sql| sql.contains("mkt_social_posts"))
        .collect();
    assert_eq!(
        on_posts.len(),
        1,
        "the keys are chosen, leased and read back in one statement: {on_posts:?}"
    );
    assert_eq!(
        leased.iter().map(|p| p.id.clone()).collect::<BTreeSet<_>>(),
        posts
    );
    assert!(leased.iter().all(
        |p| p.leased_by.as_deref() == Some("lease-test") && p.lease_until == Some(due + 60_000)
    ));
    // Leased, they are no one else's until the lease expires.
    let again =
        erp_marketing::store::social::lease_due(&app.runtime.db, "other", due, due + 60_000, 50)
            .await
            .unwrap();
    assert!(again.is_empty());
    let expired = erp_marketing::store::social::lease_due(
        &app.runtime.db,
        "other",
        due + 60_001,
        due + 120_000,
        3,
    )
    .await
    .unwrap();
    assert_eq!(expired.len(), 3);
}

const DISABLE_ACCOUNT: &str = "mutation($i: DisableSocialChannelAccountInput!) { disableSocialChannelAccount(input: $i) { unscheduledPosts account { id disabledBy disabledReason disabledAt } } }";
const ENABLE_ACCOUNT: &str = "mutation($i: EnableSocialChannelAccountInput!) { enableSocialChannelAccount(input: $i) { id disabledAt disabledBy disabledReason } }";

/// Disabling a channel account (the network revoked its access): in one transaction its
/// scheduled posts go back to draft, so the publisher sends nothing on it, and none of its
/// posts is scheduled or retried (CONFLICT / CHANNEL_ACCOUNT_DISABLED) until it is enabled;
/// drafts are still written and edited; another account's posts go out as planned; disabling
/// twice keeps the first reason; bad input, a reader and other tenants are refused with their
/// codes and change nothing.
async fn a_disabled_channel_account_publishes_nothing_until_enabled(
    app: MarketingApp,
    issuer: &TestIssuer,
) {
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let writer = issuer.token(
        &tenant,
        "usr_writer",
        &["marketing:read", "marketing:write"],
    );
    let reader = issuer.token(&tenant, "usr_reader", &["marketing:read"]);
    let x = channel_account(&app, &writer, "X", "@brand").await;
    let linkedin = channel_account(&app, &writer, "LINKEDIN", "company/brand").await;
    let schedule = |post: &str| json!({ "i": { "postId": post, "at": from_now(HOUR_MS) } });
    let publisher = erp_tests::marketing::test_publisher("disabled");
    let due = chrono::Utc::now().timestamp_millis() + 2 * HOUR_MS;

    // A post X refused (failed: to be retried later).
    let refused = social_post(&app, &writer, json!({ "accountId": x, "body": "Refused" })).await;
    app.ok(&staff, SCHEDULE_POST, schedule(&refused)).await;
    app.channels.refuse("@brand", "rate limited");
    let report = app
        .marketing
        .publish_pass_at(&publisher, due)
        .await
        .unwrap();
    assert_eq!(report.failed, 1);
    app.channels.accept("@brand");

    // Two scheduled posts and a draft on X, one scheduled on LinkedIn.
    let first = social_post(&app, &writer, json!({ "accountId": x, "body": "One" })).await;
    let second = social_post(&app, &writer, json!({ "accountId": x, "body": "Two" })).await;
    let draft = social_post(&app, &writer, json!({ "accountId": x, "body": "Draft" })).await;
    let elsewhere = social_post(
        &app,
        &writer,
        json!({ "accountId": linkedin, "body": "Other" }),
    )
    .await;
    for post in [&first, &second, &elsewhere] {
        app.ok(&staff, SCHEDULE_POST, schedule(post)).await;
    }

    // Refused, nothing changes: a reader, a reason empty or too long, an unknown account,
    // another tenant's caller.
    let disable =
        |account: &str, reason: &str| json!({ "i": { "accountId": account, "reason": reason } });
    let (code, _) = app
        .refused(&reader, DISABLE_ACCOUNT, disable(&x, "Revoked"))
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    for reason in ["   ".to_owned(), "r".repeat(501)] {
        assert_eq!(
            app.refused(&writer, DISABLE_ACCOUNT, disable(&x, &reason))
                .await
                .0,
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(
        app.refused(
            &writer,
            DISABLE_ACCOUNT,
            disable("no-such-account", "Revoked")
        )
        .await
        .0,
        "NOT_FOUND"
    );
    let stranger = issuer.token(&new_tenant(), "usr_stranger", ALL);
    assert_eq!(
        app.refused(&stranger, DISABLE_ACCOUNT, disable(&x, "Revoked"))
            .await
            .0,
        "NOT_FOUND"
    );
    assert_eq!(
        app.refused(
            &stranger,
            ENABLE_ACCOUNT,
            json!({ "i": { "accountId": x } })
        )
        .await
        .0,
        "NOT_FOUND"
    );
    for post in [&first, &second, &elsewhere] {
        assert_eq!(post_of(&app, &reader, post).await["status"], "SCHEDULED");
    }

    // Disabled: X's two scheduled posts are drafts again; LinkedIn's stays scheduled.
    let data = app
        .ok(
            &writer,
            DISABLE_ACCOUNT,
            disable(&x, "  Access revoked by X  "),
        )
        .await["disableSocialChannelAccount"]
        .clone();
    assert_eq!(data["unscheduledPosts"], 2);
    assert_eq!(data["account"]["id"], x.as_str());
    assert_eq!(data["account"]["disabledBy"], "usr_writer");
    assert_eq!(data["account"]["disabledReason"], "Access revoked by X");
    assert!(data["account"]["disabledAt"].is_string(), "{data}");
    for post in [&first, &second, &draft] {
        let state = post_of(&app, &reader, post).await;
        assert_eq!(state["status"], "DRAFT", "{state}");
    }
    assert_eq!(post_of(&app, &reader, &refused).await["status"], "FAILED");
    assert_eq!(
        post_of(&app, &reader, &elsewhere).await["status"],
        "SCHEDULED"
    );
    // Its posts are not scheduled or retried; drafts are still written and edited.
    assert_eq!(
        app.refused(&staff, SCHEDULE_POST, schedule(&first)).await,
        ("CONFLICT".into(), "CHANNEL_ACCOUNT_DISABLED".into())
    );
    assert_eq!(
        app.refused(&staff, RETRY_POST, json!({ "i": { "postId": refused } }))
            .await,
        ("CONFLICT".into(), "CHANNEL_ACCOUNT_DISABLED".into())
    );
    social_post(&app, &writer, json!({ "accountId": x, "body": "Later" })).await;
    let data = app
        .ok(
            &writer,
            UPDATE_POST,
            json!({ "i": { "postId": draft, "body": "Draft, edited" } }),
        )
        .await;
    assert_eq!(data["updateSocialPost"]["body"], "Draft, edited");
    // Disabling again changes nothing: the first reason stays.
    let data = app
        .ok(&staff, DISABLE_ACCOUNT, disable(&x, "Another reason"))
        .await["disableSocialChannelAccount"]
        .clone();
    assert_eq!(data["unscheduledPosts"], 0);
    assert_eq!(data["account"]["disabledBy"], "usr_writer");
    assert_eq!(data["account"]["disabledReason"], "Access revoked by X");

    // The publisher sends LinkedIn's post only.
    let report = app
        .marketing
        .publish_pass_at(&publisher, due + HOUR_MS)
        .await
        .unwrap();
    assert_eq!(report.published, 1);
    assert_eq!(report.failed, 0);
    assert_eq!(app.channels.recorded_for(&elsewhere).len(), 1);
    for post in [&first, &second, &draft] {
        assert!(app.channels.recorded_for(post).is_empty());
    }

    // Enabled again (a reader may not): scheduling and retrying work; the drafts disabling
    // made stay drafts until scheduled.
    let (code, _) = app
        .refused(&reader, ENABLE_ACCOUNT, json!({ "i": { "accountId": x } }))
        .await;
    assert_eq!(code, "UNAUTHORIZED_FIELD_OR_TYPE");
    for _ in 0..2 {
        let data = app
            .ok(&writer, ENABLE_ACCOUNT, json!({ "i": { "accountId": x } }))
            .await;
        assert_eq!(
            data["enableSocialChannelAccount"],
            json!({ "id": x, "disabledAt": null, "disabledBy": null, "disabledReason": null })
        );
    }
    app.ok(&staff, SCHEDULE_POST, schedule(&first)).await;
    app.ok(&staff, RETRY_POST, json!({ "i": { "postId": refused } }))
        .await;
    let report = app
        .marketing
        .publish_pass_at(&publisher, due + 3 * HOUR_MS)
        .await
        .unwrap();
    assert_eq!(report.published, 2);
    assert_eq!(post_of(&app, &reader, &first).await["status"], "PUBLISHED");
    assert_eq!(
        post_of(&app, &reader, &refused).await["status"],
        "PUBLISHED"
    );
    assert_eq!(post_of(&app, &reader, &second).await["status"], "DRAFT");
    assert_eq!(app.channels.recorded_for(&first).len(), 1);
    assert_eq!(app.channels.recorded_for(&refused).len(), 2);
    assert!(app.channels.recorded_for(&second).is_empty());

    // Schedulings racing a disabling: each is scheduled before it (then taken back to draft)
    // or refused after it; none is left scheduled, no lock wait ends in an internal error.
    let raced = channel_account(&app, &writer, "MASTODON", "@brand@social.example").await;
    let mut posts = Vec::new();
    for n in 0..12 {
        posts.push(
            social_post(
                &app,
                &writer,
                json!({ "accountId": raced, "body": format!("Raced {n}") }),
            )
            .await,
        );
    }
    let schedulings = futures::future::join_all(
        posts
            .iter()
            .map(|post| app.graphql(&staff, SCHEDULE_POST, schedule(post))),
    );
    let disabling = app.graphql(&writer, DISABLE_ACCOUNT, disable(&raced, "Raced"));
    let (answers, (status, disabled)) = tokio::join!(schedulings, disabling);
    assert_eq!(status, 200);
    assert!(disabled["errors"].is_null(), "{disabled}");
    let mut scheduled_first = 0;
    for (status, body) in answers {
        assert_eq!(status, 200);
        if body["errors"].is_null() {
            scheduled_first += 1;
        } else {
            assert_eq!(
                body["errors"][0]["extensions"]["reason"], "CHANNEL_ACCOUNT_DISABLED",
                "{body}"
            );
        }
    }
    assert_eq!(
        disabled["data"]["disableSocialChannelAccount"]["unscheduledPosts"],
        scheduled_first
    );
    for post in &posts {
        assert_eq!(post_of(&app, &reader, post).await["status"], "DRAFT");
    }
}

#[tokio::test]
async fn a_disabled_channel_account_publishes_nothing_until_enabled_postgres() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn(&issuer).await;
    a_disabled_channel_account_publishes_nothing_until_enabled(app, &issuer).await;
}

#[tokio::test]
async fn a_disabled_channel_account_publishes_nothing_until_enabled_embedded() {
    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, erp_tests::Backends::Embedded, None).await;
    a_disabled_channel_account_publishes_nothing_until_enabled(app, &issuer).await;
}

/// Each sending provider goes through the relay it names (one of the deployment's named
/// relays, `ERP_SMTP_RELAYS`; none: the default relay): a campaign through a provider on the
/// "eu" relay reaches that relay only, one through the default provider the default relay
/// only, every recipient once. A relay the deployment does not have is refused
/// (PROVIDER_RELAY_UNKNOWN); setting a provider again without a relay puts it back on the
/// default one.
async fn each_sending_provider_goes_through_its_own_relay(backends: Backends) {
    let issuer = TestIssuer::start().await;
    let eu = erp_tests::marketing::SmtpRecorder::start().await;
    let eu_url = eu.url.clone();
    let app = MarketingApp::spawn_on_with_settings(&issuer, backends, move |settings| {
        settings.smtp_relays = vec![("eu".into(), eu_url)];
    })
    .await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let set_provider = "mutation($i: SetSendingProviderInput!) { setSendingProvider(input: $i) { id name relay isDefault } }";

    assert_eq!(
        app.ok(&staff, "{ mailRelays }", json!({})).await,
        json!({ "mailRelays": ["eu"] })
    );
    assert_eq!(
        app.refused(
            &staff,
            set_provider,
            json!({ "i": { "name": "eu-pool", "relay": "nowhere" } })
        )
        .await,
        ("BAD_USER_INPUT".into(), "PROVIDER_RELAY_UNKNOWN".into())
    );
    let home = app
        .ok(
            &staff,
            set_provider,
            json!({ "i": { "name": "home", "isDefault": true } }),
        )
        .await["setSendingProvider"]
        .clone();
    assert_eq!(home["relay"], Value::Null);
    let pool = app
        .ok(
            &staff,
            set_provider,
            json!({ "i": { "name": "eu-pool", "relay": "eu" } }),
        )
        .await["setSendingProvider"]
        .clone();
    assert_eq!(pool["relay"], "eu");

    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut emails = Vec::new();
    for n in 0..3 {
        let email = format!("r{n}@relay-{run}.example");
        subscribed(&app, &staff, &email, "R", "DE").await;
        emails.push(email);
    }
    let everyone = segment(
        &app,
        &staff,
        "Everyone",
        "DYNAMIC",
        json!({ "field": { "field": "EMAIL", "operator": "IS_SET" } }),
    )
    .await;
    let template = bulk_template(&app, &staff).await;
    // A scheduled campaign to everyone, through `provider` (None: the tenant's default).
    let scheduled = |name: &'static str, provider: Option<Value>| {
        let (app, staff, template, everyone) = (&app, &staff, &template, &everyone);
        async move {
            let data = app
                .ok(
                    staff,
                    CREATE_CAMPAIGN,
                    json!({ "i": { "name": name, "templateId": template, "segmentId": everyone,
                                   "providerId": provider } }),
                )
                .await;
            let id = data["createCampaign"]["id"].as_str().unwrap().to_owned();
            app.ok(staff, SCHEDULE, json!({ "i": { "campaignId": id } }))
                .await;
            id
        }
    };
    let sender = test_sender("relays");
    // Five passes at `at`: how many messages went out.
    let send_at = |at: i64| {
        let (app, sender) = (&app, &sender);
        async move {
            let mut sent = 0;
            for _ in 0..5 {
                sent += app.marketing.send_pass_at(sender, at).await.unwrap().sent;
            }
            sent
        }
    };
    let now = || chrono::Utc::now().timestamp_millis();
    scheduled("EU", Some(pool["id"].clone())).await;
    assert_eq!(send_at(now()).await, 3);
    let mut reached = eu.recipients();
    reached.sort();
    assert_eq!(reached, emails, "each recipient once, on the eu relay");
    for email in &emails {
        assert!(
            sink.to(email).is_empty(),
            "{email} reached the default relay"
        );
    }

    // The default provider's campaign goes to the default relay only.
    scheduled("Home", None).await;
    assert_eq!(send_at(now()).await, 3);
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email}");
    }
    assert_eq!(eu.recipients().len(), 3);

    // A provider whose relay left the configuration (as after a redeploy without it): its
    // messages wait, deferred, nothing sent elsewhere or lost; back on a relay, they go.
    use sea_orm::ConnectionTrait;
    app.runtime
        .db
        .execute_unprepared(&format!(
            "UPDATE mkt_providers SET relay = 'gone' WHERE id = '{}'",
            pool["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let stranded = scheduled("Stranded", Some(pool["id"].clone())).await;
    let at = now();
    let pass = app.marketing.send_pass_at(&sender, at).await.unwrap();
    assert_eq!((pass.sent, pass.deferred), (0, 3), "{pass:?}");
    let progress = app.ok(&staff, PROGRESS, json!({ "id": stranded })).await;
    assert_eq!(progress["campaign"]["funnel"]["deferred"], 3);
    assert_eq!(eu.recipients().len(), 3);
    for email in &emails {
        assert_eq!(sink.to(email).len(), 1, "{email}");
    }
    app.ok(
        &staff,
        set_provider,
        json!({ "i": { "name": "eu-pool", "relay": "eu" } }),
    )
    .await;
    assert_eq!(send_at(at + 61_000).await, 3);
    assert_eq!(eu.recipients().len(), 6);

    // Set again without a relay: back on the default one.
    let pool = app
        .ok(&staff, set_provider, json!({ "i": { "name": "eu-pool" } }))
        .await["setSendingProvider"]
        .clone();
    assert_eq!(pool["relay"], Value::Null);
}

/// Transactional mail and double opt-in confirmations go through the tenant's default
/// provider's relay; when the deployment no longer has it they are refused or wait (the
/// confirmation retried by the sender), never sent through another relay.
async fn transactional_mail_and_confirmations_go_through_the_default_providers_relay(
    backends: Backends,
) {
    use sea_orm::ConnectionTrait;
    let issuer = TestIssuer::start().await;
    let eu = erp_tests::marketing::SmtpRecorder::start().await;
    let eu_url = eu.url.clone();
    let app = MarketingApp::spawn_on_with_settings(&issuer, backends, move |settings| {
        settings.smtp_relays = vec![("eu".into(), eu_url)];
    })
    .await;
    let sink = MailSink::from_env();
    let tenant = new_tenant();
    let staff = issuer.token(&tenant, "usr_staff", ALL);
    let set_provider = "mutation($i: SetSendingProviderInput!) { setSendingProvider(input: $i) { id relay isDefault } }";
    let reset = app
        .ok(
            &staff,
            TEMPLATE,
            json!({ "i": { "name": "Reset", "kind": "TRANSACTIONAL",
            "subject": "Reset", "html": "<p>Reset</p>", "text": "Reset" } }),
        )
        .await["createEmailTemplate"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let email = |name: &str| format!("{name}@tx-{run}.example");
    let send = |to: String| {
        let (app, staff, reset) = (&app, &staff, &reset);
        async move {
            app.graphql(
                staff,
                TRANSACTIONAL,
                json!({ "i": { "templateId": reset, "to": to } }),
            )
            .await
            .1
        }
    };

    // No provider: the default relay.
    let body = send(email("first")).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(sink.to(&email("first")).len(), 1);
    assert!(eu.recipients().is_empty());

    // A default provider on the eu relay takes the transactional stream and the confirmations.
    let pool = app
        .ok(
            &staff,
            set_provider,
            json!({ "i": { "name": "eu-pool", "relay": "eu", "isDefault": true } }),
        )
        .await["setSendingProvider"]
        .clone();
    let body = send(email("second")).await;
    assert!(body["errors"].is_null(), "{body}");
    let pending = contact(&app, &staff, &email("third"), "Tia", "DE").await;
    app.ok(
        &staff,
        OPT_IN,
        json!({ "i": { "contactId": pending, "purpose": "email_marketing", "source": "signup-form", "wordingVersion": "v3" } }),
    )
    .await;
    assert_eq!(eu.recipients(), vec![email("second"), email("third")]);
    assert!(sink.to(&email("second")).is_empty());
    assert!(sink.to(&email("third")).is_empty());

    // Its relay gone from the configuration: the transactional send and a staff opt-in request
    // are refused with nothing written; a form's confirmation waits for the sender's retry.
    app.runtime
        .db
        .execute_unprepared(&format!(
            "UPDATE mkt_providers SET relay = 'gone' WHERE id = '{}'",
            pool["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let (status, body) = app
        .graphql(
            &staff,
            TRANSACTIONAL,
            json!({ "i": { "templateId": reset, "to": email("fourth") } }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "CONFLICT",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "PROVIDER_RELAY_MISSING"
    );
    let waiting = contact(&app, &staff, &email("fifth"), "Fay", "DE").await;
    assert_eq!(
        app.refused(
            &staff,
            OPT_IN,
            json!({ "i": { "contactId": waiting, "purpose": "email_marketing", "source": "signup-form", "wordingVersion": "v3" } })
        )
        .await,
        ("CONFLICT".into(), "PROVIDER_RELAY_MISSING".into())
    );
    let form = double_opt_in_form(&app, &staff).await;
    sign_up(&app, &staff, &form, &email("sixth"), "Sia").await;
    let sender = test_sender("tx-relays");
    let now = chrono::Utc::now().timestamp_millis();
    let pass = app.marketing.send_pass_at(&sender, now).await.unwrap();
    assert_eq!(pass.confirmations, 0, "{pass:?}");
    for name in ["fourth", "fifth", "sixth"] {
        assert!(
            sink.to(&email(name)).is_empty(),
            "{name} reached the default relay"
        );
    }
    assert_eq!(eu.recipients().len(), 2);
    let opt_ins = app
        .runtime
        .db
        .query_one(sea_orm::Statement::from_string(
            app.runtime.db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM mkt_opt_ins WHERE tenant_id = '{tenant}' AND mailed_at IS NULL"
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(opt_ins, 1, "only the form's request is stored, unsent");

    // The relay back: the sender's next pass hands the confirmation over on it.
    app.ok(
        &staff,
        set_provider,
        json!({ "i": { "name": "eu-pool", "relay": "eu", "isDefault": true } }),
    )
    .await;
    let pass = app
        .marketing
        .send_pass_at(&sender, now + 1_000)
        .await
        .unwrap();
    assert_eq!(pass.confirmations, 1, "{pass:?}");
    assert_eq!(
        eu.recipients(),
        vec![email("second"), email("third"), email("sixth")]
    );
    assert!(sink.to(&email("sixth")).is_empty());
}

#[tokio::test]
async fn transactional_mail_and_confirmations_go_through_the_default_providers_relay_postgres() {
    transactional_mail_and_confirmations_go_through_the_default_providers_relay(Backends::Real)
        .await;
}

#[tokio::test]
async fn transactional_mail_and_confirmations_go_through_the_default_providers_relay_embedded() {
    transactional_mail_and_confirmations_go_through_the_default_providers_relay(Backends::Embedded)
        .await;
}

#[tokio::test]
async fn each_sending_provider_goes_through_its_own_relay_postgres() {
    each_sending_provider_goes_through_its_own_relay(Backends::Real).await;
}

#[tokio::test]
async fn each_sending_provider_goes_through_its_own_relay_embedded() {
    each_sending_provider_goes_through_its_own_relay(Backends::Embedded).await;
}

/// What a tenant's marketing looks like through the API: each contact (by address) with its
/// fields, status and consent records, and each segment (by name) with its members'
/// addresses.
async fn marketing_state(
    app: &MarketingApp,
    token: &str,
) -> (Vec<Value>, BTreeMap<String, BTreeSet<String>>) {
    let data = app
        .ok(
            token,
            "{ segments { id name } marketingContacts(first: 100) { nodes { id email firstName lastName country status consents { purpose lawfulBasis source wordingVersion granted actor } } } }",
            json!({}),
        )
        .await;
    let nodes = data["marketingContacts"]["nodes"].as_array().unwrap();
    let email_of: BTreeMap<String, String> = nodes
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["email"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut contacts: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.as_object_mut().unwrap().remove("id");
            n
        })
        .collect();
    contacts.sort_by_key(|c| c["email"].as_str().unwrap().to_owned());
    let mut segments = BTreeMap::new();
    for s in data["segments"].as_array().unwrap() {
        let ids = members(app, token, s["id"].as_str().unwrap()).await;
        segments.insert(
            s["name"].as_str().unwrap().to_owned(),
            ids.iter().map(|id| email_of[id].clone()).collect(),
        );
    }
    (contacts, segments)
}

/// The bulk load of contacts (`Marketing::load_contacts`: the seed's tier L path and the
/// benchmark's million) leaves exactly what the use cases leave (`create_contact`, then
/// `record_consent` for those who consented), on PostgreSQL and embedded SQLite: the same
/// contacts, statuses (a suppressed address's contact `UNSUBSCRIBED`), consent records and
/// segment members (filter trees over fields, consent and status, created before the load),
/// and a full rebuild after it finds 0 differences. A bad row (an invalid address, a consent
/// for a suppressed address) refuses the whole call with its code and writes nothing.
#[tokio::test]
async fn a_bulk_load_of_contacts_leaves_what_the_use_cases_leave() {
    for backends in [Backends::Real, Backends::Embedded] {
        bulk_load_equals_the_use_cases(backends).await;
    }
}

async fn bulk_load_equals_the_use_cases(backends: Backends) {
    use erp_marketing::app::bulk::{LoadedConsent, LoadedContact};
    use erp_marketing::app::contacts::{NewConsent, NewContact};
    use erp_marketing::domain::contact::LawfulBasis;

    let issuer = TestIssuer::start().await;
    let app = MarketingApp::spawn_with(&issuer, backends, None).await;
    let countries = ["PT", "es", "DE"];
    let names = ["Ada", "Bea", "Cai", "Dan"];
    let suppressed = address("gone");
    let mut rows: Vec<LoadedContact> = (0..40)
        .map(|i| LoadedContact {
            email: format!(
                "  Bulk{i}.{}@ERP-tests.example ",
                uuid::Uuid::new_v4().simple()
            ),
            first_name: Some(names[i % 4].into()),
            last_name: (i % 5 != 0).then(|| format!("Last {i}")),
            country: Some(countries[i % 3].into()),
            crm_person_id: (i % 7 == 0).then(|| format!("crm-person-{i}")),
            consent: (i % 4 != 1).then(|| LoadedConsent {
                purpose: if i % 9 == 0 {
                    "sms_marketing"
                } else {
                    "email_marketing"
                }
                .into(),
                lawful_basis: LawfulBasis::Consent,
                source: "import:old-tool".into(),
                wording_version: "v3".into(),
            }),
        })
        .collect();
    // A duplicate of an address its owner unsubscribed: loaded without consent, it stays out.
    rows.push(LoadedContact {
        email: suppressed.to_uppercase(),
        first_name: Some("Gone".into()),
        ..Default::default()
    });
    let mut states = Vec::new();
    for in_bulk in [false, true] {
        let tenant_id = new_tenant();
        let tenant = erp_kit::TenantId::from_claim(&tenant_id);
        let staff = issuer.token(&tenant_id, "usr_staff", ALL);
        let field = |field: &str, value: &str| json!({ "field": { "field": field, "operator": "EQUALS", "value": value } });
        segment(&app, &staff, "Portugal", "DYNAMIC", field("COUNTRY", "pt")).await;
        segment(
            &app,
            &staff,
            "Consented Iberia, not Ada",
            "DYNAMIC",
            json!({ "all": [ { "any": [ field("COUNTRY", "PT"), field("COUNTRY", "ES") ] },
                             { "consent": "email_marketing" },
                             { "not": field("FIRST_NAME", "Ada") } ] }),
        )
        .await;
        segment(
            &app,
            &staff,
            "Subscribed",
            "DYNAMIC",
            json!({ "status": "SUBSCRIBED" }),
        )
        .await;
        segment(
            &app,
            &staff,
            "SMS",
            "DYNAMIC",
            json!({ "consent": "sms_marketing" }),
        )
        .await;
        // The unsubscribed owner of the suppressed address.
        let owner = subscribed(&app, &staff, &suppressed, "Owner", "PT").await;
        app.ok(
            &staff,
            CONSENT,
            json!({ "i": { "contactId": owner, "purpose": "email_marketing", "lawfulBasis": "CONSENT",
                           "source": "paper-form", "wordingVersion": "v1", "granted": false } }),
        )
        .await;
        if in_bulk {
            // Bad rows first: the whole call refused, nothing written.
            let mut bad = rows.clone();
            bad[2].email = "not an address".into();
            let err = app
                .marketing
                .load_contacts(&tenant, "usr_staff", bad)
                .await
                .unwrap_err();
            assert_eq!(
                err.reason().map(|r| r.name()),
                Some("INVALID_EMAIL"),
                "{}",
                err.message()
            );
            assert!(err.message().contains("row 2"), "{}", err.message());
            let mut bad = rows.clone();
            bad.last_mut().unwrap().consent = rows[0].consent.clone();
            let err = app
                .marketing
                .load_contacts(&tenant, "usr_staff", bad)
                .await
                .unwrap_err();
            assert_eq!(
                err.reason().map(|r| r.name()),
                Some("CONTACT_SUPPRESSED"),
                "{}",
                err.message()
            );
            let data = app
                .ok(
                    &staff,
                    "{ marketingContacts(first: 100) { nodes { id } } }",
                    json!({}),
                )
                .await;
            assert_eq!(
                data["marketingContacts"]["nodes"].as_array().unwrap().len(),
                1
            );
            let ids = app
                .marketing
                .load_contacts(&tenant, "usr_staff", rows.clone())
                .await
                .unwrap();
            assert_eq!(ids.len(), rows.len());
        } else {
            for row in &rows {
                let created = app
                    .marketing
                    .create_contact(
                        &tenant,
                        "usr_staff",
                        NewContact {
                            email: row.email.clone(),
                            first_name: row.first_name.clone(),
                            last_name: row.last_name.clone(),
                            country: row.country.clone(),
                            crm_person_id: row.crm_person_id.clone(),
                        },
                    )
                    .await
                    .unwrap();
                if let Some(consent) = &row.consent {
                    app.marketing
                        .record_consent(
                            &tenant,
                            "usr_staff",
                            NewConsent {
                                contact_id: created.id,
                                purpose: consent.purpose.clone(),
                                lawful_basis: consent.lawful_basis,
                                source: consent.source.clone(),
                                wording_version: consent.wording_version.clone(),
                                granted: true,
                            },
                        )
                        .await
                        .unwrap();
                }
            }
        }
        let rebuilt = app.ok(&staff, REBUILD, json!({})).await;
        assert_eq!(rebuilt["rebuildSegments"]["differences"], 0, "{rebuilt}");
        states.push(marketing_state(&app, &staff).await);
    }
    let (by_hand, in_bulk) = (&states[0], &states[1]);
    assert_eq!(by_hand.0.len(), 42);
    assert_eq!(by_hand.0, in_bulk.0);
    assert_eq!(by_hand.1, in_bulk.1);
    // The plan of the rows, checked: statuses and the filter tree.
    let status_of =
        |email: &str| by_hand.0.iter().find(|c| c["email"] == email).unwrap()["status"].clone();
    assert_eq!(status_of(&suppressed), "UNSUBSCRIBED");
    let loaded = |i: usize| rows[i].email.trim().to_lowercase();
    assert_eq!(status_of(&loaded(0)), "PENDING"); // an SMS consent only
    assert_eq!(status_of(&loaded(1)), "PENDING"); // no consent
    assert_eq!(status_of(&loaded(2)), "SUBSCRIBED");
    let iberia = &by_hand.1["Consented Iberia, not Ada"];
    let expected: BTreeSet<String> = (0..40)
        .filter(|i| i % 3 != 2 && i % 4 != 1 && i % 9 != 0 && i % 4 != 0)
        .map(loaded)
        .collect();
    assert_eq!(iberia, &expected);
    assert_eq!(
        by_hand.1["SMS"].len(),
        (0..40).filter(|i| i % 9 == 0 && i % 4 != 1).count()
    );
}
