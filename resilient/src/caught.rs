//! Panics in user code (a health check, a supervised component) turned into values, so that the
//! code watching it reports the panic instead of unwinding with it.

use pin_project::pin_project;
use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a panic carried.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Polls a future, turning a panic into `Err` with its payload.
#[pin_project]
pub(crate) struct CatchUnwind<F>(#[pin] pub(crate) F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Payload>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().0;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// The message of a panic, when its payload is a `&str` or a `String` (what `panic!` makes).
pub(crate) fn message(payload: &(dyn Any + Send)) -> Option<&str> {
    (payload.downcast_ref::<&str>().copied())
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
