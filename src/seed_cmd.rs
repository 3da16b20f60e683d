//! `erp-os seed`: writes a tier of seed data into a new tenant, either into the embedded
//! stores of a state directory (the files `erp-os all` runs on: the SQLite files and the PMO
//! journal) or into the real services. `--resume` completes an interrupted one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use erp_identity::IdentityConfig;
use erp_kit::config::KitConfig;
use erp_kit::runtime::Runtime;
use erp_pmo::store::timers::TimerStore;
use erp_pmo::Pmo;

use crate::seed::{SeedPlan, Tier};
use crate::seed_load::{self, LoadOptions, SeedTargets, SeededTenant};

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
    /// The history ends the day before this date (default: today, UTC; at most tomorrow: time
    /// entries cannot end in the future). Printed at the start: `--resume` needs the same.
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
    /// DATABASE_URL), the PMO at MONGO_URL (skipped when unset), finance at
    /// ERP_FINANCE_DATABASE_URL (default DATABASE_URL), the CRM at ERP_CRM_DATABASE_URL
    /// (default DATABASE_URL), REDIS_URL for the cache.
    #[arg(long)]
    pub services: bool,
    /// The embedded stores to write into (without --services): identity.db, employee.db,
    /// finance.db, crm.db, marketing.db and pmo.journal (or ERP_PMO_DATA_FILE). Not while `erp-os all` runs on them (the PMO
    /// journal is locked).
    #[arg(long, env = "ERP_STATE_DIR", default_value = ".erp")]
    pub state_dir: PathBuf,
    /// Writes in flight at once against PostgreSQL / MongoDB (SQLite always takes one), and
    /// PMO import batches in flight (also for the embedded journal).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Tasks or time entries per import batch: one MongoDB transaction, or one journal record
    /// and one flush, each (1 to 10000).
    #[arg(long, default_value_t = seed_load::DEFAULT_BATCH)]
    pub batch: usize,
    /// Write only the time entries of the history's last N days (the rest of the plan's time
    /// entries is NOT written, and the report says how many): for a slow MongoDB. A later
    /// `--resume` with a larger N (or without it) adds the missing ones.
    #[arg(long, value_name = "N")]
    pub pmo_history_days: Option<i64>,
    /// Complete an earlier, interrupted seed of the same tier, seed, tenant and --until (which
    /// must be given): its tenant is found by its administrator's email, what it wrote is kept
    /// and the rest is written (nothing twice).
    #[arg(long)]
    pub resume: bool,
}

/// What `erp-os seed` wrote into a state directory: `<state>/seeds/<tenant id>.json` (also what
/// lets `erp-os all` start on a state directory the seed made).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRecord {
    pub tier: String,
    pub seed: u64,
    pub company: String,
    pub domain: String,
    pub until: NaiveDate,
    pub pmo_history_days: Option<i64>,
    pub tenant: SeededTenant,
    /// False until the load finished (an interrupted one is completed with --resume).
    pub complete: bool,
}

fn seeds_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("seeds")
}

/// Whether `erp-os seed` wrote tenants into this state directory.
pub fn has_seed_records(state_dir: &Path) -> bool {
    std::fs::read_dir(seeds_dir(state_dir)).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "json"))
    })
}

