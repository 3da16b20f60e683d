//! The org chart (`orgChart`) and manager changes. (The reporting line's fields of an
//! `Employee`, and the row-level rules every `Employee` answers through `viewerCan`, are in
//! `people.rs` and `context.rs`.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, InputObject, Object, Result, ID};

use erp_kit::loaders::TenantKey;
use erp_kit::{ApiError, RequestContext};

use super::loaders::EmployeeLoader;
use super::people::Employee;
use crate::app::Employee as UseCases;
use crate::domain::org::{reports_index, MAX_CHART_DEPTH};

/// One person in an org chart with the reports below them, down to the asked depth.
pub struct OrgChartNode {
    employee_id: String,
    levels_below: i32,
    reports_of: Arc<HashMap<String, Vec<String>>>,
}

/// One person in an org chart, with the people reporting to them down to the chart's depth.
#[Object]
impl OrgChartNode {
    /// The person.
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<EmployeeLoader>>()
            .load_one(TenantKey::new(&tenant, &self.employee_id))
            .await?
            .map(Employee))
    }

    /// How many people report to this person directly (also below the chart's depth).
    async fn direct_report_count(&self) -> i32 {
        self.reports_of
            .get(&self.employee_id)
            .map_or(0, |r| r.len() as i32)
    }

    /// The direct reports, each with their own reports (empty at the chart's depth).
    async fn reports(&self) -> Vec<OrgChartNode> {
        if self.levels_below <= 0 {
            return Vec::new();
        }
        self.reports_of
            .get(&self.employee_id)
            .into_iter()
            .flatten()
            .map(|id| OrgChartNode {
                employee_id: id.clone(),
                levels_below: self.levels_below - 1,
                reports_of: self.reports_of.clone(),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct OrgQuery;

#[Object]
impl OrgQuery {
    /// The org chart under `rootId`, `depth` levels deep (1 to 10, 3 when omitted). The
    /// reporting line is read once; people are loaded in one batch per level.
    #[graphql(requires_scopes = "employee:read")]
    async fn org_chart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee at the top of the chart.")] root_id: ID,
        #[graphql(desc = "Levels of reports below the root, 1 to 10; 3 when omitted.")]
        depth: Option<i32>,
    ) -> Result<Option<OrgChartNode>> {
        let depth = depth.unwrap_or(3);
        if !(1..=MAX_CHART_DEPTH).contains(&depth) {
            return Err(ApiError::bad_input(
                "depth",
                format!("the depth is 1 to {MAX_CHART_DEPTH}"),
            )
            .into());
        }
        let tenant = ctx.tenant()?;
        let edges = ctx.use_cases::<UseCases>()?.org_edges(&tenant).await?;
        if !edges.iter().any(|e| e.employee_id == root_id.0) {
            return Ok(None);
        }
        let index = reports_index(
            edges
                .iter()
                .map(|e| (e.employee_id.as_str(), e.manager_id.as_deref())),
        );
        // A cycle in the data must not make the tree infinite: keep each person once, under
        // the first manager met walking down from the root.
        let mut seen: HashSet<String> = HashSet::from([root_id.0.clone()]);
        let mut tree: HashMap<String, Vec<String>> = HashMap::new();
        let mut frontier = vec![root_id.0.clone()];
        for _ in 0..depth {
            let mut next = Vec::new();
            for manager in &frontier {
                let kept: Vec<String> = index
                    .get(manager)
                    .into_iter()
                    .flatten()
                    .filter(|r| seen.insert((*r).clone()))
                    .cloned()
                    .collect();
                next.extend(kept.iter().cloned());
                tree.insert(manager.clone(), kept);
            }
            frontier = next;
        }
        // Counts of the last level come from the full index.
        for leaf in frontier {
            if let Some(reports) = index.get(&leaf) {
                tree.insert(leaf, reports.clone());
            }
        }
        Ok(Some(OrgChartNode {
            employee_id: root_id.0,
            levels_below: depth,
            reports_of: Arc::new(tree),
        }))
    }
}

#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// Sets (or clears, with `managerId: null`) an employee's manager; publishes
    /// `employee.manager_changed`. A manager who (indirectly) reports to the employee, or the
    /// employee themself, is refused: BAD_USER_INPUT with `extensions.reason` MANAGER_CYCLE.
    /// `hr:admin` only: a manager sees their reports' records and attendance.
    #[graphql(
        requires_scopes = "hr:admin",
        deprecation = "use `changeEmployeeManager` (one input)"
    )]
    async fn set_employee_manager(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee.")] employee_id: ID,
        #[graphql(desc = "The new manager; null clears it.")] manager_id: Option<ID>,
    ) -> Result<Option<Employee>> {
        set_manager(ctx, employee_id, manager_id).await
    }

    /// Sets (or clears, with `managerId: null`) an employee's manager; publishes
    /// `employee.manager_changed`. A manager who (indirectly) reports to the employee, or the
    /// employee themself, is refused: BAD_USER_INPUT with `extensions.reason` MANAGER_CYCLE.
    /// `hr:admin` only: a manager sees their reports' records and attendance.
    #[graphql(requires_scopes = "hr:admin")]
    async fn change_employee_manager(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee and their new manager.")] input: ChangeEmployeeManagerInput,
    ) -> Result<Option<Employee>> {
        set_manager(ctx, input.employee_id, input.manager_id).await
    }
}

/// An employee's new manager (`changeEmployeeManager`).
#[derive(InputObject)]
pub struct ChangeEmployeeManagerInput {
    /// The employee.
    pub employee_id: ID,
    /// The new manager, an employee of the tenant; null clears it.
    pub manager_id: Option<ID>,
}

/// `setEmployeeManager` and `changeEmployeeManager`.
async fn set_manager(
    ctx: &Context<'_>,
    employee_id: ID,
    manager_id: Option<ID>,
) -> Result<Option<Employee>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    let model = ctx
        .use_cases::<UseCases>()?
        .set_manager(
            &tenant,
            &actor,
            &employee_id,
            manager_id.as_ref().map(|id| id.0.as_str()),
        )
        .await?;
    Ok(Some(Employee(model)))
}
