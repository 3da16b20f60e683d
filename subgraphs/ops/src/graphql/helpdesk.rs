//! The helpdesk in GraphQL: tickets with replies, status changes and merges, their three SLA
//! targets (due times in business time, computed from the current policy), and the SLA policy
//! of each priority with its business calendar.

use std::collections::BTreeSet;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{NaiveTime, Timelike, Utc};

use erp_kit::authz::authenticated;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime, TimeOfDay, TimeZone};
use erp_kit::{ApiError, RequestContext};

use super::context::ops;
use super::loaders::{priority_key, SlaPolicyLoader};
use crate::app::helpdesk::{NewSlaPolicy, NewTicket};
use crate::app::teams::HelpdeskViewer;
use crate::domain::helpdesk::{self as domain, TicketStatus as Status};
use crate::domain::sla::{BusinessCalendar, Clock, ClockState, DayHours};
use crate::domain::{optional_text, short_text};
use crate::store::{NoteDoc, ReplyDoc, SlaPolicyDoc, TicketDoc};
use async_graphql::dataloader::DataLoader;
use erp_kit::loaders::TenantKey;

/// The scope that makes a caller an agent (replies meet the first response).
const AGENT_SCOPE: &str = "helpdesk:write";

/// Where a ticket is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TicketStatus {
    /// Not answered yet.
    New,
    /// Being worked on.
    Open,
    /// Waiting on the customer or a third party: the SLA clocks are paused.
    Pending,
    /// Solved; it may be reopened.
    Resolved,
    /// Final.
    Closed,
    /// Merged into another ticket: final, no replies.
    Merged,
}

impl From<Status> for TicketStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::New => Self::New,
            Status::Open => Self::Open,
            Status::Pending => Self::Pending,
            Status::Resolved => Self::Resolved,
            Status::Closed => Self::Closed,
            Status::Merged => Self::Merged,
        }
    }
}

impl From<TicketStatus> for Status {
    fn from(status: TicketStatus) -> Self {
        match status {
            TicketStatus::New => Self::New,
            TicketStatus::Open => Self::Open,
            TicketStatus::Pending => Self::Pending,
            TicketStatus::Resolved => Self::Resolved,
            TicketStatus::Closed => Self::Closed,
            TicketStatus::Merged => Self::Merged,
        }
    }
}

/// How urgent a ticket is; SLA policies are set per priority.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TicketPriority {
    /// Low.
    Low,
    /// Normal.
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

impl From<domain::Priority> for TicketPriority {
    fn from(priority: domain::Priority) -> Self {
        match priority {
            domain::Priority::Low => Self::Low,
            domain::Priority::Normal => Self::Normal,
            domain::Priority::High => Self::High,
            domain::Priority::Urgent => Self::Urgent,
        }
    }
}

impl From<TicketPriority> for domain::Priority {
    fn from(priority: TicketPriority) -> Self {
        match priority {
            TicketPriority::Low => Self::Low,
            TicketPriority::Normal => Self::Normal,
            TicketPriority::High => Self::High,
            TicketPriority::Urgent => Self::Urgent,
        }
    }
}

/// How a ticket came in.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TicketChannel {
    /// The self-service portal.
    Portal,
    /// An e-mail (through the inbound adapter).
    Email,
    /// The API.
    Api,
}

impl From<TicketChannel> for domain::Channel {
    fn from(channel: TicketChannel) -> Self {
        match channel {
            TicketChannel::Portal => Self::Portal,
            TicketChannel::Email => Self::Email,
            TicketChannel::Api => Self::Api,
        }
    }
}

impl From<domain::Channel> for TicketChannel {
    fn from(channel: domain::Channel) -> Self {
        match channel {
            domain::Channel::Portal => Self::Portal,
            domain::Channel::Email => Self::Email,
            domain::Channel::Api => Self::Api,
        }
    }
}

