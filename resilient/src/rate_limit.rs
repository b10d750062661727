//! [`RateLimiter`]: on average at most `rate` calls per `per`, in bursts of at most `burst`, with
//! GCRA (the generic cell rate algorithm, the exact form of a token bucket) in one atomic word.
//!
//! The word holds the theoretical arrival time (TAT): the instant at which the limiter would be
//! back to a full burst if nothing else came. A call at `now` takes the turn that starts at
//! `max(TAT, now)` and moves the TAT one interval (`per / rate`) on; the call conforms when that
//! new TAT is at most `burst` intervals ahead of `now`. A call that does not conform may wait for
//! its turn (up to `max_wait`): it reserves the turn at once, by the same move of the TAT, so that
//! waiting calls are served in the order they came and never above the rate; a waiting call that
//! is cancelled gives its turn back when no later call has reserved one since. No lock, no
//! allocation, no background task: a decision is a load and a compare-and-swap.

use crate::Rejected;
use crate::clock::{Epoch, nanos};
use crate::config::{ConfigError, ConfigValue, Live, check_count, check_nonzero, or_panic};
use crate::name::{Name, PolicyName};
use crate::policy::{
    Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration, kind_keys, not_a_key,
    parse_count, parse_duration, set_each, show,
};
use crate::rejected::{Origin, reject, set_mark, take_mark};
use crate::striped::StripedCounter;
use crate::sync::maybe_const;
use pin_project::{pin_project, pinned_drop};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Sleep;
use tracing::Level;

/// A GCRA rate limiter, to keep in a `static`.
///
/// ```
/// use resilient::{RateLimiter, Rejected, RejectedKind};
/// use std::time::Duration;
///
/// // 100 calls a second on average, at most 20 at once.
/// static UPSTREAM: RateLimiter = RateLimiter::new("upstream", 100, Duration::from_secs(1)).burst(20);
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// for _ in 0..20 {
///     assert!(UPSTREAM.try_acquire().is_ok());
/// }
/// let refused = UPSTREAM.try_acquire().unwrap_err();
/// assert_eq!(refused.kind(), RejectedKind::RateLimited);
/// assert_eq!(refused.retry_after(), Some(Duration::from_millis(10)));
/// # }
/// ```
pub struct RateLimiter {
    name: PolicyName,
    settings: Live<RateSettings>,
    /// Whether it is in the [`crate::registry`] yet.
    pub(crate) registration: crate::policy::Registration,
    /// The theoretical arrival time, in nanoseconds of `epoch`; 0 before the first call. Loom's
    /// under `--cfg loom`, so the model test explores the real decision.
    tat: crate::sync::AtomicU64,
    epoch: Epoch,
    stats: RateStats,
    /// The backend shared with the other replicas, if any.
    #[cfg(feature = "redis")]
    sharing: crate::shared::Sharing,
    /// Turns taken from the shared backend ahead, handed out here one per interval.
    #[cfg(feature = "redis")]
    leased: std::sync::Mutex<Option<crate::shared::Lease>>,
}

/// What a [`RateLimiter`] is configured with, and what follows from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RateSettings {
    pub(crate) rate: u32,
    pub(crate) per: Duration,
    pub(crate) burst: u32,
    pub(crate) max_wait: Duration,
    /// Nanoseconds between two calls at the full rate: `per / rate`, rounded up, so that the
    /// limiter never lets more through than `rate` per `per`. Kept rather than divided per call.
    interval: u64,
    /// How far the TAT may run ahead of now: `burst` intervals.
    window: u64,
}

impl RateSettings {
    /// `rate` per `per` in bursts of `rate`, refusing at once; checked by the caller.
    pub(crate) const fn new(rate: u32, per: Duration) -> Self {
        Self {
            rate,
            per,
            burst: rate,
            max_wait: Duration::ZERO,
            interval: 0,
            window: 0,
        }
        .derived()
    }

    /// With `interval` and `window` worked out from the rest.
    pub(crate) const fn derived(mut self) -> Self {
        self.interval = interval_of(self.rate, self.per);
        self.window = self.interval.saturating_mul(self.burst as u64);
        self
    }

    /// Every rule, for settings changed at run time.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        check_rate(self.rate, self.per)?;
        check_burst(self.burst)
    }
}

