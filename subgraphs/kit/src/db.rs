//! Relational database connections (PostgreSQL in production, SQLite embedded), migrations and
//! write transactions.
//!
//! Every transaction that writes starts with [`begin_write`], never a bare `begin()`. On SQLite a
//! deferred transaction that reads first cannot later upgrade to a writer once another
//! connection has committed in between (SQLITE_BUSY_SNAPSHOT, "database is locked"), and SQLite
//! fails it at once instead of waiting out the busy timeout. `begin_write` takes the write lock
//! at the start instead, after waiting its turn among the process's writers.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult, IntoActiveModel, QueryResult,
    Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio::sync::OwnedMutexGuard;

/// How long a SQLite writer waits for the write lock held by another connection (another
/// process; this process's writers queue on their turn first, see [`begin_write`]).
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The kit's table that a SQLite write transaction touches first to take the write lock. It has
/// no rows and nothing reads it; [`connect`] creates it in every SQLite database, whatever the
/// domain, so that [`begin_write`] needs no knowledge of the domain's tables.
const SQLITE_WRITE_LOCK_TABLE: &str = "erp_write_lock";

/// Connects with pool settings that suit a subgraph. SQLite connections each get WAL, foreign
/// keys, the busy timeout and `synchronous=NORMAL` (per-connection settings, so they are set on
/// every connection the pool opens, not once on whichever connection runs a `PRAGMA`).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if sqlite { 8 } else { 20 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(sqlite_connection_options);
    let db = Database::connect(options).await?;
    if sqlite {
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS {SQLITE_WRITE_LOCK_TABLE} (id INTEGER PRIMARY KEY)"
        ))
        .await?;
    }
    Ok(db)
}

fn sqlite_connection_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal)
}

/// One turn at a time per SQLite file among this process's writers (every pool opened on the
/// file shares it).
static SQLITE_WRITER_TURNS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn sqlite_writer_turn(db: &DatabaseConnection) -> Arc<tokio::sync::Mutex<()>> {
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut turns = SQLITE_WRITER_TURNS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    turns.entry(file).or_default().clone()
}

/// A new time-ordered id (UUIDv7) as stored: ids sort by creation, which keyset pages rely on.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Begins a transaction that will write.
///
/// On SQLite it first waits for its turn among this process's writers (in FIFO order, without
/// holding a pooled connection, so that the writer whose turn it is always finds a connection
/// for its own reads), then takes the database's write lock before anything else: a no-op
/// `UPDATE` on the kit's lock table (sea-orm cannot issue `BEGIN IMMEDIATE`), which waits up to
/// [`SQLITE_BUSY_TIMEOUT`] for a writer of another process. The transaction's reads then see the
/// latest commit and its writes cannot be refused. SQLite runs one writer at a time anyway, so
/// nothing is lost. On PostgreSQL it is a plain `BEGIN`: row locks (`SELECT ... FOR UPDATE`)
/// stay where the stores take them.
///
/// Inside the transaction, write only through it: on SQLite a write through the pool (another
/// connection) waits for this transaction's own lock and fails after the busy timeout. Work
/// that may write on its own (a tenant's first data key: `FieldCipher::encrypt`) goes before.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(WriteTransaction {
            txn: db.begin().await?,
            _turn: None,
        });
    }
    let turn = sqlite_writer_turn(db).lock_owned().await;
    let txn = db.begin().await?;
    // On failure the dropped transaction rolls back.
    txn.execute_unprepared(&format!(
        "UPDATE {SQLITE_WRITE_LOCK_TABLE} SET id = id WHERE 0"
    ))
    .await?;
    Ok(WriteTransaction {
        txn,
        _turn: Some(turn),
    })
}

/// A transaction begun by [`begin_write`]. Use it as the sea-orm transaction it wraps (it
/// derefs to one and is a connection); the writer's turn ends when it commits, rolls back or
/// is dropped (rolled back).
pub struct WriteTransaction {
    // Declared first: dropped (rolled back) before the turn is released.
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

impl Deref for WriteTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl std::fmt::Debug for WriteTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTransaction")
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one(stmt).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}

