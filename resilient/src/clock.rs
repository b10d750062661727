//! Time for policies: always tokio's clock, so paused-clock tests (`start_paused = true`) drive
//! every timer and every reading.

use std::sync::OnceLock;
use std::time::Duration;
use tokio::time::Instant;

/// A policy's private time origin, so instants fit in an atomic `u64` of nanoseconds.
///
/// It is fixed on the first reading, which makes every later reading of the same clock
/// non-negative. (A process-wide origin would break under tests that each pause their own clock:
/// a runtime that starts "earlier" than the origin would read zero forever.)
pub(crate) struct Epoch(OnceLock<Instant>);

impl Epoch {
    pub(crate) const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// Nanoseconds since the origin; never zero, so zero can mean "never".
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        #[cfg(test)]
        READINGS.set(READINGS.get() + 1);
        let now = Instant::now();
        let origin = *self.0.get_or_init(|| now);
        nanos(now.saturating_duration_since(origin)).saturating_add(1)
    }

    /// The instant a [`now`](Self::now) reading stands for.
    pub(crate) fn instant(&self, reading: u64) -> Option<Instant> {
        let origin = *self.0.get()?;
        (reading != 0).then(|| origin + Duration::from_nanos(reading - 1))
    }
}

/// An instant as 8 bytes that any thread can turn back into the time left until it: signed
/// nanoseconds from a process-wide anchor, biased so that `u64::MAX` is never one (it is the
/// "none" of [`Rejected`](crate::Rejected)). Signed, because under tests that pause tokio's clock
/// an instant may come before the anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Deadline(u64);

static ANCHOR: OnceLock<std::time::Instant> = OnceLock::new();

impl Deadline {
    pub(crate) fn at(instant: Instant) -> Self {
        let anchor = *ANCHOR.get_or_init(|| instant.into_std());
        let instant = instant.into_std();
        let offset = match instant.checked_duration_since(anchor) {
            Some(after) => i64::try_from(nanos(after)).unwrap_or(i64::MAX),
            None => i64::try_from(nanos(anchor - instant)).map_or(i64::MIN, |before| -before),
        };
        // The bias maps i64::MAX to u64::MAX: stop one short of it.
        Self((offset.min(i64::MAX - 1) as u64) ^ (1 << 63))
    }

    pub(crate) fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    pub(crate) fn to_bits(self) -> u64 {
        self.0
    }

    /// The time left until the deadline on tokio's clock (virtual under a paused clock), zero once
    /// it has passed.
    pub(crate) fn remaining(self) -> Duration {
        let Some(anchor) = ANCHOR.get() else {
            return Duration::ZERO;
        };
        let offset = (self.0 ^ (1 << 63)) as i64;
        let magnitude = Duration::from_nanos(offset.unsigned_abs());
        let deadline = if offset >= 0 {
            anchor.checked_add(magnitude)
        } else {
            anchor.checked_sub(magnitude)
        };
        deadline.map_or(Duration::MAX, |deadline| {
            deadline.saturating_duration_since(Instant::now().into_std())
        })
    }
}

/// Whether tokio's clock on this thread is the real one: a paused clock (tokio's `test-util`)
/// does not move between two readings, the real one does (with nanosecond resolution, it moves
/// across the reading of the system clock made between them). A clock judged paused that is not
/// only costs a shortcut.
#[cfg(not(loom))] // its callers raise quiet flags, which loom models do otherwise
pub(crate) fn tokio_clock_is_real() -> bool {
    let first = Instant::now();
    let _ = std::hint::black_box(std::time::Instant::now());
    Instant::now() > first
}

#[cfg(test)]
thread_local! {
    /// Readings of any [`Epoch`] on this thread: tests check the paths that must not read.
    pub(crate) static READINGS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A duration as saturating nanoseconds.
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    // u64 arithmetic: `as_nanos` goes through u128, on the path of every rejection.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// A duration as people read it in a message: `29.2s`, `250ms`, `1m30s`, never `29.999999999s`.
///
/// Below a minute it keeps one decimal of the largest unit that fits (rounded to the nearest);
/// from a minute on, whole seconds in hours, minutes and seconds, as durations are written in
/// the attributes.
#[derive(Clone, Copy)]
pub(crate) struct Rounded(pub(crate) Duration);

impl std::fmt::Display for Rounded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [(u128, &str); 3] = [(1_000, "µs"), (1_000_000, "ms"), (1_000_000_000, "s")];
        // Wide enough that rounding up the longest duration cannot overflow.
        let n = u128::from(nanos(self.0));
        if n < 1_000 {
            return write!(f, "{n}ns");
        }
        for (unit, name) in UNITS {
            let tenths = (n + unit / 20) / (unit / 10);
            // Rounded up to a thousand of this unit, it is one of the next: `1ms`, not `1000µs`.
            if tenths < 10_000 && (unit < 1_000_000_000 || tenths < 600) {
                return match tenths % 10 {
                    0 => write!(f, "{}{name}", tenths / 10),
                    tenth => write!(f, "{}.{tenth}{name}", tenths / 10),
                };
            }
        }
        let secs = (n + 500_000_000) / 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        for (value, name) in [(h, "h"), (m, "m"), (s, "s")] {
            if value > 0 {
                write!(f, "{value}{name}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Deadline, Rounded, tokio_clock_is_real};
    use std::time::Duration;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_counts_down_on_the_paused_clock() {
        let deadline = Deadline::at(Instant::now() + Duration::from_secs(30));
        assert_eq!(deadline.remaining(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_millis(29_999)).await;
        assert_eq!(deadline.remaining(), Duration::from_millis(1));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(deadline.remaining(), Duration::ZERO);
        let past = Deadline::at(Instant::now() - Duration::from_secs(3600));
        assert_eq!(past.remaining(), Duration::ZERO);
        assert_eq!(Deadline::from_bits(deadline.to_bits()), deadline);
    }

    #[test]
    fn deadlines_far_off_saturate_and_are_never_the_none_value() {
        let now = Instant::now();
        let far = Deadline::at(now + Duration::from_secs(400 * 365 * 24 * 3600));
        assert_ne!(far.to_bits(), u64::MAX);
        assert!(far.remaining() > Duration::from_secs(290 * 365 * 24 * 3600));
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_is_not_taken_for_the_real_one() {
        assert!(!tokio_clock_is_real());
        tokio::time::resume();
        assert!(tokio_clock_is_real());
    }

    #[test]
    fn outside_a_runtime_the_clock_is_real() {
        assert!(tokio_clock_is_real());
    }

    #[test]
    fn durations_are_printed_rounded_in_the_largest_unit() {
        let cases = [
            (Duration::from_nanos(0), "0ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_000), "1µs"),
            (Duration::from_nanos(12_345), "12.3µs"),
            (Duration::from_nanos(999_960), "1ms"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_nanos(999_950_000), "1s"),
            (Duration::from_millis(29_240), "29.2s"),
            (Duration::from_nanos(29_999_999_999), "30s"),
            (Duration::from_millis(59_960), "1m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(90_400), "1m30s"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(3_661), "1h1m1s"),
            // Rounding up the longest durations overflowed a u64.
            (Duration::from_nanos(u64::MAX), "5124095h34m34s"),
            (Duration::MAX, "5124095h34m34s"),
        ];
        for (duration, printed) in cases {
            assert_eq!(Rounded(duration).to_string(), printed, "{duration:?}");
        }
    }
}
