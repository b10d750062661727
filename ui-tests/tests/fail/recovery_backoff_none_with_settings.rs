// `none` takes no settings, in a recovery backoff too.
use resilient::{circuit_breaker};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[circuit_breaker(recovery_backoff = none(max = "1m"))]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
