//! Rollback scopes: work inside a scope registers how to undo itself, and the scope undoes it all,
//! newest first, if the work fails, panics or is cancelled.
//!
//! `#[atomic]` opens a scope around a function; [`scope`] and [`scope_blocking`] do the same
//! without the macro. Inside, [`on_rollback`] and [`on_rollback_async`] register compensations:
//!
//! ```
//! use resilient::atomic;
//! use std::sync::{Arc, Mutex};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let result: Result<(), &str> = atomic::scope(async {
//!     log.lock().unwrap().push("created user");
//!     let undo = log.clone();
//!     atomic::on_rollback(move || undo.lock().unwrap().push("deleted user"));
//!     Err("sending the welcome mail failed")
//! })
//! .await;
//! assert!(result.is_err());
//! assert_eq!(*log.lock().unwrap(), ["created user", "deleted user"]);
//! # }
//! ```
//!
//! - On `Ok` the compensations are dropped (committed), or, in a nested scope, handed to the
//!   enclosing scope: a nested scope is a savepoint, whose failure undoes only its own work.
//! - On `Err` they run in reverse order, then the error is returned unchanged.
//! - On a panic they run, then the panic goes on.
//! - If the scope's future is dropped before it finishes (cancelled), blocking compensations run
//!   at once and async ones are spawned on the current tokio runtime (an ERROR event says so where
//!   there is none).
//! - A compensation that panics is reported at ERROR; the others still run.
//! - Registering outside any scope does nothing and is reported at WARN.
//!
//! The scope lives in the future (or, for a blocking scope, on the stack), not in a thread-local
//! of the task: it follows the work across `.await` and across threads, and only code polled
//! inside it registers in it.

#[cfg(feature = "sqlite")]
pub mod sql;

use crate::rejected::{Origin, clear_mark, set_mark, take_mark};
use pin_project::{pin_project, pinned_drop};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use tracing::Level;

type AsyncCompensation = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One way to undo one piece of work.
enum Compensation {
    Blocking(Box<dyn FnOnce() + Send>),
    Async(Box<dyn FnOnce() -> AsyncCompensation + Send>),
}

/// Work to do when the outermost scope commits (say, release a database savepoint).
type CommitHook = Box<dyn FnOnce() -> AsyncCompensation + Send>;

/// What one scope registered, oldest first.
#[derive(Default)]
struct Journal {
    compensations: RefCell<Vec<Compensation>>,
    commit_hooks: RefCell<Vec<CommitHook>>,
}

thread_local! {
    /// The journal of the scope being polled (or run) on this thread, if any.
    static CURRENT: Cell<*const Journal> = const { Cell::new(std::ptr::null()) };
}

/// Makes `journal` the current one while `f` runs, then puts back the previous one (also when
/// `f` panics).
fn with_current<R>(journal: &Journal, f: impl FnOnce() -> R) -> R {
    crate::scoped::with(&CURRENT, journal, f)
}

fn register(compensation: Compensation) {
    if let Some(journal) = current_journal() {
        journal.compensations.borrow_mut().push(compensation);
    }
}

/// The journal of the scope being polled on this thread, or `None` after reporting it at WARN.
fn current_journal<'a>() -> Option<&'a Journal> {
    let current = CURRENT.get();
    if current.is_null() {
        tracing::event!(
            name: "atomic.outside_scope",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            "a compensation was registered outside any atomic scope: it will never run"
        );
        return None;
    }
    // SAFETY: `CURRENT` points at a journal only while `with_current` runs, and the journal
    // outlives that call; whatever registers runs inside it, on this thread, and keeps no reference.
    Some(unsafe { &*current })
}

/// Registers `commit` to run, awaited, when the outermost enclosing scope commits; it is dropped
/// if a scope around it rolls back. Hooks run newest first. In a blocking outermost scope they are
/// spawned on the current tokio runtime.
pub fn on_commit_async<F, Fut>(commit: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if let Some(journal) = current_journal() {
        journal
            .commit_hooks
            .borrow_mut()
            .push(Box::new(move || Box::pin(commit())));
    }
}

/// Registers `undo` to run if the current scope rolls back.
pub fn on_rollback(undo: impl FnOnce() + Send + 'static) {
    register(Compensation::Blocking(Box::new(undo)));
}

