//! The production store: ClickHouse over HTTP through the official `clickhouse` crate
//! (RowBinaryWithNamesAndTypes, schema validated). Facts live in one
//! `ReplacingMergeTree(version)` table sorted by (tenant, kind, entity): a replayed or
//! duplicated event writes a row that merges away, and every read uses `FINAL`, so results
//! never count it twice even before the merge.
//!
//! Not partitioned: ReplacingMergeTree collapses versions only within a partition, and a
//! fact's calendar columns may change between versions.
//!
//! Tenant isolation in the server too ([`TenantIsolation`], optional): besides the tenant
//! filter the compiler writes into every query, tenant queries run as a user whose row
//! policy on `facts` keeps only the rows whose `tenant_id` is the query's tenant setting
//! (sent with each query), so a query that forgot its filter still sees one tenant.

use std::time::Duration;

use bytes::Bytes;
use clickhouse::{Client, Row};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use erp_kit::events::DeadLetter;

use super::{ExportStream, FactStore, RawRow, StoreError, StoredCalendar, StoredFact};
use crate::domain::metrics::{CompiledSql, Dialect, ExportQuery};

/// `CLICKHOUSE_URL` (e.g. `http://127.0.0.1:58123`) and `CLICKHOUSE_DATABASE`.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl ClickHouseConfig {
    pub const DEFAULT_DATABASE: &'static str = "erp_analytics";

    pub fn from_env() -> Option<Self> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(Self {
            url: get("CLICKHOUSE_URL")?,
            database: get("CLICKHOUSE_DATABASE")
                .unwrap_or_else(|| Self::DEFAULT_DATABASE.to_owned()),
            user: get("CLICKHOUSE_USER"),
            password: get("CLICKHOUSE_PASSWORD"),
        })
    }
}

/// Row-policy isolation of tenant queries: they run as `user`, whose row policy on `facts`
/// is `tenant_id = getSetting('<setting>')`, with `setting` set to the tenant on each query.
///
/// On a ClickHouse server, `setting` is a custom setting (`SQL_erp_tenant`: its prefix listed
/// in the server's `custom_settings_prefixes`) and the policy is SQL
/// ([`TenantIsolation::policy_sql`], created by [`FactStore::prepare`] when the server keeps
/// access entities). A server without either (clickhouse-local, the local stand-in: no
/// custom settings, users only from `users.xml`) takes the policy from the user's
/// `<databases><db><facts><filter>` in `users.xml` and a built-in string setting such as
/// `log_comment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantIsolation {
    pub user: String,
    pub password: Option<String>,
    pub setting: String,
}

impl TenantIsolation {
    /// The default tenant setting (a custom setting: `SQL_` is the server's default prefix).
    pub const DEFAULT_SETTING: &'static str = "SQL_erp_tenant";

    /// `CLICKHOUSE_TENANT_USER` (isolation off without it), `CLICKHOUSE_TENANT_PASSWORD`,
    /// `CLICKHOUSE_TENANT_SETTING` (default [`Self::DEFAULT_SETTING`]).
    pub fn from_env() -> Option<Self> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(Self {
            user: get("CLICKHOUSE_TENANT_USER")?,
            password: get("CLICKHOUSE_TENANT_PASSWORD"),
            setting: get("CLICKHOUSE_TENANT_SETTING")
                .unwrap_or_else(|| Self::DEFAULT_SETTING.to_owned()),
        })
    }

    /// The row policy of `database`.facts for the tenant user (names checked by the caller).
    pub fn policy_sql(&self, database: &str) -> String {
        format!(
            "CREATE ROW POLICY IF NOT EXISTS erp_tenant_isolation ON {database}.facts \
             FOR SELECT USING tenant_id = getSetting('{}') TO {}",
            self.setting, self.user
        )
    }

    fn names_are_plain(&self) -> bool {
        [self.user.as_str(), self.setting.as_str()]
            .iter()
            .all(|name| is_plain_name(name))
    }
}

/// A database, user or setting name spliced into DDL: letters, digits and `_` only.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub struct ClickHouseStore {
    /// Without a database: creates it.
    server: Client,
    client: Client,
    database: String,
    /// Tenant queries' user and setting, when tenant queries are isolated by a row policy.
    tenant: Option<(Client, TenantIsolation)>,
}

