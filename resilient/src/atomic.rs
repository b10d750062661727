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
//! - On a panic they run as on a cancellation, then the panic goes on (a nested scope's with those
//!   of the scope around it, first, if the panic reaches that one too).
//! - If the scope's future is dropped before it finishes (cancelled), its compensations still run
//!   newest first: the newest blocking ones at once, the rest, from the newest async one on, in
//!   order on a task spawned on the current tokio runtime, with the correlation id of the scope.
//!   Where no runtime can run that task (there is none, or it is shutting down), they run on a
//!   thread of their own, which the dropping code waits for; an ERROR event says so only where even
//!   that thread cannot be started. Scopes nested in a cancelled one undo their work first.
//! - A compensation that panics is reported at ERROR; the others still run.
//! - Registering outside any scope does nothing and is reported at WARN.
//!
//! The scope lives in the future (or, for a blocking scope, on the stack), not in a thread-local
//! of the task: it follows the work across `.await` and across threads, and only code polled
//! inside it registers in it.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;

use crate::correlation::CorrelationId;
use crate::rejected::{Origin, clear_mark, set_mark, take_mark};
use pin_project::{pin_project, pinned_drop};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tracing::Level;

type AsyncCompensation = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts an async compensation or commit hook.
type AsyncStart = Box<dyn FnOnce() -> AsyncCompensation + Send>;

/// One way to undo one piece of work (or, handed to [`Remaining`], one commit hook).
enum Compensation {
    Blocking(Box<dyn FnOnce() + Send>),
    Async(AsyncStart),
    /// An async compensation already under way: a nested scope was cancelled while awaiting it.
    Started(AsyncCompensation),
}

/// What one scope registered, oldest first.
#[derive(Default)]
struct Journal {
    compensations: RefCell<Vec<Compensation>>,
    commit_hooks: RefCell<Vec<AsyncStart>>,
    /// Set while a cancelled scope drops its work: scopes nested in it hand it what they must undo.
    cancelling: Cell<bool>,
    /// What scopes nested in this one have to undo after a panic went through them: undone first
    /// if the panic goes through this one too, at once if code in between caught it.
    unwound: RefCell<Vec<Remaining>>,
    /// Values every scope nested in this (outermost) one shares, by key (see [`outermost_value`]).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    shared: RefCell<Vec<(u64, Box<dyn std::any::Any + Send>)>>,
}

