//! Security audit events of the identity domain (topic `erp.identity.events`): one typed payload
//! per event type. Payloads never carry secrets (no passwords, codes, tokens or key material).
//! Nothing consumes them inside the supergraph today; they are the audit trail.

use serde::Serialize;

use erp_kit::events::EventEnvelope;
use erp_kit::TenantId;

/// The domain that names the outbox table (`identity_outbox`) and the topic.
pub const DOMAIN: &str = "identity";

/// The tenant of events that belong to no tenant (signing keys).
pub const SYSTEM_TENANT: &str = "system";

/// A payload and its `event_type`.
pub trait IdentityEvent: Serialize {
    const TYPE: &'static str;
}

/// The envelope of `event` about `aggregate` in `tenant`, caused by `actor` when a user did.
pub fn envelope<E: IdentityEvent>(
    tenant: &str,
    aggregate: &str,
    actor: Option<&str>,
    event: &E,
) -> Result<EventEnvelope, serde_json::Error> {
    let envelope = EventEnvelope::new(&TenantId::from_claim(tenant), E::TYPE, aggregate, event)?;
    Ok(match actor {
        Some(actor) => envelope.with_actor(actor),
        None => envelope,
    })
}

macro_rules! event_types {
    ($($payload:ident $(<$lt:lifetime>)? => $name:literal),* $(,)?) => {
        $(impl IdentityEvent for $payload $(<$lt>)? {
            const TYPE: &'static str = $name;
        })*
    };
}

event_types! {
    TenantCreated<'_> => "tenant.created",
    UserInvited<'_> => "user.invited",
    UsersImported => "users.imported",
    UserActivated => "user.activated",
    UserDeactivated => "user.deactivated",
    RoleCreated<'_> => "role.created",
    RoleAssigned<'_> => "role.assigned",
    LoginSucceeded<'_> => "login.succeeded",
    PasswordFailed<'_> => "login.failed",
    SecondFactorFailed<'_> => "login.failed",
    MfaEnrolled<'_> => "mfa.enrolled",
    RefreshReuseDetected<'_> => "session.refresh_reuse_detected",
    LoggedOut<'_> => "session.logged_out",
    KeyRotated<'_> => "signing_key.rotated",
}

#[derive(Debug, Serialize)]
pub struct TenantCreated<'a> {
    pub name: &'a str,
    pub admin_user_id: &'a str,
}

#[derive(Debug, Serialize)]
pub struct UserInvited<'a> {
    pub email: &'a str,
    pub role_id: &'a str,
}

/// One per import batch (not one per user: a bulk load is not news, but who loaded how many
/// accounts belongs in the audit trail). The aggregate is the tenant.
#[derive(Debug, Serialize)]
pub struct UsersImported {
    pub created: usize,
    /// Created active, with a password (the rest are invited).
    pub activated: usize,
}

/// The user set a password through an invitation (an empty payload).
#[derive(Debug, Default, Serialize)]
pub struct UserActivated {}

#[derive(Debug, Serialize)]
pub struct UserDeactivated {
    pub sessions_revoked: u64,
}

#[derive(Debug, Serialize)]
pub struct RoleCreated<'a> {
    pub name: &'a str,
    pub permissions: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct RoleAssigned<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

#[derive(Debug, Serialize)]
pub struct LoginSucceeded<'a> {
    /// The second factor: `totp`, `webauthn`, `recovery_code`.
    pub method: &'a str,
}

/// A wrong password for an existing account (unknown emails have no aggregate to record).
#[derive(Debug, Serialize)]
pub struct PasswordFailed<'a> {
    /// Always `password`.
    pub reason: &'a str,
    pub ip: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct SecondFactorFailed<'a> {
    /// What was wrong: `code`, `recovery code`, `security key response`.
    pub reason: &'a str,
}

#[derive(Debug, Serialize)]
pub struct MfaEnrolled<'a> {
    pub method: &'a str,
}

#[derive(Debug, Serialize)]
pub struct RefreshReuseDetected<'a> {
    pub family_id: &'a str,
    pub sessions_revoked: u64,
}

#[derive(Debug, Serialize)]
pub struct LoggedOut<'a> {
    pub family_id: &'a str,
}

#[derive(Debug, Serialize)]
pub struct KeyRotated<'a> {
    pub kid: &'a str,
    pub signs_after_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_keep_their_shape() {
        let event = envelope(
            "t1",
            "u1",
            None,
            &PasswordFailed {
                reason: "password",
                ip: None,
            },
        )
        .unwrap();
        assert_eq!(event.event_type, "login.failed");
        assert_eq!(
            event.payload,
            serde_json::json!({ "reason": "password", "ip": null })
        );
        let event = envelope("t1", "u1", Some("u1"), &UserActivated::default()).unwrap();
        assert_eq!(event.payload, serde_json::json!({}));
        assert_eq!(event.actor.as_deref(), Some("u1"));
    }
}
