//! The registry of named policies, their metrics, and configuration at run time from code, the
//! environment and a TOML file. Each test uses policy names of its own: the registry is global.

mod common;

use common::capture::{Capture, field};
use common::{TestError, ms, temp_dir};
use resilient::monitor::AlertLevel;
use resilient::registry::{self, PolicyKind, PolicyMetrics};
use resilient::{
    Backoff, BreakerConfig, BreakerState, CircuitBreaker, RateLimiter, Rejected, RetryPolicy,
    TimeoutPolicy, circuit_breaker, fallback, retry, timeout,
};
use std::time::Duration;
use tracing::Level;

fn info(name: &str, kind: PolicyKind) -> registry::PolicyInfo {
    registry::policies()
        .into_iter()
        .find(|p| p.name == name && p.kind == kind)
        .unwrap_or_else(|| panic!("{kind} `{name}` is not registered"))
}

fn is_registered(name: &str) -> bool {
    registry::policies().iter().any(|p| p.name == name)
}

#[circuit_breaker(name = "reg.stacked", failure_threshold = 2, recovery_timeout = "1s")]
#[timeout("50ms", name = "reg.stacked")]
async fn stacked(fail: bool, delay: Duration) -> Result<u32, TestError> {
    tokio::time::sleep(delay).await;
    if fail {
        Err(TestError::Failed(1))
    } else {
        Ok(7)
    }
}

