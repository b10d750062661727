//! [`Rejected`]: a call a policy refused or abandoned, and how layers tell each other about it.

use crate::clock::{Deadline, Rounded};
use crate::correlation::CorrelationId;
use std::cell::Cell;
use std::fmt;
use std::time::Duration;
use typeid::ConstTypeId;

/// Why a policy refused or abandoned a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectedKind {
    /// A circuit breaker is open (or half-open with every trial slot taken, or forced open): the
    /// call was refused without running.
    CircuitOpen,
    /// The call did not finish within its time limit and was cancelled.
    TimedOut,
    /// A rate limiter is at its limit and the call's turn would come later than it may wait: the
    /// call was refused without running.
    RateLimited,
    /// A bulkhead has every slot taken and none came free while the call could wait: the call was
    /// refused without running.
    BulkheadFull,
}

impl RejectedKind {
    /// A refusal for load, by a rate limiter or a bulkhead: the call never reached the dependency
    /// (an enclosing breaker counts it as neither success nor failure) and may be tried again
    /// later (an enclosing retry does, after at least its `retry_after`).
    pub(crate) fn is_overload(self) -> bool {
        matches!(self, RejectedKind::RateLimited | RejectedKind::BulkheadFull)
    }
}

/// A call that a policy refused or abandoned.
///
/// Every layer that can refuse a call returns `E::from(Rejected)`, so the function's own error type
/// needs `From<Rejected>`; with `thiserror` that is one variant:
///
/// ```
/// use resilient::{Rejected, RejectedKind};
///
/// #[derive(Debug)]
/// enum ApiError {
///     Status(u16),
///     Rejected(Rejected),
/// }
///
/// impl From<Rejected> for ApiError {
///     fn from(rejected: Rejected) -> Self {
///         ApiError::Rejected(rejected)
///     }
/// }
///
/// fn should_page_someone(err: &ApiError) -> bool {
///     match err {
///         ApiError::Rejected(r) => r.kind() == RejectedKind::TimedOut,
///         ApiError::Status(code) => *code >= 500,
///     }
/// }
/// # let _ = should_page_someone;
/// ```
///
/// It is small, `Copy`-cheap to clone and never allocates: an open breaker can reject millions of
/// calls a second.
#[derive(Clone, PartialEq, Eq)]
pub struct Rejected {
    kind: RejectedKind,
    /// What the message says beyond the kind (a byte of the padding after `kind`).
    detail: Detail,
    policy: &'static str,
    /// For `CircuitOpen`, the [`Deadline`] of the opening (its bits), or for `TrialsBusy` the wait
    /// in nanoseconds; for `TimedOut`, the time limit in nanoseconds; [`NONE`] when there is none.
    /// One field keeps a rejection small: it is returned by value through every layer, millions
    /// of times a second from an open breaker. A deadline rather than a wait, so that an open
    /// breaker rejects without reading the clock: the time left is worked out when asked.
    nanos: u64,
    /// The correlation id's 128 bits, kept 8-byte aligned: an `Option<CorrelationId>` is 17
    /// bytes with its 16 at an odd offset, and every copy of a rejection (returned by value
    /// through each layer) then moved them in unaligned pieces that stalled the loads after.
    correlation_bits: [u64; 2],
    has_correlation_id: bool,
}

/// What a rejection's message says beyond its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detail {
    None,
    /// A half-open breaker with every trial slot taken.
    TrialsBusy,
    /// A timeout given no name ([`timeout`](crate::timeout)).
    Unnamed,
}

/// `Rejected::nanos` when there is no duration to give.
const NONE: u64 = u64::MAX;

impl Rejected {
    /// An open breaker's refusal: calls may go through again at `until` (none when forced open).
    #[inline]
    pub(crate) fn circuit_open(policy: &'static str, until: Option<Deadline>) -> Self {
        let until = until.map_or(NONE, Deadline::to_bits);
        Self::new(RejectedKind::CircuitOpen, Detail::None, policy, until)
    }

