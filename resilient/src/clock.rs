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

/// A duration as saturating nanoseconds.
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    // u64 arithmetic: `as_nanos` goes through u128, on the path of every rejection.
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}
