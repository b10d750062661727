//! Every named policy in one place: what it is, how it is configured, its state and its metrics;
//! and its configuration changed at run time, from the environment, a TOML file or code.
//!
//! Policies the attributes build register themselves on first use. A policy of your own, in a
//! `static`, joins with [`register`]. A name labels policies, it does not identify one: the
//! breaker, retry and timeout of one function share its name, and each kind takes its own keys.
//!
//! ```
//! use resilient::registry::{self, PolicyKind};
//! use resilient::{BreakerConfig, CircuitBreaker};
//!
//! static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerConfig::new());
//! registry::register(&PAYMENTS);
//!
//! registry::set("payments", "failure_threshold", "10").unwrap();
//! assert_eq!(*PAYMENTS.config(), BreakerConfig::new().failure_threshold(10));
//!
//! let err = registry::set("payments", "recovery_timeout", "soon").unwrap_err();
//! assert_eq!(err.to_string(), "policy `payments`: cannot set `recovery_timeout` to `soon`: \
//!     `soon` is not a duration: expected a duration like \"250ms\", \"30s\", \"5m\", \"1h\" or \
//!     \"1m30s\" (units: h, m, s, ms, us, ns)");
//!
//! let payments = registry::policies().into_iter().find(|p| p.name == "payments").unwrap();
//! assert_eq!(payments.kind, PolicyKind::CircuitBreaker);
//! assert_eq!(payments.config["failure_threshold"], "10");
//! ```
//!
//! # Keys
//!
//! The keys are the attributes' own, values written as in the attributes:
//!
//! | kind | keys |
//! | --- | --- |
//! | circuit breaker | `failure_threshold`, `recovery_timeout`, `half_open_calls`, `success_threshold`, `failure_rate`, `minimum_calls`, `slow_call`, `slow_call_rate` |
//! | retry | `max_attempts`, `backoff` (`none`, `constant(1s)`, `exponential(100ms, 5s)`, `linear(1s, 10s)`, `decorrelated(100ms, 5s)`), `jitter`, `factor`, `budget` |
//! | timeout | `timeout` |
//! | rate limit | `rate`, `per`, `burst`, `max_wait` |
//! | bulkhead | `max_concurrent`, `max_wait` |
//! | hedge | `delay`, `max_hedges` |
//!
//! A `backoff` value replaces the backoff with its constructor's defaults, then `jitter` and
//! `factor` refine it, from whichever source each comes. `factor` applies to an exponential
//! backoff only, `jitter` to every kind but `decorrelated` and `none`. A key that none of the
//! registered policies of a name takes (`jitter` for a breaker) is refused, from code by [`set`],
//! from the environment and the file by [`load_file`] and [`reload`]; the other values apply.
//!
//! A breaker's mode (`failure_threshold` or `failure_rate`) and `window` are fixed when it is
//! built. A value is checked as the attribute checks it; a bad one is refused with the policy,
//! the key and the value, and the policy keeps the configuration it had.
//!
//! # Sources and precedence
//!
//! Each key of each policy takes the first value found in, from strongest to weakest:
//!
//! 1. [`set`] from code;
//! 2. the environment: `RESILIENT_<POLICY>__<KEY>=<value>`, where `<POLICY>` is the policy's name
//!    in capitals with every run of other characters than letters and digits made one `_`
//!    (`my_app::api::fetch` is `MY_APP_API_FETCH`), and `<KEY>` is the key in capitals:
//!    `RESILIENT_MY_APP_API_FETCH__MAX_ATTEMPTS=5`;
//! 3. the TOML file given by [`load_file`], or by `RESILIENT_CONFIG=<path>` in the environment,
//!    with a table per policy:
//!
//!    ```toml
//!    ["my_app::api::fetch"]
//!    failure_threshold = 5
//!    recovery_timeout = "10s"
//!    max_attempts = 4
//!    timeout = "2s"
//!    ```
//! 4. the code: the attribute or the constructor.
//!
//! The environment is read when the first policy registers and again by [`reload`], which also
//! reads the file again. A value for a policy that has not registered yet waits for it.
//!
//! For each key only the strongest value counts. When the values from the environment and the
//! file are refused for a policy, the policy keeps what it had, the refusal is returned (and
//! logged as `config.refused`), and those values are forgotten: they refuse no later change.
//! What [`policies`] shows as a policy's configuration can be set again as it is.

