// A stacked attribute written `#[key = value]` instead of `#[key(...)]`.
use resilient::{circuit_breaker, retry};

#[derive(Debug)]
struct Error;

#[retry(max_attempts = 3)]
#[circuit_breaker = "payments"]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
