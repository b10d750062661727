//! [`Bulkhead`]: at most `max_concurrent` calls in flight; the others wait for a slot in the order
//! they came, up to `max_wait`, or are refused.
//!
//! One atomic word holds the calls in flight and the calls waiting. While nobody waits, a call
//! takes a slot with one compare-and-swap and gives it back with one subtraction: no lock. A call
//! that finds every slot taken and may wait joins a queue under a mutex; a slot given back while
//! someone waits is handed to the first waiter under that mutex, so that a newcomer never
//! overtakes a waiter (newcomers take the fast path only while the queue is empty). A waiter holds
//! no slot; cancelled, it leaves the queue (or passes on the slot it was just handed) at once.
//!
//! The queue is a `VecDeque` kept for the bulkhead's life: a wait allocates only when the queue
//! grows beyond its longest length so far. Calls that get a slot at once and refusals never touch
//! it.

use crate::Rejected;
use crate::config::{ConfigError, ConfigValue, Live, check_count, or_panic};
use crate::name::{Name, PolicyName};
use crate::policy::{
    Kind, PolicyKind, PolicyMetrics, Refused, Registered, Registration, not_a_key, parse_count,
    parse_duration, set_each, show,
};
use crate::rejected::{Origin, reject, set_mark, take_mark};
use crate::striped::StripedCounter;
use crate::sync::{AtomicU32, AtomicU64, Mutex, maybe_const};
use pin_project::{pin_project, pinned_drop};
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tracing::Level;

/// A bulkhead, to keep in a `static`: at most `max_concurrent` calls run at once.
///
/// ```
/// use resilient::{Bulkhead, RejectedKind};
/// use std::time::Duration;
///
/// // Two calls at once; a third waits up to 100 ms for a slot.
/// static DATABASE: Bulkhead = Bulkhead::new("database", 2).max_wait(Duration::from_millis(100));
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let first = DATABASE.try_acquire().unwrap();
/// let _second = DATABASE.try_acquire().unwrap();
/// assert_eq!(DATABASE.try_acquire().unwrap_err().kind(), RejectedKind::BulkheadFull);
/// drop(first);
/// let third: Result<u32, resilient::Rejected> = DATABASE.call(async { Ok(3) }).await;
/// assert_eq!(third.unwrap(), 3);
/// # }
/// ```
pub struct Bulkhead {
    name: PolicyName,
    settings: Live<BulkheadSettings>,
    /// Whether it is in the [`crate::registry`] yet.
    pub(crate) registration: crate::policy::Registration,
    /// Calls in flight (low 32 bits) and calls waiting (high 32 bits). Waiting calls change only
    /// under `queue`'s lock.
    slots: AtomicU64,
    queue: Mutex<Queue>,
    stats: BulkheadStats,
}

/// What a [`Bulkhead`] is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BulkheadSettings {
    pub(crate) max_concurrent: u32,
    pub(crate) max_wait: Duration,
}

impl BulkheadSettings {
    /// Every rule, for settings changed at run time.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        check_max_concurrent(self.max_concurrent)
    }
}

/// One waiting unit in [`Slots::waiting`].
const WAITER: u64 = 1 << 32;

fn in_flight(slots: u64) -> u32 {
    slots as u32
}

fn waiting(slots: u64) -> u32 {
    (slots >> 32) as u32
}

/// The calls waiting for a slot, oldest first, by ticket. A waiter handed a slot stays (marked
/// `granted`) until it comes to take it, or is cancelled and passes it on.
struct Queue {
    next_ticket: u64,
    waiters: VecDeque<Waiter>,
}

struct Waiter {
    ticket: u64,
    granted: bool,
    /// How to wake it; taken when it is handed a slot.
    wake: Option<Wake>,
}

/// How a waiter is woken: a task, or a thread of a blocking caller.
enum Wake {
    Task(Waker),
    Thread(std::thread::Thread),
}

impl Wake {
    fn wake(self) {
        match self {
            Wake::Task(waker) => waker.wake(),
            Wake::Thread(thread) => thread.unpark(),
        }
    }
}

