//! The rate limiter on virtual time: bursts, turns, waits, refusals and cancellations at exact
//! instants, and how a breaker around it counts its refusals.

mod common;

use common::{TestError, join_all, ms, poll_once};
use resilient::{BreakerConfig, BreakerState, CircuitBreaker, RateLimiter, RejectedKind};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::{Instant, advance};

/// Ten a second, one at a time: a turn every 100 ms.
fn ten_a_second(name: &'static str, max_wait: Duration) -> &'static RateLimiter {
    Box::leak(Box::new(
        RateLimiter::new(name, 10, Duration::from_secs(1))
            .burst(1)
            .max_wait(max_wait),
    ))
}

#[tokio::test(start_paused = true)]
async fn try_acquire_refuses_over_the_rate_and_says_when() {
    let limiter = RateLimiter::new("rl.try", 5, Duration::from_secs(1)).burst(2);
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_ok());
    let refused = limiter.try_acquire().unwrap_err();
    assert_eq!(refused.kind(), RejectedKind::RateLimited);
    assert_eq!(refused.policy(), "rl.try");
    assert_eq!(refused.retry_after(), Some(ms(200)));
    assert_eq!(
        refused.to_string(),
        "rate limiter `rl.try` is at its limit: the call was rejected without running; retry after 200ms"
    );
    advance(ms(199)).await;
    assert_eq!(
        limiter.try_acquire().unwrap_err().retry_after(),
        Some(ms(1))
    );
    advance(ms(1)).await;
    assert!(limiter.try_acquire().is_ok());
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.waited, m.rejected), (3, 0, 2));
}

/// Six callers at once, one turn every 100 ms, each may wait 250 ms: three run, at 0, 100 and
/// 200 ms, in the order they came; the others are refused at once, their turn 300 ms away.
#[tokio::test(start_paused = true)]
async fn waiting_callers_run_in_their_turns_and_the_rest_are_refused() {
    let limiter = ten_a_second("rl.turns", ms(250));
    let start = Instant::now();
    let ran = Rc::new(RefCell::new(Vec::new()));
    let calls = (0..6).map(|i| {
        let ran = Rc::clone(&ran);
        limiter.call(async move {
            ran.borrow_mut().push((i, start.elapsed()));
            Ok::<_, TestError>(i)
        })
    });
    let results = join_all(calls.collect()).await;
    assert_eq!(*ran.borrow(), vec![(0, ms(0)), (1, ms(100)), (2, ms(200))]);
    for refused in &results[3..] {
        let TestError::Rejected(r) = refused.as_ref().unwrap_err() else {
            panic!("{refused:?}")
        };
        assert_eq!(r.kind(), RejectedKind::RateLimited);
        assert_eq!(r.retry_after(), Some(ms(300)));
    }
    assert_eq!(start.elapsed(), ms(200));
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.waited, m.rejected), (3, 2, 3));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_gives_its_turn_to_the_next_caller() {
    let limiter = ten_a_second("rl.cancel", ms(1000));
    assert!(limiter.try_acquire().is_ok());
    let start = Instant::now();
    let waiting = tokio::time::timeout(ms(50), limiter.call(async { Ok::<_, TestError>(()) }));
    assert!(
        waiting.await.is_err(),
        "cancelled after 50 ms of its 100 ms wait"
    );
    assert_eq!(limiter.metrics().gave_back, 1);
    let next = limiter.call(async { Ok::<_, TestError>(start.elapsed()) });
    assert_eq!(next.await, Ok(ms(100)), "the turn at 100 ms, not 200 ms");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_with_a_later_one_behind_it_keeps_the_order() {
    let limiter = ten_a_second("rl.order", ms(1000));
    assert!(limiter.try_acquire().is_ok());
    let start = Instant::now();
    let mut first = Box::pin(limiter.call(async { Ok::<_, TestError>(()) }));
    let mut second = Box::pin(limiter.call(async { Ok::<_, TestError>(start.elapsed()) }));
    // Both reserve their turns (100 and 200 ms), then the first is dropped before its own.
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    advance(ms(10)).await;
    drop(first);
    assert_eq!(
        limiter.metrics().gave_back,
        0,
        "the second reserved after it"
    );
    assert_eq!(second.await, Ok(ms(200)));
}

/// A refusal by a rate limiter inside a breaker never reached the dependency: the breaker counts
/// it as neither a success nor a failure, and stays closed.
#[tokio::test(start_paused = true)]
async fn a_breaker_does_not_count_a_refusal_as_a_failure() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "rl.breaker",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(30)),
    );
    let limiter = ten_a_second("rl.breaker", Duration::ZERO);
    let call = || BREAKER.call(limiter.call(async { Ok::<_, TestError>(()) }));
    assert_eq!(call().await, Ok(()));
    let refused = call().await.unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::RateLimited));
    let m = BREAKER.metrics();
    assert_eq!((m.successes, m.failures, m.released), (1, 0, 1));
    assert_eq!(BREAKER.state(), BreakerState::Closed);
}

