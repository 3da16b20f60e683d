//! Quotes and proposals: price lists, quote versions and lines, the lifecycle (expiry at the
//! end of the valid-until day in the tenant's time zone; an accepted version immutable; a
//! revision a new version), proposals accepted as a whole against the hash of what was
//! shown, and the tenant's time zone.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

use erp_kit::db::{begin_write, WriteTransaction};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{already_exists, now_ms, visible, Crm, Viewer};
use crate::domain::client::{optional_text, required_text};
use crate::domain::quote::{
    check_accept, check_convert, check_decline, check_editable, check_proposal, check_revise,
    check_send, content_hash, effective_status, price_line, proposal_hash, totals, LineInput,
    PricedLine, ProposalStatus, QuoteRule, QuoteStatus, SectionContent, VersionContent, MAX_LINES,
};
use crate::domain::reasons;
use crate::domain::visibility::Visibility;
use crate::events::{self, AcceptedLine, QuoteAccepted};
use crate::store::audit::{self, AuditEntry};
use crate::store::entities::{
    price_list, price_list_item, proposal, proposal_section, quote, quote_line, quote_version,
    settings,
};
use crate::store::quotes::{self as store, ProposalFilter, QuoteFilter};
use crate::store::{clients, new_id};
use erp_kit::events::EventEnvelope;

/// The time zone of a tenant that set none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// A new price list as entered.
#[derive(Debug, Clone)]
pub struct NewPriceList {
    pub name: String,
    pub currency: String,
    pub items: Vec<NewItem>,
}

/// A price list item as entered.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub code: String,
    pub name: String,
    pub unit_price_minor: i64,
    pub tax_rate_bp: i32,
}

/// A quote line as entered: from a price list item (its name, price and tax unless
/// overridden) or free (description and unit price required).
#[derive(Debug, Clone, Default)]
pub struct NewLine {
    pub item_id: Option<String>,
    pub description: Option<String>,
    pub quantity_milli: i64,
    pub unit_price_minor: Option<i64>,
    pub discount_bp: i32,
    pub tax_rate_bp: Option<i32>,
    pub optional: bool,
    pub selected: bool,
}

/// A new quote as entered.
#[derive(Debug, Clone)]
pub struct NewQuote {
    pub client_id: String,
    pub opportunity_id: Option<String>,
    pub price_list_id: Option<String>,
    pub currency: String,
    pub valid_until: NaiveDate,
    pub terms: Option<String>,
    pub lines: Vec<NewLine>,
}

/// Changes to a draft version.
#[derive(Debug, Clone, Default)]
pub struct DraftChanges {
    pub valid_until: Option<NaiveDate>,
    pub terms: Option<Option<String>>,
    pub lines: Option<Vec<NewLine>>,
}

/// A section of a proposal as entered.
#[derive(Debug, Clone)]
pub struct NewSection {
    pub title: String,
    pub body: String,
    pub quote_id: Option<String>,
}

/// A new proposal as entered.
#[derive(Debug, Clone)]
pub struct NewProposal {
    pub client_id: String,
    pub opportunity_id: Option<String>,
    pub title: String,
    pub sections: Vec<NewSection>,
}

/// A quote with its current version, that version's lines and status as the client sees it.
#[derive(Debug, Clone)]
pub struct QuoteView {
    pub quote: quote::Model,
    pub version: quote_version::Model,
    pub lines: Vec<quote_line::Model>,
    pub status: QuoteStatus,
}

fn stored_status(version: &quote_version::Model) -> QuoteStatus {
    QuoteStatus::from_db(&version.status).unwrap_or(QuoteStatus::Draft)
}

fn line_input(line: &quote_line::Model) -> LineInput {
    LineInput {
        item_id: line.item_id.clone(),
        code: line.code.clone(),
        description: line.description.clone(),
        quantity_milli: line.quantity_milli,
        unit_price_minor: line.unit_price_minor,
        discount_bp: line.discount_bp,
        tax_rate_bp: line.tax_rate_bp,
        optional: line.optional,
        selected: line.selected,
    }
}

fn priced(line: &quote_line::Model) -> PricedLine {
    PricedLine {
        input: line_input(line),
        net_minor: line.net_minor,
        discount_minor: line.discount_minor,
        tax_minor: line.tax_minor,
        total_minor: line.total_minor,
    }
}

fn line_rows(tenant: &TenantId, version_id: &str, lines: &[PricedLine]) -> Vec<quote_line::Model> {
    lines
        .iter()
        .enumerate()
        .map(|(position, line)| quote_line::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            version_id: version_id.to_owned(),
            position: position as i32,
            item_id: line.input.item_id.clone(),
            code: line.input.code.clone(),
            description: line.input.description.clone(),
            quantity_milli: line.input.quantity_milli,
            unit_price_minor: line.input.unit_price_minor,
            discount_bp: line.input.discount_bp,
            tax_rate_bp: line.input.tax_rate_bp,
            optional: line.input.optional,
            selected: line.input.selected,
            net_minor: line.net_minor,
            discount_minor: line.discount_minor,
            tax_minor: line.tax_minor,
            total_minor: line.total_minor,
        })
        .collect()
}

/// The hash of a version with its lines, as a client is shown it.
fn version_hash(
    quote: &quote::Model,
    version: &quote_version::Model,
    lines: &[quote_line::Model],
) -> String {
    let priced: Vec<PricedLine> = lines.iter().map(priced).collect();
    content_hash(&VersionContent {
        quote_id: &quote.id,
        number: &quote.number,
        version: version.version,
        client_id: &quote.client_id,
        currency: &quote.currency,
        valid_until: version.valid_until,
        terms: version.terms.as_deref(),
        lines: &priced,
        totals: totals(&priced),
    })
}

