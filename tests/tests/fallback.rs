//! `#[fallback]`: called with the error once every layer below it has failed, limited by `when`,
//! async for an async function, and its result is the function's own.

mod common;

use common::{ApiError, Calls, ms};
use resilient::{
    BreakerConfig, CircuitBreaker, RejectedKind, circuit_breaker, fallback, retry, timeout,
};
use tokio::time::{Instant, sleep};

async fn describe(err: ApiError) -> Result<String, ApiError> {
    Ok(format!("fallback for: {err}"))
}

#[tokio::test(start_paused = true)]
async fn an_async_fallback_is_called_with_the_error() {
    #[fallback(describe)]
    async fn fetch(status: u16) -> Result<String, ApiError> {
        Err(ApiError::Status(status))
    }
    assert_eq!(
        fetch(503).await.as_deref(),
        Ok("fallback for: upstream answered 503")
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_never_calls_the_fallback() {
    #[fallback(|_err| async move { fallbacks.next(); Ok(0) })]
    async fn fetch(calls: &Calls, fallbacks: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(0)
    }
    let (calls, fallbacks) = (Calls::new(), Calls::new());
    assert_eq!(fetch(&calls, &fallbacks).await, Ok(1));
    assert_eq!(fallbacks.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_async_fallback_closure_may_use_the_functions_arguments() {
    #[fallback(|_err| async move { Ok(format!("cached user {id}")) })]
    async fn user(id: u64) -> Result<String, ApiError> {
        Err(ApiError::Status(503))
    }
    assert_eq!(user(7).await.as_deref(), Ok("cached user 7"));
}

#[test]
fn a_blocking_fallback_closure_may_use_the_functions_arguments() {
    #[fallback(|err| match err {
        ApiError::Status(404) => Ok(default),
        other => Err(other),
    })]
    fn setting(name: &str, default: u32) -> Result<u32, ApiError> {
        let _ = name;
        Err(ApiError::Status(404))
    }
    assert_eq!(setting("retries", 3), Ok(3));
}

#[tokio::test(start_paused = true)]
async fn when_limits_the_fallback_to_some_errors() {
    #[fallback(|_err| async { Ok(0) }, when = |e: &ApiError| *e == ApiError::Status(404))]
    async fn fetch(status: u16) -> Result<u32, ApiError> {
        Err(ApiError::Status(status))
    }
    assert_eq!(fetch(404).await, Ok(0));
    assert_eq!(
        fetch(503).await,
        Err(ApiError::Status(503)),
        "other errors pass unchanged"
    );

    #[fallback(|_err| Ok(0), when = ApiError::is_transient)]
    fn blocking(status: u16) -> Result<u32, ApiError> {
        Err(ApiError::Status(status))
    }
    assert_eq!(blocking(502), Ok(0));
    assert_eq!(blocking(400), Err(ApiError::Status(400)));
}

static OPEN: CircuitBreaker = CircuitBreaker::new("inventory", BreakerConfig::new());

#[tokio::test(start_paused = true)]
async fn the_fallback_gets_the_breakers_rejection_when_the_circuit_is_open() {
    #[fallback(|err| async move {
        match err {
            ApiError::Rejected(r) => Ok(format!("{:?} by {}", r.kind(), r.policy())),
            other => Err(other),
        }
    })]
    #[circuit_breaker(breaker = &OPEN)]
    async fn stock(calls: &Calls) -> Result<String, ApiError> {
        calls.next();
        Ok("from the body".to_owned())
    }
    OPEN.force_open();
    let calls = Calls::new();
    assert_eq!(
        stock(&calls).await.as_deref(),
        Ok("CircuitOpen by inventory")
    );
    assert_eq!(calls.count(), 0, "the body never ran");
}

#[tokio::test(start_paused = true)]
async fn the_fallback_gets_the_timeouts_rejection() {
    #[fallback(|err: ApiError| async move { Ok(err.rejection()) })]
    #[timeout("50ms")]
    async fn slow() -> Result<Option<RejectedKind>, ApiError> {
        sleep(ms(100)).await;
        Ok(None)
    }
    let start = Instant::now();
    assert_eq!(slow().await, Ok(Some(RejectedKind::TimedOut)));
    assert_eq!(start.elapsed(), ms(50));
}

#[tokio::test(start_paused = true)]
async fn the_fallback_runs_once_after_every_retry_with_the_last_error() {
    #[fallback(|err| async move { fallbacks.next(); Err(err) })]
    #[retry(max_attempts = 3, backoff = constant("10ms"))]
    async fn fetch(calls: &Calls, fallbacks: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let (calls, fallbacks) = (Calls::new(), Calls::new());
    assert_eq!(fetch(&calls, &fallbacks).await, Err(ApiError::Failed(3)));
    assert_eq!((calls.count(), fallbacks.times()), (3, vec![20]));
}

static FORCED: CircuitBreaker = CircuitBreaker::new("forced", BreakerConfig::new());

#[tokio::test(start_paused = true)]
async fn what_the_fallback_returns_is_the_functions_own_result_for_a_retry_around_it() {
    // The fallback turns the rejection into the function's own error: the retry judges that
    // error as any other, instead of stopping at once on an open circuit.
    #[retry(max_attempts = 3, backoff = constant("10ms"))]
    #[fallback(|_err| async move { fallbacks.next(); Err(ApiError::Status(503)) })]
    #[circuit_breaker(breaker = &FORCED)]
    async fn fetch(calls: &Calls, fallbacks: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(0)
    }
    FORCED.force_open();
    let (calls, fallbacks) = (Calls::new(), Calls::new());
    assert_eq!(fetch(&calls, &fallbacks).await, Err(ApiError::Status(503)));
    assert_eq!((calls.count(), fallbacks.times()), (0, vec![0, 10, 20]));
}
