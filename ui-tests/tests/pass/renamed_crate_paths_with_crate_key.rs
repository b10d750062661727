// A renamed crate's own paths stack once the top attribute says where the crate is.
use resilient as my_res;

#[derive(Debug)]
pub struct ApiError;

impl From<my_res::Rejected> for ApiError {
    fn from(_: my_res::Rejected) -> Self {
        ApiError
    }
}

#[my_res::retry(max_attempts = 2, crate = "my_res")]
#[my_res::circuit_breaker(failure_threshold = 3)]
#[my_res::timeout("1s")]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
