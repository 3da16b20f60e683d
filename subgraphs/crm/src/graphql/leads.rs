//! Leads: capture (with the duplicate check, scoring and assignment), the lifecycle, the
//! conversion, activities, and the tenant's scoring and assignment rules.

use crate::app::Crm;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::ApiError;

use super::context::scope;
use super::duplicates::DuplicateCheck;
use super::objects::{
    instant, Activity, ActivityKind, Client, Lead, LeadSource, LeadStatus, Opportunity,
};
use crate::app::leads::{Conversion, LeadChanges, NewActivity, NewAssignmentRule, NewLead, Utm};
use crate::domain::lead::ScoringRule as DomainScoringRule;
use crate::store::entities::{assignment_rule, scoring_rule};
use crate::store::leads::{ActivitiesOf, LeadFilter};
use erp_kit::money::MoneyInput;
use erp_kit::scalars::{Date, DateTime};

/// Which leads a list shows.
#[derive(InputObject, Default)]
pub struct LeadsFilterInput {
    /// Only leads in this status.
    pub status: Option<LeadStatus>,
    /// Only this user's leads.
    pub owner_id: Option<ID>,
}

/// Whose activities to list: exactly one of the three.
#[derive(InputObject)]
pub struct ActivitiesFilterInput {
    /// A lead's.
    pub lead_id: Option<ID>,
    /// A client's.
    pub client_id: Option<ID>,
    /// An opportunity's.
    pub opportunity_id: Option<ID>,
}

impl ActivitiesFilterInput {
    fn of(self) -> Result<ActivitiesOf> {
        match (self.lead_id, self.client_id, self.opportunity_id) {
            (Some(id), None, None) => Ok(ActivitiesOf::Lead(id.0)),
            (None, Some(id), None) => Ok(ActivitiesOf::Client(id.0)),
            (None, None, Some(id)) => Ok(ActivitiesOf::Opportunity(id.0)),
            _ => Err(ApiError::bad_input(
                "filter",
                "name exactly one of leadId, clientId and opportunityId",
            )
            .into()),
        }
    }
}

/// What a scoring rule looks at.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::lead::ScoringCriterion")]
pub enum ScoringCriterion {
    /// The lead's source is `value` (a `LeadSource` name in lower case, e.g. `referral`).
    Source,
    /// `utm_source` is `value` (case-insensitive).
    UtmSource,
    /// `utm_medium` is `value` (case-insensitive).
    UtmMedium,
    /// `utm_campaign` is `value` (case-insensitive).
    UtmCampaign,
    /// The territory is `value` (case-insensitive).
    Territory,
    /// The lead has an e-mail address (no value).
    HasEmail,
    /// The lead has a phone number (no value).
    HasPhone,
    /// The e-mail address is on a company domain, not a free mail provider's (no value).
    BusinessEmail,
    /// The lead names its company (no value).
    HasCompany,
    /// Per activity of the kind `value` (an `ActivityKind` name in lower case, e.g. `meeting`).
    Activity,
}

/// How an assignment rule picks the owner of a new lead.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::lead::AssignmentStrategy")]
pub enum AssignmentStrategy {
    /// The members take turns.
    RoundRobin,
    /// For leads of the rule's territory only; its members take turns.
    Territory,
    /// The member with the fewest open leads, below the rule's capacity.
    Capacity,
}

/// A lead scoring rule.
pub struct ScoringRule(pub scoring_rule::Model);

/// A lead scoring rule: `points` when `criterion` holds.
#[Object(requires_scopes = "crm:read")]
impl ScoringRule {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// What it looks at.
    async fn criterion(&self) -> Option<ScoringCriterion> {
        crate::domain::lead::ScoringCriterion::from_db(&self.0.criterion).map(Into::into)
    }

    /// The value compared with, for the criteria that take one.
    async fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }

    /// Points added (or, negative, taken) when it holds.
    async fn points(&self) -> i32 {
        self.0.points
    }
}

/// A rule that assigns new leads.
pub struct AssignmentRule(pub assignment_rule::Model);

/// A rule that assigns new leads to owners (rules apply in priority order; the first that can
/// assign does).
#[Object(requires_scopes = "crm:read")]
impl AssignmentRule {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How it picks.
    async fn strategy(&self) -> Option<AssignmentStrategy> {
        crate::domain::lead::AssignmentStrategy::from_db(&self.0.strategy).map(Into::into)
    }

