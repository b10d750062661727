// Without `max`, the longest wait is 60 s: a longer `base` is refused, for every kind alike.
use resilient::{retry};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[retry(backoff = linear(base = "90s"))]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
