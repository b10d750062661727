// A stacked attribute under a renamed import is not recognised by the one above it, so it would
// silently wrap the outside of the stack: an error instead.
use resilient::{circuit_breaker as cb, retry, Rejected};

#[derive(Debug)]
pub struct ApiError;
impl From<Rejected> for ApiError {
    fn from(_: Rejected) -> Self {
        ApiError
    }
}

#[retry]
#[cb(failure_threshold = 2)]
async fn fetch() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
