//! A counter that threads add to without sharing a cache line or a locked instruction, so counting
//! every success does not make threads that share a policy contend (one shared `fetch_add` per call
//! costs 4–5× once two threads share it; even uncontended, a locked add costs ~10 ns).
//!
//! The counts live in one table shared by every counter: a row per live thread, a column per
//! counter. Only a row's thread writes it, so it adds with a plain load and store, and a counter
//! itself is 16 bytes whatever the number of threads (a counter of its own per thread would cost
//! each policy kilobytes, in every annotated function). A thread owns a row index while it lives
//! and gives it back when it exits; a new thread takes the lowest free one, so rows stay as few as
//! the threads alive at once and a row's counts carry over to its next owner. A counter takes the
//! lowest free column on its first add and gives it back, zeroed, when it is dropped. Rows beyond
//! the first [`ROWS_INLINE`] and columns beyond the first [`COLUMNS_INLINE`] grow in segments, each
//! twice the size of the one before, allocated on first use and never moved.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Rows (threads alive at once) in place: enough for most processes.
const ROWS_INLINE: usize = 16;
/// Columns (counters in use) in place. Only an add to one of these is inlined into its caller;
/// any other goes through a call and a segment lookup, about 1.2 ns more. A policy has one or two
/// counters in use, so this covers some twenty to thirty annotated functions with the README
/// stack: with 16, six such functions already counted part of their calls out of line (in the
/// benchmark, where the stack's counters came 16th to 18th, it measured 12.3 ns instead of
/// 9.9 ns). A row of them is 512 bytes, in a static table of zeroed memory that only the rows of
/// live threads and the columns in use ever touch. (With 128 or 256, the closed breaker's
/// `call_sync` measured 2.17 ns instead of 1.89 ns, the same instructions but for the bound: code
/// layout, which this figure is at the mercy of.)
const COLUMNS_INLINE: usize = 64;
/// Words in place in the bitmaps of rows and columns taken: 1024 of each.
const BITMAP_INLINE: usize = 16;
/// Segments after the inline slots: `N << s` slots in segment `s`, so 28 of them cover every
/// `u32` index for any `N` of at least 16.
const SEGMENTS: usize = 28;

/// Slots at fixed addresses for any `u32` index: `N` in place, then segments allocated on first
/// use and never moved, so a slot's reference stays valid as the set grows.
struct Slots<T: Zeroed, const N: usize> {
    inline: [T; N],
    /// Reading a set segment is one acquire load, as a published pointer would be.
    segments: [OnceLock<Box<[T]>>; SEGMENTS],
}

/// A slot's empty value, for building slots in a `const` context and in new segments.
trait Zeroed: Sized {
    const ZERO: Self;
}