impl Queue {
    fn position(&self, ticket: u64) -> Option<usize> {
        self.waiters
            .binary_search_by_key(&ticket, |waiter| waiter.ticket)
            .ok()
    }
}

/// Counters of a [`Bulkhead`]: a call let through at once counts in this thread's row only.
struct BulkheadStats {
    admitted: StripedCounter,
    waited: AtomicU64,
    rejected: AtomicU64,
    peak: AtomicU32,
}

/// A snapshot of a [`Bulkhead`]'s counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// Calls let through, at once or after their wait.
    pub admitted: u64,
    /// Calls that waited for a slot (also counted in `admitted` or `rejected` after).
    pub waited: u64,
    /// Calls refused: every slot was taken, and stayed so as long as they could wait.
    pub rejected: u64,
    /// Calls running now.
    pub in_flight: u32,
    /// Calls waiting now.
    pub waiting: u32,
    /// The most calls ever in flight at once (the high-water mark).
    pub peak: u32,
}

/// Where a call that found every slot taken stands, after asking to wait.
enum Joined {
    /// A slot came free meanwhile: it has it.
    Admitted,
    /// In the queue with this ticket.
    Queued(u64),
}

/// What a waiter finds when it looks.
enum Look {
    /// It was handed a slot and left the queue.
    Admitted,
    /// Still waiting.
    Waiting,
}

impl Bulkhead {
    maybe_const! {
    /// At most `max_concurrent` calls at once; a call over it is refused at once (see
    /// [`max_wait`](Self::max_wait)).
    ///
    /// # Panics
    ///
    /// If `max_concurrent` is zero; in a `static` or `const` that is a compile-time error:
    ///
    /// ```compile_fail,E0080
    /// static NEVER: resilient::Bulkhead = resilient::Bulkhead::new("db", 0);
    /// ```
    pub fn new(name: &'static str, max_concurrent: u32) -> Self {
        or_panic!(check_max_concurrent(max_concurrent));
        Self::with(PolicyName::given(name), max_concurrent)
    }
    }

    maybe_const! {
    /// [`new`](Self::new) for `#[bulkhead]`: named after the annotated function.
    #[doc(hidden)]
    pub fn for_function(name: Name, max_concurrent: u32) -> Self {
        or_panic!(check_max_concurrent(max_concurrent));
        Self::with(PolicyName::of_function(name), max_concurrent)
    }
    }

    maybe_const! {
    fn with(name: PolicyName, max_concurrent: u32) -> Self {
        Self {
            name,
            settings: Live::new(BulkheadSettings {
                max_concurrent,
                max_wait: Duration::ZERO,
            }),
            registration: crate::policy::Registration::new(),
            slots: AtomicU64::new(0),
            queue: Mutex::new(Queue {
                next_ticket: 0,
                waiters: VecDeque::new(),
            }),
            stats: BulkheadStats {
                admitted: StripedCounter::new(),
                waited: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                peak: AtomicU32::new(0),
            },
        }
    }
    }

    /// [`new`](Self::new), or what is wrong with `max_concurrent`:
    ///
    /// ```
    /// use resilient::Bulkhead;
    /// let err = Bulkhead::try_new("db", 0).err().unwrap();
    /// assert_eq!(err.to_string(), "policy `db`: `max_concurrent` must be at least 1 (got 0)");
    /// ```
    pub fn try_new(name: &'static str, max_concurrent: u32) -> Result<Self, ConfigError> {
        check_max_concurrent(max_concurrent).map_err(|e| e.for_policy(name))?;
        Ok(Self::new(name, max_concurrent))
    }

