// Without `crate = "..."` on the top attribute, a renamed crate's path below it is not taken:
// the error says how to fix it.
use resilient as my_res;

#[derive(Debug)]
pub struct ApiError;

impl From<my_res::Rejected> for ApiError {
    fn from(_: my_res::Rejected) -> Self {
        ApiError
    }
}

#[my_res::retry(max_attempts = 2)]
#[my_res::circuit_breaker(failure_threshold = 3)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
