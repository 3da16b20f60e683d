//! The operations store on MongoDB (the `mongodb` 3.x driver). A commit is one multi-document
//! transaction: inserts (a taken `_id` is a duplicate key) and replacements filtered on the
//! revision read (a document that moved on matches nothing), with the events in `ops_outbox`;
//! any failed condition aborts it, and a transaction that collides with a concurrent one is
//! tried again.

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{
    Error as MongoError, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use serde_json::Value;

use erp_kit::events::{EventEnvelope, OutboxDocument};
use erp_kit::pagination::PageRequest;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::{outbox_documents, Commit, Kind, OpsStore, PendingEvent, Write, MAX_UNPAGED};

const OUTBOX: &str = "ops_outbox";
const LEASES: &str = "ops_leases";
/// How often a collided transaction is tried before the caller gets CONFLICT.
const MAX_ATTEMPTS: u32 = 5;

pub(crate) fn is_duplicate_key(err: &MongoError) -> bool {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        _ => false,
    }
}

fn db_err(err: MongoError) -> ApiError {
    ApiError::internal(format!("mongodb: {err}"))
}

fn bson_err(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("bson: {err}"))
}

fn to_document(value: &Value) -> ApiResult<Document> {
    mongodb::bson::to_document(value).map_err(bson_err)
}

fn from_document(doc: Document) -> ApiResult<Value> {
    mongodb::bson::from_document(doc).map_err(bson_err)
}

fn to_bson(value: &Value) -> ApiResult<Bson> {
    mongodb::bson::to_bson(value).map_err(bson_err)
}

/// Why a transaction did not commit.
enum Failure {
    /// It collided with a concurrent transaction: tried again.
    Transient,
    /// A condition failed: aborted, with this answer.
    Refused(Commit),
    Api(ApiError),
}

fn tx_err(err: MongoError) -> Failure {
    if err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        Failure::Transient
    } else {
        Failure::Api(db_err(err))
    }
}

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
}

impl MongoStore {
    /// Connects to `url`; the database is the URL's default database or `erp_ops`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = mongodb::options::ClientOptions::parse(url).await?;
        let client = Client::with_options(options)?;
        let db = client
            .default_database()
            .unwrap_or_else(|| client.database("erp_ops"));
        Ok(Self { client, db })
    }

    fn collection(&self, kind: Kind) -> Collection<Document> {
        self.db.collection(kind.collection())
    }

    fn outbox(&self) -> Collection<OutboxDocument> {
        self.db.collection(OUTBOX)
    }

    /// The writes and events of one commit inside the session's transaction.
    async fn apply(
        &self,
        session: &mut ClientSession,
        tenant: &TenantId,
        writes: &[Write],
        outbox: &[OutboxDocument],
    ) -> Result<(), Failure> {
        for write in writes {
            match write {
                Write::Insert { kind, doc } => {
                    let doc = to_document(doc).map_err(Failure::Api)?;
                    if let Err(err) = self
                        .collection(*kind)
                        .insert_one(doc)
                        .session(&mut *session)
                        .await
                    {
                        return Err(if is_duplicate_key(&err) {
                            Failure::Refused(Commit::Duplicate(*kind))
                        } else {
                            tx_err(err)
                        });
                    }
                }
                Write::Replace {
                    kind,
                    doc,
                    expected_rev,
                } => {
                    let id = write.id().map_err(Failure::Api)?.to_owned();
                    let doc = to_document(doc).map_err(Failure::Api)?;
                    // A document stored before it had a revision is at revision 0 (as the
                    // embedded store reads it).
                    let rev = if *expected_rev == 0 {
                        doc! { "$in": [0_i64, Bson::Null] }
                    } else {
                        doc! { "$eq": expected_rev }
                    };
                    let replaced = self
                        .collection(*kind)
                        .replace_one(
                            doc! { "_id": id, "tenant_id": tenant.as_str(), "rev": rev },
                            doc,
                        )
                        .session(&mut *session)
                        .await
                        .map_err(tx_err)?;
                    if replaced.matched_count == 0 {
                        return Err(Failure::Refused(Commit::Stale));
                    }
                }
            }
        }
        if !outbox.is_empty() {
            self.outbox()
                .insert_many(outbox)
                .session(&mut *session)
                .await
                .map_err(tx_err)?;
        }
        Ok(())
    }
}

