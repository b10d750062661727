//! [`BreakerConfig`]: when a circuit breaker opens and how it recovers.

use crate::Backoff;
use crate::config::{ConfigError, ConfigValue, check_count, check_nonzero, check_rate};
use std::time::Duration;

/// How a [`CircuitBreaker`](crate::CircuitBreaker) decides to open and to close again.
///
/// Two modes, exclusive:
/// - **consecutive** (the default): `failure_threshold` failures in a row open it;
/// - **rate**: set [`failure_rate`](Self::failure_rate) and it opens when the share of failures
///   among the calls in a sliding [`window`](Self::window) (last N calls) or
///   [`time_window`](Self::time_window) reaches the rate, once at least
///   [`minimum_calls`](Self::minimum_calls) are in the window.
///
/// ```
/// use resilient::BreakerConfig;
/// use std::time::Duration;
///
/// const CONSECUTIVE: BreakerConfig = BreakerConfig::new()
///     .failure_threshold(5)
///     .recovery_timeout(Duration::from_secs(10));
/// const RATE: BreakerConfig = BreakerConfig::new().failure_rate(0.5).window(20).minimum_calls(10);
/// assert!(CONSECUTIVE.validate().is_ok() && RATE.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    pub(crate) failure_threshold: u32,
    threshold_set: bool,
    pub(crate) recovery_timeout: Duration,
    pub(crate) half_open_calls: u32,
    pub(crate) success_threshold: u32,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) window: Window,
    window_set: bool,
    pub(crate) minimum_calls: u32,
    pub(crate) slow_call: Option<Duration>,
    pub(crate) slow_call_rate: Option<f64>,
    pub(crate) recovery_backoff: Option<Backoff>,
}

/// The sliding window of rate mode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Window {
    /// The last N calls.
    Count(u32),
    /// The calls of the last period.
    Time(Duration),
}

/// Trial slots and successes are counted in 16 bits of the breaker's state word.
const MAX_TRIALS: u32 = u16::MAX as u32;

impl BreakerConfig {
    /// Consecutive mode: 3 failures in a row open it for 30 s; one trial at a time, one successful
    /// trial closes it.
    pub const fn new() -> Self {
        Self {
            failure_threshold: 3,
            threshold_set: false,
            recovery_timeout: Duration::from_secs(30),
            half_open_calls: 1,
            success_threshold: 1,
            failure_rate: None,
            window: Window::Count(20),
            window_set: false,
            minimum_calls: 10,
            slow_call: None,
            slow_call_rate: None,
            recovery_backoff: None,
        }
    }

