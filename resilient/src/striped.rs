//! A counter that threads add to without sharing a cache line, so counting every success does not
//! make threads that share a policy contend (one shared `fetch_add` per call costs 4–5× once two
//! threads share it).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const STRIPES: usize = 8;

/// One counter per cache-line pair (adjacent-line prefetch pulls lines in twos).
#[repr(align(128))]
struct Stripe(AtomicU64);

pub(crate) struct StripedCounter([Stripe; STRIPES]);

impl StripedCounter {
    pub(crate) const fn new() -> Self {
        Self([const { Stripe(AtomicU64::new(0)) }; STRIPES])
    }

    pub(crate) fn increment(&self) {
        self.0[stripe_of_this_thread()]
            .0
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Threads take stripes in turn, so the first `STRIPES` threads never share one.
fn stripe_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|stripe| {
        if stripe.get() == usize::MAX {
            stripe.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        stripe.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_what_every_thread_added() {
        let counter = StripedCounter::new();
        std::thread::scope(|s| {
            for _ in 0..12 {
                s.spawn(|| (0..1000).for_each(|_| counter.increment()));
            }
        });
        assert_eq!(counter.sum(), 12_000);
    }
}