    maybe_const! {
    /// How long a call may wait for a slot before it is refused; zero (the default) refuses it
    /// at once.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.settings.initial.max_wait = wait;
        self
    }
    }

    /// The name in events, rejections and metrics.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The settings in force: as built, or as last set at run time.
    pub(crate) fn settings(&self) -> crate::config::Current<'_, BulkheadSettings> {
        self.settings.get()
    }

    /// The settings it was built with.
    pub(crate) fn initial_settings(&self) -> &BulkheadSettings {
        &self.settings.initial
    }

    /// Replaces the settings, or explains why not (the old ones stay). Calls in flight keep their
    /// slots; with more slots, waiters are let in at once.
    pub(crate) fn reconfigure(&self, settings: BulkheadSettings) -> Result<(), ConfigError> {
        settings.check()?;
        self.settings.set(settings);
        while let Some(wake) = self.hand_over() {
            wake.wake();
        }
        Ok(())
    }

    /// Takes a slot now, or refuses: never waits. The slot is given back when the permit drops.
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_>, Rejected> {
        if self.try_enter() {
            Ok(BulkheadPermit { bulkhead: self })
        } else {
            Err(self.refuse(Duration::ZERO))
        }
    }

    /// Runs `fut` in a slot: at once if one is free, after waiting up to `max_wait` for one,
    /// else not at all (`E::from(Rejected)` of kind [`BulkheadFull`](crate::RejectedKind)).
    /// Dropped while waiting, the call leaves the queue; dropped or panicking while running, it
    /// gives its slot back.
    pub fn call<F, T, E>(&self, fut: F) -> BulkheadCall<'_, F>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        BulkheadCall {
            bulkhead: self,
            stage: Stage::Asking,
            registers: None,
            timer: None,
            fut,
        }
    }

    /// [`call`](Self::call) of an annotated function: the bulkhead registers on the first poll
    /// (see [`BreakerCall`](crate::BreakerCall)'s `registers`).
    pub(crate) fn generated<F, T, E>(&'static self, fut: F) -> BulkheadCall<'static, F>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        let mut call = self.call(fut);
        call.registers = Some(self);
        call
    }

    /// The blocking `f` in a slot, after putting the thread to sleep until one is handed to it if
    /// that comes within `max_wait`. For blocking callers.
    pub(crate) fn call_blocking<T, E: From<Rejected>>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let blocking = Origin::BLOCKING;
        let permit = self.acquire_blocking().map_err(|r| reject(r, blocking))?;
        let result = f();
        drop(permit);
        if result.is_err() {
            set_mark(take_mark(None), blocking);
        }
        result
    }

    /// A slot, waiting for it with the thread parked up to `max_wait`.
    fn acquire_blocking(&self) -> Result<BulkheadPermit<'_>, Rejected> {
        if self.try_enter() {
            return Ok(BulkheadPermit { bulkhead: self });
        }
        let max_wait = self.settings().max_wait;
        if max_wait.is_zero() {
            return Err(self.refuse(max_wait));
        }
        let ticket = match self.join(Wake::Thread(std::thread::current())) {
            Joined::Admitted => return Ok(BulkheadPermit { bulkhead: self }),
            Joined::Queued(ticket) => ticket,
        };
        let deadline = std::time::Instant::now().checked_add(max_wait);
        loop {
            if let Look::Admitted = self.look(ticket, None) {
                return Ok(BulkheadPermit { bulkhead: self });
            }
            match deadline.map(|d| d.saturating_duration_since(std::time::Instant::now())) {
                Some(left) if left.is_zero() => {
                    return match self.leave(ticket) {
                        true => Ok(BulkheadPermit { bulkhead: self }),
                        false => Err(self.refuse(max_wait)),
                    };
                }
                Some(left) => std::thread::park_timeout(left),
                None => std::thread::park(),
            }
        }
    }

    /// What it counted so far, and how many calls are in flight and waiting now.
    pub fn metrics(&self) -> BulkheadMetrics {
        let s = &self.stats;
        let slots = self.slots.load(Relaxed);
        BulkheadMetrics {
            admitted: s.admitted.sum(),
            waited: s.waited.load(Relaxed),
            rejected: s.rejected.load(Relaxed),
            in_flight: in_flight(slots),
            waiting: waiting(slots),
            peak: s.peak.load(Relaxed),
        }
    }

    /// Takes a slot if one is free and nobody waits for one: one compare-and-swap.
    #[inline]
    fn try_enter(&self) -> bool {
        let max = self.settings().max_concurrent;
        let mut slots = self.slots.load(Relaxed);
        loop {
            if waiting(slots) != 0 || in_flight(slots) >= max {
                return false;
            }
            match self
                .slots
                .compare_exchange_weak(slots, slots + 1, Acquire, Relaxed)
            {
                Ok(_) => {
                    self.admitted(in_flight(slots) + 1);
                    return true;
                }
                Err(now) => slots = now,
            }
        }
    }

    /// Counts a call let through, with `in_flight` calls now running.
    #[inline]
    fn admitted(&self, in_flight: u32) {
        self.stats.admitted.increment();
        if in_flight > self.stats.peak.load(Relaxed) {
            self.stats.peak.fetch_max(in_flight, Relaxed);
        }
    }

    /// Gives a slot back; when someone waits, hands it to the first waiter.
    #[inline]
    fn exit(&self) {
        let before = self.slots.fetch_sub(1, Release);
        if waiting(before) != 0 {
            if let Some(wake) = self.hand_over() {
                wake.wake();
            }
        }
    }

    /// Under the lock: if a slot is free and someone waits, hands it to the first waiter, and
    /// returns how to wake it (after the lock is released).
    fn hand_over(&self) -> Option<Wake> {
        let mut queue = self.lock();
        self.hand_over_locked(&mut queue)
    }

    fn hand_over_locked(&self, queue: &mut Queue) -> Option<Wake> {
        let max = self.settings().max_concurrent;
        let mut slots = self.slots.load(Acquire);
        loop {
            if waiting(slots) == 0 || in_flight(slots) >= max {
                return None;
            }
            // One more in flight, one fewer waiting.
            let handed = slots + 1 - WAITER;
            match self.slots.compare_exchange(slots, handed, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => slots = now,
            }
        }
        self.admitted(in_flight(slots) + 1);
        let first = queue
            .waiters
            .iter_mut()
            .find(|waiter| !waiter.granted)
            .expect("the waiting count matches the queue's waiters not yet handed a slot");
        first.granted = true;
        first.wake.take()
    }

    /// A call that found every slot taken asks to wait: it gets a slot freed meanwhile, or a
    /// ticket in the queue.
    fn join(&self, wake: Wake) -> Joined {
        let max = self.settings().max_concurrent;
        let mut queue = self.lock();
        self.stats.waited.fetch_add(1, Relaxed);
        let mut slots = self.slots.load(Acquire);
        loop {
            let (next, admitted) = if waiting(slots) == 0 && in_flight(slots) < max {
                (slots + 1, true)
            } else {
                (slots + WAITER, false)
            };
            match self.slots.compare_exchange(slots, next, AcqRel, Acquire) {
                Ok(_) if admitted => {
                    self.admitted(in_flight(next));
                    return Joined::Admitted;
                }
                Ok(_) => break,
                Err(now) => slots = now,
            }
        }
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiters.push_back(Waiter {
            ticket,
            granted: false,
            wake: Some(wake),
        });
        Joined::Queued(ticket)
    }

    /// Whether the waiter with `ticket` was handed a slot (then it leaves the queue); if not, and
    /// `waker` is given, it is the one to wake.
    fn look(&self, ticket: u64, waker: Option<&Waker>) -> Look {
        let mut queue = self.lock();
        let at = queue.position(ticket).expect("a waiter is in the queue");
        let waiter = &mut queue.waiters[at];
        if waiter.granted {
            queue.waiters.remove(at);
            return Look::Admitted;
        }
        if let Some(waker) = waker {
            match &mut waiter.wake {
                Some(Wake::Task(old)) if old.will_wake(waker) => {}
                wake => *wake = Some(Wake::Task(waker.clone())),
            }
        }
        Look::Waiting
    }

    /// The waiter with `ticket` gives up (its wait is over, or it was cancelled). Returns true if
    /// it had just been handed a slot, which it now holds.
    fn leave(&self, ticket: u64) -> bool {
        let mut queue = self.lock();
        let at = queue.position(ticket).expect("a waiter is in the queue");
        let waiter = queue.waiters.remove(at).expect("found above");
        if !waiter.granted {
            self.slots.fetch_sub(WAITER, AcqRel);
        }
        waiter.granted
    }

    /// A cancelled waiter leaves: a slot it was handed goes to the next waiter.
    fn cancel(&self, ticket: u64) {
        if self.leave(ticket) {
            self.exit();
        }
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, Queue> {
        // Nothing panics with the lock held: no user code runs under it.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refuse(&self, waited: Duration) -> Rejected {
        self.stats.rejected.fetch_add(1, Relaxed);
        // A retry around waits no particular time (see `rejected::refusal_wait`).
        crate::rejected::set_refusal_wait(Duration::ZERO);
        let rejected = Rejected::bulkhead_full(self.name(), waited);
        if tracing::level_filters::LevelFilter::current() >= Level::DEBUG {
            report_rejection(&rejected, self.settings().max_concurrent);
        }
        rejected
    }
}

