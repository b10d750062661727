//! Correlation ids follow a request across awaits, retries and explicitly given spawned work, and
//! are carried by every rejection.

mod common;

use common::{TestError, ms};
use resilient::correlation::{self, CorrelationId, scope, scope_blocking, scope_or_new};
use resilient::{Backoff, BreakerConfig, CircuitBreaker, RetryPolicy, retry};

#[tokio::test(start_paused = true)]
async fn the_id_survives_awaits_retries_and_sleeps() {
    let id = CorrelationId::new();
    let policy = RetryPolicy::new()
        .max_attempts(3)
        .backoff(Backoff::constant(ms(10)));
    let seen = std::sync::Mutex::new(Vec::new());
    let result = scope(id, async {
        retry(&policy, || async {
            tokio::time::sleep(ms(1)).await;
            seen.lock().unwrap().push(correlation::current());
            Err::<(), _>(TestError::Failed(1))
        })
        .await
    })
    .await;
    assert!(result.is_err());
    assert_eq!(*seen.lock().unwrap(), [Some(id); 3]);
    assert_eq!(
        correlation::current(),
        None,
        "the scope ends with its future"
    );
}

#[tokio::test]
async fn spawned_work_given_the_id_keeps_it_and_other_work_does_not_see_it() {
    let id = CorrelationId::new();
    let (inside, outside) = scope(id, async {
        let given = tokio::spawn(scope(correlation::current().unwrap(), async {
            correlation::current()
        }));
        let not_given = tokio::spawn(async { correlation::current() });
        (given.await.unwrap(), not_given.await.unwrap())
    })
    .await;
    assert_eq!((inside, outside), (Some(id), None));
}

#[tokio::test]
async fn scopes_nest_and_scope_or_new_keeps_an_id_already_set() {
    let outer = CorrelationId::new();
    scope(outer, async {
        assert_eq!(
            scope_or_new(async { correlation::current() }).await,
            Some(outer)
        );
        let inner = CorrelationId::new();
        assert_eq!(
            scope(inner, async { correlation::current() }).await,
            Some(inner)
        );
        assert_eq!(correlation::current(), Some(outer));
    })
    .await;
    let fresh = scope_or_new(async { correlation::current() }).await;
    assert!(fresh.is_some() && fresh != Some(outer));
    assert_eq!(scope_blocking(outer, correlation::current), Some(outer));
}

#[tokio::test(start_paused = true)]
async fn rejections_carry_the_id_of_the_request_they_refused() {
    let breaker = CircuitBreaker::new("ids", BreakerConfig::new());
    breaker.force_open();
    let id = CorrelationId::new();
    let err = scope(id, breaker.call(async { Ok::<(), TestError>(()) }))
        .await
        .unwrap_err();
    let TestError::Rejected(rejected) = err else {
        panic!("expected a rejection")
    };
    assert_eq!(rejected.correlation_id(), Some(id));
    let timed_out = scope(
        id,
        resilient::timeout(ms(5), std::future::pending::<Result<(), TestError>>()),
    )
    .await;
    let TestError::Rejected(rejected) = timed_out.unwrap_err() else {
        panic!("expected a timeout")
    };
    assert_eq!(rejected.correlation_id(), Some(id));
    assert_eq!(
        breaker.try_acquire().unwrap_err().correlation_id(),
        None,
        "outside a scope: none"
    );
}

#[test]
fn ids_print_and_parse_as_uuids() {
    let id = CorrelationId::new();
    let text = id.to_string();
    assert_eq!(text.len(), 36);
    assert_eq!(text.as_bytes()[14], b'4', "a UUID v4");
    assert_eq!(text.parse::<CorrelationId>().unwrap(), id);
    assert_eq!(format!("{id:?}"), format!("CorrelationId({text})"));
    assert!("not-a-uuid".parse::<CorrelationId>().is_err());
}

#[tokio::test]
async fn a_cancelled_request_reports_what_it_undoes_with_its_id_also_from_spawned_compensations() {
    use resilient::atomic;
    use std::future::{Future, pending};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Waker};
    let (capture, _stop) = common::capture::Capture::start();
    let breaker = Arc::new(CircuitBreaker::new("ids-undo", BreakerConfig::new()));
    breaker.force_open();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let id = CorrelationId::new();
    {
        let (seen, breaker) = (seen.clone(), breaker.clone());
        let mut request = std::pin::pin!(scope(
            id,
            atomic::scope(async move {
                atomic::on_rollback_async(move || async move {
                    tokio::task::yield_now().await;
                    let rejected = breaker.try_acquire().err().map(|r| r.correlation_id());
                    seen.lock()
                        .unwrap()
                        .push((correlation::current(), rejected));
                    atomic::on_rollback(|| {}); // reported: outside any scope
                });
                pending::<Result<(), ()>>().await
            })
        ));
        assert!(
            request
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        capture.take();
    } // cancelled
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some(id), Some(Some(id)))],
        "the spawned compensation runs with the id, and its rejection carries it"
    );
    let events = capture.take();
    for name in ["atomic.rolled_back", "atomic.outside_scope"] {
        let event = events
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no {name} in {events:?}"));
        assert_eq!(
            common::capture::field(event, "correlation_id"),
            id.to_string()
        );
    }
    assert_eq!(correlation::current(), None);
}

#[tokio::test(start_paused = true)]
async fn a_scoped_future_is_dropped_with_its_id_current() {
    struct ReportsOnDrop(std::sync::Arc<std::sync::Mutex<Option<Option<CorrelationId>>>>);
    impl Drop for ReportsOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(correlation::current());
        }
    }
    let dropped_with = std::sync::Arc::new(std::sync::Mutex::new(None));
    let id = CorrelationId::new();
    let guard = ReportsOnDrop(dropped_with.clone());
    let timed_out = tokio::time::timeout(
        ms(5),
        scope(id, async move {
            let _guard = guard;
            std::future::pending::<()>().await
        }),
    )
    .await;
    assert!(timed_out.is_err());
    assert_eq!(*dropped_with.lock().unwrap(), Some(Some(id)));
}
