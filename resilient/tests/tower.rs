//! The `tower` layers (feature `tower`) on virtual time, each over a `tower::service_fn`: what
//! reaches the inner service and when, to the nanosecond of tokio's paused clock, stacked in a
//! `ServiceBuilder`, and what a dropped response future gives back.

mod common;

use common::{Calls, TestError, join_all, ms, poll_once};
use resilient::tower::{
    BreakerLayer, BulkheadLayer, Error, HedgeLayer, RateLimitLayer, RetryLayer, TimeoutLayer,
};
use resilient::{
    Backoff, BreakerConfig, BreakerState, Bulkhead, CircuitBreaker, HedgePolicy, RateLimiter,
    Rejected, RejectedKind, RetryPolicy, TimeoutPolicy,
};
use std::convert::Infallible;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// The instants (since `start`) at which the inner service was called, and the calls themselves.
#[derive(Clone)]
struct Log {
    start: Instant,
    calls: Arc<Mutex<Vec<Duration>>>,
}

impl Log {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            calls: Arc::default(),
        }
    }

    /// Records a call now; returns its number, from 1.
    fn record(&self) -> usize {
        let mut calls = self.calls.lock().unwrap();
        calls.push(self.start.elapsed());
        calls.len()
    }

    fn calls(&self) -> Vec<Duration> {
        self.calls.lock().unwrap().clone()
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A service answering `Ok(request)` after `took`, logging each call.
fn slow_echo(
    log: &Log,
    took: Duration,
) -> impl Service<u32, Response = u32, Error = TestError, Future: 'static> + Clone + 'static {
    let log = log.clone();
    service_fn(move |n: u32| {
        log.record();
        async move {
            sleep(took).await;
            Ok(n)
        }
    })
}

/// A service failing every call with `Failed(request)` after `took`, logging each call.
fn failing(
    log: &Log,
    took: Duration,
) -> impl Service<u32, Response = u32, Error = TestError, Future: 'static> + Clone + 'static {
    let log = log.clone();
    service_fn(move |n: u32| {
        log.record();
        async move {
            sleep(took).await;
            Err(TestError::Failed(n))
        }
    })
}

/// Readies `svc` and calls it: what a caller of a tower service does for each request.
async fn call<S: Service<u32>>(svc: &mut S, request: u32) -> Result<S::Response, S::Error> {
    svc.ready().await?.call(request).await
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_rejects_without_calling_the_inner_service() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "tower.breaker",
        BreakerConfig::new()
            .failure_threshold(2)
            .recovery_timeout(Duration::from_secs(30)),
    );
    let log = Log::new();
    let mut svc = BreakerLayer::new(&BREAKER).layer(failing(&log, ms(10)));
    for n in 1..=2 {
        assert_eq!(call(&mut svc, n).await, Err(TestError::Failed(n)));
    }
    assert_eq!(BREAKER.state(), BreakerState::Open);
    let err = call(&mut svc, 3).await.unwrap_err();
    let TestError::Rejected(rejected) = err else {
        panic!("expected a rejection, got {err:?}")
    };
    assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(
        log.calls().len(),
        2,
        "the rejected call never reached the service"
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(call(&mut svc, 4).await, Err(TestError::Failed(4)));
    assert_eq!(log.calls().len(), 3, "the trial reached it");
    let m = BREAKER.metrics();
    assert_eq!((m.failures, m.rejections, m.openings), (3, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_classifier_counts_a_5xx_response_as_a_failure_and_when_spares_client_errors() {
    static STATUS: CircuitBreaker =
        CircuitBreaker::new("tower.status", BreakerConfig::new().failure_threshold(2));
    let statuses = Arc::new(Mutex::new(vec![503, 200, 502, 500].into_iter()));
    let next = move |_: u32| {
        let status = statuses.lock().unwrap().next().unwrap();
        async move { Ok::<u16, TestError>(status) }
    };
    let server_error = |r: &Result<u16, TestError>| !matches!(r, Ok(status) if *status < 500);
    let mut svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(&STATUS).classify(server_error))
        .service(service_fn(next));
    // 503 fails, 200 clears the count, 502 and 500 open it: answers that came back as `Ok`.
    for expected in [503, 200, 502, 500] {
        assert_eq!(call(&mut svc, 0).await, Ok(expected));
    }
    assert_eq!(STATUS.state(), BreakerState::Open);
    assert_eq!(STATUS.metrics().failures, 3);

    static CLIENT: CircuitBreaker = CircuitBreaker::new(
        "tower.client_errors",
        BreakerConfig::new().failure_threshold(1),
    );
    let log = Log::new();
    let server_errors_only = |e: &TestError| {
        matches!(e, TestError::Failed(500..)) || matches!(e, TestError::Rejected(_))
    };
    let mut svc = BreakerLayer::new(&CLIENT)
        .when(server_errors_only)
        .layer(failing(&log, ms(0)));
    assert_eq!(call(&mut svc, 404).await, Err(TestError::Failed(404)));
    assert_eq!(CLIENT.state(), BreakerState::Closed, "a 404 means it is up");
    assert_eq!(call(&mut svc, 503).await, Err(TestError::Failed(503)));
    assert_eq!(CLIENT.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn retry_calls_the_service_again_after_each_backoff_up_to_its_attempts() {
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("tower.retry")
        .max_attempts(3)
        .backoff(Backoff::constant(ms(100)));
    let log = Log::new();
    let mut svc = RetryLayer::new(&RETRY).layer(failing(&log, ms(10)));
    assert_eq!(call(&mut svc, 7).await, Err(TestError::Failed(7)));
    assert_eq!(log.calls(), [ms(0), ms(110), ms(220)]);
    assert_eq!(log.elapsed(), ms(230));
    let m = RETRY.metrics();
    assert_eq!((m.failures, m.retries, m.exhausted), (1, 2, 1));

    // Succeeding on the second attempt.
    let log = Log::new();
    let attempts = Arc::new(Calls::default());
    let flaky = {
        let (log, attempts) = (log.clone(), attempts.clone());
        service_fn(move |n: u32| {
            log.record();
            let attempt = attempts.next();
            async move {
                match attempt {
                    1 => Err(TestError::Failed(n)),
                    _ => Ok(n),
                }
            }
        })
    };
    let mut svc = RetryLayer::new(&RETRY).layer(flaky);
    assert_eq!(call(&mut svc, 8).await, Ok(8));
    assert_eq!(log.calls(), [ms(0), ms(100)]);
    assert_eq!(RETRY.metrics().successes, 1);
}

#[tokio::test(start_paused = true)]
async fn retry_when_returns_the_other_errors_at_once() {
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("tower.retry_when")
        .backoff(Backoff::none());
    let log = Log::new();
    let transient = |e: &TestError| matches!(e, TestError::Failed(500..));
    let mut svc = RetryLayer::new(&RETRY)
        .when(transient)
        .layer(failing(&log, ms(0)));
    assert_eq!(call(&mut svc, 404).await, Err(TestError::Failed(404)));
    assert_eq!(log.calls().len(), 1);
    assert_eq!(call(&mut svc, 503).await, Err(TestError::Failed(503)));
    assert_eq!(log.calls().len(), 4, "1 + 3 attempts");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_gives_up_at_its_limit_exactly() {
    static LIMIT: TimeoutPolicy = TimeoutPolicy::new("tower.timeout", Duration::from_secs(1));
    let log = Log::new();
    let mut svc = TimeoutLayer::new(&LIMIT).layer(slow_echo(&log, Duration::from_secs(10)));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    assert_eq!(log.elapsed(), Duration::from_secs(1));
    let mut fast = TimeoutLayer::new(&LIMIT).layer(slow_echo(&log, ms(999)));
    assert_eq!(call(&mut fast, 2).await, Ok(2));
    let m = LIMIT.metrics();
    assert_eq!((m.successes, m.timeouts), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_refuses_at_max_wait_exactly_without_calling_the_service() {
    static POOL: Bulkhead = Bulkhead::new("tower.bulkhead", 1).max_wait(ms(100));
    let log = Log::new();
    let mut svc = BulkheadLayer::new(&POOL).layer(slow_echo(&log, Duration::from_secs(1)));
    let first = svc.ready().await.unwrap().call(1);
    let second = svc.ready().await.unwrap().call(2);
    let mut first = pin!(first);
    assert!(poll_once(first.as_mut()).is_pending());
    let refused = second.await.unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::BulkheadFull));
    assert_eq!(log.elapsed(), ms(100), "refused when its wait ran out");
    assert_eq!(
        log.calls(),
        [ms(0)],
        "the refused call never reached the service"
    );
    assert_eq!(first.await, Ok(1));
    let m = POOL.metrics();
    assert_eq!(
        (m.admitted, m.waited, m.rejected, m.in_flight),
        (1, 1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_calls_a_waiting_request_when_a_slot_frees() {
    static POOL: Bulkhead = Bulkhead::new("tower.bulkhead_wait", 1).max_wait(ms(100));
    let log = Log::new();
    let mut svc = BulkheadLayer::new(&POOL).layer(slow_echo(&log, ms(100)));
    let calls = vec![
        svc.ready().await.unwrap().call(1),
        svc.ready().await.unwrap().call(2),
    ];
    assert_eq!(join_all(calls).await, [Ok(1), Ok(2)]);
    // The second waited exactly its whole `max_wait`: the slot came free at that instant.
    assert_eq!(log.calls(), [ms(0), ms(100)]);
    assert_eq!(log.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_waits_for_a_turn_up_to_max_wait_and_refuses_one_further() {
    static LIMIT: RateLimiter = RateLimiter::new("tower.rate", 1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1));
    let log = Log::new();
    let mut svc = RateLimitLayer::new(&LIMIT).layer(slow_echo(&log, ms(0)));
    let calls = vec![
        svc.ready().await.unwrap().call(1),
        svc.ready().await.unwrap().call(2),
        svc.ready().await.unwrap().call(3),
    ];
    let results = join_all(calls).await;
    assert_eq!(results[..2], [Ok(1), Ok(2)]);
    let Err(TestError::Rejected(refused)) = &results[2] else {
        panic!("the third turn is 2 s away: {:?}", results[2])
    };
    assert_eq!(refused.kind(), RejectedKind::RateLimited);
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(2)));
    // The second turn came exactly `max_wait` later, when the service was called.
    assert_eq!(log.calls(), [ms(0), Duration::from_secs(1)]);
    let m = LIMIT.metrics();
    assert_eq!((m.admitted, m.waited, m.rejected), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_hedge_starts_the_second_call_at_its_delay_and_drops_the_first() {
    static HEDGE: HedgePolicy = HedgePolicy::new()
        .name("tower.hedge")
        .delay(ms(50))
        .max_hedges(1);
    let log = Log::new();
    let unfinished = Arc::new(Calls::default());
    let svc = {
        let (log, unfinished) = (log.clone(), unfinished.clone());
        service_fn(move |_: u32| {
            let attempt = log.record();
            let guard = DropCounter(unfinished.clone());
            async move {
                sleep(if attempt == 1 { ms(500) } else { ms(10) }).await;
                std::mem::forget(guard);
                Ok::<_, TestError>(attempt)
            }
        })
    };
    let mut svc = HedgeLayer::new(&HEDGE).layer(svc);
    assert_eq!(call(&mut svc, 0).await, Ok(2), "the hedge answered first");
    assert_eq!(log.calls(), [ms(0), ms(50)]);
    assert_eq!(log.elapsed(), ms(60));
    assert_eq!(
        unfinished.count(),
        1,
        "the first call was dropped when the hedge won"
    );
    let m = HEDGE.metrics();
    assert_eq!((m.successes, m.hedges, m.won), (1, 1, 1));
}

/// Counts the futures dropped before they finished.
struct DropCounter(Arc<Calls>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.next();
    }
}

/// retry › breaker › timeout: each attempt that times out is a failure of the breaker and is
/// retried; once the breaker opens, the retry ends at once with its rejection.
#[tokio::test(start_paused = true)]
async fn stacked_retry_breaker_timeout_retries_timeouts_until_the_breaker_opens() {
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("tower.stack")
        .max_attempts(5)
        .backoff(Backoff::constant(ms(10)));
    static BREAKER: CircuitBreaker =
        CircuitBreaker::new("tower.stack", BreakerConfig::new().failure_threshold(3));
    static LIMIT: TimeoutPolicy = TimeoutPolicy::new("tower.stack", ms(100));
    let log = Log::new();
    let mut svc = ServiceBuilder::new()
        .layer(RetryLayer::new(&RETRY))
        .layer(BreakerLayer::new(&BREAKER))
        .layer(TimeoutLayer::new(&LIMIT))
        .service(slow_echo(&log, Duration::from_secs(1)));
    let err = call(&mut svc, 1).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(log.calls(), [ms(0), ms(110), ms(220)]);
    assert_eq!(
        log.elapsed(),
        ms(330),
        "the fourth attempt was rejected at once"
    );
    let b = BREAKER.metrics();
    assert_eq!((b.failures, b.timeouts, b.rejections), (3, 3, 1));
    let r = RETRY.metrics();
    assert_eq!((r.retries, r.aborted, r.exhausted), (3, 1, 0));
    assert_eq!(LIMIT.metrics().timeouts, 3);
}

/// A breaker around a bulkhead sees its refusal for what it is: not a failure of the dependency.
#[tokio::test(start_paused = true)]
async fn a_breaker_does_not_count_a_full_bulkhead_inside_as_a_failure() {
    static BREAKER: CircuitBreaker =
        CircuitBreaker::new("tower.over_pool", BreakerConfig::new().failure_threshold(1));
    static POOL: Bulkhead = Bulkhead::new("tower.under_breaker", 1);
    let log = Log::new();
    let mut svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(&BREAKER))
        .layer(BulkheadLayer::new(&POOL))
        .service(slow_echo(&log, Duration::from_secs(1)));
    let mut running = pin!(svc.ready().await.unwrap().call(1));
    assert!(poll_once(running.as_mut()).is_pending());
    let refused = call(&mut svc, 2).await.unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::BulkheadFull));
    assert_eq!(BREAKER.state(), BreakerState::Closed);
    let m = BREAKER.metrics();
    assert_eq!((m.failures, m.released), (0, 1));
    assert_eq!(running.await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_back_its_trial_slot_and_turn() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "tower.cancel_breaker",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(1)),
    );
    let log = Log::new();
    let _ = BREAKER
        .call(async { Err::<(), TestError>(TestError::Failed(0)) })
        .await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let mut svc = BreakerLayer::new(&BREAKER).layer(slow_echo(&log, Duration::from_secs(5)));
    let mut trial = Box::pin(svc.ready().await.unwrap().call(1));
    assert!(poll_once(trial.as_mut()).is_pending());
    assert_eq!(BREAKER.state(), BreakerState::HalfOpen);
    let busy = call(&mut svc, 2).await.unwrap_err();
    assert_eq!(
        busy.rejection(),
        Some(RejectedKind::CircuitOpen),
        "one trial at a time"
    );
    drop(trial);
    assert_eq!(BREAKER.metrics().released, 1);
    let mut next = Box::pin(svc.ready().await.unwrap().call(3));
    assert!(
        poll_once(next.as_mut()).is_pending(),
        "the trial slot came back"
    );
    assert_eq!(log.calls().len(), 2);

    static LIMIT: RateLimiter =
        RateLimiter::new("tower.cancel_rate", 1, Duration::from_secs(1)).max_wait(Duration::MAX);
    let mut svc = RateLimitLayer::new(&LIMIT).layer(slow_echo(&log, ms(0)));
    assert_eq!(call(&mut svc, 4).await, Ok(4));
    let mut waiting = Box::pin(svc.ready().await.unwrap().call(5));
    assert!(poll_once(waiting.as_mut()).is_pending());
    drop(waiting);
    assert_eq!(LIMIT.metrics().gave_back, 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        LIMIT.try_acquire().is_ok(),
        "the turn went back to the limiter"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_back_its_slot_or_its_place_in_the_queue() {
    static POOL: Bulkhead = Bulkhead::new("tower.cancel_pool", 1).max_wait(Duration::MAX);
    let log = Log::new();
    let mut svc = BulkheadLayer::new(&POOL).layer(slow_echo(&log, Duration::from_secs(5)));
    let mut running = Box::pin(svc.ready().await.unwrap().call(1));
    let mut waiting = Box::pin(svc.ready().await.unwrap().call(2));
    assert!(poll_once(running.as_mut()).is_pending());
    assert!(poll_once(waiting.as_mut()).is_pending());
    assert_eq!((POOL.metrics().in_flight, POOL.metrics().waiting), (1, 1));
    drop(waiting);
    assert_eq!((POOL.metrics().in_flight, POOL.metrics().waiting), (1, 0));
    drop(running);
    assert_eq!((POOL.metrics().in_flight, POOL.metrics().waiting), (0, 0));
    assert_eq!(
        log.calls(),
        [ms(0)],
        "the waiting call never reached the service"
    );

    // Dropping a hedged call drops every attempt.
    static HEDGE: HedgePolicy = HedgePolicy::new().name("tower.cancel_hedge").delay(ms(10));
    let unfinished = Arc::new(Calls::default());
    let svc = {
        let unfinished = unfinished.clone();
        service_fn(move |_: u32| {
            let guard = DropCounter(unfinished.clone());
            async move {
                sleep(Duration::from_secs(5)).await;
                drop(guard);
                Ok::<u32, TestError>(0)
            }
        })
    };
    let mut svc = HedgeLayer::new(&HEDGE).layer(svc);
    let hedged = svc.ready().await.unwrap().call(0);
    assert!(tokio::time::timeout(ms(20), hedged).await.is_err());
    assert_eq!(
        unfinished.count(),
        2,
        "both attempts were dropped with the call"
    );
}

/// A service that keeps tower's contract strictly: it is ready only on the second
/// `poll_ready` after each call (the first wakes the task and says `Pending`), and a call without
/// readiness panics. A clone starts unready.
#[derive(Clone)]
struct Strict {
    ready: bool,
    asked: bool,
    log: Log,
}

impl Strict {
    fn new(log: &Log) -> Self {
        Self {
            ready: false,
            asked: false,
            log: log.clone(),
        }
    }
}

impl Service<u32> for Strict {
    type Response = u32;
    type Error = TestError;
    type Future = std::future::Ready<Result<u32, TestError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TestError>> {
        if !std::mem::replace(&mut self.asked, true) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: u32) -> Self::Future {
        assert!(std::mem::take(&mut self.ready), "called without poll_ready");
        self.asked = false;
        let attempt = self.log.record() as u32;
        std::future::ready(if attempt < 3 {
            Err(TestError::Failed(n))
        } else {
            Ok(n)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn retry_and_hedge_ask_for_readiness_before_every_attempt() {
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("tower.strict_retry")
        .backoff(Backoff::none());
    let log = Log::new();
    let mut svc = RetryLayer::new(&RETRY).layer(Strict::new(&log));
    assert_eq!(call(&mut svc, 5).await, Ok(5));
    assert_eq!(log.calls().len(), 3);

    static HEDGE: HedgePolicy = HedgePolicy::new().name("tower.strict_hedge").max_hedges(2);
    let log = Log::new();
    let mut svc = HedgeLayer::new(&HEDGE).layer(Strict::new(&log));
    assert_eq!(call(&mut svc, 6).await, Ok(6));
    assert_eq!(
        log.calls().len(),
        3,
        "two failures started the two hedges at once"
    );

    static BREAKER: CircuitBreaker = CircuitBreaker::new("tower.strict", BreakerConfig::new());
    static POOL: Bulkhead = Bulkhead::new("tower.strict", 1);
    static LIMIT: RateLimiter = RateLimiter::new("tower.strict", 100, Duration::from_secs(1));
    let log = Log::new();
    let mut svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(&BREAKER))
        .layer(RateLimitLayer::new(&LIMIT))
        .layer(BulkheadLayer::new(&POOL))
        .service(Strict::new(&log));
    for n in 1..=3 {
        let result = call(&mut svc, n).await;
        assert_eq!(result.is_ok(), n == 3, "{result:?}");
    }
}

/// A service with an error type of its own gets one with `From<Rejected>` at the bottom of the
/// stack; either kind converts into a `BoxError` for a layer above that wants one.
#[tokio::test(start_paused = true)]
async fn errors_of_another_type_are_mapped_in_and_convert_to_box_error() {
    static CLOSED: CircuitBreaker = CircuitBreaker::new("tower.error", BreakerConfig::new());
    let mut svc = ServiceBuilder::new()
        .layer(BreakerLayer::new(&CLOSED))
        .map_err(Error::Inner)
        .service(service_fn(|n: u32| async move { Ok::<_, Infallible>(n) }));
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1);
    CLOSED.force_open();
    let err: Error<Infallible> = call(&mut svc, 2).await.unwrap_err();
    assert_eq!(
        err.rejected().map(Rejected::kind),
        Some(RejectedKind::CircuitOpen)
    );
    let message = err.to_string();
    let boxed: BoxError = err.into();
    assert_eq!(boxed.to_string(), message);
    assert!(boxed.downcast_ref::<Error<Infallible>>().is_some());

    static BOXED: CircuitBreaker = CircuitBreaker::new("tower.box_error", BreakerConfig::new());
    BOXED.force_open();
    let mut svc =
        BreakerLayer::new(&BOXED).layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let boxed = call(&mut svc, 3).await.unwrap_err();
    let rejected = boxed.downcast_ref::<Rejected>().unwrap();
    assert_eq!(rejected.policy(), "tower.box_error");
}

/// Each layer's policy joins the registry on first use, under its own name and kind, as the
/// attributes' do.
#[tokio::test(start_paused = true)]
async fn every_layer_registers_its_policy_on_first_use() {
    use resilient::registry::{self, PolicyKind};
    static RETRY: RetryPolicy = RetryPolicy::new().name("tower.registered_retry");
    static HEDGE: HedgePolicy = HedgePolicy::new().name("tower.registered_hedge");
    static BREAKER: CircuitBreaker =
        CircuitBreaker::new("tower.registered_breaker", BreakerConfig::new());
    static LIMIT: RateLimiter =
        RateLimiter::new("tower.registered_rate", 10, Duration::from_secs(1));
    static POOL: Bulkhead = Bulkhead::new("tower.registered_pool", 10);
    static TIME: TimeoutPolicy = TimeoutPolicy::new("tower.registered_timeout", ms(100));
    let log = Log::new();
    let mut svc = ServiceBuilder::new()
        .layer(RetryLayer::new(&RETRY))
        .layer(HedgeLayer::new(&HEDGE))
        .layer(BreakerLayer::new(&BREAKER))
        .layer(RateLimitLayer::new(&LIMIT))
        .layer(BulkheadLayer::new(&POOL))
        .layer(TimeoutLayer::new(&TIME))
        .service(slow_echo(&log, ms(1)));
    let registered = |name: &str| registry::policies().iter().any(|p| p.name == name);
    assert!(
        !registered("tower.registered_breaker"),
        "not before the first call"
    );
    assert_eq!(call(&mut svc, 1).await, Ok(1));
    let expected = [
        ("tower.registered_retry", PolicyKind::Retry),
        ("tower.registered_hedge", PolicyKind::Hedge),
        ("tower.registered_breaker", PolicyKind::CircuitBreaker),
        ("tower.registered_rate", PolicyKind::RateLimit),
        ("tower.registered_pool", PolicyKind::Bulkhead),
        ("tower.registered_timeout", PolicyKind::Timeout),
    ];
    let policies = registry::policies();
    for (name, kind) in expected {
        let found = policies.iter().find(|p| p.name == name);
        assert_eq!(found.map(|p| p.kind), Some(kind), "{name}");
    }
}
