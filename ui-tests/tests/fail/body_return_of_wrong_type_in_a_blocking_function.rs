// In a blocking function too, a `return` of the wrong type is reported at the returned value.
use resilient::{circuit_breaker, retry, Rejected};

#[derive(Debug)]
pub struct ApiError;

impl From<Rejected> for ApiError {
    fn from(_: Rejected) -> Self {
        ApiError
    }
}

#[retry(max_attempts = 3)]
#[circuit_breaker(failure_threshold = 3)]
pub fn fetch(id: u64) -> Result<u64, ApiError> {
    if id == 0 {
        return Ok("zero");
    }
    Ok(id as u32)
}

fn main() {}
