//! Rate mode's sliding windows, lock-free: recording an outcome is an atomic operation or two.
//!
//! Every slot is tagged with the closed period (the state word's generation) that wrote it, and a
//! window is always read for one period: it counts only that period's slots. So a new closed
//! period starts empty without clearing anything, an outcome of an earlier period recorded late
//! never counts in a later one, and the totals cannot drift from the slots: they are summed from
//! them each time they are judged.

use super::config::Window;
use super::state::is_after;
use crate::sync::{AtomicU64, fence};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

/// One call's outcome as rate mode counts it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub(crate) failure: bool,
    pub(crate) slow: bool,
}

/// What a window holds for one closed period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

pub(crate) enum RateWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl RateWindow {
    /// Allocates the window once, on the breaker's first rate-mode outcome.
    pub(crate) fn new(window: Window) -> Self {
        match window {
            Window::Count(n) => Self::Count(CountWindow::new(n)),
            Window::Time(period) => Self::Time(TimeWindow::new(period)),
        }
    }

    /// Records an outcome of closed period `period` at `now` (nanoseconds; only the time window
    /// reads it) and returns what the window holds for that period.
    pub(crate) fn record(
        &self,
        period: u32,
        outcome: Outcome,
        now: impl FnOnce() -> u64,
    ) -> Totals {
        match self {
            Self::Count(w) => {
                w.record(period, outcome);
                // Of two records racing, the later one must see the other's slot, or neither would
                // judge both outcomes: a write then a read of another slot needs a full fence.
                fence(SeqCst);
                w.totals(period)
            }
            Self::Time(w) => {
                let tick = w.tick(now());
                w.record(period, outcome, tick);
                fence(SeqCst);
                w.totals(period, tick)
            }
        }
    }

    /// What the window holds for closed period `period` at `now`.
    #[cfg(loom)]
    pub(crate) fn totals(&self, period: u32, now: impl FnOnce() -> u64) -> Totals {
        match self {
            Self::Count(w) => w.totals(period),
            Self::Time(w) => w.totals(period, w.tick(now())),
        }
    }
}

const FILLED: u64 = 1;
const FAILED: u64 = 2;
const SLOW: u64 = 4;
const PERIOD_SHIFT: u32 = 8;

/// A count window's slot: the period that wrote it and the outcome; 0 is empty.
const fn slot(period: u32, o: Outcome) -> u64 {
    (period as u64) << PERIOD_SHIFT
        | FILLED
        | if o.failure { FAILED } else { 0 }
        | if o.slow { SLOW } else { 0 }
}

const fn period_of(slot: u64) -> u32 {
    (slot >> PERIOD_SHIFT) as u32
}

/// The last N calls: a ring of slots, each call writing its outcome into the next one.
pub(crate) struct CountWindow {
    next: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self {
            next: AtomicU64::new(0),
            slots: (0..size.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, period: u32, outcome: Outcome) {
        let index = self.next.fetch_add(1, Relaxed) % self.slots.len() as u64;
        let slot_of_call = &self.slots[index as usize];
        let mut current = slot_of_call.load(Relaxed);
        // A late outcome of an earlier period leaves a later period's outcome in place.
        while current & FILLED == 0 || !is_after(period_of(current), period) {
            match slot_of_call.compare_exchange_weak(
                current,
                slot(period, outcome),
                Relaxed,
                Relaxed,
            ) {
                Ok(_) => break,
                Err(now_there) => current = now_there,
            }
        }
    }

    fn totals(&self, period: u32) -> Totals {
        let mut totals = Totals::default();
        for slot in self.slots.iter() {
            let slot = slot.load(Relaxed);
            if slot & FILLED != 0 && period_of(slot) == period {
                totals.calls += 1;
                totals.failures += u64::from(slot & FAILED != 0);
                totals.slow += u64::from(slot & SLOW != 0);
            }
        }
        totals
    }
}

const BUCKETS: u64 = 10;

/// A time window's counter: `period (12 bits) | lap (24 bits) | count (28 bits)`, where the lap is
/// which round of the ten buckets the count belongs to. The tag is in the same word as the count,
/// so a count always belongs to the period and lap it says: stale counts could pass for live ones
/// only after a bucket went 2^24 laps without a record, its period aliasing as well.
const COUNT_BITS: u32 = 28;
const LAP_BITS: u32 = 24;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const LAP_MASK: u64 = (1 << LAP_BITS) - 1;
const PERIOD_MASK: u64 = (1 << (64 - COUNT_BITS - LAP_BITS)) - 1;

/// The period and lap a time window's counter belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Tag(u64);

impl Tag {
    fn new(period: u32, tick: u64) -> Self {
        let lap = tick / BUCKETS;
        Tag((u64::from(period) & PERIOD_MASK) << LAP_BITS | lap & LAP_MASK)
    }

