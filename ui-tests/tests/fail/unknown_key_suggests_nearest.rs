// A misspelt key: the error names the nearest valid one.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_treshold = 3)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
