// A policy's name labels its events and metrics: it cannot be empty.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(name = "")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
