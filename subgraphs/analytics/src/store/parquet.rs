//! A metric's table as a Parquet file (the `parquet` feature): one UTF-8 column per dimension
//! (named after it), `value` (INT64, null when suppressed) and `suppressed` (BOOLEAN), in row
//! groups of [`ROW_GROUP_ROWS`]; the metric, its unit, the row count and `asOf` in the file's
//! key-value metadata. Written with the Arrow version DataFusion uses, without compression
//! codecs (dictionary and RLE encodings still shrink repeated dimension values).

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::StoreError;
use crate::domain::metrics::MetricRow;

/// Rows per row group (a reader can skip or stream groups).
pub const ROW_GROUP_ROWS: usize = 8_192;

/// What the file says about itself besides its rows.
pub struct ParquetHeader<'a> {
    pub metric: &'a str,
    pub unit: &'a str,
    /// The dimensions' names, one column each, in order.
    pub dimensions: &'a [&'a str],
    /// RFC 3339.
    pub as_of: &'a str,
}

fn failed(err: impl std::fmt::Display) -> StoreError {
    StoreError::failed(format!("writing Parquet: {err}"))
}

/// The file of `rows` (each with `header.dimensions.len()` dimension values).
pub fn metric_file(header: &ParquetHeader<'_>, rows: &[MetricRow]) -> Result<Vec<u8>, StoreError> {
    let mut fields: Vec<Field> = header
        .dimensions
        .iter()
        .map(|name| Field::new(*name, DataType::Utf8, false))
        .collect();
    fields.push(Field::new("value", DataType::Int64, true));
    fields.push(Field::new("suppressed", DataType::Boolean, false));
    let schema = Arc::new(Schema::new(fields));
    let metadata = vec![
        KeyValue::new("erp.metric".to_owned(), header.metric.to_owned()),
        KeyValue::new("erp.unit".to_owned(), header.unit.to_owned()),
        KeyValue::new("erp.row_count".to_owned(), rows.len().to_string()),
        KeyValue::new("erp.as_of".to_owned(), header.as_of.to_owned()),
    ];
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(metadata))
        .build();
    let mut writer =
        ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties)).map_err(failed)?;
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(header.dimensions.len() + 2);
        for index in 0..header.dimensions.len() {
            columns.push(Arc::new(StringArray::from_iter_values(chunk.iter().map(
                |row| row.dimensions.get(index).map(String::as_str).unwrap_or(""),
            ))));
        }
        columns.push(Arc::new(Int64Array::from_iter(
            chunk.iter().map(|row| row.value),
        )));
        columns.push(Arc::new(BooleanArray::from_iter(
            chunk.iter().map(|row| Some(row.value.is_none())),
        )));
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(failed)?;
        writer.write(&batch).map_err(failed)?;
    }
    writer.into_inner().map_err(failed)
}
