//! Correlation ids: one id per request, carried by every event the library emits and by every
//! [`Rejected`](crate::Rejected), so the log lines of one request can be found together.
//!
//! The id lives in the future ([`scope`]) or on the stack ([`scope_blocking`]), set on the thread
//! only while that work runs: it follows the request across `.await`, retries and threads, and
//! spawned work gets it by being given it (`tokio::spawn(scope(id, work))`). It is also current
//! while the work is dropped, so what a cancelled request undoes is reported with its id (and the
//! compensations an atomic scope leaves to a task of their own carry the id too).
//!
//! ```
//! use resilient::correlation::{self, CorrelationId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let id = CorrelationId::new();
//! correlation::scope(id, async move {
//!     assert_eq!(correlation::current(), Some(id));
//!     tokio::task::yield_now().await;
//!     assert_eq!(correlation::current(), Some(id)); // still there after an await
//! })
//! .await;
//! assert_eq!(correlation::current(), None);
//! # }
//! ```

use pin_project::{pin_project, pinned_drop};
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use uuid::Uuid;

/// The id of one request: a random UUID v4, shown hyphenated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(Uuid);

impl CorrelationId {
    /// A fresh random id (UUID v4).
    #[allow(clippy::new_without_default)] // a default id would be a fixed one, which is wrong
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// An id received from elsewhere (an `X-Request-Id` header, a message).
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The id as a UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorrelationId({self})")
    }
}

impl FromStr for CorrelationId {
    type Err = uuid::Error;

    /// Parses a UUID in any of its usual forms.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

thread_local! {
    static CURRENT: Cell<Option<CorrelationId>> = const { Cell::new(None) };
}

/// The id of the request being worked on, if any.
#[inline]
pub fn current() -> Option<CorrelationId> {
    CURRENT.get()
}

/// The current id as an event field: recorded only where there is one.
pub(crate) fn field() -> Option<tracing::field::DisplayValue<CorrelationId>> {
    current().map(tracing::field::display)
}

/// Makes `id` current while `f` runs, then puts back the previous one (also when `f` panics).
fn with_current<R>(id: CorrelationId, f: impl FnOnce() -> R) -> R {
    crate::scoped::with(&CURRENT, Some(id), f)
}

/// Runs `fut` with `id` as the current correlation id.
pub fn scope<F: Future>(id: CorrelationId, fut: F) -> Scoped<F> {
    Scoped { id, fut: Some(fut) }
}

/// Runs `fut` in the current correlation scope, or in a new one with a fresh id if there is none:
/// what a request handler calls, so that an id given by a caller is kept.
pub fn scope_or_new<F: Future>(fut: F) -> Scoped<F> {
    scope(current().unwrap_or_else(CorrelationId::new), fut)
}

/// Runs the blocking `f` with `id` as the current correlation id.
pub fn scope_blocking<R>(id: CorrelationId, f: impl FnOnce() -> R) -> R {
    with_current(id, f)
}

/// The future of [`scope`].
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    id: CorrelationId,
    /// `None` once finished: it is dropped then, or when the scope is, with the id current.
    #[pin]
    fut: Option<F>,
}

impl<F> Scoped<F> {
    /// The id this future runs with.
    pub fn id(&self) -> CorrelationId {
        self.id
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        with_current(*this.id, || {
            let Some(fut) = this.fut.as_mut().as_pin_mut() else {
                panic!("`correlation::Scoped` polled after it completed");
            };
            let output = fut.poll(cx);
            if output.is_ready() {
                this.fut.set(None);
            }
            output
        })
    }
}

#[pinned_drop]
impl<F> PinnedDrop for Scoped<F> {
    /// A cancelled request's work is dropped with its id current: what it undoes on drop is
    /// reported with the id.
    fn drop(self: Pin<&mut Self>) {
        let mut this = self.project();
        with_current(*this.id, || this.fut.set(None));
    }
}
