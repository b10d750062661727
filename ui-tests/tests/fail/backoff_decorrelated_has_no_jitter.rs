// Decorrelated jitter is random by design: it takes no `jitter`, and is not offered it back.
use resilient::{retry};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[retry(backoff = decorrelated(base = "1s", max = "10s", jitter = 0.5))]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
