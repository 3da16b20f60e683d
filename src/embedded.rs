//! `erp-os all`: the whole supergraph in one process on embedded defaults.
//!
//! - identity, employee, PMO, finance, CRM, operations and analytics subgraphs (axum) on a tokio runtime of a
//!   background thread,
//!   each on its loopback port; one SQLite file per relational domain in the state directory;
//!   the PMO on its embedded store persisted to `<state>/pmo.journal`, operations on its own in
//!   `<state>/ops.journal`, analytics on DataFusion over Arrow segments in `<state>/analytics/`;
//!   ONE in-process cache and
//!   ONE in-process bus shared by all of them (live events cross subgraphs as they would
//!   through Redis/Kafka; the bus's event log and consumer positions are kept in
//!   `<state>/events.db`, so consumers miss nothing across a restart); the cache's keys
//!   (running timers, revocations, login lockouts) are kept in `<state>/cache.db`, so a
//!   running timer survives a restart as it does on Redis;
//! - the router (hive-router, ntex runtime) on the main thread, started only once every
//!   subgraph answers `/ready`, configured by the checked-in router/router.config.yaml (compiled
//!   in, written to the state directory with this run's metrics port) and the same environment
//!   overrides production uses;
//! - on first start a demo tenant with tier-S seed data, and how to log in.
//!
//! The demo's users share one password: a random one generated for the state directory on its
//! first start, printed once and kept in `<state>/demo-password` (mode 0600). While any demo
//! user can still log in with it, the router serves on loopback only (a non-loopback `HOST`
//! is refused at start); GraphiQL is served on loopback only. The state directory is 0700 and
//! its files 0600: they hold the databases, the journal and the key-encryption key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use erp_identity::IdentityConfig;
use erp_kit::cache::{DurableCache, SharedCache};
use erp_kit::config::KitConfig;
use erp_kit::events::{DurableBus, SharedBus};
use erp_kit::pagination::PageRequest;
use erp_kit::runtime::Runtime;
use erp_kit::TenantId;

use crate::seed::{SeedPlan, Tier};
use crate::seed_load::{self, LoadOptions, LoadReport, SeedTargets, SeededTenant};

/// The router configuration and supergraph, compiled in so the binary runs from anywhere.
const ROUTER_CONFIG: &str = include_str!("../router/router.config.yaml");
const SUPERGRAPH: &str = include_str!("../schema/supergraph.graphql");

/// Settings of the one-process mode.
#[derive(Debug, Clone, clap::Args)]
pub struct AllArgs {
    /// Directory of the SQLite files, keys, the dev certificate and the generated router files.
    #[arg(long, env = "ERP_STATE_DIR", default_value = ".erp")]
    pub state_dir: PathBuf,
    /// The router's port (the supergraph's public address).
    #[arg(long, env = "ERP_ROUTER_PORT", default_value_t = 4000)]
    pub router_port: u16,
    #[arg(long, env = "ERP_IDENTITY_PORT", default_value_t = erp_identity::DEFAULT_PORT)]
    pub identity_port: u16,
    #[arg(long, env = "ERP_EMPLOYEE_PORT", default_value_t = erp_employee::DEFAULT_PORT)]
    pub employee_port: u16,
    #[arg(long, env = "ERP_PMO_PORT", default_value_t = erp_pmo::DEFAULT_PORT)]
    pub pmo_port: u16,
    #[arg(long, env = "ERP_FINANCE_PORT", default_value_t = erp_finance::DEFAULT_PORT)]
    pub finance_port: u16,
    #[arg(long, env = "ERP_CRM_PORT", default_value_t = erp_crm::DEFAULT_PORT)]
    pub crm_port: u16,
    #[arg(long, env = "ERP_OPS_PORT", default_value_t = erp_ops::DEFAULT_PORT)]
    pub ops_port: u16,
    #[arg(long, env = "ERP_ANALYTICS_PORT", default_value_t = erp_analytics::DEFAULT_PORT)]
    pub analytics_port: u16,
    #[arg(long, env = "ERP_MARKETING_PORT", default_value_t = erp_marketing::DEFAULT_PORT)]
    pub marketing_port: u16,
    /// The router's Prometheus port.
    #[arg(long, env = "ERP_METRICS_PORT", default_value_t = 9464)]
    pub metrics_port: u16,
    /// Start without the demo tenant (first start only). The demo's users share one password,
    /// so a state directory with the demo is served on loopback only.
    #[arg(long, env = "ERP_NO_DEMO")]
    pub no_demo: bool,
    /// The seed number of the demo data (first start only).
    #[arg(long, default_value_t = 42)]
    pub demo_seed: u64,
}

