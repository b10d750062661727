//! Helpers shared by the test files: the error type the annotated functions return, and a record
//! of their invocations on virtual time.
#![allow(dead_code, unreachable_pub)] // each test binary uses its own part

use resilient::{Rejected, RejectedKind};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The error type of the functions under test: their own failures, or a rejection by a layer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The n-th invocation failed (transient).
    #[error("invocation {0} failed")]
    Failed(u32),
    #[error("upstream answered {0}")]
    Status(u16),
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

impl ApiError {
    /// What a `when = ApiError::is_transient` retries: failures and 5xx answers.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Failed(_) | ApiError::Status(500..=599))
    }

    /// The kind of rejection, if a layer rejected the call.
    pub fn rejection(&self) -> Option<RejectedKind> {
        match self {
            ApiError::Rejected(r) => Some(r.kind()),
            _ => None,
        }
    }

    /// The rejection; panics on the function's own errors.
    #[track_caller]
    pub fn rejected(&self) -> &Rejected {
        match self {
            ApiError::Rejected(r) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

/// The invocations of a function's body: how many, and when each began.
pub struct Calls {
    start: Instant,
    times: Mutex<Vec<u64>>,
}

impl Calls {
    /// Starts the clock; create it inside the (paused) runtime.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            times: Mutex::new(Vec::new()),
        }
    }

    /// Records an invocation and returns its number, from 1.
    pub fn next(&self) -> u32 {
        let mut times = self.times.lock().unwrap();
        times.push(self.start.elapsed().as_millis() as u64);
        times.len() as u32
    }

    /// Records an invocation: the first `failures` fail with `ApiError::Failed(n)`, later ones
    /// return `Ok(n)`.
    pub fn fail_first(&self, failures: u32) -> Result<u32, ApiError> {
        let n = self.next();
        if n <= failures {
            Err(ApiError::Failed(n))
        } else {
            Ok(n)
        }
    }

    /// Invocations so far.
    pub fn count(&self) -> u32 {
        self.times.lock().unwrap().len() as u32
    }

    /// When each invocation began, in virtual milliseconds since [`Calls::new`].
    pub fn times(&self) -> Vec<u64> {
        self.times.lock().unwrap().clone()
    }

    /// Virtual time since [`Calls::new`].
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
