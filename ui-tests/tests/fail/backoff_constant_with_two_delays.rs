// `constant` takes one delay.
use resilient::{retry};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[retry(backoff = constant("1s", "2s"))]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
