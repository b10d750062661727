//! [`RetryPolicy`] and [`retry`]: try again after a failure, waiting longer each time.

use crate::config::{
    ConfigError, ConfigValue, Current, Live, check_count, check_nonzero, check_rate, or_panic,
};
use crate::name::{Name, PolicyName};
use crate::policy::{
    Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration, kind_keys, not_a_key,
    parse_count, parse_duration, parse_fraction, set_each, show,
};
use crate::rejected::{Origin, set_mark, take_mark};
use crate::retry_ratio::RatioWindow;
use crate::striped::StripedCounter;
use crate::{Backoff, RejectedKind};
use pin_project::pin_project;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tracing::Level;

/// How often to try a call and how long to wait in between.
///
/// ```
/// use resilient::{Backoff, RetryPolicy};
/// use std::time::Duration;
///
/// static FETCH: RetryPolicy = RetryPolicy::new()
///     .name("fetch")
///     .max_attempts(4)
///     .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2)))
///     .budget(Duration::from_secs(5));
/// assert_eq!(FETCH.validate(), Ok(()));
/// ```
pub struct RetryPolicy {
    name: PolicyName,
    settings: Live<RetrySettings>,
    pub(crate) registration: crate::policy::Registration,
    stats: RetryStats,
    /// Marks of the counts for `retry_ratio`, made at the first retry it judges.
    ratio_window: OnceLock<Box<RatioWindow>>,
    /// Its part in the cluster's retry ratio, once it shares one through Redis.
    #[cfg(feature = "redis")]
    shared: OnceLock<Box<crate::shared::retry::SharedRatio>>,
}

/// What a [`RetryPolicy`] is configured with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RetrySettings {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) budget: Option<Duration>,
    pub(crate) ratio: Option<f64>,
}

/// Counters of a [`RetryPolicy`]: the success path counts in this thread's row only.
struct RetryStats {
    successes: StripedCounter,
    failures: AtomicU64,
    retries: AtomicU64,
    exhausted: AtomicU64,
    aborted: AtomicU64,
}

