//! Loom models of the circuit breaker's state machine: every interleaving of a few threads on the
//! real code (`resilient/src/sync.rs` swaps the state word's atomics for loom's under `--cfg loom`).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p resilient --test loom --release
//! ```
//!
//! The breakers are leaked (`Box::leak`), so that threads can hand `Permit<'static>`s back to the
//! model's main thread. Clock readings are real (there is no tokio runtime under loom), so every
//! breaker here has a recovery timeout of zero: an opened breaker allows a trial at once, once its
//! deadline is published.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use resilient::{Backoff, BreakerConfig, BreakerState, CircuitBreaker, Permit, RejectedKind};
use std::time::Duration;

fn leaked(config: BreakerConfig) -> &'static CircuitBreaker {
    Box::leak(Box::new(CircuitBreaker::new("loom", config)))
}

/// One failure opens it; a trial is allowed at once.
fn quick(config: BreakerConfig) -> BreakerConfig {
    config.failure_threshold(1).recovery_timeout(Duration::ZERO)
}

/// A breaker opened (from the main thread) whose recovery timeout has already passed.
fn opened(config: BreakerConfig) -> &'static CircuitBreaker {
    let breaker = leaked(quick(config));
    breaker.try_acquire().expect("closed").failure();
    assert_eq!(breaker.state(), BreakerState::Open);
    breaker
}

/// Acquires, yielding to the other threads while the opening of the breaker is not yet published
/// (the only rejection a zero recovery timeout allows, apart from full trial slots).
fn acquire_eventually(breaker: &'static CircuitBreaker) -> Permit<'static> {
    loop {
        match breaker.try_acquire() {
            Ok(permit) => return permit,
            Err(_) => thread::yield_now(),
        }
    }
}

/// (a) Half-open with two trial slots, three callers at once: exactly two trials, one rejection.
#[test]
fn two_trial_slots_admit_exactly_two_of_three_callers() {
    loom::model(|| {
        let breaker = opened(BreakerConfig::new().half_open_calls(2));
        let callers: Vec<_> = (0..3)
            .map(|_| thread::spawn(move || breaker.try_acquire()))
            .collect();
        let results: Vec<_> = callers.into_iter().map(|t| t.join().unwrap()).collect();
        let trials = results
            .iter()
            .filter(|r| r.as_ref().is_ok_and(Permit::is_trial))
            .count();
        let rejected: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(trials, 2, "{results:?}");
        assert_eq!(rejected.len(), 1, "{results:?}");
        assert_eq!(rejected[0].kind(), RejectedKind::CircuitOpen);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // Both slots are still taken by the permits held here.
        assert!(breaker.try_acquire().is_err());
        drop(results);
        // Both released: both slots are free again, and no more than two.
        let a = breaker.try_acquire().expect("a slot was released");
        let b = breaker.try_acquire().expect("a second slot was released");
        assert!(a.is_trial() && b.is_trial());
        assert!(breaker.try_acquire().is_err(), "only two trial slots");
    });
}

/// (b) One trial slot: a trial dropped unrecorded releases its slot, racing another caller. Never
/// two trials at once; afterwards the slot is free, and it is still only one slot.
#[test]
fn a_dropped_trial_releases_its_slot_and_never_two_run_at_once() {
    loom::model(|| {
        let breaker = opened(BreakerConfig::new().half_open_calls(1));
        let holders = Arc::new(AtomicUsize::new(0));
        let granted = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (holders, granted) = (holders.clone(), granted.clone());
                thread::spawn(move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        assert!(permit.is_trial());
                        granted.fetch_add(1, SeqCst);
                        // Counted while the permit is alive: a second trial granted while this one
                        // holds the slot would see 1 here in some interleaving.
                        let others = holders.fetch_add(1, SeqCst);
                        assert_eq!(others, 0, "two trials in flight");
                        holders.fetch_sub(1, SeqCst);
                        drop(permit); // unrecorded: releases the slot
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        assert!(
            granted.load(SeqCst) >= 1,
            "the first caller found the slot free"
        );
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let metrics = breaker.metrics();
        assert_eq!(metrics.released, granted.load(SeqCst) as u64);
        assert_eq!((metrics.successes, metrics.failures), (0, 1));
        let trial = breaker.try_acquire().expect("the slot was released");
        assert!(trial.is_trial());
        assert!(breaker.try_acquire().is_err(), "still a single slot");
        trial.success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    });
}

/// (c) Late outcomes. A holds a closed-state permit; B's failure opens the breaker, B then probes
/// it and its successful trial closes it. A records a failure at any point of that: whenever it
/// lands after B's failure it is late and moves nothing, and if it lands first it is the failure
/// that opens (and B's is the late one). Either way: one opening, and closed at the end.
#[test]
fn a_late_failure_never_moves_the_state() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        let a = breaker.try_acquire().unwrap();
        let b = breaker.try_acquire().unwrap();
        let late = thread::spawn(move || a.failure());
        let prober = thread::spawn(move || {
            b.failure();
            let trial = acquire_eventually(breaker);
            assert!(trial.is_trial(), "an open breaker lets only trials through");
            trial.success();
        });
        late.join().unwrap();
        prober.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::Closed);
        assert_eq!(m.openings, 1, "{m:?}");
        assert_eq!((m.failures, m.successes), (2, 1), "{m:?}");
        // The closed period after the trial starts from zero failures.
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), BreakerState::Closed);
    });
}

