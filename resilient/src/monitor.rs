//! [`ErrorRateMonitor`]: a policy's alert level, from its error rate over sliding windows and from
//! how long it has been unavailable.
//!
//! The monitor is never fed per call: a policy's success path writes nothing shared, so the
//! monitor instead *samples* the cumulative totals the policy keeps anyway (calls, failures,
//! whether it refuses calls), every few seconds, and judges the differences between samples:
//!
//! - **warning**: more than `warning_rate` of the calls failed over `warning_window`
//!   (default: above 1 % over 5 minutes);
//! - **critical**: more than `critical_rate` failed over `critical_window`
//!   (default: above 5 % over 1 minute);
//! - **emergency**: the policy has been unavailable for more than `emergency_after`
//!   (default: 5 minutes).
//!
//! A rate level is raised only when its window holds at least `minimum_calls` calls. The level is
//! raised to the worst that applies as soon as an observation finds it; a rate level is left only
//! once the observations have stayed below it for `clear_after` (by default, from one observation
//! to the next: two in a row), so that a rate hovering at a threshold does not page and withdraw
//! the page on every sample. An emergency is left as soon as the policy is up again. Every change is an `alert.level_changed` event (see
//! [`ErrorRateMonitor::observe`]).
//!
//! # Windows
//!
//! A window's rate is the growth of the totals from the oldest sample inside the window (taken at
//! or after `now - window`) to the newest one, so failures leave a window one window length after
//! the last sample taken before them. Samples closer together than a 300th of the longest window
//! are merged, which bounds the memory per monitor (about 600 samples) however often it is fed.
//!
//! # Unavailability
//!
//! Each observation is compared with the one before it. It is **down** when the sample says the
//! policy is unavailable (a breaker open), or when at least one call failed since the previous
//! observation and none succeeded. It is **up** when a call succeeded since the previous one and
//! the sample is not unavailable. Otherwise (no calls, not unavailable) it changes nothing: a quiet
//! spell neither starts nor ends an outage. An outage starts at its first down observation and
//! lasts until the next up one; it is an emergency once it has lasted longer than
//! `emergency_after`.

use crate::config::{ConfigError, ConfigValue, check_count, check_fraction, check_nonzero};
use serde::Serialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Level;

/// Samples closer together than the longest window divided by this are merged into one.
const STEPS: u32 = 300;

/// How bad a policy's errors are. Levels compare from best to worst:
/// `Normal < Warning < Critical < Emergency`.
///
/// Displayed and serialized in lowercase (`"critical"`), as events and reports spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    /// Errors are within the thresholds.
    Normal,
    /// The error rate is above the warning rate over the warning window.
    Warning,
    /// The error rate is above the critical rate over the critical window.
    Critical,
    /// The policy has been unavailable for longer than `emergency_after`.
    Emergency,
}

impl AlertLevel {
    /// The level's name in lowercase: `normal`, `warning`, `critical` or `emergency`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Normal => "normal",
            AlertLevel::Warning => "warning",
            AlertLevel::Critical => "critical",
            AlertLevel::Emergency => "emergency",
        }
    }
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// When an [`ErrorRateMonitor`] raises each level. The defaults are the operations targets:
/// warning above 1 % errors over 5 minutes, critical above 5 % over 1 minute, emergency when
/// unavailable for more than 5 minutes.
///
/// ```
/// use resilient::monitor::AlertThresholds;
/// use std::time::Duration;
///
/// const STRICT: AlertThresholds = AlertThresholds::new()
///     .warning_rate(0.001)
///     .emergency_after(Duration::from_secs(60));
/// assert_eq!(STRICT.validate(), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertThresholds {
    warning_rate: f64,
    warning_window: Duration,
    critical_rate: f64,
    critical_window: Duration,
    emergency_after: Duration,
    minimum_calls: u32,
    /// How long the observations stay below a level before it is left; `None`: until the next
    /// observation.
    clear_after: Option<Duration>,
}

impl AlertThresholds {
    /// The defaults: warning above 1 % over 5 min, critical above 5 % over 1 min, emergency after
    /// 5 min unavailable, rates judged from 20 calls in a window.
    pub const fn new() -> Self {
        Self {
            warning_rate: 0.01,
            warning_window: Duration::from_secs(5 * 60),
            critical_rate: 0.05,
            critical_window: Duration::from_secs(60),
            emergency_after: Duration::from_secs(5 * 60),
            minimum_calls: 20,
            clear_after: None,
        }
    }

