//! Health checks: named async checks, each with its own timeout, run together into one report
//! that serialises to JSON for a `/health` endpoint or a readiness probe.
//!
//! ```
//! use resilient::health::{self, CheckOutcome, HealthChecks, Status};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let checks = HealthChecks::new()
//!     .add("disk", Duration::from_secs(1), health::disk_space(std::env::temp_dir()).min_free(0))
//!     .add("database", Duration::from_secs(2), || async move {
//!         // ping the database here
//!         CheckOutcome::healthy("answered a ping")
//!     });
//!
//! let report = checks.run().await;
//! assert_eq!(report.status(), Status::Healthy);
//! assert_eq!(report.checks()[1].message(), "answered a ping");
//! # }
//! ```
//!
//! # The report
//!
//! The overall status is the worst status of the checks (`healthy` < `degraded` < `unhealthy`);
//! a registry without checks is healthy. Each check appears once, in the order it was added, with
//! its latency in whole milliseconds on tokio's clock. Serialised with `serde`:
//!
//! ```json
//! {
//!   "status": "unhealthy",
//!   "checks": [
//!     { "name": "disk", "status": "healthy", "latency_ms": 0,
//!       "message": "disk `/var/lib/app`: 41.3 GiB free (minimum 1.0 GiB)" },
//!     { "name": "database", "status": "unhealthy", "latency_ms": 2000,
//!       "message": "timed out after 2s" }
//!   ]
//! }
//! ```
//!
//! # What a check is
//!
//! Anything that implements [`Check`]: every `Fn() -> impl Future<Output = CheckOutcome>` closure
//! does, and so do the built-ins [`disk_space`], [`memory`], [`open_breakers`] and
//! [`breakers_closed`]. A check that runs past its timeout
//! is cancelled and reported unhealthy ("timed out after 2s"); a check that panics is reported
//! unhealthy with the panic's message. Neither takes the report down. The checks run concurrently
//! in the task that awaits [`HealthChecks::run`]; nothing is spawned but [`disk_space`]'s
//! `statvfs`, which runs on tokio's blocking pool since it can hang on a network file system.
//!
//! # Events
//!
//! | name | level | fields | when |
//! | --- | --- | --- | --- |
//! | `health.check_failed` | WARN (degraded), ERROR (unhealthy) | `check`, `status`, `latency_ms`, `message` | one per check that is not healthy |
//! | `health.report` | DEBUG (healthy), WARN (degraded), ERROR (unhealthy) | `status`, `checks`, `failed` | once per [`HealthChecks::run`] |

use crate::caught::{self, CatchUnwind};
use serde::{Serialize, Serializer};
use std::fmt;
use std::future::{Future, Ready, ready};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Level;

/// How a check, or the whole service, is doing. Ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working as it should.
    Healthy,
    /// Working, but needs attention (or could not be measured).
    Degraded,
    /// Not working.
    Unhealthy,
}

impl Status {
    /// The status as it appears in JSON and in events: `healthy`, `degraded` or `unhealthy`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one check found: a status and a message for the operator, with the measured figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    status: Status,
    message: String,
}

impl CheckOutcome {
    /// An outcome with the given status.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The check passed.
    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(Status::Healthy, message)
    }

    /// The check passed with a warning, or could not measure what it checks.
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(Status::Degraded, message)
    }

    /// The check failed.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self::new(Status::Unhealthy, message)
    }

    /// The status found.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message for the operator.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A health check: each call to [`check`](Check::check) starts one measurement.
///
/// Implemented by every `Fn() -> impl Future<Output = CheckOutcome>` closure (`|| async move {..}`),
/// and by types that carry their own settings:
///
/// ```
/// use resilient::health::{Check, CheckOutcome, HealthChecks, Status};
/// use std::future::{Ready, ready};
/// use std::time::Duration;
///
/// struct QueueDepth(fn() -> usize);
///
/// impl Check for QueueDepth {
///     type Future = Ready<CheckOutcome>;
///     fn check(&self) -> Self::Future {
///         let depth = (self.0)();
///         let status = if depth < 1000 { Status::Healthy } else { Status::Degraded };
///         ready(CheckOutcome::new(status, format!("{depth} messages queued")))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let report = HealthChecks::new()
///     .add("queue", Duration::from_secs(1), QueueDepth(|| 12))
///     .run()
///     .await;
/// assert_eq!(report.checks()[0].message(), "12 messages queued");
/// # }
/// ```
pub trait Check: Send + Sync + 'static {
    /// The measurement in progress.
    type Future: Future<Output = CheckOutcome> + Send + 'static;

    /// Starts a measurement.
    fn check(&self) -> Self::Future;
}

impl<F, Fut> Check for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckOutcome> + Send + 'static,
{
    type Future = Fut;

    fn check(&self) -> Fut {
        self()
    }
}

