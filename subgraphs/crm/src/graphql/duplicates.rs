//! Duplicates: the check a client runs before creating a record (also answered by every
//! create), and merges of clients and leads (re-parenting, audited, reversible).

use crate::app::Crm;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use super::context::{scope, Scope};
use super::objects::{instant, Client, Lead};
use crate::app::clients::Contact;
use crate::app::duplicates::{DuplicateCandidate as Candidate, DuplicateReport, MergeKind, Probe};
use crate::domain::matching::MatchReason as DomainReason;
use crate::store::entities::merge;
use erp_kit::scalars::DateTime;

/// Why a record is likely the same company or person.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::matching::MatchReason")]
pub enum MatchReason {
    /// The same mailbox (e-mail addresses equal after normalisation: case, `+tags`, Gmail
    /// dots).
    Email,
    /// The same phone number (the last 10 digits equal).
    Phone,
    /// The same company web domain.
    Domain,
    /// The same name (after case, accents and legal forms such as `Ltd`).
    SameName,
    /// A similar name (trigram similarity at least 0.5).
    SimilarName,
}

/// Whether a record is a lead or a client.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RecordKind {
    /// A lead.
    Lead,
    /// A client (a company or a person).
    Client,
}

/// A record that is likely the same company or person.
pub struct DuplicateCandidate {
    candidate: Candidate,
    scope: Scope,
}

/// A record that is likely the same company or person as the one checked.
#[Object]
impl DuplicateCandidate {
    /// A lead or a client.
    async fn record_kind(&self) -> RecordKind {
        if self.candidate.record_kind == crate::store::duplicates::LEAD {
            RecordKind::Lead
        } else {
            RecordKind::Client
        }
    }

    /// The record's id.
    async fn id(&self) -> ID {
        ID(self.candidate.id.clone())
    }

    /// The record's name (a lead's person, with their company).
    async fn name(&self) -> &str {
        &self.candidate.name
    }

    /// Why, strongest first.
    async fn reasons(&self) -> Vec<MatchReason> {
        self.candidate
            .reasons
            .iter()
            .map(|reason: &DomainReason| (*reason).into())
            .collect()
    }

    /// How similar the names are, 0.0 to 1.0 (trigram similarity; 1.0 for the same name).
    async fn similarity(&self) -> f64 {
        self.candidate.score
    }

    /// The client, when the record is one.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<Client>> {
        if self.candidate.record_kind != crate::store::duplicates::CLIENT {
            return Ok(None);
        }
        Ok(ctx
            .use_cases::<Crm>()?
            .client(&self.scope.viewer, &self.candidate.id)
            .await?
            .map(|model| Client::new(model, self.scope.clone())))
    }

    /// The lead, when the record is one.
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Lead>> {
        if self.candidate.record_kind != crate::store::duplicates::LEAD {
            return Ok(None);
        }
        Ok(ctx
            .use_cases::<Crm>()?
            .lead(&self.scope.viewer, &self.candidate.id)
            .await?
            .map(|model| Lead::new(model, self.scope.clone())))
    }
}

/// The outcome of a duplicate check.
#[derive(SimpleObject)]
pub struct DuplicateCheck {
    /// Likely duplicates the caller may see, best first.
    pub candidates: Vec<DuplicateCandidate>,
    /// Likely duplicates among records the row rules hide from the caller (counted only: ask
    /// an administrator).
    pub hidden_matches: i32,
}

impl DuplicateCheck {
    pub fn new(report: DuplicateReport, scope: Scope) -> Self {
        Self {
            hidden_matches: i32::try_from(report.hidden).unwrap_or(i32::MAX),
            candidates: report
                .candidates
                .into_iter()
                .map(|candidate| DuplicateCandidate {
                    candidate,
                    scope: scope.clone(),
                })
                .collect(),
        }
    }
}

/// What to look for.
#[derive(InputObject)]
pub struct DuplicateCheckInput {
    /// The company's (or person's) name.
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Website.
    pub website: Option<String>,
}

#[derive(Default)]
pub struct DuplicatesQuery;

#[Object]
impl DuplicatesQuery {
    /// The leads and clients a new record would likely duplicate: the same normalised e-mail,
    /// phone or web domain, the same or a similar name.
    #[graphql(requires_scopes = "crm:read")]
    async fn duplicate_check(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record about to be created.")] input: DuplicateCheckInput,
    ) -> Result<DuplicateCheck> {
        let scope = scope(ctx).await?;
        let contact = Contact::parse(
            input.email.as_deref(),
            input.phone.as_deref(),
            input.website.as_deref(),
        )?;
        let report = ctx
            .use_cases::<Crm>()?
            .check_duplicates(
                &scope.viewer,
                Probe {
                    name: input.name,
                    email_key: contact.email_key,
                    phone_key: contact.phone_key,
                    domain: contact.domain,
                    exclude: None,
                },
            )
            .await?;
        Ok(DuplicateCheck::new(report, scope))
    }
}

