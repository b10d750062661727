//! Annotated functions keep their signature and their body's meaning: methods, generics,
//! lifetimes, `impl Trait`, blocking functions, `?` and `return`, `Result` aliases.

mod common;

use common::{ApiError, Calls, ms};
use resilient::{
    Backoff, BreakerConfig, BreakerState, CircuitBreaker, Rejected, RejectedKind, RetryPolicy,
    circuit_breaker, fallback, retry, timeout,
};
use std::fmt::Display;
use std::io;
use std::str::FromStr;
use std::time::Duration;
use tokio::time::sleep;

struct Client {
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    limit: Duration,
    calls: Calls,
    retry_status: u16,
}

impl Client {
    fn new(threshold: u32) -> Self {
        Self {
            breaker: CircuitBreaker::new(
                "client",
                BreakerConfig::new().failure_threshold(threshold),
            ),
            policy: RetryPolicy::new()
                .max_attempts(3)
                .backoff(Backoff::constant(ms(10))),
            limit: ms(100),
            calls: Calls::new(),
            retry_status: 503,
        }
    }

    #[circuit_breaker(breaker = &self.breaker)]
    async fn get(&self, status: Option<u16>) -> Result<u32, ApiError> {
        let n = self.calls.next();
        match status {
            Some(status) => Err(ApiError::Status(status)),
            None => Ok(n),
        }
    }

    #[retry(policy = &self.policy)]
    #[circuit_breaker(breaker = &self.breaker)]
    #[timeout(self.limit)]
    async fn slow(&self, takes: Duration) -> Result<u32, ApiError> {
        let n = self.calls.next();
        sleep(takes).await;
        Ok(n)
    }

    fn is_retryable(&self, err: &ApiError) -> bool {
        *err == ApiError::Status(self.retry_status)
    }

    #[retry(max_attempts = 4, backoff = none, when = |e| self.is_retryable(e))]
    async fn judged_by_self(&self, status: u16) -> Result<u32, ApiError> {
        self.calls.next();
        Err(ApiError::Status(status))
    }
}

