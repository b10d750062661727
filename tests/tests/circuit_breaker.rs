//! `#[circuit_breaker]` on virtual time: when it opens, what a rejection says, the half-open trial,
//! predicates, rate mode and names.

mod common;

use common::{ApiError, Calls, ms};
use resilient::{BreakerConfig, BreakerState, CircuitBreaker, RejectedKind, circuit_breaker};
use std::time::Duration;
use tokio::time::{advance, sleep};

#[tokio::test(start_paused = true)]
async fn opens_after_failure_threshold_and_rejects_without_running_the_body() {
    #[circuit_breaker(failure_threshold = 3, recovery_timeout = "1s")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    for n in 1..=3 {
        assert_eq!(fetch(&calls).await, Err(ApiError::Failed(n)));
    }
    for _ in 0..5 {
        let err = fetch(&calls).await.unwrap_err();
        let rejected = err.rejected();
        assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
        assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));
    }
    assert_eq!(calls.count(), 3, "a rejected call never runs the body");
}

#[tokio::test(start_paused = true)]
async fn the_defaults_open_after_three_failures_for_thirty_seconds() {
    #[circuit_breaker]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    for _ in 0..3 {
        fetch(&calls).await.unwrap_err();
    }
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejected().retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_failure_count() {
    #[circuit_breaker(failure_threshold = 3)]
    async fn fetch(calls: &Calls, fail: bool) -> Result<u32, ApiError> {
        let n = calls.next();
        if fail {
            Err(ApiError::Failed(n))
        } else {
            Ok(n)
        }
    }
    let calls = Calls::new();
    for _ in 0..4 {
        fetch(&calls, true).await.unwrap_err();
        fetch(&calls, true).await.unwrap_err();
        fetch(&calls, false).await.unwrap();
    }
    assert_eq!(
        calls.count(),
        12,
        "never three failures in a row: every call ran"
    );
    for _ in 0..3 {
        fetch(&calls, true).await.unwrap_err();
    }
    assert_eq!(
        fetch(&calls, false).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 15);
}

static TRIAL: CircuitBreaker = CircuitBreaker::new(
    "trial",
    BreakerConfig::new()
        .failure_threshold(1)
        .recovery_timeout(ms(500)),
);

#[tokio::test(start_paused = true)]
async fn after_recovery_timeout_one_trial_runs_half_open_and_its_success_closes_it() {
    #[circuit_breaker(breaker = &TRIAL)]
    async fn fetch(calls: &Calls, fail: bool) -> Result<BreakerState, ApiError> {
        calls.next();
        // The state as the body sees it while it runs.
        let state = TRIAL.state();
        if fail {
            Err(ApiError::Status(503))
        } else {
            Ok(state)
        }
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls, true).await, Err(ApiError::Status(503)));
    assert_eq!(TRIAL.state(), BreakerState::Open);
    advance(ms(499)).await;
    let err = fetch(&calls, false).await.unwrap_err();
    assert_eq!(err.rejected().retry_after(), Some(ms(1)));
    assert_eq!((calls.count(), TRIAL.state()), (1, BreakerState::Open));
    advance(ms(1)).await;
    assert_eq!(
        fetch(&calls, false).await,
        Ok(BreakerState::HalfOpen),
        "the trial runs at exactly 500 ms"
    );
    assert_eq!(TRIAL.state(), BreakerState::Closed);
    assert_eq!(fetch(&calls, false).await, Ok(BreakerState::Closed));
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_it_for_another_recovery_timeout() {
    #[circuit_breaker(failure_threshold = 2, recovery_timeout = "200ms")]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    fetch(&calls).await.unwrap_err();
    fetch(&calls).await.unwrap_err();
    advance(ms(200)).await;
    assert_eq!(
        fetch(&calls).await,
        Err(ApiError::Failed(3)),
        "the trial ran"
    );
    let err = fetch(&calls).await.unwrap_err();
    assert_eq!(err.rejected().retry_after(), Some(ms(200)), "open again");
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn half_open_calls_trials_run_at_once_and_success_threshold_of_them_close_it() {
    #[circuit_breaker(
        failure_threshold = 1,
        recovery_timeout = "100ms",
        half_open_calls = 2,
        success_threshold = 2
    )]
    async fn fetch(calls: &Calls, fail: bool) -> Result<u32, ApiError> {
        let n = calls.next();
        sleep(ms(10)).await;
        if fail {
            Err(ApiError::Failed(n))
        } else {
            Ok(n)
        }
    }
    let calls = Calls::new();
    fetch(&calls, true).await.unwrap_err();
    advance(ms(100)).await;
    let (a, b, c) = tokio::join!(
        fetch(&calls, false),
        fetch(&calls, false),
        fetch(&calls, false)
    );
    assert_eq!((a, b), (Ok(2), Ok(3)), "two trials ran");
    assert_eq!(c.unwrap_err().rejection(), Some(RejectedKind::CircuitOpen));
    assert_eq!(calls.count(), 3);
    // Two successful trials closed it: calls run again, together.
    let (d, e, f) = tokio::join!(
        fetch(&calls, false),
        fetch(&calls, false),
        fetch(&calls, false)
    );
    assert_eq!((d, e, f), (Ok(4), Ok(5), Ok(6)));
}

