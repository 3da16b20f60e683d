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
//! | `ERP_MAX_SUBSCRIPTIONS_PER_USER` | `25` | live subscriptions one user may hold in one process (TOO_MANY_SUBSCRIPTIONS above) |
//! | `ERP_MAX_COST` | `200000` | an operation's estimated cost above which it is refused (COST_LIMIT_EXCEEDED; erp_net::cost): a backstop above the router's 20,000, whose entity fetches carry the real number of representations |
//! | `ERP_DEFAULT_LIST_SIZE` | `10` | items a plain list field is assumed to return in the cost estimate |
//! | `ERP_MAX_NESTED_PAGE_SIZE` | `25` | the largest `first`/`last` of a connection nested under a list (BAD_USER_INPUT above: nested pages multiply); a top-level connection allows 100 |
//! | `ERP_TRUSTED_PROXIES` | none (`erp-os all`: loopback added) | comma-separated CIDR networks or addresses of the proxies (the router) whose word on the client's address is believed: `x-erp-client-address`, else `X-Forwarded-For` |
//! | `ERP_KEK_FILE` | `.erp/keys/local-kek.key` | local key-encryption key of field encryption (created if missing) |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | unset: no trace export | OTLP/HTTP (protobuf) URL that receives the service's spans, e.g. `http://collector:4318/v1/traces` |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | unset | the collector's base URL; `/v1/traces` is appended (used when the variable above is unset) |
//! | `OTEL_SERVICE_NAME` | `erp-<service>` | `service.name` of the exported spans |
//! | `OTEL_TRACES_SAMPLER_ARG` | `1.0` | share of the traces this service starts that it keeps (a caller's `traceparent` decides for the requests it sends) |
//! | `OTEL_BSP_SCHEDULE_DELAY` | `5000` | milliseconds between two exports of finished spans |
//! | `ERP_TRACE_FILTER` | `info,sqlx=warn,sea_orm=warn,mongodb=warn` | which spans are exported (`RUST_LOG` syntax) |

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
    pub max_subscriptions_per_user: usize,
    /// Estimated cost above which an operation is refused.
    pub max_cost: u64,
    /// Items a list field without `first`/`last` is assumed to return.
    pub default_list_size: u64,
    /// The largest page of a connection nested under a list.
    pub max_nested_page_size: u64,
    /// Connections (`Type.field`) allowed another largest page under a list than
    /// `max_nested_page_size`: set by the subgraph (not configured) for a connection whose
    /// enclosing list it bounds itself, see [`Limits::with_nested_page_cap`].
    pub nested_page_caps: std::collections::BTreeMap<String, u64>,
}

impl Limits {
    /// These limits with the connection `type_field` (`Type.field`) allowed `max` items per
    /// page under a list: for a connection under a list the subgraph bounds (a pipeline
    /// board's stages, at most 20), where a larger page does not multiply without end.
    pub fn with_nested_page_cap(mut self, type_field: &str, max: u64) -> Self {
        self.nested_page_caps.insert(type_field.to_owned(), max);
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_aliases: 30,
            max_root_fields: 20,
            max_directives: 50,
            max_body_bytes: 2 * 1024 * 1024,
            max_subscriptions_per_user: crate::live::DEFAULT_MAX_SUBSCRIPTIONS_PER_USER,
            max_cost: 200_000,
            default_list_size: 10,
            max_nested_page_size: 25,
            nested_page_caps: Default::default(),
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
    /// Proxies (the router) whose word on the client's address is believed.
    pub trusted_proxies: Vec<erp_net::IpNet>,
    /// The local key-encryption-key file of field-level encryption (a KMS in production).
    pub kek_file: std::path::PathBuf,
    /// Where spans are exported (OpenTelemetry); `None`: no export.
    pub traces: Option<TraceExport>,
}

/// OpenTelemetry trace export (OTLP over HTTP, protobuf), from the standard `OTEL_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceExport {
    /// The URL spans are POSTed to (`.../v1/traces`).
    pub endpoint: String,
    /// `service.name` of the spans.
    pub service_name: String,
    /// 0.0 to 1.0: the share of new traces kept (parent-based: a sampled caller's trace is kept).
    pub sampling: f64,
    /// Time between two exports.
    pub schedule_delay: Duration,
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
        let trusted_proxies = erp_net::parse_list(&get("ERP_TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|err| ConfigError {
                name: "ERP_TRUSTED_PROXIES",
                problem: err.to_string(),
            })?;
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
                max_subscriptions_per_user: parse_usize(
                    "ERP_MAX_SUBSCRIPTIONS_PER_USER",
                    defaults.max_subscriptions_per_user,
                )?,
                max_cost: parse_usize("ERP_MAX_COST", defaults.max_cost as usize)? as u64,
                default_list_size: parse_usize(
                    "ERP_DEFAULT_LIST_SIZE",
                    defaults.default_list_size as usize,
                )? as u64,
                max_nested_page_size: parse_usize(
                    "ERP_MAX_NESTED_PAGE_SIZE",
                    defaults.max_nested_page_size as usize,
                )? as u64,
                nested_page_caps: defaults.nested_page_caps,
            },
            log_format,
            trusted_proxies,
            kek_file: get("ERP_KEK_FILE")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| std::path::PathBuf::from(".erp/keys/local-kek.key")),
            traces: trace_export(service, &get)?,
        })
    }
}

