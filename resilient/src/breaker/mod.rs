//! [`CircuitBreaker`]: stop calling a dependency that keeps failing, and probe it before trusting it
//! again.

mod call;
#[cfg(feature = "redis")]
mod cluster;
mod config;
#[cfg(any(feature = "redis", loom))]
mod held;
mod registered;
mod state;
mod window;

pub use call::{BreakerCall, Classify};
pub use config::BreakerConfig;
pub(crate) use registered::KIND;

use crate::clock::{Deadline, Epoch, nanos};
use crate::config::{ConfigError, ConfigValue, Live};
use crate::name::{Name, PolicyName};
use crate::striped::StripedCounter;
use crate::sync::{AtomicU32, AtomicU64, maybe_const};
use crate::{Rejected, rejected};
use state::*;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Level;
use window::{Outcome, RateWindow};

/// Where a circuit breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until the recovery timeout has passed.
    Open,
    /// A limited number of trial calls go through; their outcome closes or reopens the breaker.
    HalfOpen,
    /// Set by [`CircuitBreaker::force_open`]: every call is rejected until [`CircuitBreaker::reset`].
    ForcedOpen,
    /// Set by [`CircuitBreaker::disable`]: every call goes through and nothing is judged, until
    /// [`CircuitBreaker::reset`].
    Disabled,
}

impl BreakerState {
    /// The state as events, metrics and reports write it: `closed`, `open`, `half_open`,
    /// `forced_open`, `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::Disabled => "disabled",
        }
    }
}

/// A circuit breaker: after too many failures it rejects calls at once, for a while, instead of
/// letting them pile up on a dependency that is down; then it lets a few trial calls through and
/// closes again if they succeed.
///
/// It is `Send + Sync`, const-constructed and usually a `static`. Deciding on a call is one atomic
/// load; in consecutive mode a closed breaker reads no clock, and a success while no failure is
/// recorded writes nothing shared. An open breaker rejects without reading the clock either: at
/// the opening it raises a flag that one process-wide thread (`resilient-alarms`, started at the
/// first opening) lowers 2 ms before the deadline; from then on rejections read the clock, so the
/// first trial comes at the deadline exactly. Under a paused tokio clock (tests) no flag is
/// raised and every rejection reads the virtual clock.
///
/// ```
/// use resilient::{BreakerConfig, BreakerState, CircuitBreaker, Rejected};
/// use std::time::Duration;
///
/// static PAYMENTS: CircuitBreaker = CircuitBreaker::new(
///     "payments",
///     BreakerConfig::new().failure_threshold(2).recovery_timeout(Duration::from_secs(30)),
/// );
///
/// #[derive(Debug)]
/// enum Error { Upstream, Rejected(Rejected) }
/// impl From<Rejected> for Error {
///     fn from(r: Rejected) -> Self { Error::Rejected(r) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// for _ in 0..2 {
///     let _ = PAYMENTS.call(async { Err::<(), _>(Error::Upstream) }).await;
/// }
/// assert_eq!(PAYMENTS.state(), BreakerState::Open);
/// match PAYMENTS.call(async { Ok::<_, Error>("never runs") }).await {
///     Err(Error::Rejected(r)) => assert!(r.retry_after().unwrap() <= Duration::from_secs(30)),
///     other => panic!("expected a rejection, got {other:?}"),
/// }
/// # }
/// ```
pub struct CircuitBreaker {
    name: PolicyName,
    config: Live<BreakerConfig>,
    /// Whether it is in the [`crate::registry`] yet.
    pub(crate) registration: crate::policy::Registration,
    word: AtomicU64,
    /// [`RATE_MODE`] and [`TIMED`] of the configuration in force, in one byte beside the state
    /// word: what a closed call's permit and its success need to know of the configuration.
    shape: std::sync::atomic::AtomicU8,
    /// When the current opening allows a trial: valid once `settled_generation` is the opening's.
    open_until: AtomicU64,
    /// `open_until` as a rejection carries it ([`Deadline`] bits), published with it.
    open_until_deadline: AtomicU64,
    /// Raised to [`quiet_value`] of an opening's generation while that opening's deadline is more
    /// than [`QUIET_MARGIN`] away, and lowered by the [`alarm`](crate::alarm) thread then: a
    /// rejection that finds its generation here needs no reading of the clock.
    quiet: OnceLock<Arc<AtomicU64>>,
    /// The generation whose transition has done its bookkeeping (deadline, outage, counts). The
    /// next transition waits for it, so transitions keep their books in the state word's order.
    settled_generation: AtomicU32,
    /// Openings since the breaker last closed; lengthens the wait under `recovery_backoff`.
    openings_in_row: AtomicU32,
    outage_started: AtomicU64,
    last_transition: AtomicU64,
    epoch: Epoch,
    window: OnceLock<RateWindow>,
    stats: Stats,
    /// The breaker's part in the cluster-wide decision, once it shares one through Redis: boxed,
    /// so that a breaker that shares nothing holds one pointer for it.
    #[cfg(feature = "redis")]
    cluster: OnceLock<Box<crate::shared::breaker::Cluster>>,
}

/// Outcome counts. Successes and rejections go to per-thread rows (`StripedCounter`): they happen
/// on every call.
struct Stats {
    successes: StripedCounter,
    rejections: StripedCounter,
    failures: std::sync::atomic::AtomicU64,
    slow_calls: std::sync::atomic::AtomicU64,
    late_outcomes: std::sync::atomic::AtomicU64,
    released: std::sync::atomic::AtomicU64,
    openings: std::sync::atomic::AtomicU64,
    /// Failures that were a timeout of the layer inside, and panics.
    timeouts: std::sync::atomic::AtomicU64,
    panics: std::sync::atomic::AtomicU64,
    /// Outages that ended (closed by trials or by `reset`): their total time, in nanoseconds.
    ended_outage_nanos: std::sync::atomic::AtomicU64,
    /// Outages that ended with trials succeeding, their total and the last one's length.
    recoveries: std::sync::atomic::AtomicU64,
    /// Openings whose first trial succeeded.
    false_positives: std::sync::atomic::AtomicU64,
    recovery_nanos: std::sync::atomic::AtomicU64,
    last_recovery_nanos: std::sync::atomic::AtomicU64,
}

