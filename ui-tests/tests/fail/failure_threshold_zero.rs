// A breaker that opens after 0 failures makes no sense.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_threshold = 0)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
