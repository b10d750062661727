// Trial calls in flight are counted in 16 bits.
use resilient::{circuit_breaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

#[circuit_breaker(half_open_calls = 100000)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
