//! Byte counts for people: `1.5 MiB`, written and read.

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Binary units, one decimal above bytes: `0 B`, `999 B`, `1.5 KiB`, `10.0 GiB`.
pub fn human(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)] // a display value; one decimal is shown
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A byte count as people write it: `1048576`, `512 KiB`, `10GiB`, `1.5 TB`
/// (binary units `KiB`…`TiB`, decimal `KB`…`TB`, either case).
pub fn parse(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(not_a_size(text)),
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(scale)
            .ok_or_else(|| format!("{text:?} is too large"));
    }
    let value: f64 = number.parse().map_err(|_| not_a_size(text))?;
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    // whole bytes of a value people typed with a fraction
    let bytes = (value * scale as f64).round() as u64;
    Ok(bytes)
}

fn not_a_size(text: &str) -> String {
    format!("{text:?} is not a size such as 1048576 or 10GiB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_people_write_them() {
        assert_eq!(parse("1048576"), Ok(1_048_576));
        assert_eq!(parse("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse("10GiB"), Ok(10 << 30));
        assert_eq!(parse("1.5 gb"), Ok(1_500_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert!(parse("10 GiBs").is_err());
        assert!(parse("ten").is_err());
        assert!(parse("99999999999 TiB").is_err());
    }

    #[test]
    fn sizes_read_as_people_expect() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(10 * 1024 * 1024 * 1024), "10.0 GiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }
}
