// A breaker's recovery backoff starts from `recovery_timeout`, so `max` must not be below it.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(recovery_timeout = "30s", recovery_backoff = exponential(max = "10s"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
