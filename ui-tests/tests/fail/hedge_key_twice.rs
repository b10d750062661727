// A key given twice: the second is the error.
use resilient::hedge;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::HedgePolicy = resilient::HedgePolicy::new();

#[hedge(delay = "10ms", delay = "20ms")]
pub async fn lookup(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
