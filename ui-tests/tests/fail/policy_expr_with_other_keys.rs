// With `policy = ...` the shared policy's settings apply: no other key may be given.
use resilient::{retry, RetryPolicy};

#[derive(Debug)]
struct Error;

static SHARED: RetryPolicy = RetryPolicy::new();

#[retry(policy = &SHARED, max_attempts = 5)]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
