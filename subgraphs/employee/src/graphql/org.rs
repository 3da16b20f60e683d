//! The org chart in GraphQL (direct reports, chain of command, `orgChart`, manager changes)
//! and the row-level rules every Employee answers through `viewerCan`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext, TenantId};

use super::loaders::{ChildPageKey, DirectReportsLoader, EmployeeLoader, PageKey, TenantKey};
use super::{store, Employee};
use crate::domain::org::{
    all_reports, permissions, reports_index, Permissions, Standing, MAX_CHAIN, MAX_CHART_DEPTH,
};
use crate::store::entities::employee;
use crate::store::EmployeeStore;

/// Loads the employee record linked to each user id (one query per batch and tenant).
pub struct UserEmployeeLoader(pub EmployeeStore);

impl Loader<TenantKey> for UserEmployeeLoader {
    type Value = employee::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TenantKey],
    ) -> Result<HashMap<TenantKey, Self::Value>, Self::Error> {
        let mut by_tenant: HashMap<TenantId, Vec<String>> = HashMap::new();
        for key in keys {
            by_tenant
                .entry(key.tenant.clone())
                .or_default()
                .push(key.id.clone());
        }
        let mut found = HashMap::new();
        for (tenant, users) in by_tenant {
            for model in self.0.employees_of_users(&tenant, &users).await? {
                if let Some(user) = model.user_id.clone() {
                    found.insert(TenantKey::new(&tenant, &user), model);
                }
            }
        }
        Ok(found)
    }
}

/// The caller as the row-level rules see them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant: TenantId,
    pub user_id: String,
    /// The caller's own employee record, when one is linked to their user.
    pub employee: Option<employee::Model>,
    /// `hr:read` or `hr:admin`: every record of the tenant.
    pub hr_read: bool,
    pub hr_admin: bool,
    pub employee_write: bool,
    /// Holds the deprecated `employee:read:private` (see [`Standing::reads_private`]).
    pub reads_private: bool,
}

impl Viewer {
    pub fn employee_id(&self) -> Option<&str> {
        self.employee.as_ref().map(|e| e.id.as_str())
    }
}

pub async fn viewer(ctx: &Context<'_>) -> Result<Viewer> {
    let tenant = ctx.tenant()?;
    let identity = ctx.identity();
    let claims = ctx.claims()?;
    let employee = ctx
        .data_unchecked::<DataLoader<UserEmployeeLoader>>()
        .load_one(TenantKey::new(&tenant, &claims.sub))
        .await?;
    let hr_admin = identity.has_scope("hr:admin");
    Ok(Viewer {
        tenant,
        user_id: claims.sub.clone(),
        employee,
        hr_read: hr_admin || identity.has_scope("hr:read"),
        hr_admin,
        employee_write: identity.has_scope("employee:write"),
        reads_private: identity.has_scope(DEPRECATED_PRIVATE_SCOPE),
    })
}

/// Opened every record's private fields before the row rules did (see [`Standing::reads_private`]).
const DEPRECATED_PRIVATE_SCOPE: &str = "employee:read:private";

/// The managers above `of`, nearest first (one batched load per level, cycle-safe).
pub async fn chain_models(
    ctx: &Context<'_>,
    tenant: &TenantId,
    of: &employee::Model,
) -> Result<Vec<employee::Model>> {
    let loader = ctx.data_unchecked::<DataLoader<EmployeeLoader>>();
    let mut seen: HashSet<String> = HashSet::from([of.id.clone()]);
    let mut chain = Vec::new();
    let mut next = of.manager_id.clone();
    while let Some(id) = next {
        if chain.len() >= MAX_CHAIN || !seen.insert(id.clone()) {
            break;
        }
        let Some(manager) = loader.load_one(TenantKey::new(tenant, &id)).await? else {
            break;
        };
        next = manager.manager_id.clone();
        chain.push(manager);
    }
    Ok(chain)
}

/// How the viewer stands to `target`.
pub async fn standing(
    ctx: &Context<'_>,
    viewer: &Viewer,
    target: &employee::Model,
) -> Result<Standing> {
    let is_self = viewer.employee_id() == Some(target.id.as_str());
    let is_manager = match viewer.employee_id() {
        Some(me) if !is_self => chain_models(ctx, &viewer.tenant, target)
            .await?
            .iter()
            .any(|above| above.id == me),
        _ => false,
    };
    Ok(Standing {
        is_self,
        is_manager,
        hr_read: viewer.hr_read,
        hr_admin: viewer.hr_admin,
        employee_write: viewer.employee_write,
        reads_private: viewer.reads_private,
    })
}

/// The viewer's permissions on `target`.
pub async fn permissions_on(ctx: &Context<'_>, target: &employee::Model) -> Result<Permissions> {
    let viewer = viewer(ctx).await?;
    Ok(permissions(standing(ctx, &viewer, target).await?))
}

