// `window` and `minimum_calls` belong to rate mode, which `failure_rate` turns on.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(window = 20)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
