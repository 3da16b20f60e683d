//! The one-process mode's bus: the event log in a SQLite file of the state directory
//! (`<state>/events.db`), so no event is lost across a restart.
//!
//! The outbox relays mark an event published once the bus has it; on this bus that is once its
//! row is committed to the log (WAL, `synchronous=NORMAL`: it survives a crash of the process).
//! Each consumer group's position per topic is a row beside it, moved when the consumer
//! commits, so a consumer that was not running (or crashed) when an event was published
//! receives it at its next start, exactly once thanks to its inbox. Records older than the
//! retention (7 days, as Kafka's default) are removed.
//!
//! SQLite only: its one writer at a time makes the order of sequence numbers the order of
//! commits, which readers rely on (a reader never skips a number committed later). With
//! PostgreSQL there is Kafka.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use tokio::sync::watch;

use super::log::{EventLog, LogBus, LogRecord, Positions};
use super::BusError;

const LOG_TABLE: &str = "erp_event_log";
const POSITIONS_TABLE: &str = "erp_event_positions";

/// How long records are kept by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Old records are removed every this many appends (and at every open).
const PRUNE_EVERY_APPENDS: i64 = 4096;

/// The durable in-process bus (see the module docs).
pub type DurableBus = LogBus<SqliteLog>;

impl LogBus<SqliteLog> {
    /// Opens the log kept in `db` (a SQLite database of its own, e.g.
    /// `sqlite://<state>/events.db?mode=rwc` connected with [`crate::db::connect`]).
    pub async fn open(db: DatabaseConnection) -> Result<Self, DbErr> {
        Self::open_with_retention(db, DEFAULT_RETENTION).await
    }

    pub async fn open_with_retention(
        db: DatabaseConnection,
        retention: Duration,
    ) -> Result<Self, DbErr> {
        Ok(Self::over(SqliteLog::open(db, retention).await?))
    }
}

/// An event log in SQLite.
pub struct SqliteLog {
    db: DatabaseConnection,
    retention: Duration,
    appended: watch::Sender<i64>,
}

fn unavailable(err: DbErr) -> BusError {
    BusError::Unavailable(format!("event log: {err}"))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// `(topic = ? AND seq > ?) OR ...` with its values, for the topics of `after`.
fn after_clause(after: &Positions) -> (String, Vec<Value>) {
    let clause = vec!["(topic = ? AND seq > ?)"; after.len()].join(" OR ");
    let values = after
        .iter()
        .flat_map(|(topic, position)| [topic.clone().into(), (*position).into()])
        .collect();
    (clause, values)
}

impl SqliteLog {
    pub async fn open(db: DatabaseConnection, retention: Duration) -> Result<Self, DbErr> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Err(DbErr::Custom(
                "the durable in-process bus keeps its log in SQLite; use Kafka (KAFKA_BROKERS) with another database".into(),
            ));
        }
        // AUTOINCREMENT: a sequence number is never reused once its record is pruned (a
        // group's position must never point past a newer record).
        for ddl in [
            format!(
                "CREATE TABLE IF NOT EXISTS {LOG_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                 topic TEXT NOT NULL, event_key TEXT NOT NULL, payload BLOB NOT NULL, \
                 appended_at INTEGER NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS idx_{LOG_TABLE}_topic ON {LOG_TABLE} (topic, seq)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {POSITIONS_TABLE} (consumer_group TEXT NOT NULL, \
                 topic TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (consumer_group, topic))"
            ),
        ] {
            db.execute_unprepared(&ddl).await?;
        }
        let log = Self {
            db,
            retention,
            appended: watch::channel(0).0,
        };
        log.prune().await?;
        let last = log
            .db
            .query_one(statement(
                &format!("SELECT COALESCE(MAX(seq), 0) AS last FROM {LOG_TABLE}"),
                [],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "last"))
            .transpose()?
            .unwrap_or(0);
        log.appended.send_replace(last);
        Ok(log)
    }

    async fn prune(&self) -> Result<(), DbErr> {
        let cutoff = now_ms() - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let txn = crate::db::begin_write(&self.db).await?;
        txn.execute(statement(
            &format!("DELETE FROM {LOG_TABLE} WHERE appended_at < ?"),
            [cutoff.into()],
        ))
        .await?;
        txn.commit().await
    }
}

