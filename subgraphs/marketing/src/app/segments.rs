//! Segments: dynamic filter trees, static lists, segment of segments (acyclic), and their
//! stored membership kept up to date incrementally in the same transaction as every change
//! (domain/segment.rs explains why one contact or one segment is enough), with the full
//! rebuild as the oracle.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::ConnectionTrait;

use erp_kit::db::WriteTransaction;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{not_found, now_ms, Marketing};
use crate::domain::contact::{ContactStatus, EMAIL_MARKETING};
use crate::domain::journey::TriggerKind;
use crate::domain::reasons;
use crate::domain::segment::{rebuild, BehaviourKind, ContactFacts, Filter, SegmentRule, Segments};
use crate::store::entities::{list_member, segment};
use crate::store::{contacts, new_id, segments};

/// Static list or dynamic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    Dynamic,
    Static,
}

impl SegmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentKind::Dynamic => "dynamic",
            SegmentKind::Static => "static",
        }
    }
}

/// What a rebuild found and fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub segments: usize,
    pub members: usize,
    /// Memberships the stored (incremental) state had wrong: 0 when the incremental path is right.
    pub differences: usize,
}

/// The facts the filters read, for these contacts.
pub(crate) async fn facts_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> ApiResult<Vec<ContactFacts>> {
    let rows = contacts::by_ids(db, tenant, ids).await?;
    let consents = contacts::consents_of_many(db, tenant, ids).await?;
    let topics = contacts::subscribed_topics(db, tenant, ids).await?;
    let behaviour = contacts::behaviour_of(db, tenant, ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for id in ids {
        let Some(row) = rows.get(id) else { continue };
        // A purpose is in force when its latest record grants it; a double opt-in record not
        // confirmed yet is not a record of consent at all.
        let mut latest: BTreeMap<String, bool> = BTreeMap::new();
        for record in consents
            .get(id)
            .into_iter()
            .flatten()
            .filter(|record| record.confirmation.as_deref() != Some(contacts::PENDING))
        {
            latest.insert(record.purpose.clone(), record.granted);
        }
        out.push(ContactFacts {
            id: row.id.clone(),
            email: row.email.clone(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            country: row.country.clone(),
            crm_person_id: row.crm_person_id.clone(),
            status: ContactStatus::parse(&row.status)?,
            topics: topics.get(id).cloned().unwrap_or_default(),
            consents: latest
                .into_iter()
                .filter(|(_, granted)| *granted)
                .map(|(purpose, _)| purpose)
                .collect(),
            behaviour: behaviour
                .get(id)
                .into_iter()
                .flatten()
                .filter_map(|b| BehaviourKind::parse(&b.kind).map(|k| (k, b.campaign_id.clone())))
                .collect(),
        });
    }
    Ok(out)
}

/// Whether a contact holds a granted e-mail marketing consent in force.
pub(crate) fn has_marketing_consent(facts: &ContactFacts) -> bool {
    facts.consents.contains(EMAIL_MARKETING)
}

fn parse_filter(model: &segment::Model) -> ApiResult<Filter> {
    serde_json::from_str(model.filter.as_deref().unwrap_or("null"))
        .map_err(|e| ApiError::internal(format!("segment {} has a corrupt filter: {e}", model.id)))
}

/// Every segment of the tenant as membership needs them (`extra` replaces or adds one, for a
/// change being checked).
pub(crate) async fn load_segments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    extra: Option<(String, SegmentRule)>,
) -> ApiResult<Segments> {
    let mut lists = segments::list_members(db, tenant).await?;
    let mut rules = BTreeMap::new();
    for model in segments::all(db, tenant).await? {
        let rule = if model.kind == SegmentKind::Static.as_str() {
            SegmentRule::Static(lists.remove(&model.id).unwrap_or_default())
        } else {
            SegmentRule::Dynamic(parse_filter(&model)?)
        };
        rules.insert(model.id, rule);
    }
    if let Some((id, rule)) = extra {
        rules.insert(id, rule);
    }
    Segments::new(rules)
}

impl Marketing {
    /// Re-evaluates one contact in every segment and writes the difference (inside the
    /// caller's transaction).
    pub(crate) async fn refresh_contact(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        contact_id: &str,
    ) -> ApiResult<()> {
        let all = load_segments(&**txn, tenant, None).await?;
        let facts = facts_of(&**txn, tenant, &[contact_id.to_owned()]).await?;
        let now: BTreeSet<String> = match facts.first() {
            Some(facts) if facts.status != ContactStatus::Erased => all.memberships_of(facts),
            _ => BTreeSet::new(),
        };
        let stored = segments::memberships_of(&**txn, tenant, contact_id).await?;
        for gone in stored.difference(&now) {
            segments::remove_member(&**txn, tenant, gone, contact_id).await?;
        }
        let joined: Vec<String> = now.difference(&stored).cloned().collect();
        for new in &joined {
            segments::add_member(&**txn, tenant, new, contact_id).await?;
        }
        // Joining a segment enrols the contact in the journeys it triggers, in this same
        // transaction (the enrolment commits with the membership).
        self.enroll_triggered(txn, tenant, TriggerKind::SegmentJoined, &joined, contact_id)
            .await?;
        Ok(())
    }

    /// Re-evaluates a segment and every segment depending on it, for every contact.
    async fn refresh_segment(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        all: &Segments,
        segment_id: &str,
    ) -> ApiResult<()> {
        let contacts: Vec<String> = contacts::all(&**txn, tenant)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let facts = facts_of(&**txn, tenant, &contacts).await?;
        let memberships: Vec<(String, BTreeSet<String>)> = facts
            .iter()
            .filter(|f| f.status != ContactStatus::Erased)
            .map(|f| (f.id.clone(), all.memberships_of(f)))
            .collect();
        for affected in all.dependents_of(segment_id) {
            let want: BTreeSet<String> = memberships
                .iter()
                .filter(|(_, of)| of.contains(&affected))
                .map(|(id, _)| id.clone())
                .collect();
            let have = segments::members(&**txn, tenant, &affected).await?;
            for gone in have.difference(&want) {
                segments::remove_member(&**txn, tenant, &affected, gone).await?;
            }
            for new in want.difference(&have) {
                segments::add_member(&**txn, tenant, &affected, new).await?;
                self.enroll_triggered(
                    txn,
                    tenant,
                    TriggerKind::SegmentJoined,
                    std::slice::from_ref(&affected),
                    new,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// A new segment: a dynamic one with its filter (checked: shape, known topics and
    /// segments), or a static list.
    pub async fn create_segment(
        &self,
        tenant: &TenantId,
        name: &str,
        kind: SegmentKind,
        filter: Option<Filter>,
    ) -> ApiResult<segment::Model> {
        let name = crate::domain::contact::consent_text("name", name)?;
        let id = new_id();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let (rule, refs, filter_json) = self.checked_rule(&txn, tenant, kind, filter).await?;
        let all = load_segments(&*txn, tenant, Some((id.clone(), rule))).await?;
        let now = now_ms();
        let model = segment::Model {
            tenant_id: tenant.as_str().to_owned(),
            id: id.clone(),
            name,
            kind: kind.as_str().to_owned(),
            filter: filter_json,
            created_at: now,
            updated_at: now,
        };
        segments::insert(&*txn, model.clone(), &refs).await?;
        self.refresh_segment(&txn, tenant, &all, &id).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Replaces a dynamic segment's filter: refused with SEGMENT_CYCLE when the segment would
    /// include itself through the segments it references.
    pub async fn update_segment_filter(
        &self,
        tenant: &TenantId,
        id: &str,
        filter: Filter,
    ) -> ApiResult<segment::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let mut model = segments::segment(&*txn, tenant, id)
            .await?
            .ok_or_else(|| not_found("segment"))?;
        if model.kind != SegmentKind::Dynamic.as_str() {
            return Err(ApiError::rule(
                reasons::SEGMENT_NOT_STATIC,
                "a static list has no filter",
            ));
        }
        let (rule, refs, filter_json) = self
            .checked_rule(&txn, tenant, SegmentKind::Dynamic, Some(filter))
            .await?;
        let all = load_segments(&*txn, tenant, Some((id.to_owned(), rule))).await?;
        model.filter = filter_json;
        model.updated_at = now_ms();
        segments::update(&*txn, model.clone(), &refs).await?;
        self.refresh_segment(&txn, tenant, &all, id).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    async fn checked_rule(
        &self,
        txn: &WriteTransaction,
        tenant: &TenantId,
        kind: SegmentKind,
        filter: Option<Filter>,
    ) -> ApiResult<(SegmentRule, BTreeSet<String>, Option<String>)> {
        match (kind, filter) {
            (SegmentKind::Static, None) => {
                Ok((SegmentRule::Static(BTreeSet::new()), BTreeSet::new(), None))
            }
            (SegmentKind::Static, Some(_)) => Err(ApiError::rule(
                reasons::SEGMENT_FILTER_INVALID,
                "a static list has no filter",
            )
            .on_field("filter")),
            (SegmentKind::Dynamic, None) => Err(ApiError::rule(
                reasons::SEGMENT_FILTER_INVALID,
                "a dynamic segment needs a filter",
            )
            .on_field("filter")),
            (SegmentKind::Dynamic, Some(filter)) => {
                let refs = filter.check()?;
                let topics: BTreeSet<String> = contacts::topics(&**txn, tenant)
                    .await?
                    .into_iter()
                    .map(|t| t.key)
                    .collect();
                if let Some(unknown) = refs.topics.difference(&topics).next() {
                    return Err(ApiError::rule(
                        reasons::SEGMENT_FILTER_INVALID,
                        format!("no topic `{unknown}`"),
                    )
                    .on_field("filter"));
                }
                let known = load_segments(&**txn, tenant, None).await?;
                if let Some(unknown) = refs.segments.iter().find(|s| !known.contains(s)) {
                    return Err(ApiError::rule(
                        reasons::SEGMENT_FILTER_INVALID,
                        format!("no segment `{unknown}`"),
                    )
                    .on_field("filter"));
                }
                let json = serde_json::to_string(&filter).map_err(ApiError::internal)?;
                Ok((SegmentRule::Dynamic(filter), refs.segments, Some(json)))
            }
        }
    }

    /// Adds a contact to a static list (or takes it off).
    pub async fn set_list_member(
        &self,
        tenant: &TenantId,
        segment_id: &str,
        contact_id: &str,
        member: bool,
    ) -> ApiResult<segment::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let model = segments::segment(&*txn, tenant, segment_id)
            .await?
            .ok_or_else(|| not_found("segment"))?;
        if model.kind != SegmentKind::Static.as_str() {
            return Err(ApiError::rule(
                reasons::SEGMENT_NOT_STATIC,
                "members are added to static lists only",
            ));
        }
        let contact = contacts::contact(&*txn, tenant, contact_id)
            .await?
            .ok_or_else(|| not_found("marketing contact"))?;
        if member {
            segments::add_list_member(
                &*txn,
                list_member::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    segment_id: segment_id.to_owned(),
                    contact_id: contact.id.clone(),
                    added_at: now_ms(),
                },
            )
            .await?;
        } else {
            segments::remove_list_member(&*txn, tenant, segment_id, contact_id).await?;
        }
        self.refresh_contact(&txn, tenant, contact_id).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Records an open or a click and refreshes the contact's memberships.
    pub(crate) async fn record_behaviour(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        kind: BehaviourKind,
        campaign_id: Option<&str>,
        url: Option<&str>,
    ) -> ApiResult<()> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        contacts::insert_behaviour(
            &*txn,
            crate::store::entities::behaviour::Model {
                tenant_id: tenant.as_str().to_owned(),
                id: new_id(),
                contact_id: contact_id.to_owned(),
                kind: kind.as_str().to_owned(),
                campaign_id: campaign_id.map(str::to_owned),
                url: url.map(str::to_owned),
                at: now_ms(),
            },
        )
        .await?;
        self.refresh_contact(&txn, tenant, contact_id).await?;
        self.enroll_triggered(
            &txn,
            tenant,
            TriggerKind::Event,
            &[kind.as_str().to_owned()],
            contact_id,
        )
        .await?;
        self.commit(txn).await?;
        Ok(())
    }

    /// The full rebuild (the oracle): every segment's membership computed from scratch and
    /// compared with the stored one, which is then corrected. `differences` counts what the
    /// incremental path had wrong.
    pub async fn rebuild_segments(&self, tenant: &TenantId) -> ApiResult<RebuildReport> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let all = load_segments(&*txn, tenant, None).await?;
        let ids: Vec<String> = contacts::all(&*txn, tenant)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let facts: Vec<ContactFacts> = facts_of(&*txn, tenant, &ids)
            .await?
            .into_iter()
            .filter(|f| f.status != ContactStatus::Erased)
            .collect();
        let oracle = rebuild(&all, &facts);
        let mut report = RebuildReport {
            segments: oracle.len(),
            ..Default::default()
        };
        for (segment_id, want) in &oracle {
            report.members += want.len();
            let have = segments::members(&*txn, tenant, segment_id).await?;
            for gone in have.difference(want) {
                report.differences += 1;
                segments::remove_member(&*txn, tenant, segment_id, gone).await?;
            }
            for new in want.difference(&have) {
                report.differences += 1;
                segments::add_member(&*txn, tenant, segment_id, new).await?;
            }
        }
        self.commit(txn).await?;
        Ok(report)
    }

    pub async fn segment(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<segment::Model>> {
        Ok(segments::segment(&self.db, tenant, id).await?)
    }

    pub async fn segments(&self, tenant: &TenantId) -> ApiResult<Vec<segment::Model>> {
        Ok(segments::all(&self.db, tenant).await?)
    }

    pub async fn segment_member_ids(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageRequest,
    ) -> ApiResult<Vec<String>> {
        Ok(segments::members_page(&self.db, tenant, id, page).await?)
    }

    pub async fn segment_member_count(&self, tenant: &TenantId, id: &str) -> ApiResult<u64> {
        Ok(segments::member_count(&self.db, tenant, id).await?)
    }
}

/// The parsed filter of a stored dynamic segment.
pub fn filter_of(model: &segment::Model) -> ApiResult<Option<Filter>> {
    if model.kind == SegmentKind::Static.as_str() {
        Ok(None)
    } else {
        parse_filter(model).map(Some)
    }
}
