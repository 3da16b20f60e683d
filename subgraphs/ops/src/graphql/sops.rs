//! Standard operating procedures in GraphQL: versions with their content hash and state,
//! publishing, and acknowledgements bound to a version's hash.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::authz::authenticated;
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::DateTime;
use erp_kit::{ApiError, RequestContext};

use super::context::ops;
use crate::app::sops::SopChange;
use crate::app::Ops;
use crate::domain::short_text;
use crate::domain::sop::{ContentHash, VersionStatus};
use crate::store::{SopDoc, SopVersionDoc};

/// Where an SOP version is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SopVersionStatus {
    /// Being written: its content may still change.
    Draft,
    /// Submitted for review: its content is fixed.
    InReview,
    /// The current version people acknowledge.
    Published,
    /// Replaced by a later published version.
    Superseded,
}

impl From<VersionStatus> for SopVersionStatus {
    fn from(status: VersionStatus) -> Self {
        match status {
            VersionStatus::Draft => Self::Draft,
            VersionStatus::InReview => Self::InReview,
            VersionStatus::Published => Self::Published,
            VersionStatus::Superseded => Self::Superseded,
        }
    }
}

/// A signed URL of an SOP file (to download a version, or to upload a new one).
#[derive(SimpleObject)]
pub struct SopDownloadUrl {
    /// The path on the operations subgraph, with its expiry and signature.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime,
}

/// An upload URL of an SOP file (`sopUploadUrl`).
#[derive(InputObject)]
pub struct SopUploadUrlInput {
    /// The SOP the file becomes a new draft version of.
    pub sop_id: ID,
    /// How long the URL works, in seconds (1 to 86400, default 300).
    pub expires_in_seconds: Option<i32>,
}

/// One version of an SOP.
pub struct SopVersion(SopVersionDoc);

/// One version of an SOP.
#[Object]
impl SopVersion {
    /// 1, 2, 3... in the order they were written.
    async fn number(&self) -> i32 {
        self.0.number as i32
    }
    /// The SHA-256 of its content, 64 hex digits: what an acknowledgement binds.
    async fn content_hash(&self) -> &str {
        &self.0.hash
    }
    /// Where it is.
    async fn status(&self) -> SopVersionStatus {
        self.0.status.into()
    }
    /// The document (Markdown), read from object storage and checked against its hash.
    async fn content(&self, ctx: &Context<'_>) -> Result<String> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.sop_version_content(&tenant, &self.0).await?)
    }
    /// A signed URL to download the file (a path on the operations subgraph: `GET` it with
    /// no token); it stops working after `expiresInSeconds` (1 to 86400, default 300).
    async fn download_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "How long the URL works, in seconds (1 to 86400).",
            default = 300
        )]
        expires_in_seconds: i32,
    ) -> Result<SopDownloadUrl> {
        let tenant = ctx.tenant()?;
        let hash = ContentHash::parse("hash", &self.0.hash)
            .map_err(|_| ApiError::internal("a stored hash that does not parse"))?;
        let signed = ops(ctx)?.sop_download_url(
            &tenant,
            &hash,
            i64::from(expires_in_seconds),
            chrono::Utc::now(),
        )?;
        Ok(SopDownloadUrl {
            url: signed.path,
            expires_at: DateTime::from(signed.expires_at),
        })
    }
    /// Who wrote it.
    async fn created_by_id(&self) -> ID {
        ID(self.0.created_by.clone())
    }
    /// When it was published.
    async fn published_at(&self) -> Option<DateTime> {
        self.0.published_at.map(DateTime::from)
    }
}

/// An acknowledgement of an SOP version.
#[derive(SimpleObject)]
pub struct SopAcknowledgement {
    /// Who acknowledged.
    pub user_id: ID,
    /// The version acknowledged.
    pub version: i32,
    /// Its content hash.
    pub content_hash: String,
    /// When.
    pub at: DateTime,
}

/// A standard operating procedure.
pub struct Sop(pub SopDoc);

/// A standard operating procedure.
#[Object]
impl Sop {
    /// The SOP's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Every version, oldest first (a bounded part of the SOP).
    async fn versions(&self) -> Vec<SopVersion> {
        self.0.versions.iter().cloned().map(SopVersion).collect()
    }
    /// The current published version.
    async fn current_version(&self) -> Option<SopVersion> {
        self.0
            .versions
            .iter()
            .find(|v| v.status == VersionStatus::Published)
            .cloned()
            .map(SopVersion)
    }
    /// Whether the caller still has to acknowledge the current published version.
    async fn needs_my_acknowledgement(&self, ctx: &Context<'_>) -> Result<bool> {
        let claims = ctx.claims()?;
        Ok(Ops::needs_acknowledgement(&self.0, &claims.sub)?)
    }
    /// Every acknowledgement, oldest first.
    async fn acknowledgements(&self) -> Vec<SopAcknowledgement> {
        self.0
            .acknowledgements
            .iter()
            .map(|ack| SopAcknowledgement {
                user_id: ID(ack.user_id.clone()),
                version: ack.version as i32,
                content_hash: ack.hash.clone(),
                at: DateTime::from(ack.at),
            })
            .collect()
    }
}

/// A new SOP (`createSop`).
#[derive(InputObject)]
pub struct CreateSopInput {
    /// The title, 1 to 200 characters.
    pub title: String,
    /// The first version's content (Markdown), at most 1 MiB.
    pub content: String,
}

/// A new draft version (`addSopVersion`).
#[derive(InputObject)]
pub struct AddSopVersionInput {
    /// The SOP.
    pub sop_id: ID,
    /// The content (Markdown), at most 1 MiB.
    pub content: String,
}

