//! Quotes and proposals: price lists, quotes with versions, their lifecycle, proposals
//! accepted as a whole against the hash of what was shown, and the tenant's CRM settings.

use crate::app::Crm;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::ApiError;

use super::context::{scope, Scope};
use super::objects::{load_quote, PriceList, Proposal, Quote};
use crate::app::quotes::{
    DraftChanges, NewItem, NewLine, NewPriceList, NewProposal, NewQuote, NewSection, QuoteView,
};
use crate::store::quotes::{ProposalFilter, QuoteFilter};
use erp_kit::money::{parse_minor, Currency, Decimal, MoneyInput};
use erp_kit::scalars::{Date, TimeZone};

/// A decimal with at most `decimals` decimals as an integer of that scale (quantities in
/// thousandths, percentages in hundredths = basis points).
fn scaled_input(value: &Decimal, decimals: u8, field: &str) -> Result<i64> {
    parse_minor(value.as_str(), decimals).map_err(|_| {
        ApiError::bad_input(field, format!("a number with at most {decimals} decimals")).into()
    })
}

fn percent(value: &Option<Decimal>, field: &str) -> Result<Option<i32>> {
    value
        .as_ref()
        .map(|value| {
            let bp = scaled_input(value, 2, field)?;
            i32::try_from(bp)
                .map_err(|_| ApiError::bad_input(field, "a percentage is 0 to 100").into())
        })
        .transpose()
}

/// A line of a quote: from a price list item (its name, price and tax unless given here), or
/// free (description and unit price required).
#[derive(InputObject)]
pub struct QuoteLineInput {
    /// The price list item.
    pub item_id: Option<ID>,
    /// What is sold (the item's name by default).
    pub description: Option<String>,
    /// How many: more than 0, up to three decimals, e.g. `"1.5"`.
    pub quantity: Decimal,
    /// The price of one (the item's by default), in the quote's currency.
    pub unit_price: Option<MoneyInput>,
    /// The discount in percent, 0 to 100 with up to two decimals (0 by default).
    pub discount_percent: Option<Decimal>,
    /// The tax rate in percent, 0 to 100 with up to two decimals (the item's, else 0).
    pub tax_rate_percent: Option<Decimal>,
    /// An optional line is offered; it counts only when selected (false by default).
    pub optional: Option<bool>,
    /// Whether an optional line is chosen (false by default).
    pub selected: Option<bool>,
}

fn lines(input: Vec<QuoteLineInput>, currency: &str) -> Result<Vec<NewLine>> {
    input
        .into_iter()
        .enumerate()
        .map(|(index, line)| {
            let field = |name: &str| format!("lines[{index}].{name}");
            let unit_price_minor = match &line.unit_price {
                Some(price) => {
                    let amount = price.to_money().map_err(|err| {
                        ApiError::bad_input(field("unitPrice"), err.message(price.currency))
                    })?;
                    if amount.currency().code() != currency {
                        return Err(ApiError::rule(
                            crate::domain::reasons::CURRENCY_MISMATCH,
                            format!(
                                "the line is priced in {}, the quote in {currency}",
                                amount.currency()
                            ),
                        )
                        .on_field(field("unitPrice"))
                        .into());
                    }
                    Some(amount.minor())
                }
                None => None,
            };
            Ok(NewLine {
                item_id: line.item_id.map(|id| id.0),
                description: line.description,
                quantity_milli: scaled_input(&line.quantity, 3, &field("quantity"))?,
                unit_price_minor,
                discount_bp: percent(&line.discount_percent, &field("discountPercent"))?
                    .unwrap_or(0),
                tax_rate_bp: percent(&line.tax_rate_percent, &field("taxRatePercent"))?,
                optional: line.optional.unwrap_or(false),
                selected: line.selected.unwrap_or(false),
            })
        })
        .collect()
}

/// A product or service of a new price list.
#[derive(InputObject)]
pub struct PriceListItemInput {
    /// Its code (unique in the list).
    pub code: String,
    /// Its name.
    pub name: String,
    /// The price of one, in the list's currency.
    pub unit_price: Decimal,
    /// The tax rate in percent, 0 to 100 with up to two decimals (0 by default).
    pub tax_rate_percent: Option<Decimal>,
}

