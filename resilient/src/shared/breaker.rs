//! A circuit breaker decided by the whole cluster, by quorum of outcomes.
//!
//! Each replica keeps its own breaker, which judges its own calls as always: a replica whose own
//! link to the dependency fails opens its breaker alone. A breaker given a backend with
//! [`share_through`](crate::CircuitBreaker::share_through) also takes part in a decision made for
//! every replica:
//!
//! - A task of the replica's adds the outcomes of its calls to window counters on the server in
//!   batches (every 250 ms by default, `redis_batch`), never one message per call: a closed
//!   breaker's call never waits on the network, and costs what it costs unshared.
//! - The server judges the cluster's window with the breaker's own settings: in rate mode, the
//!   failure rate over at least `minimum_calls` calls; with `failure_threshold`, at least that
//!   many failures and no success. The window is the breaker's time window, else the last
//!   [`DEFAULT_WINDOW`]. When it trips, the cluster's breaker opens for `recovery_timeout`.
//! - Every replica then holds its breaker open (`from = "cluster"` in `breaker.opened`), as soon
//!   as the opening is published and at the latest at its next batch, and rejects without trials.
//! - After the recovery timeout, one replica that has calls waiting gets a lease on the trials
//!   (for the recovery timeout, at least four batches, renewed while it uses it): its breaker
//!   turns half-open and runs the trials; the others keep rejecting. If the trials succeed, the
//!   cluster's breaker closes and the closing is published: every replica closes too. If one
//!   fails, the cluster's breaker opens again (longer under `recovery_backoff`).
//!
//! While the server fails, the replica's own breaker decides alone (`on_redis_failure` `local`
//! or `open`; a breaker that let every call through would not be one), or stays open (`closed`),
//! from the first batch that fails; its outcomes of that time are sent when the server is back,
//! unless they are older than the window.

use super::batches::{BUCKETS, Batches};
use super::{OnFailure, Redis, Script, SharedError};
use crate::breaker::CircuitBreaker;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::Notify;

/// The window judged when the breaker counts consecutive failures or its window is a number of
/// calls.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// One batch of a replica, run atomically on the server. KEYS: the breaker's state (a hash:
/// `open`, `trials_at`, `in_row`, `holder`, `lease`) and its window (calls and failures, see
/// `add_to_window`). ARGV: the replica, its successes and failures since the last batch, the
/// bucket's length (µs), the window's buckets, the failure rate that trips (millionths; 0: no
/// success and a number of failures trips), the calls (or failures) needed, the wait after an
/// opening and after a failed trial (µs), how the leased trials ended (0 not yet, 1 closed,
/// 2 failed), whether the replica wants the trials, the lease's length (µs), and the channel to
/// publish transitions on. Returns `{open, trials_at - now (µs), trials leased to the replica,
/// openings in a row, calls and failures in the window}`.
const SYNC: &str = concat!(
    add_to_window_lua!(),
    r"
local replica = ARGV[1]
local successes, failures = tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket_us, buckets = tonumber(ARGV[4]), tonumber(ARGV[5])
local rate, needed = tonumber(ARGV[6]), tonumber(ARGV[7])
local ended, wants = tonumber(ARGV[10]), ARGV[11] == '1'
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local s = redis.call('HMGET', KEYS[1], 'open', 'trials_at', 'in_row', 'holder', 'lease')
local open = s[1] == '1'
local trials_at = tonumber(s[2] or '0')
local in_row = tonumber(s[3] or '0')
local holder = s[4] or ''
local lease = tonumber(s[5] or '0')
local function open_for(wait)
  open, trials_at, holder = true, now + wait, ''
  redis.call('HSET', KEYS[1], 'open', '1', 'trials_at', string.format('%d', trials_at), 'in_row', in_row)
  redis.call('HDEL', KEYS[1], 'holder', 'lease')
  redis.call('DEL', KEYS[2])
  redis.call('PUBLISH', ARGV[13], 'open')
end
if open and holder == replica and ended ~= 0 then
  if ended == 1 then
    open, in_row, holder = false, 0, ''
    redis.call('DEL', KEYS[1], KEYS[2])
    redis.call('PUBLISH', ARGV[13], 'closed')
  else
    in_row = in_row + 1
    open_for(tonumber(ARGV[9]))
  end
end
local calls, failed = 0, 0
if not open then
  calls, failed = add_to_window(KEYS[2], successes + failures, failures, now, bucket_us, buckets)
  local trips
  if rate > 0 then
    trips = calls >= needed and calls > 0 and failed * 1000000 >= rate * calls
  else
    trips = failed >= needed and failed == calls
  end
  if trips then
    in_row = 1
    open_for(tonumber(ARGV[8]))
  end
end
local leased = 0
if open and now >= trials_at and (holder == replica or holder == '' or lease < now) then
  if wants then
    leased = 1
    redis.call('HSET', KEYS[1], 'holder', replica, 'lease', string.format('%d', now + tonumber(ARGV[12])))
  elseif holder == replica then
    redis.call('HDEL', KEYS[1], 'holder', 'lease')
  end
end
return {open and 1 or 0, trials_at - now, leased, in_row, calls, failed}
"
);

