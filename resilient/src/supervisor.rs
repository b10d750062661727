//! [`Supervisor`]: keeps a long-lived component running (a connection loop, a worker), restarting
//! it with backoff when it fails or panics, and giving up when it fails too often.
//!
//! The second level of recovery: a call that fails is retried ([`retry()`](crate::retry())); a
//! component that dies is restarted. A supervisor allows `max_restarts` restarts within a sliding
//! window of `within`; one failure more and it gives up, with a [`GaveUp`] error and an ERROR
//! event, so that whatever supervises the process can take over.
//!
//! ```
//! use resilient::Backoff;
//! use resilient::supervisor::Supervisor;
//! use std::time::Duration;
//!
//! static LISTENER: Supervisor = Supervisor::new("listener")
//!     .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10)))
//!     .max_restarts(5)
//!     .within(Duration::from_secs(60));
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let mut connections = 0;
//! let result = LISTENER
//!     .run(|| {
//!         connections += 1;
//!         let n = connections;
//!         // A real listener would accept connections until told to stop.
//!         async move { if n < 3 { Err(format!("connection {n} reset")) } else { Ok(()) } }
//!     })
//!     .await;
//! assert_eq!(result, Ok(()));
//! assert_eq!(LISTENER.restarts(), 2);
//! # }
//! ```

use crate::Backoff;
use crate::caught::{self, CatchUnwind};
use crate::clock::Epoch;
use crate::config::{ConfigError, ConfigValue, check_nonzero, or_panic};
use std::collections::VecDeque;
use std::fmt::{self, Debug};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Level;

/// Restarts a component when it fails, within limits: at most
/// [`max_restarts`](Self::max_restarts) restarts within a sliding window of
/// [`within`](Self::within), each after a wait from its [`Backoff`].
///
/// # Restarts and their waits
///
/// When the component fails (its future returns `Err`, or creating or polling it panics), the
/// supervisor counts the restarts that began less than `within` ago. If there are already
/// `max_restarts`, it gives up. Otherwise it waits `backoff.delay(n)`, `n` being that count plus
/// one, and starts the component again.
///
/// So the backoff count is the number of recent restarts, not of all restarts: it falls back to
/// 1 once the component has run for `within` without failing (every earlier restart is then older
/// than the window), and a component that fails rarely is always restarted after the first,
/// shortest wait. Within a burst of failures the waits grow as usual.
///
/// A supervisor is a configuration plus counters ([`restarts`](Self::restarts),
/// [`last_failure`](Self::last_failure)), meant to be a `static`. Several runs may share it: each
/// run keeps its own window, and the counters add up over all of them.
pub struct Supervisor {
    name: &'static str,
    backoff: Backoff,
    max_restarts: u32,
    within: Duration,
    restarts: AtomicU64,
    /// An [`Epoch`] reading, 0 for never.
    last_failure: AtomicU64,
    epoch: Epoch,
}

