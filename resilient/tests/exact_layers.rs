//! The attributes compose layers exactly: what the user's code does between two layers (a `when`
//! predicate, a value dropped when a timeout cancels the body) never passes for a layer's
//! rejection.

mod common;

use common::capture::{Capture, field};
use common::{Calls, TestError, ms};
use resilient::registry::{self, PolicyKind, PolicyMetrics};
use resilient::{BreakerConfig, CircuitBreaker, circuit_breaker, fallback, retry, timeout};
use std::time::Duration;

/// Forced open: every call through it is rejected (and marked as a rejection).
static GATE: CircuitBreaker = CircuitBreaker::new("exact.gate", BreakerConfig::new());

/// A `when` predicate that calls through a rejecting breaker before it answers.
fn asks_the_gate_first(_: &TestError) -> bool {
    GATE.force_open();
    let _refused = GATE.call_sync(|| Ok::<(), TestError>(()));
    true
}

fn fallback_metrics(name_end: &str) -> (u64, u64) {
    let policy = registry::policies()
        .into_iter()
        .find(|p| p.kind == PolicyKind::Fallback && p.name.ends_with(name_end))
        .expect("the fallback registered");
    let PolicyMetrics::Fallback(m) = policy.metrics else {
        panic!("not a fallback's metrics")
    };
    (m.fallbacks, m.after_rejection)
}

#[fallback(|_| async { Ok(0) }, when = asks_the_gate_first)]
#[circuit_breaker(failure_threshold = 100)]
async fn fails_on_its_own() -> Result<u32, TestError> {
    Err(TestError::Failed(1))
}

#[tokio::test(start_paused = true)]
async fn a_fallback_whose_when_calls_a_rejecting_layer_still_sees_the_functions_error() {
    let (capture, _guard) = Capture::start();
    assert_eq!(fails_on_its_own().await, Ok(0));
    let used: Vec<_> = (capture.take().into_iter())
        .filter(|e| e.name == "fallback.used")
        .collect();
    assert_eq!(used.len(), 1);
    assert_eq!(field(&used[0], "reason"), "error");
    assert_eq!(fallback_metrics("::fails_on_its_own"), (1, 0));
}

#[fallback(|_| Ok(0), when = asks_the_gate_first)]
#[circuit_breaker(failure_threshold = 100)]
fn fails_on_its_own_blocking() -> Result<u32, TestError> {
    Err(TestError::Failed(1))
}

#[test]
fn a_blocking_fallback_whose_when_calls_a_rejecting_layer_still_sees_the_functions_error() {
    assert_eq!(fails_on_its_own_blocking(), Ok(0));
    assert_eq!(fallback_metrics("::fails_on_its_own_blocking"), (1, 0));
}

/// Calls through the rejecting breaker when it is dropped.
struct AsksTheGateOnDrop;

impl Drop for AsksTheGateOnDrop {
    fn drop(&mut self) {
        GATE.force_open();
        let _refused = GATE.call_sync(|| Ok::<(), TestError>(()));
    }
}

#[retry(max_attempts = 3, backoff = none)]
#[timeout("10ms")]
async fn times_out_holding_a_guard(calls: &Calls) -> Result<u32, TestError> {
    calls.next();
    let _guard = AsksTheGateOnDrop;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn what_a_cancelled_body_does_as_it_is_dropped_is_not_taken_for_a_rejection() {
    let calls = Calls::default();
    let start = tokio::time::Instant::now();
    let result = times_out_holding_a_guard(&calls).await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(resilient::RejectedKind::TimedOut)
    );
    assert_eq!(calls.count(), 3, "every timed-out attempt is retried");
    assert_eq!(start.elapsed(), ms(30));
}

#[fallback(|_| async { Ok(7) })]
#[timeout("10ms")]
async fn falls_back_holding_a_guard() -> Result<u32, TestError> {
    let _guard = AsksTheGateOnDrop;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_fallback_after_a_timeout_says_timed_out_whatever_the_body_drops() {
    let (capture, _guard) = Capture::start();
    assert_eq!(falls_back_holding_a_guard().await, Ok(7));
    let used: Vec<_> = (capture.take().into_iter())
        .filter(|e| e.name == "fallback.used")
        .collect();
    assert_eq!(field(&used[0], "reason"), "timed_out");
}
