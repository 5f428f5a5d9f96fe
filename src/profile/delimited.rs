//! CSV and TSV: pandas' [tokenizer](super::tokenizer) hands each field to its
//! column as soon as it ends, whatever the chunk boundaries. Memory is the
//! header, the first data row and one field cut by a chunk boundary — not the
//! file, not even a record.

use crate::profile::column::Column;
use crate::profile::names::column_names;
use crate::profile::tokenizer::{Fields, Tokenizer};
use crate::profile::{DatasetError, Profile};

const BOM: &[u8] = b"\xef\xbb\xbf";
/// A header or first data row longer than this stops the profile (the upload
/// itself goes on).
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// So does a header or first data row with more fields than this (each column
/// keeps a few KiB).
pub const MAX_FIELDS: usize = 16 * 1024;

pub struct Delimited {
    tokenizer: Tokenizer,
    /// The first bytes, held until a byte-order mark can be recognised.
    head: Option<Vec<u8>>,
    table: Table,
}

impl Delimited {
    pub fn new(delimiter: u8) -> Self {
        Self {
            tokenizer: Tokenizer::new(delimiter),
            head: Some(Vec::with_capacity(BOM.len())),
            table: Table::default(),
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
        self.tokenizer.finish(&mut self.table)?;
        if self.gave_up() {
            return Ok(None);
        }
        let table = self.table;
        let columns = table
            .columns
            .ok_or_else(|| DatasetError::at(1, "the file is empty: no header to read columns from"))?;
        Ok(Some(Profile {
            rows: table.rows,
            columns: columns
                .into_iter()
                .map(|column| column.finish(table.rows))
                .collect(),
        }))
    }

    fn feed(&mut self, input: &[u8]) -> Result<(), DatasetError> {
        if self.gave_up() {
            return Ok(());
        }
        self.tokenizer.feed(input, &mut self.table)
    }

    fn gave_up(&self) -> bool {
        self.tokenizer.gave_up || self.table.gave_up
    }
}

/// The columns, fed field by field.
#[derive(Default)]
struct Table {
    /// The header, then the first data row, held whole: the header names the
    /// columns, and the first row's width tells how many leading fields pandas
    /// takes as the index.
    held: Held,
    columns: Option<Vec<Column>>,
    /// Leading fields that pandas takes as the index (a first data row wider
    /// than the header), once the first row is read.
    index_fields: Option<usize>,
    /// Fields of the current record so far.
    fields: usize,
    rows: u64,
    gave_up: bool,
}

/// A record held whole: its bytes and where each field ends.
#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Held {
    /// Adds a field; `false` when the record is too large to hold.
    fn push(&mut self, field: &[u8]) -> bool {
        if self.ends.len() >= MAX_FIELDS || self.bytes.len() + field.len() > MAX_RECORD_BYTES {
            return false;
        }
        self.bytes.extend_from_slice(field);
        self.ends.push(self.bytes.len());
        true
    }

    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }
}

impl Table {
    fn hold(&mut self, field: &[u8]) {
        if !self.gave_up && !self.held.push(field) {
            tracing::info!(
                fields = MAX_FIELDS,
                bytes = MAX_RECORD_BYTES,
                "a header or first row is too large to profile; no summary"
            );
            self.gave_up = true;
        }
    }

    /// The header names the columns, as pandas names them.
    fn read_header(&mut self) {
        let held = std::mem::take(&mut self.held);
        let header = held
            .fields()
            .map(|field| String::from_utf8_lossy(field).into_owned())
            .collect();
        self.columns = Some(column_names(header).into_iter().map(Column::new).collect());
    }

    /// The first data row fixes the index fields and joins the columns.
    fn read_first_row(&mut self) {
        let held = std::mem::take(&mut self.held);
        let columns = self.columns.get_or_insert_default();
        let index_fields = held.ends.len().saturating_sub(columns.len());
        let mut values = held.fields().skip(index_fields);
        for column in columns {
            match values.next() {
                Some(value) => column.observe(value),
                None => column.missing(),
            }
        }
        self.index_fields = Some(index_fields);
    }
}

impl Fields for Table {
    #[inline]
    fn field(&mut self, bytes: &[u8]) {
        let index = self.fields;
        self.fields += 1;
        match (&mut self.columns, self.index_fields) {
            (Some(columns), Some(index_fields)) => {
                if let Some(column) = index.checked_sub(index_fields).and_then(|i| columns.get_mut(i)) {
                    column.observe(bytes);
                }
            }
            _ => self.hold(bytes),
        }
    }

    fn end_record(&mut self, line: u64) -> Result<(), DatasetError> {
        let fields = std::mem::take(&mut self.fields);
        if self.gave_up {
            return Ok(());
        }
        let Some(columns) = &mut self.columns else {
            self.read_header();
            return Ok(());
        };
        let Some(index_fields) = self.index_fields else {
            self.read_first_row();
            self.rows += 1;
            return Ok(());
        };
        let width = columns.len() + index_fields;
        if fields > width {
            return Err(DatasetError::at(
                line,
                format!("expected {width} fields, saw {fields}"),
            ));
        }
        for column in columns.iter_mut().skip(fields.saturating_sub(index_fields)) {
            column.missing();
        }
        self.rows += 1;
        Ok(())
    }
}