/// Loom hooks: the slot accounting without tasks or timers, for the models, which see only the
/// public API.
#[cfg(loom)]
#[doc(hidden)]
impl Bulkhead {
    /// A slot now, else a place in the queue: `Ok(None)` admitted, `Ok(Some(ticket))` queued.
    pub fn loom_enter_or_queue(&self) -> Option<u64> {
        if self.try_enter() {
            return None;
        }
        match self.join(Wake::Task(Waker::noop().clone())) {
            Joined::Admitted => None,
            Joined::Queued(ticket) => Some(ticket),
        }
    }

    /// Whether the waiter with `ticket` was handed a slot (and now holds it).
    pub fn loom_look(&self, ticket: u64) -> bool {
        matches!(self.look(ticket, None), Look::Admitted)
    }

    /// The waiter with `ticket` is cancelled.
    pub fn loom_cancel(&self, ticket: u64) {
        self.cancel(ticket)
    }

    /// Gives back a slot taken by the hooks above.
    pub fn loom_exit(&self) {
        self.exit()
    }
}

impl std::fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = *self.settings();
        f.debug_struct("Bulkhead")
            .field("name", &self.name())
            .field("max_concurrent", &s.max_concurrent)
            .field("max_wait", &s.max_wait)
            .finish()
    }
}

