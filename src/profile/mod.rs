//! Dataset profiling in the upload pass (seed 2's summary, computed the way
//! pandas' `read_csv` infers dtypes, without a second read of the file).
//!
//! A [`Profiler`] takes the upload's chunks as they stream in and keeps one
//! record and a few counters per column in memory. At the end it gives a
//! [`Profile`]: rows, columns, each column's dtype, missing count, distinct
//! estimate and statistics; [`Profile::summary`] renders seed 2's markdown.

mod column;
mod delimited;
#[cfg(feature = "excel")]
mod excel;
mod json;
mod names;
#[cfg(feature = "parquet")]
mod parquet;
pub mod preview;
mod tokenizer;
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
    /// Apache Parquet, profiled from its footer (the `parquet` feature).
    #[cfg(feature = "parquet")]
    Parquet,
    /// An Excel workbook's first sheet (`.xlsx`, `.xlsm`; the `excel` feature).
    #[cfg(feature = "excel")]
    Excel,
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
            #[cfg(feature = "parquet")]
            Some("parquet" | "pq") => Some(Self::Parquet),
            #[cfg(feature = "excel")]
            Some("xlsx" | "xlsm") => Some(Self::Excel),
            _ => match essence.to_ascii_lowercase().as_str() {
                "text/csv" => Some(Self::Csv),
                "text/tab-separated-values" => Some(Self::Tsv),
                "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
                    Some(Self::JsonLines)
                }
                "application/json" => Some(Self::JsonArray),
                #[cfg(feature = "parquet")]
                "application/vnd.apache.parquet" | "application/x-parquet" => Some(Self::Parquet),
                #[cfg(feature = "excel")]
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                | "application/vnd.ms-excel.sheet.macroenabled.12" => Some(Self::Excel),
                _ => None,
            },
        }
    }
}

impl Format {
    /// The formats this build profiles, for messages.
    pub fn names() -> String {
        let optional = [
            ("Parquet", cfg!(feature = "parquet")),
            ("Excel workbooks", cfg!(feature = "excel")),
        ];
        let built = optional.iter().filter(|(_, built)| *built).map(|(name, _)| *name);
        let names: Vec<&str> = ["CSV", "TSV", "JSON Lines", "JSON arrays"]
            .into_iter()
            .chain(built)
            .collect();
        names.join(", ")
    }

    /// Text formats are profiled only when their first bytes are not an image,
    /// an archive or another binary format, whatever their name says.
    pub fn is_text(self) -> bool {
        matches!(self, Self::Csv | Self::Tsv | Self::JsonLines | Self::JsonArray)
    }

    /// The field delimiter of a delimited format (CSV, TSV).
    pub fn delimiter(self) -> Option<u8> {
        match self {
            Self::Csv => Some(b','),
            Self::Tsv => Some(b'\t'),
            _ => None,
        }
    }

    /// Whether the format is profiled from the whole, stored copy rather than
    /// as it streams in: a workbook's ZIP directory is at its end.
    pub fn needs_random_access(self) -> bool {
        #[cfg(feature = "excel")]
        if self == Self::Excel {
            return true;
        }
        false
    }
}

/// A dataset pandas would refuse to read: 422 `invalid_dataset`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .line { Some(line) => format!("line {line}: {}", .message), None => .message.clone() })]
pub struct DatasetError {
    /// The line (CSV, JSON) or sheet row (Excel) at fault, when there is one.
    pub line: Option<u64>,
    pub message: String,
}

