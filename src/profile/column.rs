//! One column's profile, built value by value: which kinds of token it has seen
//! (so its dtype can be decided at the end, as pandas would), missing values, a
//! distinct-count sketch and running numeric and date/time statistics.

use std::hash::BuildHasher;

use cardinality_estimator::CardinalityEstimator;
use foldhash::quality::FixedState;

use crate::profile::values::{self, Int, Number, Zone};
use crate::profile::{ColumnProfile, Dtype};

/// Exact up to [`EXACT_DISTINCT`] distinct values, then HyperLogLog++ with
/// 2^12 registers (about 1.6 % error, 3 KiB).
type Sketch = CardinalityEstimator<[u8]>;

/// The most distinct values the sketch keeps one by one (its array
/// representation), so that its count is exact.
const EXACT_DISTINCT: u64 = 128;

/// The same hash for the same bytes in every run, so profiles are reproducible.
const HASHER: FixedState = FixedState::with_seed(0x0064_6570_6f74);

pub struct Column {
    name: String,
    missing: u64,
    present: u64,
    route: IntRoute,
    kinds: Kinds,
    numbers: Moments,
    /// Exact extremes of the integer tokens (floats lose digits past 2^53).
    integers: Option<(i128, i128)>,
    /// Earliest and latest date/time (microseconds), while every token is one.
    datetimes: Option<(i64, i64)>,
    distinct: Sketch,
    recent: [u64; RECENT_SLOTS],
}

/// pandas first reads a column as `int64`, token by token, and what stops that
/// read decides what it tries next — so the order of the tokens matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntRoute {
    /// Every token so far is an `int64`; `negative` once one was below zero.
    Int64 { negative: bool },
    /// An integer overflowed `int64` before any non-integer: pandas rereads the
    /// column as `uint64`, where a token starting with `-` only marks the column
    /// signed, and it ends as `object` if signed or with missing values.
    Uint64 { negative: bool },
    /// A token that is no integer came first: pandas tries float64, then bool,
    /// and leaves the column as text.
    NotInteger,
    /// An integer overflowed `uint64` as well: the column stays text.
    Text,
}

/// What every non-missing token so far could be read as.
#[derive(Debug, Clone, Copy)]
struct Kinds {
    all_float: bool,
    all_bool: bool,
    /// Every token is an ISO 8601 date/time…
    all_datetime: bool,
    /// …without, or with, a UTC offset.
    naive: bool,
    offset: bool,
}

/// Count, sums of the values and of their squares — both taken from the first
/// finite value, which keeps the variance accurate without a division per value —
/// min and max.
#[derive(Debug, Clone, Copy)]
struct Moments {
    count: u64,
    shift: Option<f64>,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Moments {
    fn add(&mut self, value: f64) {
        self.count += 1;
        let shift = match self.shift {
            Some(shift) => shift,
            None if value.is_finite() => *self.shift.insert(value),
            None => 0.0,
        };
        let shifted = value - shift;
        self.sum += shifted;
        self.sum_sq += shifted * shifted;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    fn mean(&self) -> f64 {
        self.shift.unwrap_or(0.0) + self.sum / self.count as f64
    }

    /// The sample standard deviation (ddof = 1, as pandas).
    #[allow(clippy::cast_precision_loss)]
    fn std(&self) -> Option<f64> {
        let n = self.count as f64;
        (self.count > 1).then(|| {
            ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0))
                .max(0.0)
                .sqrt()
        })
    }
}

/// Recently inserted hashes, so a column of few values does not feed the sketch
/// the same value again and again.
const RECENT_SLOTS: usize = 64;