#[cold]
#[inline(never)]
fn report_rejection(rejected: &Rejected, max_concurrent: u32) {
    tracing::event!(
        name: "bulkhead.rejected",
        target: "resilient",
        Level::DEBUG,
        correlation_id = crate::correlation::field(),
        policy = rejected.policy(),
        max_concurrent,
        "{rejected}"
    );
}

const fn check_max_concurrent(n: u32) -> Result<(), ConfigError> {
    check_count!("max_concurrent", n);
    Ok(())
}

/// A slot of a [`Bulkhead`], given back when dropped.
#[must_use = "the slot is given back as soon as the permit is dropped"]
pub struct BulkheadPermit<'a> {
    bulkhead: &'a Bulkhead,
}

impl Drop for BulkheadPermit<'_> {
    fn drop(&mut self) {
        self.bulkhead.exit();
    }
}

impl std::fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

/// Where a [`BulkheadCall`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Not polled yet: it asks for a slot on the first poll.
    Asking,
    /// In the queue with this ticket.
    Waiting(u64),
    /// Holding a slot: running the call.
    Running,
    /// Finished, its slot given back.
    Done,
}

/// The future of [`Bulkhead::call`].
#[pin_project(PinnedDrop)]
#[must_use = "futures do nothing unless polled"]
pub struct BulkheadCall<'a, F> {
    bulkhead: &'a Bulkhead,
    stage: Stage,
    /// A bulkhead the attributes built, to register on the first poll.
    registers: Option<&'static Bulkhead>,
    #[pin]
    timer: Option<Sleep>,
    #[pin]
    fut: F,
}

