//! The bulkhead on virtual time: slots, waits in arrival order, refusals at exact instants,
//! cancellation and panics, and how a breaker and a retry around it treat its refusals.

mod common;

use common::{TestError, join_all, ms, poll_once};
use resilient::{Bulkhead, BulkheadMetrics, RejectedKind};
use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, sleep};

fn leaked(name: &'static str, max_concurrent: u32, max_wait: Duration) -> &'static Bulkhead {
    Box::leak(Box::new(
        Bulkhead::new(name, max_concurrent).max_wait(max_wait),
    ))
}

/// (admitted, waited, rejected, in_flight, waiting)
fn counts(m: BulkheadMetrics) -> (u64, u64, u64, u32, u32) {
    (m.admitted, m.waited, m.rejected, m.in_flight, m.waiting)
}

#[tokio::test(start_paused = true)]
async fn try_acquire_takes_free_slots_and_refuses_when_all_are_taken() {
    let bulkhead = Bulkhead::new("bh.try", 2);
    let first = bulkhead.try_acquire().unwrap();
    let second = bulkhead.try_acquire().unwrap();
    let refused = bulkhead.try_acquire().unwrap_err();
    assert_eq!(refused.kind(), RejectedKind::BulkheadFull);
    assert_eq!(refused.policy(), "bh.try");
    assert_eq!(refused.retry_after(), None);
    assert_eq!(
        refused.to_string(),
        "bulkhead `bh.try` is full: the call was rejected without running"
    );
    drop(first);
    let third = bulkhead.try_acquire().unwrap();
    drop((second, third));
    let m = bulkhead.metrics();
    assert_eq!(counts(m.clone()), (3, 0, 1, 0, 0));
    assert_eq!(m.peak, 2);
    assert_eq!(
        format!("{bulkhead:?}"),
        "Bulkhead { name: \"bh.try\", max_concurrent: 2, max_wait: 0ns }"
    );
    let permit = bulkhead.try_acquire().unwrap();
    assert_eq!(
        format!("{permit:?}"),
        "BulkheadPermit { bulkhead: \"bh.try\" }"
    );
}

/// The registry's alert monitor sees a refusal as a failed call.
#[tokio::test(start_paused = true)]
async fn refusals_count_as_failed_calls_for_the_alert_monitor() {
    use resilient::monitor::AlertLevel;
    use resilient::registry;
    static FULL: Bulkhead = Bulkhead::new("bh.alert", 1);
    registry::register(&FULL);
    registry::sample();
    let _held = FULL.try_acquire().unwrap();
    for _ in 0..99 {
        assert!(FULL.try_acquire().is_err());
    }
    tokio::time::advance(ms(10_000)).await;
    registry::sample();
    let info = registry::policies()
        .into_iter()
        .find(|p| p.name == "bh.alert")
        .unwrap();
    assert_eq!(
        info.alert,
        Some(AlertLevel::Critical),
        "99 of 100 calls failed"
    );
}

/// One slot, each call 100 ms, every caller may wait 250 ms: the first runs at once, the next two
/// start at 100 and 200 ms in the order they came, the fourth is refused at exactly 250 ms.
#[tokio::test(start_paused = true)]
async fn waiting_callers_run_in_arrival_order_and_the_rest_are_refused_at_max_wait() {
    let bulkhead = leaked("bh.order", 1, ms(250));
    let start = Instant::now();
    let log = Rc::new(RefCell::new(Vec::new()));
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let log = Rc::clone(&log);
            Box::pin(async move {
                let result = bulkhead
                    .call(async {
                        log.borrow_mut().push((i, "start", start.elapsed()));
                        sleep(ms(100)).await;
                        Ok::<_, TestError>(i)
                    })
                    .await;
                if result.is_err() {
                    log.borrow_mut().push((i, "refused", start.elapsed()));
                }
                result
            })
        })
        .collect();
    let results = join_all(calls).await;
    assert_eq!(
        *log.borrow(),
        vec![
            (0, "start", ms(0)),
            (1, "start", ms(100)),
            (2, "start", ms(200)),
            (3, "refused", ms(250)),
        ]
    );
    let refused = results[3].clone().unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::BulkheadFull));
    let TestError::Rejected(r) = refused else {
        unreachable!()
    };
    assert_eq!(
        r.to_string(),
        "bulkhead `bh.order` is full: no slot came free in 250ms; the call was rejected without running"
    );
    assert_eq!(counts(bulkhead.metrics()), (3, 3, 1, 0, 0));
    assert_eq!(bulkhead.metrics().peak, 1);
}

