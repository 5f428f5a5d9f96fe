//! Excel workbooks (`.xlsx`, `.xlsm`): the first sheet, read as
//! `pandas.read_excel` reads it with openpyxl. The grid starts at A1 whatever
//! cell the data starts in; its first row is the header; blank rows inside the
//! data are rows of missing values and trailing ones are dropped; rows are as
//! wide as the widest one.
//!
//! calamine streams the sheet's cells (only the shared-strings table is held in
//! memory). Each cell becomes the token pandas would see — a whole float as an
//! integer, `True`/`False`, text as it is — so the CSV rules type the columns,
//! with two differences pandas has for workbooks: date cells make a
//! `datetime64[us]` column (date-like text stays `object`), and a column of
//! booleans with a blank reads as `float64`.

use std::io::{Read, Seek};

use calamine::{DataRef, Reader, Xlsx};

use crate::profile::column::Column;
use crate::profile::names::column_names;
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
    Bool,
    Other,
}

impl Token {
    /// `None` for a blank cell.
    fn of(value: &DataRef<'_>) -> Option<Self> {
        let (text, kind) = match value {
            DataRef::Empty => return None,
            DataRef::Int(value) => (value.to_string(), Kind::Other),
            DataRef::Float(value) => (whole_as_integer(*value), Kind::Other),
            DataRef::Bool(value) => ((if *value { "True" } else { "False" }).to_owned(), Kind::Bool),
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

/// A column, and whether every value in it was a date cell or a boolean cell.
struct Typed {
    column: Column,
    all_dates: bool,
    all_bools: bool,
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
            let mut added = Column::new(String::new());
            added.missing_rows(self.rows);
            self.columns.push(Typed {
                column: added,
                all_dates: true,
                all_bools: true,
            });
        }
        for skipped in &mut self.columns[self.next_column..column] {
            skipped.column.missing();
        }
        let typed = &mut self.columns[column];
        typed.all_dates &= token.kind == Kind::Date;
        typed.all_bools &= token.kind == Kind::Bool;
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
            let mut added = Column::new(String::new());
            added.missing_rows(self.rows);
            self.columns.push(Typed {
                column: added,
                all_dates: true,
                all_bools: true,
            });
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

impl Typed {
    fn finish(self, name: String, rows: u64) -> ColumnProfile {
        let mut profile = self.column.finish(rows);
        profile.name = name;
        let present = rows - profile.missing.unwrap_or(0);
        profile.dtype = match profile.dtype {
            Dtype::Datetime if self.all_dates => Dtype::Other("datetime64[us]".to_owned()),
            Dtype::Datetime => {
                profile.min = None;
                profile.max = None;
                Dtype::Object
            }
            Dtype::Object if self.all_bools && present > 0 && rows > 0 => Dtype::Float64,
            dtype => dtype,
        };
        profile
    }
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
        Kind::Bool | Kind::Other => token.text.clone(),
    }
}
