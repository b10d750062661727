//! `#[rate_limit]` on virtual time: turns and refusals at exact instants, its default name and
//! registration, a limiter shared by two functions, a blocking function, and its place in the
//! recommended stack (inside the breaker and the retry).

mod common;

use common::{ApiError, Calls, ms};
use resilient::registry::{self, PolicyKind};
use resilient::{BreakerState, RateLimiter, RejectedKind, circuit_breaker, rate_limit, retry};
use std::time::Duration;

/// Three callers at once, a turn every 100 ms, each may wait 150 ms: two run, at 0 and 100 ms;
/// the third is refused at once, its turn 200 ms away.
#[tokio::test(start_paused = true)]
async fn callers_run_in_their_turns_and_the_rest_are_refused() {
    #[rate_limit(rate = 10, per = "1s", burst = 1, max_wait = "150ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        Ok(calls.next())
    }
    let calls = Calls::new();
    let (a, b, c) = tokio::join!(fetch(&calls), fetch(&calls), fetch(&calls));
    assert_eq!((a, b), (Ok(1), Ok(2)));
    let refused = c.unwrap_err();
    let refused = refused.rejected();
    assert_eq!(refused.kind(), RejectedKind::RateLimited);
    assert_eq!(refused.retry_after(), Some(ms(200)));
    assert_eq!(refused.policy(), concat!(module_path!(), "::fetch"));
    assert_eq!(calls.times(), [0, 100]);
    assert_eq!(calls.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn the_limiter_registers_on_first_use_with_its_settings() {
    #[rate_limit(rate = 5, per = "2s", name = "rate_limit.registered")]
    async fn ping() -> Result<(), ApiError> {
        Ok(())
    }
    let registered = || {
        registry::policies()
            .into_iter()
            .find(|p| p.name == "rate_limit.registered")
    };
    assert!(registered().is_none());
    ping().await.unwrap();
    let info = registered().expect("registered on first use");
    assert_eq!(info.kind, PolicyKind::RateLimit);
    assert_eq!(info.config["rate"], "5");
    assert_eq!(info.config["per"], "2s");
    assert_eq!(
        info.config["burst"], "5",
        "the burst is the rate unless given"
    );
    assert_eq!(info.config["max_wait"], "0s");
}

/// Two functions on one limiter of the user's: they share its turns.
#[tokio::test(start_paused = true)]
async fn two_functions_share_a_limiter_of_their_own() {
    static SHARED: RateLimiter = RateLimiter::new("rate_limit.shared", 1, Duration::from_secs(1));
    #[rate_limit(limiter = &SHARED)]
    async fn read() -> Result<&'static str, ApiError> {
        Ok("read")
    }
    #[rate_limit(limiter = &SHARED)]
    async fn write() -> Result<&'static str, ApiError> {
        Ok("write")
    }
    assert_eq!(read().await, Ok("read"));
    let refused = write().await.unwrap_err();
    assert_eq!(refused.rejected().policy(), "rate_limit.shared");
    assert_eq!(
        refused.rejected().retry_after(),
        Some(Duration::from_secs(1))
    );
    assert_eq!(SHARED.metrics().admitted, 1);
}

/// The recommended order: the retry outermost, then the breaker, then the limiter. The second
/// call is refused at its first attempt (its turn 100 ms away); the retry waits for that turn
/// rather than its 10 ms backoff, and the breaker does not count the refusal.
#[tokio::test(start_paused = true)]
async fn in_the_stack_a_refusal_is_retried_in_its_turn_and_not_counted_by_the_breaker() {
    #[retry(max_attempts = 3, backoff = constant("10ms"), when = ApiError::is_transient)]
    #[circuit_breaker(failure_threshold = 1, name = "rate_limit.stacked")]
    #[rate_limit(rate = 10, burst = 1)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        Ok(calls.next())
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(1));
    assert_eq!(fetch(&calls).await, Ok(2));
    assert_eq!(calls.times(), [0, 100]);
    let breaker = registry::breakers()
        .into_iter()
        .find(|b| b.name() == "rate_limit.stacked")
        .expect("registered");
    assert_eq!(breaker.state(), BreakerState::Closed);
    let m = breaker.metrics();
    assert_eq!((m.successes, m.failures, m.released), (2, 0, 1));
}

/// A blocking function sleeps the thread until its turn; past `max_wait` it is refused. No
/// runtime here: a rate of one an hour keeps it deterministic on the real clock.
#[test]
fn a_blocking_function_is_limited_too() {
    #[rate_limit(rate = 1, per = "1h", burst = 2)]
    fn tick() -> Result<u32, ApiError> {
        Ok(1)
    }
    assert_eq!(tick(), Ok(1));
    assert_eq!(tick(), Ok(1));
    let refused = tick().unwrap_err();
    assert_eq!(refused.rejection(), Some(RejectedKind::RateLimited));
    let wait = refused.rejected().retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
}
