// Two keys in conflict: the error goes on the later one, whichever mode comes first.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.5, window = 20, failure_threshold = 3)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