fn write_record(state_dir: &Path, record: &SeedRecord) -> anyhow::Result<()> {
    let dir = seeds_dir(state_dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.json", record.tenant.tenant_id));
    std::fs::write(&path, serde_json::to_vec_pretty(record)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// The checks of the arguments that need no store.
fn check_args(args: &SeedArgs, today: NaiveDate) -> anyhow::Result<NaiveDate> {
    let until = args.until.unwrap_or(today);
    if until > today + chrono::Duration::days(1) {
        bail!(
            "--until {until} is after tomorrow: the history's time entries would end in the future"
        );
    }
    if args.resume && args.until.is_none() {
        bail!("--resume needs the --until of the seed it completes (printed when it started)");
    }
    if let Some(days) = args.pmo_history_days {
        let history = args.tier.history_days();
        if !(0..=history).contains(&days) {
            bail!(
                "--pmo-history-days is 0 to {history} (the history of tier {}), not {days}",
                args.tier.name()
            );
        }
    }
    if !(1..=erp_pmo::app::import::MAX_IMPORT_BATCH).contains(&args.batch) {
        bail!(
            "--batch is 1 to {}, not {}",
            erp_pmo::app::import::MAX_IMPORT_BATCH,
            args.batch
        );
    }
    if args.concurrency == 0 {
        bail!("--concurrency is at least 1");
    }
    Ok(until)
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
    let until = check_args(&args, chrono::Utc::now().date_naive())?;
    let plan = SeedPlan::new(args.tier, args.seed, &company, &domain, until);

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (identity_url, employee_url, mongo_url, redis_url, kek_file, finance_url) = if args.services
    {
        let fallback = env("DATABASE_URL");
        let identity = env("ERP_IDENTITY_DATABASE_URL").or_else(|| fallback.clone());
        let employee = env("ERP_EMPLOYEE_DATABASE_URL").or_else(|| fallback.clone());
        let (Some(identity), Some(employee)) = (identity, employee) else {
            bail!("--services needs DATABASE_URL (or ERP_IDENTITY_DATABASE_URL and ERP_EMPLOYEE_DATABASE_URL)");
        };
        // Finance's history is skipped without a database for it.
        let finance = env("ERP_FINANCE_DATABASE_URL").or(fallback);
        let kek = env("ERP_KEK_FILE").unwrap_or_else(|| ".erp/keys/local-kek.key".into());
        (
            identity,
            employee,
            env("MONGO_URL"),
            env("REDIS_URL"),
            kek,
            finance,
        )
    } else {
        std::fs::create_dir_all(args.state_dir.join("keys"))?;
        let dir = args.state_dir.canonicalize()?;
        let url = |file: &str| format!("sqlite://{}?mode=rwc", dir.join(file).display());
        let kek = dir.join("keys/local-kek.key").display().to_string();
        (
            url("identity.db"),
            url("employee.db"),
            None,
            None,
            kek,
            Some(url("finance.db")),
        )
    };
    // The CRM's database, like finance's (skipped with --services without one).
    let crm_url = if args.services {
        env("ERP_CRM_DATABASE_URL").or_else(|| env("DATABASE_URL"))
    } else {
        let dir = args.state_dir.canonicalize()?;
        Some(format!(
            "sqlite://{}?mode=rwc",
            dir.join("crm.db").display()
        ))
    };
    // The marketing database, like the CRM's.
    let marketing_url = if args.services {
        env("ERP_MARKETING_DATABASE_URL").or_else(|| env("DATABASE_URL"))
    } else {
        let dir = args.state_dir.canonicalize()?;
        Some(format!(
            "sqlite://{}?mode=rwc",
            dir.join("marketing.db").display()
        ))
    };
    let sqlite = crm_url
        .as_deref()
        .is_some_and(|url| url.starts_with("sqlite:"))
        || marketing_url
            .as_deref()
            .is_some_and(|url| url.starts_with("sqlite:"))
        || identity_url.starts_with("sqlite:")
        || employee_url.starts_with("sqlite:")
        || finance_url
            .as_deref()
            .is_some_and(|url| url.starts_with("sqlite:"));

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
    let (cache, bus) = erp_kit::runtime::backends(&identity_kit).await?;
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
    let employee_runtime =
        Runtime::with_backends(employee_kit, employee_db, cache.clone(), bus.clone());
    let employees = erp_employee::service(&employee_runtime).await?;

    let finance = match &finance_url {
        Some(url) => {
            let finance_kit = config("finance", url)?;
            let finance_db = erp_kit::db::connect(url)
                .await
                .context("finance database")?;
            let runtime =
                Runtime::with_backends(finance_kit, finance_db, cache.clone(), bus.clone());
            Some(erp_finance::service(&runtime).await?)
        }
        None => {
            eprintln!(
                "erp-os seed: --services without DATABASE_URL or ERP_FINANCE_DATABASE_URL: \
                 the finance history is skipped"
            );
            None
        }
    };

    let crm = match &crm_url {
        Some(url) => {
            let crm_kit = config("crm", url)?;
            let crm_db = erp_kit::db::connect(url).await.context("CRM database")?;
            let runtime = Runtime::with_backends(crm_kit, crm_db, cache.clone(), bus.clone());
            Some(erp_crm::service(&runtime).await?)
        }
        None => None,
    };

    let marketing = match &marketing_url {
        Some(url) => {
            let marketing_kit = config("marketing", url)?;
            let marketing_db = erp_kit::db::connect(url)
                .await
                .context("marketing database")?;
            let runtime =
                Runtime::with_backends(marketing_kit, marketing_db, cache.clone(), bus.clone());
            // No relay, sender or consumers: the seed writes, the services send.
            Some(
                erp_marketing::service(&runtime, &erp_marketing::MarketingOptions::default())
                    .await?,
            )
        }
        None => None,
    };

    // Operations: MongoDB with --services (skipped without MONGO_URL), else the journal and the
    // files directory `erp-os all` runs on.
    let ops_kit = config("ops", "")?;
    let ops_runtime = Runtime::with_backends(
        ops_kit,
        sea_orm::DatabaseConnection::Disconnected,
        cache.clone(),
        bus.clone(),
    );
    let ops = match (&mongo_url, args.services) {
        (Some(url), _) => {
            let store: erp_ops::store::SharedStore =
                Arc::new(erp_ops::store::mongo::MongoStore::connect(url).await?);
            Some(erp_ops::service(&ops_runtime, store, Default::default()).await?)
        }
        (None, false) => {
            let file = crate::embedded::ops_data_file(&args.state_dir);
            let store = erp_ops::store::memory::MemoryStore::open(&file)
                .map_err(|err| anyhow::anyhow!("the ops data file {}: {err}", file.display()))?;
            let options = erp_ops::OpsOptions {
                blob_dir: Some(crate::embedded::ops_files_dir(&args.state_dir)),
                ..Default::default()
            };
            Some(erp_ops::service(&ops_runtime, Arc::new(store), options).await?)
        }
        (None, true) => {
            eprintln!(
                "erp-os seed: --services without MONGO_URL: no operations store to write to; \
                 assets, SOPs and tickets are skipped"
            );
            None
        }
    };

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
                erp_pmo::PmoOptions::default(),
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
    eprintln!(
        "erp-os seed: if interrupted, the same command with `--until {until} --resume` completes it"
    );
    let targets = SeedTargets {
        identity,
        employees,
        pmo,
        finance,
        crm,
        marketing,
        ops,
    };
    let options = LoadOptions {
        user_password: args.user_password.clone(),
        concurrency: if sqlite { 1 } else { args.concurrency },
        pmo_concurrency: args.concurrency,
        batch: args.batch,
        pmo_history_days: args.pmo_history_days,
        resume: args.resume,
        progress: true,
        ..LoadOptions::new(args.admin_password.clone())
    };
    let record = |tenant: &SeededTenant, complete: bool| SeedRecord {
        tier: args.tier.name().to_owned(),
        seed: args.seed,
        company: company.clone(),
        domain: domain.clone(),
        until,
        pmo_history_days: args.pmo_history_days,
        tenant: tenant.clone(),
        complete,
    };
    let started = std::time::Instant::now();
    let keep_record = |tenant: &SeededTenant, complete: bool| match args.services {
        true => Ok(()),
        false => write_record(&args.state_dir, &record(tenant, complete)),
    };
    let (tenant, report) = seed_load::load_with(&plan, &targets, &options, |tenant| {
        keep_record(tenant, false)
    })
    .await?;
    keep_record(&tenant, true)?;
    println!(
        "tenant {} ({company}); administrator {} ({})",
        tenant.tenant_id, tenant.admin_email, tenant.admin_user_id
    );
    print!("{report}");
    println!("  total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        seed: SeedArgs,
    }

    fn args(extra: &[&str]) -> SeedArgs {
        let mut all = vec![
            "seed",
            "--tier",
            "M",
            "--seed",
            "7",
            "--admin-password",
            "x",
        ];
        all.extend_from_slice(extra);
        Command::parse_from(all).seed
    }

    fn day(raw: &str) -> NaiveDate {
        raw.parse().unwrap_or_default()
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let today = day("2026-03-02");
        assert_eq!(check_args(&args(&[]), today).ok(), Some(today));
        for (extra, message) in [
            (
                &["--until", "2026-03-04"][..],
                "--until 2026-03-04 is after tomorrow: the history's time entries would end in the future",
            ),
            (
                &["--resume"][..],
                "--resume needs the --until of the seed it completes (printed when it started)",
            ),
            (
                &["--pmo-history-days", "31"][..],
                "--pmo-history-days is 0 to 30 (the history of tier M), not 31",
            ),
            (&["--batch", "0"][..], "--batch is 1 to 10000, not 0"),
            (&["--concurrency", "0"][..], "--concurrency is at least 1"),
        ] {
            let refused = check_args(&args(extra), today).map_err(|e| e.to_string());
            assert_eq!(refused, Err(message.to_owned()), "{extra:?}");
        }
        assert!(check_args(&args(&["--until", "2026-03-01", "--resume"]), today).is_ok());
    }
}
