//! Policies that hold across replicas, through Redis (feature `redis`).
//!
//! A [`Redis`] backend is a connection to the server every replica shares, and a key prefix. A
//! [`RateLimiter`](crate::RateLimiter) given one with
//! [`share_through`](crate::RateLimiter::share_through) decides each call with one Lua script
//! run atomically on the server: the same GCRA as the local limiter, on the server's clock, so
//! that all replicas together stay within the rate. The server counts in microseconds, the
//! interval rounded up: a shared rate above a million a second is held to a million.
//!
//! The backend never holds a caller longer than its timeout (100 ms by default): a command that
//! has no answer by then, and a server that cannot be reached, leave the decision to the local
//! limiter (each replica then keeps the rate on its own; or every call goes through, or none, as
//! [`OnFailure`] says), with a `shared.degraded` event the first time and `shared.restored` when
//! the server answers again.
//!
//! The round trip's future is boxed: it cannot be named on stable Rust. Only the shared path
//! pays for it; a limiter with no backend is unchanged.
//!
//! A [`CircuitBreaker`](crate::CircuitBreaker) given one with
//! [`share_through`](crate::CircuitBreaker::share_through) takes part in a decision made for the
//! whole cluster by quorum of outcomes, sent in batches: its calls never wait on the network (see
//! [`breaker`]).

/// `add_to_window(key, a, b, now, bucket_us, buckets)` in Lua, for the scripts that keep two
/// counts over a window on the server: adds `a` and `b` to the hash `key` in the bucket of `now`
/// (µs), drops the buckets older than the window, and returns the window's two sums.
macro_rules! add_to_window_lua {
    () => {
        r"
local function add_to_window(key, a, b, now, bucket_us, buckets)
  local bucket = math.floor(now / bucket_us)
  if a + b > 0 then
    redis.call('HINCRBY', key, 'a' .. bucket, a)
    redis.call('HINCRBY', key, 'b' .. bucket, b)
    redis.call('PEXPIRE', key, math.ceil(bucket_us * (buckets + 1) / 1000))
  end
  local sum_a, sum_b = 0, 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local field = fields[i]
    if tonumber(string.sub(field, 2)) <= bucket - buckets then
      redis.call('HDEL', key, field)
    elseif string.sub(field, 1, 1) == 'a' then
      sum_a = sum_a + tonumber(fields[i + 1])
    else
      sum_b = sum_b + tonumber(fields[i + 1])
    end
  end
  return sum_a, sum_b
end
"
    };
}

mod batches;
pub mod breaker;
pub mod retry;

pub use batches::DEFAULT_BATCH;
pub(crate) use batches::{BATCHED_KEYS, parse_batch};

use arc_swap::ArcSwapOption;
use fred::clients::Client;
use fred::interfaces::{EventInterface, PubsubInterface};
use fred::prelude::{ClientLike, Config, FromValue, LuaInterface, ReconnectPolicy};
use fred::types::{ConnectHandle, Message};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tracing::Level;

/// The GCRA of [`RateLimiter`](crate::RateLimiter) on the server, in microseconds of the server's
/// clock (a Lua number holds them exactly for the next 250 years; nanoseconds since 1970 it would
/// round). KEYS[1] holds the theoretical arrival time; ARGV: the interval, the window (`burst`
/// intervals), the longest wait, and how many consecutive turns to take (a lease: the first must
/// come within the wait, each next one an interval later). Returns `{1, wait, reserved, first}`
/// for turns taken (the first now, or after `wait` microseconds; the key then holds `reserved`;
/// `first` is the first turn's time from now, negative while the burst has room, each next turn
/// an interval after it), `{0, wait, 0, 0}` for a refusal. The key expires when the burst is back
/// to full.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local turns = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next = tat + interval * turns
local first = tat + interval - window - now
local wait = first
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, wait, 0, 0} end
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.floor((next - now) / 1000) + 1)
return {1, wait, next, first}
";

/// A Lua script, run by its SHA-1 once known, else by its text, which caches it on the server
/// again (after a restart the server has forgotten it).
pub(crate) struct Script {
    text: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    pub(crate) const fn new(text: &'static str) -> Self {
        Self {
            text,
            sha: OnceLock::new(),
        }
    }