    /// The territory of a territory rule.
    async fn territory(&self) -> Option<&str> {
        self.0.territory.as_deref()
    }

    /// The users it assigns to, in turn order.
    async fn member_ids(&self) -> Vec<ID> {
        serde_json::from_str::<Vec<String>>(&self.0.members)
            .unwrap_or_default()
            .into_iter()
            .map(ID)
            .collect()
    }

    /// The most open leads a member of a capacity rule holds.
    async fn capacity(&self) -> Option<i32> {
        self.0.capacity
    }

    /// Lower first.
    async fn priority(&self) -> i32 {
        self.0.priority
    }

    /// When it was set up.
    async fn created_at(&self) -> DateTime {
        instant(self.0.created_at)
    }
}

#[derive(Default)]
pub struct LeadsQuery;

#[Object]
impl LeadsQuery {
    /// A lead the caller may see (null otherwise).
    #[graphql(requires_scopes = "crm:read")]
    async fn lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead's id.")] id: ID,
    ) -> Result<Option<Lead>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .lead(&scope.viewer, &id)
            .await?
            .map(|model| Lead::new(model, scope)))
    }

    /// The leads the caller may see (merged ones left out), oldest first, as a Relay
    /// connection.
    #[graphql(requires_scopes = "crm:read")]
    async fn leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which leads.")] filter: Option<LeadsFilterInput>,
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
    ) -> Result<Connection<String, Lead, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let scope = scope(ctx).await?;
        let filter = filter.unwrap_or_default();
        let rows = ctx
            .use_cases::<Crm>()?
            .leads(
                &scope.viewer,
                LeadFilter {
                    status: filter
                        .status
                        .map(|s| crate::domain::lead::LeadStatus::from(s).as_str().to_owned()),
                    owner_id: filter.owner_id.map(|id| id.0),
                    owners: None,
                },
                &page,
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|model| Lead::new(model, scope.clone()))
            .collect();
        Ok(connection_from_rows(&page, rows, |l| l.model.id.clone()))
    }

    /// The activities of one lead, client or opportunity the caller may see, oldest first.
    #[graphql(requires_scopes = "crm:read")]
    async fn activities(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose activities.")] filter: ActivitiesFilterInput,
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
    ) -> Result<Connection<String, Activity, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let scope = scope(ctx).await?;
        let rows = ctx
            .use_cases::<Crm>()?
            .activities(&scope.viewer, filter.of()?, &page)
            .await?;
        let rows = rows
            .into_iter()
            .map(|model| Activity {
                model,
                scope: scope.clone(),
            })
            .collect();
        Ok(connection_from_rows(&page, rows, |a| a.model.id.clone()))
    }

    /// The tenant's lead scoring rules.
    #[graphql(requires_scopes = "crm:read")]
    async fn scoring_rules(&self, ctx: &Context<'_>) -> Result<Vec<ScoringRule>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .scoring_rules(&scope.viewer)
            .await?
            .into_iter()
            .map(ScoringRule)
            .collect())
    }

    /// The tenant's lead assignment rules, in the order they apply.
    #[graphql(requires_scopes = "crm:read")]
    async fn assignment_rules(&self, ctx: &Context<'_>) -> Result<Vec<AssignmentRule>> {
        let scope = scope(ctx).await?;
        Ok(ctx
            .use_cases::<Crm>()?
            .assignment_rules(&scope.viewer)
            .await?
            .into_iter()
            .map(AssignmentRule)
            .collect())
    }
}

/// UTM parameters of the link a lead came through.
#[derive(InputObject, Default)]
pub struct UtmInput {
    /// `utm_source`.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
    /// `utm_term`.
    pub term: Option<String>,
    /// `utm_content`.
    pub content: Option<String>,
}

/// A new lead.
#[derive(InputObject)]
pub struct CreateLeadInput {
    /// The person's name, 1 to 200 characters.
    pub person_name: String,
    /// Their company.
    pub company_name: Option<String>,
    /// Their job title.
    pub title: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number (at least 7 digits).
    pub phone: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// How the lead came in (`OTHER` by default).
    pub source: Option<LeadSource>,
    /// The UTM parameters of the link it came through.
    pub utm: Option<UtmInput>,
    /// The sales territory (territory assignment rules match on it).
    pub territory: Option<String>,
    /// The owner; when omitted the assignment rules pick one, else the caller owns it.
    pub owner_id: Option<ID>,
    /// The id in the system the lead comes from (unique in the tenant).
    pub external_id: Option<String>,
}

