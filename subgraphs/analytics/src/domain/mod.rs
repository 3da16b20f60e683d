//! Analytics domain types and rules: pure, no GraphQL, no database. The facts the consumer
//! makes of events ([`facts`]) and the one metrics layer ([`metrics`]): typed measures and
//! dimensions compiled to each engine's SQL, with the tenant filter and the field scopes
//! enforced by the compiler.

pub mod calendar;
pub mod facts;
pub mod metrics;
pub mod profitability;
pub mod reconciliation;

/// The domain's name: its subgraph, its consumer group `erp.analytics.facts`.
pub const DOMAIN: &str = "analytics";

erp_kit::reasons! {
    /// The analytics rules a client can branch on (`extensions.reason`), with their kit code.
    pub mod reasons {
        /// No metric of the catalogue has this name.
        UNKNOWN_METRIC => BadUserInput,
        /// No dimension has this name, or the metric cannot be grouped or filtered by it.
        UNKNOWN_DIMENSION => BadUserInput,
        /// Person-level figures need the person's manager or HR (`analytics:people`,
        /// `hr:read`, `hr:admin`): grouping by person is refused without it.
        PERSON_LEVEL_FORBIDDEN => Forbidden,
        /// Payroll-derived cost is for finance and HR only (`analytics:cost`, `finance:read`,
        /// `hr:admin`).
        COST_FORBIDDEN => Forbidden,
        /// A filter on a field the viewer may not see (a person without the person-level
        /// scope).
        FORBIDDEN_FILTER => Forbidden,
        /// The time range is empty, reversed, or longer than the store keeps.
        INVALID_RANGE => BadUserInput,
        /// The range starts before the retention (facts older than it are gone).
        BEYOND_RETENTION => BadUserInput,
        /// A filter value or a grouping list is malformed (too many dimensions, an id with
        /// characters no id has).
        INVALID_QUERY => BadUserInput,
        /// This engine cannot run the request (exports need the ClickHouse store).
        ENGINE_UNSUPPORTED => Conflict,
        /// The export link is unknown, used, or expired.
        EXPORT_EXPIRED => NotFound,
        /// No source domain analytics reads has this name (a replay names `employee`, `pmo`,
        /// `finance`, `crm`, `ops` or `marketing`).
        UNKNOWN_SOURCE => BadUserInput,
        /// This analytics service replays nothing (it was started without an event bus).
        REPLAY_UNAVAILABLE => Conflict,
        /// A reporting calendar analytics cannot keep (a fiscal year starting in a month
        /// outside 1 to 12).
        INVALID_CALENDAR => BadUserInput,
        /// A metric export would hold more rows or bytes than one file may (group by fewer
        /// dimensions or export a shorter range).
        EXPORT_TOO_LARGE => BadUserInput,
    }
}
