//! Signed links (domain/token.rs): the tag is an HMAC under the tenant's index key (the kit's
//! data keys, the same key family as the address hashes, under its own column name). A link of
//! a tenant without marketing contacts is refused before any key is looked up, so a forged
//! tenant never makes the service create a key.

use erp_kit::{ApiError, ApiResult, TenantId};

use super::Marketing;
use crate::domain::reasons;
use crate::domain::token::{self, LinkClaims, LinkPurpose};
use crate::store::contacts;
use crate::store::entities::contact;

/// The blind-index column name the link tags are computed under.
const LINK_COLUMN: &str = "mkt.link";

/// The public routes' path segments.
pub const UNSUBSCRIBE_PATH: &str = "unsubscribe";
pub const RESUBSCRIBE_PATH: &str = "resubscribe";
pub const CONFIRM_PATH: &str = "confirm";
pub const OPEN_PATH: &str = "t/open";
pub const CLICK_PATH: &str = "t/click";

impl Marketing {
    /// The token of `claims`.
    pub async fn sign(&self, claims: &LinkClaims) -> ApiResult<String> {
        let tenant = TenantId::from_claim(&claims.tenant);
        let payload = token::payload(claims);
        let tag = self
            .cipher
            .blind_index(&tenant, LINK_COLUMN, &payload)
            .await?;
        Ok(token::token(&payload, &tag))
    }

    /// The public URL of a link.
    pub fn link_url(&self, path: &str, token: &str) -> String {
        format!(
            "{}/marketing/{path}/{token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    /// Where a website posts a submission of the form with this public key.
    pub fn form_url(&self, public_key: &str) -> String {
        format!(
            "{}/marketing/forms/{public_key}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    /// A one-click unsubscribe link for a contact (and the campaign that carried it).
    pub async fn unsubscribe_url(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        campaign_id: Option<&str>,
        expires_at_secs: i64,
    ) -> ApiResult<String> {
        let token = self
            .sign(&LinkClaims {
                purpose: LinkPurpose::Unsubscribe,
                tenant: tenant.as_str().to_owned(),
                contact_id: contact_id.to_owned(),
                reference: campaign_id.map(str::to_owned),
                url: None,
                expires_at: expires_at_secs,
            })
            .await?;
        Ok(self.link_url(UNSUBSCRIBE_PATH, &token))
    }

    /// The re-subscribe link of a contact (given with the answer to its unsubscribe; the
    /// campaign that carried the unsubscribe, when there was one).
    pub async fn resubscribe_url(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        campaign_id: Option<&str>,
    ) -> ApiResult<String> {
        let token = self
            .sign(&LinkClaims {
                purpose: LinkPurpose::Resubscribe,
                tenant: tenant.as_str().to_owned(),
                contact_id: contact_id.to_owned(),
                reference: campaign_id.map(str::to_owned),
                url: None,
                expires_at: self.link_expiry(),
            })
            .await?;
        Ok(self.link_url(RESUBSCRIBE_PATH, &token))
    }

    /// When a link minted now expires (Unix seconds).
    pub fn link_expiry(&self) -> i64 {
        chrono::Utc::now().timestamp() + self.settings.link_ttl_secs
    }

    /// The verified claims of a link with its tenant and contact, or TOKEN_INVALID (a forged,
    /// altered, expired or misdirected link, or one of an unknown contact).
    pub(crate) async fn verify_link(
        &self,
        raw: &str,
        purpose: LinkPurpose,
    ) -> ApiResult<(TenantId, LinkClaims, contact::Model)> {
        let (tenant, claims, contact) = self.verify_link_signature(raw, purpose).await?;
        if token::expired(&claims, chrono::Utc::now().timestamp()) {
            return Err(ApiError::rule(
                reasons::TOKEN_INVALID,
                "the link has expired",
            ));
        }
        Ok((tenant, claims, contact))
    }

    /// [`Self::verify_link`] without the expiry check: the genuine claims of a link, expired
    /// or not (the opt-in confirmation answers an expired link with its own reason).
    pub(crate) async fn verify_link_signature(
        &self,
        raw: &str,
        purpose: LinkPurpose,
    ) -> ApiResult<(TenantId, LinkClaims, contact::Model)> {
        let unverified = token::read(raw)?;
        let tenant = TenantId::from_claim(&unverified.claims.tenant);
        let refused = || {
            ApiError::rule(
                reasons::TOKEN_INVALID,
                "the link's signature does not verify",
            )
        };
        let contact = contacts::contact(&self.db, &tenant, &unverified.claims.contact_id)
            .await?
            .ok_or_else(refused)?;
        let expected = self
            .cipher
            .blind_index(&tenant, LINK_COLUMN, &unverified.payload)
            .await?;
        let claims = token::verify_signature(unverified, &expected, purpose)?;
        Ok((tenant, claims, contact))
    }
}
