//! The retry ratio of a [`RetryPolicy`](crate::RetryPolicy) (`retry_ratio`): at most that
//! fraction of the calls of about the last [`WINDOW`] may be retries, beyond a floor of
//! [`FLOOR`] retries, so that a quiet policy can still retry (Finagle's and Polly's retry
//! budget). A dependency that fails for everyone then sees a bounded extra load, not every call
//! times `max_attempts`.
//!
//! The counts are the policy's own (calls that ended, retries made), so a call pays nothing for
//! the ratio: only a retry about to happen reads them, against marks of the counts taken every
//! tenth of a window. After a window without retries the marks start over, and the floor alone
//! applies until calls count again: a burst of failures after a quiet time is held to the floor
//! at first.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The window the ratio is judged over.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Retries allowed in a window whatever the ratio.
pub const FLOOR: u64 = 10;

/// Marks in a window.
const MARKS: u32 = 10;

/// The counts at some instants of the last window, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RatioWindow {
    marks: Mutex<VecDeque<Mark>>,
}

#[derive(Clone, Copy, Debug)]
struct Mark {
    at: Instant,
    calls: u64,
    retries: u64,
}

impl RatioWindow {
    /// The calls and retries since the oldest mark of the last window, given the totals `now`;
    /// marks the totals if the newest mark is a tenth of a window old.
    pub(crate) fn in_window(&self, now: Instant, calls: u64, retries: u64) -> (u64, u64) {
        let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        while marks.front().is_some_and(|m| now - m.at > WINDOW) {
            marks.pop_front();
        }
        if marks.back().is_none_or(|m| now - m.at >= WINDOW / MARKS) {
            marks.push_back(Mark {
                at: now,
                calls,
                retries,
            });
        }
        let base = marks[0];
        (
            calls.saturating_sub(base.calls),
            retries.saturating_sub(base.retries),
        )
    }
}

/// Whether one more retry keeps within `ratio` of `calls`, `retries` being made already.
pub(crate) fn allows(ratio: f64, calls: u64, retries: u64) -> bool {
    (retries + 1) as f64 <= ratio * calls as f64 + FLOOR as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_then_the_ratio_of_the_calls() {
        assert!(allows(0.1, 0, 9));
        assert!(!allows(0.1, 0, 10));
        assert!(allows(0.1, 100, 19));
        assert!(!allows(0.1, 100, 20));
    }

    #[tokio::test(start_paused = true)]
    async fn counts_are_taken_from_the_oldest_mark_of_the_window() {
        let window = RatioWindow::default();
        let start = Instant::now();
        // The first look marks the totals: nothing in the window yet.
        assert_eq!(window.in_window(start, 1000, 50), (0, 0));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(window.in_window(Instant::now(), 1500, 60), (500, 10));
        tokio::time::advance(Duration::from_secs(6)).await;
        // The first mark is past the window: counted from the second, 6 s ago.
        assert_eq!(window.in_window(Instant::now(), 2100, 70), (600, 10));
        // Past a whole window without a look, the marks start over.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(window.in_window(Instant::now(), 9000, 90), (0, 0));
    }
}
