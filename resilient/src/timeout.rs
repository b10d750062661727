//! [`timeout`]: give up on a call that takes too long.

use crate::Rejected;
use crate::clock::nanos;
use crate::config::{ConfigError, ConfigValue, check_nonzero, or_panic};
use crate::name::{Name, PolicyName};
use crate::policy::{
    Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration, parse_duration, show,
};
use crate::rejected::{Origin, reject, set_mark, take_mark};
use crate::striped::StripedCounter;
use pin_project::pin_project;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tracing::Level;

/// Runs `fut`, giving up after `limit`: the future is then dropped (cancelled) and the call
/// returns `E::from(Rejected)` with [`RejectedKind::TimedOut`](crate::RejectedKind::TimedOut).
///
/// A future that is ready on its first poll costs no timer and no clock reading; the timer starts
/// on the first poll that finds it pending. Needs a tokio runtime with time enabled.
///
/// ```
/// use resilient::{Rejected, RejectedKind};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<_, Rejected>("late")
/// };
/// let err = resilient::timeout(Duration::from_secs(1), slow).await.unwrap_err();
/// assert_eq!(err.kind(), RejectedKind::TimedOut);
/// # }
/// ```
pub fn timeout<F, T, E>(limit: Duration, fut: F) -> Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    generated(Owner::Free, Some(limit), fut)
}

/// [`timeout`] with a name for events and for the [`Rejected`] it returns.
pub fn timeout_named<F, T, E>(name: &'static str, limit: Duration, fut: F) -> Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    generated(Owner::Named(name), Some(limit), fut)
}

/// A named time limit with its counters, to keep in a `static`: what `#[timeout]` builds, and
/// what the [`registry`](crate::registry) lists and can reconfigure.
///
/// ```
/// use resilient::{Rejected, TimeoutPolicy};
/// use std::time::Duration;
///
/// static FETCH: TimeoutPolicy = TimeoutPolicy::new("fetch", Duration::from_secs(2));
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let page = FETCH.call(async { Ok::<_, Rejected>("page") }).await;
/// assert_eq!(page.unwrap(), "page");
/// assert_eq!(FETCH.metrics().successes, 1);
/// # }
/// ```
pub struct TimeoutPolicy {
    name: PolicyName,
    /// The limit it was built with; none when each call brings its own.
    initial: Option<Duration>,
    /// A limit set at run time in nanoseconds, or 0 for `initial`.
    current: AtomicU64,
    pub(crate) registration: crate::policy::Registration,
    stats: TimeoutStats,
}

/// Counters of a [`TimeoutPolicy`]: a call in time counts in this thread's row only.
pub(crate) struct TimeoutStats {
    in_time: StripedCounter,
    timeouts: AtomicU64,
}

/// A snapshot of a [`TimeoutPolicy`]'s counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutMetrics {
    /// Calls that finished in time, whatever their result.
    pub successes: u64,
    /// Calls that ran out of time and were cancelled.
    pub timeouts: u64,
}

impl TimeoutMetrics {
    /// Calls that ended: in time or not.
    pub fn calls(&self) -> u64 {
        self.successes + self.timeouts
    }
}

impl TimeoutPolicy {
    /// A policy named `name` (in events, rejections, metrics and the registry) giving up after
    /// `limit`.
    ///
    /// # Panics
    ///
    /// If `limit` is zero; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::TimeoutPolicy =
    ///     resilient::TimeoutPolicy::new("fetch", std::time::Duration::ZERO);
    /// ```
    ///
    /// A limit known only at run time goes through [`try_new`](Self::try_new).
    pub const fn new(name: &'static str, limit: Duration) -> Self {
        // The limit alone is checked: a policy holds counters, which a const fn cannot drop.
        or_panic!(check(limit));
        Self::with(PolicyName::given(name), Some(limit))
    }

