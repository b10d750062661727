// A mistake inside `recovery_backoff` is reported as the breaker's, not the retry's.
use resilient::{circuit_breaker};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[circuit_breaker(recovery_backoff = linear(max = "10m", factor = 2.0))]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
