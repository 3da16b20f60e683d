//! Security audit events of the identity domain (topic `erp.identity.events`). Payloads never
//! carry secrets (no passwords, codes, tokens or key material).

pub const DOMAIN: &str = "identity";

pub const TENANT_CREATED: &str = "tenant.created";
pub const USER_INVITED: &str = "user.invited";
pub const USER_ACTIVATED: &str = "user.activated";
pub const USER_DEACTIVATED: &str = "user.deactivated";
pub const ROLE_CREATED: &str = "role.created";
pub const ROLE_ASSIGNED: &str = "role.assigned";
pub const LOGIN_SUCCEEDED: &str = "login.succeeded";
pub const LOGIN_FAILED: &str = "login.failed";
pub const MFA_ENROLLED: &str = "mfa.enrolled";
pub const REFRESH_REUSE_DETECTED: &str = "session.refresh_reuse_detected";
pub const LOGGED_OUT: &str = "session.logged_out";
pub const KEY_ROTATED: &str = "signing_key.rotated";
