//! An annotated async function's future is no larger than the same layers composed by hand with
//! the runtime API around the same body: the attributes add no state of their own.

mod common;

use common::ApiError;
use resilient::{
    BreakerConfig, CircuitBreaker, RetryPolicy, TimeoutPolicy, circuit_breaker, fallback, retry,
    timeout,
};
use std::future::Future;
use std::time::Duration;

/// A body whose own state is large (`BODY` bytes live across an await), so that a layer that
/// copied or wrapped it twice would show.
const BODY: usize = 512;

async fn upstream(id: u64) -> Result<u64, ApiError> {
    let buffer = [id as u8; BODY];
    tokio::task::yield_now().await;
    Ok(u64::from(buffer[BODY - 1]))
}

#[retry(max_attempts = 4, when = ApiError::is_transient)]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "30s")]
#[timeout("5s")]
async fn annotated(id: u64) -> Result<u64, ApiError> {
    upstream(id).await
}

async fn by_hand(id: u64) -> Result<u64, ApiError> {
    static RETRY: RetryPolicy = RetryPolicy::new().name("by_hand").max_attempts(4);
    static BREAKER: CircuitBreaker = BreakerConfig::new()
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(30))
        .build("by_hand");
    static TIMEOUT: TimeoutPolicy = TimeoutPolicy::new("by_hand", Duration::from_secs(5));
    resilient::retry_when(&RETRY, ApiError::is_transient, || {
        BREAKER.call(TIMEOUT.call(async { upstream(id).await }))
    })
    .await
}

#[fallback(|_| async { Ok(0) })]
#[retry(max_attempts = 4, when = ApiError::is_transient)]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "30s")]
#[timeout("5s")]
async fn annotated_with_fallback(id: u64) -> Result<u64, ApiError> {
    upstream(id).await
}

async fn by_hand_with_fallback(id: u64) -> Result<u64, ApiError> {
    match by_hand(id).await {
        Ok(value) => Ok(value),
        Err(_) => async { Ok(0) }.await,
    }
}

fn size<F: Future>(future: F) -> usize {
    std::mem::size_of_val(&future)
}

#[test]
fn the_readme_stack_is_no_larger_than_by_hand() {
    let (annotated, by_hand) = (size(annotated(1)), size(by_hand(1)));
    assert!(
        annotated <= by_hand,
        "annotated {annotated} B, by hand {by_hand} B"
    );
    assert!(annotated > BODY, "the body's state is in it: {annotated} B");
    println!("README stack: annotated {annotated} B, by hand {by_hand} B");
}

#[test]
fn the_full_stack_is_no_larger_than_by_hand() {
    let (annotated, by_hand) = (
        size(annotated_with_fallback(1)),
        size(by_hand_with_fallback(1)),
    );
    assert!(
        annotated <= by_hand,
        "annotated {annotated} B, by hand {by_hand} B"
    );
    println!("full stack: annotated {annotated} B, by hand {by_hand} B");
}