/// Where an SLA target is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SlaTargetState {
    /// The clock runs.
    Running,
    /// The ticket is pending: the clock is paused.
    Paused,
    /// Met in time.
    Met,
    /// Past its due time (met late, or not met).
    Breached,
}

/// A day of the week.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

/// One SLA target of a ticket.
#[derive(SimpleObject)]
pub struct SlaTarget {
    /// The target, in business minutes.
    pub target_minutes: i32,
    /// When it is due (none while paused, once met or closed).
    pub due_at: Option<DateTime>,
    /// When it was met.
    pub met_at: Option<DateTime>,
    /// Running, paused, met or breached, now.
    pub state: SlaTargetState,
    /// Business minutes paused so far (kept across policy changes).
    pub paused_minutes: i32,
    /// Whether its breach has fired (`sla.breached`, once per target and ticket).
    pub breach_fired: bool,
}

fn target(clock: &Clock, minutes: u32, calendar: &BusinessCalendar) -> SlaTarget {
    let state = match clock.state(Utc::now(), minutes, calendar) {
        ClockState::Running => SlaTargetState::Running,
        ClockState::Paused => SlaTargetState::Paused,
        ClockState::Met => SlaTargetState::Met,
        ClockState::Breached => SlaTargetState::Breached,
    };
    SlaTarget {
        target_minutes: minutes as i32,
        due_at: clock.due_at(minutes, calendar).map(DateTime::from),
        met_at: clock.met_at.map(DateTime::from),
        state,
        paused_minutes: (clock.paused_seconds / 60) as i32,
        breach_fired: clock.breach_fired,
    }
}

/// A ticket's three SLA targets under its priority's policy.
#[derive(SimpleObject)]
pub struct TicketSla {
    /// The first reply by an agent.
    pub first_response: SlaTarget,
    /// An agent's next reply after each reply.
    pub update: SlaTarget,
    /// The resolution.
    pub resolution: SlaTarget,
}

/// A file attached to a ticket or a reply (an e-mail's attachment).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct TicketAttachment {
    /// Its file name, as the message gave it.
    pub name: String,
    /// Its media type, as the message declared it.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// The SHA-256 of its bytes, hex: its key in object storage.
    pub sha256: String,
    #[graphql(skip)]
    stored: crate::store::AttachmentRef,
}

impl From<&crate::store::AttachmentRef> for TicketAttachment {
    fn from(attachment: &crate::store::AttachmentRef) -> Self {
        Self {
            name: attachment.name.clone(),
            content_type: attachment.content_type.clone(),
            size: i64::try_from(attachment.size).unwrap_or(i64::MAX),
            sha256: attachment.sha256.clone(),
            stored: attachment.clone(),
        }
    }
}

/// A signed download URL of a ticket attachment.
#[derive(SimpleObject)]
pub struct TicketAttachmentUrl {
    /// The path on the operations subgraph (through the router: the same path at the edge),
    /// with the file's name and type, its expiry and signature. `GET` it with no token.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime,
}

#[async_graphql::ComplexObject]
impl TicketAttachment {
    /// A signed URL to download the file; it stops working after `expiresInSeconds` (1 to
    /// 86400, default 300). Only a caller who can read the ticket reaches it.
    async fn download_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How long the URL works, in seconds (1 to 86400).",
            default = 300
        )]
        expires_in_seconds: i32,
    ) -> Result<TicketAttachmentUrl> {
        let tenant = ctx.tenant()?;
        let signed = ops(ctx)?.attachment_download_url(
            &tenant,
            &self.stored,
            i64::from(expires_in_seconds),
            Utc::now(),
        )?;
        Ok(TicketAttachmentUrl {
            url: signed.path,
            expires_at: DateTime::from(signed.expires_at),
        })
    }
}

/// A helpdesk ticket.
pub struct Ticket(pub TicketDoc);