const FACTS_TABLE: &str = "CREATE TABLE IF NOT EXISTS facts (
    tenant_id String,
    kind LowCardinality(String),
    entity_id String,
    version UInt64,
    event_id String,
    occurred_ms Int64,
    ingested_ms Int64,
    day String,
    week String,
    month String,
    person_id String,
    user_id String,
    project_id String,
    client_id String,
    department_id String,
    quantity Int64,
    amount Int64,
    currency LowCardinality(String),
    billable UInt8,
    document_id String DEFAULT '',
    at_ms Nullable(Int64)
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, kind, entity_id)";

/// Columns added to `facts` since it was first created, for a table made before them (a new
/// table has them already): old rows read `''` and NULL, which is what a fact without a
/// document or an instant carries.
const FACTS_COLUMNS_ADDED: &[&str] = &[
    "ALTER TABLE facts ADD COLUMN IF NOT EXISTS document_id String DEFAULT ''",
    "ALTER TABLE facts ADD COLUMN IF NOT EXISTS at_ms Nullable(Int64)",
];

const DEAD_LETTERS_TABLE: &str = "CREATE TABLE IF NOT EXISTS dead_letters (
    consumer_group String,
    message_key String,
    topic String,
    source_partition Int32,
    source_offset Int64,
    event_id String,
    event_type String,
    tenant_id String,
    payload String,
    failure LowCardinality(String),
    error String,
    attempts UInt32,
    first_failed_ms Int64,
    last_failed_ms Int64
) ENGINE = ReplacingMergeTree
ORDER BY (consumer_group, message_key)";

/// Each tenant's reporting calendar, the newest setting per tenant (`FINAL`).
const CALENDARS_TABLE: &str = "CREATE TABLE IF NOT EXISTS tenant_calendars (
    tenant_id String,
    time_zone String,
    fiscal_year_start_month UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY tenant_id";

#[derive(Row, Serialize, Deserialize)]
struct CalendarRow {
    tenant_id: String,
    time_zone: String,
    fiscal_year_start_month: u8,
    version: u64,
}

#[derive(Row, Serialize, Deserialize)]
struct FactRow {
    tenant_id: String,
    kind: String,
    entity_id: String,
    version: u64,
    event_id: String,
    occurred_ms: i64,
    ingested_ms: i64,
    day: String,
    week: String,
    month: String,
    person_id: String,
    user_id: String,
    project_id: String,
    client_id: String,
    department_id: String,
    quantity: i64,
    amount: i64,
    currency: String,
    billable: u8,
    document_id: String,
    at_ms: Option<i64>,
}

impl From<&StoredFact> for FactRow {
    fn from(stored: &StoredFact) -> Self {
        let fact = &stored.fact;
        Self {
            tenant_id: fact.tenant_id.clone(),
            kind: fact.kind.as_str().to_owned(),
            entity_id: fact.entity_id.clone(),
            version: fact.version,
            event_id: fact.event_id.clone(),
            occurred_ms: fact.occurred_ms,
            ingested_ms: stored.ingested_ms,
            day: fact.day.clone(),
            week: fact.week.clone(),
            month: fact.month.clone(),
            person_id: fact.person_id.clone(),
            user_id: fact.user_id.clone(),
            project_id: fact.project_id.clone(),
            client_id: fact.client_id.clone(),
            department_id: fact.department_id.clone(),
            quantity: fact.quantity,
            amount: fact.amount,
            currency: fact.currency.clone(),
            billable: u8::from(fact.billable),
            document_id: fact.document_id.clone(),
            at_ms: fact.at_ms,
        }
    }
}

#[derive(Row, Serialize, Deserialize)]
struct DeadLetterRow {
    consumer_group: String,
    message_key: String,
    topic: String,
    source_partition: i32,
    source_offset: i64,
    event_id: String,
    event_type: String,
    tenant_id: String,
    payload: String,
    failure: String,
    error: String,
    attempts: u32,
    first_failed_ms: i64,
    last_failed_ms: i64,
}

#[derive(Row, Deserialize)]
struct MetricRowBinary {
    d0: String,
    d1: String,
    d2: String,
    d3: String,
    value: i64,
    people: u64,
}

fn store_error(err: clickhouse::error::Error) -> StoreError {
    match err {
        clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
            StoreError::unavailable(err.to_string())
        }
        other => StoreError::failed(other.to_string()),
    }
}

