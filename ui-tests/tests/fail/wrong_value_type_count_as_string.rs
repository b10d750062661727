// A count is a number, not a string.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_threshold = "3")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
