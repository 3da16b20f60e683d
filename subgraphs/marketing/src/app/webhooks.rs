//! The mail provider's bounce and complaint webhook (domain/webhook.rs): a verified call's
//! events are recorded one by one through [`Marketing::record_bounce`] (hard bounces and
//! complaints suppress the address; the message, when named, feeds the campaign funnel).

use std::time::Duration;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::Marketing;
use crate::domain::webhook::{parse_events, verify, MailEventKind};

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
    pub async fn receive_mail_events(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> ApiResult<WebhookOutcome> {
        let secret = self
            .settings
            .webhook_secret
            .as_deref()
            .ok_or_else(|| ApiError::NotFound("the mail provider webhook".into()))?;
        let tolerance = self.settings.webhook_tolerance_secs;
        let signature = verify(
            secret.as_bytes(),
            timestamp,
            signature,
            body,
            chrono::Utc::now().timestamp(),
            tolerance,
        )?;
        let events = parse_events(body)?;
        let replay_key = format!("mkt:webhook:{signature}");
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
