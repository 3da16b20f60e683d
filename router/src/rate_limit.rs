//! Rate limiting at the edge (edge-security.md): three classes, GCRA buckets in Redis shared by
//! every router replica, a per-replica in-memory fallback when Redis cannot be reached.
//!
//! | class | default | key |
//! |---|---|---|
//! | public (login, token refresh, MFA verify; and every anonymous operation) | 30/min | client address (X-Forwarded-For only from trusted proxies; IPv6 by /64) |
//! | authenticated | 500/min | tenant + JWT `sub` |
//! | heavy (analytics exports) | 5/min | tenant + JWT `sub` |
//! | tenant (webhooks addressed to a tenant: the helpdesk's inbound e-mail) | 120/min | the tenant named in the route's path |
//!
//! An operation is public when its name is in `public.operations` or one of its root fields is
//! in `public.root_fields` (`Mutation.login`); renaming an operation therefore does not move a
//! login out of the public class. Heavy works the same way for authenticated callers.
//!
//! GraphQL operations are counted, not HTTP requests, and by what they may cost: the charge is
//! the number of root-field selections of the operation that is executed (each alias counts;
//! at least 1), so `{ a: login(..) b: login(..) }` costs 2, or its estimated cost
//! ([`crate::cost`]) divided by `cost.cost_per_unit` when that is more: a query that may load
//! 10,000 rows costs 100 units where a light one costs 1. An operation estimated above
//! `cost.max_cost` is refused (400 `COST_LIMIT_EXCEEDED`, `extensions.cost` and `maxCost`) and
//! not charged. hive-router has no request batching (an array body is refused before any plugin
//! runs), so one HTTP request carries one operation.
//!
//! The decision happens in `on_graphql_analysis` (after JWT verification, before planning).
//! Requests refused earlier (parse or validation errors, CSRF, limits) are not charged.
//!
//! The plugin also owns the client's address ([`crate::client_ip`]): it sets it on every
//! subgraph request (`x-erp-client-address`), and caps WebSocket connections per address and
//! per user ([`crate::ws_caps`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use erp_net::IpNet;
use hive_router::executor::execution::client_request_details::JwtRequestDetails;
use hive_router::http::StatusCode;
use hive_router::ntex::http::header::HeaderValue;
use hive_router::opentelemetry::metrics::{Counter, ObservableCounter};
use hive_router::opentelemetry::{global, KeyValue};
use hive_router::plugins::hooks::on_graphql_analysis::{
    OnGraphqlAnalysisHookPayload, OnGraphqlAnalysisHookResult,
};
use hive_router::plugins::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::hooks::on_subgraph_http_request::{
    OnSubgraphHttpRequestHookPayload, OnSubgraphHttpRequestHookResult,
};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use hive_router::query_planner::ast::operation::OperationDefinition;
use hive_router::query_planner::ast::selection_item::SelectionItem;
use hive_router::query_planner::ast::selection_set::SelectionSet;
use hive_router::query_planner::state::supergraph_state::OperationKind;
use hive_router::sonic_rs::JsonValueTrait;
use serde::Deserialize;

use crate::client_ip::ClientAddress;
use crate::config_value::number;
use crate::cost::{operation_cost, CostConfig, COST_LIMIT_EXCEEDED};
use crate::gcra::{decision_from_reply, Decision, MemoryBuckets, Quota, LUA};
use crate::ws_caps::{ConnectionCaps, WebSocketConfig};
use crate::{
    add_response_header, add_response_header_value, apply_response_headers_on_end, edge_error,
    edge_error_with,
};

pub const RATE_LIMITED: &str = "RATE_LIMITED";

// ---------------------------------------------------------------------------------------------
// Configuration (`plugins.erp_rate_limit.config` in router.config.yaml)

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Redis shared by the replicas. None: per-replica buckets only (logged at start).
    #[serde(default)]
    pub redis_url: Option<String>,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// How long one Redis round trip may take before this request uses the fallback bucket.
    #[serde(
        default = "default_redis_timeout",
        with = "hive_router::humantime_serde"
    )]
    pub redis_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (CIDR or single address).
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// The cost estimate: its limit and how it is charged.
    #[serde(default)]
    pub cost: CostConfig,
    /// Caps on client WebSocket connections.
    #[serde(default)]
    pub websocket: WebSocketConfig,
    #[serde(default = "ClassConfig::public_default")]
    pub public: ClassConfig,
    #[serde(default = "ClassConfig::authenticated_default")]
    pub authenticated: ClassConfig,
    #[serde(default = "ClassConfig::heavy_default")]
    pub heavy: ClassConfig,
    /// Requests of the edge's routes charged per tenant (`rate_limit_class: tenant`, the
    /// helpdesk's inbound e-mail): a mail provider posts every tenant's messages from a few
    /// addresses, so a per-address budget would let one busy tenant (or a login flood from
    /// the same network) starve the others.
    #[serde(default = "ClassConfig::tenant_default")]
    pub tenant: ClassConfig,
}

fn default_key_prefix() -> String {
    "erp:rl".into()
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(250)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    #[serde(deserialize_with = "number")]
    pub limit: u32,
    #[serde(with = "hive_router::humantime_serde")]
    pub period: Duration,
    /// Operation names in this class.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Root-field coordinates in this class, e.g. `Mutation.login`.
    #[serde(default)]
    pub root_fields: Vec<String>,
}

impl ClassConfig {
    fn minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
            operations: vec![],
            root_fields: vec![],
        }
    }
    fn public_default() -> Self {
        Self::minute(30)
    }
    fn authenticated_default() -> Self {
        Self::minute(500)
    }
    fn heavy_default() -> Self {
        Self::minute(5)
    }
    fn tenant_default() -> Self {
        Self::minute(120)
    }

    pub fn quota(&self) -> Quota {
        Quota {
            limit: self.limit,
            period: self.period,
        }
    }

    fn matches(&self, operation: &Operation<'_>) -> bool {
        operation
            .name
            .is_some_and(|name| self.operations.iter().any(|o| o == name))
            || operation
                .root_fields
                .iter()
                .any(|field| self.root_fields.iter().any(|f| f == field))
    }
}

