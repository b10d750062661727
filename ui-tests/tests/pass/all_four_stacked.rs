// All four attributes stacked, in the recommended order.
#![deny(warnings)]

use resilient::{circuit_breaker, fallback, retry, timeout, Rejected};

#[derive(Debug)]
pub enum Error {
    Status(u16),
    Rejected(Rejected),
}

impl Error {
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Status(503))
    }
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Error::Rejected(rejected)
    }
}

async fn cached(id: u64) -> Result<u64, Error> {
    Ok(id)
}

#[fallback(|_err| cached(id))]
#[retry(max_attempts = 4, backoff = exponential(base = "100ms", max = "2s", jitter = 0.1), when = Error::is_transient, budget = "10s")]
#[circuit_breaker(failure_rate = 0.5, window = 20, minimum_calls = 10, recovery_timeout = "30s", slow_call = "2s", slow_call_rate = 0.8, name = "users")]
#[timeout("5s")]
pub async fn fetch_user(id: u64) -> Result<u64, Error> {
    if id == 0 {
        return Err(Error::Status(404));
    }
    Ok(id)
}

fn main() {}
