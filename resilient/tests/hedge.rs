//! Hedging on virtual time: when each attempt starts, which one wins, what is dropped and when,
//! and how errors, refusals and a breaker inside shape it.

mod common;

use common::{TestError, ms};
use resilient::{BreakerConfig, CircuitBreaker, HedgePolicy, RejectedKind, hedge, hedge_when};
use std::cell::RefCell;
use std::rc::Rc;
use tokio::time::{Instant, sleep};

/// What each attempt does: answer after `after` with `outcome`.
#[derive(Clone, Copy)]
struct Plan {
    after: u64,
    outcome: Result<u32, u32>,
}

const fn ok_after(after: u64, value: u32) -> Plan {
    Plan {
        after,
        outcome: Ok(value),
    }
}

const fn err_after(after: u64, code: u32) -> Plan {
    Plan {
        after,
        outcome: Err(code),
    }
}

/// The log of a hedged call: (attempt, "start" / "end" / "dropped", instant in ms).
type Log = Rc<RefCell<Vec<(usize, &'static str, u64)>>>;

/// Marks an attempt dropped before it finished.
struct OnDrop {
    attempt: usize,
    log: Log,
    start: Instant,
    finished: bool,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if !self.finished {
            let at = self.start.elapsed().as_millis() as u64;
            self.log.borrow_mut().push((self.attempt, "dropped", at));
        }
    }
}