impl<T: Zeroed, const N: usize> Slots<T, N> {
    const fn new() -> Self {
        Self {
            inline: [const { T::ZERO }; N],
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
        let (segment, offset) = segment_of::<N>(index);
        let slots = self.segments[segment].get_or_init(|| grow::<T, N>(segment));
        &slots[offset]
    }

    /// The slot of `index` if it is allocated; a slot not allocated yet holds zero.
    fn allocated(&self, index: u32) -> Option<&T> {
        match self.inline.get(index as usize) {
            Some(slot) => Some(slot),
            None => {
                let (segment, offset) = segment_of::<N>(index);
                self.segments[segment].get().map(|slots| &slots[offset])
            }
        }
    }

    /// Every slot allocated so far.
    fn iter(&self) -> impl Iterator<Item = &T> {
        let segments = self.segments.iter().filter_map(OnceLock::get).flatten();
        self.inline.iter().chain(segments)
    }
}

/// A new segment `segment` of slots with `N` in place: `N << segment` empty slots.
#[cold]
fn grow<T: Zeroed, const N: usize>(segment: usize) -> Box<[T]> {
    (0..N << segment).map(|_| T::ZERO).collect()
}

/// The segment and the offset in it of an index past `N` inline slots.
#[inline]
const fn segment_of<const N: usize>(index: u32) -> (usize, usize) {
    // Segment s starts N · (2^s − 1) past the inline slots, so s = log2(past / N + 1).
    let past = index as u64 - N as u64;
    let segment = (past / N as u64 + 1).ilog2() as usize;
    let start = N as u64 * ((1 << segment) - 1);
    (segment, (past - start) as usize)
}

/// One thread's counts, a slot per column, on cache lines of its own (adjacent-line prefetch
/// pulls lines in twos).
#[repr(align(128))]
struct Row(Slots<AtomicU64, COLUMNS_INLINE>);

impl Zeroed for Row {
    const ZERO: Self = Row(Slots::new());
}

impl Zeroed for AtomicU64 {
    const ZERO: Self = AtomicU64::new(0);
}

/// Every row: the row of the thread with index `i` is `ROWS.get(i)`.
static ROWS: Slots<Row, ROWS_INLINE> = Slots::new();

pub(crate) struct StripedCounter {
    /// Its column; [`NO_COLUMN`] until the first add, [`SHARED`] if none was free. Both are past
    /// the inline columns, so an add checks a single bound to know it can go straight to a slot.
    column: AtomicU32,
    /// Adds made while a thread exits, after it gave its row back, or by a counter without a
    /// column.
    shared: AtomicU64,
}

const NO_COLUMN: u32 = u32::MAX - 1;
const SHARED: u32 = u32::MAX;

impl StripedCounter {
    pub(crate) const fn new() -> Self {
        Self {
            column: AtomicU32::new(NO_COLUMN),
            shared: AtomicU64::new(0),
        }
    }

    /// One add, on every call: an inline column of a thread that has its row takes one bound
    /// check and a plain load and store; everything else goes out of line.
    #[inline]
    pub(crate) fn increment(&self) {
        // Acquire: a column given back by a dropped counter was zeroed before; see the zeros.
        let column = self.column.load(Ordering::Acquire);
        match (ROW.get(), inline_slot(column)) {
            (Some(row), Some(slot)) => add_one(&row.0.inline[slot]),
            _ => self.increment_elsewhere(column),
        }
    }

