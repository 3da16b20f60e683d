//! The asset register's rules: an asset's lifecycle (in stock -> assigned -> in repair ->
//! retired / disposed), at most one holder at a time with an append-only check-in/out
//! history, acceptance by the person it was checked out to, license seats and consumables by
//! quantity (domains.md O4).

use chrono::{DateTime, Utc};
use erp_kit::ApiError;
use serde::{Deserialize, Serialize};

use super::{short_text, OpsRule};

/// An asset tag: 1 to 64 letters, digits, `-`, `_`, `.` or `/` (what a label printer and a
/// scanner agree on), kept as written; tags are unique per tenant whatever their case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetTag(String);

impl AssetTag {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let tag = short_text(field, raw, 64, "asset tag")?;
        if !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err(ApiError::bad_input(
                field,
                "an asset tag has only letters, digits, `-`, `_`, `.` and `/`",
            ));
        }
        Ok(Self(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key tags are unique by (upper case).
    pub fn unique_key(&self) -> String {
        self.0.to_ascii_uppercase()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Where an asset is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetStatus {
    /// Ready to be checked out.
    InStock,
    /// Checked out to a person, a location or another asset.
    Assigned,
    /// Away for repair.
    InRepair,
    /// Out of service, still owned.
    Retired,
    /// Sold or scrapped: the end.
    Disposed,
}

impl AssetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::InStock => "IN_STOCK",
            AssetStatus::Assigned => "ASSIGNED",
            AssetStatus::InRepair => "IN_REPAIR",
            AssetStatus::Retired => "RETIRED",
            AssetStatus::Disposed => "DISPOSED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            AssetStatus::InStock,
            AssetStatus::Assigned,
            AssetStatus::InRepair,
            AssetStatus::Retired,
            AssetStatus::Disposed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// Who or what holds a checked-out asset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Holder {
    /// A person (their user id); they accept the asset.
    Person(String),
    /// A location (its id).
    Location(String),
    /// Another asset (a component in a machine, a monitor on a dock).
    Asset(String),
}

impl Holder {
    pub fn id(&self) -> &str {
        match self {
            Holder::Person(id) | Holder::Location(id) | Holder::Asset(id) => id,
        }
    }

    /// The person who has to accept the asset, when the holder is one.
    pub fn person(&self) -> Option<&str> {
        match self {
            Holder::Person(id) => Some(id),
            _ => None,
        }
    }
}

/// One entry of an asset's history. Entries are only ever appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Movement {
    CheckedOut { holder: Holder },
    Accepted { by: String },
    CheckedIn { from: Holder },
    SentToRepair,
    BackFromRepair,
    Retired,
    Disposed,
    Audited,
}

/// The part of an asset its lifecycle rules read and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Custody {
    pub status: AssetStatus,
    pub holder: Option<Holder>,
    /// When the person holding it accepted it (none until then, and for non-person holders).
    pub accepted_at: Option<DateTime<Utc>>,
}

impl Custody {
    /// A newly registered asset: in stock, nobody holds it.
    pub fn in_stock() -> Self {
        Self {
            status: AssetStatus::InStock,
            holder: None,
            accepted_at: None,
        }
    }

    /// Checks the asset `asset` out to `holder`: only from stock, never to itself.
    pub fn check_out(&mut self, asset: &str, holder: Holder) -> Result<Movement, ApiError> {
        if holder == Holder::Asset(asset.to_owned()) {
            return Err(ApiError::bad_input(
                "holder",
                "an asset cannot be checked out to itself",
            ));
        }
        match self.status {
            AssetStatus::InStock => {}
            AssetStatus::Assigned => return Err(OpsRule::AssetAlreadyAssigned.into()),
            AssetStatus::InRepair => {
                return Err(OpsRule::AssetState("the asset is in repair").into())
            }
            AssetStatus::Retired | AssetStatus::Disposed => {
                return Err(OpsRule::AssetState("the asset is out of service").into())
            }
        }
        self.status = AssetStatus::Assigned;
        self.holder = Some(holder.clone());
        self.accepted_at = None;
        Ok(Movement::CheckedOut { holder })
    }