fn trace_export(
    service: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<TraceExport>, ConfigError> {
    let endpoint = match get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Some(url) => url.trim().to_owned(),
        None => match get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) => format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            None => return Ok(None),
        },
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(ConfigError {
            name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            problem: format!("`{endpoint}` is not an http(s) URL"),
        });
    }
    let sampling = match get("OTEL_TRACES_SAMPLER_ARG") {
        None => 1.0,
        Some(raw) => match raw.trim().parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            _ => {
                return Err(ConfigError {
                    name: "OTEL_TRACES_SAMPLER_ARG",
                    problem: format!("`{raw}` is not a ratio from 0.0 to 1.0"),
                })
            }
        },
    };
    let schedule_delay = match get("OTEL_BSP_SCHEDULE_DELAY") {
        None => Duration::from_secs(5),
        Some(raw) => Duration::from_millis(raw.trim().parse().map_err(|_| ConfigError {
            name: "OTEL_BSP_SCHEDULE_DELAY",
            problem: format!("`{raw}` is not a number of milliseconds"),
        })?),
    };
    Ok(Some(TraceExport {
        endpoint,
        service_name: get("OTEL_SERVICE_NAME").unwrap_or_else(|| format!("erp-{service}")),
        sampling,
        schedule_delay,
    }))
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
        assert_eq!(config.traces, None);
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn trusted_proxies_are_cidr_networks_and_cost_limits_are_read() {
        let config = with(&[
            ("ERP_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,2001:db8::/32"),
            ("ERP_MAX_COST", "5000"),
            ("ERP_MAX_NESTED_PAGE_SIZE", "10"),
        ])
        .unwrap();
        let shown: Vec<String> = config
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32"]);
        assert_eq!(config.limits.max_cost, 5000);
        assert_eq!(config.limits.max_nested_page_size, 10);
        assert_eq!(config.limits.default_list_size, 10);
        let err = with(&[("ERP_TRUSTED_PROXIES", "10.0.0.0/8,router")])
            .err()
            .unwrap();
        assert_eq!(err.name, "ERP_TRUSTED_PROXIES");
        assert!(err.problem.contains("`router`"), "{}", err.problem);
    }

    fn with(vars: &[(&str, &str)]) -> Result<KitConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        KitConfig::from_lookup("pmo", 4003, |k| vars.get(k).cloned())
    }

    #[test]
    fn trace_export_from_the_standard_variables() {
        let config = with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(
            config.traces,
            Some(TraceExport {
                endpoint: "http://collector:4318/v1/traces".into(),
                service_name: "erp-pmo".into(),
                sampling: 1.0,
                schedule_delay: Duration::from_secs(5),
            })
        );
        let config = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://otel.example/traces",
            ),
            ("OTEL_SERVICE_NAME", "pmo-eu-1"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ])
        .unwrap();
        let traces = config.traces.unwrap();
        assert_eq!(traces.endpoint, "https://otel.example/traces");
        assert_eq!(traces.service_name, "pmo-eu-1");
        assert_eq!(traces.sampling, 0.25);
        assert_eq!(traces.schedule_delay, Duration::from_millis(200));

        let endpoint = "http://c:4318";
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ] {
            let err = with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint), (name, value)])
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert_eq!(err.name, name);
        }
    }
}