scoped_tls::scoped_thread_local! {
    /// The journal of the scope being polled (or run) on this thread, if any.
    static CURRENT: Journal
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
scoped_tls::scoped_thread_local! {
    /// The journal of the outermost scope around the one being polled on this thread.
    static OUTERMOST: Journal
}

/// Makes `journal` the current one while `f` runs, then puts back the previous one (also when
/// `f` panics).
fn with_current<R>(journal: &Journal, f: impl FnOnce() -> R) -> R {
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    if !CURRENT.is_set() {
        return OUTERMOST.set(journal, || CURRENT.set(journal, f));
    }
    CURRENT.set(journal, f)
}

/// Runs `f` on the journal of the scope being polled on this thread; outside any, reports it at
/// WARN instead.
fn with_journal(f: impl FnOnce(&Journal)) {
    if CURRENT.is_set() {
        CURRENT.with(f);
    } else {
        tracing::event!(
            name: "atomic.outside_scope",
            target: "resilient",
            Level::WARN,
            correlation_id = crate::correlation::field(),
            "a compensation was registered outside any atomic scope: it will never run"
        );
    }
}

fn register(compensation: Compensation) {
    with_journal(|journal| journal.compensations.borrow_mut().push(compensation));
}

/// Registers `commit` to run, awaited, when the outermost enclosing scope commits; it is dropped
/// if a scope around it rolls back. Hooks run newest first. In a blocking outermost scope they are
/// spawned on the current tokio runtime.
pub fn on_commit_async<F, Fut>(commit: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_journal(|journal| {
        journal
            .commit_hooks
            .borrow_mut()
            .push(Box::new(move || Box::pin(commit())));
    });
}

/// The value the outermost scope around this code keeps under `key`, made by `make` on first use:
/// what all the scopes nested in it share (`atomic::sql` keeps its connection there). `None`
/// outside any scope.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn outermost_value<V>(key: u64, make: impl FnOnce() -> V) -> Option<V>
where
    V: Clone + Send + 'static,
{
    if !OUTERMOST.is_set() {
        return None;
    }
    Some(OUTERMOST.with(|journal| {
        let mut shared = journal.shared.borrow_mut();
        let kept = shared
            .iter()
            .find(|(kept, _)| *kept == key)
            .and_then(|(_, value)| value.downcast_ref::<V>());
        if let Some(value) = kept {
            return value.clone();
        }
        let value = make();
        shared.push((key, Box::new(value.clone())));
        value
    }))
}

/// Registers `undo` and `commit` in the outermost scope around this code, not the current one: they
/// run when it rolls back or commits, after all that was registered later.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn on_outermost_end<U, UFut, C, CFut>(undo: U, commit: C)
where
    U: FnOnce() -> UFut + Send + 'static,
    UFut: Future<Output = ()> + Send + 'static,
    C: FnOnce() -> CFut + Send + 'static,
    CFut: Future<Output = ()> + Send + 'static,
{
    if OUTERMOST.is_set() {
        OUTERMOST.with(|journal| {
            journal
                .compensations
                .borrow_mut()
                .push(Compensation::Async(Box::new(move || Box::pin(undo()))));
            journal
                .commit_hooks
                .borrow_mut()
                .push(Box::new(move || Box::pin(commit())));
        });
    }
}

/// Registers `undo` to run if the current scope rolls back.
pub fn on_rollback(undo: impl FnOnce() + Send + 'static) {
    register(Compensation::Blocking(Box::new(undo)));
}

/// Whether code running here is inside an atomic scope (its registrations would be kept).
pub fn in_scope() -> bool {
    CURRENT.is_set()
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
    /// Failure: the compensations to run, newest first (those of nested scopes a panic went
    /// through before this scope's own); the commit hooks will never run.
    fn take(&self) -> Vec<Compensation> {
        self.commit_hooks.borrow_mut().clear();
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        self.shared.borrow_mut().clear();
        let mut compensations = std::mem::take(&mut *self.compensations.borrow_mut());
        compensations.reverse();
        let unwound = std::mem::take(&mut *self.unwound.borrow_mut());
        if unwound.is_empty() {
            return compensations;
        }
        let mut all: Vec<Compensation> = unwound
            .into_iter()
            .rev()
            .flat_map(Remaining::into_newest_first)
            .collect();
        all.extend(compensations);
        all
    }

    /// The work goes on after code in it caught a panic that went through nested scopes: they
    /// roll back now.
    fn finish_unwound(&self) {
        if self.unwound.borrow().is_empty() {
            return;
        }
        let unwound = std::mem::take(&mut *self.unwound.borrow_mut());
        unwound.into_iter().for_each(finish_elsewhere);
    }

    /// Success: the work stays. A savepoint hands its compensations and commit hooks to the
    /// enclosing scope; the outermost scope drops the compensations and returns the hooks to run,
    /// newest first.
    fn commit(&self) -> Vec<Compensation> {
        let compensations = std::mem::take(&mut *self.compensations.borrow_mut());
        let hooks = std::mem::take(&mut *self.commit_hooks.borrow_mut());
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        self.shared.borrow_mut().clear();
        if !CURRENT.is_set() {
            return hooks.into_iter().rev().map(Compensation::Async).collect();
        }
        CURRENT.with(|parent| {
            parent.compensations.borrow_mut().extend(compensations);
            parent.commit_hooks.borrow_mut().extend(hooks);
        });
        Vec::new()
    }
}

/// Compensations (or commit hooks) left to run, newest first, each finished before the next
/// starts, with the correlation id of the scope they come from.
///
/// Dropped unfinished (the runtime running it shut down), it runs what is left on a thread of its
/// own: a rollback is never just forgotten.
struct Remaining {
    running: Option<AsyncCompensation>,
    rest: std::vec::IntoIter<Compensation>,
    correlation_id: Option<CorrelationId>,
}

impl Remaining {
    fn new(newest_first: Vec<Compensation>) -> Self {
        Self {
            running: None,
            rest: newest_first.into_iter(),
            correlation_id: crate::correlation::current(),
        }
    }

    fn len(&self) -> usize {
        self.rest.len() + usize::from(self.running.is_some())
    }

    /// Moves the work out, leaving nothing to run here.
    fn take(&mut self) -> Self {
        Self {
            running: self.running.take(),
            rest: std::mem::take(&mut self.rest),
            correlation_id: self.correlation_id,
        }
    }

    /// Moves the work out as a list, newest first.
    fn into_newest_first(mut self) -> Vec<Compensation> {
        let running = self.running.take().map(Compensation::Started);
        running
            .into_iter()
            .chain(std::mem::take(&mut self.rest))
            .collect()
    }

    /// Hands what is left to `journal`, as newer than all it holds: it runs first when that
    /// scope rolls back.
    fn hand_to(self, journal: &Journal) {
        let newest_first = self.into_newest_first();
        journal
            .compensations
            .borrow_mut()
            .extend(newest_first.into_iter().rev());
    }

    /// Runs the blocking compensations up to the first async one: all that can be done here
    /// without awaiting, keeping the order.
    fn run_blocking_prefix(&mut self) {
        while self.running.is_none()
            && matches!(
                self.rest.as_slice().first(),
                Some(Compensation::Blocking(_))
            )
        {
            if let Some(Compensation::Blocking(undo)) = self.rest.next() {
                run_blocking(undo);
            }
        }
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let running = match &mut self.running {
                Some(running) => running,
                None => match self.rest.next() {
                    None => return Poll::Ready(()),
                    Some(Compensation::Blocking(undo)) => {
                        run_blocking(undo);
                        continue;
                    }
                    Some(Compensation::Started(started)) => self.running.insert(started),
                    Some(Compensation::Async(start)) => match catch_unwind(AssertUnwindSafe(start))
                    {
                        Ok(started) => self.running.insert(started),
                        Err(_) => {
                            compensation_panicked();
                            continue;
                        }
                    },
                },
            };
            match catch_unwind(AssertUnwindSafe(|| running.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(())) => {}
                Err(_) => compensation_panicked(),
            }
            self.running = None;
        }
    }
}