/// Whether code running here is inside an atomic scope (its registrations would be kept).
pub fn in_scope() -> bool {
    !CURRENT.get().is_null()
}

/// Captures `state` now and registers putting it back if the current scope rolls back.
///
/// For shared state behind a lock: the value is cloned under the lock now and written back under
/// the lock at rollback, so a rollback also discards what other tasks changed in between. Take
/// snapshots of state that the scope's work owns for its duration (hold a higher-level lock, or
/// make the scope the only writer).
///
/// ```
/// use resilient::atomic;
/// use std::sync::{Arc, Mutex};
///
/// let limits = Arc::new(Mutex::new(vec![10, 20]));
/// let result: Result<(), &str> = atomic::scope_blocking(|| {
///     atomic::snapshot(&limits);
///     limits.lock().unwrap().push(30);
///     Err("validation failed")
/// });
/// assert!(result.is_err());
/// assert_eq!(*limits.lock().unwrap(), [10, 20]);
/// ```
pub fn snapshot<S, H>(state: &H)
where
    S: Snapshot + ?Sized,
    H: std::ops::Deref<Target = S> + Clone + Send + 'static,
{
    let saved = state.save();
    let state = state.clone();
    on_rollback(move || state.restore(saved));
}

/// State that [`snapshot`] can save and put back: a `Clone` value behind a lock, reached through
/// a shared handle (`Arc<Mutex<T>>`, `&'static RwLock<T>`, ...).
pub trait Snapshot {
    /// What is saved.
    type Saved: Send + 'static;
    /// Saves the current value.
    fn save(&self) -> Self::Saved;
    /// Puts a saved value back.
    fn restore(&self, saved: Self::Saved);
}

/// A poisoned lock still holds the value: a rollback restores it all the same.
impl<T: Clone + Send + 'static> Snapshot for std::sync::Mutex<T> {
    type Saved = T;
    fn save(&self) -> T {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    fn restore(&self, saved: T) {
        *self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = saved;
    }
}

impl<T: Clone + Send + Sync + 'static> Snapshot for std::sync::RwLock<T> {
    type Saved = T;
    fn save(&self) -> T {
        self.read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
    fn restore(&self, saved: T) {
        *self
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = saved;
    }
}

/// Registers an async `undo` to run (awaited, in order) if the current scope rolls back.
pub fn on_rollback_async<F, Fut>(undo: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    register(Compensation::Async(Box::new(move || Box::pin(undo()))));
}

impl Journal {
    /// Failure: the compensations to run; the commit hooks will never run.
    fn take(&self) -> Vec<Compensation> {
        self.commit_hooks.borrow_mut().clear();
        std::mem::take(&mut *self.compensations.borrow_mut())
    }

    /// Success: the work stays. A savepoint hands its compensations and commit hooks to the
    /// enclosing scope; the outermost scope drops the compensations and returns the hooks to run,
    /// newest first.
    fn commit(&self) -> Vec<CommitHook> {
        let compensations = std::mem::take(&mut *self.compensations.borrow_mut());
        let hooks = std::mem::take(&mut *self.commit_hooks.borrow_mut());
        let parent = CURRENT.get();
        if parent.is_null() {
            return hooks.into_iter().rev().collect();
        }
        // SAFETY: as in `current_journal`: the enclosing scope is being polled on this thread.
        let parent = unsafe { &*parent };
        parent.compensations.borrow_mut().extend(compensations);
        parent.commit_hooks.borrow_mut().extend(hooks);
        Vec::new()
    }
}

/// Where async compensations cannot be awaited (a blocking scope, a panic, a cancellation): runs
/// the blocking ones newest first and returns the async ones, newest first, to spawn.
fn roll_back_blocking(
    compensations: Vec<Compensation>,
    why: &'static str,
) -> Vec<AsyncCompensation> {
    rolling_back(compensations.len(), why);
    let mut pending = Vec::new();
    for compensation in compensations.into_iter().rev() {
        match compensation {
            Compensation::Blocking(undo) => {
                if catch_unwind(AssertUnwindSafe(undo)).is_err() {
                    compensation_panicked();
                }
            }
            Compensation::Async(undo) => match catch_unwind(AssertUnwindSafe(undo)) {
                Ok(future) => pending.push(future),
                Err(_) => compensation_panicked(),
            },
        }
    }
    pending
}

