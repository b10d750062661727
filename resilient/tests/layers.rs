//! Layers together: retry › circuit breaker › timeout, as the attributes stack them.
//!
//! Adapted from the MicroProfile Fault Tolerance TCK's `CircuitBreakerRetryTest` and Polly's
//! policy-wrap specs.

mod common;

use common::{Calls, TestError, ms};
use resilient::{
    Backoff, BreakerConfig, BreakerState, CircuitBreaker, RejectedKind, RetryPolicy, retry,
    retry_when, timeout,
};
use std::future::Future;
use std::task::{Context, Poll, Waker};
use tokio::time::{Instant, sleep};

fn breaker(config: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::try_new("layers", config).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_a_breaker_failure_and_is_retried() {
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)));
    let b = breaker(BreakerConfig::new().failure_threshold(5));
    let calls = Calls::default();
    let start = Instant::now();
    let result = retry(&policy, || {
        b.call(timeout(ms(50), async {
            let n = calls.next();
            if n < 3 {
                sleep(ms(1000)).await;
            }
            Ok::<_, TestError>(n)
        }))
    })
    .await;
    assert_eq!(result, Ok(3));
    assert_eq!(b.metrics().failures, 2);
    assert_eq!(start.elapsed(), ms(50 + 10 + 50 + 10));
}

// TCK `CircuitBreakerRetryTest.testCircuitOpenWithMoreRetries`: the circuit opens after 3
// failures; the retry's next attempt is rejected and ends the retry at once, though attempts remain.
#[tokio::test(start_paused = true)]
async fn a_breaker_rejection_ends_the_retry_at_once() {
    let policy = RetryPolicy::new()
        .max_attempts(7)
        .backoff(Backoff::constant(ms(100)));
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(3)
            .recovery_timeout(ms(10_000)),
    );
    let calls = Calls::default();
    let start = Instant::now();
    let result = retry(&policy, || {
        b.call(async { Err::<(), _>(TestError::Failed(calls.next())) })
    })
    .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 3);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        start.elapsed(),
        ms(300),
        "three waits, then no sleep after the rejection"
    );
}

// The same with a timeout between the two: the rejection passes through it as the breaker's.
#[tokio::test(start_paused = true)]
async fn a_breaker_rejection_through_a_timeout_ends_the_retry_at_once() {
    let policy = RetryPolicy::new()
        .max_attempts(7)
        .backoff(Backoff::constant(ms(100)));
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(2)
            .recovery_timeout(ms(10_000)),
    );
    let calls = Calls::default();
    let result = retry(&policy, || {
        timeout(
            ms(50),
            b.call(async { Err::<(), _>(TestError::Failed(calls.next())) }),
        )
    })
    .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 2);
    assert_eq!(b.metrics().rejections, 1, "one rejected attempt, not five");
}

#[tokio::test(start_paused = true)]
async fn when_predicates_judge_only_the_functions_own_errors() {
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let b = breaker(BreakerConfig::new().failure_threshold(10));
    let never = |_: &TestError| false;
    let calls = Calls::default();
    let result = retry_when(&policy, never, || {
        b.call_when(
            never,
            timeout(ms(5), async {
                calls.next();
                sleep(ms(100)).await;
                Ok::<_, TestError>(())
            }),
        )
    })
    .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::TimedOut)
    );
    assert_eq!(
        calls.count(),
        3,
        "a timeout is retried though `when` refuses every error"
    );
    assert_eq!(
        b.metrics().failures,
        3,
        "and is a breaker failure though its `when` refuses every error"
    );

    let result = retry_when(&policy, never, || {
        b.call_when(never, async { Err::<(), _>(TestError::Failed(1)) })
    })
    .await;
    assert_eq!(result, Err(TestError::Failed(1)));
    assert_eq!(
        (calls.count(), b.metrics().failures),
        (3, 3),
        "own errors obey the predicates"
    );
}

