//! A panic inside an annotated function is a failure for its breaker and keeps unwinding; it is
//! never retried.

mod common;

use common::{ApiError, Calls};
use resilient::{BreakerConfig, BreakerState, CircuitBreaker, circuit_breaker, retry, timeout};
use std::panic::{AssertUnwindSafe, catch_unwind};

static ASYNC: CircuitBreaker =
    CircuitBreaker::new("async", BreakerConfig::new().failure_threshold(2));

#[circuit_breaker(breaker = &ASYNC)]
#[timeout("1s")]
async fn boom() -> Result<(), ApiError> {
    panic!("boom")
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_an_async_function_is_a_breaker_failure_and_keeps_unwinding() {
    for failures in 1..=2 {
        let join = tokio::spawn(boom()).await.unwrap_err();
        assert!(join.is_panic());
        assert_eq!(join.into_panic().downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(ASYNC.metrics().failures, failures);
    }
    assert_eq!(ASYNC.state(), BreakerState::Open);
}

static BLOCKING: CircuitBreaker =
    CircuitBreaker::new("blocking", BreakerConfig::new().failure_threshold(1));

#[test]
fn a_panic_in_a_blocking_function_is_a_breaker_failure_and_keeps_unwinding() {
    #[circuit_breaker(breaker = &BLOCKING)]
    fn boom_blocking() -> Result<(), ApiError> {
        panic!("boom")
    }
    let payload = catch_unwind(boom_blocking).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(BLOCKING.metrics().failures, 1);
    assert_eq!(BLOCKING.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_not_retried() {
    #[retry(max_attempts = 3, backoff = none)]
    fn boom_retried(calls: &Calls) -> Result<(), ApiError> {
        calls.next();
        panic!("boom")
    }
    let calls = Calls::new();
    catch_unwind(AssertUnwindSafe(|| boom_retried(&calls))).unwrap_err();
    assert_eq!(calls.count(), 1);
}