/// Counters of a [`RateLimiter`]: a call let through at once counts in this thread's row only.
struct RateStats {
    admitted: StripedCounter,
    waited: AtomicU64,
    rejected: AtomicU64,
    gave_back: AtomicU64,
}

/// A snapshot of a [`RateLimiter`]'s counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimiterMetrics {
    /// Calls let through, at once or after their wait.
    pub admitted: u64,
    /// Calls that waited for their turn (also counted in `admitted` once they got it).
    pub waited: u64,
    /// Calls refused: their turn was further away than they could wait.
    pub rejected: u64,
    /// Waiting calls cancelled whose turn went back to the limiter.
    pub gave_back: u64,
}

/// What a call at a given instant gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Through at once.
    Now,
    /// Through at `at` (epoch nanoseconds); `reserved` is the TAT this call set, to give back if
    /// it is cancelled before.
    At { at: u64, reserved: u64 },
    /// Refused: its turn would come in `wait` nanoseconds, more than it may wait.
    Refused { wait: u64 },
}

impl RateLimiter {
    maybe_const! {
    /// `rate` calls per `per` on average, in bursts of up to `rate` (see [`burst`](Self::burst)),
    /// refusing at once a call over the limit (see [`max_wait`](Self::max_wait)).
    ///
    /// # Panics
    ///
    /// If `rate` or `per` is zero; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::RateLimiter =
    ///     resilient::RateLimiter::new("api", 0, std::time::Duration::from_secs(1));
    /// ```
    pub fn new(name: &'static str, rate: u32, per: Duration) -> Self {
        or_panic!(check_rate(rate, per));
        Self::with(PolicyName::given(name), rate, per)
    }
    }

    maybe_const! {
    /// [`new`](Self::new) for `#[rate_limit]`: named after the annotated function.
    #[doc(hidden)]
    pub fn for_function(name: Name, rate: u32, per: Duration) -> Self {
        or_panic!(check_rate(rate, per));
        Self::with(PolicyName::of_function(name), rate, per)
    }
    }

    maybe_const! {
    fn with(name: PolicyName, rate: u32, per: Duration) -> Self {
        Self {
            name,
            settings: Live::new(RateSettings::new(rate, per)),
            registration: crate::policy::Registration::new(),
            tat: crate::sync::AtomicU64::new(0),
            epoch: Epoch::new(),
            #[cfg(feature = "redis")]
            sharing: crate::shared::Sharing::new(),
            #[cfg(feature = "redis")]
            leased: std::sync::Mutex::new(None),
            stats: RateStats {
                admitted: StripedCounter::new(),
                waited: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                gave_back: AtomicU64::new(0),
            },
        }
    }
    }

    /// [`new`](Self::new), or what is wrong with `rate` or `per`:
    ///
    /// ```
    /// use resilient::RateLimiter;
    /// let err = RateLimiter::try_new("api", 0, std::time::Duration::from_secs(1)).err().unwrap();
    /// assert_eq!(err.to_string(), "policy `api`: `rate` must be at least 1 (got 0)");
    /// ```
    pub fn try_new(name: &'static str, rate: u32, per: Duration) -> Result<Self, ConfigError> {
        check_rate(rate, per).map_err(|e| e.for_policy(name))?;
        Ok(Self::new(name, rate, per))
    }

    maybe_const! {
    /// How many calls may go through at once after a quiet spell: at least 1.
    ///
    /// # Panics
    ///
    /// If `n` is 0; in a `static` or `const` that is a compile-time error.
    pub fn burst(mut self, n: u32) -> Self {
        or_panic!(check_burst(n));
        self.settings.initial.burst = n;
        self.settings.initial = self.settings.initial.derived();
        self
    }
    }

