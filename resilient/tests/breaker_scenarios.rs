//! The circuit breaker's state machine on virtual time, with exact invocation counts.
//!
//! Adapted from Resilience4j's `CircuitBreakerStateMachineTest`, the MicroProfile Fault Tolerance
//! TCK's `CircuitBreakerTest` and Polly's circuit-breaker specs.

mod common;

use common::{Calls, TestError, ms};
use resilient::{Backoff, BreakerConfig, BreakerState, CircuitBreaker, RejectedKind};
use std::future::{Future, pending};
use std::pin::pin;
use std::task::{Context, Waker};
use tokio::time::{Instant, advance};

fn breaker(config: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::try_new("test", config).expect("valid config")
}

async fn fail(b: &CircuitBreaker, calls: &Calls) -> Result<(), TestError> {
    b.call(async { Err(TestError::Failed(calls.next())) }).await
}

async fn succeed(b: &CircuitBreaker, calls: &Calls) -> Result<u32, TestError> {
    b.call(async { Ok(calls.next()) }).await
}

#[tokio::test(start_paused = true)]
async fn opens_after_threshold_consecutive_failures_and_rejects_without_running() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(3)
            .recovery_timeout(ms(1000)),
    );
    let calls = Calls::default();
    for n in 1..=3 {
        assert_eq!(fail(&b, &calls).await, Err(TestError::Failed(n)));
    }
    assert_eq!(b.state(), BreakerState::Open);
    let rejected = succeed(&b, &calls).await.unwrap_err();
    assert_eq!(rejected.rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(calls.count(), 3, "a rejected call never runs its body");
    let TestError::Rejected(r) = rejected else {
        unreachable!()
    };
    assert_eq!(r.retry_after(), Some(ms(1000)));
    assert_eq!(r.policy(), "test");
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_failure_count() {
    let b = breaker(BreakerConfig::new().failure_threshold(3));
    let calls = Calls::default();
    for _ in 0..5 {
        fail(&b, &calls).await.unwrap_err();
        fail(&b, &calls).await.unwrap_err();
        succeed(&b, &calls).await.unwrap();
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(calls.count(), 15);
    fail(&b, &calls).await.unwrap_err();
    fail(&b, &calls).await.unwrap_err();
    fail(&b, &calls).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn retry_after_counts_down_and_the_trial_starts_exactly_at_the_recovery_timeout() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(100)),
    );
    b.try_acquire().unwrap().failure();
    advance(ms(60)).await;
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(ms(40)));
    advance(ms(39)).await;
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(ms(1)));
    assert_eq!(b.state(), BreakerState::Open);
    advance(ms(1)).await;
    let trial = b.try_acquire().expect("a trial at exactly 100 ms");
    assert!(trial.is_trial());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    trial.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_half_open_calls_trials_and_rejects_the_rest() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(10))
            .half_open_calls(2)
            .success_threshold(2),
    );
    b.try_acquire().unwrap().failure();
    advance(ms(10)).await;
    let first = b.try_acquire().expect("first trial");
    let second = b.try_acquire().expect("second trial");
    assert!(first.is_trial() && second.is_trial());
    for _ in 0..5 {
        let r = b.try_acquire().expect_err("both trial slots are taken");
        assert_eq!(r.kind(), RejectedKind::CircuitOpen);
        assert_eq!(r.retry_after(), Some(ms(10)));
    }
    first.success();
    assert_eq!(b.state(), BreakerState::HalfOpen, "one of two successes");
    let third = b
        .try_acquire()
        .expect("the finished trial's slot is free again");
    second.success();
    assert_eq!(b.state(), BreakerState::Closed);
    third.failure(); // late: it was issued while half-open
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().late_outcomes, 1);
    assert_eq!(b.metrics().rejections, 5);
}