    /// Warning when the share of failed calls over the warning window is above `rate`
    /// (default 0.01; 0 to 1: 0 warns on any failure, 1 never warns).
    pub const fn warning_rate(mut self, rate: f64) -> Self {
        self.warning_rate = rate;
        self
    }

    /// The window the warning rate is judged over (default 5 min).
    pub const fn warning_window(mut self, window: Duration) -> Self {
        self.warning_window = window;
        self
    }

    /// Critical when the share of failed calls over the critical window is above `rate`
    /// (default 0.05; 0 to 1).
    pub const fn critical_rate(mut self, rate: f64) -> Self {
        self.critical_rate = rate;
        self
    }

    /// The window the critical rate is judged over (default 1 min).
    pub const fn critical_window(mut self, window: Duration) -> Self {
        self.critical_window = window;
        self
    }

    /// Emergency when the policy has been unavailable for longer than this (default 5 min).
    pub const fn emergency_after(mut self, after: Duration) -> Self {
        self.emergency_after = after;
        self
    }

    /// Calls a window must hold before its rate can raise a level (default 20; at least 1).
    ///
    /// The default is the smallest count at which one failure alone cannot make a window critical
    /// (1 in 20 is 5 %, not above it): a quiet policy's single failure is not an incident. With
    /// fewer calls than that, only unavailability raises the level.
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }

    /// How long the observations must stay below a level before it is left (default: from one
    /// observation to the next, so two in a row; zero leaves it at the first). A level is raised
    /// at once whatever this is.
    pub const fn clear_after(mut self, after: Duration) -> Self {
        self.clear_after = Some(after);
        self
    }

    /// Checks every setting; the error names the key, the value and the rule.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        check_fraction!("warning_rate", self.warning_rate);
        check_nonzero!("warning_window", self.warning_window);
        check_fraction!("critical_rate", self.critical_rate);
        check_nonzero!("critical_window", self.critical_window);
        check_nonzero!("emergency_after", self.emergency_after);
        check_count!("minimum_calls", self.minimum_calls);
        Ok(())
    }

    fn longest_window(&self) -> Duration {
        self.warning_window.max(self.critical_window)
    }
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self::new()
    }
}

/// A policy's cumulative totals at the moment they are read: what the policy counts anyway.
///
/// Count a call the policy rejected (an open breaker) as a call and a failure: for its caller it
/// failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Calls since the policy started counting, failed ones included.
    pub calls: u64,
    /// Of those, the calls that failed (more than `calls` is read as `calls`).
    pub failures: u64,
    /// The policy refuses calls right now: a breaker open, forced open or half-open.
    pub unavailable: bool,
}

/// Judges a policy's alert level from samples of its totals; see the [module docs](self) for the
/// rules.
///
/// Feed it with [`observe`](Self::observe) on a sampling tick (or let [`watch`](Self::watch) do
/// it); read the level with [`level`](Self::level). Reading the totals on a tick keeps the
/// policy's call path free of shared writes; the monitor's lock is taken only by the sampler and
/// by readers.
///
/// ```
/// use resilient::monitor::{AlertLevel, AlertThresholds, ErrorRateMonitor, Sample};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let monitor = ErrorRateMonitor::new("payments", AlertThresholds::default()).unwrap();
/// monitor.observe(Sample { calls: 1_000, failures: 0, unavailable: false });
/// tokio::time::advance(Duration::from_secs(30)).await;
/// // 200 calls in the last 30 s, 20 of them failed: 10 %, above 5 % over a minute.
/// monitor.observe(Sample { calls: 1_200, failures: 20, unavailable: false });
/// assert_eq!(monitor.level(), AlertLevel::Critical);
/// assert_eq!(monitor.error_rate(Duration::from_secs(60)), Some(0.1));
/// # }
/// ```
pub struct ErrorRateMonitor {
    policy: &'static str,
    thresholds: AlertThresholds,
    /// Samples closer together than this are merged.
    step: Duration,
    history: Mutex<History>,
}

struct History {
    /// Oldest first; none older than the longest window before the newest.
    points: VecDeque<Point>,
    level: AlertLevel,
    /// Since when the observations have found a level below `level`.
    below_since: Option<Instant>,
    outage: Option<Outage>,
}

#[derive(Clone, Copy)]
struct Point {
    at: Instant,
    calls: u64,
    failures: u64,
}

