// `impl Trait` in the `Ok` type of the return type: the generated code leaves it to inference.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, timeout, Rejected};
use std::fmt::Display;

#[derive(Debug)]
pub struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
#[timeout("1s")]
pub async fn label(id: u64) -> Result<impl Display, Error> {
    Ok(id)
}

#[retry(max_attempts = 2)]
pub fn numbers(n: u32) -> Result<impl Iterator<Item = u32>, Error> {
    Ok(0..n)
}

#[fallback(|_err| Ok(String::new()))]
pub fn name(id: u32) -> Result<impl Display, Error> {
    if id == 0 {
        return Err(Error);
    }
    Ok(id.to_string())
}

fn main() {
    let _ = numbers(3).map(|n| n.count());
    let _ = name(1).map(|n| n.to_string());
}