async fn commit_transaction(session: &mut ClientSession) -> Result<(), Failure> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(err) if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
            Err(err) => return Err(tx_err(err)),
        }
    }
}

/// The MongoDB indexes: each list's equality filters after the tenant, then `_id` (the page
/// key).
fn indexes() -> Vec<(&'static str, Vec<Document>)> {
    let mut all: Vec<(&'static str, Vec<Document>)> = Kind::ALL
        .iter()
        .map(|kind| {
            let mut keys = vec![doc! { "tenant_id": 1, "_id": 1 }];
            for field in kind.filtered_by() {
                let mut index = Document::new();
                index.insert("tenant_id", 1);
                index.insert(*field, 1);
                index.insert("_id", 1);
                keys.push(index);
            }
            (kind.collection(), keys)
        })
        .collect();
    all.push((OUTBOX, vec![doc! { "published_at": 1, "_id": 1 }]));
    // The breach timer's reads, across tenants.
    if let Some((_, keys)) = all
        .iter_mut()
        .find(|(collection, _)| *collection == Kind::Tickets.collection())
    {
        keys.push(doc! { "next_breach_at": 1 });
    }
    all
}

/// The tenant's documents whose fields equal `filter`.
fn filter_of(tenant: &TenantId, filter: &[(&'static str, Value)]) -> ApiResult<Document> {
    let mut query = doc! { "tenant_id": tenant.as_str() };
    for (field, value) in filter {
        query.insert(*field, to_bson(value)?);
    }
    Ok(query)
}

impl MongoStore {
    /// The documents matching `query`, in `_id` order: a page (limit + 1 rows, in the page's
    /// direction) or, without one, the first [`MAX_UNPAGED`].
    async fn find_where(
        &self,
        kind: Kind,
        mut query: Document,
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>> {
        let mut bounds = Document::new();
        if let Some(after) = page.and_then(|page| page.after.as_deref()) {
            bounds.insert("$gt", after);
        }
        if let Some(before) = page.and_then(|page| page.before.as_deref()) {
            bounds.insert("$lt", before);
        }
        if !bounds.is_empty() {
            query.insert("_id", bounds);
        }
        let backward = page.is_some_and(|page| page.backward);
        let limit = page.map_or(MAX_UNPAGED, |page| page.limit + 1);
        let rows: Vec<Document> = self
            .collection(kind)
            .find(query)
            .sort(doc! { "_id": if backward { -1 } else { 1 } })
            .limit(limit as i64)
            .await
            .map_err(db_err)?
            .try_collect()
            .await
            .map_err(db_err)?;
        rows.into_iter().map(from_document).collect()
    }
}

#[async_trait::async_trait]
impl OpsStore for MongoStore {
    async fn prepare(&self) -> ApiResult<()> {
        for (collection, keys) in indexes() {
            // Transactions cannot create collections on every server: create them up front.
            if let Err(err) = self.db.create_collection(collection).await {
                // 48: NamespaceExists.
                if !matches!(&*err.kind, ErrorKind::Command(e) if e.code == 48) {
                    return Err(db_err(err));
                }
            }
            let models = keys
                .into_iter()
                .map(|keys| IndexModel::builder().keys(keys).build());
            self.db
                .collection::<Document>(collection)
                .create_indexes(models)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, kind: Kind, ids: &[String]) -> ApiResult<Vec<Value>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<Document> = self
            .collection(kind)
            .find(doc! { "_id": { "$in": ids }, "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)?
            .try_collect()
            .await
            .map_err(db_err)?;
        rows.into_iter().map(from_document).collect()
    }

    async fn find(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>> {
        self.find_where(kind, filter_of(tenant, filter)?, page)
            .await
    }

    async fn find_any(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: (&'static str, &[Value]),
        page: Option<&PageRequest>,
    ) -> ApiResult<Vec<Value>> {
        let mut query = filter_of(tenant, filter)?;
        let values = any_of
            .1
            .iter()
            .map(to_bson)
            .collect::<ApiResult<Vec<Bson>>>()?;
        query.insert(any_of.0, doc! { "$in": values });
        self.find_where(kind, query, page).await
    }

    async fn count_by(
        &self,
        tenant: &TenantId,
        kind: Kind,
        filter: &[(&'static str, Value)],
        any_of: Option<(&'static str, &[Value])>,
        group_by: &'static str,
    ) -> ApiResult<Vec<(Value, u64)>> {
        let mut query = filter_of(tenant, filter)?;
        if let Some((field, values)) = any_of {
            let values = values
                .iter()
                .map(to_bson)
                .collect::<ApiResult<Vec<Bson>>>()?;
            query.insert(field, doc! { "$in": values });
        }
        let pipeline = [
            doc! { "$match": query },
            doc! { "$group": { "_id": format!("${group_by}"), "count": { "$sum": 1 } } },
        ];
        let groups: Vec<Document> = self
            .collection(kind)
            .aggregate(pipeline)
            .await
            .map_err(db_err)?
            .try_collect()
            .await
            .map_err(db_err)?;
        groups
            .into_iter()
            .map(|group| {
                let key = match group.get("_id") {
                    None | Some(Bson::Null) => Value::Null,
                    Some(key) => mongodb::bson::from_bson(key.clone()).map_err(bson_err)?,
                };
                let count = match group.get("count") {
                    Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
                    Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
                    Some(Bson::Double(n)) => *n as u64,
                    other => {
                        return Err(ApiError::internal(format!(
                            "mongodb: a group count of {other:?}"
                        )))
                    }
                };
                Ok((key, count))
            })
            .collect()
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        writes: &[Write],
        events: &[EventEnvelope],
    ) -> ApiResult<Commit> {
        let outbox = outbox_documents(events)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = self.client.start_session().await.map_err(db_err)?;
            session.start_transaction().await.map_err(db_err)?;
            let outcome = match self.apply(&mut session, tenant, writes, &outbox).await {
                Ok(()) => commit_transaction(&mut session).await,
                Err(failure) => {
                    let _ = session.abort_transaction().await;
                    Err(failure)
                }
            };
            match outcome {
                Ok(()) => return Ok(Commit::Written),
                Err(Failure::Refused(answer)) => return Ok(answer),
                Err(Failure::Api(err)) => return Err(err),
                Err(Failure::Transient) if attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt)))
                        .await;
                }
                Err(Failure::Transient) => return Err(crate::domain::collided()),
            }
        }
    }

    async fn due_breaches(&self, now_ms: i64, limit: u64) -> ApiResult<Vec<Value>> {
        let rows: Vec<Document> = self
            .collection(Kind::Tickets)
            .find(doc! { "next_breach_at": { "$ne": null, "$lte": now_ms } })
            .sort(doc! { "next_breach_at": 1 })
            .limit(limit as i64)
            .await
            .map_err(db_err)?
            .try_collect()
            .await
            .map_err(db_err)?;
        rows.into_iter().map(from_document).collect()
    }

    async fn next_breach_at(&self) -> ApiResult<Option<i64>> {
        let row: Option<Document> = self
            .collection(Kind::Tickets)
            .find_one(doc! { "next_breach_at": { "$ne": null } })
            .sort(doc! { "next_breach_at": 1 })
            .await
            .map_err(db_err)?;
        Ok(row.and_then(|row| match row.get("next_breach_at") {
            Some(Bson::Int64(at)) => Some(*at),
            Some(Bson::Int32(at)) => Some(i64::from(*at)),
            _ => None,
        }))
    }

    async fn pending_events(&self, limit: u64) -> ApiResult<Vec<PendingEvent>> {
        let docs: Vec<OutboxDocument> = self
            .outbox()
            .find(doc! { "published_at": null })
            .sort(doc! { "_id": 1 })
            .limit(limit as i64)
            .await
            .map_err(db_err)?
            .try_collect()
            .await
            .map_err(db_err)?;
        Ok(docs
            .into_iter()
            .map(|doc| PendingEvent {
                id: doc.id,
                topic: doc.topic,
                envelope: doc.envelope,
                attempts: doc.attempts,
                next_attempt_at: doc.next_attempt_at,
            })
            .collect())
    }

    async fn mark_published(&self, ids: &[String]) -> ApiResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.outbox()
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "published_at": chrono::Utc::now().timestamp_millis(), "last_error": null } },
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn record_failure(&self, id: &str, error: &str, next_attempt_at: i64) -> ApiResult<()> {
        self.outbox()
            .update_one(
                doc! { "_id": id },
                doc! {
                    "$inc": { "attempts": 1 },
                    "$set": { "last_error": error, "next_attempt_at": next_attempt_at },
                },
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn lease_relay(&self, owner: &str, until_ms: i64, now_ms: i64) -> ApiResult<bool> {
        let leases = self.db.collection::<Document>(LEASES);
        let taken = leases
            .update_one(
                doc! {
                    "_id": "outbox-relay",
                    "$or": [ { "owner": owner }, { "until": { "$lt": now_ms } } ],
                },
                doc! { "$set": { "owner": owner, "until": until_ms } },
            )
            .await
            .map_err(db_err)?;
        if taken.matched_count > 0 {
            return Ok(true);
        }
        // No lease document yet, or another relay holds it.
        match leases
            .insert_one(doc! { "_id": "outbox-relay", "owner": owner, "until": until_ms })
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(db_err(err)),
        }
    }

    async fn purge_published(&self, before_ms: i64) -> ApiResult<()> {
        self.outbox()
            .delete_many(doc! { "published_at": { "$lt": before_ms } })
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn take_turns(&self, tenant: &TenantId, team_id: &str, count: u64) -> ApiResult<u64> {
        let count = i64::try_from(count.max(1))
            .map_err(|_| ApiError::internal("too many round-robin turns at once"))?;
        let turns = self.db.collection::<Document>(TEAM_TURNS);
        let key = turn_key(tenant, team_id);
        // The counter exists before it is incremented: two first turns racing on an upsert
        // could both see no document.
        match turns
            .insert_one(doc! { "_id": &key, "tenant_id": tenant.as_str(), "turns": 0_i64 })
            .await
        {
            Ok(_) => {}
            Err(err) if is_duplicate_key(&err) => {}
            Err(err) => return Err(db_err(err)),
        }
        let after = turns
            .find_one_and_update(
                doc! { "_id": &key, "tenant_id": tenant.as_str() },
                doc! { "$inc": { "turns": count } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await
            .map_err(db_err)?
            .ok_or_else(|| ApiError::internal("a turn counter vanished"))?;
        Ok(turns_of(&after).saturating_sub(count as u64))
    }

    async fn turns_taken(&self, tenant: &TenantId, team_id: &str) -> ApiResult<u64> {
        let found = self
            .db
            .collection::<Document>(TEAM_TURNS)
            .find_one(doc! { "_id": turn_key(tenant, team_id), "tenant_id": tenant.as_str() })
            .await
            .map_err(db_err)?;
        Ok(found.map_or(0, |doc| turns_of(&doc)))
    }

    async fn ping(&self) -> Result<(), String> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| format!("mongodb: {e}"))
    }
}

/// The round-robin turn counters (`_id` = `<tenant>/<team>`, `turns`): apart from the teams,
/// so a ticket's turn is one atomic `$inc`, never a replacement of the team document.
const TEAM_TURNS: &str = "ops_team_turns";

fn turn_key(tenant: &TenantId, team_id: &str) -> String {
    format!("{}/{team_id}", tenant.as_str())
}

fn turns_of(doc: &Document) -> u64 {
    let turns = match doc.get("turns") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    };
    u64::try_from(turns).unwrap_or(0)
}
