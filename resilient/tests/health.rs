//! Health checks: aggregation, timeouts, concurrency, panics, JSON, the built-ins and events.

mod common;

use common::capture::{Capture, field};
use common::{ms, temp_dir};
use resilient::correlation::{self, CorrelationId};
use resilient::health::{self, CheckOutcome, DiskSpace, HealthChecks, HealthReport, Status};
use serde_json::json;
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tracing::Level;

/// A check that answers `outcome` after `after`.
fn answers(after: Duration, outcome: CheckOutcome) -> impl health::Check {
    move || {
        let outcome = outcome.clone();
        async move {
            sleep(after).await;
            outcome
        }
    }
}

fn statuses(report: &HealthReport) -> Vec<(&str, Status)> {
    report
        .checks()
        .iter()
        .map(|c| (c.name(), c.status()))
        .collect()
}

async fn overall(outcomes: &[CheckOutcome]) -> Status {
    let mut checks = HealthChecks::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        checks = checks.add(format!("c{i}"), ms(100), answers(ms(1), outcome.clone()));
    }
    checks.run().await.status()
}

#[tokio::test(start_paused = true)]
async fn overall_status_is_the_worst_check() {
    let ok = || CheckOutcome::healthy("ok");
    let meh = || CheckOutcome::degraded("meh");
    let bad = || CheckOutcome::unhealthy("bad");
    assert_eq!(overall(&[]).await, Status::Healthy);
    assert_eq!(overall(&[ok(), ok()]).await, Status::Healthy);
    assert_eq!(overall(&[ok(), meh(), ok()]).await, Status::Degraded);
    assert_eq!(overall(&[meh(), bad(), ok()]).await, Status::Unhealthy);
    assert_eq!(overall(&[bad(), meh()]).await, Status::Unhealthy);
    assert_eq!(overall(&[meh()]).await, Status::Degraded);
}

