//! Declare, on the function itself, how it survives failure.
//!
//! `resilient` holds the policies — a circuit breaker, retries with backoff, timeouts, fallbacks, a
//! rate limiter ([`RateLimiter`]), a bulkhead ([`Bulkhead`]) and hedged calls ([`hedge`](fn@hedge)) — as
//! small runtime types that compose, and attribute macros that write the composition for you
//! (`#[circuit_breaker]`, `#[retry]`, `#[timeout]`, `#[fallback]`, `#[rate_limit]`, `#[bulkhead]`,
//! `#[hedge]`, `#[atomic]`; the full recommended order, outermost first: `fallback` › `retry` (or
//! `hedge`) › `circuit_breaker` › `rate_limit` › `bulkhead` › `timeout`). Everything here is usable
//! without macros:
//!
//! ```
//! use resilient::{Backoff, BreakerConfig, CircuitBreaker, Rejected, RetryPolicy};
//! use std::time::Duration;
//!
//! #[derive(Debug)]
//! enum ApiError {
//!     Status(u16),
//!     Rejected(Rejected),
//! }
//! impl From<Rejected> for ApiError {
//!     fn from(r: Rejected) -> Self {
//!         ApiError::Rejected(r)
//!     }
//! }
//!
//! static BREAKER: CircuitBreaker = CircuitBreaker::new(
//!     "users",
//!     BreakerConfig::new().failure_threshold(3).recovery_timeout(Duration::from_secs(30)),
//! );
//! static RETRY: RetryPolicy = RetryPolicy::new()
//!     .name("users")
//!     .max_attempts(4)
//!     .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5)));
//!
//! async fn fetch_user(id: u64) -> Result<String, ApiError> {
//!     # if id == 0 { return Err(ApiError::Status(404)); }
//!     Ok(format!("user {id}"))
//! }
//!
//! // retry › circuit breaker › timeout: the recommended order, outermost first.
//! async fn fetch_user_resiliently(id: u64) -> Result<String, ApiError> {
//!     resilient::retry(&RETRY, || {
//!         BREAKER.call(resilient::timeout(Duration::from_secs(2), fetch_user(id)))
//!     })
//!     .await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(fetch_user_resiliently(7).await.unwrap(), "user 7");
//! # }
//! ```
//!
//! # Layers together
//!
//! Each layer returns the caller's own error type, built with `From<Rejected>` when the layer
//! refuses or abandons a call. Layers still recognise each other's rejections:
//!
//! - a timed-out attempt is a failure for an enclosing breaker and is retried by an enclosing
//!   retry, whatever their `when` predicates say (those judge only the function's own errors);
//! - when a breaker inside a retry rejects an attempt, the retry ends at once with that rejection:
//!   it never retries into an open circuit;
//! - after the last attempt, the retry returns the last error unchanged;
//! - a refusal by a rate limiter or a bulkhead is not a failure of the dependency for an
//!   enclosing breaker, and an enclosing retry retries it (after at least its `retry_after`);
//! - a hedge starts its next attempt at once after a timed-out one, and none after a refusal.
//!
//! Recognition is exact, never a guess: a layer treats an error as a rejection only when the
//! future it polls *is* the layer that rejected (its type says so), as in
//! `retry(&p, || breaker.call(timeout(d, f())))` and in everything the attributes generate. An
//! error that your own code returns is yours, judged by `when` like any other, even when your
//! code made it from a rejection: a closure that returns an `async` block, a combinator such as
//! `.map_err(...)`, and every blocking closure (`call_sync`, `atomic::scope_blocking`) are your
//! code, which a layer cannot see through. So, to have a retry stop at an open breaker and retry
//! timeouts, hand it the layer itself:
//!
//! ```
//! # use resilient::{BreakerConfig, CircuitBreaker, Rejected, RetryPolicy};
//! # use std::time::Duration;
//! # static BREAKER: CircuitBreaker = CircuitBreaker::new("users", BreakerConfig::new());
//! # static RETRY: RetryPolicy = RetryPolicy::new();
//! # async fn fetch(id: u64) -> Result<u64, Rejected> { Ok(id) }
//! # async fn run(id: u64) -> Result<u64, Rejected> {
//! // Exact: the closure returns the breaker's own future.
//! resilient::retry(&RETRY, || BREAKER.call(fetch(id))).await?;
//! // Your code in between: a rejection reaching the retry is judged as your error.
//! resilient::retry(&RETRY, || async { BREAKER.call(fetch(id)).await }).await
//! # }
//! ```
//!
//! Where your code must sit in between, say what to do in `when`, or use the attributes, which
//! always compose exactly.
//!
//! # Time
//!
//! Every timer and clock reading goes through tokio's clock, so tests run on virtual time with
//! `#[tokio::test(start_paused = true)]` and `tokio::time::advance`.
//!
//! # Events
//!
//! Every transition, rejection, retry and timeout is a [`tracing`] event with target `resilient`
//! and a stable name and fields. Every event also has `correlation_id` when it happens inside a
//! [`correlation::scope`]. INFO is a recovery, WARN degraded service, ERROR an automatic
//! recovery that failed; DEBUG what happens in between.
//!
//! | name | level | fields | when |
//! | --- | --- | --- | --- |
//! | `breaker.opened` | WARN | `policy`, `state`, `from` (`closed`/`half_open`; `cluster`: the cluster's breaker opened, see [`shared::breaker`], without `openings_in_row`), `openings_in_row`, `wait_ms` | a breaker opened |
//! | `breaker.half_open` | DEBUG | `policy`, `state` | an open breaker let a trial through |
//! | `breaker.closed` | INFO | `policy`, `state`, `outage_ms` (since it first opened) | trials succeeded: closed again |
//! | `breaker.rejected` | DEBUG | `policy`, `retry_after_ms` | a call was rejected without running |
//! | `breaker.reset` | INFO | `policy`, `state` | [`CircuitBreaker::reset`] |
//! | `breaker.forced_open` | WARN | `policy`, `state` | [`CircuitBreaker::force_open`] |
//! | `breaker.disabled` | WARN | `policy`, `state` | [`CircuitBreaker::disable`] |
//! | `retry.retrying` | WARN | `policy`, `attempt`, `max_attempts`, `delay_ms`, `error` | an attempt failed; another follows after `delay_ms` |
//! | `retry.succeeded` | INFO | `policy`, `attempts` | success after failed attempts |
//! | `retry.exhausted` | ERROR | `policy`, `attempts`, `reason` (`attempts`/`budget`/`retry_ratio`), `error` | gave up; the last error is returned |
//! | `retry.aborted` | WARN | `policy`, `attempt`, `reason`, `error` | a layer inside rejected the call (open circuit): no retry |
//! | `timeout.elapsed` | WARN | `policy`, `timeout_ms` | a call ran out of time and was cancelled |
//! | `rate_limit.rejected` | DEBUG | `policy`, `retry_after_ms` | a rate limiter refused a call: its turn was further away than it could wait |
//! | `hedge.started` | DEBUG | `policy`, `hedge` (its number), `max_hedges` | an attempt had not finished within the delay, or failed: another started beside it |
//! | `hedge.failed` | WARN | `policy`, `attempts`, `error` | every attempt of a hedged call failed; the last error is returned |
//! | `shared.degraded` | WARN | `policy`, `backend`, `error` | a shared backend ([`shared`], feature `redis`) failed: the policy decides as its `on_redis_failure` says until it answers |
//! | `shared.restored` | INFO | `policy`, `backend` | the shared backend answers again |
//! | `bulkhead.rejected` | DEBUG | `policy`, `max_concurrent` | a bulkhead refused a call: every slot was taken for as long as it could wait |
//! | `atomic.rolled_back` | WARN | `compensations`, `reason` (`error`/`panic`/`cancelled`) | an atomic scope is undoing its work |
//! | `atomic.compensation_failed` | ERROR | | a compensation panicked; the others still ran |
//! | `atomic.rollback_incomplete` | ERROR | `compensations`, `critical = true`, `error` | compensations or commit hooks left to run had no runtime, and no thread could be started to run them |
//! | `atomic.outside_scope` | WARN | | a compensation was registered outside any atomic scope and will never run |
//! | `atomic.sql_failed` | ERROR | `statement`, `error`, `critical` (for the end of a scope's transaction) | a savepoint could not be rolled back to, or a scope's transaction could not be committed or rolled back, or, on PostgreSQL, was aborted by a failed statement when it was to commit (`atomic::sql`) |
//! | `atomic.sql_outside_scope` | WARN | | a savepoint was asked for outside any atomic scope |
//! | `health.check_failed` | WARN (degraded), ERROR (unhealthy) | `check`, `status`, `latency_ms`, `message` | a health check is not healthy (one event per such check) |
//! | `health.report` | DEBUG (healthy), WARN (degraded), ERROR (unhealthy) | `status`, `checks`, `failed` | [`health::HealthChecks::run`] finished; `status` is the overall one |
//! | `supervisor.started` | DEBUG | `policy` | a [`supervisor::Supervisor`] started its component |
//! | `supervisor.restarting` | WARN | `policy`, `restart` (in this run), `in_window` (the backoff count), `delay_ms`, `reason` (`error`/`panic`), `error` | the component failed; it restarts after `delay_ms` |
//! | `supervisor.finished` | INFO | `policy`, `restarts` | the component returned `Ok(())` |
//! | `supervisor.gave_up` | ERROR | `policy`, `restarts`, `max_restarts`, `window_ms`, `reason`, `error` | one failure more than `max_restarts` within the window: no restart |
//! | `alert.level_changed` | WARN (warning, or a step down short of normal), ERROR (critical), ERROR with `critical = true` (emergency), INFO (back to normal) | `policy`, `level`, `previous`, `error_rate`, `window_ms` (the window that decided; for an emergency, the outage so far) | an [`ErrorRateMonitor`](monitor::ErrorRateMonitor)'s alert level changed: raised at once, left only once the observations stay below it for `clear_after` (default: two in a row) |
//! | `fs.mode_repaired` | INFO | `path`, `from`, `to` (octal) | [`fs::ensure_mode`] changed the permissions |
//! | `fs.backup_skipped` | WARN | `path`, `kind` | [`fs::backup`] met a socket, FIFO or device: not archived |
//! | `fs.rollback_failed` | ERROR | `path`, `error` | an atomic scope could not put back a file that [`fs::write_atomic`] replaced |
//! | `fs.restore_cleanup_failed` | WARN | `path`, `error` | [`fs::restore`] succeeded but could not remove the old content it moved aside |
//! | `fallback.used` | INFO | `policy`, `reason` (`error`, `circuit_open`, `timed_out`, `rate_limited`, `bulkhead_full`) | `#[fallback]` answered instead of the function |
//! | `config.refused` | WARN | `policy`, `key`, `value` | a value from the environment or a file was refused at registration or on [`registry::reload`]; the policy keeps its configuration |
//! | `registry.registered` | DEBUG | `policy`, `kind` | a policy joined the [`registry`] |
//!
//! # Operations
//!
//! - [`correlation`]: a request's id in every event and [`Rejected`].
//! - [`registry`]: every named policy with its configuration, state, metrics and alert level;
//!   configuration changed at run time from code, the environment or a TOML file; with the feature
//!   `metrics`, export through the `metrics` facade ([`registry::watch`] samples and exports).
//! - [`monitor`]: error-rate alert levels (warning, critical, emergency) over sliding windows.
//! - [`health`]: named async checks with timeouts, built-ins for disk, memory and open breakers,
//!   and a JSON report.
//! - [`supervisor`]: restart a long-lived component with backoff, up to a limit.
//! - `resilient::tower` (feature `tower`): every policy as a `tower::Layer`, for axum, tonic and
//!   hyper stacks.
//!
//! # Cost
//!
//! No wrapper allocates, locks or boxes a future. A closed breaker in consecutive mode decides with
//! one atomic load, reads no clock, and writes nothing shared for a success while no failure is
//! recorded; rejections allocate nothing.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[doc(hidden)]
pub mod __private;
#[cfg(not(loom))]
mod alarm;
pub mod atomic;
mod backoff;
mod breaker;
mod bulkhead;
mod caught;
mod clock;
mod config;
pub mod correlation;
mod fallback;
/// Crash-safe file writes, timestamped backups and restores, permission repair.
pub mod fs;
pub mod health;
mod hedge;
#[cfg(feature = "http")]
pub mod http;
pub mod monitor;
mod name;
mod policy;
mod rate_limit;
pub mod registry;
mod rejected;
mod retry;
pub mod retry_ratio;
mod scoped;
#[cfg(feature = "redis")]
pub mod shared;
mod striped;
pub mod supervisor;
mod sync;
mod timeout;
#[cfg(feature = "tower")]
pub mod tower;

pub use backoff::Backoff;
pub use breaker::{
    BreakerCall, BreakerConfig, BreakerMetrics, BreakerState, CircuitBreaker, Classify, Permit,
};
pub use bulkhead::{Bulkhead, BulkheadCall, BulkheadMetrics, BulkheadPermit};
pub use config::ConfigError;
pub use fallback::{FallbackMetrics, FallbackPolicy};
pub use hedge::{Hedge, HedgeAttempt, HedgeMetrics, HedgePolicy, Hedging, hedge, hedge_when};
pub use rate_limit::{LimitedCall, RateLimiter, RateLimiterMetrics};
pub use rejected::{Rejected, RejectedKind};
pub use resilient_macros::{
    atomic, bulkhead, circuit_breaker, fallback, hedge, rate_limit, retry, timeout,
};
pub use retry::{Retry, RetryMetrics, RetryPolicy, retry, retry_when};
pub use timeout::{Timeout, TimeoutMetrics, TimeoutPolicy, timeout, timeout_named};
