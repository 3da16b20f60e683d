//! Software licenses with seats (assigned never above owned, several seats to one holder at
//! once) and consumables counted by quantity. Every change is a conditional write at the
//! revision read, so concurrent assignments never oversubscribe a license.

use chrono::Utc;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::asset::{Holder, Seats, Stock};
use crate::domain::collided;
use crate::store::{one, ConsumableDoc, Kind, LicenseDoc, SeatAssignmentDoc, Write};

impl Ops {
    pub async fn license(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<LicenseDoc>> {
        one(&*self.store, tenant, Kind::Licenses, id).await
    }

    pub async fn consumable(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> ApiResult<Option<ConsumableDoc>> {
        one(&*self.store, tenant, Kind::Consumables, id).await
    }

    /// Registers a license with `seats` seats owned.
    pub async fn create_license(
        &self,
        tenant: &TenantId,
        name: String,
        seats: u32,
    ) -> ApiResult<LicenseDoc> {
        let license = LicenseDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            name,
            seats_owned: seats,
            seats_assigned: 0,
            assignments: vec![],
            created_at: Utc::now(),
        };
        let writes = [Write::insert(Kind::Licenses, &license)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(license),
            _ => Err(collided()),
        }
    }

    /// Assigns `count` seats to `holder` (added to what it holds): never more than owned.
    pub async fn assign_seats(
        &self,
        tenant: &TenantId,
        id: &str,
        holder: Holder,
        count: u32,
    ) -> ApiResult<LicenseDoc> {
        self.change_license(tenant, id, |license| {
            let mut seats = Seats {
                owned: license.seats_owned,
                assigned: license.seats_assigned,
            };
            seats.assign(count)?;
            license.seats_assigned = seats.assigned;
            match license.assignments.iter_mut().find(|a| a.holder == holder) {
                Some(assignment) => assignment.seats += count,
                None => license.assignments.push(SeatAssignmentDoc {
                    holder: holder.clone(),
                    seats: count,
                    assigned_at: Utc::now(),
                }),
            }
            Ok(())
        })
        .await
    }

    /// Releases every seat `holder` holds.
    pub async fn release_seats(
        &self,
        tenant: &TenantId,
        id: &str,
        holder: Holder,
    ) -> ApiResult<LicenseDoc> {
        self.change_license(tenant, id, |license| {
            let position = license
                .assignments
                .iter()
                .position(|a| a.holder == holder)
                .ok_or_else(|| {
                    ApiError::bad_input("holder", "the holder has no seat of this license")
                })?;
            let released = license.assignments.remove(position);
            let mut seats = Seats {
                owned: license.seats_owned,
                assigned: license.seats_assigned,
            };
            seats.release(released.seats)?;
            license.seats_assigned = seats.assigned;
            Ok(())
        })
        .await
    }

    async fn change_license(
        &self,
        tenant: &TenantId,
        id: &str,
        change: impl Fn(&mut LicenseDoc) -> ApiResult<()>,
    ) -> ApiResult<LicenseDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let license = self
                .license(tenant, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("license".into()))?;
            let mut next = LicenseDoc {
                rev: license.rev + 1,
                ..license.clone()
            };
            change(&mut next)?;
            let writes = [Write::replace(Kind::Licenses, &next, license.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Registers a consumable with `on_hand` units.
    pub async fn create_consumable(
        &self,
        tenant: &TenantId,
        name: String,
        on_hand: u32,
    ) -> ApiResult<ConsumableDoc> {
        let consumable = ConsumableDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            name,
            on_hand,
            created_at: Utc::now(),
        };
        let writes = [Write::insert(Kind::Consumables, &consumable)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(consumable),
            _ => Err(collided()),
        }
    }

    /// Hands out (`issue`) or adds (`restock`) `quantity` units: never more than on hand.
    pub async fn move_stock(
        &self,
        tenant: &TenantId,
        id: &str,
        quantity: u32,
        issue: bool,
    ) -> ApiResult<ConsumableDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let consumable = self
                .consumable(tenant, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("consumable".into()))?;
            let mut stock = Stock {
                on_hand: consumable.on_hand,
            };
            if issue {
                stock.issue(quantity)?;
            } else {
                stock.restock(quantity)?;
            }
            let next = ConsumableDoc {
                rev: consumable.rev + 1,
                on_hand: stock.on_hand,
                ..consumable.clone()
            };
            let writes = [Write::replace(Kind::Consumables, &next, consumable.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }
}
