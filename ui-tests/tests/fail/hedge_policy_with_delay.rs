// A policy of one's own comes with its settings: no other key beside it.
use resilient::hedge;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::HedgePolicy = resilient::HedgePolicy::new();

#[hedge(policy = &SHARED, delay = "10ms")]
pub async fn lookup(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