impl RetryPolicy {
    /// 3 attempts with the default [`Backoff`] (exponential 1 s → 60 s, ±25 % jitter), no budget,
    /// named `"retry"`.
    pub const fn new() -> Self {
        Self {
            name: PolicyName::given("retry"),
            settings: Live::new(RetrySettings {
                max_attempts: 3,
                backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60)),
                budget: None,
                ratio: None,
            }),
            registration: crate::policy::Registration::new(),
            stats: RetryStats {
                successes: StripedCounter::new(),
                failures: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
                aborted: AtomicU64::new(0),
            },
            ratio_window: OnceLock::new(),
            #[cfg(feature = "redis")]
            shared: OnceLock::new(),
        }
    }

    /// The name in events and metrics.
    pub const fn name(self, name: &'static str) -> Self {
        self.named(PolicyName::given(name))
    }

    /// [`name`](Self::name) for `#[retry]`: named after the annotated function.
    #[doc(hidden)]
    pub const fn for_function(self, name: Name) -> Self {
        self.named(PolicyName::of_function(name))
    }

    const fn named(mut self, name: PolicyName) -> Self {
        // The replaced name holds nothing yet: a `const fn` may not run its destructor.
        std::mem::forget(std::mem::replace(&mut self.name, name));
        self
    }

    /// Attempts in all, the first included: at least 1 (1 means no retry). There are no
    /// infinite retries.
    ///
    /// # Panics
    ///
    /// If `n` is 0; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::RetryPolicy = resilient::RetryPolicy::new().max_attempts(0);
    /// ```
    ///
    /// A count known only at run time goes through [`try_max_attempts`](Self::try_max_attempts).
    pub const fn max_attempts(mut self, n: u32) -> Self {
        or_panic!(attempts_allowed(n));
        self.settings.initial.max_attempts = n;
        self
    }

    /// [`max_attempts`](Self::max_attempts), or what is wrong with `n`:
    ///
    /// ```
    /// let err = resilient::RetryPolicy::new().name("fetch").try_max_attempts(0).unwrap_err();
    /// assert_eq!(err.to_string(), "policy `fetch`: `max_attempts` must be at least 1 (got 0)");
    /// ```
    pub fn try_max_attempts(self, n: u32) -> Result<Self, ConfigError> {
        self.allowed(attempts_allowed(n))?;
        Ok(self.max_attempts(n))
    }

    /// The waits between attempts.
    ///
    /// # Panics
    ///
    /// If `backoff` is invalid (see [`Backoff::validate`]); in a `static` or `const` that is a
    /// compile-time error:
    ///
    /// ```compile_fail,E0080
    /// use resilient::{Backoff, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// const BASE_ABOVE_MAX: Backoff = Backoff::linear(Duration::from_secs(5), Duration::from_secs(1));
    /// static NEVER: RetryPolicy = RetryPolicy::new().backoff(BASE_ABOVE_MAX);
    /// ```
    ///
    /// A backoff known only at run time goes through [`try_backoff`](Self::try_backoff).
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        or_panic!(backoff.validate());
        self.settings.initial.backoff = backoff;
        self
    }

    /// [`backoff`](Self::backoff), or what is wrong with `backoff`.
    pub fn try_backoff(self, backoff: Backoff) -> Result<Self, ConfigError> {
        self.allowed(backoff.validate())?;
        Ok(self.backoff(backoff))
    }

    /// The most time the whole call may take, from the start of the first attempt: when the next
    /// attempt would start after it, the last error is returned at once, without sleeping.
    ///
    /// # Panics
    ///
    /// If `budget` is zero; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::RetryPolicy =
    ///     resilient::RetryPolicy::new().budget(std::time::Duration::ZERO);
    /// ```
    ///
    /// A budget known only at run time goes through [`try_budget`](Self::try_budget).
    pub const fn budget(mut self, budget: Duration) -> Self {
        or_panic!(budget_allowed(budget));
        self.settings.initial.budget = Some(budget);
        self
    }

    /// [`budget`](Self::budget), or what is wrong with `budget`.
    pub fn try_budget(self, budget: Duration) -> Result<Self, ConfigError> {
        self.allowed(budget_allowed(budget))?;
        Ok(self.budget(budget))
    }

    /// At most this fraction of the calls of about the last 10 s may be retries, beyond a floor
    /// of 10 retries (see [`retry_ratio`](crate::retry_ratio)); a retry beyond it is not made,
    /// and the call returns its error (`retry.exhausted` with reason `retry_ratio`). Shared
    /// through Redis, the ratio holds for every replica together
    /// ([`share_through`](Self::share_through)).
    ///
    /// ```
    /// use resilient::RetryPolicy;
    /// static SEARCH: RetryPolicy = RetryPolicy::new().name("search").retry_ratio(0.2);
    /// ```
    ///
    /// # Panics
    ///
    /// Unless `0 < ratio <= 1`; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::RetryPolicy = resilient::RetryPolicy::new().retry_ratio(1.5);
    /// ```
    pub const fn retry_ratio(mut self, ratio: f64) -> Self {
        or_panic!(ratio_allowed(ratio));
        self.settings.initial.ratio = Some(ratio);
        self
    }

    /// [`retry_ratio`](Self::retry_ratio), or what is wrong with `ratio`.
    pub fn try_retry_ratio(self, ratio: f64) -> Result<Self, ConfigError> {
        self.allowed(ratio_allowed(ratio))?;
        Ok(self.retry_ratio(ratio))
    }

    /// Keeps [`retry_ratio`](Self::retry_ratio) for every replica that gives its policy the same
    /// name, through `backend` (see [`crate::shared::retry`]): the counts go to the server in
    /// batches, sent by a task on the runtime this is called on (or of the first retry judged).
    /// While the backend fails, `on_failure` decides. A backend named by the configuration
    /// (`redis_url`) takes precedence.
    #[cfg(feature = "redis")]
    pub fn share_through(
        &'static self,
        backend: std::sync::Arc<crate::shared::Redis>,
        on_failure: crate::shared::OnFailure,
    ) {
        let shared = self.shared_part();
        shared.batches.sharing.set_from_code(backend, on_failure);
        shared.batches.share(self, crate::shared::retry::start);
    }

    /// How often the counts are sent and the cluster's learnt (default 250 ms; the registry key
    /// `redis_batch` overrides it).
    #[cfg(feature = "redis")]
    pub fn share_every(&self, period: Duration) {
        self.shared_part().batches.set_period_from_code(period);
    }

    /// Its part in the cluster's retry ratio, made now if it had none.
    #[cfg(feature = "redis")]
    pub(crate) fn shared_part(&self) -> &crate::shared::retry::SharedRatio {
        self.shared
            .get_or_init(|| Box::new(crate::shared::retry::SharedRatio::new()))
    }

    /// Calls that ended and retries made so far, which the retry ratio judges.
    pub(crate) fn ratio_counts(&self) -> (u64, u64) {
        let s = &self.stats;
        (
            s.successes.sum() + s.failures.load(Relaxed),
            s.retries.load(Relaxed),
        )
    }

    /// Whether one more retry keeps within `ratio`: the cluster's counts if shared, else this
    /// policy's over the last window.
    fn ratio_allows(&self, ratio: f64) -> bool {
        let (calls, retries) = self.ratio_counts();
        #[cfg(feature = "redis")]
        if let Some(shared) = self.shared.get() {
            if let Some(allowed) = shared.allows(ratio, calls, retries) {
                return allowed;
            }
        }
        let window = self.ratio_window.get_or_init(Box::default);
        let (calls, retries) = window.in_window(Instant::now(), calls, retries);
        crate::retry_ratio::allows(ratio, calls, retries)
    }

    /// A setting's check, the error naming this policy.
    fn allowed(&self, checked: Result<(), ConfigError>) -> Result<(), ConfigError> {
        checked.map_err(|err| err.for_policy(self.policy_name()))
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.name.get()
    }

    /// Attempts in all.
    pub fn attempts(&self) -> u32 {
        self.settings().max_attempts
    }

    /// Checks every setting; the error names the policy, the key, the value and the rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.allowed(self.settings.initial.check())
    }

    /// The settings it was built with.
    pub(crate) fn initial_settings(&self) -> &RetrySettings {
        &self.settings.initial
    }

    /// The settings in force: as built, or as last set at run time.
    #[inline]
    pub(crate) fn settings(&self) -> Current<'_, RetrySettings> {
        self.settings.get()
    }

    /// Replaces the settings, or explains why not (the old ones stay).
    pub(crate) fn reconfigure(&self, settings: RetrySettings) -> Result<(), ConfigError> {
        settings.check()?;
        self.settings.set(settings);
        Ok(())
    }

    /// What it counted so far.
    pub fn metrics(&self) -> RetryMetrics {
        let s = &self.stats;
        RetryMetrics {
            successes: s.successes.sum(),
            failures: s.failures.load(Relaxed),
            retries: s.retries.load(Relaxed),
            exhausted: s.exhausted.load(Relaxed),
            aborted: s.aborted.load(Relaxed),
        }
    }
}

