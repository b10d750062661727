//! A counter that threads add to without sharing a cache line or a locked instruction, so counting
//! every success does not make threads that share a policy contend (one shared `fetch_add` per call
//! costs 4–5× once two threads share it; even uncontended, a locked add costs ~10 ns).
//!
//! Every live thread owns one stripe index, the same in every counter: only its owner writes a
//! stripe, so it adds with a plain load and store. A thread gives its index back when it exits, and
//! a new thread takes the lowest free one, so indices stay as few as the threads alive at once. The
//! first [`INLINE`] stripes are in the counter; beyond them it grows segments of stripes, each
//! twice the size of the one before, allocated the first time a thread with such an index adds.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Stripes in the counter itself: enough for most processes' threads.
const INLINE: usize = 16;
/// Segments after the inline stripes: `INLINE << s` slots in segment `s`, so 28 of them cover
/// every `u32` index.
const SEGMENTS: usize = 28;

/// Slots at fixed addresses for any `u32` index: [`INLINE`] in place, then segments allocated on
/// first use and never moved, so a slot's reference stays valid as the set grows.
struct Slots<T: Zeroed> {
    inline: [T; INLINE],
    /// Reading a set segment is one acquire load, as a published pointer would be.
    segments: [OnceLock<Box<[T]>>; SEGMENTS],
}

/// A slot's empty value, for building slots in a `const` context and in new segments.
trait Zeroed: Sized {
    const ZERO: Self;
}

impl<T: Zeroed> Slots<T> {
    const fn new() -> Self {
        Self {
            inline: [const { T::ZERO }; INLINE],
            segments: [const { OnceLock::new() }; SEGMENTS],
        }
    }

    #[inline]
    fn get(&self, index: u32) -> &T {
        match self.inline.get(index as usize) {
            Some(slot) => slot,
            None => self.in_segment(index),
        }
    }

    fn in_segment(&self, index: u32) -> &T {
        let (segment, offset) = segment_of(index);
        let slots = self.segments[segment].get_or_init(|| grow(segment));
        &slots[offset]
    }

    /// Every slot allocated so far.
    fn iter(&self) -> impl Iterator<Item = &T> {
        let segments = self.segments.iter().filter_map(OnceLock::get).flatten();
        self.inline.iter().chain(segments)
    }
}

/// A new segment `segment`: `INLINE << segment` empty slots.
#[cold]
fn grow<T: Zeroed>(segment: usize) -> Box<[T]> {
    (0..INLINE << segment).map(|_| T::ZERO).collect()
}

/// The segment and the offset in it of an index past the inline slots.
#[inline]
const fn segment_of(index: u32) -> (usize, usize) {
    // Segment s starts INLINE · (2^s − 1) past the inline slots, so s = log2(past / INLINE + 1).
    let past = index as u64 - INLINE as u64;
    let segment = (past / INLINE as u64 + 1).ilog2() as usize;
    let start = INLINE as u64 * ((1 << segment) - 1);
    (segment, (past - start) as usize)
}

/// One counter per cache-line pair (adjacent-line prefetch pulls lines in twos).
#[repr(align(128))]
struct Stripe(AtomicU64);

impl Zeroed for Stripe {
    const ZERO: Self = Stripe(AtomicU64::new(0));
}

impl Zeroed for AtomicU64 {
    const ZERO: Self = AtomicU64::new(0);
}

pub(crate) struct StripedCounter {
    stripes: Slots<Stripe>,
    /// Adds made while a thread exits, after it gave its index back.
    exiting: AtomicU64,
}

