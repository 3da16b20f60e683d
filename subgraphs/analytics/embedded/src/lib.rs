//! The analytics subgraph's embedded engine (`erp-os all`): Apache DataFusion over Arrow record
//! batches kept in append-only segment files (Arrow IPC) under the state directory.
//!
//! A query engine, not a database: this crate keeps the segments and hands DataFusion a table of
//! every batch; the caller's SQL does the rest (the metrics compiler dedupes on read, the
//! highest version per entity, which is what ClickHouse's `FINAL` returns). Segments are never
//! rewritten (no compaction yet: a year of tier-L facts is a few hundred MB of Arrow).
//!
//! Its own crate so that only what enables `erp-analytics/embedded` compiles DataFusion.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub use datafusion;
use datafusion::arrow::array::{new_null_array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

/// A failure of the engine (a segment that cannot be read or written, a query DataFusion
/// refuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError(pub String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

fn error(context: &str, err: impl std::fmt::Display) -> EngineError {
    EngineError(format!("{context}: {err}"))
}

/// One table of append-only batches, optionally persisted as segment files in a directory.
pub struct Table {
    name: String,
    schema: SchemaRef,
    batches: RwLock<Vec<RecordBatch>>,
    dir: Option<PathBuf>,
    next_segment: AtomicU64,
}

impl Table {
    /// The table `name` of `schema`, with the segments `dir` holds (created if missing); in
    /// memory only without a directory.
    pub fn open(name: &str, schema: SchemaRef, dir: Option<&Path>) -> Result<Self, EngineError> {
        let mut batches = Vec::new();
        let mut next_segment = 0;
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .map_err(|err| error("creating the segment directory", err))?;
            let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
                .map_err(|err| error("listing the segments", err))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter_map(|path| {
                    let stem = path.file_stem()?.to_str()?;
                    let number = stem.strip_prefix(&format!("{name}-"))?.parse().ok()?;
                    (path.extension()? == "arrow").then_some((number, path))
                })
                .collect();
            segments.sort();
            for (number, path) in segments {
                let file = File::open(&path).map_err(|err| error("opening a segment", err))?;
                let reader = FileReader::try_new(file, None)
                    .map_err(|err| error(&format!("reading {}", path.display()), err))?;
                let older = reader.schema() != schema;
                if older && !is_prefix(&reader.schema(), &schema) {
                    return Err(EngineError(format!(
                        "segment {} has another schema than the table",
                        path.display()
                    )));
                }
                for batch in reader {
                    let batch = batch.map_err(|err| error("reading a segment's batch", err))?;
                    batches.push(if older { widen(batch, &schema)? } else { batch });
                }
                next_segment = next_segment.max(number + 1);
            }
        }
        Ok(Self {
            name: name.to_owned(),
            schema,
            batches: RwLock::new(batches),
            dir: dir.map(Path::to_owned),
            next_segment: AtomicU64::new(next_segment),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends `batch`: written to a new segment file first (synced), then visible to queries.
    /// Blocking file I/O: call it from a blocking task.
    pub fn append(&self, batch: RecordBatch) -> Result<(), EngineError> {
        if batch.schema() != self.schema {
            return Err(EngineError(
                "the batch has another schema than the table".into(),
            ));
        }
        if let Some(dir) = &self.dir {
            let number = self.next_segment.fetch_add(1, Ordering::SeqCst);
            let path = dir.join(format!("{}-{number:010}.arrow", self.name));
            let partial = path.with_extension("arrow.partial");
            let file = File::create(&partial).map_err(|err| error("creating a segment", err))?;
            let mut writer = FileWriter::try_new(file, &self.schema)
                .map_err(|err| error("starting a segment", err))?;
            writer
                .write(&batch)
                .map_err(|err| error("writing a segment", err))?;
            writer
                .finish()
                .map_err(|err| error("finishing a segment", err))?;
            let file = writer
                .into_inner()
                .map_err(|err| error("closing a segment", err))?;
            file.sync_all()
                .map_err(|err| error("syncing a segment", err))?;
            // Whole or absent: a crash mid-write leaves only a `.partial` file, never read.
            std::fs::rename(&partial, &path).map_err(|err| error("publishing a segment", err))?;
        }
        self.batches
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(batch);
        Ok(())
    }

    /// Every batch, oldest first (what a query of the table reads now).
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Rows in the table (every version of every fact).
    pub fn rows(&self) -> usize {
        self.batches
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(RecordBatch::num_rows)
            .sum()
    }

    fn snapshot(&self) -> Result<MemTable, EngineError> {
        let batches = self
            .batches
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        MemTable::try_new(self.schema.clone(), vec![batches])
            .map_err(|err| error("a table snapshot", err))
    }
}

/// Whether `segment`'s columns are the first columns of `table`, and every later one can be
/// filled for it ([`widen`]): a segment written before columns were added.
fn is_prefix(segment: &SchemaRef, table: &SchemaRef) -> bool {
    let (old, new) = (segment.fields(), table.fields());
    old.len() < new.len()
        && old.iter().zip(new.iter()).all(|(a, b)| a == b)
        && new[old.len()..]
            .iter()
            .all(|field| field.is_nullable() || field.data_type() == &DataType::Utf8)
}

/// A batch of an older segment with the table's later columns added: NULL where the column
/// takes it, else empty text.
fn widen(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, EngineError> {
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for field in &schema.fields()[columns.len()..] {
        columns.push(if field.is_nullable() {
            new_null_array(field.data_type(), rows)
        } else {
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n("", rows)))
        });
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|err| error("widening a segment", err))
}

/// Runs `sql` over `tables` (each registered under its name, as it is now) and collects the
/// result.
pub async fn query(tables: &[&Arc<Table>], sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    query_with(tables, &[], sql).await
}

/// [`query`] with in-memory tables beside the segment tables: each `(name, batch)` is
/// registered as a table of that one batch (derived data the caller keeps, e.g. rollups).
pub async fn query_with(
    tables: &[&Arc<Table>],
    memory: &[(&str, RecordBatch)],
    sql: &str,
) -> Result<Vec<RecordBatch>, EngineError> {
    let ctx = SessionContext::new();
    for table in tables {
        ctx.register_table(table.name.as_str(), Arc::new(table.snapshot()?))
            .map_err(|err| error("registering a table", err))?;
    }
    for (name, batch) in memory {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch.clone()]])
            .map_err(|err| error("an in-memory table", err))?;
        ctx.register_table(*name, Arc::new(table))
            .map_err(|err| error("registering a table", err))?;
    }
    let frame = ctx.sql(sql).await.map_err(|err| error("planning", err))?;
    frame.collect().await.map_err(|err| error("running", err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
        ]))
    }

    fn batch(ids: &[&str], versions: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int64Array::from(versions.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn segments_written_before_columns_were_added_read_them_empty() {
        let dir = std::env::temp_dir().join(format!(
            "erp-analytics-embedded-widen-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let old = Arc::new(Table::open("facts", schema(), Some(&dir)).unwrap());
        old.append(batch(&["a"], &[1])).unwrap();
        drop(old);
        let mut fields: Vec<Field> = schema().fields().iter().map(|f| (**f).clone()).collect();
        fields.push(Field::new("note", DataType::Utf8, false));
        fields.push(Field::new("at", DataType::Int64, true));
        let wider = Arc::new(Schema::new(fields));
        let table = Table::open("facts", wider.clone(), Some(&dir)).unwrap();
        let batches = table.batches.read().unwrap().clone();
        assert_eq!(batches[0].schema(), wider);
        let note = batches[0]
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!((note.value(0), batches[0].column(3).is_null(0)), ("", true));
        // A segment of another shape altogether is refused.
        let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, false)]));
        assert!(Table::open("facts", other, Some(&dir)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn segments_survive_a_reopen_and_queries_dedupe_on_read() {
        let dir =
            std::env::temp_dir().join(format!("erp-analytics-embedded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let table = Arc::new(Table::open("facts", schema(), Some(&dir)).unwrap());
        table.append(batch(&["a", "b"], &[1, 1])).unwrap();
        table.append(batch(&["a"], &[2])).unwrap();
        drop(table);
        let table = Arc::new(Table::open("facts", schema(), Some(&dir)).unwrap());
        assert_eq!(table.rows(), 3);
        let result = query(
            &[&table],
            "SELECT id, MAX(version) AS v FROM facts GROUP BY id ORDER BY id",
        )
        .await
        .unwrap();
        let ids = result[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let versions = result[0]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!((ids.value(0), versions.value(0)), ("a", 2));
        assert_eq!((ids.value(1), versions.value(1)), ("b", 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