use crate::config::ConfigError;
use crate::monitor::{AlertLevel, AlertThresholds, ErrorRateMonitor};
use crate::policy::{KINDS, Registered, not_a_key};
pub use crate::policy::{PolicyKind, PolicyMetrics};
use crate::{BreakerState, CircuitBreaker};
#[cfg(doc)]
use crate::{Bulkhead, FallbackPolicy, HedgePolicy, RateLimiter, RetryPolicy, TimeoutPolicy};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing::Level;

/// One registered policy, as [`policies`] saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PolicyInfo {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub kind: PolicyKind,
    /// The configuration in force, key by key, written as the keys are set: each value can be
    /// [`set`] again as it is.
    pub config: BTreeMap<&'static str, String>,
    /// A breaker's state.
    pub state: Option<BreakerState>,
    /// Its counters.
    pub metrics: PolicyMetrics,
    /// Its error-rate alert level, as of the last [`sample`] (a fallback has none).
    pub alert: Option<AlertLevel>,
    /// Its failures per minute by kind over the last minute, from the samples of it taken by
    /// [`sample`] (so by [`watch`]) and by each call of `policies()`; zero at the first.
    pub errors_per_minute: ErrorsPerMinute,
}

/// A policy type that can be registered: [`CircuitBreaker`], [`RetryPolicy`], [`TimeoutPolicy`],
/// [`FallbackPolicy`], [`RateLimiter`], [`Bulkhead`] and [`HedgePolicy`].
pub trait Policy: sealed::Sealed + Sync + 'static {}

impl<P: Registered> Policy for P {}

/// What makes a type a [`Policy`]: public to name in the trait, out of reach outside the crate.
pub(crate) mod sealed {
    use crate::policy::Registered;

    pub trait Sealed {
        fn entry(&'static self) -> &'static dyn Registered;
    }

    impl<P: Registered> Sealed for P {
        fn entry(&'static self) -> &'static dyn Registered {
            self
        }
    }
}

/// A registered policy, whatever its kind.
type Entry = &'static dyn Registered;

/// What [`policies`] shows of a registered policy.
fn info(member: &Member) -> PolicyInfo {
    let (entry, metrics) = (member.entry, member.entry.metrics());
    PolicyInfo {
        name: entry.name(),
        kind: entry.kind(),
        config: entry.config(),
        state: entry.state(),
        alert: member.monitor.map(ErrorRateMonitor::level),
        errors_per_minute: member.observe_errors(&metrics),
        metrics,
    }
}

/// Rebuilds `entry`'s configuration from the code's and `values` (weakest first) and puts it in
/// force, or leaves the old one and says why, naming the value refused.
fn apply(entry: Entry, values: &[(&str, &str)]) -> Result<(), SettingError> {
    entry.apply(values).map_err(|refused| {
        let value = values
            .iter()
            .rev()
            .find(|(k, _)| *k == refused.key)
            .map_or("", |(_, v)| v);
        SettingError::new(entry.name(), &refused.key, value, refused.reason)
    })
}

fn keys(kind: PolicyKind) -> &'static [&'static str] {
    kind.keys()
}

fn known_key(key: &str) -> bool {
    KINDS.iter().any(|kind| kind.keys.contains(&key))
}

fn all_keys() -> String {
    let all: Vec<_> = KINDS.iter().flat_map(|kind| kind.keys).copied().collect();
    all.join(", ")
}

/// A value refused: which policy, which key, what value, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    policy: String,
    key: String,
    value: String,
    reason: String,
}

impl SettingError {
    fn new(policy: &str, key: &str, value: &str, reason: String) -> Self {
        Self {
            policy: policy.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        }
    }

