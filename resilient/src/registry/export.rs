//! The registry's snapshot published through the [`metrics`] facade (feature `metrics`).

use super::{PolicyInfo, PolicyMetrics, policies};
use crate::BreakerState;
use metrics::{counter, gauge};

/// Publishes the counters of every registered policy through the `metrics` facade, so that the
/// exporter installed there (Prometheus, OpenTelemetry, ...) reports them.
///
/// The policies count in process, on the call path without a shared write; this copies their
/// totals out. Call it before each scrape, or let [`watch`](super::watch) call it periodically.
/// Every metric has the labels `policy` (the name) and `kind` (`circuit_breaker`, `retry`,
/// `timeout`, `fallback`, `rate_limit`, `bulkhead`, `hedge`):
///
/// | metric | type | labels | value |
/// | --- | --- | --- | --- |
/// | `resilient_calls_total` | counter | `outcome`: `success`, `failure`, `rejected` (breaker, rate limit, bulkhead), `timeout` (timeout) | calls that ended that way (a rate limiter's and a bulkhead's `success` is a call let through) |
/// | `resilient_errors_total` | counter | `type`: `error`, `timeout`, `panic`, `rejection` | the policy's failures by kind ([`FailureCounts`](super::FailureCounts)); `rate(...[1m]) * 60` gives the errors per minute that [`policies`](super::policies) reports |
/// | `resilient_failures_total` | counter | `failure`: `timeout`, `panic`, `slow` | a breaker's failures of that kind (also in `failure`; slow calls whatever their outcome) |
/// | `resilient_retries_total` | counter | | waits between attempts |
/// | `resilient_retries_exhausted_total` | counter | | retried calls that ran out of attempts, budget or retry ratio |
/// | `resilient_retries_aborted_total` | counter | | retried calls stopped by a rejection inside |
/// | `resilient_rate_limit_waits_total` | counter | | calls that waited for their turn |
/// | `resilient_bulkhead_waits_total` | counter | | calls that waited for a slot |
/// | `resilient_bulkhead_in_flight` | gauge | | calls holding a slot now |
/// | `resilient_bulkhead_waiting` | gauge | | calls waiting for a slot now |
/// | `resilient_bulkhead_peak_in_flight` | gauge | | the most calls ever in flight at once |
/// | `resilient_hedges_total` | counter | | hedges started (attempts beyond the first) |
/// | `resilient_hedges_won_total` | counter | | calls a hedge answered first |
/// | `resilient_fallbacks_total` | counter | `reason`: `error`, `rejected` | calls the fallback answered, after the function's error or a rejection inside |
/// | `resilient_breaker_state` | gauge | | 0 closed, 1 half-open, 2 open, 3 forced open, 4 disabled |
/// | `resilient_breaker_openings_total` | counter | | times it opened |
/// | `resilient_breaker_open_seconds` | gauge | | total time not closed, the current outage included |
/// | `resilient_breaker_recoveries_total` | counter | | outages that ended with the breaker closing on its trials |
/// | `resilient_breaker_false_positives_total` | counter | | openings whose first trial succeeded (a sign of opening on noise) |
/// | `resilient_breaker_last_recovery_seconds` | gauge | | length of the last of those outages |
/// | `resilient_breaker_mttr_seconds` | gauge | | mean time to recovery over them |
/// | `resilient_breaker_recovery_seconds` | histogram | | each of those outages, recorded as the breaker closes (not by this function) |
/// | `resilient_alert_level` | gauge | | the policy's [`AlertLevel`](crate::monitor::AlertLevel) while [`watch`](super::watch) samples it: 0 normal, 1 warning, 2 critical, 3 emergency |
pub fn export_metrics() {
    for policy in policies() {
        publish(&policy);
    }
}

fn publish(p: &PolicyInfo) {
    let (policy, kind) = (p.name, p.kind.as_str());
    let failures = p.metrics.failures_by_kind();
    for (failure, n) in [
        ("error", failures.error),
        ("timeout", failures.timeout),
        ("panic", failures.panic),
        ("rejection", failures.rejection),
    ] {
        counter!("resilient_errors_total", "policy" => policy, "kind" => kind, "type" => failure)
            .absolute(n);
    }
    let calls = |outcome: &'static str, n: u64| {
        counter!("resilient_calls_total", "policy" => policy, "kind" => kind, "outcome" => outcome)
            .absolute(n);
    };
    let count = |name: &'static str, n: u64| {
        counter!(name, "policy" => policy, "kind" => kind).absolute(n);
    };
    let set = |name: &'static str, x: f64| {
        gauge!(name, "policy" => policy, "kind" => kind).set(x);
    };
    match &p.metrics {
        PolicyMetrics::CircuitBreaker(m) => {
            calls("success", m.successes);
            calls("failure", m.failures);
            calls("rejected", m.rejections);
            for (failure, n) in [
                ("timeout", m.timeouts),
                ("panic", m.panics),
                ("slow", m.slow_calls),
            ] {
                counter!("resilient_failures_total", "policy" => policy, "kind" => kind, "failure" => failure)
                    .absolute(n);
            }
            let state = match m.state {
                BreakerState::Closed => 0.0,
                BreakerState::HalfOpen => 1.0,
                BreakerState::Open => 2.0,
                BreakerState::ForcedOpen => 3.0,
                BreakerState::Disabled => 4.0,
            };
            set("resilient_breaker_state", state);
            count("resilient_breaker_openings_total", m.openings);
            set("resilient_breaker_open_seconds", m.time_open.as_secs_f64());
            count("resilient_breaker_recoveries_total", m.recoveries);
            count("resilient_breaker_false_positives_total", m.false_positives);
            if let Some(last) = m.last_recovery {
                set(
                    "resilient_breaker_last_recovery_seconds",
                    last.as_secs_f64(),
                );
            }
            if let Some(mttr) = m.mttr {
                set("resilient_breaker_mttr_seconds", mttr.as_secs_f64());
            }
        }
        PolicyMetrics::Retry(m) => {
            calls("success", m.successes);
            calls("failure", m.failures);
            count("resilient_retries_total", m.retries);
            count("resilient_retries_exhausted_total", m.exhausted);
            count("resilient_retries_aborted_total", m.aborted);
        }
        PolicyMetrics::Timeout(m) => {
            calls("success", m.successes);
            calls("timeout", m.timeouts);
        }
        PolicyMetrics::RateLimit(m) => {
            calls("success", m.admitted);
            calls("rejected", m.rejected);
            count("resilient_rate_limit_waits_total", m.waited);
        }
        PolicyMetrics::Hedge(m) => {
            calls("success", m.successes);
            calls("failure", m.failures);
            count("resilient_hedges_total", m.hedges);
            count("resilient_hedges_won_total", m.won);
        }
        PolicyMetrics::Bulkhead(m) => {
            calls("success", m.admitted);
            calls("rejected", m.rejected);
            count("resilient_bulkhead_waits_total", m.waited);
            set("resilient_bulkhead_in_flight", f64::from(m.in_flight));
            set("resilient_bulkhead_waiting", f64::from(m.waiting));
            set("resilient_bulkhead_peak_in_flight", f64::from(m.peak));
        }
        PolicyMetrics::Fallback(m) => {
            for (reason, n) in [
                ("error", m.fallbacks - m.after_rejection),
                ("rejected", m.after_rejection),
            ] {
                counter!("resilient_fallbacks_total", "policy" => policy, "kind" => kind, "reason" => reason)
                    .absolute(n);
            }
        }
    }
    if let Some(level) = p.alert {
        set("resilient_alert_level", level as u8 as f64);
    }
}
