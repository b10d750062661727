//! The breaker's side of the cluster-wide decision (feature `redis`, see
//! [`crate::shared::breaker`]): sharing it. The transitions the cluster makes on it are in
//! `held.rs`.

use super::config::Window;
use super::{BreakerConfig, CircuitBreaker};
use crate::shared::breaker::Cluster;
use crate::shared::{OnFailure, Redis};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

impl CircuitBreaker {
    /// Takes part, through `backend`, in one decision for every replica that gives its breaker
    /// the same name (see [`crate::shared::breaker`]): the outcomes go to the server in batches,
    /// the cluster's breaker opens on the cluster's failure rate, and trials are leased to one
    /// replica at a time. The replica's own breaker still judges its own calls. While the backend
    /// fails, `on_failure` decides. A backend named by the configuration (`redis_url`) takes
    /// precedence.
    ///
    /// The batches are sent by a task on the runtime this is called on (or, called outside one,
    /// of the first failure); if that runtime shuts down, the next failure starts it again.
    pub fn share_through(&'static self, backend: Arc<Redis>, on_failure: OnFailure) {
        let cluster = self.cluster_part();
        cluster.batches.sharing.set_from_code(backend, on_failure);
        cluster.batches.share(self, crate::shared::breaker::start);
    }

    /// How often the outcomes are sent and the cluster's decision learnt (default 250 ms; the
    /// registry key `redis_batch` overrides it). The cluster's openings reach every replica at
    /// once through pub/sub, and at the latest one period later.
    pub fn share_every(&self, period: Duration) {
        self.cluster_part().batches.set_period_from_code(period);
    }

    /// Its part in the cluster's decision, if it has one.
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.get().map(|cluster| &**cluster)
    }

    /// Its part in the cluster's decision, made now if it had none.
    pub(crate) fn cluster_part(&self) -> &Cluster {
        self.cluster.get_or_init(|| Box::new(Cluster::new()))
    }

    /// Successes, failures and rejections so far, for the cluster's batches.
    pub(crate) fn outcome_counts(&self) -> (u64, u64, u64) {
        let s = &self.stats;
        (
            s.successes.sum(),
            s.failures.load(Relaxed),
            s.rejections.sum(),
        )
    }
}

impl BreakerConfig {
    /// The period of a time window, if the window is one.
    pub(crate) fn time_window_period(&self) -> Option<Duration> {
        match self.window {
            Window::Time(period) => Some(period),
            Window::Count(_) => None,
        }
    }
}
