// A tail expression of the wrong type in the body is reported at the expression, once, as
// without the attribute.
use resilient::{retry, Rejected};

#[derive(Debug)]
pub struct ApiError;

impl From<Rejected> for ApiError {
    fn from(_: Rejected) -> Self {
        ApiError
    }
}

#[retry(max_attempts = 3)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id as u32)
}

fn main() {}
