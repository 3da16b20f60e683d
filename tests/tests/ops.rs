//! The operations subgraph through its real HTTP surface: each test once on real MongoDB
//! (SecantusDB at `MONGO_URL`, a fresh database, with the outbox relay publishing to Kafka)
//! and once on the embedded store of the one-process mode (in-process bus). Every test asserts
//! exact data, status codes and `extensions.code` (plus `extensions.reason` for the domain
//! rules), and that a refused change wrote nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use erp_kit::cache::{InProcessCache, SharedCache};
use erp_kit::events::{InProcessBus, KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use erp_ops::store::SharedStore;
use erp_tests::pmo::fresh_mongo_url;
use erp_tests::{config, error_codes, post_graphql, require_env, TestIssuer};
use serde_json::{json, Value};

/// Every scope the operations API has.
const ALL: &[&str] = &[
    "assets:read",
    "assets:write",
    "assets:depreciate",
    "procurement:read",
    "procurement:request",
    "procurement:order",
    "procurement:approve",
    "procurement:receive",
    "procurement:budget",
    "helpdesk:read",
    "helpdesk:submit",
    "helpdesk:write",
    "helpdesk:admin",
    "sop:read",
    "sop:write",
    "sop:publish",
];

#[derive(Debug, Clone, Copy)]
enum Store {
    Mongo,
    Embedded,
}

macro_rules! on_both_stores {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test]
                async fn mongo() {
                    super::$test(super::Store::Mongo).await;
                }

                #[tokio::test]
                async fn embedded() {
                    super::$test(super::Store::Embedded).await;
                }
            }
        )+
    };
}

on_both_stores!(
    depreciation_schedules_runs_revaluation_and_disposal,
    custody_bulk_operations_and_acceptance,
    procurement_requisition_order_receipt_and_match,
    helpdesk_tickets_with_sla_targets,
    sla_breaches_fire_once_by_timer_across_a_restart,
    sop_versions_and_acknowledgements,
    concurrent_check_outs_and_seat_assignments_never_oversubscribe,
    the_ticket_queue_subscription_sees_changes_live,
    lists_load_policies_and_requisitions_in_batches,
    rfqs_compare_quotations_and_the_award_raises_the_order,
    sop_files_live_in_object_storage_behind_signed_urls,
    helpdesk_macros_apply_every_action_in_one_commit,
    helpdesk_teams_route_assign_and_scope_tickets,
    concurrent_tickets_never_take_the_same_turn,
    an_sla_policy_change_reschedules_every_open_ticket,
    a_leavers_assets_fall_due_and_tickets_return_to_their_queue,
    the_live_queue_shows_an_agent_only_their_teams_tickets,
    ticket_counts_are_exact_by_status_under_the_row_rule,
    helpdesk_macros_are_changed_and_deleted_on_the_record,
    a_split_moves_replies_to_a_linked_ticket_whose_sla_starts_then,
    inbound_mail_opens_and_threads_tickets_from_signed_raw_messages,
    sop_files_and_mail_attachments_round_trip_through_s3,
    bulk_registration_is_all_or_nothing,
    bulk_tickets_are_routed_moved_and_all_or_nothing,
    a_bulk_check_out_of_a_thousand_assets_is_exact_and_all_or_nothing,
);

/// Where a spawned subgraph keeps its documents (what a restart reopens).
#[derive(Clone)]
enum Backing {
    Mongo(String),
    Journal(std::path::PathBuf),
}

/// A spawned operations subgraph.
struct OpsApp {
    addr: SocketAddr,
    http: reqwest::Client,
    store: SharedStore,
    backing: Backing,
    server: tokio::task::JoinHandle<()>,
    relay: Option<erp_ops::events::RelayHandle>,
    _breach_timer: erp_ops::BreachTimer,
    /// Where its SOP files live (kept across a restart).
    files: std::path::PathBuf,
    /// Its event consumers, when it runs them.
    _consumers: Vec<erp_kit::events::ConsumerHandle>,
    /// Its use cases, for the paths with no GraphQL field (the seed's bulk registration).
    ops: erp_ops::Ops,
}

impl Drop for OpsApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl OpsApp {
    async fn spawn(issuer: &TestIssuer, store: Store) -> Self {
        let backing = match store {
            Store::Mongo => Backing::Mongo(fresh_mongo_url()),
            Store::Embedded => Backing::Journal(
                std::env::temp_dir().join(format!("ops-test-{}.journal", uuid::Uuid::new_v4())),
            ),
        };
        let files = std::env::temp_dir().join(format!("ops-files-{}", uuid::Uuid::new_v4()));
        Self::spawn_on(issuer, backing, files).await
    }

    /// Stops this process image (server and relay) and starts a new one on the same documents.
    async fn respawn(mut self, issuer: &TestIssuer) -> Self {
        self.server.abort();
        if let Some(relay) = self.relay.take() {
            relay.shutdown().await;
        }
        let backing = self.backing.clone();
        let files = self.files.clone();
        drop(self);
        Self::spawn_on(issuer, backing, files).await
    }

    async fn spawn_on(issuer: &TestIssuer, backing: Backing, files: std::path::PathBuf) -> Self {
        Self::spawn_with(issuer, backing, files, None, None).await
    }

    /// A subgraph whose SOP files and attachments live in the real S3-compatible server's
    /// bucket (`S3_*` of deploy/local/services.sh) instead of a directory.
    async fn spawn_on_s3(issuer: &TestIssuer, store: Store) -> Self {
        let backing = match store {
            Store::Mongo => Backing::Mongo(fresh_mongo_url()),
            Store::Embedded => Backing::Journal(
                std::env::temp_dir().join(format!("ops-test-{}.journal", uuid::Uuid::new_v4())),
            ),
        };
        let files = std::env::temp_dir().join(format!("ops-files-{}", uuid::Uuid::new_v4()));
        Self::spawn_with(issuer, backing, files, None, Some(s3_config())).await
    }

    /// A subgraph that consumes the employee subgraph's events on `bus` (its Kafka or
    /// in-process bus), for `tenant` only, as a consumer group of its own.
    async fn spawn_consuming(
        issuer: &TestIssuer,
        store: Store,
        bus: SharedBus,
        tenant: &str,
    ) -> Self {
        let backing = match store {
            Store::Mongo => Backing::Mongo(fresh_mongo_url()),
            Store::Embedded => Backing::Journal(
                std::env::temp_dir().join(format!("ops-test-{}.journal", uuid::Uuid::new_v4())),
            ),
        };
        let files = std::env::temp_dir().join(format!("ops-files-{}", uuid::Uuid::new_v4()));
        let consumers = erp_ops::consumers::ConsumerOptions {
            group_suffix: format!(".test-{}", uuid::Uuid::new_v4().simple()),
            tenants: Some(vec![tenant.to_owned()]),
        };
        Self::spawn_with(issuer, backing, files, Some((bus, consumers)), None).await
    }

    async fn spawn_with(
        issuer: &TestIssuer,
        backing: Backing,
        files: std::path::PathBuf,
        consuming: Option<(SharedBus, erp_ops::consumers::ConsumerOptions)>,
        s3: Option<erp_ops::store::blobs::S3Config>,
    ) -> Self {
        let mut kit = config(issuer, String::new());
        kit.service = "ops".into();
        // Production's pub/sub (Redis) next to MongoDB and Kafka; in-process when embedded.
        let cache: SharedCache = match &backing {
            Backing::Mongo(_) => Arc::new(
                erp_kit::cache::RedisCache::connect(&require_env("REDIS_URL"))
                    .await
                    .unwrap(),
            ),
            Backing::Journal(_) => Arc::new(InProcessCache::new()),
        };
        let (bus, store): (SharedBus, SharedStore) = match &backing {
            Backing::Mongo(url) => (
                Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap()),
                Arc::new(
                    erp_ops::store::mongo::MongoStore::connect(url)
                        .await
                        .unwrap(),
                ),
            ),
            Backing::Journal(path) => (
                Arc::new(InProcessBus::new()),
                Arc::new(erp_ops::store::memory::MemoryStore::open(path).unwrap()),
            ),
        };
        let (bus, consumers) = match consuming {
            Some((shared, consumers)) => (shared, Some(consumers)),
            None => (bus, None),
        };
        let runtime =
            Runtime::with_backends(kit, sea_orm::DatabaseConnection::Disconnected, cache, bus);
        let options = erp_ops::OpsOptions {
            blob_dir: s3.is_none().then(|| files.clone()),
            s3,
            consumers,
            ..Default::default()
        };
        let service = erp_ops::start_with(&runtime, store.clone(), options)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = service.router;
        let ops = service.ops;
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Self {
            addr,
            http: reqwest::Client::new(),
            store,
            backing,
            server,
            relay: Some(service.relay),
            _breach_timer: service.breach_timer,
            files,
            _consumers: service.consumers,
            ops,
        }
    }

    async fn graphql(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        post_graphql(
            &self.http,
            &format!("http://{}/graphql", self.addr),
            Some(token),
            query,
            variables,
        )
        .await
    }

    /// Runs an operation that must succeed (200, no errors) and returns its `data`.
    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// Runs an operation that must fail with `code` (and `reason` when given); returns the body.
    async fn refused(
        &self,
        token: &str,
        query: &str,
        variables: Value,
        code: &str,
        reason: Option<&str>,
    ) -> Value {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(error_codes(&body), vec![code.to_owned()], "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["reason"].as_str(),
            reason,
            "{body}"
        );
        body
    }

    /// Waits until the relay published every committed event (the outbox is empty).
    async fn outbox_drained(&self) {
        let store = self.store.clone();
        let drained = erp_tests::eventually(std::time::Duration::from_secs(20), || {
            let store = store.clone();
            async move {
                let pending = store.pending_events(100).await.ok()?;
                pending.is_empty().then_some(())
            }
        })
        .await;
        assert!(drained.is_some(), "the relay publishes the outbox");
    }
}

fn tenant() -> String {
    format!("tnt_{}", uuid::Uuid::new_v4().simple())
}

const REGISTER: &str = "mutation($input: RegisterAssetInput!) { registerAsset(input: $input) {
    id tag status cost { amount currency } bookValue { amount }
    depreciation { method usefulLifePeriods salvage { amount } prorata
      lines { index periodStart periodEnd amount { amount } bookValue { amount } status } } } }";

const ASSET: &str = "query($id: ID!) { asset(id: $id) {
    id status holder { type id } acceptedAt bookValue { amount }
    depreciation { lines { index amount { amount } bookValue { amount } status } }
    disposal { proceeds { amount } bookValue { amount } gainOrLoss { amount currency } }
    history { nodes { type holder { type id } byUserId } } } }";

fn asset_input(tag: &str, cost: &str) -> Value {
    json!({ "tag": tag, "name": format!("Laptop {tag}"), "cost": { "amount": cost, "currency": "EUR" },
            "inUseDate": "2020-01-01" })
}

