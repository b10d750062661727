//! Supervised restarts on virtual time: exact runs, waits between them, the sliding window,
//! panics, giving up, events, and cancellation.
//!
//! Every test that runs a supervisor captures events, even when it does not look at them: a
//! `tracing` callsite first reached on a thread with no subscriber can cache "never" while another
//! test's capture is being registered, and then that test sees no events.

mod common;

use common::capture::{Capture, Captured, field};
use common::{Calls, ms};
use resilient::Backoff;
use resilient::supervisor::{GaveUp, Supervisor};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tracing::Level;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// When each run of a component began, in virtual milliseconds since the recorder was made.
struct Starts {
    origin: Instant,
    times: Mutex<Vec<u64>>,
}

impl Starts {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            times: Mutex::new(Vec::new()),
        }
    }

    fn record(&self) {
        let elapsed = self.origin.elapsed().as_millis() as u64;
        self.times.lock().unwrap().push(elapsed);
    }

    fn times(&self) -> Vec<u64> {
        self.times.lock().unwrap().clone()
    }
}

/// Runs `supervisor` over a component whose `n`-th run lasts `runs_for(n)`, then fails, except
/// that run `succeeds_on` (if any) returns `Ok`. Returns the outcome and when each run began.
async fn supervise(
    supervisor: &Supervisor,
    runs_for: impl Fn(u32) -> Duration,
    succeeds_on: Option<u32>,
) -> (Result<(), GaveUp>, Vec<u64>) {
    let starts = Starts::new();
    let calls = Calls::default();
    let result = supervisor
        .run(|| {
            starts.record();
            let n = calls.next();
            let lasts = runs_for(n);
            async move {
                sleep(lasts).await;
                if Some(n) == succeeds_on {
                    Ok(())
                } else {
                    Err(format!("run {n} lost its connection"))
                }
            }
        })
        .await;
    (result, starts.times())
}

fn immediately(_: u32) -> Duration {
    Duration::ZERO
}

fn named<'a>(events: &'a [Captured], name: &str) -> Vec<&'a Captured> {
    events.iter().filter(|e| e.name == name).collect()
}

