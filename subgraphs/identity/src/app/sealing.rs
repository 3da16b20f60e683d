//! Secrets at rest. TOTP secrets are sealed with the kit's field cipher (AES-256-GCM under the
//! tenant's data key, wrapped by the KEK; the AAD binds tenant, table, column and user id, so a
//! sealed secret copied to another user does not open). Recovery codes are stored as a keyed
//! hash (HMAC-SHA256 of their SHA-256 under the tenant's index key: without the KEK a copy of
//! the database does not let anyone search the codes offline). Signing keys: `key_store.rs`.
//!
//! Rows written by earlier versions (a TOTP secret or a signing key in clear, a recovery code
//! as its bare SHA-256) are converted once at start ([`Identity::seal_legacy_secrets`]); until
//! then they are read as they are.

use erp_kit::crypto::is_sealed;
use erp_kit::{ApiResult, TenantId};

use super::Identity;
use crate::domain::secrets;
use crate::store;
use crate::store::entities::user;

/// Where a TOTP secret is kept (part of its AAD).
const TOTP_TABLE: &str = "users";
const TOTP_COLUMN: &str = "totp_secret";

/// The keyed hash's domain separation (the index key also serves other columns).
const RECOVERY_INDEX: &str = "recovery_codes.code_hash";

/// What [`Identity::seal_legacy_secrets`] converted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacySealed {
    pub signing_keys: usize,
    pub totp_secrets: usize,
    pub recovery_codes: usize,
}

impl Identity {
    /// `secret` sealed for `user`'s TOTP column. Writes the tenant's first data key on first
    /// use: call it before a write transaction.
    pub(super) async fn seal_totp_secret(
        &self,
        user: &user::Model,
        secret: &str,
    ) -> ApiResult<String> {
        self.cipher
            .encrypt(
                &TenantId::from_claim(&user.tenant_id),
                TOTP_TABLE,
                TOTP_COLUMN,
                &user.id,
                secret,
            )
            .await
    }

    /// The user's TOTP secret, opened.
    pub(super) async fn totp_secret(&self, user: &user::Model) -> ApiResult<Option<String>> {
        let Some(stored) = &user.totp_secret else {
            return Ok(None);
        };
        if !is_sealed(stored) {
            return Ok(Some(stored.clone()));
        }
        self.cipher
            .decrypt(
                &TenantId::from_claim(&user.tenant_id),
                TOTP_TABLE,
                TOTP_COLUMN,
                &user.id,
                stored,
            )
            .await
            .map(Some)
    }

    /// The stored form of a recovery code whose SHA-256 is `digest`, for `tenant`'s users.
    /// Writes the tenant's index key on first use: call it before a write transaction.
    pub(super) async fn recovery_code_hash(&self, tenant: &str, digest: &str) -> ApiResult<String> {
        let keyed = self
            .cipher
            .blind_index(&TenantId::from_claim(tenant), RECOVERY_INDEX, digest)
            .await?;
        Ok(secrets::keyed_hash(&keyed))
    }

    /// Seals what earlier versions stored in clear: signing keys, TOTP secrets, recovery-code
    /// hashes (each row by a conditional write: replicas starting together convert each row
    /// once). Runs at every start; a start with nothing to convert reads three short lists.
    pub async fn seal_legacy_secrets(&self) -> ApiResult<LegacySealed> {
        let mut done = LegacySealed::default();
        for key in store::keys::all(&self.db).await? {
            if is_sealed(&key.private_pkcs8) {
                continue;
            }
            let sealed = self.keys.seal(&key.kid, &key.private_pkcs8).await?;
            if store::keys::replace_private_key(&self.db, &key.kid, &key.private_pkcs8, &sealed)
                .await?
            {
                done.signing_keys += 1;
            }
        }
        for user in store::users::with_unsealed_totp(&self.db).await? {
            let Some(clear) = user.totp_secret.clone() else {
                continue;
            };
            let sealed = self.seal_totp_secret(&user, &clear).await?;
            if store::users::replace_totp_secret(&self.db, &user.id, &clear, &sealed).await? {
                done.totp_secrets += 1;
            }
        }
        for (code, tenant) in store::factors::unkeyed_recovery_codes(&self.db).await? {
            let keyed = self.recovery_code_hash(&tenant, &code.code_hash).await?;
            if store::factors::replace_recovery_code_hash(
                &self.db,
                &code.id,
                &code.code_hash,
                &keyed,
            )
            .await?
            {
                done.recovery_codes += 1;
            }
        }
        if done != LegacySealed::default() {
            tracing::info!(
                ?done,
                "sealed the secrets an earlier version stored in clear"
            );
        }
        Ok(done)
    }
}
