// Consecutive mode (`failure_threshold`) and rate mode (`failure_rate`) are exclusive.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_threshold = 3, failure_rate = 0.5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
