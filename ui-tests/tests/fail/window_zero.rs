// A window of no calls can never reach a rate.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.5, window = 0)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