/// Runs `plans` (one per attempt, in order) hedged by `policy`, and returns the result and the log.
async fn run(
    policy: &HedgePolicy,
    plans: &[Plan],
    when: impl Fn(&TestError) -> bool,
) -> (Result<u32, TestError>, Vec<(usize, &'static str, u64)>) {
    let log: Log = Rc::default();
    let start = Instant::now();
    let mut next = 0;
    let result = hedge_when(policy, when, || {
        let attempt = next;
        next += 1;
        let plan = plans[attempt];
        let log = Rc::clone(&log);
        async move {
            let at = |start: Instant| start.elapsed().as_millis() as u64;
            log.borrow_mut().push((attempt, "start", at(start)));
            let mut guard = OnDrop {
                attempt,
                log: Rc::clone(&log),
                start,
                finished: false,
            };
            sleep(ms(plan.after)).await;
            guard.finished = true;
            log.borrow_mut().push((attempt, "end", at(start)));
            plan.outcome.map_err(TestError::Failed)
        }
    })
    .await;
    let log = log.borrow().clone();
    (result, log)
}

fn every_error(_: &TestError) -> bool {
    true
}

fn policy(delay: u64, max_hedges: u32) -> HedgePolicy {
    HedgePolicy::new()
        .name("hedge.test")
        .delay(ms(delay))
        .max_hedges(max_hedges)
}

#[tokio::test(start_paused = true)]
async fn a_call_that_answers_within_the_delay_is_never_hedged() {
    let policy = policy(50, 1);
    let (result, log) = run(&policy, &[ok_after(49, 1)], every_error).await;
    assert_eq!(result, Ok(1));
    assert_eq!(log, [(0, "start", 0), (0, "end", 49)]);
    let m = policy.metrics();
    assert_eq!((m.successes, m.failures, m.hedges, m.won), (1, 0, 0, 0));
}

/// The first attempt hangs; the hedge starts at exactly the delay, answers 10 ms later, and the
/// first is dropped at that instant.
#[tokio::test(start_paused = true)]
async fn a_slow_call_is_hedged_after_the_delay_and_the_first_ok_wins() {
    let policy = policy(50, 1);
    let (result, log) = run(&policy, &[ok_after(1000, 1), ok_after(10, 2)], every_error).await;
    assert_eq!(result, Ok(2));
    assert_eq!(
        log,
        [
            (0, "start", 0),
            (1, "start", 50),
            (1, "end", 60),
            (0, "dropped", 60)
        ]
    );
    let m = policy.metrics();
    assert_eq!((m.successes, m.failures, m.hedges, m.won), (1, 0, 1, 1));
}

/// Up to `max_hedges` beside the first, one per delay, and never more: here three hedges (the
/// third boxed) start at 20, 40 and 60 ms, and the one started at 40 ms answers first.
#[tokio::test(start_paused = true)]
async fn hedges_start_one_per_delay_up_to_max_hedges() {
    let policy = policy(20, 3);
    let plans = [
        ok_after(1000, 0),
        ok_after(1000, 1),
        ok_after(25, 2),
        ok_after(1000, 3),
    ];
    let (result, log) = run(&policy, &plans, every_error).await;
    assert_eq!(result, Ok(2));
    assert_eq!(
        log,
        [
            (0, "start", 0),
            (1, "start", 20),
            (2, "start", 40),
            (3, "start", 60),
            (2, "end", 65),
            (0, "dropped", 65),
            (1, "dropped", 65),
            (3, "dropped", 65),
        ]
    );
    assert_eq!(policy.metrics().hedges, 3);
}

/// A failure starts the next hedge at once, not at the delay; when all fail, the last error is
/// returned, after exactly `1 + max_hedges` attempts.
#[tokio::test(start_paused = true)]
async fn a_failure_starts_the_next_hedge_at_once_and_all_failing_returns_the_last_error() {
    let policy = policy(50, 2);
    let plans = [err_after(10, 1), err_after(5, 2), err_after(100, 3)];
    let (result, log) = run(&policy, &plans, every_error).await;
    assert_eq!(result, Err(TestError::Failed(3)));
    assert_eq!(
        log,
        [
            (0, "start", 0),
            (0, "end", 10),
            (1, "start", 10),
            (1, "end", 15),
            (2, "start", 15),
            (2, "end", 115),
        ]
    );
    let m = policy.metrics();
    assert_eq!((m.successes, m.failures, m.hedges, m.won), (0, 1, 2, 0));
    assert_eq!(m.calls(), 1);
}

/// An error `when` refuses starts no more hedges; the attempt still running goes on and wins.
#[tokio::test(start_paused = true)]
async fn an_error_when_refuses_stops_hedging_and_the_others_go_on() {
    let policy = policy(50, 2);
    let plans = [ok_after(200, 1), err_after(10, 404), ok_after(1, 3)];
    let transient = |e: &TestError| !matches!(e, TestError::Failed(404));
    let (result, log) = run(&policy, &plans, transient).await;
    assert_eq!(result, Ok(1));
    assert_eq!(
        log,
        [
            (0, "start", 0),
            (1, "start", 50),
            (1, "end", 60),
            (0, "end", 200)
        ]
    );
    let m = policy.metrics();
    assert_eq!((m.successes, m.hedges, m.won), (1, 1, 0));
}

/// A delay of zero starts every attempt at once: a race.
#[tokio::test(start_paused = true)]
async fn a_zero_delay_races_every_attempt_at_once() {
    let policy = policy(0, 2);
    let plans = [ok_after(30, 1), ok_after(20, 2), ok_after(10, 3)];
    let (result, log) = run(&policy, &plans, every_error).await;
    assert_eq!(result, Ok(3));
    assert_eq!(
        log,
        [
            (0, "start", 0),
            (1, "start", 0),
            (2, "start", 0),
            (2, "end", 10),
            (0, "dropped", 10),
            (1, "dropped", 10),
        ]
    );
}

/// The hedged call dropped (here by a timeout around it) drops every attempt with it.
#[tokio::test(start_paused = true)]
async fn cancelling_the_call_drops_every_attempt() {
    let policy = policy(10, 1);
    let log: Log = Rc::default();
    let start = Instant::now();
    let mut next = 0;
    let hedged = hedge(&policy, || {
        let attempt = next;
        next += 1;
        let guard = OnDrop {
            attempt,
            log: Rc::clone(&log),
            start,
            finished: false,
        };
        async move {
            let _guard = guard;
            sleep(ms(1000)).await;
            Ok::<_, TestError>(attempt)
        }
    });
    assert!(tokio::time::timeout(ms(30), hedged).await.is_err());
    assert_eq!(*log.borrow(), [(0, "dropped", 30), (1, "dropped", 30)]);
}

/// Attempts through a breaker: the losing attempt is dropped and its permit released, counted
/// neither as a success nor as a failure.
#[tokio::test(start_paused = true)]
async fn a_dropped_attempt_releases_its_breaker_permit() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new("hedge.breaker", BreakerConfig::new());
    let policy = policy(50, 1);
    let mut next = 0u64;
    let result = hedge(&policy, || {
        next += 1;
        let took = if next == 1 { 1000 } else { 10 };
        BREAKER.call(async move {
            sleep(ms(took)).await;
            Ok::<_, TestError>(took)
        })
    })
    .await;
    assert_eq!(result, Ok(10));
    let m = BREAKER.metrics();
    assert_eq!((m.successes, m.failures, m.released), (1, 0, 1));
}

/// An open breaker inside refuses the first attempt: no hedge starts into it, and its
/// rejection is returned.
#[tokio::test(start_paused = true)]
async fn an_open_breaker_inside_starts_no_hedge() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new("hedge.open", BreakerConfig::new());
    BREAKER.force_open();
    let policy = policy(50, 2);
    let mut attempts = 0;
    let result = hedge(&policy, || {
        attempts += 1;
        BREAKER.call(async { Ok::<_, TestError>(()) })
    })
    .await;
    assert_eq!(
        result.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(attempts, 1);
    assert_eq!(policy.metrics().hedges, 0);
}

