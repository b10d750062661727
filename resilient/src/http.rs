//! `/health` and `/metrics`, ready to mount in a service (features `http` and `prometheus`).
//!
//! Each is a [`tower_service::Service`] over any `http::Request`, answering an
//! `http::Response<String>`, so axum mounts it as it is (`Router::route_service`), and hyper or
//! tonic through their tower adapters:
//!
//! ```no_run
//! # #[cfg(feature = "prometheus")] fn mount() -> Result<(), Box<dyn std::error::Error>> {
//! use resilient::health::{self, HealthChecks};
//! use resilient::http::{health_endpoint, install_prometheus, metrics_endpoint};
//! use std::time::Duration;
//!
//! let checks = HealthChecks::new().add("breakers", Duration::from_secs(1), health::open_breakers());
//! let health = health_endpoint(checks); // GET /health
//! let metrics = metrics_endpoint(install_prometheus()?); // GET /metrics
//! // axum: Router::new().route_service("/health", health).route_service("/metrics", metrics)
//! # Ok(()) }
//! ```
//!
//! `/health` answers the [`HealthReport`] as JSON (its shape is in [`crate::health`]) with the
//! status a load balancer expects: 200 while healthy or degraded, 503 when unhealthy. `/metrics`
//! answers every policy's counters in Prometheus' text format (the names and labels are those of
//! [`export_metrics`](crate::registry::export_metrics)), copied out of the policies at each scrape.

use crate::health::{HealthChecks, HealthReport};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The health report as an HTTP response: JSON, 200 healthy or degraded, 503 unhealthy.
pub fn health_response(report: &HealthReport) -> Response<String> {
    let status = StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::OK);
    // A report is plain data: serialising it cannot fail.
    let body = serde_json::to_string(report).unwrap_or_default();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // A probe must see the state now, never a cached answer.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A service that runs `checks` on every request and answers [`health_response`].
pub fn health_endpoint(checks: HealthChecks) -> HealthEndpoint {
    HealthEndpoint {
        checks: Arc::new(checks),
    }
}

/// The service of [`health_endpoint`]; clones share the checks.
#[derive(Clone)]
pub struct HealthEndpoint {
    checks: Arc<HealthChecks>,
}

impl<B> tower_service::Service<Request<B>> for HealthEndpoint {
    type Response = Response<String>;
    type Error = Infallible;
    /// Boxed: the checks run as an `async fn`, whose future cannot be named. A probe's request is
    /// no hot path.
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let checks = Arc::clone(&self.checks);
        Box::pin(async move { Ok(health_response(&checks.run().await)) })
    }
}

impl std::fmt::Debug for HealthEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthEndpoint").finish_non_exhaustive()
    }
}

#[cfg(feature = "prometheus")]
pub use prometheus::{MetricsEndpoint, install_prometheus, metrics_endpoint, metrics_response};

#[cfg(feature = "prometheus")]
mod prometheus {
    use super::*;
    use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

    /// Installs the Prometheus recorder as the `metrics` facade's, and returns its handle.
    ///
    /// # Errors
    ///
    /// If a recorder is installed already (the facade takes one per process): then build the
    /// handle where that recorder is made, and give it to [`metrics_endpoint`].
    pub fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
        PrometheusBuilder::new().install_recorder()
    }

    /// Every policy's counters, copied out now, in Prometheus' text format.
    pub fn metrics_response(handle: &PrometheusHandle) -> Response<String> {
        crate::registry::export_metrics();
        let mut response = Response::new(handle.render());
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }

    /// A service that answers [`metrics_response`] to every request.
    pub fn metrics_endpoint(handle: PrometheusHandle) -> MetricsEndpoint {
        MetricsEndpoint { handle }
    }

    /// The service of [`metrics_endpoint`].
    #[derive(Clone, Debug)]
    pub struct MetricsEndpoint {
        handle: PrometheusHandle,
    }

    impl<B> tower_service::Service<Request<B>> for MetricsEndpoint {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<B>) -> Self::Future {
            std::future::ready(Ok(metrics_response(&self.handle)))
        }
    }
}
