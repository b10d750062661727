//! Hedging: when a call has not finished after `delay`, a second attempt starts beside it (up to
//! `max_hedges` extra); the first `Ok` wins and the other attempts are dropped.
//!
//! The attempts live in one [`Hedging`], pinned where the call runs: the first and the first hedge
//! inline, any further hedge boxed. A call that succeeds before its delay, or with one hedge,
//! allocates nothing; a third attempt and beyond allocate one box each (they start only after
//! twice the delay, when the call is already slow by that much).
//!
//! What starts the next hedge before its delay: a failed attempt whose error `when` accepts (every
//! error by default), or a timeout of a layer inside. What starts no more hedges: an error `when`
//! refuses (the dependency answered; asking again would not change it), and a refusal by a layer
//! inside (an open circuit, a rate limit, a full bulkhead: hedging adds load, and the refusal
//! says there is too much already). The attempts already running go on either way; if none
//! succeeds, the last error is returned.

use crate::RejectedKind;
use crate::config::{ConfigError, ConfigValue, Live, check_count, or_panic};
use crate::name::{Name, PolicyName};
use crate::policy::{
    Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration, not_a_key, parse_count,
    parse_duration, set_each, show,
};
use crate::rejected::{Origin, set_mark, take_mark};
use crate::striped::StripedCounter;
use pin_project::pin_project;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tracing::Level;

/// How a call is hedged: after `delay` without an answer, another attempt beside it, up to
/// `max_hedges` of them. Keep it in a `static`.
///
/// ```
/// use resilient::HedgePolicy;
/// use std::time::Duration;
///
/// static LOOKUP: HedgePolicy = HedgePolicy::new()
///     .name("lookup")
///     .delay(Duration::from_millis(20))
///     .max_hedges(2);
/// ```
pub struct HedgePolicy {
    name: PolicyName,
    settings: Live<HedgeSettings>,
    /// Whether it is in the [`crate::registry`] yet.
    pub(crate) registration: crate::policy::Registration,
    stats: HedgeStats,
}

/// What a [`HedgePolicy`] is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HedgeSettings {
    pub(crate) delay: Duration,
    pub(crate) max_hedges: u32,
}

impl HedgeSettings {
    /// Every rule, for settings changed at run time.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        check_max_hedges(self.max_hedges)
    }
}

/// Counters of a [`HedgePolicy`]: a success counts in this thread's row only.
struct HedgeStats {
    successes: StripedCounter,
    failures: AtomicU64,
    hedges: AtomicU64,
    won: AtomicU64,
}

/// A snapshot of a [`HedgePolicy`]'s counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HedgeMetrics {
    /// Calls that returned `Ok` (from whichever attempt).
    pub successes: u64,
    /// Calls whose every attempt failed.
    pub failures: u64,
    /// Hedges started: attempts beyond the first.
    pub hedges: u64,
    /// Calls a hedge answered first (not the first attempt).
    pub won: u64,
}

impl HedgeMetrics {
    /// Calls in all.
    pub fn calls(&self) -> u64 {
        self.successes + self.failures
    }
}

impl HedgePolicy {
    /// One hedge after 50 ms, named `"hedge"`.
    pub const fn new() -> Self {
        Self {
            name: PolicyName::given("hedge"),
            settings: Live::new(HedgeSettings {
                delay: Duration::from_millis(50),
                max_hedges: 1,
            }),
            registration: crate::policy::Registration::new(),
            stats: HedgeStats {
                successes: StripedCounter::new(),
                failures: AtomicU64::new(0),
                hedges: AtomicU64::new(0),
                won: AtomicU64::new(0),
            },
        }
    }

    /// The name in events and metrics.
    pub const fn name(self, name: &'static str) -> Self {
        self.named(PolicyName::given(name))
    }

    /// [`name`](Self::name) for `#[hedge]`: named after the annotated function.
    #[doc(hidden)]
    pub const fn for_function(self, name: Name) -> Self {
        self.named(PolicyName::of_function(name))
    }

