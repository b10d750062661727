//! What a policy that sends its counts to the server in batches needs (the cluster's breaker, the
//! shared retry ratio): its backend, the batches' period, and the task that sends them, started
//! on the runtime of the first use and again if that runtime shut down.

use super::Sharing;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often counts are sent, unless configured.
pub const DEFAULT_BATCH: Duration = Duration::from_millis(250);

/// The registry keys of a policy that sends batches.
pub(crate) const BATCHED_KEYS: [&str; 4] = [
    "redis_url",
    "redis_prefix",
    "on_redis_failure",
    "redis_batch",
];

/// The parts of a window on the server: counts older than the window leave a tenth at a time.
pub(crate) const BUCKETS: u32 = 10;

/// The batches of the policy `P`.
pub(crate) struct Batches<P: 'static> {
    pub(crate) sharing: Sharing,
    /// The period in nanoseconds, and as the code set it.
    period: AtomicU64,
    code_period: AtomicU64,
    /// The policy, once shared: its task needs it for as long as the program runs.
    owner: OnceLock<&'static P>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl<P: Sync + 'static> Batches<P> {
    pub(crate) const fn new() -> Self {
        Self {
            sharing: Sharing::new(),
            period: AtomicU64::new(DEFAULT_BATCH.as_nanos() as u64),
            code_period: AtomicU64::new(DEFAULT_BATCH.as_nanos() as u64),
            owner: OnceLock::new(),
            task: Mutex::new(None),
        }
    }

    /// What the code gives: the period, under the configuration's.
    pub(crate) fn set_period_from_code(&self, period: Duration) {
        let nanos = crate::clock::nanos(period).max(1);
        self.code_period.store(nanos, Relaxed);
        self.period.store(nanos, Relaxed);
    }

    pub(crate) fn period(&self) -> Duration {
        Duration::from_nanos(self.period.load(Relaxed))
    }

    /// Shares `owner` and starts its task (`run`), if there is a runtime.
    pub(crate) fn share<F>(&self, owner: &'static P, run: impl FnOnce(&'static P) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _ = self.owner.set(owner);
        self.keep_running(run);
    }

    /// Starts the task (`run`) on this runtime if the policy is shared and its task is not
    /// running (it never started, or its runtime shut down). One load when it is not shared.
    #[inline]
    pub(crate) fn keep_running<F>(&self, run: impl FnOnce(&'static P) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.sharing.is_on() {
            self.start(run);
        }
    }

    #[cold]
    fn start<F>(&self, run: impl FnOnce(&'static P) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (Some(owner), Ok(runtime)) = (self.owner.get(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.as_ref().is_none_or(JoinHandle::is_finished) {
            *task = Some(runtime.spawn(run(owner)));
        }
    }

    /// Puts in force what `values` (the registry's, weakest first) say of [`BATCHED_KEYS`], and
    /// shares `owner` if they name a backend.
    pub(crate) fn apply<F>(
        &self,
        owner: &'static P,
        values: &[(&str, &str)],
        run: impl FnOnce(&'static P) -> F,
    ) -> Result<(), crate::policy::Refused>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let period = match values.iter().rev().find(|(key, _)| *key == "redis_batch") {
            Some((_, value)) => parse_batch(value)
                .map_err(|reason| crate::policy::Refused::new("redis_batch", reason))?,
            None => Duration::from_nanos(self.code_period.load(Relaxed)),
        };
        self.sharing.apply(values)?;
        self.period.store(crate::clock::nanos(period), Relaxed);
        self.share(owner, run);
        Ok(())
    }

    /// The shared keys in force, for [`registry::policies`](crate::registry::policies).
    pub(crate) fn config(&self) -> Vec<(&'static str, String)> {
        let mut config = self.sharing.config();
        if !config.is_empty() {
            config.push(("redis_batch", crate::policy::show(self.period())));
        }
        config
    }
}

/// A batch period: a duration above zero.
pub(crate) fn parse_batch(value: &str) -> Result<Duration, String> {
    match crate::policy::parse_duration(value)? {
        Duration::ZERO => Err("`redis_batch` must be above zero".to_owned()),
        period => Ok(period),
    }
}