#[tokio::test(start_paused = true)]
async fn success_threshold_trials_close_it_one_after_another() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(10))
            .success_threshold(3),
    );
    let calls = Calls::default();
    fail(&b, &calls).await.unwrap_err();
    advance(ms(10)).await;
    for n in 2..=3 {
        assert_eq!(succeed(&b, &calls).await, Ok(n));
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }
    assert_eq!(succeed(&b, &calls).await, Ok(4));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_for_a_full_recovery_timeout() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(2)
            .recovery_timeout(ms(50))
            .success_threshold(2),
    );
    let calls = Calls::default();
    fail(&b, &calls).await.unwrap_err();
    fail(&b, &calls).await.unwrap_err();
    advance(ms(50)).await;
    succeed(&b, &calls).await.unwrap();
    fail(&b, &calls).await.unwrap_err();
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "any failed trial reopens, successes so far or not"
    );
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(ms(50)));
    advance(ms(49)).await;
    assert!(b.try_acquire().is_err());
    advance(ms(1)).await;
    assert!(b.try_acquire().unwrap().is_trial());
    assert_eq!(calls.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_late_outcome_never_moves_the_state() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(2)
            .recovery_timeout(ms(10)),
    );
    let slow_success = b.try_acquire().unwrap();
    let slow_failure = b.try_acquire().unwrap();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure();
    assert_eq!(b.state(), BreakerState::Open);
    slow_success.success(); // would have reset the count while closed
    slow_failure.failure();
    assert_eq!(b.state(), BreakerState::Open);
    advance(ms(10)).await;
    let trial = b.try_acquire().unwrap();
    let closed_permit_from_before = (b.metrics().late_outcomes, b.metrics().successes);
    assert_eq!(closed_permit_from_before, (2, 1));
    trial.success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_late_trial_outcome_after_a_reset_is_ignored() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(10)),
    );
    b.try_acquire().unwrap().failure();
    advance(ms(10)).await;
    let trial = b.try_acquire().unwrap();
    b.reset();
    trial.failure();
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().late_outcomes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_releases_its_slot_and_counts_as_neither() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(10)),
    );
    b.try_acquire().unwrap().failure();
    advance(ms(10)).await;
    {
        let mut call = pin!(b.call(pending::<Result<(), TestError>>()));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            b.try_acquire().is_err(),
            "the pending call holds the only trial slot"
        );
    } // dropped: cancelled
    let metrics = b.metrics();
    assert_eq!(
        (metrics.released, metrics.failures, metrics.successes),
        (1, 1, 0)
    );
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.try_acquire().expect("slot released").success();
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_a_failure_and_keeps_unwinding() {
    let b: &'static CircuitBreaker = Box::leak(Box::new(breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(10)),
    )));
    let joined = tokio::spawn(b.call(async { panic!("boom") as Result<(), TestError> })).await;
    assert!(joined.unwrap_err().is_panic(), "the panic goes on");
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.metrics().failures, 1);

    advance(ms(10)).await;
    let sync =
        std::panic::catch_unwind(|| b.call_sync(|| -> Result<(), TestError> { panic!("boom") }));
    assert!(sync.is_err());
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "a panicking trial reopens the breaker"
    );
}

#[tokio::test(start_paused = true)]
async fn recovery_backoff_lengthens_each_reopening_until_it_closes() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(100))
            .recovery_backoff(Backoff::exponential(ms(100), ms(350)).jitter(0.0)),
    );
    b.try_acquire().unwrap().failure();
    for expected_wait in [100, 200, 350, 350] {
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after(),
            Some(ms(expected_wait))
        );
        advance(ms(expected_wait)).await;
        b.try_acquire().expect("trial").failure();
    }
    advance(ms(350)).await;
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(ms(100)),
        "a close starts over"
    );
    assert_eq!(b.metrics().openings, 6);
}

