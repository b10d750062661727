// An async fallback with the wrong `Ok` type after a retry loop: one error, at the answer.
use resilient::{fallback, retry};

#[derive(Debug)]
pub struct ApiError;

#[fallback(|_err| async move { Ok(String::from("cached")) })]
#[retry(max_attempts = 2)]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
