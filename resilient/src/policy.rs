//! What the [`registry`](crate::registry) knows of a policy, defined below both: each kind of
//! policy implements [`Registered`] in its own module and lists itself in [`KINDS`], and the
//! registry works through the trait alone. A new kind plugs in without editing the registry, and
//! no policy module imports it (a policy registers itself through [`on_first_use`]).

use crate::BreakerState;
use crate::bulkhead::BulkheadMetrics;
use crate::fallback::FallbackMetrics;
use crate::hedge::HedgeMetrics;
use crate::rate_limit::RateLimiterMetrics;
use crate::retry::RetryMetrics;
use crate::timeout::TimeoutMetrics;
use crate::{BreakerMetrics, CircuitBreaker};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::time::Duration;

/// What a policy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PolicyKind {
    /// A [`CircuitBreaker`].
    CircuitBreaker,
    /// A [`RetryPolicy`](crate::RetryPolicy).
    Retry,
    /// A [`TimeoutPolicy`](crate::TimeoutPolicy).
    Timeout,
    /// A [`FallbackPolicy`](crate::FallbackPolicy).
    Fallback,
    /// A [`RateLimiter`](crate::RateLimiter).
    RateLimit,
    /// A [`Bulkhead`](crate::Bulkhead).
    Bulkhead,
    /// A [`HedgePolicy`](crate::HedgePolicy).
    Hedge,
}

impl PolicyKind {
    /// The kind as written in metric labels: `circuit_breaker`, `retry`, `timeout`, `fallback`,
    /// `rate_limit`, `bulkhead`, `hedge`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::CircuitBreaker => "circuit_breaker",
            PolicyKind::Retry => "retry",
            PolicyKind::Timeout => "timeout",
            PolicyKind::Fallback => "fallback",
            PolicyKind::RateLimit => "rate_limit",
            PolicyKind::Bulkhead => "bulkhead",
            PolicyKind::Hedge => "hedge",
        }
    }

    /// The keys it takes; the others are not its.
    pub(crate) fn keys(self) -> &'static [&'static str] {
        KINDS
            .iter()
            .find(|kind| kind.kind == self)
            .map_or(&[], |kind| kind.keys)
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The counters of a policy, by kind.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PolicyMetrics {
    /// [`CircuitBreaker::metrics`].
    CircuitBreaker(BreakerMetrics),
    /// [`RetryPolicy::metrics`](crate::RetryPolicy::metrics).
    Retry(RetryMetrics),
    /// [`TimeoutPolicy::metrics`](crate::TimeoutPolicy::metrics).
    Timeout(TimeoutMetrics),
    /// [`FallbackPolicy::metrics`](crate::FallbackPolicy::metrics).
    Fallback(FallbackMetrics),
    /// [`RateLimiter::metrics`](crate::RateLimiter::metrics).
    RateLimit(RateLimiterMetrics),
    /// [`Bulkhead::metrics`](crate::Bulkhead::metrics).
    Bulkhead(BulkheadMetrics),
    /// [`HedgePolicy::metrics`](crate::HedgePolicy::metrics).
    Hedge(HedgeMetrics),
}

/// A kind of policy: its keys, and how a value's form is checked before any policy of the kind
/// judges it (a value set for a name no policy has registered under yet).
pub(crate) struct Kind {
    pub(crate) kind: PolicyKind,
    pub(crate) keys: &'static [&'static str],
    pub(crate) check_form: fn(key: &str, value: &str) -> Result<(), String>,
}

/// A kind's keys as a `'static` slice: `$key`s, then, with the `redis` feature, the keys of its
/// shared backend: `batched` ([`crate::shared::BATCHED_KEYS`]) or `leased`
/// ([`crate::shared::LIMITER_KEYS`]).
macro_rules! kind_keys {
    ($($key:literal),+ ; shared: batched) => {
        kind_keys!(@ $($key),+ ; "redis_url", "redis_prefix", "on_redis_failure", "redis_batch")
    };
    ($($key:literal),+ ; shared: leased) => {
        kind_keys!(@ $($key),+ ; "redis_url", "redis_prefix", "on_redis_failure", "redis_lease")
    };
    (@ $($key:literal),+ ; $($shared:literal),+) => {
        if cfg!(feature = "redis") {
            &[$($key,)+ $($shared,)+]
        } else {
            &[$($key,)+]
        }
    };
}
pub(crate) use kind_keys;

