//! `erp-os seed`: writes a tier of seed data into a new tenant, either into the embedded
//! stores of a state directory (the files `erp-os all` runs on: the SQLite files and the PMO
//! journal) or into the real services.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::NaiveDate;

use erp_identity::service::IdentityConfig;
use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;
use erp_pmo::service::Pmo;
use erp_pmo::store::timers::TimerStore;

use crate::seed::{SeedPlan, Tier};
use crate::seed_load::{self, LoadOptions, SeedTargets};

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// S (10 employees, a week), M (500, a month) or L (10,000, 12 months): workload.md.
    #[arg(long, value_parser = Tier::parse)]
    pub tier: Tier,
    /// The seed number: the same number (with the same tier, tenant and --until) writes the
    /// same data.
    #[arg(long)]
    pub seed: u64,
    /// The new tenant's name (default "Seed <tier> <seed>"); its people's emails are
    /// <first>.<last>.<number>@<domain>.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The mail domain (default: the tenant name's letters and digits + ".example").
    #[arg(long)]
    pub domain: Option<String>,
    /// The history ends the day before this date (default: today, UTC).
    #[arg(long)]
    pub until: Option<NaiveDate>,
    /// The administrator's (first employee's) password.
    #[arg(long, env = "ERP_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: String,
    /// Activate every other user with this password too (an Argon2id hash per person: fine
    /// for S and M, slow for L); without it they stay invited.
    #[arg(long, env = "ERP_USER_PASSWORD", hide_env_values = true)]
    pub user_password: Option<String>,
    /// Write into the real services instead of a state directory: identity at
    /// ERP_IDENTITY_DATABASE_URL, employee at ERP_EMPLOYEE_DATABASE_URL (both default to
    /// DATABASE_URL), the PMO at MONGO_URL (skipped when unset), REDIS_URL for the cache.
    #[arg(long)]
    pub services: bool,
    /// The embedded stores to write into (without --services): identity.db, employee.db and
    /// pmo.journal (or ERP_PMO_DATA_FILE). Not while `erp-os all` runs on them (the PMO
    /// journal is locked).
    #[arg(long, env = "ERP_STATE_DIR", default_value = ".erp")]
    pub state_dir: PathBuf,
    /// Writes in flight at once against PostgreSQL / MongoDB (SQLite always takes one).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

fn slug(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let company = args
        .tenant
        .clone()
        .unwrap_or_else(|| format!("Seed {} {}", args.tier.name(), args.seed));
    let domain = args
        .domain
        .clone()
        .unwrap_or_else(|| format!("{}.example", slug(&company)));
    let until = args
        .until
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let plan = SeedPlan::new(args.tier, args.seed, &company, &domain, until);

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (identity_url, employee_url, mongo_url, redis_url, kek_file) = if args.services {
        let fallback = env("DATABASE_URL");
        let identity = env("ERP_IDENTITY_DATABASE_URL").or_else(|| fallback.clone());
        let employee = env("ERP_EMPLOYEE_DATABASE_URL").or(fallback);
        let (Some(identity), Some(employee)) = (identity, employee) else {
            bail!("--services needs DATABASE_URL (or ERP_IDENTITY_DATABASE_URL and ERP_EMPLOYEE_DATABASE_URL)");
        };
        let kek = env("ERP_KEK_FILE").unwrap_or_else(|| ".erp/keys/local-kek.key".into());
        (identity, employee, env("MONGO_URL"), env("REDIS_URL"), kek)
    } else {
        std::fs::create_dir_all(args.state_dir.join("keys"))?;
        let dir = args.state_dir.canonicalize()?;
        let url = |file: &str| format!("sqlite://{}?mode=rwc", dir.join(file).display());
        let kek = dir.join("keys/local-kek.key").display().to_string();
        (url("identity.db"), url("employee.db"), None, None, kek)
    };
    let sqlite = identity_url.starts_with("sqlite:") || employee_url.starts_with("sqlite:");

    let config = |service: &str, database_url: &str| {
        KitConfig::from_lookup(service, 0, |name| match name {
            "DATABASE_URL" => Some(database_url.to_owned()),
            "REDIS_URL" => redis_url.clone(),
            "KAFKA_BROKERS" => None,
            "MONGO_URL" => mongo_url.clone(),
            "ERP_KEK_FILE" => Some(kek_file.clone()),
            _ => std::env::var(name).ok(),
        })
    };
    let identity_kit = config("identity", &identity_url)?;
    erp_kit::telemetry::init_logging(identity_kit.log_format);
    // Events are written to each domain's outbox; the services' relays publish them.
    let (cache, bus) = crate::services::backends(&identity_kit).await?;
    let identity_config = IdentityConfig::from_kit(&identity_kit);
    let identity_db = erp_kit::db::connect(&identity_url)
        .await
        .context("identity database")?;
    let identity_runtime =
        Runtime::with_backends(identity_kit, identity_db, cache.clone(), bus.clone());
    let identity = erp_identity::service(&identity_runtime, identity_config).await?;

    let employee_kit = config("employee", &employee_url)?;
    let employee_db = erp_kit::db::connect(&employee_url)
        .await
        .context("employee database")?;
    let employee_runtime = Runtime::with_backends(employee_kit, employee_db, cache.clone(), bus);
    let employees = crate::services::employee_store(&employee_runtime).await?;

    let pmo_store: Option<erp_pmo::store::SharedStore> = match &mongo_url {
        Some(url) => Some(Arc::new(
            erp_pmo::store::mongo::MongoStore::connect(url).await?,
        )),
        None if !args.services => {
            // The journal `erp-os all` runs on (locked: not while it runs).
            let file = crate::embedded::pmo_data_file(&args.state_dir);
            let store = erp_pmo::store::memory::MemoryStore::open(&file)
                .with_context(|| format!("the PMO data file {}", file.display()))?;
            Some(Arc::new(store))
        }
        None => {
            eprintln!(
                "erp-os seed: --services without MONGO_URL: no PMO store to write to; \
                 projects, tasks and time entries are skipped"
            );
            None
        }
    };
    let pmo = match pmo_store {
        Some(store) => {
            store
                .prepare()
                .await
                .map_err(|e| anyhow::anyhow!("preparing the PMO store: {e:?}"))?;
            Some(Pmo::new(
                store,
                TimerStore::new(cache.clone(), "pmo"),
                erp_pmo::events::Wake::default(),
                erp_pmo::service::PmoOptions::default(),
            ))
        }
        None => None,
    };

    let totals = plan.totals();
    eprintln!(
        "erp-os seed: tier {} seed {} into \"{company}\" (history {} to {}): {totals:?}",
        args.tier.name(),
        args.seed,
        plan.history_start(),
        until.pred_opt().unwrap_or(until),
    );
    let targets = SeedTargets {
        identity,
        employees,
        pmo,
    };
    let options = LoadOptions {
        admin_password: args.admin_password.clone(),
        user_password: args.user_password.clone(),
        concurrency: if sqlite { 1 } else { args.concurrency },
        pmo_concurrency: args.concurrency,
    };
    let (tenant, report) = seed_load::load(&plan, &targets, &options).await?;
    println!(
        "tenant {} ({company}); administrator {} ({})",
        tenant.tenant_id, tenant.admin_email, tenant.admin_user_id
    );
    print!("{report}");
    Ok(())
}