    async fn run<R: FromValue>(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, SharedError> {
        let failed = |e: fred::error::Error| SharedError(e.to_string());
        if let Some(sha) = self.sha.get() {
            match client
                .evalsha(sha.as_str(), keys.clone(), args.clone())
                .await
            {
                Err(e) if e.details().starts_with("NOSCRIPT") => {}
                reply => return reply.map_err(failed),
            }
        }
        let reply = client.eval(self.text, keys, args).await.map_err(failed)?;
        if self.sha.get().is_none() {
            // Cached by the EVAL just made: this only learns its SHA-1.
            let sha: String = client.script_load(self.text).await.map_err(failed)?;
            let _ = self.sha.set(sha);
        }
        Ok(reply)
    }
}

static GCRA_SCRIPT: Script = Script::new(GCRA);

/// Gives back the turn that set KEYS[1] to ARGV[1] (microseconds), if no call reserved one since:
/// the key goes back by one interval (ARGV[2]). Returns 1 if it did.
const GIVE_BACK: &str = r"
local held = redis.call('GET', KEYS[1])
if held ~= ARGV[1] then return 0 end
local earlier = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', earlier), 'KEEPTTL')
return 1
";

/// A Redis server shared by every replica, and the prefix of the keys the policies keep there.
pub struct Redis {
    url: String,
    prefix: String,
    timeout: Duration,
    client: Client,
    /// The task that drives the connection (and reconnects), spawned on the runtime of the
    /// first command; spawned again if it ended (that runtime shut down).
    driver: Mutex<Option<ConnectHandle>>,
    /// A second connection, which listens for the transitions breakers publish, and its task.
    subscriber: OnceLock<Client>,
    subscriber_driver: Mutex<Option<ConnectHandle>>,
    degraded: AtomicBool,
}

/// Why the shared backend could not decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedError(String);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SharedError {}

impl From<fred::error::Error> for SharedError {
    fn from(error: fred::error::Error) -> Self {
        SharedError(error.to_string())
    }
}

/// What the server decided for one call, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SharedTurn {
    /// Through now, or after `wait`; `reserved` is the server's TAT this call set, to give back
    /// if it is cancelled while it waits; `first` the first turn's time from the server's now
    /// (negative while the burst has room), for the turns of a lease after it.
    Granted {
        wait: u64,
        reserved: u64,
        first: i64,
    },
    /// Refused: its turn would come in `wait`.
    Refused { wait: u64 },
}

