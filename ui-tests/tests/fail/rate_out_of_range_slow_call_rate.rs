// `slow_call_rate` is a rate: above 0 and at most 1.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.5, slow_call = "2s", slow_call_rate = 1.2)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
