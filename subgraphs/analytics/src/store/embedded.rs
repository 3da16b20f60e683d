//! The embedded store (`erp-os all`): DataFusion over Arrow segments under the state directory
//! (`erp-analytics-embedded`), the same facts and the same metrics layer as ClickHouse. The
//! compiler writes DataFusion SQL that dedupes on read (the highest version per entity), so
//! replays collapse here too. Dead letters are kept as JSON lines beside the segments.
//! Exports stream from ClickHouse only (ENGINE_UNSUPPORTED here).
//!
//! Time entries, the bulk of the facts, are also kept rolled up ([`super::rollup`]): per
//! tenant, grouped by local day and by local month, maintained at each insert from the
//! deduplicated entries and rebuilt from the segments when the store opens, so the reports
//! that read them group those rows (the tables `time_by_day` and `time_by_month`) instead of
//! deduplicating every fact. [`EmbeddedStore::open_raw`] keeps none: every report reads the
//! facts (the oracle the rollups are checked against).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use erp_analytics_embedded::datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, StringArray, UInt64Array, UInt8Array,
};
use erp_analytics_embedded::datafusion::arrow::compute::cast;
use erp_analytics_embedded::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use erp_analytics_embedded::datafusion::arrow::record_batch::RecordBatch;
use erp_analytics_embedded::{query_with, Table};

use erp_kit::events::DeadLetter;

use super::rollup::TimeRollups;
use super::{ExportStream, FactStore, RawRow, StoreError, StoredCalendar, StoredFact};
use crate::domain::facts::{Fact, FactKind};
use crate::domain::metrics::{
    CompiledSql, Dialect, ExportQuery, DIMENSION_COLUMNS, TIME_BY_DAY, TIME_BY_MONTH,
};

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

/// The time entries of `batch` as facts (the columns the rollups read; the rest empty).
fn time_entries_of(batch: &RecordBatch) -> Vec<Fact> {
    let text = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
    };
    let int = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
    };
    let (
        Some(tenant),
        Some(kind),
        Some(entity),
        Some(event),
        Some(day),
        Some(week),
        Some(month),
        Some(person),
        Some(user),
        Some(project),
        Some(quantity),
        Some(at),
    ) = (
        text("tenant_id"),
        text("kind"),
        text("entity_id"),
        text("event_id"),
        text("day"),
        text("week"),
        text("month"),
        text("person_id"),
        text("user_id"),
        text("project_id"),
        int("quantity"),
        int("at_ms"),
    )
    else {
        return Vec::new();
    };
    let version = batch
        .column_by_name("version")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>());
    let billable = batch
        .column_by_name("billable")
        .and_then(|c| c.as_any().downcast_ref::<UInt8Array>());
    let (Some(version), Some(billable)) = (version, billable) else {
        return Vec::new();
    };
    let time_entry = FactKind::TimeEntry.as_str();
    (0..batch.num_rows())
        .filter(|&row| kind.value(row) == time_entry)
        .map(|row| Fact {
            tenant_id: tenant.value(row).to_owned(),
            kind: FactKind::TimeEntry,
            entity_id: entity.value(row).to_owned(),
            version: version.value(row),
            event_id: event.value(row).to_owned(),
            occurred_ms: 0,
            day: day.value(row).to_owned(),
            week: week.value(row).to_owned(),
            month: month.value(row).to_owned(),
            person_id: person.value(row).to_owned(),
            user_id: user.value(row).to_owned(),
            project_id: project.value(row).to_owned(),
            client_id: String::new(),
            department_id: String::new(),
            quantity: quantity.value(row),
            amount: 0,
            currency: String::new(),
            billable: billable.value(row) != 0,
            document_id: String::new(),
            at_ms: (!at.is_null(row)).then(|| at.value(row)),
        })
        .collect()
}

/// The rollups and each tenant's tables of them as last built (rebuilt when their
/// generation moved on).
struct Rollups {
    time: TimeRollups,
    tables: HashMap<String, (u64, RecordBatch, RecordBatch)>,
}