/// (c') The same with the order fixed: A records only once it sees the breaker open (B's failure
/// opened it), so A's outcome is late whatever it is.
#[test]
fn an_outcome_recorded_after_the_breaker_opened_is_late() {
    for a_fails in [true, false] {
        loom::model(move || {
            let breaker = leaked(quick(BreakerConfig::new()));
            let a = breaker.try_acquire().unwrap();
            let b = breaker.try_acquire().unwrap();
            let opener = thread::spawn(move || b.failure());
            let late = thread::spawn(move || {
                while breaker.state() != BreakerState::Open {
                    thread::yield_now();
                }
                if a_fails { a.failure() } else { a.success() }
            });
            opener.join().unwrap();
            late.join().unwrap();
            let m = breaker.metrics();
            assert_eq!(m.state, BreakerState::Open);
            assert_eq!((m.openings, m.late_outcomes), (1, 1), "{m:?}");
            // Still the first opening, with its deadline: a trial goes through at once.
            let trial = breaker.try_acquire().expect("recovery timeout is zero");
            assert!(trial.is_trial());
            trial.success();
            assert_eq!(breaker.state(), BreakerState::Closed);
        });
    }
}

/// (c'') Two closed permits fail at once with a threshold of one: exactly one of them opens the
/// breaker, the other is late.
#[test]
fn of_two_racing_failures_exactly_one_opens() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        let permits = [
            breaker.try_acquire().unwrap(),
            breaker.try_acquire().unwrap(),
        ];
        let threads: Vec<_> = permits
            .into_iter()
            .map(|p| thread::spawn(move || p.failure()))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::Open);
        assert_eq!((m.openings, m.failures), (1, 2), "{m:?}");
        assert!(breaker.try_acquire().unwrap().is_trial());
    });
}

// ---------------------------------------------------------------------------------------------
// Races between a transition and the side effects that follow its compare-and-swap: each of
// these failed before the fix that came with it.
// ---------------------------------------------------------------------------------------------