    /// A half-open breaker's refusal: every trial slot is taken.
    #[inline]
    pub(crate) fn trials_busy(policy: &'static str, retry_after_nanos: Option<u64>) -> Self {
        let nanos = retry_after_nanos.map_or(NONE, |n| n.min(NONE - 1));
        Self::new(RejectedKind::CircuitOpen, Detail::TrialsBusy, policy, nanos)
    }

    /// `nanos` is what the kind and detail say it is, [`NONE`] for none; the correlation id is
    /// the current one.
    #[inline]
    fn new(kind: RejectedKind, detail: Detail, policy: &'static str, nanos: u64) -> Self {
        let correlation = crate::correlation::current();
        Self {
            kind,
            detail,
            policy,
            nanos,
            correlation_bits: correlation.map_or([0; 2], |id| {
                let bits = id.as_uuid().as_u64_pair();
                [bits.0, bits.1]
            }),
            has_correlation_id: correlation.is_some(),
        }
    }

    /// A rate limiter's refusal: the call's turn comes in `wait_nanos`.
    pub(crate) fn rate_limited(policy: &'static str, wait_nanos: u64) -> Self {
        let wait = wait_nanos.min(NONE - 1);
        Self::new(RejectedKind::RateLimited, Detail::None, policy, wait)
    }

    /// A bulkhead's refusal, after waiting `waited` for a slot (zero: refused at once).
    pub(crate) fn bulkhead_full(policy: &'static str, waited: Duration) -> Self {
        let nanos = crate::clock::nanos(waited).min(NONE - 1);
        Self::new(RejectedKind::BulkheadFull, Detail::None, policy, nanos)
    }

    /// `named`: the policy has a name of its own (else it is the unnamed [`timeout`](crate::timeout)).
    pub(crate) fn timed_out(policy: &'static str, limit: Duration, named: bool) -> Self {
        let nanos = crate::clock::nanos(limit).min(NONE - 1);
        let detail = if named { Detail::None } else { Detail::Unnamed };
        Self::new(RejectedKind::TimedOut, detail, policy, nanos)
    }

    fn duration(&self) -> Option<Duration> {
        (self.nanos != NONE).then(|| Duration::from_nanos(self.nanos))
    }

    /// How long until calls may go through, worked out now from what the rejection holds.
    fn wait(&self) -> Option<Duration> {
        match self.detail {
            Detail::TrialsBusy => self.duration(),
            _ => (self.nanos != NONE).then(|| Deadline::from_bits(self.nanos).remaining()),
        }
    }

    /// Why the call was refused or abandoned.
    pub fn kind(&self) -> RejectedKind {
        self.kind
    }

    /// The name of the policy that refused the call (also in the message).
    pub fn policy(&self) -> &str {
        self.policy
    }

