//! Helpdesk macros in GraphQL: defining one (`helpdesk:admin`), listing them and applying one
//! to a ticket (agents, `helpdesk:write`), and the internal notes macros add to tickets.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;
use erp_kit::RequestContext;

use super::context::ops;
use super::helpdesk::{Ticket, TicketPriority, TicketQueueChange, TicketStatus};
use crate::domain::macros::{MacroAction, Template};
use crate::domain::short_text;
use crate::store::MacroDoc;

/// One action of a macro: its type and the one field that type takes.
#[derive(InputObject)]
pub struct TicketMacroActionInput {
    /// What it does.
    #[graphql(name = "type")]
    pub kind: TicketMacroActionType,
    /// SET_STATUS: the status (the rules of `changeTicketStatus`; not NEW or MERGED).
    pub status: Option<TicketStatus>,
    /// SET_PRIORITY: the priority (the ticket's SLA targets become that priority's).
    pub priority: Option<TicketPriority>,
    /// ADD_REPLY (a public reply by the agent applying the macro) and ADD_NOTE (an internal
    /// note agents only see): the template, 1 to 5,000 characters, with the placeholders
    /// `{{ticket.id}}`, `{{ticket.subject}}`, `{{ticket.status}}`, `{{ticket.priority}}`,
    /// `{{requester.name}}` and `{{agent.name}}` only.
    pub template: Option<String>,
}

impl TicketMacroActionInput {
    fn parse(self) -> Result<MacroAction, erp_kit::ApiError> {
        let given = [
            self.status.is_some(),
            self.priority.is_some(),
            self.template.is_some(),
        ]
        .iter()
        .filter(|given| **given)
        .count();
        let wanted = match self.kind {
            TicketMacroActionType::SetStatus => "status",
            TicketMacroActionType::SetPriority => "priority",
            TicketMacroActionType::AddReply | TicketMacroActionType::AddNote => "template",
        };
        let missing = || {
            erp_kit::ApiError::bad_input(
                "actions",
                format!("an action of this type takes `{wanted}` and no other field"),
            )
        };
        if given != 1 {
            return Err(missing());
        }
        Ok(
            match (self.kind, self.status, self.priority, self.template) {
                (TicketMacroActionType::SetStatus, Some(status), _, _) => MacroAction::SetStatus {
                    status: status.into(),
                },
                (TicketMacroActionType::SetPriority, _, Some(priority), _) => {
                    MacroAction::SetPriority {
                        priority: priority.into(),
                    }
                }
                (TicketMacroActionType::AddReply, _, _, Some(template)) => MacroAction::AddReply {
                    template: Template::parse(&template)?,
                },
                (TicketMacroActionType::AddNote, _, _, Some(template)) => MacroAction::AddNote {
                    template: Template::parse(&template)?,
                },
                _ => return Err(missing()),
            },
        )
    }
}

/// A new macro (`defineTicketMacro`).
#[derive(InputObject)]
pub struct DefineTicketMacroInput {
    /// Its name, 1 to 100 characters.
    pub name: String,
    /// Its actions, 1 to 20, applied in this order.
    pub actions: Vec<TicketMacroActionInput>,
}

/// A change of a macro (`updateTicketMacro`): what is given replaces what it had.
#[derive(InputObject)]
pub struct UpdateTicketMacroInput {
    /// The macro.
    pub macro_id: ID,
    /// Its new name, 1 to 100 characters.
    pub name: Option<String>,
    /// Its new actions, 1 to 20, applied in this order (replacing every action it had).
    pub actions: Option<Vec<TicketMacroActionInput>>,
}

/// Deleting a macro (`deleteTicketMacro`).
#[derive(InputObject)]
pub struct DeleteTicketMacroInput {
    /// The macro.
    pub macro_id: ID,
}

/// Applying a macro (`applyTicketMacro`).
#[derive(InputObject)]
pub struct ApplyTicketMacroInput {
    /// The macro.
    pub macro_id: ID,
    /// The ticket.
    pub ticket_id: ID,
}

/// What a macro action does.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TicketMacroActionType {
    /// Moves the ticket.
    SetStatus,
    /// Sets the priority.
    SetPriority,
    /// Adds a public reply.
    AddReply,
    /// Adds an internal note.
    AddNote,
}

/// One action of a macro.
#[derive(SimpleObject)]
pub struct TicketMacroAction {
    /// What it does.
    #[graphql(name = "type")]
    pub kind: TicketMacroActionType,
    /// The status it sets (SET_STATUS).
    pub status: Option<TicketStatus>,
    /// The priority it sets (SET_PRIORITY).
    pub priority: Option<TicketPriority>,
    /// The reply's or note's template (ADD_REPLY, ADD_NOTE).
    pub template: Option<String>,
}

impl From<&MacroAction> for TicketMacroAction {
    fn from(action: &MacroAction) -> Self {
        let empty = |kind| TicketMacroAction {
            kind,
            status: None,
            priority: None,
            template: None,
        };
        match action {
            MacroAction::SetStatus { status } => TicketMacroAction {
                status: Some((*status).into()),
                ..empty(TicketMacroActionType::SetStatus)
            },
            MacroAction::SetPriority { priority } => TicketMacroAction {
                priority: Some((*priority).into()),
                ..empty(TicketMacroActionType::SetPriority)
            },
            MacroAction::AddReply { template } => TicketMacroAction {
                template: Some(template.as_str().to_owned()),
                ..empty(TicketMacroActionType::AddReply)
            },
            MacroAction::AddNote { template } => TicketMacroAction {
                template: Some(template.as_str().to_owned()),
                ..empty(TicketMacroActionType::AddNote)
            },
        }
    }
}

