//! Model-based test of the circuit breaker: a random sequence of operations drives the real
//! `CircuitBreaker` and a small sequential reference model written from DESIGN.md ("Semantics"),
//! on tokio's paused clock, and every step compares the two: the decision (granted, trial or not,
//! or rejected with its `retry_after`), `state()` and the metrics' counts and outage figures.
//! Configurations cover both modes, count and time windows, slow calls (with their own rate) and
//! `recovery_backoff`; operations include advancing the clock and calls that take a while.
//!
//! The model is deliberately plain — an enum of states with ordinary fields — and shares nothing
//! with the implementation's packed state word. Where DESIGN leaves a choice open, the model
//! follows the library's documented one:
//! - every change of state starts a new period (generation), `reset()` of a closed breaker
//!   included: an outcome from an earlier period is late — counted, never moving the state;
//! - half-open with every trial slot taken, a rejection's `retry_after` is the wait of the next
//!   opening (the soonest a trial could start again if a running one fails);
//! - `force_open()`, `disable()` and `reset()` forget the openings in a row;
//!   `metrics().openings` counts automatic openings only;
//! - an outage runs from an automatic opening from closed, or from `force_open()`, until the
//!   breaker closes (a recovery, when trials close it) or is reset or disabled.
//!
//! Cases: 10 000 per property by default; `PROPTEST_CASES` overrides it. A failing case is
//! shrunk and saved by proptest in `breaker_model.proptest-regressions` next to this file.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use resilient::{
    Backoff, BreakerConfig, BreakerMetrics, BreakerState, CircuitBreaker, Permit, RejectedKind,
};
use std::collections::VecDeque;
use std::time::Duration;

/// Most permits held at once; acquiring one more first drops the oldest, unrecorded.
const MAX_HELD: usize = 4;
/// Longest operation sequence of a case.
const MAX_OPS: usize = 60;

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `failure_threshold` failures in a row open it.
    Consecutive { failure_threshold: u32 },
    /// Opens when `failures / calls >= tenths / 10` (or, with slow calls judged, when
    /// `slow / calls >= slow_tenths / 10`) over the window, once it holds at least `minimum_calls`.
    Rate {
        tenths: u32,
        window: WindowSpec,
        minimum_calls: u32,
        /// `slow_call_rate`, in tenths; unset is 1.0.
        slow_tenths: Option<u32>,
    },
}

#[derive(Clone, Copy, Debug)]
enum WindowSpec {
    /// The last N calls.
    Count(u32),
    /// The calls of the last `period_ms`, in ten buckets of a tenth of it.
    Time { period_ms: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    mode: Mode,
    recovery_timeout_ms: u64,
    half_open_calls: u32,
    success_threshold: u32,
    /// `recovery_backoff(Backoff::exponential(rt, 8 × rt).jitter(0.0))`.
    backoff: bool,
    /// `slow_call`: calls at least this long are slow.
    slow_call_ms: Option<u64>,
}

impl Spec {
    fn breaker_config(&self) -> BreakerConfig {
        let rt = ms(self.recovery_timeout_ms);
        let mut config = BreakerConfig::new()
            .recovery_timeout(rt)
            .half_open_calls(self.half_open_calls)
            .success_threshold(self.success_threshold);
        config = match self.mode {
            Mode::Consecutive { failure_threshold } => config.failure_threshold(failure_threshold),
            Mode::Rate {
                tenths,
                window,
                minimum_calls,
                slow_tenths,
            } => {
                config = config
                    .failure_rate(f64::from(tenths) / 10.0)
                    .minimum_calls(minimum_calls);
                if let Some(slow) = slow_tenths {
                    config = config.slow_call_rate(f64::from(slow) / 10.0);
                }
                match window {
                    WindowSpec::Count(n) => config.window(n),
                    WindowSpec::Time { period_ms } => config.time_window(ms(period_ms)),
                }
            }
        };
        if self.backoff {
            config = config.recovery_backoff(Backoff::exponential(rt, rt * 8).jitter(0.0));
        }
        if let Some(slow) = self.slow_call_ms {
            config = config.slow_call(ms(slow));
        }
        config
    }