// ---------------------------------------------------------------------------------------------
// Class and key selection (pure)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Public,
    Authenticated,
    Heavy,
    /// Routed requests addressed to a tenant (never a GraphQL operation).
    Tenant,
}

impl Class {
    const ALL: [Class; 4] = [
        Class::Public,
        Class::Authenticated,
        Class::Heavy,
        Class::Tenant,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Authenticated => "authenticated",
            Class::Heavy => "heavy",
            Class::Tenant => "tenant",
        }
    }
}

/// What the limiter needs to know about the operation being executed.
#[derive(Debug)]
pub struct Operation<'a> {
    pub name: Option<&'a str>,
    /// `Type.field` per root selection (aliases each count), e.g. `["Mutation.login"]`.
    pub root_fields: &'a [String],
    /// What it is charged ([`erp_net::cost::units`]: its root fields, or more by its cost).
    pub units: u32,
}

/// Who is calling: the client address and, when a token was verified, its subject and tenant.
#[derive(Debug)]
pub struct Caller<'a> {
    pub ip: IpAddr,
    pub user: Option<User<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    pub sub: &'a str,
    pub tenant: Option<&'a str>,
}

/// Which bucket an operation is charged to, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub class: Class,
    /// The bucket key, without the configured prefix.
    pub key: String,
    pub cost: u32,
}

/// Chooses the class, bucket key and cost of one operation.
///
/// Public operations are keyed by IP even with a token (a stolen token must not widen a login
/// budget); an anonymous caller is always in the public class (an anonymous flood shares the
/// public budget of its address); otherwise heavy operations and then everything else are keyed
/// by tenant and subject.
pub fn select(
    public: &ClassConfig,
    heavy: &ClassConfig,
    operation: &Operation<'_>,
    caller: &Caller<'_>,
) -> Charge {
    let cost = operation.units.max(1);
    let by_ip = || Charge {
        class: Class::Public,
        key: format!("public:{}", erp_net::AddressKey::of(caller.ip)),
        cost,
    };
    if public.matches(operation) {
        return by_ip();
    }
    let Some(user) = caller.user else {
        return by_ip();
    };
    let class = if heavy.matches(operation) {
        Class::Heavy
    } else {
        Class::Authenticated
    };
    Charge {
        class,
        key: user_bucket(class, user),
        cost,
    }
}

/// The bucket key of a user's `class` (authenticated or heavy): `class:tenant:sub`.
fn user_bucket(class: Class, user: User<'_>) -> String {
    format!(
        "{}:{}:{}",
        class.as_str(),
        user.tenant.unwrap_or("-"),
        user.sub
    )
}

/// `Type.field` for each root selection of the operation, inline fragments flattened.
pub fn root_field_coordinates(operation: &OperationDefinition) -> Vec<String> {
    let root = match operation.operation_kind {
        None | Some(OperationKind::Query) => "Query",
        Some(OperationKind::Mutation) => "Mutation",
        Some(OperationKind::Subscription) => "Subscription",
    };
    let mut out = Vec::new();
    collect_root_fields(root, &operation.selection_set, &mut out);
    out
}

/// How many root selections the operation has (what [`root_field_coordinates`] would list),
/// without building their names.
pub fn count_root_fields(operation: &OperationDefinition) -> usize {
    fn count(selections: &SelectionSet) -> usize {
        selections
            .items
            .iter()
            .map(|item| match item {
                SelectionItem::InlineFragment(fragment) => count(&fragment.selections),
                SelectionItem::Field(_) | SelectionItem::FragmentSpread(_) => 1,
            })
            .sum()
    }
    count(&operation.selection_set)
}

fn collect_root_fields(root: &str, selections: &SelectionSet, out: &mut Vec<String>) {
    for item in &selections.items {
        match item {
            SelectionItem::Field(field) => out.push(format!("{root}.{}", field.name)),
            SelectionItem::InlineFragment(fragment) => {
                collect_root_fields(root, &fragment.selections, out)
            }
            // Normalization inlines fragments; should one remain, it still costs one.
            SelectionItem::FragmentSpread(name) => out.push(format!("{root}....{name}")),
        }
    }
}

/// `RateLimit-Policy` (IETF httpapi draft): `"public";q=30;w=60`.
pub fn policy_header(class: Class, quota: Quota) -> String {
    format!(
        "\"{}\";q={};w={}",
        class.as_str(),
        quota.limit,
        quota.period.as_secs().max(1)
    )
}

/// `RateLimit` (IETF httpapi draft): `"public";r=0;t=2` (t: seconds until the bucket is full).
pub fn state_header(class: Class, decision: &Decision) -> String {
    format!(
        "\"{}\";r={};t={}",
        class.as_str(),
        decision.remaining,
        decision.reset_us.div_ceil(1_000_000)
    )
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(decision: &Decision) -> u64 {
    decision.retry_after_us.div_ceil(1_000_000).max(1)
}

// ---------------------------------------------------------------------------------------------
// The limiter: Redis first, per-replica memory when Redis fails

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redis,
    /// Admitted from operations this replica took from the Redis bucket ahead of need.
    Lease,
    Memory,
}

impl Backend {
    const ALL: [Backend; 3] = [Backend::Redis, Backend::Lease, Backend::Memory];

    fn index(self) -> usize {
        self as usize
    }

    fn as_str(self) -> &'static str {
        match self {
            Backend::Redis => "redis",
            Backend::Lease => "lease",
            Backend::Memory => "memory",
        }
    }
}

/// Buckets below this limit are charged in Redis operation by operation (the public 30/min
/// and heavy 5/min classes stay exact across replicas).
pub const LEASE_MIN_LIMIT: u32 = 100;
/// The most a replica takes ahead of need from one bucket.
pub const LEASE_MAX: u32 = 50;
/// Operations taken ahead and not used within this time are given up.
pub const LEASE_TTL: Duration = Duration::from_secs(1);