    /// [`new`](Self::new) for `#[timeout]`: named after the annotated function.
    #[doc(hidden)]
    pub const fn for_function(name: Name, limit: Duration) -> Self {
        or_panic!(check(limit));
        Self::with(PolicyName::of_function(name), Some(limit))
    }

    /// [`new`](Self::new), or what is wrong with `limit`:
    ///
    /// ```
    /// use resilient::TimeoutPolicy;
    /// use std::time::Duration;
    ///
    /// let err = TimeoutPolicy::try_new("fetch", Duration::ZERO).unwrap_err();
    /// assert_eq!(err.to_string(), "policy `fetch`: `timeout` must be longer than zero (got 0ns)");
    /// ```
    pub const fn try_new(name: &'static str, limit: Duration) -> Result<Self, ConfigError> {
        match check(limit) {
            Ok(()) => Ok(Self::with(PolicyName::given(name), Some(limit))),
            Err(err) => Err(err.for_policy(name)),
        }
    }

    /// For `#[timeout(EXPR)]`: every call brings its limit, unless one is set at run time.
    #[doc(hidden)]
    pub const fn per_call(name: &'static str) -> Self {
        Self::with(PolicyName::given(name), None)
    }

    /// [`per_call`](Self::per_call), named after the annotated function.
    #[doc(hidden)]
    pub const fn per_call_for_function(name: Name) -> Self {
        Self::with(PolicyName::of_function(name), None)
    }

    const fn with(name: PolicyName, initial: Option<Duration>) -> Self {
        Self {
            name,
            initial,
            current: AtomicU64::new(0),
            registration: crate::policy::Registration::new(),
            stats: TimeoutStats {
                in_time: StripedCounter::new(),
                timeouts: AtomicU64::new(0),
            },
        }
    }

    /// Whether the limit is allowed: longer than zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.initial {
            Some(limit) => check(limit).map_err(|e| e.for_policy(self.name())),
            None => Ok(()),
        }
    }

    /// The name in events, rejections and metrics.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The limit in force: as last set at run time, or as built; none when each call brings its
    /// own.
    pub fn limit(&self) -> Option<Duration> {
        match self.current.load(Relaxed) {
            0 => self.initial,
            set => Some(Duration::from_nanos(set)),
        }
    }

    /// Runs `fut` under the limit, as [`timeout`] does, counting the outcome.
    pub fn call<F, T, E>(&'static self, fut: F) -> Timeout<F>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        self.generated(None, fut)
    }

    /// What it counted so far.
    pub fn metrics(&self) -> TimeoutMetrics {
        TimeoutMetrics {
            successes: self.stats.in_time.sum(),
            timeouts: self.stats.timeouts.load(Relaxed),
        }
    }

    /// The future for `fut`: under `limit` when the attribute computes one per call, else under
    /// the policy's own. The policy registers on the first poll, and the limit in force is read
    /// when the timer starts: nothing opaque runs between building `fut` and moving it into
    /// place (see [`BreakerCall`](crate::BreakerCall)'s `registers`).
    #[inline]
    pub(crate) fn generated<F>(&'static self, limit: Option<Duration>, fut: F) -> Timeout<F> {
        generated(Owner::Policy(self), limit, fut)
    }

    /// The limit for a call that brings `given` (or none).
    fn limit_for(&self, given: Option<Duration>) -> Duration {
        match self.current.load(Relaxed) {
            // Built by `per_call` only for calls that bring a limit: `MAX` is never used.
            0 => given.or(self.initial).unwrap_or(Duration::MAX),
            set => Duration::from_nanos(set),
        }
    }

    /// Sets the limit at run time, or explains why not (the old one stays).
    pub(crate) fn reconfigure(&self, limit: Duration) -> Result<(), ConfigError> {
        check(limit)?;
        self.current.store(nanos(limit).max(1), Relaxed);
        Ok(())
    }

    /// Back to the limit it was built with.
    pub(crate) fn reset_limit(&self) -> Result<(), ConfigError> {
        self.validate()?;
        self.current.store(0, Relaxed);
        Ok(())
    }
}

