//! Every policy as a [`tower`](https://docs.rs/tower) `Layer` (feature `tower`), so that axum,
//! tonic, hyper and reqwest-middleware stacks use the same policies as the attributes and the
//! runtime API: the same `static`s, names, registry entries, metrics and events.
//!
//! | layer | wraps | the service's future |
//! | --- | --- | --- |
//! | [`RetryLayer`] | a `&'static` [`RetryPolicy`](crate::RetryPolicy) | [`RetryFuture`] |
//! | [`HedgeLayer`] | a `&'static` [`HedgePolicy`](crate::HedgePolicy) | [`HedgeFuture`] |
//! | [`BreakerLayer`] | a `&'static` [`CircuitBreaker`](crate::CircuitBreaker) | [`BreakerCall`](crate::BreakerCall) |
//! | [`RateLimitLayer`] | a `&'static` [`RateLimiter`](crate::RateLimiter) | [`LimitedCall`](crate::LimitedCall) |
//! | [`BulkheadLayer`] | a `&'static` [`Bulkhead`](crate::Bulkhead) | [`BulkheadCall`](crate::BulkheadCall) |
//! | [`TimeoutLayer`] | a `&'static` [`TimeoutPolicy`] | [`Timeout`](crate::Timeout) |
//!
//! Each policy registers in the [`registry`](crate::registry) on first use, as the attributes'
//! do. The layers' futures are the runtime's own (or, for retry and hedge, hand-written around
//! the same bookkeeping): no box, no allocation per call, and layers recognise each other's
//! refusals exactly, by the type of the future they poll, as everywhere in this crate. The
//! recommended order is the attributes' (outermost first): retry (or hedge) › circuit breaker ›
//! rate limit › bulkhead › timeout.
//!
//! ```
//! use resilient::tower::{BreakerLayer, RetryLayer, TimeoutLayer};
//! use resilient::{Backoff, BreakerConfig, CircuitBreaker, RetryPolicy, TimeoutPolicy};
//! use std::time::Duration;
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! static RETRY: RetryPolicy = RetryPolicy::new()
//!     .name("users")
//!     .backoff(Backoff::constant(Duration::from_millis(100)));
//! static USERS: CircuitBreaker = CircuitBreaker::new("users", BreakerConfig::new());
//! static FETCH: TimeoutPolicy = TimeoutPolicy::new("users.fetch", Duration::from_secs(2));
//!
//! async fn fetch_user(id: u64) -> Result<String, BoxError> {
//!     Ok(format!("user {id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let mut users = ServiceBuilder::new()
//!     .layer(RetryLayer::new(&RETRY))
//!     .layer(BreakerLayer::new(&USERS))
//!     .layer(TimeoutLayer::new(&FETCH))
//!     .service(service_fn(fetch_user));
//! let user = users.ready().await.unwrap().call(7).await.unwrap();
//! assert_eq!(user, "user 7");
//! # }
//! ```
//!
//! # Errors
//!
//! A layer keeps the service's error type, which needs `From<`[`Rejected`]`>`, as the attributes
//! need of a function's: so every layer of a stack has the same error type, and stacks compose.
//!
//! - [`tower::BoxError`](https://docs.rs/tower/latest/tower/type.BoxError.html), what tower's own
//!   `Timeout` and `LoadShed` return, has it: a refusal is a boxed [`Rejected`], found with
//!   `err.downcast_ref::<Rejected>()`.
//! - Your own error type with a `Rejected` variant has it, and a refusal then allocates nothing.
//! - A service whose error type is someone else's (`Infallible`, `hyper::Error`) gets one at the
//!   bottom of the stack: `.map_err(Error::Inner)` ([`Error`] keeps it typed) or
//!   `.map_err(BoxError::from)`, the last layer before `.service(...)`.
//!
//! With axum, whose routes take no errors, `HandleErrorLayer` turns them into responses; a
//! refusal says why and for how long ([`Rejected::kind`], [`Rejected::retry_after`]):
//!
//! ```
//! use resilient::tower::{BreakerLayer, BulkheadLayer};
//! use resilient::{BreakerConfig, Bulkhead, CircuitBreaker, Rejected, RejectedKind};
//! use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! static UPSTREAM: CircuitBreaker = CircuitBreaker::new("upstream", BreakerConfig::new());
//! static POOL: Bulkhead = Bulkhead::new("pool", 10);
//!
//! /// What an axum `HandleErrorLayer::new(handle_error)` would call with each error.
//! async fn handle_error(err: BoxError) -> (u16, String) {
//!     match err.downcast_ref::<Rejected>() {
//!         Some(r) if r.kind() == RejectedKind::TimedOut => (504, r.to_string()),
//!         Some(r) => (503, r.to_string()), // Retry-After: r.retry_after()
//!         None => (500, err.to_string()),
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // In axum: `ServiceBuilder::new().layer(HandleErrorLayer::new(handle_error))` above these.
//! let mut upstream = ServiceBuilder::new()
//!     .layer(BreakerLayer::new(&UPSTREAM))
//!     .layer(BulkheadLayer::new(&POOL))
//!     .service(service_fn(|_request: ()| async { Ok::<_, BoxError>("hello") }));
//! UPSTREAM.force_open();
//! let err = upstream.ready().await.unwrap().call(()).await.unwrap_err();
//! let (status, body) = handle_error(err).await;
//! assert_eq!(status, 503);
//! assert!(body.contains("`upstream` is forced open"), "{body}");
//! # }
//! ```
//!
//! # Readiness, and where the bulkhead and the rate limiter wait
//!
//! Every layer's `poll_ready` is the inner service's. A call waits for its turn (rate limiter)
//! or its slot (bulkhead) in the response future, up to the policy's `max_wait`, and is refused
//! then, as with [`RateLimiter::call`](crate::RateLimiter::call) and
//! [`Bulkhead::call`](crate::Bulkhead::call); the inner service is called only once the call is
//! let through, and a refused one never reaches it, not even its `call`. Tower's
//! `ConcurrencyLimit` waits in `poll_ready` instead; here that would:
//!
//! - measure `max_wait` from when someone first asked for readiness, not from each request's
//!   arrival: behind a `Buffer` or a connection, one waiting caller would hold up every request
//!   behind it;
//! - make a circuit breaker above a full bulkhead wait for a slot before it could reject, and
//!   hold the slot while rejecting;
//! - need a refusal delivered through `poll_ready` (an error there means a broken service) or
//!   stored in the service until the next `call`.
//!
//! So the service gives no backpressure: a request over the limit waits in its own future in the
//! bulkhead's queue (served in arrival order) or its rate limiter's turn, then is refused. Put
//! tower's `ConcurrencyLimit` below where backpressure is what you want.
//!
//! The layers that call the inner service later than in `call` (breaker, rate limiter,
//! bulkhead, retry, hedge) need it to be `Clone`, as tower's `Retry` does: `call` keeps the
//! service that `poll_ready` made ready for this request and leaves a clone in its place.
//! Retry and hedge also need `Req: Clone`, and ask the service for readiness before each attempt.
//!
//! Cancellation: a response future dropped before it ends gives back what it holds at once: the
//! breaker's permit (counted as neither success nor failure), the bulkhead's slot or its place in
//! the queue, the rate limiter's turn (when no later call reserved one), and every attempt of a
//! retry or a hedge.