    /// How long the `k`-th opening since the breaker last closed waits, in ms: the recovery
    /// timeout; with the backoff, the longer of it and `min(rt × 2^(k-1), 8 × rt)` from k = 2 on.
    fn open_wait_ms(&self, k: u32) -> u64 {
        let rt = self.recovery_timeout_ms;
        if !self.backoff || k <= 1 {
            return rt;
        }
        let doubled = rt.saturating_mul(1u64 << (k - 1).min(32));
        doubled.min(8 * rt).max(rt)
    }
}

fn common_settings() -> impl Strategy<Value = (u64, u32, u32, bool, Option<u64>)> {
    (
        1..=100u64,
        1..=3u32,
        1..=3u32,
        any::<bool>(),
        prop::option::weighted(0.5, 1..=40u64),
    )
}

fn consecutive_spec() -> impl Strategy<Value = Spec> {
    (1..=5u32, common_settings()).prop_map(
        |(failure_threshold, (rt, hoc, st, backoff, slow_call_ms))| Spec {
            mode: Mode::Consecutive { failure_threshold },
            recovery_timeout_ms: rt,
            half_open_calls: hoc,
            success_threshold: st,
            backoff,
            slow_call_ms,
        },
    )
}

/// A count window of 1 to 8 calls, or a time window of 10 ms to 1 s.
fn window_spec() -> impl Strategy<Value = (WindowSpec, u32)> {
    prop_oneof![
        (1..=8u32).prop_map(|n| (WindowSpec::Count(n), n)),
        (10..=1000u64).prop_map(|period_ms| (WindowSpec::Time { period_ms }, 8)),
    ]
}

fn rate_spec() -> impl Strategy<Value = Spec> {
    (1..=10u32, window_spec())
        .prop_flat_map(|(tenths, (window, most))| (Just(tenths), Just(window), 1..=most))
        .prop_flat_map(|(tenths, window, minimum_calls)| {
            (common_settings(), prop::option::of(1..=10u32)).prop_map(
                move |((rt, hoc, st, backoff, slow_call_ms), slow_tenths)| Spec {
                    mode: Mode::Rate {
                        tenths,
                        window,
                        minimum_calls,
                        // `slow_call_rate` needs `slow_call`.
                        slow_tenths: slow_call_ms.and(slow_tenths),
                    },
                    recovery_timeout_ms: rt,
                    half_open_calls: hoc,
                    success_threshold: st,
                    backoff,
                    slow_call_ms,
                },
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Success,
    Failure,
    /// Dropped unrecorded (a cancelled call).
    Release,
}

#[derive(Clone, Debug)]
enum Op {
    /// `try_acquire()`; a granted permit is kept (the oldest is dropped first if `MAX_HELD` are).
    Acquire,
    /// `try_acquire()`, and a granted permit settled at once: a whole call.
    Call(Outcome),
    /// `try_acquire()`, then the clock advances this many ms, then the permit is settled: a call
    /// that takes a while (slow, if `slow_call` is at most that).
    LongCall(Outcome, u64),
    /// Settles a held permit (of any generation): the `n % held`-th newest, 0 the newest.
    Settle(u8, Outcome),
    /// `tokio::time::advance` by this many ms.
    Advance(u64),
    Reset,
    ForceOpen,
    Disable,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        5 => Just(Outcome::Failure),
        2 => Just(Outcome::Release),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Acquire),
        6 => outcome().prop_map(Op::Call),
        3 => (outcome(), 0..=60u64).prop_map(|(o, n)| Op::LongCall(o, n)),
        8 => (which(), outcome()).prop_map(|(n, o)| Op::Settle(n, o)),
        2 => (0..=20u64).prop_map(Op::Advance),
        2 => (0..=300u64).prop_map(Op::Advance),
        1 => Just(Op::Reset),
        1 => prop_oneof![4 => Just(Op::ForceOpen), 1 => Just(Op::Disable)],
    ]
}

/// The `n % len`-th newest of `len` held permits, as an index into them (oldest first).
fn newest(n: u8, len: usize) -> usize {
    len - 1 - n as usize % len
}

/// Which held permit an outcome goes to: mostly the newest (often the trial just granted).
fn which() -> impl Strategy<Value = u8> {
    prop_oneof![2 => Just(0u8), 1 => any::<u8>()]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..=MAX_OPS)
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

/// An outcome as a rate window holds it.
#[derive(Clone, Copy, Debug)]
struct Recorded {
    /// Which tenth of the time window it fell in.
    tick: u64,
    failed: bool,
    slow: bool,
}

#[derive(Clone, Debug)]
enum State {
    Closed {
        /// Consecutive mode: failures in a row.
        failures: u32,
        /// Rate mode: the outcomes recorded in this closed period (a count window keeps the last
        /// N; a time window judges those of the last ten tenths).
        window: VecDeque<Recorded>,
    },
    Open {
        /// When (ms on the paused clock) the first call may go through as a trial.
        until_ms: u64,
    },
    HalfOpen {
        in_flight: u32,
        successes: u32,
    },
    ForcedOpen,
    Disabled,
}

impl State {
    fn fresh_closed() -> Self {
        State::Closed {
            failures: 0,
            window: VecDeque::new(),
        }
    }

    fn public(&self) -> BreakerState {
        match self {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
            State::ForcedOpen => BreakerState::ForcedOpen,
            State::Disabled => BreakerState::Disabled,
        }
    }
}

/// What the model remembers of a permit it granted.
#[derive(Clone, Copy, Debug)]
struct Ticket {
    /// The state period that issued it: outcomes from an earlier period are late.
    period: u64,
    trial: bool,
    /// When it was issued (ms on the paused clock): the call is slow if it takes `slow_call`.
    started_ms: u64,
}

#[derive(Debug, PartialEq)]
enum Decision {
    Granted { trial: bool },
    Rejected { retry_after: Option<Duration> },
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counts {
    successes: u64,
    failures: u64,
    slow_calls: u64,
    rejections: u64,
    late_outcomes: u64,
    released: u64,
    openings: u64,
}

impl Counts {
    fn of(m: &BreakerMetrics) -> Self {
        Counts {
            successes: m.successes,
            failures: m.failures,
            slow_calls: m.slow_calls,
            rejections: m.rejections,
            late_outcomes: m.late_outcomes,
            released: m.released,
            openings: m.openings,
        }
    }
}

/// The outage figures of the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Outages {
    time_open: Duration,
    recoveries: u64,
    last_recovery: Option<Duration>,
    mttr: Option<Duration>,
}

impl Outages {
    fn of(m: &BreakerMetrics) -> Self {
        Outages {
            time_open: m.time_open,
            recoveries: m.recoveries,
            last_recovery: m.last_recovery,
            mttr: m.mttr,
        }
    }
}

struct Model {
    spec: Spec,
    state: State,
    /// Bumped on every change of state (automatic or manual, `reset()` of a closed breaker
    /// included): a permit's outcome counts only while the period that issued it lasts.
    period: u64,
    /// Openings since the breaker last closed (or was reset, forced open or disabled).
    openings_in_row: u32,
    now_ms: u64,
    counts: Counts,
    /// When the running outage began, if one runs.
    outage_since_ms: Option<u64>,
    /// Outages that ended, in total; those that ended in a recovery, their count, total and last.
    ended_outages_ms: u64,
    recoveries: u64,
    recovered_ms: u64,
    last_recovery_ms: u64,
}

impl Model {
    fn new(spec: Spec) -> Self {
        Model {
            spec,
            state: State::fresh_closed(),
            period: 0,
            openings_in_row: 0,
            now_ms: 0,
            counts: Counts::default(),
            outage_since_ms: None,
            ended_outages_ms: 0,
            recoveries: 0,
            recovered_ms: 0,
            last_recovery_ms: 0,
        }
    }

    fn outages(&self) -> Outages {
        let running = self.outage_since_ms.map_or(0, |since| self.now_ms - since);
        let recovered = (self.recoveries > 0).then_some(());
        Outages {
            time_open: ms(self.ended_outages_ms + running),
            recoveries: self.recoveries,
            last_recovery: recovered.map(|()| ms(self.last_recovery_ms)),
            // The mean in whole nanoseconds, as the breaker divides.
            mttr: recovered
                .map(|()| Duration::from_nanos(self.recovered_ms * 1_000_000 / self.recoveries)),
        }
    }

    /// Ends the running outage, if any: its length.
    fn end_outage(&mut self) -> Option<u64> {
        let length = self.now_ms - self.outage_since_ms.take()?;
        self.ended_outages_ms += length;
        Some(length)
    }

    /// Which tenth of a time window of `period_ms` the clock is in. The breaker's clock reads
    /// nanoseconds since its first reading (at the start of the case) plus one.
    fn tick(&self, period_ms: u64) -> u64 {
        let width = (period_ms * 1_000_000 / 10).max(1);
        (self.now_ms * 1_000_000 + 1) / width
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.period += 1;
    }

    fn open(&mut self) {
        if matches!(self.state, State::Closed { .. }) {
            self.outage_since_ms = Some(self.now_ms);
        }
        self.openings_in_row += 1;
        self.counts.openings += 1;
        let wait = self.spec.open_wait_ms(self.openings_in_row);
        self.enter(State::Open {
            until_ms: self.now_ms + wait,
        });
    }

    fn close(&mut self) {
        let length = self.end_outage().expect("closing ends an outage");
        self.recoveries += 1;
        self.recovered_ms += length;
        self.last_recovery_ms = length;
        self.openings_in_row = 0;
        self.enter(State::fresh_closed());
    }

    fn acquire(&mut self) -> (Decision, Option<Ticket>) {
        let grant = |model: &mut Model, trial: bool| {
            (
                Decision::Granted { trial },
                Some(Ticket {
                    period: model.period,
                    trial,
                    started_ms: model.now_ms,
                }),
            )
        };
        let reject = |model: &mut Model, retry_after: Option<Duration>| {
            model.counts.rejections += 1;
            (Decision::Rejected { retry_after }, None)
        };
        match self.state {
            State::Closed { .. } | State::Disabled => grant(self, false),
            State::Open { until_ms } if self.now_ms < until_ms => {
                reject(self, Some(ms(until_ms - self.now_ms)))
            }
            State::Open { .. } => {
                // The first call at or after the recovery timeout is the trial.
                self.enter(State::HalfOpen {
                    in_flight: 1,
                    successes: 0,
                });
                grant(self, true)
            }
            State::HalfOpen {
                ref mut in_flight, ..
            } if *in_flight < self.spec.half_open_calls => {
                *in_flight += 1;
                grant(self, true)
            }
            State::HalfOpen { .. } => {
                // Every trial slot is taken. The library's documented answer: a trial can start
                // again at the soonest after one fails and the breaker has waited once more.
                let wait = self.spec.open_wait_ms(self.openings_in_row + 1);
                reject(self, Some(ms(wait)))
            }
            State::ForcedOpen => reject(self, None),
        }
    }

    fn record(&mut self, ticket: Ticket, failed: bool) {
        let slow = self
            .spec
            .slow_call_ms
            .is_some_and(|limit| self.now_ms - ticket.started_ms >= limit);
        self.counts.slow_calls += u64::from(slow);
        if failed {
            self.counts.failures += 1;
        } else {
            self.counts.successes += 1;
        }
        if ticket.period != self.period {
            // Late: counted, never moves the state.
            self.counts.late_outcomes += 1;
            return;
        }
        if ticket.trial {
            let State::HalfOpen {
                in_flight,
                successes,
            } = &mut self.state
            else {
                unreachable!("a trial of the current period is half-open")
            };
            if failed || slow {
                // A slow trial is a failed trial.
                self.open();
            } else if *successes + 1 >= self.spec.success_threshold {
                self.close();
            } else {
                *successes += 1;
                *in_flight -= 1;
            }
            return;
        }
        let State::Closed { failures, .. } = &mut self.state else {
            // A permit from a disabled breaker: nothing is judged.
            return;
        };
        match self.spec.mode {
            Mode::Consecutive { failure_threshold } => {
                // A slow call counts as a failure.
                if !(failed || slow) {
                    *failures = 0;
                } else {
                    *failures += 1;
                    if *failures >= failure_threshold {
                        self.open();
                    }
                }
            }
            Mode::Rate {
                tenths,
                window: kind,
                minimum_calls,
                slow_tenths,
            } => {
                let tick = match kind {
                    WindowSpec::Count(_) => 0,
                    WindowSpec::Time { period_ms } => self.tick(period_ms),
                };
                let State::Closed { window, .. } = &mut self.state else {
                    unreachable!()
                };
                window.push_back(Recorded { tick, failed, slow });
                let live: Vec<Recorded> = match kind {
                    WindowSpec::Count(size) => {
                        if window.len() > size as usize {
                            window.pop_front();
                        }
                        window.iter().copied().collect()
                    }
                    // This tenth and the nine before it.
                    WindowSpec::Time { .. } => window
                        .iter()
                        .filter(|r| r.tick + 9 >= tick)
                        .copied()
                        .collect(),
                };
                let calls = live.len() as u64;
                let failing = live.iter().filter(|r| r.failed).count() as u64;
                let slow_ones = live.iter().filter(|r| r.slow).count() as u64;
                // rate ≥ tenths / 10, in integers; slow calls judged only if `slow_call` is set.
                let reaches = |n: u64, tenths: u32| n * 10 >= u64::from(tenths) * calls;
                let slow_rate_reached = self.spec.slow_call_ms.is_some()
                    && reaches(slow_ones, slow_tenths.unwrap_or(10));
                if calls >= u64::from(minimum_calls)
                    && (reaches(failing, tenths) || slow_rate_reached)
                {
                    self.open();
                }
            }
        }
    }

    fn release(&mut self, ticket: Ticket) {
        self.counts.released += 1;
        if ticket.trial && ticket.period == self.period {
            if let State::HalfOpen { in_flight, .. } = &mut self.state {
                *in_flight -= 1;
            }
        }
    }

    fn manual(&mut self, state: State) {
        self.openings_in_row = 0;
        if matches!(state, State::ForcedOpen) {
            // Forced open is an outage; forcing an open breaker open continues its outage.
            self.outage_since_ms.get_or_insert(self.now_ms);
        } else {
            self.end_outage();
        }
        self.enter(state);
    }
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

/// The breaker, the model, and the permits held on both sides.
struct Harness<'b> {
    breaker: &'b CircuitBreaker,
    model: Model,
    held: Vec<(Permit<'b>, Ticket)>,
}

impl Harness<'_> {
    /// Asks both for a permit and compares the decisions; a granted permit is kept (the oldest
    /// held one is dropped first if `MAX_HELD` are held). Returns whether it was granted.
    fn acquire(&mut self) -> Result<bool, TestCaseError> {
        if self.held.len() == MAX_HELD {
            self.settle(0, Outcome::Release);
        }
        let (expected, ticket) = self.model.acquire();
        let actual = match self.breaker.try_acquire() {
            Ok(permit) => {
                let trial = permit.is_trial();
                if let Some(ticket) = ticket {
                    self.held.push((permit, ticket));
                }
                Decision::Granted { trial }
            }
            Err(rejected) => {
                prop_assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
                prop_assert_eq!(rejected.policy(), "model");
                Decision::Rejected {
                    retry_after: rejected.retry_after(),
                }
            }
        };
        prop_assert_eq!(&actual, &expected, "decision");
        Ok(matches!(actual, Decision::Granted { .. }))
    }

    /// Records `outcome` on held permit `index` (oldest first), on both sides.
    fn settle(&mut self, index: usize, outcome: Outcome) {
        let (permit, ticket) = self.held.remove(index);
        match outcome {
            Outcome::Success => permit.success(),
            Outcome::Failure => permit.failure(),
            Outcome::Release => drop(permit),
        }
        match outcome {
            Outcome::Success => self.model.record(ticket, false),
            Outcome::Failure => self.model.record(ticket, true),
            Outcome::Release => self.model.release(ticket),
        }
    }

    async fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Acquire => {
                self.acquire()?;
            }
            Op::Call(outcome) => {
                if self.acquire()? {
                    self.settle(self.held.len() - 1, outcome);
                }
            }
            Op::LongCall(outcome, n) => {
                if self.acquire()? {
                    self.advance(n).await;
                    self.settle(self.held.len() - 1, outcome);
                }
            }
            Op::Settle(n, outcome) => {
                if !self.held.is_empty() {
                    self.settle(newest(n, self.held.len()), outcome);
                }
            }
            Op::Advance(n) => self.advance(n).await,
            Op::Reset => {
                self.breaker.reset();
                self.model.manual(State::fresh_closed());
            }
            Op::ForceOpen => {
                self.breaker.force_open();
                self.model.manual(State::ForcedOpen);
            }
            Op::Disable => {
                self.breaker.disable();
                self.model.manual(State::Disabled);
            }
        }
        let metrics = self.breaker.metrics();
        prop_assert_eq!(
            self.breaker.state(),
            self.model.state.public(),
            "state; model: {:?}",
            self.model.state
        );
        prop_assert_eq!(metrics.state, self.model.state.public(), "metrics.state");
        prop_assert_eq!(Counts::of(&metrics), self.model.counts, "metrics");
        prop_assert_eq!(Outages::of(&metrics), self.model.outages(), "outages");
        Ok(())
    }