/// A slot freed while someone waits is the waiter's: a newcomer at that instant is refused, even
/// before the waiter has run again to take it.
#[tokio::test(start_paused = true)]
async fn a_newcomer_never_overtakes_a_waiter() {
    let bulkhead = leaked("bh.fifo", 1, ms(1000));
    let held = bulkhead.try_acquire().unwrap();
    let mut waiter = Box::pin(bulkhead.call(async { Ok::<_, TestError>("waiter") }));
    assert!(poll_once(waiter.as_mut()).is_pending());
    assert_eq!(counts(bulkhead.metrics()), (1, 1, 0, 1, 1));
    drop(held);
    assert_eq!(
        counts(bulkhead.metrics()),
        (2, 1, 0, 1, 0),
        "handed to the waiter"
    );
    assert_eq!(
        bulkhead.try_acquire().unwrap_err().kind(),
        RejectedKind::BulkheadFull
    );
    let mut newcomer = Box::pin(bulkhead.call(async { Ok::<_, TestError>("newcomer") }));
    assert!(
        poll_once(newcomer.as_mut()).is_pending(),
        "it queues behind"
    );
    assert_eq!(waiter.await, Ok("waiter"));
    assert_eq!(newcomer.await, Ok("newcomer"));
    assert_eq!(counts(bulkhead.metrics()), (3, 2, 1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_the_queue_at_once() {
    let bulkhead = leaked("bh.cancel", 1, ms(1000));
    let held = bulkhead.try_acquire().unwrap();
    let start = Instant::now();
    let mut first = Box::pin(bulkhead.call(async { Ok::<_, TestError>(start.elapsed()) }));
    let mut second = Box::pin(bulkhead.call(async { Ok::<_, TestError>(start.elapsed()) }));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    assert_eq!(bulkhead.metrics().waiting, 2);
    sleep(ms(10)).await;
    drop(first);
    assert_eq!(bulkhead.metrics().waiting, 1);
    // Awaited here, the second is woken with this task's waker, not the one it was first polled
    // with.
    let release = async {
        sleep(ms(10)).await;
        drop(held);
    };
    let ((), second) = tokio::join!(release, second);
    assert_eq!(second, Ok(ms(20)), "the second got the first free slot");
    assert_eq!(counts(bulkhead.metrics()), (2, 2, 0, 0, 0));
}

/// A waiter handed a slot and cancelled before it ran passes the slot on to the next waiter.
#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_passes_on_the_slot_it_was_handed() {
    let bulkhead = leaked("bh.pass", 1, ms(1000));
    let held = bulkhead.try_acquire().unwrap();
    let mut first = Box::pin(bulkhead.call(async { Ok::<_, TestError>(1) }));
    let mut second = Box::pin(bulkhead.call(async { Ok::<_, TestError>(2) }));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    drop(held);
    drop(first);
    let m = bulkhead.metrics();
    assert_eq!((m.in_flight, m.waiting), (1, 0), "the second holds it now");
    assert_eq!(poll_once(second.as_mut()), Poll::Ready(Ok(2)));
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

/// A call dropped while it runs (here by a timeout around it) gives its slot back at once.
#[tokio::test(start_paused = true)]
async fn a_cancelled_running_call_frees_its_slot() {
    let bulkhead = leaked("bh.running", 1, Duration::ZERO);
    let slow = bulkhead.call(async {
        sleep(ms(1000)).await;
        Ok::<_, TestError>(())
    });
    assert!(tokio::time::timeout(ms(10), slow).await.is_err());
    assert_eq!(bulkhead.metrics().in_flight, 0);
    assert!(bulkhead.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_frees_its_slot() {
    static BULKHEAD: Bulkhead = Bulkhead::new("bh.panic", 1);
    let task = tokio::spawn(BULKHEAD.call(async {
        sleep(ms(5)).await;
        if true {
            panic!("the call panics");
        }
        Ok::<_, TestError>(())
    }));
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(BULKHEAD.metrics().in_flight, 0);
    assert_eq!(BULKHEAD.call(async { Ok::<_, TestError>(3) }).await, Ok(3));
}

/// A refusal by a bulkhead inside a breaker never reached the dependency: the breaker counts it
/// as neither a success nor a failure, and stays closed.
#[tokio::test(start_paused = true)]
async fn a_breaker_does_not_count_a_refusal_as_a_failure() {
    use resilient::{BreakerConfig, BreakerState, CircuitBreaker};
    static BREAKER: CircuitBreaker =
        CircuitBreaker::new("bh.breaker", BreakerConfig::new().failure_threshold(1));
    let bulkhead = leaked("bh.breaker", 1, Duration::ZERO);
    let held = bulkhead.try_acquire().unwrap();
    let refused = BREAKER
        .call(bulkhead.call(async { Ok::<_, TestError>(()) }))
        .await
        .unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::BulkheadFull));
    drop(held);
    let m = BREAKER.metrics();
    assert_eq!((m.successes, m.failures, m.released), (0, 0, 1));
    assert_eq!(BREAKER.state(), BreakerState::Closed);
}

/// Inside a retry a refusal is retried like a failure, whatever `when` says, after the backoff.
#[tokio::test(start_paused = true)]
async fn a_retry_retries_a_refusal_after_its_backoff() {
    use resilient::{Backoff, RetryPolicy};
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("bh.retry")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(10)));
    let bulkhead = leaked("bh.retry", 1, Duration::ZERO);
    let held = bulkhead.try_acquire().unwrap();
    let start = Instant::now();
    let release = async {
        sleep(ms(15)).await;
        drop(held);
    };
    let only_failures = |e: &TestError| matches!(e, TestError::Failed(_));
    let retried = resilient::retry_when(&RETRY, only_failures, || {
        bulkhead.call(async { Ok::<_, TestError>(start.elapsed()) })
    });
    let ((), result) = tokio::join!(release, retried);
    assert_eq!(result, Ok(ms(20)), "refused at 0 and 10 ms, run at 20 ms");
    assert_eq!(counts(bulkhead.metrics()), (2, 0, 2, 0, 0));
}

/// Raising `max_concurrent` at run time lets waiters in at once; lowering it lets calls in flight
/// finish and admits no more until they are under the new limit.
#[tokio::test(start_paused = true)]
async fn max_concurrent_set_at_run_time_applies_to_waiters_and_newcomers() {
    static BULKHEAD: Bulkhead = Bulkhead::new("bh.reconfigured", 1).max_wait(ms(1000));
    resilient::registry::register(&BULKHEAD);
    let held = BULKHEAD.try_acquire().unwrap();
    let mut waiter = Box::pin(BULKHEAD.call(async { Ok::<_, TestError>(()) }));
    assert!(poll_once(waiter.as_mut()).is_pending());
    resilient::registry::set("bh.reconfigured", "max_concurrent", "2").unwrap();
    assert_eq!(BULKHEAD.metrics().in_flight, 2, "the waiter was let in");
    assert_eq!(
        BULKHEAD.metrics().peak,
        2,
        "the waiter let in counts in the peak"
    );
    assert_eq!(poll_once(waiter.as_mut()), Poll::Ready(Ok(())));
    resilient::registry::set("bh.reconfigured", "max_concurrent", "1").unwrap();
    assert!(BULKHEAD.try_acquire().is_err(), "one in flight: the limit");
    drop(held);
    assert!(BULKHEAD.try_acquire().is_ok());
    let err = resilient::registry::set("bh.reconfigured", "max_concurrent", "0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `bh.reconfigured`: cannot set `max_concurrent` to `0`: `max_concurrent` must be at least 1 (got 0)"
    );
}

/// Many tasks on a multi-thread runtime, each waiting as long as it takes: never more than
/// `max_concurrent` bodies run at once, every call runs once, and nothing is left in the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_never_exceed_max_concurrent() {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    static BULKHEAD: Bulkhead = Bulkhead::new("bh.many", 3).max_wait(Duration::from_secs(3600));
    static RUNNING: AtomicU32 = AtomicU32::new(0);
    static MOST: AtomicU32 = AtomicU32::new(0);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..50 {
                    let result = BULKHEAD
                        .call(async {
                            let now = RUNNING.fetch_add(1, SeqCst) + 1;
                            MOST.fetch_max(now, SeqCst);
                            tokio::task::yield_now().await;
                            RUNNING.fetch_sub(1, SeqCst);
                            Ok::<_, TestError>(())
                        })
                        .await;
                    assert_eq!(result, Ok(()));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(MOST.load(SeqCst) <= 3, "{} at once", MOST.load(SeqCst));
    let m = BULKHEAD.metrics();
    assert_eq!(
        (m.admitted, m.rejected, m.in_flight, m.waiting),
        (1600, 0, 0, 0)
    );
    assert!(m.peak <= 3);
}