/// Every kind: the keys of the environment and the file are judged against them.
pub(crate) const KINDS: [&Kind; 7] = [
    &crate::breaker::KIND,
    &crate::retry::KIND,
    &crate::timeout::KIND,
    &crate::fallback::KIND,
    &crate::rate_limit::KIND,
    &crate::bulkhead::KIND,
    &crate::hedge::KIND,
];

/// A value refused by a policy: the key it was for, and why.
#[derive(Debug)]
pub struct Refused {
    pub(crate) key: String,
    pub(crate) reason: String,
}

impl Refused {
    pub(crate) fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<crate::ConfigError> for Refused {
    fn from(e: crate::ConfigError) -> Self {
        Refused::new(e.key(), e.to_string())
    }
}

/// A policy as the registry sees it. Public in a private module: named by the sealed
/// [`Policy`](crate::registry::Policy) trait, out of reach outside the crate.
pub trait Registered: Sync + 'static {
    /// The name in events, metrics and configuration.
    fn name(&self) -> &'static str;
    fn kind(&self) -> PolicyKind;
    /// Whether it is in the registry yet.
    fn registration(&self) -> &Registration;
    /// The configuration in force, key by key, written as the keys are set.
    fn config(&self) -> BTreeMap<&'static str, String>;
    fn state(&self) -> Option<BreakerState> {
        None
    }
    fn metrics(&self) -> PolicyMetrics;
    /// Rebuilds its configuration from the code's and `values` (its own keys, weakest first) and
    /// puts it in force, or leaves the old one and says why.
    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused>;
    fn as_breaker(&'static self) -> Option<&'static CircuitBreaker> {
        None
    }
    /// The backend it shares its state through, if any.
    #[cfg(feature = "redis")]
    fn shared_backend(&self) -> Option<std::sync::Arc<crate::shared::Redis>> {
        None
    }
}

/// Whether a policy is in the registry yet: read on every call, set once.
pub struct Registration(AtomicBool);

impl Registration {
    pub(crate) const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Relaxed)
    }

    /// True for the one caller that gets to register the policy.
    pub(crate) fn claim(&self) -> bool {
        !self.0.swap(true, AcqRel)
    }
}

/// Registers `policy` the first time it is used; after that one load. What generated code calls.
#[inline]
pub(crate) fn on_first_use<P: Registered>(policy: &'static P) -> &'static P {
    if !policy.registration().is_done() {
        crate::registry::register_policy(policy);
    }
    policy
}

/// Why a key that none of `kinds` takes is refused, with the keys they do take.
pub(crate) fn not_a_key(kinds: &[PolicyKind]) -> String {
    let names: Vec<String> = kinds.iter().map(|kind| format!("a {kind}")).collect();
    let accepted: Vec<&str> = kinds.iter().flat_map(|kind| kind.keys()).copied().collect();
    let (its, accepted) = match accepted.is_empty() {
        true => ("it takes", "no key".to_owned()),
        false if kinds.len() == 1 => ("its keys are", accepted.join(", ")),
        false => ("their keys are", accepted.join(", ")),
    };
    format!("not a key of {}; {its} {accepted}", names.join(" or "))
}

/// A duration as the keys write it.
pub(crate) fn show(d: Duration) -> String {
    resilient_duration::write(d)
}

pub(crate) fn parse_count(value: &str) -> Result<u32, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a whole number from 0 to {}", u32::MAX))
}

pub(crate) fn parse_fraction(value: &str) -> Result<f64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a number like 0.5"))
}

pub(crate) fn parse_duration(value: &str) -> Result<Duration, String> {
    resilient_duration::parse(value.trim())
}

/// Applies `set` for each value in turn to `settings`, naming the key of the first it refuses.
pub(crate) fn set_each<S>(
    settings: &mut S,
    values: &[(&str, &str)],
    mut set: impl FnMut(&mut S, &str, &str) -> Result<(), String>,
) -> Result<(), Refused> {
    for (key, value) in values {
        set(settings, key, value).map_err(|reason| Refused::new(key, reason))?;
    }
    Ok(())
}
