//! Excel workbooks (`.xlsx`, `.xlsm`): the first sheet, read as
//! `pandas.read_excel` reads it with openpyxl. The grid starts at A1 whatever
//! cell the data starts in; its first row is the header; blank rows inside the
//! data are rows of missing values and trailing ones are dropped; rows are as
//! wide as the widest one.
//!
//! calamine streams the sheet's cells (only the shared-strings table is held in
//! memory). Each cell becomes the token pandas would see — a whole float as an
//! integer, a boolean as the number it counts as (`1`, `0`), text as it is — so
//! the CSV rules type the columns, with what pandas does differently for
//! workbooks (its Python parser converts cell values, not text):
//! - date cells make a `datetime64[us]` column (date-like text stays `object`);
//! - booleans count as 1 and 0 beside numbers; a column of nothing but booleans
//!   is `bool`, or `float64` with a blank;
//! - integers beyond `uint64` make a column `float64` when it also has a blank or
//!   a float, else `object` (where pandas counts its booleans as missing unless
//!   the column starts with one); an integer between 2^63 and 2^64 makes it `uint64` or `object`,
//!   never `float64`. (In that last case pandas reads some blanks as empty text
//!   rather than missing; depot counts every blank as missing.)
//!
//! `bench/pandas_compare_typed.py` checks these rules against real pandas on
//! random workbooks.

use std::io::{Read, Seek};

use calamine::{DataRef, Reader, Xlsx};

use crate::profile::column::Column;
use crate::profile::names::column_names;
use crate::profile::values;
use crate::profile::{ColumnProfile, DatasetError, Dtype, Profile};

pub fn profile<R: Read + Seek>(reader: R) -> Result<Option<Profile>, DatasetError> {
    let mut workbook: Xlsx<R> =
        Xlsx::new(reader).map_err(|err| DatasetError::whole(format!("not an Excel workbook: {err}")))?;
    let Some(first) = workbook.sheet_names().into_iter().next() else {
        return Ok(Some(Profile {
            rows: 0,
            columns: Vec::new(),
        }));
    };
    let mut cells = workbook
        .worksheet_cells_reader(&first)
        .map_err(|err| DatasetError::whole(format!("the sheet {first:?} cannot be read: {err}")))?;
    let mut sheet = Sheet::default();
    loop {
        let cell = cells
            .next_cell()
            .map_err(|err| DatasetError::whole(format!("the sheet {first:?} cannot be read: {err}")))?;
        let Some(cell) = cell else { break };
        let (row, column) = cell.get_position();
        if let Some(token) = Token::of(cell.get_value()) {
            sheet.cell(u64::from(row), column as usize, &token);
        }
    }
    Ok(Some(sheet.finish()))
}

/// What pandas sees in a cell.
struct Token {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Date,
    Bool(bool),
    /// A number cell, and where a whole one falls.
    Number(Range),
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// Not whole.
    Fraction,
    /// Fits `int64`.
    Int64,
    /// Above `int64`, fits `uint64`.
    Uint64,
    /// Beyond `uint64` (or below `int64`).
    TooBig,
}

impl Token {
    /// `None` for a blank cell.
    fn of(value: &DataRef<'_>) -> Option<Self> {
        let (text, kind) = match value {
            DataRef::Empty => return None,
            DataRef::Int(value) => (value.to_string(), Kind::Number(Range::Int64)),
            DataRef::Float(value) => (whole_as_integer(*value), Kind::Number(range_of(*value))),
            DataRef::Bool(value) => (u8::from(*value).to_string(), Kind::Bool(*value)),
            DataRef::String(text) if text.is_empty() => return None,
            DataRef::SharedString("") => return None,
            DataRef::String(text) => (text.clone(), Kind::Other),
            DataRef::SharedString(text) => ((*text).to_owned(), Kind::Other),
            // A time of day alone (a serial below one day) is a `datetime.time`
            // to openpyxl, which pandas keeps as `object`.
            DataRef::DateTime(moment) if moment.is_datetime() && moment.as_f64() >= 1.0 => {
                let (year, month, day, hour, minute, second, milli) = moment.to_ymd_hms_milli();
                let text =
                    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}");
                (text, Kind::Date)
            }
            DataRef::DateTime(moment) => (format!("serial {}", moment.as_f64()), Kind::Other),
            DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => (text.clone(), Kind::Other),
            DataRef::Error(error) => (error.to_string(), Kind::Other),
        };
        Some(Self { text, kind })
    }

    /// Whether pandas reads the value as a float: a number cell that is not
    /// whole, or text in float syntax (`1.5`, `1e3`).
    fn is_float(&self) -> bool {
        match self.kind {
            Kind::Number(range) => range == Range::Fraction,
            Kind::Other => matches!(
                values::parse_number(self.text.as_bytes()),
                Some(values::Number::Float(_))
            ),
            Kind::Bool(_) | Kind::Date => false,
        }
    }

    /// Whether pandas reads the value as a number (a boolean counts as one).
    fn is_numeric(&self) -> bool {
        match self.kind {
            Kind::Bool(_) | Kind::Number(_) => true,
            Kind::Date => false,
            Kind::Other => values::parse_number(self.text.as_bytes()).is_some(),
        }
    }
}

/// Where a whole float falls among pandas' integer dtypes.
#[allow(clippy::cast_precision_loss)] // the bounds are compared as floats, as pandas sees them
fn range_of(value: f64) -> Range {
    if value.fract() != 0.0 || !value.is_finite() {
        Range::Fraction
    } else if (i64::MIN as f64..i64::MAX as f64).contains(&value) {
        Range::Int64
    } else if (0.0..=u64::MAX as f64).contains(&value) && value < 18_446_744_073_709_551_616.0 {
        Range::Uint64
    } else {
        Range::TooBig
    }
}

