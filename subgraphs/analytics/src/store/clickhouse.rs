//! The production store: ClickHouse over HTTP through the official `clickhouse` crate
//! (RowBinaryWithNamesAndTypes, schema validated). Facts live in one
//! `ReplacingMergeTree(version)` table sorted by (tenant, kind, entity): a replayed or
//! duplicated event writes a row that merges away, and every read uses `FINAL`, so results
//! never count it twice even before the merge.
//!
//! Not partitioned: ReplacingMergeTree collapses versions only within a partition, and a
//! fact's calendar columns may change between versions.
//!
//! Time entries are also kept rolled up (`time_by_day`, a `SummingMergeTree`, and
//! `time_by_month` fed the same rows per month): per tenant, local day (month), person, login,
//! project and billable flag, their seconds and count, so the
//! reports that read time entries (hours, billable hours, capacity, utilization,
//! profitability's hours) sum those groups instead of reading every fact `FINAL`. The rollup is
//! fed at insert with "minus old, plus new" rows: per batch one query finds the stored current
//! version of each of its time entries, and only a fact that replaces it (what `FINAL` keeps:
//! a higher version, or the same version from another event, inserted later) subtracts the old
//! contribution and adds its own; a replay or an older version arriving late adds nothing.
//! Days are the tenant's local days on its time zone at insert: a new zone rebuilds the
//! tenant's groups ([`ClickHouseStore::rebuild_time_rollup`]), and at open every tenant whose
//! rollup totals differ from its facts' (a rollup table new on existing facts, a crash between
//! the two inserts) is rebuilt.
//!
//! Tenant isolation in the server too ([`TenantIsolation`], optional): besides the tenant
//! filter the compiler writes into every query, tenant queries run as a user whose row
//! policy on `facts` keeps only the rows whose `tenant_id` is the query's tenant setting
//! (sent with each query), so a query that forgot its filter still sees one tenant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use clickhouse::{Client, Row};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use erp_kit::events::DeadLetter;

use super::{ExportStream, FactStore, RawRow, StoreError, StoredCalendar, StoredFact};
use crate::domain::calendar::Calendar;
use crate::domain::facts::FactKind;
use crate::domain::metrics::{CompiledSql, Dialect, ExportQuery, TIME_BY_DAY, TIME_BY_MONTH};

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
        self.policy_sql_on(database, "facts")
    }

    /// The row policy of `database`.`table` for the tenant user (names checked by the caller).
    pub fn policy_sql_on(&self, database: &str, table: &str) -> String {
        format!(
            "CREATE ROW POLICY IF NOT EXISTS erp_tenant_isolation ON {database}.{table} \
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
    /// Whether reports read the time-entry rollup (it is kept either way).
    read_rollups: bool,
    /// One turn at a time for everything that reads and then writes the rollup (an insert's
    /// look-up and its rows, a tenant's rebuild), holding the rows of an insert whose facts were
    /// stored but its rollup rows not (stored first by the next attempt). In one process the
    /// facts come from one writer task ([`super::writer`]) anyway; across replicas one
    /// entity's events come from one partition, so one consumer: two replicas do not restate
    /// the same entry at once (a rebalance's overlap is the exception: the totals check at
    /// open repairs what it could miscount).
    turn: tokio::sync::Mutex<RollupRows>,
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

/// The time-entry rollup: signed rows ("minus old, plus new") per tenant, local day, person,
/// login, project and billable flag, summed per group by the merges and on read (a group
/// whose sums are all zero is removed by the merges; reads drop the groups without entries).
/// `week` and `month` follow from `day`.
const TIME_ROLLUP_TABLE: &str = "CREATE TABLE IF NOT EXISTS time_by_day (
    tenant_id String,
    day String,
    week String,
    month String,
    person_id String,
    user_id String,
    project_id String,
    billable UInt8,
    quantity Int64,
    entries Int64
) ENGINE = SummingMergeTree((quantity, entries))
ORDER BY (tenant_id, day, person_id, user_id, project_id, billable)
SETTINGS non_replicated_deduplication_window = 1000";

/// `time_by_day` per local month (`day` and `week` empty), fed the same rows: what the reports
/// over whole months read (a few times fewer groups than days).
const TIME_MONTH_ROLLUP_TABLE: &str = "CREATE TABLE IF NOT EXISTS time_by_month (
    tenant_id String,
    day String,
    week String,
    month String,
    person_id String,
    user_id String,
    project_id String,
    billable UInt8,
    quantity Int64,
    entries Int64
) ENGINE = SummingMergeTree((quantity, entries))
ORDER BY (tenant_id, month, person_id, user_id, project_id, billable)
SETTINGS non_replicated_deduplication_window = 1000";