impl RetrySettings {
    pub(crate) const fn check(&self) -> Result<(), ConfigError> {
        if let Err(err) = attempts_allowed(self.max_attempts) {
            return Err(err);
        }
        if let Some(budget) = self.budget {
            if let Err(err) = budget_allowed(budget) {
                return Err(err);
            }
        }
        if let Some(ratio) = self.ratio {
            if let Err(err) = ratio_allowed(ratio) {
                return Err(err);
            }
        }
        self.backoff.validate()
    }
}

const fn attempts_allowed(n: u32) -> Result<(), ConfigError> {
    check_count!("max_attempts", n);
    Ok(())
}

const fn budget_allowed(budget: Duration) -> Result<(), ConfigError> {
    check_nonzero!("budget", budget);
    Ok(())
}

const fn ratio_allowed(ratio: f64) -> Result<(), ConfigError> {
    check_rate!("retry_ratio", ratio);
    Ok(())
}

/// A snapshot of a [`RetryPolicy`]'s counters ([`RetryPolicy::metrics`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryMetrics {
    /// Retried calls that ended in success (on any attempt).
    pub successes: u64,
    /// Retried calls that ended in an error: exhausted, aborted, or an error not worth retrying.
    pub failures: u64,
    /// Waits between attempts: every attempt after a call's first.
    pub retries: u64,
    /// Calls that ran out of attempts, of budget, or of retry ratio.
    pub exhausted: u64,
    /// Calls stopped at once because a layer inside rejected them (an open circuit).
    pub aborted: u64,
}

