//! The mail provider's bounce and complaint webhook (domain/webhook.rs): a verified call's
//! events are recorded one by one through [`Marketing::record_bounce`] (hard bounces and
//! complaints suppress the address; the message, when named, feeds the campaign funnel).
//!
//! Each tenant has its own secret, generated here, sealed at rest with the tenant's data key
//! (the kit's FieldCipher) and rotated with an overlap during which the previous one still
//! verifies; its URL names the tenant. The deployment-wide secret (`webhook_secret`, from
//! `ERP_MARKETING_WEBHOOK_SECRET`) still verifies calls to the legacy URL: deprecated.

use std::time::Duration;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::{now_ms, Marketing};
use crate::domain::webhook::{
    new_secret, parse_events_for, rotation_overlap, verify_any, MailEventKind,
};
use crate::store::entities::webhook_secret;
use crate::store::{new_id, webhooks};

/// Where the sealed secrets are (the FieldCipher's associated data names the cell).
const SECRETS_TABLE: &str = "mkt_webhook_secrets";
const SECRET_COLUMN: &str = "secret";

/// A tenant's webhook as staff see it (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// When the current secret was generated; `None`: the tenant has none (its URL answers
    /// 404).
    pub current_since: Option<i64>,
    /// Until when the previous secret still verifies (a rotation's overlap), if it does.
    pub previous_valid_until: Option<i64>,
}

/// A rotation's result: the new secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedSecret {
    pub secret: String,
    pub created_at: i64,
    pub previous_valid_until: Option<i64>,
}

/// What a webhook call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookOutcome {
    /// Events in the call.
    pub received: usize,
    /// Of them, those after which their address is suppressed.
    pub suppressed: usize,
    /// The same signed call was handled already (a provider retry or a replay): nothing done.
    pub duplicate: bool,
}