    maybe_const! {
    /// How long a call over the limit may wait for its turn before it is refused; zero (the
    /// default) refuses it at once.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.settings.initial.max_wait = wait;
        self
    }
    }

    /// [`take_turn`](Self::take_turn) for the loom models, which see only the public API: `Ok`
    /// with the instant and the reserved TAT of a turn to wait for (none: through at once),
    /// `Err` with the wait of a refusal.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn turn_at(&self, now: u64, max_wait: u64) -> Result<Option<(u64, u64)>, u64> {
        match self.take_turn(now, max_wait) {
            Turn::Now => Ok(None),
            Turn::At { at, reserved } => Ok(Some((at, reserved))),
            Turn::Refused { wait } => Err(wait),
        }
    }

    /// [`give_back`](Self::give_back) for the loom models.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn give_back_turn(&self, reserved: u64) -> bool {
        self.give_back(reserved)
    }

    /// The name in events, rejections and metrics.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The settings in force: as built, or as last set at run time.
    pub(crate) fn settings(&self) -> crate::config::Current<'_, RateSettings> {
        self.settings.get()
    }

    /// The settings it was built with.
    pub(crate) fn initial_settings(&self) -> &RateSettings {
        &self.settings.initial
    }

    /// Replaces the settings, or explains why not (the old ones stay). The TAT stays: calls
    /// already let through count against the new rate.
    pub(crate) fn reconfigure(&self, settings: RateSettings) -> Result<(), ConfigError> {
        settings.check()?;
        self.settings.set(settings.derived());
        Ok(())
    }

    /// Decides every [`call`](Self::call) with `backend`, shared by the replicas that give it the
    /// same limiter name: together they stay within the rate (see [`crate::shared`]); while the
    /// backend fails, `on_failure` decides. A backend named by the configuration (`redis_url`)
    /// takes precedence. [`try_acquire`](Self::try_acquire) and blocking functions, which cannot
    /// wait for the network, still decide locally.
    #[cfg(feature = "redis")]
    pub fn share_through(
        &self,
        backend: std::sync::Arc<crate::shared::Redis>,
        on_failure: crate::shared::OnFailure,
    ) {
        self.sharing.set_from_code(backend, on_failure);
    }

    /// Takes `turns` consecutive turns from the shared backend in one round trip (at least 1; 1,
    /// the default, takes one per call) and hands the others out here, one per interval, so that
    /// most calls need no round trip. The registry key `redis_lease` overrides it. A leased turn
    /// may be used up to the burst's window after its time, so the replicas together may exceed
    /// the burst by one more at most, never the rate; later it is dropped, so that an idle replica
    /// does not hoard turns. A turn of a lease is not given back when its call is cancelled.
    #[cfg(feature = "redis")]
    pub fn lease_turns(&self, turns: u32) {
        self.sharing.set_lease_from_code(turns);
    }

    /// A turn of the current lease for a call at `now` that may wait up to `max_wait`.
    #[cfg(feature = "redis")]
    fn leased_turn(
        &self,
        now: tokio::time::Instant,
        max_wait: Duration,
    ) -> Option<tokio::time::Instant> {
        let mut leased = self
            .leased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::shared::Lease::take(&mut leased, now, max_wait)
    }

    /// Keeps the turns after the first of a lease the server just gave, the first at `first`
    /// nanoseconds from its now.
    #[cfg(feature = "redis")]
    fn keep_lease(&self, first: i64, turns: u32) {
        let s = *self.settings();
        let interval = Duration::from_nanos(crate::shared::shared_interval(s.interval));
        let lease = crate::shared::Lease {
            base: tokio::time::Instant::now(),
            offset: first.saturating_add(i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX)),
            interval,
            horizon: Duration::from_nanos(s.window).max(interval),
            remaining: turns - 1,
        };
        *self
            .leased
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(lease);
    }

    /// Lets one call through now, or says when it could go: never waits.
    pub fn try_acquire(&self) -> Result<(), Rejected> {
        self.acquire_blocking(Duration::ZERO)
    }

    /// Lets one call through, after putting the thread to sleep until its turn if that comes
    /// within `max_wait`; else says when it would come. For blocking callers.
    pub(crate) fn acquire_blocking(&self, max_wait: Duration) -> Result<(), Rejected> {
        let now = self.epoch.now();
        match self.take_turn(now, nanos(max_wait)) {
            Turn::Now => {}
            Turn::At { at, .. } => {
                self.stats.waited.fetch_add(1, Relaxed);
                // From the reading the turn was taken at: a sleep from it never ends early.
                std::thread::sleep(Duration::from_nanos(at - now));
            }
            Turn::Refused { wait } => return Err(self.refuse(wait)),
        }
        self.stats.admitted.increment();
        Ok(())
    }

    /// The blocking `f` in its turn (see [`acquire_blocking`](Self::acquire_blocking)), under
    /// the limiter's own `max_wait`.
    pub(crate) fn call_blocking<T, E: From<Rejected>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let blocking = Origin::BLOCKING;
        self.acquire_blocking(self.settings().max_wait)
            .map_err(|r| reject(r, blocking))?;
        let result = f();
        if result.is_err() {
            set_mark(take_mark(None), blocking);
        }
        result
    }

    /// Runs `fut` in its turn: at once within the limit, after waiting up to `max_wait` over it,
    /// else not at all (`E::from(Rejected)` of kind [`RateLimited`](crate::RejectedKind)).
    pub fn call<F, T, E>(&self, fut: F) -> LimitedCall<'_, F>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        LimitedCall {
            gate: Gate {
                limiter: self,
                stage: Stage::Asking,
                registers: None,
                timer: None,
                #[cfg(feature = "redis")]
                consulting: None,
            },
            fut,
        }
    }

    /// [`call`](Self::call) of an annotated function: the limiter registers on the first poll
    /// (see [`BreakerCall`](crate::BreakerCall)'s `registers`).
    pub(crate) fn generated<F, T, E>(&'static self, fut: F) -> LimitedCall<'static, F>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        let mut call = self.call(fut);
        call.gate.registers = Some(self);
        call
    }

    /// What it counted so far.
    pub fn metrics(&self) -> RateLimiterMetrics {
        let s = &self.stats;
        RateLimiterMetrics {
            admitted: s.admitted.sum(),
            waited: s.waited.load(Relaxed),
            rejected: s.rejected.load(Relaxed),
            gave_back: s.gave_back.load(Relaxed),
        }
    }

    /// The GCRA decision for a call at `now` that may wait up to `max_wait` nanoseconds: the turn
    /// it takes, reserved by moving the TAT, or its refusal (the TAT unchanged).
    pub(crate) fn take_turn(&self, now: u64, max_wait: u64) -> Turn {
        let (interval, window) = {
            let s = self.settings();
            (s.interval, s.window)
        };
        let mut tat = self.tat.load(Acquire);
        loop {
            let next = tat.max(now).saturating_add(interval);
            // The earliest instant at which the new TAT is at most `burst` intervals ahead.
            let at = next.saturating_sub(window);
            let wait = at.saturating_sub(now);
            if wait > max_wait {
                return Turn::Refused { wait };
            }
            match self.tat.compare_exchange_weak(tat, next, AcqRel, Acquire) {
                Ok(_) if wait == 0 => return Turn::Now,
                Ok(_) => return Turn::At { at, reserved: next },
                Err(current) => tat = current,
            }
        }
    }

    /// Gives back the turn that moved the TAT to `reserved`, if no call reserved one since:
    /// the next call then takes it. Returns whether it did.
    pub(crate) fn give_back(&self, reserved: u64) -> bool {
        let earlier = reserved.saturating_sub(self.settings().interval);
        let gave = self
            .tat
            .compare_exchange(reserved, earlier, AcqRel, Acquire)
            .is_ok();
        if gave {
            self.stats.gave_back.fetch_add(1, Relaxed);
        }
        gave
    }

    fn refuse(&self, wait: u64) -> Rejected {
        self.stats.rejected.fetch_add(1, Relaxed);
        // For a retry around, which waits at least this long (see `rejected::refusal_wait`).
        crate::rejected::set_refusal_wait(Duration::from_nanos(wait));
        let rejected = Rejected::rate_limited(self.name(), wait);
        if tracing::level_filters::LevelFilter::current() >= Level::DEBUG {
            report_rejection(&rejected);
        }
        rejected
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = *self.settings();
        f.debug_struct("RateLimiter")
            .field("name", &self.name())
            .field("rate", &s.rate)
            .field("per", &s.per)
            .field("burst", &s.burst)
            .field("max_wait", &s.max_wait)
            .finish()
    }
}