/// Inside a retry a refusal is retried like a failure, whatever `when` says, after at least its
/// `retry_after`: here the backoff says 10 ms and the limiter 90 ms. Through a breaker between
/// them too, which passes the refusal on without counting it.
#[tokio::test(start_paused = true)]
async fn a_retry_waits_at_least_the_refusals_retry_after() {
    use resilient::{Backoff, RetryPolicy};
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("rl.retry")
        .max_attempts(4)
        .backoff(Backoff::constant(Duration::from_millis(10)));
    static BREAKER: CircuitBreaker = CircuitBreaker::new("rl.retry", BreakerConfig::new());
    let limiter = ten_a_second("rl.retry", Duration::ZERO);
    let start = Instant::now();
    let ran = Rc::new(RefCell::new(Vec::new()));
    let only_failures = |e: &TestError| matches!(e, TestError::Failed(_));
    let result = resilient::retry_when(&RETRY, only_failures, || {
        let ran = Rc::clone(&ran);
        BREAKER.call(limiter.call(async move {
            ran.borrow_mut().push(start.elapsed());
            if ran.borrow().len() == 1 {
                Err(TestError::Failed(1))
            } else {
                Ok(7)
            }
        }))
    })
    .await;
    assert_eq!(result, Ok(7));
    assert_eq!(
        *ran.borrow(),
        vec![ms(0), ms(100)],
        "refused at 10 ms, run again at 100 ms"
    );
    assert_eq!(start.elapsed(), ms(100));
    assert_eq!(limiter.metrics().rejected, 1);
    let m = BREAKER.metrics();
    assert_eq!((m.successes, m.failures, m.released), (1, 1, 1));
}

/// Many tasks on a multi-thread runtime, on the real clock (a multi-thread runtime cannot pause
/// it): whatever the interleaving, no more calls get through than the burst plus one per interval
/// of the time that passed. A bound, not a timing: it cannot fail by the machine being slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_never_get_more_than_the_rate() {
    static LIMITER: RateLimiter =
        RateLimiter::new("rl.many", 1000, Duration::from_secs(1)).burst(5);
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(async {
                let mut admitted = 0u64;
                for _ in 0..200 {
                    if LIMITER.call(async { Ok::<_, TestError>(()) }).await.is_ok() {
                        admitted += 1;
                    }
                    tokio::task::yield_now().await;
                }
                admitted
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += task.await.unwrap();
    }
    let elapsed = start.elapsed();
    let allowed = 5 + elapsed.as_millis() as u64 + 1;
    assert!(
        admitted <= allowed,
        "{admitted} admitted in {elapsed:?}, at most {allowed}"
    );
    assert_eq!(LIMITER.metrics().admitted, admitted);
    assert_eq!(LIMITER.metrics().rejected, 64 * 200 - admitted);
}
