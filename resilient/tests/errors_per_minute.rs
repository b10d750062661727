//! Errors per minute by kind in `registry::policies()`, on virtual time. In a test binary of its
//! own: the registry is global, and another test's runtime would sample it on another clock.

mod common;

use common::{TestError, ms};
use resilient::registry;
use resilient::{BreakerConfig, CircuitBreaker, TimeoutPolicy};
use std::time::Duration;

/// Errors per minute by kind: a breaker with a timeout inside, sampled by `policies()`. Over the
/// first 30 s, 6 errors, 3 timeouts and a panic read as twice as many per minute; a minute of
/// nothing but 4 rejections reads as 4 rejections a minute and nothing else.
#[tokio::test(start_paused = true)]
async fn policies_report_errors_per_minute_by_kind() {
    static BREAKER: CircuitBreaker =
        CircuitBreaker::new("reg.errors", BreakerConfig::new().failure_threshold(1000));
    static LIMIT: TimeoutPolicy = TimeoutPolicy::new("reg.errors.timeout", ms(10));
    registry::register(&BREAKER);
    let rates = || {
        let info = registry::policies()
            .into_iter()
            .find(|p| p.name == "reg.errors")
            .unwrap();
        let e = info.errors_per_minute;
        (e.error, e.timeout, e.panic, e.rejection)
    };
    assert_eq!(rates(), (0.0, 0.0, 0.0, 0.0));
    tokio::time::advance(Duration::from_secs(30)).await;
    for _ in 0..6 {
        let failed = BREAKER.call(async { Err::<(), _>(TestError::Failed(1)) });
        assert!(failed.await.is_err());
    }
    for _ in 0..3 {
        let slow = BREAKER.call(LIMIT.call(async {
            tokio::time::sleep(ms(20)).await;
            Ok::<_, TestError>(())
        }));
        assert!(slow.await.is_err());
    }
    let panicked = std::panic::catch_unwind(|| {
        BREAKER.call_sync(|| -> Result<(), TestError> { panic!("boom") })
    });
    assert!(panicked.is_err());
    // 30 s and a few milliseconds of timeouts since the first sample.
    let (error, timeout, panic, rejection) = rates();
    assert!((11.9..=12.0).contains(&error), "{error}");
    assert!((5.9..=6.0).contains(&timeout), "{timeout}");
    assert!((1.9..=2.0).contains(&panic), "{panic}");
    assert_eq!(rejection, 0.0);
    let counts = registry::policies()
        .into_iter()
        .find(|p| p.name == "reg.errors")
        .unwrap()
        .metrics
        .failures_by_kind();
    assert_eq!(
        (counts.error, counts.timeout, counts.panic, counts.rejection),
        (6, 3, 1, 0)
    );

    BREAKER.force_open();
    for _ in 0..4 {
        assert!(BREAKER.try_acquire().is_err());
    }
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(rates(), (0.0, 0.0, 0.0, 4.0));
}