/// The rollup tables.
const TIME_ROLLUPS: [&str; 2] = [TIME_BY_DAY, TIME_BY_MONTH];

/// A row of `time_by_day` (and of `time_by_month`, without its day and week).
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
struct TimeRow {
    tenant_id: String,
    day: String,
    week: String,
    month: String,
    person_id: String,
    user_id: String,
    project_id: String,
    billable: u8,
    quantity: i64,
    entries: i64,
}

/// A stored time entry as the rollup reads it.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct EntryRow {
    tenant_id: String,
    entity_id: String,
    version: u64,
    event_id: String,
    at_ms: Option<i64>,
    day: String,
    week: String,
    month: String,
    person_id: String,
    user_id: String,
    project_id: String,
    billable: u8,
    quantity: i64,
}

impl From<&StoredFact> for EntryRow {
    fn from(stored: &StoredFact) -> Self {
        let fact = &stored.fact;
        Self {
            tenant_id: fact.tenant_id.clone(),
            entity_id: fact.entity_id.clone(),
            version: fact.version,
            event_id: fact.event_id.clone(),
            at_ms: fact.at_ms,
            day: fact.day.clone(),
            week: fact.week.clone(),
            month: fact.month.clone(),
            person_id: fact.person_id.clone(),
            user_id: fact.user_id.clone(),
            project_id: fact.project_id.clone(),
            billable: u8::from(fact.billable),
            quantity: fact.quantity,
        }
    }
}

/// A rollup group: (tenant, day, week, month, person, login, project, billable).
type Group = (String, String, String, String, String, String, String, u8);

/// The group of `entry` on `zone` (its instant's local date there, else its stored date: the
/// arithmetic the compiled SQL does).
fn group_of(entry: &EntryRow, zone: chrono_tz::Tz) -> Group {
    let (day, week, month) = match entry.at_ms {
        Some(at_ms) => {
            let date = Calendar {
                time_zone: zone,
                fiscal_year_start_month: 1,
            }
            .local_date(at_ms);
            (
                date.format("%Y-%m-%d").to_string(),
                date.format("%G-W%V").to_string(),
                date.format("%Y-%m").to_string(),
            )
        }
        None => (entry.day.clone(), entry.week.clone(), entry.month.clone()),
    };
    (
        entry.tenant_id.clone(),
        day,
        week,
        month,
        entry.person_id.clone(),
        entry.user_id.clone(),
        entry.project_id.clone(),
        entry.billable,
    )
}

/// Sums (seconds, entries) per group, in a stable order.
#[derive(Default)]
struct Sums(BTreeMap<Group, (i64, i64)>);

impl Sums {
    fn add(&mut self, group: Group, seconds: i64, entries: i64) {
        let sums = self.0.entry(group).or_default();
        sums.0 += seconds;
        sums.1 += entries;
    }

    /// The groups whose sums are not zero, as rows.
    fn rows(self) -> Vec<TimeRow> {
        self.0
            .into_iter()
            .filter(|(_, (seconds, entries))| *seconds != 0 || *entries != 0)
            .map(
                |(
                    (tenant_id, day, week, month, person_id, user_id, project_id, billable),
                    (quantity, entries),
                )| TimeRow {
                    tenant_id,
                    day,
                    week,
                    month,
                    person_id,
                    user_id,
                    project_id,
                    billable,
                    quantity,
                    entries,
                },
            )
            .collect()
    }
}

