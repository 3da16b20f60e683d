//! The embedded mode's cache when what it holds must outlive the process: the in-process cache
//! with every key also kept in a SQLite file, as Redis keeps its keys in its append-only file.
//!
//! Running timers live in the cache (Redis in production), and so do revocations and login
//! lockouts: in the one-process mode, a plain in-process cache would stop every running timer
//! and forget every revocation at a restart. Here a write is acknowledged only once its row is
//! committed to the file (WAL, `synchronous=NORMAL`: a committed write survives a crash of the
//! process; a power loss may take the last ones, as Redis' `appendfsync everysec` does). Reads
//! are served from memory. Pub/sub stays in memory: a message is for whoever listens now.
//!
//! One process owns a file at a time (the state directory's other files are locked the same
//! way); writes are serialised in the process so that memory and file always agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::BoxStream;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

use super::{check_entry, check_key, Cache, CacheError, InProcessCache};

const TABLE: &str = "erp_cache";

/// Expired rows are removed from the file every this many writes (and at every open).
const PRUNE_EVERY_WRITES: u64 = 1024;

/// An in-process cache whose keys survive a restart (see the module docs).
pub struct DurableCache {
    memory: InProcessCache,
    db: DatabaseConnection,
    /// Held across a write's memory check, file write and memory update.
    writes: tokio::sync::Mutex<u64>,
}

fn unavailable(err: DbErr) -> CacheError {
    CacheError::Unavailable(format!("cache file: {err}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn expiry_ms(ttl: Option<Duration>) -> Value {
    match ttl {
        Some(ttl) => Value::BigInt(Some(
            now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        )),
        None => Value::BigInt(None),
    }
}

impl DurableCache {
    /// Opens the cache kept in `db` (a SQLite database of its own, e.g.
    /// `sqlite://<state>/cache.db?mode=rwc` connected with [`crate::db::connect`]): creates its
    /// table, drops the expired keys and loads the others.
    pub async fn open(db: DatabaseConnection) -> Result<Self, DbErr> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Err(DbErr::Custom(
                "the durable in-process cache keeps its keys in SQLite; use Redis (REDIS_URL) with another database".into(),
            ));
        }
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at_ms INTEGER)"
        ))
        .await?;
        let cache = Self {
            memory: InProcessCache::new(),
            db,
            writes: tokio::sync::Mutex::new(0),
        };
        cache.prune().await?;
        let rows = cache
            .db
            .query_all(Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT key, value, expires_at_ms FROM {TABLE}"),
            ))
            .await?;
        let now = now_ms();
        for row in rows {
            let key: String = row.try_get("", "key")?;
            let value: Vec<u8> = row.try_get("", "value")?;
            let expires_at: Option<i64> = row.try_get("", "expires_at_ms")?;
            let ttl = match expires_at {
                None => None,
                Some(at) if at > now => Some(Duration::from_millis((at - now) as u64)),
                Some(_) => continue,
            };
            // The in-memory cache cannot fail.
            let _ = cache.memory.set(&key, &value, ttl).await;
        }
        Ok(cache)
    }

    /// How many keys the file holds (expired ones included until the next prune).
    pub async fn stored_keys(&self) -> Result<u64, DbErr> {
        let row = self
            .db
            .query_one(Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT COUNT(*) AS n FROM {TABLE}"),
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0) as u64)
    }

    async fn prune(&self) -> Result<(), DbErr> {
        self.db
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    "DELETE FROM {TABLE} WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?"
                ),
                [Value::BigInt(Some(now_ms()))],
            ))
            .await?;
        Ok(())
    }

    async fn store(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), DbErr> {
        self.db
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    "INSERT INTO {TABLE} (key, value, expires_at_ms) VALUES (?, ?, ?) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at_ms = excluded.expires_at_ms"
                ),
                [
                    Value::String(Some(Box::new(key.to_owned()))),
                    Value::Bytes(Some(Box::new(value.to_vec()))),
                    expiry_ms(ttl),
                ],
            ))
            .await?;
        Ok(())
    }

    /// Counts a write and prunes the file now and then; a failed prune is retried later.
    async fn after_write(&self, writes: &mut u64) {
        *writes += 1;
        if (*writes).is_multiple_of(PRUNE_EVERY_WRITES) {
            if let Err(error) = self.prune().await {
                tracing::warn!(%error, "durable cache: expired keys not pruned");
            }
        }
    }
}