/// A snapshot of a breaker's counts, from [`CircuitBreaker::metrics`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The state when the snapshot was taken.
    pub state: BreakerState,
    /// Calls that succeeded (slow ones included).
    pub successes: u64,
    /// Calls that failed, whatever the kind (`timeouts` and `panics` are among them).
    pub failures: u64,
    /// Failures that were the layer inside timing out (`#[timeout]` under `#[circuit_breaker]`).
    pub timeouts: u64,
    /// Failures that were a panic.
    pub panics: u64,
    /// Calls slower than `slow_call`, whatever their outcome.
    pub slow_calls: u64,
    /// Calls rejected without running.
    pub rejections: u64,
    /// Outcomes that arrived after the state had moved on: counted here, never moving the state.
    pub late_outcomes: u64,
    /// Permits dropped without an outcome (cancelled calls).
    pub released: u64,
    /// Times the breaker opened.
    pub openings: u64,
    /// When the state last changed, if it ever did.
    pub last_transition: Option<Instant>,
    /// Total time spent not closed (open, half-open, forced open), the current outage included.
    pub time_open: Duration,
    /// Outages that ended with the breaker closing again on successful trials.
    pub recoveries: u64,
    /// Openings whose first trial succeeded: the dependency answered as soon as it was asked
    /// again, a sign that the breaker opened on noise (thresholds too tight, a window too short).
    pub false_positives: u64,
    /// How long the last of those outages lasted, from the opening to the close.
    pub last_recovery: Option<Duration>,
    /// Mean time to recovery: the mean length of those outages.
    pub mttr: Option<Duration>,
}

impl BreakerMetrics {
    /// Calls that ran to an outcome: successes and failures.
    pub fn calls(&self) -> u64 {
        self.successes + self.failures
    }
}

impl BreakerConfig {
    maybe_const! {
        /// The closed breaker named `name` with this configuration, as
        /// [`CircuitBreaker::new`]`(name, self)`: the name written after the settings.
        ///
        /// ```
        /// use resilient::{BreakerConfig, CircuitBreaker};
        /// static API: CircuitBreaker = BreakerConfig::new().failure_threshold(5).build("api");
        /// assert_eq!(API.name(), "api");
        /// ```
        ///
        /// # Panics
        ///
        /// As [`CircuitBreaker::new`].
        pub fn build(self, name: &'static str) -> CircuitBreaker {
            CircuitBreaker::new(name, self)
        }
    }

    maybe_const! {
        /// [`build`](Self::build) for `#[circuit_breaker]`: named after the annotated function.
        #[doc(hidden)]
        pub fn build_for_function(self, name: Name) -> CircuitBreaker {
            match self.validate() {
                Ok(()) => CircuitBreaker::closed_with(PolicyName::of_function(name), self),
                Err(err) => panic!("{}", err.rule()),
            }
        }
    }
}

impl CircuitBreaker {
    maybe_const! {
        /// A closed breaker named `name` (the name labels it in events, metrics and rejections).
        ///
        /// # Panics
        ///
        /// If `config` is invalid; in a `static` or `const` that is a compile-time error. Build a
        /// configuration known only at run time with [`try_new`](Self::try_new) instead.
        pub fn new(name: &'static str, config: BreakerConfig) -> Self {
            // Checked here rather than in a helper, so that a compile-time error shows one frame.
            match config.validate() {
                Ok(()) => Self::closed_with(PolicyName::given(name), config),
                Err(err) => panic!("{}", err.rule()),
            }
        }
    }

    maybe_const! {
        /// A closed breaker, or the first problem with `config`.
        pub fn try_new(name: &'static str, config: BreakerConfig) -> Result<Self, ConfigError> {
            match config.validate() {
                Ok(()) => Ok(Self::closed_with(PolicyName::given(name), config)),
                Err(err) => Err(err.for_policy(name)),
            }
        }
    }

    maybe_const! {
        fn closed_with(name: PolicyName, config: BreakerConfig) -> Self {
            Self {
                name,
                config: Live::new(config),
                registration: crate::policy::Registration::new(),
                word: AtomicU64::new(pack(CLOSED, 0)),
                shape: std::sync::atomic::AtomicU8::new(shape_of(&config)),
                open_until: AtomicU64::new(0),
                open_until_deadline: AtomicU64::new(0),
                // Under loom, made with the breaker: loom cannot see `OnceLock`'s synchronisation.
                #[cfg(not(loom))]
                quiet: OnceLock::new(),
                #[cfg(loom)]
                quiet: OnceLock::from(Arc::new(AtomicU64::new(0))),
                settled_generation: AtomicU32::new(0),
                openings_in_row: AtomicU32::new(0),
                outage_started: AtomicU64::new(0),
                last_transition: AtomicU64::new(0),
                epoch: Epoch::new(),
                window: window_for(&config),
                stats: Stats {
                    successes: StripedCounter::new(),
                    rejections: StripedCounter::new(),
                    failures: std::sync::atomic::AtomicU64::new(0),
                    slow_calls: std::sync::atomic::AtomicU64::new(0),
                    late_outcomes: std::sync::atomic::AtomicU64::new(0),
                    released: std::sync::atomic::AtomicU64::new(0),
                    openings: std::sync::atomic::AtomicU64::new(0),
                    timeouts: std::sync::atomic::AtomicU64::new(0),
                    panics: std::sync::atomic::AtomicU64::new(0),
                    ended_outage_nanos: std::sync::atomic::AtomicU64::new(0),
                    recoveries: std::sync::atomic::AtomicU64::new(0),
                    false_positives: std::sync::atomic::AtomicU64::new(0),
                    recovery_nanos: std::sync::atomic::AtomicU64::new(0),
                    last_recovery_nanos: std::sync::atomic::AtomicU64::new(0),
                },
                #[cfg(feature = "redis")]
                cluster: OnceLock::new(),
            }
        }
    }