impl RetryMetrics {
    /// Calls that ended: successes and failures.
    pub fn calls(&self) -> u64 {
        self.successes + self.failures
    }
}

/// A copy with the same settings and its own, zeroed counters, not yet registered.
impl Clone for RetryPolicy {
    fn clone(&self) -> Self {
        let mut copy = Self::new();
        copy.name = self.name.clone();
        copy.settings.initial = *self.settings();
        copy
    }
}

/// Equal when the settings in force are.
impl PartialEq for RetryPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.policy_name() == other.policy_name() && *self.settings() == *other.settings()
    }
}

impl Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.settings();
        f.debug_struct("RetryPolicy")
            .field("name", &self.policy_name())
            .field("max_attempts", &s.max_attempts)
            .field("backoff", &s.backoff)
            .field("budget", &s.budget)
            .field("retry_ratio", &s.ratio)
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// Calls `op` until its future succeeds, the policy's attempts or budget run out, or a circuit
/// breaker inside rejects the call (retrying into an open circuit only adds load: the rejection is
/// returned at once). After the last attempt the last error is returned unchanged.
///
/// Every attempt is a fresh future from `op`; between attempts the retry sleeps on tokio's clock.
///
/// ```
/// use resilient::{Backoff, RetryPolicy};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// static POLICY: RetryPolicy = RetryPolicy::new().backoff(Backoff::constant(Duration::from_millis(10)));
/// let calls = AtomicU32::new(0);
/// let result = resilient::retry(&POLICY, || async {
///     match calls.fetch_add(1, Ordering::SeqCst) {
///         0 | 1 => Err("flaky"),
///         _ => Ok("third time lucky"),
///     }
/// })
/// .await;
/// assert_eq!(result, Ok("third time lucky"));
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
pub fn retry<F, Fut, T, E>(policy: &RetryPolicy, op: F) -> Retry<'_, F, Fut, fn(&E) -> bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Debug,
{
    retry_when(policy, every_error_is_retried, op)
}

/// [`retry`], retrying only the errors for which `when` returns `true`; others are returned at
/// once. A timeout from a layer inside is always retried, whatever `when` says: `when` judges
/// only the function's own errors.
///
/// ```
/// # use resilient::{Backoff, RetryPolicy};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let policy = RetryPolicy::new().backoff(Backoff::none());
/// let mut attempts = 0;
/// let result: Result<(), std::io::Error> = resilient::retry_when(
///     &policy,
///     |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionReset,
///     || {
///         attempts += 1;
///         async { Err(std::io::ErrorKind::PermissionDenied.into()) }
///     },
/// )
/// .await;
/// assert!(result.is_err());
/// assert_eq!(attempts, 1, "permission errors are not retried");
/// # }
/// ```
pub fn retry_when<F, Fut, T, E, P>(policy: &RetryPolicy, when: P, op: F) -> Retry<'_, F, Fut, P>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    Retry {
        run: RetryLoop::new(policy),
        op,
        when,
        state: State::Idle,
    }
}

fn every_error_is_retried<E>(_: &E) -> bool {
    true
}

/// The future of [`retry`] and [`retry_when`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Retry<'p, F, Fut, P> {
    run: RetryLoop<'p>,
    op: F,
    when: P,
    #[pin]
    state: State<Fut>,
}

/// Where a retried call stands: about to start an attempt, running one, or waiting after one.
#[pin_project(project = StateProj)]
pub(crate) enum State<Fut> {
    Idle,
    Attempt(#[pin] Fut),
    Waiting(#[pin] Sleep),
}

/// What to do after a failed attempt.
enum Next {
    Stop,
    RetryAfter(Duration),
}

impl<F, Fut, T, E, P> Future for Retry<'_, F, Fut, P>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let this = self.project();
        let op = this.op;
        let next = |_: &mut Context<'_>| Poll::Ready(Ok(op()));
        this.state.poll_retry(this.run, &*this.when, me, cx, next)
    }
}

