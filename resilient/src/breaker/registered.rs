//! The breaker in the registry: its keys, configuration, state, metrics and alert sample.

use super::{BreakerConfig, BreakerState, CircuitBreaker};
use crate::policy::{
    Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration, kind_keys, not_a_key,
    parse_count, parse_duration, parse_fraction, show,
};
use std::collections::BTreeMap;

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::CircuitBreaker,
    keys: kind_keys!(
        "failure_threshold",
        "recovery_timeout",
        "half_open_calls",
        "success_threshold",
        "failure_rate",
        "minimum_calls",
        "slow_call",
        "slow_call_rate";
        shared: batched
    ),
    check_form: |key, value| {
        #[cfg(feature = "redis")]
        if crate::shared::BATCHED_KEYS.contains(&key) {
            return crate::shared::check_form(key, value);
        }
        set(BreakerConfig::new(), key, value).map(drop)
    },
};

fn set(c: BreakerConfig, key: &str, value: &str) -> Result<BreakerConfig, String> {
    Ok(match key {
        "failure_threshold" => c.failure_threshold(parse_count(value)?),
        "recovery_timeout" => c.recovery_timeout(parse_duration(value)?),
        "half_open_calls" => c.half_open_calls(parse_count(value)?),
        "success_threshold" => c.success_threshold(parse_count(value)?),
        "failure_rate" => c.failure_rate(parse_fraction(value)?),
        "minimum_calls" => c.minimum_calls(parse_count(value)?),
        "slow_call" => c.slow_call(parse_duration(value)?),
        "slow_call_rate" => c.slow_call_rate(parse_fraction(value)?),
        _ => return Err(not_a_key(&[PolicyKind::CircuitBreaker])),
    })
}

impl Registered for CircuitBreaker {
    fn name(&self) -> &'static str {
        CircuitBreaker::name(self)
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::CircuitBreaker
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        let c = *CircuitBreaker::config(self);
        let mut settings = BTreeMap::from([
            ("recovery_timeout", show(c.recovery_timeout)),
            ("half_open_calls", c.half_open_calls.to_string()),
            ("success_threshold", c.success_threshold.to_string()),
        ]);
        match c.failure_rate {
            Some(rate) => {
                settings.insert("failure_rate", rate.to_string());
                settings.insert("minimum_calls", c.minimum_calls.to_string());
            }
            None => {
                settings.insert("failure_threshold", c.failure_threshold.to_string());
            }
        }
        if let Some(slow) = c.slow_call {
            settings.insert("slow_call", show(slow));
        }
        if let Some(rate) = c.slow_call_rate {
            settings.insert("slow_call_rate", rate.to_string());
        }
        #[cfg(feature = "redis")]
        if let Some(cluster) = self.cluster() {
            settings.extend(cluster.batches.config());
        }
        settings
    }

    fn state(&self) -> Option<BreakerState> {
        Some(CircuitBreaker::state(self))
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::CircuitBreaker(CircuitBreaker::metrics(self))
    }

    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused> {
        #[cfg(feature = "redis")]
        let (shared, values) = crate::shared::split(values, &crate::shared::BATCHED_KEYS);
        #[cfg(feature = "redis")]
        let values = values.as_slice();
        let mut config = *self.initial_config();
        for (key, value) in values {
            config = set(config, key, value).map_err(|reason| Refused::new(key, reason))?;
        }
        self.reconfigure(config)?;
        #[cfg(feature = "redis")]
        if !shared.is_empty() || self.cluster().is_some() {
            (self.cluster_part().batches).apply(self, &shared, crate::shared::breaker::start)?;
        }
        Ok(())
    }

    #[cfg(feature = "redis")]
    fn shared_backend(&self) -> Option<std::sync::Arc<crate::shared::Redis>> {
        self.cluster()?.batches.sharing.backend()
    }

    fn as_breaker(&'static self) -> Option<&'static CircuitBreaker> {
        Some(self)
    }
}
