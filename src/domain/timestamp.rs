//! Timestamps are stored as i64 microseconds since the Unix epoch (portable across
//! SQLite and PostgreSQL) and shown as RFC 3339.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now_micros() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

pub fn to_rfc3339(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Now, as RFC 3339.
pub fn rfc3339_now() -> String {
    to_rfc3339(now_micros())
}

/// The moment `lifetime` after `micros`, if it is one a timestamp can hold.
pub fn after(micros: i64, lifetime: std::time::Duration) -> Option<i64> {
    micros.checked_add(i64::try_from(lifetime.as_micros()).ok()?)
}

/// Parses an RFC 3339 timestamp (`2026-01-31T12:00:00Z`) into microseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_past_what_a_timestamp_holds_has_no_end() {
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(after(1_000_000, day), Some(86_400_000_000 + 1_000_000));
        assert_eq!(after(i64::MAX - 10, day), None);
        assert_eq!(after(0, std::time::Duration::MAX), None);
    }

    #[test]
    fn rfc3339_round_trips_at_microsecond_precision() {
        let micros = 1_767_225_600_123_456;
        assert_eq!(parse_rfc3339(&to_rfc3339(micros)), Some(micros));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Some(1_767_225_600_000_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
