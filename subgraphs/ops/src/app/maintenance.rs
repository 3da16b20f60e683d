//! Maintenance requests on assets: corrective ones as reported, preventive ones generated from
//! each asset's plan (idempotent per asset and due date: a re-run creates nothing).

use chrono::{NaiveDate, Utc};
use serde_json::json;

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::maintenance::{MaintenanceKind, MaintenanceStatus, Plan};
use crate::store::assets::AssetFilter;
use crate::store::{decode_all, one, AssetDoc, KeyDoc, Kind, MaintenanceDoc, Write};

/// The most preventive requests one asset gets from one run.
const MAX_DUE_PER_RUN: usize = 100;

impl Ops {
    pub async fn maintenance_request(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<MaintenanceDoc>> {
        one(&*self.store, tenant, Kind::MaintenanceRequests, id).await
    }

    /// A page of an asset's maintenance requests, oldest first.
    pub async fn maintenance_of_asset(
        &self,
        tenant: &TenantId,
        asset_id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<MaintenanceDoc>> {
        decode_all(
            self.store
                .find(
                    tenant,
                    Kind::MaintenanceRequests,
                    &[("asset_id", json!(asset_id))],
                    Some(page),
                )
                .await?,
        )
    }

    fn new_request(
        tenant: &TenantId,
        caller: &Claims,
        asset_id: &str,
        kind: MaintenanceKind,
        description: String,
        due_on: Option<NaiveDate>,
    ) -> MaintenanceDoc {
        MaintenanceDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            asset_id: asset_id.to_owned(),
            kind,
            status: MaintenanceStatus::New,
            description,
            due_on,
            requested_by: caller.sub.clone(),
            created_at: Utc::now(),
            finished_at: None,
        }
    }

    /// Reports a corrective maintenance request on an asset.
    pub async fn request_maintenance(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        asset_id: &str,
        description: String,
    ) -> ApiResult<MaintenanceDoc> {
        self.asset(tenant, asset_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("asset".into()))?;
        let request = Self::new_request(
            tenant,
            caller,
            asset_id,
            MaintenanceKind::Corrective,
            description,
            None,
        );
        let writes = [Write::insert(Kind::MaintenanceRequests, &request)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(request),
            _ => Err(collided()),
        }
    }

    /// Starts (`finish` none) or finishes (repaired or scrapped) a request.
    pub async fn advance_maintenance(
        &self,
        tenant: &TenantId,
        id: &str,
        finish: Option<bool>,
    ) -> ApiResult<MaintenanceDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let request = self
                .maintenance_request(tenant, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("maintenance request".into()))?;
            let status = match finish {
                None => request.status.start()?,
                Some(repaired) => request.status.finish(repaired)?,
            };
            let next = MaintenanceDoc {
                rev: request.rev + 1,
                status,
                finished_at: finish.map(|_| Utc::now()),
                ..request.clone()
            };
            let writes = [Write::replace(
                Kind::MaintenanceRequests,
                &next,
                request.rev,
            )?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Sets (or with none clears) an asset's preventive plan.
    pub async fn set_maintenance_plan(
        &self,
        tenant: &TenantId,
        asset_id: &str,
        plan: Option<Plan>,
    ) -> ApiResult<AssetDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let asset = self
                .asset(tenant, asset_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("asset".into()))?;
            let next = AssetDoc {
                rev: asset.rev + 1,
                maintenance_plan: plan,
                ..asset.clone()
            };
            let writes = [Write::replace(Kind::Assets, &next, asset.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Creates the preventive requests due by `through` for every asset with a plan, and moves
    /// each plan on; one request per (asset, due date) whatever the re-runs. Returns the
    /// requests created.
    pub async fn run_preventive_maintenance(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        through: NaiveDate,
    ) -> ApiResult<u64> {
        let mut created = 0u64;
        let mut after: Option<String> = None;
        loop {
            let page = PageRequest {
                limit: 100,
                after: after.clone(),
                before: None,
                backward: false,
            };
            let mut assets = self.assets(tenant, &AssetFilter::default(), &page).await?;
            let more = assets.len() as u64 > page.limit;
            assets.truncate(page.limit as usize);
            after = assets.last().map(|asset| asset.id.clone());
            for asset in assets {
                let Some(plan) = asset.maintenance_plan else {
                    continue;
                };
                let (due, next_plan) = plan.due_through(through, MAX_DUE_PER_RUN);
                if due.is_empty() {
                    continue;
                }
                let mut writes = Vec::with_capacity(due.len() * 2 + 1);
                for day in &due {
                    let key = KeyDoc {
                        id: format!("{}:maintenance:{}:{day}", tenant.as_str(), asset.id),
                        tenant_id: tenant.as_str().to_owned(),
                        owner_id: asset.id.clone(),
                    };
                    let request = Self::new_request(
                        tenant,
                        caller,
                        &asset.id,
                        MaintenanceKind::Preventive,
                        format!("Preventive maintenance due {day}"),
                        Some(*day),
                    );
                    writes.push(Write::insert(Kind::Keys, &key)?);
                    writes.push(Write::insert(Kind::MaintenanceRequests, &request)?);
                }
                let next = AssetDoc {
                    rev: asset.rev + 1,
                    maintenance_plan: Some(next_plan),
                    ..asset.clone()
                };
                writes.push(Write::replace(Kind::Assets, &next, asset.rev)?);
                // A concurrent run or change of the asset: the other run created them, or the
                // next run will.
                if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                    created += due.len() as u64;
                }
            }
            if !more {
                return Ok(created);
            }
        }
    }
}
