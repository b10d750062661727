//! The call paths allocate nothing (DESIGN, "Performance principles"): a closed breaker's success,
//! an open breaker's rejection, and the `call`, `retry` and `timeout` futures polled to
//! completion.
//!
//! A counting global allocator counts the allocations of each thread in a thread-local counter,
//! so the tests of this binary, each on its own thread, do not see each other's allocations.
//! Futures are polled by hand with a no-op waker: no runtime, nothing else allocating. Each path
//! runs once before counting, so that one-time set-up (thread-locals, `tracing` callsites, a rate
//! window) is not counted.

use resilient::{BreakerConfig, BreakerState, CircuitBreaker, Rejected, RejectedKind, RetryPolicy};
use std::future::ready;
use std::hint::black_box;
use std::time::Duration;

#[path = "support/alloc.rs"]
mod alloc;

/// A small error type, as users write one.
#[derive(Debug, Clone, PartialEq)]
enum Error {
    Upstream,
    Rejected(Rejected),
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

fn closed_breaker() -> CircuitBreaker {
    CircuitBreaker::new("no_alloc", BreakerConfig::new().failure_threshold(3))
}

fn open_breaker() -> CircuitBreaker {
    let breaker = CircuitBreaker::new(
        "no_alloc",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(3600)),
    );
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), BreakerState::Open);
    breaker
}

fn is_circuit_open(err: &Error) -> bool {
    matches!(err, Error::Rejected(r) if r.kind() == RejectedKind::CircuitOpen)
}

#[test]
fn the_counter_counts() {
    let n = alloc::allocations_after_warm_up(|| drop(black_box(Box::new(black_box(7u64)))));
    assert_eq!(
        n, 100,
        "the counting allocator must see this thread's allocations"
    );
}

