//! `registry::export_metrics` (feature `metrics`): the documented names, labels and values, read
//! back through a recorder of the `metrics` facade.

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use resilient::registry;
use resilient::{BreakerConfig, CircuitBreaker, Rejected, RetryPolicy, TimeoutPolicy};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every value published, by `name{label=value,...}`.
#[derive(Clone, Default)]
struct Published(Arc<Mutex<BTreeMap<String, f64>>>);

struct Slot {
    published: Published,
    key: String,
}

impl CounterFn for Slot {
    fn increment(&self, n: u64) {
        *self
            .published
            .0
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += n as f64;
    }
    fn absolute(&self, n: u64) {
        self.published
            .0
            .lock()
            .unwrap()
            .insert(self.key.clone(), n as f64);
    }
}

impl GaugeFn for Slot {
    fn increment(&self, x: f64) {
        *self
            .published
            .0
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += x;
    }
    fn decrement(&self, x: f64) {
        GaugeFn::increment(self, -x);
    }
    fn set(&self, x: f64) {
        self.published.0.lock().unwrap().insert(self.key.clone(), x);
    }
}

/// A histogram keeps its last value: enough to see one recorded.
impl HistogramFn for Slot {
    fn record(&self, x: f64) {
        self.published.0.lock().unwrap().insert(self.key.clone(), x);
    }
}

impl Published {
    fn slot(&self, key: &Key) -> Arc<Slot> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Slot {
            published: self.clone(),
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
        })
    }

    fn get(&self, key: &str) -> f64 {
        *self
            .0
            .lock()
            .unwrap()
            .get(key)
            .unwrap_or_else(|| panic!("`{key}` was not published"))
    }
}

impl Recorder for Published {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.slot(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.slot(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.slot(key))
    }
}

#[resilient::fallback(|_| Ok(0))]
fn parse_or_zero(text: &str) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

#[tokio::test(start_paused = true)]
async fn every_kind_of_policy_is_published_under_the_documented_names() {
    // The only test here: the recorder is the process's, also for what policies record as they go.
    let published = Published::default();
    metrics::set_global_recorder(published.clone()).unwrap();
    static BREAKER: CircuitBreaker = CircuitBreaker::new(
        "export.breaker",
        BreakerConfig::new()
            .failure_threshold(1)
            .recovery_timeout(Duration::from_secs(2)),
    );
    static RETRY: RetryPolicy = RetryPolicy::new()
        .name("export.retry")
        .max_attempts(2)
        .backoff(resilient::Backoff::none());
    static TIMEOUT: TimeoutPolicy = TimeoutPolicy::new("export.timeout", Duration::from_secs(1));
    registry::register(&BREAKER);
    registry::register(&RETRY);
    registry::register(&TIMEOUT);
    static BULKHEAD: resilient::Bulkhead = resilient::Bulkhead::new("export.bulkhead", 1);
    static HEDGE: resilient::HedgePolicy = resilient::HedgePolicy::new()
        .name("export.hedge")
        .delay(Duration::from_millis(10));
    registry::register(&BULKHEAD);
    registry::register(&HEDGE);
    let held = BULKHEAD.try_acquire().unwrap();
    assert!(BULKHEAD.try_acquire().is_err());
    let mut hedged = 0;
    let won = resilient::hedge(&HEDGE, || {
        hedged += 1;
        let took = if hedged == 1 { 100 } else { 1 };
        async move {
            tokio::time::sleep(Duration::from_millis(took)).await;
            Ok::<_, Rejected>(took)
        }
    })
    .await;
    assert_eq!(won, Ok(1));

    BREAKER.try_acquire().unwrap().success();
    BREAKER.try_acquire().unwrap().failure();
    assert!(BREAKER.try_acquire().is_err());
    tokio::time::advance(Duration::from_secs(2)).await;
    BREAKER.try_acquire().unwrap().success();
    let mut attempts = 0;
    let _ = resilient::retry(&RETRY, || {
        attempts += 1;
        async { Err::<(), _>("down") }
    })
    .await;
    let _ = TIMEOUT.call(async { Ok::<_, Rejected>(()) }).await;
    assert_eq!(parse_or_zero("x"), Ok(0));
    registry::sample();
    registry::export_metrics();
    let b = "policy=export.breaker,kind=circuit_breaker";
    assert_eq!(
        published.get(&format!("resilient_calls_total{{{b},outcome=success}}")),
        2.0
    );
    assert_eq!(
        published.get(&format!("resilient_calls_total{{{b},outcome=failure}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_calls_total{{{b},outcome=rejected}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_failures_total{{{b},failure=timeout}}")),
        0.0
    );
    // The failure and the rejection, by kind.
    for (kind, n) in [
        ("error", 1.0),
        ("timeout", 0.0),
        ("panic", 0.0),
        ("rejection", 1.0),
    ] {
        assert_eq!(
            published.get(&format!("resilient_errors_total{{{b},type={kind}}}")),
            n,
            "{kind}"
        );
    }
    assert_eq!(
        published.get(&format!("resilient_breaker_state{{{b}}}")),
        0.0
    );
    assert_eq!(
        published.get(&format!("resilient_breaker_openings_total{{{b}}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_breaker_open_seconds{{{b}}}")),
        2.0
    );
    assert_eq!(
        published.get(&format!("resilient_breaker_recoveries_total{{{b}}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_breaker_mttr_seconds{{{b}}}")),
        2.0
    );
    // 2 failed of 4 calls, but below `minimum_calls`: no alert.
    assert_eq!(published.get(&format!("resilient_alert_level{{{b}}}")), 0.0);

    let r = "policy=export.retry,kind=retry";
    assert_eq!(attempts, 2);
    assert_eq!(
        published.get(&format!("resilient_calls_total{{{r},outcome=failure}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_retries_total{{{r}}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_retries_exhausted_total{{{r}}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_retries_aborted_total{{{r}}}")),
        0.0
    );

    let t = "policy=export.timeout,kind=timeout";
    assert_eq!(
        published.get(&format!("resilient_calls_total{{{t},outcome=success}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_calls_total{{{t},outcome=timeout}}")),
        0.0
    );

    let f = "policy=metrics_export::parse_or_zero,kind=fallback";
    assert_eq!(
        published.get(&format!("resilient_fallbacks_total{{{f},reason=error}}")),
        1.0
    );
    assert_eq!(
        published.get(&format!("resilient_fallbacks_total{{{f},reason=rejected}}")),
        0.0
    );

    let bh = "policy=export.bulkhead,kind=bulkhead";
    for (name, value) in [
        ("resilient_calls_total{BH,outcome=success}", 1.0),
        ("resilient_calls_total{BH,outcome=rejected}", 1.0),
        ("resilient_bulkhead_waits_total{BH}", 0.0),
        ("resilient_bulkhead_in_flight{BH}", 1.0),
        ("resilient_bulkhead_waiting{BH}", 0.0),
        ("resilient_bulkhead_peak_in_flight{BH}", 1.0),
    ] {
        assert_eq!(published.get(&name.replace("BH", bh)), value, "{name}");
    }
    drop(held);

    let h = "policy=export.hedge,kind=hedge";
    for (name, value) in [
        ("resilient_calls_total{H,outcome=success}", 1.0),
        ("resilient_calls_total{H,outcome=failure}", 0.0),
        ("resilient_hedges_total{H}", 1.0),
        ("resilient_hedges_won_total{H}", 1.0),
    ] {
        assert_eq!(
            published.get(&name.replace("{H", &format!("{{{h}"))),
            value,
            "{name}"
        );
    }
}