impl<F, T, E> Future for BulkheadCall<'_, F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = Origin::of(self.as_ref().get_ref());
        let mut this = self.project();
        let bulkhead = *this.bulkhead;
        if let Some(bulkhead) = this.registers.take() {
            crate::policy::on_first_use(bulkhead);
        }
        if *this.stage == Stage::Asking {
            if bulkhead.try_enter() {
                *this.stage = Stage::Running;
            } else {
                let max_wait = bulkhead.settings().max_wait;
                if max_wait.is_zero() {
                    *this.stage = Stage::Done;
                    return Poll::Ready(Err(reject(bulkhead.refuse(max_wait), me)));
                }
                match bulkhead.join(Wake::Task(cx.waker().clone())) {
                    Joined::Admitted => *this.stage = Stage::Running,
                    Joined::Queued(ticket) => {
                        if let Some(until) = Instant::now().checked_add(max_wait) {
                            this.timer.set(Some(tokio::time::sleep_until(until)));
                        }
                        *this.stage = Stage::Waiting(ticket);
                    }
                }
            }
        }
        if let Stage::Waiting(ticket) = *this.stage {
            if let Look::Waiting = bulkhead.look(ticket, Some(cx.waker())) {
                let timer = this.timer.as_mut().as_pin_mut();
                ready!(timer.map_or(Poll::Pending, |timer| timer.poll(cx)));
                // The wait is over: a slot handed over just now still counts.
                if !bulkhead.leave(ticket) {
                    *this.stage = Stage::Done;
                    let waited = bulkhead.settings().max_wait;
                    return Poll::Ready(Err(reject(bulkhead.refuse(waited), me)));
                }
            }
            this.timer.set(None);
            *this.stage = Stage::Running;
        }
        let inner = Some(Origin::of(this.fut.as_ref().get_ref()));
        let result = ready!(this.fut.poll(cx));
        *this.stage = Stage::Done;
        bulkhead.exit();
        if result.is_err() {
            // A rejection from the layer inside goes on to the layer outside.
            set_mark(take_mark(inner), me);
        }
        Poll::Ready(result)
    }
}

#[pinned_drop]
impl<F> PinnedDrop for BulkheadCall<'_, F> {
    /// Cancelled, or unwinding from a panic of the call: its place goes to the next caller.
    fn drop(self: Pin<&mut Self>) {
        match self.stage {
            Stage::Waiting(ticket) => self.bulkhead.cancel(ticket),
            Stage::Running => self.bulkhead.exit(),
            Stage::Asking | Stage::Done => {}
        }
    }
}

pub(crate) const KIND: Kind = Kind {
    kind: PolicyKind::Bulkhead,
    keys: &["max_concurrent", "max_wait"],
    check_form: |key, value| {
        let mut defaults = BulkheadSettings {
            max_concurrent: 1,
            max_wait: Duration::ZERO,
        };
        set(&mut defaults, key, value)
    },
};

fn set(s: &mut BulkheadSettings, key: &str, value: &str) -> Result<(), String> {
    match key {
        "max_concurrent" => s.max_concurrent = parse_count(value)?,
        "max_wait" => s.max_wait = parse_duration(value)?,
        _ => return Err(not_a_key(&[PolicyKind::Bulkhead])),
    }
    Ok(())
}

impl Registered for Bulkhead {
    fn name(&self) -> &'static str {
        Bulkhead::name(self)
    }

    fn kind(&self) -> PolicyKind {
        PolicyKind::Bulkhead
    }

    #[inline]
    fn registration(&self) -> &Registration {
        &self.registration
    }

    fn config(&self) -> BTreeMap<&'static str, String> {
        let s = *self.settings();
        BTreeMap::from([
            ("max_concurrent", s.max_concurrent.to_string()),
            ("max_wait", show(s.max_wait)),
        ])
    }

    fn metrics(&self) -> PolicyMetrics {
        PolicyMetrics::Bulkhead(Bulkhead::metrics(self))
    }

    fn apply(&'static self, values: &[(&str, &str)]) -> Result<(), Refused> {
        let mut settings = *self.initial_settings();
        set_each(&mut settings, values, set)?;
        Ok(self.reconfigure(settings)?)
    }
}