/// New content for a draft (`updateSopDraft`).
#[derive(InputObject)]
pub struct UpdateSopDraftInput {
    /// The SOP.
    pub sop_id: ID,
    /// The draft version.
    pub version: i32,
    /// The content (Markdown), at most 1 MiB.
    pub content: String,
}

/// A version an operation applies to.
#[derive(InputObject)]
pub struct SopVersionInput {
    /// The SOP.
    pub sop_id: ID,
    /// The version.
    pub version: i32,
}

/// An acknowledgement (`acknowledgeSop`).
#[derive(InputObject)]
pub struct AcknowledgeSopInput {
    /// The SOP.
    pub sop_id: ID,
    /// The content hash of the version read: it must be the current published one.
    pub content_hash: String,
}

fn version_of(version: i32) -> Result<u32, ApiError> {
    u32::try_from(version).map_err(|_| ApiError::bad_input("version", "a version is 1 or more"))
}

/// SOPs.
#[derive(Default)]
pub struct SopQuery;

#[Object]
impl SopQuery {
    /// One SOP of the caller's tenant.
    #[graphql(requires_scopes = "sop:read")]
    async fn sop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The SOP's id.")] id: ID,
    ) -> Result<Option<Sop>> {
        let tenant = ctx.tenant()?;
        Ok(ops(ctx)?.sop(&tenant, &id).await?.map(Sop))
    }

    /// The caller's tenant's SOPs, oldest first, as a Relay connection.
    #[graphql(requires_scopes = "sop:read")]
    async fn sops(
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
    ) -> Result<Connection<String, Sop, EmptyFields, EmptyFields>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ops(ctx)?.sops(&tenant, &page).await?;
        let rows = rows.into_iter().map(Sop).collect();
        Ok(connection_from_rows(&page, rows, |s| s.0.id.clone()))
    }
}

/// Changes to SOPs.
#[derive(Default)]
pub struct SopMutation;

#[Object]
impl SopMutation {
    /// Creates an SOP with its first version as a draft.
    #[graphql(requires_scopes = "sop:write")]
    async fn create_sop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The title and the first version's content.")] input: CreateSopInput,
    ) -> Result<Sop> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let title = short_text("title", &input.title, 200, "title")?;
        Ok(Sop(ops(ctx)?
            .create_sop(&tenant, claims, title, input.content)
            .await?))
    }

    /// Adds a draft version (one draft or version in review at a time).
    #[graphql(requires_scopes = "sop:write")]
    async fn add_sop_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The SOP and the new content.")] input: AddSopVersionInput,
    ) -> Result<Sop> {
        change(ctx, &input.sop_id, SopChange::AddDraft(input.content)).await
    }

    /// Replaces a draft's content; a submitted or published version never changes.
    #[graphql(requires_scopes = "sop:write")]
    async fn update_sop_draft(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft and its new content.")] input: UpdateSopDraftInput,
    ) -> Result<Sop> {
        let version = version_of(input.version)?;
        change(
            ctx,
            &input.sop_id,
            SopChange::ReplaceDraft {
                version,
                content: input.content,
            },
        )
        .await
    }

    /// Submits a draft for review (its content is fixed from now on).
    #[graphql(requires_scopes = "sop:write")]
    async fn submit_sop_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The version.")] input: SopVersionInput,
    ) -> Result<Sop> {
        let version = version_of(input.version)?;
        change(ctx, &input.sop_id, SopChange::Submit(version)).await
    }

    /// Sends a version in review back to draft.
    #[graphql(requires_scopes = "sop:publish")]
    async fn reject_sop_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The version.")] input: SopVersionInput,
    ) -> Result<Sop> {
        let version = version_of(input.version)?;
        change(ctx, &input.sop_id, SopChange::Reject(version)).await
    }

    /// Publishes a version in review; the one published before is superseded and everyone
    /// acknowledges again.
    #[graphql(requires_scopes = "sop:publish")]
    async fn publish_sop_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The version.")] input: SopVersionInput,
    ) -> Result<Sop> {
        let version = version_of(input.version)?;
        change(ctx, &input.sop_id, SopChange::Publish(version)).await
    }

    /// A URL to PUT a new draft version's file to (Markdown or plain text, UTF-8, at most
    /// 1 MiB), signed for the caller; it stops working after `expiresInSeconds` (1 to 86400,
    /// default 300).
    #[graphql(requires_scopes = "sop:write")]
    async fn sop_upload_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The SOP and how long the URL works.")] input: SopUploadUrlInput,
    ) -> Result<SopDownloadUrl> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let signed = ops(ctx)?
            .sop_upload_url(
                &tenant,
                &claims.sub,
                &input.sop_id,
                i64::from(input.expires_in_seconds.unwrap_or(300)),
                chrono::Utc::now(),
            )
            .await?;
        Ok(SopDownloadUrl {
            url: signed.path,
            expires_at: DateTime::from(signed.expires_at),
        })
    }

    /// The caller acknowledges the current published version, named by its content hash.
    #[graphql(directive = authenticated::apply())]
    async fn acknowledge_sop(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The SOP and the hash of the version read.")] input: AcknowledgeSopInput,
    ) -> Result<Sop> {
        let tenant = ctx.tenant()?;
        let claims = ctx.claims()?;
        let hash = ContentHash::parse("contentHash", &input.content_hash)?;
        Ok(Sop(ops(ctx)?
            .acknowledge_sop(&tenant, claims, &input.sop_id, hash)
            .await?))
    }
}

async fn change(ctx: &Context<'_>, id: &str, change: SopChange) -> Result<Sop> {
    let tenant = ctx.tenant()?;
    let claims = ctx.claims()?;
    Ok(Sop(ops(ctx)?
        .change_sop(&tenant, claims, id, change)
        .await?))
}
