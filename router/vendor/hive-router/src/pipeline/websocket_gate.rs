//! erp-os patch: connection-level policy for the router's client-facing WebSocket server
//! (graphql-transport-ws), which upstream has no hook for: a plugin sees the upgrade request but
//! never the socket's end, so it cannot count open connections. The embedding application
//! installs one gate ([`install`]); without one the server behaves as upstream.
//!
//! The server asks the gate when a connection opens (after the upgrade, before
//! `connection_init`) and when `connection_init` presented a verified token; either may refuse
//! (the connection is closed with the refusal's code) or hand back a permit, dropped when the
//! connection ends. It also caps the running subscriptions of one connection and closes a
//! connection that has been idle (no operation started, no subscription running) for the gate's
//! idle timeout.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::executor::plugin_context::PluginContext;

/// Why a connection is closed: a WebSocket close code (4000-4999 for the application) and a
/// reason (at most 123 bytes: the close frame's limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub reason: String,
}

/// Who a verified `connection_init` token names.
pub struct TokenHolder<'a> {
    /// `sub`.
    pub subject: Option<&'a str>,
    /// Every claim besides the registered ones (`tenant_id`, `permissions`, ...).
    pub claims: &'a HashMap<String, serde_json::Value>,
}

/// Held while the connection lives (a place in a count); dropped when it ends.
pub type Permit = Box<dyn Any>;

pub trait WebSocketGate: Send + Sync + 'static {
    /// A connection was upgraded; `context` is the plugin context of the upgrade request.
    fn open(&self, context: Option<&PluginContext>) -> Result<Option<Permit>, Refusal>;
    /// `connection_init` presented a token that verified.
    fn authenticated(
        &self,
        context: Option<&PluginContext>,
        holder: TokenHolder<'_>,
    ) -> Result<Option<Permit>, Refusal>;
    /// Running subscriptions one connection may hold (`None`: no cap). A `subscribe` over it
    /// gets an `error` message (`TOO_MANY_SUBSCRIPTIONS`); the connection stays open.
    fn max_subscriptions(&self) -> Option<usize>;
    /// How long a connection may start no operation while holding no subscription before it is
    /// closed with 1000 (`None`: never).
    fn idle_timeout(&self) -> Option<Duration>;
}

static GATE: RwLock<Option<Arc<dyn WebSocketGate>>> = RwLock::new(None);

/// Installs the gate every later connection consults (replacing any earlier one).
pub fn install(gate: Arc<dyn WebSocketGate>) {
    let mut slot = GATE.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(gate);
}

/// The installed gate, if any.
pub(crate) fn current() -> Option<Arc<dyn WebSocketGate>> {
    GATE.read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}
