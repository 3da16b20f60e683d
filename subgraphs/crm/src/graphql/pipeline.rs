//! Pipelines and opportunities: set-up, the opportunity lifecycle, the board (per-stage
//! totals and the weighted forecast over what the caller may see, cards paged) and its live
//! subscription.

use crate::app::Crm;
use std::collections::BTreeMap;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, Subscription, ID};
use futures::StreamExt;

use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext};

use super::context::{scope, viewer, Scope, ScopeData};
use super::loaders::{BoardCardsKey, BoardCardsLoader, OpportunityLoader, StageLoader};
use super::objects::{money, Opportunity, OpportunityStatus, Pipeline, Stage};
use crate::app::pipeline::{CreateOpportunity, NewPipeline, OpportunityChanges};
use crate::domain::pipeline::{StageSpec, StageTotals, MAX_CARDS_PER_COLUMN};
use crate::events::BoardMove;
use crate::store::pipeline::OpportunityFilter;
use erp_kit::money::{Money, MoneyInput};
use erp_kit::scalars::{Date, DateTime};

/// Amounts per currency as a list (never summed across currencies).
fn amounts(map: &BTreeMap<String, i64>) -> Result<Vec<Money>> {
    map.iter()
        .map(|(currency, amount)| money(*amount, currency))
        .collect()
}

/// A pipeline's board as the caller sees it.
pub struct PipelineBoard {
    board: crate::app::pipeline::Board,
    scope: Scope,
}

/// A pipeline's board: each stage with its count and totals, the pipeline's totals and
/// weighted forecast, all over the opportunities the caller may see (nothing else is ever
/// counted). Amounts are per currency.
#[Object(requires_scopes = "crm:read")]
impl PipelineBoard {
    /// The pipeline.
    async fn pipeline(&self) -> Pipeline {
        Pipeline {
            model: self.board.pipeline.clone(),
            scope: self.scope.clone(),
        }
    }

    /// Its stages, in order: all of them, or only those of `stageIds` (to page one column's
    /// cards further with its `endCursor`).
    async fn stages(
        &self,
        #[graphql(desc = "Only these stages (of this pipeline; others are ignored).")]
        stage_ids: Option<Vec<ID>>,
    ) -> Vec<BoardStage> {
        self.board
            .stages
            .iter()
            .filter(|(stage, _)| {
                stage_ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| id.as_str() == stage.id))
            })
            .map(|(stage, totals)| BoardStage {
                stage: stage.clone(),
                totals: totals.clone(),
                owners: self.board.owners.clone(),
                scope: self.scope.clone(),
            })
            .collect()
    }

    /// Σ amounts of the open opportunities, per currency.
    async fn totals(&self) -> Result<Vec<Money>> {
        amounts(&self.board.totals)
    }

    /// The weighted forecast: Σ amount × stage probability of the open opportunities, per
    /// currency.
    async fn forecast(&self) -> Result<Vec<Money>> {
        amounts(&self.board.forecast)
    }

    /// How many open opportunities.
    async fn open_count(&self) -> i32 {
        let count: i64 = self.board.stages.iter().map(|(_, t)| t.count).sum();
        i32::try_from(count).unwrap_or(i32::MAX)
    }
}

/// A column of the board.
pub struct BoardStage {
    stage: crate::store::entities::stage::Model,
    totals: StageTotals,
    owners: Option<Vec<String>>,
    scope: Scope,
}

/// A column of the board: a stage, its open opportunities' count and totals, its cards.
#[Object(requires_scopes = "crm:read")]
impl BoardStage {
    /// The stage.
    async fn stage(&self) -> Stage {
        Stage::new(self.stage.clone(), self.scope.clone())
    }

    /// How many open opportunities are in it.
    async fn count(&self) -> i32 {
        i32::try_from(self.totals.count).unwrap_or(i32::MAX)
    }

    /// Σ amounts of its open opportunities, per currency.
    async fn totals(&self) -> Result<Vec<Money>> {
        amounts(&self.totals.amounts)
    }

