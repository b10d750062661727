// A constant backoff of zero is `backoff = none`.
use resilient::retry;

#[derive(Debug)]
struct Error;

#[retry(backoff = constant("0ms"))]
async fn fetch() -> Result<(), Error> {
    Ok(())
}

fn main() {}
