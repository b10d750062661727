//! An annotated function whose body succeeds at once allocates nothing per call (DESIGN,
//! "Performance principles"): not the stacked async layers, not the blocking ones.
//!
//! The global allocator below counts allocations per thread, so that the tests of this binary,
//! each on its own thread, only see their own. The async function is polled by hand with a no-op
//! waker: a timeout around a body that is ready at once sets no timer, so no runtime is needed,
//! and no runtime allocates behind the test's back. Each function runs once before counting, so
//! that one-time set-up (thread-locals, `tracing` callsites) is not counted.

use resilient::{Rejected, circuit_breaker, fallback, retry, timeout};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// `System`, counting what this thread allocates.
struct PerThreadCount;

thread_local! {
    // Const-initialised, no destructor: safe to touch from inside the allocator.
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    let _ = ALLOCATED.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: each method hands its arguments unchanged to `System`; the counting only touches a
// thread-local `Cell`.
unsafe impl GlobalAlloc for PerThreadCount {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller keeps `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`; `ptr` was allocated here, hence by `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: PerThreadCount = PerThreadCount;

/// Allocations this thread made over `CALLS` calls of `f`, after one call to warm up.
fn allocations_per_call_after_warm_up(mut f: impl FnMut()) -> u64 {
    const CALLS: u64 = 100;
    f();
    let before = ALLOCATED.with(Cell::get);
    for _ in 0..CALLS {
        f();
    }
    ALLOCATED.with(Cell::get) - before
}

/// Polls `fut` once with a no-op waker; everything polled here is ready at once.
fn ready_now<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("expected the future to be ready on its first poll"),
    }
}

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
    let n = allocations_per_call_after_warm_up(|| drop(black_box(Box::new(black_box(1u8)))));
    assert_eq!(n, 100);
}

#[test]
fn a_stacked_async_function_allocates_nothing_per_call() {
    let n = allocations_per_call_after_warm_up(|| {
        assert_eq!(ready_now(stacked(black_box(7))), Ok(7));
    });
    assert_eq!(
        n, 0,
        "#[retry] #[circuit_breaker] #[timeout] async fn, success at once"
    );
}

#[test]
fn a_stacked_blocking_function_allocates_nothing_per_call() {
    let n = allocations_per_call_after_warm_up(|| {
        assert_eq!(stacked_blocking(black_box(7)), Ok(7));
    });
    assert_eq!(
        n, 0,
        "#[fallback] #[retry] #[circuit_breaker] fn, success at once"
    );
}
