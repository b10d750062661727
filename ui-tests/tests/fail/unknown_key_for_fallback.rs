// An unknown key of `#[fallback]`, with the valid ones.
use resilient::{fallback};

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

#[fallback(|_err| async { Ok(0) }, whenn = |_e| true)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
