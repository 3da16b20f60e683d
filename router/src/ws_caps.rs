//! Caps on the router's client WebSockets (edge-security.md; issue 16.5), enforced through the
//! gate hive-router is patched with (`hive_router::pipeline::websocket_gate`, see
//! router/vendor/hive-router/PATCHED.md), which the `erp_rate_limit` plugin installs:
//!
//! - connections per client address (IPv6 by /64; the address of the upgrade request, see
//!   [`crate::client_ip`]): one over `max_connections_per_ip` is closed with 4429 right after
//!   the upgrade, before it can even send `connection_init`;
//! - connections per user (tenant + `sub` of the verified `connection_init` token): one over
//!   `max_connections_per_user` is closed with 4429 instead of acknowledged;
//! - running subscriptions per connection: a `subscribe` over
//!   `max_subscriptions_per_connection` gets an `error` message (`TOO_MANY_SUBSCRIPTIONS`);
//! - a connection that starts no operation and holds no subscription for `idle_timeout` is
//!   closed with 1000 (a lazy client reconnects when it next subscribes).
//!
//! A token is required in `connection_init` (hive-router, patched: 4403 otherwise), so every
//! acknowledged connection is some user's. A place is given back when its connection ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use erp_net::AddressKey;
use hive_router::pipeline::websocket_gate::{Permit, Refusal, TokenHolder, WebSocketGate};
use hive_router::plugins::plugin_context::PluginContext;
use serde::Deserialize;

use crate::client_ip::ClientAddress;
use crate::config_value::number;

/// The close code of a connection over a cap (graphql-transport-ws uses 4429 for "too many").
pub const TOO_MANY_CONNECTIONS: u16 = 4429;

/// `plugins.erp_rate_limit.config.websocket`. A cap of 0 (or an idle timeout of 0 s) is off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    #[serde(default = "default_per_ip", deserialize_with = "number")]
    pub max_connections_per_ip: usize,
    #[serde(default = "default_per_user", deserialize_with = "number")]
    pub max_connections_per_user: usize,
    #[serde(default = "default_per_connection", deserialize_with = "number")]
    pub max_subscriptions_per_connection: usize,
    #[serde(
        default = "default_idle_timeout",
        with = "hive_router::humantime_serde"
    )]
    pub idle_timeout: Duration,
}