mod admit;
mod repeat;

pub use admit::{Admission, BreakerLayer, BulkheadLayer, Guarded, RateLimitLayer};
pub use repeat::{HedgeFuture, HedgeLayer, HedgeService, RetryFuture, RetryLayer, RetryService};

use crate::rejected::{Origin, set_mark, take_mark};
use crate::{Classify, Rejected, TimeoutPolicy};
use pin_project::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tower_layer::Layer;
use tower_service::Service;

/// The default judgement of the layers that judge errors: every `Err` is a failure for a
/// breaker, and worth another attempt for a retry or a hedge.
#[derive(Clone, Copy, Debug, Default)]
pub struct EveryError;

impl<T, E> Classify<T, E> for EveryError {
    #[inline(always)]
    fn is_failure(&self, result: &Result<T, E>) -> bool {
        result.is_err()
    }
}

/// A classifier that sees the whole result, for [`BreakerLayer::classify`]: a service that
/// answers `Ok` with an HTTP 503 is failing all the same.
#[derive(Clone, Copy, Debug)]
pub struct Outcomes<F>(pub F);

impl<T, E, F: Fn(&Result<T, E>) -> bool> Classify<T, E> for Outcomes<F> {
    #[inline]
    fn is_failure(&self, result: &Result<T, E>) -> bool {
        (self.0)(result)
    }
}