impl Redis {
    /// A backend at `url` (`redis://host:port/db`), its keys under `prefix`. Nothing is sent
    /// until a policy first uses it; a bad URL is an error now.
    pub fn new(url: &str, prefix: &str) -> Result<Self, SharedError> {
        let config = Config::from_url(url)
            .map_err(|e| SharedError(format!("`{url}` is not a Redis URL: {e}")))?;
        let client = fred::types::Builder::from_config(config)
            // Reconnect for ever, every 100 ms: a command meanwhile waits at most `timeout`.
            .set_policy(ReconnectPolicy::new_constant(0, 100))
            .build()
            .map_err(|e| SharedError(format!("cannot use `{url}`: {e}")))?;
        Ok(Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            timeout: Duration::from_millis(100),
            client,
            driver: Mutex::new(None),
            subscriber: OnceLock::new(),
            subscriber_driver: Mutex::new(None),
            degraded: AtomicBool::new(false),
        })
    }

    /// The longest a caller waits for the server before the local policy decides (default
    /// 100 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the last command failed, so that the policies decide locally.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// The key of `policy`'s state of `kind`.
    pub(crate) fn key(&self, kind: &str, policy: &str) -> String {
        format!("{}{kind}:{policy}", self.prefix)
    }

    /// Starts the connection's task on this runtime, unless it runs already.
    fn drive(&self) {
        drive(&self.client, &self.driver);
    }

    /// Subscribes to `channel` (again: after a reconnection the server has forgotten it) and
    /// returns the messages of every channel subscribed to, within the timeout.
    pub(crate) async fn listen(
        &self,
        channel: &str,
    ) -> Result<tokio::sync::broadcast::Receiver<Message>, SharedError> {
        let subscriber = self.subscriber.get_or_init(|| self.client.clone_new());
        drive(subscriber, &self.subscriber_driver);
        let messages = subscriber.message_rx();
        self.within_timeout(subscriber.subscribe(channel)).await?;
        Ok(messages)
    }

    /// `command`'s answer, or an error if it fails or has none within the timeout.
    async fn within_timeout<T, E: Into<SharedError>>(
        &self,
        command: impl Future<Output = Result<T, E>>,
    ) -> Result<T, SharedError> {
        match tokio::time::timeout(self.timeout, command).await {
            Ok(answer) => answer.map_err(Into::into),
            Err(_) => Err(self.no_answer()),
        }
    }

    fn no_answer(&self) -> SharedError {
        SharedError(format!(
            "no answer from {} within {:?}",
            self.url, self.timeout
        ))
    }

    /// One GCRA decision on the server for the rate limiter `policy`, within the timeout.
    pub(crate) async fn rate_limit(
        &self,
        policy: &str,
        interval: u64,
        window: u64,
        max_wait: u64,
        turns: u32,
    ) -> Result<SharedTurn, SharedError> {
        let key = self.key("rate_limit", policy);
        // The window rounded down, as the interval is rounded up: never more than the rate.
        let args = [
            shared_interval(interval) / 1_000,
            window / 1_000,
            max_wait / 1_000,
            u64::from(turns),
        ];
        let args = args.iter().map(u64::to_string).collect();
        self.drive();
        let decide = async {
            let (granted, wait, reserved, first): (i64, i64, i64, i64) =
                GCRA_SCRIPT.run(&self.client, vec![key], args).await?;
            let wait = u64::try_from(wait).unwrap_or(0).saturating_mul(1_000);
            let reserved = u64::try_from(reserved).unwrap_or(0);
            let first = first.saturating_mul(1_000);
            Ok(match granted {
                1 => SharedTurn::Granted {
                    wait,
                    reserved,
                    first,
                },
                _ => SharedTurn::Refused { wait },
            })
        };
        let outcome = match tokio::time::timeout(self.timeout, decide).await {
            Ok(outcome) => outcome,
            Err(_) => Err(self.no_answer()),
        };
        self.note(policy, &outcome);
        outcome
    }

    /// Gives back, in the background, the turn a cancelled waiter of the rate limiter `policy`
    /// reserved on the server (microseconds), if no call reserved one since. Without a runtime to
    /// run on, or with no answer within the timeout, the turn stays taken: the rate is kept.
    pub(crate) fn give_back_turn(self: &Arc<Self>, policy: &str, reserved: u64, interval: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (backend, key) = (Arc::clone(self), self.key("rate_limit", policy));
        let args = vec![reserved, interval.div_ceil(1_000)];
        runtime.spawn(async move {
            let give_back = backend.client.eval::<i64, _, _, _>(GIVE_BACK, key, args);
            let _ = tokio::time::timeout(backend.timeout, give_back).await;
        });
    }

    /// Emits `shared.degraded` when the server stops answering and `shared.restored` when it
    /// answers again.
    pub(crate) fn note<T>(&self, policy: &str, outcome: &Result<T, SharedError>) {
        let failed = outcome.is_err();
        if self.degraded.swap(failed, Ordering::Relaxed) == failed {
            return;
        }
        match outcome {
            Err(error) => tracing::event!(
                name: "shared.degraded",
                target: "resilient",
                Level::WARN,
                policy,
                backend = %self.url,
                error = %error,
                "the shared backend {} failed ({error}): `{policy}` decides locally until it answers again",
                self.url
            ),
            Ok(_) => tracing::event!(
                name: "shared.restored",
                target: "resilient",
                Level::INFO,
                policy,
                backend = %self.url,
                "the shared backend {} answers again: `{policy}` decides with it",
                self.url
            ),
        }
    }
}

/// What a policy does while its shared backend fails (times out, cannot be reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnFailure {
    /// Its local state decides, as if it were not shared (the default): each replica keeps the
    /// policy on its own.
    #[default]
    Local,
    /// Every call goes through. A circuit breaker takes this as [`Local`](Self::Local): its own
    /// judgement still protects the replica.
    Open,
    /// Every call is refused: a circuit breaker is held open.
    Closed,
}

impl OnFailure {
    fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "local" => Ok(OnFailure::Local),
            "open" => Ok(OnFailure::Open),
            "closed" => Ok(OnFailure::Closed),
            other => Err(format!("`{other}` is not one of `local`, `open`, `closed`")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            OnFailure::Local => "local",
            OnFailure::Open => "open",
            OnFailure::Closed => "closed",
        }
    }
}

/// The interval the server counts in, in nanoseconds: `interval` rounded up to a microsecond.
pub(crate) fn shared_interval(interval: u64) -> u64 {
    interval.div_ceil(1_000).saturating_mul(1_000)
}