impl Crm {
    /// The tenant's time zone (UTC until set).
    pub async fn time_zone(&self, tenant: &TenantId) -> ApiResult<Tz> {
        let name = store::settings(&self.db, tenant)
            .await?
            .map(|s| s.time_zone)
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
        Ok(name.parse().unwrap_or(Tz::UTC))
    }

    /// The tenant's settings (defaults when it saved none).
    pub async fn settings(&self, tenant: &TenantId) -> ApiResult<settings::Model> {
        Ok(store::settings(&self.db, tenant)
            .await?
            .unwrap_or_else(|| settings::Model {
                tenant_id: tenant.as_str().to_owned(),
                time_zone: DEFAULT_TIME_ZONE.to_owned(),
                updated_at: 0,
            }))
    }

    /// Sets the tenant's time zone (`crm:admin`): an IANA name such as `Europe/Berlin`.
    pub async fn set_time_zone(&self, viewer: &Viewer, zone: &str) -> ApiResult<settings::Model> {
        self.admin_only(viewer, "changing the CRM settings")?;
        let parsed: Tz = zone.trim().parse().map_err(|_| {
            ApiError::bad_input("timeZone", "an IANA time zone such as Europe/Berlin")
        })?;
        let model = settings::Model {
            tenant_id: viewer.tenant.as_str().to_owned(),
            time_zone: parsed.name().to_owned(),
            updated_at: now_ms(),
        };
        let txn = begin_write(&self.db).await?;
        store::save_settings(&txn, model.clone()).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Sets up a price list with its items (`crm:admin`).
    pub async fn create_price_list(
        &self,
        viewer: &Viewer,
        input: NewPriceList,
    ) -> ApiResult<price_list::Model> {
        self.admin_only(viewer, "setting up price lists")?;
        let tenant = &viewer.tenant;
        let now = now_ms();
        let model = price_list::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            name: required_text("name", &input.name, 120)?,
            currency: input.currency,
            created_at: now,
        };
        let mut items = Vec::with_capacity(input.items.len());
        let mut codes = std::collections::HashSet::new();
        for (index, item) in input.items.into_iter().enumerate() {
            let code = required_text(&format!("items[{index}].code"), &item.code, 60)?;
            if !codes.insert(code.clone()) {
                return Err(ApiError::bad_input(
                    format!("items[{index}].code"),
                    format!("two items have the code `{code}`"),
                ));
            }
            if item.unit_price_minor < 0 {
                return Err(ApiError::bad_input(
                    format!("items[{index}].unitPrice"),
                    "a price is 0 or more",
                ));
            }
            if !(0..=10_000).contains(&item.tax_rate_bp) {
                return Err(ApiError::bad_input(
                    format!("items[{index}].taxRatePercent"),
                    "a tax rate is 0 to 100 percent",
                ));
            }
            items.push(price_list_item::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                price_list_id: model.id.clone(),
                code,
                name: required_text(&format!("items[{index}].name"), &item.name, 200)?,
                unit_price_minor: item.unit_price_minor,
                tax_rate_bp: item.tax_rate_bp,
                created_at: now,
            });
        }
        let txn = begin_write(&self.db).await?;
        store::insert_price_list(&txn, model.clone(), items)
            .await
            .map_err(already_exists("an item with this code exists"))?;
        self.commit(txn).await?;
        Ok(model)
    }

    pub async fn price_lists(&self, tenant: &TenantId) -> ApiResult<Vec<price_list::Model>> {
        Ok(store::price_lists(&self.db, tenant).await?)
    }

    pub async fn price_list_items(
        &self,
        tenant: &TenantId,
        price_list_ids: &[String],
    ) -> ApiResult<Vec<price_list_item::Model>> {
        Ok(store::items_of(&self.db, tenant, price_list_ids).await?)
    }

    /// Prices entered lines against the price list (its items' names, prices and taxes unless
    /// overridden; an item of a list in another currency is CURRENCY_MISMATCH).
    async fn price_lines(
        &self,
        tenant: &TenantId,
        currency: &str,
        price_list_id: Option<&str>,
        lines: &[NewLine],
    ) -> ApiResult<Vec<PricedLine>> {
        if lines.len() > MAX_LINES {
            return Err(ApiError::bad_input(
                "lines",
                format!("a quote has at most {MAX_LINES} lines"),
            ));
        }
        let item_ids: Vec<String> = lines.iter().filter_map(|l| l.item_id.clone()).collect();
        let items = store::items_by_ids(&self.db, tenant, &item_ids).await?;
        let lists: HashMap<String, price_list::Model> = store::price_lists(&self.db, tenant)
            .await?
            .into_iter()
            .map(|list| (list.id.clone(), list))
            .collect();
        let mut priced = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            let field = |name: &str| format!("lines[{index}].{name}");
            let item = match &line.item_id {
                Some(id) => {
                    let item = items
                        .get(id)
                        .ok_or_else(|| ApiError::bad_input(field("itemId"), "no such item"))?;
                    if price_list_id.is_some_and(|list| list != item.price_list_id) {
                        return Err(ApiError::bad_input(
                            field("itemId"),
                            "the item is not on the quote's price list",
                        ));
                    }
                    let list_currency = lists
                        .get(&item.price_list_id)
                        .map(|list| list.currency.as_str());
                    if list_currency != Some(currency) {
                        return Err(ApiError::rule(
                            reasons::CURRENCY_MISMATCH,
                            format!(
                                "the item is priced in {}, the quote in {currency}",
                                list_currency.unwrap_or("another currency")
                            ),
                        )
                        .on_field(field("itemId")));
                    }
                    Some(item)
                }
                None => None,
            };
            let description = match (&line.description, item) {
                (Some(text), _) => required_text(&field("description"), text, 500)?,
                (None, Some(item)) => item.name.clone(),
                (None, None) => {
                    return Err(ApiError::bad_input(
                        field("description"),
                        "a line without an item needs a description",
                    ))
                }
            };
            let unit_price_minor = line
                .unit_price_minor
                .or(item.map(|item| item.unit_price_minor))
                .ok_or_else(|| {
                    ApiError::bad_input(
                        field("unitPrice"),
                        "a line without an item needs a unit price",
                    )
                })?;
            let input = LineInput {
                item_id: item.map(|item| item.id.clone()),
                code: item.map(|item| item.code.clone()),
                description,
                quantity_milli: line.quantity_milli,
                unit_price_minor,
                discount_bp: line.discount_bp,
                tax_rate_bp: line
                    .tax_rate_bp
                    .or(item.map(|item| item.tax_rate_bp))
                    .unwrap_or(0),
                optional: line.optional,
                selected: !line.optional || line.selected,
            };
            priced.push(
                price_line(input)
                    .map_err(|(name, message)| ApiError::bad_input(field(name), message))?,
            );
        }
        Ok(priced)
    }

    /// Creates a quote (its version 1, a draft) for a client the viewer sees.
    pub async fn create_quote(&self, viewer: &Viewer, input: NewQuote) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let client = clients::client(&self.db, tenant, &input.client_id).await?;
        if !client
            .as_ref()
            .is_some_and(|c| visibility.sees(c.owner_id.as_deref()) && c.merged_into_id.is_none())
        {
            return Err(ApiError::bad_input("clientId", "no such client"));
        }
        if let Some(opportunity) = &input.opportunity_id {
            let found = crate::store::pipeline::opportunity(&self.db, tenant, opportunity).await?;
            if !found.is_some_and(|o| {
                visibility.sees(Some(&o.owner_id)) && o.client_id == input.client_id
            }) {
                return Err(ApiError::bad_input(
                    "opportunityId",
                    "no such opportunity of this client",
                ));
            }
        }
        if let Some(list) = &input.price_list_id {
            let found = store::price_list(&self.db, tenant, list)
                .await?
                .ok_or_else(|| ApiError::bad_input("priceListId", "no such price list"))?;
            if found.currency != input.currency {
                return Err(ApiError::rule(
                    reasons::CURRENCY_MISMATCH,
                    format!(
                        "the price list is in {}, the quote in {}",
                        found.currency, input.currency
                    ),
                )
                .on_field("priceListId"));
            }
        }
        let lines = self
            .price_lines(
                tenant,
                &input.currency,
                input.price_list_id.as_deref(),
                &input.lines,
            )
            .await?;
        let terms = optional_text("terms", input.terms.as_deref(), 20_000)?;
        let now = now_ms();
        let txn = begin_write(&self.db).await?;
        store::lock_numbering(&txn, tenant).await?;
        let number = format!("Q-{:06}", store::quote_count(&txn, tenant).await? + 1);
        let model = quote::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            number,
            client_id: input.client_id,
            opportunity_id: input.opportunity_id,
            price_list_id: input.price_list_id,
            owner_id: viewer.user_id.clone(),
            currency: input.currency,
            current_version: 1,
            created_at: now,
            updated_at: now,
        };
        store::insert_quote(&txn, model.clone()).await?;
        let sum = totals(&lines);
        let version = quote_version::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            quote_id: model.id.clone(),
            version: 1,
            status: QuoteStatus::Draft.as_str().to_owned(),
            valid_until: input.valid_until,
            terms,
            subtotal_minor: sum.subtotal_minor,
            discount_minor: sum.discount_minor,
            tax_minor: sum.tax_minor,
            total_minor: sum.total_minor,
            content_hash: None,
            sent_at: None,
            decided_at: None,
            decided_by: None,
            decision_note: None,
            created_at: now,
        };
        let rows = line_rows(tenant, &version.id, &lines);
        store::insert_version(&txn, version.clone(), rows.clone()).await?;
        self.commit(txn).await?;
        Ok(QuoteView {
            quote: model,
            version,
            lines: rows,
            status: QuoteStatus::Draft,
        })
    }

    /// The quote locked in `txn` (visible to the viewer) with its current version and lines.
    async fn lock_quote_view(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        visibility: &Visibility,
        zone: Tz,
        quote_id: &str,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let quote = visible(
            visibility,
            store::lock_quote(txn, tenant, quote_id).await?,
            |q| Some(q.owner_id.as_str()),
            "quote",
        )?;
        let version = store::version(txn, tenant, &quote.id, quote.current_version)
            .await?
            .ok_or_else(|| ApiError::internal("a quote's current version is missing"))?;
        let lines = store::lines_of(txn, tenant, std::slice::from_ref(&version.id)).await?;
        let status = effective_status(
            stored_status(&version),
            version.valid_until,
            zone,
            Utc::now(),
        );
        Ok(QuoteView {
            quote,
            version,
            lines,
            status,
        })
    }

    /// Edits the current version while it is a draft (an accepted quote is QUOTE_LOCKED, a
    /// sent one QUOTE_NOT_DRAFT: revise it).
    pub async fn update_draft(
        &self,
        viewer: &Viewer,
        quote_id: &str,
        changes: DraftChanges,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        // The lines are priced before the write (the price list is read outside it).
        let quote = visible(
            &visibility,
            store::quote(&self.db, tenant, quote_id).await?,
            |q| Some(q.owner_id.as_str()),
            "quote",
        )?;
        let lines = match &changes.lines {
            Some(lines) => Some(
                self.price_lines(
                    tenant,
                    &quote.currency,
                    quote.price_list_id.as_deref(),
                    lines,
                )
                .await?,
            ),
            None => None,
        };
        let txn = begin_write(&self.db).await?;
        let mut view = self
            .lock_quote_view(&txn, viewer, &visibility, zone, quote_id)
            .await?;
        check_editable(view.status)?;
        if let Some(valid_until) = changes.valid_until {
            view.version.valid_until = valid_until;
        }
        if let Some(terms) = &changes.terms {
            view.version.terms = optional_text("terms", terms.as_deref(), 20_000)?;
        }
        if let Some(lines) = lines {
            let sum = totals(&lines);
            view.version.subtotal_minor = sum.subtotal_minor;
            view.version.discount_minor = sum.discount_minor;
            view.version.tax_minor = sum.tax_minor;
            view.version.total_minor = sum.total_minor;
            let rows = line_rows(tenant, &view.version.id, &lines);
            store::replace_lines(&txn, tenant, &view.version.id, rows.clone()).await?;
            view.lines = rows;
        }
        view.version = store::update_version(&txn, view.version).await?;
        self.commit(txn).await?;
        Ok(view)
    }

    /// Sends the current draft: its content is frozen and hashed (what an acceptance binds).
    /// Publishes `quote.sent`.
    pub async fn send_quote(&self, viewer: &Viewer, quote_id: &str) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let txn = begin_write(&self.db).await?;
        let view = self
            .send_in(&txn, viewer, &visibility, zone, quote_id)
            .await?;
        self.commit(txn).await?;
        Ok(view)
    }

    async fn send_in(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        visibility: &Visibility,
        zone: Tz,
        quote_id: &str,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let mut view = self
            .lock_quote_view(txn, viewer, visibility, zone, quote_id)
            .await?;
        check_send(view.status)?;
        if view.lines.is_empty() {
            return Err(ApiError::bad_input(
                "quoteId",
                "a quote without lines is not sent",
            ));
        }
        let now = chrono::Utc::now();
        if effective_status(QuoteStatus::Sent, view.version.valid_until, zone, now)
            == QuoteStatus::Expired
        {
            return Err(QuoteRule::Expired.into());
        }
        view.version.content_hash = Some(version_hash(&view.quote, &view.version, &view.lines));
        view.version.status = QuoteStatus::Sent.as_str().to_owned();
        view.version.sent_at = Some(now.timestamp_millis());
        view.version = store::update_version(txn, view.version).await?;
        view.status = QuoteStatus::Sent;
        self.audit_quote(txn, viewer, &view, "sent", None).await?;
        let sent = EventEnvelope::by_actor(
            tenant,
            events::QUOTE_SENT,
            &view.quote.id,
            &viewer.user_id,
            serde_json::json!({
                "quote_id": view.quote.id,
                "version": view.version.version,
                "content_hash": view.version.content_hash,
                "valid_until": view.version.valid_until,
            }),
        )?;
        self.outbox.enqueue(txn, &sent).await?;
        Ok(view)
    }

    async fn audit_quote(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        view: &QuoteView,
        action: &str,
        note: Option<&str>,
    ) -> ApiResult<()> {
        audit::record(
            txn,
            &viewer.tenant,
            AuditEntry {
                entity_kind: "quote",
                entity_id: &view.quote.id,
                action,
                actor: &viewer.user_id,
                at_ms: now_ms(),
                detail: serde_json::json!({
                    "version": view.version.version,
                    "content_hash": view.version.content_hash,
                    "note": note,
                }),
            },
        )
        .await?;
        Ok(())
    }

    /// Records the client's acceptance of version `version` as shown (its hash): refused when
    /// expired (QUOTE_EXPIRED), superseded (QUOTE_SUPERSEDED), already accepted
    /// (QUOTE_LOCKED), not sent, or when the hash is not the version's
    /// (CONTENT_HASH_MISMATCH). Publishes `quote.accepted` with the accepted snapshot.
    pub async fn accept_quote(
        &self,
        viewer: &Viewer,
        quote_id: &str,
        version: i32,
        shown_hash: &str,
        signed_by: Option<&str>,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let signed_by = optional_text("signedBy", signed_by, 200)?;
        let txn = begin_write(&self.db).await?;
        let view = self
            .accept_in(
                &txn,
                viewer,
                &visibility,
                zone,
                quote_id,
                version,
                shown_hash,
                signed_by.as_deref(),
                None,
            )
            .await?;
        self.commit(txn).await?;
        Ok(view)
    }

    #[allow(clippy::too_many_arguments)]
    async fn accept_in(
        &self,
        txn: &WriteTransaction,
        viewer: &Viewer,
        visibility: &Visibility,
        zone: Tz,
        quote_id: &str,
        version: i32,
        shown_hash: &str,
        signed_by: Option<&str>,
        proposal_id: Option<&str>,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let mut view = self
            .lock_quote_view(txn, viewer, visibility, zone, quote_id)
            .await?;
        check_accept(
            view.status,
            version,
            view.quote.current_version,
            shown_hash,
            view.version.content_hash.as_deref(),
        )?;
        let now = chrono::Utc::now();
        let accepted_by = signed_by.unwrap_or(&viewer.user_id).to_owned();
        view.version.status = QuoteStatus::Accepted.as_str().to_owned();
        view.version.decided_at = Some(now.timestamp_millis());
        view.version.decided_by = Some(accepted_by.clone());
        view.version = store::update_version(txn, view.version).await?;
        view.status = QuoteStatus::Accepted;
        self.audit_quote(txn, viewer, &view, "accepted", signed_by)
            .await?;
        let client = clients::client(txn, tenant, &view.quote.client_id)
            .await?
            .ok_or_else(|| ApiError::internal("a quote's client is gone"))?;
        let accepted = EventEnvelope::by_actor(
            tenant,
            events::QUOTE_ACCEPTED,
            &view.quote.id,
            &viewer.user_id,
            QuoteAccepted {
                quote_id: view.quote.id.clone(),
                number: view.quote.number.clone(),
                version: view.version.version,
                content_hash: view.version.content_hash.clone().unwrap_or_default(),
                client_id: client.id,
                client_name: client.name,
                opportunity_id: view.quote.opportunity_id.clone(),
                proposal_id: proposal_id.map(str::to_owned),
                currency: view.quote.currency.clone(),
                valid_until: view.version.valid_until,
                terms: view.version.terms.clone(),
                lines: view
                    .lines
                    .iter()
                    .map(|line| AcceptedLine {
                        position: line.position,
                        code: line.code.clone(),
                        description: line.description.clone(),
                        quantity_milli: line.quantity_milli,
                        unit_price_minor: line.unit_price_minor,
                        discount_bp: line.discount_bp,
                        tax_rate_bp: line.tax_rate_bp,
                        optional: line.optional,
                        selected: line.selected,
                        net_minor: line.net_minor,
                        discount_minor: line.discount_minor,
                        tax_minor: line.tax_minor,
                        total_minor: line.total_minor,
                    })
                    .collect(),
                subtotal_minor: view.version.subtotal_minor,
                discount_minor: view.version.discount_minor,
                tax_minor: view.version.tax_minor,
                total_minor: view.version.total_minor,
                accepted_at: now,
                accepted_by,
            },
        )?;
        self.outbox.enqueue(txn, &accepted).await?;
        Ok(view)
    }

    /// Records the client's refusal of the current (sent) version. Publishes `quote.declined`.
    pub async fn decline_quote(
        &self,
        viewer: &Viewer,
        quote_id: &str,
        reason: Option<&str>,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let reason = optional_text("reason", reason, 500)?;
        let txn = begin_write(&self.db).await?;
        let mut view = self
            .lock_quote_view(&txn, viewer, &visibility, zone, quote_id)
            .await?;
        check_decline(view.status)?;
        view.version.status = QuoteStatus::Declined.as_str().to_owned();
        view.version.decided_at = Some(now_ms());
        view.version.decided_by = Some(viewer.user_id.clone());
        view.version.decision_note = reason.clone();
        view.version = store::update_version(&txn, view.version).await?;
        view.status = QuoteStatus::Declined;
        self.audit_quote(&txn, viewer, &view, "declined", reason.as_deref())
            .await?;
        let declined = EventEnvelope::by_actor(
            tenant,
            events::QUOTE_DECLINED,
            &view.quote.id,
            &viewer.user_id,
            serde_json::json!({
                "quote_id": view.quote.id,
                "version": view.version.version,
                "reason": reason,
            }),
        )?;
        self.outbox.enqueue(&txn, &declined).await?;
        self.commit(txn).await?;
        Ok(view)
    }

    /// Revises a sent, declined or expired quote: a new draft version (a copy of the current
    /// one's lines, with a new valid-until day when given); the old version is superseded and
    /// can no longer be accepted. An accepted quote is final (QUOTE_LOCKED).
    pub async fn revise_quote(
        &self,
        viewer: &Viewer,
        quote_id: &str,
        valid_until: Option<NaiveDate>,
    ) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let txn = begin_write(&self.db).await?;
        let mut view = self
            .lock_quote_view(&txn, viewer, &visibility, zone, quote_id)
            .await?;
        check_revise(view.status)?;
        let now = now_ms();
        let mut old = view.version.clone();
        old.status = QuoteStatus::Superseded.as_str().to_owned();
        store::update_version(&txn, old).await?;
        let next = view.quote.current_version + 1;
        let version = quote_version::Model {
            id: new_id(),
            version: next,
            status: QuoteStatus::Draft.as_str().to_owned(),
            valid_until: valid_until.unwrap_or(view.version.valid_until),
            content_hash: None,
            sent_at: None,
            decided_at: None,
            decided_by: None,
            decision_note: None,
            created_at: now,
            ..view.version.clone()
        };
        let lines: Vec<PricedLine> = view.lines.iter().map(priced).collect();
        let rows = line_rows(tenant, &version.id, &lines);
        store::insert_version(&txn, version.clone(), rows.clone()).await?;
        store::set_current_version(&txn, tenant, &view.quote.id, next, now).await?;
        view.quote.current_version = next;
        view.quote.updated_at = now;
        view.version = version;
        view.lines = rows;
        view.status = QuoteStatus::Draft;
        self.audit_quote(&txn, viewer, &view, "revised", None)
            .await?;
        self.commit(txn).await?;
        Ok(view)
    }

    /// Marks an accepted quote converted (into an order or invoice). Publishes
    /// `quote.converted`.
    pub async fn convert_quote(&self, viewer: &Viewer, quote_id: &str) -> ApiResult<QuoteView> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let txn = begin_write(&self.db).await?;
        let mut view = self
            .lock_quote_view(&txn, viewer, &visibility, zone, quote_id)
            .await?;
        check_convert(view.status)?;
        view.version.status = QuoteStatus::Converted.as_str().to_owned();
        view.version = store::update_version(&txn, view.version).await?;
        view.status = QuoteStatus::Converted;
        self.audit_quote(&txn, viewer, &view, "converted", None)
            .await?;
        let converted = EventEnvelope::by_actor(
            tenant,
            events::QUOTE_CONVERTED,
            &view.quote.id,
            &viewer.user_id,
            serde_json::json!({ "quote_id": view.quote.id, "version": view.version.version }),
        )?;
        self.outbox.enqueue(&txn, &converted).await?;
        self.commit(txn).await?;
        Ok(view)
    }

    /// Quotes with their current versions and lines, for the viewer (the row rules applied).
    pub async fn quote_views(
        &self,
        viewer: &Viewer,
        quotes: Vec<quote::Model>,
    ) -> ApiResult<Vec<QuoteView>> {
        let tenant = &viewer.tenant;
        let zone = self.time_zone(tenant).await?;
        let ids: Vec<String> = quotes.iter().map(|q| q.id.clone()).collect();
        let versions = store::versions_of(&self.db, tenant, &ids).await?;
        let mut current: HashMap<String, quote_version::Model> = HashMap::new();
        for version in versions {
            let is_current = quotes
                .iter()
                .any(|q| q.id == version.quote_id && q.current_version == version.version);
            if is_current {
                current.insert(version.quote_id.clone(), version);
            }
        }
        let version_ids: Vec<String> = current.values().map(|v| v.id.clone()).collect();
        let mut lines: HashMap<String, Vec<quote_line::Model>> = HashMap::new();
        for line in store::lines_of(&self.db, tenant, &version_ids).await? {
            lines.entry(line.version_id.clone()).or_default().push(line);
        }
        let now = Utc::now();
        Ok(quotes
            .into_iter()
            .filter_map(|quote| {
                let version = current.remove(&quote.id)?;
                let status =
                    effective_status(stored_status(&version), version.valid_until, zone, now);
                Some(QuoteView {
                    lines: lines.remove(&version.id).unwrap_or_default(),
                    quote,
                    version,
                    status,
                })
            })
            .collect())
    }

    /// A quote the viewer sees, with its current version.
    pub async fn quote(&self, viewer: &Viewer, id: &str) -> ApiResult<Option<QuoteView>> {
        let visibility = self.visibility(viewer).await?;
        let Some(quote) = store::quote(&self.db, &viewer.tenant, id)
            .await?
            .filter(|q| visibility.sees(Some(&q.owner_id)))
        else {
            return Ok(None);
        };
        Ok(self
            .quote_views(viewer, vec![quote])
            .await?
            .into_iter()
            .next())
    }

    /// One page of the quotes the viewer sees.
    pub async fn quotes(
        &self,
        viewer: &Viewer,
        mut filter: QuoteFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<QuoteView>> {
        filter.owners = self.visibility(viewer).await?.owner_filter();
        let quotes = store::quotes_page(&self.db, &viewer.tenant, &filter, page).await?;
        self.quote_views(viewer, quotes).await
    }

    /// Every version of a quote the viewer sees, oldest first, with their statuses as a client
    /// sees them.
    pub async fn quote_versions(
        &self,
        viewer: &Viewer,
        quote_id: &str,
    ) -> ApiResult<Vec<(quote_version::Model, QuoteStatus)>> {
        let zone = self.time_zone(&viewer.tenant).await?;
        let now = Utc::now();
        Ok(
            store::versions_of(&self.db, &viewer.tenant, &[quote_id.to_owned()])
                .await?
                .into_iter()
                .map(|version| {
                    let status =
                        effective_status(stored_status(&version), version.valid_until, zone, now);
                    (version, status)
                })
                .collect(),
        )
    }

    /// Creates a proposal (a draft) for a client: sections of text, some wrapping quotes of
    /// that client.
    pub async fn create_proposal(
        &self,
        viewer: &Viewer,
        input: NewProposal,
    ) -> ApiResult<(proposal::Model, Vec<proposal_section::Model>)> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let client = clients::client(&self.db, tenant, &input.client_id).await?;
        if !client
            .as_ref()
            .is_some_and(|c| visibility.sees(c.owner_id.as_deref()) && c.merged_into_id.is_none())
        {
            return Err(ApiError::bad_input("clientId", "no such client"));
        }
        let title = required_text("title", &input.title, 200)?;
        if input.sections.is_empty() || input.sections.len() > 50 {
            return Err(ApiError::bad_input(
                "sections",
                "a proposal has 1 to 50 sections",
            ));
        }
        let quote_ids: Vec<String> = input
            .sections
            .iter()
            .filter_map(|section| section.quote_id.clone())
            .collect();
        let quotes = store::quotes_by_ids(&self.db, tenant, &quote_ids).await?;
        let now = now_ms();
        let model = proposal::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            client_id: input.client_id.clone(),
            opportunity_id: input.opportunity_id,
            owner_id: viewer.user_id.clone(),
            title,
            status: ProposalStatus::Draft.as_str().to_owned(),
            content_hash: None,
            sent_at: None,
            decided_at: None,
            decided_by: None,
            decision_note: None,
            created_at: now,
            updated_at: now,
        };
        let mut sections = Vec::with_capacity(input.sections.len());
        for (index, section) in input.sections.iter().enumerate() {
            if let Some(quote_id) = &section.quote_id {
                let ok = quotes.get(quote_id).is_some_and(|q| {
                    q.client_id == input.client_id && visibility.sees(Some(&q.owner_id))
                });
                if !ok {
                    return Err(ApiError::bad_input(
                        format!("sections[{index}].quoteId"),
                        "no such quote of this client",
                    ));
                }
            }
            sections.push(proposal_section::Model {
                id: new_id(),
                tenant_id: tenant.as_str().to_owned(),
                proposal_id: model.id.clone(),
                position: index as i32,
                title: required_text(&format!("sections[{index}].title"), &section.title, 200)?,
                body: section.body.chars().take(100_000).collect(),
                quote_id: section.quote_id.clone(),
            });
        }
        let txn = begin_write(&self.db).await?;
        store::insert_proposal(&txn, model.clone(), sections.clone()).await?;
        self.commit(txn).await?;
        Ok((model, sections))
    }

    /// The hash of a proposal over its sections and the current versions of its quotes, and
    /// those versions (read in `txn`).
    async fn proposal_content(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        model: &proposal::Model,
        sections: &[proposal_section::Model],
    ) -> ApiResult<String> {
        let mut quote_refs: Vec<(String, i32, String)> = Vec::new();
        for section in sections {
            if let Some(quote_id) = &section.quote_id {
                let quote = store::quote(txn, tenant, quote_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("a proposal's quote is gone"))?;
                let version = store::version(txn, tenant, &quote.id, quote.current_version)
                    .await?
                    .ok_or_else(|| ApiError::internal("a quote's current version is missing"))?;
                quote_refs.push((
                    quote.id,
                    version.version,
                    version.content_hash.unwrap_or_default(),
                ));
            }
        }
        let mut refs = quote_refs.iter();
        let contents: Vec<SectionContent<'_>> = sections
            .iter()
            .map(|section| SectionContent {
                title: &section.title,
                body: &section.body,
                quote: section.quote_id.as_ref().and_then(|_| {
                    refs.next()
                        .map(|(id, version, hash)| (id.as_str(), *version, hash.as_str()))
                }),
            })
            .collect();
        Ok(proposal_hash(&model.id, &model.title, &contents))
    }

    /// Sends a proposal: its draft quotes are sent with it, and the whole is hashed (the
    /// title, the sections and the exact versions of the quotes). Sending a sent proposal
    /// again refreshes the hash after one of its quotes was revised.
    pub async fn send_proposal(
        &self,
        viewer: &Viewer,
        proposal_id: &str,
    ) -> ApiResult<proposal::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = visible(
            &visibility,
            store::lock_proposal(&txn, tenant, proposal_id).await?,
            |p| Some(p.owner_id.as_str()),
            "proposal",
        )?;
        let status = ProposalStatus::from_db(&model.status).unwrap_or(ProposalStatus::Draft);
        check_proposal(status, "sent")?;
        let sections = store::sections_of(&txn, tenant, std::slice::from_ref(&model.id)).await?;
        for section in &sections {
            if let Some(quote_id) = &section.quote_id {
                let view = self
                    .lock_quote_view(&txn, viewer, &visibility, zone, quote_id)
                    .await?;
                match view.status {
                    QuoteStatus::Draft => {
                        self.send_in(&txn, viewer, &visibility, zone, quote_id)
                            .await?;
                    }
                    QuoteStatus::Sent => {}
                    QuoteStatus::Expired => return Err(QuoteRule::Expired.into()),
                    QuoteStatus::Accepted | QuoteStatus::Converted => {
                        return Err(QuoteRule::Locked.into())
                    }
                    from => {
                        return Err(QuoteRule::NotAllowed {
                            from,
                            action: "sent in a proposal",
                        }
                        .into())
                    }
                }
            }
        }
        model.content_hash = Some(
            self.proposal_content(&txn, tenant, &model, &sections)
                .await?,
        );
        model.status = ProposalStatus::Sent.as_str().to_owned();
        model.sent_at = Some(now_ms());
        model.updated_at = now_ms();
        let model = store::update_proposal(&txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Accepts a proposal as a whole: the hash given must be the proposal's as sent
    /// (CONTENT_HASH_MISMATCH), none of its quotes revised since (QUOTE_SUPERSEDED: send it
    /// again) or expired (QUOTE_EXPIRED); then every quote in it is accepted with it, in one
    /// transaction. Publishes `quote.accepted` per quote and `proposal.accepted`.
    pub async fn accept_proposal(
        &self,
        viewer: &Viewer,
        proposal_id: &str,
        shown_hash: &str,
        signed_by: Option<&str>,
    ) -> ApiResult<proposal::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let zone = self.time_zone(tenant).await?;
        let signed_by = optional_text("signedBy", signed_by, 200)?;
        let txn = begin_write(&self.db).await?;
        let mut model = visible(
            &visibility,
            store::lock_proposal(&txn, tenant, proposal_id).await?,
            |p| Some(p.owner_id.as_str()),
            "proposal",
        )?;
        let status = ProposalStatus::from_db(&model.status).unwrap_or(ProposalStatus::Draft);
        check_proposal(status, "accepted")?;
        if model.content_hash.as_deref() != Some(shown_hash) {
            return Err(QuoteRule::HashMismatch.into());
        }
        let sections = store::sections_of(&txn, tenant, std::slice::from_ref(&model.id)).await?;
        let current = self
            .proposal_content(&txn, tenant, &model, &sections)
            .await?;
        if Some(current.as_str()) != model.content_hash.as_deref() {
            return Err(ApiError::rule(
                reasons::QUOTE_SUPERSEDED,
                "a quote of the proposal was revised since it was sent: send the proposal again",
            ));
        }
        for section in &sections {
            if let Some(quote_id) = &section.quote_id {
                let view = self
                    .lock_quote_view(&txn, viewer, &visibility, zone, quote_id)
                    .await?;
                let hash = view.version.content_hash.clone().unwrap_or_default();
                self.accept_in(
                    &txn,
                    viewer,
                    &visibility,
                    zone,
                    quote_id,
                    view.version.version,
                    &hash,
                    signed_by.as_deref(),
                    Some(&model.id),
                )
                .await?;
            }
        }
        let now = now_ms();
        model.status = ProposalStatus::Accepted.as_str().to_owned();
        model.decided_at = Some(now);
        model.decided_by = Some(signed_by.clone().unwrap_or_else(|| viewer.user_id.clone()));
        model.updated_at = now;
        let model = store::update_proposal(&txn, model).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: "proposal",
                entity_id: &model.id,
                action: "accepted",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({ "content_hash": model.content_hash, "signed_by": signed_by }),
            },
        )
        .await?;
        let accepted = EventEnvelope::by_actor(
            tenant,
            events::PROPOSAL_ACCEPTED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "proposal_id": model.id,
                "client_id": model.client_id,
                "content_hash": model.content_hash,
                "quote_ids": sections.iter().filter_map(|s| s.quote_id.clone()).collect::<Vec<_>>(),
            }),
        )?;
        self.outbox.enqueue(&txn, &accepted).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Records the client's rejection of a sent proposal.
    pub async fn reject_proposal(
        &self,
        viewer: &Viewer,
        proposal_id: &str,
        reason: Option<&str>,
    ) -> ApiResult<proposal::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let reason = optional_text("reason", reason, 500)?;
        let txn = begin_write(&self.db).await?;
        let mut model = visible(
            &visibility,
            store::lock_proposal(&txn, tenant, proposal_id).await?,
            |p| Some(p.owner_id.as_str()),
            "proposal",
        )?;
        let status = ProposalStatus::from_db(&model.status).unwrap_or(ProposalStatus::Draft);
        check_proposal(status, "rejected")?;
        let now = now_ms();
        model.status = ProposalStatus::Rejected.as_str().to_owned();
        model.decided_at = Some(now);
        model.decided_by = Some(viewer.user_id.clone());
        model.decision_note = reason;
        model.updated_at = now;
        let model = store::update_proposal(&txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// A proposal the viewer sees, with its sections.
    pub async fn proposal(
        &self,
        viewer: &Viewer,
        id: &str,
    ) -> ApiResult<Option<(proposal::Model, Vec<proposal_section::Model>)>> {
        let visibility = self.visibility(viewer).await?;
        let Some(model) = store::proposal(&self.db, &viewer.tenant, id)
            .await?
            .filter(|p| visibility.sees(Some(&p.owner_id)))
        else {
            return Ok(None);
        };
        let sections =
            store::sections_of(&self.db, &viewer.tenant, std::slice::from_ref(&model.id)).await?;
        Ok(Some((model, sections)))
    }

    /// One page of the proposals the viewer sees, with their sections.
    pub async fn proposals(
        &self,
        viewer: &Viewer,
        mut filter: ProposalFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<(proposal::Model, Vec<proposal_section::Model>)>> {
        filter.owners = self.visibility(viewer).await?.owner_filter();
        let models = store::proposals_page(&self.db, &viewer.tenant, &filter, page).await?;
        let ids: Vec<String> = models.iter().map(|p| p.id.clone()).collect();
        let mut sections: HashMap<String, Vec<proposal_section::Model>> = HashMap::new();
        for section in store::sections_of(&self.db, &viewer.tenant, &ids).await? {
            sections
                .entry(section.proposal_id.clone())
                .or_default()
                .push(section);
        }
        Ok(models
            .into_iter()
            .map(|model| {
                let own = sections.remove(&model.id).unwrap_or_default();
                (model, own)
            })
            .collect())
    }

    pub async fn quotes_by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, quote::Model>> {
        Ok(store::quotes_by_ids(&self.db, tenant, ids).await?)
    }
}

/// Reads for the GraphQL layer's loaders (no row rule: the resolvers apply the caller's).
impl Crm {
    pub async fn versions_per_quote(
        &self,
        tenant: &TenantId,
        quote_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<quote_version::Model>>> {
        let mut found: HashMap<String, Vec<quote_version::Model>> = HashMap::new();
        for version in store::versions_of(&self.db, tenant, quote_ids).await? {
            found
                .entry(version.quote_id.clone())
                .or_default()
                .push(version);
        }
        Ok(found)
    }

    pub async fn lines_per_version(
        &self,
        tenant: &TenantId,
        version_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<quote_line::Model>>> {
        let mut found: HashMap<String, Vec<quote_line::Model>> = HashMap::new();
        for line in store::lines_of(&self.db, tenant, version_ids).await? {
            found.entry(line.version_id.clone()).or_default().push(line);
        }
        Ok(found)
    }

    pub async fn items_per_price_list(
        &self,
        tenant: &TenantId,
        price_list_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<price_list_item::Model>>> {
        let mut found: HashMap<String, Vec<price_list_item::Model>> = HashMap::new();
        for item in store::items_of(&self.db, tenant, price_list_ids).await? {
            found
                .entry(item.price_list_id.clone())
                .or_default()
                .push(item);
        }
        Ok(found)
    }

    /// One page of the quotes the viewer sees (the quotes only; versions come from loaders).
    pub async fn quote_page(
        &self,
        viewer: &Viewer,
        mut filter: QuoteFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<quote::Model>> {
        filter.owners = self.visibility(viewer).await?.owner_filter();
        Ok(store::quotes_page(&self.db, &viewer.tenant, &filter, page).await?)
    }
}
