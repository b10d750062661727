// How many calls at once is what a bulkhead is: it is required (or a bulkhead of one's own).
use resilient::bulkhead;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::Bulkhead = resilient::Bulkhead::new("shared", 4);

#[bulkhead(max_wait = "10ms")]
pub async fn query(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