#[cold]
#[inline(never)]
fn report_rejection(rejected: &Rejected) {
    tracing::event!(
        name: "rate_limit.rejected",
        target: "resilient",
        Level::DEBUG,
        correlation_id = crate::correlation::field(),
        policy = rejected.policy(),
        retry_after_ms = rejected.retry_after().map_or(0, |wait| wait.as_millis() as u64),
        "{rejected}"
    );
}

/// `per / rate` in nanoseconds, rounded up; at least 1.
const fn interval_of(rate: u32, per: Duration) -> u64 {
    let per = per
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(per.subsec_nanos() as u64);
    let interval = per.div_ceil(rate as u64);
    if interval == 0 { 1 } else { interval }
}

const fn check_rate(rate: u32, per: Duration) -> Result<(), ConfigError> {
    check_count!("rate", rate);
    check_nonzero!("per", per);
    Ok(())
}

const fn check_burst(n: u32) -> Result<(), ConfigError> {
    check_count!("burst", n);
    Ok(())
}

/// Where a [`LimitedCall`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Not polled yet: it asks for its turn on the first poll.
    Asking,
    /// Waiting for the turn that moved the TAT to `reserved`.
    Waiting { reserved: u64 },
    /// Waiting for the answer of the shared backend.
    #[cfg(feature = "redis")]
    Consulting,
    /// Waiting for a turn the shared backend gave, which set the server's TAT to `reserved`
    /// (microseconds).
    #[cfg(feature = "redis")]
    WaitingShared { reserved: u64 },
    /// Through: running the call.
    Running,
}