/// `reset()` racing an opening: thread 1's failure wins the CAS Closed→Open (generation g+1) but
/// has not yet published the deadline (`opened()`); thread 2 resets (g+2), and its own failure
/// opens the breaker again (g+3) and publishes g+3; then thread 1 publishes g+1 over it. The word
/// says Open g+3, `open_generation` says g+1: every `try_acquire` is rejected ("not published
/// yet") until the next `reset()`, whatever the time.
#[test]
fn reset_racing_an_opening_never_leaves_the_breaker_stuck_open() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        let first = breaker.try_acquire().unwrap();
        let opener = thread::spawn(move || first.failure());
        let resetter = thread::spawn(move || {
            breaker.reset();
            if let Ok(permit) = breaker.try_acquire() {
                permit.failure();
            }
        });
        opener.join().unwrap();
        resetter.join().unwrap();
        // Closed, or open with a zero recovery timeout: either way a call goes through now.
        let state = breaker.state();
        assert!(
            breaker.try_acquire().is_ok(),
            "stuck: state {state:?}, and a breaker with a zero recovery timeout rejects"
        );
    });
}

/// A successful trial closes the breaker (CAS HalfOpen→Closed), but `closed()` zeroes
/// `openings_in_row` only afterwards. A failure in the new closed period that opens the breaker
/// in between counts itself as a *second* opening in a row and waits `backoff.delay(2)` (here two
/// hours) instead of the recovery timeout (zero) of a first opening.
#[test]
fn the_first_opening_after_a_close_waits_the_recovery_timeout() {
    loom::model(|| {
        let hour = Duration::from_secs(3600);
        let breaker = opened(
            BreakerConfig::new()
                .recovery_backoff(Backoff::exponential(hour, 10 * hour).jitter(0.0)),
        );
        let trial = breaker.try_acquire().unwrap();
        assert!(trial.is_trial());
        let closer = thread::spawn(move || trial.success());
        let failer = thread::spawn(move || {
            // Rejected while the trial runs; once it closed, a closed-state call that fails.
            if let Ok(permit) = breaker.try_acquire() {
                permit.failure();
            }
        });
        closer.join().unwrap();
        failer.join().unwrap();
        if breaker.state() == BreakerState::Open {
            // The first opening since the close: it waits the recovery timeout, zero.
            let result = breaker.try_acquire();
            assert!(
                result.is_ok(),
                "the first opening after a close waits the recovery timeout (0), got {:?}",
                result.err()
            );
        }
    });
}

/// A reference point for the two above: with a flag forcing the close to complete before the
/// failing call starts, everything is as the semantics say.
#[test]
fn an_opening_after_a_completed_close_waits_the_recovery_timeout() {
    loom::model(|| {
        let hour = Duration::from_secs(3600);
        let breaker = opened(
            BreakerConfig::new()
                .recovery_backoff(Backoff::exponential(hour, 10 * hour).jitter(0.0)),
        );
        let trial = breaker.try_acquire().unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let closer = thread::spawn(move || {
            trial.success();
            flag.store(true, SeqCst);
        });
        let failer = thread::spawn(move || {
            if closed.load(SeqCst) {
                breaker.try_acquire().unwrap().failure();
                assert!(breaker.try_acquire().unwrap().is_trial());
            }
        });
        closer.join().unwrap();
        failer.join().unwrap();
    });
}