/// A helpdesk ticket.
#[Object]
impl Ticket {
    /// The ticket's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The subject.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// What the requester wrote.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// How it came in.
    async fn channel(&self) -> TicketChannel {
        self.0.channel.into()
    }
    /// What it is about, as the requester chose it (queues route by it).
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    /// The queue it was routed to (none: no queue's conditions matched).
    async fn queue_id(&self) -> Option<ID> {
        self.0.queue_id.clone().map(ID)
    }
    /// The team that works it (its queue's).
    async fn team_id(&self) -> Option<ID> {
        self.0.team_id.clone().map(ID)
    }
    /// The agent (user) it is assigned to; none while it waits in its queue.
    async fn assignee_id(&self) -> Option<ID> {
        self.0.assignee_id.clone().map(ID)
    }
    /// How urgent it is.
    async fn priority(&self) -> TicketPriority {
        self.0.priority.into()
    }
    /// Where it is.
    async fn status(&self) -> TicketStatus {
        self.0.status.into()
    }
    /// The user who opened it.
    async fn requester_id(&self) -> ID {
        ID(self.0.requester_id.clone())
    }
    /// The asset it is about.
    async fn asset_id(&self) -> Option<ID> {
        self.0.asset_id.clone().map(ID)
    }
    /// The CRM client it is for.
    async fn client_id(&self) -> Option<ID> {
        self.0.client_id.clone().map(ID)
    }
    /// The ticket it was merged into.
    async fn merged_into_id(&self) -> Option<ID> {
        self.0.merged_into.clone().map(ID)
    }
    /// The ticket it was split from (`splitTicket`).
    async fn split_from_id(&self) -> Option<ID> {
        self.0.split_from.clone().map(ID)
    }
    /// The tickets split from it, oldest first.
    async fn split_into_ids(&self) -> Vec<ID> {
        self.0.split_into.iter().cloned().map(ID).collect()
    }
    /// The files its opening message carried (an e-mail's attachments).
    async fn attachments(&self) -> Vec<TicketAttachment> {
        self.0
            .attachments
            .iter()
            .map(TicketAttachment::from)
            .collect()
    }
    /// When it was opened.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
    /// Its SLA targets under the current policy of its priority (none without a policy).
    async fn sla(&self, ctx: &Context<'_>) -> Result<Option<TicketSla>> {
        let tenant = ctx.tenant()?;
        let key = TenantKey::new(&tenant, &priority_key(self.0.priority));
        let Some((policy, calendar)) = ctx
            .data::<DataLoader<SlaPolicyLoader>>()?
            .load_one(key)
            .await?
        else {
            return Ok(None);
        };
        let clocks = &self.0.clocks;
        Ok(Some(TicketSla {
            first_response: target(
                &clocks.first_response,
                policy.first_response_minutes,
                &calendar,
            ),
            update: target(&clocks.update, policy.update_minutes, &calendar),
            resolution: target(&clocks.resolution, policy.resolution_minutes, &calendar),
        }))
    }
    /// Its internal notes (agents only), oldest first, as a Relay connection.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn notes(
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
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, TicketNote, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        notes_of(ctx, &self.0.id, page).await
    }
    /// Its replies, oldest first, as a Relay connection.
    async fn replies(
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
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, TicketReply, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?.ticket_replies(&tenant, &self.0.id, &page).await?;
        let rows = rows.into_iter().map(TicketReply).collect();
        Ok(connection_from_rows(&page, rows, |r| r.0.id.clone()))
    }
}

/// A reply on a ticket.
pub struct TicketReply(pub ReplyDoc);

/// A reply on a ticket.
#[Object]
impl TicketReply {
    /// The reply's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Who wrote it.
    async fn author_id(&self) -> ID {
        ID(self.0.author_id.clone())
    }
    /// What they wrote.
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Whether an agent (not the requester) wrote it.
    async fn by_agent(&self) -> bool {
        self.0.by_agent
    }
    /// When.
    async fn at(&self) -> DateTime {
        DateTime::from(self.0.at)
    }
    /// The files it carried (an e-mail's attachments).
    async fn attachments(&self) -> Vec<TicketAttachment> {
        self.0
            .attachments
            .iter()
            .map(TicketAttachment::from)
            .collect()
    }
}