    /// The breaker's name.
    #[inline]
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The breaker's configuration: the one it was built with, or the last one set at run time
    /// through the [`registry`](crate::registry).
    #[inline]
    pub fn config(&self) -> impl std::ops::Deref<Target = BreakerConfig> + '_ {
        self.config.get()
    }

    /// The configuration it was built with.
    pub(crate) fn initial_config(&self) -> &BreakerConfig {
        &self.config.initial
    }

    /// Replaces the configuration of a running breaker, or explains why not (the old one stays).
    ///
    /// The state and counts carry over. The window a rate-mode breaker judges over is allocated
    /// when it starts, so the mode and the window cannot change.
    pub(crate) fn reconfigure(&self, config: BreakerConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let old = self.config();
        if config.is_rate_mode() != old.is_rate_mode() || config.window != old.window {
            let rule = "the mode (`failure_threshold` or `failure_rate`) and the `window` of a breaker are fixed when it is built";
            return Err(
                ConfigError::new("window", ConfigValue::Present, rule).for_policy(self.name())
            );
        }
        self.config.set(config);
        // After the configuration: a call that sees the new shape reads the new configuration.
        self.shape.store(shape_of(&config), Release);
        Ok(())
    }

    /// The current state. An open breaker whose recovery timeout has passed still reads `Open`:
    /// it turns half-open on the next call, which is the trial.
    pub fn state(&self) -> BreakerState {
        match state(self.word.load(Acquire)) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            HALF_OPEN => BreakerState::HalfOpen,
            FORCED_OPEN => BreakerState::ForcedOpen,
            _ => BreakerState::Disabled,
        }
    }

    /// Runs `fut` through the breaker: rejected at once (without polling `fut`) when the breaker
    /// is open, otherwise its `Err` is a failure and its `Ok` a success. A panic is a failure and
    /// goes on unwinding; a call dropped before it finishes counts as neither.
    #[inline]
    pub fn call<F, T, E>(&self, fut: F) -> BreakerCall<'_, F, fn(&E) -> bool>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        self.call_when(every_error_is_a_failure, fut)
    }

    /// [`call`](Self::call), where only the errors for which `is_failure` returns `true` count as
    /// failures; the others count as successes (the dependency answered). A timeout or a rejection
    /// from a layer inside is always a failure.
    ///
    /// ```
    /// # use resilient::{BreakerConfig, BreakerState, CircuitBreaker, Rejected};
    /// #[derive(Debug)]
    /// enum HttpError { Status(u16), Rejected(Rejected) }
    /// # impl From<Rejected> for HttpError { fn from(r: Rejected) -> Self { HttpError::Rejected(r) } }
    /// let server_errors_only = |e: &HttpError| matches!(e, HttpError::Status(500..=599));
    /// let api = CircuitBreaker::new("api", BreakerConfig::new().failure_threshold(1));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let not_found = api.call_when(server_errors_only, async { Err::<(), _>(HttpError::Status(404)) });
    /// assert!(not_found.await.is_err());
    /// assert_eq!(api.state(), BreakerState::Closed, "a 404 means the API is up");
    /// # });
    /// ```
    #[inline]
    pub fn call_when<F, T, E, P>(&self, is_failure: P, fut: F) -> BreakerCall<'_, F, P>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
        P: Fn(&E) -> bool,
    {
        BreakerCall::new(self, is_failure, fut)
    }

    /// [`call`](Self::call) for a blocking function.
    ///
    /// ```
    /// # use resilient::{BreakerConfig, CircuitBreaker};
    /// static DISK: CircuitBreaker = CircuitBreaker::new("disk", BreakerConfig::new());
    /// let read = DISK.call_sync(|| std::fs::read_to_string("/definitely/not/here"));
    /// assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// assert_eq!(DISK.metrics().failures, 1);
    /// ```
    #[inline]
    pub fn call_sync<T, E: From<Rejected>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.call_sync_when(every_error_is_a_failure, f)
    }

    /// [`call_when`](Self::call_when) for a blocking function.
    // Always: left to itself the compiler keeps it out of line, and a rejection then pays a call
    // and a copy of its result on top of the breaker's own work.
    ///
    /// `f` is your code: an error it returns is judged by `is_failure`, even one it made from a
    /// rejection or timeout of another layer it called (a layer cannot see through a closure).
    /// Stacked with the attributes, layers recognise each other exactly.
    #[inline(always)]
    pub fn call_sync_when<T, E: From<Rejected>>(
        &self,
        is_failure: impl Fn(&E) -> bool,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.call_blocking(is_failure, f, Some(rejected::Origin::USER_CODE))
    }

    /// Runs the blocking `f` through the breaker; `inner` says whose marks `f` leaves (`None`:
    /// `f` is a layer the attributes wrote, or the body they wrapped).
    #[inline(always)]
    pub(crate) fn call_blocking<T, E: From<Rejected>>(
        &self,
        is_failure: impl Fn(&E) -> bool,
        f: impl FnOnce() -> Result<T, E>,
        inner: Option<rejected::Origin>,
    ) -> Result<T, E> {
        let blocking = rejected::Origin::BLOCKING;
        // Dropped while `f` panics, the permit records a failure (see `Permit`'s `Drop`).
        let permit = self
            .acquire_for_call()
            .map_err(|r| rejected::reject(r, blocking))?;
        let result = f();
        let marks = call::Marks {
            inner,
            me: blocking,
        };
        call::settle(permit, &result, &is_failure, marks);
        result
    }

    /// Asks to make a call: a [`Permit`] to record its outcome on, or the rejection.
    ///
    /// ```
    /// # use resilient::{BreakerConfig, CircuitBreaker};
    /// static DB: CircuitBreaker = CircuitBreaker::new("db", BreakerConfig::new());
    /// # fn query() -> Result<u32, ()> { Ok(1) }
    /// match DB.try_acquire() {
    ///     Ok(permit) => match query() {
    ///         Ok(_) => permit.success(),
    ///         Err(_) => permit.failure(),
    ///     },
    ///     Err(rejected) => eprintln!("{rejected}"),
    /// }
    /// ```
    // `always`: left to `#[inline]`, rustc kept it out of line, and the permit it returned through
    // memory stalled on store forwarding in the caller (closed_breaker 3 ns became 11 ns).
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.acquire(|| !std::thread::panicking())
    }

    /// [`try_acquire`](Self::try_acquire) for a call that holds its permit only across its own
    /// code, in one frame: the permit's drop can then only be that code unwinding (the thread
    /// already panicking, a panic there would abort), so no reading of the panic count, whose
    /// two dependent loads cost an async call 2 ns.
    #[inline(always)]
    pub(crate) fn acquire_for_call(&self) -> Result<Permit<'_>, Rejected> {
        self.acquire(|| true)
    }

    /// A permit, `panic_fails` saying whether a panic unwinding through its drop is its call's.
    #[inline(always)]
    fn acquire(&self, panic_fails: impl Fn() -> bool) -> Result<Permit<'_>, Rejected> {
        let word = self.word.load(Acquire);
        // Inlined into the caller: a closed breaker decides with this one load.
        if state(word) == CLOSED && self.shape.load(Relaxed) & TIMED == 0 {
            let generation = generation(word);
            return Ok(Permit::issued(self, generation, false, 0, panic_fails()));
        }
        // Out of line, the decision comes back in two registers; the rejection is built here,
        // where the caller wants it. (Built out of line and returned through memory, the copy
        // stalled on store forwarding: a quarter of a rejection's time.)
        match self.try_acquire_slow(word) {
            Decision::Admit {
                generation,
                trial,
                started,
            } => Ok(Permit::issued(
                self,
                generation,
                trial,
                started,
                panic_fails(),
            )),
            Decision::Reject { until, trials_busy } => Err(self.rejected(until, trials_busy)),
        }
    }

    /// Past a closed breaker. Events are written out of line, so that the most frequent call here,
    /// an open breaker's rejection, runs in a small stack frame.
    #[inline(never)]
    fn try_acquire_slow(&self, mut word: u64) -> Decision {
        loop {
            match state(word) {
                CLOSED | DISABLED => return self.permit(word, false, None),
                HALF_OPEN => {
                    if trials_in_flight(word) >= self.config().half_open_calls {
                        // A trial is running: the soonest another could start is after it fails
                        // and the breaker waits again.
                        let wait = self
                            .config()
                            .open_wait(self.openings_in_row.load(Relaxed) + 1);
                        return self.reject(nanos(wait).min(NO_WAIT - 1), true);
                    }
                    match self
                        .word
                        .compare_exchange_weak(word, word + ONE_COUNT, AcqRel, Acquire)
                    {
                        Ok(_) => return self.permit(word, true, None),
                        Err(current) => word = current,
                    }
                }
                OPEN => {
                    if let Some(quiet) = self.quiet.get() {
                        // Acquire: the deadline was published before the flag went up.
                        if quiet.load(Acquire) == quiet_value(generation(word)) {
                            return self.reject(self.open_until_deadline.load(Relaxed), false);
                        }
                    }
                    let now = self.epoch.now();
                    let until = if self.settled_generation.load(Acquire) == generation(word) {
                        self.open_until.load(Relaxed)
                    } else {
                        let current = self.word.load(Acquire);
                        if current != word {
                            // Settled past this opening: the state has moved on since.
                            word = current;
                            continue;
                        }
                        // The thread that opened it has not published the deadline yet.
                        let wait = self.config().recovery_timeout;
                        let until = self.epoch.instant(now).map(|now| Deadline::at(now + wait));
                        return self.reject(until.map_or(NO_WAIT, Deadline::to_bits), false);
                    };
                    if now < until {
                        return self.reject(self.open_until_deadline.load(Relaxed), false);
                    }
                    let trial = pack(HALF_OPEN, next_generation(word)) + ONE_COUNT;
                    match self.word.compare_exchange(word, trial, AcqRel, Acquire) {
                        Ok(_) => {
                            self.last_transition.store(now, Relaxed);
                            self.settled_generation.store(generation(trial), Release);
                            self.report_half_open();
                            return self.permit(trial, true, Some(now));
                        }
                        Err(current) => word = current,
                    }
                }
                _ => return self.reject(NO_WAIT, false),
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn report_half_open(&self) {
        tracing::event!(
            name: "breaker.half_open",
            target: "resilient",
            Level::DEBUG,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            state = "half_open",
            "circuit breaker `{}` is half-open: letting a trial call through",
            self.name()
        );
    }

    fn permit(&self, word: u64, trial: bool, now: Option<u64>) -> Decision {
        let started = match self.config().slow_call {
            Some(_) => now.unwrap_or_else(|| self.epoch.now()),
            None => 0,
        };
        Decision::Admit {
            generation: generation(word),
            trial,
            started,
        }
    }

    /// Counts and reports a rejection; the caller builds the [`Rejected`]. `trials_busy`: the
    /// breaker is half-open with every trial slot taken, and `until` is the wait in nanoseconds;
    /// else `until` is the [`Deadline`]'s bits. [`NO_WAIT`] for none.
    #[inline]
    fn reject(&self, until: u64, trials_busy: bool) -> Decision {
        self.stats.rejections.increment();
        // Checked here, the event's machinery stays out of the rejection's stack frame.
        if tracing::level_filters::LevelFilter::current() >= Level::DEBUG {
            self.report_rejection(until, trials_busy);
        }
        Decision::Reject { until, trials_busy }
    }

    /// The rejection a [`Decision::Reject`] stands for.
    #[inline]
    fn rejected(&self, until: u64, trials_busy: bool) -> Rejected {
        let known = until != NO_WAIT;
        if trials_busy {
            Rejected::trials_busy(self.name(), known.then_some(until))
        } else {
            Rejected::circuit_open(self.name(), known.then(|| Deadline::from_bits(until)))
        }
    }

    #[cold]
    #[inline(never)]
    fn report_rejection(&self, until: u64, trials_busy: bool) {
        let rejected = self.rejected(until, trials_busy);
        tracing::event!(
            name: "breaker.rejected",
            target: "resilient",
            Level::DEBUG,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            retry_after_ms = rejected.retry_after().map(|wait| wait.as_millis() as u64),
            "{rejected}"
        );
    }

    /// Closes the breaker and forgets every failure, whatever state it was in (also ends
    /// [`force_open`](Self::force_open) and [`disable`](Self::disable)).
    pub fn reset(&self) {
        self.set_manual_state(CLOSED);
        tracing::event!(
            name: "breaker.reset",
            target: "resilient",
            Level::INFO,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            state = "closed",
            "circuit breaker `{}` was reset: calls go through",
            self.name()
        );
    }

    /// Opens the breaker until [`reset`](Self::reset), whatever the time: every call is rejected.
    ///
    /// ```
    /// # use resilient::{BreakerConfig, BreakerState, CircuitBreaker};
    /// static SEARCH: CircuitBreaker = CircuitBreaker::new("search", BreakerConfig::new());
    /// SEARCH.force_open(); // say, during a maintenance window
    /// let rejected = SEARCH.try_acquire().unwrap_err();
    /// assert_eq!(rejected.retry_after(), None);
    /// SEARCH.reset();
    /// assert_eq!(SEARCH.state(), BreakerState::Closed);
    /// ```
    pub fn force_open(&self) {
        self.set_manual_state(FORCED_OPEN);
        tracing::event!(
            name: "breaker.forced_open",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            state = "forced_open",
            "circuit breaker `{}` was forced open: every call is rejected until it is reset",
            self.name()
        );
    }

    /// Lets every call through and judges none, until [`reset`](Self::reset).
    pub fn disable(&self) {
        self.set_manual_state(DISABLED);
        tracing::event!(
            name: "breaker.disabled",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            state = "disabled",
            "circuit breaker `{}` was disabled: every call goes through unjudged until it is reset",
            self.name()
        );
    }

    fn set_manual_state(&self, target: u64) {
        let now = self.epoch.now();
        let mut word = self.word.load(Acquire);
        let manual = loop {
            word = self.after_bookkeeping(word);
            let manual = pack(target, next_generation(word));
            match self
                .word
                .compare_exchange_weak(word, manual, AcqRel, Acquire)
            {
                Ok(_) => break manual,
                Err(current) => word = current,
            }
        };
        self.openings_in_row.store(0, Relaxed);
        if target == FORCED_OPEN {
            // Forced open is an outage too; forcing an open breaker open continues its outage.
            if self.outage_started.load(Relaxed) == 0 {
                self.outage_started.store(now, Relaxed);
            }
        } else {
            self.end_outage(now);
        }
        self.last_transition.store(now, Relaxed);
        self.settled_generation.store(generation(manual), Release);
    }

    /// Waits until the transition into `word`'s generation has done its bookkeeping, and returns
    /// the state word as it is then. A transition only starts from a settled word.
    fn after_bookkeeping(&self, mut word: u64) -> u64 {
        while self.settled_generation.load(Acquire) != generation(word) {
            crate::sync::spin_wait();
            word = self.word.load(Acquire);
        }
        word
    }

    /// What rate mode's window holds for the current closed period (loom models check it).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn window_totals(&self) -> Option<(u64, u64, u64)> {
        let period = generation(self.word.load(Acquire));
        let totals = self.window.get()?.totals(period, || self.epoch.now());
        Some((totals.calls, totals.failures, totals.slow))
    }

    /// Whether an outage is being timed (loom models check it).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn outage_in_progress(&self) -> bool {
        self.outage_started.load(Relaxed) != 0
    }

    /// Counts so far, and the state.
    ///
    /// ```
    /// # use resilient::{BreakerConfig, CircuitBreaker};
    /// static CACHE: CircuitBreaker = CircuitBreaker::new("cache", BreakerConfig::new());
    /// CACHE.try_acquire().unwrap().success();
    /// CACHE.try_acquire().unwrap().failure();
    /// drop(CACHE.try_acquire().unwrap()); // cancelled: neither
    /// let m = CACHE.metrics();
    /// assert_eq!((m.successes, m.failures, m.released), (1, 1, 1));
    /// ```
    pub fn metrics(&self) -> BreakerMetrics {
        let s = &self.stats;
        let recoveries = s.recoveries.load(Relaxed);
        BreakerMetrics {
            state: self.state(),
            successes: s.successes.sum(),
            failures: s.failures.load(Relaxed),
            slow_calls: s.slow_calls.load(Relaxed),
            rejections: s.rejections.sum(),
            late_outcomes: s.late_outcomes.load(Relaxed),
            released: s.released.load(Relaxed),
            openings: s.openings.load(Relaxed),
            last_transition: self.epoch.instant(self.last_transition.load(Relaxed)),
            timeouts: s.timeouts.load(Relaxed),
            panics: s.panics.load(Relaxed),
            time_open: self.time_open(),
            recoveries,
            false_positives: s.false_positives.load(Relaxed),
            last_recovery: (recoveries > 0)
                .then(|| Duration::from_nanos(s.last_recovery_nanos.load(Relaxed))),
            mttr: (recoveries > 0)
                .then(|| Duration::from_nanos(s.recovery_nanos.load(Relaxed) / recoveries)),
        }
    }

    fn time_open(&self) -> Duration {
        let ended = self.stats.ended_outage_nanos.load(Relaxed);
        let started = self.outage_started.load(Relaxed);
        let current = if started == 0 {
            0
        } else {
            self.epoch.now().saturating_sub(started)
        };
        Duration::from_nanos(ended.saturating_add(current))
    }

    /// Ends the current outage, if any: its length, added to the time spent open.
    fn end_outage(&self, now: u64) -> Option<u64> {
        let started = self.outage_started.swap(0, Relaxed);
        (started != 0).then(|| {
            let length = now.saturating_sub(started);
            self.stats.ended_outage_nanos.fetch_add(length, Relaxed);
            length
        })
    }

    fn is_slow(&self, started: u64) -> bool {
        match self.config().slow_call {
            Some(limit) if started != 0 => {
                let slow = self.epoch.now().saturating_sub(started) >= nanos(limit);
                if slow {
                    self.stats.slow_calls.fetch_add(1, Relaxed);
                }
                slow
            }
            _ => false,
        }
    }

    #[inline(never)]
    fn on_success(&self, permit: &Permit<'_>) {
        self.stats.successes.increment();
        let slow = self.is_slow(permit.started);
        if permit.trial() {
            return self.on_trial_outcome(permit.generation(), !slow);
        }
        if self.config().is_rate_mode() {
            return self.on_rate_outcome(
                permit.generation(),
                Outcome {
                    failure: false,
                    slow,
                },
            );
        }
        if slow {
            return self.on_consecutive_failure(permit.generation());
        }
        let mut word = self.word.load(Relaxed);
        // Only a recorded failure makes a success write anything.
        while generation(word) == permit.generation()
            && state(word) == CLOSED
            && consecutive_failures(word) > 0
        {
            match self.word.compare_exchange_weak(
                word,
                pack(CLOSED, permit.generation()),
                AcqRel,
                Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
        if generation(word) != permit.generation() {
            self.stats.late_outcomes.fetch_add(1, Relaxed);
        }
    }

    #[inline(never)]
    fn on_failure(&self, permit: &Permit<'_>) {
        self.stats.failures.fetch_add(1, Relaxed);
        #[cfg(feature = "redis")]
        if let Some(cluster) = self.cluster.get() {
            cluster.keep_running();
        }
        let slow = self.is_slow(permit.started);
        if permit.trial() {
            self.on_trial_outcome(permit.generation(), false);
        } else if self.config().is_rate_mode() {
            self.on_rate_outcome(
                permit.generation(),
                Outcome {
                    failure: true,
                    slow,
                },
            );
        } else {
            self.on_consecutive_failure(permit.generation());
        }
    }

    /// Loads the word for an outcome of `generation`: `None` (and counted as late) when the state
    /// has moved on since the permit was issued.
    fn current_for(&self, generation_of_permit: u32) -> Option<u64> {
        let word = self.word.load(Acquire);
        if generation(word) == generation_of_permit {
            Some(word)
        } else {
            self.stats.late_outcomes.fetch_add(1, Relaxed);
            None
        }
    }

    fn on_consecutive_failure(&self, generation_of_permit: u32) {
        let Some(mut word) = self.current_for(generation_of_permit) else {
            return;
        };
        while state(word) == CLOSED && generation(word) == generation_of_permit {
            let failures = consecutive_failures(word) + 1;
            let next = if failures >= self.config().failure_threshold {
                let settled = self.after_bookkeeping(word);
                if settled != word {
                    word = settled;
                    continue;
                }
                pack(OPEN, next_generation(word))
            } else {
                word + ONE_COUNT
            };
            match self.word.compare_exchange_weak(word, next, AcqRel, Acquire) {
                Ok(_) if state(next) == OPEN => return self.opened(next, OpenedFrom::Closed),
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
        if generation(word) != generation_of_permit {
            self.stats.late_outcomes.fetch_add(1, Relaxed);
        }
    }

    fn on_rate_outcome(&self, generation_of_permit: u32, outcome: Outcome) {
        let Some(word) = self.current_for(generation_of_permit) else {
            return;
        };
        if state(word) != CLOSED {
            return;
        }
        // One configuration for the whole judgement, even if it is replaced meanwhile.
        let config = self.config();
        let window = self.window.get_or_init(|| RateWindow::new(config.window));
        let totals = window.record(generation_of_permit, outcome, || self.epoch.now());
        if totals.calls < u64::from(config.minimum_calls) || totals.calls == 0 {
            return;
        }
        let calls = totals.calls as f64;
        let failing =
            (config.failure_rate).is_some_and(|rate| totals.failures as f64 / calls >= rate);
        let slow = config.slow_call.is_some()
            && totals.slow as f64 / calls >= config.slow_call_rate.unwrap_or(1.0);
        if !(failing || slow) {
            return;
        }
        // Another failure may have counted meanwhile: the judgement holds as long as the period.
        let mut word = self.after_bookkeeping(word);
        while state(word) == CLOSED && generation(word) == generation_of_permit {
            let open = pack(OPEN, next_generation(word));
            match self.word.compare_exchange(word, open, AcqRel, Acquire) {
                Ok(_) => return self.opened(open, OpenedFrom::Closed),
                Err(current) => word = self.after_bookkeeping(current),
            }
        }
        // The period ended before its judgement could open it: the outcome came too late to act.
        if generation(word) != generation_of_permit {
            self.stats.late_outcomes.fetch_add(1, Relaxed);
        }
    }

    fn on_trial_outcome(&self, generation_of_permit: u32, succeeded: bool) {
        let Some(mut word) = self.current_for(generation_of_permit) else {
            return;
        };
        while state(word) == HALF_OPEN && generation(word) == generation_of_permit {
            let settled = self.after_bookkeeping(word);
            if settled != word {
                word = settled;
                continue;
            }
            let next = if !succeeded {
                pack(OPEN, next_generation(word))
            } else if trial_successes(word) + 1 >= self.config().success_threshold {
                pack(CLOSED, next_generation(word))
            } else {
                word - ONE_COUNT + ONE_SUCCESS
            };
            match self.word.compare_exchange_weak(word, next, AcqRel, Acquire) {
                Ok(_) if succeeded => {
                    // The first outcome of the first trials after an opening from closed.
                    if trial_successes(word) == 0 && self.openings_in_row.load(Relaxed) == 1 {
                        self.stats.false_positives.fetch_add(1, Relaxed);
                    }
                    if state(next) == CLOSED {
                        return self.closed(next);
                    }
                    return;
                }
                Ok(_) => return self.opened(next, OpenedFrom::HalfOpen),
                Err(current) => word = current,
            }
        }
        if generation(word) != generation_of_permit {
            self.stats.late_outcomes.fetch_add(1, Relaxed);
        }
    }

    #[inline(never)]
    fn release(&self, permit: &Permit<'_>) {
        self.stats.released.fetch_add(1, Relaxed);
        if !permit.trial() {
            return;
        }
        let mut word = self.word.load(Acquire);
        while state(word) == HALF_OPEN
            && generation(word) == permit.generation()
            && trials_in_flight(word) > 0
        {
            match self
                .word
                .compare_exchange_weak(word, word - ONE_COUNT, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Side effects of a transition to open, made by the thread whose CAS won it.
    fn opened(&self, word: u64, from: OpenedFrom) {
        let now = self.epoch.now();
        // Only a failed trial lengthens the wait; an opening from closed starts the count over
        // (the close itself does not reset it: an opening racing the close would count as a reopening).
        let in_row = match from {
            OpenedFrom::HalfOpen => self.openings_in_row.fetch_add(1, Relaxed) + 1,
            OpenedFrom::Closed => {
                self.openings_in_row.store(1, Relaxed);
                1
            }
        };
        if in_row == 1 {
            self.outage_started.store(now, Relaxed);
        }
        let wait = self.config().open_wait(in_row);
        // A trial that failed while the cluster's breaker is open leaves the next to the cluster.
        let until = if self.is_held_by_cluster() {
            HELD
        } else {
            now.saturating_add(nanos(wait))
        };
        self.stats.openings.fetch_add(1, Relaxed);
        self.publish_opening(word, now, until, Some(wait));
        #[cfg(feature = "redis")]
        if let (OpenedFrom::HalfOpen, Some(cluster)) = (from, self.cluster.get()) {
            cluster.trial_ended(false);
        }
        tracing::event!(
            name: "breaker.opened",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            state = "open",
            from = from.as_str(),
            openings_in_row = in_row,
            wait_ms = wait.as_millis() as u64,
            "circuit breaker `{}` opened: calls are rejected for {}",
            self.name(),
            crate::clock::Rounded(wait)
        );
    }

    /// Publishes the opening into `word`'s generation, made at `now`: a trial is allowed from
    /// `until` (epoch nanoseconds, or [`HELD`]), and rejections tell callers to come back after
    /// `wait`, if known.
    fn publish_opening(&self, word: u64, now: u64, until: u64, wait: Option<Duration>) {
        self.open_until.store(until, Relaxed);
        let until_instant =
            wait.and_then(|wait| self.epoch.instant(now.saturating_add(nanos(wait))));
        let deadline = until_instant.map_or(NO_WAIT, |at| Deadline::at(at).to_bits());
        self.open_until_deadline.store(deadline, Relaxed);
        self.last_transition.store(now, Relaxed);
        self.settled_generation.store(generation(word), Release);
        if let (Some(until), Some(wait)) = (until_instant, wait) {
            self.stay_quiet_until_near(generation(word), until, wait);
        }
    }

    /// Whether the cluster's breaker holds this one open (never without the `redis` feature).
    #[inline]
    fn is_held_by_cluster(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.cluster.get().is_some_and(|cluster| cluster.holds());
        #[cfg(not(feature = "redis"))]
        false
    }

    /// Raises the quiet flag for the opening of `generation`, to come down [`QUIET_MARGIN`] before
    /// `until`. Only on the real clock: under a paused clock (tests) the deadline is on tokio's
    /// virtual time, which the alarm thread does not follow, so rejections read the clock.
    #[cfg(not(loom))]
    fn stay_quiet_until_near(&self, generation: u32, until: Instant, wait: Duration) {
        if wait <= QUIET_MARGIN || !crate::clock::tokio_clock_is_real() {
            return;
        }
        let flag = self
            .quiet
            .get_or_init(|| Arc::new(AtomicU64::new(crate::alarm::LOWERED)));
        crate::alarm::raise_until(
            flag,
            quiet_value(generation),
            until.into_std() - QUIET_MARGIN,
        );
    }

    /// Under loom the flag is raised for good (there is no alarm thread): the models check what a
    /// quiet rejection reads, not when the flag comes down.
    #[cfg(loom)]
    fn stay_quiet_until_near(&self, generation: u32, _: Instant, wait: Duration) {
        if wait <= QUIET_MARGIN {
            return;
        }
        if let Some(flag) = self.quiet.get() {
            flag.store(quiet_value(generation), Release);
        }
    }

    fn closed(&self, word: u64) {
        let now = self.epoch.now();
        let outage = self.end_outage(now).unwrap_or(0);
        let s = &self.stats;
        s.recovery_nanos.fetch_add(outage, Relaxed);
        s.last_recovery_nanos.store(outage, Relaxed);
        s.recoveries.fetch_add(1, Relaxed);
        self.last_transition.store(now, Relaxed);
        self.settled_generation.store(generation(word), Release);
        #[cfg(feature = "redis")]
        if let Some(cluster) = self.cluster.get() {
            cluster.trial_ended(true);
        }
        let outage = Duration::from_nanos(outage);
        #[cfg(feature = "metrics")]
        metrics::histogram!("resilient_breaker_recovery_seconds", "policy" => self.name(), "kind" => "circuit_breaker")
            .record(outage.as_secs_f64());
        tracing::event!(
            name: "breaker.closed",
            target: "resilient",
            Level::INFO,
            correlation_id = crate::correlation::field(),
            policy = self.name(),
            state = "closed",
            outage_ms = outage.as_millis() as u64,
            "circuit breaker `{}` closed again after {}: calls go through",
            self.name(),
            crate::clock::Rounded(outage)
        );
    }
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("config", &*self.config())
            .finish_non_exhaustive()
    }
}

/// The state a breaker opened from.
#[derive(Clone, Copy)]
enum OpenedFrom {
    Closed,
    HalfOpen,
}

impl OpenedFrom {
    fn as_str(self) -> &'static str {
        match self {
            OpenedFrom::Closed => "closed",
            OpenedFrom::HalfOpen => "half_open",
        }
    }
}

/// Rate mode's window, built on the first outcome.
#[cfg(not(loom))]
const fn window_for(_: &BreakerConfig) -> OnceLock<RateWindow> {
    OnceLock::new()
}

/// Under loom, built with the breaker: loom cannot see `OnceLock`'s synchronisation, so a window
/// built lazily by one model thread would look unsynchronised to the others.
#[cfg(loom)]
fn window_for(config: &BreakerConfig) -> OnceLock<RateWindow> {
    let window = OnceLock::new();
    if config.is_rate_mode() {
        let _ = window.set(RateWindow::new(config.window));
    }
    window
}

fn every_error_is_a_failure<E>(_: &E) -> bool {
    true
}

/// Leave to make one call through a [`CircuitBreaker`]; record how it went with
/// [`success`](Self::success) or [`failure`](Self::failure).
///
/// Dropped without either (the call was cancelled), it is released: a half-open trial slot frees
/// up, and the call counts as neither success nor failure. Dropped while its thread panics from a
/// panic that began after the permit was issued (the call panicked), it records a failure; in a
/// panic that was already unwinding when it was issued, it is released. An outcome recorded after
/// the breaker changed state (another call reopened it meanwhile) is counted in the metrics but
/// moves nothing.
#[must_use = "record the call's outcome with `success()` or `failure()`"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    /// When the call started (epoch nanoseconds), if slow calls are judged; else 0.
    started: u64,
    /// The generation it was issued in (the low 32 bits), [`TRIAL`] and [`PANIC_FAILS`], in one
    /// word written by one store. (As fields of their own, each byte was stored apart, and the
    /// copy of a permit moved out of an `Option` read them in pieces spanning two stores, which
    /// stalled on store forwarding: an annotated async call took 8.9 ns, 7.3 with one word.)
    bits: u64,
}

/// A half-open trial's permit.
const TRIAL: u64 = 1 << 32;
/// A panic unwinding through the permit's drop is the call's own: not when the permit was issued
/// while the thread already unwound, nor while a pending call's future keeps it (that future may
/// be dropped in someone else's panic).
const PANIC_FAILS: u64 = 1 << 33;

impl<'a> Permit<'a> {
    #[inline(always)]
    fn issued(
        breaker: &'a CircuitBreaker,
        generation: u32,
        trial: bool,
        started: u64,
        panic_fails: bool,
    ) -> Self {
        let trial = if trial { TRIAL } else { 0 };
        let panic_fails = if panic_fails { PANIC_FAILS } else { 0 };
        Self {
            breaker,
            started,
            bits: u64::from(generation) | trial | panic_fails,
        }
    }

    #[inline(always)]
    fn generation(&self) -> u32 {
        self.bits as u32
    }

    #[inline(always)]
    fn trial(&self) -> bool {
        self.bits & TRIAL != 0
    }
}

impl Permit<'_> {
    /// The call succeeded.
    // `always` for the same reason as `try_acquire`: out of line, the permit passed by reference
    // was copied with loads that spanned the caller's stores.
    #[inline(always)]
    pub fn success(self) {
        let permit = ManuallyDrop::new(self);
        let breaker = permit.breaker;
        // Inlined into the caller: while closed with no failure recorded, a success in
        // consecutive mode only counts itself, in this thread's row.
        let untimed_closed_call =
            !permit.trial() && permit.started == 0 && breaker.shape.load(Relaxed) & RATE_MODE == 0;
        if untimed_closed_call && breaker.word.load(Relaxed) == pack(CLOSED, permit.generation()) {
            breaker.stats.successes.increment();
        } else {
            breaker.on_success(&permit);
        }
    }

    /// The call failed.
    pub fn failure(self) {
        let permit = ManuallyDrop::new(self);
        permit.breaker.on_failure(&permit);
    }

    /// The call failed by timing out in the layer inside: counted apart as well.
    pub(crate) fn timed_out(self) {
        self.breaker.stats.timeouts.fetch_add(1, Relaxed);
        self.failure();
    }

    /// Whether this call is a half-open trial.
    pub fn is_trial(&self) -> bool {
        self.trial()
    }

    /// A permit whose drop is a release even while the thread panics: kept by a pending call's
    /// future, which may be dropped in someone else's panic, or let go after a refusal inside.
    pub(crate) fn released_when_dropped(mut self) -> Self {
        self.bits &= !PANIC_FAILS;
        self
    }

    /// A permit taken back by its holder to run its call again, in one frame (see
    /// [`CircuitBreaker::acquire_for_call`]).
    pub(crate) fn failing_on_panic(mut self) -> Self {
        self.bits |= PANIC_FAILS;
        self
    }
}

/// What the slow path of [`CircuitBreaker::try_acquire`] decided: small enough to come back in
/// registers.
enum Decision {
    Admit {
        generation: u32,
        trial: bool,
        started: u64,
    },
    /// See [`CircuitBreaker::reject`]: `until` is [`NO_WAIT`] for none, as an `Option` would not
    /// fit in registers.
    Reject { until: u64, trials_busy: bool },
}

/// [`CircuitBreaker::shape`]: the breaker judges a failure rate over a window (fixed when built).
const RATE_MODE: u8 = 1;
/// [`CircuitBreaker::shape`]: calls are timed against `slow_call`.
const TIMED: u8 = 2;

const fn shape_of(config: &BreakerConfig) -> u8 {
    let rate = if config.is_rate_mode() { RATE_MODE } else { 0 };
    let timed = if config.slow_call.is_some() { TIMED } else { 0 };
    rate | timed
}

/// A rejection's `until` when there is no wait to give (forced open).
const NO_WAIT: u64 = u64::MAX;

/// `open_until` of an opening the cluster holds: no trial here until the cluster leases one to
/// this replica or closes.
const HELD: u64 = u64::MAX;

/// How long before an opening's deadline its [`CircuitBreaker::quiet`] flag comes down: from then
/// on rejections read the clock, so the first trial starts at the deadline exactly, however late
/// the alarm thread wakes within this margin.
const QUIET_MARGIN: Duration = Duration::from_millis(2);

/// The value of the quiet flag for an opening of `generation`: never [`crate::alarm::LOWERED`].
const fn quiet_value(generation: u32) -> u64 {
    generation as u64 + 1
}

impl Drop for Permit<'_> {
    /// Unrecorded: released, unless the call panicked (the thread began to panic since the permit
    /// was issued), which makes it a failure.
    fn drop(&mut self) {
        if self.bits & PANIC_FAILS != 0 && std::thread::panicking() {
            self.breaker.stats.panics.fetch_add(1, Relaxed);
            self.breaker.on_failure(self);
        } else {
            self.breaker.release(self);
        }
    }
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("trial", &self.trial())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neither_the_mode_nor_the_window_changes_once_built() {
        let rate = CircuitBreaker::new(
            "fixed.rate",
            BreakerConfig::new().failure_rate(0.5).window(20),
        );
        let window_alone = BreakerConfig::new().failure_rate(0.5).window(30);
        let mode_alone = BreakerConfig::new().window(20);
        for changed in [window_alone, mode_alone] {
            let err = rate.reconfigure(changed).unwrap_err();
            assert_eq!(err.key(), "window", "{changed:?}");
        }
        assert_eq!(
            *rate.config(),
            BreakerConfig::new().failure_rate(0.5).window(20)
        );
        let threshold = BreakerConfig::new().failure_rate(0.25).window(20);
        assert_eq!(rate.reconfigure(threshold), Ok(()));
    }

    use crate::clock::READINGS;
    use std::time::Instant as StdInstant;

    fn opened_by_one_failure(name: &'static str, recovery: Duration) -> CircuitBreaker {
        let breaker = CircuitBreaker::new(
            name,
            BreakerConfig::new()
                .failure_threshold(1)
                .recovery_timeout(recovery),
        );
        let _ = breaker.call_sync(|| Err::<(), Rejected>(Rejected::circuit_open("dep", None)));
        assert_eq!(breaker.state(), BreakerState::Open);
        breaker
    }

    fn quiet(breaker: &CircuitBreaker) -> bool {
        breaker
            .quiet
            .get()
            .is_some_and(|flag| flag.load(Acquire) != crate::alarm::LOWERED)
    }

    #[test]
    fn an_open_breaker_rejects_without_reading_the_clock() {
        let breaker = opened_by_one_failure("quiet.hour", Duration::from_secs(3600));
        assert!(quiet(&breaker));
        READINGS.set(0);
        let rejections: Vec<Rejected> = (0..1000)
            .map(|_| breaker.call_sync(|| Ok::<(), Rejected>(())).unwrap_err())
            .collect();
        assert_eq!(READINGS.get(), 0, "a rejection read the clock");
        assert_eq!(breaker.metrics().rejections, 1000);
        // The wait is worked out when asked, from the opening's deadline.
        let wait = rejections[999].retry_after().unwrap();
        assert!(wait <= Duration::from_secs(3600), "{wait:?}");
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
        assert_eq!(rejections[0], rejections[999]);
    }

    /// On the real clock, so bounded: the breaker is open for 30 ms and the test gives up after
    /// ten seconds. What it checks is order, not timing: the flag comes down before the deadline
    /// and not before the margin; past it rejections read the clock, and at the deadline a trial
    /// goes through.
    #[test]
    fn the_quiet_flag_comes_down_just_before_the_deadline() {
        let opened = StdInstant::now();
        let breaker = opened_by_one_failure("quiet.short", Duration::from_millis(30));
        let deadline = opened + Duration::from_millis(30);
        let give_up = StdInstant::now() + Duration::from_secs(10);
        while quiet(&breaker) {
            assert!(
                StdInstant::now() < give_up,
                "the quiet flag never came down"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(StdInstant::now() >= opened + Duration::from_millis(28));
        loop {
            READINGS.set(0);
            match breaker.try_acquire() {
                Ok(permit) => {
                    assert!(StdInstant::now() >= deadline, "a trial before the deadline");
                    assert!(permit.is_trial());
                    permit.success();
                    break;
                }
                Err(rejected) => {
                    assert_eq!(
                        READINGS.get(),
                        1,
                        "a rejection near the deadline read no clock"
                    );
                    assert!(rejected.retry_after().unwrap() <= Duration::from_millis(2));
                    assert!(StdInstant::now() < give_up, "no trial after the deadline");
                    std::thread::yield_now();
                }
            }
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn on_a_paused_clock_rejections_read_it_and_the_trial_is_exact() {
        let recovery = Duration::from_secs(30);
        let breaker = opened_by_one_failure("quiet.paused", recovery);
        assert!(
            !quiet(&breaker),
            "the alarm thread does not follow virtual time"
        );
        tokio::time::advance(recovery - Duration::from_nanos(1)).await;
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(rejected.retry_after(), Some(Duration::from_nanos(1)));
        tokio::time::advance(Duration::from_nanos(1)).await;
        assert!(breaker.try_acquire().unwrap().is_trial());
    }

    #[test]
    fn a_reset_breaker_is_not_held_by_an_old_quiet_flag() {
        let breaker = opened_by_one_failure("quiet.reset", Duration::from_secs(3600));
        assert!(quiet(&breaker));
        breaker.reset();
        assert!(breaker.try_acquire().is_ok(), "closed after the reset");
        breaker.force_open();
        let forced = breaker.try_acquire().unwrap_err();
        assert_eq!(forced.retry_after(), None, "forced open has no deadline");
        breaker.reset();
        let _ = breaker.call_sync(|| Err::<(), Rejected>(Rejected::circuit_open("dep", None)));
        assert!(quiet(&breaker), "the new opening raised it again");
        assert!(breaker.try_acquire().unwrap_err().retry_after().is_some());
    }
}
