//! Dataset profiling in the upload pass (seed 2's summary, computed the way
//! pandas' `read_csv` infers dtypes, without a second read of the file).
//!
//! A [`Profiler`] takes the upload's chunks as they stream in and keeps one
//! record and a few counters per column in memory. At the end it gives a
//! [`Profile`]: rows, columns, each column's dtype, missing count, distinct
//! estimate and statistics; [`Profile::summary`] renders seed 2's markdown.

mod column;
mod delimited;
mod json;
mod names;
mod values;

use serde::Serialize;

use delimited::Delimited;
use json::{JsonRecords, Layout};

/// The file formats depot profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    /// JSON Lines: one object per line (`.jsonl`, `.ndjson`).
    JsonLines,
    /// A JSON array of objects (`.json`); other JSON is not a dataset.
    JsonArray,
}

impl Format {
    /// The format of a file named `name` with media type `content_type`, if it
    /// is one depot profiles; other files get no summary.
    pub fn detect(name: &str, content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match crate::config::extension_of(name).as_deref() {
            Some("csv") => Some(Self::Csv),
            Some("tsv" | "tab") => Some(Self::Tsv),
            Some("jsonl" | "ndjson") => Some(Self::JsonLines),
            Some("json") => Some(Self::JsonArray),
            _ => match essence.to_ascii_lowercase().as_str() {
                "text/csv" => Some(Self::Csv),
                "text/tab-separated-values" => Some(Self::Tsv),
                "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
                    Some(Self::JsonLines)
                }
                "application/json" => Some(Self::JsonArray),
                _ => None,
            },
        }
    }
}

/// A dataset pandas would refuse to read: 422 `invalid_dataset`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DatasetError {
    pub line: u64,
    pub message: String,
}

/// Reads one dataset as it streams in.
pub struct Profiler {
    parser: Parser,
}

enum Parser {
    Delimited(Box<Delimited>),
    Json(JsonRecords),
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiler").finish_non_exhaustive()
    }
}

impl Profiler {
    pub fn new(format: Format) -> Self {
        let parser = match format {
            Format::Csv => Parser::Delimited(Box::new(Delimited::new(b','))),
            Format::Tsv => Parser::Delimited(Box::new(Delimited::new(b'\t'))),
            Format::JsonLines => Parser::Json(JsonRecords::new(Layout::Lines)),
            Format::JsonArray => Parser::Json(JsonRecords::new(Layout::Array)),
        };
        Self { parser }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DatasetError> {
        match &mut self.parser {
            Parser::Delimited(parser) => parser.push(chunk),
            Parser::Json(parser) => parser.push(chunk),
        }
    }

    /// The profile, or `None` when the data is not a dataset after all (a `.json`
    /// file that is not an array of objects) or a record is over 16 MiB; an error
    /// when pandas would refuse the file.
    pub fn finish(self) -> Result<Option<Profile>, DatasetError> {
        match self.parser {
            Parser::Delimited(parser) => parser.finish(),
            Parser::Json(parser) => parser.finish(),
        }
    }
}

/// A column's dtype, named as pandas names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dtype {
    #[serde(rename = "int64")]
    Int64,
    #[serde(rename = "uint64")]
    Uint64,
    #[serde(rename = "float64")]
    Float64,
    #[serde(rename = "bool")]
    Bool,
    #[serde(rename = "datetime64[ns]")]
    Datetime,
    #[serde(rename = "object")]
    Object,
}

impl Dtype {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Int64 => "int64",
            Self::Uint64 => "uint64",
            Self::Float64 => "float64",
            Self::Bool => "bool",
            Self::Datetime => "datetime64[ns]",
            Self::Object => "object",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    pub dtype: Dtype,
    /// Missing values (pandas' NA strings and the fields short rows lack).
    pub missing: u64,
    /// Distinct non-missing values, estimated (HyperLogLog++; exact while small).
    pub distinct: u64,
    /// Numbers: the extremes; date/times: the earliest and latest (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Sample standard deviation (pandas' default, ddof = 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

impl Profile {
    /// Seed 2's markdown, exactly, followed by a table of the statistics.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "The dataset has **{} rows** and **{} columns**.\n\nIt contains the following features:\n\n",
            self.rows,
            self.columns.len()
        );
        let features: Vec<String> = self
            .columns
            .iter()
            .map(|column| format!("- **{}**: `{}`", column.name, column.dtype.as_str()))
            .collect();
        text.push_str(&features.join("\n"));
        if !self.columns.is_empty() {
            text.push_str("\n\n| column | dtype | missing | distinct | min | max | mean |\n");
            text.push_str("|---|---|---:|---:|---:|---:|---:|\n");
            for column in &self.columns {
                let shown = |value: &Option<serde_json::Value>| match value {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(value) => value.to_string(),
                    None => String::new(),
                };
                text.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    column.name.replace('|', "\\|"),
                    column.dtype.as_str(),
                    column.missing,
                    column.distinct,
                    shown(&column.min),
                    shown(&column.max),
                    column.mean.map(|mean| format!("{mean:.4}")).unwrap_or_default(),
                ));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests;