/// Business hours of one weekday.
#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "BusinessHoursInput")]
pub struct BusinessHours {
    /// The day.
    pub weekday: Weekday,
    /// The first minute in business time.
    pub start: TimeOfDay,
    /// The first minute after it (`00:00` is the end of the day).
    pub end: TimeOfDay,
}

/// An internal note on a ticket (agents only).
pub struct TicketNote(pub NoteDoc);

/// An internal note on a ticket, seen by agents only.
#[Object]
impl TicketNote {
    /// The note's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The agent who wrote it.
    async fn author_id(&self) -> ID {
        ID(self.0.author_id.clone())
    }
    /// What it says.
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// When.
    async fn at(&self) -> DateTime {
        DateTime::from(self.0.at)
    }
}

/// The SLA policy of one priority.
pub struct SlaPolicy(pub SlaPolicyDoc);

fn time_of(minute: u16) -> TimeOfDay {
    let minute = u32::from(minute % 1440);
    TimeOfDay(NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN))
}

/// The SLA policy of one priority.
#[Object]
impl SlaPolicy {
    /// The priority it applies to.
    async fn priority(&self) -> TicketPriority {
        self.0.priority.into()
    }
    /// The calendar's time zone.
    async fn time_zone(&self) -> Result<TimeZone> {
        TimeZone::parse(&self.0.time_zone)
            .ok_or_else(|| ApiError::internal("a stored unknown time zone").into())
    }
    /// The business hours of each weekday (no entry: a day off).
    async fn weekly_hours(&self) -> Vec<BusinessHours> {
        self.0
            .weekly_hours
            .iter()
            .zip(WEEKDAYS)
            .flat_map(|(hours, weekday)| {
                hours.iter().map(move |&(start, end)| BusinessHours {
                    weekday,
                    start: time_of(start),
                    end: time_of(end),
                })
            })
            .collect()
    }
    /// Days with no business time.
    async fn holidays(&self) -> Vec<Date> {
        self.0.holidays.iter().copied().map(Date::from).collect()
    }
    /// The first-response target, in business minutes.
    async fn first_response_minutes(&self) -> i32 {
        self.0.first_response_minutes as i32
    }
    /// The update target, in business minutes.
    async fn update_minutes(&self) -> i32 {
        self.0.update_minutes as i32
    }
    /// The resolution target, in business minutes.
    async fn resolution_minutes(&self) -> i32 {
        self.0.resolution_minutes as i32
    }
}

/// A new ticket (`createTicket`).
#[derive(InputObject)]
pub struct CreateTicketInput {
    /// The subject, 1 to 200 characters.
    pub subject: String,
    /// What happened, 1 to 10,000 characters.
    pub description: String,
    /// How it came in (default API).
    pub channel: Option<TicketChannel>,
    /// How urgent it is (default NORMAL).
    pub priority: Option<TicketPriority>,
    /// The asset it is about.
    pub asset_id: Option<ID>,
    /// The CRM client it is for.
    pub client_id: Option<ID>,
    /// What it is about (1 to 100 characters): queues route by it.
    pub category: Option<String>,
}

/// A reply (`replyToTicket`).
#[derive(InputObject)]
pub struct ReplyToTicketInput {
    /// The ticket.
    pub ticket_id: ID,
    /// The reply, 1 to 10,000 characters.
    pub body: String,
}

/// A status change (`changeTicketStatus`).
#[derive(InputObject)]
pub struct ChangeTicketStatusInput {
    /// The ticket.
    pub ticket_id: ID,
    /// The new status (not MERGED: see `mergeTicket`).
    pub status: TicketStatus,
}

/// A merge (`mergeTicket`).
#[derive(InputObject)]
pub struct MergeTicketInput {
    /// The ticket that is merged (it becomes final).
    pub ticket_id: ID,
    /// The ticket it is merged into.
    pub into_ticket_id: ID,
}