/// A check in progress, supervised: its outcome and its latency. Boxed because the registry holds
/// checks of different types; health checks are not on any request's path.
type Running = Pin<Box<dyn Future<Output = (CheckOutcome, Duration)> + Send>>;

/// A registered check: starts a supervised run with the given timeout.
type Start = Box<dyn Fn(Duration) -> Running + Send + Sync>;

struct Registered {
    name: String,
    timeout: Duration,
    start: Start,
}

/// A registry of named checks, each with its own timeout; [`run`](HealthChecks::run) runs them all
/// concurrently and reports.
///
/// Names label the checks in the report and in events; they need not be unique.
#[derive(Default)]
pub struct HealthChecks {
    checks: Vec<Registered>,
}

impl HealthChecks {
    /// An empty registry (its report is healthy).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check that is given `timeout` to finish on each run.
    ///
    /// A check still running after `timeout` is cancelled and reported unhealthy. A zero timeout
    /// lets a check pass only if it finishes without waiting.
    ///
    /// ```
    /// use resilient::health::{CheckOutcome, HealthChecks, Status};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let report = HealthChecks::new()
    ///     .add("slow", Duration::from_secs(1), || async move {
    ///         tokio::time::sleep(Duration::from_secs(5)).await;
    ///         CheckOutcome::healthy("too late to count")
    ///     })
    ///     .run()
    ///     .await;
    /// assert_eq!(report.status(), Status::Unhealthy);
    /// assert_eq!(report.checks()[0].message(), "timed out after 1s");
    /// # }
    /// ```
    #[must_use = "`add` returns the registry with the check added"]
    pub fn add(mut self, name: impl Into<String>, timeout: Duration, check: impl Check) -> Self {
        let start: Start = Box::new(move |timeout| {
            // A closure may panic before it even returns its future.
            match catch_unwind(AssertUnwindSafe(|| check.check())) {
                Ok(fut) => Box::pin(supervise(timeout, fut)),
                Err(panic) => Box::pin(ready((panicked(&*panic), Duration::ZERO))),
            }
        });
        self.checks.push(Registered {
            name: name.into(),
            timeout,
            start,
        });
        self
    }

    /// Runs every check concurrently, each under its own timeout, and reports; logs the checks
    /// that are not healthy and the overall status (see the [module docs](self)).
    pub async fn run(&self) -> HealthReport {
        let mut slots: Vec<Slot> = self
            .checks
            .iter()
            .map(|check| Slot::Running((check.start)(check.timeout)))
            .collect();
        std::future::poll_fn(|cx| poll_all(&mut slots, cx)).await;

        let checks: Vec<CheckReport> = self
            .checks
            .iter()
            .zip(slots)
            .map(|(check, slot)| {
                let Slot::Done((outcome, latency)) = slot else {
                    unreachable!("poll_all finished with every check done")
                };
                CheckReport {
                    name: check.name.clone(),
                    status: outcome.status,
                    latency,
                    message: outcome.message,
                }
            })
            .collect();
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Healthy);
        let report = HealthReport { status, checks };
        report.log();
        report
    }
}

impl fmt::Debug for HealthChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.checks.iter().map(|c| (&c.name, c.timeout)))
            .finish()
    }
}

enum Slot {
    Running(Running),
    Done((CheckOutcome, Duration)),
}

/// Polls every check still running; ready when all are done.
fn poll_all(slots: &mut [Slot], cx: &mut Context<'_>) -> Poll<()> {
    let mut pending = false;
    for slot in slots {
        if let Slot::Running(fut) = slot {
            match fut.as_mut().poll(cx) {
                Poll::Ready(done) => *slot = Slot::Done(done),
                Poll::Pending => pending = true,
            }
        }
    }
    if pending {
        Poll::Pending
    } else {
        Poll::Ready(())
    }
}

/// Runs one check under its timeout, turning a panic or a timeout into an unhealthy outcome.
async fn supervise<F>(timeout: Duration, fut: F) -> (CheckOutcome, Duration)
where
    F: Future<Output = CheckOutcome>,
{
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, CatchUnwind(fut)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => panicked(&*panic),
        Err(_) => CheckOutcome::unhealthy(format!("timed out after {timeout:?}")),
    };
    (outcome, started.elapsed())
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> CheckOutcome {
    let what = caught::message(payload).unwrap_or("a panic without a message");
    CheckOutcome::unhealthy(format!("panicked: {what}"))
}

/// The result of [`HealthChecks::run`]: the overall status and each check's (see the
/// [module docs](self) for the JSON shape).
#[derive(Clone, Debug, Serialize)]
pub struct HealthReport {
    status: Status,
    checks: Vec<CheckReport>,
}