    /// The policy the value was for.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value refused.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy `{}`: cannot set `{}` to `{}`: {}",
            self.policy, self.key, self.value, self.reason
        )
    }
}

impl std::error::Error for SettingError {}

/// Where a value came from, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    File,
    Environment,
    Code,
}

/// One value from one source: for a policy named exactly (file, code), or by its name in an
/// environment variable.
#[derive(Clone, Debug)]
struct Value {
    source: Source,
    policy: String,
    key: String,
    value: String,
}

impl Value {
    fn is_for(&self, name: &str) -> bool {
        match self.source {
            Source::Environment => env_name(name) == self.policy,
            _ => self.policy == name,
        }
    }
}

/// A policy name as an environment variable writes it: capitals, every run of other characters
/// than letters and digits one `_`.
fn env_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// A registered policy and the monitor of its error rate.
#[derive(Clone, Copy)]
struct Member {
    entry: Entry,
    /// Leaked like the policy, which is `'static` and stays registered.
    monitor: Option<&'static ErrorRateMonitor>,
    errors: &'static Mutex<ErrorHistory>,
}

impl Member {
    /// Samples the failures by kind in `metrics` (the policy's, now) and returns their rates.
    fn observe_errors(&self, metrics: &PolicyMetrics) -> ErrorsPerMinute {
        let mut history = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        history.observe(tokio::time::Instant::now(), metrics.failures_by_kind())
    }
}

struct Registry {
    policies: Vec<Member>,
    /// Every value from every source, in the order of precedence once sorted by source.
    values: Vec<Value>,
    /// The file [`load_file`] read (or `RESILIENT_CONFIG` named), read again by [`reload`].
    file: Option<PathBuf>,
    started: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    policies: Vec::new(),
    values: Vec::new(),
    file: None,
    started: false,
});

/// The registry; a panic elsewhere while it was held leaves nothing half-done in it.
///
/// Events are emitted only once it is released, so that a subscriber may read the registry.
fn registry() -> MutexGuard<'static, Registry> {
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if !registry.started {
        registry.started = true;
        // Nobody to return them to: the errors are logged, and the values stay the code's.
        let errors = registry.read_sources();
        if !errors.is_empty() {
            drop(registry);
            errors.iter().for_each(refused);
            registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        }
    }
    registry
}

impl Registry {
    /// The values for `name` of `kind`: for each key the strongest only (a weaker source's value,
    /// good or bad, is of no account once a stronger one sets the key), weakest first.
    fn values_for(&self, name: &str, kind: PolicyKind) -> Vec<(&str, &str)> {
        let mut values: Vec<&Value> = self
            .values
            .iter()
            .filter(|v| v.is_for(name) && keys(kind).contains(&v.key.as_str()))
            .collect();
        values.sort_by_key(|v| v.source);
        let strongest = |i: usize, v: &Value| values[i + 1..].iter().all(|w| w.key != v.key);
        (values.iter().enumerate())
            .filter(|(i, v)| strongest(*i, v))
            .map(|(_, v)| (v.key.as_str(), v.value.as_str()))
            .collect()
    }

    /// Forgets the values that no policy of their name takes: reported once, they stay out of
    /// the way of a later check.
    fn forget_inapplicable(&mut self, refused: &[SettingError]) {
        self.values.retain(|v| {
            !refused
                .iter()
                .any(|e| v.is_for(e.policy()) && v.key == e.key() && v.value == e.value())
        });
    }

    fn apply(&self, entry: Entry) -> Result<(), SettingError> {
        apply(entry, &self.values_for(entry.name(), entry.kind()))
    }

    /// Puts every registered policy's configuration in force; the errors of those that keep
    /// their previous one, whose values from the environment and the file are forgotten.
    fn apply_all(&mut self) -> Vec<SettingError> {
        let mut errors = Vec::new();
        for entry in self.policies.iter().map(|p| p.entry).collect::<Vec<_>>() {
            if let Err(error) = self.apply(entry) {
                self.forget_values_of(entry, |source| source != Source::Code);
                errors.push(error);
            }
        }
        errors
    }