    /// Σ amounts × its probability, per currency.
    async fn weighted_totals(&self) -> Result<Vec<Money>> {
        amounts(&self.totals.weighted)
    }

    /// Its open opportunities (the cards), oldest first, as a Relay connection: at most 50 a
    /// page (every column's page is read in one statement); the rest with `after`.
    async fn cards(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 50; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 50. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, Opportunity, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        if page.limit > MAX_CARDS_PER_COLUMN {
            let field = if page.backward { "last" } else { "first" };
            return Err(ApiError::bad_input(
                field,
                format!("`{field}` must be between 0 and {MAX_CARDS_PER_COLUMN} on a board column"),
            )
            .into());
        }
        let key = BoardCardsKey::new(
            &self.scope.viewer.tenant,
            &self.stage.id,
            self.owners.clone(),
            &page,
        );
        let rows = ctx
            .data_unchecked::<DataLoader<BoardCardsLoader>>()
            .load_one(key)
            .await?
            .unwrap_or_default();
        let rows = rows
            .into_iter()
            .map(|model| Opportunity::new(model, self.scope.clone()))
            .collect();
        Ok(connection_from_rows(&page, rows, |o| o.model.id.clone()))
    }
}

/// Which opportunities a list shows.
#[derive(InputObject, Default)]
pub struct OpportunitiesFilterInput {
    /// Only this pipeline's.
    pub pipeline_id: Option<ID>,
    /// Only this stage's.
    pub stage_id: Option<ID>,
    /// Only open, won or lost ones.
    pub status: Option<OpportunityStatus>,
    /// Only this client's.
    pub client_id: Option<ID>,
    /// Only this user's.
    pub owner_id: Option<ID>,
}

#[derive(Default)]
pub struct PipelineQuery;

#[Object]
impl PipelineQuery {
    /// The tenant's pipelines, oldest first.
    #[graphql(requires_scopes = "crm:read")]
    async fn pipelines(&self, ctx: &Context<'_>) -> Result<Vec<Pipeline>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .pipelines(&scope.viewer.tenant)
            .await?
            .into_iter()
            .map(|model| Pipeline {
                model,
                scope: scope.clone(),
            })
            .collect())
    }

    /// The board of a pipeline: per-stage counts, totals and weighted totals, the pipeline's
    /// totals and forecast (all over the opportunities the caller may see), and each stage's
    /// cards as a connection. Null for an unknown pipeline.
    #[graphql(requires_scopes = "crm:read")]
    async fn pipeline_board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The pipeline.")] pipeline_id: ID,
    ) -> Result<Option<PipelineBoard>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .board(&scope.viewer, &pipeline_id)
            .await?
            .map(|board| PipelineBoard { board, scope }))
    }

    /// An opportunity the caller may see (null otherwise).
    #[graphql(requires_scopes = "crm:read")]
    async fn opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity's id.")] id: ID,
    ) -> Result<Option<Opportunity>> {
        let scope = scope(ctx).await?;
        let found = ctx
            .data_unchecked::<DataLoader<OpportunityLoader>>()
            .load_one(TenantKey::new(&scope.viewer.tenant, &id))
            .await?;
        Ok(found
            .filter(|o| scope.sees(Some(&o.owner_id)))
            .map(|model| Opportunity::new(model, scope.clone())))
    }

    /// The opportunities the caller may see, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "crm:read")]
    async fn opportunities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which opportunities.")] filter: Option<OpportunitiesFilterInput>,
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
    ) -> Result<Connection<String, Opportunity, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let scope = scope(ctx).await?;
        let filter = filter.unwrap_or_default();
        let rows = ctx
            .use_cases::<Crm>()?
            .opportunities(
                &scope.viewer,
                OpportunityFilter {
                    pipeline_id: filter.pipeline_id.map(|id| id.0),
                    stage_id: filter.stage_id.map(|id| id.0),
                    status: filter.status.map(|s| {
                        crate::domain::pipeline::OpportunityStatus::from(s)
                            .as_str()
                            .to_owned()
                    }),
                    client_id: filter.client_id.map(|id| id.0),
                    owner_id: filter.owner_id.map(|id| id.0),
                    owners: None,
                },
                &page,
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|model| Opportunity::new(model, scope.clone()))
            .collect();
        Ok(connection_from_rows(&page, rows, |o| o.model.id.clone()))
    }
}