/// A new price list.
#[derive(InputObject)]
pub struct CreatePriceListInput {
    /// Its name.
    pub name: String,
    /// Its currency.
    pub currency: Currency,
    /// Its items.
    pub items: Vec<PriceListItemInput>,
}

/// A new quote.
#[derive(InputObject)]
pub struct CreateQuoteInput {
    /// The client it is for.
    pub client_id: ID,
    /// The opportunity it belongs to (of that client).
    pub opportunity_id: Option<ID>,
    /// The price list its items come from (in the quote's currency).
    pub price_list_id: Option<ID>,
    /// Its currency.
    pub currency: Currency,
    /// The last day it may be accepted, in the tenant's time zone.
    pub valid_until: Date,
    /// Terms and conditions.
    pub terms: Option<String>,
    /// Its lines (at most 500).
    pub lines: Vec<QuoteLineInput>,
}

/// Changes to a quote's draft version (omitted fields stay).
#[derive(InputObject)]
pub struct UpdateQuoteDraftInput {
    /// The quote.
    pub quote_id: ID,
    /// A new valid-until day.
    pub valid_until: Option<Date>,
    /// New terms (`null` clears them).
    pub terms: Option<Option<String>>,
    /// New lines (replace all of them).
    pub lines: Option<Vec<QuoteLineInput>>,
}

/// A quote to act on.
#[derive(InputObject)]
pub struct QuoteActionInput {
    /// The quote.
    pub quote_id: ID,
}

/// A client's acceptance of a quote version as shown.
#[derive(InputObject)]
pub struct AcceptQuoteInput {
    /// The quote.
    pub quote_id: ID,
    /// The version the client was shown.
    pub version: i32,
    /// The `contentHash` of the version the client was shown.
    pub content_hash: String,
    /// The name the client signed with.
    pub signed_by: Option<String>,
}

/// A client's refusal of a quote.
#[derive(InputObject)]
pub struct DeclineQuoteInput {
    /// The quote.
    pub quote_id: ID,
    /// Why.
    pub reason: Option<String>,
}

/// A revision of a quote.
#[derive(InputObject)]
pub struct ReviseQuoteInput {
    /// The quote.
    pub quote_id: ID,
    /// The new version's valid-until day (the old one's by default).
    pub valid_until: Option<Date>,
}

/// A section of a new proposal.
#[derive(InputObject)]
pub struct ProposalSectionInput {
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// A quote of the proposal's client it wraps.
    pub quote_id: Option<ID>,
}

/// A new proposal.
#[derive(InputObject)]
pub struct CreateProposalInput {
    /// The client it is for.
    pub client_id: ID,
    /// The opportunity it belongs to.
    pub opportunity_id: Option<ID>,
    /// Its title.
    pub title: String,
    /// Its sections in order (1 to 50).
    pub sections: Vec<ProposalSectionInput>,
}

/// A proposal to act on.
#[derive(InputObject)]
pub struct ProposalActionInput {
    /// The proposal.
    pub proposal_id: ID,
}

/// A client's acceptance of a proposal as shown.
#[derive(InputObject)]
pub struct AcceptProposalInput {
    /// The proposal.
    pub proposal_id: ID,
    /// The `contentHash` of the proposal the client was shown.
    pub content_hash: String,
    /// The name the client signed with.
    pub signed_by: Option<String>,
}

/// A client's rejection of a proposal.
#[derive(InputObject)]
pub struct RejectProposalInput {
    /// The proposal.
    pub proposal_id: ID,
    /// Why.
    pub reason: Option<String>,
}

/// The tenant's CRM settings.
#[derive(SimpleObject)]
pub struct CrmSettings {
    /// The tenant's time zone: quotes expire at the end of their valid-until day in it.
    pub time_zone: TimeZone,
}

/// New CRM settings.
#[derive(InputObject)]
pub struct UpdateCrmSettingsInput {
    /// The tenant's time zone.
    pub time_zone: TimeZone,
}

/// Which quotes a list shows.
#[derive(InputObject, Default)]
pub struct QuotesFilterInput {
    /// Only this client's.
    pub client_id: Option<ID>,
    /// Only this opportunity's.
    pub opportunity_id: Option<ID>,
}

