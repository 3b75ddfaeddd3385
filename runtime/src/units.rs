//! Parsing of sizes (`64M`, `1G`, `512k`, `4096`) and durations (`500ms`, `5s`, `2m`, `1h`).
//!
//! Used by the directives (`WasmMemoryLimit`, `WasmOutputLimit`, `WasmTimeout`) through the C API
//! and by the CLI's manifest, so both accept exactly the same spellings.

use std::time::Duration;

/// Parses a byte size: a whole number with an optional unit `k`, `M`, `G`, `T` (powers of 1024,
/// case-insensitive, an optional trailing `B` or `iB`). A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "`{text}` is not a size (expected e.g. 64M, 1G, 4096)"
        ));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is too large"))?;
    let unit = unit.trim();
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}` (expected k, M, G or T)"
            ));
        }
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a duration: a whole number with a unit `ms`, `s`, `mi` (Apache's minutes; `m` and `min`
/// too) or `h`. A bare number is seconds. Every spelling of Apache's own `ap_timeout_parameter_parse`
/// (`Timeout`, `ProxyTimeout`) means the same here.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "`{text}` is not a duration (expected e.g. 500ms, 5s, 2mi)"
        ));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is too large"))?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "mi" | "m" | "min" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "`{text}` has an unknown unit `{other}` (expected ms, s, mi or h)"
            ));
        }
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size(" 2 G ").unwrap(), 2 << 30);
        for bad in [
            "",
            "M",
            "5iB",
            "5ib",
            "12Q",
            "-1",
            "1.5M",
            "99999999999999999999",
            "99999999999T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("2mi").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "5x", "1.5s", "-3s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
