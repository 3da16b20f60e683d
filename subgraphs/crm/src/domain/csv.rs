//! Splitting a CSV stream into records as its bytes arrive (RFC 4180: quoted fields may hold
//! commas, quotes and line breaks), so an import never holds more than one record in memory.

use csv_core::{ReadRecordResult, Reader};

/// The longest record kept (bytes); a longer one is reported, not kept.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// The most fields a record may have.
pub const MAX_FIELDS: usize = 256;

/// A record that could not be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    TooLong,
    TooManyFields,
    NotUtf8,
}

impl RecordError {
    pub fn message(self) -> String {
        match self {
            RecordError::TooLong => format!("the row is longer than {MAX_RECORD_BYTES} bytes"),
            RecordError::TooManyFields => format!("the row has more than {MAX_FIELDS} fields"),
            RecordError::NotUtf8 => "the row is not UTF-8 text".into(),
        }
    }
}

/// Records split from pushed bytes.
pub struct CsvSplitter {
    reader: Reader,
    output: Vec<u8>,
    output_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// The record in progress overflowed: its bytes are dropped until its end.
    overflow: Option<RecordError>,
}

impl Default for CsvSplitter {
    fn default() -> Self {
        Self {
            reader: Reader::new(),
            output: vec![0; 4096],
            output_len: 0,
            ends: vec![0; 32],
            ends_len: 0,
            overflow: None,
        }
    }
}

impl CsvSplitter {
    /// Splits `input`, appending each complete record to `records`. Call [`finish`] after the
    /// last chunk.
    ///
    /// [`finish`]: CsvSplitter::finish
    pub fn push(&mut self, input: &[u8], records: &mut Vec<Result<Vec<String>, RecordError>>) {
        let mut input = input;
        loop {
            let (result, read, written, ends) = self.reader.read_record(
                input,
                &mut self.output[self.output_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[read..];
            self.output_len += written;
            self.ends_len += ends;
            match result {
                ReadRecordResult::InputEmpty => {
                    if input.is_empty() {
                        return;
                    }
                }
                ReadRecordResult::OutputFull => {
                    if self.output.len() >= MAX_RECORD_BYTES {
                        self.overflow.get_or_insert(RecordError::TooLong);
                        // Keep reading the record without keeping it.
                        self.output_len = 0;
                    } else {
                        let grown = (self.output.len() * 2).min(MAX_RECORD_BYTES);
                        self.output.resize(grown, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        self.overflow.get_or_insert(RecordError::TooManyFields);
                        self.ends_len = 0;
                    } else {
                        let grown = (self.ends.len() * 2).min(MAX_FIELDS);
                        self.ends.resize(grown, 0);
                    }
                }
                ReadRecordResult::Record => {
                    records.push(self.take_record());
                }
                ReadRecordResult::End => return,
            }
        }
    }

    /// Ends the stream: a last record without a line break is completed.
    pub fn finish(&mut self, records: &mut Vec<Result<Vec<String>, RecordError>>) {
        loop {
            let (result, _, written, ends) = self.reader.read_record(
                &[],
                &mut self.output[self.output_len..],
                &mut self.ends[self.ends_len..],
            );
            self.output_len += written;
            self.ends_len += ends;
            match result {
                ReadRecordResult::Record => records.push(self.take_record()),
                ReadRecordResult::OutputFull => {
                    self.overflow.get_or_insert(RecordError::TooLong);
                    self.output_len = 0;
                }
                ReadRecordResult::OutputEndsFull => {
                    self.overflow.get_or_insert(RecordError::TooManyFields);
                    self.ends_len = 0;
                }
                ReadRecordResult::End | ReadRecordResult::InputEmpty => return,
            }
        }
    }

    fn take_record(&mut self) -> Result<Vec<String>, RecordError> {
        let overflow = self.overflow.take();
        let (output_len, ends_len) = (self.output_len, self.ends_len);
        self.output_len = 0;
        self.ends_len = 0;
        if let Some(error) = overflow {
            return Err(error);
        }
        let mut fields = Vec::with_capacity(ends_len);
        let mut start = 0;
        for &end in &self.ends[..ends_len] {
            let end = end.min(output_len);
            let text =
                std::str::from_utf8(&self.output[start..end]).map_err(|_| RecordError::NotUtf8)?;
            fields.push(text.to_owned());
            start = end;
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Result<Vec<String>, RecordError>> {
        let mut splitter = CsvSplitter::default();
        let mut records = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut records);
        }
        splitter.finish(&mut records);
        records
    }

    fn fields(list: &[&str]) -> Result<Vec<String>, RecordError> {
        Ok(list.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn records_across_chunk_boundaries_with_quotes() {
        let records = split(&[
            b"\xef\xbb\xbfname,no",
            b"tes\r\n\"Acme, Inc.\",\"said \"\"hi\"\"\nthen",
            b" left\"\nlast,row",
        ]);
        assert_eq!(
            records,
            vec![
                fields(&["name", "notes"]),
                fields(&["Acme, Inc.", "said \"hi\"\nthen left"]),
                fields(&["last", "row"]),
            ]
        );
    }

    #[test]
    fn oversized_and_broken_records_are_reported_and_skipped() {
        let long = "x".repeat(MAX_RECORD_BYTES + 10);
        let text = format!("a,b\n{long},1\nc,d\n");
        let records = split(&[text.as_bytes()]);
        assert_eq!(records.len(), 3);
        assert_eq!(records[1], Err(RecordError::TooLong));
        assert_eq!(records[2], fields(&["c", "d"]));
        let wide = vec!["1"; MAX_FIELDS + 1].join(",");
        let records = split(&[format!("{wide}\nok\n").as_bytes()]);
        assert_eq!(records[0], Err(RecordError::TooManyFields));
        assert_eq!(records[1], fields(&["ok"]));
        let records = split(&[b"\xff\xfe,x\n"]);
        assert_eq!(records[0], Err(RecordError::NotUtf8));
    }
}
