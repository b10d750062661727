//! The service the demo protects. It answers `GET /price/{id}` with a price from the upstream,
//! fetched through the policies, and serves `/health`, `/metrics` and the dashboard.

use super::record::{COLUMNS, Recorder, Sample, cells};
use super::web::{self, Body, Client};
use super::{dashboard, timeline};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use resilient::health::{self, HealthChecks};
use resilient::http::{HealthEndpoint, MetricsEndpoint};
use resilient::{Rejected, bulkhead, circuit_breaker, fallback, retry, timeout};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tower_service::Service as _;

/// The name of every policy around the upstream: in the registry, the metrics and `/health`.
pub(crate) const UPSTREAM: &str = "upstream";

/// How long one attempt at the upstream may take. Its prices come in 5-20 ms when it is well.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(250);

/// Why a price could not be had.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// It answered with an error status.
    Status(u16),
    /// It could not be reached: refused, reset, or the answer was cut.
    Unreachable(String),
    /// Its answer was not a price.
    Malformed(String),
    /// A policy refused the call or gave up on it.
    Rejected(Rejected),
}

impl From<Rejected> for UpstreamError {
    fn from(rejected: Rejected) -> Self {
        UpstreamError::Rejected(rejected)
    }
}

impl UpstreamError {
    /// Worth another try: a 5xx or a failed connection may not happen again; a malformed answer
    /// would. Timeouts and rejections are the layers' and are not judged here.
    fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Status(500..=599) | UpstreamError::Unreachable(_)
        )
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Status(status) => write!(f, "the upstream answered {status}"),
            UpstreamError::Unreachable(why) => write!(f, "the upstream is unreachable: {why}"),
            UpstreamError::Malformed(why) => write!(f, "the upstream's answer is no price: {why}"),
            UpstreamError::Rejected(rejected) => rejected.fmt(f),
        }
    }
}

/// A price, and where it came from.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub(crate) struct Price {
    pub(crate) id: u32,
    pub(crate) price: f64,
    /// `false` when the fallback gave the last price known.
    #[serde(default = "fresh")]
    pub(crate) fresh: bool,
}

fn fresh() -> bool {
    true
}

/// The service's client of the upstream, with the last price it got for each id.
pub(crate) struct Prices {
    client: Client,
    upstream: String,
    last_known: Mutex<HashMap<u32, Price>>,
    recorder: Arc<Recorder>,
}

impl Prices {
    pub(crate) fn new(upstream: String, recorder: Arc<Recorder>) -> Self {
        Self {
            client: Client::new(),
            upstream,
            last_known: Mutex::new(HashMap::new()),
            recorder,
        }
    }

    /// The price of `id`, through every policy, outermost first:
    ///
    /// - the fallback answers with the last price known when everything below failed;
    /// - the retry tries a 5xx or a failed connection (or a timeout) again, at most 3 attempts,
    ///   but never more retries than a tenth of the calls: when the upstream fails for every
    ///   call, it gets a tenth more load, not three times as much;
    /// - the breaker stops calling the upstream when half the calls of the last 2 s failed, and
    ///   lets one trial through every 2 s;
    /// - the bulkhead keeps at most 20 attempts in flight;
    /// - the timeout gives each attempt [`TIMEOUT`].
    #[fallback(|err| self.last_known(id, err), name = "upstream")]
    #[retry(
        name = "upstream",
        max_attempts = 3,
        backoff = exponential(base = "20ms", max = "200ms"),
        retry_ratio = 0.1,
        when = UpstreamError::is_transient
    )]
    #[circuit_breaker(
        name = "upstream",
        failure_rate = 0.5,
        window = "2s",
        minimum_calls = 20,
        recovery_timeout = "2s"
    )]
    #[bulkhead(name = "upstream", max_concurrent = 20)]
    #[timeout(TIMEOUT, name = "upstream")]
    pub(crate) async fn price(&self, id: u32) -> Result<Price, UpstreamError> {
        let _timed = self.recorder.attempts.time();
        let url = format!("{}/price/{id}", self.upstream);
        let (status, body) = (self.client.get(&url).await)
            .map_err(|err| UpstreamError::Unreachable(err.to_string()))?;
        if status != StatusCode::OK {
            return Err(UpstreamError::Status(status.as_u16()));
        }
        let price: Price =
            serde_json::from_str(&body).map_err(|err| UpstreamError::Malformed(err.to_string()))?;
        let mut last_known = self
            .last_known
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last_known.insert(id, price);
        Ok(price)
    }

    /// The fallback: the last price known for `id`, marked stale; without one, the error.
    async fn last_known(&self, id: u32, err: UpstreamError) -> Result<Price, UpstreamError> {
        let last_known = self
            .last_known
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match last_known.get(&id) {
            Some(price) => Ok(Price {
                fresh: false,
                ..*price
            }),
            None => Err(err),
        }
    }
}