impl ClickHouseStore {
    pub fn new(config: &ClickHouseConfig) -> Self {
        let mut server = Client::default().with_url(&config.url);
        if let Some(user) = &config.user {
            server = server.with_user(user);
        }
        if let Some(password) = &config.password {
            server = server.with_password(password);
        }
        let client = server.clone().with_database(&config.database);
        Self {
            server,
            client,
            database: config.database.clone(),
            tenant: None,
        }
    }

    /// Tenant queries (metrics, exports) run as `isolation`'s user with its tenant setting.
    pub fn with_tenant_isolation(mut self, isolation: TenantIsolation) -> Self {
        let mut client = self.client.clone().with_user(&isolation.user);
        if let Some(password) = &isolation.password {
            client = client.with_password(password);
        }
        self.tenant = Some((client, isolation));
        self
    }

    /// The client `tenant`'s queries run on: bound to the tenant by the row policy's setting
    /// when tenant isolation is on (every read of `facts` through it sees only `tenant`'s
    /// rows, whatever its SQL says), else the store's own.
    pub fn tenant_client(&self, tenant: &str) -> Client {
        match &self.tenant {
            Some((client, isolation)) => client
                .clone()
                .with_setting(isolation.setting.as_str(), tenant),
            None => self.client.clone(),
        }
    }

    /// Creates the tenant user's row policy unless the server has one on `facts` for it
    /// (from SQL or from `users.xml`); fails when it can neither find nor create it, rather
    /// than run tenant queries unisolated.
    async fn ensure_row_policy(&self, isolation: &TenantIsolation) -> Result<(), StoreError> {
        if !isolation.names_are_plain() {
            return Err(StoreError::failed(format!(
                "the tenant user `{}` or setting `{}` is not a plain name",
                isolation.user, isolation.setting
            )));
        }
        let policies = || async {
            self.server
                .query(
                    "SELECT toUInt64(count()) FROM system.row_policies \
                     WHERE database = {db:String} AND table = 'facts' \
                     AND (has(apply_to_list, {user:String}) OR apply_to_all = 1)",
                )
                .param("db", self.database.as_str())
                .param("user", isolation.user.as_str())
                .fetch_one::<u64>()
                .await
                .map_err(store_error)
        };
        if policies().await? > 0 {
            return Ok(());
        }
        let created = self
            .server
            .query(&isolation.policy_sql(&self.database))
            .execute()
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(err) => Err(StoreError::failed(format!(
                "tenant isolation: no row policy on {}.facts for `{}`, and the server would not \
                 create one ({err}); configure it in the server's users.xml (`<filter>tenant_id = \
                 getSetting('{}')</filter>`)",
                self.database, isolation.user, isolation.setting
            ))),
        }
    }
}

#[async_trait::async_trait]
impl FactStore for ClickHouseStore {
    fn dialect(&self) -> Dialect {
        Dialect::ClickHouse
    }

