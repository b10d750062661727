// `slow_call_rate` is a rate: it needs rate mode (`failure_rate`).
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(slow_call = "2s", slow_call_rate = 0.8)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