/// The demo tenant, as recorded in `<state>/demo.json` after the first start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoRecord {
    pub tenant: SeededTenant,
    pub seed: u64,
    pub until: NaiveDate,
}

/// The file of the state directory holding the demo users' password (mode 0600).
pub const DEMO_PASSWORD_FILE: &str = "demo-password";

pub const DEMO_COMPANY: &str = "Demo Company";
pub const DEMO_DOMAIN: &str = "demo.example";
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.example";

/// The demo plan: tier S, with an administrator whose email is easy to type.
pub fn demo_plan(seed: u64, until: NaiveDate) -> SeedPlan {
    let mut plan = SeedPlan::new(Tier::S, seed, DEMO_COMPANY, DEMO_DOMAIN, until);
    plan.employees[0].work_email = DEMO_ADMIN_EMAIL.into();
    plan
}

/// The PMO's journal file: `ERP_PMO_DATA_FILE`, else `<state>/pmo.journal`.
pub fn pmo_data_file(state_dir: &Path) -> PathBuf {
    std::env::var_os(erp_pmo::DATA_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("pmo.journal"))
}

/// The directory of the operations subgraph's SOP files and attachments: `ERP_OPS_BLOB_DIR`,
/// else `<state>/ops-files`.
pub fn ops_files_dir(state_dir: &Path) -> PathBuf {
    std::env::var_os(erp_ops::BLOB_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("ops-files"))
}

/// The operations subgraph's journal file: `ERP_OPS_DATA_FILE`, else `<state>/ops.journal`.
pub fn ops_data_file(state_dir: &Path) -> PathBuf {
    std::env::var_os(erp_ops::DATA_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir.join("ops.journal"))
}

fn sqlite_url(state_dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", state_dir.join(file).display())
}

/// What the subgraphs of this process trust to name the client: the router of this process
/// reaches them over loopback and sets `x-erp-client-address` on every request (without it,
/// every login would come from 127.0.0.1 and one client's failures would lock everyone out).
const LOOPBACK: &str = "127.0.0.0/8,::1";

/// The kit configuration of one embedded subgraph: the environment, except the addresses
/// (this process's ports), the backends (embedded ones) and the trusted proxies (loopback
/// added to `ERP_TRUSTED_PROXIES`, which the router reads too).
fn kit_config(
    service: &str,
    port: u16,
    database_url: Option<String>,
    state_dir: &Path,
) -> anyhow::Result<KitConfig> {
    let kek_file = state_dir.join("keys/local-kek.key").display().to_string();
    Ok(KitConfig::from_lookup(service, port, |name| match name {
        "ERP_BIND" => Some(format!("127.0.0.1:{port}")),
        "ERP_TRUSTED_PROXIES" => Some(match std::env::var(name) {
            Ok(configured) if !configured.trim().is_empty() => format!("{configured},{LOOPBACK}"),
            _ => LOOPBACK.to_owned(),
        }),
        "DATABASE_URL" => database_url.clone(),
        "REDIS_URL" | "KAFKA_BROKERS" | "MONGO_URL" => None,
        "ERP_KEK_FILE" => std::env::var(name).ok().or_else(|| Some(kek_file.clone())),
        _ => std::env::var(name).ok(),
    })?)
}

/// `text` with `from` replaced by `to`; `from` must occur exactly once (a changed checked-in
/// file is an error here, not a silently different configuration).
fn replace_once(text: &str, from: &str, to: &str, what: &str) -> anyhow::Result<String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => bail!("{what}: expected `{from}` once, found it {n} times"),
    }
}