static SYNC_SCRIPT: Script = Script::new(SYNC);

/// A breaker's part in the cluster's decision.
pub(crate) struct Cluster {
    pub(crate) batches: Batches<CircuitBreaker>,
    /// Wakes the task before its next batch, when the leased trials ended.
    wake: Notify,
    /// Whether the cluster's breaker is open, so that this replica's is held open.
    held: AtomicBool,
    /// Whether this replica holds the lease on the cluster's trials.
    trialing: AtomicBool,
    /// How the leased trials ended, for the next batch: [`NOT_ENDED`], [`CLOSED`], [`FAILED`].
    trials_ended: AtomicU8,
}

const NOT_ENDED: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

/// What the server said of the cluster's breaker after a batch.
#[derive(Debug)]
struct Verdict {
    open: bool,
    /// Until trials may start, from the server's now (negative once they may).
    remaining_us: i64,
    leased: bool,
    in_row: u32,
}

/// Outcome counts of the replica's breaker, as the last batch sent them.
#[derive(Clone, Copy)]
struct Sent {
    successes: u64,
    failures: u64,
    rejections: u64,
    at: tokio::time::Instant,
}

impl Cluster {
    pub(crate) const fn new() -> Self {
        Self {
            batches: Batches::new(),
            wake: Notify::const_new(),
            held: AtomicBool::new(false),
            trialing: AtomicBool::new(false),
            trials_ended: AtomicU8::new(NOT_ENDED),
        }
    }

    /// Whether the cluster's breaker holds this replica's open.
    #[inline]
    pub(crate) fn holds(&self) -> bool {
        self.held.load(Relaxed)
    }

    /// The replica's trials ended (its breaker closed, or opened again): if they were the
    /// cluster's, tells the cluster at once.
    pub(crate) fn trial_ended(&self, closed: bool) {
        if self.trialing.swap(false, Relaxed) {
            let ended = if closed { CLOSED } else { FAILED };
            self.trials_ended.store(ended, Relaxed);
            self.wake.notify_one();
        }
    }

    /// Starts the batches' task on this runtime if the breaker is shared and the task is not
    /// running. One load when the breaker is not shared.
    #[inline]
    pub(crate) fn keep_running(&self) {
        self.batches.keep_running(start);
    }

    /// Follows the cluster's breaker.
    fn follow(&self, breaker: &CircuitBreaker, verdict: &Verdict) {
        if !verdict.open {
            self.trialing.store(false, Relaxed);
            if self.held.swap(false, Relaxed) {
                breaker.end_cluster_hold(None);
            }
            return;
        }
        let remaining = Duration::from_micros(verdict.remaining_us.max(0).unsigned_abs());
        self.held.store(true, Relaxed);
        if verdict.leased {
            if !self.trialing.swap(true, Relaxed) {
                breaker.release_for_trial();
            }
        } else {
            // Not (or no longer) this replica's trials: no trial here.
            self.trialing.store(false, Relaxed);
            breaker.hold_for_cluster(Some(remaining));
        }
    }

    /// The server failed: the replica's own breaker decides alone, or stays open.
    fn degrade(&self, breaker: &CircuitBreaker, resume_in: Duration) {
        match self.batches.sharing.on_failure() {
            OnFailure::Closed => {
                self.trialing.store(false, Relaxed);
                self.held.store(true, Relaxed);
                breaker.hold_for_cluster(None);
            }
            OnFailure::Local | OnFailure::Open => self.let_go(breaker, resume_in),
        }
    }

    /// The replica's own breaker decides alone from now: an opening the cluster held allows a
    /// trial after `resume_in`.
    fn let_go(&self, breaker: &CircuitBreaker, resume_in: Duration) {
        self.trialing.store(false, Relaxed);
        if self.held.swap(false, Relaxed) {
            breaker.end_cluster_hold(Some(resume_in));
        }
    }
}

/// The batches' task of `breaker`, counting from now: it first runs when the caller yields,
/// after calls made meanwhile.
pub(crate) fn start(breaker: &'static CircuitBreaker) -> impl Future<Output = ()> + Send {
    run(breaker, counts(breaker))
}