#[test]
fn a_closed_breaker_allocates_nothing() {
    let breaker = closed_breaker();
    let n = alloc::allocations_after_warm_up(|| {
        assert_eq!(breaker.call_sync(|| Ok::<_, Error>(black_box(1))), Ok(1));
    });
    assert_eq!(n, 0, "call_sync, success");
    let n = alloc::allocations_after_warm_up(|| breaker.try_acquire().unwrap().success());
    assert_eq!(n, 0, "try_acquire + success");
    // A failure below the threshold, and the success that clears it (the path that writes).
    let n = alloc::allocations_after_warm_up(|| {
        assert_eq!(
            breaker.call_sync(|| Err::<u32, _>(Error::Upstream)),
            Err(Error::Upstream)
        );
        breaker.try_acquire().unwrap().success();
    });
    assert_eq!(n, 0, "failure, then success");
    // A permit dropped unrecorded.
    let n = alloc::allocations_after_warm_up(|| drop(breaker.try_acquire().unwrap()));
    assert_eq!(n, 0, "released permit");
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_closed_breaker_in_rate_mode_allocates_nothing_once_its_window_exists() {
    let breaker = CircuitBreaker::new(
        "no_alloc",
        BreakerConfig::new()
            .failure_rate(0.5)
            .window(20)
            .minimum_calls(10),
    );
    let n = alloc::allocations_after_warm_up(|| {
        assert_eq!(breaker.call_sync(|| Ok::<_, Error>(1)), Ok(1));
        breaker.try_acquire().unwrap().success();
    });
    assert_eq!(n, 0);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn an_open_breaker_rejects_without_allocating() {
    let breaker = open_breaker();
    let n = alloc::allocations_after_warm_up(|| {
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
        assert!(rejected.retry_after().is_some());
    });
    assert_eq!(n, 0, "try_acquire rejected");
    let n = alloc::allocations_after_warm_up(|| {
        let result = breaker.call_sync(|| -> Result<u32, Error> { unreachable!("rejected") });
        assert!(is_circuit_open(&result.unwrap_err()));
    });
    assert_eq!(n, 0, "call_sync rejected");
    let n = alloc::allocations_after_warm_up(|| {
        let result = alloc::poll_to_completion(breaker.call(async { Ok::<u32, Error>(1) }));
        assert!(is_circuit_open(&result.unwrap_err()));
    });
    assert_eq!(n, 0, "call rejected");

    breaker.force_open();
    let n = alloc::allocations_after_warm_up(|| {
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(rejected.retry_after(), None);
    });
    assert_eq!(n, 0, "forced open");
}

#[test]
fn the_futures_allocate_nothing() {
    static POLICY: RetryPolicy = RetryPolicy::new();
    let breaker = closed_breaker();

    let n = alloc::allocations_after_warm_up(|| {
        assert_eq!(
            alloc::poll_to_completion(breaker.call(async { Ok::<_, Error>(black_box(1)) })),
            Ok(1)
        );
    });
    assert_eq!(n, 0, "CircuitBreaker::call");

    let n = alloc::allocations_after_warm_up(|| {
        let result = alloc::poll_to_completion(resilient::retry(&POLICY, || async {
            Ok::<_, Error>(black_box(2))
        }));
        assert_eq!(result, Ok(2));
    });
    assert_eq!(n, 0, "retry");

    let n = alloc::allocations_after_warm_up(|| {
        let result = alloc::poll_to_completion(resilient::timeout(
            Duration::from_secs(1),
            ready(Ok::<_, Error>(black_box(3))),
        ));
        assert_eq!(result, Ok(3));
    });
    assert_eq!(n, 0, "timeout");

    // The recommended stack: retry › circuit breaker › timeout.
    let n = alloc::allocations_after_warm_up(|| {
        let result = alloc::poll_to_completion(resilient::retry(&POLICY, || {
            breaker.call(resilient::timeout(
                Duration::from_secs(1),
                ready(Ok::<_, Error>(black_box(4))),
            ))
        }));
        assert_eq!(result, Ok(4));
    });
    assert_eq!(n, 0, "retry(call(timeout(..)))");
}

/// A rate limiter's decision is a load and a compare-and-swap: letting a call through and
/// refusing one allocate nothing, nor does `call` either way.
#[test]
fn a_rate_limiter_allocates_nothing() {
    use resilient::RateLimiter;
    let limiter = RateLimiter::new("no_alloc.rate", u32::MAX, Duration::from_secs(1));
    let n = alloc::allocations_after_warm_up(|| {
        limiter.try_acquire().unwrap();
        let result = alloc::poll_to_completion(limiter.call(async { Ok::<u32, Error>(1) }));
        assert_eq!(result, Ok(1));
    });
    assert_eq!(n, 0, "let through");
    let full = RateLimiter::new("no_alloc.full", 1, Duration::from_secs(3600));
    let n = alloc::allocations_after_warm_up(|| {
        let _ = full.try_acquire();
        let rejected = full.try_acquire().unwrap_err();
        assert_eq!(rejected.kind(), RejectedKind::RateLimited);
        let result = alloc::poll_to_completion(full.call(async { Ok::<u32, Error>(1) }));
        assert!(matches!(result, Err(Error::Rejected(_))));
    });
    assert_eq!(n, 0, "refused");
}

/// A bulkhead takes and gives back a slot with two atomic operations; a refusal allocates
/// nothing; a call that waits and is handed a slot allocates nothing once the queue has held as
/// many waiters before (the queue keeps its room).
#[test]
fn a_bulkhead_allocates_nothing() {
    use resilient::Bulkhead;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let bulkhead = Bulkhead::new("no_alloc.bulkhead", 1).max_wait(Duration::MAX);
    let n = alloc::allocations_after_warm_up(|| {
        drop(bulkhead.try_acquire().unwrap());
        let result = alloc::poll_to_completion(bulkhead.call(async { Ok::<u32, Error>(1) }));
        assert_eq!(result, Ok(1));
    });
    assert_eq!(n, 0, "let through");
    let full = Bulkhead::new("no_alloc.bulkhead_full", 1);
    let held = full.try_acquire().unwrap();
    let n = alloc::allocations_after_warm_up(|| {
        let rejected = full.try_acquire().unwrap_err();
        assert_eq!(rejected.kind(), RejectedKind::BulkheadFull);
        let result = alloc::poll_to_completion(full.call(async { Ok::<u32, Error>(1) }));
        assert!(matches!(result, Err(Error::Rejected(_))));
    });
    assert_eq!(n, 0, "refused");
    drop(held);
    let n = alloc::allocations_after_warm_up(|| {
        let held = bulkhead.try_acquire().unwrap();
        let mut waiting = std::pin::pin!(bulkhead.call(async { Ok::<u32, Error>(2) }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(held);
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(Ok(2)));
    });
    assert_eq!(n, 0, "waited, then handed a slot");
}

/// A hedged call that answers before its delay allocates nothing, and neither does one with a
/// single hedge (the first hedge has its place inline).
#[test]
fn a_hedged_call_allocates_nothing_up_to_one_hedge() {
    use resilient::HedgePolicy;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let policy = HedgePolicy::new().delay(Duration::MAX);
    let n = alloc::allocations_after_warm_up(|| {
        let result =
            alloc::poll_to_completion(resilient::hedge(&policy, || async { Ok::<u32, Error>(1) }));
        assert_eq!(result, Ok(1));
    });
    assert_eq!(n, 0, "answered at once");
    // A delay of zero starts the hedge at once, without a timer: the first attempt waits on a
    // flag, the hedge answers.
    let racing = HedgePolicy::new().delay(Duration::ZERO);
    let n = alloc::allocations_after_warm_up(|| {
        let mut attempt = 0;
        let mut hedged = std::pin::pin!(resilient::hedge(&racing, || {
            attempt += 1;
            let first = attempt == 1;
            std::future::poll_fn(move |_| match first {
                true => Poll::Pending,
                false => Poll::Ready(Ok::<u32, Error>(2)),
            })
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(hedged.as_mut().poll(&mut cx), Poll::Ready(Ok(2)));
    });
    assert_eq!(n, 0, "won by the hedge");
}

/// Each `tower` layer over a `service_fn`, and the recommended stack of them, allocates nothing
/// per call: readiness, the call, its future polled to completion; nor do their refusals.
#[cfg(feature = "tower")]
#[test]
fn the_tower_layers_allocate_nothing() {
    use resilient::tower::{
        BreakerLayer, BulkheadLayer, HedgeLayer, RateLimitLayer, RetryLayer, TimeoutLayer,
    };
    use resilient::{Bulkhead, HedgePolicy, RateLimiter, TimeoutPolicy};
    use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

    static RETRY: RetryPolicy = RetryPolicy::new().name("no_alloc.tower");
    static HEDGE: HedgePolicy = HedgePolicy::new().name("no_alloc.tower");
    static BREAKER: CircuitBreaker = CircuitBreaker::new("no_alloc.tower", BreakerConfig::new());
    static OPEN: CircuitBreaker = CircuitBreaker::new("no_alloc.tower_open", BreakerConfig::new());
    static LIMIT: RateLimiter =
        RateLimiter::new("no_alloc.tower", u32::MAX, Duration::from_secs(1));
    static FULL_LIMIT: RateLimiter =
        RateLimiter::new("no_alloc.tower_full", 1, Duration::from_secs(3600));
    static POOL: Bulkhead = Bulkhead::new("no_alloc.tower", 1);
    static FULL_POOL: Bulkhead = Bulkhead::new("no_alloc.tower_full", 1);
    static TIME: TimeoutPolicy = TimeoutPolicy::new("no_alloc.tower", Duration::from_secs(1));

    /// One request through `svc`, as a caller makes it: readiness, then the call.
    fn once<S: Service<u64>>(svc: &mut S) -> Result<S::Response, S::Error> {
        let ready = alloc::poll_to_completion(svc.ready());
        let svc = ready.unwrap_or_else(|_| panic!("a service_fn is always ready"));
        alloc::poll_to_completion(svc.call(black_box(5)))
    }

    /// A request through one stack.
    type Request<'a> = &'a mut dyn FnMut() -> Result<u64, Error>;

    let echo = service_fn(|n: u64| ready(Ok::<_, Error>(n)));
    let cases: [(&str, Request); 7] = [
        ("retry", &mut {
            let mut svc = RetryLayer::new(&RETRY).layer(echo);
            move || once(&mut svc)
        }),
        ("hedge", &mut {
            let mut svc = HedgeLayer::new(&HEDGE).layer(echo);
            move || once(&mut svc)
        }),
        ("breaker", &mut {
            let mut svc = BreakerLayer::new(&BREAKER).layer(echo);
            move || once(&mut svc)
        }),
        ("rate limit", &mut {
            let mut svc = RateLimitLayer::new(&LIMIT).layer(echo);
            move || once(&mut svc)
        }),
        ("bulkhead", &mut {
            let mut svc = BulkheadLayer::new(&POOL).layer(echo);
            move || once(&mut svc)
        }),
        ("timeout", &mut {
            let mut svc = TimeoutLayer::new(&TIME).layer(echo);
            move || once(&mut svc)
        }),
        ("retry › breaker › timeout", &mut {
            let mut svc = ServiceBuilder::new()
                .layer(RetryLayer::new(&RETRY))
                .layer(BreakerLayer::new(&BREAKER))
                .layer(TimeoutLayer::new(&TIME))
                .service(echo);
            move || once(&mut svc)
        }),
    ];
    for (layer, call) in cases {
        let n = alloc::allocations_after_warm_up(|| assert_eq!(call(), Ok(5)));
        assert_eq!(n, 0, "{layer}");
    }

    OPEN.force_open();
    let _ = FULL_LIMIT.try_acquire();
    let _held = FULL_POOL.try_acquire().unwrap();
    let refusals: [(&str, RejectedKind, Request); 3] = [
        ("open breaker", RejectedKind::CircuitOpen, &mut {
            let mut svc = BreakerLayer::new(&OPEN).layer(echo);
            move || once(&mut svc)
        }),
        ("rate limit", RejectedKind::RateLimited, &mut {
            let mut svc = RateLimitLayer::new(&FULL_LIMIT).layer(echo);
            move || once(&mut svc)
        }),
        ("full bulkhead", RejectedKind::BulkheadFull, &mut {
            let mut svc = BulkheadLayer::new(&FULL_POOL).layer(echo);
            move || once(&mut svc)
        }),
    ];
    for (layer, kind, call) in refusals {
        let n = alloc::allocations_after_warm_up(|| {
            assert!(matches!(call(), Err(Error::Rejected(r)) if r.kind() == kind));
        });
        assert_eq!(n, 0, "{layer}");
    }
}
