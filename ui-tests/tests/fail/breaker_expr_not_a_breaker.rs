// `breaker = ...` takes a `&CircuitBreaker`.
use resilient::{circuit_breaker, Rejected, RetryPolicy};

#[derive(Debug)]
struct Error;

impl From<Rejected> for Error {
    fn from(_: Rejected) -> Self {
        Error
    }
}

static POLICY: RetryPolicy = RetryPolicy::new();

#[circuit_breaker(breaker = &POLICY)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