impl Column {
    pub fn new(name: String) -> Self {
        Self {
            name,
            missing: 0,
            present: 0,
            route: IntRoute::Int64 { negative: false },
            kinds: Kinds {
                all_float: true,
                all_bool: true,
                all_datetime: true,
                naive: false,
                offset: false,
            },
            numbers: Moments {
                count: 0,
                shift: None,
                sum: 0.0,
                sum_sq: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
            recent: [0; RECENT_SLOTS],
            integers: None,
            datetimes: None,
            distinct: Sketch::new(),
        }
    }

    /// A row without this field (a short row): pandas fills it with NaN.
    pub fn missing(&mut self) {
        self.missing += 1;
    }

    /// `rows` rows without this field (a column that first appears late).
    #[cfg_attr(not(feature = "excel"), allow(dead_code))]
    pub fn missing_rows(&mut self, rows: u64) {
        self.missing += rows;
    }

    /// A CSV field: pandas' NA strings are missing values.
    #[inline]
    pub fn observe(&mut self, field: &[u8]) {
        if values::is_na(field) {
            self.missing += 1;
            return;
        }
        self.observe_present(field);
    }

    /// A value that is present whatever it spells (a JSON string or number).
    /// Inlined, so that a column already settled as text — the commonest
    /// kind — costs its caller no call.
    #[inline]
    pub fn observe_present(&mut self, field: &[u8]) {
        self.present += 1;
        if self.settled_as_text() {
            self.remember(HASHER.hash_one(field));
        } else {
            self.observe_token(field);
        }
    }

    /// A token of a column that may still end as a number, a boolean or a
    /// date/time.
    fn observe_token(&mut self, field: &[u8]) {
        if self.route == IntRoute::NotInteger && !self.kinds.all_float {
            // Numbers no longer matter: only a bool or date/time column is left.
            self.observe_non_number(field);
            return;
        }
        let number = values::parse_number(field);
        self.route = self.route.next(field, number);
        match number {
            Some(Number::Int(Int::Signed(value))) => self.integer(i128::from(value)),
            Some(Number::Int(Int::Unsigned(value))) => self.integer(i128::from(value)),
            Some(Number::Int(Int::TooBig)) => match values::parse_float(field) {
                Some(value) => self.number(value),
                None => self.remember(HASHER.hash_one(field)),
            },
            Some(Number::Float(value)) => self.number(value),
            None => self.observe_non_number(field),
        }
        if number.is_some() {
            self.kinds.all_bool = false;
            self.kinds.all_datetime = false;
        }
    }

    fn observe_non_number(&mut self, field: &[u8]) {
        self.kinds.all_float = false;
        let boolean = values::parse_bool(field);
        self.kinds.all_bool &= boolean.is_some();
        match boolean {
            Some(value) => self.remember(HASHER.hash_one([u8::from(value)])),
            None => self.remember(HASHER.hash_one(field)),
        }
        if self.kinds.all_datetime {
            match values::parse_datetime(field) {
                Some((micros, zone)) => {
                    match zone {
                        Zone::Naive => self.kinds.naive = true,
                        Zone::Offset => self.kinds.offset = true,
                    }
                    let (min, max) = self.datetimes.unwrap_or((micros, micros));
                    self.datetimes = Some((min.min(micros), max.max(micros)));
                }
                None => self.kinds.all_datetime = false,
            }
        }
    }

    fn integer(&mut self, value: i128) {
        let (min, max) = self.integers.unwrap_or((value, value));
        self.integers = Some((min.min(value), max.max(value)));
        #[allow(clippy::cast_precision_loss)] // the moments are floats
        self.number(value as f64);
    }

    /// A number joins the moments and the sketch (equal values hash alike
    /// whether written `1`, `01` or `1.0`).
    fn number(&mut self, value: f64) {
        self.numbers.add(value);
        let normalized = if value == 0.0 { 0.0 } else { value };
        self.remember(HASHER.hash_one(normalized.to_bits()));
    }

    /// A value for the distinct count; inlined, so that the common repeat
    /// costs a compare rather than a call.
    #[inline]
    fn remember(&mut self, hash: u64) {
        #[allow(clippy::cast_possible_truncation)] // the low bits pick the slot
        let slot = &mut self.recent[hash as usize % RECENT_SLOTS];
        if *slot != hash {
            *slot = hash;
            self.distinct.insert_hash(hash);
        }
    }

    /// Once a column can only end as `object`, its tokens need no more parsing.
    #[inline]
    fn settled_as_text(&self) -> bool {
        let kinds = self.kinds;
        match self.route {
            IntRoute::Text => true,
            IntRoute::NotInteger => !kinds.all_float && !kinds.all_bool && !kinds.all_datetime,
            IntRoute::Int64 { .. } | IntRoute::Uint64 { .. } => false,
        }
    }

    /// The dtype pandas would give the column after `rows` rows.
    fn dtype(&self, rows: u64) -> Dtype {
        let kinds = self.kinds;
        if rows == 0 {
            return Dtype::Object;
        }
        if self.present == 0 {
            return Dtype::Float64;
        }
        match self.route {
            IntRoute::Int64 { .. } if self.missing > 0 => Dtype::Float64,
            IntRoute::Int64 { .. } => Dtype::Int64,
            IntRoute::Uint64 { negative } if negative || self.missing > 0 => Dtype::Object,
            IntRoute::Uint64 { .. } => Dtype::Uint64,
            IntRoute::Text => Dtype::Object,
            IntRoute::NotInteger if kinds.all_float => Dtype::Float64,
            IntRoute::NotInteger if kinds.all_bool && self.missing == 0 => Dtype::Bool,
            IntRoute::NotInteger if kinds.all_datetime && !(kinds.naive && kinds.offset) => Dtype::Datetime,
            IntRoute::NotInteger => Dtype::Object,
        }
    }

    pub fn finish(self, rows: u64) -> ColumnProfile {
        let dtype = self.dtype(rows);
        let distinct = self.distinct.estimate() as u64;
        let mut profile = ColumnProfile {
            name: self.name,
            dtype: dtype.clone(),
            missing: Some(self.missing),
            distinct: Some(distinct),
            distinct_estimated: distinct > EXACT_DISTINCT,
            min: None,
            max: None,
            mean: None,
            std: None,
        };
        let moments = self.numbers;
        match dtype {
            Dtype::Int64 | Dtype::Uint64 | Dtype::Float64 if moments.count > 0 => {
                match (dtype, self.integers) {
                    (Dtype::Int64 | Dtype::Uint64, Some((min, max))) => {
                        profile.min = Some(integer(min));
                        profile.max = Some(integer(max));
                    }
                    _ => {
                        profile.min = Some(float(moments.min));
                        profile.max = Some(float(moments.max));
                    }
                }
                profile.mean = Some(moments.mean());
                profile.std = moments.std();
            }
            Dtype::Datetime => {
                if let Some((min, max)) = self.datetimes {
                    let zoned = !self.kinds.naive;
                    profile.min = Some(datetime(min, zoned).into());
                    profile.max = Some(datetime(max, zoned).into());
                }
            }
            _ => {}
        }
        profile
    }
}

pub(super) fn integer(value: i128) -> serde_json::Value {
    i64::try_from(value)
        .map(serde_json::Value::from)
        .or_else(|_| u64::try_from(value).map(serde_json::Value::from))
        .unwrap_or(serde_json::Value::Null)
}

/// JSON has no infinities: those extremes are shown as strings.
pub(super) fn float(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value).map_or_else(
        || serde_json::Value::from(value.to_string()),
        serde_json::Value::Number,
    )
}