    const fn named(mut self, name: PolicyName) -> Self {
        // The replaced name holds nothing yet: a `const fn` may not run its destructor.
        std::mem::forget(std::mem::replace(&mut self.name, name));
        self
    }

    /// How long an attempt runs alone before the next one starts beside it. Zero starts every
    /// attempt at once.
    pub const fn delay(mut self, delay: Duration) -> Self {
        self.settings.initial.delay = delay;
        self
    }

    /// How many attempts may start beside the first: at least 1.
    ///
    /// # Panics
    ///
    /// If `n` is 0; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::HedgePolicy = resilient::HedgePolicy::new().max_hedges(0);
    /// ```
    pub const fn max_hedges(mut self, n: u32) -> Self {
        or_panic!(check_max_hedges(n));
        self.settings.initial.max_hedges = n;
        self
    }

    /// [`max_hedges`](Self::max_hedges), or what is wrong with `n`:
    ///
    /// ```
    /// let err = resilient::HedgePolicy::new().name("lookup").try_max_hedges(0).unwrap_err();
    /// assert_eq!(err.to_string(), "policy `lookup`: `max_hedges` must be at least 1 (got 0)");
    /// ```
    pub fn try_max_hedges(self, n: u32) -> Result<Self, ConfigError> {
        check_max_hedges(n).map_err(|e| e.for_policy(self.policy_name()))?;
        Ok(self.max_hedges(n))
    }

    /// The name in events and metrics.
    pub fn policy_name(&self) -> &'static str {
        self.name.get()
    }

    /// The settings in force: as built, or as last set at run time.
    pub(crate) fn settings(&self) -> crate::config::Current<'_, HedgeSettings> {
        self.settings.get()
    }

    /// The settings it was built with.
    pub(crate) fn initial_settings(&self) -> &HedgeSettings {
        &self.settings.initial
    }

    /// Replaces the settings, or explains why not (the old ones stay). Calls under way keep the
    /// settings they started with.
    pub(crate) fn reconfigure(&self, settings: HedgeSettings) -> Result<(), ConfigError> {
        settings.check()?;
        self.settings.set(settings);
        Ok(())
    }

    /// What it counted so far.
    pub fn metrics(&self) -> HedgeMetrics {
        let s = &self.stats;
        HedgeMetrics {
            successes: s.successes.sum(),
            failures: s.failures.load(Relaxed),
            hedges: s.hedges.load(Relaxed),
            won: s.won.load(Relaxed),
        }
    }
}

impl Default for HedgePolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl Debug for HedgePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = *self.settings();
        f.debug_struct("HedgePolicy")
            .field("name", &self.policy_name())
            .field("delay", &s.delay)
            .field("max_hedges", &s.max_hedges)
            .finish()
    }
}

const fn check_max_hedges(n: u32) -> Result<(), ConfigError> {
    check_count!("max_hedges", n);
    Ok(())
}

/// Runs `op()` hedged by `policy`: the first `Ok` of its attempts, or the last error when all
/// fail. Every error starts the next hedge at once; see [`hedge_when`] to choose which.
///
/// ```
/// use resilient::HedgePolicy;
/// use std::time::Duration;
///
/// static LOOKUP: HedgePolicy = HedgePolicy::new().delay(Duration::from_millis(20));
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let mut attempt = 0;
/// let answer = resilient::hedge(&LOOKUP, || {
///     attempt += 1;
///     let slow = attempt == 1;
///     async move {
///         // The first replica is slow: the hedge started at 20 ms answers first.
///         let took = if slow { 500 } else { 10 };
///         tokio::time::sleep(Duration::from_millis(took)).await;
///         Ok::<_, resilient::Rejected>(if slow { "first" } else { "hedge" })
///     }
/// })
/// .await;
/// assert_eq!(answer.unwrap(), "hedge");
/// assert_eq!(LOOKUP.metrics().won, 1);
/// # }
/// ```
///
/// A layer inside `op`'s futures (a breaker, a rate limiter) is recognised by its future's type,
/// as [`retry`](fn@crate::retry) does: `|| BREAKER.call(fetch())`, not `|| async { ... }` around it.
pub fn hedge<F, Fut, T, E>(policy: &HedgePolicy, op: F) -> Hedge<'_, F, Fut, fn(&E) -> bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Debug,
{
    hedge_when(policy, every_error::<E>, op)
}

