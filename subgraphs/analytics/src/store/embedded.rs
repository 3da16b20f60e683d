//! The embedded store (`erp-os all`): DataFusion over Arrow segments under the state directory
//! (`erp-analytics-embedded`), the same facts and the same metrics layer as ClickHouse. The
//! compiler writes DataFusion SQL that dedupes on read (the highest version per entity), so
//! replays collapse here too. Dead letters are kept as JSON lines beside the segments.
//! Exports stream from ClickHouse only (ENGINE_UNSUPPORTED here).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use erp_analytics_embedded::datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, StringArray, UInt64Array, UInt8Array,
};
use erp_analytics_embedded::datafusion::arrow::compute::cast;
use erp_analytics_embedded::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use erp_analytics_embedded::datafusion::arrow::record_batch::RecordBatch;
use erp_analytics_embedded::{query, Table};

use erp_kit::events::DeadLetter;

use super::{ExportStream, FactStore, RawRow, StoreError, StoredCalendar, StoredFact};
use crate::domain::metrics::{CompiledSql, Dialect, ExportQuery, DIMENSION_COLUMNS};

/// The facts' columns, as in ClickHouse's `facts` table.
fn facts_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("tenant_id"),
        text("kind"),
        text("entity_id"),
        Field::new("version", DataType::UInt64, false),
        text("event_id"),
        int("occurred_ms"),
        int("ingested_ms"),
        text("day"),
        text("week"),
        text("month"),
        text("person_id"),
        text("user_id"),
        text("project_id"),
        text("client_id"),
        text("department_id"),
        int("quantity"),
        int("amount"),
        text("currency"),
        Field::new("billable", DataType::UInt8, false),
        // Added later: segments written before them read `''` and NULL (see `Table::open`).
        text("document_id"),
        Field::new("at_ms", DataType::Int64, true),
    ]))
}

fn batch_of(schema: &SchemaRef, facts: &[StoredFact]) -> Result<RecordBatch, StoreError> {
    let text = |get: &dyn Fn(&StoredFact) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(facts.iter().map(get)))
    };
    let int = |get: &dyn Fn(&StoredFact) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(facts.iter().map(get)))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|f| &f.fact.tenant_id),
        text(&|f| f.fact.kind.as_str()),
        text(&|f| &f.fact.entity_id),
        Arc::new(UInt64Array::from_iter_values(
            facts.iter().map(|f| f.fact.version),
        )),
        text(&|f| &f.fact.event_id),
        int(&|f| f.fact.occurred_ms),
        int(&|f| f.ingested_ms),
        text(&|f| &f.fact.day),
        text(&|f| &f.fact.week),
        text(&|f| &f.fact.month),
        text(&|f| &f.fact.person_id),
        text(&|f| &f.fact.user_id),
        text(&|f| &f.fact.project_id),
        text(&|f| &f.fact.client_id),
        text(&|f| &f.fact.department_id),
        int(&|f| f.fact.quantity),
        int(&|f| f.fact.amount),
        text(&|f| &f.fact.currency),
        Arc::new(UInt8Array::from_iter_values(
            facts.iter().map(|f| u8::from(f.fact.billable)),
        )),
        text(&|f| &f.fact.document_id),
        Arc::new(Int64Array::from_iter(facts.iter().map(|f| f.fact.at_ms))),
    ];
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|err| StoreError::failed(format!("a batch of facts: {err}")))
}

pub struct EmbeddedStore {
    facts: Arc<Table>,
    dead_letters: Mutex<DeadLetters>,
    calendars: Mutex<Calendars>,
}

/// The tenants' reporting calendars, kept whole in `calendars.json` beside the segments.
struct Calendars {
    by_tenant: std::collections::HashMap<String, CalendarLine>,
    file: Option<PathBuf>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct CalendarLine {
    time_zone: String,
    fiscal_year_start_month: u8,
}

struct DeadLetters {
    keys: HashSet<(String, String)>,
    counts: std::collections::HashMap<String, u64>,
    file: Option<PathBuf>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DeadLetterLine {
    group: String,
    key: String,
    topic: String,
    event_type: Option<String>,
    tenant_id: Option<String>,
    failure: String,
    error: String,
    payload: String,
}

impl EmbeddedStore {
    /// The store over `dir` (`<state>/analytics`); in memory only without one.
    pub fn open(dir: Option<&Path>) -> anyhow::Result<Self> {
        let facts = Table::open(
            "facts",
            facts_schema(),
            dir.map(|d| d.join("facts")).as_deref(),
        )
        .map_err(|err| anyhow::anyhow!("opening the analytics segments: {err}"))?;
        let file = dir.map(|d| d.join("dead_letters.jsonl"));
        let mut letters = DeadLetters {
            keys: HashSet::new(),
            counts: Default::default(),
            file: file.clone(),
        };
        if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            for line in text.lines() {
                if let Ok(letter) = serde_json::from_str::<DeadLetterLine>(line) {
                    *letters.counts.entry(letter.group.clone()).or_default() += 1;
                    letters.keys.insert((letter.group, letter.key));
                }
            }
        }
        let calendars_file = dir.map(|d| d.join("calendars.json"));
        let by_tenant = match calendars_file.as_ref().filter(|f| f.exists()) {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|err| anyhow::anyhow!("reading {}: {err}", file.display()))?;
                serde_json::from_str(&text)
                    .map_err(|err| anyhow::anyhow!("reading {}: {err}", file.display()))?
            }
            None => Default::default(),
        };
        Ok(Self {
            facts: Arc::new(facts),
            dead_letters: Mutex::new(letters),
            calendars: Mutex::new(Calendars {
                by_tenant,
                file: calendars_file,
            }),
        })
    }
}