impl HealthReport {
    /// The worst status of the checks; healthy when there are none.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Every check, in the order they were added.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The HTTP status a load balancer expects for it: 200 while healthy or degraded (the
    /// instance still serves), 503 when unhealthy (take it out of rotation).
    pub fn http_status(&self) -> u16 {
        match self.status {
            Status::Healthy | Status::Degraded => 200,
            Status::Unhealthy => 503,
        }
    }

    fn log(&self) {
        for check in &self.checks {
            check.log_failure();
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status != Status::Healthy)
            .count();
        macro_rules! report {
            ($level:expr) => {
                tracing::event!(
                    name: "health.report",
                    target: "resilient",
                    $level,
                    correlation_id = crate::correlation::field(),
                    status = self.status.as_str(),
                    checks = self.checks.len(),
                    failed,
                    "health: {} ({failed} of {} checks not healthy)",
                    self.status,
                    self.checks.len()
                )
            };
        }
        match self.status {
            Status::Healthy => report!(Level::DEBUG),
            Status::Degraded => report!(Level::WARN),
            Status::Unhealthy => report!(Level::ERROR),
        }
    }
}

/// One check's line in a [`HealthReport`].
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    name: String,
    status: Status,
    #[serde(rename = "latency_ms", serialize_with = "whole_millis")]
    latency: Duration,
    message: String,
}

impl CheckReport {
    /// The name the check was added with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the check found.
    pub fn status(&self) -> Status {
        self.status
    }

    /// How long the check ran, on tokio's clock (its timeout, if it timed out).
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// The check's message: the measured figure, the error, the timeout or the panic.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn log_failure(&self) {
        macro_rules! failed {
            ($level:expr) => {
                tracing::event!(
                    name: "health.check_failed",
                    target: "resilient",
                    $level,
                    correlation_id = crate::correlation::field(),
                    check = self.name.as_str(),
                    status = self.status.as_str(),
                    latency_ms = millis(self.latency),
                    message = self.message.as_str(),
                )
            };
        }
        match self.status {
            Status::Healthy => {}
            Status::Degraded => failed!(Level::WARN),
            Status::Unhealthy => failed!(Level::ERROR),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn whole_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(millis(*d))
}

/// A byte count for people: `812.4 MiB`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

/// Checks the free space of the file system holding `path`: unhealthy below
/// [`DiskSpace::DEFAULT_MIN_FREE`] (1 GiB) unless [`min_free`](DiskSpace::min_free) says otherwise.
///
/// ```
/// use resilient::health::{self, HealthChecks, Status};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let report = HealthChecks::new()
///     .add("tmp", Duration::from_secs(1), health::disk_space(std::env::temp_dir()).min_free(u64::MAX))
///     .run()
///     .await;
/// # #[cfg(unix)]
/// assert_eq!(report.status(), Status::Unhealthy); // "disk `/tmp`: 41.3 GiB free, below the minimum of 16.0 EiB"
/// # }
/// ```
pub fn disk_space(path: impl Into<PathBuf>) -> DiskSpace {
    DiskSpace {
        path: path.into(),
        min_free: DiskSpace::DEFAULT_MIN_FREE,
        cleanup: None,
    }
}

/// What a [`DiskSpace`] check runs to free space: the bytes it freed, or why it could not.
type Cleanup = Arc<dyn Fn() -> io::Result<u64> + Send + Sync>;

/// The check of [`disk_space`]: measures the space available to unprivileged users (`statvfs`'s
/// `f_bavail`) on Unix; elsewhere it reports itself unsupported (degraded).
#[derive(Clone)]
pub struct DiskSpace {
    path: PathBuf,
    min_free: u64,
    cleanup: Option<Cleanup>,
}

impl fmt::Debug for DiskSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskSpace")
            .field("path", &self.path)
            .field("min_free", &self.min_free)
            .field("cleanup", &self.cleanup.is_some())
            .finish()
    }
}

impl DiskSpace {
    /// The minimum free space unless set: 1 GiB.
    pub const DEFAULT_MIN_FREE: u64 = 1 << 30;

    /// Below `bytes` free the check is unhealthy.
    #[must_use]
    pub fn min_free(mut self, bytes: u64) -> Self {
        self.min_free = bytes;
        self
    }

    /// Below the minimum, runs `cleanup` (deleting temporary files, old logs, caches) and judges
    /// the free space again: the message says how much it freed. It runs where the check
    /// measures, on tokio's blocking pool, under the check's timeout.
    ///
    /// ```
    /// use resilient::health::{self, Status};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use resilient::health::Check;
    /// let disk = health::disk_space("/").min_free(u64::MAX).cleanup(|| Ok(0));
    /// let outcome = disk.check().await;
    /// # #[cfg(unix)]
    /// assert!(outcome.message().contains("cleanup freed 0 B"), "{}", outcome.message());
    /// # }
    /// ```
    #[must_use]
    pub fn cleanup(
        mut self,
        cleanup: impl Fn() -> io::Result<u64> + Send + Sync + 'static,
    ) -> Self {
        self.cleanup = Some(Arc::new(cleanup));
        self
    }

