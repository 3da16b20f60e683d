//! Helpdesk teams and queues in GraphQL: teams of agents, queues routing tickets to a team by
//! category, priority and channel, assignment rules, availability and manual reassignment.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::scalars::DateTime;
use erp_kit::{ApiError, RequestContext};

use super::context::ops;
use super::helpdesk::{Ticket, TicketChannel, TicketPriority};
use crate::app::teams::{NewQueue, NewTeam};
use crate::domain::teams::{self as domain, Conditions};
use crate::domain::{optional_text, short_text};
use crate::store::{QueueDoc, TeamDoc};

/// How a queue assigns the tickets routed to it.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "TicketAssignmentRule")]
pub enum AssignmentRule {
    /// The team's available members take turns.
    RoundRobin,
    /// The available member with the fewest open tickets of the team (ties: the next in turn).
    LeastOpen,
    /// Nobody: tickets wait in the queue for an agent to take them.
    Manual,
}

impl From<AssignmentRule> for domain::AssignmentRule {
    fn from(rule: AssignmentRule) -> Self {
        match rule {
            AssignmentRule::RoundRobin => Self::RoundRobin,
            AssignmentRule::LeastOpen => Self::LeastOpen,
            AssignmentRule::Manual => Self::Manual,
        }
    }
}

impl From<domain::AssignmentRule> for AssignmentRule {
    fn from(rule: domain::AssignmentRule) -> Self {
        match rule {
            domain::AssignmentRule::RoundRobin => Self::RoundRobin,
            domain::AssignmentRule::LeastOpen => Self::LeastOpen,
            domain::AssignmentRule::Manual => Self::Manual,
        }
    }
}

/// A member of a helpdesk team.
#[derive(SimpleObject)]
pub struct HelpdeskTeamMember {
    /// The user the agent signs in as.
    pub user_id: ID,
    /// Their employee record, when given.
    pub employee_id: Option<ID>,
    /// Whether assignment may pick them now.
    pub available: bool,
}

/// A member of a helpdesk team.
#[derive(InputObject)]
pub struct HelpdeskTeamMemberInput {
    /// The user the agent signs in as.
    pub user_id: ID,
    /// Their employee record (a leaver is taken off the team by either).
    pub employee_id: Option<ID>,
    /// Whether assignment may pick them (default true).
    pub available: Option<bool>,
}

fn members_of(input: Vec<HelpdeskTeamMemberInput>) -> Result<Vec<domain::Member>, ApiError> {
    input
        .into_iter()
        .map(|member| {
            Ok(domain::Member {
                user_id: short_text("members.userId", &member.user_id, 100, "user id")?,
                employee_id: optional_text(
                    "members.employeeId",
                    member.employee_id.as_ref().map(|id| id.as_str()),
                    100,
                    "employee id",
                )?,
                available: member.available.unwrap_or(true),
            })
        })
        .collect()
}

/// A team of helpdesk agents.
pub struct HelpdeskTeam(pub TeamDoc);

/// A team of helpdesk agents.
#[Object]
impl HelpdeskTeam {
    /// The team's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Its members, in rotation order.
    async fn members(&self) -> Vec<HelpdeskTeamMember> {
        self.0
            .members
            .iter()
            .map(|member| HelpdeskTeamMember {
                user_id: ID(member.user_id.clone()),
                employee_id: member.employee_id.clone().map(ID),
                available: member.available,
            })
            .collect()
    }
    /// How many tickets its queues have assigned by rotation so far.
    async fn turns_taken(&self, ctx: &Context<'_>) -> Result<i64> {
        // Round-robin turns are counted apart (an atomic counter); least-open ones on the team.
        let tenant = ctx.tenant()?;
        let round_robin = ops(ctx)?.store.turns_taken(&tenant, &self.0.id).await?;
        Ok(i64::try_from(self.0.next_turn.saturating_add(round_robin)).unwrap_or(i64::MAX))
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
}

/// What a ticket must match to land in a queue (an empty list matches anything).
#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "QueueConditionsInput")]
pub struct QueueConditions {
    /// Ticket categories, compared case-insensitively.
    pub categories: Vec<String>,
    /// Ticket priorities.
    pub priorities: Vec<TicketPriority>,
    /// Ticket channels.
    pub channels: Vec<TicketChannel>,
}

/// A helpdesk queue.
pub struct HelpdeskQueue(pub QueueDoc);

/// A helpdesk queue: the tickets meeting its conditions go to its team, assigned by its rule.
#[Object]
impl HelpdeskQueue {
    /// The queue's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The team that works it.
    async fn team_id(&self) -> ID {
        ID(self.0.team_id.clone())
    }
    /// The team that works it.
    async fn team(&self, ctx: &Context<'_>) -> Result<Option<HelpdeskTeam>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?
            .helpdesk_team(&tenant, &self.0.team_id)
            .await?
            .map(HelpdeskTeam))
    }
    /// What a ticket must match to land in it.
    async fn conditions(&self) -> QueueConditions {
        let conditions = &self.0.conditions;
        QueueConditions {
            categories: conditions.categories.clone(),
            priorities: conditions.priorities.iter().map(|p| (*p).into()).collect(),
            channels: conditions.channels.iter().map(|c| (*c).into()).collect(),
        }
    }
    /// How it assigns its tickets.
    async fn assignment(&self) -> AssignmentRule {
        self.0.assignment.into()
    }
    /// Queues are tried by ascending position (then creation order); the first match wins.
    async fn position(&self) -> i32 {
        self.0.position
    }
}

/// A new team (`createHelpdeskTeam`).
#[derive(InputObject)]
pub struct CreateHelpdeskTeamInput {
    /// The name, 1 to 100 characters.
    pub name: String,
    /// Its members (at most 200, each user once), in rotation order.
    pub members: Vec<HelpdeskTeamMemberInput>,
}