/// The failure that loses the CAS to the other one's opening arrived after the state moved on:
/// DESIGN says it is counted in the metrics as late. `on_consecutive_failure` leaves its loop when
/// the reloaded word is no longer closed and counts nothing.
#[test]
fn a_failure_that_loses_the_race_to_an_opening_is_counted_late() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        let permits = [
            breaker.try_acquire().unwrap(),
            breaker.try_acquire().unwrap(),
        ];
        let threads: Vec<_> = permits
            .into_iter()
            .map(|p| thread::spawn(move || p.failure()))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let m = breaker.metrics();
        assert_eq!((m.openings, m.late_outcomes), (1, 1), "{m:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Rate windows: a new closed period starts empty, whatever the records in flight.
// ---------------------------------------------------------------------------------------------

/// Rate mode, judged once two calls are in: two failures open it, one does not. Over the last two
/// calls, or over an hour (every call of a model run falls in it).
fn rate_breakers() -> [&'static CircuitBreaker; 2] {
    let rate = BreakerConfig::new()
        .failure_rate(1.0)
        .minimum_calls(2)
        .recovery_timeout(Duration::ZERO);
    [
        leaked(rate.window(2)),
        leaked(rate.time_window(Duration::from_secs(3600))),
    ]
}

/// A failure of the first closed period is recorded while `reset()` starts the next one, in which
/// one more failure is recorded. Whichever comes first, the new period's window holds exactly that
/// one failure: the old one never counts in it, so the breaker stays closed.
#[test]
fn a_reset_racing_a_record_starts_the_window_empty() {
    for window in 0..2 {
        loom::model(move || {
            let breaker = rate_breakers()[window];
            let old = breaker.try_acquire().unwrap();
            let recorder = thread::spawn(move || old.failure());
            let resetter = thread::spawn(move || {
                breaker.reset();
                breaker.try_acquire().unwrap().failure();
            });
            recorder.join().unwrap();
            resetter.join().unwrap();
            assert_eq!(breaker.window_totals(), Some((1, 1, 0)));
            assert_eq!(breaker.state(), BreakerState::Closed);
        });
    }
}

/// Two failures of one period race each other: the window holds both, and exactly one of them
/// opens the breaker.
#[test]
fn racing_records_of_one_period_are_all_counted() {
    for window in 0..2 {
        loom::model(move || {
            let breaker = rate_breakers()[window];
            let permits = [
                breaker.try_acquire().unwrap(),
                breaker.try_acquire().unwrap(),
            ];
            let threads: Vec<_> = permits
                .into_iter()
                .map(|p| thread::spawn(move || p.failure()))
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let m = breaker.metrics();
            assert_eq!((m.state, m.openings), (BreakerState::Open, 1), "{m:?}");
        });
    }
}

/// A failure that makes the rate open the breaker races `reset()`: the opening belongs to the
/// period the failure was in, so the reset either comes after it (and closes) or makes the
/// failure late. Either way the breaker ends closed: never an opening of the reset's new period.
#[test]
fn a_rate_opening_racing_a_reset_never_opens_the_next_period() {
    loom::model(|| {
        let breaker = leaked(
            BreakerConfig::new()
                .failure_rate(1.0)
                .window(2)
                .minimum_calls(1),
        );
        let permit = breaker.try_acquire().unwrap();
        let opener = thread::spawn(move || permit.failure());
        let resetter = thread::spawn(move || breaker.reset());
        opener.join().unwrap();
        resetter.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::Closed, "{m:?}");
        assert_eq!(m.openings + m.late_outcomes, 1, "{m:?}");
    });
}

