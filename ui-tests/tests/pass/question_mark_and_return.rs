// `?` and `return` in the body, blocking and async.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, timeout, Rejected};

#[derive(Debug)]
pub enum Error {
    Parse(std::num::ParseIntError),
    Negative,
    Rejected(Rejected),
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(err: std::num::ParseIntError) -> Self {
        Error::Parse(err)
    }
}

#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
#[timeout("1s")]
pub async fn parse(text: &str) -> Result<i64, Error> {
    let n: i64 = text.trim().parse()?;
    if n < 0 {
        return Err(Error::Negative);
    }
    Ok(n)
}

#[fallback(|_err| Ok(0))]
#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
pub fn parse_blocking(text: &str) -> Result<i64, Error> {
    let n: i64 = text.trim().parse()?;
    if n < 0 {
        return Err(Error::Negative);
    }
    Ok(n)
}

fn main() {
    let _ = parse_blocking("1");
}
