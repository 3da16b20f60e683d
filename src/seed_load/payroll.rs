//! The payroll part of a load: the plan's payroll history ([`SeedPlan::payroll_months`])
//! through the finance subgraph's payroll use cases. The set-up (the salary, pension and tax
//! accounts, three components, one structure, the tax slabs of every fiscal year of the
//! history), each person's pay facts and structure (what `employee.compensation_changed` and
//! an HR assignment would bring, sealed under finance's keys; a thousand people a
//! transaction, multi-row writes), then one regular run a month (its slips computed, sealed
//! and written in bulk by the run itself):
//! created, calculated, approved (by a payroll administrator who is on no run) and posted
//! (ONE entry a month, its payslips published).
//!
//! Idempotent: a month whose run is posted is counted as existing; an open run of an
//! interrupted load is taken up where it stopped; the posting's idempotency key is
//! `seed:payroll:<period>`.

use anyhow::{anyhow, bail, Context};
use chrono::Datelike;
use futures::{StreamExt, TryStreamExt};

use erp_finance::app::payroll::{ComponentRequest, RuleRequest, RunType, StructureRequest};
use erp_finance::app::payroll_inputs::ImportedPay;
use erp_finance::app::setup::AccountRequest;
use erp_finance::app::Actor;
use erp_finance::domain::ledger::{AccountKind, AccountRole};
use erp_finance::domain::payroll::{ComponentKind, RunState};
use erp_finance::Finance;
use erp_kit::pagination::PageRequest;
use erp_kit::TenantId;

use super::{api, LoadOptions, LoadReport, People, Progress, SeededTenant};
use crate::seed::SeedPlan;

/// The payroll accounts beyond the default chart: (code, name, kind).
const PAYROLL_ACCOUNTS: &[(&str, &str, AccountKind)] = &[
    ("6100", "Salaries", AccountKind::Expense),
    ("2400", "Pension payable", AccountKind::Liability),
    ("2500", "Income tax withheld", AccountKind::Liability),
];

/// The yearly income-tax slabs: (annual income from, rate in %).
const TAX_SLABS: &[(&str, &str)] = &[("0", "0"), ("12000.00", "20"), ("60000.00", "35")];

/// People whose pay one transaction imports.
const PEOPLE_CHUNK: usize = 1_000;

/// Who approves the seeded runs: a payroll administrator with no payslip of their own.
const APPROVER: &str = "seed-payroll";

/// Writes the plan's payroll history into the tenant (see the module comment).
pub async fn load_payroll(
    plan: &SeedPlan,
    finance: &Finance,
    seeded: &SeededTenant,
    people: &People,
    options: &LoadOptions,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let tenant = TenantId::from_claim(&seeded.tenant_id);
    let admin = Actor {
        tenant: tenant.clone(),
        user_id: seeded.admin_user_id.clone(),
        finance_admin: true,
    };
    let structure = set_up(plan, finance, &admin).await?;

    // Everyone's pay facts and structure (from their hire date): PEOPLE_CHUNK people a
    // transaction (sealed one by one as the consumer seals them, written with multi-row
    // statements), `concurrency` chunks at a time.
    let mut progress = Progress::start(
        "finance: payroll people",
        plan.employees.len(),
        options.progress,
    );
    let mut pays = Vec::with_capacity(plan.employees.len());
    for (i, planned) in plan.employees.iter().enumerate() {
        pays.push(ImportedPay {
            employee_id: people.employee_ids[i].clone(),
            hired_on: planned.hired_on,
            salary_minor: i64::try_from(planned.salary_eur)
                .map_err(|_| anyhow!("salary of {}", planned.number))?
                * 100,
            currency: "EUR".into(),
            bank_account: format!("DE{:020}", 10_000_000 + i),
            tax_id: format!("TX-{}", planned.number),
            structure_id: structure.clone(),
        });
    }
    let mut imported = futures::stream::iter(pays.chunks(PEOPLE_CHUNK))
        .map(|chunk| {
            let (finance, admin) = (finance, &admin);
            async move {
                let new = finance
                    .import_payroll_people(admin, chunk)
                    .await
                    .map_err(api)
                    .context("the payroll people")?;
                anyhow::Ok((new, chunk.len() - new))
            }
        })
        .buffer_unordered(options.concurrency.max(1));
    while let Some((new, existing)) = imported.try_next().await? {
        progress.add(new, existing);
    }
    progress.finish(report);

    // One run a month, in order (a run's loans and leavers depend on the months before).
    let approver = Actor {
        tenant: tenant.clone(),
        user_id: APPROVER.into(),
        finance_admin: true,
    };
    let months = plan.payroll_months();
    let mut progress = Progress::start("finance: payroll runs", months.len(), options.progress);
    for month in &months {
        let runs = finance
            .payroll_runs(&tenant, Some(&month.period))
            .await
            .map_err(api)?;
        let open = |state: &str| {
            matches!(
                RunState::from_stored(state),
                Some(RunState::Draft | RunState::Calculated | RunState::Approved)
            )
        };
        if runs.iter().any(|run| {
            run.run_type == RunType::Regular.as_str()
                && matches!(
                    RunState::from_stored(&run.state),
                    Some(RunState::Posted | RunState::Paid)
                )
        }) {
            progress.add(0, 1);
            continue;
        }
        let mut run = match runs
            .into_iter()
            .find(|run| run.run_type == RunType::Regular.as_str() && open(&run.state))
        {
            Some(run) => run,
            None => finance
                .create_payroll_run(&admin, &month.period, RunType::Regular)
                .await
                .map_err(api)
                .with_context(|| format!("payroll run {}", month.period))?,
        };
        if matches!(
            RunState::from_stored(&run.state),
            Some(RunState::Draft | RunState::Calculated)
        ) {
            run = finance
                .calculate_payroll_run(&admin, &run.id)
                .await
                .map_err(api)
                .with_context(|| format!("calculating payroll {}", month.period))?;
            if run.slip_count as usize != month.paid.len() || run.failed_count != 0 {
                bail!(
                    "payroll {}: {} slips and {} failures, the plan pays {}",
                    month.period,
                    run.slip_count,
                    run.failed_count,
                    month.paid.len()
                );
            }
            run = finance
                .approve_payroll_run(&approver, &run.id)
                .await
                .map_err(api)
                .with_context(|| format!("approving payroll {}", month.period))?;
        }
        finance
            .post_payroll_run(&admin, &format!("seed:payroll:{}", month.period), &run.id)
            .await
            .map_err(api)
            .with_context(|| format!("posting payroll {}", month.period))?;
        progress.add(1, 0);
    }
    progress.finish(report);
    Ok(())
}

