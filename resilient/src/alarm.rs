//! Flags that a thread of their own lowers at a given instant, so that a hot path can ask "has that
//! time come?" with one load instead of a reading of the clock (an open breaker's rejections).
//!
//! One thread serves the whole process. It starts at the first [`raise_until`] and sleeps until the
//! next flag is due; a process that never arms a flag never starts it. Flags are lowered on the
//! real clock: callers arm one only when tokio's clock is the real one
//! ([`tokio_clock_is_real`](crate::clock::tokio_clock_is_real)), and read the clock themselves
//! otherwise.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A flag's value when lowered: raised values are non-zero.
pub(crate) const LOWERED: u64 = 0;

/// A flag to raise and the instant to lower it.
struct Alarm {
    at: Instant,
    flag: Arc<AtomicU64>,
    /// What the flag holds while this alarm is pending: a later raise of the same flag replaces it.
    raised: u64,
}

#[derive(Default)]
struct Pending {
    alarms: Vec<Alarm>,
}

impl Pending {
    /// Adds `alarm`, replacing any pending alarm on the same flag.
    fn set(&mut self, alarm: Alarm) {
        match self
            .alarms
            .iter_mut()
            .find(|a| Arc::ptr_eq(&a.flag, &alarm.flag))
        {
            Some(pending) => *pending = alarm,
            None => self.alarms.push(alarm),
        }
    }

    /// Lowers every flag whose alarm is due at `now` (unless it was raised again since), and
    /// returns when the next one is due.
    fn fire_due(&mut self, now: Instant) -> Option<Instant> {
        self.alarms.retain(|alarm| {
            let due = alarm.at <= now;
            if due {
                // Fails when the flag was raised again, for another alarm: that one stays pending.
                let _ = alarm
                    .flag
                    .compare_exchange(alarm.raised, LOWERED, AcqRel, Acquire);
            }
            !due
        });
        self.alarms.iter().map(|a| a.at).min()
    }
}

struct Alarms {
    pending: Mutex<Pending>,
    /// The thread that fires them; `None` if it could not be started.
    thread: Option<Thread>,
}

static ALARMS: OnceLock<Alarms> = OnceLock::new();

fn alarms() -> &'static Alarms {
    ALARMS.get_or_init(|| Alarms {
        pending: Mutex::new(Pending::default()),
        thread: std::thread::Builder::new()
            .name("resilient-alarms".into())
            .spawn(fire_forever)
            .ok()
            .map(|handle| handle.thread().clone()),
    })
}

fn fire_forever() {
    // The spawning thread is still inside `get_or_init`: wait until the alarms exist.
    let alarms = loop {
        match ALARMS.get() {
            Some(alarms) => break alarms,
            None => std::thread::park_timeout(Duration::from_millis(1)),
        }
    };
    loop {
        let next = alarms
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fire_due(Instant::now());
        match next {
            // Parking may end early (a new alarm, or spuriously): the loop looks again.
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        }
    }
}

/// Raises `flag` to `raised` (non-zero) and arranges for it to be lowered at `at` on the real
/// clock, unless it is raised again before. Returns `false`, with the flag lowered, when no
/// thread can lower it (the process could not start one): the caller then reads the clock.
///
/// The flag is raised before the alarm is set, so an alarm that fires at once still finds it.
pub(crate) fn raise_until(flag: &Arc<AtomicU64>, raised: u64, at: Instant) -> bool {
    debug_assert_ne!(raised, LOWERED);
    let alarms = alarms();
    let Some(thread) = &alarms.thread else {
        return false;
    };
    flag.store(raised, Release);
    alarms
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .set(Alarm {
            at,
            flag: Arc::clone(flag),
            raised,
        });
    thread.unpark();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn alarm(at: Instant, flag: &Arc<AtomicU64>, raised: u64) -> Alarm {
        flag.store(raised, Relaxed);
        Alarm {
            at,
            flag: Arc::clone(flag),
            raised,
        }
    }

    #[test]
    fn flags_are_lowered_when_due_and_not_before() {
        let start = Instant::now();
        let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut pending = Pending::default();
        pending.set(alarm(start + Duration::from_secs(2), &a, 7));
        pending.set(alarm(start + Duration::from_secs(1), &b, 9));
        assert_eq!(
            pending.fire_due(start + Duration::from_millis(999)),
            Some(start + Duration::from_secs(1))
        );
        assert_eq!((a.load(Relaxed), b.load(Relaxed)), (7, 9));
        assert_eq!(
            pending.fire_due(start + Duration::from_secs(1)),
            Some(start + Duration::from_secs(2))
        );
        assert_eq!((a.load(Relaxed), b.load(Relaxed)), (7, LOWERED));
        assert_eq!(pending.fire_due(start + Duration::from_secs(5)), None);
        assert_eq!(a.load(Relaxed), LOWERED);
    }

    #[test]
    fn raising_a_flag_again_replaces_its_alarm() {
        let start = Instant::now();
        let flag = Arc::new(AtomicU64::new(0));
        let mut pending = Pending::default();
        pending.set(alarm(start + Duration::from_secs(1), &flag, 3));
        pending.set(alarm(start + Duration::from_secs(10), &flag, 4));
        assert_eq!(pending.alarms.len(), 1);
        assert_eq!(
            pending.fire_due(start + Duration::from_secs(5)),
            Some(start + Duration::from_secs(10))
        );
        assert_eq!(flag.load(Relaxed), 4, "the first alarm was replaced");
    }

    #[test]
    fn an_alarm_does_not_lower_a_flag_raised_for_another() {
        let start = Instant::now();
        let flag = Arc::new(AtomicU64::new(0));
        let mut pending = Pending::default();
        pending.set(alarm(start, &flag, 3));
        // Raised again by code that has not set its alarm yet.
        flag.store(4, Relaxed);
        pending.fire_due(start);
        assert_eq!(flag.load(Relaxed), 4);
    }

    /// The thread itself, on the real clock: the flag comes down, and not before its instant.
    /// Bounded: it waits at most ten seconds for an alarm due in ten milliseconds.
    #[test]
    fn the_alarm_thread_lowers_a_flag_at_its_instant() {
        let flag = Arc::new(AtomicU64::new(0));
        let at = Instant::now() + Duration::from_millis(10);
        assert!(raise_until(&flag, 5, at));
        let give_up = Instant::now() + Duration::from_secs(10);
        while flag.load(Acquire) != LOWERED {
            assert!(Instant::now() < give_up, "the flag was never lowered");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(Instant::now() >= at, "lowered before its instant");
    }
}