/// The batches of `breaker`, for as long as it is shared and the runtime runs: the first sends
/// the outcomes since `sent`.
async fn run(breaker: &'static CircuitBreaker, mut sent: Sent) {
    let cluster = breaker.cluster_part();
    let name = breaker.name();
    let replica = replica_id();
    let mut in_row = 0;
    // Trials may start at this instant of the replica's clock, as the cluster last said.
    let mut trials_from = tokio::time::Instant::now();
    let mut listening: Option<tokio::sync::broadcast::Receiver<fred::types::Message>> = None;
    loop {
        let Some(backend) = cluster.batches.sharing.backend() else {
            // No longer shared: the replica's breaker decides alone, whatever `on_redis_failure`
            // says (it is about a backend that fails, and there is none).
            cluster.let_go(
                breaker,
                trials_from.saturating_duration_since(tokio::time::Instant::now()),
            );
            return;
        };
        let now = counts(breaker);
        let ended = cluster.trials_ended.swap(NOT_ENDED, Relaxed);
        let config = *breaker.config();
        let wants_trials = now.rejections > sent.rejections || cluster.trialing.load(Relaxed);
        let batch = Batch {
            successes: now.successes.saturating_sub(sent.successes),
            failures: now.failures.saturating_sub(sent.failures),
            ended,
            wants_trials,
            reopen_wait: config.open_wait(in_row + 1),
        };
        match (backend.sync_breaker(name, &replica, &config, cluster.batches.period(), &batch))
            .await
        {
            Ok(verdict) => {
                sent = now;
                in_row = verdict.in_row;
                trials_from = tokio::time::Instant::now()
                    + Duration::from_micros(verdict.remaining_us.max(0).unsigned_abs());
                cluster.follow(breaker, &verdict);
                if listening.is_none() {
                    listening = backend.listen(&channel(&backend, name)).await.ok();
                }
            }
            Err(_) => {
                if ended != NOT_ENDED {
                    cluster.trials_ended.store(ended, Relaxed);
                }
                // Outcomes older than the window would count against a time they are not from.
                if now.at.duration_since(sent.at) > window_of(&config) {
                    sent = now;
                }
                listening = None;
                let resume_in = trials_from.saturating_duration_since(tokio::time::Instant::now());
                cluster.degrade(breaker, resume_in);
            }
        }
        let transitions = channel(&backend, name);
        let published = async {
            match listening.as_mut() {
                Some(messages) => loop {
                    match messages.recv().await {
                        Ok(message) if *message.channel == *transitions => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            std::future::pending::<()>().await
                        }
                    }
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(cluster.batches.period()) => {}
            () = cluster.wake.notified() => {}
            () = published => {}
        }
    }
}

/// What a replica sends in one batch.
struct Batch {
    successes: u64,
    failures: u64,
    ended: u8,
    wants_trials: bool,
    reopen_wait: Duration,
}

fn counts(breaker: &CircuitBreaker) -> Sent {
    let (successes, failures, rejections) = breaker.outcome_counts();
    Sent {
        successes,
        failures,
        rejections,
        at: tokio::time::Instant::now(),
    }
}

/// The window the cluster judges.
fn window_of(config: &crate::BreakerConfig) -> Duration {
    config.time_window_period().unwrap_or(DEFAULT_WINDOW)
}

/// The channel the breaker `name`'s transitions are published on.
fn channel(backend: &Redis, name: &str) -> String {
    backend.key("breaker", &format!("{name}:transitions"))
}

/// A name the cluster tells this replica's breaker by, as long as its task runs: random, so that
/// neither another process nor another breaker of the same name in this one has it.
fn replica_id() -> String {
    use std::hash::BuildHasher;
    static TASKS: AtomicU64 = AtomicU64::new(0);
    let task = TASKS.fetch_add(1, Relaxed);
    let random = std::collections::hash_map::RandomState::new();
    format!("{:016x}", random.hash_one((std::process::id(), task)))
}

impl Redis {
    /// Sends one batch of the breaker `policy` and learns the cluster's decision, within the
    /// timeout.
    async fn sync_breaker(
        &self,
        policy: &str,
        replica: &str,
        config: &crate::BreakerConfig,
        batch_period: Duration,
        batch: &Batch,
    ) -> Result<Verdict, SharedError> {
        let micros = |d: Duration| d.as_micros().to_string();
        let window = window_of(config);
        let (rate, needed) = match config.failure_rate {
            // Millionths, rounded up: never opened below the rate.
            Some(rate) => ((rate * 1e6).ceil() as u64, config.minimum_calls.max(1)),
            None => (0, config.failure_threshold),
        };
        let lease = config.recovery_timeout.max(batch_period * 4);
        let keys = vec![
            self.key("breaker", policy),
            self.key("breaker", &format!("{policy}:window")),
        ];
        let args = vec![
            replica.to_owned(),
            batch.successes.to_string(),
            batch.failures.to_string(),
            micros(window / BUCKETS).max("1".to_owned()),
            BUCKETS.to_string(),
            rate.to_string(),
            needed.to_string(),
            micros(config.open_wait(1)),
            micros(batch.reopen_wait),
            batch.ended.to_string(),
            u8::from(batch.wants_trials).to_string(),
            micros(lease),
            channel(self, policy),
        ];
        self.drive();
        let outcome = self
            .within_timeout(SYNC_SCRIPT.run::<Vec<i64>>(&self.client, keys, args))
            .await
            .and_then(|reply| match reply[..] {
                [open, remaining_us, leased, in_row, _, _] => Ok(Verdict {
                    open: open == 1,
                    remaining_us,
                    leased: leased == 1,
                    in_row: u32::try_from(in_row).unwrap_or(u32::MAX),
                }),
                _ => Err(SharedError(format!("unexpected answer {reply:?}"))),
            });
        self.note(policy, &outcome);
        outcome
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("held", &self.holds())
            .field("trialing", &self.trialing.load(Relaxed))
            .finish_non_exhaustive()
    }
}
