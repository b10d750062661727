//! What the demo measures, every half second: each policy's counters as the registry shows them
//! (the library's own metrics), the latencies the service times itself, and the health report.
//! The terminal, the dashboard and the timeline all draw from this one history.

use resilient::BreakerState;
use resilient::health::HealthChecks;
use resilient::monitor::AlertLevel;
use resilient::registry::{self, PolicyInfo, PolicyKind, PolicyMetrics};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How often the history takes a sample.
pub(crate) const TICK: Duration = Duration::from_millis(500);

/// Durations in microseconds, taken since the last sample.
#[derive(Debug, Default)]
pub(crate) struct Latencies(Mutex<Vec<u32>>);

impl Latencies {
    /// A stopwatch that records when dropped: when its call finishes, or is cancelled by a
    /// timeout (then it records the timeout).
    pub(crate) fn time(&self) -> Stopwatch<'_> {
        Stopwatch {
            started: Instant::now(),
            into: self,
        }
    }

    fn take(&self) -> Option<Percentiles> {
        let mut taken = std::mem::take(&mut *lock(&self.0));
        taken.sort_unstable();
        let at = |q: f64| {
            let i = ((taken.len() - 1) as f64 * q).round() as usize;
            f64::from(taken[i]) / 1000.0
        };
        (!taken.is_empty()).then(|| Percentiles {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        })
    }
}

/// See [`Latencies::time`].
pub(crate) struct Stopwatch<'a> {
    started: Instant,
    into: &'a Latencies,
}

impl Drop for Stopwatch<'_> {
    fn drop(&mut self) {
        let micros = u32::try_from(self.started.elapsed().as_micros()).unwrap_or(u32::MAX);
        lock(&self.into.0).push(micros);
    }
}

/// The median and the 99th percentile of the latencies of one sample.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// A policy's counts, since it started (its totals) or during one sample.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Counts {
    /// Calls that went through it; for a breaker or a bulkhead, the ones it rejected included.
    pub(crate) calls: u64,
    /// Of those, the ones that failed: errors, timeouts, calls left unanswered.
    pub(crate) failed: u64,
    /// Of those, the ones it refused without running them.
    pub(crate) rejected: u64,
    /// A retry's waits between attempts.
    pub(crate) retries: u64,
    /// A retry's retries that the retry ratio did not let it make.
    pub(crate) withheld: u64,
    /// A fallback's answers.
    pub(crate) answered: u64,
    /// A breaker's openings.
    pub(crate) openings: u64,
}

impl Counts {
    fn since(&self, before: &Counts) -> Counts {
        Counts {
            calls: self.calls.saturating_sub(before.calls),
            failed: self.failed.saturating_sub(before.failed),
            rejected: self.rejected.saturating_sub(before.rejected),
            retries: self.retries.saturating_sub(before.retries),
            withheld: self.withheld.saturating_sub(before.withheld),
            answered: self.answered.saturating_sub(before.answered),
            openings: self.openings.saturating_sub(before.openings),
        }
    }

    /// The share of calls that failed or were refused, from 0 to 1; none without calls.
    pub(crate) fn error_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| (self.failed + self.rejected) as f64 / self.calls as f64)
    }
}

/// What one policy did during one sample.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) policy: &'static str,
    #[serde(serialize_with = "kind")]
    pub(crate) kind: PolicyKind,
    /// A breaker's state when the sample was taken.
    #[serde(serialize_with = "state")]
    pub(crate) state: Option<BreakerState>,
    pub(crate) alert: Option<AlertLevel>,
    /// During the sample.
    pub(crate) counts: Counts,
    /// Since the start.
    pub(crate) totals: Counts,
    /// For the fallback, the whole calls; for the timeout, each attempt at the upstream.
    pub(crate) latency: Option<Percentiles>,
}

fn kind<S: serde::Serializer>(kind: &PolicyKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

fn state<S: serde::Serializer>(state: &Option<BreakerState>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.map_or("", BreakerState::as_str))
}

