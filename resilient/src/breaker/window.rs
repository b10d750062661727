//! Rate mode's sliding windows, lock-free: recording an outcome is a few atomic operations.

use super::config::Window;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering::*};

/// One call's outcome as rate mode counts it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub(crate) failure: bool,
    pub(crate) slow: bool,
}

/// What a window holds now.
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

    /// Records an outcome at `now` (nanoseconds; only the time window reads it) and returns the
    /// window's totals.
    pub(crate) fn record(&self, outcome: Outcome, now: impl FnOnce() -> u64) -> Totals {
        match self {
            Self::Count(w) => w.record(outcome),
            Self::Time(w) => w.record(outcome, now()),
        }
    }

    pub(crate) fn clear(&self) {
        match self {
            Self::Count(w) => w.clear(),
            Self::Time(w) => w.clear(),
        }
    }
}

const FILLED: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

const fn encode(o: Outcome) -> u8 {
    FILLED | if o.failure { FAILED } else { 0 } | if o.slow { SLOW } else { 0 }
}

/// The last N calls: a ring of slots, each call swapping its outcome into the next slot and
/// adjusting the running totals by the difference with what it replaced. The totals are exact
/// whenever no record is in flight.
pub(crate) struct CountWindow {
    next: AtomicU64,
    slots: Box<[AtomicU8]>,
    calls: AtomicI64,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self {
            next: AtomicU64::new(0),
            slots: (0..size.max(1)).map(|_| AtomicU8::new(0)).collect(),
            calls: AtomicI64::new(0),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    fn record(&self, outcome: Outcome) -> Totals {
        let index = self.next.fetch_add(1, Relaxed) % self.slots.len() as u64;
        let new = encode(outcome);
        let old = self.slots[index as usize].swap(new, AcqRel);
        let delta = |bit: u8| i64::from(new & bit != 0) - i64::from(old & bit != 0);
        for (counter, bit) in [
            (&self.calls, FILLED),
            (&self.failures, FAILED),
            (&self.slow, SLOW),
        ] {
            match delta(bit) {
                0 => {}
                d => {
                    counter.fetch_add(d, AcqRel);
                }
            }
        }
        Totals {
            calls: read(&self.calls),
            failures: read(&self.failures),
            slow: read(&self.slow),
        }
    }

    fn clear(&self) {
        for slot in self.slots.iter() {
            slot.store(0, Relaxed);
        }
        for counter in [&self.calls, &self.failures, &self.slow] {
            counter.store(0, Relaxed);
        }
        self.next.store(0, Release);
    }
}

/// A counter that a racing record may have taken below zero for a moment.
fn read(counter: &AtomicI64) -> u64 {
    u64::try_from(counter.load(Acquire)).unwrap_or(0)
}

const BUCKETS: u64 = 10;

/// The calls of the last period, in ten buckets of a tenth of it each; the oldest bucket is
/// reused when time moves past it. An outcome recorded by one thread while another recycles the
/// same bucket may be lost: the window is a close estimate under concurrency, exact without it.
pub(crate) struct TimeWindow {
    width: u64,
    buckets: Box<[Bucket]>,
}

struct Bucket {
    /// Which tenth of time (+1) the counts belong to; 0 is empty.
    stamp: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl TimeWindow {
    fn new(period: std::time::Duration) -> Self {
        let width = (crate::clock::nanos(period) / BUCKETS).max(1);
        let bucket = || Bucket {
            stamp: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        };
        Self {
            width,
            buckets: (0..BUCKETS).map(|_| bucket()).collect(),
        }
    }

    fn record(&self, outcome: Outcome, now: u64) -> Totals {
        let tick = now / self.width + 1;
        let bucket = &self.buckets[(tick % BUCKETS) as usize];
        let stamp = bucket.stamp.load(Acquire);
        if stamp < tick
            && bucket
                .stamp
                .compare_exchange(stamp, tick, AcqRel, Acquire)
                .is_ok()
        {
            for counter in [&bucket.calls, &bucket.failures, &bucket.slow] {
                counter.store(0, Relaxed);
            }
        }
        bucket.calls.fetch_add(1, Relaxed);
        if outcome.failure {
            bucket.failures.fetch_add(1, Relaxed);
        }
        if outcome.slow {
            bucket.slow.fetch_add(1, Relaxed);
        }
        self.totals(tick)
    }

    fn totals(&self, tick: u64) -> Totals {
        let live = |b: &&Bucket| {
            let stamp = b.stamp.load(Acquire);
            stamp != 0 && stamp <= tick && tick - stamp < BUCKETS
        };
        self.buckets
            .iter()
            .filter(live)
            .fold(Totals::default(), |t, b| Totals {
                calls: t.calls + b.calls.load(Relaxed),
                failures: t.failures + b.failures.load(Relaxed),
                slow: t.slow + b.slow.load(Relaxed),
            })
    }

    fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.stamp.store(0, Release);
        }
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

    #[test]
    fn count_window_keeps_the_last_n_outcomes() {
        let w = RateWindow::new(Window::Count(3));
        assert_eq!(
            w.record(FAIL, || 0),
            Totals {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(
            w.record(FAIL, || 0),
            Totals {
                calls: 2,
                failures: 2,
                slow: 0
            }
        );
        assert_eq!(
            w.record(SLOW_OK, || 0),
            Totals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        assert_eq!(
            w.record(OK, || 0),
            Totals {
                calls: 3,
                failures: 1,
                slow: 1
            },
            "first failure left"
        );
        assert_eq!(
            w.record(OK, || 0),
            Totals {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        assert_eq!(
            w.record(OK, || 0),
            Totals {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
        w.clear();
        assert_eq!(
            w.record(FAIL, || 0),
            Totals {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn count_window_is_exact_after_concurrent_records() {
        let w = RateWindow::new(Window::Count(64));
        std::thread::scope(|s| {
            for t in 0..4 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000 {
                        w.record(if (i + t) % 4 == 0 { FAIL } else { OK }, || 0);
                    }
                });
            }
        });
        let RateWindow::Count(c) = &w else {
            unreachable!()
        };
        let slots_with = |bit: u8| {
            c.slots
                .iter()
                .filter(|s| s.load(Relaxed) & bit != 0)
                .count() as u64
        };
        assert_eq!(read(&c.calls), 64);
        assert_eq!(read(&c.failures), slots_with(FAILED));
    }

    #[test]
    fn time_window_forgets_calls_older_than_the_period() {
        let ms = |n: u64| n * 1_000_000;
        let w = RateWindow::new(Window::Time(Duration::from_secs(1)));
        w.record(FAIL, || ms(0));
        w.record(FAIL, || ms(50));
        assert_eq!(
            w.record(OK, || ms(500)),
            Totals {
                calls: 3,
                failures: 2,
                slow: 0
            }
        );
        assert_eq!(
            w.record(OK, || ms(999)),
            Totals {
                calls: 4,
                failures: 2,
                slow: 0
            }
        );
        // At 1.0 s the first tenth (0–100 ms) has left the window.
        assert_eq!(
            w.record(OK, || ms(1000)),
            Totals {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(
            w.record(SLOW_OK, || ms(5000)),
            Totals {
                calls: 1,
                failures: 0,
                slow: 1
            }
        );
        w.clear();
        assert_eq!(
            w.record(OK, || ms(5001)),
            Totals {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }
}