    async fn prepare(&self) -> Result<(), StoreError> {
        if !self
            .database
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::failed(format!(
                "CLICKHOUSE_DATABASE `{}` is not a plain name",
                self.database
            )));
        }
        self.server
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", self.database))
            .execute()
            .await
            .map_err(store_error)?;
        for ddl in [FACTS_TABLE, DEAD_LETTERS_TABLE, CALENDARS_TABLE]
            .iter()
            .chain(FACTS_COLUMNS_ADDED)
        {
            self.client
                .query(ddl)
                .execute()
                .await
                .map_err(store_error)?;
        }
        if let Some((_, isolation)) = &self.tenant {
            self.ensure_row_policy(isolation).await?;
        }
        Ok(())
    }

    async fn insert(&self, facts: &[StoredFact]) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<FactRow>("facts")
            .await
            .map_err(store_error)?
            .with_timeouts(Some(Duration::from_secs(30)), Some(Duration::from_secs(60)));
        for fact in facts {
            insert
                .write(&FactRow::from(fact))
                .await
                .map_err(store_error)?;
        }
        insert.end().await.map_err(store_error)
    }

    async fn query(&self, sql: &CompiledSql) -> Result<Vec<RawRow>, StoreError> {
        // A query of one tenant runs on that tenant's client (its row policy applies); a query
        // across tenants (the reconciliation's work list) names none.
        let client = if sql.tenant.is_empty() {
            self.client.clone()
        } else {
            self.tenant_client(&sql.tenant)
        };
        let rows = client
            .query(&sql.sql)
            .param("tenant", sql.tenant.as_str())
            .fetch_all::<MetricRowBinary>()
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| RawRow {
                dimensions: [row.d0, row.d1, row.d2, row.d3],
                value: row.value,
                people: row.people,
            })
            .collect())
    }

    async fn export_count(&self, tenant: &str, export: &ExportQuery) -> Result<u64, StoreError> {
        self.tenant_client(tenant)
            .query(&export.count_sql())
            .param("tenant", tenant)
            .fetch_one::<u64>()
            .await
            .map_err(store_error)
    }

    async fn export(&self, tenant: &str, export: &ExportQuery) -> Result<ExportStream, StoreError> {
        let row_count = self.export_count(tenant, export).await?;
        let cursor = self
            .tenant_client(tenant)
            .query(&export.rows_sql())
            .param("tenant", tenant)
            .fetch_bytes("CSVWithNames")
            .map_err(store_error)?;
        // Chunks go out as ClickHouse sends them: nothing holds the whole result.
        let body = futures::stream::unfold(Some(cursor), |cursor| async move {
            let mut cursor = cursor?;
            match cursor.next().await {
                Ok(Some(chunk)) => Some((Ok::<Bytes, StoreError>(chunk), Some(cursor))),
                Ok(None) => None,
                Err(err) => Some((Err(store_error(err)), None)),
            }
        })
        .boxed();
        Ok(ExportStream { row_count, body })
    }

    async fn calendar(&self, tenant: &str) -> Result<Option<StoredCalendar>, StoreError> {
        let row = self
            .client
            .query("SELECT ?fields FROM tenant_calendars FINAL WHERE tenant_id = {tenant:String}")
            .param("tenant", tenant)
            .fetch_optional::<CalendarRow>()
            .await
            .map_err(store_error)?;
        Ok(row.map(|row| StoredCalendar {
            time_zone: row.time_zone,
            fiscal_year_start_month: row.fiscal_year_start_month,
        }))
    }

    async fn set_calendar(
        &self,
        tenant: &str,
        calendar: &StoredCalendar,
    ) -> Result<(), StoreError> {
        let version = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        let mut insert = self
            .client
            .insert::<CalendarRow>("tenant_calendars")
            .await
            .map_err(store_error)?;
        insert
            .write(&CalendarRow {
                tenant_id: tenant.to_owned(),
                time_zone: calendar.time_zone.clone(),
                fiscal_year_start_month: calendar.fiscal_year_start_month,
                version,
            })
            .await
            .map_err(store_error)?;
        insert.end().await.map_err(store_error)
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        let known = self
            .client
            .query(
                "SELECT toUInt64(count()) FROM dead_letters FINAL \
                 WHERE consumer_group = {group:String} AND message_key = {key:String}",
            )
            .param("group", letter.group.as_str())
            .param("key", letter.message_key.as_str())
            .fetch_one::<u64>()
            .await
            .map_err(store_error)?;
        if known > 0 {
            return Ok(false);
        }
        let row = DeadLetterRow {
            consumer_group: letter.group.clone(),
            message_key: letter.message_key.clone(),
            topic: letter.topic.clone(),
            source_partition: letter.partition,
            source_offset: letter.offset,
            event_id: letter.event_id.map(|id| id.to_string()).unwrap_or_default(),
            event_type: letter.event_type.clone().unwrap_or_default(),
            tenant_id: letter.tenant_id.clone().unwrap_or_default(),
            payload: letter.payload.clone(),
            failure: letter.failure.as_str().to_owned(),
            error: letter.error.clone(),
            attempts: letter.attempts,
            first_failed_ms: letter.first_failed_at.timestamp_millis(),
            last_failed_ms: letter.last_failed_at.timestamp_millis(),
        };
        let mut insert = self
            .client
            .insert::<DeadLetterRow>("dead_letters")
            .await
            .map_err(store_error)?;
        insert.write(&row).await.map_err(store_error)?;
        insert.end().await.map_err(store_error)?;
        Ok(true)
    }

    async fn dead_letter_count(&self, group: &str) -> Result<u64, StoreError> {
        self.client
            .query(
                "SELECT toUInt64(count()) FROM dead_letters FINAL \
                 WHERE consumer_group = {group:String}",
            )
            .param("group", group)
            .fetch_one::<u64>()
            .await
            .map_err(store_error)
    }

    async fn ping(&self) -> Result<(), String> {
        self.server
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    }
}
