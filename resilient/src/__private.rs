//! Not a stable API: what the attribute macros generate calls into. Every item may change in any
//! release; `resilient` pins `resilient-macros` to its exact version for that reason.

pub use crate::retry::RetryLoop;
pub use crate::{
    Backoff, BreakerCall, BreakerConfig, CircuitBreaker, FallbackPolicy, Rejected, RejectedKind,
    RetryPolicy, Timeout, TimeoutPolicy,
};
pub use std::time::Duration;

use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// The policy in a generated `static`, registered on first use.
#[inline]
pub fn registered<P: crate::registry::Policy>(policy: &'static P) -> &'static P {
    crate::registry::on_first_use(policy)
}

/// `#[circuit_breaker]` around an async body or layer.
#[inline]
pub fn breaker<F, T, E, P>(
    breaker: &CircuitBreaker,
    fut: F,
    is_failure: P,
    layer_inside: bool,
) -> BreakerCall<'_, F, P>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
    P: Fn(&E) -> bool,
{
    BreakerCall::new(breaker, is_failure, fut, layer_inside)
}

/// `#[circuit_breaker]` around a blocking body or layer.
#[inline]
pub fn breaker_blocking<T, E: From<Rejected>>(
    breaker: &CircuitBreaker,
    body: impl FnOnce() -> Result<T, E>,
    is_failure: impl Fn(&E) -> bool,
) -> Result<T, E> {
    breaker.call_blocking(is_failure, body, None)
}

/// `#[timeout]` around an async body or layer.
#[inline]
pub fn timeout<F, T, E>(
    policy: &'static TimeoutPolicy,
    limit: Option<Duration>,
    fut: F,
    layer_inside: bool,
) -> Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    policy.generated(limit, fut, layer_inside)
}

/// `#[atomic]` around an async body or layer.
#[inline]
pub fn atomic<F, T, E>(fut: F, layer_inside: bool) -> crate::atomic::Scope<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    crate::atomic::generated(fut, layer_inside)
}

/// `#[atomic]` around a blocking body or layer.
#[inline]
pub fn atomic_blocking<T, E>(body: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    crate::atomic::blocking_scope(body, None)
}

/// The function's body as a future whose output is the function's return type `R`, so that `?`
/// and `return` in it need no annotation.
///
/// What the body returns is the body's own result: when it finishes, any rejection mark that its
/// code left behind (say, from another annotated function it called) is forgotten, so the layer
/// around the body never takes the body's error for a rejection of its own.
#[inline(always)]
pub fn body<R, F: Future<Output = R>>(body: F) -> Body<F> {
    Body { body }
}

/// The future of [`body`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Body<F> {
    #[pin]
    body: F,
}

/// Its output is the `Result` the layers judge, `R` itself (see [`ReturnsResult::into_result`]).
impl<F: Future> Future for Body<F>
where
    F::Output: ReturnsResult,
{
    type Output = Outcome<F::Output>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = ready!(self.project().body.poll(cx));
        crate::rejected::clear_mark();
        Poll::Ready(output.into_result())
    }
}

/// A blocking function's body, as [`body`]: what it returns is its own result.
#[inline(always)]
pub fn body_blocking<R: ReturnsResult>(body: impl FnOnce() -> R) -> impl FnOnce() -> Outcome<R> {
    move || {
        let output = body();
        crate::rejected::clear_mark();
        output.into_result()
    }
}

/// The `Result` that the layers of a function returning `R` judge: `R` itself.
pub type Outcome<R> = Result<<R as ReturnsResult>::Ok, <R as ReturnsResult>::Error>;

/// What the layers return, as the function's return type `R` (the same type).
#[inline(always)]
pub fn output<R: ReturnsResult>(outcome: Outcome<R>) -> R {
    R::from_result(outcome)
}

/// Whether `#[fallback]` handles this error (its `when`); a function, so that a closure's
/// argument type is known from the error.
#[inline]
pub fn fallback_applies<E>(error: &E, when: impl Fn(&E) -> bool) -> bool {
    when(error)
}

/// Calls `#[fallback]`'s handler with the error; a function for the same reason.
#[inline]
pub fn call_fallback<E, R>(error: E, handler: impl FnOnce(E) -> R) -> R {
    handler(error)
}

/// [`call_fallback`] on a blocking function returning `R`: the handler returns `R` too, so that a
/// mistake in it is reported in it.
#[inline]
pub fn call_fallback_blocking<R, H>(error: R::Error, handler: H) -> Outcome<R>
where
    R: ReturnsResult,
    H: FnOnce(R::Error) -> R,
{
    handler(error).into_result()
}

/// [`call_fallback`] on an async function returning `R`: the handler returns a future of `R`.
#[inline]
pub fn call_fallback_async<R, H, Fut>(error: R::Error, handler: H) -> Body<Fut>
where
    R: ReturnsResult,
    H: FnOnce(R::Error) -> Fut,
    Fut: FallbackFuture<R>,
{
    Body {
        body: handler(error),
    }
}

/// What the fallback of an async function returns.
#[diagnostic::on_unimplemented(
    message = "the fallback of an async function returns a future of `{R}`, not `{Self}`",
    label = "this must return a future of `{R}`",
    note = "write `|err| async move {{ ... }}`, or name an `async fn` that takes the error"
)]
pub trait FallbackFuture<R>: Future<Output = R> {}