#[tokio::test(start_paused = true)]
async fn restarts_after_each_backoff_delay_until_the_component_finishes() {
    let (capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("listener")
        .backoff(Backoff::exponential(ms(100), secs(10)).jitter(0.0))
        .max_restarts(5)
        .within(secs(60));
    let origin = Instant::now();
    let (result, starts) = supervise(&supervisor, immediately, Some(4)).await;
    assert_eq!(result, Ok(()));
    assert_eq!(starts, [0, 100, 300, 700], "waits of 100, 200 and 400 ms");
    assert_eq!(supervisor.restarts(), 3);
    assert_eq!(supervisor.last_failure(), Some(origin + ms(300)));

    let events = capture.take();
    let names: Vec<_> = events.iter().map(|e| (e.name, e.level)).collect();
    assert_eq!(
        names,
        [
            ("supervisor.started", Level::DEBUG),
            ("supervisor.restarting", Level::WARN),
            ("supervisor.restarting", Level::WARN),
            ("supervisor.restarting", Level::WARN),
            ("supervisor.finished", Level::INFO),
        ]
    );
    assert_eq!(field(&events[0], "policy"), "listener");
    for (i, event) in events[1..4].iter().enumerate() {
        let n = i + 1;
        assert_eq!(field(event, "policy"), "listener");
        assert_eq!(field(event, "restart"), n.to_string());
        assert_eq!(field(event, "in_window"), n.to_string());
        assert_eq!(field(event, "delay_ms"), (100 << i).to_string());
        assert_eq!(field(event, "reason"), "error");
        assert_eq!(
            field(event, "error"),
            format!("\"run {n} lost its connection\"")
        );
    }
    assert_eq!(field(&events[4], "policy"), "listener");
    assert_eq!(field(&events[4], "restarts"), "3");
}

#[tokio::test(start_paused = true)]
async fn finishes_without_restarting_when_the_component_returns_ok() {
    let (capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("once");
    let (result, starts) = supervise(&supervisor, |_| secs(30), Some(1)).await;
    assert_eq!(result, Ok(()));
    assert_eq!(starts, [0]);
    assert_eq!(supervisor.restarts(), 0);
    assert_eq!(supervisor.last_failure(), None);
    let events = capture.take();
    assert_eq!(
        events.iter().map(|e| (e.name, e.level)).collect::<Vec<_>>(),
        [
            ("supervisor.started", Level::DEBUG),
            ("supervisor.finished", Level::INFO)
        ]
    );
    assert_eq!(field(&events[1], "restarts"), "0");
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_restarts_within_the_window() {
    let (capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("worker")
        .backoff(Backoff::constant(secs(1)))
        .max_restarts(3)
        .within(secs(60));
    let id = resilient::correlation::CorrelationId::new();
    let (result, starts) =
        resilient::correlation::scope(id, supervise(&supervisor, immediately, None)).await;

    assert_eq!(
        starts,
        [0, 1000, 2000, 3000],
        "the first run and 3 restarts"
    );
    let gave_up = result.unwrap_err();
    assert_eq!(gave_up.policy(), "worker");
    assert_eq!(gave_up.restarts(), 3);
    assert_eq!(gave_up.max_restarts(), 3);
    assert_eq!(gave_up.window(), secs(60));
    assert_eq!(gave_up.last_failure(), "\"run 4 lost its connection\"");
    assert!(!gave_up.panicked());
    assert_eq!(
        gave_up.to_string(),
        "supervisor `worker` gave up after 3 restart(s) (the limit is 3 within 60s); \
         last failure: \"run 4 lost its connection\""
    );
    assert_eq!(supervisor.restarts(), 3);

    let events = capture.take();
    assert_eq!(named(&events, "supervisor.restarting").len(), 3);
    let errors: Vec<_> = events.iter().filter(|e| e.level == Level::ERROR).collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    let gave_up_event = errors[0];
    assert_eq!(gave_up_event.name, "supervisor.gave_up");
    assert_eq!(events.last().unwrap().name, "supervisor.gave_up");
    assert_eq!(field(gave_up_event, "policy"), "worker");
    assert_eq!(field(gave_up_event, "restarts"), "3");
    assert_eq!(field(gave_up_event, "max_restarts"), "3");
    assert_eq!(field(gave_up_event, "window_ms"), "60000");
    assert_eq!(field(gave_up_event, "reason"), "error");
    assert_eq!(
        field(gave_up_event, "error"),
        "\"run 4 lost its connection\""
    );
    assert!(
        events
            .iter()
            .all(|e| field(e, "correlation_id") == id.to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn max_restarts_zero_gives_up_at_the_first_failure_without_waiting() {
    let (_capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("fragile").max_restarts(0);
    let (result, starts) = supervise(&supervisor, immediately, None).await;
    assert_eq!(starts, [0]);
    assert_eq!(result.unwrap_err().restarts(), 0);
    assert_eq!(supervisor.restarts(), 0);
}

#[tokio::test(start_paused = true)]
async fn failures_further_apart_than_the_window_never_give_up() {
    let (capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("poller")
        .backoff(Backoff::exponential(secs(1), secs(60)).jitter(0.0))
        .max_restarts(2)
        .within(secs(60));
    // Each run lasts two minutes, then fails; the sixth finishes.
    let (result, starts) = supervise(&supervisor, |_| secs(120), Some(6)).await;
    assert_eq!(result, Ok(()));
    assert_eq!(
        starts,
        [0, 121_000, 242_000, 363_000, 484_000, 605_000],
        "every wait is the first one, 1 s"
    );
    let events = capture.take();
    let restarting = named(&events, "supervisor.restarting");
    assert_eq!(restarting.len(), 5);
    assert!(restarting.iter().all(|e| field(e, "in_window") == "1"));
    assert!(named(&events, "supervisor.gave_up").is_empty());
    assert_eq!(supervisor.restarts(), 5);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_count_restarts_from_one_after_a_healthy_window() {
    let (_capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("consumer")
        .backoff(Backoff::exponential(secs(1), secs(60)).jitter(0.0))
        .max_restarts(10)
        .within(secs(60));
    // Runs 1-3 fail at once (waits 1, 2, 4 s); run 4 lasts a full window, so the wait after it is
    // 1 s again; run 5 fails at once (2 s); run 6 finishes.
    let runs_for = |n| if n == 4 { secs(60) } else { Duration::ZERO };
    let (result, starts) = supervise(&supervisor, runs_for, Some(6)).await;
    assert_eq!(result, Ok(()));
    assert_eq!(starts, [0, 1_000, 3_000, 7_000, 68_000, 70_000]);
}

#[tokio::test(start_paused = true)]
async fn a_shorter_healthy_run_keeps_the_recent_restarts_counted() {
    let (_capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("consumer")
        .backoff(Backoff::exponential(secs(1), secs(60)).jitter(0.0))
        .max_restarts(10)
        .within(secs(60));
    // As above, but run 4 lasts 55 s and fails at 62 s: the restarts at 3 and 7 s still count,
    // the one at 1 s has left the window, so the next wait is delay(3) = 4 s. Run 5 fails at once
    // at 66 s, when the restart at 3 s has left too: delay(3) again.
    let runs_for = |n| if n == 4 { secs(55) } else { Duration::ZERO };
    let (result, starts) = supervise(&supervisor, runs_for, Some(6)).await;
    assert_eq!(result, Ok(()));
    assert_eq!(starts, [0, 1_000, 3_000, 7_000, 66_000, 70_000]);
}

#[tokio::test(start_paused = true)]
async fn a_restart_leaves_the_window_exactly_within_after_it_began() {
    let (_capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("edge")
        .backoff(Backoff::none())
        .max_restarts(1)
        .within(secs(10));
    // Restart 1 begins at 0. Run 2 fails exactly 10 s later: restart 1 is out, restart 2 begins.
    // Run 3 fails 1 ms short of 10 s after restart 2: one restart within the window, give up.
    let runs_for = |n| match n {
        1 => Duration::ZERO,
        2 => secs(10),
        _ => ms(9_999),
    };
    let (result, starts) = supervise(&supervisor, runs_for, None).await;
    assert_eq!(starts, [0, 0, 10_000]);
    assert_eq!(result.unwrap_err().restarts(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_a_failure_with_its_message() {
    let (capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("parser")
        .backoff(Backoff::constant(ms(50)))
        .max_restarts(5);
    let starts = Starts::new();
    let calls = Calls::default();
    let result = supervisor
        .run(|| {
            starts.record();
            let n = calls.next();
            if n == 2 {
                panic!("factory refused");
            }
            async move {
                sleep(ms(10)).await;
                match n {
                    1 => panic!("bad frame {n}"),
                    3 => std::panic::panic_any(42_u8),
                    _ => Ok::<(), String>(()),
                }
            }
        })
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(starts.times(), [0, 60, 110, 170]);
    assert_eq!(supervisor.restarts(), 3);

    let events = capture.take();
    let restarting = named(&events, "supervisor.restarting");
    let failures: Vec<_> = restarting
        .iter()
        .map(|e| (field(e, "reason"), field(e, "error")))
        .collect();
    assert_eq!(
        failures,
        [
            ("panic", "bad frame 1"),
            ("panic", "factory refused"),
            ("panic", "panic with a payload that is not a string"),
        ]
    );
    assert_eq!(named(&events, "supervisor.finished").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn giving_up_after_a_panic_says_so() {
    let (capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("decoder").max_restarts(0);
    let result = supervisor
        .run(|| async { panic!("index out of bounds") as Result<(), String> })
        .await;
    let gave_up = result.unwrap_err();
    assert!(gave_up.panicked());
    assert_eq!(gave_up.last_failure(), "index out of bounds");
    assert_eq!(
        gave_up.to_string(),
        "supervisor `decoder` gave up after 0 restart(s) (the limit is 0 within 60s); \
         last failure: panic: index out of bounds"
    );
    let events = capture.take();
    let gave_up_event = named(&events, "supervisor.gave_up")[0];
    assert_eq!(gave_up_event.level, Level::ERROR);
    assert_eq!(field(gave_up_event, "reason"), "panic");
    assert_eq!(field(gave_up_event, "error"), "index out of bounds");
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_drops_the_running_component_and_its_factory() {
    let (_capture, _guard) = Capture::start();
    let component_dropped = Arc::new(AtomicBool::new(false));
    let factory_dropped = Arc::new(AtomicBool::new(false));
    let supervisor = Supervisor::new("connection");
    let factory_guard = DropFlag(factory_dropped.clone());
    let flag = component_dropped.clone();
    let mut run = Box::pin(supervisor.run(move || {
        let _owned_by_the_factory = &factory_guard;
        let guard = DropFlag(flag.clone());
        async move {
            let _guard = guard;
            std::future::pending::<Result<(), String>>().await
        }
    }));
    tokio::select! {
        _ = &mut run => panic!("the component never ends"),
        _ = sleep(secs(3600)) => {}
    }
    assert!(!component_dropped.load(Ordering::SeqCst), "still running");
    assert!(!factory_dropped.load(Ordering::SeqCst));
    drop(run);
    assert!(component_dropped.load(Ordering::SeqCst));
    assert!(factory_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_while_it_waits_to_restart_counts_no_restart() {
    let (_capture, _guard) = Capture::start();
    let supervisor = Supervisor::new("waiting").backoff(Backoff::constant(secs(10)));
    let calls = Calls::default();
    let run = supervisor.run(|| {
        calls.next();
        async { Err::<(), _>("down") }
    });
    assert!(tokio::time::timeout(secs(5), run).await.is_err());
    assert_eq!(calls.count(), 1);
    assert_eq!(supervisor.restarts(), 0);
    assert!(supervisor.last_failure().is_some());
}

#[tokio::test(start_paused = true)]
async fn the_run_of_a_static_supervisor_can_be_spawned() {
    let (_capture, _guard) = Capture::start();
    static SPAWNED: Supervisor = Supervisor::new("spawned").backoff(Backoff::constant(ms(10)));
    let calls = Arc::new(Calls::default());
    let counted = calls.clone();
    let handle = tokio::spawn(SPAWNED.run(move || {
        let n = counted.next();
        async move { if n < 3 { Err(n) } else { Ok(()) } }
    }));
    assert_eq!(handle.await.unwrap(), Ok(()));
    assert_eq!(calls.count(), 3);
    assert_eq!(SPAWNED.restarts(), 2);
}

#[test]
fn validate_accepts_what_the_setters_built() {
    assert_eq!(Supervisor::new("bus").max_restarts(0).validate(), Ok(()));
    assert_eq!(Supervisor::new("bus").within(ms(1)).validate(), Ok(()));
}

#[test]
fn gave_up_is_a_shareable_error() {
    fn assert_error<T: std::error::Error + Clone + Send + Sync + 'static>() {}
    assert_error::<GaveUp>();
}