/// A split (`splitTicket`).
#[derive(InputObject)]
pub struct SplitTicketInput {
    /// The ticket whose replies move.
    pub ticket_id: ID,
    /// The replies that move to the new ticket: 1 to 100 of this ticket's, none twice.
    pub reply_ids: Vec<ID>,
    /// The new ticket's subject, 1 to 200 characters.
    pub subject: String,
}

/// What a split did.
#[derive(SimpleObject)]
pub struct SplitTicketPayload {
    /// The ticket split (the replies moved are no longer on it).
    pub ticket: Ticket,
    /// The new ticket, linked to it, with the replies moved; its SLA started at the split.
    pub split_ticket: Ticket,
}

/// An SLA policy (`setSlaPolicy`).
#[derive(InputObject)]
pub struct SetSlaPolicyInput {
    /// The priority it applies to (replaces that priority's policy).
    pub priority: TicketPriority,
    /// The calendar's time zone.
    pub time_zone: TimeZone,
    /// Business hours: ranges per weekday, ascending and not overlapping.
    pub weekly_hours: Vec<BusinessHours>,
    /// Days with no business time.
    pub holidays: Option<Vec<Date>>,
    /// The first-response target, 1 to 525600 business minutes.
    pub first_response_minutes: i32,
    /// The update target, 1 to 525600 business minutes.
    pub update_minutes: i32,
    /// The resolution target, 1 to 525600 business minutes.
    pub resolution_minutes: i32,
}

/// What a reply did.
#[derive(SimpleObject)]
pub struct ReplyToTicketPayload {
    /// The reply.
    pub reply: TicketReply,
    /// The ticket after it.
    pub ticket: Ticket,
}

/// How many tickets are in one status.
#[derive(SimpleObject)]
pub struct TicketCount {
    /// The status.
    pub status: TicketStatus,
    /// How many tickets the caller sees in it.
    pub count: i32,
}

/// The helpdesk.
#[derive(Default)]
pub struct HelpdeskQuery;

#[Object]
impl HelpdeskQuery {
    /// One ticket of the caller's tenant that the caller sees: a helpdesk admin any, an agent
    /// the unrouted ones and those of their teams' queues.
    #[graphql(requires_scopes = "helpdesk:read")]
    async fn ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket's id.")] id: ID,
    ) -> Result<Option<Ticket>> {
        let tenant = ctx.tenant()?;
        let viewer = HelpdeskViewer::of(ctx.claims()?);
        Ok(ops(ctx)?
            .visible_ticket(&tenant, &viewer, &id)
            .await?
            .map(Ticket))
    }

    /// How many tickets the caller sees, by status (statuses with none left out).
    #[graphql(requires_scopes = "helpdesk:read")]
    async fn ticket_counts(&self, ctx: &Context<'_>) -> Result<Vec<TicketCount>> {
        let tenant = ctx.tenant()?;
        let viewer = HelpdeskViewer::of(ctx.claims()?);
        Ok(ops(ctx)?
            .ticket_counts(&tenant, &viewer)
            .await?
            .into_iter()
            .map(|(status, count)| TicketCount {
                status: status.into(),
                count: count as i32,
            })
            .collect())
    }

    /// The tickets the caller sees (a helpdesk admin every ticket, an agent the unrouted ones
    /// and those of their teams' queues), oldest first, as a Relay connection.
    #[graphql(requires_scopes = "helpdesk:read")]
    #[allow(clippy::too_many_arguments)]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tickets in this status.")] status: Option<TicketStatus>,
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
    ) -> Result<Connection<String, Ticket, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let viewer = HelpdeskViewer::of(ctx.claims()?);
        let rows = ops(ctx)?
            .visible_tickets(&tenant, &viewer, status.map(Into::into), &page)
            .await?;
        let rows = rows.into_iter().map(Ticket).collect();
        Ok(connection_from_rows(&page, rows, |t| t.0.id.clone()))
    }

    /// The SLA policy of a priority (none when it has none).
    #[graphql(requires_scopes = "helpdesk:read")]
    async fn sla_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The priority.")] priority: TicketPriority,
    ) -> Result<Option<SlaPolicy>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?
            .sla_policy(&tenant, priority.into())
            .await?
            .map(|(policy, _)| SlaPolicy(policy)))
    }
}

