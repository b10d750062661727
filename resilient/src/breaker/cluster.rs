//! The breaker's side of the cluster-wide decision (feature `redis`, see
//! [`crate::shared::breaker`]): sharing it, and the transitions the cluster's task makes on it.
//! Only that task calls the transitions, one at a time.

use super::config::Window;
use super::state::*;
use super::{BreakerConfig, CircuitBreaker, HELD, quiet_value};
use crate::clock::nanos;
use crate::shared::breaker::Cluster;
use crate::shared::{OnFailure, Redis};
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::Duration;
use tracing::Level;

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
        cluster.sharing.set_from_code(backend, on_failure);
        cluster.share(self);
    }

    /// How often the outcomes are sent and the cluster's decision learnt (default 250 ms; the
    /// registry key `redis_batch` overrides it). The cluster's openings reach every replica at
    /// once through pub/sub, and at the latest one period later.
    pub fn share_every(&self, period: Duration) {
        self.cluster_part().set_batch_from_code(period);
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

    /// Opens the breaker for the cluster, or keeps it open: no trial here until
    /// [`release_for_trial`](Self::release_for_trial) or
    /// [`end_cluster_hold`](Self::end_cluster_hold). `remaining` is the cluster's wait, for
    /// `retry_after`. A breaker forced open or disabled is left as it is.
    pub(crate) fn hold_for_cluster(&self, remaining: Option<Duration>) {
        let mut word = self.word.load(Acquire);
        let (from, open) = loop {
            word = self.after_bookkeeping(word);
            let from = state(word);
            if matches!(from, FORCED_OPEN | DISABLED)
                || (from == OPEN && self.open_until.load(Relaxed) == HELD)
            {
                return;
            }
            let open = pack(OPEN, next_generation(word));
            match self.word.compare_exchange_weak(word, open, AcqRel, Acquire) {
                Ok(_) => break (from, open),
                Err(current) => word = current,
            }
        };
        let now = self.epoch.now();
        if from == CLOSED {
            self.outage_started.store(now, Relaxed);
            self.openings_in_row.store(1, Relaxed);
        }
        if from != OPEN {
            self.stats.openings.fetch_add(1, Relaxed);
        }
        self.publish_opening(open, now, HELD, remaining);
        tracing::event!(
            name: "breaker.opened",
            target: "resilient",
            Level::WARN,
            policy = self.name(),
            state = "open",
            from = "cluster",
            wait_ms = remaining.map(|wait| wait.as_millis() as u64),
            "circuit breaker `{}` opened for every replica: calls are rejected until the cluster allows a trial",
            self.name()
        );
    }

    /// The cluster leased its trials to this replica: an opening it holds allows a trial now.
    pub(crate) fn release_for_trial(&self) {
        let word = self.after_bookkeeping(self.word.load(Acquire));
        if state(word) != OPEN || self.open_until.load(Relaxed) != HELD {
            return;
        }
        self.open_until.store(self.epoch.now(), Relaxed);
        if let Some(quiet) = self.quiet.get() {
            let raised = quiet_value(generation(word));
            let _ = quiet.compare_exchange(raised, crate::alarm::LOWERED, AcqRel, Acquire);
        }
    }

    /// The cluster no longer holds the breaker. `None`: the cluster's breaker closed, so does
    /// this one (unless its trials are running: they decide). `Some(wait)`: the backend failed,
    /// and the breaker, open, allows a trial of its own after `wait`.
    pub(crate) fn end_cluster_hold(&self, resume_in: Option<Duration>) {
        let mut word = self.after_bookkeeping(self.word.load(Acquire));
        match resume_in {
            Some(wait) => {
                if state(word) == OPEN && self.open_until.load(Relaxed) == HELD {
                    let until = self.epoch.now().saturating_add(nanos(wait));
                    self.open_until.store(until, Relaxed);
                }
            }
            None => {
                while state(word) == OPEN {
                    let closed = pack(CLOSED, next_generation(word));
                    match self.word.compare_exchange(word, closed, AcqRel, Acquire) {
                        Ok(_) => return self.closed(closed),
                        Err(current) => word = self.after_bookkeeping(current),
                    }
                }
            }
        }
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
