//! Signing-key rotation: the next key is published on the schedule of `domain::keys`.

use erp_kit::ApiResult;

use super::key_store::new_key;
use super::{now_ms, Identity};
use crate::domain::keys::Rotation;
use crate::events::{self, KeyRotated};
use crate::store;

impl Identity {
    /// Publishes a new signing key now, signing with it from one JWKS TTL on; the keys in use
    /// today leave the JWKS once every token they signed has expired. The schedule, the new key
    /// and the audit event are one transaction.
    pub async fn rotate_signing_key(&self) -> ApiResult<String> {
        let keys = &self.keys;
        let rotation = Rotation::at(now_ms(), keys.jwks_ttl(), keys.token_ttl());
        let (kid, pkcs8) = new_key()?;
        let sealed = keys.seal(&kid, &pkcs8).await?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        store::keys::retire_current(&txn, rotation.retire_previous_at).await?;
        store::keys::insert(&txn, &kid, sealed, rotation.activates_at).await?;
        self.record(
            &txn,
            events::SYSTEM_TENANT,
            &kid,
            None,
            &KeyRotated {
                kid: &kid,
                signs_after_secs: self.config.jwks_cache_ttl.as_secs(),
            },
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        keys.reload().await?;
        Ok(kid)
    }
}