fn every_error<E>(_: &E) -> bool {
    true
}

/// [`hedge`], where only an error that `when` accepts starts the next hedge; any other starts no
/// more (the attempts already running go on).
pub fn hedge_when<F, Fut, T, E, P>(policy: &HedgePolicy, when: P, op: F) -> Hedge<'_, F, Fut, P>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    Hedge {
        op,
        hedging: Hedging::new(policy, when),
    }
}

/// The future of [`hedge`] and [`hedge_when`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Hedge<'p, F, Fut: Future, P> {
    op: F,
    #[pin]
    hedging: Hedging<'p, Fut, P>,
}

impl<F, Fut, T, E, P> Future for Hedge<'_, F, Fut, P>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let this = self.project();
        let op = this.op;
        this.hedging
            .poll_hedged(me, cx, |_: &mut Context<'_>| Poll::Ready(Ok(op())))
    }
}

/// The attempts of one hedged call, and what decides the next. Pinned where the call runs: the
/// attribute's loop, or [`Hedge`].
#[pin_project(project = HedgingProj)]
pub struct Hedging<'p, F: Future, P> {
    policy: &'p HedgePolicy,
    /// A policy the attributes built, to register on the first attempt.
    registers: Option<&'static HedgePolicy>,
    when: P,
    /// Attempts started, the first included; at most `1 + max_hedges`.
    started: u32,
    max_hedges: u32,
    delay: Duration,
    /// The next hedge starts now, not after the delay: an attempt failed.
    due: bool,
    /// No more hedges: an error `when` refused, or a refusal by a layer inside.
    stopped: bool,
    /// The delay after the last attempt started is still to be put on the timer: done when the
    /// attempts are first found pending, so that a call answered at once reads no clock and
    /// sets no timer.
    unarmed: bool,
    /// The error of the attempt that failed last, and its mark.
    last: Option<F::Output>,
    last_mark: Option<RejectedKind>,
    /// When the next hedge starts.
    #[pin]
    timer: Option<Sleep>,
    /// The first attempt; never reused, so that an answer from here is the first's.
    #[pin]
    first: Option<F>,
    /// The first hedge, and any hedge started when it has finished.
    #[pin]
    second: Option<F>,
    more: Vec<Pin<Box<F>>>,
}

impl<'p, F: Future, P> Hedging<'p, F, P> {
    pub(crate) fn new(policy: &'p HedgePolicy, when: P) -> Self {
        Self {
            policy,
            registers: None,
            when,
            started: 0,
            max_hedges: 0,
            delay: Duration::ZERO,
            due: false,
            stopped: false,
            unarmed: false,
            last: None,
            last_mark: None,
            timer: None,
            first: None,
            second: None,
            more: Vec::new(),
        }
    }

