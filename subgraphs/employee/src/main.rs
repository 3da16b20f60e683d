//! The employee subgraph: `serve` (default) or `rotate-kek` (configuration: see erp_kit::config).

use clap::{Parser, Subcommand};

use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;

#[derive(Parser)]
#[command(about = "The employee (HRMS) subgraph")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL (the default).
    Serve,
    /// Re-wrap every tenant data key with a new key-encryption key (created if the file does not
    /// exist). No row is re-encrypted. Then point ERP_KEK_FILE at the new file.
    RotateKek {
        #[arg(long)]
        new_kek_file: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = KitConfig::from_env("employee", erp_employee::DEFAULT_PORT)?;
    // Kept for the life of the process: dropping it flushes the spans not yet exported.
    let _telemetry = erp_kit::telemetry::init(config.log_format, config.traces.as_ref())?;
    let bind = config.bind;
    let runtime = Runtime::connect(config).await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = erp_employee::start(&runtime).await?;
            let listener = tokio::net::TcpListener::bind(bind).await?;
            tracing::info!(address = %bind, bus = runtime.bus.kind(), cache = runtime.cache.kind(), "employee subgraph listening");
            erp_kit::http::serve(listener, app.router).await?;
            app.relay.shutdown().await;
        }
        Command::RotateKek { new_kek_file } => {
            let count = erp_employee::rotate_kek(&runtime, &new_kek_file).await?;
            println!(
                "re-wrapped {count} data keys; now set ERP_KEK_FILE={}",
                new_kek_file.display()
            );
        }
    }
    Ok(())
}