/// Everything at the end of one sample.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Sample {
    /// Seconds since the start.
    pub(crate) t: f64,
    /// Seconds the sample covers.
    pub(crate) dt: f64,
    /// The script's phase at the end of the sample.
    pub(crate) phase: &'static str,
    /// When that phase began, in seconds since the start.
    pub(crate) phase_began: f64,
    /// What `/health` answers.
    pub(crate) health: u16,
    pub(crate) rows: Vec<Row>,
}

impl Sample {
    /// The first row of a kind.
    pub(crate) fn row(&self, kind: PolicyKind) -> Option<&Row> {
        self.rows.iter().find(|row| row.kind == kind)
    }

    /// `n` a second over the sample.
    pub(crate) fn per_second(&self, n: u64) -> f64 {
        if self.dt > 0.0 {
            n as f64 / self.dt
        } else {
            0.0
        }
    }
}

/// The service's own measures, and the history.
pub(crate) struct Recorder {
    started: Instant,
    checks: HealthChecks,
    /// The script's phase, and when it began.
    phase: Mutex<(&'static str, f64)>,
    /// Whole calls through the fallback, as the service's handler times them.
    pub(crate) calls: Latencies,
    /// Attempts at the upstream, as the timeout lets them run.
    pub(crate) attempts: Latencies,
    /// Requests the service answered from the upstream or the fallback.
    pub(crate) served: AtomicU64,
    /// Requests it could not answer (502): the fallback had no price to give.
    pub(crate) unanswered: AtomicU64,
    history: Mutex<History>,
}

#[derive(Default)]
struct History {
    /// Each policy's totals at the last sample, in the registry's order.
    totals: Vec<Counts>,
    samples: Vec<Sample>,
}

impl Recorder {
    /// A recorder that runs `checks` for each sample, as `/health` does.
    pub(crate) fn new(checks: HealthChecks) -> Self {
        Self {
            started: Instant::now(),
            checks,
            phase: Mutex::new(("starting", 0.0)),
            calls: Latencies::default(),
            attempts: Latencies::default(),
            served: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            history: Mutex::new(History::default()),
        }
    }

    /// The time since the recording started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Names the phase that the next samples fall in.
    pub(crate) fn set_phase(&self, phase: &'static str) {
        *lock(&self.phase) = (phase, self.elapsed().as_secs_f64());
    }

    /// Takes a sample every [`TICK`], forever.
    pub(crate) async fn run(&self) {
        let mut every = tokio::time::interval_at(self.started + TICK, TICK);
        loop {
            every.tick().await;
            self.sample().await;
        }
    }

    async fn sample(&self) {
        // The alert levels follow the error rates as `registry::watch` would have them.
        registry::sample();
        let health = self.checks.run().await.http_status();
        let policies = registry::policies();
        let (calls, attempts) = (self.calls.take(), self.attempts.take());
        let mut history = lock(&self.history);
        let t = self.started.elapsed().as_secs_f64();
        let dt = t - history.samples.last().map_or(0.0, |last| last.t);
        let mut rows = Vec::new();
        for (i, policy) in policies.iter().enumerate() {
            let Some(totals) = self.totals(policy) else {
                continue;
            };
            if history.totals.len() <= i {
                history.totals.resize(i + 1, Counts::default());
            }
            let counts = totals.since(&history.totals[i]);
            history.totals[i] = totals;
            rows.push(Row {
                policy: policy.name,
                kind: policy.kind,
                state: policy.state,
                alert: policy.alert,
                counts,
                totals,
                latency: match policy.kind {
                    PolicyKind::Fallback => calls,
                    PolicyKind::Timeout => attempts,
                    _ => None,
                },
            });
        }
        rows.sort_by_key(|row| (row.policy, outermost_first(row.kind)));
        let (phase, phase_began) = *lock(&self.phase);
        history.samples.push(Sample {
            t,
            dt,
            phase,
            phase_began,
            health,
            rows,
        });
    }

