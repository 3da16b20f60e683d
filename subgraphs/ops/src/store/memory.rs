//! The embedded store of the one-process mode: documents in in-process maps behind one lock,
//! so a commit's conditions, writes and events are atomic, optionally persisted to a journal
//! file ([`MemoryStore::open`]): every commit is ONE line (its documents and events) appended
//! and synced before the maps change, so a failed write changes nothing and a restart replays
//! exactly the commits that were acknowledged. [`MemoryStore::new`] keeps nothing (tests).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write as _};
use std::path::Path;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use erp_kit::events::{EventEnvelope, OutboxDocument};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outbox_documents, Commit, Kind, OpsStore, PendingEvent, Write, MAX_UNPAGED};

#[derive(Default)]
struct State {
    /// Documents per collection, by `_id` (ids are global, as in MongoDB).
    docs: HashMap<Kind, BTreeMap<String, Value>>,
    outbox: BTreeMap<String, OutboxDocument>,
    /// Round-robin turns given out per `<tenant>/<team>`.
    turns: HashMap<String, u64>,
    /// The journal file commits are appended to, when persisted.
    journal: Option<std::fs::File>,
}

/// One line of the journal: a commit's documents and events, or published events.
#[derive(Serialize, Deserialize, Default)]
struct Record {
    #[serde(default)]
    docs: Vec<(Kind, Value)>,
    #[serde(default)]
    outbox: Vec<OutboxDocument>,
    #[serde(default)]
    published: Vec<String>,
    /// A team's turn counter after a turn was taken (`<tenant>/<team>`, turns given out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    turn: Option<(String, u64)>,
}

impl State {
    fn apply(&mut self, record: Record) {
        for (kind, doc) in record.docs {
            if let Some(id) = doc.get("_id").and_then(Value::as_str) {
                let id = id.to_owned();
                self.docs.entry(kind).or_default().insert(id, doc);
            }
        }
        for doc in record.outbox {
            self.outbox.insert(doc.id.clone(), doc);
        }
        for id in record.published {
            self.outbox.remove(&id);
        }
        if let Some((key, turns)) = record.turn {
            self.turns.insert(key, turns);
        }
    }

    /// Appends `record` to the journal (synced when `durable`), then applies it.
    fn write(&mut self, record: Record, durable: bool) -> ApiResult<()> {
        if let Some(file) = self.journal.as_mut() {
            let mut line = serde_json::to_vec(&record).map_err(ApiError::internal)?;
            line.push(b'\n');
            file.write_all(&line)
                .and_then(|()| if durable { file.sync_data() } else { Ok(()) })
                .map_err(|err| ApiError::internal(format!("the ops journal: {err}")))?;
        }
        self.apply(record);
        Ok(())
    }
}

/// The in-process store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// A store that keeps nothing across restarts.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store persisted to the journal at `path` (created when absent): replays it, then
    /// appends to it. A torn last line (a crash mid-write) is ignored: its commit was never
    /// acknowledged.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut state = State::default();
        if path.exists() {
            let reader = std::io::BufReader::new(std::fs::File::open(path)?);
            for line in reader.lines() {
                let line = line?;
                match serde_json::from_str::<Record>(&line) {
                    Ok(record) => state.apply(record),
                    Err(err) => {
                        tracing::warn!(error = %err, "ops journal: an unreadable line is skipped");
                    }
                }
            }
        }
        state.journal = Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        );
        Ok(Self {
            state: Mutex::new(state),
        })
    }
}