    async fn advance(&mut self, n: u64) {
        tokio::time::advance(ms(n)).await;
        self.model.now_ms += n;
    }
}

fn run(spec: Spec, ops: &[Op]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let breaker = CircuitBreaker::new("model", spec.breaker_config());
        let mut harness = Harness {
            breaker: &breaker,
            model: Model::new(spec),
            held: Vec::new(),
        };
        // Starts the breaker's clock now, so that the model knows its time windows' tenths.
        harness.step(&Op::Reset).await?;
        for (step, op) in ops.iter().enumerate() {
            harness
                .step(op)
                .await
                .map_err(|e| TestCaseError::fail(format!("step {step} ({op:?}): {e}")))?;
        }
        Ok(())
    })
}

/// 10 000 cases per property, unless `PROPTEST_CASES` says otherwise.
fn proptest_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig {
            cases: 10_000,
            ..default
        }
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn consecutive_mode_matches_the_model(spec in consecutive_spec(), ops in ops()) {
        run(spec, &ops)?;
    }

    #[test]
    fn rate_mode_matches_the_model(spec in rate_spec(), ops in ops()) {
        run(spec, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// A few fixed sequences, so the model itself is checked against hand-derived expectations
// ---------------------------------------------------------------------------------------------

#[test]
fn the_model_agrees_with_a_hand_derived_trace() {
    use Op::*;
    use Outcome::*;
    let spec = Spec {
        mode: Mode::Consecutive {
            failure_threshold: 1,
        },
        recovery_timeout_ms: 10,
        half_open_calls: 1,
        success_threshold: 1,
        backoff: true,
        slow_call_ms: None,
    };
    // Two closed permits: the first failure opens (10 ms), the second outcome is late. After
    // 10 ms a trial goes through; a second caller is rejected (20 ms: the wait of the next
    // opening) until the trial is released; the next trial fails, and the second opening in a
    // row waits 20 ms; a successful trial closes it.
    let ops = [
        Acquire,
        Acquire,
        Settle(0, Failure),
        Settle(0, Success),
        Acquire,
        Advance(10),
        Acquire,
        Acquire,
        Settle(0, Release),
        Call(Failure),
        Advance(19),
        Acquire,
        Advance(1),
        Call(Success),
        Acquire,
    ];
    let granted = |trial| Decision::Granted { trial };
    let rejected = |n| Decision::Rejected {
        retry_after: Some(ms(n)),
    };
    let expected = [
        granted(false),
        granted(false),
        rejected(10),
        granted(true),
        rejected(20),
        granted(true),
        rejected(1),
        granted(true),
        granted(false),
    ];

    let mut model = Model::new(spec);
    let mut held = Vec::new();
    let mut decisions = Vec::new();
    let settle = |model: &mut Model, ticket, outcome| match outcome {
        Success => model.record(ticket, false),
        Failure => model.record(ticket, true),
        Release => model.release(ticket),
    };
    for op in &ops {
        match *op {
            Acquire | Call(_) => {
                let (decision, ticket) = model.acquire();
                decisions.push(decision);
                match (op, ticket) {
                    (Call(outcome), Some(ticket)) => settle(&mut model, ticket, *outcome),
                    _ => held.extend(ticket),
                }
            }
            Settle(n, outcome) => {
                let ticket = held.remove(newest(n, held.len()));
                settle(&mut model, ticket, outcome);
            }
            Advance(n) => model.now_ms += n,
            _ => unreachable!(),
        }
    }
    assert_eq!(decisions, expected);
    assert_eq!(model.state.public(), BreakerState::Closed);
    assert_eq!(
        model.counts,
        Counts {
            successes: 2,
            failures: 2,
            slow_calls: 0,
            rejections: 3,
            late_outcomes: 1,
            released: 1,
            openings: 2,
        }
    );
    // And the breaker agrees with the model on this trace.
    run(spec, &ops).unwrap();
}