impl Future for Remaining {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.correlation_id {
            Some(id) => crate::correlation::scope_blocking(id, || this.poll_run(cx)),
            None => this.poll_run(cx),
        }
    }
}

impl Drop for Remaining {
    fn drop(&mut self) {
        if self.len() > 0 {
            run_on_own_thread(self.take());
        }
    }
}

/// A panic goes through a scope: what it has to undo runs with the work of the scope around it, if
/// any (see [`Journal::unwound`]), or else at once.
fn roll_back_on_panic(journal: &Journal) {
    let compensations = journal.take();
    rolling_back(compensations.len(), "panic");
    let left = Remaining::new(compensations);
    if CURRENT.is_set() {
        CURRENT.with(|parent| parent.unwound.borrow_mut().push(left));
    } else {
        finish_elsewhere(left);
    }
}

fn run_blocking(undo: Box<dyn FnOnce() + Send>) {
    if catch_unwind(AssertUnwindSafe(undo)).is_err() {
        compensation_panicked();
    }
}

/// Finishes a rollback (or commit) that cannot be awaited here (a blocking scope, a panic, a
/// cancellation): the blocking compensations up to the first async one run now, the rest in
/// order on a task of the current runtime, or on a thread of their own where there is none.
fn finish_elsewhere(mut remaining: Remaining) {
    remaining.run_blocking_prefix();
    if remaining.len() == 0 {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        // A runtime shutting down drops the task at once, and so hands it to a thread.
        Ok(runtime) => drop(runtime.spawn(remaining)),
        Err(_) => run_on_own_thread(remaining),
    }
}

/// Runs `remaining` on a new thread with a runtime of its own, and waits for it: whoever drops
/// the last runtime may be about to exit the process.
fn run_on_own_thread(mut remaining: Remaining) {
    let count = remaining.len();
    let (send, receive) = std::sync::mpsc::channel::<Remaining>();
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            std::thread::Builder::new()
                .name("resilient-rollback".into())
                .spawn(move || {
                    if let Ok(remaining) = receive.recv() {
                        runtime.block_on(remaining);
                    }
                })
        });
    let error = match started {
        Ok(thread) => match send.send(remaining.take()) {
            Ok(()) => {
                // Compensations catch their own panics: the thread ends normally.
                let _ = thread.join();
                return;
            }
            Err(std::sync::mpsc::SendError(mut unsent)) => {
                unsent.abandon();
                std::io::Error::other("the rollback thread ended before it was given its work")
            }
        },
        Err(error) => error,
    };
    remaining.abandon();
    tracing::event!(
        name: "atomic.rollback_incomplete",
        target: "resilient",
        Level::ERROR,
        correlation_id = remaining.correlation_id.map(tracing::field::display),
        critical = true,
        compensations = count,
        error = %error,
        "{count} compensation(s) or commit hook(s) could not run: no runtime, and no thread to run them on ({error})"
    );
}

impl Remaining {
    /// Drops the work without running it, once it is reported as lost.
    fn abandon(&mut self) {
        self.running = None;
        self.rest = std::vec::IntoIter::default();
    }
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

/// Runs `fut` in a rollback scope.
pub fn scope<F, T, E>(fut: F) -> Scope<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    Scope {
        journal: Journal::default(),
        state: State::Running,
        fut: Some(fut),
    }
}