/// A stage of a new pipeline.
#[derive(InputObject)]
pub struct StageInput {
    /// Its name (unique in the pipeline).
    pub name: String,
    /// The chance an opportunity in it is won: 0 to 100 (percent).
    pub probability: i32,
    /// Days after which an open opportunity in it rots: 1 to 3650.
    pub rotting_days: Option<i32>,
}

impl StageInput {
    fn spec(self) -> StageSpec {
        StageSpec {
            name: self.name,
            probability: self.probability,
            rotting_days: self.rotting_days,
        }
    }
}

/// A new pipeline.
#[derive(InputObject)]
pub struct CreatePipelineInput {
    /// Its name (unique in the tenant).
    pub name: String,
    /// What it sells: `new business`, `renewal`, `services`...
    pub opportunity_type: String,
    /// Its stages in order (1 to 20).
    pub stages: Vec<StageInput>,
}

/// A stage to add at the end of a pipeline.
#[derive(InputObject)]
pub struct AddStageInput {
    /// The pipeline.
    pub pipeline_id: ID,
    /// The stage.
    pub stage: StageInput,
}

/// A new opportunity.
#[derive(InputObject)]
pub struct CreateOpportunityInput {
    /// Its pipeline.
    pub pipeline_id: ID,
    /// Its stage (the pipeline's first by default).
    pub stage_id: Option<ID>,
    /// The client it is for.
    pub client_id: ID,
    /// The contact person.
    pub contact_id: Option<ID>,
    /// What the deal is.
    pub name: String,
    /// What it is worth (0 or more).
    pub amount: MoneyInput,
    /// The day it is expected to close.
    pub expected_close: Option<Date>,
    /// The owner (the caller by default).
    pub owner_id: Option<ID>,
}

/// Changes to an open opportunity (omitted fields stay).
#[derive(InputObject)]
pub struct UpdateOpportunityInput {
    /// The opportunity.
    pub opportunity_id: ID,
    /// A new name.
    pub name: Option<String>,
    /// A new amount (0 or more).
    pub amount: Option<MoneyInput>,
    /// A new expected close (`null` clears it).
    pub expected_close: Option<Option<Date>>,
    /// Refuses the change (CONFLICT, VERSION_CONFLICT) unless the opportunity is at this
    /// version.
    pub expected_version: Option<i32>,
}

/// A stage move.
#[derive(InputObject)]
pub struct MoveOpportunityInput {
    /// The opportunity (open).
    pub opportunity_id: ID,
    /// The stage it moves to (of its pipeline).
    pub stage_id: ID,
    /// Refuses the move (CONFLICT, VERSION_CONFLICT) unless the opportunity is at this
    /// version.
    pub expected_version: Option<i32>,
}

/// An opportunity moved.
#[derive(SimpleObject)]
pub struct MoveOpportunityPayload {
    /// The opportunity in its new stage.
    pub opportunity: Opportunity,
    /// The stage it left.
    pub from_stage: Option<Stage>,
}

/// An opportunity to win.
#[derive(InputObject)]
pub struct WinOpportunityInput {
    /// The opportunity (open).
    pub opportunity_id: ID,
}

/// An opportunity to lose.
#[derive(InputObject)]
pub struct LoseOpportunityInput {
    /// The opportunity (open).
    pub opportunity_id: ID,
    /// Why it was lost: required.
    pub reason: String,
}