/// The health checks of `/health`: unhealthy (503) while the upstream's breaker is not closed,
/// so that a load balancer sends the traffic to replicas that can reach it.
pub(crate) fn health_checks() -> HealthChecks {
    HealthChecks::new().add(
        "upstream",
        Duration::from_secs(1),
        health::breakers_closed(&[UPSTREAM]),
    )
}

/// Everything the service's routes need; clones share it.
#[derive(Clone)]
pub(crate) struct Service {
    pub(crate) prices: Arc<Prices>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) health: HealthEndpoint,
    pub(crate) metrics: MetricsEndpoint,
}

impl Service {
    /// Routes a request.
    pub(crate) async fn answer(mut self, request: Request<Incoming>) -> Response<Body> {
        if request.method() != Method::GET {
            return web::respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
        }
        let path = request.uri().path().to_owned();
        match path.as_str() {
            "/" => web::respond(StatusCode::OK, "text/html; charset=utf-8", dashboard::PAGE),
            // The library's services are always ready (`poll_ready` answers `Ready` at once) and
            // never fail: their error type is `Infallible`.
            "/health" => match self.health.call(request).await {
                Ok(response) => web::from_string(response),
                Err(never) => match never {},
            },
            "/metrics" => match self.metrics.call(request).await {
                Ok(response) => web::from_string(response),
                Err(never) => match never {},
            },
            "/api/now" => self.now(),
            "/timeline.svg" => {
                let svg = (self.recorder).with_history(|history| {
                    timeline::svg(&history[history.len().saturating_sub(dashboard::WINDOW)..])
                });
                web::respond(StatusCode::OK, "image/svg+xml", svg)
            }
            _ => match path.strip_prefix("/price/").map(str::parse::<u32>) {
                Some(Ok(id)) => self.price(id).await,
                _ => web::respond(StatusCode::NOT_FOUND, "text/plain", "no such page\n"),
            },
        }
    }

    /// `GET /price/{id}`: 200 with the price (`"fresh": false` when it came from the fallback),
    /// or 502 when there was none to give.
    async fn price(&self, id: u32) -> Response<Body> {
        let result = {
            let _timed = self.recorder.calls.time();
            self.prices.price(id).await
        };
        let counter = match result {
            Ok(_) => &self.recorder.served,
            Err(_) => &self.recorder.unanswered,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(price) => web::respond(
                StatusCode::OK,
                "application/json",
                serde_json::to_string(&price).unwrap_or_default(),
            ),
            Err(err) => web::respond(
                StatusCode::BAD_GATEWAY,
                "application/json",
                serde_json::json!({ "error": err.to_string() }).to_string(),
            ),
        }
    }

    /// `GET /api/now`: the last sample as the dashboard shows it.
    fn now(&self) -> Response<Body> {
        let body = self.recorder.with_history(|history| match history.last() {
            Some(sample) => now(sample, history.len()),
            None => serde_json::json!({ "samples": 0, "rows": [] }),
        });
        web::respond(StatusCode::OK, "application/json", body.to_string())
    }
}

/// The dashboard's feed: the same cells as the terminal's table, the state to colour them, and
/// how many samples there are so far.
fn now(sample: &Sample, samples: usize) -> serde_json::Value {
    let rows: Vec<_> = (sample.rows.iter())
        .map(|row| {
            serde_json::json!({
                "state": row.state.map(|state| state.as_str()),
                "cells": cells(sample, row),
            })
        })
        .collect();
    serde_json::json!({
        "samples": samples,
        "t": sample.t,
        "phase": sample.phase,
        "health": sample.health,
        "columns": COLUMNS,
        "rows": rows,
    })
}
