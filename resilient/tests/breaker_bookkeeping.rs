//! The breaker's bookkeeping around panics and manual transitions: a call caught up in a panic it
//! did not cause is released, not failed; time forced open is time open; manual and automatic
//! transitions keep the outage figures (`time_open`, `recoveries`, `mttr`) right.

mod common;

use common::{TestError, ms};
use resilient::{BreakerConfig, BreakerState, CircuitBreaker};
use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tokio::time::advance;

/// One failure opens it: a failure recorded by mistake shows in the state as well as the counts.
fn fragile() -> CircuitBreaker {
    CircuitBreaker::new(
        "bookkeeping",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(100)),
    )
}

/// Runs `during_unwinding` from a destructor while the thread unwinds from an unrelated panic.
fn while_unwinding_from_an_unrelated_panic(during_unwinding: impl FnOnce()) {
    struct OnDrop<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            assert!(std::thread::panicking());
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _guard = OnDrop(Some(during_unwinding));
        panic!("unrelated to the breaker");
    }));
    assert!(unwound.is_err());
}

fn counts(b: &CircuitBreaker) -> (u64, u64, u64, u64, BreakerState) {
    let m = b.metrics();
    (m.successes, m.failures, m.panics, m.released, m.state)
}

#[test]
fn a_permit_taken_and_dropped_during_an_unrelated_panic_is_released() {
    let b = fragile();
    while_unwinding_from_an_unrelated_panic(|| {
        let permit = b.try_acquire();
        assert!(permit.is_ok());
        drop(permit);
    });
    assert_eq!(counts(&b), (0, 0, 0, 1, BreakerState::Closed));
}

#[test]
fn a_blocking_call_made_during_an_unrelated_panic_counts_its_own_outcome() {
    let b = fragile();
    while_unwinding_from_an_unrelated_panic(|| {
        let ok = b.call_sync(|| Ok::<_, TestError>(7));
        assert_eq!(ok, Ok(7));
    });
    assert_eq!(counts(&b), (1, 0, 0, 0, BreakerState::Closed));
}

#[test]
fn a_call_future_dropped_during_an_unrelated_panic_is_released() {
    let b = fragile();
    let mut call = Box::pin(b.call(pending::<Result<(), TestError>>()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending(), "holds its permit");
    while_unwinding_from_an_unrelated_panic(move || drop(call));
    assert_eq!(counts(&b), (0, 0, 0, 1, BreakerState::Closed));
}

#[test]
fn a_call_future_polled_during_an_unrelated_panic_counts_its_own_outcome() {
    let b = fragile();
    while_unwinding_from_an_unrelated_panic(|| {
        let call = pin!(b.call(async { Ok::<_, TestError>(7) }));
        let polled = call.poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Ok(7))));
    });
    assert_eq!(counts(&b), (1, 0, 0, 0, BreakerState::Closed));
}

#[test]
fn a_panic_in_the_call_itself_is_still_a_failure() {
    let b = fragile();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _permit = b.try_acquire();
        panic!("the call panicked");
    }));
    assert!(unwound.is_err());
    assert_eq!(counts(&b), (0, 1, 1, 0, BreakerState::Open));
}

/// The guard in the call's poll is dropped only by a panic unwinding out of the wrapped future:
/// that records the failure; dropping the future afterwards, once the panic was caught, records
/// nothing more.
#[test]
fn a_panic_in_a_call_future_is_a_failure_once() {
    let b = fragile();
    let mut call = Box::pin(b.call(async {
        if std::hint::black_box(true) {
            panic!("the call panicked");
        }
        Ok::<_, TestError>(())
    }));
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _ = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    }));
    assert!(unwound.is_err());
    assert_eq!(counts(&b), (0, 1, 1, 0, BreakerState::Open));
    drop(call);
    assert_eq!(counts(&b), (0, 1, 1, 0, BreakerState::Open));
}