/// A team's new member list (`setHelpdeskTeamMembers`).
#[derive(InputObject)]
pub struct SetHelpdeskTeamMembersInput {
    /// The team.
    pub team_id: ID,
    /// Its members (at most 200, each user once), in rotation order.
    pub members: Vec<HelpdeskTeamMemberInput>,
}

/// A new queue (`createHelpdeskQueue`).
#[derive(InputObject)]
pub struct CreateHelpdeskQueueInput {
    /// The name, 1 to 100 characters.
    pub name: String,
    /// The team that works it.
    pub team_id: ID,
    /// What a ticket must match (none: every ticket).
    pub conditions: Option<QueueConditions>,
    /// How it assigns its tickets (default ROUND_ROBIN).
    pub assignment: Option<AssignmentRule>,
    /// Its place in routing order (default 0; ties: the older queue first).
    pub position: Option<i32>,
}

/// An agent's availability (`setAgentAvailability`).
#[derive(InputObject)]
pub struct SetAgentAvailabilityInput {
    /// The team.
    pub team_id: ID,
    /// The member (default: the caller; another member needs `helpdesk:admin`).
    pub user_id: Option<ID>,
    /// Whether assignment may pick them.
    pub available: bool,
}

/// A reassignment (`assignTicket`).
#[derive(InputObject)]
pub struct AssignTicketInput {
    /// The ticket.
    pub ticket_id: ID,
    /// Move it to this queue (its team works it from then on).
    pub queue_id: Option<ID>,
    /// The member of its team who takes it; none: unassigned, waiting in its queue.
    pub assignee_id: Option<ID>,
}

/// Helpdesk teams and queues.
#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// The tenant's helpdesk teams, oldest first.
    #[graphql(requires_scopes = "helpdesk:read")]
    async fn helpdesk_teams(&self, ctx: &Context<'_>) -> Result<Vec<HelpdeskTeam>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?
            .helpdesk_teams(&tenant)
            .await?
            .into_iter()
            .map(HelpdeskTeam)
            .collect())
    }

    /// The tenant's helpdesk queues, in routing order.
    #[graphql(requires_scopes = "helpdesk:read")]
    async fn helpdesk_queues(&self, ctx: &Context<'_>) -> Result<Vec<HelpdeskQueue>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?
            .helpdesk_queues(&tenant)
            .await?
            .into_iter()
            .map(HelpdeskQueue)
            .collect())
    }
}

/// Changes to helpdesk teams, queues and assignments.
#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Creates a helpdesk team.
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn create_helpdesk_team(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The name and members.")] input: CreateHelpdeskTeamInput,
    ) -> Result<HelpdeskTeam> {
        let tenant = ctx.tenant()?;
        let new = NewTeam {
            name: short_text("name", &input.name, 100, "name")?,
            members: members_of(input.members)?,
        };
        Ok(HelpdeskTeam(ops(ctx)?.create_team(&tenant, new).await?))
    }

    /// Replaces a team's members (tickets already assigned stay with their agents).
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn set_helpdesk_team_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team and its members.")] input: SetHelpdeskTeamMembersInput,
    ) -> Result<HelpdeskTeam> {
        let tenant = ctx.tenant()?;
        let members = members_of(input.members)?;
        Ok(HelpdeskTeam(
            ops(ctx)?
                .set_team_members(&tenant, &input.team_id, members)
                .await?,
        ))
    }

    /// Creates a queue routing the tickets that meet its conditions to a team.
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn create_helpdesk_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The name, team, conditions, assignment rule and position.")]
        input: CreateHelpdeskQueueInput,
    ) -> Result<HelpdeskQueue> {
        let tenant = ctx.tenant()?;
        let conditions = match input.conditions {
            Some(given) => Conditions {
                categories: given
                    .categories
                    .iter()
                    .map(|category| short_text("conditions.categories", category, 100, "category"))
                    .collect::<Result<_, _>>()?,
                priorities: given.priorities.into_iter().map(Into::into).collect(),
                channels: given.channels.into_iter().map(Into::into).collect(),
            },
            None => Conditions::default(),
        };
        let new = NewQueue {
            name: short_text("name", &input.name, 100, "name")?,
            team_id: input.team_id.to_string(),
            conditions,
            assignment: input
                .assignment
                .unwrap_or(AssignmentRule::RoundRobin)
                .into(),
            position: input.position.unwrap_or(0),
        };
        Ok(HelpdeskQueue(ops(ctx)?.create_queue(&tenant, new).await?))
    }

    /// Marks a team member available for assignment or away: oneself, or anyone with
    /// `helpdesk:admin`.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn set_agent_availability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The team, the member and their availability.")]
        input: SetAgentAvailabilityInput,
    ) -> Result<HelpdeskTeam> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let user = input
            .user_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| claims.sub.clone());
        Ok(HelpdeskTeam(
            ops(ctx)?
                .set_agent_availability(&tenant, claims, &input.team_id, &user, input.available)
                .await?,
        ))
    }

    /// Moves a ticket the caller works to another queue and/or assigns it to a member of its
    /// team (none: back in its queue, unassigned). Publishes `ticket.assigned`.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn assign_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket, its queue and its assignee.")] input: AssignTicketInput,
    ) -> Result<Ticket> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Ticket(
            ops(ctx)?
                .assign_ticket(
                    &tenant,
                    claims,
                    &input.ticket_id,
                    input.queue_id.as_ref().map(|id| id.as_str()),
                    input.assignee_id.as_ref().map(|id| id.as_str()),
                )
                .await?,
        ))
    }
}