    /// How long until the policy would let a call through: for an open breaker, the time left until
    /// it allows a trial (worked out when asked, on tokio's clock: it shrinks as time passes, and
    /// is zero once the trial is due); for a half-open breaker whose trial slots are all taken, the wait that
    /// follows if a running trial fails (an upper bound: a slot may free sooner). `None` when
    /// nothing is known (a breaker forced open stays open until reset; a timed-out call may be
    /// retried at once; a full bulkhead frees a slot whenever a call in it ends).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            RejectedKind::CircuitOpen => self.wait(),
            RejectedKind::RateLimited => self.duration(),
            RejectedKind::TimedOut | RejectedKind::BulkheadFull => None,
        }
    }

    /// The correlation id of the request whose call was refused, if it ran in a
    /// [`correlation::scope`](crate::correlation::scope).
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        let [high, low] = self.correlation_bits;
        self.has_correlation_id
            .then(|| CorrelationId::from_uuid(uuid::Uuid::from_u64_pair(high, low)))
    }

    /// The time limit a [`TimedOut`](RejectedKind::TimedOut) call exceeded.
    pub fn time_limit(&self) -> Option<Duration> {
        match self.kind {
            RejectedKind::TimedOut => self.duration(),
            RejectedKind::CircuitOpen | RejectedKind::RateLimited | RejectedKind::BulkheadFull => {
                None
            }
        }
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Rejected");
        d.field("kind", &self.kind).field("policy", &self.policy);
        match self.kind {
            RejectedKind::CircuitOpen | RejectedKind::RateLimited => {
                d.field("retry_after", &self.retry_after())
            }
            RejectedKind::TimedOut => d.field("time_limit", &self.time_limit()),
            RejectedKind::BulkheadFull => d.field("waited", &self.duration()),
        };
        if let Some(id) = &self.correlation_id() {
            d.field("correlation_id", id);
        }
        d.finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = self.policy;
        let duration = match self.kind {
            RejectedKind::CircuitOpen => self.wait(),
            RejectedKind::TimedOut | RejectedKind::RateLimited | RejectedKind::BulkheadFull => {
                self.duration()
            }
        }
        .map(Rounded);
        match (self.kind, self.detail, duration) {
            (RejectedKind::CircuitOpen, Detail::TrialsBusy, Some(after)) => write!(
                f,
                "circuit breaker `{policy}` is half-open and every trial slot is taken: the call was rejected without running; retry after at most {after}"
            ),
            (RejectedKind::CircuitOpen, Detail::TrialsBusy, None) => write!(
                f,
                "circuit breaker `{policy}` is half-open and every trial slot is taken: the call was rejected without running"
            ),
            (RejectedKind::CircuitOpen, _, Some(after)) => write!(
                f,
                "circuit breaker `{policy}` is open: the call was rejected without running; retry after {after}"
            ),
            (RejectedKind::CircuitOpen, _, None) => write!(
                f,
                "circuit breaker `{policy}` is forced open: calls are rejected until it is reset"
            ),
            (RejectedKind::RateLimited, _, Some(after)) => write!(
                f,
                "rate limiter `{policy}` is at its limit: the call was rejected without running; retry after {after}"
            ),
            (RejectedKind::RateLimited, _, None) => write!(
                f,
                "rate limiter `{policy}` is at its limit: the call was rejected without running"
            ),
            (RejectedKind::BulkheadFull, _, Some(waited)) if waited.0 > Duration::ZERO => write!(
                f,
                "bulkhead `{policy}` is full: no slot came free in {waited}; the call was rejected without running"
            ),
            (RejectedKind::BulkheadFull, _, _) => write!(
                f,
                "bulkhead `{policy}` is full: the call was rejected without running"
            ),
            (RejectedKind::TimedOut, Detail::Unnamed, Some(limit)) => write!(
                f,
                "the call timed out after {limit} and was cancelled; it may be retried at once"
            ),
            (RejectedKind::TimedOut, Detail::Unnamed, None) => write!(
                f,
                "the call timed out and was cancelled; it may be retried at once"
            ),
            (RejectedKind::TimedOut, _, Some(limit)) => write!(
                f,
                "`{policy}` timed out after {limit} and was cancelled; it may be retried at once"
            ),
            (RejectedKind::TimedOut, _, None) => write!(
                f,
                "`{policy}` timed out and was cancelled; it may be retried at once"
            ),
        }
    }
}

impl std::error::Error for Rejected {}

impl From<Rejected> for std::io::Error {
    /// `TimedOut` becomes [`ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut), an open circuit
    /// [`ErrorKind::Other`](std::io::ErrorKind::Other); the `Rejected` stays reachable through
    /// [`get_ref`](std::io::Error::get_ref) and `downcast`.
    fn from(rejected: Rejected) -> Self {
        let kind = match rejected.kind {
            RejectedKind::TimedOut => std::io::ErrorKind::TimedOut,
            RejectedKind::CircuitOpen | RejectedKind::RateLimited | RejectedKind::BulkheadFull => {
                std::io::ErrorKind::Other
            }
        };
        std::io::Error::new(kind, rejected)
    }
}

