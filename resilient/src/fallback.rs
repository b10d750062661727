//! [`FallbackPolicy`]: the name and count of a `#[fallback]`, for the registry and metrics.

use crate::RejectedKind;
use crate::name::{Name, PolicyName};
use crate::policy::{Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration};
use crate::rejected::{Origin, clear_mark, set_mark, take_mark};
use pin_project::pin_project;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, ready};
use tracing::Level;

/// What `#[fallback]` keeps in a `static`: its name and how often the fallback answered.
///
/// A fallback runs only after a failure, so counting it writes to one shared counter.
pub struct FallbackPolicy {
    name: PolicyName,
    pub(crate) registration: crate::policy::Registration,
    fallbacks: AtomicU64,
    after_rejection: AtomicU64,
}

/// A snapshot of a [`FallbackPolicy`]'s counter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FallbackMetrics {
    /// Calls the fallback answered instead of the function.
    pub fallbacks: u64,
    /// Of those, the calls a layer inside rejected (an open circuit, a timeout) rather than the
    /// function's own error.
    pub after_rejection: u64,
}

impl FallbackPolicy {
    /// A fallback named `name` in events, metrics and the registry.
    pub const fn new(name: &'static str) -> Self {
        Self::named(PolicyName::given(name))
    }

    /// [`new`](Self::new) for `#[fallback]`: named after the annotated function.
    #[doc(hidden)]
    pub const fn for_function(name: Name) -> Self {
        Self::named(PolicyName::of_function(name))
    }

    const fn named(name: PolicyName) -> Self {
        Self {
            name,
            registration: crate::policy::Registration::new(),
            fallbacks: AtomicU64::new(0),
            after_rejection: AtomicU64::new(0),
        }
    }

    /// The name in events and metrics.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// What it counted so far.
    pub fn metrics(&self) -> FallbackMetrics {
        FallbackMetrics {
            fallbacks: self.fallbacks.load(Relaxed),
            after_rejection: self.after_rejection.load(Relaxed),
        }
    }

    /// Counts a call the fallback is about to answer, and reports it: `rejection` is what a
    /// layer inside refused the call with, if that is why.
    pub(crate) fn starts(&self, rejection: Option<RejectedKind>) {
        self.fallbacks.fetch_add(1, Relaxed);
        if rejection.is_some() {
            self.after_rejection.fetch_add(1, Relaxed);
        }
        let reason = match rejection {
            None => "error",
            Some(RejectedKind::CircuitOpen) => "circuit_open",
            Some(RejectedKind::TimedOut) => "timed_out",
            Some(RejectedKind::RateLimited) => "rate_limited",
            Some(RejectedKind::BulkheadFull) => "bulkhead_full",
        };
        let name = self.name();
        tracing::event!(
            name: "fallback.used",
            target: "resilient",
            Level::INFO,
            correlation_id = crate::correlation::field(),
            policy = name,
            reason,
            "`{name}` answered with its fallback ({reason})"
        );
    }
}

impl std::fmt::Debug for FallbackPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackPolicy")
            .field("name", &self.name())
            .finish()
    }
}

/// The future `#[fallback]` writes around an async function's layers or body: runs `fut`, and
/// on an error that `when` accepts, the handler's future instead. A rejection by the layer inside
/// is recognised by the type of `fut` (see `rejected::take_mark`); one the handler does not take
/// goes on, marked, to the layer outside.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct FallbackCall<F, P, H, HF> {
    #[pin]
    state: FallbackState<F, P, H, HF>,
}