impl Marketing {
    /// Handles a call: verified (WEBHOOK_SIGNATURE_INVALID, WEBHOOK_TIMESTAMP_STALE), parsed
    /// whole before anything is written (WEBHOOK_PAYLOAD_INVALID), refused as a duplicate if
    /// its signature was seen within the tolerance window (answered, nothing done), then each
    /// event recorded in its own transaction. A failure part-way forgets the signature, so the
    /// provider's retry of the call is handled (hard bounces and complaints are idempotent).
    ///
    /// This is the legacy URL's (deprecated): the deployment-wide secret, any tenant named in
    /// the body; 404 without that secret configured.
    pub async fn receive_mail_events(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> ApiResult<WebhookOutcome> {
        let secret = self
            .settings
            .webhook_secret
            .clone()
            .ok_or_else(|| ApiError::NotFound("the mail provider webhook".into()))?;
        self.handle_mail_events(&[secret], None, timestamp, signature, body)
            .await
    }

    /// A call to a tenant's own webhook URL: verified under the tenant's secrets in force
    /// (the current one, and the previous one during a rotation's overlap), its events the
    /// tenant's only. A tenant without a secret answers 404 (and a forged tenant in the URL
    /// makes the service create nothing).
    pub async fn receive_tenant_mail_events(
        &self,
        tenant: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> ApiResult<WebhookOutcome> {
        let tenant_id = TenantId::from_claim(tenant);
        let stored = webhooks::in_force(&self.db, &tenant_id, now_ms()).await?;
        if stored.is_empty() {
            return Err(ApiError::NotFound("the mail provider webhook".into()));
        }
        let mut secrets = Vec::with_capacity(stored.len());
        for model in &stored {
            secrets.push(
                self.cipher
                    .decrypt(
                        &tenant_id,
                        SECRETS_TABLE,
                        SECRET_COLUMN,
                        &model.id,
                        &model.secret,
                    )
                    .await?,
            );
        }
        self.handle_mail_events(&secrets, Some(tenant), timestamp, signature, body)
            .await
    }

    /// Generates a new secret for the tenant's webhook: the current one keeps verifying for
    /// `overlap_secs` (0 to a week, WEBHOOK_ROTATION_INVALID), an older one stops at once.
    /// The new secret is sealed before the write (the tenant's first data key is written on
    /// its own) and answered once; only its sealed form is stored.
    pub async fn rotate_webhook_secret(
        &self,
        tenant: &TenantId,
        actor: &str,
        overlap_secs: i64,
    ) -> ApiResult<RotatedSecret> {
        let overlap = rotation_overlap(overlap_secs)?;
        let secret = new_secret();
        let id = new_id();
        let sealed = self
            .cipher
            .encrypt(tenant, SECRETS_TABLE, SECRET_COLUMN, &id, &secret)
            .await?;
        let now = now_ms();
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let had_one = webhooks::in_force(&*txn, tenant, now)
            .await?
            .iter()
            .any(|s| s.valid_until.is_none());
        webhooks::end_overlaps(&*txn, tenant).await?;
        let previous_valid_until = if had_one && overlap > 0 {
            let until = now + overlap * 1000;
            webhooks::retire_current(&*txn, tenant, until).await?;
            Some(until)
        } else {
            webhooks::retire_current(&*txn, tenant, now).await?;
            None
        };
        webhooks::insert(
            &*txn,
            webhook_secret::Model {
                tenant_id: tenant.as_str().to_owned(),
                id,
                secret: sealed,
                created_by: actor.to_owned(),
                created_at: now,
                valid_until: None,
            },
        )
        .await?;
        self.commit(txn).await?;
        Ok(RotatedSecret {
            secret,
            created_at: now,
            previous_valid_until,
        })
    }

    pub async fn webhook_settings(&self, tenant: &TenantId) -> ApiResult<WebhookSettings> {
        let stored = webhooks::in_force(&self.db, tenant, now_ms()).await?;
        Ok(WebhookSettings {
            current_since: stored
                .iter()
                .find(|s| s.valid_until.is_none())
                .map(|s| s.created_at),
            previous_valid_until: stored.iter().filter_map(|s| s.valid_until).max(),
        })
    }

    /// The tenant's webhook URL (the provider is configured with it).
    pub fn webhook_url(&self, tenant: &TenantId) -> String {
        format!(
            "{}/marketing/webhooks/{}/mail-events",
            self.settings.public_url.trim_end_matches('/'),
            tenant.as_str()
        )
    }

    async fn handle_mail_events(
        &self,
        secrets: &[String],
        url_tenant: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> ApiResult<WebhookOutcome> {
        let tolerance = self.settings.webhook_tolerance_secs;
        let keys: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        let signature = verify_any(
            &keys,
            timestamp,
            signature,
            body,
            chrono::Utc::now().timestamp(),
            tolerance,
        )?;
        let events = parse_events_for(body, url_tenant)?;
        let replay_key = match url_tenant {
            Some(tenant) => format!("mkt:webhook:{tenant}:{signature}"),
            None => format!("mkt:webhook:{signature}"),
        };
        let window = Duration::from_secs(u64::try_from(tolerance.max(1) * 2).unwrap_or(600));
        match self
            .cache
            .set_if_absent(&replay_key, b"1", Some(window))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Ok(WebhookOutcome {
                    received: events.len(),
                    duplicate: true,
                    ..WebhookOutcome::default()
                })
            }
            // The timestamp window still bounds a replay.
            Err(err) => tracing::warn!(error = %err, "webhook replay guard unavailable"),
        }
        let mut outcome = WebhookOutcome {
            received: events.len(),
            ..WebhookOutcome::default()
        };
        for event in &events {
            let recorded = self
                .record_bounce(
                    &TenantId::from_claim(&event.tenant),
                    event.email.as_str(),
                    event.status.as_deref(),
                    &event.diagnostic,
                    event.auto_submitted.as_deref(),
                    (event.kind == MailEventKind::Complaint).then_some("abuse"),
                    event.message_id.as_deref(),
                )
                .await;
            match recorded {
                Ok(result) => outcome.suppressed += usize::from(result.suppressed),
                Err(err) => {
                    if let Err(forget) = self.cache.delete(&replay_key).await {
                        tracing::warn!(error = %forget, "webhook replay key not forgotten");
                    }
                    return Err(err);
                }
            }
        }
        Ok(outcome)
    }
}
