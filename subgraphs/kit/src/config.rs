//! Typed configuration from environment variables, with documented defaults.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ERP_BIND` | `127.0.0.1:<service port>` | address the service listens on |
//! | `DATABASE_URL` | `sqlite://erp.db?mode=rwc` | PostgreSQL in production, a SQLite file embedded |
//! | `REDIS_URL` | unset: in-process cache | Redis for cache, pub/sub, timers, rate limits |
//! | `KAFKA_BROKERS` | unset: in-process bus | Kafka bootstrap servers for domain events |
//! | `MONGO_URL` | unset: embedded document store | MongoDB for the document domains |
//! | `ERP_JWKS_URL` | `http://127.0.0.1:4001/.well-known/jwks.json` | identity service's JWKS |
//! | `ERP_JWT_ISSUER` | `http://127.0.0.1:4001` | the only accepted `iss` |
//! | `ERP_JWT_AUDIENCE` | `erp` | the accepted `aud` |
//! | `ERP_JWKS_CACHE_SECS` | `300` | how long fetched keys are trusted |
//! | `ERP_LOG_FORMAT` | `json` | `json` or `pretty` |
//! | `ERP_MAX_DEPTH` | `12` | query depth limit |
//! | `ERP_MAX_ALIASES` | `30` | aliases per operation |
//! | `ERP_MAX_ROOT_FIELDS` | `20` | root fields per operation |
//! | `ERP_MAX_DIRECTIVES` | `50` | directives per operation |
//! | `ERP_MAX_BODY_BYTES` | `2097152` | request body limit (413 above) |
//! | `ERP_TRUSTED_PROXIES` | none | comma-separated proxy IPs whose `X-Forwarded-For` is believed |
//! | `ERP_KEK_FILE` | `.erp/keys/local-kek.key` | local key-encryption key of field encryption (created if missing) |

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::VerifierConfig;

#[derive(Debug, thiserror::Error)]
#[error("configuration variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// The request limits every subgraph applies (the same defaults as the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_aliases: 30,
            max_root_fields: 20,
            max_directives: 50,
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct KitConfig {
    pub service: String,
    pub bind: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub kafka_brokers: Option<String>,
    pub mongo_url: Option<String>,
    pub auth: VerifierConfig,
    pub limits: Limits,
    pub log_format: LogFormat,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The local key-encryption-key file of field-level encryption (a KMS in production).
    pub kek_file: std::path::PathBuf,
}

impl KitConfig {
    /// Reads the process environment.
    pub fn from_env(service: &str, default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(service, default_port, |name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(
        service: &str,
        default_port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let parse_usize = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw.trim().parse().map_err(|_| ConfigError {
                    name,
                    problem: format!("`{raw}` is not a whole number"),
                }),
            }
        };
        let bind = match get("ERP_BIND") {
            None => SocketAddr::from(([127, 0, 0, 1], default_port)),
            Some(raw) => raw.parse().map_err(|_| ConfigError {
                name: "ERP_BIND",
                problem: format!("`{raw}` is not an address like 127.0.0.1:4002"),
            })?,
        };
        let issuer = get("ERP_JWT_ISSUER").unwrap_or_else(|| "http://127.0.0.1:4001".into());
        let jwks_url = get("ERP_JWKS_URL")
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        let log_format = match get("ERP_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError {
                    name: "ERP_LOG_FORMAT",
                    problem: format!("`{other}` is neither `json` nor `pretty`"),
                })
            }
        };
        let mut trusted_proxies = Vec::new();
        for raw in get("ERP_TRUSTED_PROXIES").unwrap_or_default().split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            trusted_proxies.push(raw.parse().map_err(|_| ConfigError {
                name: "ERP_TRUSTED_PROXIES",
                problem: format!("`{raw}` is not an IP address"),
            })?);
        }
        let defaults = Limits::default();
        Ok(Self {
            service: service.to_owned(),
            bind,
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://erp.db?mode=rwc".into()),
            redis_url: get("REDIS_URL"),
            kafka_brokers: get("KAFKA_BROKERS"),
            mongo_url: get("MONGO_URL"),
            auth: VerifierConfig {
                jwks_url,
                issuer,
                audience: get("ERP_JWT_AUDIENCE").unwrap_or_else(|| "erp".into()),
                cache_ttl: Duration::from_secs(parse_usize("ERP_JWKS_CACHE_SECS", 300)? as u64),
                min_refetch_interval: Duration::from_secs(10),
                leeway: Duration::from_secs(30),
            },
            limits: Limits {
                max_depth: parse_usize("ERP_MAX_DEPTH", defaults.max_depth)?,
                max_aliases: parse_usize("ERP_MAX_ALIASES", defaults.max_aliases)?,
                max_root_fields: parse_usize("ERP_MAX_ROOT_FIELDS", defaults.max_root_fields)?,
                max_directives: parse_usize("ERP_MAX_DIRECTIVES", defaults.max_directives)?,
                max_body_bytes: parse_usize("ERP_MAX_BODY_BYTES", defaults.max_body_bytes)?,
            },
            log_format,
            trusted_proxies,
            kek_file: get("ERP_KEK_FILE")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| std::path::PathBuf::from(".erp/keys/local-kek.key")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_errors() {
        let empty = HashMap::<String, String>::new();
        let config = KitConfig::from_lookup("employee", 4002, |k| empty.get(k).cloned()).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:4002");
        assert!(config.redis_url.is_none());
        assert_eq!(config.limits, Limits::default());
        assert_eq!(
            config.auth.jwks_url,
            "http://127.0.0.1:4001/.well-known/jwks.json"
        );

        let bad = HashMap::from([("ERP_MAX_DEPTH".to_string(), "deep".to_string())]);
        let err = KitConfig::from_lookup("employee", 4002, |k| bad.get(k).cloned()).unwrap_err();
        assert_eq!(err.name, "ERP_MAX_DEPTH");
    }
}
