//! The asset register: registering assets with their depreciation schedule, check-out /
//! acceptance / check-in / repair / retirement / audit (one or up to 1,000 at once, all or
//! nothing), the depreciation run, revaluation and disposal.

use chrono::{NaiveDate, Utc};

use erp_kit::auth::Claims;
use erp_kit::money::{Currency, Money};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::asset::{bulk_items, AssetTag, Custody, Holder, Movement};
use crate::domain::depreciation::{self, Change, Frequency, Method, Terms};
use crate::domain::{collided, OpsRule};
use crate::events;
use crate::store::assets::{self as asset_store, AssetFilter};
use crate::store::{
    AssetDoc, AssetKind, DepreciationDoc, DisposalDoc, KeyDoc, Kind, MovementDoc, Write,
};
use erp_kit::events::EventEnvelope;

/// How an asset depreciates, as given.
pub struct DepreciationTerms {
    pub method: Method,
    pub frequency: Frequency,
    pub periods: u32,
    pub salvage: Money,
    pub prorata: bool,
}

/// A new asset, parsed (the tag and texts by the caller, the terms checked here).
pub struct NewAsset {
    pub kind: AssetKind,
    pub tag: AssetTag,
    pub name: String,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub category: Option<String>,
    pub location_id: Option<String>,
    pub cost: Money,
    pub purchase_date: Option<NaiveDate>,
    pub in_use_date: NaiveDate,
    pub warranty_until: Option<NaiveDate>,
    pub end_of_life: Option<NaiveDate>,
    pub depreciation: Option<DepreciationTerms>,
}

/// A change of custody or state applied to one or many assets.
#[derive(Debug, Clone)]
pub enum AssetAction {
    CheckOut(Holder),
    Accept,
    CheckIn,
    SendToRepair,
    BackFromRepair,
    Retire,
    Audit,
}

fn currency_of(asset: &AssetDoc) -> ApiResult<Currency> {
    Currency::parse(&asset.currency).map_err(|_| ApiError::internal("a stored unknown currency"))
}

fn money(minor: i64, currency: Currency) -> ApiResult<Money> {
    Money::from_minor(minor, currency)
        .map_err(|_| ApiError::internal("a stored amount out of range"))
}

/// The terms an asset's schedule was computed from.
pub fn terms_of(asset: &AssetDoc) -> ApiResult<Option<Terms>> {
    let Some(dep) = &asset.depreciation else {
        return Ok(None);
    };
    let currency = currency_of(asset)?;
    Terms::new(
        money(asset.cost, currency)?,
        money(dep.salvage, currency)?,
        dep.method,
        dep.frequency,
        dep.periods,
        asset.in_use_date,
        dep.prorata,
    )
    .map(Some)
}

/// A new asset's document, its writes (the tag's key, the asset) and its
/// `asset.registered` event: what registering it commits.
fn registration(
    tenant: &TenantId,
    caller: &Claims,
    new: NewAsset,
) -> ApiResult<(AssetDoc, [Write; 2], EventEnvelope)> {
    let id = erp_kit::db::new_id();
    let depreciation = match &new.depreciation {
        None => None,
        Some(terms) => {
            let terms_checked = Terms::new(
                new.cost,
                terms.salvage,
                terms.method,
                terms.frequency,
                terms.periods,
                new.in_use_date,
                terms.prorata,
            )?;
            Some(DepreciationDoc {
                method: terms.method,
                frequency: terms.frequency,
                periods: terms.periods,
                salvage: terms.salvage.minor(),
                prorata: terms.prorata,
                lines: depreciation::schedule(&terms_checked),
            })
        }
    };
    if new.cost.minor() < 0 {
        return Err(ApiError::bad_input("cost", "the cost must not be negative"));
    }
    let custody = Custody::in_stock();
    let asset = AssetDoc {
        id: id.clone(),
        tenant_id: tenant.as_str().to_owned(),
        rev: 0,
        kind: new.kind,
        tag: new.tag.as_str().to_owned(),
        name: new.name,
        serial: new.serial,
        model: new.model,
        category: new.category,
        location_id: new.location_id,
        status: custody.status,
        holder: None,
        accepted_at: None,
        currency: new.cost.currency().code().to_owned(),
        cost: new.cost.minor(),
        purchase_date: new.purchase_date,
        in_use_date: new.in_use_date,
        warranty_until: new.warranty_until,
        end_of_life: new.end_of_life,
        depreciation,
        disposal: None,
        last_audited_at: None,
        maintenance_plan: None,
        created_at: Utc::now(),
        return_due: None,
        return_pending: false,
    };
    let key = KeyDoc::asset_tag(tenant.as_str(), &new.tag.unique_key(), &id);
    let event = EventEnvelope::by_actor(
        tenant,
        events::ASSET_REGISTERED,
        &id,
        &caller.sub,
        events::AssetRegistered {
            asset_id: &id,
            tag: &asset.tag,
            currency: &asset.currency,
            cost_minor: asset.cost,
        },
    )?;
    let writes = [
        Write::insert(Kind::Keys, &key)?,
        Write::insert(Kind::Assets, &asset)?,
    ];
    Ok((asset, writes, event))
}

