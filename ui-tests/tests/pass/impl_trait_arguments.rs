// `impl Trait` arguments keep working, blocking and async.
#![deny(warnings)]

use resilient::{circuit_breaker, retry, Rejected};
use std::fmt::Display;

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[retry(max_attempts = 2)]
pub async fn show(value: impl Display + Sync) -> Result<String, Error> {
    Ok(value.to_string())
}

#[circuit_breaker(failure_threshold = 3)]
pub fn total(values: impl Iterator<Item = u32> + Clone) -> Result<u32, Error> {
    Ok(values.clone().sum())
}

#[retry(max_attempts = 2)]
pub fn apply(f: impl Fn(u32) -> u32, x: u32) -> Result<u32, Error> {
    Ok(f(x))
}

fn main() {
    let _ = total([1, 2].into_iter());
    let _ = apply(|x| x + 1, 1);
}
