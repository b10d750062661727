//! `#[retry]` on virtual time: attempts, the waits between them, which errors are retried, the
//! budget, and the error returned.

mod common;

use common::{ApiError, Calls, ms};
use resilient::{Backoff, RetryPolicy, retry};

#[tokio::test(start_paused = true)]
async fn a_success_at_once_makes_one_attempt_and_never_waits() {
    #[retry(max_attempts = 5, backoff = constant("100ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(0)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(1));
    assert_eq!((calls.times(), calls.elapsed()), (vec![0], ms(0)));
}

#[tokio::test(start_paused = true)]
async fn constant_backoff_waits_the_same_between_attempts() {
    #[retry(max_attempts = 5, backoff = constant("100ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(2)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(3));
    assert_eq!(calls.times(), [0, 100, 200]);
    assert_eq!(calls.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_without_jitter_doubles_each_wait_up_to_max() {
    #[retry(max_attempts = 5, backoff = exponential(base = "100ms", max = "300ms", jitter = 0.0))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(4)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(5));
    assert_eq!(calls.times(), [0, 100, 300, 600, 900]);
}

#[tokio::test(start_paused = true)]
async fn exponential_factor_sets_the_growth() {
    #[retry(max_attempts = 4, backoff = exponential(base = "10ms", max = "1s", factor = 3.0, jitter = 0.0))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(3)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(4));
    assert_eq!(calls.times(), [0, 10, 40, 130]);
}

#[tokio::test(start_paused = true)]
async fn linear_backoff_grows_by_its_base_up_to_max() {
    #[retry(max_attempts = 4, backoff = linear(base = "100ms", max = "250ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(3)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Ok(4));
    assert_eq!(calls.times(), [0, 100, 300, 550]);
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error_unchanged() {
    #[retry(max_attempts = 4, backoff = constant("10ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(4)));
    assert_eq!(calls.times(), [0, 10, 20, 30]);
    assert_eq!(calls.elapsed(), ms(30), "no wait after the last attempt");
}

#[tokio::test(start_paused = true)]
async fn max_attempts_1_never_retries() {
    #[retry(max_attempts = 1, backoff = constant("10ms"))]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(1)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(1)));
    assert_eq!((calls.count(), calls.elapsed()), (1, ms(0)));
}

#[tokio::test(start_paused = true)]
async fn the_defaults_are_three_attempts_about_one_then_two_seconds_apart() {
    #[retry]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(3)));
    let times = calls.times();
    assert_eq!(times.len(), 3);
    assert!((750..=1250).contains(&times[1]), "first wait: {times:?}");
    let second = times[2] - times[1];
    assert!((1500..=2500).contains(&second), "second wait: {times:?}");
}

#[tokio::test(start_paused = true)]
async fn when_path_retries_only_the_errors_it_accepts() {
    #[retry(max_attempts = 5, backoff = constant("10ms"), when = ApiError::is_transient)]
    async fn fetch(calls: &Calls, answers: &[ApiError]) -> Result<u32, ApiError> {
        let n = calls.next();
        match answers.get(n as usize - 1) {
            Some(err) => Err(err.clone()),
            None => Ok(n),
        }
    }
    let calls = Calls::new();
    let answers = [ApiError::Status(503), ApiError::Status(502)];
    assert_eq!(fetch(&calls, &answers).await, Ok(3), "5xx are retried");
    assert_eq!(calls.times(), [0, 10, 20]);

    let calls = Calls::new();
    let answers = [ApiError::Status(503), ApiError::Status(404)];
    assert_eq!(
        fetch(&calls, &answers).await,
        Err(ApiError::Status(404)),
        "a 404 is returned at once"
    );
    assert_eq!(calls.times(), [0, 10]);
}

#[tokio::test(start_paused = true)]
async fn when_closure_may_use_the_functions_arguments() {
    #[retry(max_attempts = 5, backoff = none, when = |e| *e != ApiError::Failed(give_up_on))]
    async fn fetch(calls: &Calls, give_up_on: u32) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls, 2).await, Err(ApiError::Failed(2)));
    assert_eq!(calls.count(), 2);

    #[retry(max_attempts = 5, backoff = none, when = |e: &ApiError| matches!(e, ApiError::Failed(1)))]
    async fn typed(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(typed(&calls).await, Err(ApiError::Failed(2)));
    assert_eq!(calls.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn budget_returns_the_last_error_instead_of_starting_an_attempt_past_it() {
    // Each attempt takes 60 ms and is followed by a 100 ms wait: the second attempt ends at
    // 220 ms, and a third would start at 320 ms, after the 250 ms budget.
    #[retry(max_attempts = 10, backoff = constant("100ms"), budget = "250ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        let n = calls.next();
        tokio::time::sleep(ms(60)).await;
        Err(ApiError::Failed(n))
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(2)));
    assert_eq!(calls.times(), [0, 160]);
    assert_eq!(calls.elapsed(), ms(220), "returned without sleeping");
}

#[tokio::test(start_paused = true)]
async fn budget_allows_an_attempt_that_starts_exactly_at_its_end() {
    #[retry(max_attempts = 10, backoff = constant("100ms"), budget = "200ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(3)));
    assert_eq!(calls.times(), [0, 100, 200]);
}

static TWICE: RetryPolicy = RetryPolicy::new()
    .name("twice")
    .max_attempts(2)
    .backoff(Backoff::constant(ms(50)));

#[tokio::test(start_paused = true)]
async fn policy_static_is_used_as_given() {
    #[retry(policy = &TWICE)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(2)));
    assert_eq!(calls.times(), [0, 50]);
}

#[tokio::test(start_paused = true)]
async fn policy_may_be_any_expression_evaluated_at_each_call() {
    #[retry(policy = policy)]
    async fn fetch(calls: &Calls, policy: &RetryPolicy) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    let three = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(5)));
    assert_eq!(fetch(&calls, &three).await, Err(ApiError::Failed(3)));
    let once = RetryPolicy::new().max_attempts(1);
    assert_eq!(fetch(&calls, &once).await, Err(ApiError::Failed(4)));
    assert_eq!(calls.times(), [0, 5, 10, 10]);
}

#[tokio::test(start_paused = true)]
async fn each_call_starts_with_fresh_attempts() {
    #[retry(max_attempts = 2, backoff = none)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    for expected_last in [2, 4, 6] {
        assert_eq!(fetch(&calls).await, Err(ApiError::Failed(expected_last)));
    }
}

/// `retry_ratio`: a dependency down for 100 calls of 3 attempts gets the floor of 10 retries and
/// one per ten calls after it, 119 attempts where 300 would have been made.
#[tokio::test(start_paused = true)]
async fn the_retry_ratio_bounds_the_retries_of_many_calls() {
    #[retry(max_attempts = 3, backoff = constant("1ms"), retry_ratio = 0.1)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    for _ in 0..100 {
        assert!(fetch(&calls).await.is_err());
    }
    assert_eq!(calls.times().len(), 119);
}