#[tokio::test(start_paused = true)]
async fn report_lists_checks_in_the_order_added() {
    let report = HealthChecks::new()
        .add(
            "b",
            ms(100),
            answers(ms(20), CheckOutcome::degraded("slow disk")),
        )
        .add("a", ms(100), answers(ms(10), CheckOutcome::healthy("fine")))
        .add(
            "b",
            ms(100),
            answers(ms(0), CheckOutcome::unhealthy("down")),
        )
        .run()
        .await;
    assert_eq!(
        statuses(&report),
        [
            ("b", Status::Degraded),
            ("a", Status::Healthy),
            ("b", Status::Unhealthy)
        ]
    );
    let messages: Vec<_> = report.checks().iter().map(|c| c.message()).collect();
    assert_eq!(messages, ["slow disk", "fine", "down"]);
    let latencies: Vec<_> = report.checks().iter().map(|c| c.latency()).collect();
    assert_eq!(latencies, [ms(20), ms(10), ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn a_check_past_its_timeout_is_unhealthy_after_exactly_the_timeout() {
    let started = Instant::now();
    let report = HealthChecks::new()
        .add(
            "slow",
            ms(250),
            answers(ms(1_000), CheckOutcome::healthy("late")),
        )
        .add(
            "quick",
            ms(2_000),
            answers(ms(300), CheckOutcome::healthy("in time")),
        )
        .run()
        .await;
    assert_eq!(started.elapsed(), ms(300));
    let slow = &report.checks()[0];
    assert_eq!(slow.status(), Status::Unhealthy);
    assert_eq!(slow.latency(), ms(250));
    assert_eq!(slow.message(), "timed out after 250ms");
    let quick = &report.checks()[1];
    assert_eq!(
        (quick.status(), quick.latency()),
        (Status::Healthy, ms(300))
    );
    assert_eq!(report.status(), Status::Unhealthy);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_answers_exactly_at_its_timeout_counts() {
    let report = HealthChecks::new()
        .add(
            "edge",
            ms(100),
            answers(ms(100), CheckOutcome::healthy("just")),
        )
        .run()
        .await;
    assert_eq!(statuses(&report), [("edge", Status::Healthy)]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_passes_only_checks_that_do_not_wait() {
    let report = HealthChecks::new()
        .add("ready", Duration::ZERO, || async move {
            CheckOutcome::healthy("at once")
        })
        .add(
            "waits",
            Duration::ZERO,
            answers(ms(1), CheckOutcome::healthy("later")),
        )
        .run()
        .await;
    assert_eq!(
        statuses(&report),
        [("ready", Status::Healthy), ("waits", Status::Unhealthy)]
    );
    assert_eq!(report.checks()[1].message(), "timed out after 0ns");
}

#[tokio::test(start_paused = true)]
async fn checks_run_concurrently() {
    let started = Instant::now();
    let report = HealthChecks::new()
        .add("one", ms(500), answers(ms(100), CheckOutcome::healthy("1")))
        .add("two", ms(500), answers(ms(100), CheckOutcome::healthy("2")))
        .add(
            "three",
            ms(500),
            answers(ms(60), CheckOutcome::healthy("3")),
        )
        .run()
        .await;
    assert_eq!(started.elapsed(), ms(100));
    assert_eq!(report.status(), Status::Healthy);
    let latencies: Vec<_> = report.checks().iter().map(|c| c.latency()).collect();
    assert_eq!(latencies, [ms(100), ms(100), ms(60)]);
}

#[tokio::test(start_paused = true)]
async fn the_run_future_is_send_so_a_handler_can_spawn_it() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let checks = HealthChecks::new().add("x", ms(10), || async move { CheckOutcome::healthy("") });
    let report = assert_send(checks.run()).await;
    assert_eq!(report.status(), Status::Healthy);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_is_unhealthy_and_the_others_are_reported() {
    let started = Instant::now();
    let report = HealthChecks::new()
        .add("panics_while_running", ms(500), || async move {
            sleep(ms(40)).await;
            panic!("connection pool poisoned");
        })
        .add(
            "panics_when_called",
            ms(500),
            || -> std::future::Ready<CheckOutcome> {
                let id = 7;
                panic!("no check for id {id}")
            },
        )
        .add(
            "fine",
            ms(500),
            answers(ms(80), CheckOutcome::healthy("ok")),
        )
        .run()
        .await;
    assert_eq!(started.elapsed(), ms(80));
    assert_eq!(
        statuses(&report),
        [
            ("panics_while_running", Status::Unhealthy),
            ("panics_when_called", Status::Unhealthy),
            ("fine", Status::Healthy),
        ]
    );
    let [running, called, _] = report.checks() else {
        panic!("three checks")
    };
    assert_eq!(running.message(), "panicked: connection pool poisoned");
    assert_eq!(running.latency(), ms(40));
    assert_eq!(called.message(), "panicked: no check for id 7");
    assert_eq!(called.latency(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_report_serialises_to_json() {
    let report = HealthChecks::new()
        .add(
            "db",
            ms(100),
            answers(ms(12), CheckOutcome::healthy("answered a ping")),
        )
        .add(
            "cache",
            ms(100),
            answers(ms(30), CheckOutcome::degraded("1 of 3 nodes down")),
        )
        .add(
            "search",
            ms(50),
            answers(ms(60), CheckOutcome::healthy("late")),
        )
        .run()
        .await;
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({
            "status": "unhealthy",
            "checks": [
                { "name": "db", "status": "healthy", "latency_ms": 12, "message": "answered a ping" },
                { "name": "cache", "status": "degraded", "latency_ms": 30, "message": "1 of 3 nodes down" },
                { "name": "search", "status": "unhealthy", "latency_ms": 50, "message": "timed out after 50ms" },
            ]
        })
    );
    let empty = HealthChecks::new().run().await;
    assert_eq!(
        serde_json::to_string(&empty).unwrap(),
        r#"{"status":"healthy","checks":[]}"#
    );
}

#[test]
fn statuses_are_ordered_and_named_in_lowercase() {
    assert!(Status::Healthy < Status::Degraded && Status::Degraded < Status::Unhealthy);
    for (status, name) in [
        (Status::Healthy, "healthy"),
        (Status::Degraded, "degraded"),
        (Status::Unhealthy, "unhealthy"),
    ] {
        assert_eq!(status.as_str(), name);
        assert_eq!(status.to_string(), name);
        assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
    }
}

async fn one(check: impl health::Check) -> resilient::health::CheckReport {
    let report = HealthChecks::new().add("it", ms(1_000), check).run().await;
    report.checks()[0].clone()
}

/// Splits "… `path`: 41.3 GiB free…" into the figure and its unit.
fn figure_after<'a>(message: &'a str, prefix: &str) -> (f64, &'a str) {
    let rest = message
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{message:?} does not start with {prefix:?}"));
    let mut words = rest.split([' ', ',']);
    let number = words.next().unwrap().parse().expect("a figure");
    (number, words.next().unwrap())
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn disk_space_compares_free_space_with_the_minimum() {
    let dir = temp_dir("health-disk");
    let prefix = format!("disk `{}`: ", dir.display());

    let roomy = one(health::disk_space(&dir).min_free(0)).await;
    assert_eq!(roomy.status(), Status::Healthy, "{}", roomy.message());
    assert!(
        roomy.message().ends_with(" free (minimum 0 B)"),
        "{}",
        roomy.message()
    );
    let (free, unit) = figure_after(roomy.message(), &prefix);
    assert!(free >= 0.0 && ["B", "KiB", "MiB", "GiB", "TiB", "PiB"].contains(&unit));

    let cramped = one(health::disk_space(&dir).min_free(u64::MAX)).await;
    assert_eq!(cramped.status(), Status::Unhealthy);
    assert!(
        cramped
            .message()
            .ends_with(" free, below the minimum of 16.0 EiB"),
        "{}",
        cramped.message()
    );
    figure_after(cramped.message(), &prefix);

    let default = one(health::disk_space(&dir)).await;
    assert!(default.message().starts_with(&prefix));
    let expected_end = match default.status() {
        Status::Healthy => " free (minimum 1.0 GiB)",
        _ => " free, below the minimum of 1.0 GiB",
    };
    assert!(
        default.message().ends_with(expected_end),
        "{}",
        default.message()
    );
    assert_eq!(DiskSpace::DEFAULT_MIN_FREE, 1 << 30);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn disk_space_of_a_missing_path_is_unhealthy_with_the_error() {
    let missing = temp_dir("health-missing").join("not-there");
    let report = one(health::disk_space(&missing).min_free(0)).await;
    assert_eq!(report.status(), Status::Unhealthy);
    assert!(
        report.message().starts_with(&format!(
            "disk `{}`: cannot read free space: No such file or directory",
            missing.display()
        )),
        "{}",
        report.message()
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(start_paused = true)]
async fn memory_reports_the_available_figure() {
    let plenty = one(health::memory().min_available(0)).await;
    assert_eq!(plenty.status(), Status::Healthy, "{}", plenty.message());
    assert!(
        plenty.message().ends_with(" (minimum 0 B)"),
        "{}",
        plenty.message()
    );
    let (available, unit) = figure_after(plenty.message(), "available memory: ");
    assert!(available > 0.0 && ["KiB", "MiB", "GiB", "TiB"].contains(&unit));

    let short = one(health::memory().min_available(u64::MAX)).await;
    assert_eq!(short.status(), Status::Unhealthy);
    assert!(
        short.message().ends_with(", below the minimum of 16.0 EiB"),
        "{}",
        short.message()
    );
    figure_after(short.message(), "available memory: ");

    let default = one(health::memory()).await;
    assert!(
        default.message().contains("128.0 MiB"),
        "{}",
        default.message()
    );
}

#[cfg(not(target_os = "linux"))]
#[tokio::test(start_paused = true)]
async fn memory_is_degraded_where_it_cannot_be_measured() {
    let report = one(health::memory()).await;
    assert_eq!(report.status(), Status::Degraded);
    assert!(
        report
            .message()
            .starts_with("available memory is unknown: ")
    );
}

#[tokio::test(start_paused = true)]
async fn failed_checks_and_the_report_are_logged() {
    let (capture, _guard) = Capture::start();
    let id = CorrelationId::new();
    let checks = HealthChecks::new()
        .add("db", ms(100), answers(ms(5), CheckOutcome::healthy("fine")))
        .add(
            "cache",
            ms(100),
            answers(ms(30), CheckOutcome::degraded("1 of 3 nodes down")),
        )
        .add(
            "search",
            ms(50),
            answers(ms(60), CheckOutcome::healthy("late")),
        );
    correlation::scope(id, checks.run()).await;

    let events = capture.take();
    let names: Vec<_> = events.iter().map(|e| (e.name, e.level)).collect();
    assert_eq!(
        names,
        [
            ("health.check_failed", Level::WARN),
            ("health.check_failed", Level::ERROR),
            ("health.report", Level::ERROR),
        ]
    );
    let [cache, search, report] = &events[..] else {
        unreachable!()
    };
    for (event, check, status, latency, message) in [
        (cache, "cache", "degraded", "30", "1 of 3 nodes down"),
        (search, "search", "unhealthy", "50", "timed out after 50ms"),
    ] {
        assert_eq!(field(event, "check"), check);
        assert_eq!(field(event, "status"), status);
        assert_eq!(field(event, "latency_ms"), latency);
        assert_eq!(field(event, "message"), message);
        assert_eq!(field(event, "correlation_id"), id.to_string());
    }
    assert_eq!(field(report, "status"), "unhealthy");
    assert_eq!(field(report, "checks"), "3");
    assert_eq!(field(report, "failed"), "2");
    assert_eq!(field(report, "correlation_id"), id.to_string());
}

#[tokio::test(start_paused = true)]
async fn the_report_level_follows_the_overall_status() {
    let (capture, _guard) = Capture::start();
    HealthChecks::new().run().await;
    HealthChecks::new()
        .add("ok", ms(10), answers(ms(1), CheckOutcome::healthy("fine")))
        .run()
        .await;
    HealthChecks::new()
        .add("meh", ms(10), answers(ms(1), CheckOutcome::degraded("meh")))
        .run()
        .await;
    assert_eq!(
        capture.names(),
        [
            ("health.report", Level::DEBUG),
            ("health.report", Level::DEBUG),
            ("health.check_failed", Level::WARN),
            ("health.report", Level::WARN),
        ]
    );
}

/// The only test of this binary that registers breakers: what it sees is its own.
#[tokio::test(start_paused = true)]
async fn open_breakers_names_each_breaker_not_closed_with_its_state() {
    use health::Check;
    use resilient::{BreakerConfig, CircuitBreaker, registry};
    static CLOSED: CircuitBreaker = CircuitBreaker::new("health.closed", BreakerConfig::new());
    static OPEN: CircuitBreaker =
        CircuitBreaker::new("health.open", BreakerConfig::new().failure_threshold(1));
    static FORCED: CircuitBreaker = CircuitBreaker::new("health.forced", BreakerConfig::new());
    static OFF: CircuitBreaker = CircuitBreaker::new("health.off", BreakerConfig::new());
    for breaker in [&CLOSED, &OPEN, &FORCED, &OFF] {
        registry::register(breaker);
    }
    let outcome = health::open_breakers().check().await;
    assert_eq!(
        (outcome.status(), outcome.message()),
        (Status::Healthy, "4 closed")
    );
    OPEN.try_acquire().unwrap().failure();
    FORCED.force_open();
    OFF.disable();
    let outcome = health::open_breakers().check().await;
    assert_eq!(outcome.status(), Status::Degraded);
    assert_eq!(
        outcome.message(),
        "not closed: `health.open` (open), `health.forced` (forced_open); disabled: `health.off` (disabled)"
    );
}

/// `network`: a listener accepts, a closed port does not; `http_get` reads the answer's status,
/// and a peer that is not HTTP, or never answers, is unhealthy (the last at the check's timeout).
#[tokio::test(start_paused = true)]
async fn the_network_check_connects_and_reads_the_http_status() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// A server on loopback answering each connection with `answer` (none: it never answers).
    async fn serving(answer: Option<&'static str>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 256];
                let _ = stream.read(&mut request).await;
                match answer {
                    Some(answer) => {
                        let _ = stream.write_all(answer.as_bytes()).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        });
        address
    }
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let ok = serving(Some("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).await;
    let failing = serving(Some("HTTP/1.1 503 Service Unavailable\r\n\r\n")).await;
    let garbage = serving(Some("SSH-2.0-OpenSSH_9.2\r\n")).await;
    let silent = serving(None).await;
    let second = Duration::from_secs(1);
    let report = HealthChecks::new()
        .add("open", second, health::network(ok.clone()))
        .add("closed", second, health::network(closed.clone()))
        .add(
            "ok",
            second,
            health::network(ok.clone()).http_get("/health", 200),
        )
        .add(
            "failing",
            second,
            health::network(failing.clone()).http_get("/health", 200),
        )
        .add(
            "garbage",
            second,
            health::network(garbage).http_get("/", 200),
        )
        .add("silent", second, health::network(silent).http_get("/", 200))
        .run()
        .await;
    let outcomes: Vec<_> = report
        .checks()
        .iter()
        .map(|c| (c.name().to_owned(), c.status(), c.message().to_owned()))
        .collect();
    assert_eq!(
        outcomes[0],
        (
            "open".into(),
            Status::Healthy,
            format!("`{ok}` accepts connections")
        )
    );
    assert_eq!(outcomes[1].1, Status::Unhealthy);
    assert!(
        outcomes[1]
            .2
            .starts_with(&format!("`{closed}`: cannot connect: ")),
        "{}",
        outcomes[1].2
    );
    assert_eq!(
        outcomes[2],
        (
            "ok".into(),
            Status::Healthy,
            format!("GET /health on `{ok}`: 200")
        )
    );
    assert_eq!(
        outcomes[3],
        (
            "failing".into(),
            Status::Unhealthy,
            format!("GET /health on `{failing}`: 503, expected 200")
        )
    );
    assert_eq!(outcomes[4].1, Status::Unhealthy);
    assert!(
        outcomes[4].2.contains("not an HTTP answer"),
        "{}",
        outcomes[4].2
    );
    assert_eq!(outcomes[5].1, Status::Unhealthy);
    assert_eq!(outcomes[5].2, "timed out after 1s");
}