fn minutes(field: &str, minutes: i32) -> Result<u32, ApiError> {
    u32::try_from(minutes)
        .map_err(|_| ApiError::bad_input(field, "a target is 1 to 525600 minutes"))
}

/// Changes to tickets and SLA policies.
#[derive(Default)]
pub struct HelpdeskMutation;

#[Object]
impl HelpdeskMutation {
    /// Opens a ticket requested by the caller; its SLA clocks start. Publishes
    /// `ticket.created`.
    #[graphql(requires_scopes = "helpdesk:submit")]
    async fn create_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The subject, description, channel, priority and links.")]
        input: CreateTicketInput,
    ) -> Result<Ticket> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let new = NewTicket {
            subject: short_text("subject", &input.subject, 200, "subject")?,
            description: short_text("description", &input.description, 10_000, "description")?,
            channel: input.channel.unwrap_or(TicketChannel::Api).into(),
            category: optional_text("category", input.category.as_deref(), 100, "category")?,
            priority: input.priority.unwrap_or(TicketPriority::Normal).into(),
            asset_id: optional_text(
                "assetId",
                input.asset_id.as_ref().map(|id| id.as_str()),
                100,
                "asset id",
            )?,
            client_id: optional_text(
                "clientId",
                input.client_id.as_ref().map(|id| id.as_str()),
                100,
                "client id",
            )?,
        };
        Ok(Ticket(ops(ctx)?.create_ticket(&tenant, claims, new).await?))
    }

    /// Replies on a ticket: its requester, or an agent (`helpdesk:write`), whose reply meets
    /// the first response and restarts the update target. Never on a merged or closed ticket.
    #[graphql(directive = authenticated::apply())]
    async fn reply_to_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and the reply.")] input: ReplyToTicketInput,
    ) -> Result<ReplyToTicketPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let body = short_text("body", &input.body, 10_000, "reply")?;
        let is_agent = claims.permissions.iter().any(|scope| scope == AGENT_SCOPE);
        let (ticket, reply) = ops(ctx)?
            .reply_to_ticket(&tenant, claims, &input.ticket_id, body, is_agent)
            .await?;
        Ok(ReplyToTicketPayload {
            reply: TicketReply(reply),
            ticket: Ticket(ticket),
        })
    }

    /// Moves a ticket: new -> open -> pending -> resolved -> closed (reopen from resolved);
    /// pending pauses its SLA clocks. Publishes `ticket.status_changed`.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn change_ticket_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and its new status.")] input: ChangeTicketStatusInput,
    ) -> Result<Ticket> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Ticket(
            ops(ctx)?
                .change_ticket_status(&tenant, claims, &input.ticket_id, input.status.into())
                .await?,
        ))
    }

    /// Merges a ticket into another: it becomes final and never escalates. Publishes
    /// `ticket.merged`.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn merge_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket and the one it is merged into.")] input: MergeTicketInput,
    ) -> Result<Ticket> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        Ok(Ticket(
            ops(ctx)?
                .merge_ticket(&tenant, claims, &input.ticket_id, &input.into_ticket_id)
                .await?,
        ))
    }

    /// Splits a ticket: the replies named move to a new ticket linked to it (same requester,
    /// priority, category, client, asset, queue, team and assignee; its description is the
    /// first reply moved) whose SLA clocks start now. Never on a closed or merged ticket.
    /// Publishes `ticket.split` and the new ticket's `ticket.created`.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn split_ticket(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket, the replies that move and the new subject.")]
        input: SplitTicketInput,
    ) -> Result<SplitTicketPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let subject = short_text("subject", &input.subject, 200, "subject")?;
        let reply_ids: Vec<String> = input.reply_ids.into_iter().map(|id| id.0).collect();
        let (ticket, split) = ops(ctx)?
            .split_ticket(&tenant, claims, &input.ticket_id, &reply_ids, subject)
            .await?;
        Ok(SplitTicketPayload {
            ticket: Ticket(ticket),
            split_ticket: Ticket(split),
        })
    }

    /// Sets the SLA policy of a priority: its business calendar and its three targets. The
    /// open tickets of that priority get their due times from it at once.
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn set_sla_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The priority, calendar and targets.")] input: SetSlaPolicyInput,
    ) -> Result<SlaPolicy> {
        let tenant = ctx.tenant()?;
        let mut week: [DayHours; 7] = Default::default();
        for hours in &input.weekly_hours {
            let day = WEEKDAYS
                .iter()
                .position(|weekday| *weekday == hours.weekday)
                .unwrap_or(0);
            let minute = |time: &TimeOfDay| (time.0.hour() * 60 + time.0.minute()) as u16;
            let end = match minute(&hours.end) {
                0 => 1440,
                end => end,
            };
            week[day].push((minute(&hours.start), end));
        }
        for day in &mut week {
            day.sort_unstable();
        }
        let new = NewSlaPolicy {
            priority: input.priority.into(),
            zone: input.time_zone.tz(),
            week,
            holidays: input
                .holidays
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect::<BTreeSet<_>>(),
            first_response_minutes: minutes("firstResponseMinutes", input.first_response_minutes)?,
            update_minutes: minutes("updateMinutes", input.update_minutes)?,
            resolution_minutes: minutes("resolutionMinutes", input.resolution_minutes)?,
        };
        Ok(SlaPolicy(ops(ctx)?.set_sla_policy(&tenant, new).await?))
    }
}

