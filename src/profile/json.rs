//! JSON datasets: JSON Lines (one object per line) and JSON arrays of objects,
//! cut into records as the bytes arrive and parsed one record at a time with
//! `serde_json`. Keys become columns in the order they first appear; a key a
//! record lacks, and `null`, are missing values. Values are typed as the CSV
//! token they would be (`1.5`, `True`, text), so the dtypes follow the same rules.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::profile::column::Column;
use crate::profile::delimited::MAX_RECORD_BYTES;
use crate::profile::{DatasetError, Profile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One object per line; anything else is an error.
    Lines,
    /// `[{…}, {…}]`; a `.json` file that is not an array of objects is simply
    /// not a dataset (no summary, no error).
    Array,
}

pub struct JsonRecords {
    layout: Layout,
    /// Bytes of the record being cut.
    record: Vec<u8>,
    /// Array layout: `[` seen, and the nesting depth, string and escape state.
    opened: bool,
    depth: usize,
    in_string: bool,
    escaped: bool,
    closed: bool,
    line: u64,
    record_line: u64,
    /// Column names in first-seen order, and where each is.
    names: Vec<String>,
    index: HashMap<String, usize>,
    columns: Vec<Column>,
    rows: u64,
    /// Not a dataset after all (array layout), or a record too long to profile.
    gave_up: bool,
}

impl JsonRecords {
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            record: Vec::new(),
            opened: false,
            depth: 0,
            in_string: false,
            escaped: false,
            closed: false,
            line: 1,
            record_line: 1,
            names: Vec::new(),
            index: HashMap::new(),
            columns: Vec::new(),
            rows: 0,
            gave_up: false,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DatasetError> {
        for &byte in chunk {
            if self.gave_up {
                return Ok(());
            }
            match self.layout {
                Layout::Lines => self.lines_byte(byte)?,
                Layout::Array => self.array_byte(byte)?,
            }
            if byte == b'\n' {
                self.line += 1;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Option<Profile>, DatasetError> {
        if self.layout == Layout::Lines && !self.record.is_empty() {
            self.take_line()?;
        }
        if self.layout == Layout::Array && !self.closed {
            self.gave_up = true;
        }
        if self.gave_up {
            return Ok(None);
        }
        if self.layout == Layout::Lines && self.rows == 0 && self.columns.is_empty() {
            return Err(DatasetError::at(
                1,
                "the file is empty: no JSON object to read columns from",
            ));
        }
        let rows = self.rows;
        Ok(Some(Profile {
            rows,
            columns: self
                .columns
                .into_iter()
                .map(|column| column.finish(rows))
                .collect(),
        }))
    }

    fn lines_byte(&mut self, byte: u8) -> Result<(), DatasetError> {
        if byte == b'\n' {
            return self.take_line();
        }
        if self.record.is_empty() {
            self.record_line = self.line;
        }
        self.keep(byte);
        Ok(())
    }

    fn take_line(&mut self) -> Result<(), DatasetError> {
        let line = std::mem::take(&mut self.record);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match serde_json::from_slice::<Map<String, Value>>(&line) {
            Ok(object) => {
                self.add(&object);
                Ok(())
            }
            Err(err) => Err(DatasetError::at(
                self.record_line,
                format!("not a JSON object: {err}"),
            )),
        }
    }

    /// Cuts `[{…}, {…}]` into its elements, each parsed when its `}` arrives.
    fn array_byte(&mut self, byte: u8) -> Result<(), DatasetError> {
        if !self.opened {
            match byte {
                b'[' => self.opened = true,
                b' ' | b'\t' | b'\r' | b'\n' | 0xef | 0xbb | 0xbf => {}
                _ => self.gave_up = true,
            }
            return Ok(());
        }
        if self.closed {
            if !byte.is_ascii_whitespace() {
                self.gave_up = true;
            }
            return Ok(());
        }
        if self.depth == 0 {
            match byte {
                b'{' => {
                    self.record_line = self.line;
                    self.depth = 1;
                    self.keep(byte);
                }
                b']' => self.closed = true,
                b',' | b' ' | b'\t' | b'\r' | b'\n' => {}
                _ => self.gave_up = true,
            }
            return Ok(());
        }
        self.keep(byte);
        if self.in_string {
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
            return Ok(());
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == 0 {
                    let element = std::mem::take(&mut self.record);
                    match serde_json::from_slice::<Map<String, Value>>(&element) {
                        Ok(object) => self.add(&object),
                        Err(_) => self.gave_up = true,
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn keep(&mut self, byte: u8) {
        if self.record.len() >= MAX_RECORD_BYTES {
            tracing::info!(
                limit = MAX_RECORD_BYTES,
                "a JSON record is too long to profile; no summary"
            );
            self.gave_up = true;
            return;
        }
        self.record.push(byte);
    }

    /// One record: each known column gets its value or a missing one; new keys
    /// become columns that were missing in every earlier row.
    fn add(&mut self, object: &Map<String, Value>) {
        for key in object.keys() {
            if !self.index.contains_key(key) {
                let mut column = Column::new(key.clone());
                for _ in 0..self.rows {
                    column.missing();
                }
                self.index.insert(key.clone(), self.columns.len());
                self.names.push(key.clone());
                self.columns.push(column);
            }
        }
        for (name, column) in self.names.iter().zip(&mut self.columns) {
            match object.get(name) {
                None | Some(Value::Null) => column.missing(),
                Some(Value::String(text)) => column.observe_present(text.as_bytes()),
                Some(Value::Bool(true)) => column.observe_present(b"True"),
                Some(Value::Bool(false)) => column.observe_present(b"False"),
                Some(Value::Number(number)) => column.observe_present(number.to_string().as_bytes()),
                Some(nested) => column.observe_present(nested.to_string().as_bytes()),
            }
        }
        self.rows += 1;
    }
}
