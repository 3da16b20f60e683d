//! Duplicates: the check on create (normalised e-mail, phone, web domain, similar names) and
//! the merge that re-parents every child row of one record to another in one transaction,
//! audited, never deleting anything, and reversible.

use std::collections::BTreeMap;

use erp_kit::db::begin_write;
use erp_kit::{ApiError, ApiResult};

use super::{now_ms, visible, Crm, Viewer};
use crate::domain::lead::LeadStatus;
use crate::domain::matching::{name_key, name_tokens, MatchKeys, MatchReason};
use crate::domain::reasons;
use crate::domain::visibility::Visibility;
use crate::events;
use crate::store::audit::{self, AuditEntry};
use crate::store::duplicates::{
    self as store, move_rows, reparent, ChildLink, CLIENT, CLIENT_CHILDREN, LEAD, LEAD_CHILDREN,
};
use crate::store::entities::merge;
use crate::store::new_id;
use crate::store::{clients, leads};
use erp_kit::events::EventEnvelope;

/// What a duplicate check compares.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub name: String,
    pub email_key: Option<String>,
    pub phone_key: Option<String>,
    pub domain: Option<String>,
    /// A record to leave out (the record itself, when checking an existing one).
    pub exclude: Option<String>,
}

/// A record that is likely the same company or person.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateCandidate {
    /// `lead` or `client`.
    pub record_kind: &'static str,
    pub id: String,
    pub name: String,
    /// Why, strongest first.
    pub reasons: Vec<MatchReason>,
    /// Name similarity, 0.0 to 1.0.
    pub score: f64,
}

/// The likely duplicates the viewer may see, and how many more there are among records the
/// row rules hide from them (counted, never shown).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DuplicateReport {
    pub candidates: Vec<DuplicateCandidate>,
    pub hidden: usize,
}

/// Which kind of record a merge is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    Client,
    Lead,
}

impl MergeKind {
    fn as_str(self) -> &'static str {
        match self {
            MergeKind::Client => CLIENT,
            MergeKind::Lead => LEAD,
        }
    }

    fn children(self) -> &'static [ChildLink] {
        match self {
            MergeKind::Client => CLIENT_CHILDREN,
            MergeKind::Lead => LEAD_CHILDREN,
        }
    }
}

impl Crm {
    /// The likely duplicates of `probe` among the tenant's leads and clients: any shared
    /// e-mail, phone or web domain key, the same name key, or a name at least
    /// [`crate::domain::matching::SIMILAR_NAME_THRESHOLD`] similar. Best first.
    pub async fn find_duplicates(
        &self,
        viewer: &Viewer,
        visibility: &Visibility,
        probe: &Probe,
    ) -> ApiResult<DuplicateReport> {
        let keys = MatchKeys {
            email: probe.email_key.clone(),
            phone: probe.phone_key.clone(),
            domain: probe.domain.clone(),
            name: name_key(&probe.name),
        };
        let tokens = name_tokens(&probe.name);
        let found = store::candidates(&self.db, &viewer.tenant, &keys, &tokens).await?;
        let mut report = DuplicateReport::default();
        for candidate in found {
            if probe.exclude.as_deref() == Some(candidate.id.as_str()) {
                continue;
            }
            let (reasons, score) = keys.compare(&candidate.keys);
            if reasons.is_empty() {
                continue;
            }
            if !visibility.sees(candidate.owner_id.as_deref()) {
                report.hidden += 1;
                continue;
            }
            report.candidates.push(DuplicateCandidate {
                record_kind: candidate.record_kind,
                id: candidate.id,
                name: candidate.name,
                reasons,
                score,
            });
        }
        report.candidates.sort_by(|a, b| {
            a.reasons
                .first()
                .cmp(&b.reasons.first())
                .then(b.reasons.len().cmp(&a.reasons.len()))
                .then(b.score.total_cmp(&a.score))
                .then(a.id.cmp(&b.id))
        });
        Ok(report)
    }

    /// The duplicate check a client runs before creating a record.
    pub async fn check_duplicates(
        &self,
        viewer: &Viewer,
        probe: Probe,
    ) -> ApiResult<DuplicateReport> {
        let visibility = self.visibility(viewer).await?;
        self.find_duplicates(viewer, &visibility, &probe).await
    }

