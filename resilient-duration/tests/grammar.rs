//! The grammar against a reference reading of it: any string is a duration or an error saying
//! what is expected, and what `write` prints reads back as the same duration.

use proptest::prelude::*;
use resilient_duration::{EXPECTED, parse, write};
use std::time::Duration;

const UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Strings that came up as mistakes or edge cases, with the outcome each must have.
#[test]
fn the_corpus_reads_as_documented() {
    let nanos = |n: u64| Ok(Duration::from_nanos(n));
    let cases: &[(&str, Result<Duration, ()>)] = &[
        ("1h2m3s4ms", nanos(3_723_004_000_000)),
        ("0ns", nanos(0)),
        ("1ms1us1ns", nanos(1_001_001)),
        ("18446744073709551615ns", nanos(u64::MAX)),
        ("5124095h34m33s709ms551us615ns", nanos(u64::MAX)),
        ("1h30m15s250ms500us7ns", nanos(5_415_250_500_007)),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).map_err(|_| ()), *expected, "{text:?}");
    }
    for text in [
        "18446744073709551616ns",
        "5124095577h",
        "18446744073709551615h",
        "99999999999999999999h",
    ] {
        assert!(parse(text).unwrap_err().contains("too long"), "{text:?}");
    }
    for text in [
        "", " ", "30", "s", "30 s", " 30s", "30s ", "\t1s", "1.5s", "1,5s", "30sec", "30S", "1s1m",
        "1s1s", "1h1h", "-1s", "+1s", "1_000ms", "0x10s", "1µs", "１s", "1m30", "m30s", "1hms",
    ] {
        let err = parse(text).unwrap_err();
        assert!(
            err.contains(EXPECTED) || err.contains("largest first"),
            "{text:?}: {err}"
        );
    }
}

/// The grammar read independently: parts of digits and a unit, units strictly largest first,
/// each part at most `u64::MAX` nanoseconds.
fn reference(text: &str) -> Option<u128> {
    let mut rest = text;
    let mut total = 0u128;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let rank = UNITS.iter().position(|(u, _)| *u == &rest[..unit_len])?;
        if last_rank.is_some_and(|last| rank <= last) {
            return None;
        }
        last_rank = Some(rank);
        rest = &rest[unit_len..];
        let part = number.checked_mul(UNITS[rank].1)?;
        if part > u128::from(u64::MAX) {
            return None;
        }
        total += part;
    }
    (!text.is_empty()).then_some(total)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn any_string_reads_as_the_reference_does(text in "[0-9hmsnu., µ+-]{0,14}") {
        let expected = reference(&text);
        let parsed = parse(&text);
        prop_assert_eq!(parsed.as_ref().ok().map(Duration::as_nanos), expected, "{:?}", parsed);
    }

    #[test]
    fn well_formed_durations_read_as_their_sum(
        parts in proptest::collection::vec((0..100_000u64, 0..6usize), 1..5)
    ) {
        let text: String = parts.iter().map(|(n, u)| format!("{n}{}", UNITS[*u].0)).collect();
        let expected = reference(&text);
        prop_assert_eq!(parse(&text).ok().map(|d| d.as_nanos()), expected);
    }

    #[test]
    fn what_is_written_reads_back(nanos in any::<u64>()) {
        let d = Duration::from_nanos(nanos);
        prop_assert_eq!(parse(&write(d)), Ok(d));
    }
}