    /// An add past the inline columns, by a thread without its row yet (or any more), or by a
    /// counter without a column yet (or at all).
    #[inline(never)]
    fn increment_elsewhere(&self, column: u32) {
        let column = match column {
            NO_COLUMN => self.take_column(),
            taken => column_of(taken),
        };
        match (this_threads_row(), column) {
            (Some(row), Some(column)) => add_one(row.0.get(column)),
            _ => {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        let shared = self.shared.load(Ordering::Relaxed);
        let Some(column) = column_of(self.column.load(Ordering::Acquire)) else {
            return shared;
        };
        ROWS.iter()
            .filter_map(|row| row.0.allocated(column))
            .map(|slot| slot.load(Ordering::Relaxed))
            .fold(shared, u64::wrapping_add)
    }

    /// Takes a column on the counter's first add.
    #[cold]
    fn take_column(&self) -> Option<u32> {
        let mine = take_lowest(&COLUMNS_TAKEN).unwrap_or(SHARED);
        match self
            .column
            .compare_exchange(NO_COLUMN, mine, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => column_of(mine),
            // Another thread's first add was first: keep its column, give ours back.
            Err(theirs) => {
                if let Some(column) = column_of(mine) {
                    give_back(&COLUMNS_TAKEN, column);
                }
                column_of(theirs)
            }
        }
    }
}

/// The column in a counter's `column` field, if it has one.
const fn column_of(field: u32) -> Option<u32> {
    match field {
        NO_COLUMN | SHARED => None,
        taken => Some(taken),
    }
}

/// `column` as an index of a row's inline slots, if it is one.
#[inline]
fn inline_slot(column: u32) -> Option<usize> {
    ((column as usize) < COLUMNS_INLINE).then_some(column as usize)
}

/// Adds one to a slot only this thread writes: no locked instruction.
#[inline]
fn add_one(slot: &AtomicU64) {
    slot.store(
        slot.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// The column goes back, zeroed in every row, for the next counter to start from nothing.
impl Drop for StripedCounter {
    fn drop(&mut self) {
        if let Some(column) = column_of(*self.column.get_mut()) {
            // Nothing adds to it any more: this counter is gone.
            for row in ROWS.iter() {
                if let Some(slot) = row.0.allocated(column) {
                    slot.store(0, Ordering::Relaxed);
                }
            }
            give_back(&COLUMNS_TAKEN, column);
        }
    }
}

/// Row indices owned by a live thread, and columns owned by a counter: one bit each.
static ROWS_TAKEN: Slots<AtomicU64, BITMAP_INLINE> = Slots::new();
static COLUMNS_TAKEN: Slots<AtomicU64, BITMAP_INLINE> = Slots::new();

/// What `INDEX` holds besides a row index.
const UNCLAIMED: u32 = u32::MAX;
const GIVEN_BACK: u32 = u32::MAX - 1;
/// Indices that can be taken: every `u32` but the two markers, in whole bitmap words.
const MAX_WORDS: u32 = (GIVEN_BACK / 64) - 1;

thread_local! {
    static INDEX: Cell<u32> = const { Cell::new(UNCLAIMED) };
    /// `ROWS.get(INDEX)` while the thread owns a row: the path of every add.
    static ROW: Cell<Option<&'static Row>> = const { Cell::new(None) };
    static GIVE_BACK_ON_EXIT: GiveBack = const { GiveBack(Cell::new(UNCLAIMED)) };
}

/// This thread's row: `None` only while the thread exits, after it gave its row back.
#[inline]
fn this_threads_row() -> Option<&'static Row> {
    ROW.get().or_else(claim_row)
}

/// The row index of the calling thread, for tests: no two live threads share one.
#[cfg(test)]
pub(crate) fn row_of_this_thread() -> Option<u32> {
    this_threads_row()?;
    Some(INDEX.get())
}

#[cold]
fn claim_row() -> Option<&'static Row> {
    if INDEX.get() == GIVEN_BACK {
        return None;
    }
    let Some(index) = take_lowest(&ROWS_TAKEN) else {
        // Four billion threads alive at once: count on the shared word.
        INDEX.set(GIVEN_BACK);
        return None;
    };
    // A thread whose destructors already ran cannot give it back: it keeps none.
    if GIVE_BACK_ON_EXIT.try_with(|g| g.0.set(index)).is_err() {
        give_back(&ROWS_TAKEN, index);
        INDEX.set(GIVEN_BACK);
        return None;
    }
    let row = ROWS.get(index);
    INDEX.set(index);
    ROW.set(Some(row));
    Some(row)
}

/// Takes the lowest free bit of `bitmap`.
fn take_lowest(bitmap: &Slots<AtomicU64, BITMAP_INLINE>) -> Option<u32> {
    let mut word_index = 0;
    loop {
        let word = bitmap.get(word_index);
        let mut taken = word.load(Ordering::Relaxed);
        while taken != u64::MAX {
            let bit = (!taken).trailing_zeros();
            // Acquire: see every write the bit's previous owner made before giving it back.
            match word.compare_exchange_weak(
                taken,
                taken | 1 << bit,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(word_index * 64 + bit),
                Err(current) => taken = current,
            }
        }
        word_index += 1;
        if word_index > MAX_WORDS {
            return None;
        }
    }
}

fn give_back(bitmap: &Slots<AtomicU64, BITMAP_INLINE>, index: u32) {
    // Release: the next owner sees every write made here.
    bitmap
        .get(index / 64)
        .fetch_and(!(1 << (index % 64)), Ordering::Release);
}

struct GiveBack(Cell<u32>);

impl Drop for GiveBack {
    fn drop(&mut self) {
        let index = self.0.get();
        if index != UNCLAIMED {
            // Adds made later in this thread's exit go to the counters' shared word.
            INDEX.set(GIVEN_BACK);
            ROW.set(None);
            give_back(&ROWS_TAKEN, index);
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
        assert_eq!(counter.shared.load(Ordering::Relaxed), 0, "no shared word");
    }

    #[test]
    fn a_counter_is_sixteen_bytes_whatever_the_threads() {
        assert_eq!(std::mem::size_of::<StripedCounter>(), 16);
    }

    #[test]
    fn counters_on_one_thread_count_apart() {
        let (a, b) = (StripedCounter::new(), StripedCounter::new());
        (0..3).for_each(|_| a.increment());
        b.increment();
        assert_eq!((a.sum(), b.sum()), (3, 1));
        assert_ne!(column_of(a.column.load(Ordering::Relaxed)), None);
        assert_ne!(
            a.column.load(Ordering::Relaxed),
            b.column.load(Ordering::Relaxed)
        );
    }

    /// Past the inline columns an add goes to a segment of the row: the counts stay apart and
    /// exact there too, from this thread and another.
    #[test]
    fn counters_past_the_inline_columns_count_apart() {
        let counters: Vec<StripedCounter> = (0..COLUMNS_INLINE + 40)
            .map(|_| StripedCounter::new())
            .collect();
        for (n, counter) in counters.iter().enumerate() {
            (0..n % 7).for_each(|_| counter.increment());
        }
        std::thread::scope(|s| {
            s.spawn(|| counters.iter().for_each(StripedCounter::increment));
        });
        let past_inline = counters
            .iter()
            .filter_map(|c| column_of(c.column.load(Ordering::Relaxed)))
            .filter(|&column| inline_slot(column).is_none())
            .count();
        assert!(
            past_inline >= 40,
            "{past_inline} counters past the inline columns"
        );
        for (n, counter) in counters.iter().enumerate() {
            assert_eq!(counter.sum(), (n % 7) as u64 + 1, "counter {n}");
        }
    }

    #[test]
    fn a_dropped_counters_column_is_taken_again_from_zero() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        // The lowest free column is the one just given back, unless another test's counter takes
        // it first: try until the new counter has it.
        let reused = (0..100).any(|_| {
            let old = StripedCounter::new();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| (0..100).for_each(|_| old.increment()));
                }
            });
            old.increment();
            assert_eq!(old.sum(), 401);
            let column = old.column.load(Ordering::Relaxed);
            drop(old);
            let new = StripedCounter::new();
            new.increment();
            std::thread::scope(|s| {
                s.spawn(|| new.increment());
            });
            assert_eq!(new.sum(), 2, "a taken column starts from zero in every row");
            new.column.load(Ordering::Relaxed) == column
        });
        assert!(reused);
    }

    #[test]
    fn a_counter_read_before_its_first_add_is_zero() {
        let counter = StripedCounter::new();
        assert_eq!(counter.sum(), 0);
        assert_eq!(counter.column.load(Ordering::Relaxed), NO_COLUMN);
    }

    #[test]
    fn no_two_live_threads_share_a_row() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let all_alive = Barrier::new(THREADS);
        let indices: Vec<Option<u32>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        let index = row_of_this_thread();
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
    fn exited_threads_give_their_rows_back() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let mut indices: Vec<u32> = (0..(3 * ROWS_INLINE))
            .map(|_| {
                std::thread::scope(|s| s.spawn(row_of_this_thread).join().unwrap())
                    .expect("a live thread has a row")
            })
            .collect();
        indices.sort_unstable();
        indices.dedup();
        // One after the other, each takes the lowest free index: the same few, whatever indices
        // other tests' threads hold meanwhile.
        assert!(indices.len() < ROWS_INLINE, "{indices:?}");
    }

    #[test]
    fn indices_map_to_distinct_slots_across_segments() {
        let slots: Slots<AtomicU64, 16> = Slots::new();
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
        assert_eq!(segment_of::<16>(16), (0, 0));
        assert_eq!(segment_of::<16>(31), (0, 15));
        assert_eq!(segment_of::<16>(32), (1, 0));
        assert_eq!(segment_of::<16>(u32::MAX).0, SEGMENTS - 1);
        const C: u32 = COLUMNS_INLINE as u32;
        assert_eq!(segment_of::<COLUMNS_INLINE>(C), (0, 0));
        assert_eq!(segment_of::<COLUMNS_INLINE>(3 * C - 1), (1, C as usize - 1));
        assert!(segment_of::<COLUMNS_INLINE>(u32::MAX).0 < SEGMENTS);
    }
}