/// `rows` of the day rollup summed per month (the month rollup's rows).
fn months_of(rows: &[TimeRow]) -> Vec<TimeRow> {
    let mut sums = Sums::default();
    for row in rows {
        sums.add(
            (
                row.tenant_id.clone(),
                String::new(),
                String::new(),
                row.month.clone(),
                row.person_id.clone(),
                row.user_id.clone(),
                row.project_id.clone(),
                row.billable,
            ),
            row.quantity,
            row.entries,
        );
    }
    sums.rows()
}

/// Rows for both rollups and the token their inserts carry (tried again with the same token,
/// a table that took them already takes nothing).
#[derive(Debug, Default)]
struct RollupRows {
    days: Vec<TimeRow>,
    months: Vec<TimeRow>,
    token: String,
}

impl RollupRows {
    /// A batch's rows (the month rollup's from the day rollup's), with a token of their own.
    fn of_batch(days: Vec<TimeRow>) -> Self {
        Self {
            months: months_of(&days),
            days,
            token: format!("erp-time-rollup-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn is_empty(&self) -> bool {
        self.days.is_empty() && self.months.is_empty()
    }
}

/// The rollup rows of a batch of time entries: `current` the stored current version of
/// (tenant, entry), `zones` the tenants' time zones (UTC when unset). Each fact that replaces
/// the current version (as `FINAL` keeps rows: a higher version, or the same version from
/// another event, inserted later) subtracts the current one's group and adds its own, in the
/// batch's order; the rest (replays, older versions arriving late) change nothing.
fn rollup_rows(
    batch: &[EntryRow],
    mut current: HashMap<(String, String), EntryRow>,
    zones: &HashMap<String, chrono_tz::Tz>,
) -> Vec<TimeRow> {
    let zone = |tenant: &str| zones.get(tenant).copied().unwrap_or(chrono_tz::Tz::UTC);
    let mut sums = Sums::default();
    for entry in batch {
        let key = (entry.tenant_id.clone(), entry.entity_id.clone());
        if let Some(old) = current.get(&key) {
            let replaces = entry.version > old.version
                || (entry.version == old.version && entry.event_id != old.event_id);
            if !replaces {
                continue;
            }
            sums.add(group_of(old, zone(&old.tenant_id)), -old.quantity, -1);
        }
        sums.add(group_of(entry, zone(&entry.tenant_id)), entry.quantity, 1);
        current.insert(key, entry.clone());
    }
    sums.rows()
}

/// Bytes of entity ids one look-up sends: query parameters travel as form fields, which
/// ClickHouse takes up to `http_max_field_value_size` (128 KiB by default).
const LOOKUP_BYTES: usize = 96 * 1024;

/// `ids` in slices of at most [`LOOKUP_BYTES`] as a parameter (one slice for a batch of up to
/// a few thousand entries: one look-up).
fn id_chunks<'a>(ids: &'a [&'a str]) -> Vec<&'a [&'a str]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, id) in ids.iter().enumerate() {
        // Quoted, escaped at worst twice over, and a comma.
        let size = id.len() * 2 + 3;
        if bytes + size > LOOKUP_BYTES && index > start {
            chunks.push(&ids[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < ids.len() {
        chunks.push(&ids[start..]);
    }
    chunks
}

/// A stable digest of `rows` (an insert's deduplication token: the same rows inserted twice
/// within the table's window, by two replicas rebuilding from the same state, count once).
fn digest(rows: &[TimeRow]) -> String {
    let mut hashes = [0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64];
    for row in rows {
        let text = format!("{row:?}\n");
        for (index, hash) in hashes.iter_mut().enumerate() {
            for byte in text.bytes().chain([index as u8]) {
                *hash ^= u64::from(byte);
                *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    format!("erp-time-rollup-{:016x}{:016x}", hashes[0], hashes[1])
}

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
            read_rollups: true,
            turn: tokio::sync::Mutex::new(RollupRows::default()),
        }
    }

    /// Reports read every time entry from `facts FINAL` (the rollup is still kept): the
    /// dedupe-on-read the rollup is measured and checked against.
    pub fn reading_facts_only(mut self) -> Self {
        self.read_rollups = false;
        self
    }

    /// The time zones of `tenants` (those with a calendar).
    async fn zones(&self, tenants: &[&str]) -> Result<HashMap<String, chrono_tz::Tz>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT ?fields FROM tenant_calendars FINAL \
                 WHERE has({tenants:Array(String)}, tenant_id)",
            )
            .param("tenants", tenants)
            .fetch_all::<CalendarRow>()
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let zone = chrono_tz::Tz::from_str(&row.time_zone).unwrap_or(chrono_tz::Tz::UTC);
                (row.tenant_id, zone)
            })
            .collect())
    }

    /// Inserts rollup rows into both tables (none: nothing), with their token as each
    /// insert's deduplication token.
    async fn insert_time_rows(&self, rows: &RollupRows) -> Result<(), StoreError> {
        let client = self
            .client
            .clone()
            .with_setting("insert_deduplication_token", rows.token.as_str());
        for (table, rows) in [(TIME_BY_DAY, &rows.days), (TIME_BY_MONTH, &rows.months)] {
            if rows.is_empty() {
                continue;
            }
            let mut insert = client
                .insert::<TimeRow>(table)
                .await
                .map_err(store_error)?
                .with_timeouts(Some(Duration::from_secs(30)), Some(Duration::from_secs(60)));
            for row in rows {
                insert.write(row).await.map_err(store_error)?;
            }
            insert.end().await.map_err(store_error)?;
        }
        Ok(())
    }

    /// The rows that bring `tenant`'s rollups to what its current time entries give on `zone`
    /// (its groups as they should be, less its groups as they are), for each table.
    async fn time_rollup_repair(
        &self,
        tenant: &str,
        zone: chrono_tz::Tz,
        token: String,
    ) -> Result<RollupRows, StoreError> {
        let mut sums = Sums::default();
        let mut entries = self
            .client
            .query(
                "SELECT ?fields FROM facts FINAL \
                 WHERE tenant_id = {tenant:String} AND kind = 'time_entry'",
            )
            .param("tenant", tenant)
            .fetch::<EntryRow>()
            .map_err(store_error)?;
        while let Some(entry) = entries.next().await.map_err(store_error)? {
            sums.add(group_of(&entry, zone), entry.quantity, 1);
        }
        let days = sums.rows();
        let months = months_of(&days);
        let mut repair = RollupRows {
            token,
            ..RollupRows::default()
        };
        for (table, wanted) in [(TIME_BY_DAY, days), (TIME_BY_MONTH, months)] {
            let mut sums = Sums::default();
            for row in wanted {
                sums.add(
                    (
                        row.tenant_id,
                        row.day,
                        row.week,
                        row.month,
                        row.person_id,
                        row.user_id,
                        row.project_id,
                        row.billable,
                    ),
                    row.quantity,
                    row.entries,
                );
            }
            self.subtract_stored(table, tenant, &mut sums).await?;
            let rows = sums.rows();
            if table == TIME_BY_DAY {
                repair.days = rows;
            } else {
                repair.months = rows;
            }
        }
        Ok(repair)
    }

    /// Subtracts `tenant`'s groups as `table` holds them from `sums`.
    async fn subtract_stored(
        &self,
        table: &str,
        tenant: &str,
        sums: &mut Sums,
    ) -> Result<(), StoreError> {
        let stored = self
            .client
            .query(&format!(
                "SELECT tenant_id, day, week, month, person_id, user_id, project_id, billable, \
                 seconds AS quantity, counted AS entries FROM (SELECT tenant_id, day, week, \
                 month, person_id, user_id, project_id, billable, \
                 toInt64(sum(quantity)) AS seconds, toInt64(sum(entries)) AS counted \
                 FROM {table} WHERE tenant_id = {{tenant:String}} \
                 GROUP BY tenant_id, day, week, month, person_id, user_id, project_id, billable) \
                 WHERE seconds <> 0 OR counted <> 0"
            ))
            .param("tenant", tenant)
            .fetch_all::<TimeRow>()
            .await
            .map_err(store_error)?;
        for row in stored {
            sums.add(
                (
                    row.tenant_id,
                    row.day,
                    row.week,
                    row.month,
                    row.person_id,
                    row.user_id,
                    row.project_id,
                    row.billable,
                ),
                -row.quantity,
                -row.entries,
            );
        }
        Ok(())
    }

    /// Rebuilds `tenant`'s time-entry rollup on its time zone now (what a new zone needs; also
    /// repairs a rollup that drifted from the facts): one insert of the differences, so a
    /// report reads either the old groups or the new ones, never half of each.
    pub async fn rebuild_time_rollup(&self, tenant: &str) -> Result<(), StoreError> {
        let _turn = self.turn.lock().await;
        self.rebuild_time_rollup_in_turn(tenant, None).await
    }

    async fn rebuild_time_rollup_in_turn(
        &self,
        tenant: &str,
        token: Option<&str>,
    ) -> Result<(), StoreError> {
        let zone = self
            .zones(&[tenant])
            .await?
            .remove(tenant)
            .unwrap_or(chrono_tz::Tz::UTC);
        let token = token.map_or_else(
            || format!("erp-time-rollup-{}", uuid::Uuid::new_v4().simple()),
            |token| format!("{token}-{tenant}-{zone}"),
        );
        let mut rows = self.time_rollup_repair(tenant, zone, token).await?;
        if rows.is_empty() {
            return Ok(());
        }
        tracing::info!(
            tenant,
            groups = rows.days.len(),
            "time-entry rollup rebuilt"
        );
        if rows.token.starts_with("open-") {
            // The same rows from the same state, the same token.
            rows.token = format!("{}-{}", rows.token, digest(&rows.days));
        }
        self.insert_time_rows(&rows).await
    }

    /// Rebuilds the rollup of every tenant whose rollup totals (seconds, entries) differ from
    /// its time entries' (every tenant with entries when the rollup table is new).
    async fn check_time_rollups(&self) -> Result<(), StoreError> {
        let _turn = self.turn.lock().await;
        let mut drifted = std::collections::BTreeSet::new();
        for table in TIME_ROLLUPS {
            drifted.extend(self.drifted_tenants(table).await?);
        }
        for tenant in drifted {
            // Two replicas opening at once rebuild from the same state: the same rows, one
            // token, counted once.
            self.rebuild_time_rollup_in_turn(&tenant, Some("open"))
                .await?;
        }
        Ok(())
    }

    /// The tenants whose totals in the rollup `table` differ from their time entries'.
    async fn drifted_tenants(&self, table: &str) -> Result<Vec<String>, StoreError> {
        self.client
            .query(&format!(
                "SELECT if(tenant_id <> '', tenant_id, rolled_tenant) AS tenant \
                 FROM (SELECT tenant_id, toInt64(sum(quantity)) AS seconds, \
                 toInt64(count()) AS counted FROM facts FINAL WHERE kind = 'time_entry' \
                 GROUP BY tenant_id) AS f FULL OUTER JOIN (SELECT tenant_id AS rolled_tenant, \
                 toInt64(sum(quantity)) AS rolled_seconds, toInt64(sum(entries)) AS rolled \
                 FROM {table} GROUP BY tenant_id) AS r ON r.rolled_tenant = f.tenant_id \
                 WHERE seconds <> rolled_seconds OR counted <> rolled \
                 ORDER BY tenant"
            ))
            .fetch_all::<String>()
            .await
            .map_err(store_error)
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
        for table in ["facts", TIME_BY_DAY, TIME_BY_MONTH] {
            let policies = self
                .server
                .query(
                    "SELECT toUInt64(count()) FROM system.row_policies \
                     WHERE database = {db:String} AND table = {table:String} \
                     AND (has(apply_to_list, {user:String}) OR apply_to_all = 1)",
                )
                .param("db", self.database.as_str())
                .param("table", table)
                .param("user", isolation.user.as_str())
                .fetch_one::<u64>()
                .await
                .map_err(store_error)?;
            if policies > 0 {
                continue;
            }
            let created = self
                .server
                .query(&isolation.policy_sql_on(&self.database, table))
                .execute()
                .await;
            if let Err(err) = created {
                return Err(StoreError::failed(format!(
                    "tenant isolation: no row policy on {}.{table} for `{}`, and the server \
                     would not create one ({err}); configure it in the server's users.xml \
                     (`<filter>tenant_id = getSetting('{}')</filter>` under the database's \
                     `<facts>`, `<{TIME_BY_DAY}>` and `<{TIME_BY_MONTH}>`)",
                    self.database, isolation.user, isolation.setting
                )));
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl FactStore for ClickHouseStore {
    fn dialect(&self) -> Dialect {
        Dialect::ClickHouse
    }

    fn time_rollups(&self) -> bool {
        self.read_rollups
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
        for ddl in [
            FACTS_TABLE,
            DEAD_LETTERS_TABLE,
            CALENDARS_TABLE,
            TIME_ROLLUP_TABLE,
            TIME_MONTH_ROLLUP_TABLE,
        ]
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
        // A rollup table new on existing facts is built here; one that drifted is repaired.
        self.check_time_rollups().await
    }

    async fn insert(&self, facts: &[StoredFact]) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        let mut pending = self.turn.lock().await;
        // The rollup rows of an attempt whose facts were stored: before anything else (the
        // look-up below finds those facts stored, so it would not count them again).
        if !pending.is_empty() {
            self.insert_time_rows(&pending).await?;
            *pending = RollupRows::default();
        }
        let entries: Vec<EntryRow> = facts
            .iter()
            .filter(|stored| stored.fact.kind == FactKind::TimeEntry)
            .map(EntryRow::from)
            .collect();
        let rows = if entries.is_empty() {
            Vec::new()
        } else {
            // One look-up per batch: the stored current version of each of its entries.
            let tenants: Vec<&str> = entries
                .iter()
                .map(|e| e.tenant_id.as_str())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let ids: Vec<&str> = entries
                .iter()
                .map(|e| e.entity_id.as_str())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let wanted: HashSet<(&str, &str)> = entries
                .iter()
                .map(|e| (e.tenant_id.as_str(), e.entity_id.as_str()))
                .collect();
            let mut current = HashMap::new();
            for ids in id_chunks(&ids) {
                let stored = self
                    .client
                    .query(
                        "SELECT ?fields FROM facts FINAL WHERE kind = 'time_entry' \
                         AND has({tenants:Array(String)}, tenant_id) \
                         AND has({ids:Array(String)}, entity_id)",
                    )
                    .param("tenants", &tenants)
                    .param("ids", ids)
                    .fetch_all::<EntryRow>()
                    .await
                    .map_err(store_error)?;
                current.extend(
                    stored
                        .into_iter()
                        .filter(|e| wanted.contains(&(e.tenant_id.as_str(), e.entity_id.as_str())))
                        .map(|e| ((e.tenant_id.clone(), e.entity_id.clone()), e)),
                );
            }
            let zones = self.zones(&tenants).await?;
            rollup_rows(&entries, current, &zones)
        };
        let rows = RollupRows::of_batch(rows);
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
        insert.end().await.map_err(store_error)?;
        // The facts are stored: their rollup rows now, or with the next attempt (the batch is
        // tried again, and its look-up then finds these facts stored and adds nothing twice).
        if let Err(err) = self.insert_time_rows(&rows).await {
            *pending = rows;
            return Err(err);
        }
        Ok(())
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
        // The turn: no batch counts its entries on the old zone while the groups move.
        let _turn = self.turn.lock().await;
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
        insert.end().await.map_err(store_error)?;
        // Another zone regroups the tenant's entries on its local days (the same zone: no rows
        // to write; a setting tried again after a failed rebuild completes it).
        self.rebuild_time_rollup_in_turn(tenant, None).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        id: &str,
        version: u64,
        event: &str,
        at_ms: i64,
        seconds: i64,
        project: &str,
    ) -> EntryRow {
        EntryRow {
            tenant_id: "t1".into(),
            entity_id: id.into(),
            version,
            event_id: event.into(),
            at_ms: Some(at_ms),
            day: String::new(),
            week: String::new(),
            month: String::new(),
            person_id: "p1".into(),
            user_id: "u1".into(),
            project_id: project.into(),
            billable: 1,
            quantity: seconds,
        }
    }

    fn short(rows: &[TimeRow]) -> Vec<(&str, &str, i64, i64)> {
        rows.iter()
            .map(|r| (r.day.as_str(), r.project_id.as_str(), r.quantity, r.entries))
            .collect()
    }

    #[test]
    fn a_batch_subtracts_what_it_replaces_and_replays_and_older_versions_add_nothing() {
        // 2026-03-31 22:30 UTC: 1 April in Berlin.
        let late_evening = 1_774_996_200_000;
        let stored = entry("te1", 5, "ev5", late_evening, 3_600, "p1");
        let current: HashMap<_, _> = [(("t1".to_owned(), "te1".to_owned()), stored.clone())]
            .into_iter()
            .collect();
        let utc = HashMap::new();
        // A replay and an older version: nothing.
        let nothing = [
            stored.clone(),
            entry("te1", 4, "ev4", late_evening, 60, "p9"),
        ];
        assert!(rollup_rows(&nothing, current.clone(), &utc).is_empty());
        // A restatement moves the seconds; a second one in the same batch moves them again;
        // a new entry adds its own.
        let batch = [
            entry("te1", 6, "ev6", late_evening, 1_800, "p2"),
            entry("te1", 7, "ev7", late_evening, 900, "p3"),
            entry("te1", 6, "ev6", late_evening, 1_800, "p2"),
            entry("te2", 1, "ev8", late_evening, 100, "p1"),
        ];
        assert_eq!(
            short(&rollup_rows(&batch, current.clone(), &utc)),
            vec![
                ("2026-03-31", "p1", -3_500, 0),
                ("2026-03-31", "p3", 900, 1),
            ]
        );
        // The same version from another event replaces it (inserted later: what FINAL keeps).
        let tie = [entry("te1", 5, "ev0", late_evening, 3_600, "p2")];
        assert_eq!(
            short(&rollup_rows(&tie, current.clone(), &utc)),
            vec![
                ("2026-03-31", "p1", -3_600, -1),
                ("2026-03-31", "p2", 3_600, 1)
            ]
        );
        // On the tenant's zone: Berlin's 1 April.
        let berlin: HashMap<_, _> = [("t1".to_owned(), chrono_tz::Europe::Berlin)].into();
        let rows = rollup_rows(&batch[3..], HashMap::new(), &berlin);
        assert_eq!(short(&rows), vec![("2026-04-01", "p1", 100, 1)]);
        assert_eq!(
            (rows[0].week.as_str(), rows[0].month.as_str()),
            ("2026-W14", "2026-04")
        );
        // Large batches look up in slices under ClickHouse's form-field limit.
        let many: Vec<String> = (0..50_000).map(|i| format!("te{i:07}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let chunks = id_chunks(&many);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), many);
        assert!(chunks.iter().all(|c| c.len() * (9 * 2 + 3) <= LOOKUP_BYTES));
        assert_eq!(id_chunks(&many[..10]).len(), 1);
        // The same rows, the same token; other rows, another.
        assert_eq!(digest(&rows), digest(&rows.clone()));
        assert_ne!(digest(&rows), digest(&rollup_rows(&tie, current, &utc)));
    }
}