impl<Fut> State<Fut> {
    /// Drives one retried call: starts each attempt with `next` (ready at once for a closure; a
    /// service may first have to become ready, or fail to), judges it with `run`, and waits
    /// between attempts. `me` marks what it returns for the layer outside.
    ///
    /// An error from `next` ends the call at once, unjudged: a service that fails its readiness
    /// can serve no attempt (tower's contract).
    #[inline]
    pub(crate) fn poll_retry<T, E: Debug>(
        mut self: Pin<&mut Self>,
        run: &mut RetryLoop<'_>,
        when: impl Fn(&E) -> bool,
        me: Origin,
        cx: &mut Context<'_>,
        mut next: impl FnMut(&mut Context<'_>) -> Poll<Result<Fut, E>>,
    ) -> Poll<Result<T, E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        loop {
            match self.as_mut().project() {
                StateProj::Idle => {
                    let attempt = match ready!(next(cx)) {
                        Ok(attempt) => attempt,
                        Err(err) => {
                            run.policy.stats.failures.fetch_add(1, Relaxed);
                            set_mark(None, me);
                            return Poll::Ready(Err(err));
                        }
                    };
                    run.begin();
                    self.set(State::Attempt(attempt));
                }
                StateProj::Attempt(fut) => {
                    let inner = Origin::of(fut.as_ref().get_ref());
                    let result = ready!(fut.poll(cx));
                    match run.judge(result, &when, Some(inner), me) {
                        ControlFlow::Break(result) => return Poll::Ready(result),
                        ControlFlow::Continue(delay) if delay.is_zero() => self.set(State::Idle),
                        ControlFlow::Continue(delay) => {
                            self.set(State::Waiting(tokio::time::sleep(delay)))
                        }
                    }
                }
                StateProj::Waiting(sleep) => {
                    ready!(sleep.poll(cx));
                    self.set(State::Idle);
                }
            }
        }
    }
}

/// The bookkeeping of one retried call, shared by the [`Retry`] future and the loop the `#[retry]`
/// attribute writes into an annotated function.
#[derive(Debug)]
pub(crate) struct RetryLoop<'p> {
    policy: &'p RetryPolicy,
    /// Attempts started so far.
    attempt: u32,
    /// When the first attempt started, if the policy has a budget.
    started: Option<Instant>,
}

impl<'p> RetryLoop<'p> {
    /// Before the first attempt.
    pub(crate) fn new(policy: &'p RetryPolicy) -> Self {
        Self {
            policy,
            attempt: 0,
            started: None,
        }
    }

    /// Starts an attempt.
    #[inline]
    pub(crate) fn begin(&mut self) {
        self.count_attempt();
        self.start_budget();
    }

    /// Counts an attempt about to start; [`start_budget`](Self::start_budget) follows before
    /// it runs.
    #[inline]
    fn count_attempt(&mut self) {
        self.attempt += 1;
    }

    /// Starts the budget's clock, if the policy has a budget, at the first attempt.
    #[inline]
    fn start_budget(&mut self) {
        if self.attempt == 1 && self.started.is_none() {
            self.start_budget_now();
        }
    }

    /// Starts the budget's clock now, if the policy has a budget.
    #[inline]
    fn start_budget_now(&mut self) {
        if self.policy.settings().budget.is_some() {
            self.started = Some(Instant::now());
        }
    }

    /// Judges a finished attempt: `Break` with what to return, or `Continue` with the wait before
    /// the next attempt. `inner` is the layer inside, whose mark on an error says it was a
    /// rejection (`None`: the mark is the attempt's whoever left it); `me` marks what is returned
    /// for the layer outside.
    #[inline]
    pub(crate) fn judge<T, E: Debug>(
        &mut self,
        result: Result<T, E>,
        when: impl Fn(&E) -> bool,
        inner: Option<Origin>,
        me: Origin,
    ) -> ControlFlow<Result<T, E>, Duration> {
        self.judge_counted(self.policy, result, when, inner, me)
    }

    /// [`judge`](Self::judge) with the caller's copy of this loop's `policy`.
    #[inline]
    pub(crate) fn judge_counted<T, E: Debug>(
        &mut self,
        policy: &RetryPolicy,
        result: Result<T, E>,
        when: impl Fn(&E) -> bool,
        inner: Option<Origin>,
        me: Origin,
    ) -> ControlFlow<Result<T, E>, Duration> {
        match result {
            Ok(value) => {
                // Read before the counter's store, which the compiler cannot tell apart from it.
                let attempt = self.attempt;
                policy.stats.successes.increment();
                if attempt > 1 {
                    succeeded(policy, attempt);
                }
                ControlFlow::Break(Ok(value))
            }
            Err(err) => match self.judge_failure(&err, when, inner, me) {
                Next::Stop => ControlFlow::Break(Err(err)),
                Next::RetryAfter(delay) => ControlFlow::Continue(delay),
            },
        }
    }