/// An unbroken run of down observations.
#[derive(Clone, Copy)]
struct Outage {
    since: Instant,
    /// The totals before the run, to tell its error rate.
    calls: u64,
    failures: u64,
}

/// Calls and failures between two points.
#[derive(Clone, Copy)]
struct Growth {
    calls: u64,
    failures: u64,
}

impl Growth {
    fn rate(self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.failures as f64 / self.calls as f64
        }
    }
}

/// A level and what decided it.
struct Verdict {
    level: AlertLevel,
    error_rate: f64,
    /// The window judged, or for an emergency how long the policy has been unavailable.
    window: Duration,
}

impl ErrorRateMonitor {
    /// A monitor at [`AlertLevel::Normal`] for the policy named `policy` (the name in its events),
    /// or the first problem with `thresholds`.
    pub fn new(policy: &'static str, thresholds: AlertThresholds) -> Result<Self, ConfigError> {
        thresholds.validate().map_err(|e| e.for_policy(policy))?;
        Ok(Self {
            policy,
            thresholds,
            step: thresholds.longest_window() / STEPS,
            history: Mutex::new(History {
                points: VecDeque::new(),
                level: AlertLevel::Normal,
                below_since: None,
                outage: None,
            }),
        })
    }

    /// The policy's name.
    pub fn policy(&self) -> &'static str {
        self.policy
    }

    /// The thresholds it judges by.
    pub fn thresholds(&self) -> &AlertThresholds {
        &self.thresholds
    }

    /// Records the policy's totals as of now (tokio's clock) and judges the level again.
    ///
    /// The first observation, and one whose totals went down (the policy's counters were reset),
    /// starts the history over: only its `unavailable` counts. When the level changes, an
    /// `alert.level_changed` event reports it with `policy`, `level`, `previous`, and the
    /// `error_rate` over `window_ms` that decided (for an emergency: the failed share of the calls
    /// during the outage, 1 if none was let through, and how long it has lasted). Its level is
    /// WARN for warning, ERROR for critical, ERROR with `critical = true` for emergency, INFO back
    /// to normal, and WARN for a step down short of normal.
    pub fn observe(&self, sample: Sample) {
        let verdict = {
            let mut history = self.lock();
            let now = Instant::now();
            history.record(now, sample, self.step, self.thresholds.longest_window());
            let verdict = history.judge(now, &self.thresholds);
            let previous = history.level;
            history.level = history.settle(now, verdict.level, self.thresholds.clear_after);
            (history.level != previous).then_some((verdict, previous))
        };
        // Outside the lock: a subscriber may read the level.
        if let Some((verdict, previous)) = verdict {
            self.level_changed(&verdict, previous);
        }
    }

    /// The level as of the latest observation.
    pub fn level(&self) -> AlertLevel {
        self.lock().level
    }

    /// The share of calls that failed over `window` before the latest observation, or `None` if
    /// no call was made in it. It reaches back at most the longest threshold window.
    pub fn error_rate(&self, window: Duration) -> Option<f64> {
        let growth = self.lock().window(window);
        (growth.calls > 0).then(|| growth.rate())
    }

    /// How long the policy had been unavailable at the latest observation, if it was.
    pub fn unavailable_for(&self) -> Option<Duration> {
        let history = self.lock();
        let (outage, latest) = (history.outage?, history.points.back()?);
        Some(latest.at.saturating_duration_since(outage.since))
    }

    /// Observes `sample()` every `every`, the first time at once, until the future is dropped.
    /// Returns only to refuse a zero period.
    ///
    /// ```
    /// use resilient::monitor::{AlertLevel, AlertThresholds, ErrorRateMonitor, Sample};
    /// use resilient::{BreakerConfig, BreakerState, CircuitBreaker};
    /// use std::time::Duration;
    ///
    /// static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerConfig::new());
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let monitor = ErrorRateMonitor::new("payments", AlertThresholds::default()).unwrap();
    /// let sample = || {
    ///     let m = PAYMENTS.metrics();
    ///     Sample {
    ///         calls: m.successes + m.failures + m.rejections,
    ///         failures: m.failures + m.rejections,
    ///         unavailable: !matches!(m.state, BreakerState::Closed | BreakerState::Disabled),
    ///     }
    /// };
    /// // Usually spawned for the life of the program; here, for one virtual minute.
    /// let watching = monitor.watch(Duration::from_secs(10), sample);
    /// assert!(tokio::time::timeout(Duration::from_secs(60), watching).await.is_err());
    /// assert_eq!(monitor.level(), AlertLevel::Normal);
    /// # }
    /// ```
    pub async fn watch(
        &self,
        every: Duration,
        mut sample: impl FnMut() -> Sample,
    ) -> Result<Infallible, ConfigError> {
        periodically(every, || self.observe(sample()))
            .await
            .map_err(|e| e.for_policy(self.policy))
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        // The history is consistent after every statement that changes it: a panic elsewhere
        // while it was locked leaves nothing half-done.
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn level_changed(&self, verdict: &Verdict, previous: AlertLevel) {
        let policy = self.policy;
        let detail = Detail(verdict);
        macro_rules! level_changed {
            ($level:expr $(, $key:ident = $value:expr)?) => {
                tracing::event!(
                    name: "alert.level_changed",
                    target: "resilient",
                    $level,
                    correlation_id = crate::correlation::field(),
                    policy,
                    level = verdict.level.as_str(),
                    previous = previous.as_str(),
                    error_rate = verdict.error_rate,
                    window_ms = u64::try_from(verdict.window.as_millis()).unwrap_or(u64::MAX),
                    $($key = $value,)?
                    "policy `{policy}`: alert level {} (was {previous}): {detail}",
                    verdict.level
                )
            };
        }
        match (verdict.level, verdict.level > previous) {
            (AlertLevel::Normal, _) => level_changed!(Level::INFO),
            (AlertLevel::Emergency, true) => level_changed!(Level::ERROR, critical = true),
            (AlertLevel::Critical, true) => level_changed!(Level::ERROR),
            // Warning raised, or a step down that is not yet a recovery.
            _ => level_changed!(Level::WARN),
        }
    }
}

