//! A counter that threads add to without sharing a cache line or a locked instruction, so counting
//! every success does not make threads that share a policy contend (one shared `fetch_add` per call
//! costs 4–5× once two threads share it; even uncontended, a locked add costs ~10 ns).
//!
//! The first [`STRIPES`] live threads each own one stripe, the same index in every counter: only
//! its owner writes a stripe, so it adds with a plain load and store. A thread gives its stripe
//! back when it exits. Threads beyond that share one more stripe, with atomic adds.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const STRIPES: usize = 16;

/// One counter per cache-line pair (adjacent-line prefetch pulls lines in twos).
#[repr(align(128))]
struct Stripe(AtomicU64);

pub(crate) struct StripedCounter {
    owned: [Stripe; STRIPES],
    shared: Stripe,
}

impl StripedCounter {
    pub(crate) const fn new() -> Self {
        Self {
            owned: [const { Stripe(AtomicU64::new(0)) }; STRIPES],
            shared: Stripe(AtomicU64::new(0)),
        }
    }

    #[inline]
    pub(crate) fn increment(&self) {
        match owned_stripe() {
            Some(index) => {
                let stripe = &self.owned[index].0;
                stripe.store(
                    stripe.load(Ordering::Relaxed).wrapping_add(1),
                    Ordering::Relaxed,
                );
            }
            None => {
                self.shared.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        let owned = self.owned.iter().map(|s| s.0.load(Ordering::Relaxed));
        owned.fold(self.shared.0.load(Ordering::Relaxed), u64::wrapping_add)
    }
}

/// Stripes owned by a live thread, one bit each.
static TAKEN: AtomicU32 = AtomicU32::new(0);

/// What `OWNED` holds besides a stripe index.
const UNCLAIMED: u8 = u8::MAX;
const NONE_FREE: u8 = u8::MAX - 1;

thread_local! {
    static OWNED: Cell<u8> = const { Cell::new(UNCLAIMED) };
    static GIVE_BACK_ON_EXIT: GiveBack = const { GiveBack(Cell::new(UNCLAIMED)) };
}

#[inline]
fn owned_stripe() -> Option<usize> {
    match OWNED.get() {
        index if usize::from(index) < STRIPES => Some(usize::from(index)),
        UNCLAIMED => claim_stripe(),
        _ => None,
    }
}

#[cold]
fn claim_stripe() -> Option<usize> {
    let mut taken = TAKEN.load(Ordering::Acquire);
    loop {
        let free = (!taken).trailing_zeros() as usize;
        if free >= STRIPES {
            OWNED.set(NONE_FREE);
            return None;
        }
        // Acquire: see every add the stripe's previous owner made before giving it back.
        match TAKEN.compare_exchange_weak(
            taken,
            taken | 1 << free,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // Registers the give-back; a thread whose destructors already ran keeps none.
                if GIVE_BACK_ON_EXIT.try_with(|g| g.0.set(free as u8)).is_err() {
                    TAKEN.fetch_and(!(1 << free), Ordering::Release);
                    OWNED.set(NONE_FREE);
                    return None;
                }
                OWNED.set(free as u8);
                return Some(free);
            }
            Err(current) => taken = current,
        }
    }
}

struct GiveBack(Cell<u8>);

impl Drop for GiveBack {
    fn drop(&mut self) {
        let index = self.0.get();
        if usize::from(index) < STRIPES {
            // Adds made later in this thread's exit go to the shared stripe.
            OWNED.set(NONE_FREE);
            TAKEN.fetch_and(!(1 << index), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// These tests take every stripe in turn; other tests' threads hold at most a few.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    #[test]
    fn sums_what_every_thread_added_even_past_the_owned_stripes() {
        let _serial = ONE_AT_A_TIME.lock().unwrap();
        let counter = StripedCounter::new();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES + 8) {
                s.spawn(|| (0..1000).for_each(|_| counter.increment()));
            }
        });
        assert_eq!(counter.sum(), (STRIPES as u64 + 8) * 1000);
    }

    #[test]
    fn exited_threads_give_their_stripes_back() {
        let _serial = ONE_AT_A_TIME.lock().unwrap();
        let counter = StripedCounter::new();
        for _ in 0..(3 * STRIPES) {
            std::thread::scope(|s| {
                s.spawn(|| counter.increment());
            });
        }
        assert_eq!(counter.sum(), 3 * STRIPES as u64);
        assert_eq!(
            counter.shared.0.load(Ordering::Relaxed),
            0,
            "each thread found a stripe given back"
        );
    }
}
