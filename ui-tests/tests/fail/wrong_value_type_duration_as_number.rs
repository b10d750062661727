// A duration is a string with a unit, not a bare number.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(recovery_timeout = 30)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