    /// The check, with `stat` in place of `statvfs`: on tokio's blocking pool when there is a
    /// runtime, so that a hung file system (a dead network mount) blocks a pool thread, not the
    /// runtime, and the check's timeout fires on time; inline otherwise.
    pub(crate) fn measure_with<S>(&self, stat: S) -> Measuring
    where
        S: Fn(&Path) -> io::Result<Option<u64>> + Send + 'static,
    {
        let this = self.clone();
        let measure = move || {
            let free = stat(&this.path);
            match (&free, &this.cleanup) {
                (Ok(Some(free)), Some(cleanup)) if *free < this.min_free => {
                    let freed = cleanup();
                    let outcome = this.judge(stat(&this.path));
                    let note = match freed {
                        Ok(bytes) => format!("cleanup freed {}", Bytes(bytes)),
                        Err(err) => format!("cleanup failed: {err}"),
                    };
                    CheckOutcome::new(outcome.status(), format!("{} ({note})", outcome.message()))
                }
                _ => this.judge(free),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Measuring {
                path: self.path.clone(),
                state: Measure::OnPool(runtime.spawn_blocking(measure)),
            },
            Err(_) => Measuring {
                path: self.path.clone(),
                state: Measure::Done(Some(measure())),
            },
        }
    }

    fn judge(&self, free: io::Result<Option<u64>>) -> CheckOutcome {
        let path = self.path.display();
        let min = Bytes(self.min_free);
        match free {
            Ok(Some(free)) if free >= self.min_free => CheckOutcome::healthy(format!(
                "disk `{path}`: {} free (minimum {min})",
                Bytes(free)
            )),
            Ok(Some(free)) => CheckOutcome::unhealthy(format!(
                "disk `{path}`: {} free, below the minimum of {min}",
                Bytes(free)
            )),
            Ok(None) => CheckOutcome::degraded(format!(
                "disk `{path}`: free space is unsupported on this platform"
            )),
            Err(err) => {
                CheckOutcome::unhealthy(format!("disk `{path}`: cannot read free space: {err}"))
            }
        }
    }
}

impl Check for DiskSpace {
    type Future = Measuring;

    /// `statvfs` usually answers at once, but can hang on a network file system: it runs on
    /// tokio's blocking pool.
    fn check(&self) -> Measuring {
        self.measure_with(free_bytes)
    }
}

/// The future of [`DiskSpace`]'s check: the measure, running on tokio's blocking pool.
#[derive(Debug)]
pub struct Measuring {
    path: PathBuf,
    state: Measure,
}

#[derive(Debug)]
enum Measure {
    OnPool(tokio::task::JoinHandle<CheckOutcome>),
    /// Measured inline, outside a runtime; taken when polled.
    Done(Option<CheckOutcome>),
}

impl Future for Measuring {
    type Output = CheckOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CheckOutcome> {
        let outcome = match &mut self.state {
            Measure::OnPool(handle) => match std::task::ready!(Pin::new(handle).poll(cx)) {
                Ok(outcome) => outcome,
                Err(failed) => CheckOutcome::unhealthy(format!(
                    "disk `{}`: cannot read free space: {failed}",
                    self.path.display()
                )),
            },
            Measure::Done(outcome) => outcome
                .take()
                .unwrap_or_else(|| CheckOutcome::unhealthy("polled again after it reported")),
        };
        Poll::Ready(outcome)
    }
}

/// A check of every policy in the [`registry`](crate::registry) that shares its state through a
/// backend ([`crate::shared`]): degraded while any backend's last command failed (the policy then
/// decides as its `on_redis_failure` says), naming the policies and the servers; healthy
/// otherwise.
#[cfg(feature = "redis")]
pub fn shared_backends() -> SharedBackends {
    SharedBackends
}

/// The check of [`shared_backends`].
#[cfg(feature = "redis")]
#[derive(Clone, Copy, Debug)]
pub struct SharedBackends;

#[cfg(feature = "redis")]
impl Check for SharedBackends {
    type Future = Ready<CheckOutcome>;