/// An opportunity to reopen.
#[derive(InputObject)]
pub struct ReopenOpportunityInput {
    /// The opportunity (won or lost).
    pub opportunity_id: ID,
    /// The stage it reopens in (its last one by default).
    pub stage_id: Option<ID>,
    /// Why (kept in the audit trail).
    pub reason: Option<String>,
}

/// An opportunity's new owner.
#[derive(InputObject)]
pub struct AssignOpportunityInput {
    /// The opportunity.
    pub opportunity_id: ID,
    /// The new owner.
    pub owner_id: ID,
}

fn to_minor(input: &MoneyInput, field: &str) -> Result<(i64, String)> {
    let amount = input
        .to_money()
        .map_err(|err| ApiError::bad_input(field, err.message(input.currency)))?;
    Ok((amount.minor(), amount.currency().code().to_owned()))
}

#[derive(Default)]
pub struct PipelineMutation;

#[Object]
impl PipelineMutation {
    /// Sets up a pipeline with its stages (`crm:admin`).
    #[graphql(requires_scopes = "crm:admin")]
    async fn create_pipeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The pipeline.")] input: CreatePipelineInput,
    ) -> Result<Pipeline> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .create_pipeline(
                &scope.viewer,
                NewPipeline {
                    name: input.name,
                    opportunity_type: input.opportunity_type,
                    stages: input.stages.into_iter().map(StageInput::spec).collect(),
                },
            )
            .await?;
        Ok(Pipeline { model, scope })
    }

    /// Adds a stage at the end of a pipeline (`crm:admin`).
    #[graphql(requires_scopes = "crm:admin")]
    async fn add_pipeline_stage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The pipeline and the stage.")] input: AddStageInput,
    ) -> Result<Stage> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .add_stage(&scope.viewer, &input.pipeline_id, input.stage.spec())
            .await?;
        Ok(Stage::new(model, scope))
    }

    /// Creates an opportunity for a client the caller sees; publishes
    /// `opportunity.created` and a live board move.
    #[graphql(requires_scopes = "crm:write")]
    async fn create_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity.")] input: CreateOpportunityInput,
    ) -> Result<Opportunity> {
        let scope = scope(ctx).await?;
        let (amount_minor, currency) = to_minor(&input.amount, "amount")?;
        let model = ctx
            .use_cases::<Crm>()?
            .create_opportunity(
                &scope.viewer,
                CreateOpportunity {
                    pipeline_id: input.pipeline_id.0,
                    stage_id: input.stage_id.map(|id| id.0),
                    client_id: input.client_id.0,
                    contact_id: input.contact_id.map(|id| id.0),
                    name: input.name,
                    amount_minor,
                    currency,
                    expected_close: input.expected_close.map(|d| d.0),
                    owner_id: input.owner_id.map(|id| id.0),
                },
            )
            .await?;
        Ok(Opportunity::new(model, scope))
    }

    /// Changes an open opportunity's name, amount or expected close (a won or lost one is
    /// CONFLICT, OPPORTUNITY_CLOSED).
    #[graphql(requires_scopes = "crm:write")]
    async fn update_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateOpportunityInput,
    ) -> Result<Opportunity> {
        let scope = scope(ctx).await?;
        let amount = input
            .amount
            .as_ref()
            .map(|amount| to_minor(amount, "amount"))
            .transpose()?;
        let model = ctx
            .use_cases::<Crm>()?
            .update_opportunity(
                &scope.viewer,
                &input.opportunity_id,
                OpportunityChanges {
                    name: input.name,
                    amount,
                    expected_close: input.expected_close.map(|d| d.map(|d| d.0)),
                },
                input.expected_version.map(i64::from),
            )
            .await?;
        Ok(Opportunity::new(model, scope))
    }

    /// Moves an open opportunity to another stage of its pipeline: audited, the totals
    /// follow, publishes `opportunity.stage_changed` and a live board move. A won or lost
    /// opportunity is CONFLICT (OPPORTUNITY_CLOSED); a stage of another pipeline
    /// BAD_USER_INPUT (STAGE_NOT_IN_PIPELINE).
    #[graphql(requires_scopes = "crm:write")]
    async fn move_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity and its new stage.")] input: MoveOpportunityInput,
    ) -> Result<MoveOpportunityPayload> {
        let scope = scope(ctx).await?;
        let (model, from) = ctx
            .use_cases::<Crm>()?
            .move_opportunity(
                &scope.viewer,
                &input.opportunity_id,
                &input.stage_id,
                input.expected_version.map(i64::from),
            )
            .await?;
        let from_stage = ctx
            .data_unchecked::<DataLoader<StageLoader>>()
            .load_one(TenantKey::new(&scope.viewer.tenant, &from))
            .await?
            .map(|stage| Stage::new(stage, scope.clone()));
        Ok(MoveOpportunityPayload {
            opportunity: Opportunity::new(model, scope),
            from_stage,
        })
    }

    /// Wins an open opportunity (terminal until reopened; audited); publishes
    /// `opportunity.won`, which PMO turns into a project for the client.
    #[graphql(requires_scopes = "crm:write")]
    async fn win_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity.")] input: WinOpportunityInput,
    ) -> Result<Opportunity> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .win_opportunity(&scope.viewer, &input.opportunity_id)
            .await?;
        Ok(Opportunity::new(model, scope))
    }

    /// Loses an open opportunity (terminal until reopened; audited); the reason is required
    /// (BAD_USER_INPUT, REASON_REQUIRED). Publishes `opportunity.lost`.
    #[graphql(requires_scopes = "crm:write")]
    async fn lose_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity and why it was lost.")] input: LoseOpportunityInput,
    ) -> Result<Opportunity> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .lose_opportunity(&scope.viewer, &input.opportunity_id, &input.reason)
            .await?;
        Ok(Opportunity::new(model, scope))
    }

    /// Reopens a won or lost opportunity: an explicit, audited transition (an open one is
    /// CONFLICT, OPPORTUNITY_NOT_CLOSED). Publishes `opportunity.reopened`.
    #[graphql(requires_scopes = "crm:write")]
    async fn reopen_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity, its stage and why.")] input: ReopenOpportunityInput,
    ) -> Result<Opportunity> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .reopen_opportunity(
                &scope.viewer,
                &input.opportunity_id,
                input.stage_id.as_ref().map(|id| id.as_str()),
                input.reason.as_deref(),
            )
            .await?;
        Ok(Opportunity::new(model, scope))
    }

    /// Gives an opportunity to another owner (the totals move with it).
    #[graphql(requires_scopes = "crm:write")]
    async fn assign_opportunity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The opportunity and its new owner.")] input: AssignOpportunityInput,
    ) -> Result<Opportunity> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .assign_opportunity(&scope.viewer, &input.opportunity_id, &input.owner_id)
            .await?;
        Ok(Opportunity::new(model, scope))
    }
}

