//! [`Rejected`]: a call a policy refused or abandoned, and how layers tell each other about it.

use crate::correlation::CorrelationId;
use std::cell::Cell;
use std::fmt;
use std::time::Duration;

/// Why a policy refused or abandoned a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectedKind {
    /// A circuit breaker is open (or half-open with every trial slot taken, or forced open): the
    /// call was refused without running.
    CircuitOpen,
    /// The call did not finish within its time limit and was cancelled.
    TimedOut,
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
    policy: &'static str,
    /// Nanoseconds: the time to wait for `CircuitOpen`, the time limit for `TimedOut`;
    /// [`NONE`] when there is none. One field keeps a rejection small: it is returned by value
    /// through every layer, millions of times a second from an open breaker.
    nanos: u64,
    correlation_id: Option<CorrelationId>,
}

/// `Rejected::nanos` when there is no duration to give.
const NONE: u64 = u64::MAX;

impl Rejected {
    #[inline]
    pub(crate) fn circuit_open(policy: &'static str, retry_after_nanos: Option<u64>) -> Self {
        let nanos = retry_after_nanos.map_or(NONE, |n| n.min(NONE - 1));
        let correlation_id = crate::correlation::current();
        Self {
            kind: RejectedKind::CircuitOpen,
            policy,
            nanos,
            correlation_id,
        }
    }

    pub(crate) fn timed_out(policy: &'static str, limit: Duration) -> Self {
        let nanos = crate::clock::nanos(limit).min(NONE - 1);
        let correlation_id = crate::correlation::current();
        Self {
            kind: RejectedKind::TimedOut,
            policy,
            nanos,
            correlation_id,
        }
    }