fn check_period(every: Duration) -> Result<(), ConfigError> {
    check_nonzero!("every", every);
    Ok(())
}

/// Calls `tick` every `every`, the first time at once, forever; a tick that comes late delays the
/// next ones rather than bunching them. Returns only to refuse a zero period.
pub(crate) async fn periodically(
    every: Duration,
    mut tick: impl FnMut(),
) -> Result<Infallible, ConfigError> {
    check_period(every)?;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        tick();
    }
}

impl History {
    /// Adds an observation: updates the outage, then the samples.
    fn record(&mut self, now: Instant, sample: Sample, step: Duration, longest: Duration) {
        let point = Point {
            at: now,
            calls: sample.calls,
            failures: sample.failures.min(sample.calls),
        };
        let previous = self
            .points
            .back()
            .copied()
            .filter(|p| point.calls >= p.calls && point.failures >= p.failures);
        let (failed, succeeded) = match previous {
            Some(p) => (
                point.failures - p.failures,
                (point.calls - point.failures).saturating_sub(p.calls - p.failures),
            ),
            None => {
                // First observation, or the counters were reset: differences start from here.
                self.points.clear();
                if let Some(outage) = &mut self.outage {
                    (outage.calls, outage.failures) = (point.calls, point.failures);
                }
                (0, 0)
            }
        };
        if sample.unavailable || (failed > 0 && succeeded == 0) {
            let before = previous.unwrap_or(point);
            self.outage.get_or_insert(Outage {
                since: now,
                calls: before.calls,
                failures: before.failures,
            });
        } else if succeeded > 0 {
            self.outage = None;
        }

        // Keep consecutive samples (but the newest) at least `step` apart in pairs, so the history
        // holds at most about 2 × STEPS of them.
        let n = self.points.len();
        if n >= 2 && now.saturating_duration_since(self.points[n - 2].at) < step {
            self.points[n - 1] = point;
        } else {
            self.points.push_back(point);
        }
        if let Some(oldest) = now.checked_sub(longest) {
            while self.points.front().is_some_and(|p| p.at < oldest) {
                self.points.pop_front();
            }
        }
    }

    /// The worst level that applies at `now`, the latest observation.
    fn judge(&self, now: Instant, t: &AlertThresholds) -> Verdict {
        if let (Some(outage), Some(latest)) = (self.outage, self.points.back()) {
            let down_for = now.saturating_duration_since(outage.since);
            if down_for > t.emergency_after {
                let during = Growth {
                    calls: latest.calls.saturating_sub(outage.calls),
                    failures: latest.failures.saturating_sub(outage.failures),
                };
                return Verdict {
                    level: AlertLevel::Emergency,
                    // No call let through: every call asked for was refused.
                    error_rate: if during.calls == 0 {
                        1.0
                    } else {
                        during.rate()
                    },
                    window: down_for,
                };
            }
        }
        let enough = |g: Growth| g.calls >= u64::from(t.minimum_calls);
        let critical = self.window(t.critical_window);
        if enough(critical) && critical.rate() > t.critical_rate {
            return Verdict {
                level: AlertLevel::Critical,
                error_rate: critical.rate(),
                window: t.critical_window,
            };
        }
        let warning = self.window(t.warning_window);
        let level = if enough(warning) && warning.rate() > t.warning_rate {
            AlertLevel::Warning
        } else {
            AlertLevel::Normal
        };
        Verdict {
            level,
            error_rate: warning.rate(),
            window: t.warning_window,
        }
    }

