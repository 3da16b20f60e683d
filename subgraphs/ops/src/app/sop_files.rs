//! SOP files in object storage: a version's bytes are read back from the blob store and
//! checked against the hash its document stores (a changed file is refused, never served), and
//! handed out through signed download URLs (HMAC-SHA256 over tenant, hash and expiry; the URL
//! is the credential, so it expires).

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};

use erp_kit::{ApiError, ApiResult, TenantId};

use super::Ops;
use crate::domain::reasons;
use crate::domain::sop::ContentHash;
use crate::store::blobs::SharedBlobStore;
use crate::store::{AttachmentRef, SopVersionDoc};

/// The path the ops subgraph serves signed downloads on (`/sop-files/<tenant>/<hash>`).
pub const DOWNLOAD_PATH: &str = "/sop-files";

/// The path of signed ticket attachment downloads (`/ticket-files/<tenant>/<hash>`).
pub const ATTACHMENT_PATH: &str = "/ticket-files";

/// The longest a download URL lives.
pub const MAX_URL_SECONDS: i64 = 24 * 60 * 60;

/// The SOP files: where the bytes live and the key that signs their URLs.
#[derive(Clone)]
pub struct SopFiles {
    pub blobs: SharedBlobStore,
    key: hmac::Key,
}

impl SopFiles {
    /// `key`: at least 32 bytes, the same on every replica (URLs signed by one are served by
    /// another).
    pub fn new(blobs: SharedBlobStore, key: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(key.len() >= 32, "the URL signing key has at least 32 bytes");
        Ok(Self {
            blobs,
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    fn download_message(tenant: &TenantId, hash: &ContentHash, expires: i64) -> String {
        format!("sop-file|{}|{}|{expires}", tenant.as_str(), hash.as_str())
    }

    /// The hex HMAC of `message`.
    fn sign(&self, message: &str) -> String {
        let tag = hmac::sign(&self.key, message.as_bytes());
        hex::encode(tag)
    }

    /// Whether `signature` signs `message` and `expires` is not past `now`.
    fn verify(
        &self,
        message: &str,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        let tag: Option<Vec<u8>> = (signature.len() == 64 && signature.is_ascii())
            .then(|| {
                (0..64)
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&signature[i..i + 2], 16).ok())
                    .collect()
            })
            .flatten();
        let genuine =
            tag.is_some_and(|tag| hmac::verify(&self.key, message.as_bytes(), &tag).is_ok());
        if !genuine {
            return Err(ApiError::rule(
                reasons::SIGNED_URL_INVALID,
                "the signed URL is not valid",
            ));
        }
        if expires < now.timestamp() {
            return Err(ApiError::rule(
                reasons::SIGNED_URL_EXPIRED,
                "the signed URL has expired",
            ));
        }
        Ok(())
    }
}

/// The media types an SOP file is uploaded as (Markdown or plain text).
pub const UPLOAD_TYPES: [&str; 2] = ["text/markdown", "text/plain"];

impl SopFiles {
    fn upload_message(tenant: &TenantId, sop_id: &str, user: &str, expires: i64) -> String {
        format!("sop-upload|{}|{sop_id}|{user}|{expires}", tenant.as_str())
    }
}

/// A signed download URL (a path on the ops subgraph) and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub path: String,
    pub expires_at: DateTime<Utc>,
}

impl Ops {
    /// The bytes of a version as text: from the blob store (or, for a version written before
    /// object storage, inline), refused when they no longer hash to the stored hash.
    pub async fn sop_version_content(
        &self,
        tenant: &TenantId,
        version: &SopVersionDoc,
    ) -> ApiResult<String> {
        if let Some(inline) = &version.content {
            return Ok(inline.clone());
        }
        let hash = ContentHash::parse("hash", &version.hash)
            .map_err(|_| ApiError::internal("a stored hash that does not parse"))?;
        let bytes = self.verified_bytes(tenant, &hash).await?;
        String::from_utf8(bytes).map_err(|_| ApiError::internal("an SOP file that is not UTF-8"))
    }