    /// Merges `source_id` into `target_id` (both of `kind`, both visible to the viewer): every
    /// child row pointing at the source points at the target afterwards, the source is kept
    /// (marked merged, hidden from lists), nothing is deleted, all in one transaction with
    /// the merge record (what moved, for the audit and an undo). A client merge publishes
    /// `client.merged` for the domains that hold client ids (invoices, projects).
    pub async fn merge(
        &self,
        viewer: &Viewer,
        kind: MergeKind,
        source_id: &str,
        target_id: &str,
    ) -> ApiResult<merge::Model> {
        if source_id == target_id {
            return Err(ApiError::rule(
                reasons::MERGE_INTO_ITSELF,
                "a record cannot be merged into itself",
            )
            .on_field("sourceId"));
        }
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let now = now_ms();
        let mut target_name = None;
        match kind {
            MergeKind::Client => {
                let source = visible(
                    &visibility,
                    clients::lock(&txn, tenant, source_id).await?,
                    |c| c.owner_id.as_deref(),
                    "source client",
                )?;
                let target = visible(
                    &visibility,
                    clients::lock(&txn, tenant, target_id).await?,
                    |c| c.owner_id.as_deref(),
                    "target client",
                )?;
                if source.merged_into_id.is_some() || target.merged_into_id.is_some() {
                    return Err(merge_refused("one of the clients was merged already"));
                }
                if source.kind != target.kind {
                    return Err(merge_refused("a company and a person cannot be merged"));
                }
                target_name = Some(target.name.clone());
                let mut source = source;
                source.merged_into_id = Some(target.id.clone());
                source.version += 1;
                source.updated_at = now;
                clients::update(&txn, source).await?;
            }
            MergeKind::Lead => {
                let source = visible(
                    &visibility,
                    leads::lock(&txn, tenant, source_id).await?,
                    |l| l.owner_id.as_deref(),
                    "source lead",
                )?;
                let target = visible(
                    &visibility,
                    leads::lock(&txn, tenant, target_id).await?,
                    |l| l.owner_id.as_deref(),
                    "target lead",
                )?;
                if source.merged_into_id.is_some() || target.merged_into_id.is_some() {
                    return Err(merge_refused("one of the leads was merged already"));
                }
                if source.status == LeadStatus::Converted.as_str() {
                    return Err(merge_refused(
                        "a converted lead is not merged: merge its client instead",
                    ));
                }
                let mut source = source;
                source.merged_into_id = Some(target.id.clone());
                source.version += 1;
                source.updated_at = now;
                leads::update(&txn, source).await?;
            }
        }
        let mut moved: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for link in kind.children() {
            let ids = reparent(&txn, tenant, *link, source_id, target_id).await?;
            if !ids.is_empty() {
                moved.insert(format!("{}.{}", link.0, link.1), ids);
            }
        }
        let model = merge::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            record_kind: kind.as_str().to_owned(),
            source_id: source_id.to_owned(),
            target_id: target_id.to_owned(),
            actor: viewer.user_id.clone(),
            at: now,
            moved: serde_json::to_string(&moved).map_err(ApiError::internal)?,
            undone_at: None,
            undone_by: None,
        };
        store::insert_merge(&txn, model.clone()).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: kind.as_str(),
                entity_id: target_id,
                action: "merged",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({
                    "merge_id": model.id,
                    "source_id": source_id,
                    "moved": moved.iter().map(|(k, v)| (k.clone(), v.len())).collect::<BTreeMap<_, _>>(),
                }),
            },
        )
        .await?;
        if kind == MergeKind::Client {
            let merged = EventEnvelope::by_actor(
                tenant,
                events::CLIENT_MERGED,
                target_id,
                &viewer.user_id,
                events::ClientMerged {
                    source_client_id: source_id.to_owned(),
                    target_client_id: target_id.to_owned(),
                    merge_id: model.id.clone(),
                    target_client_name: target_name,
                    source_client_name: None,
                },
            )?;
            self.outbox.enqueue(&txn, &merged).await?;
        }
        self.commit(txn).await?;
        Ok(model)
    }

    /// Undoes a merge: the rows it moved point at the source again and the source is back
    /// (audited). Rows added to the target since stay with it.
    pub async fn undo_merge(&self, viewer: &Viewer, merge_id: &str) -> ApiResult<merge::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut record = store::lock_merge(&txn, tenant, merge_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("merge".into()))?;
        if record.undone_at.is_some() {
            return Err(merge_refused("the merge was undone already"));
        }
        let kind = if record.record_kind == LEAD {
            MergeKind::Lead
        } else {
            MergeKind::Client
        };
        let now = now_ms();
        let mut source_name = None;
        match kind {
            MergeKind::Client => {
                let mut source = visible(
                    &visibility,
                    clients::lock(&txn, tenant, &record.source_id).await?,
                    |c| c.owner_id.as_deref(),
                    "source client",
                )?;
                source_name = Some(source.name.clone());
                source.merged_into_id = None;
                source.version += 1;
                source.updated_at = now;
                clients::update(&txn, source).await?;
            }
            MergeKind::Lead => {
                let mut source = visible(
                    &visibility,
                    leads::lock(&txn, tenant, &record.source_id).await?,
                    |l| l.owner_id.as_deref(),
                    "source lead",
                )?;
                source.merged_into_id = None;
                source.version += 1;
                source.updated_at = now;
                leads::update(&txn, source).await?;
            }
        }
        let moved: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&record.moved).map_err(ApiError::internal)?;
        for link in kind.children() {
            if let Some(ids) = moved.get(&format!("{}.{}", link.0, link.1)) {
                move_rows(&txn, tenant, *link, ids, &record.source_id).await?;
            }
        }
        store::mark_undone(&txn, tenant, &record.id, now, &viewer.user_id).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: kind.as_str(),
                entity_id: &record.target_id,
                action: "merge_undone",
                actor: &viewer.user_id,
                at_ms: now,
                detail: serde_json::json!({ "merge_id": record.id, "source_id": record.source_id }),
            },
        )
        .await?;
        if kind == MergeKind::Client {
            // Keyed by the survivor, like the merge: one partition, so no consumer sees the
            // undo before the merge.
            let undone = EventEnvelope::by_actor(
                tenant,
                events::CLIENT_MERGE_UNDONE,
                &record.target_id,
                &viewer.user_id,
                events::ClientMerged {
                    source_client_id: record.source_id.clone(),
                    target_client_id: record.target_id.clone(),
                    merge_id: record.id.clone(),
                    target_client_name: None,
                    source_client_name: source_name,
                },
            )?;
            self.outbox.enqueue(&txn, &undone).await?;
        }
        self.commit(txn).await?;
        record.undone_at = Some(now);
        record.undone_by = Some(viewer.user_id.clone());
        Ok(record)
    }
}

fn merge_refused(message: &str) -> ApiError {
    ApiError::rule(reasons::MERGE_NOT_ALLOWED, message)
}
