//! Software licenses with seats and consumables by quantity, in GraphQL.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::scalars::DateTime;
use erp_kit::{ApiError, RequestContext};

use super::assets::{holder_object, holder_of, AssetHolder, AssetHolderInput};
use super::context::ops;
use crate::domain::short_text;
use crate::store::{ConsumableDoc, LicenseDoc};

/// Seats of a license held by one person, location or asset.
#[derive(SimpleObject)]
pub struct SeatAssignment {
    /// Who or what holds them.
    pub holder: AssetHolder,
    /// How many seats.
    pub seats: i32,
    /// When the first of them was assigned.
    pub assigned_at: DateTime,
}

/// A software license: its seats assigned never exceed its seats owned.
pub struct SoftwareLicense(pub LicenseDoc);

/// A software license: its seats assigned never exceed its seats owned.
#[Object]
impl SoftwareLicense {
    /// The license's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What is licensed.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Seats bought.
    async fn seats_owned(&self) -> i32 {
        self.0.seats_owned as i32
    }
    /// Seats assigned.
    async fn seats_assigned(&self) -> i32 {
        self.0.seats_assigned as i32
    }
    /// Seats still free.
    async fn seats_free(&self) -> i32 {
        self.0.seats_owned.saturating_sub(self.0.seats_assigned) as i32
    }
    /// Who holds seats (a bounded part of the license: one entry per holder).
    async fn assignments(&self) -> Vec<SeatAssignment> {
        self.0
            .assignments
            .iter()
            .map(|assignment| SeatAssignment {
                holder: holder_object(&assignment.holder),
                seats: assignment.seats as i32,
                assigned_at: DateTime::from(assignment.assigned_at),
            })
            .collect()
    }
}

/// A consumable counted by quantity.
pub struct Consumable(pub ConsumableDoc);

/// A consumable counted by quantity.
#[Object]
impl Consumable {
    /// The consumable's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What it is.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Units on hand.
    async fn on_hand(&self) -> i32 {
        self.0.on_hand as i32
    }
}

/// A new license (`createSoftwareLicense`).
#[derive(InputObject)]
pub struct CreateSoftwareLicenseInput {
    /// What is licensed, 1 to 200 characters.
    pub name: String,
    /// Seats bought, 0 or more.
    pub seats_owned: i32,
}

/// Seats to assign (`assignLicenseSeats`).
#[derive(InputObject)]
pub struct AssignLicenseSeatsInput {
    /// The license.
    pub license_id: ID,
    /// Who or what receives them.
    pub holder: AssetHolderInput,
    /// How many seats (default 1; many to one asset for server CALs).
    pub seats: Option<i32>,
}

/// Seats to release (`releaseLicenseSeats`).
#[derive(InputObject)]
pub struct ReleaseLicenseSeatsInput {
    /// The license.
    pub license_id: ID,
    /// The holder whose seats are released (all of them).
    pub holder: AssetHolderInput,
}

/// A new consumable (`createConsumable`).
#[derive(InputObject)]
pub struct CreateConsumableInput {
    /// What it is, 1 to 200 characters.
    pub name: String,
    /// Units on hand, 0 or more.
    pub on_hand: i32,
}

/// Units of a consumable to hand out or restock.
#[derive(InputObject)]
pub struct ConsumableQuantityInput {
    /// The consumable.
    pub consumable_id: ID,
    /// How many units, 1 or more.
    pub quantity: i32,
}

fn count(field: &str, value: i32) -> Result<u32, ApiError> {
    u32::try_from(value).map_err(|_| ApiError::bad_input(field, "a count is 0 or more"))
}

/// Licenses and consumables.
#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// One software license of the caller's tenant.
    #[graphql(requires_scopes = "assets:read")]
    async fn software_license(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The license's id.")] id: ID,
    ) -> Result<Option<SoftwareLicense>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.license(&tenant, &id).await?.map(SoftwareLicense))
    }

    /// One consumable of the caller's tenant.
    #[graphql(requires_scopes = "assets:read")]
    async fn consumable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consumable's id.")] id: ID,
    ) -> Result<Option<Consumable>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.consumable(&tenant, &id).await?.map(Consumable))
    }
}

/// Changes to licenses and consumables.
#[derive(Default)]
pub struct InventoryMutation;

#[Object]
impl InventoryMutation {
    /// Registers a software license with its seats.
    #[graphql(requires_scopes = "assets:write")]
    async fn create_software_license(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The name and seats owned.")] input: CreateSoftwareLicenseInput,
    ) -> Result<SoftwareLicense> {
        let tenant = ctx.tenant()?;
        let name = short_text("name", &input.name, 200, "name")?;
        let seats = count("seatsOwned", input.seats_owned)?;
        Ok(SoftwareLicense(
            ops(ctx)?.create_license(&tenant, name, seats).await?,
        ))
    }

    /// Assigns seats of a license to a person, location or asset: never more than owned.
    #[graphql(requires_scopes = "assets:write")]
    async fn assign_license_seats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The license, the holder and the seats.")] input: AssignLicenseSeatsInput,
    ) -> Result<SoftwareLicense> {
        let tenant = ctx.tenant()?;
        let holder = holder_of(input.holder)?;
        let seats = count("seats", input.seats.unwrap_or(1))?;
        Ok(SoftwareLicense(
            ops(ctx)?
                .assign_seats(&tenant, &input.license_id, holder, seats)
                .await?,
        ))
    }

    /// Releases every seat a holder holds of a license.
    #[graphql(requires_scopes = "assets:write")]
    async fn release_license_seats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The license and the holder.")] input: ReleaseLicenseSeatsInput,
    ) -> Result<SoftwareLicense> {
        let tenant = ctx.tenant()?;
        let holder = holder_of(input.holder)?;
        Ok(SoftwareLicense(
            ops(ctx)?
                .release_seats(&tenant, &input.license_id, holder)
                .await?,
        ))
    }

    /// Registers a consumable with its units on hand.
    #[graphql(requires_scopes = "assets:write")]
    async fn create_consumable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The name and units on hand.")] input: CreateConsumableInput,
    ) -> Result<Consumable> {
        let tenant = ctx.tenant()?;
        let name = short_text("name", &input.name, 200, "name")?;
        let on_hand = count("onHand", input.on_hand)?;
        Ok(Consumable(
            ops(ctx)?.create_consumable(&tenant, name, on_hand).await?,
        ))
    }

    /// Hands out units of a consumable: never more than on hand.
    #[graphql(requires_scopes = "assets:write")]
    async fn issue_consumable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consumable and the units.")] input: ConsumableQuantityInput,
    ) -> Result<Consumable> {
        let tenant = ctx.tenant()?;
        let quantity = count("quantity", input.quantity)?;
        Ok(Consumable(
            ops(ctx)?
                .move_stock(&tenant, &input.consumable_id, quantity, true)
                .await?,
        ))
    }

    /// Adds units of a consumable.
    #[graphql(requires_scopes = "assets:write")]
    async fn restock_consumable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consumable and the units.")] input: ConsumableQuantityInput,
    ) -> Result<Consumable> {
        let tenant = ctx.tenant()?;
        let quantity = count("quantity", input.quantity)?;
        Ok(Consumable(
            ops(ctx)?
                .move_stock(&tenant, &input.consumable_id, quantity, false)
                .await?,
        ))
    }
}