fn rolling_back(count: usize, why: &'static str) {
    if count > 0 {
        tracing::event!(
            name: "atomic.rolled_back",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            compensations = count,
            reason = why,
            "an atomic scope is rolling back ({why}): {count} compensation(s)"
        );
    }
}

fn compensation_panicked() {
    tracing::event!(
        name: "atomic.compensation_failed",
        target: "resilient",
        Level::ERROR,
        correlation_id = crate::correlation::field(),
        "a compensation or commit hook panicked; the others still run"
    );
}

/// Spawns commit hooks that cannot be awaited (in a blocking scope, or cancelled while committing).
fn spawn_commit(hooks: Vec<CommitHook>) {
    let pending: Vec<AsyncCompensation> = hooks
        .into_iter()
        .filter_map(|hook| {
            catch_unwind(AssertUnwindSafe(hook))
                .map_err(|_| compensation_panicked())
                .ok()
        })
        .collect();
    spawn_remaining(pending);
}

/// Spawns async compensations or commit hooks that cannot be awaited (a blocking scope, a panic,
/// a cancellation), to run one after the other.
fn spawn_remaining(pending: Vec<AsyncCompensation>) {
    if pending.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for undo in pending {
                    if AssertUnwindSafeFuture(undo).await.is_err() {
                        compensation_panicked();
                    }
                }
            });
        }
        Err(_) => tracing::event!(
            name: "atomic.rollback_incomplete",
            target: "resilient",
            Level::ERROR,
            correlation_id = crate::correlation::field(),
            critical = true,
            compensations = pending.len(),
            "{} async compensation(s) could not run: no tokio runtime to spawn them on",
            pending.len()
        ),
    }
}

/// Polls a compensation, turning a panic into `Err` so the next one still runs.
struct AssertUnwindSafeFuture(AsyncCompensation);

impl Future for AssertUnwindSafeFuture {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Runs `fut` in a rollback scope.
pub fn scope<F, T, E>(fut: F) -> Scope<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    generated(fut, false)
}

/// The scope `#[atomic]` writes around a body or another layer (`layer_inside`).
pub(crate) fn generated<F, T, E>(fut: F, layer_inside: bool) -> Scope<F, T, E> {
    Scope {
        journal: Journal::default(),
        generated_inner: layer_inside,
        state: State::Running,
        fut,
    }
}

/// The future of [`scope`].
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct Scope<F, T, E> {
    journal: Journal,
    generated_inner: bool,
    state: State<T, E>,
    #[pin]
    fut: F,
}

enum State<T, E> {
    Running,
    /// Awaiting commit hooks, newest first, before returning the value.
    Committing {
        value: Option<T>,
        hooks: std::vec::IntoIter<CommitHook>,
        current: Option<AsyncCompensation>,
    },
    /// Awaiting async compensations, newest first, before returning the error (and its mark).
    RollingBack {
        error: Option<E>,
        mark: Option<crate::RejectedKind>,
        pending: std::iter::Rev<std::vec::IntoIter<Compensation>>,
        current: Option<AsyncCompensation>,
    },
    Done,
}