impl Ops {
    pub async fn asset(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<AssetDoc>> {
        asset_store::asset(&*self.store, tenant, id).await
    }

    pub async fn assets(
        &self,
        tenant: &TenantId,
        filter: &AssetFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<AssetDoc>> {
        asset_store::list_assets(&*self.store, tenant, filter, page).await
    }

    pub async fn asset_history(&self, tenant: &TenantId, id: &str) -> ApiResult<Vec<MovementDoc>> {
        asset_store::movements(&*self.store, tenant, id).await
    }

    /// A page of an asset's history.
    pub async fn asset_history_page(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<MovementDoc>> {
        asset_store::movements_page(&*self.store, tenant, id, page).await
    }

    /// Registers an asset in stock, with its depreciation schedule when it has terms; its tag
    /// is unique in the tenant. Publishes `asset.registered`.
    pub async fn register_asset(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: NewAsset,
    ) -> ApiResult<AssetDoc> {
        let tag = new.tag.as_str().to_owned();
        let (asset, writes, event) = registration(tenant, caller, new)?;
        match outcome(self.store.commit(tenant, &writes, &[event]).await?) {
            Outcome::Done => {
                self.wake();
                Ok(asset)
            }
            Outcome::Duplicate | Outcome::Retry => Err(OpsRule::AssetTagTaken(tag).into()),
        }
    }

    /// Registers 1 to 1,000 assets in stock in one commit, all or nothing (a seed's or an
    /// import's bulk path: one round trip instead of one per asset). Every asset is checked as
    /// [`Ops::register_asset`] checks it; a tag listed twice is refused before anything is
    /// written, and a tag already taken refuses the whole batch. Publishes one
    /// `asset.registered` per asset.
    pub async fn register_assets(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        new: Vec<NewAsset>,
    ) -> ApiResult<Vec<AssetDoc>> {
        let tags: Vec<String> = new.iter().map(|asset| asset.tag.unique_key()).collect();
        bulk_items("assets", &tags)?;
        let mut assets = Vec::with_capacity(new.len());
        let mut writes = Vec::with_capacity(2 * new.len());
        let mut events = Vec::with_capacity(new.len());
        for asset in new {
            let (doc, asset_writes, event) = registration(tenant, caller, asset)?;
            assets.push(doc);
            writes.extend(asset_writes);
            events.push(event);
        }
        match outcome(self.store.commit(tenant, &writes, &events).await?) {
            Outcome::Done => {
                self.wake();
                Ok(assets)
            }
            Outcome::Duplicate | Outcome::Retry => Err(ApiError::rule(
                crate::domain::reasons::ASSET_TAG_TAKEN,
                "a tag of this batch is already taken: nothing was registered",
            )),
        }
    }

    /// Applies `action` to the assets `ids` (1 to 1,000, each once), all or nothing: one
    /// refusal refuses the whole call, naming the asset. Each change appends to the asset's
    /// history and publishes `asset.moved`.
    pub async fn act_on_assets(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        ids: &[String],
        action: AssetAction,
    ) -> ApiResult<Vec<AssetDoc>> {
        bulk_items("assetIds", ids)?;
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let assets = asset_store::assets_by_ids(&*self.store, tenant, ids).await?;
            if assets.len() != ids.len() {
                let missing = ids
                    .iter()
                    .find(|id| !assets.iter().any(|asset| &asset.id == *id))
                    .cloned()
                    .unwrap_or_default();
                return Err(ApiError::NotFound(format!("asset {missing}")));
            }
            let now = Utc::now();
            let mut writes = Vec::with_capacity(assets.len() * 2);
            let mut changed = Vec::with_capacity(assets.len());
            let mut events = Vec::with_capacity(assets.len());
            for asset in assets {
                let mut custody = Custody {
                    status: asset.status,
                    holder: asset.holder.clone(),
                    accepted_at: asset.accepted_at,
                };
                let movement = match &action {
                    AssetAction::CheckOut(holder) => custody.check_out(&asset.id, holder.clone()),
                    AssetAction::Accept => custody.accept(&caller.sub, now),
                    AssetAction::CheckIn => custody.check_in(),
                    AssetAction::SendToRepair => custody.send_to_repair(),
                    AssetAction::BackFromRepair => custody.back_from_repair(),
                    AssetAction::Retire => custody.retire(),
                    AssetAction::Audit => custody.audit(),
                }
                // A refusal names the asset of the bulk call, so the caller knows which one.
                .map_err(|err| err.about(format_args!("asset {} ({})", asset.tag, asset.id)))?;
                // A return due from a leaver is done once the asset leaves their hands.
                let returned = custody.holder != asset.holder;
                let next = AssetDoc {
                    rev: asset.rev + 1,
                    return_due: asset.return_due.clone().filter(|_| !returned),
                    return_pending: asset.return_pending && !returned,
                    status: custody.status,
                    holder: custody.holder,
                    accepted_at: custody.accepted_at,
                    last_audited_at: if matches!(movement, Movement::Audited) {
                        Some(now)
                    } else {
                        asset.last_audited_at
                    },
                    ..asset.clone()
                };
                let entry = MovementDoc {
                    id: erp_kit::db::new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    asset_id: asset.id.clone(),
                    movement,
                    by: caller.sub.clone(),
                    at: now,
                };
                events.push(EventEnvelope::by_actor(
                    tenant,
                    events::ASSET_MOVED,
                    &asset.id,
                    &caller.sub,
                    events::AssetMoved {
                        asset_id: &asset.id,
                        movement: &entry.movement,
                    },
                )?);
                writes.push(Write::replace(Kind::Assets, &next, asset.rev)?);
                writes.push(Write::insert(Kind::AssetMovements, &entry)?);
                changed.push(next);
            }
            match outcome(self.store.commit(tenant, &writes, &events).await?) {
                Outcome::Done => {
                    self.wake();
                    return Ok(changed);
                }
                Outcome::Retry | Outcome::Duplicate => continue,
            }
        }
        Err(collided())
    }

    /// Posts every planned depreciation line whose period ended by `through`, asset by asset,
    /// one `asset.depreciation.posted` event (a journal entry for finance) per line. A re-run
    /// posts nothing: posted lines are skipped. Returns the lines posted.
    pub async fn run_depreciation(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        through: NaiveDate,
    ) -> ApiResult<u64> {
        let mut posted = 0u64;
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
                posted += self.post_asset(tenant, caller, asset, through).await?;
            }
            if !more {
                return Ok(posted);
            }
        }
    }

