// With `breaker = ...` the shared breaker's configuration applies: no other key may be given.
use resilient::{circuit_breaker, BreakerConfig, CircuitBreaker, Rejected};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

static SHARED: CircuitBreaker = CircuitBreaker::new("shared", BreakerConfig::new());

#[circuit_breaker(breaker = &SHARED, failure_threshold = 5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