    fn check(&self) -> Self::Future {
        let shared = crate::registry::shared_backends();
        let failing: Vec<String> = shared
            .iter()
            .filter(|(_, backend)| backend.is_degraded())
            .map(|(name, backend)| format!("`{name}` ({})", backend.url()))
            .collect();
        ready(if failing.is_empty() {
            CheckOutcome::healthy(format!("{} shared, every backend answers", shared.len()))
        } else {
            CheckOutcome::degraded(format!(
                "deciding locally, the backend failing: {}",
                failing.join(", ")
            ))
        })
    }
}

/// A check of every circuit breaker in the [`registry`](crate::registry): degraded while any is
/// not closed (open, half-open or forced open), naming them; healthy otherwise. A disabled breaker
/// is named too, as it no longer protects anything, but does not degrade the service.
///
/// ```
/// use resilient::health::{self, HealthChecks, Status};
/// use resilient::{registry, BreakerConfig, CircuitBreaker};
/// use std::time::Duration;
///
/// static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerConfig::new());
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// registry::register(&PAYMENTS);
/// PAYMENTS.force_open();
/// let report = HealthChecks::new()
///     .add("breakers", Duration::from_secs(1), health::open_breakers())
///     .run()
///     .await;
/// assert_eq!(report.status(), Status::Degraded);
/// assert_eq!(report.checks()[0].message(), "not closed: `payments` (forced_open)");
/// # }
/// ```
pub fn open_breakers() -> OpenBreakers {
    OpenBreakers
}

/// The check of [`open_breakers`].
#[derive(Clone, Copy, Debug)]
pub struct OpenBreakers;

impl Check for OpenBreakers {
    type Future = Ready<CheckOutcome>;

    fn check(&self) -> Self::Future {
        use crate::BreakerState;
        let breakers = crate::registry::breakers();
        let named = |wanted: &dyn Fn(BreakerState) -> bool| {
            let names: Vec<String> = breakers
                .iter()
                .map(|b| (b.name(), b.state()))
                .filter(|(_, state)| wanted(*state))
                .map(|(name, state)| format!("`{name}` ({})", state.as_str()))
                .collect();
            names.join(", ")
        };
        let not_closed = named(&|s| !matches!(s, BreakerState::Closed | BreakerState::Disabled));
        let disabled = named(&|s| s == BreakerState::Disabled);
        let outcome = match (not_closed.is_empty(), disabled.is_empty()) {
            (true, true) => CheckOutcome::healthy(format!("{} closed", breakers.len())),
            (true, false) => CheckOutcome::healthy(format!("disabled: {disabled}")),
            (false, true) => CheckOutcome::degraded(format!("not closed: {not_closed}")),
            (false, false) => {
                CheckOutcome::degraded(format!("not closed: {not_closed}; disabled: {disabled}"))
            }
        };
        ready(outcome)
    }
}

/// A check that `address` (`host:port`) accepts a TCP connection, under the check's timeout; with
/// [`http_get`](Network::http_get), that it answers an HTTP GET with the status expected.
///
/// ```
/// use resilient::health::{self, HealthChecks};
/// use std::time::Duration;
///
/// let checks = HealthChecks::new()
///     .add("cache", Duration::from_secs(1), health::network("127.0.0.1:6379"))
///     .add("api", Duration::from_secs(2), health::network("127.0.0.1:8080").http_get("/health", 200));
/// ```
#[cfg(not(loom))] // tokio has no sockets under loom
pub fn network(address: impl Into<String>) -> Network {
    Network {
        address: address.into(),
        get: None,
    }
}

/// The check of [`network`].
#[cfg(not(loom))]
#[derive(Clone, Debug)]
pub struct Network {
    address: String,
    /// The path to GET and the status expected.
    get: Option<(String, u16)>,
}

#[cfg(not(loom))]
impl Network {
    /// Sends `GET path` (HTTP/1.1, plain TCP) once connected, and is healthy only if the answer's
    /// status is `status`.
    #[must_use]
    pub fn http_get(mut self, path: impl Into<String>, status: u16) -> Self {
        self.get = Some((path.into(), status));
        self
    }
}

#[cfg(not(loom))]
impl Check for Network {
    /// Boxed: connecting and reading are `async fn`s of tokio, whose futures cannot be named.
    type Future = Pin<Box<dyn Future<Output = CheckOutcome> + Send>>;

    fn check(&self) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let address = &this.address;
            let mut stream = match tokio::net::TcpStream::connect(address.as_str()).await {
                Ok(stream) => stream,
                Err(err) => {
                    return CheckOutcome::unhealthy(format!("`{address}`: cannot connect: {err}"));
                }
            };
            let Some((path, expected)) = &this.get else {
                return CheckOutcome::healthy(format!("`{address}` accepts connections"));
            };
            match http_status(&mut stream, address, path).await {
                Ok(status) if status == *expected => {
                    CheckOutcome::healthy(format!("GET {path} on `{address}`: {status}"))
                }
                Ok(status) => CheckOutcome::unhealthy(format!(
                    "GET {path} on `{address}`: {status}, expected {expected}"
                )),
                Err(err) => CheckOutcome::unhealthy(format!("GET {path} on `{address}`: {err}")),
            }
        })
    }
}