fn quote_of(view: QuoteView, scope: Scope) -> Quote {
    Quote::new(view.quote, scope)
}

#[derive(Default)]
pub struct QuotesQuery;

#[Object]
impl QuotesQuery {
    /// The tenant's price lists.
    #[graphql(requires_scopes = "crm:read")]
    async fn price_lists(&self, ctx: &Context<'_>) -> Result<Vec<PriceList>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .price_lists(&scope.viewer.tenant)
            .await?
            .into_iter()
            .map(|model| PriceList {
                model,
                scope: scope.clone(),
            })
            .collect())
    }

    /// A quote the caller may see (null otherwise).
    #[graphql(requires_scopes = "crm:read")]
    async fn quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote's id.")] id: ID,
    ) -> Result<Option<Quote>> {
        let scope = scope(ctx).await?;
        load_quote(ctx, &scope, &id).await
    }

    /// The quotes the caller may see, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "crm:read")]
    async fn quotes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which quotes.")] filter: Option<QuotesFilterInput>,
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
    ) -> Result<Connection<String, Quote, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let scope = scope(ctx).await?;
        let filter = filter.unwrap_or_default();
        let rows = ctx
            .use_cases::<Crm>()?
            .quote_page(
                &scope.viewer,
                QuoteFilter {
                    client_id: filter.client_id.map(|id| id.0),
                    opportunity_id: filter.opportunity_id.map(|id| id.0),
                    owners: None,
                },
                &page,
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|model| Quote::new(model, scope.clone()))
            .collect();
        Ok(connection_from_rows(&page, rows, |q| q.model.id.clone()))
    }

    /// A proposal the caller may see (null otherwise).
    #[graphql(requires_scopes = "crm:read")]
    async fn proposal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The proposal's id.")] id: ID,
    ) -> Result<Option<Proposal>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .proposal(&scope.viewer, &id)
            .await?
            .map(|(model, sections)| Proposal {
                model,
                sections,
                scope,
            }))
    }

    /// The proposals the caller may see, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "crm:read")]
    async fn proposals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this client's.")] client_id: Option<ID>,
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
    ) -> Result<Connection<String, Proposal, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let scope = scope(ctx).await?;
        let rows = ctx
            .use_cases::<Crm>()?
            .proposals(
                &scope.viewer,
                ProposalFilter {
                    client_id: client_id.map(|id| id.0),
                    owners: None,
                },
                &page,
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|(model, sections)| Proposal {
                model,
                sections,
                scope: scope.clone(),
            })
            .collect();
        Ok(connection_from_rows(&page, rows, |p| p.model.id.clone()))
    }

    /// The tenant's CRM settings.
    #[graphql(requires_scopes = "crm:read")]
    async fn crm_settings(&self, ctx: &Context<'_>) -> Result<CrmSettings> {
        let scope = scope(ctx).await?;
        let settings = ctx
            .use_cases::<Crm>()?
            .settings(&scope.viewer.tenant)
            .await?;
        Ok(CrmSettings {
            time_zone: TimeZone::parse(&settings.time_zone).unwrap_or(TimeZone(chrono_tz::Tz::UTC)),
        })
    }
}

#[derive(Default)]
pub struct QuotesMutation;

#[Object]
impl QuotesMutation {
    /// Sets up a price list with its items (`crm:admin`).
    #[graphql(requires_scopes = "crm:admin")]
    async fn create_price_list(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The price list.")] input: CreatePriceListInput,
    ) -> Result<PriceList> {
        let scope = scope(ctx).await?;
        let currency = input.currency;
        let mut items = Vec::with_capacity(input.items.len());
        for (index, item) in input.items.into_iter().enumerate() {
            let field = |name: &str| format!("items[{index}].{name}");
            let unit_price_minor = parse_minor(item.unit_price.as_str(), currency.exponent())
                .map_err(|err| ApiError::bad_input(field("unitPrice"), err.message(currency)))?;
            items.push(NewItem {
                code: item.code,
                name: item.name,
                unit_price_minor,
                tax_rate_bp: percent(&item.tax_rate_percent, &field("taxRatePercent"))?
                    .unwrap_or(0),
            });
        }
        let model = ctx
            .use_cases::<Crm>()?
            .create_price_list(
                &scope.viewer,
                NewPriceList {
                    name: input.name,
                    currency: currency.code().to_owned(),
                    items,
                },
            )
            .await?;
        Ok(PriceList { model, scope })
    }

