//! The layers that call the inner service more than once: retry and hedge. Each future keeps a
//! clone of the service and the request, and asks the service for readiness before each attempt.

use super::{EveryError, When, take_ready};
use crate::hedge::Hedging;
use crate::policy::on_first_use;
use crate::rejected::Origin;
use crate::retry::{RetryLoop, State};
use crate::{HedgePolicy, RetryPolicy};
use pin_project::pin_project;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// The next attempt: `service` called with a copy of `request` once it is ready.
#[inline]
fn next_attempt<S: Service<Req>, Req: Clone>(
    service: &mut S,
    request: &Req,
    cx: &mut Context<'_>,
) -> Poll<Result<S::Future, S::Error>> {
    service
        .poll_ready(cx)
        .map_ok(|()| service.call(request.clone()))
}

/// A [`RetryPolicy`] as a layer: a failed call is made again, after the policy's backoff, up to
/// its attempts and budget. A timeout of a layer inside is always retried, a refusal by a rate
/// limiter or bulkhead inside is retried after at least its `retry_after`, and a circuit breaker
/// inside that refuses ends the retry at once. After the last attempt the last error is returned.
#[derive(Clone, Copy, Debug)]
pub struct RetryLayer<W = EveryError> {
    policy: &'static RetryPolicy,
    when: W,
}

impl RetryLayer {
    /// Retries every error under `policy`.
    pub fn new(policy: &'static RetryPolicy) -> Self {
        Self {
            policy,
            when: EveryError,
        }
    }
}

impl<W> RetryLayer<W> {
    /// Retries only the errors for which `when` returns `true`; the others are returned at once.
    pub fn when<P>(self, when: P) -> RetryLayer<P> {
        RetryLayer {
            policy: self.policy,
            when,
        }
    }
}

impl<S, W: Clone> Layer<S> for RetryLayer<W> {
    type Service = RetryService<S, W>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            policy: self.policy,
            when: self.when.clone(),
        }
    }
}

/// The service of a [`RetryLayer`].
#[derive(Clone, Debug)]
pub struct RetryService<S, W> {
    inner: S,
    policy: &'static RetryPolicy,
    when: W,
}

impl<S, Req, W> Service<Req> for RetryService<S, W>
where
    S: Service<Req> + Clone,
    S::Error: Debug,
    Req: Clone,
    W: When<S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RetryFuture<S, Req, W::Predicate>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        RetryFuture {
            service: take_ready(&mut self.inner),
            request,
            run: RetryLoop::new(on_first_use(self.policy)),
            when: self.when.predicate(),
            state: State::Idle,
        }
    }
}

/// The future of a [`RetryService`]: each attempt is a call of the inner service with a copy of
/// the request. Dropped, it drops the attempt under way.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct RetryFuture<S: Service<Req>, Req, P> {
    service: S,
    request: Req,
    run: RetryLoop<'static>,
    when: P,
    #[pin]
    state: State<S::Future>,
}

impl<S, Req, P> Future for RetryFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: Debug,
    Req: Clone,
    P: Fn(&S::Error) -> bool,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let this = self.project();
        let (service, request) = (this.service, &*this.request);
        let next = |cx: &mut Context<'_>| next_attempt(service, request, cx);
        this.state.poll_retry(this.run, &*this.when, me, cx, next)
    }
}

/// A [`HedgePolicy`] as a layer: when a call has not answered after the policy's delay, another
/// call with a copy of the request starts beside it, up to `max_hedges`; the first `Ok` wins and
/// the others are dropped at once. A failure that `when` accepts (or a timeout inside) starts the
/// next one at once; an error `when` refuses, or a refusal by a layer inside, starts no more.
#[derive(Clone, Copy, Debug)]
pub struct HedgeLayer<W = EveryError> {
    policy: &'static HedgePolicy,
    when: W,
}

impl HedgeLayer {
    /// Hedges calls under `policy`; every error starts the next hedge at once.
    pub fn new(policy: &'static HedgePolicy) -> Self {
        Self {
            policy,
            when: EveryError,
        }
    }
}

impl<W> HedgeLayer<W> {
    /// Only an error for which `when` returns `true` starts the next hedge; any other starts no
    /// more (the attempts already running go on).
    pub fn when<P>(self, when: P) -> HedgeLayer<P> {
        HedgeLayer {
            policy: self.policy,
            when,
        }
    }
}

impl<S, W: Clone> Layer<S> for HedgeLayer<W> {
    type Service = HedgeService<S, W>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            inner,
            policy: self.policy,
            when: self.when.clone(),
        }
    }
}

/// The service of a [`HedgeLayer`].
#[derive(Clone, Debug)]
pub struct HedgeService<S, W> {
    inner: S,
    policy: &'static HedgePolicy,
    when: W,
}

impl<S, Req, W> Service<Req> for HedgeService<S, W>
where
    S: Service<Req> + Clone,
    S::Error: Debug,
    Req: Clone,
    W: When<S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = HedgeFuture<S, Req, W::Predicate>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        HedgeFuture {
            service: take_ready(&mut self.inner),
            request,
            hedging: Hedging::generated(self.policy, self.when.predicate()),
        }
    }
}

/// The future of a [`HedgeService`]: its attempts, each a call of the inner service with a copy
/// of the request. Dropped, it drops every attempt.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct HedgeFuture<S: Service<Req>, Req, P> {
    service: S,
    request: Req,
    #[pin]
    hedging: Hedging<'static, S::Future, P>,
}

impl<S, Req, P> Future for HedgeFuture<S, Req, P>
where
    S: Service<Req>,
    S::Error: Debug,
    Req: Clone,
    P: Fn(&S::Error) -> bool,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let this = self.project();
        let (service, request) = (this.service, &*this.request);
        let next = |cx: &mut Context<'_>| next_attempt(service, request, cx);
        this.hedging.poll_hedged(me, cx, next)
    }
}