/// Calls the open breaker `open` and ignores its rejection, then fails twice before succeeding.
async fn ignores_a_rejection(open: &CircuitBreaker, calls: &Calls) -> Result<u32, TestError> {
    let n = calls.next();
    let _ignored: Result<(), TestError> = open.call(async { Ok(()) }).await;
    if n < 3 {
        Err(TestError::Failed(n))
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejection_handled_by_user_code_does_not_leak_into_the_next_layer() {
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let open = breaker(BreakerConfig::new());
    open.force_open();
    // The body saw a rejection and returned its own error: the retry judges that error, straight
    // or through a timeout or an atomic scope of the runtime API.
    let calls = Calls::default();
    let result = retry(&policy, || ignores_a_rejection(&open, &calls)).await;
    assert_eq!(result, Ok(3));
    let calls = Calls::default();
    let result = retry(&policy, || {
        timeout(ms(50), ignores_a_rejection(&open, &calls))
    })
    .await;
    assert_eq!(result, Ok(3), "through a timeout");
    let calls = Calls::default();
    let result = retry(&policy, || {
        resilient::atomic::scope(ignores_a_rejection(&open, &calls))
    })
    .await;
    assert_eq!(result, Ok(3), "through an atomic scope");
}

#[tokio::test(start_paused = true)]
async fn timeout_fires_at_its_limit_and_not_before() {
    let slow = |d| async move {
        sleep(d).await;
        Ok::<_, TestError>(())
    };
    let start = Instant::now();
    let err = timeout(ms(99), slow(ms(100))).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    assert_eq!(start.elapsed(), ms(99));
    let TestError::Rejected(r) = err else {
        unreachable!()
    };
    assert_eq!(
        r.to_string(),
        "the call timed out after 99ms and was cancelled; it may be retried at once"
    );
    assert_eq!(timeout(ms(101), slow(ms(100))).await, Ok(()));
    assert_eq!(start.elapsed(), ms(199));
}

#[test]
fn a_ready_future_needs_no_timer() {
    // Outside any runtime: a timer would panic, so none was made.
    let fut = std::pin::pin!(timeout(ms(1), async { Ok::<_, TestError>(7) }));
    assert_eq!(
        fut.poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(7))
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_outside_the_retry_sees_one_call() {
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)));
    let b = breaker(BreakerConfig::new().failure_threshold(2));
    let calls = Calls::default();
    let once = || {
        b.call(retry(&policy, || async {
            Err::<(), _>(TestError::Failed(calls.next()))
        }))
    };
    assert_eq!(once().await, Err(TestError::Failed(3)));
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "three attempts are one failure for the breaker"
    );
    assert_eq!(once().await, Err(TestError::Failed(6)));
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_retry_exhausted_on_timeouts_is_a_failure_for_a_breaker_around_it() {
    let policy = RetryPolicy::new().max_attempts(2).backoff(Backoff::none());
    let b = breaker(BreakerConfig::new().failure_threshold(1));
    let result = b
        .call_when(
            |_: &TestError| false,
            retry(&policy, || {
                timeout(ms(5), async {
                    sleep(ms(100)).await;
                    Ok::<_, TestError>(())
                })
            }),
        )
        .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::TimedOut)
    );
    assert_eq!(b.state(), BreakerState::Open);
}

