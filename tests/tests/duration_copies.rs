//! The duration grammar is written once, in `resilient/src/duration.rs`, and copied into the
//! macro crate, which can share no function with the runtime and must package on its own. Both
//! copies must read every string alike, as the attributes and the registry both take durations.

#[path = "../../resilient/src/duration.rs"]
#[allow(dead_code)]
mod runtime;

#[path = "../../resilient-macros/src/duration.rs"]
#[allow(dead_code)]
mod macros;

use proptest::prelude::*;

const CORPUS: &[&str] = &[
    "250ms",
    "30s",
    "5m",
    "1h",
    "1m30s",
    "100us",
    "1h2m3s4ms",
    "0s",
    "0ns",
    "1ms1us1ns",
    "18446744073709551615ns",
    "18446744073709551616ns",
    "5124095576h",
    "5124095577h",
    "18446744073709551615h",
    "99999999999999999999h",
    "",
    " ",
    "30",
    "s",
    "30 s",
    " 30s",
    "30s ",
    "\t1s",
    "1.5s",
    "1,5s",
    "30sec",
    "30S",
    "1s1m",
    "1s1s",
    "1h1h",
    "-1s",
    "+1s",
    "1_000ms",
    "0x10s",
    "1µs",
    "１s",
    "1m30",
    "m30s",
    "1hms",
    "1h30m15s250ms500us7ns",
];

#[test]
fn both_copies_read_the_corpus_alike() {
    for text in CORPUS {
        assert_eq!(runtime::parse(text), macros::parse(text), "{text:?}");
    }
    assert_eq!(runtime::EXPECTED, macros::EXPECTED);
}

proptest! {
    #[test]
    fn both_copies_read_any_string_alike(text in "[0-9hmsnu., µ+-]{0,14}") {
        prop_assert_eq!(runtime::parse(&text), macros::parse(&text));
    }

    #[test]
    fn both_copies_read_any_well_formed_duration_alike(
        parts in proptest::collection::vec((0..100_000u64, 0..6usize), 1..5)
    ) {
        let units = ["h", "m", "s", "ms", "us", "ns"];
        let text: String = parts.iter().map(|(n, u)| format!("{n}{}", units[*u])).collect();
        prop_assert_eq!(runtime::parse(&text), macros::parse(&text));
    }
}
