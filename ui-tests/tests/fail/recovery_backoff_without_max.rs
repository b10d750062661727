// A recovery backoff that grows needs the longest wait it may grow to.
use resilient::{circuit_breaker};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[circuit_breaker(recovery_timeout = "1m", recovery_backoff = exponential)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
