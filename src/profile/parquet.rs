//! Parquet files, profiled from their footer. A Parquet file ends with its
//! metadata — schema, row count and per-row-group column statistics — so the
//! profiler keeps only the last bytes that stream past and reads the footer
//! from them at the end: constant memory at any file size, on every blob store.
//!
//! Dtypes are the ones `pandas.read_parquet` (pyarrow) gives: the Arrow schema
//! the writer embedded (or the one derived from the Parquet types) mapped as
//! pyarrow's `to_pandas` maps it, with integer columns that hold a null read as
//! `float64` and boolean ones as `object`. Missing counts and extremes come from
//! the column statistics; a footer holds no means, so there are none.

use std::collections::HashSet;

use arrow_schema::{DataType, Field, TimeUnit};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;

use crate::profile::column::{datetime, float, integer};
use crate::profile::{ColumnProfile, DatasetError, Dtype, Profile};

const MAGIC: &[u8; 4] = b"PAR1";
/// A footer larger than this (thousands of columns × row groups) is not read:
/// the file gets no summary. The profiler holds up to twice this much.
const MAX_FOOTER_BYTES: usize = 4 << 20;

/// The first and the last bytes of a Parquet file as it streams past.
#[derive(Debug, Default)]
pub struct Footer {
    head: Vec<u8>,
    tail: Vec<u8>,
    size: u64,
}

impl Footer {
    pub fn push(&mut self, chunk: &[u8]) {
        let wanted = MAGIC.len().saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        self.size += chunk.len() as u64;
        // Keep at least the last MAX_FOOTER_BYTES + 8 bytes; trim in large
        // steps so each byte is moved at most once or twice.
        let keep = MAX_FOOTER_BYTES + 8;
        if chunk.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > 2 * keep {
                self.tail.drain(..self.tail.len() - keep);
            }
        }
    }

    pub fn finish(self) -> Result<Option<Profile>, DatasetError> {
        if self.head != MAGIC {
            return Err(DatasetError::whole(
                "not a Parquet file: it does not start with PAR1",
            ));
        }
        let Some((before_trailer, trailer)) = self.tail.split_last_chunk::<8>() else {
            return Err(DatasetError::whole(
                "the Parquet file is truncated: it has no footer",
            ));
        };
        let (footer_length, magic) = trailer.split_at(4);
        if magic == b"PARE" {
            return Ok(None); // an encrypted footer: nothing to read without its key
        }
        if magic != MAGIC {
            return Err(DatasetError::whole(
                "the Parquet file is truncated: it does not end with PAR1",
            ));
        }
        let footer_length = u32::from_le_bytes(footer_length.try_into().unwrap_or_default()) as usize;
        let Some(footer) = before_trailer
            .len()
            .checked_sub(footer_length)
            .map(|start| &before_trailer[start..])
        else {
            return if self.size >= (footer_length + 8 + MAGIC.len()) as u64 {
                Ok(None) // larger than the profiler keeps
            } else {
                Err(DatasetError::whole("the Parquet footer is longer than the file"))
            };
        };
        let metadata = ParquetMetaDataReader::decode_metadata(footer)
            .map_err(|err| DatasetError::whole(format!("the Parquet footer cannot be read: {err}")))?;
        profile(&metadata).map(Some)
    }
}

fn profile(metadata: &ParquetMetaData) -> Result<Profile, DatasetError> {
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|err| DatasetError::whole(format!("the Parquet schema cannot be read: {err}")))?;
    let index = pandas_index_columns(metadata);
    let rows = u64::try_from(file.num_rows()).unwrap_or(0);
    let descriptor = file.schema_descr();
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| !index.contains(field.name()))
        .map(|(root, field)| {
            let leaves: Vec<usize> = (0..descriptor.num_columns())
                .filter(|&leaf| descriptor.get_column_root_idx(leaf) == root)
                .collect();
            // Only a flat column's statistics describe the column itself.
            let unsigned = matches!(
                field.data_type(),
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
            );
            let stats = match leaves.as_slice() {
                [leaf] => ColumnStats::of(metadata, *leaf, unsigned),
                _ => ColumnStats::default(),
            };
            column(field, rows, &stats)
        })
        .collect();
    Ok(Profile { rows, columns })
}

