// `#[tracing::instrument]` below the resilient attributes records the whole call, retries
// included, whatever the arguments.
use resilient::{circuit_breaker, retry, Rejected};

#[derive(Debug)]
pub struct ApiError;

impl From<Rejected> for ApiError {
    fn from(_: Rejected) -> Self {
        ApiError
    }
}

#[retry(max_attempts = 2)]
#[circuit_breaker(failure_threshold = 3)]
#[tracing::instrument]
pub async fn fetch(request: String) -> Result<usize, ApiError> {
    Ok(request.len())
}

fn main() {}