/// A private field of `target` (`field` names it) for the viewer, or UNAUTHORIZED_FIELD_OR_TYPE
/// (the field is null with its path, the rest of the record arrives) unless the row rules let
/// the viewer see the full record: themself, a manager above them, HR.
pub async fn private_field<T>(
    ctx: &Context<'_>,
    target: &employee::Model,
    field: &str,
    value: T,
) -> Result<T> {
    if permissions_on(ctx, target).await?.view_full_record {
        Ok(value)
    } else {
        Err(ApiError::UnauthorizedField(format!(
            "`Employee.{field}`: only the employee, their managers and HR see it"
        ))
        .into())
    }
}

/// FORBIDDEN unless the viewer may see `target`'s attendance (self, a manager above, HR).
pub async fn require_attendance_view(ctx: &Context<'_>, target: &employee::Model) -> Result<()> {
    if permissions_on(ctx, target).await?.view_attendance {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the employee, their managers and HR see this attendance".into(),
        )
        .into())
    }
}

/// The employees whose attendance the viewer sees: `None` for the whole tenant (HR), else the
/// viewer's direct and indirect reports.
pub async fn visible_employee_ids(
    store: &EmployeeStore,
    viewer: &Viewer,
) -> Result<Option<Vec<String>>> {
    if viewer.hr_read {
        return Ok(None);
    }
    let Some(me) = viewer.employee_id() else {
        return Err(ApiError::Forbidden(
            "no employee record is linked to this user, and HR scopes are missing".into(),
        )
        .into());
    };
    let edges = store.org_edges(&viewer.tenant).await?;
    let index = reports_index(
        edges
            .iter()
            .map(|e| (e.employee_id.as_str(), e.manager_id.as_deref())),
    );
    Ok(Some(all_reports(me, &index)))
}

/// What the viewer may do with an employee record (so clients show only what works).
#[derive(SimpleObject)]
pub struct EmployeeViewerCan {
    /// Sees the full record (own record, a report's, or HR).
    pub view_full_record: bool,
    /// Sees the employee's attendance and corrections.
    pub view_attendance: bool,
    /// May edit the profile (self, HR, `employee:write`).
    pub edit_profile: bool,
    /// May change the employee's manager (HR, `employee:write`).
    pub set_manager: bool,
    /// May approve or reject the employee's attendance corrections (a manager above them or
    /// HR; never the employee themself).
    pub approve_attendance_correction: bool,
    /// May request a correction of the employee's attendance (the employee themself).
    pub request_attendance_correction: bool,
    /// May read salary, bank account and tax id (`hr:admin`).
    pub view_compensation: bool,
}

impl From<Permissions> for EmployeeViewerCan {
    fn from(p: Permissions) -> Self {
        Self {
            view_full_record: p.view_full_record,
            view_attendance: p.view_attendance,
            edit_profile: p.edit_profile,
            set_manager: p.set_manager,
            approve_attendance_correction: p.approve_attendance_correction,
            request_attendance_correction: p.request_attendance_correction,
            view_compensation: p.view_compensation,
        }
    }
}

/// `Employee.viewerCan`.
pub async fn viewer_can(ctx: &Context<'_>, target: &employee::Model) -> Result<EmployeeViewerCan> {
    Ok(permissions_on(ctx, target).await?.into())
}

/// `Employee.directReports`.
pub async fn direct_reports(
    ctx: &Context<'_>,
    of: &employee::Model,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> Result<Connection<String, Employee, EmptyFields, EmptyFields>> {
    let page = PageRequest::parse(after, before, first, last)?;
    let rows = ctx
        .data_unchecked::<DataLoader<DirectReportsLoader>>()
        .load_one(ChildPageKey {
            tenant: ctx.tenant()?,
            parent_id: of.id.clone(),
            page: PageKey::from(&page),
            filter: (),
        })
        .await?
        .unwrap_or_default();
    let rows = rows.into_iter().map(Employee).collect();
    Ok(connection_from_rows(&page, rows, |e| e.0.id.clone()))
}

/// `Employee.chainOfCommand`.
pub async fn chain_of_command(ctx: &Context<'_>, of: &employee::Model) -> Result<Vec<Employee>> {
    let tenant = ctx.tenant()?;
    Ok(chain_models(ctx, &tenant, of)
        .await?
        .into_iter()
        .map(Employee)
        .collect())
}

/// One person in an org chart with the reports below them, down to the asked depth.
pub struct OrgChartNode {
    employee_id: String,
    levels_below: i32,
    reports_of: Arc<HashMap<String, Vec<String>>>,
}

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
        root_id: ID,
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
        let edges = store(ctx)?.org_edges(&tenant).await?;
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
    #[graphql(requires_scopes = "employee:write", requires_scopes = "hr:admin")]
    async fn set_employee_manager(
        &self,
        ctx: &Context<'_>,
        employee_id: ID,
        manager_id: Option<ID>,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let model = store(ctx)?
            .set_manager(
                &tenant,
                &actor,
                &employee_id,
                manager_id.as_ref().map(|id| id.0.as_str()),
            )
            .await?;
        Ok(Some(Employee(model)))
    }
}
