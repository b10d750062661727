//! The duration grammar of `resilient`: `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`, `"100us"`.
//!
//! The attribute macros parse it at compile time and the runtime's registry at run time, so it
//! lives once, here, in a crate both depend on. Not for direct use: depend on `resilient`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

/// What a duration looks like, for error messages.
pub const EXPECTED: &str = "expected a duration like \"250ms\", \"30s\", \"5m\", \"1h\" or \"1m30s\" (units: h, m, s, ms, us, ns)";

/// Parses a duration: one or more `<whole number><unit>` parts, largest unit first.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.trim() != text || text.is_empty() {
        return Err(format!("`{text}` is not a duration: {EXPECTED}"));
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    let mut previous_unit: Option<&str> = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration: {EXPECTED}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too long a duration"))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(format!(
                "`{text}` is not a whole number of units: write \"1s500ms\" for one and a half seconds; {EXPECTED}"
            ));
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(rank) = UNITS.iter().position(|(name, _)| *name == unit) else {
            let shown = if unit.is_empty() {
                "no unit".to_owned()
            } else {
                format!("unit `{unit}`")
            };
            return Err(format!("`{text}` has {shown}: {EXPECTED}"));
        };
        if let Some(previous) = previous_unit {
            let previous_rank = UNITS
                .iter()
                .position(|(name, _)| *name == previous)
                .unwrap_or(0);
            if rank <= previous_rank {
                return Err(format!(
                    "`{text}`: write the units largest first, each once, like \"1m30s\""
                ));
            }
        }
        previous_unit = Some(UNITS[rank].0);
        let part = number
            .checked_mul(UNITS[rank].1)
            .map(Duration::from_nanos)
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    Ok(total)
}

/// `duration` as the attributes write durations, largest unit first (`"1m30s"`, `"1s500ms"`,
/// `"0s"`): what [`parse`] reads back as the same duration, so that what the registry shows can
/// be set again as it is.
pub fn write(duration: Duration) -> String {
    let mut rest = duration.as_nanos();
    if rest == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, nanos) in UNITS.map(|(unit, nanos)| (unit, u128::from(nanos))) {
        if rest >= nanos {
            text.push_str(&format!("{}{unit}", rest / nanos));
            rest %= nanos;
        }
    }
    text
}

/// Units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u64); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_the_attributes_write_them() {
        let written = |nanos: u64| write(Duration::from_nanos(nanos));
        assert_eq!(written(0), "0s");
        assert_eq!(written(1_500_000_000), "1s500ms");
        assert_eq!(written(90_000_000_000), "1m30s");
        assert_eq!(written(3_600_000_000_001), "1h1ns");
        assert_eq!(written(u64::MAX), "5124095h34m33s709ms551us615ns");
        for nanos in [0, 1, 999, 1_000_000_007, 86_400_000_000_000, u64::MAX] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(parse(&write(d)), Ok(d));
        }
    }

    #[test]
    fn every_documented_form_parses() {
        let ms = Duration::from_millis;
        assert_eq!(parse("250ms"), Ok(ms(250)));
        assert_eq!(parse("30s"), Ok(ms(30_000)));
        assert_eq!(parse("5m"), Ok(ms(300_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn mistakes_say_what_is_expected() {
        for bad in [
            "", "30", "s", "30 s", " 30s", "1.5s", "30sec", "30S", "1s1m", "1s1s", "-1s",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("\"1m30s\""), "{bad:?}: {err}");
        }
        assert!(
            parse("99999999999999999999h")
                .unwrap_err()
                .contains("too long")
        );
        assert!(
            parse("18446744073709551615h")
                .unwrap_err()
                .contains("too long")
        );
    }
}