    /// Posts one asset's due lines (read again on a collision).
    async fn post_asset(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        mut asset: AssetDoc,
        through: NaiveDate,
    ) -> ApiResult<u64> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            if asset.disposal.is_some() {
                return Ok(0);
            }
            let Some(mut dep) = asset.depreciation.clone() else {
                return Ok(0);
            };
            let due: Vec<u32> = depreciation::due(&dep.lines, through)
                .map(|line| line.index)
                .collect();
            if due.is_empty() {
                return Ok(0);
            }
            let mut events = Vec::with_capacity(due.len());
            for index in &due {
                depreciation::post(&mut dep.lines, *index)?;
                let Some(line) = dep.lines.iter().find(|line| line.index == *index) else {
                    continue;
                };
                events.push(EventEnvelope::by_actor(
                    tenant,
                    events::ASSET_DEPRECIATION_POSTED,
                    &asset.id,
                    &caller.sub,
                    events::DepreciationPosted {
                        asset_id: &asset.id,
                        period_index: line.index,
                        period_start: line.period_start,
                        period_end: line.period_end,
                        currency: &asset.currency,
                        amount_minor: line.amount,
                        book_value_minor: line.book_value,
                    },
                )?);
            }
            let next = AssetDoc {
                rev: asset.rev + 1,
                depreciation: Some(dep),
                ..asset.clone()
            };
            let writes = [Write::replace(Kind::Assets, &next, asset.rev)?];
            match outcome(self.store.commit(tenant, &writes, &events).await?) {
                Outcome::Done => {
                    self.wake();
                    return Ok(due.len() as u64);
                }
                Outcome::Retry | Outcome::Duplicate => {
                    asset = self
                        .asset(tenant, &asset.id)
                        .await?
                        .ok_or_else(|| ApiError::NotFound("asset".into()))?;
                }
            }
        }
        Err(collided())
    }

    /// Revalues (or impairs) an asset, or changes its salvage value or useful life: the posted
    /// lines stay, the planned ones are recomputed. Publishes `asset.revalued`.
    pub async fn revalue_asset(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        change: Change,
    ) -> ApiResult<AssetDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let asset = self
                .asset(tenant, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("asset".into()))?;
            if asset.disposal.is_some() {
                return Err(OpsRule::AssetDisposed.into());
            }
            let (Some(terms), Some(dep)) = (terms_of(&asset)?, asset.depreciation.as_ref()) else {
                return Err(OpsRule::AssetState("the asset has no depreciation schedule").into());
            };
            let before = depreciation::posted_book_value(asset.cost, &dep.lines);
            let (next_terms, lines) = depreciation::recompute_future(&terms, &dep.lines, change)?;
            let next = AssetDoc {
                rev: asset.rev + 1,
                cost: next_terms.cost(),
                depreciation: Some(DepreciationDoc {
                    salvage: next_terms.salvage(),
                    periods: next_terms.periods(),
                    lines,
                    ..dep.clone()
                }),
                ..asset.clone()
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::ASSET_REVALUED,
                &asset.id,
                &caller.sub,
                events::AssetRevalued {
                    asset_id: &asset.id,
                    currency: &asset.currency,
                    book_value_before_minor: before,
                    book_value_after_minor: change.book_value.unwrap_or(before),
                },
            )?;
            let writes = [Write::replace(Kind::Assets, &next, asset.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Disposes of an asset for `proceeds`: the schedule stops (planned lines dropped), the
    /// gain or loss is proceeds - book value. Publishes `asset.disposed`.
    pub async fn dispose_asset(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        proceeds: Money,
    ) -> ApiResult<AssetDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let asset = self
                .asset(tenant, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("asset".into()))?;
            let mut custody = Custody {
                status: asset.status,
                holder: asset.holder.clone(),
                accepted_at: asset.accepted_at,
            };
            let movement = custody.dispose()?;
            let currency = currency_of(&asset)?;
            if proceeds.currency() != currency {
                return Err(ApiError::bad_input(
                    "proceeds",
                    "the proceeds must be in the currency of the cost",
                ));
            }
            let (depreciation, disposal) = match (terms_of(&asset)?, asset.depreciation.clone()) {
                (Some(terms), Some(mut dep)) => {
                    let disposal = depreciation::dispose(&terms, &mut dep.lines, proceeds)?;
                    (Some(dep), disposal)
                }
                _ => {
                    if proceeds.minor() < 0 {
                        return Err(ApiError::bad_input(
                            "proceeds",
                            "the proceeds must not be negative",
                        ));
                    }
                    (
                        None,
                        depreciation::Disposal {
                            book_value: asset.cost,
                            gain_or_loss: proceeds.minor() - asset.cost,
                        },
                    )
                }
            };
            let now = Utc::now();
            let next = AssetDoc {
                rev: asset.rev + 1,
                status: custody.status,
                depreciation,
                disposal: Some(DisposalDoc {
                    disposed_at: now,
                    proceeds: proceeds.minor(),
                    book_value: disposal.book_value,
                    gain_or_loss: disposal.gain_or_loss,
                }),
                ..asset.clone()
            };
            let entry = MovementDoc {
                id: erp_kit::db::new_id(),
                tenant_id: tenant.as_str().to_owned(),
                asset_id: asset.id.clone(),
                movement,
                by: caller.sub.clone(),
                at: now,
            };
            let event = EventEnvelope::by_actor(
                tenant,
                events::ASSET_DISPOSED,
                &asset.id,
                &caller.sub,
                events::AssetDisposed {
                    asset_id: &asset.id,
                    currency: &asset.currency,
                    cost_minor: asset.cost,
                    disposed_on: now.date_naive(),
                    proceeds_minor: proceeds.minor(),
                    book_value_minor: disposal.book_value,
                    gain_or_loss_minor: disposal.gain_or_loss,
                },
            )?;
            let writes = [
                Write::replace(Kind::Assets, &next, asset.rev)?,
                Write::insert(Kind::AssetMovements, &entry)?,
            ];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[event]).await?) {
                self.wake();
                return Ok(next);
            }
        }
        Err(collided())
    }
}
