//! Fuzz target: size and duration parsing (`WasmMemoryLimit 64M`, `WasmTimeout 500ms`, manifests).
//!
//! Two halves per input:
//! - arbitrary text: `parse_size`/`parse_duration` never panic, and agree with an independent
//!   model that parses in `u128` (so overflow is decided exactly, not by the code under test's own
//!   checked arithmetic); an accepted value re-rendered canonically (`{n}`, `{n}ms`) parses back;
//! - canonical spellings built from a fuzzer-chosen number, unit, case and spacing: accepted
//!   exactly when the value fits in 64 bits, and then equal to number × unit.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../../runtime/src/units.rs"]
mod units;

use units::{parse_duration, parse_size};

/// Splits `text` (trimmed) into its leading ASCII digits and the trimmed rest, as both parsers do.
fn split(text: &str) -> (&str, &str) {
    let s = text.trim();
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

/// The digits' value, saturating far above u64::MAX (u128 holds any 38-digit number).
fn value(digits: &str) -> u128 {
    digits.bytes().fold(0u128, |acc, d| {
        acc.saturating_mul(10).saturating_add(u128::from(d - b'0'))
    })
}

fn model_size(text: &str) -> Option<u64> {
    let (digits, unit) = split(text);
    if digits.is_empty() {
        return None;
    }
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    u64::try_from(value(digits).saturating_mul(multiplier)).ok()
}

fn model_duration_ms(text: &str) -> Option<u64> {
    let (digits, unit) = split(text);
    if digits.is_empty() {
        return None;
    }
    let multiplier: u128 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "mi" | "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    u64::try_from(value(digits).saturating_mul(multiplier)).ok()
}

fn check_text(text: &str) {
    let size = parse_size(text);
    assert_eq!(
        size.as_ref().ok().copied(),
        model_size(text),
        "parse_size({text:?}) = {size:?}"
    );
    if let Ok(n) = size {
        assert_eq!(parse_size(&n.to_string()), Ok(n));
        assert_eq!(parse_size(&format!("{n}B")), Ok(n));
    } else if let Err(msg) = &size {
        assert!(!msg.is_empty());
    }

    let duration = parse_duration(text);
    let model = model_duration_ms(text).map(Duration::from_millis);
    assert_eq!(
        duration.as_ref().ok().copied(),
        model,
        "parse_duration({text:?}) = {duration:?}"
    );
    if let Ok(d) = duration {
        let ms = u64::try_from(d.as_millis()).expect("a parsed duration fits in u64 ms");
        assert_eq!(parse_duration(&format!("{ms}ms")), Ok(d));
        if ms % 1000 == 0 {
            assert_eq!(parse_duration(&(ms / 1000).to_string()), Ok(d));
        }
    }
}

const SIZE_UNITS: &[(&str, u32)] = &[
    ("", 0),
    ("b", 0),
    ("k", 10),
    ("kb", 10),
    ("kib", 10),
    ("m", 20),
    ("mb", 20),
    ("mib", 20),
    ("g", 30),
    ("gb", 30),
    ("gib", 30),
    ("t", 40),
    ("tb", 40),
    ("tib", 40),
];
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("", 1000),
    ("s", 1000),
    ("m", 60_000),
    ("min", 60_000),
    ("mi", 60_000),
    ("h", 3_600_000),
];

fn spacing(u: &mut Unstructured) -> Result<&'static str> {
    u.choose(&["", "", " ", "\t", "  "]).copied()
}

fn check_built(u: &mut Unstructured) -> Result<()> {
    // Numbers near the overflow edge matter most: pick a magnitude, then a value in it.
    let bits = u.int_in_range(0..=64)?;
    let n: u64 = if bits == 0 {
        0
    } else {
        u.int_in_range((1u64 << (bits - 1))..=(u64::MAX >> (64 - bits)))?
    };
    let zeros = "0".repeat(u.int_in_range(0..=3)?);

    let &(unit, shift) = u.choose(SIZE_UNITS)?;
    let unit: String = unit
        .chars()
        .map(|c| {
            if u.arbitrary().unwrap_or(false) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let text = format!(
        "{}{zeros}{n}{}{unit}{}",
        spacing(u)?,
        spacing(u)?,
        spacing(u)?
    );
    let expected = n.checked_mul(1u64 << shift);
    assert_eq!(parse_size(&text).ok(), expected, "parse_size({text:?})");

    let &(unit, ms) = u.choose(DURATION_UNITS)?;
    let text = format!(
        "{}{zeros}{n}{}{unit}{}",
        spacing(u)?,
        spacing(u)?,
        spacing(u)?
    );
    let expected = n.checked_mul(ms).map(Duration::from_millis);
    assert_eq!(
        parse_duration(&text).ok(),
        expected,
        "parse_duration({text:?})"
    );
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
    check_text(&String::from_utf8_lossy(data));
    let _ = check_built(&mut Unstructured::new(data));
});