    /// [`new`](Self::new) for an annotated function: the policy registers on the first attempt.
    pub(crate) fn generated(policy: &'static HedgePolicy, when: P) -> Hedging<'static, F, P> {
        let mut hedging = Hedging::new(policy, when);
        hedging.registers = Some(policy);
        hedging
    }

    /// Starts `fut` as the next attempt, then runs every attempt: the future resolves to what to
    /// return, or to `None` when the next attempt should start (its delay is over, or an attempt
    /// failed). A rejection is recognised by the type of `fut`, as a retry does.
    pub fn attempt(self: Pin<&mut Self>, fut: F) -> HedgeAttempt<'_, 'p, F, P> {
        HedgeAttempt {
            hedging: self,
            start: Some(fut),
        }
    }

    fn start(self: Pin<&mut Self>, fut: F) {
        let mut this = self.project();
        let policy = *this.policy;
        if *this.started == 0 {
            if let Some(policy) = this.registers.take() {
                crate::policy::on_first_use(policy);
            }
            let settings = policy.settings();
            (*this.max_hedges, *this.delay) = (settings.max_hedges, settings.delay);
            this.first.set(Some(fut));
        } else {
            policy.stats.hedges.fetch_add(1, Relaxed);
            report_hedge(policy.policy_name(), *this.started, *this.max_hedges);
            if this.second.is_none() {
                this.second.set(Some(fut));
            } else {
                this.more.push(Box::pin(fut));
            }
        }
        *this.started += 1;
        *this.due = false;
        this.timer.set(None);
        if *this.started <= *this.max_hedges {
            // With no delay, the next one at once.
            *this.due = this.delay.is_zero();
            *this.unarmed = !this.delay.is_zero();
        }
    }
}

impl<F, T, E, P> Hedging<'_, F, P>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    /// Starts `start` if given, then polls every attempt and the timer.
    fn drive(
        mut self: Pin<&mut Self>,
        start: Option<F>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, E>>> {
        if let Some(fut) = start {
            self.as_mut().start(fut);
        }
        let mut this = self.project();
        let mut winner = None;
        if let Some((result, inner)) = poll_slot(this.first.as_mut(), cx) {
            winner = this.judge(result, inner, true);
        }
        if winner.is_none() {
            if let Some((result, inner)) = poll_slot(this.second.as_mut(), cx) {
                winner = this.judge(result, inner, false);
            }
        }
        let mut index = 0;
        while winner.is_none() && index < this.more.len() {
            let fut = this.more[index].as_mut();
            let inner = Origin::of(fut.as_ref().get_ref());
            match fut.poll(cx) {
                Poll::Ready(result) => {
                    drop(this.more.remove(index));
                    winner = this.judge(result, inner, false);
                }
                Poll::Pending => index += 1,
            }
        }
        if let Some(ok) = winner {
            // The others are dropped now, not when the caller drops this: their permits and
            // slots go back at once.
            this.first.set(None);
            this.second.set(None);
            this.more.clear();
            this.timer.set(None);
            return Poll::Ready(Some(ok));
        }
        let live = this.first.is_some() || this.second.is_some() || !this.more.is_empty();
        let may_start = !*this.stopped && *this.started <= *this.max_hedges;
        if may_start && (*this.due || !live) {
            return Poll::Ready(None);
        }
        if !live {
            let policy = *this.policy;
            policy.stats.failures.fetch_add(1, Relaxed);
            let last = this.last.take().expect("every attempt failed");
            if let Err(err) = &last {
                report_failed(policy.policy_name(), *this.started, err);
            }
            // Code the attributes wrote, or `Hedge`, passes it on.
            set_mark(this.last_mark.take(), Origin::BLOCKING);
            return Poll::Ready(Some(last));
        }
        if may_start {
            if std::mem::take(this.unarmed) {
                // Within the poll that started the attempt: no time has passed since.
                let at = Instant::now().checked_add(*this.delay);
                this.timer.set(at.map(tokio::time::sleep_until));
            }
            if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                ready!(timer.poll(cx));
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    }
}

impl<F, T, E, P> Hedging<'_, F, P>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    /// Drives one hedged call to its end, starting each attempt with `next` when it is due:
    /// ready at once for a closure; a service may first have to become ready (the attempts
    /// already running are polled meanwhile), or fail to. `me` marks what it returns for the
    /// layer outside.
    ///
    /// An error from `next` ends the call at once, with the attempts still running: a service
    /// that fails its readiness can serve no attempt (tower's contract).
    pub(crate) fn poll_hedged(
        mut self: Pin<&mut Self>,
        me: Origin,
        cx: &mut Context<'_>,
        mut next: impl FnMut(&mut Context<'_>) -> Poll<Result<F, E>>,
    ) -> Poll<Result<T, E>> {
        // With no attempt yet, the hedging asks for the first one at once. Asked again, it asks
        // again: an attempt that is due stays due until it starts.
        let mut start = None;
        loop {
            match ready!(self.as_mut().drive(start.take(), cx)) {
                Some(result) => {
                    if result.is_err() {
                        // Marked by the hedging as generated code's; passed on as this future's.
                        set_mark(take_mark(None), me);
                    }
                    return Poll::Ready(result);
                }
                None => match ready!(next(cx)) {
                    Ok(fut) => start = Some(fut),
                    Err(err) => {
                        self.policy.stats.failures.fetch_add(1, Relaxed);
                        set_mark(None, me);
                        return Poll::Ready(Err(err));
                    }
                },
            }
        }
    }
}

/// Polls the attempt in `slot`, if any; a finished one leaves it.
fn poll_slot<F: Future>(
    mut slot: Pin<&mut Option<F>>,
    cx: &mut Context<'_>,
) -> Option<(F::Output, Origin)> {
    let fut = slot.as_mut().as_pin_mut()?;
    let inner = Origin::of(fut.as_ref().get_ref());
    match fut.poll(cx) {
        Poll::Ready(output) => {
            slot.set(None);
            Some((output, inner))
        }
        Poll::Pending => None,
    }
}

impl<F, T, E, P> HedgingProj<'_, '_, F, P>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
{
    /// A finished attempt (`first`: the first one; `inner`: its type, for its mark): `Ok` wins;
    /// an error decides what comes next and is kept.
    fn judge(&mut self, result: Result<T, E>, inner: Origin, first: bool) -> Option<Result<T, E>> {
        let err = match result {
            Ok(value) => {
                let stats = &self.policy.stats;
                stats.successes.increment();
                if !first {
                    stats.won.fetch_add(1, Relaxed);
                }
                return Some(Ok(value));
            }
            Err(err) => err,
        };
        let mark = take_mark(Some(inner));
        match mark {
            Some(RejectedKind::TimedOut) => *self.due = true,
            Some(_) => *self.stopped = true,
            None if (self.when)(&err) => *self.due = true,
            None => *self.stopped = true,
        }
        *self.last = Some(Err(err));
        *self.last_mark = mark;
        None
    }
}

/// The future of [`Hedging::attempt`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct HedgeAttempt<'h, 'p, F: Future, P> {
    hedging: Pin<&'h mut Hedging<'p, F, P>>,
    start: Option<F>,
}

impl<F, T, E, P> Future for HedgeAttempt<'_, '_, F, P>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    type Output = Option<Result<T, E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let start = this.start.take();
        this.hedging.as_mut().drive(start, cx)
    }
}