    /// [`judge`](Self::judge) for a failed attempt. Out of line: inlined into every attempt's
    /// poll, the rare path made most of its code. The error stays with the caller: returned from
    /// here, it came back through memory and took the successful result there with it.
    #[inline(never)]
    fn judge_failure<E: Debug>(
        &mut self,
        err: &E,
        when: impl Fn(&E) -> bool,
        inner: Option<Origin>,
        me: Origin,
    ) -> Next {
        let mark = take_mark(inner);
        let next = decide(self.policy, self.attempt, self.started, mark, err, when);
        if let Next::Stop = next {
            self.policy.stats.failures.fetch_add(1, Relaxed);
            set_mark(mark, me);
        }
        next
    }
}

/// The loop `#[retry]` writes into an annotated function: its bookkeeping and `when`. The loop
/// creates each attempt afresh, so the body may borrow the function's arguments mutably (a
/// closure returning a future could not lend them).
///
/// `E` is the function's error type, which `when` judges: known from the first attempt, it lets
/// a mistake in `when` be reported at `when`.
#[derive(Debug)]
pub struct Retrying<'p, P, E> {
    run: RetryLoop<'p>,
    when: P,
    error: PhantomData<fn(&E)>,
}

impl<'p, P, E> Retrying<'p, P, E> {
    /// Before the first attempt, which starts at once: the budget's clock starts here, before
    /// the attempt's future is built. (Started where the attempt is polled, its call to the clock
    /// made the compiler read the fresh future's fields back from memory.)
    #[inline]
    pub(crate) fn new(policy: &'p RetryPolicy, when: P) -> Self {
        let mut run = RetryLoop::new(policy);
        run.start_budget_now();
        Self {
            run,
            when,
            error: PhantomData,
        }
    }

    /// Runs one attempt, `fut`: the future resolves to what to return, or to `None` once the wait
    /// before the next attempt is over. A rejection is recognised as the retry's own API does,
    /// by the type of `fut` (see `rejected::take_mark`), so a body's own errors stay its own.
    ///
    /// `E` comes from `fut`; `when` is checked against it where the attempt is awaited, so that a
    /// `when` of another type is reported as such, not as an attempt of the wrong type.
    #[inline]
    pub fn attempt<F, T>(&mut self, fut: F) -> Attempt<'_, 'p, F, P, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        // Nothing opaque runs between building `fut` and moving it into place (see
        // `BreakerCall`'s `registers`): the budget's clock started with the loop.
        self.run.count_attempt();
        Attempt {
            policy: self.run.policy,
            retrying: self,
            state: AttemptState::Running(fut),
        }
    }

    /// [`attempt`](Self::attempt) for a blocking function: `inner` is a layer the attributes
    /// wrote, or the body, which forgets any mark its code left (`__private::body_blocking`), so
    /// any mark is the attempt's. The thread sleeps before the next attempt.
    ///
    /// `when` comes with each attempt: a blocking function's predicate is checked against its
    /// return type through a reference to it (`__private::when_blocking`), which lives for one
    /// statement.
    #[inline]
    pub fn attempt_blocking<T>(
        &mut self,
        inner: impl FnOnce() -> Result<T, E>,
        when: impl Fn(&E) -> bool,
    ) -> Option<Result<T, E>>
    where
        E: Debug,
    {
        self.run.count_attempt();
        let result = inner();
        let delay = match self.run.judge(result, when, None, Origin::BLOCKING) {
            ControlFlow::Break(result) => return Some(result),
            ControlFlow::Continue(delay) => delay,
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        None
    }
}

/// The future of [`Retrying::attempt`]: the attempt, then the wait before the next one.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Attempt<'r, 'p, F, P, E> {
    /// The policy, copied from `retrying`: a success counts itself without reading through
    /// `retrying` (a chain of three loads, each waiting for the one before, on every call).
    policy: &'p RetryPolicy,
    retrying: &'r mut Retrying<'p, P, E>,
    #[pin]
    state: AttemptState<F>,
}