    /// A policy's totals, from its metrics; for the fallback, with the service's counts of the
    /// calls it wraps.
    fn totals(&self, policy: &PolicyInfo) -> Option<Counts> {
        let counts = match &policy.metrics {
            PolicyMetrics::CircuitBreaker(m) => Counts {
                calls: m.successes + m.failures + m.rejections,
                failed: m.failures,
                rejected: m.rejections,
                openings: m.openings,
                ..Counts::default()
            },
            PolicyMetrics::Retry(m) => Counts {
                calls: m.calls(),
                failed: m.failures,
                retries: m.retries,
                withheld: WITHHELD.load(Relaxed),
                ..Counts::default()
            },
            PolicyMetrics::Timeout(m) => Counts {
                calls: m.calls(),
                failed: m.timeouts,
                ..Counts::default()
            },
            PolicyMetrics::Bulkhead(m) => Counts {
                calls: m.admitted + m.rejected,
                rejected: m.rejected,
                ..Counts::default()
            },
            PolicyMetrics::Fallback(m) => Counts {
                calls: self.served.load(Relaxed) + self.unanswered.load(Relaxed),
                failed: self.unanswered.load(Relaxed),
                answered: m.fallbacks,
                ..Counts::default()
            },
            _ => return None,
        };
        Some(counts)
    }

    /// The last sample.
    pub(crate) fn latest(&self) -> Option<Sample> {
        lock(&self.history).samples.last().cloned()
    }

    /// Hands the history so far to `f`.
    pub(crate) fn with_history<R>(&self, f: impl FnOnce(&[Sample]) -> R) -> R {
        f(&lock(&self.history).samples)
    }
}

/// Where a kind of policy goes in the recommended order of the attributes, outermost first: the
/// table reads as the layers a call goes through.
fn outermost_first(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Fallback => 0,
        PolicyKind::Retry | PolicyKind::Hedge => 1,
        PolicyKind::CircuitBreaker => 2,
        PolicyKind::RateLimit => 3,
        PolicyKind::Bulkhead => 4,
        PolicyKind::Timeout => 5,
        _ => 6,
    }
}

/// The column names of [`cells`].
pub(crate) const COLUMNS: [&str; 10] = [
    "policy",
    "kind",
    "state",
    "calls/s",
    "errors",
    "rejected/s",
    "p50 ms",
    "p99 ms",
    "alert",
    "",
];

/// One row of the table the terminal and the dashboard show, as text.
pub(crate) fn cells(sample: &Sample, row: &Row) -> [String; 10] {
    let rate = |n: u64| format!("{:.0}", sample.per_second(n));
    let ms = |pick: fn(&Percentiles) -> f64| {
        row.latency
            .as_ref()
            .map_or("-".into(), |p| format!("{:.1}", pick(p)))
    };
    let note = match row.kind {
        PolicyKind::CircuitBreaker => format!("opened {}x so far", row.totals.openings),
        PolicyKind::Retry => format!(
            "retries {}/s, withheld {}/s",
            rate(row.counts.retries),
            rate(row.counts.withheld)
        ),
        PolicyKind::Fallback => format!("answered {}/s", rate(row.counts.answered)),
        _ => String::new(),
    };
    [
        row.policy.to_owned(),
        row.kind.as_str().to_owned(),
        row.state.map_or("-", BreakerState::as_str).to_owned(),
        rate(row.counts.calls),
        row.counts
            .error_rate()
            .map_or("-".into(), |r| format!("{:.1}%", r * 100.0)),
        rate(row.counts.rejected),
        ms(|p| p.p50_ms),
        ms(|p| p.p99_ms),
        row.alert.map_or("-", AlertLevel::as_str).to_owned(),
        note,
    ]
}

/// Retries the retry ratio withheld, counted from the library's `retry.exhausted` events.
static WITHHELD: AtomicU64 = AtomicU64::new(0);

/// A `tracing` layer that counts the retries the retry ratio withheld: the registry's retry
/// metrics count them among the calls that ran out (`exhausted`), and each says why in its event.
pub(crate) struct CountWithheld;

impl<S: Subscriber> Layer<S> for CountWithheld {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.name() == "retry.exhausted" {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        struct Reason(bool);
        impl tracing::field::Visit for Reason {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0 |= field.name() == "reason" && value == "retry_ratio";
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut reason = Reason(false);
        event.record(&mut reason);
        if reason.0 {
            WITHHELD.fetch_add(1, Relaxed);
        }
    }
}

/// The lock; what a panic left behind is still a valid measure.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