impl<F, T, E> Future for Scope<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut this = self.project();
        if let State::Running = this.state {
            let inner = (!*this.generated_inner).then(|| Origin::of(this.fut.as_ref().get_ref()));
            let fut = this.fut.as_mut();
            let polled = with_current(this.journal, || {
                clear_mark();
                catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
            });
            let result = match polled {
                Err(panic) => {
                    *this.state = State::Done;
                    spawn_remaining(roll_back_blocking(this.journal.take(), "panic"));
                    resume_unwind(panic);
                }
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(result)) => result,
            };
            match result {
                Ok(value) => {
                    let hooks = this.journal.commit();
                    if hooks.is_empty() {
                        *this.state = State::Done;
                        return Poll::Ready(Ok(value));
                    }
                    *this.state = State::Committing {
                        value: Some(value),
                        hooks: hooks.into_iter(),
                        current: None,
                    };
                }
                Err(error) => {
                    let mark = take_mark(inner);
                    let compensations = this.journal.take();
                    rolling_back(compensations.len(), "error");
                    let pending = compensations.into_iter().rev();
                    *this.state = State::RollingBack {
                        error: Some(error),
                        mark,
                        pending,
                        current: None,
                    };
                }
            }
        }
        if let State::Committing {
            value,
            hooks,
            current,
        } = this.state
        {
            loop {
                let hook = match current {
                    Some(hook) => hook,
                    None => match hooks
                        .next()
                        .map(|hook| catch_unwind(AssertUnwindSafe(hook)))
                    {
                        Some(Ok(future)) => current.insert(future),
                        Some(Err(_)) => {
                            compensation_panicked();
                            continue;
                        }
                        None => break,
                    },
                };
                match catch_unwind(AssertUnwindSafe(|| hook.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(())) => {}
                    Err(_) => compensation_panicked(),
                }
                *current = None;
            }
            let value = value.take();
            *this.state = State::Done;
            return match value {
                Some(value) => Poll::Ready(Ok(value)),
                None => panic!("`atomic::Scope` polled after it completed"),
            };
        }
        let State::RollingBack {
            error,
            mark,
            pending,
            current,
        } = this.state
        else {
            panic!("`atomic::Scope` polled after it completed");
        };
        // Newest first, each finished before the next starts, async ones awaited here.
        loop {
            let undo = match current {
                Some(undo) => undo,
                None => match pending.next() {
                    Some(Compensation::Blocking(undo)) => {
                        if catch_unwind(AssertUnwindSafe(undo)).is_err() {
                            compensation_panicked();
                        }
                        continue;
                    }
                    Some(Compensation::Async(undo)) => match catch_unwind(AssertUnwindSafe(undo)) {
                        Ok(future) => current.insert(future),
                        Err(_) => {
                            compensation_panicked();
                            continue;
                        }
                    },
                    None => break,
                },
            };
            match catch_unwind(AssertUnwindSafe(|| undo.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(())) => {}
                Err(_) => compensation_panicked(),
            }
            *current = None;
        }
        let (error, mark) = (error.take(), *mark);
        *this.state = State::Done;
        // The error goes out now: a rejection from the layer inside stays marked as one.
        set_mark(mark, me);
        match error {
            Some(error) => Poll::Ready(Err(error)),
            None => panic!("`atomic::Scope` polled after it completed"),
        }
    }
}

#[pinned_drop]
impl<F, T, E> PinnedDrop for Scope<F, T, E> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if let State::Committing { hooks, current, .. } = this.state {
            // Cancelled while committing: the work is done; finish committing in the background.
            spawn_remaining(current.take().into_iter().collect());
            spawn_commit(hooks.collect());
            return;
        }
        let cancelled = matches!(this.state, State::Running | State::RollingBack { .. });
        if !cancelled {
            return;
        }
        let mut pending = roll_back_blocking(this.journal.take(), "cancelled");
        if let State::RollingBack {
            pending: rest,
            current,
            ..
        } = this.state
        {
            // Cancelled while rolling back: finish what is left the same way, in order.
            pending.extend(current.take());
            let rest: Vec<Compensation> = rest.rev().collect();
            pending.extend(roll_back_blocking(rest, "cancelled"));
        }
        spawn_remaining(pending);
    }
}

/// Runs the blocking `body` in a rollback scope. Async compensations registered in it are spawned
/// on the current tokio runtime when it rolls back.
///
/// `body` is your code: an error it returns is its own, even one it made from a rejection of a
/// layer it called, so a layer around the scope judges it by its `when` (a layer cannot see
/// through a closure; the attributes compose exactly).
pub fn scope_blocking<T, E>(body: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    blocking_scope(body, Some(Origin::USER_CODE))
}

/// [`scope_blocking`], taking the marks `body` leaves when `inner` says whose they are (`None`: a
/// layer the attributes wrote, or the body they wrapped).
pub(crate) fn blocking_scope<T, E>(
    body: impl FnOnce() -> Result<T, E>,
    inner: Option<Origin>,
) -> Result<T, E> {
    let journal = Journal::default();
    let result = with_current(&journal, || catch_unwind(AssertUnwindSafe(body)));
    match result {
        Ok(Ok(value)) => {
            spawn_commit(journal.commit());
            Ok(value)
        }
        Ok(Err(error)) => {
            let mark = take_mark(inner);
            spawn_remaining(roll_back_blocking(journal.take(), "error"));
            set_mark(mark, Origin::BLOCKING);
            Err(error)
        }
        Err(panic) => {
            spawn_remaining(roll_back_blocking(journal.take(), "panic"));
            resume_unwind(panic)
        }
    }
}
