//! The tracing events: names, levels and fields, captured with a test subscriber.

mod common;

use common::capture::{Capture, field};
use common::{TestError, ms};
use resilient::{Backoff, BreakerConfig, CircuitBreaker, RetryPolicy, retry, timeout};
use tracing::Level;

#[tokio::test(start_paused = true)]
async fn breaker_transitions_and_rejections() {
    let (capture, _guard) = Capture::start();
    let b = CircuitBreaker::new(
        "payments",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(100)),
    );
    b.try_acquire().unwrap().failure();
    let opened = capture.take();
    assert_eq!(opened.len(), 1);
    let e = &opened[0];
    assert_eq!((e.name, e.level), ("breaker.opened", Level::WARN));
    assert_eq!(field(e, "policy"), "payments");
    assert_eq!(field(e, "state"), "open");
    assert_eq!(field(e, "from"), "closed");
    assert_eq!(field(e, "wait_ms"), "100");
    assert_eq!(field(e, "openings_in_row"), "1");
    assert_eq!(
        field(e, "message"),
        "circuit breaker `payments` opened: calls are rejected for 100ms"
    );

    tokio::time::advance(ms(30)).await;
    assert!(b.try_acquire().is_err());
    let rejected = capture.take();
    assert_eq!(
        (rejected[0].name, rejected[0].level),
        ("breaker.rejected", Level::DEBUG)
    );
    assert_eq!(field(&rejected[0], "retry_after_ms"), "70");

    tokio::time::advance(ms(70)).await;
    b.try_acquire().unwrap().success();
    let recovered = capture.take();
    assert_eq!(
        recovered
            .iter()
            .map(|e| (e.name, e.level))
            .collect::<Vec<_>>(),
        [
            ("breaker.half_open", Level::DEBUG),
            ("breaker.closed", Level::INFO)
        ]
    );
    assert_eq!(field(&recovered[1], "outage_ms"), "100");

    b.force_open();
    b.disable();
    b.reset();
    assert_eq!(
        capture.names(),
        [
            ("breaker.forced_open", Level::WARN),
            ("breaker.disabled", Level::WARN),
            ("breaker.reset", Level::INFO)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn reopening_from_half_open_says_where_it_came_from() {
    let (capture, _guard) = Capture::start();
    let b = CircuitBreaker::new(
        "db",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(10)),
    );
    b.try_acquire().unwrap().failure();
    tokio::time::advance(ms(10)).await;
    b.try_acquire().unwrap().failure();
    let events = capture.take();
    let reopened = events.last().unwrap();
    assert_eq!(
        (
            reopened.name,
            field(reopened, "from"),
            field(reopened, "openings_in_row")
        ),
        ("breaker.opened", "half_open", "2")
    );
}

#[tokio::test(start_paused = true)]
async fn retry_events_at_each_level() {
    let (capture, _guard) = Capture::start();
    let policy = RetryPolicy::new()
        .name("fetch")
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)));
    let mut n = 0;
    let result = retry(&policy, || {
        n += 1;
        let attempt = n;
        async move {
            if attempt < 3 {
                Err(TestError::Failed(attempt))
            } else {
                Ok(attempt)
            }
        }
    })
    .await;
    assert_eq!(result, Ok(3));
    let events = capture.take();
    assert_eq!(
        events.iter().map(|e| (e.name, e.level)).collect::<Vec<_>>(),
        [
            ("retry.retrying", Level::WARN),
            ("retry.retrying", Level::WARN),
            ("retry.succeeded", Level::INFO)
        ]
    );
    assert_eq!(field(&events[0], "policy"), "fetch");
    assert_eq!(field(&events[0], "attempt"), "1");
    assert_eq!(field(&events[1], "attempt"), "2");
    assert_eq!(field(&events[0], "max_attempts"), "3");
    assert_eq!(field(&events[0], "delay_ms"), "10");
    assert_eq!(field(&events[0], "error"), "Failed(1)");
    assert_eq!(field(&events[2], "attempts"), "3");

    let result = retry(&policy, || async { Err::<(), _>(TestError::Failed(9)) }).await;
    assert!(result.is_err());
    let events = capture.take();
    let last = events.last().unwrap();
    assert_eq!((last.name, last.level), ("retry.exhausted", Level::ERROR));
    assert_eq!(
        (
            field(last, "attempts"),
            field(last, "reason"),
            field(last, "error")
        ),
        ("3", "attempts", "Failed(9)")
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_at_first_attempt_is_silent() {
    let (capture, _guard) = Capture::start();
    let b = CircuitBreaker::new("quiet", BreakerConfig::new());
    let policy = RetryPolicy::new();
    let result = retry(&policy, || {
        b.call(timeout(ms(10), async { Ok::<_, TestError>(1) }))
    })
    .await;
    assert_eq!(result, Ok(1));
    assert!(capture.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn budget_exhaustion_and_aborts_are_reported() {
    let (capture, _guard) = Capture::start();
    let policy = RetryPolicy::new()
        .name("budgeted")
        .max_attempts(5)
        .backoff(Backoff::constant(ms(100)))
        .budget(ms(50));
    let _ = retry(&policy, || async { Err::<(), _>(TestError::Failed(1)) }).await;
    let events = capture.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].name, field(&events[0], "reason")),
        ("retry.exhausted", "budget")
    );

    let open = CircuitBreaker::new("down", BreakerConfig::new());
    open.force_open();
    capture.take();
    let _ = retry(&policy, || open.call(async { Ok::<_, TestError>(()) })).await;
    let events = capture.take();
    let aborted = events.last().unwrap();
    assert_eq!(
        (aborted.name, aborted.level),
        ("retry.aborted", Level::WARN)
    );
    assert_eq!(
        (field(aborted, "policy"), field(aborted, "reason")),
        ("budgeted", "CircuitOpen")
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_warnings_with_their_limit() {
    let (capture, _guard) = Capture::start();
    let slow = async {
        tokio::time::sleep(ms(100)).await;
        Ok::<_, TestError>(())
    };
    resilient::timeout_named("search", ms(25), slow)
        .await
        .unwrap_err();
    let events = capture.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].name, events[0].level),
        ("timeout.elapsed", Level::WARN)
    );
    assert_eq!(
        (field(&events[0], "policy"), field(&events[0], "timeout_ms")),
        ("search", "25")
    );
}