/// Two records of one period fill a two-slot window while a third, of the period before, lands
/// late: the window holds the two, never a third call, and never loses one of them to the late one.
#[test]
fn a_late_record_never_counts_nor_displaces_the_current_period() {
    loom::model(|| {
        let breaker = leaked(
            BreakerConfig::new()
                .failure_rate(1.0)
                .window(2)
                .minimum_calls(2),
        );
        let old = breaker.try_acquire().unwrap();
        breaker.reset();
        let late = thread::spawn(move || old.failure());
        let current: Vec<_> = (0..2)
            .map(|_| {
                let permit = breaker.try_acquire().unwrap();
                thread::spawn(move || permit.success())
            })
            .collect();
        late.join().unwrap();
        for t in current {
            t.join().unwrap();
        }
        assert_eq!(breaker.window_totals(), Some((2, 0, 0)));
        assert_eq!(breaker.metrics().late_outcomes, 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Outage bookkeeping: a manual transition racing an automatic one.
// ---------------------------------------------------------------------------------------------

/// A successful trial closes the breaker while `reset()` closes it too. Whichever wins, there is
/// no outage left running, and exactly one of: a recovery as long as all the time spent open, or
/// a late trial outcome.
#[test]
fn a_reset_racing_a_recovery_keeps_the_outage_figures() {
    loom::model(|| {
        let breaker = opened(BreakerConfig::new());
        let trial = breaker.try_acquire().unwrap();
        assert!(trial.is_trial());
        let closer = thread::spawn(move || trial.success());
        let resetter = thread::spawn(move || breaker.reset());
        closer.join().unwrap();
        resetter.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::Closed);
        assert!(!breaker.outage_in_progress(), "{m:?}");
        assert_eq!(m.recoveries + m.late_outcomes, 1, "{m:?}");
        if m.recoveries == 1 {
            assert_eq!(m.last_recovery, Some(m.time_open), "{m:?}");
            assert_eq!(m.mttr, Some(m.time_open), "{m:?}");
        }
    });
}

/// A successful trial closes the breaker while `force_open()` forces it open. It ends forced
/// open, in an outage; a recovery, if the trial won, is no longer than the time open so far.
#[test]
fn a_forced_opening_racing_a_recovery_keeps_the_outage_running() {
    loom::model(|| {
        let breaker = opened(BreakerConfig::new());
        let trial = breaker.try_acquire().unwrap();
        let closer = thread::spawn(move || trial.success());
        let forcer = thread::spawn(move || breaker.force_open());
        closer.join().unwrap();
        forcer.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::ForcedOpen);
        assert!(breaker.outage_in_progress(), "{m:?}");
        assert_eq!(m.recoveries + m.late_outcomes, 1, "{m:?}");
        assert_eq!(m.openings, 1, "{m:?}");
    });
}

/// A failure opens the breaker while `reset()` closes it: if it ends closed no outage runs, if
/// it ends open one does; never an opening uncounted.
#[test]
fn a_reset_racing_an_opening_keeps_the_outage_figures() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        let permit = breaker.try_acquire().unwrap();
        let opener = thread::spawn(move || permit.failure());
        let resetter = thread::spawn(move || breaker.reset());
        opener.join().unwrap();
        resetter.join().unwrap();
        let m = breaker.metrics();
        match m.state {
            BreakerState::Closed => assert!(!breaker.outage_in_progress(), "{m:?}"),
            BreakerState::Open => assert!(breaker.outage_in_progress(), "{m:?}"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(m.openings + m.late_outcomes, 1, "{m:?}");
        assert_eq!(m.recoveries, 0, "{m:?}");
    });
}

/// An opening raises the quiet flag after publishing its deadline: a rejection that skips the
/// clock on seeing the flag always says when the trial is due, never a deadline not yet written.
#[test]
fn a_quiet_rejection_carries_the_published_deadline() {
    loom::model(|| {
        let breaker = leaked(
            BreakerConfig::new()
                .failure_threshold(1)
                .recovery_timeout(Duration::from_secs(3600)),
        );
        let opener = thread::spawn(move || breaker.try_acquire().expect("closed").failure());
        let caller = thread::spawn(move || match breaker.try_acquire() {
            Ok(permit) => permit.success(),
            Err(rejected) => {
                assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
                let wait = rejected
                    .retry_after()
                    .expect("an opening's rejection says when");
                assert!(wait > Duration::from_secs(3000), "{wait:?}");
            }
        });
        opener.join().unwrap();
        caller.join().unwrap();
        let rejected = breaker.try_acquire().expect_err("open for an hour");
        assert!(rejected.retry_after().unwrap() > Duration::from_secs(3000));
    });
}

// ---------------------------------------------------------------------------------------------
// The cluster's transitions (`shared::breaker`): made by one task, raced by the callers.
// ---------------------------------------------------------------------------------------------

/// The cluster holds the breaker open while a caller's failure opens it locally. Whichever goes
/// first, it ends held (no trial, though its own recovery timeout is zero), counted as one
/// opening, with its bookkeeping done.
#[test]
fn a_cluster_hold_racing_a_local_opening_ends_held_and_counted_once() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        let cluster = thread::spawn(move || breaker.loom_hold_for_cluster(Some(Duration::ZERO)));
        let caller = thread::spawn(move || {
            if let Ok(permit) = breaker.try_acquire() {
                permit.failure();
            }
        });
        cluster.join().unwrap();
        caller.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::Open);
        assert_eq!(m.openings, 1, "{m:?}");
        assert!(breaker.outage_in_progress());
        let rejected = breaker
            .try_acquire()
            .expect_err("held: no trial of its own");
        assert_eq!(rejected.kind(), RejectedKind::CircuitOpen);
    });
}