/// A new lead and the records it may duplicate.
#[derive(SimpleObject)]
pub struct CreateLeadPayload {
    /// The lead created (scored, and owned by the one asked for or the assignment rules'
    /// pick).
    pub lead: Lead,
    /// Likely duplicates among leads and clients.
    pub duplicates: DuplicateCheck,
}

/// Changes to a lead (omitted fields stay; `null` clears an optional one).
#[derive(InputObject)]
pub struct UpdateLeadInput {
    /// The lead.
    pub lead_id: ID,
    /// A new name.
    pub person_name: Option<String>,
    /// A new company (`null` clears it).
    pub company_name: Option<Option<String>>,
    /// A new title (`null` clears it).
    pub title: Option<Option<String>>,
    /// A new e-mail address (`null` clears it).
    pub email: Option<Option<String>>,
    /// A new phone number (`null` clears it).
    pub phone: Option<Option<String>>,
    /// A new website (`null` clears it).
    pub website: Option<Option<String>>,
    /// A new territory (`null` clears it).
    pub territory: Option<Option<String>>,
}

/// A lead's next status.
#[derive(InputObject)]
pub struct ChangeLeadStatusInput {
    /// The lead.
    pub lead_id: ID,
    /// `CONTACTED`, `QUALIFIED`, `DISQUALIFIED` or (from disqualified) `NEW`; `CONVERTED` is
    /// `convertLead`.
    pub status: LeadStatus,
    /// Why: required to disqualify.
    pub reason: Option<String>,
}

/// How to convert a lead.
#[derive(InputObject)]
pub struct ConvertLeadInput {
    /// The lead (qualified).
    pub lead_id: ID,
    /// Attach the contact and the opportunity to this existing company instead of creating
    /// one.
    pub company_id: Option<ID>,
    /// The new company's name (the lead's company by default).
    pub company_name: Option<String>,
    /// The opportunity's pipeline.
    pub pipeline_id: ID,
    /// Its stage (the pipeline's first by default).
    pub stage_id: Option<ID>,
    /// Its name (`<company> – <person>` by default).
    pub opportunity_name: Option<String>,
    /// What it is worth.
    pub amount: MoneyInput,
    /// The day it is expected to close.
    pub expected_close: Option<Date>,
}

/// What a conversion made.
#[derive(SimpleObject)]
pub struct ConvertLeadPayload {
    /// The lead, now converted.
    pub lead: Lead,
    /// The company client (created, or the one attached to).
    pub client: Client,
    /// The contact person, working at the company.
    pub contact: Client,
    /// The opportunity, in its pipeline's stage.
    pub opportunity: Opportunity,
}

/// A lead's new owner.
#[derive(InputObject)]
pub struct AssignLeadInput {
    /// The lead.
    pub lead_id: ID,
    /// The new owner (the caller, their team or the people below them; anyone for
    /// `crm:admin`).
    pub owner_id: ID,
}

/// A new activity: on exactly one of a lead, a client and an opportunity.
#[derive(InputObject)]
pub struct LogActivityInput {
    /// What kind of touch.
    pub kind: ActivityKind,
    /// What it was about, 1 to 200 characters.
    pub subject: String,
    /// Notes.
    pub notes: Option<String>,
    /// When it is due.
    pub due_at: Option<DateTime>,
    /// Done already (a call made, a note written).
    pub done: Option<bool>,
    /// On this lead.
    pub lead_id: Option<ID>,
    /// On this client.
    pub client_id: Option<ID>,
    /// On this opportunity.
    pub opportunity_id: Option<ID>,
}

/// An activity to mark done.
#[derive(InputObject)]
pub struct CompleteActivityInput {
    /// The activity.
    pub activity_id: ID,
}

/// A new scoring rule.
#[derive(InputObject)]
pub struct CreateScoringRuleInput {
    /// What it looks at.
    pub criterion: ScoringCriterion,
    /// The value compared with (for the criteria that take one).
    pub value: Option<String>,
    /// Points when it holds: -1000 to 1000, not 0.
    pub points: i32,
}

/// A rule to delete.
#[derive(InputObject)]
pub struct DeleteRuleInput {
    /// The rule.
    pub rule_id: ID,
}

