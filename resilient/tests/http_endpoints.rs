//! `/health` and `/metrics` as a service answers them (features `http` and `prometheus`): the
//! status a load balancer reads, the JSON, the Prometheus text of a breaker's rejections.

mod common;

use resilient::health::{CheckOutcome, HealthChecks};
use resilient::http::{health_endpoint, install_prometheus, metrics_endpoint};
use resilient::{BreakerConfig, CircuitBreaker, registry};
use std::time::Duration;
use tower_service::Service;

fn get(path: &str) -> http::Request<()> {
    http::Request::get(path).body(()).unwrap()
}

fn checks(second: CheckOutcome) -> HealthChecks {
    let second = std::sync::Arc::new(second);
    HealthChecks::new()
        .add("disk", Duration::from_secs(1), || async {
            CheckOutcome::healthy("plenty")
        })
        .add("upstream", Duration::from_secs(1), move || {
            let second = (*second).clone();
            async move { second }
        })
}

#[tokio::test(start_paused = true)]
async fn health_answers_200_while_degraded_and_503_when_unhealthy() {
    let mut degraded = health_endpoint(checks(CheckOutcome::degraded("slow")));
    let response = degraded.call(get("/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "status": "degraded",
            "checks": [
                {"name": "disk", "status": "healthy", "latency_ms": 0, "message": "plenty"},
                {"name": "upstream", "status": "degraded", "latency_ms": 0, "message": "slow"},
            ]
        })
    );
    let mut unhealthy = health_endpoint(checks(CheckOutcome::unhealthy("down")));
    let response = unhealthy.call(get("/health")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        response.body().starts_with(r#"{"status":"unhealthy""#),
        "{}",
        response.body()
    );
}

#[test]
fn metrics_answers_the_prometheus_text_of_every_policy() {
    static API: CircuitBreaker = BreakerConfig::new().build("http.api");
    registry::register(&API);
    API.force_open();
    for _ in 0..3 {
        assert!(API.try_acquire().is_err());
    }
    let handle = install_prometheus().unwrap();
    assert!(install_prometheus().is_err(), "one recorder per process");
    let mut metrics = metrics_endpoint(handle);
    let call = std::pin::pin!(metrics.call(get("/metrics")));
    let std::task::Poll::Ready(Ok(response)) = common::poll_once(call) else {
        panic!("the metrics are rendered at once");
    };
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = response.body();
    for line in [
        r#"resilient_calls_total{policy="http.api",kind="circuit_breaker",outcome="rejected"} 3"#,
        r#"resilient_breaker_state{policy="http.api",kind="circuit_breaker"} 3"#,
    ] {
        assert!(body.lines().any(|l| l == line), "no `{line}` in:\n{body}");
    }
}
