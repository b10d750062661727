// A key given twice: the second is the error.
use resilient::rate_limit;

#[derive(Debug)]
pub struct ApiError;

impl From<resilient::Rejected> for ApiError {
    fn from(_: resilient::Rejected) -> Self {
        ApiError
    }
}

static SHARED: resilient::RateLimiter =
    resilient::RateLimiter::new("shared", 10, std::time::Duration::from_secs(1));

#[rate_limit(rate = 10, rate = 20)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    let _ = &SHARED;
    Ok(id)
}

fn main() {}