/// RFC 3339 with `Z` for zoned values; naive ones without an offset.
pub(super) fn datetime(micros: i64, zoned: bool) -> String {
    let text = crate::domain::timestamp::to_rfc3339(micros);
    if zoned {
        text
    } else {
        text.trim_end_matches('Z').to_owned()
    }
}

impl IntRoute {
    /// Where pandas' integer read goes with one more token.
    fn next(self, field: &[u8], number: Option<Number>) -> Self {
        match (self, number) {
            (Self::Int64 { negative }, Some(Number::Int(Int::Signed(value)))) => Self::Int64 {
                negative: negative || value < 0,
            },
            // The reread as uint64 starts over: the int64 tokens before pass,
            // the negative ones marking the column signed.
            (Self::Int64 { negative }, Some(Number::Int(_))) => Self::Uint64 { negative }.next(field, number),
            (Self::Int64 { .. }, _) => Self::NotInteger,
            (Self::Uint64 { .. }, _) if values::starts_with_minus(field) => Self::Uint64 { negative: true },
            (Self::Uint64 { negative }, Some(Number::Int(Int::Signed(_) | Int::Unsigned(_)))) => {
                Self::Uint64 { negative }
            }
            (Self::Uint64 { .. }, Some(Number::Int(Int::TooBig))) => Self::Text,
            (Self::Uint64 { .. }, _) => Self::NotInteger,
            (settled, _) => settled,
        }
    }
}
