// `breaker = ...` after other keys: the error goes on `breaker`, the later key, naming them.
use resilient::{circuit_breaker};

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

#[circuit_breaker(failure_threshold = 3, when = |_e| true, breaker = &SHARED)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
