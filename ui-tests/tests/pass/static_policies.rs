// Policies are const-constructed, so they live in statics with no lazy initialisation.
use resilient::{Backoff, BreakerConfig, CircuitBreaker, RetryPolicy};
use std::time::Duration;

static CONSECUTIVE: CircuitBreaker = CircuitBreaker::new(
    "consecutive",
    BreakerConfig::new()
        .failure_threshold(5)
        .recovery_timeout(Duration::from_secs(10))
        .half_open_calls(2)
        .success_threshold(2)
        .recovery_backoff(Backoff::exponential(Duration::from_secs(10), Duration::from_secs(600))),
);

static RATE: CircuitBreaker = CircuitBreaker::new(
    "rate",
    BreakerConfig::new()
        .failure_rate(0.5)
        .time_window(Duration::from_secs(60))
        .minimum_calls(20)
        .slow_call(Duration::from_secs(2))
        .slow_call_rate(0.8),
);

static RETRY: RetryPolicy = RetryPolicy::new()
    .max_attempts(5)
    .backoff(Backoff::decorrelated(Duration::from_millis(100), Duration::from_secs(10)))
    .budget(Duration::from_secs(30));

fn main() {
    let _ = (CONSECUTIVE.state(), RATE.state(), RETRY.attempts());
}