impl DatasetError {
    pub fn at(line: u64, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    /// A fault of the whole file, not of one line (a Parquet file's footer).
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

/// Reads one dataset as it streams in.
pub struct Profiler {
    parser: Parser,
}

enum Parser {
    Delimited(Box<Delimited>),
    Json(JsonRecords),
    #[cfg(feature = "parquet")]
    Parquet(parquet::Footer),
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiler").finish_non_exhaustive()
    }
}

impl Profiler {
    /// A profiler for a format that streams; `None` for one that
    /// [needs random access](Format::needs_random_access) (see [`profile_file`]).
    pub fn new(format: Format) -> Option<Self> {
        let parser = match format {
            Format::Csv => Parser::Delimited(Box::new(Delimited::new(b','))),
            Format::Tsv => Parser::Delimited(Box::new(Delimited::new(b'\t'))),
            Format::JsonLines => Parser::Json(JsonRecords::new(Layout::Lines)),
            Format::JsonArray => Parser::Json(JsonRecords::new(Layout::Array)),
            #[cfg(feature = "parquet")]
            Format::Parquet => Parser::Parquet(parquet::Footer::default()),
            #[cfg(feature = "excel")]
            Format::Excel => return None,
        };
        Some(Self { parser })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DatasetError> {
        match &mut self.parser {
            Parser::Delimited(parser) => parser.push(chunk),
            Parser::Json(parser) => parser.push(chunk),
            #[cfg(feature = "parquet")]
            Parser::Parquet(footer) => {
                footer.push(chunk);
                Ok(())
            }
        }
    }

    /// The profile, or `None` when the data is not a dataset after all (a `.json`
    /// file that is not an array of objects) or is too large to profile (a field,
    /// a CSV header or first row, or a JSON record over 16 MiB); an error when
    /// pandas would refuse the file.
    pub fn finish(self) -> Result<Option<Profile>, DatasetError> {
        match self.parser {
            Parser::Delimited(parser) => parser.finish(),
            Parser::Json(parser) => parser.finish(),
            #[cfg(feature = "parquet")]
            Parser::Parquet(footer) => footer.finish(),
        }
    }
}

/// Profiles a whole file that can be read again from its start: as it streams
/// for the formats that stream, and reading only what it needs for those that
/// [need random access](Format::needs_random_access). The outer error is the
/// reader's, the inner one the dataset's.
pub fn profile_file<R>(
    format: Format,
    mut reader: R,
) -> std::io::Result<Result<Option<Profile>, DatasetError>>
where
    R: std::io::Read + std::io::Seek,
{
    let Some(mut profiler) = Profiler::new(format) else {
        return Ok(profile_seekable(format, reader));
    };
    let mut buffer = vec![0; READ_BUFFER];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok(profiler.finish());
        }
        if let Err(err) = profiler.push(&buffer[..read]) {
            return Ok(Err(err));
        }
    }
}

/// How much [`profile_file`] reads at a time.
const READ_BUFFER: usize = 1 << 20;

#[cfg_attr(not(feature = "excel"), allow(unused_variables))]
fn profile_seekable<R>(format: Format, reader: R) -> Result<Option<Profile>, DatasetError>
where
    R: std::io::Read + std::io::Seek,
{
    match format {
        #[cfg(feature = "excel")]
        Format::Excel => excel::profile(reader),
        _ => Ok(None),
    }
}

/// A column's dtype, named as pandas names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dtype {
    Int64,
    Uint64,
    Float64,
    Bool,
    /// `datetime64[ns]`: the profiling contract's name for text columns of ISO
    /// 8601 date/times.
    Datetime,
    Object,
    /// Any other name pandas gives a column of a typed format: `int32`,
    /// `float32`, `datetime64[us, UTC]`, `category`, …
    Other(String),
}

impl Dtype {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Int64 => "int64",
            Self::Uint64 => "uint64",
            Self::Float64 => "float64",
            Self::Bool => "bool",
            Self::Datetime => "datetime64[ns]",
            Self::Object => "object",
            Self::Other(name) => name,
        }
    }
}

impl Serialize for Dtype {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
    /// Missing values (pandas' NA strings and the fields short rows lack);
    /// absent where the file does not tell (a Parquet column without statistics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<u64>,
    /// Distinct non-missing values, estimated (HyperLogLog++; exact while
    /// small); absent where the file does not tell (Parquet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Present, and true, when `distinct` is an estimate rather than a count.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub distinct_estimated: bool,
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
    /// Seed 2's markdown, exactly, followed by a table of the statistics; a
    /// NUL the file's names or values hold is shown as U+FFFD.
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
            let count = |value: Option<u64>| value.map(|value| value.to_string()).unwrap_or_default();
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
                    count(column.missing),
                    count(column.distinct),
                    shown(&column.min),
                    shown(&column.max),
                    column.mean.map(|mean| format!("{mean:.4}")).unwrap_or_default(),
                ));
            }
        }
        // A NUL from the file would not survive PostgreSQL's text columns.
        text.replace('\0', "\u{FFFD}")
    }
}

#[cfg(test)]
mod tests;
