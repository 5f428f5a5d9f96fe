//! How pandas' `read_csv` (C parser, default options) reads one field: missing,
//! integer, float, boolean or text — plus depot's ISO 8601 date/time rule.

/// One of pandas' default NA strings (`pandas.io.parsers` `STR_NA_VALUES`), matched exactly.
pub fn is_na(field: &[u8]) -> bool {
    matches!(
        field,
        b"" | b"#N/A"
            | b"#N/A N/A"
            | b"#NA"
            | b"-1.#IND"
            | b"-1.#QNAN"
            | b"-NaN"
            | b"-nan"
            | b"1.#IND"
            | b"1.#QNAN"
            | b"<NA>"
            | b"N/A"
            | b"NA"
            | b"NULL"
            | b"NaN"
            | b"None"
            | b"n/a"
            | b"nan"
            | b"null"
    )
}

/// A numeric token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(Int),
    Float(f64),
}

/// An integer or a float token, read in one pass: digits stay an integer, a
/// `.`, exponent or infinity makes a float.
pub fn parse_number(field: &[u8]) -> Option<Number> {
    let text = trim(field);
    let (negative, digits) = split_sign(text);
    match digits.first() {
        Some(b'0'..=b'9') => {}
        Some(b'.' | b'i' | b'I') => return parse_float(text).map(Number::Float),
        _ => return None,
    }
    // One pass for the common tokens: up to 19 digits cannot overflow a u64.
    let mut mantissa: u64 = 0;
    let mut len = 0;
    for &byte in digits.iter().take(19) {
        if !byte.is_ascii_digit() {
            break;
        }
        mantissa = mantissa * 10 + u64::from(byte - b'0');
        len += 1;
    }
    match digits.get(len) {
        None => Some(Number::Int(signed_int(negative, Some(mantissa)))),
        Some(b'0'..=b'9') => {
            let (integer, rest) =
                digits.split_at(digits.iter().take_while(|byte| byte.is_ascii_digit()).count());
            if rest.is_empty() {
                Some(Number::Int(signed_int(negative, checked_digits(integer))))
            } else {
                parse_float(text).map(Number::Float)
            }
        }
        // `123.45`, the common float, skips the general parser's checks.
        Some(b'.') => decimal(negative, &digits[..len], &digits[len + 1..])
            .or_else(|| parse_float(text))
            .map(Number::Float),
        Some(_) => parse_float(text).map(Number::Float),
    }
}

/// A sign, if any, and what follows it.
fn split_sign(text: &[u8]) -> (bool, &[u8]) {
    match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// The value of a run of digits, if it fits a u64.
fn checked_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0_u64, |value, byte| {
        value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

/// An integer of this sign and magnitude (`None`: beyond u64), sorted by the
/// range it fits.
fn signed_int(negative: bool, magnitude: Option<u64>) -> Int {
    let Some(magnitude) = magnitude else {
        return Int::TooBig;
    };
    match (negative, i64::try_from(magnitude)) {
        (false, Ok(value)) => Int::Signed(value),
        (false, Err(_)) => Int::Unsigned(magnitude),
        (true, Ok(value)) => Int::Signed(-value),
        (true, Err(_)) if magnitude == 1 << 63 => Int::Signed(i64::MIN),
        (true, Err(_)) => Int::TooBig,
    }
}

/// An integer token, by the range it fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int {
    /// Fits `int64`.
    Signed(i64),
    /// Above `int64`, fits `uint64`.
    Unsigned(u64),
    /// Digits that fit neither: pandas leaves such a column as text.
    TooBig,
}

/// The whitespace pandas' tokenizer skips around numbers.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn trim(field: &[u8]) -> &[u8] {
    match (field.first(), field.last()) {
        (Some(&first), Some(&last)) if !is_space(first) && !is_space(last) => return field,
        _ => {}
    }
    let start = field.iter().position(|&b| !is_space(b)).unwrap_or(field.len());
    let end = field.iter().rposition(|&b| !is_space(b)).map_or(start, |i| i + 1);
    &field[start..end]
}

/// An optionally signed run of decimal digits, with surrounding whitespace.
#[cfg(test)]
fn parse_int(field: &[u8]) -> Option<Int> {
    match parse_number(field) {
        Some(Number::Int(int)) => Some(int),
        _ => None,
    }
}

/// Whether the token, after leading whitespace, starts with `-`.
pub fn starts_with_minus(field: &[u8]) -> bool {
    trim(field).first() == Some(&b'-')
}

