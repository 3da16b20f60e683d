//! The identity service: `serve` (default), `rotate-keys`, `bootstrap`.

use clap::{Parser, Subcommand};

use erp_identity::IdentityConfig;
use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[derive(Parser)]
#[command(
    about = "The identity subgraph (configuration: environment variables, see erp_kit::config)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL and the OIDC endpoints (the default).
    Serve,
    /// Publish a new signing key now; it signs after one JWKS cache TTL, and the current keys
    /// leave the JWKS once every token they signed has expired.
    RotateKeys,
    /// Create a tenant with the default roles and its first administrator.
    Bootstrap {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_name: String,
        /// Read from ERP_ADMIN_PASSWORD so it does not land in shell history.
        #[arg(long, env = "ERP_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = KitConfig::from_env("identity", erp_identity::DEFAULT_PORT)?;
    // Kept for the life of the process: dropping it flushes the spans not yet exported.
    let _telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    let identity_config = IdentityConfig::from_kit(&config);
    let bind = config.bind;
    let runtime = Runtime::connect(config).await?;
    let failed = |e: erp_kit::ApiError| anyhow::anyhow!(e.message());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = erp_identity::start(&runtime, identity_config).await?;
            let listener = tokio::net::TcpListener::bind(bind).await?;
            tracing::info!(address = %bind, "identity subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Command::RotateKeys => {
            let identity = erp_identity::service(&runtime, identity_config).await?;
            let kid = identity.rotate_signing_key().await.map_err(failed)?;
            println!("published signing key {kid}");
        }
        Command::Bootstrap {
            tenant,
            admin_email,
            admin_name,
            admin_password,
        } => {
            let identity = erp_identity::service(&runtime, identity_config).await?;
            let (tenant, admin) = identity
                .bootstrap_tenant(&tenant, &admin_email, &admin_name, &admin_password)
                .await
                .map_err(failed)?;
            println!(
                "tenant {} created; administrator {} ({})",
                tenant.id, admin.email, admin.id
            );
            println!("log in with the password given; the first login enrols a second factor");
        }
    }
    Ok(())
}
