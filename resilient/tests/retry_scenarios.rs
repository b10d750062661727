//! Retry on virtual time: exact attempts, delays, budget and the error returned.
//!
//! Adapted from Polly's retry specs and the MicroProfile Fault Tolerance TCK's retry tests.

mod common;

use common::{Calls, TestError, ms};
use resilient::{Backoff, RetryPolicy, retry, retry_when};
use std::sync::Mutex;
use tokio::time::Instant;

/// Runs a retry over a dependency that fails `failures` times, recording when each attempt began
/// (virtual milliseconds since the start).
async fn attempts_of(policy: &RetryPolicy, failures: u32) -> (Result<u32, TestError>, Vec<u64>) {
    let start = Instant::now();
    let calls = Calls::default();
    let times = Mutex::new(Vec::new());
    let result = retry(policy, || async {
        times
            .lock()
            .unwrap()
            .push(start.elapsed().as_millis() as u64);
        let n = calls.next();
        if n <= failures {
            Err(TestError::Failed(n))
        } else {
            Ok(n)
        }
    })
    .await;
    (result, times.into_inner().unwrap())
}

#[tokio::test(start_paused = true)]
async fn retries_until_success_after_each_constant_delay() {
    let policy = RetryPolicy::new()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(100)));
    assert_eq!(attempts_of(&policy, 2).await, (Ok(3), vec![0, 100, 200]));
}