/// A timeout inside is a failure like any: the next hedge starts at once.
#[tokio::test(start_paused = true)]
async fn a_timeout_inside_starts_the_next_hedge_at_once() {
    let policy = policy(500, 1);
    let start = Instant::now();
    let mut next = 0;
    let result = hedge(&policy, || {
        next += 1;
        let took = if next == 1 { 1000 } else { 10 };
        resilient::timeout(ms(100), async move {
            sleep(ms(took)).await;
            Ok::<_, TestError>(start.elapsed())
        })
    })
    .await;
    assert_eq!(
        result,
        Ok(ms(110)),
        "hedged at 100 ms, when the first timed out"
    );
}

#[test]
fn max_hedges_of_zero_is_refused() {
    let err = HedgePolicy::new()
        .name("hedge.zero")
        .try_max_hedges(0)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `hedge.zero`: `max_hedges` must be at least 1 (got 0)"
    );
}

/// Many tasks on a multi-thread runtime sharing one policy: each call races two attempts (a
/// delay of zero), each attempt yields once, and the first attempt, polled first, wins every
/// time; the shared counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_share_one_policy_with_exact_counts() {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    static RACE: HedgePolicy = HedgePolicy::new().name("hedge.many").delay(ms(0));
    static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..20 {
                    let mut attempt = 0;
                    let result = hedge(&RACE, || {
                        attempt += 1;
                        ATTEMPTS.fetch_add(1, SeqCst);
                        let n = attempt;
                        async move {
                            tokio::task::yield_now().await;
                            Ok::<_, TestError>(n)
                        }
                    })
                    .await;
                    assert_eq!(result, Ok(1));
                    assert_eq!(attempt, 2);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(ATTEMPTS.load(SeqCst), 640);
    let m = RACE.metrics();
    assert_eq!((m.successes, m.failures, m.hedges, m.won), (320, 0, 320, 0));
    assert_eq!(m.calls(), 320);
}

/// An attempt that panics: the panic goes on to the caller, and the other attempts are dropped
/// with the hedged call, their breaker permits released.
#[tokio::test(start_paused = true)]
async fn a_panicking_attempt_unwinds_and_drops_the_others() {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    static BREAKER: CircuitBreaker = CircuitBreaker::new("hedge.panic", BreakerConfig::new());
    static POLICY: HedgePolicy = HedgePolicy::new().name("hedge.panic").delay(ms(10));
    static DROPPED: AtomicU32 = AtomicU32::new(0);
    struct CountDrop;
    impl Drop for CountDrop {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, SeqCst);
        }
    }
    let task = tokio::spawn(async {
        let mut attempt = 0;
        hedge(&POLICY, || {
            attempt += 1;
            let panics = attempt == 2;
            BREAKER.call(async move {
                let _guard = CountDrop;
                sleep(ms(if panics { 5 } else { 1000 })).await;
                if panics {
                    panic!("the hedge panics");
                }
                Ok::<_, TestError>(())
            })
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(
        DROPPED.load(SeqCst),
        2,
        "both attempts' futures were dropped"
    );
    let m = BREAKER.metrics();
    assert_eq!(
        (m.failures, m.released),
        (1, 1),
        "the panic a failure, the other released"
    );
    assert_eq!(POLICY.metrics().hedges, 1);
}

/// `hedge` (without `when`) starts the next hedge at once after any error; its policy prints
/// its settings.
#[tokio::test(start_paused = true)]
async fn hedge_without_when_hedges_after_any_error() {
    let policy = policy(100, 1);
    let start = Instant::now();
    let mut attempt = 0;
    let result = hedge(&policy, || {
        attempt += 1;
        let first = attempt == 1;
        async move {
            sleep(ms(5)).await;
            match first {
                true => Err(TestError::Failed(1)),
                false => Ok(start.elapsed()),
            }
        }
    })
    .await;
    assert_eq!(
        result,
        Ok(ms(10)),
        "the hedge started at 5 ms, not at 100 ms"
    );
    assert_eq!(
        format!("{policy:?}"),
        r#"HedgePolicy { name: "hedge.test", delay: 100ms, max_hedges: 1 }"#
    );
}

/// The registry's alert monitor sees a hedged call whose every attempt failed as a failed call.
#[tokio::test(start_paused = true)]
async fn failed_hedged_calls_raise_the_alert_level() {
    use resilient::monitor::AlertLevel;
    use resilient::registry;
    static FLAKY: HedgePolicy = HedgePolicy::new().name("hedge.alert").delay(ms(0));
    registry::register(&FLAKY);
    registry::sample();
    for _ in 0..20 {
        let failed = hedge(&FLAKY, || async { Err::<(), _>(TestError::Failed(1)) }).await;
        assert!(failed.is_err());
    }
    sleep(ms(10_000)).await;
    registry::sample();
    let info = registry::policies()
        .into_iter()
        .find(|p| p.name == "hedge.alert")
        .unwrap();
    assert_eq!(
        info.alert,
        Some(AlertLevel::Critical),
        "20 of 20 calls failed"
    );
}
