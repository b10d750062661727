// Two attributes of one stack that say the crate is in different places.
use resilient::{circuit_breaker, retry};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[retry(crate = "resilient")]
#[circuit_breaker(crate = "other")]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
