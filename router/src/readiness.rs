//! Readiness that means "can serve": `/readiness` answers 200 only when the supergraph is loaded
//! AND every subgraph answers its own `/ready` (which checks its database and cache).
//!
//! hive-router 0.2.19's own `/readiness` only checks that a supergraph is loaded, so a router in
//! front of dead subgraphs would keep receiving traffic from the load balancer. Probing on every
//! `/readiness` request would multiply a probe storm by the number of subgraphs, so a background
//! task probes them every [`PROBE_INTERVAL`] and the handler reads the last result.
//!
//! The subgraphs probed are those of `override_subgraph_urls.subgraphs` with a static URL (every
//! subgraph of router.config.yaml); the probe URL is the subgraph's origin + `/ready`. A
//! subgraph overridden by an expression cannot be probed and is named in a warning at start.
//!
//! When a subgraph counts, [`ReadinessMode`] (`ERP_READINESS_MODE`):
//! - `startup` (the default): not ready until every subgraph has answered ready once since the
//!   router started; after that a subgraph going down is reported (body, log) but does not make
//!   the router unready. A shared subgraph's outage would otherwise take EVERY router replica
//!   out of the load balancer at once, and the subgraphs that still work with them.
//! - `always`: ready only while every subgraph is ready (for deployments with one router per
//!   subgraph set, or that prefer failing over at the load balancer).
//! - `off`: hive-router's behaviour (supergraph loaded); the subgraphs are still probed and shown.
//!
//! The answer names each subgraph with `up` or `down`, never its address or the error (the
//! readiness path is on the public listener); the reason is logged when a subgraph changes state.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hive_router::config::override_subgraph_urls::UrlOrExpression;
use hive_router::config::HiveRouterConfig;
use hive_router::ntex::web;
use hive_router::SchemaState;

/// How often the subgraphs are probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How long one probe may take before the subgraph counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// One subgraph to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubgraphProbe {
    pub name: String,
    pub ready_url: String,
}

/// The subgraphs to probe, from the static URLs of `override_subgraph_urls`, and the names of
/// those that cannot be probed (overridden by an expression, or not a URL).
pub fn probes_from_config(config: &HiveRouterConfig) -> (Vec<SubgraphProbe>, Vec<String>) {
    let mut probes = Vec::new();
    let mut skipped = Vec::new();
    let mut names: Vec<_> = config.override_subgraph_urls.subgraphs.keys().collect();
    names.sort();
    for name in names {
        let ready_url = match config.override_subgraph_urls.get_subgraph_url(name) {
            Some(UrlOrExpression::Url(url)) => ready_url_of(url),
            _ => None,
        };
        match ready_url {
            Some(ready_url) => probes.push(SubgraphProbe {
                name: name.clone(),
                ready_url,
            }),
            None => skipped.push(name.clone()),
        }
    }
    (probes, skipped)
}

/// `http://host:port/graphql` -> `http://host:port/ready`.
pub fn ready_url_of(graphql_url: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(graphql_url).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_path("/ready");
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// When the subgraphs' state makes the router unready (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadinessMode {
    #[default]
    Startup,
    Always,
    Off,
}

impl std::str::FromStr for ReadinessMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "startup" => Ok(Self::Startup),
            "always" => Ok(Self::Always),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "ERP_READINESS_MODE must be startup, always or off, not {other:?}"
            )),
        }
    }
}

/// The last probe result of each subgraph (`None`: not probed yet, which counts as down).
#[derive(Clone, Default)]
pub struct SubgraphReadiness {
    mode: ReadinessMode,
    state: Arc<RwLock<BTreeMap<String, Option<bool>>>>,
    /// Every subgraph has been up at the same time once (the `startup` gate).
    all_seen_up: Arc<std::sync::atomic::AtomicBool>,
}

