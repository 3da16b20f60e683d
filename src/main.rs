//! `erp-os`: the whole supergraph in one process (the default), any subgraph or the router
//! alone, or seed data. A thin binary over the `erp_os` library.

use clap::{Parser, Subcommand};

use erp_os::embedded::AllArgs;
use erp_os::seed_cmd::SeedArgs;
use erp_os::services::Service;
#[cfg(not(feature = "system-allocator"))]
use hive_router::{configure_global_allocator, RouterGlobalAllocator};

// The router's allocator (mimalloc), for the whole process as in erp-router.
#[cfg(not(feature = "system-allocator"))]
configure_global_allocator!();

#[derive(Parser)]
#[command(
    name = "erp-os",
    version,
    about = "ERP OS: a company operating system as a federated GraphQL supergraph",
    long_about = "ERP OS: a company operating system as a federated GraphQL supergraph.\n\n\
        Without a command it runs `all`: every subgraph and the router in ONE process on embedded \
        defaults (SQLite files and keys under .erp/, in-process cache and bus), with a demo \
        tenant on first start. `identity`, `employee`, `pmo`, `finance`, `crm`, `ops`, `marketing` and `router` run one service alone, \
        configured from the environment as in production (DATABASE_URL, REDIS_URL, \
        KAFKA_BROKERS, MONGO_URL, ERP_BIND, ERP_JWKS_URL, ...: see subgraphs/kit/src/config.rs \
        and router/README.md). `seed` writes seed data of a workload tier.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command: the options of `all`.
    #[command(flatten)]
    all: AllArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process (the default): identity, employee, PMO, finance, CRM and operations subgraphs on
    /// loopback ports, and the router in front of them (https://127.0.0.1:4000/graphql with a
    /// generated development certificate, or http with ERP_ROUTER_PLAIN_HTTP=true). The first
    /// start creates a demo tenant with tier-S data and prints how to log in.
    All(AllArgs),
    /// The identity subgraph alone (accounts, MFA, tokens, OIDC endpoints), as `erp-identity`
    /// serves it (its `bootstrap` and `rotate-keys` commands stay in `erp-identity`).
    Identity,
    /// The employee (HRMS) subgraph alone, as `erp-employee` serves it (`rotate-kek` stays
    /// there).
    Employee,
    /// The PMO subgraph alone (MONGO_URL selects MongoDB; unset, an in-memory store).
    Pmo,
    /// The finance subgraph alone (ledger, invoices, payments, expenses, cash) on DATABASE_URL.
    Finance,
    /// The CRM subgraph alone (clients, leads, pipelines, quotes) on DATABASE_URL, consuming
    /// the employee subgraph's events from KAFKA_BROKERS.
    Crm,
    /// The operations & assets subgraph alone (assets, procurement, helpdesk, SOPs): MONGO_URL
    /// selects MongoDB; unset, an embedded store persisted to ERP_OPS_DATA_FILE if set.
    Ops,
    /// The analytics subgraph alone (metrics, live tiles, exports) on ClickHouse at
    /// CLICKHOUSE_URL (CLICKHOUSE_DATABASE), consuming every domain's events from KAFKA_BROKERS.
    Analytics,
    /// The marketing subgraph alone (contacts, consent, segments, campaigns) on DATABASE_URL,
    /// sending through the SMTP relay of ERP_SMTP_URL.
    Marketing,
    /// The router and edge alone, as `erp-router` runs it (ROUTER_CONFIG_FILE_PATH, else
    /// router/router.config.yaml from the current directory, plus its environment overrides).
    Router,
    /// Deterministic seed data of a workload tier (S, M, L) in a new tenant, into the embedded
    /// stores of a state directory or (--services) into the real services.
    Seed(SeedArgs),
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => erp_os::embedded::run(cli.all),
        Some(Command::All(args)) => erp_os::embedded::run(args),
        Some(Command::Identity) => {
            tokio_runtime()?.block_on(erp_os::services::serve(Service::Identity))
        }
        Some(Command::Employee) => {
            tokio_runtime()?.block_on(erp_os::services::serve(Service::Employee))
        }
        Some(Command::Pmo) => tokio_runtime()?.block_on(erp_os::services::serve(Service::Pmo)),
        Some(Command::Finance) => {
            tokio_runtime()?.block_on(erp_os::services::serve(Service::Finance))
        }
        Some(Command::Crm) => tokio_runtime()?.block_on(erp_os::services::serve(Service::Crm)),
        Some(Command::Ops) => tokio_runtime()?.block_on(erp_os::services::serve(Service::Ops)),
        Some(Command::Analytics) => {
            tokio_runtime()?.block_on(erp_os::services::serve(Service::Analytics))
        }
        Some(Command::Marketing) => {
            tokio_runtime()?.block_on(erp_os::services::serve(Service::Marketing))
        }
        Some(Command::Router) => {
            // Before any thread exists: it may set ROUTER_CONFIG_FILE_PATH.
            erp_router::default_config_path();
            erp_router::run().map_err(|err| anyhow::anyhow!("{err}"))
        }
        Some(Command::Seed(args)) => tokio_runtime()?.block_on(erp_os::seed_cmd::run(args)),
    }
}