/// The future of [`RateLimiter::call`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct LimitedCall<'a, F> {
    #[pin]
    gate: Gate<'a>,
    #[pin]
    fut: F,
}

/// Where a [`LimitedCall`] stands at its limiter: everything of it but the call, so that its
/// poll, with the waits, the refusals and the shared backend, is compiled once, out of line,
/// and the call's own poll stays small enough to inline into the caller's, whose result then
/// never makes a round trip through memory.
#[pin_project(PinnedDrop)]
struct Gate<'a> {
    limiter: &'a RateLimiter,
    stage: Stage,
    /// A limiter the attributes built, to register on the first poll.
    registers: Option<&'static RateLimiter>,
    #[pin]
    timer: Option<Sleep>,
    /// The shared backend's decision under way.
    #[cfg(feature = "redis")]
    consulting: Option<Pin<Box<dyn Future<Output = SharedDecision> + Send>>>,
}

/// How many turns the shared backend was asked for, and its answer.
#[cfg(feature = "redis")]
type SharedDecision = (
    u32,
    Result<crate::shared::SharedTurn, crate::shared::SharedError>,
);

impl<F, T, E> Future for LimitedCall<'_, F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut this = self.project();
        if *this.gate.as_mut().project().stage != Stage::Running {
            if let Err(wait) = ready!(this.gate.as_mut().poll_turn(cx)) {
                return Poll::Ready(Err(refuse(this.gate.limiter, wait, me)));
            }
        }
        let inner = Some(Origin::of(this.fut.as_ref().get_ref()));
        let result = ready!(this.fut.poll(cx));
        if result.is_err() {
            // A rejection from the layer inside goes on to the layer outside.
            set_mark(take_mark(inner), me);
        }
        Poll::Ready(result)
    }
}

/// The refusal of a call that would have had to wait `wait` nanoseconds for its turn.
#[cold]
fn refuse<E: From<Rejected>>(limiter: &RateLimiter, wait: u64, me: Origin) -> E {
    reject(limiter.refuse(wait), me)
}

