//! Spawning the identity subgraph for tests, on real PostgreSQL, Redis and Kafka (or on the
//! embedded backends).

use std::net::SocketAddr;
use std::sync::Arc;

use erp_identity::{Identity, IdentityConfig};
use erp_kit::cache::{InProcessCache, RedisCache, SharedCache};
use erp_kit::config::KitConfig;
use erp_kit::events::{InProcessBus, KafkaBus, KafkaConfig, SharedBus};
use erp_kit::runtime::Runtime;
use serde_json::{json, Value};

use crate::{fresh_postgres, fresh_sqlite, post_graphql, require_env, Backends};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A spawned identity service; its issuer is its own base URL.
pub struct IdentityApp {
    pub addr: SocketAddr,
    pub issuer: String,
    pub identity: Identity,
    pub runtime: Runtime,
    pub http: reqwest::Client,
    _relay: erp_kit::events::RelayHandle,
}

impl IdentityApp {
    /// Spawns with the default settings changed by `tweak` (short TTLs for rotation tests...).
    pub async fn spawn(tweak: impl FnOnce(&mut IdentityConfig)) -> Self {
        Self::spawn_on(Backends::Real, tweak).await
    }

    /// Spawns on the given backends (`Backends::Embedded`: SQLite, in-process cache and bus).
    pub async fn spawn_on(backends: Backends, tweak: impl FnOnce(&mut IdentityConfig)) -> Self {
        Self::spawn_configured(backends, |_| {}, tweak).await
    }

    /// Spawns behind a router on loopback: the service believes the router's client-address
    /// header from 127.0.0.0/8 (as `ERP_TRUSTED_PROXIES` would make it).
    pub async fn spawn_behind_router(tweak: impl FnOnce(&mut IdentityConfig)) -> Self {
        Self::spawn_configured(
            Backends::Real,
            |kit| kit.trusted_proxies = erp_net::IpNet::loopback().to_vec(),
            tweak,
        )
        .await
    }

    /// [`Self::spawn_on`] with the kit's configuration changed by `kit_tweak` first.
    pub async fn spawn_configured(
        backends: Backends,
        kit_tweak: impl FnOnce(&mut KitConfig),
        tweak: impl FnOnce(&mut IdentityConfig),
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let mut kit = KitConfig::from_lookup("identity", 0, |_| None).unwrap();
        kit_tweak(&mut kit);
        kit.database_url = match backends {
            Backends::Embedded => fresh_sqlite(),
            _ => fresh_postgres().await,
        };
        kit.auth.issuer = issuer.clone();
        kit.auth.audience = crate::AUDIENCE.into();
        let db = erp_kit::db::connect(&kit.database_url).await.unwrap();
        let (cache, bus): (SharedCache, SharedBus) = match backends {
            Backends::Embedded => (
                Arc::new(InProcessCache::new()),
                Arc::new(InProcessBus::new()),
            ),
            Backends::Real | Backends::RealWithKafka(_) => {
                let brokers = match backends {
                    Backends::RealWithKafka(brokers) => brokers,
                    _ => require_env("KAFKA_BROKERS"),
                };
                (
                    Arc::new(
                        RedisCache::connect(&require_env("REDIS_URL"))
                            .await
                            .unwrap(),
                    ),
                    Arc::new(KafkaBus::new(KafkaConfig::new(brokers)).unwrap()),
                )
            }
        };
        let runtime = Runtime::with_backends(kit, db, cache, bus);
        let mut config = IdentityConfig::from_kit(&runtime.config);
        config.webauthn_origin = "https://localhost".into();
        config.webauthn_rp_id = "localhost".into();
        // Tests share one Redis (and one client IP): each app keeps its own counters.
        config.cache_prefix = format!("identity-test-{}", uuid::Uuid::new_v4().simple());
        tweak(&mut config);
        let app = erp_identity::start(&runtime, config).await.unwrap();
        let router = app.router;
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            addr,
            issuer,
            identity: app.identity,
            runtime,
            http: reqwest::Client::new(),
            _relay: app.relay,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        post_graphql(&self.http, &self.url("/graphql"), token, query, variables).await
    }