/// Sends `GET path` on `stream` and reads the status from the answer's first line.
#[cfg(not(loom))]
async fn http_status(
    stream: &mut tokio::net::TcpStream,
    host: &str,
    path: &str,
) -> io::Result<u16> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut line = String::new();
    // A status line is short: a peer that sends more before a newline is not speaking HTTP.
    let mut reader = BufReader::new(stream.take(1024));
    reader.read_line(&mut line).await?;
    let not_http = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP answer: {line:?}"),
        )
    };
    let mut words = line.split_whitespace();
    match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/") => Ok(status),
        _ => Err(not_http()),
    }
}

/// A check that `db` answers `SELECT 1` on its plain connection, under the check's timeout (a
/// connection held by a long statement counts against it): the seed's database check, for the
/// SQLite and PostgreSQL databases of [`atomic::sql`](crate::atomic::sql).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub fn database<DB: crate::atomic::sql::Backend>(
    db: Arc<crate::atomic::sql::Database<DB>>,
) -> DatabaseCheck<DB> {
    DatabaseCheck { db }
}

/// The check of [`database`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub struct DatabaseCheck<DB: crate::atomic::sql::Backend> {
    db: Arc<crate::atomic::sql::Database<DB>>,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<DB: crate::atomic::sql::Backend> Check for DatabaseCheck<DB> {
    /// Boxed: the query is an `async fn` of sqlx, whose future cannot be named.
    type Future = Pin<Box<dyn Future<Output = CheckOutcome> + Send>>;

    fn check(&self) -> Self::Future {
        let db = Arc::clone(&self.db);
        Box::pin(async move {
            match db.ping().await {
                Ok(()) => CheckOutcome::healthy("database answers `SELECT 1`"),
                Err(err) => CheckOutcome::unhealthy(format!("database: {err}")),
            }
        })
    }
}

/// A check that the named circuit breakers are closed: unhealthy while any of them is open,
/// half-open or forced open, naming it; healthy once they are all closed (or disabled).
///
/// Where [`open_breakers`] flags any breaker as degraded (the service works, with a fallback),
/// this one takes the service out of its load balancer's rotation while it cannot reach a
/// dependency it cannot work without: `/health` answers 503 until the breaker closes on its
/// trials. Every breaker registered under a name counts (two functions may share one). A name
/// no registered breaker has is degraded: the breaker has not been used yet, or the name is
/// misspelt.
///
/// ```
/// use resilient::health::{self, HealthChecks, Status};
/// use resilient::{registry, BreakerConfig, CircuitBreaker};
/// use std::time::Duration;
///
/// static PRICES: CircuitBreaker = CircuitBreaker::new("prices", BreakerConfig::new());
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// registry::register(&PRICES);
/// let checks = HealthChecks::new()
///     .add("upstream", Duration::from_secs(1), health::breakers_closed(&["prices"]));
/// assert_eq!(checks.run().await.status(), Status::Healthy);
///
/// PRICES.force_open();
/// let report = checks.run().await;
/// assert_eq!(report.status(), Status::Unhealthy); // `/health` answers 503
/// assert_eq!(report.checks()[0].message(), "not closed: `prices` (forced_open)");
/// # }
/// ```
pub fn breakers_closed(names: &[&str]) -> BreakersClosed {
    BreakersClosed {
        names: names.iter().map(|name| (*name).to_owned()).collect(),
    }
}

/// The check of [`breakers_closed`].
#[derive(Clone, Debug)]
pub struct BreakersClosed {
    names: Vec<String>,
}

impl Check for BreakersClosed {
    type Future = Ready<CheckOutcome>;

    fn check(&self) -> Self::Future {
        ready(self.judge(&crate::registry::breakers()))
    }
}

impl BreakersClosed {
    fn judge(&self, registered: &[&crate::CircuitBreaker]) -> CheckOutcome {
        use crate::BreakerState;
        let (mut not_closed, mut unknown) = (Vec::new(), Vec::new());
        for name in &self.names {
            let mut named = registered.iter().filter(|b| b.name() == name).peekable();
            if named.peek().is_none() {
                unknown.push(format!("`{name}`"));
            }
            for breaker in named {
                if !matches!(
                    breaker.state(),
                    BreakerState::Closed | BreakerState::Disabled
                ) {
                    not_closed.push(format!("`{name}` ({})", breaker.state().as_str()));
                }
            }
        }
        if !not_closed.is_empty() {
            CheckOutcome::unhealthy(format!("not closed: {}", not_closed.join(", ")))
        } else if !unknown.is_empty() {
            CheckOutcome::degraded(format!(
                "no breaker registered as {} (not used yet, or misspelt)",
                unknown.join(", ")
            ))
        } else {
            let names: Vec<String> = self.names.iter().map(|n| format!("`{n}`")).collect();
            CheckOutcome::healthy(format!("closed: {}", names.join(", ")))
        }
    }
}

/// Bytes available to unprivileged users on the file system of `path`; `None` where unsupported.
#[cfg(unix)]
fn free_bytes(path: &Path) -> io::Result<Option<u64>> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(Some(stat.f_bavail.saturating_mul(stat.f_frsize)))
}

