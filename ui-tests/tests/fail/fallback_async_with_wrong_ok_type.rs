// An async fallback answering with the wrong `Ok` type: one error, at the answer.
use resilient::fallback;

#[derive(Debug)]
pub struct ApiError;

#[fallback(|_err| async { Ok("cached") })]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

fn main() {}