/// A result column as strings / integers, whatever width DataFusion chose.
fn column(batch: &RecordBatch, index: usize, to: &DataType) -> Result<ArrayRef, StoreError> {
    cast(batch.column(index), to)
        .map_err(|err| StoreError::failed(format!("result column {index}: {err}")))
}

#[async_trait::async_trait]
impl FactStore for EmbeddedStore {
    fn dialect(&self) -> Dialect {
        Dialect::DataFusion
    }

    async fn prepare(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn insert(&self, facts: &[StoredFact]) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        let batch = batch_of(&self.facts.schema(), facts)?;
        let table = self.facts.clone();
        tokio::task::spawn_blocking(move || table.append(batch))
            .await
            .map_err(|err| StoreError::failed(format!("segment writer: {err}")))?
            .map_err(|err| StoreError::failed(err.0))
    }

    async fn query(&self, sql: &CompiledSql) -> Result<Vec<RawRow>, StoreError> {
        let batches = query(&[&self.facts], &sql.sql)
            .await
            .map_err(|err| StoreError::failed(err.0))?;
        let mut rows = Vec::new();
        for batch in batches {
            let mut dims = Vec::with_capacity(DIMENSION_COLUMNS);
            for index in 0..DIMENSION_COLUMNS {
                dims.push(column(&batch, index, &DataType::Utf8)?);
            }
            let values = column(&batch, DIMENSION_COLUMNS, &DataType::Int64)?;
            let people = column(&batch, DIMENSION_COLUMNS + 1, &DataType::UInt64)?;
            let values = values.as_any().downcast_ref::<Int64Array>();
            let people = people.as_any().downcast_ref::<UInt64Array>();
            let texts: Vec<Option<&StringArray>> = dims
                .iter()
                .map(|d| d.as_any().downcast_ref::<StringArray>())
                .collect();
            let (Some(values), Some(people)) = (values, people) else {
                return Err(StoreError::failed("unexpected result columns"));
            };
            for row in 0..batch.num_rows() {
                let text = |index: usize| -> String {
                    texts[index]
                        .filter(|array| !array.is_null(row))
                        .map(|array| array.value(row).to_owned())
                        .unwrap_or_default()
                };
                rows.push(RawRow {
                    dimensions: [text(0), text(1), text(2), text(3)],
                    value: if values.is_null(row) {
                        0
                    } else {
                        values.value(row)
                    },
                    people: if people.is_null(row) {
                        0
                    } else {
                        people.value(row)
                    },
                });
            }
        }
        Ok(rows)
    }

    async fn export_count(&self, _tenant: &str, _export: &ExportQuery) -> Result<u64, StoreError> {
        Err(StoreError::failed("exports stream from ClickHouse only"))
    }

    async fn export(
        &self,
        _tenant: &str,
        _export: &ExportQuery,
    ) -> Result<ExportStream, StoreError> {
        Err(StoreError::failed("exports stream from ClickHouse only"))
    }

    async fn calendar(&self, tenant: &str) -> Result<Option<StoredCalendar>, StoreError> {
        let calendars = self
            .calendars
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(calendars.by_tenant.get(tenant).map(|line| StoredCalendar {
            time_zone: line.time_zone.clone(),
            fiscal_year_start_month: line.fiscal_year_start_month,
        }))
    }

    async fn set_calendar(
        &self,
        tenant: &str,
        calendar: &StoredCalendar,
    ) -> Result<(), StoreError> {
        let mut calendars = self
            .calendars
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = calendars.by_tenant.clone();
        next.insert(
            tenant.to_owned(),
            CalendarLine {
                time_zone: calendar.time_zone.clone(),
                fiscal_year_start_month: calendar.fiscal_year_start_month,
            },
        );
        if let Some(file) = &calendars.file {
            // Whole or not at all: written aside, then renamed over the old file.
            let text =
                serde_json::to_string(&next).map_err(|err| StoreError::failed(err.to_string()))?;
            let partial = file.with_extension("json.partial");
            std::fs::write(&partial, text)
                .and_then(|()| std::fs::rename(&partial, file))
                .map_err(|err| StoreError::failed(format!("calendars file: {err}")))?;
        }
        calendars.by_tenant = next;
        Ok(())
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        let mut letters = self
            .dead_letters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (letter.group.clone(), letter.message_key.clone());
        if letters.keys.contains(&key) {
            return Ok(false);
        }
        if let Some(file) = &letters.file {
            let line = DeadLetterLine {
                group: letter.group.clone(),
                key: letter.message_key.clone(),
                topic: letter.topic.clone(),
                event_type: letter.event_type.clone(),
                tenant_id: letter.tenant_id.clone(),
                failure: letter.failure.as_str().to_owned(),
                error: letter.error.clone(),
                payload: letter.payload.clone(),
            };
            let text =
                serde_json::to_string(&line).map_err(|err| StoreError::failed(err.to_string()))?;
            let mut handle = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .map_err(|err| StoreError::failed(format!("dead letters file: {err}")))?;
            writeln!(handle, "{text}")
                .map_err(|err| StoreError::failed(format!("dead letters file: {err}")))?;
        }
        *letters.counts.entry(letter.group.clone()).or_default() += 1;
        letters.keys.insert(key);
        Ok(true)
    }

    async fn dead_letter_count(&self, group: &str) -> Result<u64, StoreError> {
        let letters = self
            .dead_letters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(letters.counts.get(group).copied().unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}