#[tokio::test]
async fn atomic_rollbacks_and_failing_compensations_are_reported() {
    use resilient::atomic::{on_rollback, on_rollback_async, scope};
    let (capture, _guard) = Capture::start();
    let result: Result<(), &str> = scope(async {
        on_rollback(|| {});
        on_rollback(|| panic!("compensation failed"));
        Err("failed")
    })
    .await;
    assert!(result.is_err());
    let events = capture.take();
    assert_eq!(
        events.iter().map(|e| (e.name, e.level)).collect::<Vec<_>>(),
        [
            ("atomic.rolled_back", Level::WARN),
            ("atomic.compensation_failed", Level::ERROR)
        ]
    );
    assert_eq!(
        (
            field(&events[0], "compensations"),
            field(&events[0], "reason")
        ),
        ("2", "error")
    );

    on_rollback(|| {});
    on_rollback_async(|| async {});
    assert_eq!(
        capture.names(),
        [
            ("atomic.outside_scope", Level::WARN),
            ("atomic.outside_scope", Level::WARN)
        ]
    );
}

#[test]
fn a_cancelled_scope_without_a_runtime_runs_its_async_compensations_on_a_thread_of_their_own() {
    use resilient::atomic::{on_rollback_async, scope};
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (capture, _guard) = Capture::start();
    let undone = Arc::new(AtomicBool::new(false));
    {
        let undo = undone.clone();
        let mut fut = std::pin::pin!(scope(async {
            on_rollback_async(move || async move { undo.store(true, Ordering::SeqCst) });
            std::future::pending::<Result<(), ()>>().await
        }));
        let waker = std::task::Waker::noop();
        assert!(
            fut.as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
                .is_pending()
        );
    }
    assert!(
        undone.load(Ordering::SeqCst),
        "run before the drop returned"
    );
    let events = capture.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].name, field(&events[0], "reason")),
        ("atomic.rolled_back", "cancelled")
    );
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_correlation_id_of_the_request() {
    use resilient::correlation::{CorrelationId, scope};
    let (capture, _guard) = Capture::start();
    let id = CorrelationId::new();
    let b = CircuitBreaker::new("traced", BreakerConfig::new().failure_threshold(1));
    scope(id, async { b.try_acquire().unwrap().failure() }).await;
    let events = capture.take();
    assert_eq!(events[0].name, "breaker.opened");
    assert_eq!(field(&events[0], "correlation_id"), id.to_string());
    b.reset();
    let events = capture.take();
    assert!(
        !events[0].fields.contains_key("correlation_id"),
        "no scope, no field: {:?}",
        events[0].fields
    );
}

/// The events of the rate limiter, the bulkhead and the hedge: names, levels and fields.
#[tokio::test(start_paused = true)]
async fn rate_limit_bulkhead_and_hedge_events() {
    use resilient::{Bulkhead, HedgePolicy, RateLimiter};
    let (capture, _guard) = Capture::start();
    let limiter = RateLimiter::new("ev.rate", 10, ms(1000)).burst(1);
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_err());
    let events = capture.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].name, events[0].level),
        ("rate_limit.rejected", Level::DEBUG)
    );
    assert_eq!(field(&events[0], "policy"), "ev.rate");
    assert_eq!(field(&events[0], "retry_after_ms"), "100");

    let bulkhead = Bulkhead::new("ev.bulkhead", 1);
    let _held = bulkhead.try_acquire().unwrap();
    assert!(bulkhead.try_acquire().is_err());
    let events = capture.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].name, events[0].level),
        ("bulkhead.rejected", Level::DEBUG)
    );
    assert_eq!(field(&events[0], "policy"), "ev.bulkhead");
    assert_eq!(field(&events[0], "max_concurrent"), "1");
    assert_eq!(
        field(&events[0], "message"),
        "bulkhead `ev.bulkhead` is full: the call was rejected without running"
    );

    let hedge = HedgePolicy::new().name("ev.hedge").delay(ms(10));
    let result = resilient::hedge(&hedge, || async {
        tokio::time::sleep(ms(20)).await;
        Err::<(), _>(TestError::Failed(7))
    })
    .await;
    assert_eq!(result, Err(TestError::Failed(7)));
    let events = capture.take();
    let names: Vec<_> = events.iter().map(|e| (e.name, e.level)).collect();
    assert_eq!(
        names,
        [
            ("hedge.started", Level::DEBUG),
            ("hedge.failed", Level::WARN)
        ]
    );
    assert_eq!(field(&events[0], "policy"), "ev.hedge");
    assert_eq!(field(&events[0], "hedge"), "1");
    assert_eq!(field(&events[0], "max_hedges"), "1");
    assert_eq!(field(&events[1], "attempts"), "2");
    assert_eq!(field(&events[1], "error"), "Failed(7)");
}