    /// Forgets the values for `entry` from the sources `forget` names: refused together (the
    /// policy keeps what it had, and a refusal may name another of its keys than the value at
    /// fault), they would otherwise refuse every later change of it.
    fn forget_values_of(&mut self, entry: Entry, forget: impl Fn(Source) -> bool) {
        let (name, kind) = (entry.name(), entry.kind());
        self.values.retain(|v| {
            !(forget(v.source) && v.is_for(name) && keys(kind).contains(&v.key.as_str()))
        });
    }

    /// Reads the environment and the file again; the values of a source that cannot be read
    /// stay as they were.
    fn read_sources(&mut self) -> Vec<SettingError> {
        let mut errors = Vec::new();
        let environment: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| name.starts_with("RESILIENT_"))
            .collect();
        if let Some((_, path)) = environment.iter().find(|(n, _)| n == "RESILIENT_CONFIG") {
            self.file = Some(PathBuf::from(path));
        }
        let from_env = environment
            .iter()
            .filter(|(name, _)| name != "RESILIENT_CONFIG")
            .filter_map(|(name, value)| match env_value(name, value) {
                Ok(value) => Some(value),
                Err(error) => {
                    errors.push(error);
                    None
                }
            })
            .collect();
        self.replace(Source::Environment, from_env);
        if let Some(path) = self.file.clone() {
            match read_file(&path) {
                Ok(values) => self.replace(Source::File, values),
                Err(error) => errors.push(error),
            }
        }
        errors
    }

    /// The values from the environment and the file that no registered policy of their name
    /// takes (`failure_threshold` for a retry, `jitter` for a breaker); policies of one name
    /// share its values, each taking its own keys. A name none of whose policies has
    /// registered yet is not judged: its values wait, as [`set`]'s do.
    fn inapplicable(&self) -> Vec<SettingError> {
        let mut errors = Vec::new();
        for value in self.values.iter().filter(|v| v.source != Source::Code) {
            let named: Vec<Entry> = (self.policies.iter())
                .map(|p| p.entry)
                .filter(|e| value.is_for(e.name()))
                .collect();
            if let Some(first) = named.first() {
                if !named
                    .iter()
                    .any(|e| keys(e.kind()).contains(&value.key.as_str()))
                {
                    let mut kinds: Vec<PolicyKind> = named.iter().map(|e| e.kind()).collect();
                    kinds.sort();
                    kinds.dedup();
                    errors.push(SettingError::new(
                        first.name(),
                        &value.key,
                        &value.value,
                        not_a_key(&kinds),
                    ));
                }
            }
        }
        errors
    }

    fn replace(&mut self, source: Source, values: Vec<Value>) {
        self.values.retain(|v| v.source != source);
        self.values.extend(values);
    }
}

/// `RESILIENT_<POLICY>__<KEY>` and its value.
fn env_value(variable: &str, value: &str) -> Result<Value, SettingError> {
    let rest = &variable["RESILIENT_".len()..];
    let Some((policy, key)) = rest.rsplit_once("__") else {
        return Err(SettingError::new(
            "?",
            variable,
            value,
            "expected a variable named RESILIENT_<POLICY>__<KEY>, like RESILIENT_MY_APP_FETCH__MAX_ATTEMPTS".to_owned(),
        ));
    };
    let key = key.to_ascii_lowercase();
    if !known_key(&key) {
        return Err(unknown_key(policy, &key, value));
    }
    Ok(Value {
        source: Source::Environment,
        policy: policy.to_owned(),
        key,
        value: value.to_owned(),
    })
}

fn unknown_key(policy: &str, key: &str, value: &str) -> SettingError {
    SettingError::new(
        policy,
        key,
        value,
        format!("unknown key; the keys are {}", all_keys()),
    )
}

