// `policy = ...` after other keys: the error goes on `policy`, the later key.
use resilient::{retry};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::CircuitBreaker =
    resilient::CircuitBreaker::new("shared", resilient::BreakerConfig::new());
static POLICY: resilient::RetryPolicy = resilient::RetryPolicy::new();

#[retry(max_attempts = 3, policy = &POLICY)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