#[tokio::test(start_paused = true)]
async fn attributes_register_their_policies_on_first_use() {
    assert!(!is_registered("reg.stacked"));
    assert_eq!(stacked(false, ms(1)).await, Ok(7));
    let breaker = info("reg.stacked", PolicyKind::CircuitBreaker);
    assert_eq!(breaker.state, Some(BreakerState::Closed));
    assert_eq!(breaker.config["failure_threshold"], "2");
    assert_eq!(breaker.config["recovery_timeout"], "1s");
    let timeout = info("reg.stacked", PolicyKind::Timeout);
    assert_eq!(timeout.config["timeout"], "50ms");

    // A timeout is a breaker failure of its own kind; two of them open it.
    assert!(stacked(false, ms(60)).await.is_err());
    assert!(stacked(false, ms(60)).await.is_err());
    let PolicyMetrics::CircuitBreaker(m) = info("reg.stacked", PolicyKind::CircuitBreaker).metrics
    else {
        panic!("not a breaker's metrics")
    };
    assert_eq!(
        (m.successes, m.failures, m.timeouts, m.panics),
        (1, 2, 2, 0)
    );
    assert_eq!(m.calls(), 3);
    assert_eq!(m.state, BreakerState::Open);
    let PolicyMetrics::Timeout(t) = info("reg.stacked", PolicyKind::Timeout).metrics else {
        panic!("not a timeout's metrics")
    };
    assert_eq!((t.successes, t.timeouts), (1, 2));
    assert_eq!(t.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_counts_time_open_recoveries_and_mttr() {
    static B: CircuitBreaker = CircuitBreaker::new(
        "reg.mttr",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(ms(100)),
    );
    registry::register(&B);
    // First outage: 100 ms open, then a trial succeeds.
    B.try_acquire().unwrap().failure();
    tokio::time::advance(ms(40)).await;
    assert_eq!(B.metrics().time_open, ms(40));
    tokio::time::advance(ms(60)).await;
    B.try_acquire().unwrap().success();
    // Second outage: a failed trial doubles nothing (no recovery backoff), so 100 + 100 + 100 ms.
    B.try_acquire().unwrap().failure();
    tokio::time::advance(ms(100)).await;
    B.try_acquire().unwrap().failure();
    tokio::time::advance(ms(100)).await;
    B.try_acquire().unwrap().success();
    let m = B.metrics();
    assert_eq!(m.recoveries, 2);
    assert_eq!(m.last_recovery, Some(ms(200)));
    assert_eq!(m.mttr, Some(ms(150)));
    assert_eq!(m.time_open, ms(300));
    // Time forced open counts as time open; an outage ended by `reset` is not a recovery.
    B.force_open();
    tokio::time::advance(ms(30)).await;
    B.reset();
    let m = B.metrics();
    assert_eq!((m.recoveries, m.time_open), (2, ms(330)));
}

#[retry(name = "reg.retry", max_attempts = 3, backoff = constant("10ms"))]
async fn flaky(failures: &std::sync::atomic::AtomicU32) -> Result<(), TestError> {
    let left = failures.load(std::sync::atomic::Ordering::SeqCst);
    if left == 0 {
        return Ok(());
    }
    failures.store(left - 1, std::sync::atomic::Ordering::SeqCst);
    Err(TestError::Failed(left))
}

#[tokio::test(start_paused = true)]
async fn retry_metrics_count_calls_retries_and_exhaustion() {
    let failures = std::sync::atomic::AtomicU32::new(0);
    flaky(&failures).await.unwrap();
    failures.store(2, std::sync::atomic::Ordering::SeqCst);
    flaky(&failures).await.unwrap();
    failures.store(5, std::sync::atomic::Ordering::SeqCst);
    flaky(&failures).await.unwrap_err();
    let PolicyMetrics::Retry(m) = info("reg.retry", PolicyKind::Retry).metrics else {
        panic!("not a retry's metrics")
    };
    assert_eq!((m.successes, m.failures, m.calls()), (2, 1, 3));
    assert_eq!((m.retries, m.exhausted, m.aborted), (4, 1, 0));
}

#[fallback(|_| async { Ok("cached") })]
#[timeout("10ms")]
async fn with_fallback(delay: Duration) -> Result<&'static str, TestError> {
    tokio::time::sleep(delay).await;
    Ok("fresh")
}

#[tokio::test(start_paused = true)]
async fn fallbacks_are_counted_and_reported() {
    let (capture, _guard) = Capture::start();
    assert_eq!(with_fallback(ms(1)).await, Ok("fresh"));
    assert_eq!(with_fallback(ms(20)).await, Ok("cached"));
    assert_eq!(with_fallback(ms(20)).await, Ok("cached"));
    let used: Vec<_> = (capture.take().into_iter())
        .filter(|e| e.name == "fallback.used")
        .collect();
    assert_eq!(used.len(), 2);
    assert_eq!(used[0].level, Level::INFO);
    assert!(field(&used[0], "policy").ends_with("::with_fallback"));
    assert_eq!(field(&used[0], "reason"), "timed_out");
    let policy = registry::policies()
        .into_iter()
        .find(|p| p.kind == PolicyKind::Fallback && p.name.ends_with("::with_fallback"))
        .expect("the fallback registered");
    let PolicyMetrics::Fallback(m) = policy.metrics else {
        panic!("not a fallback's metrics")
    };
    assert_eq!((m.fallbacks, m.after_rejection), (2, 2));
}

#[fallback(|_| Ok(0))]
fn parse_or_zero(text: &str) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

#[test]
fn a_fallback_after_the_functions_own_error_says_so() {
    let (capture, _guard) = Capture::start();
    assert_eq!(parse_or_zero("x"), Ok(0));
    let used: Vec<_> = (capture.take().into_iter())
        .filter(|e| e.name == "fallback.used")
        .collect();
    assert_eq!(used.len(), 1);
    assert_eq!(field(&used[0], "reason"), "error");
}

/// A key no breaker takes: the message lists those a breaker takes (with `redis`, the shared ones).
#[cfg(not(feature = "redis"))]
const BREAKER_KEY_REFUSED: &str = "policy `reg.set`: cannot set `max_attempts` to `3`: not a key of a circuit_breaker; its keys are failure_threshold, recovery_timeout, half_open_calls, success_threshold, failure_rate, minimum_calls, slow_call, slow_call_rate";
#[cfg(feature = "redis")]
const BREAKER_KEY_REFUSED: &str = "policy `reg.set`: cannot set `max_attempts` to `3`: not a key of a circuit_breaker; its keys are failure_threshold, recovery_timeout, half_open_calls, success_threshold, failure_rate, minimum_calls, slow_call, slow_call_rate, redis_url, redis_prefix, on_redis_failure, redis_batch";

#[tokio::test]
async fn set_changes_a_running_breaker_and_refuses_bad_values() {
    static B: CircuitBreaker = CircuitBreaker::new("reg.set", BreakerConfig::new());
    registry::register(&B);
    registry::set("reg.set", "failure_threshold", "1").unwrap();
    registry::set("reg.set", "recovery_timeout", "2s").unwrap();
    assert_eq!(
        *B.config(),
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(2))
    );
    B.try_acquire().unwrap().failure();
    assert_eq!(B.state(), BreakerState::Open);

    let (capture, _guard) = Capture::start();
    for (key, value, message) in [
        (
            "failure_threshold",
            "0",
            "policy `reg.set`: cannot set `failure_threshold` to `0`: `failure_threshold` must be at least 1 (got 0)",
        ),
        (
            "failure_threshold",
            "three",
            "policy `reg.set`: cannot set `failure_threshold` to `three`: `three` is not a whole number from 0 to 4294967295",
        ),
        ("max_attempts", "3", BREAKER_KEY_REFUSED),
        (
            "failure_rate",
            "0.5",
            "policy `reg.set`: cannot set `failure_rate` to `0.5`: `failure_threshold` (consecutive mode) and `failure_rate` (rate mode) are exclusive (got 1)",
        ),
    ] {
        let err = registry::set("reg.set", key, value).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(
            (err.policy(), err.key(), err.value()),
            ("reg.set", key, value)
        );
    }
    let err = registry::set("reg.set", "treshold", "1").unwrap_err();
    assert!(err.to_string().starts_with("policy `reg.set`: cannot set `treshold` to `1`: unknown key; the keys are failure_threshold, "), "{err}");
    // The previous configuration stays, and so does the state.
    assert_eq!(
        *B.config(),
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(2))
    );
    assert_eq!(B.state(), BreakerState::Open);
    assert!(
        capture.take().is_empty(),
        "a refusal returned to the caller is not logged"
    );
}