    async fn verified_bytes(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<Vec<u8>> {
        let bytes = self
            .files
            .blobs
            .get(tenant, hash)
            .await?
            .ok_or_else(|| ApiError::internal("an SOP file missing from object storage"))?;
        if ContentHash::of(&bytes) != *hash {
            tracing::error!(
                tenant = tenant.as_str(),
                hash = hash.as_str(),
                "an SOP file no longer matches its hash: refused"
            );
            return Err(ApiError::internal("an SOP file no longer matches its hash"));
        }
        Ok(bytes)
    }

    /// A download URL of the version with `hash`, valid for `seconds` (1 to 86,400).
    pub fn sop_download_url(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
        seconds: i64,
        now: DateTime<Utc>,
    ) -> ApiResult<SignedUrl> {
        if !(1..=MAX_URL_SECONDS).contains(&seconds) {
            return Err(ApiError::bad_input(
                "expiresInSeconds",
                format!("a download URL lives 1 to {MAX_URL_SECONDS} seconds"),
            ));
        }
        let expires = now.timestamp() + seconds;
        let signature = self
            .files
            .sign(&SopFiles::download_message(tenant, hash, expires));
        Ok(SignedUrl {
            path: format!(
                "{DOWNLOAD_PATH}/{}/{}?expires={expires}&signature={signature}",
                tenant.as_str(),
                hash.as_str()
            ),
            expires_at: DateTime::from_timestamp(expires, 0)
                .ok_or_else(|| ApiError::internal("an expiry out of range"))?,
        })
    }

    /// The bytes a signed download URL names: FORBIDDEN when the signature does not match or
    /// the URL expired; NOT_FOUND when no file has that hash.
    pub async fn signed_download(
        &self,
        tenant: &TenantId,
        hash: &ContentHash,
        expires: i64,
        signature: &str,
    ) -> ApiResult<Vec<u8>> {
        let message = SopFiles::download_message(tenant, hash, expires);
        self.files
            .verify(&message, expires, signature, Utc::now())?;
        if self.files.blobs.get(tenant, hash).await?.is_none() {
            return Err(ApiError::NotFound("SOP file".into()));
        }
        self.verified_bytes(tenant, hash).await
    }

    /// A URL the caller PUTs a new draft version of an SOP to (Markdown or plain text, at most
    /// [`super::sops::MAX_SOP_BYTES`]), valid for `seconds` (1 to 86,400).
    pub async fn sop_upload_url(
        &self,
        tenant: &TenantId,
        uploader: &str,
        sop_id: &str,
        seconds: i64,
        now: DateTime<Utc>,
    ) -> ApiResult<SignedUrl> {
        if !(1..=MAX_URL_SECONDS).contains(&seconds) {
            return Err(ApiError::bad_input(
                "expiresInSeconds",
                format!("an upload URL lives 1 to {MAX_URL_SECONDS} seconds"),
            ));
        }
        if self.sop(tenant, sop_id).await?.is_none() {
            return Err(ApiError::NotFound("SOP".into()));
        }
        let expires = now.timestamp() + seconds;
        let signature = self
            .files
            .sign(&SopFiles::upload_message(tenant, sop_id, uploader, expires));
        Ok(SignedUrl {
            path: format!(
                "{DOWNLOAD_PATH}/{}/uploads/{sop_id}?user={uploader}&expires={expires}&signature={signature}",
                tenant.as_str(),
            ),
            expires_at: DateTime::from_timestamp(expires, 0)
                .ok_or_else(|| ApiError::internal("an expiry out of range"))?,
        })
    }

    /// A signed upload: the URL's signature and expiry, the media type, the size, the text,
    /// then the new draft version (by the uploader the URL names). A refused upload writes
    /// nothing: the file is stored only once everything about it is accepted, right before
    /// the version that references it.
    #[allow(clippy::too_many_arguments)]
    pub async fn signed_upload(
        &self,
        tenant: &TenantId,
        sop_id: &str,
        uploader: &str,
        expires: i64,
        signature: &str,
        media_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> ApiResult<crate::store::SopDoc> {
        let message = SopFiles::upload_message(tenant, sop_id, uploader, expires);
        self.files
            .verify(&message, expires, signature, Utc::now())?;
        let essence = media_type
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        if !essence
            .as_deref()
            .is_some_and(|essence| UPLOAD_TYPES.contains(&essence))
        {
            return Err(ApiError::bad_input(
                "contentType",
                format!("an SOP file is one of {}", UPLOAD_TYPES.join(", ")),
            ));
        }
        if bytes.len() > super::sops::MAX_SOP_BYTES {
            return Err(ApiError::bad_input(
                "content",
                format!(
                    "an SOP version is at most {} bytes",
                    super::sops::MAX_SOP_BYTES
                ),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::bad_input("content", "an SOP file is UTF-8 text"))?;
        self.change_sop_as(
            tenant,
            uploader,
            sop_id,
            super::sops::SopChange::AddDraft(text),
        )
        .await
    }
}

/// A ticket attachment as a signed download names it: the file's hash and what it is served as
/// (the name and media type the message gave it), all under the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAttachment {
    pub hash: ContentHash,
    pub name: String,
    pub content_type: String,
}

/// The media types an attachment is served as; any other is served as
/// `application/octet-stream` (a downloaded file, never a page rendered on the API's origin).
const INLINE_SAFE_TYPES: [&str; 6] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
];

impl SignedAttachment {
    /// The media type the download answers with.
    pub fn served_type(&self) -> &str {
        let essence = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        INLINE_SAFE_TYPES
            .iter()
            .find(|safe| safe.eq_ignore_ascii_case(essence))
            .copied()
            .unwrap_or("application/octet-stream")
    }

    fn message(&self, tenant: &TenantId, expires: i64) -> String {
        // Lengths first, so no choice of name or type can make two attachments sign alike.
        format!(
            "ticket-file|{}|{}|{}:{}|{}:{}|{expires}",
            tenant.as_str(),
            self.hash.as_str(),
            self.name.len(),
            self.name,
            self.content_type.len(),
            self.content_type
        )
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Ops {
    /// A download URL of a ticket's (or a reply's) attachment, valid for `seconds` (1 to
    /// 86,400). The caller reached the attachment through a ticket it may read (the ticket's
    /// scopes and row rule), which is what issuing the URL checks; the URL then names the
    /// tenant, the file's hash, its name and media type under one signature.
    pub fn attachment_download_url(
        &self,
        tenant: &TenantId,
        attachment: &AttachmentRef,
        seconds: i64,
        now: DateTime<Utc>,
    ) -> ApiResult<SignedUrl> {
        if !(1..=MAX_URL_SECONDS).contains(&seconds) {
            return Err(ApiError::bad_input(
                "expiresInSeconds",
                format!("a download URL lives 1 to {MAX_URL_SECONDS} seconds"),
            ));
        }
        let signed = SignedAttachment {
            hash: ContentHash::parse("sha256", &attachment.sha256)
                .map_err(|_| ApiError::internal("a stored attachment hash that does not parse"))?,
            name: attachment.name.clone(),
            content_type: attachment.content_type.clone(),
        };
        let expires = now.timestamp() + seconds;
        let signature = self.files.sign(&signed.message(tenant, expires));
        Ok(SignedUrl {
            path: format!(
                "{ATTACHMENT_PATH}/{}/{}?name={}&type={}&expires={expires}&signature={signature}",
                tenant.as_str(),
                signed.hash.as_str(),
                query_value(&signed.name),
                query_value(&signed.content_type),
            ),
            expires_at: DateTime::from_timestamp(expires, 0)
                .ok_or_else(|| ApiError::internal("an expiry out of range"))?,
        })
    }

    /// The bytes a signed attachment URL names: FORBIDDEN (`SIGNED_URL_INVALID`) when the
    /// signature does not match the tenant, hash, name and type, (`SIGNED_URL_EXPIRED`) past
    /// its expiry; NOT_FOUND when the tenant has no file with the hash; INTERNAL when the
    /// stored bytes no longer hash to it.
    pub async fn signed_attachment_download(
        &self,
        tenant: &TenantId,
        attachment: &SignedAttachment,
        expires: i64,
        signature: &str,
    ) -> ApiResult<Vec<u8>> {
        self.files.verify(
            &attachment.message(tenant, expires),
            expires,
            signature,
            Utc::now(),
        )?;
        if self
            .files
            .blobs
            .get(tenant, &attachment.hash)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound("attachment".into()));
        }
        self.verified_bytes(tenant, &attachment.hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(name: &str, content_type: &str) -> SignedAttachment {
        SignedAttachment {
            hash: ContentHash::of(b"x"),
            name: name.into(),
            content_type: content_type.into(),
        }
    }

    #[test]
    fn attachments_are_served_as_a_safe_type_or_as_bytes() {
        assert_eq!(
            attachment("a.pdf", "application/pdf").served_type(),
            "application/pdf"
        );
        assert_eq!(
            attachment("a.png", "IMAGE/PNG; x=1").served_type(),
            "image/png"
        );
        for risky in ["text/html", "image/svg+xml", "application/xhtml+xml", ""] {
            assert_eq!(
                attachment("a", risky).served_type(),
                "application/octet-stream",
                "{risky}"
            );
        }
    }

    #[test]
    fn a_name_cannot_pass_for_another_name_and_type() {
        let tenant = TenantId::from_claim("tnt_a");
        assert_ne!(
            attachment("a|b", "c").message(&tenant, 1),
            attachment("a", "b|c").message(&tenant, 1)
        );
        assert_eq!(query_value("Report 1/2.pdf"), "Report%201%2F2.pdf");
        assert_eq!(query_value("é"), "%C3%A9");
    }
}