/// A merge of one record into another.
pub struct Merge(pub merge::Model);

/// How many rows of one kind a merge re-parented.
#[derive(SimpleObject)]
pub struct MovedRows {
    /// `table.column`, e.g. `crm_opportunities.client_id`.
    pub link: String,
    /// How many rows now point at the surviving record.
    pub count: i32,
}

/// A merge of one record into another: what it re-parented, for the audit and an undo.
#[Object]
impl Merge {
    /// Stable id (UUIDv7): what `undoMerge` takes.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Leads or clients.
    async fn record_kind(&self) -> RecordKind {
        if self.0.record_kind == crate::store::duplicates::LEAD {
            RecordKind::Lead
        } else {
            RecordKind::Client
        }
    }

    /// The record merged away (kept, marked merged, hidden from lists).
    async fn source_id(&self) -> ID {
        ID(self.0.source_id.clone())
    }

    /// The record that holds everything now.
    async fn target_id(&self) -> ID {
        ID(self.0.target_id.clone())
    }

    /// Who merged them.
    async fn actor_id(&self) -> ID {
        ID(self.0.actor.clone())
    }

    /// When.
    async fn at(&self) -> DateTime {
        instant(self.0.at)
    }

    /// The rows re-parented, per link.
    async fn moved(&self) -> Vec<MovedRows> {
        let moved: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_str(&self.0.moved).unwrap_or_default();
        moved
            .into_iter()
            .map(|(link, ids)| MovedRows {
                link,
                count: i32::try_from(ids.len()).unwrap_or(i32::MAX),
            })
            .collect()
    }

    /// When the merge was undone.
    async fn undone_at(&self) -> Option<DateTime> {
        self.0.undone_at.map(instant)
    }
}

/// Two records to merge.
#[derive(InputObject)]
pub struct MergeInput {
    /// The record merged away: its children move to the target, it is kept (hidden).
    pub source_id: ID,
    /// The record that survives.
    pub target_id: ID,
}

/// A merge to undo.
#[derive(InputObject)]
pub struct UndoMergeInput {
    /// The merge.
    pub merge_id: ID,
}

#[derive(Default)]
pub struct DuplicatesMutation;

#[Object]
impl DuplicatesMutation {
    /// Merges a client into another of the same kind: its activities, opportunities (as
    /// client and as contact), quotes, proposals, addresses, people and converted leads point
    /// at the target in one transaction; nothing is deleted; audited; publishes
    /// `client.merged` (invoices and projects follow by event). Merging a client into itself
    /// is BAD_USER_INPUT (MERGE_INTO_ITSELF); another tenant's client is NOT_FOUND.
    ///
    /// `crm:admin` only: a client merge rewrites records across owners and teams and, by
    /// event, finance's customers and PMO's projects; a sales rep is refused the field
    /// (UNAUTHORIZED_FIELD_OR_TYPE, by the router and by this subgraph: one declaration).
    #[graphql(requires_scopes = "crm:admin")]
    async fn merge_clients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client merged away and the one that survives.")] input: MergeInput,
    ) -> Result<Merge> {
        let scope = scope(ctx).await?;
        Ok(Merge(
            ctx.use_cases::<Crm>()?
                .merge(
                    &scope.viewer,
                    MergeKind::Client,
                    &input.source_id,
                    &input.target_id,
                )
                .await?,
        ))
    }

    /// Merges a lead into another: its activities and opportunities point at the target in
    /// one transaction; nothing is deleted; audited. A converted lead is not merged.
    #[graphql(requires_scopes = "crm:write")]
    async fn merge_leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead merged away and the one that survives.")] input: MergeInput,
    ) -> Result<Merge> {
        let scope = scope(ctx).await?;
        Ok(Merge(
            ctx.use_cases::<Crm>()?
                .merge(
                    &scope.viewer,
                    MergeKind::Lead,
                    &input.source_id,
                    &input.target_id,
                )
                .await?,
        ))
    }

    /// Undoes a merge: the rows it moved point at the source again and the source is back
    /// (audited; a client's publishes `client.merge_undone`, and finance and PMO move back
    /// what they moved for it).
    ///
    /// `crm:admin` only, like `mergeClients`: an undo moves records across owners and, by
    /// event, across domains (a lead merge a rep made is undone by an administrator too).
    #[graphql(requires_scopes = "crm:admin")]
    async fn undo_merge(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The merge.")] input: UndoMergeInput,
    ) -> Result<Merge> {
        let scope = scope(ctx).await?;
        Ok(Merge(
            ctx.use_cases::<Crm>()?
                .undo_merge(&scope.viewer, &input.merge_id)
                .await?,
        ))
    }
}