#[test]
fn a_value_set_before_registration_waits_for_the_policy() {
    static LATE: RetryPolicy = RetryPolicy::new().name("reg.late").max_attempts(2);
    registry::set("reg.late", "max_attempts", "5").unwrap();
    registry::set("reg.late", "backoff", "constant(250ms)").unwrap();
    assert_eq!(LATE.attempts(), 2, "not registered yet: the code's value");
    registry::register(&LATE);
    assert_eq!(LATE.attempts(), 5);
    let late = info("reg.late", PolicyKind::Retry);
    assert_eq!(late.config["backoff"], "constant(250ms)");
    assert_eq!(
        LATE,
        RetryPolicy::new()
            .name("reg.late")
            .max_attempts(5)
            .backoff(Backoff::constant(ms(250)))
    );
    // Only the form can be checked before the policy is there.
    let err = registry::set("reg.later", "budget", "5 seconds").unwrap_err();
    assert_eq!(err.key(), "budget");
}

#[circuit_breaker(name = "reg.preset", failure_threshold = 5, recovery_timeout = "1s")]
#[timeout("1s", name = "reg.preset")]
async fn preset(delay: Duration) -> Result<u32, TestError> {
    tokio::time::sleep(delay).await;
    Ok(1)
}

/// The attributes' policies register when the call is first polled (not where its future is
/// built), and the timeout reads its limit when its timer starts: values set before the first
/// call still apply to it.
#[tokio::test(start_paused = true)]
async fn values_set_before_the_first_call_apply_to_it() {
    registry::set("reg.preset", "timeout", "100ms").unwrap();
    registry::set("reg.preset", "failure_threshold", "1").unwrap();
    assert!(!is_registered("reg.preset"));
    let started = tokio::time::Instant::now();
    let err = preset(ms(500)).await.unwrap_err();
    assert_eq!(
        started.elapsed(),
        ms(100),
        "the limit set before the first call"
    );
    assert!(matches!(err, TestError::Rejected(_)), "{err:?}");
    let breaker = info("reg.preset", PolicyKind::CircuitBreaker);
    assert_eq!(breaker.config["failure_threshold"], "1");
    assert_eq!(
        breaker.state,
        Some(BreakerState::Open),
        "one failure opened it"
    );
}

