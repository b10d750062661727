// A key given twice: the second is the error.
use resilient::bulkhead;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::Bulkhead = resilient::Bulkhead::new("shared", 4);

#[bulkhead(max_concurrent = 10, max_concurrent = 20)]
pub async fn query(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