#[async_trait::async_trait]
impl EventLog for SqliteLog {
    const KIND: &'static str = "durable in-process";

    async fn append(&self, topic: &str, key: &str, payload: &[u8]) -> Result<i64, BusError> {
        let txn = crate::db::begin_write(&self.db)
            .await
            .map_err(unavailable)?;
        let inserted = txn
            .execute(statement(
                &format!(
                    "INSERT INTO {LOG_TABLE} (topic, event_key, payload, appended_at) VALUES (?, ?, ?, ?)"
                ),
                [
                    topic.into(),
                    key.into(),
                    payload.to_vec().into(),
                    now_ms().into(),
                ],
            ))
            .await
            .map_err(unavailable)?;
        let seq = i64::try_from(inserted.last_insert_id())
            .map_err(|_| BusError::Unavailable("event log sequence out of range".into()))?;
        txn.commit().await.map_err(unavailable)?;
        self.appended.send_replace(seq);
        if seq % PRUNE_EVERY_APPENDS == 0 {
            if let Err(err) = self.prune().await {
                tracing::warn!(error = %err, "event log prune failed");
            }
        }
        Ok(seq)
    }

    async fn read(&self, after: &Positions, limit: u64) -> Result<Vec<LogRecord>, BusError> {
        if after.is_empty() {
            return Ok(Vec::new());
        }
        let (clause, mut values) = after_clause(after);
        values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        let rows = self
            .db
            .query_all(statement(
                &format!(
                    "SELECT seq, topic, event_key, payload FROM {LOG_TABLE} WHERE {clause} ORDER BY seq LIMIT ?"
                ),
                values,
            ))
            .await
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|row| {
                Ok(LogRecord {
                    seq: row.try_get("", "seq")?,
                    topic: row.try_get("", "topic")?,
                    key: row.try_get("", "event_key")?,
                    payload: row.try_get("", "payload")?,
                })
            })
            .collect::<Result<_, DbErr>>()
            .map_err(unavailable)
    }

    async fn positions(&self, group: &str, topics: &[String]) -> Result<Positions, BusError> {
        let rows = self
            .db
            .query_all(statement(
                &format!("SELECT topic, seq FROM {POSITIONS_TABLE} WHERE consumer_group = ?"),
                [group.into()],
            ))
            .await
            .map_err(unavailable)?;
        let mut positions: Positions = topics.iter().map(|topic| (topic.clone(), 0)).collect();
        for row in rows {
            let topic: String = row.try_get("", "topic").map_err(unavailable)?;
            let seq: i64 = row.try_get("", "seq").map_err(unavailable)?;
            if let Some(position) = positions.get_mut(&topic) {
                *position = seq;
            }
        }
        Ok(positions)
    }

    async fn commit(&self, group: &str, positions: &Positions) -> Result<(), BusError> {
        let txn = crate::db::begin_write(&self.db)
            .await
            .map_err(unavailable)?;
        for (topic, seq) in positions {
            txn.execute(statement(
                &format!(
                    "INSERT INTO {POSITIONS_TABLE} (consumer_group, topic, seq) VALUES (?, ?, ?)
                     ON CONFLICT (consumer_group, topic) DO UPDATE SET seq = excluded.seq"
                ),
                [group.into(), topic.clone().into(), (*seq).into()],
            ))
            .await
            .map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)
    }

    async fn backlog(&self, after: &Positions) -> Result<Positions, BusError> {
        let mut backlog = Positions::new();
        for (topic, position) in after {
            let behind = self
                .db
                .query_one(statement(
                    &format!(
                        "SELECT COUNT(*) AS behind FROM {LOG_TABLE} WHERE topic = ? AND seq > ?"
                    ),
                    [topic.clone().into(), (*position).into()],
                ))
                .await
                .map_err(unavailable)?
                .map(|row| row.try_get::<i64>("", "behind"))
                .transpose()
                .map_err(unavailable)?
                .unwrap_or(0);
            backlog.insert(topic.clone(), behind);
        }
        Ok(backlog)
    }

    fn appended(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }
}
