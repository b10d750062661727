// A circuit breaker rejects calls: the error type must be able to hold a `Rejected`.
use resilient::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(failure_threshold = 3)]
async fn fetch() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