/// What happened to a ticket in a live queue.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TicketQueueChange {
    /// A ticket was raised.
    Created,
    /// A reply was added.
    Replied,
    /// Its status changed.
    StatusChanged,
    /// It was merged into another ticket.
    Merged,
    /// Some of its replies moved to a new ticket split from it.
    Split,
    /// One of its SLA targets was breached.
    SlaBreached,
    /// Its priority changed (by a macro).
    PriorityChanged,
    /// An agent added an internal note (by a macro).
    Noted,
    /// It was routed to an agent, reassigned, or handed back to its queue.
    Assigned,
}

impl TicketQueueChange {
    pub(super) fn of(kind: &str) -> Option<Self> {
        Some(match kind {
            crate::events::TICKET_CREATED => Self::Created,
            crate::events::TICKET_REPLIED => Self::Replied,
            crate::events::TICKET_STATUS_CHANGED => Self::StatusChanged,
            crate::events::TICKET_MERGED => Self::Merged,
            crate::events::TICKET_SPLIT => Self::Split,
            crate::events::SLA_BREACHED => Self::SlaBreached,
            crate::events::TICKET_PRIORITY_CHANGED => Self::PriorityChanged,
            crate::events::TICKET_NOTED => Self::Noted,
            crate::events::TICKET_ASSIGNED => Self::Assigned,
            _ => return None,
        })
    }
}

/// One change of the ticket queue, as it happened.
pub struct TicketQueueEvent {
    change: TicketQueueChange,
    message: crate::events::TicketQueueMessage,
}

/// One change of the ticket queue, as it happened.
#[Object]
impl TicketQueueEvent {
    /// What happened.
    async fn change(&self) -> TicketQueueChange {
        self.change
    }

    /// The ticket's id.
    async fn ticket_id(&self) -> ID {
        ID(self.message.ticket_id.clone())
    }

    /// Its status after the change.
    async fn status(&self) -> TicketStatus {
        self.message.status.into()
    }

    /// Its priority.
    async fn priority(&self) -> TicketPriority {
        self.message.priority.into()
    }