/// Generous: an office behind one NAT address holds a socket per open dashboard.
fn default_per_ip() -> usize {
    500
}
/// A few browser tabs and devices.
fn default_per_user() -> usize {
    10
}
/// The subgraphs' own per-user cap (`ERP_MAX_SUBSCRIPTIONS_PER_USER`).
fn default_per_connection() -> usize {
    25
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            max_connections_per_ip: default_per_ip(),
            max_connections_per_user: default_per_user(),
            max_subscriptions_per_connection: default_per_connection(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

/// Open connections per key.
struct Counts<K>(Mutex<HashMap<K, usize>>);

impl<K: Hash + Eq + Clone + Send + 'static> Counts<K> {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(HashMap::new())))
    }

    /// A place for `key`, unless it holds `max` already.
    fn take(self: &Arc<Self>, key: K, max: usize) -> Option<Place<K>> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Place {
            counts: Arc::clone(self),
            key,
        })
    }

    fn count(&self, key: &K) -> usize {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

/// One connection's place in a count, given back on drop.
struct Place<K: Hash + Eq> {
    counts: Arc<Counts<K>>,
    key: K,
}

impl<K: Hash + Eq> Drop for Place<K> {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The gate: counts per client address and per user.
pub struct ConnectionCaps {
    config: WebSocketConfig,
    per_address: Arc<Counts<AddressKey>>,
    per_user: Arc<Counts<String>>,
}

impl ConnectionCaps {
    pub fn new(config: WebSocketConfig) -> Self {
        Self {
            config,
            per_address: Counts::new(),
            per_user: Counts::new(),
        }
    }

    /// Connections `user` (`tenant:sub`) holds.
    pub fn connections_of_user(&self, user: &str) -> usize {
        self.per_user.count(&user.to_owned())
    }

    fn over(what: &str, max: usize) -> Refusal {
        Refusal {
            code: TOO_MANY_CONNECTIONS,
            reason: format!("too many connections for this {what} (at most {max})"),
        }
    }
}

/// `tenant:sub` of a token (`-` for a token without a tenant).
pub fn user_key(holder: &TokenHolder<'_>) -> Option<String> {
    let sub = holder.subject?;
    let tenant = holder
        .claims
        .get("tenant_id")
        .and_then(|value| value.as_str())
        .unwrap_or("-");
    Some(format!("{tenant}:{sub}"))
}

impl WebSocketGate for ConnectionCaps {
    fn open(&self, context: Option<&PluginContext>) -> Result<Option<Permit>, Refusal> {
        let max = self.config.max_connections_per_ip;
        if max == 0 {
            return Ok(None);
        }
        let Some(key) = context.and_then(|c| c.get_ref::<ClientAddress>().map(|a| a.key)) else {
            return Ok(None);
        };
        match self.per_address.take(key, max) {
            Some(place) => Ok(Some(Box::new(place))),
            None => Err(Self::over("address", max)),
        }
    }

    fn authenticated(
        &self,
        _context: Option<&PluginContext>,
        holder: TokenHolder<'_>,
    ) -> Result<Option<Permit>, Refusal> {
        let max = self.config.max_connections_per_user;
        // A token without `sub` (a client-credentials token) is capped by its address only.
        let (true, Some(user)) = (max > 0, user_key(&holder)) else {
            return Ok(None);
        };
        match self.per_user.take(user, max) {
            Some(place) => Ok(Some(Box::new(place))),
            None => Err(Self::over("user", max)),
        }
    }

    fn max_subscriptions(&self) -> Option<usize> {
        let max = self.config.max_subscriptions_per_connection;
        (max > 0).then_some(max)
    }

    fn idle_timeout(&self) -> Option<Duration> {
        let timeout = self.config.idle_timeout;
        (!timeout.is_zero()).then_some(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder<'a>(
        sub: Option<&'a str>,
        claims: &'a HashMap<String, serde_json::Value>,
    ) -> TokenHolder<'a> {
        TokenHolder {
            subject: sub,
            claims,
        }
    }

    #[test]
    fn the_configuration_has_documented_defaults() {
        let config: WebSocketConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(config.max_connections_per_ip, 500);
        assert_eq!(config.max_connections_per_user, 10);
        assert_eq!(config.max_subscriptions_per_connection, 25);
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        let config: WebSocketConfig = serde_json::from_value(serde_json::json!({
            "max_connections_per_ip": "3", "idle_timeout": "2s"
        }))
        .unwrap();
        assert_eq!(config.max_connections_per_ip, 3);
        assert_eq!(config.idle_timeout, Duration::from_secs(2));
    }

    #[test]
    fn a_user_over_the_cap_is_refused_until_a_connection_ends() {
        let caps = ConnectionCaps::new(WebSocketConfig {
            max_connections_per_user: 2,
            ..WebSocketConfig::default()
        });
        let claims = HashMap::from([("tenant_id".to_owned(), serde_json::json!("t1"))]);
        let first = caps
            .authenticated(None, holder(Some("alice"), &claims))
            .unwrap();
        let second = caps
            .authenticated(None, holder(Some("alice"), &claims))
            .unwrap();
        assert_eq!(caps.connections_of_user("t1:alice"), 2);
        let refused = caps
            .authenticated(None, holder(Some("alice"), &claims))
            .err()
            .unwrap();
        assert_eq!(refused.code, 4429);
        assert_eq!(
            refused.reason,
            "too many connections for this user (at most 2)"
        );
        // Another user, and the same subject in another tenant, are not affected.
        assert!(caps
            .authenticated(None, holder(Some("bob"), &claims))
            .is_ok());
        let other_tenant = HashMap::from([("tenant_id".to_owned(), serde_json::json!("t2"))]);
        assert!(caps
            .authenticated(None, holder(Some("alice"), &other_tenant))
            .is_ok());
        drop(first);
        assert_eq!(caps.connections_of_user("t1:alice"), 1);
        assert!(caps
            .authenticated(None, holder(Some("alice"), &claims))
            .is_ok());
        drop(second);
        // A token without a subject is not counted per user.
        assert!(caps
            .authenticated(None, holder(None, &claims))
            .unwrap()
            .is_none());
    }

    #[test]
    fn addresses_are_counted_from_the_upgrade_context_and_zero_is_off() {
        let caps = ConnectionCaps::new(WebSocketConfig {
            max_connections_per_ip: 1,
            max_subscriptions_per_connection: 0,
            idle_timeout: Duration::ZERO,
            ..WebSocketConfig::default()
        });
        let context = PluginContext::default();
        context.insert(ClientAddress::new("2001:db8:1:2::1".parse().unwrap()));
        let held = caps.open(Some(&context)).unwrap();
        assert!(held.is_some());
        // Another address of the same /64 is the same client.
        let neighbour = PluginContext::default();
        neighbour.insert(ClientAddress::new("2001:db8:1:2::ffff".parse().unwrap()));
        assert_eq!(caps.open(Some(&neighbour)).err().unwrap().code, 4429);
        drop(held);
        assert!(caps.open(Some(&neighbour)).unwrap().is_some());
        // Without a known address (no erp_rate_limit context): not counted.
        assert!(caps.open(None).unwrap().is_none());
        assert_eq!(caps.max_subscriptions(), None);
        assert_eq!(caps.idle_timeout(), None);
    }
}
