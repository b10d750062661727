// Attempts side by side need an async function.
use resilient::hedge;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::HedgePolicy = resilient::HedgePolicy::new();

#[hedge(delay = "10ms")]
pub fn lookup(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
