//! [`FallbackPolicy`]: the name and count of a `#[fallback]`, for the registry and metrics.

use crate::RejectedKind;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use tracing::Level;

/// What `#[fallback]` keeps in a `static`: its name and how often the fallback answered.
///
/// A fallback runs only after a failure, so counting it writes to one shared counter.
pub struct FallbackPolicy {
    name: &'static str,
    pub(crate) registration: crate::registry::sealed::Registration,
    fallbacks: AtomicU64,
    after_rejection: AtomicU64,
}

/// A snapshot of a [`FallbackPolicy`]'s counter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FallbackMetrics {
    /// Calls the fallback answered instead of the function.
    pub fallbacks: u64,
    /// Of those, the calls a layer inside rejected (an open circuit, a timeout) rather than the
    /// function's own error.
    pub after_rejection: u64,
}

impl FallbackPolicy {
    /// A fallback named `name` in events, metrics and the registry.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            registration: crate::registry::sealed::Registration::new(),
            fallbacks: AtomicU64::new(0),
            after_rejection: AtomicU64::new(0),
        }
    }

    /// The name in events and metrics.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What it counted so far.
    pub fn metrics(&self) -> FallbackMetrics {
        FallbackMetrics {
            fallbacks: self.fallbacks.load(Relaxed),
            after_rejection: self.after_rejection.load(Relaxed),
        }
    }

    /// Counts a call the fallback is about to answer, and reports it: `rejection` is what a
    /// layer inside refused the call with, if that is why.
    pub(crate) fn starts(&self, rejection: Option<RejectedKind>) {
        self.fallbacks.fetch_add(1, Relaxed);
        if rejection.is_some() {
            self.after_rejection.fetch_add(1, Relaxed);
        }
        let reason = match rejection {
            None => "error",
            Some(RejectedKind::CircuitOpen) => "circuit_open",
            Some(RejectedKind::TimedOut) => "timed_out",
        };
        let name = self.name;
        tracing::event!(
            name: "fallback.used",
            target: "resilient",
            Level::INFO,
            correlation_id = crate::correlation::field(),
            policy = name,
            reason,
            "`{name}` answered with its fallback ({reason})"
        );
    }
}

impl std::fmt::Debug for FallbackPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackPolicy")
            .field("name", &self.name)
            .finish()
    }
}