/// Applies a domain's pending migrations.
///
/// On PostgreSQL several replicas of a service start at once (a rolling update, a scale-up, the
/// admin Job beside them), and two `up`s racing would both see a migration as pending and both
/// run it: the second fails on `CREATE TABLE` or, worse, applies a data migration twice. So the
/// migrations run in one transaction that first takes a transaction-scoped advisory lock keyed
/// by the domain's migration table: the other starters wait on the lock, then find everything
/// applied and do nothing. The lock goes with the transaction (commit, rollback or a dropped
/// connection), so a crashed migrator never leaves it held. SQLite needs none of this: one
/// process owns the file, and its write lock serialises anyway.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return M::up(db, None).await;
    }
    let table = sea_orm::sea_query::Iden::to_string(&*M::migration_table_name());
    let txn = db.begin().await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        [format!("erp-migrations:{table}").into()],
    ))
    .await?;
    // `up` on a transaction runs inside it (a savepoint), so the lock covers every step.
    M::up(&txn, None).await?;
    txn.commit().await
}

/// Answers when the database answers (readiness).
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

/// Writes `rows` of `entity` with multi-row INSERT statements of at most `per_statement` rows
/// each (keep rows x columns under the bind-parameter limits: 32,766 on SQLite, 65,535 on
/// PostgreSQL), each with `on_conflict` when given; answers how many rows were written (a row
/// that `on_conflict` skipped is not counted). Nothing is sent for no rows.
pub async fn insert_chunked<E, M, C>(
    conn: &C,
    _entity: E,
    rows: impl IntoIterator<Item = M>,
    per_statement: usize,
    on_conflict: Option<OnConflict>,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    M: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    let per_statement = per_statement.max(1);
    let mut rows = rows
        .into_iter()
        .map(IntoActiveModel::into_active_model)
        .peekable();
    let mut written = 0;
    while rows.peek().is_some() {
        let insert = E::insert_many(rows.by_ref().take(per_statement).collect::<Vec<_>>());
        let insert = match &on_conflict {
            Some(on_conflict) => insert.on_conflict(on_conflict.clone()),
            None => insert,
        };
        match insert.exec_without_returning(conn).await {
            Ok(n) => written += n,
            // Every row of the statement skipped by `on_conflict`.
            Err(DbErr::RecordNotInserted) if on_conflict.is_some() => {}
            Err(err) => return Err(err),
        }
    }
    Ok(written)
}