    /// The person it was checked out to accepts it (once).
    pub fn accept(&mut self, by: &str, at: DateTime<Utc>) -> Result<Movement, ApiError> {
        let person = match (self.status, &self.holder) {
            (AssetStatus::Assigned, Some(holder)) => holder.person(),
            _ => return Err(OpsRule::AssetState("the asset is not checked out").into()),
        };
        if person != Some(by) {
            return Err(OpsRule::NotTheHolder.into());
        }
        if self.accepted_at.is_some() {
            return Err(OpsRule::AssetState("the asset is already accepted").into());
        }
        self.accepted_at = Some(at);
        Ok(Movement::Accepted { by: by.to_owned() })
    }

    /// Checks the asset back in to stock.
    pub fn check_in(&mut self) -> Result<Movement, ApiError> {
        let (AssetStatus::Assigned, Some(from)) = (self.status, self.holder.take()) else {
            return Err(OpsRule::AssetState("the asset is not checked out").into());
        };
        self.status = AssetStatus::InStock;
        self.accepted_at = None;
        Ok(Movement::CheckedIn { from })
    }

    /// Sends it to repair: from stock only (an assigned asset is checked in first, so the
    /// history shows who had it).
    pub fn send_to_repair(&mut self) -> Result<Movement, ApiError> {
        self.expect_status(
            AssetStatus::InStock,
            "only an asset in stock goes to repair",
        )?;
        self.status = AssetStatus::InRepair;
        Ok(Movement::SentToRepair)
    }

    pub fn back_from_repair(&mut self) -> Result<Movement, ApiError> {
        self.expect_status(AssetStatus::InRepair, "the asset is not in repair")?;
        self.status = AssetStatus::InStock;
        Ok(Movement::BackFromRepair)
    }

    /// Takes it out of service: from stock or repair.
    pub fn retire(&mut self) -> Result<Movement, ApiError> {
        match self.status {
            AssetStatus::InStock | AssetStatus::InRepair => {
                self.status = AssetStatus::Retired;
                Ok(Movement::Retired)
            }
            AssetStatus::Assigned => {
                Err(OpsRule::AssetState("check the asset in before retiring it").into())
            }
            AssetStatus::Retired | AssetStatus::Disposed => {
                Err(OpsRule::AssetState("the asset is already out of service").into())
            }
        }
    }

    /// Disposes of it (sold, scrapped): from anything but assigned; once.
    pub fn dispose(&mut self) -> Result<Movement, ApiError> {
        match self.status {
            AssetStatus::InStock | AssetStatus::InRepair | AssetStatus::Retired => {
                self.status = AssetStatus::Disposed;
                Ok(Movement::Disposed)
            }
            AssetStatus::Assigned => {
                Err(OpsRule::AssetState("check the asset in before disposing of it").into())
            }
            AssetStatus::Disposed => Err(OpsRule::AssetDisposed.into()),
        }
    }

    /// An audit confirms the asset is where the register says; a disposed asset is not
    /// audited.
    pub fn audit(&self) -> Result<Movement, ApiError> {
        if self.status == AssetStatus::Disposed {
            return Err(OpsRule::AssetDisposed.into());
        }
        Ok(Movement::Audited)
    }

    fn expect_status(&self, status: AssetStatus, message: &'static str) -> Result<(), ApiError> {
        if self.status == status {
            Ok(())
        } else {
            Err(OpsRule::AssetState(message).into())
        }
    }
}

/// A software license's seats: assigned never exceeds owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub owned: u32,
    pub assigned: u32,
}

impl Seats {
    pub fn new(owned: u32) -> Self {
        Self { owned, assigned: 0 }
    }