#[tokio::test(start_paused = true)]
async fn when_predicate_decides_which_errors_are_failures() {
    #[circuit_breaker(failure_threshold = 2, when = |e: &ApiError| matches!(e, ApiError::Status(500..=599)))]
    async fn fetch(calls: &Calls, status: u16) -> Result<u32, ApiError> {
        calls.next();
        Err(ApiError::Status(status))
    }
    let calls = Calls::new();
    for _ in 0..5 {
        assert_eq!(fetch(&calls, 404).await, Err(ApiError::Status(404)));
    }
    assert_eq!(calls.count(), 5, "a 404 says the upstream is up");
    fetch(&calls, 503).await.unwrap_err();
    fetch(&calls, 500).await.unwrap_err();
    assert_eq!(
        fetch(&calls, 404).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 7);
}

#[tokio::test(start_paused = true)]
async fn when_path_decides_which_errors_are_failures() {
    #[circuit_breaker(failure_threshold = 1, when = ApiError::is_transient)]
    async fn fetch(status: u16) -> Result<u32, ApiError> {
        Err(ApiError::Status(status))
    }
    assert_eq!(fetch(400).await, Err(ApiError::Status(400)));
    assert_eq!(fetch(502).await, Err(ApiError::Status(502)));
    assert_eq!(
        fetch(400).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
}

#[tokio::test(start_paused = true)]
async fn rate_mode_opens_at_the_failure_rate_once_minimum_calls_are_in_the_window() {
    #[circuit_breaker(failure_rate = 0.5, window = 4, minimum_calls = 4)]
    async fn fetch(calls: &Calls, fail: bool) -> Result<u32, ApiError> {
        let n = calls.next();
        if fail {
            Err(ApiError::Failed(n))
        } else {
            Ok(n)
        }
    }
    let calls = Calls::new();
    for _ in 0..3 {
        fetch(&calls, true).await.unwrap_err();
    }
    // 3 failures of 3 calls, below the minimum: still closed. The fourth call makes it 3 of 4.
    assert_eq!(fetch(&calls, false).await, Ok(4));
    assert_eq!(
        fetch(&calls, false).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn rate_mode_stays_closed_below_the_rate_in_the_last_window_calls() {
    #[circuit_breaker(failure_rate = 0.5, window = 4, minimum_calls = 4)]
    async fn fetch(calls: &Calls, fail: bool) -> Result<u32, ApiError> {
        let n = calls.next();
        if fail {
            Err(ApiError::Failed(n))
        } else {
            Ok(n)
        }
    }
    let calls = Calls::new();
    // One failure in every four calls: a rate of 0.25 in any window of four.
    for round in 0..5 {
        for ok in 0..3 {
            assert_eq!(fetch(&calls, false).await, Ok(round * 4 + ok + 1));
        }
        fetch(&calls, true).await.unwrap_err();
    }
    assert_eq!(calls.count(), 20);
    // One failure more: the last four calls are ok, ok, fail, fail, a rate of 0.5.
    assert_eq!(fetch(&calls, true).await, Err(ApiError::Failed(21)));
    assert_eq!(
        fetch(&calls, false).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
}

#[tokio::test(start_paused = true)]
async fn rate_mode_with_a_time_window_forgets_calls_older_than_it() {
    #[circuit_breaker(failure_rate = 1.0, window = "10s", minimum_calls = 2)]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    fetch(&calls).await.unwrap_err();
    advance(Duration::from_secs(11)).await;
    fetch(&calls).await.unwrap_err();
    // The first failure is out of the window: one call, below the minimum.
    assert_eq!(fetch(&calls).await, Err(ApiError::Failed(3)));
    assert_eq!(
        fetch(&calls).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn slow_successes_count_as_failures() {
    #[circuit_breaker(failure_threshold = 2, slow_call = "1s")]
    async fn fetch(calls: &Calls, takes: Duration) -> Result<u32, ApiError> {
        let n = calls.next();
        sleep(takes).await;
        Ok(n)
    }
    let calls = Calls::new();
    assert_eq!(fetch(&calls, ms(999)).await, Ok(1));
    assert_eq!(fetch(&calls, ms(1000)).await, Ok(2));
    assert_eq!(fetch(&calls, ms(1000)).await, Ok(3), "slow, but returned");
    assert_eq!(
        fetch(&calls, ms(0)).await.unwrap_err().rejection(),
        Some(RejectedKind::CircuitOpen)
    );
    assert_eq!(calls.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn recovery_backoff_lengthens_each_reopening() {
    #[circuit_breaker(
        failure_threshold = 1,
        recovery_timeout = "1s",
        recovery_backoff = exponential(max = "10m")
    )]
    async fn fetch(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    let calls = Calls::new();
    fetch(&calls).await.unwrap_err();
    let mut waits = Vec::new();
    for _ in 0..4 {
        let wait = fetch(&calls)
            .await
            .unwrap_err()
            .rejected()
            .retry_after()
            .unwrap();
        waits.push(wait.as_secs());
        advance(wait).await;
        fetch(&calls).await.unwrap_err(); // the trial fails
    }
    assert_eq!(waits, [1, 2, 4, 8]);
    assert_eq!(calls.count(), 5);
}

#[tokio::test(start_paused = true)]
async fn name_labels_the_rejection() {
    #[circuit_breaker(failure_threshold = 1, name = "payments")]
    async fn charge() -> Result<(), ApiError> {
        Err(ApiError::Status(503))
    }
    charge().await.unwrap_err();
    let err = charge().await.unwrap_err();
    assert_eq!(err.rejected().policy(), "payments");
    assert!(err.to_string().contains("`payments`"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_default_name_is_the_module_path_and_the_function_name() {
    #[circuit_breaker(failure_threshold = 1)]
    async fn fetch() -> Result<(), ApiError> {
        Err(ApiError::Status(503))
    }
    fetch().await.unwrap_err();
    let err = fetch().await.unwrap_err();
    assert_eq!(err.rejected().policy(), concat!(module_path!(), "::fetch"));
    assert_eq!(err.rejected().policy(), "circuit_breaker::fetch");

    mod billing {
        use super::ApiError;
        use resilient::circuit_breaker;

        #[circuit_breaker(failure_threshold = 1)]
        pub(super) fn charge() -> Result<(), ApiError> {
            Err(ApiError::Status(503))
        }
    }
    billing::charge().unwrap_err();
    let err = billing::charge().unwrap_err();
    assert_eq!(err.rejected().policy(), "circuit_breaker::billing::charge");
}

static SHARED: CircuitBreaker = CircuitBreaker::new(
    "shared",
    BreakerConfig::new()
        .failure_threshold(2)
        .recovery_timeout(ms(1000)),
);

#[tokio::test(start_paused = true)]
async fn functions_given_the_same_breaker_share_its_state() {
    #[circuit_breaker(breaker = &SHARED)]
    async fn read(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(u32::MAX)
    }
    #[circuit_breaker(breaker = &SHARED)]
    fn write(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(0)
    }
    let calls = Calls::new();
    assert_eq!(write(&calls), Ok(1));
    read(&calls).await.unwrap_err();
    assert_eq!(SHARED.state(), BreakerState::Closed);
    read(&calls).await.unwrap_err();
    assert_eq!(SHARED.state(), BreakerState::Open);
    let err = write(&calls).unwrap_err();
    assert_eq!(err.rejected().policy(), "shared");
    assert_eq!(calls.count(), 3);
    let m = SHARED.metrics();
    assert_eq!((m.successes, m.failures, m.rejections), (1, 2, 1));
}

static CANCELLED: CircuitBreaker =
    CircuitBreaker::new("cancelled", BreakerConfig::new().failure_threshold(1));

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_counts_as_neither_success_nor_failure() {
    #[circuit_breaker(breaker = &CANCELLED)]
    async fn slow() -> Result<(), ApiError> {
        sleep(ms(1000)).await;
        Err(ApiError::Status(503))
    }
    assert!(tokio::time::timeout(ms(10), slow()).await.is_err());
    let m = CANCELLED.metrics();
    assert_eq!((m.successes, m.failures, m.released), (0, 0, 1));
    assert_eq!(CANCELLED.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_blocking_function_opens_and_is_rejected_the_same_way() {
    #[circuit_breaker(failure_threshold = 2, recovery_timeout = "1s")]
    fn read(calls: &Calls) -> Result<u32, ApiError> {
        calls.fail_first(2)
    }
    let calls = Calls::new();
    assert_eq!(read(&calls), Err(ApiError::Failed(1)));
    assert_eq!(read(&calls), Err(ApiError::Failed(2)));
    let err = read(&calls).unwrap_err();
    assert_eq!(err.rejected().retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(calls.count(), 2);
    advance(Duration::from_secs(1)).await;
    assert_eq!(read(&calls), Ok(3), "the trial");
    assert_eq!(read(&calls), Ok(4), "closed again");
}