impl StripedCounter {
    pub(crate) const fn new() -> Self {
        Self {
            stripes: Slots::new(),
            exiting: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn increment(&self) {
        match stripe_index() {
            Some(index) => {
                let stripe = &self.stripes.get(index).0;
                stripe.store(
                    stripe.load(Ordering::Relaxed).wrapping_add(1),
                    Ordering::Relaxed,
                );
            }
            None => {
                self.exiting.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        let stripes = self.stripes.iter().map(|s| s.0.load(Ordering::Relaxed));
        stripes.fold(self.exiting.load(Ordering::Relaxed), u64::wrapping_add)
    }
}

/// Stripe indices owned by a live thread, one bit each.
static TAKEN: Slots<AtomicU64> = Slots::new();

/// What `INDEX` holds besides a stripe index.
const UNCLAIMED: u32 = u32::MAX;
const GIVEN_BACK: u32 = u32::MAX - 1;
/// Indices a thread can own: every `u32` but the two markers, in whole bitmap words.
const MAX_WORDS: u32 = (GIVEN_BACK / 64) - 1;

thread_local! {
    static INDEX: Cell<u32> = const { Cell::new(UNCLAIMED) };
    static GIVE_BACK_ON_EXIT: GiveBack = const { GiveBack(Cell::new(UNCLAIMED)) };
}

/// This thread's stripe index: `None` only while the thread exits, after it gave its index back.
#[inline]
fn stripe_index() -> Option<u32> {
    match INDEX.get() {
        UNCLAIMED => claim_index(),
        GIVEN_BACK => None,
        index => Some(index),
    }
}

/// The stripe index of the calling thread, for tests: no two live threads share one.
#[cfg(test)]
pub(crate) fn stripe_of_this_thread() -> Option<u32> {
    stripe_index()
}

/// Takes the lowest free index.
#[cold]
fn claim_index() -> Option<u32> {
    let mut word_index = 0;
    loop {
        let word = TAKEN.get(word_index);
        let mut taken = word.load(Ordering::Relaxed);
        while taken != u64::MAX {
            let bit = (!taken).trailing_zeros();
            // Acquire: see every add the index's previous owner made before giving it back.
            match word.compare_exchange_weak(
                taken,
                taken | 1 << bit,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(owned(word_index * 64 + bit)),
                Err(current) => taken = current,
            }
        }
        word_index += 1;
        if word_index > MAX_WORDS {
            // Four billion threads alive at once: count on the exit stripe.
            INDEX.set(GIVEN_BACK);
            return None;
        }
    }
}

/// Records `index` as this thread's, to give back when it exits.
fn owned(index: u32) -> u32 {
    // A thread whose destructors already ran cannot give it back: it keeps none.
    if GIVE_BACK_ON_EXIT.try_with(|g| g.0.set(index)).is_err() {
        give_back(index);
        INDEX.set(GIVEN_BACK);
        return index;
    }
    INDEX.set(index);
    index
}

fn give_back(index: u32) {
    // Release: the next owner sees every add made here.
    TAKEN
        .get(index / 64)
        .fetch_and(!(1 << (index % 64)), Ordering::Release);
}

struct GiveBack(Cell<u32>);

impl Drop for GiveBack {
    fn drop(&mut self) {
        let index = self.0.get();
        if index != UNCLAIMED {
            // Adds made later in this thread's exit go to the counters' exit stripe.
            INDEX.set(GIVEN_BACK);
            give_back(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Barrier, Mutex, PoisonError};

    /// These tests count on a known number of threads; other tests' threads hold a few indices.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    const THREADS: usize = 40;

    #[test]
    fn sums_exactly_what_forty_threads_added() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let counter = StripedCounter::new();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| (0..10_000).for_each(|_| counter.increment()));
            }
        });
        assert_eq!(counter.sum(), THREADS as u64 * 10_000);
        assert_eq!(
            counter.exiting.load(Ordering::Relaxed),
            0,
            "no shared stripe"
        );
    }

    #[test]
    fn no_two_live_threads_share_a_stripe() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let all_alive = Barrier::new(THREADS);
        let indices: Vec<Option<u32>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        let index = stripe_of_this_thread();
                        // Every thread holds its index until all have one.
                        all_alive.wait();
                        index
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut owned: Vec<u32> = indices.iter().flatten().copied().collect();
        owned.sort_unstable();
        owned.dedup();
        assert_eq!(owned.len(), THREADS, "{indices:?}");
    }

    #[test]
    fn exited_threads_give_their_stripes_back() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let mut indices: Vec<u32> = (0..(3 * INLINE))
            .map(|_| {
                std::thread::scope(|s| s.spawn(stripe_of_this_thread).join().unwrap())
                    .expect("a live thread has a stripe")
            })
            .collect();
        indices.sort_unstable();
        indices.dedup();
        // One after the other, each takes the lowest free index: the same few, whatever indices
        // other tests' threads hold meanwhile.
        assert!(indices.len() < INLINE, "{indices:?}");
    }

    #[test]
    fn indices_map_to_distinct_slots_across_segments() {
        let slots: Slots<AtomicU64> = Slots::new();
        for index in 0..2000u32 {
            slots
                .get(index)
                .store(u64::from(index) + 1, Ordering::Relaxed);
        }
        let mut seen: Vec<u64> = slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&v| v != 0)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=2000).collect::<Vec<u64>>());
        assert_eq!(segment_of(16), (0, 0));
        assert_eq!(segment_of(31), (0, 15));
        assert_eq!(segment_of(32), (1, 0));
        assert_eq!(segment_of(u32::MAX).0, SEGMENTS - 1);
    }
}
