//! Errors per minute by kind, for [`registry::policies`](super::policies): each policy's failures
//! split into the seed's kinds, from its counters, and their rate over the last minute from
//! samples of them (taken by [`sample`](super::sample) and by each `policies()`).

use crate::BreakerState;
use crate::monitor::Sample;
use crate::policy::PolicyMetrics;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// The window the rates are over.
const MINUTE: Duration = Duration::from_secs(60);

/// Samples closer together than this are merged: at most about 60 a minute per policy.
const STEP: Duration = Duration::from_secs(1);

/// A policy's failures so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FailureCounts {
    /// The function's own errors.
    pub error: u64,
    /// Calls a timeout cut short.
    pub timeout: u64,
    /// Calls that panicked.
    pub panic: u64,
    /// Calls a policy refused: an open breaker, a full bulkhead, a rate limit, a rejection inside
    /// a retry or a fallback.
    pub rejection: u64,
}

impl FailureCounts {
    /// Whether every count is at least `earlier`'s.
    fn covers(&self, earlier: &FailureCounts) -> bool {
        self.error >= earlier.error
            && self.timeout >= earlier.timeout
            && self.panic >= earlier.panic
            && self.rejection >= earlier.rejection
    }
}

/// A policy's failures per minute by kind, over the last minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorsPerMinute {
    /// The function's own errors per minute.
    pub error: f64,
    /// Timeouts per minute.
    pub timeout: f64,
    /// Panics per minute.
    pub panic: f64,
    /// Rejections per minute.
    pub rejection: f64,
}

impl PolicyMetrics {
    /// The totals a policy's alert monitor judges; none for a fallback, which answers for
    /// failures and has no error rate of its own. A refusal (an open breaker's, a rate
    /// limiter's, a bulkhead's) is a failed call, for the caller as for the alert, and a breaker
    /// is unavailable while not closed.
    pub(crate) fn sample(&self) -> Option<Sample> {
        let (calls, failures, unavailable) = match self {
            PolicyMetrics::CircuitBreaker(m) => (
                m.calls() + m.rejections,
                m.failures + m.rejections,
                !matches!(m.state, BreakerState::Closed | BreakerState::Disabled),
            ),
            PolicyMetrics::Retry(m) => (m.calls(), m.failures, false),
            PolicyMetrics::Timeout(m) => (m.calls(), m.timeouts, false),
            PolicyMetrics::Fallback(_) => return None,
            PolicyMetrics::RateLimit(m) => (m.admitted + m.rejected, m.rejected, false),
            PolicyMetrics::Bulkhead(m) => (m.admitted + m.rejected, m.rejected, false),
            PolicyMetrics::Hedge(m) => (m.calls(), m.failures, false),
        };
        Some(Sample {
            calls,
            failures,
            unavailable,
        })
    }

    /// Its failures so far, by kind (each policy counts the kinds it can tell apart).
    pub fn failures_by_kind(&self) -> FailureCounts {
        let (error, timeout, panic, rejection) = match self {
            PolicyMetrics::CircuitBreaker(m) => (
                m.failures.saturating_sub(m.timeouts + m.panics),
                m.timeouts,
                m.panics,
                m.rejections,
            ),
            PolicyMetrics::Retry(m) => (m.failures.saturating_sub(m.aborted), 0, 0, m.aborted),
            PolicyMetrics::Timeout(m) => (0, m.timeouts, 0, 0),
            PolicyMetrics::Fallback(m) => (
                m.fallbacks.saturating_sub(m.after_rejection),
                0,
                0,
                m.after_rejection,
            ),
            PolicyMetrics::RateLimit(m) => (0, 0, 0, m.rejected),
            PolicyMetrics::Bulkhead(m) => (0, 0, 0, m.rejected),
            PolicyMetrics::Hedge(m) => (m.failures, 0, 0, 0),
        };
        FailureCounts {
            error,
            timeout,
            panic,
            rejection,
        }
    }
}

/// Samples of one policy's [`FailureCounts`], oldest first, reaching back a minute and a step.
#[derive(Debug, Default)]
pub(super) struct ErrorHistory {
    samples: VecDeque<(Instant, FailureCounts)>,
}

impl ErrorHistory {
    /// Records `counts` at `now` and returns the rates over the minute before it: the growth
    /// since the latest sample at least a minute old (or the oldest, scaled to a minute); zero
    /// before there are two samples.
    pub(super) fn observe(&mut self, now: Instant, counts: FailureCounts) -> ErrorsPerMinute {
        // A sample from later than now (another runtime's paused clock), or counts that went
        // down: the history starts over from this sample.
        if self
            .samples
            .back()
            .is_some_and(|(at, last)| *at > now || !counts.covers(last))
        {
            self.samples.clear();
        }
        let n = self.samples.len();
        if n >= 2 && now.saturating_duration_since(self.samples[n - 2].0) < STEP {
            self.samples[n - 1] = (now, counts);
        } else {
            self.samples.push_back((now, counts));
        }
        // Keep one sample at least a minute old: the base of the window.
        while self.samples.len() >= 2 && now.saturating_duration_since(self.samples[1].0) >= MINUTE
        {
            self.samples.pop_front();
        }
        let (at, base) = self.samples[0];
        let elapsed = now.saturating_duration_since(at);
        if elapsed.is_zero() {
            return ErrorsPerMinute::default();
        }
        let per_minute = |now: u64, then: u64| {
            now.saturating_sub(then) as f64 * MINUTE.as_secs_f64() / elapsed.as_secs_f64()
        };
        ErrorsPerMinute {
            error: per_minute(counts.error, base.error),
            timeout: per_minute(counts.timeout, base.timeout),
            panic: per_minute(counts.panic, base.panic),
            rejection: per_minute(counts.rejection, base.rejection),
        }
    }
}
