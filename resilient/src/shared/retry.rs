//! A retry ratio kept for the whole cluster: at most `retry_ratio` of the calls of every replica
//! together may be retries (see [`crate::retry_ratio`]).
//!
//! A [`RetryPolicy`](crate::RetryPolicy) given a backend with
//! [`share_through`](crate::RetryPolicy::share_through) sends its calls and retries to window
//! counters on the server in batches (every 250 ms by default, `redis_batch`) and learns the
//! cluster's counts back. A retry is then judged against the cluster's counts plus this replica's
//! since its last batch: no call waits on the network. While the server fails, the replica judges
//! its own counts (`on_redis_failure = local`), retries freely (`open`) or not at all (`closed`).

use super::batches::{BUCKETS, Batches};
use super::{OnFailure, Redis, Script, SharedError};
use crate::RetryPolicy;
use crate::retry_ratio::WINDOW;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// One batch: KEYS[1] the window; ARGV: the calls and retries since the last batch, the bucket's
/// length (µs) and the window's buckets. Returns the window's calls and retries.
const COUNT: &str = concat!(
    add_to_window_lua!(),
    r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local calls, retries = add_to_window(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now,
  tonumber(ARGV[3]), tonumber(ARGV[4]))
return {calls, retries}
"
);

static COUNT_SCRIPT: Script = Script::new(COUNT);

/// A retry policy's part in the cluster's ratio.
pub(crate) struct SharedRatio {
    pub(crate) batches: Batches<RetryPolicy>,
    /// What the last batch learnt; `None` before the first answer and while the server fails.
    learnt: Mutex<Option<Learnt>>,
}

/// The cluster's counts in the window, and this replica's totals when they were learnt.
#[derive(Clone, Copy, Debug)]
struct Learnt {
    calls: u64,
    retries: u64,
    own_calls: u64,
    own_retries: u64,
}

impl SharedRatio {
    pub(crate) const fn new() -> Self {
        Self {
            batches: Batches::new(),
            learnt: Mutex::new(None),
        }
    }

    /// Whether one more retry keeps the cluster within `ratio`, this replica having made `calls`
    /// and `retries` in all; `None` when the replica's own counts decide.
    pub(crate) fn allows(&self, ratio: f64, calls: u64, retries: u64) -> Option<bool> {
        let backend = self.batches.sharing.backend()?;
        self.batches.keep_running(start);
        let learnt = *self.learnt.lock().unwrap_or_else(PoisonError::into_inner);
        match learnt {
            Some(l) => Some(crate::retry_ratio::allows(
                ratio,
                l.calls + calls.saturating_sub(l.own_calls),
                l.retries + retries.saturating_sub(l.own_retries),
            )),
            None if !backend.is_degraded() => None,
            None => match self.batches.sharing.on_failure() {
                OnFailure::Local => None,
                OnFailure::Open => Some(true),
                OnFailure::Closed => Some(false),
            },
        }
    }

    fn learn(&self, learnt: Option<Learnt>) {
        *self.learnt.lock().unwrap_or_else(PoisonError::into_inner) = learnt;
    }
}

/// The batches' task of `policy`, counting from now.
pub(crate) fn start(policy: &'static RetryPolicy) -> impl Future<Output = ()> + Send {
    run(policy, policy.ratio_counts(), tokio::time::Instant::now())
}

/// Sends the calls and retries of `policy` since `sent` (its totals at `sent_at`) every batch
/// period, for as long as it is shared and the runtime runs.
async fn run(
    policy: &'static RetryPolicy,
    mut sent: (u64, u64),
    mut sent_at: tokio::time::Instant,
) {
    let shared = policy.shared_part();
    loop {
        let Some(backend) = shared.batches.sharing.backend() else {
            shared.learn(None);
            return;
        };
        let now = policy.ratio_counts();
        let delta = (now.0.saturating_sub(sent.0), now.1.saturating_sub(sent.1));
        match backend.count_retries(policy.policy_name(), delta).await {
            Ok((calls, retries)) => {
                (sent, sent_at) = (now, tokio::time::Instant::now());
                shared.learn(Some(Learnt {
                    calls,
                    retries,
                    own_calls: now.0,
                    own_retries: now.1,
                }));
            }
            Err(_) => {
                shared.learn(None);
                // Counts older than the window would count against a time they are not from.
                if sent_at.elapsed() > WINDOW {
                    (sent, sent_at) = (now, tokio::time::Instant::now());
                }
            }
        }
        tokio::time::sleep(shared.batches.period()).await;
    }
}

impl Redis {
    /// Adds `(calls, retries)` to the window of the retry policy `policy` and returns the
    /// cluster's counts in it, within the timeout.
    async fn count_retries(
        &self,
        policy: &str,
        (calls, retries): (u64, u64),
    ) -> Result<(u64, u64), SharedError> {
        let bucket: Duration = WINDOW / BUCKETS;
        let keys = vec![self.key("retry", policy)];
        let args = vec![
            calls.to_string(),
            retries.to_string(),
            bucket.as_micros().to_string(),
            BUCKETS.to_string(),
        ];
        self.drive();
        let outcome = self
            .within_timeout(COUNT_SCRIPT.run::<(u64, u64)>(&self.client, keys, args))
            .await;
        self.note(policy, &outcome);
        outcome
    }
}