/// A new assignment rule.
#[derive(InputObject)]
pub struct CreateAssignmentRuleInput {
    /// Its name.
    pub name: String,
    /// How it picks.
    pub strategy: AssignmentStrategy,
    /// The territory (territory rules only).
    pub territory: Option<String>,
    /// The users it assigns to, in turn order (1 to 200).
    pub member_ids: Vec<ID>,
    /// The most open leads per member (capacity rules only): 1 to 100000.
    pub capacity: Option<i32>,
    /// Lower first (0 by default).
    pub priority: Option<i32>,
}

#[derive(Default)]
pub struct LeadsMutation;

#[Object]
impl LeadsMutation {
    /// Captures a lead: scored by the tenant's rules, owned by the one asked for, else by the
    /// assignment rules' pick, else by the caller; checked for duplicates. Publishes
    /// `lead.created`.
    #[graphql(requires_scopes = "crm:write")]
    async fn create_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new lead.")] input: CreateLeadInput,
    ) -> Result<CreateLeadPayload> {
        let scope = scope(ctx).await?;
        let utm = input.utm.unwrap_or_default();
        let (model, report) = ctx
            .use_cases::<Crm>()?
            .create_lead(
                &scope.viewer,
                NewLead {
                    person_name: input.person_name,
                    company_name: input.company_name,
                    title: input.title,
                    email: input.email,
                    phone: input.phone,
                    website: input.website,
                    source: input.source.map(Into::into),
                    utm: Utm {
                        source: utm.source,
                        medium: utm.medium,
                        campaign: utm.campaign,
                        term: utm.term,
                        content: utm.content,
                    },
                    territory: input.territory,
                    owner_id: input.owner_id.map(|id| id.0),
                    external_id: input.external_id,
                },
            )
            .await?;
        Ok(CreateLeadPayload {
            lead: Lead::new(model, scope.clone()),
            duplicates: DuplicateCheck::new(report, scope),
        })
    }

    /// Changes a lead's details (rescored). A converted lead is CONFLICT
    /// (LEAD_ALREADY_CONVERTED).
    #[graphql(requires_scopes = "crm:write")]
    async fn update_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateLeadInput,
    ) -> Result<Lead> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .update_lead(
                &scope.viewer,
                &input.lead_id,
                LeadChanges {
                    person_name: input.person_name,
                    company_name: input.company_name,
                    title: input.title,
                    email: input.email,
                    phone: input.phone,
                    website: input.website,
                    territory: input.territory,
                },
            )
            .await?;
        Ok(Lead::new(model, scope))
    }

    /// Moves a lead along `NEW -> CONTACTED -> QUALIFIED`, to `DISQUALIFIED` (a reason is
    /// required: BAD_USER_INPUT with REASON_REQUIRED) or back to `NEW`. Audited. Other
    /// changes are CONFLICT (LEAD_TRANSITION_NOT_ALLOWED, LEAD_ALREADY_CONVERTED).
    #[graphql(requires_scopes = "crm:write")]
    async fn change_lead_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead, its next status and the reason.")] input: ChangeLeadStatusInput,
    ) -> Result<Lead> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .change_lead_status(
                &scope.viewer,
                &input.lead_id,
                input.status.into(),
                input.reason.as_deref(),
            )
            .await?;
        Ok(Lead::new(model, scope))
    }

    /// Converts a qualified lead into a client company (or attaches it to an existing one), a
    /// contact person and an opportunity, all in one transaction. Converting twice is
    /// CONFLICT (LEAD_ALREADY_CONVERTED).
    #[graphql(requires_scopes = "crm:write")]
    async fn convert_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead and what to make of it.")] input: ConvertLeadInput,
    ) -> Result<ConvertLeadPayload> {
        let scope = scope(ctx).await?;
        let amount = input
            .amount
            .to_money()
            .map_err(|err| ApiError::bad_input("amount", err.message(input.amount.currency)))?;
        let converted = ctx
            .use_cases::<Crm>()?
            .convert_lead(
                &scope.viewer,
                &input.lead_id,
                Conversion {
                    company_id: input.company_id.map(|id| id.0),
                    company_name: input.company_name,
                    pipeline_id: input.pipeline_id.0,
                    stage_id: input.stage_id.map(|id| id.0),
                    opportunity_name: input.opportunity_name,
                    amount_minor: amount.minor(),
                    currency: amount.currency().code().to_owned(),
                    expected_close: input.expected_close.map(|d| d.0),
                },
            )
            .await?;
        Ok(ConvertLeadPayload {
            lead: Lead::new(converted.lead, scope.clone()),
            client: Client::new(converted.company, scope.clone()),
            contact: Client::new(converted.contact, scope.clone()),
            opportunity: Opportunity::new(converted.opportunity, scope),
        })
    }

    /// Gives a lead to another owner.
    #[graphql(requires_scopes = "crm:write")]
    async fn assign_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead and its new owner.")] input: AssignLeadInput,
    ) -> Result<Lead> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .assign_lead(&scope.viewer, &input.lead_id, &input.owner_id)
            .await?;
        Ok(Lead::new(model, scope))
    }

    /// Logs a call, e-mail, meeting, task or note on a lead, client or opportunity (a lead's
    /// score follows its activities).
    #[graphql(requires_scopes = "crm:write")]
    async fn log_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The activity.")] input: LogActivityInput,
    ) -> Result<Activity> {
        let scope = scope(ctx).await?;
        let of = ActivitiesFilterInput {
            lead_id: input.lead_id,
            client_id: input.client_id,
            opportunity_id: input.opportunity_id,
        }
        .of()?;
        let model = ctx
            .use_cases::<Crm>()?
            .log_activity(
                &scope.viewer,
                NewActivity {
                    kind: input.kind.into(),
                    subject: input.subject,
                    notes: input.notes,
                    due_at_ms: input.due_at.map(|at| at.timestamp_millis()),
                    done: input.done.unwrap_or(false),
                    of,
                },
            )
            .await?;
        Ok(Activity { model, scope })
    }

    /// Marks an activity done.
    #[graphql(requires_scopes = "crm:write")]
    async fn complete_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The activity.")] input: CompleteActivityInput,
    ) -> Result<Activity> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .complete_activity(&scope.viewer, &input.activity_id)
            .await?;
        Ok(Activity { model, scope })
    }

    /// Adds a lead scoring rule (`crm:admin`).
    #[graphql(requires_scopes = "crm:admin")]
    async fn create_scoring_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule.")] input: CreateScoringRuleInput,
    ) -> Result<ScoringRule> {
        let scope = scope(ctx).await?;
        Ok(ScoringRule(
            ctx.use_cases::<Crm>()?
                .create_scoring_rule(
                    &scope.viewer,
                    DomainScoringRule {
                        criterion: input.criterion.into(),
                        value: input
                            .value
                            .map(|v| v.trim().to_owned())
                            .filter(|v| !v.is_empty()),
                        points: input.points,
                    },
                )
                .await?,
        ))
    }

    /// Deletes a lead scoring rule (`crm:admin`); true when deleted.
    #[graphql(requires_scopes = "crm:admin")]
    async fn delete_scoring_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule.")] input: DeleteRuleInput,
    ) -> Result<bool> {
        let scope = scope(ctx).await?;
        ctx.use_cases::<Crm>()?
            .delete_scoring_rule(&scope.viewer, &input.rule_id)
            .await?;
        Ok(true)
    }

    /// Adds a lead assignment rule (`crm:admin`).
    #[graphql(requires_scopes = "crm:admin")]
    async fn create_assignment_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule.")] input: CreateAssignmentRuleInput,
    ) -> Result<AssignmentRule> {
        let scope = scope(ctx).await?;
        Ok(AssignmentRule(
            ctx.use_cases::<Crm>()?
                .create_assignment_rule(
                    &scope.viewer,
                    NewAssignmentRule {
                        name: input.name,
                        strategy: input.strategy.into(),
                        territory: input.territory,
                        members: input.member_ids.into_iter().map(|id| id.0).collect(),
                        capacity: input.capacity,
                        priority: input.priority.unwrap_or(0),
                    },
                )
                .await?,
        ))
    }

    /// Deletes a lead assignment rule (`crm:admin`); true when deleted.
    #[graphql(requires_scopes = "crm:admin")]
    async fn delete_assignment_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule.")] input: DeleteRuleInput,
    ) -> Result<bool> {
        let scope = scope(ctx).await?;
        ctx.use_cases::<Crm>()?
            .delete_assignment_rule(&scope.viewer, &input.rule_id)
            .await?;
        Ok(true)
    }
}