/// The accounts, components, structure and tax slabs, what is missing of them; answers the
/// structure's id.
async fn set_up(plan: &SeedPlan, finance: &Finance, admin: &Actor) -> anyhow::Result<String> {
    let tenant = &admin.tenant;
    let everything = PageRequest {
        limit: 10_000,
        after: None,
        before: None,
        backward: false,
    };
    let mut accounts: std::collections::HashMap<String, String> = finance
        .account_page(tenant, None, &everything)
        .await
        .map_err(api)?
        .into_iter()
        .map(|a| (a.code, a.id))
        .collect();
    for (code, name, kind) in PAYROLL_ACCOUNTS {
        if !accounts.contains_key(*code) {
            let id = finance
                .create_account(
                    admin,
                    AccountRequest {
                        code: (*code).into(),
                        name: (*name).into(),
                        kind: *kind,
                        role: AccountRole::General,
                    },
                )
                .await
                .map_err(api)
                .with_context(|| format!("account {code}"))?;
            accounts.insert((*code).into(), id);
        }
    }
    let account = |code: &str| {
        accounts
            .get(code)
            .cloned()
            .ok_or_else(|| anyhow!("no account {code}"))
    };
    let components = [
        (
            "BASIC",
            "Basic salary",
            ComponentKind::Earning,
            RuleRequest::Formula {
                formula: "base * days_worked / days_in_period".into(),
            },
            "6100",
        ),
        (
            "PENSION",
            "Pension",
            ComponentKind::Deduction,
            RuleRequest::Percent {
                of: "BASIC".into(),
                percent: "8".into(),
            },
            "2400",
        ),
        (
            "TAX",
            "Income tax",
            ComponentKind::Deduction,
            RuleRequest::IncomeTax,
            "2500",
        ),
    ];
    let mut ids = Vec::with_capacity(components.len());
    for (code, name, kind, rule, account_code) in components {
        let stored = finance.salary_components(tenant).await.map_err(api)?;
        let id = match stored.into_iter().find(|c| c.code == code) {
            Some(existing) => existing.id,
            None => {
                finance
                    .create_salary_component(
                        admin,
                        ComponentRequest {
                            code: code.into(),
                            name: name.into(),
                            kind,
                            rule,
                            account_id: account(account_code)?,
                        },
                    )
                    .await
                    .map_err(api)
                    .with_context(|| format!("salary component {code}"))?
                    .id
            }
        };
        ids.push(id);
    }
    let structure = match finance
        .salary_structures(tenant)
        .await
        .map_err(api)?
        .into_iter()
        .find(|(s, _)| s.code == "STD")
    {
        Some((existing, _)) => existing.id,
        None => {
            finance
                .create_salary_structure(
                    admin,
                    StructureRequest {
                        code: "STD".into(),
                        name: "Standard".into(),
                        component_ids: ids,
                    },
                )
                .await
                .map_err(api)
                .context("salary structure STD")?
                .id
        }
    };
    // The slabs of every fiscal year a run falls in (replaced: the same slabs again).
    let first = plan.finance_start().year();
    let last = (plan.until - chrono::Duration::days(1)).year();
    for y in first..=last {
        finance
            .set_tax_slabs(
                admin,
                &format!("FY{y}"),
                TAX_SLABS
                    .iter()
                    .map(|(from, rate)| ((*from).into(), (*rate).into()))
                    .collect(),
            )
            .await
            .map_err(api)
            .with_context(|| format!("tax slabs FY{y}"))?;
    }
    Ok(structure)
}