#[async_trait::async_trait]
impl Cache for DurableCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.memory.get(key).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        check_entry(key, value)?;
        let mut writes = self.writes.lock().await;
        self.store(key, value, ttl).await.map_err(unavailable)?;
        self.memory.set(key, value, ttl).await?;
        self.after_write(&mut writes).await;
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        check_entry(key, value)?;
        let mut writes = self.writes.lock().await;
        if self.memory.get(key).await?.is_some() {
            return Ok(false);
        }
        // A row left on the file by an expired key is overwritten.
        self.store(key, value, ttl).await.map_err(unavailable)?;
        self.memory.set(key, value, ttl).await?;
        self.after_write(&mut writes).await;
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        check_key(key)?;
        let mut writes = self.writes.lock().await;
        self.db
            .execute(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!("DELETE FROM {TABLE} WHERE key = ?"),
                [Value::String(Some(Box::new(key.to_owned())))],
            ))
            .await
            .map_err(unavailable)?;
        let existed = self.memory.delete(key).await?;
        self.after_write(&mut writes).await;
        Ok(existed)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), CacheError> {
        self.memory.publish(channel, message).await
    }

    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, CacheError> {
        self.memory.subscribe(channel).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.db.ping().await.map_err(unavailable)
    }

    fn kind(&self) -> &'static str {
        "in-process (durable)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir() -> TempDir {
        let dir = std::env::temp_dir().join(format!("erp-durable-cache-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    async fn open(dir: &TempDir) -> DurableCache {
        let url = format!("sqlite://{}?mode=rwc", dir.0.join("cache.db").display());
        let db = crate::db::connect(&url).await.expect("sqlite");
        DurableCache::open(db).await.expect("open")
    }

    #[tokio::test]
    async fn keys_survive_a_reopen_and_deleted_or_expired_ones_do_not() {
        let dir = temp_dir();
        {
            let cache = open(&dir).await;
            cache.set("timer:a", b"running", None).await.unwrap();
            assert!(cache.set_if_absent("timer:b", b"b1", None).await.unwrap());
            assert!(!cache.set_if_absent("timer:b", b"b2", None).await.unwrap());
            cache.set("gone", b"x", None).await.unwrap();
            assert!(cache.delete("gone").await.unwrap());
            assert!(!cache.delete("gone").await.unwrap());
            cache
                .set("lockout", b"3", Some(Duration::from_secs(3600)))
                .await
                .unwrap();
            cache
                .set("short", b"1", Some(Duration::from_millis(50)))
                .await
                .unwrap();
            assert_eq!(cache.stored_keys().await.unwrap(), 4);
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
        let cache = open(&dir).await;
        assert_eq!(
            cache.get("timer:a").await.unwrap().as_deref(),
            Some(&b"running"[..])
        );
        assert_eq!(
            cache.get("timer:b").await.unwrap().as_deref(),
            Some(&b"b1"[..])
        );
        assert_eq!(
            cache.get("lockout").await.unwrap().as_deref(),
            Some(&b"3"[..])
        );
        assert_eq!(cache.get("gone").await.unwrap(), None);
        assert_eq!(cache.get("short").await.unwrap(), None);
        // The expired key was pruned from the file at open.
        assert_eq!(cache.stored_keys().await.unwrap(), 3);
        // At most one holder of a key still holds after the restart.
        assert!(!cache
            .set_if_absent("timer:a", b"again", None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_expired_key_can_be_taken_again_and_is_stored_anew() {
        let dir = temp_dir();
        let cache = open(&dir).await;
        cache
            .set("lock", b"old", Some(Duration::from_millis(30)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(cache.set_if_absent("lock", b"new", None).await.unwrap());
        drop(cache);
        let cache = open(&dir).await;
        assert_eq!(
            cache.get("lock").await.unwrap().as_deref(),
            Some(&b"new"[..])
        );
    }

    #[tokio::test]
    async fn pub_sub_is_delivered_in_process() {
        use futures::StreamExt;
        let dir = temp_dir();
        let cache = open(&dir).await;
        let mut messages = cache.subscribe("board").await.unwrap();
        cache.publish("board", b"moved").await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), messages.next())
            .await
            .expect("a message");
        assert_eq!(got.as_deref(), Some(&b"moved"[..]));
    }
}
