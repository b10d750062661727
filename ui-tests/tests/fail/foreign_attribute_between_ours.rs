// An attribute macro of another crate between two of ours would be moved outside both: refused.
use resilient::{circuit_breaker, retry, Rejected};

#[derive(Debug)]
pub struct ApiError;

impl From<Rejected> for ApiError {
    fn from(_: Rejected) -> Self {
        ApiError
    }
}

#[retry(max_attempts = 2)]
#[test]
#[circuit_breaker(failure_threshold = 3)]
pub fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