/// How many operations a replica takes ahead of need when it charges `quota` in Redis: a
/// twentieth of the limit (25 of the 500/min per user), at most [`LEASE_MAX`], none below
/// [`LEASE_MIN_LIMIT`].
pub fn lease_size(quota: Quota) -> u32 {
    if quota.limit < LEASE_MIN_LIMIT {
        0
    } else {
        (quota.limit / 20).min(LEASE_MAX)
    }
}

/// Operations a replica has taken from a shared bucket ahead of need (one Redis round trip
/// serves the next ones). A lease is taken from what the bucket holds, so no replica ever
/// admits beyond the limit; what a replica holds and does not use within [`LEASE_TTL`] is
/// lost, so a caller spread over replicas may be refused up to one lease per replica early.
struct Lease {
    tokens: u32,
    expires_at: Instant,
    /// The bucket's own remaining operations (without this lease) when it was granted.
    remaining: u32,
    /// When the bucket was full again, as Redis said at the grant.
    full_at: Instant,
}

#[derive(Default)]
pub struct Leases {
    leases: Mutex<HashMap<String, Lease>>,
}

/// What a lease could do for a charge.
enum FromLease {
    /// Admitted from the lease.
    Admitted(Decision),
    /// Not enough: these many operations were taken from the lease toward the charge, and
    /// must be given back if Redis refuses the rest.
    Short(u32),
}

impl Leases {
    const SWEEP_AT: usize = 10_000;

    fn spend(&self, key: &str, cost: u32, now: Instant) -> FromLease {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let Some(lease) = leases.get_mut(key) else {
            return FromLease::Short(0);
        };
        if lease.expires_at <= now {
            leases.remove(key);
            return FromLease::Short(0);
        }
        if lease.tokens >= cost {
            lease.tokens -= cost;
            return FromLease::Admitted(Decision {
                allowed: true,
                remaining: lease.remaining.saturating_add(lease.tokens),
                retry_after_us: 0,
                reset_us: lease.full_at.saturating_duration_since(now).as_micros() as u64,
                new_tat_us: None,
            });
        }
        let taken = lease.tokens;
        lease.tokens = 0;
        FromLease::Short(taken)
    }

    /// Adds `tokens` taken ahead (or given back) to `key`'s lease.
    fn grant(&self, key: &str, tokens: u32, decision: &Decision, now: Instant) {
        if tokens == 0 {
            return;
        }
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= Self::SWEEP_AT {
            leases.retain(|_, lease| lease.expires_at > now);
        }
        let full_at = now + Duration::from_micros(decision.reset_us);
        let lease = leases.entry(key.to_owned()).or_insert(Lease {
            tokens: 0,
            expires_at: now,
            remaining: decision.remaining,
            full_at,
        });
        if lease.expires_at <= now {
            lease.tokens = 0;
        }
        lease.tokens = lease.tokens.saturating_add(tokens);
        lease.expires_at = now + LEASE_TTL;
        lease.remaining = decision.remaining;
        lease.full_at = full_at;
    }

    /// Gives back operations taken from a lease toward a charge that was refused.
    fn give_back(&self, key: &str, tokens: u32, now: Instant) {
        if tokens == 0 {
            return;
        }
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lease) = leases.get_mut(key).filter(|l| l.expires_at > now) {
            lease.tokens = lease.tokens.saturating_add(tokens);
        }
    }
}

struct RedisBackend {
    /// A small runtime of our own, so the Redis connection does not depend on which ntex worker
    /// (each with its own runtime) happens to call. Leaked: it lives as long as the process.
    runtime: &'static tokio::runtime::Runtime,
    connection: redis::aio::ConnectionManager,
    script: Arc<redis::Script>,
    timeout: Duration,
    degraded: AtomicBool,
    /// After a failure Redis is left alone until this instant (microseconds since `origin`), so
    /// a dead Redis costs one timeout per cool-down, not one per request.
    retry_after_us: AtomicU64,
    origin: Instant,
}

/// How long the limiter stays on the per-replica buckets after Redis failed.
const REDIS_COOL_DOWN: Duration = Duration::from_secs(1);

/// Decisions counted per (class, outcome, backend) in plain atomics: a labelled OTel counter
/// hashes its attribute set on every `add`, which showed up in the router's profile at a few
/// thousand operations a second. The metric reads these when it is collected.
#[derive(Default)]
pub struct DecisionCounts([[[AtomicU64; 3]; 2]; 4]);