#[pin_project(project = AttemptStateProj)]
enum AttemptState<F> {
    Running(#[pin] F),
    Waiting(#[pin] Sleep),
}

impl<F, T, E, P> Future for Attempt<'_, '_, F, P, E>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    E: Debug,
{
    type Output = Option<Result<T, E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let delay = match this.state.as_mut().project() {
                AttemptStateProj::Running(fut) => {
                    let inner = Origin::of(fut.as_ref().get_ref());
                    let result = ready!(fut.poll(cx));
                    let retrying = &mut **this.retrying;
                    match retrying.run.judge_counted(
                        this.policy,
                        result,
                        &retrying.when,
                        Some(inner),
                        Origin::BLOCKING,
                    ) {
                        ControlFlow::Break(result) => return Poll::Ready(Some(result)),
                        ControlFlow::Continue(delay) if delay.is_zero() => {
                            return Poll::Ready(None);
                        }
                        ControlFlow::Continue(delay) => delay,
                    }
                }
                AttemptStateProj::Waiting(sleep) => {
                    ready!(sleep.poll(cx));
                    return Poll::Ready(None);
                }
            };
            this.state
                .set(AttemptState::Waiting(tokio::time::sleep(delay)));
        }
    }
}

/// Judges a failed attempt and emits its event.
fn decide<E: Debug>(
    policy: &RetryPolicy,
    attempt: u32,
    started: Option<Instant>,
    mark: Option<RejectedKind>,
    err: &E,
    when: impl Fn(&E) -> bool,
) -> Next {
    let (stats, name, me_policy) = (&policy.stats, policy.policy_name(), policy);
    let policy = policy.settings();
    // A refusal by a rate limiter or a bulkhead is retried, no sooner than the wait it names.
    let mut at_least = Duration::ZERO;
    match mark {
        Some(RejectedKind::TimedOut) => {}
        Some(kind) if kind.is_overload() => at_least = crate::rejected::refusal_wait(),
        Some(kind) => {
            tracing::event!(
                name: "retry.aborted",
                target: "resilient",
                Level::WARN,
                correlation_id = crate::correlation::field(),
                policy = name,
                attempt,
                reason = ?kind,
                error = ?err,
                "retry `{name}` stopped after attempt {attempt}: a layer inside rejected the call ({kind:?})"
            );
            stats.aborted.fetch_add(1, Relaxed);
            return Next::Stop;
        }
        None if !when(err) => return Next::Stop,
        None => {}
    }
    let max_attempts = policy.max_attempts.max(1);
    if attempt >= max_attempts {
        exhausted(name, attempt, "attempts", err);
        stats.exhausted.fetch_add(1, Relaxed);
        return Next::Stop;
    }
    if let Some(ratio) = policy.ratio {
        if !me_policy.ratio_allows(ratio) {
            exhausted(name, attempt, "retry_ratio", err);
            stats.exhausted.fetch_add(1, Relaxed);
            return Next::Stop;
        }
    }
    let delay = policy.backoff.delay(attempt).max(at_least);
    if let (Some(budget), Some(started)) = (policy.budget, started) {
        if started.elapsed() + delay > budget {
            exhausted(name, attempt, "budget", err);
            stats.exhausted.fetch_add(1, Relaxed);
            return Next::Stop;
        }
    }
    tracing::event!(
        name: "retry.retrying",
        target: "resilient",
        Level::WARN,
        correlation_id = crate::correlation::field(),
        policy = name,
        attempt,
        max_attempts,
        delay_ms = delay.as_millis() as u64,
        error = ?err,
        "retry `{name}`: attempt {attempt} of {max_attempts} failed; next in {}",
        crate::clock::Rounded(delay)
    );
    stats.retries.fetch_add(1, Relaxed);
    Next::RetryAfter(delay)
}

fn exhausted<E: Debug>(name: &str, attempts: u32, reason: &'static str, err: &E) {
    tracing::event!(
        name: "retry.exhausted",
        target: "resilient",
        Level::ERROR,
        correlation_id = crate::correlation::field(),
        policy = name,
        attempts,
        reason,
        error = ?err,
        "retry `{name}` gave up after {attempts} attempt(s) ({reason} exhausted): {err:?}"
    );
}