    /// Who made the change (`sla-timer` for a breach).
    async fn actor_id(&self) -> ID {
        ID(self.message.actor.clone())
    }

    /// When.
    async fn at(&self) -> DateTime {
        DateTime::from(self.message.at)
    }

    /// The agent it is assigned to after the change (read when the change is delivered).
    async fn assignee_id(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        Ok(self
            .ticket(ctx)
            .await?
            .and_then(|ticket| ticket.0.assignee_id.map(ID)))
    }

    /// The ticket as it is now (read when the change is delivered; none when the subscriber
    /// no longer sees it).
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>> {
        let tenant = ctx.tenant()?;
        let viewer = HelpdeskViewer::of(ctx.claims()?);
        Ok(ops(ctx)?
            .visible_ticket(&tenant, &viewer, &self.message.ticket_id)
            .await?
            .map(Ticket))
    }
}

/// The live helpdesk.
#[derive(Default)]
pub struct HelpdeskSubscription;

#[async_graphql::Subscription]
impl HelpdeskSubscription {
    /// The tenant's ticket queue as it changes (from every replica, through the runtime's
    /// pub/sub): tickets raised, replied to, moved, merged and breached, optionally only those
    /// of some statuses (after the change) or priorities. Before each change the subscriber's
    /// token is checked again (expiry, revocation).
    #[graphql(directive = erp_kit::authz::requiresScopes::apply(vec![vec!["helpdesk:read".into()]]))]
    async fn ticket_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes leaving a ticket in one of these statuses.")]
        statuses: Option<Vec<TicketStatus>>,
        #[graphql(desc = "Only tickets of these priorities.")] priorities: Option<
            Vec<TicketPriority>,
        >,
    ) -> Result<impl futures::Stream<Item = Result<TicketQueueEvent>>> {
        use futures::StreamExt;
        let tenant = ctx.tenant()?;
        let identity = ctx.identity().clone();
        let statuses: Option<Vec<Status>> =
            statuses.map(|list| list.into_iter().map(Into::into).collect());
        let priorities: Option<Vec<domain::Priority>> =
            priorities.map(|list| list.into_iter().map(Into::into).collect());
        let viewer = HelpdeskViewer::of(ctx.claims()?);
        let service = ops(ctx)?.clone();
        let changes = service
            .ticket_queue(&tenant)
            .await?
            .filter_map(move |message| {
                let wanted = statuses
                    .as_ref()
                    .is_none_or(|list| list.contains(&message.status))
                    && priorities
                        .as_ref()
                        .is_none_or(|list| list.contains(&message.priority));
                let event = TicketQueueChange::of(&message.change)
                    .filter(|_| wanted)
                    .map(|change| TicketQueueEvent { change, message });
                let (service, tenant, viewer) = (service.clone(), tenant.clone(), viewer.clone());
                // The row rule, on every change: the subscriber's teams as they are now.
                async move {
                    let event = event?;
                    let team = event.message.team_id.as_deref();
                    match service.sees_team(&tenant, &viewer, team).await {
                        Ok(true) => Some(event),
                        Ok(false) => None,
                        Err(err) => {
                            tracing::warn!(error = ?err, "ticket queue: the row rule was not read");
                            None
                        }
                    }
                }
            })
            .boxed();
        Ok(erp_kit::live::reauthorized(identity, changes))
    }
}

/// A page of a ticket's internal notes (`Ticket.notes`).
async fn notes_of(
    ctx: &Context<'_>,
    ticket_id: &str,
    page: PageRequest,
) -> Result<Connection<String, TicketNote, EmptyFields, EmptyFields>> {
    let tenant = ctx.tenant()?;
    let rows = ops(ctx)?.ticket_notes(&tenant, ticket_id, &page).await?;
    let rows = rows.into_iter().map(TicketNote).collect();
    Ok(connection_from_rows(&page, rows, |n| n.0.id.clone()))
}