impl MemoryStore {
    /// The tenant's documents of `kind` whose fields equal `filter` and, when given, whose
    /// `any_of` field is one of its values (null also matching a missing field).
    fn find_where(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: Option<(&'static str, &[Value])>,
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>> {
        let state = self.state.lock();
        let Some(docs) = state.docs.get(&kind) else {
            return Ok(vec![]);
        };
        let matches = |(id, doc): &(&String, &Value)| {
            of_tenant(doc, tenant)
                && filter
                    .iter()
                    .all(|(field, value)| doc.get(*field) == Some(value))
                && any_of.is_none_or(|(field, values)| {
                    values.contains(doc.get(field).unwrap_or(&Value::Null))
                })
                && page.is_none_or(|page| {
                    page.after
                        .as_ref()
                        .is_none_or(|after| id.as_str() > after.as_str())
                        && page
                            .before
                            .as_ref()
                            .is_none_or(|before| id.as_str() < before.as_str())
                })
        };
        let limit = page.map_or(MAX_UNPAGED, |page| page.limit + 1) as usize;
        let rows: Vec<Value> = if page.is_some_and(|page| page.backward) {
            docs.iter()
                .rev()
                .filter(matches)
                .take(limit)
                .map(|(_, doc)| doc.clone())
                .collect()
        } else {
            docs.iter()
                .filter(matches)
                .take(limit)
                .map(|(_, doc)| doc.clone())
                .collect()
        };
        Ok(rows)
    }
}

fn of_tenant(doc: &Value, tenant: &TenantId) -> bool {
    doc.get("tenant_id").and_then(Value::as_str) == Some(tenant.as_str())
}

fn rev(doc: &Value) -> i64 {
    doc.get("rev").and_then(Value::as_i64).unwrap_or(0)
}

#[async_trait::async_trait]
impl OpsStore for MemoryStore {
    async fn prepare(&self) -> ApiResult<()> {
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, kind: Kind, ids: &[String]) -> ApiResult<Vec<Value>> {
        let state = self.state.lock();
        let Some(docs) = state.docs.get(&kind) else {
            return Ok(vec![]);
        };
        Ok(ids
            .iter()
            .filter_map(|id| docs.get(id))
            .filter(|doc| of_tenant(doc, tenant))
            .cloned()
            .collect())
    }

    async fn find(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>> {
        self.find_where(tenant, kind, filter, None, page)
    }

    async fn find_any(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: (&'static str, &[Value]),
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>> {
        self.find_where(tenant, kind, filter, Some(any_of), page)
    }

    async fn count_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: Option<(&'static str, &[Value])>,
        group_by: &'static str,
    ) -> ApiResult<Vec<(Value, u64)>> {
        let state = self.state.lock();
        let mut counts: Vec<(Value, u64)> = Vec::new();
        let Some(docs) = state.docs.get(&kind) else {
            return Ok(counts);
        };
        let matching = docs.values().filter(|doc| {
            of_tenant(doc, tenant)
                && filter
                    .iter()
                    .all(|(field, value)| doc.get(*field) == Some(value))
                && any_of.is_none_or(|(field, values)| {
                    values.contains(doc.get(field).unwrap_or(&Value::Null))
                })
        });
        for doc in matching {
            let key = doc.get(group_by).unwrap_or(&Value::Null);
            match counts.iter_mut().find(|(value, _)| value == key) {
                Some((_, count)) => *count += 1,
                None => counts.push((key.clone(), 1)),
            }
        }
        Ok(counts)
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        writes: &[Write],
        events: &[EventEnvelope],
    ) -> ApiResult<Commit> {
        let outbox = outbox_documents(events)?;
        let mut state = self.state.lock();
        // Check every condition first: a commit writes all or nothing. The ids this commit
        // inserts are a set: a bulk commit (1,000 movements of a check-out) checks each in
        // constant time, not by a scan of the ones before it.
        let mut inserted: HashSet<(Kind, &str)> = HashSet::new();
        for write in writes {
            let id = write.id()?;
            match write {
                Write::Insert { kind, .. } => {
                    let taken = state
                        .docs
                        .get(kind)
                        .is_some_and(|docs| docs.contains_key(id));
                    // A second insert of the same id in this commit is taken too.
                    if taken || !inserted.insert((*kind, id)) {
                        return Ok(Commit::Duplicate(*kind));
                    }
                }
                Write::Replace {
                    kind, expected_rev, ..
                } => {
                    let current = state.docs.get(kind).and_then(|docs| docs.get(id));
                    match current {
                        Some(doc) if of_tenant(doc, tenant) && rev(doc) == *expected_rev => {}
                        _ => return Ok(Commit::Stale),
                    }
                }
            }
        }
        let mut record = Record {
            outbox,
            ..Record::default()
        };
        for write in writes {
            let (kind, doc) = match write {
                Write::Insert { kind, doc } | Write::Replace { kind, doc, .. } => (kind, doc),
            };
            if !of_tenant(doc, tenant) {
                return Err(ApiError::internal(
                    "a document of another tenant in a commit",
                ));
            }
            record.docs.push((*kind, doc.clone()));
        }
        state.write(record, true)?;
        Ok(Commit::Written)
    }

    async fn due_breaches(&self, now_ms: i64, limit: u64) -> ApiResult<Vec<Value>> {
        let state = self.state.lock();
        let mut due: Vec<(i64, &Value)> = state
            .docs
            .get(&Kind::Tickets)
            .into_iter()
            .flat_map(|docs| docs.values())
            .filter_map(|doc| Some((doc.get("next_breach_at")?.as_i64()?, doc)))
            .filter(|(at, _)| *at <= now_ms)
            .collect();
        due.sort_by_key(|(at, _)| *at);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|(_, doc)| doc.clone())
            .collect())
    }

    async fn next_breach_at(&self) -> ApiResult<Option<i64>> {
        let state = self.state.lock();
        Ok(state
            .docs
            .get(&Kind::Tickets)
            .into_iter()
            .flat_map(|docs| docs.values())
            .filter_map(|doc| doc.get("next_breach_at")?.as_i64())
            .min())
    }

    async fn pending_events(&self, limit: u64) -> ApiResult<Vec<PendingEvent>> {
        Ok(self
            .state
            .lock()
            .outbox
            .values()
            .filter(|doc| doc.published_at.is_none())
            .take(limit as usize)
            .map(|doc| PendingEvent {
                id: doc.id.clone(),
                topic: doc.topic.clone(),
                envelope: doc.envelope.clone(),
                attempts: doc.attempts,
                next_attempt_at: doc.next_attempt_at,
            })
            .collect())
    }

    async fn mark_published(&self, ids: &[String]) -> ApiResult<()> {
        // Published events are dropped: nothing reads them back in the embedded mode. Not
        // synced: a publish replayed after a crash is at-least-once delivery.
        let record = Record {
            published: ids.to_vec(),
            ..Record::default()
        };
        self.state.lock().write(record, false)
    }

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> ApiResult<()> {
        if let Some(doc) = self.state.lock().outbox.get_mut(id) {
            doc.attempts += 1;
            doc.last_error = Some(error.to_owned());
            doc.next_attempt_at = next_attempt_at;
        }
        Ok(())
    }

    async fn lease_relay(&self, _owner: &str, _until_ms: i64, _now_ms: i64) -> ApiResult<bool> {
        // One process, one relay.
        Ok(true)
    }

    async fn purge_published(&self, _before_ms: i64) -> ApiResult<()> {
        // mark_published already dropped them.
        Ok(())
    }

    async fn take_turns(&self, tenant: &TenantId, team_id: &str, count: u64) -> ApiResult<u64> {
        let key = format!("{}/{team_id}", tenant.as_str());
        let mut state = self.state.lock();
        let taken = state.turns.get(&key).copied().unwrap_or(0);
        let record = Record {
            turn: Some((key, taken + count.max(1))),
            ..Record::default()
        };
        // Not synced: a turn lost in a crash only shifts the rotation by one.
        state.write(record, false)?;
        Ok(taken)
    }

    async fn turns_taken(&self, tenant: &TenantId, team_id: &str) -> ApiResult<u64> {
        let key = format!("{}/{team_id}", tenant.as_str());
        Ok(self.state.lock().turns.get(&key).copied().unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(name: &str) -> TenantId {
        TenantId::from_claim(name)
    }

    #[tokio::test]
    async fn commits_are_all_or_nothing_and_tenant_scoped() {
        let store = MemoryStore::new();
        let a = tenant("tnt_a");
        let doc = json!({ "_id": "1", "tenant_id": "tnt_a", "rev": 0, "status": "X" });
        let insert = Write::Insert {
            kind: Kind::Assets,
            doc: doc.clone(),
        };
        assert_eq!(
            store
                .commit(&a, std::slice::from_ref(&insert), &[])
                .await
                .unwrap(),
            Commit::Written
        );
        assert_eq!(
            store.commit(&a, &[insert], &[]).await.unwrap(),
            Commit::Duplicate(Kind::Assets)
        );
        // A stale replacement writes nothing, not even the insert beside it.
        let stale = Write::Replace {
            kind: Kind::Assets,
            doc: json!({ "_id": "1", "tenant_id": "tnt_a", "rev": 2 }),
            expected_rev: 1,
        };
        let other = Write::Insert {
            kind: Kind::Assets,
            doc: json!({ "_id": "2", "tenant_id": "tnt_a", "rev": 0 }),
        };
        assert_eq!(
            store.commit(&a, &[other, stale], &[]).await.unwrap(),
            Commit::Stale
        );
        assert!(store
            .get(&a, Kind::Assets, &["2".into()])
            .await
            .unwrap()
            .is_empty());
        // Another tenant sees nothing.
        let b = tenant("tnt_b");
        assert!(store
            .get(&b, Kind::Assets, &["1".into()])
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .find(&b, Kind::Assets, &[], None)
            .await
            .unwrap()
            .is_empty());
        let found = store
            .find(&a, Kind::Assets, &[("status", json!("X"))], None)
            .await
            .unwrap();
        assert_eq!(found, vec![doc]);
    }

    #[tokio::test]
    async fn the_journal_replays_acknowledged_commits() {
        let path = std::env::temp_dir().join(format!("ops-journal-{}.jsonl", uuid::Uuid::new_v4()));
        let a = tenant("tnt_a");
        let event = EventEnvelope::new(&a, "asset.registered", "1", json!({ "n": 1 })).unwrap();
        {
            let store = MemoryStore::open(&path).unwrap();
            let insert = Write::Insert {
                kind: Kind::Assets,
                doc: json!({ "_id": "1", "tenant_id": "tnt_a", "rev": 0 }),
            };
            assert_eq!(
                store
                    .commit(&a, &[insert], std::slice::from_ref(&event))
                    .await
                    .unwrap(),
                Commit::Written
            );
            let replace = Write::Replace {
                kind: Kind::Assets,
                doc: json!({ "_id": "1", "tenant_id": "tnt_a", "rev": 1, "name": "x" }),
                expected_rev: 0,
            };
            assert_eq!(
                store.commit(&a, &[replace], &[]).await.unwrap(),
                Commit::Written
            );
        }
        let store = MemoryStore::open(&path).unwrap();
        let docs = store.get(&a, Kind::Assets, &["1".into()]).await.unwrap();
        assert_eq!(
            docs,
            vec![json!({ "_id": "1", "tenant_id": "tnt_a", "rev": 1, "name": "x" })]
        );
        let pending = store.pending_events(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        store
            .mark_published(&[pending[0].id.clone()])
            .await
            .unwrap();
        drop(store);
        let store = MemoryStore::open(&path).unwrap();
        assert!(store.pending_events(10).await.unwrap().is_empty());
        let _ = std::fs::remove_file(&path);
    }
}