    /// Assigns `count` seats (several at once: server CALs on one asset).
    pub fn assign(&mut self, count: u32) -> Result<(), ApiError> {
        if count == 0 {
            return Err(ApiError::bad_input("seats", "assign at least one seat"));
        }
        match self.assigned.checked_add(count) {
            Some(total) if total <= self.owned => {
                self.assigned = total;
                Ok(())
            }
            _ => Err(OpsRule::SeatsExhausted {
                owned: self.owned,
                assigned: self.assigned,
                requested: count,
            }
            .into()),
        }
    }

    pub fn release(&mut self, count: u32) -> Result<(), ApiError> {
        if count == 0 || count > self.assigned {
            return Err(ApiError::bad_input(
                "seats",
                format!("between 1 and {} seat(s) can be released", self.assigned),
            ));
        }
        self.assigned -= count;
        Ok(())
    }

    /// Changes the number of seats owned: never below the seats assigned.
    pub fn set_owned(&mut self, owned: u32) -> Result<(), ApiError> {
        if owned < self.assigned {
            return Err(OpsRule::SeatsExhausted {
                owned,
                assigned: self.assigned,
                requested: 0,
            }
            .into());
        }
        self.owned = owned;
        Ok(())
    }

    pub fn free(&self) -> u32 {
        self.owned - self.assigned
    }
}

/// A consumable's stock, by quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub on_hand: u32,
}

impl Stock {
    /// Hands out `quantity` units.
    pub fn issue(&mut self, quantity: u32) -> Result<(), ApiError> {
        if quantity == 0 {
            return Err(ApiError::bad_input("quantity", "issue at least one unit"));
        }
        if quantity > self.on_hand {
            return Err(OpsRule::ConsumableShort {
                on_hand: self.on_hand,
                requested: quantity,
            }
            .into());
        }
        self.on_hand -= quantity;
        Ok(())
    }

    pub fn restock(&mut self, quantity: u32) -> Result<(), ApiError> {
        self.on_hand = self
            .on_hand
            .checked_add(quantity)
            .filter(|_| quantity > 0)
            .ok_or_else(|| ApiError::bad_input("quantity", "restock 1 to 4,294,967,295 units"))?;
        Ok(())
    }
}

/// The most items one bulk check-out, check-in or audit takes.
pub const MAX_BULK_ITEMS: usize = 1_000;

