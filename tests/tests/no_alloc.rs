//! An annotated function whose body succeeds at once allocates nothing per call (DESIGN,
//! "Performance principles"): not the stacked async layers, not the blocking ones.
//!
//! The global allocator of `resilient/tests/support/alloc.rs` counts allocations per thread, so that the tests of this binary,
//! each on its own thread, only see their own. The async function is polled by hand with a no-op
//! waker: a timeout around a body that is ready at once sets no timer, so no runtime is needed,
//! and no runtime allocates behind the test's back. Each function runs once before counting, so
//! that one-time set-up (thread-locals, `tracing` callsites) is not counted.

use resilient::{Rejected, circuit_breaker, fallback, retry, timeout};
use std::hint::black_box;

#[path = "../../resilient/tests/support/alloc.rs"]
mod alloc;

#[derive(Debug, PartialEq)]
enum Error {
    Upstream,
    Rejected(Rejected),
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

#[retry(max_attempts = 3, backoff = constant("100ms"))]
#[circuit_breaker(failure_threshold = 3, recovery_timeout = "30s")]
#[timeout("5s")]
async fn stacked(id: u64) -> Result<u64, Error> {
    Ok(black_box(id))
}

#[fallback(|_err| Ok(0))]
#[retry(max_attempts = 3, backoff = none)]
#[circuit_breaker(failure_threshold = 3)]
fn stacked_blocking(id: u64) -> Result<u64, Error> {
    if black_box(id) == u64::MAX {
        return Err(Error::Upstream);
    }
    Ok(id)
}

#[test]
fn the_counter_sees_this_threads_allocations() {
    let n = alloc::allocations_after_warm_up(|| drop(black_box(Box::new(black_box(1u8)))));
    assert_eq!(n, 100);
}

#[test]
fn a_stacked_async_function_allocates_nothing_per_call() {
    let n = alloc::allocations_after_warm_up(|| {
        assert_eq!(alloc::poll_to_completion(stacked(black_box(7))), Ok(7));
    });
    assert_eq!(
        n, 0,
        "#[retry] #[circuit_breaker] #[timeout] async fn, success at once"
    );
}

#[test]
fn a_stacked_blocking_function_allocates_nothing_per_call() {
    let n = alloc::allocations_after_warm_up(|| {
        assert_eq!(stacked_blocking(black_box(7)), Ok(7));
    });
    assert_eq!(
        n, 0,
        "#[fallback] #[retry] #[circuit_breaker] fn, success at once"
    );
}