impl Rollups {
    /// `tenant`'s `time_by_day` and `time_by_month` tables.
    fn tables(&mut self, tenant: &str) -> Result<(RecordBatch, RecordBatch), StoreError> {
        let generation = self.time.generation(tenant);
        if let Some((built, days, months)) = self.tables.get(tenant) {
            if *built == generation {
                return Ok((days.clone(), months.clone()));
            }
        }
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        let int = |name: &str| Field::new(name, DataType::Int64, false);
        let strings = |values: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(values)) };
        let days = self.time.days(tenant);
        let day_schema = Arc::new(Schema::new(vec![
            text("tenant_id"),
            text("day"),
            text("week"),
            text("month"),
            text("person_id"),
            text("user_id"),
            text("project_id"),
            Field::new("billable", DataType::UInt8, false),
            int("quantity"),
            int("entries"),
        ]));
        let day_batch = RecordBatch::try_new(
            day_schema,
            vec![
                strings(days.iter().map(|_| tenant).collect()),
                strings(days.iter().map(|(d, _, _)| d.day.as_str()).collect()),
                strings(days.iter().map(|(d, _, _)| d.week.as_str()).collect()),
                strings(days.iter().map(|(d, _, _)| d.month.as_str()).collect()),
                strings(days.iter().map(|(_, w, _)| w.person_id.as_str()).collect()),
                strings(days.iter().map(|(_, w, _)| w.user_id.as_str()).collect()),
                strings(days.iter().map(|(_, w, _)| w.project_id.as_str()).collect()),
                Arc::new(UInt8Array::from_iter_values(
                    days.iter().map(|(_, w, _)| u8::from(w.billable)),
                )),
                Arc::new(Int64Array::from_iter_values(
                    days.iter().map(|(_, _, t)| t.seconds),
                )),
                Arc::new(Int64Array::from_iter_values(
                    days.iter().map(|(_, _, t)| t.entries),
                )),
            ],
        )
        .map_err(|err| StoreError::failed(format!("the day rollup: {err}")))?;
        let months = self.time.months(tenant);
        let month_schema = Arc::new(Schema::new(vec![
            text("tenant_id"),
            text("month"),
            text("person_id"),
            text("user_id"),
            text("project_id"),
            Field::new("billable", DataType::UInt8, false),
            int("quantity"),
            int("entries"),
        ]));
        let month_batch = RecordBatch::try_new(
            month_schema,
            vec![
                strings(months.iter().map(|_| tenant).collect()),
                strings(months.iter().map(|(m, _, _)| *m).collect()),
                strings(
                    months
                        .iter()
                        .map(|(_, w, _)| w.person_id.as_str())
                        .collect(),
                ),
                strings(months.iter().map(|(_, w, _)| w.user_id.as_str()).collect()),
                strings(
                    months
                        .iter()
                        .map(|(_, w, _)| w.project_id.as_str())
                        .collect(),
                ),
                Arc::new(UInt8Array::from_iter_values(
                    months.iter().map(|(_, w, _)| u8::from(w.billable)),
                )),
                Arc::new(Int64Array::from_iter_values(
                    months.iter().map(|(_, _, t)| t.seconds),
                )),
                Arc::new(Int64Array::from_iter_values(
                    months.iter().map(|(_, _, t)| t.entries),
                )),
            ],
        )
        .map_err(|err| StoreError::failed(format!("the month rollup: {err}")))?;
        self.tables.insert(
            tenant.to_owned(),
            (generation, day_batch.clone(), month_batch.clone()),
        );
        Ok((day_batch, month_batch))
    }
}

fn zone_of(calendar: &CalendarLine) -> chrono_tz::Tz {
    chrono_tz::Tz::from_str(&calendar.time_zone).unwrap_or(chrono_tz::Tz::UTC)
}

pub struct EmbeddedStore {
    facts: Arc<Table>,
    /// None: no rollups (every report reads the facts).
    rollups: Option<Arc<Mutex<Rollups>>>,
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
    /// The store over `dir` (`<state>/analytics`); in memory only without one. Its time-entry
    /// rollups are rebuilt from the segments.
    pub fn open(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut store = Self::open_raw(dir)?;
        let mut time = TimeRollups::default();
        {
            let calendars = store
                .calendars
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (tenant, calendar) in &calendars.by_tenant {
                time.set_zone(tenant, zone_of(calendar));
            }
        }
        for batch in store.facts.batches() {
            time.apply(&time_entries_of(&batch));
        }
        store.rollups = Some(Arc::new(Mutex::new(Rollups {
            time,
            tables: HashMap::new(),
        })));
        Ok(store)
    }

    /// The store over `dir` without rollups: every report deduplicates the facts on read.
    pub fn open_raw(dir: Option<&Path>) -> anyhow::Result<Self> {
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
            rollups: None,
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

    fn time_rollups(&self) -> bool {
        self.rollups.is_some()
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
        let rollups = self.rollups.clone();
        let entries: Vec<Fact> = match rollups {
            Some(_) => facts
                .iter()
                .filter(|stored| stored.fact.kind == FactKind::TimeEntry)
                .map(|stored| stored.fact.clone())
                .collect(),
            None => Vec::new(),
        };
        tokio::task::spawn_blocking(move || {
            table.append(batch)?;
            // Stored, then counted: the rollups hold what the segments hold.
            if let Some(rollups) = rollups {
                rollups
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .time
                    .apply(&entries);
            }
            Ok::<(), erp_analytics_embedded::EngineError>(())
        })
        .await
        .map_err(|err| StoreError::failed(format!("segment writer: {err}")))?
        .map_err(|err| StoreError::failed(err.0))
    }

    async fn query(&self, sql: &CompiledSql) -> Result<Vec<RawRow>, StoreError> {
        let mut memory = Vec::new();
        if let Some(rollups) = &self.rollups {
            if sql.sql.contains(TIME_BY_DAY) || sql.sql.contains(TIME_BY_MONTH) {
                let (days, months) = rollups
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .tables(&sql.tenant)?;
                memory.push((TIME_BY_DAY, days));
                memory.push((TIME_BY_MONTH, months));
            }
        }
        let batches = query_with(&[&self.facts], &memory, &sql.sql)
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
        {
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
                let text = serde_json::to_string(&next)
                    .map_err(|err| StoreError::failed(err.to_string()))?;
                let partial = file.with_extension("json.partial");
                std::fs::write(&partial, text)
                    .and_then(|()| std::fs::rename(&partial, file))
                    .map_err(|err| StoreError::failed(format!("calendars file: {err}")))?;
            }
            calendars.by_tenant = next;
        }
        if let Some(rollups) = self.rollups.clone() {
            // Another zone regroups the tenant's entries on its local days.
            let zone = chrono_tz::Tz::from_str(&calendar.time_zone).unwrap_or(chrono_tz::Tz::UTC);
            let tenant = tenant.to_owned();
            tokio::task::spawn_blocking(move || {
                rollups
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .time
                    .set_zone(&tenant, zone);
            })
            .await
            .map_err(|err| StoreError::failed(format!("regrouping the rollups: {err}")))?;
        }
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
