//! The transitions the cluster makes on a replica's breaker (see [`crate::shared::breaker`]):
//! held open while the cluster's breaker is open, let go for the trials the cluster leases to it,
//! closed with the cluster's. Only the cluster's task calls them, one at a time; callers race
//! them, which the loom models check (they are public, hidden, under `--cfg loom`).

use super::state::*;
use super::{CircuitBreaker, HELD, quiet_value};
use crate::clock::nanos;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::Duration;
use tracing::Level;

#[cfg(not(loom))]
use crate::alarm::LOWERED;
/// Under loom there is no alarm thread; its flags are lowered to the same value.
#[cfg(loom)]
const LOWERED: u64 = 0;

impl CircuitBreaker {
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
            let _ = quiet.compare_exchange(raised, LOWERED, AcqRel, Acquire);
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

/// The transitions for the loom models, which have no Redis to drive them.
#[cfg(loom)]
impl CircuitBreaker {
    #[doc(hidden)]
    pub fn loom_hold_for_cluster(&self, remaining: Option<Duration>) {
        self.hold_for_cluster(remaining);
    }

    #[doc(hidden)]
    pub fn loom_release_for_trial(&self) {
        self.release_for_trial();
    }

    #[doc(hidden)]
    pub fn loom_end_cluster_hold(&self, resume_in: Option<Duration>) {
        self.end_cluster_hold(resume_in);
    }
}