impl DecisionCounts {
    fn record(&self, class: Class, allowed: bool, backend: Backend) {
        self.0[class.index()][usize::from(!allowed)][backend.index()]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Every non-zero count with its labels (class, outcome, backend).
    pub fn snapshot(&self) -> Vec<(Class, &'static str, Backend, u64)> {
        let mut out = Vec::new();
        for class in Class::ALL {
            for (o, outcome) in ["allowed", "limited"].into_iter().enumerate() {
                for backend in Backend::ALL {
                    let n = self.0[class.index()][o][backend.index()].load(Ordering::Relaxed);
                    if n > 0 {
                        out.push((class, outcome, backend, n));
                    }
                }
            }
        }
        out
    }
}

pub struct Limiter {
    prefix: String,
    redis: Option<RedisBackend>,
    leases: Leases,
    memory: MemoryBuckets,
    counts: Arc<DecisionCounts>,
    /// Kept alive so the metric keeps reporting `counts`.
    _decisions: ObservableCounter<u64>,
    fallbacks: Counter<u64>,
}

impl Limiter {
    pub fn new(
        redis_url: Option<&str>,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let meter = global::meter("erp_router");
        let counts = Arc::new(DecisionCounts::default());
        let observed = Arc::clone(&counts);
        let decisions = meter
            .u64_observable_counter("erp_router_rate_limit_decisions")
            .with_description("Rate-limit decisions by class, outcome (allowed/limited) and backend (redis/memory)")
            .with_callback(move |observer| {
                for (class, outcome, backend, n) in observed.snapshot() {
                    observer.observe(
                        n,
                        &[
                            KeyValue::new("class", class.as_str()),
                            KeyValue::new("outcome", outcome),
                            KeyValue::new("backend", backend.as_str()),
                        ],
                    );
                }
            })
            .build();
        let fallbacks = meter
            .u64_counter("erp_router_rate_limit_fallbacks")
            .with_description("Operations limited by the per-replica in-memory bucket because Redis failed or timed out")
            .build();
        let redis = match redis_url.filter(|url| !url.is_empty()) {
            None => {
                tracing::warn!(
                    "erp_rate_limit: no redis_url (REDIS_URL): rate limits are kept per router replica"
                );
                None
            }
            Some(url) => {
                let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .thread_name("erp-rate-limit-redis")
                        .enable_all()
                        .build()?,
                ));
                let client = redis::Client::open(url)?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                let connection = {
                    let _entered = runtime.enter();
                    redis::aio::ConnectionManager::new_lazy_with_config(client, config)?
                };
                tracing::info!(
                    "erp_rate_limit: buckets shared through Redis (per-replica fallback when it fails)"
                );
                Some(RedisBackend {
                    runtime,
                    connection,
                    script: Arc::new(redis::Script::new(LUA)),
                    timeout,
                    degraded: AtomicBool::new(false),
                    retry_after_us: AtomicU64::new(0),
                    origin: Instant::now(),
                })
            }
        };
        Ok(Self {
            prefix: prefix.to_owned(),
            redis,
            leases: Leases::default(),
            memory: MemoryBuckets::default(),
            counts,
            _decisions: decisions,
            fallbacks,
        })
    }

    /// Charges `cost` operations to bucket `key`. Never fails: when Redis does, the
    /// per-replica bucket decides (logged on the first failure, counted every time).
    pub async fn charge(
        &self,
        class: Class,
        key: &str,
        quota: Quota,
        cost: u32,
    ) -> (Decision, Backend) {
        let key = format!("{}:{key}", self.prefix);
        let (decision, backend) = match &self.redis {
            Some(redis) => match self.charge_shared(redis, &key, quota, cost).await {
                Ok(decided) => {
                    if redis.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!("erp_rate_limit: Redis answers again; buckets are shared");
                    }
                    decided
                }
                Err(error) => {
                    if !redis.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            %error,
                            "erp_rate_limit: Redis failed; limiting with per-replica in-memory buckets until it answers"
                        );
                    }
                    self.fallbacks
                        .add(1, &[KeyValue::new("class", class.as_str())]);
                    (self.memory.charge(&key, quota, cost), Backend::Memory)
                }
            },
            None => (self.memory.charge(&key, quota, cost), Backend::Memory),
        };
        self.counts.record(class, decision.allowed, backend);
        (decision, backend)
    }
}

impl Limiter {
    /// Charges the shared bucket: from this replica's lease when it holds enough, else in
    /// Redis, taking the next lease on the way.
    async fn charge_shared(
        &self,
        redis: &RedisBackend,
        key: &str,
        quota: Quota,
        cost: u32,
    ) -> Result<(Decision, Backend), String> {
        let extra = lease_size(quota);
        if extra == 0 || cost > quota.limit {
            return Ok((redis.charge(key, quota, cost, 0).await?.0, Backend::Redis));
        }
        let taken = match self.leases.spend(key, cost, Instant::now()) {
            FromLease::Admitted(decision) => return Ok((decision, Backend::Lease)),
            FromLease::Short(taken) => taken,
        };
        match redis.charge(key, quota, cost - taken, extra).await {
            Ok((decision, granted)) => {
                let now = Instant::now();
                if decision.allowed {
                    self.leases.grant(key, granted, &decision, now);
                } else {
                    self.leases.give_back(key, taken, now);
                }
                let remaining = decision.remaining.saturating_add(granted);
                Ok((
                    Decision {
                        remaining,
                        ..decision
                    },
                    Backend::Redis,
                ))
            }
            Err(error) => {
                self.leases.give_back(key, taken, Instant::now());
                Err(error)
            }
        }
    }
}

impl RedisBackend {
    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Charges `cost` and takes up to `extra` more ahead; returns the decision and the extra
    /// granted.
    async fn charge(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        extra: u32,
    ) -> Result<(Decision, u32), String> {
        if self.now_us() < self.retry_after_us.load(Ordering::Relaxed) {
            return Err("cooling down after a failure".into());
        }
        let result = self.invoke(key, quota, cost, extra).await;
        if result.is_err() {
            self.retry_after_us.store(
                self.now_us() + REDIS_COOL_DOWN.as_micros() as u64,
                Ordering::Relaxed,
            );
        }
        result
    }

