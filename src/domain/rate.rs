//! A rate limit as people write it: `60/min`, `3000/s`, `5/15min`, or `0`
//! for none.

use std::fmt;
use std::time::Duration;

/// `count` requests per `per`, taken in bursts of up to `count`: a token
/// bucket of `count` tokens that refills one every `per / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// No limit.
    pub const OFF: Self = Self {
        count: 0,
        per: Duration::ZERO,
    };

    pub const fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }

    pub fn is_off(self) -> bool {
        self.count == 0 || self.per.is_zero()
    }

    /// The time one token takes to come back.
    pub fn interval(self) -> Duration {
        self.per / self.count.max(1)
    }

    /// Reads `N/PERIOD` (`60/min`, `100/s`, `5/15min`, `1000/1h`) or `0`/`off`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(Self::OFF);
        }
        let bad = || format!("{text:?} is not a rate such as 60/min, 100/s or 5/15min (or 0 for none)");
        let (count, per) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = per.trim();
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            humantime::parse_duration(per)
        } else {
            humantime::parse_duration(&format!("1{per}"))
        }
        .map_err(|_| bad())?;
        if count == 0 || per.is_zero() {
            return Ok(Self::OFF);
        }
        Ok(Self { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("0");
        }
        write!(f, "{}/{}", self.count, humantime::format_duration(self.per))
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    /// A string (`"60/min"`), or the number 0 for none.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(0) => Ok(Self::OFF),
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "{n} is not a rate: write it as {n}/s, {n}/min, … (or 0 for none)"
            ))),
            Raw::Text(text) => Self::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_people_write_them() {
        assert_eq!(Rate::parse("60/min"), Ok(Rate::new(60, Duration::from_secs(60))));
        assert_eq!(Rate::parse("3000/s"), Ok(Rate::new(3000, Duration::from_secs(1))));
        assert_eq!(Rate::parse("5/15min"), Ok(Rate::new(5, Duration::from_secs(900))));
        assert_eq!(
            Rate::parse(" 10 / 1h "),
            Ok(Rate::new(10, Duration::from_secs(3600)))
        );
        assert_eq!(Rate::parse("0"), Ok(Rate::OFF));
        assert_eq!(Rate::parse("off"), Ok(Rate::OFF));
        assert!(Rate::parse("60").is_err());
        assert!(Rate::parse("many/min").is_err());
        assert!(Rate::parse("60/fortnight").is_err());
        assert_eq!(
            Rate::parse("5/15min").unwrap().interval(),
            Duration::from_secs(180)
        );
        assert_eq!(Rate::parse("5/15min").unwrap().to_string(), "5/15m");
        assert_eq!(
            Rate::parse(&Rate::parse("5/15min").unwrap().to_string()),
            Rate::parse("5/15min")
        );
    }
}
