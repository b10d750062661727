//! Annotated functions of every kind compile without a single warning, from rustc or clippy
//! (like tracing-attributes' `async_fn.rs` and pin-project's `tests/lint`): the generated code
//! must not make users allow anything.

#![deny(warnings, clippy::all)]

use resilient::{
    Backoff, BreakerConfig, CircuitBreaker, Rejected, RetryPolicy, circuit_breaker, fallback,
    retry, timeout,
};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[derive(Debug, PartialEq)]
enum Error {
    Status(u16),
    Rejected(Rejected),
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

impl Error {
    fn is_transient(&self) -> bool {
        matches!(self, Error::Status(500..=599) | Error::Rejected(_))
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

fn attempt(fail_first: u32) -> Result<u32, Error> {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n <= fail_first {
        Err(Error::Status(503))
    } else {
        Ok(n)
    }
}

static SHARED: CircuitBreaker = CircuitBreaker::new("shared", BreakerConfig::new());
static POLICY: RetryPolicy = RetryPolicy::new().max_attempts(2).backoff(Backoff::none());

#[retry]
async fn retry_defaults() -> Result<u32, Error> {
    attempt(0)
}

#[retry(max_attempts = 4, backoff = exponential(base = "1ms", max = "4ms", jitter = 0.0), when = Error::is_transient, budget = "1s", name = "retried")]
async fn retry_keys() -> Result<u32, Error> {
    attempt(0)
}

#[retry(policy = &POLICY)]
async fn retry_policy() -> Result<u32, Error> {
    attempt(0)
}

#[circuit_breaker]
async fn breaker_defaults() -> Result<u32, Error> {
    attempt(0)
}

#[circuit_breaker(failure_rate = 0.5, window = "10s", minimum_calls = 4, slow_call = "1s", slow_call_rate = 0.5, when = |e: &Error| e.is_transient(), name = "rated")]
async fn breaker_rate_mode() -> Result<u32, Error> {
    attempt(0)
}

#[circuit_breaker(failure_threshold = 2, recovery_timeout = "1s", half_open_calls = 2, success_threshold = 2, recovery_backoff = exponential(max = "1m"))]
fn breaker_blocking() -> Result<u32, Error> {
    attempt(0)
}

#[timeout("1s")]
async fn timeout_literal() -> Result<u32, Error> {
    attempt(0)
}

#[timeout(limit)]
async fn timeout_expression(limit: Duration) -> Result<u32, Error> {
    attempt(0)
}

async fn cached(err: Error) -> Result<u32, Error> {
    match err {
        Error::Status(404) => Ok(0),
        other => Err(other),
    }
}

#[fallback(cached)]
async fn fallback_path() -> Result<u32, Error> {
    attempt(0)
}

#[fallback(|_err| async move { Ok(default) }, when = Error::is_transient)]
async fn fallback_closure(default: u32) -> Result<u32, Error> {
    attempt(0)
}

#[fallback(|_err| Ok(default))]
#[retry(max_attempts = 2, backoff = none)]
#[circuit_breaker(breaker = &SHARED)]
fn stacked_blocking(default: u32) -> Result<u32, Error> {
    attempt(0)
}

#[fallback(|_err| async { Ok(0) })]
#[retry(max_attempts = 3, backoff = constant("1ms"))]
#[circuit_breaker(failure_threshold = 3)]
#[timeout("1s")]
async fn stacked(id: u32) -> Result<u32, Error> {
    let n = attempt(0)?;
    if id == 0 {
        return Err(Error::Status(404));
    }
    Ok(n + id)
}

#[resilient::circuit_breaker(failure_threshold = 3)]
#[resilient::retry(max_attempts = 2, backoff = none)]
#[::resilient::timeout("1s")]
async fn stacked_by_path() -> Result<u32, Error> {
    attempt(0)
}

#[retry(max_attempts = 2, backoff = none)]
#[timeout("1s")]
async fn io_alias(path: &str) -> io::Result<usize> {
    Ok(path.len())
}

#[retry(max_attempts = 2, backoff = none)]
async fn generic<T: Default + Clone>(value: Option<T>) -> Result<T, Error> {
    // Every attempt runs the body again: it clones what it would consume.
    Ok(value.clone().unwrap_or_default())
}

#[circuit_breaker(failure_threshold = 2)]
#[timeout("1s")]
async fn borrowing<'a>(words: &'a [&'a str]) -> Result<&'a str, Error> {
    words.first().copied().ok_or(Error::Status(404))
}

#[retry(max_attempts = 2, backoff = none)]
async fn impl_trait(
    items: impl IntoIterator<Item = u32> + Clone,
) -> Result<impl std::fmt::Display, Error> {
    Ok(items.clone().into_iter().sum::<u32>())
}

struct Service {
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    limit: Duration,
    count: u32,
}

impl Service {
    #[retry(policy = &self.policy)]
    #[circuit_breaker(breaker = &self.breaker)]
    #[timeout(self.limit)]
    async fn get(&self) -> Result<u32, Error> {
        attempt(0)
    }

    #[retry(max_attempts = 2, backoff = none)]
    async fn bump(&mut self) -> Result<u32, Error> {
        self.count += 1;
        Ok(self.count)
    }

    #[circuit_breaker(breaker = &self.breaker)]
    fn get_blocking(&self) -> Result<u32, Error> {
        attempt(0)
    }

    #[retry(max_attempts = 2, backoff = none)]
    fn bump_blocking(&mut self) -> Result<u32, Error> {
        self.count += 1;
        Ok(self.count)
    }
}

#[tokio::test(start_paused = true)]
async fn every_kind_of_annotated_function_runs() {
    assert!(retry_defaults().await.is_ok());
    assert!(retry_keys().await.is_ok());
    assert!(retry_policy().await.is_ok());
    assert!(breaker_defaults().await.is_ok());
    assert!(breaker_rate_mode().await.is_ok());
    assert!(breaker_blocking().is_ok());
    assert!(timeout_literal().await.is_ok());
    assert!(timeout_expression(Duration::from_secs(1)).await.is_ok());
    assert!(fallback_path().await.is_ok());
    assert!(fallback_closure(7).await.is_ok());
    assert!(stacked_blocking(7).is_ok());
    assert!(stacked(1).await.is_ok());
    assert_eq!(stacked(0).await, Ok(0));
    assert!(stacked_by_path().await.is_ok());
    assert_eq!(io_alias("abc").await.unwrap(), 3);
    assert_eq!(generic::<u8>(None).await, Ok(0));
    assert_eq!(borrowing(&["a", "b"]).await, Ok("a"));
    assert_eq!(impl_trait([1, 2]).await.unwrap().to_string(), "3");
    let mut service = Service {
        breaker: CircuitBreaker::new("service", BreakerConfig::new()),
        policy: RetryPolicy::new(),
        limit: Duration::from_secs(1),
        count: 0,
    };
    assert!(service.get().await.is_ok());
    assert_eq!(service.bump().await, Ok(1));
    assert!(service.get_blocking().is_ok());
    assert_eq!(service.bump_blocking(), Ok(2));
}
