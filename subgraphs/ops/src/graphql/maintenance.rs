//! Maintenance of assets in GraphQL: corrective requests, preventive plans and the run that
//! turns due plans into requests.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use super::assets::Asset;
use super::context::ops;
use crate::domain::maintenance::{MaintenanceKind, MaintenanceStatus, Plan};
use crate::domain::short_text;
use crate::store::MaintenanceDoc;

/// Why maintenance is done.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum MaintenanceType {
    /// Something broke.
    Corrective,
    /// Due by the asset's plan.
    Preventive,
}

/// Where a maintenance request is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum MaintenanceRequestStatus {
    /// Reported, not started.
    New,
    /// Being worked on.
    InProgress,
    /// Done: the asset works.
    Repaired,
    /// Done: the asset is beyond repair.
    Scrapped,
}

/// A maintenance request on an asset.
pub struct MaintenanceRequest(pub MaintenanceDoc);

/// A maintenance request on an asset.
#[Object]
impl MaintenanceRequest {
    /// The request's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The asset.
    async fn asset_id(&self) -> ID {
        ID(self.0.asset_id.clone())
    }
    /// Corrective or preventive.
    #[graphql(name = "type")]
    async fn maintenance_type(&self) -> MaintenanceType {
        match self.0.kind {
            MaintenanceKind::Corrective => MaintenanceType::Corrective,
            MaintenanceKind::Preventive => MaintenanceType::Preventive,
        }
    }
    /// Where it is.
    async fn status(&self) -> MaintenanceRequestStatus {
        match self.0.status {
            MaintenanceStatus::New => MaintenanceRequestStatus::New,
            MaintenanceStatus::InProgress => MaintenanceRequestStatus::InProgress,
            MaintenanceStatus::Repaired => MaintenanceRequestStatus::Repaired,
            MaintenanceStatus::Scrapped => MaintenanceRequestStatus::Scrapped,
        }
    }
    /// What is wrong or due.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The plan's due date (preventive requests).
    async fn due_on(&self) -> Option<Date> {
        self.0.due_on.map(Date::from)
    }
    /// Who reported it (or ran the plan).
    async fn requested_by_id(&self) -> ID {
        ID(self.0.requested_by.clone())
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
    /// When it was finished.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime::from)
    }
}

/// A corrective request (`requestMaintenance`).
#[derive(InputObject)]
pub struct RequestMaintenanceInput {
    /// The asset.
    pub asset_id: ID,
    /// What is wrong, 1 to 2,000 characters.
    pub description: String,
}

/// A request an operation applies to.
#[derive(InputObject)]
pub struct MaintenanceRequestIdInput {
    /// The request.
    pub request_id: ID,
}

/// The end of a request (`completeMaintenance`).
#[derive(InputObject)]
pub struct CompleteMaintenanceInput {
    /// The request.
    pub request_id: ID,
    /// Whether the asset was repaired (false: scrapped).
    pub repaired: bool,
}

/// A preventive plan (`setMaintenancePlan`).
#[derive(InputObject)]
pub struct SetMaintenancePlanInput {
    /// The asset.
    pub asset_id: ID,
    /// Every how many days, 1 to 3650 (none: the plan is removed).
    pub every_days: Option<i32>,
    /// The first due date.
    pub first_due: Option<Date>,
}

/// A run of the preventive plans (`runPreventiveMaintenance`).
#[derive(InputObject)]
pub struct RunPreventiveMaintenanceInput {
    /// Creates the requests due on or before this day.
    pub through: Date,
}

/// What a preventive run created.
#[derive(SimpleObject)]
pub struct PreventiveRunPayload {
    /// Requests created by this run (0 on a re-run).
    pub created_requests: i32,
}

/// Maintenance.
#[derive(Default)]
pub struct MaintenanceQuery;

#[Object]
impl MaintenanceQuery {
    /// An asset's maintenance requests, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "assets:read")]
    #[allow(clippy::too_many_arguments)]
    async fn maintenance_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset.")] asset_id: ID,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, MaintenanceRequest, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?
            .maintenance_of_asset(&tenant, &asset_id, &page)
            .await?;
        let rows = rows.into_iter().map(MaintenanceRequest).collect();
        Ok(connection_from_rows(&page, rows, |r| r.0.id.clone()))
    }
}

/// Changes to maintenance.
#[derive(Default)]
pub struct MaintenanceMutation;

#[Object]
impl MaintenanceMutation {
    /// Reports a corrective maintenance request on an asset.
    #[graphql(requires_scopes = "assets:write")]
    async fn request_maintenance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset and what is wrong.")] input: RequestMaintenanceInput,
    ) -> Result<MaintenanceRequest> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let description = short_text("description", &input.description, 2_000, "description")?;
        Ok(MaintenanceRequest(
            ops(ctx)?
                .request_maintenance(&tenant, claims, &input.asset_id, description)
                .await?,
        ))
    }

    /// Starts work on a new request.
    #[graphql(requires_scopes = "assets:write")]
    async fn start_maintenance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request.")] input: MaintenanceRequestIdInput,
    ) -> Result<MaintenanceRequest> {
        let tenant = ctx.tenant()?;
        Ok(MaintenanceRequest(
            ops(ctx)?
                .advance_maintenance(&tenant, &input.request_id, None)
                .await?,
        ))
    }

    /// Finishes a request: repaired or scrapped.
    #[graphql(requires_scopes = "assets:write")]
    async fn complete_maintenance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request and its outcome.")] input: CompleteMaintenanceInput,
    ) -> Result<MaintenanceRequest> {
        let tenant = ctx.tenant()?;
        Ok(MaintenanceRequest(
            ops(ctx)?
                .advance_maintenance(&tenant, &input.request_id, Some(input.repaired))
                .await?,
        ))
    }

    /// Sets or removes an asset's preventive plan.
    #[graphql(requires_scopes = "assets:write")]
    async fn set_maintenance_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The asset and its plan.")] input: SetMaintenancePlanInput,
    ) -> Result<Asset> {
        let tenant = ctx.tenant()?;
        let plan = match (input.every_days, input.first_due) {
            (None, _) => None,
            (Some(days), Some(first)) => Some(Plan::new(
                u32::try_from(days).map_err(|_| {
                    ApiError::bad_input("everyDays", "a plan repeats every 1 to 3650 days")
                })?,
                first.into(),
            )?),
            (Some(_), None) => {
                return Err(ApiError::bad_input("firstDue", "a plan has a first due date").into())
            }
        };
        Ok(Asset(
            ops(ctx)?
                .set_maintenance_plan(&tenant, &input.asset_id, plan)
                .await?,
        ))
    }

    /// Creates the preventive requests due by a day and moves each plan on; a re-run creates
    /// nothing.
    #[graphql(requires_scopes = "assets:write")]
    async fn run_preventive_maintenance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The last due day to create requests for.")]
        input: RunPreventiveMaintenanceInput,
    ) -> Result<PreventiveRunPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let created = ops(ctx)?
            .run_preventive_maintenance(&tenant, claims, input.through.into())
            .await?;
        Ok(PreventiveRunPayload {
            created_requests: i32::try_from(created).unwrap_or(i32::MAX),
        })
    }
}
