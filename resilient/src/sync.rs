//! Atomics the breaker's state machine uses, swapped for loom's under `--cfg loom` so the model
//! test explores every interleaving of the real code.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, fence};

/// Lets another thread run while waiting for it to finish a short, non-blocking step.
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