#[pin_project(project = FallbackStateProj)]
enum FallbackState<F, P, H, HF> {
    /// The call, with what to do if it fails.
    Running {
        #[pin]
        fut: F,
        policy: &'static FallbackPolicy,
        when: P,
        handler: Option<H>,
    },
    /// The handler's answer.
    Answering(#[pin] HF),
}

impl<F, P, H, HF> FallbackCall<F, P, H, HF> {
    pub(crate) fn new(policy: &'static FallbackPolicy, when: P, fut: F, handler: H) -> Self {
        FallbackCall {
            state: FallbackState::Running {
                fut,
                policy,
                when,
                handler: Some(handler),
            },
        }
    }
}

impl<F, T, E, P, H, HF> Future for FallbackCall<F, P, H, HF>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    H: FnOnce(E) -> HF,
    HF: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut state = self.project().state;
        let answer = match state.as_mut().project() {
            FallbackStateProj::Running {
                fut,
                policy,
                when,
                handler,
            } => {
                // Registered here rather than where the future is built: see `BreakerCall`.
                crate::policy::on_first_use(*policy);
                let inner = Origin::of(fut.as_ref().get_ref());
                let error = match ready!(fut.poll(cx)) {
                    Ok(value) => return Poll::Ready(Ok(value)),
                    Err(error) => error,
                };
                // Taken before `when` runs, which may call layers of its own.
                let rejection = take_mark(Some(inner));
                if !when(&error) {
                    set_mark(rejection, me);
                    return Poll::Ready(Err(error));
                }
                policy.starts(rejection);
                let handler = handler.take().expect("polled again after answering");
                handler(error)
            }
            FallbackStateProj::Answering(answer) => {
                let result = ready!(answer.poll(cx));
                clear_mark();
                return Poll::Ready(result);
            }
        };
        state.set(FallbackState::Answering(answer));
        let FallbackStateProj::Answering(answer) = state.project() else {
            unreachable!("just set")
        };
        let result = ready!(answer.poll(cx));
        // What the handler returns is the function's own result, no rejection.
        clear_mark();
        Poll::Ready(result)
    }
}

/// The future `#[fallback]` writes after a retry loop: `result` is what the loop just returned
/// (nothing ran since, so any mark is the loop's); on an error that `when` accepts, the handler's
/// future answers instead.
#[pin_project(project = FallbackAfterProj)]
#[must_use = "futures do nothing unless polled"]
pub enum FallbackAfter<T, E, HF> {
    /// The result goes on as it came (taken on the first poll).
    Passed(Option<Result<T, E>>),
    /// The handler's answer.
    Answering(#[pin] HF),
}

impl<T, E, HF> FallbackAfter<T, E, HF> {
    pub(crate) fn new<H: FnOnce(E) -> HF>(
        policy: &FallbackPolicy,
        result: Result<T, E>,
        when: impl Fn(&E) -> bool,
        handler: H,
    ) -> Self {
        let Err(error) = result else {
            return FallbackAfter::Passed(Some(result));
        };
        let rejection = take_mark(None);
        if !when(&error) {
            // Marked again when it is returned.
            set_mark(rejection, Origin::BLOCKING);
            return FallbackAfter::Passed(Some(Err(error)));
        }
        policy.starts(rejection);
        FallbackAfter::Answering(handler(error))
    }
}

impl<T, E, HF: Future<Output = Result<T, E>>> Future for FallbackAfter<T, E, HF> {
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        match self.project() {
            FallbackAfterProj::Passed(result) => {
                let result = result.take().expect("polled again after it returned");
                if result.is_err() {
                    set_mark(take_mark(None), me);
                }
                Poll::Ready(result)
            }
            FallbackAfterProj::Answering(answer) => {
                let result = ready!(answer.poll(cx));
                clear_mark();
                Poll::Ready(result)
            }
        }
    }
}

/// `#[fallback]` on a blocking function: `result` is what the layers inside (or the body, which
/// forgets any mark its code left) just returned, so any mark is theirs.
#[inline]
pub(crate) fn blocking<T, E>(
    policy: &FallbackPolicy,
    result: Result<T, E>,
    when: impl Fn(&E) -> bool,
    handler: impl FnOnce(E) -> Result<T, E>,
) -> Result<T, E> {
    let Err(error) = result else { return result };
    let rejection = take_mark(None);
    if !when(&error) {
        set_mark(rejection, Origin::BLOCKING);
        return Err(error);
    }
    policy.starts(rejection);
    let answer = handler(error);
    clear_mark();
    answer
}

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::Fallback,
    keys: &[],
    check_form: |_, _| Ok(()),
};

impl Registered for FallbackPolicy {
    fn name(&self) -> &'static str {
        FallbackPolicy::name(self)
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::Fallback
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::new()
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::Fallback(FallbackPolicy::metrics(self))
    }

    fn apply(&'static self, _: &[(&str, &str)]) -> Result<(), Refused> {
        Ok(())
    }
}