    /// Creates a quote (version 1, a draft) for a client the caller sees.
    #[graphql(requires_scopes = "crm:write")]
    async fn create_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote.")] input: CreateQuoteInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let currency = input.currency.code().to_owned();
        let view = ctx
            .use_cases::<Crm>()?
            .create_quote(
                &scope.viewer,
                NewQuote {
                    client_id: input.client_id.0,
                    opportunity_id: input.opportunity_id.map(|id| id.0),
                    price_list_id: input.price_list_id.map(|id| id.0),
                    lines: lines(input.lines, &currency)?,
                    currency,
                    valid_until: input.valid_until.0,
                    terms: input.terms,
                },
            )
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Edits the draft version: an accepted quote is CONFLICT (QUOTE_LOCKED), a sent one
    /// CONFLICT (QUOTE_NOT_DRAFT: revise it).
    #[graphql(requires_scopes = "crm:write")]
    async fn update_quote_draft(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateQuoteDraftInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let crm = ctx.use_cases::<Crm>()?;
        let currency = match crm.quote(&scope.viewer, &input.quote_id).await? {
            Some(view) => view.quote.currency,
            None => return Err(ApiError::NotFound("quote".into()).into()),
        };
        let view = crm
            .update_draft(
                &scope.viewer,
                &input.quote_id,
                DraftChanges {
                    valid_until: input.valid_until.map(|d| d.0),
                    terms: input.terms,
                    lines: input.lines.map(|l| lines(l, &currency)).transpose()?,
                },
            )
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Sends the draft: frozen and hashed; publishes `quote.sent`. A draft whose valid-until
    /// day is over is CONFLICT (QUOTE_EXPIRED).
    #[graphql(requires_scopes = "crm:write")]
    async fn send_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote.")] input: QuoteActionInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let view = ctx
            .use_cases::<Crm>()?
            .send_quote(&scope.viewer, &input.quote_id)
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Records the client's acceptance of the version they were shown (its number and hash):
    /// CONFLICT when expired (QUOTE_EXPIRED), superseded (QUOTE_SUPERSEDED), accepted already
    /// (QUOTE_LOCKED), not sent (QUOTE_TRANSITION_NOT_ALLOWED) or shown differently
    /// (CONTENT_HASH_MISMATCH). Publishes `quote.accepted` with the accepted snapshot.
    #[graphql(requires_scopes = "crm:write")]
    async fn accept_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote, the version shown and its hash.")] input: AcceptQuoteInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let view = ctx
            .use_cases::<Crm>()?
            .accept_quote(
                &scope.viewer,
                &input.quote_id,
                input.version,
                &input.content_hash,
                input.signed_by.as_deref(),
            )
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Records the client's refusal of the sent version; publishes `quote.declined`.
    #[graphql(requires_scopes = "crm:write")]
    async fn decline_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote and why.")] input: DeclineQuoteInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let view = ctx
            .use_cases::<Crm>()?
            .decline_quote(&scope.viewer, &input.quote_id, input.reason.as_deref())
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Revises a sent, declined or expired quote: a new draft version with the same lines;
    /// the old one is superseded. An accepted quote is CONFLICT (QUOTE_LOCKED).
    #[graphql(requires_scopes = "crm:write")]
    async fn revise_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote.")] input: ReviseQuoteInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let view = ctx
            .use_cases::<Crm>()?
            .revise_quote(
                &scope.viewer,
                &input.quote_id,
                input.valid_until.map(|d| d.0),
            )
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Marks an accepted quote converted (into an order or invoice); publishes
    /// `quote.converted`.
    #[graphql(requires_scopes = "crm:write")]
    async fn convert_quote(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The quote.")] input: QuoteActionInput,
    ) -> Result<Quote> {
        let scope = scope(ctx).await?;
        let view = ctx
            .use_cases::<Crm>()?
            .convert_quote(&scope.viewer, &input.quote_id)
            .await?;
        Ok(quote_of(view, scope))
    }

    /// Creates a proposal (a draft): sections of text, some wrapping the client's quotes.
    #[graphql(requires_scopes = "crm:write")]
    async fn create_proposal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The proposal.")] input: CreateProposalInput,
    ) -> Result<Proposal> {
        let scope = scope(ctx).await?;
        let (model, sections) = ctx
            .use_cases::<Crm>()?
            .create_proposal(
                &scope.viewer,
                NewProposal {
                    client_id: input.client_id.0,
                    opportunity_id: input.opportunity_id.map(|id| id.0),
                    title: input.title,
                    sections: input
                        .sections
                        .into_iter()
                        .map(|section| NewSection {
                            title: section.title,
                            body: section.body,
                            quote_id: section.quote_id.map(|id| id.0),
                        })
                        .collect(),
                },
            )
            .await?;
        Ok(Proposal {
            model,
            sections,
            scope,
        })
    }

