// A duration needs its unit: "30" could be seconds or milliseconds.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(recovery_timeout = "30")]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
