// `#[tracing::instrument]` above `#[retry]` moves the body into a future that cannot run again:
// an error that names the right order.
use resilient::retry;

#[derive(Debug)]
pub struct ApiError;

#[tracing::instrument]
#[retry(max_attempts = 2)]
pub async fn fetch(request: String) -> Result<usize, ApiError> {
    Ok(request.len())
}

fn main() {}