    fn of(counter: u64) -> Self {
        Tag(counter >> COUNT_BITS)
    }

    /// Whether `self` belongs to a later period, or the same period and a later lap (both wrap).
    fn is_after(self, other: Tag) -> bool {
        let later = |a: u64, b: u64, mask: u64| a != b && a.wrapping_sub(b) & mask <= mask / 2;
        let (period, other_period) = (self.0 >> LAP_BITS, other.0 >> LAP_BITS);
        if period != other_period {
            later(period, other_period, PERIOD_MASK)
        } else {
            later(self.0 & LAP_MASK, other.0 & LAP_MASK, LAP_MASK)
        }
    }
}

/// The calls of the last period, in ten buckets of a tenth of it each; a bucket's counters start
/// over when a record of a later lap or period reaches them.
pub(crate) struct TimeWindow {
    width: u64,
    buckets: Box<[Bucket]>,
}

struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl TimeWindow {
    fn new(period: std::time::Duration) -> Self {
        let width = (crate::clock::nanos(period) / BUCKETS).max(1);
        let bucket = || Bucket {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        };
        Self {
            width,
            buckets: (0..BUCKETS).map(|_| bucket()).collect(),
        }
    }

    /// Which tenth of time `now` is in.
    fn tick(&self, now: u64) -> u64 {
        now / self.width
    }

    fn record(&self, period: u32, outcome: Outcome, tick: u64) {
        let bucket = &self.buckets[(tick % BUCKETS) as usize];
        let tag = Tag::new(period, tick);
        add(&bucket.calls, tag);
        if outcome.failure {
            add(&bucket.failures, tag);
        }
        if outcome.slow {
            add(&bucket.slow, tag);
        }
    }

    fn totals(&self, period: u32, tick: u64) -> Totals {
        let mut totals = Totals::default();
        // The live tenths: this one and the nine before it (none before time began).
        for live in tick.saturating_sub(BUCKETS - 1)..=tick {
            let bucket = &self.buckets[(live % BUCKETS) as usize];
            let tag = Tag::new(period, live);
            totals.calls += count(&bucket.calls, tag);
            totals.failures += count(&bucket.failures, tag);
            totals.slow += count(&bucket.slow, tag);
        }
        totals
    }
}

/// Adds one to `counter` for `tag`: starts it over if it holds an earlier lap or period; leaves it
/// alone if it holds a later one (this outcome is late).
fn add(counter: &AtomicU64, tag: Tag) {
    let mut current = counter.load(Relaxed);
    loop {
        let next = if current & COUNT_MASK != 0 && Tag::of(current) == tag {
            // A full counter stays full rather than carry into its tag.
            current + u64::from(current & COUNT_MASK != COUNT_MASK)
        } else if current & COUNT_MASK == 0 || !Tag::of(current).is_after(tag) {
            tag.0 << COUNT_BITS | 1
        } else {
            return;
        };
        match counter.compare_exchange_weak(current, next, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now_there) => current = now_there,
        }
    }
}

