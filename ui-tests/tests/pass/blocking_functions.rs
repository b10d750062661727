// `circuit_breaker`, `retry` and `fallback` work on functions that are not async.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, Rejected};

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_threshold = 3, recovery_timeout = "10s")]
pub fn guarded(n: u32) -> Result<u32, Error> {
    Ok(n)
}

#[retry(max_attempts = 3, backoff = constant("10ms"))]
pub fn retried(n: u32) -> Result<u32, Error> {
    Ok(n)
}

#[fallback(|_err| Ok(0))]
pub fn with_fallback(n: u32) -> Result<u32, Error> {
    Ok(n)
}

fn main() {
    let _ = (guarded(1), retried(1), with_fallback(1));
}