/// A helpdesk macro.
pub struct TicketMacro(pub MacroDoc);

/// A helpdesk macro: named actions an agent applies to a ticket in one go.
#[Object]
impl TicketMacro {
    /// The macro's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Its actions, in the order they apply.
    async fn actions(&self) -> Vec<TicketMacroAction> {
        self.0.actions.iter().map(Into::into).collect()
    }
    /// Who defined it.
    async fn created_by_id(&self) -> ID {
        ID(self.0.created_by.clone())
    }
    /// When.
    async fn created_at(&self) -> DateTime {
        DateTime::from(self.0.created_at)
    }
    /// Who changed it last (none until changed).
    async fn updated_by_id(&self) -> Option<ID> {
        self.0.updated_by.clone().map(ID)
    }
    /// When it was changed last.
    async fn updated_at(&self) -> Option<DateTime> {
        self.0.updated_at.map(DateTime::from)
    }
}

/// What applying a macro did.
#[derive(SimpleObject)]
pub struct ApplyTicketMacroPayload {
    /// The ticket after every action.
    pub ticket: Ticket,
    /// The changes made, one per event published, in the order of the actions (none when
    /// the ticket already was as the macro sets it).
    pub changes: Vec<TicketQueueChange>,
}

/// The helpdesk's macros.
#[derive(Default)]
pub struct MacroQuery;

#[Object]
impl MacroQuery {
    /// One macro of the caller's tenant.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn ticket_macro(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The macro's id.")] id: ID,
    ) -> Result<Option<TicketMacro>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.ticket_macro(&tenant, &id).await?.map(TicketMacro))
    }

    /// The caller's tenant's macros, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn ticket_macros(
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
    ) -> Result<Connection<String, TicketMacro, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?.ticket_macros(&tenant, &page).await?;
        let rows = rows.into_iter().map(TicketMacro).collect();
        Ok(connection_from_rows(&page, rows, |m| m.0.id.clone()))
    }
}

/// Defining and applying macros.
#[derive(Default)]
pub struct MacroMutation;

#[Object]
impl MacroMutation {
    /// Defines a macro of the tenant. A template naming a placeholder off the list is
    /// refused (`UNKNOWN_PLACEHOLDER`).
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn define_ticket_macro(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The name and actions.")] input: DefineTicketMacroInput,
    ) -> Result<TicketMacro> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let name = short_text("name", &input.name, 100, "name")?;
        let actions = input
            .actions
            .into_iter()
            .map(TicketMacroActionInput::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TicketMacro(
            ops(ctx)?
                .define_macro(&tenant, claims, name, actions)
                .await?,
        ))
    }

    /// Changes a macro of the tenant: its name and/or its actions (the same rules as
    /// `defineTicketMacro`); records who and when. A deleted macro is NOT_FOUND.
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn update_ticket_macro(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The macro and what changes.")] input: UpdateTicketMacroInput,
    ) -> Result<TicketMacro> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let name = input
            .name
            .map(|name| short_text("name", &name, 100, "name"))
            .transpose()?;
        let actions = input
            .actions
            .map(|actions| {
                actions
                    .into_iter()
                    .map(TicketMacroActionInput::parse)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        if name.is_none() && actions.is_none() {
            return Err(
                erp_kit::ApiError::bad_input("input", "give a name or actions to change").into(),
            );
        }
        Ok(TicketMacro(
            ops(ctx)?
                .update_macro(&tenant, claims, &input.macro_id, name, actions)
                .await?,
        ))
    }

    /// Deletes a macro of the tenant: no longer listed or applied (kept for the record of
    /// who deleted it and when); true when deleted. A deleted macro is NOT_FOUND.
    #[graphql(requires_scopes = "helpdesk:admin")]
    async fn delete_ticket_macro(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The macro.")] input: DeleteTicketMacroInput,
    ) -> Result<bool> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        ops(ctx)?
            .delete_macro(&tenant, claims, &input.macro_id)
            .await?;
        Ok(true)
    }

    /// Applies a macro to a ticket as the calling agent: every action in order, in one
    /// commit with one event per change, or nothing when any action is refused (under the
    /// rules of `changeTicketStatus` and `replyToTicket`).
    #[graphql(requires_scopes = "helpdesk:write")]
    async fn apply_ticket_macro(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The macro and the ticket.")] input: ApplyTicketMacroInput,
    ) -> Result<ApplyTicketMacroPayload> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let applied = ops(ctx)?
            .apply_macro(&tenant, claims, &input.macro_id, &input.ticket_id)
            .await?;
        Ok(ApplyTicketMacroPayload {
            ticket: Ticket(applied.ticket),
            changes: applied
                .changes
                .iter()
                .filter_map(|kind| TicketQueueChange::of(kind))
                .collect(),
        })
    }
}