fn succeeded(policy: &RetryPolicy, attempts: u32) {
    let name = policy.policy_name();
    tracing::event!(
        name: "retry.succeeded",
        target: "resilient",
        Level::INFO,
        correlation_id = crate::correlation::field(),
        policy = name,
        attempts,
        "retry `{name}` succeeded on attempt {attempts}"
    );
}

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::Retry,
    keys: kind_keys!(
        "max_attempts",
        "backoff",
        "jitter",
        "factor",
        "budget",
        "retry_ratio";
        shared: batched
    ),
    check_form: |key, value| {
        #[cfg(feature = "redis")]
        if crate::shared::BATCHED_KEYS.contains(&key) {
            return crate::shared::check_form(key, value);
        }
        let mut defaults = *RetryPolicy::new().initial_settings();
        set(&mut defaults, key, value)
    },
};

fn set(s: &mut RetrySettings, key: &str, value: &str) -> Result<(), String> {
    match key {
        "max_attempts" => s.max_attempts = parse_count(value)?,
        "backoff" => s.backoff = Backoff::parse(value)?,
        "jitter" if !s.backoff.takes_jitter() => return Err(inapplicable("jitter", &s.backoff)),
        "factor" if !s.backoff.takes_factor() => return Err(inapplicable("factor", &s.backoff)),
        "jitter" => s.backoff = s.backoff.jitter(parse_fraction(value)?),
        "factor" => s.backoff = s.backoff.factor(parse_fraction(value)?),
        "budget" => s.budget = Some(parse_duration(value)?),
        "retry_ratio" => s.ratio = Some(parse_fraction(value)?),
        _ => return Err(not_a_key(&[PolicyKind::Retry])),
    }
    Ok(())
}

/// Why `key` does nothing to `backoff`.
fn inapplicable(key: &str, backoff: &Backoff) -> String {
    let applies = match key {
        "factor" => "an exponential backoff",
        _ => "an exponential, constant or linear backoff",
    };
    format!(
        "`{key}` applies only to {applies}, and the backoff is {}",
        backoff.describe()
    )
}

impl Registered for RetryPolicy {
    fn name(&self) -> &'static str {
        self.policy_name()
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::Retry
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        let s = *self.settings();
        let mut settings = BTreeMap::from([
            ("max_attempts", s.max_attempts.to_string()),
            ("backoff", s.backoff.describe()),
        ]);
        let (factor, jitter) = s.backoff.refinements();
        if let Some(factor) = factor {
            settings.insert("factor", factor.to_string());
        }
        if let Some(jitter) = jitter {
            settings.insert("jitter", jitter.to_string());
        }
        if let Some(budget) = s.budget {
            settings.insert("budget", show(budget));
        }
        if let Some(ratio) = s.ratio {
            settings.insert("retry_ratio", ratio.to_string());
        }
        #[cfg(feature = "redis")]
        if let Some(shared) = self.shared.get() {
            settings.extend(shared.batches.config());
        }
        settings
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::Retry(RetryPolicy::metrics(self))
    }

    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused> {
        #[cfg(feature = "redis")]
        let (shared, values) = crate::shared::split(values, &crate::shared::BATCHED_KEYS);
        #[cfg(feature = "redis")]
        let values = values.as_slice();
        let mut settings = *self.initial_settings();
        // A `backoff` replaces the whole backoff: it goes in first, so that a `jitter` or
        // `factor` refines it, whichever source gave each and in whatever order.
        let (backoffs, refinements): (Vec<_>, Vec<_>) =
            values.iter().partition(|(key, _)| *key == "backoff");
        let ordered: Vec<(&str, &str)> = backoffs.into_iter().chain(refinements).copied().collect();
        set_each(&mut settings, &ordered, set)?;
        self.reconfigure(settings)?;
        #[cfg(feature = "redis")]
        if !shared.is_empty() || self.shared.get().is_some() {
            let start = crate::shared::retry::start;
            self.shared_part().batches.apply(self, &shared, start)?;
        }
        Ok(())
    }

    #[cfg(feature = "redis")]
    fn shared_backend(&self) -> Option<std::sync::Arc<crate::shared::Redis>> {
        self.shared.get()?.batches.sharing.backend()
    }
}
