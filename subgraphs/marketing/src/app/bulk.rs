//! Bulk loads: many contacts written in their final state, one transaction per call (a seed,
//! a move from another tool, the benchmark's million), at thousands of rows a second where
//! the one-at-a-time use cases (`create_contact`, then `record_consent`) write hundreds.
//!
//! What a call leaves is what those use cases leave for the same rows: the contact (its
//! address normalised, its salted hash, `pending`, or `subscribed` by a granted e-mail
//! marketing consent, or `unsubscribed` when the address is suppressed), its consent record
//! (purpose, lawful basis, source, wording version, the actor, the time), its stored segment
//! membership as the segments' rules give it (the same evaluation as the incremental path and
//! the rebuild: a rebuild after a bulk load finds 0 differences), and its enrolment in the
//! active journeys a joined segment triggers. Like the CRM's bulk loads and imports, no
//! per-row events are published (a bulk load is not news for the consumers).

use std::collections::BTreeSet;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::contacts::blank_to_none;
use super::segments::{facts_of, load_segments};
use super::{now_ms, Marketing};
use crate::domain::contact::{
    consent_text, ContactStatus, EmailAddress, LawfulBasis, EMAIL_MARKETING,
};
use crate::domain::journey::TriggerKind;
use crate::domain::reasons;
use crate::store::entities::{consent, contact, segment_member};
use crate::store::{bulk, contacts, journeys, new_id};

/// Rows one [`Marketing::load_contacts`] call takes at most (one transaction).
pub const MAX_LOAD_ROWS: usize = 50_000;

/// A granted consent a loaded contact gave.
#[derive(Debug, Clone)]
pub struct LoadedConsent {
    pub purpose: String,
    pub lawful_basis: LawfulBasis,
    pub source: String,
    pub wording_version: String,
}

/// A contact of a bulk load, as it ends up.
#[derive(Debug, Clone, Default)]
pub struct LoadedContact {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub country: Option<String>,
    pub crm_person_id: Option<String>,
    /// The consent the contact gave (`None`: none, the contact stays pending).
    pub consent: Option<LoadedConsent>,
}

impl Marketing {
    /// Writes `rows` as new contacts, all or none (the first bad row refuses the call, named
    /// by its index: an invalid address INVALID_EMAIL, a consent for a suppressed address
    /// CONTACT_SUPPRESSED, as `record_consent` refuses it), with their consent records and
    /// segment membership (see the module comment). Answers the new contacts' ids, in the
    /// rows' order.
    pub async fn load_contacts(
        &self,
        tenant: &TenantId,
        actor: &str,
        rows: Vec<LoadedContact>,
    ) -> ApiResult<Vec<String>> {
        if rows.len() > MAX_LOAD_ROWS {
            return Err(ApiError::bad_input(
                "rows",
                format!("a bulk load takes at most {MAX_LOAD_ROWS} rows a call"),
            ));
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Checked and hashed before the transaction (a tenant's first key is written on its own).
        let mut checked = Vec::with_capacity(rows.len());
        for (n, row) in rows.into_iter().enumerate() {
            let at = || format!("row {n}");
            let address = EmailAddress::parse(&row.email).map_err(|e| e.about(at()))?;
            let consent = match row.consent {
                Some(c) => Some((
                    consent_text("purpose", &c.purpose).map_err(|e| e.about(at()))?,
                    c.lawful_basis,
                    consent_text("source", &c.source).map_err(|e| e.about(at()))?,
                    consent_text("wordingVersion", &c.wording_version)
                        .map_err(|e| e.about(at()))?,
                )),
                None => None,
            };
            let hash = self.address_hash(tenant, &address).await?;
            checked.push((
                row.first_name,
                row.last_name,
                row.country,
                row.crm_person_id,
                address,
                hash,
                consent,
            ));
        }
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let hashes: Vec<String> = checked.iter().map(|c| c.5.clone()).collect();
        let suppressed = contacts::suppressed_among(&*txn, tenant, &hashes).await?;
        let now = now_ms();
        let mut models = Vec::with_capacity(checked.len());
        let mut consents = Vec::new();
        for (n, (first, last, country, person, address, hash, given)) in
            checked.into_iter().enumerate()
        {
            let is_suppressed = suppressed.contains(&hash);
            let id = new_id();
            let mut status = if is_suppressed {
                ContactStatus::Unsubscribed
            } else {
                ContactStatus::Pending
            };
            if let Some((purpose, basis, source, wording)) = given {
                if is_suppressed {
                    return Err(ApiError::rule(
                        reasons::CONTACT_SUPPRESSED,
                        "the address is suppressed: only the contact's own confirmed opt-in lifts an unsubscribe",
                    )
                    .about(format!("row {n}")));
                }
                if purpose == EMAIL_MARKETING {
                    status = ContactStatus::Subscribed;
                }
                consents.push(consent::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    id: new_id(),
                    contact_id: id.clone(),
                    purpose,
                    lawful_basis: basis.as_str().to_owned(),
                    source,
                    wording_version: wording,
                    granted: true,
                    actor: actor.to_owned(),
                    recorded_at: now,
                    confirmation: None,
                    confirmed_at: None,
                    confirmed_source: None,
                    confirmed_address: None,
                });
            }
            models.push(contact::Model {
                tenant_id: tenant.as_str().to_owned(),
                id,
                crm_person_id: blank_to_none(person),
                email: Some(address.as_str().to_owned()),
                address_hash: Some(hash),
                first_name: blank_to_none(first),
                last_name: blank_to_none(last),
                country: blank_to_none(country).map(|c| c.to_uppercase()),
                status: status.as_str().to_owned(),
                created_at: now,
                updated_at: now,
                erased_at: None,
            });
        }
        bulk::insert_many::<contact::Entity>(&*txn, &models).await?;
        bulk::insert_many::<consent::Entity>(&*txn, &consents).await?;
        // The membership: the facts as stored, evaluated by the segments' own rules.
        let ids: Vec<String> = models.into_iter().map(|m| m.id).collect();
        let all = load_segments(&*txn, tenant, None).await?;
        let segment_ids: Vec<String> = crate::store::segments::all(&*txn, tenant)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let enrols = !journeys::triggered(
            &*txn,
            tenant,
            TriggerKind::SegmentJoined.as_str(),
            &segment_ids,
            false,
        )
        .await?
        .is_empty();
        let mut members = Vec::new();
        let mut joined_by: Vec<(String, Vec<String>)> = Vec::new();
        for chunk in ids.chunks(crate::store::IN_LIST_CHUNK) {
            for facts in facts_of(&*txn, tenant, chunk).await? {
                let joined: BTreeSet<String> = if facts.status == ContactStatus::Erased {
                    BTreeSet::new()
                } else {
                    all.memberships_of(&facts)
                };
                members.extend(joined.iter().map(|segment_id| segment_member::Model {
                    tenant_id: tenant.as_str().to_owned(),
                    segment_id: segment_id.clone(),
                    contact_id: facts.id.clone(),
                }));
                if enrols && !joined.is_empty() {
                    joined_by.push((facts.id, joined.into_iter().collect()));
                }
            }
        }
        bulk::insert_many::<segment_member::Entity>(&*txn, &members).await?;
        for (contact_id, joined) in &joined_by {
            self.enroll_triggered(&txn, tenant, TriggerKind::SegmentJoined, joined, contact_id)
                .await?;
        }
        self.commit(txn).await?;
        Ok(ids)
    }
}
