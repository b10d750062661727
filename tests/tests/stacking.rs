//! Stacked attributes apply in reading order, the top one outermost, and the layers recognise
//! each other's rejections (DESIGN, "Layers together").

mod common;

use common::{ApiError, Calls, ms};
use resilient::{
    BreakerConfig, BreakerState, CircuitBreaker, RejectedKind, circuit_breaker, fallback, retry,
    timeout,
};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::time::sleep;

/// The first `hangs` invocations outlast any timeout here; later ones return `Ok(n)` at once.
async fn hang_first(calls: &Calls, hangs: u32) -> Result<u32, ApiError> {
    let n = calls.next();
    if n <= hangs {
        sleep(ms(10_000)).await;
    }
    Ok(n)
}

static TIMED: CircuitBreaker =
    CircuitBreaker::new("timed", BreakerConfig::new().failure_threshold(5));

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_a_breaker_failure_and_is_retried() {
    #[retry(max_attempts = 3, backoff = constant("10ms"))]
    #[circuit_breaker(breaker = &TIMED)]
    #[timeout("50ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, 2).await
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(3));
    assert_eq!(
        calls.times(),
        [0, 60, 120],
        "50 ms timeout, 10 ms wait, twice"
    );
    assert_eq!(calls.elapsed(), ms(120));
    let m = TIMED.metrics();
    assert_eq!((m.failures, m.successes), (2, 1));
    assert_eq!(TIMED.state(), BreakerState::Closed);
}

static OPENS: CircuitBreaker = CircuitBreaker::new(
    "opens",
    BreakerConfig::new()
        .failure_threshold(3)
        .recovery_timeout(ms(10_000)),
);

#[tokio::test(start_paused = true)]
async fn a_breaker_rejection_inside_a_retry_ends_the_retry_at_once() {
    #[retry(max_attempts = 7, backoff = constant("100ms"))]
    #[circuit_breaker(breaker = &OPENS)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(err.rejected().retry_after(), Some(ms(9_900)));
    assert_eq!(calls.times(), [0, 100, 200], "attempts 4 to 7 never ran");
    assert_eq!(
        calls.elapsed(),
        ms(300),
        "three waits, then no wait after the rejection"
    );
    assert_eq!(OPENS.state(), BreakerState::Open);
    assert_eq!(OPENS.metrics().rejections, 1);

    // Open from the start: the first attempt is rejected and the retry returns at once.
    let again = Calls::new();
    let err = fetch(&again).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!((again.count(), again.elapsed()), (0, ms(0)));
    assert_eq!(OPENS.metrics().rejections, 2);
}

#[tokio::test(start_paused = true)]
async fn when_predicates_judge_only_the_functions_own_errors() {
    #[retry(max_attempts = 3, backoff = none, when = |_| false)]
    #[circuit_breaker(failure_threshold = 3, recovery_timeout = "1s", when = |_| false)]
    #[timeout("5ms")]
    async fn fetch(calls: &Calls, hang: bool) -> Result<u32, ApiError> {
        let n = calls.next();
        if hang {
            sleep(ms(100)).await;
        }
        Err(ApiError::Failed(n))
    }
    let calls = Calls::new();
    for n in 1..=5 {
        assert_eq!(
            fetch(&calls, false).await,
            Err(ApiError::Failed(n)),
            "own errors: neither retried nor breaker failures"
        );
    }
    let err = fetch(&calls, true).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    assert_eq!(
        calls.count(),
        8,
        "a timeout is retried though `when` refuses everything"
    );
    assert_eq!(calls.elapsed(), ms(15));
    let err = fetch(&calls, false).await.unwrap_err();
    assert_eq!(
        err.rejection(),
        Some(RejectedKind::CircuitOpen),
        "and three timeouts opened the breaker though its `when` refuses everything"
    );
    assert_eq!(calls.count(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_right_under_a_retry_is_retried_whatever_when_says() {
    #[retry(max_attempts = 4, backoff = constant("1ms"), when = |_| false)]
    #[timeout("10ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, 3).await
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(4));
    assert_eq!(calls.times(), [0, 11, 22, 33]);
}

#[tokio::test(start_paused = true)]
async fn after_the_last_attempt_the_retry_returns_the_timeout_unchanged() {
    #[retry(max_attempts = 2, backoff = none)]
    #[timeout("10ms", name = "slow")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, u32::MAX).await
    }
    let calls = Calls::new();
    let err = fetch(&calls).await.unwrap_err();
    let rejected = err.rejected();
    assert_eq!(
        (rejected.kind(), rejected.policy(), rejected.time_limit()),
        (RejectedKind::TimedOut, "slow", Some(ms(10)))
    );
    assert_eq!(calls.count(), 2);
}

static OUTER: CircuitBreaker = CircuitBreaker::new(
    "outer",
    BreakerConfig::new()
        .failure_threshold(2)
        .recovery_timeout(ms(10_000)),
);

#[tokio::test(start_paused = true)]
async fn a_breaker_around_a_retry_counts_the_whole_retried_call_as_one_outcome() {
    #[circuit_breaker(breaker = &OUTER)]
    #[retry(max_attempts = 3, backoff = constant("10ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(3)));
    assert_eq!(
        OUTER.state(),
        BreakerState::Closed,
        "three attempts, one failure"
    );
    assert_eq!(OUTER.metrics().failures, 1);
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(6)));
    assert_eq!(OUTER.state(), BreakerState::Open);
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(calls.count(), 6, "rejected before any attempt");
    assert_eq!(calls.elapsed(), ms(40));
}

