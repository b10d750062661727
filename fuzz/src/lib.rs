//! What every target checks after feeding the registry: the policies keep a configuration they
//! accept, and what the registry shows, set again as it is, is accepted and changes nothing.

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

/// Registers the fuzzed policies (once).
pub fn register() {
    registry::register(&BREAKER);
    registry::register(&RATE);
    registry::register(&RETRY);
    registry::register(&TIMEOUT);
}

fn shown() -> Vec<PolicyInfo> {
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

/// The policies keep a configuration they accept, and what they show round-trips.
pub fn check() {
    assert_eq!(BREAKER.config().validate(), Ok(()));
    assert_eq!(RATE.config().validate(), Ok(()));
    assert_eq!(RETRY.validate(), Ok(()));
    assert!(TIMEOUT.limit().is_some_and(|limit| !limit.is_zero()));
    let before = configs();
    for info in shown() {
        for (key, value) in &info.config {
            if let Err(err) = registry::set(info.name, key, value) {
                panic!(
                    "`{}` shows `{key}` = `{value}` but refuses it: {err}",
                    info.name
                );
            }
        }
    }
    assert_eq!(configs(), before);
}