/// Writes the router's configuration and supergraph into the state directory and points the
/// router at them and at this process's subgraphs through the environment. Must run before
/// any thread is started (it sets environment variables). Answers the address the router
/// will listen on (`http.host`, or `HOST`).
fn prepare_router(args: &AllArgs, state_dir: &Path) -> anyhow::Result<String> {
    let mut supergraph = SUPERGRAPH.to_owned();
    for (default, port) in [
        (erp_identity::DEFAULT_PORT, args.identity_port),
        (erp_employee::DEFAULT_PORT, args.employee_port),
        (erp_pmo::DEFAULT_PORT, args.pmo_port),
        (erp_finance::DEFAULT_PORT, args.finance_port),
        (erp_crm::DEFAULT_PORT, args.crm_port),
        (erp_ops::DEFAULT_PORT, args.ops_port),
        (erp_analytics::DEFAULT_PORT, args.analytics_port),
        (erp_marketing::DEFAULT_PORT, args.marketing_port),
    ] {
        supergraph = replace_once(
            &supergraph,
            &format!("url: \"http://127.0.0.1:{default}/graphql\""),
            &format!("url: \"http://127.0.0.1:{port}/graphql\""),
            "schema/supergraph.graphql",
        )?;
    }
    let supergraph_path = state_dir.join("supergraph.graphql");
    std::fs::write(&supergraph_path, supergraph)?;
    let config_path = state_dir.join("router.config.yaml");
    if std::env::var_os("ROUTER_CONFIG_FILE_PATH").is_none() {
        // The metrics port is a literal in the file (hive-router does not read it from env).
        let config = replace_once(
            ROUTER_CONFIG,
            "        port: 9464\n",
            &format!("        port: {}\n", args.metrics_port),
            "router/router.config.yaml",
        )?;
        std::fs::write(&config_path, config)?;
        std::env::set_var("ROUTER_CONFIG_FILE_PATH", &config_path);
    }
    let identity = format!("http://127.0.0.1:{}", args.identity_port);
    let set = |name: &str, value: String| std::env::set_var(name, value);
    let set_default = |name: &str, value: &str| {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    };
    set(
        "SUPERGRAPH_FILE_PATH",
        supergraph_path.display().to_string(),
    );
    set("PORT", args.router_port.to_string());
    set("ERP_JWT_ISSUER", identity.clone());
    set("ERP_JWKS_URL", format!("{identity}/.well-known/jwks.json"));
    set("ERP_IDENTITY_URL", format!("{identity}/graphql"));
    set(
        "ERP_EMPLOYEE_URL",
        format!("http://127.0.0.1:{}/graphql", args.employee_port),
    );
    set(
        "ERP_PMO_URL",
        format!("http://127.0.0.1:{}/graphql", args.pmo_port),
    );
    set(
        "ERP_FINANCE_URL",
        format!("http://127.0.0.1:{}/graphql", args.finance_port),
    );
    set(
        "ERP_CRM_URL",
        format!("http://127.0.0.1:{}/graphql", args.crm_port),
    );
    set(
        "ERP_OPS_URL",
        format!("http://127.0.0.1:{}/graphql", args.ops_port),
    );
    set(
        "ERP_ANALYTICS_URL",
        format!("http://127.0.0.1:{}/graphql", args.analytics_port),
    );
    set(
        "ERP_MARKETING_URL",
        format!("http://127.0.0.1:{}/graphql", args.marketing_port),
    );
    // Embedded: no Redis for the rate limiter either (per-process buckets).
    for name in ["REDIS_URL", "KAFKA_BROKERS", "MONGO_URL", "DATABASE_URL"] {
        std::env::remove_var(name);
    }
    set_default(
        "ERP_TLS_DEV_CERT_OUT",
        &state_dir.join("dev-cert.pem").display().to_string(),
    );
    let host = router_host()?;
    if erp_router::edge_tls::is_loopback_host(&host) {
        // GraphiQL at the router's URL (a browser's GET); introspection still needs
        // `schema:read`.
        set_default("LABORATORY_ENABLED", "true");
    } else {
        if std::env::var("LABORATORY_ENABLED").is_ok_and(|v| v == "true") {
            eprintln!("erp-os: GraphiQL is served on loopback only: not on {host}");
        }
        set("LABORATORY_ENABLED", "false".into());
    }
    set_default("LOG_FORMAT", "text");
    set_default("LOG_LEVEL", "warn");
    Ok(host)
}

/// The address the router will listen on: its configuration's `http.host` with the
/// environment's overrides (`HOST`), read as the router will read it.
fn router_host() -> anyhow::Result<String> {
    let config = hive_router::config::load_config(std::env::var("ROUTER_CONFIG_FILE_PATH").ok())
        .map_err(|err| anyhow!("the router configuration: {err}"))?;
    Ok(config.http.host.clone())
}

/// Creates the state directory (and `keys/`) readable by this user only (0700) and makes the
/// files already there 0600: they hold the databases, the PMO journal, the cache, the event
/// log, the key-encryption key and the demo password. (SQLite creates a database's journal
/// files with the database's own mode, and nothing else can enter a 0700 directory.)
fn secure_state_dir(state_dir: &Path) -> anyhow::Result<()> {
    for dir in [state_dir.to_path_buf(), state_dir.join("keys")] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        restrict(&dir, 0o700)?;
    }
    restrict_files(state_dir)
}

