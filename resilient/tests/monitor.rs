//! Alert levels from sampled totals, on virtual time: the default thresholds, the sliding windows,
//! unavailability, `minimum_calls`, the events and refused thresholds.

mod common;

use common::capture::{Capture, Captured, field};
use resilient::monitor::{AlertLevel, AlertThresholds, ErrorRateMonitor, Sample};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use tokio::time::{Instant, advance, sleep};
use tracing::Level;

use AlertLevel::{Critical, Emergency, Normal, Warning};

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A policy's running totals, observed by the monitor after each step of virtual time.
struct Policy<'m> {
    monitor: &'m ErrorRateMonitor,
    totals: Sample,
    start: Instant,
}

impl<'m> Policy<'m> {
    /// Observes zero totals now, the start of the history.
    fn start(monitor: &'m ErrorRateMonitor) -> Self {
        monitor.observe(Sample::default());
        Self {
            monitor,
            totals: Sample::default(),
            start: Instant::now(),
        }
    }

    /// Waits `after`, adds `calls` calls of which `failures` failed, observes; returns the level.
    async fn step(&mut self, after: Duration, calls: u64, failures: u64) -> AlertLevel {
        advance(after).await;
        self.totals.calls += calls;
        self.totals.failures += failures;
        self.monitor.observe(self.totals);
        self.monitor.level()
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

fn default_monitor(policy: &'static str) -> ErrorRateMonitor {
    ErrorRateMonitor::new(policy, AlertThresholds::default()).unwrap()
}

/// Checks one `alert.level_changed` event's level and fields (`critical` only for an emergency).
#[track_caller]
fn assert_change(
    e: &Captured,
    level: Level,
    (to, from): (AlertLevel, AlertLevel),
    error_rate: &str,
    window_ms: &str,
) {
    assert_eq!((e.name, e.level), ("alert.level_changed", level), "{e:?}");
    assert_eq!(field(e, "level"), to.as_str());
    assert_eq!(field(e, "previous"), from.as_str());
    assert_eq!(field(e, "error_rate"), error_rate);
    assert_eq!(field(e, "window_ms"), window_ms);
    assert_eq!(
        e.fields.get("critical").map(String::as_str),
        (to == Emergency).then_some("true")
    );
}

#[tokio::test(start_paused = true)]
async fn above_one_percent_over_five_minutes_warns_but_spread_errors_are_not_critical() {
    let (capture, _guard) = Capture::start();
    let monitor = default_monitor("search");
    let mut policy = Policy::start(&monitor);
    // 25 steps of 12 s: 1000 calls in 5 minutes; 2 failures every 5 steps (exactly 1 % at every
    // fifth step, which is not above it), and an 11th failure in the last step.
    for k in 1..=25_u64 {
        let failures = u64::from(k % 5 == 3 || k % 5 == 0) + u64::from(k == 25);
        let level = policy.step(secs(12), 40, failures).await;
        let expected = if k < 25 { Normal } else { Warning };
        assert_eq!(level, expected, "after step {k}");
    }
    assert_eq!((policy.totals.calls, policy.totals.failures), (1_000, 11));
    assert_eq!(monitor.error_rate(secs(300)), Some(0.011));
    // The last minute: 200 calls, 3 failed.
    assert_eq!(monitor.error_rate(secs(60)), Some(0.015));

    let events = capture.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_change(
        &events[0],
        Level::WARN,
        (Warning, Normal),
        "0.011",
        "300000",
    );
    assert_eq!(field(&events[0], "policy"), "search");
    assert_eq!(
        field(&events[0], "message"),
        "policy `search`: alert level warning (was normal): 1.1 % errors over 300s"
    );
}

#[tokio::test(start_paused = true)]
async fn six_percent_in_a_minute_is_critical_until_the_windows_slide_past_it() {
    let (capture, _guard) = Capture::start();
    let monitor = default_monitor("orders");
    let mut policy = Policy::start(&monitor);
    let mut changes = Vec::new();
    let mut level = Normal;
    // Steps of 12 s, 40 calls each; 12 of the 40 calls of step 30 (t = 360 s) fail: 6 % of the
    // 200 calls of that minute.
    for k in 1..=60 {
        let now = policy
            .step(secs(12), 40, if k == 30 { 12 } else { 0 })
            .await;
        if now != level {
            changes.push((policy.elapsed(), now));
            level = now;
        }
    }
    // Out of the 1-minute window once the sample before them (t = 348 s) is more than a minute
    // old: t = 420 s, the first sample after 408 s; the level is left at the next sample still
    // below it, t = 432 s. Out of the 5-minute window at t = 660 s, left at t = 672 s.
    assert_eq!(
        changes,
        [
            (secs(360), Critical),
            (secs(432), Warning),
            (secs(672), Normal)
        ]
    );

    let events = capture.take();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_change(
        &events[0],
        Level::ERROR,
        (Critical, Normal),
        "0.06",
        "60000",
    );
    assert_eq!(
        field(&events[0], "message"),
        "policy `orders`: alert level critical (was normal): 6.0 % errors over 60s"
    );
    // Down a step, short of normal: still WARN. The 12 failures among the 1000 calls of 5 min.
    assert_change(
        &events[1],
        Level::WARN,
        (Warning, Critical),
        "0.012",
        "300000",
    );
    // Recovery.
    assert_change(&events[2], Level::INFO, (Normal, Warning), "0.0", "300000");
    assert_eq!(
        field(&events[2], "message"),
        "policy `orders`: alert level normal (was warning): 0.0 % errors over 300s"
    );
}

#[tokio::test(start_paused = true)]
async fn unavailable_for_five_minutes_is_not_yet_an_emergency_one_sample_later_it_is() {
    let (capture, _guard) = Capture::start();
    let monitor = default_monitor("inventory");
    let mut policy = Policy::start(&monitor);
    for _ in 0..6 {
        policy.step(secs(10), 40, 0).await;
    }
    // The breaker opens; its rejections are not counted here, so no calls at all.
    policy.totals.unavailable = true;
    assert_eq!(policy.step(secs(10), 0, 0).await, Normal);
    let opened = policy.elapsed();
    assert_eq!(monitor.unavailable_for(), Some(Duration::ZERO));
    while policy.elapsed() < opened + secs(300) {
        assert_eq!(policy.step(secs(10), 0, 0).await, Normal);
    }
    assert_eq!(monitor.unavailable_for(), Some(secs(300)));
    assert!(capture.take().is_empty());

    assert_eq!(policy.step(secs(10), 0, 0).await, Emergency);
    assert_eq!(monitor.unavailable_for(), Some(secs(310)));
    let events = capture.take();
    assert_eq!(events.len(), 1, "{events:?}");
    // No call was let through: all the calls asked for were refused.
    assert_change(
        &events[0],
        Level::ERROR,
        (Emergency, Normal),
        "1.0",
        "310000",
    );
    assert_eq!(
        field(&events[0], "message"),
        "policy `inventory`: alert level emergency (was normal): unavailable for 310s"
    );

    // Closed again but no traffic yet: nothing proves the policy works, the outage goes on.
    policy.totals.unavailable = false;
    assert_eq!(policy.step(secs(10), 0, 0).await, Emergency);
    assert_eq!(monitor.unavailable_for(), Some(secs(320)));
    // One success ends it.
    assert_eq!(policy.step(secs(10), 40, 0).await, Normal);
    assert_eq!(monitor.unavailable_for(), None);
    let events = capture.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_change(
        &events[0],
        Level::INFO,
        (Normal, Emergency),
        "0.0",
        "300000",
    );
}

#[tokio::test(start_paused = true)]
async fn every_call_failing_is_unavailability_until_one_succeeds() {
    let (capture, _guard) = Capture::start();
    let monitor = default_monitor("mail");
    let mut policy = Policy::start(&monitor);
    for _ in 0..6 {
        policy.step(secs(10), 40, 0).await;
    }
    // From t = 70 s every call fails.
    assert_eq!(policy.step(secs(10), 40, 40).await, Critical);
    let failing_since = policy.elapsed();
    while policy.elapsed() < failing_since + secs(300) {
        // A quiet half-minute in the middle neither ends the outage nor lowers the level.
        let calls = if policy.elapsed() >= secs(200) && policy.elapsed() < secs(230) {
            0
        } else {
            40
        };
        assert_eq!(policy.step(secs(10), calls, calls).await, Critical);
    }
    assert_eq!(monitor.unavailable_for(), Some(secs(300)));
    assert_eq!(policy.step(secs(10), 40, 40).await, Emergency);

    // One call of 40 succeeds: the outage is over, the error rate still critical.
    assert_eq!(policy.step(secs(10), 40, 39).await, Critical);
    assert_eq!(monitor.unavailable_for(), None);

    let events = capture.take();
    assert_eq!(events.len(), 3, "{events:?}");
    // The first failing minute: 5 clean steps of 40 calls, then 40 failures.
    assert_change(
        &events[0],
        Level::ERROR,
        (Critical, Normal),
        &format!("{:?}", 40.0 / 240.0),
        "60000",
    );
    assert_change(
        &events[1],
        Level::ERROR,
        (Emergency, Critical),
        "1.0",
        "310000",
    );
    // The last minute: 6 steps of 40 calls, one success.
    assert_change(
        &events[2],
        Level::WARN,
        (Critical, Emergency),
        &format!("{:?}", 239.0 / 240.0),
        "60000",
    );
}

#[tokio::test(start_paused = true)]
async fn rates_are_judged_only_from_minimum_calls() {
    let (capture, _guard) = Capture::start();
    let monitor = default_monitor("quiet");
    let mut policy = Policy::start(&monitor);
    // 5 of 19 calls failed: 26 %, but the default minimum is 20 calls.
    assert_eq!(policy.step(secs(10), 19, 5).await, Normal);
    assert!(capture.take().is_empty());
    // The 20th call succeeds: 5 of 20 is 25 %.
    assert_eq!(policy.step(secs(10), 1, 0).await, Critical);
    let events = capture.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_change(
        &events[0],
        Level::ERROR,
        (Critical, Normal),
        "0.25",
        "60000",
    );

    // One failure in the 20 calls of a minute is 5 %: not above the critical rate, so the
    // default minimum never makes a lone failure critical; it is above the warning rate.
    let single = default_monitor("single");
    let mut policy = Policy::start(&single);
    assert_eq!(policy.step(secs(10), 20, 1).await, Warning);
    assert_eq!(capture.take().len(), 1);

    // A monitor that judges from one call: its first failure is critical.
    let eager = ErrorRateMonitor::new("eager", AlertThresholds::new().minimum_calls(1)).unwrap();
    let mut policy = Policy::start(&eager);
    assert_eq!(policy.step(secs(10), 1, 1).await, Critical);
    assert_eq!(capture.take().len(), 1);

    // A policy that gets no calls at all stays normal and is never unavailable.
    let idle = default_monitor("idle");
    let mut policy = Policy::start(&idle);
    for _ in 0..60 {
        assert_eq!(policy.step(secs(10), 0, 0).await, Normal);
    }
    assert_eq!(idle.unavailable_for(), None);
    assert_eq!(idle.error_rate(secs(300)), None);
    assert!(capture.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn watch_samples_on_its_own_tick() {
    let monitor = default_monitor("watched");
    let calls = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let sample = || Sample {
        calls: calls.load(SeqCst),
        failures: failures.load(SeqCst),
        unavailable: false,
    };
    // The watcher samples at 0, 10, 20 … s; 40 failing calls land at 5, 15, … 55 s.
    let traffic = async {
        sleep(secs(5)).await;
        for _ in 0..6 {
            calls.fetch_add(40, SeqCst);
            failures.fetch_add(40, SeqCst);
            sleep(secs(10)).await;
        }
    };
    tokio::select! {
        never = monitor.watch(secs(10), sample) => panic!("watch returned {never:?}"),
        () = traffic => {}
    }
    assert_eq!(monitor.level(), Critical);
    // First seen failing at 10 s, last sampled at 60 s.
    assert_eq!(monitor.unavailable_for(), Some(secs(50)));
    assert_eq!(monitor.error_rate(secs(60)), Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn bad_thresholds_and_periods_are_refused_naming_the_key_and_value() {
    let cases = [
        (
            AlertThresholds::new().warning_rate(1.5),
            "warning_rate",
            "policy `db`: `warning_rate` must be between 0 and 1 (got 1.5)",
        ),
        (
            AlertThresholds::new().warning_rate(f64::NAN),
            "warning_rate",
            "policy `db`: `warning_rate` must be between 0 and 1 (got NaN)",
        ),
        (
            AlertThresholds::new().critical_rate(-0.1),
            "critical_rate",
            "policy `db`: `critical_rate` must be between 0 and 1 (got -0.1)",
        ),
        (
            AlertThresholds::new().warning_window(Duration::ZERO),
            "warning_window",
            "policy `db`: `warning_window` must be longer than zero (got 0ns)",
        ),
        (
            AlertThresholds::new().critical_window(Duration::ZERO),
            "critical_window",
            "policy `db`: `critical_window` must be longer than zero (got 0ns)",
        ),
        (
            AlertThresholds::new().emergency_after(Duration::ZERO),
            "emergency_after",
            "policy `db`: `emergency_after` must be longer than zero (got 0ns)",
        ),
        (
            AlertThresholds::new().minimum_calls(0),
            "minimum_calls",
            "policy `db`: `minimum_calls` must be at least 1 (got 0)",
        ),
    ];
    for (thresholds, key, message) in cases {
        let err = ErrorRateMonitor::new("db", thresholds).unwrap_err();
        assert_eq!((err.key(), err.to_string().as_str()), (key, message));
    }
    // The bounds themselves are allowed: 0 alerts on any failure, 1 never.
    let edges = AlertThresholds::new().warning_rate(0.0).critical_rate(1.0);
    assert_eq!(edges.validate(), Ok(()));

    let monitor = default_monitor("db");
    let err = monitor
        .watch(Duration::ZERO, Sample::default)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `db`: `every` must be longer than zero (got 0ns)"
    );
}

#[test]
fn levels_are_ordered_and_spelled_in_lowercase() {
    assert!(Normal < Warning && Warning < Critical && Critical < Emergency);
    let names: Vec<_> = [Normal, Warning, Critical, Emergency]
        .iter()
        .map(|l| (l.to_string(), serde_json::to_string(l).unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("normal".into(), r#""normal""#.into()),
            ("warning".into(), r#""warning""#.into()),
            ("critical".into(), r#""critical""#.into()),
            ("emergency".into(), r#""emergency""#.into()),
        ]
    );
}

/// Thresholds judged over the last 10 s, so that with a sample every 10 s each window is the
/// last step: a rate that alternates around a threshold from one sample to the next.
fn ten_second_windows() -> AlertThresholds {
    AlertThresholds::new()
        .warning_window(secs(10))
        .critical_window(secs(10))
}

/// The levels after each step of 100 calls every 10 s with these failures.
async fn levels(monitor: &ErrorRateMonitor, failures: &[u64]) -> Vec<AlertLevel> {
    let mut policy = Policy::start(monitor);
    let mut levels = Vec::new();
    for &failed in failures {
        levels.push(policy.step(secs(10), 100, failed).await);
    }
    levels
}

/// A rate alternating around 5 % every sample: without hysteresis (`clear_after` zero) the level
/// flips on every sample; by default it stays critical until two samples in a row are below, then
/// stays warning while the rate alternates around 1 %, and is normal after two clean samples.
#[tokio::test(start_paused = true)]
async fn a_rate_hovering_at_a_threshold_does_not_flip_the_level_on_every_sample() {
    let failures = [6, 4, 6, 4, 6, 4, 4, 2, 0, 2, 0, 2, 0, 0];
    let (capture, _guard) = Capture::start();
    let flipping = ErrorRateMonitor::new("flipping", ten_second_windows().clear_after(secs(0)));
    let flipping = levels(&flipping.unwrap(), &failures).await;
    assert_eq!(
        flipping,
        [
            Critical, Warning, Critical, Warning, Critical, Warning, Warning, Warning, Normal,
            Warning, Normal, Warning, Normal, Normal
        ]
    );
    assert_eq!(capture.take().len(), 11, "a change on nearly every sample");

    let steady = ErrorRateMonitor::new("steady", ten_second_windows()).unwrap();
    assert_eq!(
        levels(&steady, &failures).await,
        [
            Critical, Critical, Critical, Critical, Critical, Critical, Warning, Warning, Warning,
            Warning, Warning, Warning, Warning, Normal
        ]
    );
    let events = capture.take();
    assert_eq!(events.len(), 3, "{events:?}");
    // Left at the second sample in a row below it: 4 % over the last 10 s.
    assert_change(
        &events[1],
        Level::WARN,
        (Warning, Critical),
        "0.04",
        "10000",
    );
    assert_change(&events[2], Level::INFO, (Normal, Warning), "0.0", "10000");
}

/// `clear_after(30 s)` with a sample every 10 s: a level is left at the fourth sample in a row
/// below it (the first, and three more 10 s apart).
#[tokio::test(start_paused = true)]
async fn clear_after_is_how_long_the_samples_stay_below_a_level() {
    let monitor = ErrorRateMonitor::new("patient", ten_second_windows().clear_after(secs(30)));
    assert_eq!(
        levels(&monitor.unwrap(), &[6, 0, 0, 6, 0, 0, 0, 0]).await,
        [
            Critical, Critical, Critical, Critical, Critical, Critical, Critical, Normal
        ]
    );
}
