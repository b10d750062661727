//! Rate mode's window under a real race: failures recorded while `reset()` starts a new closed
//! period must not count in the new period (the loom models in `loom.rs` explore every
//! interleaving; this runs the real atomics on real threads).

use resilient::{BreakerConfig, BreakerState, CircuitBreaker, Permit};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

const ROUNDS: u32 = 50_000;
/// Failures of the old period per round: one fewer than `minimum_calls`, so they never judge.
const OLD_FAILURES: usize = 7;

/// Spins until `counter` reaches `value` (the other thread runs on another core or gets the
/// time slice given up here).
fn wait_for(counter: &AtomicU32, value: u32) {
    let mut spins = 0u32;
    while counter.load(SeqCst) != value {
        spins += 1;
        if spins % 64 == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Each round: one thread records seven failures of the current period while another resets the
/// breaker, starting a little later each round so that the reset sweeps over the records; then
/// eight successes fill the new period's window. One failure among them would be a rate of at
/// least 1/9 and open the breaker; the new period holds none, so it stays closed.
#[test]
fn failures_racing_a_reset_never_count_in_the_next_period() {
    let breaker = CircuitBreaker::new(
        "race",
        BreakerConfig::new()
            .failure_rate(0.1)
            .window(8)
            .minimum_calls(8),
    );
    let go = AtomicU32::new(0);
    let done = AtomicU32::new(0);
    let mut opened_in = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            for round in 1..=ROUNDS {
                wait_for(&go, round);
                breaker.reset();
                done.store(round, SeqCst);
            }
        });
        for round in 1..=ROUNDS {
            breaker.reset();
            // Nothing here panics: the other thread waits for every round.
            let old: Vec<Permit<'_>> = (0..OLD_FAILURES)
                .filter_map(|_| breaker.try_acquire().ok())
                .collect();
            go.store(round, SeqCst);
            (0..round % 256).for_each(|_| std::hint::spin_loop());
            old.into_iter().for_each(Permit::failure);
            wait_for(&done, round);
            for _ in 0..8 {
                breaker.try_acquire().map(Permit::success).ok();
            }
            if breaker.state() != BreakerState::Closed && opened_in.is_none() {
                opened_in = Some(round);
            }
        }
    });
    assert_eq!(opened_in, None, "an earlier period's failure counted");
}
