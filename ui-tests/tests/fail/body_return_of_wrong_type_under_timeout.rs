// A `return` of the wrong type in the body is reported at the returned value, once, as
// without the attribute.
use resilient::{timeout, Rejected};

#[derive(Debug)]
pub struct ApiError;

impl From<Rejected> for ApiError {
    fn from(_: Rejected) -> Self {
        ApiError
    }
}

#[timeout("5s")]
pub async fn fetch(id: u64) -> Result<u64, ApiError> {
    if id == 0 {
        return Ok("zero");
    }
    Ok(id)
}

fn main() {}
