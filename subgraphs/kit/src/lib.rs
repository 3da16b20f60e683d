//! The shared subgraph kit: everything every subgraph needs and none should write again.
//!
//! - [`config`]: typed configuration from the environment;
//! - [`auth`]: RS256 tokens, JWKS verification, the caller's [`auth::Identity`];
//! - [`authz`]: field-level scopes and `@authenticated`, declared once, exported to the federated
//!   SDL and enforced at run time from the same declaration;
//! - [`tenant`]: tenant scoping and the resolver context helpers;
//! - [`error`]: one error type with stable `extensions.code` values;
//! - [`pagination`]: Relay connections;
//! - [`scalars`] and [`money`]: the API's shared scalars (`DateTime`, `Date`, `IsoWeek`,
//!   `TimeOfDay`, `TimeZone`, `Decimal`, `CurrencyCode`) and the `Money` object;
//! - [`events`]: event envelope, transactional outbox, consumers with an inbox (exactly-once
//!   effects, retries, dead letters), Kafka and in-process buses;
//! - [`cache`]: cache and pub/sub, Redis and in-process;
//! - [`http`]: the HTTP service (GraphQL over HTTP, CSRF, health, readiness, metrics);
//! - [`schema`]: building a subgraph schema with the kit's rules, and exporting its SDL.

pub mod auth;
pub mod authz;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod limits;
pub mod live;
pub mod loaders;
pub mod money;
pub mod pagination;
pub mod retry;
pub mod runtime;
pub mod scalars;
pub mod schema;
pub mod telemetry;
pub mod tenant;
pub mod types;
pub mod webhook;

pub use error::{ApiError, ApiResult, ErrorCode, Reason, RuleViolation};
pub use tenant::{RequestContext, TenantId};