impl Gate<'_> {
    /// Through (`Ok`), or refused with the wait its turn would have needed, in nanoseconds.
    fn poll_turn(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), u64>> {
        let mut this = self.project();
        let limiter = *this.limiter;
        if let Some(limiter) = this.registers.take() {
            crate::policy::on_first_use(limiter);
        }
        #[cfg(feature = "redis")]
        if *this.stage == Stage::Asking {
            if let Some(backend) = limiter.sharing.backend() {
                let name = limiter.name();
                let s = *limiter.settings();
                let now = tokio::time::Instant::now();
                let turns = limiter.sharing.lease();
                match limiter.leased_turn(now, s.max_wait) {
                    Some(at) if at <= now => {
                        limiter.stats.admitted.increment();
                        *this.stage = Stage::Running;
                    }
                    Some(at) => {
                        limiter.stats.waited.fetch_add(1, Relaxed);
                        this.timer.set(Some(tokio::time::sleep_until(at)));
                        *this.stage = Stage::WaitingShared { reserved: 0 };
                    }
                    None => {
                        let max_wait = nanos(s.max_wait);
                        *this.consulting = Some(Box::pin(async move {
                            let turn = backend
                                .rate_limit(name, s.interval, s.window, max_wait, turns)
                                .await;
                            (turns, turn)
                        }));
                        *this.stage = Stage::Consulting;
                    }
                }
            }
        }
        #[cfg(feature = "redis")]
        if *this.stage == Stage::Consulting {
            let decision = this.consulting.as_mut().expect("set with the stage");
            let (turns, decision) = ready!(decision.as_mut().poll(cx));
            *this.consulting = None;
            let decision = decision.map(|turn| match turn {
                crate::shared::SharedTurn::Granted { wait, first, .. } if turns > 1 => {
                    limiter.keep_lease(first, turns);
                    // A turn of a lease is not given back: the others stay here.
                    crate::shared::SharedTurn::Granted {
                        wait,
                        reserved: 0,
                        first,
                    }
                }
                turn => turn,
            });
            match decision {
                Ok(crate::shared::SharedTurn::Granted { wait: 0, .. }) => {
                    limiter.stats.admitted.increment();
                    *this.stage = Stage::Running;
                }
                Ok(crate::shared::SharedTurn::Granted { wait, reserved, .. }) => {
                    limiter.stats.waited.fetch_add(1, Relaxed);
                    let sleep = tokio::time::sleep(Duration::from_nanos(wait));
                    this.timer.set(Some(sleep));
                    *this.stage = Stage::WaitingShared { reserved };
                }
                Ok(crate::shared::SharedTurn::Refused { wait }) => {
                    *this.stage = Stage::Running;
                    return Poll::Ready(Err(wait));
                }
                Err(_) => match limiter.sharing.on_failure() {
                    // This replica keeps the rate on its own.
                    crate::shared::OnFailure::Local => *this.stage = Stage::Asking,
                    crate::shared::OnFailure::Open => {
                        limiter.stats.admitted.increment();
                        *this.stage = Stage::Running;
                    }
                    crate::shared::OnFailure::Closed => {
                        *this.stage = Stage::Running;
                        let wait = limiter.settings().interval;
                        return Poll::Ready(Err(wait));
                    }
                },
            }
        }
        #[cfg(feature = "redis")]
        if let Stage::WaitingShared { .. } = *this.stage {
            if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                ready!(timer.poll(cx));
            }
            this.timer.set(None);
            limiter.stats.admitted.increment();
            *this.stage = Stage::Running;
        }
        if *this.stage == Stage::Asking {
            let now = limiter.epoch.now();
            let max_wait = nanos(limiter.settings().max_wait);
            match limiter.take_turn(now, max_wait) {
                Turn::Now => {
                    limiter.stats.admitted.increment();
                    *this.stage = Stage::Running;
                }
                Turn::At { at, reserved } => {
                    limiter.stats.waited.fetch_add(1, Relaxed);
                    let until = limiter.epoch.instant(at).expect("read above");
                    this.timer.set(Some(tokio::time::sleep_until(until)));
                    *this.stage = Stage::Waiting { reserved };
                }
                Turn::Refused { wait } => {
                    return Poll::Ready(Err(wait));
                }
            }
        }
        if let Stage::Waiting { .. } = *this.stage {
            if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                ready!(timer.poll(cx));
            }
            this.timer.set(None);
            limiter.stats.admitted.increment();
            *this.stage = Stage::Running;
        }
        Poll::Ready(Ok(()))
    }
}

