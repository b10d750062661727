//! A flaky dependency called through retry › circuit breaker › timeout, on tokio's virtual clock
//! (so the minutes of waiting it shows take milliseconds).
//!
//! Run it with `cargo run --example tour`. Each line tells what the service did, what the caller
//! got back, and where the breaker stands; the library's own events (WARN/INFO) are interleaved,
//! each with the correlation id of the request that caused it. At the end: every policy in the
//! registry with its metrics, and the health report as JSON.

use resilient::correlation::{self, CorrelationId};
use resilient::health::{self, HealthChecks};
use resilient::registry::{self, PolicyMetrics};
use resilient::{BreakerConfig, CircuitBreaker, Rejected, circuit_breaker, retry, timeout};
use std::cell::Cell;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
enum FetchError {
    Unavailable,
    Rejected(Rejected),
}

impl From<Rejected> for FetchError {
    fn from(r: Rejected) -> Self {
        FetchError::Rejected(r)
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Unavailable => f.write_str("503 service unavailable"),
            FetchError::Rejected(r) => r.fmt(f),
        }
    }
}

/// How the simulated service behaves on its next calls.
#[derive(Clone, Copy, Debug)]
enum Health {
    /// Fails this many more calls, then is healthy.
    Flaky(u32),
    /// Every call fails.
    Down,
    /// Every call hangs for a long time.
    Hanging,
    Healthy,
}

struct Service {
    health: Cell<Health>,
    calls: Cell<u32>,
    started: Instant,
}

impl Service {
    async fn fetch(&self, id: u32) -> Result<String, FetchError> {
        self.calls.set(self.calls.get() + 1);
        let t = self.started.elapsed();
        let outcome = match self.health.get() {
            Health::Flaky(0) | Health::Healthy => Ok(format!("user #{id}")),
            Health::Flaky(n) => {
                self.health.set(Health::Flaky(n - 1));
                Err(FetchError::Unavailable)
            }
            Health::Down => Err(FetchError::Unavailable),
            Health::Hanging => {
                println!(
                    "    [{t:>9.3?}] service: call {} hangs...",
                    self.calls.get()
                );
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(format!("user #{id}, too late"))
            }
        };
        match &outcome {
            Ok(_) => println!(
                "    [{t:>9.3?}] service: call {} answered",
                self.calls.get()
            ),
            Err(e) => println!(
                "    [{t:>9.3?}] service: call {} failed: {e}",
                self.calls.get()
            ),
        }
        outcome
    }
}

/// Shared, so that the demo can print its state and metrics.
static BREAKER: CircuitBreaker = CircuitBreaker::new(
    "users",
    BreakerConfig::new()
        .failure_threshold(3)
        .recovery_timeout(Duration::from_secs(30)),
);

/// retry › circuit breaker › timeout, outermost first.
#[retry(name = "users", max_attempts = 4, backoff = exponential(base = "200ms", max = "5s", jitter = 0.0))]
#[circuit_breaker(breaker = &BREAKER)]
#[timeout("2s", name = "users")]
async fn get_user(service: &Service, id: u32) -> Result<String, FetchError> {
    service.fetch(id).await
}

async fn request(service: &Service, id: u32) {
    let start = Instant::now();
    // One correlation id per request: every event it causes carries it.
    let result = correlation::scope(CorrelationId::new(), get_user(service, id)).await;
    let took = start.elapsed();
    match result {
        Ok(user) => println!(
            "  => got {user} after {took:?}; breaker {:?}",
            BREAKER.state()
        ),
        Err(e) => println!(
            "  => error after {took:?}: {e}; breaker {:?}",
            BREAKER.state()
        ),
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .init();
    let service = Service {
        health: Cell::new(Health::Healthy),
        calls: Cell::new(0),
        started: Instant::now(),
    };
    // The retry and timeout the attributes build register themselves; a breaker of our own joins.
    registry::register(&BREAKER);

    println!(
        "1. A transient failure: the service fails twice, the retry waits 200 ms, then 400 ms."
    );
    service.health.set(Health::Flaky(2));
    request(&service, 1).await;
    // The policies are registered now: the first sample of their errors per minute.
    registry::sample();

    println!(
        "\n2. A hanging service: each attempt is cut at 2 s and retried; the third timeout opens the breaker."
    );
    service.health.set(Health::Hanging);
    request(&service, 2).await;

    println!(
        "\n3. While the breaker is open, calls are rejected at once without reaching the service."
    );
    service.health.set(Health::Down);
    let calls_before = service.calls.get();
    for id in 3..=5 {
        request(&service, id).await;
    }
    println!(
        "  (service calls during the outage: {})",
        service.calls.get() - calls_before
    );

    println!(
        "\n4. 30 s later the breaker lets one trial through; the service is back, so it closes."
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    service.health.set(Health::Healthy);
    request(&service, 6).await;

    registry::sample();
    println!("\nThe registry: every policy, its configuration and its metrics.");
    for policy in registry::policies() {
        let metrics = match &policy.metrics {
            PolicyMetrics::CircuitBreaker(m) => format!(
                "{:?}; {} calls ({} failed, {} of them timeouts), {} rejected, {} opening(s) ({} false positive(s)), {:?} open, MTTR {:?}",
                m.state,
                m.calls(),
                m.failures,
                m.timeouts,
                m.rejections,
                m.openings,
                m.false_positives,
                m.time_open,
                m.mttr.unwrap_or_default()
            ),
            PolicyMetrics::Retry(m) => format!(
                "{} calls ({} failed), {} retries, {} exhausted, {} aborted by the breaker",
                m.calls(),
                m.failures,
                m.retries,
                m.exhausted,
                m.aborted
            ),
            PolicyMetrics::Timeout(m) => format!("{} calls, {} timed out", m.calls(), m.timeouts),
            other => format!("{other:?}"),
        };
        let alert = policy
            .alert
            .map_or(String::new(), |level| format!(" [alert: {level}]"));
        let e = policy.errors_per_minute;
        println!(
            "  {} `{}` {:?}{alert}\n    {metrics}\n    per minute: {:.0} errors, {:.0} timeouts, {:.0} panics, {:.0} rejections",
            policy.kind, policy.name, policy.config, e.error, e.timeout, e.panic, e.rejection
        );
    }

    let report = HealthChecks::new()
        .add(
            "disk",
            Duration::from_secs(1),
            health::disk_space(std::env::temp_dir()),
        )
        .add("memory", Duration::from_secs(1), health::memory())
        .add("breakers", Duration::from_secs(1), health::open_breakers())
        .run()
        .await;
    println!("\nThe health report:");
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a report serialises")
    );
}