/// The values of a TOML file with a table per policy.
fn read_file(path: &Path) -> Result<Vec<Value>, SettingError> {
    let shown = path.display().to_string();
    let cannot = |reason: String| SettingError::new("*", "file", &shown, reason);
    let text = std::fs::read_to_string(path).map_err(|e| cannot(format!("cannot read it: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| cannot(format!("not valid TOML: {e}")))?;
    let mut values = Vec::new();
    for (policy, keys) in table {
        let toml::Value::Table(keys) = keys else {
            return Err(cannot(format!(
                "`{policy}` must be a table of keys, like [\"{policy}\"]"
            )));
        };
        for (key, value) in keys {
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                other => {
                    let reason = "expected a number or a string".to_owned();
                    return Err(SettingError::new(
                        &policy,
                        &key,
                        &format!("{other:?}"),
                        reason,
                    ));
                }
            };
            if !known_key(&key) {
                return Err(unknown_key(&policy, &key, &value));
            }
            values.push(Value {
                source: Source::File,
                policy: policy.clone(),
                key,
                value,
            });
        }
    }
    Ok(values)
}

fn refused(error: &SettingError) {
    tracing::event!(
        name: "config.refused",
        target: "resilient",
        Level::WARN,
        correlation_id = crate::correlation::field(),
        policy = error.policy(),
        key = error.key(),
        value = error.value(),
        "{error}; the previous configuration stays"
    );
}

/// Adds `policy` to the registry (once; again is harmless) and puts in force what the
/// environment, the file and [`set`] say for it.
pub fn register<P: Policy>(policy: &'static P) {
    register_policy(policy.entry());
}

/// [`register`] for a policy registering itself on first use.
pub(crate) fn register_policy(entry: Entry) {
    let mut registry = registry();
    if !entry.registration().claim() {
        return;
    }
    let monitor = entry.metrics().sample().and_then(|_| {
        let monitor = ErrorRateMonitor::new(entry.name(), AlertThresholds::new()).ok()?;
        Some(&*Box::leak(Box::new(monitor)))
    });
    let errors = Box::leak(Box::new(Mutex::new(ErrorHistory::default())));
    registry.policies.push(Member {
        entry,
        monitor,
        errors,
    });
    let outcome = registry.apply(entry);
    if outcome.is_err() {
        registry.forget_values_of(entry, |_| true);
    }
    drop(registry);
    if let Err(error) = outcome {
        refused(&error);
    }
    tracing::event!(
        name: "registry.registered",
        target: "resilient",
        Level::DEBUG,
        correlation_id = crate::correlation::field(),
        policy = entry.name(),
        kind = entry.kind().as_str(),
        "{} `{}` registered",
        entry.kind(),
        entry.name()
    );
}

/// Every registered policy, in the order they registered.
pub fn policies() -> Vec<PolicyInfo> {
    let registered = registry().policies.clone();
    registered.iter().map(info).collect()
}

/// The registered circuit breakers.
pub fn breakers() -> Vec<&'static CircuitBreaker> {
    registry()
        .policies
        .iter()
        .filter_map(|p| p.entry.as_breaker())
        .collect()
}

/// The registered policies that share their state through a backend, with it.
#[cfg(feature = "redis")]
pub(crate) fn shared_backends() -> Vec<(&'static str, std::sync::Arc<crate::shared::Redis>)> {
    let registered = registry().policies.clone();
    (registered.iter())
        .filter_map(|p| Some((p.entry.name(), p.entry.shared_backend()?)))
        .collect()
}

/// Sets `key` of the policies named `policy` from code, above every other source, and puts it in
/// force now. Refused, nothing changes.
///
/// A policy that has not registered yet gets the value when it does; until then only the key and
/// the form of the value can be checked.
pub fn set(policy: &str, key: &str, value: &str) -> Result<(), SettingError> {
    if !known_key(key) {
        return Err(unknown_key(policy, key, value));
    }
    let refused = |reason: String| SettingError::new(policy, key, value, reason);
    check_form(key, value).map_err(refused)?;
    let mut registry = registry();
    let matching: Vec<Entry> = (registry.policies.iter())
        .map(|p| p.entry)
        .filter(|e| e.name() == policy)
        .collect();
    if !matching.is_empty() && !matching.iter().any(|e| keys(e.kind()).contains(&key)) {
        let kinds: Vec<PolicyKind> = matching.iter().map(|e| e.kind()).collect();
        return Err(refused(not_a_key(&kinds)));
    }
    let previous = registry.values.clone();
    registry
        .values
        .retain(|v| !(v.source == Source::Code && v.policy == policy && v.key == key));
    registry.values.push(Value {
        source: Source::Code,
        policy: policy.to_owned(),
        key: key.to_owned(),
        value: value.to_owned(),
    });
    // Whatever rule the new value breaks, it is the value refused.
    let outcome = (matching.iter())
        .try_for_each(|entry| registry.apply(*entry).map_err(|e| refused(e.reason)));
    if outcome.is_err() {
        registry.values = previous;
        for entry in &matching {
            // Back to what it had; that configuration was accepted before.
            let _ = registry.apply(*entry);
        }
    }
    outcome
}

/// Whether `value` has the form `key` takes, before any policy judges it.
fn check_form(key: &str, value: &str) -> Result<(), String> {
    match KINDS.iter().find(|kind| kind.keys.contains(&key)) {
        Some(kind) => (kind.check_form)(key, value),
        None => Ok(()),
    }
}

/// Reads the TOML file at `path` (a table per policy), keeps it for [`reload`], and puts its
/// values in force under those of the environment and [`set`].
///
/// A file that cannot be read or has a bad key changes nothing; a policy a value is bad for keeps
/// its configuration, and the error is returned with the others.
pub fn load_file(path: impl AsRef<Path>) -> Result<(), Vec<SettingError>> {
    let path = path.as_ref();
    let values = read_file(path).map_err(|e| vec![e])?;
    let mut registry = registry();
    registry.file = Some(path.to_owned());
    registry.replace(Source::File, values);
    let mut found = registry.apply_all();
    let inapplicable = registry.inapplicable();
    registry.forget_inapplicable(&inapplicable);
    found.extend(inapplicable);
    drop(registry);
    errors(found)
}

/// Reads the environment and the file again and puts what they say in force. Errors as
/// [`load_file`]'s.
pub fn reload() -> Result<(), Vec<SettingError>> {
    let mut registry = registry();
    let mut found = registry.read_sources();
    found.extend(registry.apply_all());
    let inapplicable = registry.inapplicable();
    registry.forget_inapplicable(&inapplicable);
    found.extend(inapplicable);
    drop(registry);
    errors(found)
}

/// Logs what was refused (with the registry released) and returns it.
fn errors(found: Vec<SettingError>) -> Result<(), Vec<SettingError>> {
    for error in &found {
        refused(error);
    }
    if found.is_empty() { Ok(()) } else { Err(found) }
}

/// Feeds every policy's alert monitor its current totals: what [`watch`] does on each tick.
///
/// The levels and their `alert.level_changed` events follow the
/// [`monitor`](crate::monitor) rules, with the default [`AlertThresholds`]: warning above 1 %
/// errors over 5 minutes, critical above 5 % over 1 minute, emergency after 5 minutes unavailable.
pub fn sample() {
    let registered = registry().policies.clone();
    for p in registered {
        let metrics = p.entry.metrics();
        if let (Some(monitor), Some(sample)) = (p.monitor, metrics.sample()) {
            monitor.observe(sample);
        }
        p.observe_errors(&metrics);
    }
}

/// Samples every policy's alert monitor every `every` and, with the feature `metrics`, publishes
/// their counters through the `metrics` facade; forever. Spawn it once at start-up:
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// tokio::spawn(resilient::registry::watch(std::time::Duration::from_secs(10)));
/// # }
/// ```
///
/// Returns only to refuse a zero period.
pub async fn watch(every: Duration) -> Result<std::convert::Infallible, ConfigError> {
    crate::monitor::periodically(every, || {
        sample();
        #[cfg(feature = "metrics")]
        export_metrics();
    })
    .await
}

mod errors;
use errors::ErrorHistory;
pub use errors::{ErrorsPerMinute, FailureCounts};

#[cfg(feature = "metrics")]
mod export;
#[cfg(feature = "metrics")]
pub use export::export_metrics;
