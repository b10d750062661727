//! Configuration values from every source, generated: from code ([`registry::set`]), the
//! environment and TOML files. None may panic; a refusal is an error value naming the key and
//! the value; a policy keeps a valid configuration; and what the registry shows as a policy's
//! configuration, set again as it is, changes nothing. The same properties are fuzzed without
//! bounds by the targets in `fuzz/` (`cargo +nightly fuzz run config_file`).

mod common;
mod config_oracle;

use common::temp_dir;
use config_oracle::{NAMES, assert_round_trip, assert_valid, configs, shown_as_toml, toml_string};
use proptest::prelude::*;
use resilient::registry;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The registry, its file and the environment are the process's: the tests take turns.
static TURNS: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    let turn = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
    config_oracle::register();
    turn
}

const KEYS: [&str; 14] = [
    "failure_threshold",
    "recovery_timeout",
    "half_open_calls",
    "success_threshold",
    "failure_rate",
    "minimum_calls",
    "slow_call",
    "slow_call_rate",
    "max_attempts",
    "backoff",
    "jitter",
    "factor",
    "budget",
    "timeout",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(&KEYS[..]).prop_map(str::to_owned),
        1 => "[a-z_]{0,12}",
    ]
}

fn duration() -> impl Strategy<Value = String> {
    let part = (
        0..100_000u64,
        proptest::sample::select(&["h", "m", "s", "ms", "us", "ns"][..]),
    );
    proptest::collection::vec(part, 1..4)
        .prop_map(|parts| parts.iter().map(|(n, unit)| format!("{n}{unit}")).collect())
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        duration(),
        (0..12u32).prop_map(|n| n.to_string()),
        (-0.5..2.5f64).prop_map(|x| x.to_string()),
        (
            proptest::sample::select(&["constant", "exponential", "linear", "decorrelated"][..]),
            proptest::collection::vec(duration(), 1..3)
        )
            .prop_map(|(kind, args)| format!("{kind}({})", args.join(", "))),
        Just("none".to_owned()),
        "\\PC{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_value_set_from_code_is_refused_or_round_trips(
        policy in proptest::sample::select(&NAMES[..]),
        key in key(),
        value in value(),
    ) {
        let _turn = alone();
        let before = configs();
        match registry::set(policy, &key, &value) {
            Ok(()) => assert_round_trip(),
            Err(err) => {
                prop_assert_eq!((err.key(), err.value()), (key.as_str(), value.as_str()));
                let expected_start = format!("policy `{policy}`: cannot set `{key}` to `{value}`: ");
                prop_assert!(err.to_string().starts_with(&expected_start), "{}", err);
                prop_assert_eq!(configs(), before);
            }
        }
        assert_valid();
    }

    #[test]
    fn any_environment_value_is_refused_or_round_trips(
        policy in proptest::sample::select(&["FUZZ", "FUZZ_RATE", "FUZZ_", "", "fuzz"][..]),
        key in key(),
        value in value(),
    ) {
        let _turn = alone();
        let variable = format!("RESILIENT_{policy}__{}", key.to_uppercase());
        // SAFETY: the tests of this binary that touch the environment take turns.
        unsafe { std::env::set_var(&variable, &value) };
        let outcome = registry::reload();
        unsafe { std::env::remove_var(&variable) };
        if let Err(errors) = outcome {
            prop_assert!(errors.iter().all(|e| !e.to_string().is_empty()));
        }
        assert_valid();
        assert_round_trip();
        // Forget the variable again.
        let _ = registry::reload();
    }

    #[test]
    fn any_toml_file_is_refused_or_round_trips(
        tables in proptest::collection::vec(
            (
                proptest::sample::select(&NAMES[..]),
                proptest::collection::vec((key(), value(), 0..4u8), 0..5),
            ),
            0..3,
        ),
        raw in prop_oneof![4 => Just(String::new()), 1 => "\\PC{0,40}"],
    ) {
        let _turn = alone();
        let mut text = raw;
        for (name, values) in &tables {
            text.push_str(&format!("\n[\"{name}\"]\n"));
            for (key, value, form) in values {
                let value = match form {
                    // The same value as TOML's other types, where it is one.
                    0 => value.parse::<i64>().map_or_else(|_| toml_string(value), |n| n.to_string()),
                    1 => value.parse::<f64>().ok().filter(|x| x.is_finite()).map_or_else(|| toml_string(value), |x| format!("{x:?}")),
                    2 => "true".to_owned(),
                    _ => toml_string(value),
                };
                text.push_str(&format!("{} = {value}\n", toml_string(key)));
            }
        }
        let dir = temp_dir("fuzz-config-file");
        let file = dir.join("resilient.toml");
        std::fs::write(&file, &text).unwrap();
        let before = configs();
        match registry::load_file(&file) {
            Ok(()) => {}
            Err(errors) if errors.iter().any(|e| e.key() == "file") => {
                // Not TOML, or not a table per policy: nothing changes.
                prop_assert_eq!(configs(), before);
            }
            Err(errors) => prop_assert!(errors.iter().all(|e| !e.to_string().is_empty())),
        }
        assert_valid();
        // What the file left in force, written as a file and read back, changes nothing.
        let shown_now = configs();
        let again = shown_as_toml();
        std::fs::write(&file, again).unwrap();
        // The shown keys of the breaker and retry of one name share a table; each takes its own.
        let errors = registry::load_file(&file).err().unwrap_or_default();
        prop_assert!(errors.is_empty(), "{:?}", errors);
        prop_assert_eq!(configs(), shown_now);
        // Leave no file values behind for the next case.
        std::fs::write(&file, "").unwrap();
        let _ = registry::load_file(&file);
        let _ = std::fs::remove_dir_all(dir);
    }
}
