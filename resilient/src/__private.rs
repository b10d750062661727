//! Not a stable API: what the attribute macros generate calls into. Every item may change in any
//! release; `resilient` pins `resilient-macros` to its exact version for that reason.
//!
//! The attributes compose the same futures as the runtime API (`CircuitBreaker::call`,
//! `TimeoutPolicy::call`, `atomic::scope`), so layers recognise each other's rejections by the
//! type of the future they poll, exactly as there. What differs: each policy in a generated
//! `static` registers itself on first use, a retry is a loop written into the function (so that
//! the body may borrow its arguments mutably), and a blocking function's layers are closures.

pub use crate::__resilient_function_name as name;
pub use crate::fallback::{FallbackAfter, FallbackCall};
pub use crate::hedge::Hedging;
pub use crate::name::{Name, name};
pub use crate::retry::{Attempt, Retrying};
pub use crate::{
    Backoff, BreakerConfig, Bulkhead, CircuitBreaker, FallbackPolicy, HedgePolicy, RateLimiter,
    Rejected, RetryPolicy, TimeoutPolicy,
};
pub use std::time::Duration;

use crate::breaker::BreakerCall;
use crate::policy::on_first_use;
use crate::rejected::{Origin, clear_mark, set_mark, take_mark};
use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

// The async layers return opaque futures: a bound that fails (an error type without
// `From<Rejected>`) is reported at the call that asks for it, and where the future is used only
// as the same error at the same place (the return type), which the compiler reports once. The
// hidden types are the runtime's own futures, which recognise each other by type as without the
// attributes. A fallback's future is awaited at once, at its handler, where its errors go: its
// type is named, so that its `Future` bound is implied by the handler's check.

/// `#[timeout("5s")]`: `fut` under the policy's limit.
#[inline]
pub fn timeout<F, T, E>(
    policy: &'static TimeoutPolicy,
    fut: F,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    policy.generated(None, fut)
}

/// `#[timeout(EXPR)]`: `fut` under `limit`, evaluated once per call (unless the registry set
/// another limit).
#[inline]
pub fn timeout_for<F, T, E>(
    policy: &'static TimeoutPolicy,
    limit: Duration,
    fut: F,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    policy.generated(Some(limit), fut)
}

/// `#[circuit_breaker]` without `when`: every error is a failure.
#[inline]
pub fn breaker<F, T, E>(
    breaker: &'static CircuitBreaker,
    fut: F,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    BreakerCall::generated(breaker, every_error::<E>, fut)
}

/// `#[circuit_breaker(when = ...)]`.
#[inline]
pub fn breaker_when<F, T, E, P>(
    breaker: &'static CircuitBreaker,
    fut: F,
    when: P,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
    P: Fn(&E) -> bool,
{
    BreakerCall::generated(breaker, when, fut)
}

/// `#[circuit_breaker(breaker = EXPR)]`: the user's breaker, which registers itself as its owner
/// decides, with its own configuration (no other key is given).
#[inline]
pub fn shared_breaker<F, T, E>(
    breaker: &CircuitBreaker,
    fut: F,
) -> impl Future<Output = Result<T, E>> + use<'_, F, T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    breaker.call(fut)
}

/// `#[rate_limit]`: `fut` in its turn.
#[inline]
pub fn rate_limit<F, T, E>(
    limiter: &'static RateLimiter,
    fut: F,
) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    limiter.generated(fut)
}

/// `#[rate_limit(limiter = EXPR)]`: the user's limiter, which registers itself as its owner
/// decides.
#[inline]
pub fn shared_rate_limit<F, T, E>(
    limiter: &RateLimiter,
    fut: F,
) -> impl Future<Output = Result<T, E>> + use<'_, F, T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    limiter.call(fut)
}

/// `#[rate_limit]` on a blocking function: the thread sleeps until the call's turn.
#[inline]
pub fn rate_limit_blocking<T, E: From<Rejected>>(
    limiter: &'static RateLimiter,
    inner: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    on_first_use(limiter).call_blocking(inner)
}

/// [`rate_limit_blocking`] with the user's limiter.
#[inline]
pub fn shared_rate_limit_blocking<T, E: From<Rejected>>(
    limiter: &RateLimiter,
    inner: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    limiter.call_blocking(inner)
}

/// `#[hedge]`: the attempts of one call, pinned in the function's frame; each loop of the
/// generated code starts one with [`Hedging::attempt`](crate::Hedging::attempt).
#[inline]
pub fn hedge<F: Future, P>(policy: &'static HedgePolicy, when: P) -> Hedging<'static, F, P> {
    Hedging::generated(policy, when)
}

/// `#[hedge(policy = EXPR)]`: the user's policy, which registers itself as its owner decides.
#[inline]
pub fn shared_hedge<F: Future, P>(policy: &HedgePolicy, when: P) -> Hedging<'_, F, P> {
    Hedging::new(policy, when)
}