    /// Sends a proposal with its draft quotes, hashing the whole (sending a sent proposal
    /// again refreshes the hash after a quote of it was revised).
    #[graphql(requires_scopes = "crm:write")]
    async fn send_proposal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The proposal.")] input: ProposalActionInput,
    ) -> Result<Proposal> {
        let scope = scope(ctx).await?;
        let crm = ctx.use_cases::<Crm>()?;
        let model = crm.send_proposal(&scope.viewer, &input.proposal_id).await?;
        let sections = crm
            .proposal(&scope.viewer, &model.id)
            .await?
            .map(|(_, sections)| sections)
            .unwrap_or_default();
        Ok(Proposal {
            model,
            sections,
            scope,
        })
    }

    /// Accepts a proposal as a whole: the hash must be the proposal's as sent
    /// (CONTENT_HASH_MISMATCH), no quote of it revised since (QUOTE_SUPERSEDED) or expired
    /// (QUOTE_EXPIRED); every quote in it is accepted in the same transaction.
    #[graphql(requires_scopes = "crm:write")]
    async fn accept_proposal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The proposal and the hash of what was shown.")]
        input: AcceptProposalInput,
    ) -> Result<Proposal> {
        let scope = scope(ctx).await?;
        let crm = ctx.use_cases::<Crm>()?;
        let model = crm
            .accept_proposal(
                &scope.viewer,
                &input.proposal_id,
                &input.content_hash,
                input.signed_by.as_deref(),
            )
            .await?;
        let sections = crm
            .proposal(&scope.viewer, &model.id)
            .await?
            .map(|(_, sections)| sections)
            .unwrap_or_default();
        Ok(Proposal {
            model,
            sections,
            scope,
        })
    }

    /// Records the client's rejection of a sent proposal.
    #[graphql(requires_scopes = "crm:write")]
    async fn reject_proposal(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The proposal and why.")] input: RejectProposalInput,
    ) -> Result<Proposal> {
        let scope = scope(ctx).await?;
        let crm = ctx.use_cases::<Crm>()?;
        let model = crm
            .reject_proposal(&scope.viewer, &input.proposal_id, input.reason.as_deref())
            .await?;
        let sections = crm
            .proposal(&scope.viewer, &model.id)
            .await?
            .map(|(_, sections)| sections)
            .unwrap_or_default();
        Ok(Proposal {
            model,
            sections,
            scope,
        })
    }

    /// Sets the tenant's time zone (`crm:admin`): quotes expire at the end of their
    /// valid-until day in it.
    #[graphql(requires_scopes = "crm:admin")]
    async fn update_crm_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The settings.")] input: UpdateCrmSettingsInput,
    ) -> Result<CrmSettings> {
        let scope = scope(ctx).await?;
        let settings = ctx
            .use_cases::<Crm>()?
            .set_time_zone(&scope.viewer, input.time_zone.name())
            .await?;
        Ok(CrmSettings {
            time_zone: TimeZone::parse(&settings.time_zone).unwrap_or(input.time_zone),
        })
    }
}