#[pinned_drop]
impl PinnedDrop for Gate<'_> {
    /// Cancelled while waiting: the turn goes back, when no later call reserved one since.
    fn drop(self: Pin<&mut Self>) {
        match self.stage {
            Stage::Waiting { reserved } => {
                self.limiter.give_back(reserved);
            }
            #[cfg(feature = "redis")]
            Stage::WaitingShared { reserved } if reserved != 0 => {
                if let Some(backend) = self.limiter.sharing.backend() {
                    let interval = self.limiter.settings().interval;
                    backend.give_back_turn(self.limiter.name(), reserved, interval);
                }
            }
            _ => {}
        }
    }
}

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::RateLimit,
    keys: kind_keys!("rate", "per", "burst", "max_wait"; shared: leased),
    check_form: |key, value| {
        #[cfg(feature = "redis")]
        if crate::shared::LIMITER_KEYS.contains(&key) {
            return crate::shared::check_form(key, value);
        }
        set(
            &mut RateSettings::new(1, Duration::from_secs(1)),
            key,
            value,
        )
    },
};

fn set(s: &mut RateSettings, key: &str, value: &str) -> Result<(), String> {
    match key {
        "rate" => s.rate = parse_count(value)?,
        "per" => s.per = parse_duration(value)?,
        "burst" => s.burst = parse_count(value)?,
        "max_wait" => s.max_wait = parse_duration(value)?,
        _ => return Err(not_a_key(&[PolicyKind::RateLimit])),
    }
    Ok(())
}