fn count(counter: &AtomicU64, tag: Tag) -> u64 {
    let current = counter.load(Relaxed);
    if Tag::of(current) == tag {
        current & COUNT_MASK
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const OK: Outcome = Outcome {
        failure: false,
        slow: false,
    };
    const FAIL: Outcome = Outcome {
        failure: true,
        slow: false,
    };
    const SLOW_OK: Outcome = Outcome {
        failure: false,
        slow: true,
    };

    const fn totals(calls: u64, failures: u64, slow: u64) -> Totals {
        Totals {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn count_window_keeps_the_last_n_outcomes() {
        let w = RateWindow::new(Window::Count(3));
        assert_eq!(w.record(0, FAIL, || 0), totals(1, 1, 0));
        assert_eq!(w.record(0, FAIL, || 0), totals(2, 2, 0));
        assert_eq!(w.record(0, SLOW_OK, || 0), totals(3, 2, 1));
        assert_eq!(w.record(0, OK, || 0), totals(3, 1, 1), "first failure left");
        assert_eq!(w.record(0, OK, || 0), totals(3, 0, 1));
        assert_eq!(w.record(0, OK, || 0), totals(3, 0, 0));
    }

    #[test]
    fn count_window_counts_only_the_period_it_is_asked_about() {
        let w = RateWindow::new(Window::Count(4));
        for _ in 0..3 {
            w.record(7, FAIL, || 0);
        }
        assert_eq!(
            w.record(8, OK, || 0),
            totals(1, 0, 0),
            "a new period starts empty"
        );
        // A late outcome of period 7 neither counts in period 8 nor displaces its outcomes.
        for _ in 0..4 {
            w.record(7, FAIL, || 0);
        }
        assert_eq!(w.record(8, SLOW_OK, || 0), totals(2, 0, 1));
        assert_eq!(
            w.record(8, OK, || 0),
            totals(3, 0, 1),
            "period 8's first outcome is still there"
        );
    }

    #[test]
    fn periods_compare_across_the_generation_wrap() {
        use super::super::state::next_generation;
        let last = u32::MAX >> 3;
        let first = next_generation(super::super::state::pack(0, last));
        let w = RateWindow::new(Window::Count(2));
        w.record(first, OK, || 0);
        assert_eq!(w.record(last, FAIL, || 0), totals(1, 1, 0));
        assert_eq!(
            w.record(first, OK, || 0),
            totals(1, 0, 0),
            "the wrapped period is later"
        );
        assert_eq!(w.record(last, FAIL, || 0), totals(1, 1, 0));
        assert_eq!(
            w.totals_of_count(first),
            totals(1, 0, 0),
            "not displaced by the late one"
        );
    }

    impl RateWindow {
        fn totals_of_count(&self, period: u32) -> Totals {
            let RateWindow::Count(w) = self else {
                unreachable!()
            };
            w.totals(period)
        }
    }

    #[test]
    fn count_window_totals_match_its_slots_after_racing_periods() {
        let w = RateWindow::new(Window::Count(8));
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..5_000u32 {
                        // Two threads stay a period behind the other two.
                        let period = i / 1000 + t % 2;
                        w.record(period, if (i + t) % 3 == 0 { FAIL } else { OK }, || 0);
                    }
                });
            }
        });
        let current = w.totals_of_count(5);
        assert!(current.calls <= 8, "{current:?}");
        assert_eq!(w.record(6, OK, || 0), totals(1, 0, 0));
    }

    #[test]
    fn time_window_forgets_calls_older_than_the_period() {
        let ms = |n: u64| n * 1_000_000;
        let w = RateWindow::new(Window::Time(Duration::from_secs(1)));
        w.record(0, FAIL, || ms(0));
        w.record(0, FAIL, || ms(50));
        assert_eq!(w.record(0, OK, || ms(500)), totals(3, 2, 0));
        assert_eq!(w.record(0, OK, || ms(999)), totals(4, 2, 0));
        // At 1.0 s the first tenth (0–100 ms) has left the window.
        assert_eq!(w.record(0, OK, || ms(1000)), totals(3, 0, 0));
        assert_eq!(w.record(0, SLOW_OK, || ms(5000)), totals(1, 0, 1));
        assert_eq!(
            w.record(1, OK, || ms(5001)),
            totals(1, 0, 0),
            "a new period"
        );
        // Late: period 0 in the same tenth neither counts nor resets period 1's counts.
        w.record(0, FAIL, || ms(5002));
        assert_eq!(w.record(1, FAIL, || ms(5003)), totals(2, 1, 0));
    }

    #[test]
    fn time_window_buckets_start_over_a_lap_later() {
        let ms = |n: u64| n * 1_000_000;
        let w = RateWindow::new(Window::Time(Duration::from_secs(1)));
        w.record(3, FAIL, || ms(120));
        // Ten tenths later the same bucket is reused: the old failure is gone.
        assert_eq!(w.record(3, OK, || ms(1120)), totals(1, 0, 0));
    }
}
