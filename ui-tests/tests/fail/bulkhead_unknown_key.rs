// A misspelt key, with the nearest valid one.
use resilient::bulkhead;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::Bulkhead = resilient::Bulkhead::new("shared", 4);

#[bulkhead(max_concurent = 10)]
pub async fn query(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