#[tokio::test(start_paused = true)]
async fn exponential_delays_double_on_virtual_time() {
    let policy = RetryPolicy::new()
        .max_attempts(5)
        .backoff(Backoff::exponential(ms(100), ms(300)).jitter(0.0));
    assert_eq!(
        attempts_of(&policy, 4).await,
        (Ok(5), vec![0, 100, 300, 600, 900])
    );
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_their_range() {
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::exponential(ms(1000), ms(60_000)));
    let (result, times) = attempts_of(&policy, 2).await;
    assert_eq!(result, Ok(3));
    assert!((750..=1250).contains(&times[1]), "first wait {}", times[1]);
    assert!(
        (1500..=2500).contains(&(times[2] - times[1])),
        "second wait {}",
        times[2] - times[1]
    );
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error_unchanged() {
    let policy = RetryPolicy::new()
        .max_attempts(4)
        .backoff(Backoff::constant(ms(10)));
    assert_eq!(
        attempts_of(&policy, 100).await,
        (Err(TestError::Failed(4)), vec![0, 10, 20, 30])
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_policy_makes_three_attempts_one_and_two_seconds_apart() {
    let (result, times) = attempts_of(&RetryPolicy::new(), 100).await;
    assert_eq!(result, Err(TestError::Failed(3)));
    assert_eq!(times.len(), 3);
    assert!(
        (750..=1250).contains(&times[1]) && (1500..=2500).contains(&(times[2] - times[1])),
        "{times:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_retry() {
    let policy = RetryPolicy::new().max_attempts(1);
    assert_eq!(
        attempts_of(&policy, 100).await,
        (Err(TestError::Failed(1)), vec![0])
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_the_predicate_refuses_is_returned_at_once() {
    let policy = RetryPolicy::new()
        .max_attempts(5)
        .backoff(Backoff::constant(ms(10)));
    let calls = Calls::default();
    let start = Instant::now();
    let transient = |e: &TestError| matches!(e, TestError::Failed(n) if *n < 3);
    let result = retry_when(&policy, transient, || async {
        Err::<(), _>(TestError::Failed(calls.next()))
    })
    .await;
    assert_eq!(
        result,
        Err(TestError::Failed(3)),
        "the third error is not transient"
    );
    assert_eq!(calls.count(), 3);
    assert_eq!(start.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn the_budget_returns_the_last_error_without_sleeping_past_it() {
    let policy = RetryPolicy::new()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(100)))
        .budget(ms(250));
    let start = Instant::now();
    let (result, times) = attempts_of(&policy, 100).await;
    assert_eq!(result, Err(TestError::Failed(3)));
    assert_eq!(
        times,
        [0, 100, 200],
        "a fourth attempt would start at 300 ms, after the budget"
    );
    assert_eq!(start.elapsed(), ms(200), "no sleep before giving up");
}

#[tokio::test(start_paused = true)]
async fn the_budget_counts_the_time_attempts_take() {
    let policy = RetryPolicy::new()
        .max_attempts(10)
        .backoff(Backoff::constant(ms(10)))
        .budget(ms(100));
    let calls = Calls::default();
    let start = Instant::now();
    let result = retry(&policy, || async {
        tokio::time::sleep(ms(40)).await;
        Err::<(), _>(TestError::Failed(calls.next()))
    })
    .await;
    // Attempts end at 40 and 90 ms; the third would start at 100 ms: allowed; it ends at 140.
    assert_eq!(result, Err(TestError::Failed(3)));
    assert_eq!(start.elapsed(), ms(140));
}

#[tokio::test(start_paused = true)]
async fn backoff_none_retries_at_once() {
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    assert_eq!(attempts_of(&policy, 2).await, (Ok(3), vec![0, 0, 0]));
}

#[test]
fn backoff_none_needs_no_runtime() {
    let policy = RetryPolicy::new().max_attempts(3).backoff(Backoff::none());
    let calls = Calls::default();
    let fut = std::pin::pin!(retry(&policy, || async {
        if calls.next() < 3 { Err(()) } else { Ok(()) }
    }));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(fut.poll(&mut cx), std::task::Poll::Ready(Ok(())));
    assert_eq!(calls.count(), 3);
}

#[test]
fn a_copy_has_the_same_settings() {
    let policy = RetryPolicy::new()
        .name("copied")
        .max_attempts(5)
        .backoff(Backoff::linear(ms(20), ms(100)))
        .budget(ms(500))
        .retry_ratio(0.25);
    let copy = policy.clone();
    assert_eq!(copy, policy);
    assert_ne!(copy, policy.clone().max_attempts(4));
    assert_eq!(
        format!("{copy:?}"),
        "RetryPolicy { name: \"copied\", max_attempts: 5, backoff: Backoff { kind: Linear, base: 20ms, max: 100ms, factor: 1.0, jitter: 0.0 }, budget: Some(500ms), retry_ratio: Some(0.25) }"
    );
}

/// Runs `calls` calls that always fail, one after the other: how many attempts were made in all.
async fn failing_calls(policy: &RetryPolicy, calls: u32) -> u32 {
    let attempts = Calls::default();
    for _ in 0..calls {
        let failed = retry(policy, || async {
            Err::<(), _>(TestError::Failed(attempts.next()))
        });
        assert!(failed.await.is_err());
    }
    attempts.count()
}

/// A dependency that always fails, called 100 times with 3 attempts each: the retry ratio of 0.1
/// allows the floor of 10 retries, then one retry per ten calls (19 in all, where 200 would have
/// been made); after a quiet window the floor is there again.
#[tokio::test(start_paused = true)]
async fn the_retry_ratio_allows_the_floor_then_a_fraction_of_the_calls() {
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(1)).jitter(0.0))
        .retry_ratio(0.1);
    assert_eq!(failing_calls(&policy, 100).await, 100 + 19);
    let m = policy.metrics();
    assert_eq!((m.retries, m.failures, m.exhausted), (19, 100, 100));
    tokio::time::advance(std::time::Duration::from_secs(11)).await;
    // A fresh window: the floor again, two retries for each of the first five calls.
    assert_eq!(failing_calls(&policy, 5).await, 5 + 10);

    let unlimited = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(1)).jitter(0.0));
    assert_eq!(failing_calls(&unlimited, 100).await, 300);
}

/// Calls that succeeded count too: after 100 successes, a ratio of 0.1 allows the floor and ten
/// more retries, then one per ten calls.
#[tokio::test(start_paused = true)]
async fn successful_calls_earn_retries() {
    let policy = RetryPolicy::new()
        .max_attempts(2)
        .backoff(Backoff::constant(ms(1)).jitter(0.0))
        .retry_ratio(0.1);
    // The first retry judged marks the counts: make one before the successes.
    assert_eq!(failing_calls(&policy, 1).await, 2);
    for _ in 0..100 {
        let ok = retry(&policy, || async { Ok::<_, TestError>(()) });
        assert!(ok.await.is_ok());
    }
    // A retry is allowed while retries + 1 <= 0.1 * calls + 10: with 101 calls ended and one
    // retry made, the next 21 failing calls retry (the 21st at 122 calls, 22 retries), the
    // following eight do not, the 30th (130 calls) does.
    assert_eq!(failing_calls(&policy, 30).await, 30 + 22);
    assert_eq!(policy.metrics().retries, 23);
}
