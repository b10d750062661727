//! Every policy validates as the circuit breaker does: a bad literal in a `static` is a
//! compile-time error (the `compile_fail` doctests of each setter), and a value known only at
//! run time goes through a `try_*` that says what is wrong and what is allowed.

use resilient::supervisor::Supervisor;
use resilient::{Backoff, RetryPolicy, TimeoutPolicy};
use std::time::Duration;

const BASE_ABOVE_MAX: Backoff = Backoff::linear(Duration::from_secs(5), Duration::from_secs(1));

fn refusal<T>(checked: Result<T, resilient::ConfigError>) -> (&'static str, String) {
    match checked {
        Ok(_) => panic!("accepted"),
        Err(err) => (err.key(), err.to_string()),
    }
}

#[test]
fn retry_refuses_zero_attempts_a_zero_budget_and_a_bad_backoff() {
    let fetch = || RetryPolicy::new().name("fetch");
    assert_eq!(
        refusal(fetch().try_max_attempts(0)),
        (
            "max_attempts",
            "policy `fetch`: `max_attempts` must be at least 1 (got 0)".to_owned()
        )
    );
    assert_eq!(
        refusal(fetch().try_budget(Duration::ZERO)),
        (
            "budget",
            "policy `fetch`: `budget` must be longer than zero (got 0ns)".to_owned()
        )
    );
    assert_eq!(
        refusal(fetch().try_backoff(BASE_ABOVE_MAX)),
        (
            "base",
            "policy `fetch`: `base` must not exceed `max` (got 5s)".to_owned()
        )
    );
    assert_eq!(
        refusal(fetch().try_backoff(Backoff::default().jitter(1.5))),
        (
            "jitter",
            "policy `fetch`: `jitter` must be between 0.0 and 1.0 (got 1.5)".to_owned()
        )
    );
    let accepted = fetch()
        .try_max_attempts(4)
        .and_then(|p| p.try_budget(Duration::from_secs(2)))
        .and_then(|p| p.try_backoff(Backoff::none()))
        .unwrap();
    assert_eq!(
        accepted,
        fetch()
            .max_attempts(4)
            .budget(Duration::from_secs(2))
            .backoff(Backoff::none())
    );
}

#[test]
#[should_panic(expected = "`max_attempts` must be at least 1")]
fn retry_setter_panics_on_zero_attempts_at_run_time() {
    let attempts = std::hint::black_box(0);
    let _ = RetryPolicy::new().max_attempts(attempts);
}

#[test]
fn timeout_refuses_a_zero_limit() {
    assert_eq!(
        refusal(TimeoutPolicy::try_new("fetch", Duration::ZERO)),
        (
            "timeout",
            "policy `fetch`: `timeout` must be longer than zero (got 0ns)".to_owned()
        )
    );
    let policy = TimeoutPolicy::try_new("fetch", Duration::from_millis(1)).unwrap();
    assert_eq!(policy.limit(), Some(Duration::from_millis(1)));
}

#[test]
#[should_panic(expected = "`timeout` must be longer than zero")]
fn timeout_constructor_panics_on_a_zero_limit_at_run_time() {
    let _ = TimeoutPolicy::new("fetch", std::hint::black_box(Duration::ZERO));
}

#[test]
fn supervisor_refuses_a_zero_window_and_a_bad_backoff() {
    assert_eq!(
        refusal(Supervisor::new("bus").try_within(Duration::ZERO)),
        (
            "within",
            "policy `bus`: `within` must be longer than zero (got 0ns)".to_owned()
        )
    );
    assert_eq!(
        refusal(Supervisor::new("bus").try_backoff(BASE_ABOVE_MAX)),
        (
            "base",
            "policy `bus`: `base` must not exceed `max` (got 5s)".to_owned()
        )
    );
    let accepted = Supervisor::new("bus")
        .try_within(Duration::from_secs(1))
        .and_then(|s| s.try_backoff(Backoff::none()))
        .unwrap();
    assert_eq!(accepted.validate(), Ok(()));
}

#[test]
#[should_panic(expected = "`within` must be longer than zero")]
fn supervisor_setter_panics_on_a_zero_window_at_run_time() {
    let _ = Supervisor::new("bus").within(std::hint::black_box(Duration::ZERO));
}