impl Registered for RateLimiter {
    fn name(&self) -> &'static str {
        RateLimiter::name(self)
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::RateLimit
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        let s = *self.settings();
        #[allow(unused_mut)] // extended with the `redis` feature
        let mut config = BTreeMap::from([
            ("rate", s.rate.to_string()),
            ("per", show(s.per)),
            ("burst", s.burst.to_string()),
            ("max_wait", show(s.max_wait)),
        ]);
        #[cfg(feature = "redis")]
        if self.sharing.backend().is_some() {
            config.extend(self.sharing.config());
            config.insert("redis_lease", self.sharing.lease().to_string());
        }
        config
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::RateLimit(RateLimiter::metrics(self))
    }

    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused> {
        #[cfg(feature = "redis")]
        let (shared, values) = crate::shared::split(values, &crate::shared::LIMITER_KEYS);
        #[cfg(feature = "redis")]
        let values = values.as_slice();
        let mut settings = *self.initial_settings();
        set_each(&mut settings, values, set)?;
        settings.check()?;
        #[cfg(feature = "redis")]
        self.sharing.apply(&shared)?;
        Ok(self.reconfigure(settings)?)
    }

    #[cfg(feature = "redis")]
    fn shared_backend(&self) -> Option<std::sync::Arc<crate::shared::Redis>> {
        self.sharing.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    fn limiter(rate: u32, per: Duration, burst: u32) -> RateLimiter {
        RateLimiter::new("gcra", rate, per).burst(burst)
    }

    #[test]
    fn a_burst_goes_through_then_one_call_per_interval() {
        let l = limiter(10, Duration::from_secs(1), 3);
        let t0 = 1_000 * MS;
        for _ in 0..3 {
            assert_eq!(l.take_turn(t0, 0), Turn::Now);
        }
        assert_eq!(l.take_turn(t0, 0), Turn::Refused { wait: 100 * MS });
        assert_eq!(l.take_turn(t0 + 99 * MS, 0), Turn::Refused { wait: MS });
        assert_eq!(l.take_turn(t0 + 100 * MS, 0), Turn::Now);
        assert_eq!(
            l.take_turn(t0 + 100 * MS, 0),
            Turn::Refused { wait: 100 * MS }
        );
        // A quiet spell refills the burst, and no more.
        let later = t0 + 10_000 * MS;
        for _ in 0..3 {
            assert_eq!(l.take_turn(later, 0), Turn::Now);
        }
        assert!(matches!(l.take_turn(later, 0), Turn::Refused { .. }));
    }

    #[test]
    fn waiting_calls_reserve_turns_in_order_and_a_cancelled_last_one_gives_it_back() {
        let l = limiter(10, Duration::from_secs(1), 1);
        let t0 = 1_000 * MS;
        assert_eq!(l.take_turn(t0, 250 * MS), Turn::Now);
        let second = l.take_turn(t0, 250 * MS);
        assert_eq!(
            second,
            Turn::At {
                at: t0 + 100 * MS,
                reserved: t0 + 200 * MS
            }
        );
        let third = l.take_turn(t0, 250 * MS);
        assert_eq!(
            third,
            Turn::At {
                at: t0 + 200 * MS,
                reserved: t0 + 300 * MS
            }
        );
        assert_eq!(l.take_turn(t0, 250 * MS), Turn::Refused { wait: 300 * MS });
        // The second cannot give its turn back: the third reserved one after it.
        assert!(!l.give_back(t0 + 200 * MS));
        assert!(l.give_back(t0 + 300 * MS));
        assert_eq!(
            l.take_turn(t0 + 50 * MS, 250 * MS),
            Turn::At {
                at: t0 + 200 * MS,
                reserved: t0 + 300 * MS
            },
            "the turn given back is the next one's"
        );
    }

    #[test]
    fn an_interval_that_does_not_divide_is_rounded_up_never_above_the_rate() {
        let l = limiter(3, Duration::from_secs(1), 1);
        assert_eq!(l.settings().interval, 333_333_334);
        let t0 = 5 * 1_000 * MS;
        let mut admitted = 0;
        let mut now = t0;
        while now < t0 + 10 * 1_000 * MS {
            if l.take_turn(now, 0) == Turn::Now {
                admitted += 1;
            }
            now += MS;
        }
        assert_eq!(admitted, 30, "3 a second for 10 seconds");
    }

    #[test]
    fn threads_at_one_instant_share_exactly_one_burst() {
        let l = limiter(1000, Duration::from_secs(1), 50);
        let admitted = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if l.take_turn(7 * MS, 0) == Turn::Now {
                            admitted.fetch_add(1, Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Relaxed), 50);
    }

    /// The continuous-state leaky bucket of ITU-T I.371, the other definition of the same
    /// algorithm: a level that drains one nanosecond per nanosecond and fills one interval per
    /// call, conforming while the level before the call is at most `burst - 1` intervals.
    struct LeakyBucket {
        interval: i128,
        limit: i128,
        level: i128,
        last: i128,
    }

    impl LeakyBucket {
        fn new(interval: u64, burst: u32) -> Self {
            let interval = i128::from(interval);
            Self {
                interval,
                limit: interval * (i128::from(burst) - 1),
                level: 0,
                last: 0,
            }
        }

        fn arrive(&mut self, now: u64, max_wait: u64) -> Turn {
            let now = i128::from(now);
            let level = (self.level - (now - self.last)).max(0);
            let wait = (level - self.limit).max(0);
            if wait > i128::from(max_wait) {
                // Refused: the bucket keeps its state as of the last call.
                return Turn::Refused { wait: wait as u64 };
            }
            self.level = level + self.interval;
            self.last = now;
            if wait == 0 {
                Turn::Now
            } else {
                Turn::At {
                    at: (now + wait) as u64,
                    reserved: (now + self.level) as u64,
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// Any rate, period, burst and wait, and any sequence of calls at non-decreasing
        /// instants: the limiter and the leaky bucket agree on every call, turn and wait.
        /// Steps and waits are drawn in nanoseconds or in whole intervals, so that calls land
        /// exactly on turns and waits exactly on the limit as well as between them.
        #[test]
        fn gcra_agrees_with_the_leaky_bucket(
            rate in 1u32..50,
            per_ms in 1u64..2_000,
            burst in 1u32..8,
            max_wait in prop_oneof![(0u64..500).prop_map(|ms| (ms * MS, false)), (0u64..4).prop_map(|n| (n, true))],
            steps in proptest::collection::vec(
                prop_oneof![(0u64..400_000_000).prop_map(|ns| (ns, false)), (0u64..3).prop_map(|n| (n, true))],
                1..60,
            ),
        ) {
            let l = limiter(rate, Duration::from_millis(per_ms), burst);
            let interval = l.settings().interval;
            let mut model = LeakyBucket::new(interval, burst);
            let in_intervals = |(n, intervals): (u64, bool)| if intervals { n * interval } else { n };
            let max_wait = in_intervals(max_wait);
            let mut now = 1;
            for step in steps {
                now += in_intervals(step);
                prop_assert_eq!(l.take_turn(now, max_wait), model.arrive(now, max_wait), "at {}", now);
            }
        }
    }
}