/// `#[bulkhead]`: `fut` in a slot.
#[inline]
pub fn bulkhead<F, T, E>(bulkhead: &'static Bulkhead, fut: F) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    bulkhead.generated(fut)
}

/// `#[bulkhead(bulkhead = EXPR)]`: the user's bulkhead, which registers itself as its owner
/// decides.
#[inline]
pub fn shared_bulkhead<F, T, E>(
    bulkhead: &Bulkhead,
    fut: F,
) -> impl Future<Output = Result<T, E>> + use<'_, F, T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    bulkhead.call(fut)
}

/// `#[bulkhead]` on a blocking function: the thread sleeps while it waits for a slot.
#[inline]
pub fn bulkhead_blocking<T, E: From<Rejected>>(
    bulkhead: &'static Bulkhead,
    inner: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    on_first_use(bulkhead).call_blocking(inner)
}

/// [`bulkhead_blocking`] with the user's bulkhead.
#[inline]
pub fn shared_bulkhead_blocking<T, E: From<Rejected>>(
    bulkhead: &Bulkhead,
    inner: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    bulkhead.call_blocking(inner)
}

/// `#[circuit_breaker]` on a blocking function; `inner` is a layer the attributes wrote or the
/// body (see [`body_blocking`]).
#[inline]
pub fn breaker_blocking<T, E: From<Rejected>>(
    breaker: &'static CircuitBreaker,
    when: impl Fn(&E) -> bool,
    inner: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    on_first_use(breaker).call_blocking(when, inner, None)
}

/// [`breaker_blocking`] with the user's breaker.
#[inline]
pub fn shared_breaker_blocking<T, E: From<Rejected>>(
    breaker: &CircuitBreaker,
    inner: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    breaker.call_blocking(every_error, inner, None)
}

/// `#[retry]`: the loop's bookkeeping, before the first attempt. `when` is checked against the
/// function's error type `E` at the first attempt, which brings `E`.
#[inline]
pub fn retry<P, E>(policy: &'static RetryPolicy, when: P) -> Retrying<'static, P, E> {
    Retrying::new(on_first_use(policy), when)
}

/// `#[retry(policy = EXPR)]`: the user's policy, which registers itself as its owner decides.
#[inline]
pub fn shared_retry<P, E>(policy: &RetryPolicy, when: P) -> Retrying<'_, P, E> {
    Retrying::new(policy, when)
}

/// `#[retry]` on a blocking function: the loop's bookkeeping; `when` comes with each attempt.
#[inline]
pub fn retry_blocking<E>(policy: &'static RetryPolicy) -> Retrying<'static, (), E> {
    Retrying::new(on_first_use(policy), ())
}

/// [`retry_blocking`] with the user's policy.
#[inline]
pub fn shared_retry_blocking<E>(policy: &RetryPolicy) -> Retrying<'_, (), E> {
    Retrying::new(policy, ())
}

/// `#[atomic]` around an async body or layer.
#[inline]
pub fn atomic<F, T, E>(fut: F) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    crate::atomic::scope(fut)
}

/// `#[atomic]` on a blocking function; `inner` as for [`breaker_blocking`].
#[inline]
pub fn atomic_blocking<T, E>(inner: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    crate::atomic::blocking_scope(inner, None)
}

/// `#[fallback]` around an async body or layer; `handler` returns a future of the function's
/// result (checked here, so that a mistake in it is reported at it).
#[inline]
pub fn fallback<F, T, E, H, HF>(
    policy: &'static FallbackPolicy,
    fut: F,
    handler: H,
) -> FallbackCall<F, fn(&E) -> bool, H, HF>
where
    F: Future<Output = Result<T, E>>,
    H: FnOnce(E) -> HF,
    HF: FallbackFuture<Result<T, E>>,
{
    FallbackCall::new(policy, every_error, fut, handler)
}

/// `#[fallback(..., when = ...)]` around an async body or layer.
#[inline]
pub fn fallback_when<F, T, E, P, H, HF>(
    policy: &'static FallbackPolicy,
    fut: F,
    when: P,
    handler: H,
) -> FallbackCall<F, P, H, HF>
where
    F: Future<Output = Result<T, E>>,
    P: Fn(&E) -> bool,
    H: FnOnce(E) -> HF,
    HF: FallbackFuture<Result<T, E>>,
{
    FallbackCall::new(policy, when, fut, handler)
}