    /// A tenant with its administrator (unique email per call).
    pub async fn bootstrap(&self) -> (String, String) {
        let email = format!("admin-{}@acme.example", uuid::Uuid::new_v4().simple());
        let (tenant, admin) = self
            .identity
            .bootstrap_tenant("Acme", &email, "Ada Admin", ADMIN_PASSWORD)
            .await
            .unwrap();
        assert_eq!(admin.tenant_id, tenant.id);
        (tenant.id, email)
    }

    /// Password step; returns the challenge as JSON.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .graphql(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { mfaToken enrollmentRequired methods } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        assert_eq!(status, 200);
        body
    }

    /// The `sub` (user id) of one of this service's access tokens.
    pub async fn verify_sub(&self, token: &str) -> String {
        self.identity.keys().verify(token).await.unwrap().sub
    }

    /// Invites a user with the default role `role` (as `admin`) and accepts the invitation with
    /// the password "a long enough password". Returns the user id.
    pub async fn invite_and_accept(&self, admin: &str, email: &str, role: &str) -> String {
        let (_, body) = self
            .graphql(
                Some(admin),
                "{ roles(first: 10) { edges { node { id name } } } }",
                json!({}),
            )
            .await;
        let role_id = body["data"]["roles"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["node"]["name"] == role)
            .unwrap_or_else(|| panic!("no role {role}: {body}"))["node"]["id"]
            .clone();
        let (_, body) = self
            .graphql(
                Some(admin),
                "mutation($i: InviteUserInput!) { inviteUser(input: $i) { inviteToken user { id } } }",
                json!({ "i": { "email": email, "name": "Invited User", "departments": [], "roleId": role_id } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let invite = body["data"]["inviteUser"]["inviteToken"].clone();
        let (_, accepted) = self
            .graphql(
                None,
                "mutation($t: String!, $p: String!) { acceptInvite(inviteToken: $t, password: $p) }",
                json!({ "t": invite, "p": "a long enough password" }),
            )
            .await;
        assert_eq!(accepted, json!({ "data": { "acceptInvite": true } }));
        body["data"]["inviteUser"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Login + TOTP enrolment for a user without a second factor. Returns (tokens, secret).
    pub async fn login_enrolling_totp(&self, email: &str, password: &str) -> (Value, String) {
        login_enrolling_totp_at(&self.http, &self.url("/graphql"), email, password).await
    }
}

/// Password login at `url` (the identity subgraph, or the router in front of it) of a user
/// without a second factor, then TOTP enrolment with a code computed here, as an
/// authenticator app would. Returns `confirmTotpEnrollment` (`accessToken`, `refreshToken`,
/// `expiresIn`, `recoveryCodes`) and the TOTP secret.
pub async fn login_enrolling_totp_at(
    http: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> (Value, String) {
    let call = |query: &'static str, variables: Value| async move {
        let (status, body) = post_graphql(http, url, None, query, variables).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let body = call(
        "mutation Login($input: LoginInput!) { login(input: $input) { mfaToken enrollmentRequired } }",
        json!({ "input": { "email": email, "password": password } }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["login"]["enrollmentRequired"], true, "{body}");
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = call(
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
    let code = erp_identity::domain::totp::code_at(&secret, now_secs()).unwrap();
    let body = call(
        "mutation($t: String!, $c: String!) { confirmTotpEnrollment(mfaToken: $t, code: $c) { accessToken refreshToken expiresIn recoveryCodes } }",
        json!({ "t": mfa, "c": code }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    (body["data"]["confirmTotpEnrollment"].clone(), secret)
}

pub fn now_secs() -> u64 {
    chrono::Utc::now().timestamp() as u64
}