impl Supervisor {
    /// A supervisor named `name` (in events and in [`GaveUp`]): at most 5 restarts within 60 s,
    /// with the default [`Backoff`] (exponential 1 s → 60 s, ±25 % jitter).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60)),
            max_restarts: 5,
            within: Duration::from_secs(60),
            restarts: AtomicU64::new(0),
            last_failure: AtomicU64::new(0),
            epoch: Epoch::new(),
        }
    }

    /// The waits before restarts.
    ///
    /// # Panics
    ///
    /// If `backoff` is invalid (see [`Backoff::validate`]); in a `static` or `const` that is a
    /// compile-time error:
    ///
    /// ```compile_fail,E0080
    /// use resilient::{Backoff, supervisor::Supervisor};
    /// use std::time::Duration;
    ///
    /// const BASE_ABOVE_MAX: Backoff = Backoff::linear(Duration::from_secs(5), Duration::from_secs(1));
    /// static NEVER: Supervisor = Supervisor::new("worker").backoff(BASE_ABOVE_MAX);
    /// ```
    ///
    /// A backoff known only at run time goes through [`try_backoff`](Self::try_backoff).
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        or_panic!(backoff.validate());
        self.backoff = backoff;
        self
    }

    /// [`backoff`](Self::backoff), or what is wrong with `backoff`.
    pub fn try_backoff(self, backoff: Backoff) -> Result<Self, ConfigError> {
        self.allowed(backoff.validate())?;
        Ok(self.backoff(backoff))
    }

    /// Restarts allowed within the window (default 5). With 0 the component is never restarted:
    /// its first failure gives up, with the `supervisor.gave_up` event, which is what a component
    /// that must not run twice wants.
    pub const fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = n;
        self
    }

    /// The sliding window restarts are counted in (default 60 s), longer than zero: a zero window
    /// would hold no restart, and the supervisor would never give up.
    ///
    /// # Panics
    ///
    /// If `window` is zero; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// use resilient::supervisor::Supervisor;
    ///
    /// static NEVER: Supervisor = Supervisor::new("worker").within(std::time::Duration::ZERO);
    /// ```
    ///
    /// A window known only at run time goes through [`try_within`](Self::try_within):
    ///
    /// ```
    /// # use resilient::supervisor::Supervisor;
    /// let err = Supervisor::new("worker").try_within(std::time::Duration::ZERO).unwrap_err();
    /// assert_eq!(err.to_string(), "policy `worker`: `within` must be longer than zero (got 0ns)");
    /// ```
    pub const fn within(mut self, window: Duration) -> Self {
        or_panic!(window_allowed(window));
        self.within = window;
        self
    }

    /// [`within`](Self::within), or what is wrong with `window`.
    pub fn try_within(self, window: Duration) -> Result<Self, ConfigError> {
        self.allowed(window_allowed(window))?;
        Ok(self.within(window))
    }

    /// A setting's check, the error naming this supervisor.
    fn allowed(&self, checked: Result<(), ConfigError>) -> Result<(), ConfigError> {
        checked.map_err(|err| err.for_policy(self.name))
    }

    /// Checks the settings; the error names the supervisor, the key, the value and the rule.
    /// The setters check as they go, so a supervisor they built is always valid.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        match self.check() {
            Ok(()) => Ok(()),
            Err(e) => Err(e.for_policy(self.name)),
        }
    }

    const fn check(&self) -> Result<(), ConfigError> {
        if let Err(err) = window_allowed(self.within) {
            return Err(err);
        }
        self.backoff.validate()
    }

    /// Restarts so far, over every run of this supervisor.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Relaxed)
    }

    /// When a supervised component last failed (returned an error or panicked), on tokio's clock.
    pub fn last_failure(&self) -> Option<Instant> {
        self.epoch.instant(self.last_failure.load(Relaxed))
    }

    /// Runs the component `component()` creates until it finishes with `Ok(())`, restarting it
    /// (calling `component` again) after each failure, as the [type](Self) describes.
    ///
    /// A failure is an `Err`, or a panic while creating or polling the component's future; the
    /// panic is caught and its message (a `&str` or `String` payload) becomes the failure's text.
    /// The process's panic hook still runs, so the panic is printed as usual; under
    /// `panic = "abort"` nothing can be caught. An error's text is its `Debug` form.
    ///
    /// Returns `Ok(())` when the component finishes, or [`GaveUp`] after one failure too many.
    /// Dropping the returned future drops the running component (and `component` itself).
    ///
    /// ```
    /// use resilient::Backoff;
    /// use resilient::supervisor::Supervisor;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let worker = Supervisor::new("worker")
    ///     .backoff(Backoff::constant(Duration::from_secs(1)))
    ///     .max_restarts(2)
    ///     .within(Duration::from_secs(60));
    /// let gave_up = worker.run(|| async { Err::<(), _>("queue unreachable") }).await.unwrap_err();
    /// assert_eq!(gave_up.restarts(), 2);
    /// assert_eq!(
    ///     gave_up.to_string(),
    ///     "supervisor `worker` gave up after 2 restart(s) (the limit is 2 within 60s); \
    ///      last failure: \"queue unreachable\""
    /// );
    /// # }
    /// ```
    pub async fn run<F, Fut, E>(&self, mut component: F) -> Result<(), GaveUp>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Debug,
    {
        let name = self.name;
        tracing::event!(
            name: "supervisor.started",
            target: "resilient",
            Level::DEBUG,
            correlation_id = crate::correlation::field(),
            policy = name,
            "supervisor `{name}` started its component"
        );
        // When each restart of this run began, oldest first; only those within the window.
        let mut recent: VecDeque<Instant> = VecDeque::new();
        let mut restarts: u32 = 0;
        loop {
            let outcome = match catch_unwind(AssertUnwindSafe(&mut component)) {
                Ok(fut) => CatchUnwind(fut).await,
                Err(payload) => Err(payload),
            };
            let failure = match outcome {
                Ok(Ok(())) => {
                    finished(name, restarts);
                    return Ok(());
                }
                Ok(Err(err)) => Failure {
                    text: format!("{err:?}"),
                    panicked: false,
                },
                Err(payload) => Failure {
                    text: caught::message(&*payload)
                        .unwrap_or("panic with a payload that is not a string")
                        .to_owned(),
                    panicked: true,
                },
            };
            self.last_failure.store(self.epoch.now(), Relaxed);
            let now = Instant::now();
            while recent
                .front()
                .is_some_and(|&began| now.saturating_duration_since(began) >= self.within)
            {
                recent.pop_front();
            }
            if recent.len() >= self.max_restarts as usize {
                return Err(self.give_up(restarts, failure));
            }
            let in_window = recent.len() as u32 + 1;
            let delay = self.backoff.delay(in_window);
            restarting(name, restarts.saturating_add(1), in_window, delay, &failure);
            tokio::time::sleep(delay).await;
            restarts = restarts.saturating_add(1);
            self.restarts.fetch_add(1, Relaxed);
            recent.push_back(Instant::now());
        }
    }

    fn give_up(&self, restarts: u32, failure: Failure) -> GaveUp {
        let name = self.name;
        let max_restarts = self.max_restarts;
        let window = self.within;
        tracing::event!(
            name: "supervisor.gave_up",
            target: "resilient",
            Level::ERROR,
            correlation_id = crate::correlation::field(),
            policy = name,
            restarts,
            max_restarts,
            window_ms = window.as_millis() as u64,
            reason = failure.reason(),
            error = %failure.text,
            "supervisor `{name}` gave up after {restarts} restart(s) (the limit is {max_restarts} \
             within {window:?}): {}",
            failure.text
        );
        GaveUp {
            policy: name,
            restarts,
            max_restarts,
            window,
            failure,
        }
    }
}