/// A rate limiter registers like the other policies and takes `rate`, `per`, `burst` and
/// `max_wait` at run time; what it let through before still counts against the new rate.
#[tokio::test(start_paused = true)]
async fn a_rate_limiter_is_configured_at_run_time() {
    static LIMITER: RateLimiter =
        RateLimiter::new("reg.rate_limit", 10, Duration::from_secs(1)).burst(1);
    registry::register(&LIMITER);
    let limiter = info("reg.rate_limit", PolicyKind::RateLimit);
    let config: Vec<_> = limiter
        .config
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    assert_eq!(
        config,
        [
            ("burst", "1"),
            ("max_wait", "0s"),
            ("per", "1s"),
            ("rate", "10")
        ]
    );
    assert!(LIMITER.try_acquire().is_ok());
    assert_eq!(
        LIMITER.try_acquire().unwrap_err().retry_after(),
        Some(ms(100))
    );

    registry::set("reg.rate_limit", "rate", "100").unwrap();
    assert_eq!(
        LIMITER.try_acquire().unwrap_err().retry_after(),
        Some(ms(100)),
        "the call let through at the old rate still counts"
    );
    tokio::time::advance(ms(100)).await;
    assert!(LIMITER.try_acquire().is_ok());
    assert_eq!(
        LIMITER.try_acquire().unwrap_err().retry_after(),
        Some(ms(10))
    );

    let err = registry::set("reg.rate_limit", "burst", "0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `reg.rate_limit`: cannot set `burst` to `0`: `burst` must be at least 1 (got 0)"
    );
    let err = registry::set("reg.rate_limit", "jitter", "0.1").unwrap_err();
    assert!(
        err.to_string().contains("not a key of a rate_limit"),
        "{err}"
    );
    let PolicyMetrics::RateLimit(m) = info("reg.rate_limit", PolicyKind::RateLimit).metrics else {
        panic!("not a rate limiter's metrics")
    };
    assert_eq!((m.admitted, m.rejected), (2, 3));
}