/// `#[fallback]` after a retry loop of an async function: `result` is what the loop returned.
#[inline]
pub fn fallback_after<T, E, H, HF>(
    policy: &'static FallbackPolicy,
    result: Result<T, E>,
    handler: H,
) -> FallbackAfter<T, E, HF>
where
    H: FnOnce(E) -> HF,
    HF: FallbackFuture<Result<T, E>>,
{
    FallbackAfter::new(on_first_use(policy), result, every_error, handler)
}

/// `#[fallback(..., when = ...)]` after a retry loop of an async function.
#[inline]
pub fn fallback_after_when<T, E, H, HF>(
    policy: &'static FallbackPolicy,
    result: Result<T, E>,
    when: impl Fn(&E) -> bool,
    handler: H,
) -> FallbackAfter<T, E, HF>
where
    H: FnOnce(E) -> HF,
    HF: FallbackFuture<Result<T, E>>,
{
    FallbackAfter::new(on_first_use(policy), result, when, handler)
}

/// `#[fallback]` on a blocking function: `result` is what the layers inside or the body just
/// returned.
#[inline]
pub fn fallback_blocking<T, E>(
    policy: &'static FallbackPolicy,
    result: Result<T, E>,
    when: impl Fn(&E) -> bool,
    handler: impl FnOnce(E) -> Result<T, E>,
) -> Result<T, E> {
    crate::fallback::blocking(on_first_use(policy), result, when, handler)
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

/// Layers written into an async block (a retry loop with a layer around it): the block's result
/// goes on marked as this future's, so that the layer around it recognises it by type.
#[inline]
pub fn layer<F, T, E>(fut: F) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    Layer { fut }
}

/// The future of [`layer`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
struct Layer<F> {
    #[pin]
    fut: F,
}

impl<F: Future<Output = Result<T, E>>, T, E> Future for Layer<F> {
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let result = ready!(self.project().fut.poll(cx));
        if result.is_err() {
            // The block ends with the layers it wrote: the mark is theirs.
            set_mark(take_mark(None), me);
        }
        Poll::Ready(result)
    }
}

/// A blocking function's body, as the layers around it see it: what it returns is its own
/// result, so any mark its code left (from another annotated function it called) is forgotten.
#[inline(always)]
pub fn body_blocking<R>(body: impl FnOnce() -> R) -> impl FnOnce() -> R {
    move || {
        let result = body();
        clear_mark();
        result
    }
}

/// A `when = |err| ...` closure of an async function returning `R`: its argument gets its type
/// from `R`'s error here (a retry, given the closure before any attempt, could not tell it).
#[inline(always)]
pub fn when<R: ReturnsResult, P: Fn(&R::Error) -> bool>(predicate: P) -> P {
    predicate
}

/// A `when = path` of an async function returning `R`, as a function pointer: a path of another
/// type is reported once, at the path, and what this returns satisfies every layer's bound.
#[inline(always)]
pub fn when_path<R: ReturnsResult>(predicate: fn(&R::Error) -> bool) -> fn(&R::Error) -> bool {
    predicate
}

/// The default `when` of a layer: every error counts.
#[inline]
pub fn every_error<E>(_: &E) -> bool {
    true
}

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

/// The return type of an annotated function.
#[diagnostic::on_unimplemented(
    message = "a resilient attribute needs a function returning `Result<T, E>`, not `{Self}`",
    label = "this must be `Result<T, E>` (or an alias of it, like `io::Result<T>`)",
    note = "the layers judge the call by its `Err`: retried, counted as a failure, or handed to the fallback"
)]
pub trait ReturnsResult {
    /// The `E` of `Result<T, E>`.
    type Error;
}

impl<T, E> ReturnsResult for Result<T, E> {
    type Error = E;
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

/// The body's return edge (`_ = false && return result::<R>();`, never run): it types the body's
/// block as the function's return type `R` before the body is checked, so that a mistake in a
/// `return` or the tail is reported at it, as without the attribute; and `R` must be a `Result`.
pub fn result<R: ReturnsResult>() -> R {
    unreachable!("a return edge for the type checker, never run")
}

/// [`rejectable`] for an error type that is a generic parameter `E` of the function: the bound is
/// `From<Rejected>` itself, which is what the compiler then suggests adding to `E`.
pub fn rejectable_generic<R: ReturnsResult<Error = E>, E: From<Rejected>>() -> R {
    unreachable!("a return edge for the type checker, never run")
}

/// [`result`], where a layer can reject: `R`'s error must hold a rejection.
pub fn rejectable<R: ReturnsResult>() -> R
where
    R::Error: HoldsRejected,
{
    unreachable!("a return edge for the type checker, never run")
}