const fn window_allowed(window: Duration) -> Result<(), ConfigError> {
    check_nonzero!("within", window);
    Ok(())
}

impl Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.name)
            .field("backoff", &self.backoff)
            .field("max_restarts", &self.max_restarts)
            .field("within", &self.within)
            .field("restarts", &self.restarts())
            .field("last_failure", &self.last_failure())
            .finish()
    }
}

fn restarting(name: &str, restart: u32, in_window: u32, delay: Duration, failure: &Failure) {
    tracing::event!(
        name: "supervisor.restarting",
        target: "resilient",
        Level::WARN,
        correlation_id = crate::correlation::field(),
        policy = name,
        restart,
        in_window,
        delay_ms = delay.as_millis() as u64,
        reason = failure.reason(),
        error = %failure.text,
        "supervisor `{name}`: the component failed ({}); restart {restart} in {delay:?}",
        failure.text
    );
}

fn finished(name: &str, restarts: u32) {
    tracing::event!(
        name: "supervisor.finished",
        target: "resilient",
        Level::INFO,
        correlation_id = crate::correlation::field(),
        policy = name,
        restarts,
        "supervisor `{name}`: the component finished after {restarts} restart(s)"
    );
}

/// Why a component stopped: its error's `Debug` text or its panic's message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Failure {
    text: String,
    panicked: bool,
}

impl Failure {
    fn reason(&self) -> &'static str {
        if self.panicked { "panic" } else { "error" }
    }
}

/// A supervisor stopped restarting its component: it failed once more after
/// [`max_restarts`](Supervisor::max_restarts) restarts within the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaveUp {
    policy: &'static str,
    restarts: u32,
    max_restarts: u32,
    window: Duration,
    failure: Failure,
}

impl GaveUp {
    /// The supervisor's name.
    pub fn policy(&self) -> &'static str {
        self.policy
    }

    /// Restarts in the run that gave up, those older than the window included.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The supervisor's limit of restarts within [`window`](Self::window).
    pub fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    /// The supervisor's window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The last failure as text: the error's `Debug` form, or the panic's message.
    pub fn last_failure(&self) -> &str {
        &self.failure.text
    }

    /// Whether the last failure was a panic.
    pub fn panicked(&self) -> bool {
        self.failure.panicked
    }
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "supervisor `{}` gave up after {} restart(s) (the limit is {} within {:?}); \
             last failure: {}{}",
            self.policy,
            self.restarts,
            self.max_restarts,
            self.window,
            if self.failure.panicked { "panic: " } else { "" },
            self.failure.text
        )
    }
}

impl std::error::Error for GaveUp {}