#[cold]
#[inline(never)]
fn report_hedge(name: &str, started: u32, max_hedges: u32) {
    tracing::event!(
        name: "hedge.started",
        target: "resilient",
        Level::DEBUG,
        correlation_id = crate::correlation::field(),
        policy = name,
        hedge = started,
        max_hedges,
        "`{name}` started hedge {started} of {max_hedges}"
    );
}

#[cold]
#[inline(never)]
fn report_failed(name: &str, attempts: u32, err: &dyn Debug) {
    tracing::event!(
        name: "hedge.failed",
        target: "resilient",
        Level::WARN,
        correlation_id = crate::correlation::field(),
        policy = name,
        attempts,
        error = ?err,
        "every attempt of `{name}` failed ({attempts}); the last error is returned"
    );
}

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::Hedge,
    keys: &["delay", "max_hedges"],
    check_form: |key, value| {
        let mut defaults = *HedgePolicy::new().initial_settings();
        set(&mut defaults, key, value)
    },
};

fn set(s: &mut HedgeSettings, key: &str, value: &str) -> Result<(), String> {
    match key {
        "delay" => s.delay = parse_duration(value)?,
        "max_hedges" => s.max_hedges = parse_count(value)?,
        _ => return Err(not_a_key(&[PolicyKind::Hedge])),
    }
    Ok(())
}

impl Registered for HedgePolicy {
    fn name(&self) -> &'static str {
        self.policy_name()
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::Hedge
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        let s = *self.settings();
        BTreeMap::from([
            ("delay", show(s.delay)),
            ("max_hedges", s.max_hedges.to_string()),
        ])
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::Hedge(HedgePolicy::metrics(self))
    }

    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused> {
        let mut settings = *self.initial_settings();
        set_each(&mut settings, values, set)?;
        Ok(self.reconfigure(settings)?)
    }
}