const fn check(limit: Duration) -> Result<(), ConfigError> {
    check_nonzero!("timeout", limit);
    Ok(())
}

impl std::fmt::Debug for TimeoutPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutPolicy")
            .field("name", &self.name())
            .field("limit", &self.limit())
            .finish()
    }
}

/// What a [`Timeout`] runs under: its name and, for a policy's, the counters.
#[derive(Clone, Copy)]
pub(crate) enum Owner {
    /// [`timeout`], which events and rejections call "timeout".
    Free,
    /// [`timeout_named`].
    Named(&'static str),
    /// A [`TimeoutPolicy`]: its name is read only if the call times out.
    Policy(&'static TimeoutPolicy),
}

/// A timeout around `fut`.
pub(crate) fn generated<F>(owner: Owner, limit: Option<Duration>, fut: F) -> Timeout<F> {
    Timeout {
        owner,
        limit,
        fut,
        timer: None,
    }
}

/// The future of [`timeout`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    owner: Owner,
    /// The limit given with the call; for a policy's, the one in force once the timer started.
    limit: Option<Duration>,
    #[pin]
    fut: F,
    #[pin]
    timer: Option<Sleep>,
}

impl<F, T, E> Future for Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut this = self.project();
        if let Owner::Policy(policy) = *this.owner {
            crate::policy::on_first_use(policy);
        }
        let inner = Some(Origin::of(this.fut.as_ref().get_ref()));
        if let Poll::Ready(result) = this.fut.poll(cx) {
            if result.is_err() {
                // A rejection from the layer inside goes on to the layer outside.
                set_mark(take_mark(inner), me);
            }
            if let Owner::Policy(policy) = this.owner {
                policy.stats.in_time.increment();
            }
            return Poll::Ready(result);
        }
        if this.timer.is_none() {
            let limit = match *this.owner {
                Owner::Policy(policy) => policy.limit_for(*this.limit),
                _ => this.limit.unwrap_or(Duration::MAX),
            };
            *this.limit = Some(limit);
            this.timer.set(Some(tokio::time::sleep(limit)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => {
                let limit = this.limit.unwrap_or(Duration::MAX);
                let rejected = match *this.owner {
                    Owner::Free => Rejected::timed_out("timeout", limit, false),
                    Owner::Named(name) => Rejected::timed_out(name, limit, true),
                    Owner::Policy(policy) => {
                        policy.stats.timeouts.fetch_add(1, Relaxed);
                        Rejected::timed_out(policy.name(), limit, true)
                    }
                };
                timed_out(&rejected);
                Poll::Ready(Err(reject(rejected, me)))
            }
            _ => Poll::Pending,
        }
    }
}

/// The `timeout.elapsed` event; its message is the rejection's.
#[cold]
fn timed_out(rejected: &Rejected) {
    tracing::event!(
        name: "timeout.elapsed",
        target: "resilient",
        Level::WARN,
        correlation_id = crate::correlation::field(),
        policy = rejected.policy(),
        timeout_ms = rejected.time_limit().map_or(0, |limit| limit.as_millis() as u64),
        "{rejected}"
    );
}

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::Timeout,
    keys: &["timeout"],
    check_form: |_, value| parse_duration(value).map(drop),
};

impl Registered for TimeoutPolicy {
    fn name(&self) -> &'static str {
        TimeoutPolicy::name(self)
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::Timeout
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        let limit = self.limit().map_or("set by each call".to_owned(), show);
        BTreeMap::from([("timeout", limit)])
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::Timeout(TimeoutPolicy::metrics(self))
    }

    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused> {
        match values.last() {
            Some((key, value)) => {
                let limit = parse_duration(value).map_err(|reason| Refused::new(key, reason))?;
                Ok(self.reconfigure(limit)?)
            }
            None => Ok(self.reset_limit()?),
        }
    }
}
