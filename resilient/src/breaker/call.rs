//! The future that runs a call through a breaker.

use super::{CircuitBreaker, Permit};
use crate::Rejected;
use crate::RejectedKind;
use crate::rejected::{Origin, reject, set_mark, take_mark};
use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Which outcomes of a call a [`CircuitBreaker`] counts as failures of the dependency.
///
/// Any `Fn(&E) -> bool` is one: the `when` of [`CircuitBreaker::call_when`], which judges errors
/// (every `Ok` is a success). A classifier that sees the whole result also judges answers that
/// came back as `Ok`, such as an HTTP response with a 5xx status (with the feature `tower`,
/// `resilient::tower::Outcomes`). Either way, a timeout or refusal by a layer inside
/// is judged by the breaker itself, never by the classifier.
pub trait Classify<T, E> {
    /// Whether `result` is a failure of the dependency.
    fn is_failure(&self, result: &Result<T, E>) -> bool;
}

impl<T, E, P: Fn(&E) -> bool> Classify<T, E> for P {
    #[inline(always)]
    fn is_failure(&self, result: &Result<T, E>) -> bool {
        result.as_ref().is_err_and(self)
    }
}

/// The future of [`CircuitBreaker::call`]: asks for a permit on its first poll, then runs the
/// wrapped future and records its outcome.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct BreakerCall<'a, F, P> {
    breaker: &'a CircuitBreaker,
    is_failure: P,
    permit: Option<Permit<'a>>,
    asked: bool,
    /// A breaker the attributes built, to register on the first poll: there, not where the future
    /// is built, so that nothing opaque runs between building `fut` and moving it into place
    /// (the compiler then copies the whole future with `memmove`, and the layers' stack took twice
    /// as long).
    registers: Option<&'static CircuitBreaker>,
    #[pin]
    fut: F,
}

impl<'a, F, P> BreakerCall<'a, F, P> {
    pub(crate) fn new(breaker: &'a CircuitBreaker, is_failure: P, fut: F) -> Self {
        Self {
            breaker,
            is_failure,
            permit: None,
            asked: false,
            registers: None,
            fut,
        }
    }
}

impl<F, P> BreakerCall<'static, F, P> {
    /// The call of an annotated function: its breaker registers on first use.
    pub(crate) fn generated(breaker: &'static CircuitBreaker, is_failure: P, fut: F) -> Self {
        Self {
            registers: Some(breaker),
            ..Self::new(breaker, is_failure, fut)
        }
    }
}

impl<F, T, E, P> Future for BreakerCall<'_, F, P>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
    P: Classify<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let this = self.project();
        // Read before the registration, which may call out: read after, it came from memory.
        let breaker = *this.breaker;
        // The permit lives in the future only while the call is pending; otherwise it stays in
        // registers. (Kept in the future, or anywhere a guard's reference pins it to memory, its
        // bytes were stored and read back at once, and the read stalled on store forwarding.)
        // Held in this frame, its drop can only be a panic out of the call's poll, which it
        // records as a failure.
        let permit = if *this.asked {
            this.permit.take().map(Permit::failing_on_panic)
        } else {
            *this.asked = true;
            if let Some(breaker) = this.registers.take() {
                crate::policy::on_first_use(breaker);
            }
            match breaker.acquire_for_call() {
                Ok(permit) => Some(permit),
                Err(rejected) => return Poll::Ready(Err(reject(rejected, me))),
            }
        };
        let inner = Some(Origin::of(this.fut.as_ref().get_ref()));
        let Poll::Ready(result) = this.fut.poll(cx) else {
            // Dropped while pending, even in another panic, the call is released, not failed.
            *this.permit = permit.map(Permit::released_when_dropped);
            return Poll::Pending;
        };
        if let Some(permit) = permit {
            settle(permit, &result, this.is_failure, Marks { inner, me });
        }
        Poll::Ready(result)
    }
}

/// Where a breaker takes a mark from, and the origin it passes it on with.
pub(super) struct Marks {
    pub(super) inner: Option<Origin>,
    pub(super) me: Origin,
}

/// Records a finished call's outcome on its permit, and passes on the mark of a rejection from the
/// layer inside (a timeout is a failure whatever `classify` says).
// Always: left out of line, its permit argument goes through memory on every call.
#[inline(always)]
pub(super) fn settle<T, E>(
    permit: Permit<'_>,
    result: &Result<T, E>,
    classify: &impl Classify<T, E>,
    marks: Marks,
) {
    if result.is_ok() {
        // For an error predicate, `false` once inlined: a success, as before classifiers.
        match classify.is_failure(result) {
            false => permit.success(),
            true => permit.failure(),
        }
        return;
    }
    let mark = take_mark(marks.inner);
    match mark {
        None if classify.is_failure(result) => permit.failure(),
        None => permit.success(),
        Some(kind) => settle_rejection(permit, kind),
    }
    set_mark(mark, marks.me);
}

/// A rejection from the layer inside: a timeout is a failure of its kind; a refusal by a rate
/// limiter or a bulkhead never reached the dependency, so it is neither a success nor a failure
/// of it; any other rejection is a failure. Out of line: rejections are the rare path.
#[cold]
#[inline(never)]
fn settle_rejection(permit: Permit<'_>, kind: RejectedKind) {
    match kind {
        RejectedKind::TimedOut => permit.timed_out(),
        kind if kind.is_overload() => drop(permit.released_when_dropped()),
        _ => permit.failure(),
    }
}