/// The cluster leases the trials to this replica while two callers arrive: at most one of them
/// gets the trial (one slot), and if neither did, the next caller does.
#[test]
fn a_trial_let_go_by_the_cluster_admits_one_caller() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        breaker.loom_hold_for_cluster(Some(Duration::from_secs(60)));
        let cluster = thread::spawn(move || breaker.loom_release_for_trial());
        let callers: Vec<_> = (0..2)
            .map(|_| thread::spawn(move || breaker.try_acquire().ok()))
            .collect();
        cluster.join().unwrap();
        let permits: Vec<_> = callers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .collect();
        assert!(permits.len() <= 1, "{permits:?}");
        assert!(permits.iter().all(Permit::is_trial));
        if permits.is_empty() {
            assert!(
                breaker
                    .try_acquire()
                    .expect("let go for a trial")
                    .is_trial()
            );
        } else {
            assert!(breaker.try_acquire().is_err(), "one trial slot");
        }
    });
}

/// The cluster's breaker closes while a caller is rejected: the breaker ends closed, its outage
/// ended and counted as one recovery.
#[test]
fn the_cluster_closing_racing_a_rejection_closes_the_breaker() {
    loom::model(|| {
        let breaker = leaked(quick(BreakerConfig::new()));
        breaker.loom_hold_for_cluster(Some(Duration::from_secs(60)));
        let cluster = thread::spawn(move || breaker.loom_end_cluster_hold(None));
        let caller = thread::spawn(move || {
            if let Ok(permit) = breaker.try_acquire() {
                assert!(!permit.is_trial(), "closed by the cluster, not by a trial");
                permit.success();
            }
        });
        cluster.join().unwrap();
        caller.join().unwrap();
        let m = breaker.metrics();
        assert_eq!(m.state, BreakerState::Closed);
        assert!(!breaker.outage_in_progress(), "{m:?}");
        assert_eq!((m.recoveries, m.openings), (1, 1), "{m:?}");
    });
}

/// A limiter with a turn every 100 ns and a burst of one, leaked so threads can share it.
fn one_at_a_time() -> &'static resilient::RateLimiter {
    Box::leak(Box::new(
        resilient::RateLimiter::new("loom.rate", 10_000_000, Duration::from_secs(1)).burst(1),
    ))
}

/// Two callers at the same instant with a burst of one: exactly one goes through, and the other
/// is refused with the wait until the next turn.
#[test]
fn two_callers_at_one_instant_share_one_turn() {
    loom::model(|| {
        let limiter = one_at_a_time();
        let callers: Vec<_> = (0..2)
            .map(|_| thread::spawn(move || limiter.turn_at(1_000, 0)))
            .collect();
        let mut turns: Vec<_> = callers.into_iter().map(|t| t.join().unwrap()).collect();
        turns.sort();
        assert_eq!(turns, vec![Ok(None), Err(100)]);
    });
}

