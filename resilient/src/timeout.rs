//! [`timeout`]: give up on a call that takes too long.

use crate::Rejected;
use crate::rejected::{Origin, clear_mark, reject, set_mark, take_mark};
use pin_project::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tracing::Level;

/// Runs `fut`, giving up after `limit`: the future is then dropped (cancelled) and the call
/// returns `E::from(Rejected)` with [`RejectedKind::TimedOut`](crate::RejectedKind::TimedOut).
///
/// A future that is ready on its first poll costs no timer and no clock reading; the timer starts
/// on the first poll that finds it pending. Needs a tokio runtime with time enabled.
///
/// ```
/// use resilient::{Rejected, RejectedKind};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<_, Rejected>("late")
/// };
/// let err = resilient::timeout(Duration::from_secs(1), slow).await.unwrap_err();
/// assert_eq!(err.kind(), RejectedKind::TimedOut);
/// # }
/// ```
pub fn timeout<F, T, E>(limit: Duration, fut: F) -> Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    timeout_named("timeout", limit, fut)
}

/// [`timeout`] with a name for events and for the [`Rejected`] it returns.
pub fn timeout_named<F, T, E>(name: &'static str, limit: Duration, fut: F) -> Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    generated(name, limit, fut, false)
}

/// A timeout whose `fut` is the function's own future, or (`layer_inside`) a layer the attribute
/// macros wrote.
pub(crate) fn generated<F>(
    name: &'static str,
    limit: Duration,
    fut: F,
    layer_inside: bool,
) -> Timeout<F> {
    Timeout {
        name,
        limit,
        generated_inner: layer_inside,
        fut,
        timer: None,
    }
}

/// The future of [`timeout`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    name: &'static str,
    limit: Duration,
    /// Whether `fut` is a layer the attribute macros wrote (see `rejected::take_mark`).
    generated_inner: bool,
    #[pin]
    fut: F,
    #[pin]
    timer: Option<Sleep>,
}

impl<F, T, E> Future for Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut this = self.project();
        let inner = (!*this.generated_inner).then(|| Origin::of(this.fut.as_ref().get_ref()));
        clear_mark();
        if let Poll::Ready(result) = this.fut.poll(cx) {
            if result.is_err() {
                // A rejection from the layer inside goes on to the layer outside.
                set_mark(take_mark(inner), me);
            }
            return Poll::Ready(result);
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.limit)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => {
                let (name, limit) = (*this.name, *this.limit);
                tracing::event!(
                    name: "timeout.elapsed",
                    target: "resilient",
                    Level::WARN,
                    correlation_id = crate::correlation::field(),
                    policy = name,
                    timeout_ms = limit.as_millis() as u64,
                    "`{name}` timed out after {limit:?}"
                );
                Poll::Ready(Err(reject(Rejected::timed_out(name, limit), me)))
            }
            _ => Poll::Pending,
        }
    }
}