/// What happened on the board.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum BoardChange {
    /// An opportunity was created.
    Created,
    /// It moved to another stage.
    Moved,
    /// Its name, amount or expected close changed.
    Updated,
    /// It was won (it leaves the board).
    Won,
    /// It was lost (it leaves the board).
    Lost,
    /// It was reopened (it is back on the board).
    Reopened,
    /// It was given to another owner.
    Reassigned,
}

impl BoardChange {
    fn from_message(text: &str) -> Option<Self> {
        Some(match text {
            "created" => Self::Created,
            "moved" => Self::Moved,
            "updated" => Self::Updated,
            "won" => Self::Won,
            "lost" => Self::Lost,
            "reopened" => Self::Reopened,
            "reassigned" => Self::Reassigned,
            _ => return None,
        })
    }
}

/// One change on a board, as a live subscriber receives it.
pub struct BoardEvent {
    message: BoardMove,
    change: BoardChange,
    scope: Scope,
}

/// One change on a board: a card created, moved, updated, won, lost, reopened or reassigned.
#[Object(requires_scopes = "crm:read")]
impl BoardEvent {
    /// What happened.
    async fn change(&self) -> BoardChange {
        self.change
    }

    /// The opportunity's id.
    async fn opportunity_id(&self) -> ID {
        ID(self.message.opportunity_id.clone())
    }

