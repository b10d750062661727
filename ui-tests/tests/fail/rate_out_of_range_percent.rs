// A rate is a fraction: 50 % is written 0.5, not 50.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 50, window = 20)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
