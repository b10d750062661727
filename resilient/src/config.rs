//! [`ConfigError`]: what is wrong with a policy's configuration, and what is allowed.

use arc_swap::ArcSwapOption;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A configuration value that is out of range, or two settings that do not go together.
///
/// Returned by [`BreakerConfig::validate`](crate::BreakerConfig::validate),
/// [`CircuitBreaker::try_new`](crate::CircuitBreaker::try_new),
/// [`RetryPolicy::validate`](crate::RetryPolicy::validate),
/// [`Backoff::validate`](crate::Backoff::validate) and
/// [`AlertThresholds::validate`](crate::monitor::AlertThresholds::validate). The message names the key, the value and the
/// rule:
///
/// ```
/// use resilient::{BreakerConfig, CircuitBreaker};
///
/// let err = CircuitBreaker::try_new("db", BreakerConfig::new().failure_threshold(0)).unwrap_err();
/// assert_eq!(err.key(), "failure_threshold");
/// assert_eq!(err.to_string(), "policy `db`: `failure_threshold` must be at least 1 (got 0)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigError {
    policy: Option<&'static str>,
    key: &'static str,
    value: ConfigValue,
    rule: &'static str,
}

/// The value a [`ConfigError`] refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ConfigValue {
    Count(u32),
    Fraction(f64),
    Duration(Duration),
    /// The key was given where another setting excludes it.
    Present,
}

impl ConfigError {
    pub(crate) const fn new(key: &'static str, value: ConfigValue, rule: &'static str) -> Self {
        Self {
            policy: None,
            key,
            value,
            rule,
        }
    }

    pub(crate) const fn for_policy(mut self, policy: &'static str) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The configuration key at fault (as the attribute spells it: `failure_threshold`, `jitter`).
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The rule that was broken, naming the key: "`failure_threshold` must be at least 1".
    pub const fn rule(&self) -> &'static str {
        self.rule
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(policy) = self.policy {
            write!(f, "policy `{policy}`: ")?;
        }
        f.write_str(self.rule)?;
        match self.value {
            ConfigValue::Count(n) => write!(f, " (got {n})"),
            ConfigValue::Fraction(x) => write!(f, " (got {x})"),
            ConfigValue::Duration(d) => write!(f, " (got {d:?})"),
            ConfigValue::Present => Ok(()),
        }
    }
}

impl std::error::Error for ConfigError {}

// Checks as macros, so that each rule is one literal naming its key: a `const` constructor can
// only panic with a single `&'static str`.

/// `Err` unless `0 < x <= 1`.
macro_rules! check_rate {
    ($key:literal, $x:expr) => {{
        let x: f64 = $x;
        if !(x > 0.0 && x <= 1.0) {
            let rule = concat!("`", $key, "` must be above 0 and at most 1");
            return Err(ConfigError::new($key, ConfigValue::Fraction(x), rule));
        }
    }};
}

/// `Err` unless `0 <= x <= 1` (a share that may be zero: "any failure").
macro_rules! check_fraction {
    ($key:literal, $x:expr) => {{
        let x: f64 = $x;
        if !(x >= 0.0 && x <= 1.0) {
            let rule = concat!("`", $key, "` must be between 0 and 1");
            return Err(ConfigError::new($key, ConfigValue::Fraction(x), rule));
        }
    }};
}

/// `Err` unless `n >= 1`.
macro_rules! check_count {
    ($key:literal, $n:expr) => {{
        let n: u32 = $n;
        if n == 0 {
            return Err(ConfigError::new(
                $key,
                ConfigValue::Count(n),
                concat!("`", $key, "` must be at least 1"),
            ));
        }
    }};
}

/// `Err` if the duration is zero.
macro_rules! check_nonzero {
    ($key:literal, $d:expr) => {{
        let d: Duration = $d;
        if d.is_zero() {
            return Err(ConfigError::new(
                $key,
                ConfigValue::Duration(d),
                concat!("`", $key, "` must be longer than zero"),
            ));
        }
    }};
}

/// The value, or a panic with the broken rule: what a const setter does with a bad literal, so
/// that in a `static` it is a compile-time error naming the rule. A macro, because a generic
/// `const fn` cannot take a `Result` apart without dropping it.
macro_rules! or_panic {
    ($checked:expr) => {
        match $checked {
            Ok(value) => value,
            Err(err) => panic!("{}", err.rule()),
        }
    };
}

pub(crate) use {check_count, check_fraction, check_nonzero, check_rate, or_panic};

/// A configuration that can be replaced while calls read it: the one a policy was built with,
/// or the last one set at run time (see [`crate::registry`]).
///
/// The one built with is inline, so a policy stays const-constructible; a replacement is held in
/// an [`ArcSwapOption`] and freed when the next one replaces it. Until the first replacement,
/// reading it costs one atomic load.
pub(crate) struct Live<T: 'static> {
    /// As built; const builders set it field by field.
    pub(crate) initial: T,
    /// Whether `replaced` may hold a value: spares reads of a never-replaced configuration
    /// (nearly all of them) the cost of [`ArcSwapOption::load`].
    is_replaced: AtomicBool,
    /// The configuration set at run time, if any.
    replaced: ArcSwapOption<T>,
}

impl<T: Clone + PartialEq> Live<T> {
    pub(crate) const fn new(initial: T) -> Self {
        Self {
            initial,
            is_replaced: AtomicBool::new(false),
            replaced: ArcSwapOption::const_empty(),
        }
    }

    /// The configuration in force.
    #[inline]
    pub(crate) fn get(&self) -> Current<'_, T> {
        if self.is_replaced.load(Ordering::Acquire) {
            self.get_replaced()
        } else {
            Current::Initial(&self.initial)
        }
    }

    /// A copy of the replacement, taken out of line: the calls that read a configuration never
    /// replaced keep small frames, and hold no guard to release.
    #[cold]
    #[inline(never)]
    fn get_replaced(&self) -> Current<'_, T> {
        match &*self.replaced.load() {
            Some(replaced) => Current::Replaced(T::clone(replaced)),
            None => Current::Initial(&self.initial),
        }
    }

    /// Puts `value` in force, unless it already is.
    pub(crate) fn set(&self, value: T) {
        if value != *self.get() {
            self.replaced.store(Some(Arc::new(value)));
            self.is_replaced.store(true, Ordering::Release);
        }
    }
}

/// A read of a [`Live`] configuration: the one built with, or a copy of its replacement (the
/// configurations are small and `Copy`).
pub(crate) enum Current<'a, T> {
    Initial(&'a T),
    Replaced(T),
}

impl<T> Deref for Current<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Current::Initial(initial) => initial,
            Current::Replaced(replaced) => replaced,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_reads_the_initial_value_then_each_replacement() {
        let live = Live::new(1_u32);
        assert_eq!(*live.get(), 1);
        let before = live.get();
        live.set(2);
        assert_eq!((*before, *live.get()), (1, 2));
        let second = live.get();
        live.set(3);
        assert_eq!((*second, *live.get()), (2, 3), "a read keeps what it read");
        live.set(1);
        assert_eq!(*live.get(), 1);
    }

    #[test]
    fn a_replaced_configuration_is_freed() {
        let tracker = Arc::new(());
        let live = Live::new((0, Arc::clone(&tracker)));
        for n in 1..=10 {
            live.set((n, Arc::clone(&tracker)));
        }
        // The tracker, the initial value and the one in force: nothing else holds it.
        assert_eq!(Arc::strong_count(&tracker), 3);
        assert_eq!(live.get().0, 10);
    }
}