    async fn invoke(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        extra: u32,
    ) -> Result<(Decision, u32), String> {
        let mut connection = self.connection.clone();
        let script = self.script.clone();
        let key = key.to_owned();
        let timeout = self.timeout;
        let task = self.runtime.spawn(async move {
            let mut invocation = script.key(key);
            invocation
                .arg(quota.emission_us())
                .arg(quota.period_us())
                .arg(cost)
                .arg(quota.limit)
                .arg(extra);
            tokio::time::timeout(
                timeout,
                invocation.invoke_async::<Vec<i64>>(&mut connection),
            )
            .await
        });
        match task.await {
            Ok(Ok(Ok(reply))) => {
                decision_from_reply(&reply).ok_or_else(|| format!("unexpected reply {reply:?}"))
            }
            Ok(Ok(Err(error))) => Err(error.to_string()),
            Ok(Err(_)) => Err(format!("no answer within {timeout:?}")),
            Err(error) => Err(error.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The plugin

/// The limiter and classes of this process's `erp_rate_limit`, for the edge's non-GraphQL
/// routes ([`crate::http_routes`]): a routed request is charged in the same buckets as
/// GraphQL operations.
pub struct RequestLimiter {
    limiter: Arc<Limiter>,
    classes: [ClassConfig; 4],
    policies: [HeaderValue; 4],
}

/// What the charge of a routed request decided.
pub struct RequestVerdict {
    /// `RateLimit-Policy` and `RateLimit` for the answer.
    pub headers: Vec<(String, String)>,
    /// Refused: retry after these many seconds.
    pub refused_retry_after: Option<u64>,
    /// The class and quota charged (for the refusal's message).
    pub class: Class,
    pub quota: Quota,
}

static INSTALLED: std::sync::RwLock<Option<Arc<RequestLimiter>>> = std::sync::RwLock::new(None);

/// The limiter of the enabled `erp_rate_limit` plugin, if any.
pub fn installed() -> Option<Arc<RequestLimiter>> {
    INSTALLED.read().map(|l| l.clone()).unwrap_or(None)
}

impl RequestLimiter {
    /// Charges one request of `class`: a `tenant` one to the tenant the route's path names
    /// (`tenant`); a `public` one, or any other without a user, by the client address;
    /// otherwise by tenant and user.
    pub async fn charge_request(
        &self,
        class: Class,
        ip: IpAddr,
        user: Option<User<'_>>,
        tenant: Option<&str>,
    ) -> RequestVerdict {
        let (class, key) = route_bucket(class, ip, user, tenant);
        let quota = self.classes[class.index()].quota();
        let (decision, _backend) = self.limiter.charge(class, &key, quota, 1).await;
        let mut headers = vec![("ratelimit".to_owned(), state_header(class, &decision))];
        if let Ok(policy) = self.policies[class.index()].to_str() {
            headers.push(("ratelimit-policy".to_owned(), policy.to_owned()));
        }
        RequestVerdict {
            headers,
            refused_retry_after: (!decision.allowed).then(|| retry_after_secs(&decision)),
            class,
            quota,
        }
    }
}

/// The class and bucket key a routed request is charged to (pure). A `tenant` request is
/// keyed by the tenant its path names, whoever sends it (a webhook carries no token: its
/// signature is checked behind the edge); without a tenant it falls back to the public bucket
/// of its address, like a request of a user class without a user.
pub fn route_bucket(
    class: Class,
    ip: IpAddr,
    user: Option<User<'_>>,
    tenant: Option<&str>,
) -> (Class, String) {
    let by_address = || {
        (
            Class::Public,
            format!("public:{}", erp_net::AddressKey::of(ip)),
        )
    };
    match (class, user, tenant) {
        (Class::Tenant, _, Some(tenant)) => (Class::Tenant, format!("tenant:{tenant}")),
        (Class::Public | Class::Tenant, _, _) | (_, None, _) => by_address(),
        (class, Some(user), _) => (class, user_bucket(class, user)),
    }
}

pub struct RateLimitPlugin {
    config: RateLimitConfig,
    /// The cost rules of `config.cost`.
    rules: erp_net::cost::CostRules,
    limiter: Arc<Limiter>,
    /// `RateLimit-Policy` of each class (by [`Class::index`]): fixed by the configuration, so
    /// built once rather than formatted and validated on every response.
    policies: [HeaderValue; 4],
}

impl RateLimitPlugin {
    pub fn new(config: RateLimitConfig) -> Result<Self, Box<dyn std::error::Error>> {
        for class in [
            &config.public,
            &config.authenticated,
            &config.heavy,
            &config.tenant,
        ] {
            if class.limit == 0 || class.period.is_zero() {
                return Err("erp_rate_limit: every class needs limit > 0 and period > 0".into());
            }
        }
        if config.cost.cost_per_unit == 0 {
            return Err("erp_rate_limit: cost.cost_per_unit must be > 0".into());
        }
        let limiter = Limiter::new(
            config.redis_url.as_deref(),
            &config.key_prefix,
            config.redis_timeout,
        )?;
        let policy =
            |class: Class, c: &ClassConfig| HeaderValue::try_from(policy_header(class, c.quota()));
        let policies = [
            policy(Class::Public, &config.public)?,
            policy(Class::Authenticated, &config.authenticated)?,
            policy(Class::Heavy, &config.heavy)?,
            policy(Class::Tenant, &config.tenant)?,
        ];
        Ok(Self {
            rules: config.cost.rules(),
            config,
            limiter: Arc::new(limiter),
            policies,
        })
    }

    fn class_config(&self, class: Class) -> &ClassConfig {
        match class {
            Class::Public => &self.config.public,
            Class::Authenticated => &self.config.authenticated,
            Class::Heavy => &self.config.heavy,
            Class::Tenant => &self.config.tenant,
        }
    }
}

#[hive_router::async_trait]
impl RouterPlugin for RateLimitPlugin {
    type Config = RateLimitConfig;

    fn plugin_name() -> &'static str {
        "erp_rate_limit"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let plugin = Self::new(payload.config()?)?;
        if let Ok(mut installed) = INSTALLED.write() {
            *installed = Some(Arc::new(RequestLimiter {
                limiter: plugin.limiter.clone(),
                classes: [
                    plugin.config.public.clone(),
                    plugin.config.authenticated.clone(),
                    plugin.config.heavy.clone(),
                    plugin.config.tenant.clone(),
                ],
                policies: plugin.policies.clone(),
            }));
        }
        hive_router::pipeline::websocket_gate::install(std::sync::Arc::new(ConnectionCaps::new(
            plugin.config.websocket.clone(),
        )));
        crate::register_queued_headers_metric();
        Ok(Some(plugin))
    }

    fn on_http_request<'req>(
        &'req self,
        payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let client =
                ClientAddress::of(&payload.router_http_request, &self.config.trusted_proxies);
            payload.context.insert(client);
            apply_response_headers_on_end(payload)
        })
    }

