//! The oracle of configuration values, shared by the `fuzz_config` property test and the config
//! fuzz targets (`fuzz/`): the fuzzed policies, and what must hold after any value from any
//! source: they keep a configuration they accept, and what the registry shows, set again as it
//! is, is accepted and changes nothing.

// Public for the fuzz crate, which includes this file as a private module and re-exports it.
#![allow(unreachable_pub)]

use resilient::registry::{self, PolicyInfo};
use resilient::{BreakerConfig, CircuitBreaker, RetryPolicy, TimeoutPolicy};
use std::collections::BTreeMap;
use std::time::Duration;

static BREAKER: CircuitBreaker = CircuitBreaker::new("fuzz", BreakerConfig::new());
static RATE: CircuitBreaker = CircuitBreaker::new(
    "fuzz.rate",
    BreakerConfig::new().failure_rate(0.5).window(20),
);
static RETRY: RetryPolicy = RetryPolicy::new().name("fuzz");
static TIMEOUT: TimeoutPolicy = TimeoutPolicy::new("fuzz", Duration::from_secs(1));

/// The names of the fuzzed policies: a breaker, a retry and a timeout share the first.
pub const NAMES: [&str; 2] = ["fuzz", "fuzz.rate"];

/// Registers the fuzzed policies (registering again does nothing).
pub fn register() {
    registry::register(&BREAKER);
    registry::register(&RATE);
    registry::register(&RETRY);
    registry::register(&TIMEOUT);
}

/// Every registered policy of the fuzzed names, as the registry shows it.
pub fn shown() -> Vec<PolicyInfo> {
    let mut infos: Vec<PolicyInfo> = registry::policies()
        .into_iter()
        .filter(|p| NAMES.contains(&p.name))
        .collect();
    infos.sort_by_key(|p| (p.name, p.kind));
    infos
}

/// Each fuzzed policy's configuration as the registry shows it.
pub fn configs() -> Vec<BTreeMap<&'static str, String>> {
    shown().into_iter().map(|p| p.config).collect()
}

/// The policies keep a configuration they accept.
pub fn assert_valid() {
    assert_eq!(BREAKER.config().validate(), Ok(()));
    assert_eq!(RATE.config().validate(), Ok(()));
    assert_eq!(RETRY.validate(), Ok(()));
    assert!(TIMEOUT.limit().is_some_and(|limit| !limit.is_zero()));
}

/// Sets every shown value again from code: nothing may change.
pub fn assert_round_trip() {
    let before = configs();
    for info in shown() {
        for (key, value) in &info.config {
            if let Err(err) = registry::set(info.name, key, value) {
                panic!(
                    "{} `{}` shows `{key}` = `{value}` but refuses it: {err}",
                    info.kind, info.name
                );
            }
        }
    }
    assert_eq!(configs(), before);
}

/// The configurations in force as a TOML file, a table per name: the breaker and the retry of
/// one name share a table, and each takes its own keys from it.
pub fn shown_as_toml() -> String {
    let mut tables: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for info in shown() {
        tables.entry(info.name).or_default().extend(info.config);
    }
    let mut text = String::new();
    for (name, config) in tables {
        text.push_str(&format!("[{}]\n", toml_string(name)));
        for (key, value) in config {
            text.push_str(&format!("{key} = {}\n", toml_string(&value)));
        }
    }
    text
}

/// `text` as a TOML basic string.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