// How layers talk across the user's error type.
//
// Each layer returns the caller's own `E`, made with `E::from(Rejected)` when it refuses a call, so
// an enclosing layer cannot look inside the error to see that it was a rejection. Yet it must know:
// a retry ends at once on an open circuit and retries a timeout whatever its `when` says; a breaker
// counts a timeout as a failure whatever its `when` says.
//
// So every layer, as it returns an error, marks it on the current thread: the rejection it stands
// for (or none) and the layer's type. The layer around it, polled in the same call stack, takes the
// mark only when the future it polls is of that very type, that is, when what it polls *is* the
// layer that marked. That proof is exact: a layer writes its mark as the last thing before it
// returns an error, so a mark of the polled future's type was written by that future just now; and
// a user's future (an `async` block, a combinator, a hand-written wrapper) is never of a layer's
// type, so whatever its code did with a rejection, the error it returns is the user's own, judged
// by `when`. Types are compared with their lifetimes erased (`typeid`), which is enough: a type
// cannot hold a value of its own type except through a pointer, and the future behind that
// pointer has a different type.
//
// The attributes compose the same async futures, so they recognise each other the same way. What
// the attributes write as code rather than as a future takes any mark, because nothing runs
// between the layer that marked and the taking: a retry loop's last attempt (taken by a fallback
// after it, or by `__private::layer` around it), and a blocking function's layers, which are
// closures: a generated one (a layer the attribute macros wrote, or the function's body, which
// forgets any mark its code left) takes any mark; a user's closure is user code, whose marks are
// never taken.
thread_local! {
    static MARK: Cell<Option<Mark>> = const { Cell::new(None) };
    /// The `retry_after` of the last refusal that asks the caller to come back later (a rate
    /// limiter's), for an enclosing retry to wait at least that long. Written with the mark of
    /// that refusal and read only when a mark of its kind is taken: marks pass from layer to
    /// layer with no other code between, so the two stay together.
    static REFUSAL_WAIT: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// A rejection's mark: its kind and the layer that marked it. 16 bytes, written to the
/// thread-local on every error a layer returns.
#[derive(Clone, Copy)]
struct Mark {
    layer: Origin,
    kind: RejectedKind,
}

/// Which layer marked an error: the type of the future that returned it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin(ConstTypeId);

/// The origin of marks made by blocking layers; no future is of this type.
struct BlockingLayer;
/// The origin a layer expects from a user's closure: no mark has it, so none is taken.
struct UserCode;

impl Origin {
    /// A blocking layer: a closure, not a future.
    pub(crate) const BLOCKING: Origin = Origin(ConstTypeId::of::<BlockingLayer>());

    /// What a layer around a user's closure expects: never a mark.
    pub(crate) const USER_CODE: Origin = Origin(ConstTypeId::of::<UserCode>());

    /// The origin of `layer`, a future that marks errors or that a layer polls.
    #[inline]
    pub(crate) fn of<T>(_layer: &T) -> Origin {
        Origin(ConstTypeId::of::<T>())
    }
}

/// Forgets any mark: what the function's body returns is its own result.
#[inline]
pub(crate) fn clear_mark() {
    MARK.set(None);
}

/// Marks the error that `layer` is returning as a rejection of `kind` (or as none).
#[inline]
pub(crate) fn set_mark(kind: Option<RejectedKind>, layer: Origin) {
    MARK.set(kind.map(|kind| Mark { layer, kind }));
}

/// Takes the mark of the error just returned by `inner`, if `inner` set it; with `None`, what just
/// returned is code the attribute macros wrote, ending with a layer (or the body they wrapped,
/// which forgets any mark), so any mark is its own.
#[inline]
pub(crate) fn take_mark(inner: Option<Origin>) -> Option<RejectedKind> {
    let mark = MARK.take()?;
    match inner {
        Some(inner) if mark.layer != inner => None,
        _ => Some(mark.kind),
    }
}

/// Turns a rejection by `layer` into the caller's error and marks it for the enclosing layer.
#[inline]
pub(crate) fn reject<E: From<Rejected>>(rejected: Rejected, layer: Origin) -> E {
    set_mark(Some(rejected.kind), layer);
    E::from(rejected)
}

/// Notes the wait of a refusal that asks to come back later, made by the layer that refuses
/// (not in [`reject`], which is on the path of every rejection of every layer).
pub(crate) fn set_refusal_wait(wait: Duration) {
    REFUSAL_WAIT.set(wait);
}

/// The `retry_after` of the refusal whose mark (of kind `RateLimited`) was just taken.
pub(crate) fn refusal_wait() -> Duration {
    REFUSAL_WAIT.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// An open breaker's rejection whose trial is due `nanos` from now.
    fn open_for(policy: &'static str, nanos: u64) -> Rejected {
        let until = Instant::now() + Duration::from_nanos(nanos);
        Rejected::circuit_open(policy, Some(Deadline::at(until)))
    }

    #[tokio::test(start_paused = true)]
    async fn circuit_open_message_names_policy_and_wait() {
        let r = open_for("payments", 1_500_000_000);
        assert_eq!(
            r.to_string(),
            "circuit breaker `payments` is open: the call was rejected without running; retry after 1.5s"
        );
        assert_eq!(r.policy(), "payments");
        assert_eq!(r.retry_after(), Some(Duration::from_millis(1500)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_worked_out_when_asked() {
        let r = open_for("payments", 30_000_000_000);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(r.retry_after(), Some(Duration::from_secs(10)));
        assert!(r.to_string().ends_with("retry after 10s"), "{r}");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(r.retry_after(), Some(Duration::ZERO));
    }

    #[test]
    fn timed_out_maps_to_io_timed_out_and_keeps_the_rejection() {
        let r = Rejected::timed_out("fetch", Duration::from_secs(5), true);
        assert_eq!(
            r.to_string(),
            "`fetch` timed out after 5s and was cancelled; it may be retried at once"
        );
        let io: std::io::Error = r.clone().into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(
            io.get_ref().and_then(|e| e.downcast_ref::<Rejected>()),
            Some(&r)
        );
        let open: std::io::Error = Rejected::circuit_open("db", None).into();
        assert_eq!(open.kind(), std::io::ErrorKind::Other);
    }

    #[tokio::test(start_paused = true)]
    async fn messages_round_durations_and_say_what_refused() {
        let open = open_for("payments", 29_999_999_999);
        assert_eq!(
            open.to_string(),
            "circuit breaker `payments` is open: the call was rejected without running; retry after 30s"
        );
        assert_eq!(
            open.retry_after(),
            Some(Duration::from_nanos(29_999_999_999))
        );
        let busy = Rejected::trials_busy("payments", Some(29_240_000_000));
        assert_eq!(
            busy.to_string(),
            "circuit breaker `payments` is half-open and every trial slot is taken: the call was rejected without running; retry after at most 29.2s"
        );
        assert_eq!(busy.kind(), RejectedKind::CircuitOpen);
        let unnamed = Rejected::timed_out("timeout", Duration::from_millis(1500), false);
        assert_eq!(
            unnamed.to_string(),
            "the call timed out after 1.5s and was cancelled; it may be retried at once"
        );
        assert_eq!(unnamed.policy(), "timeout");
    }

    #[test]
    fn the_longest_durations_are_kept_not_taken_for_none() {
        let busy = Rejected::trials_busy("db", Some(u64::MAX));
        assert_eq!(busy.retry_after(), Some(Duration::from_nanos(u64::MAX - 1)));
        let timed_out = Rejected::timed_out("fetch", Duration::MAX, true);
        assert_eq!(
            timed_out.time_limit(),
            Some(Duration::from_nanos(u64::MAX - 1))
        );
    }

    #[test]
    fn forced_open_message_says_until_reset() {
        let r = Rejected::circuit_open("db", None);
        assert!(r.to_string().contains("until it is reset"), "{r}");
        assert_eq!(r.retry_after(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_is_small_and_says_its_durations() {
        assert!(
            std::mem::size_of::<Rejected>() <= 48,
            "{}",
            std::mem::size_of::<Rejected>()
        );
        let t = Rejected::timed_out("fetch", Duration::from_secs(5), true);
        assert_eq!(
            (t.retry_after(), t.time_limit()),
            (None, Some(Duration::from_secs(5)))
        );
        let o = open_for("db", 7);
        assert_eq!(
            (o.retry_after(), o.time_limit()),
            (Some(Duration::from_nanos(7)), None)
        );
        assert_eq!(
            format!("{o:?}"),
            r#"Rejected { kind: CircuitOpen, policy: "db", retry_after: Some(7ns) }"#
        );
    }
}