    /// Every subgraph request says who the client is, whatever a client sent in this header
    /// (never propagated: replaced here).
    async fn on_subgraph_http_request<'exec>(
        &'exec self,
        mut payload: OnSubgraphHttpRequestHookPayload<'exec>,
    ) -> OnSubgraphHttpRequestHookResult<'exec> {
        let header = payload
            .context
            .get_ref::<ClientAddress>()
            .map(|client| client.header.clone());
        let headers = &mut payload.execution_request.headers;
        match header {
            Some(value) => {
                headers.insert(erp_net::CLIENT_ADDRESS_HEADER, value);
            }
            None => {
                headers.remove(erp_net::CLIENT_ADDRESS_HEADER);
            }
        }
        payload.proceed()
    }

    async fn on_graphql_analysis<'exec>(
        &'exec self,
        payload: &mut OnGraphqlAnalysisHookPayload<'exec>,
    ) -> OnGraphqlAnalysisHookResult {
        let ip = payload
            .context
            .get_ref::<ClientAddress>()
            .map(|c| c.ip)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let operation = payload.filtered_operation_for_plan;
        let cost = operation_cost(
            &self.rules,
            payload.schema_metadata(),
            operation,
            payload.variable_payload().variables_map.as_ref(),
        )
        .cost;
        let max_cost = self.config.cost.max_cost;
        if cost > max_cost {
            return OnGraphqlAnalysisHookResult::EndWithResponse(edge_error_with(
                StatusCode::BAD_REQUEST,
                COST_LIMIT_EXCEEDED,
                &format!(
                    "The operation may cost {cost}, more than the limit of {max_cost}: ask for smaller pages (first/last), especially of nested lists"
                ),
                serde_json::json!({ "cost": cost, "maxCost": max_cost }),
            ));
        }
        let root_fields = root_field_coordinates(operation);
        let jwt = payload.client_request_details.jwt.clone();
        let user = match jwt.as_ref() {
            JwtRequestDetails::Authenticated { claims, .. } => {
                let claim = |name: &str| claims.get(name).and_then(|v| v.as_str());
                claim("sub").map(|sub| User {
                    sub,
                    tenant: claim("tenant_id"),
                })
            }
            JwtRequestDetails::Unauthenticated => None,
        };
        let charge = select(
            &self.config.public,
            &self.config.heavy,
            &Operation {
                name: operation.name.as_deref(),
                root_fields: &root_fields,
                units: erp_net::cost::units(
                    cost,
                    root_fields.len(),
                    self.config.cost.cost_per_unit,
                ),
            },
            &Caller { ip, user },
        );
        let quota = self.class_config(charge.class).quota();
        let (decision, _backend) = self
            .limiter
            .charge(charge.class, &charge.key, quota, charge.cost)
            .await;

        let context = payload.context;
        add_response_header_value(
            context,
            "ratelimit-policy",
            self.policies[charge.class.index()].clone(),
        );
        add_response_header(context, "ratelimit", &state_header(charge.class, &decision));
        if decision.allowed {
            return OnGraphqlAnalysisHookResult::Proceed;
        }
        let retry_after = retry_after_secs(&decision);
        add_response_header(context, "retry-after", &retry_after.to_string());
        let message = if charge.cost > quota.limit {
            format!(
                "This operation counts as {} operations, more than the {} limit of {} per {} s allows",
                charge.cost,
                charge.class.as_str(),
                quota.limit,
                quota.period.as_secs()
            )
        } else {
            format!(
                "Too many requests: the {} limit of {} operations per {} s is used up; retry after {retry_after} s",
                charge.class.as_str(),
                quota.limit,
                quota.period.as_secs()
            )
        };
        OnGraphqlAnalysisHookResult::EndWithResponse(edge_error(
            StatusCode::TOO_MANY_REQUESTS,
            RATE_LIMITED,
            &message,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> (ClassConfig, ClassConfig) {
        let mut public = ClassConfig::public_default();
        public.operations = vec!["Login".into()];
        public.root_fields = vec!["Mutation.login".into()];
        let mut heavy = ClassConfig::heavy_default();
        heavy.operations = vec!["AnalyticsExport".into()];
        heavy.root_fields = vec!["Query.analyticsExport".into()];
        (public, heavy)
    }

    /// One unit per root field, as a light operation is charged.
    fn units_of(root: &[String]) -> u32 {
        erp_net::cost::units(0, root.len(), 100)
    }

    fn fields(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const ALICE: User<'static> = User {
        sub: "alice",
        tenant: Some("t1"),
    };

    fn ip() -> IpAddr {
        "198.51.100.7".parse().unwrap()
    }

    #[test]
    fn a_login_is_public_and_keyed_by_ip_even_with_a_token() {
        let (public, heavy) = classes();
        let root = fields(&["Mutation.login"]);
        for user in [None, Some(ALICE)] {
            let charge = select(
                &public,
                &heavy,
                &Operation {
                    name: Some("Whatever"),
                    root_fields: &root,
                    units: units_of(&root),
                },
                &Caller { ip: ip(), user },
            );
            assert_eq!(
                charge,
                Charge {
                    class: Class::Public,
                    key: "public:198.51.100.7".into(),
                    cost: 1
                }
            );
        }
    }

    #[test]
    fn a_public_operation_name_is_public_whatever_its_fields() {
        let (public, heavy) = classes();
        let root = fields(&["Query.me"]);
        let charge = select(
            &public,
            &heavy,
            &Operation {
                name: Some("Login"),
                root_fields: &root,
                units: units_of(&root),
            },
            &Caller {
                ip: ip(),
                user: Some(ALICE),
            },
        );
        assert_eq!(charge.class, Class::Public);
    }

    #[test]
    fn public_buckets_group_ipv6_by_64_and_costly_operations_charge_more_units() {
        let (public, heavy) = classes();
        let root = fields(&["Query.employees"]);
        let charge = |ip: &str, units: u32| {
            select(
                &public,
                &heavy,
                &Operation {
                    name: None,
                    root_fields: &root,
                    units,
                },
                &Caller {
                    ip: ip.parse().unwrap(),
                    user: None,
                },
            )
        };
        assert_eq!(charge("2001:db8:1:2::7", 1).key, "public:2001:db8:1:2::/64");
        assert_eq!(
            charge("2001:db8:1:2:ffff:ffff:ffff:1", 1).key,
            "public:2001:db8:1:2::/64",
            "any address of the same /64 shares the bucket"
        );
        assert_eq!(charge("2001:db8:1:3::7", 1).key, "public:2001:db8:1:3::/64");
        assert_eq!(charge("::ffff:198.51.100.7", 1).key, "public:198.51.100.7");
        // departments(first: 100) { nodes { employees(first: 100) { nodes { id } } } }: 10,201.
        let heavy_query = erp_net::cost::units(10_201, 1, 100);
        assert_eq!(charge("198.51.100.7", heavy_query).cost, 103);
        assert_eq!(charge("198.51.100.7", units_of(&root)).cost, 1);
    }

    #[test]
    fn a_tenant_route_is_keyed_by_the_tenant_of_its_path_whoever_sends_it() {
        let mail =
            |ip: &str, tenant| route_bucket(Class::Tenant, ip.parse().unwrap(), None, tenant);
        assert_eq!(
            mail("198.51.100.7", Some("tnt_a")),
            (Class::Tenant, "tenant:tnt_a".into())
        );
        assert_eq!(
            mail("203.0.113.9", Some("tnt_a")),
            (Class::Tenant, "tenant:tnt_a".into()),
            "a provider's other address charges the same tenant"
        );
        assert_eq!(
            mail("198.51.100.7", Some("tnt_b")),
            (Class::Tenant, "tenant:tnt_b".into())
        );
        assert_eq!(
            mail("198.51.100.7", None),
            (Class::Public, "public:198.51.100.7".into()),
            "no tenant named: the address's public bucket"
        );
        // The other classes ignore a tenant segment.
        assert_eq!(
            route_bucket(Class::Heavy, ip(), Some(ALICE), Some("tnt_x")),
            (Class::Heavy, "heavy:t1:alice".into())
        );
        assert_eq!(
            route_bucket(Class::Public, ip(), Some(ALICE), Some("tnt_x")),
            (Class::Public, "public:198.51.100.7".into())
        );
    }

    #[test]
    fn decision_counts_keep_each_label_set_apart() {
        let counts = DecisionCounts::default();
        assert!(counts.snapshot().is_empty());
        counts.record(Class::Public, true, Backend::Redis);
        counts.record(Class::Public, true, Backend::Redis);
        counts.record(Class::Public, false, Backend::Redis);
        counts.record(Class::Authenticated, true, Backend::Lease);
        counts.record(Class::Heavy, false, Backend::Memory);
        counts.record(Class::Tenant, false, Backend::Redis);
        assert_eq!(
            counts.snapshot(),
            vec![
                (Class::Public, "allowed", Backend::Redis, 2),
                (Class::Public, "limited", Backend::Redis, 1),
                (Class::Authenticated, "allowed", Backend::Lease, 1),
                (Class::Heavy, "limited", Backend::Memory, 1),
                (Class::Tenant, "limited", Backend::Redis, 1),
            ]
        );
    }

    #[test]
    fn aliased_logins_each_count() {
        let (public, heavy) = classes();
        let root = fields(&["Mutation.login", "Mutation.login", "Mutation.login"]);
        let charge = select(
            &public,
            &heavy,
            &Operation {
                name: None,
                root_fields: &root,
                units: units_of(&root),
            },
            &Caller {
                ip: ip(),
                user: None,
            },
        );
        assert_eq!(charge.cost, 3);
        assert_eq!(charge.class, Class::Public);
    }

    #[test]
    fn an_anonymous_caller_shares_the_public_budget_of_its_address() {
        let (public, heavy) = classes();
        let root = fields(&["Query.employees"]);
        let charge = select(
            &public,
            &heavy,
            &Operation {
                name: Some("Employees"),
                root_fields: &root,
                units: units_of(&root),
            },
            &Caller {
                ip: ip(),
                user: None,
            },
        );
        assert_eq!(charge.class, Class::Public);
        assert_eq!(charge.key, "public:198.51.100.7");
    }

    #[test]
    fn an_authenticated_caller_is_keyed_by_tenant_and_subject() {
        let (public, heavy) = classes();
        let root = fields(&["Query.employees", "Query.departments"]);
        let charge = select(
            &public,
            &heavy,
            &Operation {
                name: Some("Home"),
                root_fields: &root,
                units: units_of(&root),
            },
            &Caller {
                ip: ip(),
                user: Some(ALICE),
            },
        );
        assert_eq!(
            charge,
            Charge {
                class: Class::Authenticated,
                key: "authenticated:t1:alice".into(),
                cost: 2
            }
        );
        let no_tenant = select(
            &public,
            &heavy,
            &Operation {
                name: None,
                root_fields: &[],
                units: units_of(&[]),
            },
            &Caller {
                ip: ip(),
                user: Some(User {
                    sub: "bob",
                    tenant: None,
                }),
            },
        );
        assert_eq!(no_tenant.key, "authenticated:-:bob");
        assert_eq!(no_tenant.cost, 1, "an operation costs at least 1");
    }

    #[test]
    fn heavy_operations_match_by_name_or_root_field_and_are_per_subject() {
        let (public, heavy) = classes();
        let by_field = fields(&["Query.analyticsExport"]);
        let other = fields(&["Query.me"]);
        for (name, root) in [(None, &by_field), (Some("AnalyticsExport"), &other)] {
            let charge = select(
                &public,
                &heavy,
                &Operation {
                    name,
                    root_fields: root,
                    units: units_of(root),
                },
                &Caller {
                    ip: ip(),
                    user: Some(ALICE),
                },
            );
            assert_eq!(charge.class, Class::Heavy);
            assert_eq!(charge.key, "heavy:t1:alice");
        }
        // Anonymous heavy requests are public (the subgraph refuses them anyway).
        let anonymous = select(
            &public,
            &heavy,
            &Operation {
                name: None,
                root_fields: &by_field,
                units: units_of(&by_field),
            },
            &Caller {
                ip: ip(),
                user: None,
            },
        );
        assert_eq!(anonymous.class, Class::Public);
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let quota = Quota {
            limit: 30,
            period: Duration::from_secs(60),
        };
        assert_eq!(policy_header(Class::Public, quota), "\"public\";q=30;w=60");
        let denied = Decision {
            allowed: false,
            remaining: 0,
            retry_after_us: 1_500_000,
            reset_us: 59_000_001,
            new_tat_us: None,
        };
        assert_eq!(state_header(Class::Public, &denied), "\"public\";r=0;t=60");
        assert_eq!(retry_after_secs(&denied), 2);
        let tiny = Decision {
            retry_after_us: 1,
            ..denied
        };
        assert_eq!(retry_after_secs(&tiny), 1);
    }

    #[test]
    fn the_configuration_parses_with_defaults() {
        let config: RateLimitConfig = serde_json::from_value(serde_json::json!({
            "trusted_proxies": ["10.0.0.0/8", "127.0.0.1"],
            "public": { "limit": 30, "period": "1m", "operations": ["Login"] },
            "heavy": { "limit": 5, "period": "60s", "root_fields": ["Query.analyticsExport"] }
        }))
        .unwrap();
        assert_eq!(config.redis_url, None);
        assert_eq!(config.key_prefix, "erp:rl");
        assert_eq!(config.redis_timeout, Duration::from_millis(250));
        assert_eq!(config.public.period, Duration::from_secs(60));
        assert_eq!(config.authenticated.limit, 500);
        assert_eq!(config.tenant.quota(), ClassConfig::minute(120).quota());
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(
            serde_json::from_value::<RateLimitConfig>(serde_json::json!({"bogus": 1})).is_err()
        );
    }

    #[test]
    fn without_redis_the_limiter_uses_memory_buckets() {
        let limiter = Limiter::new(None, "t", Duration::from_millis(10)).unwrap();
        let quota = Quota {
            limit: 2,
            period: Duration::from_secs(60),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for expected in [true, true, false] {
                let (d, backend) = limiter.charge(Class::Public, "k", quota, 1).await;
                assert_eq!(d.allowed, expected);
                assert_eq!(backend, Backend::Memory);
            }
        });
    }

    #[test]
    fn lease_sizes_leave_the_small_classes_exact() {
        let per_minute = |limit| Quota {
            limit,
            period: Duration::from_secs(60),
        };
        assert_eq!(lease_size(per_minute(5)), 0);
        assert_eq!(lease_size(per_minute(30)), 0);
        assert_eq!(lease_size(per_minute(99)), 0);
        assert_eq!(lease_size(per_minute(100)), 5);
        assert_eq!(lease_size(per_minute(500)), 25);
        assert_eq!(lease_size(per_minute(1_000_000_000)), LEASE_MAX);
    }

    #[test]
    fn a_lease_admits_until_spent_gives_back_what_a_refused_charge_took_and_expires() {
        let leases = Leases::default();
        let now = Instant::now();
        let granted = Decision {
            allowed: true,
            remaining: 450,
            retry_after_us: 0,
            reset_us: 6_000_000,
            new_tat_us: None,
        };
        assert!(matches!(leases.spend("k", 1, now), FromLease::Short(0)));
        leases.grant("k", 25, &granted, now);
        for left in (5..25).rev().step_by(5) {
            match leases.spend("k", 5, now) {
                FromLease::Admitted(d) => {
                    assert!(d.allowed);
                    assert_eq!(d.remaining, 450 + left - 4);
                }
                FromLease::Short(_) => panic!("the lease had {left} left"),
            }
        }
        // 5 left: a charge of 8 takes them toward its cost, and gets them back when refused.
        assert!(matches!(leases.spend("k", 8, now), FromLease::Short(5)));
        assert!(matches!(leases.spend("k", 1, now), FromLease::Short(0)));
        leases.give_back("k", 5, now);
        assert!(matches!(leases.spend("k", 5, now), FromLease::Admitted(_)));
        // Unused operations are given up after the lease's time.
        leases.grant("k", 10, &granted, now);
        let later = now + LEASE_TTL;
        assert!(matches!(leases.spend("k", 1, later), FromLease::Short(0)));
        assert!(matches!(leases.spend("k", 1, later), FromLease::Short(0)));
    }

    /// Two replicas (two limiters) on the real Redis of REDIS_URL.
    #[test]
    fn leased_buckets_never_admit_beyond_the_limit_across_replicas() {
        let Some(url) = std::env::var("REDIS_URL").ok() else {
            panic!("REDIS_URL: this test needs the real Redis (deploy/local/services.sh start)");
        };
        let prefix = format!(
            "erp:rl:unit:{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let quota = Quota {
            limit: 500,
            period: Duration::from_secs(3600),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // One replica: exactly the limit, most of it from leases.
            let one =
                Limiter::new(Some(&url), &format!("{prefix}:one"), Duration::from_secs(2)).unwrap();
            let mut admitted = 0;
            let mut from_lease = 0;
            for _ in 0..600 {
                let (d, backend) = one.charge(Class::Authenticated, "u", quota, 1).await;
                assert_ne!(backend, Backend::Memory);
                if d.allowed {
                    admitted += 1;
                    from_lease += usize::from(backend == Backend::Lease);
                }
            }
            assert_eq!(admitted, 500);
            assert!(from_lease >= 450, "{from_lease} of 500 from leases");

            // Two replicas taking turns: never beyond the limit, at most a lease each short.
            let a =
                Limiter::new(Some(&url), &format!("{prefix}:two"), Duration::from_secs(2)).unwrap();
            let b =
                Limiter::new(Some(&url), &format!("{prefix}:two"), Duration::from_secs(2)).unwrap();
            let mut admitted = 0;
            for n in 0..600 {
                let replica = if n % 2 == 0 { &a } else { &b };
                let (d, _) = replica.charge(Class::Authenticated, "u", quota, 3).await;
                admitted += 3 * u32::from(d.allowed);
            }
            assert!(admitted <= 500, "{admitted} admitted");
            assert!(
                admitted >= 500 - 2 * lease_size(quota) - 3,
                "{admitted} admitted"
            );
        });
    }

    #[test]
    fn an_unreachable_redis_falls_back_to_memory_instead_of_failing() {
        // Nothing listens on port 1.
        let limiter = Limiter::new(
            Some("redis://127.0.0.1:1/"),
            "t",
            Duration::from_millis(200),
        )
        .unwrap();
        let quota = Quota {
            limit: 1,
            period: Duration::from_secs(60),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (first, backend) = limiter.charge(Class::Public, "k", quota, 1).await;
            assert!(first.allowed);
            assert_eq!(backend, Backend::Memory);
            let (second, backend) = limiter.charge(Class::Public, "k", quota, 1).await;
            assert!(!second.allowed, "the fallback still limits");
            assert_eq!(backend, Backend::Memory);
        });
    }
}