/// The columns pandas wrote for a DataFrame's index, which `read_parquet`
/// turns back into the index rather than columns.
fn pandas_index_columns(metadata: &ParquetMetaData) -> HashSet<String> {
    let pandas = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|pairs| pairs.iter().find(|pair| pair.key == "pandas"))
        .and_then(|pair| pair.value.as_deref())
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok());
    pandas
        .as_ref()
        .and_then(|value| value["index_columns"].as_array())
        .map(|names| {
            names
                .iter()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A column's statistics over every row group; `None` where a row group lacks them.
#[derive(Debug, Default)]
struct ColumnStats {
    nulls: Option<u64>,
    extremes: Option<(Extreme, Extreme)>,
}

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum Extreme {
    Int(i128),
    Float(f64),
}

impl ColumnStats {
    /// `unsigned`: the leaf holds unsigned integers in a signed physical type,
    /// its statistics ordered as unsigned.
    fn of(metadata: &ParquetMetaData, leaf: usize, unsigned: bool) -> Self {
        let mut nulls = Some(0);
        let mut extremes: Option<Option<(Extreme, Extreme)>> = None;
        for group in metadata.row_groups() {
            let stats = group.column(leaf).statistics();
            nulls = nulls
                .zip(stats.and_then(Statistics::null_count_opt))
                .map(|(a, b)| a + b);
            if group.num_rows() == 0 {
                continue;
            }
            let found = stats.and_then(|stats| extremes_of(stats, unsigned));
            extremes = Some(match (extremes, found) {
                (None, found) => found,
                (Some(Some((min, max))), Some((found_min, found_max))) => Some((
                    if found_min < min { found_min } else { min },
                    if found_max > max { found_max } else { max },
                )),
                _ => None,
            });
        }
        Self {
            nulls,
            extremes: extremes.flatten(),
        }
    }
}

fn extremes_of(stats: &Statistics, unsigned: bool) -> Option<(Extreme, Extreme)> {
    let int32 = |value: i32| {
        Extreme::Int(if unsigned {
            i128::from(value as u32)
        } else {
            i128::from(value)
        })
    };
    let int64 = |value: i64| {
        Extreme::Int(if unsigned {
            i128::from(value as u64)
        } else {
            i128::from(value)
        })
    };
    match stats {
        Statistics::Int32(values) => Some((int32(*values.min_opt()?), int32(*values.max_opt()?))),
        Statistics::Int64(values) => Some((int64(*values.min_opt()?), int64(*values.max_opt()?))),
        Statistics::Float(values) => Some((
            Extreme::Float(f64::from(*values.min_opt()?)),
            Extreme::Float(f64::from(*values.max_opt()?)),
        )),
        Statistics::Double(values) => Some((
            Extreme::Float(*values.min_opt()?),
            Extreme::Float(*values.max_opt()?),
        )),
        _ => None,
    }
}

fn column(field: &Field, rows: u64, stats: &ColumnStats) -> ColumnProfile {
    let missing = if rows == 0 || !field.is_nullable() {
        Some(0)
    } else if *field.data_type() == DataType::Null {
        Some(rows)
    } else {
        stats.nulls
    };
    let has_nulls = missing.is_some_and(|missing| missing > 0);
    let dtype = pandas_dtype(field.data_type(), has_nulls);
    let (min, max) = match (field.data_type(), stats.extremes) {
        (DataType::Timestamp(unit, zone), Some((Extreme::Int(min), Extreme::Int(max)))) => {
            let shown = |value: i128| {
                let micros = micros(i64::try_from(value).ok()?, *unit)?;
                Some(datetime(micros, zone.is_some()).into())
            };
            (shown(min), shown(max))
        }
        (data_type, Some((min, max))) if data_type.is_numeric() => (Some(number(min)), Some(number(max))),
        _ => (None, None),
    };
    ColumnProfile {
        name: field.name().clone(),
        dtype,
        missing,
        distinct: None,
        distinct_estimated: false,
        min,
        max,
        mean: None,
        std: None,
    }
}

fn number(value: Extreme) -> serde_json::Value {
    match value {
        Extreme::Int(value) => integer(value),
        Extreme::Float(value) => float(value),
    }
}

fn micros(value: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => value.checked_mul(1_000_000),
        TimeUnit::Millisecond => value.checked_mul(1_000),
        TimeUnit::Microsecond => Some(value),
        TimeUnit::Nanosecond => Some(value.div_euclid(1_000)),
    }
}

/// The dtype pyarrow's `to_pandas` gives a column of this Arrow type.
fn pandas_dtype(data_type: &DataType, has_nulls: bool) -> Dtype {
    let name = match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
            if has_nulls =>
        {
            return Dtype::Float64;
        }
        DataType::Int64 => return Dtype::Int64,
        DataType::UInt64 => return Dtype::Uint64,
        DataType::Float64 => return Dtype::Float64,
        DataType::Boolean if has_nulls => return Dtype::Object,
        DataType::Boolean => return Dtype::Bool,
        DataType::Int8 => "int8".to_owned(),
        DataType::Int16 => "int16".to_owned(),
        DataType::Int32 => "int32".to_owned(),
        DataType::UInt8 => "uint8".to_owned(),
        DataType::UInt16 => "uint16".to_owned(),
        DataType::UInt32 => "uint32".to_owned(),
        DataType::Float16 => "float16".to_owned(),
        DataType::Float32 => "float32".to_owned(),
        DataType::Timestamp(unit, None) => format!("datetime64[{}]", unit_name(*unit)),
        DataType::Timestamp(unit, Some(zone)) => format!("datetime64[{}, {zone}]", unit_name(*unit)),
        DataType::Duration(unit) => format!("timedelta64[{}]", unit_name(*unit)),
        // A dictionary of nothing (an empty categorical) reads as plain objects.
        DataType::Dictionary(_, values) if **values == DataType::Null => return Dtype::Object,
        DataType::Dictionary(..) => "category".to_owned(),
        _ => return Dtype::Object,
    };
    Dtype::Other(name)
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}
