//! The hand-offs PMO takes from the CRM, by event (consumed by `crate::consumers` through the
//! kit's document inbox, so each effect is written once, with its inbox record):
//!
//! - `opportunity.won`: the won opportunity becomes ONE project, named after it, for its
//!   client, owned by the deal's owner, its budget the deal's amount. The project's id is the opportunity's, so the first
//!   event of an opportunity creates it and any later one (a redelivery, the same win
//!   published again under a new event id) finds it and writes nothing but its inbox record.
//! - `client.created`: the migration of the free-text client: the tenant's projects typed with
//!   exactly the client's name and linked to no CRM client yet get its id. A new consumer group
//!   reads the topic from its start, so every client created before PMO consumed the CRM's
//!   events links the projects typed before.
//! - `client.updated`: a renamed client's projects take its new name (the typed client the
//!   deprecated `Project.client` answers; `clientId` stays).
//! - `client.merged`: the merged client's projects are the survivor's (`clientId` and name),
//!   each remembering the merge and its client before.
//! - `client.merge_undone`: the projects that merge moved get their client (and typed name)
//!   back; projects given to the survivor since the merge stay with it, like the CRM's own
//!   rows. The CRM keys the undo by the survivor, as the merge, so the two arrive in order.

use chrono::Utc;

use erp_kit::events::EventEnvelope;
use erp_kit::{ApiResult, TenantId};

use super::Pmo;
use crate::domain::project::{Member, Money, ProjectRole};
use crate::domain::Name;
use crate::events::{self, ClientCreated, ClientMerged, ClientUpdated, OpportunityWon};
use crate::store::{CrmEffect, InboxDoc, ProjectDoc};

impl Pmo {
    /// The project `won` becomes (BAD_USER_INPUT when its name is not a project name): billable
    /// client work, its owner the deal's owner, with its `project.created` event.
    pub fn project_of_won_opportunity(
        &self,
        tenant: &TenantId,
        won: &OpportunityWon,
    ) -> ApiResult<CrmEffect> {
        let project = ProjectDoc {
            id: won.opportunity_id.clone(),
            tenant_id: tenant.as_str().to_owned(),
            name: Name::parse("name", &won.name)?.into_inner(),
            client: Name::parse_optional("client", Some(&won.client_name))?.map(Name::into_inner),
            client_id: Some(won.client_id.clone()),
            budget: budget_of(won),
            billable: true,
            members: vec![Member {
                user_id: won.owner_id.clone(),
                employee_id: None,
                role: ProjectRole::Owner,
            }],
            custom_fields: Vec::new(),
            created_at: Utc::now(),
            rev: 0,
            opportunity_id: Some(won.opportunity_id.clone()),
            merged_from: None,
        };
        let event = EventEnvelope::by_actor(
            tenant,
            events::PROJECT_CREATED,
            &project.id,
            &won.owner_id,
            events::ProjectCreated {
                project_id: &project.id,
                name: &project.name,
                client: project.client.as_deref(),
                client_id: project.client_id.as_deref(),
                opportunity_id: project.opportunity_id.as_deref(),
                billable: project.billable,
            },
        )?;
        Ok(CrmEffect::Project {
            project: Box::new(project),
            event: Box::new(event),
        })
    }

    /// The link of the tenant's projects typed with the new client's name.
    pub fn link_of_new_client(&self, tenant: &TenantId, created: &ClientCreated) -> CrmEffect {
        CrmEffect::LinkClient {
            tenant: tenant.clone(),
            client_id: created.client_id.clone(),
            name: created.name.trim().to_owned(),
        }
    }

    /// The new name of a renamed client on its projects.
    pub fn rename_of_client(&self, tenant: &TenantId, updated: &ClientUpdated) -> CrmEffect {
        CrmEffect::RenameClient {
            tenant: tenant.clone(),
            client_id: updated.client_id.clone(),
            name: updated.name.trim().to_owned(),
        }
    }

    /// The merged client's projects, given to the survivor.
    pub fn move_of_merged_client(&self, tenant: &TenantId, merged: &ClientMerged) -> CrmEffect {
        CrmEffect::MergeClient {
            tenant: tenant.clone(),
            merge_id: merged.merge_id.clone(),
            from: merged.source_client_id.clone(),
            into: merged.target_client_id.clone(),
            name: merged
                .target_client_name
                .as_deref()
                .map(|name| name.trim().to_owned()),
        }
    }

    /// The projects an undone merge moved, given back to the restored client.
    pub fn move_back_of_undone_merge(&self, tenant: &TenantId, undone: &ClientMerged) -> CrmEffect {
        CrmEffect::UnmergeClient {
            tenant: tenant.clone(),
            merge_id: undone.merge_id.clone(),
        }
    }

    /// Records a consumed event as handled with its effect (one atomic write), and wakes the
    /// outbox relay when it wrote an event; false when the event was recorded already.
    pub async fn record_handled(
        &self,
        handled: &InboxDoc,
        effect: Option<&CrmEffect>,
    ) -> ApiResult<bool> {
        let written = self.store.record_handled(handled, effect).await?;
        if written && matches!(effect, Some(CrmEffect::Project { .. })) {
            self.wake();
        }
        Ok(written)
    }
}

/// The won deal's amount as the project's budget (in the deal's currency); none when the
/// event carries no amount or a currency ISO 4217 does not know.
fn budget_of(won: &OpportunityWon) -> Option<Money> {
    let currency = erp_kit::money::Currency::parse(won.currency.as_deref()?).ok()?;
    Money::from_minor_units(won.amount_minor?, currency.exponent(), currency.code())
}