/// Two callers that may wait, while a third gives its reserved turn back: whatever the order,
/// no two calls get the same turn, and a turn given back goes to a later caller or stays free.
#[test]
fn a_turn_given_back_is_never_taken_twice() {
    loom::model(|| {
        let limiter = one_at_a_time();
        assert_eq!(limiter.turn_at(1_000, 500), Ok(None), "the turn at 1000");
        let Ok(Some((at, reserved))) = limiter.turn_at(1_000, 500) else {
            panic!("a reserved turn")
        };
        assert_eq!(at, 1_100);
        let giver = thread::spawn(move || limiter.give_back_turn(reserved));
        let callers: Vec<_> = (0..2)
            .map(|_| thread::spawn(move || limiter.turn_at(1_000, 500)))
            .collect();
        let gave = giver.join().unwrap();
        let mut turns: Vec<u64> = callers
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap()
                    .expect("within the wait")
                    .expect("a turn to wait for")
                    .0
            })
            .collect();
        turns.sort();
        if gave {
            // Given back before either reserved: they take 1100 and 1200.
            assert_eq!(turns, [1_100, 1_200]);
        } else {
            // A caller reserved first: the turn could not go back, and they take the next two.
            assert_eq!(turns, [1_200, 1_300]);
        }
    });
}

/// A bulkhead of `max` slots that waiters may wait in for ever, leaked so threads can share it.
fn bulkhead(max: u32) -> &'static resilient::Bulkhead {
    Box::leak(Box::new(
        resilient::Bulkhead::new("loom.bulkhead", max).max_wait(Duration::from_secs(3600)),
    ))
}

/// Takes a slot, waiting in the queue (yielding) until one is handed over.
fn enter(bulkhead: &'static resilient::Bulkhead) {
    if let Some(ticket) = bulkhead.loom_enter_or_queue() {
        while !bulkhead.loom_look(ticket) {
            thread::yield_now();
        }
    }
}

/// One slot, its holder leaving while a caller arrives (taking the slot at once, or queueing and
/// being handed it): never two in the slot, the caller runs, and nothing is left in flight or
/// waiting (a slot freed while the caller queues is not lost).
#[test]
fn one_slot_is_never_held_twice_and_no_caller_is_stranded() {
    loom::model(|| {
        let bulkhead = bulkhead(1);
        enter(bulkhead);
        let inside = Arc::new(AtomicUsize::new(1));
        let holder = {
            let inside = Arc::clone(&inside);
            thread::spawn(move || {
                inside.fetch_sub(1, SeqCst);
                bulkhead.loom_exit();
            })
        };
        let caller = {
            let inside = Arc::clone(&inside);
            thread::spawn(move || {
                enter(bulkhead);
                assert_eq!(inside.fetch_add(1, SeqCst), 0, "the slot was free");
                inside.fetch_sub(1, SeqCst);
                bulkhead.loom_exit();
            })
        };
        holder.join().unwrap();
        caller.join().unwrap();
        let m = bulkhead.metrics();
        assert_eq!((m.admitted, m.in_flight, m.waiting, m.peak), (2, 0, 0, 1));
    });
}

/// Two waiters behind a held slot; the first is cancelled while the slot is given back: whatever
/// the order, the slot ends with the second waiter, once, and the count of waiters is exact.
#[test]
fn a_cancelled_waiter_racing_a_release_passes_the_slot_to_the_next() {
    loom::model(|| {
        let bulkhead = bulkhead(1);
        enter(bulkhead);
        let first = bulkhead.loom_enter_or_queue().expect("queued");
        let second = bulkhead.loom_enter_or_queue().expect("queued");
        let canceller = thread::spawn(move || bulkhead.loom_cancel(first));
        let releaser = thread::spawn(move || bulkhead.loom_exit());
        canceller.join().unwrap();
        releaser.join().unwrap();
        let m = bulkhead.metrics();
        assert_eq!((m.in_flight, m.waiting), (1, 0), "handed to the second");
        assert!(bulkhead.loom_look(second));
        bulkhead.loom_exit();
        assert!(bulkhead.try_acquire().is_ok());
    });
}