/// Turns a rate limiter took from the server at once and hands out locally, each at its time.
#[derive(Debug)]
pub(crate) struct Lease {
    /// When the server's answer came: the turns' times count from it (a little after the server
    /// counted them, so never early).
    pub(crate) base: tokio::time::Instant,
    /// The next turn's time from `base`, in nanoseconds; negative while the burst had room.
    pub(crate) offset: i64,
    pub(crate) interval: Duration,
    /// How long past its time a turn may still be used: the burst's window. Later, the lease is
    /// dropped, so that an idle replica does not hoard turns.
    pub(crate) horizon: Duration,
    pub(crate) remaining: u32,
}

impl Lease {
    /// The next turn, for a call at `now` that may wait up to `max_wait`: its instant, or none
    /// (the lease is spent, stale, or its next turn too far ahead).
    pub(crate) fn take(
        slot: &mut Option<Lease>,
        now: tokio::time::Instant,
        max_wait: Duration,
    ) -> Option<tokio::time::Instant> {
        let lease = slot.as_mut()?;
        let at = lease.base + Duration::from_nanos(u64::try_from(lease.offset).unwrap_or(0));
        if lease.remaining == 0 || now > at + lease.horizon {
            *slot = None;
            return None;
        }
        if at > now + max_wait {
            return None;
        }
        let interval = i64::try_from(lease.interval.as_nanos()).unwrap_or(i64::MAX);
        lease.offset = lease.offset.saturating_add(interval);
        lease.remaining -= 1;
        Some(at)
    }
}

/// A policy's link to a shared backend: the one its code gave, or the one its configuration
/// names (`redis_url`, `redis_prefix`), which wins; and what to do when it fails.
pub(crate) struct Sharing {
    /// Whether any backend is set: spares unshared calls the load of `from_code` and `from_config`.
    is_on: AtomicBool,
    from_code: ArcSwapOption<Redis>,
    from_config: ArcSwapOption<Redis>,
    on_failure: AtomicU8,
    /// `on_failure` as the code set it, under the configuration's.
    code_on_failure: AtomicU8,
    /// Turns taken from the server at once (1: no lease), and as the code set it.
    lease: AtomicU32,
    code_lease: AtomicU32,
}

/// The keys of a shared rate limiter in the registry.
pub(crate) const LIMITER_KEYS: [&str; 4] = [
    "redis_url",
    "redis_prefix",
    "on_redis_failure",
    "redis_lease",
];

/// The key prefix when the configuration names none.
const DEFAULT_PREFIX: &str = "resilient:";

impl Sharing {
    pub(crate) const fn new() -> Self {
        Self {
            is_on: AtomicBool::new(false),
            from_code: ArcSwapOption::const_empty(),
            from_config: ArcSwapOption::const_empty(),
            on_failure: AtomicU8::new(OnFailure::Local as u8),
            code_on_failure: AtomicU8::new(OnFailure::Local as u8),
            lease: AtomicU32::new(1),
            code_lease: AtomicU32::new(1),
        }
    }

    /// How many turns to take from the server at once.
    pub(crate) fn lease(&self) -> u32 {
        self.lease.load(Ordering::Relaxed)
    }

    /// What the code gives: turns to take at once (at least 1), under the configuration's.
    pub(crate) fn set_lease_from_code(&self, turns: u32) {
        let turns = turns.max(1);
        self.code_lease.store(turns, Ordering::Relaxed);
        self.lease.store(turns, Ordering::Relaxed);
    }

