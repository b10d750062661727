// A failure rate of 0 would open the breaker on success: rates are above 0 and at most 1.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.0, window = 20)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
