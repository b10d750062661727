// `when` as a function path, a method path and a closure, on every attribute that takes it.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, Rejected};
use std::cell::Cell;

#[derive(Debug)]
pub enum Error {
    Busy,
    Invalid,
    Rejected(Rejected),
}

impl Error {
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Busy)
    }
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

fn counts(err: &Error) -> bool {
    !matches!(err, Error::Invalid)
}

#[retry(max_attempts = 3, when = Error::is_transient)]
#[circuit_breaker(failure_threshold = 3, when = counts)]
pub async fn fetch(id: u64) -> Result<u64, Error> {
    Ok(id)
}

#[retry(max_attempts = 3, when = |err| matches!(err, Error::Busy))]
#[circuit_breaker(failure_threshold = 3, when = |err: &Error| !matches!(err, Error::Invalid))]
pub fn fetch_blocking(id: u64) -> Result<u64, Error> {
    Ok(id)
}

#[fallback(|_err| Ok(0), when = |err| matches!(err, Error::Busy))]
pub fn with_fallback(id: u64) -> Result<u64, Error> {
    Ok(id)
}

// A blocking function's predicate need not be shared between threads.
#[retry(max_attempts = 3, when = |_err| {
    judged.set(judged.get() + 1);
    true
})]
pub fn counted(id: u64, judged: &Cell<u32>) -> Result<u64, Error> {
    Ok(id)
}

fn main() {
    let _ = (fetch_blocking(1), with_fallback(1), counted(1, &Cell::new(0)));
}
