//! The layers that let a call through or refuse it: circuit breaker, rate limiter, bulkhead.
//! One service, [`Guarded`], runs each call through its layer's policy.

use super::{Deferred, EveryError, Outcomes, take_ready};
use crate::{
    BreakerCall, Bulkhead, BulkheadCall, CircuitBreaker, Classify, LimitedCall, RateLimiter,
    Rejected,
};
use std::future::Future;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// What a layer that lets calls through or refuses them does with one: runs the inner service's
/// deferred call through its policy. [`BreakerLayer`], [`RateLimitLayer`] and [`BulkheadLayer`]
/// are the ones.
pub trait Admission<S: Service<Req>, Req> {
    /// The policy's future around the call.
    type Future: Future<Output = Result<S::Response, S::Error>>;
    /// `call` through the policy.
    fn admit(&self, call: Deferred<S, Req>) -> Self::Future;
}

/// The service of a [`BreakerLayer`], [`RateLimitLayer`] or [`BulkheadLayer`] (`A`): ready when
/// the inner service is; each call goes through the layer's policy, which calls the inner service
/// only once it lets the call through.
#[derive(Clone, Debug)]
pub struct Guarded<S, A> {
    inner: S,
    layer: A,
}

impl<S, Req, A> Service<Req> for Guarded<S, A>
where
    S: Service<Req> + Clone,
    A: Admission<S, Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = A::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let service = take_ready(&mut self.inner);
        self.layer.admit(Deferred::new(service, request))
    }
}

/// A [`CircuitBreaker`] as a layer: an open breaker refuses a call at once, without calling the
/// inner service; every `Err` is a failure, unless [`when`](Self::when) or
/// [`classify`](Self::classify) says otherwise. A timeout of a layer inside is a failure, and a
/// refusal by a rate limiter or bulkhead inside is neither success nor failure.
#[derive(Clone, Copy, Debug)]
pub struct BreakerLayer<C = EveryError> {
    breaker: &'static CircuitBreaker,
    classify: C,
}

impl BreakerLayer {
    /// Calls through `breaker`, every error a failure.
    pub fn new(breaker: &'static CircuitBreaker) -> Self {
        Self {
            breaker,
            classify: EveryError,
        }
    }
}

impl<C> BreakerLayer<C> {
    /// Only the errors for which `is_failure` returns `true` are failures; the others are
    /// successes (the dependency answered), as with [`CircuitBreaker::call_when`].
    pub fn when<P>(self, is_failure: P) -> BreakerLayer<P> {
        BreakerLayer {
            breaker: self.breaker,
            classify: is_failure,
        }
    }

    /// Judges every result, responses too: `is_failure` returns `true` for a failure, such as an
    /// HTTP response with a 5xx status.
    ///
    /// ```
    /// # use resilient::{BreakerConfig, CircuitBreaker};
    /// # use tower::BoxError;
    /// static API: CircuitBreaker = CircuitBreaker::new("api", BreakerConfig::new());
    /// let layer = resilient::tower::BreakerLayer::new(&API)
    ///     .classify(|result: &Result<u16, BoxError>| !matches!(result, Ok(status) if *status < 500));
    /// # let _ = layer;
    /// ```
    pub fn classify<F>(self, is_failure: F) -> BreakerLayer<Outcomes<F>> {
        self.when(Outcomes(is_failure))
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = Guarded<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            layer: self.clone(),
        }
    }
}

impl<S, Req, C> Admission<S, Req> for BreakerLayer<C>
where
    S: Service<Req>,
    S::Error: From<Rejected>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Future = BreakerCall<'static, Deferred<S, Req>, C>;

    #[inline]
    fn admit(&self, call: Deferred<S, Req>) -> Self::Future {
        BreakerCall::generated(self.breaker, self.classify.clone(), call)
    }
}

/// A [`RateLimiter`] as a layer: a call over the limit waits for its turn up to the limiter's
/// `max_wait` in its response future, else is refused with
/// [`RateLimited`](crate::RejectedKind::RateLimited) without reaching the inner service.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitLayer {
    limiter: &'static RateLimiter,
}

impl RateLimitLayer {
    /// Calls in `limiter`'s turns.
    pub fn new(limiter: &'static RateLimiter) -> Self {
        Self { limiter }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = Guarded<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            layer: *self,
        }
    }
}

impl<S, Req> Admission<S, Req> for RateLimitLayer
where
    S: Service<Req>,
    S::Error: From<Rejected>,
{
    type Future = LimitedCall<'static, Deferred<S, Req>>;

    #[inline]
    fn admit(&self, call: Deferred<S, Req>) -> Self::Future {
        self.limiter.generated(call)
    }
}

/// A [`Bulkhead`] as a layer: a call that finds every slot taken waits for one up to the
/// bulkhead's `max_wait` in its response future, in arrival order, else is refused with
/// [`BulkheadFull`](crate::RejectedKind::BulkheadFull) without reaching the inner service.
#[derive(Clone, Copy, Debug)]
pub struct BulkheadLayer {
    bulkhead: &'static Bulkhead,
}

impl BulkheadLayer {
    /// Calls in `bulkhead`'s slots.
    pub fn new(bulkhead: &'static Bulkhead) -> Self {
        Self { bulkhead }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = Guarded<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            layer: *self,
        }
    }
}

impl<S, Req> Admission<S, Req> for BulkheadLayer
where
    S: Service<Req>,
    S::Error: From<Rejected>,
{
    type Future = BulkheadCall<'static, Deferred<S, Req>>;

    #[inline]
    fn admit(&self, call: Deferred<S, Req>) -> Self::Future {
        self.bulkhead.generated(call)
    }
}