#[test]
fn a_breaker_keeps_its_mode_and_window() {
    static RATE: CircuitBreaker = CircuitBreaker::new(
        "reg.rate",
        BreakerConfig::new().failure_rate(0.5).window(10),
    );
    registry::register(&RATE);
    registry::set("reg.rate", "failure_rate", "0.25").unwrap();
    registry::set("reg.rate", "minimum_calls", "4").unwrap();
    assert_eq!(
        *RATE.config(),
        BreakerConfig::new()
            .failure_rate(0.25)
            .window(10)
            .minimum_calls(4)
    );
    let err = registry::set("reg.rate", "failure_threshold", "3").unwrap_err();
    assert!(err.to_string().contains("exclusive"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn timeout_limit_changes_at_run_time() {
    static T: TimeoutPolicy = TimeoutPolicy::new("reg.timeout", Duration::from_secs(1));
    registry::register(&T);
    registry::set("reg.timeout", "timeout", "100ms").unwrap();
    assert_eq!(T.limit(), Some(ms(100)));
    let started = tokio::time::Instant::now();
    let slow = T.call(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, Rejected>(())
    });
    assert!(slow.await.is_err());
    assert_eq!(started.elapsed(), ms(100));
    let err = registry::set("reg.timeout", "timeout", "0s").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `reg.timeout`: cannot set `timeout` to `0s`: `timeout` must be longer than zero (got 0ns)"
    );
    assert_eq!(T.limit(), Some(ms(100)));
    assert_eq!(
        format!("{T:?}"),
        r#"TimeoutPolicy { name: "reg.timeout", limit: Some(100ms) }"#
    );
}

/// The environment and the file, in one test: the environment is the process's.
#[test]
fn environment_and_file_with_precedence_and_reload() {
    static B: CircuitBreaker = CircuitBreaker::new("reg::env.breaker", BreakerConfig::new());
    static R: RetryPolicy = RetryPolicy::new().name("reg::env.breaker");
    static T: TimeoutPolicy = TimeoutPolicy::new("reg::env.timeout", Duration::from_secs(1));
    static L: RateLimiter = RateLimiter::new("reg::env.limiter", 10, Duration::from_secs(1));
    static BH: resilient::Bulkhead = resilient::Bulkhead::new("reg::env.bulkhead", 2);
    static H: resilient::HedgePolicy = resilient::HedgePolicy::new().name("reg::env.hedge");
    let dir = temp_dir("registry-env");
    let file = dir.join("resilient.toml");
    std::fs::write(
        &file,
        r#"
["reg::env.breaker"]
failure_threshold = 7
recovery_timeout = "5s"
max_attempts = 6

["reg::env.limiter"]
rate = 50
per = "2s"
burst = 4
max_wait = "20ms"

["reg::env.bulkhead"]
max_concurrent = 6
max_wait = "1s"

["reg::env.hedge"]
delay = "30ms"
max_hedges = 2
"#,
    )
    .unwrap();
    // SAFETY: no other test of this binary reads or writes these variables.
    unsafe {
        std::env::set_var("RESILIENT_REG_ENV_BREAKER__FAILURE_THRESHOLD", "9");
        std::env::set_var("RESILIENT_REG_ENV_TIMEOUT__TIMEOUT", "250ms");
        std::env::set_var("RESILIENT_REG_ENV_LIMITER__BURST", "8");
        std::env::set_var("RESILIENT_REG_ENV_BULKHEAD__MAX_WAIT", "250ms");
        std::env::set_var("RESILIENT_REG_ENV_HEDGE__MAX_HEDGES", "3");
    }
    registry::register(&B);
    registry::register(&R);
    registry::register(&T);
    registry::register(&L);
    registry::register(&BH);
    registry::register(&H);
    registry::load_file(&file).unwrap();
    // The environment was read when the first policy registered: read it again.
    registry::reload().unwrap();
    let limiter = info("reg::env.limiter", PolicyKind::RateLimit).config;
    let limiter: Vec<_> = limiter.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        limiter,
        [
            ("burst", "8"),
            ("max_wait", "20ms"),
            ("per", "2s"),
            ("rate", "50")
        ],
        "the file's rate, period and wait, the environment's burst"
    );
    let config = |name, kind| {
        let config = info(name, kind).config;
        config
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        config("reg::env.bulkhead", PolicyKind::Bulkhead),
        ["max_concurrent=6", "max_wait=250ms"],
        "the file's slots, the environment's wait"
    );
    assert_eq!(
        config("reg::env.hedge", PolicyKind::Hedge),
        ["delay=30ms", "max_hedges=3"],
        "the file's delay, the environment's count"
    );
    // The environment wins over the file, the file over the code.
    let with = |threshold: u32| {
        BreakerConfig::new()
            .failure_threshold(threshold)
            .recovery_timeout(Duration::from_secs(5))
    };
    assert_eq!(*B.config(), with(9));
    assert_eq!(R.attempts(), 6);
    assert_eq!(T.limit(), Some(ms(250)));
    // And code wins over both.
    registry::set("reg::env.breaker", "failure_threshold", "11").unwrap();
    assert_eq!(*B.config(), with(11));

    // A reload reads both again; a bad value is refused, logged, and the rest still applies.
    std::fs::write(
        &file,
        "[\"reg::env.breaker\"]\nrecovery_timeout = \"later\"\nmax_attempts = 2\n",
    )
    .unwrap();
    unsafe {
        std::env::remove_var("RESILIENT_REG_ENV_BREAKER__FAILURE_THRESHOLD");
        std::env::remove_var("RESILIENT_REG_ENV_TIMEOUT__TIMEOUT");
        std::env::remove_var("RESILIENT_REG_ENV_LIMITER__BURST");
        std::env::remove_var("RESILIENT_REG_ENV_BULKHEAD__MAX_WAIT");
        std::env::remove_var("RESILIENT_REG_ENV_HEDGE__MAX_HEDGES");
    }
    let (capture, _guard) = Capture::start();
    let errors = registry::reload().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "policy `reg::env.breaker`: cannot set `recovery_timeout` to `later`: `later` is not a duration: expected a duration like \"250ms\", \"30s\", \"5m\", \"1h\" or \"1m30s\" (units: h, m, s, ms, us, ns)"
    );
    assert_eq!(*B.config(), with(11), "the breaker keeps what it had");
    assert_eq!(
        T.limit(),
        Some(Duration::from_secs(1)),
        "a timeout whose variable is gone is back to its own limit"
    );
    assert_eq!(
        R.attempts(),
        2,
        "the retry of the same name takes its good value"
    );
    let events = capture.take();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.name == "config.refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].level, Level::WARN);
    assert_eq!(field(refused[0], "policy"), "reg::env.breaker");
    assert_eq!(field(refused[0], "key"), "recovery_timeout");
    assert_eq!(field(refused[0], "value"), "later");

    // A file that cannot be read changes nothing.
    let errors = registry::load_file(dir.join("missing.toml")).unwrap_err();
    assert!(
        errors[0].to_string().contains("cannot read it"),
        "{}",
        errors[0]
    );
    assert_eq!(R.attempts(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

/// Sampling observes every policy on the clock of the test that samples: tests that sample take
/// turns, or each would move the other's monitors on its own virtual time.
static SAMPLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sampling_alone() -> std::sync::MutexGuard<'static, ()> {
    SAMPLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[tokio::test(start_paused = true)]
#[allow(clippy::await_holding_lock)] // held on purpose, see `SAMPLING`
async fn sampling_raises_each_policys_alert_level() {
    let _alone = sampling_alone();
    static B: CircuitBreaker = CircuitBreaker::new("reg.alert", BreakerConfig::new());
    registry::register(&B);
    let (capture, _guard) = Capture::start();
    let ours = |capture: &Capture| -> Vec<_> {
        let events = capture.take().into_iter();
        events
            .filter(|e| e.fields.get("policy").map(String::as_str) == Some("reg.alert"))
            .collect()
    };
    B.force_open();
    registry::sample();
    tokio::time::advance(Duration::from_secs(300)).await;
    registry::sample();
    assert_eq!(
        info("reg.alert", PolicyKind::CircuitBreaker).alert,
        Some(AlertLevel::Normal)
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    registry::sample();
    assert_eq!(
        info("reg.alert", PolicyKind::CircuitBreaker).alert,
        Some(AlertLevel::Emergency)
    );
    let events = ours(&capture);
    let changed: Vec<_> = events
        .iter()
        .filter(|e| e.name == "alert.level_changed")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].level, Level::ERROR);
    assert_eq!(field(changed[0], "critical"), "true");
    assert_eq!(field(changed[0], "level"), "emergency");

    // Calls through again: the outage ends with the first success.
    B.reset();
    B.try_acquire().unwrap().success();
    registry::sample();
    assert_eq!(
        info("reg.alert", PolicyKind::CircuitBreaker).alert,
        Some(AlertLevel::Normal)
    );
    let events = ours(&capture);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.name == "alert.level_changed")
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
#[allow(clippy::await_holding_lock)] // held on purpose, see `SAMPLING`
async fn watch_samples_on_its_own_and_refuses_a_zero_period() {
    let _alone = sampling_alone();
    let err = registry::watch(Duration::ZERO).await.unwrap_err();
    assert_eq!(err.key(), "every");

    static B: CircuitBreaker = CircuitBreaker::new("reg.watch", BreakerConfig::new());
    registry::register(&B);
    B.force_open();
    let watching = tokio::spawn(registry::watch(Duration::from_secs(10)));
    let tick = || async {
        tokio::time::advance(Duration::from_secs(10)).await;
        tokio::task::yield_now().await;
    };
    tokio::task::yield_now().await;
    // Samples every 10 s from 0 s: at 300 s the outage has lasted exactly 5 minutes, no more.
    for _ in 0..30 {
        tick().await;
    }
    assert_eq!(
        info("reg.watch", PolicyKind::CircuitBreaker).alert,
        Some(AlertLevel::Normal)
    );
    tick().await;
    assert_eq!(
        info("reg.watch", PolicyKind::CircuitBreaker).alert,
        Some(AlertLevel::Emergency)
    );
    watching.abort();
    B.reset();
}
