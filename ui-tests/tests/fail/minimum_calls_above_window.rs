// 30 calls can never be seen in a window of the last 20 calls.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(failure_rate = 0.5, window = 20, minimum_calls = 30)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
