// A fallback's `when` path of another type: one error, at the path.
use resilient::{fallback};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

fn is_not_found(_: &std::io::Error) -> bool {
    true
}

#[fallback(|_err| async { Ok(0) }, when = is_not_found)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
