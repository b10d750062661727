//! What rejections say: the state that refused, durations rounded, no made-up policy names.

mod common;

use common::{TestError, ms};
use resilient::{BreakerConfig, CircuitBreaker, RejectedKind, timeout, timeout_named};
use std::time::Duration;

/// A breaker `payments` opened by one failure, for 30 s.
fn opened_for_30s() -> CircuitBreaker {
    let b = CircuitBreaker::try_new(
        "payments",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(30)),
    )
    .unwrap();
    b.try_acquire().unwrap().failure();
    b
}

#[tokio::test(start_paused = true)]
async fn a_half_open_breaker_with_every_trial_slot_taken_says_so() {
    let b = opened_for_30s();
    tokio::time::advance(Duration::from_secs(30)).await;
    let _trial = b.try_acquire().unwrap();
    let busy = b.try_acquire().unwrap_err();
    assert_eq!(busy.kind(), RejectedKind::CircuitOpen);
    assert_eq!(
        busy.to_string(),
        "circuit breaker `payments` is half-open and every trial slot is taken: the call was \
         rejected without running; retry after at most 30s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_prints_the_wait_rounded() {
    let b = opened_for_30s();
    tokio::time::advance(ms(800)).await;
    let open = b.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(ms(29_200)));
    assert_eq!(
        open.to_string(),
        "circuit breaker `payments` is open: the call was rejected without running; retry after 29.2s"
    );
    tokio::time::advance(Duration::from_nanos(199_999_999)).await;
    let open = b.try_acquire().unwrap_err();
    assert_eq!(
        open.retry_after(),
        Some(Duration::from_nanos(29_000_000_001))
    );
    assert!(open.to_string().ends_with("retry after 29s"), "{open}");
}

#[tokio::test(start_paused = true)]
async fn an_unnamed_timeout_does_not_call_itself_timeout() {
    let slow = async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<(), TestError>(())
    };
    let Err(TestError::Rejected(r)) = timeout(ms(1500), slow).await else {
        panic!("expected a timeout")
    };
    assert_eq!(
        r.to_string(),
        "the call timed out after 1.5s and was cancelled; it may be retried at once"
    );
    let slow = async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<(), TestError>(())
    };
    let Err(TestError::Rejected(r)) = timeout_named("fetch", ms(1500), slow).await else {
        panic!("expected a timeout")
    };
    assert_eq!(
        r.to_string(),
        "`fetch` timed out after 1.5s and was cancelled; it may be retried at once"
    );
}