/// Makes every file of the state directory (and of its `keys/` and `seeds/`) 0600.
fn restrict_files(state_dir: &Path) -> anyhow::Result<()> {
    for dir in [
        state_dir.to_path_buf(),
        state_dir.join("keys"),
        state_dir.join("seeds"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                restrict(&entry.path(), 0o600)?;
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// The demo users' password of this state directory, generated (and written 0600) on first
/// use. True with it when it was generated now (it is printed this once).
fn demo_password(state_dir: &Path) -> anyhow::Result<(String, bool)> {
    let path = state_dir.join(DEMO_PASSWORD_FILE);
    if path.is_file() {
        let password = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok((password.trim().to_owned(), false));
    }
    let password = erp_identity::domain::secrets::random_password();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(&path)
        .and_then(|mut file| file.write_all(format!("{password}\n").as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((password, true))
}

/// What this run serves, for the banner.
struct Running {
    /// None: started without the demo (`--no-demo`).
    demo: Option<DemoRecord>,
    first_start: Option<LoadReport>,
    /// The demo password when it was generated by this start (printed this once).
    new_demo_password: Option<String>,
}

/// Runs everything; returns when the router stops (Ctrl-C).
pub fn run(args: AllArgs) -> anyhow::Result<()> {
    secure_state_dir(&args.state_dir)?;
    let state_dir = args
        .state_dir
        .canonicalize()
        .with_context(|| format!("{}", args.state_dir.display()))?;
    let host = prepare_router(&args, &state_dir)?;
    let loopback_only = erp_router::edge_tls::is_loopback_host(&host);

    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<Running>>();
    let subgraph_args = args.clone();
    std::thread::Builder::new()
        .name("subgraphs".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("subgraph")
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready_tx.send(Err(err.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                match start_subgraphs(&subgraph_args, &state_dir, (!loopback_only).then_some(host))
                    .await
                {
                    Ok((running, servers)) => {
                        let _ = ready_tx.send(Ok(running));
                        // Serve until the process ends (the router's stop ends it).
                        futures::future::join_all(servers).await;
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                }
            });
        })?;
    let running = ready_rx
        .recv()
        .map_err(|_| anyhow!("the subgraphs' thread ended before they were ready"))??;
    print_banner(&args, &running);
    let router_port = args.router_port;
    std::thread::spawn(move || {
        let address = SocketAddr::from(([127, 0, 0, 1], router_port));
        for _ in 0..600 {
            if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                eprintln!("erp-os: the router is listening on port {router_port}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    erp_router::run().map_err(|err| anyhow!("router: {err}"))
}

/// Starts the subgraphs, seeds the demo on first start, binds them and waits for their
/// `/ready`. With `public_host` (the router's host is not a loopback address) it refuses to
/// start while the demo's shared password still logs anyone in.
async fn start_subgraphs(
    args: &AllArgs,
    state_dir: &Path,
    public_host: Option<String>,
) -> anyhow::Result<(Running, Vec<tokio::task::JoinHandle<()>>)> {
    // One cache and one bus for every subgraph of the process. The cache's keys are kept in
    // a file of their own (running timers must outlive a restart, as they do on Redis).
    let cache_db = erp_kit::db::connect(&sqlite_url(state_dir, "cache.db"))
        .await
        .context("opening the cache file")?;
    let cache: SharedCache = Arc::new(
        DurableCache::open(cache_db)
            .await
            .context("loading the cache file")?,
    );
    // The bus's log and its consumer groups' positions are kept in a file of their own too:
    // an event published while its consumer is not running reaches it at its next start.
    let events_db = erp_kit::db::connect(&sqlite_url(state_dir, "events.db"))
        .await
        .context("opening the event log")?;
    let bus: SharedBus = Arc::new(
        DurableBus::open(events_db)
            .await
            .context("loading the event log")?,
    );

    let identity_kit = kit_config(
        "identity",
        args.identity_port,
        Some(sqlite_url(state_dir, "identity.db")),
        state_dir,
    )?;
    let identity_db = erp_kit::db::connect(&identity_kit.database_url).await?;
    let identity_config = IdentityConfig::from_kit(&identity_kit);
    let identity_runtime =
        Runtime::with_backends(identity_kit, identity_db, cache.clone(), bus.clone());

    let employee_kit = kit_config(
        "employee",
        args.employee_port,
        Some(sqlite_url(state_dir, "employee.db")),
        state_dir,
    )?;
    let employee_db = erp_kit::db::connect(&employee_kit.database_url).await?;
    let employee_runtime =
        Runtime::with_backends(employee_kit, employee_db, cache.clone(), bus.clone());

    let pmo_kit = kit_config("pmo", args.pmo_port, None, state_dir)?;
    let pmo_runtime = Runtime::with_backends(
        pmo_kit,
        sea_orm::DatabaseConnection::Disconnected,
        cache.clone(),
        bus.clone(),
    );
    let pmo_store = erp_pmo::connect_store_at(&pmo_runtime, Some(&pmo_data_file(state_dir)))
        .await
        .context("opening the PMO store")?;
    let pmo = erp_pmo::start(&pmo_runtime, pmo_store, "pmo")
        .await
        .context("starting the PMO subgraph")?;

    // Finance: its own SQLite file on the shared cache and bus.
    let finance_kit = kit_config(
        "finance",
        args.finance_port,
        Some(sqlite_url(state_dir, "finance.db")),
        state_dir,
    )?;
    let finance_db = erp_kit::db::connect(&finance_kit.database_url).await?;
    let finance_runtime =
        Runtime::with_backends(finance_kit, finance_db, cache.clone(), bus.clone());

    // Operations: its embedded store persisted to its own journal file, on the shared cache
    // and bus (no relational database, like the PMO); started before the demo is written, as
    // the PMO is, since the demo has operations data.
    let ops_kit = kit_config("ops", args.ops_port, None, state_dir)?;
    let ops_runtime = Runtime::with_backends(
        ops_kit,
        sea_orm::DatabaseConnection::Disconnected,
        cache.clone(),
        bus.clone(),
    );
    let ops_store = erp_ops::connect_store_at(&ops_runtime, Some(&ops_data_file(state_dir)))
        .await
        .context("opening the operations store")?;
    // SOP files under the state directory too (ERP_OPS_BLOB_DIR overrides).
    let ops_options = erp_ops::OpsOptions {
        blob_dir: Some(ops_files_dir(state_dir)),
        // The employee subgraph's exits (asset returns, tickets back to their queues).
        consumers: Some(Default::default()),
        ..Default::default()
    };
    let ops = erp_ops::start_with(&ops_runtime, ops_store, ops_options)
        .await
        .context("starting the operations subgraph")?;
    // The demo is written before the subgraphs serve: a first start answers only once its
    // demo data is there. (Concurrent SQLite writers are safe: every write transaction queues
    // for the file's write lock in `erp_kit::db::begin_write`.) The relays publish its events
    // once started.
    let targets = SeedTargets {
        identity: erp_identity::service(&identity_runtime, identity_config.clone())
            .await
            .context("preparing the identity database")?,
        employees: erp_employee::service(&employee_runtime)
            .await
            .context("preparing the employee database")?,
        pmo: Some(pmo.pmo.clone()),
        // A quarter of finance history (customer invoices, supplier bills, credit notes,
        // payments, expense claims) through finance's own use cases; not its payroll (see
        // `ensure_demo`).
        finance: Some(
            erp_finance::service(&finance_runtime)
                .await
                .context("preparing the finance database")?,
        ),
        // Nor the CRM: the demo's CRM starts empty (the day-in-the-life test creates its own).
        crm: None,
        // Nor marketing (the demo's marketing starts empty).
        marketing: None,
        // Operations: the tier-S register (laptops checked out to their people, stock), SOPs,
        // the IT support team with its queue, SLA policies and a few dozen tickets.
        ops: Some(ops.ops.clone()),
    };
    if let Some(host) = &public_host {
        refuse_public_demo(args, state_dir, &targets.identity, host).await?;
    }
    let (demo, first_start, new_demo_password) = ensure_demo(args, state_dir, &targets).await?;

    let identity = erp_identity::start(&identity_runtime, identity_config)
        .await
        .context("starting the identity subgraph")?;
    let employee = erp_employee::start(&employee_runtime)
        .await
        .context("starting the employee subgraph")?;
    let finance = erp_finance::start(&finance_runtime)
        .await
        .context("starting the finance subgraph")?;
    // CRM: its own SQLite file on the shared cache and bus; its consumer of the employee
    // events (the team directory of its row rules) reads the shared bus.
    let crm_kit = kit_config(
        "crm",
        args.crm_port,
        Some(sqlite_url(state_dir, "crm.db")),
        state_dir,
    )?;
    let crm_db = erp_kit::db::connect(&crm_kit.database_url).await?;
    let crm_runtime = Runtime::with_backends(crm_kit, crm_db, cache.clone(), bus.clone());
    let crm = erp_crm::start(&crm_runtime)
        .await
        .context("starting the CRM subgraph")?;
    // Analytics: the embedded engine (DataFusion over Arrow segments in <state>/analytics),
    // consuming every domain's events from the shared bus.
    let analytics_kit = kit_config("analytics", args.analytics_port, None, state_dir)?;
    let analytics_runtime = Runtime::with_backends(
        analytics_kit,
        sea_orm::DatabaseConnection::Disconnected,
        cache.clone(),
        bus.clone(),
    );
    let analytics_store = erp_analytics::embedded_store(Some(&state_dir.join("analytics")))
        .context("opening the analytics engine")?;
    let analytics = erp_analytics::start(&analytics_runtime, analytics_store, Default::default())
        .await
        .context("starting the analytics subgraph")?;
    // Marketing: its own SQLite file on the shared cache and bus; it sends mail only when
    // ERP_SMTP_URL names a relay, its links point at its loopback port unless
    // ERP_MARKETING_PUBLIC_URL says otherwise.
    let marketing_kit = kit_config(
        "marketing",
        args.marketing_port,
        Some(sqlite_url(state_dir, "marketing.db")),
        state_dir,
    )?;
    let marketing_db = erp_kit::db::connect(&marketing_kit.database_url).await?;
    let marketing_runtime =
        Runtime::with_backends(marketing_kit, marketing_db, cache.clone(), bus.clone());
    let mut marketing_options = erp_marketing::MarketingOptions::from_env();
    if std::env::var_os("ERP_MARKETING_PUBLIC_URL").is_none() {
        marketing_options.settings.public_url = format!("http://127.0.0.1:{}", args.marketing_port);
    }
    let marketing = erp_marketing::start_with(&marketing_runtime, marketing_options)
        .await
        .context("starting the marketing subgraph")?;

    let mut servers = Vec::new();
    for (name, port, router) in [
        ("identity", args.identity_port, identity.router),
        ("employee", args.employee_port, employee.router),
        ("pmo", args.pmo_port, pmo.router),
        ("finance", args.finance_port, finance.router),
        ("crm", args.crm_port, crm.router),
        ("ops", args.ops_port, ops.router),
        ("analytics", args.analytics_port, analytics.router.clone()),
        ("marketing", args.marketing_port, marketing.router),
    ] {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("{name} subgraph: cannot listen on {address}"))?;
        servers.push(tokio::spawn(async move {
            if let Err(err) = erp_kit::http::serve(listener, router).await {
                eprintln!("erp-os: the {name} subgraph stopped: {err}");
            }
        }));
    }
    // The relays stop with the process; keep their handles alive until then (and the
    // finance and CRM consumers and the operations SLA breach timer: dropping a handle stops
    // it).
    let relays = (
        identity.relay,
        employee.relay,
        pmo.relay,
        finance.relay,
        finance.consumers,
        crm.relay,
        crm.consumers,
        ops.relay,
        ops.breach_timer,
        ops.consumers,
        analytics,
        marketing.relay,
        marketing.sender,
    );
    servers.push(tokio::spawn(async move {
        std::future::pending::<()>().await;
        drop(relays);
    }));
    for (name, port) in [
        ("identity", args.identity_port),
        ("employee", args.employee_port),
        ("pmo", args.pmo_port),
        ("finance", args.finance_port),
        ("crm", args.crm_port),
        ("ops", args.ops_port),
        ("analytics", args.analytics_port),
        ("marketing", args.marketing_port),
    ] {
        wait_ready(name, port).await?;
    }
    // The files the stores created at this start, 0600 like the others.
    restrict_files(state_dir)?;
    Ok((
        Running {
            demo,
            first_start,
            new_demo_password,
        },
        servers,
    ))
}

/// `GET /ready` until it answers 200.
async fn wait_ready(name: &str, port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/ready");
    let client = reqwest::Client::new();
    let mut last = String::new();
    for _ in 0..300 {
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => last = format!("status {}", response.status()),
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the {name} subgraph is not ready at {url}: {last}")
}

/// Refuses to serve on `host` (not a loopback address) while the demo credentials are in use:
/// the demo is still to be created (first start, without `--no-demo`), or a demo user can
/// still log in with the demo password (an administrator may deactivate them).
async fn refuse_public_demo(
    args: &AllArgs,
    state_dir: &Path,
    identity: &erp_identity::Identity,
    host: &str,
) -> anyhow::Result<()> {
    let refuse = |why: &str| {
        anyhow!(
            "the router would listen on {host}, not a loopback address, while {why}. \
             The demo's users share one password: serve it on loopback only (HOST=127.0.0.1), \
             or start a new state directory with --no-demo"
        )
    };
    let record_path = state_dir.join("demo.json");
    if !record_path.is_file() {
        return if args.no_demo {
            Ok(())
        } else {
            Err(refuse("this first start would create the demo tenant"))
        };
    }
    let record: DemoRecord = serde_json::from_slice(&std::fs::read(&record_path)?)
        .with_context(|| format!("{}", record_path.display()))?;
    let (password, _) = demo_password(state_dir)?;
    let tenant = TenantId::from_claim(&record.tenant.tenant_id);
    let mut page = PageRequest {
        limit: 100,
        after: None,
        before: None,
        backward: false,
    };
    loop {
        let users = identity
            .users(&tenant, &page)
            .await
            .map_err(|e| anyhow!("reading the demo users: {}", e.message()))?;
        for user in &users {
            let in_use = identity
                .password_works(&user.email, &password)
                .await
                .map_err(|e| anyhow!("checking the demo password: {}", e.message()))?;
            if in_use {
                return Err(refuse(&format!(
                    "the demo user {} still logs in with the demo password",
                    user.email
                )));
            }
        }
        // The store reads one row beyond the limit when there are more: every row read was
        // checked, the next page starts after the last.
        match users.last() {
            Some(last) if users.len() as u64 > page.limit => page.after = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}

/// The demo tenant: created with tier-S data on first start (unless `--no-demo`); later
/// starts find it in the stores. Its projects are written again only when the PMO store has
/// none of the demo tenant's (a state directory of an erp-os whose PMO store kept nothing
/// across restarts). Answers the record, the first start's report, and the demo password
/// when this start created the demo.
async fn ensure_demo(
    args: &AllArgs,
    state_dir: &Path,
    targets: &SeedTargets,
) -> anyhow::Result<(Option<DemoRecord>, Option<LoadReport>, Option<String>)> {
    let record_path = state_dir.join("demo.json");
    if record_path.is_file() {
        let record: DemoRecord = serde_json::from_slice(&std::fs::read(&record_path)?)
            .with_context(|| format!("{}", record_path.display()))?;
        if let Some(pmo) = &targets.pmo {
            let tenant = TenantId::from_claim(&record.tenant.tenant_id);
            if !has_projects(pmo, &tenant).await? {
                eprintln!("erp-os: the PMO store has no demo projects: writing them once");
                let (password, _) = demo_password(state_dir)?;
                let options = LoadOptions {
                    user_password: Some(password.clone()),
                    ..LoadOptions::new(password)
                };
                let plan = demo_plan(record.seed, record.until);
                let people = seed_load::people_of(&plan, &targets.employees, &tenant).await?;
                let mut report = LoadReport::default();
                seed_load::load_projects(
                    &plan,
                    pmo,
                    &record.tenant,
                    &people,
                    &options,
                    &mut report,
                )
                .await
                .context("writing the demo's projects")?;
            }
        }
        if let Some(ops) = &targets.ops {
            let tenant = TenantId::from_claim(&record.tenant.tenant_id);
            if !has_assets(ops, &tenant).await? {
                // A demo made before it had operations data: its operations part, once.
                eprintln!("erp-os: the demo has no operations data: writing it once");
                let (password, _) = demo_password(state_dir)?;
                let options = LoadOptions::new(password);
                let plan = demo_plan(record.seed, record.until);
                let people = seed_load::people_of(&plan, &targets.employees, &tenant).await?;
                let mut report = LoadReport::default();
                seed_load::load_ops(
                    &plan,
                    ops,
                    &record.tenant,
                    &people.user_ids,
                    &options,
                    &mut report,
                )
                .await
                .context("writing the demo's operations data")?;
            }
        }
        return Ok((Some(record), None, None));
    }
    if args.no_demo {
        return Ok((None, None, None));
    }
    // Tenants written by `erp-os seed` (recorded in <state>/seeds/) are this erp-os's own: the
    // demo joins them.
    if state_dir.join("identity.db").is_file()
        && has_tenant(targets).await?
        && !crate::seed_cmd::has_seed_records(state_dir)
    {
        bail!(
            "{} holds data but no demo.json: it was not made by this version of erp-os \
             (or its first start failed); move it away to start afresh",
            state_dir.display()
        );
    }
    let (password, _) = demo_password(state_dir)?;
    let options = LoadOptions {
        user_password: Some(password.clone()),
        // The demo's finance has its history; its payroll starts empty (its users set up
        // their own structures and runs, as the day-in-the-life test does).
        payroll: false,
        ..LoadOptions::new(password.clone())
    };
    let until = chrono::Utc::now().date_naive();
    let plan = demo_plan(args.demo_seed, until);
    eprintln!("erp-os: first start: creating the demo tenant with tier-S seed data...");
    let (tenant, report) = seed_load::load(&plan, targets, &options).await?;
    let record = DemoRecord {
        tenant,
        seed: args.demo_seed,
        until,
    };
    std::fs::write(&record_path, serde_json::to_vec_pretty(&record)?)?;
    // Shown by the start that created the demo (and never again).
    Ok((Some(record), Some(report), Some(password)))
}

/// Whether the operations store holds an asset of `tenant`.
async fn has_assets(ops: &erp_ops::Ops, tenant: &TenantId) -> anyhow::Result<bool> {
    let first = PageRequest {
        limit: 1,
        after: None,
        before: None,
        backward: false,
    };
    let assets = ops
        .assets(tenant, &Default::default(), &first)
        .await
        .map_err(|err| anyhow!("reading the operations store: {err:?}"))?;
    Ok(!assets.is_empty())
}

/// Whether the PMO store holds a project of `tenant`.
async fn has_projects(pmo: &erp_pmo::Pmo, tenant: &TenantId) -> anyhow::Result<bool> {
    let first = PageRequest {
        limit: 1,
        after: None,
        before: None,
        backward: false,
    };
    let projects = pmo
        .projects(tenant, &first)
        .await
        .map_err(|err| anyhow!("reading the PMO store: {err:?}"))?;
    Ok(!projects.is_empty())
}

async fn has_tenant(targets: &SeedTargets) -> anyhow::Result<bool> {
    targets
        .identity
        .has_tenants()
        .await
        .map_err(|e| anyhow!("reading the identity database: {}", e.message()))
}

fn print_banner(args: &AllArgs, running: &Running) {
    let plain = std::env::var("ERP_ROUTER_PLAIN_HTTP").is_ok_and(|v| v == "true");
    let scheme = if plain { "http" } else { "https" };
    let cert = std::env::var("ERP_TLS_DEV_CERT_OUT").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let url = format!("{scheme}://{host}:{}/graphql", args.router_port);
    if let Some(report) = &running.first_start {
        eprint!("erp-os: demo data: {report}");
    }
    let tls_note = if plain {
        String::new()
    } else {
        format!("\n                      (development certificate: {cert}; curl --cacert it)")
    };
    let graphiql = if std::env::var("LABORATORY_ENABLED").is_ok_and(|v| v == "true") {
        format!("{url} in a browser (add the header Authorization: Bearer <accessToken>)")
    } else {
        "off (served on loopback only)".to_owned()
    };
    let password_file = args.state_dir.join(DEMO_PASSWORD_FILE);
    let demo = match &running.demo {
        None => format!(
            "No demo tenant (--no-demo). Create a tenant with\n  \
             ERP_ADMIN_PASSWORD='...' erp-os seed --tier S --seed 1 --state-dir {}\n\
             (stop this process first: the files are locked while it runs).",
            args.state_dir.display()
        ),
        Some(demo) => {
            let email = &demo.tenant.admin_email;
            let password = match &running.new_demo_password {
                Some(password) => format!(
                    "the password \"{password}\" (generated for this state directory, shown \
                     this once,\nkept in {file}, readable by you only)",
                    file = password_file.display()
                ),
                None => format!(
                    "the password kept in {} (readable by you only)",
                    password_file.display()
                ),
            };
            format!(
                r#"Demo tenant "{company}" (tier S: 10 people, a week of history, projects and tasks).
Log in as {email} with {password}.
Every demo user has this password (the others are listed by
`query {{ employees(first: 10) {{ edges {{ node {{ workEmail }} }} }} }}`), so this state
directory is served on loopback only.
  1. mutation {{ login(input: {{email: "{email}", password: "<password>"}}) {{ mfaToken enrollmentRequired }} }}
  2. mutation {{ beginTotpEnrollment(mfaToken: "<mfaToken>") {{ secret otpauthUri }} }}
     -> add the otpauthUri (or the secret) to an authenticator app
  3. mutation {{ confirmTotpEnrollment(mfaToken: "<mfaToken>", code: "<6 digits>") {{ accessToken refreshToken recoveryCodes }} }}
     (keep the recovery codes; later logins: login, then verifyTotp(mfaToken, code))
  4. send "Authorization: Bearer <accessToken>" and
     query {{ me {{ name role {{ name }} }} projects(first: 5) {{ edges {{ node {{ name members {{ role employee {{ displayName }} }} }} }} }} }}"#,
                company = DEMO_COMPANY,
            )
        }
    };
    eprintln!(
        r#"
ERP OS is starting in one process (state in {state}, readable by you only):
  GraphQL (router):   {url}{tls_note}
  GraphiQL:           {graphiql}
  subgraphs:          identity http://127.0.0.1:{identity}/graphql, employee http://127.0.0.1:{employee}/graphql,
                      pmo http://127.0.0.1:{pmo}/graphql, finance http://127.0.0.1:{finance}/graphql,
                      crm http://127.0.0.1:{crm}/graphql, ops http://127.0.0.1:{ops}/graphql,
                      analytics http://127.0.0.1:{analytics}/graphql,
                      marketing http://127.0.0.1:{marketing}/graphql

{demo}
PMO data (projects, tasks, time entries) is kept in {journal}; operations data (assets,
procurement, helpdesk, SOPs) in {ops_journal}; running timers in
{cache}: they keep running across a restart.
Ctrl-C stops everything."#,
        state = args.state_dir.display(),
        identity = args.identity_port,
        employee = args.employee_port,
        pmo = args.pmo_port,
        finance = args.finance_port,
        crm = args.crm_port,
        ops = args.ops_port,
        analytics = args.analytics_port,
        marketing = args.marketing_port,
        journal = pmo_data_file(&args.state_dir).display(),
        ops_journal = ops_data_file(&args.state_dir).display(),
        cache = args.state_dir.join("cache.db").display(),
    );
}