    /// The opportunity as it is now (null when the caller no longer sees it: given to
    /// someone outside their teams).
    async fn opportunity(&self, ctx: &Context<'_>) -> Result<Option<Opportunity>> {
        let found = ctx
            .data_unchecked::<DataLoader<OpportunityLoader>>()
            .load_one(TenantKey::new(
                &self.scope.viewer.tenant,
                &self.message.opportunity_id,
            ))
            .await?;
        Ok(found
            .filter(|o| self.scope.sees(Some(&o.owner_id)))
            .map(|model| Opportunity::new(model, self.scope.clone())))
    }

    /// The stage it left (a move, a reopen).
    async fn from_stage_id(&self) -> Option<ID> {
        self.message.from_stage_id.clone().map(ID)
    }

    /// The stage it is in now.
    async fn to_stage_id(&self) -> ID {
        ID(self.message.to_stage_id.clone())
    }

    /// The stage it is in now.
    async fn to_stage(&self, ctx: &Context<'_>) -> Result<Option<Stage>> {
        Ok(ctx
            .data_unchecked::<DataLoader<StageLoader>>()
            .load_one(TenantKey::new(
                &self.scope.viewer.tenant,
                &self.message.to_stage_id,
            ))
            .await?
            .map(|stage| Stage::new(stage, self.scope.clone())))
    }

    /// What it is worth now.
    async fn amount(&self) -> Result<Money> {
        money(self.message.amount_minor, &self.message.currency)
    }

    /// Its owner now.
    async fn owner_id(&self) -> ID {
        ID(self.message.owner_id.clone())
    }

    /// Who made the change.
    async fn actor_id(&self) -> ID {
        ID(self.message.actor.clone())
    }

    /// When.
    async fn at(&self) -> DateTime {
        DateTime::from(self.message.at)
    }
}

#[derive(Default)]
pub struct PipelineSubscription;

#[Subscription]
impl PipelineSubscription {
    /// The board's changes as they happen (from every replica, Redis pub/sub): cards created,
    /// moved, updated, won, lost, reopened, reassigned. Before each event the subscriber's
    /// token is checked again and so are the row rules (a change of an owner the caller does
    /// not see, now, is not sent).
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![vec!["crm:read".into()]]))]
    async fn pipeline_board(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The pipeline.")] pipeline_id: ID,
    ) -> Result<impl futures::Stream<Item = Result<BoardEvent>>> {
        let viewer = viewer(ctx)?;
        let identity = ctx.identity().clone();
        let crm = ctx.use_cases::<Crm>()?.clone();
        let messages = crm.board_moves(&viewer.tenant).await?;
        let events = messages
            .filter_map(move |bytes| {
                let crm = crm.clone();
                let viewer = viewer.clone();
                let pipeline_id = pipeline_id.clone();
                async move {
                    let message: BoardMove = serde_json::from_slice(&bytes).ok()?;
                    if message.pipeline_id != pipeline_id.0 {
                        return None;
                    }
                    let change = BoardChange::from_message(&message.change)?;
                    // The row rules, as they are now: the team may have changed.
                    let visibility = crm.visibility(&viewer).await.ok()?;
                    let seen = visibility.sees(Some(&message.owner_id))
                        || message
                            .previous_owner_id
                            .as_deref()
                            .is_some_and(|owner| visibility.sees(Some(owner)));
                    if !seen {
                        return None;
                    }
                    Some(BoardEvent {
                        message,
                        change,
                        scope: std::sync::Arc::new(ScopeData { viewer, visibility }),
                    })
                }
            })
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, events))
    }
}