/// Which errors a [`RetryLayer`] or [`HedgeLayer`] tries again: [`EveryError`], or any
/// `Fn(&E) -> bool + Clone`. A timeout of a layer inside is always tried again, and a refusal by
/// one is judged by the layer itself, as with [`retry_when`](crate::retry_when).
pub trait When<E> {
    /// The predicate each call's future keeps.
    type Predicate: Fn(&E) -> bool;
    /// The predicate for one call.
    fn predicate(&self) -> Self::Predicate;
}

impl<E> When<E> for EveryError {
    type Predicate = fn(&E) -> bool;

    #[inline]
    fn predicate(&self) -> Self::Predicate {
        |_| true
    }
}

impl<E, F: Fn(&E) -> bool + Clone> When<E> for F {
    type Predicate = F;

    #[inline]
    fn predicate(&self) -> F {
        self.clone()
    }
}

/// A service's own error, or a policy's refusal: for a stack whose service's error type has no
/// `From<Rejected>` (`Infallible`, `hyper::Error`), mapped in at the bottom of the stack with
/// `.map_err(Error::Inner)`. Displayed as what it holds.
#[derive(Debug)]
pub enum Error<E> {
    /// The inner service's error.
    Inner(E),
    /// A policy refused or abandoned the call.
    Rejected(Rejected),
}

impl<E> Error<E> {
    /// The refusal, if it is one.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Error::Rejected(rejected) => Some(rejected),
            Error::Inner(_) => None,
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inner(err) => err.fmt(f),
            Error::Rejected(rejected) => rejected.fmt(f),
        }
    }
}

/// Transparent: its source is the inner error's. Into a `tower::BoxError` it goes whole.
impl<E: std::error::Error> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Inner(err) => err.source(),
            Error::Rejected(_) => None,
        }
    }
}

/// Takes the service that `poll_ready` made ready, for a call to be made later, and leaves a
/// clone in its place (which the next call asks for readiness again).
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// The inner service's call, made on the first poll: the future that the breaker, rate limiter
/// and bulkhead layers run through their policy, so that a call they refuse never reaches the
/// inner service, and one that waits calls it only once let through. A rejection of a layer
/// inside passes through it, for the policy around it to recognise.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Deferred<S: Service<Req>, Req> {
    #[pin]
    state: DeferredState<S, Req>,
}

#[pin_project(project = DeferredProj, project_replace = DeferredOwned)]
enum DeferredState<S: Service<Req>, Req> {
    Uncalled { service: S, request: Req },
    Called(#[pin] S::Future),
    Calling,
}

impl<S: Service<Req>, Req> Deferred<S, Req> {
    /// `service`, ready, to be called with `request` on the first poll.
    fn new(service: S, request: Req) -> Self {
        Self {
            state: DeferredState::Uncalled { service, request },
        }
    }
}

impl<S: Service<Req>, Req> Future for Deferred<S, Req> {
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut state = self.project().state;
        if let DeferredProj::Uncalled { .. } = state.as_mut().project() {
            if let DeferredOwned::Uncalled {
                mut service,
                request,
            } = state.as_mut().project_replace(DeferredState::Calling)
            {
                state.set(DeferredState::Called(service.call(request)));
            }
        }
        let DeferredProj::Called(fut) = state.project() else {
            // As an `async fn` resumed after a panic: only a panic in the inner `call` leaves it
            // here, and the future that panicked is not to be polled again.
            panic!("`Deferred` polled after its service's `call` panicked");
        };
        let inner = Origin::of(fut.as_ref().get_ref());
        let result = ready!(fut.poll(cx));
        if result.is_err() {
            set_mark(take_mark(Some(inner)), me);
        }
        Poll::Ready(result)
    }
}

/// A [`TimeoutPolicy`] as a layer: the inner service's response future, given up on after the
/// policy's limit with a [`Rejected`] of kind [`TimedOut`](crate::RejectedKind::TimedOut). The
/// timer starts when the future is first found pending; a future ready at once sets none.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    policy: &'static TimeoutPolicy,
}

impl TimeoutLayer {
    /// Calls under `policy`'s limit (the one in force: the registry may change it).
    pub fn new(policy: &'static TimeoutPolicy) -> Self {
        Self { policy }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            policy: self.policy,
        }
    }
}

/// The service of a [`TimeoutLayer`]. It calls the inner service in `call`, as tower's `Timeout`
/// does, so it needs no `Clone`.
#[derive(Clone, Debug)]
pub struct TimeoutService<S> {
    inner: S,
    policy: &'static TimeoutPolicy,
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Error: From<Rejected>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = crate::Timeout<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        self.policy.generated(None, self.inner.call(request))
    }
}
