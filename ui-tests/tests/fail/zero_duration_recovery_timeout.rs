// A breaker that recovers after no time at all is not a breaker.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(recovery_timeout = "0s")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
