//! Standard operating procedures: versions draft -> in review -> published -> superseded,
//! content-addressed (SHA-256 of the bytes); a version's bytes never change once submitted;
//! acknowledgements bind (user, SOP, version hash), only on the current published version,
//! and a new published version needs a new acknowledgement.

use chrono::Utc;

use erp_kit::auth::Claims;
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outcome, Attempts, Ops, Outcome};
use crate::domain::collided;
use crate::domain::sop::{ContentHash, Version, VersionStatus, Versions};
use crate::store::{decode_all, one, AcknowledgementDoc, Kind, SopDoc, SopVersionDoc, Write};

/// The largest SOP document, in bytes.
pub const MAX_SOP_BYTES: usize = 1024 * 1024;

/// A change of an SOP's versions.
pub enum SopChange {
    /// A new draft version with this content.
    AddDraft(String),
    /// New content for a draft.
    ReplaceDraft {
        version: u32,
        content: String,
    },
    Submit(u32),
    Reject(u32),
    Publish(u32),
}

fn checked_content(content: &str) -> ApiResult<()> {
    if content.trim().is_empty() {
        return Err(ApiError::bad_input("content", "an SOP has content"));
    }
    if content.len() > MAX_SOP_BYTES {
        return Err(ApiError::bad_input(
            "content",
            format!("an SOP version is at most {MAX_SOP_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn versions_of(sop: &SopDoc) -> ApiResult<Versions> {
    sop.versions
        .iter()
        .map(|version| {
            Ok(Version {
                number: version.number,
                hash: ContentHash::parse("hash", &version.hash)
                    .map_err(|_| ApiError::internal("a stored hash that does not parse"))?,
                status: version.status,
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Versions)
}

impl Ops {
    pub async fn sop(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<SopDoc>> {
        one(&*self.store, tenant, Kind::Sops, id).await
    }

    pub async fn sops(&self, tenant: &TenantId, page: &PageRequest) -> ApiResult<Vec<SopDoc>> {
        decode_all(self.store.find(tenant, Kind::Sops, &[], Some(page)).await?)
    }

    /// Creates an SOP with its first (draft) version.
    pub async fn create_sop(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        title: String,
        content: String,
    ) -> ApiResult<SopDoc> {
        checked_content(&content)?;
        // The bytes first: a failed commit leaves at most an unreferenced file (content-
        // addressed, so a retry lands on the same one), never a version without its file.
        let hash = self.files.blobs.put(tenant, content.as_bytes()).await?;
        let now = Utc::now();
        let sop = SopDoc {
            id: erp_kit::db::new_id(),
            tenant_id: tenant.as_str().to_owned(),
            rev: 0,
            title,
            versions: vec![SopVersionDoc {
                number: 1,
                hash: hash.as_str().to_owned(),
                status: VersionStatus::Draft,
                content: None,
                created_by: caller.sub.clone(),
                created_at: now,
                published_at: None,
            }],
            acknowledgements: vec![],
            created_at: now,
        };
        let writes = [Write::insert(Kind::Sops, &sop)?];
        match outcome(self.store.commit(tenant, &writes, &[]).await?) {
            Outcome::Done => Ok(sop),
            _ => Err(collided()),
        }
    }

    /// Applies a change to an SOP's versions (the domain's rules: one draft at a time, bytes
    /// immutable past draft, one published version).
    pub async fn change_sop(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        change: SopChange,
    ) -> ApiResult<SopDoc> {
        self.change_sop_as(tenant, &caller.sub, id, change).await
    }

    /// [`Ops::change_sop`] by the user `author` (a signed upload names its uploader).
    pub async fn change_sop_as(
        &self,
        tenant: &TenantId,
        author: &str,
        id: &str,
        change: SopChange,
    ) -> ApiResult<SopDoc> {
        let stored_hash = match &change {
            SopChange::AddDraft(content) | SopChange::ReplaceDraft { content, .. } => {
                checked_content(content)?;
                Some(self.files.blobs.put(tenant, content.as_bytes()).await?)
            }
            _ => None,
        };
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let sop = self.existing_sop(tenant, id).await?;
            let mut versions = versions_of(&sop)?;
            let mut next = SopDoc {
                rev: sop.rev + 1,
                ..sop.clone()
            };
            let now = Utc::now();
            match &change {
                SopChange::AddDraft(content) => {
                    let hash = stored_hash
                        .clone()
                        .unwrap_or_else(|| ContentHash::of(content.as_bytes()));
                    let number = versions.add_draft(hash.clone())?;
                    next.versions.push(SopVersionDoc {
                        number,
                        hash: hash.as_str().to_owned(),
                        status: VersionStatus::Draft,
                        content: None,
                        created_by: author.to_owned(),
                        created_at: now,
                        published_at: None,
                    });
                }
                SopChange::ReplaceDraft { version, content } => {
                    let hash = stored_hash
                        .clone()
                        .unwrap_or_else(|| ContentHash::of(content.as_bytes()));
                    versions.replace_content(*version, hash.clone())?;
                    if let Some(stored) = next.versions.iter_mut().find(|v| v.number == *version) {
                        stored.hash = hash.as_str().to_owned();
                        stored.content = None;
                    }
                }
                SopChange::Submit(version) => versions.submit(*version)?,
                SopChange::Reject(version) => versions.reject(*version)?,
                SopChange::Publish(version) => versions.publish(*version)?,
            }
            for stored in next.versions.iter_mut() {
                if let Some(version) = versions.0.iter().find(|v| v.number == stored.number) {
                    if stored.status != VersionStatus::Published
                        && version.status == VersionStatus::Published
                    {
                        stored.published_at = Some(now);
                    }
                    stored.status = version.status;
                }
            }
            let writes = [Write::replace(Kind::Sops, &next, sop.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// The caller acknowledges the version with `hash`: only the current published one; once
    /// per (user, version hash), never revoked.
    pub async fn acknowledge_sop(
        &self,
        tenant: &TenantId,
        caller: &Claims,
        id: &str,
        hash: ContentHash,
    ) -> ApiResult<SopDoc> {
        let mut attempts = Attempts::new();
        while attempts.next().await {
            let sop = self.existing_sop(tenant, id).await?;
            let versions = versions_of(&sop)?;
            versions.acknowledgeable(&hash)?;
            let already = sop
                .acknowledgements
                .iter()
                .any(|ack| ack.user_id == caller.sub && ack.hash == hash.as_str());
            if already {
                return Ok(sop);
            }
            let version = versions.current().map_or(0, |current| current.number);
            let mut next = SopDoc {
                rev: sop.rev + 1,
                ..sop.clone()
            };
            next.acknowledgements.push(AcknowledgementDoc {
                user_id: caller.sub.clone(),
                version,
                hash: hash.as_str().to_owned(),
                at: Utc::now(),
            });
            let writes = [Write::replace(Kind::Sops, &next, sop.rev)?];
            if let Outcome::Done = outcome(self.store.commit(tenant, &writes, &[]).await?) {
                return Ok(next);
            }
        }
        Err(collided())
    }

    /// Whether `user_id` still has to acknowledge the SOP's current published version.
    pub fn needs_acknowledgement(sop: &SopDoc, user_id: &str) -> ApiResult<bool> {
        let versions = versions_of(sop)?;
        let hashes = sop
            .acknowledgements
            .iter()
            .filter(|ack| ack.user_id == user_id)
            .filter_map(|ack| ContentHash::parse("hash", &ack.hash).ok())
            .collect::<Vec<_>>();
        Ok(versions.needs_acknowledgement(hashes.iter()))
    }

    async fn existing_sop(&self, tenant: &TenantId, id: &str) -> ApiResult<SopDoc> {
        self.sop(tenant, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("SOP".into()))
    }
}
