//! The breaker's state word: state, generation and counters in one `u64`, so every decision is a
//! single load and every transition a single compare-and-swap.
//!
//! ```text
//!  63            35 34                 19 18                  3 2     0
//! +----------------+---------------------+---------------------+-------+
//! | generation(29) |  closed: consecutive failures (32)        | state |
//! |                | half-open: successes(16) | in flight(16)  |       |
//! +----------------+---------------------+---------------------+-------+
//! ```
//!
//! The generation changes on every transition; a permit carries the generation that issued it,
//! so an outcome that arrives after the state moved on is recognised and ignored.

pub(crate) const CLOSED: u64 = 0;
pub(crate) const OPEN: u64 = 1;
pub(crate) const HALF_OPEN: u64 = 2;
pub(crate) const FORCED_OPEN: u64 = 3;
pub(crate) const DISABLED: u64 = 4;

const STATE_MASK: u64 = 0b111;
const COUNT_SHIFT: u32 = 3;
const SUCCESS_SHIFT: u32 = 19;
const GEN_SHIFT: u32 = 35;
const GEN_MASK: u32 = (1 << (64 - GEN_SHIFT)) - 1;

/// One in-flight trial, or one consecutive failure, in the counter bits.
pub(crate) const ONE_COUNT: u64 = 1 << COUNT_SHIFT;
/// One successful trial.
pub(crate) const ONE_SUCCESS: u64 = 1 << SUCCESS_SHIFT;

pub(crate) const fn pack(state: u64, generation: u32) -> u64 {
    ((generation & GEN_MASK) as u64) << GEN_SHIFT | state
}

pub(crate) const fn state(word: u64) -> u64 {
    word & STATE_MASK
}

pub(crate) const fn generation(word: u64) -> u32 {
    (word >> GEN_SHIFT) as u32
}

pub(crate) const fn next_generation(word: u64) -> u32 {
    generation(word).wrapping_add(1) & GEN_MASK
}

/// Whether generation `a` came after `b`: generations wrap, so "after" is within half the range
/// ahead.
pub(crate) const fn is_after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) & GEN_MASK <= GEN_MASK / 2
}

/// Closed: failures in a row.
pub(crate) const fn consecutive_failures(word: u64) -> u32 {
    (word >> COUNT_SHIFT) as u32
}

/// Half-open: trials in flight.
pub(crate) const fn trials_in_flight(word: u64) -> u32 {
    ((word >> COUNT_SHIFT) & 0xFFFF) as u32
}

/// Half-open: successful trials so far.
pub(crate) const fn trial_successes(word: u64) -> u32 {
    ((word >> SUCCESS_SHIFT) & 0xFFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let w = pack(HALF_OPEN, 12345) + 3 * ONE_COUNT + 7 * ONE_SUCCESS;
        assert_eq!(
            (
                state(w),
                generation(w),
                trials_in_flight(w),
                trial_successes(w)
            ),
            (HALF_OPEN, 12345, 3, 7)
        );
        let closed = pack(CLOSED, GEN_MASK) + u64::from(u32::MAX) * ONE_COUNT;
        assert_eq!(
            (
                state(closed),
                generation(closed),
                consecutive_failures(closed)
            ),
            (CLOSED, GEN_MASK, u32::MAX)
        );
        assert_eq!(next_generation(closed), 0, "generations wrap");
        assert!(is_after(0, GEN_MASK) && !is_after(GEN_MASK, 0));
        assert!(is_after(5, 4) && !is_after(4, 5) && !is_after(4, 4));
    }
}