/// Inserts one row of `entity` unless a row with the same values in the `unique` columns (a
/// unique key) is there already; answers whether it was inserted. One statement
/// (`INSERT .. ON CONFLICT (..) DO NOTHING`), so two writers racing for the same key never
/// fail: one inserts, the other is told it did not.
pub async fn insert_unless_present<E, M, C>(
    conn: &C,
    entity: E,
    row: M,
    unique: impl IntoIterator<Item = E::Column>,
) -> Result<bool, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    M: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    let skip = OnConflict::columns(unique).do_nothing().to_owned();
    Ok(insert_chunked(conn, entity, [row], 1, Some(skip)).await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_file() -> String {
        let path =
            std::env::temp_dir().join(format!("erp-kit-db-{}.db", uuid::Uuid::new_v4().simple()));
        format!("sqlite://{}?mode=rwc", path.display())
    }

    async fn counter_db() -> DatabaseConnection {
        let db = connect(&sqlite_file()).await.unwrap();
        db.execute_unprepared("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            .await
            .unwrap();
        db.execute_unprepared("INSERT INTO counter (id, n) VALUES (1, 0)")
            .await
            .unwrap();
        db
    }

    async fn read_n<C: ConnectionTrait>(conn: &C) -> i64 {
        conn.query_one(sea_orm::Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT n FROM counter WHERE id = 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    }

    async fn increment<C: ConnectionTrait>(txn: &C, from: i64) -> Result<(), DbErr> {
        txn.execute_unprepared(&format!("UPDATE counter SET n = {} WHERE id = 1", from + 1))
            .await
            .map(|_| ())
    }

    /// The failure `begin_write` exists for, reproduced deterministically: a deferred
    /// transaction reads, another connection commits a write, and the first one's write is
    /// refused at once even though the other writer is long done.
    #[tokio::test]
    async fn a_deferred_reader_cannot_write_after_another_commit() {
        let db = counter_db().await;
        let reader = db.begin().await.unwrap();
        let seen = read_n(&reader).await;
        let other = begin_write(&db).await.unwrap();
        increment(&other, read_n(&other).await).await.unwrap();
        other.commit().await.unwrap();

        let err = increment(&reader, seen).await.unwrap_err();
        assert!(err.to_string().contains("database is locked"), "{err}");
        reader.rollback().await.unwrap();
    }

    /// With `begin_write` the second writer waits for the first instead, then reads the first
    /// one's commit: no update is lost and none is refused.
    #[tokio::test]
    async fn write_transactions_queue_and_see_each_others_commits() {
        let db = counter_db().await;
        let first = begin_write(&db).await.unwrap();
        let seen = read_n(&first).await;
        let second = {
            let db = db.clone();
            tokio::spawn(async move {
                let txn = begin_write(&db).await?;
                let seen = read_n(&txn).await;
                increment(&txn, seen).await?;
                txn.commit().await
            })
        };
        increment(&first, seen).await.unwrap();
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(read_n(&db).await, 2);
    }

    /// Many concurrent read-then-write transactions on the pool all commit.
    #[tokio::test]
    async fn concurrent_read_then_write_transactions_all_commit() {
        let db = counter_db().await;
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let txn = begin_write(&db).await?;
                    let seen = read_n(&txn).await;
                    tokio::task::yield_now().await;
                    increment(&txn, seen).await?;
                    txn.commit().await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(read_n(&db).await, 40);
    }

    /// The writer whose turn it is may read through the pool (outside its transaction) while
    /// more writers than the pool has connections wait: waiting writers hold no connection.
    #[tokio::test]
    async fn waiting_writers_leave_the_pool_to_the_writer_whose_turn_it_is() {
        let db = counter_db().await;
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let txn = begin_write(&db).await?;
                    let seen = read_n(&txn).await;
                    // A read on another pooled connection, inside the write.
                    assert!(read_n(&db).await <= seen);
                    increment(&txn, seen).await?;
                    txn.commit().await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(read_n(&db).await, 24);
    }

    #[tokio::test]
    async fn every_pooled_connection_gets_the_busy_timeout_and_foreign_keys() {
        let db = connect(&sqlite_file()).await.unwrap();
        // Hold several connections at once so that the pool opens more than one.
        let mut held = Vec::new();
        for _ in 0..4 {
            let txn = db.begin().await.unwrap();
            let pragma = |name: &'static str| {
                let txn = &txn;
                async move {
                    txn.query_one(sea_orm::Statement::from_string(
                        DatabaseBackend::Sqlite,
                        format!("PRAGMA {name}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                }
            };
            let timeout = pragma("busy_timeout").await;
            assert_eq!(timeout.try_get_by_index::<i64>(0).unwrap(), 5000);
            let foreign_keys = pragma("foreign_keys").await;
            assert_eq!(foreign_keys.try_get_by_index::<i64>(0).unwrap(), 1);
            // 1 = NORMAL
            let synchronous = pragma("synchronous").await;
            assert_eq!(synchronous.try_get_by_index::<i64>(0).unwrap(), 1);
            let journal_mode = pragma("journal_mode").await;
            assert_eq!(journal_mode.try_get_by_index::<String>(0).unwrap(), "wal");
            held.push(txn);
        }
    }
}