    /// Consecutive failures that open the breaker (default 3; at least 1). Consecutive mode only.
    pub const fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n;
        self.threshold_set = true;
        self
    }

    /// Time open before one call is let through as a trial (default 30 s).
    pub const fn recovery_timeout(mut self, d: Duration) -> Self {
        self.recovery_timeout = d;
        self
    }

    /// Trials allowed in flight at once while half-open (default 1; 1 to 65535). Further calls are
    /// rejected while they run.
    pub const fn half_open_calls(mut self, n: u32) -> Self {
        self.half_open_calls = n;
        self
    }

    /// Successful trials that close the breaker (default 1; 1 to 65535). Any failed trial reopens it.
    pub const fn success_threshold(mut self, n: u32) -> Self {
        self.success_threshold = n;
        self
    }

    /// Switches to rate mode: open when the failure rate in the window reaches `rate` (0 < rate ≤ 1).
    pub const fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(rate);
        self
    }

    /// Rate mode's window: the last `n` calls (default 20).
    pub const fn window(mut self, n: u32) -> Self {
        self.window = Window::Count(n);
        self.window_set = true;
        self
    }

    /// Rate mode's window: the calls of the last `period`, in steps of a tenth of it.
    pub const fn time_window(mut self, period: Duration) -> Self {
        self.window = Window::Time(period);
        self.window_set = true;
        self
    }

    /// Calls the window must hold before a rate is judged (default 10; at most a count window's size).
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }

    /// Calls slower than `d` count toward opening: in consecutive mode a slow call counts as a
    /// failure; in rate mode the slow-call rate is judged against
    /// [`slow_call_rate`](Self::slow_call_rate). A slow trial is a failed trial.
    pub const fn slow_call(mut self, d: Duration) -> Self {
        self.slow_call = Some(d);
        self
    }

    /// Rate mode: open when the share of slow calls in the window reaches `rate` (default 1.0).
    pub const fn slow_call_rate(mut self, rate: f64) -> Self {
        self.slow_call_rate = Some(rate);
        self
    }

    /// Each reopening without a close in between waits longer: the k-th opening in a row waits the
    /// longer of `recovery_timeout` and `backoff.delay(k)` (default: every opening waits
    /// `recovery_timeout`).
    pub const fn recovery_backoff(mut self, backoff: Backoff) -> Self {
        self.recovery_backoff = Some(backoff);
        self
    }

    pub(crate) const fn is_rate_mode(&self) -> bool {
        self.failure_rate.is_some()
    }

    /// Checks every setting and every combination; the error names the key, the value and the rule.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        check_count!("half_open_calls", self.half_open_calls);
        check_count!("success_threshold", self.success_threshold);
        if self.half_open_calls > MAX_TRIALS {
            let rule = "`half_open_calls` must be at most 65535";
            return Err(ConfigError::new(
                "half_open_calls",
                ConfigValue::Count(self.half_open_calls),
                rule,
            ));
        }
        if self.success_threshold > MAX_TRIALS {
            let rule = "`success_threshold` must be at most 65535";
            return Err(ConfigError::new(
                "success_threshold",
                ConfigValue::Count(self.success_threshold),
                rule,
            ));
        }
        if let Some(backoff) = &self.recovery_backoff {
            if let Err(e) = backoff.validate() {
                return Err(e);
            }
        }
        if let Some(slow) = self.slow_call {
            check_nonzero!("slow_call", slow);
        }
        match self.failure_rate {
            None => self.validate_consecutive(),
            Some(rate) => self.validate_rate(rate),
        }
    }

    const fn validate_consecutive(&self) -> Result<(), ConfigError> {
        check_count!("failure_threshold", self.failure_threshold);
        if self.window_set {
            let rule = "`window` belongs to rate mode: set `failure_rate` too, or remove it";
            return Err(ConfigError::new("window", ConfigValue::Present, rule));
        }
        if self.slow_call_rate.is_some() {
            let rule = if self.slow_call.is_none() {
                "`slow_call_rate` needs `slow_call`, the duration above which a call is slow"
            } else {
                "`slow_call_rate` belongs to rate mode: in consecutive mode every slow call counts as a failure"
            };
            return Err(ConfigError::new(
                "slow_call_rate",
                ConfigValue::Present,
                rule,
            ));
        }
        Ok(())
    }

    const fn validate_rate(&self, rate: f64) -> Result<(), ConfigError> {
        if self.threshold_set {
            let rule = "`failure_threshold` (consecutive mode) and `failure_rate` (rate mode) are exclusive";
            return Err(ConfigError::new(
                "failure_threshold",
                ConfigValue::Count(self.failure_threshold),
                rule,
            ));
        }
        check_rate!("failure_rate", rate);
        check_count!("minimum_calls", self.minimum_calls);
        match self.window {
            Window::Count(n) => {
                check_count!("window", n);
                if self.minimum_calls > n {
                    let rule = "`minimum_calls` must not exceed the `window` size";
                    return Err(ConfigError::new(
                        "minimum_calls",
                        ConfigValue::Count(self.minimum_calls),
                        rule,
                    ));
                }
            }
            Window::Time(period) => check_nonzero!("window", period),
        }
        if let Some(slow_rate) = self.slow_call_rate {
            if self.slow_call.is_none() {
                let rule =
                    "`slow_call_rate` needs `slow_call`, the duration above which a call is slow";
                return Err(ConfigError::new(
                    "slow_call_rate",
                    ConfigValue::Present,
                    rule,
                ));
            }
            check_rate!("slow_call_rate", slow_rate);
        }
        Ok(())
    }

    /// How long the `k`-th opening in a row waits before a trial.
    pub(crate) fn open_wait(&self, k: u32) -> Duration {
        match &self.recovery_backoff {
            Some(backoff) if k > 1 => backoff.delay(k).max(self.recovery_timeout),
            _ => self.recovery_timeout,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_exclusive_and_the_error_names_the_key() {
        let err = BreakerConfig::new()
            .failure_threshold(5)
            .failure_rate(0.5)
            .validate()
            .unwrap_err();
        assert_eq!(err.key(), "failure_threshold");
        assert!(err.to_string().contains("exclusive"), "{err}");
        let err = BreakerConfig::new().window(10).validate().unwrap_err();
        assert_eq!(err.key(), "window");
    }

    #[test]
    fn ranges_are_checked() {
        let cases = [
            (
                BreakerConfig::new().failure_threshold(0),
                "failure_threshold",
            ),
            (BreakerConfig::new().half_open_calls(0), "half_open_calls"),
            (
                BreakerConfig::new().half_open_calls(70_000),
                "half_open_calls",
            ),
            (
                BreakerConfig::new().success_threshold(0),
                "success_threshold",
            ),
            (BreakerConfig::new().failure_rate(0.0), "failure_rate"),
            (BreakerConfig::new().failure_rate(1.5), "failure_rate"),
            (BreakerConfig::new().failure_rate(f64::NAN), "failure_rate"),
            (
                BreakerConfig::new().failure_rate(0.5).window(5),
                "minimum_calls",
            ),
            (BreakerConfig::new().failure_rate(0.5).window(0), "window"),
            (
                BreakerConfig::new()
                    .failure_rate(0.5)
                    .time_window(Duration::ZERO),
                "window",
            ),
            (
                BreakerConfig::new().failure_rate(0.5).slow_call_rate(0.5),
                "slow_call_rate",
            ),
            (BreakerConfig::new().slow_call(Duration::ZERO), "slow_call"),
            (
                BreakerConfig::new()
                    .slow_call(Duration::from_secs(1))
                    .slow_call_rate(0.5),
                "slow_call_rate",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(
                config.validate().map_err(|e| e.key()),
                Err(key),
                "{config:?}"
            );
        }
    }

    #[test]
    fn good_configs_pass() {
        let rate = BreakerConfig::new()
            .failure_rate(1.0)
            .time_window(Duration::from_secs(60))
            .minimum_calls(1000)
            .slow_call(Duration::from_secs(2))
            .slow_call_rate(0.8);
        assert_eq!(rate.validate(), Ok(()));
        assert_eq!(BreakerConfig::new().validate(), Ok(()));
    }

    #[test]
    fn recovery_backoff_lengthens_later_openings_only() {
        let config = BreakerConfig::new()
            .recovery_timeout(Duration::from_secs(30))
            .recovery_backoff(
                Backoff::exponential(Duration::from_secs(30), Duration::from_secs(600)).jitter(0.0),
            );
        let waits: Vec<_> = (1..=7).map(|k| config.open_wait(k).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(BreakerConfig::new().open_wait(9), Duration::from_secs(30));
    }
}
