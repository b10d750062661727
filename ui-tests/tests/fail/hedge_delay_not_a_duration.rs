// `delay` is a duration in quotes.
use resilient::hedge;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::HedgePolicy = resilient::HedgePolicy::new();

#[hedge(delay = 50)]
pub async fn lookup(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