/// openpyxl reads a whole float as a Python int, so `1.0` counts as `1`.
fn whole_as_integer(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:?}")
    }
}

#[derive(Default)]
struct Sheet {
    header: Vec<String>,
    columns: Vec<Typed>,
    /// Data rows taken so far (the header is sheet row 0).
    rows: u64,
    /// The sheet row being read, and the next column no cell has filled in it.
    row: u64,
    next_column: usize,
}

/// A column, and what kinds of cell its present (not missing) values came from.
struct Typed {
    column: Column,
    all_dates: bool,
    all_bools: bool,
    all_numeric: bool,
    float: bool,
    /// Booleans, and whether the first present value was one.
    bools: u64,
    starts_with_bool: Option<bool>,
    uint64: bool,
    too_big: bool,
}

impl Typed {
    fn new(missing_rows: u64) -> Self {
        let mut column = Column::new(String::new());
        column.missing_rows(missing_rows);
        Self {
            column,
            all_dates: true,
            all_bools: true,
            all_numeric: true,
            float: false,
            bools: 0,
            starts_with_bool: None,
            uint64: false,
            too_big: false,
        }
    }

    fn finish(self, name: String, rows: u64) -> ColumnProfile {
        let mut profile = self.column.finish(rows);
        profile.name = name;
        let missing = profile.missing.unwrap_or(0);
        let present = rows - missing;
        profile.dtype = match profile.dtype {
            Dtype::Datetime if self.all_dates => Dtype::Other("datetime64[us]".to_owned()),
            Dtype::Int64 if self.all_bools && present > 0 => {
                clear_statistics(&mut profile);
                Dtype::Bool
            }
            // Integers beyond uint64 turn to floats beside a blank or a float;
            // otherwise the column stays objects, in which pandas reads the
            // booleans as missing unless the column starts with one.
            Dtype::Object if present > 0 && self.all_numeric && self.too_big => {
                if missing > 0 || self.float {
                    Dtype::Float64
                } else {
                    if self.starts_with_bool == Some(false) {
                        profile.missing = Some(missing + self.bools);
                    }
                    Dtype::Object
                }
            }
            // pandas keeps a uint64-range integer only in a uint64 column.
            Dtype::Float64 if self.uint64 => {
                clear_statistics(&mut profile);
                Dtype::Object
            }
            Dtype::Datetime => {
                clear_statistics(&mut profile);
                Dtype::Object
            }
            dtype => dtype,
        };
        profile
    }
}

impl Sheet {
    fn cell(&mut self, row: u64, column: usize, token: &Token) {
        if row == 0 {
            if self.header.len() <= column {
                self.header.resize(column + 1, String::new());
            }
            self.header[column] = header_name(token);
            return;
        }
        if row != self.row {
            self.end_row();
            // Sheet rows between the last row with data (or the header) and
            // this one were blank; trailing blank rows never get here.
            for _ in self.row + 1..row {
                self.blank_row();
            }
            self.row = row;
        }
        while self.columns.len() <= column {
            self.columns.push(Typed::new(self.rows));
        }
        for skipped in &mut self.columns[self.next_column..column] {
            skipped.column.missing();
        }
        let typed = &mut self.columns[column];
        if !values::is_na(token.text.as_bytes()) {
            typed.all_dates &= token.kind == Kind::Date;
            typed.all_bools &= matches!(token.kind, Kind::Bool(_));
            typed.all_numeric &= token.is_numeric();
            typed.float |= token.is_float();
            let is_bool = matches!(token.kind, Kind::Bool(_));
            typed.bools += u64::from(is_bool);
            typed.starts_with_bool.get_or_insert(is_bool);
            typed.uint64 |= token.kind == Kind::Number(Range::Uint64);
            typed.too_big |= token.kind == Kind::Number(Range::TooBig);
        }
        typed.column.observe(token.text.as_bytes());
        self.next_column = column + 1;
    }

    /// Closes the row being read, if one is: the columns it did not reach are missing.
    fn end_row(&mut self) {
        if self.row == 0 {
            return;
        }
        for rest in &mut self.columns[self.next_column..] {
            rest.column.missing();
        }
        self.rows += 1;
        self.next_column = 0;
    }

    fn blank_row(&mut self) {
        for typed in &mut self.columns {
            typed.column.missing();
        }
        self.rows += 1;
    }

    fn finish(mut self) -> Profile {
        self.end_row();
        let width = self.header.len().max(self.columns.len());
        while self.columns.len() < width {
            self.columns.push(Typed::new(self.rows));
        }
        self.header.resize(width, String::new());
        let names = column_names(self.header);
        let rows = self.rows;
        let columns = self
            .columns
            .into_iter()
            .zip(names)
            .map(|(typed, name)| typed.finish(name, rows))
            .collect();
        Profile { rows, columns }
    }
}

fn clear_statistics(profile: &mut ColumnProfile) {
    profile.min = None;
    profile.max = None;
    profile.mean = None;
    profile.std = None;
}

/// How pandas names a column after its header cell.
fn header_name(token: &Token) -> String {
    match token.kind {
        // str() of a Python datetime.
        Kind::Date => token
            .text
            .replacen('T', " ", 1)
            .trim_end_matches(".000")
            .to_owned(),
        Kind::Bool(value) => (if value { "True" } else { "False" }).to_owned(),
        Kind::Number(_) | Kind::Other => token.text.clone(),
    }
}
