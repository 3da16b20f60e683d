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

/// The kit configuration of a new identity service: a fresh database (PostgreSQL, or SQLite
/// for `Backends::Embedded`) and a fresh key-encryption key for its sealed secrets (a restart,
/// or a second replica, reuses the first one's `runtime.config`).
pub async fn fresh_kit(backends: &Backends) -> KitConfig {
    let mut kit = KitConfig::from_lookup("identity", 0, |_| None).unwrap();
    kit.database_url = match backends {
        Backends::Embedded => fresh_sqlite(),
        _ => fresh_postgres().await,
    };
    kit.kek_file = std::env::temp_dir().join(format!(
        "erp-test-identity-kek-{}.key",
        uuid::Uuid::new_v4().simple()
    ));
    kit
}

/// The real Redis (REDIS_URL).
pub async fn real_cache() -> SharedCache {
    Arc::new(
        RedisCache::connect(&require_env("REDIS_URL"))
            .await
            .unwrap(),
    )
}

/// The real Kafka-protocol broker at `brokers`.
pub fn real_bus(brokers: String) -> SharedBus {
    Arc::new(KafkaBus::new(KafkaConfig::new(brokers)).unwrap())
}

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

    /// [`Self::spawn_on`] with the kit's configuration changed by `kit_tweak` (after
    /// [`fresh_kit`]).
    pub async fn spawn_configured(
        backends: Backends,
        kit_tweak: impl FnOnce(&mut KitConfig),
        tweak: impl FnOnce(&mut IdentityConfig),
    ) -> Self {
        let mut kit = fresh_kit(&backends).await;
        kit_tweak(&mut kit);
        let (cache, bus): (SharedCache, SharedBus) = match backends {
            Backends::Embedded => (
                Arc::new(InProcessCache::new()),
                Arc::new(InProcessBus::new()),
            ),
            Backends::Real => (real_cache().await, real_bus(require_env("KAFKA_BROKERS"))),
            Backends::RealWithKafka(brokers) => (real_cache().await, real_bus(brokers)),
        };
        Self::spawn_with(kit, cache, bus, tweak).await
    }

    /// Spawns on exactly these backends: `kit` names the database and the key-encryption key
    /// (another instance's `runtime.config`: a restart, an upgrade, a second replica), `cache`
    /// may be one the test can cut. The issuer is the new instance's own base URL.
    pub async fn spawn_with(
        mut kit: KitConfig,
        cache: SharedCache,
        bus: SharedBus,
        tweak: impl FnOnce(&mut IdentityConfig),
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        kit.auth.issuer = issuer.clone();
        kit.auth.audience = crate::AUDIENCE.into();
        let db = erp_kit::db::connect(&kit.database_url).await.unwrap();
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
                "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) }",
                json!({ "i": { "inviteToken": invite, "password": "a long enough password" } }),
            )
            .await;
        assert_eq!(accepted, json!({ "data": { "acceptInvitation": true } }));
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
/// authenticator app would. Returns `completeTotpEnrollment` (`accessToken`, `refreshToken`,
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
        "mutation($i: MfaTokenInput!) { startTotpEnrollment(input: $i) { secret otpauthUri } }",
        json!({ "i": { "mfaToken": mfa } }),
    )
    .await;
    let secret = body["data"]["startTotpEnrollment"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    assert!(body["data"]["startTotpEnrollment"]["otpauthUri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    let code = erp_identity::domain::totp::code_at(&secret, now_secs()).unwrap();
    let body = call(
        "mutation($i: MfaCodeInput!) { completeTotpEnrollment(input: $i) { accessToken refreshToken expiresIn recoveryCodes } }",
        json!({ "i": { "mfaToken": mfa, "code": code } }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    (body["data"]["completeTotpEnrollment"].clone(), secret)
}

pub fn now_secs() -> u64 {
    chrono::Utc::now().timestamp() as u64
}