#[tokio::test(start_paused = true)]
async fn force_open_rejects_whatever_the_time_until_reset() {
    let b = breaker(BreakerConfig::new().recovery_timeout(ms(10)));
    let calls = Calls::default();
    b.force_open();
    assert_eq!(b.state(), BreakerState::ForcedOpen);
    advance(ms(1_000_000)).await;
    let TestError::Rejected(r) = succeed(&b, &calls).await.unwrap_err() else {
        panic!("expected a rejection")
    };
    assert_eq!(
        (r.kind(), r.retry_after()),
        (RejectedKind::CircuitOpen, None)
    );
    assert_eq!(calls.count(), 0);
    b.reset();
    assert_eq!(succeed(&b, &calls).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn disabled_lets_every_call_through_and_judges_none() {
    let b = breaker(BreakerConfig::new().failure_threshold(1));
    let calls = Calls::default();
    b.disable();
    for _ in 0..10 {
        fail(&b, &calls).await.unwrap_err();
    }
    assert_eq!((b.state(), calls.count()), (BreakerState::Disabled, 10));
    b.reset();
    fail(&b, &calls).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn metrics_count_every_outcome_and_the_last_transition() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(2)
            .recovery_timeout(ms(100)),
    );
    let calls = Calls::default();
    assert_eq!(b.metrics().last_transition, None);
    succeed(&b, &calls).await.unwrap();
    fail(&b, &calls).await.unwrap_err();
    advance(ms(5)).await;
    let opened_at = Instant::now();
    fail(&b, &calls).await.unwrap_err();
    succeed(&b, &calls).await.unwrap_err();
    drop(b.try_acquire());
    let m = b.metrics();
    assert_eq!(m.state, BreakerState::Open);
    assert_eq!(
        (
            m.successes,
            m.failures,
            m.rejections,
            m.openings,
            m.released
        ),
        (1, 2, 2, 1, 0)
    );
    assert_eq!(m.last_transition, Some(opened_at));
}

#[tokio::test(start_paused = true)]
async fn errors_the_predicate_rejects_count_as_successes() {
    let b = breaker(BreakerConfig::new().failure_threshold(2));
    let only_server_errors = |e: &TestError| matches!(e, TestError::Failed(n) if *n >= 500);
    for _ in 0..10 {
        let r = b
            .call_when(only_server_errors, async {
                Err::<(), _>(TestError::Failed(404))
            })
            .await;
        assert_eq!(r, Err(TestError::Failed(404)));
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().successes, 10);
    for _ in 0..2 {
        b.call_when(only_server_errors, async {
            Err::<(), _>(TestError::Failed(503))
        })
        .await
        .unwrap_err();
    }
    assert_eq!(b.state(), BreakerState::Open);
}

// MicroProfile FT TCK `CircuitBreakerTest.testCircuitClosedThenOpen`: requestVolumeThreshold 4,
// failureRatio 0.75 — the fourth call completes the window with 3 failures out of 4 and opens it.
#[tokio::test(start_paused = true)]
async fn rate_mode_opens_when_the_window_reaches_the_rate() {
    let b = breaker(
        BreakerConfig::new()
            .failure_rate(0.75)
            .window(4)
            .minimum_calls(4)
            .recovery_timeout(ms(50)),
    );
    let calls = Calls::default();
    succeed(&b, &calls).await.unwrap();
    fail(&b, &calls).await.unwrap_err();
    fail(&b, &calls).await.unwrap_err();
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "3 calls are below minimum_calls"
    );
    fail(&b, &calls).await.unwrap_err();
    assert_eq!(b.state(), BreakerState::Open, "3 failures of 4 = 0.75");
    assert_eq!(
        succeed(&b, &calls).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn rate_mode_judges_only_the_last_n_calls() {
    let b = breaker(
        BreakerConfig::new()
            .failure_rate(0.5)
            .window(4)
            .minimum_calls(4),
    );
    let calls = Calls::default();
    // Never two failures among the last four calls, though 3 of these 10 fail.
    for failure in [
        true, false, false, false, false, true, false, false, false, true,
    ] {
        if failure {
            fail(&b, &calls).await.unwrap_err();
        } else {
            succeed(&b, &calls).await.unwrap();
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
    fail(&b, &calls).await.unwrap_err(); // the last four: S S F F
    assert_eq!(b.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn rate_mode_time_window_forgets_failures_older_than_the_period() {
    let b = breaker(
        BreakerConfig::new()
            .failure_rate(0.5)
            .time_window(ms(1000))
            .minimum_calls(2),
    );
    let calls = Calls::default();
    fail(&b, &calls).await.unwrap_err();
    advance(ms(1100)).await;
    fail(&b, &calls).await.unwrap_err();
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "the first failure left the window"
    );
    succeed(&b, &calls).await.unwrap();
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "1 failure of the 2 calls in the window = 0.5"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_a_rate_mode_breaker() {
    let b = breaker(
        BreakerConfig::new()
            .failure_rate(1.0)
            .window(3)
            .minimum_calls(3)
            .slow_call(ms(100))
            .slow_call_rate(0.6),
    );
    for delay in [150, 10, 100] {
        b.call(async {
            tokio::time::sleep(ms(delay)).await;
            Ok::<_, TestError>(())
        })
        .await
        .unwrap();
    }
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "2 of 3 calls took 100 ms or more"
    );
    assert_eq!(b.metrics().slow_calls, 2);
    assert_eq!(b.metrics().successes, 3);
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_is_a_failure_in_consecutive_mode() {
    let b = breaker(BreakerConfig::new().failure_threshold(2).slow_call(ms(100)));
    let slow = || async {
        tokio::time::sleep(ms(100)).await;
        Ok::<_, TestError>(())
    };
    b.call(slow()).await.unwrap();
    b.call(async { Ok::<_, TestError>(()) }).await.unwrap();
    b.call(slow()).await.unwrap();
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "a fast success in between resets the count"
    );
    b.call(slow()).await.unwrap();
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn invalid_configurations_are_errors_naming_key_and_value() {
    let err = CircuitBreaker::try_new("orders", BreakerConfig::new().failure_rate(0.5).window(5))
        .unwrap_err();
    assert_eq!(err.key(), "minimum_calls");
    assert_eq!(
        err.to_string(),
        "policy `orders`: `minimum_calls` must not exceed the `window` size (got 10)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_longest_recovery_timeout_is_still_a_wait_not_a_forced_opening() {
    let b = breaker(
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(std::time::Duration::MAX),
    );
    b.try_acquire().unwrap().failure();
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
    assert!(rejected.retry_after().is_some(), "{rejected}");
    assert!(!rejected.to_string().contains("forced open"), "{rejected}");
}

/// A permit issued before `slow_call` was set has no start time: it is not judged slow.
#[tokio::test(start_paused = true)]
async fn a_call_admitted_before_slow_calls_were_judged_is_not_slow() {
    // Rate mode: every outcome is judged, none takes the closed breaker's shortcut.
    static B: CircuitBreaker = CircuitBreaker::new(
        "scenarios.slow_later",
        BreakerConfig::new().failure_rate(0.5).window(10),
    );
    resilient::registry::register(&B);
    let before = B.try_acquire().unwrap();
    resilient::registry::set("scenarios.slow_later", "slow_call", "1s").unwrap();
    let after = B.try_acquire().unwrap();
    advance(ms(2_000)).await;
    before.success();
    assert_eq!(B.metrics().slow_calls, 0);
    after.success();
    assert_eq!(B.metrics().slow_calls, 1, "a call admitted after is judged");
}