#[tokio::test(start_paused = true)]
async fn methods_use_their_own_breaker_through_self() {
    let (a, b) = (Client::new(2), Client::new(2));
    a.get(Some(500)).await.unwrap_err();
    a.get(Some(500)).await.unwrap_err();
    assert_eq!(a.breaker.state(), BreakerState::Open);
    assert_eq!(
        a.get(None).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(a.calls.count(), 2);
    assert_eq!(b.get(None).await, Ok(1), "another client, another breaker");
    assert_eq!(b.breaker.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn methods_take_policy_and_limit_from_self() {
    let client = Client::new(5);
    assert_eq!(client.slow(ms(99)).await, Ok(1));
    let err = client.slow(ms(1000)).await.unwrap_err();
    assert_eq!(err.rejection(), Some(RejectedKind::TimedOut));
    assert_eq!(client.calls.times(), [0, 99, 209, 319]);
    assert_eq!(client.breaker.metrics().failures, 3);
}

#[tokio::test(start_paused = true)]
async fn a_when_closure_may_call_methods_on_self() {
    let client = Client::new(5);
    assert_eq!(client.judged_by_self(503).await, Err(ApiError::Status(503)));
    assert_eq!(client.calls.count(), 4);
    assert_eq!(client.judged_by_self(500).await, Err(ApiError::Status(500)));
    assert_eq!(client.calls.count(), 5);
}

struct Counter {
    attempts: u32,
    log: Vec<u32>,
}

impl Counter {
    #[retry(max_attempts = 5, backoff = constant("10ms"))]
    async fn bump(&mut self, succeed_at: u32) -> Result<u32, ApiError> {
        self.attempts += 1;
        self.log.push(self.attempts);
        if self.attempts < succeed_at {
            return Err(ApiError::Failed(self.attempts));
        }
        Ok(self.attempts)
    }

    #[retry(max_attempts = 5, backoff = none)]
    fn bump_blocking(&mut self, succeed_at: u32) -> Result<u32, ApiError> {
        self.attempts += 1;
        if self.attempts < succeed_at {
            return Err(ApiError::Failed(self.attempts));
        }
        Ok(self.attempts)
    }
}

#[tokio::test(start_paused = true)]
async fn mut_self_is_mutated_across_attempts() {
    let mut counter = Counter {
        attempts: 0,
        log: Vec::new(),
    };
    assert_eq!(counter.bump(3).await, Ok(3));
    assert_eq!(counter.log, [1, 2, 3]);
    assert_eq!(counter.bump_blocking(6), Ok(6));
    assert_eq!(counter.attempts, 6);
}

#[tokio::test(start_paused = true)]
async fn generic_functions_keep_their_bounds_and_where_clauses() {
    #[retry(max_attempts = 2, backoff = none)]
    async fn parse<T>(calls: &Calls, text: &str) -> Result<T, ApiError>
    where
        T: FromStr,
    {
        calls.next();
        text.parse().map_err(|_| ApiError::Status(400))
    }
    let calls = Calls::new();
    assert_eq!(parse::<u8>(&calls, "42").await, Ok(42u8));
    assert_eq!(parse::<f64>(&calls, "0.5").await, Ok(0.5));
    assert_eq!(parse::<u8>(&calls, "300").await, Err(ApiError::Status(400)));
    assert_eq!(calls.count(), 4);

    #[circuit_breaker(failure_threshold = 1)]
    fn fill<const N: usize, T: Copy + Default>(value: T) -> Result<[T; N], ApiError> {
        Ok([value; N])
    }
    assert_eq!(fill::<3, char>('x'), Ok(['x'; 3]));
    assert_eq!(fill::<2, u8>(1), Ok([1, 1]));
}

#[tokio::test(start_paused = true)]
async fn borrowed_arguments_and_lifetimes_flow_to_the_result() {
    #[retry(max_attempts = 3, backoff = none)]
    #[timeout("1s")]
    async fn longest<'a>(calls: &Calls, words: &'a [&'a str]) -> Result<&'a str, ApiError> {
        calls.next();
        words
            .iter()
            .copied()
            .max_by_key(|w| w.len())
            .ok_or(ApiError::Status(404))
    }
    let calls = Calls::new();
    let words = ["a", "abc", "ab"];
    assert_eq!(longest(&calls, &words).await, Ok("abc"));
    assert_eq!(longest(&calls, &[]).await, Err(ApiError::Status(404)));
    assert_eq!(calls.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn impl_trait_arguments_and_results_work() {
    #[circuit_breaker(failure_threshold = 1)]
    #[timeout("1s")]
    async fn total(items: impl IntoIterator<Item = u32>) -> Result<u32, ApiError> {
        Ok(items.into_iter().sum())
    }
    assert_eq!(total(vec![1, 2, 3]).await, Ok(6));
    assert_eq!(total([4; 2]).await, Ok(8));

    #[retry(max_attempts = 2, backoff = none)]
    async fn label(calls: &Calls, name: impl AsRef<str>) -> Result<impl Display, ApiError> {
        let n = calls.fail_first(1)?;
        Ok(format!("{}#{n}", name.as_ref()))
    }
    let calls = Calls::new();
    assert_eq!(label(&calls, "user").await.unwrap().to_string(), "user#2");
}

#[derive(Debug, thiserror::Error)]
enum ParseError {
    #[error(transparent)]
    Int(#[from] std::num::ParseIntError),
    #[error("zero is not an id")]
    Zero,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

#[tokio::test(start_paused = true)]
async fn question_mark_and_return_in_the_body_behave_as_without_attributes() {
    #[retry(max_attempts = 3, backoff = none, when = |e| matches!(e, ParseError::Zero))]
    #[circuit_breaker(failure_threshold = 10)]
    #[timeout("1s")]
    async fn id(calls: &Calls, text: &str) -> Result<u64, ParseError> {
        calls.next();
        let id: u64 = text.trim().parse()?;
        if id == 0 {
            return Err(ParseError::Zero);
        }
        Ok(id)
    }
    let calls = Calls::new();
    assert_eq!(id(&calls, " 7 ").await.unwrap(), 7);
    assert!(matches!(id(&calls, "x").await, Err(ParseError::Int(_))));
    assert_eq!(calls.count(), 2, "a parse error is not retried");
    assert!(matches!(id(&calls, "0").await, Err(ParseError::Zero)));
    assert_eq!(
        calls.count(),
        5,
        "an early `return` is the attempt's result"
    );

    #[fallback(|_err| Ok(0))]
    #[retry(max_attempts = 2, backoff = none)]
    #[circuit_breaker(failure_threshold = 10)]
    fn id_blocking(calls: &Calls, text: &str) -> Result<u64, ParseError> {
        calls.next();
        let id: u64 = text.parse()?;
        if id == 0 {
            return Err(ParseError::Zero);
        }
        Ok(id)
    }
    let calls = Calls::new();
    assert_eq!(id_blocking(&calls, "9").unwrap(), 9);
    assert_eq!(id_blocking(&calls, "0").unwrap(), 0);
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn io_result_maps_rejections_to_io_errors() {
    #[circuit_breaker(failure_threshold = 1, name = "disk")]
    #[timeout("10ms")]
    async fn read(takes: Duration) -> io::Result<String> {
        sleep(takes).await;
        Ok("contents".to_owned())
    }
    assert_eq!(read(ms(1)).await.unwrap(), "contents");
    assert_eq!(
        read(ms(20)).await.unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
    let open = read(ms(1)).await.unwrap_err();
    assert_eq!(open.kind(), io::ErrorKind::Other);
    let rejected = open.get_ref().and_then(|e| e.downcast_ref::<Rejected>());
    assert_eq!(
        rejected.map(|r| (r.kind(), r.policy())),
        Some((RejectedKind::CircuitOpen, "disk"))
    );
}

#[test]
fn blocking_functions_retry_with_backoff_none() {
    #[retry(max_attempts = 3, backoff = none)]
    fn read(calls: &Calls, path: &str) -> io::Result<String> {
        calls.next();
        std::fs::read_to_string(path)
    }
    // No runtime here: `Calls` reads tokio's clock, which falls back to the system clock. That
    // `none` waits zero between attempts is checked on virtual time by the async tests.
    let calls = Calls::new();
    let err = read(&calls, "/definitely/not/here").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert_eq!(calls.count(), 3);
}

mod aliased {
    use super::{ApiError, Calls};
    use resilient::retry;

    type Result<T> = std::result::Result<T, ApiError>;

    #[retry(max_attempts = 2, backoff = none)]
    pub(super) async fn fetch(calls: &Calls) -> Result<u32> {
        calls.fail_first(1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_crate_result_alias_works() {
    let calls = Calls::new();
    assert_eq!(aliased::fetch(&calls).await, Ok(2));
}

struct Connection {
    id: u32,
}

impl Connection {
    #[retry(max_attempts = 3, backoff = none)]
    fn open(calls: &Calls) -> Result<Self, ApiError> {
        let id = calls.fail_first(2)?;
        Ok(Self { id })
    }
}

trait Store {
    async fn load(&self, key: u32) -> Result<u32, ApiError>;
}

struct Flaky {
    calls: Calls,
}

impl Store for Flaky {
    #[retry(max_attempts = 3, backoff = constant("5ms"))]
    #[timeout("1s")]
    async fn load(&self, key: u32) -> Result<u32, ApiError> {
        self.calls.fail_first(2).map(|n| key * 10 + n)
    }
}

#[tokio::test(start_paused = true)]
async fn associated_functions_and_trait_impls_work() {
    let calls = Calls::new();
    assert_eq!(Connection::open(&calls).map(|c| c.id), Ok(3));
    let store = Flaky {
        calls: Calls::new(),
    };
    assert_eq!(store.load(4).await, Ok(43));
    assert_eq!(store.calls.times(), [0, 5, 10]);
}