impl SubgraphReadiness {
    /// Starts probing `probes` in the background (a thread with its own runtime: the router's
    /// ntex workers each run their own single-threaded one).
    pub fn start(mode: ReadinessMode, probes: Vec<SubgraphProbe>) -> std::io::Result<Self> {
        let readiness = Self {
            mode,
            state: Arc::new(RwLock::new(
                probes.iter().map(|p| (p.name.clone(), None)).collect(),
            )),
            all_seen_up: Default::default(),
        };
        if probes.is_empty() {
            return Ok(readiness);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = readiness.state.clone();
        let all_seen_up = readiness.all_seen_up.clone();
        std::thread::Builder::new()
            .name("erp-readiness".into())
            .spawn(move || runtime.block_on(probe_forever(probes, state, all_seen_up)))?;
        Ok(readiness)
    }

    /// Whether the subgraphs let the router be ready (per the mode), and each one's state.
    pub fn snapshot(&self) -> (bool, BTreeMap<String, &'static str>) {
        use std::sync::atomic::Ordering;
        let state = self
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let all_up_now = state.values().all(|up| *up == Some(true));
        if all_up_now {
            self.all_seen_up.store(true, Ordering::Relaxed);
        }
        let ready = match self.mode {
            ReadinessMode::Always => all_up_now,
            ReadinessMode::Startup => self.all_seen_up.load(Ordering::Relaxed),
            ReadinessMode::Off => true,
        };
        let named = state
            .iter()
            .map(|(name, up)| {
                let word = match up {
                    Some(true) => "up",
                    Some(false) => "down",
                    None => "unknown",
                };
                (name.clone(), word)
            })
            .collect();
        (ready, named)
    }
}

async fn probe_forever(
    probes: Vec<SubgraphProbe>,
    state: Arc<RwLock<BTreeMap<String, Option<bool>>>>,
    all_seen_up: Arc<std::sync::atomic::AtomicBool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the readiness probe client; subgraphs stay unknown");
            return;
        }
    };
    let mut interval = tokio::time::interval(PROBE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let results = probe_all(&client, &probes).await;
        let mut state = state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (probe, result) in probes.iter().zip(results) {
            let up = result.is_ok();
            let previous = state.insert(probe.name.clone(), Some(up)).flatten();
            match (&result, previous) {
                (Ok(()), Some(false) | None) => {
                    tracing::info!(subgraph = %probe.name, "subgraph ready")
                }
                (Err(reason), Some(true) | None) => {
                    tracing::warn!(subgraph = %probe.name, url = %probe.ready_url, %reason, "subgraph not ready")
                }
                _ => {}
            }
        }
        // The `startup` gate opens here, whether or not anyone asked /readiness meanwhile.
        if state.values().all(|up| *up == Some(true)) {
            all_seen_up.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Probes every subgraph concurrently.
async fn probe_all(client: &reqwest::Client, probes: &[SubgraphProbe]) -> Vec<Result<(), String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, probe) in probes.iter().enumerate() {
        let client = client.clone();
        let url = probe.ready_url.clone();
        tasks.spawn(async move { (index, probe_once(&client, &url).await) });
    }
    let mut results = vec![Err("not probed".to_owned()); probes.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            results[index] = result;
        }
    }
    results
}

async fn probe_once(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("status {}", response.status()))
    }
}

/// `GET /readiness`: 200 `{"status":"ready","supergraph":"loaded","subgraphs":{...}}` or 503
/// with `"status":"unavailable"`.
pub async fn readiness_handler(
    req: web::HttpRequest,
    schema_state: web::types::State<Arc<SchemaState>>,
    subgraphs: web::types::State<SubgraphReadiness>,
) -> web::HttpResponse {
    let supergraph_loaded = schema_state.is_ready(&req).await;
    let (subgraphs_up, named) = subgraphs.snapshot();
    let ready = supergraph_loaded && subgraphs_up;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "supergraph": if supergraph_loaded { "loaded" } else { "loading" },
        "subgraphs": named,
    });
    let mut response = if ready {
        web::HttpResponse::Ok()
    } else {
        web::HttpResponse::ServiceUnavailable()
    };
    response
        .header("cache-control", "no-store")
        .content_type("application/json")
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_url_is_the_origin_plus_ready() {
        assert_eq!(
            ready_url_of("http://127.0.0.1:4002/graphql").as_deref(),
            Some("http://127.0.0.1:4002/ready")
        );
        assert_eq!(
            ready_url_of("https://employee.erp.svc:8443/api/graphql?x=1").as_deref(),
            Some("https://employee.erp.svc:8443/ready")
        );
        assert_eq!(ready_url_of("unix:///tmp/sock"), None);
        assert_eq!(ready_url_of("not a url"), None);
    }

    fn readiness(mode: ReadinessMode) -> SubgraphReadiness {
        SubgraphReadiness {
            mode,
            state: Arc::new(RwLock::new(BTreeMap::from([
                ("employee".to_owned(), Some(true)),
                ("identity".to_owned(), None),
            ]))),
            all_seen_up: Default::default(),
        }
    }

    #[test]
    fn the_startup_gate_waits_for_every_subgraph_once_then_only_reports() {
        let readiness = readiness(ReadinessMode::Startup);
        assert!(!readiness.snapshot().0);
        readiness
            .state
            .write()
            .unwrap()
            .insert("identity".into(), Some(true));
        assert!(readiness.snapshot().0);
        readiness
            .state
            .write()
            .unwrap()
            .insert("employee".into(), Some(false));
        let (ready, named) = readiness.snapshot();
        assert!(
            ready,
            "a later outage is reported, not made a router outage"
        );
        assert_eq!(named["employee"], "down");
    }

    #[test]
    fn off_ignores_the_subgraphs_and_modes_parse() {
        assert!(readiness(ReadinessMode::Off).snapshot().0);
        assert_eq!("startup".parse(), Ok(ReadinessMode::Startup));
        assert_eq!("always".parse(), Ok(ReadinessMode::Always));
        assert_eq!("off".parse(), Ok(ReadinessMode::Off));
        assert!("sometimes".parse::<ReadinessMode>().is_err());
    }

    #[test]
    fn always_needs_every_subgraph_up_now() {
        let readiness = readiness(ReadinessMode::Always);
        let (ready, named) = readiness.snapshot();
        assert!(!ready);
        assert_eq!(named["employee"], "up");
        assert_eq!(named["identity"], "unknown");
        readiness
            .state
            .write()
            .unwrap()
            .insert("identity".into(), Some(true));
        assert!(readiness.snapshot().0);
        readiness
            .state
            .write()
            .unwrap()
            .insert("employee".into(), Some(false));
        let (ready, named) = readiness.snapshot();
        assert!(!ready);
        assert_eq!(named["employee"], "down");
    }
}
