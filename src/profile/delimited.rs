//! CSV and TSV, pushed chunk by chunk through `csv-core`: records are cut as the
//! bytes arrive, whatever the chunk boundaries, and each field goes to its
//! column at once. Memory is one record, not the file.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use crate::profile::column::Column;
use crate::profile::names::column_names;
use crate::profile::{DatasetError, Profile};

const BOM: &[u8] = b"\xef\xbb\xbf";
/// A record longer than this stops the profile (the upload itself goes on).
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// So does a record with more fields than this (each column keeps a few KiB).
pub const MAX_FIELDS: usize = 16 * 1024;

pub struct Delimited {
    reader: Reader,
    /// The first bytes, held until a byte-order mark can be recognised.
    head: Option<Vec<u8>>,
    record: Vec<u8>,
    record_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    columns: Option<Vec<Column>>,
    /// Leading fields that pandas takes as the index (a first data row wider
    /// than the header), then the width every row may have at most.
    index_fields: Option<usize>,
    rows: u64,
    gave_up: bool,
}

impl Delimited {
    pub fn new(delimiter: u8) -> Self {
        Self {
            reader: ReaderBuilder::new().delimiter(delimiter).build(),
            head: Some(Vec::with_capacity(BOM.len())),
            record: vec![0; 4096],
            record_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            columns: None,
            index_fields: None,
            rows: 0,
            gave_up: false,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DatasetError> {
        match self.head.take() {
            Some(mut head) => {
                let needed = BOM.len().saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..needed]);
                if head.len() < BOM.len() {
                    self.head = Some(head);
                    return Ok(());
                }
                let start = if head == BOM { BOM.len() } else { 0 };
                self.feed(&head[start..])?;
                self.feed(&chunk[needed..])
            }
            None => self.feed(chunk),
        }
    }

    pub fn finish(mut self) -> Result<Option<Profile>, DatasetError> {
        if let Some(head) = self.head.take() {
            let start = if head == BOM { BOM.len() } else { 0 };
            self.feed(&head[start..])?;
        }
        self.parse(&[])?;
        if self.gave_up {
            return Ok(None);
        }
        let columns = self
            .columns
            .ok_or_else(|| DatasetError::at(1, "the file is empty: no header to read columns from"))?;
        Ok(Some(Profile {
            rows: self.rows,
            columns: columns
                .into_iter()
                .map(|column| column.finish(self.rows))
                .collect(),
        }))
    }

    fn feed(&mut self, input: &[u8]) -> Result<(), DatasetError> {
        if input.is_empty() {
            return Ok(());
        }
        self.parse(input)
    }

    /// Parses `input`; to `csv-core` an empty `input` means the end of the data.
    fn parse(&mut self, mut input: &[u8]) -> Result<(), DatasetError> {
        let at_end = input.is_empty();
        while !self.gave_up {
            let (result, read, written, ended) = self.reader.read_record(
                input,
                &mut self.record[self.record_len..],
                &mut self.ends[self.ends_len..],
            );
            let last_byte = input[..read].last().copied();
            input = &input[read..];
            self.record_len += written;
            self.ends_len += ended;
            match result {
                ReadRecordResult::InputEmpty if !at_end => return Ok(()),
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.grow_record(),
                ReadRecordResult::OutputEndsFull if self.ends.len() >= MAX_FIELDS => {
                    tracing::info!(
                        limit = MAX_FIELDS,
                        "a record has too many fields to profile; no summary"
                    );
                    self.gave_up = true;
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = (self.ends.len() * 2).min(MAX_FIELDS);
                    self.ends.resize(len, 0);
                }
                ReadRecordResult::Record => {
                    // The line the record ended on: its newline is already counted.
                    let line = self.reader.line() - u64::from(last_byte == Some(b'\n'));
                    self.take_record(line)?;
                    self.record_len = 0;
                    self.ends_len = 0;
                }
                ReadRecordResult::End => return Ok(()),
            }
        }
        Ok(())
    }

    fn grow_record(&mut self) {
        if self.record.len() >= MAX_RECORD_BYTES {
            tracing::info!(
                limit = MAX_RECORD_BYTES,
                "a record is too long to profile; no summary"
            );
            self.gave_up = true;
        } else {
            let len = (self.record.len() * 2).min(MAX_RECORD_BYTES);
            self.record.resize(len, 0);
        }
    }

    fn take_record(&mut self, line: u64) -> Result<(), DatasetError> {
        let record = &self.record[..self.record_len];
        let ends = &self.ends[..self.ends_len];
        let field = |i: usize| &record[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
        // pandas skips blank lines (csv-core already has) and lines of nothing
        // but whitespace; a lone `""` is a field.
        if ends.len() == 1 && !field(0).is_empty() && field(0).iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        // Fields are checked one by one: bytes that are only valid across a
        // delimiter are still invalid.
        let checked = if record.is_ascii() { 0 } else { ends.len() };
        for i in 0..checked {
            if std::str::from_utf8(field(i)).is_err() {
                return Err(DatasetError::at(line, "the text is not valid UTF-8"));
            }
        }
        let Some(columns) = &mut self.columns else {
            let header = (0..ends.len())
                .map(|i| String::from_utf8_lossy(field(i)).into_owned())
                .collect();
            self.columns = Some(column_names(header).into_iter().map(Column::new).collect());
            return Ok(());
        };
        let index_fields = *self
            .index_fields
            .get_or_insert(ends.len().saturating_sub(columns.len()));
        let width = columns.len() + index_fields;
        if ends.len() > width {
            return Err(DatasetError::at(
                line,
                format!("expected {width} fields, saw {}", ends.len()),
            ));
        }
        for (i, column) in columns.iter_mut().enumerate() {
            match ends.get(index_fields + i) {
                Some(_) => column.observe(field(index_fields + i)),
                None => column.missing(),
            }
        }
        self.rows += 1;
        Ok(())
    }
}