async fn depreciation_schedules_runs_revaluation_and_disposal(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let token = issuer.token(&tenant, "finance-clerk", ALL);

    // Snipe-IT #3052: cost 2,880, salvage 400, 5 years -> 496.00 a year, ending at 400.00.
    let mut input = asset_input("LT-3052", "2880");
    input["depreciation"] = json!({ "method": "STRAIGHT_LINE", "frequency": "YEARLY",
        "usefulLifePeriods": 5, "salvage": { "amount": "400", "currency": "EUR" }, "prorata": false });
    let data = app.ok(&token, REGISTER, json!({ "input": input })).await;
    let asset = &data["registerAsset"];
    let id = asset["id"].as_str().unwrap().to_owned();
    assert_eq!(asset["status"], "IN_STOCK");
    assert_eq!(
        asset["cost"],
        json!({ "amount": "2880.00", "currency": "EUR" })
    );
    let lines = asset["depreciation"]["lines"].as_array().unwrap();
    let amounts: Vec<&str> = lines
        .iter()
        .map(|l| l["amount"]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["496.00"; 5]);
    let values: Vec<&str> = lines
        .iter()
        .map(|l| l["bookValue"]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["2384.00", "1888.00", "1392.00", "896.00", "400.00"]
    );
    assert_eq!(lines[0]["periodStart"], "2020-01-01");
    assert_eq!(lines[0]["periodEnd"], "2020-12-31");
    assert!(lines.iter().all(|l| l["status"] == "PLANNED"));

    // OCA #1073: 80,000,000 over 96 months from 1 Jan 2017 is 833,333.33 a month.
    let mut input = asset_input("BLDG-1", "80000000");
    input["inUseDate"] = json!("2017-01-01");
    input["depreciation"] = json!({ "method": "STRAIGHT_LINE", "frequency": "MONTHLY",
        "usefulLifePeriods": 96, "salvage": { "amount": "0", "currency": "EUR" }, "prorata": true });
    let data = app.ok(&token, REGISTER, json!({ "input": input })).await;
    let lines = data["registerAsset"]["depreciation"]["lines"]
        .as_array()
        .unwrap();
    assert_eq!(lines.len(), 96);
    assert!(lines[..95]
        .iter()
        .all(|l| l["amount"]["amount"] == "833333.33"));
    assert_eq!(lines[95]["amount"]["amount"], "833333.65");
    assert_eq!(lines[95]["bookValue"]["amount"], "0.00");

    // A salvage value above the cost is refused, nothing registered.
    let mut bad = asset_input("BAD-1", "100");
    bad["depreciation"] = json!({ "method": "STRAIGHT_LINE", "frequency": "YEARLY",
        "usefulLifePeriods": 5, "salvage": { "amount": "100.01", "currency": "EUR" }, "prorata": false });
    let body = app
        .refused(
            &token,
            REGISTER,
            json!({ "input": bad }),
            "BAD_USER_INPUT",
            Some("SALVAGE_ABOVE_COST"),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "salvage");
    let data = app
        .ok(&token, "{ assets(first: 10) { nodes { tag } } }", json!({}))
        .await;
    assert_eq!(
        data["assets"]["nodes"],
        json!([{ "tag": "LT-3052" }, { "tag": "BLDG-1" }])
    );

    // The run posts the periods ended by the day: 3 of the laptop's, 72 of the building's.
    let run = "mutation($d: Date!) { runDepreciation(input: { through: $d }) { postedLines } }";
    let data = app.ok(&token, run, json!({ "d": "2022-12-31" })).await;
    assert_eq!(data["runDepreciation"]["postedLines"], 3 + 72);
    // Idempotent per (asset, period): a re-run posts nothing.
    let data = app.ok(&token, run, json!({ "d": "2022-12-31" })).await;
    assert_eq!(data["runDepreciation"]["postedLines"], 0);
    let data = app.ok(&token, ASSET, json!({ "id": id })).await;
    assert_eq!(data["asset"]["bookValue"]["amount"], "1392.00");
    let lines = data["asset"]["depreciation"]["lines"].as_array().unwrap();
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["POSTED", "POSTED", "POSTED", "PLANNED", "PLANNED"]
    );

    // An impairment recomputes only the planned lines (OCA PR #2346): 1,392 -> 1,000 over the
    // two years left, down to the 400 salvage.
    let revalue = "mutation($input: RevalueAssetInput!) { revalueAsset(input: $input) {
        bookValue { amount } depreciation { lines { amount { amount } bookValue { amount } status } } } }";
    let data = app
        .ok(&token, revalue, json!({ "input": { "assetId": id, "bookValue": { "amount": "1000", "currency": "EUR" } } }))
        .await;
    assert_eq!(data["revalueAsset"]["bookValue"]["amount"], "1000.00");
    let lines = data["revalueAsset"]["depreciation"]["lines"]
        .as_array()
        .unwrap();
    let amounts: Vec<&str> = lines
        .iter()
        .map(|l| l["amount"]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["496.00", "496.00", "496.00", "300.00", "300.00"]);
    assert_eq!(lines[4]["bookValue"]["amount"], "400.00");
    // A book value below salvage would cross it.
    app.refused(
        &token,
        revalue,
        json!({ "input": { "assetId": id, "bookValue": { "amount": "399.99", "currency": "EUR" } } }),
        "CONFLICT",
        Some("CROSSES_SALVAGE"),
    )
    .await;

    // Disposal for 1,100: the book value after the impairment is 1,000, a gain of 100.
    let dispose = "mutation($input: DisposeAssetInput!) { disposeAsset(input: $input) {
        status disposal { proceeds { amount } bookValue { amount } gainOrLoss { amount currency } }
        depreciation { lines { status } } } }";
    let data = app
        .ok(&token, dispose, json!({ "input": { "assetId": id, "proceeds": { "amount": "1100", "currency": "EUR" } } }))
        .await;
    let disposed = &data["disposeAsset"];
    assert_eq!(disposed["status"], "DISPOSED");
    assert_eq!(disposed["disposal"]["bookValue"]["amount"], "1000.00");
    assert_eq!(
        disposed["disposal"]["gainOrLoss"],
        json!({ "amount": "100.00", "currency": "EUR" })
    );
    assert_eq!(
        disposed["depreciation"]["lines"].as_array().unwrap().len(),
        3,
        "the schedule stops"
    );
    app.refused(
        &token,
        dispose,
        json!({ "input": { "assetId": id, "proceeds": { "amount": "1", "currency": "EUR" } } }),
        "CONFLICT",
        Some("ASSET_DISPOSED"),
    )
    .await;
    // Scrapping an asset without a schedule books its cost as the loss.
    let data = app
        .ok(
            &token,
            REGISTER,
            json!({ "input": asset_input("SCRAP-1", "500") }),
        )
        .await;
    let scrap = data["registerAsset"]["id"].as_str().unwrap().to_owned();
    let data = app
        .ok(&token, dispose, json!({ "input": { "assetId": scrap, "proceeds": { "amount": "0", "currency": "EUR" } } }))
        .await;
    assert_eq!(
        data["disposeAsset"]["disposal"]["gainOrLoss"]["amount"],
        "-500.00"
    );
    // Proceeds in another currency are refused.
    let data = app
        .ok(
            &token,
            REGISTER,
            json!({ "input": asset_input("SCRAP-2", "500") }),
        )
        .await;
    let scrap = data["registerAsset"]["id"].as_str().unwrap().to_owned();
    app.refused(
        &token,
        dispose,
        json!({ "input": { "assetId": scrap, "proceeds": { "amount": "1", "currency": "USD" } } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;

    // The run skips a disposed asset.
    let data = app.ok(&token, run, json!({ "d": "2030-12-31" })).await;
    assert_eq!(data["runDepreciation"]["postedLines"], 96 - 72);

    // Without the scope the run is refused.
    let reader = issuer.token(&tenant, "reader", &["assets:read"]);
    let (_, body) = app
        .graphql(&reader, run, json!({ "d": "2030-12-31" }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");

    app.outbox_drained().await;
}

async fn custody_bulk_operations_and_acceptance(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let it = issuer.token(&tenant, "it-desk", ALL);
    let alice = issuer.token(&tenant, "alice", &["assets:read"]);
    let bob = issuer.token(&tenant, "bob", &["assets:read"]);

    let mut ids = Vec::new();
    for n in 0..5 {
        let data = app
            .ok(
                &it,
                REGISTER,
                json!({ "input": asset_input(&format!("LT-{n}"), "1200") }),
            )
            .await;
        ids.push(data["registerAsset"]["id"].as_str().unwrap().to_owned());
    }
    // Tags are unique whatever their case.
    app.refused(
        &it,
        REGISTER,
        json!({ "input": asset_input("lt-0", "1") }),
        "CONFLICT",
        Some("ASSET_TAG_TAKEN"),
    )
    .await;
    app.refused(
        &it,
        REGISTER,
        json!({ "input": asset_input("LT 9", "1") }),
        "BAD_USER_INPUT",
        None,
    )
    .await;

    let check_out = "mutation($input: CheckOutAssetsInput!) { checkOutAssets(input: $input) {
        count assets { id status holder { type id } } } }";
    let data = app
        .ok(&it, check_out, json!({ "input": { "assetIds": &ids[..3], "holder": { "type": "PERSON", "id": "alice" } } }))
        .await;
    assert_eq!(data["checkOutAssets"]["count"], 3);
    for asset in data["checkOutAssets"]["assets"].as_array().unwrap() {
        assert_eq!(asset["status"], "ASSIGNED");
        assert_eq!(asset["holder"], json!({ "type": "PERSON", "id": "alice" }));
    }

    // At most one holder: a bulk call with one assigned asset refuses everything, naming it,
    // and the asset in stock beside it stays in stock.
    let body = app
        .refused(
            &it,
            check_out,
            json!({ "input": { "assetIds": [&ids[3], &ids[0]], "holder": { "type": "LOCATION", "id": "hq" } } }),
            "CONFLICT",
            Some("ASSET_ALREADY_ASSIGNED"),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("LT-0"),
        "{body}"
    );
    let data = app.ok(&it, ASSET, json!({ "id": ids[3] })).await;
    assert_eq!(data["asset"]["status"], "IN_STOCK");
    assert_eq!(data["asset"]["history"]["nodes"], json!([]));

    // Bulk sizes: no ids, a duplicate, more than 1,000.
    let too_many: Vec<String> = (0..1_001).map(|n| format!("id-{n}")).collect();
    for bad in [json!([]), json!([&ids[3], &ids[3]]), json!(too_many)] {
        app.refused(
            &it,
            check_out,
            json!({ "input": { "assetIds": bad, "holder": { "type": "PERSON", "id": "bob" } } }),
            "BAD_USER_INPUT",
            None,
        )
        .await;
    }
    // An unknown asset (or another tenant's) is NOT_FOUND, and nothing changes.
    app.refused(
        &it,
        check_out,
        json!({ "input": { "assetIds": [&ids[3], "no-such-asset"], "holder": { "type": "PERSON", "id": "bob" } } }),
        "NOT_FOUND",
        None,
    )
    .await;

    // Only the person it was checked out to accepts it, once.
    let accept = "mutation($id: ID!) { acceptAsset(input: { assetId: $id }) { acceptedAt } }";
    app.refused(
        &bob,
        accept,
        json!({ "id": ids[0] }),
        "FORBIDDEN",
        Some("NOT_THE_HOLDER"),
    )
    .await;
    let data = app.ok(&alice, accept, json!({ "id": ids[0] })).await;
    assert!(data["acceptAsset"]["acceptedAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    app.refused(
        &alice,
        accept,
        json!({ "id": ids[0] }),
        "CONFLICT",
        Some("ASSET_STATE"),
    )
    .await;

    // Check-in, repair, audit, retire; the history is appended in order.
    let check_in = "mutation($ids: [ID!]!) { checkInAssets(input: { assetIds: $ids }) { count } }";
    let data = app.ok(&it, check_in, json!({ "ids": &ids[..3] })).await;
    assert_eq!(data["checkInAssets"]["count"], 3);
    app.refused(
        &it,
        check_in,
        json!({ "ids": [&ids[0]] }),
        "CONFLICT",
        Some("ASSET_STATE"),
    )
    .await;
    let audit = "mutation($ids: [ID!]!) { auditAssets(input: { assetIds: $ids }) { count assets { status } } }";
    let data = app.ok(&it, audit, json!({ "ids": ids })).await;
    assert_eq!(data["auditAssets"]["count"], 5);
    let repair = "mutation($id: ID!) { sendAssetToRepair(input: { assetId: $id }) { status } }";
    let data = app.ok(&it, repair, json!({ "id": ids[0] })).await;
    assert_eq!(data["sendAssetToRepair"]["status"], "IN_REPAIR");
    app.refused(
        &it,
        check_out,
        json!({ "input": { "assetIds": [&ids[0]], "holder": { "type": "PERSON", "id": "bob" } } }),
        "CONFLICT",
        Some("ASSET_STATE"),
    )
    .await;
    let retire = "mutation($id: ID!) { retireAsset(input: { assetId: $id }) { status } }";
    let data = app.ok(&it, retire, json!({ "id": ids[0] })).await;
    assert_eq!(data["retireAsset"]["status"], "RETIRED");
    let data = app.ok(&it, ASSET, json!({ "id": ids[0] })).await;
    assert_eq!(
        data["asset"]["history"]["nodes"],
        json!([
            { "type": "CHECKED_OUT", "holder": { "type": "PERSON", "id": "alice" }, "byUserId": "it-desk" },
            { "type": "ACCEPTED", "holder": null, "byUserId": "alice" },
            { "type": "CHECKED_IN", "holder": { "type": "PERSON", "id": "alice" }, "byUserId": "it-desk" },
            { "type": "AUDITED", "holder": null, "byUserId": "it-desk" },
            { "type": "SENT_TO_REPAIR", "holder": null, "byUserId": "it-desk" },
            { "type": "RETIRED", "holder": null, "byUserId": "it-desk" },
        ])
    );

    // License seats: assigned never above owned; many seats to one asset at once.
    let data = app
        .ok(&it, "mutation { createSoftwareLicense(input: { name: \"Office\", seatsOwned: 10 }) { id seatsFree } }", json!({}))
        .await;
    let license = data["createSoftwareLicense"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assign = "mutation($l: ID!, $t: HolderType!, $h: ID!, $n: Int) { assignLicenseSeats(input: {
        licenseId: $l, holder: { type: $t, id: $h }, seats: $n }) { seatsAssigned seatsFree assignments { holder { type id } seats } } }";
    let data = app
        .ok(
            &it,
            assign,
            json!({ "l": license, "t": "ASSET", "h": ids[1], "n": 8 }),
        )
        .await;
    assert_eq!(data["assignLicenseSeats"]["seatsFree"], 2);
    app.refused(
        &it,
        assign,
        json!({ "l": license, "t": "PERSON", "h": "bob", "n": 3 }),
        "CONFLICT",
        Some("SEATS_EXHAUSTED"),
    )
    .await;
    let data = app
        .ok(
            &it,
            assign,
            json!({ "l": license, "t": "PERSON", "h": "bob", "n": 2 }),
        )
        .await;
    assert_eq!(data["assignLicenseSeats"]["seatsAssigned"], 10);
    assert_eq!(
        data["assignLicenseSeats"]["assignments"],
        json!([{ "holder": { "type": "ASSET", "id": ids[1] }, "seats": 8 }, { "holder": { "type": "PERSON", "id": "bob" }, "seats": 2 }])
    );
    let data = app
        .ok(&it, "mutation($l: ID!) { releaseLicenseSeats(input: { licenseId: $l, holder: { type: PERSON, id: \"bob\" } }) { seatsFree } }", json!({ "l": license }))
        .await;
    assert_eq!(data["releaseLicenseSeats"]["seatsFree"], 2);
    // Consumables by quantity: never more handed out than on hand.
    let data = app
        .ok(
            &it,
            "mutation { createConsumable(input: { name: \"Toner\", onHand: 5 }) { id } }",
            json!({}),
        )
        .await;
    let toner = data["createConsumable"]["id"].as_str().unwrap().to_owned();
    let issue = "mutation($c: ID!, $q: Int!) { issueConsumable(input: { consumableId: $c, quantity: $q }) { onHand } }";
    let data = app.ok(&it, issue, json!({ "c": toner, "q": 3 })).await;
    assert_eq!(data["issueConsumable"]["onHand"], 2);
    app.refused(
        &it,
        issue,
        json!({ "c": toner, "q": 3 }),
        "CONFLICT",
        Some("CONSUMABLE_SHORT"),
    )
    .await;
    app.refused(
        &it,
        issue,
        json!({ "c": toner, "q": -1 }),
        "BAD_USER_INPUT",
        None,
    )
    .await;

    // Maintenance: a corrective request runs new -> in progress -> repaired, once; a plan
    // every 30 days creates one preventive request per due date, a re-run none.
    let request = "mutation($a: ID!) { requestMaintenance(input: { assetId: $a, description: \"Fan noise\" }) { id type status } }";
    let data = app.ok(&it, request, json!({ "a": ids[2] })).await;
    let request_id = data["requestMaintenance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(data["requestMaintenance"]["type"], "CORRECTIVE");
    let start = "mutation($r: ID!) { startMaintenance(input: { requestId: $r }) { status } }";
    app.ok(&it, start, json!({ "r": request_id })).await;
    app.refused(
        &it,
        start,
        json!({ "r": request_id }),
        "CONFLICT",
        Some("MAINTENANCE_STATE"),
    )
    .await;
    let data = app
        .ok(&it, "mutation($r: ID!) { completeMaintenance(input: { requestId: $r, repaired: true }) { status finishedAt } }", json!({ "r": request_id }))
        .await;
    assert_eq!(data["completeMaintenance"]["status"], "REPAIRED");
    let data = app
        .ok(&it, "mutation($a: ID!) { setMaintenancePlan(input: { assetId: $a, everyDays: 30, firstDue: \"2026-01-15\" }) { maintenanceEveryDays nextMaintenanceDue } }", json!({ "a": ids[2] }))
        .await;
    assert_eq!(
        data["setMaintenancePlan"],
        json!({ "maintenanceEveryDays": 30, "nextMaintenanceDue": "2026-01-15" })
    );
    let run = "mutation { runPreventiveMaintenance(input: { through: \"2026-03-20\" }) { createdRequests } }";
    let data = app.ok(&it, run, json!({})).await;
    assert_eq!(data["runPreventiveMaintenance"]["createdRequests"], 3);
    let data = app.ok(&it, run, json!({})).await;
    assert_eq!(data["runPreventiveMaintenance"]["createdRequests"], 0);
    let data = app
        .ok(&it, "query($a: ID!) { maintenanceRequests(assetId: $a) { nodes { type dueOn } } asset(id: $a) { nextMaintenanceDue } }", json!({ "a": ids[2] }))
        .await;
    assert_eq!(
        data["maintenanceRequests"]["nodes"],
        json!([{ "type": "CORRECTIVE", "dueOn": null }, { "type": "PREVENTIVE", "dueOn": "2026-01-15" },
               { "type": "PREVENTIVE", "dueOn": "2026-02-14" }, { "type": "PREVENTIVE", "dueOn": "2026-03-16" }])
    );
    assert_eq!(data["asset"]["nextMaintenanceDue"], "2026-04-15");

    // A restart (a new process image on the same MongoDB database or journal file) keeps
    // everything: the asset, its history and the tag's uniqueness.
    let app = app.respawn(&issuer).await;
    let data = app.ok(&it, ASSET, json!({ "id": ids[0] })).await;
    assert_eq!(data["asset"]["status"], "RETIRED");
    assert_eq!(
        data["asset"]["history"]["nodes"].as_array().unwrap().len(),
        6
    );
    app.refused(
        &it,
        REGISTER,
        json!({ "input": asset_input("LT-1", "1") }),
        "CONFLICT",
        Some("ASSET_TAG_TAKEN"),
    )
    .await;

    // Another tenant sees none of it.
    let other = issuer.token(&tenant_other(), "it-desk", ALL);
    let data = app.ok(&other, ASSET, json!({ "id": ids[1] })).await;
    assert_eq!(data["asset"], Value::Null);
    app.refused(
        &other,
        check_in,
        json!({ "ids": [&ids[1]] }),
        "NOT_FOUND",
        None,
    )
    .await;

    app.outbox_drained().await;
}

fn tenant_other() -> String {
    tenant()
}

const ORDER_FIELDS: &str = "id status total { amount currency } requiredApprovals approverIds
    received { line quantity } lines { line item quantity unitPrice { amount } amount { amount } }";

async fn procurement_requisition_order_receipt_and_match(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let requester = issuer.token(&tenant, "rita", ALL);
    let approver = issuer.token(&tenant, "adam", ALL);
    let second = issuer.token(&tenant, "bea", ALL);
    let lines = json!([
        { "item": "cable-m", "quantity": "100", "unitPrice": "2.50" },
        { "item": "switch", "quantity": "2", "unitPrice": "450" },
    ]);

    // Budget check: fails closed without a cost centre or a budget, and counts each document
    // once (requested + ordered + actual).
    let create_pr = "mutation($input: CreateRequisitionInput!) { createRequisition(input: $input) { id status costCentre total { amount currency } } }";
    let submit_pr =
        "mutation($id: ID!) { submitRequisition(input: { requisitionId: $id }) { status } }";
    let set_budget = "mutation($c: String!, $a: Decimal!) { setBudget(input: { costCentre: $c, amount: { amount: $a, currency: \"EUR\" } }) { costCentre amount { amount } } }";
    let data = app
        .ok(
            &requester,
            create_pr,
            json!({ "input": { "title": "No cost centre", "currency": "EUR", "lines": lines } }),
        )
        .await;
    let orphan = data["createRequisition"]["id"].as_str().unwrap().to_owned();
    app.refused(
        &requester,
        submit_pr,
        json!({ "id": orphan }),
        "CONFLICT",
        Some("BUDGET_UNRESOLVED"),
    )
    .await;
    let data = app
        .ok(&requester, create_pr, json!({ "input": { "title": "Unknown centre", "costCentre": "CC-9", "currency": "EUR", "lines": lines } }))
        .await;
    let unknown = data["createRequisition"]["id"].as_str().unwrap().to_owned();
    app.refused(
        &requester,
        submit_pr,
        json!({ "id": unknown }),
        "CONFLICT",
        Some("BUDGET_UNRESOLVED"),
    )
    .await;
    let data = app
        .ok(&approver, set_budget, json!({ "c": "CC-1", "a": "2000" }))
        .await;
    assert_eq!(
        data["setBudget"],
        json!({ "costCentre": "CC-1", "amount": { "amount": "2000.00" } })
    );

    // Requisition: draft -> submitted -> approved, never by its requester.
    let data = app
        .ok(
            &requester,
            create_pr,
            json!({ "input": { "title": "Network for room 2", "costCentre": "CC-1", "currency": "EUR", "lines": lines } }),
        )
        .await;
    let pr = data["createRequisition"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["createRequisition"]["status"], "DRAFT");
    assert_eq!(
        data["createRequisition"]["total"],
        json!({ "amount": "1150.00", "currency": "EUR" })
    );
    assert_eq!(data["createRequisition"]["costCentre"], "CC-1");
    let approve_pr = "mutation($id: ID!) { approveRequisition(input: { requisitionId: $id }) { status decidedById } }";
    app.refused(&approver, submit_pr, json!({ "id": pr }), "FORBIDDEN", None)
        .await;
    app.ok(&requester, submit_pr, json!({ "id": pr })).await;
    // 1,150 requested of 2,000: another 1,150 does not fit.
    let data = app
        .ok(&requester, create_pr, json!({ "input": { "title": "Again", "costCentre": "CC-1", "currency": "EUR", "lines": lines } }))
        .await;
    let second_pr = data["createRequisition"]["id"].as_str().unwrap().to_owned();
    app.refused(
        &requester,
        submit_pr,
        json!({ "id": second_pr }),
        "CONFLICT",
        Some("BUDGET_EXCEEDED"),
    )
    .await;
    app.refused(
        &requester,
        approve_pr,
        json!({ "id": pr }),
        "FORBIDDEN",
        Some("SELF_APPROVAL"),
    )
    .await;
    let data = app.ok(&approver, approve_pr, json!({ "id": pr })).await;
    assert_eq!(
        data["approveRequisition"],
        json!({ "status": "APPROVED", "decidedById": "adam" })
    );
    app.refused(
        &second,
        approve_pr,
        json!({ "id": pr }),
        "CONFLICT",
        Some("REQUISITION_STATE"),
    )
    .await;

    // The order raised from it (the requisition becomes ordered, once).
    let create_po = format!(
        "mutation($input: CreatePurchaseOrderInput!) {{ createPurchaseOrder(input: $input) {{ {ORDER_FIELDS} }} }}"
    );
    let data = app
        .ok(
            &requester,
            &create_po,
            json!({ "input": { "requisitionId": pr, "supplier": "Netgear", "currency": "EUR", "lines": lines } }),
        )
        .await;
    let po = data["createPurchaseOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(data["createPurchaseOrder"]["status"], "DRAFT");
    assert_eq!(data["createPurchaseOrder"]["requiredApprovals"], 1);
    assert_eq!(
        data["createPurchaseOrder"]["lines"][0]["quantity"],
        "100.000"
    );
    assert_eq!(
        data["createPurchaseOrder"]["lines"][0]["amount"]["amount"],
        "250.00"
    );
    app.refused(
        &requester,
        &create_po,
        json!({ "input": { "requisitionId": pr, "supplier": "Netgear", "currency": "EUR", "lines": lines } }),
        "CONFLICT",
        Some("REQUISITION_STATE"),
    )
    .await;
    let data = app
        .ok(
            &requester,
            "query($id: ID!) { requisition(id: $id) { status } }",
            json!({ "id": pr }),
        )
        .await;
    assert_eq!(data["requisition"]["status"], "ORDERED");

    // A receipt before approval is refused.
    let receive = "mutation($input: ReceiveGoodsInput!) { receiveGoods(input: $input) {
        receipt { lines { line item quantity } receivedById } order { status received { line quantity } } } }";
    let receipt = |quantity: &str| json!({ "input": { "orderId": po, "lines": [{ "line": 1, "item": "cable-m", "quantity": quantity }] } });
    app.refused(
        &requester,
        receive,
        receipt("1"),
        "CONFLICT",
        Some("ORDER_STATE"),
    )
    .await;

    let submit_po =
        "mutation($id: ID!) { submitPurchaseOrder(input: { orderId: $id }) { status } }";
    let approve_po = "mutation($id: ID!) { approvePurchaseOrder(input: { orderId: $id }) { status approverIds } }";
    app.ok(&requester, submit_po, json!({ "id": po })).await;
    app.refused(
        &requester,
        approve_po,
        json!({ "id": po }),
        "FORBIDDEN",
        Some("SELF_APPROVAL"),
    )
    .await;
    let data = app.ok(&approver, approve_po, json!({ "id": po })).await;
    assert_eq!(
        data["approvePurchaseOrder"],
        json!({ "status": "APPROVED", "approverIds": ["adam"] })
    );

    // ERPNext #40340: 100.002 against 100 with no tolerance is refused, and nothing is written.
    app.refused(
        &requester,
        receive,
        receipt("100.002"),
        "CONFLICT",
        Some("OVER_RECEIPT"),
    )
    .await;
    let data = app
        .ok(&requester, &format!("query($id: ID!) {{ purchaseOrder(id: $id) {{ {ORDER_FIELDS} receipts {{ nodes {{ id }} }} }} }}"), json!({ "id": po }))
        .await;
    assert_eq!(data["purchaseOrder"]["status"], "APPROVED");
    assert_eq!(data["purchaseOrder"]["received"], json!([]));
    assert_eq!(data["purchaseOrder"]["receipts"]["nodes"], json!([]));
    // A line of another item is refused.
    app.refused(
        &requester,
        receive,
        json!({ "input": { "orderId": po, "lines": [{ "line": 1, "item": "switch", "quantity": "1" }] } }),
        "BAD_USER_INPUT",
        Some("LINE_MISMATCH"),
    )
    .await;

    let data = app.ok(&requester, receive, receipt("60")).await;
    assert_eq!(
        data["receiveGoods"]["order"]["status"],
        "PARTIALLY_RECEIVED"
    );
    assert_eq!(data["receiveGoods"]["receipt"]["receivedById"], "rita");
    // Cumulative: 60 + 40.001 > 100.
    app.refused(
        &requester,
        receive,
        receipt("40.001"),
        "CONFLICT",
        Some("OVER_RECEIPT"),
    )
    .await;
    let data = app
        .ok(
            &requester,
            receive,
            json!({ "input": { "orderId": po, "lines": [
                { "line": 1, "item": "cable-m", "quantity": "40" },
                { "line": 2, "item": "switch", "quantity": "2" } ] } }),
        )
        .await;
    assert_eq!(data["receiveGoods"]["order"]["status"], "RECEIVED");
    assert_eq!(
        data["receiveGoods"]["order"]["received"],
        json!([{ "line": 1, "quantity": "100.000" }, { "line": 2, "quantity": "2.000" }])
    );

    // Three-way match: a bill for 10 switches at 459 against 2 received at 450.
    let matching = "query($input: ThreeWayMatchInput!) { threeWayMatch(input: $input) {
        matched lines { line ordered received billed quantityVariance priceVariance { amount }
          quantityWithinTolerance priceWithinTolerance } } }";
    let data = app
        .ok(
            &requester,
            matching,
            json!({ "input": { "orderId": po, "priceToleranceBasisPoints": 100,
                "lines": [{ "line": 2, "item": "switch", "quantity": "10", "unitPrice": "459" }] } }),
        )
        .await;
    assert_eq!(
        data["threeWayMatch"],
        json!({ "matched": false, "lines": [{ "line": 2, "ordered": "2.000", "received": "2.000",
            "billed": "10.000", "quantityVariance": "8.000", "priceVariance": { "amount": "90.00" },
            "quantityWithinTolerance": false, "priceWithinTolerance": false }] })
    );
    let data = app
        .ok(
            &requester,
            matching,
            json!({ "input": { "orderId": po, "priceToleranceBasisPoints": 100,
                "lines": [{ "line": 1, "item": "cable-m", "quantity": "100", "unitPrice": "2.52" },
                          { "line": 2, "item": "switch", "quantity": "2", "unitPrice": "450" }] } }),
        )
        .await;
    assert_eq!(data["threeWayMatch"]["matched"], true);
    app.refused(
        &requester,
        matching,
        json!({ "input": { "orderId": po, "lines": [{ "line": 9, "item": "switch", "quantity": "1", "unitPrice": "1" }] } }),
        "BAD_USER_INPUT",
        Some("LINE_MISMATCH"),
    )
    .await;

    // An order of 10,000.00 or more needs two distinct approvers; a cancelled one receives
    // nothing.
    let big = json!({ "input": { "supplier": "Dell", "currency": "EUR",
        "lines": [{ "item": "server", "quantity": "2", "unitPrice": "6000" }] } });
    let data = app.ok(&requester, &create_po, big).await;
    let big_po = data["createPurchaseOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(data["createPurchaseOrder"]["requiredApprovals"], 2);
    app.ok(&requester, submit_po, json!({ "id": big_po })).await;
    let data = app.ok(&approver, approve_po, json!({ "id": big_po })).await;
    assert_eq!(data["approvePurchaseOrder"]["status"], "SUBMITTED");
    app.refused(
        &approver,
        approve_po,
        json!({ "id": big_po }),
        "CONFLICT",
        Some("ALREADY_APPROVED"),
    )
    .await;
    let data = app.ok(&second, approve_po, json!({ "id": big_po })).await;
    assert_eq!(
        data["approvePurchaseOrder"],
        json!({ "status": "APPROVED", "approverIds": ["adam", "bea"] })
    );
    let cancel = "mutation($id: ID!) { cancelPurchaseOrder(input: { orderId: $id }) { status } }";
    let data = app.ok(&requester, cancel, json!({ "id": big_po })).await;
    assert_eq!(data["cancelPurchaseOrder"]["status"], "CANCELLED");
    app.refused(
        &requester,
        receive,
        json!({ "input": { "orderId": big_po, "lines": [{ "line": 1, "item": "server", "quantity": "1" }] } }),
        "CONFLICT",
        Some("ORDER_STATE"),
    )
    .await;
    // A closed order receives nothing more; a received order is not cancelled.
    let data = app
        .ok(
            &requester,
            "mutation($id: ID!) { closePurchaseOrder(input: { orderId: $id }) { status } }",
            json!({ "id": po }),
        )
        .await;
    assert_eq!(data["closePurchaseOrder"]["status"], "CLOSED");
    app.refused(
        &requester,
        receive,
        receipt("1"),
        "CONFLICT",
        Some("ORDER_STATE"),
    )
    .await;
    // Only its requester withdraws a requisition, a draft or a submitted one.
    let cancel_pr =
        "mutation($id: ID!) { cancelRequisition(input: { requisitionId: $id }) { status } }";
    app.refused(
        &approver,
        cancel_pr,
        json!({ "id": second_pr }),
        "FORBIDDEN",
        None,
    )
    .await;
    let data = app
        .ok(
            &requester,
            create_pr,
            json!({ "input": { "title": "Small", "costCentre": "CC-1", "currency": "EUR",
            "lines": [{ "item": "cable-m", "quantity": "1", "unitPrice": "1" }] } }),
        )
        .await;
    let small = data["createRequisition"]["id"].as_str().unwrap().to_owned();
    app.ok(&requester, submit_pr, json!({ "id": small })).await;
    let data = app.ok(&requester, cancel_pr, json!({ "id": small })).await;
    assert_eq!(data["cancelRequisition"]["status"], "CANCELLED");
    app.refused(
        &requester,
        cancel,
        json!({ "id": po }),
        "CONFLICT",
        Some("ORDER_STATE"),
    )
    .await;

    let data = app
        .ok(
            &requester,
            "{ purchaseOrders(status: CANCELLED) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["purchaseOrders"]["nodes"], json!([{ "id": big_po }]));
    // Bad amounts: more decimals than the currency, a negative quantity.
    app.refused(
        &requester,
        &create_po,
        json!({ "input": { "supplier": "X", "currency": "EUR", "lines": [{ "item": "a", "quantity": "1", "unitPrice": "1.005" }] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    app.refused(
        &requester,
        &create_po,
        json!({ "input": { "supplier": "X", "currency": "EUR", "lines": [{ "item": "a", "quantity": "-1", "unitPrice": "1" }] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;

    app.outbox_drained().await;
}

/// `at` plus `minutes`, as the API writes instants (RFC 3339, milliseconds, `Z`).
fn plus_minutes(at: &Value, minutes: i64) -> Value {
    let at = chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap()).unwrap();
    let due = at.with_timezone(&chrono::Utc) + chrono::Duration::minutes(minutes);
    json!(due.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

const TICKET: &str = "id status createdAt mergedIntoId sla {
    firstResponse { targetMinutes dueAt metAt state }
    update { targetMinutes dueAt state }
    resolution { targetMinutes dueAt state pausedMinutes } }";

async fn helpdesk_tickets_with_sla_targets(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let agent = issuer.token(&tenant, "agent", ALL);
    let customer = issuer.token(&tenant, "customer", &["helpdesk:read", "helpdesk:submit"]);
    let stranger = issuer.token(&tenant, "stranger", &["helpdesk:read", "helpdesk:submit"]);

    // Round-the-clock hours in UTC, so due times are the creation time plus the target.
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    let set_policy = "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) {
        priority timeZone firstResponseMinutes resolutionMinutes weeklyHours { weekday start end } } }";
    let policy = |resolution: i64| {
        json!({ "input": { "priority": "HIGH", "timeZone": "UTC", "weeklyHours": all_week,
            "firstResponseMinutes": 30, "updateMinutes": 60, "resolutionMinutes": resolution } })
    };
    let data = app.ok(&agent, set_policy, policy(240)).await;
    assert_eq!(data["setSlaPolicy"]["timeZone"], "UTC");
    assert_eq!(
        data["setSlaPolicy"]["weeklyHours"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    // Overlapping hours are refused; a customer may not set policies.
    app.refused(
        &agent,
        set_policy,
        json!({ "input": { "priority": "LOW", "timeZone": "UTC", "firstResponseMinutes": 1, "updateMinutes": 1,
            "resolutionMinutes": 1, "weeklyHours": [
                { "weekday": "MONDAY", "start": "09:00", "end": "12:00" },
                { "weekday": "MONDAY", "start": "11:00", "end": "13:00" } ] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    let (_, body) = app.graphql(&customer, set_policy, policy(1)).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");

    let create = format!(
        "mutation($input: CreateTicketInput!) {{ createTicket(input: $input) {{ {TICKET} }} }}"
    );
    let data = app
        .ok(&customer, &create, json!({ "input": { "subject": "VPN down", "description": "Since 9:00", "priority": "HIGH", "channel": "PORTAL" } }))
        .await;
    let ticket = data["createTicket"].clone();
    let id = ticket["id"].as_str().unwrap().to_owned();
    let created = ticket["createdAt"].clone();
    assert_eq!(ticket["status"], "NEW");
    assert_eq!(
        ticket["sla"]["firstResponse"],
        json!({ "targetMinutes": 30, "dueAt": plus_minutes(&created, 30), "metAt": null, "state": "RUNNING" })
    );
    assert_eq!(
        ticket["sla"]["resolution"]["dueAt"],
        plus_minutes(&created, 240)
    );

    // The requester's own reply meets nothing; a stranger (no agent scope) may not reply.
    let reply = format!("mutation($id: ID!, $body: String!) {{ replyToTicket(input: {{ ticketId: $id, body: $body }}) {{
        reply {{ authorId byAgent }} ticket {{ {TICKET} }} }} }}");
    let data = app
        .ok(&customer, &reply, json!({ "id": id, "body": "Still down" }))
        .await;
    assert_eq!(
        data["replyToTicket"]["reply"],
        json!({ "authorId": "customer", "byAgent": false })
    );
    assert_eq!(
        data["replyToTicket"]["ticket"]["sla"]["firstResponse"]["state"],
        "RUNNING"
    );
    app.refused(
        &stranger,
        &reply,
        json!({ "id": id, "body": "me too" }),
        "FORBIDDEN",
        None,
    )
    .await;

    // The agent's reply meets the first response and opens the ticket.
    let data = app
        .ok(&agent, &reply, json!({ "id": id, "body": "Looking" }))
        .await;
    let after = &data["replyToTicket"]["ticket"];
    assert_eq!(after["status"], "OPEN");
    assert_eq!(after["sla"]["firstResponse"]["state"], "MET");
    assert_eq!(after["sla"]["firstResponse"]["dueAt"], Value::Null);
    assert_eq!(after["sla"]["update"]["state"], "RUNNING");

    // Pending pauses; the pause survives a policy change (the due time moves by exactly the
    // change of target).
    let status = format!("mutation($id: ID!, $s: TicketStatus!) {{ changeTicketStatus(input: {{ ticketId: $id, status: $s }}) {{ {TICKET} }} }}");
    let data = app
        .ok(&agent, &status, json!({ "id": id, "s": "PENDING" }))
        .await;
    assert_eq!(
        data["changeTicketStatus"]["sla"]["resolution"]["state"],
        "PAUSED"
    );
    assert_eq!(
        data["changeTicketStatus"]["sla"]["resolution"]["dueAt"],
        Value::Null
    );
    let data = app
        .ok(&agent, &status, json!({ "id": id, "s": "OPEN" }))
        .await;
    let due_240 = data["changeTicketStatus"]["sla"]["resolution"]["dueAt"].clone();
    assert_eq!(
        data["changeTicketStatus"]["sla"]["resolution"]["state"],
        "RUNNING"
    );
    app.ok(&agent, set_policy, policy(480)).await;
    let data = app
        .ok(
            &agent,
            &format!("query($id: ID!) {{ ticket(id: $id) {{ {TICKET} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["ticket"]["sla"]["resolution"]["targetMinutes"], 480);
    assert_eq!(
        data["ticket"]["sla"]["resolution"]["dueAt"],
        plus_minutes(&due_240, 240)
    );

    // Open -> closed skips resolved: refused. Resolve, close: no more replies.
    app.refused(
        &agent,
        &status,
        json!({ "id": id, "s": "CLOSED" }),
        "CONFLICT",
        Some("TICKET_STATE"),
    )
    .await;
    let data = app
        .ok(&agent, &status, json!({ "id": id, "s": "RESOLVED" }))
        .await;
    assert_eq!(
        data["changeTicketStatus"]["sla"]["resolution"]["state"],
        "MET"
    );
    app.ok(&agent, &status, json!({ "id": id, "s": "CLOSED" }))
        .await;
    app.refused(
        &agent,
        &reply,
        json!({ "id": id, "body": "?" }),
        "CONFLICT",
        Some("TICKET_STATE"),
    )
    .await;

    // Merging: a duplicate folds into a new ticket and takes no replies; never into itself.
    let data = app
        .ok(
            &customer,
            &create,
            json!({ "input": { "subject": "VPN", "description": "down", "priority": "LOW" } }),
        )
        .await;
    let first = data["createTicket"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["createTicket"]["sla"],
        Value::Null,
        "no policy for LOW"
    );
    let data = app
        .ok(
            &customer,
            &create,
            json!({ "input": { "subject": "VPN again", "description": "down" } }),
        )
        .await;
    let duplicate = data["createTicket"]["id"].as_str().unwrap().to_owned();
    let merge = format!("mutation($id: ID!, $into: ID!) {{ mergeTicket(input: {{ ticketId: $id, intoTicketId: $into }}) {{ {TICKET} }} }}");
    app.refused(
        &agent,
        &merge,
        json!({ "id": first, "into": first }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    app.refused(
        &agent,
        &merge,
        json!({ "id": first, "into": id }),
        "CONFLICT",
        Some("TICKET_STATE"),
    )
    .await;
    let data = app
        .ok(&agent, &merge, json!({ "id": duplicate, "into": first }))
        .await;
    assert_eq!(data["mergeTicket"]["status"], "MERGED");
    assert_eq!(data["mergeTicket"]["mergedIntoId"], json!(first));
    app.refused(
        &customer,
        &reply,
        json!({ "id": duplicate, "body": "hello?" }),
        "CONFLICT",
        Some("TICKET_MERGED"),
    )
    .await;
    app.refused(
        &agent,
        &status,
        json!({ "id": duplicate, "s": "OPEN" }),
        "CONFLICT",
        Some("TICKET_MERGED"),
    )
    .await;
    let data = app
        .ok(
            &agent,
            "{ tickets(status: MERGED) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["tickets"]["nodes"], json!([{ "id": duplicate }]));
    // Replies are listed oldest first.
    let data = app
        .ok(
            &agent,
            "query($id: ID!) { ticket(id: $id) { replies { nodes { authorId byAgent } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        data["ticket"]["replies"]["nodes"],
        json!([{ "authorId": "customer", "byAgent": false }, { "authorId": "agent", "byAgent": true }])
    );

    app.outbox_drained().await;
}

async fn sla_breaches_fire_once_by_timer_across_a_restart(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let agent = issuer.token(&tenant, "agent", ALL);
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    app.ok(
        &agent,
        "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }",
        json!({ "input": { "priority": "URGENT", "timeZone": "UTC", "weeklyHours": all_week,
            "firstResponseMinutes": 1, "updateMinutes": 600, "resolutionMinutes": 600 } }),
    )
    .await;
    let data = app
        .ok(
            &agent,
            "mutation { createTicket(input: { subject: \"Down\", description: \"All of it\", priority: URGENT }) { id } }",
            json!({}),
        )
        .await;
    let id = data["createTicket"]["id"].as_str().unwrap().to_owned();
    let query = "query($id: ID!) { ticket(id: $id) { sla {
        firstResponse { state breachFired } update { state breachFired } } } }";

    // The timer fires the first-response breach about a minute later (no one answered).
    let fired = erp_tests::eventually(std::time::Duration::from_secs(120), || {
        let app = &app;
        let agent = agent.clone();
        let id = id.clone();
        async move {
            let (_, body) = app.graphql(&agent, query, json!({ "id": id })).await;
            (body["data"]["ticket"]["sla"]["firstResponse"]["breachFired"] == true).then_some(body)
        }
    })
    .await
    .expect("the breach fires within two minutes of the creation");
    assert_eq!(
        fired["data"]["ticket"]["sla"],
        json!({ "firstResponse": { "state": "BREACHED", "breachFired": true },
                "update": { "state": "RUNNING", "breachFired": false } })
    );
    app.outbox_drained().await;

    // After a restart the fired flag stays, and the timer finds nothing more due.
    let app = app.respawn(&issuer).await;
    let data = app.ok(&agent, query, json!({ "id": id })).await;
    assert_eq!(
        data["ticket"]["sla"]["firstResponse"],
        json!({ "state": "BREACHED", "breachFired": true })
    );
    assert!(app
        .store
        .due_breaches(chrono::Utc::now().timestamp_millis(), 10)
        .await
        .unwrap()
        .is_empty());
}

const SOP: &str =
    "id title versions { number contentHash status } currentVersion { number contentHash }
    needsMyAcknowledgement acknowledgements { userId version contentHash }";

async fn sop_versions_and_acknowledgements(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let author = issuer.token(&tenant, "author", ALL);
    let worker = issuer.token(&tenant, "worker", &["sop:read"]);

    let data = app
        .ok(&author, &format!("mutation {{ createSop(input: {{ title: \"Lab safety\", content: \"Wear gloves.\" }}) {{ {SOP} }} }}"), json!({}))
        .await;
    let sop = data["createSop"].clone();
    let id = sop["id"].as_str().unwrap().to_owned();
    let hash1 = sop["versions"][0]["contentHash"]
        .as_str()
        .unwrap()
        .to_owned();
    // Content-addressed: the hash is the SHA-256 of the bytes.
    let sha256 = |text: &str| -> String {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(hash1, sha256("Wear gloves."));
    assert_eq!(
        sop["versions"],
        json!([{ "number": 1, "contentHash": hash1, "status": "DRAFT" }])
    );
    assert_eq!(sop["currentVersion"], Value::Null);
    assert_eq!(sop["needsMyAcknowledgement"], false);

    let version_op = |name: &str| {
        format!("mutation($id: ID!, $v: Int!) {{ {name}(input: {{ sopId: $id, version: $v }}) {{ {SOP} }} }}")
    };
    let ack = format!("mutation($id: ID!, $h: String!) {{ acknowledgeSop(input: {{ sopId: $id, contentHash: $h }}) {{ {SOP} }} }}");
    // Nothing published yet: nothing to acknowledge.
    app.refused(
        &worker,
        &ack,
        json!({ "id": id, "h": hash1 }),
        "CONFLICT",
        Some("SOP_NOT_CURRENT"),
    )
    .await;
    app.ok(
        &author,
        &version_op("submitSopVersion"),
        json!({ "id": id, "v": 1 }),
    )
    .await;
    // Submitted content never changes.
    let update = format!("mutation($id: ID!, $v: Int!, $c: String!) {{ updateSopDraft(input: {{ sopId: $id, version: $v, content: $c }}) {{ {SOP} }} }}");
    app.refused(
        &author,
        &update,
        json!({ "id": id, "v": 1, "c": "changed" }),
        "CONFLICT",
        Some("SOP_VERSION_IMMUTABLE"),
    )
    .await;
    let data = app
        .ok(
            &author,
            &version_op("publishSopVersion"),
            json!({ "id": id, "v": 1 }),
        )
        .await;
    assert_eq!(
        data["publishSopVersion"]["currentVersion"],
        json!({ "number": 1, "contentHash": hash1 })
    );

    // The worker acknowledges version 1 (twice is once).
    let data = app
        .ok(
            &worker,
            &format!("query($id: ID!) {{ sop(id: $id) {{ {SOP} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["sop"]["needsMyAcknowledgement"], true);
    app.ok(&worker, &ack, json!({ "id": id, "h": hash1 })).await;
    let data = app.ok(&worker, &ack, json!({ "id": id, "h": hash1 })).await;
    assert_eq!(data["acknowledgeSop"]["needsMyAcknowledgement"], false);
    assert_eq!(
        data["acknowledgeSop"]["acknowledgements"],
        json!([{ "userId": "worker", "version": 1, "contentHash": hash1 }])
    );

    // Version 2 supersedes it: the acknowledgement of version 1 stays, a new one is needed,
    // and version 1 can no longer be acknowledged.
    let add = format!("mutation($id: ID!, $c: String!) {{ addSopVersion(input: {{ sopId: $id, content: $c }}) {{ {SOP} }} }}");
    app.ok(
        &author,
        &add,
        json!({ "id": id, "c": "Wear gloves and goggles." }),
    )
    .await;
    app.refused(
        &author,
        &add,
        json!({ "id": id, "c": "A third" }),
        "CONFLICT",
        Some("SOP_VERSION_STATE"),
    )
    .await;
    let data = app
        .ok(
            &author,
            &update,
            json!({ "id": id, "v": 2, "c": "Wear gloves and goggles!" }),
        )
        .await;
    let hash2 = data["updateSopDraft"]["versions"][1]["contentHash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(hash2, sha256("Wear gloves and goggles!"));
    app.ok(
        &author,
        &version_op("submitSopVersion"),
        json!({ "id": id, "v": 2 }),
    )
    .await;
    let data = app
        .ok(
            &author,
            &version_op("publishSopVersion"),
            json!({ "id": id, "v": 2 }),
        )
        .await;
    assert_eq!(
        data["publishSopVersion"]["versions"],
        json!([{ "number": 1, "contentHash": hash1, "status": "SUPERSEDED" },
               { "number": 2, "contentHash": hash2, "status": "PUBLISHED" }])
    );
    let data = app
        .ok(
            &worker,
            &format!("query($id: ID!) {{ sop(id: $id) {{ {SOP} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["sop"]["needsMyAcknowledgement"], true);
    app.refused(
        &worker,
        &ack,
        json!({ "id": id, "h": hash1 }),
        "CONFLICT",
        Some("SOP_NOT_CURRENT"),
    )
    .await;
    let data = app.ok(&worker, &ack, json!({ "id": id, "h": hash2 })).await;
    assert_eq!(
        data["acknowledgeSop"]["acknowledgements"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A worker may not publish; a malformed hash is bad input.
    let (_, body) = app
        .graphql(
            &worker,
            &version_op("publishSopVersion"),
            json!({ "id": id, "v": 2 }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    app.refused(
        &worker,
        &ack,
        json!({ "id": id, "h": "abc" }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
}

async fn concurrent_check_outs_and_seat_assignments_never_oversubscribe(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let it = issuer.token(&tenant, "it-desk", ALL);
    let data = app
        .ok(
            &it,
            REGISTER,
            json!({ "input": asset_input("RACE-1", "999") }),
        )
        .await;
    let asset = data["registerAsset"]["id"].as_str().unwrap().to_owned();

    // Ten people grab the same laptop at once: exactly one gets it (O4).
    let check_out = "mutation($a: ID!, $p: ID!) { checkOutAssets(input: { assetIds: [$a], holder: { type: PERSON, id: $p } }) { count } }";
    let attempts = (0..10).map(|n| {
        let (app, it, asset) = (&app, it.clone(), asset.clone());
        async move {
            app.graphql(
                &it,
                check_out,
                json!({ "a": asset, "p": format!("person-{n}") }),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let won = answers
        .iter()
        .filter(|(_, body)| body["errors"].is_null())
        .count();
    assert_eq!(won, 1, "{answers:?}");
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        if !body["errors"].is_null() {
            assert_eq!(error_codes(body), ["CONFLICT"], "{body}");
        }
    }
    let data = app.ok(&it, ASSET, json!({ "id": asset })).await;
    assert_eq!(
        data["asset"]["history"]["nodes"].as_array().unwrap().len(),
        1
    );

    // Ten assignments of one seat race for five seats: never more than five succeed (a loser
    // is CONFLICT: no seat left, or it kept colliding); the seats left are then assigned one by
    // one until the license refuses, and the total is exactly five.
    let data = app
        .ok(
            &it,
            "mutation { createSoftwareLicense(input: { name: \"CAD\", seatsOwned: 5 }) { id } }",
            json!({}),
        )
        .await;
    let license = data["createSoftwareLicense"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assign = "mutation($l: ID!, $p: ID!) { assignLicenseSeats(input: { licenseId: $l, holder: { type: PERSON, id: $p } }) { seatsAssigned } }";
    let attempts = (0..10).map(|n| {
        let (app, it, license) = (&app, it.clone(), license.clone());
        async move {
            app.graphql(
                &it,
                assign,
                json!({ "l": license, "p": format!("person-{n}") }),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let won = answers
        .iter()
        .filter(|(_, body)| body["errors"].is_null())
        .count();
    assert!((1..=5).contains(&won), "{answers:?}");
    for (_, body) in &answers {
        if !body["errors"].is_null() {
            assert_eq!(error_codes(body), ["CONFLICT"], "{body}");
        }
    }
    for n in won..5 {
        app.ok(
            &it,
            assign,
            json!({ "l": license, "p": format!("late-{n}") }),
        )
        .await;
    }
    app.refused(
        &it,
        assign,
        json!({ "l": license, "p": "one-too-many" }),
        "CONFLICT",
        Some("SEATS_EXHAUSTED"),
    )
    .await;
    let data = app
        .ok(&it, "query($l: ID!) { softwareLicense(id: $l) { seatsAssigned seatsFree assignments { seats } } }", json!({ "l": license }))
        .await;
    assert_eq!(data["softwareLicense"]["seatsAssigned"], 5);
    assert_eq!(data["softwareLicense"]["seatsFree"], 0);
    assert_eq!(
        data["softwareLicense"]["assignments"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

/// The next subscription message within `wait`, or `None` (pings skipped).
async fn ws_within(
    socket: &mut erp_tests::pmo::Socket,
    wait: std::time::Duration,
) -> Option<Value> {
    tokio::time::timeout(wait, erp_tests::pmo::ws_next(socket))
        .await
        .ok()
}

const QUEUE: &str = "subscription($p: [TicketPriority!]) { ticketQueue(priorities: $p) {
    change ticketId status priority actorId ticket { subject status } } }";
const NEW_TICKET: &str =
    "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }";

async fn the_ticket_queue_subscription_sees_changes_live(store: Store) {
    use erp_tests::pmo::{ws_connect_at, ws_subscribe};
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let agent = issuer.token(&tenant, "agent", ALL);
    let customer = issuer.token(&tenant, "customer", &["helpdesk:submit"]);
    let ticket = |subject: &str, priority: &str| json!({ "input": { "subject": subject, "description": "d", "priority": priority, "channel": "PORTAL" } });

    // Without helpdesk:read the subscription is refused.
    let (mut refused, ack) = ws_connect_at(app.addr, &customer).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws_subscribe(&mut refused, "1", QUEUE, json!({})).await;
    let message = erp_tests::pmo::ws_next(&mut refused).await;
    assert_eq!(
        error_codes(&message["payload"]),
        vec!["UNAUTHORIZED_FIELD_OR_TYPE"],
        "{message}"
    );

    let (mut socket, ack) = ws_connect_at(app.addr, &agent).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws_subscribe(&mut socket, "1", QUEUE, json!({ "p": ["URGENT"] })).await;
    // The subscription is set up asynchronously: a ticket raised before it listens is not
    // seen, so raise urgent tickets until one is (every one of them is a real change).
    let mut first = None;
    for attempt in 0..40 {
        let id = app
            .ok(
                &customer,
                NEW_TICKET,
                ticket(&format!("Probe {attempt}"), "URGENT"),
            )
            .await["createTicket"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if let Some(message) = ws_within(&mut socket, std::time::Duration::from_millis(500)).await {
            first = Some((id, message));
            break;
        }
    }
    let (probe, message) = first.expect("the subscription sees a raised ticket");
    let probe_subject = app
        .ok(
            &agent,
            "query($id: ID!) { ticket(id: $id) { subject } }",
            json!({ "id": probe }),
        )
        .await["ticket"]["subject"]
        .clone();
    let event = &message["payload"]["data"]["ticketQueue"];
    assert_eq!(event["change"], "CREATED", "{message}");
    assert_eq!(event["priority"], "URGENT");
    assert_eq!(event["status"], "NEW");
    assert_eq!(event["actorId"], "customer");
    // Later probes may still be in flight: skip to the newest ticket's creation.
    let mut event = event.clone();
    while event["ticketId"] != json!(probe) {
        let message = erp_tests::pmo::ws_next(&mut socket).await;
        event = message["payload"]["data"]["ticketQueue"].clone();
        assert_eq!(event["change"], "CREATED", "{message}");
    }

    // A low-priority ticket is filtered out; the agent's status change is seen, with the
    // ticket as it is now.
    app.ok(&customer, NEW_TICKET, ticket("Printer", "LOW"))
        .await;
    app.ok(
        &agent,
        "mutation($id: ID!) { changeTicketStatus(input: { ticketId: $id, status: PENDING }) { id } }",
        json!({ "id": probe }),
    )
    .await;
    let message = erp_tests::pmo::ws_next(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["ticketQueue"],
        json!({ "change": "STATUS_CHANGED", "ticketId": probe, "status": "PENDING",
                "priority": "URGENT", "actorId": "agent",
                "ticket": { "subject": probe_subject, "status": "PENDING" } }),
        "{message}"
    );
    // The customer's reply.
    app.ok(
        &customer,
        "mutation($id: ID!) { replyToTicket(input: { ticketId: $id, body: \"any news?\" }) { ticket { id } } }",
        json!({ "id": probe }),
    )
    .await;
    let message = erp_tests::pmo::ws_next(&mut socket).await;
    let event = &message["payload"]["data"]["ticketQueue"];
    assert_eq!(
        (
            event["change"].as_str(),
            event["ticketId"].as_str(),
            event["actorId"].as_str()
        ),
        (Some("REPLIED"), Some(probe.as_str()), Some("customer")),
        "{message}"
    );
    // Another tenant's tickets never reach this queue.
    let other = issuer.token(&self::tenant(), "customer", &["helpdesk:submit"]);
    app.ok(&other, NEW_TICKET, ticket("Elsewhere", "URGENT"))
        .await;
    app.ok(
        &agent,
        "mutation($id: ID!) { changeTicketStatus(input: { ticketId: $id, status: OPEN }) { id } }",
        json!({ "id": probe }),
    )
    .await;
    let message = erp_tests::pmo::ws_next(&mut socket).await;
    let event = &message["payload"]["data"]["ticketQueue"];
    assert_eq!(
        (
            event["change"].as_str(),
            event["ticketId"].as_str(),
            event["status"].as_str()
        ),
        (Some("STATUS_CHANGED"), Some(probe.as_str()), Some("OPEN")),
        "{message}"
    );
}

async fn lists_load_policies_and_requisitions_in_batches(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let agent = issuer.token(&tenant, "agent", ALL);
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    for (priority, first_response) in [("HIGH", 30), ("LOW", 480)] {
        app.ok(
            &agent,
            "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }",
            json!({ "input": { "priority": priority, "timeZone": "UTC", "weeklyHours": all_week,
                "firstResponseMinutes": first_response, "updateMinutes": 60, "resolutionMinutes": 960 } }),
        )
        .await;
    }
    for (subject, priority) in [("A", "HIGH"), ("B", "LOW"), ("C", "HIGH"), ("D", "NORMAL")] {
        app.ok(
            &agent,
            NEW_TICKET,
            json!({ "input": { "subject": subject, "description": "d", "priority": priority, "channel": "API" } }),
        )
        .await;
    }
    // One page, each ticket's targets from its priority's policy (NORMAL has none).
    let data = app
        .ok(
            &agent,
            "{ tickets(first: 10) { nodes { subject sla { firstResponse { targetMinutes } resolution { targetMinutes } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["tickets"]["nodes"],
        json!([
            { "subject": "A", "sla": { "firstResponse": { "targetMinutes": 30 }, "resolution": { "targetMinutes": 960 } } },
            { "subject": "B", "sla": { "firstResponse": { "targetMinutes": 480 }, "resolution": { "targetMinutes": 960 } } },
            { "subject": "C", "sla": { "firstResponse": { "targetMinutes": 30 }, "resolution": { "targetMinutes": 960 } } },
            { "subject": "D", "sla": null },
        ])
    );
    // A page of orders reads the requisitions they were raised from.
    let requester = issuer.token(&tenant, "rita", ALL);
    app.ok(
        &agent,
        "mutation { setBudget(input: { costCentre: \"CC-L\", amount: { amount: \"100000\", currency: \"EUR\" } }) { costCentre } }",
        json!({}),
    )
    .await;
    for (title, supplier) in [("Chairs", "Steelcase"), ("Desks", "Ikea")] {
        let pr = approved_requisition(&app, &requester, &agent, title, "CC-L").await;
        app.ok(
            &requester,
            "mutation($input: CreatePurchaseOrderInput!) { createPurchaseOrder(input: $input) { id } }",
            json!({ "input": { "requisitionId": pr, "supplier": supplier, "currency": "EUR",
                "lines": [{ "item": "unit", "quantity": "1", "unitPrice": "10" }] } }),
        )
        .await;
    }
    app.ok(
        &requester,
        "mutation($input: CreatePurchaseOrderInput!) { createPurchaseOrder(input: $input) { id } }",
        json!({ "input": { "supplier": "Direct", "currency": "EUR",
            "lines": [{ "item": "unit", "quantity": "1", "unitPrice": "10" }] } }),
    )
    .await;
    let data = app
        .ok(
            &agent,
            "{ purchaseOrders(first: 10) { nodes { supplier requisition { title status } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["purchaseOrders"]["nodes"],
        json!([
            { "supplier": "Steelcase", "requisition": { "title": "Chairs", "status": "ORDERED" } },
            { "supplier": "Ikea", "requisition": { "title": "Desks", "status": "ORDERED" } },
            { "supplier": "Direct", "requisition": null },
        ])
    );

    // Another tenant's list never sees this tenant's policies or tickets.
    let stranger = issuer.token(&self::tenant(), "agent", ALL);
    let data = app
        .ok(
            &stranger,
            "{ tickets(first: 10) { nodes { subject } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["tickets"]["nodes"], json!([]));
}

/// A requisition of one line (10.00 EUR) on `cost_centre`, submitted by `requester` and
/// approved by `approver`; its id.
async fn approved_requisition(
    app: &OpsApp,
    requester: &str,
    approver: &str,
    title: &str,
    cost_centre: &str,
) -> String {
    let one_line = json!([{ "item": "unit", "quantity": "1", "unitPrice": "10" }]);
    approved_requisition_of(app, requester, approver, title, cost_centre, one_line).await
}

/// [`approved_requisition`] with the lines given.
async fn approved_requisition_of(
    app: &OpsApp,
    requester: &str,
    approver: &str,
    title: &str,
    cost_centre: &str,
    lines: Value,
) -> String {
    let data = app
        .ok(
            requester,
            "mutation($input: CreateRequisitionInput!) { createRequisition(input: $input) { id } }",
            json!({ "input": { "title": title, "costCentre": cost_centre, "currency": "EUR",
                "lines": lines } }),
        )
        .await;
    let id = data["createRequisition"]["id"].as_str().unwrap().to_owned();
    app.ok(
        requester,
        "mutation($id: ID!) { submitRequisition(input: { requisitionId: $id }) { status } }",
        json!({ "id": id }),
    )
    .await;
    let data = app
        .ok(
            approver,
            "mutation($id: ID!) { approveRequisition(input: { requisitionId: $id }) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["approveRequisition"]["status"], "APPROVED");
    id
}

const RFQ_FIELDS: &str = "id title status suppliers currency
    lines { line item quantity }
    quotations { supplier unitPrices { amount } total { amount currency } validUntil awarded recordedById }
    requisition { id status } purchaseOrder { id supplier }";

async fn rfqs_compare_quotations_and_the_award_raises_the_order(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let requester = issuer.token(&tenant, "rita", ALL);
    let approver = issuer.token(&tenant, "adam", ALL);
    let buyer = issuer.token(&tenant, "bea", ALL);
    let clerk = issuer.token(&tenant, "carl", &["procurement:read", "procurement:order"]);

    // Approval thresholds: the service's default until the tenant sets its own.
    let thresholds =
        "{ approvalThresholds { currency custom tiers { fromMinorUnits approvers } } }";
    let data = app.ok(&clerk, thresholds, json!({})).await;
    assert_eq!(
        data["approvalThresholds"],
        json!({ "currency": null, "custom": false, "tiers": [
            { "fromMinorUnits": "0", "approvers": 1 }, { "fromMinorUnits": "1000000", "approvers": 2 } ] })
    );
    let set =
        "mutation($input: SetApprovalThresholdsInput!) { setApprovalThresholds(input: $input) {
        currency custom tiers { fromMinorUnits approvers } } }";
    let tiers = json!({ "input": { "currency": "EUR", "tiers": [
        { "from": "1000", "approvers": 2 }, { "from": "0", "approvers": 1 } ] } });
    let (_, body) = app.graphql(&clerk, set, tiers.clone()).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    app.refused(
        &approver,
        set,
        json!({ "input": { "currency": "EUR", "tiers": [
            { "from": "10", "approvers": 1 }, { "from": "10", "approvers": 2 } ] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    app.refused(
        &approver,
        set,
        json!({ "input": { "currency": "EUR", "tiers": [{ "from": "10", "approvers": 6 }] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    let expected = json!({ "currency": "EUR", "custom": true, "tiers": [
        { "fromMinorUnits": "0", "approvers": 1 }, { "fromMinorUnits": "100000", "approvers": 2 } ] });
    let data = app.ok(&approver, set, tiers).await;
    assert_eq!(data["setApprovalThresholds"], expected);
    assert_eq!(
        app.ok(&clerk, thresholds, json!({})).await["approvalThresholds"],
        expected
    );

    app.ok(
        &approver,
        "mutation { setBudget(input: { costCentre: \"CC-R\", amount: { amount: \"100000\", currency: \"EUR\" } }) { costCentre } }",
        json!({}),
    )
    .await;
    let pr = approved_requisition_of(
        &app,
        &requester,
        &approver,
        "Office furniture",
        "CC-R",
        json!([{ "item": "chair", "quantity": "10", "unitPrice": "100" },
               { "item": "desk", "quantity": "2", "unitPrice": "300" }]),
    )
    .await;

    // Only an approved requisition is sent for quotation.
    let draft = app
        .ok(
            &requester,
            "mutation($input: CreateRequisitionInput!) { createRequisition(input: $input) { id } }",
            json!({ "input": { "title": "Draft", "costCentre": "CC-R", "currency": "EUR",
                "lines": [{ "item": "x", "quantity": "1", "unitPrice": "1" }] } }),
        )
        .await["createRequisition"]["id"]
        .clone();
    let create = format!(
        "mutation($input: CreateRfqInput!) {{ createRfq(input: $input) {{ {RFQ_FIELDS} }} }}"
    );
    app.refused(
        &buyer,
        &create,
        json!({ "input": { "requisitionId": draft, "suppliers": ["Steelcase"] } }),
        "CONFLICT",
        Some("REQUISITION_STATE"),
    )
    .await;
    app.refused(
        &buyer,
        &create,
        json!({ "input": { "requisitionId": pr, "suppliers": ["Ikea", "IKEA"] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    let data = app
        .ok(
            &buyer,
            &create,
            json!({ "input": { "requisitionId": pr, "suppliers": ["Steelcase", "Ikea"] } }),
        )
        .await;
    let rfq = data["createRfq"].clone();
    let rfq_id = rfq["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &rfq["title"],
            &rfq["status"],
            &rfq["suppliers"],
            &rfq["currency"]
        ),
        (
            &json!("Office furniture"),
            &json!("OPEN"),
            &json!(["Steelcase", "Ikea"]),
            &json!("EUR")
        )
    );
    assert_eq!(
        rfq["lines"],
        json!([{ "line": 1, "item": "chair", "quantity": "10.000" }, { "line": 2, "item": "desk", "quantity": "2.000" }])
    );
    assert_eq!(
        rfq["requisition"],
        json!({ "id": pr, "status": "APPROVED" })
    );

    // Quotations: invited suppliers, once each, every line priced.
    let quote = format!("mutation($input: RecordQuotationInput!) {{ recordQuotation(input: $input) {{ {RFQ_FIELDS} }} }}");
    let quotation = |supplier: &str, prices: Value| json!({ "input": { "rfqId": rfq_id, "supplier": supplier, "unitPrices": prices, "validUntil": "2999-12-31" } });
    app.ok(&buyer, &quote, quotation("Ikea", json!(["90", "350"])))
        .await;
    let data = app
        .ok(&clerk, &quote, quotation("steelcase", json!(["95", "280"])))
        .await;
    assert_eq!(
        data["recordQuotation"]["quotations"],
        json!([
            { "supplier": "Steelcase", "unitPrices": [{ "amount": "95.00" }, { "amount": "280.00" }],
              "total": { "amount": "1510.00", "currency": "EUR" }, "validUntil": "2999-12-31", "awarded": false, "recordedById": "carl" },
            { "supplier": "Ikea", "unitPrices": [{ "amount": "90.00" }, { "amount": "350.00" }],
              "total": { "amount": "1600.00", "currency": "EUR" }, "validUntil": "2999-12-31", "awarded": false, "recordedById": "bea" },
        ])
    );
    app.refused(
        &buyer,
        &quote,
        quotation("Initech", json!(["1", "1"])),
        "CONFLICT",
        Some("SUPPLIER_NOT_INVITED"),
    )
    .await;
    app.refused(
        &buyer,
        &quote,
        quotation("IKEA", json!(["1", "1"])),
        "CONFLICT",
        Some("QUOTATION_EXISTS"),
    )
    .await;
    app.refused(
        &buyer,
        &quote,
        quotation("Steelcase", json!(["1"])),
        "CONFLICT",
        Some("QUOTATION_EXISTS"),
    )
    .await;
    app.refused(
        &buyer,
        &quote,
        quotation("Ikea", json!(["1.001", "1"])),
        "BAD_USER_INPUT",
        None,
    )
    .await;

    // The award raises the draft order at the winning prices; 1,510.00 EUR needs two
    // approvers under the tenant's thresholds (one under the default).
    let rfq_doc = app
        .ok(
            &clerk,
            "query($id: ID!) { rfq(id: $id) { quotations { id supplier } } }",
            json!({ "id": rfq_id }),
        )
        .await;
    let steelcase = rfq_doc["rfq"]["quotations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ikea = rfq_doc["rfq"]["quotations"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let award = format!(
        "mutation($input: AwardRfqInput!) {{ awardRfq(input: $input) {{ rfq {{ {RFQ_FIELDS} }}
        purchaseOrder {{ {ORDER_FIELDS} supplier requesterId requisition {{ id status }} }} }} }}"
    );
    let data = app
        .ok(
            &buyer,
            &award,
            json!({ "input": { "rfqId": rfq_id, "quotationId": steelcase } }),
        )
        .await;
    let order = &data["awardRfq"]["purchaseOrder"];
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &order["status"],
            &order["supplier"],
            &order["requesterId"],
            &order["total"],
            &order["requiredApprovals"]
        ),
        (
            &json!("DRAFT"),
            &json!("Steelcase"),
            &json!("bea"),
            &json!({ "amount": "1510.00", "currency": "EUR" }),
            &json!(2)
        )
    );
    assert_eq!(
        order["lines"],
        json!([
            { "line": 1, "item": "chair", "quantity": "10.000", "unitPrice": { "amount": "95.00" }, "amount": { "amount": "950.00" } },
            { "line": 2, "item": "desk", "quantity": "2.000", "unitPrice": { "amount": "280.00" }, "amount": { "amount": "560.00" } },
        ])
    );
    assert_eq!(
        order["requisition"],
        json!({ "id": pr, "status": "ORDERED" })
    );
    let rfq = &data["awardRfq"]["rfq"];
    assert_eq!(rfq["status"], "AWARDED");
    assert_eq!(
        rfq["purchaseOrder"],
        json!({ "id": order_id, "supplier": "Steelcase" })
    );
    assert_eq!(
        rfq["quotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["awarded"].clone())
            .collect::<Vec<_>>(),
        [json!(true), json!(false)]
    );
    // Awarded is final: no other award, no more quotations, no cancellation.
    app.refused(
        &buyer,
        &award,
        json!({ "input": { "rfqId": rfq_id, "quotationId": ikea } }),
        "CONFLICT",
        Some("RFQ_STATE"),
    )
    .await;
    app.refused(
        &buyer,
        &quote,
        quotation("Ikea", json!(["1", "1"])),
        "CONFLICT",
        Some("RFQ_STATE"),
    )
    .await;
    let cancel = "mutation($id: ID!) { cancelRfq(input: { rfqId: $id }) { status } }";
    app.refused(
        &buyer,
        cancel,
        json!({ "id": rfq_id }),
        "CONFLICT",
        Some("RFQ_STATE"),
    )
    .await;
    let data = app
        .ok(
            &clerk,
            "{ purchaseOrders(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["purchaseOrders"]["nodes"],
        json!([{ "id": order_id }]),
        "one order"
    );

    // An open RFQ is cancelled once; its requisition stays approved.
    let second = approved_requisition(&app, &requester, &approver, "Lamps", "CC-R").await;
    let data = app
        .ok(
            &buyer,
            &create,
            json!({ "input": { "requisitionId": second, "suppliers": ["Ikea"] } }),
        )
        .await;
    let second_rfq = data["createRfq"]["id"].clone();
    assert_eq!(
        app.ok(&buyer, cancel, json!({ "id": second_rfq })).await["cancelRfq"]["status"],
        "CANCELLED"
    );
    app.refused(
        &buyer,
        cancel,
        json!({ "id": second_rfq }),
        "CONFLICT",
        Some("RFQ_STATE"),
    )
    .await;
    let data = app
        .ok(
            &clerk,
            "{ rfqs(status: CANCELLED) { nodes { id requisition { status } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["rfqs"]["nodes"],
        json!([{ "id": second_rfq, "requisition": { "status": "APPROVED" } }])
    );

    // An order in another currency than the thresholds' needs the most approvers (fails
    // closed: no conversion), however small.
    let data = app
        .ok(
            &requester,
            &format!("mutation($input: CreatePurchaseOrderInput!) {{ createPurchaseOrder(input: $input) {{ {ORDER_FIELDS} }} }}"),
            json!({ "input": { "supplier": "Acme Inc", "currency": "USD",
                "lines": [{ "item": "cable", "quantity": "1", "unitPrice": "5" }] } }),
        )
        .await;
    assert_eq!(data["createPurchaseOrder"]["requiredApprovals"], 2);
    // Another tenant sees none of it.
    let stranger = issuer.token(&self::tenant(), "x", ALL);
    app.ok(
        &stranger,
        "query($id: ID!) { rfq(id: $id) { id } }",
        json!({ "id": rfq_id }),
    )
    .await;
    let data = app
        .ok(
            &stranger,
            "query($id: ID!) { rfq(id: $id) { id } }",
            json!({ "id": rfq_id }),
        )
        .await;
    assert!(data["rfq"].is_null());
}

async fn sop_files_live_in_object_storage_behind_signed_urls(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let author = issuer.token(&tenant, "olga", ALL);
    let reader = issuer.token(&tenant, "rick", &["sop:read"]);
    let content = "# Fire drill\n\n1. Leave by the stairs.\n";
    let hash = erp_ops::domain::sop::ContentHash::of(content.as_bytes());
    let data = app
        .ok(
            &author,
            "mutation($input: CreateSopInput!) { createSop(input: $input) { id versions { number contentHash content } } }",
            json!({ "input": { "title": "Fire drill", "content": content } }),
        )
        .await;
    let sop = data["createSop"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["createSop"]["versions"],
        json!([{ "number": 1, "contentHash": hash.as_str(), "content": content }])
    );
    // The document holds the hash, not the bytes; the file is under <tenant>/<hash>.
    let docs = app
        .store
        .get(
            &erp_kit::TenantId::from_claim(&tenant),
            erp_ops::store::Kind::Sops,
            std::slice::from_ref(&sop),
        )
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    assert!(
        docs[0]["versions"][0].get("content").is_none(),
        "{}",
        docs[0]
    );
    assert_eq!(docs[0]["versions"][0]["hash"], hash.as_str());
    let file = app.files.join(&tenant).join(hash.as_str());
    assert_eq!(std::fs::read(&file).unwrap(), content.as_bytes());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "readable by the service's user only");
    }

    // A signed URL serves the bytes without a token.
    let url_query = "query($id: ID!, $s: Int) { sop(id: $id) { versions { downloadUrl(expiresInSeconds: $s) { url expiresAt } } } }";
    let data = app
        .ok(&reader, url_query, json!({ "id": sop, "s": 120 }))
        .await;
    let url = data["sop"]["versions"][0]["downloadUrl"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&format!("/sop-files/{tenant}/{}?expires=", hash.as_str())),
        "{url}"
    );
    let get = |path: String| {
        let http = app.http.clone();
        let addr = app.addr;
        async move {
            let response = http
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = response.bytes().await.unwrap().to_vec();
            (status, content_type, body)
        }
    };
    let (status, content_type, body) = get(url.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type.as_deref(),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(body, content.as_bytes());

    // Tampered signatures, another tenant in the path, a missing signature: refused.
    let forbidden = |body: &[u8]| {
        let body: Value = serde_json::from_slice(body).unwrap();
        error_codes(&body)
    };
    let tampered = format!("{}0", &url[..url.len() - 1]);
    let tampered = if tampered == url {
        format!("{}1", &url[..url.len() - 1])
    } else {
        tampered
    };
    let (status, _, body) = get(tampered).await;
    assert_eq!(
        (status, forbidden(&body)),
        (403, vec!["FORBIDDEN".to_owned()])
    );
    let other = url.replace(&tenant, &self::tenant());
    let (status, _, body) = get(other).await;
    assert_eq!(
        (status, forbidden(&body)),
        (403, vec!["FORBIDDEN".to_owned()])
    );
    let (status, _, body) = get(format!("/sop-files/{tenant}/{}", hash.as_str())).await;
    assert_eq!(
        (status, forbidden(&body)),
        (400, vec!["BAD_USER_INPUT".to_owned()])
    );
    let (_, body) = app
        .graphql(&reader, url_query, json!({ "id": sop, "s": 0 }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    // A URL stops working once expired.
    let data = app
        .ok(&reader, url_query, json!({ "id": sop, "s": 1 }))
        .await;
    let short = data["sop"]["versions"][0]["downloadUrl"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (status, _, body) = get(short).await;
    assert_eq!(
        (status, forbidden(&body)),
        (403, vec!["FORBIDDEN".to_owned()])
    );

    // Published, then a new version: its bytes get their own file; the first one's stay.
    for step in ["submitSopVersion", "publishSopVersion"] {
        app.ok(
            &author,
            &format!(
                "mutation($id: ID!) {{ {step}(input: {{ sopId: $id, version: 1 }}) {{ id }} }}"
            ),
            json!({ "id": sop }),
        )
        .await;
    }
    let second = "# Fire drill\n\n1. Leave by the stairs.\n2. Meet at the car park.\n";
    let data = app
        .ok(
            &author,
            "mutation($input: AddSopVersionInput!) { addSopVersion(input: $input) { versions { number contentHash content } } }",
            json!({ "input": { "sopId": sop, "content": second } }),
        )
        .await;
    let second_hash = erp_ops::domain::sop::ContentHash::of(second.as_bytes());
    assert_eq!(
        data["addSopVersion"]["versions"],
        json!([{ "number": 1, "contentHash": hash.as_str(), "content": content },
               { "number": 2, "contentHash": second_hash.as_str(), "content": second }])
    );
    assert_eq!(std::fs::read(&file).unwrap(), content.as_bytes());

    // Uploads through a signed URL: refused while a draft exists, for another media type,
    // beyond 1 MiB or with a forged signature (no version added); taken as a new draft.
    let data = app
        .ok(
            &author,
            "mutation($id: ID!) { sopUploadUrl(input: { sopId: $id, expiresInSeconds: 600 }) { url expiresAt } }",
            json!({ "id": sop }),
        )
        .await;
    let upload = data["sopUploadUrl"]["url"].as_str().unwrap().to_owned();
    assert!(
        upload.starts_with(&format!(
            "/sop-files/{tenant}/uploads/{sop}?user=olga&expires="
        )),
        "{upload}"
    );
    let (_, body) = app
        .graphql(
            &reader,
            "mutation($id: ID!) { sopUploadUrl(input: { sopId: $id }) { url } }",
            json!({ "id": sop }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let put = |path: String, media_type: &'static str, bytes: Vec<u8>| {
        let http = app.http.clone();
        let addr = app.addr;
        async move {
            let response = http
                .put(format!("http://{addr}{path}"))
                .header("content-type", media_type)
                .body(bytes)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let third = "# Fire drill\n\nUploaded as a file.\n";
    let (status, body) = put(upload.clone(), "text/markdown", third.as_bytes().to_vec()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({ "code": "CONFLICT", "reason": "SOP_VERSION_STATE" })
    );
    for step in ["submitSopVersion", "publishSopVersion"] {
        app.ok(
            &author,
            &format!(
                "mutation($id: ID!) {{ {step}(input: {{ sopId: $id, version: 2 }}) {{ id }} }}"
            ),
            json!({ "id": sop }),
        )
        .await;
    }
    let (status, body) = put(upload.clone(), "application/pdf", third.as_bytes().to_vec()).await;
    assert_eq!(
        (status, error_codes(&body)),
        (415, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    let (status, body) = put(upload.clone(), "text/markdown", vec![b'a'; 1024 * 1024 + 1]).await;
    assert_eq!(
        (status, error_codes(&body)),
        (413, vec!["BAD_USER_INPUT".to_owned()]),
        "{body}"
    );
    let (status, body) = put(
        upload.replace("user=olga", "user=mallory"),
        "text/markdown",
        third.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (403, vec!["FORBIDDEN".to_owned()]),
        "{body}"
    );
    let versions = app
        .ok(
            &reader,
            "query($id: ID!) { sop(id: $id) { versions { number } } }",
            json!({ "id": sop }),
        )
        .await;
    assert_eq!(
        versions["sop"]["versions"],
        json!([{ "number": 1 }, { "number": 2 }]),
        "refusals added nothing"
    );
    let third_hash = erp_ops::domain::sop::ContentHash::of(third.as_bytes());
    let (status, body) = put(
        upload,
        "text/markdown; charset=utf-8",
        third.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({ "sopId": sop, "version": 3, "contentHash": third_hash.as_str() })
    );
    let data = app
        .ok(
            &reader,
            "query($id: ID!) { sop(id: $id) { versions { number status contentHash content createdById } } }",
            json!({ "id": sop }),
        )
        .await;
    assert_eq!(
        data["sop"]["versions"][2],
        json!({ "number": 3, "status": "DRAFT", "contentHash": third_hash.as_str(), "content": third, "createdById": "olga" })
    );

    // A file changed behind the store's back is refused, never served.
    std::fs::write(&file, b"# Fire drill\n\n1. Use the lift.\n").unwrap();
    let (_, body) = app
        .graphql(
            &reader,
            "query($id: ID!) { sop(id: $id) { versions { content } } }",
            json!({ "id": sop }),
        )
        .await;
    assert_eq!(error_codes(&body), ["INTERNAL"], "{body}");
    let (status, _, body) = get(url).await;
    assert_eq!(
        (status, forbidden(&body)),
        (500, vec!["INTERNAL".to_owned()])
    );
}

/// SOP files of a deployment on MongoDB without a shared filesystem: one document per file in
/// `ops_sop_files`, content-addressed per tenant.
#[tokio::test]
async fn sop_files_in_mongodb_are_content_addressed_per_tenant() {
    use erp_ops::store::blobs::{BlobStore, MongoBlobStore};
    let store = MongoBlobStore::connect(&fresh_mongo_url()).await.unwrap();
    let a = erp_kit::TenantId::from_claim(&tenant());
    let b = erp_kit::TenantId::from_claim(&tenant());
    let bytes = b"# Lockout procedure\n\n1. Switch off.\n";
    let hash = store.put(&a, bytes).await.unwrap();
    assert_eq!(hash, erp_ops::domain::sop::ContentHash::of(bytes));
    // The same bytes again: the same key, nothing new.
    assert_eq!(store.put(&a, bytes).await.unwrap(), hash);
    assert_eq!(
        store.get(&a, &hash).await.unwrap().as_deref(),
        Some(&bytes[..])
    );
    assert_eq!(
        store.get(&b, &hash).await.unwrap(),
        None,
        "another tenant's"
    );
    assert_eq!(store.kind(), "mongodb");
}

/// The events waiting in the outbox for `ticket` (the relay stopped), oldest first, as
/// (type, actor, payload).
async fn ticket_events(app: &OpsApp, ticket: &str) -> Vec<(String, String, Value)> {
    app.store
        .pending_events(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|event| serde_json::from_str::<Value>(&event.envelope).unwrap())
        .filter(|envelope| envelope["aggregate_id"] == json!(ticket))
        .map(|envelope| {
            (
                envelope["event_type"].as_str().unwrap().to_owned(),
                envelope["actor"].as_str().unwrap_or_default().to_owned(),
                envelope["payload"].clone(),
            )
        })
        .collect()
}

async fn helpdesk_macros_apply_every_action_in_one_commit(store: Store) {
    let issuer = TestIssuer::start().await;
    let mut app = OpsApp::spawn(&issuer, store).await;
    // The relay is stopped so every committed event stays in the outbox, where the test reads
    // exactly what each commit enqueued.
    if let Some(relay) = app.relay.take() {
        relay.shutdown().await;
    }
    let tenant = tenant();
    let admin = issuer.token(&tenant, "admin", ALL);
    let agent = issuer.token(&tenant, "agent", &["helpdesk:read", "helpdesk:write"]);
    let customer = issuer.token(&tenant, "customer", &["helpdesk:read", "helpdesk:submit"]);

    // Round-the-clock policies for HIGH and URGENT.
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    let set_policy =
        "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }";
    for (priority, first, update, resolution) in [("HIGH", 30, 60, 240), ("URGENT", 10, 20, 60)] {
        app.ok(
            &admin,
            set_policy,
            json!({ "input": { "priority": priority, "timeZone": "UTC", "weeklyHours": all_week,
                "firstResponseMinutes": first, "updateMinutes": update, "resolutionMinutes": resolution } }),
        )
        .await;
    }

    // Defining: the admin scope only; actions come back as defined, in order.
    let define = "mutation($input: DefineTicketMacroInput!) { defineTicketMacro(input: $input) {
        id name createdById actions { type status priority template } } }";
    let escalate = json!({ "input": { "name": "Escalate and wait", "actions": [
        { "type": "SET_PRIORITY", "priority": "URGENT" },
        { "type": "ADD_REPLY", "template": "Hi {{requester.name}}, we are on \"{{ ticket.subject }}\" ({{ticket.priority}}).\n{{agent.name}}" },
        { "type": "ADD_NOTE", "template": "Escalated {{ticket.id}} to {{ticket.priority}}, now {{ticket.status}}" },
        { "type": "SET_STATUS", "status": "PENDING" } ] } });
    let (_, body) = app.graphql(&agent, define, escalate.clone()).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let data = app.ok(&admin, define, escalate).await;
    let escalate_id = data["defineTicketMacro"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["defineTicketMacro"],
        json!({ "id": escalate_id, "name": "Escalate and wait", "createdById": "admin", "actions": [
            { "type": "SET_PRIORITY", "status": null, "priority": "URGENT", "template": null },
            { "type": "ADD_REPLY", "status": null, "priority": null,
              "template": "Hi {{requester.name}}, we are on \"{{ ticket.subject }}\" ({{ticket.priority}}).\n{{agent.name}}" },
            { "type": "ADD_NOTE", "status": null, "priority": null,
              "template": "Escalated {{ticket.id}} to {{ticket.priority}}, now {{ticket.status}}" },
            { "type": "SET_STATUS", "status": "PENDING", "priority": null, "template": null } ] })
    );

    // Bad definitions: an unknown placeholder (with the closed list in the message), an
    // unclosed one, a status no macro sets, a field the type does not take or a missing one,
    // no action.
    let body = app
        .refused(
            &admin,
            define,
            json!({ "input": { "name": "Bad", "actions": [ { "type": "ADD_REPLY", "template": "Dear {{requester.email}}" } ] } }),
            "BAD_USER_INPUT",
            Some("UNKNOWN_PLACEHOLDER"),
        )
        .await;
    assert_eq!(
        body["errors"][0]["message"],
        "unknown placeholder {{requester.email}}: use one of {{ticket.id}}, {{ticket.subject}}, \
         {{ticket.status}}, {{ticket.priority}}, {{requester.name}}, {{agent.name}}"
    );
    app.refused(
        &admin,
        define,
        json!({ "input": { "name": "Bad", "actions": [ { "type": "ADD_NOTE", "template": "Hi {{ticket.id" } ] } }),
        "BAD_USER_INPUT",
        Some("UNKNOWN_PLACEHOLDER"),
    )
    .await;
    for bad in [
        json!([{ "type": "SET_STATUS", "status": "MERGED" }]),
        json!([{ "type": "SET_STATUS", "status": "NEW" }]),
        json!([{ "type": "SET_STATUS", "status": "OPEN", "priority": "LOW" }]),
        json!([{ "type": "ADD_NOTE" }]),
        json!([{ "type": "SET_PRIORITY", "template": "x" }]),
        json!([]),
    ] {
        app.refused(
            &admin,
            define,
            json!({ "input": { "name": "Bad", "actions": bad } }),
            "BAD_USER_INPUT",
            None,
        )
        .await;
    }
    let macros = "{ ticketMacros { nodes { id name } } }";
    let data = app.ok(&agent, macros, json!({})).await;
    assert_eq!(
        data["ticketMacros"]["nodes"],
        json!([{ "id": escalate_id, "name": "Escalate and wait" }]),
        "nothing refused was stored"
    );
    let (_, body) = app.graphql(&customer, macros, json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");

    // Applying: every action in order, one event per change, the SLA of the new priority.
    let create = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }";
    let data = app
        .ok(&customer, create, json!({ "input": { "subject": "VPN down", "description": "Since 9:00", "priority": "HIGH" } }))
        .await;
    let ticket = data["createTicket"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ticket_events(&app, &ticket).await.len(),
        1,
        "ticket.created only"
    );
    let apply =
        "mutation($m: ID!, $t: ID!) { applyTicketMacro(input: { macroId: $m, ticketId: $t }) {
        changes ticket { id status priority
          sla { firstResponse { targetMinutes state } update { targetMinutes state }
                resolution { targetMinutes dueAt state } } } } }";
    let data = app
        .ok(&agent, apply, json!({ "m": escalate_id, "t": ticket }))
        .await;
    assert_eq!(
        data["applyTicketMacro"],
        json!({ "changes": ["PRIORITY_CHANGED", "REPLIED", "NOTED", "STATUS_CHANGED"],
            "ticket": { "id": ticket, "status": "PENDING", "priority": "URGENT", "sla": {
                "firstResponse": { "targetMinutes": 10, "state": "MET" },
                "update": { "targetMinutes": 20, "state": "PAUSED" },
                "resolution": { "targetMinutes": 60, "dueAt": null, "state": "PAUSED" } } } })
    );
    let read = "query($t: ID!) { ticket(id: $t) { status priority
        replies { nodes { authorId byAgent body } } notes { nodes { authorId body } } } }";
    let data = app.ok(&agent, read, json!({ "t": ticket })).await;
    assert_eq!(
        data["ticket"],
        json!({ "status": "PENDING", "priority": "URGENT",
            "replies": { "nodes": [ { "authorId": "agent", "byAgent": true,
                "body": "Hi User customer, we are on \"VPN down\" (urgent).\nUser agent" } ] },
            "notes": { "nodes": [ { "authorId": "agent",
                "body": format!("Escalated {ticket} to urgent, now open") } ] } })
    );
    // The requester sees the reply, never the note.
    let data = app
        .ok(
            &customer,
            "query($t: ID!) { ticket(id: $t) { replies { nodes { body } } } }",
            json!({ "t": ticket }),
        )
        .await;
    assert_eq!(
        data["ticket"]["replies"]["nodes"].as_array().unwrap().len(),
        1
    );
    let (_, body) = app
        .graphql(
            &customer,
            "query($t: ID!) { ticket(id: $t) { notes { nodes { body } } } }",
            json!({ "t": ticket }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let changed = |status: &str, priority: &str| {
        json!({ "ticket_id": ticket, "status": status, "priority": priority,
            "client_id": null, "asset_id": null, "merged_into": null })
    };
    let events = ticket_events(&app, &ticket).await;
    assert_eq!(
        events[1..],
        [
            (
                "ticket.priority_changed".to_owned(),
                "agent".to_owned(),
                changed("NEW", "URGENT")
            ),
            (
                "ticket.replied".to_owned(),
                "agent".to_owned(),
                changed("OPEN", "URGENT")
            ),
            (
                "ticket.noted".to_owned(),
                "agent".to_owned(),
                changed("OPEN", "URGENT")
            ),
            (
                "ticket.status_changed".to_owned(),
                "agent".to_owned(),
                changed("PENDING", "URGENT")
            ),
        ]
    );

    // Applied again: the priority is already URGENT and the status PENDING (no change, no
    // event); the reply and the note are added: two changes, two events.
    let data = app
        .ok(&agent, apply, json!({ "m": escalate_id, "t": ticket }))
        .await;
    assert_eq!(
        data["applyTicketMacro"]["changes"],
        json!(["REPLIED", "NOTED"])
    );
    assert_eq!(ticket_events(&app, &ticket).await.len(), 7);

    // A macro one of whose actions a single mutation refuses changes nothing at all: the
    // note before the refused status change is not written either.
    let data = app
        .ok(
            &admin,
            define,
            json!({ "input": { "name": "Close", "actions": [
                { "type": "ADD_NOTE", "template": "Closing {{ticket.subject}}" },
                { "type": "SET_STATUS", "status": "CLOSED" } ] } }),
        )
        .await;
    let close_id = data["defineTicketMacro"]["id"].as_str().unwrap().to_owned();
    let before = app.ok(&agent, read, json!({ "t": ticket })).await;
    app.refused(
        &agent,
        apply,
        json!({ "m": close_id, "t": ticket }),
        "CONFLICT",
        Some("TICKET_STATE"),
    )
    .await;
    assert_eq!(app.ok(&agent, read, json!({ "t": ticket })).await, before);
    assert_eq!(ticket_events(&app, &ticket).await.len(), 7, "no event");

    // A closed ticket is not reopened by a macro, as changeTicketStatus refuses it; nor does
    // a macro reply on it or change its priority.
    let status = "mutation($t: ID!, $s: TicketStatus!) { changeTicketStatus(input: { ticketId: $t, status: $s }) { status } }";
    app.ok(&agent, status, json!({ "t": ticket, "s": "RESOLVED" }))
        .await;
    app.ok(&agent, status, json!({ "t": ticket, "s": "CLOSED" }))
        .await;
    let data = app
        .ok(
            &admin,
            define,
            json!({ "input": { "name": "Reopen", "actions": [ { "type": "SET_STATUS", "status": "OPEN" } ] } }),
        )
        .await;
    let reopen_id = data["defineTicketMacro"]["id"].as_str().unwrap().to_owned();
    let data = app
        .ok(
            &admin,
            define,
            json!({ "input": { "name": "Lower", "actions": [ { "type": "SET_PRIORITY", "priority": "LOW" } ] } }),
        )
        .await;
    let lower_id = data["defineTicketMacro"]["id"].as_str().unwrap().to_owned();
    let before = app.ok(&agent, read, json!({ "t": ticket })).await;
    for macro_id in [&reopen_id, &escalate_id, &lower_id] {
        app.refused(
            &agent,
            apply,
            json!({ "m": macro_id, "t": ticket }),
            "CONFLICT",
            Some("TICKET_STATE"),
        )
        .await;
    }
    assert_eq!(app.ok(&agent, read, json!({ "t": ticket })).await, before);
    assert_eq!(before["ticket"]["status"], "CLOSED");
    assert_eq!(
        ticket_events(&app, &ticket).await.len(),
        9,
        "the two status changes only"
    );

    // Another tenant neither sees nor applies the macro; nor does this tenant's agent reach
    // the other tenant's ticket.
    let other_tenant = tenant_other();
    let other = issuer.token(&other_tenant, "agent", ALL);
    let other_customer = issuer.token(&other_tenant, "customer", &["helpdesk:submit"]);
    let data = app
        .ok(
            &other,
            "query($id: ID!) { ticketMacro(id: $id) { id } ticketMacros { nodes { id } } }",
            json!({ "id": escalate_id }),
        )
        .await;
    assert_eq!(
        data,
        json!({ "ticketMacro": null, "ticketMacros": { "nodes": [] } })
    );
    let data = app
        .ok(
            &other_customer,
            create,
            json!({ "input": { "subject": "Printer", "description": "jammed" } }),
        )
        .await;
    let other_ticket = data["createTicket"]["id"].as_str().unwrap().to_owned();
    app.refused(
        &other,
        apply,
        json!({ "m": escalate_id, "t": other_ticket }),
        "NOT_FOUND",
        None,
    )
    .await;
    app.refused(
        &agent,
        apply,
        json!({ "m": escalate_id, "t": other_ticket }),
        "NOT_FOUND",
        None,
    )
    .await;
    let data = app
        .ok(
            &other,
            "query($t: ID!) { ticket(id: $t) { status priority replies { nodes { id } } } }",
            json!({ "t": other_ticket }),
        )
        .await;
    assert_eq!(
        data["ticket"],
        json!({ "status": "NEW", "priority": "NORMAL", "replies": { "nodes": [] } })
    );
    assert_eq!(ticket_events(&app, &other_ticket).await.len(), 1);
}

const CREATE_TEAM: &str = "mutation($i: CreateHelpdeskTeamInput!) { createHelpdeskTeam(input: $i) {
    id name members { userId employeeId available } turnsTaken } }";
const CREATE_QUEUE: &str =
    "mutation($i: CreateHelpdeskQueueInput!) { createHelpdeskQueue(input: $i) {
    id name teamId assignment position conditions { categories priorities channels } } }";
const ROUTED_TICKET: &str = "mutation($i: CreateTicketInput!) { createTicket(input: $i) {
    id category queueId teamId assigneeId } }";
const AGENT: &[&str] = &["helpdesk:read", "helpdesk:write", "helpdesk:submit"];

/// Creates a team of these members and returns its id.
async fn team(app: &OpsApp, admin: &str, name: &str, members: Value) -> String {
    app.ok(
        admin,
        CREATE_TEAM,
        json!({ "i": { "name": name, "members": members } }),
    )
    .await["createHelpdeskTeam"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Creates a queue and returns its id.
async fn queue(app: &OpsApp, admin: &str, input: Value) -> String {
    app.ok(admin, CREATE_QUEUE, json!({ "i": input })).await["createHelpdeskQueue"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Opens a ticket and returns it as `NEW_TICKET` selects it.
async fn open_ticket(app: &OpsApp, token: &str, subject: &str, category: Option<&str>) -> Value {
    app.ok(
        token,
        ROUTED_TICKET,
        json!({ "i": { "subject": subject, "description": "It broke.", "category": category } }),
    )
    .await["createTicket"]
        .clone()
}

/// The ids of the tickets `token` lists, oldest first.
async fn listed_tickets(app: &OpsApp, token: &str) -> Vec<String> {
    let data = app
        .ok(token, "{ tickets(first: 100) { nodes { id } } }", json!({}))
        .await;
    data["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Teams and queues: tickets route by category to the first matching queue by position, are
/// assigned round-robin (skipping the away) or to the least loaded member, reassigned by hand
/// within a team or moved to another queue; an agent sees and works only unrouted tickets and
/// their teams' (list, one ticket, counts, changes), a helpdesk admin every ticket; every
/// assignment publishes `ticket.assigned`.
async fn helpdesk_teams_route_assign_and_scope_tickets(store: Store) {
    let issuer = TestIssuer::start().await;
    let mut app = OpsApp::spawn(&issuer, store).await;
    // The relay is stopped so the committed events stay in the outbox to be read.
    if let Some(relay) = app.relay.take() {
        relay.shutdown().await;
    }
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let a1 = issuer.token(&tenant, "usr_a1", AGENT);
    let a2 = issuer.token(&tenant, "usr_a2", AGENT);
    let a3 = issuer.token(&tenant, "usr_a3", AGENT);
    let customer = issuer.token(&tenant, "usr_customer", &["helpdesk:submit"]);

    // Bad input first: nothing of it is written.
    app.refused(
        &admin,
        CREATE_TEAM,
        json!({ "i": { "name": "Twice", "members": [{ "userId": "usr_a1" }, { "userId": "usr_a1" }] } }),
        "BAD_USER_INPUT",
        None,
    )
    .await;
    app.refused(
        &a1,
        CREATE_TEAM,
        json!({ "i": { "name": "Mine", "members": [] } }),
        "UNAUTHORIZED_FIELD_OR_TYPE",
        None,
    )
    .await;
    app.refused(
        &admin,
        CREATE_QUEUE,
        json!({ "i": { "name": "Nowhere", "teamId": "no-such-team" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    assert_eq!(
        app.ok(
            &admin,
            "{ helpdeskTeams { id } helpdeskQueues { id } }",
            json!({})
        )
        .await,
        json!({ "helpdeskTeams": [], "helpdeskQueues": [] })
    );

    let hardware = team(
        &app,
        &admin,
        "Hardware",
        json!([{ "userId": "usr_a1" }, { "userId": "usr_a2", "employeeId": "emp_a2" }]),
    )
    .await;
    let billing = team(&app, &admin, "Billing", json!([{ "userId": "usr_a3" }])).await;
    // Position 5 is tried after position 0 whatever the creation order.
    let billing_queue = queue(
        &app,
        &admin,
        json!({ "name": "Billing", "teamId": billing, "position": 5, "assignment": "LEAST_OPEN",
                "conditions": { "categories": ["billing"], "priorities": [], "channels": [] } }),
    )
    .await;
    let hardware_queue = queue(
        &app,
        &admin,
        json!({ "name": "Hardware", "teamId": hardware, "position": 0,
                "conditions": { "categories": ["Hardware"], "priorities": [], "channels": ["API"] } }),
    )
    .await;
    let queues = app
        .ok(
            &a1,
            "{ helpdeskQueues { id assignment position team { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        queues["helpdeskQueues"],
        json!([
            { "id": hardware_queue, "assignment": "ROUND_ROBIN", "position": 0, "team": { "name": "Hardware" } },
            { "id": billing_queue, "assignment": "LEAST_OPEN", "position": 5, "team": { "name": "Billing" } },
        ])
    );

    // Round-robin over the hardware team; the category matches case-insensitively.
    let t1 = open_ticket(&app, &customer, "Laptop", Some("hardware")).await;
    assert_eq!(
        t1,
        json!({ "id": t1["id"], "category": "hardware", "queueId": hardware_queue,
                "teamId": hardware, "assigneeId": "usr_a1" })
    );
    let t2 = open_ticket(&app, &customer, "Dock", Some("HARDWARE")).await;
    assert_eq!(t2["assigneeId"], "usr_a2");
    let t3 = open_ticket(&app, &customer, "Mouse", Some("hardware")).await;
    assert_eq!(t3["assigneeId"], "usr_a1");
    let t4 = open_ticket(&app, &customer, "Invoice", Some("billing")).await;
    assert_eq!(
        (&t4["queueId"], &t4["assigneeId"]),
        (&json!(billing_queue), &json!("usr_a3"))
    );
    // No queue's conditions: unrouted, seen by every agent.
    let t5 = open_ticket(&app, &customer, "Question", None).await;
    assert_eq!(
        (&t5["queueId"], &t5["teamId"], &t5["assigneeId"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    // Away members are skipped: a2's turn goes to a1; another agent may not mark a2 away.
    let availability =
        "mutation($i: SetAgentAvailabilityInput!) { setAgentAvailability(input: $i) {
        members { userId available } } }";
    app.refused(
        &a1,
        availability,
        json!({ "i": { "teamId": hardware, "userId": "usr_a2", "available": false } }),
        "FORBIDDEN",
        None,
    )
    .await;
    app.refused(
        &a3,
        availability,
        json!({ "i": { "teamId": hardware, "available": false } }),
        "CONFLICT",
        Some("ASSIGNEE_NOT_IN_TEAM"),
    )
    .await;
    let away = app
        .ok(
            &a2,
            availability,
            json!({ "i": { "teamId": hardware, "available": false } }),
        )
        .await;
    assert_eq!(
        away["setAgentAvailability"]["members"],
        json!([{ "userId": "usr_a1", "available": true }, { "userId": "usr_a2", "available": false }])
    );
    let t6 = open_ticket(&app, &customer, "Screen", Some("hardware")).await;
    assert_eq!(t6["assigneeId"], "usr_a1");
    let ids = |tickets: &[&Value]| -> Vec<String> {
        tickets
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // The row rule on every path.
    assert_eq!(
        listed_tickets(&app, &admin).await,
        ids(&[&t1, &t2, &t3, &t4, &t5, &t6])
    );
    assert_eq!(
        listed_tickets(&app, &a1).await,
        ids(&[&t1, &t2, &t3, &t5, &t6])
    );
    assert_eq!(listed_tickets(&app, &a3).await, ids(&[&t4, &t5]));
    let one = "query($id: ID!) { ticket(id: $id) { id assigneeId } }";
    assert_eq!(
        app.ok(&a3, one, json!({ "id": t1["id"] })).await,
        json!({ "ticket": null })
    );
    assert_eq!(
        app.ok(&a1, one, json!({ "id": t1["id"] })).await,
        json!({ "ticket": { "id": t1["id"], "assigneeId": "usr_a1" } })
    );
    let counts = "{ ticketCounts { status count } }";
    assert_eq!(
        app.ok(&a3, counts, json!({})).await,
        json!({ "ticketCounts": [{ "status": "NEW", "count": 2 }] })
    );
    assert_eq!(
        app.ok(&admin, counts, json!({})).await,
        json!({ "ticketCounts": [{ "status": "NEW", "count": 6 }] })
    );
    let status = "mutation($id: ID!) { changeTicketStatus(input: { ticketId: $id, status: OPEN }) { status } }";
    app.refused(&a3, status, json!({ "id": t1["id"] }), "NOT_FOUND", None)
        .await;
    app.refused(
        &a3,
        "mutation($id: ID!) { replyToTicket(input: { ticketId: $id, body: \"Mine now\" }) { reply { id } } }",
        json!({ "id": t1["id"] }),
        "NOT_FOUND",
        None,
    )
    .await;
    app.refused(
        &a3,
        "mutation($a: ID!, $b: ID!) { mergeTicket(input: { ticketId: $a, intoTicketId: $b }) { id } }",
        json!({ "a": t4["id"], "b": t1["id"] }),
        "NOT_FOUND",
        None,
    )
    .await;
    // The requester still replies on their own ticket.
    app.ok(
        &customer,
        "mutation($id: ID!) { replyToTicket(input: { ticketId: $id, body: \"Any news?\" }) { reply { byAgent } } }",
        json!({ "id": t1["id"] }),
    )
    .await;

    // Manual reassignment: within the team; to another team by moving the ticket's queue.
    let assign = "mutation($i: AssignTicketInput!) { assignTicket(input: $i) { id queueId teamId assigneeId } }";
    app.refused(
        &a1,
        assign,
        json!({ "i": { "ticketId": t1["id"], "assigneeId": "usr_a3" } }),
        "CONFLICT",
        Some("ASSIGNEE_NOT_IN_TEAM"),
    )
    .await;
    app.refused(
        &a3,
        assign,
        json!({ "i": { "ticketId": t1["id"], "assigneeId": "usr_a3" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    let to_a2 = app
        .ok(
            &a1,
            assign,
            json!({ "i": { "ticketId": t3["id"], "assigneeId": "usr_a2" } }),
        )
        .await;
    assert_eq!(to_a2["assignTicket"]["assigneeId"], "usr_a2");
    let moved = app
        .ok(
            &a1,
            assign,
            json!({ "i": { "ticketId": t1["id"], "queueId": billing_queue, "assigneeId": "usr_a3" } }),
        )
        .await;
    assert_eq!(
        moved["assignTicket"],
        json!({ "id": t1["id"], "queueId": billing_queue, "teamId": billing, "assigneeId": "usr_a3" })
    );
    assert_eq!(
        app.ok(&a1, one, json!({ "id": t1["id"] })).await,
        json!({ "ticket": null })
    );
    assert_eq!(listed_tickets(&app, &a3).await, ids(&[&t1, &t4, &t5]));
    // Least open: a3 holds t1 and t4, the only billing member, so gets the next one too; once
    // a second member joins (holding nothing), they get it.
    app.ok(
        &admin,
        "mutation($i: SetHelpdeskTeamMembersInput!) { setHelpdeskTeamMembers(input: $i) { id } }",
        json!({ "i": { "teamId": billing, "members": [{ "userId": "usr_a3" }, { "userId": "usr_a4" }] } }),
    )
    .await;
    let t7 = open_ticket(&app, &customer, "Refund", Some("billing")).await;
    assert_eq!(t7["assigneeId"], "usr_a4");
    // Unassigned: back in its queue.
    let unassigned = app
        .ok(&a3, assign, json!({ "i": { "ticketId": t1["id"] } }))
        .await;
    assert_eq!(unassigned["assignTicket"]["assigneeId"], Value::Null);
    assert_eq!(unassigned["assignTicket"]["queueId"], json!(billing_queue));

    // The events: routed on arrival, then each reassignment (by the agent who made it).
    let assigned: Vec<(String, Value)> = ticket_events(&app, t1["id"].as_str().unwrap())
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "ticket.assigned")
        .map(|(_, actor, payload)| {
            (
                actor,
                json!([
                    payload["assignee_id"],
                    payload["previous_assignee_id"],
                    payload["because"]
                ]),
            )
        })
        .collect();
    assert_eq!(
        assigned,
        [
            ("usr_customer".to_owned(), json!(["usr_a1", null, "routed"])),
            (
                "usr_a1".to_owned(),
                json!(["usr_a3", "usr_a1", "reassigned"])
            ),
            ("usr_a3".to_owned(), json!([null, "usr_a3", "reassigned"])),
        ]
    );
    assert!(ticket_events(&app, t5["id"].as_str().unwrap())
        .await
        .iter()
        .all(|(kind, _, _)| kind != "ticket.assigned"));
}

/// Two teams for the routing tests: "Rotating" (usr_r1..3) behind the round-robin queue
/// "Round" (category `round`) and "Balanced" (usr_l1, usr_l2) behind the least-open queue
/// "Least" (category `least`). Answers the two queues' ids.
async fn rotating_and_balanced_teams(app: &OpsApp, admin: &str) -> (String, String) {
    let members = json!([{ "userId": "usr_r1" }, { "userId": "usr_r2" }, { "userId": "usr_r3" }]);
    let rotating = team(app, admin, "Rotating", members).await;
    let round = queue(
        app,
        admin,
        json!({ "name": "Round", "teamId": rotating, "assignment": "ROUND_ROBIN",
                "conditions": { "categories": ["round"], "priorities": [], "channels": [] } }),
    )
    .await;
    let members = json!([{ "userId": "usr_l1" }, { "userId": "usr_l2" }]);
    let balanced = team(app, admin, "Balanced", members).await;
    let least = queue(
        app,
        admin,
        json!({ "name": "Least", "teamId": balanced, "assignment": "LEAST_OPEN",
                "conditions": { "categories": ["least"], "priorities": [], "channels": [] } }),
    )
    .await;
    (round, least)
}

/// Tickets arriving at once into one team each take their own turn: a round-robin turn is one
/// atomic increment of the team's turn counter (no two tickets take the same one, and none
/// waits on another's commit); least-open writes the team back at the revision it read, so its
/// counts of open tickets are read in turn (a lost update would give one member more than
/// their share).
async fn concurrent_tickets_never_take_the_same_turn(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let customer = issuer.token(&tenant, "usr_customer", &["helpdesk:submit"]);
    rotating_and_balanced_teams(&app, &admin).await;

    let burst = |category: &'static str, count: usize| {
        let app = &app;
        let customer = &customer;
        async move {
            let created = futures::future::join_all((0..count).map(|n| async move {
                open_ticket(app, customer, &format!("Burst {n}"), Some(category)).await
            }))
            .await;
            let mut per_member = std::collections::BTreeMap::<String, usize>::new();
            for ticket in created {
                *per_member
                    .entry(ticket["assigneeId"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            per_member
        }
    };
    let (round, least) = tokio::join!(burst("round", 9), burst("least", 6));
    assert_eq!(
        round,
        [
            ("usr_r1".into(), 3),
            ("usr_r2".into(), 3),
            ("usr_r3".into(), 3)
        ]
        .into()
    );
    assert_eq!(least, [("usr_l1".into(), 3), ("usr_l2".into(), 3)].into());
    let teams = app
        .ok(&admin, "{ helpdeskTeams { name turnsTaken } }", json!({}))
        .await;
    assert_eq!(
        teams["helpdeskTeams"],
        json!([{ "name": "Rotating", "turnsTaken": 9 }, { "name": "Balanced", "turnsTaken": 6 }])
    );
}

/// An exit recorded in the employee subgraph reaches operations as `employee.left` (over Kafka
/// on MongoDB, the in-process bus embedded): every asset in the leaver's custody falls due for
/// return (once: a redelivery or a second exit event opens nothing more), their open tickets go
/// back to their queues unassigned, and they leave the helpdesk teams. A check-in closes the
/// return.
async fn a_leavers_assets_fall_due_and_tickets_return_to_their_queue(store: Store) {
    use std::time::Duration;
    let issuer = TestIssuer::start().await;
    let tenant = tenant();
    let backends = match store {
        Store::Mongo => erp_tests::Backends::Real,
        Store::Embedded => erp_tests::Backends::Embedded,
    };
    let employee = erp_tests::EmployeeApp::spawn(erp_tests::runtime(&issuer, backends).await).await;
    let bus = match store {
        // Its own Kafka client, on the broker the employee subgraph publishes to.
        Store::Mongo => {
            Arc::new(KafkaBus::new(KafkaConfig::new(require_env("KAFKA_BROKERS"))).unwrap())
                as SharedBus
        }
        Store::Embedded => employee.runtime.bus.clone(),
    };
    let app = OpsApp::spawn_consuming(&issuer, store, bus.clone(), &tenant).await;
    let hr = issuer.token(
        &tenant,
        "usr_hr",
        &["employee:read", "employee:write", "hr:admin"],
    );
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let customer = issuer.token(&tenant, "usr_customer", &["helpdesk:submit"]);
    let leaver = employee
        .hire(
            &hr,
            json!({ "employeeNumber": "E-77", "displayName": "Lee Leaver", "workEmail": "lee@corp.example",
                    "hiredOn": "2025-03-01", "userId": "usr_leaver" }),
        )
        .await;

    // Two laptops with the leaver (one not yet accepted), one with someone else.
    let mut laptops = Vec::new();
    for tag in ["LV-1", "LV-2", "LV-3"] {
        let data = app
            .ok(
                &admin,
                REGISTER,
                json!({ "input": asset_input(tag, "1200.00") }),
            )
            .await;
        laptops.push(data["registerAsset"]["id"].as_str().unwrap().to_owned());
    }
    let check_out =
        "mutation($input: CheckOutAssetsInput!) { checkOutAssets(input: $input) { count } }";
    app.ok(
        &admin,
        check_out,
        json!({ "input": { "assetIds": &laptops[..2], "holder": { "type": "PERSON", "id": "usr_leaver" } } }),
    )
    .await;
    app.ok(
        &admin,
        check_out,
        json!({ "input": { "assetIds": &laptops[2..], "holder": { "type": "PERSON", "id": "usr_stays" } } }),
    )
    .await;
    let leaver_token = issuer.token(&tenant, "usr_leaver", &["assets:read", "assets:write"]);
    app.ok(
        &leaver_token,
        "mutation($id: ID!) { acceptAsset(input: { assetId: $id }) { acceptedAt } }",
        json!({ "id": laptops[0] }),
    )
    .await;

    // A team with the leaver; a ticket assigned to them, one resolved, one with the other agent.
    let desk = team(
        &app,
        &admin,
        "Desk",
        json!([{ "userId": "usr_leaver", "employeeId": leaver }, { "userId": "usr_stays" }]),
    )
    .await;
    let desk_queue = queue(&app, &admin, json!({ "name": "Desk", "teamId": desk })).await;
    let open = open_ticket(&app, &customer, "Printer", None).await;
    assert_eq!(open["assigneeId"], "usr_leaver");
    let other = open_ticket(&app, &customer, "Scanner", None).await;
    assert_eq!(other["assigneeId"], "usr_stays");
    let done = open_ticket(&app, &customer, "Fax", None).await;
    assert_eq!(done["assigneeId"], "usr_leaver");
    app.ok(
        &admin,
        "mutation($id: ID!) { changeTicketStatus(input: { ticketId: $id, status: RESOLVED }) { status } }",
        json!({ "id": done["id"] }),
    )
    .await;

    let today = chrono::Utc::now().date_naive().to_string();
    let left = employee
        .ok(
            &hr,
            "mutation($i: RecordEmployeeExitInput!) { recordEmployeeExit(input: $i) { status } }",
            json!({ "i": { "employeeId": leaver, "lastWorkingDay": today, "reason": "RESIGNATION" } }),
        )
        .await;
    assert_eq!(left["recordEmployeeExit"]["status"], "TERMINATED");

    let due_query = "{ assetsDueForReturn(first: 10) { nodes { id holder { id } returnDue {
        employeeId userId lastWorkingDay } } } }";
    let due = erp_tests::eventually(Duration::from_secs(30), || async {
        let data = app.ok(&admin, due_query, json!({})).await;
        let nodes = data["assetsDueForReturn"]["nodes"].clone();
        (nodes.as_array().unwrap().len() == 2).then_some(nodes)
    })
    .await
    .expect("the leaver's assets fall due for return");
    let expected_due =
        json!({ "employeeId": leaver, "userId": "usr_leaver", "lastWorkingDay": today });
    assert_eq!(
        due,
        json!([
            { "id": laptops[0], "holder": { "id": "usr_leaver" }, "returnDue": expected_due },
            { "id": laptops[1], "holder": { "id": "usr_leaver" }, "returnDue": expected_due },
        ])
    );
    let ticket_query = "query($id: ID!) { ticket(id: $id) { status queueId assigneeId } }";
    assert_eq!(
        app.ok(&admin, ticket_query, json!({ "id": open["id"] }))
            .await["ticket"],
        json!({ "status": "NEW", "queueId": desk_queue, "assigneeId": null })
    );
    assert_eq!(
        app.ok(&admin, ticket_query, json!({ "id": other["id"] }))
            .await["ticket"]["assigneeId"],
        "usr_stays"
    );
    assert_eq!(
        app.ok(&admin, ticket_query, json!({ "id": done["id"] }))
            .await["ticket"]["assigneeId"],
        "usr_leaver",
        "a resolved ticket keeps its agent"
    );
    let members = app
        .ok(
            &admin,
            "{ helpdeskTeams { members { userId } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        members["helpdeskTeams"],
        json!([{ "members": [{ "userId": "usr_stays" }] }])
    );
    // The next ticket goes to who is left.
    assert_eq!(
        open_ticket(&app, &customer, "Toner", None).await["assigneeId"],
        "usr_stays"
    );

    // Exactly once: the same exit delivered again, and a second exit event of the same
    // person, open nothing more.
    let payload = json!({ "employee_id": leaver, "employee_number": "E-77", "display_name": "Lee Leaver",
        "user_id": "usr_leaver", "manager_id": null, "department_id": null, "hired_on": "2025-03-01",
        "last_working_day": today, "reason": "resignation" });
    let again = erp_kit::events::EventEnvelope::new(
        &erp_kit::TenantId::from_claim(&tenant),
        "employee.left",
        &leaver,
        payload,
    )
    .unwrap()
    .with_actor("usr_hr");
    let topic = erp_kit::events::topic_for("employee");
    bus.publish(&topic, &again).await.unwrap();
    bus.publish(&topic, &again).await.unwrap();
    // A marker published after them: once it is handled, so were they (one partition per
    // aggregate; the marker is about the same employee).
    let marker = erp_kit::events::EventEnvelope::new(
        &erp_kit::TenantId::from_claim(&tenant),
        "employee.left",
        &leaver,
        json!({ "employee_id": leaver, "user_id": "usr_nobody", "last_working_day": today }),
    )
    .unwrap();
    bus.publish(&topic, &marker).await.unwrap();
    let handled = erp_tests::eventually(Duration::from_secs(30), || async {
        let inbox = app
            .store
            .find(
                &erp_kit::TenantId::from_claim(&tenant),
                erp_ops::store::Kind::Inbox,
                &[],
                None,
            )
            .await
            .ok()?;
        inbox
            .iter()
            .any(|doc| doc["event_id"] == json!(marker.id.to_string()))
            .then_some(inbox.len())
    })
    .await
    .expect("the marker is handled");
    // The first exit, the redelivered second one (recorded once) and the marker.
    assert_eq!(handled, 3);
    app.outbox_drained().await;
    let due_after = app.ok(&admin, due_query, json!({})).await;
    assert_eq!(due_after["assetsDueForReturn"]["nodes"], due);

    // The check-in closes the return.
    app.ok(
        &admin,
        "mutation($ids: [ID!]!) { checkInAssets(input: { assetIds: $ids }) { count } }",
        json!({ "ids": &laptops[..1] }),
    )
    .await;
    let after = app.ok(&admin, due_query, json!({})).await;
    assert_eq!(
        after["assetsDueForReturn"]["nodes"],
        json!([{ "id": laptops[1], "holder": { "id": "usr_leaver" }, "returnDue": expected_due }])
    );
    let returned = app
        .ok(
            &admin,
            "query($id: ID!) { asset(id: $id) { status holder { id } returnDue { userId } } }",
            json!({ "id": laptops[0] }),
        )
        .await;
    assert_eq!(
        returned["asset"],
        json!({ "status": "IN_STOCK", "holder": null, "returnDue": null })
    );
}

/// The live queue follows the row rule on every change: an agent's subscription carries the
/// tickets of their teams' queues and the unrouted ones, never another team's, and a ticket
/// moved into their team's queue shows up as it arrives.
async fn the_live_queue_shows_an_agent_only_their_teams_tickets(store: Store) {
    use erp_tests::pmo::{ws_connect_at, ws_next, ws_subscribe};
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let a1 = issuer.token(&tenant, "usr_a1", AGENT);
    let a3 = issuer.token(&tenant, "usr_a3", AGENT);
    let customer = issuer.token(&tenant, "usr_customer", &["helpdesk:submit"]);
    let hardware = team(&app, &admin, "Hardware", json!([{ "userId": "usr_a1" }])).await;
    let billing = team(&app, &admin, "Billing", json!([{ "userId": "usr_a3" }])).await;
    for (name, team_id, category) in [
        ("Hardware", &hardware, "hardware"),
        ("Billing", &billing, "billing"),
    ] {
        queue(
            &app,
            &admin,
            json!({ "name": name, "teamId": team_id, "assignment": "MANUAL",
                    "conditions": { "categories": [category], "priorities": [], "channels": [] } }),
        )
        .await;
    }
    let billing_queue = app
        .ok(&admin, "{ helpdeskQueues { id name } }", json!({}))
        .await["helpdeskQueues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|queue| queue["name"] == "Billing")
        .unwrap()["id"]
        .clone();

    let live = "subscription { ticketQueue { change ticketId ticket { subject } } }";
    let (mut socket, ack) = ws_connect_at(app.addr, &a3).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws_subscribe(&mut socket, "1", live, json!({})).await;
    // Billing tickets until the subscription (set up asynchronously) sees one; then skip to
    // the newest probe.
    let mut seen_probe = None;
    for attempt in 0..40 {
        let probe = open_ticket(
            &app,
            &customer,
            &format!("Probe {attempt}"),
            Some("billing"),
        )
        .await;
        if let Some(message) = ws_within(&mut socket, std::time::Duration::from_millis(500)).await {
            seen_probe = Some((probe["id"].clone(), message));
            break;
        }
    }
    let (last_probe, mut message) = seen_probe.expect("the subscription sees a billing ticket");
    while message["payload"]["data"]["ticketQueue"]["ticketId"] != last_probe {
        message = ws_next(&mut socket).await;
    }

    // Another team's ticket is not delivered; the billing one after it is the next message.
    let hidden = open_ticket(&app, &customer, "Keyboard", Some("hardware")).await;
    let seen = open_ticket(&app, &customer, "Credit note", Some("billing")).await;
    let message = ws_next(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["ticketQueue"],
        json!({ "change": "CREATED", "ticketId": seen["id"], "ticket": { "subject": "Credit note" } }),
        "{message}"
    );
    // A change of the hidden ticket is not delivered either; its move into Billing is.
    app.ok(
        &a1,
        "mutation($id: ID!) { changeTicketStatus(input: { ticketId: $id, status: OPEN }) { id } }",
        json!({ "id": hidden["id"] }),
    )
    .await;
    app.ok(
        &a1,
        "mutation($i: AssignTicketInput!) { assignTicket(input: $i) { id } }",
        json!({ "i": { "ticketId": hidden["id"], "queueId": billing_queue } }),
    )
    .await;
    let message = ws_next(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["ticketQueue"],
        json!({ "change": "ASSIGNED", "ticketId": hidden["id"], "ticket": { "subject": "Keyboard" } }),
        "{message}"
    );
}

/// `ticketCounts` is counted by the store (an aggregation), by status in lifecycle order:
/// exact for every status, and under the row rule (a helpdesk admin counts every ticket, an
/// agent the unrouted ones and their teams', an agent of no team the unrouted ones only,
/// another tenant nothing); a ticket moved to another team's queue moves between the counts.
async fn ticket_counts_are_exact_by_status_under_the_row_rule(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let a1 = issuer.token(&tenant, "usr_a1", AGENT);
    let a2 = issuer.token(&tenant, "usr_a2", AGENT);
    let loner = issuer.token(&tenant, "usr_loner", AGENT);
    let customer = issuer.token(&tenant, "usr_customer", &["helpdesk:submit"]);
    let stranger = issuer.token(&tenant_other(), "usr_admin", ALL);
    let counts = "{ ticketCounts { status count } }";
    assert_eq!(
        app.ok(&admin, counts, json!({})).await,
        json!({ "ticketCounts": [] })
    );

    let hardware = team(&app, &admin, "Hardware", json!([{ "userId": "usr_a1" }])).await;
    let billing = team(&app, &admin, "Billing", json!([{ "userId": "usr_a2" }])).await;
    queue(
        &app,
        &admin,
        json!({ "name": "Hardware", "teamId": hardware,
                "conditions": { "categories": ["hardware"], "priorities": [], "channels": [] } }),
    )
    .await;
    let billing_queue = queue(
        &app,
        &admin,
        json!({ "name": "Billing", "teamId": billing, "position": 1,
                "conditions": { "categories": ["billing"], "priorities": [], "channels": [] } }),
    )
    .await;

    let mut hardware_tickets = Vec::new();
    for n in 0..20 {
        let ticket = open_ticket(&app, &customer, &format!("Laptop {n}"), Some("hardware")).await;
        hardware_tickets.push(ticket["id"].as_str().unwrap().to_owned());
    }
    let mut billing_tickets = Vec::new();
    for n in 0..12 {
        let ticket = open_ticket(&app, &customer, &format!("Invoice {n}"), Some("billing")).await;
        billing_tickets.push(ticket["id"].as_str().unwrap().to_owned());
    }
    let mut unrouted = Vec::new();
    for n in 0..7 {
        let ticket = open_ticket(&app, &customer, &format!("Question {n}"), None).await;
        unrouted.push(ticket["id"].as_str().unwrap().to_owned());
    }
    let status = "mutation($t: ID!, $s: TicketStatus!) { changeTicketStatus(input: { ticketId: $t, status: $s }) { status } }";
    let set = |token: &str, ticket: &str, to: &str| {
        let (token, ticket, to) = (token.to_owned(), ticket.to_owned(), to.to_owned());
        let app = &app;
        async move {
            app.ok(&token, status, json!({ "t": ticket, "s": to }))
                .await;
        }
    };
    // Hardware: 5 open, 3 pending, 2 closed (through resolved), 10 new.
    for ticket in &hardware_tickets[0..5] {
        set(&a1, ticket, "OPEN").await;
    }
    for ticket in &hardware_tickets[5..8] {
        set(&a1, ticket, "PENDING").await;
    }
    for ticket in &hardware_tickets[8..10] {
        set(&a1, ticket, "RESOLVED").await;
        set(&a1, ticket, "CLOSED").await;
    }
    // Billing: 4 resolved, 8 new.
    for ticket in &billing_tickets[0..4] {
        set(&a2, ticket, "RESOLVED").await;
    }
    // Unrouted: one merged into another, 6 new.
    app.ok(
        &admin,
        "mutation($a: ID!, $b: ID!) { mergeTicket(input: { ticketId: $a, intoTicketId: $b }) { id } }",
        json!({ "a": unrouted[0], "b": unrouted[1] }),
    )
    .await;

    let expect = |pairs: &[(&str, i64)]| {
        json!({ "ticketCounts": pairs
            .iter()
            .map(|(status, count)| json!({ "status": status, "count": count }))
            .collect::<Vec<_>>() })
    };
    assert_eq!(
        app.ok(&admin, counts, json!({})).await,
        expect(&[
            ("NEW", 24),
            ("OPEN", 5),
            ("PENDING", 3),
            ("RESOLVED", 4),
            ("CLOSED", 2),
            ("MERGED", 1)
        ])
    );
    assert_eq!(
        app.ok(&a1, counts, json!({})).await,
        expect(&[
            ("NEW", 16),
            ("OPEN", 5),
            ("PENDING", 3),
            ("CLOSED", 2),
            ("MERGED", 1)
        ])
    );
    assert_eq!(
        app.ok(&a2, counts, json!({})).await,
        expect(&[("NEW", 14), ("RESOLVED", 4), ("MERGED", 1)])
    );
    assert_eq!(
        app.ok(&loner, counts, json!({})).await,
        expect(&[("NEW", 6), ("MERGED", 1)])
    );
    assert_eq!(
        app.ok(&stranger, counts, json!({})).await,
        json!({ "ticketCounts": [] })
    );
    // The counts agree with the lists the same viewer reads.
    let listed = app
        .ok(
            &a2,
            "{ tickets(first: 100, status: NEW) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["tickets"]["nodes"].as_array().unwrap().len(), 14);

    // An open hardware ticket moved to the billing queue moves from a1's counts to a2's.
    app.ok(
        &admin,
        "mutation($i: AssignTicketInput!) { assignTicket(input: $i) { teamId } }",
        json!({ "i": { "ticketId": hardware_tickets[0], "queueId": billing_queue } }),
    )
    .await;
    assert_eq!(
        app.ok(&a1, counts, json!({})).await,
        expect(&[
            ("NEW", 16),
            ("OPEN", 4),
            ("PENDING", 3),
            ("CLOSED", 2),
            ("MERGED", 1)
        ])
    );
    assert_eq!(
        app.ok(&a2, counts, json!({})).await,
        expect(&[("NEW", 14), ("OPEN", 1), ("RESOLVED", 4), ("MERGED", 1)])
    );
}

/// Macros are changed and deleted by a helpdesk admin only (as they are defined), each change
/// recorded (who and when on the macro; a `ticket_macro.*` event with the actor in the same
/// commit); a refused change writes nothing; a deleted macro is no longer listed, read,
/// applied or changed; another tenant reaches none of it.
async fn helpdesk_macros_are_changed_and_deleted_on_the_record(store: Store) {
    let issuer = TestIssuer::start().await;
    let mut app = OpsApp::spawn(&issuer, store).await;
    if let Some(relay) = app.relay.take() {
        relay.shutdown().await;
    }
    let tenant = tenant();
    let admin = issuer.token(&tenant, "admin", ALL);
    let agent = issuer.token(&tenant, "agent", &["helpdesk:read", "helpdesk:write"]);
    let customer = issuer.token(&tenant, "customer", &["helpdesk:read", "helpdesk:submit"]);
    let stranger = issuer.token(&tenant_other(), "admin", ALL);
    const MACRO: &str =
        "id name createdById updatedById updatedAt actions { type status template }";
    let define = format!(
        "mutation($input: DefineTicketMacroInput!) {{ defineTicketMacro(input: $input) {{ {MACRO} }} }}"
    );
    let update = format!(
        "mutation($input: UpdateTicketMacroInput!) {{ updateTicketMacro(input: $input) {{ {MACRO} }} }}"
    );
    let delete = "mutation($id: ID!) { deleteTicketMacro(input: { macroId: $id }) }";
    let read = format!("query($id: ID!) {{ ticketMacro(id: $id) {{ {MACRO} }} }}");

    let data = app
        .ok(
            &admin,
            &define,
            json!({ "input": { "name": "Wait", "actions": [{ "type": "SET_STATUS", "status": "PENDING" }] } }),
        )
        .await;
    let id = data["defineTicketMacro"]["id"].as_str().unwrap().to_owned();
    let as_defined = json!({ "id": id, "name": "Wait", "createdById": "admin", "updatedById": null,
        "updatedAt": null, "actions": [{ "type": "SET_STATUS", "status": "PENDING", "template": null }] });
    assert_eq!(data["defineTicketMacro"], as_defined);

    // Refused: an agent (the admin scope only), bad actions, nothing to change, an unknown or
    // another tenant's macro. The macro is as defined afterwards.
    let (_, body) = app
        .graphql(
            &agent,
            &update,
            json!({ "input": { "macroId": id, "name": "Mine" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    let (_, body) = app.graphql(&agent, delete, json!({ "id": id })).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    app.refused(
        &admin,
        &update,
        json!({ "input": { "macroId": id, "actions": [{ "type": "ADD_NOTE", "template": "{{requester.email}}" }] } }),
        "BAD_USER_INPUT",
        Some("UNKNOWN_PLACEHOLDER"),
    )
    .await;
    for bad in [
        json!({ "macroId": id }),
        json!({ "macroId": id, "name": "  " }),
        json!({ "macroId": id, "actions": [] }),
        json!({ "macroId": id, "actions": [{ "type": "SET_STATUS", "status": "MERGED" }] }),
    ] {
        app.refused(
            &admin,
            &update,
            json!({ "input": bad }),
            "BAD_USER_INPUT",
            None,
        )
        .await;
    }
    app.refused(
        &admin,
        &update,
        json!({ "input": { "macroId": "no-such-macro", "name": "X" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    app.refused(
        &stranger,
        &update,
        json!({ "input": { "macroId": id, "name": "Theirs" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    app.refused(&stranger, delete, json!({ "id": id }), "NOT_FOUND", None)
        .await;
    assert_eq!(
        app.ok(&admin, &read, json!({ "id": id })).await["ticketMacro"],
        as_defined,
        "nothing refused was written"
    );

    // The name alone, then the actions alone: the rest stays; who and when are recorded.
    let data = app
        .ok(
            &admin,
            &update,
            json!({ "input": { "macroId": id, "name": "Note it" } }),
        )
        .await;
    assert_eq!(data["updateTicketMacro"]["name"], "Note it");
    assert_eq!(data["updateTicketMacro"]["updatedById"], "admin");
    assert!(data["updateTicketMacro"]["updatedAt"].is_string());
    assert_eq!(data["updateTicketMacro"]["actions"], as_defined["actions"]);
    let data = app
        .ok(
            &admin,
            &update,
            json!({ "input": { "macroId": id, "actions": [{ "type": "ADD_NOTE", "template": "Seen {{ticket.subject}}" }] } }),
        )
        .await;
    assert_eq!(
        data["updateTicketMacro"]["actions"],
        json!([{ "type": "ADD_NOTE", "status": null, "template": "Seen {{ticket.subject}}" }])
    );
    assert_eq!(data["updateTicketMacro"]["name"], "Note it");

    // Applying uses the macro as changed.
    let ticket = app
        .ok(
            &customer,
            "mutation { createTicket(input: { subject: \"VPN\", description: \"down\" }) { id } }",
            json!({}),
        )
        .await["createTicket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let apply =
        "mutation($m: ID!, $t: ID!) { applyTicketMacro(input: { macroId: $m, ticketId: $t }) {
        changes ticket { status notes { nodes { body } } } } }";
    let data = app.ok(&agent, apply, json!({ "m": id, "t": ticket })).await;
    assert_eq!(
        data["applyTicketMacro"],
        json!({ "changes": ["NOTED"], "ticket": { "status": "NEW", "notes": { "nodes": [{ "body": "Seen VPN" }] } } })
    );

    // Deleted: true once, then NOT_FOUND everywhere; no longer listed or read.
    assert_eq!(
        app.ok(&admin, delete, json!({ "id": id })).await,
        json!({ "deleteTicketMacro": true })
    );
    app.refused(&admin, delete, json!({ "id": id }), "NOT_FOUND", None)
        .await;
    app.refused(
        &admin,
        &update,
        json!({ "input": { "macroId": id, "name": "Back" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    app.refused(
        &agent,
        apply,
        json!({ "m": id, "t": ticket }),
        "NOT_FOUND",
        None,
    )
    .await;
    assert_eq!(
        app.ok(
            &agent,
            "query($id: ID!) { ticketMacro(id: $id) { id } ticketMacros { nodes { id } } }",
            json!({ "id": id })
        )
        .await,
        json!({ "ticketMacro": null, "ticketMacros": { "nodes": [] } })
    );

    // The record: one event per change, the actor and the macro as each change left it.
    let events: Vec<(String, String, Value, Value)> = ticket_events(&app, &id)
        .await
        .into_iter()
        .map(|(kind, actor, payload)| {
            (kind, actor, payload["rev"].clone(), payload["name"].clone())
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (
                "ticket_macro.defined".into(),
                "admin".into(),
                json!(0),
                json!("Wait")
            ),
            (
                "ticket_macro.updated".into(),
                "admin".into(),
                json!(1),
                json!("Note it")
            ),
            (
                "ticket_macro.updated".into(),
                "admin".into(),
                json!(2),
                json!("Note it")
            ),
            (
                "ticket_macro.deleted".into(),
                "admin".into(),
                json!(3),
                json!("Note it")
            ),
        ]
    );
}

/// Splitting: the replies named move to a new ticket linked both ways, with the requester,
/// priority and team of the original and SLA clocks that start at the split; `ticket.split`
/// on the original and `ticket.created` on the new one, both by the agent, in the same
/// commit. Bad selections, a customer, another tenant, a closed or merged ticket: refused,
/// nothing moved.
async fn a_split_moves_replies_to_a_linked_ticket_whose_sla_starts_then(store: Store) {
    let issuer = TestIssuer::start().await;
    let mut app = OpsApp::spawn(&issuer, store).await;
    if let Some(relay) = app.relay.take() {
        relay.shutdown().await;
    }
    let tenant = tenant();
    let agent = issuer.token(&tenant, "agent", ALL);
    let customer = issuer.token(&tenant, "customer", &["helpdesk:read", "helpdesk:submit"]);
    let stranger = issuer.token(&tenant_other(), "agent", ALL);
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    app.ok(
        &agent,
        "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }",
        json!({ "input": { "priority": "HIGH", "timeZone": "UTC", "weeklyHours": all_week,
            "firstResponseMinutes": 30, "updateMinutes": 60, "resolutionMinutes": 240 } }),
    )
    .await;
    let create = "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }";
    let new_ticket = |subject: &str| json!({ "input": { "subject": subject, "description": "Since 9:00", "priority": "HIGH", "category": "it" } });
    let ticket = app.ok(&customer, create, new_ticket("VPN down")).await["createTicket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = app.ok(&customer, create, new_ticket("Mail")).await["createTicket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = "mutation($id: ID!, $body: String!) { replyToTicket(input: { ticketId: $id, body: $body }) { reply { id } } }";
    let mut replies = Vec::new();
    for (token, body) in [
        (&customer, "Still down"),
        (&agent, "Looking"),
        (&customer, "Also the printer is offline"),
        (&customer, "It says paper jam"),
    ] {
        let data = app
            .ok(token, reply, json!({ "id": ticket, "body": body }))
            .await;
        replies.push(
            data["replyToTicket"]["reply"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other_reply = app
        .ok(
            &customer,
            reply,
            json!({ "id": elsewhere, "body": "Mail too" }),
        )
        .await["replyToTicket"]["reply"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    const SPLIT_TICKET: &str = "id subject description status priority category requesterId
        splitFromId splitIntoIds createdAt replies { nodes { id body } }
        sla { firstResponse { dueAt metAt state } resolution { dueAt state } }";
    let split = format!(
        "mutation($i: SplitTicketInput!) {{ splitTicket(input: $i) {{
            ticket {{ {SPLIT_TICKET} }} splitTicket {{ {SPLIT_TICKET} }} }} }}"
    );
    let input = |ids: Vec<&String>, subject: &str| json!({ "i": { "ticketId": ticket, "replyIds": ids, "subject": subject } });
    // Refused, nothing moved.
    let (_, body) = app
        .graphql(&customer, &split, input(vec![&replies[2]], "Printer"))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    for bad in [
        input(vec![], "Printer"),
        input(vec![&replies[2], &replies[2]], "Printer"),
        input(vec![&replies[2], &other_reply], "Printer"),
        input(vec![&replies[2]], "   "),
    ] {
        app.refused(&agent, &split, bad, "BAD_USER_INPUT", None)
            .await;
    }
    app.refused(
        &agent,
        &split,
        json!({ "i": { "ticketId": "no-such-ticket", "replyIds": [replies[2]], "subject": "Printer" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    app.refused(
        &stranger,
        &split,
        input(vec![&replies[2]], "Printer"),
        "NOT_FOUND",
        None,
    )
    .await;
    let replies_of =
        "query($id: ID!) { ticket(id: $id) { splitIntoIds replies { nodes { id } } } }";
    assert_eq!(
        app.ok(&agent, replies_of, json!({ "id": ticket })).await["ticket"],
        json!({ "splitIntoIds": [], "replies": { "nodes": replies.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() } })
    );
    assert_eq!(
        ticket_events(&app, &ticket)
            .await
            .iter()
            .filter(|(kind, _, _)| kind == "ticket.split")
            .count(),
        0
    );

    // The split: the last two replies (named out of order) move, in their order.
    let data = app
        .ok(
            &agent,
            &split,
            input(vec![&replies[3], &replies[2]], "Printer offline"),
        )
        .await;
    let original = &data["splitTicket"]["ticket"];
    let new = &data["splitTicket"]["splitTicket"];
    let new_id = new["id"].as_str().unwrap().to_owned();
    assert_eq!(original["id"], json!(ticket));
    assert_eq!(original["splitIntoIds"], json!([new_id]));
    assert_eq!(
        original["replies"]["nodes"],
        json!([{ "id": replies[0], "body": "Still down" }, { "id": replies[1], "body": "Looking" }])
    );
    assert_eq!(original["sla"]["firstResponse"]["state"], "MET");
    let created = new["createdAt"].clone();
    assert_eq!(
        json!({ "subject": new["subject"], "description": new["description"], "status": new["status"],
                "priority": new["priority"], "category": new["category"], "requesterId": new["requesterId"],
                "splitFromId": new["splitFromId"], "splitIntoIds": new["splitIntoIds"], "replies": new["replies"] }),
        json!({ "subject": "Printer offline", "description": "Also the printer is offline", "status": "NEW",
                "priority": "HIGH", "category": "it", "requesterId": "customer",
                "splitFromId": ticket, "splitIntoIds": [],
                "replies": { "nodes": [
                    { "id": replies[2], "body": "Also the printer is offline" },
                    { "id": replies[3], "body": "It says paper jam" } ] } })
    );
    // Its SLA starts at the split: nothing met, due from its own creation.
    assert_eq!(
        new["sla"],
        json!({ "firstResponse": { "dueAt": plus_minutes(&created, 30), "metAt": null, "state": "RUNNING" },
                "resolution": { "dueAt": plus_minutes(&created, 240), "state": "RUNNING" } })
    );
    assert!(created.as_str().unwrap() > original["createdAt"].as_str().unwrap());
    // Both audited, by the agent, in the commit that split.
    let split_events = ticket_events(&app, &ticket).await;
    let last = split_events.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_str(), &last.2),
        (
            "ticket.split",
            "agent",
            &json!({ "ticket_id": ticket, "split_ticket_id": new_id, "reply_ids": [replies[2], replies[3]] })
        )
    );
    let new_events = ticket_events(&app, &new_id).await;
    assert_eq!(new_events.len(), 1);
    assert_eq!(
        (new_events[0].0.as_str(), new_events[0].1.as_str()),
        ("ticket.created", "agent")
    );
    // The requester works the new ticket as their own.
    app.ok(&customer, reply, json!({ "id": new_id, "body": "Thanks" }))
        .await;
    // A moved reply is no longer the original's to split again.
    app.refused(
        &agent,
        &split,
        input(vec![&replies[2]], "Again"),
        "BAD_USER_INPUT",
        None,
    )
    .await;

    // Not from a merged or a closed ticket.
    app.ok(
        &agent,
        "mutation($a: ID!, $b: ID!) { mergeTicket(input: { ticketId: $a, intoTicketId: $b }) { id } }",
        json!({ "a": new_id, "b": ticket }),
    )
    .await;
    let new_reply = app.ok(&agent, replies_of, json!({ "id": new_id })).await["ticket"]["replies"]
        ["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.refused(
        &agent,
        &split,
        json!({ "i": { "ticketId": new_id, "replyIds": [new_reply], "subject": "Again" } }),
        "CONFLICT",
        Some("TICKET_MERGED"),
    )
    .await;
    let status = "mutation($t: ID!, $s: TicketStatus!) { changeTicketStatus(input: { ticketId: $t, status: $s }) { status } }";
    app.ok(&agent, status, json!({ "t": ticket, "s": "RESOLVED" }))
        .await;
    app.ok(&agent, status, json!({ "t": ticket, "s": "CLOSED" }))
        .await;
    app.refused(
        &agent,
        &split,
        input(vec![&replies[0]], "Again"),
        "CONFLICT",
        Some("TICKET_STATE"),
    )
    .await;
}

/// A raw RFC 5322 message: plain text, or (with `attachment`) multipart/mixed with a
/// multipart/alternative text + HTML body and a base64 attachment.
fn mail(
    from: &str,
    subject: &str,
    message_id: Option<&str>,
    in_reply_to: Option<&str>,
    text: &str,
    attachment: Option<(&str, &str, &[u8])>,
) -> Vec<u8> {
    use base64::Engine as _;
    let mut headers = format!(
        "From: {from}\r\nTo: help@acme.test\r\nSubject: {subject}\r\nDate: Mon, 7 Dec 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    );
    if let Some(id) = message_id {
        headers.push_str(&format!("Message-ID: <{id}>\r\n"));
    }
    if let Some(id) = in_reply_to {
        headers.push_str(&format!(
            "In-Reply-To: <{id}>\r\nReferences: <older@example.com> <{id}>\r\n"
        ));
    }
    let Some((name, content_type, bytes)) = attachment else {
        return format!("{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n")
            .into_bytes();
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        "{headers}Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p>\r\n\
--inner--\r\n\
--outer\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n\
--outer--\r\n"
    )
    .into_bytes()
}

impl OpsApp {
    /// POSTs a raw message to a tenant's inbound URL, signed with `secret` at `at` (Unix
    /// seconds; now when None). Returns the status and the JSON answer.
    async fn inbound(
        &self,
        tenant: &str,
        secret: &str,
        at: Option<i64>,
        raw: &[u8],
    ) -> (u16, Value) {
        let at = at.unwrap_or_else(|| chrono::Utc::now().timestamp());
        let signature = erp_kit::webhook::sign(secret.as_bytes(), at, raw);
        let response = self
            .http
            .post(format!(
                "http://{}/ops/helpdesk/inbound-mail/{tenant}",
                self.addr
            ))
            .header("content-type", "message/rfc822")
            .header("x-erp-webhook-timestamp", at.to_string())
            .header("x-erp-webhook-signature", signature)
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn error_of(body: &Value) -> (String, String) {
    (
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["errors"][0]["extensions"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Inbound e-mail: a tenant's secret (admin only, answered once, rotated with an overlap)
/// signs the provider's calls; a message opens a ticket (its attachment stored by hash), a
/// reply threads by In-Reply-To or by the `[#id]` token in the subject, a retry of the same
/// message is a duplicate that writes nothing, a reply to a merged ticket lands on the one it
/// was merged into and one to a closed ticket opens a new one. Bad signatures, stale calls,
/// non-messages, refused attachments and over-large bodies are refused with their reasons and
/// write nothing.
async fn inbound_mail_opens_and_threads_tickets_from_signed_raw_messages(store: Store) {
    let issuer = TestIssuer::start().await;
    let mut app = OpsApp::spawn(&issuer, store).await;
    if let Some(relay) = app.relay.take() {
        relay.shutdown().await;
    }
    let tenant = tenant();
    let other_tenant = tenant_other();
    let admin = issuer.token(&tenant, "admin", ALL);
    let other_admin = issuer.token(&other_tenant, "admin", ALL);
    let agent = issuer.token(&tenant, "agent", &["helpdesk:read", "helpdesk:write"]);
    let first = mail(
        "Ada Lovelace <Ada@Example.com>",
        "Printer jammed",
        Some("a1@example.com"),
        None,
        "The printer on floor 2 is jammed.",
        Some(("photo.png", "image/png", b"\x89PNG fake image bytes")),
    );

    // No secret yet: the tenant's URL answers 404.
    let (status, body) = app.inbound(&tenant, "whsec_nothing", None, &first).await;
    assert_eq!(
        (status, error_of(&body).0.as_str()),
        (404, "NOT_FOUND"),
        "{body}"
    );
    let rotate = "mutation($s: Int) { rotateInboundMailSecret(input: { overlapSeconds: $s }) {
        secret path previousValidUntil } }";
    let (_, body) = app.graphql(&agent, rotate, json!({})).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    app.refused(&admin, rotate, json!({ "s": -1 }), "BAD_USER_INPUT", None)
        .await;
    let data = app.ok(&admin, rotate, json!({})).await;
    let secret = data["rotateInboundMailSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        data["rotateInboundMailSecret"]["path"],
        json!(format!("/ops/helpdesk/inbound-mail/{tenant}"))
    );
    assert_eq!(
        data["rotateInboundMailSecret"]["previousValidUntil"],
        Value::Null
    );

    // Refused calls write nothing.
    let tickets_of = |token: String| {
        let app = &app;
        async move {
            app.ok(
                &token,
                "{ tickets(first: 100) { nodes { id } } }",
                json!({}),
            )
            .await["tickets"]["nodes"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    // (status, reason, (signed at, secret, body)).
    type Call = (Option<i64>, String, Vec<u8>);
    let refusals: Vec<(u16, &str, Call)> = vec![
        (
            401,
            "MAIL_SIGNATURE_INVALID",
            (None, "whsec_wrong".to_owned(), first.clone()),
        ),
        (
            401,
            "MAIL_TIMESTAMP_STALE",
            (
                Some(chrono::Utc::now().timestamp() - 3600),
                secret.clone(),
                first.clone(),
            ),
        ),
        (
            400,
            "MAIL_MESSAGE_INVALID",
            (None, secret.clone(), b"just some bytes".to_vec()),
        ),
        (
            400,
            "MAIL_MESSAGE_INVALID",
            (
                None,
                secret.clone(),
                mail("ada@example.com", "No id", None, None, "Hello", None),
            ),
        ),
        (
            400,
            "MAIL_MESSAGE_INVALID",
            (
                None,
                secret.clone(),
                mail(
                    "not an address",
                    "Who",
                    Some("w@x.example"),
                    None,
                    "Hello",
                    None,
                ),
            ),
        ),
        (
            400,
            "MAIL_ATTACHMENT_REFUSED",
            (
                None,
                secret.clone(),
                mail(
                    "ada@example.com",
                    "Run this",
                    Some("evil@example.com"),
                    None,
                    "Please run",
                    Some(("setup.exe", "application/octet-stream", b"MZ....")),
                ),
            ),
        ),
        (
            413,
            "MAIL_TOO_LARGE",
            (None, secret.clone(), vec![b'a'; 10 * 1024 * 1024 + 1]),
        ),
    ];
    for (status, reason, (at, key, raw)) in refusals {
        let (got, body) = app.inbound(&tenant, &key, at, &raw).await;
        assert_eq!(
            (got, error_of(&body).1.as_str()),
            (status, reason),
            "{body}"
        );
    }
    let (status, body) = app.inbound(&tenant, &secret, None, b"").await;
    assert_eq!(status, 400, "{body}");
    // A call without its signature headers.
    let response = app
        .http
        .post(format!(
            "http://{}/ops/helpdesk/inbound-mail/{tenant}",
            app.addr
        ))
        .body(first.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // The secret speaks for its tenant only.
    app.ok(&other_admin, rotate, json!({})).await;
    let (status, body) = app.inbound(&other_tenant, &secret, None, &first).await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (401, "MAIL_SIGNATURE_INVALID")
    );
    assert_eq!(
        tickets_of(admin.clone()).await,
        0,
        "nothing refused was written"
    );

    // The first message opens a ticket; its attachment is stored by hash.
    let (status, body) = app.inbound(&tenant, &secret, None, &first).await;
    assert_eq!(status, 200, "{body}");
    let ticket = body["ticketId"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({ "ticketId": ticket, "replyId": null, "duplicate": false })
    );
    let one = "query($id: ID!) { ticket(id: $id) { subject description channel status requesterId
        attachments { name contentType size sha256 }
        replies { nodes { authorId body byAgent attachments { name } } } } }";
    let png: &[u8] = b"\x89PNG fake image bytes";
    let sha: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, png)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        app.ok(&admin, one, json!({ "id": ticket })).await["ticket"],
        json!({ "subject": "Printer jammed", "description": "The printer on floor 2 is jammed.",
                "channel": "EMAIL", "status": "NEW", "requesterId": "email:ada@example.com",
                "attachments": [{ "name": "photo.png", "contentType": "image/png", "size": png.len(), "sha256": sha }],
                "replies": { "nodes": [] } })
    );
    assert_eq!(
        std::fs::read(app.files.join(&tenant).join(&sha)).unwrap(),
        png,
        "the attachment's bytes are in the blob store under its hash"
    );
    let created = ticket_events(&app, &ticket).await;
    assert_eq!(
        (created[0].0.as_str(), created[0].1.as_str()),
        ("ticket.created", "email:ada@example.com")
    );
    // The provider's retry of the same message: a duplicate, nothing written.
    let (status, body) = app
        .inbound(
            &tenant,
            &secret,
            Some(chrono::Utc::now().timestamp() - 5),
            &first,
        )
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "ticketId": ticket, "replyId": null, "duplicate": true })
        )
    );
    assert_eq!(tickets_of(admin.clone()).await, 1);

    // Replies thread by In-Reply-To, then by the subject's token.
    let reply = mail(
        "ada@example.com",
        "Re: Printer jammed",
        Some("a2@example.com"),
        Some("a1@example.com"),
        "Still jammed.",
        None,
    );
    let (status, body) = app.inbound(&tenant, &secret, None, &reply).await;
    assert_eq!(
        (status, &body["ticketId"], body["replyId"].is_string()),
        (200, &json!(ticket), true),
        "{body}"
    );
    let by_token = mail(
        "Bob <bob@example.com>",
        &format!("Re: your ticket [#{ticket}]"),
        Some("b1@example.com"),
        None,
        "Me too.",
        Some(("log.txt", "text/plain", b"paper jam at tray 2")),
    );
    let (status, body) = app.inbound(&tenant, &secret, None, &by_token).await;
    assert_eq!((status, &body["ticketId"]), (200, &json!(ticket)), "{body}");
    assert_eq!(
        app.ok(&admin, one, json!({ "id": ticket })).await["ticket"]["replies"],
        json!({ "nodes": [
            { "authorId": "email:ada@example.com", "body": "Still jammed.", "byAgent": false, "attachments": [] },
            { "authorId": "email:bob@example.com", "body": "Me too.", "byAgent": false, "attachments": [{ "name": "log.txt" }] } ] })
    );
    // Nothing known: a new ticket.
    let unrelated = mail(
        "carol@example.com",
        "Re: VPN",
        Some("c1@example.com"),
        Some("unknown@elsewhere"),
        "VPN is down.",
        None,
    );
    let (status, body) = app.inbound(&tenant, &secret, None, &unrelated).await;
    assert_eq!(status, 200, "{body}");
    let vpn = body["ticketId"].as_str().unwrap().to_owned();
    assert_ne!(vpn, ticket);
    assert_eq!(
        app.ok(
            &admin,
            "query($id: ID!) { ticket(id: $id) { subject requesterId } }",
            json!({ "id": vpn })
        )
        .await["ticket"],
        json!({ "subject": "VPN", "requesterId": "email:carol@example.com" })
    );

    // Merged: a reply lands on the ticket it was merged into. Closed: a reply opens a new one.
    app.ok(
        &admin,
        "mutation($a: ID!, $b: ID!) { mergeTicket(input: { ticketId: $a, intoTicketId: $b }) { id } }",
        json!({ "a": vpn, "b": ticket }),
    )
    .await;
    let to_merged = mail(
        "carol@example.com",
        "Re: VPN",
        Some("c2@example.com"),
        Some("c1@example.com"),
        "Any news?",
        None,
    );
    let (_, body) = app.inbound(&tenant, &secret, None, &to_merged).await;
    assert_eq!(body["ticketId"], json!(ticket), "{body}");
    let status_change = "mutation($t: ID!, $s: TicketStatus!) { changeTicketStatus(input: { ticketId: $t, status: $s }) { status } }";
    app.ok(
        &admin,
        status_change,
        json!({ "t": ticket, "s": "RESOLVED" }),
    )
    .await;
    app.ok(&admin, status_change, json!({ "t": ticket, "s": "CLOSED" }))
        .await;
    let to_closed = mail(
        "ada@example.com",
        "Re: Printer jammed",
        Some("a3@example.com"),
        Some("a2@example.com"),
        "It jammed again.",
        None,
    );
    let (_, body) = app.inbound(&tenant, &secret, None, &to_closed).await;
    let reopened = body["ticketId"].as_str().unwrap().to_owned();
    assert!(reopened != ticket && reopened != vpn, "{body}");
    assert_eq!(body["replyId"], Value::Null);
    assert_eq!(tickets_of(admin.clone()).await, 3);

    // Rotation: with an overlap both secrets verify; without one only the new one does.
    let data = app.ok(&admin, rotate, json!({ "s": 3600 })).await;
    let second = data["rotateInboundMailSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(data["rotateInboundMailSecret"]["previousValidUntil"].is_string());
    let m = |id: &str| mail("dan@example.com", "Hi", Some(id), None, "Hello", None);
    assert_eq!(
        app.inbound(&tenant, &secret, None, &m("d1@example.com"))
            .await
            .0,
        200
    );
    assert_eq!(
        app.inbound(&tenant, &second, None, &m("d2@example.com"))
            .await
            .0,
        200
    );
    let settings = "{ inboundMailSettings { configured path currentSince previousValidUntil } }";
    let data = app.ok(&admin, settings, json!({})).await;
    assert_eq!(data["inboundMailSettings"]["configured"], true);
    assert!(data["inboundMailSettings"]["previousValidUntil"].is_string());
    let data = app.ok(&admin, rotate, json!({ "s": 0 })).await;
    let third = data["rotateInboundMailSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for old in [&secret, &second] {
        let (status, body) = app.inbound(&tenant, old, None, &m("d3@example.com")).await;
        assert_eq!(
            (status, error_of(&body).1.as_str()),
            (401, "MAIL_SIGNATURE_INVALID")
        );
    }
    assert_eq!(
        app.inbound(&tenant, &third, None, &m("d3@example.com"))
            .await
            .0,
        200
    );
    let data = app.ok(&admin, settings, json!({})).await;
    assert_eq!(
        data["inboundMailSettings"]["previousValidUntil"],
        Value::Null
    );
}

/// The bucket of the real S3-compatible server started by deploy/local/services.sh.
fn s3_config() -> erp_ops::store::blobs::S3Config {
    erp_ops::store::blobs::S3Config {
        endpoint: Some(require_env("S3_ENDPOINT")),
        bucket: require_env("S3_BUCKET"),
        region: require_env("S3_REGION"),
        access_key_id: Some(require_env("S3_ACCESS_KEY_ID")),
        secret_access_key: Some(require_env("S3_SECRET_ACCESS_KEY")),
        allow_http: false,
    }
}

/// Where the S3 server keeps an object of the bucket (s3s-fs: a file per key).
fn s3_object_file(tenant: &str, hash: &str) -> std::path::PathBuf {
    std::path::Path::new(&require_env("S3_DATA_DIR"))
        .join(require_env("S3_BUCKET"))
        .join("ops")
        .join(tenant)
        .join(hash)
}

/// SOP files and inbound-mail attachments in the real S3-compatible server: written under
/// `ops/<tenant>/<hash>` of the bucket, read back (GraphQL content, signed download URL),
/// per tenant, and refused when the object was changed behind the store's back.
async fn sop_files_and_mail_attachments_round_trip_through_s3(store: Store) {
    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn_on_s3(&issuer, store).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "olga", ALL);

    // An SOP version's file: in the bucket, not in the document, read back from S3.
    let content = "# Forklift check\n\n1. Horn.\n2. Brakes.\n";
    let hash = erp_ops::domain::sop::ContentHash::of(content.as_bytes());
    let data = app
        .ok(
            &admin,
            "mutation($input: CreateSopInput!) { createSop(input: $input) { id versions { number contentHash content } } }",
            json!({ "input": { "title": "Forklift check", "content": content } }),
        )
        .await;
    let sop = data["createSop"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        data["createSop"]["versions"],
        json!([{ "number": 1, "contentHash": hash.as_str(), "content": content }])
    );
    let object = s3_object_file(&tenant, hash.as_str());
    assert_eq!(std::fs::read(&object).unwrap(), content.as_bytes());
    assert!(
        !app.files.exists(),
        "nothing on the local filesystem when S3 is configured"
    );
    let url_query = "query($id: ID!) { sop(id: $id) { versions { content downloadUrl { url } } } }";
    let data = app.ok(&admin, url_query, json!({ "id": sop })).await;
    let url = data["sop"]["versions"][0]["downloadUrl"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .http
        .get(format!("http://{}{url}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), content.as_bytes());

    // Another tenant's file of the same bytes is its own object; neither sees the other's.
    let other = self::tenant();
    let other_admin = issuer.token(&other, "olga", ALL);
    let data = app
        .ok(
            &other_admin,
            "mutation($input: CreateSopInput!) { createSop(input: $input) { id } }",
            json!({ "input": { "title": "Forklift check", "content": content } }),
        )
        .await;
    let other_sop = data["createSop"]["id"].as_str().unwrap().to_owned();
    assert!(s3_object_file(&other, hash.as_str()).exists());
    let (_, body) = app
        .graphql(&admin, url_query, json!({ "id": other_sop }))
        .await;
    assert_eq!(body["data"]["sop"], Value::Null, "{body}");

    // An inbound e-mail's attachment: stored in the bucket under its hash.
    let secret = app
        .ok(
            &admin,
            "mutation { rotateInboundMailSecret(input: {}) { secret } }",
            json!({}),
        )
        .await["rotateInboundMailSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let pdf: &[u8] = b"%PDF-1.4 forklift inspection report";
    let raw = mail(
        "Ada <ada@example.com>",
        "Forklift brakes",
        Some("s3-1@example.com"),
        None,
        "The brakes squeal.",
        Some(("report.pdf", "application/pdf", pdf)),
    );
    let (status, body) = app.inbound(&tenant, &secret, None, &raw).await;
    assert_eq!(status, 200, "{body}");
    let ticket = body["ticketId"].as_str().unwrap().to_owned();
    let sha = erp_ops::domain::sop::ContentHash::of(pdf);
    let data = app
        .ok(
            &admin,
            "query($id: ID!) { ticket(id: $id) { attachments { name contentType size sha256 } } }",
            json!({ "id": ticket }),
        )
        .await;
    assert_eq!(
        data["ticket"]["attachments"],
        json!([{ "name": "report.pdf", "contentType": "application/pdf", "size": pdf.len(), "sha256": sha.as_str() }])
    );
    assert_eq!(
        std::fs::read(s3_object_file(&tenant, sha.as_str())).unwrap(),
        pdf
    );

    // Its signed download URL (issued to whoever can read the ticket) serves it as a
    // download; an altered URL, another tenant's path or an expired one is refused.
    let url_of = |seconds: i64| {
        let app = &app;
        let admin = admin.clone();
        let ticket = ticket.clone();
        async move {
            app.ok(
                &admin,
                "query($id: ID!, $s: Int) { ticket(id: $id) { attachments { downloadUrl(expiresInSeconds: $s) { url expiresAt } } } }",
                json!({ "id": ticket, "s": seconds }),
            )
            .await["ticket"]["attachments"][0]["downloadUrl"]["url"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let attachment_url = url_of(300).await;
    assert!(
        attachment_url.starts_with(&format!(
            "/ticket-files/{tenant}/{}?name=report.pdf&type=application%2Fpdf&expires=",
            sha.as_str()
        )),
        "{attachment_url}"
    );
    let fetch = |path: String| {
        let app = &app;
        async move {
            let response = app
                .http
                .get(format!("http://{}{path}", app.addr))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let headers = (header("content-type"), header("content-disposition"));
            (status, headers, response.bytes().await.unwrap().to_vec())
        }
    };
    let (status, headers, body) = fetch(attachment_url.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers,
        (
            Some("application/pdf".to_owned()),
            Some("attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf".to_owned())
        )
    );
    assert_eq!(body, pdf);
    let refusal = |body: &[u8]| {
        let body: Value = serde_json::from_slice(body).unwrap();
        error_of(&body)
    };
    let forbidden = |reason: &str| ("FORBIDDEN".to_owned(), reason.to_owned());
    for altered in [
        attachment_url.replace("name=report.pdf", "name=report.html"),
        attachment_url.replace("type=application%2Fpdf", "type=text%2Fhtml"),
        attachment_url.replace(&tenant, &other),
        attachment_url.replace(sha.as_str(), hash.as_str()),
    ] {
        let (status, _, body) = fetch(altered.clone()).await;
        assert_eq!(
            (status, refusal(&body)),
            (403, forbidden("SIGNED_URL_INVALID")),
            "{altered}"
        );
    }
    let (_, body) = app
        .graphql(
            &admin,
            "query($id: ID!) { ticket(id: $id) { attachments { downloadUrl(expiresInSeconds: 86401) { url } } } }",
            json!({ "id": ticket }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    // Another tenant cannot reach the ticket, so gets no URL of its attachment.
    let (_, body) = app
        .graphql(
            &other_admin,
            "query($id: ID!) { ticket(id: $id) { attachments { downloadUrl { url } } } }",
            json!({ "id": ticket }),
        )
        .await;
    assert_eq!(body["data"]["ticket"], Value::Null, "{body}");
    let short = url_of(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (status, _, body) = fetch(short).await;
    assert_eq!(
        (status, refusal(&body)),
        (403, forbidden("SIGNED_URL_EXPIRED"))
    );

    // An object changed in the bucket behind the store's back is refused, never served.
    std::fs::write(&object, b"# Forklift check\n\nSkip the brakes.\n").unwrap();
    let (_, body) = app.graphql(&admin, url_query, json!({ "id": sop })).await;
    assert_eq!(error_codes(&body), ["INTERNAL"], "{body}");
    let response = app
        .http
        .get(format!("http://{}{url}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
}

/// A wrong S3 configuration stops the subgraph at start with what is wrong: a bucket that
/// does not exist, credentials the server refuses, plain HTTP to another machine.
#[tokio::test]
async fn s3_misconfiguration_fails_the_start_with_what_is_wrong() {
    let issuer = TestIssuer::start().await;
    let start = |s3: erp_ops::store::blobs::S3Config| {
        let issuer = &issuer;
        async move {
            let mut kit = config(issuer, String::new());
            kit.service = "ops".into();
            let runtime = Runtime::with_backends(
                kit,
                sea_orm::DatabaseConnection::Disconnected,
                Arc::new(InProcessCache::new()),
                Arc::new(InProcessBus::new()),
            );
            let store: SharedStore = Arc::new(erp_ops::store::memory::MemoryStore::new());
            let options = erp_ops::OpsOptions {
                s3: Some(s3),
                ..Default::default()
            };
            match erp_ops::start_with(&runtime, store, options).await {
                Ok(_) => panic!("started with a wrong S3 configuration"),
                Err(err) => err.to_string(),
            }
        }
    };
    let missing = format!("no-such-bucket-{}", uuid::Uuid::new_v4().simple());
    let err = start(erp_ops::store::blobs::S3Config {
        bucket: missing.clone(),
        ..s3_config()
    })
    .await;
    assert_eq!(
        err,
        format!(
            "S3 bucket `{missing}` does not exist at {} (create it, or fix ERP_OPS_S3_BUCKET)",
            require_env("S3_ENDPOINT")
        )
    );
    let err = start(erp_ops::store::blobs::S3Config {
        secret_access_key: Some("not-the-secret".into()),
        ..s3_config()
    })
    .await;
    assert_eq!(
        err,
        format!(
            "S3 at {} refused the credentials for bucket `{}` (check ERP_OPS_S3_ACCESS_KEY_ID \
             and ERP_OPS_S3_SECRET_ACCESS_KEY)",
            require_env("S3_ENDPOINT"),
            require_env("S3_BUCKET")
        )
    );
    let err = start(erp_ops::store::blobs::S3Config {
        access_key_id: Some("nobody".into()),
        ..s3_config()
    })
    .await;
    assert!(err.contains("refused the credentials"), "{err}");
    let err = start(erp_ops::store::blobs::S3Config {
        endpoint: Some("http://s3.internal.example:9000".into()),
        ..s3_config()
    })
    .await;
    assert!(err.contains("plain HTTP to another machine"), "{err}");
}

/// `register_assets`, the seed's bulk path (no GraphQL field): up to 1,000 assets in one
/// commit, each checked as a single registration is, all or nothing. A tag listed twice is
/// BAD_USER_INPUT before anything is written; a batch with a tag already taken is CONFLICT
/// `ASSET_TAG_TAKEN` and registers none of its assets; more than 1,000 is refused. What was
/// registered reads back over GraphQL with its schedule.
async fn bulk_registration_is_all_or_nothing(store: Store) {
    use erp_kit::money::{Currency, Money};
    use erp_ops::app::assets::{DepreciationTerms, NewAsset};
    use erp_ops::domain::asset::AssetTag;
    use erp_ops::domain::depreciation::{Frequency, Method};

    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = format!("tnt_bulk_{}", uuid::Uuid::new_v4().simple());
    let token = issuer.token(&tenant, "usr_admin", ALL);
    let claims = issuer.claims(&tenant, "usr_admin", &["assets:write"]);
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let eur = Currency::parse("EUR").unwrap();
    let asset = |tag: &str| NewAsset {
        kind: erp_ops::store::AssetKind::Hardware,
        tag: AssetTag::parse("tag", tag).unwrap(),
        name: "Monitor".into(),
        serial: None,
        model: None,
        category: Some("monitor".into()),
        location_id: None,
        cost: Money::from_minor(36_000, eur).unwrap(),
        purchase_date: None,
        in_use_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        warranty_until: None,
        end_of_life: None,
        depreciation: Some(DepreciationTerms {
            method: Method::StraightLine,
            frequency: Frequency::Monthly,
            periods: 36,
            salvage: Money::from_minor(0, eur).unwrap(),
            prorata: true,
        }),
    };
    let tags = || async {
        let data = app
            .ok(&token, "{ assets(first: 100) { nodes { tag depreciation { lines { amount { amount } } } } } }", json!({}))
            .await;
        data["assets"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                let lines = node["depreciation"]["lines"].as_array().unwrap();
                assert_eq!(lines.len(), 36, "{node}");
                assert_eq!(lines[0]["amount"]["amount"], "10.00", "{node}");
                node["tag"].as_str().unwrap().to_owned()
            })
            .collect::<Vec<_>>()
    };

    let written = app
        .ops
        .register_assets(&tenant_id, &claims, vec![asset("MON-1"), asset("MON-2")])
        .await
        .unwrap();
    assert_eq!(
        written.iter().map(|a| a.tag.as_str()).collect::<Vec<_>>(),
        ["MON-1", "MON-2"]
    );
    assert_eq!(tags().await, ["MON-1", "MON-2"]);

    // Listed twice (whatever the case): refused before anything is written.
    let err = app
        .ops
        .register_assets(&tenant_id, &claims, vec![asset("MON-3"), asset("mon-3")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), erp_kit::ErrorCode::BadUserInput, "{err:?}");
    // One tag already taken: none of the batch is registered.
    let err = app
        .ops
        .register_assets(&tenant_id, &claims, vec![asset("MON-4"), asset("MON-2")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), erp_kit::ErrorCode::Conflict, "{err:?}");
    assert_eq!(
        err.reason().map(|r| r.name().to_owned()),
        Some("ASSET_TAG_TAKEN".to_owned()),
        "{err:?}"
    );
    // Empty, or over 1,000: refused.
    for batch in [
        vec![],
        (0..1_001).map(|n| asset(&format!("X-{n}"))).collect(),
    ] {
        let err = app
            .ops
            .register_assets(&tenant_id, &claims, batch)
            .await
            .unwrap_err();
        assert_eq!(err.code(), erp_kit::ErrorCode::BadUserInput, "{err:?}");
    }
    assert_eq!(tags().await, ["MON-1", "MON-2"], "nothing else was written");
}

/// `open_tickets`, the seed's bulk path for tickets (no GraphQL field): up to 1,000 tickets
/// opened on behalf of their requesters in one commit, each routed and assigned as a single
/// ticket is (a round-robin team's turns taken for the batch at once, least-open counting
/// only the tickets still open), moved along its statuses with its clocks, and with the single
/// path's events; a merged status, an empty batch or one over 1,000 is BAD_USER_INPUT and
/// writes nothing.
async fn bulk_tickets_are_routed_moved_and_all_or_nothing(store: Store) {
    use erp_ops::app::helpdesk::{LoadedTicket, NewTicket};
    use erp_ops::domain::helpdesk::{Channel, Priority, TicketStatus};

    let issuer = TestIssuer::start().await;
    let mut app = OpsApp::spawn(&issuer, store).await;
    // The relay is stopped so the committed events stay in the outbox to be read.
    if let Some(relay) = app.relay.take() {
        relay.shutdown().await;
    }
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let claims = issuer.claims(&tenant, "usr_admin", ALL);
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let (round, _) = rotating_and_balanced_teams(&app, &admin).await;
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    app.ok(
        &admin,
        "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }",
        json!({ "input": { "priority": "NORMAL", "timeZone": "UTC", "weeklyHours": all_week,
            "firstResponseMinutes": 60, "updateMinutes": 600, "resolutionMinutes": 600 } }),
    )
    .await;

    let loaded = |n: usize, category: &str, status: TicketStatus| LoadedTicket {
        requester_id: format!("usr_req{}", n % 2),
        requester_name: format!("Requester {}", n % 2),
        ticket: NewTicket {
            subject: format!("T{n:02}"),
            description: "It broke.".into(),
            channel: Channel::Portal,
            priority: Priority::Normal,
            asset_id: None,
            client_id: None,
            category: Some(category.into()),
        },
        status,
    };
    use TicketStatus::*;
    let plan = [
        ("round", New),
        ("round", Open),
        ("round", Pending),
        ("round", Resolved),
        ("round", Closed),
        ("round", New),
        ("least", New),
        ("least", Closed),
        ("least", New),
        ("least", New),
        ("facilities", Open),
    ];
    let listed = || async {
        let data = app
            .ok(
                &admin,
                "{ tickets(first: 100) { nodes { id subject status requesterId queueId assigneeId
                    sla { resolution { state } } } } }",
                json!({}),
            )
            .await;
        let mut nodes = data["tickets"]["nodes"].as_array().unwrap().clone();
        nodes.sort_by_key(|node| node["subject"].as_str().unwrap().to_owned());
        nodes
    };

    // Refused before anything is written: a merged status (naming the ticket), no tickets,
    // more than 1,000.
    let mut with_merged: Vec<LoadedTicket> = (0..3).map(|n| loaded(n, "round", Open)).collect();
    with_merged.push(loaded(3, "round", Merged));
    for batch in [
        with_merged,
        Vec::new(),
        (0..1_001).map(|n| loaded(n, "round", New)).collect(),
    ] {
        let err = app
            .ops
            .open_tickets(&tenant_id, &claims, batch)
            .await
            .unwrap_err();
        assert_eq!(err.code(), erp_kit::ErrorCode::BadUserInput, "{err:?}");
    }
    assert_eq!(listed().await, Vec::<Value>::new());

    let opened = app
        .ops
        .open_tickets(
            &tenant_id,
            &claims,
            plan.iter()
                .enumerate()
                .map(|(n, (category, status))| loaded(n, category, *status))
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(opened.len(), plan.len());
    let nodes = listed().await;
    let summary: Vec<Value> = nodes
        .iter()
        .map(|node| {
            json!([
                node["subject"],
                node["status"],
                node["requesterId"],
                node["queueId"].is_string(),
                node["assigneeId"],
                node["sla"]["resolution"]["state"],
            ])
        })
        .collect();
    // Round robin in ticket order; least open: l1, then l2 (l1 has one open), the closed one
    // not counted, so l2 again at its turn, then l1.
    assert_eq!(
        summary,
        vec![
            json!(["T00", "NEW", "usr_req0", true, "usr_r1", "RUNNING"]),
            json!(["T01", "OPEN", "usr_req1", true, "usr_r2", "RUNNING"]),
            json!(["T02", "PENDING", "usr_req0", true, "usr_r3", "PAUSED"]),
            json!(["T03", "RESOLVED", "usr_req1", true, "usr_r1", "MET"]),
            json!(["T04", "CLOSED", "usr_req0", true, "usr_r2", "MET"]),
            json!(["T05", "NEW", "usr_req1", true, "usr_r3", "RUNNING"]),
            json!(["T06", "NEW", "usr_req0", true, "usr_l1", "RUNNING"]),
            json!(["T07", "CLOSED", "usr_req1", true, "usr_l2", "MET"]),
            json!(["T08", "NEW", "usr_req0", true, "usr_l2", "RUNNING"]),
            json!(["T09", "NEW", "usr_req1", true, "usr_l1", "RUNNING"]),
            json!(["T10", "OPEN", "usr_req0", false, null, "RUNNING"]),
        ]
    );
    assert_eq!(nodes[0]["queueId"], json!(round));
    let teams = app
        .ok(&admin, "{ helpdeskTeams { name turnsTaken } }", json!({}))
        .await;
    assert_eq!(
        teams["helpdeskTeams"],
        json!([{ "name": "Rotating", "turnsTaken": 6 }, { "name": "Balanced", "turnsTaken": 5 }])
    );
    // The single path's events, in its order, by the caller.
    let closed = nodes[4]["id"].as_str().unwrap();
    let events: Vec<(String, String, Value)> = ticket_events(&app, closed)
        .await
        .into_iter()
        .map(|(kind, actor, payload)| (kind, actor, payload["status"].clone()))
        .collect();
    assert_eq!(
        events,
        vec![
            ("ticket.created".into(), "usr_admin".into(), json!("NEW")),
            ("ticket.assigned".into(), "usr_admin".into(), json!(null)),
            (
                "ticket.status_changed".into(),
                "usr_admin".into(),
                json!("OPEN")
            ),
            (
                "ticket.status_changed".into(),
                "usr_admin".into(),
                json!("RESOLVED")
            ),
            (
                "ticket.status_changed".into(),
                "usr_admin".into(),
                json!("CLOSED")
            ),
        ]
    );
    let unrouted = nodes[10]["id"].as_str().unwrap();
    let kinds: Vec<String> = ticket_events(&app, unrouted)
        .await
        .into_iter()
        .map(|(kind, _, _)| kind)
        .collect();
    assert_eq!(kinds, ["ticket.created", "ticket.status_changed"]);
}

/// A changed SLA policy reschedules every open ticket of its priority at once (a page of 100
/// tickets a commit): 240 new and 10 closed tickets opened under a 10-hour first response;
/// none is due within five minutes; after the policy says one minute, exactly the 240 open
/// ones are, whatever page they were on; the closed ones never.
async fn an_sla_policy_change_reschedules_every_open_ticket(store: Store) {
    use erp_ops::app::helpdesk::{LoadedTicket, NewTicket};
    use erp_ops::domain::helpdesk::{Channel, Priority, TicketStatus};

    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let admin = issuer.token(&tenant, "usr_admin", ALL);
    let claims = issuer.claims(&tenant, "usr_admin", ALL);
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let all_week: Vec<Value> = [
        "MONDAY",
        "TUESDAY",
        "WEDNESDAY",
        "THURSDAY",
        "FRIDAY",
        "SATURDAY",
        "SUNDAY",
    ]
    .iter()
    .map(|day| json!({ "weekday": day, "start": "00:00", "end": "00:00" }))
    .collect();
    let set_policy = |first_response: u32| {
        json!({ "input": { "priority": "NORMAL", "timeZone": "UTC", "weeklyHours": all_week,
            "firstResponseMinutes": first_response, "updateMinutes": 6000,
            "resolutionMinutes": 6000 } })
    };
    let mutation =
        "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }";
    app.ok(&admin, mutation, set_policy(600)).await;
    let tickets: Vec<LoadedTicket> = (0..250)
        .map(|n| LoadedTicket {
            requester_id: "usr_req".into(),
            requester_name: "Requester".into(),
            ticket: NewTicket {
                subject: format!("T{n:03}"),
                description: "It broke.".into(),
                channel: Channel::Portal,
                priority: Priority::Normal,
                asset_id: None,
                client_id: None,
                category: None,
            },
            status: if n % 25 == 0 {
                TicketStatus::Closed
            } else {
                TicketStatus::New
            },
        })
        .collect();
    let opened = app
        .ops
        .open_tickets(&tenant_id, &claims, tickets)
        .await
        .unwrap();
    let open: std::collections::BTreeSet<String> = opened
        .iter()
        .filter(|ticket| ticket.status == TicketStatus::New)
        .map(|ticket| ticket.id.clone())
        .collect();
    assert_eq!(open.len(), 240);
    let due_soon = || async {
        let soon = chrono::Utc::now().timestamp_millis() + 5 * 60_000;
        app.store
            .due_breaches(soon, 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|raw| {
                serde_json::from_value::<erp_ops::store::TicketDoc>(raw)
                    .unwrap()
                    .id
            })
            .collect::<std::collections::BTreeSet<String>>()
    };
    assert!(due_soon().await.is_empty());

    app.ok(&admin, mutation, set_policy(1)).await;
    assert_eq!(due_soon().await, open);
}

/// The bulk path at its limit: 1,000 assets checked out in one call (each assigned to the
/// holder, one movement each, nothing else changed), then 999 in stock with one assigned
/// refused whole, naming it, writing nothing. On the embedded store the commit's check of
/// the ids it inserts was a list scan per insert (quadratic in the 1,000 movements).
async fn a_bulk_check_out_of_a_thousand_assets_is_exact_and_all_or_nothing(store: Store) {
    use erp_kit::money::{Currency, Money};
    use erp_ops::app::assets::NewAsset;
    use erp_ops::domain::asset::AssetTag;
    use erp_ops::store::Kind;

    let issuer = TestIssuer::start().await;
    let app = OpsApp::spawn(&issuer, store).await;
    let tenant = tenant();
    let it = issuer.token(&tenant, "it-desk", ALL);
    let claims = issuer.claims(&tenant, "it-desk", &["assets:write"]);
    let tenant_id = erp_kit::TenantId::from_claim(&tenant);
    let eur = Currency::parse("EUR").unwrap();
    let asset = |n: usize| NewAsset {
        kind: erp_ops::store::AssetKind::Hardware,
        tag: AssetTag::parse("tag", &format!("BULK-{n:04}")).unwrap(),
        name: "Laptop".into(),
        serial: None,
        model: None,
        category: Some("laptop".into()),
        location_id: None,
        cost: Money::from_minor(120_000, eur).unwrap(),
        purchase_date: None,
        in_use_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        warranty_until: None,
        end_of_life: None,
        depreciation: None,
    };
    let mut ids = Vec::new();
    for range in [0..1_000, 1_000..1_999] {
        let started = std::time::Instant::now();
        let written = app
            .ops
            .register_assets(&tenant_id, &claims, range.map(asset).collect())
            .await
            .unwrap();
        eprintln!(
            "{store:?}: register_assets of {} assets in {:.1} ms",
            written.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        ids.extend(written.into_iter().map(|asset| asset.id));
    }
    // Tenant-wide: assets by status and the movements.
    let counts = || async {
        let mut statuses: Vec<(String, u64)> = app
            .store
            .count_by(&tenant_id, Kind::Assets, &[], None, "status")
            .await
            .unwrap()
            .into_iter()
            .map(|(status, n)| (status.as_str().unwrap().to_owned(), n))
            .collect();
        statuses.sort();
        let movements: u64 = app
            .store
            .count_by(&tenant_id, Kind::AssetMovements, &[], None, "tenant_id")
            .await
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .sum();
        (statuses, movements)
    };

    let check_out = "mutation($input: CheckOutAssetsInput!) { checkOutAssets(input: $input) {
        count assets { id status holder { type id } } } }";
    let started = std::time::Instant::now();
    let data = app
        .ok(
            &it,
            check_out,
            json!({ "input": { "assetIds": &ids[..1_000], "holder": { "type": "PERSON", "id": "alice" } } }),
        )
        .await;
    eprintln!(
        "{store:?}: checkOutAssets of 1,000 assets in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(data["checkOutAssets"]["count"], 1_000);
    let answered = data["checkOutAssets"]["assets"].as_array().unwrap();
    assert_eq!(answered.len(), 1_000);
    for (asset, id) in answered.iter().zip(&ids) {
        assert_eq!(
            asset,
            &json!({ "id": id, "status": "ASSIGNED", "holder": { "type": "PERSON", "id": "alice" } })
        );
    }
    let one_each: Vec<Value> = ids[..1_000].iter().map(|id| json!(id)).collect();
    let movements = app
        .store
        .count_by(
            &tenant_id,
            Kind::AssetMovements,
            &[],
            Some(("asset_id", &one_each)),
            "asset_id",
        )
        .await
        .unwrap();
    assert_eq!(movements.len(), 1_000);
    assert!(movements.iter().all(|(_, n)| *n == 1), "{movements:?}");
    let after = (
        vec![("ASSIGNED".to_owned(), 1_000), ("IN_STOCK".to_owned(), 999)],
        1_000,
    );
    assert_eq!(counts().await, after);
    let data = app
        .ok(
            &it,
            "query($id: ID!) { asset(id: $id) { status history { nodes { byUserId } } } }",
            json!({ "id": ids[999] }),
        )
        .await;
    assert_eq!(
        data["asset"],
        json!({ "status": "ASSIGNED", "history": { "nodes": [{ "byUserId": "it-desk" }] } })
    );

    // 999 in stock and, last, one assigned: refused whole, naming it; nothing written.
    let mut refused_ids = ids[1_000..].to_vec();
    refused_ids.push(ids[0].clone());
    let body = app
        .refused(
            &it,
            check_out,
            json!({ "input": { "assetIds": refused_ids, "holder": { "type": "PERSON", "id": "bob" } } }),
            "CONFLICT",
            Some("ASSET_ALREADY_ASSIGNED"),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("BULK-0000"),
        "{body}"
    );
    assert_eq!(counts().await, after);
    let data = app
        .ok(
            &it,
            "query($id: ID!) { asset(id: $id) { status holder { id } history { nodes { byUserId } } } }",
            json!({ "id": ids[1_998] }),
        )
        .await;
    assert_eq!(
        data["asset"],
        json!({ "status": "IN_STOCK", "holder": null, "history": { "nodes": [] } })
    );
}