    fn duration(&self) -> Option<Duration> {
        (self.nanos != NONE).then(|| Duration::from_nanos(self.nanos))
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
    /// it allows a trial; for a half-open breaker whose trial slots are all taken, the wait that
    /// follows if a running trial fails (an upper bound: a slot may free sooner). `None` when
    /// nothing is known (a breaker forced open stays open until reset; a timed-out call may be
    /// retried at once).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            RejectedKind::CircuitOpen => self.duration(),
            RejectedKind::TimedOut => None,
        }
    }

    /// The correlation id of the request whose call was refused, if it ran in a
    /// [`correlation::scope`](crate::correlation::scope).
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        self.correlation_id
    }

    /// The time limit a [`TimedOut`](RejectedKind::TimedOut) call exceeded.
    pub fn time_limit(&self) -> Option<Duration> {
        match self.kind {
            RejectedKind::TimedOut => self.duration(),
            RejectedKind::CircuitOpen => None,
        }
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Rejected");
        d.field("kind", &self.kind).field("policy", &self.policy);
        match self.kind {
            RejectedKind::CircuitOpen => d.field("retry_after", &self.retry_after()),
            RejectedKind::TimedOut => d.field("time_limit", &self.time_limit()),
        };
        if let Some(id) = &self.correlation_id {
            d.field("correlation_id", id);
        }
        d.finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = self.policy;
        match (self.kind, self.duration()) {
            (RejectedKind::CircuitOpen, Some(after)) => write!(
                f,
                "circuit breaker `{policy}` is open: the call was rejected without running; retry after {after:?}"
            ),
            (RejectedKind::CircuitOpen, None) => write!(
                f,
                "circuit breaker `{policy}` is forced open: calls are rejected until it is reset"
            ),
            (RejectedKind::TimedOut, Some(limit)) => write!(
                f,
                "`{policy}` timed out after {limit:?} and was cancelled; it may be retried at once"
            ),
            (RejectedKind::TimedOut, None) => {
                write!(
                    f,
                    "`{policy}` timed out and was cancelled; it may be retried at once"
                )
            }
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
            RejectedKind::CircuitOpen => std::io::ErrorKind::Other,
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
// So a layer that returns a rejection as an error also marks it on the current thread with its
// origin: its own address and size. The layer around it, polled in the same call stack, takes the
// mark only if that is the address and size of the future it polls: only when the rejection comes
// straight from the layer it wraps. A rejection that user code saw and replaced with its own error
// (or passed on) was marked by a future inside the user's: elsewhere, or, where it sits at the
// very address of the user's future (which then holds little else), smaller than it by at least
// the user's state tag. So it is judged as the user's error. Each layer clears the mark before
// polling what it wraps, so a stale mark is never read.
//
// Blocking layers have no future to point at, and the layers the attribute macros write are not
// futures of their own: both take any mark from what they wrap, which they know is a layer.
thread_local! {
    static MARK: Cell<Option<Mark>> = const { Cell::new(None) };
}

/// A rejection's mark: its kind and the layer that marked it. 16 bytes, written to the
/// thread-local on every error a layer returns.
#[derive(Clone, Copy)]
struct Mark {
    address: *const (),
    size: u32,
    kind: RejectedKind,
}

/// Which layer marked an error: where it is and how large.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    address: *const (),
    size: u32,
}

impl Origin {
    /// A layer that is not a future: a blocking layer, or one the attribute macros wrote.
    pub(crate) const UNPLACED: Origin = Origin {
        address: std::ptr::null(),
        size: 0,
    };

    /// The origin of `layer`, a future that marks errors or that a layer polls.
    #[inline]
    pub(crate) fn of<T>(layer: &T) -> Origin {
        let size = u32::try_from(size_of::<T>()).unwrap_or(u32::MAX);
        Origin {
            address: std::ptr::from_ref(layer).cast(),
            size,
        }
    }
}

/// Forgets any mark, before a layer polls what it wraps.
#[inline]
pub(crate) fn clear_mark() {
    MARK.set(None);
}

/// Marks the error that `layer` is returning as a rejection of `kind` (or as none).
#[inline]
pub(crate) fn set_mark(kind: Option<RejectedKind>, layer: Origin) {
    MARK.set(kind.map(|kind| Mark {
        address: layer.address,
        size: layer.size,
        kind,
    }));
}

/// Takes the mark of the error just returned by `inner`, if `inner` set it; with `None`, the
/// inner future is a layer the attribute macros wrote (or a blocking layer), which marks every
/// error it returns, so any mark is its own.
#[inline]
pub(crate) fn take_mark(inner: Option<Origin>) -> Option<RejectedKind> {
    let mark = MARK.take()?;
    match inner {
        Some(inner) if (mark.address, mark.size) != (inner.address, inner.size) => None,
        _ => Some(mark.kind),
    }
}

/// Turns a rejection by `layer` into the caller's error and marks it for the enclosing layer.
#[inline]
pub(crate) fn reject<E: From<Rejected>>(rejected: Rejected, layer: Origin) -> E {
    set_mark(Some(rejected.kind), layer);
    E::from(rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_open_message_names_policy_and_wait() {
        let r = Rejected::circuit_open("payments", Some(1_500_000_000));
        assert_eq!(
            r.to_string(),
            "circuit breaker `payments` is open: the call was rejected without running; retry after 1.5s"
        );
        assert_eq!(r.policy(), "payments");
        assert_eq!(r.retry_after(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn timed_out_maps_to_io_timed_out_and_keeps_the_rejection() {
        let r = Rejected::timed_out("fetch", Duration::from_secs(5));
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

    #[test]
    fn forced_open_message_says_until_reset() {
        let r = Rejected::circuit_open("db", None);
        assert!(r.to_string().contains("until it is reset"), "{r}");
        assert_eq!(r.retry_after(), None);
    }

    #[test]
    fn a_rejection_is_small_and_says_its_durations() {
        assert!(
            std::mem::size_of::<Rejected>() <= 48,
            "{}",
            std::mem::size_of::<Rejected>()
        );
        let t = Rejected::timed_out("fetch", Duration::from_secs(5));
        assert_eq!(
            (t.retry_after(), t.time_limit()),
            (None, Some(Duration::from_secs(5)))
        );
        let o = Rejected::circuit_open("db", Some(7));
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