#[diagnostic::do_not_recommend]
impl<F: Future<Output = R>, R> FallbackFuture<R> for F {}

/// A `when = ...` predicate of a blocking function returning `R`, checked here against `R`'s
/// error type: a mistake is reported once, at the predicate, and what this returns satisfies every
/// layer's bound whatever the predicate was (an opaque type would carry the failed bound along).
/// It is called on errors only. (An async function's predicate is not erased so: a `&dyn Fn` would
/// make its future `Send` only for a `Sync` predicate.)
#[inline(always)]
pub fn when_blocking<R: ReturnsResult>(
    predicate: &impl Fn(&R::Error) -> bool,
) -> &dyn Fn(&R::Error) -> bool {
    predicate
}

/// What a layer the attributes wrote returned, with the rejection it marked its error with:
/// taken the moment it returned, before any user code runs (a `when` predicate, or a value that
/// a cancelled body drops), which could call layers of its own.
pub type Attempted<T, E> = (Result<T, E>, Option<RejectedKind>);

/// Polls what `#[retry]` or `#[fallback]` wraps in an async function, and takes the mark of its
/// error as it returns (if `layer_inside`: else it is the body, whose errors are its own).
#[inline(always)]
pub fn attempt<F>(fut: F, layer_inside: bool) -> Attempt<F> {
    Attempt { fut, layer_inside }
}

/// The future of [`attempt`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Attempt<F> {
    #[pin]
    fut: F,
    layer_inside: bool,
}

impl<F: Future<Output = Result<T, E>>, T, E> Future for Attempt<F> {
    type Output = Attempted<T, E>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.fut.poll(cx));
        Poll::Ready(attempted(result, *this.layer_inside))
    }
}

/// [`attempt`] for a blocking function: `result` is what the layer inside just returned.
#[inline(always)]
pub fn attempt_blocking<T, E>(result: Result<T, E>, layer_inside: bool) -> Attempted<T, E> {
    attempted(result, layer_inside)
}

#[inline(always)]
fn attempted<T, E>(result: Result<T, E>, layer_inside: bool) -> Attempted<T, E> {
    let rejection = match result {
        Err(_) if layer_inside => crate::rejected::take_mark(None),
        _ => None,
    };
    (result, rejection)
}

/// Before `#[fallback]`'s handler runs: counts it and says why (`rejection`: the one a layer
/// inside refused the call with, if that is why).
pub fn fallback_starts(policy: &FallbackPolicy, rejection: Option<RejectedKind>) {
    policy.starts(rejection);
}

/// After `#[fallback]` ran: what it returned is the function's own result, no rejection.
#[inline]
pub fn fallback_ran() {
    crate::rejected::clear_mark();
}

/// What `#[fallback]` did not handle goes on as it came, a rejection still marked as one.
#[inline(always)]
pub fn passed_on<T, E>((result, rejection): Attempted<T, E>) -> Result<T, E> {
    if result.is_err() {
        crate::rejected::set_mark(rejection, crate::rejected::Origin::BLOCKING);
    }
    result
}

/// The default `when` of every attribute: every error counts.
#[inline]
pub fn every_error<E>(_: &E) -> bool {
    true
}

/// The return type of an annotated function.
#[diagnostic::on_unimplemented(
    message = "a resilient attribute needs a function returning `Result<T, E>`, not `{Self}`",
    label = "this must be `Result<T, E>` (or an alias of it, like `io::Result<T>`)",
    note = "the layers judge the call by its `Err`: retried, counted as a failure, or handed to the fallback"
)]
///
/// The layers see the function's result through [`Outcome`], not as `Self`: when `Self` is not a
/// `Result`, the compiler then reports this trait's message once, not every place where a layer
/// expected a `Result`.
pub trait ReturnsResult: Sized {
    /// The `T` of `Result<T, E>`.
    type Ok;
    /// The `E` of `Result<T, E>`.
    type Error;
    /// `self`, as the `Result` it is.
    fn into_result(self) -> Outcome<Self>;
    /// The `Result`, as `Self`.
    fn from_result(outcome: Outcome<Self>) -> Self;
}

impl<T, E> ReturnsResult for Result<T, E> {
    type Ok = T;
    type Error = E;

    #[inline(always)]
    fn into_result(self) -> Self {
        self
    }

    #[inline(always)]
    fn from_result(outcome: Self) -> Self {
        outcome
    }
}

/// An error type that layers can put their rejections in.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a `resilient::Rejected`",
    label = "this error type needs `From<resilient::Rejected>`",
    note = "a circuit breaker or timeout returns `{Self}::from(rejected)` when it refuses or abandons a call: add `impl From<resilient::Rejected> for {Self}`, or with thiserror a variant `Rejected(#[from] resilient::Rejected)`"
)]
pub trait HoldsRejected: From<Rejected> {}

#[diagnostic::do_not_recommend]
impl<E: From<Rejected>> HoldsRejected for E {}

/// Checked at compile time: `R` is a `Result`.
#[inline(always)]
pub const fn returns_result<R: ReturnsResult>() {}

/// Checked at compile time: `R` is a `Result` whose error can hold a rejection.
#[inline(always)]
pub const fn can_reject<R: ReturnsResult>()
where
    R::Error: HoldsRejected,
{
}
