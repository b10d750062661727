// A window is a number of calls or a period, not a float.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.5, window = 2.5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