/// Checks a bulk request's size: 1 to [`MAX_BULK_ITEMS`] distinct items.
pub fn bulk_items<T: std::fmt::Display + Eq + std::hash::Hash>(
    field: &str,
    ids: &[T],
) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_BULK_ITEMS {
        return Err(ApiError::bad_input(
            field,
            format!("a bulk operation takes 1 to {MAX_BULK_ITEMS} items"),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    if let Some(duplicate) = ids.iter().find(|id| !seen.insert(*id)) {
        return Err(ApiError::bad_input(
            field,
            format!("the item {duplicate} is listed twice"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;
    use uuid::Uuid;

    fn id(n: u128) -> String {
        Uuid::from_u128(n).to_string()
    }

    #[test]
    fn tags_parse() {
        assert_eq!(
            AssetTag::parse("tag", " LT-0001 ").unwrap().as_str(),
            "LT-0001"
        );
        assert_eq!(AssetTag::parse("tag", "lt-1").unwrap().unique_key(), "LT-1");
        assert!(AssetTag::parse("tag", "LT 1").is_err());
        assert!(AssetTag::parse("tag", "").is_err());
        assert!(AssetTag::parse("tag", &"A".repeat(65)).is_err());
    }

    #[test]
    fn at_most_one_holder_at_a_time() {
        let asset = id(1);
        let alice = Holder::Person(id(2));
        let mut custody = Custody::in_stock();
        assert_eq!(
            custody.check_out(&asset, alice.clone()).unwrap(),
            Movement::CheckedOut {
                holder: alice.clone()
            }
        );
        let again = custody
            .check_out(&asset, Holder::Location(id(3)))
            .unwrap_err();
        assert_eq!(again.reason(), Some(reasons::ASSET_ALREADY_ASSIGNED));
        assert_eq!(custody.holder, Some(alice.clone()));
        assert_eq!(
            custody.check_in().unwrap(),
            Movement::CheckedIn { from: alice }
        );
        assert_eq!(custody.holder, None);
        assert_eq!(custody.status, AssetStatus::InStock);
        assert_eq!(
            custody.check_in().unwrap_err().reason(),
            Some(reasons::ASSET_STATE)
        );
        assert!(custody
            .check_out(&asset, Holder::Asset(asset.clone()))
            .is_err());
    }

    #[test]
    fn only_the_person_holding_it_accepts() {
        let now = Utc::now();
        let mut custody = Custody::in_stock();
        custody.check_out(&id(1), Holder::Person(id(2))).unwrap();
        assert_eq!(
            custody.accept(&id(9), now).unwrap_err().reason(),
            Some(reasons::NOT_THE_HOLDER)
        );
        custody.accept(&id(2), now).unwrap();
        assert_eq!(custody.accepted_at, Some(now));
        assert!(custody.accept(&id(2), now).is_err(), "accepted once");
        let mut at_location = Custody::in_stock();
        at_location
            .check_out(&id(1), Holder::Location(id(3)))
            .unwrap();
        assert_eq!(
            at_location.accept(&id(3), now).unwrap_err().reason(),
            Some(reasons::NOT_THE_HOLDER)
        );
    }

    #[test]
    fn lifecycle_transitions() {
        let mut custody = Custody::in_stock();
        custody.send_to_repair().unwrap();
        assert_eq!(
            custody
                .check_out(&id(1), Holder::Person(id(2)))
                .unwrap_err()
                .reason(),
            Some(reasons::ASSET_STATE)
        );
        custody.back_from_repair().unwrap();
        custody.check_out(&id(1), Holder::Person(id(2))).unwrap();
        assert!(custody.retire().is_err(), "assigned: check in first");
        assert!(custody.dispose().is_err());
        custody.check_in().unwrap();
        custody.retire().unwrap();
        assert!(custody.retire().is_err());
        custody.dispose().unwrap();
        assert_eq!(
            custody.dispose().unwrap_err().reason(),
            Some(reasons::ASSET_DISPOSED)
        );
        assert!(custody.audit().is_err());
        assert_eq!(custody.status, AssetStatus::Disposed);
    }

    #[test]
    fn seats_assigned_never_exceed_seats_owned() {
        let mut seats = Seats::new(10);
        seats.assign(8).unwrap();
        let err = seats.assign(3).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::SEATS_EXHAUSTED));
        assert_eq!(seats.assigned, 8);
        seats.assign(2).unwrap();
        assert_eq!(seats.free(), 0);
        assert!(seats.set_owned(9).is_err());
        seats.release(5).unwrap();
        seats.set_owned(5).unwrap();
        assert!(seats.release(6).is_err());
        assert!(seats.assign(u32::MAX).is_err());
    }

    #[test]
    fn consumables_by_quantity() {
        let mut stock = Stock { on_hand: 5 };
        stock.issue(3).unwrap();
        assert_eq!(
            stock.issue(3).unwrap_err().reason(),
            Some(reasons::CONSUMABLE_SHORT)
        );
        assert!(stock.issue(0).is_err());
        stock.restock(10).unwrap();
        assert_eq!(stock.on_hand, 12);
        assert!(stock.restock(u32::MAX).is_err());
    }

    #[test]
    fn bulk_sizes() {
        assert!(bulk_items::<String>("ids", &[]).is_err());
        let ids: Vec<String> = (0..1_000).map(id).collect();
        bulk_items("ids", &ids).unwrap();
        let too_many: Vec<String> = (0..1_001).map(id).collect();
        assert!(bulk_items("ids", &too_many).is_err());
        assert!(bulk_items("ids", &[id(1), id(1)]).is_err());
    }
}