    /// The level after an observation at `now` that found `found`: raised at once, left once
    /// the observations have been below it for `clear_after` (`None`: at a later observation).
    /// An emergency is left at once: it needs a whole outage to come back, so it cannot flicker.
    fn settle(
        &mut self,
        now: Instant,
        found: AlertLevel,
        clear_after: Option<Duration>,
    ) -> AlertLevel {
        if found >= self.level || self.level == AlertLevel::Emergency {
            self.below_since = None;
            return found;
        }
        let since = *self.below_since.get_or_insert(now);
        let stayed = match clear_after {
            Some(after) => now.saturating_duration_since(since) >= after,
            None => since < now,
        };
        if stayed {
            self.below_since = None;
            found
        } else {
            self.level
        }
    }

    /// Growth from the oldest sample at or after `window` before the newest, to the newest.
    fn window(&self, window: Duration) -> Growth {
        let Some(latest) = self.points.back() else {
            return Growth {
                calls: 0,
                failures: 0,
            };
        };
        let from = latest.at.checked_sub(window);
        let base = self
            .points
            .iter()
            .find(|p| from.is_none_or(|from| p.at >= from))
            .unwrap_or(latest);
        Growth {
            calls: latest.calls.saturating_sub(base.calls),
            failures: latest.failures.saturating_sub(base.failures),
        }
    }
}

/// The message's account of a verdict: "6.0 % errors over 60s", "unavailable for 310s".
struct Detail<'a>(&'a Verdict);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Verdict {
            level,
            error_rate,
            window,
        } = self.0;
        match level {
            AlertLevel::Emergency => write!(f, "unavailable for {window:?}"),
            _ => write!(f, "{:.1} % errors over {window:?}", error_rate * 100.0),
        }
    }
}

impl fmt::Debug for ErrorRateMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorRateMonitor")
            .field("policy", &self.policy)
            .field("thresholds", &self.thresholds)
            .field("level", &self.level())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_history_stays_bounded_however_often_it_is_fed() {
        let monitor = ErrorRateMonitor::new("busy", AlertThresholds::new()).unwrap();
        for calls in 1..=6_000 {
            monitor.observe(Sample {
                calls,
                failures: 0,
                unavailable: false,
            });
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // 3000 observations in the last 5 minutes, kept every 0.9 s (the newest replaces the one
        // before it until it is a whole step past the one before that).
        let points = monitor.lock().points.len();
        assert_eq!(points, 334);
        assert!(points <= 2 * STEPS as usize + 3);
        // The window still reaches back 5 minutes (to within a step).
        let growth = monitor.lock().window(Duration::from_secs(300));
        assert!((2_990..=3_000).contains(&growth.calls), "{}", growth.calls);
    }

    #[tokio::test(start_paused = true)]
    async fn counters_that_go_down_start_the_history_over() {
        let monitor = ErrorRateMonitor::new("reset", AlertThresholds::new()).unwrap();
        let observe = |calls, failures| {
            monitor.observe(Sample {
                calls,
                failures,
                unavailable: false,
            })
        };
        observe(1_000, 0);
        tokio::time::advance(Duration::from_secs(10)).await;
        observe(1_100, 0);
        tokio::time::advance(Duration::from_secs(10)).await;
        observe(50, 50);
        assert_eq!(monitor.lock().points.len(), 1);
        assert_eq!(monitor.error_rate(Duration::from_secs(300)), None);
        assert_eq!(monitor.level(), AlertLevel::Normal);
        assert_eq!(monitor.unavailable_for(), None);
        tokio::time::advance(Duration::from_secs(10)).await;
        // More failures than calls are read as all calls failed.
        observe(90, 200);
        assert_eq!(monitor.error_rate(Duration::from_secs(60)), Some(1.0));
        assert_eq!(monitor.level(), AlertLevel::Critical);
    }
}