static FORCED_OPEN: CircuitBreaker = CircuitBreaker::new("forced", BreakerConfig::new());
static ATTEMPTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Captures nothing, so the breaker call it awaits may sit at the very address of the block.
async fn handles_a_rejection_then_fails() -> Result<u32, TestError> {
    let n = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let _ignored: Result<(), TestError> = FORCED_OPEN.call(async { Ok(()) }).await;
    if n < 3 {
        Err(TestError::Failed(n))
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn a_handled_rejection_is_not_taken_for_the_layers_even_at_the_same_address() {
    FORCED_OPEN.force_open();
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let result = retry(&policy, || async {
        let _ignored: Result<(), TestError> = FORCED_OPEN.call(async { Ok(()) }).await;
        handles_a_rejection_then_fails().await
    })
    .await;
    assert_eq!(result, Ok(3), "the body's own errors were retried");
    let b = breaker(BreakerConfig::new().failure_threshold(1));
    let when_never = |_: &TestError| false;
    let result = b
        .call_when(when_never, handles_a_rejection_then_fails())
        .await;
    assert_eq!(result, Ok(4));
}

/// Swallows a rejection and fails on its own; holds nothing else across the await.
async fn swallow_then_fail() -> Result<u32, TestError> {
    let _ignored: Result<(), TestError> = FORCED_OPEN.call(async { Ok(()) }).await;
    Err(TestError::Failed(7))
}

#[tokio::test(start_paused = true)]
async fn only_the_wrapped_layer_itself_is_recognised_not_one_nested_at_offset_zero() {
    FORCED_OPEN.force_open();
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let b = breaker(BreakerConfig::new().failure_threshold(10));
    let calls = std::sync::atomic::AtomicU32::new(0);
    let result = retry(&policy, || {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        b.call(async { swallow_then_fail().await })
    })
    .await;
    assert_eq!(result, Err(TestError::Failed(7)));
    assert_eq!(calls.into_inner(), 3, "the function's own error is retried");
    // A rejection that user code passes on is the user's error too: `when` judges it.
    let when_never = |_: &TestError| false;
    let result = b
        .call_when(when_never, async {
            FORCED_OPEN.call(async { Ok::<u32, TestError>(1) }).await
        })
        .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(b.metrics().failures, 3, "judged by `when`: not a failure");
}

/// A user's own future that polls a layer and relabels its error: it sits at the layer's address
/// and has the layer's size, yet it is not the layer.
#[pin_project::pin_project]
struct Relabel<F> {
    #[pin]
    inner: F,
}

impl<F: Future<Output = Result<u32, TestError>>> Future for Relabel<F> {
    type Output = Result<u32, TestError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .inner
            .poll(cx)
            .map_err(|_| TestError::Failed(99))
    }
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_that_relabels_a_timeout_is_judged_by_when() {
    let slow = || Relabel {
        inner: timeout(ms(10), async {
            sleep(ms(1000)).await;
            Ok::<u32, TestError>(1)
        }),
    };
    assert_eq!(
        size_of_val(&slow()),
        size_of_val(&timeout(ms(10), async {
            sleep(ms(1000)).await;
            Ok::<u32, TestError>(1)
        })),
        "the wrapper is the layer's size: only its type tells them apart"
    );
    let not_relabelled = |e: &TestError| *e != TestError::Failed(99);

    let b = breaker(BreakerConfig::new().failure_threshold(1));
    let result = b.call_when(not_relabelled, slow()).await;
    assert_eq!(result, Err(TestError::Failed(99)));
    assert_eq!(
        b.metrics().failures,
        0,
        "the user's error, and `when` says no"
    );
    assert_eq!(b.metrics().timeouts, 0);
    assert_eq!(b.state(), BreakerState::Closed);

    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let calls = Calls::default();
    let start = Instant::now();
    let result = retry_when(&policy, not_relabelled, || {
        calls.next();
        slow()
    })
    .await;
    assert_eq!(result, Err(TestError::Failed(99)));
    assert_eq!(calls.count(), 1, "not retried as a timeout");
    assert_eq!(start.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn a_layer_returned_straight_from_the_closure_is_still_recognised() {
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let never = |_: &TestError| false;
    let calls = Calls::default();
    let result = retry_when(&policy, never, || {
        calls.next();
        timeout(ms(10), async {
            sleep(ms(1000)).await;
            Ok::<u32, TestError>(1)
        })
    })
    .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::TimedOut)
    );
    assert_eq!(
        calls.count(),
        3,
        "a timeout is retried whatever `when` says"
    );
}

static HANDLED_INSIDE: CircuitBreaker = CircuitBreaker::new("handled-inside", BreakerConfig::new());

#[test]
fn a_rejection_handled_in_a_blocking_closure_is_the_closures_own_error() {
    HANDLED_INSIDE.force_open();
    let handled = || match HANDLED_INSIDE.call_sync(|| Ok::<u32, TestError>(1)) {
        Err(TestError::Rejected(_)) => Err(TestError::Failed(5)),
        other => other,
    };
    let not_handled = |e: &TestError| *e != TestError::Failed(5);

    let outer = breaker(BreakerConfig::new().failure_threshold(1));
    assert_eq!(
        outer.call_sync_when(not_handled, handled),
        Err(TestError::Failed(5))
    );
    assert_eq!(
        outer.metrics().failures,
        0,
        "judged by `when`, not as a rejection"
    );
    assert_eq!(outer.state(), BreakerState::Closed);
}

#[test]
fn a_rejection_handled_in_a_blocking_scope_is_the_scopes_own_error() {
    HANDLED_INSIDE.force_open();
    let handled = || match HANDLED_INSIDE.call_sync(|| Ok::<u32, TestError>(1)) {
        Err(TestError::Rejected(_)) => Err(TestError::Failed(5)),
        other => other,
    };
    let not_handled = |e: &TestError| *e != TestError::Failed(5);
    let outer = breaker(BreakerConfig::new().failure_threshold(1));
    let in_scope = || resilient::atomic::scope_blocking(handled);
    assert_eq!(
        outer.call_sync_when(not_handled, in_scope),
        Err(TestError::Failed(5))
    );
    assert_eq!(
        outer.metrics().failures,
        0,
        "judged by `when`, not as a rejection"
    );
    assert_eq!(outer.state(), BreakerState::Closed);
}
