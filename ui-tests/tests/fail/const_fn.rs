// A `const fn` cannot have layers that run at run time.
use resilient::{retry};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[retry(max_attempts = 2)]
pub const fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