#[tokio::test(start_paused = true)]
async fn a_retry_exhausted_on_timeouts_is_a_failure_for_a_breaker_around_it() {
    #[circuit_breaker(failure_threshold = 1, when = |_| false)]
    #[retry(max_attempts = 2, backoff = none)]
    #[timeout("5ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, u32::MAX).await
    }
    let calls = Calls::new();
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_around_a_retry_bounds_every_attempt_and_wait_together() {
    #[timeout("250ms")]
    #[retry(max_attempts = 10, backoff = constant("100ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    assert_eq!(calls.times(), [0, 100, 200]);
    assert_eq!(calls.elapsed(), ms(250));
}

static FULL: CircuitBreaker = CircuitBreaker::new(
    "full",
    BreakerConfig::new()
        .failure_threshold(2)
        .recovery_timeout(ms(1_000)),
);

#[tokio::test(start_paused = true)]
async fn the_recommended_stack_falls_back_once_the_circuit_opens() {
    #[fallback(|err: ApiError| async move { Ok(format!("cached after {:?}", err.rejection())) })]
    #[retry(max_attempts = 5, backoff = constant("10ms"))]
    #[circuit_breaker(breaker = &FULL)]
    #[timeout("50ms")]
    async fn fetch(calls: &Calls) -> Result<String, ApiError> {
        hang_first(calls, u32::MAX).await.map(|n| n.to_string())
    }
    let calls = Calls::new();
    assert_eq!(
        fetch(&calls).await.as_deref(),
        Ok("cached after Some(CircuitOpen)")
    );
    assert_eq!(
        calls.times(),
        [0, 60],
        "two timeouts opened it; the third attempt was rejected"
    );
    assert_eq!(calls.elapsed(), ms(120));
    assert_eq!(FULL.state(), BreakerState::Open);
}

/// Two timeouts open the breaker; the third attempt is rejected and ends the retry: every
/// attribute of the stack took effect, in order.
macro_rules! assert_stack_applies_in_order {
    ($fetch:ident) => {{
        let calls = Calls::new();
        let err = $fetch(&calls).await.unwrap_err();
        assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
        assert_eq!(calls.times(), [0, 60]);
        assert_eq!(calls.elapsed(), ms(120));
    }};
}

#[tokio::test(start_paused = true)]
async fn bare_attributes_stack_in_reading_order() {
    #[retry(max_attempts = 5, backoff = constant("10ms"))]
    #[circuit_breaker(failure_threshold = 2)]
    #[timeout("50ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, u32::MAX).await
    }
    assert_stack_applies_in_order!(fetch);
}

#[tokio::test(start_paused = true)]
async fn crate_qualified_attributes_stack_the_same() {
    #[resilient::retry(max_attempts = 5, backoff = constant("10ms"))]
    #[resilient::circuit_breaker(failure_threshold = 2)]
    #[resilient::timeout("50ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, u32::MAX).await
    }
    assert_stack_applies_in_order!(fetch);
}

#[tokio::test(start_paused = true)]
async fn absolute_paths_stack_the_same() {
    #[::resilient::retry(max_attempts = 5, backoff = constant("10ms"))]
    #[::resilient::circuit_breaker(failure_threshold = 2)]
    #[::resilient::timeout("50ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, u32::MAX).await
    }
    assert_stack_applies_in_order!(fetch);
}

#[tokio::test(start_paused = true)]
async fn mixed_path_forms_stack_the_same() {
    #[resilient::retry(max_attempts = 5, backoff = constant("10ms"))]
    #[circuit_breaker(failure_threshold = 2)]
    #[::resilient::timeout("50ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        hang_first(calls, u32::MAX).await
    }
    assert_stack_applies_in_order!(fetch);
}