    /// Whether a backend is set: one load, for paths that must stay cheap when none is.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.is_on.load(Ordering::Relaxed)
    }

    /// The backend in force, if any.
    #[inline]
    pub(crate) fn backend(&self) -> Option<Arc<Redis>> {
        if !self.is_on.load(Ordering::Acquire) {
            return None;
        }
        self.from_config
            .load_full()
            .or_else(|| self.from_code.load_full())
    }

    pub(crate) fn on_failure(&self) -> OnFailure {
        match self.on_failure.load(Ordering::Relaxed) {
            1 => OnFailure::Open,
            2 => OnFailure::Closed,
            _ => OnFailure::Local,
        }
    }

    /// What the code gives: a backend and what to do when it fails.
    pub(crate) fn set_from_code(&self, backend: Arc<Redis>, on_failure: OnFailure) {
        self.from_code.store(Some(backend));
        self.code_on_failure
            .store(on_failure as u8, Ordering::Relaxed);
        if self.from_config.load().is_none() {
            self.on_failure.store(on_failure as u8, Ordering::Relaxed);
        }
        self.is_on.store(true, Ordering::Release);
    }

    /// Puts in force what `values` (the registry's, weakest first) say of the shared keys; the
    /// code's backend where they name none. A backend of the same URL and prefix is kept, with
    /// its connection.
    pub(crate) fn apply(&self, values: &[(&str, &str)]) -> Result<(), crate::policy::Refused> {
        let value = |key: &str| {
            values
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
        };
        let on_failure = match value("on_redis_failure") {
            Some(v) => OnFailure::parse(v)
                .map_err(|reason| crate::policy::Refused::new("on_redis_failure", reason))?,
            None => match self.code_on_failure.load(Ordering::Relaxed) {
                1 => OnFailure::Open,
                2 => OnFailure::Closed,
                _ => OnFailure::Local,
            },
        };
        let lease = match value("redis_lease") {
            Some(v) => match crate::policy::parse_count(v)
                .map_err(|reason| crate::policy::Refused::new("redis_lease", reason))?
            {
                0 => {
                    return Err(crate::policy::Refused::new(
                        "redis_lease",
                        "`redis_lease` must be at least 1 (1: no lease)",
                    ));
                }
                n => n,
            },
            None => self.code_lease.load(Ordering::Relaxed),
        };
        let prefix = value("redis_prefix").unwrap_or(DEFAULT_PREFIX);
        let backend = match value("redis_url") {
            Some(url) => {
                let current = self.from_config.load_full();
                match current {
                    Some(current) if current.url == url && current.prefix == prefix => {
                        Some(current)
                    }
                    _ => Some(Arc::new(Redis::new(url, prefix).map_err(|e| {
                        crate::policy::Refused::new("redis_url", e.to_string())
                    })?)),
                }
            }
            None if value("redis_prefix").is_some() => {
                return Err(crate::policy::Refused::new(
                    "redis_prefix",
                    "a prefix needs `redis_url`, the server it is on",
                ));
            }
            None => None,
        };
        self.from_config.store(backend);
        self.on_failure.store(on_failure as u8, Ordering::Relaxed);
        self.lease.store(lease, Ordering::Relaxed);
        let on = self.from_config.load().is_some() || self.from_code.load().is_some();
        self.is_on.store(on, Ordering::Release);
        Ok(())
    }

    /// The shared keys in force, for [`registry::policies`](crate::registry::policies).
    pub(crate) fn config(&self) -> Vec<(&'static str, String)> {
        match self.backend() {
            Some(backend) => vec![
                ("redis_url", backend.url.clone()),
                ("redis_prefix", backend.prefix.clone()),
                ("on_redis_failure", self.on_failure().as_str().to_owned()),
            ],
            None => Vec::new(),
        }
    }
}

/// A policy's values from the registry, key and value.
pub(crate) type Values<'a> = Vec<(&'a str, &'a str)>;

/// `values` split into those of the shared keys `keys` and the others.
pub(crate) fn split<'a>(values: &[(&'a str, &'a str)], keys: &[&str]) -> (Values<'a>, Values<'a>) {
    values.iter().partition(|(key, _)| keys.contains(key))
}

/// Whether `value` has the form the shared key `key` takes.
pub(crate) fn check_form(key: &str, value: &str) -> Result<(), String> {
    match key {
        "on_redis_failure" => OnFailure::parse(value).map(drop),
        "redis_lease" => crate::policy::parse_count(value).map(drop),
        "redis_batch" => parse_batch(value).map(drop),
        "redis_url" => Redis::new(value, DEFAULT_PREFIX)
            .map(drop)
            .map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

impl Drop for Redis {
    /// Stops the connection's task, which would otherwise reconnect for ever.
    fn drop(&mut self) {
        let driver = self
            .driver
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = driver.take() {
            task.abort();
        }
        let subscriber = (self.subscriber_driver)
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = subscriber.take() {
            task.abort();
        }
    }
}

/// Starts the task of `client`'s connection on this runtime, unless it runs already.
fn drive(client: &Client, driver: &Mutex<Option<ConnectHandle>>) {
    let mut driver = driver.lock().unwrap_or_else(PoisonError::into_inner);
    if driver.as_ref().is_none_or(|task| task.is_finished()) {
        *driver = Some(client.connect());
    }
}

/// A panic cannot leave a backend half-changed where a policy would see it: its client's state
/// sits behind locks, and what the policies keep of it (the degraded flag) is one atomic. So a
/// policy given one stays usable across `catch_unwind`, as it is without one.
impl std::panic::RefUnwindSafe for Redis {}
impl std::panic::UnwindSafe for Redis {}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}
