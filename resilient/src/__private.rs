//! Not a stable API: what the attribute macros generate calls into. Every item may change in any
//! release; `resilient` pins `resilient-macros` to its exact version for that reason.

pub use crate::retry::RetryLoop;
pub use crate::{
    Backoff, BreakerCall, BreakerConfig, CircuitBreaker, Rejected, RetryPolicy, Timeout,
};
pub use std::time::Duration;

use std::future::Future;

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
    breaker.call_sync_when(is_failure, body)
}

/// `#[timeout]` around an async body or layer.
#[inline]
pub fn timeout<F, T, E>(
    name: &'static str,
    limit: Duration,
    fut: F,
    layer_inside: bool,
) -> Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    crate::timeout::generated(name, limit, fut, layer_inside)
}

/// The function's body as a future whose output is the function's return type `R`, so that `?`
/// and `return` in it need no annotation.
#[inline(always)]
pub fn body<R, F: Future<Output = R>>(body: F) -> F {
    body
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

/// After `#[fallback]` ran: what it returned is the function's own result, no rejection.
#[inline]
pub fn fallback_ran() {
    crate::rejected::clear_mark();
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
pub trait HoldsRejected {}

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