#[test]
fn blocking_layers_stack_the_same() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 5, backoff = none)]
    #[circuit_breaker(failure_threshold = 2)]
    fn inner_breaker() -> Result<u32, ApiError> {
        Err(ApiError::Failed(CALLS.fetch_add(1, Ordering::SeqCst) + 1))
    }
    let err = inner_breaker().unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        2,
        "the rejection ended the retry"
    );

    static OUTER_CALLS: AtomicU32 = AtomicU32::new(0);
    #[circuit_breaker(failure_threshold = 2)]
    #[retry(max_attempts = 3, backoff = none)]
    fn outer_breaker() -> Result<u32, ApiError> {
        Err(ApiError::Failed(
            OUTER_CALLS.fetch_add(1, Ordering::SeqCst) + 1,
        ))
    }
    assert_eq!(outer_breaker(), Err(ApiError::Failed(3)));
    assert_eq!(outer_breaker(), Err(ApiError::Failed(6)));
    let err = outer_breaker().unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(OUTER_CALLS.load(Ordering::SeqCst), 6);
}

// A rejection that the body received from another annotated function is the body's own error:
// the layers around the body judge it by their `when`, as any other.

static DOWNSTREAM: CircuitBreaker = CircuitBreaker::new("downstream", BreakerConfig::new());

#[circuit_breaker(breaker = &DOWNSTREAM)]
async fn downstream() -> Result<u32, ApiError> {
    Ok(1)
}

#[circuit_breaker(breaker = &DOWNSTREAM)]
fn downstream_blocking() -> Result<u32, ApiError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_rejection_the_body_returns_from_another_annotated_function_is_its_own_error() {
    DOWNSTREAM.force_open();
    static BREAKER_CALLS: AtomicU32 = AtomicU32::new(0);
    // No arguments: the body's future holds the awaited one at its very start.
    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(failure_threshold = 10)]
    async fn through_breaker() -> Result<u32, ApiError> {
        BREAKER_CALLS.fetch_add(1, Ordering::SeqCst);
        downstream().await
    }
    let err = through_breaker().await.unwrap_err();
    assert_eq!(err.rejected().policy(), "downstream");
    assert_eq!(
        BREAKER_CALLS.load(Ordering::SeqCst),
        3,
        "retried as the body's error"
    );

    static TIMEOUT_CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn through_timeout() -> Result<u32, ApiError> {
        TIMEOUT_CALLS.fetch_add(1, Ordering::SeqCst);
        downstream().await
    }
    through_timeout().await.unwrap_err();
    assert_eq!(TIMEOUT_CALLS.load(Ordering::SeqCst), 3);

    static FALLBACK_CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 3, backoff = none)]
    #[fallback(|_err| async { Ok(0) }, when = |_| false)]
    async fn through_fallback() -> Result<u32, ApiError> {
        FALLBACK_CALLS.fetch_add(1, Ordering::SeqCst);
        downstream().await
    }
    through_fallback().await.unwrap_err();
    assert_eq!(FALLBACK_CALLS.load(Ordering::SeqCst), 3);

    // A body whose result type is left to inference (`impl Trait` in it) is treated the same.
    static OPAQUE_CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(failure_threshold = 10)]
    async fn opaque() -> Result<impl std::fmt::Debug, ApiError> {
        OPAQUE_CALLS.fetch_add(1, Ordering::SeqCst);
        downstream().await
    }
    opaque().await.unwrap_err();
    assert_eq!(OPAQUE_CALLS.load(Ordering::SeqCst), 3);
}

#[test]
fn a_rejection_a_blocking_body_returns_from_another_annotated_function_is_its_own_error() {
    DOWNSTREAM.force_open();
    static BREAKER_CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(failure_threshold = 10)]
    fn through_breaker() -> Result<u32, ApiError> {
        BREAKER_CALLS.fetch_add(1, Ordering::SeqCst);
        downstream_blocking()
    }
    let err = through_breaker().unwrap_err();
    assert_eq!(err.rejected().policy(), "downstream");
    assert_eq!(
        BREAKER_CALLS.load(Ordering::SeqCst),
        3,
        "retried as the body's error"
    );

    static FALLBACK_CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 3, backoff = none)]
    #[fallback(|_err| Ok(0), when = |_| false)]
    fn through_fallback() -> Result<u32, ApiError> {
        FALLBACK_CALLS.fetch_add(1, Ordering::SeqCst);
        downstream_blocking()
    }
    through_fallback().unwrap_err();
    assert_eq!(FALLBACK_CALLS.load(Ordering::SeqCst), 3);
}

#[test]
fn a_rejection_a_blocking_body_ignored_does_not_leak_into_the_layers_around_it() {
    DOWNSTREAM.force_open();
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(failure_threshold = 1, when = |_| false)]
    fn fetch() -> Result<u32, ApiError> {
        let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        let _ignored = downstream_blocking();
        Err(ApiError::Failed(n))
    }
    assert_eq!(
        fetch(),
        Err(ApiError::Failed(3)),
        "retried: the body's own error"
    );
    assert_eq!(
        fetch(),
        Err(ApiError::Failed(6)),
        "and no breaker failure: `when` refuses it"
    );
}