#[cfg(not(unix))]
fn free_bytes(_: &Path) -> io::Result<Option<u64>> {
    Ok(None)
}

/// Checks the memory available for new work without swapping (`MemAvailable` in `/proc/meminfo`):
/// unhealthy below [`Memory::DEFAULT_MIN_AVAILABLE`] (128 MiB) unless
/// [`min_available`](Memory::min_available) says otherwise. Outside Linux, or when the figure
/// cannot be read, it reports degraded and says why.
///
/// ```
/// use resilient::health::{self, HealthChecks};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let report = HealthChecks::new()
///     .add("memory", Duration::from_secs(1), health::memory().min_available(512 << 20))
///     .run()
///     .await;
/// println!("{}", report.checks()[0].message()); // "available memory: 3.2 GiB (minimum 512.0 MiB)"
/// # }
/// ```
pub fn memory() -> Memory {
    Memory {
        min_available: Memory::DEFAULT_MIN_AVAILABLE,
    }
}

/// The check of [`memory`].
#[derive(Clone, Debug)]
pub struct Memory {
    min_available: u64,
}

impl Memory {
    /// The minimum available memory unless set: 128 MiB.
    pub const DEFAULT_MIN_AVAILABLE: u64 = 128 << 20;

    /// Below `bytes` available the check is unhealthy.
    #[must_use]
    pub fn min_available(mut self, bytes: u64) -> Self {
        self.min_available = bytes;
        self
    }

    fn measure(&self) -> CheckOutcome {
        let min = Bytes(self.min_available);
        match available_memory() {
            Ok(available) if available >= self.min_available => CheckOutcome::healthy(format!(
                "available memory: {} (minimum {min})",
                Bytes(available)
            )),
            Ok(available) => CheckOutcome::unhealthy(format!(
                "available memory: {}, below the minimum of {min}",
                Bytes(available)
            )),
            Err(why) => CheckOutcome::degraded(format!("available memory is unknown: {why}")),
        }
    }
}

impl Check for Memory {
    type Future = Ready<CheckOutcome>;

    /// `/proc/meminfo` is a small in-memory file: read inline.
    fn check(&self) -> Self::Future {
        ready(self.measure())
    }
}

#[cfg(target_os = "linux")]
fn available_memory() -> Result<u64, String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|err| format!("cannot read /proc/meminfo: {err}"))?;
    mem_available(&meminfo).ok_or_else(|| "/proc/meminfo has no `MemAvailable: N kB` line".into())
}

#[cfg(not(target_os = "linux"))]
fn available_memory() -> Result<u64, String> {
    Err("measured on Linux only (from /proc/meminfo), unsupported on this platform".into())
}