/// The future of [`scope`].
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct Scope<F, T, E> {
    journal: Journal,
    state: State<T, E>,
    /// `None` once dropped by a cancellation, which drops it first, inside the scope.
    #[pin]
    fut: Option<F>,
}

enum State<T, E> {
    Running,
    /// Awaiting commit hooks, newest first, before returning the value.
    Committing {
        value: T,
        hooks: Remaining,
    },
    /// Awaiting compensations, newest first, before returning the error (and its mark).
    RollingBack {
        error: E,
        mark: Option<crate::RejectedKind>,
        compensations: Remaining,
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
            let Some(fut) = this.fut.as_mut().as_pin_mut() else {
                panic!("`atomic::Scope` polled after it was cancelled");
            };
            let inner = Some(Origin::of(fut.as_ref().get_ref()));
            let polled = with_current(this.journal, || {
                clear_mark();
                catch_unwind(AssertUnwindSafe(|| fut.poll(cx)))
            });
            let result = match polled {
                Err(panic) => {
                    *this.state = State::Done;
                    roll_back_on_panic(this.journal);
                    resume_unwind(panic);
                }
                Ok(Poll::Pending) => {
                    this.journal.finish_unwound();
                    return Poll::Pending;
                }
                Ok(Poll::Ready(result)) => result,
            };
            *this.state = match result {
                Ok(value) => {
                    this.journal.finish_unwound();
                    let hooks = this.journal.commit();
                    if hooks.is_empty() {
                        *this.state = State::Done;
                        return Poll::Ready(Ok(value));
                    }
                    State::Committing {
                        value,
                        hooks: Remaining::new(hooks),
                    }
                }
                Err(error) => {
                    let mark = take_mark(inner);
                    let compensations = this.journal.take();
                    rolling_back(compensations.len(), "error");
                    State::RollingBack {
                        error,
                        mark,
                        compensations: Remaining::new(compensations),
                    }
                }
            };
        }
        if let State::Committing { hooks: left, .. }
        | State::RollingBack {
            compensations: left,
            ..
        } = this.state
        {
            ready!(Pin::new(left).poll(cx));
        }
        match std::mem::replace(this.state, State::Done) {
            State::Committing { value, .. } => Poll::Ready(Ok(value)),
            State::RollingBack { error, mark, .. } => {
                // The error goes out now: a rejection from the layer inside stays marked as one.
                set_mark(mark, me);
                Poll::Ready(Err(error))
            }
            State::Running | State::Done => panic!("`atomic::Scope` polled after it completed"),
        }
    }
}

#[pinned_drop]
impl<F, T, E> PinnedDrop for Scope<F, T, E> {
    fn drop(self: Pin<&mut Self>) {
        let mut this = self.project();
        let left = match std::mem::replace(this.state, State::Done) {
            State::Running => {
                // The work goes first, inside this scope: scopes nested in it hand this one what
                // they must undo, which is newer than all this one holds.
                this.journal.cancelling.set(true);
                let mut fut = this.fut.as_mut();
                with_current(this.journal, || fut.set(None));
                let compensations = this.journal.take();
                rolling_back(compensations.len(), "cancelled");
                Remaining::new(compensations)
            }
            // Cancelled while committing or rolling back: the rest still runs, in order.
            State::Committing { hooks: left, .. }
            | State::RollingBack {
                compensations: left,
                ..
            } => left,
            State::Done => return,
        };
        if CURRENT.is_set() && CURRENT.with(|parent| parent.cancelling.get()) {
            CURRENT.with(|parent| left.hand_to(parent));
        } else {
            finish_elsewhere(left);
        }
    }
}

/// Runs the blocking `body` in a rollback scope. Async compensations registered in it are spawned
/// on the current tokio runtime when it rolls back (or run on a thread of their own where there
/// is none), after the blocking ones newer than them.
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
            journal.finish_unwound();
            finish_elsewhere(Remaining::new(journal.commit()));
            Ok(value)
        }
        Ok(Err(error)) => {
            let mark = take_mark(inner);
            let compensations = journal.take();
            rolling_back(compensations.len(), "error");
            finish_elsewhere(Remaining::new(compensations));
            set_mark(mark, Origin::BLOCKING);
            Err(error)
        }
        Err(panic) => {
            roll_back_on_panic(&journal);
            resume_unwind(panic)
        }
    }
}