/// A decimal float (`1.5`, `.5`, `5.`, `1e-3`) or infinity, with surrounding
/// whitespace; not an integer token (callers try [`parse_number`] first).
pub fn parse_float(field: &[u8]) -> Option<f64> {
    let text = trim(field);
    let (negative, unsigned) = split_sign(text);
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if let Some(value) = plain_decimal(text) {
        return Some(value);
    }
    // Digits, a point, an exponent; a sign only first or right after the `e`
    // (so dates like `2024-01-02` never reach the general parser).
    let plausible = text.iter().any(u8::is_ascii_digit)
        && text.iter().enumerate().all(|(i, &b)| match b {
            b'0'..=b'9' | b'.' | b'e' | b'E' => true,
            b'+' | b'-' => i == 0 || matches!(text[i - 1], b'e' | b'E'),
            _ => false,
        });
    if !plausible {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse::<f64>().ok()
}

/// Powers of ten that f64 holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The common case, `-123.45`, without the general parser: at most 15 digits
/// make an exact integer, and dividing it by an exact power of ten rounds
/// correctly (Clinger's fast path). `None` sends anything else to the general
/// parser.
fn plain_decimal(text: &[u8]) -> Option<f64> {
    let (negative, body) = split_sign(text);
    let point = body.iter().position(|&byte| byte == b'.')?;
    decimal(negative, &body[..point], &body[point + 1..])
}

/// The value of `integer.fraction`, both runs of digits, on the fast path.
fn decimal(negative: bool, integer: &[u8], fraction: &[u8]) -> Option<f64> {
    let digit_count = integer.len() + fraction.len();
    if digit_count == 0 || digit_count > 15 {
        return None;
    }
    let mut mantissa: u64 = 0;
    for digits in [integer, fraction] {
        for &byte in digits {
            if !byte.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(byte - b'0');
        }
    }
    #[allow(clippy::cast_precision_loss)] // below 10^15: exact
    let value = mantissa as f64 / EXACT_POWERS_OF_TEN[fraction.len()];
    Some(if negative { -value } else { value })
}

/// `True`/`False` in any case, exactly (no surrounding whitespace).
pub fn parse_bool(field: &[u8]) -> Option<bool> {
    if field.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if field.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Whether an ISO 8601 value carried a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Naive,
    Offset,
}

/// An ISO 8601 date (`2024-03-01`) or date-time (`2024-03-01T10:00`,
/// `2024-03-01 10:00:00.5`, `…Z`, `…+01:00`) within `datetime64[ns]`'s range
/// (years 1677–2262), as microseconds since the epoch (naive values read as UTC).
pub fn parse_datetime(field: &[u8]) -> Option<(i64, Zone)> {
    let (date, rest) = field.split_at_checked(10)?;
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = digits(&date[..4])?;
    let month = digits(&date[5..7])?;
    let day = digits(&date[8..10])?;
    if !(1677..=2262).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
    {
        return None;
    }
    let (seconds, nanos, zone_text) = match rest.first() {
        None => (0, 0, &b""[..]),
        Some(b'T' | b't' | b' ') => parse_time(&rest[1..])?,
        Some(_) => return None,
    };
    let (offset, zone) = match zone_text {
        b"" => (0, Zone::Naive),
        b"Z" | b"z" => (0, Zone::Offset),
        text => (parse_offset(text)?, Zone::Offset),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + seconds - offset;
    Some((seconds * 1_000_000 + nanos / 1000, zone))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days in a common year before the first of each month.
const DAYS_BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/// Days since 1970-01-01 of a valid proleptic Gregorian date in years 1–9999.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let before = year - 1;
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)] // 0–9998: unsigned division is cheaper
    let leap_days = {
        let before = before as u64;
        (before / 4 - before / 100 + before / 400) as i64
    };
    let leap_day = i64::from(month > 2 && is_leap(year));
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)] // month is 1–12
    let month_days = DAYS_BEFORE_MONTH[(month - 1) as usize];
    // 719,162 days from 0001-01-01 to 1970-01-01.
    before * 365 + leap_days + month_days + leap_day + day - 1 - 719_162
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f…` (up to nine digits): seconds into the
/// day, nanoseconds, and what follows.
fn parse_time(text: &[u8]) -> Option<(i64, i64, &[u8])> {
    let hour = digits(text.get(..2)?)?;
    if text.get(2) != Some(&b':') {
        return None;
    }
    let minute = digits(text.get(3..5)?)?;
    let mut rest = &text[5..];
    let mut second = 0;
    let mut nanos = 0;
    if let Some(after) = rest.strip_prefix(b":") {
        second = digits(after.get(..2)?)?;
        rest = &after[2..];
        if let Some(after) = rest.strip_prefix(b".") {
            let count = after.iter().take_while(|byte| byte.is_ascii_digit()).count();
            if count == 0 || count > 9 {
                return None;
            }
            let fraction = digits(&after[..count])?;
            nanos = fraction * 10_i64.pow(9 - u32::try_from(count).ok()?);
            rest = &after[count..];
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((hour * 3600 + minute * 60 + second, nanos, rest))
}

/// `+HH:MM`, `+HHMM` or `+HH` (or `-`), in seconds east of UTC.
fn parse_offset(text: &[u8]) -> Option<i64> {
    let sign = match text.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &text[1..];
    let (hours, minutes) = match body.len() {
        2 => (body, &b"00"[..]),
        4 => (&body[..2], &body[2..]),
        5 if body[2] == b':' => (&body[..2], &body[3..]),
        _ => return None,
    };
    let (hours, minutes) = (digits(hours)?, digits(minutes)?);
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

/// A short run of ASCII digits as a number.
fn digits(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.iter().try_fold(0, |value, byte| {
        byte.is_ascii_digit().then(|| value * 10 + i64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_pandas_defaults_matched_exactly() {
        for na in [
            "", "NA", "N/A", "NULL", "null", "None", "<NA>", "nan", "NaN", "#N/A",
        ] {
            assert!(is_na(na.as_bytes()), "{na:?}");
        }
        for value in [" ", " NA", "na", "NONE", "0"] {
            assert!(!is_na(value.as_bytes()), "{value:?}");
        }
    }

    #[test]
    fn integers_are_sorted_by_range() {
        assert_eq!(parse_int(b" 007 "), Some(Int::Signed(7)));
        assert_eq!(parse_int(b"+1"), Some(Int::Signed(1)));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(Int::Signed(i64::MIN)));
        assert_eq!(parse_int(b"-9223372036854775809"), Some(Int::TooBig));
        assert_eq!(parse_int(b"18446744073709551615"), Some(Int::Unsigned(u64::MAX)));
        assert_eq!(parse_int(b"18446744073709551616"), Some(Int::TooBig));
        for not_int in ["", "-", "1.0", "1e3", "0x10", "1 000", "1_000"] {
            assert_eq!(parse_int(not_int.as_bytes()), None, "{not_int:?}");
        }
    }

    #[test]
    fn floats_take_pandas_spellings() {
        assert_eq!(parse_float(b".5"), Some(0.5));
        assert_eq!(parse_float(b"5."), Some(5.0));
        assert_eq!(parse_float(b" 1E+05"), Some(100_000.0));
        assert_eq!(parse_float(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"iNf"), Some(f64::INFINITY));
        // The fast path and the general parser agree.
        for text in [
            "0.1",
            "-123.45",
            "999999999999999.",
            "0.000000000000001",
            "1.2345678901234567",
        ] {
            assert_eq!(parse_float(text.as_bytes()), text.parse().ok(), "{text}");
        }
        for not_float in ["nAn", "1d5", "1. 5", "e5", ".", "1,5", "0x1p3"] {
            assert_eq!(parse_float(not_float.as_bytes()), None, "{not_float:?}");
        }
    }

    #[test]
    fn long_digit_runs_take_the_careful_path() {
        assert_eq!(parse_int(b"0000000000000000000000001"), Some(Int::Signed(1)));
        assert_eq!(
            parse_int(b"9999999999999999999"),
            Some(Int::Unsigned(9_999_999_999_999_999_999))
        );
        assert_eq!(parse_int(b"99999999999999999999"), Some(Int::TooBig));
        for text in [
            "1234567890123456.5",
            "0.1234567890123456789",
            "-1.25",
            "0000000000000000000012.5",
        ] {
            let expected: f64 = text.parse().unwrap();
            assert_eq!(
                parse_number(text.as_bytes()),
                Some(Number::Float(expected)),
                "{text}"
            );
        }
    }

    #[test]
    fn every_day_in_range_is_one_day_after_the_last() {
        let mut expected = days_from_civil(1677, 1, 1);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for year in 1677..=2262 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                    expected += 1;
                }
            }
        }
        assert!(parse_datetime(b"2024-02-29").is_some());
        for not_a_day in ["2023-02-29", "1900-02-29", "2024-04-31"] {
            assert_eq!(parse_datetime(not_a_day.as_bytes()), None, "{not_a_day}");
        }
        assert!(parse_datetime(b"2000-02-29").is_some());
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case_without_spaces() {
        assert_eq!(parse_bool(b"tRuE"), Some(true));
        assert_eq!(parse_bool(b"FALSE"), Some(false));
        assert_eq!(parse_bool(b" True"), None);
        assert_eq!(parse_bool(b"yes"), None);
    }

    #[test]
    fn iso_dates_and_times_parse_with_their_zone() {
        let day = parse_datetime(b"2024-03-01").unwrap();
        assert_eq!(day, (1_709_251_200_000_000, Zone::Naive));
        assert_eq!(
            parse_datetime(b"2024-03-01T10:00:00").unwrap().0,
            day.0 + 36_000_000_000
        );
        assert_eq!(
            parse_datetime(b"2024-03-01 10:00").unwrap().0,
            day.0 + 36_000_000_000
        );
        assert_eq!(parse_datetime(b"2024-03-01T10:00:00.5Z").unwrap().1, Zone::Offset);
        assert_eq!(
            parse_datetime(b"2024-03-01T11:00:00+01:00").unwrap(),
            (day.0 + 36_000_000_000, Zone::Offset)
        );
        for not_date in [
            "2024-02-30",
            "2024-13-01",
            "2024-3-01",
            "20240301",
            "2024-03-01T25:00",
            "2024-03-01X",
            "1500-01-01",
            "2024-03-01T10:00+1",
            " 2024-03-01",
        ] {
            assert_eq!(parse_datetime(not_date.as_bytes()), None, "{not_date:?}");
        }
    }
}