/// A call pending once keeps its permit in the future; the permit taken back for the second poll
/// records the panic of that poll, once, as a failure.
#[test]
fn a_panic_in_a_later_poll_of_a_call_future_is_a_failure_once() {
    let b = fragile();
    let mut polls = 0;
    let mut call = Box::pin(b.call(std::future::poll_fn(
        move |_| -> Poll<Result<(), TestError>> {
            polls += 1;
            if polls == 1 {
                return Poll::Pending;
            }
            panic!("the call panicked on its second poll");
        },
    )));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(
        counts(&b),
        (0, 0, 0, 0, BreakerState::Closed),
        "still running"
    );
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _ = call.as_mut().poll(&mut cx);
    }));
    assert!(unwound.is_err());
    assert_eq!(counts(&b), (0, 1, 1, 0, BreakerState::Open));
    drop(call);
    assert_eq!(counts(&b), (0, 1, 1, 0, BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn time_forced_open_counts_in_time_open() {
    let b = fragile();
    b.force_open();
    advance(ms(3000)).await;
    assert_eq!(b.metrics().time_open, ms(3000), "the current outage counts");
    advance(ms(7000)).await;
    b.reset();
    advance(ms(500)).await;
    let m = b.metrics();
    assert_eq!(m.time_open, ms(10_000));
    assert_eq!((m.openings, m.recoveries, m.mttr), (0, 0, None));
}

#[tokio::test(start_paused = true)]
async fn forcing_an_open_breaker_open_continues_its_outage() {
    let b = fragile();
    b.try_acquire().unwrap().failure();
    advance(ms(40)).await;
    b.force_open();
    advance(ms(260)).await;
    b.reset();
    let m = b.metrics();
    assert_eq!(m.time_open, ms(300));
    assert_eq!((m.openings, m.recoveries), (1, 0), "a reset is no recovery");
}

#[tokio::test(start_paused = true)]
async fn a_recovery_then_a_forced_opening_count_apart() {
    let b = fragile();
    b.try_acquire().unwrap().failure();
    advance(ms(100)).await;
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), BreakerState::Closed);
    advance(ms(1000)).await;
    b.force_open();
    advance(ms(50)).await;
    b.disable();
    advance(ms(5000)).await;
    let m = b.metrics();
    assert_eq!(m.time_open, ms(150), "disabled is not open");
    assert_eq!(
        (m.recoveries, m.last_recovery, m.mttr),
        (1, Some(ms(100)), Some(ms(100)))
    );
    b.reset();
    assert_eq!(b.metrics().time_open, ms(150));
}

/// Outcomes of a period a reset ended are late: they count as such and change nothing.
#[tokio::test(start_paused = true)]
async fn a_trial_outcome_after_a_reset_is_late() {
    let b = fragile();
    b.try_acquire().unwrap().failure();
    advance(ms(100)).await;
    let trial = b.try_acquire().unwrap();
    assert!(trial.is_trial());
    b.reset();
    trial.success();
    let m = b.metrics();
    assert_eq!((m.state, m.late_outcomes), (BreakerState::Closed, 1));
}

#[tokio::test(start_paused = true)]
async fn a_failing_rate_judged_after_a_reset_is_late() {
    let b = CircuitBreaker::new(
        "bookkeeping.rate",
        BreakerConfig::new()
            .failure_rate(0.5)
            .window(4)
            .minimum_calls(2),
    );
    let (first, second) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
    first.failure();
    b.reset();
    // Its period, two failures in two calls, would open it; the period is over.
    second.failure();
    let m = b.metrics();
    assert_eq!(
        (m.state, m.openings, m.late_outcomes),
        (BreakerState::Closed, 0, 1)
    );
}

/// A false positive is an opening whose first trial succeeded: counted once per such opening,
/// not when the first trial failed and a later one succeeded, nor for a breaker needing two trial
/// successes whose second is the one that closes it.
#[tokio::test(start_paused = true)]
async fn openings_whose_first_trial_succeeded_are_false_positives() {
    let b = fragile();
    let trial_after_opening = |succeeds: bool| {
        let b = &b;
        async move {
            advance(ms(100)).await;
            let trial = b.try_acquire().expect("a trial after the recovery timeout");
            assert!(trial.is_trial());
            if succeeds {
                trial.success()
            } else {
                trial.failure()
            }
        }
    };
    b.try_acquire().unwrap().failure();
    trial_after_opening(true).await;
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.metrics().false_positives, 1);

    b.try_acquire().unwrap().failure();
    trial_after_opening(false).await;
    trial_after_opening(true).await;
    let m = b.metrics();
    assert_eq!(
        (m.state, m.openings, m.recoveries),
        (BreakerState::Closed, 3, 2)
    );
    assert_eq!(
        m.false_positives, 1,
        "its first trial failed: a real outage"
    );

    let twice = CircuitBreaker::new(
        "bookkeeping.twice",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(100))
            .success_threshold(2),
    );
    twice.try_acquire().unwrap().failure();
    advance(ms(100)).await;
    twice.try_acquire().unwrap().success();
    twice.try_acquire().unwrap().success();
    let m = twice.metrics();
    assert_eq!((m.state, m.false_positives), (BreakerState::Closed, 1));
}