/// `MemAvailable` in bytes, from the text of `/proc/meminfo`.
#[cfg(target_os = "linux")]
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;
    use std::sync::{Arc, Mutex};

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(1023).to_string(), "1023 B");
        assert_eq!(Bytes(1024).to_string(), "1.0 KiB");
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Bytes(1 << 30).to_string(), "1.0 GiB");
        assert_eq!(Bytes(u64::MAX).to_string(), "16.0 EiB");
    }

    /// A disk check whose `statvfs` hangs until the test lets it go.
    struct HungDisk {
        disk: DiskSpace,
        hung: Arc<Mutex<Receiver<()>>>,
    }

    impl Check for HungDisk {
        type Future = Measuring;

        fn check(&self) -> Measuring {
            let hung = Arc::clone(&self.hung);
            self.disk.measure_with(move |_| {
                // Never sent: only the test's end, dropping the sender, ends the wait.
                let _ = hung.lock().map(|receiver| receiver.recv());
                Ok(Some(0))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_statvfs_times_out_exactly_on_time() {
        let (release, hung) = std::sync::mpsc::channel();
        let check = HungDisk {
            disk: disk_space("/mnt/dead-nfs"),
            hung: Arc::new(Mutex::new(hung)),
        };
        let checks = HealthChecks::new().add("disk", Duration::from_secs(2), check);
        let started = Instant::now();
        let report = tokio::spawn(async move { checks.run().await });
        // The run starts the check and its timer; the hung `statvfs` holds a pool thread.
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_secs(2)).await;
        let report = report.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let disk = &report.checks()[0];
        assert_eq!(
            (disk.status(), disk.latency(), disk.message()),
            (
                Status::Unhealthy,
                Duration::from_secs(2),
                "timed out after 2s"
            )
        );
        drop(release);
    }

    #[tokio::test]
    async fn a_measure_that_answers_is_judged() {
        let disk = disk_space("/data").min_free(100);
        let low = disk.measure_with(|_| Ok(Some(99))).await;
        assert_eq!(
            low,
            CheckOutcome::unhealthy("disk `/data`: 99 B free, below the minimum of 100 B")
        );
        let failed = disk
            .measure_with(|_| Err(io::Error::from(io::ErrorKind::PermissionDenied)))
            .await;
        assert_eq!(
            failed,
            CheckOutcome::unhealthy("disk `/data`: cannot read free space: permission denied")
        );
    }

    /// Below the minimum the cleanup runs and the space is judged again, the freed bytes in the
    /// message; above it, the cleanup does not run.
    #[tokio::test]
    async fn a_cleanup_runs_below_the_minimum_and_the_space_is_judged_again() {
        use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
        let free = Arc::new(AtomicU64::new(99));
        let runs = Arc::new(AtomicU64::new(0));
        let (freeing, counting) = (Arc::clone(&free), Arc::clone(&runs));
        let disk = disk_space("/data").min_free(100).cleanup(move || {
            counting.fetch_add(1, SeqCst);
            freeing.fetch_add(51, SeqCst);
            Ok(51)
        });
        let stat = |free: &Arc<AtomicU64>| {
            let free = Arc::clone(free);
            move |_: &Path| Ok(Some(free.load(SeqCst)))
        };
        assert_eq!(
            disk.measure_with(stat(&free)).await,
            CheckOutcome::healthy("disk `/data`: 150 B free (minimum 100 B) (cleanup freed 51 B)")
        );
        assert_eq!(
            disk.measure_with(stat(&free)).await,
            CheckOutcome::healthy("disk `/data`: 150 B free (minimum 100 B)")
        );
        assert_eq!(runs.load(SeqCst), 1, "not run above the minimum");

        let low = Arc::new(AtomicU64::new(10));
        let not_enough = disk_space("/data").min_free(100).cleanup(|| Ok(0));
        assert_eq!(
            not_enough.measure_with(stat(&low)).await,
            CheckOutcome::unhealthy(
                "disk `/data`: 10 B free, below the minimum of 100 B (cleanup freed 0 B)"
            )
        );
        let failing = disk_space("/data")
            .min_free(100)
            .cleanup(|| Err(io::Error::from(io::ErrorKind::PermissionDenied)));
        assert_eq!(
            failing.measure_with(stat(&low)).await,
            CheckOutcome::unhealthy(
                "disk `/data`: 10 B free, below the minimum of 100 B (cleanup failed: permission denied)"
            )
        );
    }

    #[test]
    fn breakers_closed_is_unhealthy_while_a_named_breaker_is_not_closed() {
        use crate::{BreakerConfig, CircuitBreaker};
        static ORDERS: CircuitBreaker = CircuitBreaker::new("orders", BreakerConfig::new());
        static ORDERS_TOO: CircuitBreaker = CircuitBreaker::new("orders", BreakerConfig::new());
        static STOCK: CircuitBreaker = CircuitBreaker::new("stock", BreakerConfig::new());
        let registered = [&ORDERS, &ORDERS_TOO, &STOCK];
        let check = breakers_closed(&["orders"]);
        assert_eq!(
            check.judge(&registered),
            CheckOutcome::healthy("closed: `orders`")
        );
        // A breaker of another name does not count.
        STOCK.force_open();
        assert_eq!(check.judge(&registered).status(), Status::Healthy);
        // Every breaker of the name counts.
        ORDERS_TOO.force_open();
        assert_eq!(
            check.judge(&registered),
            CheckOutcome::unhealthy("not closed: `orders` (forced_open)")
        );
        ORDERS_TOO.reset();
        assert_eq!(check.judge(&registered).status(), Status::Healthy);
        // A disabled breaker protects nothing, but the dependency is not known to be down.
        ORDERS.disable();
        assert_eq!(check.judge(&registered).status(), Status::Healthy);
    }

    #[test]
    fn breakers_closed_names_the_breakers_it_cannot_find() {
        use crate::{BreakerConfig, CircuitBreaker};
        static PAYMENTS: CircuitBreaker = CircuitBreaker::new("payments", BreakerConfig::new());
        let check = breakers_closed(&["payments", "paymnets"]);
        assert_eq!(
            check.judge(&[&PAYMENTS]),
            CheckOutcome::degraded(
                "no breaker registered as `paymnets` (not used yet, or misspelt)"
            )
        );
        // An open breaker is reported above a missing one.
        PAYMENTS.force_open();
        assert_eq!(
            check.judge(&[&PAYMENTS]),
            CheckOutcome::unhealthy("not closed: `payments` (forced_open)")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn mem_available_is_read_in_kib() {
        let meminfo = "MemTotal:       16318412 kB\nMemFree:         1200000 kB\n\
                       MemAvailable:    8000000 kB\nBuffers:          300000 kB\n";
        assert_eq!(mem_available(meminfo), Some(8_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 16318412 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots\n"), None);
    }
}
