//! `#[timeout]` on virtual time: it fires at its limit exactly, cancels the body, and takes its
//! limit from a literal or from any `Duration` expression.

mod common;

use common::{ApiError, Calls, ms};
use resilient::{RejectedKind, timeout};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::{Instant, sleep};

#[tokio::test(start_paused = true)]
async fn fires_at_the_exact_limit_with_a_timed_out_rejection() {
    #[timeout("100ms")]
    async fn fetch(takes: Duration) -> Result<u32, ApiError> {
        sleep(takes).await;
        Ok(7)
    }
    let start = Instant::now();
    let err = fetch(ms(150)).await.unwrap_err();
    assert_eq!(start.elapsed(), ms(100));
    let rejected = err.rejected();
    assert_eq!(rejected.kind(), RejectedKind::TimedOut);
    assert_eq!(rejected.time_limit(), Some(ms(100)));
    assert_eq!(rejected.retry_after(), None);
    assert_eq!(rejected.policy(), concat!(module_path!(), "::fetch"));

    let start = Instant::now();
    assert_eq!(
        fetch(ms(99)).await,
        Ok(7),
        "one millisecond under the limit"
    );
    assert_eq!(start.elapsed(), ms(99));
    let start = Instant::now();
    fetch(ms(101)).await.unwrap_err();
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn the_body_is_cancelled_at_the_limit() {
    #[timeout("10ms")]
    async fn fetch(started: &Calls, finished: &Calls) -> Result<(), ApiError> {
        started.next();
        sleep(ms(50)).await;
        finished.next();
        Ok(())
    }
    let (started, finished) = (Calls::new(), Calls::new());
    let err = fetch(&started, &finished).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    sleep(ms(100)).await;
    assert_eq!((started.count(), finished.count()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_limit_may_come_from_an_argument() {
    #[timeout(limit)]
    async fn fetch(limit: Duration) -> Result<(), ApiError> {
        sleep(ms(50)).await;
        Ok(())
    }
    let start = Instant::now();
    assert_eq!(
        fetch(ms(20)).await.unwrap_err().rejected().time_limit(),
        Some(ms(20))
    );
    assert_eq!(start.elapsed(), ms(20));
    assert_eq!(fetch(ms(60)).await, Ok(()));
    assert_eq!(start.elapsed(), ms(70));
}

struct Client {
    limit: Duration,
}

impl Client {
    #[timeout(self.limit)]
    async fn fetch(&self, takes: Duration) -> Result<Duration, ApiError> {
        sleep(takes).await;
        Ok(takes)
    }
}

#[tokio::test(start_paused = true)]
async fn a_limit_may_come_from_a_field() {
    let client = Client { limit: ms(30) };
    let start = Instant::now();
    assert_eq!(client.fetch(ms(29)).await, Ok(ms(29)));
    let err = client.fetch(ms(31)).await.unwrap_err();
    assert_eq!(err.rejected().time_limit(), Some(ms(30)));
    assert_eq!(start.elapsed(), ms(59));
}

const LIMIT: Duration = Duration::from_millis(40);

#[tokio::test(start_paused = true)]
async fn a_limit_may_be_a_constant_or_a_call() {
    #[timeout(LIMIT)]
    async fn constant() -> Result<(), ApiError> {
        sleep(ms(100)).await;
        Ok(())
    }
    #[timeout(Duration::from_millis(LIMIT.as_millis() as u64 / 2))]
    async fn call() -> Result<(), ApiError> {
        sleep(ms(100)).await;
        Ok(())
    }
    let start = Instant::now();
    constant().await.unwrap_err();
    assert_eq!(start.elapsed(), ms(40));
    call().await.unwrap_err();
    assert_eq!(start.elapsed(), ms(60));
}

#[tokio::test(start_paused = true)]
async fn name_labels_the_rejection() {
    #[timeout("5ms", name = "search")]
    async fn search() -> Result<(), ApiError> {
        sleep(ms(10)).await;
        Ok(())
    }
    let err = search().await.unwrap_err();
    assert_eq!(err.rejected().policy(), "search");
    assert_eq!(
        err.to_string(),
        "`search` timed out after 5ms and was cancelled; it may be retried at once"
    );
}

#[tokio::test(start_paused = true)]
async fn the_functions_own_error_passes_through_unchanged() {
    #[timeout("1s")]
    async fn fetch() -> Result<(), ApiError> {
        sleep(ms(10)).await;
        Err(ApiError::Status(418))
    }
    assert_eq!(fetch().await, Err(ApiError::Status(418)));
}

#[test]
fn a_body_ready_at_once_needs_no_timer_and_no_runtime() {
    #[timeout("1s")]
    async fn ready() -> Result<u32, ApiError> {
        Ok(3)
    }
    // Outside any runtime: a timer would panic.
    let fut = pin!(ready());
    assert_eq!(
        fut.poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(Ok(3))
    );
}
